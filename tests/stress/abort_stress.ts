// Cancellation, the long run: on every backend pairing (local, peer), seeded
// rounds of a connected pair (TCP or unix stream), a datagram pair (UDP, or
// unix datagrams where both are libc), or a listener with clients. A peer
// sends a known byte stream (or numbered datagrams) in random chunks with
// random pauses, or reads slowly what the local side sends; the local side
// runs a random sequence of calls (recv, recv_into with MSG_PEEK or
// MSG_WAITALL, recvfrom, recvmsg, recvmsg_into, sendall, send, sendto,
// sendfile, accept, connect (to a listener with a full backlog too),
// makefile reads and writes, select / poll / epoll / selector waits), each
// with a signal that aborts at a random moment (before the call, at once,
// after 0-20 ms, AbortSignal.timeout, AbortSignal.any of two) or none,
// mixed with socket timeouts. Checks: every byte the peer sent is taken
// exactly once and in order across all calls, aborted or not, and no
// datagram is lost or repeated by an abort; what the peer receives is what
// the sends reported sent, in order, an aborted send or sendall adding a
// prefix of its bytes (nothing else: a send reports nothing sent, and a
// retry of its bytes sends them once); an aborted call rejects with exactly
// the signal's reason within LATE_MS of the abort, takes nothing, leaves
// the buffer it was given as it was, and the socket goes on working; a
// socket timeout is a TimeoutError with errno null; every error is typed
// (errors.ts); every await is bounded. About 50 s in all.
// STREAMS_SEED replays a run's choices (not its timing); with it,
// STREAMS_ROUND=n runs round n alone.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  MSG_PEEK,
  MSG_WAITALL,
  OSError,
  SHUT_WR,
  SOCK_DGRAM,
  type Socket,
  TimeoutError,
} from "../../mod.ts";
import * as errors from "../../errors.ts";
import * as select from "../../select.ts";
import { DefaultSelector, EVENT_READ } from "../../selectors.ts";
import {
  type Addr,
  BACKEND_PAIRS,
  type BackendName,
  connectedPair,
  listener,
  skipNote,
  sleep,
  sock,
  tempUnixPath,
  unavailable,
  withTimeout,
} from "../_helpers.ts";
import {
  concat,
  count,
  Dice,
  rng,
  seededRounds,
  seedOf,
  STREAMS_ROUND,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

/** Rounds per pairing (the time bound usually ends a run first). */
const ROUNDS = 400;
/** Time for one pairing's rounds; a pairing stops starting rounds after it. */
const PAIRING_MS = 11_000;
/** The most a pairing may take, in all (a round over PAIRING_MS fails it). */
const BOUND_MS = 40_000;
/** The most one call may take before it counts as a hang. */
const HANG_MS = 8_000;
/** How late after its abort an aborted call may reject (generous: load). */
const LATE_MS = 250;
/** Calls per round. */
const OPS = 24;

type When = "none" | "before" | "atonce" | "after" | "timeout" | "any";
const WHENS: readonly When[] = [
  "none",
  "none",
  "before",
  "atonce",
  "after",
  "after",
  "after",
  "timeout",
  "any",
];

function errName(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const errno = e instanceof OSError ? `(${e.errno})` : "";
  return `${e.constructor.name}${errno}: ${e.message.slice(0, 80)}`;
}

/** Whether `e` is one of errors.ts's classes (never a Deno.errors.* or a TypeError). */
function typed(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  for (const C of Object.values(errors)) {
    if (typeof C === "function" && C !== Error && e instanceof C) return true;
  }
  return false;
}

/** What one call came to. */
type Outcome<T> =
  | { kind: "ok"; value: T }
  | { kind: "aborted" }
  | { kind: "timeout" }
  | { kind: "error"; error: unknown };

/** A round: its dice, a log of its last steps, and its checks. */
class Round {
  readonly d: Dice;
  readonly tally: Tally;
  readonly what: string;
  readonly #recent: string[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(d: Dice, tally: Tally, what: string) {
    this.d = d;
    this.tally = tally;
    this.what = what;
  }

  note(s: string): void {
    this.#recent.push(s);
    if (this.#recent.length > 40) this.#recent.shift();
  }

  count(what: string): void {
    count(this.tally, what);
  }

  fail(msg: string): never {
    throw new Error(`${this.what}: ${msg}\n  last:\n    ${this.recent}`);
  }

  get recent(): string {
    return this.#recent.join("\n    ");
  }

  /** `p`, bounded by HANG_MS: a hang names the call. */
  guard<T>(p: Promise<T>, name: string, ms = HANG_MS): Promise<T> {
    return withTimeout(p, ms, `${this.what}: ${name}`).catch((e) => {
      if (e instanceof Error && /did not settle within/.test(e.message)) {
        this.fail(`hang: ${e.message}`);
      }
      throw e;
    });
  }

  timer(ms: number, fn: () => void): void {
    const id = setTimeout(() => {
      this.#timers.delete(id);
      fn();
    }, ms);
    this.#timers.add(id);
  }

  clearTimers(): void {
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
  }

  /**
   * Run `call` with a signal that aborts as the dice say, and check how it
   * ended: an abort rejects with exactly the signal's reason, promptly; a
   * socket timeout is a TimeoutError with errno null; any other error is
   * typed.
   */
  async call<T>(
    name: string,
    call: (opts: { signal?: AbortSignal }) => Promise<T>,
    when: When = this.d.pick(WHENS),
  ): Promise<Outcome<T>> {
    const d = this.d;
    let signal: AbortSignal | undefined;
    let abortAt = -1;
    const reason = new Error(`stop ${name}`);
    let ms = 0;
    if (when === "before") signal = AbortSignal.abort(reason);
    else if (when === "timeout") {
      ms = 1 + d.int(20);
      signal = AbortSignal.timeout(ms);
    } else if (when === "any") {
      const c = new AbortController();
      ms = d.int(21);
      const other = AbortSignal.timeout(1 + d.int(20));
      this.timer(ms, () => c.abort(reason));
      signal = AbortSignal.any([c.signal, other]);
    } else if (when !== "none") {
      const c = new AbortController();
      signal = c.signal;
      if (when === "atonce") queueMicrotask(() => c.abort(reason));
      else {
        ms = d.int(21);
        this.timer(ms, () => c.abort(reason));
      }
    }
    const t0 = performance.now();
    if (signal?.aborted) abortAt = t0;
    else signal?.addEventListener("abort", () => abortAt = performance.now());
    this.note(`${name} [${when}${ms ? ` ${ms}ms` : ""}]`);
    this.count(`${name.split("(")[0]} ${when}`);
    let p: Promise<T>;
    try {
      p = call(signal === undefined ? {} : { signal });
    } catch (e) {
      p = Promise.reject(e);
    }
    let out: Outcome<T>;
    try {
      out = { kind: "ok", value: await this.guard(p, name) };
    } catch (e) {
      const now = performance.now();
      if (signal?.aborted && e === signal.reason) {
        const late = now - abortAt;
        if (abortAt >= 0 && late > LATE_MS) {
          this.fail(`${name} rejected ${late.toFixed(0)} ms after its abort`);
        }
        this.count("aborted");
        out = { kind: "aborted" };
      } else if (e instanceof TimeoutError && e.errno === null) {
        assert.equal(e.message, "timed out", `${name}: ${e.message}`);
        this.count("timed out");
        out = { kind: "timeout" };
      } else if (
        e instanceof Error && /did not settle within|last:/.test(e.message)
      ) {
        throw e;
      } else {
        if (signal?.aborted) {
          this.fail(
            `${name}: aborted, but rejected with ${errName(e)}, not the reason`,
          );
        }
        if (!typed(e)) this.fail(`${name}: untyped error ${errName(e)}`);
        out = { kind: "error", error: e };
      }
    }
    if (out.kind === "ok" && when === "before") {
      this.fail(`${name} resolved with an already-aborted signal`);
    }
    this.note(
      `  -> ${out.kind}${out.kind === "error" ? " " + errName(out.error) : ""}`,
    );
    return out;
  }
}

/** `n` random bytes from `seed`, with a newline now and then for readline(). */
function payload(seed: number, n: number): Uint8Array<ArrayBuffer> {
  const next = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const x = next();
    out[i] = x % 23 === 0 ? 10 : x >>> 24;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** A buffer filled with a pattern, to see whether an aborted call wrote to it. */
function marked(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 131) & 255;
  return b;
}

/** The peer: send `data` in random chunks with random pauses, then SHUT_WR. */
async function trickle(
  d: Dice,
  peer: Socket,
  data: Uint8Array,
  stop: { done: boolean },
): Promise<void> {
  let pos = 0;
  while (pos < data.length && !stop.done) {
    const n = Math.min(
      data.length - pos,
      d.chance(0.2) ? 1 + d.int(65536) : 1 + d.int(2000),
    );
    await peer.sendall(data.subarray(pos, pos + n));
    pos += n;
    if (d.chance(0.6)) await sleep(d.int(d.chance(0.1) ? 30 : 6));
  }
  peer.shutdown(SHUT_WR);
}

/** A readiness wait on `s` for reading, of one of the four kinds, with a timeout of 0-30 ms or none. */
async function waitReadable(
  r: Round,
  s: Socket,
): Promise<void> {
  const d = r.d;
  const kind = d.pick(["select", "poll", "epoll", "selector"] as const);
  const t = d.chance(0.3) ? null : d.int(31);
  const res = await r.call(`${kind}(${t})`, async (opts) => {
    if (kind === "select") {
      const [rl] = await select.select(
        [s],
        [],
        [],
        t === null ? null : t / 1000,
        opts,
      );
      return rl.length;
    }
    if (kind === "poll") {
      const p = select.poll();
      p.register(s, select.POLLIN);
      return (await p.poll(t, opts)).length;
    }
    if (kind === "epoll") {
      using e = select.epoll();
      e.register(s.fileno(), select.EPOLLIN);
      return (await e.poll(t === null ? null : t / 1000, -1, opts)).length;
    }
    using sel = new DefaultSelector();
    sel.register(s, EVENT_READ);
    return (await sel.select(t === null ? null : t / 1000, opts)).length;
  });
  if (res.kind === "ok" && t === null && res.value === 0) {
    r.fail(`${kind}() with no timeout came back empty`);
  }
}

// ---------------------------------------------------------------- streams in

/**
 * The peer sends a known stream; the local side reads it with random calls
 * (or a makefile()'s), each aborted at a random moment.
 */
async function streamIn(
  r: Round,
  local: Socket,
  peer: Socket,
): Promise<void> {
  const d = r.d;
  const size = d.chance(0.1)
    ? d.int(50)
    : 1 + d.int(d.chance(0.3) ? 300_000 : 20_000);
  const data = payload(d.int(1 << 30) + 1, size);
  const useFile = d.chance(0.3);
  r.note(`${size} bytes in, ${useFile ? "file" : "socket"} reads`);
  const stop = { done: false };
  const sending = trickle(new Dice(d.int(1 << 30)), peer, data, stop)
    .then(() => null, (e) => e);
  let pos = 0;
  const dirty: [Uint8Array, Uint8Array, string][] = [];
  const take = (got: Uint8Array, name: string) => {
    const want = data.subarray(pos, pos + got.length);
    if (got.length > size - pos || !equalBytes(got, want)) {
      r.fail(
        `${name}: ${got.length} bytes at ${pos} of ${size} differ from what was sent (at +${
          firstDiff(got, want)
        })`,
      );
    }
    pos += got.length;
  };
  const peekOk = (got: Uint8Array, name: string) => {
    if (!equalBytes(got, data.subarray(pos, pos + got.length))) {
      r.fail(`${name}: peeked bytes at ${pos} are not the next ones`);
    }
  };
  const buffering = d.pick([-1, 1, 7, 100, 8192]);
  const file = useFile ? local.makefile("rb", buffering) : null;
  if (file !== null) r.note(`makefile("rb", ${buffering})`);
  try {
    for (let op = 0; op < OPS && pos < size; op++) {
      if (d.chance(0.15)) {
        const t = d.chance(0.5) ? null : (1 + d.int(30)) / 1000;
        local.settimeout(t);
        r.note(`settimeout(${t})`);
      }
      const n = 1 + d.int(d.chance(0.3) ? 70_000 : 3000);
      const k = d.int(file === null ? 9 : 6);
      if (k === 0) {
        await waitReadable(r, local);
        continue;
      }
      if (file !== null) {
        if (k === 1 || k === 2) {
          const res = await r.call(`file.read(${n})`, (o) => file.read(n, o));
          if (res.kind === "ok") take(res.value, "file.read");
        } else if (k === 3) {
          const res = await r.call(`file.read1(${n})`, (o) => file.read1(n, o));
          if (res.kind === "ok") take(res.value, "file.read1");
        } else if (k === 4) {
          const lim = d.chance(0.5) ? -1 : n;
          const res = await r.call(
            `file.readline(${lim})`,
            (o) => file.readline(lim, o),
          );
          if (res.kind === "ok") {
            take(res.value, "file.readline");
            const nl = res.value.indexOf(10);
            if (
              res.value.length > 0 && pos < size &&
              nl !== res.value.length - 1 &&
              res.value.length !== lim
            ) {
              r.fail(
                `readline(${lim}) gave ${res.value.length} bytes, no line`,
              );
            }
          }
        } else {
          const buf = marked(n, op);
          const before = buf.slice();
          const res = await r.call(
            `file.readinto(${n})`,
            (o) => file.readinto(buf, o),
          );
          if (res.kind === "ok") {
            take(buf.subarray(0, res.value), "file.readinto");
          } else if (!equalBytes(buf, before)) {
            // A large readinto() reads straight into the target and, when
            // it fails, keeps those bytes in the file: nothing is lost,
            // but the target holds them too (CPython's does the same).
            r.count("file.readinto rejected with bytes in its target");
          }
        }
        continue;
      }
      const flag = d.chance(0.2) ? MSG_PEEK : d.chance(0.2) ? MSG_WAITALL : 0;
      const peek = flag === MSG_PEEK;
      const fname = peek ? "PEEK" : flag === MSG_WAITALL ? "WAITALL" : "0";
      if (k === 1 || k === 2) {
        const res = await r.call(
          `recv(${n}, ${fname})`,
          (o) => local.recv(n, flag, o),
        );
        if (res.kind === "ok") {
          if (peek) peekOk(res.value, "recv(PEEK)");
          else take(res.value, "recv");
          if (res.value.length === 0 && pos < size) {
            r.fail(`recv() gave EOF at ${pos} of ${size}`);
          }
          // With a timeout, as CPython's (a non-blocking descriptor), MSG_WAITALL
          // may come back short.
          if (
            flag === MSG_WAITALL && res.value.length < n && pos < size &&
            local.gettimeout() === null
          ) {
            r.fail(
              `recv(${n}, MSG_WAITALL) gave ${res.value.length} before EOF`,
            );
          }
        }
      } else if (k === 3 || k === 4) {
        const buf = marked(n + 8, op);
        const before = buf.slice();
        const nb = d.chance(0.5) ? 0 : n;
        const res = await r.call(
          `recv_into(${n + 8}, ${nb}, ${fname})`,
          (o) => local.recv_into(buf, nb, flag, o),
        );
        if (res.kind === "ok") {
          const got = buf.subarray(0, res.value);
          if (peek) peekOk(got, "recv_into(PEEK)");
          else take(got, "recv_into");
          if (
            !equalBytes(buf.subarray(res.value), before.subarray(res.value))
          ) {
            r.fail(`recv_into wrote past the ${res.value} bytes it reported`);
          }
        } else if (flag !== MSG_WAITALL) {
          dirty.push([buf, before, `recv_into #${op} ${fname} ${res.kind}`]);
        } else if (!equalBytes(buf, before)) {
          // MSG_WAITALL: the part it had stays in its buffer as well as for
          // the next call (tests/abort_test.ts).
          r.count("recv_into(WAITALL) rejected with bytes in its buffer");
        }
      } else if (k === 5) {
        const res = await r.call(
          `recvfrom(${n}, ${fname})`,
          (o) => local.recvfrom(n, flag, o),
        );
        if (res.kind === "ok") {
          if (peek) peekOk(res.value[0], "recvfrom(PEEK)");
          else take(res.value[0], "recvfrom");
        }
      } else if (k === 6) {
        const res = await r.call(
          `recvmsg(${n}, ${fname})`,
          (o) => local.recvmsg(n, 0, flag, o),
        );
        if (res.kind === "ok") {
          if (peek) peekOk(res.value[0], "recvmsg(PEEK)");
          else take(res.value[0], "recvmsg");
        }
      } else if (k === 7) {
        const a = marked(1 + d.int(n), op);
        const b = marked(1 + d.int(n), op + 1);
        const before = [a.slice(), b.slice()];
        const res = await r.call(
          `recvmsg_into([${a.length}, ${b.length}], ${fname})`,
          (o) => local.recvmsg_into([a, b], 0, flag, o),
        );
        if (res.kind === "ok") {
          const got = concat([a, b]).subarray(0, res.value[0]);
          if (peek) peekOk(got, "recvmsg_into(PEEK)");
          else take(got, "recvmsg_into");
        } else if (flag !== MSG_WAITALL) {
          const name = `recvmsg_into #${op} ${fname} ${res.kind}`;
          dirty.push([a, before[0], name], [b, before[1], name]);
        }
      } else {
        // A send back to the peer, which does not read: it must not disturb the reads.
        const res = await r.call(
          "send(16)",
          (o) => local.send(new Uint8Array(16), o),
        );
        if (res.kind === "error") r.fail(`send(): ${errName(res.error)}`);
      }
    }
    // Let late writes show, then: no aborted or timed-out call wrote into its buffer.
    await sleep(d.int(5));
    for (const [buf, before, name] of dirty) {
      if (!equalBytes(buf, before)) {
        r.fail(
          `${name}: wrote into its buffer (${buf.length} bytes, first change at ${
            firstDiff(buf, before)
          }) after it rejected`,
        );
      }
    }
    // The rest, with no signal: the socket still works and nothing was lost.
    local.settimeout(null);
    for (let i = 0; pos <= size; i++) {
      const got = file === null
        ? await r.guard(
          local.recv(65536),
          `recv() at the end, at ${pos} of ${size}`,
        )
        : await r.guard(
          file.read1(65536),
          `file.read1() at the end, at ${pos} of ${size}`,
        );
      if (got.length === 0) break;
      take(got, "the final reads");
    }
    if (pos !== size) r.fail(`${pos} of ${size} bytes came`);
    r.count("stream in whole");
    for (const [buf, before, name] of dirty) {
      if (!equalBytes(buf, before)) {
        r.fail(`${name}: wrote into its buffer (${buf.length} bytes) later`);
      }
    }
    const e = await r.guard(sending, "the peer's sends");
    if (e !== null) r.fail(`the peer's sends: ${errName(e)}`);
  } finally {
    stop.done = true;
    if (file !== null) await file.close().catch(() => {});
  }
}

// --------------------------------------------------------------- streams out

/** What one local send put on the wire: all of it, or some prefix of it. */
type Segment = { bytes: Uint8Array; exact: boolean; name: string };

/**
 * Whether `got` is the segments in order, each whole where `exact`, else a
 * prefix of it (of any length); null when it is, else where it is not.
 */
function matchSegments(got: Uint8Array, segs: Segment[]): string | null {
  const seen = new Set<string>();
  let deepest = { seg: 0, pos: 0 };
  const go = (i: number, pos: number): boolean => {
    if (i > deepest.seg || (i === deepest.seg && pos > deepest.pos)) {
      deepest = { seg: i, pos };
    }
    if (i === segs.length) return pos === got.length;
    const key = `${i},${pos}`;
    if (seen.has(key)) return false;
    seen.add(key);
    const s = segs[i].bytes;
    let l = 0;
    while (l < s.length && pos + l < got.length && got[pos + l] === s[l]) l++;
    if (segs[i].exact) return l === s.length && go(i + 1, pos + l);
    for (let k = l; k >= 0; k--) if (go(i + 1, pos + k)) return true;
    return false;
  };
  if (go(0, 0)) return null;
  const s = segs[Math.min(deepest.seg, segs.length - 1)];
  return `received ${got.length} bytes; they match up to byte ${deepest.pos}, segment ${deepest.seg} of ${segs.length} (${s?.name})`;
}

/** The peer: read slowly to EOF. */
async function slowReader(d: Dice, peer: Socket): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const got = await peer.recv(
      d.chance(0.3) ? 1 + d.int(300_000) : 1 + d.int(8000),
    );
    if (got.length === 0) return concat(parts);
    parts.push(got);
    if (d.chance(0.5)) await sleep(d.int(d.chance(0.1) ? 40 : 5));
  }
}

/**
 * The local side sends with random calls, each aborted at a random moment,
 * to a peer that reads slowly.
 */
async function streamOut(
  r: Round,
  local: Socket,
  peer: Socket,
): Promise<void> {
  const d = r.d;
  const reading = slowReader(new Dice(d.int(1 << 30)), peer)
    .then((v) => ({ v }), (e) => ({ e }));
  const segs: Segment[] = [];
  const useFile = d.chance(0.25);
  const file = useFile
    ? local.makefile("wb", d.pick([-1, 0, 1, 100, 8192]))
    : null;
  let tmp: { path: string; file: Deno.FsFile; data: Uint8Array } | null = null;
  r.note(useFile ? "file writes" : "socket sends");
  try {
    for (let op = 0; op < OPS / 2; op++) {
      if (d.chance(0.1)) {
        const t = d.chance(0.5) ? null : (1 + d.int(30)) / 1000;
        local.settimeout(t);
        r.note(`settimeout(${t})`);
      }
      const big = d.chance(0.3);
      const n = big ? 1 + d.int(1 << 21) : 1 + d.int(3000);
      const bytes = payload(d.int(1 << 30) + 1, n);
      const k = d.int(file === null ? 4 : 3);
      if (file !== null) {
        if (k < 2) {
          const res = await r.call(
            `file.write(${n})`,
            (o) => file.write(bytes, o),
          );
          if (res.kind === "ok") {
            if (res.value !== n) {
              segs.push({
                bytes: bytes.subarray(0, res.value),
                exact: true,
                name: `file.write ${res.value}/${n}`,
              });
            } else segs.push({ bytes, exact: true, name: `file.write ${n}` });
          } else if (res.kind === "error") {
            r.fail(`file.write: ${errName(res.error)}`);
          } else {segs.push({
              bytes,
              exact: false,
              name: `file.write(${n}) ${res.kind}`,
            });}
        } else {
          const res = await r.call("file.flush()", (o) => file.flush(o));
          if (res.kind === "error") r.fail(`file.flush: ${errName(res.error)}`);
        }
        continue;
      }
      if (k === 0 || k === 1) {
        const res = await r.call(
          `sendall(${n})`,
          (o) => local.sendall(bytes, 0, o),
        );
        if (res.kind === "ok") {
          segs.push({ bytes, exact: true, name: `sendall ${n}` });
        } else if (res.kind === "error") {
          r.fail(`sendall: ${errName(res.error)}`);
        } else {segs.push({
            bytes,
            exact: false,
            name: `sendall(${n}) ${res.kind}`,
          });}
      } else if (k === 2) {
        const res = await r.call(`send(${n})`, (o) => local.send(bytes, 0, o));
        if (res.kind === "ok") {
          segs.push({
            bytes: bytes.subarray(0, res.value),
            exact: true,
            name: `send ${res.value}/${n}`,
          });
        } else if (res.kind === "error") r.fail(`send: ${errName(res.error)}`);
        else if (d.chance(0.6)) {
          // Nothing was reported sent: a retry of the same bytes sends them once.
          local.settimeout(null);
          await r.guard(
            local.sendall(bytes),
            "sendall() retrying an aborted send",
          );
          segs.push({
            bytes,
            exact: true,
            name: `send(${n}) ${res.kind}, retried`,
          });
        } else {segs.push({
            bytes,
            exact: false,
            name: `send(${n}) ${res.kind}`,
          });}
      } else {
        if (tmp === null) {
          const path = Deno.makeTempFileSync({ prefix: "pysock-abort-" });
          const data = payload(d.int(1 << 30) + 1, 1 + d.int(1 << 20));
          Deno.writeFileSync(path, data);
          tmp = { path, file: Deno.openSync(path), data };
        }
        const off = d.int(tmp.data.length);
        const cnt = d.chance(0.5) ? null : 1 + d.int(tmp.data.length - off);
        const want = tmp.data.subarray(
          off,
          cnt === null ? undefined : off + cnt,
        );
        const f = tmp.file;
        const res = await r.call(
          `sendfile(${off}, ${cnt})`,
          (o) => local.sendfile(f, off, cnt, o),
        );
        if (res.kind === "ok") {
          segs.push({
            bytes: want.subarray(0, res.value),
            exact: true,
            name: `sendfile ${res.value}`,
          });
          if (res.value !== want.length && local.gettimeout() === null) {
            r.fail(`sendfile sent ${res.value} of ${want.length}`);
          }
        } else if (res.kind === "error") {
          r.fail(`sendfile: ${errName(res.error)}`);
        } else {segs.push({
            bytes: want,
            exact: false,
            name: `sendfile(${off}, ${cnt}) ${res.kind}`,
          });}
      }
    }
    local.settimeout(null);
    // Still usable: a last sendall with no signal.
    const last = payload(d.int(1 << 30) + 1, 1 + d.int(100));
    if (file !== null) {
      await r.guard(file.write(last), "file.write() at the end");
      segs.push({ bytes: last, exact: true, name: "file.write at the end" });
      await r.guard(file.flush(), "file.flush() at the end");
    } else {
      await r.guard(local.sendall(last), "sendall() at the end");
      segs.push({ bytes: last, exact: true, name: "sendall at the end" });
    }
    local.shutdown(SHUT_WR);
    const got = await r.guard(reading, "the peer's reads to EOF", 20_000);
    if ("e" in got) r.fail(`the peer's reads: ${errName(got.e)}`);
    const bad = matchSegments(got.v, segs);
    if (bad !== null) r.fail(`what the peer got is not what was sent: ${bad}`);
    r.count("stream out whole");
  } finally {
    if (file !== null) await file.close().catch(() => {});
    if (tmp !== null) {
      tmp.file.close();
      Deno.removeSync(tmp.path);
    }
  }
}

// ---------------------------------------------------------------- datagrams

const HEADER = 4;

function datagram(seq: number): Uint8Array<ArrayBuffer> {
  const n = HEADER + ((seq * 7919) % 400);
  const b = new Uint8Array(n);
  new DataView(b.buffer).setUint32(0, seq);
  for (let i = HEADER; i < n; i++) b[i] = (seq * 31 + i) & 255;
  return b;
}

/**
 * The peer sends numbered datagrams with random pauses (never more than 16
 * ahead of the reader); the local side reads them with random calls, each
 * aborted at a random moment, and sends its own numbered datagrams back.
 */
async function datagrams(
  r: Round,
  local: Socket,
  peer: Socket,
  localAddr: Addr,
  peerAddr: Addr,
): Promise<void> {
  const d = r.d;
  const total = 5 + d.int(60);
  let next = 0; // the next datagram the local side must take
  let sent = 0;
  const stop = { done: false };
  const pd = new Dice(d.int(1 << 30));
  const sending = (async () => {
    while (sent < total && !stop.done) {
      if (sent - next >= 16) {
        await sleep(1);
        continue;
      }
      await peer.sendto(datagram(sent), localAddr);
      sent++;
      if (pd.chance(0.5)) await sleep(pd.int(8));
    }
  })().then(() => null, (e) => e);
  // What the peer gets of the local side's datagrams, in order.
  const back: number[] = [];
  const gettingBack = (async () => {
    for (;;) {
      const got = await peer.recv(2048);
      const seq = new DataView(got.buffer, got.byteOffset).getUint32(0);
      if (seq === 0xffffffff) return;
      if (!equalBytes(got, datagram(seq))) {
        throw new Error(`datagram ${seq} came changed`);
      }
      back.push(seq);
    }
  })().then(() => null, (e) => e);
  const outs: { seq: number; must: boolean }[] = [];
  let outSeq = 0;
  const check = (
    got: Uint8Array,
    name: string,
    peek: boolean,
    full: number | null = null,
  ) => {
    if (got.length < HEADER) {
      // A short buffer: only its first bytes.
      if (!equalBytes(got, datagram(next).subarray(0, got.length))) {
        r.fail(`${name}: ${got.length} bytes are not datagram ${next}'s first`);
      }
    } else {
      const seq = new DataView(got.buffer, got.byteOffset).getUint32(0);
      const want = datagram(next);
      if (seq !== next) {
        r.fail(`${name}: datagram ${seq}, expected ${next} (lost or repeated)`);
      }
      if (!equalBytes(got, want.subarray(0, got.length))) {
        r.fail(`${name}: datagram ${seq} came changed`);
      }
      if (full !== null && full !== Math.min(full, want.length)) {
        r.fail(`${name}: bad length`);
      }
    }
    if (!peek) next++;
  };
  try {
    for (let op = 0; op < OPS && next < total; op++) {
      if (d.chance(0.15)) {
        const t = d.chance(0.5) ? null : (1 + d.int(30)) / 1000;
        local.settimeout(t);
        r.note(`settimeout(${t})`);
      }
      const peek = d.chance(0.2);
      const flag = peek ? MSG_PEEK : 0;
      const n = d.chance(0.1) ? 1 + d.int(8) : 1 + d.int(600);
      const k = d.int(8);
      if (k === 0) await waitReadable(r, local);
      else if (k === 1) {
        const res = await r.call(
          `recv(${n}, ${flag})`,
          (o) => local.recv(n, flag, o),
        );
        if (res.kind === "ok") check(res.value, "recv", peek);
      } else if (k === 2) {
        const res = await r.call(
          `recvfrom(${n}, ${flag})`,
          (o) => local.recvfrom(n, flag, o),
        );
        if (res.kind === "ok") check(res.value[0], "recvfrom", peek);
      } else if (k === 3) {
        const buf = marked(n, op);
        const before = buf.slice();
        const res = await r.call(
          `recv_into(${n}, ${flag})`,
          (o) => local.recv_into(buf, 0, flag, o),
        );
        if (res.kind === "ok") {
          check(buf.subarray(0, res.value), "recv_into", peek);
        } else if (!equalBytes(buf, before)) {
          r.fail("an aborted recv_into wrote into its buffer");
        }
      } else if (k === 4) {
        const res = await r.call(
          `recvmsg(${n}, ${flag})`,
          (o) => local.recvmsg(n, 0, flag, o),
        );
        if (res.kind === "ok") check(res.value[0], "recvmsg", peek);
      } else if (k === 5) {
        const a = marked(1 + d.int(n), op);
        const b = marked(1 + d.int(300), op + 1);
        const res = await r.call(
          `recvmsg_into([${a.length}, ${b.length}], ${flag})`,
          (o) => local.recvmsg_into([a, b], 0, flag, o),
        );
        if (res.kind === "ok") {
          check(concat([a, b]).subarray(0, res.value[0]), "recvmsg_into", peek);
        }
      } else if (k === 6) {
        const buf = marked(n, op);
        const res = await r.call(
          `recvfrom_into(${n}, ${flag})`,
          (o) => local.recvfrom_into(buf, 0, flag, o),
        );
        if (res.kind === "ok") {
          check(buf.subarray(0, res.value[0]), "recvfrom_into", peek);
        }
      } else {
        const seq = outSeq++;
        const res = await r.call(
          `sendto(#${seq})`,
          (o) => local.sendto(datagram(seq), peerAddr, o),
        );
        if (res.kind === "error") r.fail(`sendto: ${errName(res.error)}`);
        outs.push({ seq, must: res.kind === "ok" });
      }
    }
    local.settimeout(null);
    while (next < total) {
      const got = await r.guard(
        local.recv(2048),
        `recv() at the end, datagram ${next} of ${total}`,
      );
      check(got, "the final recv", false);
    }
    r.count("datagrams whole");
    const end = new Uint8Array(HEADER).fill(255);
    await r.guard(local.sendto(end, peerAddr), "sendto() at the end");
    const e = await r.guard(gettingBack, "the peer's receives");
    if (e !== null) r.fail(`the peer's receives: ${errName(e)}`);
    // Each of the local side's in order, none twice, every one reported sent there.
    let i = 0;
    for (const o of outs) {
      if (back[i] === o.seq) i++;
      else if (o.must) {
        r.fail(
          `datagram ${o.seq} reported sent never came (peer got ${
            back.join(",")
          })`,
        );
      }
    }
    if (i !== back.length) {
      r.fail(
        `the peer got ${back.join(",")}: more than, or other than, was sent`,
      );
    }
    const se = await r.guard(sending, "the peer's sends");
    if (se !== null) r.fail(`the peer's sends: ${errName(se)}`);
  } finally {
    stop.done = true;
  }
}

// ------------------------------------------------------------ accept, connect

/** Clients connect at random moments; accept() aborted at random takes each once. */
async function accepts(
  r: Round,
  lb: BackendName,
  pb: BackendName,
  family: number,
): Promise<void> {
  const d = r.d;
  using l = listener(lb, family);
  const total = 1 + d.int(6);
  const clients: Socket[] = [];
  const cd = new Dice(d.int(1 << 30));
  const connecting = (async () => {
    for (let i = 0; i < total; i++) {
      await sleep(cd.int(15));
      const c = sock(pb, family);
      clients.push(c);
      await c.connect(l.addr);
      await c.sendall(new Uint8Array([i]));
    }
  })().then(() => null, (e) => e);
  const got: number[] = [];
  const take = async (conn: Socket) => {
    using _c = conn;
    const b = await r.guard(conn.recv(1), "recv() of a client's number");
    if (b.length !== 1) r.fail("an accepted connection had no number");
    got.push(b[0]);
  };
  try {
    for (let op = 0; op < OPS && got.length < total; op++) {
      if (d.chance(0.15)) {
        const t = d.chance(0.5) ? null : (1 + d.int(30)) / 1000;
        l.sock.settimeout(t);
        r.note(`settimeout(${t})`);
      }
      if (d.chance(0.2)) {
        await waitReadable(r, l.sock);
        continue;
      }
      const res = await r.call("accept()", (o) => l.sock.accept(o));
      if (res.kind === "ok") await take(res.value[0]);
    }
    l.sock.settimeout(null);
    while (got.length < total) {
      const [conn] = await r.guard(
        l.sock.accept(),
        `accept() at the end, ${got.length} of ${total}`,
      );
      await take(conn);
    }
    const e = await r.guard(connecting, "the clients' connects");
    if (e !== null) r.fail(`the clients' connects: ${errName(e)}`);
    const sorted = [...got].sort((a, b) => a - b);
    assert.deepEqual(
      sorted,
      [...Array(total).keys()],
      `accepted ${got.join(",")}`,
    );
    r.count("accepts whole");
  } finally {
    for (const c of clients) c.close();
  }
}

/**
 * connect() aborted at random, to a listener with a full backlog (a libc
 * one: it drops the SYN, so the connect waits) or to one that answers.
 */
async function connects(
  r: Round,
  lb: BackendName,
  pb: BackendName,
): Promise<void> {
  const d = r.d;
  const full = d.chance(0.5) && unavailable("libc") === null;
  using l = listener(full ? "libc" : pb, AF_INET);
  const fillers: Socket[] = [];
  try {
    if (full) {
      l.sock.listen(0);
      for (let i = 0; i < 3; i++) {
        const c = sock("libc", AF_INET);
        fillers.push(c);
        c.setblocking(false);
        await c.connect(l.addr).catch(() => {});
      }
      await sleep(20);
    }
    for (let op = 0; op < 3; op++) {
      using c = sock(lb, AF_INET);
      // A connect into a full backlog waits for the SYN's retry (1 s): a
      // timeout or an abort ends it.
      let when = d.pick(WHENS);
      if (full && when === "none") c.settimeout((1 + d.int(30)) / 1000);
      else if (d.chance(0.2)) c.settimeout((1 + d.int(30)) / 1000);
      if (full && when === "atonce" && d.chance(0.5)) when = "before";
      const res = await r.call(
        `connect(${full ? "full backlog" : "open"})`,
        (o) => c.connect(l.addr, o),
        when,
      );
      if (res.kind === "ok") {
        if (full) {
          r.count("connect into a full backlog went through");
          continue;
        }
        // A connect of this round that was aborted or timed out may have
        // reached the listener all the same (the kernel's handshake needs
        // no caller; a Python thread's connect() left by its timeout, too):
        // its connection, closed since, waits ahead of this one.
        const name = JSON.stringify(c.getsockname());
        let conn: Socket | null = null;
        for (let i = 0; i <= op && conn === null; i++) {
          const [a, peer] = await r.guard(
            l.sock.accept(),
            "accept() of a connect",
          );
          if (JSON.stringify(peer) === name) conn = a;
          else {
            a.close();
            r.count("connection of an abandoned connect accepted");
          }
        }
        assert.ok(conn !== null, "the connect's connection never came");
        using _conn = conn;
        await r.guard(
          c.sendall(new Uint8Array([7])),
          "sendall() after connect",
        );
        const b = await r.guard(conn.recv(1), "recv() after connect");
        assert.deepEqual([...b], [7]);
        r.count("connected");
      } else if (res.kind === "error") {
        r.fail(`connect: ${errName(res.error)}`);
      } else if (full) r.count(`connect to a full backlog ${res.kind}`);
    }
  } finally {
    for (const f of fillers) f.close();
  }
}

// -------------------------------------------------------------------- rounds

type Kind = "in" | "out" | "dgram" | "accept" | "connect";
const KINDS: readonly Kind[] = [
  "in",
  "in",
  "in",
  "out",
  "out",
  "dgram",
  "dgram",
  "accept",
  "connect",
];

async function round(
  lb: BackendName,
  pb: BackendName,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const kind = d.pick(KINDS);
  const family = d.chance(0.4) ? AF_UNIX : AF_INET;
  const r = new Round(
    d,
    tally,
    `${lb} local, ${pb} peer, ${kind} ${family === AF_UNIX ? "unix" : "inet"}`,
  );
  r.count(`round ${kind}`);
  try {
    if (kind === "in" || kind === "out") {
      // The listener and accepted socket are the local side's backend.
      await using p = await connectedPair(lb, family, "path", pb);
      if (kind === "in") await streamIn(r, p.server, p.client);
      else await streamOut(r, p.server, p.client);
    } else if (kind === "dgram") {
      // Unix datagrams are libc's alone.
      const unix = family === AF_UNIX && lb === "libc" && pb === "libc";
      using tmp = tempUnixPath("l");
      const local = sock(lb, unix ? AF_UNIX : AF_INET, SOCK_DGRAM);
      const peer = sock(pb, unix ? AF_UNIX : AF_INET, SOCK_DGRAM);
      try {
        if (unix) {
          local.bind(tmp.path);
          peer.bind(`${tmp.path}p`);
        } else {
          local.bind(["127.0.0.1", 0]);
          peer.bind(["127.0.0.1", 0]);
        }
        r.note(unix ? "unix datagrams" : "UDP");
        r.count(unix ? "dgram unix" : "dgram udp");
        await datagrams(
          r,
          local,
          peer,
          local.getsockname() as Addr,
          peer.getsockname() as Addr,
        );
      } finally {
        local.close();
        peer.close();
      }
    } else if (kind === "accept") await accepts(r, lb, pb, family);
    else await connects(r, lb, pb);
  } finally {
    r.clearTimers();
  }
}

for (const [i, [lb, pb]] of BACKEND_PAIRS.entries()) {
  const reason = unavailable(lb) ?? unavailable(pb);
  Deno.test({
    name: skipNote(
      `${lb} local, ${pb} peer: calls aborted at random moments (and timeouts) lose, repeat and reorder nothing, reject with the reason promptly and leave the socket usable`,
      reason,
    ),
    ignore: reason !== null,
    fn: async () => {
      const seed = (STREAMS_SEED + i) >>> 0;
      const tally: Tally = {};
      const until = Date.now() + PAIRING_MS;
      await seededRounds({
        what: `${lb} local, ${pb} peer`,
        rounds: ROUNDS,
        boundMs: BOUND_MS,
        tally,
        // Rounds past the pairing's time are skipped (a replay runs its one).
        round: (n) =>
          STREAMS_ROUND === null && Date.now() > until
            ? Promise.resolve()
            : round(lb, pb, seed, n, tally),
      });
      if (STREAMS_ROUND !== null) return;
      for (
        const what of [
          "aborted",
          "stream in whole",
          "stream out whole",
          "datagrams whole",
        ]
      ) {
        assert.ok((tally[what] ?? 0) > 0, `no ${what} (seed ${STREAMS_SEED})`);
      }
    },
  });
}

// Readiness, the long run: a seeded fuzzer of what select(), poll(), epoll()
// and the selectors promise, on every backend pairing (local, peer), over
// short TCP and unix stream connections (connected, or a socketpair()) and
// over listeners with connections pending, and with a python3 peer in
// another process (whose bytes and resets come at any moment, with no turn
// of Deno's event loop owed). Per round the peer sends random-sized chunks
// (1 B .. 256 KiB) with random pauses and ends with shutdown(SHUT_WR),
// close() or a reset (SO_LINGER 0; libc and python3 TCP peers), while it
// reads what the local side sends; the local side runs random operations:
// looks through select() (xlist too), poll(), epoll() (EPOLLRDHUP, EPOLLET,
// EPOLLONESHOT) and a selector (Default, Select, Poll, Epoll) with timeouts
// 0, 1-20 ms or none (bounded), register / modify / unregister, blocking
// mode toggles (setblocking, settimeout), non-blocking recv / recv_into /
// recvfrom / MSG_PEEK, timed reads, sendall and non-blocking send of random
// sizes, shutdown(SHUT_WR), a makefile("rb", 0) read, the readable stream
// read and released, synchronous work between a look and the call it
// answers, and now and then close() while registered or while another task
// waits in select(). On a listener: clients connect (some close or reset
// before the accept) while the local side looks and accepts.
// Checks: (1) every byte sent arrives once, in order, both ways, all of it
// where the round loses none (no reset, no close with unread bytes), and
// EOF only after the last byte; (2) a socket reported readable answers a
// non-blocking recv / recv_into / recvfrom / accept at once (data, EOF or
// an error, never BlockingIOError), and so does a recv right after a
// MSG_PEEK that found bytes; (3) a socket reported writable takes at least
// one byte of a non-blocking send, or raises a real error (EPIPE after this
// side's SHUT_WR; the Deno backend's documented exception, a buffer filled
// exactly by sends taken whole, is counted, not failed); (4) every call
// settles within STEP_MS (a hang names the call); the sanitizers are on;
// (5) every error is one of errors.ts's with an errno where it is an
// OSError, never a Deno.errors.* or a TypeError. This run found a Deno
// backend socket reported readable after a send met the peer's reset, whose
// non-blocking recv said BlockingIOError (the test "a peer in another
// process resets ..." in select_test.ts). About 60 s in all here.
// STREAMS_SEED replays a run's choices (not its timing); with it,
// STREAMS_ROUND=n runs round n alone. READINESS_ROUNDS scales the rounds.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  BlockingIOError,
  BrokenPipeError,
  ConnectionResetError,
  KeyError,
  MSG_DONTWAIT,
  MSG_PEEK,
  OSError,
  SHUT_WR,
  SOCK_STREAM,
  type Socket,
  socketpair,
  TimeoutError,
  ValueError,
} from "../../mod.ts";
import { RuntimeError } from "../../errors.ts";
import * as select from "../../select.ts";
import * as selectors from "../../selectors.ts";
import {
  BACKEND_PAIRS,
  type BackendName,
  BACKENDS,
  connectedPair,
  hasPython,
  listener,
  PY_START_MS,
  sha256,
  skipNote,
  sleep,
  sock,
  STEP_MS,
  tempUnixPath,
  unavailable,
  withTimeout,
} from "../_helpers.ts";
import { type FedPythonPeer, pythonFed } from "../_python.ts";
import {
  count,
  Dice,
  env,
  resetOnClose,
  rng,
  seededRounds,
  seedOf,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

/** Rounds per test (READINESS_ROUNDS overrides). */
const ROUNDS = Number(env("READINESS_ROUNDS") ?? 120);
/** The most one test may take. */
const BOUND_MS = Number(env("READINESS_BOUND_MS") ?? 60_000);
/** The most local operations in one round, and their time. */
const OPS = 60;
const OPS_MS = 3_000;

type Kind = "tcp" | "unix";
type Look = "select" | "poll" | "epoll" | "selector";
type SelName = "Default" | "Select" | "Poll" | "Epoll";

function errName(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const errno = e instanceof OSError ? `(${e.errno})` : "";
  return `${e.constructor.name}${errno}: ${e.message.slice(0, 80)}`;
}

/** A random size, mostly small: 1..64, ..4 KiB, ..64 KiB, ..256 KiB. */
function size(d: Dice): number {
  const k = d.int(10);
  const max = k < 4 ? 64 : k < 7 ? 4096 : k < 9 ? 65536 : 262144;
  return 1 + d.int(max);
}

function fill(n: number, seed: number): Uint8Array {
  const next = rng(seed + 1);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = next() >>> 24;
  return out;
}

/** One direction of a connection: the bytes to send, and what came. */
class Flow {
  readonly data: Uint8Array;
  /** Bytes the sender knows went (send's count, sendall done). */
  sent = 0;
  /** Bytes the receiver took. */
  got = 0;
  eof = false;
  constructor(readonly name: string, n: number, seed: number) {
    this.data = fill(n, seed);
  }
}

/** One round: its dice, its flows, its log of recent steps. */
class Round {
  readonly #recent: string[] = [];
  /** Whether bytes may be cut short (a reset, a close with unread bytes). */
  lossy = false;
  /** Whether ECONNRESET may end a read. */
  resetOk = false;
  constructor(
    readonly d: Dice,
    readonly tally: Tally,
    readonly what: string,
  ) {}

  /** `e` with the round's last steps appended to its message. */
  withRecent(e: unknown): Error {
    return new Error(
      `${e instanceof Error ? e.message : e}\n  last:\n    ${this.recent}`,
      { cause: e },
    );
  }

  note(s: string): void {
    this.#recent.push(s);
    if (this.#recent.length > 30) this.#recent.shift();
  }

  get recent(): string {
    return this.#recent.join("\n    ");
  }

  count(s: string): void {
    count(this.tally, s);
  }

  fail(s: string): never {
    assert.fail(s);
  }

  /** `p`, or a failure naming `what` once it has not settled in STEP_MS. */
  guard<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(p, STEP_MS, `${what} (hung)`);
  }

  /** An error must be typed (invariant 5); returns it. */
  typed(e: unknown, what: string): Error {
    if (
      e instanceof Error && /did not settle within/.test(e.message)
    ) throw e;
    if (e instanceof assert.AssertionError) throw e;
    const ok = e instanceof OSError
      ? typeof e.errno === "number" || e instanceof TimeoutError
      : e instanceof ValueError || e instanceof KeyError ||
        e instanceof RuntimeError;
    if (!ok) {
      this.fail(
        `${what}: untyped error ${
          e instanceof Error ? `${e.constructor.name}: ${e.message}` : e
        }${e instanceof Error ? `\n${e.stack}` : ""}`,
      );
    }
    this.count(`err ${(e as Error).constructor.name}`);
    return e as Error;
  }

  /** Check `b` as `flow`'s next bytes. */
  take(flow: Flow, b: Uint8Array, how: string): void {
    this.note(`${how}: ${b.length} bytes at ${flow.got}`);
    if (b.length === 0) {
      if (!flow.eof) this.note(`${how}: EOF at ${flow.got}`);
      flow.eof = true;
      return;
    }
    if (flow.eof) {
      this.fail(`${how}: ${b.length} bytes after EOF (${flow.name})`);
    }
    if (flow.got + b.length > flow.data.length) {
      this.fail(
        `${how}: ${b.length} bytes at ${flow.got} past the end ${flow.data.length} (${flow.name})`,
      );
    }
    for (let k = 0; k < b.length; k++) {
      if (b[k] !== flow.data[flow.got + k]) {
        this.fail(
          `${how}: ${flow.name}: ${b.length} bytes at ${flow.got}: byte ${k} differs (${
            whence(flow.data, b)
          })`,
        );
      }
    }
    flow.got += b.length;
  }

  /** Check `b` as a peek at `flow`'s next bytes (not taken). */
  peeked(flow: Flow, b: Uint8Array, how: string): void {
    this.note(`${how}: peeked ${b.length} at ${flow.got}`);
    if (b.length > 0 && flow.eof) this.fail(`${how}: peeked bytes after EOF`);
    for (let k = 0; k < b.length; k++) {
      if (b[k] !== flow.data[flow.got + k]) {
        this.fail(
          `${how}: peek of ${b.length} at ${flow.got}: byte ${k} differs`,
        );
      }
    }
  }
}

// Where `b` starts in `data` (by its first 16 bytes).
function whence(data: Uint8Array, b: Uint8Array): string {
  const n = Math.min(b.length, 16);
  for (let s = 0; s + n <= data.length; s++) {
    let k = 0;
    while (k < n && data[s + k] === b[k]) k++;
    if (k === n) return `they are the sent bytes at ${s}`;
  }
  return "not found in the sent bytes";
}

/** Synchronous work for `ms` milliseconds: no await, no turn of the loop. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Work.
  }
}

/** A look's timeout in seconds: 0, 1-20 ms, or null (none, bounded). */
function timeoutOf(d: Dice, noneOk: boolean): number | null {
  const k = d.int(10);
  if (k < 4) return 0;
  if (k < 8 || !noneOk) return (1 + d.int(20)) / 1000;
  return null;
}

/** A call with a signal, bounded: a hang aborts it and fails. */
async function bounded<T>(
  r: Round,
  what: string,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const ac = new AbortController();
  const p = call(ac.signal);
  try {
    return await r.guard(p, what);
  } catch (e) {
    ac.abort(new Error("bound"));
    await p.catch(() => {});
    throw e;
  }
}

/** What readiness machinery a round uses, registered on a socket. */
class Watch {
  sel: selectors.BaseSelector | null = null;
  selName: SelName;
  selEvents = 0;
  pl = select.poll();
  plMask = 0;
  ep: select.Epoll | null = null;
  epMask = 0;
  constructor(readonly r: Round, readonly s: Socket) {
    const d = r.d;
    this.selName = d.pick<SelName>(["Default", "Select", "Poll", "Epoll"]);
    const C = {
      Default: selectors.DefaultSelector,
      Select: selectors.SelectSelector,
      Poll: selectors.PollSelector,
      Epoll: selectors.EpollSelector,
    }[this.selName];
    this.sel = new C();
    this.ep = select.epoll();
  }

  close(): void {
    this.sel?.close();
    this.ep?.close();
  }
}

/** The local side of a stream round. */
class Local {
  closed = false;
  /** This side's shutdown(SHUT_WR) done: a send raises EPIPE. */
  shutWr = false;
  /** Whether the last send on a Deno socket went whole (the documented exception). */
  lastSendWhole = true;
  constructor(
    readonly r: Round,
    readonly s: Socket,
    readonly backend: BackendName,
    readonly inFlow: Flow,
    readonly outFlow: Flow,
    readonly w: Watch,
  ) {}

  get canSend(): boolean {
    return this.outFlow.sent < this.outFlow.data.length && !this.closed;
  }

  // A non-blocking read of a socket that is ready, by one of the calls.
  async readyRead(why: string): Promise<void> {
    const r = this.r, s = this.s, d = r.d;
    const nonblocking = s.gettimeout() === 0 && d.chance(0.5);
    const flags = nonblocking ? 0 : MSG_DONTWAIT;
    const n = size(d);
    const how = d.pick(["recv", "recv", "recv_into", "recvfrom", "peek"]);
    const what = `${how}(${n}${
      nonblocking ? "" : ", MSG_DONTWAIT"
    }) after ${why}`;
    r.count(`ready ${how}`);
    try {
      if (how === "recv") {
        r.take(this.inFlow, await r.guard(s.recv(n, flags), what), what);
      } else if (how === "recvfrom") {
        const [b] = await r.guard(s.recvfrom(n, flags), what);
        r.take(this.inFlow, b, what);
      } else if (how === "recv_into") {
        const buf = new Uint8Array(n + d.int(100));
        const k = await r.guard(s.recv_into(buf, n, flags), what);
        if (k > n) r.fail(`${what}: ${k} bytes for nbytes ${n}`);
        r.take(this.inFlow, buf.subarray(0, k), what);
      } else {
        const p = await r.guard(s.recv(n, flags | MSG_PEEK), what);
        r.peeked(this.inFlow, p, what);
        if (p.length > 0) {
          // The bytes are there: a recv takes them at once.
          const m = d.chance(0.5) ? p.length : size(d);
          const what2 = `recv(${m}, MSG_DONTWAIT) after a peek of ${p.length}`;
          const b = await r.guard(s.recv(m, MSG_DONTWAIT), what2);
          r.take(this.inFlow, b, what2);
          if (b.length === 0) r.fail(`${what2}: EOF after peeked bytes`);
        } else if (!this.inFlow.eof) {
          r.note(`${what}: peek EOF`);
          this.inFlow.eof = true;
        }
      }
    } catch (e) {
      this.readError(e, what, true);
    }
  }

  // An error from a read: BlockingIOError fails where `ready`.
  readError(e: unknown, what: string, ready: boolean): void {
    const r = this.r;
    const err = r.typed(e, what);
    r.note(`${what}: ${errName(err)}`);
    if (err instanceof BlockingIOError) {
      if (ready) {
        r.fail(
          `${what}: BlockingIOError on a socket reported readable (${this.inFlow.got} of ${this.inFlow.data.length} taken, eof ${this.inFlow.eof})`,
        );
      }
      return;
    }
    if (err instanceof TimeoutError) return;
    if (err instanceof ConnectionResetError) {
      if (!r.resetOk) {
        r.fail(`${what}: ConnectionResetError, no reset expected`);
      }
      return;
    }
    r.fail(`${what}: unexpected ${errName(err)}`);
  }

  // A non-blocking send of a socket reported writable.
  async readySend(why: string): Promise<void> {
    if (this.shutWr && !this.closed) return await this.sendAfterShut(why);
    if (!this.canSend) return;
    const r = this.r, s = this.s, d = r.d, f = this.outFlow;
    const n = Math.min(size(d), f.data.length - f.sent);
    const flags = s.gettimeout() === 0 && d.chance(0.5) ? 0 : MSG_DONTWAIT;
    const what = `send(${n} at ${f.sent}) after ${why}`;
    r.count("ready send");
    try {
      const k = await r.guard(
        s.send(f.data.subarray(f.sent, f.sent + n), flags),
        what,
      );
      r.note(`${what}: took ${k}`);
      if (k < 1) r.fail(`${what}: took ${k} bytes`);
      f.sent += k;
      this.lastSendWhole = k === n;
    } catch (e) {
      const err = r.typed(e, what);
      r.note(`${what}: ${errName(err)}`);
      if (err instanceof BlockingIOError) {
        if (this.backend === "deno" && this.lastSendWhole) {
          // README: sends taken whole that filled the buffer exactly.
          r.count("documented: deno writable, send BlockingIOError");
          this.lastSendWhole = false;
          return;
        }
        r.fail(
          `${what}: BlockingIOError on a socket reported writable (${this.backend}, last send whole: ${this.lastSendWhole})`,
        );
      }
      this.sendError(err, what);
    }
  }

  // Writable after this side's SHUT_WR: the send fails at once, EPIPE.
  async sendAfterShut(why: string): Promise<void> {
    const r = this.r, s = this.s;
    const what = `send(1, MSG_DONTWAIT) after shutdown(SHUT_WR) and ${why}`;
    r.count("send after SHUT_WR");
    try {
      const k = await r.guard(s.send(new Uint8Array(1), MSG_DONTWAIT), what);
      r.fail(`${what}: took ${k} bytes`);
    } catch (e) {
      const err = r.typed(e, what);
      r.note(`${what}: ${errName(err)}`);
      if (err instanceof BlockingIOError) r.fail(`${what}: BlockingIOError`);
      if (!(err instanceof BrokenPipeError) && !r.resetOk) {
        r.fail(`${what}: ${errName(err)}, not BrokenPipeError`);
      }
    }
  }

  /** shutdown(SHUT_WR) once all is sent; the peer's reader meets EOF. */
  shutdownWr(): void {
    if (this.canSend || this.shutWr || this.closed) return;
    const r = this.r;
    r.count("local SHUT_WR");
    try {
      this.s.shutdown(SHUT_WR);
      r.note("local shutdown(SHUT_WR)");
    } catch (e) {
      const err = r.typed(e, "local shutdown(SHUT_WR)");
      r.note(`local shutdown(SHUT_WR): ${errName(err)}`);
      if (!r.resetOk) r.fail(`local shutdown(SHUT_WR): ${errName(err)}`);
    }
    this.shutWr = true;
  }

  sendError(err: Error, what: string): void {
    const r = this.r;
    if (err instanceof BrokenPipeError || err instanceof ConnectionResetError) {
      if (!r.resetOk) r.fail(`${what}: ${errName(err)}, the peer is open`);
      return;
    }
    if (err instanceof BlockingIOError || err instanceof TimeoutError) return;
    r.fail(`${what}: unexpected ${errName(err)}`);
  }

  /** One look through `look`; acts on what it reports at once. */
  async look(look: Look): Promise<void> {
    const r = this.r, s = this.s, d = r.d, w = this.w;
    const wantWrite = (this.canSend || this.shutWr) && d.chance(0.5);
    // None waits only for reading: the peer always ends, so it comes.
    const t = timeoutOf(d, true);
    let readable = false, writable = false;
    let what = "";
    if (look === "select") {
      const xl = d.chance(0.2) ? [s] : [];
      what = `select([s], [${wantWrite ? "s" : ""}], [${
        xl.length ? "s" : ""
      }], ${t})`;
      const [rl, wl, el] = await bounded(
        r,
        what,
        (signal) => select.select([s], wantWrite ? [s] : [], xl, t, { signal }),
      );
      if (el.length > 0) r.note(`${what}: exceptional`);
      readable = rl.includes(s);
      writable = wl.includes(s);
    } else if (look === "poll") {
      if (d.chance(0.3) || w.plMask === 0) {
        const mask = select.POLLIN |
          (wantWrite ? select.POLLOUT : 0) |
          (d.chance(0.2) ? select.POLLRDHUP : 0);
        try {
          if (w.plMask === 0) w.pl.register(s, mask);
          else w.pl.modify(s, mask);
        } catch (e) {
          r.fail(`poll register/modify: ${errName(e)}`);
        }
        w.plMask = mask;
      }
      const ms = t === null ? null : Math.round(t * 1000);
      what = `poll.poll(${ms}) mask ${w.plMask}`;
      const evs = await bounded(
        r,
        what,
        (signal) => w.pl.poll(ms, { signal }),
      );
      for (const [fd, ev] of evs) {
        if (fd !== s.fileno()) r.fail(`${what}: fd ${fd} reported`);
        readable ||=
          (ev & (select.POLLIN | select.POLLERR | select.POLLHUP)) !==
            0;
        writable ||= (ev & select.POLLOUT) !== 0;
        r.note(`${what}: events ${ev}`);
      }
    } else if (look === "epoll") {
      const ep = w.ep!;
      if (d.chance(0.3) || w.epMask === 0) {
        const mask = select.EPOLLIN |
          (wantWrite ? select.EPOLLOUT : 0) |
          (d.chance(0.2) ? select.EPOLLRDHUP : 0) |
          (d.chance(0.15) ? select.EPOLLET : 0) |
          (d.chance(0.1) ? select.EPOLLONESHOT : 0);
        try {
          if (w.epMask === 0) ep.register(s, mask);
          else ep.modify(s, mask);
        } catch (e) {
          r.fail(`epoll register/modify: ${errName(e)}`);
        }
        w.epMask = mask;
      }
      // Edge-triggered or one-shot: a report may not come again.
      const te = t === null &&
          (w.epMask & (select.EPOLLET | select.EPOLLONESHOT)) !== 0
        ? 0.02
        : t;
      what = `epoll.poll(${te}) mask ${w.epMask}`;
      const evs = await bounded(
        r,
        what,
        (signal) => ep.poll(te, -1, { signal }),
      );
      for (const [fd, ev] of evs) {
        if (fd !== s.fileno()) r.fail(`${what}: fd ${fd} reported`);
        readable ||=
          (ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP)) !== 0;
        writable ||= (ev & select.EPOLLOUT) !== 0;
        r.note(`${what}: events ${ev}`);
      }
    } else {
      const sel = w.sel!;
      // register / modify / unregister at random, as Python's raise.
      const events = selectors.EVENT_READ |
        (wantWrite ? selectors.EVENT_WRITE : 0);
      const k = d.int(10);
      try {
        if (w.selEvents === 0) {
          sel.register(s, events, "data");
          w.selEvents = events;
        } else if (k < 3) {
          sel.modify(s, events, d.chance(0.5) ? "other" : "data");
          w.selEvents = events;
        } else if (k === 3) {
          sel.unregister(s);
          w.selEvents = 0;
          // Twice: KeyError.
          let threw: unknown = null;
          try {
            sel.unregister(s);
          } catch (e) {
            threw = e;
          }
          if (!(threw instanceof KeyError)) {
            r.fail(`unregister() twice: ${errName(threw)}, not KeyError`);
          }
          sel.register(s, events);
          w.selEvents = events;
        }
      } catch (e) {
        r.fail(
          `${w.selName}Selector register/modify/unregister: ${errName(e)}`,
        );
      }
      what = `${w.selName}Selector.select(${t}) events ${w.selEvents}`;
      const got = await bounded(
        r,
        what,
        (signal) => sel.select(t, { signal }),
      );
      for (const [key, mask] of got) {
        if (key.fileobj !== s) r.fail(`${what}: another key`);
        if ((mask & ~key.events) !== 0) {
          r.fail(`${what}: mask ${mask} outside ${key.events}`);
        }
        readable ||= (mask & selectors.EVENT_READ) !== 0;
        writable ||= (mask & selectors.EVENT_WRITE) !== 0;
        r.note(`${what}: mask ${mask}`);
      }
    }
    r.count(`look ${look} ${t === null ? "none" : t === 0 ? "0" : "ms"}`);
    if (!readable && !writable) r.note(`${what}: nothing`);
    // At once, with no other await between; now and then after some
    // synchronous work (a game loop's frame), which lets the kernel's state
    // move on with no turn of Deno's event loop.
    if (d.chance(0.15)) spin(d.int(6));
    if (readable) await this.readyRead(what);
    if (writable) await this.readySend(what);
  }

  /** A read with the socket's own mode: BlockingIOError and timeouts are fine. */
  async plainRead(): Promise<void> {
    const r = this.r, s = this.s, d = r.d;
    const t = s.gettimeout();
    const n = size(d);
    const what = `recv(${n}) with timeout ${t}`;
    r.count(`plain recv ${t === null ? "blocking" : t === 0 ? "nb" : "timed"}`);
    try {
      const b = await bounded(r, what, (signal) => s.recv(n, 0, { signal }));
      r.take(this.inFlow, b, what);
    } catch (e) {
      this.readError(e, what, false);
    }
  }

  /** makefile("rb", 0): one read, then the file closed. */
  async fileRead(): Promise<void> {
    const r = this.r, s = this.s, d = r.d;
    const f = s.makefile("rb", 0);
    const n = size(d);
    const what = `makefile("rb", 0).read(${n}), timeout ${s.gettimeout()}`;
    r.count("makefile read");
    try {
      const b = await bounded(r, what, (signal) => f.read(n, { signal }));
      if (b === null) r.fail(`${what}: null`);
      r.take(this.inFlow, b!, what);
    } catch (e) {
      this.readError(e, what, false);
    } finally {
      await f.close();
    }
  }

  /** The readable stream: a read or two, released at a random moment. */
  async streamRead(): Promise<void> {
    const r = this.r, s = this.s, d = r.d;
    const byob = d.chance(0.5);
    r.count(`stream ${byob ? "byob" : "default"}`);
    const what = `readable ${byob ? "BYOB" : "default"} read`;
    for (let i = 0; i < 1 + d.int(3); i++) {
      const reader = byob
        ? s.readable.getReader({ mode: "byob" })
        : s.readable.getReader();
      const read = (byob
        ? (reader as ReadableStreamBYOBReader).read(
          new Uint8Array(size(d)),
        )
        : (reader as ReadableStreamDefaultReader<Uint8Array>).read()).then(
          (v) => ({ ok: true as const, v }),
          (e) => ({ ok: false as const, e }),
        );
      const wait = d.int(4) === 0 ? 0 : 1 + d.int(15);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const first = await Promise.race([
        read,
        new Promise<null>((res) => timer = setTimeout(() => res(null), wait)),
      ]);
      clearTimeout(timer);
      if (first === null) reader.releaseLock();
      const res = await r.guard(read, what);
      if (res.ok) {
        if (res.v.done) {
          if (res.v.value !== undefined && res.v.value.byteLength > 0) {
            r.fail(`${what}: done with bytes`);
          }
          r.take(this.inFlow, new Uint8Array(0), `${what} (done)`);
        } else {
          const v = res.v.value!;
          r.take(
            this.inFlow,
            new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
            what,
          );
        }
      } else if (first === null) {
        r.note(`${what}: released`);
      } else {
        this.readError(res.e, what, false);
        reader.releaseLock();
        return;
      }
      if (first !== null) reader.releaseLock();
      if (res.ok && res.v.done) return;
    }
  }

  /** sendall of a random size in blocking mode (the peer reads it all). */
  async sendAll(): Promise<void> {
    if (!this.canSend) return;
    const r = this.r, s = this.s, f = this.outFlow;
    const n = Math.min(size(r.d), f.data.length - f.sent);
    const t = s.gettimeout();
    s.settimeout(null);
    const what = `sendall(${n} at ${f.sent})`;
    r.count("sendall");
    try {
      await bounded(
        r,
        what,
        (signal) =>
          s.sendall(f.data.subarray(f.sent, f.sent + n), 0, { signal }),
      );
      f.sent += n;
      this.lastSendWhole = true;
      r.note(`${what}: done`);
    } catch (e) {
      const err = r.typed(e, what);
      r.note(`${what}: ${errName(err)}`);
      if (
        err instanceof BrokenPipeError || err instanceof ConnectionResetError
      ) {
        if (!r.resetOk) r.fail(`${what}: ${errName(err)}, the peer is open`);
        r.lossy = true;
        // Unknown how much went: stop sending.
        f.sent = f.data.length;
      } else r.fail(`${what}: unexpected ${errName(err)}`);
    } finally {
      s.settimeout(t);
    }
  }

  /** A non-blocking send with no look first: BlockingIOError is fine. */
  async plainSend(): Promise<void> {
    if (!this.canSend) return;
    const r = this.r, s = this.s, f = this.outFlow;
    const n = Math.min(size(r.d), f.data.length - f.sent);
    const what = `send(${n} at ${f.sent}, MSG_DONTWAIT)`;
    r.count("plain send");
    try {
      const k = await r.guard(
        s.send(f.data.subarray(f.sent, f.sent + n), MSG_DONTWAIT),
        what,
      );
      r.note(`${what}: took ${k}`);
      f.sent += k;
      this.lastSendWhole = k === n;
    } catch (e) {
      const err = r.typed(e, what);
      r.note(`${what}: ${errName(err)}`);
      if (err instanceof BlockingIOError) this.lastSendWhole = false;
      this.sendError(err, what);
    }
  }

  mode(): void {
    const r = this.r, s = this.s, d = r.d;
    const k = d.int(4);
    if (k === 0) s.setblocking(false);
    else if (k === 1) s.setblocking(true);
    else if (k === 2) s.settimeout((1 + d.int(30)) / 1000);
    else s.settimeout(null);
    r.note(`mode: timeout ${s.gettimeout()}`);
    r.count("mode");
  }

  /** close() while registered, or while another task waits in a look. */
  async closeRegistered(): Promise<void> {
    const r = this.r, s = this.s, d = r.d, w = this.w;
    r.lossy = true;
    r.resetOk = true;
    const how = d.pick(["plain", "select waits", "selector waits"]);
    r.count(`close ${how}`);
    r.note(`close: ${how}`);
    if (how === "plain") {
      s.close();
      this.closed = true;
    } else if (how === "select waits") {
      // select() with no timeout: close() wakes it (README).
      this.closed = true;
      await closeWhileSelected(r, s, d.int(5), "");
    } else {
      const sel = w.sel!;
      if (w.selEvents === 0) {
        sel.register(s, selectors.EVENT_READ);
        w.selEvents = selectors.EVENT_READ;
      }
      const t = (5 + d.int(50)) / 1000;
      const waiting = sel.select(t).then(
        (v) => ({ ok: true as const, v }),
        (e) => ({ ok: false as const, e }),
      );
      await sleep(d.int(5));
      s.close();
      this.closed = true;
      const res = await r.guard(
        waiting,
        `${w.selName}Selector.select(${t}) waiting while close()`,
      );
      if (!res.ok) r.typed(res.e, "selector select() across close()");
    }
    // The closed socket's registration: looks settle, with typed errors.
    for (const look of ["poll", "epoll", "selector", "select"] as const) {
      try {
        if (look === "poll" && w.plMask !== 0) {
          await r.guard(w.pl.poll(0), "poll(0) after close");
        } else if (look === "epoll" && w.epMask !== 0) {
          await r.guard(w.ep!.poll(0), "epoll.poll(0) after close");
        } else if (look === "selector" && w.selEvents !== 0) {
          await r.guard(w.sel!.select(0), "selector.select(0) after close");
          w.sel!.unregister(s);
          w.selEvents = 0;
        } else if (look === "select") {
          await r.guard(
            select.select([s], [], [], 0),
            "select() of a closed socket",
          );
          r.fail("select() of a closed socket did not raise");
        }
      } catch (e) {
        r.typed(e, `${look} after close`);
      }
    }
  }
}

// The local side's random operations, then the drain: what is left
// comes, then EOF; what is left to send goes, then shutdown(SHUT_WR).
async function driveLocal(r: Round, L: Local): Promise<void> {
  const d = r.d, local = L.s, inFlow = L.inFlow;
  const started = Date.now();
  for (let op = 0; op < OPS && Date.now() - started < OPS_MS; op++) {
    if (inFlow.eof && !L.canSend) break;
    const k = d.int(100);
    if (k < 45) {
      await L.look(d.pick<Look>(["select", "poll", "epoll", "selector"]));
    } else if (k < 55) L.mode();
    else if (k < 63) await L.plainRead();
    else if (k < 68) await L.fileRead();
    else if (k < 74) await L.streamRead();
    else if (k < 80) await L.sendAll();
    else if (k < 87) await L.plainSend();
    else if (k < 89) L.shutdownWr();
    else if (k < 91) spin(1 + d.int(5));
    else if (k < 95) await sleep(d.int(8));
    else if (k < 97) {
      await L.closeRegistered();
      break;
    }
  }
  if (!L.closed) {
    // Drain: what is left comes, then EOF (or the reset).
    local.settimeout(null);
    while (!inFlow.eof) {
      try {
        const b = await bounded(
          r,
          "recv at the end",
          (signal) => local.recv(65536, 0, { signal }),
        );
        r.take(inFlow, b, "recv at the end");
      } catch (e) {
        L.readError(e, "recv at the end", false);
        break;
      }
    }
    if (!r.lossy && inFlow.got !== inFlow.data.length) {
      r.fail(
        `${inFlow.got} of ${inFlow.data.length} bytes came before EOF, and none may be lost`,
      );
    }
    if (L.canSend) await L.sendAll();
    while (L.canSend) await L.sendAll();
    if (!L.shutWr) {
      try {
        local.shutdown(SHUT_WR);
      } catch (e) {
        r.typed(e, "local shutdown");
      }
    }
  }
}

// The peer of a stream round: chunks with pauses, then its ending; and a
// reader of what the local side sends.
async function peerSend(
  r: Round,
  pd: Dice,
  p: Socket,
  flow: Flow,
  chunks: number[],
  ending: string,
): Promise<void> {
  let off = 0;
  const resetAt = ending === "reset" && pd.chance(0.5)
    ? pd.int(chunks.length + 1)
    : -1;
  for (let i = 0; i < chunks.length; i++) {
    if (i === resetAt) break;
    const k = pd.int(10);
    if (k < 3) await sleep(0);
    else if (k < 6) await sleep(1 + pd.int(5));
    else if (k === 9) await sleep(10 + pd.int(30));
    try {
      await p.sendall(flow.data.subarray(off, off + chunks[i]));
    } catch (e) {
      r.typed(e, "peer sendall");
      r.note(`peer sendall: ${errName(e)}`);
      if (!r.resetOk) throw e;
      return;
    }
    off += chunks[i];
    flow.sent = off;
  }
  await sleep(pd.int(10));
  r.note(`peer ending: ${ending} after ${off}`);
  try {
    if (ending === "reset") {
      resetOnClose(p);
      p.close();
    } else if (ending === "close") p.close();
    else p.shutdown(SHUT_WR);
  } catch (e) {
    // ENOTCONN once the local side reset the connection.
    r.typed(e, `peer ${ending}`);
    r.note(`peer ${ending}: ${errName(e)}`);
    if (!r.resetOk) throw e;
  }
}

async function peerRead(r: Round, p: Socket, flow: Flow): Promise<void> {
  for (;;) {
    let b: Uint8Array;
    try {
      b = await p.recv(65536);
    } catch (e) {
      r.typed(e, "peer recv");
      r.note(`peer recv: ${errName(e)}`);
      return;
    }
    r.take(flow, b, "peer recv");
    if (b.length === 0) return;
  }
}

/**
 * close() `s` `ms` after another task began select() with no timeout on it:
 * the close wakes the select (README), which must settle, and with a typed
 * error if any.
 */
async function closeWhileSelected(
  r: Round,
  s: Socket,
  ms: number,
  what: string,
): Promise<void> {
  const ac = new AbortController();
  const waiting = select.select([s], [], [], null, { signal: ac.signal })
    .then(
      (v) => ({ ok: true as const, v }),
      (e) => ({ ok: false as const, e }),
    );
  await sleep(ms);
  s.close();
  const res = await r.guard(waiting, `select(None) closed meanwhile${what}`);
  ac.abort();
  if (!res.ok) r.typed(res.e, `select() woken by close()${what}`);
}

/**
 * A round's two flows and how the peer ends: the peer sends `chunks`, the
 * local side a random amount back; a reset only where the peer can make
 * one. Rolled on the round's own dice (`r.d`), then the peer's (`pd`).
 */
function flows(
  r: Round,
  peer: string,
  chunks: readonly number[],
  resets: boolean,
  seed: number,
  pd: Dice,
): { inFlow: Flow; outFlow: Flow; ending: string } {
  const d = r.d;
  const inFlow = new Flow(
    `${peer} to local`,
    chunks.reduce((a, b) => a + b, 0),
    seed,
  );
  const outN = d.chance(0.5) ? 1 + d.int(d.chance(0.5) ? 4096 : 600_000) : 0;
  const outFlow = new Flow(`local to ${peer}`, outN, seed + 7);
  const ending = pd.pick(
    resets
      ? ["SHUT_WR", "SHUT_WR", "close", "close", "reset"]
      : ["SHUT_WR", "close"],
  );
  r.count(`ending ${ending}`);
  if (ending === "reset") r.lossy = r.resetOk = true;
  // A close with the local side's bytes unread is a reset (Linux).
  if (ending === "close" && outN > 0) r.lossy = r.resetOk = true;
  r.note(
    `${r.what}: ${chunks.length} chunks, ${inFlow.data.length} bytes in, ${outN} out, ending ${ending}`,
  );
  return { inFlow, outFlow, ending };
}

async function streamRound(
  kind: Kind,
  lb: BackendName,
  pb: BackendName,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const pd = new Dice(seedOf(seed, n, 1));
  const r = new Round(d, tally, `${kind} ${lb}/${pb}`);
  const chunks = Array.from({ length: pd.int(9) }, () => size(pd));
  const { inFlow, outFlow, ending } = flows(
    r,
    "peer",
    chunks,
    kind === "tcp" && pb === "libc",
    seed ^ n,
    pd,
  );
  const viaPair = kind === "unix" && lb === pb && d.chance(0.3);
  if (viaPair) r.count("socketpair()");
  await using pair = viaPair
    ? await (async () => {
      const [a, b] = await socketpair(AF_UNIX, SOCK_STREAM, 0, { backend: lb });
      return {
        server: a,
        client: b,
        [Symbol.asyncDispose]: () => {
          a.close();
          b.close();
          return Promise.resolve();
        },
      };
    })()
    : await connectedPair(lb, kind === "tcp" ? AF_INET : AF_UNIX, "path", pb);
  const local = pair.server, peer = pair.client;
  const w = new Watch(r, local);
  const L = new Local(r, local, lb, inFlow, outFlow, w);
  const peerSending = peerSend(r, pd, peer, inFlow, chunks, ending).then(
    () => null,
    (e) => e,
  );
  const peerReading = peerRead(r, peer, outFlow).then(() => null, (e) => e);
  try {
    await driveLocal(r, L);
    const pe = await r.guard(peerSending, "the peer's sends");
    if (pe !== null) throw pe;
    if (L.closed) {
      peer.close();
    }
    const re = await r.guard(peerReading, "the peer's reader");
    if (re !== null) throw re;
    if (!r.lossy && !L.closed && outFlow.got !== outFlow.data.length) {
      r.fail(`the peer took ${outFlow.got} of ${outFlow.data.length} bytes`);
    }
    r.count(r.lossy ? "round lossy" : "round exact");
  } catch (e) {
    throw r.withRecent(e);
  } finally {
    w.close();
    local.close();
    peer.close();
    await withTimeout(
      Promise.all([peerSending, peerReading]),
      STEP_MS,
      "peer tasks",
    );
  }
}

// A listener with clients connecting at random moments; some close or
// reset before they are accepted. Each client sends its number first.
async function listenerRound(
  lb: BackendName,
  pb: BackendName,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const pd = new Dice(seedOf(seed, n, 1));
  const family = d.chance(0.5) ? AF_INET : AF_UNIX;
  const r = new Round(d, tally, `listener ${lb}/${pb}`);
  using l = listener(lb, family);
  const ls = l.sock;
  const w = new Watch(r, ls);
  const clients: Socket[] = [];
  const accepted: Socket[] = [];
  const K = 1 + pd.int(6);
  const fates = Array.from({ length: K }, () =>
    pd.pick(
      family === AF_INET && pb === "libc"
        ? ["open", "open", "close", "reset"]
        : ["open", "open", "close"],
    ));
  r.note(
    `${r.what} ${family === AF_INET ? "tcp" : "unix"}: ${fates.join(",")}`,
  );
  const reached = new Set<number>();
  const connecting = (async () => {
    for (let i = 0; i < K; i++) {
      const k = pd.int(6);
      if (k < 2) await sleep(0);
      else if (k < 5) await sleep(1 + pd.int(10));
      const c = sock(pb, family);
      clients.push(c);
      try {
        await c.connect(l.addr);
      } catch (e) {
        r.note(`client ${i} connect: ${errName(e)}`);
        throw e;
      }
      try {
        await c.sendall(new Uint8Array([i]));
      } catch (e) {
        r.note(`client ${i} sendall: ${errName(e)}`);
        throw e;
      }
      r.note(`client ${i} connected (${fates[i]})`);
      if (fates[i] === "reset") {
        resetOnClose(c);
        c.close();
      } else if (fates[i] === "close") c.close();
    }
  })().then(() => null, (e) => e);
  const checked = new Set<Socket>();
  const checkId = async (c: Socket, why: string) => {
    // Its number, or EOF / a reset for one that went away.
    if (checked.has(c)) return;
    checked.add(c);
    try {
      c.settimeout(2);
      const b = await r.guard(c.recv(1), `accepted recv ${why}`);
      if (b.length === 1) {
        if (reached.has(b[0])) r.fail(`client ${b[0]} accepted twice`);
        reached.add(b[0]);
      }
    } catch (e) {
      const err = r.typed(e, "accepted recv");
      if (!(err instanceof ConnectionResetError)) {
        r.fail(`accepted recv: ${errName(err)}`);
      }
    }
  };
  const acceptOne = async (why: string, ready: boolean) => {
    const t = ls.gettimeout();
    if (ready) ls.setblocking(false);
    const what = `accept() after ${why}`;
    try {
      const [c] = await bounded(r, what, (signal) => ls.accept({ signal }));
      accepted.push(c);
      r.count(ready ? "ready accept" : "plain accept");
      r.note(`${what}: accepted`);
      if (d.chance(0.5)) await checkId(c, why);
    } catch (e) {
      const err = r.typed(e, what);
      r.note(`${what}: ${errName(err)}`);
      if (err instanceof BlockingIOError && ready) {
        r.fail(`${what}: BlockingIOError on a listener reported readable`);
      }
      if (!(err instanceof BlockingIOError || err instanceof TimeoutError)) {
        r.fail(`${what}: unexpected ${errName(err)}`);
      }
    } finally {
      if (ready) ls.settimeout(t);
    }
  };
  try {
    const started = Date.now();
    for (let op = 0; op < OPS && Date.now() - started < OPS_MS; op++) {
      if (accepted.length === K) break;
      const k = d.int(100);
      // None only while connections are still to come.
      const t = timeoutOf(d, accepted.length < K);
      if (k < 55) {
        const look = d.pick<Look>(["select", "poll", "epoll", "selector"]);
        let ready = false;
        const what = `${look}(${t}) on the listener`;
        if (look === "select") {
          const [rl] = await bounded(
            r,
            what,
            (signal) => select.select([ls], [], [], t, { signal }),
          );
          ready = rl.includes(ls);
        } else if (look === "poll") {
          if (w.plMask === 0) w.pl.register(ls, select.POLLIN);
          w.plMask = select.POLLIN;
          const evs = await bounded(
            r,
            what,
            (signal) => w.pl.poll(t === null ? null : t * 1000, { signal }),
          );
          ready = evs.length > 0;
        } else if (look === "epoll") {
          if (w.epMask === 0) w.ep!.register(ls, select.EPOLLIN);
          w.epMask = select.EPOLLIN;
          const evs = await bounded(
            r,
            what,
            (signal) => w.ep!.poll(t, -1, { signal }),
          );
          ready = evs.length > 0;
        } else {
          if (w.selEvents === 0) w.sel!.register(ls, selectors.EVENT_READ);
          else if (d.chance(0.2)) w.sel!.modify(ls, selectors.EVENT_READ, n);
          w.selEvents = selectors.EVENT_READ;
          const got = await bounded(
            r,
            what,
            (signal) => w.sel!.select(t, { signal }),
          );
          ready = got.length > 0;
        }
        r.count(`listener look ${look}`);
        r.note(`${what}: ${ready ? "ready" : "nothing"}`);
        if (ready) await acceptOne(what, true);
      } else if (k < 70) {
        const t2 = ls.gettimeout();
        ls.settimeout((1 + d.int(20)) / 1000);
        await acceptOne("nothing (timed)", false);
        ls.settimeout(t2);
      } else if (k < 80) {
        const t2 = ls.gettimeout();
        ls.setblocking(false);
        await acceptOne("nothing (non-blocking)", false);
        ls.settimeout(t2);
      } else if (k < 90) await sleep(d.int(8));
      else if (k < 98) {
        // An accepted socket: readable means a recv answers.
        if (accepted.length > 0) {
          const c = d.pick(accepted);
          if (c.fileno() === -1) continue;
          const [rl] = await r.guard(
            select.select([c], [], [], d.chance(0.5) ? 0 : 0.01),
            "select() of an accepted socket",
          );
          if (rl.length > 0) {
            try {
              const b = await r.guard(
                c.recv(1 + d.int(4), MSG_PEEK | MSG_DONTWAIT),
                "peek of an accepted socket",
              );
              r.note(`accepted peek: ${b.length}`);
            } catch (e) {
              const err = r.typed(e, "peek of an accepted socket");
              if (err instanceof BlockingIOError) {
                r.fail("accepted socket reported readable: BlockingIOError");
              }
            }
            r.count("accepted ready peek");
          }
        }
      } else {
        // close while another task waits on the listener.
        r.count("listener closed while waited on");
        r.note("listener closed while select() waits on it");
        await closeWhileSelected(r, ls, d.int(4), " (a listener)");
        break;
      }
    }
    const ce = await r.guard(connecting, "the clients' connects");
    if (ce !== null && ls.fileno() !== -1) r.fail(`connect: ${errName(ce)}`);
    if (ls.fileno() !== -1) {
      // The rest are pending: each accept takes one.
      ls.settimeout(2);
      while (accepted.length < K) {
        await acceptOne("the end", false).then(() => {
          if (accepted.length < K && ls.gettimeout() === null) r.fail("stuck");
        });
      }
      for (const c of accepted) await checkId(c, "at the end");
      for (let i = 0; i < K; i++) {
        if (fates[i] === "open" && !reached.has(i)) {
          r.fail(`client ${i}'s byte never came`);
        }
      }
    }
  } catch (e) {
    throw r.withRecent(e);
  } finally {
    w.close();
    for (const c of [...clients, ...accepted]) c.close();
    await withTimeout(connecting, STEP_MS, "connects");
  }
}

// The peer in another process: python3, one connection per plan line
// (address, a file of the bytes, chunk sizes and pauses, ending). Its
// bytes and resets reach this process at any moment, with no turn of
// Deno's event loop owed (a peer of this process makes one owed). It reads
// what the local side sends on a thread and prints what it sent and got.
const PY_PEER = `
import hashlib, json, select, socket, struct, sys, threading, time
for line in sys.stdin:
    plan = json.loads(line)
    data = open(plan["file"], "rb").read()
    addr = plan["addr"]
    c = socket.socket(socket.AF_INET if isinstance(addr, list) else socket.AF_UNIX)
    c.connect(tuple(addr) if isinstance(addr, list) else addr)
    st = {"n": 0, "stop": False, "err": None, "eof": False}
    h = hashlib.sha256()
    def reader():
        while not st["stop"]:
            if not select.select([c], [], [], 0.02)[0]:
                continue
            try:
                b = c.recv(65536)
            except OSError as e:
                st["err"] = e.errno
                return
            if not b:
                st["eof"] = True
                return
            h.update(b)
            st["n"] += len(b)
    t = threading.Thread(target=reader)
    t.start()
    off, err = 0, None
    for size, pause in plan["chunks"]:
        if pause:
            time.sleep(pause / 1000)
        try:
            c.sendall(data[off:off + size])
        except OSError as e:
            err = e.errno
            break
        off += size
    time.sleep(plan["tail"] / 1000)
    try:
        if plan["ending"] == "SHUT_WR":
            c.shutdown(socket.SHUT_WR)
            t.join(20)
        else:
            st["stop"] = True
            t.join()
            if plan["ending"] == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError as e:
        err = err or e.errno
    st["stop"] = True
    t.join()
    c.close()
    print(json.dumps({"sent": off, "got": st["n"], "sha": h.hexdigest(), "err": err, "rerr": st["err"]}), flush=True)
`;

interface PeerResult {
  sent: number;
  got: number;
  sha: string;
  err: number | null;
  rerr: number | null;
}

async function pythonRound(
  kind: Kind,
  lb: BackendName,
  py: FedPythonPeer,
  dir: string,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const pd = new Dice(seedOf(seed, n, 1));
  const r = new Round(d, tally, `${kind} ${lb}/python3`);
  const chunks = Array.from(
    { length: pd.int(9) },
    () => [
      size(pd),
      pd.int(10) < 6 ? pd.int(6) : pd.chance(0.2) ? 10 + pd.int(30) : 0,
    ],
  );
  const { inFlow, outFlow, ending } = flows(
    r,
    "python3",
    chunks.map(([size]) => size),
    kind === "tcp",
    seed ^ n,
    pd,
  );
  const file = `${dir}/data`;
  Deno.writeFileSync(file, inFlow.data);
  using l = listener(lb, kind === "tcp" ? AF_INET : AF_UNIX);
  await r.guard(
    py.send({ addr: l.addr, file, chunks, tail: pd.int(10), ending }),
    "plan to python3",
  );
  const [local] = await withTimeout(
    l.sock.accept(),
    PY_START_MS,
    "python3's connect",
  );
  const result = py.line(25_000).then((line) => JSON.parse(line) as PeerResult);
  result.catch(() => {});
  const w = new Watch(r, local);
  const L = new Local(r, local, lb, inFlow, outFlow, w);
  try {
    await driveLocal(r, L);
    if (L.closed) r.note("local closed");
    const res = await withTimeout(result, 25_000, "python3's result");
    r.note(`python3: ${JSON.stringify(res)}`);
    if (!r.lossy && res.sent !== inFlow.data.length) {
      r.fail(
        `python3 sent ${res.sent} of ${inFlow.data.length}: err ${res.err}`,
      );
    }
    if (!r.lossy && !L.closed && inFlow.got !== inFlow.data.length) {
      r.fail(`${inFlow.got} of ${inFlow.data.length} bytes came`);
    }
    if (res.got > outFlow.sent && !(L.closed || r.lossy)) {
      r.fail(`python3 got ${res.got}, more than the ${outFlow.sent} sent`);
    }
    const want = await sha256(
      outFlow.data.subarray(0, Math.min(res.got, outFlow.data.length)),
    );
    if (want !== res.sha) {
      r.fail(`python3's ${res.got} bytes are not the first ${res.got} sent`);
    }
    if (!r.lossy && !L.closed && res.got !== outFlow.data.length) {
      r.fail(`python3 got ${res.got} of ${outFlow.data.length} bytes`);
    }
    r.count(r.lossy ? "round lossy" : "round exact");
  } catch (e) {
    throw r.withRecent(e);
  } finally {
    w.close();
    local.close();
    // The peer's line ends its round before the next plan.
    await withTimeout(result, 25_000, "python3's result").catch(() => {});
  }
}

for (const [i, [lb, pb]] of BACKEND_PAIRS.entries()) {
  const reason = unavailable(lb) ?? unavailable(pb);
  for (const [j, what] of (["tcp", "unix", "listener"] as const).entries()) {
    Deno.test({
      name: skipNote(
        `readiness fuzz: ${what}, local ${lb}, peer ${pb}: readable answers a non-blocking read, writable takes a byte, every byte once in order, no hang, typed errors`,
        reason,
      ),
      ignore: reason !== null,
      fn: async () => {
        const seed = (STREAMS_SEED + i * 3 + j) >>> 0;
        const tally: Tally = {};
        await seededRounds({
          what: `readiness ${what}, local ${lb}, peer ${pb}`,
          rounds: what === "listener" ? ROUNDS * 2 : ROUNDS,
          boundMs: BOUND_MS,
          tally,
          round: (n) =>
            what === "listener"
              ? listenerRound(lb, pb, seed, n, tally)
              : streamRound(what, lb, pb, seed, n, tally),
        });
      },
    });
  }
}

// The peer in another process (python3): TCP and unix, on each backend.
for (const [i, lb] of BACKENDS.entries()) {
  const reason = unavailable(lb) ?? (hasPython ? null : "no python3");
  Deno.test({
    name: skipNote(
      `readiness fuzz: tcp and unix, local ${lb}, peer python3 (another process): readable answers a non-blocking read, writable takes a byte, every byte once in order, no hang, typed errors`,
      reason,
    ),
    ignore: reason !== null,
    fn: async () => {
      await using py = pythonFed(PY_PEER);
      using tmp = tempUnixPath();
      for (const [j, kind] of (["tcp", "unix"] as const).entries()) {
        const seed = (STREAMS_SEED + 100 + i * 2 + j) >>> 0;
        const tally: Tally = {};
        await seededRounds({
          what: `readiness ${kind}, local ${lb}, peer python3`,
          rounds: Math.ceil(ROUNDS / 3),
          boundMs: BOUND_MS,
          tally,
          round: (n) => pythonRound(kind, lb, py, tmp.dir, seed, n, tally),
        });
      }
    },
  });
}

// A differential of stream sockets (TCP over IPv4 and IPv6, unix streams):
// one small script of socket operations (a JSON list), run by an
// interpreter here on the chosen backends and by its twin in python3
// (STREAM_PY), each result written down the same way (bytes as text, a
// port as the name of the socket that has it, an error as its class, errno
// and message) so that the two lists compare line by line. Where timing
// matters, a script says so: "settle" waits (bounded) until a socket is
// readable, "discard" reads what is there without waiting, "fill" and
// "drain" fill the buffers and empty them, comparing only how that ended
// (byte counts are the buffers'; a fill's sends alternate two bytes, so that
// none looks like the retry of a timed-out one, which the Deno backend counts
// as those bytes: README, Backends), and "nodelay" turns Nagle off, so that
// what is sent goes at once. A stream recv may be short: a "recv"
// that got bytes reads on without waiting while more come, on both sides, so
// a short first read does not show; a peek cannot read on, so a Deno
// socket's may be short (see differences). An address ["lo", name] is that
// socket's, or, once it is closed, the one it had. Played, in a process
// where no other thread spawns programs (see _isolated.ts), by
// tests/stream_ops_test.ts (fixed scripts) and
// tests/stress/stream_ops_stress.ts (seeded random ones; `deno task
// stress` runs its modules one at a time).
import {
  AF_INET,
  AF_UNIX,
  BlockingIOError,
  IPPROTO_TCP,
  MSG_DONTWAIT,
  MSG_PEEK,
  MSG_WAITALL,
  OSError,
  SO_LINGER,
  SO_REUSEADDR,
  SOCK_STREAM,
  type Socket,
  socket,
  socketpair,
  SOL_SOCKET,
  TCP_NODELAY,
  TimeoutError,
} from "../../mod.ts";
import * as select from "../../select.ts";
import type { BackendName } from "../_helpers.ts";
import { sleep, withTimeout } from "../_time.ts";
import {
  compareOutcomes,
  conv,
  data,
  FAMILIES,
  fmtBytes,
  HANG,
  type Op,
  type Outcome,
  outcomeWriter,
  type Script,
} from "./_ops.ts";

/** The longest one operation may take (python3's twin: the same). */
const STEP_MS = 3000;
// How long a "drain" reads on while bytes sent to it have not all come,
// within a step's bound. A quiet gap is not the end then: Linux's loopback
// TCP can stall for a zero-window probe (200 ms, doubling) when a starved
// receiver's small window is under the sender's MSS, as a CI run under
// load showed (`ss`: the sender in its persist timer, bytes retransmitted).
const DRAIN_LATEST_MS = 2000;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// The operations after which a socket's name is noted (see ["lo", n]).
const KEEPS_NAME = new Set(["bind", "listen", "connect", "connect_ex"]);

/**
 * Run `script` with each socket it makes on `backendOf(its name)` (an
 * accepted socket is its listener's, a pair is the first name's); the
 * outcome of each operation, in order. Every call is bounded: one that
 * hangs is "hang".
 */
export async function runScript(
  script: Script,
  backendOf: (name: string) => BackendName,
): Promise<Outcome[]> {
  const { dir } = script;
  const socks = new Map<string, Socket>();
  const dead = new Map<number, number>();
  const sent = new Map<string, number>();
  // The name each socket last had (["lo", n] of a closed one).
  const known = new Map<string, unknown>();
  let fills = 0;
  const out: Outcome[] = [];
  const loopback = (f: number) => f === AF_INET ? "127.0.0.1" : "::1";
  const nameOf = (n: string): unknown => {
    try {
      return socks.get(n)!.getsockname();
    } catch (e) {
      if (known.has(n)) return known.get(n);
      throw e;
    }
  };
  const portOf = (n: string) => (nameOf(n) as [string, number])[1];

  const addr = (s: Socket, spec: readonly unknown[]): unknown => {
    const f = s.family;
    switch (spec[0]) {
      case "lo":
        if (f === AF_UNIX) return nameOf(spec[1] as string);
        return [loopback(f), portOf(spec[1] as string)];
      case "lo0":
        return [loopback(f), 0];
      case "any0":
        return ["", 0];
      case "dead": {
        if (f === AF_UNIX) return `${dir}/dead`;
        if (!dead.has(f)) {
          const t = socket(f, SOCK_STREAM, 0, { backend: backendOf("dead") });
          t.bind([loopback(f), 0]);
          dead.set(f, (t.getsockname() as [string, number])[1]);
          t.close();
        }
        return [loopback(f), dead.get(f)];
      }
      case "path":
        return `${dir}/${spec[1]}`;
      case "raw":
        return conv(spec[1]);
    }
    throw new Error(`bad address spec ${JSON.stringify(spec)}`);
  };

  const { fmtAddr, fmtExc } = outcomeWriter(dir, socks, dead, true);

  const bounded = <T>(p: Promise<T>, what: Op) =>
    withTimeout(p, STEP_MS, JSON.stringify(what));

  // Read on without waiting while bytes come (see the header).
  const topUp = async (
    s: Socket,
    room: number,
    into?: Uint8Array,
  ): Promise<[Uint8Array, Outcome | null]> => {
    // (Non-blocking: with a timeout, CPython's MSG_DONTWAIT waits.)
    let got: Uint8Array = new Uint8Array(0);
    let extra: Outcome | null = null;
    const saved = s.gettimeout();
    s.setblocking(false);
    while (room > 0) {
      let b: Uint8Array;
      try {
        if (into === undefined) {
          b = await s.recv(room);
        } else {
          const view = into.subarray(got.length);
          const n = await s.recv_into(view, room);
          b = view.slice(0, n);
        }
      } catch (e) {
        if (e instanceof BlockingIOError) break;
        if (!(e instanceof OSError)) throw e;
        extra = fmtExc(e);
        break;
      }
      if (b.length === 0) break;
      got = concat(got, b);
      room -= b.length;
    }
    s.settimeout(saved);
    return [got, extra];
  };

  for (const op of script.ops) {
    const k = op[0] as string;
    let r: Outcome = null;
    try {
      if (k === "sleep") {
        await sleep(op[1] as number);
      } else if (k === "sock") {
        const n = op[1] as string;
        socks.set(
          n,
          socket(FAMILIES[op[2] as string], SOCK_STREAM, 0, {
            backend: backendOf(n),
          }),
        );
      } else if (k === "pair") {
        const [x, y] = await bounded(
          socketpair(AF_UNIX, SOCK_STREAM, 0, {
            backend: backendOf(op[1] as string),
          }),
          op,
        );
        socks.set(op[1] as string, x);
        socks.set(op[2] as string, y);
      } else {
        const s = socks.get(op[1] as string)!;
        const fam = s.family;
        // deno-lint-ignore no-explicit-any
        const a = op as any[];
        // deno-lint-ignore no-explicit-any
        const any = s as any;
        const call = <T>(p: Promise<T>) => bounded(p, op);
        switch (k) {
          case "bind":
            r = s.bind(addr(s, a[2]) as never) ?? null;
            break;
          case "listen":
            r = (a.length < 3 ? s.listen() : s.listen(a[2])) ?? null;
            break;
          case "accept": {
            const [c, from] = await call(s.accept());
            socks.set(a[2], c);
            r = fmtAddr(from, fam);
            break;
          }
          case "connect":
            r = (await call(s.connect(addr(s, a[2]) as never))) ?? null;
            break;
          case "connect_ex":
            r = await call(s.connect_ex(addr(s, a[2]) as never));
            break;
          case "reuseaddr":
            s.setsockopt(SOL_SOCKET, SO_REUSEADDR, a[2]);
            break;
          case "nodelay":
            s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
            break;
          case "linger0":
            s.setsockopt(
              SOL_SOCKET,
              SO_LINGER,
              new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]),
            );
            break;
          case "send":
            r = await call(any.send(data(a[2]), a[3]));
            break;
          case "sendall":
            r = (await call(any.sendall(data(a[2])))) ?? null;
            break;
          case "recv": {
            const size = conv(a[2]) as number;
            const flags = a[3] as number;
            let b: Uint8Array = await call(s.recv(size, flags));
            let extra: Outcome | null = null;
            if (b.length > 0 && !(flags & (MSG_PEEK | MSG_WAITALL))) {
              const [more, e] = await call(topUp(s, size - b.length));
              b = concat(b, more);
              extra = e;
            }
            r = extra === null ? fmtBytes(b) : [fmtBytes(b), extra];
            break;
          }
          case "recv_into": {
            const buf = new Uint8Array(a[2]).fill(46);
            const nbytes = conv(a[3]) as number;
            const flags = a[4] as number;
            let n = await call(s.recv_into(buf, nbytes, flags));
            let extra: Outcome | null = null;
            const room = (nbytes || a[2]) - n;
            if (n > 0 && !(flags & (MSG_PEEK | MSG_WAITALL))) {
              const [more, e] = await call(topUp(s, room, buf.subarray(n)));
              n += more.length;
              extra = e;
            }
            r = extra === null ? [n, fmtBytes(buf)] : [n, fmtBytes(buf), extra];
            break;
          }
          case "settimeout":
            s.settimeout(conv(a[2]) as number | null);
            break;
          case "setblocking":
            s.setblocking(a[2]);
            break;
          case "mode":
            r = [s.gettimeout(), s.getblocking()];
            break;
          case "getsockname":
            r = fmtAddr(s.getsockname(), fam);
            break;
          case "getpeername":
            r = fmtAddr(s.getpeername(), fam);
            break;
          case "shutdown":
            s.shutdown(a[2]);
            break;
          case "close":
            s.close();
            break;
          case "settle":
            try {
              await call(select.select([s], [], [], a[2] / 1000));
            } catch (e) {
              if (e instanceof Error && HANG.test(e.message)) throw e;
            }
            break;
          case "fill": {
            let total = 0;
            r = "nofill";
            const chunks = [70, 71].map((x) => new Uint8Array(a[2]).fill(x));
            for (let i = 0; i < 4000; i++) {
              try {
                const chunk = chunks[fills++ % 2];
                total += await call(s.send(chunk, MSG_DONTWAIT));
              } catch (e) {
                if (e instanceof Error && HANG.test(e.message)) throw e;
                r = e instanceof Error ? e.name : String(e);
                break;
              }
            }
            sent.set(a[1], (sent.get(a[1]) ?? 0) + total);
            if (total === 0) r = [r, "none sent"];
            break;
          }
          case "drain": {
            const want = a.length > 3 ? sent.get(a[3]) ?? 0 : 0;
            if (a.length > 3) sent.delete(a[3]);
            let got = 0;
            const bad: number[] = [];
            r = "quiet";
            s.settimeout(a[2] / 1000);
            const until = performance.now() + DRAIN_LATEST_MS;
            for (let i = 0; i < 100000; i++) {
              let b: Uint8Array;
              try {
                b = await call(s.recv(1 << 20));
              } catch (e) {
                if (e instanceof TimeoutError) {
                  if (got < want && performance.now() < until) continue;
                  break;
                }
                if (!(e instanceof OSError)) throw e;
                r = e.name;
                break;
              }
              if (b.length === 0) {
                r = "eof";
                break;
              }
              got += b.length;
              for (const x of b) if (x !== 70 && x !== 71) bad.push(x);
            }
            r = [r, got >= want, fmtBytes(Uint8Array.from(bad))];
            break;
          }
          case "discard": {
            let n = 0;
            r = "would block";
            for (let i = 0; i < 100000; i++) {
              let b: Uint8Array;
              try {
                b = await call(s.recv(1 << 20, MSG_DONTWAIT));
              } catch (e) {
                if (e instanceof BlockingIOError) break;
                if (!(e instanceof OSError)) throw e;
                r = e.name;
                break;
              }
              if (b.length === 0) {
                r = "eof";
                break;
              }
              n += b.length;
            }
            r = [n, r];
            break;
          }
          default:
            throw new Error(`bad op ${JSON.stringify(op)}`);
        }
      }
    } catch (e) {
      r = e instanceof Error && HANG.test(e.message) ? "hang" : fmtExc(e);
    }
    if (KEEPS_NAME.has(k) && socks.has(op[1] as string)) {
      try {
        known.set(op[1] as string, socks.get(op[1] as string)!.getsockname());
      } catch {
        // Closed.
      }
    }
    out.push(r);
  }
  for (const s of socks.values()) s.close();
  return out;
}

/** python3's twin of {@linkcode runScript}: one script per line of JSON in, its outcomes out. */
export const STREAM_PY: string = Deno.readTextFileSync(
  new URL("./_stream.py", import.meta.url),
);

/**
 * Where `ours` and python3's `theirs` outcomes differ, one line each (none:
 * they agree). A TypeError's `'list'` is Python's `'tuple'` (a JavaScript
 * address is an array). Given `backendOf` (the script's placement), a peek
 * on a Deno-backend socket may be short: it gives what the read kept in
 * flight brought, the start of what python3's gives (README, Backends: a
 * `recv` after `select()` reported the socket readable).
 */
export function differences(
  ops: readonly Op[],
  theirs: readonly Outcome[],
  ours: readonly Outcome[],
  backendOf?: (name: string) => BackendName,
): string[] {
  // Each socket's backend: an accepted one is its listener's, a pair's
  // second end the first's.
  const on = new Map<string, BackendName>();
  if (backendOf !== undefined) {
    for (const op of ops) {
      const [k, n] = op as [string, string];
      if (k === "sock") on.set(n, backendOf(n));
      if (k === "pair") {
        on.set(n, backendOf(n));
        on.set(op[2] as string, backendOf(n));
      }
      if (k === "accept" && on.has(n)) on.set(op[2] as string, on.get(n)!);
    }
  }
  return compareOutcomes(ops, theirs, ours, (i) => {
    const op = ops[i];
    const [k, n] = op as [string, string];
    const flags = (k === "recv" ? op[3] : op[4]) as number;
    return (k === "recv" || k === "recv_into") && (flags & MSG_PEEK) !== 0 &&
      on.get(n) === "deno" && shortPeek(k, theirs[i], ours[i]);
  });
}

// Bytes as fmtBytes() wrote them, written out.
function unfmt(s: string): string {
  const m = /^(.)\*(\d+)$/s.exec(s);
  return m === null ? s : m[1].repeat(Number(m[2]));
}

// Whether `ours` is a short peek of what `theirs` peeked: some bytes, the
// first of python3's.
function shortPeek(k: string, theirs: Outcome, ours: Outcome): boolean {
  if (k === "recv") {
    if (typeof theirs !== "string" || typeof ours !== "string") return false;
    const [t, o] = [unfmt(theirs), unfmt(ours)];
    return o.length > 0 && o.length < t.length && t.startsWith(o);
  }
  if (!Array.isArray(theirs) || !Array.isArray(ours)) return false;
  if (theirs.length !== 2 || ours.length !== 2) return false;
  const [tn, tb] = theirs as [number, string];
  const [on, ob] = ours as [number, string];
  if (on <= 0 || on >= tn) return false;
  const [t, o] = [unfmt(tb), unfmt(ob)];
  return o.length === t.length &&
    o === t.slice(0, on) + ".".repeat(t.length - on);
}

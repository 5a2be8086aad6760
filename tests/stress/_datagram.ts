// A differential of datagram sockets: one small script of socket operations
// (a JSON list), run by an interpreter here on the chosen backends and by its
// twin in python3 (DATAGRAM_PY), each result written down the same way
// (bytes as text, a sender's port as the name of the socket that has it,
// an error as its class, errno and message) so that the two lists compare
// line by line. Played, in a process where no other thread spawns programs
// (see _isolated.ts), by tests/datagram_test.ts (fixed scripts) and
// tests/stress/datagram_stress.ts (seeded random ones; `deno task stress`
// runs its modules one at a time).
import {
  AF_INET,
  AF_UNIX,
  MSG_TRUNC,
  SOCK_DGRAM,
  type Socket,
  socket,
} from "../../mod.ts";
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

/**
 * Run `script` with each socket on `backendOf(its name)`; the outcome of
 * each operation, in order. Every call is bounded (a hang is "hang").
 */
export async function runScript(
  script: Script,
  backendOf: (name: string) => BackendName,
): Promise<Outcome[]> {
  const { dir } = script;
  const socks = new Map<string, Socket>();
  const dead = new Map<number, number>();
  const out: Outcome[] = [];
  const loopback = (f: number) => f === AF_INET ? "127.0.0.1" : "::1";
  const portOf = (n: string) =>
    (socks.get(n)!.getsockname() as [string, number])[1];

  const addr = (s: Socket, spec: readonly unknown[]): unknown => {
    const f = s.family;
    switch (spec[0]) {
      case "lo":
        if (f === AF_UNIX) return socks.get(spec[1] as string)!.getsockname();
        return [loopback(f), portOf(spec[1] as string)];
      case "lo0":
        return [loopback(f), 0];
      case "any0":
        return ["", 0];
      case "dead": {
        if (!dead.has(f)) {
          const t = socket(f, SOCK_DGRAM, 0, { backend: backendOf("dead") });
          t.bind([loopback(f), 0]);
          dead.set(f, (t.getsockname() as [string, number])[1]);
          t.close();
        }
        return [loopback(f), dead.get(f)];
      }
      case "any":
        return ["", portOf(spec[1] as string)];
      case "mappedany":
        return ["::ffff:0.0.0.0", portOf(spec[1] as string)];
      case "mapped":
        return ["::ffff:127.0.0.1", portOf(spec[1] as string)];
      case "v4":
        return ["127.0.0.1", portOf(spec[1] as string)];
      case "v6":
        return ["::1", portOf(spec[1] as string)];
      case "v6full":
        return ["::1", portOf(spec[1] as string), spec[2], spec[3]];
      case "path":
        return `${dir}/${spec[1]}`;
      case "raw":
        return conv(spec[1]);
    }
    throw new Error(`bad address spec ${JSON.stringify(spec)}`);
  };

  const { fmtAddr, fmtExc } = outcomeWriter(dir, socks, dead, false);

  // MSG_TRUNC: the bytes past `size` (the kernel's length, not its data)
  // as "#", then written as any bytes are.
  const truncMark = (b: Uint8Array, size: number, flags: number) => {
    if (!(flags & MSG_TRUNC) || b.length <= size) return fmtBytes(b);
    const marked = new Uint8Array(b.length).fill(35);
    marked.set(b.subarray(0, size));
    return fmtBytes(marked);
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
          socket(FAMILIES[op[2] as string], SOCK_DGRAM, 0, {
            backend: backendOf(n),
          }),
        );
      } else {
        const s = socks.get(op[1] as string)!;
        const fam = s.family;
        // deno-lint-ignore no-explicit-any
        const a = op as any[];
        const call = <T>(p: Promise<T>) =>
          withTimeout(p, 3000, `${JSON.stringify(op)}`);
        // deno-lint-ignore no-explicit-any
        const any = s as any;
        switch (k) {
          case "bind":
            r = s.bind(addr(s, a[2]) as never) ?? null;
            break;
          case "connect":
            r = (await call(s.connect(addr(s, a[2]) as never))) ?? null;
            break;
          case "connect_ex":
            r = await call(s.connect_ex(addr(s, a[2]) as never));
            break;
          case "sendto":
            r = await call(any.sendto(data(a[2]), addr(s, a[3])));
            break;
          case "sendto_f":
            r = await call(any.sendto(data(a[2]), conv(a[3]), addr(s, a[4])));
            break;
          case "send":
            r = await call(any.send(data(a[2]), a[3]));
            break;
          case "sendall":
            r = (await call(any.sendall(data(a[2])))) ?? null;
            break;
          case "recv": {
            const b = await call(s.recv(conv(a[2]) as number, a[3]));
            r = truncMark(b, a[2], a[3]);
            break;
          }
          case "recvfrom": {
            const [b, from] = await call(
              s.recvfrom(conv(a[2]) as number, a[3]),
            );
            r = [truncMark(b, a[2], a[3]), fmtAddr(from, fam)];
            break;
          }
          case "recv_into": {
            const buf = new Uint8Array(a[2]).fill(46);
            const n = await call(s.recv_into(buf, conv(a[3]) as number, a[4]));
            r = [n, fmtBytes(buf)];
            break;
          }
          case "recvfrom_into": {
            const buf = new Uint8Array(a[2]).fill(46);
            const [n, from] = await call(
              s.recvfrom_into(buf, conv(a[3]) as number, a[4]),
            );
            r = [n, fmtBytes(buf), fmtAddr(from, fam)];
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
          case "setsockopt":
            r = s.setsockopt(a[2], a[3], a[4]) ?? null;
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
          case "close_while_recv": {
            const waiting = s.recvfrom(10);
            waiting.catch(() => {});
            await sleep(a[2]);
            s.close();
            try {
              const [b, from] = await withTimeout(waiting, 3000);
              r = [fmtBytes(b), fmtAddr(from, fam)];
            } catch (e) {
              if (e instanceof Error && HANG.test(e.message)) {
                r = "hang";
              } else throw e;
            }
            break;
          }
          default:
            throw new Error(`bad op ${JSON.stringify(op)}`);
        }
      }
    } catch (e) {
      if (e instanceof Error && HANG.test(e.message)) throw e;
      r = fmtExc(e);
    }
    out.push(r);
  }
  for (const s of socks.values()) s.close();
  return out;
}

/** python3's twin of {@linkcode runScript}: one script per line of JSON in, its outcomes out. */
export const DATAGRAM_PY: string = Deno.readTextFileSync(
  new URL("./_datagram.py", import.meta.url),
);

/**
 * Where `ours` and python3's `theirs` outcomes differ, one line each (none:
 * they agree; see compareOutcomes).
 */
export function differences(
  ops: readonly Op[],
  theirs: readonly Outcome[],
  ours: readonly Outcome[],
): string[] {
  return compareOutcomes(ops, theirs, ours);
}

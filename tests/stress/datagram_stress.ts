// Datagrams, the differential run: seeded random scripts of datagram
// operations (see _datagram.ts), each run by python3 and by this module on
// every backend placement (UDP over IPv4 and IPv6; unix datagrams, which
// are libc's alone), compared outcome by outcome: sendto (both flag forms),
// send, sendall, recv / recvfrom / recv_into / recvfrom_into with sizes
// and nbytes below, at and above the datagram, MSG_PEEK, MSG_DONTWAIT
// (MSG_TRUNC on unix), empty, largest and too-big datagrams, connect() and
// its filtering (what was queued before it stays), bind() twice and after
// an autobind, bad addresses, shutdown() of every kind, close(), timeouts
// and non-blocking mode. This run found the Deno backend's connect()
// dropping what had come before it from other senders, and its sendto()
// leaving the socket unbound where it refused the address (Linux binds
// first); tests/datagram_test.ts has both.
// Not drawn, as the README's Backends table says: what makes an ICMP error
// (a connected socket whose peer is closed or unbound, so sends go to a
// dead port or port 0: the Deno backend never reports ECONNREFUSED, and
// refuses a send to port 0), MSG_TRUNC on UDP (OSError 95 on the Deno
// backend), and a non-blocking receive with no wait after a send (a
// datagram may need another turn of Deno's event loop): each script sleeps
// 3 ms, in both, before a receive that follows a send. The scripts' sockets
// always have a timeout (0, 20 or 50 ms), so nothing blocks for good.
// About 35 s (45 s at most). STREAMS_SEED replays a run's choices; with
// it, STREAMS_ROUND=n runs round n alone. DATAGRAM_ROUNDS sets the rounds.
import { hasPython, libcMissing, skipNote } from "../_helpers.ts";
import { pythonFed } from "../_python.ts";
import { DATAGRAM_PY, differences, runScript } from "./_datagram.ts";
import { type Op, PLACEMENTS } from "./_ops.ts";
import {
  count,
  Dice,
  roundsFrom,
  seededRounds,
  seedOf,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

const ROUNDS = roundsFrom("DATAGRAM_ROUNDS", 60);
const NAMES = ["a", "b", "c"];
const SEND = new Set(["sendto", "sendto_f", "send", "sendall"]);
const RECEIVE = new Set(["recv", "recvfrom", "recv_into", "recvfrom_into"]);

/**
 * One random script: three sockets of one family (`u`: unix datagrams).
 * Mixed families and IPv4-mapped peers are tests/datagram_test.ts's.
 */
export function script(dice: Dice): Op[] {
  const fam = dice.pick(["4", "4", "6", "6", "u"]);
  const unix = fam === "u";
  const ops: Op[] = [];
  // What the script knows: which sockets have a port (a bind, a send:
  // Linux binds a UDP socket that sends, even where the send fails), which
  // may be connected to which, which are closed.
  const bound = new Set<string>();
  const closed = new Set<string>();
  const connected = new Map<string, string>();
  let sent = false;
  const push = (op: Op) => {
    if (RECEIVE.has(op[0] as string) && sent) {
      ops.push(["sleep", 3]);
      sent = false;
    }
    if (SEND.has(op[0] as string)) sent = true;
    ops.push(op);
  };
  const bindTo = (n: string): unknown[] =>
    unix
      ? dice.chance(0.2) ? ["raw", ""] : ["path", dice.pick([n, n, "x"])]
      : [dice.pick(["lo0", "any0"])];
  for (const n of NAMES) {
    push(["sock", n, fam]);
    if (dice.chance(0.8)) {
      push(["bind", n, bindTo(n)]);
      bound.add(n);
    }
    push(["settimeout", n, dice.pick([0, 0.05])]);
  }
  // Unix datagrams stay small (or too big, EMSGSIZE): CPython waits for
  // poll()'s writable before a send with a timeout, which a unix datagram
  // socket is not once a quarter of its send buffer is unread, though the
  // send would go; the libc backend sends.
  const data = () =>
    `${dice.pick(["A", "B", "C"])}:${
      dice.pick(
        unix
          ? [0, 1, 3, 8, 100, 300, 300000]
          : [0, 1, 3, 8, 100, 2000, 65507, 65508, 65527, 65528],
      )
    }`;
  const peer = () => dice.pick(NAMES);
  const bad =
    () => ["raw", dice.pick([["127.0.0.1"], ["::1", 1, 2, 3, 4], "x", 7])];
  // Where a send goes: a socket, its own or another's; now and then an
  // address Python refuses, or port 0 (EINVAL) or a missing path.
  const where = (): unknown[] => {
    if (dice.chance(0.1)) {
      if (dice.chance(0.5)) return bad();
      return unix ? ["path", "nope"] : ["raw", ["", 0]];
    }
    return ["lo", peer()];
  };
  // A send from `n` to `to` (null: its peer), unless it would make an
  // ICMP error: from a connected socket toward one connected to another
  // (Linux finds no socket for the datagram, and the sender hears
  // ECONNREFUSED; the Deno backend's filter drops it in silence). Where the
  // address reaches the kernel (Python refuses the bad ones first, the
  // script a closed socket's name), the send gives `n` a port.
  const send = (n: string, op: Op, to: unknown[] | null) => {
    const dest = to === null ? connected.get(n) : to[0] === "lo" ? to[1] : null;
    const other = connected.get(dest as string);
    if (!unix && connected.has(n) && other !== undefined && other !== n) {
      return;
    }
    push(op);
    if (unix || closed.has(n)) return;
    if (
      to === null || (to[0] === "lo" && !closed.has(to[1] as string)) ||
      JSON.stringify(to) === '["raw",["",0]]'
    ) bound.add(n);
  };
  const steps = 10 + dice.int(30);
  for (let i = 0; i < steps; i++) {
    const n = peer();
    const size = dice.pick([0, 1, 2, 5, 100, 70000]);
    const flags = dice.pick([0, 0, 0, 2, 64, 66, ...(unix ? [32, 34] : [])]);
    switch (dice.int(14)) {
      case 0:
      case 1: {
        const to = where();
        send(n, ["sendto", n, data(), to], to);
        break;
      }
      case 2: {
        const to = where();
        send(n, ["sendto_f", n, data(), dice.pick([0, 64]), to], to);
        break;
      }
      case 3:
        send(n, [dice.pick(["send", "sendall"]), n, data(), 0], null);
        break;
      case 4:
      case 5:
        push(["recvfrom", n, size, flags]);
        break;
      case 6:
        push(["recv", n, size, flags]);
        break;
      case 7: {
        const buf = dice.pick([0, 1, 4, 100]);
        push([
          dice.pick(["recv_into", "recvfrom_into"]),
          n,
          buf,
          dice.pick([0, 0, 1, buf, buf + 1, -1]),
          flags,
        ]);
        break;
      }
      case 8: {
        // Toward a socket with a port (one without is port 0, whose sends
        // Linux answers with an ICMP error the Deno backend never hears), by
        // its address or the wildcard's (Linux's loopback), or a bad one.
        const p = peer();
        if (dice.chance(0.1)) {
          push([dice.pick(["connect", "connect_ex"]), n, bad()]);
        } else if (unix || (bound.has(p) && !closed.has(p))) {
          const to = !unix && dice.chance(0.2) ? "any" : "lo";
          push([dice.pick(["connect", "connect_ex"]), n, [to, p]]);
          if (!closed.has(n)) {
            connected.set(n, p);
            bound.add(n);
          }
        }
        break;
      }
      case 9:
        push(["shutdown", n, dice.int(3)]);
        break;
      case 10:
        push(["settimeout", n, dice.pick([0, 0.02])]);
        push(["mode", n]);
        break;
      case 11:
        push([dice.pick(["getsockname", "getpeername"]), n]);
        break;
      case 12:
        push(["bind", n, bindTo(n)]);
        bound.add(n);
        break;
      case 13:
        // Not one another socket may be connected to: its sends would meet
        // a closed port (ICMP).
        if (
          dice.chance(0.2) &&
          (unix || ![...connected.values()].includes(n))
        ) {
          push(["close", n]);
          closed.add(n);
        }
        break;
    }
  }
  return ops;
}

const reason = !hasPython ? "no python3" : libcMissing;
Deno.test({
  name: skipNote(
    "datagrams: seeded random scripts, every placement, as python3's",
    reason,
  ),
  ignore: reason !== null,
  async fn() {
    const tally: Tally = {};
    const dir = Deno.makeTempDirSync({ prefix: "pysock-dgram-" });
    // Unix paths a script bound: gone before the next run of it.
    const clear = () => {
      for (const e of Deno.readDirSync(dir)) {
        Deno.removeSync(`${dir}/${e.name}`);
      }
    };
    await using py = pythonFed(DATAGRAM_PY);
    try {
      await seededRounds({
        what: "datagrams",
        rounds: ROUNDS,
        boundMs: 45_000,
        tally,
        round: async (r) => {
          const ops = script(new Dice(seedOf(STREAMS_SEED, r, 0)));
          const unix = ops[0][2] === "u";
          clear();
          await py.send({ dir, ops });
          const theirs = JSON.parse(await py.line()) as unknown[];
          const found: string[] = [];
          for (const [placement, backendOf] of Object.entries(PLACEMENTS)) {
            // Unix datagrams are libc's on either backend's request.
            if (unix && placement !== "libc") continue;
            clear();
            const ours = await runScript({ dir, ops }, backendOf);
            found.push(
              ...differences(ops, theirs, ours).map((d) =>
                `${placement}: ${d}`
              ),
            );
          }
          count(tally, unix ? "unix" : ops[0][2] === "6" ? "udp6" : "udp4");
          for (const op of ops) count(tally, op[0] as string);
          if (found.length > 0) {
            throw new Error(
              `${found.length} differences:\n${found.slice(0, 8).join("\n")}`,
            );
          }
        },
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

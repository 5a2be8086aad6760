// UDP socket options on the Deno backend, the long run: a seeded fuzzer of
// setsockopt()/getsockopt() sequences (SO_BROADCAST, SO_RCVBUF, SO_SNDBUF,
// IP_TTL, IP_MULTICAST_TTL / _LOOP / _IF, IP_ADD_MEMBERSHIP /
// IP_DROP_MEMBERSHIP as struct in_addr, ip_mreq, ip_mreqn and cut-short
// bytes, IPv6's IPV6_MULTICAST_LOOP / _IF, IPV6_JOIN_GROUP / _LEAVE_GROUP)
// with bind() anywhere in them, against python3 doing the same, inside a
// network namespace made for the run (a veth pair with a multicast route),
// so the machine's own network never sees a membership. node:dgram runs
// every sequence; Deno.listenDatagram (--unstable-net) the ones that set
// everything before bind(), as it takes options only then (README). A call
// that raises the OSError naming the libc backend ends its sequence's
// comparison (a documented limit, not a difference). This run found the
// interface checks Linux makes at setsockopt() (IP_MULTICAST_IF's address,
// a membership's interface address or index) deferred to the bind() after,
// which then failed, and IP_DROP_MEMBERSHIP checking its group as a join
// does (the test "setsockopt() before bind() ..." in multicast_test.ts).
// About 45 s. STREAMS_SEED replays a run; STREAMS_ROUND=n runs round n
// alone; UDP_OPTIONS_ROUNDS scales the rounds.
import assert from "node:assert/strict";
import * as S from "../../mod.ts";
import { hasPython, skipNote } from "../_helpers.ts";
import { multicastNs, type NetNs, netnsMissing, script } from "../_netns.ts";
import {
  count,
  Dice,
  roundsFrom,
  seededRounds,
  seedOf,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

/** A value as JSON carries it: an int, or bytes as `{ b: [...] }`. */
type Value = number | { b: number[] };
/** One step: bind, set (then the harness reads it back), or get. */
type Step =
  | ["bind", string]
  | ["set", number, number, Value]
  | ["get", number, number, number | null];
type Case = [family: number, steps: Step[]];

const PY = `
import json, socket, sys
out = []
for family, steps in json.loads(sys.stdin.read()):
    s = socket.socket(family, socket.SOCK_DGRAM)
    row = []
    for st in steps:
        try:
            if st[0] == "bind":
                s.bind((st[1], 0)); row.append(["ok"])
            elif st[0] == "set":
                v = bytes(st[3]["b"]) if isinstance(st[3], dict) else st[3]
                s.setsockopt(st[1], st[2], v); row.append(["ok"])
            else:
                r = s.getsockopt(st[1], st[2]) if st[3] is None else s.getsockopt(st[1], st[2], st[3])
                row.append(["ok", list(r) if isinstance(r, bytes) else r])
        except OSError as e:
            row.append(["err", e.errno])
        except (ValueError, TypeError, OverflowError) as e:
            row.append([type(e).__name__])
    out.append(row)
    s.close()
print(json.dumps(out))
`;

const CHILD = `
const cases = JSON.parse(await new Response(Deno.stdin.readable).text());
const out = [];
for (const [family, steps] of cases) {
  using s = S.socket(family, S.SOCK_DGRAM, 0, { backend: "deno" });
  const row = [];
  for (const st of steps) {
    try {
      if (st[0] === "bind") {
        s.bind([st[1], 0]);
        row.push(["ok"]);
      } else if (st[0] === "set") {
        const v = st[3];
        s.setsockopt(st[1], st[2], typeof v === "number" ? v : new Uint8Array(v.b));
        // A membership Deno.listenDatagram joins in the background reports
        // a failure on the next call.
        await new Promise((r) => setTimeout(r, 0));
        row.push(["ok"]);
      } else {
        const r = st[3] === null
          ? s.getsockopt(st[1], st[2])
          : s.getsockopt(st[1], st[2], st[3]);
        row.push(["ok", r instanceof Uint8Array ? [...r] : r]);
      }
    } catch (e) {
      if (e instanceof S.OSError) {
        row.push(/backend: "libc"|unstable-net/.test(e.message) ? ["LIBC"] : ["err", e.errno]);
      } else row.push([e.constructor.name]);
    }
  }
  out.push(row);
}
console.log(JSON.stringify(out));
`;

const G4 = ["239.1.2.3", "224.0.0.1", "239.1.2.4", "10.99.0.1", "0.0.0.0"];
const IF4 = ["10.99.0.1", "127.0.0.1", "127.0.0.2", "0.0.0.0", "192.0.2.1"];
const G6 = ["ff05::1:3", "ff02::1", "ff05::1:4", "fd00:99::1", "::"];
const INDEXES = [0, 1, 2, 3, 99];
const INTS = [-1, 0, 1, 2, 7, 255, 256, 1024, 65536, 2 ** 31 - 1, -(2 ** 31)];

const le32 = (
  n: number,
) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24];
const v4 = (a: string) => [...S.inet_aton(a)];
const v6 = (a: string) => [...S.inet_pton(S.AF_INET6, a)];

function bytes4(d: Dice): number[] {
  const mreqn = () => [...v4(d.pick(G4)), ...v4(d.pick(IF4)), ...le32(0)];
  switch (d.int(7)) {
    case 0:
      return v4(d.pick(IF4));
    case 1:
      return [...v4(d.pick(G4)), ...v4(d.pick(IF4))];
    case 2:
      return mreqn();
    case 3:
      return [...mreqn(), 0, 0, 0, 0].slice(0, d.int(18));
    case 4:
      return Array.from({ length: d.int(6) }, () => d.int(3));
    case 5:
      return [...v4(d.pick(G4)), ...le32(0), ...le32(d.pick(INDEXES))];
    default:
      return le32(d.pick([0, 1, 2, 255, 256]));
  }
}

function bytes6(d: Dice): number[] {
  const mreq = () => [...v6(d.pick(G6)), ...le32(d.pick(INDEXES))];
  switch (d.int(4)) {
    case 0:
      return mreq();
    case 1:
      return mreq().slice(0, d.int(24));
    case 2:
      return le32(d.pick(INDEXES));
    default:
      return Array.from({ length: d.int(6) }, () => d.int(3));
  }
}

// [level, option, kind of value]: "i" an int, "4" / "6" struct bytes.
const OPTIONS4: [number, number, string][] = [
  [S.SOL_SOCKET, S.SO_BROADCAST, "i"],
  [S.SOL_SOCKET, S.SO_RCVBUF, "i"],
  [S.SOL_SOCKET, S.SO_SNDBUF, "i"],
  [S.IPPROTO_IP, S.IP_TTL, "i"],
  [S.IPPROTO_IP, S.IP_MULTICAST_TTL, "i"],
  [S.IPPROTO_IP, S.IP_MULTICAST_LOOP, "i"],
  [S.IPPROTO_IP, S.IP_MULTICAST_IF, "4"],
  [S.IPPROTO_IP, S.IP_ADD_MEMBERSHIP, "4"],
  [S.IPPROTO_IP, S.IP_DROP_MEMBERSHIP, "4"],
];
const OPTIONS6: [number, number, string][] = [
  [S.SOL_SOCKET, S.SO_BROADCAST, "i"],
  [S.SOL_SOCKET, S.SO_SNDBUF, "i"],
  [S.IPPROTO_IPV6, S.IPV6_MULTICAST_LOOP, "i"],
  [S.IPPROTO_IPV6, S.IPV6_MULTICAST_IF, "6"],
  [S.IPPROTO_IPV6, S.IPV6_JOIN_GROUP, "6"],
  [S.IPPROTO_IPV6, S.IPV6_LEAVE_GROUP, "6"],
  [S.IPPROTO_IP, S.IP_TTL, "i"],
];

/** A sequence; with `bindLast`, everything is set before bind(). */
function sequence(d: Dice, bindLast: boolean): Case {
  const six = d.chance(0.4);
  const steps: Step[] = [];
  const n = 1 + d.int(8);
  const bindAt = bindLast ? n : d.int(n + 2);
  const host = () =>
    six ? d.pick(["::", "::1"]) : d.pick(["0.0.0.0", "127.0.0.1", "10.99.0.1"]);
  for (let i = 0; i < n; i++) {
    if (i === bindAt) steps.push(["bind", host()]);
    const [level, option, kind] = d.pick(six ? OPTIONS6 : OPTIONS4);
    if (d.chance(0.3)) {
      steps.push(["get", level, option, d.pick([null, null, 0, 1, 4, 8, 20])]);
      continue;
    }
    const value: Value = kind === "i" && d.chance(0.8) ? d.pick(INTS) : {
      b: kind === "6"
        ? bytes6(d)
        : kind === "4"
        ? bytes4(d)
        : Array.from({ length: d.int(6) }, () => d.int(256)),
    };
    steps.push(["set", level, option, value]);
    steps.push(["get", level, option, null]);
  }
  if (bindLast) steps.push(["bind", host()]);
  return [six ? S.AF_INET6 : S.AF_INET, steps];
}

/** `cmd` in `ns` with `input` on its stdin; its stdout as JSON. */
async function runIn(
  ns: NetNs,
  cmd: string[],
  input: string,
): Promise<unknown> {
  const dir = Deno.makeTempDirSync({ prefix: "pysock-udpopt-" });
  try {
    const file = `${dir}/in.json`;
    Deno.writeTextFileSync(file, input);
    const out = await ns.exec(["sh", "-c", '"$@" < "$0"', file, ...cmd]);
    assert.equal(out.code, 0, out.stderr);
    return JSON.parse(out.stdout);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Where `ours` and `python` first differ, short of a libc-only step. */
function compare(
  cases: Case[],
  ours: unknown[][][],
  python: unknown[][][],
  tally: Tally,
  side: string,
): void {
  cases.forEach(([family, steps], i) => {
    for (let j = 0; j < ours[i].length; j++) {
      if (ours[i][j][0] === "LIBC") {
        count(tally, `${side} libc-only`);
        return;
      }
      const step = steps[j];
      count(tally, `${side} ${step[0]}`);
      assert.deepEqual(
        ours[i][j],
        python[i][j],
        `${side}, family ${family}, step ${j} of ${JSON.stringify(steps)}`,
      );
    }
  });
}

const skip = netnsMissing ?? (hasPython ? null : "no python3");

Deno.test({
  name: skipNote(
    "UDP options on the Deno backend: seeded sequences of setsockopt()/getsockopt() and bind() read back as python3's, on node:dgram and Deno.listenDatagram",
    skip,
  ),
  ignore: skip !== null,
  async fn() {
    using ns = multicastNs();
    using child = script(CHILD);
    const tally: Tally = {};
    const deno = (flags: string[]) => [
      Deno.execPath(),
      "run",
      "--allow-all",
      ...flags,
      child.path,
    ];
    await seededRounds({
      what: "UDP options",
      rounds: roundsFrom("UDP_OPTIONS_ROUNDS", 24),
      boundMs: 120_000,
      tally,
      round: async (n) => {
        const d = new Dice(seedOf(STREAMS_SEED, n, 0));
        const anywhere = Array.from({ length: 25 }, () => sequence(d, false));
        const before = Array.from({ length: 15 }, () => sequence(d, true));
        const python = await runIn(
          ns,
          ["python3", "-c", PY],
          JSON.stringify([...anywhere, ...before]),
        ) as unknown[][][];
        const node = await runIn(
          ns,
          deno([]),
          JSON.stringify(anywhere),
        ) as unknown[][][];
        compare(anywhere, node, python, tally, "node:dgram");
        const unstable = await runIn(
          ns,
          deno(["--unstable-net"]),
          JSON.stringify(before),
        ) as unknown[][][];
        compare(
          before,
          unstable,
          python.slice(anywhere.length),
          tally,
          "listenDatagram",
        );
      },
    });
  },
});

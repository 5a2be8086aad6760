// UDP socket options and multicast on the Deno backend (no FFI needed),
// compared with CPython: options read back as Linux reports them, and
// multicast datagrams that really arrive, both ways with a python3 peer,
// inside a network namespace made for the test (a veth pair with a
// multicast route), so the machine's own network is never touched.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  errno,
  inet_aton,
  inet_pton,
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_JOIN_GROUP,
  IPV6_LEAVE_GROUP,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  OSError,
  SO_BROADCAST,
  SO_RCVBUF,
  SO_SNDBUF,
  SOCK_DGRAM,
  socket,
  SOL_SOCKET,
} from "../mod.ts";
import { hasPython, raisesSync, skipNote, withTimeout } from "./_helpers.ts";
import { pythonJson } from "./_python.ts";

/** python3 with JSON in and out, bounded in time. */
function py(code: string, input: unknown): Promise<unknown> {
  return withTimeout(pythonJson(code, input), 20_000, "python3");
}
import { multicastNs, type NetNs, netnsMissing, script } from "./_netns.ts";

// ------------------------------------------------------------------------
// One option sequence, run by python3 and by this module alike.

/** A value as JSON carries it: an int, or bytes as `{ b: [...] }`. */
type Value = number | { b: number[] };
/** `[family, [level, option, value][]]`: set each, read back each. */
type Case = [family: number, steps: [number, number, Value][]];

const PY_OPTIONS = `
import json, socket, sys, time
cases = json.load(sys.stdin)
out = []
for family, steps in cases:
    s = socket.socket(family, socket.SOCK_DGRAM)
    if len(steps) and steps[0][0] == -1:
        s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        steps = steps[1:]
    row = []
    for level, option, value in steps:
        v = bytes(value["b"]) if isinstance(value, dict) else value
        try:
            s.setsockopt(level, option, v)
            row.append(["ok", s.getsockopt(level, option)])
        except OSError as e:
            row.append(["err", e.errno])
    out.append(row)
    s.close()
print(json.dumps(out))
`;

/** Run `cases` on sockets of `backend`; each row as python's above. */
async function runCases(cases: Case[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const [family, all] of cases) {
    using s = socket(family, SOCK_DGRAM);
    let steps = all;
    if (steps.length > 0 && steps[0][0] === -1) {
      s.bind([family === AF_INET6 ? "::" : "0.0.0.0", 0]);
      steps = steps.slice(1);
    }
    const row: unknown[] = [];
    for (const [level, option, value] of steps) {
      const v = typeof value === "number" ? value : new Uint8Array(value.b);
      try {
        s.setsockopt(level, option, v);
        // A membership Deno.listenDatagram joins in the background reports
        // a failure on the next call.
        await new Promise((r) => setTimeout(r, 0));
        row.push(["ok", s.getsockopt(level, option)]);
      } catch (e) {
        if (!(e instanceof OSError)) throw e;
        row.push(["err", e.errno]);
      }
    }
    out.push(row);
  }
  return out;
}

const b = (bytes: Uint8Array | number[]): Value => ({ b: [...bytes] });
const BIND: [number, number, Value] = [-1, 0, 0];

// Values below every machine's rmem_max, so the doubled read-back does not
// depend on the host's sysctls.
const OPTION_CASES: Case[] = [
  [AF_INET, [[SOL_SOCKET, SO_RCVBUF, 0], [SOL_SOCKET, SO_RCVBUF, 100000]]],
  [AF_INET, [[SOL_SOCKET, SO_SNDBUF, 1], [SOL_SOCKET, SO_SNDBUF, 65536]]],
  [AF_INET, [[SOL_SOCKET, SO_RCVBUF, b([1])]]],
  [AF_INET, [[SOL_SOCKET, SO_BROADCAST, 5], [SOL_SOCKET, SO_BROADCAST, 0]]],
  [AF_INET, [[IPPROTO_IP, IP_TTL, 0], [IPPROTO_IP, IP_TTL, -1]]],
  [AF_INET, [[IPPROTO_IP, IP_TTL, 255], [IPPROTO_IP, IP_TTL, 256]]],
  [AF_INET, [[IPPROTO_IP, IP_TTL, b([5])], [IPPROTO_IP, IP_TTL, -2]]],
  // IP_MULTICAST_TTL 0: see the test after this one.
  [AF_INET, [
    [IPPROTO_IP, IP_MULTICAST_TTL, 1],
    [IPPROTO_IP, IP_MULTICAST_TTL, -1],
    [IPPROTO_IP, IP_MULTICAST_TTL, 256],
    [IPPROTO_IP, IP_MULTICAST_TTL, b([7])],
    [IPPROTO_IP, IP_MULTICAST_TTL, b([])],
  ]],
  [AF_INET, [
    [IPPROTO_IP, IP_MULTICAST_LOOP, 0],
    [IPPROTO_IP, IP_MULTICAST_LOOP, 5],
    [IPPROTO_IP, IP_MULTICAST_LOOP, b([0])],
  ]],
  [AF_INET, [
    [IPPROTO_IP, IP_MULTICAST_IF, 0],
    [IPPROTO_IP, IP_MULTICAST_IF, b([1])],
    // A struct ip_mreq (8 to 11 bytes): the interface is imr_interface,
    // after the group.
    [IPPROTO_IP, IP_MULTICAST_IF, b([...inet_aton("127.0.0.1"), 0, 0, 0, 0])],
  ]],
  // An interface address is checked by the kernel: after bind() here,
  // since the Deno backend has a socket to ask only from then on.
  [AF_INET, [
    BIND,
    [IPPROTO_IP, IP_MULTICAST_IF, b(inet_aton("127.0.0.1"))],
    [IPPROTO_IP, IP_MULTICAST_IF, b(inet_aton("192.0.2.1"))],
    [IPPROTO_IP, IP_MULTICAST_IF, mreq("239.1.1.1", "127.0.0.1")],
    [IPPROTO_IP, IP_MULTICAST_IF, b([...inet_aton("127.0.0.1"), 0, 0, 0])],
    [IPPROTO_IP, IP_MULTICAST_IF, mreq("239.1.1.1", "192.0.2.1")],
    [IPPROTO_IP, IP_MULTICAST_TTL, 3],
    [IPPROTO_IP, IP_MULTICAST_LOOP, 0],
    [IPPROTO_IP, IP_TTL, 9],
  ]],
  [AF_INET6, [
    [IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0],
    [IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 2],
    [IPPROTO_IPV6, IPV6_MULTICAST_IF, 0],
  ]],
  [AF_INET6, [
    BIND,
    [IPPROTO_IPV6, IPV6_MULTICAST_IF, 1],
    [IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0],
  ]],
];

Deno.test({
  name: skipNote(
    "setsockopt()/getsockopt(): UDP options on the Deno backend read back as CPython's",
    !hasPython ? "no python3" : "listenDatagram" in Deno
      // README, Backends: Deno.listenDatagram takes these only before bind().
      ? "node:dgram's case; under --unstable-net UDP runs on Deno.listenDatagram"
      : null,
  ),
  ignore: !hasPython || "listenDatagram" in Deno,
  async fn() {
    const expected = await py(PY_OPTIONS, OPTION_CASES);
    assert.deepEqual(await runCases(OPTION_CASES), expected);
  },
});

Deno.test("setsockopt(IP_MULTICAST_TTL, 0) on the Deno backend is OSError 92 naming libc at once (Deno's node:dgram refuses 0, which failed the bind() after), and the socket goes on working", async () => {
  for (const bindFirst of [false, true]) {
    using s = socket(AF_INET, SOCK_DGRAM, 0, { backend: "deno" });
    if (bindFirst) s.bind(["127.0.0.1", 0]);
    assert.throws(
      () => s.setsockopt(IPPROTO_IP, IP_MULTICAST_TTL, 0),
      (e) =>
        e instanceof OSError && e.errno === 92 &&
        /backend: "libc"/.test(e.message),
    );
    assert.equal(s.getsockopt(IPPROTO_IP, IP_MULTICAST_TTL), 1);
    if (!bindFirst) s.bind(["127.0.0.1", 0]);
    await withTimeout(s.sendto(new Uint8Array([1]), s.getsockname()));
    assert.deepEqual(await withTimeout(s.recv(10)), new Uint8Array([1]));
  }
});

Deno.test("getsockopt(): the kernel's defaults before any setsockopt(), on the Deno backend", () => {
  using s = socket(AF_INET, SOCK_DGRAM, 0, { backend: "deno" });
  assert.equal(s.getsockopt(IPPROTO_IP, IP_MULTICAST_TTL), 1);
  assert.equal(s.getsockopt(IPPROTO_IP, IP_MULTICAST_LOOP), 1);
  assert.equal(s.getsockopt(IPPROTO_IP, IP_MULTICAST_IF), 0);
  assert.equal(s.getsockopt(IPPROTO_IP, IP_TTL), 64);
  assert.ok(s.getsockopt(SOL_SOCKET, SO_RCVBUF) > 0);
  using s6 = socket(AF_INET6, SOCK_DGRAM, 0, { backend: "deno" });
  assert.equal(s6.getsockopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 1);
  assert.equal(s6.getsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF), 0);
});

Deno.test("setsockopt(): what Deno's stack cannot do stays an OSError naming libc", () => {
  const libcHint = /backend: "libc"/;
  using s6 = socket(AF_INET6, SOCK_DGRAM, 0, { backend: "deno" });
  // Deno's node:dgram ignores the IPv6 hop limit.
  raisesSync(
    () => s6.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 2),
    OSError,
    { errno: errno.ENOPROTOOPT, message: libcHint },
  );
  // An ip_mreqn naming the interface by index (node:dgram takes addresses).
  using s = socket(AF_INET, SOCK_DGRAM, 0, { backend: "deno" });
  const mreqn = new Uint8Array(12);
  mreqn.set(inet_aton("239.1.1.1"));
  mreqn[8] = 1;
  raisesSync(
    () => s.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn),
    OSError,
    { errno: errno.ENOPROTOOPT, message: libcHint },
  );
  // A membership is not an option one reads, as on Linux.
  raisesSync(() => s.getsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP), OSError, {
    errno: errno.ENOPROTOOPT,
  });
});

// ------------------------------------------------------------------------
// Multicast for real, in a namespace of its own.

const skip = netnsMissing ?? (hasPython ? null : "no python3");
const GROUP4 = "239.255.42.99";
// Site-local: routed by the namespace's IPv6 default (index 0 works).
const GROUP6 = "ff05::1:3";

// Sender: sends to the group until a receiver acknowledges by unicast.
// Receiver: joins, takes one datagram, acknowledges it, prints it.
const PY_SEND = `
import socket, sys
v6 = sys.argv[1] == "6"
group, port = sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
if not v6:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.settimeout(0.1)
for i in range(100):
    s.sendto(b"from python", (group, port))
    try:
        print(s.recvfrom(100)[0].decode())
        break
    except TimeoutError:
        pass
`;
const PY_RECEIVE = `
import socket, struct, sys
v6 = sys.argv[1] == "6"
group, port, index = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("", port))
if v6:
    mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
    r.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
else:
    mreq = struct.pack("4sl", socket.inet_aton(group), socket.INADDR_ANY)
    r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
r.settimeout(10)
data, addr = r.recvfrom(100)
r.sendto(b"ack: " + data, addr)
print(data.decode())
`;
const DENO_SEND = `
const [family, group, port, backend, ttl] = Deno.args;
const v6 = family === "6";
using s = S.socket(v6 ? S.AF_INET6 : S.AF_INET, S.SOCK_DGRAM, 0, { backend });
if (ttl === "ttl") s.setsockopt(S.IPPROTO_IP, S.IP_MULTICAST_TTL, 1);
s.settimeout(0.1);
for (let i = 0; i < 100; i++) {
  await s.sendto(new TextEncoder().encode("from deno"), [group, Number(port)]);
  try {
    console.log(new TextDecoder().decode((await s.recvfrom(100))[0]));
    break;
  } catch (e) {
    if (!(e instanceof S.TimeoutError)) throw e;
  }
}
`;
const DENO_RECEIVE = `
const [family, group, port, backend, index] = Deno.args;
const v6 = family === "6";
using r = S.socket(v6 ? S.AF_INET6 : S.AF_INET, S.SOCK_DGRAM, 0, { backend });
r.bind(["", Number(port)]);
if (v6) {
  const mreq = new Uint8Array(20);
  mreq.set(S.inet_pton(S.AF_INET6, group));
  new DataView(mreq.buffer).setUint32(16, Number(index), true);
  r.setsockopt(S.IPPROTO_IPV6, S.IPV6_JOIN_GROUP, mreq);
} else {
  // struct.pack("4sl", inet_aton(group), INADDR_ANY): 16 bytes on LP64.
  const mreq = new Uint8Array(16);
  mreq.set(S.inet_aton(group));
  r.setsockopt(S.IPPROTO_IP, S.IP_ADD_MEMBERSHIP, mreq);
}
r.settimeout(10);
const [data, from] = await r.recvfrom(100);
await r.sendto(new TextEncoder().encode("ack: " + new TextDecoder().decode(data)), from);
console.log(new TextDecoder().decode(data));
`;

/** How a Deno child runs: its flags and the backend its sockets use. */
interface Side {
  label: string;
  flags: string[];
  backend: "deno" | "libc";
}
const NODE: Side = { label: "node:dgram", flags: [], backend: "deno" };
const UNSTABLE: Side = {
  label: "Deno.listenDatagram",
  flags: ["--unstable-net"],
  backend: "deno",
};
const LIBC: Side = { label: "libc", flags: ["--allow-ffi"], backend: "libc" };

async function both(
  ns: NetNs,
  receiver: string[],
  sender: string[],
): Promise<[string, string]> {
  const [r, s] = await Promise.all([ns.exec(receiver), ns.exec(sender)]);
  assert.equal(r.code, 0, `receiver failed: ${r.stderr}`);
  assert.equal(s.code, 0, `sender failed: ${s.stderr}`);
  return [r.stdout.trim(), s.stdout.trim()];
}

function deno(side: Side, path: string, ...args: (string | number)[]) {
  return [
    Deno.execPath(),
    "run",
    "--allow-net",
    ...side.flags,
    path,
    ...args.map(String),
  ];
}

Deno.test({
  name: skipNote(
    "examples/multicast.ts: sender and receiver with --allow-net only, on node:dgram and on Deno.listenDatagram",
    netnsMissing,
  ),
  ignore: netnsMissing !== null,
  async fn() {
    using ns = multicastNs();
    const example = new URL("../examples/multicast.ts", import.meta.url)
      .pathname;
    for (const flags of [[], ["--unstable-net"]]) {
      const out = await ns.exec([
        Deno.execPath(),
        "run",
        "--allow-net",
        ...flags,
        example,
      ]);
      assert.equal(out.code, 0, out.stdout + out.stderr);
      for (let i = 1; i <= 3; i++) {
        assert.match(
          out.stdout,
          new RegExp(`receiver: message ${i} of 3 \\(from 10\\.99\\.0\\.1:`),
        );
      }
    }
  },
});

for (const family of ["4", "6"] as const) {
  const group = family === "4" ? GROUP4 : GROUP6;
  for (const side of [NODE, UNSTABLE, LIBC]) {
    Deno.test({
      name: skipNote(
        `multicast IPv${family}: CPython sends, this module receives (${side.label})`,
        skip,
      ),
      ignore: skip !== null,
      async fn() {
        using ns = multicastNs();
        using child = script(DENO_RECEIVE);
        const port = 40000 + Math.floor(Math.random() * 20000);
        const [got, ack] = await both(
          ns,
          deno(side, child.path, family, group, port, side.backend, 0),
          ["python3", "-c", PY_SEND, family, group, String(port)],
        );
        assert.equal(got, "from python");
        assert.equal(ack, "ack: from python");
      },
    });
    Deno.test({
      name: skipNote(
        `multicast IPv${family}: this module sends (${side.label}), CPython receives`,
        skip,
      ),
      ignore: skip !== null,
      async fn() {
        using ns = multicastNs();
        using child = script(DENO_SEND);
        const port = 40000 + Math.floor(Math.random() * 20000);
        // With no option set, a Deno.listenDatagram sender still loops
        // back to local members, as Linux's default IP_MULTICAST_LOOP does.
        const ttl = family === "4" && side !== UNSTABLE ? "ttl" : "none";
        const [got, ack] = await both(
          ns,
          ["python3", "-c", PY_RECEIVE, family, group, String(port), "0"],
          deno(side, child.path, family, group, port, side.backend, ttl),
        );
        assert.equal(got, "from deno");
        assert.equal(ack, "ack: from deno");
      },
    });
  }
}

Deno.test({
  name: skipNote(
    "multicast IPv6: IPV6_JOIN_GROUP with an interface index (named for node:dgram through libc; Deno.listenDatagram takes it as is)",
    skip,
  ),
  ignore: skip !== null,
  async fn() {
    using ns = multicastNs();
    using child = script(DENO_RECEIVE);
    const index = (await ns.exec(["cat", "/sys/class/net/mc0/ifindex"]))
      .stdout.trim();
    for (const side of [{ ...NODE, flags: ["--allow-ffi"] }, UNSTABLE]) {
      const port = 40000 + Math.floor(Math.random() * 20000);
      const [got] = await both(
        ns,
        deno(side, child.path, "6", "ff02::1:3", port, "deno", index),
        ["python3", "-c", PY_SEND, "6", `ff02::1:3%mc0`, String(port)],
      );
      assert.equal(got, "from python", side.label);
    }
  },
});

// The kernel's answers to memberships, on each path, against CPython's.
const MEMBERSHIP_RUNNER = `
const cases = JSON.parse(Deno.args[0]);
const out = [];
for (const [family, steps] of cases) {
  using s = S.socket(family, S.SOCK_DGRAM, 0, { backend: Deno.args[1] });
  s.bind([family === S.AF_INET6 ? "::" : "0.0.0.0", 0]);
  const row = [];
  for (const [level, option, value] of steps.slice(1)) {
    const v = typeof value === "number" ? value : new Uint8Array(value.b);
    try {
      s.setsockopt(level, option, v);
      await new Promise((r) => setTimeout(r, 20));
      s.getsockopt(S.SOL_SOCKET, S.SO_TYPE);
      row.push(["ok"]);
    } catch (e) {
      row.push(["err", e.errno]);
    }
  }
  out.push(row);
}
console.log(JSON.stringify(out));
`;
const PY_MEMBERSHIP = `
import json, socket, sys
out = []
for family, steps in json.loads(sys.argv[1]):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    row = []
    for level, option, value in steps[1:]:
        v = bytes(value["b"]) if isinstance(value, dict) else value
        try:
            s.setsockopt(level, option, v)
            row.append(["ok"])
        except OSError as e:
            row.append(["err", e.errno])
    out.append(row)
print(json.dumps(out))
`;

function mreq(group: string, iface: string): Value {
  return b([...inet_aton(group), ...inet_aton(iface)]);
}

function mreq6(group: string, index: number): Value {
  const out = new Uint8Array(20);
  out.set(inet_pton(AF_INET6, group));
  new DataView(out.buffer).setUint32(16, index, true);
  return b(out);
}

const MEMBERSHIP_CASES: Case[] = [
  [AF_INET, [
    BIND,
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP4, "0.0.0.0")],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP4, "0.0.0.0")],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq("239.1.1.2", "10.99.0.1")],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq("239.1.1.3", "192.0.2.7")],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq("10.1.2.3", "0.0.0.0")],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, b(inet_aton(GROUP4))],
    [IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq("239.1.1.9", "0.0.0.0")],
    [IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq(GROUP4, "0.0.0.0")],
    [IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq(GROUP4, "0.0.0.0")],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP4, "0.0.0.0")],
  ]],
  [AF_INET6, [
    BIND,
    [IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP6, 0)],
    [IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP6, 0)],
    [IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6("fd00::1", 0)],
    [IPPROTO_IPV6, IPV6_JOIN_GROUP, b(inet_pton(AF_INET6, GROUP6))],
    [IPPROTO_IPV6, IPV6_LEAVE_GROUP, mreq6("ff05::9", 0)],
    [IPPROTO_IPV6, IPV6_LEAVE_GROUP, mreq6(GROUP6, 0)],
  ]],
];

Deno.test({
  name: skipNote(
    "setsockopt(): joining and leaving groups fails as in CPython (EADDRINUSE, EADDRNOTAVAIL, ENODEV, EINVAL), on node:dgram and Deno.listenDatagram",
    skip,
  ),
  ignore: skip !== null,
  async fn() {
    using ns = multicastNs();
    using child = script(MEMBERSHIP_RUNNER);
    const cases = JSON.stringify(MEMBERSHIP_CASES);
    const py = await ns.exec(["python3", "-c", PY_MEMBERSHIP, cases]);
    assert.equal(py.code, 0, py.stderr);
    const expected = JSON.parse(py.stdout);
    for (const side of [NODE, UNSTABLE, LIBC]) {
      const out = await ns.exec(
        deno(side, child.path, cases, side.backend),
      );
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(JSON.parse(out.stdout), expected, side.label);
    }
  },
});

// Before bind() the Deno backend has no socket for the kernel to check an
// interface with: what Linux refuses at once must fail at setsockopt() all
// the same, not at the bind() after (node:dgram) or the next call
// (Deno.listenDatagram), and leaving a group checks no group address.
const PREBIND_RUNNER = `
const cases = JSON.parse(Deno.args[0]);
const out = [];
const attempt = async (row, f) => {
  try {
    await f();
    await new Promise((r) => setTimeout(r, 20));
    s.getsockopt(S.SOL_SOCKET, S.SO_TYPE);
    row.push(["ok"]);
  } catch (e) {
    row.push(["err", e.errno]);
  }
};
let s;
for (const [family, before, after] of cases) {
  s = S.socket(family, S.SOCK_DGRAM, 0, { backend: Deno.args[1] });
  const row = [];
  const set = ([level, option, value]) => () =>
    s.setsockopt(level, option, new Uint8Array(value.b));
  for (const step of before) await attempt(row, set(step));
  await attempt(row, () => s.bind([family === S.AF_INET6 ? "::" : "0.0.0.0", 0]));
  for (const step of after) await attempt(row, set(step));
  out.push(row);
  s.close();
}
console.log(JSON.stringify(out));
`;
const PY_PREBIND = `
import json, socket, sys
out = []
for family, before, after in json.loads(sys.argv[1]):
    s = socket.socket(family, socket.SOCK_DGRAM)
    row = []
    def attempt(f):
        try:
            f()
            row.append(["ok"])
        except OSError as e:
            row.append(["err", e.errno])
    for level, option, value in before:
        attempt(lambda: s.setsockopt(level, option, bytes(value["b"])))
    attempt(lambda: s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0)))
    for level, option, value in after:
        attempt(lambda: s.setsockopt(level, option, bytes(value["b"])))
    out.append(row)
    s.close()
print(json.dumps(out))
`;
type Steps = [number, number, Value][];
const PREBIND_CASES: [number, Steps, Steps][] = [
  [AF_INET, [[IPPROTO_IP, IP_MULTICAST_IF, b(inet_aton("192.0.2.1"))]], []],
  [AF_INET, [[IPPROTO_IP, IP_MULTICAST_IF, mreq("239.1.1.1", "192.0.2.1")]], [
    [IPPROTO_IP, IP_MULTICAST_IF, mreq("239.1.1.1", "192.0.2.1")],
  ]],
  // The namespace's broadcast address is no interface's; 127.0.0.2 is lo's.
  [AF_INET, [[IPPROTO_IP, IP_MULTICAST_IF, b(inet_aton("10.99.0.255"))]], []],
  [AF_INET, [[IPPROTO_IP, IP_MULTICAST_IF, b(inet_aton("127.0.0.2"))]], []],
  [AF_INET, [[IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP4, "192.0.2.7")]], []],
  // No interface has 10.98.0.5, but a local route covers it (AnyIP, made
  // below): Linux's ip_dev_find() finds lo for it, as for 127.0.0.2.
  [AF_INET, [
    [IPPROTO_IP, IP_MULTICAST_IF, b(inet_aton("10.98.0.5"))],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP4, "10.98.0.5")],
  ], [[IPPROTO_IP, IP_MULTICAST_IF, mreq(GROUP4, "10.98.0.5")]]],
  [AF_INET, [
    [IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq("10.99.0.7", "0.0.0.0")],
    [IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq("10.1.2.3", "10.99.0.1")],
    [IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq("10.1.2.3", "10.99.0.1")],
  ], [
    [IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq("10.99.0.7", "0.0.0.0")],
    [IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq("0.0.0.0", "10.99.0.1")],
  ]],
  [AF_INET6, [
    [IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP6, 99999)],
    [IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP6, 2 ** 31)],
    [IPPROTO_IPV6, IPV6_LEAVE_GROUP, mreq6("fd00::1", 0)],
  ], [[IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP6, 99999)]]],
];

Deno.test({
  name: skipNote(
    "setsockopt() before bind(): an interface no one has fails at once as in CPython (EADDRNOTAVAIL, ENODEV) and bind() then works; leaving checks no group, on node:dgram and Deno.listenDatagram",
    skip,
  ),
  ignore: skip !== null,
  async fn() {
    using ns = multicastNs();
    ns.ip("route", "add", "local", "10.98.0.0/24", "dev", "lo");
    using child = script(PREBIND_RUNNER);
    const cases = JSON.stringify(PREBIND_CASES);
    const py = await ns.exec(["python3", "-c", PY_PREBIND, cases]);
    assert.equal(py.code, 0, py.stderr);
    const expected = JSON.parse(py.stdout);
    for (const side of [NODE, UNSTABLE, LIBC]) {
      // With what looks the interfaces up: --allow-sys, and /sys (which
      // Deno reads only for --allow-all) or libc.
      const out = await ns.exec([
        Deno.execPath(),
        "run",
        "--allow-all",
        ...side.flags.filter((f) => f !== "--allow-ffi"),
        child.path,
        cases,
        side.backend,
      ]);
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(JSON.parse(out.stdout), expected, side.label);
    }
  },
});

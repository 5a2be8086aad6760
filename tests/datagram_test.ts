// Datagram sockets against python3, operation by operation: fixed scripts
// (see tests/stress/_datagram.ts; tests/stress/datagram_stress.ts runs
// seeded random ones) on every backend placement, UDP over IPv4 and IPv6,
// and unix datagrams on libc.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  BrokenPipeError,
  SHUT_RD,
  SOCK_DGRAM,
  socketpair,
  TimeoutError,
} from "../mod.ts";
import {
  BACKENDS,
  bytes,
  hasPython,
  libcCase,
  libcMissing,
  onBackend,
  sock,
  withTimeout,
} from "./_helpers.ts";
import { pythonFed } from "./_python.ts";
import { skipNote } from "./_helpers.ts";
import { DATAGRAM_PY, differences } from "./stress/_datagram.ts";
import { runIsolated } from "./stress/_isolated.ts";
import { type Op, PLACEMENTS } from "./stress/_ops.ts";

const SCRIPTS: Record<string, { ops: Op[]; libcOnly?: boolean }> = {
  "truncation, empty datagrams, recv_into's nbytes, MSG_PEEK, EMSGSIZE": {
    ops: [
      ["sock", "a", "4"],
      ["bind", "a", ["lo0"]],
      ["sock", "b", "4"],
      ["settimeout", "a", 0.5],
      ["sendto", "b", "A:5", ["lo", "a"]],
      ["recvfrom", "a", 3, 0],
      ["sendto", "b", "B:0", ["lo", "a"]],
      ["recvfrom", "a", 3, 0],
      ["sendto", "b", "C:6", ["lo", "a"]],
      ["recv_into", "a", 4, 0, 0],
      ["sendto", "b", "D:6", ["lo", "a"]],
      ["recvfrom_into", "a", 10, 3, 0],
      ["sendto", "b", "E:6", ["lo", "a"]],
      ["recv", "a", 3, 2],
      ["recv", "a", 10, 0],
      ["sendto", "b", "F:6", ["lo", "a"]],
      ["recv", "a", 0, 0],
      ["recvfrom", "a", 0, 0],
      ["setblocking", "a", false],
      ["recvfrom", "a", 10, 0],
      ["recv_into", "a", 2, 5, 0],
      ["recvfrom_into", "a", 2, 5, 0],
      ["recv", "a", -1, 0],
      ["getpeername", "a"],
      ["bind", "a", ["lo0"]],
      ["sendto", "b", "A:1", ["lo0"]],
      ["sendto", "b", "A:65508", ["lo", "a"]],
      ["sendto", "b", "A:65507", ["lo", "a"]],
      ["recv", "a", 70000, 0],
      ["send", "b", "A:1", 0],
      ["sendto_f", "b", "G:2", 0, ["lo", "a"]],
      ["recvfrom", "a", 10, 64],
      ["mode", "a"],
    ],
  },
  "IPv6: 4-tuples, flowinfo, IPv4-mapped peers and the source named": {
    ops: [
      ["sock", "a", "6"],
      ["bind", "a", ["any0"]],
      ["sock", "b", "4"],
      ["bind", "b", ["lo0"]],
      ["settimeout", "a", 0.5],
      ["settimeout", "b", 0.5],
      ["sendto", "b", "A:5", ["v4", "a"]],
      ["recvfrom", "a", 10, 0],
      ["sendto", "a", "B:2", ["mapped", "b"]],
      ["recvfrom", "b", 10, 0],
      ["connect", "a", ["mapped", "b"]],
      ["getpeername", "a"],
      ["getsockname", "a"],
      ["sock", "c", "6"],
      ["connect", "c", ["mapped", "b"]],
      ["getsockname", "c"],
      ["sock", "d", "6"],
      ["sendto", "d", "C:1", ["v6full", "a", 5, 0]],
      ["sendto", "d", "C:1", ["raw", ["::1", 1, 4294967296]]],
      ["getsockname", "d"],
    ],
  },
  "connect() filters other senders; shutdown() of a connected UDP socket": {
    ops: [
      ["sock", "a", "4"],
      ["bind", "a", ["lo0"]],
      ["sock", "b", "4"],
      ["bind", "b", ["lo0"]],
      ["sock", "c", "4"],
      ["bind", "c", ["lo0"]],
      ["settimeout", "a", 0.3],
      ["connect", "a", ["lo", "b"]],
      ["sendto", "c", "C:3", ["lo", "a"]],
      ["sendto", "b", "B:3", ["lo", "a"]],
      ["recvfrom", "a", 10, 0],
      ["settimeout", "a", 0.05],
      ["recvfrom", "a", 10, 0],
      ["sendto", "b", "Q:1", ["lo", "a"]],
      ["shutdown", "a", 0],
      ["recvfrom", "a", 10, 0],
      ["recvfrom", "a", 10, 0],
      ["setblocking", "a", false],
      ["recv", "a", 10, 0],
      ["sendto", "b", "R:2", ["lo", "a"]],
      ["recv", "a", 10, 0],
      ["send", "a", "A:3", 0],
      ["shutdown", "a", 1],
      ["send", "a", "A:3", 0],
      ["sendto", "a", "A:3", ["lo", "c"]],
      ["sendall", "a", "A:3"],
      ["sendto", "a", "A:65508", ["lo", "c"]],
      ["shutdown", "c", 1],
      ["sendto", "c", "A:3", ["lo", "b"]],
      ["send", "c", "A:3", 0],
      ["getpeername", "a"],
    ],
  },
  "IPv4-mapped routes of IPv6-only and mapped sockets; a peer of port 0": {
    ops: [
      ["sock", "v4", "4"],
      ["bind", "v4", ["lo0"]],
      ["sock", "v6", "6"],
      ["bind", "v6", ["lo0"]],
      // Bound to ::1: IPv6-only, no route to IPv4.
      ["sock", "a", "6"],
      ["bind", "a", ["lo0"]],
      ["sendto", "a", "A:1", ["mapped", "v4"]],
      ["connect", "a", ["mapped", "v4"]],
      ["sendto", "a", "A:1", ["v6", "v6"]],
      // Bound to a mapped address: IPv4 only.
      ["sock", "m", "6"],
      ["bind", "m", ["raw", ["::ffff:127.0.0.1", 0]]],
      ["sendto", "m", "M:1", ["v6", "v6"]],
      ["connect", "m", ["v6", "v6"]],
      ["sendto", "m", "M:2", ["mapped", "v4"]],
      ["settimeout", "v4", 0.3],
      ["recvfrom", "v4", 10, 0],
      // Bound to the wildcard: both.
      ["sock", "w", "6"],
      ["bind", "w", ["any0"]],
      ["sendto", "w", "W:1", ["mapped", "v4"]],
      ["recvfrom", "v4", 10, 0],
      // Connected to port 0: no peer to name.
      ["sock", "z", "4"],
      ["connect", "z", ["raw", ["127.0.0.1", 0]]],
      ["getpeername", "z"],
    ],
  },
  // Found by tests/stress/datagram_stress.ts.
  "connect() filters what comes after it: datagrams queued before stay": {
    ops: [
      ["sock", "a", "4"],
      ["bind", "a", ["lo0"]],
      ["sock", "b", "4"],
      ["bind", "b", ["lo0"]],
      ["sock", "c", "4"],
      ["bind", "c", ["lo0"]],
      ["settimeout", "a", 0.3],
      ["sendto", "c", "C:1", ["lo", "a"]],
      ["sendto", "b", "B:2", ["lo", "a"]],
      ["sendto", "a", "A:3", ["lo", "a"]],
      ["sleep", 5],
      ["connect", "a", ["lo", "b"]],
      ["sendto", "c", "C:4", ["lo", "a"]],
      ["recvfrom", "a", 10, 2],
      ["recvfrom", "a", 10, 0],
      ["recvfrom", "a", 10, 0],
      ["recv", "a", 10, 0],
      ["settimeout", "a", 0.05],
      ["recvfrom", "a", 10, 0],
      ["sendto", "b", "B:5", ["lo", "a"]],
      ["recvfrom", "a", 10, 0],
    ],
  },
  "a send refused binds the socket first (Linux's autobind)": {
    ops: [
      ["sock", "a", "4"],
      ["sendto", "a", "A:1", ["raw", ["127.0.0.1", 0]]],
      ["getsockname", "a"],
      ["bind", "a", ["lo0"]],
      ["sock", "b", "6"],
      ["sendto", "b", "B:65528", ["raw", ["::1", 9]]],
      ["getsockname", "b"],
      ["sock", "c", "4"],
      ["shutdown", "c", 1],
      ["sendto", "c", "C:1", ["raw", ["127.0.0.1", 9]]],
      ["getsockname", "c"],
    ],
  },
  "a closed socket: its timeout still set, a bad address TypeError": {
    ops: [
      ["sock", "a", "6"],
      ["close", "a"],
      ["settimeout", "a", 0.02],
      ["mode", "a"],
      ["setblocking", "a", false],
      ["mode", "a"],
      ["connect", "a", ["raw", 7]],
      ["connect", "a", ["raw", ["::1", 9]]],
      ["sendto", "a", "A:1", ["raw", "x"]],
      ["sendto_f", "a", "A:1", 0, ["raw", ["::1"]]],
      ["sendto", "a", "A:1", ["raw", ["::1", 9]]],
    ],
  },
  "connect() to the wildcard is to loopback, to broadcast needs SO_BROADCAST; sent to port 0":
    {
      ops: [
        ["sock", "a", "4"],
        ["bind", "a", ["lo0"]],
        ["sock", "b", "4"],
        ["settimeout", "a", 0.5],
        ["settimeout", "b", 0.5],
        ["connect", "b", ["any", "a"]],
        ["getpeername", "b"],
        ["getsockname", "b"],
        ["send", "b", "B:2", 0],
        ["recvfrom", "a", 10, 0],
        ["sendto", "a", "A:3", ["lo", "b"]],
        ["recvfrom", "b", 10, 0],
        ["sock", "c", "6"],
        ["bind", "c", ["lo0"]],
        ["sock", "d", "6"],
        ["settimeout", "c", 0.5],
        ["settimeout", "d", 0.5],
        ["connect", "d", ["any", "c"]],
        ["getpeername", "d"],
        ["send", "d", "D:1", 0],
        ["recvfrom", "c", 10, 0],
        ["sendto", "c", "C:2", ["lo", "d"]],
        ["recvfrom", "d", 10, 0],
        ["sock", "m", "6"],
        ["settimeout", "m", 0.5],
        ["connect", "m", ["mappedany", "a"]],
        ["getpeername", "m"],
        ["getsockname", "m"],
        ["send", "m", "M:1", 0],
        ["recvfrom", "a", 10, 0],
        ["sendto", "a", "A:2", ["lo", "m"]],
        ["recvfrom", "m", 10, 0],
        ["sock", "z", "4"],
        ["connect", "z", ["raw", ["<broadcast>", 9]]],
        ["getsockname", "z"],
        ["getpeername", "z"],
        ["setsockopt", "z", 1, 6, 1],
        ["connect", "z", ["raw", ["<broadcast>", 9]]],
        ["getpeername", "z"],
        ["sock", "y", "6"],
        ["connect", "y", ["raw", ["::ffff:255.255.255.255", 9]]],
        ["sendto", "y", "Y:1", ["raw", ["::ffff:255.255.255.255", 9]]],
        ["sock", "p", "4"],
        ["connect", "p", ["raw", ["127.0.0.1", 0]]],
        ["send", "p", "P:1", 0],
        ["sendto", "p", "P:3", ["raw", ["127.0.0.1", 0]]],
        ["sock", "q", "6"],
        ["connect", "q", ["raw", ["::1", 0]]],
        ["send", "q", "Q:1", 0],
      ],
    },
  "sendto(): Python's None as the address (flags form) and as the flags": {
    ops: [
      ["sock", "b", "4"],
      ["sendto_f", "b", "A:1", 0, ["raw", null]],
      ["sendto_f", "b", "A:1", null, ["raw", null]],
      ["sendto", "b", "A:1", ["raw", null]],
      ["sock", "c", "6"],
      ["sendto_f", "c", "A:1", 0, ["raw", null]],
    ],
  },
  "unix datagrams": {
    libcOnly: true,
    ops: [
      ["sock", "a", "u"],
      ["bind", "a", ["path", "a"]],
      ["sock", "b", "u"],
      ["settimeout", "a", 0.3],
      ["getsockname", "b"],
      ["sendto", "b", "A:5", ["lo", "a"]],
      ["recvfrom", "a", 3, 0],
      ["sendto", "b", "B:0", ["lo", "a"]],
      ["recvfrom", "a", 3, 0],
      ["bind", "b", ["raw", ""]],
      ["getsockname", "b"],
      ["sendto", "b", "C:4", ["lo", "a"]],
      ["recvfrom_into", "a", 10, 2, 0],
      ["connect", "b", ["lo", "a"]],
      ["send", "b", "E:2", 0],
      ["recvfrom", "a", 10, 0],
      ["sendto", "b", "E:2", ["path", "nope"]],
      ["sendto", "b", "A:300000", ["lo", "a"]],
      ["shutdown", "b", 1],
      ["send", "b", "A:1", 0],
      ["close", "a"],
      ["sendto", "b", "A:1", ["path", "a"]],
    ],
  },
};

for (const [name, { ops, libcOnly }] of Object.entries(SCRIPTS)) {
  const reason = !hasPython ? "no python3" : libcMissing;
  Deno.test({
    name: skipNote(`datagrams as python3's: ${name}`, reason),
    ignore: reason !== null,
    async fn() {
      const dir = Deno.makeTempDirSync({ prefix: "pysock-dgram-" });
      try {
        await using py = pythonFed(DATAGRAM_PY);
        await py.send({ dir, ops });
        const theirs = JSON.parse(await py.line()) as unknown[];
        // One placement after another, each in a directory of its own.
        const where = Object.keys(PLACEMENTS).filter((w) =>
          !libcOnly || w === "libc"
        );
        const ours = await runIsolated(
          "datagram",
          where.map((placement, i) => {
            Deno.mkdirSync(`${dir}/${i}`);
            return { script: { dir: `${dir}/${i}`, ops }, placement };
          }),
          { together: false },
        );
        const found = where.flatMap((placement, i) =>
          differences(ops, theirs, ours[i]).map((d) => `${placement}: ${d}`)
        );
        assert.deepEqual(found, []);
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    },
  });
}

// Linux's UDP after shutdown(SHUT_RD): datagrams still come; a blocking
// receive that finds none returns (b'', None) at once, as python3's, and
// one already waiting is woken so. (The libc backend's blocking receive is a
// non-blocking one that waits for readiness, and such a socket reads ready
// with nothing: the wake-up must end it, not wait again.)
for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "UDP shut down for reading: a blocking receive finds nothing at once, and wakes",
    ),
    async () => {
      using a = sock(backend, AF_INET, SOCK_DGRAM);
      using b = sock(backend, AF_INET, SOCK_DGRAM);
      a.bind(["127.0.0.1", 0]);
      b.bind(["127.0.0.1", 0]);
      await a.connect(b.getsockname());
      await b.sendto(bytes("q"), a.getsockname());
      // Woken: a receive waiting when another task shuts reading down.
      const waiting = a.recvfrom(10);
      assert.deepEqual(await withTimeout(waiting), [
        bytes("q"),
        b.getsockname(),
      ]);
      // Deno.listenDatagram's receive (--unstable-net) reads into the
      // caller's buffer and cannot be ended (README, Backends).
      if (backend === "libc" || !("listenDatagram" in Deno)) {
        const woken = a.recv(10);
        await new Promise((r) => setTimeout(r, 20));
        a.shutdown(SHUT_RD);
        assert.deepEqual(await withTimeout(woken), new Uint8Array(0));
      } else a.shutdown(SHUT_RD);
      assert.deepEqual(await withTimeout(a.recvfrom(10)), [
        new Uint8Array(0),
        null,
      ]);
      const buf = new Uint8Array(4);
      assert.equal(await withTimeout(a.recv_into(buf)), 0);
      assert.deepEqual(await withTimeout(a.recvfrom_into(buf)), [0, null]);
      if (backend === "libc") {
        assert.deepEqual(await withTimeout(a.recvmsg(10)), [
          new Uint8Array(0),
          [],
          0,
          null,
        ]);
      }
      // Datagrams still come; with a timeout, nothing is TimeoutError.
      await b.sendto(bytes("r"), a.getsockname());
      assert.deepEqual(await withTimeout(a.recv(10)), bytes("r"));
      a.settimeout(0.05);
      await assert.rejects(a.recv(10), TimeoutError);
    },
  );
}

Deno.test(
  libcCase(
    "unix datagram shut down for reading: a blocking recv() finds nothing at once",
  ),
  async () => {
    const [a, b] = await socketpair(AF_UNIX, SOCK_DGRAM, 0, {
      backend: "libc",
    });
    using _a = a;
    using _b = b;
    await b.send(bytes("s"));
    a.shutdown(SHUT_RD);
    assert.deepEqual(await withTimeout(a.recv(10)), bytes("s"));
    assert.deepEqual(await withTimeout(a.recv(10)), new Uint8Array(0));
    // Linux refuses to queue more for it.
    await assert.rejects(b.send(bytes("t")), BrokenPipeError);
  },
);

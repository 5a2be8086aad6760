// Datagram sockets against python3, operation by operation: fixed scripts
// (see tests/stress/_datagram.ts; tests/stress/datagram_stress.ts runs
// seeded random ones) on every backend placement, UDP over IPv4 and IPv6,
// and unix datagrams on libc.
import assert from "node:assert/strict";
import { AF_INET, SHUT_RD, SOCK_DGRAM } from "../mod.ts";
import {
  bytes,
  hasPython,
  libcMissing,
  onBackend,
  sock,
  withTimeout,
} from "./_helpers.ts";
import { pythonFed } from "./_python.ts";
import { skipNote } from "./_helpers.ts";
import {
  DATAGRAM_PY,
  differences,
  type Op,
  PLACEMENTS,
  runScript,
} from "./stress/_datagram.ts";

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
        const found: string[] = [];
        for (const [placement, backendOf] of Object.entries(PLACEMENTS)) {
          if (libcOnly && placement !== "libc") continue;
          for (const e of Deno.readDirSync(dir)) {
            Deno.removeSync(`${dir}/${e.name}`);
          }
          const ours = await runScript({ dir, ops }, backendOf);
          found.push(
            ...differences(ops, theirs, ours).map((d) => `${placement}: ${d}`),
          );
        }
        assert.deepEqual(found, []);
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    },
  });
}

// Linux's UDP after shutdown(SHUT_RD): datagrams still come; a blocking
// receive that finds none returns (b'', None) at once, as python3's. (The
// libc backend still waits there: a blocking receive is a non-blocking one
// that waits for readiness, and the socket reads ready with nothing.)
Deno.test(
  onBackend(
    "deno",
    "UDP shut down for reading: a blocking recvfrom() finds nothing at once",
  ),
  async () => {
    using a = sock("deno", AF_INET, SOCK_DGRAM);
    using b = sock("deno", AF_INET, SOCK_DGRAM);
    a.bind(["127.0.0.1", 0]);
    b.bind(["127.0.0.1", 0]);
    await a.connect(b.getsockname());
    await b.sendto(bytes("q"), a.getsockname());
    a.shutdown(SHUT_RD);
    const [d, from] = await withTimeout(a.recvfrom(10));
    assert.deepEqual([d, from], [bytes("q"), b.getsockname()]);
    assert.deepEqual(await withTimeout(a.recvfrom(10)), [
      new Uint8Array(0),
      null,
    ]);
  },
);

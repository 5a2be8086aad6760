// Stream sockets against python3, operation by operation: fixed scripts
// (see tests/stress/_stream.ts) on every backend placement, over TCP on IPv4
// and IPv6 and over unix streams: binding and listening in every state,
// connecting (refused, twice, after close), the receive flags, timeouts and
// blocking modes, shutdown() of each side then sends and receives, names in
// each state, use after close, a reset, and full buffers.
import assert from "node:assert/strict";
import { hasPython, skipNote } from "./_helpers.ts";
import { pythonFed } from "./_python.ts";
import { differences, STREAM_PY } from "./stress/_stream.ts";
import { runIsolated } from "./stress/_isolated.ts";
import { type Op, PLACEMENTS } from "./stress/_ops.ts";

type Fam = "4" | "6" | "u";

/** Bind `n` where family `f` binds a server: loopback port 0, or a path. */
const here = (
  f: Fam,
  n: string,
): Op => ["bind", n, f === "u" ? ["path", n] : ["lo0"]];

/** A listener `l`, a client `a` connected to it, `c` the accepted end. */
const connected = (f: Fam): Op[] => [
  ["sock", "l", f],
  here(f, "l"),
  ["listen", "l", 5],
  ["sock", "a", f],
  ["settimeout", "a", 0.2],
  ["connect", "a", ["lo", "l"]],
  ["settimeout", "l", 1],
  ["accept", "l", "c"],
  ["settimeout", "c", 0.2],
];

interface Case {
  ops: (f: Fam) => Op[];
  families?: readonly Fam[];
  /** The placements it runs on, where not all (see PLACEMENTS). */
  placements?: readonly string[];
}

const SCRIPTS: Record<string, Case> = {
  "binding and listening in every state; accept() on a socket not listening": {
    ops: (f) => [
      ["sock", "l", f],
      ["getsockname", "l"],
      ["getpeername", "l"],
      ["settimeout", "l", 0.2],
      ["accept", "l", "x"],
      here(f, "l"),
      ["getsockname", "l"],
      ["bind", "l", f === "u" ? ["path", "other"] : ["lo0"]],
      ["accept", "l", "x"],
      ["listen", "l", 0],
      ["listen", "l", 3],
      ["getsockname", "l"],
      ["getpeername", "l"],
      ["accept", "l", "x"],
      ["setblocking", "l", false],
      ["accept", "l", "x"],
      ["shutdown", "l", 2],
      ["shutdown", "l", 7],
      ["close", "l"],
      ["listen", "l", 1],
      ["bind", "l", ["lo0"]],
      ["accept", "l", "x"],
      ["getsockname", "l"],
      ["close", "l"],
    ],
  },
  "connect: refused, twice, to a listener, after close; names in each state": {
    ops: (f) => [
      ["sock", "a", f],
      ["settimeout", "a", 1],
      ["connect", "a", ["dead"]],
      ["connect_ex", "a", ["dead"]],
      ["getpeername", "a"],
      ["sock", "l", f],
      here(f, "l"),
      ["listen", "l"],
      ["connect", "a", ["lo", "l"]],
      ["connect", "a", ["lo", "l"]],
      ["connect_ex", "a", ["lo", "l"]],
      // (Linux looks a unix path up first: ENOENT; Deno's unix socket
      // says EISCONN. Not compared.)
      ...(f === "u" ? [] : [["connect_ex", "a", ["dead"]]]),
      ["getpeername", "a"],
      ["settimeout", "l", 1],
      ["accept", "l", "c"],
      ["getpeername", "c"],
      ["getsockname", "c"],
      // Non-blocking: Linux has connected by the next call on loopback
      // (and a unix socket within the first).
      ["sock", "b", f],
      ["setblocking", "b", false],
      ["connect_ex", "b", ["lo", "l"]],
      ["connect_ex", "b", ["lo", "l"]],
      ["getpeername", "b"],
      ["connect_ex", "b", ["lo", "l"]],
      ["sock", "e", f],
      ["setblocking", "e", false],
      ["connect_ex", "e", ["lo", "l"]],
      ["settimeout", "e", 0.5],
      ["connect", "e", ["lo", "l"]],
      ["connect", "e", ["lo", "l"]],
      ["close", "a"],
      ["connect", "a", ["lo", "l"]],
      ["connect_ex", "a", ["lo", "l"]],
      ["getsockname", "a"],
      ["getpeername", "a"],
      ["send", "a", "A:1", 0],
      ["recv", "a", 1, 0],
      ["shutdown", "a", 0],
      ["close", "a"],
    ],
  },
  "recv, recv_into and send with MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, sizes 0":
    {
      ops: (f) => [
        ...connected(f),
        ["recv", "c", 10, 64],
        ["send", "a", "H:5", 0],
        ["settle", "c", 500],
        ["recv", "c", 3, 2],
        ["recv", "c", 10, 2],
        ["recv", "c", 0, 0],
        ["recv_into", "c", 10, 0, 0],
        ["recv_into", "c", 4, 2, 2],
        ["recv", "c", 2, 256],
        ["recv", "c", 10, 0],
        ["recv", "c", 10, 64],
        ["recv_into", "c", 4, 0, 64],
        ["send", "a", "B:0", 0],
        ["sendall", "a", "C:3"],
        ["settle", "c", 500],
        ["recv_into", "c", 2, 5, 0],
        ["recv_into", "c", 8, 0, 0],
        ["send", "a", "D:4", 64],
        ["settle", "c", 500],
        ["recv", "c", -1, 0],
        ["recv_into", "c", 2, -1, 0],
        ["recv_into", "c", 4, 0, 0],
        ["settimeout", "c", 0.2],
        ["recv", "c", 10, 256],
        ["send", "a", "E:3", 0],
        ["settle", "c", 500],
        ["recv", "c", 10, 256],
        ["send", "a", "F:3", 0],
        ["shutdown", "a", 1],
        ["settle", "c", 500],
        ["recv", "c", 10, 256],
        ["recv", "c", 10, 256],
      ],
    },
  "timeouts and blocking modes: BlockingIOError, TimeoutError, transitions": {
    ops: (f) => [
      ...connected(f),
      ["mode", "c"],
      ["setblocking", "c", false],
      ["mode", "c"],
      ["recv", "c", 10, 0],
      ["recv_into", "c", 10, 0, 0],
      ["settimeout", "c", 0.1],
      ["mode", "c"],
      ["recv", "c", 10, 0],
      ["recv_into", "c", 10, 0, 0],
      ["setblocking", "c", true],
      ["mode", "c"],
      ["settimeout", "c", 0],
      ["mode", "c"],
      ["recv", "c", 10, 0],
      ["settimeout", "c", null],
      ["mode", "c"],
      ["settimeout", "c", -1],
      ["settimeout", "c", "x"],
      ["setblocking", "c", 0],
      ["mode", "c"],
      ["settimeout", "c", { float: 0.05 }],
      ["mode", "c"],
      ["send", "a", "Z:2", 0],
      ["recv", "c", 10, 0],
      ["recv", "c", 10, 0],
      ["setblocking", "l", false],
      ["accept", "l", "x"],
      ["settimeout", "l", 0.05],
      ["accept", "l", "x"],
      ["sock", "b", f],
      ["connect", "b", ["lo", "l"]],
      ["accept", "l", "d"],
      ["mode", "d"],
    ],
  },
  "shutdown() of each side, in each direction, then sends and receives": {
    ops: (f) => [
      ...connected(f),
      ["shutdown", "a", 1],
      ["send", "a", "A:1", 0],
      ["sendall", "a", "A:1"],
      ["settle", "c", 500],
      ["recv", "c", 10, 0],
      ["recv", "c", 10, 0],
      ["send", "c", "C:3", 0],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["shutdown", "a", 1],
      ["getpeername", "a"],
      ["getpeername", "c"],
      ["shutdown", "c", 0],
      ["recv", "c", 10, 0],
      ["send", "c", "D:2", 0],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["shutdown", "c", 2],
      ["send", "c", "D:2", 0],
      ["recv", "c", 10, 0],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["shutdown", "c", 2],
      ["close", "c"],
      ["shutdown", "c", 2],
      ["recv", "c", 10, 0],
      ["send", "c", "D:2", 0],
      ["getsockname", "c"],
      ["getpeername", "c"],
      ["mode", "c"],
      ["close", "c"],
    ],
  },
  "a connect with a timeout, then shutdown(): connect() again is EISCONN": {
    // (Linux marks a connect with a timeout done at the next connect(),
    // which returns once more, or at a shutdown().)
    ops: (f) => [
      ...connected(f),
      ["shutdown", "a", 0],
      ["connect", "a", ["lo", "l"]],
      ["connect_ex", "a", ["lo", "l"]],
      ["sock", "b", f],
      ["settimeout", "b", 0.2],
      ["connect", "b", ["lo", "l"]],
      ["shutdown", "b", 1],
      ["connect_ex", "b", ["lo", "l"]],
      ["sock", "d", f],
      ["settimeout", "d", 0.2],
      ["connect", "d", ["lo", "l"]],
      ["connect", "d", ["lo", "l"]],
      ["shutdown", "d", 2],
      ["connect", "d", ["lo", "l"]],
    ],
  },
  "shutdown(SHUT_RD) with bytes waiting; SHUT_RDWR; the peer sees EOF": {
    ops: (f) => [
      ...connected(f),
      ["send", "a", "A:4", 0],
      ["settle", "c", 500],
      ["shutdown", "c", 0],
      ["recv", "c", 2, 0],
      ["recv", "c", 10, 0],
      ["recv", "c", 10, 0],
      ["send", "c", "B:2", 0],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["shutdown", "a", 2],
      ["send", "a", "A:1", 0],
      ["recv", "a", 10, 0],
      ["settle", "c", 500],
      ["recv", "c", 10, 0],
      // (A unix peer shut down for reading is EPIPE to Linux; Deno cannot
      // shut a unix socket's reading down in the kernel. Not compared.)
      ...(f === "u" ? [] : [["send", "c", "B:2", 0]]),
      ["close", "a"],
      ["close", "c"],
    ],
  },
  "use after close: every call is EBADF (or ValueError / OSError as Python's)":
    {
      ops: (f) => [
        ...connected(f),
        ["close", "c"],
        ["close", "c"],
        ["recv", "c", 1, 0],
        ["recv_into", "c", 1, 0, 0],
        ["send", "c", "A:1", 0],
        ["sendall", "c", "A:1"],
        ["shutdown", "c", 1],
        ["getsockname", "c"],
        ["getpeername", "c"],
        ["connect", "c", ["lo", "l"]],
        ["connect_ex", "c", ["lo", "l"]],
        ["settimeout", "c", 1],
        ["setblocking", "c", false],
        ["mode", "c"],
        ["close", "l"],
        ["accept", "l", "x"],
        ["listen", "l", 1],
        ["bind", "l", ["lo0"]],
        ["close", "a"],
        ["recv", "a", 1, 0],
      ],
    },
  "the peer's EOF, then more sends: EPIPE or a reset": {
    ops: (f) => [
      ...connected(f),
      ["send", "a", "A:3", 0],
      ["settle", "c", 500],
      ["recv", "c", 10, 0],
      ["close", "c"],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["send", "a", "A:3", 0],
      ["sleep", 50],
      ["send", "a", "A:3", 0],
      ["sendall", "a", "A:3"],
      ["recv", "a", 10, 0],
      ["getpeername", "a"],
    ],
  },
  "full buffers: non-blocking sends until BlockingIOError, then the rest read":
    {
      ops: (f) => [
        ...connected(f),
        ["fill", "a", 65536],
        ["drain", "c", 300, "a"],
        ["fill", "c", 4000],
        ["drain", "a", 300, "c"],
        ["setblocking", "a", false],
        ["fill", "a", 100000],
        ["drain", "c", 300, "a"],
        ["send", "a", "H:3", 0],
        ["settimeout", "c", 1],
        ["settle", "c", 500],
        ["recv", "c", 10, 0],
      ],
    },
  "a unix socketpair: names, shutdown, EOF": {
    families: ["u"],
    ops: () => [
      ["pair", "a", "b"],
      ["getsockname", "a"],
      ["getpeername", "b"],
      ["mode", "a"],
      ["settimeout", "a", 1],
      ["settimeout", "b", 1],
      ["send", "a", "P:3", 0],
      ["recv", "b", 10, 0],
      ["shutdown", "b", 1],
      ["recv", "a", 10, 0],
      ["send", "b", "Q:1", 0],
      ["send", "a", "P:3", 0],
      ["recv", "b", 10, 0],
      ["close", "b"],
      // (Deno closes a socket in the kernel when its event loop turns.)
      ["sleep", 10],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["send", "a", "P:3", 0],
      ["getpeername", "a"],
    ],
  },
  "a peer closed with a read or accept in flight: sends and connects meet the close":
    {
      // Deno closes such a socket in the kernel when its loop turns: a send
      // or connect of this process turns it first.
      ops: (f) => [
        ...connected(f),
        ["settle", "c", 20],
        ["close", "c"],
        ["send", "a", "A:3", 0],
        ["send", "a", "A:3", 0],
        ["sendall", "a", "A:3"],
        // (A closed Deno unix listener's file is gone: README, Backends.)
        ...(f === "u" ? [] : [
          ["sock", "m", f],
          here(f, "m"),
          ["listen", "m", 1],
          ["settle", "m", 20],
          ["close", "m"],
          ["sock", "z", f],
          ["settimeout", "z", 0.3],
          ["connect_ex", "z", ["lo", "m"]],
        ]),
      ],
    },
  "a peer closed with a read in flight, then a turn of the loop: sends still meet the close":
    {
      // A turn that ends the closed socket's read is not always the one
      // that closes it in the kernel: a send waits for the next too.
      placements: ["deno"],
      ops: (f) => [
        ...connected(f),
        ["send", "a", "x:2635", 0],
        ["fill", "c", 65536],
        ["drain", "a", 300, "c"],
        ["settle", "a", 200],
        ["discard", "a"],
        ["close", "a"],
        ["settle", "c", 200],
        ["recv_into", "c", 5, 0, 0],
        ["send", "c", "e:10", 0],
        ["send", "c", "f:17", 0],
        ["sendall", "c", "w:4"],
      ],
    },
  "a peer that closes with unread bytes resets the connection": {
    // Deno's close() reads as EOF (README, Backends): libc closes here.
    placements: ["libc", "a on deno, others libc"],
    ops: (f) => [
      ...connected(f),
      ["send", "a", "A:5", 0],
      ["settle", "c", 500],
      ["close", "c"],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["recv", "a", 10, 0],
      ["send", "a", "A:5", 0],
      ["getpeername", "a"],
    ],
  },
  "a peer resets while a read waits: a send is the reset's error on TCP, EPIPE on unix, whose next recv has it":
    {
      // Linux's TCP send raises the pending error; a unix stream's send
      // does not look at it. a's settle with nothing there keeps a Deno
      // read in flight, which meets the reset first. (A Deno close() is
      // no reset: README, Backends.)
      placements: ["libc", "a on deno, others libc"],
      ops: (f) => [
        ...connected(f),
        ["send", "a", "A:5", 0],
        ["settle", "c", 500],
        ["settle", "a", 20],
        ["close", "c"],
        ["settle", "a", 500],
        ["send", "a", "A:3", 0],
        ["recv", "a", 10, 0],
        ["recv", "a", 10, 0],
      ],
    },
  "shut down for writing, then the peer resets: a send is the reset's error once":
    {
      // Linux's send raises a TCP socket's pending error (ECONNRESET)
      // before its EPIPE; a unix one's, EPIPE. The bytes a holds keep its
      // read in flight from meeting the reset first. (A Deno close() is no
      // reset: README, Backends.)
      placements: ["libc", "a on deno, others libc"],
      ops: (f) => [
        ...connected(f),
        ["send", "c", "B:4", 0],
        ["settle", "a", 500],
        ["shutdown", "a", 1],
        ["settle", "c", 500],
        ["recv", "c", 10, 0],
        ["linger0", "c"],
        ["close", "c"],
        ["send", "a", "A:3", 0],
        ["sendall", "a", "A:3"],
        ["getpeername", "a"],
      ],
    },
  "MSG_WAITALL cut short by a reset: the bytes, then the reset's error": {
    // (On unix, EOF: Linux's recv takes the error. A Deno close() is no
    // reset: README, Backends.)
    placements: ["libc", "a on deno, others libc"],
    ops: (f) => [
      ...connected(f),
      ["send", "c", "q:19", 0],
      ["send", "a", "p:15", 0],
      ["settle", "a", 500],
      ["close", "c"],
      ["settle", "a", 500],
      ["recv", "a", 10, 0],
      ["recv", "a", 10, 256],
      ["recv", "a", 10, 0],
      ["recv", "a", 10, 0],
    ],
  },
  "a blocking MSG_WAITALL cut short by a reset: the bytes, then the reset's error":
    {
      // The blocking call gathers in a loop of its own (a timed one is the
      // kernel's, above): its last recv must not take a TCP reset's error.
      placements: ["libc", "a on deno, others libc"],
      ops: (f) => [
        ...connected(f),
        ["send", "c", "q:19", 0],
        ["send", "a", "p:15", 0],
        ["settle", "a", 500],
        ["recv", "a", 10, 0],
        ["setblocking", "a", true],
        ["close", "c"],
        ["recv", "a", 10, 256],
        ["settimeout", "a", 0.2],
        ["recv", "a", 10, 0],
        ["recv", "a", 10, 0],
      ],
    },
  "bind to a port in use, with and without SO_REUSEADDR": {
    families: ["4", "6"],
    ops: (f) => [
      ["sock", "l", f],
      here(f, "l"),
      ["listen", "l", 1],
      ["sock", "b", f],
      ["bind", "b", ["lo", "l"]],
      ["reuseaddr", "b", 1],
      ["bind", "b", ["lo", "l"]],
      ["reuseaddr", "l", 1],
      ["sock", "b2", f],
      ["reuseaddr", "b2", 1],
      ["bind", "b2", ["lo", "l"]],
      ["close", "l"],
      ["sock", "b3", f],
      ["bind", "b3", ["lo", "b2"]],
    ],
  },
  "two sockets bound to one port with SO_REUSEADDR; the second listen()": {
    // Deno binds by listening (README, Backends): libc's here.
    families: ["4", "6"],
    placements: ["libc", "a on deno, others libc"],
    ops: (f) => [
      ["sock", "n", f],
      ["reuseaddr", "n", 1],
      ["bind", "n", ["lo0"]],
      ["sock", "m", f],
      ["reuseaddr", "m", 1],
      ["bind", "m", ["lo", "n"]],
      ["listen", "m", 1],
      ["listen", "n", 1],
      ["close", "m"],
      ["listen", "n", 1],
    ],
  },
};

for (const [name, { ops, families, placements }] of Object.entries(SCRIPTS)) {
  for (const f of families ?? ["4", "6", "u"] as const) {
    const reason = hasPython ? null : "no python3";
    const fam = { "4": "TCP/IPv4", "6": "TCP/IPv6", "u": "unix" }[f];
    Deno.test({
      name: skipNote(`streams as python3's, ${fam}: ${name}`, reason),
      ignore: reason !== null,
      async fn() {
        const dir = Deno.makeTempDirSync({ prefix: "pysock-stream-" });
        try {
          // python3 and every placement at once, each in a directory of its
          // own: most of a script's time is its timeouts running out.
          const scriptIn = (sub: string) => {
            Deno.mkdirSync(`${dir}/${sub}`);
            return { dir: `${dir}/${sub}`, ops: ops(f) };
          };
          await using py = pythonFed(STREAM_PY);
          const theirs = (async () => {
            await py.send(scriptIn("py"));
            return JSON.parse(await py.line(20_000)) as unknown[];
          })();
          const where = Object.keys(PLACEMENTS).filter((w) =>
            placements === undefined || placements.includes(w)
          );
          const scripts = where.map((_, i) => scriptIn(String(i)));
          const ours = await runIsolated(
            "stream",
            where.map((placement, i) => ({ script: scripts[i], placement })),
          );
          const expected = await theirs;
          const found = where.flatMap((w, i) =>
            differences(scripts[i].ops, expected, ours[i], PLACEMENTS[w]).map((
              d,
            ) => `${w}: ${d}`)
          );
          assert.deepEqual(found, []);
        } finally {
          Deno.removeSync(dir, { recursive: true });
        }
      },
    });
  }
}

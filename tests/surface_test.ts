// The rest of Python's socket module, from CPython 3.11's test_socket
// (GeneralModuleTests, InterfaceNamesTests) and compared live with python3:
// the enums, interface names, getprotobyname, sethostname (in a UTS
// namespace of its own, so the machine's name never changes), dup and
// inheritance, create_connection(all_errors), listen(backlog) and
// link-local peers on the Deno backend, and ping sockets (in a network
// namespace of their own).
import assert from "node:assert/strict";
import {
  AddressFamily,
  AddressInfo,
  AF_INET,
  AF_INET6,
  AF_UNIX,
  create_connection,
  create_server,
  dup,
  fromfd,
  getaddrinfo,
  getprotobyname,
  if_indextoname,
  if_nameindex,
  if_nametoindex,
  MsgFlag,
  OSError,
  OverflowError,
  recv_fds,
  send_fds,
  sethostname,
  SOCK_DGRAM,
  SOCK_STREAM,
  Socket,
  socket,
  SocketKind,
  SocketType,
  ValueError,
} from "../mod.ts";
import { PIPE_BUF, select } from "../select.ts";
import { socketsLetGo } from "../_deno/common.ts";
import { LET_GO_MS } from "../_ports_let_go.ts";
import {
  type Addr,
  BACKENDS,
  deadPort,
  hasPython,
  libcCase,
  libcMissing,
  onBackend,
  raises,
  raisesSync,
  skipNote,
  withoutCapNetRaw,
  withTimeout,
} from "./_helpers.ts";
import { pythonJson } from "./_python.ts";

/** python3 with JSON in and out, bounded in time. */
function py(code: string, input: unknown): Promise<unknown> {
  return withTimeout(pythonJson(code, input), 20_000, "python3");
}
import {
  type NetNs,
  netns,
  netnsMissing,
  type Script,
  script,
} from "./_netns.ts";

const pySkip = hasPython ? null : "no python3";
const either = (...reasons: (string | null)[]) =>
  reasons.find((r) => r !== null) ?? null;

// ------------------------------------------------------------------------
// Python's other names

Deno.test({
  name: skipNote(
    "socket.SocketType is the socket class, `instanceof socket` answers as isinstance(s, socket.socket) on both backends, and select.PIPE_BUF is python3's",
    pySkip,
  ),
  ignore: pySkip !== null,
  async fn() {
    const want = await py(
      `import json, select, socket, sys
s = socket.socket()
print(json.dumps([isinstance(s, socket.socket), isinstance(s, socket.SocketType),
                  isinstance(3, socket.socket), select.PIPE_BUF]))
s.close()`,
      null,
    );
    using deno = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
    for (const s of libcMissing === null ? [deno, libcSocket()] : [deno]) {
      try {
        assert.deepEqual(
          [
            s instanceof socket,
            s instanceof SocketType,
            (3 as unknown) instanceof socket,
            PIPE_BUF,
          ],
          want,
        );
        assert.equal(SocketType, Socket);
      } finally {
        if (s !== deno) s.close();
      }
    }
  },
});

function libcSocket(): Socket {
  return socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
}

// ------------------------------------------------------------------------
// Enums

Deno.test({
  name: skipNote(
    "AddressFamily, SocketKind, MsgFlag, AddressInfo: CPython's members, numbers and canonical names",
    pySkip,
  ),
  ignore: pySkip !== null,
  async fn() {
    const python = await py(
      `import json, socket
print(json.dumps({e.__name__: [dict((n, int(m)) for n, m in e.__members__.items()),
                               dict((int(m), m.name) for m in e)]
                  for e in (socket.AddressFamily, socket.SocketKind,
                            socket.MsgFlag, socket.AddressInfo)}))`,
      null,
    ) as Record<string, [Record<string, number>, Record<string, string>]>;
    const ours = { AddressFamily, SocketKind, MsgFlag, AddressInfo };
    for (const [name, [members, canonical]] of Object.entries(python)) {
      const e = ours[name as keyof typeof ours] as Record<string, unknown>;
      for (const [member, value] of Object.entries(members)) {
        assert.equal(e[member], value, `${name}.${member}`);
      }
      for (const [value, member] of Object.entries(canonical)) {
        assert.equal(e[value], member, `${name}[${value}]`);
      }
      // Members python3 lacks are constants this module has that this
      // python3 was built without (AF_BLUETOOTH): still CPython's rule.
      for (const key of Object.keys(e).filter((k) => !/^\d+$/.test(k))) {
        if (!(key in members)) assert.equal(typeof e[key], "number");
      }
      assert.ok(Object.isFrozen(e));
    }
    assert.equal(AddressFamily.AF_INET, 2);
    assert.equal(AddressFamily[2], "AF_INET");
    assert.equal(AddressFamily[16], "AF_NETLINK");
    assert.equal(AddressFamily.AF_ROUTE, 16);
  },
});

// ------------------------------------------------------------------------
// Interface names (InterfaceNamesTests, GeneralModuleTests)

Deno.test({
  name: skipNote(
    "if_nameindex(), if_nametoindex(), if_indextoname(): CPython's list, round trips and errors",
    either(libcMissing, pySkip),
  ),
  ignore: either(libcMissing, pySkip) !== null,
  async fn() {
    const python = await py(
      `import json, socket
def err(f, *a):
    try:
        return [f(*a)]
    except BaseException as e:
        return [type(e).__name__, str(e), getattr(e, "errno", None)]
print(json.dumps([socket.if_nameindex(),
                  err(socket.if_nametoindex, "_DEADBEEF"),
                  err(socket.if_nametoindex, ""),
                  err(socket.if_indextoname, 0),
                  err(socket.if_indextoname, -1),
                  err(socket.if_indextoname, 2**32 + 1),
                  err(socket.if_indextoname, 2**64),
                  err(socket.if_nametoindex, "lo\\0x"),
                  err(socket.if_nametoindex, 0),
                  err(socket.if_indextoname, "_DEADBEEF"),
                  err(socket.if_nametoindex, "lo\\ud800"),
                  err(socket.if_nametoindex, "lo\\udcff")]))`,
      null,
    ) as unknown[];
    const err = (f: () => unknown) => {
      try {
        return [f()];
      } catch (e) {
        const name = e instanceof OSError
          ? "OSError"
          : (e as Error).constructor.name;
        return [name, (e as Error).message, (e as OSError).errno ?? null];
      }
    };
    const f = if_nametoindex as (x: unknown) => number;
    const g = if_indextoname as (x: unknown) => string;
    const ours = [
      if_nameindex(),
      err(() => f("_DEADBEEF")),
      err(() => f("")),
      err(() => g(0)),
      err(() => g(-1)),
      err(() => g(2 ** 32 + 1)),
      err(() => g(2 ** 64)),
      err(() => f("lo\0x")),
      err(() => f(0)),
      err(() => g("_DEADBEEF")),
      // os.fsencode: a lone surrogate other than an escaped byte is
      // UnicodeEncodeError; an escaped byte is that byte (no such name).
      err(() => f("lo\ud800")),
      err(() => f("lo\udcff")),
    ];
    assert.deepEqual(ours, python);
    for (const [index, name] of if_nameindex()) {
      assert.ok(index > 0);
      assert.equal(if_nametoindex(name), index);
      assert.equal(if_nametoindex(new TextEncoder().encode(name)), index);
      assert.equal(if_indextoname(index), name);
    }
  },
});

// ------------------------------------------------------------------------
// getprotobyname

Deno.test({
  name: skipNote(
    "getprotobyname(): every name and alias in /etc/protocols as CPython answers, and its errors",
    pySkip,
  ),
  ignore: pySkip !== null,
  async fn() {
    let names: string[] = [];
    try {
      names = Deno.readTextFileSync("/etc/protocols").split("\n")
        .map((line) => line.replace(/#.*/, "").trim().split(/\s+/))
        .filter((f) => f.length >= 2)
        .flatMap(([name, , ...aliases]) => [name, ...aliases]);
    } catch {
      // No /etc/protocols: every lookup fails, in CPython as here.
    }
    names.push("tcp", "TCP", "Tcp", "icmp", "nope", "", "ipv6-icmp");
    const python = await py(
      `import json, socket, sys
out = []
for n in json.load(sys.stdin):
    try:
        out.append(socket.getprotobyname(n))
    except OSError as e:
        out.append([str(e), e.errno])
print(json.dumps(out))`,
      names,
    );
    const ours = names.map((n) => {
      try {
        return getprotobyname(n);
      } catch (e) {
        assert.ok(e instanceof OSError);
        return [e.message, e.errno];
      }
    });
    assert.deepEqual(ours, python);
    raisesSync(
      () => (getprotobyname as (x: unknown) => number)(new Uint8Array([116])),
      TypeError,
      { message: "getprotobyname() argument 1 must be str, not bytes" },
    );
    raisesSync(
      () => (getprotobyname as (x: unknown) => number)(null),
      TypeError,
      { message: "getprotobyname() argument 1 must be str, not None" },
    );
    raisesSync(() => getprotobyname("tcp\0x"), ValueError, {
      message: "embedded null character",
    });
  },
});

const IF_NAMES = `
const [[index, name]] = S.if_nameindex();
console.log(JSON.stringify([
  [index, name],
  S.if_indextoname(index),
  S.if_nametoindex(name),
  S.if_nametoindex(new Uint8Array([0x6c, 0xff, 0x6f])),
]));
`;

Deno.test({
  name: skipNote(
    "if_nameindex(), if_indextoname(), if_nametoindex(): a name that is not UTF-8 comes back as os.fsdecode gives it, and goes back as its bytes",
    either(netnsMissing, libcMissing),
  ),
  ignore: either(netnsMissing, libcMissing) !== null,
  async fn() {
    using ns = netns();
    // Renamed "l\xffo" (Linux takes any bytes but "/", ":" and white
    // space), by the shell: a command's arguments here are UTF-8.
    const renamed = await ns.exec([
      "sh",
      "-c",
      `ip link set lo down && ip link set lo name "$(printf 'l\\377o')"`,
    ]);
    assert.equal(renamed.code, 0, renamed.stderr);
    using child = script(IF_NAMES);
    const out = await ns.exec([
      Deno.execPath(),
      "run",
      "--allow-ffi",
      child.path,
    ]);
    assert.equal(out.code, 0, out.stderr);
    // CPython: [(1, 'l\udcffo')], 'l\udcffo', 1, 1
    assert.deepEqual(JSON.parse(out.stdout), [
      [1, "l\udcffo"],
      "l\udcffo",
      1,
      1,
    ]);
  },
});

// ------------------------------------------------------------------------
// sethostname, in a UTS namespace of its own

const unshareSkip = either(
  libcMissing,
  (() => {
    try {
      if (Deno.uid() !== 0) return "sethostname needs root";
      const out = new Deno.Command("unshare", {
        args: ["-u", "true"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      return out.success ? null : "unshare -u fails here";
    } catch {
      return "no unshare, or no --allow-run/--allow-sys";
    }
  })(),
);

const SETHOSTNAME = `
const out = [];
for (const name of ["pysock-new", new TextEncoder().encode("pysock-bar"), "x".repeat(64), "x".repeat(65), ""]) {
  try {
    S.sethostname(name);
    out.push(S.gethostname());
  } catch (e) {
    out.push([e.constructor.name, e.errno]);
  }
}
// A name that is not UTF-8: its bytes, as os.fsencode gives them.
try {
  S.sethostname("pysock-\\udcff");
  // Its bytes from libc (Deno.hostname() decodes them lossily, and Deno
  // lets only --allow-all read /proc/sys).
  const libc = Deno.dlopen("libc.so.6", {
    gethostname: { parameters: ["buffer", "usize"], result: "i32" },
  });
  const b = new Uint8Array(65);
  libc.symbols.gethostname(b, 65n);
  libc.close();
  out.push([...b.subarray(0, b.indexOf(0))]);
} catch (e) {
  out.push([e.constructor.name, e.errno]);
}
console.log(JSON.stringify(out));
`;

Deno.test({
  name: skipNote(
    "sethostname(): sets the name of its UTS namespace (str or bytes), EINVAL past 64 bytes, PermissionError without CAP_SYS_ADMIN",
    unshareSkip,
  ),
  ignore: unshareSkip !== null,
  async fn() {
    using child = script(SETHOSTNAME);
    const run = async (prefix: string[]) => {
      const out = await new Deno.Command("unshare", {
        args: [
          "-u",
          ...prefix,
          Deno.execPath(),
          "run",
          "--allow-ffi",
          "--allow-sys",
          child.path,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(20_000),
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      return JSON.parse(dec.decode(out.stdout));
    };
    assert.deepEqual(await run([]), [
      "pysock-new",
      "pysock-bar",
      "x".repeat(64),
      ["OSError", 22],
      "",
      [...new TextEncoder().encode("pysock-"), 0xff],
    ]);
    const dropped = await run([
      "setpriv",
      "--inh-caps=-all",
      "--bounding-set=-sys_admin",
      "--",
    ]);
    assert.deepEqual(dropped[0], ["PermissionError", 1]);
  },
});

Deno.test({
  name: skipNote(
    "too few positional arguments: CPython's TypeError naming the missing ones (set_inheritable, send_fds, recv_fds, create_connection, create_server, getaddrinfo, fromfd, sendfile)",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  async fn() {
    const expected = await py(
      `import json, socket, sys
s = socket.socket()
calls = [
    lambda: s.set_inheritable(),
    lambda: socket.send_fds(s, []),
    lambda: socket.send_fds(s),
    lambda: socket.send_fds(),
    lambda: socket.recv_fds(s, 1),
    lambda: socket.recv_fds(),
    lambda: socket.create_connection(),
    lambda: socket.create_server(),
    lambda: socket.getaddrinfo("x"),
    lambda: socket.getaddrinfo(),
    lambda: socket.fromfd(1, 2),
    lambda: socket.fromfd(),
    lambda: s.sendfile(),
]
out = []
for call in calls:
    try:
        call()
    except TypeError as e:
        out.append(str(e))
s.close()
print(json.dumps(out))`,
      null,
    );
    using s = socket();
    // Called as from JavaScript, where nothing checks the count.
    type Loose = Record<string, (...args: unknown[]) => unknown>;
    const S = {
      send_fds,
      recv_fds,
      create_connection,
      create_server,
      getaddrinfo,
      fromfd,
    } as unknown as Loose;
    const t = s as unknown as Loose;
    const calls = [
      () => t.set_inheritable(),
      () => S.send_fds(s, []),
      () => S.send_fds(s),
      () => S.send_fds(),
      () => S.recv_fds(s, 1),
      () => S.recv_fds(),
      () => S.create_connection(),
      () => S.create_server(),
      () => S.getaddrinfo("x"),
      () => S.getaddrinfo(),
      () => S.fromfd(1, 2),
      () => S.fromfd(),
      () => t.sendfile(),
    ];
    const out: string[] = [];
    for (const call of calls) {
      try {
        await call();
        out.push("returned");
      } catch (e) {
        assert.ok(e instanceof TypeError, String(e));
        out.push(e.message);
      }
    }
    assert.deepEqual(out, expected);
  },
});

Deno.test("sethostname(): CPython's argument errors, before any system call", () => {
  const f = sethostname as (x: unknown) => void;
  raisesSync(() => f(1), TypeError, {
    message: "expected str, bytes or os.PathLike object, not int",
  });
  raisesSync(() => f("a\0b"), ValueError, { message: "embedded null byte" });
});

// ------------------------------------------------------------------------
// Descriptors: dup, inheritance

Deno.test(
  libcCase(
    "dup(): a new close-on-exec descriptor of the same socket; EBADF for one not open",
  ),
  () => {
    using s = socket(undefined, undefined, undefined, { backend: "libc" });
    s.bind(["127.0.0.1", 0]);
    const fd = dup(s.fileno());
    using copy = socket(undefined, undefined, undefined, fd);
    assert.notEqual(fd, s.fileno());
    assert.deepEqual(copy.getsockname(), s.getsockname());
    assert.equal(copy.get_inheritable(), false);
    raisesSync(() => dup(-1), OSError, { errno: 9 });
    // Past C int no descriptor is open: EBADF, not FFI's TypeError.
    raisesSync(() => dup(2 ** 31), OSError, { errno: 9 });
    raisesSync(() => dup(-(2 ** 31) - 1), OSError, { errno: 9 });
  },
);

Deno.test(
  libcCase(
    "get_inheritable()/set_inheritable(): FD_CLOEXEC, as in Python; EBADF once closed",
  ),
  () => {
    const s = socket(undefined, undefined, undefined, { backend: "libc" });
    assert.equal(s.get_inheritable(), false);
    s.set_inheritable(true);
    assert.equal(s.get_inheritable(), true);
    s.set_inheritable(0);
    assert.equal(s.get_inheritable(), false);
    s.close();
    raisesSync(() => s.get_inheritable(), OSError, { errno: 9 });
  },
);

Deno.test("get_inheritable()/set_inheritable() on the Deno backend raise OSError naming libc", () => {
  using s = socket(undefined, undefined, undefined, { backend: "deno" });
  raisesSync(() => s.get_inheritable(), OSError, {
    errno: 95,
    message: /backend: "libc"/,
  });
  raisesSync(() => s.set_inheritable(true), OSError, { errno: 95 });
});

// ------------------------------------------------------------------------
// create_connection(all_errors)

Deno.test({
  name: skipNote(
    "create_connection(..., { all_errors: true }): an AggregateError of every attempt, with CPython's ExceptionGroup message",
    pySkip,
  ),
  ignore: pySkip !== null,
  async fn() {
    const port = deadPort("deno");
    const python = await py(
      `import json, socket, sys
port = json.load(sys.stdin)
try:
    socket.create_connection(("localhost", port), all_errors=True)
except ExceptionGroup as eg:
    print(json.dumps([str(eg), [[type(e).__name__, e.errno] for e in eg.exceptions]]))`,
      port,
    ) as [string, [string, number][]];
    const e = await raises(
      () =>
        create_connection(["localhost", port], 3, null, { all_errors: true }),
      AggregateError,
    ) as AggregateError;
    assert.deepEqual(
      [e.message, e.errors.map((x) => [x.constructor.name, x.errno])],
      python,
    );
    // Without it: the last error alone, as before.
    await raises(() => create_connection(["localhost", port], 3), OSError, {
      errno: 111,
    });
  },
});

// ------------------------------------------------------------------------
// listen(backlog) on the Deno backend

const ssSkip = (() => {
  try {
    return new Deno.Command("ss", { args: ["-V"], stdout: "null" })
        .outputSync().success
      ? null
      : "ss (iproute2) fails";
  } catch {
    return "no ss (iproute2), or no --allow-run";
  }
})();

/** The backlog of the TCP listener on `port`, as the kernel reports it (ss's Send-Q). */
function kernelBacklog(port: number): number {
  const out = new Deno.Command("ss", {
    args: ["-ltnH", `sport = :${port}`],
    stdout: "piped",
  }).outputSync();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n")[0];
  return Number(line.split(/\s+/)[2]);
}

Deno.test({
  name: skipNote(
    "deno: listen(backlog) is the kernel's backlog; the port is held from bind() on",
    ssSkip,
  ),
  ignore: ssSkip !== null,
  async fn() {
    for (const [backlog, expected] of [[7, 7], [undefined, 128], [0, 0]]) {
      using s = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
      s.bind(["127.0.0.1", 0]);
      const [, port] = s.getsockname();
      // Held from bind(): no one else can bind it meanwhile.
      using other = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
      raisesSync(() => other.bind(["127.0.0.1", port]), OSError, { errno: 98 });
      s.listen(backlog);
      assert.deepEqual(s.getsockname(), ["127.0.0.1", port]);
      assert.equal(kernelBacklog(port), expected);
      using client = socket();
      client.settimeout(3);
      await client.connect(["127.0.0.1", port]);
      s.settimeout(3);
      const [conn] = await s.accept();
      conn.close();
    }
  },
});

Deno.test("deno: listen() with Python's default backlog keeps the listener bind() made: a connection that came between them is accepted", async () => {
  using s = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
  s.bind(["127.0.0.1", 0]);
  using client = socket();
  client.settimeout(3);
  await client.connect(s.getsockname());
  s.listen();
  s.settimeout(3);
  const [conn] = await s.accept();
  using _conn = conn;
  await client.sendall(new Uint8Array([7]));
  assert.deepEqual(await conn.recv(1), new Uint8Array([7]));
});

// Another thread of this process spawning programs (a parallel `deno test`
// module): a child holds a copy of every descriptor from its fork until
// exec, the listener bind() made among them, so closing that listener in
// listen(backlog) does not free its port at once. It raised EADDRINUSE in 1
// listen(5) in 100-500 here; the test counts the children spawned meanwhile.
const SPAWNER = `
const count = new Int32Array(await new Promise((r) => self.onmessage = (e) => r(e.data)));
while (Atomics.load(count, 1) === 0) {
  await new Deno.Command("/bin/true", { stdout: "null", stderr: "null" }).output();
  Atomics.add(count, 0, 1);
}
self.postMessage("done");
`;
const runSkip =
  Deno.permissions.querySync({ name: "run", command: "/bin/true" })
      .state === "granted"
    ? null
    : "no --allow-run";

// Runs `round` (which returns its failures) over and over while a worker
// spawns programs, until 150 children were spawned meanwhile, or 10 s;
// returns the failures, the rounds and the children.
async function whileSpawning(
  round: () => string | null | Promise<string | null>,
): Promise<[string[], number, number]> {
  const count = new Int32Array(new SharedArrayBuffer(8));
  const url = URL.createObjectURL(
    new Blob([SPAWNER], { type: "application/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  const done = new Promise((r) => worker.onmessage = r);
  worker.postMessage(count.buffer);
  const failed: string[] = [];
  let rounds = 0;
  try {
    const end = Date.now() + 10_000;
    while (Atomics.load(count, 0) < 150 && Date.now() < end) {
      for (let i = 0; i < 20; i++, rounds++) {
        const failure = await round();
        if (failure !== null) failed.push(failure);
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    Atomics.store(count, 1, 1);
    await withTimeout(done, 10_000, "the spawning worker");
    worker.terminate();
    URL.revokeObjectURL(url);
  }
  const spawned = Atomics.load(count, 0);
  assert.ok(spawned >= 50, `only ${spawned} children spawned`);
  return [failed, rounds, spawned];
}

Deno.test({
  name: skipNote(
    "deno: listen(backlog) while another thread spawns programs makes the listener again on the port bind() held (the old one lives on in a child until exec)",
    runSkip,
  ),
  ignore: runSkip !== null,
  async fn() {
    const [failed, listens, spawned] = await whileSpawning(() => {
      using s = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
      s.bind(["127.0.0.1", 0]);
      try {
        s.listen(5);
        return null;
      } catch (e) {
        return String(e);
      }
    });
    assert.deepEqual(
      failed,
      [],
      `${failed.length} of ${listens} listen(5) failed, ${spawned} children`,
    );
  },
});

// The same window when a socket is closed and a new socket binds its port
// (a socketserver program made again on its address), or another socket
// bound there beside it (SO_REUSEADDR) listens: bind() and listen() try
// again while the port is one this process let go of just before, a TCP
// listener's or a bound UDP socket's. Only a port no socket of this
// process holds is waited for: once one holds it again, a bind() there
// raises EADDRINUSE at once, as Python's, however recently another socket
// let it go.
for (const backend of BACKENDS) {
  for (const type of [SOCK_STREAM, SOCK_DGRAM]) {
    const stream = type === SOCK_STREAM;
    // A socket bound at `address`, listening if TCP.
    const bound = (address: Addr): Socket => {
      const s = socket(AF_INET, type, 0, { backend });
      try {
        s.bind(address);
        if (stream) s.listen();
        return s;
      } catch (e) {
        s.close();
        throw e;
      }
    };
    // The address of a socket of this process that held a port and has
    // just let it go. A Deno-backend UDP port is free once the close
    // reached the kernel, a turn on (server_close() waits for this too).
    const letGoJustNow = async (): Promise<Addr> => {
      const s = bound(["127.0.0.1", 0]);
      const address = s.getsockname();
      s.close();
      await socketsLetGo();
      return address;
    };
    const { name, ignore } = onBackend(
      backend,
      stream
        ? "a new socket binds and listens on the port a closed listener held while another thread spawns programs"
        : "a new socket binds the UDP port a closed socket held while another thread spawns programs",
    );
    Deno.test({
      name: skipNote(name, runSkip),
      ignore: ignore || runSkip !== null,
      async fn() {
        const [failed, rounds, spawned] = await whileSpawning(async () => {
          const address = await letGoJustNow();
          try {
            bound(address).close();
            return null;
          } catch (e) {
            return String(e);
          }
        });
        assert.deepEqual(
          failed,
          [],
          `${failed.length} of ${rounds} rounds failed, ${spawned} children`,
        );
      },
    });
    Deno.test(
      onBackend(
        backend,
        `${
          stream ? "TCP" : "UDP"
        }: bind() raises EADDRINUSE at once on a port a socket of this process took again just after another let it go`,
      ),
      async () => {
        const address = await letGoJustNow();
        using _holder = bound(address);
        using third = socket(AF_INET, type, 0, { backend });
        const t0 = performance.now();
        raisesSync(() => third.bind(address), OSError, { errno: 98 });
        const waited = performance.now() - t0;
        assert.ok(waited < LET_GO_MS / 5, `bind() waited ${waited} ms`);
      },
    );
  }
}

// README: a Deno listener closed with an accept in flight (select()
// watched it) frees its port only when the event loop turns, so a bind()
// before that raises EADDRINUSE at once: no synchronous retry can wait for
// it (one that tried held the thread for a second).
Deno.test(
  onBackend(
    "deno",
    "binding a port whose listener closed with an accept in flight raises EADDRINUSE at once",
  ),
  async () => {
    const s = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
    s.bind(["127.0.0.1", 0]);
    s.listen();
    assert.deepEqual(await select([s], [], [], 0.01), [[], [], []]);
    const address = s.getsockname();
    s.close();
    using again = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
    const t0 = performance.now();
    raisesSync(() => again.bind(address), OSError, { errno: 98 });
    assert.ok(performance.now() - t0 < 200, "bind() waited");
    // Free once the loop turns.
    await new Promise((r) => setTimeout(r, 0));
    using later = socket(AF_INET, SOCK_STREAM, 0, { backend: "deno" });
    later.bind(address);
  },
);

// ------------------------------------------------------------------------
// In network namespaces: link-local peers, ping sockets

const LINK_LOCAL = `
const [host, port, scope] = Deno.args;
const address = scope === undefined ? [host, Number(port)] : [host, Number(port), 0, Number(scope)];
using s = S.socket(S.AF_INET6, S.SOCK_STREAM, 0, { backend: Deno.env.get("BACKEND") });
s.settimeout(5);
await s.connect(address);
console.log(JSON.stringify([s.getpeername(), s.getsockname()[3]]));
`;

// `child` run in `ns` once per [backend, flags, args] must print what
// python3 printed there (`expected`).
async function sameOnEach(
  ns: NetNs,
  child: Script,
  runs: [string, string[], string[]][],
  expected: unknown,
): Promise<void> {
  for (const [backend, flags, args] of runs) {
    const out = await ns.exec([
      "env",
      `BACKEND=${backend}`,
      Deno.execPath(),
      "run",
      "--allow-env",
      ...flags,
      child.path,
      ...args,
    ]);
    const what = `${backend} ${flags} ${args}`;
    assert.equal(out.code, 0, `${what}: ${out.stderr}`);
    assert.deepEqual(JSON.parse(out.stdout), expected, what);
  }
}

// A namespace's veth pair mc0/mc1, up, with fe80::1 on mc0: its index.
async function linkLocal(ns: NetNs): Promise<number> {
  ns.ip("link", "add", "mc0", "type", "veth", "peer", "name", "mc1");
  ns.ip("link", "set", "mc0", "up");
  ns.ip("link", "set", "mc1", "up");
  ns.ip("-6", "addr", "add", "fe80::1/64", "dev", "mc0", "nodad");
  return Number((await ns.exec(["cat", "/sys/class/net/mc0/ifindex"])).stdout);
}

Deno.test({
  name: skipNote(
    "connect() to a link-local IPv6 peer (fe80::1%mc0, or the 4-tuple's scope id) on the Deno backend, as on libc and in CPython",
    either(netnsMissing, pySkip),
  ),
  ignore: either(netnsMissing, pySkip) !== null,
  async fn() {
    using ns = netns();
    const index = await linkLocal(ns);
    using child = script(LINK_LOCAL);
    const server = ns.exec([
      "python3",
      "-c",
      `import socket
l = socket.create_server(("::", 8007), family=socket.AF_INET6)
for _ in range(5):
    c, a = l.accept()
    c.close()`,
    ]);
    // The server may take a while to listen on a busy machine: the first
    // client tries again for up to 10 s (the library's clients run after).
    const py = await ns.exec([
      "python3",
      "-c",
      `import json, socket, time
for attempt in range(200):
    try:
        s = socket.create_connection(("fe80::1%mc0", 8007))
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
print(json.dumps([list(s.getpeername()), s.getsockname()[3]]))`,
    ]);
    assert.equal(py.code, 0, py.stderr);
    const expected = JSON.parse(py.stdout);
    assert.deepEqual(expected, [["fe80::1", 8007, 0, index], index]);
    const runs: [string, string[], string[]][] = [
      ["deno", ["--allow-net"], ["fe80::1", "8007", String(index)]],
      ["deno", ["--allow-net", "--allow-ffi"], ["fe80::1%mc0", "8007"]],
      ["libc", ["--allow-net", "--allow-ffi"], [
        "fe80::1",
        "8007",
        String(index),
      ]],
      ["libc", ["--allow-net", "--allow-ffi"], ["fe80::1%mc0", "8007"]],
    ];
    await sameOnEach(ns, child, runs, expected);
    const rest = await server;
    assert.equal(rest.code, 0, rest.stderr);
  },
});

// Bound to a link-local address by scope id, the link the socket's peers
// are on: TCP and UDP, as CPython's (for each step what it returns, with
// the scope ids of the addresses involved; ports vary).
const LINK_BOUND = `
const scope = Number(Deno.args[0]);
const backend = Deno.env.get("BACKEND");
const ll = ["fe80::1", 0, 0, scope];
const out = [];
const l = S.socket(S.AF_INET6, S.SOCK_STREAM, 0, { backend });
l.bind(ll);
l.listen();
out.push(l.getsockname()[3]);
l.listen(3);
const port = l.getsockname()[1];
out.push(l.getsockname()[3]);
const c = S.socket(S.AF_INET6, S.SOCK_STREAM, 0, { backend });
c.settimeout(5);
l.settimeout(5);
await c.connect(["fe80::1", port, 0, scope]);
const [a, from] = await l.accept();
out.push(from[3], a.getsockname()[3], a.getpeername()[3], c.getpeername()[3]);
const u = S.socket(S.AF_INET6, S.SOCK_DGRAM, 0, { backend });
u.bind(ll);
u.settimeout(5);
out.push(u.getsockname()[3]);
const v = S.socket(S.AF_INET6, S.SOCK_DGRAM, 0, { backend });
v.settimeout(5);
const uport = u.getsockname()[1];
out.push(await v.sendto(new Uint8Array([1]), ["fe80::1", uport, 0, scope]));
out.push((await u.recvfrom(10))[1][3]);
await v.connect(["fe80::1", uport, 0, scope]);
out.push(v.getpeername()[3], await v.send(new Uint8Array([2])));
out.push((await u.recvfrom(10))[1][3]);
// No scope id: the link u is bound to.
out.push(await u.sendto(new Uint8Array([3]), ["fe80::1", v.getsockname()[1]]));
out.push((await v.recv(10))[0]);
for (const s of [a, c, l, u, v]) s.close();
console.log(JSON.stringify(out));
`;

Deno.test({
  name: skipNote(
    "bind() to a link-local IPv6 address by scope id (TCP and UDP), and sendto()/connect() to one, on the Deno backend, as on libc and in CPython",
    either(netnsMissing, pySkip),
  ),
  ignore: either(netnsMissing, pySkip) !== null,
  async fn() {
    using ns = netns();
    const index = String(await linkLocal(ns));
    const py = await ns.exec([
      "python3",
      "-c",
      `import json, socket, sys
scope = int(sys.argv[1])
ll = ("fe80::1", 0, 0, scope)
out = []
l = socket.socket(socket.AF_INET6)
l.bind(ll)
l.listen()
out.append(l.getsockname()[3])
l.listen(3)
port = l.getsockname()[1]
out.append(l.getsockname()[3])
c = socket.socket(socket.AF_INET6)
c.settimeout(5)
l.settimeout(5)
c.connect(("fe80::1", port, 0, scope))
a, frm = l.accept()
out += [frm[3], a.getsockname()[3], a.getpeername()[3], c.getpeername()[3]]
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(ll)
u.settimeout(5)
out.append(u.getsockname()[3])
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v.settimeout(5)
uport = u.getsockname()[1]
out.append(v.sendto(b"\\1", ("fe80::1", uport, 0, scope)))
out.append(u.recvfrom(10)[1][3])
v.connect(("fe80::1", uport, 0, scope))
out += [v.getpeername()[3], v.send(b"\\2")]
out.append(u.recvfrom(10)[1][3])
out.append(u.sendto(b"\\3", ("fe80::1", v.getsockname()[1])))
out.append(v.recv(10)[0])
print(json.dumps(out))`,
      index,
    ]);
    assert.equal(py.code, 0, py.stderr);
    const expected = JSON.parse(py.stdout);
    const n = Number(index);
    assert.deepEqual(expected, [n, n, n, n, n, n, n, 1, n, n, 1, n, 1, 3]);
    using child = script(LINK_BOUND);
    const runs: [string, string[], string[]][] = [
      ["deno", ["--allow-net"], [index]],
      ["deno", ["--allow-net", "--unstable-net"], [index]],
      ["libc", ["--allow-net", "--allow-ffi"], [index]],
    ];
    await sameOnEach(ns, child, runs, expected);
  },
});

const noNetRaw = withoutCapNetRaw();
const pingSkip = either(
  netnsMissing,
  libcMissing,
  "reason" in noNetRaw ? noNetRaw.reason : null,
);
const noNetRawPrefix = "prefix" in noNetRaw ? noNetRaw.prefix : [];

const PING = `
const out = [];
for (const [family, proto, host, type] of [
  [S.AF_INET, S.IPPROTO_ICMP, "127.0.0.1", 8],
  [S.AF_INET6, S.IPPROTO_ICMPV6, "::1", 128],
]) {
  try {
    using s = S.socket(family, S.SOCK_DGRAM, proto);
    s.settimeout(3);
    const echo = new Uint8Array(16);
    echo[0] = type;
    echo[7] = 1;
    echo.set(new TextEncoder().encode("pysock!"), 8);
    await s.sendto(echo, [host, 0]);
    const [reply, from] = await s.recvfrom(100);
    out.push([s.backend, reply[0], reply[7], new TextDecoder().decode(reply.subarray(8)), from[0]]);
  } catch (e) {
    out.push([e.constructor.name, e.errno]);
  }
}
console.log(JSON.stringify(out));
`;

Deno.test({
  name: skipNote(
    "socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) and the ICMPv6 one: ping sockets on libc without CAP_NET_RAW, where ping_group_range allows",
    pingSkip,
  ),
  ignore: pingSkip !== null,
  async fn() {
    using ns = netns();
    using child = script(PING);
    const run = () =>
      ns.exec([
        ...noNetRawPrefix,
        Deno.execPath(),
        "run",
        "--allow-ffi",
        "--allow-net",
        child.path,
      ]);
    // The kernel's default range (1 0) lets no group open one.
    ns.sysctl("net.ipv4.ping_group_range=1 0");
    let out = await run();
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), [
      ["PermissionError", 13],
      ["PermissionError", 13],
    ]);
    ns.sysctl("net.ipv4.ping_group_range=0 2147483647");
    out = await run();
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), [
      ["libc", 0, 1, "pysock!\0", "127.0.0.1"],
      ["libc", 129, 1, "pysock!\0", "::1"],
    ]);
  },
});

Deno.test({
  name: skipNote(
    "examples/ping.ts: ping(8)'s output from a raw socket with CAP_NET_RAW, from a ping socket without, exit 2 with neither",
    pingSkip,
  ),
  ignore: pingSkip !== null,
  async fn() {
    using ns = netns();
    ns.sysctl("net.ipv4.ping_group_range=0 2147483647");
    const example = new URL("../examples/ping.ts", import.meta.url).pathname;
    const ping = (prefix: string[]) =>
      ns.exec([
        ...prefix,
        Deno.execPath(),
        "run",
        "--allow-ffi",
        "--allow-net",
        example,
        "-c",
        "2",
        "-i",
        "0.2",
      ]);
    const format = new RegExp(
      "^PING 127\\.0\\.0\\.1 \\(127\\.0\\.0\\.1\\) 56\\(84\\) bytes of data\\.\n" +
        "64 bytes from 127\\.0\\.0\\.1: icmp_seq=1 ttl=64 time=[0-9.]+ ms\n" +
        "64 bytes from 127\\.0\\.0\\.1: icmp_seq=2 ttl=64 time=[0-9.]+ ms\n\n" +
        "--- 127\\.0\\.0\\.1 ping statistics ---\n" +
        "2 packets transmitted, 2 received, 0% packet loss, time [0-9]+ms\n" +
        "rtt min/avg/max/mdev = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms\n$",
    );
    for (
      const [prefix, which] of [
        [[], "raw ICMP socket"],
        [noNetRawPrefix, "ICMP datagram socket"],
      ] as const
    ) {
      const out = await ping([...prefix]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, format);
      assert.match(out.stderr, new RegExp(`using an? ${which}`));
    }
    ns.sysctl("net.ipv4.ping_group_range=1 0");
    const none = await ping(noNetRawPrefix);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /ping_group_range/);
  },
});

Deno.test("if_indextoname(): OverflowError for a negative index, before any system call", () => {
  raisesSync(() => if_indextoname(-1), OverflowError, {
    message: "can't convert negative value to unsigned int",
  });
});

// ------------------------------------------------------------------------
// Texts and values a port prints or compares, live against python3

for (const backend of ["deno", "libc"] as const) {
  const reason = either(pySkip, backend === "libc" ? libcMissing : null);
  Deno.test({
    name: skipNote(
      `${backend}: repr of an unbound socket and of unnamed unix ends, timeouts rounded up to ns, one-argument TypeErrors, recv_into's and create_server's error texts match python3`,
      reason,
    ),
    ignore: reason !== null,
    async fn() {
      const outcome = async (fn: () => unknown) => {
        try {
          await fn();
          return "ok";
        } catch (e) {
          return `${(e as Error).name}: ${(e as Error).message}`;
        }
      };
      const times = [1e-10, 0.1 + 0.2, 2, 0.5, 1.0000000001];
      using s = socket(AF_INET, SOCK_STREAM, 0, { backend });
      using s6 = socket(AF_INET6, SOCK_STREAM, 0, { backend });
      using u = socket(AF_UNIX, SOCK_STREAM, 0, { backend });
      // Connected, and neither end named: no laddr, no raddr.
      using l = socket(AF_UNIX, SOCK_STREAM, 0, { backend });
      l.bind("");
      l.listen();
      using c = socket(AF_UNIX, SOCK_STREAM, 0, { backend });
      await c.connect(l.getsockname());
      const [a] = await l.accept();
      using _a = a;
      const reprs = [s, s6, u, c, a].map((x) =>
        String(x).replace(/fd=\d+/, "fd=N").replace(
          /'\\x00[0-9a-f]{5}'/,
          "ANON",
        )
      );
      const timeouts = times.map((t) => {
        s.settimeout(t);
        return s.gettimeout();
      });
      const errors = [
        await outcome(() => (s.setblocking as () => void)()),
        await outcome(() => (s.settimeout as () => void)()),
        await outcome(() => s.recv_into("abc" as unknown as Uint8Array)),
      ];
      using busy = create_server(["127.0.0.1", 0], { backend });
      const port = (busy.getsockname() as [string, number])[1];
      errors.push(
        await outcome(() => create_server(["127.0.0.1", port], { backend })),
      );
      const expected = await py(
        `import json, socket, sys
times, port = json.load(sys.stdin)
s, s6, u = socket.socket(), socket.socket(socket.AF_INET6), socket.socket(socket.AF_UNIX)
import re
l = socket.socket(socket.AF_UNIX); l.bind(""); l.listen()
c = socket.socket(socket.AF_UNIX); c.connect(l.getsockname()); a, _ = l.accept()
reprs = [re.sub(r"'\\\\x00[0-9a-f]{5}'", "ANON", repr(x).replace("fd=%d" % x.fileno(), "fd=N")) for x in (s, s6, u, c, a)]
out = []
for t in times:
    s.settimeout(t)
    out.append(s.gettimeout())
errors = []
for f in (lambda: s.setblocking(), lambda: s.settimeout(), lambda: s.recv_into("abc"), lambda: socket.create_server(("127.0.0.1", port))):
    try:
        f()
        errors.append("ok")
    except Exception as e:
        name = {"OSError": "OSError"}.get(type(e).__name__, type(e).__name__)
        errors.append("%s: %s" % (name, e))
print(json.dumps([reprs, out, errors]))`,
        [times, port],
      );
      assert.deepEqual([reprs, timeouts, errors], expected);
    },
  });
}

// socketserver: CPython 3.11's test_socketserver (every server class served
// to CPython clients, shutdown, errors, the socket writer), the Threading
// servers' concurrency measured against the plain ones', and the class
// attribute pattern, on both backends. The libc variants are subclasses
// with `static override backend = "libc"`; unix datagram servers are libc
// only, and skipped (with the reason) without --allow-ffi.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type BackendName,
  BACKENDS,
  bytes,
  libcCase,
  onBackend,
  raises,
  skipNote,
  sleep,
  STEP_MS,
  tempUnixPath,
  text,
  withTimeout,
} from "./_helpers.ts";
import { hasPython, python, pythonJson } from "./_python.ts";
import {
  AF_INET,
  AF_UNIX,
  BinarySocketFile,
  create_connection,
  IPPROTO_TCP,
  KeyError,
  OSError,
  OverflowError,
  RuntimeError,
  SHUT_WR,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
  SOL_SOCKET,
  TCP_NODELAY,
  TimeoutError,
  ValueError,
} from "../mod.ts";
import {
  BaseRequestHandler,
  BaseServer,
  BytesIO,
  DatagramRequestHandler,
  type RequestHandlerClass,
  StreamRequestHandler,
  TCPServer,
  ThreadingMixIn,
  ThreadingTCPServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../socketserver.ts";

const TEST_STR = bytes("hello world\n");
const noPython = hasPython ? null : "no python3";

function within<T>(
  p: Promise<T>,
  what = "server call",
  ms = STEP_MS,
): Promise<T> {
  return withTimeout(p, ms, what);
}

type AnyServer = TCPServer<any, any>;
type ServerCtor = new (
  address: any,
  handler: RequestHandlerClass<any>,
  bind_and_activate?: boolean,
) => AnyServer;

// The server class on `backend`: the class itself on the default backend, a
// subclass choosing libc otherwise.
function onBackendClass(Class: ServerCtor, backend: BackendName): ServerCtor {
  if (backend === "deno") return Class;
  return class extends (Class as typeof TCPServer) {
    static override backend = "libc" as const;
  } as unknown as ServerCtor;
}

/** A server, its temp dir (unix), closed and removed on dispose. */
async function serving<T>(
  server: AnyServer,
  fn: (server: AnyServer) => Promise<T>,
  poll_interval = 0.01,
): Promise<T> {
  const loop = server.serve_forever(poll_interval);
  try {
    return await fn(server);
  } finally {
    await within(server.shutdown(), "shutdown");
    await within(loop, "serve_forever");
    await within(server.server_close(), "server_close");
  }
}

// ------------------------------------------ SocketServerTest.run_server

class EchoLineStream extends StreamRequestHandler {
  override async handle() {
    const line = await this.rfile.readline();
    await this.wfile.write(line);
  }
}

class EchoLineDatagram extends DatagramRequestHandler {
  override handle() {
    const line = this.rfile.readline();
    this.wfile.write(line);
  }
}

interface ServerCase {
  Class: ServerCtor;
  name: string;
  family: number;
  type: number;
  libcOnly?: boolean;
}

const SERVERS: ServerCase[] = [
  { Class: TCPServer, name: "TCPServer", family: AF_INET, type: SOCK_STREAM },
  {
    Class: ThreadingTCPServer,
    name: "ThreadingTCPServer",
    family: AF_INET,
    type: SOCK_STREAM,
  },
  {
    Class: UnixStreamServer,
    name: "UnixStreamServer",
    family: AF_UNIX,
    type: SOCK_STREAM,
  },
  {
    Class: ThreadingUnixStreamServer,
    name: "ThreadingUnixStreamServer",
    family: AF_UNIX,
    type: SOCK_STREAM,
  },
  { Class: UDPServer, name: "UDPServer", family: AF_INET, type: SOCK_DGRAM },
  {
    Class: ThreadingUDPServer,
    name: "ThreadingUDPServer",
    family: AF_INET,
    type: SOCK_DGRAM,
  },
  {
    Class: UnixDatagramServer,
    name: "UnixDatagramServer",
    family: AF_UNIX,
    type: SOCK_DGRAM,
    libcOnly: true,
  },
  {
    Class: ThreadingUnixDatagramServer,
    name: "ThreadingUnixDatagramServer",
    family: AF_UNIX,
    type: SOCK_DGRAM,
    libcOnly: true,
  },
];

// stream_examine / dgram_examine, three times, from CPython.
const PY_EXAMINE = String.raw`
import os, socket, sys, tempfile
family, kind, where = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
addr = ("127.0.0.1", int(where)) if family == socket.AF_INET else where
TEST_STR = b"hello world\n"
for i in range(3):
    with socket.socket(family, kind) as s:
        s.settimeout(5)
        if kind == socket.SOCK_STREAM:
            s.connect(addr)
            s.sendall(TEST_STR)
        else:
            if family == socket.AF_UNIX:
                mine = tempfile.mktemp(prefix="unix_socket.")
                s.bind(mine)
            s.sendto(TEST_STR, addr)
        buf = data = s.recv(100)
        while data and b"\n" not in buf:
            data = s.recv(100)
            buf += data
        if family == socket.AF_UNIX and kind == socket.SOCK_DGRAM:
            os.unlink(mine)
        assert buf == TEST_STR, buf
    print("ok", i, flush=True)
`;

for (const c of SERVERS) {
  for (const backend of BACKENDS) {
    if (c.libcOnly && backend === "deno") continue;
    const base = c.libcOnly
      ? libcCase(`${c.name}: CPython clients, served by serve_forever()`)
      : onBackend(
        backend,
        `${c.name}: CPython clients, served by serve_forever()`,
      );
    const reason = noPython;
    Deno.test({
      name: reason ? `${base.name} [ignored: ${reason}]` : base.name,
      ignore: base.ignore || reason !== null,
      async fn() {
        using tmp = tempUnixPath("server");
        const address = c.family === AF_INET ? ["127.0.0.1", 0] : tmp.path;
        const Handler = c.type === SOCK_STREAM
          ? EchoLineStream
          : EchoLineDatagram;
        const Class = onBackendClass(c.Class, backend);
        // make_server(): handle_error closes the request and re-raises.
        const MyServer = class extends (Class as typeof TCPServer) {
          override handle_error(request: any, _addr: any, error?: unknown) {
            this.close_request(request);
            throw error;
          }
        };
        const server = new MyServer(address as any, Handler as any);
        assert.deepEqual(server.server_address, server.socket.getsockname());
        assert.equal(server.socket.backend, backend);
        await serving(server, async () => {
          const where = c.family === AF_INET
            ? (server.server_address as [string, number])[1]
            : String(server.server_address);
          await using peer = python(PY_EXAMINE, c.family, c.type, where);
          for (let i = 0; i < 3; i++) {
            assert.equal(await peer.line(), `ok ${i}`);
          }
          const { code, stderr } = await peer.finish();
          assert.equal(code, 0, stderr);
        });
        assert.equal(server.socket.fileno(), -1);
      },
    });
  }
}

// ------------------------------ concurrency: Threading servers against plain

const SLOW_MS = 100;
const CLIENTS = 20;

class SlowStream extends StreamRequestHandler {
  override async handle() {
    const line = await this.rfile.readline();
    await sleep(SLOW_MS);
    await this.wfile.write(line);
  }
}

class SlowDatagram extends DatagramRequestHandler {
  override async handle() {
    await sleep(SLOW_MS);
    this.wfile.write(this.rfile.read());
  }
}

async function clientRound(c: ServerCase, address: any): Promise<void> {
  using s = socket(c.family, c.type);
  s.settimeout(STEP_MS / 1000);
  using tmp = tempUnixPath("client");
  if (c.type === SOCK_STREAM) {
    await s.connect(address);
    await s.sendall(TEST_STR);
  } else {
    if (c.family === AF_UNIX) s.bind(tmp.path);
    await s.sendto(TEST_STR, address);
  }
  let got = "";
  while (!got.includes("\n")) {
    const chunk = await s.recv(100);
    if (chunk.length === 0) break;
    got += text(chunk);
  }
  assert.equal(got, text(TEST_STR));
}

for (const c of SERVERS) {
  const threading = c.name.startsWith("Threading");
  const backend: BackendName = c.libcOnly ? "libc" : "deno";
  const opts = c.libcOnly
    ? libcCase(`${c.name}: ${CLIENTS} slow clients`)
    : onBackend(backend, `${c.name}: ${CLIENTS} slow clients`);
  Deno.test({
    name: `${opts.name} ${threading ? "at once" : "one after another"}`,
    ignore: opts.ignore,
    async fn() {
      using tmp = tempUnixPath("server");
      const address = c.family === AF_INET ? ["127.0.0.1", 0] : tmp.path;
      const Handler = c.type === SOCK_STREAM ? SlowStream : SlowDatagram;
      // A backlog for all the clients at once: with Python's 5, the
      // connections past it wait out a SYN retransmit (1 s), in CPython too.
      const Class = class extends (c.Class as typeof TCPServer) {
        static override request_queue_size = CLIENTS;
      };
      const server = new Class(address as any, Handler as any);
      const elapsed = await serving(server, async () => {
        const t0 = performance.now();
        const rounds = [];
        for (let i = 0; i < CLIENTS; i++) {
          rounds.push(clientRound(c, server.server_address));
        }
        await within(
          Promise.all(rounds),
          "clients",
          CLIENTS * SLOW_MS + STEP_MS,
        );
        return performance.now() - t0;
      });
      if (threading) {
        assert.ok(
          elapsed < (CLIENTS * SLOW_MS) / 2,
          `${CLIENTS} clients took ${elapsed.toFixed(0)} ms`,
        );
      } else {
        assert.ok(
          elapsed >= CLIENTS * SLOW_MS - 10,
          `${CLIENTS} clients took only ${elapsed.toFixed(0)} ms`,
        );
      }
    },
  });
}

// ------------------------------------------- test_socketserver: the rest

// How many descriptors this process has open, or null when /proc is not
// readable here (Deno reads it only with --allow-all).
// In a child process of its own (test files share this one under
// --parallel): the lowest free descriptor before and after, which a leaked
// descriptor would take.
async function leaksAfterFailedBinds(
  backend: string,
): Promise<[number, number]> {
  const code = `
import { socket } from ${JSON.stringify(import.meta.resolve("../mod.ts"))};
import { StreamRequestHandler, TCPServer } from ${
    JSON.stringify(import.meta.resolve("../socketserver.ts"))
  };
class TCP extends TCPServer { static override backend = ${
    JSON.stringify(backend)
  }; }
const lowest = () => { const s = socket(2, 1, 0, { backend: "libc" }); const n = s.fileno(); s.close(); return n; };
const before = lowest();
for (let i = 0; i < 256; i++) {
  try { new TCP(["127.0.0.1", -1], StreamRequestHandler); } catch { /* OverflowError */ }
}
console.log(JSON.stringify([before, lowest()]));
`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

for (const backend of BACKENDS) {
  const TCP = onBackendClass(TCPServer, backend) as typeof TCPServer;

  Deno.test(
    onBackend(
      backend,
      "a server made again on the same port once shutdown() and server_close() resolve binds it, and serves",
    ),
    async () => {
      // The connections' TIME_WAIT needs it, on libc as in CPython.
      class Reusing extends TCP {
        static override allow_reuse_address = true;
      }
      let server = new Reusing(["127.0.0.1", 0], EchoLineStream);
      const address = server.server_address as [string, number];
      for (let round = 0; round < 3; round++) {
        const loop = server.serve_forever(0.01);
        using c = await create_connection(address, 5);
        await c.sendall(bytes(`round ${round}\n`));
        assert.equal(text(await within(c.recv(100))), `round ${round}\n`);
        await within(server.shutdown());
        await within(loop);
        await within(server.server_close());
        server = new Reusing(address, EchoLineStream);
      }
      await server.server_close();
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a UDPServer made again on the same port once shutdown() and server_close() resolve binds it, and serves",
    ),
    async () => {
      const UDP = onBackendClass(UDPServer, backend) as typeof UDPServer;
      let server = new UDP(["127.0.0.1", 0], EchoLineDatagram);
      const address = server.server_address as [string, number];
      for (let round = 0; round < 3; round++) {
        const loop = server.serve_forever(0.01);
        using c = socket(AF_INET, SOCK_DGRAM);
        c.settimeout(5);
        await c.sendto(bytes(`round ${round}\n`), address);
        assert.equal(text(await within(c.recv(100))), `round ${round}\n`);
        await within(server.shutdown());
        await within(loop);
        await within(server.server_close());
        server = new UDP(address, EchoLineDatagram);
      }
      await server.server_close();
    },
  );

  Deno.test(
    onBackend(
      backend,
      "shutdown() always makes serve_forever() return (issue 2302)",
    ),
    async () => {
      const servers = Array.from(
        { length: 20 },
        () => new TCP(["127.0.0.1", 0], StreamRequestHandler),
      );
      const loops = servers.map((s) => s.serve_forever(0.01));
      for (const s of servers) await within(s.shutdown());
      await within(Promise.all(loops));
      for (const s of servers) await s.server_close();
    },
  );

  Deno.test(
    onBackend(backend, "a bind() that fails closes the socket (issue 22435)"),
    async () => {
      await raises(
        () => new TCP(["127.0.0.1", -1], StreamRequestHandler),
        OverflowError,
      );
      // On libc each server had a real descriptor: none is left open.
      if (backend === "libc") {
        const [before, after] = await leaksAfterFailedBinds(backend);
        assert.equal(after, before);
      }
    },
  );

  Deno.test(onBackend(backend, "await using closes the server"), async () => {
    let server: TCPServer;
    {
      await using s = new TCP(["127.0.0.1", 0], StreamRequestHandler);
      server = s;
    }
    assert.equal(server.socket.fileno(), -1);
  });

  Deno.test(
    onBackend(
      backend,
      "await using stops a serve_forever() still running, which resolves (the loop would spin on the closed socket and hold the process)",
    ),
    async () => {
      let serving: Promise<void>;
      {
        await using s = new TCP(["127.0.0.1", 0], StreamRequestHandler);
        serving = s.serve_forever(60);
        await sleep(20);
      }
      assert.equal(
        await withTimeout(serving, 2000, "serve_forever"),
        undefined,
      );
      // Not running: dispose only closes, and sets no shutdown request.
      await using idle = new TCP(["127.0.0.1", 0], StreamRequestHandler);
      await idle[Symbol.asyncDispose]();
      assert.equal(idle.socket.fileno(), -1);
    },
  );

  Deno.test(
    onBackend(
      backend,
      "server_close() without shutdown() stops a serve_forever() that is waiting, which resolves (CPython's loop spins on the closed socket until shutdown()); a shutdown() afterwards resolves at once",
    ),
    async () => {
      const server = new TCP(["127.0.0.1", 0], StreamRequestHandler);
      const serving = server.serve_forever(60);
      await sleep(20);
      await server.server_close();
      assert.equal(
        await withTimeout(serving, 2000, "serve_forever"),
        undefined,
      );
      await withTimeout(server.shutdown(), 2000, "shutdown");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "serve_forever({ signal }): an abort during a request finishes it, stops the loop and rejects with the reason; a shutdown() waiting resolves, and the server serves again",
    ),
    async () => {
      const handled: string[] = [];
      let stopping: Promise<void> | undefined;
      const controller = new AbortController();
      const reason = new Error("stop serving");
      class Handler extends StreamRequestHandler {
        override async handle() {
          const line = text(await this.rfile.readline());
          if (line === "abort\n") {
            controller.abort(reason);
            // Not awaited (the loop waits for this handler): it resolves
            // once the loop has stopped.
            stopping = this.server.shutdown();
          }
          await sleep(20);
          await this.wfile.write(bytes(`done ${line}`));
          handled.push(line);
        }
      }
      await using server = new TCP(["127.0.0.1", 0], Handler);
      const outcome = server.serve_forever(60, { signal: controller.signal })
        .then(() => "resolved", (e) => e);
      const ask = async (line: string) => {
        using c = await create_connection(server.server_address, 5);
        await c.sendall(bytes(line));
        await using f = c.makefile("rb");
        return text(await f.readline());
      };
      assert.equal(await within(ask("one\n")), "done one\n");
      assert.equal(await within(ask("abort\n")), "done abort\n");
      assert.equal(await within(outcome), reason);
      assert.ok(stopping, "the handler called shutdown()");
      await within(stopping);
      assert.deepEqual(handled, ["one\n", "abort\n"]);
      // The loop let go of everything: a new one serves.
      const again = server.serve_forever({ signal: AbortSignal.timeout(5000) });
      assert.equal(await within(ask("two\n")), "done two\n");
      await within(server.shutdown());
      await within(again);
    },
  );

  Deno.test(
    onBackend(
      backend,
      "serve_forever({ signal }) ends a long poll_interval's wait at once; an aborted signal rejects before the loop starts",
    ),
    async () => {
      await using server = new TCP(["127.0.0.1", 0], StreamRequestHandler);
      const controller = new AbortController();
      const serving = server.serve_forever(60, { signal: controller.signal });
      await sleep(20);
      const t0 = performance.now();
      controller.abort();
      await within(
        assert.rejects(serving, { name: "AbortError" }),
        "serve_forever after abort",
        2000,
      );
      assert.ok(performance.now() - t0 < 1000);
      await assert.rejects(
        server.serve_forever(0.01, { signal: controller.signal }),
        { name: "AbortError" },
      );
      // That call never ran: no loop is left running, none is refused.
      const loop = server.serve_forever(0.01);
      await within(server.shutdown());
      await within(loop);
      await assert.rejects(
        (server.serve_forever as any)({ signal: controller.signal }, 0.5),
        TypeError,
      );
    },
  );

  Deno.test(
    onBackend(
      backend,
      "handle_request({ signal }): an abort while no request came rejects with the reason, and the connection that comes next is the next call's",
    ),
    async () => {
      let handled = 0;
      class Handler extends BaseRequestHandler {
        override async handle() {
          handled++;
          await this.request.sendall(bytes("hi"));
        }
      }
      await using server = new TCP(["127.0.0.1", 0], Handler);
      const controller = new AbortController();
      const waiting = server.handle_request({ signal: controller.signal });
      await sleep(20);
      controller.abort("no more");
      await within(assert.rejects(waiting, (e) => e === "no more"));
      assert.equal(handled, 0);
      using c = await create_connection(server.server_address, 5);
      await within(
        server.handle_request({ signal: AbortSignal.timeout(5000) }),
      );
      assert.equal(handled, 1);
      assert.equal(text(await within(c.recv(10))), "hi");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "wfile writes at once, without flush(), and in full (SocketWriterTest)",
    ),
    async () => {
      const BIG = 1 << 20;
      const state: { sent1?: number; sent2?: number; received?: Uint8Array } =
        {};
      let wfileFileno = -2, requestFileno = -3;
      class Handler extends StreamRequestHandler {
        override async handle() {
          assert.ok(this.wfile instanceof BinarySocketFile);
          wfileFileno = this.wfile.fileno();
          requestFileno = this.request.fileno();
          state.sent1 = await this.wfile.write(bytes("write data\n"));
          state.received = await this.rfile.readline();
          state.sent2 = await this.wfile.write(new Uint8Array(BIG));
        }
      }
      await using server = new TCP(["127.0.0.1", 0], Handler);
      const client = (async () => {
        using s = await create_connection(server.server_address, 5);
        await using reader = s.makefile("rb");
        const response1 = await reader.readline();
        await s.sendall(bytes("client response\n"));
        const rest = await reader.read();
        return [response1, rest.length] as const;
      })();
      await within(server.handle_request());
      const [response1, received2] = await within(client);
      assert.deepEqual(response1, bytes("write data\n"));
      assert.equal(state.sent1, response1.length);
      assert.deepEqual(state.received, bytes("client response\n"));
      assert.equal(state.sent2, BIG);
      assert.equal(received2, BIG);
      assert.equal(wfileFileno, requestFileno);
    },
  );

  Deno.test(
    onBackend(
      backend,
      "shutdown_request() is called when verify_request() says no (issue 26309)",
    ),
    async () => {
      let calls = 0;
      class MyServer extends TCP {
        override verify_request() {
          return false;
        }
        override shutdown_request(request: Socket) {
          calls++;
          return super.shutdown_request(request);
        }
      }
      await using server = new MyServer(["127.0.0.1", 0], StreamRequestHandler);
      const s = await create_connection(server.server_address);
      s.close();
      await within(server.handle_request());
      assert.equal(calls, 1);
    },
  );
}

Deno.test("ThreadingMixIn(TCPServer): server_close() right away (test_close_immediately)", async () => {
  class MyServer extends ThreadingMixIn(TCPServer) {}
  const server = new MyServer(["127.0.0.1", 0], StreamRequestHandler);
  await within(server.server_close());
  assert.equal(server.socket.fileno(), -1);
});

// ErrorHandlerTest: an error in handle() goes to handle_error(), and an
// error out of handle_error() itself (Python's SystemExit case) is not
// swallowed.
for (const threading of [false, true]) {
  const kind = threading ? "threading" : "sync";
  Deno.test(`handle_error(): ${kind} handler errors are handled`, async () => {
    const log: string[] = [];
    class BadHandler extends BaseRequestHandler {
      override handle() {
        log.push("Handler called");
        throw new ValueError("Test error");
      }
    }
    class Base extends TCPServer {
      override handle_error() {
        log.push("Error handled");
      }
    }
    const Class = threading ? class extends ThreadingMixIn(Base) {} : Base;
    const server = new Class(["127.0.0.1", 0], BadHandler);
    (await create_connection(server.server_address)).close();
    try {
      await within(server.handle_request());
    } finally {
      await within(server.server_close());
    }
    assert.deepEqual(log, ["Handler called", "Error handled"]);
  });
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "a StreamRequestHandler whose setup() throws after making rfile and wfile: they are closed with the request, and the descriptor with them, as python3's are by the time handle_request() returns (reference counting; the test keeps the handler only to look)",
    ),
    async () => {
      let made: StreamRequestHandler | null = null;
      class Handler extends StreamRequestHandler {
        override setup() {
          super.setup();
          made = this;
          throw new ValueError("setup failed");
        }
      }
      class Server extends onBackendClass(TCPServer, backend) {
        errors: unknown[] = [];
        override handle_error(_r: unknown, _a: unknown, error?: unknown) {
          this.errors.push(error);
        }
      }
      await using server = new Server(["127.0.0.1", 0], Handler);
      using client = await within(create_connection(server.server_address));
      await within(server.handle_request());
      assert.equal(server.errors.length, 1);
      const handler = made as StreamRequestHandler | null;
      assert.ok(handler !== null);
      assert.ok(handler.rfile.closed && handler.wfile.closed);
      assert.equal(handler.request.fileno(), -1);
      // The server's side is gone: EOF (TCPServer shuts it down first).
      client.settimeout(STEP_MS / 1000);
      assert.equal((await within(client.recv(10))).length, 0);
    },
  );
}

Deno.test("handle_error(): one that throws stops handle_request() (Python's not-handled case)", async () => {
  class BadHandler extends BaseRequestHandler {
    override handle() {
      throw new ValueError("Test error");
    }
  }
  class Server extends TCPServer {
    override handle_error(request: Socket, _a: unknown, error?: unknown) {
      this.close_request(request); // as test_socketserver's MyServer does
      throw error;
    }
  }
  await using server = new Server(["127.0.0.1", 0], BadHandler);
  (await create_connection(server.server_address)).close();
  await assert.rejects(within(server.handle_request()), ValueError);
});

async function capturingStderr<T>(fn: () => Promise<T>): Promise<[T, string]> {
  const original = console.error;
  const lines: string[] = [];
  console.error = (...args: unknown[]) => {
    lines.push(args.map(String).join(" "));
  };
  try {
    return [await fn(), lines.join("\n")];
  } finally {
    console.error = original;
  }
}

Deno.test("a RequestHandlerClass that is not a class reaches handle_error() as python3's TypeError ('int' object is not callable)", async () => {
  const errors: unknown[] = [];
  class Server extends TCPServer {
    override handle_error(_request: unknown, _address: unknown, e: unknown) {
      errors.push(e);
    }
  }
  const server = new Server(
    ["127.0.0.1", 0],
    5 as unknown as typeof StreamRequestHandler,
  );
  try {
    using c = await create_connection(server.server_address, 5);
    await within(server.handle_request());
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof TypeError);
    assert.equal((errors[0] as Error).message, "'int' object is not callable");
    assert.equal((await within(c.recv(10))).length, 0);
  } finally {
    await server.server_close();
  }
});

Deno.test("handle_error(): the default prints as Python does and serving goes on", async () => {
  let calls = 0;
  class Handler extends StreamRequestHandler {
    override async handle() {
      if (calls++ === 0) throw new ValueError("first request fails");
      await this.wfile.write(await this.rfile.readline());
    }
  }
  const server = new TCPServer(["127.0.0.1", 0], Handler);
  const [, stderr] = await capturingStderr(() =>
    serving(server, async () => {
      const first = await create_connection(server.server_address, 5);
      assert.equal((await within(first.recv(10))).length, 0);
      first.close();
      using second = await create_connection(server.server_address, 5);
      await second.sendall(bytes("again\n"));
      assert.deepEqual(await within(second.recv(10)), bytes("again\n"));
    })
  );
  const [host, port] = [server.server_address[0], server.server_address[1]];
  void host;
  const lines = stderr.split("\n");
  assert.equal(lines[0], "-".repeat(40));
  assert.match(
    lines[1],
    /^Exception occurred during processing of request from \('127\.0\.0\.1', \d+\)$/,
  );
  assert.match(stderr, /ValueError: first request fails/);
  assert.equal(lines.at(-1), "-".repeat(40));
  assert.ok(port > 0);
});

Deno.test("handle() and finish() both throw: finish()'s error reaches handle_error() with handle()'s as its context, and the default prints the chain as python3 does", async () => {
  // python3: handle_error() sees the KeyError, whose __context__ is the
  // ValueError; traceback prints the ValueError's, "During handling of the
  // above exception, another exception occurred:", then the KeyError's.
  class Handler extends BaseRequestHandler {
    override handle() {
      throw new ValueError("in handle");
    }
    override finish() {
      throw new KeyError("in finish");
    }
  }
  const seen: unknown[] = [];
  class Server extends TCPServer {
    override handle_error(request: Socket, address: any, error?: unknown) {
      seen.push(error);
      return super.handle_error(request, address, error);
    }
  }
  const server = new Server(["127.0.0.1", 0], Handler);
  const [, stderr] = await capturingStderr(async () => {
    try {
      using c = await create_connection(server.server_address, 5);
      await within(server.handle_request());
      assert.equal((await within(c.recv(10))).length, 0);
    } finally {
      await server.server_close();
    }
  });
  assert.equal(seen.length, 1);
  assert.ok(seen[0] instanceof KeyError);
  assert.ok((seen[0] as Error).cause instanceof ValueError);
  const lines = stderr.split("\n");
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const first = at(/^ValueError: in handle$/);
  const joint = lines.indexOf(
    "During handling of the above exception, another exception occurred:",
  );
  const last = at(/^KeyError: 'in finish'$/);
  assert.ok(0 < first && first < joint && joint < last, stderr);
  assert.equal(lines[joint - 1], "");
  assert.equal(lines[joint + 1], "");
  assert.equal(lines.at(-1), "-".repeat(40));
});

Deno.test(
  libcCase(
    "handle_error(): an abstract unix client address prints as Python's bytes repr",
  ),
  async () => {
    using tmp = tempUnixPath("srv");
    class Handler extends DatagramRequestHandler<Uint8Array> {
      override handle() {
        throw new ValueError("boom");
      }
    }
    await using server = new UnixDatagramServer(tmp.path, Handler);
    using client = socket(AF_UNIX, SOCK_DGRAM);
    // Python: repr(b"\0q'\t\n\\x") is b"\x00q'\t\n\\x" (double quotes,
    // as the bytes hold a single one; \t, \n, \\ as escapes).
    const name = new Uint8Array([
      0,
      ...bytes(`q'\t\n\\${crypto.randomUUID()}`),
    ]);
    client.bind(name);
    await client.sendto(bytes("hi"), tmp.path);
    const [, stderr] = await capturingStderr(() =>
      within(server.handle_request())
    );
    const tail = text(name.subarray(2 + 4));
    assert.equal(
      stderr.split("\n")[1],
      `Exception occurred during processing of request from b"\\x00q'\\t\\n\\\\${tail}"`,
    );
  },
);

Deno.test("StreamRequestHandler: wfile (wbufsize 0) writes after close() while the socket is open, as Python's _SocketWriter", async () => {
  let handler: StreamRequestHandler | undefined;
  const seen: unknown[] = [];
  class Handler extends StreamRequestHandler {
    override async handle() {
      await this.wfile.close();
      seen.push(this.wfile.closed, await this.wfile.write(bytes("after\n")));
      handler = this;
    }
  }
  await using server = new TCPServer(["127.0.0.1", 0], Handler);
  using client = await create_connection(server.server_address, 5);
  await within(server.handle_request());
  assert.deepEqual(seen, [true, 6]);
  assert.deepEqual(await within(client.recv(100)), bytes("after\n"));
  // The request is over and its socket closed: EBADF, as Python's.
  await assert.rejects(handler!.wfile.write(bytes("x")), { errno: 9 });
});

Deno.test("Threading: a handle_error() that throws is reported and the server goes on", async () => {
  class BadHandler extends BaseRequestHandler {
    override handle() {
      throw new ValueError("Test error");
    }
  }
  class Server extends ThreadingTCPServer {
    override handle_error(_r: unknown, _a: unknown, error?: unknown) {
      throw error;
    }
  }
  const server = new Server(["127.0.0.1", 0], BadHandler);
  const [, stderr] = await capturingStderr(async () => {
    (await create_connection(server.server_address)).close();
    await within(server.handle_request());
    await within(server.server_close());
  });
  assert.match(stderr, /^Exception in request task:/);
  assert.match(stderr, /ValueError: Test error/);
});

Deno.test("handle_error() that raises an error of its own: the request's error is its context, as in python3 (plain: handle_request() rejects with it; Threading: the report prints the chain)", async () => {
  class BadHandler extends BaseRequestHandler {
    override handle() {
      throw new ValueError("in handle");
    }
  }
  const failing = <B extends typeof TCPServer>(Base: B) =>
    class extends (Base as typeof TCPServer) {
      override handle_error(request: Socket): never {
        this.close_request(request); // not shut down after this, as in Python
        throw new RuntimeError("in handle_error");
      }
    };
  {
    // python3: RuntimeError('in handle_error'), __context__ ValueError.
    await using server = new (failing(TCPServer))(
      ["127.0.0.1", 0],
      BadHandler,
    );
    using _c = await create_connection(server.server_address);
    const error = await within(server.handle_request()).then(
      () => assert.fail("handle_request() resolved"),
      (e) => e,
    );
    assert.ok(error instanceof RuntimeError, String(error));
    assert.ok(error.cause instanceof ValueError);
  }
  // python3's threading.excepthook: the ValueError's traceback, "During
  // handling of the above exception, another exception occurred:", the
  // RuntimeError's.
  const server = new (failing(ThreadingTCPServer))(
    ["127.0.0.1", 0],
    BadHandler,
  );
  const [, stderr] = await capturingStderr(async () => {
    (await create_connection(server.server_address)).close();
    await within(server.handle_request());
    await within(server.server_close());
  });
  assert.match(
    stderr,
    /^Exception in request task:\nValueError: in handle\n[^]*\n\nDuring handling of the above exception, another exception occurred:\n\nRuntimeError: in handle_error\n/,
  );
});

Deno.test("Threading: server_close() from one of the server's own handlers closes the socket and raises python3's RuntimeError('cannot join current thread') instead of waiting for itself", async () => {
  const seen: string[] = [];
  class Handler extends BaseRequestHandler {
    override async handle() {
      try {
        await within(this.server.server_close(), "server_close in handler");
        seen.push("returned");
      } catch (e) {
        seen.push(`${(e as Error).name}: ${(e as Error).message}`);
        seen.push(`fileno ${this.server.fileno()}`);
      }
    }
  }
  const server = new ThreadingTCPServer(["127.0.0.1", 0], Handler);
  using _c = await create_connection(server.server_address);
  await within(server.handle_request());
  await within(server.server_close());
  assert.deepEqual(seen, [
    "RuntimeError: cannot join current thread",
    "fileno -1",
  ]);
});

Deno.test("Threading: once a request was served with block_on_close, server_close() waits for every later non-daemon handler, even after block_on_close is turned off (python3: both handlers done)", async () => {
  const done: string[] = [];
  class Slow extends BaseRequestHandler {
    override async handle() {
      await sleep(150);
      done.push(new TextDecoder().decode(await this.request.recv(5)));
    }
  }
  const server = new ThreadingTCPServer(["127.0.0.1", 0], Slow);
  using c1 = await create_connection(server.server_address);
  await c1.sendall(bytes("1"));
  await within(server.handle_request());
  server.block_on_close = false;
  using c2 = await create_connection(server.server_address);
  await c2.sendall(bytes("2"));
  await within(server.handle_request());
  await within(server.server_close());
  assert.deepEqual(done, ["1", "2"]);
});

// ------------------------------------------------ class attributes, hooks

Deno.test({
  name: skipNote(
    "server classes have Python's class names (__name__)",
    noPython,
  ),
  ignore: noPython !== null,
  fn: async () => {
    const classes: Record<string, { name: string }> = {
      BaseServer,
      TCPServer,
      UDPServer,
      UnixStreamServer,
      UnixDatagramServer,
      ThreadingTCPServer,
      ThreadingUDPServer,
      ThreadingUnixStreamServer,
      ThreadingUnixDatagramServer,
    };
    const names = await pythonJson(
      `import json, socketserver, sys
print(json.dumps([getattr(socketserver, n).__name__ for n in json.load(sys.stdin)]))`,
      Object.keys(classes),
    );
    assert.deepEqual(Object.values(classes).map((c) => c.name), names);
    class Mine extends ThreadingMixIn(TCPServer) {}
    assert.equal(Mine.name, "Mine");
  },
});

Deno.test("class attributes: static override in a subclass, instance assignment, module-wide", async () => {
  class Reusing extends TCPServer {
    static override allow_reuse_address = true;
    static override request_queue_size = 1;
  }
  await using a = new Reusing(["127.0.0.1", 0], StreamRequestHandler);
  assert.notEqual(a.socket.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
  assert.equal(a.request_queue_size, 1);
  await using b = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
  assert.equal(b.socket.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
  // An instance's own value wins; the class keeps its own.
  b.timeout = 0.01;
  assert.equal(b.timeout, 0.01);
  assert.equal(TCPServer.timeout, null);
  // Python's `socketserver.TCPServer.allow_reuse_address = True`: a
  // subclass that does not set its own inherits it; UDPServer has its own
  // (False for both reuse options), as Python's.
  TCPServer.allow_reuse_address = true;
  TCPServer.allow_reuse_port = true;
  try {
    await using c = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
    assert.notEqual(c.socket.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
    assert.equal(Reusing.allow_reuse_address, true);
    assert.equal(UDPServer.allow_reuse_address, false);
    assert.equal(UDPServer.allow_reuse_port, false);
    await using u = new UDPServer(["127.0.0.1", 0], DatagramRequestHandler);
    assert.equal(u.socket.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
    assert.equal(u.socket.backend, "deno", "SO_REUSEPORT was not asked for");
  } finally {
    TCPServer.allow_reuse_address = false;
    TCPServer.allow_reuse_port = false;
  }
});

Deno.test(
  libcCase(
    "allow_reuse_port sets SO_REUSEPORT, on libc also where no backend was named (as create_server does): two TCP and two UDP servers share a port, as python3's",
  ),
  async () => {
    class Server extends TCPServer {
      static override allow_reuse_port = true;
      static override backend = "libc" as const;
    }
    await using server = new Server(["127.0.0.1", 0], StreamRequestHandler);
    assert.notEqual(server.socket.getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    class Tcp extends TCPServer {
      static override allow_reuse_port = true;
    }
    class Udp extends UDPServer {
      static override allow_reuse_port = true;
    }
    for (const Class of [Tcp, Udp]) {
      await using a = new Class(["127.0.0.1", 0], BaseRequestHandler);
      await using b = new Class(a.server_address, BaseRequestHandler);
      assert.deepEqual(b.server_address, a.server_address);
      assert.notEqual(b.socket.getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    }
  },
);

Deno.test("handle_request(): handle_timeout() when timeout passes with no request", async () => {
  let timeouts = 0;
  class Server extends TCPServer {
    static override timeout = 0.05;
    override handle_timeout() {
      timeouts++;
    }
  }
  await using server = new Server(["127.0.0.1", 0], StreamRequestHandler);
  const t0 = performance.now();
  await within(server.handle_request());
  assert.equal(timeouts, 1);
  assert.ok(performance.now() - t0 >= 40);
  // The socket's own timeout counts too, the shorter one winning.
  server.timeout = null;
  server.socket.settimeout(0.02);
  await within(server.handle_request());
  assert.equal(timeouts, 2);
});

Deno.test("serve_forever(): service_actions() runs on every turn", async () => {
  let turns = 0;
  class Server extends TCPServer {
    override service_actions() {
      turns++;
    }
  }
  const server = new Server(["127.0.0.1", 0], StreamRequestHandler);
  await serving(server, () => sleep(100), 0.01);
  assert.ok(turns >= 3, `${turns} turns`);
});

Deno.test("serve_forever() twice at once is refused", async () => {
  const server = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
  await serving(server, async () => {
    await assert.rejects(server.serve_forever(), RuntimeError);
  });
});

Deno.test("shutdown() before serve_forever() starts waits for it, and that loop returns at once (Python's test_shutdown race)", async () => {
  await using server = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
  let stopped = false;
  const stopping = server.shutdown().then(() => stopped = true);
  await sleep(50);
  assert.equal(stopped, false, "no loop has run yet");
  await within(server.serve_forever(0.01));
  await within(stopping);
});

Deno.test("shutdown() after the loop has ended resolves at once, and the next serve_forever() returns at once (as Python)", async () => {
  await using server = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
  const serving = server.serve_forever(0.01);
  await within(server.shutdown());
  await within(serving);
  await within(server.shutdown());
  await within(server.serve_forever(0.01));
  // The flag is spent: the loop after that one serves until shut down.
  let ended = false;
  const again = server.serve_forever(0.01).then(() => ended = true);
  await sleep(50);
  assert.equal(ended, false);
  await within(server.shutdown());
  await within(again);
});

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "connections that come after serve_forever() stopped wait to be served, and server_close() resets them (on the Deno backend the one its accept in flight took may read EOF, README)",
    ),
    async () => {
      const Class = onBackendClass(TCPServer, backend);
      const server = new Class(["127.0.0.1", 0], StreamRequestHandler);
      const loop = server.serve_forever(0.01);
      await sleep(30); // the loop's select() waits: an accept in flight
      await within(server.shutdown());
      await within(loop);
      const clients: Socket[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const c = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
          clients.push(c);
          c.settimeout(STEP_MS / 1000);
          await within(c.connect(server.server_address));
          await within(c.sendall(bytes("late\n")));
          c.shutdown(SHUT_WR);
        }
        await within(server.server_close());
        const ends: string[] = [];
        for (const c of clients) {
          try {
            ends.push((await within(c.recv(10))).length === 0 ? "EOF" : "data");
          } catch (e) {
            ends.push((e as Error).constructor.name);
          }
        }
        // python3 (and libc): both reset, as Linux resets what a closed
        // listener had queued. On the Deno backend the first reads EOF if
        // Deno's accept in flight took it before the close (when the event
        // loop polled meanwhile): never the second.
        const [first, second] = ends;
        assert.equal(second, "ConnectionResetError");
        assert.ok(
          first === "ConnectionResetError" ||
            (backend === "deno" && first === "EOF"),
          `the first client: ${first}`,
        );
      } finally {
        for (const c of clients) c.close();
        await server.server_close();
      }
    },
  );
}

Deno.test("bind_and_activate = false: server_bind() and server_activate() by hand", async () => {
  class Server extends TCPServer {
    static override allow_reuse_address = true;
  }
  await using server = new Server(
    ["127.0.0.1", 0],
    StreamRequestHandler,
    false,
  );
  assert.deepEqual(server.server_address, ["127.0.0.1", 0]);
  server.server_bind();
  server.server_activate();
  assert.ok(server.server_address[1] > 0);
  using c = await create_connection(server.server_address);
  assert.ok(c.fileno() >= 0);
});

Deno.test("a constructor whose server_activate() fails closes the socket and raises that error, also past a server_close() that fails", async () => {
  const taken = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
  try {
    const closed: boolean[] = [];
    // server_close() fails as a subclass's does when it reads a field its
    // constructor has not set yet: its error wins, caused by the first.
    class Fragile extends TCPServer {
      declare readonly log: string[];
      override server_close(): Promise<void> {
        closed.push(true);
        this.log.push("closing");
        return super.server_close();
      }
    }
    let err: unknown;
    try {
      new Fragile(taken.server_address, StreamRequestHandler);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof TypeError, String(err));
    assert.ok((err as Error).cause instanceof OSError);
    assert.equal(((err as Error).cause as OSError).errno, 98);
    assert.deepEqual(closed, [true]);
    // An async server_close() that fails leaves the first error to raise,
    // and no unhandled rejection.
    class Later extends TCPServer {
      override async server_close(): Promise<void> {
        await super.server_close();
        throw new Error("later");
      }
    }
    assert.throws(
      () => new Later(taken.server_address, StreamRequestHandler),
      { name: "OSError", errno: 98 },
    );
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    await taken.server_close();
  }
});

Deno.test("StreamRequestHandler: timeout, disable_nagle_algorithm, rbufsize and wbufsize", async () => {
  const seen: Record<string, unknown> = {};
  class Handler extends StreamRequestHandler {
    static override timeout = 0.05;
    static override disable_nagle_algorithm = true;
    static override rbufsize = 0;
    static override wbufsize = 1024;
    override async handle() {
      seen.timeout = this.connection.gettimeout();
      seen.nodelay = this.connection.getsockopt(IPPROTO_TCP, TCP_NODELAY);
      seen.rfile = this.rfile.toString();
      seen.wfile = this.wfile.toString();
      await this.wfile.write(bytes("buffered until finish()\n"));
      try {
        await this.rfile.readline();
      } catch (e) {
        seen.error = e;
      }
    }
  }
  await using server = new TCPServer(["127.0.0.1", 0], Handler);
  using client = await create_connection(server.server_address, 5);
  await within(server.handle_request());
  assert.equal(seen.timeout, 0.05);
  assert.notEqual(seen.nodelay, 0);
  assert.match(String(seen.rfile), /^<socket\.SocketIO/);
  assert.match(String(seen.wfile), /^<_io\.BufferedWriter/);
  assert.ok(seen.error instanceof TimeoutError);
  assert.deepEqual(
    await within(client.recv(100)),
    bytes("buffered until finish()\n"),
  );
});

Deno.test("DatagramRequestHandler: rfile holds the datagram; an empty wfile sends an empty reply", async () => {
  const seen: Uint8Array[] = [];
  class Handler extends DatagramRequestHandler {
    override handle() {
      seen.push(this.rfile.read(), this.packet);
    }
  }
  await using server = new UDPServer(["127.0.0.1", 0], Handler);
  using client = socket(AF_INET, SOCK_DGRAM);
  client.settimeout(5);
  await client.sendto(bytes("ping"), server.server_address);
  await within(server.handle_request());
  assert.deepEqual(seen, [bytes("ping"), bytes("ping")]);
  assert.deepEqual(await within(client.recv(100)), new Uint8Array(0));
});

Deno.test("UDPServer: max_packet_size bounds what is read of a datagram", async () => {
  const seen: number[] = [];
  class Handler extends DatagramRequestHandler {
    override handle() {
      seen.push(this.packet.length);
    }
  }
  class Small extends UDPServer {
    static override max_packet_size = 4;
  }
  await using server = new Small(["127.0.0.1", 0], Handler);
  using client = socket(AF_INET, SOCK_DGRAM);
  await client.sendto(new Uint8Array(100), server.server_address);
  await within(server.handle_request());
  assert.deepEqual(seen, [4]);
});

Deno.test("typing: the patterns of Python's socketserver docs compile without casts", async () => {
  // A server with state of its own, reached from the handler.
  class Store extends ThreadingTCPServer {
    data = new Map<string, string>();
  }
  class Handler extends StreamRequestHandler<[host: string, port: number]> {
    declare server: Store;
    override async handle() {
      const [host, port] = this.client_address;
      const key = new TextDecoder().decode(await this.rfile.readline()).trim();
      this.server.data.set(key, `${host}:${port}`);
      await this.wfile.write(bytes(`${this.server.data.size}\n`));
    }
  }
  await using server = new Store(["127.0.0.1", 0], Handler);
  const [HOST, PORT] = server.server_address;
  using client = await create_connection([HOST, PORT]);
  await client.sendall(bytes("k\n"));
  await within(server.handle_request());
  assert.deepEqual(await within(client.recv(10)), bytes("1\n"));
  assert.match(server.data.get("k")!, /^127\.0\.0\.1:\d+$/);
  // A datagram handler replies with sendto(data, client_address).
  class Upper extends DatagramRequestHandler {
    override async handle() {
      const [data, sock] = this.request;
      await sock.sendto(data.map((c) => c - 32), this.client_address);
    }
  }
  await using udp = new UDPServer(["127.0.0.1", 0], Upper);
  using u = socket(AF_INET, SOCK_DGRAM);
  await u.sendto(bytes("abc"), udp.server_address);
  await within(udp.handle_request());
  // Upper's own reply, then finish()'s (empty) wfile.
  assert.deepEqual(await within(u.recv(10)), bytes("ABC"));
  assert.deepEqual(await within(u.recv(10)), new Uint8Array(0));
  // BaseServer is abstract; subclasses must give get_request and fileno.
  assert.ok(server instanceof BaseServer);
  // Types only (never called): a handler for the other kind of request
  // does not fit, also where the server class is generic in its request.
  const _mismatched = () => [
    // @ts-expect-error: a datagram handler on a stream server
    new TCPServer(["127.0.0.1", 0], Upper),
    // @ts-expect-error: a datagram handler on a Threading stream server
    new ThreadingTCPServer(["127.0.0.1", 0], Upper),
    // @ts-expect-error: a stream handler on a datagram server
    new UDPServer(["127.0.0.1", 0], StreamRequestHandler),
  ];
});

Deno.test("BytesIO: Python's io.BytesIO for datagram handlers", () => {
  const f = new BytesIO(bytes("line 1\nline 2\nrest"));
  assert.deepEqual(f.readline(), bytes("line 1\n"));
  assert.deepEqual(f.readline(3), bytes("lin"));
  assert.deepEqual(f.readlines(), [bytes("e 2\n"), bytes("rest")]);
  assert.deepEqual(f.read(), new Uint8Array(0));
  f.seek(0);
  assert.deepEqual(f.read(4), bytes("line"));
  assert.equal(f.tell(), 4);
  f.seek(0, 2);
  f.write(bytes("!"));
  assert.deepEqual(f.getvalue(), bytes("line 1\nline 2\nrest!"));
  const buf = new Uint8Array(3);
  f.seek(1);
  assert.equal(f.readinto(buf), 3);
  assert.deepEqual(buf, bytes("ine"));
  f.close();
  assert.throws(() => f.read(), { message: "I/O operation on closed file." });
  assert.throws(() => new BytesIO().write("x" as never), TypeError);
});

// Random operation sequences on BytesIO and io.BytesIO: every result, the
// position after each call, and every error class and message the same.
const BYTESIO_OPS = `
import io, json, sys
out = []
for init, ops in json.load(sys.stdin):
    f = io.BytesIO(init.encode("latin-1"))
    got = []
    for op in ops:
        try:
            k = op[0]
            if k == "seek": r = f.seek(op[1], op[2])
            elif k == "write": r = f.write(op[1].encode("latin-1"))
            elif k == "readinto":
                b = bytearray(op[1]); n = f.readinto(b); r = [n, b.decode("latin-1")]
            elif k == "readlines": r = [x.decode("latin-1") for x in f.readlines(op[1])]
            elif k == "iter": r = [x.decode("latin-1") for x in f]
            elif k == "truncate": r = f.truncate(op[1])
            elif k in ("readable", "writable", "seekable", "isatty", "close"): r = getattr(f, k)()
            elif k == "tell": r = f.tell()
            elif k == "getvalue": r = f.getvalue().decode("latin-1")
            else: r = getattr(f, k)(op[1]).decode("latin-1")
            got.append([r, f.tell()])
        except Exception as e:
            got.append([type(e).__name__, str(e)])
    out.append(got)
print(json.dumps(out))
`;

Deno.test({
  name: skipNote(
    "BytesIO: 400 random operation sequences go as python3's io.BytesIO",
    noPython,
  ),
  ignore: noPython !== null,
}, async () => {
  const latin1 = (b: Uint8Array) => String.fromCharCode(...b);
  const op = fc.oneof(
    fc.tuple(
      fc.constantFrom("read", "read1", "readline"),
      fc.constantFrom(null, -1, 0, 1, 2, 3, 5, 20),
    ),
    fc.tuple(fc.constant("readlines"), fc.constantFrom(null, -1, 0, 1, 3, 6)),
    fc.tuple(
      fc.constant("seek"),
      fc.integer({ min: -20, max: 20 }),
      fc.constantFrom(0, 1, 2),
    ),
    fc.tuple(fc.constant("write"), fc.stringMatching(/^[xy\n]{0,5}$/)),
    fc.tuple(fc.constant("readinto"), fc.integer({ min: 0, max: 6 })),
    fc.tuple(fc.constantFrom("tell", "getvalue", "iter")),
    fc.tuple(fc.constant("truncate"), fc.constantFrom(null, -1, 0, 1, 2, 4, 8)),
    fc.tuple(
      fc.constantFrom("readable", "writable", "seekable", "isatty", "close"),
    ),
  );
  const seqs = fc.sample(
    fc.tuple(
      fc.stringMatching(/^[ab\n]{0,12}$/),
      fc.array(op, { minLength: 1, maxLength: 12 }),
    ),
    { seed: 12345, numRuns: 400 },
  );
  const ours = seqs.map(([init, ops]) => {
    const f = new BytesIO(bytes(init));
    return ops.map((o) => {
      try {
        const [k, a, b] = o as [string, any, any];
        let r: unknown;
        if (k === "seek") r = f.seek(a, b);
        else if (k === "write") r = f.write(bytes(a));
        else if (k === "readinto") {
          const buf = new Uint8Array(a);
          r = [f.readinto(buf), latin1(buf)];
        } else if (k === "readlines") r = f.readlines(a).map(latin1);
        else if (k === "iter") r = [...f].map(latin1);
        else if (k === "truncate") r = f.truncate(a);
        else if (
          ["readable", "writable", "seekable", "isatty", "close"].includes(k)
        ) {
          r = (f as unknown as Record<string, () => unknown>)[k]() ?? null;
        } else if (k === "tell") r = f.tell();
        else if (k === "getvalue") r = latin1(f.getvalue());
        else {
          r = latin1(
            (f as unknown as Record<string, (n: unknown) => Uint8Array>)[k](a),
          );
        }
        return [r, f.tell()];
      } catch (e) {
        return [(e as Error).name, (e as Error).message];
      }
    });
  });
  const theirs = await pythonJson(BYTESIO_OPS, seqs) as unknown[];
  for (let i = 0; i < seqs.length; i++) {
    assert.deepEqual(ours[i], theirs[i], JSON.stringify(seqs[i]));
  }
});

Deno.test(
  libcCase("unix datagram server replies to the client's bound path"),
  async () => {
    using tmp = tempUnixPath("srv");
    using ctmp = tempUnixPath("cli");
    class Echo extends DatagramRequestHandler {
      override handle() {
        this.wfile.write(this.rfile.read());
      }
    }
    await using server = new UnixDatagramServer(tmp.path, Echo);
    using client = socket(AF_UNIX, SOCK_DGRAM);
    client.bind(ctmp.path);
    await client.sendto(bytes("unix"), server.server_address as string);
    await within(server.handle_request());
    assert.deepEqual(await within(client.recv(10)), bytes("unix"));
  },
);

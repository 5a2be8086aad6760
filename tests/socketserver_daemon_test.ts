// socketserver's daemon_threads: a ThreadingTCPServer's handler waiting on
// an idle client of another process (python3) keeps the process running
// only where CPython's thread would. Each case runs a server process
// (_daemon_child.ts on each backend, and its python3 twin below as the
// reference) that ends its main program after shutdown() and
// server_close(), and looks at whether it exits by itself.
import assert from "node:assert/strict";
import { type BackendName, BACKENDS, onBackend } from "./_helpers.ts";
import { hasPython, PY_START_MS, python } from "./_python.ts";

// How long a process whose main program has ended may take to exit.
const EXIT_MS = 5000;
// How long a process that must stay running is watched.
const HOLD_MS = 1000;
// The longest a server's next line may take (python3's shutdown() polls
// every 0.5 s), a bound for a hang only.
const LINE_MS = 10_000;

// _daemon_child.ts in python3: args daemon_threads, block_on_close, how.
const PY_SERVER = `
import socketserver, sys, threading, time
daemon, block, how = sys.argv[1] == "1", sys.argv[2] == "1", sys.argv[3]
waiting = threading.Event()
class Handler(socketserver.StreamRequestHandler):
    timeout = 60 if how == "timeout" else None
    def handle(self):
        waiting.set()
        if how == "readline": self.rfile.readline()
        elif how == "sendall": self.request.sendall(bytes(1 << 26))
        else: self.request.recv(10)
class Server(socketserver.ThreadingTCPServer):
    daemon_threads = daemon
    block_on_close = block
server = Server(("127.0.0.1", 0), Handler)
loop = threading.Thread(target=server.serve_forever)
loop.start()
print(server.server_address[1], flush=True)
waiting.wait()
time.sleep(0.2)
server.shutdown()
loop.join()
print("closing", flush=True)
server.server_close()
print("closed", flush=True)
`;

// Connects, says so, and never sends nor reads; killed by the test.
const IDLE_CLIENT = `
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
time.sleep(120)
`;

/** A server process: its stdout read by lines; killed on dispose. */
interface ServerProcess extends AsyncDisposable {
  /** The next line, within `ms`. */
  line(ms?: number): Promise<string>;
  /** Whether it printed nothing more and kept running for `ms`. */
  quiet(ms: number): Promise<boolean>;
  /** Whether it exited within `ms`, with status 0. */
  exits(ms: number): Promise<boolean>;
  /** What it wrote to stderr so far (once it has exited: all of it). */
  stderr(): string;
}

function serverProcess(command: string, args: string[]): ServerProcess {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  let exited = false;
  let changed = Promise.withResolvers<void>();
  const note = () => {
    changed.resolve();
    changed = Promise.withResolvers();
  };
  const read = async (
    stream: ReadableStream<Uint8Array>,
    to: "out" | "err",
  ) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      if (to === "out") out += chunk;
      else err += chunk;
      note();
    }
  };
  const pumps = Promise.all([
    read(child.stdout, "out"),
    read(child.stderr, "err"),
  ]);
  const status = child.status.then((s) => {
    exited = true;
    note();
    return s;
  });
  // Resolves true on a change, false once `deadline` has passed.
  const change = async (deadline: number): Promise<boolean> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(
        () => resolve(false),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      return await Promise.race([changed.promise.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    async line(ms = LINE_MS) {
      const deadline = Date.now() + ms;
      while (!out.includes("\n")) {
        if (exited || !await change(deadline)) {
          throw new Error(
            `no line from the server in ${ms} ms${
              exited ? " (it exited)" : ""
            }; stderr: ${err}`,
          );
        }
      }
      const i = out.indexOf("\n");
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      return line;
    },
    async quiet(ms) {
      const deadline = Date.now() + ms;
      while (!exited && out === "") {
        if (!await change(deadline)) return true;
      }
      return false;
    },
    async exits(ms) {
      const deadline = Date.now() + ms;
      while (!exited) if (!await change(deadline)) return false;
      return (await status).success;
    },
    stderr: () => err,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has exited already.
      }
      await status;
      await pumps;
    },
  };
}

/** What a server process is expected to do once server_close() was called. */
type Expect =
  /** Its main program ends, and the process exits with the client idle. */
  | "exits"
  /** server_close() waits for the handler: returns once the client closes. */
  | "joins"
  /** server_close() returns, and the process runs until the client closes. */
  | "lingers";

async function serveIdleClient(
  server: ServerProcess,
  expect: Expect,
): Promise<void> {
  const port = Number(await server.line(PY_START_MS));
  assert.ok(port > 0, `the server printed no port: ${server.stderr()}`);
  await using client = python(IDLE_CLIENT, port);
  assert.equal(await client.line(), "connected");
  assert.equal(await server.line(), "closing");
  if (expect !== "joins") assert.equal(await server.line(), "closed");
  if (expect === "exits") {
    assert.ok(
      await server.exits(EXIT_MS),
      `the process did not exit by itself within ${EXIT_MS} ms of its main program's end; stderr: ${server.stderr()}`,
    );
    return;
  }
  assert.ok(
    await server.quiet(HOLD_MS),
    `the handler did not hold the process (or server_close() did not wait for it); stderr: ${server.stderr()}`,
  );
  await client[Symbol.asyncDispose]();
  if (expect === "joins") assert.equal(await server.line(), "closed");
  assert.ok(
    await server.exits(EXIT_MS),
    `the process did not exit once the client closed; stderr: ${server.stderr()}`,
  );
}

function denoServer(
  backend: BackendName,
  daemon: boolean,
  blockOnClose: boolean,
  how: string,
): ServerProcess {
  return serverProcess(Deno.execPath(), [
    "run",
    "-A",
    "--no-check",
    new URL("./_daemon_child.ts", import.meta.url).pathname,
    backend,
    daemon ? "1" : "0",
    blockOnClose ? "1" : "0",
    how,
  ]);
}

function pythonServer(
  daemon: boolean,
  blockOnClose: boolean,
  how: string,
): ServerProcess {
  return serverProcess("python3", [
    "-c",
    PY_SERVER,
    daemon ? "1" : "0",
    blockOnClose ? "1" : "0",
    how,
  ]);
}

// How the handler waits; python3 has no readable stream.
const WAITS: readonly (readonly [how: string, what: string])[] = [
  ["recv", "recv()"],
  ["readline", "rfile.readline()"],
  ["timeout", "recv() with a timeout (settimeout(60))"],
  ["sendall", "sendall() of more than the kernel's buffers take"],
  ["stream", "a read of request.readable"],
];

const NO_PYTHON = !hasPython;

for (const [how, what] of WAITS) {
  if (how !== "stream") {
    Deno.test({
      name:
        `python3 (the reference): daemon_threads: a handler waiting in ${what} on an idle client does not keep the process running`,
      ignore: NO_PYTHON,
      fn: async () => {
        await using server = pythonServer(true, true, how);
        await serveIdleClient(server, "exits");
      },
    });
  }
  for (const backend of BACKENDS) {
    Deno.test({
      ...onBackend(
        backend,
        `ThreadingTCPServer daemon_threads: a handler waiting in ${what} on an idle client of another process does not keep the process running once the main program ends after shutdown() and server_close(), as python3's daemon thread`,
        NO_PYTHON,
      ),
      fn: async () => {
        await using server = denoServer(backend, true, true, how);
        await serveIdleClient(server, "exits");
      },
    });
  }
}

// Not daemon threads, as in CPython: block_on_close makes server_close()
// wait for the handler; without it, the handler alone keeps the process.
const CONTRAST: readonly (readonly [blockOnClose: boolean, Expect, string])[] =
  [
    [
      true,
      "joins",
      "server_close() waits for a handler waiting in recv() (block_on_close), and returns once the client closes",
    ],
    [
      false,
      "lingers",
      "without block_on_close, server_close() returns and a handler waiting in recv() keeps the process running until the client closes",
    ],
  ];

for (const [blockOnClose, expect, what] of CONTRAST) {
  Deno.test({
    name: `python3 (the reference): not daemon_threads: ${what}`,
    ignore: NO_PYTHON,
    fn: async () => {
      await using server = pythonServer(false, blockOnClose, "recv");
      await serveIdleClient(server, expect);
    },
  });
  for (const backend of BACKENDS) {
    Deno.test({
      ...onBackend(
        backend,
        `ThreadingTCPServer not daemon_threads: ${what}, as python3's`,
        NO_PYTHON,
      ),
      fn: async () => {
        await using server = denoServer(backend, false, blockOnClose, "recv");
        await serveIdleClient(server, expect);
      },
    });
  }
}

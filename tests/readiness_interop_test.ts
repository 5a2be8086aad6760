// select.ts and selectors.ts against CPython: a CPython selectors echo
// server (the one in Python's selectors documentation) with many clients
// written with this library, multiplexed on one DefaultSelector; this
// library's selectors echo server with many CPython clients at once; and the
// two examples, run as scripts, against each other and against CPython.
// On both backends and mixed; every step bounded.
import assert from "node:assert/strict";
import type { Socket } from "../mod.ts";
import * as selectors from "../selectors.ts";
import {
  type BackendName,
  BACKENDS,
  bytes,
  hasPython,
  libcMissing,
  python,
  skipNote,
  sock,
  text,
  withTimeout,
} from "./_helpers.ts";

const TEST_MS = 60_000;
const CLIENTS = 25;

type Where = BackendName | "mixed";

function testOn(where: Where, name: string, fn: () => Promise<void>): void {
  const reason = !hasPython
    ? "no python3"
    : where === "deno"
    ? null
    : libcMissing;
  Deno.test({
    name: skipNote(`${where}: ${name}`, reason),
    ignore: reason !== null,
    fn: () => withTimeout(fn(), TEST_MS, name),
  });
}

/** The echo server of Python's selectors docs, on a free port it prints. */
const PY_SELECTORS_SERVER = `
import selectors
import socket

sel = selectors.DefaultSelector()

def accept(sock, mask):
    conn, addr = sock.accept()  # Should be ready
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ, read)

def read(conn, mask):
    data = conn.recv(1000)  # Should be ready
    if data:
        conn.send(data)  # Hope it won't block
    else:
        sel.unregister(conn)
        conn.close()

sock = socket.socket()
sock.bind(('127.0.0.1', 0))
sock.listen(100)
sock.setblocking(False)
sel.register(sock, selectors.EVENT_READ, accept)
print(sock.getsockname()[1], flush=True)

while True:
    events = sel.select()
    for key, mask in events:
        callback = key.data
        callback(key.fileobj, mask)
`;

/** n CPython clients at once, one thread each; prints "<ok> <n>". */
const PY_CLIENTS = `
import socket, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
ok = []
def client(i):
    msg = f"hello from CPython client {i}. ".encode() * 20
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            ok.append(got == msg)
    except OSError as e:
        print("client", i, e, file=sys.stderr)
        ok.append(False)
threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(ok), len(ok), flush=True)
`;

interface Conn {
  readonly connid: number;
  outb: Uint8Array;
  readonly message: string;
  recvd: string;
}

/**
 * Real Python's multiconn client, on this library: `n` non-blocking
 * connections on `backends` (taken in turn), one DefaultSelector, each
 * sending its message and reading the echo back.
 */
async function multiconnClient(
  backends: readonly BackendName[],
  port: number,
  n: number,
): Promise<Map<number, [string, string]>> {
  using sel = new selectors.DefaultSelector<Conn, Socket>();
  const socks: Socket[] = [];
  const done = new Map<number, [string, string]>();
  try {
    for (let connid = 1; connid <= n; connid++) {
      const s = sock(backends[connid % backends.length]);
      socks.push(s);
      s.setblocking(false);
      const err = await s.connect_ex(["127.0.0.1", port]);
      assert.ok(err === 115 || err === 0, `connect_ex: ${err}`);
      const message = `Message ${connid} from client. `.repeat(10);
      sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, {
        connid,
        outb: bytes(message),
        message,
        recvd: "",
      });
    }
    while (done.size < n) {
      const events = await sel.select(5);
      assert.ok(events.length > 0, `stalled with ${done.size} of ${n} done`);
      for (const [key, mask] of events) {
        const s = key.fileobj, data = key.data;
        if (mask & selectors.EVENT_READ) {
          const got = await s.recv(1024);
          data.recvd += text(got);
          if (got.length === 0 || data.recvd.length >= data.message.length) {
            done.set(data.connid, [data.recvd, data.message]);
            sel.unregister(s);
            s.close();
            continue;
          }
        }
        if (mask & selectors.EVENT_WRITE && data.outb.length) {
          const sent = await s.send(data.outb);
          data.outb = data.outb.subarray(sent);
          if (data.outb.length === 0) sel.modify(s, selectors.EVENT_READ, data);
        }
      }
    }
    return done;
  } finally {
    for (const s of socks) s.close();
  }
}

/**
 * The library's selectors echo server (examples/selectors_echo_server.ts)
 * in-process on `backend`, served until `stop()`.
 */
function echoServer(backend: BackendName) {
  type Callback = (s: Socket, mask: number) => Promise<void>;
  const sel = new selectors.DefaultSelector<Callback, Socket>();
  const listening = sock(backend);
  const conns = new Set<Socket>();
  let stopped = false;
  let served = 0;

  async function accept(s: Socket, _mask: number): Promise<void> {
    const [conn] = await s.accept();
    conns.add(conn);
    conn.setblocking(false);
    sel.register(conn, selectors.EVENT_READ, read);
  }
  async function read(conn: Socket, _mask: number): Promise<void> {
    const data = await conn.recv(1000);
    if (data.length) {
      await conn.sendall(data);
    } else {
      served++;
      sel.unregister(conn);
      conns.delete(conn);
      conn.close();
    }
  }

  listening.bind(["127.0.0.1", 0]);
  listening.listen(100);
  listening.setblocking(false);
  sel.register(listening, selectors.EVENT_READ, accept);
  const loop = (async () => {
    while (!stopped) {
      for (const [key, mask] of await sel.select(0.05)) {
        await key.data(key.fileobj, mask);
      }
    }
  })();
  return {
    port: (listening.getsockname() as [string, number])[1],
    get served() {
      return served;
    },
    async stop(): Promise<void> {
      stopped = true;
      try {
        await withTimeout(loop, 5000, "server loop");
      } finally {
        sel.close();
        for (const c of conns) c.close();
        listening.close();
      }
    },
  };
}

function checkEchoes(done: Map<number, [string, string]>, n: number): void {
  assert.equal(done.size, n);
  for (const [connid, [got, want]] of done) {
    assert.equal(got, want, `connection ${connid}`);
  }
}

for (const where of [...BACKENDS, "mixed"] as const) {
  const backends: readonly BackendName[] = where === "mixed"
    ? BACKENDS
    : [where];

  testOn(
    where,
    `${CLIENTS} library clients on one DefaultSelector, concurrently, against CPython's selectors echo server`,
    async () => {
      await using server = python(PY_SELECTORS_SERVER);
      const port = Number(await server.line(10_000));
      const done = await withTimeout(
        multiconnClient(backends, port, CLIENTS),
        30_000,
        "multiconn client",
      );
      checkEchoes(done, CLIENTS);
    },
  );

  if (where === "mixed") continue;
  testOn(
    where,
    `the library's selectors echo server serves ${CLIENTS} CPython clients at once`,
    async () => {
      const server = echoServer(where);
      try {
        await using clients = python(PY_CLIENTS, server.port, CLIENTS);
        assert.equal(await clients.line(30_000), `${CLIENTS} ${CLIENTS}`);
        const { code, stderr } = await clients.finish(10_000);
        assert.equal(code, 0, stderr);
      } finally {
        await server.stop();
      }
    },
  );

  testOn(
    where,
    `the library's selectors echo server serves ${CLIENTS} library clients on one selector`,
    async () => {
      const server = echoServer(where);
      try {
        checkEchoes(
          await withTimeout(
            multiconnClient(
              BACKENDS.filter((b) => b === where),
              server.port,
              20,
            ),
            30_000,
            "multiconn client",
          ),
          20,
        );
      } finally {
        await server.stop();
      }
    },
  );
}

// More connections and datagrams ready at once than Deno's runtime completes
// in one turn of its loop (128): python3 connects MANY clients to the
// listener, each sends a line, and one UDP socket sends MANY datagrams; then
// the program looks once, as CPython's would see them all.
const MANY = 200;
const PY_MANY = `
import socket, sys, time
port, udp_port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for i, c in enumerate(conns): c.sendall(b"%d\\n" % i)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n): u.sendto(b"%d" % i, ("127.0.0.1", udp_port))
print("sent", flush=True)
time.sleep(60)
`;

for (const backend of BACKENDS) {
  testOn(
    backend,
    `${MANY} connections and datagrams from another process ready at once: one non-blocking accept loop, select(0) and non-blocking recv loop see them all, as CPython's`,
    async () => {
      const { socket, AF_INET, SOCK_DGRAM, SOCK_STREAM, BlockingIOError } =
        await import("../mod.ts");
      const { select } = await import("../select.ts");
      using l = socket(AF_INET, SOCK_STREAM, 0, { backend });
      l.bind(["127.0.0.1", 0]);
      l.listen(1024);
      using u = socket(AF_INET, SOCK_DGRAM, 0, { backend });
      u.bind(["127.0.0.1", 0]);
      await using peer = python(
        PY_MANY,
        l.getsockname()[1],
        u.getsockname()[1],
        MANY,
      );
      assert.equal(await peer.line(30_000), "sent");
      // What the kernel holds is there for the first look, as the peer's
      // last sends went a while ago.
      await new Promise((resolve) => setTimeout(resolve, 200));
      l.setblocking(false);
      u.setblocking(false);
      const conns: Socket[] = [];
      try {
        for (;;) {
          try {
            conns.push((await l.accept())[0]);
          } catch (e) {
            if (e instanceof BlockingIOError) break;
            throw e;
          }
          if (conns.length > MANY) break;
        }
        assert.equal(conns.length, MANY, "non-blocking accepts");
        for (const c of conns) c.setblocking(false);
        const [readable] = await select(conns, [], [], 0);
        assert.equal(readable.length, MANY, "select(0) readable");
        const lines = new Set<string>();
        for (const c of conns) lines.add(text(await c.recv(100)));
        assert.equal(lines.size, MANY, "one line from each");
        const datagrams = new Set<string>();
        for (;;) {
          try {
            datagrams.add(text((await u.recvfrom(100))[0]));
          } catch (e) {
            if (e instanceof BlockingIOError) break;
            throw e;
          }
          if (datagrams.size > MANY) break;
        }
        assert.equal(datagrams.size, MANY, "datagrams before BlockingIOError");
      } finally {
        for (const c of conns) c.close();
      }
    },
  );
}

/** A `deno run` child whose stdout lines can be read; killed on dispose. */
function denoScript(script: string, ...args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-net", script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  const stderr = new Response(child.stderr).text();
  let buffered = "";
  return {
    async lineMatching(re: RegExp, ms: number): Promise<RegExpMatchArray> {
      const deadline = Date.now() + ms;
      for (;;) {
        for (const line of buffered.split("\n")) {
          const m = line.match(re);
          if (m) return m;
        }
        const r = await withTimeout(
          reader.read(),
          Math.max(1, deadline - Date.now()),
          `a line matching ${re}`,
        );
        if (r.done) throw new Error(`exited; stderr: ${await stderr}`);
        buffered += r.value;
      }
    },
    async output(ms: number): Promise<{ code: number; out: string }> {
      const status = await withTimeout(child.status, ms, `${script} exit`);
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        buffered += r.value;
      }
      await stderr;
      return { code: status.code, out: buffered };
    },
    async [Symbol.asyncDispose](): Promise<void> {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited already.
      }
      await child.status;
      await reader.cancel().catch(() => {});
      await stderr;
    },
  };
}

const SERVER_EXAMPLE = new URL(
  "../examples/selectors_echo_server.ts",
  import.meta.url,
).pathname;
const CLIENT_EXAMPLE = new URL("../examples/select_client.ts", import.meta.url)
  .pathname;

testOn(
  "deno",
  "examples: selectors_echo_server.ts serves CPython clients and select_client.ts",
  async () => {
    await using server = denoScript(SERVER_EXAMPLE, "0");
    const [, port] = await server.lineMatching(
      /listening on .*?(\d+) \]/,
      20_000,
    );
    await using clients = python(PY_CLIENTS, port, CLIENTS);
    assert.equal(await clients.line(30_000), `${CLIENTS} ${CLIENTS}`);
    await using client = denoScript(CLIENT_EXAMPLE, "127.0.0.1", port, "5");
    const { code, out } = await client.output(30_000);
    assert.equal(code, 0, out);
    assert.equal(
      out.match(
        /Closing connection \d: Message 1 from client\.Message 2 from client\./g,
      )
        ?.length,
      5,
      out,
    );
  },
);

testOn(
  "deno",
  "examples: select_client.ts against CPython's selectors echo server",
  async () => {
    await using server = python(PY_SELECTORS_SERVER);
    const port = await server.line(10_000);
    await using client = denoScript(CLIENT_EXAMPLE, "127.0.0.1", port, "10");
    const { code, out } = await client.output(30_000);
    assert.equal(code, 0, out);
    assert.equal(out.match(/Closing connection/g)?.length, 10, out);
  },
);

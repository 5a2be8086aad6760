// Real CPython peers on loopback, both directions, on each backend: our
// client against a python3 server, a python3 client against our server, over
// TCP (IPv4 and IPv6) and UDP, and a peer that resets the connection.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  ConnectionResetError,
  SHUT_WR,
  SOCK_DGRAM,
} from "../mod.ts";
import {
  BACKENDS,
  bytes,
  hasPython,
  listener,
  onBackend,
  pattern,
  python,
  raises,
  recvExactly,
  sha256,
  sock,
  tempUnixPath,
  text,
  withTimeout,
} from "./_helpers.ts";

const ignore = !hasPython;

/** A python3 TCP echo server: prints its port, then the peer it accepted. */
const ECHO_SERVER = `
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam)
s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", 0))
s.listen()
s.settimeout(5)
print(s.getsockname()[1], flush=True)
c, addr = s.accept()
c.settimeout(5)
print(repr(addr[:2]), flush=True)
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
c.close()
s.close()
`;

/** A python3 TCP client: sends a greeting, prints the reply and its own name. */
const GREET_CLIENT = `
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
c = socket.socket(fam)
c.settimeout(5)
c.connect(("::1" if fam == socket.AF_INET6 else "127.0.0.1", int(sys.argv[2])))
print(repr(c.getsockname()[:2]), flush=True)
c.sendall(b"hello from python")
c.shutdown(socket.SHUT_WR)
reply = b""
while True:
    d = c.recv(100)
    if not d:
        break
    reply += d
print(reply.decode(), flush=True)
c.close()
`;

/** A python3 unix stream echo server on argv[1]; prints "ready", then the peer's name. */
const UNIX_SERVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
s.settimeout(5)
print("ready", flush=True)
c, addr = s.accept()
c.settimeout(5)
print(repr(addr), flush=True)
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
c.close()
s.close()
`;

/** A python3 UDP server: prints its port, answers one datagram reversed. */
const UDP_SERVER = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
print(s.getsockname()[1], flush=True)
data, addr = s.recvfrom(65536)
print(addr[1], flush=True)
s.sendto(data[::-1], addr)
s.close()
`;

/** A python3 UDP client: sends to argv port, prints its port and the reply. */
const UDP_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"datagram from python", ("127.0.0.1", int(sys.argv[1])))
print(s.getsockname()[1], flush=True)
data, addr = s.recvfrom(65536)
print(addr[1], data.decode(), flush=True)
s.close()
`;

/** A python3 client that connects, waits argv[2] s, then resets (SO_LINGER 1, 0). */
const RESET_CLIENT = `
import socket, struct, sys, time
c = socket.socket()
c.settimeout(5)
c.connect(("127.0.0.1", int(sys.argv[1])))
# Wait until the server has accepted (it sends one byte), so the reset hits
# an accepted connection rather than racing the accept.
c.recv(1)
time.sleep(float(sys.argv[2]))
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("reset", flush=True)
`;

/** A python3 server that accepts one connection, reads a byte, and resets it. */
const RESET_SERVER = `
import socket, struct
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
s.settimeout(5)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.settimeout(5)
c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
s.close()
print("reset", flush=True)
`;

function pyTuple(host: string, port: number): string {
  return `('${host}', ${port})`;
}

for (const backend of BACKENDS) {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test(onBackend(backend, name, ignore), fn);

  for (
    const [v, family, host] of [["4", AF_INET, "127.0.0.1"], [
      "6",
      AF_INET6,
      "::1",
    ]] as const
  ) {
    test(`connect() to a python3 TCP server over IPv${v}: 1 MiB echoed intact`, async () => {
      await using srv = python(ECHO_SERVER, v);
      const port = Number(await srv.line());
      using c = sock(backend, family);
      await withTimeout(c.connect([host, port]));
      const me = c.getsockname() as [string, number];
      assert.equal(await srv.line(), pyTuple(host, me[1]));
      const data = pattern(1 << 20, 11);
      const [, got] = await withTimeout(
        Promise.all([
          (async () => {
            await c.sendall(data);
            c.shutdown(SHUT_WR);
          })(),
          recvExactly(c, data.length + 1, 10000),
        ]),
        10000,
      );
      assert.equal(got.length, data.length);
      assert.equal(await sha256(got), await sha256(data));
      const { code, stderr } = await srv.finish();
      assert.equal(code, 0, stderr);
    });

    test(`accept() from a python3 TCP client over IPv${v}: address and bytes both ways`, async () => {
      using l = listener(backend, family);
      const port = (l.addr as [string, number])[1];
      await using cli = python(GREET_CLIENT, v, port);
      const [conn, addr] = await withTimeout(l.sock.accept());
      using _conn = conn;
      assert.equal(
        await cli.line(),
        pyTuple(host, (addr as [string, number])[1]),
      );
      assert.equal(addr[0], host);
      const greeting = await recvExactly(conn, 100);
      assert.equal(text(greeting), "hello from python");
      await withTimeout(conn.sendall(bytes("hello from deno")));
      conn.shutdown(SHUT_WR);
      assert.equal(await cli.line(), "hello from deno");
      const { code, stderr } = await cli.finish();
      assert.equal(code, 0, stderr);
    });
  }

  test("connect() to a python3 unix-socket server: echo intact, it sees address ''", async () => {
    using tmp = tempUnixPath();
    await using srv = python(UNIX_SERVER, tmp.path);
    assert.equal(await srv.line(), "ready");
    using c = sock(backend, AF_UNIX);
    await withTimeout(c.connect(tmp.path));
    assert.equal(await srv.line(), "''");
    assert.equal(c.getpeername(), tmp.path);
    await withTimeout(c.sendall(bytes("over unix")));
    c.shutdown(SHUT_WR);
    assert.equal(text(await recvExactly(c, 100)), "over unix");
    const { code, stderr } = await srv.finish();
    assert.equal(code, 0, stderr);
  });

  test("sendto() a python3 UDP server and recvfrom() its answer", async () => {
    await using srv = python(UDP_SERVER);
    const port = Number(await srv.line());
    using u = sock(backend, AF_INET, SOCK_DGRAM);
    u.settimeout(3);
    await withTimeout(u.sendto(bytes("abc123"), ["127.0.0.1", port]));
    const myPort = (u.getsockname() as [string, number])[1];
    assert.equal(Number(await srv.line()), myPort);
    const [data, from] = await withTimeout(u.recvfrom(100));
    assert.equal(text(data), "321cba");
    assert.deepEqual(from, ["127.0.0.1", port]);
    const { code, stderr } = await srv.finish();
    assert.equal(code, 0, stderr);
  });

  test("recvfrom() a python3 UDP client and sendto() it an answer", async () => {
    using u = sock(backend, AF_INET, SOCK_DGRAM);
    u.bind(["127.0.0.1", 0]);
    u.settimeout(3);
    const port = (u.getsockname() as [string, number])[1];
    await using cli = python(UDP_CLIENT, port);
    const [data, from] = await withTimeout(u.recvfrom(100));
    assert.equal(text(data), "datagram from python");
    const pyPort = Number(await cli.line());
    assert.deepEqual(from, ["127.0.0.1", pyPort]);
    await withTimeout(u.sendto(bytes("answer"), from!));
    assert.equal(await cli.line(), `${port} answer`);
    const { code, stderr } = await cli.finish();
    assert.equal(code, 0, stderr);
  });

  test("recv() after a python3 client resets raises ConnectionResetError 104, then gives b''", async () => {
    using l = listener(backend);
    const port = (l.addr as [string, number])[1];
    await using cli = python(RESET_CLIENT, port, 0);
    const [conn] = await withTimeout(l.sock.accept());
    await withTimeout(conn.sendall(bytes("!")));
    assert.equal(await cli.line(), "reset");
    assert.equal((await cli.finish()).code, 0);
    await raises(() => conn.recv(10), ConnectionResetError, {
      errno: 104,
      message: "[Errno 104] Connection reset by peer",
    });
    assert.deepEqual(await withTimeout(conn.recv(10)), new Uint8Array(0));
    conn.close();
    assert.equal(conn.fileno(), -1);
  });

  test("recv() pending when a python3 client resets rejects with ConnectionResetError 104", async () => {
    using l = listener(backend);
    const port = (l.addr as [string, number])[1];
    await using cli = python(RESET_CLIENT, port, 0.2);
    const [conn] = await withTimeout(l.sock.accept());
    using _conn = conn;
    await withTimeout(conn.sendall(bytes("!")));
    await raises(() => conn.recv(10), ConnectionResetError, { errno: 104 });
    assert.equal(await cli.line(), "reset");
    assert.deepEqual(await withTimeout(conn.recv(10)), new Uint8Array(0));
  });

  test("recv() after a python3 server resets raises ConnectionResetError 104, then gives b''", async () => {
    await using srv = python(RESET_SERVER);
    const port = Number(await srv.line());
    using c = sock(backend);
    await withTimeout(c.connect(["127.0.0.1", port]));
    await withTimeout(c.sendall(bytes("x")));
    assert.equal(await srv.line(), "reset");
    await raises(() => c.recv(10), ConnectionResetError, { errno: 104 });
    assert.deepEqual(await withTimeout(c.recv(10)), new Uint8Array(0));
    c.close();
  });
}

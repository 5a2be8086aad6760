import assert from "node:assert/strict";
import type { BackendSocket } from "../_backend.ts";
import { libc, LINUX as L } from "./ffi.ts";
import { checkLibc, libcBackend as B, libcUsable } from "./socket.ts";
import { poller } from "./poller.ts";
import {
  BlockingIOError,
  BrokenPipeError,
  ConnectionRefusedError,
  FileNotFoundError,
  OSError,
  TimeoutError,
} from "../errors.ts";
import {
  COUNTED_CHILD_ENV,
  DENO_SIGNALS_READY,
  FREE_FDS,
} from "../tests/_helpers.ts";

const AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_SEQPACKET = 5;
const SOL_SOCKET = 1, SO_REUSEADDR = 2, SO_TYPE = 3, SO_RCVBUF = 8;
const SO_LINGER = 13, IPPROTO_TCP = 6, TCP_NODELAY = 1, IPPROTO_IP = 0;
const IP_TTL = 2, IPPROTO_IPV6 = 41, IPV6_V6ONLY = 26, IPPROTO_ICMP = 1;
const MSG_OOB = 1, MSG_PEEK = 2, MSG_WAITALL = 0x100;

// Why libc cannot be used in this process (no --allow-ffi, no FFI, no glibc),
// or null. libcUsable() also loads libc outside any test: Deno's resource
// sanitizer counts the dynamic library as a resource, and it stays loaded
// for the life of the process.
const noLibc: string | null = (() => {
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return "no --allow-ffi";
    }
  } catch {
    return "no --allow-ffi";
  }
  return libcUsable() ? null : "no Deno FFI or no glibc libc.so.6 here";
})();

/**
 * A test of the libc backend: ignored where libc cannot run here, or for
 * `skip`, with the reason in its name.
 */
function test(
  name: string,
  fn: () => void | Promise<void>,
  skip: string | null = null,
): void {
  const reason = noLibc ?? skip;
  Deno.test({
    name: reason === null ? name : `${name} [ignored: ${reason}]`,
    ignore: reason !== null,
    fn,
  });
}

/**
 * Why this process cannot open raw sockets, or null: CAP_NET_RAW (bit 13) of
 * CapEff in /proc/<pid>/status, which Deno 2 reads only under --allow-all
 * (else a cat child reads it). The kernel's word, not a guess from the uid.
 */
const noNetRaw: string | null = (() => {
  const path = `/proc/${Deno.pid}/status`;
  let status: string;
  try {
    status = Deno.readTextFileSync(path);
  } catch {
    try {
      const out = new Deno.Command("cat", { args: [path] }).outputSync();
      status = new TextDecoder().decode(out.stdout);
    } catch {
      return "cannot read this process's capabilities from /proc";
    }
  }
  const m = status.match(/^CapEff:\s*([0-9a-fA-F]+)\s*$/m);
  return m !== null && ((BigInt(`0x${m[1]}`) >> 13n) & 1n) === 1n
    ? null
    : "no CAP_NET_RAW in this process";
})();

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array) => dec.decode(b);

// Every socket a test makes, closed when the test's scope ends.
class Scope implements Disposable {
  readonly #socks: BackendSocket[] = [];
  add<T extends BackendSocket>(s: T): T {
    this.#socks.push(s);
    return s;
  }
  open(family: number, type: number, proto = 0): BackendSocket {
    return this.add(B.open(family, type, proto));
  }
  [Symbol.dispose](): void {
    for (const s of this.#socks) s.close();
  }
}

// Fail instead of hanging: every awaited step is bounded.
async function within<T>(p: T | Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

function isErrno(Class: typeof OSError, errno: number | null) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof Class, `${e} is not a ${Class.name}`);
    assert.equal((e as OSError).errno, errno);
    return true;
  };
}

async function recvText(
  s: BackendSocket,
  n = 1024,
  wait: number | null = null,
) {
  const buf = new Uint8Array(n);
  const got = await within(s.recv(buf, 0, wait));
  return text(buf.subarray(0, got));
}

async function tcpPair(scope: Scope, family = AF_INET) {
  const host = family === AF_INET ? "127.0.0.1" : "::1";
  const server = scope.open(family, SOCK_STREAM);
  server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  server.bind([host, 0]);
  server.listen(16);
  const client = scope.open(family, SOCK_STREAM);
  const accepting = server.accept(null);
  await within(client.connect(server.getsockname(), null));
  const [conn, peer] = await within(accepting);
  scope.add(conn);
  return { server, client, conn, peer };
}

test("checkLibc() is true here", () => {
  assert.equal(checkLibc(), true);
});

test("TCP over AF_INET: connect, accept, echo, names", async () => {
  using scope = new Scope();
  const { server, client, conn, peer } = await tcpPair(scope);
  assert.deepEqual(peer, client.getsockname());
  assert.deepEqual(client.getpeername(), server.getsockname());
  assert.equal((server.getsockname() as [string, number])[0], "127.0.0.1");
  const pending = recvText(conn);
  assert.equal(await within(client.send(bytes("ping"), 0, null)), 4);
  assert.equal(await pending, "ping");
  await within(conn.send(bytes("pong"), 0, null));
  assert.equal(await recvText(client), "pong");
  client.shutdown(1);
  assert.equal(await recvText(conn), "");
});

test("TCP over AF_INET6: 4-tuple addresses", async () => {
  using scope = new Scope();
  const { server, client, conn, peer } = await tcpPair(scope, AF_INET6);
  const name = server.getsockname() as [string, number, number, number];
  assert.equal(name.length, 4);
  assert.equal(name[0], "::1");
  assert.deepEqual(peer, client.getsockname());
  await within(client.send(bytes("six"), 0, null));
  assert.equal(await recvText(conn), "six");
});

for (const family of [AF_INET, AF_INET6]) {
  test(`UDP over ${family === AF_INET ? "AF_INET" : "AF_INET6"}: echo, sender address, empty and truncated datagrams`, async () => {
    using scope = new Scope();
    const host = family === AF_INET ? "127.0.0.1" : "::1";
    const a = scope.open(family, SOCK_DGRAM);
    const b = scope.open(family, SOCK_DGRAM);
    a.bind([host, 0]);
    const buf = new Uint8Array(64);
    const got = a.recvfrom(buf, 0, null);
    // sendto autobinds b.
    assert.equal(await b.sendto(bytes("hello"), 0, a.getsockname(), null), 5);
    const [n, from] = await within(got);
    assert.equal(text(buf.subarray(0, n)), "hello");
    // b was autobound to the wildcard address, with this port.
    assert.equal((from as [string, number])[0], host);
    assert.equal(
      (from as [string, number])[1],
      (b.getsockname() as [string, number])[1],
    );
    await a.sendto(new Uint8Array(0), 0, from!, null);
    const [n0, from0] = await within(b.recvfrom(buf, 0, 1000));
    assert.equal(n0, 0);
    assert.deepEqual(from0, a.getsockname());
    await b.sendto(bytes("0123456789"), 0, a.getsockname(), null);
    const small = new Uint8Array(4);
    assert.equal(await within(a.recv(small, 0, 1000)), 4);
    assert.equal(text(small), "0123");
    // The rest of that datagram is gone.
    await assert.rejects(a.recv(small, 0, 0), isErrno(BlockingIOError, 11));
  });
}

test("UDP: a datagram over 65507 bytes is EMSGSIZE", async () => {
  using scope = new Scope();
  const s = scope.open(AF_INET, SOCK_DGRAM);
  await assert.rejects(
    s.sendto(new Uint8Array(65508), 0, ["127.0.0.1", 9], null),
    isErrno(OSError, 90),
  );
});

test("AF_UNIX stream: path names, accept gives '' for an unbound peer", async () => {
  using scope = new Scope();
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/s`;
    const server = scope.open(AF_UNIX, SOCK_STREAM);
    server.bind(path);
    server.listen(4);
    assert.equal(server.getsockname(), path);
    const client = scope.open(AF_UNIX, SOCK_STREAM);
    assert.equal(client.getsockname(), "");
    const accepting = server.accept(null);
    await within(client.connect(path, null));
    const [conn, peer] = await within(accepting);
    scope.add(conn);
    assert.equal(peer, "");
    assert.equal(client.getpeername(), path);
    await conn.send(bytes("abc"), 0, null);
    const buf = new Uint8Array(10);
    const [n, from] = await within(client.recvfrom(buf, 0, null));
    assert.equal(text(buf.subarray(0, n)), "abc");
    assert.equal(from, path);
    const other = scope.open(AF_UNIX, SOCK_STREAM);
    await assert.rejects(
      other.connect(`${dir}/missing`, null),
      isErrno(FileNotFoundError, 2),
    );
    const dupe = scope.open(AF_UNIX, SOCK_STREAM);
    assert.throws(() => dupe.bind(path), isErrno(OSError, 98));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

test("AF_UNIX dgram: unbound sender gives null, bind('') autobinds an abstract name", async () => {
  using scope = new Scope();
  const dir = Deno.makeTempDirSync();
  try {
    const a = scope.open(AF_UNIX, SOCK_DGRAM);
    a.bind(`${dir}/d`);
    const b = scope.open(AF_UNIX, SOCK_DGRAM);
    await b.sendto(bytes("x"), 0, `${dir}/d`, null);
    const buf = new Uint8Array(8);
    const [n, from] = await within(a.recvfrom(buf, 0, 1000));
    assert.equal(n, 1);
    assert.equal(from, null);
    b.bind("");
    const name = b.getsockname();
    assert.ok(name instanceof Uint8Array);
    assert.match(text(name), /^\0[0-9a-f]{5}$/);
    await b.sendto(bytes("y"), 0, `${dir}/d`, null);
    const [, from2] = await within(a.recvfrom(buf, 0, 1000));
    assert.deepEqual(from2, name);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

test("AF_UNIX abstract names: bind, connect, getsockname as bytes", async () => {
  using scope = new Scope();
  const name = bytes(`\0pysocket-test-${Deno.pid}-${Math.random()}`);
  const server = scope.open(AF_UNIX, SOCK_STREAM);
  server.bind(name);
  server.listen(1);
  assert.deepEqual(server.getsockname(), name);
  const client = scope.open(AF_UNIX, SOCK_STREAM);
  const accepting = server.accept(1000);
  await within(client.connect(name, 1000));
  scope.add((await within(accepting))[0]);
  assert.deepEqual(client.getpeername(), name);
});

test("SOCK_SEQPACKET keeps message boundaries and truncates long ones", async () => {
  using scope = new Scope();
  const name = bytes(`\0pysocket-seq-${Deno.pid}-${Math.random()}`);
  const server = scope.open(AF_UNIX, SOCK_SEQPACKET);
  server.bind(name);
  server.listen(1);
  const client = scope.open(AF_UNIX, SOCK_SEQPACKET);
  const accepting = server.accept(null);
  await within(client.connect(name, null));
  const [conn] = await within(accepting);
  scope.add(conn);
  await client.send(bytes("hello world"), 0, null);
  await client.send(bytes("two"), 0, null);
  assert.equal(await recvText(conn, 5), "hello");
  assert.equal(await recvText(conn, 100), "two");
});

// The selectors loop's sendall() takes it without an await. pace() makes
// one call in PACE_EVERY (32) a promise at most: of two in a row, one is not.
test("send() hands back the count itself, no promise, when the kernel takes the bytes at once", async () => {
  using scope = new Scope();
  const [a, b] = await B.socketpair(AF_UNIX, SOCK_STREAM, 0);
  scope.add(a);
  scope.add(b);
  const sent = [a.send(bytes("x"), 0, null), a.send(bytes("y"), 0, null)];
  assert.ok(sent.some((n) => n === 1), String(sent));
  assert.deepEqual(await Promise.all(sent), [1, 1]);
  assert.equal(await recvText(b, 2), "xy");
});

test("socketpair() gives two connected unnamed ends, stream and dgram", async () => {
  for (const type of [SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET]) {
    using scope = new Scope();
    const [a, b] = await B.socketpair(AF_UNIX, type, 0);
    scope.add(a);
    scope.add(b);
    assert.equal(a.getsockname(), "");
    assert.equal(b.getpeername(), "");
    await a.send(bytes("pair"), 0, null);
    const buf = new Uint8Array(16);
    const [n, from] = await within(b.recvfrom(buf, 0, 1000));
    assert.equal(text(buf.subarray(0, n)), "pair");
    assert.ok(from === null || from === "", `from ${from}`);
  }
  await assert.rejects(
    B.socketpair(AF_INET, SOCK_STREAM, 0),
    isErrno(OSError, 95),
  );
});

test("recv() with a wait that runs out raises TimeoutError and loses nothing", async () => {
  using scope = new Scope();
  const [a, b] = await B.socketpair(AF_UNIX, SOCK_STREAM, 0);
  scope.add(a);
  scope.add(b);
  const buf = new Uint8Array(16);
  const t0 = performance.now();
  await assert.rejects(b.recv(buf, 0, 50), (e: unknown) => {
    assert.ok(e instanceof TimeoutError);
    assert.equal(e.errno, null);
    assert.equal(e.message, "timed out");
    return true;
  });
  assert.ok(performance.now() - t0 >= 45);
  await a.send(bytes("late"), 0, null);
  assert.equal(await recvText(b, 16, 1000), "late");
});

test("wait 0: recv, accept and send raise BlockingIOError(11)", async () => {
  using scope = new Scope();
  const { server, client } = await tcpPair(scope);
  await assert.rejects(
    client.recv(new Uint8Array(4), 0, 0),
    isErrno(BlockingIOError, 11),
  );
  await assert.rejects(server.accept(0), isErrno(BlockingIOError, 11));
  const chunk = new Uint8Array(1 << 16);
  let sent = 0;
  await assert.rejects(async () => {
    for (;;) sent += await client.send(chunk, 0, 0);
  }, isErrno(BlockingIOError, 11));
  assert.ok(sent > 0);
});

test("accept() with a wait that runs out raises TimeoutError", async () => {
  using scope = new Scope();
  const server = scope.open(AF_INET, SOCK_STREAM);
  server.bind(["127.0.0.1", 0]);
  server.listen(1);
  await assert.rejects(server.accept(30), isErrno(TimeoutError, null));
});

test("connect() with wait 0 raises EINPROGRESS, then the kernel finishes it", async () => {
  using scope = new Scope();
  const server = scope.open(AF_INET, SOCK_STREAM);
  server.bind(["127.0.0.1", 0]);
  server.listen(1);
  const client = scope.open(AF_INET, SOCK_STREAM);
  await assert.rejects(
    client.connect(server.getsockname(), 0),
    isErrno(BlockingIOError, 115),
  );
  // A later connect makes the syscall again: EALREADY, EISCONN or success.
  let settled = false;
  for (let i = 0; i < 100 && !settled; i++) {
    try {
      await client.connect(server.getsockname(), 0);
      settled = true;
    } catch (e) {
      assert.ok(e instanceof OSError);
      if (e.errno === 106) settled = true;
      else assert.ok(e.errno === 114 || e.errno === 115, String(e));
    }
    if (!settled) await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(settled);
  scope.add((await within(server.accept(1000)))[0]);
  await assert.rejects(
    client.connect(server.getsockname(), null),
    isErrno(OSError, 106),
  );
});

test("connect() when connected raises OSError(106)", async () => {
  using scope = new Scope();
  const { client, server } = await tcpPair(scope);
  await assert.rejects(
    client.connect(server.getsockname(), null),
    isErrno(OSError, 106),
  );
  await assert.rejects(
    client.connect(server.getsockname(), 1000),
    isErrno(OSError, 106),
  );
});

test("connect() to a closed port raises ConnectionRefusedError(111)", async () => {
  using scope = new Scope();
  const probe = scope.open(AF_INET, SOCK_STREAM);
  probe.bind(["127.0.0.1", 0]);
  const addr = probe.getsockname();
  probe.close();
  const s = scope.open(AF_INET, SOCK_STREAM);
  await assert.rejects(
    within(s.connect(addr, null)),
    isErrno(ConnectionRefusedError, 111),
  );
});

test("connect() to a unix listener with a full backlog: EAGAIN at once, with a timeout too (as CPython's); a blocking one waits for room", async () => {
  using scope = new Scope();
  const name = bytes(`\0pysocket-backlog-${Deno.pid}-${Math.random()}`);
  const server = scope.open(AF_UNIX, SOCK_STREAM);
  server.bind(name);
  server.listen(0);
  const first = scope.open(AF_UNIX, SOCK_STREAM);
  await within(first.connect(name, null));
  const second = scope.open(AF_UNIX, SOCK_STREAM);
  await assert.rejects(second.connect(name, 0), isErrno(BlockingIOError, 11));
  await assert.rejects(
    second.connect(name, 3000),
    isErrno(BlockingIOError, 11),
  );
  const waiting = second.connect(name, null);
  scope.add((await within(server.accept(1000)))[0]);
  await within(waiting);
  scope.add((await within(server.accept(1000)))[0]);
});

test("close() rejects a pending recv and accept with OSError(9) at once", async () => {
  using scope = new Scope();
  const [a, b] = await B.socketpair(AF_UNIX, SOCK_STREAM, 0);
  scope.add(a);
  const server = scope.open(AF_INET, SOCK_STREAM);
  server.bind(["127.0.0.1", 0]);
  server.listen(1);
  const recv = b.recv(new Uint8Array(4), 0, null);
  const accept = server.accept(10_000);
  const t0 = performance.now();
  b.close();
  server.close();
  const [r1, r2] = await within(Promise.allSettled([recv, accept]), 1000);
  assert.ok(performance.now() - t0 < 500);
  for (const r of [r1, r2]) {
    assert.equal(r.status, "rejected");
    isErrno(OSError, 9)((r as PromiseRejectedResult).reason);
  }
  assert.equal(b.fileno(), -1);
  b.close();
  await assert.rejects(b.recv(new Uint8Array(1), 0, null), isErrno(OSError, 9));
  assert.throws(() => b.getsockname(), isErrno(OSError, 9));
});

test("recv() honours MSG_PEEK, MSG_WAITALL and MSG_OOB", async () => {
  using scope = new Scope();
  const { client, conn } = await tcpPair(scope);
  await client.send(bytes("peekaboo"), 0, null);
  const buf = new Uint8Array(4);
  assert.equal(await within(conn.recv(buf, MSG_PEEK, 1000)), 4);
  assert.equal(text(buf), "peek");
  assert.equal(await within(conn.recv(buf, 0, 1000)), 4);
  assert.equal(text(buf), "peek");
  assert.equal(await within(conn.recv(buf, 0, 1000)), 4);
  // MSG_WAITALL gathers pieces sent apart.
  const all = new Uint8Array(6);
  const whole = conn.recv(all, MSG_WAITALL, null);
  await client.send(bytes("abc"), 0, null);
  await new Promise((r) => setTimeout(r, 20));
  await client.send(bytes("def"), 0, null);
  assert.equal(await within(whole), 6);
  assert.equal(text(all), "abcdef");
  // A timed wait returns what the first read finds, as CPython's.
  await client.send(bytes("xy"), 0, null);
  assert.equal(await within(conn.recv(all, MSG_WAITALL, 50)), 2);
  assert.equal(text(all.subarray(0, 2)), "xy");
  await client.send(bytes("!"), MSG_OOB, null);
  const oob = new Uint8Array(1);
  assert.equal(await within(conn.recv(oob, MSG_OOB, 1000)), 1);
  assert.equal(text(oob), "!");
});

test("send() of 8 MiB waits for room and arrives intact", async () => {
  using scope = new Scope();
  const { client, conn } = await tcpPair(scope);
  const data = new Uint8Array(8 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) >>> 3;
  let partial = 0;
  const sending = (async () => {
    let off = 0;
    while (off < data.length) {
      const n = await client.send(data.subarray(off), 0, null);
      if (n < data.length - off) partial++;
      off += n;
    }
    client.shutdown(1);
  })();
  // Nothing is read for a while: the sender fills the buffers and waits.
  await new Promise((r) => setTimeout(r, 20));
  const got = new Uint8Array(data.length);
  let off = 0;
  for (;;) {
    const n = await conn.recv(got.subarray(off, off + 65536), 0, 5000);
    if (n === 0) break;
    off += n;
  }
  await within(sending);
  assert.ok(partial > 0);
  assert.equal(off, data.length);
  assert.deepEqual(got, data);
});

test("send() after the peer is gone raises BrokenPipeError, never SIGPIPE", async () => {
  using scope = new Scope();
  const { client, conn } = await tcpPair(scope);
  conn.close();
  await assert.rejects(
    async () => {
      for (let i = 0; i < 100; i++) {
        await client.send(bytes("x"), 0, null);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    (e: unknown) =>
      e instanceof BrokenPipeError || (e as OSError).errno === 104,
  );
});

test("sendto() a unix datagram peer whose queue is full waits instead of spinning", async () => {
  using scope = new Scope();
  const name = bytes(`\0pysocket-full-${Deno.pid}-${Math.random()}`);
  const rx = scope.open(AF_UNIX, SOCK_DGRAM);
  rx.bind(name);
  const tx = scope.open(AF_UNIX, SOCK_DGRAM);
  const msg = new Uint8Array(1024);
  let queued = 0;
  try {
    for (;;) {
      await tx.sendto(msg, 0, name, 0);
      queued++;
    }
  } catch (e) {
    isErrno(BlockingIOError, 11)(e);
  }
  assert.ok(queued > 0);
  const t0 = performance.now();
  await assert.rejects(
    tx.sendto(msg, 0, name, 100),
    isErrno(TimeoutError, null),
  );
  assert.ok(performance.now() - t0 < 1000);
  const blocked = tx.sendto(msg, 0, name, 3000);
  await within(rx.recv(new Uint8Array(2048), 0, 1000));
  assert.equal(await within(blocked), 1024);
});

test("setsockopt()/getsockopt() round trips", async () => {
  using scope = new Scope();
  const s = scope.open(AF_INET, SOCK_STREAM);
  s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  assert.equal(s.getsockopt(SOL_SOCKET, SO_REUSEADDR, 0), 1);
  s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 0);
  assert.equal(s.getsockopt(SOL_SOCKET, SO_REUSEADDR, 0), 0);
  s.setsockopt(SOL_SOCKET, SO_RCVBUF, 65536);
  // Linux doubles the value for bookkeeping.
  assert.equal(s.getsockopt(SOL_SOCKET, SO_RCVBUF, 0), 131072);
  s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  assert.equal(s.getsockopt(IPPROTO_TCP, TCP_NODELAY, 0), 1);
  s.setsockopt(IPPROTO_IP, IP_TTL, 17);
  assert.equal(s.getsockopt(IPPROTO_IP, IP_TTL, 0), 17);
  assert.equal(s.getsockopt(SOL_SOCKET, SO_TYPE, 0), SOCK_STREAM);
  const linger = new Uint8Array([1, 0, 0, 0, 5, 0, 0, 0]);
  s.setsockopt(SOL_SOCKET, SO_LINGER, linger);
  assert.deepEqual(s.getsockopt(SOL_SOCKET, SO_LINGER, 8), linger);
  assert.deepEqual(s.getsockopt(SOL_SOCKET, SO_LINGER, 100), linger);
  assert.deepEqual(
    s.getsockopt(SOL_SOCKET, SO_RCVBUF, 4),
    new Uint8Array([0, 0, 2, 0]),
  );
  const six = scope.open(AF_INET6, SOCK_STREAM);
  six.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
  assert.equal(six.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 0), 1);
  for (const bad of [-1, 1025]) {
    assert.throws(
      () => s.getsockopt(SOL_SOCKET, SO_LINGER, bad),
      (e: unknown) =>
        e instanceof OSError && e.errno === null &&
        e.message === "getsockopt buflen out of range",
    );
  }
  assert.throws(() => s.setsockopt(SOL_SOCKET, 9999, 1), isErrno(OSError, 92));
  await Promise.resolve();
});

test("open() raises what the kernel says, typed", () => {
  assert.throws(
    () => B.open(AF_INET, 4, /* SOCK_RDM */ 0),
    isErrno(OSError, 94),
  );
  assert.throws(() => B.open(12345, SOCK_STREAM, 0), isErrno(OSError, 97));
  assert.throws(() => B.open(AF_INET, SOCK_STREAM, 17), isErrno(OSError, 93));
  assert.throws(() => B.open(AF_INET, 99, 0), isErrno(OSError, 22));
  using scope = new Scope();
  const s = scope.open(AF_INET, SOCK_STREAM);
  assert.throws(() => s.getpeername(), isErrno(OSError, 107));
  assert.deepEqual(s.getsockname(), ["0.0.0.0", 0]);
  assert.throws(() => s.shutdown(1), isErrno(OSError, 107));
  const u = scope.open(AF_INET, SOCK_DGRAM);
  assert.throws(() => u.listen(1), isErrno(OSError, 95));
  assert.equal(scope.open(AF_UNIX, SOCK_STREAM).getsockname(), "");
  assert.deepEqual(scope.open(AF_INET6, SOCK_DGRAM).getsockname(), [
    "::",
    0,
    0,
    0,
  ]);
});

test("open() makes blocking close-on-exec descriptors, as CPython; setBlocking() sets and clears O_NONBLOCK", () => {
  using scope = new Scope();
  const s = scope.open(AF_INET, SOCK_STREAM);
  const C = libc();
  const nonblock = () =>
    (C.fcntl(s.fileno(), L.F_GETFL, 0) & L.O_NONBLOCK) !== 0;
  assert.equal(nonblock(), false);
  assert.equal(C.fcntl(s.fileno(), 1, /* F_GETFD */ 0) & 1, 1);
  s.setBlocking!(false);
  assert.equal(nonblock(), true);
  s.setBlocking!(true);
  assert.equal(nonblock(), false);
});

test("adopt() reads family, type and proto from a descriptor and leaves its O_NONBLOCK alone; a call without a wait still never blocks", async () => {
  using scope = new Scope();
  const C = libc();
  const fd = C.socket(AF_INET, SOCK_DGRAM, 0);
  assert.ok(fd >= 0);
  const [s, family, type, proto] = B.adopt!(fd, 0, -1, -1);
  scope.add(s);
  assert.deepEqual([family, type, proto], [AF_INET, SOCK_DGRAM, 17]);
  assert.equal(s.fileno(), fd);
  assert.equal(C.fcntl(fd, L.F_GETFL, 0) & L.O_NONBLOCK, 0);
  await assert.rejects(
    s.recv(new Uint8Array(1), 0, 0),
    isErrno(BlockingIOError, 11),
  );
  const efd = C.eventfd(0, L.EFD_CLOEXEC);
  try {
    assert.throws(() => B.adopt!(efd, 0, -1, -1), isErrno(OSError, 88));
  } finally {
    C.close(efd);
  }
  assert.throws(() => B.adopt!(1_000_000, 0, -1, -1), isErrno(OSError, 9));
});

test("dup() shares the connection; detach() keeps the descriptor open", async () => {
  using scope = new Scope();
  const { client, conn } = await tcpPair(scope);
  const copy = scope.add(client.dup());
  assert.notEqual(copy.fileno(), client.fileno());
  await copy.send(bytes("via dup"), 0, null);
  assert.equal(await recvText(conn), "via dup");
  const fd = client.detach();
  assert.equal(client.fileno(), -1);
  assert.equal(client.detach(), -1);
  const [again] = B.adopt!(fd, AF_INET, SOCK_STREAM, 0);
  scope.add(again);
  await again.send(bytes("still open"), 0, null);
  assert.equal(await recvText(conn), "still open");
});

test(
  "raw ICMP echo to 127.0.0.1 gets a valid reply",
  async () => {
    using scope = new Scope();
    const s = scope.open(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const id = Deno.pid & 0xffff, seq = 7;
    const req = new Uint8Array(8 + 16);
    req[0] = 8; // echo request
    req.set([id >> 8, id & 0xff, seq >> 8, seq & 0xff], 4);
    req.set(bytes("pysocket-icmp!!!"), 8);
    const sum = checksum(req);
    req[2] = sum >> 8;
    req[3] = sum & 0xff;
    assert.equal(await s.sendto(req, 0, ["127.0.0.1", 0], null), req.length);
    const buf = new Uint8Array(1500);
    for (;;) {
      const [n, from] = await within(s.recvfrom(buf, 0, 2000));
      assert.deepEqual(from, ["127.0.0.1", 0]);
      const icmp = buf.subarray((buf[0] & 0x0f) * 4, n);
      // The raw socket also sees the request itself go by.
      if (icmp[0] !== 0) continue;
      if (((icmp[4] << 8) | icmp[5]) !== id) continue;
      assert.equal((icmp[6] << 8) | icmp[7], seq);
      assert.equal(checksum(icmp), 0);
      assert.deepEqual(icmp.subarray(8), req.subarray(8));
      break;
    }
  },
  noNetRaw,
);

function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// The check runs in a child process: `deno test --parallel` runs other test
// modules in this process, and their descriptors would move the snapshot.
test("no descriptor leaks over 2000 open/close cycles, error paths included", async () => {
  const r = await runChild(
    `
import { libcBackend as B } from "MODULE";
import { poller } from "${new URL("./poller.ts", import.meta.url).href}";
${FREE_FDS}
const check = (ok, what) => { if (!ok) throw new Error(what); };
const closed = B.open(2, 1, 0);
closed.bind(["127.0.0.1", 0]);
const refused = closed.getsockname();
closed.close();
async function cycle(mode) {
  if (mode === 0) {
    const s = B.open(2, 1, 0);
    await s.connect(refused, null).catch((e) => check(e.errno === 111, "refused: " + e));
    s.close();
  } else if (mode === 1) {
    const a = B.open(2, 1, 0);
    a.bind(["127.0.0.1", 0]);
    a.listen(1);
    const b = B.open(2, 1, 0);
    try { b.bind(a.getsockname()); } catch (e) { check(e.errno === 98, "in use: " + e); }
    const c = B.open(2, 1, 0);
    const accepting = a.accept(1000);
    await c.connect(a.getsockname(), 1000);
    const [conn] = await accepting;
    conn.close();
    const d = c.dup();
    for (const s of [a, b, c, d]) s.close();
  } else if (mode === 2) {
    const [x, y] = await B.socketpair(1, 2, 0);
    const pending = y.recv(new Uint8Array(1), 0, 1000);
    y.close();
    await pending.catch(() => {});
    x.close();
  } else {
    const u = B.open(10, 2, 0);
    await u.recv(new Uint8Array(1), 0, 1).catch(() => {});
    u.close();
    try { B.open(2, 4, 0); } catch { /* the kernel refused: nothing was opened */ }
  }
}
// Warm up first, so libc and the poller are loaded, and wait out the
// runtime's own start-up: Deno 2.9 opens a unix socketpair for its signal
// thread about 500 ms after it starts. The snapshots then compare steady states.
for (let mode = 0; mode < 4; mode++) await cycle(mode);
${DENO_SIGNALS_READY}
const before = freeFds();
for (let i = 0; i < 2000; i++) await cycle(i % 4);
console.log(JSON.stringify({ before, after: freeFds(), pollerOpen: poller().open }));
`,
    ["-A"],
  );
  assert.equal(r.code, 0, r.stderr);
  const { before, after, pollerOpen } = JSON.parse(
    r.stdout.trim().split("\n").pop()!,
  );
  assert.equal(pollerOpen, false);
  assert.deepEqual(
    after,
    before,
    "descriptors leaked (or closed) by the cycles",
  );
});

async function runChild(code: string, args: string[]) {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/child.ts`;
    Deno.writeTextFileSync(
      file,
      code.replaceAll(
        "MODULE",
        new URL("./socket.ts", import.meta.url).href,
      ),
    );
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...args, file],
      env: COUNTED_CHILD_ENV,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    return {
      code: out.code,
      ms: performance.now() - t0,
      stdout: text(out.stdout),
      stderr: text(out.stderr),
    };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

test("a script that closes its libc sockets exits by itself", async () => {
  const r = await runChild(
    `
import { libcBackend as B } from "MODULE";
const srv = B.open(2, 1, 0);
srv.bind(["127.0.0.1", 0]);
srv.listen(4);
const cli = B.open(2, 1, 0);
const acc = srv.accept(null);
await cli.connect(srv.getsockname(), null);
const [conn] = await acc;
const buf = new Uint8Array(8);
const got = conn.recv(buf, 0, null);
await cli.send(new Uint8Array([1, 2, 3]), 0, null);
console.log(await got);
await conn.recv(buf, 0, 20).catch((e) => console.log(e.name));
const pending = srv.accept(null);
srv.close();
await pending.catch((e) => console.log(e.errno));
conn.close();
cli.close();
`,
    ["--allow-ffi"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "3\nTimeoutError\n9\n");
  assert.ok(r.ms < 10_000, `${r.ms} ms`);
});

Deno.test("without --allow-ffi a libc socket raises PermissionError naming the flag", async () => {
  const r = await runChild(
    `
import { checkLibc, libcBackend } from "MODULE";
for (const f of [() => libcBackend.open(2, 1, 0), checkLibc]) {
  try {
    f();
    console.log("no error");
  } catch (e) {
    console.log(e.name, e.errno, e.message);
  }
}
`,
    [],
  );
  assert.equal(r.code, 0, r.stderr);
  const line =
    "PermissionError 13 [Errno 13] the libc backend needs FFI: run with --allow-ffi";
  assert.equal(r.stdout, `${line}\n${line}\n`);
});

test("sockets dropped without close() are closed when collected", async () => {
  const r = await runChild(
    `
import { libcBackend as B } from "MODULE";
${FREE_FDS}
${DENO_SIGNALS_READY}
// The 50 sockets take the 50 lowest free numbers: slots of this snapshot.
const free = freeFds();
const inUse = () => free.filter(isOpen).length;
(() => { for (let i = 0; i < 50; i++) B.open(2, 2, 0); })();
const opened = inUse();
// The poller lets go of its own descriptors a moment after the last socket.
const same = () => JSON.stringify(freeFds()) === JSON.stringify(free);
for (let i = 0; i < 40 && (inUse() > 0 || !same()); i++) {
  globalThis.gc!();
  await new Promise((r) => setTimeout(r, 10));
}
console.log(opened, inUse(), same());
`,
    ["--allow-all", "--v8-flags=--expose-gc"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "50 0 true\n");
});

test("epoll objects dropped without close() are closed when collected, with what they watch still open", async () => {
  const r = await runChild(
    `
import { libcBackend as B } from "MODULE";
const { KernelEpoll } = await import(new URL("./epoll.ts", "MODULE").href);
${FREE_FDS}
${DENO_SIGNALS_READY}
const free = freeFds();
const inUse = () => free.filter(isOpen).length;
const s = B.open(2, 2, 0);
new KernelEpoll().close(); // the poller's own descriptors, as in steady use
const base = inUse();
(() => {
  for (let i = 0; i < 50; i++) new KernelEpoll().set(s.fileno(), 1);
})();
const opened = inUse() - base;
for (let i = 0; i < 40 && inUse() > base; i++) {
  globalThis.gc!();
  await new Promise((r) => setTimeout(r, 10));
}
console.log(opened, inUse() - base);
s.close();
`,
    ["--allow-all", "--v8-flags=--expose-gc"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "50 0\n");
});

test("epoll objects that also watch a Deno-backend socket, dropped without close(), are closed when collected", async () => {
  const r = await runChild(
    `
import { libcBackend as B } from "MODULE";
const select = await import(new URL("../select.ts", "MODULE").href);
const S = await import(new URL("../mod.ts", "MODULE").href);
const epolls = () =>
  [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
    try {
      return Deno.readLinkSync("/proc/self/fd/" + e.name) ===
        "anon_inode:[eventpoll]";
    } catch {
      return false;
    }
  }).length;
const s = B.open(2, 2, 0);
const [a, b] = await S.socketpair();
select.epoll().close(); // the poller's own epoll, as in steady use
const base = epolls();
async function drop() {
  for (let i = 0; i < 50; i++) {
    const ep = select.epoll();
    ep.register(s.fileno(), select.EPOLLIN);
    ep.register(a, select.EPOLLIN);
    await ep.poll(0);
  }
}
await drop();
const opened = epolls() - base;
for (let i = 0; i < 40 && epolls() > base; i++) {
  globalThis.gc!();
  await new Promise((r) => setTimeout(r, 10));
}
console.log(opened, epolls() - base);
s.close();
a.close();
b.close();
`,
    ["--allow-all", "--v8-flags=--expose-gc"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "50 0\n");
});

test("one poll round serves many sockets at once", async () => {
  using scope = new Scope();
  const pairs: [BackendSocket, BackendSocket][] = [];
  for (let i = 0; i < 50; i++) {
    const p = await B.socketpair(AF_UNIX, SOCK_DGRAM, 0);
    pairs.push([scope.add(p[0]), scope.add(p[1])]);
  }
  const bufs = pairs.map(() => new Uint8Array(4));
  const reads = pairs.map(([, b], i) => b.recv(bufs[i], 0, 5000));
  await new Promise((r) => setTimeout(r, 20));
  const before = poller().rounds;
  for (const [a] of pairs) await a.send(bytes("go"), 0, null);
  assert.deepEqual(await within(Promise.all(reads)), pairs.map(() => 2));
  assert.ok(
    poller().rounds - before <= 3,
    `${poller().rounds - before} rounds`,
  );
});

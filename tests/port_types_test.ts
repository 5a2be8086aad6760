// Ported Python code type-checks with no cast: these are the patterns that
// needed one before (issue 9, item 7). `deno test` type-checks this file,
// so a regression fails here before any assertion runs.
import assert from "node:assert/strict";
import {
  AddressFamily,
  AF_INET,
  AF_INET6,
  type AF_PACKET,
  AF_UNIX,
  create_connection,
  create_server,
  fromfd,
  getaddrinfo,
  getnameinfo,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  SO_ERROR,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_STREAM,
  type SockAddr,
  type Socket,
  socket,
  SocketKind,
  socketpair,
  SOL_SOCKET,
} from "../mod.ts";
import {
  BaseRequestHandler,
  type BaseServer,
  TCPServer,
  ThreadingTCPServer,
  UnixStreamServer,
} from "../socketserver.ts";
import { DefaultSelector, EVENT_READ, EVENT_WRITE } from "../selectors.ts";
import * as select from "../select.ts";
import * as errors from "../errors.ts";
// Opens libc, as an AF_INET6 create_server() may, outside any test.
import "./_helpers.ts";

Deno.test("recv() result assigns to a variable that began as new Uint8Array(0)", async () => {
  using server = create_server(["127.0.0.1", 0]);
  const [host, port] = server.getsockname();
  using client = await create_connection([host, port], 5);
  const [conn] = await server.accept();
  using _conn = conn;
  await client.sendall(new TextEncoder().encode("hi"));
  let data = new Uint8Array(0);
  data = await conn.recv(1024);
  assert.equal(new TextDecoder().decode(data), "hi");
});

Deno.test("setblocking() takes 0 and 1 as Python code passes them", () => {
  using s = socket(AF_INET);
  s.setblocking(0);
  assert.equal(s.getblocking(), false);
  s.setblocking(1);
  assert.equal(s.getblocking(), true);
});

Deno.test("getsockname() on an AF_INET socket destructures as [host, port]", () => {
  using s = socket(AF_INET);
  s.bind(["127.0.0.1", 0]);
  const [host, port] = s.getsockname();
  const h: string = host, p: number = port;
  assert.equal(h, "127.0.0.1");
  assert.ok(p > 0);
});

Deno.test("undefined for family and type is Python's default in the types too: socket(undefined, undefined, undefined, options) is AF_INET, socketpair()'s AF_UNIX", async () => {
  using s = socket(undefined, undefined, undefined, { backend: "deno" });
  s.bind(["127.0.0.1", 0]);
  const [host, port] = s.getsockname();
  const h: string = host, p: number = port;
  assert.equal(h, "127.0.0.1");
  assert.ok(p > 0);
  const [a, b] = await socketpair(undefined, undefined, undefined, {
    backend: "deno",
  });
  using _a = a, _b = b;
  const name: string | Uint8Array = a.getsockname();
  assert.equal(name, "");
});

Deno.test("socket(fileno=fd) takes its family from the descriptor, so its address is the general SockAddr, never typed [host, port]", async () => {
  const [a, b] = await socketpair(AF_UNIX, SOCK_STREAM, 0, {
    backend: "libc",
  });
  using _b = b;
  using s = socket(undefined, undefined, undefined, a.detach());
  const name: SockAddr = s.getsockname();
  // @ts-expect-error: a unix socket's name is a path, not [host, port]
  const _inet: [string, number] = s.getsockname();
  assert.equal(s.family, AF_UNIX);
  assert.equal(name, "");
  using t = socket(undefined, undefined, undefined, {
    fileno: b.dup().detach(),
  });
  // @ts-expect-error: the same with { fileno }
  const _inet2: [string, number] = t.getsockname();
  assert.equal(t.getsockname(), "");
});

Deno.test("an AF_INET6 socket's address is the 4-tuple", () => {
  using s = socket(AF_INET6);
  s.bind(["::1", 0]);
  const [host, port, flowinfo, scope_id] = s.getsockname();
  assert.deepEqual([host, flowinfo, scope_id], ["::1", 0, 0]);
  assert.ok(port > 0);
});

Deno.test("recvfrom() on a UDP socket gives an address sendto() takes back", async () => {
  using server = socket(AF_INET, SOCK_DGRAM);
  using client = socket(AF_INET, SOCK_DGRAM);
  server.bind(["127.0.0.1", 0]);
  server.settimeout(5);
  client.settimeout(5);
  await client.sendto(new Uint8Array([1, 2]), server.getsockname());
  const [data, addr] = await server.recvfrom(1024);
  await server.sendto(data, addr);
  const [echo, from] = await client.recvfrom(1024);
  assert.deepEqual(echo, new Uint8Array([1, 2]));
  assert.equal(from[1], server.getsockname()[1]);
});

Deno.test("accept() gives a socket of the listener's address type; any socket fits `Socket`", async () => {
  using server = socket(AF_INET);
  server.bind(["127.0.0.1", 0]);
  server.listen();
  using client = socket(AF_INET);
  await client.connect(server.getsockname());
  const [conn, [peerHost]] = await server.accept();
  using _conn = conn;
  assert.equal(peerHost, "127.0.0.1");
  const sockets: Socket[] = [server, client, conn];
  assert.equal(sockets.length, 3);
});

Deno.test("create_server()'s address goes straight to create_connection(); an AF_INET6 server's is the 4-tuple", async () => {
  using server = create_server(["127.0.0.1", 0]);
  using client = await create_connection(server.getsockname(), 5);
  const [conn] = await server.accept();
  conn.close();
  assert.ok(client.fileno() >= 0);
  using six = create_server(["::1", 0], { family: AF_INET6 });
  const [, port, , scope_id] = six.getsockname();
  const id: number = scope_id;
  assert.equal(id, 0);
  assert.ok(port > 0);
});

Deno.test("getsockopt(level, option) is a number: err = s.getsockopt(SOL_SOCKET, SO_ERROR)", () => {
  using s = socket(AF_INET);
  const err: number = s.getsockopt(SOL_SOCKET, SO_ERROR);
  assert.equal(err, 0);
});

Deno.test("socketserver as the Python docs write it: BaseRequestHandler's request is a socket, client_address a [host, port], server.socket's address too, ThreadingTCPServer a type, any server a BaseServer", async () => {
  // class MyTCPHandler(socketserver.BaseRequestHandler):
  //     def handle(self):
  //         self.data = self.request.recv(1024).strip()
  //         host, port = self.client_address
  //         self.request.sendall(self.data.upper())
  let seen: [string, number] | null = null;
  class MyTCPHandler extends BaseRequestHandler {
    override async handle() {
      const data = await this.request.recv(1024);
      const [host, port] = this.client_address;
      seen = [host, port];
      await this.request.sendall(data);
    }
  }
  const serve = async (server: BaseServer) => await server.handle_request();
  await using server: ThreadingTCPServer = new ThreadingTCPServer(
    ["127.0.0.1", 0],
    MyTCPHandler,
  );
  server.daemon_threads = false;
  const port: number = server.socket.getsockname()[1];
  using client = await create_connection(["127.0.0.1", port], 5);
  await client.sendall(new Uint8Array([1, 2, 3]));
  await serve(server);
  assert.deepEqual(await client.recv(10), new Uint8Array([1, 2, 3]));
  assert.deepEqual(seen, client.getsockname());
  // One handler serves a TCP and a unix server, as in Python (CPython's
  // own tests do so); a handler typed for paths types client_address so.
  const _unix = (path: string) => {
    new UnixStreamServer(path, MyTCPHandler, false);
    class UnixHandler extends BaseRequestHandler<Socket, string | Uint8Array> {}
    new TCPServer(["127.0.0.1", 0], UnixHandler, false);
    return new UnixStreamServer(path, UnixHandler, false);
  };
  assert.equal(typeof _unix, "function");
});

Deno.test("getaddrinfo()'s family types the socket made from it; getnameinfo() takes what accept() gives and a constant tuple", async () => {
  // for af, socktype, proto, canonname, sa in getaddrinfo(None, 0, ..., AI_PASSIVE):
  //     s = socket.socket(af, socktype, proto); s.bind(sa); ...
  //     conn, addr = s.accept(); host = addr[0]
  const [[af, socktype, proto, , sa]] = await getaddrinfo(
    "127.0.0.1",
    0,
    AF_INET,
    SOCK_STREAM,
  );
  using s = socket(af, socktype, proto);
  s.bind(sa);
  s.listen(1);
  using client = await create_connection(s.getsockname(), 5);
  const [conn, addr] = await s.accept();
  conn.close();
  const host: string = addr[0];
  assert.equal(host, "127.0.0.1");
  const SERVER = ["127.0.0.1", addr[1]] as const;
  const [h] = await getnameinfo(SERVER, NI_NUMERICHOST | NI_NUMERICSERV);
  assert.equal(h, "127.0.0.1");
  assert.equal((await getnameinfo(addr, NI_NUMERICHOST))[0], "127.0.0.1");
  assert.ok(client.fileno() >= 0);
});

Deno.test("getsockopt(level, option, 8) is bytes; a raw IP or packet socket's recvfrom() sender is never null; fromfd() is typed by its family", () => {
  using s = socket(AF_INET);
  const bytes: Uint8Array = s.getsockopt(SOL_SOCKET, SO_ERROR, 4);
  assert.deepEqual(bytes, new Uint8Array(4));
  // Type-checked only (opening them needs CAP_NET_RAW):
  // data, addr = s.recvfrom(1500); host = addr[0]
  const _raw = async (r: Socket<Ip4, Ip4>) => (await r.recvfrom(1500))[1][0];
  const _packet = (p: ReturnType<typeof socket<typeof AF_PACKET, 3>>) =>
    p.recvfrom(65535).then(([, addr]) => addr[0]);
  const _opened = () => socket(AF_INET, SOCK_RAW, 1) satisfies Socket<Ip4, Ip4>;
  // fromfd(fd, AF_INET6, SOCK_DGRAM): the family types it as socket()'s
  const _copy = (fd: number) =>
    fromfd(fd, AF_INET6, SOCK_DGRAM).recvfrom(10).then(([, a]) => a[3]);
  assert.equal(typeof _copy, "function");
  assert.equal(typeof _raw, "function");
  assert.equal(typeof _packet, "function");
  assert.equal(typeof _opened, "function");
});

type Ip4 = [host: string, port: number];

Deno.test("AddressFamily and SocketKind members type a socket as the constants do, and a let of one takes another", () => {
  using s = socket(AddressFamily.AF_INET6, SocketKind.SOCK_DGRAM);
  s.bind(["::1", 0]);
  const [host, , , scope_id] = s.getsockname();
  const id: number = scope_id;
  assert.deepEqual([host, id], ["::1", 0]);
  let family = AddressFamily.AF_INET;
  family = AddressFamily.AF_INET6;
  assert.equal(AddressFamily[family], "AF_INET6");
});

Deno.test("socket.timeout and socket.error are types as well as classes, as a port's annotations use them", async () => {
  using s = socket(AF_INET, SOCK_DGRAM);
  s.bind(["127.0.0.1", 0]);
  s.settimeout(0.01);
  let caught: errors.timeout | null = null;
  let base: errors.error | null = null;
  try {
    await s.recv(10);
  } catch (e) {
    if (e instanceof errors.timeout) caught = e;
    if (e instanceof errors.error) base = e;
  }
  assert.ok(caught !== null && caught === base);
});

// A port's optional values may be undefined (Python's None-defaulted
// arguments); a project that type-checks with exactOptionalPropertyTypes
// passes them on only if each option's type says `| undefined`.
Deno.test("options take an explicit undefined, at run time and under exactOptionalPropertyTypes", async () => {
  const maybe: {
    signal: AbortSignal | undefined;
    newline: string | undefined;
    backlog: number | undefined;
    backend: "deno" | "libc" | undefined;
  } = {
    signal: undefined,
    newline: undefined,
    backlog: undefined,
    backend: undefined,
  };
  using server = create_server(["127.0.0.1", 0], {
    backlog: maybe.backlog,
    backend: maybe.backend,
  });
  using client = await create_connection(server.getsockname(), 5, null, {
    signal: maybe.signal,
    backend: maybe.backend,
  });
  const [conn] = await server.accept({ signal: maybe.signal });
  using _conn = conn;
  await client.sendall(new TextEncoder().encode("a\n"), {
    signal: maybe.signal,
  });
  const f = conn.makefile("r", { newline: maybe.newline, encoding: undefined });
  assert.equal(await f.readline(), "a\n");
  await f.close();

  const dir = Deno.makeTempDirSync();
  try {
    const lib = (m: string) =>
      JSON.stringify(new URL(`../${m}`, import.meta.url).href);
    Deno.writeTextFileSync(
      `${dir}/deno.json`,
      JSON.stringify({
        compilerOptions: { strict: true, exactOptionalPropertyTypes: true },
      }),
    );
    Deno.writeTextFileSync(
      `${dir}/port.ts`,
      `import { create_connection, create_server, socket } from ${
        lib("mod.ts")
      };
import * as select from ${lib("select.ts")};
import { DefaultSelector } from ${lib("selectors.ts")};
import { TCPServer } from ${lib("socketserver.ts")};
export async function port(o: {
  signal?: AbortSignal; newline?: string; encoding?: string; backlog?: number;
  backend?: "deno" | "libc"; timeout?: number;
}): Promise<void> {
  using s = create_server(["127.0.0.1", 0], { backlog: o.backlog, backend: o.backend });
  using c = await create_connection(s.getsockname(), o.timeout, null, { signal: o.signal });
  await c.recv(1, { signal: o.signal });
  c.makefile("r", { newline: o.newline, encoding: o.encoding });
  await select.select([c], [], [], 0, { signal: o.signal });
  await new DefaultSelector().select(0, { signal: o.signal });
  socket(2, 1, 0, { backend: o.backend });
  void TCPServer;
}
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "check",
        "--quiet",
        "--config",
        `${dir}/deno.json`,
        `${dir}/port.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    assert.equal(
      out.code,
      0,
      new TextDecoder().decode(out.stderr).slice(0, 2000),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Real Python's multiconn server: register(lsock, EVENT_READ, null) on a selector typed by its data, then `key.data === null` picks the listener", async () => {
  interface Conn {
    readonly addr: [string, number];
    outb: Uint8Array;
  }
  using sel = new DefaultSelector<Conn, Socket<[string, number]>>();
  using lsock = socket(AF_INET, SOCK_STREAM);
  lsock.bind(["127.0.0.1", 0]);
  lsock.listen();
  lsock.setblocking(false);
  sel.register(lsock, EVENT_READ, null);
  using client = socket(AF_INET, SOCK_STREAM);
  await client.connect(lsock.getsockname());
  const accepted: Socket[] = [];
  for (const [key, mask] of await sel.select(5)) {
    if (key.data === null) {
      const [conn, addr] = await key.fileobj.accept();
      accepted.push(conn);
      conn.setblocking(false);
      const data: Conn = { addr, outb: new Uint8Array(0) };
      sel.register(conn, EVENT_READ | EVENT_WRITE, data);
    } else {
      assert.fail(`no connection was registered yet (mask ${mask})`);
    }
  }
  assert.equal(accepted.length, 1);
  using _accepted = accepted[0];
  const [key] = (await sel.select(5)).find(([k]) => k.data !== null) ?? [];
  assert.deepEqual(key?.data?.addr, client.getsockname());
  sel.modify(lsock, EVENT_READ, null);
  assert.equal(sel.get_key(lsock).data, null);
});

Deno.test("PyMOTW's select loop: `readable, writable, exceptional = select.select([], [s], [])` reassigned from a later call with other lists", async () => {
  const [a, b] = await socketpair();
  using _a = a, _b = b;
  let [readable, writable, exceptional] = await select.select([], [a], [], 0);
  assert.deepEqual([readable, writable, exceptional], [[], [a], []]);
  await b.sendall(new Uint8Array([1]));
  [readable, writable, exceptional] = await select.select([a], [], [a], 5);
  const inputs: Socket[] = readable;
  assert.deepEqual([inputs, writable, exceptional], [[a], [], []]);
});

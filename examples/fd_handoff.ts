// Hand a listening socket to another process over a unix socket
// (SCM_RIGHTS): how a server restarts without closing its port.
//   deno run --allow-ffi --allow-net --allow-run --allow-read examples/fd_handoff.ts
//
// The old server listens on 127.0.0.1 and serves a request. It then starts
// the new server (this same script, run again with --child), passes it the
// listening socket's descriptor with send_fds(), and closes its own copy.
// The port never stops listening: the next request is served by the new
// process. Both ends of the hand-off are libc-backend sockets (--allow-ffi):
// only the kernel's sockets carry descriptors.
import {
  AF_INET,
  AF_UNIX,
  recv_fds,
  send_fds,
  SO_REUSEADDR,
  SOCK_STREAM,
  type Socket,
  socket,
  SOL_SOCKET,
} from "../mod.ts";

const text = new TextEncoder();
const read = new TextDecoder();
const libc = { backend: "libc" } as const;

/** Answer one request on `server`, naming this process. */
async function serveOne(server: Socket, who: string): Promise<void> {
  const [conn] = await server.accept();
  using _conn = conn;
  const request = read.decode(await conn.recv(1024));
  await conn.sendall(text.encode(`${who} (pid ${Deno.pid}) got "${request}"`));
}

/** Connect to `port`, send `request`, return the answer. */
async function ask(port: number, request: string): Promise<string> {
  using client = socket(AF_INET, SOCK_STREAM);
  await client.connect(["127.0.0.1", port]);
  await client.sendall(text.encode(request));
  return read.decode(await client.recv(1024));
}

if (Deno.args[0] === "--child") {
  // The new server: take the listening socket from the old one.
  using channel = socket(AF_UNIX, SOCK_STREAM, 0, libc);
  await channel.connect(text.encode(`\0${Deno.args[1]}`));
  const [, fds] = await recv_fds(channel, 1024, 1);
  // Family, type and protocol are read from the descriptor itself.
  using server = socket(undefined, undefined, undefined, fds[0]);
  const [host, port] = server.getsockname() as [string, number];
  console.log(`new server: took over ${host}:${port} (descriptor ${fds[0]})`);
  await channel.sendall(text.encode("ready"));
  await serveOne(server, "new server");
} else {
  using server = socket(AF_INET, SOCK_STREAM, 0, libc);
  server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  server.bind(["127.0.0.1", 0]);
  server.listen();
  const [, port] = server.getsockname();
  console.log(`old server: listening on 127.0.0.1:${port}`);
  const served = serveOne(server, "old server");
  console.log(`client: ${await ask(port, "first request")}`);
  await served;

  // The hand-off channel: an abstract unix name, nothing on disk.
  const name = `fd-handoff-${crypto.randomUUID()}`;
  using channel = socket(AF_UNIX, SOCK_STREAM, 0, libc);
  channel.bind(text.encode(`\0${name}`));
  channel.listen(1);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-net",
      import.meta.url,
      "--child",
      name,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const [conn] = await channel.accept();
  {
    using _conn = conn;
    await send_fds(conn, [text.encode("take it")], [server.fileno()]);
    await conn.recv(16); // "ready": the new server holds the socket now
  }
  // Closing our copy leaves the kernel's socket listening in the child.
  server.close();
  console.log("old server: handed over and closed its copy");
  console.log(`client: ${await ask(port, "second request")}`);
  const status = await child.status;
  Deno.exitCode = status.code;
}

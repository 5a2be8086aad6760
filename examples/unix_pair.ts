// Unix sockets two ways: socketpair() (two connected ends, no path), and a
// server on a path in a temp dir with a client connecting to it.
//   deno run --allow-read --allow-write --allow-net examples/unix_pair.ts
import { AF_UNIX, SOCK_STREAM, socket, socketpair } from "../mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

{
  const [parent, child] = await socketpair();
  using _p = parent, _c = child;
  await parent.sendall(enc.encode("hello over socketpair"));
  console.log("socketpair:", dec.decode(await child.recv(100)));
}

const dir = await Deno.makeTempDir();
try {
  const path = `${dir}/demo.sock`;
  using server = socket(AF_UNIX, SOCK_STREAM);
  server.bind(path);
  server.listen();
  using client = socket(AF_UNIX, SOCK_STREAM);
  await client.connect(path);
  const [conn] = await server.accept();
  using _conn = conn;
  await client.sendall(enc.encode("hello over a unix path"));
  console.log(`${path}:`, dec.decode(await conn.recv(100)));
} finally {
  await Deno.remove(dir, { recursive: true });
}

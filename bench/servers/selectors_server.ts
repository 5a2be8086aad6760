/**
 * servers/server.py ported line by line to this project's `selectors` and
 * `socket`: one task, `DefaultSelector`, non-blocking sockets.
 *
 * ```sh
 * deno run --allow-net --allow-ffi bench/servers/selectors_server.ts [--backend deno|libc] PORT
 * ```
 *
 * Python's `create_server(addr, backlog=1024)` becomes the four calls it
 * makes (socket, SO_REUSEADDR, bind, listen), so that the backend can be
 * chosen.
 *
 * @module
 */
import {
  AF_INET,
  ConnectionError,
  IPPROTO_TCP,
  SO_REUSEADDR,
  SOCK_STREAM,
  type Socket,
  socket,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../../mod.ts";
import * as selectors from "../../selectors.ts";
import { parseBackend } from "../clients/client.ts";

const { backend, rest: [port] } = parseBackend(Deno.args);
const sel = new selectors.DefaultSelector();
const server = socket(AF_INET, SOCK_STREAM, 0, { backend });
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
server.bind(["127.0.0.1", Number(port)]);
server.listen(1024);
server.setblocking(false);
sel.register(server, selectors.EVENT_READ);

for (;;) {
  for (const [key, _mask] of await sel.select()) {
    const sock = key.fileobj as Socket;
    if (sock === server) {
      const [conn, _addr] = await server.accept();
      conn.setblocking(false);
      conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      sel.register(conn, selectors.EVENT_READ);
      continue;
    }
    let data: Uint8Array;
    try {
      data = await sock.recv(65536);
    } catch (e) {
      if (!(e instanceof ConnectionError)) throw e;
      data = new Uint8Array(0);
    }
    if (data.length) {
      await sock.sendall(data);
    } else {
      sel.unregister(sock);
      sock.close();
    }
  }
}

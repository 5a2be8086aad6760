/**
 * The project's echo server, written as a user would: an accept loop and one
 * async task per connection doing recv + sendall, with TCP_NODELAY.
 *
 * ```sh
 * deno run --allow-net bench/servers/server.ts [--backend deno|libc] [--recv] PORT
 * ```
 *
 * Each connection reuses one 64 KiB buffer with `recv_into`; with `--recv`
 * it does `data = await conn.recv(65536)` as a line-by-line port of a Python
 * server would (new bytes per call). `--backend libc` needs `--allow-ffi`.
 *
 * @module
 */
import {
  AF_INET,
  IPPROTO_TCP,
  SO_REUSEADDR,
  SOCK_STREAM,
  type Socket,
  socket,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../../mod.ts";
import { parseBackend } from "../clients/client.ts";

async function echoInto(conn: Socket): Promise<void> {
  const buf = new Uint8Array(65536);
  for (let n; (n = await conn.recv_into(buf)) !== 0;) {
    await conn.sendall(buf.subarray(0, n));
  }
}

async function echoRecv(conn: Socket): Promise<void> {
  for (let data; (data = await conn.recv(65536)).length !== 0;) {
    await conn.sendall(data);
  }
}

async function handle(conn: Socket, useRecv: boolean): Promise<void> {
  try {
    conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    await (useRecv ? echoRecv(conn) : echoInto(conn));
  } catch {
    // The client went away (reset, broken pipe): drop the connection.
  } finally {
    conn.close();
  }
}

async function main(): Promise<void> {
  const { backend, rest } = parseBackend(Deno.args);
  const useRecv = rest.includes("--recv");
  const port = rest.find((a) => !a.startsWith("--"));
  if (port === undefined) {
    throw new Error("usage: server.ts [--backend deno|libc] [--recv] PORT");
  }
  using server = socket(AF_INET, SOCK_STREAM, 0, { backend });
  server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  server.bind(["127.0.0.1", Number(port)]);
  server.listen(1024);
  for (;;) {
    const [conn] = await server.accept();
    handle(conn, useRecv);
  }
}

if (import.meta.main) await main();

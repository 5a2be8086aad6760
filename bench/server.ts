/**
 * The project's echo server for `/work/shared/bench/serve_compare.py`,
 * written as a user would: an accept loop and one async task per connection
 * doing recv + sendall, with TCP_NODELAY.
 *
 * ```sh
 * deno run -A bench/server.ts [--backend deno|libc] [--recv] PORT
 * ```
 *
 * By default each connection reuses one 64 KiB buffer with `recv_into`; with
 * `--recv` it does `data = await conn.recv(65536)` as a line-by-line port of
 * Python's `server.py` would (one fresh buffer per call).
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
} from "../mod.ts";
import { parseArgs } from "./client.ts";

async function echoInto(conn: Socket): Promise<void> {
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.recv_into(buf);
    if (n === 0) break;
    await conn.sendall(buf.subarray(0, n));
  }
}

async function echoRecv(conn: Socket): Promise<void> {
  for (;;) {
    const data = await conn.recv(65536);
    if (data.length === 0) break;
    await conn.sendall(data);
  }
}

async function handle(conn: Socket, useRecv: boolean): Promise<void> {
  try {
    conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    await (useRecv ? echoRecv(conn) : echoInto(conn));
  } catch {
    // The peer went away (reset, broken pipe): just drop the connection.
  } finally {
    conn.close();
  }
}

async function main(): Promise<void> {
  const { backend, rest } = parseArgs(Deno.args);
  const useRecv = rest.includes("--recv");
  const portArg = rest.find((a) => !a.startsWith("--"));
  if (portArg === undefined) {
    console.error("usage: server.ts [--backend deno|libc] [--recv] PORT");
    Deno.exit(2);
  }
  using srv = socket(AF_INET, SOCK_STREAM, 0, { backend });
  srv.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  srv.bind(["127.0.0.1", Number(portArg)]);
  srv.listen(1024);
  for (;;) {
    const [conn] = await srv.accept();
    handle(conn, useRecv);
  }
}

if (import.meta.main) await main();

/**
 * Deno's own echo server: `Deno.listen`, one task per connection reading
 * into a 64 KiB buffer and writing it back. The reference the project's
 * servers are compared with.
 *
 * ```sh
 * deno run --allow-net bench/servers/server_deno.ts PORT
 * ```
 *
 * @module
 */

async function echo(conn: Deno.TcpConn): Promise<void> {
  try {
    conn.setNoDelay(true);
    const buf = new Uint8Array(65536);
    for (let n; (n = await conn.read(buf)) !== null;) {
      for (let off = 0; off < n;) off += await conn.write(buf.subarray(off, n));
    }
  } catch {
    // The client went away (reset, broken pipe): drop the connection.
  } finally {
    conn.close();
  }
}

if (import.meta.main) {
  const listener = Deno.listen({
    hostname: "127.0.0.1",
    port: Number(Deno.args[0]),
  });
  for await (const conn of listener) echo(conn);
}

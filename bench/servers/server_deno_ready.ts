/**
 * A control for the ported selectors server on the Deno backend: Deno's own
 * ops in the shape a readiness loop gives them, with no library. Each
 * connection keeps one read in flight into its own 64 KiB buffer; a read
 * that completes queues a copy of its bytes; one pass then writes every
 * queued reply and starts each connection's next read, as a selectors loop
 * does `select()`, then `recv` and `sendall` for each ready socket. Against
 * `server_deno.ts` (a task per connection), it shows what that shape costs
 * on Deno itself; against the ported server, what the module adds.
 *
 * ```sh
 * deno run --allow-net bench/servers/server_deno_ready.ts PORT
 * ```
 *
 * @module
 */

/** A connection whose read came back with `data` (empty at EOF). */
type Ready = [conn: Deno.TcpConn, data: Uint8Array];

const ready: Ready[] = [];
let wake: (() => void) | null = null;

function readNext(conn: Deno.TcpConn, buf: Uint8Array): void {
  conn.read(buf).then(
    (n) => queue(conn, n === null ? new Uint8Array(0) : buf.slice(0, n)),
    () => queue(conn, new Uint8Array(0)),
  );
}

function queue(conn: Deno.TcpConn, data: Uint8Array): void {
  ready.push([conn, data]);
  const w = wake;
  wake = null;
  w?.();
}

if (import.meta.main) {
  const listener = Deno.listen({
    hostname: "127.0.0.1",
    port: Number(Deno.args[0]),
  });
  const buffers = new Map<Deno.TcpConn, Uint8Array>();
  (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      const buf = new Uint8Array(65536);
      buffers.set(conn, buf);
      readNext(conn, buf);
    }
  })();
  for (;;) {
    if (ready.length === 0) {
      await new Promise<void>((resolve) => wake = resolve);
    }
    for (const [conn, data] of ready.splice(0)) {
      try {
        if (data.length === 0) throw new Error("EOF");
        for (let off = 0; off < data.length;) {
          off += await conn.write(data.subarray(off));
        }
        readNext(conn, buffers.get(conn)!);
      } catch {
        // EOF, or the client went away: drop the connection.
        buffers.delete(conn);
        conn.close();
      }
    }
  }
}

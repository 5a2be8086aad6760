/**
 * What a non-blocking call on an idle socket costs: `recv` that raises
 * BlockingIOError, and `select.select([s], [], [], 0)` that finds nothing,
 * on a connected TCP pair. Prints one JSON line of medians in microseconds.
 *
 * ```sh
 * deno run --allow-net --allow-ffi bench/clients/idle.ts --backend deno|libc [N]
 * ```
 *
 * @module
 */
import { BlockingIOError, socket } from "../../mod.ts";
import { select } from "../../select.ts";
import { parseBackend } from "./client.ts";

const { backend, rest: [count] } = parseBackend(Deno.args);
const n = Number(count ?? 20000);

function median(xs: number[]): number {
  xs.sort((a, b) => a - b);
  return xs[xs.length >> 1];
}

using server = socket(undefined, undefined, undefined, { backend });
server.bind(["127.0.0.1", 0]);
server.listen();
using client = socket(undefined, undefined, undefined, { backend });
await client.connect(server.getsockname());
const [conn] = await server.accept();
using _conn = conn;
conn.setblocking(false);

const recv: number[] = [];
for (let i = 0; i < n; i++) {
  const t = performance.now();
  try {
    await conn.recv(1024);
    throw new Error("an idle socket returned data");
  } catch (e) {
    if (!(e instanceof BlockingIOError)) throw e;
  }
  recv.push(performance.now() - t);
}
const poll: number[] = [];
for (let i = 0; i < n; i++) {
  const t = performance.now();
  const [r] = await select([conn], [], [], 0);
  if (r.length !== 0) throw new Error("an idle socket was readable");
  poll.push(performance.now() - t);
}
console.log(JSON.stringify({
  recv_us: median(recv) * 1000,
  select_us: median(poll) * 1000,
}));

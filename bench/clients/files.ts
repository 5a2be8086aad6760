/**
 * This module's side of the "files" part (bench/compare_files.ts), on one
 * backend: reading lines with `makefile("rb").readline()`, bulk bytes with
 * `recv_into` or `sock.readable`, and sending a file with `sendfile` or a
 * read/sendall loop. It listens on 127.0.0.1, starts
 * bench/clients/files_peer.py against itself, accepts, and prints one JSON
 * line; files.py is the same for CPython.
 *
 * ```sh
 * deno run --allow-net --allow-ffi --allow-read --allow-run=python3 \
 *   bench/clients/files.ts --backend deno|libc MODE ARG
 * ```
 *
 * | MODE        | ARG    | "rate"                                               |
 * | ----------- | ------ | ---------------------------------------------------- |
 * | `readline`  | N      | lines/s, N lines of 64 bytes until EOF               |
 * | `recv_into` | NBYTES | MiB/s, `recv_into` a 64 KiB buffer until EOF         |
 * | `readable`  | NBYTES | MiB/s, `for await` over `sock.readable`              |
 * | `byob`      | NBYTES | MiB/s, a BYOB reader of `sock.readable`, 64 KiB      |
 * | `sendfile`  | PATH   | MiB/s, `sock.sendfile`, until the sink reports back  |
 * | `loop`      | PATH   | MiB/s, `file.read` into 1 MiB and `sendall`, same    |
 *
 * The readers time from the first line or chunk to EOF and count what came
 * after it; "peer_busy" is the peer's CPU time over its wall time.
 *
 * @module
 */
import {
  AF_INET,
  SHUT_WR,
  SOCK_STREAM,
  type Socket,
  socket,
} from "../../mod.ts";
import { parseBackend } from "./client.ts";

const MiB = 1 << 20;

interface Result {
  rate: number;
  count: number;
  peer_busy?: number;
}

const { backend, rest: [mode, arg] } = parseBackend(Deno.args);

/**
 * Listens, starts the peer, accepts, runs `measure` on the connection, and
 * adds what the peer reported.
 */
async function serve(
  peerArgs: string[],
  measure: (conn: Socket) => Promise<Result>,
): Promise<Result> {
  using srv = socket(AF_INET, SOCK_STREAM, 0, { backend });
  srv.bind(["127.0.0.1", 0]);
  srv.listen();
  srv.settimeout(10);
  const port = (srv.getsockname() as [string, number])[1];
  const [peerMode, ...more] = peerArgs;
  const peer = new Deno.Command("python3", {
    args: ["bench/clients/files_peer.py", peerMode, String(port), ...more],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let done = false;
  try {
    const [conn] = await srv.accept();
    using _conn = conn;
    // Blocking, the default: the harness's time limit bounds the run.
    const result = await measure(conn);
    conn.close();
    const out = await peer.output();
    done = true;
    if (!out.success) throw new Error(`files_peer.py ${peerMode} failed`);
    const report = JSON.parse(new TextDecoder().decode(out.stdout));
    return { ...result, peer_busy: report.busy };
  } finally {
    if (!done) {
      try {
        peer.kill("SIGKILL");
      } catch {
        // It has already exited.
      }
      await peer.status;
    }
  }
}

function readline(n: number): Promise<Result> {
  return serve(["lines", String(n)], async (conn) => {
    await using f = conn.makefile("rb");
    let line = await f.readline();
    const t0 = performance.now();
    let count = 0;
    while (line.length > 0) {
      if (line.length !== 64) {
        throw new Error(`line ${count}: ${line.length} bytes`);
      }
      count++;
      line = await f.readline();
    }
    const s = (performance.now() - t0) / 1000;
    if (count !== n) throw new Error(`${count} lines, not ${n}`);
    return { rate: (count - 1) / s, count };
  });
}

/** One bulk read of `nbytes`; `next` returns each chunk's length, 0 at EOF. */
function bulk(
  nbytes: number,
  reader: (conn: Socket) => () => Promise<number>,
): Promise<Result> {
  return serve(["bytes", String(nbytes)], async (conn) => {
    const next = reader(conn);
    const first = await next();
    const t0 = performance.now();
    let total = first;
    for (let n; (n = await next()) > 0;) total += n;
    const s = (performance.now() - t0) / 1000;
    if (total !== nbytes) throw new Error(`${total} bytes, not ${nbytes}`);
    return { rate: (total - first) / MiB / s, count: total };
  });
}

function recvInto(conn: Socket): () => Promise<number> {
  const buf = new Uint8Array(65536);
  return () => conn.recv_into(buf);
}

function readable(conn: Socket): () => Promise<number> {
  const chunks = conn.readable[Symbol.asyncIterator]();
  return async () => {
    const r = await chunks.next();
    return r.done ? 0 : r.value.length;
  };
}

function byob(conn: Socket): () => Promise<number> {
  const reader = conn.readable.getReader({ mode: "byob" });
  let buf = new Uint8Array(65536);
  return async () => {
    const { value, done } = await reader.read(buf);
    if (done || value === undefined) return 0;
    // The buffer came back transferred: read into it again, whole.
    buf = new Uint8Array(value.buffer);
    return value.length;
  };
}

function sendFile(path: string, kernel: boolean): Promise<Result> {
  const size = Deno.statSync(path).size;
  return serve(["sink"], async (conn) => {
    using file = await Deno.open(path);
    const t0 = performance.now();
    if (kernel) {
      await conn.sendfile(file);
    } else {
      const buf = new Uint8Array(MiB);
      for (let n; (n = await file.read(buf)) !== null;) {
        await conn.sendall(buf.subarray(0, n));
      }
    }
    conn.shutdown(SHUT_WR);
    let reply = "";
    for (let r; (r = await conn.recv(64)).length > 0;) {
      reply += new TextDecoder().decode(r);
    }
    const s = (performance.now() - t0) / 1000;
    if (Number(reply) !== size) {
      throw new Error(`the sink got ${reply.trim()} bytes, not ${size}`);
    }
    return { rate: size / MiB / s, count: size };
  });
}

const runs: Record<string, () => Promise<Result>> = {
  readline: () => readline(Number(arg)),
  recv_into: () => bulk(Number(arg), recvInto),
  readable: () => bulk(Number(arg), readable),
  byob: () => bulk(Number(arg), byob),
  sendfile: () => sendFile(arg, true),
  loop: () => sendFile(arg, false),
};
const run = runs[mode];
if (run === undefined) throw new Error(`unknown mode '${mode}'`);
console.log(JSON.stringify(await run()));

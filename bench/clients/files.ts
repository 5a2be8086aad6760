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
 *   bench/clients/files.ts --backend deno|libc MODE ARG [WARM]
 * ```
 *
 * | MODE        | ARG    | "rate"                                               |
 * | ----------- | ------ | ---------------------------------------------------- |
 * | `readline`  | N      | lines/s, N lines of 64 bytes until EOF               |
 * | `recv_into` | NBYTES | MiB/s, `recv_into` a 64 KiB buffer until EOF         |
 * | `fresh`     | NBYTES | MiB/s, `recv_into` a new 64 KiB buffer each time     |
 * | `readable`  | NBYTES | MiB/s, `for await` over `sock.readable`              |
 * | `byob`      | NBYTES | MiB/s, a BYOB reader of `sock.readable`, 64 KiB      |
 * | `native_*`  | NBYTES | the same four on Deno's own `Deno.Conn`: `conn.read`  |
 * |             |        | into 64 KiB (one, or a new one each time),            |
 * |             |        | `conn.readable`, a BYOB reader of it                  |
 * | `sendfile`  | PATH   | MiB/s, `sock.sendfile`, until the sink reports back  |
 * | `loop`      | PATH   | MiB/s, `file.read` into 1 MiB and `sendall`, same    |
 *
 * The bulk modes read WARM bytes (default 0) untimed before their NBYTES,
 * so that V8's compiling of the reader's code is not what they measure. The
 * readers time from the first line or chunk (after the warm-up) to EOF and
 * count what came after it; "peer_busy" is the peer's CPU time over its wall time, and the
 * bulk readers' "cpu" is this process's user+sys CPU seconds per GiB over
 * the timed part (steadier than the rate on a shared machine).
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
import process from "node:process";
import { parseBackend } from "./client.ts";

const MiB = 1 << 20;

interface Result {
  rate: number;
  count: number;
  peer_busy?: number;
  cpu?: number;
}

const { backend, rest: [mode, arg, warmArg] } = parseBackend(Deno.args);
// Bytes a bulk mode reads untimed first.
const warm = Number(warmArg ?? 0);

/** A listening socket: this module's, or Deno's own for the native rows. */
interface Listening<C> {
  port: number;
  accept(): Promise<C>;
  close(): void;
}

function listenModule(): Listening<Socket> {
  const srv = socket(AF_INET, SOCK_STREAM, 0, { backend });
  try {
    srv.bind(["127.0.0.1", 0]);
    srv.listen();
    srv.settimeout(10);
  } catch (e) {
    srv.close();
    throw e;
  }
  return {
    port: (srv.getsockname() as [string, number])[1],
    accept: async () => (await srv.accept())[0],
    close: () => srv.close(),
  };
}

function listenNative(): Listening<Deno.Conn> {
  const srv = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    port: (srv.addr as Deno.NetAddr).port,
    accept: () => srv.accept(),
    close: () => srv.close(),
  };
}

/**
 * Listens, starts the peer, accepts, runs `measure` on the connection, and
 * adds what the peer reported.
 */
async function serve<C extends { close(): void }>(
  listening: Listening<C>,
  peerArgs: string[],
  measure: (conn: C) => Promise<Result>,
): Promise<Result> {
  using _srv = { [Symbol.dispose]: () => listening.close() };
  const [peerMode, ...more] = peerArgs;
  const peer = new Deno.Command("python3", {
    args: [
      "bench/clients/files_peer.py",
      peerMode,
      String(listening.port),
      ...more,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let done = false;
  try {
    const conn = await listening.accept();
    let result: Result;
    try {
      // Blocking, the default: the harness's time limit bounds the run.
      result = await measure(conn);
    } finally {
      try {
        conn.close();
      } catch {
        // Deno's conn.readable closes its connection at EOF.
      }
    }
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
  return serve(listenModule(), ["lines", String(n)], async (conn) => {
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

/**
 * One bulk read of `nbytes` after `warm` bytes read untimed (so that what is
 * measured is the steady state, not V8 compiling the reader's code); `next`
 * returns each chunk's length, 0 at EOF. Timed from the first chunk boundary
 * at or after `warm` bytes (after the first chunk when `warm` is 0).
 */
function bulk<C extends { close(): void }>(
  listening: Listening<C>,
  nbytes: number,
  warm: number,
  reader: (conn: C) => () => Promise<number>,
): Promise<Result> {
  const all = nbytes + warm;
  return serve(listening, ["bytes", String(all)], async (conn) => {
    const next = reader(conn);
    // The count is kept in a Float64Array: a plain number starts as a
    // small integer, and V8 deoptimizes the loop (with the reader's code
    // inlined into it) when it passes 2^30, 1 GiB into the run.
    const count = new Float64Array(1);
    for (let n; count[0] < Math.max(warm, 1) && (n = await next()) > 0;) {
      count[0] += n;
    }
    const untimed = count[0];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let n; (n = await next()) > 0;) count[0] += n;
    const s = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const total = count[0];
    if (total !== all) throw new Error(`${total} bytes, not ${all}`);
    return {
      rate: (total - untimed) / MiB / s,
      count: total,
      cpu: (cpu.user + cpu.system) / 1e6 / ((total - untimed) / 2 ** 30),
    };
  });
}

function recvInto(conn: Socket): () => Promise<number> {
  const buf = new Uint8Array(65536);
  return () => conn.recv_into(buf);
}

// What a reader that keeps every chunk pays: a new buffer per read (the
// bound of `for await`, whose chunks are the caller's to keep).
function recvIntoFresh(conn: Socket): () => Promise<number> {
  return () => conn.recv_into(new Uint8Array(65536));
}

function connRead(conn: Deno.Conn): () => Promise<number> {
  const buf = new Uint8Array(65536);
  return async () => (await conn.read(buf)) ?? 0;
}

function connReadFresh(conn: Deno.Conn): () => Promise<number> {
  return async () => (await conn.read(new Uint8Array(65536))) ?? 0;
}

/** `for await` over a byte stream, one chunk per call. */
function forAwait(
  stream: ReadableStream<Uint8Array>,
): () => Promise<number> {
  const chunks = stream[Symbol.asyncIterator]();
  return async () => {
    const r = await chunks.next();
    return r.done ? 0 : r.value.length;
  };
}

/** A BYOB reader of a byte stream filling one 64 KiB buffer. */
function byob(stream: ReadableStream<Uint8Array>): () => Promise<number> {
  const reader = stream.getReader({ mode: "byob" });
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
  return serve(listenModule(), ["sink"], async (conn) => {
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
  recv_into: () => bulk(listenModule(), Number(arg), warm, recvInto),
  fresh: () => bulk(listenModule(), Number(arg), warm, recvIntoFresh),
  readable: () =>
    bulk(listenModule(), Number(arg), warm, (c) => forAwait(c.readable)),
  byob: () => bulk(listenModule(), Number(arg), warm, (c) => byob(c.readable)),
  native_read: () => bulk(listenNative(), Number(arg), warm, connRead),
  native_fresh: () => bulk(listenNative(), Number(arg), warm, connReadFresh),
  native_readable: () =>
    bulk(listenNative(), Number(arg), warm, (c) => forAwait(c.readable)),
  native_byob: () =>
    bulk(listenNative(), Number(arg), warm, (c) => byob(c.readable)),
  sendfile: () => sendFile(arg, true),
  loop: () => sendFile(arg, false),
};
const run = runs[mode];
if (run === undefined) throw new Error(`unknown mode '${mode}'`);
console.log(JSON.stringify(await run()));

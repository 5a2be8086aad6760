// Web Streams over a socket, shaped like Deno.Conn's `readable` and
// `writable`: a byte stream read with recv_into (BYOB readers fill their own
// buffers), and a writable that sends each chunk with sendall.
import { SHUT_WR } from "./constants.ts";

/** What the streams need of a socket (the public Socket methods). */
export interface StreamSocket {
  /** Receive into `buffer`; 0 at EOF. */
  recv_into(
    buffer: Uint8Array,
    nbytes: number,
    flags: number,
    options: { signal?: AbortSignal },
  ): Promise<number>;
  /** Send all of `data`. */
  sendall(data: Uint8Array): Promise<void>;
  /** shutdown(2). */
  shutdown(how: number): void;
  /** close(). */
  close(): void;
}

// What one read asks the socket for when the reader brings no buffer.
const CHUNK = 1 << 16;

// ReadableStream's byte-source constructor: a subclass cannot reach it
// through the generic declaration's overloads.
const ByteStream = ReadableStream as new (
  source: UnderlyingByteSource,
  strategy?: { highWaterMark?: number },
) => ReadableStream<Uint8Array<ArrayBuffer>>;

/**
 * A byte ReadableStream over `sock`. A read in flight is a `recv_into`
 * with a signal of its own: cancelling the stream or releasing a reader
 * aborts it, which loses nothing, so bytes that had not come yet are there
 * for the socket's next `recv()`.
 */
export class SocketReadable extends ByteStream {
  readonly #stop: () => void;

  /**
   * @param sock The socket to read.
   */
  constructor(sock: StreamSocket) {
    let inflight: AbortController | null = null;
    let pulling: Promise<void> = Promise.resolve();
    const source: UnderlyingByteSource = {
      type: "bytes",
      autoAllocateChunkSize: CHUNK,
      pull(controller: ReadableByteStreamController) {
        return pulling = pull(controller);
      },
      // Resolves once the read it ended has let go: nothing left running.
      cancel() {
        inflight?.abort();
        return pulling;
      },
    };
    const pull = async (controller: ReadableByteStreamController) => {
      // autoAllocateChunkSize: there is always a request with a view.
      const request = controller.byobRequest!;
      const view = request.view!;
      const target = new Uint8Array(
        view.buffer,
        view.byteOffset,
        view.byteLength,
      );
      const stop = inflight = new AbortController();
      let n: number;
      try {
        n = await sock.recv_into(target, 0, 0, { signal: stop.signal });
      } catch (e) {
        // Released or cancelled: the socket kept whatever comes next.
        if (!stop.signal.aborted) controller.error(e);
        return;
      } finally {
        if (inflight === stop) inflight = null;
      }
      if (n === 0) {
        controller.close();
        request.respond(0);
      } else request.respond(n);
    };
    super(source, { highWaterMark: 0 });
    this.#stop = () => inflight?.abort();
  }

  /**
   * A reader (`{ mode: "byob" }` for one that brings its own buffers);
   * releasing it ends the read in flight without losing data.
   *
   * @param options `{ mode: "byob" }`, or nothing.
   * @returns The reader.
   */
  override getReader(
    options: { mode: "byob" },
  ): ReadableStreamBYOBReader;
  override getReader(): ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>>;
  override getReader(
    options?: ReadableStreamGetReaderOptions,
  ): ReadableStreamReader<Uint8Array<ArrayBuffer>>;
  override getReader(
    options?: ReadableStreamGetReaderOptions,
  ): ReadableStreamReader<Uint8Array<ArrayBuffer>> {
    const reader = super.getReader(options);
    const release = reader.releaseLock.bind(reader);
    const stop = this.#stop;
    reader.releaseLock = () => {
      stop();
      release();
    };
    return reader;
  }
}

/**
 * A WritableStream over `sock`: each chunk goes through `sendall`, one at a
 * time (backpressure: a writer waits while a chunk is on its way);
 * `close()` shuts down writing (SHUT_WR), `abort()` closes the socket.
 *
 * @param sock The socket to write.
 * @returns The stream.
 */
export function socketWritable(
  sock: StreamSocket,
): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write(chunk) {
      return sock.sendall(chunk);
    },
    close() {
      sock.shutdown(SHUT_WR);
    },
    abort() {
      sock.close();
    },
  }, new CountQueuingStrategy({ highWaterMark: 1 }));
}

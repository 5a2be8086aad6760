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

/**
 * Where a backend's stream read (see {@linkcode DirectReads}) hands what it
 * got, in the same step as the read ends.
 */
export interface StreamSink {
  /** The read brought `n` bytes (0: EOF); false if the stream let go of it. */
  deliver(n: number): boolean;
  /** The read failed; false if the stream let go of it. */
  fail(e: unknown): boolean;
}

/**
 * What a backend may offer a byte stream (both backends do): a read
 * into a buffer the stream owns, that a released reader or a cancel gives
 * up without a signal and without losing its bytes.
 */
export interface DirectReads {
  /** Start the read, or null to read through recv_into this time. */
  streamRead(buf: Uint8Array, sink: StreamSink): Promise<void> | null;
  /**
   * The stream let go of the read in flight; what it returns settles once
   * the read has let go, where that takes a moment.
   */
  streamAbandon(): Promise<void> | void;
}

// What one read asks the socket for when the reader brings no buffer.
const CHUNK = 1 << 16;
// A `for await` chunk at least this full keeps the buffer it was read into;
// a smaller one is copied out, and the buffer serves the next read.
const KEEP = CHUNK >> 1;

// Where the iterators returned by values() inherit [Symbol.asyncIterator]
// and [Symbol.asyncDispose] from, as the built-in one does.
const AsyncIteratorPrototype = Object.getPrototypeOf(
  Object.getPrototypeOf(async function* () {}).prototype,
);

type Chunk = Uint8Array<ArrayBuffer>;
type BYOBResult = ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;

// Where a read's outcome goes: a pull's request, or a BYOB read's promise.
interface Taker {
  take(n: number): void;
  fail(e: unknown): void;
}

// A BYOB read's promise, also settled at once when its reader lets go: as
// the spec's, released rejects it, cancelled resolves it done.
interface FastRead extends Taker {
  drop(cancel: boolean): void;
}

// A view a BYOB read may take straight: a whole-byte Uint8Array of a plain
// ArrayBuffer, with room, asking for no more than one byte at least.
function plain(view: ArrayBufferView, opts?: { min?: number }): boolean {
  return Object.getPrototypeOf(view) === Uint8Array.prototype &&
    view.byteLength > 0 && view.buffer instanceof ArrayBuffer &&
    !view.buffer.resizable && (opts?.min === undefined || opts.min <= 1);
}
const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

/** A readable byte stream over a socket (see defineSocketReadable). */
export type SocketReadable = ReadableStream<Uint8Array<ArrayBuffer>>;

let socketReadableClass: ReturnType<typeof defineSocketReadable> | null = null;

/**
 * A byte ReadableStream over `sock` (see defineSocketReadable).
 *
 * @param sock The socket to read.
 * @param direct The backend to read from straight, when there is one
 *   that offers {@linkcode DirectReads} and the socket has no timeout.
 * @returns The stream.
 */
export function socketReadable(
  sock: StreamSocket,
  direct?: () => unknown,
): SocketReadable {
  socketReadableClass ??= defineSocketReadable();
  return new socketReadableClass(sock, direct);
}

// The class is made on first use: naming ReadableStream at import would
// load Deno's streams implementation (about 6 ms) into every program that
// imports this module, streams or not.
function defineSocketReadable() {
  // ReadableStream's byte-source constructor: a subclass cannot reach it
  // through the generic declaration's overloads.
  const ByteStream = ReadableStream as new (
    source: UnderlyingByteSource,
    strategy?: { highWaterMark?: number },
  ) => ReadableStream<Uint8Array<ArrayBuffer>>;

  /**
   * A byte ReadableStream over `sock`. A read in flight is the backend's
   * stream read where `direct` gives one (a blocking socket), else a
   * `recv_into` with a signal: cancelling the stream or releasing a reader
   * gives it up, which loses nothing, so bytes not yet handed to a reader are
   * there for the socket's next `recv()`. `for await` takes its chunks from
   * the socket without the byte-stream machinery in between (see `values()`).
   */
  class SocketReadable extends ByteStream {
    readonly #sock: StreamSocket;
    readonly #stop: (cancel: boolean) => Promise<void> | void;
    readonly #fast: (view: Uint8Array) => Promise<BYOBResult> | null;
    readonly #controller: ReadableByteStreamController;
    // Neither closed nor errored by this class, nor cancelled: while so, and
    // with nothing queued, the stream's next bytes are the socket's.
    #open = true;

    /**
     * @param sock The socket to read.
     * @param direct The backend to read from straight, when there is one
     *   that offers {@linkcode DirectReads} and the socket has no timeout.
     */
    constructor(sock: StreamSocket, direct?: () => unknown) {
      // The one read in flight, a pull's or a BYOB reader's own (#fast): the
      // signal of a recv_into, or the backend of a stream read; and what
      // takes its outcome.
      let inflight: AbortController | null = null;
      let reading: DirectReads | null = null;
      let taker: Taker | null = null;
      // A BYOB read of #fast's in flight, until it is settled.
      let fast: FastRead | null = null;
      const sink: StreamSink = {
        deliver: (n) => {
          const t = taker;
          taker = reading = null;
          if (t === null) return false;
          try {
            t.take(n);
          } catch {
            // The stream cannot take them: they stay the socket's.
            return n === 0;
          }
          return true;
        },
        fail: (e) => {
          const t = taker;
          taker = reading = null;
          if (t === null) return false;
          t.fail(e);
          return true;
        },
      };
      // One controller serves every read until one is aborted: a new one per
      // read costs more than the read's own bookkeeping.
      let spare = new AbortController();
      let pulling: Promise<void> = Promise.resolve();
      let controller!: ReadableByteStreamController;
      const source: UnderlyingByteSource = {
        type: "bytes",
        autoAllocateChunkSize: CHUNK,
        start(c) {
          controller = c;
        },
        pull(controller: ReadableByteStreamController) {
          return pulling = pull(controller);
        },
        // Resolves once the read it ended has let go: nothing left running.
        // A backend's stream read ends its wait (libc), or cannot be ended
        // and its bytes go back to the socket (Deno).
        cancel: () => {
          this.#open = false;
          const direct = reading !== null;
          const letGo = stop(true);
          return direct ? letGo : pulling;
        },
      };
      // A reader let go (released, or the stream cancelled): end the read in
      // flight, or leave its bytes to the socket.
      const stop = (cancel: boolean): Promise<void> | void => {
        inflight?.abort();
        let letGo: Promise<void> | void = undefined;
        if (reading !== null) {
          const backend = reading;
          taker = reading = null;
          letGo = backend.streamAbandon();
        }
        fast?.drop(cancel);
        fast = null;
        return letGo;
      };
      // Read into `target`; `t` takes the outcome unless a reader lets go.
      const read = (target: Uint8Array, t: Taker): Promise<void> => {
        const backend = direct?.() as Partial<DirectReads> | null | undefined;
        if (backend?.streamRead !== undefined) {
          taker = t;
          reading = backend as DirectReads;
          const started = reading.streamRead(target, sink);
          if (started !== null) return started;
          taker = reading = null;
        }
        return readSignalled(target, t);
      };
      const readSignalled = async (target: Uint8Array, t: Taker) => {
        const stop = inflight = spare;
        let n: number;
        try {
          n = await sock.recv_into(target, 0, 0, { signal: stop.signal });
        } catch (e) {
          // Released or cancelled: the socket kept whatever comes next.
          if (!stop.signal.aborted) t.fail(e);
          return;
        } finally {
          if (inflight === stop) inflight = null;
          if (stop.signal.aborted) spare = new AbortController();
        }
        t.take(n);
      };
      const pull = (controller: ReadableByteStreamController) => {
        // autoAllocateChunkSize: there is always a request with a view.
        const req = controller.byobRequest!;
        const view = req.view!;
        return read(
          new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
          {
            take: (n) => {
              if (n === 0) {
                this.#close();
                req.respond(0);
              } else req.respond(n);
            },
            fail: (e) => this.#error(e),
          },
        );
      };
      super(source, { highWaterMark: 0 });
      this.#sock = sock;
      this.#controller = controller;
      this.#stop = stop;
      // A BYOB read with nothing queued and no read in flight, into a plain
      // Uint8Array: the spec's steps without the controller's (one transfer
      // of the buffer, not two; no pull-into descriptor, request or pull).
      this.#fast = (view) => {
        if (
          !this.#open || controller.desiredSize !== 0 || inflight !== null ||
          taker !== null || fast !== null
        ) return null;
        // The view reads as empty once its buffer is transferred.
        const { byteOffset, byteLength } = view;
        const buffer = (view.buffer as ArrayBuffer).transfer();
        const target = new Uint8Array(buffer, byteOffset, byteLength);
        return new Promise<BYOBResult>((resolve, reject) => {
          const f: FastRead = fast = {
            take: (n) => {
              if (fast !== f) {
                // Let go of after the bytes came (the signalled path): a
                // later reader of the stream gets them.
                if (n > 0 && this.#open) controller.enqueue(target.slice(0, n));
                return;
              }
              fast = null;
              if (n === 0) this.#close();
              resolve({ value: target.subarray(0, n), done: n === 0 });
            },
            fail: (e) => {
              if (fast !== f) return;
              fast = null;
              this.#error(e);
              reject(e);
            },
            drop: (cancel) => {
              if (cancel) resolve({ value: undefined, done: true });
              else reject(new TypeError("the reader was released"));
            },
          };
          read(target, f);
        });
      };
    }

    #close(): void {
      this.#open = false;
      this.#controller.close();
    }

    #error(e: unknown): void {
      this.#open = false;
      this.#controller.error(e);
    }

    /**
     * A reader (`{ mode: "byob" }` for one that brings its own buffers);
     * releasing it ends the read in flight without losing data. A BYOB
     * reader's reads into a `Uint8Array` go to the socket straight while the
     * stream has nothing queued; as the spec's, each transfers the buffer
     * and resolves with a view of it.
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
      let held = true;
      reader.releaseLock = () => {
        if (held) stop(false);
        held = false;
        release();
      };
      if (options?.mode !== "byob") return reader;
      const byob = reader as ReadableStreamBYOBReader;
      const spec = byob.read.bind(byob);
      const fast = this.#fast;
      const dispatch = (view: ArrayBufferView, opts?: { min?: number }) => {
        if (held && plain(view, opts)) {
          const p = fast(view as Uint8Array);
          if (p !== null) return p;
        }
        return spec(view, opts);
      };
      // This reader's reads not yet settled, and the last: a read waits for
      // those before it, so they keep the caller's order whichever way each
      // goes.
      let busy = 0;
      let last: Promise<unknown> = Promise.resolve();
      const settled = () => {
        busy--;
      };
      const read = (view: ArrayBufferView, opts?: { min?: number }) => {
        const run = () => dispatch(view, opts);
        const p = busy === 0 ? run() : last.then(run, run);
        busy++;
        p.then(settled, settled);
        return last = p;
      };
      byob.read = read as typeof byob.read;
      return reader;
    }

    /**
     * An async iterator over the stream's chunks, as `for await` uses: it
     * locks the stream with a reader, as the built-in iterator does, and ends
     * at EOF. Leaving the loop early (`return()`) cancels the stream, or with
     * `preventCancel` releases it for another reader; an error ends the loop
     * and errors the stream. Each chunk is the reader's own, sized to what
     * came; they are read from the socket straight, without the byte-stream
     * machinery, whenever the stream has nothing queued.
     *
     * @param options `preventCancel`: leave the stream uncancelled on `return()`.
     * @returns The iterator.
     */
    override values(
      options?: ReadableStreamIteratorOptions,
    ): AsyncIterableIterator<Uint8Array<ArrayBuffer>> {
      const reader = super.getReader();
      return new ChunkIterator(
        this.#sock,
        reader,
        options?.preventCancel === true,
        () => this.#open && this.#controller.desiredSize === 0,
        (e) => this.#error(e),
        () => this.#close(),
      );
    }

    /**
     * The same as {@linkcode SocketReadable.values}.
     *
     * @param options `preventCancel`: leave the stream uncancelled on `return()`.
     * @returns The iterator.
     */
    override [Symbol.asyncIterator](
      options?: ReadableStreamIteratorOptions,
    ): AsyncIterableIterator<Uint8Array<ArrayBuffer>> {
      return this.values(options);
    }
  }
  return SocketReadable;
}

// The iterator of SocketReadable.values(), with the built-in one's steps
// (WHATWG Streams, "ReadableStream async iterator"): next() calls run one
// after another; at the end, or on an error, the reader is released.
class ChunkIterator {
  readonly #sock: StreamSocket;
  readonly #reader: ReadableStreamDefaultReader<Chunk>;
  readonly #preventCancel: boolean;
  readonly #direct: () => boolean;
  readonly #fail: (e: unknown) => void;
  readonly #end: () => void;
  #finished = false;
  // Calls not yet settled, and the last of them: a call waits for the one
  // before it, as the spec's ongoing promise makes it.
  #busy = 0;
  #last: Promise<unknown> = Promise.resolve();
  // The buffer the next direct read fills, kept from a short read.
  #buf: Chunk | null = null;

  constructor(
    sock: StreamSocket,
    reader: ReadableStreamDefaultReader<Chunk>,
    preventCancel: boolean,
    direct: () => boolean,
    fail: (e: unknown) => void,
    end: () => void,
  ) {
    this.#sock = sock;
    this.#reader = reader;
    this.#preventCancel = preventCancel;
    this.#direct = direct;
    this.#fail = fail;
    this.#end = end;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Chunk, undefined>> {
    return this.#queue(() => this.#next());
  }

  return(value?: unknown): Promise<IteratorResult<Chunk, undefined>> {
    return this.#queue(() => this.#return(value));
  }

  // Each step counts itself out when it settles (#next, #return).
  #queue<T>(step: () => Promise<T>): Promise<T> {
    const p = this.#busy === 0 ? step() : this.#last.then(step, step);
    this.#busy++;
    return this.#last = p;
  }

  async #next(): Promise<IteratorResult<Chunk, undefined>> {
    try {
      return await this.#take();
    } finally {
      this.#busy--;
    }
  }

  async #take(): Promise<IteratorResult<Chunk, undefined>> {
    if (this.#finished) return DONE;
    if (!this.#direct()) return await this.#viaReader();
    const buf = this.#buf ?? new Uint8Array(CHUNK);
    let n: number;
    try {
      n = await this.#sock.recv_into(buf, 0, 0, {});
    } catch (e) {
      this.#finished = true;
      this.#fail(e);
      this.#reader.releaseLock();
      throw e;
    }
    if (n === 0) {
      this.#finished = true;
      this.#end();
      this.#reader.releaseLock();
      return DONE;
    }
    if (n >= KEEP) {
      this.#buf = null;
      return { value: n === CHUNK ? buf : buf.subarray(0, n), done: false };
    }
    this.#buf = buf;
    return { value: buf.slice(0, n), done: false };
  }

  // Something is queued in the stream, or it has ended: the spec's steps.
  async #viaReader(): Promise<IteratorResult<Chunk, undefined>> {
    let r: ReadableStreamReadResult<Chunk>;
    try {
      r = await this.#reader.read();
    } catch (e) {
      this.#finished = true;
      this.#reader.releaseLock();
      throw e;
    }
    if (r.done) {
      this.#finished = true;
      this.#reader.releaseLock();
      return DONE;
    }
    return { value: r.value, done: false };
  }

  async #return(value: unknown): Promise<IteratorResult<Chunk, undefined>> {
    try {
      const done = { value: value as undefined, done: true as const };
      if (this.#finished) return done;
      this.#finished = true;
      if (this.#preventCancel) {
        this.#reader.releaseLock();
      } else {
        const cancelled = this.#reader.cancel(value);
        this.#reader.releaseLock();
        await cancelled;
      }
      return done;
    } finally {
      this.#busy--;
    }
  }
}
Object.setPrototypeOf(ChunkIterator.prototype, AsyncIteratorPrototype);

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

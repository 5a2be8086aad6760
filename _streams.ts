// Web Streams over a socket, shaped like Deno.Conn's `readable` and
// `writable`: a byte stream read straight from the backend (BYOB readers
// fill their own buffers), and a writable that sends each chunk with
// sendall.
import { SHUT_WR } from "./constants.ts";
import { raceWait, type Wait } from "./_wait.ts";

/** What the streams need of a socket (the public Socket methods). */
export interface StreamSocket {
  /** Receive into `buffer`; 0 at EOF. */
  recv_into(
    buffer: Uint8Array,
    nbytes: number,
    flags: number,
    options: { signal?: AbortSignal },
  ): Promise<number>;
  /** Send all of `data`; `signal` ends the wait. */
  sendall(
    data: Uint8Array,
    flags: number,
    options: { signal?: AbortSignal },
  ): Promise<void>;
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
  /** Whether the stream still wants the read. */
  wanted(): boolean;
}

/**
 * What a byte stream reads through (both backends offer it): a read into a
 * buffer the stream owns whose bytes reach the stream in the same step as
 * they leave the socket, so that a reader released or a stream cancelled
 * never holds bytes it did not hand out; and a way to give back bytes the
 * stream took but could not hand out (a BYOB read with `min` let go half
 * filled).
 */
export interface DirectReads {
  /**
   * Start the read, waiting as `wait` says (the socket's timeout; expiry
   * fails it with the error recv() would raise), or null where no byte can
   * come (a closed or unconnected socket): then recv_into says why.
   */
  streamRead(
    buf: Uint8Array,
    sink: StreamSink,
    wait: Wait,
  ): Promise<void> | null;
  /**
   * The stream let go of the read in flight; what it returns settles once
   * the read has let go, where that takes a moment.
   */
  streamAbandon(): Promise<void> | void;
  /**
   * A read still in flight into `buffer` that cannot be ended (one a
   * stream let go of): settles once it has ended and its bytes are the
   * socket's; null when there is none.
   */
  readingInto(buffer: ArrayBufferLike): Promise<void> | null;
  /**
   * Bytes received that no reader took: every receive returns them before
   * anything else, and readiness reports the socket readable meanwhile.
   * The bytes are copied.
   */
  giveBack(bytes: Uint8Array): void;
}

/** What a stream reads from: the backend's reads, and the socket's wait. */
export interface DirectSource {
  /** The backend's reads; null where there are none (a closed socket). */
  reads(): DirectReads | null;
  /** How long one read may wait now (the socket's timeout). */
  wait(): Wait;
  /**
   * recv_into() of a buffer of the stream's own that nothing else sees: a
   * blocking one may be ended by shutdown(), as Python's is.
   */
  recvOwn(target: Uint8Array): Promise<number>;
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

// The views a BYOB read takes straight (see fastMin): the built-in typed
// arrays and DataView, by prototype, so that a result is made the same way.
const VIEWS: ReadonlySet<object> = new Set(
  [
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float16Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
    "DataView",
  ].flatMap((name) => {
    const ctor = (globalThis as Record<string, unknown>)[name];
    return typeof ctor === "function" ? [ctor.prototype as object] : [];
  }),
);

// The built-in view prototype `view` inherits from (a subclass's too), or
// null.
function builtin(view: ArrayBufferView): object | null {
  let proto = Object.getPrototypeOf(view);
  while (proto !== null && !VIEWS.has(proto)) {
    proto = Object.getPrototypeOf(proto);
  }
  return proto;
}

// How many elements a BYOB read of `view` must bring before it resolves,
// when the read can go to the socket straight: a built-in view (or a
// subclass's) of an ArrayBuffer, with room, and a valid `min`; 0 otherwise
// (the spec's steps then take it, and raise its errors for bad input).
function fastMin(view: ArrayBufferView, opts?: { min?: number }): number {
  if (builtin(view) === null) return 0;
  const buffer = view.buffer;
  if (view.byteLength === 0 || !(buffer instanceof ArrayBuffer)) return 0;
  const length = view instanceof DataView
    ? view.byteLength
    : (view as Uint8Array).length;
  const min = opts?.min ?? 1;
  return Number.isInteger(min) && min >= 1 && min <= length ? min : 0;
}

// The error the spec's BYOBReader read() rejects `view` and `opts` with
// before it looks at the stream (the WebIDL conversions, then its own
// checks), or null: a read queued behind another must fail at once too, as
// the built-in reader's does, not when its turn comes.
function badRead(view: unknown, opts: unknown): Error | null {
  const arg = "Failed to execute 'read' on 'ReadableStreamBYOBReader': ";
  if (!ArrayBuffer.isView(view)) {
    return new TypeError(
      `${arg}Argument 1 is not a view on an ArrayBuffer or SharedArrayBuffer`,
    );
  }
  if (!(view.buffer instanceof ArrayBuffer)) {
    return new TypeError(
      `${arg}Argument 1 is a view on a SharedArrayBuffer, which is not allowed`,
    );
  }
  if (opts !== undefined && opts !== null && typeof opts !== "object") {
    return new TypeError(
      `${arg}Argument 2 can not be converted to a dictionary`,
    );
  }
  const given = (opts as { min?: unknown } | null | undefined)?.min;
  let min = 1;
  if (given !== undefined) {
    const option = `${arg}'min' of 'ReadableStreamBYOBReaderReadOptions' ` +
      "(Argument 2)";
    try {
      min = Number(given);
    } catch (e) {
      return e as Error;
    }
    if (!Number.isFinite(min)) {
      return new TypeError(`${option} is not a finite number`);
    }
    min = Math.trunc(min);
    if (min < 0 || min > Number.MAX_SAFE_INTEGER) {
      return new TypeError(
        `${option} is outside the accepted range of 0 to ` +
          `${Number.MAX_SAFE_INTEGER}, inclusive`,
      );
    }
  }
  if (view.byteLength === 0) {
    return new TypeError("view must have non-zero byteLength");
  }
  if (view.buffer.byteLength === 0) {
    return new TypeError("view's buffer must have non-zero byteLength");
  }
  if (min === 0) return new TypeError("options.min must be non-zero");
  const length = view instanceof DataView
    ? view.byteLength
    : (view as Uint8Array).length;
  if (min > length) {
    return new RangeError(
      "options.min must be smaller or equal to view's size",
    );
  }
  return null;
}

// The spec's TransferArrayBuffer: `view`'s buffer moved to a new one, of
// fixed length (a resizable one's too). Throws where it cannot move.
function transfer(view: ArrayBufferView): ArrayBuffer {
  const buffer = view.buffer as ArrayBuffer;
  return buffer.resizable ? buffer.transferToFixedLength() : buffer.transfer();
}

// A view of the same built-in kind as `view` (a subclass's base, as the
// spec makes it) over `bytes` bytes of `buffer` from `offset`.
function sameView(
  view: ArrayBufferView,
  buffer: ArrayBuffer,
  offset: number,
  bytes: number,
): ArrayBufferView<ArrayBuffer> {
  if (view instanceof DataView) return new DataView(buffer, offset, bytes);
  const ctor = (builtin(view) as { constructor: unknown }).constructor as new (
    buffer: ArrayBuffer,
    offset: number,
    length: number,
  ) => ArrayBufferView<ArrayBuffer>;
  return new ctor(buffer, offset, bytes / elementSize(view));
}

function elementSize(view: ArrayBufferView): number {
  return (view as Uint8Array).BYTES_PER_ELEMENT ?? 1;
}

// The one read in flight of a stream: the backend reading, and what takes
// the outcome.
interface ReadState {
  reading: DirectReads | null;
  taker: Taker | null;
}

// One read's sink: a read of the backend's may end after the stream let go
// of it and started another, whose taker its outcome must not reach.
class ReadSink implements StreamSink {
  readonly #st: ReadState;
  readonly #t: Taker;

  constructor(st: ReadState, t: Taker) {
    this.#st = st;
    this.#t = t;
  }

  deliver(n: number): boolean {
    const st = this.#st;
    if (st.taker !== this.#t) return false;
    st.taker = st.reading = null;
    try {
      this.#t.take(n);
    } catch (e) {
      // The stream cannot take them (its state changed under the read):
      // they stay the socket's, and the stream's reads learn why.
      this.#t.fail(e);
      return n === 0;
    }
    return true;
  }

  fail(e: unknown): boolean {
    const st = this.#st;
    if (st.taker !== this.#t) return false;
    st.taker = st.reading = null;
    this.#t.fail(e);
    return true;
  }

  wanted(): boolean {
    return this.#st.taker === this.#t;
  }
}

// A read that ends as the Streams spec has it: `value` is there, undefined
// (the cast: TypeScript's lib types `value` as optional).
function readDone<T>(): ReadableStreamReadDoneResult<T> {
  return { done: true, value: undefined } as ReadableStreamReadDoneResult<T>;
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
 * @param direct What to read from straight: the socket's backend and
 *   timeout.
 * @returns The stream.
 */
export function socketReadable(
  sock: StreamSocket,
  direct: DirectSource,
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
   * stream read, which hands its bytes to the stream in the same step as
   * they leave the socket: cancelling the stream or releasing a reader
   * gives it up, so bytes not yet handed to a reader are there for the
   * socket's next `recv()`; bytes a BYOB read with `min` took and could not
   * hand out go back to the socket. `for await` takes its chunks from the
   * socket without the byte-stream machinery in between (see `values()`).
   */
  class SocketReadable extends ByteStream {
    readonly #recvOwn: (target: Uint8Array) => Promise<number>;
    readonly #reads: () => DirectReads | null;
    readonly #stop: (cancel: boolean) => Promise<void> | void;
    readonly #refill: () => void;
    readonly #fast: (
      view: ArrayBufferView,
      min: number,
    ) => Promise<ReadableStreamReadResult<ArrayBufferView<ArrayBuffer>>> | null;
    readonly #controller: ReadableByteStreamController;
    // Whether the stream's next bytes are the socket's: open, nothing
    // queued, no read in flight.
    readonly #idle: () => boolean;
    // Neither closed nor errored by this class, nor cancelled.
    #open = true;
    // How many times the stream was cancelled (once, or a no-op after).
    #cancels = 0;
    // The signal of the pipe reading the stream, and the pipe's promise.
    #pipeSignal: AbortSignal | null = null;
    #piped: Promise<void> | null = null;

    /**
     * @param sock The socket to read.
     * @param direct What to read from straight.
     */
    constructor(sock: StreamSocket, direct: DirectSource) {
      // The one read in flight, a pull's or a BYOB reader's own (#fast): the
      // signal of a recv_into, or the backend of a stream read; and what
      // takes its outcome.
      let inflight: AbortController | null = null;
      const st: ReadState = { reading: null, taker: null };
      // A BYOB read of #fast's, until it is settled.
      let fast: FastRead | null = null;
      // Bytes the stream took and cannot hand out: the socket's again.
      const giveBack = (bytes: Uint8Array) => {
        if (bytes.length > 0) direct.reads()?.giveBack(bytes);
      };
      let controller!: ReadableByteStreamController;
      // Whether a pipe whose signal has aborted still holds the stream; and
      // when it has let go.
      const pipeStopping = () =>
        this.#pipeSignal?.aborted === true && this.locked;
      const pipeLetGo = () => this.#piped!.then(() => {}, () => {});
      let pulling: Promise<void> = Promise.resolve();
      let released: PromiseWithResolvers<void> | null = null;
      // A read refill() started that no pull() has taken on yet.
      let refilling: Promise<void> | null = null;
      const source: UnderlyingByteSource = {
        type: "bytes",
        autoAllocateChunkSize: CHUNK,
        start(c) {
          controller = c;
        },
        // The controller calls pull() again only once this settles: it
        // settles when the read ends, or when its reader lets go (the read
        // may go on, unheld, and its bytes are the socket's), so that the
        // next reader's read is not left waiting on it.
        pull(controller: ReadableByteStreamController) {
          // A pipe whose signal aborted drops what a read brings it now:
          // no read until it lets go of the stream.
          if (pipeStopping()) return pipeLetGo();
          // A read refill() started still fills the request: wait for it.
          const filling = refilling !== null &&
            (st.taker !== null || inflight !== null);
          refilling = null;
          if (!filling) pulling = pull(controller);
          released ??= Promise.withResolvers();
          // Not Promise.race: `released` lives as long as the reader, and
          // would gather a reaction per chunk.
          return raceWait(pulling, null, undefined, released.promise).then(
            () => {},
          );
        },
        // Resolves once the read it ended has let go: nothing left running.
        // A backend's stream read ends its wait (libc), or cannot be ended
        // and its bytes go back to the socket (Deno).
        cancel: () => {
          this.#open = false;
          this.#cancels++;
          return stop(true);
        },
      };
      // A reader let go (released, or the stream cancelled): end the read in
      // flight, or leave its bytes to the socket. What it returns settles
      // once that read has let go (a read let go of before is not waited
      // for: a Deno read cannot be ended, and goes on unheld).
      const stop = (cancel: boolean): Promise<void> | void => {
        refilling = null;
        released?.resolve();
        released = null;
        let letGo: Promise<void> | void = undefined;
        if (inflight !== null) {
          inflight.abort();
          letGo = pulling;
        }
        if (st.reading !== null) {
          const backend = st.reading;
          st.taker = st.reading = null;
          letGo = backend.streamAbandon();
        }
        const f = fast;
        fast = null;
        f?.drop(cancel);
        return letGo;
      };
      // Read into `target`; `t` takes the outcome unless a reader lets go.
      const read = (target: Uint8Array, t: Taker): Promise<void> => {
        const backend = direct.reads();
        if (backend !== null) {
          st.taker = t;
          st.reading = backend;
          const started = backend.streamRead(
            target,
            new ReadSink(st, t),
            direct.wait(),
          );
          if (started !== null) return started;
          st.taker = st.reading = null;
        }
        return readSignalled(target, t);
      };
      // Where no byte can come (a closed or unconnected socket): recv_into
      // raises why. Bytes that come all the same after a reader let go go
      // back to the socket.
      const readSignalled = async (target: Uint8Array, t: Taker) => {
        const stop = inflight = new AbortController();
        let n: number;
        try {
          n = await sock.recv_into(target, 0, 0, { signal: stop.signal });
        } catch (e) {
          // Released or cancelled: the socket kept whatever comes next.
          if (!stop.signal.aborted) t.fail(e);
          return;
        } finally {
          if (inflight === stop) inflight = null;
        }
        if (stop.signal.aborted) giveBack(target.subarray(0, n));
        else t.take(n);
      };
      const pull = (controller: ReadableByteStreamController) => {
        // autoAllocateChunkSize: there is always a request with a view.
        const req = controller.byobRequest!;
        const view = req.view!;
        // The controller's own buffer (a reader's is transferred to one of
        // fixed length first).
        const target = new Uint8Array(
          view.buffer,
          view.byteOffset,
          view.byteLength,
        );
        return read(target, {
          take: (n) => {
            if (n === 0) {
              // Responds to `req` too (see #close).
              this.#close();
              return;
            }
            if (!this.locked || pipeStopping()) {
              // Its reader let go without releaseLock() (a pipe releases
              // its own), or is a pipe stopping that would drop them: no
              // read waits for these bytes, so they are the socket's, not
              // the stream's queue's. The request stays for the next read.
              giveBack(target.subarray(0, n));
              return;
            }
            req.respond(n);
          },
          fail: (e) => this.#error(e),
        });
      };
      super(source, { highWaterMark: 0 });
      // A pull-into whose read a reader let go of stays at the head of the
      // controller's queue, no pull() filling it: a read of the spec's
      // through a BYOB reader (tee()'s) is queued behind it and asks for no
      // pull, so it would wait for good. Fill it as pull() would: its bytes
      // go to the controller's queue (it is a released reader's), and the
      // reads behind it are served from there; EOF commits it (#close).
      this.#refill = () => {
        if (
          !this.#open || controller.byobRequest === null ||
          inflight !== null || st.taker !== null || fast !== null
        ) return;
        const filled: Promise<void> = pulling = pull(controller).finally(() => {
          if (refilling === filled) refilling = null;
        });
        refilling = filled;
        released ??= Promise.withResolvers();
      };
      this.#recvOwn = direct.recvOwn;
      this.#reads = direct.reads;
      this.#controller = controller;
      this.#stop = stop;
      // A BYOB read with nothing queued and no read in flight (see fastMin):
      // the spec's steps without the controller's (one transfer of the
      // buffer, not two; no pull-into descriptor, request or pull). It reads
      // until `min` elements are there; what it took and cannot hand out
      // (a part let go of, an element's odd bytes) goes back to the socket.
      // A read request a released reader left in the controller is not
      // waited on: it holds no byte (every view a read may leave half
      // filled is read through #fast, which gives its part back).
      this.#idle = () =>
        this.#open && controller.desiredSize === 0 && inflight === null &&
        st.taker === null && fast === null;
      this.#fast = (view, min) => {
        if (!this.#idle()) return null;
        // The view reads as empty once its buffer is transferred.
        const { byteOffset, byteLength } = view;
        const size = elementSize(view);
        const need = min * size;
        let buffer: ArrayBuffer;
        try {
          buffer = transfer(view);
        } catch (e) {
          // Not transferable (a WebAssembly memory's): as the spec's read.
          return Promise.reject(e);
        }
        const target = new Uint8Array(buffer, byteOffset, byteLength);
        const result = (bytes: number) =>
          sameView(view, buffer, byteOffset, bytes);
        let filled = 0;
        return new Promise((resolve, reject) => {
          const failed = (e: unknown) => {
            giveBack(target.subarray(0, filled));
            this.#error(e);
            reject(e);
          };
          const more = () => {
            if (fast === f) read(target.subarray(filled), f);
          };
          const f: FastRead = fast = {
            take: (n) => {
              if (fast !== f) {
                // Let go of after the bytes came: they are the socket's.
                giveBack(target.subarray(filled, filled + n));
                return;
              }
              if (n === 0) {
                fast = null;
                if (filled % size !== 0) {
                  failed(
                    new TypeError(
                      "Insufficient bytes to fill elements in the given buffer",
                    ),
                  );
                  return;
                }
                try {
                  this.#close();
                } catch (e) {
                  reject(e);
                  return;
                }
                resolve({ value: result(filled), done: true });
                return;
              }
              filled += n;
              if (filled < need) {
                // Not from inside the backend's step: a read that keeps
                // finding bytes at once would nest deeper each time.
                queueMicrotask(more);
                return;
              }
              fast = null;
              const whole = filled - filled % size;
              if (whole < filled) giveBack(target.subarray(whole, filled));
              resolve({ value: result(whole), done: false });
            },
            fail: (e) => {
              if (fast !== f) return;
              fast = null;
              failed(e);
            },
            drop: (cancel) => {
              giveBack(target.subarray(0, filled));
              if (cancel) resolve(readDone());
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
      // Closed (not only asked to close, with bytes queued): the pull-into
      // at the head, a pull's, or one a reader left when it let go with a
      // read in flight (reads that bypass the controller leave it there),
      // is committed with no byte, as the spec asks of a source after
      // close(). Left, it would hold every later BYOB read of the stream:
      // the spec queues one behind a pending pull-into before it looks at
      // whether the stream is closed, and a closed stream never pulls.
      this.#commitClosed();
    }

    // Commit a closed stream's pull-into with no byte, once no read that
    // cannot be ended (a Deno read a reader let go of) is still filling its
    // buffer: committing transfers the buffer, and the bytes that read
    // brings, which are the socket's, would be lost with it. Also before a
    // new reader or a tee: the spec commits a closed stream's pull-into
    // only to a BYOB reader, so a default reader's read that met EOF
    // through pull() leaves its own at the head; once that reader has let
    // go, respond(0) commits it.
    #commitClosed(): void {
      const controller = this.#controller;
      if (this.#open || controller.desiredSize !== 0) return;
      const req = controller.byobRequest;
      if (req === null) return;
      const busy = this.#reads()?.readingInto(req.view!.buffer) ?? null;
      if (busy === null) req.respond(0);
      else busy.then(() => this.#commitClosed());
    }

    #error(e: unknown): void {
      this.#open = false;
      this.#controller.error(e);
    }

    /**
     * A reader (`{ mode: "byob" }` for one that brings its own buffers);
     * releasing it ends the read in flight without losing data. A BYOB
     * reader's reads go to the socket straight while the stream has nothing
     * queued; as the spec's, each transfers the buffer and resolves with a
     * view of it, once `min` elements (default 1) are there.
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
      this.#commitClosed();
      const reader = super.getReader(options);
      const release = reader.releaseLock.bind(reader);
      const stop = this.#stop;
      let held = true;
      // How many cancels the stream had when this reader let go: a read
      // queued before is ended by a cancel before that (done), and by the
      // release otherwise (rejected), as the spec's are at once.
      let releasedAt: number | null = null;
      reader.releaseLock = () => {
        if (held) stop(false);
        held = false;
        releasedAt ??= this.#cancels;
        release();
      };
      if (options?.mode !== "byob") return reader;
      const byob = reader as ReadableStreamBYOBReader;
      const spec = byob.read.bind(byob);
      const fast = this.#fast;
      const dispatch = (view: ArrayBufferView, opts?: { min?: number }) => {
        const min = held ? fastMin(view, opts) : 0;
        if (min > 0) {
          const p = fast(view, min);
          if (p !== null) return p;
        }
        return spec(view as Uint8Array<ArrayBuffer>, opts);
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
        const bad = badRead(view, opts);
        if (bad !== null) return Promise.reject(bad);
        if (busy === 0) {
          const p = dispatch(view, opts);
          busy++;
          p.then(settled, settled);
          return last = p;
        }
        // Queued behind another read. As the spec's: the buffer is taken
        // now, and a cancel before its turn ends it done, with no view.
        if (fastMin(view, opts) > 0) {
          const { byteOffset, byteLength } = view;
          let buffer: ArrayBuffer;
          try {
            buffer = transfer(view);
          } catch (e) {
            return Promise.reject(e);
          }
          view = sameView(view, buffer, byteOffset, byteLength);
        }
        const cancels = this.#cancels;
        const run = () =>
          (releasedAt ?? this.#cancels) !== cancels
            ? Promise.resolve(readDone<ArrayBufferView<ArrayBuffer>>())
            : dispatch(view, opts);
        const p = last.then(run, run);
        busy++;
        p.then(settled, settled);
        return last = p;
      };
      byob.read = read as typeof byob.read;
      return reader;
    }

    /**
     * Two branches of the stream, as the built-in method makes them.
     *
     * @returns The branches.
     */
    override tee(): [
      ReadableStream<Uint8Array<ArrayBuffer>>,
      ReadableStream<Uint8Array<ArrayBuffer>>,
    ] {
      this.#commitClosed();
      const branches = super.tee();
      // Once the tee holds the stream, which the bytes are for.
      this.#refill();
      return branches;
    }

    /**
     * Pipe the stream to `destination`, as the built-in method does; once
     * the pipe has let go of the stream (ended, aborted), the read it left
     * in flight is ended, so the bytes it would bring stay the socket's.
     *
     * @param destination Where the chunks go.
     * @param options The built-in `pipeTo` options.
     * @returns Settles when the pipe ends, as the built-in one's does.
     */
    override pipeTo(
      destination: WritableStream<Uint8Array<ArrayBuffer>>,
      options?: StreamPipeOptions,
    ): Promise<void> {
      const signal = options?.signal ?? null;
      // A stream already locked: the built-in method rejects, and the pipe
      // that holds it stays the one watched.
      const free = !this.locked;
      const piped = super.pipeTo(destination, options);
      if (free) {
        this.#pipeSignal = signal;
        this.#piped = piped;
      }
      const letGo = () => {
        if (this.#piped === piped) {
          this.#pipeSignal = null;
          this.#piped = null;
        }
        if (!this.locked) this.#stop(false);
      };
      piped.then(letGo, letGo);
      return piped;
    }

    /**
     * Pipe the stream through `transform` (see
     * {@linkcode SocketReadable.pipeTo}), as the built-in method does.
     *
     * @param transform The writable side to pipe to, and the readable side
     *   returned.
     * @param options The built-in `pipeTo` options.
     * @returns `transform.readable`.
     * @throws {TypeError} This stream or `transform.writable` is locked; a
     *   `transform` without the two streams; `options.signal` not an
     *   AbortSignal.
     */
    override pipeThrough<T>(
      transform: {
        writable: WritableStream<Uint8Array<ArrayBuffer>>;
        readable: ReadableStream<T>;
      },
      options?: StreamPipeOptions,
    ): ReadableStream<T> {
      // The built-in method's checks, in its order.
      const { readable, writable } = (transform ?? {}) as Partial<
        typeof transform
      >;
      if (!(readable instanceof ReadableStream)) {
        throw new TypeError("pipeThrough: 'readable' must be a ReadableStream");
      }
      if (!(writable instanceof WritableStream)) {
        throw new TypeError("pipeThrough: 'writable' must be a WritableStream");
      }
      if (options !== undefined && options !== null) {
        if (typeof options !== "object" && typeof options !== "function") {
          throw new TypeError("pipeThrough: options must be an object");
        }
        const { signal } = options;
        if (signal !== undefined && !(signal instanceof AbortSignal)) {
          throw new TypeError("pipeThrough: 'signal' must be an AbortSignal");
        }
      }
      if (this.locked) throw new TypeError("ReadableStream is locked.");
      if (writable.locked) throw new TypeError("WritableStream is locked.");
      this.pipeTo(writable, options ?? undefined).catch(() => {});
      return readable;
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
        this.#recvOwn,
        reader,
        options?.preventCancel === true,
        this.#idle,
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
  readonly #recvOwn: (target: Uint8Array) => Promise<number>;
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
    recvOwn: (target: Uint8Array) => Promise<number>,
    reader: ReadableStreamDefaultReader<Chunk>,
    preventCancel: boolean,
    direct: () => boolean,
    fail: (e: unknown) => void,
    end: () => void,
  ) {
    this.#recvOwn = recvOwn;
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
      // The iterator's own buffer: a chunk is handed out only once filled.
      n = await this.#recvOwn(buf);
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
  let signal: AbortSignal;
  return new WritableStream<Uint8Array>({
    start(controller) {
      // abort() closes the socket at once: a write in flight (to a peer
      // that does not read) would otherwise hold it up, as the spec waits
      // for that write before it aborts.
      signal = controller.signal;
      signal.addEventListener("abort", () => sock.close(), { once: true });
    },
    write(chunk) {
      // With the signal: the socket's close() is put off while a file made
      // by makefile() is open (Python's rule), and the write would wait on.
      return sock.sendall(chunk, 0, { signal }).catch((e) => {
        throw signal.aborted ? signal.reason : e;
      });
    },
    close() {
      sock.shutdown(SHUT_WR);
    },
    abort() {
      sock.close();
    },
  }, new CountQueuingStrategy({ highWaterMark: 1 }));
}

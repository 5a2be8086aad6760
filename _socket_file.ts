/**
 * The file objects of `Socket.makefile()`: Python's `SocketIO` (the raw,
 * unbuffered layer), `BufferedReader` / `BufferedWriter` / `BufferedRWPair`
 * (binary files) and `TextIOWrapper` (text files), with CPython 3.11's
 * buffering, newline and error rules. What blocks in Python returns a
 * Promise here.
 *
 * Three differences from CPython, all so that nothing is lost: a read that
 * fails (a timeout, an abort) keeps every byte it took from the socket in
 * the file's buffer, where CPython 3.11 drops a buffered read's partial
 * data; a read after a timeout goes on from there, where CPython's refuses
 * ("cannot read from timed out object"); and writing to an `"rw"` text
 * file keeps the text read ahead, which CPython's TextIOWrapper discards.
 * Where Python returns `None` (a non-blocking socket with nothing to read,
 * or an unbuffered write with no room), these files raise
 * `BlockingIOError`, so that reads are always typed as bytes or text and
 * writes as counts.
 *
 * @example A line protocol over a socket pair
 * ```ts
 * import { socketpair } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * await using w = a.makefile("w");
 * await using r = b.makefile("r");
 * await w.write("hello\nworld\n");
 * await w.flush();
 * assert.equal(await r.readline(), "hello\n");
 * assert.equal(await r.readline(), "world\n");
 * ```
 *
 * @module
 */
import type { AbortOptions, Socket } from "./socket.ts";
import {
  BlockingIOError,
  OverflowError,
  TimeoutError,
  UnsupportedOperation,
  ValueError,
} from "./errors.ts";
import {
  bytesView,
  cStringArg,
  isOptionsArg,
  pyArgName,
  pyTypeName,
  requireBytes,
  ssize,
  throwIfAborted,
} from "./_args.ts";
import { errno } from "./constants.ts";
import { pyRepr } from "./_repr.ts";
import { abortable } from "./_wait.ts";
import {
  type Codec,
  concat,
  type Decoder,
  lookupCodec,
  NewlineDecoder,
} from "./_codecs.ts";

export {
  LookupError,
  UnicodeDecodeError,
  UnicodeEncodeError,
  UnicodeError,
} from "./_codecs.ts";
export { UnsupportedOperation } from "./errors.ts";

// What the socket's raw file (CPython's SocketIO) says once closed.
function closedSocket(): ValueError {
  return new ValueError("I/O operation on closed socket.");
}

/** Python's `io.DEFAULT_BUFFER_SIZE`: a buffered file's size by default. */
export const DEFAULT_BUFFER_SIZE = 8192;

// TextIOWrapper's _CHUNK_SIZE: what a text file reads, and holds of encoded
// text before handing it to the binary layer.
const CHUNK_SIZE = 8192;
// The largest single read of read(-1).
const MAX_CHUNK = 1 << 20;
// The smallest read buffer, and the least room worth reading into.
const MIN_BUFFER = 1024;
// The most a file allocates ahead of need: a larger buffer size still sets
// when writes are sent and how much a read may take, but its memory grows
// only as data fills it (CPython allocates it whole, and a huge one raises
// MemoryError).
const MAX_AHEAD = 1 << 24;
// The block small results are cut from; one larger than a quarter of it
// gets its own buffer.
const RESULT_BLOCK = 8192;

/**
 * The text options of {@linkcode Socket.makefile}, as Python's keyword
 * arguments; binary files ignore them, as Python's do.
 */
export interface MakefileOptions {
  /**
   * `"utf-8"` (the default, and what `null` and `"locale"` mean), `"utf-8-sig"` (a BOM
   * dropped on read, written first), `"ascii"`, `"latin-1"` or another of
   * Python's single-byte codecs (`"cp1252"`, `"iso8859-15"`, `"koi8-r"`,
   * `"cp437"`, ...), by any of Python's names for them. The UTF-16/32 and
   * multi-byte (CJK) codecs raise LookupError.
   */
  encoding?: string | null | undefined;
  /**
   * What to do with bytes that do not decode, or text that does not
   * encode: `"strict"` (the default: `UnicodeDecodeError` /
   * `UnicodeEncodeError`), `"replace"`, `"ignore"`, `"surrogateescape"`,
   * `"backslashreplace"`, `"surrogatepass"` (UTF-8's lone surrogates;
   * with other codecs as `"strict"`); writing also takes
   * `"xmlcharrefreplace"`.
   */
  errors?: string | null | undefined;
  /**
   * `null` (the default): universal newlines, `\r\n` and `\r` read as
   * `\n`; `""`: lines end at any of them, untranslated; `"\n"`, `"\r"`,
   * `"\r\n"`: lines end only there, and a `\n` written becomes it.
   */
  newline?: string | null | undefined;
}

/** The names of {@linkcode MakefileOptions}, to tell them in buffering's place. */
export const MAKEFILE_OPTIONS: readonly string[] = [
  "encoding",
  "errors",
  "newline",
];

/** A mode that makes a binary file: any of `r`, `w`, `b`, with a `b`. */
export type BinaryFileMode = `${string}b${string}`;

/** The modes that make a text file. */
export type TextFileMode = "r" | "w" | "rw" | "wr";

/** What a file made by makefile() holds on its socket (CPython's _io_refs). */
export interface FileRef {
  /** Count one more file on the socket. */
  acquire(): void;
  /** The file closed: count it off, and close the socket if it is waiting. */
  release(): void;
  /**
   * Bytes an unbuffered file took and could not hand out (a readline that
   * failed part-way): the socket's next receive gets them first.
   */
  giveBack?(bytes: Uint8Array): void;
  /**
   * recv_into() of the file's own buffer, which only the file sees and only
   * the socket's receives fill: a blocking one may be ended by shutdown(),
   * as Python's is.
   */
  recvOwn?(target: Uint8Array, options?: AbortOptions): Promise<number>;
}

const NO_REF: FileRef = { acquire() {}, release() {} };

// A close() whose signal is bad or aborted already: its rejection, before
// anything is done (the file stays open); else null.
function refusedAtOnce(options?: AbortOptions): Promise<never> | null {
  try {
    throwIfAborted(options?.signal);
    return null;
  } catch (e) {
    return Promise.reject(e);
  }
}

function empty(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(0);
}

// What a buffered write that would block raises: `taken` bytes of its data
// sent or kept (Python's BlockingIOError.characters_written).
function wouldBlock(taken: number): BlockingIOError {
  const e = new BlockingIOError(
    errno.EAGAIN,
    "write could not complete without blocking",
  );
  e.characters_written = taken;
  return e;
}

// The first n bytes of buf; a small part copies out so that it does not keep
// a large buffer alive.
function trim(
  buf: Uint8Array<ArrayBuffer>,
  n: number,
): Uint8Array<ArrayBuffer> {
  if (n === buf.length) return buf;
  return n * 2 < buf.length ? buf.slice(0, n) : buf.subarray(0, n);
}

// A size argument: an integer that fits a Py_ssize_t, or null/undefined for
// -1. `raw` words the TypeError as PyNumber_Index does (an argument parsed
// as "n"), else as _Py_convert_optional_to_ssize_t does (one that takes
// None).
function sizeArg(value: unknown, raw: boolean): number {
  if (value === null || value === undefined) return -1;
  if (raw) return ssize(value);
  if (
    (typeof value === "number" && Number.isInteger(value)) ||
    typeof value === "bigint" || typeof value === "boolean"
  ) {
    try {
      return ssize(value);
    } catch (e) {
      if (!(e instanceof OverflowError)) throw e;
      throw new OverflowError("cannot fit 'int' into an index-sized integer");
    }
  }
  throw new TypeError(
    `argument should be integer or None, not '${pyTypeName(value)}'`,
  );
}

// The JavaScript index just past `n` code points of `s`, or -1 when `s` has
// fewer: Python's text sizes count code points, not UTF-16 units.
function cpIndex(s: string, n: number): number {
  if (s.length < n) return -1;
  let i = 0;
  for (let count = 0; count < n; count++) {
    if (i >= s.length) return -1;
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length &&
        (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00
      ? 2
      : 1;
  }
  return i;
}

function cpLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (
      c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      n--;
      i++;
    }
  }
  return n;
}

// One operation at a time on a file's read side (or write side), in call
// order, as CPython's buffered objects lock around each call.
class Turn {
  #busy = false;
  // The calls waiting, first first: each is handed the turn in order.
  readonly #queue: (() => void)[] = [];

  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Run `fn` once the calls before it are done. A signal that aborts while
   * this call waits its turn rejects it with the reason, as a socket call
   * waiting behind another does; `fn` has not run, so nothing is taken.
   * A call with a signal keeps its place: the turn goes in call order.
   */
  async run<R>(
    options: AbortOptions | undefined,
    fn: () => Promise<R>,
  ): Promise<R> {
    if (this.#busy) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#queue.push(resolve);
      try {
        await abortable(() => promise, options?.signal);
      } catch (e) {
        const i = this.#queue.indexOf(resolve);
        // Still waiting: leave the line. Handed the turn as the signal
        // aborted: hand it on.
        if (i >= 0) this.#queue.splice(i, 1);
        else this.#next();
        throw e;
      }
    } else this.#busy = true;
    try {
      return await fn();
    } finally {
      this.#next();
    }
  }

  #next(): void {
    const next = this.#queue.shift();
    if (next === undefined) this.#busy = false;
    else next();
  }
}

/**
 * Python's `SocketIO`: one socket call per read or write. CPython's refuses
 * every read after a timeout (issue 7322: its buffered reader could lose
 * bytes then); here a timeout loses nothing, so reads go on, as after an
 * abort.
 */
class SocketIO {
  readonly sock: Socket;
  readonly reading: boolean;
  readonly writing: boolean;
  readonly #ref: FileRef;
  closed = false;

  constructor(sock: Socket, reading: boolean, writing: boolean, ref: FileRef) {
    this.sock = sock;
    this.reading = reading;
    this.writing = writing;
    this.#ref = ref;
  }

  async readinto(
    target: Uint8Array,
    options?: AbortOptions,
    own = false,
  ): Promise<number> {
    const recvOwn = own ? this.#ref.recvOwn : undefined;
    return await (recvOwn === undefined
      ? this.sock.recv_into(target, 0, 0, options)
      : recvOwn(target, options));
  }

  send(data: Uint8Array, options?: AbortOptions): Promise<number> {
    return this.sock.send(data, 0, options);
  }

  /** See {@linkcode FileRef.giveBack}. */
  giveBack(bytes: Uint8Array): void {
    this.#ref.giveBack?.(bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#ref.release();
  }
}

/**
 * What a file whose reads give `T` takes to write: text for a text file,
 * any bytes-like value for a binary one.
 */
export type WriteData<T> = T extends string ? string
  : ArrayBufferView | ArrayBuffer;

// Takes back lines a readlines() had read when it timed out or was aborted
// (see readlines()).
const GIVE_BACK: unique symbol = Symbol("giveBack");

// Runs readlines()'s loop in one read turn (see readlines()).
const READ_LINES: unique symbol = Symbol("readLines");

// How many writes a binary file has taken (buffered, sent, or kept by an
// abort): a text file tells by it whether a hand-over rejected before the
// binary file took its bytes.
const WRITES_TAKEN: unique symbol = Symbol("writesTaken");

// A line's size as readlines(hint) counts it: bytes, or characters (code
// points, as Python's str has) for text.
function lineSize(line: Uint8Array | string): number {
  if (typeof line !== "string") return line.length;
  let n = line.length;
  for (let i = 0; i < line.length - 1; i++) {
    const c = line.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = line.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * A file made by {@linkcode Socket.makefile}: the members binary and text
 * files share. `T` is what reads return: `Uint8Array` for a binary file
 * ({@linkcode BinarySocketFile}), `string` for a text one
 * ({@linkcode TextSocketFile}).
 *
 * Python's rule holds: the socket's descriptor stays open until the socket
 * and every file made from it are closed.
 *
 * @example Iterate over the lines of a response
 * ```ts
 * import { SHUT_WR, socketpair } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * await a.sendall(new TextEncoder().encode("one\ntwo\n"));
 * a.shutdown(SHUT_WR);
 * await using f = b.makefile("r");
 * const lines: string[] = [];
 * for await (const line of f) lines.push(line);
 * assert.deepEqual(lines, ["one\n", "two\n"]);
 * ```
 */
export abstract class SocketFile<
  T extends Uint8Array<ArrayBuffer> | string =
    | Uint8Array<ArrayBuffer>
    | string,
> {
  /**
   * The mode: what was asked for a text file (`"r"`, `"w"`, `"rw"`), `"rb"`,
   * `"wb"` or `"rwb"` for a binary one.
   */
  abstract readonly mode: string;
  /** The socket's descriptor ({@linkcode Socket.fileno}); -1 once closed. */
  abstract readonly name: number;
  /** Whether {@linkcode SocketFile.close} was called. */
  abstract readonly closed: boolean;

  /**
   * The socket's descriptor.
   *
   * @returns {@linkcode Socket.fileno}'s answer.
   * @throws {ValueError} The file is closed.
   */
  abstract fileno(): number;

  /**
   * Whether the file was opened for reading.
   *
   * @returns `true` for modes with `r`.
   * @throws {ValueError} The file is closed (a buffered file not opened
   *   for reading says `false`, as CPython's).
   */
  abstract readable(): boolean;

  /**
   * Whether the file was opened for writing.
   *
   * @returns `true` for modes with `w`.
   * @throws {ValueError} The file is closed (a buffered file not opened
   *   for writing says `false`, as CPython's).
   */
  abstract writable(): boolean;

  /**
   * Whether the file can seek: a socket's never can.
   *
   * @returns `false`.
   * @throws {ValueError} The file is closed (not a buffered read/write
   *   pair's, as CPython's).
   */
  abstract seekable(): boolean;

  /**
   * Whether the file is a terminal: a socket's never is (Python's
   * `isatty()`).
   *
   * @returns `false`.
   * @throws {ValueError} The file is closed.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * const f = a.makefile("rb");
   * assert.equal(f.isatty(), false);
   * await f.close();
   * assert.throws(() => f.isatty(), { name: "ValueError" });
   * ```
   */
  isatty(): boolean {
    this.#checkClosed();
    return false;
  }

  /**
   * Read up to `size` bytes (characters, in a text file), waiting until
   * there are that many or the peer closed; all of it until EOF when
   * `size` is -1 or omitted.
   *
   * @param size How much; `-1` (or `null`) for everything until EOF.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns What was read; empty at EOF.
   */
  abstract read(
    size?: number | null | AbortOptions,
    options?: AbortOptions,
  ): Promise<T>;

  /**
   * Read one line, with its line ending; at most `limit` bytes
   * (characters) when `limit` is not negative.
   *
   * @param limit The most to return; `-1` (or `null`) for no limit.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns The line; empty at EOF.
   */
  abstract readline(
    limit?: number | null | AbortOptions,
    options?: AbortOptions,
  ): Promise<T>;

  /**
   * Write `data`.
   *
   * @param data The bytes (binary) or text.
   * @param options `signal` aborts a wait to send.
   * @returns How many bytes (characters) were taken.
   */
  abstract write(data: WriteData<T>, options?: AbortOptions): Promise<number>;

  /**
   * Send what the file holds of earlier writes.
   *
   * @param options `signal` aborts the wait; what is not sent stays.
   */
  abstract flush(options?: AbortOptions): Promise<void>;

  /**
   * Close the file: it is closed at once; what it holds of earlier writes
   * is sent first (await the result to know it went, or why not), then its
   * hold on the socket goes. Idempotent.
   *
   * @param options `signal` aborts the wait to send (the file is closed all
   *   the same); one aborted already rejects at once, leaving the file open
   *   with what it holds, as every call does.
   * @returns Resolves when the file's writes are sent and its hold released.
   */
  abstract close(options?: AbortOptions): Promise<void>;

  /** @ignore Put `lines` back in front of what the file holds. */
  abstract [GIVE_BACK](lines: T[]): void;

  /**
   * @ignore Check the file can read lines, then run `body` in one read turn
   * with `next`, a readline() of no limit that waits for no turn.
   */
  abstract [READ_LINES](
    options: AbortOptions | undefined,
    body: (next: () => Promise<T>) => Promise<T[]>,
  ): Promise<T[]>;

  /**
   * Read lines until EOF, or until the lines' total size passes `hint`
   * (io.IOBase's rule: the line that takes it over `hint` is the last).
   *
   * @param hint Stop once more than this many bytes (characters) were
   *   read; `-1`, `0` or `null` for no limit.
   * @param options `signal` aborts the wait; the lines read so far go back
   *   to the file for the next read, as on a timeout. (CPython's readlines()
   *   drops them.)
   * @returns The lines.
   * @throws {ValueError} The file is closed.
   * @throws {TimeoutError} The socket's timeout passed first; the lines
   *   read so far go back to the file.
   *
   * @example
   * ```ts
   * import { SHUT_WR, socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await a.sendall(new TextEncoder().encode("a\nb\nc\n"));
   * a.shutdown(SHUT_WR);
   * await using f = b.makefile("r");
   * assert.deepEqual(await f.readlines(2), ["a\n", "b\n"]);
   * assert.deepEqual(await f.readlines(), ["c\n"]);
   * ```
   */
  async readlines(
    hint: number | null | AbortOptions = -1,
    options?: AbortOptions,
  ): Promise<T[]> {
    if (isOptionsArg(hint, arguments, "readlines")) {
      [hint, options] = [-1, hint];
    }
    // CPython parses the hint first: a bad one is a TypeError even once the
    // file is closed.
    const limit = sizeArg(hint, false);
    this.#checkClosed();
    // One turn for all the lines: another read waits until they are
    // taken, or given back, so that it never sees them move.
    return await this[READ_LINES](options, async (next) => {
      const lines: T[] = [];
      let total = 0;
      try {
        for (;;) {
          const line = await next();
          if (line.length === 0) return lines;
          lines.push(line);
          total += lineSize(line);
          if (limit > 0 && total > limit) return lines;
        }
      } catch (e) {
        // Non-blocking and nothing more there: CPython's readline() returns
        // empty, which ends the lines.
        if (e instanceof BlockingIOError && lines.length > 0) return lines;
        // A timeout or an abort loses nothing: the lines read go back to
        // the file (CPython's readlines() drops them).
        const stopped = e instanceof TimeoutError || options?.signal?.aborted;
        if (stopped && lines.length > 0) this[GIVE_BACK](lines);
        throw e;
      }
    });
  }

  /**
   * Write each item of `lines` (no line endings are added, as in Python).
   *
   * @param lines The bytes or text to write, in order.
   * @param options `signal` aborts a wait to send.
   * @throws {ValueError} The file is closed.
   * @throws {TypeError} `lines` is not iterable (python3's message).
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * const f = a.makefile("w");
   * await f.writelines(["a\n", "b\n"]);
   * await f.close();
   * assert.equal(new TextDecoder().decode(await b.recv(10)), "a\nb\n");
   * ```
   */
  async writelines(
    lines: Iterable<WriteData<T>>,
    options?: AbortOptions,
  ): Promise<void> {
    this.#checkClosed();
    const iterable = lines as Partial<Iterable<unknown>> | null | undefined;
    if (typeof iterable?.[Symbol.iterator] !== "function") {
      throw new TypeError(`'${pyTypeName(lines)}' object is not iterable`);
    }
    for (const line of lines) await this.write(line, options);
  }

  /**
   * The lines, until EOF, as Python's `for line in f`.
   *
   * @returns An async iterator over the lines.
   * @throws {ValueError} The file is closed.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    this.#checkClosed();
    // Not a generator: one ends for good at its first error, where Python's
    // next(f) is asked again (after a timeout, it reads on) until the loop
    // stops.
    let ended = false;
    const lines: AsyncIterableIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        if (ended) return { value: undefined, done: true };
        const line = await this.readline();
        if (line.length > 0) return { value: line, done: false };
        ended = true;
        return { value: undefined, done: true };
      },
      return: (): Promise<IteratorResult<T>> => {
        ended = true;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => lines,
    };
    return lines;
  }

  /** Close the file at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkClosed(): void {
    if (this.closed) throw new ValueError("I/O operation on closed file.");
  }
}

// makefile() hands a file its parts through this class, which only this
// module can make: the files' constructors are not for users.
class Parts {
  constructor(
    readonly raw: SocketIO,
    readonly mode: string,
    readonly bufsize: number,
    readonly through: boolean,
  ) {}
}

/**
 * A binary file made by `makefile("rb")`, `"wb"` or `"rwb"`: Python's
 * `BufferedReader`, `BufferedWriter` and `BufferedRWPair`, or with
 * buffering 0 its `SocketIO`. Reads return `Uint8Array`s; writes take any
 * bytes-like value.
 *
 * A buffered file reads ahead up to its buffer's size and keeps what a
 * call did not return for the next one; writes wait in the buffer until it
 * is full, or {@linkcode BinarySocketFile.flush} or
 * {@linkcode BinarySocketFile.close}. An unbuffered file makes one socket
 * call per read or write (and its `readline()` reads one byte at a time, as
 * CPython's does), so another file made later on the same socket misses
 * nothing.
 *
 * Small reads that the buffer answers (a line, `read(n)`) are copied into
 * a block of this file's results, as Node's pooled Buffers are cut from a
 * shared block: a new `ArrayBuffer` per line would cost more than the rest
 * of `readline()`. A result never changes, and its block never holds the
 * file's unread bytes or another socket's. But results share the block's
 * `.buffer` (8 KiB): `slice()` one before moving its buffer (a transfer,
 * a byte stream's `enqueue()`), which would empty the others cut from the
 * same block; the file itself reads on unharmed.
 *
 * A socket timeout makes a read raise `TimeoutError`, and an aborted
 * `signal` rejects it with the signal's reason; either way nothing is lost
 * and the file stays usable: what it took from the socket stays in its
 * buffer for the next read, which goes on from there. (CPython 3.11 refuses
 * every read after a timeout that needs the socket, with
 * `OSError("cannot read from timed out object")`.)
 *
 * @example Read lines of bytes across packet boundaries
 * ```ts
 * import { socketpair } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * await using f = b.makefile("rb");
 * const enc = new TextEncoder();
 * await a.sendall(enc.encode("GET / HT"));
 * const line = f.readline();
 * await a.sendall(enc.encode("TP/1.0\r\n\r\n"));
 * assert.deepEqual(await line, enc.encode("GET / HTTP/1.0\r\n"));
 * assert.deepEqual(await f.readline(), enc.encode("\r\n"));
 * ```
 */
export class BinarySocketFile extends SocketFile<Uint8Array<ArrayBuffer>> {
  readonly #raw: SocketIO;
  readonly #mode: string;
  readonly #bufsize: number;
  // What the buffers are made at, at least (see MAX_AHEAD).
  readonly #ahead: number;
  // _SocketWriter (socketserver's wfile with wbufsize 0): sendall per write.
  readonly #through: boolean;
  #closed = false;
  // Bytes taken from the socket and not yet returned: [#rpos, #rend).
  #rbuf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  // Where small results are cut from (see the class doc); never #rbuf.
  #results: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #resultsUsed = 0;
  #rpos = 0;
  #rend = 0;
  // Bytes written and not yet sent: [0, #wlen).
  #wbuf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #wlen = 0;
  readonly #reads = new Turn();
  readonly #writes = new Turn();

  /**
   * Not for direct use: {@linkcode Socket.makefile} makes these.
   *
   * @param parts What makefile() passes.
   * @throws {TypeError} Called from outside.
   */
  constructor(parts: unknown) {
    super();
    if (!(parts instanceof Parts)) {
      throw new TypeError("use Socket.makefile() to make a socket file");
    }
    this.#raw = parts.raw;
    this.#mode = parts.mode;
    this.#bufsize = parts.bufsize;
    this.#ahead = Math.min(parts.bufsize, MAX_AHEAD);
    this.#through = parts.through;
  }

  /** `"rb"`, `"wb"` or `"rwb"`. */
  get mode(): string {
    return this.#mode;
  }

  /** The socket's descriptor; -1 once the file is closed. */
  get name(): number {
    return this.#closed ? -1 : this.#raw.sock.fileno();
  }

  /** Whether the file is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The socket's descriptor.
   *
   * @returns The descriptor (-1 if the socket itself was detached).
   * @throws {ValueError} The file is closed.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("rb");
   * assert.equal(f.fileno(), a.fileno());
   * assert.equal(f.name, a.fileno());
   * ```
   */
  fileno(): number {
    this.#checkOpen();
    return this.#raw.sock.fileno();
  }

  /**
   * Whether the file reads.
   *
   * @returns `true` for `rb` and `rwb`.
   * @throws {ValueError} The file is closed.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("wb");
   * assert.equal(f.readable(), false);
   * assert.equal(f.writable(), true);
   * ```
   */
  readable(): boolean {
    if (this.#through) return false;
    // Closed, a buffered writer answers itself; the rest ask the socket's
    // raw file, which raises.
    if (this.#closed && (this.#bufsize === 0 || this.#raw.reading)) {
      throw closedSocket();
    }
    return this.#raw.reading;
  }

  /**
   * Whether the file writes.
   *
   * @returns `true` for `wb` and `rwb`.
   * @throws {ValueError} The file is closed.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("rwb");
   * assert.equal(f.writable(), true);
   * ```
   */
  writable(): boolean {
    if (this.#through) return true;
    if (this.#closed && (this.#bufsize === 0 || this.#raw.writing)) {
      throw closedSocket();
    }
    return this.#raw.writing;
  }

  /**
   * Whether the file can seek: never, a socket's.
   *
   * @returns `false`.
   * @throws {ValueError} The file is closed (not a buffered read/write
   *   pair's, which answers itself, as CPython's BufferedRWPair).
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("rb");
   * assert.equal(f.seekable(), false);
   * ```
   */
  seekable(): boolean {
    const pair = this.#bufsize !== 0 && this.#raw.reading && this.#raw.writing;
    if (this.#closed && !this.#through && !pair) throw closedSocket();
    return false;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ValueError("I/O operation on closed file.");
  }

  // CPython's messages differ by layer: a BufferedWriter has no read
  // methods at all; the buffered ones name the call.
  #checkRead(what: string): void {
    const buffered = this.#bufsize > 0;
    if (buffered && !this.#raw.reading) {
      throw new UnsupportedOperation(what === "read1" ? "read1" : "read");
    }
    if (this.#closed) {
      // BufferedRWPair.readline() goes through peek().
      const call = what === "read1"
        ? "read"
        : what === "readline" && this.#raw.writing
        ? "peek"
        : what;
      throw new ValueError(
        buffered ? `${call} of closed file` : "I/O operation on closed file.",
      );
    }
    if (!this.#raw.reading) {
      throw new UnsupportedOperation("File or stream is not readable.");
    }
  }

  #checkWrite(): void {
    const buffered = this.#bufsize > 0;
    if (!this.#raw.writing) {
      // A closed BufferedReader says "write" too: it has no write at all.
      if (buffered || !this.#closed) {
        throw new UnsupportedOperation(
          buffered ? "write" : "File or stream is not writable.",
        );
      }
    }
    if (this.#closed) {
      throw new ValueError(
        buffered ? "write to closed file" : "I/O operation on closed file.",
      );
    }
  }

  // ---------------------------------------------------------- the buffer

  #have(): number {
    return this.#rend - this.#rpos;
  }

  // Return [#rpos, end) and drop it from the buffer: a copy of the caller's
  // own, cut from the block of results when small.
  #takeTo(end: number): Uint8Array<ArrayBuffer> {
    const n = end - this.#rpos;
    let out: Uint8Array<ArrayBuffer>;
    if (n === 0 || n > RESULT_BLOCK >> 2) {
      out = this.#rbuf.slice(this.#rpos, end);
    } else {
      // A moved (detached) block reads as empty: a new one is made.
      if (this.#resultsUsed + n > this.#results.length) {
        this.#results = new Uint8Array(RESULT_BLOCK);
        this.#resultsUsed = 0;
      }
      out = this.#results.subarray(this.#resultsUsed, this.#resultsUsed + n);
      out.set(this.#rbuf.subarray(this.#rpos, end));
      // Eight-byte aligned, so that a wider view over a result works.
      this.#resultsUsed = (this.#resultsUsed + n + 7) & ~7;
    }
    this.#rpos = end;
    return out;
  }

  #copyOut(target: Uint8Array, n: number): void {
    target.set(this.#rbuf.subarray(this.#rpos, this.#rpos + n));
    this.#rpos += n;
  }

  // Make room for n more bytes after #rend: the unread bytes move to the
  // front (no result is a view of the buffer), or to a larger buffer.
  #room(n: number): void {
    if (this.#rbuf.length - this.#rend >= n) return;
    const have = this.#have();
    if (this.#rbuf.length >= have + n) {
      this.#rbuf.copyWithin(0, this.#rpos, this.#rend);
    } else {
      const next = new Uint8Array(Math.max(this.#ahead, have + n, MIN_BUFFER));
      next.set(this.#rbuf.subarray(this.#rpos, this.#rend));
      this.#rbuf = next;
    }
    this.#rpos = 0;
    this.#rend = have;
  }

  /** @ignore How many writes this file has taken (see WRITES_TAKEN). */
  [WRITES_TAKEN] = 0;

  /**
   * @ignore Put `lines` back in front of the buffer's bytes (unbuffered: of
   * the socket's, where readline() gives back a part line).
   */
  [GIVE_BACK](lines: Uint8Array<ArrayBuffer>[]): void {
    const bytes = concat(lines);
    if (this.#bufsize === 0) return this.#raw.giveBack(bytes);
    const n = bytes.length;
    if (this.#rpos < n) {
      // No results are views of the buffer, so its front can be written.
      const have = this.#have();
      const next = new Uint8Array(Math.max(this.#ahead, have + n, MIN_BUFFER));
      next.set(this.#rbuf.subarray(this.#rpos, this.#rend), n);
      this.#rbuf = next;
      this.#rpos = n;
      this.#rend = n + have;
    }
    this.#rpos -= n;
    this.#rbuf.set(bytes, this.#rpos);
  }

  /** @ignore See {@linkcode SocketFile.readlines}. */
  async [READ_LINES](
    options: AbortOptions | undefined,
    body: (
      next: () => Promise<Uint8Array<ArrayBuffer>>,
    ) => Promise<Uint8Array<ArrayBuffer>[]>,
  ): Promise<Uint8Array<ArrayBuffer>[]> {
    this.#checkRead("readline");
    throwIfAborted(options?.signal);
    return await this.#reads.run(
      options,
      () => body(() => this.#readline(-1, options)),
    );
  }

  // Keep bytes a failed call took from the socket, after the unread ones.
  #keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#room(bytes.length);
    this.#rbuf.set(bytes, this.#rend);
    this.#rend += bytes.length;
  }

  // One socket read into the buffer, of what is left of the buffer's size
  // (one byte when unbuffered); 0 at EOF.
  async #fill(options?: AbortOptions): Promise<number> {
    const have = this.#have();
    let want = Math.min(
      this.#bufsize === 0
        ? 1
        : have < this.#bufsize
        ? this.#bufsize - have
        : this.#bufsize,
      MAX_AHEAD,
    );
    // Use what is left of this buffer unless it is very little.
    const space = this.#rbuf.length - this.#rend;
    if (space >= Math.min(want, MIN_BUFFER)) want = Math.min(want, space);
    this.#room(want);
    const n = await this.#raw.readinto(
      this.#rbuf.subarray(this.#rend, this.#rend + want),
      options,
      true,
    );
    this.#rend += n;
    return n;
  }

  // Where the next line ends in the buffer (exclusive), or -1 when it is not
  // all there yet; `from` bytes past #rpos are known to hold no newline.
  #lineEnd(limit: number, from: number): number {
    const stop = limit >= 0
      ? Math.min(this.#rend, this.#rpos + limit)
      : this.#rend;
    const i = this.#rbuf.indexOf(10, this.#rpos + from);
    if (i >= 0 && i < stop) return i + 1;
    if (limit >= 0 && this.#have() >= limit) return this.#rpos + limit;
    return -1;
  }

  // ------------------------------------------------------------- reading

  /**
   * Read `size` bytes, waiting until there are that many or the peer
   * closed; with `size` -1 (the default), everything until EOF. An
   * unbuffered file makes one socket call instead and returns what it
   * gave.
   *
   * @param size How many bytes; `-1` or `null` for all until EOF.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns The bytes; fewer than `size` only at EOF; empty at EOF.
   * @throws {ValueError} Closed ("read of closed file"); a size below -1.
   * @throws {UnsupportedOperation} A file opened for writing only.
   * @throws {TimeoutError} The socket's timeout passed first; what came
   *   stays in the file for the next read.
   * @throws {BlockingIOError} Non-blocking, and nothing has arrived.
   *
   * @example `read(n)` with fewer bytes: waits for more or EOF
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _b = b;
   * await using f = b.makefile("rb");
   * await a.sendall(new Uint8Array([1, 2, 3]));
   * a.close();
   * assert.deepEqual(await f.read(10), new Uint8Array([1, 2, 3]));
   * assert.deepEqual(await f.read(10), new Uint8Array(0));
   * ```
   */
  async read(
    size: number | null | AbortOptions = -1,
    options?: AbortOptions,
  ): Promise<Uint8Array<ArrayBuffer>> {
    if (isOptionsArg(size, arguments, "read")) {
      [size, options] = [-1, size];
    }
    const raw = this.#bufsize === 0;
    // CPython's SocketIO, BufferedReader (and a BufferedRWPair's) parse the
    // size before looking at `closed`; a BufferedWriter has no read at all.
    const n = raw || this.#raw.reading ? sizeArg(size, raw) : 0;
    if (!raw && n < -1) {
      throw new ValueError("read length must be non-negative or -1");
    }
    this.#checkRead("read");
    throwIfAborted(options?.signal);
    if (n === 0) {
      // Unbuffered, CPython's raw read(0) is a socket call all the same (a
      // closed socket says so).
      if (raw) await this.#raw.readinto(new Uint8Array(0), options);
      return empty();
    }
    if (n < 0) {
      return await this.#reads.run(options, () => this.#readall(options));
    }
    if (raw) {
      return await this.#reads.run(options, () => this.#readOnce(n, options));
    }
    if (!this.#reads.busy && this.#have() >= n) {
      return this.#takeTo(this.#rpos + n);
    }
    return await this.#reads.run(options, async () => {
      const out = new Uint8Array(n);
      return trim(out, await this.#readInto(out, options));
    });
  }

  /**
   * Read up to `size` bytes with at most one socket call: what the buffer
   * holds if it holds anything, else what one receive gives. Python's
   * `read1()`.
   *
   * @param size The most bytes; `-1` (default) for the buffer's size.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns The bytes; empty at EOF.
   * @throws {ValueError} Closed.
   * @throws {UnsupportedOperation} A file opened for writing only.
   * @throws {TimeoutError} The socket's timeout passed first.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = b.makefile("rb");
   * await a.sendall(new Uint8Array([1, 2, 3]));
   * assert.deepEqual(await f.read1(100), new Uint8Array([1, 2, 3]));
   * ```
   */
  async read1(
    size: number | null | AbortOptions = -1,
    options?: AbortOptions,
  ): Promise<Uint8Array<ArrayBuffer>> {
    if (isOptionsArg(size, arguments, "read1")) {
      [size, options] = [-1, size];
    }
    // Parsed first, as an index (a float is not one).
    let n = sizeArg(size, true);
    this.#checkRead("read1");
    throwIfAborted(options?.signal);
    if (n < 0) n = this.#bufsize || DEFAULT_BUFFER_SIZE;
    if (n === 0) return empty();
    return await this.#reads.run(options, () => this.#readOnce(n, options));
  }

  /**
   * Read into `b` until it is full or the peer closed (an unbuffered file:
   * with one socket call).
   *
   * @param b Where to write: any `ArrayBufferView` or `ArrayBuffer`.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns How many bytes were written; 0 at EOF.
   * @throws {TypeError} `b` is not bytes-like.
   * @throws {ValueError} Closed.
   * @throws {TimeoutError} The socket's timeout passed first; `b` may have
   *   been written to, but the bytes also stay in the file for the next
   *   read.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = b.makefile("rb");
   * await a.sendall(new Uint8Array([1, 2, 3, 4]));
   * const buf = new Uint8Array(4);
   * assert.equal(await f.readinto(buf), 4);
   * assert.deepEqual(buf, new Uint8Array([1, 2, 3, 4]));
   * ```
   */
  async readinto(
    b: ArrayBufferView | ArrayBuffer,
    options?: AbortOptions,
  ): Promise<number> {
    // A buffered file parses its argument first; SocketIO checks closed
    // and readable, then hands it to recv_into().
    const raw = this.#bufsize === 0;
    if (raw) this.#checkRead("readinto");
    const target = bytesView(b);
    if (target === null) {
      throw new TypeError(
        `${
          raw ? "recv_into() argument 1" : "readinto() argument"
        } must be read-write bytes-like object, not ${pyTypeName(b)}`,
      );
    }
    if (!raw) this.#checkRead("readinto");
    throwIfAborted(options?.signal);
    if (target.length === 0) {
      // As read(0).
      return this.#bufsize > 0 ? 0 : await this.#raw.readinto(target, options);
    }
    return await this.#reads.run(options, async () => {
      if (this.#bufsize > 0) return await this.#readInto(target, options);
      if (this.#have() > 0) {
        const n = Math.min(target.length, this.#have());
        this.#copyOut(target, n);
        return n;
      }
      return await this.#raw.readinto(target, options);
    });
  }

  /**
   * Read one line, up to and including `\n`; at most `limit` bytes when
   * `limit` is not negative; what is left at EOF.
   *
   * @param limit The most bytes; `-1` (default) or `null` for no limit.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns The line; empty at EOF.
   * @throws {ValueError} Closed ("readline of closed file").
   * @throws {UnsupportedOperation} A file opened for writing only.
   * @throws {TimeoutError} The socket's timeout passed first; the part of
   *   the line already received stays in the file.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = b.makefile("rb");
   * await a.sendall(new TextEncoder().encode("abcdef\n"));
   * assert.deepEqual(await f.readline(3), new TextEncoder().encode("abc"));
   * assert.deepEqual(await f.readline(), new TextEncoder().encode("def\n"));
   * ```
   */
  readline(
    limit: number | null | AbortOptions = -1,
    options?: AbortOptions,
  ): Promise<Uint8Array<ArrayBuffer>> {
    // Not async: a line already in the buffer (the common case) comes back
    // without an async function's own promise and turn.
    let n: number;
    try {
      if (isOptionsArg(limit, arguments, "readline")) {
        [limit, options] = [-1, limit];
      }
      n = sizeArg(limit, false);
      // Only a BufferedReader has a readline() of its own; the others'
      // (IOBase's) return empty for a limit of 0 before any check.
      const reader = this.#bufsize > 0 && !this.#raw.writing;
      if (n === 0 && !reader) return Promise.resolve(empty());
      this.#checkRead("readline");
      throwIfAborted(options?.signal);
    } catch (e) {
      return Promise.reject(e);
    }
    if (n === 0) return Promise.resolve(empty());
    if (!this.#reads.busy) {
      const end = this.#lineEnd(n, 0);
      if (end >= 0) return Promise.resolve(this.#takeTo(end));
    }
    return this.#reads.run(options, () => this.#readline(n, options));
  }

  async #readline(
    n: number,
    options?: AbortOptions,
  ): Promise<Uint8Array<ArrayBuffer>> {
    let scanned = 0;
    for (;;) {
      const end = this.#lineEnd(n, scanned);
      if (end >= 0) return this.#takeTo(end);
      scanned = this.#have();
      let got: number;
      try {
        got = await this.#fill(options);
      } catch (e) {
        // Non-blocking with part of a line: Python returns the part.
        if (e instanceof BlockingIOError && this.#have() > 0) got = 0;
        else {
          // Unbuffered: what this call read of the line goes back to the
          // socket, so that a later file or recv() misses nothing.
          if (this.#bufsize === 0 && this.#have() > 0) {
            this.#raw.giveBack(this.#takeTo(this.#rend));
          }
          throw e;
        }
      }
      if (got === 0) return this.#takeTo(this.#rend);
    }
  }

  // read1(), and an unbuffered read(n): the buffer's bytes, else one read.
  async #readOnce(
    n: number,
    options?: AbortOptions,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const have = this.#have();
    if (have > 0) return this.#takeTo(this.#rpos + Math.min(n, have));
    const out = new Uint8Array(n);
    // The file's own buffer until it is returned (a copy when empty).
    return trim(out, await this.#raw.readinto(out, options, true));
  }

  // Fill `target` until it is full or EOF. A failure leaves every byte read
  // in the buffer (none is lost); non-blocking, a part is returned.
  async #readInto(target: Uint8Array, options?: AbortOptions): Promise<number> {
    const n = target.length;
    if (n - this.#have() <= this.#bufsize) {
      // Small: read ahead through the buffer, as CPython does.
      try {
        while (this.#have() < n) {
          if (await this.#fill(options) === 0) break;
        }
      } catch (e) {
        if (!(e instanceof BlockingIOError) || this.#have() === 0) throw e;
      }
      const k = Math.min(n, this.#have());
      this.#copyOut(target, k);
      return k;
    }
    // Large: what the buffer holds, then straight into the target.
    const have = this.#have();
    target.set(this.#rbuf.subarray(this.#rpos, this.#rend));
    let got = have;
    try {
      while (got < n) {
        const k = await this.#raw.readinto(target.subarray(got), options);
        if (k === 0) break;
        got += k;
      }
    } catch (e) {
      if (!(e instanceof BlockingIOError) || got === 0) {
        this.#keep(target.subarray(have, got));
        throw e;
      }
    }
    this.#rpos = this.#rend;
    return got;
  }

  async #readall(options?: AbortOptions): Promise<Uint8Array<ArrayBuffer>> {
    const chunks: Uint8Array[] = [this.#rbuf.subarray(this.#rpos, this.#rend)];
    let size = Math.max(this.#ahead, DEFAULT_BUFFER_SIZE);
    try {
      for (;;) {
        const chunk = new Uint8Array(size);
        const k = await this.#raw.readinto(chunk, options, true);
        if (k === 0) break;
        chunks.push(chunk.subarray(0, k));
        if (k === size && size < MAX_CHUNK) size *= 2;
      }
    } catch (e) {
      const some = chunks.some((c) => c.length > 0);
      if (!(e instanceof BlockingIOError) || !some) {
        for (const c of chunks.slice(1)) this.#keep(c);
        throw e;
      }
    }
    const out = concat(chunks);
    this.#rpos = this.#rend;
    return out;
  }

  // ------------------------------------------------------------- writing

  /**
   * Write bytes. A buffered file keeps them until its buffer is full, or
   * {@linkcode BinarySocketFile.flush} or {@linkcode BinarySocketFile.close};
   * an unbuffered one sends them with one `send()`, which may take only
   * part.
   *
   * @param data Any bytes-like value (a string is a `TypeError`, as in
   *   Python).
   * @param options `signal` aborts a wait to send; what is not sent stays
   *   in the buffer.
   * @returns How many bytes were taken: all of them, unless unbuffered.
   * @throws {TypeError} `data` is not bytes-like.
   * @throws {ValueError} Closed ("write to closed file").
   * @throws {UnsupportedOperation} A file opened for reading only.
   * @throws {BrokenPipeError} The peer is gone.
   * @throws {BlockingIOError} A non-blocking socket would block: its
   *   `characters_written` says how much of `data` was taken (sent, or kept
   *   to fill the buffer), as Python's BufferedWriter says. Unbuffered,
   *   nothing was sent (Python's SocketIO returns `None`), and
   *   `characters_written` is undefined.
   *
   * @example Nothing is sent before flush()
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * const f = a.makefile("wb");
   * assert.equal(await f.write(new Uint8Array([1, 2])), 2);
   * b.settimeout(0.05);
   * await assert.rejects(b.recv(10));
   * await f.flush();
   * assert.deepEqual(await b.recv(10), new Uint8Array([1, 2]));
   * await f.close();
   * ```
   */
  async write(
    data: ArrayBufferView | ArrayBuffer,
    options?: AbortOptions,
  ): Promise<number> {
    // CPython's BufferedWriter (and BufferedRWPair's) parses its argument
    // first: a str raises TypeError even once the file is closed. A
    // BufferedReader has no write, and SocketIO checks `closed` first.
    const parsesFirst = this.#bufsize > 0 && this.#raw.writing;
    let bytes = parsesFirst ? requireBytes(data) : undefined;
    // socketserver's _SocketWriter.write() does not look at `closed`: it
    // sends while the socket is open (and raises EBADF once it is not).
    if (!this.#through) this.#checkWrite();
    bytes ??= requireBytes(data);
    throwIfAborted(options?.signal);
    if (this.#through) {
      await this.#writes.run(
        options,
        () => this.#raw.sock.sendall(bytes, 0, options),
      );
      return bytes.length;
    }
    if (this.#bufsize === 0) {
      return await this.#writes.run(
        options,
        () => this.#raw.send(bytes, options),
      );
    }
    if (!this.#writes.busy && this.#wlen + bytes.length <= this.#bufsize) {
      this[WRITES_TAKEN]++;
      this.#buffer(bytes);
      return bytes.length;
    }
    return await this.#writes.run(options, () => {
      this[WRITES_TAKEN]++;
      return this.#write(bytes, options);
    });
  }

  // CPython 3.11's BufferedWriter.write (_bufferedwriter_write): send the
  // buffer, then the data while more than a buffer of it is left, and keep
  // the rest. On a non-blocking socket, what would block is kept as far as
  // the buffer holds it, and BlockingIOError says how much of `bytes` was
  // taken.
  async #write(bytes: Uint8Array, options?: AbortOptions): Promise<number> {
    if (this.#wlen + bytes.length <= this.#bufsize) {
      this.#buffer(bytes);
      return bytes.length;
    }
    try {
      await this.#sendBuffer(options);
    } catch (e) {
      if (!(e instanceof BlockingIOError)) {
        throw this.#keepAborted(e, bytes, options);
      }
      const room = this.#bufsize - this.#wlen;
      if (bytes.length <= room) {
        this.#buffer(bytes);
        return bytes.length;
      }
      this.#buffer(bytes.subarray(0, room));
      throw wouldBlock(room);
    }
    let written = 0;
    while (bytes.length - written > this.#bufsize) {
      try {
        written += await this.#raw.send(bytes.subarray(written), options);
      } catch (e) {
        if (!(e instanceof BlockingIOError)) {
          throw this.#keepAborted(e, bytes.subarray(written), options);
        }
        this.#buffer(bytes.subarray(written, written + this.#bufsize));
        throw wouldBlock(written + this.#bufsize);
      }
    }
    this.#buffer(bytes.subarray(written));
    return bytes.length;
  }

  // An aborted write keeps what it did not send, all of it (past the
  // buffer's size if need be), for the next flush: an abort loses nothing.
  // Other failures (a timeout, a dead peer) go as CPython's, which keeps
  // none of it.
  #keepAborted(
    e: unknown,
    unsent: Uint8Array,
    options: AbortOptions | undefined,
  ): unknown {
    if (options?.signal?.aborted) this.#buffer(unsent);
    return e;
  }

  #buffer(bytes: Uint8Array): void {
    if (this.#wbuf.length < this.#wlen + bytes.length) {
      const buf = new Uint8Array(
        Math.max(this.#ahead, this.#wlen + bytes.length),
      );
      buf.set(this.#wbuf.subarray(0, this.#wlen));
      this.#wbuf = buf;
    }
    this.#wbuf.set(bytes, this.#wlen);
    this.#wlen += bytes.length;
  }

  // Send the buffer with send() calls, as CPython's raw writes; what was
  // not sent when one fails stays for the next flush.
  async #sendBuffer(options?: AbortOptions): Promise<void> {
    let sent = 0;
    try {
      while (sent < this.#wlen) {
        sent += await this.#raw.send(
          this.#wbuf.subarray(sent, this.#wlen),
          options,
        );
      }
    } finally {
      if (sent > 0) {
        this.#wbuf.copyWithin(0, sent, this.#wlen);
        this.#wlen -= sent;
      }
      // Grown by an aborted write: back to the buffer's size once sent.
      if (this.#wlen === 0 && this.#wbuf.length > this.#bufsize) {
        this.#wbuf = new Uint8Array(0);
      }
    }
  }

  /**
   * Send what the buffer holds of earlier writes.
   *
   * @param options `signal` aborts the wait; what is not sent stays.
   * @throws {ValueError} Closed ("flush of closed file").
   * @throws {BrokenPipeError} The peer is gone.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("wb");
   * await f.write(new Uint8Array([9]));
   * await f.flush();
   * assert.deepEqual(await b.recv(1), new Uint8Array([9]));
   * ```
   */
  async flush(options?: AbortOptions): Promise<void> {
    if (this.#closed) {
      throw new ValueError(
        this.#bufsize > 0 && this.#raw.writing
          ? "flush of closed file"
          : "I/O operation on closed file.",
      );
    }
    throwIfAborted(options?.signal);
    if (this.#wlen === 0 && !this.#writes.busy) return;
    await this.#writes.run(options, () => this.#sendBuffer(options));
  }

  /**
   * Close the file. It is closed at once; what the buffer holds is sent
   * first, then the file's hold on the socket goes (the socket closes now
   * if its `close()` was called and this was its last file). Idempotent.
   *
   * @param options `signal` aborts the wait to send the buffer (the file is
   *   closed all the same, and what was not sent is dropped); one aborted
   *   already rejects at once, leaving the file open with its buffer.
   * @returns Resolves once the buffer is sent; rejects if it could not be
   *   (the file is closed all the same).
   *
   * @example The socket stays open until its files are closed
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _b = b;
   * const f = a.makefile("rb");
   * a.close(); // deferred: f still uses the socket
   * await b.sendall(new Uint8Array([1]));
   * assert.deepEqual(await f.read(1), new Uint8Array([1]));
   * await f.close(); // now the socket closes
   * assert.equal(a.fileno(), -1);
   * ```
   */
  close(options?: AbortOptions): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const refused = refusedAtOnce(options);
    if (refused !== null) return refused;
    this.#closed = true;
    if (this.#wlen === 0 && !this.#writes.busy) {
      this.#raw.close();
      return Promise.resolve();
    }
    return (async () => {
      try {
        throwIfAborted(options?.signal);
        await this.#writes.run(options, () => this.#sendBuffer(options));
      } finally {
        this.#raw.close();
      }
    })();
  }

  /** Python's repr: `<_io.BufferedReader name=3>`. */
  override toString(): string {
    const kind = this.#bufsize === 0 || this.#through
      ? "socket.SocketIO"
      : this.#raw.reading && this.#raw.writing
      ? "_io.BufferedRWPair"
      : this.#raw.reading
      ? "_io.BufferedReader"
      : "_io.BufferedWriter";
    return `<${kind} name=${this.name}>`;
  }
}

/**
 * A text file made by `makefile("r")`, `"w"` or `"rw"`: Python's
 * `TextIOWrapper` over a buffered binary file. Reads return strings, decoded
 * incrementally (a character split across packets comes out whole), with
 * universal newlines by default; sizes count characters (code points), as
 * in Python.
 *
 * Written text waits (as encoded bytes) until 8 KiB of it gathered, or
 * {@linkcode TextSocketFile.flush} or {@linkcode TextSocketFile.close}, as
 * CPython's does. Timeouts and aborts behave as for
 * {@linkcode BinarySocketFile}.
 *
 * @example UTF-8 split across packets, and universal newlines
 * ```ts
 * import { socketpair } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * await using f = b.makefile("r");
 * const euro = new TextEncoder().encode("€\r\n"); // e2 82 ac 0d 0a
 * await a.sendall(euro.subarray(0, 2));
 * const line = f.readline();
 * await a.sendall(euro.subarray(2));
 * assert.equal(await line, "€\n");
 * ```
 */
export class TextSocketFile extends SocketFile<string> {
  readonly #buffer: BinarySocketFile;
  readonly #mode: string;
  readonly #codec: Codec;
  // What the first write starts with, until it is written.
  #bom: Uint8Array | undefined;
  readonly #encoding: string;
  readonly #errors: string;
  readonly #readuniversal: boolean;
  readonly #readtranslate: boolean;
  readonly #readnl: string;
  readonly #writenl: string | null;
  #decoder: Decoder | null = null;
  // Decoded text not yet returned.
  #decoded = "";
  // Encoded text not yet handed to the buffer.
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #closing = false;
  readonly #reads = new Turn();
  readonly #writes = new Turn();

  /**
   * Not for direct use: {@linkcode Socket.makefile} makes these.
   *
   * @param parts What makefile() passes.
   * @throws {TypeError} Called from outside.
   */
  constructor(parts: unknown) {
    super();
    if (!(parts instanceof TextParts)) {
      throw new TypeError("use Socket.makefile() to make a socket file");
    }
    this.#buffer = parts.buffer;
    this.#mode = parts.mode;
    this.#codec = parts.codec;
    this.#bom = parts.codec.bom;
    this.#encoding = parts.encoding;
    this.#errors = parts.errors;
    const newline = parts.newline;
    this.#readuniversal = !newline;
    this.#readtranslate = newline === null;
    this.#readnl = newline ?? "\n";
    // os.linesep is "\n" on Linux: only "\r" and "\r\n" translate on write.
    this.#writenl = newline === "\r" || newline === "\r\n" ? newline : null;
  }

  /** The mode as given to makefile(): `"r"`, `"w"`, `"rw"`. */
  get mode(): string {
    return this.#mode;
  }

  /** The socket's descriptor; -1 once the file is closed. */
  get name(): number {
    return this.#buffer.name;
  }

  /** Whether the file is closed. */
  get closed(): boolean {
    return this.#closing || this.#buffer.closed;
  }

  /** The encoding, as given (`"UTF-8"`, the locale's, by default). */
  get encoding(): string {
    return this.#encoding;
  }

  /** The error handler's name (`"strict"` by default). */
  get errors(): string {
    return this.#errors;
  }

  /** The binary file underneath: Python's `TextIOWrapper.buffer`. */
  get buffer(): BinarySocketFile {
    return this.#buffer;
  }

  /**
   * The socket's descriptor.
   *
   * @returns The descriptor.
   * @throws {ValueError} The file is closed.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("r");
   * assert.equal(f.fileno(), a.fileno());
   * ```
   */
  fileno(): number {
    this.#checkOpen();
    return this.#buffer.fileno();
  }

  /**
   * Whether the file reads.
   *
   * @returns `true` for `r` and `rw`.
   * @throws {ValueError} The file is closed.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("r");
   * assert.equal(f.readable(), true);
   * ```
   */
  readable(): boolean {
    // As CPython's TextIOWrapper: the buffer answers, closed or not.
    return this.#buffer.readable();
  }

  /**
   * Whether the file writes.
   *
   * @returns `true` for `w` and `rw`.
   * @throws {ValueError} The file is closed.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("r");
   * assert.equal(f.writable(), false);
   * ```
   */
  writable(): boolean {
    return this.#buffer.writable();
  }

  /**
   * Whether the file can seek: never, a socket's.
   *
   * @returns `false`.
   * @throws {ValueError} The file is closed (as its buffer says).
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("r");
   * assert.equal(f.seekable(), false);
   * ```
   */
  seekable(): boolean {
    return this.#buffer.seekable();
  }

  #checkOpen(): void {
    if (this.closed) throw new ValueError("I/O operation on closed file.");
  }

  #checkRead(): void {
    this.#checkOpen();
    if (!this.#buffer.readable()) {
      throw new UnsupportedOperation("not readable");
    }
  }

  #decoderNow(): Decoder {
    if (this.#decoder === null) {
      const inner = this.#codec.decoder(this.#errors);
      this.#decoder = this.#readuniversal
        ? new NewlineDecoder(inner, this.#readtranslate)
        : inner;
    }
    return this.#decoder;
  }

  // Decode one more chunk of the buffer; false at EOF, or when a
  // non-blocking socket has nothing more and some text is decoded already
  // (CPython's read and readline then return that part).
  async #readChunk(options?: AbortOptions): Promise<boolean> {
    // Closed while a read was under way (its last chunk came after the
    // close): what it has decoded is its answer, not lost to an error.
    if (this.closed) return false;
    let bytes: Uint8Array;
    try {
      bytes = await this.#buffer.read1(CHUNK_SIZE, options);
    } catch (e) {
      if (e instanceof BlockingIOError && this.#decoded.length > 0) {
        return false;
      }
      throw e;
    }
    const final = bytes.length === 0;
    this.#decoded += this.#decoderNow().decode(bytes, final);
    return !final;
  }

  /** @ignore Put `lines` back in front of the decoded text. */
  [GIVE_BACK](lines: string[]): void {
    this.#decoded = lines.join("") + this.#decoded;
  }

  /** @ignore See {@linkcode SocketFile.readlines}. */
  async [READ_LINES](
    options: AbortOptions | undefined,
    body: (next: () => Promise<string>) => Promise<string[]>,
  ): Promise<string[]> {
    this.#checkOpen();
    throwIfAborted(options?.signal);
    // As readline(): text written and not yet handed down goes first.
    await this.#writeFlush(options);
    this.#checkRead();
    return await this.#reads.run(
      options,
      () => body(() => this.#readline(-1, options)),
    );
  }

  #take(end: number): string {
    const out = this.#decoded.slice(0, end);
    this.#decoded = this.#decoded.slice(end);
    return out;
  }

  // Where the next line ends in #decoded (exclusive), or -1; the first
  // `from` units are known to hold no line ending.
  #lineEnd(limit: number, from: number): number {
    const s = this.#decoded;
    let end = -1;
    if (this.#readtranslate) {
      const i = s.indexOf("\n", from);
      if (i >= 0) end = i + 1;
    } else if (this.#readuniversal) {
      // The decoder never ends a chunk on "\r", so "\r\n" is never split.
      const nl = s.indexOf("\n", from);
      const cr = s.indexOf("\r", from);
      if (cr >= 0 && (nl < 0 || cr < nl)) {
        end = nl === cr + 1 ? cr + 2 : cr + 1;
      } else if (nl >= 0) end = nl + 1;
    } else {
      const i = s.indexOf(
        this.#readnl,
        Math.max(0, from - this.#readnl.length + 1),
      );
      if (i >= 0) end = i + this.#readnl.length;
    }
    if (limit >= 0) {
      const cut = cpIndex(s, limit);
      if (cut >= 0 && (end < 0 || end > cut)) end = cut;
    }
    return end;
  }

  /**
   * Read `size` characters, waiting until there are that many or EOF; with
   * `size` -1 (the default), everything until EOF.
   *
   * @param size How many characters (code points); `-1` or `null` for all.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns The text; empty at EOF.
   * @throws {ValueError} Closed.
   * @throws {UnsupportedOperation} "not readable": opened for writing only.
   * @throws {UnicodeDecodeError} Bytes that do not decode, with errors
   *   `"strict"`.
   * @throws {TimeoutError} The socket's timeout passed first.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _b = b;
   * await using f = b.makefile("r");
   * await a.sendall(new TextEncoder().encode("héllo"));
   * a.close();
   * assert.equal(await f.read(2), "hé");
   * assert.equal(await f.read(), "llo");
   * ```
   */
  async read(
    size: number | null | AbortOptions = -1,
    options?: AbortOptions,
  ): Promise<string> {
    if (isOptionsArg(size, arguments, "read")) {
      [size, options] = [-1, size];
    }
    const n = sizeArg(size, false);
    this.#checkRead();
    throwIfAborted(options?.signal);
    await this.#writeFlush(options);
    if (n === 0) return "";
    return await this.#reads.run(options, async () => {
      if (n < 0) {
        const rest = await this.#buffer.read(-1, options);
        const text = this.#decoded + this.#decoderNow().decode(rest, true);
        this.#decoded = "";
        return text;
      }
      for (;;) {
        const end = cpIndex(this.#decoded, n);
        if (end >= 0) return this.#take(end);
        if (!await this.#readChunk(options)) {
          // The last decode may have added more than was asked for.
          const last = cpIndex(this.#decoded, n);
          return this.#take(last >= 0 ? last : this.#decoded.length);
        }
      }
    });
  }

  /**
   * Read one line, with its line ending: with `newline` null (the default)
   * `\r\n` and `\r` come out as `\n`; at most `limit` characters when
   * `limit` is not negative.
   *
   * @param limit The most characters; `-1` (default) or `null` for no limit.
   * @param options `signal` aborts the wait; nothing is lost.
   * @returns The line; empty at EOF.
   * @throws {ValueError} Closed.
   * @throws {UnicodeDecodeError} Bytes that do not decode, with errors
   *   `"strict"`.
   * @throws {TimeoutError} The socket's timeout passed first; the part of
   *   the line already received stays in the file.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = b.makefile("r", undefined, { newline: "" });
   * await a.sendall(new TextEncoder().encode("a\r\nb\rc\n"));
   * assert.equal(await f.readline(), "a\r\n");
   * assert.equal(await f.readline(), "b\r");
   * assert.equal(await f.readline(), "c\n");
   * ```
   */
  async readline(
    limit: number | null | AbortOptions = -1,
    options?: AbortOptions,
  ): Promise<string> {
    if (isOptionsArg(limit, arguments, "readline")) {
      [limit, options] = [-1, limit];
    }
    // Parsed first, as an index (a float is not one).
    const n = sizeArg(limit, true);
    this.#checkOpen();
    throwIfAborted(options?.signal);
    // As CPython's, text written and not yet handed down goes first, even on
    // a file that cannot read.
    await this.#writeFlush(options);
    this.#checkRead();
    if (n === 0) {
      // CPython reads a chunk first when it holds no decoded text (a wait,
      // a timeout), then cuts the line to nothing.
      if (this.#decoded.length > 0 && !this.#reads.busy) return "";
      return await this.#reads.run(options, async () => {
        if (this.#decoded.length === 0) await this.#readChunk(options);
        return "";
      });
    }
    if (!this.#reads.busy) {
      const end = this.#lineEnd(n, 0);
      if (end >= 0) return this.#take(end);
    }
    return await this.#reads.run(options, () => this.#readline(n, options));
  }

  // A line of at most `n` characters (-1: any), once this call has the turn.
  async #readline(n: number, options?: AbortOptions): Promise<string> {
    let scanned = 0;
    for (;;) {
      const end = this.#lineEnd(n, scanned);
      if (end >= 0) return this.#take(end);
      scanned = this.#decoded.length;
      if (!await this.#readChunk(options)) {
        const end = this.#lineEnd(n, 0);
        return this.#take(end >= 0 ? end : this.#decoded.length);
      }
    }
  }

  /**
   * Write text. It is encoded at once (an error here raises now) and sent
   * once 8 KiB gathered, or on {@linkcode TextSocketFile.flush} or
   * {@linkcode TextSocketFile.close}.
   *
   * @param data The text.
   * @param options `signal` aborts a wait to send.
   * @returns How many characters (code points) were written.
   * @throws {TypeError} Not a string ("write() argument must be str, not
   *   bytes").
   * @throws {ValueError} Closed.
   * @throws {UnsupportedOperation} "not writable": opened for reading only.
   * @throws {UnicodeEncodeError} Text the encoding cannot hold, with errors
   *   `"strict"`.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * const f = a.makefile("w", undefined, { newline: "\r\n" });
   * assert.equal(await f.write("hi\n"), 3);
   * await f.close();
   * assert.equal(new TextDecoder().decode(await b.recv(10)), "hi\r\n");
   * ```
   */
  async write(data: string, options?: AbortOptions): Promise<number> {
    // CPython's TextIOWrapper.write parses its argument first: bytes raise
    // TypeError even on a closed or read-only file.
    if (typeof data !== "string") {
      throw new TypeError(
        `write() argument must be str, not ${pyArgName(data)}`,
      );
    }
    this.#checkOpen();
    if (!this.#buffer.writable()) {
      throw new UnsupportedOperation("not writable");
    }
    throwIfAborted(options?.signal);
    let text = data;
    if (this.#writenl !== null && text.includes("\n")) {
      text = text.replaceAll("\n", this.#writenl);
    }
    // The stream's first bytes (utf-8-sig) go with its first write; as
    // CPython's encoder, a first write that fails to encode spends them.
    const bom = this.#bom;
    this.#bom = undefined;
    let bytes = this.#codec.encode(text, this.#errors);
    if (bom !== undefined) bytes = concat([bom, bytes]);
    // CPython's TextIOWrapper: hand over what gathered before it would pass
    // the chunk size, and everything once it reaches it. Text that fits is
    // gathered at once when no write is under way; otherwise the write
    // takes its turn, so that writes made together go out in their order,
    // and one aborted while it waits has taken nothing.
    if (!this.#writes.busy && this.#pendingBytes + bytes.length < CHUNK_SIZE) {
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.length;
      return cpLength(data);
    }
    await this.#writes.run(options, async () => {
      if (this.#pendingBytes + bytes.length > CHUNK_SIZE) {
        await this.#handOver(options);
      }
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.length;
      if (this.#pendingBytes >= CHUNK_SIZE) await this.#handOver(options);
    });
    return cpLength(data);
  }

  // Text written and not yet handed to the binary layer goes there before a
  // read (CPython's _textiowrapper_writeflush): a small buffer sends it, so
  // a request written on an "rw" file reaches the peer before its reply is
  // awaited. Only pending text: a write under way has handed its text down
  // already, and a read must not wait for it (the peer may be waiting for
  // this side to read before it reads what the write sends).
  async #writeFlush(options?: AbortOptions): Promise<void> {
    if (this.#pendingBytes > 0 && !this.#writes.busy) {
      await this.#writes.run(options, () => this.#handOver(options));
    }
  }

  async #handOver(options?: AbortOptions): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const bytes = this.#pending.length === 1
      ? this.#pending[0]
      : concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    const taken = this.#buffer[WRITES_TAKEN];
    try {
      await this.#buffer.write(bytes, options);
    } catch (e) {
      // Aborted before the binary file took them (in its turn, or at once):
      // text that write() accepted stays this file's, first in line.
      if (this.#buffer[WRITES_TAKEN] === taken) {
        this.#pending.unshift(bytes);
        this.#pendingBytes += bytes.length;
      }
      throw e;
    }
  }

  /**
   * Send the text written so far.
   *
   * @param options `signal` aborts the wait.
   * @throws {ValueError} Closed.
   * @throws {BrokenPipeError} The peer is gone.
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("w");
   * await f.write("ok\n");
   * await f.flush();
   * assert.equal(new TextDecoder().decode(await b.recv(10)), "ok\n");
   * ```
   */
  async flush(options?: AbortOptions): Promise<void> {
    this.#checkOpen();
    throwIfAborted(options?.signal);
    await this.#writes.run(options, () => this.#handOver(options));
    await this.#buffer.flush(options);
  }

  /**
   * Close the file: closed at once; the text written so far is sent first,
   * then the file's hold on the socket goes. Idempotent.
   *
   * @param options `signal` aborts the wait to send the text (the file is
   *   closed all the same, and what was not sent is dropped); one aborted
   *   already rejects at once, leaving the file open with its text.
   * @returns Resolves once the text is sent; rejects if it could not be
   *   (the file is closed all the same).
   *
   * @example
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * const f = a.makefile("w");
   * await f.write("bye\n");
   * await f.close();
   * assert.equal(f.closed, true);
   * assert.equal(new TextDecoder().decode(await b.recv(10)), "bye\n");
   * ```
   */
  close(options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.resolve();
    const refused = refusedAtOnce(options);
    if (refused !== null) return refused;
    this.#closing = true;
    if (this.#pendingBytes === 0 && !this.#writes.busy) {
      return this.#buffer.close(options);
    }
    return (async () => {
      try {
        throwIfAborted(options?.signal);
        await this.#writes.run(options, () => this.#handOver(options));
      } finally {
        await this.#buffer.close(options);
      }
    })();
  }

  /** Python's repr: `<_io.TextIOWrapper name=3 mode='r' encoding='UTF-8'>`. */
  override toString(): string {
    return `<_io.TextIOWrapper name=${this.name} mode=${
      pyRepr(this.#mode)
    } encoding=${pyRepr(this.#encoding)}>`;
  }
}

class TextParts {
  constructor(
    readonly buffer: BinarySocketFile,
    readonly mode: string,
    readonly codec: Codec,
    readonly encoding: string,
    readonly errors: string,
    readonly newline: string | null,
  ) {}
}

function textArg(name: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") {
    throw new TypeError(
      `TextIOWrapper() argument '${name}' must be str or None, not ${
        pyTypeName(value)
      }`,
    );
  }
  return cStringArg(value);
}

/**
 * `Socket.makefile()`: check the arguments as CPython 3.11 does, then make
 * the file and count it on the socket.
 *
 * @param sock The socket.
 * @param mode Any of `r`, `w`, `b`.
 * @param buffering `null`/negative for the default size, `0` unbuffered
 *   (binary only), else the buffer's size.
 * @param options The text options.
 * @param ref The socket's count of open files.
 * @returns The file.
 */
export function openFile(
  sock: Socket,
  mode: unknown,
  buffering: unknown,
  options: MakefileOptions | undefined,
  ref: FileRef,
): BinarySocketFile | TextSocketFile {
  if (typeof mode !== "string") {
    throw new TypeError(`'${pyTypeName(mode)}' object is not iterable`);
  }
  for (const c of mode) {
    if (c !== "r" && c !== "w" && c !== "b") {
      throw new ValueError(
        `invalid mode ${pyRepr(mode)} (only r, w, b allowed)`,
      );
    }
  }
  const writing = mode.includes("w");
  const reading = mode.includes("r") || !writing;
  const binary = mode.includes("b");
  const rawmode = (reading ? "r" : "") + (writing ? "w" : "") + "b";
  // CPython compares first (`buffering < 0`): what is not a number fails
  // there, a float later, as not an integer.
  if (
    buffering !== null && buffering !== undefined &&
    typeof buffering !== "number" && typeof buffering !== "boolean" &&
    typeof buffering !== "bigint"
  ) {
    throw new TypeError(
      `'<' not supported between instances of '${
        pyTypeName(buffering)
      }' and 'int'`,
    );
  }
  // Any negative number is the default (-1.5 too), as `buffering < 0` says;
  // the rest must be an integer that fits a Py_ssize_t.
  const bufsize = buffering === null || buffering === undefined ||
      (buffering as number | bigint) < 0
    ? DEFAULT_BUFFER_SIZE
    : ssize(buffering);
  let text: {
    codec: Codec;
    encoding: string;
    errors: string;
    newline: string | null;
  } | null = null;
  if (!binary) {
    if (bufsize === 0) {
      throw new ValueError("unbuffered streams must be binary");
    }
    // TextIOWrapper() takes its arguments in order, then checks newline's
    // value, then looks the encoding up.
    // None, or "locale" as written, is the locale's encoding (CPython
    // 3.11's TextIOWrapper): UTF-8 here, named as Python names it.
    const asked = textArg("encoding", options?.encoding);
    const encoding = asked === null || asked === "locale" ? "UTF-8" : asked;
    const errors = textArg("errors", options?.errors) ?? "strict";
    const newline = textArg("newline", options?.newline);
    if (
      newline !== null && newline !== "" && newline !== "\n" &&
      newline !== "\r" && newline !== "\r\n"
    ) {
      throw new ValueError(`illegal newline value: ${newline}`);
    }
    text = { codec: lookupCodec(encoding), encoding, errors, newline };
  }
  const raw = new SocketIO(sock, reading, writing, ref);
  ref.acquire();
  const file = new BinarySocketFile(new Parts(raw, rawmode, bufsize, false));
  if (text === null) return file;
  return new TextSocketFile(
    new TextParts(
      file,
      mode,
      text.codec,
      text.encoding,
      text.errors,
      text.newline,
    ),
  );
}

/**
 * socketserver's `_SocketWriter`: a write-only binary file that sends each
 * write with `sendall()` and holds nothing (so it needs no flush), and no
 * hold on the socket.
 *
 * @param sock The connection.
 * @returns The file.
 */
export function socketWriter(sock: Socket): BinarySocketFile {
  const raw = new SocketIO(sock, false, true, NO_REF);
  return new BinarySocketFile(new Parts(raw, "wb", 0, true));
}

/**
 * Python's socket exceptions: `OSError` and the subclasses CPython picks from
 * the errno, plus `gaierror`, `herror`, `ValueError` and `OverflowError`.
 *
 * As in Python, constructing `OSError` with an errno gives the subclass for
 * that errno, and the message reads `[Errno N] text`.
 *
 * @example Catch a refused connection by class or by errno
 * ```ts
 * import { ConnectionRefusedError, OSError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new OSError(111, "Connection refused");
 * assert.ok(e instanceof ConnectionRefusedError);
 * assert.equal(e.errno, 111);
 * assert.equal(e.message, "[Errno 111] Connection refused");
 * ```
 *
 * @module
 */
import { errno as E } from "./constants.ts";
import { STRERROR } from "./_strerror.ts";
import { charEscape, pyRepr } from "./_repr.ts";

/**
 * Python's `OSError`: a failure reported by the operating system.
 *
 * `errno` and `strerror` are set when the failure has an errno, and the
 * message is then `[Errno N] strerror`. Constructed with an errno, it returns
 * the subclass Python would raise (`new OSError(111, "...")` is a
 * `ConnectionRefusedError`).
 *
 * @example Raise and inspect
 * ```ts
 * import { OSError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new OSError(98);
 * assert.equal(e.errno, 98);
 * assert.equal(e.strerror, "Address already in use");
 * assert.equal(String(e), "OSError: [Errno 98] Address already in use");
 * assert.equal(new OSError("AF_UNIX path too long").errno, null);
 * ```
 */
export class OSError extends Error {
  /** The errno number, or `null` when the error has none. */
  readonly errno!: number | null;
  /** The operating system's text for `errno`, or `null`. */
  readonly strerror!: string | null;

  /**
   * Make an OSError (or the subclass for `errno`).
   *
   * @param errnoOrMessage An errno number, or a message for an error without one.
   * @param strerror The text for the errno; defaults to the platform's.
   * @param options Standard `Error` options (`cause`).
   */
  constructor(
    errnoOrMessage?: number | string | null,
    strerror?: string | null,
    options?: ErrorOptions,
  ) {
    const n = typeof errnoOrMessage === "number" ? errnoOrMessage : null;
    const text = n === null
      ? null
      : strerror ?? STRERROR[n] ?? `Unknown error ${n}`;
    if (new.target === OSError && n !== null) {
      const Class = errnoClass(n);
      // Python's OSError.__new__ picks the subclass from the errno; choosing
      // before super() builds one error, not two.
      if (Class !== OSError) return new Class(n, text, options);
    }
    super(
      n === null ? (errnoOrMessage ?? "") as string : `[Errno ${n}] ${text}`,
      options,
    );
    this.errno = n;
    this.strerror = text;
  }
}
OSError.prototype.name = "OSError";

/** Python's `socket.error`, an alias of {@linkcode OSError}. */
export const error: typeof OSError = OSError;
/** The type of a {@linkcode error}: an {@linkcode OSError}. */
export type error = OSError;

/**
 * An operation would block on a non-blocking socket (EAGAIN, EINPROGRESS,
 * EALREADY).
 *
 * @example A buffered write that would block says how much it took
 * ```ts
 * import { BlockingIOError, socketpair } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * a.setblocking(false);
 * const f = a.makefile("wb");
 * const data = new Uint8Array(16 << 20);
 * const e = await f.write(data).catch((e) => e);
 * assert.ok(e instanceof BlockingIOError);
 * assert.ok(e.characters_written! > 0 && e.characters_written! < data.length);
 * // What the file kept cannot go either (no one reads): closed all the same.
 * await assert.rejects(f.close(), BlockingIOError);
 * ```
 */
export class BlockingIOError extends OSError {
  /**
   * How many bytes of the data given a buffered write took (sent, or kept
   * in its buffer) before it would block, as Python's BufferedWriter sets
   * it; `undefined` on other calls (Python raises AttributeError).
   */
  characters_written?: number;
}
BlockingIOError.prototype.name = "BlockingIOError";

/** Base class of the connection errors. */
export class ConnectionError extends OSError {}
ConnectionError.prototype.name = "ConnectionError";

/** Writing to a stream whose other end is gone (EPIPE, ESHUTDOWN). */
export class BrokenPipeError extends ConnectionError {}
BrokenPipeError.prototype.name = "BrokenPipeError";

/** The connection was aborted (ECONNABORTED). */
export class ConnectionAbortedError extends ConnectionError {}
ConnectionAbortedError.prototype.name = "ConnectionAbortedError";

/** The peer refused the connection (ECONNREFUSED). */
export class ConnectionRefusedError extends ConnectionError {}
ConnectionRefusedError.prototype.name = "ConnectionRefusedError";

/** The peer reset the connection (ECONNRESET). */
export class ConnectionResetError extends ConnectionError {}
ConnectionResetError.prototype.name = "ConnectionResetError";

/** A path exists already (EEXIST). */
export class FileExistsError extends OSError {}
FileExistsError.prototype.name = "FileExistsError";

/** A path does not exist (ENOENT). */
export class FileNotFoundError extends OSError {}
FileNotFoundError.prototype.name = "FileNotFoundError";

/** A system call was interrupted (EINTR). */
export class InterruptedError extends OSError {}
InterruptedError.prototype.name = "InterruptedError";

/** A directory was given where a file was expected (EISDIR). */
export class IsADirectoryError extends OSError {}
IsADirectoryError.prototype.name = "IsADirectoryError";

/** A path component is not a directory (ENOTDIR). */
export class NotADirectoryError extends OSError {}
NotADirectoryError.prototype.name = "NotADirectoryError";

/**
 * Not allowed (EPERM, EACCES), including a Deno permission that was not
 * granted: the message then names the flag to run with.
 */
export class PermissionError extends OSError {}
PermissionError.prototype.name = "PermissionError";

/** No such process (ESRCH). */
export class ProcessLookupError extends OSError {}
ProcessLookupError.prototype.name = "ProcessLookupError";

/** A child process operation failed (ECHILD). */
export class ChildProcessError extends OSError {}
ChildProcessError.prototype.name = "ChildProcessError";

/**
 * A timeout: ETIMEDOUT from the system, or a socket timeout, which has errno
 * and strerror `null` and the message `timed out`, as in Python.
 *
 * @example A socket timeout
 * ```ts
 * import { TimeoutError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new TimeoutError("timed out");
 * assert.equal(e.errno, null);
 * assert.equal(e.message, "timed out");
 * ```
 */
export class TimeoutError extends OSError {}
TimeoutError.prototype.name = "TimeoutError";

/** Python's `socket.timeout`, an alias of {@linkcode TimeoutError}. */
export const timeout: typeof TimeoutError = TimeoutError;
/** The type of a {@linkcode timeout}: a {@linkcode TimeoutError}. */
export type timeout = TimeoutError;

const GAI_TEXT: Readonly<Record<number, string>> = {
  [-1]: "Bad value for ai_flags",
  [-2]: "Name or service not known",
  [-3]: "Temporary failure in name resolution",
  [-4]: "Non-recoverable failure in name resolution",
  [-5]: "No address associated with hostname",
  [-6]: "ai_family not supported",
  [-7]: "ai_socktype not supported",
  [-8]: "Servname not supported for ai_socktype",
  [-9]: "Address family for hostname not supported",
  [-10]: "Memory allocation failure",
  [-11]: "System error",
  [-12]: "Argument buffer overflow",
};

/**
 * An address lookup failed (`getaddrinfo`); `errno` is the negative `EAI_*`
 * code.
 *
 * @example
 * ```ts
 * import { gaierror } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new gaierror(-2);
 * assert.equal(e.message, "[Errno -2] Name or service not known");
 * ```
 */
export class gaierror extends OSError {
  /**
   * Make a gaierror.
   *
   * @param code The `EAI_*` code, or a message.
   * @param text The text; defaults to glibc's `gai_strerror()`.
   */
  constructor(code?: number | string | null, text?: string | null) {
    super(
      code,
      typeof code === "number"
        ? text ?? GAI_TEXT[code] ?? `Unknown error ${code}`
        : text,
    );
  }
}
gaierror.prototype.name = "gaierror";

const H_TEXT: Readonly<Record<number, string>> = {
  1: "Unknown host",
  2: "Host name lookup failure",
  3: "Unknown server error",
  4: "No address associated with name",
};

/** A host lookup failed (`gethostbyaddr`); `errno` is the `h_errno` code. */
export class herror extends OSError {
  /**
   * Make an herror.
   *
   * @param code The `h_errno` code, or a message.
   * @param text The text; defaults to `hstrerror()`.
   */
  constructor(code?: number | string | null, text?: string | null) {
    super(
      code,
      typeof code === "number"
        ? text ?? H_TEXT[code] ?? "Resolver internal error"
        : text,
    );
  }
}
herror.prototype.name = "herror";

/**
 * Python's `ValueError`: an argument of the right type with a bad value
 * (`recv(-1)`, `settimeout(-1)`). Extends the built-in `RangeError`.
 *
 * @example
 * ```ts
 * import { ValueError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new ValueError("negative buffersize in recv") instanceof RangeError);
 * ```
 */
export class ValueError extends RangeError {
  /**
   * `instanceof ValueError`, which also holds for an
   * {@linkcode UnsupportedOperation} (Python's is an OSError and a
   * ValueError).
   *
   * @param value Anything.
   * @returns Whether `value` is a ValueError in Python's sense.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value) ||
      (this === ValueError && value instanceof UnsupportedOperation);
  }
}
ValueError.prototype.name = "ValueError";

/**
 * Python's `io.UnsupportedOperation`: reading a file opened for writing only,
 * or writing one opened for reading. As Python's, it is both an `OSError`
 * (errno `null`) and, through `instanceof`, a {@linkcode ValueError}.
 *
 * @example
 * ```ts
 * import { socketpair, UnsupportedOperation, ValueError } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * await using f = a.makefile("rb");
 * const e = await f.write(new Uint8Array(1)).catch((e) => e);
 * assert.ok(e instanceof UnsupportedOperation && e instanceof ValueError);
 * ```
 */
export class UnsupportedOperation extends OSError {}
UnsupportedOperation.prototype.name = "UnsupportedOperation";

/**
 * Python's `OverflowError`: a number out of range (a port outside 0-65535).
 * Extends the built-in `RangeError`.
 */
export class OverflowError extends RangeError {}
OverflowError.prototype.name = "OverflowError";

const ERRNO_CLASSES: ReadonlyMap<number, typeof OSError> = new Map<
  number,
  typeof OSError
>([
  [E.EAGAIN, BlockingIOError],
  [E.EALREADY, BlockingIOError],
  [E.EINPROGRESS, BlockingIOError],
  [E.ECHILD, ChildProcessError],
  [E.EPIPE, BrokenPipeError],
  [E.ESHUTDOWN, BrokenPipeError],
  [E.ECONNABORTED, ConnectionAbortedError],
  [E.ECONNREFUSED, ConnectionRefusedError],
  [E.ECONNRESET, ConnectionResetError],
  [E.EEXIST, FileExistsError],
  [E.ENOENT, FileNotFoundError],
  [E.EISDIR, IsADirectoryError],
  [E.ENOTDIR, NotADirectoryError],
  [E.EINTR, InterruptedError],
  [E.EACCES, PermissionError],
  [E.EPERM, PermissionError],
  [E.ESRCH, ProcessLookupError],
  [E.ETIMEDOUT, TimeoutError],
]);

/**
 * The class Python raises for an errno (`OSError` when none is more
 * specific).
 *
 * @param n An errno number.
 * @returns The exception class.
 *
 * @example
 * ```ts
 * import { errnoClass, ConnectionResetError, OSError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(errnoClass(104), ConnectionResetError);
 * assert.equal(errnoClass(22), OSError);
 * ```
 */
export function errnoClass(n: number): typeof OSError {
  return ERRNO_CLASSES.get(n) ?? OSError;
}

/**
 * Python's `LookupError`: a key or name that is not there; the base of
 * `KeyError`, and raised for an unknown encoding or error handler.
 *
 * @example
 * ```ts
 * import { KeyError, LookupError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new KeyError(3) instanceof LookupError);
 * ```
 */
export class LookupError extends Error {}
LookupError.prototype.name = "LookupError";

/**
 * Python's `KeyError`: a key that is not in a mapping (`Poll.unregister()`
 * of a descriptor never registered, a selector's "... is not registered").
 *
 * As in Python, the message is the `repr()` of the key: a string key is
 * quoted (`KeyError: '3 is not registered'`), a number is not
 * (`KeyError: 3`).
 *
 * @example
 * ```ts
 * import { KeyError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new KeyError("5 is not registered");
 * assert.equal(e.key, "5 is not registered");
 * assert.equal(String(e), "KeyError: '5 is not registered'");
 * assert.equal(new KeyError(3).message, "3");
 * assert.equal(new KeyError("it's").message, `"it's"`);
 * ```
 */
export class KeyError extends LookupError {
  /** The key that was looked up (Python's `args[0]`). */
  readonly key: unknown;

  /**
   * Make a KeyError.
   *
   * @param key The missing key; omitted, the message is empty.
   * @param options Standard `Error` options (`cause`).
   */
  constructor(key?: unknown, options?: ErrorOptions) {
    super(key === undefined ? "" : pyRepr(key), options);
    this.key = key;
  }
}
KeyError.prototype.name = "KeyError";

/**
 * Python's `RuntimeError`: a call made in a state that forbids it (a second
 * concurrent `Poll.poll()`, a selector used after `close()`).
 *
 * @example
 * ```ts
 * import { RuntimeError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new RuntimeError("Selector is closed");
 * assert.equal(String(e), "RuntimeError: Selector is closed");
 * ```
 */
export class RuntimeError extends Error {}
RuntimeError.prototype.name = "RuntimeError";

/**
 * Python's `BufferError`: a buffer used against its contract. CPython
 * cannot resize a buffer a call is reading into; in JavaScript one can be
 * detached (`transfer()`) or resized while `recv_into` waits, and the call
 * then fails with this error instead of reporting a read that no one sees.
 *
 * @example
 * ```ts
 * import { BufferError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(String(new BufferError("detached")), "BufferError: detached");
 * ```
 */
export class BufferError extends Error {}
BufferError.prototype.name = "BufferError";

/** Python's `UnicodeError`, the base of the codec errors; a `ValueError`. */
export class UnicodeError extends ValueError {}
UnicodeError.prototype.name = "UnicodeError";

/**
 * Python's `UnicodeDecodeError`: bytes that are not valid in the encoding,
 * with errors `"strict"`.
 *
 * @example
 * ```ts
 * import { UnicodeDecodeError } from "./errors.ts";
 * import { lookupCodec } from "./_codecs.ts";
 * import assert from "node:assert/strict";
 *
 * const dec = lookupCodec("utf-8").decoder("strict");
 * assert.throws(() => dec.decode(new Uint8Array([0x61, 0xff]), true), {
 *   name: "UnicodeDecodeError",
 *   message: "'utf-8' codec can't decode byte 0xff in position 1: invalid start byte",
 * });
 * assert.ok(UnicodeDecodeError.prototype instanceof RangeError);
 * ```
 */
export class UnicodeDecodeError extends UnicodeError {
  /** The codec's name (`"utf-8"`). */
  readonly encoding: string;
  /** The bytes being decoded. */
  readonly object: Uint8Array;
  /** Where the invalid bytes start in `object`. */
  readonly start: number;
  /** Where they end (exclusive). */
  readonly end: number;
  /** Why they are invalid (`"invalid start byte"`). */
  readonly reason: string;

  /**
   * Make the error; the message is Python's.
   *
   * @param encoding The codec's name.
   * @param object The bytes.
   * @param start First invalid byte.
   * @param end Past the last invalid byte.
   * @param reason Why.
   */
  constructor(
    encoding: string,
    object: Uint8Array,
    start: number,
    end: number,
    reason: string,
  ) {
    super(
      end - start === 1
        ? `'${encoding}' codec can't decode byte 0x${
          object[start].toString(16).padStart(2, "0")
        } in position ${start}: ${reason}`
        : `'${encoding}' codec can't decode bytes in position ${start}-${
          end - 1
        }: ${reason}`,
    );
    this.encoding = encoding;
    this.object = object;
    this.start = start;
    this.end = end;
    this.reason = reason;
  }
}
UnicodeDecodeError.prototype.name = "UnicodeDecodeError";

/**
 * Python's `UnicodeEncodeError`: characters the encoding cannot represent
 * (a lone surrogate in UTF-8), with errors `"strict"`. Positions count code
 * points, as Python's do.
 *
 * @example
 * ```ts
 * import { lookupCodec } from "./_codecs.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => lookupCodec("ascii").encode("é", "strict"), {
 *   name: "UnicodeEncodeError",
 *   message: "'ascii' codec can't encode character '\\xe9' in position 0: ordinal not in range(128)",
 * });
 * ```
 */
export class UnicodeEncodeError extends UnicodeError {
  /** The codec's name. */
  readonly encoding: string;
  /** The text being encoded. */
  readonly object: string;
  /** The first character (code point index) that cannot be encoded. */
  readonly start: number;
  /** Past the last one. */
  readonly end: number;
  /** Why. */
  readonly reason: string;

  /**
   * Make the error; the message is Python's.
   *
   * @param encoding The codec's name.
   * @param object The text.
   * @param start First code point that failed.
   * @param end Past the last one.
   * @param reason Why.
   * @param first The first failing code point, for the message.
   */
  constructor(
    encoding: string,
    object: string,
    start: number,
    end: number,
    reason: string,
    first: number,
  ) {
    super(
      end - start === 1
        ? `'${encoding}' codec can't encode character '${
          charEscape(first)
        }' in position ${start}: ${reason}`
        : `'${encoding}' codec can't encode characters in position ${start}-${
          end - 1
        }: ${reason}`,
    );
    this.encoding = encoding;
    this.object = object;
    this.start = start;
    this.end = end;
    this.reason = reason;
  }
}
UnicodeEncodeError.prototype.name = "UnicodeEncodeError";

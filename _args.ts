/**
 * Python-style argument coercion, in one place: integers as `__index__` and
 * C `int` take them, bytes-like values, and the Python type names that
 * CPython's TypeError messages use.
 *
 * @example
 * ```ts
 * import { requireBytes, toInt } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toInt(true), 1);
 * assert.throws(() => requireBytes("text"), TypeError);
 * ```
 *
 * @module
 */
import { errno as E } from "./constants.ts";
import { OSError, OverflowError, ValueError } from "./errors.ts";
import { utf8Encode } from "./_codecs.ts";

const INT_MAX = 2 ** 31 - 1;
const INT_MIN = -(2 ** 31);
const LONG_MAX = 2 ** 63; // first value past C long (exact as a double)

/** Bytes-like values Python's `bytes`, `bytearray` and `memoryview` map to. */
export type BytesLike = Uint8Array | ArrayBufferView | ArrayBuffer;

/**
 * Whether an argument is an options object given in place of Python's
 * optional arguments, which then take their defaults: `recv(10, { signal })`
 * is `recv(10, 0, { signal })`. That is a plain object whose properties
 * (none, or some) are all option names: one with another property where
 * Python wants an int or an address stays the TypeError CPython raises for
 * a dict. An argument after it is a TypeError (see {@linkcode optionsLast}).
 *
 * @typeParam O The options' type.
 * @param value The argument.
 * @param args The call's `arguments`.
 * @param fn The call's name, for the message.
 * @param names The call's option names.
 * @returns Whether it is the options.
 * @throws {TypeError} It is, and an argument other than `undefined`
 *   follows it.
 *
 * @example
 * ```ts
 * import { isOptionsArg } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * function recv(_n: number, flags: unknown, _options?: unknown) {
 *   return isOptionsArg(flags, arguments, "recv");
 * }
 * assert.equal(recv(1, { signal: AbortSignal.timeout(10) }), true);
 * assert.equal(recv(1, {}), true);
 * assert.equal(recv(1, { flags: 2 }), false);
 * assert.equal(recv(1, 0), false);
 * assert.equal(recv(1, ["127.0.0.1", 80]), false);
 * assert.throws(() => recv(1, { signal: AbortSignal.timeout(10) }, 2), TypeError);
 * ```
 */
export function isOptionsArg<
  O extends object = { signal?: AbortSignal | undefined },
>(
  value: unknown,
  args: IArguments,
  fn: string,
  names: readonly string[] = SIGNAL,
): value is O {
  if (!isPlainObject(value)) return false;
  // `{}` too: TypeScript takes it for the options (`signal ? { signal } :
  // {}`), where Python would see a dict.
  if (!Object.keys(value).every((k) => names.includes(k))) return false;
  optionsLast(value, args, fn);
  return true;
}

const SIGNAL = ["signal"] as const;

// An object literal (or `Object.create(null)`): what an options argument is.
// A typed array, a Map or a class instance there is a positional argument
// too many, as Python sees it.
function isPlainObject(value: unknown): value is object {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A call's `signal` option, checked at the call's start: nothing to do for
 * `undefined` (or `null`); an aborted signal rejects the call with its
 * reason at once.
 *
 * @param signal The option as given.
 * @throws {TypeError} Not an AbortSignal.
 * @throws The signal's reason, when it is aborted already.
 */
export function throwIfAborted(signal: unknown): void {
  if (signal === undefined || signal === null) return;
  if (!(signal instanceof AbortSignal)) {
    throw new TypeError(
      `signal must be an AbortSignal, not ${pyTypeName(signal)}`,
    );
  }
  signal.throwIfAborted();
}

/**
 * The options object found in place of optional arguments, checked to be the
 * last argument given: `recv_into(buf, { signal }, MSG_PEEK)` would otherwise
 * drop the flags without a word.
 *
 * @typeParam O The options' type.
 * @param options The options, as found among `args`.
 * @param args The call's `arguments`.
 * @param fn The call's name, for the message.
 * @returns `options`.
 * @throws {TypeError} An argument other than `undefined` follows them.
 *
 * @example
 * ```ts
 * import { optionsLast } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * function recv(_n: number, ...rest: unknown[]) {
 *   return optionsLast(rest[0], arguments, "recv");
 * }
 * const options = { signal: AbortSignal.timeout(10) };
 * assert.equal(recv(1, options), options);
 * assert.throws(() => recv(1, options, 2), TypeError);
 * ```
 */
export function optionsLast<O>(options: O, args: IArguments, fn: string): O {
  const at = Array.prototype.indexOf.call(args, options);
  for (let i = at + 1; i < args.length; i++) {
    if (args[i] === undefined) continue;
    const n = i + 1;
    throw new TypeError(`${fn}() got argument ${n} after its options object`);
  }
  return options;
}

/**
 * Python's TypeError for a positional argument too many (or too few): at
 * index `at` of `args` only the options object (or `undefined` / `null`) may
 * come, and nothing after it. `poll(0, 5)` would otherwise drop the 5
 * without a word, as `recv(1, 0, new Uint8Array(4))` would drop the array:
 * the options object is an object literal. A length test when the count is
 * right: cheap enough for recv() and send().
 *
 * @param args The call's `arguments`.
 * @param at The index of the options argument.
 * @param message Python's message, given the number of arguments passed
 *   (one of {@linkcode parsedArity}, {@linkcode builtinArity},
 *   {@linkcode defArity}, made once, not per call).
 * @param min Python's required arguments: fewer is the TypeError too (an
 *   `undefined` given counts, as Python's None).
 * @throws {TypeError} Something else is there, or after it; or too few.
 *
 * @example
 * ```ts
 * import { optionsAt } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * function poll(_timeout?: number, _options?: object) {
 *   optionsAt(arguments, 1, (n) => `poll expected at most 1 argument, got ${n}`);
 * }
 * poll(0, {});
 * poll(0, undefined);
 * assert.throws(() => poll(0, 5 as never), TypeError);
 * assert.throws(() => poll(0, new Uint8Array(1)), TypeError);
 * ```
 */
export function optionsAt(
  args: IArguments,
  at: number,
  message: (given: number) => string,
  min = 0,
): void {
  if (args.length > at) beyond(args, at, true, message);
  else if (args.length < min) throw new TypeError(message(args.length));
}

/**
 * Python's TypeError for a call of a function that takes no options object
 * given more than `max` arguments, or fewer than `min`: `s.bind(addr, 1)`
 * would otherwise drop the 1 without a word. Trailing `undefined`s are not
 * counted past `max`, as {@linkcode optionsAt} does not count them.
 *
 * @param args The call's `arguments`.
 * @param min Python's required arguments.
 * @param max Python's positional arguments.
 * @param message Python's message, given the number of arguments passed.
 * @throws {TypeError} Too many, or too few.
 *
 * @example
 * ```ts
 * import { argumentCount, builtinArity } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * const BIND = builtinArity("socket.bind", 1);
 * function bind(_address: unknown) {
 *   argumentCount(arguments, 1, 1, BIND);
 * }
 * bind(["", 0]);
 * assert.throws(() => Reflect.apply(bind, null, [["", 0], 1]), {
 *   message: "socket.bind() takes exactly one argument (2 given)",
 * });
 * ```
 */
export function argumentCount(
  args: IArguments,
  min: number,
  max: number,
  message: (given: number) => string,
): void {
  if (args.length > max) beyond(args, max, false, message);
  else if (args.length < min) throw new TypeError(message(args.length));
}

function beyond(
  args: IArguments,
  at: number,
  options: boolean,
  message: (given: number) => string,
): void {
  // What an Array method hands its callback after a one-argument function's
  // argument (the index, and the array): `names.map(gethostbyname)`, where
  // Python's map() would hand the name alone.
  if (at === 1 && args.length === 3 && typeof args[1] === "number") {
    const array = args[2];
    if (
      (Array.isArray(array) || ArrayBuffer.isView(array)) &&
      (array as ArrayLike<unknown>)[args[1]] === args[0]
    ) return;
  }
  for (let i = args.length - 1; i >= at; i--) {
    const value = args[i];
    if (value === undefined) continue;
    if (options && i === at && (value === null || isPlainObject(value))) {
      return;
    }
    throw new TypeError(message(i + 1));
  }
}

/**
 * The message of a C function that parses its arguments as a tuple
 * (CPython's `PyArg_ParseTuple`: `recv()`, `getsockopt()`, `htons()`).
 *
 * @param fn The function's name.
 * @param min Its required arguments.
 * @param max Its positional arguments.
 * @returns The message for a count of arguments given.
 *
 * @example
 * ```ts
 * import { parsedArity } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * const recv = parsedArity("recv", 1, 2);
 * assert.equal(recv(3), "recv() takes at most 2 arguments (3 given)");
 * assert.equal(recv(0), "recv() takes at least 1 argument (0 given)");
 * ```
 */
export function parsedArity(
  fn: string,
  min: number,
  max: number,
): (given: number) => string {
  const count = (n: number) => `${n} argument${n === 1 ? "" : "s"}`;
  return (given) =>
    `${fn}() takes ${
      min === max
        ? `exactly ${count(max)}`
        : given > max
        ? `at most ${count(max)}`
        : `at least ${count(min)}`
    } (${given} given)`;
}

/**
 * The message of a C function that takes one argument or none
 * (`METH_O`, `METH_NOARGS`: `socket.bind()`, `socket.fileno()`).
 *
 * @param fn The function's qualified name (`socket.bind`, `_socket.close`).
 * @param n 1 or 0.
 * @returns The message for a count of arguments given.
 *
 * @example
 * ```ts
 * import { builtinArity } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   builtinArity("socket.fileno", 0)(1),
 *   "socket.fileno() takes no arguments (1 given)",
 * );
 * ```
 */
export function builtinArity(
  fn: string,
  n: 0 | 1,
): (given: number) => string {
  const takes = n === 0 ? "no arguments" : "exactly one argument";
  return (given) => `${fn}() takes ${takes} (${given} given)`;
}

/**
 * The message of a function written in Python (`socket.accept()`,
 * `create_connection()`) given too many positional arguments, or too few
 * (Python names the missing ones); a method's count includes `self`, as
 * Python's does.
 *
 * @param fn The function's qualified name.
 * @param min Its required positional arguments (without `self`).
 * @param max Its positional arguments (without `self`).
 * @param method Whether it is a method: `self` is counted.
 * @param names The names of its required arguments (`min` of them).
 * @returns The message for a count of arguments given (without `self`).
 *
 * @example
 * ```ts
 * import { defArity } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   defArity("socket.accept", 0, 0, true)(1),
 *   "socket.accept() takes 1 positional argument but 2 were given",
 * );
 * assert.equal(
 *   defArity("recv_fds", 3, 4, false, ["sock", "bufsize", "maxfds"])(1),
 *   "recv_fds() missing 2 required positional arguments: 'bufsize' and 'maxfds'",
 * );
 * ```
 */
export function defArity(
  fn: string,
  min: number,
  max: number,
  method = false,
  names: readonly string[] = [],
): (given: number) => string {
  const self = method ? 1 : 0;
  const lo = min + self, hi = max + self;
  const takes = lo === hi ? `${hi}` : `from ${lo} to ${hi}`;
  const s = lo === hi && hi === 1 ? "" : "s";
  return (given) => {
    if (given < min && names.length === min) {
      // CPython's list: 'a', 'a' and 'b', 'a', 'b', and 'c'.
      const missing = names.slice(given).map((name) => `'${name}'`);
      const last = missing.pop()!;
      const list = missing.length === 0
        ? last
        : `${missing.join(", ")}${missing.length > 1 ? "," : ""} and ${last}`;
      const k = min - given;
      return `${fn}() missing ${k} required positional argument${
        k === 1 ? "" : "s"
      }: ${list}`;
    }
    const n = given + self;
    return `${fn}() takes ${takes} positional argument${s} but ${n} ${
      n === 1 ? "was" : "were"
    } given`;
  };
}

/**
 * The Python type name for a JavaScript value, for `TypeError` messages that
 * read like Python's (`'float' object cannot be interpreted as an integer`).
 *
 * @param value Any value.
 * @returns `"NoneType"`, `"bool"`, `"int"`, `"float"`, `"str"`, `"bytes"`,
 *   `"list"`, `"dict"` or the constructor's name.
 *
 * @example
 * ```ts
 * import { pyTypeName } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(pyTypeName(1.5), "float");
 * assert.equal(pyTypeName(null), "NoneType");
 * ```
 */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return "NoneType";
  switch (typeof value) {
    case "boolean":
      return "bool";
    case "number":
      return Number.isInteger(value) ? "int" : "float";
    case "bigint":
      return "int";
    case "string":
      return "str";
    case "function":
      return "function";
  }
  if (Array.isArray(value)) return "list";
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return "bytes";
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return "dict";
  return (proto.constructor?.name as string | undefined) ?? "object";
}

/**
 * Check a C `int` argument as CPython's argument parser does (`"i"` format).
 *
 * @param value The argument.
 * @returns The value, an integer within C `int`.
 * @throws {TypeError} `value` is not an integer number.
 * @throws {OverflowError} `value` does not fit a C `int`.
 *
 * @example
 * ```ts
 * import { toCInt } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toCInt(10), 10);
 * assert.throws(() => toCInt(2 ** 31), RangeError);
 * ```
 */
export function toCInt(value: unknown): number {
  const n = toInt(value);
  if (n > INT_MAX || n < INT_MIN) {
    throw new OverflowError(
      n >= LONG_MAX || n < -LONG_MAX
        ? "Python int too large to convert to C long"
        : n > INT_MAX
        ? "signed integer is greater than maximum"
        : "signed integer is less than minimum",
    );
  }
  return n;
}

/**
 * A C `int` as CPython's `_PyLong_AsInt` takes it (the socket constructor's
 * family, type and proto; `shutdown(how)`): one message for both ends.
 *
 * @param value The argument.
 * @returns The value, within C `int`.
 * @throws {TypeError} Not an integer.
 * @throws {OverflowError} "Python int too large to convert to C int".
 *
 * @example
 * ```ts
 * import { asCInt } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => asCInt(2 ** 32 + 2), {
 *   message: "Python int too large to convert to C int",
 * });
 * ```
 */
export function asCInt(value: unknown): number {
  const n = toInt(value);
  if (n > INT_MAX || n < INT_MIN) {
    throw new OverflowError("Python int too large to convert to C int");
  }
  return n;
}

/**
 * A C `long` (or `ssize_t`) argument as CPython's `PyLong_AsLong` takes it:
 * past 64 bits, Python's OverflowError. A bigint is checked exactly.
 *
 * @param value The argument.
 * @param type The C type the message names.
 * @returns The integer.
 * @throws {TypeError} Not an integer.
 * @throws {OverflowError} "Python int too large to convert to C long".
 *
 * @example
 * ```ts
 * import { toCLong } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toCLong(2 ** 40), 2 ** 40);
 * assert.throws(() => toCLong(2n ** 63n, "ssize_t"), {
 *   message: "Python int too large to convert to C ssize_t",
 * });
 * ```
 */
export function toCLong(value: unknown, type = "long"): number {
  const n = toInt(value);
  if (
    typeof value === "bigint"
      ? value >= LONG_LIMIT || value < -LONG_LIMIT
      : n >= LONG_MAX || n < -LONG_MAX
  ) {
    throw new OverflowError(`Python int too large to convert to C ${type}`);
  }
  return n;
}

const LONG_LIMIT = 2n ** 63n;

/**
 * A descriptor argument of a module function (`close(fd)`, `fromfd`,
 * `dup`): past C `int` it cannot be open, so the answer is the kernel's
 * `[Errno 9]`, as CPython's.
 *
 * @param value The argument.
 * @returns The descriptor number, within C `int`.
 * @throws {TypeError} Not an integer.
 * @throws {OSError} `[Errno 9]` out of range.
 *
 * @example
 * ```ts
 * import { toFd } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toFd(3), 3);
 * assert.throws(() => toFd(2 ** 31), { name: "OSError" });
 * ```
 */
export function toFd(value: unknown): number {
  const n = toCLong(value);
  if (n > INT_MAX || n < INT_MIN) throw new OSError(E.EBADF);
  return n;
}

/**
 * View a bytes-like value as bytes, without copying.
 *
 * @param value The value.
 * @returns A `Uint8Array` over the same memory, of the length it has now
 *   (one that tracks a resizable buffer's length does not), or `null` if
 *   `value` is not bytes-like.
 * @throws {ValueError} A detached buffer, or a view of one (as Python's
 *   released memoryview): it holds no memory to read or write.
 *
 * @example
 * ```ts
 * import { bytesView } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(bytesView(new Uint16Array(2))?.length, 4);
 * assert.equal(bytesView("abc"), null);
 * const moved = new ArrayBuffer(4);
 * moved.transfer();
 * assert.throws(() => bytesView(moved), { name: "ValueError" });
 * ```
 */
export function bytesView(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) {
    const buffer = value.buffer;
    // A detached view reads as empty: only an empty one needs the look.
    if (value.byteLength === 0) notDetached(buffer);
    // A view may track a resizable buffer's length: its bytes are fixed at
    // what it holds now, as Python's buffer protocol fixes them for the
    // call, so that a buffer grown while a call waits adds nothing to it.
    return resizes(buffer) ? value.subarray(0, value.length) : value;
  }
  if (ArrayBuffer.isView(value)) {
    // A detached DataView throws on byteLength: the buffer is looked at.
    notDetached(value.buffer);
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) {
    notDetached(value);
    return new Uint8Array(value, 0, value.byteLength);
  }
  if (
    typeof SharedArrayBuffer === "function" &&
    value instanceof SharedArrayBuffer
  ) {
    return new Uint8Array(value, 0, value.byteLength);
  }
  return null;
}

// Whether `buffer` can change length (a resizable ArrayBuffer, a growable
// SharedArrayBuffer).
function resizes(buffer: ArrayBufferLike): boolean {
  return (buffer as ArrayBuffer).resizable === true ||
    (buffer as { growable?: boolean }).growable === true;
}

function notDetached(buffer: ArrayBufferLike): void {
  if ((buffer as ArrayBuffer).detached === true) {
    throw new ValueError("operation forbidden on a detached ArrayBuffer");
  }
}

/**
 * Python's "argument N must be X, not Y" name for a value: `None` for
 * `null`, else its type name.
 *
 * @param value Any value.
 * @returns `"None"` or {@linkcode pyTypeName}'s answer.
 *
 * @example
 * ```ts
 * import { pyArgName } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(pyArgName(null), "None");
 * assert.equal(pyArgName(1), "int");
 * ```
 */
export function pyArgName(value: unknown): string {
  return value === null || value === undefined ? "None" : pyTypeName(value);
}

/**
 * An integer argument as Python's `__index__` takes it: a number with no
 * fraction, a bigint or a boolean.
 *
 * @param value The argument.
 * @returns The integer.
 * @throws {TypeError} Anything else.
 *
 * @example
 * ```ts
 * import { toInt } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toInt(3n), 3);
 * assert.throws(() => toInt(1.5), TypeError);
 * ```
 */
export function toInt(value: unknown): number {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return value;
  } else if (typeof value === "bigint") {
    return Number(value);
  } else if (typeof value === "boolean") {
    return value ? 1 : 0;
  }
  throw new TypeError(
    `'${pyTypeName(value)}' object cannot be interpreted as an integer`,
  );
}

/**
 * Python's `int(text)` of a string, base 10: surrounding whitespace, a
 * sign, digits with single underscores between them.
 *
 * @param text The string.
 * @returns The number, or `undefined` where Python raises ValueError.
 *
 * @example
 * ```ts
 * import { intFromText } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(intFromText(" -0_7\n"), -7);
 * assert.equal(intFromText("1__0"), undefined);
 * assert.equal(intFromText("0x10"), undefined);
 * ```
 */
export function intFromText(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+-]?[0-9]+(?:_[0-9]+)*$/.test(t)) return undefined;
  return Number(t.replaceAll("_", ""));
}

/**
 * Python's "n" (Py_ssize_t) argument conversion.
 *
 * @param value The argument.
 * @returns It as a number.
 * @throws {TypeError} Not an integer.
 * @throws {OverflowError} Out of Py_ssize_t's range.
 *
 * @example
 * ```ts
 * import { ssize } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ssize(-1), -1);
 * assert.throws(() => ssize("1"), TypeError);
 * ```
 */
export function ssize(value: unknown): number {
  return toCLong(value, "ssize_t");
}

/**
 * A C `unsigned int` as CPython's `I` format takes it: any integer, its low
 * 32 bits, with no overflow check (`-1` is `0xffffffff`, `2 ** 32` is 0).
 *
 * @param value The argument.
 * @returns The value, within 0 to 2 ** 32 - 1.
 * @throws {TypeError} Not an integer.
 *
 * @example
 * ```ts
 * import { toUIntMask } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toUIntMask(-1), 0xffffffff);
 * assert.equal(toUIntMask(2n ** 32n + 5n), 5);
 * ```
 */
export function toUIntMask(value: unknown): number {
  const n = typeof value === "bigint" ? value : BigInt(toInt(value));
  return Number(BigInt.asUintN(32, n));
}

/**
 * A bytes-like argument as bytes, without copying; anything else is
 * Python's `a bytes-like object is required, not 'str'`.
 *
 * @param value The argument.
 * @returns A `Uint8Array` over the same memory.
 * @throws {TypeError} `value` is not bytes-like.
 *
 * @example
 * ```ts
 * import { requireBytes } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(requireBytes(new ArrayBuffer(3)).length, 3);
 * ```
 */
export function requireBytes(value: unknown): Uint8Array {
  const bytes = bytesView(value);
  if (bytes === null) {
    throw new TypeError(
      `a bytes-like object is required, not '${pyTypeName(value)}'`,
    );
  }
  return bytes;
}

/**
 * CPython's OverflowError for a timeout past its clock's range (int64
 * nanoseconds): an int's message, or a float's. A number with no fraction
 * is the int (JavaScript cannot tell `1e10` from `10 ** 10`), as
 * {@linkcode toInt} takes it.
 *
 * @param value The timeout, out of range.
 * @returns The error to throw.
 *
 * @example
 * ```ts
 * import { timestampRange } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   timestampRange(2 ** 53).message,
 *   "timestamp too large to convert to C _PyTime_t",
 * );
 * assert.equal(
 *   timestampRange(Infinity).message,
 *   "timestamp out of range for platform time_t",
 * );
 * ```
 */
export function timestampRange(value: number): OverflowError {
  return new OverflowError(
    Number.isInteger(value)
      ? "timestamp too large to convert to C _PyTime_t"
      : "timestamp out of range for platform time_t",
  );
}

// CPython keeps timeouts as int64 nanoseconds and converts through time_t.
const MAX_TIMEOUT = 9223372036.854775;

/**
 * A socket timeout as `settimeout()` takes it: seconds as a number (a bool
 * counts as an int), or `null`/`undefined` for none; CPython's errors.
 *
 * @param value The argument.
 * @returns The seconds, or `null`.
 * @throws {TypeError} Not a number.
 * @throws {ValueError} Negative or NaN.
 * @throws {OverflowError} Past what CPython's clock holds.
 *
 * @example
 * ```ts
 * import { toTimeout } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toTimeout(1.5), 1.5);
 * assert.throws(() => toTimeout(-1), RangeError);
 * ```
 */
export function toTimeout(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  let t: number;
  if (typeof value === "number") t = value;
  else if (typeof value === "boolean") t = value ? 1 : 0;
  else if (typeof value === "bigint") t = Number(value);
  else {
    throw new TypeError(
      `'${pyTypeName(value)}' object cannot be interpreted as an integer`,
    );
  }
  if (Number.isNaN(t)) throw new ValueError("Invalid value NaN (not a number)");
  // The clock's range first, then the sign: settimeout(-inf) overflows.
  if (Math.abs(t) > MAX_TIMEOUT) throw timestampRange(t);
  if (t < 0) throw new ValueError("Timeout value out of range");
  // Held in nanoseconds, rounded up, as CPython's _PyTime_t: settimeout(
  // 0.1 + 0.2) reads back 0.300000001, and settimeout(-0.0) 0.0 (an integer
  // count has no sign; + 0 turns -0 into 0).
  return Math.ceil(t * 1e9) / 1e9 + 0;
}

/**
 * A str argument that CPython encodes to UTF-8 (`PyUnicode_AsUTF8`): a lone
 * surrogate is `UnicodeEncodeError` ("surrogates not allowed").
 *
 * @param text The argument.
 * @returns `text`.
 * @throws {UnicodeEncodeError} A lone surrogate.
 *
 * @example
 * ```ts
 * import { utf8Arg } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => utf8Arg("\udc80"), { name: "UnicodeEncodeError" });
 * ```
 */
export function utf8Arg(text: string): string {
  if (!text.isWellFormed()) utf8Encode(text, "strict");
  return text;
}

/**
 * A str argument as CPython's "s" format reads it: it must encode to UTF-8
 * (a lone surrogate is `UnicodeEncodeError`), then hold no NUL.
 *
 * @param text The argument.
 * @returns `text`.
 * @throws {UnicodeEncodeError} A lone surrogate ("surrogates not allowed").
 * @throws {ValueError} `embedded null character`.
 *
 * @example
 * ```ts
 * import { cStringArg } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => cStringArg("a\ud800"), { name: "UnicodeEncodeError" });
 * assert.throws(() => cStringArg("a\0"), { name: "ValueError" });
 * ```
 */
export function cStringArg(text: string): string {
  utf8Arg(text);
  if (text.includes("\0")) throw new ValueError("embedded null character");
  return text;
}

/**
 * Python's `os.fsencode`: UTF-8, with the lone surrogates U+DC80..U+DCFF
 * that `fsDecode` makes of undecodable bytes turned back into those bytes
 * (the "surrogateescape" error handler).
 *
 * @param path A path as a string.
 * @returns Its bytes.
 * @throws {UnicodeEncodeError} Another lone surrogate ("surrogates not
 *   allowed"), as Python's: the error names the run of lone surrogates from
 *   it, by code point positions.
 *
 * @example
 * ```ts
 * import { fsEncode } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(fsEncode("s\udcff"), new Uint8Array([0x73, 0xff]));
 * ```
 */
export function fsEncode(path: string): Uint8Array {
  return utf8Encode(path, "surrogateescape");
}

/**
 * Python's `os.fsdecode`: UTF-8, each byte that does not decode becoming
 * the lone surrogate U+DC00 + byte ("surrogateescape"), so that no name is
 * lost and {@linkcode fsEncode} gives the same bytes back.
 *
 * @param bytes A path's bytes.
 * @returns The path as a string.
 *
 * @example
 * ```ts
 * import { fsDecode } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fsDecode(new Uint8Array([0x73, 0xff])), "s\udcff");
 * ```
 */
export function fsDecode(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return strictDecoder.decode(bytes);
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const n = utf8Length(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + bytes[i]);
      i++;
    } else {
      out += strictDecoder.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

/**
 * Whether `bytes` are valid UTF-8 (no byte would need surrogateescape).
 *
 * @param bytes Any bytes.
 * @returns `true` for valid UTF-8.
 *
 * @example
 * ```ts
 * import { isUtf8 } from "./_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isUtf8(new Uint8Array([0xff])), false);
 * ```
 */
export function isUtf8(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length;) {
    const n = utf8Length(bytes, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

// The length of the valid UTF-8 sequence at `i`, or 0 (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF).
function utf8Length(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1];
    if (c === 0xe0 && c1 < 0xa0) return 0;
    if (c === 0xed && c1 >= 0xa0) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1];
    if (c === 0xf0 && c1 < 0x90) return 0;
    if (c === 0xf4 && c1 >= 0x90) return 0;
    return 4;
  }
  return 0;
}

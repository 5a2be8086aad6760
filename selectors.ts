/**
 * Python's `selectors` module: register sockets with the events wanted and
 * optional data, then wait for them together. A port of CPython 3.11's
 * `Lib/selectors.py`, with the same classes, errors and messages; `select()`
 * returns a Promise and takes an optional last `{ signal }`.
 *
 * `DefaultSelector` is `EpollSelector`. Sockets of both backends mix in one
 * selector.
 *
 * @example The echo server of Python's selectors documentation
 * ```ts
 * import * as socket from "./mod.ts";
 * import * as selectors from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * type Callback = (sock: socket.Socket, mask: number) => Promise<void>;
 * using sel = new selectors.DefaultSelector<Callback, socket.Socket>();
 *
 * async function accept(sock: socket.Socket, _mask: number) {
 *   const [conn] = await sock.accept();
 *   conn.setblocking(false);
 *   sel.register(conn, selectors.EVENT_READ, read);
 * }
 * async function read(conn: socket.Socket, _mask: number) {
 *   const data = await conn.recv(1000);
 *   if (data.length) await conn.send(data);
 *   else {
 *     sel.unregister(conn);
 *     conn.close();
 *   }
 * }
 *
 * using sock = socket.socket();
 * sock.bind(["127.0.0.1", 0]);
 * sock.listen(100);
 * sock.setblocking(false);
 * sel.register(sock, selectors.EVENT_READ, accept);
 *
 * let done = false;
 * const client = (async () => {
 *   using c = socket.socket();
 *   await c.connect(sock.getsockname());
 *   await c.sendall(new TextEncoder().encode("hello"));
 *   const reply = await c.recv(5);
 *   done = true;
 *   return reply;
 * })();
 * while (!done) {
 *   for (const [key, mask] of await sel.select(0.05)) {
 *     await key.data(key.fileobj, mask);
 *   }
 * }
 * assert.equal(new TextDecoder().decode(await client), "hello");
 * for (const key of [...sel.get_map()!.values()]) {
 *   if (key.fileobj !== sock) key.fileobj.close();
 * }
 * ```
 *
 * @module
 */
import {
  KeyError,
  OSError,
  OverflowError,
  RuntimeError,
  ValueError,
} from "./errors.ts";
import {
  intFromText,
  isOptionsArg,
  optionsAt,
  pyTypeName,
  throwIfAborted,
} from "./_args.ts";
import { type FileDescriptorLike, stdioFd } from "./_readiness.ts";
import {
  Epoll,
  EPOLLIN,
  EPOLLOUT,
  Poll,
  POLLIN,
  POLLOUT,
  select,
  type SelectOptions,
} from "./select.ts";

export type { FileDescriptorLike } from "./_readiness.ts";
export type { SelectOptions } from "./select.ts";

/** Wait until the file object can be read (or has hung up, or errored). */
export const EVENT_READ = 1 << 0;
/** Wait until the file object can be written. */
export const EVENT_WRITE = 1 << 1;

/** Python's `repr()` of a file object or data, for messages. */
function repr(value: unknown): string {
  if (value === undefined) return "None";
  if (typeof value === "function") {
    return `<function ${value.name || "<anonymous>"}>`;
  }
  if (
    typeof value === "object" && value !== null &&
    value.toString === Object.prototype.toString
  ) {
    return `<${value.constructor?.name ?? "object"} object>`;
  }
  // KeyError's message is the key's repr (quoted, escaped strings; None,
  // True, False); a Socket's toString() is its Python repr.
  return new KeyError(value).message;
}

/**
 * Python's `events & EVENT_READ` on what is not an integer: a TypeError.
 *
 * @param events The events as given (for the message).
 * @param ev The events as a number.
 */
function checkBits(events: unknown, ev: unknown): void {
  if (typeof ev !== "number" || !Number.isInteger(ev)) {
    throw new TypeError(
      `unsupported operand type(s) for &: '${pyTypeName(events)}' and 'int'`,
    );
  }
}

/**
 * Python's `selectors._fileobj_to_fd`: the descriptor of a number or of an
 * object with `fileno()` (`Deno.stdin` and friends: 0, 1, 2).
 */
function fileobjToFd(fileobj: unknown): number {
  const stdio = stdioFd(fileobj);
  if (stdio !== undefined) return stdio;
  let fd: unknown;
  if (typeof fileobj === "number" && Number.isInteger(fileobj)) fd = fileobj;
  else if (typeof fileobj === "bigint") fd = Number(fileobj);
  else if (typeof fileobj === "boolean") fd = fileobj ? 1 : 0;
  else {
    try {
      fd = (fileobj as { fileno(): unknown }).fileno();
    } catch (e) {
      if (e instanceof TypeError || e instanceof ValueError) fd = undefined;
      else throw e;
    }
    // int(fileobj.fileno()): an integer (True is 1), a float truncated, or
    // a string of digits; int() of an infinity is an OverflowError, which
    // Python lets through.
    if (typeof fd === "bigint") fd = Number(fd);
    else if (typeof fd === "string") fd = intFromText(fd);
    else if (typeof fd === "boolean") fd = fd ? 1 : 0;
    else if (fd === Infinity || fd === -Infinity) {
      throw new OverflowError("cannot convert float infinity to integer");
    } else if (typeof fd === "number" && Number.isFinite(fd)) {
      fd = Math.trunc(fd);
    } else fd = undefined;
    if (fd === undefined) {
      throw new ValueError(`Invalid file object: ${repr(fileobj)}`);
    }
  }
  const n = fd as number;
  if (n < 0) throw new ValueError(`Invalid file descriptor: ${n}`);
  return n;
}

/**
 * A registration: Python's `SelectorKey` named tuple of the file object, its
 * descriptor, the events waited for and the data attached. Immutable;
 * `modify()` makes a new key when anything changes.
 *
 * @typeParam T The attached data.
 * @typeParam F The file object: a `Socket`, an object with `fileno()`, or a
 *   number.
 *
 * @example
 * ```ts
 * import { EVENT_READ, SelectorKey } from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * const key = new SelectorKey(5, 5, EVENT_READ, "data");
 * assert.equal(key.data, "data");
 * assert.equal(String(key), "SelectorKey(fileobj=5, fd=5, events=1, data='data')");
 * ```
 */
export class SelectorKey<
  T = unknown,
  F extends FileDescriptorLike = FileDescriptorLike,
> {
  /** The file object registered. */
  readonly fileobj: F;
  /** Its descriptor. */
  readonly fd: number;
  /** The events waited for: `EVENT_READ`, `EVENT_WRITE` or both. */
  readonly events: number;
  /** The data attached (`null` when none was given). */
  readonly data: T;

  /**
   * Make a key (selectors make them; you rarely need to).
   *
   * @param fileobj The file object.
   * @param fd Its descriptor.
   * @param events The events waited for.
   * @param data The data attached.
   */
  constructor(fileobj: F, fd: number, events: number, data: T) {
    this.fileobj = fileobj;
    this.fd = fd;
    this.events = events;
    this.data = data;
    Object.freeze(this);
  }

  /**
   * A copy with some fields replaced: the named tuple's `_replace()`.
   *
   * @param fields The fields to change.
   * @returns The new key.
   *
   * @example
   * ```ts
   * import { SelectorKey } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * const key = new SelectorKey(5, 5, 1, null);
   * assert.equal(key._replace({ data: "x" }).data, "x");
   * ```
   */
  _replace<U = T>(
    fields: { events?: number; data?: U },
  ): SelectorKey<U, F> {
    return new SelectorKey(
      this.fileobj,
      this.fd,
      fields.events ?? this.events,
      ("data" in fields ? fields.data : this.data) as U,
    );
  }

  /**
   * Python's repr of the key.
   *
   * @returns `SelectorKey(fileobj=..., fd=3, events=1, data=None)`.
   */
  toString(): string {
    return `SelectorKey(fileobj=${
      repr(this.fileobj)
    }, fd=${this.fd}, events=${this.events}, data=${repr(this.data)})`;
  }
}

/**
 * What `get_map()` returns: the selector's registrations keyed by
 * descriptor, a live read-only view. As with Python's mapping, `get()` and
 * `has()` also take the file object, and raise `ValueError` for one that
 * is neither registered nor valid (a closed socket, a negative number).
 *
 * @typeParam D The data attached to registrations.
 * @typeParam F The file objects registered.
 *
 * @example
 * ```ts
 * import { EVENT_READ, SelectSelector } from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * using sel = new SelectSelector();
 * const key = sel.register({ fileno: () => 0 }, EVENT_READ);
 * const map = sel.get_map()!;
 * assert.equal(map.get(0), key);
 * assert.equal(map.get(key.fileobj), key);
 * ```
 */
export interface SelectorMapping<
  D = unknown,
  F extends FileDescriptorLike = FileDescriptorLike,
> extends ReadonlyMap<number, SelectorKey<D, F>> {
  /**
   * The key of a file object or descriptor number.
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns The key, or `undefined` when not registered.
   * @throws {ValueError} "Invalid file descriptor: -1" and the like: not
   *   registered, and no valid descriptor.
   */
  get(fileobj: FileDescriptorLike): SelectorKey<D, F> | undefined;
  /**
   * Whether a file object or descriptor number is registered.
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns Whether it is.
   * @throws {ValueError} Not registered, and no valid descriptor.
   */
  has(fileobj: FileDescriptorLike): boolean;
}

/** The {@linkcode SelectorMapping} over a selector's {@linkcode KeyTable}. */
class Mapping<D, F extends FileDescriptorLike>
  implements SelectorMapping<D, F> {
  readonly #table: KeyTable<D, F>;

  constructor(table: KeyTable<D, F>) {
    this.#table = table;
  }

  get size(): number {
    return this.#table.fdToKey.size;
  }

  get(fileobj: FileDescriptorLike): SelectorKey<D, F> | undefined {
    return this.#table.fdToKey.get(this.#table.lookup(fileobj));
  }

  has(fileobj: FileDescriptorLike): boolean {
    return this.get(fileobj) !== undefined;
  }

  forEach(
    callback: (
      value: SelectorKey<D, F>,
      key: number,
      map: ReadonlyMap<number, SelectorKey<D, F>>,
    ) => void,
    thisArg?: unknown,
  ): void {
    for (const [fd, key] of this.#table.fdToKey) {
      callback.call(thisArg, key, fd, this);
    }
  }

  keys(): MapIterator<number> {
    return this.#table.fdToKey.keys();
  }

  values(): MapIterator<SelectorKey<D, F>> {
    return this.#table.fdToKey.values();
  }

  entries(): MapIterator<[number, SelectorKey<D, F>]> {
    return this.#table.fdToKey.entries();
  }

  [Symbol.iterator](): MapIterator<[number, SelectorKey<D, F>]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "SelectorMapping";
  }
}

/** Python's `_BaseSelectorImpl` bookkeeping: descriptors to keys. */
// Events as Python's ints take them: a bool or a bigint is its number
// (JavaScript's & refuses to mix a bigint); anything else as it is.
function pyInt(events: number): number {
  return typeof events === "boolean" || typeof events === "bigint"
    ? Number(events)
    : events;
}

class KeyTable<D, F extends FileDescriptorLike> {
  readonly fdToKey = new Map<number, SelectorKey<D, F>>();
  map: SelectorMapping<D, F> | null = new Mapping(this);

  /**
   * `_fileobj_lookup`: the descriptor, or for a file object that no longer
   * has one (a closed socket), the one it was registered with.
   */
  lookup(fileobj: unknown): number {
    try {
      return fileobjToFd(fileobj);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      for (const key of this.fdToKey.values()) {
        if (key.fileobj === fileobj) return key.fd;
      }
      throw e;
    }
  }

  register<T extends D>(
    fileobj: F,
    events: number,
    data: T | null | undefined,
  ): SelectorKey<T, F> {
    const ev = pyInt(events);
    // Python's `not events or events & ~3`: NaN is truthy there, and the
    // test holds for integers past 32 bits (JavaScript's & would cut them).
    if (!ev && !Number.isNaN(ev)) {
      throw new ValueError(`Invalid events: ${repr(events)}`);
    }
    checkBits(events, ev);
    if (ev < 0 || ev > (EVENT_READ | EVENT_WRITE)) {
      throw new ValueError(`Invalid events: ${repr(events)}`);
    }
    const key = new SelectorKey<T, F>(
      fileobj,
      this.lookup(fileobj),
      ev,
      (data === undefined ? null : data) as T,
    );
    if (this.fdToKey.has(key.fd)) {
      throw new KeyError(
        `${repr(fileobj)} (FD ${key.fd}) is already registered`,
      );
    }
    this.fdToKey.set(key.fd, key);
    return key;
  }

  unregister(fileobj: unknown): SelectorKey<D, F> {
    const fd = this.lookup(fileobj);
    const key = this.fdToKey.get(fd);
    if (key === undefined) {
      throw new KeyError(`${repr(fileobj)} is not registered`);
    }
    this.fdToKey.delete(fd);
    return key;
  }

  /** The key of a registered file object, for modify(). */
  registered(fileobj: unknown): SelectorKey<D, F> {
    const key = this.fdToKey.get(this.lookup(fileobj));
    if (key === undefined) {
      throw new KeyError(`${repr(fileobj)} is not registered`);
    }
    return key;
  }

  getKey(fileobj: unknown): SelectorKey<D, F> {
    if (this.map === null) throw new RuntimeError("Selector is closed");
    return this.registered(fileobj);
  }

  close(): void {
    this.fdToKey.clear();
    this.map = null;
  }
}

/**
 * A `timeout` argument of select(): a number of seconds (a bool is an int,
 * as in Python) or null. Anything else fails where CPython's selector first
 * compares it: `timeout <= 0`, or `max(timeout, 0)` in SelectSelector.
 */
function checkTimeout(timeout: unknown, viaMax = false): number | null {
  if (timeout === null || timeout === undefined) return null;
  if (typeof timeout === "boolean") return Number(timeout);
  if (typeof timeout !== "number") {
    const type = pyTypeName(timeout);
    throw new TypeError(
      viaMax
        ? `'>' not supported between instances of 'int' and '${type}'`
        : `'<=' not supported between instances of '${type}' and 'int'`,
    );
  }
  return timeout;
}

/**
 * Python's `math.ceil(timeout * 1e3)` in the poll-like selectors, with its
 * errors for what is not finite.
 *
 * @param timeout Seconds, above 0.
 * @returns Whole milliseconds, rounded up.
 */
function ceilMs(timeout: number): number {
  if (Number.isNaN(timeout)) {
    throw new ValueError("cannot convert float NaN to integer");
  }
  if (timeout === Infinity) {
    throw new OverflowError("cannot convert float infinity to integer");
  }
  return Math.ceil(timeout * 1e3);
}

/**
 * The interface every selector has: Python's `selectors.BaseSelector`.
 * Subclass it to write a selector of your own; `modify()`, `get_key()` and
 * `close()` have working defaults.
 *
 * @typeParam D The data attached to registrations. Registering without data
 *   attaches `null`, so include `null` in `D` if you do.
 * @typeParam F The file objects registered (`Socket`, say).
 *
 * @example
 * ```ts
 * import { BaseSelector, DefaultSelector } from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * using sel = new DefaultSelector();
 * assert.ok(sel instanceof BaseSelector);
 * ```
 */
export abstract class BaseSelector<
  D = unknown,
  F extends FileDescriptorLike = FileDescriptorLike,
> implements Disposable {
  /**
   * Register a file object for events.
   *
   * @param fileobj A `Socket`, an object with `fileno()`, or a descriptor
   *   number.
   * @param events `EVENT_READ`, `EVENT_WRITE`, or both OR-ed.
   * @param data Anything to attach to the key (`null` when omitted).
   * @returns The new key.
   * @throws {ValueError} `events` is not 1, 2 or 3 ("Invalid events: N");
   *   `fileobj` has no descriptor ("Invalid file object: ...").
   * @throws {KeyError} The descriptor is registered already.
   * @throws {OSError} What the underlying system refuses (a closed socket
   *   in an epoll).
   */
  abstract register<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F>;

  /**
   * Unregister a file object (even one closed since it was registered).
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns The key it had.
   * @throws {KeyError} Not registered ("... is not registered").
   */
  abstract unregister(fileobj: FileDescriptorLike): SelectorKey<D, F>;

  /**
   * Change the events or data of a registered file object.
   *
   * @param fileobj The file object, or its descriptor number.
   * @param events The new events.
   * @param data The new data (`null` when omitted, as in Python).
   * @returns The key now registered: the same key when nothing changed.
   * @throws {KeyError} Not registered.
   * @throws {ValueError} As {@linkcode BaseSelector.register}.
   */
  modify<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F> {
    this.unregister(fileobj);
    return this.register(fileobj, events, data);
  }

  /**
   * Wait until some registered file object is ready, or the timeout
   * passes.
   *
   * @param timeout Seconds; `null` (the default) waits; `0` or less only
   *   polls.
   * @param options `signal` aborts the wait; it may come in place of
   *   `timeout` (`select({ signal })`), which then waits.
   * @returns `[key, events]` for each ready file object, `events` being
   *   `EVENT_READ` / `EVENT_WRITE` bits within `key.events`; empty when the
   *   time ran out.
   */
  abstract select(
    timeout?: number | null | SelectOptions,
    options?: SelectOptions,
  ): Promise<[SelectorKey<D, F>, number][]>;

  /**
   * Close the selector and free what it holds. Registrations are
   * forgotten; `get_key()` then raises `RuntimeError`, `get_map()` is
   * `null`.
   */
  close(): void {}

  /**
   * The key of a registered file object.
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns Its key.
   * @throws {KeyError} Not registered ("... is not registered").
   * @throws {RuntimeError} The selector is closed ("Selector is closed").
   */
  get_key(fileobj: FileDescriptorLike): SelectorKey<D, F> {
    const mapping = this.get_map();
    if (mapping === null) throw new RuntimeError("Selector is closed");
    const key = mapping.get(fileobj);
    if (key === undefined) {
      throw new KeyError(`${repr(fileobj)} is not registered`);
    }
    return key;
  }

  /**
   * The registrations, keyed by descriptor (`get()` and `has()` also take
   * the file object); a live view.
   *
   * @returns The mapping, or `null` once the selector is closed.
   */
  abstract get_map(): SelectorMapping<D, F> | null;

  /** Close at the end of a `using` block (Python's `with`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

// A selector's select() given a positional argument past its timeout:
// Python's TypeError (counting `self`, and naming the class that defines
// select(), as Python's message does).
function tooManyArgs(args: IArguments, cls: string): void {
  optionsAt(
    args,
    1,
    (n) =>
      `${cls}.select() takes from 1 to 2 positional arguments but ${
        n + 1
      } were given`,
  );
}

// The reason a selector's close() gives the select() calls it ends.
const SELECTOR_CLOSED = Symbol("selector closed");

// `wait` (a selector's select()) with the selector's own `closing` signal
// added to `options`, so that close() ends a wait (null), as closing an
// EpollSelector's epoll does. A select() after close() waits as CPython's
// does: on what was registered before.
async function untilClosed<T>(
  closing: AbortSignal,
  options: SelectOptions,
  wait: (options: SelectOptions) => Promise<T>,
): Promise<T | null> {
  const signal = options?.signal ?? undefined;
  throwIfAborted(signal);
  if (closing.aborted) return await wait({ signal });
  try {
    return await wait({
      signal: signal === undefined
        ? closing
        : AbortSignal.any([signal, closing]),
    });
  } catch (e) {
    if (e === SELECTOR_CLOSED) return null;
    throw e;
  }
}

/**
 * A selector on {@linkcode select}: Python's `selectors.SelectSelector`.
 *
 * @typeParam D The data attached to registrations.
 * @typeParam F The file objects registered.
 *
 * @example
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import { EVENT_READ, EVENT_WRITE, SelectSelector } from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * using sel = new SelectSelector();
 * const key = sel.register(a, EVENT_READ | EVENT_WRITE, "a");
 * assert.deepEqual(await sel.select(5), [[key, EVENT_WRITE]]);
 * ```
 */
export class SelectSelector<
  D = unknown,
  F extends FileDescriptorLike = FileDescriptorLike,
> extends BaseSelector<D, F> {
  readonly #table = new KeyTable<D, F>();
  readonly #readers = new Set<number>();
  readonly #writers = new Set<number>();
  readonly #closing = new AbortController();

  /**
   * Register a file object for events.
   *
   * @param fileobj A `Socket`, an object with `fileno()`, or a descriptor
   *   number.
   * @param events `EVENT_READ`, `EVENT_WRITE`, or both OR-ed.
   * @param data Anything to attach to the key (`null` when omitted).
   * @returns The new key.
   * @throws {ValueError} "Invalid events: N"; "Invalid file object: ...";
   *   "Invalid file descriptor: -1".
   * @throws {KeyError} "... (FD N) is already registered".
   *
   * @example
   * ```ts
   * import { KeyError } from "./errors.ts";
   * import { EVENT_READ, SelectSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new SelectSelector();
   * sel.register(0, EVENT_READ);
   * assert.throws(() => sel.register(0, EVENT_READ), KeyError);
   * ```
   */
  register<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F> {
    const key = this.#table.register(fileobj, events, data);
    if (key.events & EVENT_READ) this.#readers.add(key.fd);
    if (key.events & EVENT_WRITE) this.#writers.add(key.fd);
    return key;
  }

  /**
   * Unregister a file object (even one closed since it was registered).
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns The key it had.
   * @throws {KeyError} "... is not registered".
   *
   * @example
   * ```ts
   * import { KeyError } from "./errors.ts";
   * import { SelectSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new SelectSelector();
   * assert.throws(() => sel.unregister(0), KeyError);
   * ```
   */
  unregister(fileobj: FileDescriptorLike): SelectorKey<D, F> {
    const key = this.#table.unregister(fileobj);
    this.#readers.delete(key.fd);
    this.#writers.delete(key.fd);
    return key;
  }

  /**
   * Change the events or data of a registered file object. New events
   * re-register it (so invalid events leave it unregistered, as in
   * CPython); new data alone makes a new key; nothing new returns the same
   * key.
   *
   * @param fileobj The file object, or its descriptor number.
   * @param events The new events.
   * @param data The new data (`null` when omitted, as in Python).
   * @returns The key now registered.
   * @throws {KeyError} "... is not registered".
   * @throws {ValueError} "Invalid events: N".
   *
   * @example
   * ```ts
   * import { EVENT_READ, SelectSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new SelectSelector();
   * const key = sel.register(0, EVENT_READ, "a");
   * assert.equal(sel.modify(0, EVENT_READ, "a"), key);
   * assert.equal(sel.modify(0, EVENT_READ, "b").data, "b");
   * ```
   */
  override modify<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F> {
    const key = this.#table.registered(fileobj);
    const value = data === undefined ? null : data;
    if (events !== key.events) {
      this.unregister(fileobj);
      return this.register(fileobj, events, data);
    }
    if (value !== key.data) {
      const replaced = key._replace({ data: value as T });
      this.#table.fdToKey.set(key.fd, replaced);
      return replaced;
    }
    return key as SelectorKey<unknown, F> as SelectorKey<T, F>;
  }

  /**
   * Wait until some registered file object is ready.
   *
   * @param timeout Seconds; `null` (the default) waits; `0` or less only
   *   polls.
   * @param options `signal` aborts the wait; it may come in place of
   *   `timeout` (`select({ signal })`), which then waits.
   * @returns `[key, events]` for each ready file object; empty when the
   *   time ran out.
   * @throws {OSError} `[Errno 9]`: a registered descriptor was closed before
   *   the call, as select(2) says.
   *
   * @example
   * ```ts
   * import { SelectSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new SelectSelector();
   * assert.deepEqual(await sel.select(0), []);
   * ```
   */
  async select(
    timeout: number | null | SelectOptions = null,
    options: SelectOptions = {},
  ): Promise<[SelectorKey<D, F>, number][]> {
    if (isOptionsArg(timeout, arguments, "select")) {
      [timeout, options] = [null, timeout];
    } else tooManyArgs(arguments, "SelectSelector");
    const t = checkTimeout(timeout, true);
    const got = await untilClosed(
      this.#closing.signal,
      options,
      (o) =>
        select(
          this.#readers,
          this.#writers,
          [],
          t === null ? null : Math.max(t, 0),
          o,
        ),
    );
    if (got === null) return [];
    const [r, w] = got;
    const readable = new Set(r), writable = new Set(w);
    const ready: [SelectorKey<D, F>, number][] = [];
    for (const fd of new Set([...r, ...w])) {
      const events = (readable.has(fd) ? EVENT_READ : 0) |
        (writable.has(fd) ? EVENT_WRITE : 0);
      const key = this.#table.fdToKey.get(fd);
      if (key) ready.push([key, events & key.events]);
    }
    return ready;
  }

  /**
   * Forget every registration; a select() waiting returns `[]` at once.
   *
   * @example
   * ```ts
   * import { SelectSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * const sel = new SelectSelector();
   * sel.close();
   * assert.equal(sel.get_map(), null);
   * ```
   */
  override close(): void {
    this.#table.close();
    this.#closing.abort(SELECTOR_CLOSED);
  }

  /**
   * The key of a registered file object.
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns Its key.
   * @throws {KeyError} "... is not registered".
   * @throws {ValueError} "Invalid file object: ...".
   * @throws {RuntimeError} "Selector is closed".
   *
   * @example
   * ```ts
   * import { EVENT_READ, SelectSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new SelectSelector();
   * const key = sel.register(0, EVENT_READ);
   * assert.equal(sel.get_key(0), key);
   * ```
   */
  override get_key(fileobj: FileDescriptorLike): SelectorKey<D, F> {
    return this.#table.getKey(fileobj);
  }

  /**
   * The registrations, keyed by descriptor; a live view.
   *
   * @returns The mapping, or `null` once closed.
   *
   * @example
   * ```ts
   * import { EVENT_READ, SelectSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new SelectSelector();
   * sel.register(0, EVENT_READ);
   * assert.deepEqual([...sel.get_map()!.keys()], [0]);
   * ```
   */
  get_map(): SelectorMapping<D, F> | null {
    return this.#table.map;
  }
}

/** What a poll-like selector needs of its poller: Poll or Epoll. */
interface Poller {
  register(fd: number, eventmask: number): void;
  modify(fd: number, eventmask: number): void;
  unregister(fd: number): void;
}

/** Python's `_PollLikeSelector`, shared by PollSelector and EpollSelector. */
class PollLike<D, F extends FileDescriptorLike> {
  readonly table = new KeyTable<D, F>();
  readonly #poller: Poller;
  readonly #read: number;
  readonly #write: number;

  constructor(poller: Poller, read: number, write: number) {
    this.#poller = poller;
    this.#read = read;
    this.#write = write;
  }

  #mask(events: number): number {
    return (events & EVENT_READ ? this.#read : 0) |
      (events & EVENT_WRITE ? this.#write : 0);
  }

  register<T extends D>(
    fileobj: F,
    events: number,
    data: T | null | undefined,
  ): SelectorKey<T, F> {
    const key = this.table.register(fileobj, events, data);
    try {
      this.#poller.register(key.fd, this.#mask(key.events));
    } catch (e) {
      this.table.fdToKey.delete(key.fd);
      throw e;
    }
    return key;
  }

  unregister(fileobj: unknown): SelectorKey<D, F> {
    const key = this.table.unregister(fileobj);
    try {
      this.#poller.unregister(key.fd);
    } catch (e) {
      // The descriptor may have been closed since it was registered.
      if (!(e instanceof OSError)) throw e;
    }
    return key;
  }

  modify<T extends D>(
    fileobj: F,
    raw: number,
    data: T | null | undefined,
  ): SelectorKey<T, F> {
    const key = this.table.registered(fileobj);
    const events = pyInt(raw);
    const value = data === undefined ? null : data;
    let changed = false;
    if (events !== key.events) {
      // Python's `events & EVENT_READ`, before the registration is touched.
      checkBits(raw, events);
      try {
        this.#poller.modify(key.fd, this.#mask(events));
      } catch (e) {
        this.table.unregister(fileobj);
        throw e;
      }
      changed = true;
    }
    if (value !== key.data) changed = true;
    if (!changed) return key as SelectorKey<unknown, F> as SelectorKey<T, F>;
    const replaced = key._replace({ events, data: value as T });
    this.table.fdToKey.set(key.fd, replaced);
    return replaced;
  }

  /** `[key, events & key.events]` for what the poller reported. */
  ready(fdEvents: [number, number][]): [SelectorKey<D, F>, number][] {
    const ready: [SelectorKey<D, F>, number][] = [];
    for (const [fd, event] of fdEvents) {
      // Anything but "readable" counts as writable and anything but
      // "writable" as readable: an error, a hang-up or POLLNVAL (a socket
      // closed while registered) wakes both, as CPython maps them.
      let events = 0;
      if (event & ~this.#read) events |= EVENT_WRITE;
      if (event & ~this.#write) events |= EVENT_READ;
      const key = this.table.fdToKey.get(fd);
      if (key) ready.push([key, events & key.events]);
    }
    return ready;
  }
}

/**
 * A selector on {@linkcode Poll}: Python's `selectors.PollSelector`.
 *
 * @typeParam D The data attached to registrations.
 * @typeParam F The file objects registered.
 *
 * @example
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import { EVENT_READ, PollSelector } from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * using sel = new PollSelector<string>();
 * const key = sel.register(a, EVENT_READ, "a");
 * await b.sendall(new Uint8Array([1]));
 * assert.deepEqual(await sel.select(5), [[key, EVENT_READ]]);
 * ```
 */
export class PollSelector<
  D = unknown,
  F extends FileDescriptorLike = FileDescriptorLike,
> extends BaseSelector<D, F> {
  readonly #poll = new Poll();
  readonly #impl = new PollLike<D, F>(this.#poll, POLLIN, POLLOUT);
  readonly #closing = new AbortController();

  /**
   * Register a file object for events.
   *
   * @param fileobj A `Socket`, an object with `fileno()`, or a descriptor
   *   number.
   * @param events `EVENT_READ`, `EVENT_WRITE`, or both OR-ed.
   * @param data Anything to attach to the key (`null` when omitted).
   * @returns The new key.
   * @throws {ValueError} "Invalid events: N"; "Invalid file object: ...";
   *   "Invalid file descriptor: -1".
   * @throws {KeyError} "... (FD N) is already registered".
   *
   * @example
   * ```ts
   * import { ValueError } from "./errors.ts";
   * import { PollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new PollSelector();
   * assert.throws(() => sel.register(0, 4), ValueError);
   * ```
   */
  register<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F> {
    return this.#impl.register(fileobj, events, data);
  }

  /**
   * Unregister a file object (even one closed since it was registered).
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns The key it had.
   * @throws {KeyError} "... is not registered".
   *
   * @example
   * ```ts
   * import { EVENT_WRITE, PollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new PollSelector();
   * const key = sel.register(1, EVENT_WRITE);
   * assert.equal(sel.unregister(1), key);
   * ```
   */
  unregister(fileobj: FileDescriptorLike): SelectorKey<D, F> {
    return this.#impl.unregister(fileobj);
  }

  /**
   * Change the events or data of a registered file object; the same key
   * when nothing changed, else a new one. As CPython's, it does not check
   * `events`.
   *
   * @param fileobj The file object, or its descriptor number.
   * @param events The new events.
   * @param data The new data (`null` when omitted, as in Python).
   * @returns The key now registered.
   * @throws {KeyError} "... is not registered".
   *
   * @example
   * ```ts
   * import { EVENT_READ, EVENT_WRITE, PollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new PollSelector();
   * sel.register(0, EVENT_READ);
   * assert.equal(sel.modify(0, EVENT_WRITE).events, EVENT_WRITE);
   * ```
   */
  override modify<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F> {
    return this.#impl.modify(fileobj, events, data);
  }

  /**
   * Wait until some registered file object is ready.
   *
   * @param timeout Seconds (rounded up to a millisecond); `null` (the
   *   default) waits; `0` or less only polls.
   * @param options `signal` aborts the wait; it may come in place of
   *   `timeout` (`select({ signal })`), which then waits.
   * @returns `[key, events]` for each ready file object; empty when the
   *   time ran out.
   *
   * @example
   * ```ts
   * import { PollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new PollSelector();
   * assert.deepEqual(await sel.select(0.01), []);
   * ```
   */
  async select(
    timeout: number | null | SelectOptions = null,
    options: SelectOptions = {},
  ): Promise<[SelectorKey<D, F>, number][]> {
    if (isOptionsArg(timeout, arguments, "select")) {
      [timeout, options] = [null, timeout];
    } else tooManyArgs(arguments, "_PollLikeSelector");
    const t = checkTimeout(timeout);
    const ms = t === null ? null : t <= 0 ? 0 : ceilMs(t);
    const fdEvents = await untilClosed(
      this.#closing.signal,
      options,
      (o) => this.#poll.poll(ms, o),
    );
    return fdEvents === null ? [] : this.#impl.ready(fdEvents);
  }

  /**
   * Forget every registration; a select() waiting returns `[]` at once.
   *
   * @example
   * ```ts
   * import { PollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * const sel = new PollSelector();
   * sel.close();
   * assert.throws(() => sel.get_key(0), Error);
   * ```
   */
  override close(): void {
    this.#impl.table.close();
    this.#closing.abort(SELECTOR_CLOSED);
  }

  /**
   * The key of a registered file object.
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns Its key.
   * @throws {KeyError} "... is not registered".
   * @throws {ValueError} "Invalid file object: ...".
   * @throws {RuntimeError} "Selector is closed".
   *
   * @example
   * ```ts
   * import { KeyError } from "./errors.ts";
   * import { PollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new PollSelector();
   * assert.throws(() => sel.get_key(0), KeyError);
   * ```
   */
  override get_key(fileobj: FileDescriptorLike): SelectorKey<D, F> {
    return this.#impl.table.getKey(fileobj);
  }

  /**
   * The registrations, keyed by descriptor; a live view.
   *
   * @returns The mapping, or `null` once closed.
   *
   * @example
   * ```ts
   * import { PollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new PollSelector();
   * assert.equal(sel.get_map()?.size, 0);
   * ```
   */
  get_map(): SelectorMapping<D, F> | null {
    return this.#impl.table.map;
  }
}

/**
 * A selector on {@linkcode Epoll}: Python's `selectors.EpollSelector`, the
 * {@linkcode DefaultSelector}. Scales to many sockets: a registration is
 * made once, not passed to every wait.
 *
 * @typeParam D The data attached to registrations.
 * @typeParam F The file objects registered.
 *
 * @example
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import { EpollSelector, EVENT_READ, EVENT_WRITE } from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * using sel = new EpollSelector();
 * const key = sel.register(a, EVENT_READ | EVENT_WRITE);
 * assert.deepEqual(await sel.select(5), [[key, EVENT_WRITE]]);
 * ```
 */
export class EpollSelector<
  D = unknown,
  F extends FileDescriptorLike = FileDescriptorLike,
> extends BaseSelector<D, F> {
  readonly #epoll = new Epoll();
  readonly #impl = new PollLike<D, F>(this.#epoll, EPOLLIN, EPOLLOUT);

  /**
   * The epoll object's number ({@linkcode Epoll.fileno}).
   *
   * @returns The number.
   * @throws {ValueError} Closed ("I/O operation on closed epoll object").
   *
   * @example
   * ```ts
   * import { EpollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new EpollSelector();
   * assert.ok(sel.fileno() >= 0);
   * ```
   */
  fileno(): number {
    return this.#epoll.fileno();
  }

  /**
   * Register a file object for events.
   *
   * @param fileobj A `Socket`, an object with `fileno()`, or a descriptor
   *   number.
   * @param events `EVENT_READ`, `EVENT_WRITE`, or both OR-ed.
   * @param data Anything to attach to the key (`null` when omitted).
   * @returns The new key.
   * @throws {ValueError} "Invalid events: N"; "Invalid file object: ...";
   *   "Invalid file descriptor: -1"; the selector is closed ("I/O
   *   operation on closed epoll object").
   * @throws {KeyError} "... (FD N) is already registered".
   * @throws {OSError} `[Errno 9]`: a number that is no open socket (the key
   *   is not kept).
   *
   * @example
   * ```ts
   * import { socketpair } from "./socket.ts";
   * import { EpollSelector, EVENT_READ } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * using sel = new EpollSelector();
   * const key = sel.register(a, EVENT_READ, { name: "a" });
   * assert.equal(key.fd, a.fileno());
   * assert.equal(key.data.name, "a");
   * ```
   */
  register<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F> {
    return this.#impl.register(fileobj, events, data);
  }

  /**
   * Unregister a file object (even one closed since it was registered).
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns The key it had.
   * @throws {KeyError} "... is not registered".
   *
   * @example
   * ```ts
   * import { KeyError } from "./errors.ts";
   * import { EpollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new EpollSelector();
   * assert.throws(() => sel.unregister(99), KeyError);
   * ```
   */
  unregister(fileobj: FileDescriptorLike): SelectorKey<D, F> {
    return this.#impl.unregister(fileobj);
  }

  /**
   * Change the events or data of a registered file object; the same key
   * when nothing changed, else a new one. As CPython's, it does not check
   * `events`.
   *
   * @param fileobj The file object, or its descriptor number.
   * @param events The new events.
   * @param data The new data (`null` when omitted, as in Python).
   * @returns The key now registered.
   * @throws {KeyError} "... is not registered".
   *
   * @example
   * ```ts
   * import { socketpair } from "./socket.ts";
   * import { EpollSelector, EVENT_READ } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * using sel = new EpollSelector<string>();
   * const key = sel.register(a, EVENT_READ, "x");
   * assert.equal(sel.modify(a, EVENT_READ, "x"), key);
   * assert.notEqual(sel.modify(a, EVENT_READ, "y"), key);
   * ```
   */
  override modify<T extends D = D>(
    fileobj: F,
    events: number,
    data?: T | null,
  ): SelectorKey<T, F> {
    return this.#impl.modify(fileobj, events, data);
  }

  /**
   * Wait until some registered file object is ready.
   *
   * @param timeout Seconds (rounded up to a millisecond); `null` (the
   *   default) waits; `0` or less only polls.
   * @param options `signal` aborts the wait; it may come in place of
   *   `timeout` (`select({ signal })`), which then waits.
   * @returns `[key, events]` for each ready file object; empty when the
   *   time ran out.
   * @throws {ValueError} The selector is closed ("I/O operation on closed
   *   epoll object").
   *
   * @example
   * ```ts
   * import { EpollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new EpollSelector();
   * assert.deepEqual(await sel.select(0), []);
   * ```
   */
  async select(
    timeout: number | null | SelectOptions = null,
    options: SelectOptions = {},
  ): Promise<[SelectorKey<D, F>, number][]> {
    if (isOptionsArg(timeout, arguments, "select")) {
      [timeout, options] = [null, timeout];
    } else tooManyArgs(arguments, "EpollSelector");
    const t = checkTimeout(timeout);
    const seconds = t === null ? -1 : t <= 0 ? 0 : ceilMs(t) * 1e-3;
    // epoll_wait() wants maxevents > 0, even with nothing registered.
    const maxEvents = Math.max(this.#impl.table.fdToKey.size, 1);
    return this.#impl.ready(
      await this.#epoll.poll(seconds, maxEvents, options),
    );
  }

  /**
   * Close the epoll object and forget every registration; a select()
   * waiting returns `[]` at once.
   *
   * @example
   * ```ts
   * import { EpollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * const sel = new EpollSelector();
   * sel.close();
   * await assert.rejects(sel.select(0), RangeError);
   * ```
   */
  override close(): void {
    this.#epoll.close();
    this.#impl.table.close();
  }

  /**
   * The key of a registered file object.
   *
   * @param fileobj The file object, or its descriptor number.
   * @returns Its key.
   * @throws {KeyError} "... is not registered".
   * @throws {ValueError} "Invalid file object: ...".
   * @throws {RuntimeError} "Selector is closed".
   *
   * @example
   * ```ts
   * import { EpollSelector } from "./selectors.ts";
   * import { RuntimeError } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * const sel = new EpollSelector();
   * sel.close();
   * assert.throws(() => sel.get_key(0), RuntimeError);
   * ```
   */
  override get_key(fileobj: FileDescriptorLike): SelectorKey<D, F> {
    return this.#impl.table.getKey(fileobj);
  }

  /**
   * The registrations, keyed by descriptor; a live view.
   *
   * @returns The mapping, or `null` once closed.
   *
   * @example
   * ```ts
   * import { EpollSelector } from "./selectors.ts";
   * import assert from "node:assert/strict";
   *
   * using sel = new EpollSelector();
   * assert.equal(sel.get_map()?.size, 0);
   * ```
   */
  get_map(): SelectorMapping<D, F> | null {
    return this.#impl.table.map;
  }
}

/**
 * The best selector for the platform: {@linkcode EpollSelector}, as on
 * Linux in CPython.
 *
 * @example
 * ```ts
 * import { DefaultSelector, EpollSelector } from "./selectors.ts";
 * import assert from "node:assert/strict";
 *
 * using sel = new DefaultSelector();
 * assert.ok(sel instanceof EpollSelector);
 * ```
 */
export const DefaultSelector: typeof EpollSelector = EpollSelector;
/** The type of a {@linkcode DefaultSelector}. */
export type DefaultSelector<
  D = unknown,
  F extends FileDescriptorLike = FileDescriptorLike,
> = EpollSelector<D, F>;

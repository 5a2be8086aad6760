/**
 * Python's `select` module for sockets: `select()`, `poll()` and `epoll()`,
 * with CPython 3.11's arguments, defaults, errors and Linux constants. What
 * blocks in Python returns a Promise here, and takes an optional last
 * `{ signal }` to abort the wait.
 *
 * Every socket of either backend can be watched, mixed in one call: a
 * Deno-backend socket by the pseudo descriptor its `fileno()` returns, a libc
 * socket by its kernel descriptor.
 *
 * @example Wait until a socket has something to read
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import * as select from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * await b.sendall(new TextEncoder().encode("hi"));
 * const [r, w, x] = await select.select([a], [], [], 5);
 * assert.deepEqual([r, w, x], [[a], [], []]);
 * assert.equal(new TextDecoder().decode(await a.recv(2)), "hi");
 * ```
 *
 * @module
 */
import { errno as E } from "./constants.ts";
import {
  FileExistsError,
  FileNotFoundError,
  KeyError,
  OSError,
  OverflowError,
  RuntimeError,
  ValueError,
} from "./errors.ts";

export { RuntimeError } from "./errors.ts";
import {
  isOptionsArg,
  optionsAt,
  pyTypeName,
  throwIfAborted,
  timestampRange,
} from "./_args.ts";
import { closeOwed, loopTurnDue, pace, turnLoop } from "./_wait.ts";
import {
  descriptorOpen,
  type FileDescriptorLike,
  pollKernelNow,
  Readiness,
  stdioFd,
} from "./_readiness.ts";
import {
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLPRI,
  POLLRDNORM,
  POLLWRBAND,
  POLLWRNORM,
} from "./_poll_bits.ts";

export type { FileDescriptorLike } from "./_readiness.ts";
export {
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLPRI,
  POLLRDHUP,
  POLLRDNORM,
  POLLWRBAND,
  POLLWRNORM,
} from "./_poll_bits.ts";

// ------------------------------------------------------- poll(2) constants

/** Priority band data to read. */
export const POLLRDBAND = 0x080;
/** Unused on Linux; kept because CPython exports it. */
export const POLLMSG = 0x400;

/**
 * The most bytes a pipe takes in one atomic write (Linux: 4096), as
 * CPython's `select.PIPE_BUF`: a pipe reported writable takes that many.
 */
export const PIPE_BUF = 4096;

// ------------------------------------------------------ epoll(7) constants

/** The descriptor can be read (same bit as `POLLIN`). */
export const EPOLLIN = 0x001;
/** Urgent data to read (same bit as `POLLPRI`). */
export const EPOLLPRI = 0x002;
/** The descriptor can be written (same bit as `POLLOUT`). */
export const EPOLLOUT = 0x004;
/** An error is pending (always reported). */
export const EPOLLERR = 0x008;
/** Hung up (always reported). */
export const EPOLLHUP = 0x010;
/** Normal data to read. */
export const EPOLLRDNORM = 0x040;
/** Priority band data to read. */
export const EPOLLRDBAND = 0x080;
/** Normal data may be written. */
export const EPOLLWRNORM = 0x100;
/** Priority data may be written. */
export const EPOLLWRBAND = 0x200;
/** Unused on Linux; kept because CPython exports it. */
export const EPOLLMSG = 0x400;
/** The peer shut down its writing side. */
export const EPOLLRDHUP = 0x2000;
/** Wake one of several epolls waiting on the same descriptor (register only). */
export const EPOLLEXCLUSIVE = 0x10000000;
/** Report once, then disable the descriptor until `modify()`. */
export const EPOLLONESHOT = 0x40000000;
/**
 * Edge-triggered: report a change once (kernel descriptors). `2 ** 31`, not
 * `1 << 31`, which is negative in JavaScript.
 */
export const EPOLLET = 0x80000000;
/** `epoll()` flag: close the epoll descriptor on exec. */
export const EPOLL_CLOEXEC = 0x80000;

// Python's `select.error`, an alias of OSError.
export { OSError as error } from "./errors.ts";

/** Options of every call that waits. */
export interface SelectOptions {
  /** Aborting rejects the call with `signal.reason`; nothing is lost. */
  signal?: AbortSignal | undefined;
}

// Linux's select(2): which poll bits make a descriptor readable, writable or
// exceptional (fs/select.c POLLIN_SET, POLLOUT_SET, POLLEX_SET). POLLNVAL is
// added to all three: a socket closed while select() waits is reported in
// every list it is in, so the caller's next call on it fails instead of the
// wait hanging (Linux would keep waiting).
const READ_SET = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR |
  POLLNVAL;
const WRITE_SET = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR | POLLNVAL;
const EXCEPT_SET = POLLPRI | POLLNVAL;
// Always reported, whether asked for or not.
const ALWAYS = POLLERR | POLLHUP | POLLNVAL;
const INT_MAX = 2 ** 31 - 1;
// The longest one engine wait may be (setTimeout's limit); longer select()
// timeouts wait in steps.
const MAX_WAIT_MS = INT_MAX;
// What CPython's epoll.poll() takes maxevents=-1 to mean (FD_SETSIZE - 1).
const EPOLL_DEFAULT_MAXEVENTS = 1023;
// The most events epoll_wait(2) takes (Linux's EP_MAX_EVENTS: INT_MAX over
// the 12 bytes of a struct epoll_event); more is EINVAL.
const EP_MAX_EVENTS = Math.floor(INT_MAX / 12);
// Linux's EPOLLEXCLUSIVE_OK_BITS: what EPOLLEXCLUSIVE may be combined with.
const EXCLUSIVE_OK = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLET |
  EPOLLEXCLUSIVE | (1 << 29); // EPOLLWAKEUP

/**
 * CPython's `PyObject_AsFileDescriptor`: a descriptor number, or what an
 * object's `fileno()` returns (`Deno.stdin` and friends: 0, 1, 2).
 */
function asFileDescriptor(o: unknown): number {
  let fd: unknown = o;
  if (typeof o === "boolean") fd = o ? 1 : 0;
  else if (typeof o === "bigint") fd = Number(o);
  else if (typeof o !== "number" || !Number.isInteger(o)) {
    const stdio = stdioFd(o);
    if (stdio !== undefined) return stdio;
    const fileno = (o as { fileno?: unknown } | null | undefined)?.fileno;
    if (fileno === undefined) {
      throw new TypeError(
        "argument must be an int, or have a fileno() method.",
      );
    }
    // A `fileno` that is there is called, as CPython does.
    if (typeof fileno !== "function") {
      throw new TypeError(`'${pyTypeName(fileno)}' object is not callable`);
    }
    fd = fileno.call(o);
    // Python's bool is an int: a fileno() of True is descriptor 1.
    if (typeof fd === "boolean") fd = fd ? 1 : 0;
    else if (typeof fd === "bigint") fd = Number(fd);
    if (typeof fd !== "number" || !Number.isInteger(fd)) {
      throw new TypeError("fileno() returned a non-integer");
    }
  }
  const n = fd as number;
  if (n > INT_MAX || n < -INT_MAX - 1) {
    throw new OverflowError("Python int too large to convert to C int");
  }
  if (n < 0) {
    throw new ValueError(`file descriptor cannot be a negative integer (${n})`);
  }
  return n;
}

/**
 * CPython's `_PyTime_FromSecondsObject` / `FromMillisecondsObject` checks:
 * a number (or null), not NaN, within a 64-bit count of nanoseconds.
 */
function timeoutNumber(
  value: unknown,
  unitNs: number,
  typeMessage: string,
): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") value = Number(value);
  if (typeof value !== "number") throw new TypeError(typeMessage);
  if (Number.isNaN(value)) {
    throw new ValueError("Invalid value NaN (not a number)");
  }
  if (Math.abs(value * unitNs) >= 2 ** 63) throw timestampRange(value);
  return value;
}

/**
 * Whole milliseconds for poll(2) and epoll_wait(2): within C int; negative
 * waits. poll() rounds away from zero (-0.1 ms waits), epoll rounds up
 * (-0.1 ms polls), as CPython 3.11 does.
 */
function pollMs(ms: number | null, awayFromZero: boolean): number | null {
  if (ms === null) return null;
  const whole = awayFromZero && ms < 0 ? Math.floor(ms) : Math.ceil(ms);
  if (whole > INT_MAX || whole < -INT_MAX - 1) {
    throw new OverflowError("timeout is too large");
  }
  return whole < 0 ? null : whole;
}

/**
 * Linux sockets report POLLRDNORM with POLLIN and POLLWRNORM with POLLOUT;
 * keep what was asked for plus what is always reported.
 */
function reported(revents: number, mask: number): number {
  if (revents & POLLIN) revents |= POLLRDNORM;
  if (revents & POLLOUT) revents |= POLLWRNORM;
  return revents & (mask | ALWAYS);
}

/** What of `revents` select() reports for a descriptor it wants `want` of. */
function asked(want: number, revents: number): number {
  return (want & POLLIN ? revents & READ_SET : 0) |
    (want & POLLOUT ? revents & WRITE_SET : 0) |
    (want & POLLPRI ? revents & EXCEPT_SET : 0);
}

/** epoll_ctl's error for a descriptor it does not watch: EBADF when not open. */
function notRegistered(fd: number): OSError {
  return descriptorOpen(fd)
    ? new FileNotFoundError(E.ENOENT)
    : new OSError(E.EBADF);
}

/**
 * Wait on `r`, in steps when `ms` is longer than one timer may be. Not
 * `async`: the engine's own promise is handed back as it is (an async
 * function returning it would take two more turns of the microtask queue
 * to settle, on every select()).
 */
function waitFor(
  r: Readiness,
  ms: number | null,
  maxevents: number,
  signal: AbortSignal | undefined,
): Promise<[number, number][]> {
  if (ms === null || ms <= MAX_WAIT_MS) {
    return r.wait(ms, { maxevents, signal });
  }
  return waitInSteps(r, ms, maxevents, signal);
}

async function waitInSteps(
  r: Readiness,
  ms: number,
  maxevents: number,
  signal: AbortSignal | undefined,
): Promise<[number, number][]> {
  const deadline = performance.now() + ms;
  for (;;) {
    const left = Math.max(0, Math.ceil(deadline - performance.now()));
    const got = await r.wait(Math.min(left, MAX_WAIT_MS), {
      maxevents,
      signal,
    });
    if (got.length > 0 || left <= MAX_WAIT_MS) return got;
  }
}

/** `r.set()`, with a dead descriptor reported as Python's `[Errno 9]`. */
function watch(r: Readiness, fd: number, events: number): void {
  try {
    r.set(fd, events);
  } catch (e) {
    if (e instanceof OSError && e.errno === E.EBADF) {
      throw new OSError(E.EBADF, null, { cause: e });
    }
    throw e;
  }
}

/**
 * CPython's `seq2set`: the items of one list and their descriptors, each
 * list in turn (its errors before the next list is looked at). An array is
 * read as it stands at each step, as CPython reads a list: a `fileno()`
 * that shortens it ends the walk early.
 */
function descriptors<T>(list: Iterable<T>): [T[], number[]] {
  if (
    list === null || list === undefined ||
    typeof (list as Partial<Iterable<T>>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError("arguments 1-3 must be sequences");
  }
  const items = Array.isArray(list) ? list : Array.from(list);
  const kept: T[] = [];
  const fds: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    fds.push(asFileDescriptor(item));
    kept.push(item);
  }
  return [kept, fds];
}

/**
 * The item type of one of {@linkcode select}'s result lists: the items of
 * the list given, or, where that list was an empty `[]` (typed `never[]`),
 * `All`, the items of the three lists. A list given empty comes back empty,
 * so its type only decides what a variable holding it may later hold.
 *
 * @typeParam T The items of the list given.
 * @typeParam All The items of all three lists.
 *
 * @example
 * ```ts
 * import { type Socket, socketpair } from "./socket.ts";
 * import { select } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * let [r, w, x] = await select([], [a], [], 0);
 * const readers: Socket[] = r;
 * assert.deepEqual(readers, []);
 * await b.sendall(new Uint8Array([1]));
 * [r, w, x] = await select([a], [], [], 5);
 * assert.deepEqual([r, w, x], [[a], [], []]);
 * ```
 */
export type Ready<T, All> = [T] extends [never] ? All : T;

/**
 * Wait until some of the given sockets are ready: Python's
 * `select.select(rlist, wlist, xlist, timeout)`.
 *
 * A socket is readable when `recv`/`accept` would answer at once (data, EOF,
 * a pending error or connection), writable when `send` would take a byte,
 * exceptional when urgent data is waiting. A socket closed while the call
 * waits is reported in every list it is in. Unlike select(2) there is no
 * FD_SETSIZE limit.
 *
 * @param rlist Sockets, objects with `fileno()`, descriptor numbers, or
 *   `Deno.stdin` (`Deno.stdout`, `Deno.stderr`: 0, 1, 2) to wait for
 *   reading (any iterable).
 * @param wlist The same, to wait for writing.
 * @param xlist The same, to wait for an exceptional condition.
 * @param timeout Seconds; `null` (the default) waits, `0` only polls.
 * @param options `signal` aborts the wait.
 * @returns Three new arrays: the items of each list that are ready, in input
 *   order; all empty when the time ran out. A list given as `[]` is typed
 *   as the others' items (see {@linkcode Ready}), so that
 *   `let [r, w, x] = await select([], [s], [])` takes a later call's result.
 * @throws {TypeError} A list is not iterable ("arguments 1-3 must be
 *   sequences"), an item is neither an integer nor has `fileno()`, or
 *   `timeout` is not a number ("timeout must be a float or None"), or an
 *   argument past `timeout` is no options object.
 * @throws {ValueError} A closed socket ("file descriptor cannot be a negative
 *   integer (-1)"), or a negative timeout ("timeout must be non-negative").
 * @throws {OSError} `[Errno 9] Bad file descriptor`: a number that is no
 *   open socket.
 *
 * @example Readable after the peer sends, writable at once
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import { select } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * assert.deepEqual(await select([a], [], [], 0), [[], [], []]);
 * await b.sendall(new Uint8Array([1]));
 * assert.deepEqual(await select([a], [], [], 5), [[a], [], []]);
 * assert.deepEqual(await select([], [a, b], [], 0), [[], [a, b], []]);
 * ```
 */
export async function select<
  R extends FileDescriptorLike,
  W extends FileDescriptorLike,
  X extends FileDescriptorLike,
>(
  rlist: Iterable<R>,
  wlist: Iterable<W>,
  xlist: Iterable<X>,
  timeout: number | null | SelectOptions = null,
  options: SelectOptions = {},
): Promise<
  [Ready<R, R | W | X>[], Ready<W, R | W | X>[], Ready<X, R | W | X>[]]
> {
  // An answer at once, as Readiness.wait() counts one (see pace); first, so
  // that what runs meanwhile (a close, an abort) is before the call.
  const paced = pace();
  if (paced !== undefined) await paced;
  if (isOptionsArg(timeout, arguments, "select")) {
    [timeout, options] = [null, timeout];
  } else {
    optionsAt(
      arguments,
      4,
      (n) => `select expected at most 4 arguments, got ${n}`,
    );
  }
  const seconds = timeoutNumber(
    timeout,
    1e9,
    "timeout must be a float or None",
  );
  if (seconds !== null && Math.floor(seconds * 1e6) < 0) {
    throw new ValueError("timeout must be non-negative");
  }
  const [rs, rfds] = descriptors(rlist);
  const [ws, wfds] = descriptors(wlist);
  const [xs, xfds] = descriptors(xlist);
  const lists = [rs, ws, xs] as const;
  const fds = [rfds, wfds, xfds];
  throwIfAborted(options?.signal);

  const wanted = new Map<number, number>();
  const bits = [POLLIN, POLLOUT, POLLPRI];
  fds.forEach((list, i) => {
    for (const fd of list) wanted.set(fd, (wanted.get(fd) ?? 0) | bits[i]);
  });
  const sets = [READ_SET, WRITE_SET, EXCEPT_SET];
  const pick = (revents: Map<number, number>) =>
    lists.map((list, i) =>
      list.filter((_, j) => ((revents.get(fds[i][j]) ?? 0) & sets[i]) !== 0)
    ) as [R[], W[], X[]];
  // Kernel descriptors only (libc sockets, files): one poll(2) answers at
  // once what is ready, as CPython's select(2) does, without an epoll
  // descriptor made, filled and closed for the call.
  // `closedSince`: a descriptor closed since the call began (during a turn
  // of the loop) is reported as closed while waited on (POLLNVAL, in every
  // list it is in), as the wait below reports it, not as select(2)'s EBADF
  // for one that was never open.
  const look = (closedSince = false) => {
    const revents = new Map<number, number>();
    let open = wanted;
    if (closedSince) {
      open = new Map();
      for (const [fd, events] of wanted) {
        if (descriptorOpen(fd)) open.set(fd, events);
        else revents.set(fd, POLLNVAL);
      }
      if (open.size === 0) return revents;
    }
    const now = pollKernelNow(open);
    if (now === null) return null;
    for (const [fd, ev] of now) {
      if (asked(wanted.get(fd)!, ev) !== 0) revents.set(fd, ev);
    }
    return revents;
  };
  let revents = look();
  // Nothing, and no waiting: now and then the rest of the process runs
  // first (see loopTurnDue), so a caller that polls in a loop sees what
  // its other tasks send, and a Deno socket's close reaches the kernel.
  if (
    revents !== null &&
    ((revents.size === 0 && seconds === 0 && loopTurnDue()) || closeOwed())
  ) {
    await turnLoop();
    revents = look(true);
  }
  if (revents !== null && (revents.size > 0 || seconds === 0)) {
    return pick(revents);
  }
  const r = new Readiness({ filesReady: true });
  try {
    for (const [fd, events] of wanted) watch(r, fd, events);
    const deadline = seconds === null
      ? null
      : performance.now() + Math.ceil(seconds * 1000);
    for (;;) {
      const left = deadline === null
        ? null
        : Math.max(0, Math.ceil(deadline - performance.now()));
      const got = await waitFor(r, left, -1, options?.signal);
      const revents = new Map<number, number>();
      for (const [fd, ev] of got) {
        // Linux's select() does not wake for what it was not asked (a
        // hang-up on a socket only in xlist); with a level-triggered engine
        // such a descriptor would wake every wait, so it leaves this call.
        if (asked(wanted.get(fd) ?? 0, ev) === 0) r.delete(fd);
        else revents.set(fd, ev);
      }
      if (revents.size > 0 || left === 0) return pick(revents);
    }
  } finally {
    r.close();
  }
}

/**
 * Python's `select.poll` object: a set of descriptors and the events wanted
 * for each, polled together. Made by {@linkcode poll}.
 *
 * @example
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import { poll, POLLIN, POLLOUT } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * const p = poll();
 * p.register(a, POLLIN);
 * assert.deepEqual(await p.poll(0), []);
 * p.modify(a, POLLOUT);
 * assert.deepEqual(await p.poll(1000), [[a.fileno(), POLLOUT]]);
 * ```
 */
export class Poll {
  readonly #fds = new Map<number, number>();
  // The call in progress, if any (see poll()).
  #polling: object | null = null;

  /**
   * Start watching a descriptor, or change the events of one already
   * watched.
   *
   * @param fd A socket, an object with `fileno()`, or a descriptor number.
   * @param eventmask `POLLIN`, `POLLPRI`, `POLLOUT`, ... OR-ed together.
   * @default {eventmask} POLLIN | POLLPRI | POLLOUT
   * @throws {TypeError} `fd` is neither an integer nor has `fileno()`;
   *   `eventmask` is not an integer ("an integer is required").
   * @throws {ValueError} A closed socket (negative descriptor); a negative
   *   mask ("value must be positive").
   * @throws {OverflowError} `eventmask` above 0xffff.
   *
   * @example
   * ```ts
   * import { poll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * assert.throws(() => poll().register(-1), RangeError);
   * ```
   */
  register(
    fd: FileDescriptorLike,
    eventmask: number = POLLIN | POLLPRI | POLLOUT,
  ): void {
    const n = asFileDescriptor(fd);
    this.#fds.set(n, ushort(eventmask));
  }

  /**
   * Change the events of a watched descriptor.
   *
   * @param fd A socket, an object with `fileno()`, or a descriptor number.
   * @param eventmask The new events.
   * @throws {FileNotFoundError} `[Errno 2]`: `fd` is not registered.
   * @throws {TypeError} As {@linkcode Poll.register}.
   * @throws {ValueError} As {@linkcode Poll.register}.
   * @throws {OverflowError} As {@linkcode Poll.register}.
   *
   * @example
   * ```ts
   * import { FileNotFoundError } from "./errors.ts";
   * import { poll, POLLIN } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * assert.throws(() => poll().modify(5, POLLIN), FileNotFoundError);
   * ```
   */
  modify(fd: FileDescriptorLike, eventmask: number): void {
    const n = asFileDescriptor(fd);
    const mask = ushort(eventmask);
    if (!this.#fds.has(n)) throw new FileNotFoundError(E.ENOENT);
    this.#fds.set(n, mask);
  }

  /**
   * Stop watching a descriptor.
   *
   * @param fd A socket, an object with `fileno()`, or a descriptor number.
   * @throws {KeyError} `fd` is not registered (the message is the number).
   * @throws {TypeError} `fd` is neither an integer nor has `fileno()`.
   * @throws {ValueError} A closed socket (negative descriptor).
   *
   * @example
   * ```ts
   * import { KeyError } from "./errors.ts";
   * import { poll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * assert.throws(() => poll().unregister(3), KeyError);
   * ```
   */
  unregister(fd: FileDescriptorLike): void {
    const n = asFileDescriptor(fd);
    if (!this.#fds.delete(n)) throw new KeyError(n);
  }

  /**
   * Wait until some registered descriptor is ready.
   *
   * A number that is no open socket (or a socket closed meanwhile) is
   * reported with `POLLNVAL`, as poll(2) does.
   *
   * @param timeout Milliseconds (rounded up); `null` or negative waits, `0`
   *   only polls.
   * @param options `signal` aborts the wait.
   * @returns `[fd, revents]` for each ready descriptor, in registration
   *   order; empty when the time ran out.
   * @throws {TypeError} `timeout` is not a number ("timeout must be an
   *   integer or None").
   * @throws {OverflowError} `timeout` beyond C int ("timeout is too large").
   * @throws {RuntimeError} Another `poll()` of this object is waiting
   *   ("concurrent poll() invocation"), as in CPython.
   *
   * @example Poll without waiting
   * ```ts
   * import { poll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(await poll().poll(0), []);
   * ```
   */
  async poll(
    timeout: number | null | SelectOptions = null,
    options: SelectOptions = {},
  ): Promise<[number, number][]> {
    if (isOptionsArg(timeout, arguments, "poll")) {
      [timeout, options] = [null, timeout];
    } else {
      optionsAt(
        arguments,
        1,
        (n) => `poll expected at most 1 argument, got ${n}`,
      );
    }
    const ms = pollMs(
      timeoutNumber(timeout, 1e6, "timeout must be an integer or None"),
      true,
    );
    throwIfAborted(options?.signal);
    if (this.#polling) throw new RuntimeError("concurrent poll() invocation");
    // An abort ends this call for its caller at once, so a new one may start
    // while this one's per-call engine is still letting go.
    const call = {};
    this.#polling = call;
    const release = () => {
      if (this.#polling === call) this.#polling = null;
    };
    options?.signal?.addEventListener("abort", release, { once: true });
    // A Readiness per call, as poll(2) takes its array per call: nothing to
    // close afterwards, and registrations never race a wait.
    const fds = new Map(this.#fds);
    const r = new Readiness({ filesReady: true });
    try {
      const invalid = new Set<number>();
      for (const [fd, mask] of fds) {
        try {
          r.set(fd, mask);
        } catch (e) {
          if (!(e instanceof OSError && e.errno === E.EBADF)) throw e;
          invalid.add(fd);
        }
      }
      const got = await waitFor(
        r,
        invalid.size > 0 ? 0 : ms,
        -1,
        options?.signal,
      );
      const revents = new Map(got);
      const out: [number, number][] = [];
      for (const [fd, mask] of fds) {
        const ev = invalid.has(fd)
          ? POLLNVAL
          : reported(revents.get(fd) ?? 0, mask);
        if (ev !== 0) out.push([fd, ev]);
      }
      return out;
    } finally {
      r.close();
      options?.signal?.removeEventListener("abort", release);
      release();
    }
  }
}

function ushort(eventmask: unknown): number {
  if (typeof eventmask === "boolean") return eventmask ? 1 : 0;
  // CPython reads a C unsigned long first: past it, that is the message.
  const ulong = typeof eventmask === "bigint"
    ? eventmask >= 2n ** 64n
    : typeof eventmask === "number" && eventmask >= 2 ** 64;
  if (typeof eventmask === "bigint") eventmask = Number(eventmask);
  if (typeof eventmask !== "number" || !Number.isInteger(eventmask)) {
    throw new TypeError("an integer is required");
  }
  if (eventmask < 0) throw new ValueError("value must be positive");
  if (ulong) {
    throw new OverflowError(
      "Python int too large to convert to C unsigned long",
    );
  }
  if (eventmask > 0xffff) {
    throw new OverflowError("Python int too large for C unsigned short");
  }
  return eventmask;
}

/**
 * A new poll object: Python's `select.poll()`.
 *
 * @returns An empty {@linkcode Poll}.
 *
 * @example
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import { poll, POLLIN } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * const p = poll();
 * p.register(a, POLLIN);
 * await b.sendall(new Uint8Array([1]));
 * assert.deepEqual(await p.poll(5000), [[a.fileno(), POLLIN]]);
 * ```
 */
export function poll(): Poll {
  return new Poll();
}

function uint(value: unknown): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") return Number(BigInt.asUintN(32, value));
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `'${pyTypeName(value)}' object cannot be interpreted as an integer`,
    );
  }
  // CPython's "I" format: no overflow check, the value is taken modulo 2**32.
  return value >>> 0;
}

function cInt(value: unknown): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") value = Number(value);
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `'${pyTypeName(value)}' object cannot be interpreted as an integer`,
    );
  }
  if (value > INT_MAX || value < -INT_MAX - 1) {
    throw new OverflowError("Python int too large to convert to C int");
  }
  return value;
}

// An epoll object has no kernel descriptor of its own to show (its engine
// may hold none); it gets a number no socket has: Deno-backend sockets count
// up from 2 ** 30, these count down from the top of C int.
let nextEpollFd = INT_MAX;

/**
 * Python's `select.epoll` object: a persistent set of watched descriptors,
 * level-triggered; `EPOLLET` and `EPOLLONESHOT` as Linux has them (edge
 * triggering on kernel descriptors). Made by {@linkcode epoll}.
 *
 * A socket closed while registered is dropped without a word, as Linux's
 * epoll drops a closed descriptor: it is never reported, a wait goes on
 * without it, and `unregister()` of it says `[Errno 9]`. (`poll()` reports
 * such a socket `POLLNVAL`, and `select()` raises `[Errno 9]`, as theirs
 * do.)
 *
 * @example
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import { epoll, EPOLLIN, EPOLLOUT } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * using ep = epoll();
 * ep.register(a, EPOLLIN | EPOLLOUT);
 * assert.deepEqual(await ep.poll(1), [[a.fileno(), EPOLLOUT]]);
 * ```
 */
export class Epoll {
  readonly #fds = new Map<number, number>();
  readonly #engine: Readiness;
  readonly #fileno: number;
  #closed = false;

  /**
   * Open an epoll object: Python's `select.epoll(sizehint, flags)`, which
   * {@linkcode epoll} also calls.
   *
   * @param sizehint Ignored, but must be -1 or positive, as in Python.
   * @param flags `0` or `EPOLL_CLOEXEC`.
   * @throws {ValueError} `sizehint` is 0 or below -1 ("negative sizehint").
   * @throws {OSError} `flags` other than 0 and `EPOLL_CLOEXEC` ("invalid
   *   flags").
   * @throws {TypeError} A non-integer argument, or more than two.
   */
  constructor(sizehint = -1, flags = 0) {
    if (arguments.length > 2) throw tooManyEpollArgs(arguments.length);
    const size = cInt(sizehint);
    const f = cInt(flags);
    if (size === 0 || size < -1) throw new ValueError("negative sizehint");
    if (f !== 0 && f !== EPOLL_CLOEXEC) throw new OSError("invalid flags");
    this.#engine = new Readiness();
    this.#fileno = nextEpollFd--;
  }

  /** Whether {@linkcode Epoll.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #live(): Readiness {
    if (this.#closed) {
      throw new ValueError("I/O operation on closed epoll object");
    }
    return this.#engine;
  }

  /**
   * The epoll object's descriptor number (a pseudo number: it names this
   * object, and cannot be watched itself).
   *
   * @returns The number.
   * @throws {ValueError} Closed ("I/O operation on closed epoll object").
   *
   * @example
   * ```ts
   * import { epoll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * const ep = epoll();
   * assert.ok(ep.fileno() > 0);
   * ep.close();
   * assert.throws(() => ep.fileno(), RangeError);
   * ```
   */
  fileno(): number {
    this.#live();
    return this.#fileno;
  }

  /**
   * Start watching a descriptor.
   *
   * @param fd A socket, an object with `fileno()`, or a descriptor number.
   * @param eventmask `EPOLLIN`, `EPOLLOUT`, `EPOLLET`, ... OR-ed together
   *   (taken modulo 2 ** 32, as CPython does).
   * @default {eventmask} EPOLLIN | EPOLLPRI | EPOLLOUT
   * @throws {FileExistsError} `[Errno 17]`: already registered.
   * @throws {OSError} `[Errno 9]`: no open socket; `[Errno 22]`:
   *   `EPOLLEXCLUSIVE` with bits it does not combine with.
   * @throws {ValueError} A closed socket (negative descriptor), or this
   *   epoll is closed.
   * @throws {TypeError} `fd` is neither an integer nor has `fileno()`;
   *   `eventmask` is not an integer.
   *
   * @example
   * ```ts
   * import { socketpair } from "./socket.ts";
   * import { FileExistsError } from "./errors.ts";
   * import { epoll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * using ep = epoll();
   * ep.register(a);
   * assert.throws(() => ep.register(a), FileExistsError);
   * ```
   */
  register(
    fd: FileDescriptorLike,
    eventmask: number = EPOLLIN | EPOLLPRI | EPOLLOUT,
  ): void {
    const n = asFileDescriptor(fd);
    const mask = uint(eventmask);
    const engine = this.#live();
    // An epoll cannot watch itself (Linux: EINVAL).
    if (
      n === this.#fileno ||
      ((mask & EPOLLEXCLUSIVE) && (mask & ~EXCLUSIVE_OK))
    ) throw new OSError(E.EINVAL);
    if (this.#fds.has(n) && !this.#stale(engine, n)) {
      throw new FileExistsError(E.EEXIST);
    }
    watch(engine, n, mask);
    this.#fds.set(n, mask);
  }

  // A registration whose descriptor was closed since: the kernel dropped
  // it then, so it is forgotten here too (true), and the number means
  // whatever it names now.
  #stale(engine: Readiness, fd: number): boolean {
    if (!engine.closedSince(fd)) return false;
    this.#fds.delete(fd);
    engine.delete(fd);
    return true;
  }

  /**
   * Change the events of a registered descriptor (re-arms `EPOLLONESHOT`).
   *
   * @param fd A socket, an object with `fileno()`, or a descriptor number.
   * @param eventmask The new events.
   * @throws {FileNotFoundError} `[Errno 2]`: not registered.
   * @throws {OSError} `[Errno 9]`: the socket was closed, or `fd` is not
   *   open; `[Errno 22]`: `EPOLLEXCLUSIVE`, which only `register()` takes
   *   (refused before the registration is looked for, as Linux does).
   * @throws {ValueError} A closed socket (negative descriptor), or this
   *   epoll is closed.
   * @throws {TypeError} As {@linkcode Epoll.register}.
   *
   * @example
   * ```ts
   * import { FileNotFoundError } from "./errors.ts";
   * import { socket } from "./socket.ts";
   * import { epoll, EPOLLIN } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * using ep = epoll();
   * using s = socket();
   * assert.throws(() => ep.modify(s, EPOLLIN), FileNotFoundError);
   * ```
   */
  modify(fd: FileDescriptorLike, eventmask: number): void {
    const n = asFileDescriptor(fd);
    const mask = uint(eventmask);
    const engine = this.#live();
    // Linux refuses EPOLLEXCLUSIVE in a modify before it looks for the
    // registration (after the descriptor itself: EBADF first).
    if (mask & EPOLLEXCLUSIVE) {
      throw new OSError(descriptorOpen(n) ? E.EINVAL : E.EBADF);
    }
    if (!this.#fds.has(n) || this.#stale(engine, n)) throw notRegistered(n);
    watch(engine, n, mask);
    this.#fds.set(n, mask);
  }

  /**
   * Stop watching a descriptor.
   *
   * @param fd A socket, an object with `fileno()`, or a descriptor number.
   * @throws {FileNotFoundError} `[Errno 2]`: not registered.
   * @throws {OSError} `[Errno 9]`: `fd` is not open, or the socket was
   *   closed since it was registered (it is unregistered all the same).
   * @throws {ValueError} A closed socket (negative descriptor), or this
   *   epoll is closed.
   * @throws {TypeError} `fd` is neither an integer nor has `fileno()`.
   *
   * @example
   * ```ts
   * import { FileNotFoundError } from "./errors.ts";
   * import { socket } from "./socket.ts";
   * import { epoll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * using ep = epoll();
   * using s = socket();
   * assert.throws(() => ep.unregister(s), FileNotFoundError);
   * ```
   */
  unregister(fd: FileDescriptorLike): void {
    const n = asFileDescriptor(fd);
    const engine = this.#live();
    if (!this.#fds.has(n) || this.#stale(engine, n)) throw notRegistered(n);
    this.#fds.delete(n);
    // Linux checks the descriptor before the registration: a socket closed
    // since register() is EBADF (CPython's test_epoll test_unregister_closed).
    try {
      watch(engine, n, 0);
    } finally {
      engine.delete(n);
    }
  }

  /**
   * Wait until some registered descriptor is ready.
   *
   * @param timeout Seconds (rounded up to a millisecond); `null` or negative
   *   waits, `0` only polls.
   * @param maxevents The most results; `-1` takes CPython's default, 1023.
   * @param options `signal` aborts the wait.
   * @default {timeout} null
   * @default {maxevents} -1
   * @returns `[fd, events]` for each ready descriptor; empty when the time
   *   ran out. A socket closed while registered is not among them (see
   *   {@linkcode Epoll}).
   * @throws {ValueError} `maxevents` is 0 or below -1 ("maxevents must be
   *   greater than 0, got N"); this epoll is closed (checked first).
   * @throws {OSError} `[Errno 22]`: `maxevents` above 178956970, as
   *   epoll_wait(2) says.
   * @throws {TypeError} `timeout` is not a number ("timeout must be an
   *   integer or None"); an argument past `maxevents` that is no options
   *   object ("poll() takes at most 2 arguments (3 given)").
   * @throws {OverflowError} `timeout` beyond C int milliseconds ("timeout
   *   is too large").
   *
   * @example
   * ```ts
   * import { epoll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * using ep = epoll();
   * assert.deepEqual(await ep.poll(0.01), []);
   * ```
   */
  async poll(
    timeout: number | null | SelectOptions = null,
    maxevents: number | SelectOptions = -1,
    options: SelectOptions = {},
  ): Promise<[number, number][]> {
    if (isOptionsArg(timeout, arguments, "poll")) {
      [timeout, maxevents, options] = [null, -1, timeout];
    } else if (isOptionsArg(maxevents, arguments, "poll")) {
      [maxevents, options] = [-1, maxevents];
    } else {
      optionsAt(
        arguments,
        2,
        (n) => `poll() takes at most 2 arguments (${n} given)`,
      );
    }
    // CPython looks at the epoll before its arguments.
    const engine = this.#live();
    const seconds = timeoutNumber(
      timeout,
      1e9,
      "timeout must be an integer or None",
    );
    const ms = pollMs(seconds === null ? null : seconds * 1000, false);
    let max = cInt(maxevents);
    if (max === -1) max = EPOLL_DEFAULT_MAXEVENTS;
    else if (max <= 0) {
      throw new ValueError(`maxevents must be greater than 0, got ${max}`);
    } else if (max > EP_MAX_EVENTS) throw new OSError(E.EINVAL);
    throwIfAborted(options?.signal);
    const deadline = ms === null ? null : performance.now() + ms;
    let left = ms;
    for (;;) {
      const got = await waitFor(engine, left, max, options?.signal);
      const out: [number, number][] = [];
      let dropped = false;
      for (const [fd, ev] of got) {
        const mask = this.#fds.get(fd);
        if (mask === undefined) continue;
        // Closed while registered: Linux's epoll drops it without a word,
        // and a loop that closes without unregistering relies on that.
        if ((ev & POLLNVAL) && this.#stale(engine, fd)) {
          dropped = true;
          continue;
        }
        const events = reported(ev, mask);
        if (events !== 0) out.push([fd, events]);
      }
      if (out.length > 0 || !dropped || this.#closed) return out;
      // Only dropped ones: the wait goes on for what is left of it.
      if (deadline !== null) {
        left = Math.ceil(deadline - performance.now());
        if (left <= 0) return out;
      }
    }
  }

  /**
   * Close the epoll object. Idempotent; every other call then raises
   * `ValueError("I/O operation on closed epoll object")`.
   *
   * @example
   * ```ts
   * import { epoll } from "./select.ts";
   * import assert from "node:assert/strict";
   *
   * const ep = epoll();
   * ep.close();
   * ep.close();
   * assert.ok(ep.closed);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fds.clear();
    this.#engine.close();
  }

  /** Close at the end of a `using` block (Python's `with`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A new epoll object: Python's `select.epoll(sizehint=-1, flags=0)`.
 *
 * @param sizehint Ignored, but must be -1 or positive, as in Python.
 * @param flags `0` or `EPOLL_CLOEXEC`.
 * @default {sizehint} -1
 * @default {flags} 0
 * @returns An empty, open {@linkcode Epoll}.
 * @throws {ValueError} `sizehint` is 0 or below -1 ("negative sizehint").
 * @throws {OSError} `flags` other than 0 and `EPOLL_CLOEXEC` ("invalid
 *   flags").
 * @throws {TypeError} A non-integer argument, or more than two.
 *
 * @example
 * ```ts
 * import { epoll, EPOLL_CLOEXEC } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * using ep = epoll(-1, EPOLL_CLOEXEC);
 * assert.equal(ep.closed, false);
 * assert.throws(() => epoll(0), RangeError);
 * ```
 */
export function epoll(sizehint = -1, flags = 0): Epoll {
  if (arguments.length > 2) throw tooManyEpollArgs(arguments.length);
  return new Epoll(sizehint, flags);
}

// A port's extra argument is Python's TypeError, not ignored.
function tooManyEpollArgs(given: number): TypeError {
  return new TypeError(`epoll() takes at most 2 arguments (${given} given)`);
}

// The libc backend's one readiness poller. Sockets are non-blocking and every
// syscall runs on the main thread; only when one says EAGAIN does its caller
// wait here. A single `epoll_wait`, the one FFI call declared nonblocking,
// runs on Deno's FFI thread pool while anything waits, and stops when nothing
// does, so a script that closes its sockets exits on its own.
//
// Descriptors are armed EPOLLONESHOT with a token that is never reused, so an
// event reported for a descriptor closed since (and maybe reused) is ignored,
// and interest added while `epoll_wait` is in flight needs no wake-up: the
// kernel sees it at once. An eventfd wakes the call only to stop it.
//
// Deno's test sanitizers fail a test that ends with the FFI call in flight.
// So when the last waiter goes away (timeout, close) while the call is in
// flight, the poller wakes it and settles that waiter only once the call has
// returned: whoever awaits the outcome then finds nothing pending.
//
// A daemon socket's waits do not hold the process (see Poller.hold): their
// timers are unref'd, and the call in flight holds the process only while a
// held waiter is pending or deferred, through Deno's core (_core.ts; where
// it is missing, the call always holds it).
import { errno, type Libc, libc, LINUX as L } from "./ffi.ts";
import { OSError } from "../errors.ts";
import { core } from "../_core.ts";

/** A descriptor's place in the poller; one per socket that ever waited. */
export class PollEntry {
  /** The descriptor. */
  readonly fd: number;
  /** Never reused: the epoll data of this entry. */
  readonly token: number;
  /** Pending waits on this descriptor (and cancellable sleeps). */
  waiters: Waiter[] = [];
  /** Events armed in epoll (one-shot); 0 when not armed. */
  armed = 0;
  /** Whether epoll knows this descriptor (EPOLL_CTL_ADD done). */
  added = false;
  /** Whether its waits hold the process (see {@linkcode Poller.hold}). */
  held = true;

  /**
   * Make an entry; use {@linkcode Poller.entry}.
   *
   * @param fd The descriptor.
   * @param token A number never used for another entry.
   */
  constructor(fd: number, token: number) {
    this.fd = fd;
    this.token = token;
  }
}

/** One pending wait (or sleep) on a {@linkcode PollEntry}. */
export interface Waiter {
  /** The descriptor waited on. */
  entry: PollEntry;
  /** EPOLLIN / EPOLLOUT / EPOLLPRI wanted; 0 for a sleep. */
  events: number;
  /** Settles the wait: `true` ready, `false` expired. */
  resolve: (ready: boolean) => void;
  /** Settles the wait with an error (the socket was closed). */
  reject: (reason: unknown) => void;
  /** The timer of a bounded wait or a sleep. */
  timer: ReturnType<typeof setTimeout> | null;
  /** Whether it holds the process: its entry's {@linkcode PollEntry.held}. */
  held: boolean;
}

// How a deferred waiter settles once the in-flight call returns.
type Outcome = { waiter: Waiter; ready: boolean; error: unknown };

/**
 * `struct epoll_event`'s layout: packed (12 bytes, data at 4) on x86_64,
 * naturally aligned (16 bytes, data at 8) elsewhere.
 */
export const EPOLL_EVENT: { readonly stride: number; readonly dataAt: number } =
  Deno.build.arch === "x86_64"
    ? { stride: 12, dataAt: 4 }
    : { stride: 16, dataAt: 8 };

/**
 * Write one `struct epoll_event` at `offset`: its events and a 32-bit datum.
 *
 * @param buf The buffer.
 * @param offset Where the event starts.
 * @param events The EPOLL* mask (EPOLLET, bit 31, included).
 * @param data The datum (a token, a descriptor).
 */
export function writeEpollEvent(
  buf: Uint8Array,
  offset: number,
  events: number,
  data: number,
): void {
  buf.fill(0, offset, offset + EPOLL_EVENT.stride);
  buf[offset] = events & 0xff;
  buf[offset + 1] = (events >>> 8) & 0xff;
  buf[offset + 2] = (events >>> 16) & 0xff;
  buf[offset + 3] = (events >>> 24) & 0xff;
  const at = offset + EPOLL_EVENT.dataAt;
  buf[at] = data & 0xff;
  buf[at + 1] = (data >>> 8) & 0xff;
  buf[at + 2] = (data >>> 16) & 0xff;
  buf[at + 3] = (data >>> 24) & 0xff;
}

/**
 * Read event `i` of an `epoll_wait` result: `[events, data]`.
 *
 * @param buf The events buffer.
 * @param i The index.
 * @returns The events mask (unsigned) and the 32-bit datum.
 */
export function readEpollEvent(buf: Uint8Array, i: number): [number, number] {
  const o = i * EPOLL_EVENT.stride;
  const at = o + EPOLL_EVENT.dataAt;
  return [
    (buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16) | (buf[o + 3] << 24)) >>>
    0,
    (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) |
      (buf[at + 3] << 24)) >>> 0,
  ];
}

const EVENTFD_TOKEN = 0;
const WAKE_ANY = L.EPOLLERR | L.EPOLLHUP;
const MAX_EVENTS = 4096;
const NOW_EVENTS = 64;

function expire(p: Poller, w: Waiter): void {
  w.timer = null;
  p.drop(w, false, null);
}

function wakeSleeper(p: Poller, w: Waiter): void {
  w.timer = null;
  p.drop(w, true, null);
}

// A waiter's timer, which holds the process only if the waiter does.
function timer(
  fn: (p: Poller, w: Waiter) => void,
  ms: number,
  p: Poller,
  w: Waiter,
): ReturnType<typeof setTimeout> {
  const t = setTimeout(fn, ms, p, w);
  if (!w.held) Deno.unrefTimer(t);
  return t;
}

/**
 * The readiness poller: waits for many descriptors with one `epoll_wait`
 * on Deno's FFI thread pool, and wakes every ready waiter of a round at once.
 *
 * @example Wait up to a second for a descriptor to be readable
 * ```ts ignore
 * import { poller } from "./poller.ts";
 *
 * const EPOLLIN = 1;
 * const fd = 3; // a non-blocking socket
 * const p = poller();
 * const entry = p.entry(fd);
 * const ready = await p.wait(entry, EPOLLIN, 1000); // false: timed out
 * p.cancel(entry, new Error("done"));
 * ```
 */
export class Poller {
  #lib: Libc | null = null;
  #epfd = -1;
  #efd = -1;
  #nextToken = 1;
  readonly #entries = new Map<number, PollEntry>();
  #waiting = 0;
  // Held waits pending, or deferred until the call in flight returns.
  #holding = 0;
  #users = 0;
  #running = false;
  #inFlight = false;
  // The epoll_wait in flight, and whether it holds the process.
  #call: Promise<number> | null = null;
  #callHeld = true;
  #woken = false;
  #deferred: Outcome[] = [];
  #cap = 64;
  #events = new Uint8Array(0);
  // For the synchronous harvest: #events belongs to the call in flight.
  #now = new Uint8Array(0);
  readonly #ctl = new Uint8Array(16);
  readonly #one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
  readonly #drain = new Uint8Array(8);
  /** How many `epoll_wait` rounds have returned (for tests and benchmarks). */
  rounds = 0;

  /** Whether an `epoll_wait` loop is running. */
  get running(): boolean {
    return this.#running;
  }

  /** How many waits on readiness are pending. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Whether the epoll and eventfd descriptors are open. */
  get open(): boolean {
    return this.#epfd >= 0;
  }

  /** Count one more live socket: the poller's descriptors stay open for it. */
  retain(): void {
    this.#users++;
  }

  /** Count one live socket less; with none left, idle descriptors close. */
  release(): void {
    if (--this.#users <= 0) {
      this.#users = 0;
      if (!this.#running) this.#close();
    }
  }

  /**
   * A new entry for `fd`; waits on the descriptor go through it.
   *
   * @param fd The descriptor.
   * @returns The entry.
   */
  entry(fd: number): PollEntry {
    return new PollEntry(fd, this.#nextToken++);
  }

  /**
   * Wait until `entry`'s descriptor reports one of `events` (or an error or
   * hang-up, which the next syscall will report).
   *
   * @param entry The descriptor's entry.
   * @param events `EPOLLIN`, `EPOLLOUT`, `EPOLLPRI`, OR-ed.
   * @param ms The most milliseconds to wait, `null` for no limit.
   * @param signal Aborting it ends the wait as `ms` running out would.
   * @returns `true` when ready, `false` when `ms` ran out or `signal` aborted.
   * @throws {OSError} epoll refused the descriptor.
   */
  wait(
    entry: PollEntry,
    events: number,
    ms: number | null,
    signal?: AbortSignal,
  ): Promise<boolean> {
    this.#setup();
    const [w, promise] = this.#waiter(entry, events, signal);
    if ((entry.armed & events) !== events) {
      const err = this.#arm(entry, entry.armed | events);
      if (err !== 0) {
        if (!this.#running && this.#users === 0) this.#close();
        throw new OSError(err);
      }
    }
    entry.waiters.push(w);
    this.#waiting++;
    if (w.held) this.#holding++;
    this.#entries.set(entry.token, entry);
    // Deno rounds a fractional delay down: round up, never fire early.
    if (ms !== null) w.timer = timer(expire, Math.ceil(ms), this, w);
    this.#refCall();
    if (signal?.aborted) this.drop(w, false, null);
    if (!this.#running) this.#run();
    else if (this.#waiting > 1) this.#harvest();
    return promise;
  }

  /**
   * Sleep `ms` milliseconds as a wait on `entry`, so that
   * {@linkcode Poller.cancel} ends it too. Used to back off where readiness
   * cannot be polled (a unix datagram peer with a full queue).
   *
   * @param entry The descriptor's entry.
   * @param ms Milliseconds.
   * @param signal Aborting it ends the sleep at once.
   * @returns `true` when the time has passed, `false` when `signal` aborted.
   */
  sleep(entry: PollEntry, ms: number, signal?: AbortSignal): Promise<boolean> {
    const [w, promise] = this.#waiter(entry, 0, signal);
    entry.waiters.push(w);
    w.timer = timer(wakeSleeper, ms, this, w);
    if (signal?.aborted) this.drop(w, false, null);
    return promise;
  }

  // A waiter and its promise. An abort of `signal` ends it as its timer
  // would (not ready), and settling it stops listening.
  #waiter(
    entry: PollEntry,
    events: number,
    signal: AbortSignal | undefined,
  ): [Waiter, Promise<boolean>] {
    const settle = Promise.withResolvers<boolean>();
    const w: Waiter = {
      entry,
      events,
      resolve: settle.resolve,
      reject: settle.reject,
      timer: null,
      held: entry.held,
    };
    if (signal !== undefined) {
      const abort = () => this.drop(w, false, null);
      signal.addEventListener("abort", abort, { once: true });
      w.resolve = (ready) => {
        signal.removeEventListener("abort", abort);
        settle.resolve(ready);
      };
      w.reject = (reason) => {
        signal.removeEventListener("abort", abort);
        settle.reject(reason);
      };
    }
    return [w, settle.promise];
  }

  /**
   * Make the waits on `entry`, pending and to come, hold the process (the
   * default) or not: a daemon socket's (see BackendSocket.daemon).
   *
   * @param entry The descriptor's entry.
   * @param held Whether they hold it.
   */
  hold(entry: PollEntry, held: boolean): void {
    if (entry.held === held) return;
    entry.held = held;
    for (const w of entry.waiters) {
      w.held = held;
      if (w.timer !== null) {
        if (held) Deno.refTimer(w.timer);
        else Deno.unrefTimer(w.timer);
      }
      if (w.events !== 0) this.#holding += held ? 1 : -1;
    }
    this.#refCall();
  }

  /**
   * End the waits on `entry` for any of `events` as ready: its socket has
   * something for them that the kernel does not know of.
   *
   * @param entry The descriptor's entry.
   * @param events EPOLL* bits.
   */
  wake(entry: PollEntry, events: number): void {
    for (const w of [...entry.waiters]) {
      if (w.events & events) this.drop(w, true, null);
    }
  }

  /**
   * End every wait on `entry` with `error` and forget the descriptor (before
   * it is closed or detached).
   *
   * @param entry The descriptor's entry.
   * @param error What pending waits reject with.
   */
  cancel(entry: PollEntry, error: unknown): void {
    while (entry.waiters.length > 0) {
      this.drop(entry.waiters[entry.waiters.length - 1], false, error);
    }
    this.#entries.delete(entry.token);
    if (entry.added && this.#epfd >= 0) {
      // May fail (EBADF) when the descriptor was closed behind our back.
      this.#lib!.epoll_ctl(this.#epfd, L.EPOLL_CTL_DEL, entry.fd, this.#ctl);
    }
    entry.added = false;
    entry.armed = 0;
  }

  /**
   * Remove one waiter and settle it: ready, expired, or rejected with
   * `error` when it is not null. Internal to the poller and its timers.
   *
   * @param w The waiter.
   * @param ready What it resolves with.
   * @param error What it rejects with, if not null.
   */
  drop(w: Waiter, ready: boolean, error: unknown): void {
    const list = w.entry.waiters;
    const i = list.indexOf(w);
    if (i < 0) return;
    list.splice(i, 1);
    if (w.timer !== null) {
      clearTimeout(w.timer);
      w.timer = null;
    }
    if (w.events !== 0) {
      if (--this.#waiting === 0 && this.#inFlight) {
        this.#deferred.push({ waiter: w, ready, error });
        this.#wake();
        return;
      }
      if (w.held) {
        this.#holding--;
        this.#refCall();
      }
    }
    if (error !== null) w.reject(error);
    else w.resolve(ready);
  }

  #setup(): void {
    if (this.#epfd >= 0) return;
    const lib = this.#lib ??= libc();
    // x86_64 packs struct epoll_event (12 bytes); aarch64 aligns it (16).
    this.#events = new Uint8Array(this.#cap * EPOLL_EVENT.stride);
    this.#now = new Uint8Array(NOW_EVENTS * EPOLL_EVENT.stride);
    const epfd = lib.epoll_create1(L.EPOLL_CLOEXEC);
    if (epfd < 0) throw new OSError(errno());
    const efd = lib.eventfd(0, L.EFD_NONBLOCK | L.EFD_CLOEXEC);
    if (efd < 0) {
      const err = errno();
      lib.close(epfd);
      throw new OSError(err);
    }
    this.#fillCtl(L.EPOLLIN, EVENTFD_TOKEN);
    if (lib.epoll_ctl(epfd, L.EPOLL_CTL_ADD, efd, this.#ctl) < 0) {
      const err = errno();
      lib.close(efd);
      lib.close(epfd);
      throw new OSError(err);
    }
    this.#epfd = epfd;
    this.#efd = efd;
    this.#woken = false;
  }

  #close(): void {
    if (this.#epfd < 0) return;
    this.#lib!.close(this.#efd);
    this.#lib!.close(this.#epfd);
    this.#epfd = this.#efd = -1;
    for (const e of this.#entries.values()) {
      e.added = false;
      e.armed = 0;
    }
    this.#entries.clear();
  }

  #fillCtl(events: number, token: number): void {
    writeEpollEvent(this.#ctl, 0, events, token);
  }

  // Arm `entry` for `mask` (one-shot); returns 0 or the errno.
  #arm(entry: PollEntry, mask: number): number {
    const lib = this.#lib!;
    this.#fillCtl(mask | L.EPOLLONESHOT, entry.token);
    let op = entry.added ? L.EPOLL_CTL_MOD : L.EPOLL_CTL_ADD;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (lib.epoll_ctl(this.#epfd, op, entry.fd, this.#ctl) === 0) {
        entry.added = true;
        entry.armed = mask;
        return 0;
      }
      const err = errno();
      // The descriptor left epoll when its file was closed, or is known
      // already: switch between ADD and MOD once.
      if (err === 2 /* ENOENT */) op = L.EPOLL_CTL_ADD;
      else if (err === 17 /* EEXIST */) op = L.EPOLL_CTL_MOD;
      else return err;
    }
    return errno();
  }

  #wake(): void {
    if (this.#woken || this.#efd < 0) return;
    this.#woken = true;
    this.#lib!.write(this.#efd, this.#one, 8n);
  }

  async #run(): Promise<void> {
    const lib = this.#lib!;
    this.#running = true;
    let failures = 0;
    try {
      while (this.#waiting > 0) {
        this.#inFlight = true;
        const call = this.#call = lib.epoll_wait(
          this.#epfd,
          this.#events,
          this.#cap,
          -1,
        );
        this.#callHeld = true;
        this.#refCall();
        const n = await call;
        this.#call = null;
        this.#inFlight = false;
        this.rounds++;
        if (this.#deferred.length > 0) this.#settleDeferred();
        if (n < 0) {
          // errno is lost on the thread pool; EINTR is the expected case.
          if (++failures > 100) this.#failAll();
          continue;
        }
        failures = 0;
        this.#dispatch(this.#events, n);
        if (n === this.#cap && this.#cap < MAX_EVENTS) {
          this.#cap *= 2;
          this.#events = new Uint8Array(this.#cap * EPOLL_EVENT.stride);
        }
      }
    } finally {
      this.#running = false;
      if (this.#users === 0) this.#close();
    }
  }

  #settleDeferred(): void {
    const list = this.#deferred;
    this.#deferred = [];
    for (const { waiter, ready, error } of list) {
      if (waiter.held) this.#holding--;
      if (error !== null) waiter.reject(error);
      else waiter.resolve(ready);
    }
  }

  // A busy process (several calls parked): what is ready now is taken with a
  // synchronous epoll_wait(0), without the trip through the FFI thread pool
  // that the call in flight costs. On a busy server most readiness arrives
  // this way, as in a C event loop.
  #harvest(): void {
    const n = this.#lib!.epoll_wait_now(this.#epfd, this.#now, NOW_EVENTS, 0);
    if (n > 0) this.#dispatch(this.#now, n, false);
  }

  // `drain`: whether the eventfd's wake-up is taken. Only the call in
  // flight takes it: a harvest that did would leave that call asleep with
  // the waits it must settle (see drop()) deferred behind it.
  #dispatch(buf: Uint8Array, n: number, drain = true): void {
    for (let i = 0; i < n; i++) {
      const [revents, token] = readEpollEvent(buf, i);
      if (token === EVENTFD_TOKEN) {
        if (!drain) continue;
        this.#lib!.read(this.#efd, this.#drain, 8n);
        this.#woken = false;
        continue;
      }
      const entry = this.#entries.get(token);
      if (entry === undefined) continue;
      this.#fire(entry, revents);
    }
  }

  #fire(entry: PollEntry, revents: number): void {
    entry.armed = 0;
    const list = entry.waiters;
    let keep = 0;
    let mask = 0;
    for (let i = 0; i < list.length; i++) {
      const w = list[i];
      if (w.events !== 0 && (revents & (w.events | WAKE_ANY)) !== 0) {
        if (w.timer !== null) {
          clearTimeout(w.timer);
          w.timer = null;
        }
        if (--this.#waiting === 0 && this.#inFlight) {
          // Fired by a harvest while a call is in flight: as in drop(), the
          // last waiter settles once that call has returned, so no FFI call
          // is left pending behind it.
          this.#deferred.push({ waiter: w, ready: true, error: null });
          this.#wake();
        } else {
          if (w.held) this.#holding--;
          w.resolve(true);
        }
      } else {
        list[keep++] = w;
        mask |= w.events;
      }
    }
    list.length = keep;
    this.#refCall();
    if (mask !== 0) {
      const err = this.#arm(entry, mask);
      if (err !== 0) this.cancel(entry, new OSError(err));
    }
  }

  // The call in flight holds the process while a held waiter is pending or
  // deferred (a caller that must run once the call returns).
  #refCall(): void {
    const call = this.#call;
    const want = this.#holding > 0;
    if (call === null || want === this.#callHeld || core === null) return;
    this.#callHeld = want;
    if (want) core.refOpPromise(call);
    else core.unrefOpPromise(call);
  }

  #failAll(): void {
    const error = new OSError(
      "the libc poller failed: epoll_wait keeps failing",
    );
    for (const entry of [...this.#entries.values()]) this.cancel(entry, error);
  }
}

let shared: Poller | null = null;

/**
 * The process's shared poller, made on first use.
 *
 * @returns The poller.
 */
export function poller(): Poller {
  return shared ??= new Poller();
}

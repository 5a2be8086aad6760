// A kernel epoll of its own, for the readiness engine's kernel descriptors
// (libc sockets, or any descriptor a program passes to select()). It is
// asked synchronously (epoll_wait with timeout 0), and a wait parks on the
// shared poller, which sees this epoll descriptor turn readable.
import { errno, type Libc, libc, libcUsable, LINUX as L } from "./ffi.ts";
import {
  EPOLL_EVENT,
  type PollEntry,
  type Poller,
  poller,
  readEpollEvent,
  writeEpollEvent,
} from "./poller.ts";
import { OSError } from "../errors.ts";
import { POLLNVAL } from "../_poll_bits.ts";
import { HOST_LE } from "./sockaddr.ts";

const ENOENT = 2;
const EINTR = 4;
const EBADF = 9;
const EEXIST = 17;
const CANCELLED = Symbol("cancelled");

// Every open KernelEpoll watching a descriptor, so that closing a libc
// socket wakes a wait on it instead of leaving it to hang (the kernel drops
// a closed descriptor from epoll silently). Weakly: an epoll object dropped
// without close() is collected, and its descriptor closed (see `dropped`).
const watching = new Map<number, Set<WeakRef<KernelEpoll>>>();

// What a KernelEpoll owns: its descriptor, and its entry in the poller.
interface EpollHandle {
  epfd: number;
  entry: PollEntry | null;
  // What it watches (to forget it in `watching`), and itself, weakly.
  readonly fds: Map<number, number>;
  readonly ref: WeakRef<KernelEpoll>;
}

// A backstop for epoll objects dropped without close(), as for libc
// sockets: their descriptors would otherwise stay open, and the poller with
// them, for the life of the process.
let dropped: FinalizationRegistry<EpollHandle> | null = null;
// Let go of all `h` holds: its place in `watching`, its poller entry, its
// descriptor, its hold on the poller. Called by close(), or once collected.
function release(h: EpollHandle): void {
  for (const fd of h.fds.keys()) {
    const set = watching.get(fd);
    set?.delete(h.ref);
    if (set?.size === 0) watching.delete(fd);
  }
  h.fds.clear();
  const P = poller();
  if (h.entry !== null) P.cancel(h.entry, CANCELLED);
  h.entry = null;
  libc().close(h.epfd);
  h.epfd = -1;
  P.release();
}

/**
 * Tell the epolls watching `fd` that it is being closed: they report it
 * as POLLNVAL from then on.
 *
 * @param fd The descriptor.
 */
export function descriptorClosed(fd: number): void {
  const set = watching.get(fd);
  if (set === undefined) return;
  watching.delete(fd);
  for (const ep of set) ep.deref()?.closed(fd);
}

// Libc sockets holding bytes a stream gave back (LibcSocket.giveBack):
// readable whatever the kernel says, until those are taken.
const holding = new Set<number>();

/**
 * Say whether libc socket `fd` holds bytes given back to it: while it does,
 * every epoll watching it for EPOLLIN reports it readable, and pollNow()
 * leaves it to them.
 *
 * @param fd The descriptor.
 * @param holds Whether it holds such bytes.
 */
export function descriptorHolds(fd: number, holds: boolean): void {
  if (!holds) {
    holding.delete(fd);
    return;
  }
  holding.add(fd);
  for (const ep of watching.get(fd) ?? []) ep.deref()?.woken(fd);
}

/** One epoll descriptor and what it watches. */
export class KernelEpoll {
  readonly #C: Libc;
  readonly #P: Poller;
  readonly #h: EpollHandle;
  readonly #ref = new WeakRef(this);
  #waiting: Promise<unknown> | null = null;
  #pending = false;
  #buf = new Uint8Array(64 * EPOLL_EVENT.stride);
  readonly #ctl = new Uint8Array(EPOLL_EVENT.stride);
  // Each watched descriptor and its events.
  readonly #fds = new Map<number, number>();
  readonly #gone = new Set<number>();
  #onGone: (() => void) | null = null;
  // Held descriptors (see descriptorHolds) an edge-triggered or one-shot
  // registration has reported; whose turn comes first in now().
  readonly #heldSeen = new Set<number>();
  #heldFirst = false;

  /**
   * Open an epoll descriptor (close-on-exec).
   *
   * @throws {PermissionError} Without `--allow-ffi`.
   */
  constructor() {
    this.#C = libc();
    this.#P = poller();
    const epfd = this.#C.epoll_create1(L.EPOLL_CLOEXEC);
    if (epfd < 0) throw new OSError(errno());
    this.#h = { epfd, entry: null, fds: this.#fds, ref: this.#ref };
    this.#P.retain();
    (dropped ??= new FinalizationRegistry(release)).register(
      this,
      this.#h,
      this.#h,
    );
  }

  /** The epoll descriptor. */
  get fd(): number {
    return this.#h.epfd;
  }

  /**
   * Add or change `fd` with the EPOLL* `events` (EPOLLET, EPOLLONESHOT pass
   * through).
   *
   * @throws {OSError} What epoll_ctl says: EBADF, EPERM (not pollable).
   */
  set(fd: number, events: number): void {
    // epoll_create1() took the lowest free number: a descriptor with the
    // same number was closed before it (epoll_ctl would say EINVAL).
    if (fd === this.#h.epfd) throw new OSError(EBADF);
    writeEpollEvent(this.#ctl, 0, events, fd);
    let op = this.#fds.has(fd) ? L.EPOLL_CTL_MOD : L.EPOLL_CTL_ADD;
    for (let attempt = 0;; attempt++) {
      if (this.#C.epoll_ctl(this.#h.epfd, op, fd, this.#ctl) === 0) break;
      const e = errno();
      if (attempt > 0 || (e !== ENOENT && e !== EEXIST)) throw new OSError(e);
      op = e === ENOENT ? L.EPOLL_CTL_ADD : L.EPOLL_CTL_MOD;
    }
    this.#fds.set(fd, events);
    this.#gone.delete(fd);
    this.#heldSeen.delete(fd);
    let set = watching.get(fd);
    if (set === undefined) watching.set(fd, set = new Set());
    set.add(this.#ref);
  }

  /** Stop watching `fd`; no error when it is closed already. */
  delete(fd: number): void {
    if (!this.#fds.delete(fd)) return;
    this.#gone.delete(fd);
    this.#heldSeen.delete(fd);
    watching.get(fd)?.delete(this.#ref);
    this.#C.epoll_ctl(this.#h.epfd, L.EPOLL_CTL_DEL, fd, this.#ctl);
  }

  /**
   * Whether watched `fd` was closed since (see {@linkcode descriptorClosed}).
   *
   * @param fd The descriptor.
   */
  closedSince(fd: number): boolean {
    return this.#gone.has(fd);
  }

  /** How many descriptors are watched. */
  get size(): number {
    return this.#fds.size;
  }

  /**
   * The EPOLL* events `fd` is watched for (EPOLLET, EPOLLONESHOT included).
   *
   * @param fd The descriptor.
   * @returns Its events; undefined when it is not watched.
   */
  events(fd: number): number | undefined {
    return this.#fds.get(fd);
  }

  /** Called by {@linkcode descriptorClosed}. */
  closed(fd: number): void {
    if (!this.#fds.has(fd)) return;
    // Out of the kernel's set while the number still names it: a copy of
    // the descriptor (dup, a child's) would keep it there, reported under
    // a number that is closed or names something else by then.
    this.#C.epoll_ctl(this.#h.epfd, L.EPOLL_CTL_DEL, fd, this.#ctl);
    this.#gone.add(fd);
    this.#onGone?.();
  }

  /**
   * Called by {@linkcode descriptorHolds}: new bytes were given back to
   * `fd` (an edge, for EPOLLET), and a wait looks again.
   */
  woken(fd: number): void {
    const events = this.#fds.get(fd);
    if (events !== undefined && (events & L.EPOLLONESHOT) === 0) {
      this.#heldSeen.delete(fd);
    }
    this.#onGone?.();
  }

  // Watched descriptors that hold given-back bytes, want EPOLLIN, and are
  // not edge-triggered or one-shot ones reported already.
  *#held(): Generator<number> {
    for (const fd of holding) {
      const events = this.#fds.get(fd);
      if (
        events !== undefined && (events & L.EPOLLIN) !== 0 &&
        !this.#heldSeen.has(fd)
      ) yield fd;
    }
  }

  // `fd` reported for its given-back bytes: an edge-triggered or one-shot
  // registration says so once (a one-shot one is disarmed in the kernel
  // too, as its own report would have done).
  #reported(fd: number): void {
    const events = this.#fds.get(fd)!;
    if ((events & (L.EPOLLET | L.EPOLLONESHOT)) === 0) return;
    this.#heldSeen.add(fd);
    if (events & L.EPOLLONESHOT) {
      writeEpollEvent(this.#ctl, 0, L.EPOLLONESHOT, fd);
      this.#C.epoll_ctl(this.#h.epfd, L.EPOLL_CTL_MOD, fd, this.#ctl);
    }
  }

  // `fd`'s readiness as the kernel has it now, for the events it is
  // watched for, with EPOLLIN for its given-back bytes.
  #heldEvents(fd: number): number {
    const want = this.#fds.get(fd)! & 0xffff;
    const now = pollNow(new Map([[fd, want]]), true);
    return L.EPOLLIN | (now?.[0]?.[1] ?? 0);
  }

  // Up to `cap` events from the kernel, each merged into an entry for the
  // same descriptor already in `out` from `from` on.
  #kernelNow(cap: number, out: [number, number][], from: number): void {
    if (cap <= 0) return;
    if (this.#buf.length < cap * EPOLL_EVENT.stride) {
      this.#buf = new Uint8Array(cap * EPOLL_EVENT.stride);
    }
    const n = this.#C.epoll_wait_now(this.#h.epfd, this.#buf, cap, 0);
    // The kernel names a descriptor once per call: only the entries that
    // were there before it (given-back bytes) can share one.
    const end = out.length;
    for (let i = 0; i < n; i++) {
      const [revents, fd] = readEpollEvent(this.#buf, i);
      let j = from;
      while (j < end && out[j][0] !== fd) j++;
      if (j < end) out[j][1] |= revents;
      else out.push([fd, revents]);
    }
  }

  /**
   * What is ready now, without waiting: `[fd, revents]`, at most `max`.
   *
   * @param max The most results.
   * @param out Where to append them.
   */
  now(max: number, out: [number, number][]): void {
    for (const fd of this.#gone) {
      if (max-- <= 0) return;
      out.push([fd, POLLNVAL]);
    }
    const cap = Math.min(max, 4096);
    if (cap <= 0) return;
    const start = out.length;
    const held = holding.size === 0 ? [] : [...this.#held()];
    if (held.length === 0) {
      this.#kernelNow(cap, out, start);
      return;
    }
    // Descriptors with given-back bytes are readable whatever the kernel
    // says. They and the kernel's take turns at the first places, so that
    // neither starves the other when `max` is small.
    this.#heldFirst = !this.#heldFirst;
    if (!this.#heldFirst) this.#kernelNow(cap, out, start);
    for (const fd of held) {
      let j = start;
      while (j < out.length && out[j][0] !== fd) j++;
      if (j < out.length) out[j][1] |= L.EPOLLIN;
      else if (out.length - start < cap) out.push([fd, this.#heldEvents(fd)]);
      else continue;
      this.#reported(fd);
    }
    if (this.#heldFirst) {
      this.#kernelNow(cap - (out.length - start), out, start);
    }
  }

  /**
   * Resolve when something may be ready (the epoll descriptor is readable,
   * or a watched descriptor was closed); `cancel()` ends it early.
   */
  async ready(): Promise<void> {
    if (
      this.#gone.size > 0 || (holding.size > 0 && !this.#held().next().done)
    ) return;
    const entry = this.#h.entry ??= this.#P.entry(this.#h.epfd);
    const gone = new Promise<void>((resolve) => this.#onGone = resolve);
    const waiting = this.#P.wait(entry, L.EPOLLIN, null);
    this.#pending = true;
    this.#waiting = waiting.then(
      () => this.#pending = false,
      () => this.#pending = false,
    );
    try {
      await Promise.race([waiting, gone]);
    } catch (e) {
      if (e !== CANCELLED) throw e;
    } finally {
      this.#onGone = null;
    }
  }

  /**
   * End a pending {@linkcode KernelEpoll.ready} (it resolves).
   *
   * @returns A promise that settles once the poller has let go of the wait
   *   (its epoll_wait in flight has returned), so nothing is left running.
   */
  cancel(): Promise<unknown> {
    const waiting = this.#waiting;
    this.#waiting = null;
    this.#onGone?.();
    // A wait that already ended leaves the entry in the poller for the next
    // one (re-armed with one epoll_ctl, not removed and added again).
    if (!this.#pending) return Promise.resolve();
    this.#forget();
    return waiting ?? Promise.resolve();
  }

  #forget(): void {
    const entry = this.#h.entry;
    if (entry === null) return;
    this.#h.entry = null;
    this.#P.cancel(entry, CANCELLED);
  }

  /** Close the epoll descriptor. Idempotent. */
  close(): void {
    if (this.#h.epfd < 0) return;
    dropped?.unregister(this.#h);
    this.cancel();
    release(this.#h);
  }
}

/**
 * What poll(2) says of `wanted` (descriptor to POLL* events) right now, in
 * one syscall: `[fd, revents]` for each descriptor with something to
 * report. null when libc cannot be used here or poll(2) says a descriptor
 * is not open (POLLNVAL): the caller then goes the long way, which reports
 * that as its callers expect.
 *
 * @param wanted The kernel descriptors and the events wanted of each.
 * @param kernelOnly Ask the kernel even of descriptors holding given-back
 *   bytes (see descriptorHolds), which otherwise make it answer null.
 */
export function pollNow(
  wanted: Map<number, number>,
  kernelOnly = false,
): [number, number][] | null {
  if (!libcUsable()) return null;
  if (holding.size > 0 && !kernelOnly) {
    for (const fd of holding) if (wanted.has(fd)) return null;
  }
  const C = libc();
  const n = wanted.size;
  // struct pollfd: int fd; short events; short revents.
  const buf = new Uint8Array(n * 8);
  const view = new DataView(buf.buffer);
  let i = 0;
  for (const [fd, events] of wanted) {
    view.setInt32(i * 8, fd, HOST_LE);
    view.setInt16(i * 8 + 4, events, HOST_LE);
    i++;
  }
  for (;;) {
    if (C.poll(buf, BigInt(n), 0) >= 0) break;
    if (errno() !== EINTR) return null;
  }
  const out: [number, number][] = [];
  for (let j = 0; j < n; j++) {
    const revents = view.getUint16(j * 8 + 6, HOST_LE);
    if (revents & POLLNVAL) return null;
    if (revents !== 0) out.push([view.getInt32(j * 8, HOST_LE), revents]);
  }
  return out;
}

/**
 * Whether `fd` is an open kernel descriptor; null when libc cannot say
 * (no `--allow-ffi`).
 *
 * @param fd The descriptor.
 */
export function kernelFdOpen(fd: number): boolean | null {
  if (!libcUsable()) return null;
  return libc().fcntl(fd, L.F_GETFD, 0) >= 0;
}

// The readiness engine under select.ts and selectors.ts: one set of
// descriptors with the poll(2) events wanted for each, waited on together.
//
// Descriptors come from fileno(): a Deno-backend socket's pseudo number is
// looked up in the Deno backend's registry and asked for its readiness (it
// keeps a read or accept in flight so it knows); any other number is a
// kernel descriptor, watched by a kernel epoll of the engine's own (libc).
// Both kinds mix in one wait.
import { errno as E } from "./constants.ts";
import { OSError } from "./errors.ts";
import {
  type DenoReadiness,
  denoSocket,
  PSEUDO_FD_BASE,
} from "./_deno/common.ts";
import { KernelEpoll, kernelFdOpen, pollNow } from "./_libc/epoll.ts";
import {
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLRDNORM,
  POLLWRBAND,
  POLLWRNORM,
} from "./_poll_bits.ts";
import {
  closeOwed,
  Deadline,
  longTimeout,
  loopTurnDue,
  loopTurned,
  MAX_TIMER,
  opsMark,
  pace,
  preloadFor,
  spentSince,
  turnLoop,
  turnOwed,
} from "./_wait.ts";

/**
 * Anything select(), poll, epoll and the selectors take: a number, an object
 * with fileno(), or `Deno.stdin`, `Deno.stdout` or `Deno.stderr` (Python's
 * `sys.stdin` and friends, which have no fileno() in Deno).
 */
export type FileDescriptorLike =
  | number
  | { fileno(): number }
  | typeof Deno.stdin
  | typeof Deno.stdout
  | typeof Deno.stderr;

/**
 * The descriptor of `Deno.stdin` (0), `Deno.stdout` (1) or `Deno.stderr`
 * (2); `undefined` for anything else.
 */
export function stdioFd(o: unknown): number | undefined {
  if (typeof o !== "object" || o === null) return undefined;
  if (o === Deno.stdin) return 0;
  if (o === Deno.stdout) return 1;
  if (o === Deno.stderr) return 2;
  return undefined;
}

/** Options of {@linkcode Readiness.wait}. */
export interface WaitOptions {
  /** At most this many results; `-1` or omitted: all. */
  maxevents?: number | undefined;
  /** Aborting rejects the wait with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/** epoll's edge-triggered and one-shot bits (EPOLLET is bit 31). */
const EPOLLET = 2 ** 31;
const EPOLLONESHOT = 1 << 30;
const ALWAYS = POLLERR | POLLHUP | POLLNVAL;
// The most turns one answer makes while each completes a whole budget of
// Deno's ops (see #turnAndLook): 1,024 sockets ready at once.
const BUDGET_TURNS = 8;
// What poll(2) reports of a file with no readiness of its own (a regular
// file, /dev/null): its reads and writes never wait.
const FILE_READY = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

interface DenoEntry {
  readonly sock: DenoReadiness;
  events: number;
  readonly unwatch: () => void;
  // Edge-triggered: a change it watches came since it was last looked at
  // (Linux's epitem on the ready list): the next look reports what holds.
  pending: boolean;
}

/** Options of {@linkcode Readiness}. */
export interface ReadinessOptions {
  /**
   * Whether a descriptor that the kernel's epoll refuses as having no
   * readiness (a regular file, /dev/null: EPERM) is watched as poll(2) and
   * select(2) see it, always ready to read and write. Without it, the EPERM
   * is raised, as by Linux's epoll_ctl (`select.epoll`).
   */
  readonly filesReady?: boolean;
}

// A set dropped without close() stops watching its Deno sockets once it is
// collected (their watchers hold it only weakly).
const dropped = new FinalizationRegistry((deno: Map<number, DenoEntry>) => {
  for (const entry of deno.values()) entry.unwatch();
});

/**
 * A set of descriptors and the events wanted for each, waited on together:
 * what select(), poll(), epoll() and every selector are built on.
 * Level-triggered; `EPOLLET` / `EPOLLONESHOT` bits pass through to the
 * kernel for kernel descriptors, and ONESHOT is honoured for Deno sockets.
 */
export class Readiness {
  #closed = false;
  readonly #deno = new Map<number, DenoEntry>();
  readonly #self = new WeakRef(this);
  // Deno sockets to ask at the next look: new, changed, or ready last time
  // (level-triggered: still ready until asked again).
  readonly #check = new Set<number>();
  readonly #fired = new Set<number>();
  #kernel: KernelEpoll | null = null;
  // How many Deno sockets the last look found ready for all they want.
  #denoFull = 0;
  readonly #wakers = new Set<() => void>();
  // Counts the Deno sockets' watchers' calls: something may have changed.
  #changes = 0;
  // Whether the kernel's descriptors came first at the last look.
  #turn = false;
  readonly #filesReady: boolean;
  // Descriptors with no readiness of their own (see ReadinessOptions).
  readonly #files = new Map<number, number>();

  /**
   * An empty set.
   *
   * @param options Whether files count as always ready.
   */
  constructor(options: ReadinessOptions = {}) {
    this.#filesReady = options.filesReady ?? false;
    preloadFor();
    dropped.register(this, this.#deno, this.#deno);
  }

  /**
   * Watch `fd` for `events` (POLL* bits; POLLERR, POLLHUP, POLLNVAL are
   * always reported), replacing what was watched before.
   *
   * @throws {OSError} EBADF when `fd` is neither a live Deno-backend socket
   *   nor an open kernel descriptor (libc); EBADF once closed.
   * @throws {PermissionError} A kernel descriptor without `--allow-ffi`.
   */
  set(fd: number, events: number): void {
    if (this.#closed) throw new OSError(E.EBADF);
    const entry = this.#deno.get(fd);
    if (entry !== undefined) {
      // Closed since it was added: EBADF, as epoll_ctl says.
      if (entry.sock.poll(0) & POLLNVAL) throw new OSError(E.EBADF);
      entry.events = events;
      entry.pending = true;
    } else {
      const sock = denoSocket(fd);
      if (sock !== null) {
        // Weakly: a set dropped without close() is collected (and its
        // kernel epoll closed), then stops watching (see `dropped`).
        const self = this.#self;
        const unwatch = sock.watch((key) => {
          const set = self.deref();
          if (set !== undefined) set.#changed(fd, key);
        });
        this.#deno.set(fd, { sock, events, unwatch, pending: true });
      } else {
        if (fd >= PSEUDO_FD_BASE) throw new OSError(E.EBADF);
        try {
          (this.#kernel ??= new KernelEpoll()).set(fd, events >>> 0);
        } catch (e) {
          if (
            !this.#filesReady || !(e instanceof OSError) || e.errno !== E.EPERM
          ) throw e;
          this.#files.set(fd, events);
        }
        // A wait asleep since before the kernel's epoll had a descriptor
        // is not watching it: it looks again.
        this.#wake();
        return;
      }
    }
    this.#fired.delete(fd);
    this.#check.add(fd);
    this.#wake();
  }

  // A Deno socket's watcher: something about `fd` may have changed, as
  // `key` says (see DenoReadiness.watch). As Linux's wakeup, a key that
  // holds an event the registration watches is an edge for it.
  #changed(fd: number, key: number): void {
    const entry = this.#deno.get(fd);
    if (entry !== undefined && (key & (entry.events | ALWAYS)) !== 0) {
      entry.pending = true;
    }
    this.#changes++;
    this.#check.add(fd);
    this.#wake();
  }

  // Every wait asleep looks again.
  #wake(): void {
    for (const wake of this.#wakers) wake();
  }

  /** Stop watching `fd` (no error when it was not watched). */
  delete(fd: number): void {
    const entry = this.#deno.get(fd);
    if (entry !== undefined) {
      entry.unwatch();
      this.#deno.delete(fd);
      this.#check.delete(fd);
      this.#fired.delete(fd);
    } else if (!this.#files.delete(fd)) {
      this.#kernel?.delete(fd);
    }
  }

  /**
   * Whether what `fd` named when it was watched has been closed since
   * (its number may name something else now).
   *
   * @param fd A watched descriptor.
   */
  closedSince(fd: number): boolean {
    const entry = this.#deno.get(fd);
    if (entry !== undefined) return (entry.sock.poll(0) & POLLNVAL) !== 0;
    if (this.#files.has(fd)) return kernelFdOpen(fd) === false;
    return this.#kernel?.closedSince(fd) ?? false;
  }

  /**
   * Wait until some watched descriptor is ready, or `timeoutMs` passes.
   *
   * @param timeoutMs Milliseconds; `null` waits; `0` only polls.
   * @returns `[fd, revents]` for each ready descriptor, in no set order;
   *   empty when the time ran out. A socket closed while watched reports
   *   POLLNVAL (never a silent hang).
   * @throws The signal's reason when it aborts.
   */
  async wait(
    timeoutMs: number | null,
    options: WaitOptions = {},
  ): Promise<[number, number][]> {
    const { maxevents = -1, signal } = options;
    signal?.throwIfAborted();
    if (this.#closed) throw new OSError(E.EBADF);
    // Counted as an answer at once (a wait that sleeps resets the count):
    // a loop that always finds a socket ready still lets timers run. What
    // they do meanwhile is seen as during a wait: an abort rejects, a close
    // ends the call with nothing.
    const paced = pace();
    if (paced !== undefined) {
      await paced;
      signal?.throwIfAborted();
      if (this.#closed) return [];
    }
    const max = maxevents > 0 ? maxevents : Infinity;
    const deadline = new Deadline(timeoutMs);
    for (;;) {
      const changes = this.#changes;
      let out = this.#look(max);
      // A look starts a read (or accept) on each Deno socket it finds idle;
      // where the bytes are already there, Deno completes it at once, a few
      // microtasks on. An answer given now waits for those, so that what
      // has arrived is reported, as the kernel would; so does a wait, which
      // would otherwise end on them without the loop having turned, and
      // count as a turn (see #sleep): a socket of this process that sent
      // to another then owed it none.
      if (this.#deno.size > 0) {
        // All of them: an accept takes a few microtasks more than a read.
        for (let i = 0; i < 8; i++) await null;
        if (this.#changes !== changes) out = this.#lookAgain(out, max);
      }
      // An answer given at once lets nothing else in the process run; a
      // caller that never waits must still see what other tasks send, and
      // Deno sockets whose reads complete only when the event loop turns:
      // what a socket of this process sent them since it last turned is
      // reported with what else is ready, as the kernel would.
      // Kernel descriptors owe a turn after a Deno socket's close (its FIN
      // goes when the loop turns); Deno sockets, what turnOwed() says.
      const kernelOwed = this.#kernel !== null && this.#kernel.size > 0 &&
        closeOwed();
      if (
        out.length > 0
          ? (this.#denoFull < this.#deno.size &&
            (loopTurnDue() || turnOwed())) || kernelOwed
          : timeoutMs === 0 &&
            (loopTurnDue() || (this.#deno.size > 0 && turnOwed()) ||
              kernelOwed)
      ) {
        out = await this.#turnAndLook(out, max);
      }
      if (out.length > 0 || timeoutMs === 0 || deadline.expired) return out;
      await this.#sleep(deadline.left(), signal);
      signal?.throwIfAborted();
      if (this.#closed) return [];
    }
  }

  // Turn the loop and look again; again while a turn completed a whole
  // budget of Deno's ops (more may be put off to the next), a few times at
  // most.
  async #turnAndLook(
    out: [number, number][],
    max: number,
  ): Promise<[number, number][]> {
    for (let turns = 0; turns < BUDGET_TURNS; turns++) {
      const mark = opsMark();
      await turnLoop();
      out = this.#lookAgain(out, max);
      if (!spentSince(mark) || this.#deno.size === 0 || out.length >= max) {
        break;
      }
    }
    return out;
  }

  // A look that replaces `first`, an answer not given yet. What `first`
  // reported of an edge-triggered or one-shot registration is not reported
  // again (its edge is spent, the kernel's too): it stays in the answer,
  // with what a Deno socket has gained since (a read that completed), and
  // the look fills only the places left under `max`.
  #lookAgain(first: [number, number][], max: number): [number, number][] {
    this.#unrotate(first);
    let kept: [number, number][] | null = null;
    for (const [fd, revents] of first) {
      if (!this.#edgeOnly(fd)) continue;
      const entry = this.#deno.get(fd);
      const now = entry === undefined ? 0 : Readiness.#denoNow(entry);
      (kept ??= []).push([fd, revents | now]);
    }
    if (kept === null) return this.#look(max);
    if (kept.length >= max) return kept;
    const at = new Map(kept.map((entry, i) => [entry[0], i]));
    for (const [fd, revents] of this.#look(max - kept.length)) {
      const i = at.get(fd);
      if (i !== undefined) kept[i][1] |= revents;
      else kept.push([fd, revents]);
    }
    return kept;
  }

  // `first`, an answer replaced before it was given, put what it reported
  // last (see #lookDeno): back first, so that the look that replaces it
  // finds them in the order the kernel's ready list would.
  #unrotate(first: [number, number][]): void {
    if (first.length === 0) return;
    const front = new Set<number>();
    for (const [fd] of first) if (this.#check.has(fd)) front.add(fd);
    if (front.size === 0) return;
    const rest = [...this.#check].filter((fd) => !front.has(fd));
    this.#check.clear();
    for (const fd of front) this.#check.add(fd);
    for (const fd of rest) this.#check.add(fd);
  }

  // The poll(2) events a Deno socket is watched for.
  static #wanted(entry: DenoEntry): number {
    return entry.events & ~(EPOLLET | EPOLLONESHOT);
  }

  // What a Deno socket's poll() says now of the events it is watched for.
  // As on Linux's sockets, POLLRDNORM comes with POLLIN and POLLWRNORM with
  // POLLOUT (the backend adds POLLWRBAND where Linux has it): asking for
  // one asks for the other.
  static #denoNow(entry: DenoEntry): number {
    const want = Readiness.#wanted(entry);
    const ask = want | (want & POLLRDNORM ? POLLIN : 0) |
      (want & (POLLWRNORM | POLLWRBAND) ? POLLOUT : 0);
    let now = entry.sock.poll(ask);
    if (now & POLLIN) now |= POLLRDNORM;
    if (now & POLLOUT) now |= POLLWRNORM;
    return now & (want | ALWAYS);
  }

  // Whether `fd` is watched edge-triggered or one-shot.
  #edgeOnly(fd: number): boolean {
    const events = this.#deno.get(fd)?.events ?? this.#kernel?.events(fd) ?? 0;
    return (events & (EPOLLET | EPOLLONESHOT)) !== 0;
  }

  // One look at everything, without waiting. When `max` cuts it short,
  // what was reported goes last the next time, and Deno sockets and kernel
  // descriptors take turns at the first places, so that none starves.
  #look(max: number): [number, number][] {
    const out: [number, number][] = [];
    this.#denoFull = 0;
    const kernel = this.#kernel;
    const kernelFirst = max !== Infinity && kernel !== null &&
      kernel.size > 0 && this.#deno.size > 0 && (this.#turn = !this.#turn);
    if (kernelFirst) kernel.now(max, out);
    if (this.#check.size > 0 && out.length < max) this.#lookDeno(max, out);
    if (
      !kernelFirst && kernel !== null && kernel.size > 0 && out.length < max
    ) {
      kernel.now(max - out.length, out);
    }
    if (this.#files.size > 0 && out.length < max) this.#lookFiles(max, out);
    return out;
  }

  // Files are always ready; one closed since reports POLLNVAL, as poll(2).
  #lookFiles(max: number, out: [number, number][]): void {
    for (const [fd, events] of this.#files) {
      if (out.length >= max) return;
      const revents = kernelFdOpen(fd) === false
        ? POLLNVAL
        : events & FILE_READY;
      if (revents !== 0) out.push([fd, revents]);
    }
  }

  #lookDeno(max: number, out: [number, number][]): void {
    let last = -1;
    for (const fd of this.#check) {
      if (out.length >= max) {
        last = fd;
        break;
      }
      const entry = this.#deno.get(fd);
      if (entry === undefined || this.#fired.has(fd)) {
        this.#check.delete(fd);
        continue;
      }
      const revents = Readiness.#denoNow(entry);
      // Edge-triggered, it reports only after a change it watches; looked
      // at, that edge is spent, reported or not, as Linux's.
      const edge = (entry.events & EPOLLET) === 0 || entry.pending;
      entry.pending = false;
      if (revents === 0 || !edge) {
        // Not ready (or no new edge): its watcher puts it back when that
        // may change.
        this.#check.delete(fd);
        continue;
      }
      out.push([fd, revents]);
      const want = Readiness.#wanted(entry);
      if ((revents & want) === want) this.#denoFull++;
      if (entry.events & (EPOLLONESHOT | EPOLLET)) {
        this.#check.delete(fd);
        if (entry.events & EPOLLONESHOT) this.#fired.add(fd);
      }
    }
    if (last < 0) return;
    // Cut short: those reported go after the rest.
    for (const [fd] of out) {
      if (this.#check.delete(fd)) this.#check.add(fd);
    }
  }

  #sleep(ms: number | null, signal: AbortSignal | undefined): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakers.add(resolve);
    // A timer holds the process while this waits, as a blocked call would;
    // the Deno sockets' reads in flight hold nothing.
    const cancelTimer = longTimeout(resolve, ms ?? MAX_TIMER);
    const onAbort = () => resolve();
    signal?.addEventListener("abort", onAbort, { once: true });
    const kernel = this.#kernel;
    if (kernel !== null && kernel.size > 0) {
      kernel.ready().then(resolve, resolve);
    }
    return promise.finally(() => {
      loopTurned();
      this.#wakers.delete(resolve);
      cancelTimer();
      signal?.removeEventListener("abort", onAbort);
      // Settles once the shared poller's call in flight is back: a wait
      // that ends leaves nothing running.
      return kernel?.cancel();
    });
  }

  /** Release the engine's resources (its kernel epoll descriptor). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    dropped.unregister(this.#deno);
    for (const entry of this.#deno.values()) entry.unwatch();
    this.#deno.clear();
    this.#check.clear();
    this.#files.clear();
    this.#kernel?.close();
    this.#kernel = null;
    this.#wake();
  }

  /** Whether {@linkcode Readiness.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }
}

/**
 * What is ready now among `wanted` (descriptor to POLL* events) in one
 * poll(2), when every descriptor is a kernel one; null when that cannot
 * answer (a Deno-backend socket among them, no libc, a descriptor that is
 * not open): a {@linkcode Readiness} then does, with the errors it raises.
 *
 * @param wanted The descriptors and the events wanted of each.
 * @returns `[fd, revents]` for each descriptor with something to report.
 */
export function pollKernelNow(
  wanted: Map<number, number>,
): [number, number][] | null {
  if (wanted.size === 0) return null;
  for (const fd of wanted.keys()) if (fd >= PSEUDO_FD_BASE) return null;
  return pollNow(wanted);
}

/**
 * Whether `fd` names something open: a live Deno-backend socket, or an open
 * kernel descriptor (assumed open where libc cannot say). epoll_ctl checks
 * this before it looks for a registration: EBADF, not ENOENT.
 *
 * @param fd The descriptor number.
 */
export function descriptorOpen(fd: number): boolean {
  if (fd >= PSEUDO_FD_BASE) return denoSocket(fd) !== null;
  return kernelFdOpen(fd) ?? true;
}

// How long one backend call may wait, and what it raises when it cannot:
// the one place for deadline arithmetic, the timeout/non-blocking errors and
// timers longer than setTimeout() takes.
import { errno as E } from "./constants.ts";
import { BlockingIOError, OSError, TimeoutError } from "./errors.ts";
import { throwIfAborted } from "./_args.ts";

/**
 * How long one backend call may wait for readiness: `null` forever, `0` not
 * at all (non-blocking), otherwise milliseconds (> 0).
 */
export type Wait = number | null;

/**
 * One deadline for a call that waits more than once (sendall, accept past
 * dead clients, MSG_WAITALL, a libc retry loop): what is left of the
 * caller's wait at each step.
 */
export class Deadline {
  /** The wait the call was given; its kind decides the error on expiry. */
  readonly wait: Wait;
  readonly #at: number;

  /**
   * Start the clock.
   *
   * @param wait The caller's wait.
   */
  constructor(wait: Wait) {
    this.wait = wait;
    this.#at = wait === null || wait === 0 ? 0 : performance.now() + wait;
  }

  /**
   * The wait left: `null` (forever), `0` (non-blocking, or no time left:
   * one last look), or milliseconds.
   */
  left(): Wait {
    const w = this.wait;
    if (w === null || w === 0) return w;
    // A bounded wait stays one once run out (not 0, "non-blocking"): the
    // call still makes its attempt, and fails as a timeout, as CPython's
    // poll() with the time left finds a socket that is ready.
    return Math.max(Number.MIN_VALUE, this.#at - performance.now());
  }

  /** Whether a bounded wait has run out (never for `null` or `0`). */
  get expired(): boolean {
    const w = this.wait;
    return w !== null && w !== 0 && performance.now() >= this.#at;
  }

  /** The error for this call's wait running out ({@linkcode waitExpired}). */
  error(errno: number = E.EAGAIN): OSError {
    return waitExpired(this.wait, errno);
  }
}

/**
 * The error for a wait that ran out: BlockingIOError (EAGAIN, or `errno` such
 * as EINPROGRESS) when the call was not to wait, else Python's
 * `TimeoutError("timed out")`.
 */
export function waitExpired(wait: Wait, errno: number = E.EAGAIN): OSError {
  return wait === 0
    ? new BlockingIOError(errno)
    : new TimeoutError("timed out");
}

/** A socket that is closed, or closed under a pending call: OSError(EBADF). */
export function badFd(): OSError {
  return new OSError(E.EBADF);
}

/** What {@linkcode raceWait} resolves with when the wait ran out. */
export const EXPIRED: unique symbol = Symbol("expired");

// What is known of a promise that calls wait on: one reaction on it however
// many calls wait, each listener taken back when its call stops waiting. A
// long-lived promise (a read kept in flight while calls time out, are
// aborted or find nothing, again and again) would otherwise gather a
// reaction per call, as Promise.race leaves one, and grow the heap without
// bound.
interface Watch {
  settled: boolean;
  ok: boolean;
  outcome: unknown;
  // Made when the first call waits (a non-blocking look only reads
  // `settled`).
  listeners: Set<() => void> | null;
}

// Kept on the promise itself: as cheap as the reaction a call used to add
// (a WeakMap costs about 0.3 µs more per promise, on every send's look).
const WATCH: unique symbol = Symbol("watch");

function watch(p: Promise<unknown>): Watch {
  const held = p as Promise<unknown> & { [WATCH]?: Watch };
  let w = held[WATCH];
  if (w === undefined) {
    const state: Watch = {
      settled: false,
      ok: false,
      outcome: undefined,
      listeners: null,
    };
    const settle = (ok: boolean, outcome: unknown) => {
      state.settled = true;
      state.ok = ok;
      state.outcome = outcome;
      const listeners = state.listeners;
      if (listeners === null) return;
      for (const listener of listeners) listener();
      listeners.clear();
    };
    p.then((v) => settle(true, v), (e) => settle(false, e));
    held[WATCH] = w = state;
  }
  return w;
}

/**
 * Whether `p` settles within a few microtask turns: how a non-blocking call
 * sees what is already in the kernel (Deno settles a read, accept or
 * receive whose data is there in about two turns), with no timer. Asked
 * again and again of one pending promise, it adds nothing to it.
 */
export async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  const w = watch(p);
  for (let i = 0; i < 8 && !w.settled; i++) await null;
  return w.settled;
}

// How late a timer fires, in ms, for raceWait to look once more.
const LATE_MS = 5;

/** What {@linkcode raceWait} resolves with when `wake` settled first. */
export const WOKEN: unique symbol = Symbol("woken");

/**
 * Race `promise` against `wait` and `signal`. Resolves with the promise's
 * value, or with `EXPIRED` when the wait ran out or the signal aborted
 * first, or with `WOKEN` when `wake` settled first. The promise is left
 * running: the caller keeps it so that nothing it later yields is lost. A
 * call that stops waiting leaves nothing on `promise` or `wake`, which may
 * be waited on for ever. Wait 0 allows one turn of the event loop, so a
 * result that is already there is taken. `held`: whether the wait's timer
 * holds the process (a daemon socket's does not).
 */
export function raceWait<T>(
  promise: Promise<T>,
  wait: Wait,
  signal?: AbortSignal,
  wake?: undefined,
  held?: boolean,
): Promise<T | typeof EXPIRED>;
export function raceWait<T>(
  promise: Promise<T>,
  wait: Wait,
  signal: AbortSignal | undefined,
  wake: Promise<unknown>,
  held?: boolean,
): Promise<T | typeof EXPIRED | typeof WOKEN>;
export function raceWait<T>(
  promise: Promise<T>,
  wait: Wait,
  signal?: AbortSignal,
  wake?: Promise<unknown>,
  held = true,
): Promise<T | typeof EXPIRED | typeof WOKEN> {
  if (wait === null && signal === undefined && wake === undefined) {
    return promise;
  }
  return new Promise((resolve, reject) => {
    const w = watch(promise);
    const woken = wake === undefined ? null : watch(wake);
    let over = false;
    let cancelTimer: (() => void) | null = null;
    const end = (): boolean => {
      if (over) return false;
      over = true;
      cancelTimer?.();
      signal?.removeEventListener("abort", expire);
      w.listeners?.delete(settled);
      woken?.listeners?.delete(wakeUp);
      return true;
    };
    const settled = () => {
      if (!end()) return;
      if (w.ok) resolve(w.outcome as T);
      else reject(w.outcome);
    };
    const expire = () => end() && resolve(EXPIRED);
    const wakeUp = () => end() && resolve(WOKEN);
    // Already known: taken at once. Otherwise the promise, then `wake`,
    // then an abort already signalled, in that order as Promise.race would
    // see them.
    if (w.settled) return settled();
    (w.listeners ??= new Set()).add(settled);
    if (woken !== null) {
      if (woken.settled) return wakeUp();
      (woken.listeners ??= new Set()).add(wakeUp);
    }
    if (signal?.aborted) {
      queueMicrotask(expire);
      return;
    }
    signal?.addEventListener("abort", expire, { once: true });
    if (wait === null) return;
    if (wait === 0) {
      cancelTimer = longTimeout(expire, 0, held);
      return;
    }
    // Run out: a timer that fires late (the process did not run for a
    // while) may have the promise's I/O due with it, and fire first. As
    // CPython's poll() looks once more at its end, the loop turns once more
    // before the wait fails; a timer on time costs nothing more.
    const due = performance.now() + wait;
    const late = () => {
      if (over) return;
      if (performance.now() - due < LATE_MS) expire();
      else turnLoop().then(expire);
    };
    cancelTimer = longTimeout(late, wait, held);
  });
}

/**
 * What `start()` gives, or a rejection with `signal.reason` as soon as the
 * signal aborts; an already-aborted signal rejects without starting. For
 * waits that nothing can cancel, such as a name lookup: work under way goes
 * on and its result is dropped.
 */
export async function abortable<T>(
  start: () => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  throwIfAborted(signal);
  if (!signal) return await start();
  const r = await raceWait(start(), null, signal);
  if (r === EXPIRED) throw signal.reason;
  return r;
}

/** The longest delay one timer takes (2^31-1 ms, about 24.8 days). */
export const MAX_TIMER = 0x7fffffff;

/**
 * setTimeout() for any delay: a longer one than {@linkcode MAX_TIMER} would
 * fire at once, so it is re-armed in steps. Returns the canceller. Unless
 * `held`, the timer does not keep the process running (Deno.unrefTimer).
 */
export function longTimeout(
  fn: () => void,
  ms: number,
  held = true,
): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    timer = left > MAX_TIMER
      ? setTimeout(() => arm(left - MAX_TIMER), MAX_TIMER)
      : setTimeout(fn, left);
    if (!held) Deno.unrefTimer(timer);
  };
  // Deno rounds a fractional delay down: round up, so no wait ends early.
  arm(Math.ceil(ms));
  return () => clearTimeout(timer);
}

// A call answered at once ("would block", or a zero-timeout look) never
// lets Deno's event loop turn: only microtasks run between such calls. A
// program that polls and never waits would then starve everything else in
// the process: its timers, the task that would send it data, and on the
// Deno backend the completion of reads kept in flight, where CPython's
// kernel and threads would go on. So after TURN_EVERY such answers with no
// real wait between (a readiness wait that slept counts as one), and at
// least TURN_AFTER_MS after the first of them, the caller makes the loop
// turn (turnLoop()), so that a busy poller's turns stay a small share of
// its calls, and a server whose select() sleeps between rounds never pays
// for them.
const TURN_EVERY = 64;
const TURN_AFTER_MS = 2;
let answers = 0;
let since = 0;

// Deno's runtime (tokio) completes at most 128 reads, writes and accepts in
// one turn of its loop (its cooperative budget) and puts the rest off until
// it next polls the kernel: once that many completed since the loop last
// turned, what a socket has may not be reported yet, and a look or a call
// that would say "nothing" turns the loop first (see turnOwed). Counted a
// little short of 128: other ops of the program's spend the budget too.
const OP_BUDGET = 120;
let opsDone = 0;
let opsDoneAtTurn = 0;

function countOp(): void {
  opsDone++;
}

/**
 * Count a Deno op toward the budget of the loop's turn once it settles.
 *
 * @param op The op's promise.
 * @returns `op`.
 */
export function budgeted<T>(op: Promise<T>): Promise<T> {
  op.then(countOp, countOp);
  return op;
}

/**
 * Whether the ops completed since the event loop last turned (as far as
 * this module knows) may have spent Deno's budget for the turn, so that
 * some were put off until the loop polls the kernel ({@linkcode turnLoop}).
 *
 * @returns Whether the budget may be spent.
 */
export function budgetSpent(): boolean {
  return spentSince(opsDoneAtTurn);
}

/**
 * How many Deno ops have completed in all (see {@linkcode budgeted}): a
 * mark for {@linkcode spentSince}.
 *
 * @returns The count.
 */
export function opsMark(): number {
  return opsDone;
}

/**
 * Whether a turn's budget of Deno ops completed since `mark`, so that more
 * may have been put off to the next poll of the kernel.
 *
 * @param mark What {@linkcode opsMark} returned.
 * @returns Whether the budget was spent.
 */
export function spentSince(mark: number): boolean {
  return opsDone - mark >= OP_BUDGET;
}

/** Note that a wait slept: Deno's event loop has turned. */
export function loopTurned(): void {
  opsDoneAtTurn = opsDone;
  answers = 0;
  paced = 0;
  stirred = false;
  if (closing > 0) closing--;
  polled = true;
}

// A call answered at once with data does not let the loop turn either: a
// libc recv() loop over a bulk transfer, or a select() that always finds a
// socket ready, would hold back every timer (AbortSignal.timeout too) for as
// long as data comes (a 10 ms timer fired after 480 ms). So after PACE_MS of
// such answers with no wait between, the caller yields once to the loop with
// an immediate: a few microseconds, and the timers that are due run.
const PACE_EVERY = 32;
const PACE_MS = 5;
let paced = 0;
let pacedSince = 0;
// node:timers' setImmediate, once loaded.
let immediate: ((callback: () => void) => unknown) | null = null;

/**
 * Count an answer given at once with data (or a readiness look that found
 * some): {@linkcode loopTurnDue}'s rule for answers that are not "would
 * block".
 *
 * @returns A promise to await before answering when timers are due a turn,
 *   else `undefined` (no await, no cost).
 */
export function pace(): Promise<void> | undefined {
  if (paced++ === 0) {
    pacedSince = performance.now();
    return undefined;
  }
  if (paced % PACE_EVERY !== 0) return undefined;
  if (performance.now() - pacedSince < PACE_MS) return undefined;
  paced = 0;
  const next = immediate;
  if (next !== null) return new Promise((resolve) => next(resolve));
  return loadImmediate().then((next) =>
    new Promise((resolve) => next(resolve))
  );
}

// node:timers' setImmediate, loaded the first time it is needed, or in the
// background once something will turn the loop (see preloadFor): a static import
// would add about 10 ms to every importer's start-up.
let loading: Promise<(callback: () => void) => unknown> | null = null;

function loadImmediate(): Promise<(callback: () => void) => unknown> {
  return loading ??= importImmediate();
}

/**
 * Start loading what {@linkcode turnLoop} needs, without waiting for it,
 * once something will turn the loop: a non-blocking socket (`timeout` 0),
 * or a readiness set (any timeout). The import takes about 10 ms, which
 * the first non-blocking call that finds nothing would otherwise spend
 * before its `BlockingIOError`; programs that only block do not pay it.
 *
 * @param timeout A socket's new timeout; omitted: a readiness set's.
 */
export function preloadFor(timeout: Wait = 0): void {
  if (timeout === 0 && immediate === null) void loadImmediate();
}

/**
 * Whether {@linkcode turnLoop}'s immediate is loaded (for tests).
 *
 * @returns Whether it is.
 */
export function immediateLoaded(): boolean {
  return immediate !== null;
}

async function importImmediate(): Promise<(callback: () => void) => unknown> {
  try {
    const { setImmediate } = await import("node:timers");
    return immediate = setImmediate;
  } catch {
    // No node:timers here: a timer yields, and turns the loop in one go.
    ticksPerPoll = 1;
    return immediate = (callback) => setTimeout(callback, 0);
  }
}

/**
 * Count an answer given at once with no wait.
 *
 * @returns Whether the caller should now {@linkcode turnLoop} before it
 *   answers (or looks again).
 */
export function loopTurnDue(): boolean {
  if (answers++ === 0) since = performance.now();
  return answers >= TURN_EVERY && performance.now() - since >= TURN_AFTER_MS;
}

// A socket of this process sent, connected, shut down or closed since the
// event loop last turned: a Deno-backend socket here may now have bytes, a
// connection or EOF that the kernel holds and Deno reports only once the
// loop turns. A non-blocking call on one that finds nothing then turns the
// loop once (about 0.1 ms) rather than say "would block" of what is there, as
// Python's would not; with no such call since, it answers in microseconds.
let stirred = false;

/** Note a call that may make another socket of this process ready. */
export function stir(): void {
  stirred = true;
}

// Turns of the loop a Deno-backend socket's close() still owes: Deno
// closes it in the kernel only once its calls in flight (a read, an
// accept) have ended, which can be the turn after the one that ends them;
// a libc peer of this process sees the EOF only then. A look at kernel
// descriptors alone, or a libc call, that finds nothing turns the loop for
// it, and a send or connect waits for them (closeFirst).
const CLOSE_TURNS = 2;
let closing = 0;

/** Note a Deno-backend socket's close (see {@linkcode closeOwed}). */
export function stirClose(): void {
  closing = CLOSE_TURNS;
}

/**
 * Whether a Deno-backend socket's close may not have reached the kernel
 * yet: the loop has not turned twice since.
 *
 * @returns Whether a look that finds nothing owes a turn for it.
 */
export function closeOwed(): boolean {
  return closing > 0;
}

/**
 * A send or connect that may be toward a socket of this process: when a
 * Deno-backend socket's close may not have reached the kernel yet (see
 * {@linkcode closeOwed}), the loop turns until it has, so that the call
 * meets the close as Python's would (EPIPE, a reset, a refused connect)
 * rather than a socket the kernel still holds open.
 *
 * @returns A promise to await first, or `undefined` (no await, no cost).
 */
export function closeFirst(): Promise<void> | undefined {
  return closing > 0 ? closeTurns() : undefined;
}

async function closeTurns(): Promise<void> {
  for (let i = 0; i < CLOSE_TURNS && closing > 0; i++) await turnLoop();
}

// Bytes another process sends reach a Deno-backend socket only when the
// event loop polls for I/O. A program that does synchronous work between
// its non-blocking calls (a game loop's select(0) once a frame) keeps the
// loop from turning: it would be told "would block" for as long as it has
// made fewer than TURN_EVERY calls, where Python's sees the bytes. So once
// nothing has shown for POLL_LATEST_MS that the loop polled (no wait slept,
// no turn was made, no Deno socket's read, accept, connect or receive
// completed), a call on a Deno socket that finds nothing turns the loop
// first, at most once per POLL_LATEST_MS. A program whose loop turns by
// itself shows it through its sockets' completions and never pays for it.
const POLL_LATEST_MS = 20;
let polled = true;
let quietSince = 0;

/**
 * Note that Deno's event loop polled for I/O: a Deno socket's read, accept,
 * connect or receive in flight completed.
 */
export function loopPolled(): void {
  polled = true;
}

// Whether nothing has shown for POLL_LATEST_MS that the loop polled (time
// runs from the first look after the last sign).
function pollOverdue(): boolean {
  const now = performance.now();
  if (polled) {
    polled = false;
    quietSince = now;
    return false;
  }
  return now - quietSince >= POLL_LATEST_MS;
}

/**
 * Whether a Deno-backend socket may hold what the loop has not reported:
 * a socket of this process made another ready since the loop last turned
 * (see {@linkcode stir}), or the loop has not polled for I/O for a while
 * (see {@linkcode loopPolled}).
 *
 * @returns Whether a turn is owed.
 */
export function turnOwed(): boolean {
  return stirred || budgetSpent() || pollOverdue();
}

/**
 * {@linkcode loopTurnDue}, or a turn owed (see
 * {@linkcode turnOwed}), and the turn when it is due.
 *
 * @returns Whether the loop was made to turn.
 */
export async function letLoopTurn(): Promise<boolean> {
  if (!loopTurnDue() && !turnOwed()) return false;
  await turnLoop();
  return true;
}

// Deno's runtime (tokio, one thread) polls the kernel for I/O and for its
// timers once every `event_interval` scheduler ticks (61, or the
// DENO_TOKIO_EVENT_INTERVAL variable: Deno's runtime/tokio_util.rs), and
// each immediate is one tick. So that many immediates and two more make
// Deno poll and hand what it found to JavaScript: about 0.1 ms, where a
// timer (setTimeout 0) parks the loop until the next millisecond tick,
// about 2 ms.
let ticksPerPoll = 0;
// Past this many immediates a timer is the cheaper turn (about 2 ms).
const MAX_TICKS = 1000;

function ticksToPoll(): number {
  if (ticksPerPoll > 0) return ticksPerPoll;
  let interval = 61;
  try {
    const variable = "DENO_TOKIO_EVENT_INTERVAL";
    // Read only where it needs no prompt. Set above 61 without leave to
    // read it, turns miss what the kernel holds (README, "Performance").
    if (
      Deno.permissions.querySync({ name: "env", variable }).state === "granted"
    ) {
      const n = Number(Deno.env.get(variable));
      if (Number.isInteger(n) && n > 0) interval = n;
    }
  } catch {
    // No permissions API (Deploy-style tooling): the default.
  }
  return ticksPerPoll = interval + 2;
}

let turns = 0;

/**
 * Let Deno's scheduler tick once (one immediate), much cheaper than
 * {@linkcode turnLoop}: an op Deno put off past its turn's budget (see
 * {@linkcode budgetSpent}) often completes after a tick or two.
 */
export async function tick(): Promise<void> {
  const next = immediate ?? await loadImmediate();
  await new Promise<void>((resolve) => next(resolve));
}

/**
 * How many turns {@linkcode turnLoop} has made in this process (for tests
 * that a call owed none).
 *
 * @returns The count.
 */
export function turnsMade(): number {
  return turns;
}

/**
 * Make Deno's event loop poll for I/O and timers once, so that pending
 * work runs: the reads in flight that the kernel can complete complete,
 * and the timers due fire.
 */
export async function turnLoop(): Promise<void> {
  turns++;
  const next = immediate ?? await loadImmediate();
  const ticks = ticksToPoll();
  if (ticks > MAX_TICKS) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  } else {
    for (let i = ticks; i > 0; i--) {
      await new Promise<void>((resolve) => next(resolve));
    }
  }
  loopTurned();
}

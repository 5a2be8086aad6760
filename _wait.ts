// How long one backend call may wait, and what it raises when it cannot:
// the one place for deadline arithmetic, the timeout/non-blocking errors and
// timers longer than setTimeout() takes.
import { errno as E } from "./constants.ts";
import { BlockingIOError, OSError, TimeoutError } from "./errors.ts";

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
    return Math.max(0, this.#at - performance.now());
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

/**
 * Race `promise` against `wait` and `signal`. Resolves with the promise's
 * value, or with `EXPIRED` when the wait ran out or the signal aborted
 * first. The promise is left running: the caller keeps it so that nothing
 * it later yields is lost. Wait 0 allows one turn of the event loop, so a
 * result that is already there is taken.
 */
export function raceWait<T>(
  promise: Promise<T>,
  wait: Wait,
  signal?: AbortSignal,
): Promise<T | typeof EXPIRED> {
  if (wait === null && signal === undefined) return promise;
  let cancel = () => {};
  const timeout = new Promise<typeof EXPIRED>((resolve) => {
    const expire = () => resolve(EXPIRED);
    const cancelTimer = wait === null ? null : longTimeout(expire, wait);
    if (signal?.aborted) expire();
    signal?.addEventListener("abort", expire, { once: true });
    cancel = () => {
      cancelTimer?.();
      signal?.removeEventListener("abort", expire);
    };
  });
  return Promise.race([promise, timeout]).finally(() => cancel());
}

/** The longest delay one timer takes (2^31-1 ms, about 24.8 days). */
export const MAX_TIMER = 0x7fffffff;

/**
 * setTimeout() for any delay: a longer one than {@linkcode MAX_TIMER} would
 * fire at once, so it is re-armed in steps. Returns the canceller.
 */
export function longTimeout(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    timer = left > MAX_TIMER
      ? setTimeout(() => arm(left - MAX_TIMER), MAX_TIMER)
      : setTimeout(fn, left);
  };
  // Deno rounds a fractional delay down: round up, so no wait ends early.
  arm(Math.ceil(ms));
  return () => clearTimeout(timer);
}

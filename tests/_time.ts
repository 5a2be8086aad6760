// Time bounds for tests: a hang fails its test. Imports nothing, so that
// a process that plays scripts for a test (tests/stress/_script_child.ts)
// loads without the probes of _helpers.ts and _python.ts.

/** The longest a single awaited step may take before its test fails. */
export const STEP_MS = 3000;

/**
 * `promise`, or a rejection once `ms` milliseconds passed, so that a hang
 * fails the test. The timer is always cleared (the op sanitizer sees it).
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number = STEP_MS,
  what = "operation",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not settle within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

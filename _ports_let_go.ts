// The TCP and UDP ports this process's sockets let go of, and when, for
// both backends. Closing a listening TCP socket or a bound UDP socket frees
// its port only once no copy of its descriptor is left, and a child process
// spawned by another thread (a Worker, a parallel `deno test` module) holds
// a copy of every descriptor from its fork until its exec: for those
// milliseconds the old socket lives on, and a bind() or listen() of the
// port says EADDRINUSE where it would not a moment later (at most 16 ms in
// 15,000 tries with three threads spawning; tens of ms with a whole test
// suite running beside on two CPUs, and once more than 100 ms in CI). Such
// a call on a port let go of under LET_GO_MS ago is tried again until then.
// Once a socket of this process holds the port again (see held()), its
// EADDRINUSE is that socket's and is raised at once; a socket of another
// process that took the port meanwhile makes it fail LET_GO_MS after the
// close.

/** A transport whose ports are tracked apart (TCP's 80 is not UDP's). */
export type Transport = "tcp" | "udp";

/**
 * How long after a socket's close its port may still be held by a child in
 * its fork-to-exec window: ten times the longest measured on a busy
 * machine. Only a port no socket of this process holds is waited for, and
 * only once the kernel's socket is closed here (a Deno op in flight that
 * holds it cannot end while the thread sleeps: letGo() comes after it).
 */
export const LET_GO_MS = 500;
const SLEEP_MS = 1;

// By key(): when each port was let go of.
const letGoAt = new Map<number, number>();
// What Atomics.wait sleeps on (never notified), made on first use.
let sleepCell: Int32Array | null = null;

// One number per transport and port.
function key(transport: Transport, port: number): number {
  return transport === "udp" ? port + 0x10000 : port;
}

/**
 * Note that a socket that held `port` (a TCP listener, a bound UDP socket)
 * is being closed.
 *
 * @param transport The port's transport.
 * @param port The port; 0 (none) notes nothing.
 */
export function letGo(transport: Transport, port: number): void {
  const now = performance.now();
  for (const [k, at] of letGoAt) {
    if (now - at >= LET_GO_MS) letGoAt.delete(k);
  }
  if (port > 0) letGoAt.set(key(transport, port), now);
}

/**
 * Note that a socket of this process holds `port` now (it bound or listened
 * there): an EADDRINUSE on it is that socket's, never a closed one's living
 * on in a child, so it is not tried again.
 *
 * @param transport The port's transport.
 * @param port The port.
 */
export function held(transport: Transport, port: number): void {
  letGoAt.delete(key(transport, port));
}

/**
 * Make `attempt` (a bind or listen of `port`) until it does not fail with
 * EADDRINUSE, while the port was let go of (see {@linkcode letGo}) under
 * LET_GO_MS ago, sleeping a millisecond between tries.
 *
 * @param transport The port's transport.
 * @param port The port the attempt binds or listens on.
 * @param attempt The call; it throws its error.
 * @param inUse Whether an error it threw is EADDRINUSE.
 * @returns What the attempt returned.
 */
export function whileLetGo<T>(
  transport: Transport,
  port: number,
  attempt: () => T,
  inUse: (e: unknown) => boolean,
): T {
  for (;;) {
    try {
      return attempt();
    } catch (e) {
      const at = letGoAt.get(key(transport, port));
      if (
        !inUse(e) || at === undefined || performance.now() - at >= LET_GO_MS
      ) throw e;
    }
    sleepSync(SLEEP_MS);
  }
}

// Block this thread for `ms` milliseconds.
function sleepSync(ms: number): void {
  try {
    sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(sleepCell, 0, 0, ms);
  } catch {
    // A runtime that forbids Atomics.wait on this thread: spin.
    const end = performance.now() + ms;
    while (performance.now() < end) { /* spin */ }
  }
}

// The addresses that Deno-backend sockets of this process hold. A send,
// connect, shutdown or close toward one of them may make that socket ready
// in a way Deno reports only once its event loop turns (see stir() in
// _wait.ts); toward anything else (another process, a libc socket, whose
// readiness the kernel reports at once) it owes no turn. The names are
// coarse on purpose: a false match costs one turn (about 0.1 ms), a miss
// would leave a ready socket unreported for a while.
import { AF_INET, AF_INET6, AF_UNIX } from "./constants.ts";
import type { SockAddr } from "./_backend.ts";

const held = new Map<string, number>();

/**
 * The name an address is matched by: an IP port (of any host or family), a
 * unix path's last component, an abstract name; `null` for an address with
 * no name (an unnamed unix socket, port 0).
 *
 * @param family The socket's family.
 * @param addr The address, as getsockname() gives it.
 * @returns The name, or `null`.
 */
export function nameOf(family: number, addr: SockAddr | null): string | null {
  if (addr === null) return null;
  if (family === AF_INET || family === AF_INET6) {
    const port = Array.isArray(addr) ? addr[1] : 0;
    return typeof port === "number" && port > 0 ? `#${port}` : null;
  }
  if (family === AF_UNIX) {
    if (typeof addr === "string") {
      return addr === "" ? null : `u:${addr.slice(addr.lastIndexOf("/") + 1)}`;
    }
    if (addr instanceof Uint8Array) {
      return `a:${String.fromCharCode(...addr.subarray(0, 108))}`;
    }
  }
  return null;
}

/**
 * The name that stands for the unnamed clients of a unix socket named
 * `name` (its accepted connections' peers): such a client of this process
 * holds it.
 *
 * @param name The listener's name.
 * @returns The clients' name.
 */
export function clientsOf(name: string): string {
  return `c:${name}`;
}

/**
 * Count `names` as held by a socket of this process, until released.
 *
 * @param names The names.
 */
export function holdNames(names: readonly string[]): void {
  for (const name of names) held.set(name, (held.get(name) ?? 0) + 1);
}

/**
 * Release what {@linkcode holdNames} counted.
 *
 * @param names The names, as they were held.
 */
export function releaseNames(names: readonly string[]): void {
  for (const name of names) {
    const n = held.get(name) ?? 0;
    if (n <= 1) held.delete(name);
    else held.set(name, n - 1);
  }
}

/**
 * Whether a Deno-backend socket of this process holds `name`.
 *
 * @param name A name from {@linkcode nameOf} or {@linkcode clientsOf}.
 * @returns Whether one does.
 */
export function nameHeld(name: string | null): boolean {
  return name !== null && held.has(name);
}

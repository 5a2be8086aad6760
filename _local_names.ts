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
// Bumped whenever `held` changes, so that a socket's answer can be kept
// between changes: a send asks on every call.
let heldVersion = 0;
const encoder = new TextEncoder();

/**
 * The name an address is keyed by: an IP port (of any host or family), a
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
      if (addr === "") return null;
      // "\0name" is the abstract name b"\0name", as Python encodes it.
      if (addr[0] === "\0") return nameOf(family, encoder.encode(addr));
      return `u:${addr.slice(addr.lastIndexOf("/") + 1)}`;
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
  if (names.length > 0) heldVersion++;
  for (const name of names) held.set(name, (held.get(name) ?? 0) + 1);
}

/**
 * Release what {@linkcode holdNames} counted.
 *
 * @param names The names, as they were held.
 */
export function releaseNames(names: readonly string[]): void {
  if (names.length > 0) heldVersion++;
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

/** What {@linkcode SocketNames} asks of a socket. */
export interface NamedSocket {
  /** getsockname(2). */
  getsockname(): SockAddr;
  /** getpeername(2); throws when not connected. */
  getpeername(): SockAddr;
}

// A peer that may be any socket of this process (an unnamed unix pair).
const ANY_PEER = "*";

/**
 * One socket's part: the names it holds (a Deno-backend socket's own, and
 * its clients' name of the listener it connects to, held from the start of
 * a connect, so that a non-blocking one counts before it completes), and
 * the names its sends reach (its peer's, and its own clients' name, which
 * an unnamed client of this process holds).
 */
export class SocketNames {
  readonly #family: number;
  readonly #deno: boolean;
  #held: string[] = [];
  // undefined: not looked up since the socket last connected.
  #peer: string[] | undefined;
  // reaches()'s answer while `heldVersion` is this (-1: none kept).
  #reachesAt = -1;
  #reaches = false;

  /**
   * Nothing held yet.
   *
   * @param family The socket's family.
   * @param deno Whether the socket is on the Deno backend (only those hold
   *   names: a libc socket's readiness is the kernel's, at once).
   */
  constructor(family: number, deno: boolean) {
    this.#family = family;
    this.#deno = deno;
  }

  /**
   * Hold the socket's names as they are now: once bound, listening,
   * connected, accepted, or bound by a first send.
   *
   * @param sock The socket.
   * @param to Where it is connecting to, before it is connected.
   */
  hold(sock: NamedSocket, to?: SockAddr): void {
    if (!this.#deno) return;
    const names: string[] = [];
    try {
      const own = nameOf(this.#family, sock.getsockname());
      if (own !== null) names.push(own);
      const peer = nameOf(this.#family, to ?? sock.getpeername());
      if (peer !== null) names.push(clientsOf(peer));
    } catch {
      // Not connected: its own name only.
    }
    releaseNames(this.#held);
    holdNames(names);
    this.#held = names;
  }

  /** After a send that may have bound the socket: hold its name. */
  sent(sock: NamedSocket): void {
    if (this.#held.length === 0) this.hold(sock);
  }

  /** Release every name held (the socket closed or was detached). */
  release(): void {
    releaseNames(this.#held);
    this.#held = [];
  }

  /**
   * A connect to `addr` starts: its peer is new, and a Deno socket holds
   * its clients' name of `addr` at once.
   *
   * @returns Whether the connect may make a socket of this process ready:
   *   the listener at `addr`, or this Deno socket itself, whose connect
   *   completes where Deno reports it only once its loop turns.
   */
  connecting(sock: NamedSocket, addr: SockAddr): boolean {
    this.#peer = undefined;
    this.hold(sock, addr);
    return this.#deno || this.toward(addr);
  }

  /**
   * Whether a send to `addr` may reach a Deno socket of this process.
   *
   * @param addr The destination.
   * @returns Whether one holds its name.
   */
  toward(addr: SockAddr): boolean {
    return nameHeld(nameOf(this.#family, addr));
  }

  /**
   * Whether what this connected socket sends (or its shutdown or close)
   * may make a Deno socket of this process ready.
   *
   * @param sock The socket.
   * @returns Whether its peer holds one of the names it reaches.
   */
  reaches(sock: NamedSocket): boolean {
    let names = this.#peer;
    if (names !== undefined && this.#reachesAt === heldVersion) {
      return this.#reaches;
    }
    if (names === undefined) {
      try {
        const peer = nameOf(this.#family, sock.getpeername());
        const own = nameOf(this.#family, sock.getsockname());
        names = [];
        if (peer !== null) names.push(peer);
        if (own !== null) names.push(clientsOf(own));
        if (names.length === 0) names.push(ANY_PEER);
      } catch {
        return false; // not connected: nothing it sends reaches a peer
      }
      this.#peer = names;
      // A non-blocking connect completed unseen: its own name now.
      this.hold(sock);
    }
    this.#reaches = names.some((name) => name === ANY_PEER || nameHeld(name));
    this.#reachesAt = heldVersion;
    return this.#reaches;
  }
}

// What the Deno backend's stream and datagram sockets share: error
// translation, the socket options Deno can honour, pseudo descriptors.
import {
  AF_INET6,
  AF_UNIX,
  errno as E,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_TCP,
  MSG_CMSG_CLOEXEC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_PEEK,
  MSG_WAITALL,
  SO_ACCEPTCONN,
  SO_BROADCAST,
  SO_DOMAIN,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_PROTOCOL,
  SO_REUSEADDR,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../constants.ts";
import { OSError, PermissionError } from "../errors.ts";
import type { SockAddr } from "../_backend.ts";
import { badFd } from "../_wait.ts";

export const LIBC_HINT =
  'use socket(..., { backend: "libc" }) (needs --allow-ffi)';
export const RECV_FLAGS = MSG_PEEK | MSG_WAITALL | MSG_DONTWAIT | MSG_NOSIGNAL |
  MSG_CMSG_CLOEXEC;
export const SEND_FLAGS = MSG_DONTWAIT | MSG_NOSIGNAL;
const CLASS_ERRNO: ReadonlyArray<[string, number]> = [
  ["ConnectionRefused", E.ECONNREFUSED],
  ["ConnectionReset", E.ECONNRESET],
  ["ConnectionAborted", E.ECONNABORTED],
  ["NotConnected", E.ENOTCONN],
  ["AddrInUse", E.EADDRINUSE],
  ["AddrNotAvailable", E.EADDRNOTAVAIL],
  ["BrokenPipe", E.EPIPE],
  ["AlreadyExists", E.EEXIST],
  ["NotFound", E.ENOENT],
  ["PermissionDenied", E.EACCES],
  ["TimedOut", E.ETIMEDOUT],
  ["WouldBlock", E.EAGAIN],
  ["InvalidData", E.EINVAL],
  ["NetworkUnreachable", E.ENETUNREACH],
  ["IsADirectory", E.EISDIR],
  ["NotADirectory", E.ENOTDIR],
  ["BadResource", E.EBADF],
  ["Interrupted", E.EBADF],
];

/**
 * Any error from Deno or node:* as the OSError Python would raise. A missing
 * permission becomes a PermissionError that keeps Deno's text, which names
 * the flag to run with.
 */
export function translate(e: unknown): Error {
  if (e instanceof OSError) return e;
  if (e instanceof Deno.errors.NotCapable) {
    return new PermissionError(E.EACCES, (e as Error).message, { cause: e });
  }
  // Deno reports some kernel errors as a TypeError with the errno's code
  // (EINVAL connecting to fe80::1 with no scope): the code decides.
  const err = e as { code?: unknown; name?: string; message?: string };
  if (typeof err?.code === "string") {
    const n = (E as Record<string, number>)[err.code];
    if (n !== undefined) return new OSError(n, undefined, { cause: e });
  }
  const os = /\(os error (\d+)\)/.exec(err?.message ?? "");
  if (os !== null) return new OSError(Number(os[1]), undefined, { cause: e });
  // Argument errors of our own making stay what they are.
  if (e instanceof TypeError || e instanceof RangeError) return e;
  for (const [name, n] of CLASS_ERRNO) {
    const Class = (Deno.errors as Record<string, unknown>)[name];
    if (typeof Class === "function" && e instanceof (Class as typeof Error)) {
      return n === E.EBADF ? badFd() : new OSError(n, undefined, { cause: e });
    }
  }
  return new OSError(
    `${err?.name ?? "Error"}: ${err?.message ?? String(e)}`,
    null,
    { cause: e },
  );
}

/**
 * Readiness of a Deno-backend socket, for select.ts: Deno has no readiness
 * API and no descriptor to poll, so the socket answers from its own state.
 */
export interface DenoReadiness {
  /**
   * The poll(2) bits that hold now (POLLIN, POLLOUT, POLLERR, POLLHUP,
   * POLLRDHUP, POLLNVAL once closed). Asking for POLLIN keeps one read (or
   * accept) in flight into the socket's own buffer, so the answer turns as
   * soon as data comes, and what is read is kept for the next recv. Never
   * waits, never keeps the process alive by itself.
   */
  poll(events: number): number;
  /** Call `fn` whenever poll()'s answer may have changed; returns the unsubscriber. */
  watch(fn: () => void): () => void;
}

// Deno exposes no descriptors; these stand in, far above any real one so a
// pseudo number is never mistaken for a real descriptor.
/** The first pseudo descriptor. */
export const PSEUDO_FD_BASE = 0x40000000;
let nextFd = PSEUDO_FD_BASE;
const live = new Map<number, WeakRef<DenoReadiness>>();

/**
 * A new pseudo descriptor for a Deno-backed socket, by which select.ts
 * finds it again (as fileno() numbers are passed to select()).
 */
export function pseudoFd(sock: DenoReadiness): number {
  const fd = nextFd++;
  live.set(fd, new WeakRef(sock));
  return fd;
}

/** Forget a closed socket's pseudo descriptor. */
export function releaseFd(fd: number): void {
  live.delete(fd);
}

/** The open Deno-backend socket with this pseudo descriptor, or null. */
export function denoSocket(fd: number): DenoReadiness | null {
  return live.get(fd)?.deref() ?? null;
}

/** The callbacks of {@linkcode DenoReadiness.watch}. */
export class Watchers {
  #fns: (() => void)[] = [];

  /** Add `fn`; returns its remover. */
  add(fn: () => void): () => void {
    this.#fns.push(fn);
    return () => {
      const i = this.#fns.indexOf(fn);
      if (i >= 0) this.#fns.splice(i, 1);
    };
  }

  /** Tell every watcher that readiness may have changed. */
  notify(): void {
    const fns = this.#fns;
    if (fns.length === 0) return;
    for (const fn of fns.length === 1 ? fns : fns.slice()) fn();
  }
}

/** getsockname() of an unbound socket. */
export function unboundName(family: number): SockAddr {
  if (family === AF_UNIX) return "";
  return family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
}

/** Python's socket options that Deno can honour, with their recorded values. */
export class Options {
  readonly values = new Map<string, number>();
  constructor(readonly family: number, readonly type: number) {}

  set(level: number, option: number, value: number | Uint8Array): number {
    const known = (level === SOL_SOCKET &&
      (option === SO_REUSEADDR || option === SO_KEEPALIVE ||
        option === SO_BROADCAST)) ||
      (level === IPPROTO_TCP && option === TCP_NODELAY &&
        this.type === SOCK_STREAM) ||
      (level === IPPROTO_IP && option === IP_TTL && this.type === SOCK_DGRAM);
    if (!known) {
      throw new OSError(
        E.ENOPROTOOPT,
        `Protocol not available: option (${level}, ${option}) cannot be set through Deno's networking; ${LIBC_HINT}`,
      );
    }
    const v = typeof value === "number"
      ? value
      : value.length >= 4
      ? new DataView(value.buffer, value.byteOffset).getInt32(0, true)
      : 0;
    this.values.set(`${level}:${option}`, v);
    return v;
  }

  get(level: number, option: number, listening: boolean): number {
    if (level === SOL_SOCKET) {
      if (option === SO_TYPE) return this.type;
      if (option === SO_DOMAIN) return this.family;
      if (option === SO_ERROR) return 0;
      if (option === SO_ACCEPTCONN) return listening ? 1 : 0;
      if (option === SO_PROTOCOL) {
        return this.family === AF_UNIX ? 0 : this.type === SOCK_STREAM ? 6 : 17;
      }
    }
    const v = this.values.get(`${level}:${option}`);
    if (v !== undefined) return v === 0 ? 0 : option === IP_TTL ? v : 1;
    if (level === IPPROTO_IP && option === IP_TTL && this.type === SOCK_DGRAM) {
      return 64;
    }
    if (
      (level === SOL_SOCKET &&
        (option === SO_REUSEADDR || option === SO_KEEPALIVE ||
          option === SO_BROADCAST)) ||
      (level === IPPROTO_TCP && option === TCP_NODELAY &&
        this.type === SOCK_STREAM)
    ) return 0;
    throw new OSError(
      E.ENOPROTOOPT,
      `Protocol not available: option (${level}, ${option}) cannot be read through Deno's networking; ${LIBC_HINT}`,
    );
  }

  flag(level: number, option: number): boolean {
    return (this.values.get(`${level}:${option}`) ?? 0) !== 0;
  }
}

/** The error for what needs a real descriptor. */
export function noDescriptor(what: string): OSError {
  return new OSError(
    E.EOPNOTSUPP,
    `${what}: Deno's networking has no descriptors; ${LIBC_HINT}`,
  );
}

/** An int option as getsockopt(level, option, buflen) returns it for buflen > 0. */
export function optionBytes(value: number, buflen: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes.slice(0, Math.min(buflen, 4));
}

/** The error for MSG_* flags Deno's networking cannot honour. */
export function unsupportedFlags(flags: number): OSError {
  return new OSError(
    E.EOPNOTSUPP,
    `Operation not supported: flags 0x${
      (flags >>> 0).toString(16)
    } need the kernel's socket; ${LIBC_HINT}`,
  );
}

/**
 * Whether `p` settles within a few microtask turns: how a non-blocking call
 * sees what is already in the kernel (Deno settles a read, accept or
 * receive whose data is there in about two turns), with no timer.
 */
export async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => done = true, () => done = true);
  for (let i = 0; i < 8 && !done; i++) await null;
  return done;
}

// Deno completes an op left pending (a read kept in flight) only when its
// event loop turns for I/O, not between microtasks, immediates, or ops that
// complete at once. A program that polls and never waits would then never
// see data arrive, where CPython's kernel would hand it over. So after
// TURN_EVERY answers "not ready" given at once with no real wait between
// (a readiness wait that slept counts as one), the caller makes the loop
// turn (a timer): busy polling stays bounded, and a server whose select()
// sleeps between rounds never pays for it.
const TURN_EVERY = 64;
let answers = 0;

/** Note that a wait for readiness slept: Deno's event loop has turned. */
export function loopTurned(): void {
  answers = 0;
}

/**
 * Let Deno's event loop turn once, after many answers given at once with
 * no wait between, so pending reads whose data has come complete.
 *
 * @returns Whether the loop was made to turn.
 */
export async function letLoopTurn(): Promise<boolean> {
  if (++answers < TURN_EVERY) return false;
  await new Promise((resolve) => setTimeout(resolve, 0));
  answers = 0;
  return true;
}

/**
 * What every Deno-backend socket shares: its pseudo descriptor, its closed
 * state, its readiness watchers, and the descriptor calls Deno cannot do.
 */
export abstract class DenoSocket implements DenoReadiness {
  readonly #fd = pseudoFd(this);
  #closed = false;
  /** Told when poll()'s answer may have changed. */
  protected readonly watchers: Watchers = new Watchers();

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The pseudo descriptor; -1 once closed. */
  fileno(): number {
    return this.#closed ? -1 : this.#fd;
  }

  /** OSError(EBADF) once closed. */
  protected check(): void {
    if (this.#closed) throw badFd();
  }

  /** Mark the socket closed; false when it already was. */
  protected markClosed(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    releaseFd(this.#fd);
    queueMicrotask(() => this.watchers.notify());
    return true;
  }

  abstract poll(events: number): number;

  watch(fn: () => void): () => void {
    return this.watchers.add(fn);
  }

  /** Deno gives no descriptor to hand over. */
  detach(): number {
    throw noDescriptor("detach()");
  }

  /** Deno gives no descriptor to duplicate. */
  dup(): never {
    this.check();
    throw noDescriptor("dup()");
  }
}

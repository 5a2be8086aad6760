// The seam between socket.ts (Python's semantics, written once) and the
// backends (Deno's networking, libc through FFI), which only move bytes and
// report errors as typed OSErrors.
//
// socket.ts does before any backend call: the closed check (EBADF), argument
// types and values, address parsing and name resolution (backends get numeric
// hosts), timeout to `Wait` conversion, `recv(0)`, sendall's loop and its one
// deadline, MSG_DONTWAIT (as wait 0; libc also passes the flag on).
import { errno as E } from "./constants.ts";
import { BlockingIOError, OSError, TimeoutError } from "./errors.ts";

/**
 * An address in Python's shape, hosts already numeric:
 * AF_INET `[ip, port]`; AF_INET6 `[ip, port, flowinfo, scope_id]` (input may
 * be `[ip, port]`); AF_UNIX a path string, or bytes for an abstract name
 * (leading NUL) and for names that are not UTF-8.
 */
export type SockAddr =
  | [host: string, port: number]
  | [host: string, port: number, flowinfo: number, scope_id: number]
  | string
  | Uint8Array;

/**
 * How long one backend call may wait for readiness: `null` forever, `0` not
 * at all (non-blocking), otherwise milliseconds (> 0).
 */
export type Wait = number | null;

/** What the Python layer needs from one open socket of a backend. */
export interface BackendSocket {
  /** The real descriptor (libc), or a stable pseudo number (deno); -1 once closed. */
  fileno(): number;
  /** bind(2). Sync. Resolves port 0 at once so getsockname() is right. */
  bind(addr: SockAddr): void;
  /** listen(2); autobinds an unbound socket as the kernel does. */
  listen(backlog: number): void;
  /** accept(2); the address is `null` only where the kernel gives none. */
  accept(wait: Wait): Promise<[BackendSocket, SockAddr | null]>;
  /**
   * connect(2). With wait 0 it throws BlockingIOError(EINPROGRESS) and the
   * connection goes on; a later connect gives EALREADY while it is pending,
   * EISCONN once made, or the error it ended with.
   */
  connect(addr: SockAddr, wait: Wait): Promise<void>;
  /**
   * Receive into `buf` (its whole length is the request). Resolves with the
   * count; 0 is EOF on a stream, an empty datagram otherwise. Data that
   * arrives after a wait expired is kept for the next call.
   */
  recv(buf: Uint8Array, flags: number, wait: Wait): Promise<number>;
  /** recvfrom(2): as recv, with the sender (`null` where there is none). */
  recvfrom(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
  ): Promise<[number, SockAddr | null]>;
  /**
   * Optional: recvfrom(2) that returns the bytes received, sized to what
   * came (recv(bufsize) then needs no zero-filled buffer of bufsize).
   */
  recvBytes?(
    size: number,
    flags: number,
    wait: Wait,
  ): Promise<[Uint8Array, SockAddr | null]>;
  /** send(2): resolves with the bytes accepted (may be fewer than given). */
  send(data: Uint8Array, flags: number, wait: Wait): Promise<number>;
  /** sendto(2); autobinds an unbound socket as the kernel does. */
  sendto(
    data: Uint8Array,
    flags: number,
    addr: SockAddr,
    wait: Wait,
  ): Promise<number>;
  /** shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR (validated above). */
  shutdown(how: number): void;
  /** getsockname(2). */
  getsockname(): SockAddr;
  /** getpeername(2); OSError(ENOTCONN) when not connected. */
  getpeername(): SockAddr;
  /** setsockopt(2): an int option, or raw bytes. */
  setsockopt(level: number, option: number, value: number | Uint8Array): void;
  /** getsockopt(2): an int when `buflen` is 0, else up to `buflen` bytes. */
  getsockopt(
    level: number,
    option: number,
    buflen: number,
  ): number | Uint8Array;
  /**
   * Release everything. Idempotent. Calls still pending reject with
   * OSError(EBADF) and never hang.
   */
  close(): void;
  /** Give up the descriptor without closing it and return it. */
  detach(): number;
  /** A new socket on a duplicate of the descriptor. */
  dup(): BackendSocket;
}

/** One backend: how sockets are made. */
export interface Backend {
  /** `"deno"` or `"libc"`. */
  readonly name: "deno" | "libc";
  /**
   * Open a socket. `type` carries no SOCK_NONBLOCK / SOCK_CLOEXEC bits.
   * Throws the OSError the kernel would (EAFNOSUPPORT, ESOCKTNOSUPPORT,
   * EPROTONOSUPPORT, EPERM for a raw socket without CAP_NET_RAW).
   */
  open(family: number, type: number, proto: number): BackendSocket;
  /** socketpair(2). */
  socketpair(
    family: number,
    type: number,
    proto: number,
  ): Promise<[BackendSocket, BackendSocket]>;
  /**
   * Adopt an open descriptor (libc only); family, type and proto are read
   * from it when not given (0 / -1).
   */
  adopt?(
    fd: number,
    family: number,
    type: number,
    proto: number,
  ): [BackendSocket, number, number, number];
  /** dup(2) of any descriptor, close-on-exec (libc only). */
  dupFd?(fd: number): number;
  /** close(2) of any descriptor (libc only). */
  closeFd?(fd: number): void;
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

/**
 * Race `promise` against `wait`. Resolves with the promise's value, or with
 * `EXPIRED` when the wait ran out first. The promise is left running: the
 * caller keeps it so that nothing it later yields is lost. Wait 0 allows one
 * turn of the event loop, so a result that is already there is taken.
 */
export function raceWait<T>(
  promise: Promise<T>,
  wait: Wait,
): Promise<T | typeof EXPIRED> {
  if (wait === null) return promise;
  let cancel = () => {};
  const timeout = new Promise<typeof EXPIRED>((resolve) => {
    cancel = longTimeout(() => resolve(EXPIRED), wait);
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
  arm(ms);
  return () => clearTimeout(timer);
}

/** What {@linkcode raceWait} resolves with when the wait ran out. */
export const EXPIRED: unique symbol = Symbol("expired");

// The seam between socket.ts (Python's semantics, written once) and the
// backends (Deno's networking, libc through FFI), which only move bytes and
// report errors as typed OSErrors.
//
// socket.ts does before any backend call: the closed check (EBADF), argument
// types and values, address parsing and name resolution (backends get numeric
// hosts), timeout to `Wait` conversion, `recv(0)`, sendall's loop and its one
// deadline, MSG_DONTWAIT (as wait 0; libc also passes the flag on).
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  errno as E,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_MPTCP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SOCK_STREAM,
} from "./constants.ts";
import { OSError } from "./errors.ts";
import { denoBackend } from "./_deno/backend.ts";
import { denoSocket, LIBC_HINT } from "./_deno/common.ts";
import { checkLibc, libcBackend, libcUsable } from "./_libc/socket.ts";

import type { DirectReads } from "./_streams.ts";
import type { Wait } from "./_wait.ts";

/**
 * An address in Python's shape, hosts already numeric:
 * AF_INET `[ip, port]`; AF_INET6 `[ip, port, flowinfo, scope_id]` (input may
 * be `[ip, port]`); AF_UNIX a path string, or bytes for an abstract name
 * (leading NUL) and for names that are not UTF-8; AF_NETLINK
 * `[pid, groups]`; AF_PACKET `[ifname, proto, pkttype, hatype, addr]`
 * (input may stop after `proto`); other families the raw sockaddr bytes.
 */
export type SockAddr =
  | [host: string, port: number]
  | [host: string, port: number, flowinfo: number, scope_id: number]
  | [pid: number, groups: number]
  | [
    ifname: string,
    proto: number,
    pkttype: number,
    hatype: number,
    addr: Uint8Array,
  ]
  | string
  | Uint8Array;

/**
 * What the Python layer needs from one open socket of a backend.
 *
 * Every call that may wait takes a `Wait` and an optional `signal`: an
 * abort ends the wait exactly as its running out would (the call throws
 * `waitExpired(wait)`, and nothing is lost), and the Python layer reports
 * `signal.reason` instead.
 */
export interface BackendSocket extends Partial<DirectReads> {
  /** The real descriptor (libc), or a stable pseudo number (deno); -1 once closed. */
  fileno(): number;
  /**
   * Set or clear the descriptor's own O_NONBLOCK, as CPython does for a
   * socket with or without a timeout (libc: another process may share the
   * descriptor). The backend's calls never block either way.
   */
  setBlocking?(blocking: boolean): void;
  /** bind(2). Sync. Resolves port 0 at once so getsockname() is right. */
  bind(addr: SockAddr): void;
  /** listen(2); autobinds an unbound socket as the kernel does. */
  listen(backlog: number): void;
  /** accept(2); the address is `null` only where the kernel gives none. */
  accept(
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[BackendSocket, SockAddr | null]>;
  /**
   * connect(2). With wait 0 it throws BlockingIOError(EINPROGRESS) and the
   * connection goes on; a later connect gives EALREADY while it is pending,
   * EISCONN once made, or the error it ended with.
   */
  connect(addr: SockAddr, wait: Wait, signal?: AbortSignal): Promise<void>;
  /**
   * Receive into `buf` (its whole length is the request). Resolves with the
   * count; 0 is EOF on a stream, an empty datagram otherwise. Data that
   * arrives after a wait expired is kept for the next call. `own`: nothing
   * but this module sees `buf`, and it is dropped or read into again only
   * by this socket's receives, so a wait that cannot be cancelled may be
   * ended by shutdown() (the bytes it brings later land there unseen).
   */
  recv(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
    own?: boolean,
  ): Promise<number>;
  /** recvfrom(2): as recv, with the sender (`null` where there is none). */
  recvfrom(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[number, SockAddr | null]>;
  /**
   * Optional: recvfrom(2) that returns the bytes received, sized to what
   * came (recv(bufsize) then needs no zero-filled buffer of bufsize); with
   * no promise when they were there at once.
   */
  recvBytes?(
    size: number,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ):
    | [Uint8Array<ArrayBuffer>, SockAddr | null]
    | Promise<[Uint8Array<ArrayBuffer>, SockAddr | null]>;
  /**
   * send(2): the bytes accepted (may be fewer than given); a number, with
   * no promise, where the kernel took them at once (the selectors loop's
   * sendall()), else a promise of it.
   */
  send(
    data: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): number | Promise<number>;
  /** sendto(2); autobinds an unbound socket as the kernel does. */
  sendto(
    data: Uint8Array,
    flags: number,
    addr: SockAddr,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number>;
  /**
   * Optional: sendmsg(2), the buffers gathered in order, with control
   * messages (`[level, type, data]`) and an optional destination. A backend
   * without it has no ancillary data: socket.ts gathers the buffers and
   * calls send/sendto.
   */
  sendmsg?(
    buffers: readonly Uint8Array[],
    ancdata: readonly [level: number, type: number, data: Uint8Array][],
    flags: number,
    addr: SockAddr | null,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number>;
  /**
   * Optional: recvmsg(2) into `buffers`, scattered in order, with a control
   * buffer of `ancbufsize` bytes; resolves with the byte count as the kernel
   * gives it (past the buffers with MSG_TRUNC), the control messages, the
   * kernel's msg_flags and the sender. Received descriptors are
   * close-on-exec.
   */
  recvmsg?(
    buffers: readonly Uint8Array[],
    ancbufsize: number,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<
    [
      nbytes: number,
      ancdata: [level: number, type: number, data: Uint8Array][],
      msg_flags: number,
      address: SockAddr | null,
    ]
  >;
  /**
   * Optional: one sendfile(2) of up to `count` bytes of the descriptor `fd`
   * from `offset`, leaving `fd`'s position alone; resolves with the bytes
   * sent, 0 at the end of the file.
   */
  sendfile?(
    fd: number,
    offset: number,
    count: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number>;
  /** shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR (validated above). */
  shutdown(how: number): void;
  /** getsockname(2). */
  getsockname(): SockAddr;
  /** getpeername(2); OSError(ENOTCONN) when not connected. */
  getpeername(): SockAddr;
  /**
   * setsockopt(2): an int option, raw bytes, or `null`: no buffer (a NULL
   * optval) with `optlen`, Python's `setsockopt(level, option, None, optlen)`.
   */
  setsockopt(
    level: number,
    option: number,
    value: number | Uint8Array | null,
    optlen?: number,
  ): void;
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
  /**
   * Optional: from now on no wait of a call on this socket (its ops, its
   * poller waits, its timeouts' timers) keeps the process running, as a
   * Python daemon thread blocked on it does not (socketserver's
   * `daemon_threads`). Not undone.
   */
  daemon?(): void;
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
}

/** The libc backend: a Backend that also works on raw descriptors. */
export interface LibcBackend extends Backend {
  /** `"libc"`. */
  readonly name: "libc";
  /**
   * Adopt an open descriptor; family, type and proto are read from it when
   * not given (0 / -1).
   */
  adopt(
    fd: number,
    family: number,
    type: number,
    proto: number,
  ): [BackendSocket, number, number, number];
  /** dup(2) of any descriptor, close-on-exec. */
  dupFd(fd: number): number;
  /** close(2) of any descriptor. */
  closeFd(fd: number): void;
}

/** A backend by name, as `SocketOptions.backend` takes it. */
export type BackendName = "deno" | "libc";

/** What a caller asks of {@linkcode chooseBackend}. */
export interface BackendRequest {
  /** The backend the user named, if any. */
  backend?: BackendName | undefined;
  /**
   * The socket needs what only the kernel's socket can set
   * (create_server's SO_REUSEPORT, IPV6_V6ONLY): libc when it is usable,
   * else the default.
   */
  kernelOptions?: boolean;
}

// Deno's own networking: TCP and UDP on AF_INET / AF_INET6, unix stream.
// Everything else (raw, seqpacket, unix datagrams, ping sockets (datagrams
// with IPPROTO_ICMP/ICMPV6), MPTCP, UDP-Lite) is the kernel's, through libc.
function denoCan(family: number, type: number, proto: number): boolean {
  if (family === AF_UNIX) {
    return type === SOCK_STREAM && (proto === 0 || proto === AF_UNIX);
  }
  if (family !== AF_INET && family !== AF_INET6) return false;
  if (type === SOCK_STREAM) return proto === 0 || proto === IPPROTO_TCP;
  if (type === SOCK_DGRAM) return proto === 0 || proto === IPPROTO_UDP;
  return false;
}

// Linux's obsolete SOCK_PACKET (Python has no name for it).
const SOCK_PACKET = 10;

/**
 * Linux's answer for sockets it refuses, so that without FFI the error is
 * still the kernel's where we know it; 0 where it would open the socket.
 *
 * @param family The socket's family.
 * @param type Its type, without flag bits.
 * @param proto Its protocol.
 * @returns The errno socket(2) (and socketpair(2)) would fail with, or 0.
 */
export function kernelRefusal(
  family: number,
  type: number,
  proto: number,
): number {
  // Linux's order: type bits it does not know, the family's range, the
  // type's range (SOCK_MAX is 11), then the family's own checks.
  if (type & ~0xf) return E.EINVAL;
  if (family < 0 || family > 45) return E.EAFNOSUPPORT;
  if (type < 0 || type > 10) return E.EINVAL;
  // AF_UNSPEC (0) has no sockets: socketpair(0) is EAFNOSUPPORT too.
  if (family === 0) return E.EAFNOSUPPORT;
  if (family === AF_INET || family === AF_INET6) {
    // inet_create(): the protocol's range, then the type's list of them.
    if (proto < 0 || proto > 262) return E.EINVAL;
    if (type === SOCK_STREAM) {
      return proto === 0 || proto === IPPROTO_TCP || proto === IPPROTO_MPTCP
        ? 0
        : E.EPROTONOSUPPORT;
    }
    if (type === SOCK_DGRAM) {
      return proto === 0 || proto === IPPROTO_UDP ||
          proto === IPPROTO_UDPLITE ||
          proto === (family === AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6)
        ? 0
        : E.EPROTONOSUPPORT;
    }
    // A raw socket needs its protocol named.
    if (type === SOCK_RAW) return proto === 0 ? E.EPROTONOSUPPORT : 0;
    // Linux makes socket(AF_INET, SOCK_PACKET) an AF_PACKET one.
    if (family === AF_INET && type === SOCK_PACKET) return 0;
    return E.ESOCKTNOSUPPORT;
  }
  if (family === AF_UNIX) {
    if (proto !== 0 && proto !== AF_UNIX) return E.EPROTONOSUPPORT;
    if (
      type !== SOCK_STREAM && type !== SOCK_DGRAM && type !== SOCK_RAW &&
      type !== SOCK_SEQPACKET
    ) return E.ESOCKTNOSUPPORT;
  }
  return 0;
}

/**
 * The backend for `socketpair()`: a unix pair's as {@linkcode chooseBackend}
 * picks it; any other family's goes to libc where it can be used, so that
 * the kernel answers (Linux has socketpair(2) for AF_UNIX only, and refuses
 * others with the errno of the socket it would make first), else the
 * kernel's refusal as far as it is known, EOPNOTSUPP for the rest.
 *
 * @param family The pair's family.
 * @param type Its type, without flag bits.
 * @param proto Its protocol.
 * @param request What the caller asks for.
 * @returns The backend to make the pair on.
 * @throws {OSError} The refusal, where libc cannot ask the kernel.
 */
export function choosePairBackend(
  family: number,
  type: number,
  proto: number,
  request: BackendRequest = {},
): Backend {
  if (family === AF_UNIX) return chooseBackend(family, type, proto, request);
  if (request.backend !== "deno" && libcUsable()) return libcBackend;
  throw new OSError(kernelRefusal(family, type, proto) || E.EOPNOTSUPP);
}

/**
 * The libc backend, or the error that says why it cannot run here
 * (PermissionError naming --allow-ffi where FFI is denied).
 *
 * @param what The call that needs it, for the message.
 */
export function needLibc(what: string): LibcBackend {
  if (!checkLibc()) {
    throw new OSError(
      E.EOPNOTSUPP,
      `${what} needs the libc backend, which is not available on this platform`,
    );
  }
  return libcBackend;
}

/**
 * `fd` as a descriptor for libc to take (fromfd, dup, socket(fileno=...),
 * send_fds): a Deno-backend socket's `fileno()` is a number of this
 * module's, not a descriptor, and the error says so.
 *
 * @param fd The number given.
 * @param what The call, for the message.
 * @returns `fd`.
 * @throws {OSError} `[Errno 9]` naming the libc backend, for an open
 *   Deno-backend socket's number.
 */
export function libcDescriptor(fd: number, what: string): number {
  if (denoSocket(fd) !== null) {
    throw new OSError(
      E.EBADF,
      `${what}: ${fd} is the fileno() of a Deno-backend socket, which has no descriptor; ${LIBC_HINT}`,
    );
  }
  return fd;
}

/**
 * The one backend choice, for every socket the module opens (the Socket
 * constructor, socketpair, create_connection, create_server).
 *
 * @param family The socket's family.
 * @param type Its type, without flag bits.
 * @param proto Its protocol.
 * @param request What the caller asks for.
 * @returns The backend to open the socket on.
 * @throws {OSError} The kernel's refusal where known without FFI; EOPNOTSUPP
 *   for `backend: "deno"` on a kind Deno's networking does not have.
 * @throws {PermissionError} The socket needs libc and FFI is denied.
 */
export function chooseBackend(
  family: number,
  type: number,
  proto: number,
  request: BackendRequest = {},
): Backend {
  if (request.backend === "libc") return needLibc('backend: "libc"');
  if (denoCan(family, type, proto)) {
    if (request.kernelOptions && request.backend !== "deno" && libcUsable()) {
      return libcBackend;
    }
    return denoBackend;
  }
  const refusal = kernelRefusal(family, type, proto);
  if (request.backend === "deno") {
    throw new OSError(
      refusal || E.EOPNOTSUPP,
      refusal ? undefined : "Deno's networking has TCP and UDP sockets on " +
        "AF_INET and AF_INET6 and stream sockets on AF_UNIX, not this kind: " +
        'use backend: "libc" (needs --allow-ffi)',
    );
  }
  if (refusal && !libcUsable()) throw new OSError(refusal);
  return needLibc(`socket(${family}, ${type}, ${proto})`);
}

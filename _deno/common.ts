// What the Deno backend's stream and datagram sockets share: error
// translation, the socket options Deno can honour, pseudo descriptors.
import { WAKE_ALL } from "../_poll_bits.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  errno as E,
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_JOIN_GROUP,
  IPV6_LEAVE_GROUP,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_V6ONLY,
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
  SO_PEERCRED,
  SO_PROTOCOL,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_SNDBUF,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../constants.ts";
import { OSError, PermissionError } from "../errors.ts";
import type { SockAddr } from "../_backend.ts";
import { badFd, loopPolled } from "../_wait.ts";
import { inet_ntop, inet_pton } from "../_inet.ts";
import { ABSTRACT_NAME } from "../_permissions.ts";
import { libc, libcUsable } from "../_libc/ffi.ts";

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
    // Deno quotes an abstract unix name with its NUL byte: it is named as
    // the libc backend's check names it.
    const message = (e as Error).message.replace(
      /"unix:\0[^"]*"/,
      ABSTRACT_NAME,
    );
    return new PermissionError(E.EACCES, message, { cause: e });
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
  /**
   * Call `fn` whenever poll()'s answer may have changed; returns the
   * unsubscriber. `key` says what the change concerns, as Linux's wakeup
   * key (see WAKE_INPUT and the others in _poll_bits.ts): an edge-triggered
   * watch reports only after a change it watches; WAKE_NONE when a call
   * took all the socket held (bytes, a connection, a datagram), which makes
   * no event on Linux, but the watch looks again to read on.
   */
  watch(fn: (key: number) => void): () => void;
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
  #fns: ((key: number) => void)[] = [];

  /** Add `fn`; returns its remover. */
  add(fn: (key: number) => void): () => void {
    this.#fns.push(fn);
    return () => {
      const i = this.#fns.indexOf(fn);
      if (i >= 0) this.#fns.splice(i, 1);
    };
  }

  /**
   * Tell every watcher that readiness may have changed.
   *
   * @param key What the change concerns (see DenoReadiness.watch).
   */
  notify(key: number = WAKE_ALL): void {
    const fns = this.#fns;
    if (fns.length === 0) return;
    for (const fn of fns.length === 1 ? fns : fns.slice()) fn(key);
  }
}

/** getsockname() of an unbound socket. */
export function unboundName(family: number): SockAddr {
  if (family === AF_UNIX) return "";
  return family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
}

/**
 * An address's host as Deno's networking takes it: an AF_INET6 address's
 * scope id as a zone ("fe80::1%3"), Deno's only way to say which link.
 *
 * @param addr The address as the Python layer gives it.
 */
export function zonedHost(addr: SockAddr): string {
  const [host, , , scope] = addr as [string, number, number?, number?];
  return !scope || host.includes("%") ? host : `${host}%${scope}`;
}

/** Whether an IPv6 host is link-local (fe80::/10): its scope id names the link. */
export function isLinkLocal(host: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(host);
}

/**
 * An address Deno gave, with the scope id it leaves out on a link-local
 * host: `scope`, the link the socket is bound or connected to (0: none).
 *
 * @param addr The address, from fromDeno().
 * @param scope The scope id to put in.
 */
export function withScope(addr: SockAddr, scope: number): SockAddr {
  if (scope !== 0 && Array.isArray(addr) && addr.length === 4) {
    if (isLinkLocal(addr[0])) return [addr[0], addr[1], addr[2], scope];
  }
  return addr;
}

/**
 * A multicast membership as IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP ask for it:
 * the group, and the interface as an IPv4 address (`""` for any) or an
 * IPv6 interface index (0 for any).
 */
export interface Membership {
  readonly v6: boolean;
  readonly group: string;
  readonly address: string;
  readonly index: number;
}

/** What one setsockopt() asks for, checked as Linux checks it. */
export type Setting =
  | {
    readonly kind: "value";
    readonly level: number;
    readonly option: number;
    /** What getsockopt() will read back. */
    readonly value: number;
  }
  | {
    readonly kind: "join" | "leave";
    readonly level: number;
    readonly option: number;
    readonly membership: Membership;
  };

// Linux's defaults and bounds for SO_RCVBUF / SO_SNDBUF (net.core.*mem_*),
// read from /proc where Deno may, else the kernel's compiled-in values.
const BUFFER_LIMITS = {
  rcv: { file: "rmem", min: 2304 },
  snd: { file: "wmem", min: 4608 },
} as const;

function sysctl(name: string, fallback: number): number {
  try {
    const n = Number(Deno.readTextFileSync(`/proc/sys/net/core/${name}`));
    return Number.isInteger(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

// IPV6_V6ONLY of a new AF_INET6 socket (net.ipv6.bindv6only; 0 unless set):
// the one value Deno's sockets can have, as Deno cannot set the option.
function v6onlyDefault(): number {
  try {
    return Deno.readTextFileSync("/proc/sys/net/ipv6/bindv6only").trim() ===
        "1"
      ? 1
      : 0;
  } catch {
    return 0;
  }
}

/**
 * Python's socket options that Deno can honour, with their recorded
 * values: values checked as Linux checks them (EINVAL for what it
 * refuses), read back as Linux reports them, and everything else an OSError
 * (ENOPROTOOPT) that names the libc backend.
 *
 * Limits, against the kernel's socket: SO_RCVBUF / SO_SNDBUF read back as
 * Linux computes them (doubled, within net.core.*mem_max) but Deno has no
 * way to pass them on, so the kernel's defaults stay; a Deno backend
 * socket has no kernel socket before bind(), so what only the kernel can
 * judge (an IP_MULTICAST_IF address, a membership's interface) set before
 * bind() is judged when the socket binds.
 */
export class Options {
  /** The values read back, by `level:option`. */
  readonly values = new Map<string, number>();
  /** Multicast groups joined, by {@linkcode Options.key}. */
  readonly memberships = new Map<string, Membership>();
  /**
   * @param family The socket's family.
   * @param type SOCK_STREAM or SOCK_DGRAM.
   * @param bound Whether the socket has a local port now (Linux refuses
   *   IPV6_V6ONLY then).
   */
  constructor(
    readonly family: number,
    readonly type: number,
    readonly bound: () => boolean = () => false,
  ) {}

  /**
   * Note a bind() that succeeded: as Linux's, an AF_INET6 socket bound to
   * one address (not the wildcard, not IPv4-mapped) becomes IPv6-only.
   *
   * @param host The numeric host bound to.
   */
  bind(host: string): void {
    if (this.family !== AF_INET6) return;
    let b: Uint8Array;
    try {
      b = inet_pton(AF_INET6, host.replace(/%.*$/, ""));
    } catch {
      return;
    }
    const zeros = b.subarray(0, 10).every((x) => x === 0);
    const any = zeros && b.subarray(10).every((x) => x === 0);
    const mapped = zeros && b[10] === 0xff && b[11] === 0xff;
    if (!any && !mapped) this.values.set(`${IPPROTO_IPV6}:${IPV6_V6ONLY}`, 1);
  }

  // Linux's socket takes options at SOL_SOCKET, IP, its protocol's level
  // and (AF_INET6) IPv6 only; any other level is refused whatever the
  // backend: ENOPROTOOPT, or EOPNOTSUPP for an AF_INET getsockopt().
  #level(level: number, get: boolean): void {
    const v4 = this.family !== AF_INET6;
    if (
      level === SOL_SOCKET || level === IPPROTO_IP ||
      level === (this.type === SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP) ||
      (!v4 && level === IPPROTO_IPV6)
    ) return;
    throw new OSError(get && v4 ? E.EOPNOTSUPP : E.ENOPROTOOPT);
  }

  /** A membership's identity, as the kernel tells two apart. */
  static key(m: Membership): string {
    return `${m.group}|${m.v6 ? m.index : m.address}`;
  }

  /**
   * Check a setsockopt() as Linux would, without recording it.
   *
   * @throws {OSError} EINVAL for a value Linux refuses, EADDRINUSE /
   *   EADDRNOTAVAIL for a membership already there / not there,
   *   ENOPROTOOPT naming libc for what Deno cannot do.
   */
  parse(
    level: number,
    option: number,
    value: number | Uint8Array | null,
  ): Setting {
    this.#unixLevel(level);
    this.#level(level, false);
    if (value === null) {
      throw new OSError(
        E.ENOPROTOOPT,
        `Protocol not available: setsockopt(${level}, ${option}, None, optlen) passes no buffer, which only the kernel's socket takes; ${LIBC_HINT}`,
      );
    }
    if (level === SOL_SOCKET && READ_ONLY.includes(option)) {
      Options.#int(value, false);
      throw new OSError(E.ENOPROTOOPT);
    }
    const dgram = this.type === SOCK_DGRAM;
    const v4 = this.family !== AF_INET6;
    const plain = (v: number): Setting => ({
      kind: "value",
      level,
      option,
      value: v,
    });
    if (level === SOL_SOCKET) {
      if (
        option === SO_REUSEADDR || option === SO_KEEPALIVE ||
        option === SO_BROADCAST
      ) return plain(Options.#int(value, false) !== 0 ? 1 : 0);
      if (dgram && (option === SO_RCVBUF || option === SO_SNDBUF)) {
        const limits = BUFFER_LIMITS[option === SO_RCVBUF ? "rcv" : "snd"];
        // As net/core/sock.c: the request as u32, capped at *mem_max,
        // doubled for bookkeeping, never under the minimum.
        const asked = Options.#int(value, false) >>> 0;
        const capped = Math.min(asked, sysctl(`${limits.file}_max`, 212992));
        return plain(Math.max(capped * 2, limits.min));
      }
    }
    if (level === IPPROTO_TCP && option === TCP_NODELAY && !dgram) {
      return plain(Options.#int(value, false) !== 0 ? 1 : 0);
    }
    if (dgram && level === IPPROTO_IP && option === IP_TTL) {
      const v = Options.#int(value, true);
      if (v === -1) return plain(64);
      if (v < 1 || v > 255) throw new OSError(E.EINVAL);
      return plain(v);
    }
    if (dgram && v4 && level === IPPROTO_IP) {
      if (option === IP_MULTICAST_TTL) {
        const v = Options.#int(value, true);
        if (v === -1) return plain(1);
        if (v < 0 || v > 255) throw new OSError(E.EINVAL);
        return plain(v);
      }
      if (option === IP_MULTICAST_LOOP) {
        return plain(Options.#int(value, true) !== 0 ? 1 : 0);
      }
      if (option === IP_MULTICAST_IF) {
        const b = Options.#bytes(value);
        if (b.length < 4) throw new OSError(E.EINVAL);
        // struct ip_mreqn (12 bytes) names the interface by imr_address or
        // imr_ifindex, struct ip_mreq (8) by imr_interface, both after the
        // group; struct in_addr (4) by address.
        const at = b.length >= 8 ? 4 : 0;
        if (b.length >= 12 && Options.#u32(b, 8) !== 0) {
          throw Options.#needsLibc(level, option, "an interface index");
        }
        // Linux looks the address up at once: one no interface has is
        // EADDRNOTAVAIL (node:dgram would refuse it only at bind()).
        if (localAddress(b.subarray(at, at + 4)) === false) {
          throw new OSError(E.EADDRNOTAVAIL);
        }
        return plain(
          new DataView(b.buffer, b.byteOffset + at, 4).getInt32(0, true),
        );
      }
      if (option === IP_ADD_MEMBERSHIP || option === IP_DROP_MEMBERSHIP) {
        // struct ip_mreq (8 bytes) or ip_mreqn (12): group, interface
        // address, and in ip_mreqn an interface index.
        const b = Options.#bytes(value);
        if (b.length < 8) throw new OSError(E.EINVAL);
        // Linux checks the group on joining only: leaving one never joined
        // is EADDRNOTAVAIL, multicast or not.
        if (option === IP_ADD_MEMBERSHIP && (b[0] < 224 || b[0] > 239)) {
          throw new OSError(E.EINVAL);
        }
        if (b.length >= 12 && Options.#u32(b, 8) !== 0) {
          throw Options.#needsLibc(level, option, "an interface index");
        }
        const iface = b.subarray(4, 8).join(".");
        // Joining through an address no interface has: ENODEV at once, as
        // Linux's (not at bind()).
        if (
          option === IP_ADD_MEMBERSHIP &&
          localAddress(b.subarray(4, 8)) === false
        ) throw new OSError(E.ENODEV);
        return this.#membership(level, option, {
          v6: false,
          group: b.subarray(0, 4).join("."),
          address: iface === "0.0.0.0" ? "" : iface,
          index: 0,
        });
      }
    }
    if (dgram && !v4 && level === IPPROTO_IPV6) {
      if (option === IPV6_MULTICAST_LOOP) {
        const v = Options.#int(value, false);
        if (v !== 0 && v !== 1) throw new OSError(E.EINVAL);
        return plain(v);
      }
      if (option === IPV6_MULTICAST_IF) {
        // Linux looks the interface up at once (ENODEV), where it can be
        // told here.
        const v = Options.#int(value, false);
        if (v !== 0 && (v < 0 || interfaceName(v) === null)) {
          throw new OSError(E.ENODEV);
        }
        return plain(v);
      }
      if (option === IPV6_JOIN_GROUP || option === IPV6_LEAVE_GROUP) {
        // struct ipv6_mreq: the group's 16 bytes, then the interface index.
        const b = Options.#bytes(value);
        if (b.length < 20) throw new OSError(E.EINVAL);
        if (b[0] !== 0xff) throw new OSError(E.EINVAL);
        const index = Options.#u32(b, 16);
        // Linux looks the interface up at once (ENODEV), not at bind().
        if (
          option === IPV6_JOIN_GROUP && index !== 0 &&
          (index > 0x7fffffff || interfaceName(index) === null)
        ) throw new OSError(E.ENODEV);
        return this.#membership(level, option, {
          v6: true,
          group: inet_ntop(AF_INET6, b.subarray(0, 16)),
          address: "",
          index,
        });
      }
    }
    if (!v4 && level === IPPROTO_IPV6 && option === IPV6_V6ONLY) {
      // The value Deno's socket will have is accepted (dual-stack code sets
      // 0); the other one needs the kernel's socket.
      const v = Options.#int(value, false) !== 0 ? 1 : 0;
      // Linux: not once the socket has a port.
      if (this.bound()) throw new OSError(E.EINVAL);
      if (v === v6onlyDefault()) return plain(v);
    }
    throw new OSError(
      E.ENOPROTOOPT,
      `Protocol not available: option (${level}, ${option}) cannot be set through Deno's networking; ${LIBC_HINT}`,
    );
  }

  #membership(level: number, option: number, m: Membership): Setting {
    const join = option === IP_ADD_MEMBERSHIP || option === IPV6_JOIN_GROUP;
    const known = this.memberships.has(Options.key(m));
    if (join && known) throw new OSError(E.EADDRINUSE);
    if (!join && !known) throw new OSError(E.EADDRNOTAVAIL);
    return { kind: join ? "join" : "leave", level, option, membership: m };
  }

  // A unix socket has no options but SOL_SOCKET's: Linux answers any other
  // level (TCP_NODELAY too) with EOPNOTSUPP.
  #unixLevel(level: number): void {
    if (this.family === AF_UNIX && level !== SOL_SOCKET) {
      throw new OSError(E.EOPNOTSUPP);
    }
  }

  /** Remember a setting that took effect (or will, at bind). */
  record(s: Setting): void {
    if (s.kind === "value") {
      this.values.set(`${s.level}:${s.option}`, s.value);
    } else if (s.kind === "join") {
      this.memberships.set(Options.key(s.membership), s.membership);
    } else this.memberships.delete(Options.key(s.membership));
  }

  /** parse() and record() at once; the value getsockopt() will read. */
  set(
    level: number,
    option: number,
    value: number | Uint8Array | null,
  ): number {
    const s = this.parse(level, option, value);
    this.record(s);
    return s.kind === "value" ? s.value : 0;
  }

  /** Whether a value was set for the option. */
  has(level: number, option: number): boolean {
    return this.values.has(`${level}:${option}`);
  }

  get(level: number, option: number, listening: boolean): number {
    this.#unixLevel(level);
    this.#level(level, true);
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
    if (v !== undefined) return v;
    const dgram = this.type === SOCK_DGRAM;
    const v4 = this.family !== AF_INET6;
    if (
      (level === SOL_SOCKET &&
        (option === SO_REUSEADDR || option === SO_KEEPALIVE ||
          option === SO_BROADCAST)) ||
      (level === IPPROTO_TCP && option === TCP_NODELAY && !dgram)
    ) return 0;
    if (dgram) {
      if (level === SOL_SOCKET && option === SO_RCVBUF) {
        return sysctl("rmem_default", 212992);
      }
      if (level === SOL_SOCKET && option === SO_SNDBUF) {
        return sysctl("wmem_default", 212992);
      }
      if (level === IPPROTO_IP && option === IP_TTL) return 64;
      if (v4 && level === IPPROTO_IP) {
        if (option === IP_MULTICAST_TTL || option === IP_MULTICAST_LOOP) {
          return 1;
        }
        if (option === IP_MULTICAST_IF) return 0;
      }
      if (!v4 && level === IPPROTO_IPV6) {
        if (option === IPV6_MULTICAST_LOOP) return 1;
        if (option === IPV6_MULTICAST_IF) return 0;
      }
    }
    if (!v4 && level === IPPROTO_IPV6 && option === IPV6_V6ONLY) {
      return v6onlyDefault();
    }
    throw new OSError(
      E.ENOPROTOOPT,
      `Protocol not available: option (${level}, ${option}) cannot be read through Deno's networking; ${LIBC_HINT}`,
    );
  }

  flag(level: number, option: number): boolean {
    return (this.values.get(`${level}:${option}`) ?? 0) !== 0;
  }

  // An int option's value. SOL_SOCKET options need a whole int; IP ones
  // take one byte too (net/ipv4/ip_sockglue.c). Bytes are host order.
  static #int(value: number | Uint8Array, orByte: boolean): number {
    if (typeof value === "number") return value | 0;
    if (value.length >= 4) {
      return new DataView(value.buffer, value.byteOffset, 4).getInt32(0, true);
    }
    if (orByte && value.length >= 1) return value[0];
    throw new OSError(E.EINVAL);
  }

  // A struct option's bytes; an int is its 4 bytes in host order.
  static #bytes(value: number | Uint8Array): Uint8Array {
    if (typeof value !== "number") return value;
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value, true);
    return b;
  }

  static #u32(b: Uint8Array, at: number): number {
    return new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0, true);
  }

  static #needsLibc(level: number, option: number, what: string): OSError {
    return new OSError(
      E.ENOPROTOOPT,
      `Protocol not available: option (${level}, ${option}) with ${what} cannot be set through Deno's networking: give the interface's address, or ${LIBC_HINT}`,
    );
  }
}

// SOL_SOCKET options Linux only reads: setting one is ENOPROTOOPT on
// either backend.
const READ_ONLY: readonly number[] = [
  SO_TYPE,
  SO_ERROR,
  SO_ACCEPTCONN,
  SO_PROTOCOL,
  SO_DOMAIN,
  SO_PEERCRED,
];

/**
 * The name of the interface with this index; `undefined` where this
 * process cannot tell (no read of /sys/class/net, no FFI), `null` where
 * there is none.
 *
 * @param index The interface index, above 0.
 */
export function interfaceName(index: number): string | null | undefined {
  const sys = "/sys/class/net";
  // Queried first: a read Deno has not been granted would prompt.
  const read = Deno.permissions.querySync({ name: "read", path: sys });
  if (read.state === "granted") {
    try {
      for (const entry of Deno.readDirSync(sys)) {
        const text = Deno.readTextFileSync(`${sys}/${entry.name}/ifindex`);
        if (Number(text) === index) return entry.name;
      }
      return null;
    } catch {
      // Not readable after all (Deno keeps /sys for --allow-all): libc's.
    }
  }
  if (!libcUsable()) return undefined;
  const name = new Uint8Array(16);
  if (libc().if_indextoname(index >>> 0, name) === null) return null;
  const end = name.indexOf(0);
  return new TextDecoder().decode(name.subarray(0, end < 0 ? 16 : end));
}

/**
 * Whether Linux's ip_dev_find() finds an interface for the IPv4 address
 * `b` (4 bytes): the wildcard (no interface named) and an address some
 * interface has count, and any address a local route covers (127.0.0.2:
 * the kernel routes the whole 127.0.0.0/8 locally; an AnyIP prefix added
 * with `ip route add local`), as /proc/net/fib_trie lists them where this
 * process may read it (Deno lets only `--allow-all`), else a loopback
 * interface's prefix. `undefined` where this process may not list the
 * interfaces (no `--allow-sys`): the kernel's socket tells, once there is
 * one.
 *
 * @param b The address's bytes, in network order.
 * @returns Whether the kernel finds an interface, or `undefined`.
 */
export function localAddress(b: Uint8Array): boolean | undefined {
  const addr = ipv4Value(b);
  if (addr === 0) return true;
  // Queried first: a listing Deno has not been granted would prompt.
  const sys = Deno.permissions.querySync({
    name: "sys",
    kind: "networkInterfaces",
  });
  if (sys.state !== "granted") return undefined;
  let list: Deno.NetworkInterfaceInfo[];
  try {
    list = Deno.networkInterfaces();
  } catch {
    return undefined;
  }
  const v4 = list.filter(({ family }) => family === "IPv4");
  const own = (text: string) => ipv4Value(inet_pton(AF_INET, text));
  if (v4.some(({ address }) => own(address) === addr)) return true;
  // Read only now: the file is long on a router with a full table.
  const routes = localRoutes() ??
    v4.filter(({ name }) => name === "lo").map((
      { address, netmask },
    ): [number, number] => [own(address), own(netmask)]);
  return routes.some(([net, mask]) => ((net ^ addr) & mask) === 0);
}

function ipv4Value(x: Uint8Array): number {
  return ((x[0] << 24) | (x[1] << 16) | (x[2] << 8) | x[3]) >>> 0;
}

// The prefixes of the kernel's local routes ([network, mask]), or null where
// /proc/net/fib_trie may not be read. Its leaves read "|-- 10.98.0.0" with a
// line under each route, "/24 host LOCAL".
function localRoutes(): [number, number][] | null {
  const path = "/proc/net/fib_trie";
  // Queried first: a read Deno has not been granted would prompt.
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return null;
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return null;
  }
  const out: [number, number][] = [];
  let leaf = 0;
  for (const line of text.split("\n")) {
    const at = line.match(/^\s*\|-- (\d+\.\d+\.\d+\.\d+)$/);
    if (at !== null) leaf = ipv4Value(inet_pton(AF_INET, at[1]));
    const local = line.match(/^\s*\/(\d+) \S+ LOCAL\b/);
    if (local === null) continue;
    const bits = Number(local[1]);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    out.push([(leaf & mask) >>> 0, mask]);
  }
  return out;
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

// Calls in flight on sockets closed since: Deno lets go of a socket (its
// port, its file) only when its ops have ended, a turn of the event loop
// after close().
const closing = new Set<Promise<void>>();

/**
 * Note that a closed socket's `op` (an accept or receive in flight) holds
 * its address until it settles.
 *
 * @param op The op's promise.
 */
export function lettingGo(op: Promise<unknown>): void {
  // Bounded, so that a wait for it can never hang; the timer holds nothing.
  let timer = 0;
  const bound = new Promise((resolve) => {
    timer = Number(setTimeout(resolve, LETTING_GO_MS));
    Deno.unrefTimer(timer);
  });
  const done = () => {
    clearTimeout(timer);
    closing.delete(gone);
  };
  const gone: Promise<void> = Promise.race([op, bound]).then(done, done);
  closing.add(gone);
}

// Longer than any turn of the event loop takes.
const LETTING_GO_MS = 1000;

/**
 * Resolves once every Deno-backend socket closed so far has let go of its
 * address, so that a new one can bind it (socketserver's `server_close()`
 * waits for this, as a restart on the same port follows it).
 */
export async function socketsLetGo(): Promise<void> {
  while (closing.size > 0) await Promise.all(closing);
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

  watch(fn: (key: number) => void): () => void {
    return this.watchers.add(fn);
  }

  /**
   * A read, accept, connect or receive kept in flight has settled: its
   * outcome is in place, readiness may have changed (`key` says how, see
   * DenoReadiness.watch), and Deno's event loop has polled for I/O (see
   * loopPolled).
   */
  protected settled(key: number = WAKE_ALL): void {
    loopPolled();
    this.watchers.notify(key);
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

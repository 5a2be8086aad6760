// struct sockaddr in and out of bytes, for the libc backend: sockaddr_in,
// sockaddr_in6 and sockaddr_un as Linux lays them out (the same on x86_64 and
// aarch64). Pure JavaScript, no FFI: every read is bounded by both the buffer
// and the length the kernel reported.
import type { SockAddr } from "../_backend.ts";
import { fsDecode, fsEncode } from "../_args.ts";
import { gaierror, OSError } from "../errors.ts";
import {
  formatIPv6,
  inet_ntop,
  inet_pton,
  parsePton4,
  parsePton6,
} from "../_inet.ts";

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const AF_PACKET = 17;
const ENODEV = 19;
/** `sizeof(struct sockaddr_nl)`. */
const SOCKADDR_NL_LEN = 12;
/** `sizeof(struct sockaddr_ll)`: its address holds 8 bytes. */
const SOCKADDR_LL_LEN = 20;

/** `sizeof(struct sockaddr_storage)`: room for any address the kernel returns. */
export const SOCKADDR_MAX = 128;
/** `sizeof(struct sockaddr_in)`. */
export const SOCKADDR_IN_LEN = 16;
/** `sizeof(struct sockaddr_in6)`. */
export const SOCKADDR_IN6_LEN = 28;
/** `offsetof(struct sockaddr_un, sun_path)`, also `sizeof(sa_family_t)`. */
export const SUN_PATH_OFFSET = 2;
/** `sizeof(((struct sockaddr_un *)0)->sun_path)`. */
export const SUN_PATH_MAX = 108;

// sa_family and sin6_scope_id are in host order; ports, addresses and
// flowinfo in network order.
/** Whether this machine is little-endian (host order for C structs). */
export const HOST_LE: boolean =
  new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function tooLong(): OSError {
  return new OSError("AF_UNIX path too long");
}

// inet_pton throws the error Python gives for a host that is not numeric.
function badIp(family: number, host: string): never {
  inet_pton(family, host);
  throw new OSError("illegal IP address string passed to inet_pton");
}

function need(out: Uint8Array, n: number): void {
  if (out.length < n) {
    throw new RangeError(
      `sockaddr buffer too small: ${n} bytes needed, ${out.length} given`,
    );
  }
}

function putFamily(out: Uint8Array, family: number): void {
  if (HOST_LE) {
    out[0] = family & 0xff;
    out[1] = (family >>> 8) & 0xff;
  } else {
    out[0] = (family >>> 8) & 0xff;
    out[1] = family & 0xff;
  }
}

function putU32(out: Uint8Array, at: number, v: number, le: boolean): void {
  if (le) {
    out[at] = v & 0xff;
    out[at + 1] = (v >>> 8) & 0xff;
    out[at + 2] = (v >>> 16) & 0xff;
    out[at + 3] = (v >>> 24) & 0xff;
  } else {
    out[at] = (v >>> 24) & 0xff;
    out[at + 1] = (v >>> 16) & 0xff;
    out[at + 2] = (v >>> 8) & 0xff;
    out[at + 3] = v & 0xff;
  }
}

function getU32(b: Uint8Array, at: number, le: boolean): number {
  return le
    ? (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0
    : ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>>
      0;
}

/**
 * The address family stored in a sockaddr (`sa_family`), or -1 when fewer
 * than 2 bytes are there.
 *
 * @param buf The sockaddr bytes.
 * @param addrlen The length the kernel reported.
 * @returns The family number.
 *
 * @example
 * ```ts
 * import { sockaddrFamily } from "./sockaddr.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(sockaddrFamily(new Uint8Array([2, 0, 0, 80]), 4), 2);
 * assert.equal(sockaddrFamily(new Uint8Array(0), 0), -1);
 * ```
 */
export function sockaddrFamily(buf: Uint8Array, addrlen: number): number {
  if (Math.min(addrlen, buf.length) < 2) return -1;
  return HOST_LE ? buf[0] | (buf[1] << 8) : (buf[0] << 8) | buf[1];
}

/**
 * Resolve an interface name to its index (`if_nametoindex`), 0 when unknown.
 */
export type InterfaceIndex = (name: string) => number;

/**
 * Resolve an interface index to its name (`if_indextoname`), `""` when
 * unknown.
 */
export type InterfaceName = (index: number) => string;

function putU16(out: Uint8Array, at: number, v: number, le: boolean): void {
  out[at + (le ? 0 : 1)] = v & 0xff;
  out[at + (le ? 1 : 0)] = (v >>> 8) & 0xff;
}

function getU16(b: Uint8Array, at: number, le: boolean): number {
  return le ? b[at] | (b[at + 1] << 8) : (b[at] << 8) | b[at + 1];
}

// Split "fe80::1%eth0" into the address and a scope id: a numeric zone is the
// index itself, a name is looked up.
function scoped(
  host: string,
  pct: number,
  scope: number,
  ifindex?: InterfaceIndex,
): number {
  const zone = host.slice(pct + 1);
  if (/^[0-9]+$/.test(zone)) return scope || Number(zone) >>> 0;
  const index = ifindex?.(zone) ?? 0;
  if (index === 0) throw new gaierror(-2);
  return scope || index;
}

/**
 * Write `addr` as a `struct sockaddr` of `family` into `out` and return its
 * length (the `addrlen` to pass to the kernel).
 *
 * AF_INET takes `[ip, port]`; AF_INET6 `[ip, port]` or
 * `[ip, port, flowinfo, scope_id]` (a `%zone` suffix on the ip sets the
 * scope id when none is given); AF_UNIX a path string, or bytes: a leading
 * NUL makes a Linux abstract name, and an empty name asks the kernel to
 * autobind (length 2); AF_NETLINK `[pid, groups]`; AF_PACKET `[ifname,
 * proto, pkttype, hatype, addr]` (the name looked up with `ifindex`: an
 * unknown one is ENODEV). Any other family takes the raw sockaddr bytes.
 * Hosts must be numeric: name resolution happened above.
 *
 * @param family The socket's address family.
 * @param addr The address.
 * @param out Where to write; {@linkcode SOCKADDR_MAX} bytes fit any address.
 * @param ifindex Looks up `%eth0`-style zone names (if_nametoindex).
 * @returns The address length in bytes.
 * @throws {OSError} `AF_UNIX path too long`, `bad family`, or an IP string
 *   that is not numeric (as `inet_pton` reports it).
 *
 * @example
 * ```ts
 * import { encodeSockAddr, SOCKADDR_MAX } from "./sockaddr.ts";
 * import assert from "node:assert/strict";
 *
 * const out = new Uint8Array(SOCKADDR_MAX);
 * const len = encodeSockAddr(2, ["127.0.0.1", 80], out);
 * assert.equal(len, 16);
 * assert.deepEqual(out.subarray(2, 8), new Uint8Array([0, 80, 127, 0, 0, 1]));
 * ```
 */
export function encodeSockAddr(
  family: number,
  addr: SockAddr,
  out: Uint8Array,
  ifindex?: InterfaceIndex,
): number {
  if (family === AF_INET || family === AF_INET6) {
    if (!Array.isArray(addr) || typeof addr[0] !== "string") {
      throw new OSError("bad family");
    }
    let host = addr[0];
    const port = addr[1];
    if (family === AF_INET) {
      need(out, SOCKADDR_IN_LEN);
      out.fill(0, 0, SOCKADDR_IN_LEN);
      if (!parsePton4(host, 0, host.length, out, 4)) badIp(AF_INET, host);
      putFamily(out, AF_INET);
      out[2] = (port >>> 8) & 0xff;
      out[3] = port & 0xff;
      return SOCKADDR_IN_LEN;
    }
    need(out, SOCKADDR_IN6_LEN);
    out.fill(0, 0, SOCKADDR_IN6_LEN);
    const full = addr.length > 2
      ? addr as [string, number, number, number]
      : null;
    let scope = full ? full[3] : 0;
    const pct = host.indexOf("%");
    if (pct >= 0) {
      scope = scoped(host, pct, scope, ifindex);
      host = host.slice(0, pct);
    }
    if (!parsePton6(host, 0, host.length, out, 8)) badIp(AF_INET6, host);
    putFamily(out, AF_INET6);
    out[2] = (port >>> 8) & 0xff;
    out[3] = port & 0xff;
    putU32(out, 4, full ? full[2] : 0, false);
    putU32(out, 24, scope, HOST_LE);
    return SOCKADDR_IN6_LEN;
  }
  if (family === AF_UNIX) {
    if (Array.isArray(addr)) throw new OSError("bad family");
    const path = typeof addr === "string" ? fsEncode(addr) : addr;
    const n = path.length;
    // As CPython does on Linux: an empty or NUL-led name is abstract and
    // passed with its exact length; a path gets its terminating NUL counted.
    const abstract = n === 0 || path[0] === 0;
    if (abstract ? n > SUN_PATH_MAX : n >= SUN_PATH_MAX) throw tooLong();
    const len = SUN_PATH_OFFSET + n + (abstract ? 0 : 1);
    need(out, len);
    putFamily(out, AF_UNIX);
    out.set(path, SUN_PATH_OFFSET);
    if (!abstract) out[SUN_PATH_OFFSET + n] = 0;
    return len;
  }
  if (family === AF_NETLINK && Array.isArray(addr) && addr.length === 2) {
    const [pid, groups] = addr as [number, number];
    need(out, SOCKADDR_NL_LEN);
    out.fill(0, 0, SOCKADDR_NL_LEN);
    putFamily(out, AF_NETLINK);
    putU32(out, 4, pid, HOST_LE);
    putU32(out, 8, groups, HOST_LE);
    return SOCKADDR_NL_LEN;
  }
  if (family === AF_PACKET && Array.isArray(addr) && addr.length === 5) {
    const [ifname, proto, pkttype, hatype, hw] = addr as [
      string,
      number,
      number,
      number,
      Uint8Array,
    ];
    // As CPython's SIOCGIFINDEX: an unknown interface is ENODEV.
    const index = ifindex?.(ifname) ?? 0;
    if (index === 0) throw new OSError(ENODEV);
    need(out, SOCKADDR_LL_LEN);
    out.fill(0, 0, SOCKADDR_LL_LEN);
    putFamily(out, AF_PACKET);
    putU16(out, 2, proto, false);
    putU32(out, 4, index, HOST_LE);
    putU16(out, 8, hatype, HOST_LE);
    out[10] = pkttype & 0xff;
    out[11] = Math.min(hw.length, 8);
    out.set(hw.subarray(0, 8), 12);
    return SOCKADDR_LL_LEN;
  }
  if (!(addr instanceof Uint8Array)) throw new OSError("bad family");
  // Longer than struct sockaddr_storage: what bind(2) and connect(2) say.
  if (addr.length > SOCKADDR_MAX) throw new OSError(22);
  need(out, addr.length);
  out.set(addr, 0);
  return addr.length;
}

/**
 * Read a `struct sockaddr` the kernel wrote into `buf`, reporting `addrlen`
 * bytes. Never reads past `buf` or `addrlen` (a length larger than the
 * buffer means the kernel truncated the address: the buffer is read).
 *
 * AF_INET gives `[ip, port]`; AF_INET6 `[ip, port, flowinfo, scope_id]`;
 * AF_UNIX `""` for an unnamed socket, bytes for an abstract name (leading
 * NUL) or a path that is not UTF-8, else the path up to its first NUL;
 * AF_NETLINK `[pid, groups]`; AF_PACKET `[ifname, proto, pkttype, hatype,
 * addr]` (`""` for an index `ifname` does not know). Other families, and
 * addresses too short for their family, give the raw bytes.
 *
 * @param buf The bytes the kernel wrote.
 * @param addrlen The address length the kernel reported.
 * @param ifname Names an AF_PACKET address's interface index.
 * @returns The address, or `null` when the kernel gave none (`addrlen` 0).
 *
 * @example
 * ```ts
 * import { decodeSockAddr } from "./sockaddr.ts";
 * import assert from "node:assert/strict";
 *
 * const sin = new Uint8Array([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
 * assert.deepEqual(decodeSockAddr(sin, 16), ["127.0.0.1", 8080]);
 * assert.equal(decodeSockAddr(new Uint8Array([1, 0]), 2), "");
 * assert.equal(decodeSockAddr(sin, 0), null);
 * ```
 */
export function decodeSockAddr(
  buf: Uint8Array,
  addrlen: number,
  ifname?: InterfaceName,
): SockAddr | null {
  const len = Math.max(0, Math.min(addrlen, buf.length));
  if (len === 0) return null;
  const family = sockaddrFamily(buf, len);
  if (family === AF_INET && len >= 8) {
    return [inet_ntop(AF_INET, buf.subarray(4, 8)), (buf[2] << 8) | buf[3]];
  }
  if (family === AF_INET6 && len >= 24) {
    return [
      formatIPv6(buf, 8),
      (buf[2] << 8) | buf[3],
      getU32(buf, 4, false),
      len >= SOCKADDR_IN6_LEN ? getU32(buf, 24, HOST_LE) : 0,
    ];
  }
  if (family === AF_UNIX) {
    if (len <= SUN_PATH_OFFSET) return "";
    if (buf[SUN_PATH_OFFSET] === 0) return buf.slice(SUN_PATH_OFFSET, len);
    let end = SUN_PATH_OFFSET;
    while (end < len && buf[end] !== 0) end++;
    // As CPython: a name that is not UTF-8 comes back with its undecodable
    // bytes as lone surrogates (os.fsdecode), and goes back out as they were.
    return fsDecode(buf.subarray(SUN_PATH_OFFSET, end));
  }
  if (family === AF_NETLINK && len >= SOCKADDR_NL_LEN) {
    return [getU32(buf, 4, HOST_LE), getU32(buf, 8, HOST_LE)];
  }
  if (family === AF_PACKET && len >= 12) {
    const index = getU32(buf, 4, HOST_LE) | 0;
    const halen = Math.min(buf[11], 8, len - 12);
    return [
      index === 0 ? "" : ifname?.(index) ?? "",
      getU16(buf, 2, false),
      buf[10],
      getU16(buf, 8, HOST_LE),
      buf.slice(12, 12 + halen),
    ];
  }
  return buf.slice(0, len);
}

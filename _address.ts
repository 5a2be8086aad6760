// Python-style addresses: checked, parsed and resolved once, above the
// backends, with CPython 3.11's error classes and messages.
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_PACKET,
  AF_UNIX,
  EAI_ADDRFAMILY,
  EAI_NONAME,
} from "./constants.ts";
import { gaierror, OSError, OverflowError, ValueError } from "./errors.ts";
import type { SockAddr } from "./_backend.ts";
import {
  bytesView,
  cStringArg,
  fsEncode,
  isUtf8,
  pyTypeName,
  requireBytes,
  toInt,
} from "./_args.ts";
import {
  addressBytes,
  formatIPv6,
  isV4Mapped,
  parseAton,
  parsePton4,
  parsePton6,
} from "./_inet.ts";
import { getaddrinfo } from "./_resolve.ts";

/**
 * An address as users pass it: a tuple (array) for IP, AF_NETLINK
 * (`[pid, groups]`) and AF_PACKET (`[ifname, proto, pkttype?, hatype?,
 * addr?]`), a path or bytes for unix, bytes for other families.
 */
export type Address =
  | readonly [host: string, port: number]
  | readonly [host: string, port: number, flowinfo?: number, scope_id?: number]
  | readonly [pid: number, groups: number]
  | readonly [
    ifname: string,
    proto: number,
    pkttype?: number,
    hatype?: number,
    addr?: Uint8Array,
  ]
  | string
  | Uint8Array;

/** An IP address after its shape was checked; the host may still be a name. */
interface IpParts {
  host: string;
  port: number;
  flowinfo: number;
  scope_id: number;
}

const decoder = new TextDecoder();

function hostString(value: unknown): string {
  let host: string;
  if (typeof value === "string") host = value;
  else {
    const b = bytesView(value);
    if (b === null) {
      throw new TypeError(
        `str, bytes or bytearray expected, not ${pyTypeName(value)}`,
      );
    }
    host = decoder.decode(b);
  }
  // C would stop at the NUL: "127.0.0.1\0.example.com" must not reach
  // 127.0.0.1 past a suffix check (CPython 3.11 refuses it the same way).
  if (host.includes("\0")) {
    throw new TypeError("host name must not contain null character");
  }
  return host;
}

function ipParts(family: number, address: unknown, method: string): IpParts {
  const name = family === AF_INET ? "AF_INET" : "AF_INET6";
  if (!Array.isArray(address)) {
    throw new TypeError(
      `${method}(): ${name} address must be tuple, not ${pyTypeName(address)}`,
    );
  }
  if (
    family === AF_INET
      ? address.length !== 2
      : address.length < 2 || address.length > 4
  ) {
    throw new TypeError(
      family === AF_INET
        ? "AF_INET address must be a pair (host, port)"
        : "AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])",
    );
  }
  const host = hostString(address[0]);
  // A C int here ("i"); its range (and flowinfo's) is checked once the
  // host is resolved, as CPython's: ("127.0.0.1", 70000) on AF_INET6 is
  // the gaierror.
  const port = toInt(address[1]);
  if (port > INT_MAX || port < -INT_MAX - 1) throw portRange(method);
  // CPython reads both as C unsigned ints, modulo 2**32 (-1 is 2**32 - 1).
  let flowinfo = 0, scope_id = 0;
  if (address.length > 2) flowinfo = uint32(toInt(address[2]));
  if (address.length > 3) scope_id = uint32(toInt(address[3]));
  return { host, port, flowinfo, scope_id };
}

const INT_MAX = 2 ** 31 - 1;

function portRange(method: string): OverflowError {
  return new OverflowError(`${method}(): port must be 0-65535.`);
}

function uint32(n: number): number {
  return ((n % 2 ** 32) + 2 ** 32) % 2 ** 32;
}

/**
 * A unix socket path in one spelling, as Deno resolves its own sockets'
 * (a `unix:` permission scope is absolute): from the working directory,
 * with ".", ".." and repeated slashes resolved by name. Where reading the
 * working directory is not granted (Deno.cwd() would prompt), a relative
 * path stays relative, tidied the same way.
 *
 * @param path The path given.
 * @returns Its one spelling.
 */
export function resolveUnixPath(path: string): string {
  let full = path;
  if (!path.startsWith("/")) {
    try {
      if (
        Deno.permissions.querySync({ name: "read", path: "." }).state ===
          "granted"
      ) {
        full = `${Deno.cwd()}/${path}`;
      }
    } catch {
      // The working directory is not ours to read: the path as given.
    }
  }
  const absolute = full.startsWith("/");
  const parts: string[] = [];
  for (const part of full.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") parts.push(part);
    else if (parts.length > 0 && parts.at(-1) !== "..") parts.pop();
    else if (!absolute) parts.push(part);
  }
  return absolute ? `/${parts.join("/")}` : parts.join("/");
}

function unixAddress(address: unknown): SockAddr {
  let bytes: Uint8Array;
  let result: SockAddr;
  if (typeof address === "string") {
    bytes = fsEncode(address);
    // A name with surrogate-escaped bytes (os.fsdecode's) travels as bytes.
    result = isUtf8(bytes) ? address : bytes;
  } else {
    const b = requireBytes(address);
    bytes = b;
    // Abstract names and names that are not UTF-8 stay bytes, passed to the
    // kernel exactly; other paths become strings, as the backends expect.
    result = (b.length > 0 && b[0] === 0) || !isUtf8(b)
      ? b.slice()
      : decoder.decode(b);
  }
  // sun_path is 108 bytes: a path needs its terminating NUL, an abstract name does not.
  const limit = bytes.length > 0 && bytes[0] === 0 ? 108 : 107;
  if (bytes.length > limit) throw new OSError("AF_UNIX path too long");
  return result;
}

/**
 * A socket address's host made numeric without a lookup (`""`, `"<broadcast>"`,
 * `"localhost"`, literals), or null when it is a name that needs one.
 */
function literalHost(family: number, host: string): string | null {
  if (family === AF_INET) {
    if (host === "") return "0.0.0.0";
    if (host === "<broadcast>") return "255.255.255.255";
    if (isNumeric(AF_INET, host)) return host;
    // glibc's getaddrinfo, which CPython's bind falls back to, takes every
    // inet_aton form: "127.1", "0x7f.1", "2130706433".
    const n = parseAton(host, true);
    if (n >= 0) return addressBytes(n).join(".");
    if (host.includes(":") && isNumeric(AF_INET6, host)) {
      // glibc answers an IPv4-mapped address with its IPv4 one.
      if (isV4Mapped(scratch)) return scratch.subarray(12).join(".");
      throw new gaierror(EAI_ADDRFAMILY);
    }
  } else {
    if (host === "") return "::";
    if (host === "<broadcast>") throw new OSError("address family mismatched");
    if (host === lastHost6) return lastCanonical6;
    if (isNumeric(AF_INET6, host)) {
      // Formatted from the bytes just parsed: no second parse, no new
      // buffer (a sendto() loop to one peer asks for the same host again).
      lastCanonical6 = formatIPv6(scratch, 0);
      lastHost6 = host;
      return lastCanonical6;
    }
    if (parseAton(host, true) >= 0) throw new gaierror(EAI_ADDRFAMILY);
  }
  if (host === "localhost") return family === AF_INET ? "127.0.0.1" : "::1";
  return null;
}

const scratch = new Uint8Array(16);
// The last IPv6 literal canonicalized, and its canonical form.
let lastHost6: string | null = null;
let lastCanonical6 = "";

function isNumeric(family: number, host: string): boolean {
  return family === AF_INET
    ? parsePton4(host, 0, host.length, scratch, 0)
    : parsePton6(host, 0, host.length, scratch, 0);
}

// The address, its host resolved: the port's range and flowinfo's 20 bits
// are checked now, as CPython checks them after its setipaddr().
function build(
  family: number,
  host: string,
  p: IpParts,
  method: string,
): SockAddr {
  if (p.port < 0 || p.port > 0xffff) throw portRange(method);
  if (p.flowinfo > 0xfffff) {
    throw new OverflowError(`${method}(): flowinfo must be 0-1048575.`);
  }
  return family === AF_INET
    ? [host, p.port]
    : [host, p.port, p.flowinfo, p.scope_id];
}

/**
 * Check an address for `bind` (synchronous in Python and here): IP hosts must
 * be numeric, `''`, `'<broadcast>'` or `'localhost'`, since Deno has no
 * synchronous name lookup.
 */
export function addressForBind(
  family: number,
  address: unknown,
  method: string,
): SockAddr {
  if (family === AF_UNIX) return unixAddress(address);
  if (family !== AF_INET && family !== AF_INET6) {
    return otherAddress(family, address, method);
  }
  const p = ipParts(family, address, method);
  const host = literalHost(family, p.host);
  if (host === null) {
    throw new gaierror(
      EAI_NONAME,
      `${method}() takes a numeric host, '' or 'localhost' (got '${p.host}'): ` +
        "resolve names first with getaddrinfo()",
    );
  }
  return build(family, host, p, method);
}

/**
 * Check an address and resolve its host (for connect and sendto): numeric
 * hosts at once, names through getaddrinfo(), first result of the family;
 * `signal` stops waiting for a name. As CPython's setipaddr(), the host is
 * resolved alone (no service, no socket type: a raw socket's too), and the
 * port put in after.
 */
export function addressForConnect(
  family: number,
  address: unknown,
  method: string,
  signal?: AbortSignal,
): SockAddr | Promise<SockAddr> {
  if (family === AF_UNIX) return unixAddress(address);
  if (family !== AF_INET && family !== AF_INET6) {
    return otherAddress(family, address, method);
  }
  const p = ipParts(family, address, method);
  const host = literalHost(family, p.host);
  if (host !== null) return build(family, host, p, method);
  return getaddrinfo(p.host, null, family, 0, 0, 0, { signal }).then(
    (infos) => {
      const sa = infos[0][4];
      // A link-local name may come back with its interface's scope id.
      const scope_id = p.scope_id || (sa.length === 4 ? sa[3] : 0);
      return build(family, sa[0], { ...p, scope_id }, method);
    },
  );
}

// AF_NETLINK's (pid, groups): C unsigned ints, taken modulo 2**32 as
// CPython's "I" format takes them.
function netlinkAddress(address: unknown, method: string): SockAddr {
  if (!Array.isArray(address)) {
    throw new TypeError(
      `${method}(): AF_NETLINK address must be tuple, not ${
        pyTypeName(address)
      }`,
    );
  }
  if (address.length !== 2) {
    throw new TypeError("AF_NETLINK address must be a pair (pid, groups)");
  }
  const u32 = (v: unknown) => Number(BigInt.asUintN(32, BigInt(toInt(v))));
  return [u32(address[0]), u32(address[1])];
}

// AF_PACKET's (ifname, proto[, pkttype[, hatype[, addr]]]); the interface
// name is looked up where the address goes to the kernel.
function packetAddress(address: unknown, method: string): SockAddr {
  if (!Array.isArray(address)) {
    throw new TypeError(
      `${method}(): AF_PACKET address must be tuple, not ${
        pyTypeName(address)
      }`,
    );
  }
  if (address.length < 2 || address.length > 5) {
    throw new TypeError(
      "AF_PACKET address must be a tuple of two to five elements",
    );
  }
  const ifname = address[0];
  if (typeof ifname !== "string") {
    throw new TypeError(
      `AF_PACKET address must be a tuple of two to five elements`,
    );
  }
  cStringArg(ifname);
  // C ints, as CPython's "i" format takes them.
  const cInt = (v: unknown) => {
    const n = toInt(v);
    if (n < -(2 ** 31) || n >= 2 ** 31) {
      throw new OverflowError(`${method}(): address argument out of range`);
    }
    return n;
  };
  const proto = cInt(address[1]);
  const pkttype = address.length > 2 ? cInt(address[2]) : 0;
  const hatype = address.length > 3 ? cInt(address[3]) : 0;
  const addr = address.length > 4 ? requireBytes(address[4]).slice() : null;
  if (proto < 0 || proto > 0xffff) {
    throw new OverflowError(`${method}(): proto must be 0-65535.`);
  }
  if (addr !== null && addr.length > 8) {
    throw new ValueError("Hardware address must be 8 bytes or less");
  }
  return [ifname, proto, pkttype, hatype, addr ?? new Uint8Array(0)];
}

// The families parsed above the backends; any other passes raw bytes (or
// an array, for the kernel's encoding to refuse) to libc.
function otherAddress(
  family: number,
  address: unknown,
  method: string,
): SockAddr {
  if (family === AF_NETLINK) return netlinkAddress(address, method);
  if (family === AF_PACKET) return packetAddress(address, method);
  return opaque(address, method);
}

/** Families this layer does not parse pass raw bytes to libc. */
function opaque(address: unknown, method: string): SockAddr {
  const b = bytesView(address);
  if (b !== null) return b.slice();
  if (Array.isArray(address)) return address as SockAddr;
  throw new TypeError(
    `${method}(): address must be bytes or a tuple, not ${pyTypeName(address)}`,
  );
}

/**
 * The address an unbound datagram socket gets bound to before it sends or
 * connects (the kernel's autobind, which the Deno backend makes itself):
 * loopback toward a loopback peer, else the wildcard; port 0.
 *
 * @param family AF_INET or AF_INET6.
 * @param toward The peer's numeric host, when connecting.
 * @returns The address to bind.
 */
export function autobindAddress(
  family: number,
  toward?: string,
): [string, number] {
  const host = toward === "::1"
    ? "::1"
    : toward?.startsWith("127.")
    ? "127.0.0.1"
    : family === AF_INET6
    ? "::"
    : "0.0.0.0";
  return [host, 0];
}

/**
 * Python's repr of an address: `('127.0.0.1', 80)`, `'/path'`, `b'\x00n'`.
 *
 * @param addr The address.
 * @returns Its repr.
 */
export function addressRepr(addr: SockAddr): string {
  if (typeof addr === "string") return `'${addr}'`;
  if (addr instanceof Uint8Array) {
    return `b'${
      [...addr].map((c) =>
        c >= 32 && c < 127
          ? String.fromCharCode(c)
          : `\\x${c.toString(16).padStart(2, "0")}`
      ).join("")
    }'`;
  }
  const items: readonly (string | number | Uint8Array)[] = addr;
  return `(${
    items.map((v) =>
      typeof v === "string"
        ? `'${v}'`
        : typeof v === "number"
        ? String(v)
        : addressRepr(v)
    ).join(", ")
  })`;
}

/** The address a backend returned, in the shape Python returns (AF_INET6 as a 4-tuple). */
export function normalize(family: number, addr: SockAddr): SockAddr {
  if (family === AF_INET6 && Array.isArray(addr) && addr.length === 2) {
    const [host, port] = addr as [string, number];
    return [host, port, 0, 0];
  }
  return addr;
}

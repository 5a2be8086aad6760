/**
 * Python's address conversion functions: `inet_aton`, `inet_ntoa`,
 * `inet_pton`, `inet_ntop` and the byte-order helpers `htons`, `ntohs`,
 * `htonl`, `ntohl`, with glibc's parsing and formatting rules (what CPython
 * 3.11 does on Linux).
 *
 * The parsers walk the string by char code and allocate only the result, as
 * they sit on the hot path of every address a socket method takes.
 *
 * @example Round-trip an IPv6 address
 * ```ts
 * import { inet_ntop, inet_pton } from "./_inet.ts";
 * import { AF_INET6 } from "./constants.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(inet_ntop(AF_INET6, inet_pton(AF_INET6, "2001:DB8:0:0::1")), "2001:db8::1");
 * ```
 *
 * @module
 */
import { AF_INET, AF_INET6, errno } from "./constants.ts";
import { OSError, OverflowError, ValueError } from "./errors.ts";
import {
  argumentCount,
  builtinArity,
  type BytesLike,
  cStringArg,
  parsedArity,
  pyArgName,
  pyTypeName,
  requireBytes,
  toCInt,
  toInt,
} from "./_args.ts";

const ULONG_LIMIT = 2 ** 64;

// Python's messages for a call given too many arguments, or too few.
const ARITY = {
  inet_aton: parsedArity("inet_aton", 1, 1),
  inet_ntoa: parsedArity("inet_ntoa", 1, 1),
  inet_pton: parsedArity("inet_pton", 2, 2),
  inet_ntop: parsedArity("inet_ntop", 2, 2),
  htons: parsedArity("htons", 1, 1),
  ntohs: parsedArity("ntohs", 1, 1),
  htonl: builtinArity("_socket.htonl", 1),
  ntohl: builtinArity("_socket.ntohl", 1),
} as const;

function requireStr(value: unknown, fn: string, position: number): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `${fn}() argument ${position} must be str, not ${pyArgName(value)}`,
    );
  }
  return value;
}

// C's isspace() in the "C" locale: space, \t, \n, \v, \f, \r.
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parse an IPv4 address the way glibc's `inet_aton` does: one to four parts,
 * each decimal, octal (`0` prefix) or hex (`0x` prefix), the last part
 * filling the remaining bytes (`"1.2"` is `1.0.0.2`).
 *
 * @param s The text.
 * @param exact `false` accepts trailing text after a whitespace character
 *   (`inet_aton`); `true` accepts nothing after the number, as glibc's
 *   `getaddrinfo` does.
 * @returns The address as an unsigned 32-bit number (host order), or -1 if
 *   the text is not an address.
 *
 * @example
 * ```ts
 * import { parseAton } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseAton("0x7f.1", true), 0x7f000001);
 * assert.equal(parseAton("1.2.3.4 junk", true), -1);
 * ```
 */
export function parseAton(s: string, exact: boolean): number {
  const len = s.length;
  let i = 0;
  let parts = 0;
  let high = 0; // the dotted parts, packed from the top byte down
  let val = 0;
  for (;;) {
    let c = i < len ? s.charCodeAt(i) : 0;
    if (c < 48 || c > 57) return -1;
    // strtoul(cp, &end, 0): the base from the prefix, every digit consumed.
    let overflow = false;
    val = 0;
    if (c === 48) {
      const next = i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if ((next === 120 || next === 88) && i + 2 < len) {
        let d = hexValue(s.charCodeAt(i + 2));
        if (d >= 0) {
          i += 2;
          while (d >= 0) {
            val = val * 16 + d;
            if (val > 0xffffffff) overflow = true;
            d = ++i < len ? hexValue(s.charCodeAt(i)) : -1;
          }
        } else {
          i++;
        }
      } else {
        i++;
        for (
          c = next;
          c >= 48 && c <= 55;
          c = ++i < len ? s.charCodeAt(i) : 0
        ) {
          val = val * 8 + (c - 48);
          if (val > 0xffffffff) overflow = true;
        }
      }
    } else {
      for (; c >= 48 && c <= 57; c = ++i < len ? s.charCodeAt(i) : 0) {
        val = val * 10 + (c - 48);
        if (val > 0xffffffff) overflow = true;
      }
    }
    if (overflow) return -1;
    if (i < len && s.charCodeAt(i) === 46) {
      if (parts > 2 || val > 0xff) return -1;
      high |= val << (24 - 8 * parts);
      parts++;
      i++;
    } else {
      break;
    }
  }
  if (i < len && (exact || !isSpace(s.charCodeAt(i)))) return -1;
  if (val > (0xffffffff >>> (8 * parts))) return -1;
  return (high | val) >>> 0;
}

/**
 * The 4 bytes of an IPv4 address held as an unsigned 32-bit number, as
 * {@linkcode parseAton} gives it.
 *
 * @param n The address (host order).
 * @returns Its bytes, in network order.
 *
 * @example
 * ```ts
 * import { addressBytes, parseAton } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(addressBytes(parseAton("127.1", true)), new Uint8Array([127, 0, 0, 1]));
 * ```
 */
export function addressBytes(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    n >>> 24,
    (n >>> 16) & 0xff,
    (n >>> 8) & 0xff,
    n & 0xff,
  ]);
}

/**
 * Parse a dotted-quad IPv4 address as glibc's `inet_pton(AF_INET)` does:
 * exactly four decimal parts, 0-255, no leading zeros.
 *
 * @param s The text.
 * @param start Index of the first character to read.
 * @param end Index after the last character to read.
 * @param out Where to write the 4 bytes.
 * @param offset Index in `out` of the first byte.
 * @returns Whether `s` held an address; `out` is unspecified when not.
 *
 * @example
 * ```ts
 * import { parsePton4 } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * const out = new Uint8Array(4);
 * assert.ok(parsePton4("10.0.0.1", 0, 8, out, 0));
 * assert.deepEqual(out, new Uint8Array([10, 0, 0, 1]));
 * assert.equal(parsePton4("010.0.0.1", 0, 9, out, 0), false);
 * ```
 */
export function parsePton4(
  s: string,
  start: number,
  end: number,
  out: Uint8Array,
  offset: number,
): boolean {
  let sawDigit = false;
  let octets = 0;
  let cur = 0;
  let tp = offset;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (sawDigit && cur === 0) return false;
      cur = cur * 10 + (c - 48);
      if (cur > 255) return false;
      if (!sawDigit) {
        if (++octets > 4) return false;
        sawDigit = true;
      }
    } else if (c === 46 && sawDigit) {
      if (octets === 4) return false;
      out[tp++] = cur;
      cur = 0;
      sawDigit = false;
    } else {
      return false;
    }
  }
  if (octets < 4) return false;
  out[tp] = cur;
  return true;
}

/**
 * Parse an IPv6 address in any RFC 4291 text form (`::`, `::1`,
 * `::ffff:1.2.3.4`) as glibc's `inet_pton(AF_INET6)` does. Zone ids (`%eth0`)
 * are not part of the syntax.
 *
 * @param s The text.
 * @param start Index of the first character to read.
 * @param end Index after the last character to read.
 * @param out Where to write the 16 bytes.
 * @param offset Index in `out` of the first byte.
 * @returns Whether `s` held an address; `out` is unspecified when not.
 *
 * @example
 * ```ts
 * import { parsePton6 } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * const out = new Uint8Array(16);
 * assert.ok(parsePton6("::1", 0, 3, out, 0));
 * assert.equal(out[15], 1);
 * ```
 */
export function parsePton6(
  s: string,
  start: number,
  end: number,
  out: Uint8Array,
  offset: number,
): boolean {
  const limit = offset + 16;
  out.fill(0, offset, limit);
  let i = start;
  if (i === end) return false;
  if (s.charCodeAt(i) === 58) {
    // A leading ':' must be the start of '::'.
    if (++i === end || s.charCodeAt(i) !== 58) return false;
  }
  let tp = offset;
  let colonp = -1;
  let curtok = i;
  let digits = 0;
  let val = 0;
  while (i < end) {
    const c = s.charCodeAt(i++);
    const d = hexValue(c);
    if (d >= 0) {
      if (digits === 4) return false;
      val = (val << 4) | d;
      digits++;
      continue;
    }
    if (c === 58) {
      curtok = i;
      if (digits === 0) {
        if (colonp >= 0) return false;
        colonp = tp;
        continue;
      }
      if (i === end) return false;
      if (tp + 2 > limit) return false;
      out[tp++] = val >> 8;
      out[tp++] = val & 0xff;
      digits = 0;
      val = 0;
      continue;
    }
    if (c === 46 && tp + 4 <= limit && parsePton4(s, curtok, end, out, tp)) {
      tp += 4;
      digits = 0;
      break;
    }
    return false;
  }
  if (digits > 0) {
    if (tp + 2 > limit) return false;
    out[tp++] = val >> 8;
    out[tp++] = val & 0xff;
  }
  if (colonp >= 0) {
    // '::' must stand for at least one zero group.
    if (tp === limit) return false;
    const n = tp - colonp;
    out.copyWithin(limit - n, colonp, tp);
    out.fill(0, colonp, limit - n);
    tp = limit;
  }
  return tp === limit;
}

// Where inet_pton parses to; a result is a copy the caller owns.
const scratch = new Uint8Array(16);

/**
 * Convert an IPv4 address from dotted text to 4 packed bytes, accepting every
 * form glibc's `inet_aton` does: `"1.2.3.4"`, `"1.2"` (`1.0.0.2`), `"1"`,
 * octal (`"010.1"`) and hex (`"0x7f.1"`) parts, and trailing text after a
 * space.
 *
 * @param ip_string The address text.
 * @returns The 4 bytes, network order.
 * @throws {OSError} Not an address: `illegal IP address string passed to
 *   inet_aton`, errno `null`.
 * @throws {ValueError} The string holds a NUL character.
 * @throws {TypeError} `ip_string` is not a string.
 *
 * @example
 * ```ts
 * import { inet_aton } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(inet_aton("127.1"), new Uint8Array([127, 0, 0, 1]));
 * ```
 */
export function inet_aton(ip_string: string): Uint8Array {
  argumentCount(arguments, 1, 1, ARITY.inet_aton);
  requireStr(ip_string, "inet_aton", 1);
  // Python rejects a NUL before parsing, even in text inet_aton would ignore.
  cStringArg(ip_string);
  const n = parseAton(ip_string, false);
  if (n < 0) {
    throw new OSError("illegal IP address string passed to inet_aton");
  }
  return addressBytes(n);
}

/**
 * Convert 4 packed bytes to dotted-quad text.
 *
 * @param packed_ip The 4 bytes, network order.
 * @returns The address, e.g. `"127.0.0.1"`.
 * @throws {OSError} `packed_ip` is not 4 bytes long: `packed IP wrong length
 *   for inet_ntoa`.
 * @throws {TypeError} `packed_ip` is not bytes-like.
 *
 * @example
 * ```ts
 * import { inet_ntoa } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(inet_ntoa(new Uint8Array([10, 0, 0, 1])), "10.0.0.1");
 * ```
 */
export function inet_ntoa(packed_ip: BytesLike): string {
  argumentCount(arguments, 1, 1, ARITY.inet_ntoa);
  const b = requireBytes(packed_ip);
  if (b.length !== 4) {
    throw new OSError("packed IP wrong length for inet_ntoa");
  }
  return b[0] + "." + b[1] + "." + b[2] + "." + b[3];
}

/**
 * Convert an address from text to packed bytes, strictly: `AF_INET` takes
 * only four decimal parts without leading zeros, `AF_INET6` the RFC 4291
 * forms (no zone id).
 *
 * @param address_family `AF_INET` (2) or `AF_INET6` (10).
 * @param ip_string The address text.
 * @returns 4 bytes for `AF_INET`, 16 for `AF_INET6`.
 * @throws {OSError} Not an address: `illegal IP address string passed to
 *   inet_pton` (errno `null`); another family: errno 97 (EAFNOSUPPORT).
 * @throws {ValueError} The string holds a NUL character.
 * @throws {TypeError} Wrong argument types.
 * @throws {OverflowError} `address_family` does not fit a C `int`.
 *
 * @example
 * ```ts
 * import { inet_pton } from "./_inet.ts";
 * import { AF_INET, AF_INET6 } from "./constants.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(inet_pton(AF_INET, "192.0.2.1"), new Uint8Array([192, 0, 2, 1]));
 * assert.equal(inet_pton(AF_INET6, "::ffff:192.0.2.1").length, 16);
 * assert.throws(() => inet_pton(AF_INET, "1.2"), Error);
 * ```
 */
export function inet_pton(
  address_family: number,
  ip_string: string,
): Uint8Array {
  argumentCount(arguments, 2, 2, ARITY.inet_pton);
  toCInt(address_family);
  requireStr(ip_string, "inet_pton", 2);
  const end = ip_string.length;
  let size: number;
  let ok: boolean;
  if (address_family === AF_INET) {
    size = 4;
    ok = parsePton4(ip_string, 0, end, scratch, 0);
  } else if (address_family === AF_INET6) {
    size = 16;
    ok = parsePton6(ip_string, 0, end, scratch, 0);
  } else {
    cStringArg(ip_string);
    throw new OSError(errno.EAFNOSUPPORT);
  }
  if (!ok) {
    cStringArg(ip_string);
    throw new OSError("illegal IP address string passed to inet_pton");
  }
  return scratch.slice(0, size);
}

/**
 * Format 16 bytes as glibc's `inet_ntop(AF_INET6)` does: lowercase hex, the
 * first longest run of two or more zero groups as `::`, and the last 4 bytes
 * dotted when the address is IPv4-compatible (`::1.2.3.4`) or v4-mapped
 * (`::ffff:1.2.3.4`).
 *
 * @param b The bytes.
 * @param offset Index of the first of the 16 bytes.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatIPv6 } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * const b = new Uint8Array(16);
 * b[15] = 1;
 * assert.equal(formatIPv6(b, 0), "::1");
 * ```
 */
export function formatIPv6(b: Uint8Array, offset: number): string {
  // Find the first longest run of zero words (glibc ignores runs of one).
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let w = 0; w < 8; w++) {
    if (b[offset + 2 * w] === 0 && b[offset + 2 * w + 1] === 0) {
      if (curBase < 0) {
        curBase = w;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase >= 0) {
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase >= 0 && curLen > bestLen) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestLen < 2) bestBase = -1;
  let text = "";
  for (let w = 0; w < 8; w++) {
    if (bestBase >= 0 && w >= bestBase && w < bestBase + bestLen) {
      if (w === bestBase) text += ":";
      continue;
    }
    if (w !== 0) text += ":";
    if (
      w === 6 && bestBase === 0 &&
      (bestLen === 6 ||
        (bestLen === 5 && b[offset + 10] === 0xff && b[offset + 11] === 0xff))
    ) {
      text += b[offset + 12] + "." + b[offset + 13] + "." + b[offset + 14] +
        "." + b[offset + 15];
      return text;
    }
    text += ((b[offset + 2 * w] << 8) | b[offset + 2 * w + 1]).toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) text += ":";
  return text;
}

/**
 * Convert a packed address to text.
 *
 * @param address_family `AF_INET` (2) or `AF_INET6` (10).
 * @param packed_ip 4 or 16 bytes, network order.
 * @returns The address text, formatted as glibc does (`"::ffff:1.2.3.4"`,
 *   `"2001:db8::1"`).
 * @throws {ValueError} Wrong length (`invalid length of packed IP address
 *   string`) or another family (`unknown address family N`).
 * @throws {TypeError} Wrong argument types.
 * @throws {OverflowError} `address_family` does not fit a C `int`.
 *
 * @example
 * ```ts
 * import { inet_ntop } from "./_inet.ts";
 * import { AF_INET6 } from "./constants.ts";
 * import assert from "node:assert/strict";
 *
 * const packed = new Uint8Array(16);
 * packed[10] = packed[11] = 0xff;
 * packed.set([192, 0, 2, 1], 12);
 * assert.equal(inet_ntop(AF_INET6, packed), "::ffff:192.0.2.1");
 * ```
 */
export function inet_ntop(
  address_family: number,
  packed_ip: BytesLike,
): string {
  argumentCount(arguments, 2, 2, ARITY.inet_ntop);
  toCInt(address_family);
  const b = requireBytes(packed_ip);
  if (address_family === AF_INET) {
    if (b.length !== 4) {
      throw new ValueError("invalid length of packed IP address string");
    }
    return b[0] + "." + b[1] + "." + b[2] + "." + b[3];
  }
  if (address_family === AF_INET6) {
    if (b.length !== 16) {
      throw new ValueError("invalid length of packed IP address string");
    }
    return formatIPv6(b, 0);
  }
  throw new ValueError(`unknown address family ${address_family}`);
}

function check16(x: unknown, fn: string): number {
  // C int first (TypeError, OverflowError as CPython), then 16 bits.
  const n = toCInt(x);
  if (n < 0 || n > 0xffff) {
    throw new OverflowError(
      n < 0
        ? `${fn}: can't convert negative Python int to C 16-bit unsigned integer`
        : `${fn}: Python int too large to convert to C 16-bit unsigned integer`,
    );
  }
  return n;
}

/**
 * Whether 16 address bytes are an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`).
 *
 * @param b The address's 16 bytes.
 * @returns Whether they map an IPv4 address.
 */
export function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function check32(value: unknown): number {
  // Any int (a bool, a bigint too), as CPython's PyLong_Check takes it.
  if (
    typeof value !== "bigint" && typeof value !== "boolean" &&
    (typeof value !== "number" || !Number.isInteger(value))
  ) {
    throw new TypeError(`expected int, ${pyTypeName(value)} found`);
  }
  const x = toInt(value);
  if (x < 0) {
    throw new OverflowError("can't convert negative value to unsigned int");
  }
  if (x > 0xffffffff) {
    throw new OverflowError(
      x >= ULONG_LIMIT
        ? "Python int too large to convert to C unsigned long"
        : "int larger than 32 bits",
    );
  }
  return x;
}

function swap16(n: number): number {
  return ((n & 0xff) << 8) | (n >>> 8);
}

function swap32(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) |
    (n >>> 24)) >>> 0;
}

/**
 * Convert a 16-bit number from host to network byte order (a byte swap on
 * little-endian hosts, as everywhere Deno runs).
 *
 * @param x An integer, 0-65535.
 * @returns The swapped number.
 * @throws {OverflowError} `x` is negative or above 65535.
 * @throws {TypeError} `x` is not an integer.
 *
 * @example
 * ```ts
 * import { htons } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(htons(1), 256);
 * ```
 */
export function htons(x: number): number {
  argumentCount(arguments, 1, 1, ARITY.htons);
  return swap16(check16(x, "htons"));
}

/**
 * Convert a 16-bit number from network to host byte order.
 *
 * @param x An integer, 0-65535.
 * @returns The swapped number.
 * @throws {OverflowError} `x` is negative or above 65535.
 * @throws {TypeError} `x` is not an integer.
 *
 * @example
 * ```ts
 * import { ntohs } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ntohs(0x1234), 0x3412);
 * ```
 */
export function ntohs(x: number): number {
  argumentCount(arguments, 1, 1, ARITY.ntohs);
  return swap16(check16(x, "ntohs"));
}

/**
 * Convert a 32-bit number from host to network byte order.
 *
 * @param x An integer, 0 to 2**32 - 1.
 * @returns The swapped number (unsigned).
 * @throws {OverflowError} `x` is negative or wider than 32 bits.
 * @throws {TypeError} `x` is not an integer.
 *
 * @example
 * ```ts
 * import { htonl } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(htonl(1), 16777216);
 * ```
 */
export function htonl(x: number): number {
  argumentCount(arguments, 1, 1, ARITY.htonl);
  return swap32(check32(x));
}

/**
 * Convert a 32-bit number from network to host byte order.
 *
 * @param x An integer, 0 to 2**32 - 1.
 * @returns The swapped number (unsigned).
 * @throws {OverflowError} `x` is negative or wider than 32 bits.
 * @throws {TypeError} `x` is not an integer.
 *
 * @example
 * ```ts
 * import { ntohl } from "./_inet.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ntohl(0x7f000001), 0x0100007f);
 * ```
 */
export function ntohl(x: number): number {
  argumentCount(arguments, 1, 1, ARITY.ntohl);
  return swap32(check32(x));
}

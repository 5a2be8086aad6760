/**
 * Python's name and service lookups: `getaddrinfo`, `gethostbyname`,
 * `gethostbyname_ex`, `gethostbyaddr`, `getnameinfo`, `gethostname`,
 * `getfqdn`, `getservbyname` and `getservbyport`.
 *
 * Numeric hosts and ports are handled here, by glibc's rules, and never reach
 * a resolver. Names go to the system resolver through `node:dns` (so
 * `/etc/hosts` and `localhost` work) and need `--allow-net`; service names
 * come from `/etc/services` and need `--allow-read`.
 *
 * @example Resolve a host and port for a TCP connection
 * ```ts
 * import { getaddrinfo } from "./_resolve.ts";
 * import { AF_INET, SOCK_STREAM } from "./constants.ts";
 * import assert from "node:assert/strict";
 *
 * const infos = await getaddrinfo("127.0.0.1", 80, AF_INET, SOCK_STREAM);
 * assert.deepEqual(infos, [[AF_INET, SOCK_STREAM, 6, "", ["127.0.0.1", 80]]]);
 * ```
 *
 * @module
 */
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  AI_ADDRCONFIG,
  AI_ALL,
  AI_CANONNAME,
  AI_NUMERICHOST,
  AI_NUMERICSERV,
  AI_PASSIVE,
  AI_V4MAPPED,
  EAI_ADDRFAMILY,
  EAI_AGAIN,
  EAI_BADFLAGS,
  EAI_FAIL,
  EAI_FAMILY,
  EAI_MEMORY,
  EAI_NONAME,
  EAI_SERVICE,
  EAI_SOCKTYPE,
  EAI_SYSTEM,
  errno as E,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  NI_DGRAM,
  NI_NAMEREQD,
  NI_NOFQDN,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SOCK_STREAM,
} from "./constants.ts";
import {
  gaierror,
  herror,
  OSError,
  OverflowError,
  PermissionError,
} from "./errors.ts";
import {
  argumentCount,
  builtinArity,
  cStringArg,
  defArity,
  isOptionsArg,
  optionsAt,
  parsedArity,
  pyArgName,
  pyTypeName,
  toCInt,
  toCLong,
  utf8Arg,
} from "./_args.ts";
import {
  addressBytes,
  formatIPv6,
  isV4Mapped,
  parseAton,
  parsePton4,
  parsePton6,
} from "./_inet.ts";
import { idnaEncode } from "./_idna.ts";
import { libc, libcUsable } from "./_libc/ffi.ts";
import { abortable } from "./_wait.ts";
import type { AbortOptions } from "./socket.ts";
import type { SockAddr } from "./_backend.ts";

// Not among Python's constants on Linux, but in glibc's getaddrinfo table.
const SOCK_DCCP = 6;
const IPPROTO_DCCP = 33;

// Every AI_* bit glibc accepts, including the IDN ones Python does not name.
const AI_VALID = 0x7ff;
// Every NI_* bit glibc's getnameinfo accepts.
const NI_VALID = 0xff;

/**
 * A socket address as `getaddrinfo()` returns it: `[host, port]` for AF_INET,
 * `[host, port, flowinfo, scope_id]` for AF_INET6.
 */
export type SockAddrTuple =
  | [host: string, port: number]
  | [host: string, port: number, flowinfo: number, scope_id: number];

/**
 * One `getaddrinfo()` result: `[family, type, proto, canonname, sockaddr]`,
 * the address typed by the family (a socket made with the family has
 * addresses of that shape).
 */
export type AddrInfo =
  | [
    family: typeof AF_INET,
    type: number,
    proto: number,
    canonname: string,
    sockaddr: [host: string, port: number],
  ]
  | [
    family: typeof AF_INET6,
    type: number,
    proto: number,
    canonname: string,
    sockaddr: [host: string, port: number, flowinfo: number, scope_id: number],
  ];

/**
 * What {@linkcode getaddrinfo} gives for family `F`: only that family's
 * results for AF_INET or AF_INET6, else either.
 */
export type AddrInfoOf<F extends number> = number extends F ? AddrInfo
  : F extends typeof AF_INET | typeof AF_INET6
    ? Extract<AddrInfo, [F, ...unknown[]]>
  : AddrInfo;

/** An address found for a host: 4 or 16 bytes, and the IPv6 scope id. */
interface HostAddress {
  family: number;
  bytes: Uint8Array;
  scope_id: number;
}

// glibc's gaih_inet_typeproto table (sysdeps/posix/getaddrinfo.c), in order.
interface TypeProto {
  socktype: number;
  protocol: number;
  /** Any protocol goes (SOCK_RAW): the caller's is reported. */
  protoAny: boolean;
  /** No port applies (SOCK_RAW). */
  noService: boolean;
  /** Listed when neither type nor protocol is asked for. */
  byDefault: boolean;
  /** The protocol name in /etc/services. */
  name: string;
}

const TYPEPROTO: readonly TypeProto[] = [
  tp(SOCK_STREAM, IPPROTO_TCP, false, true, "tcp"),
  tp(SOCK_DGRAM, IPPROTO_UDP, false, true, "udp"),
  tp(SOCK_DCCP, IPPROTO_DCCP, false, false, "dccp"),
  tp(SOCK_DGRAM, IPPROTO_UDPLITE, false, false, "udplite"),
  tp(SOCK_STREAM, IPPROTO_SCTP, false, false, "sctp"),
  tp(SOCK_SEQPACKET, IPPROTO_SCTP, false, false, "sctp"),
  tp(SOCK_RAW, 0, true, true, "raw"),
];

function tp(
  socktype: number,
  protocol: number,
  raw: boolean,
  byDefault: boolean,
  name: string,
): TypeProto {
  return { socktype, protocol, protoAny: raw, noService: raw, byDefault, name };
}

interface ServTuple {
  socktype: number;
  protocol: number;
  port: number;
}

// ---------------------------------------------------------------------------
// Files: /etc/services, /etc/hosts; interfaces

interface ServEntry {
  name: string;
  aliases: string[];
  port: number;
  proto: string;
}

let servicesCache: ServEntry[] | undefined;

/**
 * The entries of /etc/services, read once. `null` when the file cannot be
 * read; `"permission"` when Deno was not given `--allow-read`.
 */
function services(): ServEntry[] | null | "permission" {
  if (servicesCache) return servicesCache;
  let text: string;
  try {
    text = Deno.readTextFileSync("/etc/services");
  } catch (e) {
    return isPermissionError(e) ? "permission" : null;
  }
  const entries: ServEntry[] = [];
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const fields = (hash >= 0 ? raw.slice(0, hash) : raw).trim().split(/\s+/);
    if (fields.length < 2) continue;
    const m = /^(\d+)\/(\S+)$/.exec(fields[1]);
    if (m === null) continue;
    entries.push({
      name: fields[0],
      aliases: fields.slice(2),
      port: Number(m[1]) & 0xffff,
      proto: m[2],
    });
  }
  return servicesCache = entries;
}

function findService(name: string, proto: string | null): ServEntry | null {
  readServicesOrThrow("getaddrinfo");
  const list = services();
  if (!Array.isArray(list)) return null;
  for (const e of list) {
    if (
      (proto === null || e.proto === proto) &&
      (e.name === name || e.aliases.includes(name))
    ) {
      return e;
    }
  }
  return null;
}

interface HostsEntry {
  bytes: Uint8Array;
  names: string[];
}

/** The lines of /etc/hosts, or `[]` when it cannot be read. */
async function hostsFile(): Promise<HostsEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile("/etc/hosts");
  } catch {
    return [];
  }
  const entries: HostsEntry[] = [];
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const fields = (hash >= 0 ? raw.slice(0, hash) : raw).trim().split(/\s+/);
    if (fields.length < 2) continue;
    const bytes = parseNumeric(fields[0]);
    if (bytes !== null) entries.push({ bytes, names: fields.slice(1) });
  }
  return entries;
}

function parseNumeric(text: string): Uint8Array | null {
  const v4 = new Uint8Array(4);
  if (parsePton4(text, 0, text.length, v4, 0)) return v4;
  const v6 = new Uint8Array(16);
  return parsePton6(text, 0, text.length, v6, 0) ? v6 : null;
}

// Whether a line of /etc/hosts answers an AF_INET lookup: glibc reads an
// IPv4-mapped address as its IPv4 one, and ::1 as 127.0.0.1.
function answersV4(bytes: Uint8Array): boolean {
  return bytes.length === 4 || isV4Mapped(bytes) ||
    bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/**
 * The /etc/hosts lines naming `name` (case-insensitive) that answer a
 * lookup of `family` (0: any), in file order.
 */
async function hostsByName(
  name: string,
  family: number,
): Promise<HostsEntry[]> {
  const lower = name.toLowerCase();
  return (await hostsFile()).filter((e) =>
    (family === AF_INET
      ? answersV4(e.bytes)
      : family !== AF_INET6 || e.bytes.length === 16) &&
    e.names.some((n) => n.toLowerCase() === lower)
  );
}

/**
 * glibc's entry for `name` from the lines naming it: the first line's name
 * and aliases, then each later line's aliases and, where it differs, its
 * name (nothing is dropped as a repeat). null when no line names it.
 */
function mergedEntry(
  lines: HostsEntry[],
): { name: string; aliases: string[] } | null {
  if (lines.length === 0) return null;
  const [name, ...aliases] = lines[0].names;
  for (const line of lines.slice(1)) {
    aliases.push(...line.names.slice(1));
    if (line.names[0] !== name) aliases.push(line.names[0]);
  }
  return { name, aliases };
}

/** The first /etc/hosts line for `bytes`. */
async function hostsByAddress(bytes: Uint8Array): Promise<HostsEntry | null> {
  for (const e of await hostsFile()) {
    if (
      e.bytes.length === bytes.length && e.bytes.every((b, i) => b === bytes[i])
    ) {
      return e;
    }
  }
  return null;
}

/**
 * `if_nametoindex()`: from /sys/class/net (Deno 2.9 reads it only under
 * --allow-all), else libc's where FFI is allowed. 0 when there is no such
 * interface; `-1` when neither is permitted.
 */
function ifNameToIndex(name: string): number {
  if (name === "" || name.includes("/") || name === "." || name === "..") {
    return 0;
  }
  try {
    const n = Number(Deno.readTextFileSync(`/sys/class/net/${name}/ifindex`));
    return Number.isInteger(n) && n > 0 ? n : 0;
  } catch (e) {
    if (!isPermissionError(e)) return 0;
  }
  // libc is loaded only here, where /sys is out of reach: loading it stays
  // for the process, which `deno test` would count against the caller.
  if (!libcUsable()) return -1;
  return libc().if_nametoindex(new TextEncoder().encode(name + "\0"));
}

/**
 * `if_indextoname()`: from /sys/class/net (under --allow-all), else libc's
 * where FFI is allowed; `null` when unknown, `undefined` when neither is
 * permitted.
 */
function ifIndexToName(index: number): string | null | undefined {
  try {
    for (const entry of Deno.readDirSync("/sys/class/net")) {
      try {
        const text = Deno.readTextFileSync(
          `/sys/class/net/${entry.name}/ifindex`,
        );
        if (Number(text) === index) return entry.name;
      } catch {
        // An interface that went away while we looked.
      }
    }
    return null;
  } catch (e) {
    if (!isPermissionError(e)) return null;
    if (!libcUsable()) return undefined;
  }
  if (!(index > 0 && index <= 0xffffffff)) return null;
  const name = new Uint8Array(16); // IF_NAMESIZE
  if (libc().if_indextoname(index, name) === null) return null;
  const end = name.indexOf(0);
  return new TextDecoder().decode(name.subarray(0, end < 0 ? 16 : end));
}

/**
 * Which families the host has an address of, loopback's (127.0.0.1, ::1)
 * aside: what glibc asks the kernel for AI_ADDRCONFIG.
 */
function configuredFamilies(caller: string): { v4: boolean; v6: boolean } {
  let list: Deno.NetworkInterfaceInfo[];
  try {
    list = Deno.networkInterfaces();
  } catch (e) {
    if (!isPermissionError(e)) throw e;
    throw new PermissionError(
      E.EACCES,
      `${caller} with AI_ADDRCONFIG needs --allow-sys (networkInterfaces)`,
      { cause: e },
    );
  }
  let v4 = false;
  let v6 = false;
  for (const { family, address } of list) {
    if (family === "IPv4") v4 ||= address !== "127.0.0.1";
    else v6 ||= address !== "::1";
  }
  return { v4, v6 };
}

function isPermissionError(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable ||
    e instanceof Deno.errors.PermissionDenied;
}

// ---------------------------------------------------------------------------
// Argument conversion, as CPython 3.11 does it

const decoder = new TextDecoder();

/** Up to the first NUL, as C sees a string. */
function cString(s: string): string {
  const nul = s.indexOf("\0");
  return nul >= 0 ? s.slice(0, nul) : s;
}

function hostArg(host: unknown): string | null {
  if (host === null || host === undefined) return null;
  if (typeof host === "string") return cString(idnaEncode(host));
  if (host instanceof Uint8Array) return cString(decoder.decode(host));
  throw new TypeError("getaddrinfo() argument 1 must be string or None");
}

const LONG_LIMIT = 2 ** 63;

/** The service text glibc sees for Python's `port` argument. */
function portArg(port: unknown): string | null {
  if (port === null || port === undefined) return null;
  if (typeof port === "number" && Number.isInteger(port)) {
    if (port >= LONG_LIMIT || port < -LONG_LIMIT) {
      throw new OverflowError("Python int too large to convert to C long");
    }
    return BigInt(port).toString(); // Python's "%ld"
  }
  if (typeof port === "bigint") {
    toCLong(port);
    return port.toString();
  }
  if (typeof port === "string") return cString(utf8Arg(port));
  if (port instanceof Uint8Array) return cString(decoder.decode(port));
  throw new OSError("Int or String expected");
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * glibc's reading of a service: `(int) strtoul(service, &end, 10)` when all
 * of it is a number, `null` when it is a name.
 */
function serviceNumber(service: string): number | null {
  const len = service.length;
  let i = 0;
  while (i < len && isSpace(service.charCodeAt(i))) i++;
  let negative = false;
  if (i < len && (service[i] === "+" || service[i] === "-")) {
    negative = service[i] === "-";
    i++;
  }
  const start = i;
  while (
    i < len && service.charCodeAt(i) >= 48 && service.charCodeAt(i) <= 57
  ) {
    i++;
  }
  if (i === start || i !== len) return null;
  const digits = service.slice(start);
  if (!negative && digits.length <= 9) return Number(digits);
  const ULONG_MAX = (1n << 64n) - 1n;
  let value = BigInt(digits);
  if (value > ULONG_MAX) value = ULONG_MAX;
  else if (negative) value = -value;
  return Number(BigInt.asIntN(32, value));
}

// ---------------------------------------------------------------------------
// The resolver

type Family = 4 | 6 | 0;

interface LookupResult {
  address: string;
  family: number;
}

// node:dns pulls in Node compatibility (several MiB of RSS): loaded on the
// first name lookup, not at import.
let dns: Promise<typeof import("node:dns")> | null = null;
function nodeDns(): Promise<typeof import("node:dns")> {
  return dns ??= import("node:dns");
}

/** `node:dns` lookup, as a Promise of its results or a Python error. */
async function systemLookup(
  name: string,
  family: Family,
  caller: string,
): Promise<LookupResult[]> {
  const { lookup } = await nodeDns();
  return new Promise((resolve, reject) => {
    try {
      lookup(
        name,
        { family, all: true, order: "verbatim" },
        (err, addresses) => {
          if (err) reject(translateDnsError(err, name, caller));
          else resolve(addresses as LookupResult[]);
        },
      );
    } catch (e) {
      reject(translateDnsError(e, name, caller));
    }
  });
}

function translateDnsError(e: unknown, name: string, caller: string): Error {
  if (isPermissionError(e)) return netPermission(caller, name);
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case "EPERM":
      // Deno reports a missing --allow-net this way.
      return netPermission(caller, name);
    case "ENOTFOUND":
    case "ENODATA":
    case "EAI_NODATA":
    case "EAI_NONAME":
    case "ERR_INVALID_ARG_VALUE":
      return new gaierror(EAI_NONAME);
    case "EAI_AGAIN":
    case "ETIMEOUT":
    case "ETIMEDOUT":
    case "ECONNREFUSED":
      return new gaierror(EAI_AGAIN);
    case "EAI_MEMORY":
      return new gaierror(EAI_MEMORY);
    case "EAI_SYSTEM":
      return new gaierror(EAI_SYSTEM);
    default:
      return new gaierror(EAI_FAIL);
  }
}

function netPermission(caller: string, name: string): PermissionError {
  return new PermissionError(
    E.EACCES,
    `${caller} needs --allow-net (to look up '${name}')`,
  );
}

/** Parse a numeric address from the system resolver ("fe80::1%2" too). */
function resolverAddress(r: LookupResult): HostAddress | null {
  const text = r.address;
  const pct = text.indexOf("%");
  const end = pct >= 0 ? pct : text.length;
  if (r.family === 4) {
    const bytes = new Uint8Array(4);
    return parsePton4(text, 0, end, bytes, 0)
      ? { family: AF_INET, bytes, scope_id: 0 }
      : null;
  }
  const bytes = new Uint8Array(16);
  if (!parsePton6(text, 0, end, bytes, 0)) return null;
  const scope = pct >= 0 ? Number(text.slice(pct + 1)) : 0;
  return {
    family: AF_INET6,
    bytes,
    scope_id: Number.isInteger(scope) && scope >= 0 ? scope : 0,
  };
}

function mapped(v4: Uint8Array): Uint8Array {
  const b = new Uint8Array(16);
  b[10] = b[11] = 0xff;
  b.set(v4, 12);
  return b;
}

/**
 * glibc's `__inet6_scopeid_pton`: an interface name for link-local
 * addresses, else a decimal number up to 2**32 - 1.
 */
function scopeId(bytes: Uint8Array, scope: string, caller: string): number {
  const linkLocal = (bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80) ||
    (bytes[0] === 0xff && ((bytes[1] & 0x0f) === 1 || (bytes[1] & 0x0f) === 2));
  const numeric = /^[0-9]+$/.test(scope) && Number(scope) <= 0xffffffff;
  if (linkLocal) {
    const index = ifNameToIndex(scope);
    if (index > 0) return index;
    if (index < 0 && !numeric) {
      throw new PermissionError(
        E.EACCES,
        `${caller} needs --allow-ffi (or --allow-all) to find the interface '${scope}'`,
      );
    }
  }
  if (numeric) return Number(scope);
  throw new gaierror(EAI_NONAME);
}

/**
 * A numeric host by glibc's rules (inet_aton forms, then IPv6 with an
 * optional `%scope`), filtered by `family`. `null` when `host` is a name.
 */
function glibcNumericHost(
  host: string,
  family: number,
  flags: number,
  caller: string,
): HostAddress | null {
  const n = parseAton(host, true);
  if (n >= 0) {
    const v4 = addressBytes(n);
    if (family === AF_UNSPEC || family === AF_INET) {
      return { family: AF_INET, bytes: v4, scope_id: 0 };
    }
    if (family === AF_INET6 && (flags & AI_V4MAPPED)) {
      return { family: AF_INET6, bytes: mapped(v4), scope_id: 0 };
    }
    throw new gaierror(EAI_ADDRFAMILY);
  }
  const pct = host.indexOf("%");
  const v6 = new Uint8Array(16);
  if (!parsePton6(host, 0, pct >= 0 ? pct : host.length, v6, 0)) return null;
  let result: HostAddress;
  if (family === AF_UNSPEC || family === AF_INET6) {
    result = { family: AF_INET6, bytes: v6, scope_id: 0 };
  } else if (family === AF_INET && isV4Mapped(v6)) {
    result = { family: AF_INET, bytes: v6.slice(12), scope_id: 0 };
  } else {
    throw new gaierror(EAI_ADDRFAMILY);
  }
  if (pct >= 0) {
    const scope = scopeId(v6, host.slice(pct + 1), caller);
    if (result.family === AF_INET6) result.scope_id = scope;
  }
  return result;
}

/** Resolve a name with the system resolver, as glibc's families ask. */
async function lookupName(
  host: string,
  family: number,
  flags: number,
  caller: string,
): Promise<HostAddress[]> {
  let found: LookupResult[];
  if (family === AF_INET6 && (flags & AI_V4MAPPED)) {
    // glibc: IPv6 answers, else (or also, with AI_ALL) IPv4 ones, mapped.
    found = await systemLookup(host, 6, caller).catch((e) => {
      if (e instanceof gaierror) return [];
      throw e;
    });
    if (found.length === 0 || (flags & AI_ALL)) {
      const v4 = await systemLookup(host, 4, caller).catch((e) => {
        if (e instanceof gaierror && found.length > 0) return [];
        throw e;
      });
      found = found.concat(v4);
    }
  } else {
    found = await systemLookup(
      host,
      family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0,
      caller,
    );
  }
  const out: HostAddress[] = [];
  for (const r of found) {
    const a = resolverAddress(r);
    if (a === null) continue;
    if (family === AF_INET6 && a.family === AF_INET) {
      out.push({ family: AF_INET6, bytes: mapped(a.bytes), scope_id: 0 });
    } else if (family === AF_UNSPEC || a.family === family) {
      out.push(a);
    }
  }
  if (out.length === 0) throw new gaierror(EAI_NONAME);
  return out;
}

/** glibc's service resolution: the (socktype, protocol, port) triples. */
function servTuples(
  service: string | null,
  type: number,
  proto: number,
  flags: number,
): ServTuple[] {
  // glibc's getaddrinfo() refuses a service name under AI_NUMERICSERV
  // before gaih_inet() looks the type and protocol up.
  const num = service === null ? null : serviceNumber(service);
  if (service !== null && num === null && (flags & AI_NUMERICSERV)) {
    throw new gaierror(EAI_NONAME);
  }
  let chosen: TypeProto | null = null;
  if (type !== 0 || proto !== 0) {
    chosen = TYPEPROTO.find((t) =>
      (type === 0 || type === t.socktype) &&
      (proto === 0 || t.protoAny || proto === t.protocol)
    ) ?? null;
    if (chosen === null) {
      throw new gaierror(type !== 0 ? EAI_SOCKTYPE : EAI_SERVICE);
    }
  }
  let port = 0;
  if (service !== null) {
    if (chosen?.noService) throw new gaierror(EAI_SERVICE);
    if (num === null || num < 0) {
      // A name (or a number glibc reads as negative): look it up per protocol.
      const candidates = chosen
        ? [chosen]
        : TYPEPROTO.filter((t) => !t.noService);
      const tuples: ServTuple[] = [];
      for (const t of candidates) {
        const entry = findService(service, t.name);
        if (entry === null) continue;
        tuples.push({
          socktype: t.socktype,
          protocol: t.protoAny ? proto : t.protocol,
          port: entry.port,
        });
      }
      if (tuples.length === 0) throw new gaierror(EAI_SERVICE);
      return tuples;
    }
    port = num & 0xffff;
  }
  if (chosen !== null) {
    return [{
      socktype: chosen.socktype,
      protocol: chosen.protoAny ? proto : chosen.protocol,
      port,
    }];
  }
  return TYPEPROTO.filter((t) => t.byDefault).map((t) => ({
    socktype: t.socktype,
    protocol: t.protocol,
    port,
  }));
}

const ANY4 = new Uint8Array(4);
const ANY6 = new Uint8Array(16);
const LOOPBACK4 = new Uint8Array([127, 0, 0, 1]);
const LOOPBACK6 = new Uint8Array([
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  1,
]);

/** The addresses for `host`: glibc's getaddrinfo without the ports. */
async function hostAddresses(
  host: string | null,
  family: number,
  flags: number,
  caller: string,
): Promise<{ addrs: HostAddress[]; canon: string }> {
  if (host === null) {
    const passive = (flags & AI_PASSIVE) !== 0;
    const v4 = {
      family: AF_INET,
      bytes: passive ? ANY4 : LOOPBACK4,
      scope_id: 0,
    };
    const v6 = {
      family: AF_INET6,
      bytes: passive ? ANY6 : LOOPBACK6,
      scope_id: 0,
    };
    if (family === AF_INET) return { addrs: [v4], canon: "" };
    if (family === AF_INET6) return { addrs: [v6], canon: "" };
    // The order glibc's RFC 6724 sort gives: ::1 before 127.0.0.1, but
    // 0.0.0.0 before :: (the unspecified address has the lowest precedence).
    return { addrs: passive ? [v4, v6] : [v6, v4], canon: "" };
  }
  const numeric = glibcNumericHost(host, family, flags, caller);
  if (numeric !== null) return { addrs: [numeric], canon: host };
  if (flags & AI_NUMERICHOST) throw new gaierror(EAI_NONAME);
  if (host === "") throw new gaierror(EAI_NONAME);
  const addrs = await lookupName(host, family, flags, caller);
  let canon = host;
  if (flags & AI_CANONNAME) {
    let [entry] = await hostsByName(host, family);
    // IPv4 answers mapped (AI_V4MAPPED): the name of their line, as glibc.
    if (
      entry === undefined && family === AF_INET6 && (flags & AI_V4MAPPED)
    ) [entry] = await hostsByName(host, AF_INET);
    if (entry !== undefined) canon = entry.names[0];
  }
  return { addrs, canon };
}

function addrInfo(
  a: HostAddress,
  type: number,
  proto: number,
  canonname: string,
  port: number,
): AddrInfo {
  if (a.family === AF_INET) {
    const b = a.bytes;
    const host = b[0] + "." + b[1] + "." + b[2] + "." + b[3];
    return [AF_INET, type, proto, canonname, [host, port]];
  }
  const host = formatIPv6(a.bytes, 0);
  return [AF_INET6, type, proto, canonname, [host, port, 0, a.scope_id]];
}

async function resolve(
  host: string | null,
  service: string | null,
  family: number,
  type: number,
  proto: number,
  flags: number,
  caller: string,
): Promise<AddrInfo[]> {
  if (host === null && service === null) throw new gaierror(EAI_NONAME);
  if (flags & ~AI_VALID) throw new gaierror(EAI_BADFLAGS);
  if ((flags & AI_CANONNAME) && host === null) throw new gaierror(EAI_BADFLAGS);
  if (family !== AF_UNSPEC && family !== AF_INET && family !== AF_INET6) {
    throw new gaierror(EAI_FAMILY);
  }
  if (flags & AI_ADDRCONFIG) {
    // glibc's rule: a family counts where the host has an address of it
    // besides loopback's; with one family seen, only it is looked up.
    const { v4, v6 } = configuredFamilies(caller);
    if (family === AF_UNSPEC) {
      if (v4 !== v6) family = v4 ? AF_INET : AF_INET6;
    } else if (family === AF_INET ? !v4 : !v6) {
      throw new gaierror(EAI_NONAME);
    }
  }
  // An empty service is no service at all in glibc.
  const tuples = servTuples(
    service === "" ? null : service,
    type,
    proto,
    flags,
  );
  const { addrs, canon } = await hostAddresses(host, family, flags, caller);
  const out: AddrInfo[] = [];
  for (const a of addrs) {
    for (const t of tuples) {
      const name = out.length === 0 && (flags & AI_CANONNAME) ? canon : "";
      out.push(addrInfo(a, t.socktype, t.protocol, name, t.port));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Public functions

/**
 * Translate a host and port into the addresses to create and connect
 * sockets with, as Python's `socket.getaddrinfo()` does on Linux.
 *
 * Numeric hosts (every `inet_aton` form, and IPv6 with a `%scope`) never
 * reach a resolver. With `type` and `proto` 0 each address comes once per
 * socket type, as glibc lists them: `SOCK_STREAM`/6, `SOCK_DGRAM`/17,
 * `SOCK_RAW`/0.
 *
 * @typeParam F The family asked for: AF_INET or AF_INET6 types every
 *   result's address as that family's.
 * @param host A host name or numeric address; `null` for the wildcard
 *   (`AI_PASSIVE`) or loopback addresses.
 * @param port A port number, a decimal string, a service name from
 *   /etc/services, or `null`.
 * @param family `AF_INET`, `AF_INET6` or 0 for both.
 * @param type `SOCK_*` to restrict the results to, or 0.
 * @param proto `IPPROTO_*` to restrict the results to, or 0.
 * @param flags `AI_*` flags, OR-ed together.
 * @param options `signal` stops the wait: the call rejects with its reason
 *   (the lookup itself runs to its end, unseen).
 * @returns `[family, type, proto, canonname, sockaddr]` tuples; `canonname`
 *   is set on the first one when `AI_CANONNAME` is given.
 * @throws {gaierror} The lookup failed: -2 unknown name (also `''`), -8
 *   unknown service, -9 a numeric host of the other family, -6 / -7 / -1 bad
 *   family, type or flags.
 * @throws {OverflowError} `port` does not fit a C `long`.
 * @throws {OSError} `port` is neither an integer nor a string (`Int or String
 *   expected`).
 * @throws {TypeError} `host` is not a string or `null`.
 * @throws {PermissionError} A name needs `--allow-net` to be looked up;
 *   `AI_ADDRCONFIG` needs `--allow-sys` (the host's addresses).
 *
 * @example The wildcard addresses for a server
 * ```ts
 * import { getaddrinfo } from "./_resolve.ts";
 * import { AI_PASSIVE, SOCK_STREAM } from "./constants.ts";
 * import assert from "node:assert/strict";
 *
 * const infos = await getaddrinfo(null, 8080, 0, SOCK_STREAM, 0, AI_PASSIVE);
 * assert.deepEqual(infos.map((i) => i[4]), [["0.0.0.0", 8080], ["::", 8080, 0, 0]]);
 * ```
 */
export function getaddrinfo<F extends number = 0>(
  host: string | Uint8Array | null,
  port: string | number | Uint8Array | null,
  family: F | AbortOptions = 0 as F,
  type: number | AbortOptions = 0,
  proto: number | AbortOptions = 0,
  flags: number | AbortOptions = 0,
  options: AbortOptions = {},
): Promise<AddrInfoOf<F>[]> {
  try {
    optionsAt(arguments, 6, ARITY.getaddrinfo, 2);
    // The options may come in place of the optional arguments (their
    // defaults then hold).
    const rest: (number | AbortOptions)[] = [family, type, proto, flags];
    const args = arguments;
    const at = rest.findIndex((x) => isOptionsArg(x, args, "getaddrinfo"));
    if (at >= 0) {
      options = rest[at] as AbortOptions;
      rest.fill(0, at);
    }
    const h = hostArg(host);
    const service = portArg(port);
    const [fam, typ, pro, flg] = rest.map(toCInt);
    // Only results of the family asked for come back: their type says so.
    return abortable(
      () => resolve(h, service, fam, typ, pro, flg, "getaddrinfo"),
      options.signal,
    ) as Promise<AddrInfoOf<F>[]>;
  } catch (e) {
    return Promise.reject(e);
  }
}

function hostnameArg(name: unknown, fn: string): string {
  let s: string;
  if (typeof name === "string") s = idnaEncode(name);
  else if (name instanceof Uint8Array) s = decoder.decode(name);
  else {
    throw new TypeError(
      `${fn}() argument 1 must be str, bytes or bytearray, not ${
        pyArgName(name)
      }`,
    );
  }
  if (s.includes("\0")) {
    throw new TypeError(
      `${fn}() argument 1 must be encoded string without null bytes, not str`,
    );
  }
  return s;
}

/** CPython's `setipaddr()`: one address for a host, by Python's rules. */
async function setipaddr(
  name: string,
  family: number,
  caller: string,
): Promise<HostAddress> {
  if (name === "") {
    const infos = await resolve(
      null,
      "0",
      family,
      SOCK_DGRAM,
      0,
      AI_PASSIVE,
      caller,
    );
    if (infos.length > 1) {
      throw new OSError("wildcard resolved to multiple address");
    }
    return {
      family: infos[0][0],
      bytes: infos[0][0] === AF_INET ? ANY4 : ANY6,
      scope_id: 0,
    };
  }
  if (name === "255.255.255.255" || name === "<broadcast>") {
    if (family !== AF_INET && family !== AF_UNSPEC) {
      throw new OSError("address family mismatched");
    }
    return {
      family: AF_INET,
      bytes: new Uint8Array([255, 255, 255, 255]),
      scope_id: 0,
    };
  }
  if (family === AF_UNSPEC || family === AF_INET) {
    const v4 = new Uint8Array(4);
    if (parsePton4(name, 0, name.length, v4, 0)) {
      return { family: AF_INET, bytes: v4, scope_id: 0 };
    }
  }
  if ((family === AF_UNSPEC || family === AF_INET6) && !name.includes("%")) {
    const v6 = new Uint8Array(16);
    if (parsePton6(name, 0, name.length, v6, 0)) {
      return { family: AF_INET6, bytes: v6, scope_id: 0 };
    }
  }
  const { addrs } = await hostAddresses(name, family, 0, caller);
  return addrs[0];
}

function dotted(b: Uint8Array): string {
  return b[0] + "." + b[1] + "." + b[2] + "." + b[3];
}

function addressText(a: HostAddress): string {
  return a.family === AF_INET ? dotted(a.bytes) : formatIPv6(a.bytes, 0);
}

/**
 * Translate a host name to an IPv4 address, as Python's
 * `socket.gethostbyname()` does: `''` is `0.0.0.0`, `'<broadcast>'` is
 * `255.255.255.255`, numeric forms are returned without a lookup.
 *
 * @param hostname A host name or IPv4 address.
 * @param options `signal` stops the wait: the call rejects with its reason
 *   (the lookup itself runs to its end, unseen).
 * @returns The dotted-quad address.
 * @throws {gaierror} Unknown name (-2); an IPv6 address (-9).
 * @throws {TypeError} `hostname` is not a string or bytes, or holds a NUL.
 * @throws {PermissionError} A name needs `--allow-net` to be looked up.
 *
 * @example
 * ```ts
 * import { gethostbyname } from "./_resolve.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await gethostbyname("127.1"), "127.0.0.1");
 * assert.equal(await gethostbyname(""), "0.0.0.0");
 * ```
 */
export function gethostbyname(
  hostname: string,
  options: AbortOptions = {},
): Promise<string> {
  try {
    optionsAt(arguments, 1, ARITY.gethostbyname, 1);
  } catch (e) {
    return Promise.reject(e);
  }
  return abortable(() => hostByName(hostname), options.signal);
}

async function hostByName(hostname: string): Promise<string> {
  const name = hostnameArg(hostname, "gethostbyname");
  return dotted((await setipaddr(name, AF_INET, "gethostbyname")).bytes);
}

/**
 * Translate a host name to its primary name, aliases and IPv4 addresses, as
 * Python's `socket.gethostbyname_ex()` does.
 *
 * Names and aliases come from /etc/hosts when it lists the host (needs
 * `--allow-read`); for hosts found only in DNS the name is `hostname` and
 * the aliases are empty.
 *
 * @param hostname A host name or IPv4 address.
 * @param options `signal` stops the wait: the call rejects with its reason
 *   (the lookup itself runs to its end, unseen).
 * @returns `[name, aliases, addresses]`.
 * @throws {gaierror} Unknown name (-2); an IPv6 address (-9).
 * @throws {herror} The name resolves but has no host entry (`''`,
 *   `'<broadcast>'`, hex forms like `'0x7f.1'`), as in glibc.
 * @throws {TypeError} `hostname` is not a string or bytes, or holds a NUL.
 * @throws {PermissionError} A name needs `--allow-net` to be looked up.
 *
 * @example
 * ```ts
 * import { gethostbyname_ex } from "./_resolve.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(await gethostbyname_ex("127.0.0.1"), ["127.0.0.1", [], ["127.0.0.1"]]);
 * ```
 */
export function gethostbyname_ex(
  hostname: string,
  options: AbortOptions = {},
): Promise<[string, string[], string[]]> {
  try {
    optionsAt(arguments, 1, ARITY.gethostbyname_ex, 1);
  } catch (e) {
    return Promise.reject(e);
  }
  return abortable(() => hostByNameEx(hostname), options.signal);
}

async function hostByNameEx(
  hostname: string,
): Promise<[string, string[], string[]]> {
  const name = hostnameArg(hostname, "gethostbyname_ex");
  const first = await setipaddr(name, AF_INET, "gethostbyname_ex");
  // Now glibc's gethostbyname_r(name), which is stricter than getaddrinfo.
  if (name === "" || name === "<broadcast>") throw new herror(3);
  if (/^[0-9][0-9.]*$/.test(name) && !name.endsWith(".")) {
    return [name, [], [dotted(first.bytes)]];
  }
  if (parseAton(name, true) >= 0) throw new herror(1);
  // An IPv6 literal that got this far is IPv4-mapped: glibc's
  // gethostbyname_r has no IPv4 entry for it either.
  const pct = name.indexOf("%");
  if (
    parsePton6(name, 0, pct >= 0 ? pct : name.length, new Uint8Array(16), 0)
  ) {
    throw new herror(1);
  }
  const addrs = await lookupName(name, AF_INET, 0, "gethostbyname_ex");
  const entry = mergedEntry(await hostsByName(name, AF_INET));
  return [
    entry?.name ?? name,
    entry?.aliases ?? [],
    addrs.map((a) => dotted(a.bytes)),
  ];
}

/** The host name for an address from the system resolver, or `null`. */
async function reverseLookup(
  address: string,
  caller: string,
): Promise<string | null> {
  const { lookupService } = await nodeDns();
  return new Promise((resolve, reject) => {
    try {
      lookupService(address, 0, (err, hostname) => {
        if (!err) resolve(hostname ?? null);
        else {
          const e = translateDnsError(err, address, caller);
          if (e instanceof gaierror) resolve(null);
          else reject(e);
        }
      });
    } catch (e) {
      const t = translateDnsError(e, address, caller);
      if (t instanceof gaierror) resolve(null);
      else reject(t);
    }
  });
}

/**
 * Look up the host name of an address, as Python's `socket.gethostbyaddr()`
 * does. A name is resolved to its address first.
 *
 * @param ip_address An IPv4 or IPv6 address, or a host name.
 * @param options `signal` stops the wait: the call rejects with its reason
 *   (the lookup itself runs to its end, unseen).
 * @returns `[hostname, aliases, addresses]`; aliases come from /etc/hosts.
 * @throws {herror} No name for the address (1, `Unknown host`).
 * @throws {gaierror} A name that does not resolve.
 * @throws {TypeError} `ip_address` is not a string or bytes.
 * @throws {PermissionError} Lookups need `--allow-net`.
 *
 * @example
 * ```ts
 * import { gethostbyaddr } from "./_resolve.ts";
 * import assert from "node:assert/strict";
 *
 * const [name] = await gethostbyaddr("127.0.0.1");
 * assert.equal(typeof name, "string");
 * ```
 */
export function gethostbyaddr(
  ip_address: string,
  options: AbortOptions = {},
): Promise<[string, string[], string[]]> {
  try {
    optionsAt(arguments, 1, ARITY.gethostbyaddr, 1);
  } catch (e) {
    return Promise.reject(e);
  }
  return abortable(() => hostByAddr(ip_address), options.signal);
}

async function hostByAddr(
  ip_address: string,
): Promise<[string, string[], string[]]> {
  const name = hostnameArg(ip_address, "gethostbyaddr");
  const addr = await setipaddr(name, AF_UNSPEC, "gethostbyaddr");
  const text = addressText(addr);
  const hostname = await reverseLookup(text, "gethostbyaddr");
  if (hostname === null) throw new herror(1);
  const entry = await hostsByAddress(addr.bytes);
  const aliases = entry && entry.names[0] === hostname
    ? entry.names.slice(1)
    : [];
  return [hostname, aliases, [text]];
}

/**
 * The machine's host name, as Python's `socket.gethostname()` returns it.
 *
 * @returns The host name.
 * @throws {PermissionError} Deno was not given `--allow-sys`.
 *
 * @example
 * ```ts
 * import { gethostname } from "./_resolve.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(gethostname().length > 0);
 * ```
 */
export function gethostname(): string {
  argumentCount(arguments, 0, 0, ARITY.gethostname);
  try {
    return Deno.hostname();
  } catch (e) {
    if (isPermissionError(e)) {
      throw new PermissionError(E.EACCES, "gethostname needs --allow-sys");
    }
    throw new OSError(String((e as Error)?.message ?? e));
  }
}

/**
 * A fully qualified name for `name`, as Python's `socket.getfqdn()` finds
 * it: the first of the host's name and aliases that contains a dot, else its
 * name; `name` itself when the address has no name.
 *
 * @param name A host name or address; `''` (or `0.0.0.0`, `::`) for this
 *   machine.
 * @param options `signal` stops the wait: the call rejects with its reason
 *   (the lookup itself runs to its end, unseen).
 * @returns The name.
 * @throws {PermissionError} Lookups need `--allow-net` (and `''` needs
 *   `--allow-sys`).
 *
 * @example
 * ```ts
 * import { getfqdn } from "./_resolve.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await getfqdn("nonexistent.invalid"), "nonexistent.invalid");
 * ```
 */
export function getfqdn(
  name: string | AbortOptions = "",
  options: AbortOptions = {},
): Promise<string> {
  try {
    optionsAt(arguments, 1, ARITY.getfqdn);
    if (isOptionsArg(name, arguments, "getfqdn")) [name, options] = ["", name];
  } catch (e) {
    return Promise.reject(e);
  }
  return abortable(() => fqdn(name), options.signal);
}

async function fqdn(name = ""): Promise<string> {
  if (typeof name !== "string") {
    throw new TypeError(
      `getfqdn() argument must be str, not ${pyTypeName(name)}`,
    );
  }
  name = name.trim();
  if (!name || name === "0.0.0.0" || name === "::") name = gethostname();
  let hostname: string, aliases: string[];
  try {
    [hostname, aliases] = await gethostbyaddr(name);
  } catch (e) {
    // Python catches OSError; a missing Deno permission is not the host's fault.
    if (e instanceof PermissionError && e.errno === null) throw e;
    if (e instanceof OSError) return name;
    throw e;
  }
  for (const n of [hostname, ...aliases]) if (n.includes(".")) return n;
  return hostname;
}

function int32Mask(x: number): number {
  return ((x % 4294967296) + 4294967296) % 4294967296;
}

function uintArg(x: unknown): number {
  if (typeof x !== "number" || !Number.isInteger(x)) {
    throw new TypeError(
      `'${pyTypeName(x)}' object cannot be interpreted as an integer`,
    );
  }
  return int32Mask(x);
}

/**
 * Translate a socket address into a host and port (service) name, as
 * Python's `socket.getnameinfo()` does. The host in `sockaddr` must be
 * numeric.
 *
 * @param sockaddr `[host, port]` or `[host, port, flowinfo, scope_id]`.
 * @param flags `NI_*` flags: `NI_NUMERICHOST` and `NI_NUMERICSERV` skip the
 *   lookups, `NI_NAMEREQD` makes a missing name an error, `NI_DGRAM` names
 *   UDP services.
 * @param options `signal` stops the wait: the call rejects with its reason
 *   (the lookup itself runs to its end, unseen).
 * @returns `[host, port]` as strings.
 * @throws {gaierror} The host is not numeric (-2), no name was found with
 *   `NI_NAMEREQD` (-2), bad flags (-1).
 * @throws {OSError} An AF_INET address with more than 2 items.
 * @throws {OverflowError} `flowinfo` is outside 0-1048575.
 * @throws {TypeError} `sockaddr` is not an array of the right shape.
 * @throws {PermissionError} A reverse lookup needs `--allow-net`.
 *
 * @example Numeric only
 * ```ts
 * import { getnameinfo } from "./_resolve.ts";
 * import { NI_NUMERICHOST, NI_NUMERICSERV } from "./constants.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   await getnameinfo(["127.0.0.1", 8080], NI_NUMERICHOST | NI_NUMERICSERV),
 *   ["127.0.0.1", "8080"],
 * );
 * ```
 */
export function getnameinfo(
  sockaddr:
    | SockAddr
    | readonly [
      host: string,
      port: number,
      flowinfo?: number,
      scope_id?: number,
    ],
  flags: number,
  options: AbortOptions = {},
): Promise<[string, string]> {
  try {
    optionsAt(arguments, 2, ARITY.getnameinfo, 2);
  } catch (e) {
    return Promise.reject(e);
  }
  return abortable(() => nameInfo(sockaddr, flags), options.signal);
}

async function nameInfo(
  sockaddr: unknown,
  flags: number,
): Promise<[string, string]> {
  toCInt(flags);
  if (!Array.isArray(sockaddr)) {
    throw new TypeError("getnameinfo() argument 1 must be a tuple");
  }
  const illegal = "getnameinfo(): illegal sockaddr argument";
  if (sockaddr.length < 2 || sockaddr.length > 4) throw new TypeError(illegal);
  const host: unknown = sockaddr[0];
  if (typeof host !== "string") throw new TypeError(illegal);
  cStringArg(host);
  const port = toCInt(sockaddr[1]);
  const flowinfo = sockaddr.length > 2 ? uintArg(sockaddr[2]) : 0;
  const scope = sockaddr.length > 3 ? uintArg(sockaddr[3]) : 0;
  if (flowinfo > 0xfffff) {
    throw new OverflowError("getnameinfo(): flowinfo must be 0-1048575.");
  }
  // Python resolves the host with AI_NUMERICHOST first, port as "%d".
  const [t] = servTuples(String(port), SOCK_DGRAM, 0, AI_NUMERICHOST);
  const { addrs: [addr] } = await hostAddresses(
    host,
    AF_UNSPEC,
    AI_NUMERICHOST,
    "getnameinfo",
  );
  if (addr.family === AF_INET && sockaddr.length !== 2) {
    throw new OSError("IPv4 sockaddr must be 2 tuple");
  }
  if (flags & ~NI_VALID) throw new gaierror(EAI_BADFLAGS);
  const text = addressText(addr);
  const numeric = addr.family === AF_INET6 && scope !== 0
    ? `${text}%${scopeName(addr.bytes, scope, "getnameinfo")}`
    : text;

  let hostname: string | null = null;
  if (!(flags & NI_NUMERICHOST)) {
    hostname = await reverseLookup(text, "getnameinfo");
    if (hostname !== null && (flags & NI_NOFQDN)) {
      hostname = withoutLocalDomain(hostname);
    }
  }
  if (hostname === null && (flags & NI_NAMEREQD)) {
    throw new gaierror(EAI_NONAME);
  }

  let serv = String(t.port);
  if (!(flags & NI_NUMERICSERV)) {
    readServicesOrThrow("getnameinfo");
    const entry = findPort(t.port, flags & NI_DGRAM ? "udp" : "tcp");
    if (entry !== null) serv = entry.name;
  }
  return [hostname ?? numeric, serv];
}

/** glibc prints link-local scopes as interface names, others as numbers. */
function scopeName(bytes: Uint8Array, scope: number, caller: string): string {
  const linkLocal = (bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80) ||
    (bytes[0] === 0xff && (bytes[1] & 0x0f) === 2);
  if (!linkLocal) return String(scope);
  const name = ifIndexToName(scope);
  if (name === undefined) {
    throw new PermissionError(
      E.EACCES,
      `${caller} needs --allow-ffi (or --allow-all) to name the interface ${scope}`,
    );
  }
  return name ?? String(scope);
}

/** NI_NOFQDN: drop the local domain (that of this host's name) from `name`. */
function withoutLocalDomain(name: string): string {
  let local: string;
  try {
    local = Deno.hostname();
  } catch {
    return name;
  }
  const dot = local.indexOf(".");
  if (dot < 0) return name;
  const domain = local.slice(dot);
  return name.endsWith(domain) && name.length > domain.length
    ? name.slice(0, name.length - domain.length)
    : name;
}

function findPort(port: number, proto: string | null): ServEntry | null {
  const list = services();
  if (!Array.isArray(list)) return null;
  return list.find((e) =>
    e.port === port && (proto === null || e.proto === proto)
  ) ??
    null;
}

function strArg(value: unknown, fn: string, position: number): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `${fn}() argument ${position} must be str, not ${pyArgName(value)}`,
    );
  }
  return cStringArg(value);
}

function readServicesOrThrow(fn: string): void {
  if (services() === "permission") {
    throw new PermissionError(
      E.EACCES,
      `${fn} needs --allow-read (to read /etc/services)`,
    );
  }
}

/**
 * The port number of a service, from /etc/services, as Python's
 * `socket.getservbyname()` finds it.
 *
 * @param servicename The service name or alias (case-sensitive), e.g.
 *   `"http"`.
 * @param protocolname `"tcp"` or `"udp"`; any protocol when left out.
 * @returns The port number.
 * @throws {OSError} No such service (`service/proto not found`).
 * @throws {TypeError} Arguments are not strings.
 * @throws {PermissionError} Deno was not given `--allow-read`.
 *
 * @example
 * ```ts
 * import { getservbyname } from "./_resolve.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getservbyname("http", "tcp"), 80);
 * ```
 */
export function getservbyname(
  servicename: string,
  protocolname?: string,
): number {
  argumentCount(arguments, 1, 2, ARITY.getservbyname);
  const name = strArg(servicename, "getservbyname", 1);
  const proto = protocolname === undefined
    ? null
    : strArg(protocolname, "getservbyname", 2);
  readServicesOrThrow("getservbyname");
  const entry = findService(name, proto);
  if (entry === null) throw new OSError("service/proto not found");
  return entry.port;
}

/**
 * The service name of a port, from /etc/services, as Python's
 * `socket.getservbyport()` finds it.
 *
 * @param port A port number, 0-65535.
 * @param protocolname `"tcp"` or `"udp"`; any protocol when left out.
 * @returns The service name, e.g. `"http"`.
 * @throws {OSError} No such service (`port/proto not found`).
 * @throws {OverflowError} `port` is outside 0-65535.
 * @throws {TypeError} Wrong argument types.
 * @throws {PermissionError} Deno was not given `--allow-read`.
 *
 * @example
 * ```ts
 * import { getservbyport } from "./_resolve.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getservbyport(53, "udp"), "domain");
 * ```
 */
export function getservbyport(port: number, protocolname?: string): string {
  argumentCount(arguments, 1, 2, ARITY.getservbyport);
  const n = toCInt(port);
  const proto = protocolname === undefined
    ? null
    : strArg(protocolname, "getservbyport", 2);
  if (n < 0 || n > 0xffff) {
    throw new OverflowError("getservbyport: port must be 0-65535.");
  }
  readServicesOrThrow("getservbyport");
  const entry = findPort(n, proto);
  if (entry === null) throw new OSError("port/proto not found");
  return entry.name;
}

// Python's messages for a call given too many arguments (or too few).
const ARITY = {
  getaddrinfo: defArity("getaddrinfo", 2, 6, false, ["host", "port"]),
  gethostbyname: parsedArity("gethostbyname", 1, 1),
  gethostbyname_ex: parsedArity("gethostbyname_ex", 1, 1),
  gethostbyaddr: parsedArity("gethostbyaddr", 1, 1),
  gethostname: builtinArity("_socket.gethostname", 0),
  getfqdn: defArity("getfqdn", 0, 1),
  getnameinfo: parsedArity("getnameinfo", 2, 2),
  getservbyname: parsedArity("getservbyname", 1, 2),
  getservbyport: parsedArity("getservbyport", 1, 2),
} as const;

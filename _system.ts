/**
 * Python's socket-module functions that ask the system rather than a
 * socket: interface names and indexes, protocol numbers, the host name,
 * descriptors (`dup`, inheritance). Interface calls and `sethostname` use
 * libc (`--allow-ffi`); `getprotobyname` reads /etc/protocols
 * (`--allow-read`), as glibc does for Python.
 *
 * @example Protocol numbers from /etc/protocols
 * ```ts ignore
 * import { getprotobyname } from "./_system.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getprotobyname("tcp"), 6);
 * ```
 *
 * @module
 */
import { errno as E } from "./constants.ts";
import {
  OSError,
  OverflowError,
  PermissionError,
  ValueError,
} from "./errors.ts";
import {
  argumentCount,
  builtinArity,
  cStringArg,
  fsDecode,
  fsEncode,
  parsedArity,
  pyArgName,
  pyTypeName,
  toFd,
} from "./_args.ts";
import { libcDescriptor, needLibc } from "./_backend.ts";
import { errno, lastError, libc, LINUX as L } from "./_libc/ffi.ts";
import { noDescriptor } from "./_deno/common.ts";

// IF_NAMESIZE: an interface name and its NUL.
const IF_NAMESIZE = 16;
// if_nameindex() ends its array with a zero entry; never read past this many.
const MAX_INTERFACES = 1 << 16;

/**
 * A file-system-style string argument (str or bytes) as C sees it, with
 * CPython's PyUnicode_FSConverter errors: a string is `os.fsencode`d, so a
 * name that `fsDecode` gave back (undecodable bytes as U+DC80..U+DCFF) is
 * those bytes again.
 */
function fsBytes(value: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === "string") bytes = fsEncode(value);
  else if (value instanceof Uint8Array) bytes = value;
  else {
    throw new TypeError(
      `expected str, bytes or os.PathLike object, not ${pyTypeName(value)}`,
    );
  }
  if (bytes.includes(0)) throw new ValueError("embedded null byte");
  return bytes;
}

function cString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * The index of the network interface named `name` (Python's
 * `socket.if_nametoindex`). Uses libc (`--allow-ffi`).
 *
 * @param name The interface name, as a string or bytes.
 * @returns Its index, 1 or more.
 * @throws {OSError} `no interface with this name` (no errno), as in Python.
 * @throws {TypeError} Neither a string nor bytes.
 * @throws {ValueError} `embedded null byte`.
 * @throws {PermissionError} Without `--allow-ffi`.
 *
 * @example Not run by `deno test --doc`: it loads libc (see fromfd's note)
 * ```ts ignore
 * import { if_indextoname, if_nametoindex } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(if_indextoname(if_nametoindex("lo")), "lo");
 * ```
 */
export function if_nametoindex(name: string | Uint8Array): number {
  argumentCount(arguments, 1, 1, ARITY.if_nametoindex);
  const bytes = fsBytes(name);
  needLibc("if_nametoindex()");
  const index = libc().if_nametoindex(cString(bytes));
  if (index === 0) throw new OSError("no interface with this name");
  return index;
}

/**
 * The name of the network interface with index `index` (Python's
 * `socket.if_indextoname`). Uses libc (`--allow-ffi`).
 *
 * @param index The interface index. As in CPython 3.11, only its low 32
 *   bits count.
 * @returns The interface name.
 * @throws {OSError} `[Errno 6] No such device or address` for an unknown
 *   index (0 included).
 * @throws {OverflowError} A negative index, or one past C unsigned long.
 * @throws {TypeError} `an integer is required`.
 * @throws {PermissionError} Without `--allow-ffi`.
 *
 * @example Not run by `deno test --doc`: it loads libc
 * ```ts ignore
 * import { if_indextoname, OSError } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => if_indextoname(0), (e) => e instanceof OSError && e.errno === 6);
 * ```
 */
export function if_indextoname(index: number): string {
  argumentCount(arguments, 1, 1, ARITY.if_indextoname);
  if (
    !(typeof index === "number" && Number.isInteger(index)) &&
    typeof index !== "boolean" && typeof index !== "bigint"
  ) {
    throw new TypeError("an integer is required");
  }
  const big = BigInt(index);
  if (big < 0n) {
    throw new OverflowError("can't convert negative value to unsigned int");
  }
  if (big >= 2n ** 64n) {
    throw new OverflowError(
      "Python int too large to convert to C unsigned long",
    );
  }
  needLibc("if_indextoname()");
  const C = libc();
  const name = new Uint8Array(IF_NAMESIZE);
  if (C.if_indextoname(Number(big % 2n ** 32n), name) === null) {
    throw lastError();
  }
  const end = name.indexOf(0);
  return fsDecode(name.subarray(0, end < 0 ? IF_NAMESIZE : end));
}

/**
 * Every network interface as `[index, name]`, in the kernel's order
 * (Python's `socket.if_nameindex`). Uses libc (`--allow-ffi`).
 *
 * @returns The interfaces.
 * @throws {OSError} What if_nameindex(3) reports.
 * @throws {PermissionError} Without `--allow-ffi`.
 *
 * @example Not run by `deno test --doc`: it loads libc
 * ```ts ignore
 * import { if_nameindex } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(if_nameindex().some(([, name]) => name === "lo"));
 * ```
 */
export function if_nameindex(): [index: number, name: string][] {
  argumentCount(arguments, 0, 0, ARITY.if_nameindex);
  needLibc("if_nameindex()");
  const C = libc();
  const list = C.if_nameindex();
  if (list === null) throw lastError();
  const out: [number, string][] = [];
  try {
    // struct if_nameindex { unsigned int if_index; char *if_name; }: 16
    // bytes on LP64; the array ends with an all-zero entry.
    const view = new Deno.UnsafePointerView(list);
    for (let i = 0; i < MAX_INTERFACES; i++) {
      const index = view.getUint32(i * 16);
      const name = view.getPointer(i * 16 + 8);
      if (index === 0 && name === null) break;
      if (name === null) continue;
      // Its bytes up to the NUL, read one by one (never past the string),
      // decoded as Python's os.fsdecode.
      const at = new Deno.UnsafePointerView(name);
      let end = 0;
      while (end < IF_NAMESIZE && at.getUint8(end) !== 0) end++;
      const bytes = new Uint8Array(end);
      at.copyInto(bytes);
      out.push([index, fsDecode(bytes)]);
    }
  } finally {
    C.if_freenameindex(list);
  }
  return out;
}

function protocolsFile(): string | null {
  try {
    return Deno.readTextFileSync("/etc/protocols");
  } catch (e) {
    if (
      e instanceof Deno.errors.NotCapable ||
      e instanceof Deno.errors.PermissionDenied
    ) {
      throw new PermissionError(
        E.EACCES,
        "getprotobyname() reads /etc/protocols: run with --allow-read=/etc/protocols",
        { cause: e },
      );
    }
    // No file: glibc's "files" database has no entries, so nothing is found.
    return null;
  }
}

/**
 * The number of the protocol named `name` in /etc/protocols, by its name
 * or an alias, matched exactly as glibc matches (Python's
 * `socket.getprotobyname`). Needs `--allow-read=/etc/protocols`.
 *
 * @param name The protocol's name (`"tcp"`, `"icmp"`, `"ipv6-icmp"`).
 * @returns Its number.
 * @throws {OSError} `protocol not found` (no errno).
 * @throws {TypeError} Not a string.
 * @throws {ValueError} `embedded null character`.
 * @throws {PermissionError} Without read access to /etc/protocols.
 *
 * @example Needs --allow-read=/etc/protocols, which `deno test --doc` does not assume
 * ```ts ignore
 * import { getprotobyname, IPPROTO_UDP } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getprotobyname("udp"), IPPROTO_UDP);
 * ```
 */
export function getprotobyname(name: string): number {
  argumentCount(arguments, 1, 1, ARITY.getprotobyname);
  if (typeof name !== "string") {
    throw new TypeError(
      `getprotobyname() argument 1 must be str, not ${pyArgName(name)}`,
    );
  }
  cStringArg(name);
  const text = protocolsFile();
  if (text !== null) {
    for (const raw of text.split("\n")) {
      const hash = raw.indexOf("#");
      const fields = (hash < 0 ? raw : raw.slice(0, hash)).trim().split(
        /[ \t]+/,
      );
      if (fields.length < 2 || !/^[0-9]+$/.test(fields[1])) continue;
      if (fields[0] === name || fields.slice(2).includes(name)) {
        return Number(fields[1]);
      }
    }
  }
  throw new OSError("protocol not found");
}

/**
 * Set the host's name (Python's `socket.sethostname`), for the UTS
 * namespace this process is in. Needs CAP_SYS_ADMIN there, and
 * `--allow-ffi`.
 *
 * @param name The new name, a string or bytes, at most 64 bytes.
 * @throws {PermissionError} `[Errno 1]` without the privilege.
 * @throws {OSError} `[Errno 22]` a name longer than 64 bytes.
 * @throws {TypeError} Neither a string nor bytes.
 * @throws {ValueError} `embedded null byte`.
 *
 * @example Not run: it needs root, and would rename the machine
 * ```ts ignore
 * import { gethostname, sethostname } from "./mod.ts";
 *
 * sethostname("build-42"); // inside `unshare -u`, say
 * console.log(gethostname());
 * ```
 */
export function sethostname(name: string | Uint8Array): void {
  argumentCount(arguments, 1, 1, ARITY.sethostname);
  const bytes = fsBytes(name);
  needLibc("sethostname()");
  // A buffer of its own even when empty: a null pointer is not a name.
  const buf = cString(bytes);
  if (libc().sethostname(buf, BigInt(bytes.length)) < 0) throw lastError();
}

/**
 * Duplicate a descriptor (Python's `socket.dup`); the copy is
 * close-on-exec (not inheritable). Uses libc (`--allow-ffi`).
 *
 * @param fd An open descriptor.
 * @returns The new descriptor.
 * @throws {OSError} `[Errno 9]` not an open descriptor.
 *
 * @example Not run by `deno test --doc`: it loads libc
 * ```ts ignore
 * import { close, dup, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using s = socket(undefined, undefined, undefined, { backend: "libc" });
 * const copy = dup(s.fileno());
 * assert.notEqual(copy, s.fileno());
 * close(copy);
 * ```
 */
export function dup(fd: number): number {
  argumentCount(arguments, 1, 1, ARITY.dup);
  return needLibc("dup()").dupFd(libcDescriptor(toFd(fd), "dup()"));
}

/**
 * Whether a socket's descriptor is inherited by child processes
 * (FD_CLOEXEC unset), for `Socket.get_inheritable()`.
 *
 * @param backend The socket's backend: the Deno backend has no descriptor.
 * @param fd Its descriptor.
 * @returns `true` when inheritable.
 * @throws {OSError} What fcntl(2) reports; EOPNOTSUPP on the Deno backend.
 */
export function inheritable(backend: "deno" | "libc", fd: number): boolean {
  if (backend !== "libc") throw noDescriptor("get_inheritable()");
  const r = libc().fcntl(fd, L.F_GETFD, 0);
  if (r < 0) throw new OSError(errno());
  return (r & L.FD_CLOEXEC) === 0;
}

/**
 * Make a socket's descriptor inherited by child processes or not, for
 * `Socket.set_inheritable()`.
 *
 * @param backend The socket's backend: the Deno backend has no descriptor.
 * @param fd Its descriptor.
 * @param flag Whether children inherit it.
 * @throws {OSError} What fcntl(2) reports; EOPNOTSUPP on the Deno backend.
 */
export function setInheritable(
  backend: "deno" | "libc",
  fd: number,
  flag: boolean,
): void {
  if (backend !== "libc") throw noDescriptor("set_inheritable()");
  const C = libc();
  const r = C.fcntl(fd, L.F_GETFD, 0);
  if (r < 0) throw new OSError(errno());
  const want = flag ? r & ~L.FD_CLOEXEC : r | L.FD_CLOEXEC;
  if (want !== r && C.fcntl(fd, L.F_SETFD, want) < 0) {
    throw new OSError(errno());
  }
}

// Python's messages for a call given too many arguments, or too few.
const ARITY = {
  if_nametoindex: parsedArity("if_nametoindex", 1, 1),
  if_indextoname: builtinArity("_socket.if_indextoname", 1),
  if_nameindex: builtinArity("_socket.if_nameindex", 0),
  getprotobyname: parsedArity("getprotobyname", 1, 1),
  sethostname: parsedArity("sethostname", 1, 1),
  dup: builtinArity("_socket.dup", 1),
} as const;

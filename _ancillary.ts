/**
 * Ancillary data: Python's `CMSG_LEN`, `CMSG_SPACE`, `send_fds` and
 * `recv_fds`, and what `Socket.sendmsg` / `recvmsg` / `recvmsg_into` share
 * (their arguments as CPython 3.11 checks them, and the Deno backend's
 * gather and scatter, which has no ancillary data).
 *
 * @example CMSG_SPACE sizes a buffer for four descriptors
 * ```ts
 * import { CMSG_LEN, CMSG_SPACE } from "./_ancillary.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(CMSG_LEN(16), 32);
 * assert.equal(CMSG_SPACE(16), 32);
 * assert.equal(CMSG_SPACE(4), 24);
 * ```
 *
 * @module
 */
import {
  errno as E,
  MSG_CMSG_CLOEXEC,
  MSG_TRUNC,
  SCM_RIGHTS,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "./constants.ts";
import { OSError, OverflowError, ValueError } from "./errors.ts";
import {
  argumentCount,
  bytesView,
  defArity,
  isOptionsArg,
  optionsAt,
  parsedArity,
  pyArgName,
  pyTypeName,
  requireBytes,
  ssize,
  toCInt,
  toInt,
} from "./_args.ts";
import {
  type BackendSocket,
  libcDescriptor,
  needLibc,
  type SockAddr,
} from "./_backend.ts";
import type { Wait } from "./_wait.ts";
import { rightsIn } from "./_libc/msg.ts";
import { concat, scatter, totalLength } from "./_codecs.ts";
import type { AbortOptions, Socket } from "./socket.ts";
import type { Address } from "./_address.ts";

/** One control message: `[cmsg_level, cmsg_type, cmsg_data]`, as Python's tuple. */
export type AncData = [level: number, type: number, data: Uint8Array];

/** A control message to send: the data may be any bytes-like value. */
export type AncDataIn = readonly [
  level: number,
  type: number,
  data: ArrayBufferView | ArrayBuffer,
];

// socklen_t as CPython bounds it (SOCKLEN_T_LIMIT), and struct cmsghdr's
// size on LP64 Linux.
const SOCKLEN_T_LIMIT = 2 ** 31 - 1;
const CMSG_HDR = 16;
// What the kernel takes in one sendmsg (UIO_MAXIOV).
const UIO_MAXIOV = 1024;
// Larger than any UDP payload: a Deno-backend datagram comes whole, so
// MSG_TRUNC can be told.
const WHOLE_DATAGRAM = 65536;

/**
 * `CMSG_LEN(length)`: the `cmsg_len` of a control message carrying
 * `length` bytes of data (Python's `socket.CMSG_LEN`; 16 plus `length` on
 * 64-bit Linux).
 *
 * @param length Bytes of data, 0 to 2147483631.
 * @returns The control message's length.
 * @throws {OverflowError} `CMSG_LEN() argument out of range`, as in Python.
 * @throws {TypeError} Not an integer.
 *
 * @example Enough room for one descriptor
 * ```ts
 * import { CMSG_LEN } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(CMSG_LEN(4), 20);
 * assert.throws(() => CMSG_LEN(-1), RangeError);
 * ```
 */
export function CMSG_LEN(length: number): number {
  argumentCount(arguments, 1, 1, ARITY.CMSG_LEN);
  const n = ssize(length);
  if (n < 0 || n > SOCKLEN_T_LIMIT - CMSG_HDR) {
    throw new OverflowError("CMSG_LEN() argument out of range");
  }
  return CMSG_HDR + n;
}

/**
 * `CMSG_SPACE(length)`: the bytes a control message carrying `length`
 * bytes of data takes in a buffer, trailing padding included (Python's
 * `socket.CMSG_SPACE`). Sum it over the messages to size `recvmsg()`'s
 * `ancbufsize`.
 *
 * @param length Bytes of data, 0 to 2147483623.
 * @returns The space, a multiple of 8.
 * @throws {OverflowError} `CMSG_SPACE() argument out of range`.
 * @throws {TypeError} Not an integer.
 *
 * @example
 * ```ts
 * import { CMSG_SPACE } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(CMSG_SPACE(4), 24);
 * assert.equal(CMSG_SPACE(12), 32); // a struct ucred
 * ```
 */
export function CMSG_SPACE(length: number): number {
  argumentCount(arguments, 1, 1, ARITY.CMSG_SPACE);
  const n = ssize(length);
  // CPython: the largest length whose space still fits socklen_t with the
  // largest padding.
  if (n < 0 || n > SOCKLEN_T_LIMIT - (CMSG_HDR + 8)) {
    throw new OverflowError("CMSG_SPACE() argument out of range");
  }
  return CMSG_HDR + Math.ceil(n / 8) * 8;
}

function iterable(value: unknown): value is Iterable<unknown> {
  return value !== null && value !== undefined &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === "function";
}

/**
 * sendmsg()'s first argument: an iterable of bytes-like values.
 *
 * @param value The argument.
 * @returns The buffers, as views (no copy).
 * @throws {TypeError} Python's messages.
 *
 * @example
 * ```ts
 * import { sendBuffers } from "./_ancillary.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(sendBuffers([new Uint16Array(2)])[0].length, 4);
 * assert.throws(() => sendBuffers(1), TypeError);
 * ```
 */
export function sendBuffers(value: unknown): Uint8Array[] {
  if (!iterable(value)) {
    throw new TypeError("sendmsg() argument 1 must be an iterable");
  }
  return Array.from(value, requireBytes);
}

/**
 * recvmsg_into()'s first argument: an iterable of writable buffers.
 *
 * @param value The argument.
 * @returns The buffers, as views over the caller's memory.
 * @throws {TypeError} Python's messages.
 *
 * @example
 * ```ts
 * import { intoBuffers } from "./_ancillary.ts";
 * import assert from "node:assert/strict";
 *
 * const buf = new Uint8Array(8);
 * assert.equal(intoBuffers([buf.subarray(2)])[0].byteOffset, 2);
 * ```
 */
export function intoBuffers(value: unknown): Uint8Array[] {
  if (!iterable(value)) {
    throw new TypeError("recvmsg_into() argument 1 must be an iterable");
  }
  return Array.from(value, (item) => {
    const b = bytesView(item);
    if (b === null) {
      throw new TypeError(
        "recvmsg_into() argument 1 must be an iterable of single-segment read-write buffers",
      );
    }
    return b;
  });
}

const ITEMS = "[sendmsg() ancillary data items]()";

/**
 * sendmsg()'s second argument: an iterable of `[level, type, data]`.
 *
 * @param value The argument.
 * @returns The items, data as views.
 * @throws {TypeError} Python's messages for a bad item.
 * @throws {OverflowError} A level or type outside C int.
 * @throws {OSError} `ancillary data item too large` / `too much ancillary data`.
 *
 * @example
 * ```ts
 * import { ancillaryItems } from "./_ancillary.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(ancillaryItems([[1, 1, new Uint8Array(4)]]), [
 *   [1, 1, new Uint8Array(4)],
 * ]);
 * assert.throws(() => ancillaryItems([[1, 1]]), TypeError);
 * ```
 */
export function ancillaryItems(value: unknown): AncData[] {
  if (!iterable(value)) {
    throw new TypeError("sendmsg() argument 2 must be an iterable");
  }
  let total = 0;
  return Array.from(value, (entry): AncData => {
    // A str is a sequence to CPython's "(iiy*)": its length is checked, then
    // its first character fails as an int.
    const item = typeof entry === "string" ? Array.from(entry) : entry;
    if (!Array.isArray(item)) {
      throw new TypeError(
        `${ITEMS} argument must be 3-item sequence, not ${pyArgName(item)}`,
      );
    }
    if (item.length !== 3) {
      throw new TypeError(
        `${ITEMS} argument must be sequence of length 3, not ${item.length}`,
      );
    }
    const level = toCInt(item[0]);
    const type = toCInt(item[1]);
    const data = requireBytes(item[2]);
    if (data.length > SOCKLEN_T_LIMIT - (CMSG_HDR + 8)) {
      throw new OSError("ancillary data item too large");
    }
    total += CMSG_SPACE(data.length);
    if (total > SOCKLEN_T_LIMIT) throw new OSError("too much ancillary data");
    return [level, type, data];
  });
}

/**
 * recvmsg()'s `bufsize`, parsed by {@linkcode ssize} (CPython parses every
 * argument before it checks one): Python's check, then at most `max` (no
 * receive hands over more at once).
 *
 * @param n The size.
 * @param max The most bytes one receive allocates.
 * @returns The size.
 * @throws {ValueError} `negative buffer size in recvmsg()`.
 *
 * @example
 * ```ts
 * import { recvmsgSize } from "./_ancillary.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(recvmsgSize(1 << 30, 1 << 24), 1 << 24);
 * assert.throws(() => recvmsgSize(-1, 10), RangeError);
 * ```
 */
export function recvmsgSize(n: number, max: number): number {
  if (n < 0) throw new ValueError("negative buffer size in recvmsg()");
  return Math.min(n, max);
}

/**
 * `ancbufsize` of recvmsg() and recvmsg_into(), parsed by
 * {@linkcode ssize}: Python's range check.
 *
 * @param n The size.
 * @returns The size, 0 to INT_MAX.
 * @throws {ValueError} `invalid ancillary data buffer length`.
 *
 * @example
 * ```ts
 * import { ancBufSize } from "./_ancillary.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ancBufSize(24), 24);
 * assert.throws(() => ancBufSize(2 ** 31), RangeError);
 * ```
 */
export function ancBufSize(n: number): number {
  if (n < 0 || n > SOCKLEN_T_LIMIT) {
    throw new ValueError("invalid ancillary data buffer length");
  }
  return n;
}

function noAncillary(method: string): OSError {
  return new OSError(
    E.EOPNOTSUPP,
    `${method}() with ancillary data: Deno's networking has none; ` +
      'use socket(..., { backend: "libc" }) (needs --allow-ffi)',
  );
}

/**
 * sendmsg(2) on a backend socket: its own where it has one; else (the Deno
 * backend) the buffers gathered into send() or sendto(), and ancillary data
 * is an OSError naming the libc backend.
 */
export async function sendmsgOn(
  sock: BackendSocket,
  buffers: Uint8Array[],
  ancdata: AncData[],
  flags: number,
  addr: SockAddr | null,
  wait: Wait,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (sock.sendmsg) {
    // Python's docs pass descriptors with sendmsg() itself: a Deno-backend
    // socket's fileno() among them gets send_fds()'s error, not a bare EBADF.
    for (const fd of rightsIn(ancdata)) libcDescriptor(fd, "sendmsg()");
    return await sock.sendmsg(buffers, ancdata, flags, addr, wait, signal);
  }
  if (ancdata.length > 0) throw noAncillary("sendmsg");
  if (buffers.length > UIO_MAXIOV) throw new OSError(E.EMSGSIZE);
  const data = buffers.length === 1 ? buffers[0] : concat(buffers);
  return addr === null
    ? await sock.send(data, flags, wait, signal)
    : await sock.sendto(data, flags, addr, wait, signal);
}

/**
 * recvmsg(2) on a backend socket: its own where it has one; else (the Deno
 * backend) recvfrom() scattered into the buffers, with no ancillary data
 * (asking for some is an OSError naming the libc backend) and MSG_TRUNC in
 * the flags when a datagram was longer than the buffers.
 */
export async function recvmsgOn(
  sock: BackendSocket,
  type: number,
  buffers: Uint8Array[],
  ancbufsize: number,
  flags: number,
  wait: Wait,
  signal: AbortSignal | undefined,
): Promise<[number, AncData[], number, SockAddr | null]> {
  if (sock.recvmsg) {
    return await sock.recvmsg(buffers, ancbufsize, flags, wait, signal);
  }
  if (ancbufsize > 0) throw noAncillary("recvmsg");
  // Linux echoes MSG_CMSG_CLOEXEC in msg_flags, whatever the socket.
  const echo = flags & MSG_CMSG_CLOEXEC;
  const total = totalLength(buffers);
  if (type === SOCK_DGRAM && sock.recvBytes) {
    const [data, from] = await sock.recvBytes(
      WHOLE_DATAGRAM,
      flags & ~MSG_TRUNC,
      wait,
      signal,
    );
    // Detached or shrunk to nothing while it waited: the Python layer
    // raises BufferError for 0 bytes into buffers that had room.
    if (total > 0 && totalLength(buffers) === 0) {
      return [0, [], echo, from];
    }
    const copied = scatter(data, buffers);
    const truncated = data.length > total ? MSG_TRUNC : 0;
    return [
      flags & MSG_TRUNC ? data.length : copied,
      [],
      truncated | echo,
      from,
    ];
  }
  if (buffers.length === 1 || total === 0) {
    // No room at all waits as one empty buffer does, as Linux's recvmsg.
    const [n, from] = await sock.recvfrom(
      buffers[0] ?? new Uint8Array(0),
      flags,
      wait,
      signal,
    );
    return [n, [], echo, from];
  }
  const tmp = new Uint8Array(total);
  const [n, from] = await sock.recvfrom(tmp, flags, wait, signal);
  scatter(tmp.subarray(0, n), buffers);
  return [n, [], echo, from];
}

/**
 * Send descriptors over a unix socket with SCM_RIGHTS (Python's
 * `socket.send_fds`): `sock.sendmsg(buffers, [[SOL_SOCKET, SCM_RIGHTS,
 * fds as C ints]], flags, address)`. Needs a libc-backend socket
 * (`--allow-ffi`): Deno's own unix sockets carry no ancillary data.
 * CPython 3.11 ignores `flags` and `address` here; they are passed on.
 *
 * @param sock A unix socket on the libc backend.
 * @param buffers The data to send with them (at least one byte on a stream).
 * @param fds Descriptors to pass; they stay open here.
 * @param flags `MSG_*` flags.
 * @param address The destination of an unconnected datagram socket.
 * @param options `signal`: aborting rejects the call with its reason.
 * @returns The bytes of data sent.
 * @throws {OSError} `[Errno 9]` a descriptor that is not open; EOPNOTSUPP
 *   on the Deno backend.
 * @throws {TypeError} `fds` not an iterable of integers.
 *
 * @example Not run by `deno test --doc`: the first libc socket loads libc
 * (README, Testing code that uses libc sockets).
 * ```ts ignore
 * import {
 *   AF_INET,
 *   recv_fds,
 *   send_fds,
 *   SOCK_SEQPACKET,
 *   SOCK_STREAM,
 *   socket,
 *   socketpair,
 * } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair(undefined, SOCK_SEQPACKET);
 * using _a = a, _b = b;
 * using server = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
 * server.bind(["127.0.0.1", 0]);
 * await send_fds(a, [new Uint8Array([1])], [server.fileno()]);
 * const [data, fds] = await recv_fds(b, 10, 1);
 * assert.deepEqual(data, new Uint8Array([1]));
 * // The same listening socket, on a descriptor of its own:
 * using passed = socket(undefined, undefined, undefined, fds[0]);
 * assert.deepEqual(passed.getsockname(), server.getsockname());
 * ```
 */
export async function send_fds(
  sock: Socket,
  buffers: Iterable<ArrayBufferView | ArrayBuffer>,
  fds: Iterable<number>,
  flags: number | AbortOptions = 0,
  address: Address | null | AbortOptions = null,
  options?: AbortOptions,
): Promise<number> {
  optionsAt(arguments, 5, ARITY.send_fds, 3);
  if (isOptionsArg(flags, arguments, "send_fds")) {
    [flags, address, options] = [0, null, flags];
  } else if (isOptionsArg(address, arguments, "send_fds")) {
    [address, options] = [null, address];
  }
  if (!iterable(fds)) {
    throw new TypeError(`'${pyTypeName(fds)}' object is not iterable`);
  }
  const ints = Int32Array.from(
    fds,
    (fd) => libcDescriptor(toCInt(fd), "send_fds()"),
  );
  return await sock.sendmsg(
    buffers,
    [[SOL_SOCKET, SCM_RIGHTS, ints]],
    flags,
    address,
    options,
  );
}

/**
 * Receive data and up to `maxfds` descriptors sent with SCM_RIGHTS
 * (Python's `socket.recv_fds`). The descriptors are open and
 * close-on-exec, and yours to close (`os.close` in Python: `close(fd)` from
 * this module, or adopt one with `socket(..., fd)`). When more arrive than
 * fit (the kernel truncates the control message and sets MSG_CTRUNC), the
 * rest are closed, never leaked. Needs a libc-backend socket.
 *
 * @param sock A unix socket on the libc backend.
 * @param bufsize The most bytes of data to receive.
 * @param maxfds The most descriptors to take.
 * @param flags `MSG_*` flags.
 * @param options `signal`: aborting rejects the call with its reason.
 * @returns `[data, fds, msg_flags, address]`.
 * @throws {OverflowError} `CMSG_LEN() argument out of range` for a negative
 *   `maxfds`, as in Python.
 * @throws {OSError} EOPNOTSUPP on the Deno backend.
 *
 * @example Not run by `deno test --doc`, for the same reason as send_fds's.
 * ```ts ignore
 * import { recv_fds, send_fds, SOCK_SEQPACKET, socketpair } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair(undefined, SOCK_SEQPACKET);
 * using _a = a, _b = b;
 * await send_fds(a, [new TextEncoder().encode("x")], [a.fileno(), b.fileno()]);
 * const [, fds, msgFlags] = await recv_fds(b, 10, 1);
 * assert.equal(fds.length, 1); // the second was closed by the kernel
 * assert.equal(msgFlags & 8, 8); // MSG_CTRUNC
 * ```
 */
export async function recv_fds<A extends SockAddr, S extends SockAddr | null>(
  sock: Socket<A, S>,
  bufsize: number,
  maxfds: number,
  flags: number | AbortOptions = 0,
  options?: AbortOptions,
): Promise<[Uint8Array<ArrayBuffer>, number[], number, S]> {
  optionsAt(arguments, 4, ARITY.recv_fds, 3);
  if (isOptionsArg(flags, arguments, "recv_fds")) {
    [flags, options] = [0, flags];
  }
  const max = toInt(maxfds);
  const ancbufsize = CMSG_LEN(max * 4);
  const [data, ancdata, msgFlags, address] = await sock.recvmsg(
    bufsize,
    ancbufsize,
    flags,
    options,
  );
  const fds = rightsIn(ancdata);
  if (fds.length > max) closeRights(fds.splice(max));
  return [data, fds, msgFlags, address];
}

/**
 * Close descriptors received in SCM_RIGHTS that nobody will own (past
 * `maxfds`, or of a call that fails after it received them).
 *
 * @param fds The descriptors.
 */
export function closeRights(fds: readonly number[]): void {
  if (fds.length === 0) return;
  const libc = needLibc("recvmsg()");
  for (const fd of fds) {
    try {
      libc.closeFd(fd);
    } catch {
      // Not ours any more: nothing to release.
    }
  }
}

// Python's messages for a call given too many arguments (or too few).
const ARITY = {
  CMSG_LEN: parsedArity("CMSG_LEN", 1, 1),
  CMSG_SPACE: parsedArity("CMSG_SPACE", 1, 1),
  send_fds: defArity("send_fds", 3, 5, false, ["sock", "buffers", "fds"]),
  recv_fds: defArity("recv_fds", 3, 4, false, ["sock", "bufsize", "maxfds"]),
} as const;

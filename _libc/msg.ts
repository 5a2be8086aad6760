// sendmsg(2) and recvmsg(2) for the libc backend: struct msghdr, its iovec
// array and the control messages (struct cmsghdr), built and read in
// JavaScript. Layouts are glibc's on LP64 Linux (x86_64 and aarch64 alike).
//
// Memory. Every struct the kernel reads or writes (msghdr, iovecs, the
// control buffer, the address) is a fresh buffer made for one call, so
// nothing of one socket's call can show in another's result. The pointers
// written into msghdr and the iovecs are taken in the same synchronous frame
// as the system call, of buffers that `pinned` keeps referenced until it
// returns; none is kept after.
//
// Parsing. A control message header is read only when all of it lies inside
// both the buffer and the msg_controllen the kernel returned; its data is
// cut at that end, whatever its cmsg_len claims (CPython's
// get_cmsg_data_len()), and a cmsg_len shorter than a header ends the walk.
// A peer or a kernel that lies about lengths gets a shorter answer, never
// bytes from outside the buffer.
import type { SockAddr } from "../_backend.ts";
import {
  decodeSockAddr,
  HOST_LE,
  type InterfaceName,
  SOCKADDR_MAX,
} from "./sockaddr.ts";
import { errno, type Libc, LINUX as L } from "./ffi.ts";

/** One control message: `[cmsg_level, cmsg_type, cmsg_data]`. */
export type AncData = [level: number, type: number, data: Uint8Array];

/** What one recvmsg(2) gave: the byte count, control messages, msg_flags, sender. */
export type RecvMsg = [
  nbytes: number,
  ancdata: AncData[],
  msg_flags: number,
  address: SockAddr | null,
];

/** `sizeof(struct cmsghdr)`: `size_t cmsg_len; int cmsg_level; int cmsg_type`. */
export const CMSG_HDR = 16;
/** `sizeof(struct msghdr)`. */
export const MSGHDR_SIZE = 56;
/** `sizeof(struct iovec)`. */
const IOVEC_SIZE = 16;
// Offsets in struct msghdr.
const MSG_NAME = 0;
const MSG_NAMELEN = 8;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_CONTROL = 32;
const MSG_CONTROLLEN = 40;
const MSG_FLAGS = 48;

/**
 * The most control bytes one recvmsg asks the kernel for. Python takes up to
 * INT_MAX and mallocs it; no control message Linux writes comes near this
 * (253 descriptors in SCM_RIGHTS are 1028 bytes), so a larger request is
 * served from this much, not from a zeroed gigabyte.
 */
export const MAX_CONTROL = 1 << 20;

/**
 * `CMSG_ALIGN(n)`: `n` rounded up to the alignment of `size_t` (8).
 *
 * @param n A length in bytes, 0 or more.
 * @returns The aligned length.
 *
 * @example
 * ```ts
 * import { cmsgAlign } from "./msg.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(cmsgAlign(4), 8);
 * assert.equal(cmsgAlign(16), 16);
 * ```
 */
export function cmsgAlign(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/**
 * `CMSG_LEN(n)`: a control message's `cmsg_len` for `n` bytes of data.
 *
 * @param n Data bytes.
 * @returns `CMSG_HDR + n`.
 *
 * @example
 * ```ts
 * import { cmsgLen } from "./msg.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(cmsgLen(4), 20);
 * ```
 */
export function cmsgLen(n: number): number {
  return CMSG_HDR + n;
}

/**
 * `CMSG_SPACE(n)`: the bytes a control message with `n` bytes of data takes
 * in the buffer, padding included.
 *
 * @param n Data bytes.
 * @returns `CMSG_HDR + cmsgAlign(n)`.
 *
 * @example
 * ```ts
 * import { cmsgSpace } from "./msg.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(cmsgSpace(4), 24);
 * ```
 */
export function cmsgSpace(n: number): number {
  return CMSG_HDR + cmsgAlign(n);
}

/**
 * The control buffer sendmsg() passes: each item's header and data at
 * `CMSG_SPACE` strides, padding zeroed (glibc's CMSG_NXTHDR reads it), as
 * CPython builds it.
 *
 * @param items `[level, type, data]` for each control message.
 * @returns The buffer, or `null` when there are no items.
 *
 * @example Two descriptors in one SCM_RIGHTS message
 * ```ts
 * import { encodeControl } from "./msg.ts";
 * import assert from "node:assert/strict";
 *
 * const fds = new Uint8Array(new Int32Array([3, 4]).buffer);
 * const control = encodeControl([[1, 1, fds]])!;
 * assert.equal(control.length, 24);
 * assert.equal(control[0], 24); // cmsg_len = CMSG_LEN(8)
 * ```
 */
export function encodeControl(
  items: readonly (readonly [number, number, Uint8Array])[],
): Uint8Array | null {
  if (items.length === 0) return null;
  let size = 0;
  for (const [, , data] of items) size += cmsgSpace(data.length);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const [level, type, data] of items) {
    view.setBigUint64(off, BigInt(cmsgLen(data.length)), HOST_LE);
    view.setInt32(off + 8, level, HOST_LE);
    view.setInt32(off + 12, type, HOST_LE);
    out.set(data, off + CMSG_HDR);
    off += cmsgSpace(data.length);
  }
  return out;
}

/**
 * Read the control messages the kernel wrote into `buf`, which it reported
 * as `controllen` bytes. Never reads past `buf` nor past `controllen`: a
 * header must lie wholly inside both, a message's data is cut at their end
 * (and the walk stops after it), and a `cmsg_len` shorter than a header
 * ends the walk.
 *
 * @param buf The control buffer.
 * @param controllen `msg_controllen` as the kernel returned it.
 * @returns `[level, type, data]` for each message; each `data` is a copy.
 *
 * @example A cmsg_len that claims more than was received is cut short
 * ```ts
 * import { decodeControl } from "./msg.ts";
 * import assert from "node:assert/strict";
 *
 * const buf = new Uint8Array(20);
 * new DataView(buf.buffer).setBigUint64(0, 1000n, true); // cmsg_len: a lie
 * buf[8] = 1; // SOL_SOCKET
 * buf[12] = 1; // SCM_RIGHTS
 * const items = decodeControl(buf, 20);
 * assert.equal(items.length, 1);
 * assert.equal(items[0][2].length, 4); // only what is inside the buffer
 * ```
 */
export function decodeControl(buf: Uint8Array, controllen: number): AncData[] {
  const end = Math.max(0, Math.min(controllen, buf.length));
  const view = new DataView(buf.buffer, buf.byteOffset, end);
  const items: AncData[] = [];
  let off = 0;
  while (off + CMSG_HDR <= end) {
    const len = Number(view.getBigUint64(off, HOST_LE));
    if (len < CMSG_HDR) break;
    const level = view.getInt32(off + 8, HOST_LE);
    const type = view.getInt32(off + 12, HOST_LE);
    const start = off + CMSG_HDR;
    const stop = Math.min(off + len, end);
    items.push([level, type, buf.slice(start, stop)]);
    if (off + len > end) break;
    off += cmsgAlign(len);
  }
  return items;
}

/**
 * The descriptors in the SCM_RIGHTS messages of `items`: whole ints only,
 * as CPython's recv_fds() reads them.
 *
 * @param items Control messages, as {@linkcode decodeControl} gives them.
 * @returns The descriptor numbers, in order.
 *
 * @example
 * ```ts
 * import { rightsIn } from "./msg.ts";
 * import assert from "node:assert/strict";
 *
 * const data = new Uint8Array(new Int32Array([5, 6]).buffer);
 * assert.deepEqual(rightsIn([[1, 1, data], [0, 0, data]]), [5, 6]);
 * ```
 */
export function rightsIn(items: readonly AncData[]): number[] {
  const fds: number[] = [];
  for (const [level, type, data] of items) {
    if (level !== L.SOL_SOCKET || type !== L.SCM_RIGHTS) continue;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let at = 0; at + 4 <= data.length; at += 4) {
      fds.push(view.getInt32(at, HOST_LE));
    }
  }
  return fds;
}

// Keeps every buffer whose address is in a msghdr or iovec referenced until
// the system call that reads them has returned.
let pinned: readonly unknown[] | null = null;

function address(b: Uint8Array | null): bigint {
  if (b === null || b.length === 0) return 0n;
  // A small typed array may live inside V8's heap, where the collector can
  // move it: asking for its ArrayBuffer moves it out first, for good.
  void b.buffer;
  const p = Deno.UnsafePointer.of(b as Uint8Array<ArrayBuffer>);
  return p === null ? 0n : BigInt(Deno.UnsafePointer.value(p));
}

function iovecs(buffers: readonly Uint8Array[]): Uint8Array | null {
  if (buffers.length === 0) return null;
  const out = new Uint8Array(buffers.length * IOVEC_SIZE);
  const view = new DataView(out.buffer);
  buffers.forEach((b, i) => {
    view.setBigUint64(i * IOVEC_SIZE, address(b), HOST_LE);
    view.setBigUint64(i * IOVEC_SIZE + 8, BigInt(b.length), HOST_LE);
  });
  return out;
}

function msghdr(
  name: Uint8Array | null,
  namelen: number,
  iov: Uint8Array | null,
  iovlen: number,
  control: Uint8Array | null,
  controllen: number,
): Uint8Array {
  const hdr = new Uint8Array(MSGHDR_SIZE);
  const view = new DataView(hdr.buffer);
  view.setBigUint64(MSG_NAME, address(name), HOST_LE);
  view.setUint32(MSG_NAMELEN, namelen, HOST_LE);
  view.setBigUint64(MSG_IOV, address(iov), HOST_LE);
  view.setBigUint64(MSG_IOVLEN, BigInt(iovlen), HOST_LE);
  view.setBigUint64(MSG_CONTROL, address(control), HOST_LE);
  view.setBigUint64(MSG_CONTROLLEN, BigInt(controllen), HOST_LE);
  return hdr;
}

/**
 * One sendmsg(2), synchronous. Returns the bytes sent, or -1 with errno
 * left for the caller to read at once (nothing else is called after the
 * system call).
 *
 * @param C libc's symbols.
 * @param fd The socket.
 * @param buffers The data, gathered in order.
 * @param control From {@linkcode encodeControl}, or `null`.
 * @param name The destination sockaddr, or `null`.
 * @param namelen Its length.
 * @param flags `MSG_*` flags.
 * @returns The count, or -1.
 */
export function sendmsgOnce(
  C: Libc,
  fd: number,
  buffers: readonly Uint8Array[],
  control: Uint8Array | null,
  name: Uint8Array | null,
  namelen: number,
  flags: number,
): number {
  const iov = iovecs(buffers);
  const hdr = msghdr(
    name,
    name === null ? 0 : namelen,
    iov,
    buffers.length,
    control,
    control?.length ?? 0,
  );
  pinned = [hdr, iov, name, control, buffers];
  try {
    return Number(C.sendmsg(fd, hdr, flags | L.MSG_DONTWAIT));
  } finally {
    pinned = null;
  }
}

/**
 * One recvmsg(2), synchronous, into `buffers` (scattered in order) with a
 * fresh control buffer of `ancbufsize` bytes (at most
 * {@linkcode MAX_CONTROL}) and a fresh address buffer.
 *
 * If reading the result fails after the call returned, the descriptors it
 * brought in SCM_RIGHTS are closed before the error goes on, as CPython
 * does, so none leaks.
 *
 * @param C libc's symbols.
 * @param fd The socket.
 * @param buffers Where the data goes.
 * @param ancbufsize The control buffer's size (`msg_controllen`).
 * @param flags `MSG_*` flags.
 * @returns What was received, or the errno of a failed call.
 */
export function recvmsgOnce(
  C: Libc,
  fd: number,
  buffers: readonly Uint8Array[],
  ancbufsize: number,
  flags: number,
  ifname?: InterfaceName,
): RecvMsg | number {
  const size = Math.min(ancbufsize, MAX_CONTROL);
  const control = size > 0 ? new Uint8Array(size) : null;
  const name = new Uint8Array(SOCKADDR_MAX);
  const iov = iovecs(buffers);
  const hdr = msghdr(name, SOCKADDR_MAX, iov, buffers.length, control, size);
  let n: number;
  pinned = [hdr, iov, name, control, buffers];
  try {
    n = Number(C.recvmsg(fd, hdr, flags | L.MSG_DONTWAIT));
    if (n < 0) return errno();
  } finally {
    pinned = null;
  }
  const view = new DataView(hdr.buffer);
  const controllen = Math.min(
    Number(view.getBigUint64(MSG_CONTROLLEN, HOST_LE)),
    size,
  );
  try {
    const ancdata = control === null ? [] : decodeControl(control, controllen);
    const namelen = Math.min(view.getUint32(MSG_NAMELEN, HOST_LE), name.length);
    return [
      n,
      ancdata,
      view.getInt32(MSG_FLAGS, HOST_LE),
      decodeSockAddr(name, namelen, ifname),
    ];
  } catch (e) {
    if (control !== null) {
      closeAll(C, rightsIn(decodeControl(control, controllen)));
    }
    throw e;
  }
}

/**
 * Close descriptors received and not handed on (close errors ignored: the
 * number was the kernel's, and it is not ours to report).
 *
 * @param C libc's symbols.
 * @param fds The descriptors.
 */
export function closeAll(C: Libc, fds: readonly number[]): void {
  for (const fd of fds) if (fd >= 0) C.close(fd);
}

/** Only for tests: whether a call's buffers are still pinned (never, after it). */
export function pinnedNow(): boolean {
  return pinned !== null;
}

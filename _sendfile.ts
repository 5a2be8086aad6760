// socket.sendfile(): CPython 3.11's rules (Lib/socket.py, _sendfile_use_sendfile
// and _sendfile_use_send), with the kernel's sendfile(2) where the backend
// has it and a double-buffered read/sendall loop otherwise.
import { errno as E, SOCK_STREAM } from "./constants.ts";
import { OSError, OverflowError, ValueError } from "./errors.ts";
import { UnsupportedOperation } from "./errors.ts";
import { translate } from "./_deno/common.ts";
import { pyTypeName, toInt } from "./_args.ts";
import { pyRepr } from "./_repr.ts";
import type { OwnedDescriptor } from "./_libc/file_fd.ts";

/** What sendfile needs of the socket it sends on. */
export interface SendfileSocket {
  /** The socket type (SOCK_STREAM bit checked, as CPython does). */
  readonly type: number;
  /** The timeout; 0 (non-blocking) is refused. */
  readonly timeout: number | null;
  /** Whether the socket is closed (fileno() -1). */
  readonly closed: boolean;
  /**
   * Kernel sendfile(2) of up to `count` bytes of descriptor `fd` from
   * `offset`, waiting for room under the socket's timeout; resolves to what
   * went (0 at the file's end). `null` when the backend has none.
   */
  kernel:
    | ((fd: number, offset: number, count: number) => Promise<number>)
    | null;
  /**
   * A descriptor of `file` for `kernel`, the caller's own to close (a
   * dispose), or `null`.
   */
  descriptor(file: Deno.FsFile): OwnedDescriptor | null;
  /** `send(data)` with the socket's timeout and the caller's signal. */
  send(data: Uint8Array): Promise<number>;
}

// A read/sendall round: large enough that the per-call cost vanishes, small
// enough that two of them are nothing to hold.
const CHUNK = 1 << 20;
// Bytes asked of the kernel hook at once (well under CPython's 1 GiB cap,
// bpo-38319): it runs synchronously until the socket is full, so this bounds
// how long it holds the event loop (~1-4 ms) without an await per 60 KiB.
const KERNEL_BATCH = 4 << 20;

// CPython's check: any int (a bool too) is a count, and a positive one.
function checkCount(count: unknown): number | null {
  if (count === null || count === undefined) return null;
  let n: number;
  try {
    n = toInt(count);
  } catch {
    throw new TypeError(
      `count must be a positive integer (got ${pyRepr(count)})`,
    );
  }
  if (n <= 0) {
    throw new ValueError(
      `count must be a positive integer (got ${pyRepr(count)})`,
    );
  }
  return n;
}

/**
 * Send `file` from `offset`, at most `count` bytes, over `sock`.
 *
 * @returns The bytes sent; the file's position ends at `offset + sent`.
 */
export async function sendfile(
  sock: SendfileSocket,
  file: Deno.FsFile,
  offset: number,
  count: number | null,
): Promise<number> {
  if (!(sock.type & SOCK_STREAM)) {
    throw new ValueError("only SOCK_STREAM type sockets are supported");
  }
  const limit = checkCount(count);
  const f = file as Partial<Deno.FsFile> | null | undefined;
  if (
    typeof f?.statSync !== "function" || typeof f.read !== "function" ||
    typeof f.seek !== "function"
  ) {
    // CPython's AttributeError, from the first method it calls.
    throw new TypeError(
      `sendfile() takes an open Deno.FsFile, not '${pyTypeName(file)}'`,
    );
  }
  // CPython on Linux looks at the size first: an empty file sends nothing,
  // even on a non-blocking socket.
  const size = onFile(() => file.statSync()).size;
  if (size === 0) return 0;
  if (sock.timeout === 0) {
    throw new ValueError("non-blocking sockets are not supported");
  }
  // CPython's selector takes the closed socket's fileno() next, and says so.
  if (sock.closed) throw new ValueError("Invalid file descriptor: -1");
  // CPython's os.sendfile() takes its arguments here, the count first: past
  // a ssize_t (a C long for the offset) is OverflowError; Linux refuses a
  // negative offset.
  if (limit !== null && limit >= 2 ** 63) {
    throw new OverflowError("Python int too large to convert to C ssize_t");
  }
  offset = toInt(offset);
  if (offset >= 2 ** 63 || offset < -(2 ** 63)) {
    throw new OverflowError("Python int too large to convert to C long");
  }
  if (offset < 0) throw new OSError(E.EINVAL);
  if (sock.kernel !== null && readable(file)) {
    using own = sock.descriptor(file);
    if (own !== null) {
      const sent = await kernelSend(sock, own.fd, file, offset, limit, size);
      if (sent !== null) return sent;
    }
  }
  return await loopSend(sock, file, offset, limit);
}

// Whether `file` itself was opened for reading: the kernel reads through a
// descriptor found for the same file, which may be another's with another
// mode. A 1-byte read, put back; a file that fails it takes the read/send
// path, which says why.
function readable(file: Deno.FsFile): boolean {
  try {
    const at = file.seekSync(0, Deno.SeekMode.Current);
    file.readSync(new Uint8Array(1));
    file.seekSync(at, Deno.SeekMode.Start);
    return true;
  } catch {
    return false;
  }
}

// sendfile(2) until `limit` or the end of the file; `null` when the kernel
// refused the very first call (not a file it can send: fall back).
async function kernelSend(
  sock: SendfileSocket,
  fd: number,
  file: Deno.FsFile,
  offset: number,
  limit: number | null,
  size: number,
): Promise<number | null> {
  let total = 0;
  try {
    for (;;) {
      const want = limit === null
        ? Math.min(size, KERNEL_BATCH)
        : Math.min(limit - total, KERNEL_BATCH);
      if (want <= 0) break;
      let sent: number;
      try {
        sent = await sock.kernel!(fd, offset + total, want);
      } catch (e) {
        // As CPython: any failure of the first call falls back to send()
        // (a file sendfile(2) cannot read, or not open for reading: EBADF).
        if (total === 0 && e instanceof OSError) return null;
        throw e;
      }
      if (sent === 0) break;
      total += sent;
    }
    return total;
  } finally {
    if (total > 0) {
      onFile(() => file.seekSync(offset + total, Deno.SeekMode.Start));
    }
  }
}

// Read the next chunk while the current one is sent.
async function loopSend(
  sock: SendfileSocket,
  file: Deno.FsFile,
  offset: number,
  limit: number | null,
): Promise<number> {
  let total = 0;
  let read = 0;
  const size = limit === null ? CHUNK : Math.min(limit, CHUNK);
  let cur = new Uint8Array(size);
  let next = new Uint8Array(size);
  const readInto = async (buf: Uint8Array): Promise<number> => {
    const want = limit === null
      ? buf.length
      : Math.min(buf.length, limit - read);
    if (want <= 0) return 0;
    const n = await onFileAsync(() =>
      file.read(want === buf.length ? buf : buf.subarray(0, want))
    );
    if (n === null) return 0;
    read += n;
    return n;
  };
  // As CPython's sendfile(2) path on Linux: nothing sent, nothing moved.
  const start = await onFileAsync(() => file.seek(0, Deno.SeekMode.Current));
  try {
    await onFileAsync(() => file.seek(offset, Deno.SeekMode.Start));
    let n = await readInto(cur);
    while (n > 0) {
      const pending = readInto(next);
      try {
        // send() by send(), so that a timeout midway counts what went.
        for (let off = 0; off < n;) {
          const sent = await sock.send(cur.subarray(off, n));
          off += sent;
          total += sent;
        }
      } catch (e) {
        await pending.catch(() => {});
        throw e;
      }
      n = await pending;
      [cur, next] = [next, cur];
    }
    return total;
  } finally {
    await onFileAsync(() =>
      file.seek(total > 0 ? offset + total : start, Deno.SeekMode.Start)
    );
  }
}

// A file call's failure in Python's terms, as io's: a closed file is
// ValueError, one not open for reading UnsupportedOperation("read"), the
// rest the OSError of their errno.
function fileError(e: unknown): Error {
  if (e instanceof Deno.errors.BadResource) {
    return new ValueError("I/O operation on closed file");
  }
  if ((e as { code?: unknown } | null)?.code === "EBADF") {
    return new UnsupportedOperation("read");
  }
  return translate(e);
}

function onFile<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw fileError(e);
  }
}

async function onFileAsync<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw fileError(e);
  }
}

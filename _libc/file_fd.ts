// A descriptor for a Deno.FsFile, which Deno 2 does not expose: any open,
// readable descriptor of this process on the same file (same device and
// inode) serves sendfile(2) with an offset pointer, which reads there
// without moving any file position.
import { libc, LINUX as L } from "./ffi.ts";

// struct stat: st_dev at 0 and st_ino at 8 on x86_64 and aarch64; the
// buffer is larger than either layout.
const stat = new Uint8Array(256);
const statView = new DataView(stat.buffer);
const found = new WeakMap<Deno.FsFile, number>();
// Descriptors looked at, at most: a search costs one fstat each.
const SEARCH = 4096;
const O_ACCMODE = 3;
const O_WRONLY = 1;

function sameFile(fd: number, dev: number, ino: number): boolean {
  const C = libc();
  if (C.fstat === null || C.fstat(fd, stat) !== 0) return false;
  if (
    Number(statView.getBigUint64(0, true)) !== dev ||
    Number(statView.getBigUint64(8, true)) !== ino
  ) return false;
  const fl = C.fcntl(fd, L.F_GETFL, 0);
  return fl >= 0 && (fl & O_ACCMODE) !== O_WRONLY;
}

/** A descriptor of the caller's own, closed at the end of a `using` block. */
export interface OwnedDescriptor extends Disposable {
  /** The descriptor number. */
  readonly fd: number;
}

/**
 * A readable descriptor of the caller's own on the same file as `file`:
 * a duplicate of one the process holds, made in the same synchronous step
 * as the search, so that closing that one (another `Deno.FsFile` on the
 * file, say) and its number going to another file cannot move the caller
 * to that file. `null` when none is found (no fstat in this glibc, or not a
 * regular file).
 *
 * @param file An open file.
 * @returns The duplicate; dispose of it to close it.
 */
export function fileDescriptorOf(file: Deno.FsFile): OwnedDescriptor | null {
  const info = file.statSync();
  if (!info.isFile || info.dev === null || info.ino === null) return null;
  const { dev, ino } = info;
  let fd = found.get(file);
  if (fd === undefined || !sameFile(fd, dev, ino)) {
    fd = undefined;
    for (let n = 0; n < SEARCH && fd === undefined; n++) {
      if (sameFile(n, dev, ino)) fd = n;
    }
    if (fd === undefined) return null;
    found.set(file, fd);
  }
  const C = libc();
  const own = C.fcntl(fd, L.F_DUPFD_CLOEXEC, 0);
  if (own < 0) return null;
  return {
    fd: own,
    [Symbol.dispose]() {
      C.close(own);
    },
  };
}

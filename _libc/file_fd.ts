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

/**
 * A readable descriptor on the same file as `file`, or `null` when none is
 * found (no fstat in this glibc, or not a regular file).
 *
 * @param file An open file.
 * @returns A descriptor number, owned by the process: never close it.
 */
export function fileDescriptorOf(file: Deno.FsFile): number | null {
  const info = file.statSync();
  if (!info.isFile || info.dev === null || info.ino === null) return null;
  const { dev, ino } = info;
  const known = found.get(file);
  if (known !== undefined && sameFile(known, dev, ino)) return known;
  for (let fd = 0; fd < SEARCH; fd++) {
    if (sameFile(fd, dev, ino)) {
      found.set(file, fd);
      return fd;
    }
  }
  return null;
}

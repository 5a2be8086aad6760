// libc through Deno FFI, opened on first use: nothing here runs at import
// time, so the module loads where there is no FFI (Deno Deploy) and only a
// libc socket asks for --allow-ffi.
import { OSError, PermissionError } from "../errors.ts";
import { errno as E } from "../constants.ts";

/**
 * Linux ABI numbers the libc backend passes to the kernel (the same on x86_64
 * and aarch64, glibc).
 */
export const LINUX = {
  AF_UNIX: 1,
  SOCK_STREAM: 1,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_TYPE: 3,
  SO_ERROR: 4,
  SO_RCVTIMEO: 20,
  SO_SNDTIMEO: 21,
  SO_PROTOCOL: 38,
  SO_DOMAIN: 39,
  MSG_OOB: 1,
  MSG_PEEK: 2,
  MSG_WAITALL: 0x100,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  F_GETFL: 3,
  F_SETFL: 4,
  F_DUPFD_CLOEXEC: 1030,
  F_GETFD: 1,
  F_SETFD: 2,
  FD_CLOEXEC: 1,
  SCM_RIGHTS: 1,
  MSG_CMSG_CLOEXEC: 0x40000000,
  O_NONBLOCK: 0o4000,
  EFD_NONBLOCK: 0o4000,
  EFD_CLOEXEC: 0o2000000,
  EPOLL_CLOEXEC: 0o2000000,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  EPOLL_CTL_MOD: 3,
  EPOLLIN: 0x001,
  EPOLLPRI: 0x002,
  EPOLLOUT: 0x004,
  EPOLLERR: 0x008,
  EPOLLHUP: 0x010,
  EPOLLRDHUP: 0x2000,
  // ioctl(2): the bytes queued to read (SIOCINQ), leaving a pending error.
  FIONREAD: 0x541b,
  EPOLLONESHOT: 1 << 30,
  EPOLLET: 2 ** 31,
} as const;

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: {
    parameters: ["i32", "buffer", "buffer", "i32"],
    result: "i32",
  },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  close: { parameters: ["i32"], result: "i32" },
  // fcntl is variadic; one int argument is passed as a fixed one on the
  // x86_64 and aarch64 Linux ABIs.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  // The one call that blocks: it runs on Deno's FFI thread pool, so errno is
  // lost (a -1 is simply retried) and its buffer must not be touched until
  // the promise settles.
  epoll_wait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // The same call, synchronous with timeout 0: harvests what is ready now.
  epoll_wait_now: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  if_indextoname: { parameters: ["u32", "buffer"], result: "pointer" },
  // Synchronous, timeout 0 only: a readiness check on one descriptor.
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  // socket.sendfile()'s fast path: in_fd with an offset pointer, so no
  // file position moves. fstat is a symbol since glibc 2.33 only: optional.
  sendfile: {
    parameters: ["i32", "i32", "buffer", "usize"],
    result: "isize",
  },
  fstat: { parameters: ["i32", "buffer"], result: "i32", optional: true },
  // The struct msghdr is built per call by msg.ts; its pointers are valid
  // for that call only.
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  if_nameindex: { parameters: [], result: "pointer" },
  if_freenameindex: { parameters: ["pointer"], result: "void" },
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libc functions the backend calls, as Deno FFI symbols. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Libc | null = null;
let errnoCell: Int32Array | null = null;
let failure: OSError | null = null;

const FFI_HINT = "the libc backend needs FFI: run with --allow-ffi";

function ffiGranted(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Whether the libc backend can run here, raising where FFI is denied: true
 * on Linux with glibc when FFI is allowed, false where there is no FFI or no
 * `libc.so.6` (Deno Deploy, other systems). Never prompts. Loads libc on the
 * first call, for the life of the process: under `deno test` with the
 * resource sanitizer, call it at a test module's top level so that no test
 * is blamed for the load. {@linkcode libcUsable} is the same question
 * without the PermissionError.
 *
 * @returns `true` when libc sockets can be opened.
 * @throws {PermissionError} FFI exists but `--allow-ffi` was not given; the
 *   message names the flag.
 */
export function checkLibc(): boolean {
  if (lib !== null) return true;
  if (
    typeof Deno === "undefined" || typeof Deno.dlopen !== "function" ||
    Deno.build.os !== "linux"
  ) {
    return false;
  }
  try {
    libc();
    return true;
  } catch (e) {
    if (e instanceof PermissionError) throw e;
    return false;
  }
}

/**
 * Whether libc sockets can be opened now, never raising: {@linkcode checkLibc}
 * with `false` where FFI is missing or not allowed.
 *
 * @returns `true` when libc sockets can be opened.
 */
export function libcUsable(): boolean {
  try {
    return checkLibc();
  } catch {
    return false;
  }
}

/**
 * libc's symbols, opened on the first call.
 *
 * @returns The FFI symbols.
 * @throws {PermissionError} Without `--allow-ffi` (errno 13, the message
 *   names the flag).
 * @throws {OSError} No FFI or no glibc on this system.
 */
export function libc(): Libc {
  if (lib !== null) return lib;
  if (failure !== null) throw failure;
  if (typeof Deno === "undefined" || typeof Deno.dlopen !== "function") {
    throw failure = new OSError(
      "the libc backend needs Deno FFI, which this runtime does not have",
    );
  }
  // Asked without prompting: a prompt in the middle of socket() would be a
  // surprise, and `socketpair()` probes the backend quietly.
  if (!ffiGranted()) throw new PermissionError(E.EACCES, FFI_HINT);
  let opened: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    opened = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (e) {
    if (
      e instanceof Deno.errors.NotCapable ||
      e instanceof Deno.errors.PermissionDenied
    ) {
      throw new PermissionError(E.EACCES, FFI_HINT);
    }
    throw failure = new OSError(
      `the libc backend needs Linux with glibc (libc.so.6): ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
  }
  const cell = opened.symbols.__errno_location();
  if (cell === null) {
    opened.close();
    throw failure = new OSError("the libc backend could not locate errno");
  }
  // errno is thread-local: this is the main thread's, where every
  // synchronous call runs.
  errnoCell = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(cell, 4));
  lib = opened.symbols;
  return lib;
}

/**
 * The errno left by the last synchronous libc call. Read it right after the
 * call that returned -1.
 *
 * @returns The errno value.
 */
export function errno(): number {
  return errnoCell![0];
}

/**
 * Put back an errno read with {@linkcode errno}, after calls made since
 * that may have changed it.
 *
 * @param value The errno value.
 */
export function setErrno(value: number): void {
  errnoCell![0] = value;
}

/**
 * The typed error for the errno left by the last synchronous libc call.
 *
 * @returns `new OSError(errno)`, which is the Python subclass for it.
 */
export function lastError(): OSError {
  return new OSError(errnoCell![0]);
}

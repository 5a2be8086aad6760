// Fixtures shared by the conformance and interop suites: sockets made on a
// chosen backend, connected pairs that close everything when disposed, and
// small assertions for Python's typed errors. Every wait here is bounded, so a
// hang fails its test instead of stalling the run.
import assert from "node:assert/strict";
import { STEP_MS, withTimeout } from "./_python.ts";
import { sleep } from "./_time.ts";
import {
  AF_INET,
  AF_INET6,
  OSError,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
} from "../mod.ts";
import { errno, libc, libcUsable, LINUX } from "../_libc/ffi.ts";
import { poller } from "../_libc/poller.ts";

/** Every backend the conformance suite runs on. */
export const BACKENDS = ["deno", "libc"] as const;
/** One of {@linkcode BACKENDS}. */
export type BackendName = typeof BACKENDS[number];
/** Every ordered pair of backends (this side's, the peer's): deno/deno, deno/libc, libc/deno, libc/libc. */
export const BACKEND_PAIRS: readonly (readonly [BackendName, BackendName])[] =
  BACKENDS.flatMap((a) => BACKENDS.map((b) => [a, b] as const));
/** An address as `bind()` takes it. */
export type Addr = Parameters<Socket["bind"]>[0];

/**
 * Why the libc backend cannot run in this process, or `null` when it can:
 * no `--allow-ffi`, no FFI in this runtime, not Linux, or no glibc
 * `libc.so.6`. Only those count; any other failure of the libc backend
 * throws here, at load, so a broken backend fails loudly instead of having
 * its tests skipped.
 */
export const libcMissing: string | null = (() => {
  let ffi: string;
  try {
    ffi = Deno.permissions.querySync({ name: "ffi" }).state;
  } catch {
    ffi = "denied";
  }
  if (ffi !== "granted") return "no --allow-ffi";
  if (Deno.build.os !== "linux") {
    return `libc sockets need Linux, not ${Deno.build.os}`;
  }
  if (!libcUsable()) return "no Deno FFI or no glibc libc.so.6 here";
  // The libc backend opens libc.so.6 once per process and keeps it. Open it
  // here, outside any test, so the resource sanitizer does not charge that to
  // whichever libc test happens to run first.
  socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" }).close();
  return null;
})();

/** Why `backend` cannot run here, or `null` when it can. */
export function unavailable(backend: BackendName): string | null {
  return backend === "libc" ? libcMissing : null;
}

/**
 * `name`, plus the reason when the test is ignored for it, so that a skipped
 * case says why in the report instead of only "ignored".
 */
export function skipNote(name: string, reason: string | null): string {
  return reason === null ? name : `${name} [ignored: ${reason}]`;
}

/**
 * A test that needs the libc backend: ignored, with the reason in its name,
 * where {@linkcode libcMissing} says libc cannot run (e.g. no `--allow-ffi`).
 * (Deno reports its location as this file; {@linkcode libcCase} keeps it in
 * the caller's.)
 */
export function libcTest(
  name: string,
  fn: () => void | Promise<void>,
  ignore = false,
): void {
  Deno.test({ ...libcCase(name, ignore), fn });
}

/**
 * A test run on `backend`, named `backend: name`: ignored, with the reason in
 * its name, where the backend cannot run here. (Deno reports its location as
 * this file; {@linkcode onBackend} keeps it in the caller's.)
 */
export function backendTest(
  backend: BackendName,
  name: string,
  fn: () => void | Promise<void>,
  ignore = false,
): void {
  Deno.test({ ...onBackend(backend, name, ignore), fn });
}

/**
 * `Deno.test`'s `name` and `ignore` for a case on `backend`: named
 * `backend: name`, ignored with the reason in its name where the backend
 * cannot run here. Pass it as the options of `Deno.test(options, fn)` (or
 * spread it), so that the test's location stays in its own file.
 */
export function onBackend(
  backend: BackendName,
  name: string,
  ignore = false,
): { name: string; ignore: boolean } {
  const reason = unavailable(backend);
  return {
    name: skipNote(`${backend}: ${name}`, reason),
    ignore: ignore || reason !== null,
  };
}

/**
 * `Deno.test`'s `name` and `ignore` for a case that needs the libc backend
 * (see {@linkcode onBackend}).
 */
export function libcCase(
  name: string,
  ignore = false,
): { name: string; ignore: boolean } {
  return {
    name: skipNote(name, libcMissing),
    ignore: ignore || libcMissing !== null,
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The UTF-8 bytes of `s`. */
export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/** The UTF-8 text of `b`. */
export function text(b: Uint8Array): string {
  return decoder.decode(b);
}

/** `n` bytes of a pattern that shows reordering, loss and duplication. */
export function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Hex SHA-256 of `b`. */
export async function sha256(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>),
  );
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A socket on `backend`. */
export function sock(
  backend: BackendName,
  family: number = AF_INET,
  type: number = SOCK_STREAM,
  proto = 0,
): Socket {
  return socket(family, type, proto, { backend });
}

/** A temp dir holding one unix socket path; the dir goes on dispose. */
export interface TempUnixPath extends Disposable {
  readonly dir: string;
  readonly path: string;
}

/** A fresh temp dir and a socket path inside it, removed on dispose. */
export function tempUnixPath(name = "s"): TempUnixPath {
  const dir = Deno.makeTempDirSync({ prefix: "pysock-" });
  return {
    dir,
    path: `${dir}/${name}`,
    [Symbol.dispose]() {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    },
  };
}

/** A unique Linux abstract unix name (leading NUL byte). */
export function abstractName(): Uint8Array {
  return bytes(`\0pysock-test-${crypto.randomUUID()}`);
}

/** Where a fixture binds: loopback for IP, a temp path or abstract name for unix. */
export type Where = "path" | "abstract";

/** A listening socket and the address to connect to. */
export interface Listener extends Disposable, AsyncDisposable {
  readonly sock: Socket;
  readonly addr: Addr;
}

function closeAll(items: (Socket | Disposable | undefined)[]): void {
  for (const item of items) {
    if (item === undefined) continue;
    try {
      if ("close" in item) item.close();
      else item[Symbol.dispose]();
    } catch {
      // Disposal goes on; the test reports its own failure.
    }
  }
}

function disposable<T extends object>(
  value: T,
  items: (Socket | Disposable | undefined)[],
): T & Disposable & AsyncDisposable {
  return Object.assign(value, {
    [Symbol.dispose]: () => closeAll(items),
    [Symbol.asyncDispose]: async () => {
      closeAll(items);
      await pollerIdle();
    },
  });
}

/**
 * Wait (at most 2 s) until the libc poller has no epoll_wait in flight. A
 * released reader's read ends at once, but the socket read under it gives
 * up its wait only once the poller's call on Deno's thread pool returns, a
 * moment later (later under load); the sanitizers must not see that call.
 */
export async function pollerIdle(): Promise<void> {
  const p = poller();
  for (let i = 0; i < 2000 && p.running; i++) await sleep(1);
}

/** Bind `s` to a fresh loopback / temp address for `family`; returns the temp dir to drop. */
function bindLocal(
  s: Socket,
  family: number,
  where: Where = "path",
): TempUnixPath | undefined {
  if (family === AF_INET) s.bind(["127.0.0.1", 0]);
  else if (family === AF_INET6) s.bind(["::1", 0]);
  else if (where === "abstract") s.bind(abstractName());
  else {
    const tmp = tempUnixPath();
    try {
      s.bind(tmp.path);
    } catch (e) {
      tmp[Symbol.dispose]();
      throw e;
    }
    return tmp;
  }
  return undefined;
}

/** What to connect to for a socket bound by {@linkcode bindLocal}. */
function connectAddr(s: Socket, family: number): Addr {
  const name = s.getsockname() as Addr;
  // Helpers connect with the 2-tuple; the 4-tuple has a test of its own.
  if (family === AF_INET6 && Array.isArray(name)) return [name[0], name[1]];
  return name;
}

/** A listening stream socket on loopback (or a temp unix path). */
export function listener(
  backend: BackendName,
  family: number = AF_INET,
  where: Where = "path",
): Listener {
  const s = sock(backend, family);
  let tmp: TempUnixPath | undefined;
  try {
    tmp = bindLocal(s, family, where);
    s.listen();
    return disposable({ sock: s, addr: connectAddr(s, family) }, [s, tmp]);
  } catch (e) {
    closeAll([s, tmp]);
    throw e;
  }
}

/** A connected stream pair: `client` connected to `listener`, `server` accepted. */
export interface Pair extends Disposable, AsyncDisposable {
  readonly client: Socket;
  readonly server: Socket;
  readonly listener: Socket;
  readonly addr: Addr;
}

/**
 * A connected stream pair, all of it closed on dispose. The listener and
 * `server` are on `backend`; `client` on `clientBackend` (the same by
 * default), for pairs that mix the two.
 */
export async function connectedPair(
  backend: BackendName,
  family: number = AF_INET,
  where: Where = "path",
  clientBackend: BackendName = backend,
): Promise<Pair> {
  const l = listener(backend, family, where);
  const client = sock(clientBackend, family);
  let server: Socket | undefined;
  try {
    const [, accepted] = await withTimeout(
      Promise.all([client.connect(l.addr), l.sock.accept()]),
      STEP_MS,
      "connect + accept",
    );
    server = accepted[0];
    return disposable(
      { client, server, listener: l.sock, addr: l.addr },
      [client, server, l],
    );
  } catch (e) {
    closeAll([client, server, l]);
    throw e;
  }
}

/** Two bound datagram sockets. */
export interface DgramPair extends Disposable, AsyncDisposable {
  readonly a: Socket;
  readonly b: Socket;
  readonly aAddr: Addr;
  readonly bAddr: Addr;
}

/** Two datagram sockets bound on loopback (or temp unix paths). */
export function udpPair(
  backend: BackendName,
  family: number = AF_INET,
): DgramPair {
  const a = sock(backend, family, SOCK_DGRAM);
  const b = sock(backend, family, SOCK_DGRAM);
  const tmps: (TempUnixPath | undefined)[] = [];
  try {
    tmps.push(bindLocal(a, family));
    tmps.push(bindLocal(b, family));
    return disposable(
      { a, b, aAddr: connectAddr(a, family), bAddr: connectAddr(b, family) },
      [a, b, ...tmps],
    );
  } catch (e) {
    closeAll([a, b, ...tmps]);
    throw e;
  }
}

/** A port on 127.0.0.1 nothing listens on (TCP and UDP), just released. */
export function deadPort(backend: BackendName, type = SOCK_STREAM): number {
  using s = sock(backend, AF_INET, type);
  s.bind(["127.0.0.1", 0]);
  return (s.getsockname() as [string, number])[1];
}

/** Read exactly `n` bytes (or up to EOF), bounded by `ms` in all. */
export async function recvExactly(
  s: Socket,
  n: number,
  ms: number = STEP_MS,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  const deadline = Date.now() + ms;
  while (got < n) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`only ${got} of ${n} bytes within ${ms} ms`);
    const chunk = await withTimeout(
      s.recv(Math.min(n - got, 1 << 20)),
      left,
      "recv",
    );
    if (chunk.length === 0) break;
    out.set(chunk, got);
    got += chunk.length;
  }
  return out.subarray(0, got);
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** What an expected error must carry: errno, message, or both. */
export interface Expect {
  errno?: number | null;
  message?: string | RegExp;
}

function check(e: unknown, Class: ErrorClass, expect: Expect): Error {
  assert.ok(
    e instanceof Class,
    `expected ${Class.name}, got ${
      e instanceof Error ? `${e.name}: ${e.message}` : String(e)
    }`,
  );
  if ("errno" in expect) {
    assert.equal((e as OSError).errno, expect.errno, `errno of ${e}`);
  }
  if (typeof expect.message === "string") {
    assert.equal(e.message, expect.message);
  } else if (expect.message) {
    assert.match(e.message, expect.message);
  }
  return e;
}

/**
 * `fn` throws or rejects (either is fine for an async method) with an
 * instance of `Class` carrying `expect`; bounded in time.
 */
export async function raises(
  fn: () => unknown,
  Class: ErrorClass,
  expect: Expect = {},
  ms: number = STEP_MS,
): Promise<Error> {
  let result: unknown;
  try {
    result = fn();
    if (result instanceof Promise) result = await withTimeout(result, ms);
  } catch (e) {
    return check(e, Class, expect);
  }
  assert.fail(`expected ${Class.name}, but it returned ${String(result)}`);
}

/** `fn` throws synchronously an instance of `Class` carrying `expect`. */
export function raisesSync(
  fn: () => unknown,
  Class: ErrorClass,
  expect: Expect = {},
): Error {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    return check(e, Class, expect);
  }
  if (result instanceof Promise) result.catch(() => {});
  assert.fail(`expected ${Class.name} thrown, but it returned ${result}`);
}

/**
 * JavaScript for a child process run with FFI allowed: `freeFds(n)`, the `n`
 * lowest descriptor numbers not in use, and `isOpen(fd)`, asked of the kernel
 * instead of read from /proc/self/fd (which needs /proc mounted, and Deno 2
 * reads /proc only under --allow-all). Linux always hands out the lowest free
 * number, so opening `n` eventfds (closed again at once) reads off the `n`
 * lowest free slots. A descriptor left open since an earlier snapshot shows
 * in a later one, and cannot hide above it: when it was opened, at most a few
 * others of the code under test were open (a handful per cycle in the leak
 * tests), so it got one of the lowest few free numbers, well inside a
 * snapshot of 32 or 64 slots. A number below the snapshot that became free
 * (a close of a descriptor the code did not own) changes the snapshot too.
 * The eventfds come from a library handle of the child's own, not from the
 * code under test.
 */
/**
 * The environment for a `deno` child whose descriptors a test counts: Deno's
 * update check resolves dl.deno.land in the background about 500 ms after
 * start, and its DNS sockets, open for seconds where the resolver does not
 * answer, would look like a leak.
 */
export const COUNTED_CHILD_ENV: Readonly<Record<string, string>> = {
  DENO_NO_UPDATE_CHECK: "1",
};

/**
 * JavaScript for a counting child: wait (5 s at most) until Deno has set up
 * its signal handling (a socket pair of its own and handlers for SIGUSR1 and
 * SIGTERM, about half a second after start, later on a busy machine), so
 * that the pair is not counted as a leak. Top-level await.
 */
export const DENO_SIGNALS_READY = `
{
  const wanted = (1n << 9n) | (1n << 14n); // SIGUSR1, SIGTERM
  const caught = () => BigInt("0x" + (Deno.readTextFileSync("/proc/self/status")
    .match(/SigCgt:\\s*([0-9a-f]+)/)?.[1] ?? "0"));
  for (const end = performance.now() + 5000; performance.now() < end;) {
    if ((caught() & wanted) === wanted) break;
    await new Promise((r) => setTimeout(r, 50));
  }
}
`;

export const FREE_FDS = `
const fdLib = Deno.dlopen("libc.so.6", {
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
}).symbols;
function freeFds(n = 64) {
  const fds = [];
  for (let i = 0; i < n; i++) {
    const fd = fdLib.eventfd(0, 0o2000000);
    if (fd < 0) throw new Error("eventfd() failed");
    fds.push(fd);
  }
  for (const fd of fds) fdLib.close(fd);
  return fds;
}
// F_GETFD: the flags of an open descriptor, -1 (EBADF) for a free number.
function isOpen(fd) {
  return fdLib.fcntl(fd, 1, 0) >= 0;
}
`;

/**
 * Whether descriptor number `fd` is open in this process (libc's fcntl).
 * A number a test closed may be open again: `deno test --parallel` runs
 * test files as threads of one process, and another may take it at once.
 *
 * @param fd The number.
 * @returns Whether it is open.
 */
export function numberOpen(fd: number): boolean {
  return libc().fcntl(fd, LINUX.F_GETFD, 0) >= 0;
}

/**
 * `fd` moved to a number of 5000 or more (libc's F_DUPFD_CLOEXEC, then the
 * old number closed): Linux hands out the lowest free number, so no other
 * test file gets this one, and a test may close it twice without touching
 * another's descriptor (see {@linkcode numberOpen}).
 *
 * @param fd An open descriptor the caller owns.
 * @returns Its new number.
 */
export function movedHigh(fd: number): number {
  const high = libc().fcntl(fd, LINUX.F_DUPFD_CLOEXEC, 5000);
  if (high < 0) throw new Error(`fcntl(F_DUPFD_CLOEXEC) failed: ${errno()}`);
  libc().close(fd);
  return high;
}

/**
 * What descriptor number `fd` names now, as /proc/self/fd shows it
 * ("socket:[inode]"), or null where it is closed.
 *
 * @param fd The number.
 * @returns The link, or null.
 */
export function fdLink(fd: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** A descriptor a test owns, closed on dispose. */
export interface OwnFd extends Disposable {
  readonly fd: number;
}

/**
 * A fresh eventfd (close-on-exec) through libc: a real descriptor that is not
 * a socket, owned by the caller, so no other test module can close or reuse
 * it meanwhile. Needs the libc backend (see {@linkcode libcMissing}).
 */
export function openEventfd(): OwnFd {
  const C = libc();
  const fd = C.eventfd(0, LINUX.EFD_CLOEXEC);
  assert.ok(fd >= 0, "eventfd() failed");
  let open = true;
  return {
    fd,
    [Symbol.dispose]() {
      if (open) C.close(fd);
      open = false;
    },
  };
}

/**
 * What the kernel says descriptor `fd` of this process is, asked with the
 * bare libc getsockopt() symbol (not through the Socket class): its SO_DOMAIN and
 * SO_TYPE if it is an open socket, else the errno (9 closed, 88 not a
 * socket). Needs the libc backend (see {@linkcode libcMissing}).
 */
export function kernelSocket(
  fd: number,
): { family: number; type: number } | { errno: number } {
  const C = libc();
  const opt = (name: number) => {
    const v = new Int32Array(1);
    const len = new Uint32Array([4]);
    const r = C.getsockopt(
      fd,
      LINUX.SOL_SOCKET,
      name,
      new Uint8Array(v.buffer),
      new Uint8Array(len.buffer),
    );
    return r === 0 ? v[0] : -errno();
  };
  const family = opt(LINUX.SO_DOMAIN);
  if (family < 0) return { errno: -family };
  return { family, type: opt(LINUX.SO_TYPE) };
}

// ------------------------------------------------------- CAP_NET_RAW

const CAP_NET_RAW = 13n;

/**
 * Whether a `/proc/<pid>/status` capability field (`CapEff`, `CapBnd`, ...)
 * holds CAP_NET_RAW; `undefined` when the field is missing.
 */
function capHasNetRaw(status: string, field: string): boolean | undefined {
  const m = status.match(new RegExp(`^${field}:\\s*([0-9a-fA-F]+)\\s*$`, "m"));
  return m ? ((BigInt(`0x${m[1]}`) >> CAP_NET_RAW) & 1n) === 1n : undefined;
}

/**
 * This process's `/proc/<pid>/status`, or `null` when it cannot be read.
 * Deno 2 reads /proc only with `--allow-all`; otherwise a `cat` child (with
 * `--allow-run`) reads it for us, by pid.
 */
function ownStatus(): string | null {
  const path = `/proc/${Deno.pid}/status`;
  try {
    return Deno.readTextFileSync(path);
  } catch {
    // Not under --allow-all: ask cat.
  }
  try {
    const out = new Deno.Command("cat", {
      args: [path],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/**
 * Why this process cannot open raw sockets, or `null` when it holds
 * CAP_NET_RAW in its effective set (and so does a `deno` child it starts).
 * Read from the kernel rather than guessed from the uid: root in a container
 * may lack it, and a user may be granted it.
 */
export const netRawMissing: string | null = (() => {
  if (Deno.build.os !== "linux") return "raw socket tests need Linux";
  const status = ownStatus();
  if (status === null) {
    return "cannot read this process's capabilities from /proc";
  }
  return capHasNetRaw(status, "CapEff")
    ? null
    : "no CAP_NET_RAW in this process";
})();

/** Whether this process holds CAP_NET_RAW (see {@linkcode netRawMissing}). */
export const hasCapNetRaw: boolean = netRawMissing === null;

/**
 * The command prefix that runs a child as this same user with CAP_NET_RAW
 * gone from every capability set. The uid stays, so the child still reads a
 * checkout in a directory of mode 0700. Dropping it from the bounding set is
 * what makes it stick for root: on exec a root process gets its inheritable
 * and bounding sets as permitted. That needs CAP_SETPCAP; without it (an
 * unprivileged user) {@linkcode withoutCapNetRaw} falls back to
 * {@linkcode DROP_CAP_NET_RAW_UNPRIVILEGED}.
 */
export const DROP_CAP_NET_RAW: readonly string[] = [
  "setpriv",
  "--inh-caps=-net_raw",
  "--ambient-caps=-net_raw",
  "--bounding-set=-net_raw",
  "--",
];

/**
 * {@linkcode DROP_CAP_NET_RAW} without the bounding set, which only a
 * process with CAP_SETPCAP may change: enough for a user whose `deno` has no
 * file capabilities, which {@linkcode withoutCapNetRaw} checks.
 */
export const DROP_CAP_NET_RAW_UNPRIVILEGED: readonly string[] = [
  "setpriv",
  "--inh-caps=-net_raw",
  "--ambient-caps=-net_raw",
  "--",
];

let dropped: { prefix: string[] } | { reason: string } | undefined;

/**
 * How to run a `deno` child without CAP_NET_RAW here: `{ prefix }` to put
 * before `Deno.execPath()`, or `{ reason }` why that cannot be done (setpriv
 * missing, no `--allow-run`, the capability not droppable). Each candidate
 * prefix is tried once on `deno eval` itself and counts only if the kernel
 * shows CAP_NET_RAW absent from that deno's inheritable, permitted,
 * effective and ambient sets: the same binary under the same prefix, so a
 * test's child is in the same state, and a wrapper that did not drop the
 * capability cannot make a "no CAP_NET_RAW" test pass by accident.
 */
export function withoutCapNetRaw(): { prefix: string[] } | { reason: string } {
  return dropped ??= (() => {
    if (Deno.build.os !== "linux") return { reason: "needs Linux" };
    const reasons: string[] = [];
    for (const prefix of [DROP_CAP_NET_RAW, DROP_CAP_NET_RAW_UNPRIVILEGED]) {
      const [cmd, ...args] = prefix;
      let out: Deno.CommandOutput;
      try {
        out = new Deno.Command(cmd, {
          args: [
            ...args,
            Deno.execPath(),
            "eval",
            "--no-check",
            "console.log(Deno.readTextFileSync('/proc/self/status'))",
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).outputSync();
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          return { reason: "setpriv (util-linux) is not installed" };
        }
        if (
          e instanceof Deno.errors.NotCapable ||
          e instanceof Deno.errors.PermissionDenied
        ) {
          return { reason: "no --allow-run" };
        }
        return { reason: `setpriv failed: ${e}` };
      }
      if (!out.success) {
        const err = new TextDecoder().decode(out.stderr).trim();
        reasons.push(`${prefix.join(" ")} failed: ${err.split("\n")[0]}`);
        continue;
      }
      const status = new TextDecoder().decode(out.stdout);
      const kept = ["CapInh", "CapPrm", "CapEff", "CapAmb"].filter((set) =>
        capHasNetRaw(status, set) !== false
      );
      if (kept.length === 0) return { prefix: [...prefix] };
      reasons.push(
        `under ${prefix.join(" ")}, deno still has CAP_NET_RAW in ${
          kept.join(", ")
        }`,
      );
    }
    return { reason: reasons.join("; ") };
  })();
}

/**
 * Runs `deno run -A --no-check ...args` as a child (with `env` added to
 * its environment), to its end or for `ms`: "hung" when it was still
 * running then (and was killed).
 */
export async function runChild(
  args: string[],
  ms: number,
  env?: Readonly<Record<string, string>>,
): Promise<Deno.CommandOutput | "hung"> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", ...args],
    env: env === undefined ? undefined : { ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve("hung");
    }, ms);
  });
  try {
    return await Promise.race([child.output(), killed]);
  } finally {
    clearTimeout(timer);
    await child.status;
  }
}

/** The typed OSError the deno backend raises for what only libc can do. */
export function needsLibc(e: Error): void {
  check(e, OSError, { message: /backend: "libc"/ });
}

export { sleep };
export {
  hasPython,
  PY_START_MS,
  python,
  type PythonPeer,
  STEP_MS,
  withTimeout,
} from "./_python.ts";

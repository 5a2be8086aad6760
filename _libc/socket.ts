// The libc backend: sockets as real descriptors, driven through Deno FFI.
//
// Every descriptor is non-blocking and close-on-exec. Each operation makes
// its syscall synchronously on the main thread first and reads errno at
// once; only on EAGAIN / EINPROGRESS does it wait on the shared poller
// (poller.ts), then try again. Nothing is read before the descriptor is
// ready, so a wait that runs out never loses data.
import type { BackendSocket, LibcBackend, SockAddr } from "../_backend.ts";
import {
  badFd,
  closeOwed,
  Deadline,
  loopTurnDue,
  loopTurned,
  MAX_TIMER,
  pace,
  turnLoop,
  type Wait,
  waitExpired,
} from "../_wait.ts";
import {
  errno,
  lastError,
  type Libc,
  libc,
  LINUX as L,
  setErrno,
} from "./ffi.ts";
import { type PollEntry, type Poller, poller } from "./poller.ts";
import { descriptorClosed, descriptorHolds, pollNow } from "./epoll.ts";
import {
  type AncData,
  encodeControl,
  type RecvMsg,
  recvmsgOnce,
  sendmsgOnce,
} from "./msg.ts";
import {
  decodeSockAddr,
  encodeSockAddr,
  type InterfaceIndex,
  type InterfaceName,
  SOCKADDR_MAX,
} from "./sockaddr.ts";
import {
  AF_INET,
  AF_INET6,
  errno as E,
  IPPROTO_TCP,
  IPPROTO_UDP,
  MSG_CTRUNC,
  SCM_CREDENTIALS,
  SCM_RIGHTS,
  SHUT_RD,
  SHUT_WR,
  SOCK_DGRAM,
} from "../constants.ts";
import { BlockingIOError, BufferError, OSError } from "../errors.ts";
import { held, letGo, type Transport, whileLetGo } from "../_ports_let_go.ts";
import type { StreamSink } from "../_streams.ts";
import { concat, scatter, totalLength } from "../_codecs.ts";

export { checkLibc, libcUsable } from "./ffi.ts";

const EAGAIN = E.EAGAIN;
const EINTR = E.EINTR;
const EINPROGRESS = E.EINPROGRESS;
// A descriptor is made blocking, as CPython makes it, and stays so while
// the socket has no timeout (setBlocking): another process (a child, a
// peer given it by SCM_RIGHTS) shares the flag. No call here may block
// this thread, so every receive and send says MSG_DONTWAIT, and accept,
// connect and sendfile, which take no such flag, make the descriptor
// non-blocking while they run (see #nonBlocking).
const OPEN_FLAGS = L.SOCK_CLOEXEC;
const DONTWAIT = L.MSG_DONTWAIT;
const GETSOCKOPT_MAX = 1024;

// What a garbage-collected socket leaves for its finalizer.
interface Handle {
  fd: number;
  entry: PollEntry | null;
  file: OpenFile;
}

// Set up on first use (see state()): the symbols, the poller, and scratch
// buffers for synchronous calls only. No buffer here is ever given to the
// poller's nonblocking call.
let C: Libc;
let P: Poller;
let registry: FinalizationRegistry<Handle>;
let addrIn: Uint8Array;
let addrOut: Uint8Array;
let lenBuf: Uint8Array;
let lenU32: Uint32Array;
let optBuf: Uint8Array;
let optI32: Int32Array;
let timevalBuf: Uint8Array;
let timevalI64: BigInt64Array;
let pairBuf: Uint8Array;
let pairI32: Int32Array;
let ifindex: InterfaceIndex;
let ifname: InterfaceName;
let ready = false;

function state(): void {
  if (ready) return;
  C = libc();
  P = poller();
  addrIn = new Uint8Array(SOCKADDR_MAX);
  addrOut = new Uint8Array(SOCKADDR_MAX);
  lenBuf = new Uint8Array(4);
  lenU32 = new Uint32Array(lenBuf.buffer);
  optBuf = new Uint8Array(4);
  optI32 = new Int32Array(optBuf.buffer);
  timevalBuf = new Uint8Array(16);
  timevalI64 = new BigInt64Array(timevalBuf.buffer);
  pairBuf = new Uint8Array(8);
  pairI32 = new Int32Array(pairBuf.buffer);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  ifindex = (name) => C.if_nametoindex(encoder.encode(name + "\0"));
  const nameBuf = new Uint8Array(16); // IF_NAMESIZE
  ifname = (index) => {
    if (C.if_indextoname(index >>> 0, nameBuf) === null) return "";
    const end = nameBuf.indexOf(0);
    return decoder.decode(nameBuf.subarray(0, end < 0 ? 16 : end));
  };
  // A backstop for sockets dropped without close(): their descriptors would
  // otherwise stay open for the life of the process.
  registry = new FinalizationRegistry((h: Handle) => {
    if (h.entry !== null) P.cancel(h.entry, badFd());
    forgetFd(h.fd, h.file);
    C.close(h.fd);
    P.release();
  });
  ready = true;
}

function getInt(fd: number, level: number, option: number): number {
  optI32[0] = 0;
  lenU32[0] = 4;
  if (C.getsockopt(fd, level, option, optBuf, lenBuf) < 0) throw lastError();
  return optI32[0];
}

// A socket whose last wait on the poller was shorter than QUICK_MS (a peer
// answering a round trip) first checks readiness itself for up to SPIN_MS,
// when no other call is parked: a trip through the poller's thread costs
// ~25 us. Idle connections and busy servers (many parked) never spin.
const QUICK_MS = 0.3;
const SPIN_MS = 0.05;
// Spins in a row that found nothing (the answer came later, or from this
// very thread, which a spin holds up: a peer in this process) before a
// socket parks at once; it spins again every SPIN_PROBE-th wait, to learn
// whether its peer has got quick.
const SPIN_MISSES = 2;
const SPIN_PROBE = 32;
const pollBuf = new Uint8Array(8);
// sendfile()'s off_t, for synchronous calls only.
const offsetBuf = new Uint8Array(8);
const offsetCell = new BigInt64Array(offsetBuf.buffer);
// recvBytes() receives here and copies out exactly what came.
const scratch = new Uint8Array(65536);
const pollFd = new Int32Array(pollBuf.buffer, 0, 1);
const pollEvents = new Int16Array(pollBuf.buffer, 4, 2);

// After a wake-up the syscall said EAGAIN again `spins` times in a row: the
// descriptor reports ready but is not (a unix datagram peer with a full
// queue, a unix listener's full backlog, a reader that lost a race). Back off
// on a timer instead of spinning.
function backoff(spins: number): number {
  return 2 ** Math.min(spins - 3, 4);
}

/**
 * The bytes of a receive of `size` into `buf` that returned `n`. With
 * MSG_TRUNC a datagram's true length can pass `size`: the result has that
 * length, as CPython's does, but only the `size` bytes the kernel wrote for
 * this call come from `buf` (a scratch buffer other sockets use too); the
 * rest is zeros.
 */
function received(
  buf: Uint8Array,
  n: number,
  size: number = buf.length,
): Uint8Array<ArrayBuffer> {
  if (n <= size) return n === buf.length ? buf.slice() : buf.slice(0, n);
  const out = new Uint8Array(n);
  out.set(buf.subarray(0, size));
  return out;
}

// A buffer detached or shrunk while a send waited for room (JavaScript can
// do that; CPython holds the buffer): the call fails rather than hand libc a
// length past the buffer's end.
function unchanged(data: Uint8Array, size: bigint, method: string): void {
  if (BigInt(data.length) !== size) throw sendBufferGone(method);
}

function sendBufferGone(method: string): BufferError {
  return new BufferError(
    `${method}() buffer was detached or resized while the call waited; nothing was sent`,
  );
}

function carriedRights(r: RecvMsg): boolean {
  return (r[2] & MSG_CTRUNC) !== 0 ||
    r[1].some(([level, type]) => level === L.SOL_SOCKET && type === SCM_RIGHTS);
}

function isCredentials([level, type]: AncData): boolean {
  return level === L.SOL_SOCKET && type === SCM_CREDENTIALS;
}

/** Where a call that waits for readiness stands: its deadline, how many EAGAINs. */
interface WaitState {
  readonly deadline: Deadline;
  readonly signal: AbortSignal | undefined;
  spins: number;
  // The kernel was asked once more when the wait ran out (see #ready).
  looked: boolean;
}

// A call made of parts (a blocking MSG_WAITALL receive): the wait state of
// its first wait, which every later part shares, so that SO_RCVTIMEO
// bounds the whole call as Linux's does, not each part.
interface Carried {
  w: WaitState | null;
}

// The deadline of a blocking call that the kernel bounds: Linux's blocking
// call gives up with EAGAIN (EINPROGRESS for connect), which CPython raises
// as BlockingIOError; only a socket's own timeout is TimeoutError.
class KernelDeadline extends Deadline {
  // A descriptor non-blocking all the same: the one syscall made is the
  // answer, with no look after it.
  readonly atOnce: boolean;

  constructor(ms: number, atOnce = false) {
    super(ms);
    this.atOnce = atOnce;
  }

  override error(errno: number = EAGAIN): OSError {
    return new BlockingIOError(errno);
  }
}

// A blocking call's wait, as the kernel bounds it (CPython's descriptor is
// blocking only while the socket has no timeout, so only then does this
// count). A descriptor that is non-blocking all the same (adopted, given by
// fromfd() of a socket with a timeout, or shared with a dup() that has one)
// makes the syscall fail at once: the call raises BlockingIOError after
// that one syscall, as CPython's does. Else SO_SNDTIMEO bounds sends and
// connect, SO_RCVTIMEO receives and accept (0: no bound).
//
// Asked only once this process may have a socket whose flag or options this
// module did not set (see shareKernel): until then a blocking wait costs no
// system call more.
function kernelWait(fd: number, events: number, lent: boolean): Deadline {
  const fl = lent ? 0 : C.fcntl(fd, L.F_GETFL, 0);
  if (fl >= 0 && (fl & L.O_NONBLOCK) !== 0) {
    return new KernelDeadline(Number.MIN_VALUE, true);
  }
  const option = events === L.EPOLLOUT ? L.SO_SNDTIMEO : L.SO_RCVTIMEO;
  timevalI64[0] = timevalI64[1] = 0n;
  lenU32[0] = 16;
  if (C.getsockopt(fd, L.SOL_SOCKET, option, timevalBuf, lenBuf) < 0) {
    return new Deadline(null);
  }
  const ms = Number(timevalI64[0]) * 1000 + Number(timevalI64[1]) / 1000;
  return ms > 0 ? new KernelDeadline(ms) : new Deadline(null);
}

// Whether some libc socket of this process may have an O_NONBLOCK or an
// SO_RCVTIMEO / SO_SNDTIMEO that this module did not set for it: one
// adopted (socket(fileno=), fromfd()), a dup() (their open file is shared,
// so each one's settimeout() sets the other's flag), or one given those
// options (accept() passes them on). Never reset: a shared descriptor may
// outlive any socket that shows it.
let kernelBounds = false;

function shareKernel(): void {
  kernelBounds = true;
}

// One open file, as the copies of a descriptor share it (a dup(), or one
// adopted from a number this module made): how many calls have set its
// O_NONBLOCK for the moment (#nonBlocking), and the flags to put back when
// the last one ends. A copy's wait must not take that O_NONBLOCK for the
// descriptor's own, and the first call to end must not clear it under the
// others.
interface OpenFile {
  lent: number;
  flags: number;
}

// The open file of each descriptor a libc socket of this process holds (a
// number dup()ed from one too): what adopt() and dupFd() share, and the
// copies a flag can go back through once the call that set it lost its own.
const files = new Map<number, OpenFile>();

// `fd` of `file` is closing: no flag goes back through its number.
function forgetFd(fd: number, file: OpenFile): void {
  if (files.get(fd) === file) files.delete(fd);
}

// A descriptor of `file` still open, if any.
function openCopy(file: OpenFile): number | undefined {
  for (const [fd, f] of files) if (f === file) return fd;
  return undefined;
}

// Whose ports a socket's bind() and listen() take: TCP's or UDP's (AF_INET
// or AF_INET6), or neither.
function transportOf(
  family: number,
  type: number,
  proto: number,
): Transport | null {
  if (family !== AF_INET && family !== AF_INET6) return null;
  if (type === L.SOCK_STREAM && (proto === 0 || proto === IPPROTO_TCP)) {
    return "tcp";
  }
  if (type === SOCK_DGRAM && (proto === 0 || proto === IPPROTO_UDP)) {
    return "udp";
  }
  return null;
}

function addressInUse(e: unknown): boolean {
  return e instanceof OSError && e.errno === E.EADDRINUSE;
}

// Linux's SO_RCVTIMEO_NEW / SO_SNDTIMEO_NEW (a 64-bit time_t on every ABI):
// what they set is what SO_RCVTIMEO / SO_SNDTIMEO read.
const SO_RCVTIMEO_NEW = 66;
const SO_SNDTIMEO_NEW = 67;

// The room in `buffers` past their first `n` bytes.
function after(buffers: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

/** One socket of the libc backend: a real descriptor, never waited on. */
class LibcSocket implements BackendSocket {
  #fd: number;
  readonly #family: number;
  readonly #type: number;
  readonly #proto: number;
  readonly #h: Handle;
  #quick = false;
  #spinMisses = 0;
  readonly #file: OpenFile;
  // Whose ports bind() and listen() take (see transportOf()), and the port
  // it listens on (TCP) or is bound to (UDP), for close() to let go of.
  readonly #transport: Transport | null;
  #heldPort = 0;
  // A byte stream's read in flight (streamRead), and how to end its wait.
  #stream: { readonly stop: AbortController; done: Promise<void> } | null =
    null;
  // Bytes a stream gave back (see giveBack): every receive takes them
  // first.
  #given: Uint8Array | null = null;

  constructor(
    fd: number,
    family: number,
    type: number,
    proto: number,
    file: OpenFile = { lent: 0, flags: 0 },
  ) {
    this.#fd = fd;
    this.#file = file;
    files.set(fd, file);
    this.#family = family;
    this.#type = type;
    this.#proto = proto;
    this.#transport = transportOf(family, type, proto);
    this.#h = { fd, entry: null, file };
    registry.register(this, this.#h, this);
    P.retain();
  }

  fileno(): number {
    return this.#fd;
  }

  setBlocking(blocking: boolean): void {
    // The flag is the open file's: a dup() or another process may have
    // changed it, so it is read each time.
    const fd = this.#live();
    const fl = C.fcntl(fd, L.F_GETFL, 0);
    if (fl < 0) throw lastError();
    const to = blocking ? fl & ~L.O_NONBLOCK : fl | L.O_NONBLOCK;
    // A call in flight holds O_NONBLOCK set: the change waits for its end.
    if (this.#file.lent > 0) this.#file.flags = to;
    else if (to !== fl && C.fcntl(fd, L.F_SETFL, to) < 0) throw lastError();
  }

  // Made on a call's first EAGAIN only: the fast path reads no clock (nor,
  // for a blocking call, the descriptor's flag and options).
  #waitState(
    wait: Wait,
    signal: AbortSignal | undefined,
    events: number,
  ): WaitState {
    const deadline = wait === null && kernelBounds && this.#fd >= 0
      ? kernelWait(this.#fd, events, this.#file.lent > 0)
      : new Deadline(wait);
    const looked = deadline instanceof KernelDeadline && deadline.atOnce;
    return { deadline, signal, spins: 0, looked };
  }

  // Make a blocking descriptor non-blocking for a call that has no
  // MSG_DONTWAIT; whether #restore has anything to undo. Read each time, as
  // setBlocking() does: another process may have changed the flags.
  #nonBlocking(fd: number): boolean {
    const file = this.#file;
    if (file.lent > 0) {
      file.lent++;
      return true;
    }
    const fl = C.fcntl(fd, L.F_GETFL, 0);
    if (fl < 0 || (fl & L.O_NONBLOCK) !== 0) return false;
    if (C.fcntl(fd, L.F_SETFL, fl | L.O_NONBLOCK) < 0) throw lastError();
    file.lent = 1;
    file.flags = fl;
    return true;
  }

  // Undo #nonBlocking once no call of any copy needs it (errno is left as
  // the call set it).
  #restore(fd: number, lent: boolean): void {
    const file = this.#file;
    if (!lent || --file.lent > 0) return;
    // Closed meanwhile: through a copy still open, if any.
    const open = this.#fd === fd ? fd : openCopy(file);
    if (open === undefined) return;
    const e = errno();
    C.fcntl(open, L.F_SETFL, file.flags);
    setErrno(e);
  }

  bind(addr: SockAddr): void {
    const fd = this.#live();
    const len = encodeSockAddr(this.#family, addr, addrIn, ifindex);
    if (C.bind(fd, addrIn, len) < 0) {
      const e = errno();
      const transport = this.#transport;
      if (e !== E.EADDRINUSE || transport === null) throw new OSError(e);
      // The port's last socket here may live on in a child for a moment.
      whileLetGo(transport, (addr as [string, number])[1], () => {
        encodeSockAddr(this.#family, addr, addrIn, ifindex);
        if (C.bind(this.#live(), addrIn, len) < 0) throw lastError();
      }, addressInUse);
    }
    if (this.#transport === null) return;
    // This socket holds the port; a bound UDP socket's close lets it go
    // (see _ports_let_go.ts).
    const port = this.#port();
    held(this.#transport, port);
    if (this.#transport === "udp") this.#heldPort = port;
  }

  listen(backlog: number): void {
    const fd = this.#live();
    const tcp = this.#transport === "tcp";
    if (C.listen(fd, backlog) < 0) {
      const e = errno();
      if (e !== E.EADDRINUSE || !tcp) throw new OSError(e);
      whileLetGo("tcp", this.#port(), () => {
        if (C.listen(this.#live(), backlog) < 0) throw lastError();
      }, addressInUse);
    }
    // Its close lets the port go (see _ports_let_go.ts).
    if (!tcp) return;
    this.#heldPort = this.#port();
    held("tcp", this.#heldPort);
  }

  #port(): number {
    return (this.getsockname() as [string, number])[1];
  }

  accept(
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[BackendSocket, SockAddr | null]> {
    return this.#retry(L.EPOLLIN, wait, signal, () => {
      lenU32[0] = SOCKADDR_MAX;
      const fd = this.#live();
      const lent = this.#nonBlocking(fd);
      const r = C.accept4(fd, addrOut, lenBuf, OPEN_FLAGS);
      this.#restore(fd, lent);
      if (r < 0) return null;
      const sock = new LibcSocket(r, this.#family, this.#type, this.#proto);
      return [sock, decodeSockAddr(addrOut, lenU32[0], ifname)];
    });
  }

  async connect(
    addr: SockAddr,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<void> {
    const fd = this.#live();
    const lent = this.#nonBlocking(fd);
    try {
      await this.#connect(addr, wait, signal);
    } finally {
      this.#restore(fd, lent);
    }
  }

  async #connect(
    addr: SockAddr,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<void> {
    let fd = this.#live();
    let len = encodeSockAddr(this.#family, addr, addrIn, ifindex);
    let w: WaitState | null = null;
    for (;;) {
      if (C.connect(fd, addrIn, len) === 0) return;
      const e = errno();
      if (e === EINPROGRESS || e === EINTR) {
        // The kernel goes on connecting; its outcome is SO_ERROR once the
        // descriptor turns writable.
        if (wait === 0) throw waitExpired(0, EINPROGRESS);
        await this.#waitFor(
          L.EPOLLOUT,
          w ??= this.#waitState(wait, signal, L.EPOLLOUT),
          EINPROGRESS,
        );
        fd = this.#live();
        const err = getInt(fd, L.SOL_SOCKET, L.SO_ERROR);
        if (err !== 0) {
          // A blocking connect that fails leaves the socket new (Linux
          // disconnects it): the next connect() is a fresh attempt, recv
          // says ENOTCONN. This descriptor is non-blocking, so it was left
          // refused instead; one more connect() (ECONNABORTED) resets it.
          // With a timeout, CPython's socket is left refused too.
          if (wait === null) {
            len = encodeSockAddr(this.#family, addr, addrIn, ifindex);
            C.connect(fd, addrIn, len);
          }
          throw new OSError(err);
        }
        // Linux marks the socket connected only when connect() is called
        // again (it then returns 0); a blocking connect would have done so,
        // and a later connect() must say EISCONN, as in Python. With a
        // timeout CPython's descriptor is non-blocking and it does not: a
        // later connect() returns once more, then EISCONN.
        if (wait === null) {
          len = encodeSockAddr(this.#family, addr, addrIn, ifindex);
          C.connect(fd, addrIn, len);
        }
        return;
      }
      // A unix listener with a full backlog: a blocking connect would wait
      // for room, so wait (there is no readiness to poll for: back off).
      // With a timeout CPython's descriptor is non-blocking: EAGAIN at once.
      if (e !== EAGAIN || this.#family !== L.AF_UNIX || wait !== null) {
        throw new OSError(e);
      }
      w ??= this.#waitState(wait, signal, L.EPOLLOUT);
      w.spins = Math.max(w.spins, 3);
      const again = this.#again(e, L.EPOLLOUT, wait, w);
      if (again !== undefined) await again;
      fd = this.#live();
      len = encodeSockAddr(this.#family, addr, addrIn, ifindex);
    }
  }

  async recv(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    if (this.#takesGiven(flags)) {
      return await this.#recvGiven(buf, flags, wait, signal);
    }
    const n = Number(
      C.recv(this.#live(), buf, BigInt(buf.length), flags | DONTWAIT),
    );
    if (n >= 0) {
      if (n === 0 || n === buf.length || !this.#waitAll(flags, wait)) {
        const p = pace();
        if (p !== undefined) await p;
        return n;
      }
      return await this.#recvRest(buf, flags, wait, n, signal);
    }
    const e = errno();
    if (wait === 0) {
      // #again: EINTR retries, EAGAIN lets the loop turn now and then.
      return await this.#retry(
        this.#readEvents(flags),
        wait,
        signal,
        () => {
          const m = Number(
            C.recv(this.#live(), buf, BigInt(buf.length), flags | DONTWAIT),
          );
          return m < 0 ? null : m;
        },
        errno,
        e,
      );
    }
    if (e !== EAGAIN && e !== EINTR) throw new OSError(e);
    return await this.#recvRest(buf, flags, wait, 0, signal);
  }

  /**
   * A byte stream's read into `buf` (see DirectReads in _streams.ts): its
   * bytes go to `sink` in the same step as the syscall that took them, so a
   * reader released or a stream cancelled before then ends only the wait,
   * and the bytes stay in the kernel for the next recv(). null once closed.
   */
  streamRead(
    buf: Uint8Array,
    sink: StreamSink,
    wait: Wait,
  ): Promise<void> | null {
    if (
      this.#fd < 0 || this.#stream !== null ||
      (buf.buffer as ArrayBuffer).resizable
    ) return null;
    // The first try needs no wait: what is there goes to the stream at once.
    const e = this.#streamTry(buf, sink);
    if (e === 0) return pace() ?? Promise.resolve();
    if ((e !== EAGAIN && e !== EINTR) || (e === EAGAIN && wait === 0)) {
      sink.fail(e === EAGAIN ? waitExpired(0) : new OSError(e));
      return Promise.resolve();
    }
    const stop = new AbortController();
    const entry = { stop, done: Promise.resolve() };
    this.#stream = entry;
    const w = this.#waitState(wait, stop.signal, L.EPOLLIN);
    entry.done = (async () => {
      try {
        for (;;) {
          // Let go of since the wait ended: the bytes are not taken.
          if (stop.signal.aborted) return;
          const e = this.#streamTry(buf, sink);
          if (e === 0) return;
          if (e === EINTR) continue;
          if (e !== EAGAIN) throw new OSError(e);
          if (!await this.#ready(L.EPOLLIN, w)) {
            if (!stop.signal.aborted) throw w.deadline.error();
            return;
          }
        }
      } catch (e) {
        if (!stop.signal.aborted) {
          this.#stream = null;
          sink.fail(e);
        }
      } finally {
        if (this.#stream === entry) this.#stream = null;
      }
    })();
    return entry.done;
  }

  // One try of a stream read: given-back bytes first, else one recv() from
  // the kernel. What the sink does not take stays the socket's. Returns 0
  // once the sink is told, else the errno (EAGAIN: nothing there yet).
  #streamTry(buf: Uint8Array, sink: StreamSink): number {
    const given = this.#given;
    let n: number;
    if (given !== null) n = this.#takeGiven(buf, 0);
    else {
      n = Number(C.recv(this.#live(), buf, BigInt(buf.length), DONTWAIT));
      if (n < 0) return errno();
    }
    // Not this stream's read any more: deliver() may start the next (taken
    // before the sink is told, so that the next read finds what is left).
    this.#stream = null;
    if (!sink.deliver(n)) {
      if (given !== null) this.#hold(given);
      else this.#keep(buf.subarray(0, n));
    }
    return 0;
  }

  /**
   * Bytes a stream took and could not hand out: the next receive's, before
   * anything in the kernel; readiness reports the socket readable
   * meanwhile.
   */
  giveBack(bytes: Uint8Array): void {
    if (this.#fd < 0 || bytes.length === 0) return;
    const given = this.#given;
    this.#hold(given === null ? bytes.slice() : concat([bytes, given]));
  }

  // Bytes a stream read took from the kernel and its stream did not take:
  // after any given back, for the next receive.
  #keep(bytes: Uint8Array): void {
    if (this.#fd < 0 || bytes.length === 0) return;
    const given = this.#given;
    this.#hold(given === null ? bytes.slice() : concat([given, bytes]));
  }

  #hold(given: Uint8Array): void {
    this.#given = given;
    descriptorHolds(this.#fd, true);
    this.#wakeReaders();
  }

  // Up to buf.length of the bytes given back, into `buf` (MSG_PEEK keeps
  // them).
  #takeGiven(buf: Uint8Array, flags: number): number {
    const given = this.#given!;
    const n = Math.min(buf.length, given.length);
    if (n > 0) buf.set(given.subarray(0, n));
    if ((flags & L.MSG_PEEK) === 0) this.#consumeGiven(n);
    return n;
  }

  #consumeGiven(n: number): void {
    const given = this.#given!;
    if (n < given.length) this.#given = given.subarray(n);
    else {
      this.#given = null;
      descriptorHolds(this.#fd, false);
    }
  }

  // recv() while bytes are given back: those, and with MSG_WAITALL the
  // rest from the kernel.
  async #recvGiven(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const fd = this.#live();
    let n = this.#takeGiven(buf, flags);
    if (n < buf.length) {
      // What the kernel holds after them, as one recv() would return it;
      // EOF or an error is for the next call, after these bytes.
      const view = buf.subarray(n);
      const m = Number(
        C.recv(fd, view, BigInt(view.length), flags | DONTWAIT),
      );
      if (m > 0) n += m;
    }
    if (n === buf.length || !this.#waitAll(flags, wait)) return n;
    return await this.#recvRest(buf, flags, wait, n, signal);
  }

  // The given-back bytes waken a wait for EPOLLIN: the loop looks again.
  #wakeReaders(): void {
    const entry = this.#h.entry;
    if (entry !== null && entry.waiters.length > 0) P.wake(entry, L.EPOLLIN);
  }

  // Whether a receive with `flags` takes given-back bytes first.
  #takesGiven(flags: number): boolean {
    return this.#given !== null && (flags & L.MSG_OOB) === 0;
  }

  /**
   * The stream let go of its streamRead(): end its wait.
   *
   * @returns Settles once the read has let go (the poller's call in flight
   *   has returned), so that nothing is left running.
   */
  streamAbandon(): Promise<void> | void {
    const entry = this.#stream;
    if (entry === null) return;
    this.#stream = null;
    entry.stop.abort();
    return entry.done;
  }

  /**
   * A read still in flight into `buffer`: never, once a stream has let go
   * (streamAbandon() ends its wait; no call is left filling the buffer).
   *
   * @returns null.
   */
  readingInto(_buffer: ArrayBufferLike): Promise<void> | null {
    return null;
  }

  async recvfrom(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[number, SockAddr | null]> {
    if (this.#takesGiven(flags)) {
      // A stream's bytes: the kernel names no sender for them.
      return [await this.#recvGiven(buf, flags, wait, signal), null];
    }
    const had = buf.length;
    const carried: Carried = { w: null };
    const [n, from] = await this.#retry(
      this.#readEvents(flags),
      wait,
      signal,
      (): [number, SockAddr | null] | null => {
        if (this.#takesGiven(flags)) return [this.#takeGiven(buf, flags), null];
        // Detached while it waited: as in #recvRest, no datagram is taken.
        if (buf.length === 0 && had > 0) return [0, null];
        lenU32[0] = SOCKADDR_MAX;
        const n = Number(
          C.recvfrom(
            this.#live(),
            buf,
            BigInt(buf.length),
            flags | DONTWAIT,
            addrOut,
            lenBuf,
          ),
        );
        return n < 0 ? null : [n, decodeSockAddr(addrOut, lenU32[0], ifname)];
      },
      errno,
      null,
      () => [0, null],
      carried,
    );
    if (n === 0 || n === buf.length || !this.#waitAll(flags, wait)) {
      return [n, from];
    }
    return [
      await this.#recvRest(buf, flags, wait, n, signal, carried.w),
      from,
    ];
  }

  recvBytes(
    size: number,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ):
    | [Uint8Array<ArrayBuffer>, SockAddr | null]
    | Promise<[Uint8Array<ArrayBuffer>, SockAddr | null]> {
    if (
      size > scratch.length || this.#waitAll(flags, wait) ||
      this.#given !== null
    ) {
      const buf = new Uint8Array(size);
      return this.recvfrom(buf, flags, wait, signal).then((
        [n, from],
      ) => [received(buf, n), from]);
    }
    // The first try without a closure or a promise: the hot path.
    const got = this.#recvScratch(size, flags);
    if (got !== null) {
      const p = pace();
      return p === undefined ? got : p.then(() => got);
    }
    const e = errno();
    return this.#retry(
      this.#readEvents(flags),
      wait,
      signal,
      () => this.#recvScratch(size, flags),
      errno,
      e,
      () => [new Uint8Array(0), null],
    );
  }

  // One receive into the scratch buffer that every socket shares: the copy
  // out follows the syscall with no await between, so no other call can
  // touch it. null on failure, with errno set.
  #recvScratch(
    size: number,
    flags: number,
  ): [Uint8Array<ArrayBuffer>, SockAddr | null] | null {
    if (this.#takesGiven(flags)) {
      const out = new Uint8Array(Math.min(size, this.#given!.length));
      return [out.subarray(0, this.#takeGiven(out, flags)), null];
    }
    lenU32[0] = SOCKADDR_MAX;
    const n = Number(
      C.recvfrom(
        this.#live(),
        scratch,
        BigInt(size),
        flags | DONTWAIT,
        addrOut,
        lenBuf,
      ),
    );
    if (n < 0) return null;
    return [
      received(scratch, n, size),
      decodeSockAddr(addrOut, lenU32[0], ifname),
    ];
  }

  send(
    data: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): number | Promise<number> {
    // MSG_NOSIGNAL: a broken pipe is EPIPE (BrokenPipeError), never SIGPIPE.
    const f = flags | L.MSG_NOSIGNAL;
    const size = BigInt(data.length);
    const n = Number(C.send(this.#live(), data, size, f | DONTWAIT));
    // The first try without a closure or a promise: the hot path.
    if (n >= 0) {
      const p = pace();
      return p === undefined ? n : p.then(() => n);
    }
    const e = errno();
    return this.#retry(
      L.EPOLLOUT,
      wait,
      signal,
      () => {
        unchanged(data, size, "send");
        const n = Number(C.send(this.#live(), data, size, f | DONTWAIT));
        return n < 0 ? null : n;
      },
      errno,
      e,
    );
  }

  sendto(
    data: Uint8Array,
    flags: number,
    addr: SockAddr,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    const f = flags | L.MSG_NOSIGNAL;
    const size = BigInt(data.length);
    return this.#retry(L.EPOLLOUT, wait, signal, () => {
      // Encoded again on every try: the scratch buffer is shared and other
      // sockets use it while this one waits.
      unchanged(data, size, "sendto");
      const len = encodeSockAddr(this.#family, addr, addrIn, ifindex);
      const n = Number(
        C.sendto(this.#live(), data, size, f | DONTWAIT, addrIn, len),
      );
      return n < 0 ? null : n;
    });
  }

  /**
   * Up to `count` bytes of `fd` from `offset` by sendfile(2) (the offset
   * pointer leaves `fd`'s position alone), waiting for room as send does.
   * Returns after the first call that sends less than it asked for.
   */
  sendfile(
    fd: number,
    offset: number,
    count: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    // Calls of 15 pages: one fill of the kernel's 16-page splice pipe, and
    // under loopback's MSS (65483), so each call leaves as one segment. A
    // 64 KiB call adds a runt segment; one past the pipe loops in the kernel
    // with MSG_MORE. Both cost ~40% more segments (TCP_INFO) and half the
    // rate on 127.0.0.1 (1100-1500 MiB/s against 3000-4000 in 60 KiB calls).
    // Unix stream sockets have no segments: one call is fastest there
    // (11900 MiB/s against 6000-9000 in 60 KiB calls).
    const piece = this.#family === L.AF_UNIX ? count : 61440;
    return this.#retry(L.EPOLLOUT, wait, signal, () => {
      const sock = this.#live();
      const lent = this.#nonBlocking(sock);
      let sent = 0;
      try {
        // At most count / piece + 1 rounds: each sends `want` or ends.
        while (sent < count) {
          const want = Math.min(count - sent, piece);
          // Set right before each synchronous call: the buffer is shared.
          offsetCell[0] = BigInt(offset + sent);
          const n = Number(C.sendfile(sock, fd, offsetBuf, BigInt(want)));
          // A failure after some went is reported by the next call.
          if (n < 0) return sent > 0 ? sent : null;
          sent += n;
          if (n < want) break;
        }
      } finally {
        this.#restore(sock, lent);
      }
      return sent;
    });
  }

  shutdown(how: number): void {
    if (C.shutdown(this.#live(), how) < 0) throw lastError();
    // Calls waiting on this socket look again, as Linux wakes a blocked
    // one: a send then fails with EPIPE (a unix socket's poll would not
    // say so), a recv returns what came, then 0.
    const entry = this.#h.entry;
    if (entry !== null && entry.waiters.length > 0) {
      P.wake(
        entry,
        (how !== SHUT_WR ? L.EPOLLIN : 0) | (how !== SHUT_RD ? L.EPOLLOUT : 0),
      );
    }
  }

  getsockname(): SockAddr {
    lenU32[0] = SOCKADDR_MAX;
    if (C.getsockname(this.#live(), addrOut, lenBuf) < 0) throw lastError();
    return this.#name(decodeSockAddr(addrOut, lenU32[0], ifname));
  }

  getpeername(): SockAddr {
    lenU32[0] = SOCKADDR_MAX;
    if (C.getpeername(this.#live(), addrOut, lenBuf) < 0) throw lastError();
    return this.#name(decodeSockAddr(addrOut, lenU32[0], ifname));
  }

  setsockopt(
    level: number,
    option: number,
    value: number | Uint8Array | null,
    optlen = 0,
  ): void {
    const fd = this.#live();
    if (
      level === L.SOL_SOCKET &&
      (option === L.SO_RCVTIMEO || option === L.SO_SNDTIMEO ||
        option === SO_RCVTIMEO_NEW || option === SO_SNDTIMEO_NEW)
    ) shareKernel();
    let r: number;
    if (value === null) {
      r = C.setsockopt(fd, level, option, null, optlen);
    } else if (typeof value === "number") {
      optI32[0] = value;
      r = C.setsockopt(fd, level, option, optBuf, 4);
    } else {
      r = C.setsockopt(fd, level, option, value, value.length);
    }
    if (r < 0) throw lastError();
  }

  getsockopt(
    level: number,
    option: number,
    buflen: number,
  ): number | Uint8Array {
    const fd = this.#live();
    if (buflen === 0) return getInt(fd, level, option);
    if (!(buflen > 0 && buflen <= GETSOCKOPT_MAX)) {
      throw new OSError("getsockopt buflen out of range");
    }
    const out = new Uint8Array(buflen);
    lenU32[0] = buflen;
    if (C.getsockopt(fd, level, option, out, lenBuf) < 0) throw lastError();
    const got = Math.min(lenU32[0], buflen);
    return got === buflen ? out : out.slice(0, got);
  }

  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    if (this.#heldPort > 0) letGo(this.#transport!, this.#heldPort);
    this.#forget();
    C.close(fd);
  }

  detach(): number {
    const fd = this.#fd;
    if (fd >= 0) this.#forget();
    return fd;
  }

  /**
   * From now on no wait of a call on this socket holds the process (see
   * BackendSocket.daemon): its waits on the poller are unheld.
   */
  daemon(): void {
    if (this.#fd < 0) return;
    P.hold(this.#h.entry ??= P.entry(this.#fd), false);
  }

  dup(): BackendSocket {
    const fd = C.fcntl(this.#live(), L.F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw lastError();
    shareKernel();
    return new LibcSocket(
      fd,
      this.#family,
      this.#type,
      this.#proto,
      this.#file,
    );
  }

  #live(): number {
    const fd = this.#fd;
    if (fd < 0) throw badFd();
    return fd;
  }

  // Pending waits reject with EBADF first, then the poller forgets the
  // descriptor; the caller closes it (or not, for detach).
  #forget(): void {
    if (this.#given !== null) {
      this.#given = null;
      descriptorHolds(this.#fd, false);
    }
    descriptorClosed(this.#fd);
    forgetFd(this.#fd, this.#file);
    this.#fd = -1;
    const entry = this.#h.entry;
    if (entry !== null) P.cancel(entry, badFd());
    this.#h.entry = null;
    registry.unregister(this);
    P.release();
  }

  #name(addr: SockAddr | null): SockAddr {
    return addr ?? (this.#family === L.AF_UNIX ? "" : new Uint8Array(0));
  }

  // What poll(2) reports now for `events` (EPOLL* bits, poll's own on
  // Linux), without waiting: 0 where nothing.
  #pollNow(events: number): number {
    pollFd[0] = this.#fd;
    pollEvents[0] = events;
    pollEvents[1] = 0;
    return C.poll(pollBuf, 1n, 0) > 0 ? pollEvents[1] : 0;
  }

  // The bytes queued to read (FIONREAD), which leaves a pending error.
  #queued(): number {
    optI32[0] = 0;
    return C.ioctl(this.#live(), BigInt(L.FIONREAD), optBuf) < 0
      ? -1
      : optI32[0];
  }

  #waitAll(flags: number, wait: Wait): boolean {
    // On a non-blocking stream the kernel returns what is there; the loop
    // gathers the rest for a blocking call only. With a timeout CPython's
    // descriptor is non-blocking too, so its MSG_WAITALL returns what the
    // first read finds (CPython 3.11). A peek re-reads the same bytes, so it
    // is not looped.
    return wait === null &&
      (flags & (L.MSG_WAITALL | L.MSG_PEEK)) === L.MSG_WAITALL &&
      this.#type === L.SOCK_STREAM;
  }

  #readEvents(flags: number): number {
    return (flags & L.MSG_OOB) !== 0 ? L.EPOLLPRI : L.EPOLLIN;
  }

  // Wait for readiness; false once the call's deadline has passed and the
  // kernel, asked once more then, does not report it either: as CPython's
  // poll() answers at its end, a process that did not run for the whole
  // wait (or a timer shorter than the poller's round trip) takes what came.
  #ready(events: number, w: WaitState): Promise<boolean> | boolean {
    const r = this.#await(events, w);
    if (r === true) return true;
    if (r === false) return this.#readyNow(events, w);
    return r.then((ok) => ok || this.#readyNow(events, w));
  }

  // The kernel's readiness now, once per call, where the wait ran out (an
  // abort ends the call at once). Its errors count: the retried call
  // reports them.
  #readyNow(events: number, w: WaitState): boolean {
    if (w.looked || w.signal?.aborted || this.#fd < 0) return false;
    w.looked = true;
    const now = pollNow(new Map([[this.#fd, events]]), true);
    const want = events | L.EPOLLERR | L.EPOLLHUP;
    return now?.some(([, revents]) => (revents & want) !== 0) ?? false;
  }

  #await(events: number, w: WaitState): Promise<boolean> | boolean {
    const spins = w.spins++;
    let ms: number | null = null;
    if (w.deadline.wait !== null) {
      if (w.deadline.expired) return false;
      ms = w.deadline.left();
    }
    const entry = this.#h.entry ??= P.entry(this.#fd);
    if (spins >= 3) {
      const pause = backoff(spins);
      return P.sleep(
        entry,
        ms === null ? pause : Math.min(pause, ms),
        w.signal,
      );
    }
    // Only reads spin: a round trip's answer is near; room in a full send
    // buffer comes in big steps, and spinning for it would only burn CPU.
    if (
      spins === 0 && this.#quick && events !== L.EPOLLOUT && P.waiting === 0 &&
      this.#spin(events, ms)
    ) return true;
    return this.#park(entry, events, ms, w.signal);
  }

  // Wait until `events` or the deadline, which throws its error (`errno`
  // when it is the kernel's).
  async #waitFor(
    events: number,
    w: WaitState,
    errno: number = EAGAIN,
  ): Promise<void> {
    if (!await this.#ready(events, w)) throw w.deadline.error(errno);
  }

  // Whether a blocking receive that found nothing (`e`) after a wait is
  // over: a datagram socket shut down for reading reports readable, and a
  // blocking recv(2) on it returns nothing at once (CPython's b'', None),
  // where this descriptor's non-blocking one says EAGAIN. Asked only after
  // a wake-up found nothing, so a receive that waits pays nothing for it.
  #readShut(e: number, events: number, wait: Wait): boolean {
    if (
      e !== EAGAIN || wait !== null || events !== L.EPOLLIN ||
      this.#type === L.SOCK_STREAM
    ) return false;
    this.#live();
    return (this.#pollNow(L.EPOLLRDHUP) & L.EPOLLRDHUP) !== 0;
  }

  // Make `attempt` (one syscall) until it succeeds: it returns its result,
  // or null after a failure whose errno `lastErrno` reads at once. Between
  // EAGAINs it waits for `events` as `wait` and `signal` allow. An attempt
  // reads a shared scratch buffer only before it returns, never after an
  // await. `failed`: the errno of the caller's own first attempt, which it
  // read at once (anything that allocates first, such as this call, may run
  // the garbage collector, whose system calls overwrite errno).
  async #retry<T>(
    events: number,
    wait: Wait,
    signal: AbortSignal | undefined,
    attempt: () => T | null,
    lastErrno: () => number = errno,
    failed: number | null = null,
    shut?: () => T,
    carried?: Carried,
  ): Promise<T> {
    let w = carried?.w ?? null;
    // A later part starts its own count of wake-ups that found nothing.
    if (w !== null) w.spins = 0;
    for (;;) {
      let e = failed;
      failed = null;
      if (e === null) {
        const r = attempt();
        if (r !== null) {
          const p = pace();
          if (p !== undefined) await p;
          return r;
        }
        e = lastErrno();
      }
      if (shut !== undefined && w !== null && this.#readShut(e, events, wait)) {
        return shut();
      }
      if (w === null) {
        w = this.#waitState(wait, signal, events);
        if (carried !== undefined) carried.w = w;
      }
      const again = this.#again(e, events, wait, w);
      if (again !== undefined) await again;
    }
  }

  // After a syscall failed with errno `e`: returns to retry at once (EINTR),
  // or a promise that settles when it is worth retrying (EAGAIN); throws the
  // error otherwise, or when the wait runs out.
  #again(
    e: number,
    events: number,
    wait: Wait,
    w: WaitState,
  ): Promise<void> | undefined {
    if (e === EINTR) return;
    if (e !== EAGAIN) throw new OSError(e);
    if (wait === 0) {
      // Would block: a caller that polls in a loop must still let the
      // rest of the process run now and then (see loopTurnDue).
      // And a Deno socket of this process closed since the loop turned
      // closes in the kernel only when it does (its peer may be this one).
      if (!loopTurnDue() && !closeOwed()) throw waitExpired(0);
      return turnLoop();
    }
    const ready = this.#ready(events, w);
    if (ready === true) return;
    if (ready === false) throw w.deadline.error();
    return ready.then((ok) => {
      if (!ok) throw w.deadline.error();
    });
  }

  async #park(
    entry: PollEntry,
    events: number,
    ms: number | null,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const t0 = performance.now();
    let ready: boolean;
    // A timer fires at once past MAX_TIMER: a longer wait goes in steps.
    while (
      !(ready = await P.wait(
        entry,
        events,
        ms === null ? null : Math.min(ms, MAX_TIMER),
        signal,
      ))
    ) {
      if (ms === null || ms <= MAX_TIMER || signal?.aborted) break;
      ms -= MAX_TIMER;
    }
    loopTurned();
    this.#quick = ready && performance.now() - t0 < QUICK_MS;
    return ready;
  }

  #spin(events: number, ms: number | null): boolean {
    if (
      this.#spinMisses >= SPIN_MISSES && ++this.#spinMisses % SPIN_PROBE !== 0
    ) return false;
    const until = performance.now() +
      (ms === null ? SPIN_MS : Math.min(SPIN_MS, ms));
    do {
      if (this.#pollNow(events) !== 0) {
        this.#spinMisses = 0;
        return true;
      }
    } while (performance.now() < until);
    if (this.#spinMisses < SPIN_MISSES) this.#spinMisses++;
    return false;
  }

  // The given-back bytes, scattered over `buffers` in order.
  #scatterGiven(buffers: readonly Uint8Array[], flags: number): RecvMsg {
    this.#live();
    const n = scatter(this.#given!, buffers);
    if ((flags & L.MSG_PEEK) === 0) this.#consumeGiven(n);
    return [n, [], 0, null];
  }

  // recvmsg() while bytes are given back: those, then what the kernel has
  // after them (with its control messages), and with MSG_WAITALL the rest.
  async #recvmsgGiven(
    buffers: readonly Uint8Array[],
    ancbufsize: number,
    flags: number,
    wait: Wait,
    signal: AbortSignal | undefined,
  ): Promise<RecvMsg> {
    const r = this.#scatterGiven(buffers, flags);
    // A peek leaves them given back: it says what they are.
    if ((flags & L.MSG_PEEK) !== 0) return r;
    const rest = after(buffers, r[0]);
    if (rest.length > 0) {
      try {
        this.#merge(
          r,
          await this.recvmsg(rest, ancbufsize, flags & ~L.MSG_WAITALL, 0),
        );
      } catch (e) {
        // Nothing more there yet, or an error the next call reports again.
        if (!(e instanceof OSError) || e.errno === E.EBADF) throw e;
      }
    }
    if (!this.#waitAll(flags, wait)) return r;
    return await this.#recvmsgRest(
      r,
      buffers,
      ancbufsize,
      flags,
      wait,
      signal,
      { w: null },
    );
  }

  // MSG_WAITALL on a stream, after a first part `r`: the rest, until the
  // buffers are full, EOF, or the wait runs out (then `r` as it stands,
  // as recv() does); an abort gives the data back and rejects.
  async #recvmsgRest(
    r: RecvMsg,
    buffers: readonly Uint8Array[],
    ancbufsize: number,
    flags: number,
    wait: Wait,
    signal: AbortSignal | undefined,
    carried: Carried,
  ): Promise<RecvMsg> {
    for (;;) {
      const rest = after(buffers, r[0]);
      // Linux's MSG_WAITALL on a unix stream stops after a message that
      // carried descriptors (taken or cut off by MSG_CTRUNC).
      if (rest.length === 0 || carriedRights(r)) return r;
      let more: RecvMsg;
      try {
        more = await this.#recvmsg(
          rest,
          ancbufsize,
          flags & ~L.MSG_WAITALL,
          wait,
          signal,
          carried,
        );
      } catch (e) {
        // No part so far brought descriptors (one that does ends the call).
        if (r[0] > 0 && e instanceof OSError && e.errno !== E.EBADF) {
          // Credentials received cannot be given back: keep the answer.
          if (!signal?.aborted || r[1].length > 0) return r;
          this.giveBack(concat(buffers).subarray(0, r[0]));
        }
        throw e;
      }
      if (more[0] === 0) return r;
      this.#merge(r, more);
    }
  }

  #merge(r: RecvMsg, more: RecvMsg): void {
    r[0] += more[0];
    // One read of the kernel's gives one SCM_CREDENTIALS (it glues only
    // messages of one sender): a later part's is the same.
    const creds = r[1].some(isCredentials);
    r[1].push(...more[1].filter((a) => !(creds && isCredentials(a))));
    r[2] |= more[2];
  }

  // The rest of a recv that must wait: for the first bytes, or for the rest
  // of a blocking MSG_WAITALL.
  async #recvRest(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    got: number,
    signal: AbortSignal | undefined,
    first: WaitState | null = null,
  ): Promise<number> {
    const events = this.#readEvents(flags);
    const w = first ?? this.#waitState(wait, signal, events);
    w.spins = 0;
    const had = buf.length;
    for (;;) {
      if (this.#takesGiven(flags)) {
        got += this.#takeGiven(buf.subarray(got), flags);
        if (got === buf.length || !this.#waitAll(flags, wait)) return got;
        continue;
      }
      if (!await this.#ready(events, w)) {
        // Expired: what arrived is the answer. Aborted: the call rejects,
        // and the next one returns it.
        if (got > 0 && !signal?.aborted) return got;
        if (got > 0) this.giveBack(buf.subarray(0, got));
        throw w.deadline.error();
      }
      const view = got === 0 ? buf : buf.subarray(got);
      // Detached or shrunk to nothing while it waited: a receive of 0 bytes
      // would take a datagram and drop it; the caller says what happened.
      if (view.length === 0 && had > 0) return got;
      // Nothing queued after some bytes, yet readable: EOF or a socket
      // error. A recv() would take a TCP reset's error that Linux's
      // MSG_WAITALL leaves for the next call (a unix stream's takes it):
      // return the bytes and leave it there. Not readable: another reader
      // (a stream's read, which gives its bytes back) took what woke this
      // one, which waits on. Queued once more after poll(): bytes that came
      // between the two are read, not taken for EOF.
      if (
        got > 0 && this.#family !== L.AF_UNIX && this.#queued() === 0
      ) {
        if (this.#pollNow(L.EPOLLIN) === 0) continue;
        if (this.#queued() === 0) return got;
      }
      const n = Number(
        C.recv(this.#live(), view, BigInt(view.length), flags | DONTWAIT),
      );
      if (n > 0) {
        got += n;
        if (got === buf.length || !this.#waitAll(flags, wait)) return got;
        w.spins = 0;
        continue;
      }
      if (n === 0) return got;
      const e = errno();
      if (this.#readShut(e, events, wait)) return got;
      if (e === EAGAIN || e === EINTR) continue;
      // Bytes already received are returned; the error (a reset) is
      // reported again by the next call.
      if (got > 0) return got;
      throw new OSError(e);
    }
  }

  async sendmsg(
    buffers: readonly Uint8Array[],
    ancdata: readonly AncData[],
    flags: number,
    addr: SockAddr | null,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    const f = flags | L.MSG_NOSIGNAL;
    // This call's own buffers: other sockets' calls run while it waits.
    const control = encodeControl(ancdata);
    let name: Uint8Array | null = null;
    let namelen = 0;
    if (addr !== null) {
      name = new Uint8Array(SOCKADDR_MAX);
      namelen = encodeSockAddr(this.#family, addr, name, ifindex);
    }
    const total = totalLength(buffers);
    return await this.#retry(L.EPOLLOUT, wait, signal, () => {
      // Detached or shrunk while the call waited: as send() does.
      if (totalLength(buffers) !== total) throw sendBufferGone("sendmsg");
      const n = sendmsgOnce(
        C,
        this.#live(),
        buffers,
        control,
        name,
        namelen,
        f,
      );
      return n < 0 ? null : n;
    });
  }

  recvmsg(
    buffers: readonly Uint8Array[],
    ancbufsize: number,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<RecvMsg> {
    return this.#recvmsg(buffers, ancbufsize, flags, wait, signal, {
      w: null,
    });
  }

  // recvmsg(), as one part of a call whose wait state is `carried`.
  async #recvmsg(
    buffers: readonly Uint8Array[],
    ancbufsize: number,
    flags: number,
    wait: Wait,
    signal: AbortSignal | undefined,
    carried: Carried,
  ): Promise<RecvMsg> {
    // Descriptors that arrive in SCM_RIGHTS (unix sockets only) are
    // close-on-exec, as every descriptor this module makes, so no child
    // process inherits them. Linux echoes the flag in msg_flags: it shows
    // only when asked for. Other families may refuse the flag (AF_PACKET
    // says EINVAL), so it goes to unix sockets alone.
    if (this.#takesGiven(flags)) {
      return await this.#recvmsgGiven(buffers, ancbufsize, flags, wait, signal);
    }
    const f = this.#family === L.AF_UNIX ? flags | L.MSG_CMSG_CLOEXEC : flags;
    const echo = flags & L.MSG_CMSG_CLOEXEC;
    // recvmsgOnce() answers a failure with its errno.
    let failed = 0;
    const had = totalLength(buffers);
    const r = await this.#retry<RecvMsg>(
      this.#readEvents(flags),
      wait,
      signal,
      () => {
        if (this.#takesGiven(flags)) return this.#scatterGiven(buffers, flags);
        // Detached while it waited: as in #recvRest, no datagram is taken.
        if (had > 0 && totalLength(buffers) === 0) return [0, [], 0, null];
        const r = recvmsgOnce(C, this.#live(), buffers, ancbufsize, f, ifname);
        if (typeof r === "number") {
          failed = r;
          return null;
        }
        r[2] = (r[2] & ~L.MSG_CMSG_CLOEXEC) | echo;
        return r;
      },
      () => failed,
      null,
      () => [0, [], 0, null],
      carried,
    );
    // The kernel returns what is there on a non-blocking descriptor: a
    // blocking MSG_WAITALL gathers the rest.
    if (r[0] === 0 || !this.#waitAll(flags, wait)) return r;
    return await this.#recvmsgRest(
      r,
      buffers,
      ancbufsize,
      flags,
      wait,
      signal,
      carried,
    );
  }
}

/**
 * The libc backend: any family, type and protocol the kernel has, through
 * Deno FFI (`--allow-ffi`, Linux with glibc). Opened on first use; opening a
 * socket without `--allow-ffi` throws `PermissionError` (errno 13) whose
 * message names the flag.
 *
 * libc stays loaded for the life of the process (loading it again costs
 * milliseconds). Deno's resource sanitizer counts it as a resource, so a
 * test module should call `checkLibc()` at its top level, outside any
 * test. The example is not run by `deno test --doc` for that reason.
 *
 * @example A SOCK_SEQPACKET pair keeps message boundaries
 * ```ts ignore
 * import { checkLibc, libcBackend } from "./socket.ts";
 * import assert from "node:assert/strict";
 *
 * if (checkLibc()) {
 *   const AF_UNIX = 1, SOCK_SEQPACKET = 5;
 *   const [a, b] = await libcBackend.socketpair(AF_UNIX, SOCK_SEQPACKET, 0);
 *   await a.send(new TextEncoder().encode("hello world"), 0, null);
 *   const buf = new Uint8Array(5);
 *   assert.equal(await b.recv(buf, 0, null), 5);
 *   assert.equal(new TextDecoder().decode(buf), "hello");
 *   a.close();
 *   b.close();
 * }
 * ```
 */
export const libcBackend: LibcBackend = {
  name: "libc",

  open(family: number, type: number, proto: number): BackendSocket {
    state();
    const fd = C.socket(family, type | OPEN_FLAGS, proto);
    if (fd < 0) throw lastError();
    return new LibcSocket(fd, family, type, proto);
  },

  socketpair(
    family: number,
    type: number,
    proto: number,
  ): Promise<[BackendSocket, BackendSocket]> {
    try {
      state();
      if (C.socketpair(family, type | OPEN_FLAGS, proto, pairBuf) < 0) {
        throw lastError();
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve([
      new LibcSocket(pairI32[0], family, type, proto),
      new LibcSocket(pairI32[1], family, type, proto),
    ]);
  },

  adopt(
    fd: number,
    family: number,
    type: number,
    proto: number,
  ): [BackendSocket, number, number, number] {
    state();
    // Reading SO_DOMAIN also proves `fd` is an open socket (EBADF 9,
    // ENOTSOCK 88 otherwise). The descriptor stays the caller's on failure.
    const domain = getInt(fd, L.SOL_SOCKET, L.SO_DOMAIN);
    if (family <= 0) family = domain;
    if (type <= 0) type = getInt(fd, L.SOL_SOCKET, L.SO_TYPE);
    if (proto < 0) proto = getInt(fd, L.SOL_SOCKET, L.SO_PROTOCOL);
    // Its O_NONBLOCK is left as it is, as CPython leaves it: another
    // process may share it.
    shareKernel();
    return [
      new LibcSocket(fd, family, type, proto, files.get(fd)),
      family,
      type,
      proto,
    ];
  },
  dupFd(fd: number): number {
    state();
    const copy = C.fcntl(fd, L.F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw lastError();
    shareKernel();
    const file = files.get(fd);
    if (file !== undefined) files.set(copy, file);
    else files.delete(copy);
    return copy;
  },
  closeFd(fd: number): void {
    state();
    if (C.close(fd) < 0) throw lastError();
    files.delete(fd);
  },
};

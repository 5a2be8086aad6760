/**
 * `socket()` and the `Socket` class: Python's socket object, with Python's
 * names, defaults, numbers and errors. What blocks in Python returns a
 * Promise here.
 *
 * @example Echo one message over TCP on loopback
 * ```ts
 * import { socket } from "./socket.ts";
 * import assert from "node:assert/strict";
 *
 * using server = socket();
 * server.bind(["127.0.0.1", 0]);
 * server.listen();
 * using client = socket();
 * await client.connect(server.getsockname());
 * const [conn] = await server.accept();
 * using _conn = conn;
 * await client.sendall(new TextEncoder().encode("hi"));
 * assert.equal(new TextDecoder().decode(await conn.recv(1024)), "hi");
 * ```
 *
 * @module
 */
import {
  AF_INET,
  AF_INET6,
  type AF_NETLINK,
  type AF_PACKET,
  AF_UNIX,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  MSG_DONTWAIT,
  SHUT_RD,
  SHUT_RDWR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  type SOCK_RAW,
  SOCK_STREAM,
  SOMAXCONN,
} from "./constants.ts";
import { errno as E } from "./constants.ts";
import {
  BlockingIOError,
  BufferError,
  OSError,
  OverflowError,
  PermissionError,
  TimeoutError,
  ValueError,
} from "./errors.ts";
import {
  type Address,
  addressForBind,
  addressForConnect,
  addressRepr,
  autobindAddress,
  normalize,
} from "./_address.ts";
import {
  argumentCount,
  asCInt,
  builtinArity,
  bytesView,
  defArity,
  isOptionsArg,
  optionsAt,
  optionsLast,
  parsedArity,
  pyArgName,
  requireBytes,
  ssize,
  throwIfAborted,
  toCInt,
  toCLong,
  toFd,
  toInt,
  toTimeout,
  toUIntMask,
} from "./_args.ts";
import {
  type Backend,
  type BackendSocket,
  chooseBackend,
  choosePairBackend,
  libcDescriptor,
  needLibc,
  type SockAddr,
} from "./_backend.ts";
import {
  abortable,
  badFd,
  closeFirst,
  Deadline,
  preloadFor,
  stir,
  stirClose,
  type Wait,
} from "./_wait.ts";
import { SocketNames } from "./_local_names.ts";
import {
  ancBufSize,
  type AncData,
  type AncDataIn,
  ancillaryItems,
  closeRights,
  intoBuffers,
  recvmsgOn,
  recvmsgSize,
  sendBuffers,
  sendmsgOn,
} from "./_ancillary.ts";
import { inheritable, setInheritable } from "./_system.ts";
import { rightsIn } from "./_libc/msg.ts";
import { totalLength } from "./_codecs.ts";
import {
  type BinaryFileMode,
  type BinarySocketFile,
  MAKEFILE_OPTIONS,
  type MakefileOptions,
  openFile,
  type TextFileMode,
  type TextSocketFile,
} from "./_socket_file.ts";
import { sendfile } from "./_sendfile.ts";
import { permitAddress, permitOpen } from "./_permissions.ts";
import {
  type DirectReads,
  type SocketReadable,
  socketReadable,
  socketWritable,
} from "./_streams.ts";
import { fileDescriptorOf } from "./_libc/file_fd.ts";

export type { Address } from "./_address.ts";
export type { SockAddr } from "./_backend.ts";

/**
 * The address a socket of family `F` returns (getsockname, accept,
 * recvfrom): `[host, port]` for AF_INET, the 4-tuple for AF_INET6, a path or
 * bytes for AF_UNIX, `[pid, groups]` for AF_NETLINK, the 5-tuple for
 * AF_PACKET, and the general {@linkcode SockAddr} when the family is not
 * known at compile time.
 */
export type AddressOf<F extends number> = number extends F ? SockAddr
  : F extends typeof AF_INET ? [host: string, port: number]
  : F extends typeof AF_INET6
    ? [host: string, port: number, flowinfo: number, scope_id: number]
  : F extends typeof AF_UNIX ? string | Uint8Array
  : F extends typeof AF_NETLINK ? [pid: number, groups: number]
  : F extends typeof AF_PACKET ? [
      ifname: string,
      proto: number,
      pkttype: number,
      hatype: number,
      addr: Uint8Array,
    ]
  : SockAddr;

/**
 * The sender {@linkcode Socket.recvfrom} gives on a socket of family `F` and
 * type `T`: always an address for UDP, raw, netlink and packet sockets,
 * else possibly `null` (a stream socket, an unnamed unix peer).
 */
export type SenderOf<F extends number, T extends number> = number extends T
  ? AddressOf<F> | null
  : T extends typeof SOCK_DGRAM | typeof SOCK_RAW ? F extends
      | typeof AF_INET
      | typeof AF_INET6
      | typeof AF_NETLINK
      | typeof AF_PACKET ? AddressOf<F>
    : AddressOf<F> | null
  : AddressOf<F> | null;

/** Options for {@linkcode socket} and the {@linkcode Socket} constructor. */
export interface SocketOptions {
  /** Adopt this open descriptor (libc backend); Python's `fileno` argument. */
  fileno?: number | undefined;
  /**
   * Which backend moves the bytes: `"deno"` (Deno's own networking, the
   * default for TCP, UDP and unix stream sockets) or `"libc"` (FFI: raw,
   * seqpacket, socket options, real descriptors; needs `--allow-ffi`).
   */
  backend?: "deno" | "libc" | undefined;
}

let defaultTimeout: number | null = null;

/**
 * The timeout new sockets start with, in seconds; `null` (the default) means
 * blocking.
 *
 * @returns The default timeout.
 *
 * @example
 * ```ts
 * import { getdefaulttimeout } from "./socket.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getdefaulttimeout(), null);
 * ```
 */
export function getdefaulttimeout(): number | null {
  argumentCount(arguments, 0, 0, ARITY.getdefaulttimeout);
  return defaultTimeout;
}

/**
 * Set the timeout new sockets (and accepted ones) start with.
 *
 * @param timeout Seconds, or `null` for blocking.
 * @throws {ValueError} A negative or NaN timeout.
 * @throws {TypeError} Not a number or null.
 *
 * @example
 * ```ts
 * import { getdefaulttimeout, setdefaulttimeout, socket } from "./socket.ts";
 * import assert from "node:assert/strict";
 *
 * setdefaulttimeout(2.5);
 * try {
 *   using s = socket();
 *   assert.equal(s.gettimeout(), 2.5);
 * } finally {
 *   setdefaulttimeout(null);
 * }
 * assert.equal(getdefaulttimeout(), null);
 * ```
 */
export function setdefaulttimeout(timeout: number | null): void {
  argumentCount(arguments, 1, 1, ARITY.setdefaulttimeout);
  defaultTimeout = toTimeout(timeout);
}

// What one recv allocates at most: a receive may return less than bufsize,
// and no socket hands over more at once (Python would try, and may raise
// MemoryError).
const MAX_RECV = 1 << 24;

function checkSize(value: unknown, method: string): number {
  const n = toCLong(value, "ssize_t");
  if (n < 0) throw new ValueError(`negative buffersize in ${method}`);
  return Math.min(n, MAX_RECV);
}

/** A receive buffer's bytes, and how many of them to fill. */
function intoTarget(
  buffer: unknown,
  nbytes: unknown,
  method: string,
): Uint8Array {
  const b = bytesView(buffer);
  if (b === null) {
    throw new TypeError(
      `${method}() argument 1 must be read-write bytes-like object, not ${
        pyArgName(buffer)
      }`,
    );
  }
  const n = toCLong(nbytes, "ssize_t");
  if (n < 0) throw new ValueError(`negative buffersize in ${method}`);
  if (n > b.length) {
    throw new ValueError(
      method === "recvfrom_into"
        ? "nbytes is greater than the length of the buffer"
        : "buffer too small for requested bytes",
    );
  }
  return n === 0 ? b : b.subarray(0, n);
}

/**
 * The last, optional argument of every Socket method that returns a Promise.
 * It may also take the place of the optional arguments before it, which then
 * keep their defaults: `recv(10, { signal })` is `recv(10, 0, { signal })`.
 * An argument after them is a TypeError, never dropped.
 *
 * @example Cancel one read without closing the connection
 * ```ts
 * import { socketpair } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * const controller = new AbortController();
 * setTimeout(() => controller.abort(new Error("user cancelled")), 20);
 * await assert.rejects(a.recv(10, { signal: controller.signal }), {
 *   message: "user cancelled",
 * });
 * await b.sendall(new Uint8Array([7]));
 * assert.deepEqual(await a.recv(10), new Uint8Array([7]));
 * ```
 */
export interface AbortOptions {
  /**
   * Aborting it rejects the call with `signal.reason`, promptly and as a
   * timeout would: nothing is lost (what arrived is there for the next
   * call) and the socket stays open and usable. An already-aborted signal
   * rejects at once.
   */
  signal?: AbortSignal | undefined;
}

// CPython reads `fileno` as a C long and keeps its low 32 bits as the int
// descriptor: 2**31 comes out negative, 2**32 as descriptor 0.
function filenoArg(value: unknown): number {
  const n = toInt(value);
  if (n >= 2 ** 63 || n < -(2 ** 63)) {
    throw new OverflowError("Python int too large to convert to C long");
  }
  return Number(BigInt.asIntN(32, BigInt(n)));
}

// CPython cannot resize a buffer that recv_into reads into; in JavaScript it
// can be detached or shrunk while the call waits. Then the call fails rather
// than look like EOF: bytes not yet read stay for the next call.
function intact(
  now: number,
  length: number,
  n: number,
  method: string,
): number {
  if (now >= length || (n > 0 && n <= now)) return n;
  throw new BufferError(
    n === 0
      ? `${method}() buffer was detached or resized while the call waited; nothing was read`
      : `${method}() buffer was detached while the call waited; ${n} bytes went to the memory it was transferred to`,
  );
}

// sendto()'s third argument: the options, or (flags form) an address, which
// is an array, a string or bytes; any other object is the options. A null
// after flags (a number, or Python's None) is the address, as Python's
// sendto(data, 0, None) (a TypeError naming NoneType).
function sendtoOptions(
  flags: unknown,
  x: Address | AbortOptions,
): x is AbortOptions {
  if (x === null) return typeof flags !== "number" && flags !== null;
  return typeof x === "object" && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

// A backend wait ended by the caller's signal ends as a timeout would; the
// caller sees the signal's reason instead.
function abortReason(e: unknown, signal: AbortSignal | undefined): unknown {
  return signal?.aborted &&
      (e instanceof TimeoutError || e instanceof BlockingIOError)
    ? signal.reason
    : e;
}

// A Deno-backend socket dropped without close() (with every file and stream
// made from it, which hold it): its Deno resources close once it is
// collected, as CPython closes a socket it collects. A libc socket has its
// own backstop, on the descriptor (see _libc/socket.ts).
const dropped = new FinalizationRegistry((sock: BackendSocket) => {
  try {
    sock.close();
  } catch {
    // No caller to tell: the socket is gone either way.
  }
});

// The internal path to a Socket around a backend socket that is already
// open (accept, dup, socketpair, fromfd), as CPython's accept() calls
// socket(family, type, proto, fileno=fd): an options object that only this
// module can make, passed to the constructor.
const OPENED: unique symbol = Symbol("opened");

class Opened {
  constructor(readonly backend: Backend, readonly sock: BackendSocket) {}
}

interface InternalOptions extends SocketOptions {
  readonly [OPENED]: Opened;
}

function wrapSocket<A extends SockAddr, S extends SockAddr | null>(
  backend: Backend,
  sock: BackendSocket,
  family: number,
  type: number,
  proto: number,
): Socket<A, S> {
  const options: InternalOptions = { [OPENED]: new Opened(backend, sock) };
  return new Socket<A, S>(family, type, proto, options);
}

// The internal path to a socket whose waits do not hold the process (see
// daemonSocket): set by Socket's static block, the one code that reaches
// its backend socket.
let daemonize: (sock: Socket) => void;

/**
 * Make `sock` a daemon thread's socket (socketserver's `daemon_threads`):
 * from now on no wait of a call on it, nor of its files and streams, keeps
 * the process running, as Python's interpreter exits past a daemon thread
 * blocked on it. Internal: not part of the module's API.
 *
 * @param sock The socket; a closed one is left alone.
 */
export function daemonSocket(sock: Socket): void {
  daemonize(sock);
}

/**
 * A socket, as Python's `socket.socket`. Make one with {@linkcode socket} or
 * `new Socket(family, type, proto, options)`.
 *
 * @example A UDP round trip
 * ```ts
 * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using a = socket(AF_INET, SOCK_DGRAM);
 * using b = socket(AF_INET, SOCK_DGRAM);
 * a.bind(["127.0.0.1", 0]);
 * await b.sendto(new Uint8Array([1, 2, 3]), a.getsockname());
 * const [data, from] = await a.recvfrom(1024);
 * assert.deepEqual(data, new Uint8Array([1, 2, 3]));
 * // b was bound by sendto() to ("0.0.0.0", port); the sender seen is loopback.
 * assert.deepEqual(from, ["127.0.0.1", b.getsockname()[1]]);
 * ```
 */
export class Socket<
  A extends SockAddr = SockAddr,
  S extends SockAddr | null = A | null,
> {
  readonly #family: number;
  readonly #type: number;
  readonly #proto: number;
  readonly #backend: Backend;
  #sock: BackendSocket | null;
  #timeout: number | null;
  // Known to have a local port (see #unboundDatagram).
  #named = false;
  // Whether what it sends may make a Deno socket of this process ready.
  readonly #names: SocketNames;
  // CPython's _io_refs and _closed: files from makefile() still open, and
  // whether close() was called while they were.
  #ioRefs = 0;
  #closeCalled = false;
  #readable: SocketReadable | null = null;
  #writable: WritableStream<Uint8Array> | null = null;

  static {
    daemonize = (sock) => sock.#sock?.daemon?.();
  }

  /**
   * Open a socket (Python's `socket.socket(family, type, proto, fileno)`).
   *
   * @param family `AF_INET` (default), `AF_INET6`, `AF_UNIX`, ...
   * @param type `SOCK_STREAM` (default), `SOCK_DGRAM`, `SOCK_RAW`, ...;
   *   `SOCK_NONBLOCK` makes it non-blocking, `SOCK_CLOEXEC` is accepted.
   * @param proto The protocol, `0` for the default.
   * @param fileno A descriptor to adopt, or {@linkcode SocketOptions}.
   * @throws {OSError} What the kernel says (`[Errno 94]` for SOCK_RDM on AF_INET).
   * @throws {PermissionError} A libc socket without `--allow-ffi`, or a raw
   *   socket without CAP_NET_RAW (errno 1).
   */
  constructor(
    family?: number,
    type?: number,
    proto?: number,
    fileno?: number | SocketOptions | null,
  ) {
    const options: SocketOptions = typeof fileno === "object" && fileno !== null
      ? fileno
      : { fileno: fileno ?? undefined };
    if (OPENED in options && options[OPENED] instanceof Opened) {
      this.#backend = options[OPENED].backend;
      this.#sock = options[OPENED].sock;
      this.#family = family!;
      this.#type = type!;
      this.#proto = proto!;
      this.#timeout = defaultTimeout;
      preloadFor(defaultTimeout);
      // New descriptors are blocking: only a timeout changes that.
      if (defaultTimeout !== null) this.#sock.setBlocking?.(false);
      this.#names = new SocketNames(family!, this.#backend.name === "deno");
      this.#names.hold(this.#sock);
      if (this.#backend.name === "deno") {
        dropped.register(this, this.#sock, this);
      }
      return;
    }
    let fam = family === undefined ? -1 : asCInt(family);
    let typ = type === undefined ? -1 : asCInt(type);
    let pro = proto === undefined ? -1 : asCInt(proto);
    let timeout = defaultTimeout;
    if (typ !== -1) {
      if (typ & SOCK_NONBLOCK) timeout = 0;
      typ &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    if (options.fileno !== undefined && options.fileno !== null) {
      const fd = filenoArg(options.fileno);
      if (fd < 0) throw new ValueError("negative file descriptor");
      if (options.backend === "deno") {
        throw new OSError(
          E.EOPNOTSUPP,
          'adopting a descriptor needs backend: "libc"',
        );
      }
      const backend = needLibc("socket(fileno=...)");
      const adopted = backend.adopt(
        libcDescriptor(fd, "socket(fileno=...)"),
        fam === -1 ? 0 : fam,
        typ,
        pro,
      );
      this.#backend = backend;
      [this.#sock, fam, typ, pro] = adopted;
    } else {
      if (fam === -1) fam = AF_INET;
      if (typ === -1) typ = SOCK_STREAM;
      if (pro === -1) pro = 0;
      const backend = chooseBackend(fam, typ, pro, {
        backend: options.backend,
      });
      if (backend.name === "libc") permitOpen(fam, typ);
      this.#backend = backend;
      this.#sock = backend.open(fam, typ, pro);
    }
    this.#family = fam;
    this.#type = typ;
    this.#proto = pro;
    this.#timeout = timeout;
    preloadFor(timeout);
    // A new descriptor is blocking, and an adopted one's flag is left as it
    // is (CPython's), unless the socket has a timeout.
    if (timeout !== null) this.#sock.setBlocking?.(false);
    this.#names = new SocketNames(fam, this.#backend.name === "deno");
    if (this.#backend.name === "deno") dropped.register(this, this.#sock, this);
  }

  /** The address family (`AF_INET`, ...); readable after close. */
  get family(): number {
    return this.#family;
  }

  /** The socket type (`SOCK_STREAM`, ...), without SOCK_NONBLOCK/SOCK_CLOEXEC. */
  get type(): number {
    return this.#type;
  }

  /** The protocol number. */
  get proto(): number {
    return this.#proto;
  }

  /** The timeout in seconds, or `null`; same as {@linkcode Socket.gettimeout}. */
  get timeout(): number | null {
    return this.#timeout;
  }

  /** Which backend this socket runs on: `"deno"` or `"libc"`. */
  get backend(): "deno" | "libc" {
    return this.#backend.name;
  }

  /**
   * The socket as a byte `ReadableStream`, like `Deno.Conn.readable`: it
   * ends at EOF, BYOB readers fill their own buffers (`min` waits for that
   * many elements), and cancelling it or releasing a reader loses no byte
   * that a later `recv()` would see: bytes a BYOB read took and could not
   * hand out go back to the socket. The socket's timeout applies to each
   * read (a timeout errors the stream, and loses nothing); on a
   * non-blocking socket a read that finds nothing errors it with
   * BlockingIOError, as recv() raises.
   *
   * @example Pipe a socket through a text decoder
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await b.sendall(new TextEncoder().encode("hello"));
   * b.shutdown(1); // SHUT_WR: the stream ends
   * let text = "";
   * for await (const chunk of a.readable.pipeThrough(new TextDecoderStream())) {
   *   text += chunk;
   * }
   * assert.equal(text, "hello");
   * ```
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    // Each read goes to the backend straight, with the socket's timeout
    // as it is then (see SocketReadable).
    return this.#readable ??= socketReadable(this, {
      reads: () => {
        const sock = this.#sock;
        return sock?.streamRead === undefined ? null : sock as DirectReads;
      },
      wait: () => this.#wait(0),
      recvOwn: (target) => this.#recvOwn(target),
    });
  }

  /**
   * The socket as a `WritableStream`, like `Deno.Conn.writable`: each chunk
   * is sent in full (`sendall`) before the next is taken, so a fast writer
   * waits for a slow reader; `close()` shuts down writing (SHUT_WR) and
   * `abort()` closes the socket at once, a chunk still on its way too (its
   * write rejects with the abort's reason). Once the stream is closed,
   * `abort()` does nothing, as the Streams spec says: close the socket.
   *
   * @example Write through a text encoder
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * const writer = a.writable.getWriter();
   * await writer.write(new TextEncoder().encode("hi"));
   * await writer.close();
   * assert.equal(new TextDecoder().decode(await b.recv(10)), "hi");
   * assert.equal((await b.recv(10)).length, 0);
   * ```
   */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= socketWritable(this);
  }

  #live(): BackendSocket {
    if (this.#sock === null) throw badFd();
    return this.#sock;
  }

  // A libc socket asks what Deno would require of its own socket for this
  // address (Deno's sockets check for themselves). An unbound datagram
  // socket's send or connect also binds it (the kernel's autobind; the Deno
  // backend's own bind), which asks what bind() of that address would.
  #permit(addr: SockAddr, binds?: "send" | "connect"): void {
    if (this.#backend.name !== "libc") {
      // Deno checks what its sockets reach, but a UDP connect() reaches
      // nothing yet: it is checked here, as on libc. So is an unbound UDP
      // socket's first send (Deno's refusal names the address it binds
      // first, where libc's names the destination).
      if (
        (binds === "connect" && this.#type === SOCK_DGRAM) ||
        (binds === "send" && this.#unboundDatagram())
      ) {
        permitAddress(this.#family, this.#type, this.#proto, addr, true);
      }
      return;
    }
    permitAddress(this.#family, this.#type, this.#proto, addr);
    if (binds !== undefined && this.#unboundDatagram()) {
      const toward = binds === "connect"
        ? (addr as [string, number])[0]
        : undefined;
      permitAddress(
        this.#family,
        this.#type,
        this.#proto,
        autobindAddress(this.#family, toward),
      );
    }
  }

  // Whether an IP datagram socket (not a ping socket) has no port yet; once
  // it has, that is kept.
  #unboundDatagram(): boolean {
    if (
      // Closed: the call itself says EBADF (connect_ex returns it).
      this.#named || this.#sock === null || this.#type !== SOCK_DGRAM ||
      (this.#family !== AF_INET && this.#family !== AF_INET6) ||
      this.#proto === IPPROTO_ICMP || this.#proto === IPPROTO_ICMPV6
    ) return false;
    this.#named = (this.#live().getsockname() as [string, number])[1] !== 0;
    return !this.#named;
  }

  // The family decides the address's shape (A), at run time too.
  #address(addr: SockAddr): A {
    return normalize(this.#family, addr) as A;
  }

  #sender(addr: SockAddr | null): S {
    return (addr === null ? null : normalize(this.#family, addr)) as S;
  }

  // CPython waits for readiness, up to a socket's timeout, before every
  // call, MSG_DONTWAIT or not: the flag makes only a blocking socket's call
  // return at once.
  #wait(flags: number): Wait {
    const t = this.#timeout;
    if (t === null) return flags & MSG_DONTWAIT ? 0 : null;
    return t * 1000;
  }

  /**
   * Bind the socket to a local address.
   *
   * @param address `[host, port]` (host `""` is any address), a unix path, or
   *   bytes for an abstract unix name. Hosts must be numeric or
   *   `"localhost"` (bind is synchronous).
   * @throws {OSError} `[Errno 98]` address in use, `[Errno 22]` already bound.
   * @throws {OverflowError} A port outside 0-65535.
   * @throws {TypeError} An address of the wrong shape.
   *
   * @example Port 0 is resolved at once
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * s.bind(["127.0.0.1", 0]);
   * const [host, port] = s.getsockname();
   * assert.equal(host, "127.0.0.1");
   * assert.ok(port > 0);
   * ```
   */
  bind(address: Address): void {
    argumentCount(arguments, 1, 1, ARITY.bind);
    const addr = addressForBind(this.#family, address, "bind");
    this.#permit(addr);
    const sock = this.#live();
    sock.bind(addr);
    this.#names.hold(sock);
  }

  /**
   * Listen for connections.
   *
   * @param backlog Pending connections to queue; default min(SOMAXCONN, 128).
   *   The Deno backend's listeners use Deno's backlog; libc honours this one.
   * @throws {OSError} `[Errno 95]` on a datagram socket.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * s.listen(); // autobinds an ephemeral port, as Python does
   * assert.ok((s.getsockname())[1] > 0);
   * ```
   */
  listen(backlog?: number): void {
    argumentCount(arguments, 0, 1, ARITY.listen);
    let n = backlog === undefined ? Math.min(SOMAXCONN, 128) : toCInt(backlog);
    if (n < 0) n = 0;
    const sock = this.#live();
    // An unbound IP socket's listen() binds it to the wildcard first (the
    // kernel's autobind; the Deno backend's own bind), which needs what
    // bind() of that address needs.
    if (
      this.#backend.name === "libc" && this.#type === SOCK_STREAM &&
      (this.#family === AF_INET || this.#family === AF_INET6) &&
      (sock.getsockname() as [string, number])[1] === 0
    ) {
      permitAddress(
        this.#family,
        this.#type,
        this.#proto,
        autobindAddress(this.#family),
      );
    }
    sock.listen(n);
    this.#names.hold(sock);
  }

  /**
   * Accept a connection.
   *
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns The new socket (blocking, unless a default timeout is set) and
   *   the peer's address.
   * @throws {TimeoutError} The timeout passed first.
   * @throws {BlockingIOError} Non-blocking and no connection is waiting.
   * @throws {OSError} `[Errno 22]` not listening; `[Errno 9]` closed.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using server = socket();
   * server.bind(["127.0.0.1", 0]);
   * server.listen();
   * using client = socket();
   * await client.connect(server.getsockname());
   * const [conn, address] = await server.accept();
   * using _conn = conn;
   * assert.deepEqual(address, client.getsockname());
   * ```
   */
  async accept(options?: AbortOptions): Promise<[Socket<A, S>, A]> {
    optionsAt(arguments, 0, ARITY.accept);
    const signal = options?.signal;
    throwIfAborted(signal);
    let sock: BackendSocket, addr: SockAddr | null;
    try {
      [sock, addr] = await this.#live().accept(this.#wait(0), signal);
    } catch (e) {
      throw abortReason(e, signal);
    }
    const conn = wrapSocket<A, S>(
      this.#backend,
      sock,
      this.#family,
      this.#type,
      this.#proto,
    );
    return [conn, this.#address(addr ?? "")];
  }

  /**
   * Connect to a remote address. Names are looked up first (getaddrinfo).
   *
   * @param address `[host, port]`, a unix path, or abstract bytes.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @throws {ConnectionRefusedError} `[Errno 111]` nothing listens there.
   * @throws {TimeoutError} The timeout passed first.
   * @throws {BlockingIOError} Non-blocking: `[Errno 115]`, the connection goes on.
   * @throws {gaierror} The name could not be resolved.
   *
   * @example
   * ```ts
   * import { ConnectionRefusedError, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using probe = socket();
   * probe.bind(["127.0.0.1", 0]);
   * const closedPort = probe.getsockname();
   * probe.close();
   * using s = socket();
   * await assert.rejects(s.connect(closedPort), ConnectionRefusedError);
   * ```
   */
  async connect(address: Address, options?: AbortOptions): Promise<void> {
    optionsAt(arguments, 1, ARITY.connect, 1);
    const signal = options?.signal;
    throwIfAborted(signal);
    // The address first, as CPython parses it: a bad one on a closed socket
    // is the TypeError, a good one EBADF.
    const addr = await addressForConnect(
      this.#family,
      address,
      "connect",
      signal,
    );
    this.#permit(addr, "connect");
    let owes = false;
    try {
      const closed = closeFirst();
      if (closed !== undefined) await closed;
      const sock = this.#live();
      owes = this.#names.connecting(sock, addr);
      await sock.connect(addr, this.#wait(0), signal);
    } catch (e) {
      throw abortReason(e, signal);
    } finally {
      // After the call: a wait in it turns the loop before the peer knows.
      if (owes) stir();
    }
    this.#names.hold(this.#live());
  }

  /**
   * Connect, reporting failure as an errno instead of throwing.
   *
   * @param address As for {@linkcode Socket.connect}.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns 0 on success, else the errno (111 refused, 115 in progress,
   *   11 timed out, 9 closed).
   * @throws {TypeError} A bad address still throws, as in Python.
   * @throws {OverflowError} A port outside 0-65535.
   * @throws {gaierror} An unknown host.
   * @throws {PermissionError} Deno's `--allow-net` does not cover the
   *   address (the message names the flag).
   *
   * @example A port checker
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using server = socket();
   * server.bind(["127.0.0.1", 0]);
   * server.listen();
   * using s = socket();
   * assert.equal(await s.connect_ex(server.getsockname()), 0);
   * ```
   */
  async connect_ex(
    address: Address,
    options?: AbortOptions,
  ): Promise<number> {
    optionsAt(arguments, 1, ARITY.connect_ex, 1);
    const signal = options?.signal;
    throwIfAborted(signal);
    const addr = await addressForConnect(
      this.#family,
      address,
      "connect_ex",
      signal,
    );
    this.#permit(addr, "connect");
    let owes = false;
    try {
      const closed = closeFirst();
      if (closed !== undefined) await closed;
      const sock = this.#live();
      owes = this.#names.connecting(sock, addr);
      await sock.connect(addr, this.#wait(0), signal);
      this.#names.hold(this.#live());
      return 0;
    } catch (e) {
      if (signal?.aborted) throw abortReason(e, signal);
      if (e instanceof TimeoutError && e.errno === null) return E.EAGAIN;
      // A Deno permission flag that is missing is not the connection's
      // outcome: it is raised, as connect() does, naming the flag.
      if (e instanceof PermissionError && /--allow-\w+/.test(e.message)) {
        throw e;
      }
      if (e instanceof OSError && e.errno !== null) return e.errno;
      throw e;
    } finally {
      if (owes) stir();
    }
  }

  /**
   * Receive up to `bufsize` bytes.
   *
   * Resolves with an empty array when the peer has closed its side (orderly
   * EOF), again and again. Honours the timeout: `null` waits, `0` never
   * waits; a timeout loses no data.
   *
   * @param bufsize The most bytes to return; `0` resolves at once.
   * @param flags `MSG_*` flags, OR-ed together.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns The bytes received.
   * @throws {TimeoutError} The timeout passed first; no data is lost.
   * @throws {BlockingIOError} Non-blocking, and nothing has arrived.
   * @throws {OSError} The socket is closed (errno 9) or not connected (107).
   * @throws {ValueError} A negative `bufsize`.
   *
   * @example Echo one message
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using server = socket();
   * server.bind(["127.0.0.1", 0]);
   * server.listen();
   * using client = socket();
   * await client.connect(server.getsockname());
   * const [conn] = await server.accept();
   * using _conn = conn;
   * await client.sendall(new TextEncoder().encode("hi"));
   * assert.deepEqual(await conn.recv(2), new TextEncoder().encode("hi"));
   * ```
   */
  async recv(
    bufsize: number,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<Uint8Array<ArrayBuffer>> {
    optionsAt(arguments, 2, ARITY.recv, 1);
    if (isOptionsArg(flags, arguments, "recv")) {
      [flags, options] = [0, flags];
    }
    const size = checkSize(bufsize, "recv");
    const f = toCInt(flags);
    const signal = options?.signal;
    throwIfAborted(signal);
    if (size === 0) return new Uint8Array(0);
    const sock = this.#live();
    try {
      if (sock.recvBytes) {
        // A tuple when the bytes were there: no await, no extra turn.
        const got = sock.recvBytes(size, f, this.#wait(f), signal);
        return (Array.isArray(got) ? got : await got)[0];
      }
      const buf = new Uint8Array(size);
      return trim(buf, await sock.recv(buf, f, this.#wait(f), signal));
    } catch (e) {
      throw abortReason(e, signal);
    }
  }

  /**
   * Receive up to `bufsize` bytes and the sender's address.
   *
   * @param bufsize The most bytes to return (a longer datagram is truncated).
   * @param flags `MSG_*` flags.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns The bytes and the sender (`null` on a connected stream).
   * @throws {TimeoutError} The timeout passed first.
   * @throws {BlockingIOError} Non-blocking, and nothing has arrived.
   * @throws {ValueError} A negative `bufsize`.
   *
   * @example
   * ```ts
   * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using a = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * await b.sendto(new Uint8Array(0), a.getsockname());
   * const [data, from] = await a.recvfrom(100);
   * assert.equal(data.length, 0); // empty datagrams are delivered
   * assert.equal(from[1], b.getsockname()[1]);
   * ```
   */
  async recvfrom(
    bufsize: number,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<[Uint8Array<ArrayBuffer>, S]> {
    optionsAt(arguments, 2, ARITY.recvfrom, 1);
    if (isOptionsArg(flags, arguments, "recvfrom")) {
      [flags, options] = [0, flags];
    }
    const size = checkSize(bufsize, "recvfrom");
    const f = toCInt(flags);
    const signal = options?.signal;
    throwIfAborted(signal);
    const sock = this.#live();
    try {
      if (sock.recvBytes) {
        const got = sock.recvBytes(size, f, this.#wait(f), signal);
        const [data, from] = Array.isArray(got) ? got : await got;
        return [data, this.#sender(from)];
      }
      const buf = new Uint8Array(size);
      const [n, addr] = await sock.recvfrom(buf, f, this.#wait(f), signal);
      return [trim(buf, n), this.#sender(addr)];
    } catch (e) {
      throw abortReason(e, signal);
    }
  }

  /**
   * Receive into a buffer the caller owns.
   *
   * @param buffer Where to write.
   * @param nbytes The most bytes to receive; `0` means the whole buffer.
   * @param flags `MSG_*` flags.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns How many bytes were written (0 at EOF).
   * @throws {ValueError} `nbytes` negative or larger than the buffer.
   * @throws {TimeoutError} The timeout passed first.
   *
   * @example
   * ```ts
   * import { socketpair } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await a.sendall(new Uint8Array([7, 8, 9]));
   * const buf = new Uint8Array(8);
   * assert.equal(await b.recv_into(buf), 3);
   * assert.deepEqual(buf.subarray(0, 3), new Uint8Array([7, 8, 9]));
   * ```
   */
  async recv_into(
    buffer: ArrayBufferView | ArrayBuffer,
    nbytes: number | AbortOptions = 0,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<number> {
    optionsAt(arguments, 3, ARITY.recv_into, 1);
    if (isOptionsArg(nbytes, arguments, "recv_into")) {
      [nbytes, flags, options] = [0, 0, nbytes];
    } else if (isOptionsArg(flags, arguments, "recv_into")) {
      [flags, options] = [0, flags];
    }
    const target = intoTarget(buffer, nbytes, "recv_into");
    const f = toCInt(flags);
    const signal = options?.signal;
    throwIfAborted(signal);
    if (target.length === 0) return 0;
    const length = target.length;
    let n: number;
    try {
      n = await this.#live().recv(target, f, this.#wait(f), signal);
    } catch (e) {
      throw abortReason(e, signal);
    }
    return intact(target.length, length, n, "recv_into");
  }

  // recv_into() of a buffer only this module sees and only this socket's
  // receives fill (a file's, a stream's): a blocking one may be ended by
  // shutdown(), as Python's is (see BackendSocket.recv).
  async #recvOwn(target: Uint8Array, options?: AbortOptions): Promise<number> {
    const signal = options?.signal;
    throwIfAborted(signal);
    try {
      return await this.#live().recv(target, 0, this.#wait(0), signal, true);
    } catch (e) {
      throw abortReason(e, signal);
    }
  }

  /**
   * Receive into a buffer, with the sender's address.
   *
   * @param buffer Where to write.
   * @param nbytes The most bytes; `0` means the whole buffer.
   * @param flags `MSG_*` flags.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns The count and the sender (`null` where there is none).
   * @throws {ValueError} `nbytes` negative or larger than the buffer.
   * @throws {TimeoutError} The timeout passed first.
   *
   * @example
   * ```ts
   * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using a = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * await b.sendto(new Uint8Array([1, 2]), a.getsockname());
   * const [n, from] = await a.recvfrom_into(new Uint8Array(16));
   * assert.equal(n, 2);
   * assert.deepEqual(from, ["127.0.0.1", b.getsockname()[1]]);
   * ```
   */
  async recvfrom_into(
    buffer: ArrayBufferView | ArrayBuffer,
    nbytes: number | AbortOptions = 0,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<[number, S]> {
    optionsAt(arguments, 3, ARITY.recvfrom_into, 1);
    if (isOptionsArg(nbytes, arguments, "recvfrom_into")) {
      [nbytes, flags, options] = [0, 0, nbytes];
    } else if (isOptionsArg(flags, arguments, "recvfrom_into")) {
      [flags, options] = [0, flags];
    }
    const target = intoTarget(buffer, nbytes, "recvfrom_into");
    const f = toCInt(flags);
    const signal = options?.signal;
    throwIfAborted(signal);
    try {
      const length = target.length;
      const [n, addr] = await this.#live().recvfrom(
        target,
        f,
        this.#wait(f),
        signal,
      );
      return [
        intact(target.length, length, n, "recvfrom_into"),
        this.#sender(addr),
      ];
    } catch (e) {
      throw abortReason(e, signal);
    }
  }

  /**
   * Send data; may send less than all of it.
   *
   * @param data The bytes (a string is a TypeError, as in Python).
   * @param flags `MSG_*` flags.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns How many bytes were sent.
   * @throws {BrokenPipeError} The stream is shut down or the peer is gone.
   * @throws {OSError} `[Errno 89]` an unconnected datagram socket.
   * @throws {TypeError} `data` is not bytes-like.
   *
   * @example
   * ```ts
   * import { socketpair } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * assert.equal(await a.send(new Uint8Array([1, 2, 3])), 3);
   * assert.deepEqual(await b.recv(3), new Uint8Array([1, 2, 3]));
   * ```
   */
  async send(
    data: ArrayBufferView | ArrayBuffer,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<number> {
    optionsAt(arguments, 2, ARITY.send, 1);
    if (isOptionsArg(flags, arguments, "send")) {
      [flags, options] = [0, flags];
    }
    const bytes = requireBytes(data);
    const f = toCInt(flags);
    const signal = options?.signal;
    throwIfAborted(signal);
    let owes = false;
    try {
      const closed = closeFirst();
      if (closed !== undefined) await closed;
      const sock = this.#live();
      owes = this.#names.reaches(sock);
      return await sock.send(bytes, f, this.#wait(f), signal);
    } catch (e) {
      throw abortReason(e, signal);
    } finally {
      if (owes) stir();
    }
  }

  /**
   * Send all of the data, or fail. The timeout is one deadline for the whole
   * call.
   *
   * @param data The bytes.
   * @param flags `MSG_*` flags.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @throws {TimeoutError} The deadline passed; part of the data may be sent.
   * @throws {BlockingIOError} Non-blocking and the send buffer is full.
   * @throws {BrokenPipeError} The peer is gone.
   *
   * @example
   * ```ts
   * import { socketpair } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await a.sendall(new TextEncoder().encode("all of it"));
   * a.shutdown(1);
   * let got = "";
   * for (let chunk; (chunk = await b.recv(4)).length > 0;) {
   *   got += new TextDecoder().decode(chunk);
   * }
   * assert.equal(got, "all of it");
   * ```
   */
  async sendall(
    data: ArrayBufferView | ArrayBuffer,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<void> {
    optionsAt(arguments, 2, ARITY.sendall, 1);
    if (isOptionsArg(flags, arguments, "sendall")) {
      [flags, options] = [0, flags];
    }
    let bytes = requireBytes(data);
    const f = toCInt(flags);
    const signal = options?.signal;
    throwIfAborted(signal);
    this.#live();
    const deadline = new Deadline(this.#wait(f));
    let owes = false;
    try {
      const closed = closeFirst();
      if (closed !== undefined) await closed;
      for (let first = true;; first = false) {
        // The first send is made however short the timeout (CPython's
        // polls with it, and a socket with room is ready at once).
        if (!first && deadline.expired) throw deadline.error();
        if (signal?.aborted) throw signal.reason;
        // #live() each time: a close() during the call stops it with EBADF.
        const length = bytes.length;
        const sock = this.#live();
        owes ||= this.#names.reaches(sock);
        // A number when the kernel took the bytes at once: no await.
        const sent = sock.send(bytes, f, deadline.left(), signal);
        const n = typeof sent === "number" ? sent : await sent;
        if (n >= length) return;
        if (bytes.length < length) {
          // Detached or shrunk while the send waited: the rest is gone.
          throw new BufferError(
            "sendall() buffer was detached or resized while the call waited",
          );
        }
        bytes = bytes.subarray(n);
      }
    } catch (e) {
      throw abortReason(e, signal);
    } finally {
      if (owes) stir();
    }
  }

  /**
   * Send a datagram to an address (`sendto(data, address)` or
   * `sendto(data, flags, address)`). An unbound socket is bound first.
   *
   * @param data The bytes.
   * @param address The address.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns How many bytes were sent.
   * @throws {OSError} `[Errno 90]` datagram too long.
   * @throws {PermissionError} `[Errno 13]` broadcast without SO_BROADCAST.
   * @throws {OverflowError} A port outside 0-65535.
   *
   * @example
   * ```ts
   * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using a = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * assert.equal(await b.sendto(new Uint8Array(5), a.getsockname()), 5);
   * assert.equal((await a.recv(10)).length, 5);
   * ```
   */
  sendto(
    data: ArrayBufferView | ArrayBuffer,
    address: Address,
    options?: AbortOptions,
  ): Promise<number>;
  /**
   * Send a datagram to an address, with `MSG_*` flags.
   *
   * @param data The bytes.
   * @param flags `MSG_*` flags, OR-ed together.
   * @param address The address.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns How many bytes were sent.
   * @throws {OSError} `[Errno 90]` datagram too long.
   *
   * @example
   * ```ts
   * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using a = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * assert.equal(await b.sendto(new Uint8Array(5), 0, a.getsockname()), 5);
   * assert.equal((await a.recv(10)).length, 5);
   * ```
   */
  sendto(
    data: ArrayBufferView | ArrayBuffer,
    flags: number,
    address: Address,
    options?: AbortOptions,
  ): Promise<number>;
  async sendto(
    data: ArrayBufferView | ArrayBuffer,
    flagsOrAddress: number | Address,
    addressOrOptions?: Address | AbortOptions,
    options?: AbortOptions,
  ): Promise<number> {
    optionsAt(arguments, 3, ARITY.sendto, 2);
    const bytes = requireBytes(data);
    let f = 0;
    let target: unknown = flagsOrAddress;
    if (
      addressOrOptions !== undefined &&
      !sendtoOptions(flagsOrAddress, addressOrOptions)
    ) {
      f = toCInt(flagsOrAddress);
      target = addressOrOptions;
    } else if (addressOrOptions !== undefined) {
      options = optionsLast(addressOrOptions, arguments, "sendto");
    }
    const signal = options?.signal;
    throwIfAborted(signal);
    const addr = await addressForConnect(
      this.#family,
      target,
      "sendto",
      signal,
    );
    this.#permit(addr, "send");
    let owes = false;
    try {
      const sock = this.#live();
      // A stream sends on its connection, whatever the address says.
      owes = this.#type === SOCK_STREAM
        ? this.#names.reaches(sock)
        : this.#names.toward(addr);
      const n = await sock.sendto(bytes, f, addr, this.#wait(f), signal);
      this.#names.sent(sock);
      return n;
    } catch (e) {
      throw abortReason(e, signal);
    } finally {
      if (owes) stir();
    }
  }

  /**
   * Send data gathered from several buffers, with ancillary data (control
   * messages) and, on an unconnected datagram socket, a destination:
   * Python's `sendmsg`.
   *
   * Ancillary data needs the libc backend (`SCM_RIGHTS` descriptors,
   * `SCM_CREDENTIALS`, `IP_PKTINFO`...); on the Deno backend a call without
   * it works as `send()` / `sendto()` of the buffers joined.
   *
   * @param buffers Bytes-like values, sent in order as one message.
   * @param ancdata `[level, type, data]` control messages.
   * @param flags `MSG_*` flags.
   * @param address The destination, or `null` for the connected peer.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns How many bytes of data were sent.
   * @throws {OSError} EOPNOTSUPP for ancillary data on the Deno backend;
   *   what the kernel says (`[Errno 9]` for a closed descriptor in
   *   SCM_RIGHTS, `[Errno 90]` for more than 1024 buffers).
   * @throws {TypeError} Python's messages for arguments of the wrong shape.
   * @throws {TimeoutError} The timeout passed first.
   *
   * @example Gather two buffers into one datagram
   * ```ts
   * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using a = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * const text = new TextEncoder();
   * const parts = [text.encode("hello, "), text.encode("world")];
   * assert.equal(await b.sendmsg(parts, [], 0, a.getsockname()), 12);
   * assert.equal(new TextDecoder().decode(await a.recv(100)), "hello, world");
   * ```
   */
  async sendmsg(
    buffers: Iterable<ArrayBufferView | ArrayBuffer>,
    ancdata: Iterable<AncDataIn> | AbortOptions = [],
    flags: number | AbortOptions = 0,
    address: Address | null | AbortOptions = null,
    options?: AbortOptions,
  ): Promise<number> {
    optionsAt(arguments, 4, ARITY.sendmsg, 1);
    if (isOptionsArg(ancdata, arguments, "sendmsg")) {
      [ancdata, flags, address, options] = [
        [],
        0,
        null,
        ancdata,
      ];
    } else if (isOptionsArg(flags, arguments, "sendmsg")) {
      [flags, address, options] = [0, null, flags];
    } else if (isOptionsArg(address, arguments, "sendmsg")) {
      [address, options] = [null, address];
    }
    // CPython's order: the flags are parsed with the arguments, then the
    // buffers and the items.
    const f = toCInt(flags);
    const bufs = sendBuffers(buffers);
    const items = ancillaryItems(ancdata);
    const signal = options?.signal;
    throwIfAborted(signal);
    this.#live();
    const addr = address === null || address === undefined
      ? null
      : await addressForConnect(
        this.#family,
        address,
        "sendmsg",
        signal,
      );
    if (addr !== null) this.#permit(addr, "send");
    let owes = false;
    try {
      const sock = this.#live();
      owes = addr === null
        ? this.#names.reaches(sock)
        : this.#names.toward(addr);
      const n = await sendmsgOn(
        sock,
        bufs,
        items,
        f,
        addr,
        this.#wait(f),
        signal,
      );
      if (addr !== null) this.#names.sent(sock);
      return n;
    } catch (e) {
      throw abortReason(e, signal);
    } finally {
      if (owes) stir();
    }
  }

  /**
   * Receive up to `bufsize` bytes and up to `ancbufsize` bytes of ancillary
   * data: Python's `recvmsg`. `msg_flags` is what the kernel reports:
   * `MSG_TRUNC` when a datagram was longer than `bufsize`, `MSG_CTRUNC` when
   * control messages did not fit (size the buffer with `CMSG_SPACE`).
   *
   * Descriptors received in `SCM_RIGHTS` are open, close-on-exec (unlike
   * CPython's, which children inherit) and yours to close. Ancillary data
   * needs the libc backend; on the Deno backend `ancbufsize` must be 0 and
   * the call works as `recvfrom()`.
   *
   * @param bufsize The most bytes of data.
   * @param ancbufsize The control buffer's size; `0` receives none.
   * @param flags `MSG_*` flags.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns `[data, ancdata, msg_flags, address]`; the address is `null`
   *   where the kernel gives none (a connected stream).
   * @throws {ValueError} A negative `bufsize`; `invalid ancillary data
   *   buffer length`.
   * @throws {OSError} EOPNOTSUPP for `ancbufsize` on the Deno backend.
   * @throws {TimeoutError} The timeout passed first; nothing is lost.
   *
   * @example A datagram longer than the buffer sets MSG_TRUNC
   * ```ts
   * import { AF_INET, MSG_TRUNC, SOCK_DGRAM, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using a = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * await b.sendto(new Uint8Array([1, 2, 3, 4]), a.getsockname());
   * const [data, ancdata, msgFlags, from] = await a.recvmsg(2);
   * assert.deepEqual(data, new Uint8Array([1, 2]));
   * assert.deepEqual(ancdata, []);
   * assert.equal(msgFlags, MSG_TRUNC);
   * assert.equal(from[1], b.getsockname()[1]);
   * ```
   */
  async recvmsg(
    bufsize: number,
    ancbufsize: number | AbortOptions = 0,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<[Uint8Array<ArrayBuffer>, AncData[], number, S]> {
    optionsAt(arguments, 3, ARITY.recvmsg, 1);
    if (isOptionsArg(ancbufsize, arguments, "recvmsg")) {
      [ancbufsize, flags, options] = [0, 0, ancbufsize];
    } else if (isOptionsArg(flags, arguments, "recvmsg")) {
      [flags, options] = [0, flags];
    }
    // CPython parses every argument ("n|ni") before it checks a value.
    const sizeArg = ssize(bufsize);
    const ancArg = ssize(ancbufsize);
    const f = toCInt(flags);
    const size = recvmsgSize(sizeArg, MAX_RECV);
    const anc = ancBufSize(ancArg);
    const signal = options?.signal;
    throwIfAborted(signal);
    const sock = this.#live();
    const buf = new Uint8Array(size);
    try {
      const [n, items, msgFlags, from] = await recvmsgOn(
        sock,
        this.#type,
        [buf],
        anc,
        f,
        this.#wait(f),
        signal,
      );
      return [
        trim(buf, Math.min(n, size)),
        items,
        msgFlags,
        this.#sender(from),
      ];
    } catch (e) {
      throw abortReason(e, signal);
    }
  }

  /**
   * Receive into several buffers, filled in order (scatter), with ancillary
   * data: Python's `recvmsg_into`. As {@linkcode Socket.recvmsg}, but the
   * data goes into the caller's buffers.
   *
   * @param buffers Writable bytes-like values.
   * @param ancbufsize The control buffer's size; `0` receives none.
   * @param flags `MSG_*` flags.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would (nothing lost, the socket still usable).
   * @returns `[nbytes, ancdata, msg_flags, address]`; with `MSG_TRUNC` in
   *   `flags`, `nbytes` is a datagram's whole length, as the kernel says.
   * @throws {TypeError} A buffer that is not bytes-like.
   * @throws {ValueError} `invalid ancillary data buffer length`.
   * @throws {OSError} EOPNOTSUPP for `ancbufsize` on the Deno backend.
   *
   * @example Scatter a message over three buffers
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await a.sendall(new TextEncoder().encode("Mary had a little lamb"));
   * const b1 = new Uint8Array(4), b2 = new Uint8Array(5), b3 = new Uint8Array(20);
   * const [n] = await b.recvmsg_into([b1, b2, b3]);
   * assert.equal(n, 22);
   * assert.equal(new TextDecoder().decode(b2), " had ");
   * ```
   */
  async recvmsg_into(
    buffers: Iterable<ArrayBufferView | ArrayBuffer>,
    ancbufsize: number | AbortOptions = 0,
    flags: number | AbortOptions = 0,
    options?: AbortOptions,
  ): Promise<[number, AncData[], number, S]> {
    optionsAt(arguments, 3, ARITY.recvmsg_into, 1);
    if (isOptionsArg(ancbufsize, arguments, "recvmsg_into")) {
      [ancbufsize, flags, options] = [0, 0, ancbufsize];
    } else if (isOptionsArg(flags, arguments, "recvmsg_into")) {
      [flags, options] = [0, flags];
    }
    // As CPython's ("O|ni"): the numbers are parsed first, then the
    // buffers, then ancbufsize's range.
    const ancArg = ssize(ancbufsize);
    const f = toCInt(flags);
    const bufs = intoBuffers(buffers);
    const anc = ancBufSize(ancArg);
    const signal = options?.signal;
    throwIfAborted(signal);
    const sock = this.#live();
    const length = totalLength(bufs);
    try {
      const [n, items, msgFlags, from] = await recvmsgOn(
        sock,
        this.#type,
        bufs,
        anc,
        f,
        this.#wait(f),
        signal,
      );
      try {
        intact(totalLength(bufs), length, n, "recvmsg_into");
      } catch (e) {
        // The call fails: descriptors it received would have no owner.
        closeRights(rightsIn(items));
        throw e;
      }
      return [n, items, msgFlags, this.#sender(from)];
    } catch (e) {
      throw abortReason(e, signal);
    }
  }

  /**
   * Send a file: Python's `socket.sendfile`. Uses the kernel's sendfile(2)
   * on the libc backend (with `--allow-ffi`), else reads and sends in large
   * chunks, reading the next while the last is sent.
   *
   * @param file An open file (`Deno.open`).
   * @param offset Where in the file to start.
   * @param count The most bytes to send; `null` sends to the end.
   * @param options `signal`: aborting rejects the call with its reason,
   *   as a timeout would.
   * @returns The bytes sent; the file's position ends at `offset + sent`.
   * @throws {ValueError} A non-blocking socket ("non-blocking sockets are
   *   not supported"), a datagram socket, a `count` that is not positive,
   *   or a closed socket ("Invalid file descriptor: -1", as CPython's; an
   *   empty file still sends 0).
   * @throws {TimeoutError} The socket's timeout passed while waiting to send.
   * @throws {TypeError} `file` is not an open file (CPython raises
   *   AttributeError).
   *
   * @example Send a file over a socket pair
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const path = await Deno.makeTempFile();
   * await Deno.writeTextFile(path, "hello, file");
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * using file = await Deno.open(path);
   * assert.equal(await a.sendfile(file, 7), 4);
   * assert.equal(new TextDecoder().decode(await b.recv(100)), "file");
   * assert.equal(await file.seek(0, Deno.SeekMode.Current), 11);
   * await Deno.remove(path);
   * ```
   */
  async sendfile(
    file: Deno.FsFile,
    offset: number | AbortOptions = 0,
    count: number | null | AbortOptions = null,
    options?: AbortOptions,
  ): Promise<number> {
    optionsAt(arguments, 3, ARITY.sendfile, 1);
    if (isOptionsArg(offset, arguments, "sendfile")) {
      [offset, count, options] = [0, null, offset];
    } else if (isOptionsArg(count, arguments, "sendfile")) {
      [count, options] = [null, count];
    }
    const signal = options?.signal;
    throwIfAborted(signal);
    // A closed socket fails where CPython's does: after the file's checks.
    const sock = this.#sock;
    const kernel = sock?.sendfile;
    const owes = sock !== null && this.#names.reaches(sock);
    try {
      return await sendfile(
        {
          type: this.#type,
          timeout: this.#timeout,
          closed: sock === null,
          kernel: sock === null || kernel === undefined
            ? null
            : (fd, off, n) =>
              kernel.call(sock, fd, off, n, this.#wait(0), signal),
          descriptor: fileDescriptorOf,
          send: (data) => this.send(data, 0, options),
        },
        file,
        offset,
        count,
      );
    } catch (e) {
      throw abortReason(e, signal);
    } finally {
      if (owes) stir();
    }
  }

  /**
   * Set the timeout for blocking operations.
   *
   * @param value Seconds; `0` is non-blocking, `null` blocks forever.
   * @throws {ValueError} Negative or NaN.
   * @throws {OSError} `[Errno 9]` the socket is closed.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * s.settimeout(2);
   * assert.equal(s.gettimeout(), 2);
   * assert.equal(s.getblocking(), true);
   * s.settimeout(0);
   * assert.equal(s.getblocking(), false);
   * ```
   */
  settimeout(value: number | null): void {
    argumentCount(arguments, 1, 1, ARITY.settimeout);
    const t = toTimeout(value);
    // CPython records the timeout before it sets the descriptor's mode: a
    // closed socket's raises EBADF with the new timeout kept.
    this.#timeout = t;
    preloadFor(t);
    this.#live().setBlocking?.(t === null);
  }

  /**
   * The timeout in seconds, or `null` when blocking without one.
   *
   * @returns The timeout.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * assert.equal(s.gettimeout(), null);
   * ```
   */
  gettimeout(): number | null {
    argumentCount(arguments, 0, 0, ARITY.gettimeout);
    return this.#timeout;
  }

  /**
   * Blocking (`true`: `settimeout(null)`) or non-blocking (`false`:
   * `settimeout(0)`).
   *
   * @param flag Whether to block.
   * @throws {OSError} `[Errno 9]` the socket is closed.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * s.setblocking(false);
   * assert.equal(s.gettimeout(), 0);
   * ```
   */
  setblocking(flag: boolean | number): void {
    argumentCount(arguments, 1, 1, ARITY.setblocking);
    // An int, as CPython reads it: a bool or an integer (None, a float or
    // a string is a TypeError).
    this.settimeout(toCLong(flag) ? null : 0);
  }

  /**
   * Whether the socket blocks (its timeout is not 0).
   *
   * @returns `false` when non-blocking.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * assert.equal(s.getblocking(), true);
   * ```
   */
  getblocking(): boolean {
    argumentCount(arguments, 0, 0, ARITY.getblocking);
    return this.#timeout !== 0;
  }

  /**
   * The socket's own address.
   *
   * @returns `[host, port]` (AF_INET6: 4 items), a unix path (`""` unbound),
   *   or bytes for an abstract name.
   * @throws {OSError} `[Errno 9]` closed.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * assert.deepEqual(s.getsockname(), ["0.0.0.0", 0]);
   * ```
   */
  getsockname(): A {
    argumentCount(arguments, 0, 0, ARITY.getsockname);
    return this.#address(this.#live().getsockname());
  }

  /**
   * The connected peer's address.
   *
   * @returns The address, as {@linkcode Socket.getsockname}.
   * @throws {OSError} `[Errno 107]` not connected.
   *
   * @example
   * ```ts
   * import { OSError, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * assert.throws(() => s.getpeername(), (e) => e instanceof OSError && e.errno === 107);
   * ```
   */
  getpeername(): A {
    argumentCount(arguments, 0, 0, ARITY.getpeername);
    return this.#address(this.#live().getpeername());
  }

  /**
   * Set a socket option to an integer or bytes (see the four-argument
   * form below for no buffer at all).
   *
   * @param level `SOL_SOCKET`, `IPPROTO_TCP`, ...
   * @param option `SO_REUSEADDR`, `TCP_NODELAY`, ...
   * @param value An integer (booleans count as 0/1) or raw bytes.
   * @throws {OSError} `[Errno 92]` an option the backend cannot set (the
   *   Deno backend has a few; libc has all of the kernel's).
   * @throws {TypeError} A value that is neither.
   *
   * @example
   * ```ts
   * import { IPPROTO_TCP, socket, TCP_NODELAY } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
   * assert.notEqual(s.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
   * ```
   */
  setsockopt(
    level: number,
    option: number,
    value: number | boolean | ArrayBufferView | ArrayBuffer,
  ): void;
  /**
   * Set a socket option with no buffer: Python's four-argument
   * `setsockopt(level, option, None, optlen)` passes a NULL optval with
   * `optlen` (`SO_BINDTODEVICE` with `(null, 0)` unbinds). Libc sockets
   * only: the Deno backend raises OSError 92 naming libc.
   *
   * @param level `SOL_SOCKET`, `IPPROTO_TCP`, ...
   * @param option `SO_BINDTODEVICE`, ...
   * @param value `null`.
   * @param optlen The length passed: an unsigned C int, taken modulo
   *   2 ** 32 as Python's.
   * @throws {OSError} What the kernel says (`[Errno 14]` for an option
   *   that wants a buffer of that length); `[Errno 92]` on the Deno
   *   backend.
   * @throws {TypeError} Four arguments whose third is not `null`
   *   ("setsockopt() takes exactly 3 arguments (4 given)", as Python's).
   *
   * @example
   * ```ts
   * import { OSError, SO_KEEPALIVE, SOL_SOCKET, socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * assert.throws(
   *   () => s.setsockopt(SOL_SOCKET, SO_KEEPALIVE, null, 4),
   *   (e) => e instanceof OSError,
   * );
   * ```
   */
  setsockopt(level: number, option: number, value: null, optlen: number): void;
  setsockopt(
    level: number,
    option: number,
    value: number | boolean | ArrayBufferView | ArrayBuffer | null,
    optlen?: number,
  ): void {
    argumentCount(arguments, 3, 4, ARITY.setsockopt);
    if (optlen !== undefined) {
      // CPython's "iiO!I": anything else with four arguments fails its
      // last try, "iiy*", on the count.
      let l: number, o: number, n: number;
      try {
        l = toCInt(level);
        o = toCInt(option);
        if (value !== null) throw new TypeError();
        n = toUIntMask(optlen);
      } catch (e) {
        if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
        throw new TypeError("setsockopt() takes exactly 3 arguments (4 given)");
      }
      this.#live().setsockopt(l, o, null, n);
      return;
    }
    const l = toCInt(level), o = toCInt(option);
    let v: number | Uint8Array;
    if (
      (typeof value === "number" && Number.isInteger(value)) ||
      typeof value === "boolean" || typeof value === "bigint"
    ) {
      v = toInt(value);
      // CPython parses an int value as a C int, then tries bytes.
      if (v > 0x7fffffff || v < -0x80000000) requireBytes(value);
    } else {
      // A float too: CPython's last try, bytes, names the type.
      v = requireBytes(value);
    }
    this.#live().setsockopt(l, o, v);
  }

  /**
   * Read a socket option: an integer without `buflen` (or 0), else its raw
   * bytes, as Python's. The type follows: `err = s.getsockopt(SOL_SOCKET,
   * SO_ERROR)` is a number, `getsockopt(SOL_SOCKET, SO_LINGER, 8)` bytes.
   *
   * @typeParam N `buflen`'s type: `0` gives `number`, another literal
   *   `Uint8Array`, a plain `number` either.
   * @param level The option level.
   * @param option The option.
   * @param buflen `0` for an integer, else the most bytes to return.
   * @returns The integer value, or the raw bytes.
   * @throws {OSError} `[Errno 92]` unknown option; `getsockopt buflen out of range`.
   *
   * @example
   * ```ts
   * import { SO_TYPE, SOCK_STREAM, socket, SOL_SOCKET } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket();
   * const type: number = s.getsockopt(SOL_SOCKET, SO_TYPE);
   * assert.equal(type, SOCK_STREAM);
   * // SOCK_STREAM (1) as a C int, little-endian on x86-64 and arm64
   * const raw: Uint8Array = s.getsockopt(SOL_SOCKET, SO_TYPE, 4);
   * assert.deepEqual(raw, new Uint8Array([1, 0, 0, 0]));
   * ```
   */
  getsockopt<N extends number = 0>(
    level: number,
    option: number,
    buflen?: N,
  ): number extends N ? number | Uint8Array : N extends 0 ? number
  : Uint8Array {
    argumentCount(arguments, 2, 3, ARITY.getsockopt);
    const l = toCInt(level), o = toCInt(option);
    const n = toCInt(buflen === undefined ? 0 : buflen);
    if (n < 0 || n > 1024) throw new OSError("getsockopt buflen out of range");
    return this.#live().getsockopt(l, o, n) as never;
  }

  /**
   * Shut down one or both directions.
   *
   * @param how `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
   * @throws {OSError} `[Errno 107]` not connected; `[Errno 22]` a bad `how`.
   *
   * @example Half-close: the peer sees EOF, the other direction still works
   * ```ts
   * import { SHUT_WR, socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * a.shutdown(SHUT_WR);
   * assert.equal((await b.recv(10)).length, 0);
   * await b.sendall(new Uint8Array([1]));
   * assert.deepEqual(await a.recv(10), new Uint8Array([1]));
   * ```
   */
  shutdown(how: number): void {
    argumentCount(arguments, 1, 1, ARITY.shutdown);
    const h = asCInt(how);
    const sock = this.#live();
    if (h < SHUT_RD || h > SHUT_RDWR) throw new OSError(E.EINVAL);
    if (this.#names.reaches(sock)) stir();
    sock.shutdown(h);
  }

  /**
   * The descriptor: the real one on the libc backend, a stable pseudo number
   * on the Deno backend (Deno exposes none); -1 once closed.
   *
   * @returns The descriptor.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * const s = socket();
   * assert.ok(s.fileno() >= 0);
   * s.close();
   * assert.equal(s.fileno(), -1);
   * ```
   */
  fileno(): number {
    argumentCount(arguments, 0, 0, ARITY.fileno);
    return this.#sock === null ? -1 : this.#sock.fileno();
  }

  /**
   * Close the socket. Idempotent; calls still pending reject with
   * `OSError` errno 9. While files made by {@linkcode Socket.makefile} are
   * open, the descriptor stays open (and the socket usable) until the last
   * of them is closed, as in Python.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   *
   * const s = socket();
   * s.close();
   * s.close(); // fine
   * ```
   */
  close(): void {
    argumentCount(arguments, 0, 0, ARITY.close);
    this.#closeCalled = true;
    // A file from makefile() keeps the descriptor open; the last file's
    // close() closes it (CPython's _io_refs).
    if (this.#ioRefs > 0) return;
    const sock = this.#sock;
    if (sock === null) return;
    if (this.#names.reaches(sock)) stir();
    // Deno closes it in the kernel once its loop turns (a read or accept
    // in flight holds it): a libc peer's look owes that turn.
    if (this.#backend.name === "deno") stirClose();
    this.#sock = null;
    this.#names.release();
    dropped.unregister(this);
    sock.close();
  }

  /**
   * Close the socket object without closing the descriptor (libc backend).
   *
   * @returns The descriptor, or -1 if already closed.
   * @throws {OSError} The Deno backend has no descriptor to hand over.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * const s = socket();
   * s.close();
   * assert.equal(s.detach(), -1);
   * ```
   */
  detach(): number {
    argumentCount(arguments, 0, 0, ARITY.detach);
    const sock = this.#sock;
    if (sock === null) return -1;
    const fd = sock.detach();
    this.#sock = null;
    this.#names.release();
    dropped.unregister(this);
    return fd;
  }

  /**
   * A file object for the socket: Python's `makefile()`. Binary modes
   * (`"rb"`, `"wb"`, `"rwb"`) give a {@linkcode BinarySocketFile} reading
   * and writing `Uint8Array`s, text modes (`"r"`, the default, `"w"`,
   * `"rw"`) a {@linkcode TextSocketFile} of strings, UTF-8 by default, with
   * universal newlines. Every read and write returns a Promise.
   *
   * The socket's descriptor stays open until the socket and every file made
   * from it are closed. The socket's timeout applies to each socket call a
   * file makes; a timeout raises `TimeoutError` and loses nothing.
   *
   * @param mode Any of `r`, `w` and `b`: `"r"` (default), `"w"`, `"rw"`,
   *   `"rb"`, `"wb"`, `"rwb"`.
   * @param buffering The buffer's size; `null` or negative for 8192; `0`
   *   for no buffer (binary only): one socket call per read or write.
   * @param options `encoding`, `errors`, `newline`, as Python's (text only).
   * @returns The file.
   * @throws {ValueError} "invalid mode 'x' (only r, w, b allowed)";
   *   "unbuffered streams must be binary"; "illegal newline value: x".
   * @throws {LookupError} An unknown encoding.
   *
   * @example A request and its reply, line by line
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using client = a.makefile("rw");
   * await using server = b.makefile("rwb", 0);
   * await client.write("ping\n");
   * await client.flush();
   * const line = await server.readline();
   * assert.equal(new TextDecoder().decode(line), "ping\n");
   * await server.write(new TextEncoder().encode("pong\n"));
   * assert.equal(await client.readline(), "pong\n");
   * ```
   *
   * @example Python's keyword options, in buffering's place
   * ```ts
   * import { socketpair } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = await socketpair();
   * using _a = a, _b = b;
   * await using f = a.makefile("w", { encoding: "latin-1" });
   * await f.write("\u00e9\n");
   * await f.flush();
   * assert.deepEqual(await b.recv(10), new Uint8Array([0xe9, 10]));
   * ```
   */
  makefile(
    mode: BinaryFileMode,
    buffering?: number | null | MakefileOptions,
    options?: MakefileOptions,
  ): BinarySocketFile;
  /**
   * A text file for the socket (see the binary overload).
   *
   * @param mode `"r"` (default), `"w"`, `"rw"`.
   * @param buffering The buffer's size; `null` or negative for 8192; or
   *   the options, as Python's keywords leave buffering out.
   * @param options `encoding`, `errors`, `newline`.
   * @returns The file.
   */
  makefile(
    mode?: TextFileMode,
    buffering?: number | null | MakefileOptions,
    options?: MakefileOptions,
  ): TextSocketFile;
  /**
   * A file for the socket, binary or text by `mode` (see the overloads).
   *
   * @param mode Any of `r`, `w` and `b`.
   * @param buffering The buffer's size, or the options.
   * @param options `encoding`, `errors`, `newline`.
   * @returns The file.
   */
  makefile(
    mode?: string,
    buffering?: number | null | MakefileOptions,
    options?: MakefileOptions,
  ): BinarySocketFile | TextSocketFile;
  makefile(
    mode: string = "r",
    buffering: number | null | MakefileOptions = null,
    options?: MakefileOptions,
  ): BinarySocketFile | TextSocketFile {
    optionsAt(arguments, 2, ARITY.makefile);
    if (
      isOptionsArg<MakefileOptions>(
        buffering,
        arguments,
        "makefile",
        MAKEFILE_OPTIONS,
      )
    ) {
      [buffering, options] = [null, buffering];
    }
    return openFile(this, mode, buffering, options, {
      acquire: () => {
        this.#ioRefs++;
      },
      release: () => {
        if (this.#ioRefs > 0) this.#ioRefs--;
        if (this.#closeCalled) this.close();
      },
      giveBack: (bytes) =>
        (this.#sock as Partial<DirectReads> | null)
          ?.giveBack?.(bytes),
      recvOwn: (target, options) => this.#recvOwn(target, options),
    });
  }

  /**
   * A new socket on a duplicate of the descriptor (libc backend), with the
   * same timeout.
   *
   * @returns The duplicate.
   * @throws {OSError} `[Errno 9]` closed; the Deno backend cannot duplicate.
   *
   * @example
   * ```ts
   * import { socket } from "./socket.ts";
   * import assert from "node:assert/strict";
   *
   * const s = socket();
   * s.close();
   * assert.throws(() => s.dup());
   * ```
   */
  dup(): Socket<A, S> {
    argumentCount(arguments, 0, 0, ARITY.dup);
    const copy = wrapSocket<A, S>(
      this.#backend,
      this.#live().dup(),
      this.#family,
      this.#type,
      this.#proto,
    );
    // Python's dup() calls settimeout() on the copy.
    copy.settimeout(this.#timeout);
    return copy;
  }

  /**
   * Whether child processes inherit the descriptor (Python's
   * `get_inheritable`). Sockets start non-inheritable (close-on-exec), as
   * in Python. Libc backend only: Deno's sockets have no descriptor.
   *
   * @returns `false` unless {@linkcode Socket.set_inheritable} made it so.
   * @throws {OSError} `[Errno 9]` closed; EOPNOTSUPP on the Deno backend.
   *
   * @example Not run by `deno test --doc`: it loads libc (see fromfd's note)
   * ```ts ignore
   * import { socket } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using s = socket(undefined, undefined, undefined, { backend: "libc" });
   * assert.equal(s.get_inheritable(), false);
   * s.set_inheritable(true);
   * assert.equal(s.get_inheritable(), true);
   * ```
   */
  get_inheritable(): boolean {
    argumentCount(arguments, 0, 0, ARITY.get_inheritable);
    return inheritable(this.#backend.name, this.#live().fileno());
  }

  /**
   * Let child processes inherit the descriptor, or not (Python's
   * `set_inheritable`: FD_CLOEXEC cleared or set). Libc backend only.
   *
   * @param flag Whether children inherit it.
   * @throws {OSError} `[Errno 9]` closed; EOPNOTSUPP on the Deno backend.
   *
   * @example Not run by `deno test --doc`, as get_inheritable's
   * ```ts ignore
   * import { socket } from "./mod.ts";
   *
   * using s = socket(undefined, undefined, undefined, { backend: "libc" });
   * s.set_inheritable(true); // a child started now gets it
   * ```
   */
  set_inheritable(flag: boolean | number): void {
    argumentCount(arguments, 1, 1, ARITY.set_inheritable);
    // A C int, as os.set_inheritable() parses it, before anything else.
    const inheritable = asCInt(flag) !== 0;
    setInheritable(this.#backend.name, this.#live().fileno(), inheritable);
  }

  /** Close the socket at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Close the socket at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Python's repr: `<socket.socket fd=3, family=2, type=1, proto=0, laddr=...>`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /**
   * Python's repr of the socket.
   *
   * @returns `<socket.socket fd=3, family=2, type=1, proto=0, laddr=('127.0.0.1', 80)>`.
   */
  toString(): string {
    // As CPython's _closed: close() called, though a file from makefile()
    // still holds the descriptor open.
    const closed = this.#sock === null || this.#closeCalled;
    let s = `<socket.socket${
      closed ? " [closed]" : ""
    } fd=${this.fileno()}, family=${this.#family}, type=${this.#type}, proto=${this.#proto}`;
    if (!closed) {
      // Python's: any name but an empty one (an unnamed unix socket's), the
      // unbound 0.0.0.0 too, by str(): a unix path without quotes. Each is
      // left out where asking for it fails (raddr: not connected).
      const str = (a: SockAddr) => typeof a === "string" ? a : addressRepr(a);
      try {
        const laddr = this.getsockname();
        if (laddr.length !== 0) s += `, laddr=${str(laddr)}`;
      } catch {
        // No name to show.
      }
      try {
        const raddr = this.getpeername();
        if (raddr.length !== 0) s += `, raddr=${str(raddr)}`;
      } catch {
        // Not connected.
      }
    }
    return s + ">";
  }
}

// Python's messages for a method given too many arguments (or too few),
// made once: the check is a length test when the count is right.
const ARITY = {
  bind: builtinArity("socket.bind", 1),
  listen: parsedArity("listen", 0, 1),
  accept: defArity("socket.accept", 0, 0, true),
  connect: builtinArity("socket.connect", 1),
  connect_ex: builtinArity("socket.connect_ex", 1),
  recv: parsedArity("recv", 1, 2),
  recvfrom: parsedArity("recvfrom", 1, 2),
  recv_into: keywordsArity("recv_into", "buffer", 3),
  recvfrom_into: keywordsArity("recvfrom_into", "buffer", 3),
  send: parsedArity("send", 1, 2),
  sendall: parsedArity("sendall", 1, 2),
  sendto: (given: number) => `sendto() takes 2 or 3 arguments (${given} given)`,
  sendmsg: parsedArity("sendmsg", 1, 4),
  recvmsg: parsedArity("recvmsg", 1, 3),
  recvmsg_into: parsedArity("recvmsg_into", 1, 3),
  sendfile: defArity("socket.sendfile", 1, 3, true, ["file"]),
  settimeout: builtinArity("socket.settimeout", 1),
  gettimeout: builtinArity("socket.gettimeout", 0),
  setblocking: builtinArity("socket.setblocking", 1),
  getblocking: builtinArity("socket.getblocking", 0),
  getsockname: builtinArity("socket.getsockname", 0),
  getpeername: builtinArity("socket.getpeername", 0),
  setsockopt: parsedArity("setsockopt", 3, 3),
  getsockopt: parsedArity("getsockopt", 2, 3),
  shutdown: builtinArity("socket.shutdown", 1),
  fileno: builtinArity("socket.fileno", 0),
  close: defArity("socket.close", 0, 0, true),
  detach: defArity("socket.detach", 0, 0, true),
  dup: defArity("socket.dup", 0, 0, true),
  get_inheritable: defArity("socket.get_inheritable", 0, 0, true),
  set_inheritable: defArity("socket.set_inheritable", 1, 1, true, [
    "inheritable",
  ]),
  makefile: defArity("socket.makefile", 0, 2, true),
  // The module's functions.
  getdefaulttimeout: builtinArity("_socket.getdefaulttimeout", 0),
  setdefaulttimeout: builtinArity("_socket.setdefaulttimeout", 1),
  socket: defArity("socket.__init__", 0, 4, true),
  fromfd: defArity("fromfd", 3, 4, false, ["fd", "family", "type"]),
  closeFd: builtinArity("_socket.close", 1),
  socketpair: defArity("socketpair", 0, 3),
} as const;

// recv_into()'s message: it parses keywords too, and names a missing one.
function keywordsArity(
  fn: string,
  first: string,
  max: number,
): (given: number) => string {
  const most = parsedArity(fn, 1, max);
  return (given) =>
    given === 0
      ? `${fn}() missing required argument '${first}' (pos 1)`
      : most(given);
}

function trim(
  buf: Uint8Array<ArrayBuffer>,
  n: number,
): Uint8Array<ArrayBuffer> {
  if (n === buf.length) return buf;
  // A small result copies out so a large buffer is not kept alive by it.
  return n * 2 < buf.length ? buf.slice(0, n) : buf.subarray(0, n);
}

/**
 * Adopt an open descriptor: Python's `socket.socket(fileno=fd)`. A family
 * or type left out comes from the descriptor, so its addresses have the
 * general type ({@linkcode SockAddr}) unless the family is given.
 *
 * @param family The family, or `undefined` to take the descriptor's.
 * @param type The type, or `undefined` to take the descriptor's.
 * @param proto The protocol, or `undefined` to take the descriptor's.
 * @param fileno The descriptor, or {@linkcode SocketOptions} naming it.
 * @returns The socket, on the libc backend.
 * @throws {PermissionError} Without `--allow-ffi`.
 * @throws {OSError} `[Errno 9]` not an open descriptor, `[Errno 88]` not a
 *   socket.
 */
export function socket<
  F extends number | undefined = undefined,
  T extends number | undefined = undefined,
>(
  family: F,
  type: T,
  proto: number | undefined,
  fileno: number | (SocketOptions & { fileno: number }),
): Socket<
  AddressOf<[F] extends [number] ? F : number>,
  SenderOf<
    [F] extends [number] ? F : number,
    [T] extends [number] ? T : number
  >
>;
/**
 * Open a socket: Python's `socket.socket(family, type, proto, fileno)`.
 *
 * TCP, UDP and unix stream sockets run on Deno's own networking; raw and
 * seqpacket sockets, adopted descriptors and `{ backend: "libc" }` run on
 * libc through FFI (`--allow-ffi`).
 *
 * @param family `AF_INET` (default), `AF_INET6`, `AF_UNIX`, ...
 * @param type `SOCK_STREAM` (default), `SOCK_DGRAM`, `SOCK_RAW`, ...
 * @param proto The protocol, `0` for the default.
 * @param fileno A descriptor to adopt, or {@linkcode SocketOptions}.
 * @returns The new socket.
 * @throws {OSError} What the kernel says, e.g. `[Errno 94]` for SOCK_RDM.
 * @throws {PermissionError} A libc socket without `--allow-ffi`.
 *
 * @example
 * ```ts
 * import { AF_INET, SOCK_STREAM, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using s = socket(AF_INET, SOCK_STREAM);
 * assert.equal(s.family, AF_INET);
 * assert.equal(s.type, SOCK_STREAM);
 * ```
 */
export function socket<
  F extends number | undefined = undefined,
  T extends number | undefined = undefined,
>(
  family?: F,
  type?: T,
  proto?: number,
  fileno?: number | SocketOptions | null,
): Socket<
  // An omitted or undefined argument is Python's default.
  AddressOf<[F] extends [number] ? F : typeof AF_INET>,
  SenderOf<
    [F] extends [number] ? F : typeof AF_INET,
    [T] extends [number] ? T : typeof SOCK_STREAM
  >
>;
export function socket(
  family?: number,
  type?: number,
  proto?: number,
  fileno?: number | SocketOptions | null,
): Socket {
  argumentCount(arguments, 0, 4, ARITY.socket);
  return new Socket(family, type, proto, fileno);
}

// `s instanceof socket`, as Python's `isinstance(s, socket.socket)`: the
// factory answers for the class.
Object.defineProperty(socket, Symbol.hasInstance, {
  value: (value: unknown): boolean => value instanceof Socket,
});

/**
 * Python's `socket.SocketType`, the type of every socket:
 * {@linkcode Socket} under CPython's other name.
 *
 * @example
 * ```ts
 * import { socket, SocketType } from "./socket.ts";
 * import assert from "node:assert/strict";
 *
 * using s = socket();
 * assert.ok(s instanceof SocketType);
 * ```
 */
export const SocketType: typeof Socket = Socket;
/** The type of every socket (see {@linkcode Socket}). */
export type SocketType = Socket;

/**
 * A socket on a duplicate of the descriptor `fd`: Python's `socket.fromfd`.
 * The original stays open, and stays yours to close. Uses the libc backend
 * (`--allow-ffi`).
 *
 * @typeParam F The family, which types the socket's addresses as
 *   {@linkcode socket}'s does.
 * @typeParam T The type, which types `recvfrom()`'s sender.
 * @param fd An open socket descriptor.
 * @param family Its address family (`0` reads it from the descriptor).
 * @param type Its socket type (`0` reads it from the descriptor).
 * @param proto Its protocol.
 * @returns The new socket.
 * @throws {OSError} `[Errno 9]` not an open descriptor (naming the libc
 *   backend for a Deno-backend socket's `fileno()`); `[Errno 88]` not a socket.
 * @throws {PermissionError} Without `--allow-ffi`.
 *
 * @example Not run by `deno test --doc`: the first libc socket loads libc,
 * which the resource sanitizer counts against the example (README, Testing
 * code that uses libc sockets).
 * ```ts ignore
 * import { AF_INET, fromfd, SOCK_STREAM, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using original = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
 * original.bind(["127.0.0.1", 0]);
 * using copy = fromfd(original.fileno(), AF_INET, SOCK_STREAM);
 * assert.notEqual(copy.fileno(), original.fileno());
 * assert.deepEqual(copy.getsockname(), original.getsockname());
 * ```
 */
export function fromfd<F extends number, T extends number>(
  fd: number,
  family: F,
  type: T,
  proto = 0,
): Socket<AddressOf<F>, SenderOf<F, T>> {
  argumentCount(arguments, 3, 4, ARITY.fromfd);
  const n = toFd(fd);
  const fam = asCInt(family),
    typ = asCInt(type) & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  const pro = asCInt(proto);
  const backend = needLibc("fromfd()");
  const copy = backend.dupFd(libcDescriptor(n, "fromfd()"));
  try {
    const [sock, f, t, p] = backend.adopt(copy, fam, typ, pro);
    return wrapSocket(backend, sock, f, t, p);
  } catch (e) {
    backend.closeFd(copy);
    throw e;
  }
}

/**
 * Close a descriptor: Python's `socket.close(fd)`, for one taken with
 * {@linkcode Socket.detach}. Uses the libc backend (`--allow-ffi`).
 *
 * @param fd The descriptor.
 * @throws {OSError} `[Errno 9]` not an open descriptor (naming the libc
 *   backend for a Deno-backend socket's `fileno()`).
 * @throws {PermissionError} Without `--allow-ffi`.
 *
 * @example Not run by `deno test --doc`, for the same reason as fromfd's.
 * ```ts ignore
 * import { close, OSError, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const s = socket(undefined, undefined, undefined, { backend: "libc" });
 * const fd = s.detach();
 * close(fd);
 * assert.throws(() => close(fd), (e) => e instanceof OSError && e.errno === 9);
 * ```
 */
export function close(fd: number): void {
  argumentCount(arguments, 1, 1, ARITY.closeFd);
  needLibc("close()").closeFd(libcDescriptor(toFd(fd), "close()"));
}

/**
 * A pair of connected sockets: Python's `socket.socketpair()`. A unix
 * stream pair runs on Deno's networking, as `socket(AF_UNIX, SOCK_STREAM)`
 * does, unless `options.backend` asks for libc (a pair with descriptors, to
 * pass with `send_fds` or to a child process); SOCK_DGRAM and
 * SOCK_SEQPACKET pairs are socketpair(2) on the libc backend
 * (`--allow-ffi`).
 *
 * @param family `AF_UNIX` (default).
 * @param type `SOCK_STREAM` (default) or `SOCK_DGRAM` / `SOCK_SEQPACKET` (libc).
 * @param proto `0`.
 * @param options `backend`: which backend makes the pair, as for
 *   {@linkcode socket} (`null`: the default); `signal`: aborting rejects
 *   the call with its reason (a pair made all the same is closed).
 * @returns The two ends.
 * @throws {OSError} `[Errno 95]` for AF_INET, as on Linux; for
 *   `backend: "deno"` and a kind Deno's networking does not have. A kind
 *   Linux has no socket for is its socket(2) error first (`[Errno 97]` for
 *   an unknown family, `[Errno 22]` for a bad type).
 * @throws {PermissionError} `backend: "libc"` (or a kind only libc has)
 *   without `--allow-ffi`.
 *
 * @example
 * ```ts
 * import { socketpair } from "./socket.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * await a.sendall(new Uint8Array([42]));
 * assert.deepEqual(await b.recv(1), new Uint8Array([42]));
 * ```
 */
export async function socketpair<
  F extends number | undefined = undefined,
  T extends number | undefined = undefined,
>(
  family?: F,
  type?: T,
  proto = 0,
  options: (Pick<SocketOptions, "backend"> & AbortOptions) | null = null,
): Promise<
  // An omitted or undefined argument is Python's default.
  [
    Socket<
      AddressOf<[F] extends [number] ? F : typeof AF_UNIX>,
      SenderOf<
        [F] extends [number] ? F : typeof AF_UNIX,
        [T] extends [number] ? T : typeof SOCK_STREAM
      >
    >,
    Socket<
      AddressOf<[F] extends [number] ? F : typeof AF_UNIX>,
      SenderOf<
        [F] extends [number] ? F : typeof AF_UNIX,
        [T] extends [number] ? T : typeof SOCK_STREAM
      >
    >,
  ]
> {
  optionsAt(arguments, 3, ARITY.socketpair);
  const signal = options?.signal;
  throwIfAborted(signal);
  const fam = toCInt(family ?? AF_UNIX), pro = toCInt(proto);
  let typ = toCInt(type ?? SOCK_STREAM);
  const nonblock = (typ & SOCK_NONBLOCK) !== 0;
  typ &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  const backend = choosePairBackend(fam, typ, pro, {
    backend: options?.backend,
  });
  const making = backend.socketpair(fam, typ, pro);
  let x: BackendSocket, y: BackendSocket;
  try {
    [x, y] = await abortable(() => making, signal);
  } catch (e) {
    making.then(([a, b]) => {
      a.close();
      b.close();
    }, () => {});
    throw e;
  }
  type Fam = [F] extends [number] ? F : typeof AF_UNIX;
  type Kind = [T] extends [number] ? T : typeof SOCK_STREAM;
  const pair: [
    Socket<AddressOf<Fam>, SenderOf<Fam, Kind>>,
    Socket<AddressOf<Fam>, SenderOf<Fam, Kind>>,
  ] = [
    wrapSocket(backend, x, fam, typ, pro),
    wrapSocket(backend, y, fam, typ, pro),
  ];
  if (nonblock) { for (const s of pair) s.settimeout(0); }
  return pair;
}

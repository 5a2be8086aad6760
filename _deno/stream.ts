// The Deno backend: TCP and unix stream sockets on Deno.listen / Deno.connect
// (UDP is in udp.ts). It emulates the kernel's
// socket state machine where Deno's API has none, and reports what Deno
// cannot do as an OSError that names the libc backend.
import {
  AF_INET6,
  AF_UNIX,
  errno as E,
  IPPROTO_TCP,
  MSG_MORE,
  MSG_PEEK,
  MSG_WAITALL,
  SHUT_RD,
  SHUT_WR,
  SO_ERROR,
  SO_KEEPALIVE,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../constants.ts";
import { BlockingIOError, OSError, TimeoutError } from "../errors.ts";
import type { BackendSocket, SockAddr } from "../_backend.ts";
import { isUtf8 } from "../_args.ts";
import {
  badFd,
  budgeted,
  budgetSpent,
  Deadline,
  EXPIRED,
  letLoopTurn,
  longTimeout,
  loopTurnDue,
  pace,
  raceWait,
  settlesAtOnce,
  tick,
  turnLoop,
  type Wait,
  waitExpired,
  WOKEN,
} from "../_wait.ts";
import {
  DenoSocket,
  isLinkLocal,
  lettingGo,
  LIBC_HINT,
  optionBytes,
  Options,
  RECV_FLAGS,
  SEND_FLAGS,
  translate,
  unboundName,
  unsupportedFlags,
  withScope,
  zonedHost,
} from "./common.ts";
import {
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLRDHUP,
  POLLWRBAND,
  WAKE_ALL,
  WAKE_INPUT,
  WAKE_NONE,
  WAKE_OUTPUT,
} from "../_poll_bits.ts";
import { type HeldOp, startRead, startWrite } from "./held_ops.ts";
import type { StreamSink } from "../_streams.ts";
import { concat } from "../_codecs.ts";
import { keepName, removalPending } from "./unix_names.ts";
import { held, letGo, whileLetGo } from "../_ports_let_go.ts";

// accept() errors that mean only that this one client is already gone.
const DEAD_PEER = new Set<number>([E.ENOTCONN, E.ECONNRESET, E.ECONNABORTED]);
// What a TCP connect under way can fail with, later than the call: the
// kernel's socket error, which a non-blocking connect leaves to be taken.
// (Not an unreachable network or host: Linux says those within the call
// when it has no route, and Deno's error does not tell which it was.)
const SETTLED_CONNECT_ERRORS = new Set<number>([E.ECONNREFUSED, E.ETIMEDOUT]);
// The most one send() that may outlive its wait copies (see DenoStream.send).
const CHUNK = 1 << 18;
// Copy buffers of writes that settled in time, for the next such send of any
// socket: one per socket would hold CHUNK bytes of memory per idle
// connection; a new one per call costs page faults until GC recycles it. A
// buffer comes back only once Deno's write is done with it.
const spares: Uint8Array[] = [];
const SPARES = 4;
const READ_BUFFER = 1 << 16;
// The most a socket watched for POLLRDHUP reads ahead of its caller: about
// Linux's default TCP receive buffer (tcp_rmem: 131072).
const RDHUP_AHEAD = 1 << 17;
// The event loop turns a socket's first non-blocking send waits for its
// write (see #settlesIn): one was short 1 time in 100 under load.
const FIRST_WRITE_TURNS = 8;
// A non-blocking send whose write Deno put off past its turn's budget (see
// #settlesIn) waits this many ticks, then a poll of the kernel when the
// budget may be spent (else the buffer is full).
const BUDGET_TICKS = 2;
// The longest a non-blocking unix connect waits for Deno's answer (which
// comes within a turn of the event loop) before it says EINPROGRESS.
const UNIX_CONNECT_MS = 1000;
// How often a blocking unix connect to a full backlog tries again.
const UNIX_BACKLOG_MS = 10;
// An empty stash (only ever read, never written or transferred).
const NO_BYTES = new Uint8Array(0);
// The backlog bind() listens with: what Python's listen() takes by default
// (min(SOMAXCONN, 128)), so that a plain listen() keeps that listener and
// never releases the port to make it again.
const DENO_BACKLOG = 128;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

// Deno's unix sockets take a string path: a name that is not UTF-8 cannot
// be carried exactly, and a lossy one would reach another socket.
function unixPath(addr: SockAddr): string {
  let path: string;
  if (typeof addr === "string") path = addr;
  else {
    const bytes = addr as Uint8Array;
    if (!isUtf8(bytes)) {
      throw new OSError(
        E.EOPNOTSUPP,
        `an AF_UNIX name that is not UTF-8 cannot be passed to Deno's networking; ${LIBC_HINT}`,
      );
    }
    path = decoder.decode(bytes);
  }
  if (path === "\0" || path.startsWith("\0\0")) {
    // Deno reads such a name as another: "\0" autobinds, and "\0\0x"
    // loses a byte, a name another socket may hold.
    throw new OSError(
      E.EOPNOTSUPP,
      `an abstract AF_UNIX name that is empty or starts with a NUL byte cannot be passed to Deno's networking; ${LIBC_HINT}`,
    );
  }
  return path;
}

// What Linux's unix connect() finds at a path before it looks at the
// connecting socket: ENOENT (or ENOTDIR) where nothing is there,
// ECONNREFUSED where no socket is, EINVAL for an empty name; 0 where a
// socket is, or where it cannot be told (an abstract name, no read
// permission granted).
function unixPeerMissing(addr: SockAddr): number {
  const path = unixPath(addr);
  if (path === "") return E.EINVAL;
  if (path.startsWith("\0")) return 0;
  try {
    // Asked without a prompt: a misused socket's error is no reason to ask.
    const read = Deno.permissions.querySync({ name: "read", path });
    if (read.state !== "granted") return 0;
    return Deno.statSync(path).isSocket === false ? E.ECONNREFUSED : 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return E.ENOENT;
    if (e instanceof Deno.errors.NotADirectory) return E.ENOTDIR;
    return 0;
  }
}

function fromDeno(family: number, addr: Deno.Addr): SockAddr {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    const path = (addr as Deno.UnixAddr).path ?? "";
    return path.startsWith("\0") ? encoder.encode(path) : path;
  }
  const { hostname, port } = addr as Deno.NetAddr;
  return family === AF_INET6 ? [hostname, port, 0, 0] : [hostname, port];
}

/**
 * A write that outlived its call (Deno cannot cancel one): its own copy of
 * the bytes, and how many of them went once it settled.
 */
interface Behind {
  bytes: Uint8Array;
  sent: number;
  done: boolean;
  write: Promise<void>;
  readonly op: HeldOp;
}

/** A blocking recv()'s read into its own buffer (see DenoStream#readOwn). */
interface OwnRead {
  readonly op: HeldOp;
  /** Ends the call with this count. */
  readonly end: (n: number) => void;
  /** Ended by shutdown(): what the read brings is the socket's. */
  woken: boolean;
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Deno.connect() throws the signal's reason when the signal was aborted by
// the time its connect op came back, even where the op made the connection,
// which nothing then closes (a connection the peer sees open for good). It
// gets a signal of its own that only cancels an attempt under way: a
// connection made all the same comes back, and the socket keeps or closes
// it as its state says.
function cancelOnly(signals: AbortSignal[]): AbortSignal {
  const signal = AbortSignal.any(signals);
  Object.defineProperty(signal, "throwIfAborted", { value: () => {} });
  return signal;
}

// MSG_MORE on a stream only asks the kernel to hold a short segment back for
// more: Deno's writes go as they come, the same bytes in the same order.
const STREAM_SEND_FLAGS = SEND_FLAGS | MSG_MORE;

/** A TCP or unix stream socket on Deno.listen / Deno.connect. */
export class DenoStream extends DenoSocket implements BackendSocket {
  readonly #family: number;
  readonly #opts: Options;
  // Deno cannot bind without listening, so bind() listens at once: the port
  // is held from bind() on (a bind-release-listen dance would let another
  // socket take an ephemeral port in between), and listen() starts
  // accept(), making a TCP listener again if the backlog differs.
  #listener: Deno.Listener | null = null;
  #listening = false;
  // Where a listener stopped by shutdown() was: still the socket's name,
  // and where listen() listens again.
  #stopped: SockAddr | null = null;
  // The name of an accepted socket that has no connection (see
  // #resetBeforeAccept).
  #local: SockAddr | null = null;
  // A unix path as bind() (the listener's, for an accepted socket) and
  // connect() were given it: the names Linux reports where Deno made the
  // path absolute to bind it (whenever its permissions are scoped).
  #givenName: string | null = null;
  #givenPeer: string | null = null;
  // The backlog #listener was made with; listen(backlog) before any
  // accept makes the listener again when it differs.
  #backlog = DENO_BACKLOG;
  // The IPv6 scope id this socket connected with (0: none).
  #scope = 0;
  // One accept kept in flight; its outcome waits here for the next accept().
  #pendingAccept: Promise<void> | null = null;
  #accepted: Deno.Conn | null = null;
  #acceptError: unknown = null;
  #conn: Deno.Conn | null = null;
  #connecting: Promise<void> | null = null;
  // Aborts the TCP connect under way (see connect()).
  #connectAbort: AbortController | null = null;
  // shutdown() abandoned the connect under way (see shutdown()).
  #shutWhileConnecting = false;
  #connectDone = false;
  #connectError: Error | null = null;
  // A TCP connect with a timeout succeeded: the next connect() returns
  // (then EISCONN), as CPython's on Linux.
  #connectsOnceMore = false;
  // A non-blocking connect failed and something other than connect() took
  // its error (SO_ERROR, a recv, a send): as Linux keeps such a socket,
  // reads say EOF, polls say POLLIN | POLLOUT | POLLHUP, and the next
  // connect() says ECONNABORTED and leaves the socket new.
  #refused = false;
  // A refused socket that shutdown() was called on: connect() says EINVAL.
  #disconnecting = false;
  #anonymous = false;
  // Receiving: a read that outlived its caller's wait lands in #inner and
  // waits in #stash for the next recv, so a timeout never loses data. A
  // byte stream's read (streamRead) is #pendingRead too, into its own
  // buffer; what its stream no longer wants lands in #stash the same way.
  #inner: Uint8Array | null = null;
  #stash: Uint8Array = NO_BYTES;
  // The buffer of the stream read in flight (see readingInto).
  #readInto: ArrayBufferLike | null = null;
  #pendingRead: Promise<void> | null = null;
  // The op under #pendingRead, to hold the process while a caller waits.
  #readOp: HeldOp | null = null;
  // Resolved by giveBack() and streamAbandon(): a recv() or stream read
  // waiting for a read looks again.
  #lookAgain: PromiseWithResolvers<void> | null = null;
  // Blocking receives reading into buffers of their own (see #readOwn), in
  // the order they started: shutdown(SHUT_RD) ends them all with 0, as
  // Linux wakes every recv blocked in another thread, and their reads go on
  // as the socket's.
  #ownReads: Set<OwnRead> | null = null;
  #readError: Error | null = null;
  #eof = false;
  #shutRd = false;
  // Sending: a write that outlived its call (see #send).
  #behind: Behind | null = null;
  // What the last write left unsent, the kernel's buffer being full (a copy
  // this socket owns): the caller sends it next, and readiness writes it
  // ahead to learn when the buffer has room (see poll()).
  #unsent: Uint8Array | null = null;
  #wrote = false;
  // Sends begun, and the count when poll() last told a caller "writable":
  // the model can be wrong by a buffer filled exactly by the last write,
  // so the send that follows such an answer gets a turn of the event loop
  // (the peer reads meanwhile, in this process too) before it would block.
  #sends = 0;
  #writableAt = -1;
  #writeError: Error | null = null;
  #shutWr = false;
  // The kernel's socket is shut for writing (see #sendShut).
  #finSent = false;
  readonly #writeFailed = (e: unknown): never => {
    throw this.#ioError(e);
  };
  // Reset by the peer (ECONNRESET): both ways shut, as Linux's poll says.
  #reset = false;
  // Whether a call's wait holds the process; not on a daemon socket (see
  // daemon()).
  #held = true;

  // Whether Linux has closed the TCP connection, which then names no peer
  // and takes no shutdown(): reset, or shut down both ways (this side's FIN
  // sent, the peer's read). A unix stream socket keeps its peer.
  #disconnected(): boolean {
    return this.#family !== AF_UNIX &&
      (this.#reset || (this.#shutWr && this.#eof));
  }

  // What a failed read, write or connect raises: EBADF once closed.
  #ioError(e: unknown): Error {
    if (this.closed) return badFd();
    const err = translate(e);
    // EPIPE on a TCP socket not shut down for writing: the connection is
    // closed (the peer's reset after its FIN), as after ECONNRESET.
    if (
      err instanceof OSError && (err.errno === E.ECONNRESET ||
        (err.errno === E.EPIPE && this.#family !== AF_UNIX && !this.#shutWr))
    ) this.#reset = true;
    return err;
  }

  /**
   * @param family The socket's family.
   * @param conn The connection, for an accepted socket.
   * @param inherited The listener's options, which an accepted socket
   *   starts with, as Linux's copy of the listening socket.
   */
  constructor(
    family: number,
    conn: Deno.Conn | null = null,
    inherited?: Options,
  ) {
    super();
    this.#family = family;
    this.#opts = new Options(family, SOCK_STREAM, () => {
      const name = this.getsockname();
      return Array.isArray(name) && name[1] !== 0;
    });
    for (const [key, v] of inherited?.values ?? []) {
      this.#opts.values.set(key, v);
    }
    if (conn !== null) this.#adopt(conn);
  }

  // An accepted connection the peer reset first: as a refused connect
  // leaves a socket, with ECONNRESET pending, and the listener's name.
  static #resetBeforeAccept(family: number, name: SockAddr): DenoStream {
    const sock = new DenoStream(family);
    sock.#connecting = Promise.resolve();
    sock.#connectDone = true;
    sock.#connectError = new OSError(E.ECONNRESET);
    sock.#local = name;
    return sock;
  }

  /** Mark a socketpair end: its names read as '' like Linux's unnamed pair. */
  anonymous(): this {
    this.#anonymous = true;
    return this;
  }

  #adopt(conn: Deno.Conn): void {
    this.#conn = conn;
    if (this.#family !== AF_UNIX) {
      const tcp = conn as Deno.TcpConn;
      if (this.#opts.flag(IPPROTO_TCP, TCP_NODELAY)) tcp.setNoDelay(true);
      if (this.#opts.flag(SOL_SOCKET, SO_KEEPALIVE)) tcp.setKeepAlive(true);
    }
  }

  #listen(addr: SockAddr, backlog = DENO_BACKLOG): Deno.Listener {
    try {
      if (this.#family === AF_UNIX) {
        const path = unixPath(addr);
        const listener = Deno.listen({ transport: "unix", path });
        if (!path.startsWith("\0")) {
          keepName(path, () => !this.closed && this.#listener === listener);
          this.#givenName = path;
        }
        return listener;
      }
      const [host, port, , scope] = addr as [string, number, number?, number?];
      const listener = Deno.listen({
        transport: "tcp",
        hostname: zonedHost(addr),
        port,
        tcpBacklog: backlog,
      });
      this.#backlog = backlog;
      // Bound to a link: its peers there are on it too.
      if (scope && isLinkLocal(host)) this.#scope = scope;
      return listener;
    } catch (e) {
      throw translate(e);
    }
  }

  // #listen(), tried again on EADDRINUSE for a port that a listener of
  // this process let go of just before (see _ports_let_go.ts): bind() after
  // a server on the port closed, listen(backlog) making bind()'s listener
  // again, listen() after shutdown() stopped one.
  #listenAgain(addr: SockAddr, backlog = DENO_BACKLOG): Deno.Listener {
    if (this.#family === AF_UNIX) return this.#listen(addr, backlog);
    const listener = whileLetGo(
      "tcp",
      (addr as [string, number])[1],
      () => this.#listen(addr, backlog),
      (e) => e instanceof OSError && e.errno === E.EADDRINUSE,
    );
    held("tcp", (listener.addr as Deno.NetAddr).port);
    return listener;
  }

  // An IPv6 peer's host with its scope id as Deno.connect takes it
  // ("fe80::1%2"): Deno has no other way to say which link.
  #scoped(addr: SockAddr): string {
    const [host, , , scope] = addr as [string, number, number?, number?];
    const zoned = zonedHost(addr);
    if (zoned !== host) this.#scope = scope!;
    return zoned;
  }

  // An address Deno gave, with the scope id it leaves out: the one this
  // socket was bound or connected with, on link-local (fe80::/10) addresses.
  #withScope(addr: SockAddr): SockAddr {
    return withScope(addr, this.#scope);
  }

  // Linux autobinds a unix socket to an abstract name of five hex digits.
  #autobindUnix(): Deno.Listener {
    for (let i = 0;; i++) {
      const name = "\0" +
        Math.floor(Math.random() * 0x100000).toString(16).padStart(5, "0");
      try {
        return Deno.listen({ transport: "unix", path: name });
      } catch (e) {
        const err = translate(e);
        if (!(err instanceof OSError && err.errno === E.EADDRINUSE) || i > 64) {
          throw err;
        }
      }
    }
  }

  bind(addr: SockAddr): void {
    this.check();
    if (this.#listener || this.#conn || this.#connecting) {
      // Linux makes a unix path's node before it looks whether the socket
      // is bound: a path that is there is EADDRINUSE (python3's second
      // server_bind()), anything else EINVAL.
      throw new OSError(this.#pathThere(addr) ? E.EADDRINUSE : E.EINVAL);
    }
    const empty = this.#family === AF_UNIX && unixPath(addr) === "";
    this.#listener = empty ? this.#autobindUnix() : this.#listenAgain(addr);
    if (this.#family !== AF_UNIX) {
      this.#opts.bind((addr as [string, number])[0]);
    }
  }

  #pathThere(addr: SockAddr): boolean {
    if (this.#family !== AF_UNIX) return false;
    try {
      const path = unixPath(addr);
      if (path === "" || path.startsWith("\0")) return false;
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  }

  listen(backlog: number): void {
    this.check();
    if (this.#conn || this.#connecting || this.#refused) {
      throw new OSError(E.EINVAL);
    }
    if (this.#listener === null) {
      // Linux: no listening on an unbound unix socket.
      if (this.#family === AF_UNIX && this.#stopped === null) {
        throw new OSError(E.EINVAL);
      }
      this.#listener = this.#listenAgain(
        this.#stopped ??
          (this.#family === AF_INET6 ? ["::", 0] : ["0.0.0.0", 0]),
        backlog,
      );
      this.#stopped = null;
    } else if (
      this.#family !== AF_UNIX && !this.#listening && backlog !== this.#backlog
    ) {
      // bind() listened with Deno's backlog. The backlog is fixed when a
      // listener is made, so make it again on the same address: in the
      // same synchronous step (no other code runs between), with the
      // SO_REUSEADDR Deno's TCP listeners always have. Connections that
      // came before listen() are reset, as Linux refuses them then.
      const { hostname, port } = this.#listener.addr as Deno.NetAddr;
      letGo("tcp", port);
      this.#listener.close();
      this.#listener = null;
      this.#listener = this.#listenAgain(
        [hostname, port, 0, this.#scope],
        backlog,
      );
    }
    this.#listening = true;
  }

  async accept(
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[BackendSocket, SockAddr | null]> {
    this.check();
    const listener = this.#listener;
    if (!this.#listening || listener === null) throw new OSError(E.EINVAL);
    const deadline = new Deadline(wait);
    for (;;) {
      const conn = this.#accepted;
      if (conn !== null) {
        this.#accepted = null;
        // Taken: the watch looks again, to accept the next.
        this.watchers.notify(WAKE_NONE);
        const sock = new DenoStream(this.#family, conn, this.#opts);
        sock.#givenName = this.#givenName;
        sock.#scope = this.#scope;
        return [sock, sock.#withScope(fromDeno(this.#family, conn.remoteAddr))];
      }
      if (this.#acceptError !== null) {
        const err = translate(this.#acceptError);
        this.#acceptError = null;
        if (!(err instanceof OSError) || !DEAD_PEER.has(err.errno!)) throw err;
        // A client that connected and reset before Deno could read its
        // address (Deno closes such a connection): Linux's accept() still
        // returns it, and its first call reports the reset. So does this
        // one, a socket with nothing but that error; whose it was is lost.
        return [
          DenoStream.#resetBeforeAccept(this.#family, this.getsockname()),
          unboundName(this.#family),
        ];
      }
      const pending = this.#startAccept(listener);
      // Non-blocking: a connection already queued comes at once; else the
      // accept stays in flight for a later call.
      if (wait === 0) {
        if (await settlesAtOnce(pending)) continue;
        if (await letLoopTurn() && this.#pendingAccept === null) continue;
        throw deadline.error();
      }
      listener.ref();
      if (await raceWait(pending, deadline.left(), signal) === EXPIRED) {
        // As for reads: a pending accept does not keep the process alive.
        listener.unref();
        throw deadline.error();
      }
      if (this.closed) throw badFd();
      // Stopped by shutdown() meanwhile, as Linux wakes a blocked accept.
      if (!this.#listening) throw new OSError(E.EINVAL);
    }
  }

  // Keep one accept in flight; its outcome lands in #accepted/#acceptError.
  #startAccept(listener: Deno.Listener): Promise<void> {
    if (this.#pendingAccept !== null) return this.#pendingAccept;
    listener.unref();
    // What a listener stopped since (closed, or shut down) brings is
    // nobody's: the connection goes, the error is not this socket's.
    const p: Promise<void> = budgeted(listener.accept()).then(
      (conn) => {
        if (this.#pendingAccept === p) this.#pendingAccept = null;
        if (this.closed || listener !== this.#listener) conn.close();
        else this.#accepted = conn;
        this.settled(WAKE_INPUT);
      },
      (e) => {
        if (this.#pendingAccept === p) this.#pendingAccept = null;
        if (this.closed) this.#acceptError = badFd();
        else if (listener === this.#listener) this.#acceptError = e;
        this.settled();
      },
    );
    return this.#pendingAccept = p;
  }

  async connect(
    addr: SockAddr,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<void> {
    this.check();
    if (this.#disconnecting) throw new OSError(E.EINVAL);
    if (this.#connecting) {
      // A non-blocking connect is under way, or done and not yet reported:
      // report as the kernel would (success or failure once, then EISCONN
      // or a new attempt). One the kernel has made shows once Deno's loop
      // turns: one turn when one is owed (see letLoopTurn), as Linux's is
      // done (on loopback, by the time its first connect returned).
      if (
        !this.#connectDone &&
        (!(await letLoopTurn()) || !this.#connectDone)
      ) throw new OSError(E.EALREADY);
      return this.#reportConnect();
    }
    if (this.#refused) {
      this.#refused = false;
      throw new OSError(E.ECONNABORTED);
    }
    if (this.#conn && this.#connectsOnceMore) {
      this.#connectsOnceMore = false;
      return;
    }
    if (this.#family === AF_UNIX && (this.#conn || this.#listening)) {
      // Linux looks a unix peer up before it looks at this socket's state:
      // no such path is ENOENT even when connected, and a listener is
      // EINVAL.
      throw new OSError(
        unixPeerMissing(addr) ||
          (this.#conn ? E.EISCONN : E.EINVAL),
      );
    }
    if (this.#conn) throw new OSError(E.EISCONN);
    if (this.#listening) throw new OSError(E.EISCONN);
    // Linux refuses port 0 at once; Deno would throw a RangeError.
    if (this.#family !== AF_UNIX && (addr as [string, number])[1] === 0) {
      throw new OSError(E.ECONNREFUSED);
    }
    if (this.#listener) {
      throw new OSError(
        E.EOPNOTSUPP,
        `connect() after bind() (a source address) is not possible with Deno's networking; ${LIBC_HINT}`,
      );
    }
    // Aborted while the address was resolved (socket.ts awaits that):
    // Deno.connect() would never hear of it, since cancelOnly() hides an
    // abort that came before the call, and the attempt would go on for as
    // long as the kernel retries (a listener with a full backlog).
    signal?.throwIfAborted();
    const controller = wait !== null && wait > 0 ? new AbortController() : null;
    // close() abandons an attempt under way (its SYNs could go on for a
    // minute, holding the process).
    const closing = this.#family === AF_UNIX ? null : new AbortController();
    this.#connectAbort = closing;
    const signals = [controller?.signal, signal, closing?.signal].filter((
      x,
    ) => x !== undefined);
    const options: Deno.ConnectOptions | Deno.UnixConnectOptions =
      this.#family === AF_UNIX ? { transport: "unix", path: unixPath(addr) } : {
        transport: "tcp",
        hostname: this.#scoped(addr),
        port: (addr as [string, number])[1],
        // Deno abandons the attempt on any: the timeout, the caller's, a
        // close().
        signal: cancelOnly(signals),
      };
    const started = budgeted(Deno.connect(options as Deno.ConnectOptions));
    this.#connectDone = false;
    const done = started.then(
      (conn) => {
        if (this.closed) conn.close();
        else this.#adopt(conn);
        const path = (options as Deno.UnixConnectOptions).path;
        if (path !== undefined && !path.startsWith("\0")) {
          this.#givenPeer = path;
        }
        this.#connectDone = true;
        this.settled();
      },
      (e) => {
        // Abandoned by shutdown(): Linux disconnects a socket still
        // connecting, and its connect fails with ECONNRESET.
        this.#connectError = this.#shutWhileConnecting && !this.closed
          ? new OSError(E.ECONNRESET)
          : this.#ioError(e);
        this.#shutWhileConnecting = false;
        this.#connectDone = true;
        this.settled();
      },
    );
    if (wait === 0) {
      this.#connecting = done;
      // Linux connects a unix socket, or refuses it, within the call; Deno
      // tells a moment later, so a non-blocking one waits for that (as
      // long as UNIX_CONNECT_MS) rather than say EINPROGRESS.
      if (
        this.#family === AF_UNIX &&
        await raceWait(done, UNIX_CONNECT_MS) !== EXPIRED
      ) {
        this.#reportConnect();
        if (this.closed) throw badFd();
        return;
      }
      throw waitExpired(0, E.EINPROGRESS);
    }
    // A timeout past setTimeout()'s 2^31-1 ms would fire at once.
    const cancelTimer = controller
      ? longTimeout(() => controller.abort(), wait!)
      : undefined;
    this.#connecting = done;
    try {
      await done;
    } finally {
      cancelTimer?.();
      this.#connecting = null;
    }
    const err = this.#connectError;
    this.#connectError = null;
    if (err) {
      if (controller?.signal.aborted || signal?.aborted) {
        throw waitExpired(wait);
      }
      // A unix listener with a full backlog: a blocking connect waits for
      // room, as Linux's does (with a timeout, Python's descriptor is
      // non-blocking, and EAGAIN comes at once). Deno says EAGAIN: look
      // again now and then.
      if (
        wait === null && this.#family === AF_UNIX &&
        err instanceof OSError && err.errno === E.EAGAIN
      ) {
        await raceWait(new Promise<never>(() => {}), UNIX_BACKLOG_MS, signal);
        signal?.throwIfAborted();
        this.check();
        return await this.connect(addr, wait, signal);
      }
      // With a timeout, CPython's connect is a non-blocking one whose error
      // SO_ERROR takes: Linux keeps the TCP socket refused (see #refused).
      if (
        wait !== null && this.#family !== AF_UNIX && err instanceof OSError &&
        err.errno !== null && SETTLED_CONNECT_ERRORS.has(err.errno)
      ) this.#refused = true;
      throw err;
    }
    if (this.closed) throw badFd();
    // With a timeout CPython's descriptor is non-blocking: Linux marks it
    // connected only at the next connect(), which returns once more.
    this.#connectsOnceMore = wait !== null && this.#family !== AF_UNIX;
  }

  // A finished non-blocking connect's error (null when it connected); the
  // socket is no longer connecting, and a refused one is #refused.
  #takeConnectError(): Error | null {
    const err = this.#connectError;
    this.#connecting = null;
    this.#connectError = null;
    this.#connectDone = false;
    if (err !== null && this.#conn === null) this.#refused = true;
    return err;
  }

  // An error a read kept in flight met and no caller has seen (a reset):
  // Linux's pending socket error, which the first recv, SO_ERROR or (on
  // TCP) send takes; reads then say EOF.
  #takePendingError(): Error | null {
    const err = this.#readError;
    if (!(err instanceof OSError) || err.errno === null) return null;
    this.#readError = null;
    return err;
  }

  // A finished connect reported by connect() itself: its error is thrown,
  // and a refused socket is new again (not #refused), as on Linux.
  #reportConnect(): void {
    const err = this.#takeConnectError();
    this.#refused = false;
    if (err) throw err;
  }

  // Linux's errno for a receive or a send on a socket never connected:
  // unix stream sockets say EINVAL and ENOTCONN, TCP ones ENOTCONN and EPIPE.
  #unconnected(sending: boolean): number {
    if (this.#family === AF_UNIX) return sending ? E.ENOTCONN : E.EINVAL;
    return sending ? E.EPIPE : E.ENOTCONN;
  }

  // The connection, once a non-blocking connect has finished.
  async #connected(
    wait: Wait,
    unconnected: number,
    signal: AbortSignal | undefined,
  ): Promise<Deno.Conn> {
    if (this.#conn === null && this.#connecting) {
      if (wait === 0 && !this.#connectDone) {
        // A connect the kernel has made shows once Deno's loop turns: one
        // turn when one is owed (see letLoopTurn), as Linux's is done.
        if (!(await letLoopTurn()) || !this.#connectDone) {
          throw waitExpired(0);
        }
      } else if (!this.#connectDone) {
        const r = await raceWait(
          this.#connecting,
          wait,
          signal,
          undefined,
          this.#held,
        );
        if (r === EXPIRED) throw waitExpired(wait);
      }
      const err = this.#takeConnectError();
      if (err) throw err;
    }
    this.check();
    if (this.#conn === null) throw new OSError(unconnected);
    return this.#conn;
  }

  recv(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
    own = false,
  ): Promise<number> {
    const conn = this.#conn;
    if (
      conn !== null && flags === 0 && wait === null && signal === undefined &&
      this.#stash.length === 0 &&
      this.#pendingRead === null && !this.#eof && !this.#shutRd &&
      this.#readError === null && buf.length > 0 &&
      !(buf.buffer as ArrayBuffer).resizable
    ) {
      // Hot path: a blocking read straight into the caller's buffer (not a
      // resizable one, which could shrink under Deno's write; not an empty
      // one, which Deno answers at once where Linux waits for data).
      return this.#readDirect(conn, buf, own);
    }
    return this.#recv(buf, flags, wait, signal, own);
  }

  // A read with no wait to honour goes straight into the caller's buffer;
  // null from Deno is EOF, and after an error the stream reads as ended.
  // One into a buffer of the call's own can be ended (see #readOwn).
  #readDirect(
    conn: Deno.Conn,
    buf: Uint8Array,
    own: boolean,
  ): Promise<number> {
    if (own) return this.#readOwn(conn, buf);
    const read = this.#held
      ? budgeted(conn.read(buf))
      : startRead(conn, buf, false).promise;
    return read.then(
      (n) => {
        // Deno.Conn's read says EOF with null, Deno's op with 0.
        if (!n) {
          this.#eof = true;
          n = 0;
        }
        return this.#stash.length === 0 ? n : this.#inOrder(buf, n);
      },
      (e) => {
        this.#eof = true;
        throw this.#ioError(e);
      },
    );
  }

  // A blocking read into `buf`, a buffer nobody else sees (recv's, a
  // file's, a stream's), that shutdown(SHUT_RD) can end: its caller gets 0
  // at once, and the read goes on as the socket's own, unheld, its bytes
  // kept for the next receive (Linux hands bytes that come after SHUT_RD to
  // recv too). A read into a caller's buffer cannot be ended so: Deno
  // cannot cancel it, and its bytes would land there after the call
  // returned.
  #readOwn(conn: Deno.Conn, buf: Uint8Array): Promise<number> {
    const op = startRead(conn, buf, this.#held);
    return new Promise((resolve, reject) => {
      const own: OwnRead = { op, end: resolve, woken: false };
      (this.#ownReads ??= new Set()).add(own);
      op.promise.then(
        (n) => {
          this.#ownReads?.delete(own);
          if (own.woken) return this.#readBrought(buf.slice(0, n));
          if (n === 0) this.#eof = true;
          resolve(this.#stash.length === 0 ? n : this.#inOrder(buf, n));
        },
        (e) => {
          this.#ownReads?.delete(own);
          if (own.woken) return this.#readFailed(e);
          this.#eof = true;
          reject(this.#ioError(e));
        },
      );
    });
  }

  // A read straight into `buf` brought `n` bytes (0: EOF) while the stash
  // took bytes of a read that started before it (Deno serves a connection's
  // reads in turn: one that shutdown() ended, or readiness's): those came
  // first, so they go out first, and the tail of this read's waits in the
  // stash. The count read.
  #inOrder(buf: Uint8Array, n: number): number {
    const stash = this.#stash;
    if (n === 0) {
      const k = Math.min(buf.length, stash.length);
      if (k > 0) buf.set(stash.subarray(0, k));
      this.#take(stash, k);
      return k;
    }
    const all = concat([stash, buf.subarray(0, n)]);
    buf.set(all.subarray(0, n));
    this.#stash = all.subarray(n);
    return n;
  }

  // shutdown(SHUT_RD): the blocking receives reading into buffers of their
  // own end with 0 (see #readOwn). Their reads are the socket's read until
  // all have ended (Deno serves a connection's reads in turn, so their bytes
  // reach the stash in order): a receive waits for them.
  #endOwnReads(): void {
    const owns = this.#ownReads;
    if (owns === null || owns.size === 0) return;
    this.#ownReads = null;
    const ops = [...owns].map((own) => own.op);
    for (const own of owns) {
      own.woken = true;
      own.op.hold(false);
    }
    if (this.#pendingRead === null) {
      const op: HeldOp = ops.length === 1 ? ops[0] : {
        promise: Promise.allSettled(ops.map((o) => o.promise)).then(() => 0),
        hold: (held) => {
          for (const o of ops) o.hold(held);
        },
      };
      this.#readOp = op;
      const pending: Promise<void> = this.#pendingRead = op.promise.then(
        () => {},
        () => {},
      ).then(() => {
        if (this.#pendingRead !== pending) return;
        this.#readEnded();
        this.settled(WAKE_NONE);
      });
    }
    for (const own of owns) own.end(0);
  }

  async #recv(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal: AbortSignal | undefined,
    own: boolean,
  ): Promise<number> {
    this.check();
    if (flags & ~RECV_FLAGS) throw unsupportedFlags(flags & ~RECV_FLAGS);
    if (this.#refused) return 0;
    const conn = await this.#connected(wait, this.#unconnected(false), signal);
    const peek = (flags & MSG_PEEK) !== 0;
    if (this.#shutRd) {
      // Linux: what had come before shutdown(SHUT_RD) is still there to
      // read; then 0, at once.
      try {
        return await this.#read(conn, buf, peek, 0, signal);
      } catch (e) {
        if (e instanceof BlockingIOError) return 0;
        throw e;
      }
    }
    // No room: MSG_WAITALL has nothing to fill, and the call waits for data
    // (or EAGAIN) as one without it does, as Linux's recvmsg.
    if (!(flags & MSG_WAITALL) || peek || buf.length === 0) {
      return await this.#read(conn, buf, peek, wait, signal, own);
    }
    // MSG_WAITALL: fill the buffer unless EOF comes first. A blocking call
    // waits for all of it; with a timeout CPython's descriptor is
    // non-blocking, and the kernel takes what is there once the first bytes
    // have come (CPython 3.11). On an abort what arrived goes back: the call
    // rejects, and the next one returns it.
    let got = 0;
    while (got < buf.length) {
      let n: number;
      try {
        n = await this.#read(
          conn,
          buf.subarray(got),
          false,
          got > 0 && wait !== null ? 0 : wait,
          signal,
        );
      } catch (e) {
        if (got > 0 && e instanceof OSError && e.errno !== E.EBADF) {
          if (!signal?.aborted) {
            // Nothing more there, or a socket error after some bytes (a
            // reset) ends the call. The error is the next call's on TCP, as
            // Linux's; a unix stream's recv takes it.
            if (
              this.#family !== AF_UNIX &&
              !(e instanceof TimeoutError || e instanceof BlockingIOError)
            ) this.#readError = e;
            return got;
          }
          this.giveBack(buf.subarray(0, got));
        }
        throw e;
      }
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  async #read(
    conn: Deno.Conn,
    buf: Uint8Array,
    peek: boolean,
    wait: Wait,
    signal: AbortSignal | undefined,
    own = false,
  ): Promise<number> {
    const deadline = new Deadline(wait);
    let left = wait;
    // A stream's read that ends while this one waits may keep its bytes:
    // then look again, for the time left.
    while (this.#stash.length === 0 && !this.#eof && this.#readError === null) {
      if (
        this.#pendingRead === null && left === null && !peek &&
        signal === undefined && buf.length > 0 &&
        !(buf.buffer as ArrayBuffer).resizable
      ) {
        return await this.#readDirect(conn, buf, own);
      }
      if (left === 0) {
        // Non-blocking: what is already there comes at once; else the read
        // stays in flight, unref'd, and what it brings is for a later call.
        this.#startRead(conn);
        if (!await this.#endsAtOnce(this.#pendingRead!)) {
          throw waitExpired(wait);
        }
      } else {
        this.#pendingRead ??= this.#readAhead(conn);
        this.#readOp?.hold(this.#held);
        // A stream's bytes given back meanwhile end the wait too.
        const woken = (this.#lookAgain ??= Promise.withResolvers()).promise;
        const r = await raceWait(
          this.#pendingRead,
          left,
          signal,
          woken,
          this.#held,
        );
        if (r === EXPIRED || r === WOKEN) {
          // A read left pending by a timeout must not keep the process
          // alive, as a Python socket would not; the next caller to wait
          // refs it.
          this.#readOp?.hold(false);
          if (r === EXPIRED) throw waitExpired(wait);
        }
        // Shut down for reading meanwhile (another task's shutdown(), the
        // way a Python thread stops one blocked in recv): the call ends
        // with what came, else 0.
        if (this.#shutRd && this.#stash.length === 0) {
          this.check();
          return 0;
        }
      }
      left = deadline.left();
    }
    // Closed while it waited: EBADF for every call waiting, not only the
    // one that took the read's error (a second would see EOF).
    this.check();
    const stash = this.#stash;
    if (stash.length === 0 && this.#readError !== null) {
      const err = this.#readError;
      this.#readError = null;
      throw err;
    }
    const n = Math.min(buf.length, stash.length);
    // None: a buffer shrunk away while the call waited (set() would throw);
    // the Python layer says BufferError.
    if (n > 0) buf.set(stash.subarray(0, n));
    if (!peek) this.#take(stash, n);
    const paced = pace();
    if (paced !== undefined) await paced;
    return n;
  }

  /**
   * A byte stream's read into `buf`, a buffer the stream owns (transferred,
   * so nobody else can see or reuse it): Deno's read straight into it, or
   * what the socket holds first (bytes a read left, EOF, an error), each
   * handed to `sink` in the same step as it leaves the socket. A read of
   * Deno's is the socket's pending read: a recv() meanwhile waits for it;
   * if the stream has let go by the time it ends (a reader released, the
   * stream cancelled, its wait expired), `sink` says so and the bytes wait
   * in the stash for the next recv(), as a timed-out read's do. Null where
   * no byte can come (closed, unconnected): recv() then says why.
   */
  streamRead(
    buf: Uint8Array,
    sink: StreamSink,
    wait: Wait,
  ): Promise<void> | null {
    const conn = this.#conn;
    if (
      this.closed || (conn === null && this.#connecting === null) ||
      (buf.buffer as ArrayBuffer).resizable
    ) return null;
    if (
      conn === null || this.#stash.length > 0 || this.#pendingRead !== null ||
      this.#eof || this.#shutRd || this.#readError !== null
    ) return this.#streamLater(buf, sink, wait);
    return this.#streamOp(conn, buf, sink, wait, wait);
  }

  // Deno's read into the stream's buffer; `left` of the call's `wait`.
  #streamOp(
    conn: Deno.Conn,
    buf: Uint8Array,
    sink: StreamSink,
    left: Wait,
    wait: Wait,
  ): Promise<void> {
    const op = this.#readOp = startRead(conn, buf, this.#held);
    this.#readInto = buf.buffer;
    const read = op.promise.then(
      (n) => {
        this.#readEnded();
        if (n === 0) {
          this.#eof = true;
          sink.deliver(0);
          this.watchers.notify();
        } else if (!sink.deliver(n)) {
          this.#keep(buf.slice(0, n));
          this.watchers.notify(WAKE_INPUT);
        }
      },
      (e) => {
        this.#readEnded();
        this.#eof = true;
        const err = this.#ioError(e);
        if (!sink.fail(err)) this.#readError = err;
        this.watchers.notify();
      },
    );
    this.#pendingRead = read;
    if (left === null) return read;
    return (async () => {
      // Non-blocking: what is already there comes at once.
      const done = left === 0
        ? await this.#endsAtOnce(read)
        : await raceWait(read, left, undefined, undefined, this.#held) !==
          EXPIRED;
      if (done) return;
      // Expired: the read goes on, unheld, and its bytes are the socket's.
      op.hold(false);
      sink.fail(waitExpired(wait));
    })();
  }

  // What the socket holds comes first; a read in flight (a recv()'s left
  // by its timeout, or readiness's) is waited for, then looked at again.
  async #streamLater(
    buf: Uint8Array,
    sink: StreamSink,
    wait: Wait,
  ): Promise<void> {
    const deadline = new Deadline(wait);
    try {
      for (;;) {
        if (!sink.wanted()) return;
        const conn = await this.#connected(
          deadline.left(),
          this.#unconnected(false),
          undefined,
        );
        const stash = this.#stash;
        if (stash.length > 0) {
          // Taken before the sink is told: its reader may read again at
          // once, from inside deliver().
          const n = Math.min(buf.length, stash.length);
          buf.set(stash.subarray(0, n));
          this.#stash = stash.subarray(n);
          if (!sink.deliver(n)) this.#stash = stash;
          else if (this.#stash.length === 0) this.watchers.notify(WAKE_NONE);
          return;
        }
        if (this.#readError !== null) {
          const err = this.#readError;
          this.#readError = null;
          if (!sink.fail(err)) this.#readError = err;
          return;
        }
        if (this.#eof || this.#shutRd) {
          sink.deliver(0);
          return;
        }
        const left = deadline.left();
        const pending = this.#pendingRead;
        if (pending === null) {
          await this.#streamOp(conn, buf, sink, left, wait);
          return;
        }
        this.#readOp?.hold(this.#held);
        // Woken when the stream lets go (the loop's first check then
        // returns), so that a reader released again and again leaves no
        // wait behind on an idle socket's read.
        const woken = (this.#lookAgain ??= Promise.withResolvers()).promise;
        if (
          await raceWait(pending, left, undefined, woken, this.#held) ===
            EXPIRED
        ) {
          this.#readOp?.hold(false);
          sink.fail(waitExpired(wait));
          return;
        }
      }
    } catch (e) {
      sink.fail(e);
    }
  }

  /**
   * Bytes a stream took and could not hand out: the next receive's, before
   * anything the socket holds.
   */
  giveBack(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    this.#stash = this.#stash.length === 0
      ? bytes.slice()
      : concat([bytes, this.#stash]);
    this.#wakeReaders();
    this.watchers.notify(WAKE_INPUT);
  }

  // `n` bytes of `stash` (the stash) taken. Drained, readiness changed:
  // an edge-triggered watch is armed again, so that what comes next is a
  // new edge (the watch looks, which starts the next read).
  #take(stash: Uint8Array, n: number): void {
    if (n === 0) return;
    if (n < stash.length) {
      this.#stash = stash.subarray(n);
      return;
    }
    this.#stash = NO_BYTES;
    this.watchers.notify(WAKE_NONE);
  }

  // Bytes a read brought that no caller took: after what the stash holds.
  #keep(bytes: Uint8Array): void {
    this.#stash = this.#stash.length === 0
      ? bytes
      : concat([this.#stash, bytes]);
  }

  /**
   * The stream of a streamRead() in flight has let go of it: the read must
   * not keep the process alive any more, as a read left by a timeout does
   * not (the next caller to wait refs it).
   */
  streamAbandon(): void {
    this.#readOp?.hold(false);
    this.#wakeReaders();
  }

  /**
   * A stream's read still in flight into `buffer`, which Deno cannot end:
   * settles once it has ended and its bytes are in the stash.
   *
   * @param buffer The buffer a stream read was given.
   * @returns The read, or null when none fills `buffer`.
   */
  readingInto(buffer: ArrayBufferLike): Promise<void> | null {
    const read = this.#pendingRead;
    return read !== null && this.#readInto === buffer
      ? read.then(() => {}, () => {})
      : null;
  }

  // Whether `read` (the read in flight) ends at once, as a non-blocking
  // call needs: within a few microtasks, or once the event loop turns when
  // its budget says so (see letLoopTurn).
  // On a connection a send found reset, it ends at the loop's next poll
  // whatever the budget: the kernel holds only its last bytes and EOF
  // (Linux's recv after the reset's error was taken), and poll() says
  // readable for it already.
  async #endsAtOnce(read: Promise<void>): Promise<boolean> {
    if (
      await settlesAtOnce(read) ||
      (await letLoopTurn() && this.#pendingRead !== read)
    ) return true;
    if (!this.#reset) return false;
    for (let i = 0; i < 4 && this.#pendingRead === read; i++) await turnLoop();
    return this.#pendingRead !== read;
  }

  // The read in flight (a read-ahead or a stream's) is over.
  #readEnded(): void {
    this.#pendingRead = null;
    this.#readOp = null;
    this.#readInto = null;
  }

  // A read into the socket's own buffer that no caller waits on (yet).
  #startRead(conn: Deno.Conn): void {
    if (this.#pendingRead !== null) return;
    this.#pendingRead = this.#readAhead(conn);
  }

  // Not holding the process until a caller waits for it.
  #readAhead(conn: Deno.Conn): Promise<void> {
    const inner = this.#inner ??= new Uint8Array(READ_BUFFER);
    const op = this.#readOp = startRead(conn, inner, false);
    return op.promise.then(
      (n) => {
        this.#readEnded();
        this.#readBrought(inner.subarray(0, n));
      },
      (e) => {
        this.#readEnded();
        this.#readFailed(e);
      },
    );
  }

  // What a read that no caller takes brought (none: EOF) goes to the
  // stash, and its watchers learn of it.
  #readBrought(bytes: Uint8Array): void {
    if (bytes.length === 0) this.#eof = true;
    else this.#keep(bytes);
    this.settled(bytes.length > 0 ? WAKE_INPUT : WAKE_ALL);
  }

  // A read that no caller takes failed: the next receive raises why.
  #readFailed(e: unknown): void {
    this.#eof = true;
    this.#readError = this.#ioError(e);
    this.settled();
  }

  /**
   * recv(bufsize): what is already in the socket's own buffer (a read kept
   * in flight for readiness, or left by a timeout) comes out sized to what
   * came, with no zero-filled buffer of `size`, and with no promise (the
   * selectors loop's recv); else a read as recv().
   */
  recvBytes(
    size: number,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ):
    | [Uint8Array<ArrayBuffer>, SockAddr | null]
    | Promise<[Uint8Array<ArrayBuffer>, SockAddr | null]> {
    const stash = this.#stash;
    if (
      flags === 0 && stash.length > 0 && !this.#shutRd && !this.closed &&
      this.#conn !== null
    ) {
      const n = Math.min(size, stash.length);
      // Copied out first: the stash may be the read-ahead's buffer, which
      // the next read fills.
      const got: [Uint8Array<ArrayBuffer>, SockAddr | null] = [
        stash.slice(0, n),
        this.#sender(n),
      ];
      this.#take(stash, n);
      const paced = pace();
      return paced === undefined ? got : paced.then(() => got);
    }
    return this.#recvBytesLater(size, flags, wait, signal);
  }

  async #recvBytesLater(
    size: number,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[Uint8Array<ArrayBuffer>, SockAddr | null]> {
    const buf = new Uint8Array(size);
    const n = await this.recv(buf, flags, wait, signal, true);
    return [n === size ? buf : buf.slice(0, n), this.#sender(n)];
  }

  recvfrom(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[number, SockAddr | null]> {
    return this.recv(buf, flags, wait, signal).then((
      n,
    ) => [n, this.#sender(n)]);
  }

  // The address a receive of `n` bytes is from: on a unix stream socket,
  // Linux gives the peer's path when the peer is bound; none on TCP, and
  // none at EOF (no message, no sender).
  #sender(n: number): SockAddr | null {
    const conn = this.#conn;
    if (
      n === 0 || this.#family !== AF_UNIX || conn === null || this.#anonymous
    ) return null;
    const path = fromDeno(AF_UNIX, conn.remoteAddr);
    return path === "" ? null : path;
  }

  send(
    data: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    this.#sends++;
    const conn = this.#conn;
    if (
      conn !== null && signal === undefined &&
      (flags & ~STREAM_SEND_FLAGS) === 0 &&
      !this.#shutWr && this.#readError === null &&
      this.#behind === null && this.#writeError === null && data.length > 0
    ) {
      // Hot path: a blocking write of the caller's bytes, no copy, and no
      // closure made per call.
      if (wait === null) {
        this.#unsent = null;
        return this.#writeAll(conn, data).catch(this.#writeFailed);
      }
      // A non-blocking send on a socket that has written before, as a
      // selectors loop makes: straight to the write.
      if (wait === 0 && this.#wrote) return this.#write(conn, data, 0);
    }
    return this.#send(data, flags, wait, signal);
  }

  async #send(
    data: Uint8Array,
    flags: number,
    wait: Wait,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    this.check();
    if (flags & ~STREAM_SEND_FLAGS) {
      throw unsupportedFlags(flags & ~STREAM_SEND_FLAGS);
    }
    const conn = await this.#connected(wait, this.#unconnected(true), signal);
    // TCP's send raises the socket's pending error first; a unix stream's
    // does not look at it (a peer gone says EPIPE), and the next recv takes
    // it.
    if (this.#family !== AF_UNIX) {
      const pending = this.#takePendingError();
      if (pending !== null) throw pending;
    }
    if (this.#shutWr) return await this.#sendShut(conn, data);
    // Nothing to send: 0 at once, as Linux's send of 0 bytes, even on a full
    // buffer; a write under way keeps its bytes for the send that carries
    // them.
    if (data.length === 0) {
      this.#throwWriteError();
      return 0;
    }
    const behind = this.#behind;
    if (behind !== null) {
      if (!behind.done && !await this.#settles(behind, wait, signal)) {
        throw waitExpired(wait);
      }
      // Detached while it waited: nothing to send, and the write stays for
      // the send that carries its bytes (the caller's retry).
      if (data.length === 0) return 0;
      this.#behind = null;
      this.#throwWriteError();
      // Bytes of an earlier call that gave up went after all. A retry sends
      // them again: they count for this call, and are not sent twice.
      const m = Math.min(behind.sent, data.length);
      if (m > 0 && sameBytes(data, behind.bytes, m)) {
        if (m < behind.sent) {
          this.#behind = {
            ...behind,
            bytes: behind.bytes.subarray(m),
            sent: behind.sent - m,
          };
        }
        return m;
      }
    }
    this.#throwWriteError();
    if (wait === null && signal === undefined) {
      this.#unsent = null;
      try {
        return await this.#writeAll(conn, data);
      } catch (e) {
        throw this.#ioError(e);
      }
    }
    return await this.#write(conn, data, wait, signal);
  }

  // Deno's write of the caller's bytes, no copy, for a blocking send; a
  // daemon socket's does not hold the process.
  #writeAll(conn: Deno.Conn, data: Uint8Array): Promise<number> {
    return this.#held
      ? budgeted(conn.write(data))
      : startWrite(conn, data, false).promise;
  }

  // A send once writing is shut down: EPIPE, but on TCP Linux raises the
  // socket's pending error first (a peer's reset: ECONNRESET), which Deno
  // learns of only by a read. Once the FIN is out the kernel answers (its
  // write sends nothing).
  async #sendShut(conn: Deno.Conn, data: Uint8Array): Promise<never> {
    if (this.#family !== AF_UNIX && this.#finSent) {
      try {
        await conn.write(data);
      } catch (e) {
        throw this.#ioError(e);
      }
    }
    throw new OSError(E.EPIPE);
  }

  // A write cannot be cancelled: one that outlives the wait (a timeout, an
  // abort, or a full buffer when non-blocking) may still put its bytes on
  // the wire. It gets a copy; the call reports only what the kernel took in
  // time, and what goes later is reconciled by the next send. The copy
  // buffer is a shared spare when one is free (see `spares`).
  async #write(
    conn: Deno.Conn,
    data: Uint8Array,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    this.#unsent = null;
    let len = Math.min(data.length, CHUNK);
    const copy = spares.pop() ?? new Uint8Array(CHUNK);
    copy.set(len === data.length ? data : data.subarray(0, len));
    let bytes = copy.subarray(0, len);
    let op = startWrite(conn, bytes, this.#held);
    // Deno makes the write at once and settles its promise a microtask on
    // when the kernel took the bytes: the usual non-blocking send needs no
    // more than that look. While the kernel takes whole chunks it is offered
    // the next, as Linux's send takes all that fits: a send that stopped
    // short of a full buffer would be followed by a "writable" that is not.
    for (let total = 0; wait === 0 && this.#wrote;) {
      let sent = -1;
      op.promise.then((n) => sent = n, () => {});
      await null;
      if (sent < 0) {
        if (total === 0) break;
        // Bytes went already: the call reports them, and this chunk, the
        // caller's next bytes, is written ahead (see #writeAhead).
        op.hold(false);
        this.#behind = this.#track(bytes, op);
        return total;
      }
      total += sent;
      if (sent < len) {
        this.#unsent = bytes.subarray(sent);
        return total;
      }
      // Done, or the caller's buffer was detached or shrunk meanwhile (the
      // caller reports what went, and the detach, as it would at once).
      if (total >= data.length) {
        if (spares.length < SPARES) spares.push(copy);
        return total;
      }
      len = Math.min(data.length - total, CHUNK);
      copy.set(data.subarray(total, total + len));
      bytes = copy.subarray(0, len);
      op = startWrite(conn, bytes, this.#held);
    }
    const b = this.#track(bytes, op);
    if (!await this.#settles(b, wait, signal)) {
      // The write keeps its buffer; the next call gets a new one.
      this.#behind = b;
      throw waitExpired(wait);
    }
    this.#throwWriteError();
    if (b.sent === len && spares.length < SPARES) spares.push(copy);
    return b.sent;
  }

  // Follow a write: what it sent, what it left (#unsent), its error.
  #track(bytes: Uint8Array, op: HeldOp): Behind {
    const b: Behind = {
      bytes,
      sent: 0,
      done: false,
      write: Promise.resolve(),
      op,
    };
    b.write = op.promise.then(
      (n) => {
        b.sent = n;
        b.done = true;
        this.#wrote = true;
        this.#unsent = n < bytes.length ? bytes.subarray(n) : null;
        // Writable again only if no call waits on this write.
        if (this.#behind === b) this.watchers.notify(WAKE_OUTPUT);
      },
      (e) => {
        b.done = true;
        this.#writeError = this.#ioError(e);
        this.watchers.notify();
      },
    );
    return b;
  }

  // Readiness asks whether a send would take a byte after a write that left
  // bytes unsent. Deno tells only by finishing a write, so the bytes the
  // caller sends next are written now (holding nothing): once the kernel
  // takes them the socket is writable, and the caller's send of the same
  // bytes counts them (#send) rather than sending them twice.
  #writeAhead(conn: Deno.Conn, bytes: Uint8Array): void {
    this.#behind = this.#track(bytes, startWrite(conn, bytes, false));
  }

  // Whether the write settles within `wait`: at once (a few microtasks, or
  // a turn of the event loop) when non-blocking. It holds the process while
  // a call waits for it, and no longer once the call gives up on it.
  async #settles(
    b: Behind,
    wait: Wait,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    b.op.hold(this.#held);
    const settled = await this.#settlesIn(b.write, wait, signal);
    if (!settled) b.op.hold(false);
    return settled;
  }

  async #settlesIn(
    write: Promise<void>,
    wait: Wait,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    if (wait !== 0) {
      return await raceWait(write, wait, signal, undefined, this.#held) !==
        EXPIRED;
    }
    if (await settlesAtOnce(write)) return true;
    // A socket's first write waits for Deno to learn it is writable (a turn
    // of the event loop, once per connection, and now and then two): a few
    // turns are waited for. Later ones settle at once, or after a turn when
    // readiness has just said writable (a buffer filled exactly stays
    // unwritable, and waiting longer would only delay BlockingIOError).
    if (!this.#wrote) {
      for (let turns = 0; turns < FIRST_WRITE_TURNS; turns++) {
        await turnLoop();
        if (await settlesAtOnce(write)) return true;
      }
      return false;
    }
    // Deno's runtime makes at most 128 reads and writes in one turn and puts
    // the rest off (see budgetSpent): a write put off so, in a loop that
    // writes to many sockets in one go, is not a full buffer. It goes after
    // a tick or two, or after a poll of the kernel (below).
    for (let t = 0; t < BUDGET_TICKS; t++) {
      await tick();
      if (await settlesAtOnce(write)) return true;
    }
    // A poll of the kernel then, if Deno's budget may be spent, readiness
    // has just said writable, or answers given at once are due a turn
    // (loopTurnDue); else the buffer is full.
    if (
      !budgetSpent() && this.#writableAt !== this.#sends - 1 &&
      !loopTurnDue()
    ) return false;
    await turnLoop();
    return await settlesAtOnce(write);
  }

  #throwWriteError(): void {
    const err = this.#writeError;
    if (err !== null) {
      this.#writeError = null;
      throw err;
    }
  }

  sendto(
    data: Uint8Array,
    flags: number,
    _addr: SockAddr,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    // Linux refuses an address on a unix stream socket (EISCONN once
    // connected, else EOPNOTSUPP), and ignores it on a connected TCP one.
    if (this.#family === AF_UNIX) {
      return Promise.reject(
        this.closed
          ? badFd()
          : new OSError(this.#conn !== null ? E.EISCONN : E.EOPNOTSUPP),
      );
    }
    // Linux's sendto() on a TCP socket never connected is send()'s EPIPE,
    // bound or listening too.
    if (this.#conn === null && !this.#connecting) {
      return Promise.reject(new OSError(E.EPIPE));
    }
    return this.send(data, flags, wait, signal);
  }

  shutdown(how: number): void {
    this.check();
    const conn = this.#conn;
    if (conn === null && this.#listening) {
      // Linux stops a listener shut down for reading (what wakes a blocked
      // accept() with EINVAL); shutting down its writing does nothing.
      if (how !== SHUT_WR) this.#stopListening();
      return;
    }
    if (
      conn === null && this.#connecting && !this.#connectDone &&
      this.#connectAbort !== null
    ) {
      // A TCP connect under way: Linux disconnects the socket (shutdown()
      // succeeds, the connect fails with ECONNRESET).
      this.#shutWhileConnecting = true;
      this.#connectAbort.abort();
      return;
    }
    if (conn === null && this.#family === AF_UNIX && !this.#connecting) {
      // Linux shuts a unix socket never connected down too (no ENOTCONN):
      // once connected, its sends raise EPIPE and its reads end.
      if (how !== SHUT_WR) this.#shutRd = true;
      if (how !== SHUT_RD) this.#shutWr = true;
      return;
    }
    if (conn === null) {
      // Linux: a refused socket shut down refuses every connect() after.
      if (this.#refused || (this.#connectDone && this.#connectError)) {
        this.#disconnecting = true;
      }
      throw new OSError(E.ENOTCONN);
    }
    if (this.#disconnected()) throw new OSError(E.ENOTCONN);
    // Linux marks the socket connected here too: no connect() returns once
    // more after it.
    this.#connectsOnceMore = false;
    if (how !== SHUT_WR) {
      this.#shutRd = true;
      this.#endOwnReads();
      this.#wakeReaders();
    }
    if (how !== SHUT_RD && !this.#shutWr) {
      this.#shutWr = true;
      // The FIN goes after a write still under way; else now, as Linux's
      // (Deno sends it within the call), so that a peer in this process
      // sees EOF at once.
      const behind = this.#behind;
      const finish = () => {
        this.#finSent = true;
        conn.closeWrite().catch(() => {});
      };
      if (behind === null || behind.done) finish();
      else behind.write.then(finish, finish);
    }
    // A select() waiting sees the socket readable (or writable) now.
    this.watchers.notify();
  }

  // End the wait of every recv() or stream read waiting for a read: each
  // looks again.
  #wakeReaders(): void {
    const given = this.#lookAgain;
    this.#lookAgain = null;
    given?.resolve();
  }

  #stopListening(): void {
    const listener = this.#listener!;
    this.#stopped = this.#withScope(fromDeno(this.#family, listener.addr));
    this.#listening = false;
    this.#listener = null;
    this.#accepted?.close();
    this.#accepted = null;
    this.#acceptError = null;
    this.#closeListener(listener);
  }

  // Close a listener; a unix one's file goes when its accept in flight has
  // ended (see unix_names.ts).
  #closeListener(listener: Deno.Listener): void {
    const pending = this.#pendingAccept;
    if (this.#family !== AF_UNIX) {
      // With an accept in flight Deno frees the port only once it has ended
      // and the event loop turned, which no synchronous retry can wait for
      // (README: a bind() before then is EADDRINUSE at once).
      const { port } = listener.addr as Deno.NetAddr;
      if (pending === null) letGo("tcp", port);
      else pending.then(() => letGo("tcp", port), () => letGo("tcp", port));
    }
    if (pending !== null) {
      if (this.#family === AF_UNIX) {
        const path = (listener.addr as Deno.UnixAddr).path ?? "";
        if (path !== "" && !path.startsWith("\0")) {
          removalPending(path, pending);
        }
      }
      lettingGo(pending);
    }
    this.#pendingAccept = null;
    listener.close();
  }

  getsockname(): SockAddr {
    this.check();
    if (this.#anonymous) return "";
    if (this.#stopped !== null) return this.#stopped;
    if (this.#local !== null) return this.#local;
    if (this.#givenName !== null && (this.#conn || this.#listener)) {
      return this.#givenName;
    }
    if (this.#conn) {
      return this.#withScope(fromDeno(this.#family, this.#conn.localAddr));
    }
    if (this.#listener) {
      return this.#withScope(fromDeno(this.#family, this.#listener.addr));
    }
    return unboundName(this.#family);
  }

  getpeername(): SockAddr {
    this.check();
    if (this.#conn === null || this.#disconnected()) {
      throw new OSError(E.ENOTCONN);
    }
    if (this.#anonymous) return "";
    const name = this.#withScope(fromDeno(this.#family, this.#conn.remoteAddr));
    // The peer's name is the one it bound: the path connect() was given
    // when that is it, made absolute by a Deno listener's scoped bind.
    const given = this.#givenPeer;
    if (
      given !== null &&
      (name === given || (!given.startsWith("/") &&
        typeof name === "string" && name.endsWith(`/${given}`)))
    ) return given;
    return name;
  }

  setsockopt(
    level: number,
    option: number,
    value: number | Uint8Array | null,
  ): void {
    this.check();
    const v = this.#opts.set(level, option, value);
    const tcp = this.#conn as Deno.TcpConn | null;
    if (tcp && this.#family !== AF_UNIX) {
      if (level === IPPROTO_TCP && option === TCP_NODELAY) {
        tcp.setNoDelay(v !== 0);
      }
      if (level === SOL_SOCKET && option === SO_KEEPALIVE) {
        tcp.setKeepAlive(v !== 0);
      }
    }
  }

  getsockopt(
    level: number,
    option: number,
    buflen: number,
  ): number | Uint8Array {
    this.check();
    let v: number;
    if (level === SOL_SOCKET && option === SO_ERROR) {
      // The pending error, read once, as Linux's: a finished non-blocking
      // connect's (ECONNREFUSED 111, as select-based clients take it), or
      // one a read kept in flight met (a reset). A connect that succeeded
      // stays for connect() to report (0, then EISCONN).
      const err = this.#connectDone && this.#connectError !== null
        ? this.#takeConnectError()
        : this.#takePendingError();
      v = err instanceof OSError && err.errno !== null ? err.errno : 0;
    } else {
      v = this.#opts.get(level, option, this.#listening);
    }
    return buflen === 0 ? v : optionBytes(v, buflen);
  }

  override poll(events: number): number {
    const r = this.#poll(events);
    // Linux's unix sockets report POLLWRBAND with POLLOUT; TCP's do not.
    return this.#family === AF_UNIX && (r & POLLOUT) ? r | POLLWRBAND : r;
  }

  #poll(events: number): number {
    if (this.closed) return POLLNVAL;
    const conn = this.#conn;
    if (conn === null) {
      if (this.#listening) {
        if (this.#accepted !== null || this.#acceptError !== null) {
          return POLLIN;
        }
        if (events & POLLIN) this.#startAccept(this.#listener!);
        return 0;
      }
      if (this.#connecting) {
        if (!this.#connectDone) return 0;
        // Refused: Linux reports it readable, and read shut down, too.
        return this.#connectError
          ? POLLIN | POLLRDHUP | POLLOUT | POLLERR | POLLHUP
          : POLLOUT;
      }
      if (this.#refused) return POLLIN | POLLRDHUP | POLLOUT | POLLHUP;
      // A fresh socket: Linux says writable and hung up.
      return POLLOUT | POLLHUP;
    }
    let r = 0;
    if (this.#stash.length > 0) r |= POLLIN;
    // Linux: reading shut down (the peer's FIN, or shutdown(SHUT_RD)) is
    // readable and POLLRDHUP; both ways shut down, POLLHUP.
    const rdShut = this.#eof || this.#shutRd;
    if (rdShut) r |= POLLRDHUP | POLLIN;
    if (this.#readError !== null || this.#writeError !== null) {
      r |= POLLERR | POLLIN;
    }
    // Writing shut down is writable too: a send fails at once (EPIPE). A
    // write that outlived its call and is done counts for the next send.
    const behind = this.#behind;
    const unsent = this.#unsent;
    if (this.#shutWr || (behind !== null ? behind.done : unsent === null)) {
      r |= POLLOUT;
      if (events & POLLOUT) this.#writableAt = this.#sends;
    } else if (behind === null && (events & POLLOUT)) {
      this.#writeAhead(conn, unsent!);
    }
    if ((rdShut && this.#shutWr) || this.#reset) r |= POLLHUP;
    if (this.#reset) r |= POLLIN | POLLRDHUP;
    // A read in flight is how EOF is learnt: for POLLRDHUP too. For
    // POLLRDHUP it reads on past bytes the socket holds (kept in order for
    // the next recv), while it holds less than a receive buffer: Linux's
    // FIN waits behind a full one too.
    if ((r & POLLIN) === 0) {
      if (events & (POLLIN | POLLRDHUP)) this.#startRead(conn);
    } else if (
      (events & POLLRDHUP) && !rdShut && this.#readError === null &&
      this.#pendingRead === null && this.#stash.length < RDHUP_AHEAD
    ) {
      // The read fills the socket's own buffer, which the stash may be in.
      this.#stash = this.#stash.slice();
      this.#startRead(conn);
    }
    return r;
  }

  /**
   * From now on no call's wait on this socket holds the process, nor do
   * its ops in flight (see BackendSocket.daemon). Where Deno's core is
   * missing (see held_ops.ts), its writes still do.
   */
  daemon(): void {
    this.#held = false;
    this.#readOp?.hold(false);
    for (const own of this.#ownReads ?? []) own.op.hold(false);
    this.#behind?.op.hold(false);
  }

  close(): void {
    if (!this.markClosed()) return;
    this.#connectAbort?.abort();
    this.#connectAbort = null;
    if (this.#listener !== null) this.#closeListener(this.#listener);
    this.#listener = null;
    this.#accepted?.close();
    this.#accepted = null;
    const conn = this.#conn;
    this.#conn = null;
    if (conn) {
      try {
        conn.close();
      } catch {
        // Already closed by Deno (the peer went away): nothing to release.
      }
    }
  }
}

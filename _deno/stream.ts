// The Deno backend: TCP and unix stream sockets on Deno.listen / Deno.connect
// (UDP is in udp.ts). It emulates the kernel's
// socket state machine where Deno's API has none, and reports what Deno
// cannot do as an OSError that names the libc backend.
import {
  AF_INET6,
  AF_UNIX,
  errno as E,
  IPPROTO_TCP,
  MSG_PEEK,
  MSG_WAITALL,
  SHUT_RD,
  SHUT_WR,
  SO_KEEPALIVE,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../constants.ts";
import { OSError } from "../errors.ts";
import {
  type Backend,
  type BackendSocket,
  badFd,
  EXPIRED,
  raceWait,
  type SockAddr,
  type Wait,
  waitExpired,
} from "../_backend.ts";
import {
  LIBC_HINT,
  noDescriptor,
  optionBytes,
  Options,
  pseudoFd,
  RECV_FLAGS,
  SEND_FLAGS,
  translate,
  unboundName,
  unsupportedFlags,
} from "./common.ts";
import { DenoUdp } from "./udp.ts";

// accept() errors that mean only that this one client is already gone.
const DEAD_PEER = new Set<number>([E.ENOTCONN, E.ECONNRESET, E.ECONNABORTED]);
// One write-behind chunk at most (see DenoStream.send).
const CHUNK = 1 << 18;
const READ_BUFFER = 1 << 16;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function unixPath(addr: SockAddr): string {
  return typeof addr === "string" ? addr : decoder.decode(addr as Uint8Array);
}

function fromDeno(family: number, addr: Deno.Addr): SockAddr {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    const path = (addr as Deno.UnixAddr).path ?? "";
    return path.startsWith("\0") ? encoder.encode(path) : path;
  }
  const { hostname, port } = addr as Deno.NetAddr;
  return family === AF_INET6 ? [hostname, port, 0, 0] : [hostname, port];
}

/** A TCP or unix stream socket on Deno.listen / Deno.connect. */
class DenoStream implements BackendSocket {
  readonly #family: number;
  readonly #fd = pseudoFd();
  readonly #opts: Options;
  #closed = false;
  // Deno cannot bind without listening, so bind() listens at once: the port
  // is held from bind() on (a bind-release-listen dance would let another
  // socket take an ephemeral port in between), and listen() only starts
  // accept(). Deno's backlog (511) applies.
  #listener: Deno.Listener | null = null;
  #listening = false;
  #pendingAccept: Promise<Deno.Conn> | null = null;
  #conn: Deno.Conn | null = null;
  #connecting: Promise<void> | null = null;
  #connectError: Error | null = null;
  #anonymous = false;
  // Receiving: a read that outlived its caller's wait lands in #inner and
  // waits in #stash for the next recv, so a timeout never loses data.
  #inner: Uint8Array | null = null;
  #stash: Uint8Array = new Uint8Array(0);
  #pendingRead: Promise<void> | null = null;
  #readError: Error | null = null;
  #eof = false;
  #shutRd = false;
  // Sending: a write that outlived its caller's wait (a copy of the chunk)
  // goes on in #inflight; the next send waits for it first.
  #inflight: Promise<void> | null = null;
  #writeError: Error | null = null;
  #shutWr = false;
  readonly #writeFailed = (e: unknown): never => {
    throw this.#closed ? badFd() : translate(e);
  };

  constructor(family: number, conn: Deno.Conn | null = null) {
    this.#family = family;
    this.#opts = new Options(family, SOCK_STREAM);
    if (conn !== null) this.#adopt(conn);
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

  #check(): void {
    if (this.#closed) throw badFd();
  }

  fileno(): number {
    return this.#closed ? -1 : this.#fd;
  }

  #listen(addr: SockAddr): Deno.Listener {
    try {
      if (this.#family === AF_UNIX) {
        return Deno.listen({ transport: "unix", path: unixPath(addr) });
      }
      const [hostname, port] = addr as [string, number];
      return Deno.listen({ transport: "tcp", hostname, port });
    } catch (e) {
      throw translate(e);
    }
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
    this.#check();
    if (this.#listener || this.#conn || this.#connecting) {
      throw new OSError(E.EINVAL);
    }
    const empty = this.#family === AF_UNIX && unixPath(addr) === "";
    this.#listener = empty ? this.#autobindUnix() : this.#listen(addr);
  }

  listen(_backlog: number): void {
    this.#check();
    if (this.#conn || this.#connecting) throw new OSError(E.EINVAL);
    if (this.#listener === null) {
      this.#listener = this.#family === AF_UNIX
        ? this.#autobindUnix()
        : this.#listen(this.#family === AF_INET6 ? ["::", 0] : ["0.0.0.0", 0]);
    }
    this.#listening = true;
  }

  async accept(wait: Wait): Promise<[BackendSocket, SockAddr | null]> {
    this.#check();
    const listener = this.#listener;
    if (!this.#listening || listener === null) throw new OSError(E.EINVAL);
    const deadline = wait === null || wait === 0
      ? wait
      : performance.now() + wait;
    let conn: Deno.Conn | typeof EXPIRED;
    for (;;) {
      if (this.#pendingAccept === null) {
        const p = listener.accept();
        p.catch(() => {});
        this.#pendingAccept = p;
      }
      const pending = this.#pendingAccept;
      const left = deadline === null || deadline === 0
        ? deadline
        : Math.max(0, deadline - performance.now());
      try {
        listener.ref();
        conn = await raceWait(pending, left);
        break;
      } catch (e) {
        if (this.#pendingAccept === pending) this.#pendingAccept = null;
        if (this.#closed) throw badFd();
        const err = translate(e);
        // A client that connected and reset before Deno could read its
        // address: the kernel had a connection, but it is gone. The listener
        // carries on with the next one, as a server wants.
        if (!(err instanceof OSError) || !DEAD_PEER.has(err.errno!)) throw err;
      }
    }
    if (conn === EXPIRED) {
      // As for reads: a pending accept does not keep the process alive.
      listener.unref();
      throw waitExpired(wait);
    }
    this.#pendingAccept = null;
    if (this.#closed) {
      conn.close();
      throw badFd();
    }
    return [
      new DenoStream(this.#family, conn),
      fromDeno(this.#family, conn.remoteAddr),
    ];
  }

  async connect(addr: SockAddr, wait: Wait): Promise<void> {
    this.#check();
    if (this.#conn) throw new OSError(E.EISCONN);
    if (this.#connecting) {
      // A non-blocking connect is under way: report as the kernel would.
      const r = await raceWait(this.#connecting, 0);
      if (r === EXPIRED) throw new OSError(E.EALREADY);
      const err = this.#connectError;
      this.#connecting = null;
      this.#connectError = null;
      if (err) throw err;
      return;
    }
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
    const controller = wait !== null && wait > 0 ? new AbortController() : null;
    const options: Deno.ConnectOptions | Deno.UnixConnectOptions =
      this.#family === AF_UNIX ? { transport: "unix", path: unixPath(addr) } : {
        transport: "tcp",
        hostname: (addr as [string, number])[0],
        port: (addr as [string, number])[1],
        signal: controller?.signal,
      };
    const started = Deno.connect(options as Deno.ConnectOptions);
    const done = started.then(
      (conn) => {
        if (this.#closed) conn.close();
        else this.#adopt(conn);
      },
      (e) => {
        this.#connectError = this.#closed ? badFd() : translate(e);
      },
    );
    if (wait === 0) {
      this.#connecting = done;
      throw waitExpired(0, E.EINPROGRESS);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (controller) timer = setTimeout(() => controller.abort(), wait!);
    this.#connecting = done;
    try {
      await done;
    } finally {
      clearTimeout(timer);
      this.#connecting = null;
    }
    const err = this.#connectError;
    this.#connectError = null;
    if (err) {
      if (controller?.signal.aborted) throw waitExpired(wait);
      throw err;
    }
    if (this.#closed) throw badFd();
  }

  // The connection, once a non-blocking connect has finished.
  async #connected(wait: Wait, unconnected: number): Promise<Deno.Conn> {
    if (this.#conn === null && this.#connecting) {
      const r = await raceWait(this.#connecting, wait);
      if (r === EXPIRED) throw waitExpired(wait);
      this.#connecting = null;
      const err = this.#connectError;
      this.#connectError = null;
      if (err) throw err;
    }
    this.#check();
    if (this.#conn === null) throw new OSError(unconnected);
    return this.#conn;
  }

  recv(buf: Uint8Array, flags: number, wait: Wait): Promise<number> {
    const conn = this.#conn;
    if (
      conn !== null && flags === 0 && wait === null &&
      this.#stash.length === 0 &&
      this.#pendingRead === null && !this.#eof && !this.#shutRd &&
      this.#readError === null
    ) {
      // Hot path: a blocking read straight into the caller's buffer.
      return this.#readDirect(conn, buf);
    }
    return this.#recv(buf, flags, wait);
  }

  // A read with no wait to honour goes straight into the caller's buffer;
  // null from Deno is EOF, and after an error the stream reads as ended.
  #readDirect(conn: Deno.Conn, buf: Uint8Array): Promise<number> {
    return conn.read(buf).then(
      (n) => {
        if (n !== null) return n;
        this.#eof = true;
        return 0;
      },
      (e) => {
        this.#eof = true;
        throw this.#closed ? badFd() : translate(e);
      },
    );
  }

  async #recv(buf: Uint8Array, flags: number, wait: Wait): Promise<number> {
    this.#check();
    if (flags & ~RECV_FLAGS) throw unsupportedFlags(flags & ~RECV_FLAGS);
    const conn = await this.#connected(wait, E.ENOTCONN);
    if (this.#shutRd) return 0;
    const peek = (flags & MSG_PEEK) !== 0;
    if (!(flags & MSG_WAITALL) || peek) {
      return await this.#read(conn, buf, peek, wait);
    }
    // MSG_WAITALL: fill the buffer unless EOF comes first; on a timeout keep
    // what arrived rather than lose it.
    const deadline = wait === null || wait === 0
      ? wait
      : performance.now() + wait;
    let got = 0;
    while (got < buf.length) {
      const left = deadline === null || deadline === 0
        ? deadline
        : Math.max(0, deadline - performance.now());
      let n: number;
      try {
        n = await this.#read(
          conn,
          buf.subarray(got),
          false,
          got > 0 && left === 0 ? 0 : left,
        );
      } catch (e) {
        if (got > 0 && e instanceof OSError && e.errno !== E.EBADF) return got;
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
  ): Promise<number> {
    if (this.#stash.length === 0 && !this.#eof && this.#readError === null) {
      if (this.#pendingRead === null && wait === null && !peek) {
        return await this.#readDirect(conn, buf);
      }
      this.#pendingRead ??= this.#readAhead(conn);
      conn.ref();
      if (await raceWait(this.#pendingRead, wait) === EXPIRED) {
        // A read left pending by a timeout must not keep the process alive,
        // as a Python socket would not; the next caller to wait refs it.
        if (this.#pendingRead !== null) conn.unref();
        throw waitExpired(wait);
      }
    }
    if (this.#readError !== null) {
      const err = this.#readError;
      this.#readError = null;
      throw err;
    }
    const stash = this.#stash;
    const n = Math.min(buf.length, stash.length);
    buf.set(stash.subarray(0, n));
    if (!peek) this.#stash = stash.subarray(n);
    return n;
  }

  #readAhead(conn: Deno.Conn): Promise<void> {
    const inner = this.#inner ??= new Uint8Array(READ_BUFFER);
    return conn.read(inner).then(
      (n) => {
        this.#pendingRead = null;
        conn.ref();
        if (n === null) this.#eof = true;
        else this.#stash = inner.subarray(0, n);
      },
      (e) => {
        this.#pendingRead = null;
        this.#eof = true;
        this.#readError = this.#closed ? badFd() : translate(e);
      },
    );
  }

  recvfrom(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
  ): Promise<[number, SockAddr | null]> {
    return this.recv(buf, flags, wait).then((n) => [n, null]);
  }

  send(data: Uint8Array, flags: number, wait: Wait): Promise<number> {
    const conn = this.#conn;
    if (
      conn !== null && wait === null && (flags & ~SEND_FLAGS) === 0 &&
      !this.#shutWr &&
      this.#inflight === null && this.#writeError === null && data.length > 0
    ) {
      // Hot path: a blocking write of the caller's bytes, no copy, and no
      // closure made per call.
      return conn.write(data).catch(this.#writeFailed);
    }
    return this.#send(data, flags, wait);
  }

  async #send(data: Uint8Array, flags: number, wait: Wait): Promise<number> {
    this.#check();
    if (flags & ~SEND_FLAGS) throw unsupportedFlags(flags & ~SEND_FLAGS);
    const conn = await this.#connected(wait, E.EPIPE);
    if (this.#shutWr) throw new OSError(E.EPIPE);
    if (this.#inflight !== null) {
      if (await raceWait(this.#inflight, wait) === EXPIRED) {
        throw waitExpired(wait);
      }
    }
    this.#throwWriteError();
    if (data.length === 0) return 0;
    if (wait === null) {
      try {
        return await conn.write(data);
      } catch (e) {
        throw this.#closed ? badFd() : translate(e);
      }
    }
    // A write cannot be cancelled, so one that outlives the wait must own its
    // bytes: it goes on as write-behind and the bytes count as sent.
    const chunk = data.slice(0, CHUNK);
    const p = this.#writeAll(conn, chunk);
    if (await raceWait(p, wait) === EXPIRED) this.#inflight = p;
    else this.#throwWriteError();
    return chunk.length;
  }

  #throwWriteError(): void {
    const err = this.#writeError;
    if (err !== null) {
      this.#writeError = null;
      throw err;
    }
  }

  #writeAll(conn: Deno.Conn, chunk: Uint8Array): Promise<void> {
    const p: Promise<void> = (async () => {
      for (let off = 0; off < chunk.length;) {
        off += await conn.write(chunk.subarray(off));
      }
    })().then(
      () => {
        if (this.#inflight === p) this.#inflight = null;
      },
      (e) => {
        if (this.#inflight === p) this.#inflight = null;
        this.#writeError = this.#closed ? badFd() : translate(e);
      },
    );
    return p;
  }

  sendto(
    data: Uint8Array,
    flags: number,
    _addr: SockAddr,
    wait: Wait,
  ): Promise<number> {
    // Linux ignores the address on a connected stream socket.
    if (this.#conn === null && !this.#connecting) {
      return Promise.reject(
        new OSError(this.#listener ? E.ENOTCONN : E.EPIPE),
      );
    }
    return this.send(data, flags, wait);
  }

  shutdown(how: number): void {
    this.#check();
    const conn = this.#conn;
    if (conn === null) throw new OSError(E.ENOTCONN);
    if (how !== SHUT_WR) this.#shutRd = true;
    if (how !== SHUT_RD && !this.#shutWr) {
      this.#shutWr = true;
      // The FIN goes after any write-behind data.
      const after = this.#inflight ?? Promise.resolve();
      after.then(() => conn.closeWrite()).catch(() => {});
    }
  }

  getsockname(): SockAddr {
    this.#check();
    if (this.#anonymous) return "";
    if (this.#conn) return fromDeno(this.#family, this.#conn.localAddr);
    if (this.#listener) return fromDeno(this.#family, this.#listener.addr);
    return unboundName(this.#family);
  }

  getpeername(): SockAddr {
    this.#check();
    if (this.#conn === null) throw new OSError(E.ENOTCONN);
    if (this.#anonymous) return "";
    return fromDeno(this.#family, this.#conn.remoteAddr);
  }

  setsockopt(level: number, option: number, value: number | Uint8Array): void {
    this.#check();
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
    this.#check();
    const v = this.#opts.get(level, option, this.#listening);
    return buflen === 0 ? v : optionBytes(v, buflen);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener?.close();
    this.#listener = null;
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

  detach(): number {
    throw noDescriptor("detach()");
  }

  dup(): BackendSocket {
    this.#check();
    throw noDescriptor("dup()");
  }
}

/** Deno's own networking as a backend. */
export const denoBackend: Backend = {
  name: "deno",
  open(family: number, type: number, proto: number): BackendSocket {
    const tcp = family !== AF_UNIX;
    if (type === SOCK_STREAM) {
      if (proto !== 0 && !(tcp ? proto === 6 : proto === 1)) {
        throw new OSError(E.EPROTONOSUPPORT);
      }
      return new DenoStream(family);
    }
    if (type === SOCK_DGRAM && tcp) {
      if (proto !== 0 && proto !== 17) throw new OSError(E.EPROTONOSUPPORT);
      return new DenoUdp(family);
    }
    throw new OSError(
      E.EOPNOTSUPP,
      `this socket type needs the kernel's socket; ${LIBC_HINT}`,
    );
  },
  async socketpair(
    family: number,
    type: number,
    _proto: number,
  ): Promise<[BackendSocket, BackendSocket]> {
    if (family !== AF_UNIX || type !== SOCK_STREAM) {
      throw new OSError(E.EOPNOTSUPP, `socketpair() of this type ${LIBC_HINT}`);
    }
    // An abstract name: nothing on disk to clean up, and gone with the listener.
    const path = `\0deno-socketpair-${crypto.randomUUID()}`;
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ transport: "unix", path });
    } catch (e) {
      throw translate(e);
    }
    try {
      const [a, b] = await Promise.all([
        Deno.connect({ transport: "unix", path }),
        listener.accept(),
      ]);
      return [
        new DenoStream(AF_UNIX, a).anonymous(),
        new DenoStream(AF_UNIX, b).anonymous(),
      ];
    } catch (e) {
      throw translate(e);
    } finally {
      listener.close();
    }
  },
};

// UDP on the Deno backend. Deno.listenDatagram when it is there
// (--unstable-net: the fast one), else node:dgram, which needs no flag. Both
// sit behind UdpIo; DenoUdp adds what Python expects on top: connect()
// filtering, autobind, the broadcast check, timeouts that lose nothing.
import type * as NodeDgram from "node:dgram";
import {
  AF_INET,
  AF_INET6,
  errno as E,
  IP_ADD_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_JOIN_GROUP,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_V6ONLY,
  MSG_PEEK,
  SHUT_RD,
  SHUT_WR,
  SO_BROADCAST,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../constants.ts";
import { OSError } from "../errors.ts";
import { inet_pton, isV4Mapped } from "../_inet.ts";
import { autobindAddress } from "../_address.ts";
import { permitAddress } from "../_permissions.ts";
import type { BackendSocket, SockAddr } from "../_backend.ts";
import { held, letGo, whileLetGo } from "../_ports_let_go.ts";
import {
  badFd,
  budgeted,
  EXPIRED,
  letLoopTurn,
  pace,
  raceWait,
  settlesAtOnce,
  turnLoop,
  type Wait,
  waitExpired,
} from "../_wait.ts";
import {
  DenoSocket,
  interfaceName,
  isLinkLocal,
  lettingGo,
  LIBC_HINT,
  type Membership,
  optionBytes,
  Options,
  RECV_FLAGS,
  SEND_FLAGS,
  type Setting,
  translate,
  unboundName,
  unsupportedFlags,
  withScope,
  zonedHost,
} from "./common.ts";
import {
  POLLERR,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLWRBAND,
  WAKE_ALL,
  WAKE_INPUT,
  WAKE_NONE,
  WAKE_OUTPUT,
} from "../_poll_bits.ts";

/** One datagram and its sender: the shape Deno.DatagramConn gives. */
type Datagram = readonly [data: Uint8Array, from: Sender];
interface Sender {
  hostname: string;
  port: number;
}
// The sender of no datagram (see #receiveWanted).
const NOBODY: Sender = { hostname: "", port: 0 };

/** How datagrams move: Deno.listenDatagram or node:dgram. */
interface UdpIo {
  address(): [host: string, port: number];
  /** The next datagram; written into `into` (truncated to it) when given. */
  receive(into?: Uint8Array): Promise<Datagram>;
  send(data: Uint8Array, host: string, port: number): Promise<unknown>;
  /**
   * Apply a checked setsockopt(): at once, or (Deno.listenDatagram's
   * memberships) through the promise returned, whose failure the caller
   * reports later. Throws what cannot be done.
   */
  apply(s: Setting): Promise<unknown> | void;
  /**
   * Keep the process alive (a call waits) or not (idle, as in Python);
   * `outlived`: a receive is still running with no call waiting for it.
   */
  hold(on: boolean, outlived?: boolean): void;
  /**
   * shutdown(SHUT_RD): receives waiting with nothing queued end with no
   * datagram (NOBODY's), as Linux wakes them. Where a receive cannot be
   * ended (Deno.listenDatagram's is an op in flight), absent.
   */
  wake?(): void;
  /**
   * Close it; the promise of the kernel's close when that comes later
   * (node:dgram's, a turn on), for the port to be free.
   */
  close(): Promise<void> | void;
}

// The largest UDP payload: receives that outlive their caller land here.
const MAX_DATAGRAM = 65536;

/** A multicast group joined through Deno.DatagramConn. */
type DenoMembership = Deno.MulticastV4Membership | Deno.MulticastV6Membership;

/** Deno.listenDatagram (unstable): reads straight into the caller's buffer. */
class DenoIo implements UdpIo {
  readonly #conn: Deno.DatagramConn;
  #held = true;
  // Joined groups, by Options.key(); each the promise of its membership.
  readonly #groups = new Map<string, Promise<DenoMembership>>();

  constructor(host: string, port: number, reuse: boolean, loopback: boolean) {
    try {
      this.#conn = Deno.listenDatagram({
        transport: "udp",
        hostname: host,
        port,
        reuseAddress: reuse,
        // Deno's default is off; Linux's (IP_MULTICAST_LOOP) is on.
        loopback,
      });
    } catch (e) {
      throw translate(e);
    }
    // Idle, it holds nothing: only a pending receive keeps the process
    // alive, and one is pending while a call waits, or after a timeout left
    // it running (then hold(false) unrefs it).
  }

  hold(on: boolean, outlived = false): void {
    if (on === this.#held) return;
    // Only when a receive outlived its call: no ref()/unref() per call.
    if (!on && !outlived) return;
    this.#held = on;
    // ref()/unref() are there at run time in Deno 2.9, not yet in its types;
    // they apply to a receive already pending.
    const conn = this.#conn as Deno.DatagramConn & {
      ref?(): void;
      unref?(): void;
    };
    if (on) conn.ref?.();
    else conn.unref?.();
  }

  address(): [string, number] {
    const { hostname, port } = this.#conn.addr as Deno.NetAddr;
    return [hostname, port];
  }

  receive(into?: Uint8Array): Promise<Datagram> {
    // Deno's own promise, passed on: no layer of ours on the hot path.
    return budgeted(this.#conn.receive(into) as Promise<Datagram>);
  }

  send(data: Uint8Array, host: string, port: number): Promise<unknown> {
    return budgeted(
      this.#conn.send(data, { transport: "udp", hostname: host, port }),
    );
  }

  apply(s: Setting): Promise<unknown> | void {
    if (s.kind !== "value") {
      const key = Options.key(s.membership);
      if (s.kind === "leave") {
        const joined = this.#groups.get(key);
        this.#groups.delete(key);
        return joined?.then((m) => m.leave());
      }
      const m = s.membership;
      const joined: Promise<DenoMembership> = m.v6
        ? this.#conn.joinMulticastV6(m.group, m.index)
        : this.#conn.joinMulticastV4(m.group, m.address || "0.0.0.0");
      this.#groups.set(key, joined);
      return joined.catch((e) => {
        if (this.#groups.get(key) === joined) this.#groups.delete(key);
        throw e;
      });
    }
    // Deno's UDP sockets always allow broadcast (the check is DenoUdp's);
    // the others are recorded only (see Options).
    if (s.level === SOL_SOCKET) return;
    // A membership's handle sets the loop flag and the multicast TTL for
    // the whole socket.
    const any = this.#groups.values().next().value;
    const loop = (s.level === IPPROTO_IP && s.option === IP_MULTICAST_LOOP) ||
      (s.level === IPPROTO_IPV6 && s.option === IPV6_MULTICAST_LOOP);
    if (any !== undefined && loop) {
      return any.then((m) => m.setLoopback(s.value !== 0));
    }
    if (
      any !== undefined && s.level === IPPROTO_IP &&
      s.option === IP_MULTICAST_TTL
    ) {
      return any.then((m) => "setTTL" in m ? m.setTTL(s.value) : undefined);
    }
    throw new OSError(
      E.ENOPROTOOPT,
      `Protocol not available: option (${s.level}, ${s.option}) cannot be set on Deno.listenDatagram (--unstable-net) after bind(); set it before bind(), run without --unstable-net, or ${LIBC_HINT}`,
    );
  }

  close(): void {
    // The kernel's socket goes at once, unless a receive is in flight (the
    // caller tracks those).
    this.#conn.close();
  }
}

// The peer a connect() to the wildcard gets: loopback, as Linux routes it.
const LOOPBACK_FOR_ANY: ReadonlyMap<string, string> = new Map([
  ["0.0.0.0", "127.0.0.1"],
  ["::", "::1"],
  ["::ffff:0.0.0.0", "::ffff:127.0.0.1"],
]);

// Like the kernel's receive buffer: past this, new datagrams are dropped.
const QUEUE_BYTES = 4 << 20;
const QUEUE_COUNT = 4096;

type Dgram = typeof NodeDgram;
let dgramModule: Dgram | null = null;

// node:dgram pulls in Node compatibility (several MiB): loaded on the first
// UDP bind, synchronously, as bind() is.
function nodeDgram(): Dgram {
  if (dgramModule !== null) return dgramModule;
  const proc =
    (globalThis as { process?: { getBuiltinModule?(id: string): unknown } })
      .process;
  if (typeof proc?.getBuiltinModule !== "function") {
    throw new OSError(
      E.EOPNOTSUPP,
      `UDP on Deno's networking needs node:dgram or --unstable-net; ${LIBC_HINT}`,
    );
  }
  return dgramModule = proc.getBuiltinModule("node:dgram") as Dgram;
}

/**
 * A membership's interface as node:dgram takes it: an IPv4 address, or
 * `::%name` for an IPv6 index (Deno's node:dgram ignores a numeric zone in
 * addMembership, so the index is named: /sys where Deno may read it, else
 * libc's if_indextoname with --allow-ffi).
 */
function nodeInterface(m: Membership): string | undefined {
  if (!m.v6) return m.address || undefined;
  if (m.index === 0) return undefined;
  const name = interfaceName(m.index);
  if (name === null) throw new OSError(E.ENODEV);
  if (name === undefined) {
    throw new OSError(
      E.ENOPROTOOPT,
      `IPV6_JOIN_GROUP with interface index ${m.index} needs the interface's name: run with --allow-ffi, or join with index 0`,
    );
  }
  return `::%${name}`;
}

/** node:dgram: no flag needed; messages are queued as they arrive. */
class NodeIo implements UdpIo {
  readonly #sock: NodeDgram.Socket;
  #queue: Datagram[] = [];
  #head = 0;
  #queued = 0;
  #arrived: PromiseWithResolvers<void> | null = null;
  // Counts wake()s: a receive that saw one end while it waited ends.
  #wakes = 0;
  #closed = false;
  #keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(v6: boolean, host: string, port: number, reuse: boolean) {
    // A lookup that answers synchronously makes node:dgram bind
    // synchronously, so getsockname() and EADDRINUSE are right when bind()
    // returns.
    const lookup = (
      address: string,
      _o: unknown,
      cb: (e: null, a: string, f: number) => void,
    ) => cb(null, address, v6 ? 6 : 4);
    const sock = nodeDgram().createSocket({
      type: v6 ? "udp6" : "udp4",
      reuseAddr: reuse,
      lookup: lookup as unknown as NodeDgram.SocketOptions["lookup"],
    });
    // Deno's dgram honours unref() only for receives started after it, so it
    // comes before bind(): an idle socket never keeps the process alive.
    sock.unref();
    let failure: unknown = null;
    const onError = (e: unknown) => failure = e;
    sock.once("error", onError);
    try {
      sock.bind({ port, address: host });
      sock.address();
    } catch (e) {
      failure ??= e;
    }
    sock.off("error", onError);
    if (failure !== null) {
      try {
        sock.close();
      } catch {
        // Never opened: nothing to release.
      }
      throw translate(failure);
    }
    sock.on("error", () => {});
    sock.on("message", (msg: Uint8Array, rinfo: NodeDgram.RemoteInfo) => {
      if (
        this.#queue.length - this.#head >= QUEUE_COUNT ||
        this.#queued + msg.length > QUEUE_BYTES
      ) return;
      this.#queue.push([msg, { hostname: rinfo.address, port: rinfo.port }]);
      this.#queued += msg.length;
      this.#arrived?.resolve();
      this.#arrived = null;
    });
    this.#sock = sock;
  }

  address(): [string, number] {
    const { address, port } = this.#sock.address();
    return [address, port];
  }

  async receive(into?: Uint8Array): Promise<Datagram> {
    const wakes = this.#wakes;
    while (this.#head === this.#queue.length) {
      if (this.#closed) throw badFd();
      if (this.#wakes !== wakes) return [new Uint8Array(0), NOBODY];
      await (this.#arrived ??= Promise.withResolvers<void>()).promise;
    }
    const d = this.#queue[this.#head];
    this.#queue[this.#head++] = undefined as unknown as Datagram;
    this.#queued -= d[0].length;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    if (into === undefined) return d;
    const n = Math.min(into.length, d[0].length);
    into.set(d[0].subarray(0, n));
    return [into.subarray(0, n), d[1]];
  }

  wake(): void {
    this.#wakes++;
    this.#arrived?.resolve();
    this.#arrived = null;
  }

  send(data: Uint8Array, host: string, port: number): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#sock.send(
      data,
      port,
      host,
      // Untranslated: the caller reads node's code (see unknownSendError).
      (e) => e ? reject(e) : resolve(),
    );
    return promise;
  }

  hold(on: boolean): void {
    // The receive loop is unref'd for good (see the constructor): an interval
    // holds the process while a call waits.
    if (on) this.#keepAlive ??= setInterval(() => {}, 0x7fffffff);
    else {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  apply(s: Setting): void {
    const sock = this.#sock;
    try {
      if (s.kind !== "value") {
        const { group } = s.membership;
        const iface = nodeInterface(s.membership);
        if (s.kind === "join") sock.addMembership(group, iface);
        else sock.dropMembership(group, iface);
        return;
      }
      const { level, option, value } = s;
      if (level === SOL_SOCKET && option === SO_BROADCAST) {
        sock.setBroadcast(value !== 0);
      } else if (level === IPPROTO_IP && option === IP_TTL) {
        sock.setTTL(value);
      } else if (level === IPPROTO_IP && option === IP_MULTICAST_TTL) {
        sock.setMulticastTTL(value);
      } else if (
        (level === IPPROTO_IP && option === IP_MULTICAST_LOOP) ||
        (level === IPPROTO_IPV6 && option === IPV6_MULTICAST_LOOP)
      ) {
        sock.setMulticastLoopback(value !== 0);
      } else if (level === IPPROTO_IP && option === IP_MULTICAST_IF) {
        // The in_addr's bytes, as getsockopt() reads them back (host order).
        const b = new Uint8Array(new Int32Array([value]).buffer);
        sock.setMulticastInterface(b.join("."));
      } else if (level === IPPROTO_IPV6 && option === IPV6_MULTICAST_IF) {
        sock.setMulticastInterface(value === 0 ? "::" : `::%${value}`);
      }
    } catch (e) {
      // Deno's node:dgram reports every refusal as EINVAL; the values were
      // checked already, so what is left is the interface Linux refused.
      const code = (e as { code?: unknown }).code;
      if (code !== "EINVAL") throw translate(e);
      if (s.kind === "join") throw new OSError(E.ENODEV);
      if (s.kind === "value" && s.option === IP_MULTICAST_IF) {
        throw new OSError(E.EADDRNOTAVAIL);
      }
      throw new OSError(s.kind === "leave" ? E.EADDRNOTAVAIL : E.ENODEV);
    }
  }

  close(): Promise<void> | void {
    this.#closed = true;
    this.hold(false);
    this.#queue = [];
    this.#head = 0;
    this.#arrived?.resolve();
    try {
      // The port is free once node:dgram says closed (a turn later).
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#sock.close(() => resolve());
      return promise;
    } catch {
      // Already closed: nothing to release.
    }
  }
}

// Deno's multicast calls throw a plain Error whose message ends in
// "(os error N)": the errno is that N.
function osError(e: unknown): Error {
  const m = e instanceof Error ? /\(os error (\d+)\)$/.exec(e.message) : null;
  return m ? new OSError(Number(m[1]), undefined, { cause: e }) : translate(e);
}

// Options only node:dgram can set: a socket that has them does not use
// Deno.listenDatagram.
const NODE_ONLY: readonly (readonly [number, number])[] = [
  [IPPROTO_IP, IP_TTL],
  [IPPROTO_IP, IP_MULTICAST_TTL],
  [IPPROTO_IP, IP_MULTICAST_IF],
  [IPPROTO_IPV6, IPV6_MULTICAST_IF],
];

// node:dgram's "send UNKNOWN" carries no errno: what Linux says for a send
// it refuses between IPv6 and IPv4-mapped addresses, from the addresses;
// else EINVAL, so the error still has a number.
function unknownSendError(e: unknown, from: string, to: string): Error {
  if ((e as { code?: unknown }).code !== "UNKNOWN") return translate(e);
  const mapped = (host: string) => /^::ffff:[0-9.]+$/i.test(host);
  if (from.includes(":") && from !== "::" && mapped(to) !== mapped(from)) {
    return new OSError(mapped(to) ? E.ENETUNREACH : E.EAFNOSUPPORT, null, {
      cause: e,
    });
  }
  return new OSError(E.EINVAL, null, { cause: e });
}

/** A UDP socket on Deno's networking, with Python's semantics. */
export class DenoUdp extends DenoSocket implements BackendSocket {
  readonly #family: number;
  readonly #opts: Options;
  #io: UdpIo | null = null;
  readonly #closing = Promise.withResolvers<void>();
  #peer: [string, number] | null = null;
  // The scope ids (0: none) of the link-local peer connected to and of the
  // link-local address bound: Deno's addresses leave them out.
  #peerScope = 0;
  #scope = 0;
  // A receive that outlived its caller's wait lands in #held for the next
  // call, so a timeout never loses a datagram.
  #inner: Uint8Array | null = null;
  #innerBusy = false;
  #pending: Promise<void> | null = null;
  #held: Datagram | null = null;
  // Datagrams queued behind #held, oldest first: those connect() found
  // already come (Linux keeps them, from any sender), and any come since.
  #queued: Datagram[] = [];
  // The receive-ahead's buffer, for the next one once its datagram is
  // taken: a new 64 KiB buffer per datagram (fresh pages) cost 10-130 us,
  // longer than datagrams take to come at a few thousand a second, and the
  // kernel dropped what queued meanwhile.
  #spare: Uint8Array | null = null;
  #heldError: Error | null = null;
  #waiting = 0;
  // Resolved when no call waits any more (close() waits for it: a receive
  // into a caller's buffer holds the port until it ends).
  #idle: PromiseWithResolvers<void> | null = null;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  // shutdown(): SHUT_RD stops no datagram (Linux's UDP): it makes a
  // blocking receive that finds none return nothing, and wakes one waiting;
  // SHUT_WR makes a send EPIPE.
  #shutRd = false;
  readonly #readShut = Promise.withResolvers<void>();
  #shutWr = false;
  #optionError: Error | null = null;

  constructor(family: number) {
    super();
    this.#family = family;
    this.#opts = new Options(family, SOCK_DGRAM, () => this.#io !== null);
  }

  bind(addr: SockAddr): void {
    this.check();
    if (this.#io) throw new OSError(E.EINVAL);
    const [host, port, , scope] = addr as [string, number, number?, number?];
    this.#open([zonedHost(addr), port]);
    this.#opts.bind(host);
    if (scope && isLinkLocal(host)) this.#scope = scope;
  }

  #open([host, port]: [string, number]): UdpIo {
    const opts = this.#opts;
    const reuse = opts.flag(SOL_SOCKET, SO_REUSEADDR);
    // Deno.listenDatagram cannot set these at all; node:dgram can.
    const fast = typeof Deno.listenDatagram === "function" &&
      !NODE_ONLY.some(([level, option]) => opts.has(level, option));
    const loop = this.#family === AF_INET6
      ? opts.get(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, false)
      : opts.get(IPPROTO_IP, IP_MULTICAST_LOOP, false);
    // The port's last socket here may live on in a child for a moment.
    const io = whileLetGo(
      "udp",
      port,
      () =>
        fast
          ? new DenoIo(host, port, reuse, loop !== 0)
          : new NodeIo(this.#family === AF_INET6, host, port, reuse),
      (e) => e instanceof OSError && e.errno === E.EADDRINUSE,
    );
    held("udp", io.address()[1]);
    // What was set before bind() takes effect now, as the kernel's socket
    // had it all along.
    try {
      if (!fast) {
        for (const [key, value] of opts.values) {
          const [level, option] = key.split(":").map(Number);
          io.apply({ kind: "value", level, option, value });
        }
      }
      for (const membership of opts.memberships.values()) {
        const s: Setting = {
          kind: "join",
          level: membership.v6 ? IPPROTO_IPV6 : IPPROTO_IP,
          option: membership.v6 ? IPV6_JOIN_GROUP : IP_ADD_MEMBERSHIP,
          membership,
        };
        this.#settle(s, io.apply(s));
      }
    } catch (e) {
      io.close();
      throw e;
    }
    this.#io = io;
    return io;
  }

  // A membership Deno.listenDatagram joins in the background: a failure
  // is forgotten and reported by the next setsockopt()/getsockopt().
  #settle(s: Setting, pending: Promise<unknown> | void): void {
    pending?.catch((e) => {
      if (s.kind === "join") {
        this.#opts.memberships.delete(Options.key(s.membership));
      }
      this.#optionError ??= this.closed ? badFd() : osError(e);
    });
  }

  #raiseOptionError(): void {
    const e = this.#optionError;
    if (e !== null) {
      this.#optionError = null;
      throw e;
    }
  }

  // Route selection is the kernel's; for a loopback peer the source is
  // loopback.
  #autobind(toward?: string): UdpIo {
    if (this.#io) return this.#io;
    return this.#open(autobindAddress(this.#family, toward));
  }

  // Linux binds a socket that sends (autobind) before it finds it has no
  // destination; so does this, where the flags grant the bind without a
  // prompt. The send fails either way, with the missing destination.
  #autobindQuietly(): void {
    if (this.#io !== null) return;
    try {
      permitAddress(
        this.#family,
        SOCK_DGRAM,
        0,
        autobindAddress(this.#family),
      );
      this.#autobind();
    } catch {
      // Not bound: the error to report is the missing destination.
    }
  }

  listen(_backlog: number): void {
    this.check();
    throw new OSError(E.EOPNOTSUPP);
  }

  accept(_wait: Wait): Promise<[BackendSocket, SockAddr | null]> {
    return Promise.reject(this.closed ? badFd() : new OSError(E.EOPNOTSUPP));
  }

  async connect(addr: SockAddr, _wait: Wait): Promise<void> {
    this.check();
    const [to, port] = addr as [string, number];
    // Linux connects to the wildcard as to this host: the peer named, and
    // heard from, is loopback.
    const host = LOOPBACK_FOR_ANY.get(to) ?? to;
    this.#route(host);
    try {
      this.#broadcast(host);
    } catch (e) {
      // Linux binds the socket (autobind) before it looks for the route.
      this.#autobindQuietly();
      throw e;
    }
    // Linux filters by the peer as datagrams arrive: those already queued
    // stay, whoever sent them. What has come is taken in first, a turn of
    // the loop given to each (one owed or not: what the kernel holds may
    // have come before the last turn, with no receive there to take it).
    const io = this.#io;
    if (io !== null) {
      for (let i = 0; i < QUEUE_COUNT && this.#heldError === null; i++) {
        this.#startReceive(io);
        if (await settlesAtOnce(this.#pending!)) continue;
        await turnLoop();
        if (this.#pending !== null) break;
      }
      this.check();
    }
    this.#autobind(host);
    this.#peer = [host, port];
    this.#peerScope = zonedHost(addr) === to ? 0 : (addr as number[])[3];
  }

  // Linux's IPv6 rules for IPv4-mapped addresses: an IPv6-only socket
  // (one bound to a single IPv6 address is) has no IPv4 route, and one
  // bound to a mapped address reaches IPv4 only.
  #route(host: string): void {
    if (this.#family !== AF_INET6) return;
    const mapped = isV4Mapped(inet_pton(AF_INET6, host.replace(/%.*$/, "")));
    if (mapped && this.#opts.flag(IPPROTO_IPV6, IPV6_V6ONLY)) {
      throw new OSError(E.ENETUNREACH);
    }
    const io = this.#io;
    if (
      !mapped && io !== null &&
      isV4Mapped(inet_pton(AF_INET6, io.address()[0]))
    ) throw new OSError(E.EAFNOSUPPORT);
  }

  // Linux routes to the broadcast address, IPv4-mapped too, only with
  // SO_BROADCAST set.
  #broadcast(host: string): void {
    if (
      (host === "255.255.255.255" || host === "::ffff:255.255.255.255") &&
      !this.#opts.flag(SOL_SOCKET, SO_BROADCAST)
    ) throw new OSError(E.EACCES);
  }

  #from([, from]: Datagram): SockAddr | null {
    if (from === NOBODY) return null;
    const { hostname, port } = from;
    return this.#family === AF_INET6
      ? withScope([hostname, port, 0, 0], this.#peerScope || this.#scope)
      : [hostname, port];
  }

  // A connected socket only hears from its peer, as the kernel filters.
  #wanted(d: Datagram): boolean {
    const peer = this.#peer;
    return peer === null || d[1] === NOBODY ||
      (d[1].port === peer[1] && d[1].hostname === peer[0]);
  }

  // While a call waits, the process stays alive for it; idle, the socket
  // does not hold it (an unbound one has no I/O: an interval holds it).
  async #waitFor<T>(
    promise: Promise<T>,
    wait: Wait,
    signal: AbortSignal | undefined,
  ): Promise<T | typeof EXPIRED> {
    const io = this.#io;
    this.#enter(io);
    try {
      return await raceWait(promise, wait, signal);
    } finally {
      this.#leave(io);
    }
  }

  #enter(io: UdpIo | null): void {
    if (this.#waiting++ > 0) return;
    if (io) io.hold(true);
    else this.#keepAlive = setInterval(() => {}, 0x7fffffff);
  }

  #leave(io: UdpIo | null): void {
    if (--this.#waiting > 0) return;
    this.#idle?.resolve();
    this.#idle = null;
    if (io) io.hold(false, this.#pending !== null);
    if (this.#keepAlive !== undefined) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  async recv(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<number> {
    const io = this.#io;
    if (
      io !== null && wait === null && signal === undefined && flags === 0 &&
      !this.closed &&
      !this.#shutRd && this.#ready()
    ) {
      // The hot path: one layer of ours over Deno's receive.
      if (this.#peer === null) {
        return (await this.#receiveWanted(io, buf))[0].length;
      }
      if (!this.#innerBusy) return (await this.#receiveCopy(io, buf))[0];
    }
    return (await this.recvfrom(buf, flags, wait, signal))[0];
  }

  async recvfrom(
    buf: Uint8Array,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[number, SockAddr | null]> {
    this.check();
    if (flags & ~RECV_FLAGS) throw unsupportedFlags(flags & ~RECV_FLAGS);
    const io = this.#io;
    if (
      io !== null && wait === null && signal === undefined &&
      !(flags & MSG_PEEK) && !this.#shutRd && this.#ready()
    ) {
      if (this.#peer === null) {
        const d = await this.#receiveWanted(io, buf);
        return [d[0].length, this.#from(d)];
      }
      if (!this.#innerBusy) {
        const [n, d] = await this.#receiveCopy(io, buf);
        return [n, this.#from(d)];
      }
    }
    const had = buf.length;
    return await this.#take(
      flags,
      wait,
      signal,
      (d) => [this.#copyOut(buf, had, d), this.#from(d)],
    );
  }

  /**
   * recvfrom() that returns the bytes it got, sized to the datagram: no
   * zero-filled buffer of `size` per call.
   */
  async recvBytes(
    size: number,
    flags: number,
    wait: Wait,
    signal?: AbortSignal,
  ): Promise<[Uint8Array<ArrayBuffer>, SockAddr | null]> {
    this.check();
    if (flags & ~RECV_FLAGS) throw unsupportedFlags(flags & ~RECV_FLAGS);
    const io = this.#io;
    if (
      io !== null && wait === null && signal === undefined &&
      !(flags & MSG_PEEK) && !this.#shutRd &&
      !this.#innerBusy && this.#ready()
    ) {
      this.#innerBusy = true;
      try {
        const d = await this.#receiveWanted(
          io,
          this.#inner ??= new Uint8Array(MAX_DATAGRAM),
        );
        return [d[0].slice(0, size), this.#from(d)];
      } finally {
        this.#innerBusy = false;
      }
    }
    return await this.#take(
      flags,
      wait,
      signal,
      (d) => [d[0].slice(0, size), this.#from(d)],
    );
  }

  // The next datagram from the peer (any sender when unconnected).
  // `into` may be the caller's buffer: one detached or shrunk to nothing
  // meanwhile gives an empty datagram from NOBODY, 0 bytes, which the Python
  // layer reports as BufferError; the datagram went into memory the caller
  // gave away.
  async #receiveWanted(io: UdpIo, into: Uint8Array): Promise<Datagram> {
    const had = into.length;
    this.#enter(io);
    try {
      for (;;) {
        const d = await io.receive(into);
        if (this.#wanted(d)) return d;
      }
    } catch (e) {
      if (this.closed) throw badFd();
      if (had > 0 && into.length === 0) return [new Uint8Array(0), NOBODY];
      throw translate(e);
    } finally {
      this.#leave(io);
    }
  }

  // Connected: Deno does not filter by peer, so other senders' datagrams
  // are received and dropped here; they go into the socket's own buffer,
  // never the caller's, and only the peer's is copied out.
  async #receiveCopy(io: UdpIo, buf: Uint8Array): Promise<[number, Datagram]> {
    this.#innerBusy = true;
    const had = buf.length;
    try {
      const d = await this.#receiveWanted(
        io,
        this.#inner ??= new Uint8Array(MAX_DATAGRAM),
      );
      return [this.#copyOut(buf, had, d), d];
    } finally {
      this.#innerBusy = false;
    }
  }

  // The datagram into the caller's buffer. One detached or shrunk to
  // nothing while the call waited takes nothing: 0, which the Python layer
  // reports as BufferError. The datagram is not put back: a receive of
  // another call may land in the socket's one held place meanwhile, and
  // order would not hold.
  #copyOut(buf: Uint8Array, had: number, d: Datagram): number {
    if (had > 0 && buf.length === 0) return 0;
    const n = Math.min(buf.length, d[0].length);
    buf.set(d[0].subarray(0, n));
    return n;
  }

  // Nothing held back, no receive left running by a timeout: the next
  // datagram can go straight into the caller's buffer.
  #ready(): boolean {
    return this.#held === null && this.#pending === null &&
      this.#heldError === null;
  }

  // The next wanted datagram, waiting at most `wait`, as `copy` takes it out
  // of the receive-ahead's buffer, which the next one reuses; kept for the
  // next call with MSG_PEEK.
  async #take<T>(
    flags: number,
    wait: Wait,
    signal: AbortSignal | undefined,
    copy: (d: Datagram) => T,
  ): Promise<T> {
    while (this.#held === null && this.#heldError === null) {
      const io = this.#io;
      // Unbound: nothing can arrive (as on Linux); wait for the timeout or close().
      // Non-blocking, or blocking but shut down for reading (then Linux's UDP
      // returns nothing at once): a datagram already there comes at once;
      // else a receive stays in flight for a later call.
      if (wait === 0 || (wait === null && this.#shutRd)) {
        if (io !== null && await this.#arrivesAtOnce(io)) continue;
        if (wait === 0) throw waitExpired(0);
        return copy([new Uint8Array(0), NOBODY]);
      }
      let next: Promise<void> = io === null
        ? this.#closing.promise
        : this.#pending ??= this.#receiveAhead(io);
      // A shutdown(SHUT_RD) wakes a blocking wait (Linux's UDP).
      if (wait === null) next = Promise.race([next, this.#readShut.promise]);
      if (await this.#waitFor(next, wait, signal) === EXPIRED) {
        throw waitExpired(wait);
      }
      this.check();
    }
    if (this.#heldError !== null) {
      const e = this.#heldError;
      this.#heldError = null;
      throw e;
    }
    const held = this.#held!;
    const d = copy(held);
    if (!(flags & MSG_PEEK)) {
      this.#held = this.#queued.shift() ?? null;
      if (held[0].buffer.byteLength === MAX_DATAGRAM) {
        this.#spare = new Uint8Array(held[0].buffer);
      }
      // Taken: the watch looks again, to receive the next.
      this.watchers.notify(WAKE_NONE);
    }
    const paced = pace();
    if (paced !== undefined) await paced;
    return d;
  }

  // Whether a datagram is there, or comes in a turn of the loop: a receive
  // is started (and stays in flight for a later call) and held on to.
  async #arrivesAtOnce(io: UdpIo): Promise<boolean> {
    this.#startReceive(io);
    return await settlesAtOnce(this.#pending!) ||
      (await letLoopTurn() && this.#pending === null);
  }

  async #receiveAhead(io: UdpIo): Promise<void> {
    // Not the caller's buffer: this receive may outlive the call.
    const inner = this.#spare ?? new Uint8Array(MAX_DATAGRAM);
    this.#spare = null;
    try {
      for (;;) {
        const d = await io.receive(inner);
        if (d[1] === NOBODY) {
          // Woken by shutdown(SHUT_RD): nothing came; the next call asks.
          this.#spare = inner;
          break;
        }
        if (this.#wanted(d)) {
          if (this.#held === null) this.#held = d;
          else {
            // Behind one held: a copy, and the buffer serves again.
            this.#queued.push([d[0].slice(), d[1]]);
            this.#spare = inner;
          }
          break;
        }
      }
    } catch (e) {
      this.#heldError = this.closed ? badFd() : translate(e);
      this.#spare = inner;
    } finally {
      this.#pending = null;
      this.settled(this.#held !== null ? WAKE_INPUT : WAKE_ALL);
    }
  }

  // A receive that no caller waits on: it holds nothing (see DenoIo).
  #startReceive(io: UdpIo): void {
    if (this.#pending !== null) return;
    this.#pending = this.#receiveAhead(io);
    if (this.#waiting === 0) io.hold(false, true);
  }

  override poll(events: number): number {
    if (this.closed) return POLLNVAL;
    // Linux's datagram sockets are always writable, POLLWRBAND too.
    let r = POLLOUT | POLLWRBAND;
    if (this.#held !== null || this.#shutRd) r |= POLLIN;
    if (this.#heldError !== null) r |= POLLIN | POLLERR;
    const io = this.#io;
    if ((r & POLLIN) === 0 && (events & POLLIN) && io !== null) {
      this.#startReceive(io);
    }
    return r;
  }

  send(data: Uint8Array, flags: number, _wait: Wait): Promise<number> {
    if (this.closed) return Promise.reject(badFd());
    if (this.#peer === null) {
      this.#autobindQuietly();
      // Linux refuses an IPv4 datagram past 64 KiB before it looks for a
      // destination.
      const big = this.#family === AF_INET && data.length > 0xffff;
      return Promise.reject(new OSError(big ? E.EMSGSIZE : E.EDESTADDRREQ));
    }
    return this.#sendTo(data, flags, this.#peer, this.#peerScope, true);
  }

  sendto(
    data: Uint8Array,
    flags: number,
    addr: SockAddr,
    _wait: Wait,
  ): Promise<number> {
    const scope = (addr as [string, number, number?, number?])[3] ?? 0;
    return this.#sendTo(data, flags, addr, scope, false);
  }

  // A datagram to `addr` (`scope`: its scope id, 0 for none), or to the
  // peer connected to.
  async #sendTo(
    data: Uint8Array,
    flags: number,
    addr: SockAddr,
    scope: number,
    connected: boolean,
  ): Promise<number> {
    this.check();
    if (flags & ~SEND_FLAGS) throw unsupportedFlags(flags & ~SEND_FLAGS);
    const [host, port] = addr as [string, number];
    try {
      this.#route(host);
      this.#broadcast(host);
      if (port === 0 && !connected) throw new OSError(E.EINVAL);
      if (data.length > (this.#family === AF_INET6 ? 65527 : 65507)) {
        throw new OSError(E.EMSGSIZE);
      }
      if (this.#shutWr) throw new OSError(E.EPIPE);
    } catch (e) {
      // Linux binds the socket (autobind) before it looks at the send: one
      // refused has a port all the same.
      this.#autobindQuietly();
      throw e;
    }
    const io = this.#autobind();
    try {
      // Connected to port 0, Linux sends all the same, to a port no socket
      // can have; Deno's stacks refuse it.
      // A link-local peer with no scope id is on the link bound to, as
      // Linux takes it.
      const zone = scope ||
        (this.#scope && isLinkLocal(host) ? this.#scope : 0);
      const to = zone && !host.includes("%") ? `${host}%${zone}` : host;
      if (port !== 0) await io.send(data, to, port);
    } catch (e) {
      if (this.closed) throw badFd();
      // node:dgram reports a destination --allow-net refuses as "send
      // UNKNOWN": the flag is named as Deno's own sockets name it.
      permitAddress(this.#family, SOCK_DGRAM, 0, addr);
      throw unknownSendError(e, io.address()[0], host);
    }
    // Linux wakes a datagram socket's writers as each one it sent is freed:
    // an edge-triggered EPOLLOUT watch reports again.
    this.watchers.notify(WAKE_OUTPUT);
    return data.length;
  }

  shutdown(how: number): void {
    this.check();
    // Linux shuts an unconnected UDP socket down too, and then says ENOTCONN.
    if (how !== SHUT_WR) {
      this.#shutRd = true;
      this.#readShut.resolve();
      this.#io?.wake?.();
    }
    if (how !== SHUT_RD) this.#shutWr = true;
    if (this.#peer === null) throw new OSError(E.ENOTCONN);
  }

  getsockname(): SockAddr {
    this.check();
    if (this.#io === null) return unboundName(this.#family);
    let [host, port] = this.#io.address();
    // Bound to the wildcard, then connected: the kernel names the source it
    // routes from, loopback toward a loopback peer (others it alone knows).
    const peer = this.#peer;
    if (peer !== null && (host === "0.0.0.0" || host === "::")) {
      // Toward an IPv4-mapped loopback peer, the mapped loopback.
      host = /^::ffff:127\./i.test(peer[0])
        ? "::ffff:127.0.0.1"
        : autobindAddress(this.#family, peer[0])[0];
    }
    return this.#family === AF_INET6
      ? withScope([host, port, 0, 0], this.#scope)
      : [host, port];
  }

  getpeername(): SockAddr {
    this.check();
    // Linux: connected to port 0, the socket names no peer.
    if (this.#peer === null || this.#peer[1] === 0) {
      throw new OSError(E.ENOTCONN);
    }
    return this.#family === AF_INET6
      ? withScope([...this.#peer, 0, 0], this.#peerScope)
      : [...this.#peer];
  }

  setsockopt(
    level: number,
    option: number,
    value: number | Uint8Array | null,
  ): void {
    this.check();
    this.#raiseOptionError();
    const s = this.#opts.parse(level, option, value);
    if (
      s.kind === "value" && s.level === IPPROTO_IP &&
      s.option === IP_MULTICAST_TTL && s.value === 0
    ) {
      // Deno's node:dgram refuses 0 (host only), and no other value means it.
      throw new OSError(
        E.ENOPROTOOPT,
        `Protocol not available: IP_MULTICAST_TTL 0 is not possible with Deno's networking; ${LIBC_HINT}`,
      );
    }
    const pending = this.#io?.apply(s);
    this.#opts.record(s);
    this.#settle(s, pending);
  }

  getsockopt(
    level: number,
    option: number,
    buflen: number,
  ): number | Uint8Array {
    this.check();
    this.#raiseOptionError();
    const v = this.#opts.get(level, option, false);
    return buflen === 0 ? v : optionBytes(v, buflen);
  }

  close(): void {
    if (!this.markClosed()) return;
    this.#closing.resolve();
    const io = this.#io;
    this.#io = null;
    this.#queued = [];
    if (io === null) return;
    let port = 0;
    try {
      port = io.address()[1];
    } catch {
      // node:dgram's socket stopped on its own: no port to let go of.
    }
    // The port is free once the kernel's socket is closed: at once, or once
    // the receives in flight (Deno's ops: the receive-ahead, and those of
    // the calls still waiting) or node:dgram's close have ended. A child
    // forked meanwhile may hold it a moment longer (see _ports_let_go.ts).
    const callers = this.#waiting > 0
      ? (this.#idle ??= Promise.withResolvers()).promise
      : null;
    const ops = [io.close(), this.#pending, callers].filter((op) =>
      op !== undefined && op !== null
    );
    if (ops.length === 0) letGo("udp", port);
    else lettingGo(Promise.allSettled(ops).then(() => letGo("udp", port)));
  }
}

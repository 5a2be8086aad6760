// Python's socket.py conveniences: create_connection, create_server,
// has_dualstack_ipv6 (CPython 3.11 Lib/socket.py, same order of steps).
import {
  AF_INET,
  AF_INET6,
  has_ipv6,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./constants.ts";
import { OSError, ValueError } from "./errors.ts";
import {
  argumentCount,
  defArity,
  isOptionsArg,
  optionsAt,
  pyTypeName,
} from "./_args.ts";
import { type Address, addressRepr } from "./_address.ts";
import { chooseBackend, needLibc, type SockAddr } from "./_backend.ts";
import { getaddrinfo } from "./_resolve.ts";
import { type AddressOf, type Socket, socket } from "./socket.ts";

// getaddrinfo() and create_server() give only these families here.
type InetFamily = typeof AF_INET | typeof AF_INET6;

/** A TCP socket on IPv4 or IPv6, whose addresses are `[host, port, ...]`. */
export type TcpSocket = Socket<
  | [host: string, port: number]
  | [host: string, port: number, flowinfo: number, scope_id: number]
>;

// create_connection()'s option names (options may come in place of its
// optional arguments).
const OPTIONS = [
  "all_errors",
  "backend",
  "signal",
] as const satisfies readonly (
  keyof CreateConnectionOptions
)[];

/**
 * Connect to `[host, port]`, trying every address `getaddrinfo()` gives in
 * turn: Python's `socket.create_connection`.
 *
 * @param address `[host, port]`; the host may be a name.
 * @param timeout Seconds for the new socket, `null` for blocking; omitted,
 *   the default timeout applies.
 * @param source_address `[host, port]` to bind first. Deno's networking
 *   cannot bind before connecting, so this uses the libc backend
 *   (`--allow-ffi`).
 * @param options `all_errors`: when every address fails, throw an
 *   `AggregateError` of every attempt's error (Python 3.11's
 *   `ExceptionGroup`, with its message) instead of the last one;
 *   `backend`: the socket's, as {@linkcode socket} takes it; `signal`:
 *   aborting it rejects the call with its reason.
 * @returns The connected socket.
 * @throws {OSError} The last address's error (`ConnectionRefusedError`...).
 * @throws {AggregateError} With `all_errors`: `create_connection failed
 *   (N sub-exceptions)`, its `errors` the OSErrors in the order tried.
 * @throws {gaierror} The name could not be resolved.
 * @throws {ValueError} `address` has more or fewer than two items, as
 *   Python's `host, port = address`.
 *
 * @example
 * ```ts
 * import { create_connection, create_server } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using server = create_server(["127.0.0.1", 0]);
 * const [, port] = server.getsockname();
 * using client = await create_connection(["localhost", port], 5);
 * const [conn] = await server.accept();
 * using _conn = conn;
 * assert.equal(client.gettimeout(), 5);
 * ```
 *
 * @example Every address's error, with all_errors
 * ```ts
 * import { ConnectionRefusedError, create_connection, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const probe = socket();
 * probe.bind(["127.0.0.1", 0]);
 * const [, port] = probe.getsockname();
 * probe.close(); // nothing listens there now
 * await assert.rejects(
 *   create_connection(["127.0.0.1", port], 5, null, { all_errors: true }),
 *   (e) =>
 *     e instanceof AggregateError &&
 *     e.message === "create_connection failed (1 sub-exception)" &&
 *     e.errors[0] instanceof ConnectionRefusedError,
 * );
 * ```
 */
export async function create_connection(
  address: readonly [host: string, port: number | string],
  timeout?: number | null | CreateConnectionOptions,
  source_address?: Address | null | CreateConnectionOptions,
  options: CreateConnectionOptions = {},
): Promise<TcpSocket> {
  optionsAt(arguments, 3, ARITY.create_connection, 1);
  const given = (x: unknown): x is CreateConnectionOptions =>
    isOptionsArg(x, arguments, "create_connection", OPTIONS);
  if (given(timeout)) {
    [timeout, source_address, options] = [undefined, undefined, timeout];
  } else if (given(source_address)) {
    [source_address, options] = [undefined, source_address];
  }
  const [host, port] = unpackPair(address);
  const signal = options?.signal ?? undefined;
  const errors: unknown[] = [];
  for (
    const [family, type, proto, , sa] of await getaddrinfo(
      host,
      port,
      0,
      SOCK_STREAM,
      0,
      0,
      { signal },
    )
  ) {
    let sock: TcpSocket | null = null;
    try {
      const backend = options.backend ??
        (source_address ? "libc" : undefined);
      sock = socket(
        family as InetFamily,
        type as typeof SOCK_STREAM,
        proto,
        backend ? { backend } : undefined,
      );
      if (timeout !== undefined) sock.settimeout(timeout);
      if (source_address) sock.bind(source_address);
      await sock.connect(sa, { signal });
      return sock;
    } catch (e) {
      sock?.close();
      // An abort ends the whole call, not just this address's attempt.
      if (!(e instanceof OSError) || signal?.aborted) throw e;
      if (!options.all_errors) errors.length = 0;
      errors.push(e);
    }
  }
  if (errors.length === 0) {
    throw new OSError("getaddrinfo returns an empty list");
  }
  if (!options.all_errors) throw errors[0];
  // str() of Python's ExceptionGroup("create_connection failed", errors).
  const n = errors.length;
  throw new AggregateError(
    errors,
    `create_connection failed (${n} sub-exception${n === 1 ? "" : "s"})`,
  );
}

// Python's `host, port = address`: any iterable of two items.
function unpackPair<H, P>(address: readonly [H, P]): [H, P] {
  if (
    address === null || address === undefined ||
    typeof (address as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `cannot unpack non-iterable ${pyTypeName(address)} object`,
    );
  }
  const items: (H | P)[] = [...address];
  if (items.length > 2) {
    throw new ValueError("too many values to unpack (expected 2)");
  }
  if (items.length < 2) {
    throw new ValueError(
      `not enough values to unpack (expected 2, got ${items.length})`,
    );
  }
  return [items[0] as H, items[1] as P];
}

/** Options of {@linkcode create_connection}, as Python's keyword arguments. */
export interface CreateConnectionOptions {
  /**
   * When every address fails, throw an `AggregateError` of all their errors
   * (Python's `ExceptionGroup`) rather than the last one.
   */
  all_errors?: boolean | undefined;
  /**
   * The new socket's backend, as {@linkcode socket} takes it; by default
   * Deno's networking, or libc with a `source_address`.
   */
  backend?: "deno" | "libc" | undefined;
  /**
   * Aborting it rejects the call with `signal.reason`, whether it is
   * looking up the name or connecting; a socket it made is closed.
   */
  signal?: AbortSignal | undefined;
}

/**
 * Options of {@linkcode create_server}, as Python's keyword arguments.
 *
 * @typeParam F The family, which types the socket's addresses.
 */
export interface CreateServerOptions<F extends number = number> {
  /**
   * `AF_INET` or `AF_INET6`.
   *
   * @default {AF_INET}
   */
  family?: F | undefined;
  /** The listen backlog; the default is Python's. */
  backlog?: number | null | undefined;
  /** Set SO_REUSEPORT (libc backend). */
  reuse_port?: boolean | undefined;
  /** An AF_INET6 socket that also accepts IPv4. */
  dualstack_ipv6?: boolean | undefined;
  /**
   * The socket's backend, as {@linkcode socket} takes it; by default Deno's
   * networking, or libc where FFI is allowed and Deno's listeners cannot do
   * what is asked (`reuse_port`, IPV6_V6ONLY on AF_INET6).
   */
  backend?: "deno" | "libc" | undefined;
}

/**
 * A listening TCP socket bound to `address`: Python's
 * `socket.create_server`. Sets SO_REUSEADDR; on AF_INET6 sets IPV6_V6ONLY
 * unless `dualstack_ipv6`.
 *
 * @typeParam F The family: the socket's addresses are `[host, port]` for
 *   AF_INET (the default), four-tuples for AF_INET6.
 * @param address `[host, port]`.
 * @param options Family, backlog, reuse_port, dualstack_ipv6; `backend`,
 *   as {@linkcode socket} takes it.
 * @returns The listening socket.
 * @throws {ValueError} `dualstack_ipv6` without AF_INET6.
 * @throws {OSError} The bind failed; the message names the address.
 *
 * @example
 * ```ts
 * import { create_server } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using server = create_server(["127.0.0.1", 0], { backlog: 16 });
 * assert.ok((server.getsockname())[1] > 0);
 * ```
 */
export function create_server<F extends number = typeof AF_INET>(
  address: Address,
  options: CreateServerOptions<F> = {},
): Socket<AddressOf<F>, AddressOf<F> | null> {
  optionsAt(arguments, 1, ARITY.create_server, 1);
  const {
    family = AF_INET as number,
    backlog = null,
    reuse_port = false,
    dualstack_ipv6 = false,
    backend: wanted,
  } = options;
  if (dualstack_ipv6) {
    if (!has_dualstack_ipv6()) {
      throw new ValueError("dualstack_ipv6 not supported on this platform");
    }
    if (family !== AF_INET6) {
      throw new ValueError("dualstack_ipv6 requires AF_INET6 family");
    }
  }
  // Deno's listeners cannot set SO_REUSEPORT or IPV6_V6ONLY: when those are
  // asked for and FFI is there, the kernel's socket does it exactly.
  // SO_REUSEPORT has no stand-in: without FFI it is the PermissionError
  // naming --allow-ffi (or, with no FFI at all, the OSError naming libc).
  const backend = reuse_port && wanted !== "deno"
    ? needLibc("create_server(..., { reuse_port: true })")
    : chooseBackend(family, SOCK_STREAM, 0, {
      backend: wanted,
      kernelOptions: family === AF_INET6,
    });
  const sock: TcpSocket = socket(family as InetFamily, SOCK_STREAM, 0, {
    backend: backend.name,
  });
  try {
    try {
      sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    } catch (e) {
      if (!(e instanceof OSError)) throw e;
    }
    if (reuse_port) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    if (has_ipv6 && family === AF_INET6 && sock.backend === "libc") {
      sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, dualstack_ipv6 ? 0 : 1);
    }
    try {
      sock.bind(address);
    } catch (e) {
      if (e instanceof OSError && e.errno !== null) {
        throw new OSError(
          e.errno,
          `${e.strerror} (while attempting to bind on address ${
            addressRepr(address as SockAddr)
          })`,
        );
      }
      throw e;
    }
    if (backlog === null) sock.listen();
    else sock.listen(backlog);
    return sock as Socket<AddressOf<F>, AddressOf<F> | null>;
  } catch (e) {
    sock.close();
    throw e;
  }
}

/**
 * Whether an AF_INET6 socket can also accept IPv4 (Python's
 * `socket.has_dualstack_ipv6()`).
 *
 * @returns `true` on Linux with IPv6.
 *
 * @example
 * ```ts
 * import { has_dualstack_ipv6 } from "./mod.ts";
 *
 * console.log(has_dualstack_ipv6());
 * ```
 */
export function has_dualstack_ipv6(): boolean {
  argumentCount(arguments, 0, 0, ARITY.has_dualstack_ipv6);
  return has_ipv6;
}

// Python's messages for a call given too many positional arguments, or too few.
const ARITY = {
  create_connection: defArity("create_connection", 1, 3, false, ["address"]),
  create_server: defArity("create_server", 1, 1, false, ["address"]),
  has_dualstack_ipv6: defArity("has_dualstack_ipv6", 0, 0),
} as const;

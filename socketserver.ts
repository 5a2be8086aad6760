/**
 * Python's `socketserver` module: TCP, UDP and unix servers that hand each
 * request to a handler class, one request at a time or (the `Threading`
 * servers) each as its own concurrent task. A port of CPython 3.11's
 * `Lib/socketserver.py`; what blocks in Python returns a Promise here.
 *
 * How Python's idioms map:
 *
 * - Class attributes are `static` properties: `allow_reuse_address = True`
 *   in a Python subclass is `static override allow_reuse_address = true`
 *   here (`TCPServer.allow_reuse_address = true` sets it for every server,
 *   as in Python). The instance property of the same name reads the
 *   class's value unless assigned on the instance (`server.timeout = 5`).
 *   Instance fields cannot stand in for them: the constructor binds before
 *   a subclass's fields exist (TypeScript rejects such a field).
 * - A handler's constructor only stores `request`, `client_address` and
 *   `server` (JavaScript runs a subclass's field initialisers after the
 *   base constructor, and a constructor cannot await); the server's
 *   `finish_request()` then runs `setup()`, `handle()` and `finish()`, any
 *   of which may be async. A handler that needs its own server's type
 *   declares it: `declare server: MyServer;`.
 * - The `Threading` servers run each request's handler as its own async
 *   task and go on accepting; the plain servers await each request before
 *   the next, as Python's do. `server_close()` waits for the tasks still
 *   running (Python joins its threads), unless `daemon_threads` or not
 *   `block_on_close`. As a Python daemon thread, a `daemon_threads`
 *   handler waiting on its own connection (a receive or a send, its
 *   `rfile` and `wfile`, its streams, with a timeout or without) does not
 *   keep the process running: once the main program ends, the process
 *   exits. JavaScript cannot stop a task, though: one that waits on
 *   anything else (its own timers, another socket) keeps the process
 *   running, as any task does; close its connection (or call
 *   `Deno.exit()`) to end it. (On a Deno whose internal op API this module
 *   cannot reach, a handler's writes on the Deno backend, and its every
 *   wait on the libc backend, keep the process running too.)
 * - `shutdown()` resolves once `serve_forever()` has stopped, and stops a
 *   wait for the next request at once rather than after `poll_interval`.
 * - `server_close()` closes the socket before it returns and resolves when
 *   the server's tasks are done; `await using` calls it.
 * - There is no `ForkingMixIn` (nor `ForkingTCPServer`, `ForkingUDPServer`):
 *   Deno cannot fork. The `Threading` servers serve the same programs.
 *
 * The server's socket is `socket(address_family, socket_type)`, on the
 * default backend; `static override backend = "libc"` picks libc (a unix
 * datagram server needs it anyway, and so `--allow-ffi`).
 *
 * @example The echo server of Python's socketserver documentation
 * ```ts
 * import * as socket from "./mod.ts";
 * import * as socketserver from "./socketserver.ts";
 * import assert from "node:assert/strict";
 *
 * class MyTCPHandler extends socketserver.StreamRequestHandler {
 *   override async handle() {
 *     const data = await this.rfile.readline();
 *     await this.wfile.write(data.map((c) => c >= 97 && c <= 122 ? c - 32 : c));
 *   }
 * }
 *
 * await using server = new socketserver.TCPServer(["127.0.0.1", 0], MyTCPHandler);
 * const serving = server.serve_forever();
 * using client = await socket.create_connection(server.server_address);
 * await client.sendall(new TextEncoder().encode("hello world\n"));
 * assert.equal(new TextDecoder().decode(await client.recv(1024)), "HELLO WORLD\n");
 * await server.shutdown();
 * await serving;
 * ```
 *
 * @module
 */
import {
  AF_INET,
  AF_UNIX,
  IPPROTO_TCP,
  SHUT_WR,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "./constants.ts";
import { OSError, RuntimeError, ValueError } from "./errors.ts";
import {
  type AbortOptions,
  type Address,
  daemonSocket,
  type SockAddr,
  Socket,
  socket,
} from "./socket.ts";
import { EVENT_READ, PollSelector } from "./selectors.ts";
import {
  bytesView,
  isOptionsArg,
  pyTypeName,
  requireBytes,
  throwIfAborted,
  toInt,
} from "./_args.ts";
import { pyStr } from "./_repr.ts";
import { type BinarySocketFile, socketWriter } from "./_socket_file.ts";
import { socketsLetGo } from "./_deno/common.ts";

// The socket module's types that this module's API shows, so that its
// documentation stands alone (`deno doc --lint socketserver.ts`).
export type {
  AbortOptions,
  Address,
  AncData,
  AncDataIn,
  BinaryFileMode,
  BinarySocketFile,
  MakefileOptions,
  SockAddr,
  Socket,
  SocketFile,
  TextFileMode,
  TextSocketFile,
  WriteData,
} from "./mod.ts";

/** A datagram server's request: the datagram and the server's socket. */
export type DatagramRequest = [data: Uint8Array<ArrayBuffer>, socket: Socket];

/**
 * What a server makes of each request: a class like
 * {@linkcode BaseRequestHandler}, constructed with the request, the client's
 * address and the server. The request's type is checked (a datagram handler
 * does not fit a stream server); the other two are typed `never`, so that a
 * handler declared for any address or server type fits, as one handler
 * serves a TCP and a unix server in Python (a server passes them
 * `as never`).
 *
 * @typeParam R The request a server passes.
 */
export type RequestHandlerClass<R = unknown> = new (
  request: R,
  client_address: never,
  server: never,
) => RequestHandler;

/** The three steps a server runs on each handler. */
export interface RequestHandler {
  /** Prepare (StreamRequestHandler makes `rfile` and `wfile` here). */
  setup(): void | Promise<void>;
  /** Serve the request. */
  handle(): void | Promise<void>;
  /** Clean up; runs even when `handle()` throws. */
  finish(): void | Promise<void>;
}

// A class attribute, read through the instance's class: a subclass's
// `static override` wins over its base's.
function classAttr<T>(self: object, name: string): T {
  return (self.constructor as unknown as Record<string, T>)[name];
}

// The request task running now (Python's threading.current_thread()): a
// Threading server's server_close() called from one of its own tasks
// cannot wait for that task. node:async_hooks is loaded when a Threading
// server is made, not on import: it adds about 15 ms to a start-up.
interface TaskStore {
  run<R>(token: object, fn: () => R): R;
  getStore(): object | undefined;
}
let currentTask: TaskStore | null = null;
let loadingTasks: Promise<TaskStore | null> | null = null;

function loadTaskStore(): Promise<TaskStore | null> {
  return loadingTasks ??= import("node:async_hooks").then(
    (m) => currentTask = new m.AsyncLocalStorage<object>(),
    // No node:async_hooks here: tasks run untracked, and a server_close()
    // from a handler waits for itself, as it would with no check.
    () => null,
  );
}

// Python's threading.Event as socketserver uses it: set when a
// serve_forever() ends; a shutdown() waits for that.
function shutDownEvent(): PromiseWithResolvers<void> & { done: boolean } {
  return { ...Promise.withResolvers<void>(), done: false };
}

// Errors raised while handling another (Python's `__context__`), kept as
// their `cause`; other causes print as Python's `raise ... from`.
const contexts = new WeakSet<Error>();

// `error`, raised while `context` was being handled: as Python's implicit
// chaining, `context` is kept (as the cause) unless it has one already.
function withContext(error: unknown, context: unknown): unknown {
  if (
    error instanceof Error && error.cause === undefined && error !== context
  ) {
    error.cause = context;
    contexts.add(error);
  }
  return error;
}

// What Python's traceback module prints for an error: its chain first
// (the causes, oldest first, each introduced as Python does), then itself.
function formatError(error: unknown, seen = new Set<unknown>()): string {
  seen.add(error);
  const text = error instanceof Error
    ? error.stack ?? String(error)
    : String(error);
  if (!(error instanceof Error) || error.cause === undefined) return text;
  if (seen.has(error.cause)) return text;
  const joint = contexts.has(error)
    ? "During handling of the above exception, another exception occurred:"
    : "The above exception was the direct cause of the following exception:";
  return `${formatError(error.cause, seen)}\n\n${joint}\n\n${text}`;
}

// What Python's threading.excepthook prints for a thread that raised: here
// a request task whose handle_error() itself threw.
function reportTaskError(error: unknown): void {
  console.error("Exception in request task:");
  console.error(error instanceof Error ? formatError(error) : error);
}

/**
 * Python's `BaseServer`: the request loop, without a socket of its own.
 * Subclasses provide `get_request()`, `fileno()` and `socket`;
 * {@linkcode TCPServer} and {@linkcode UDPServer} do.
 *
 * @example A server with a custom request source
 * ```ts
 * import { BaseServer, BaseRequestHandler } from "./socketserver.ts";
 * import { socketpair, type Socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await socketpair();
 * using _a = a, _b = b;
 * const seen: string[] = [];
 * class Handler extends BaseRequestHandler<string, string> {
 *   override handle() {
 *     seen.push(this.request);
 *   }
 * }
 * class OneShot extends BaseServer<string, string> {
 *   socket: Socket = a;
 *   fileno() {
 *     return a.fileno();
 *   }
 *   async get_request(): Promise<[string, string]> {
 *     await a.recv(1);
 *     return ["ping", ""];
 *   }
 * }
 * const server = new OneShot("", Handler);
 * await b.sendall(new Uint8Array([1]));
 * await server.handle_request();
 * assert.deepEqual(seen, ["ping"]);
 * ```
 */
export abstract class BaseServer<R = unknown, A = SockAddr> {
  /** How long `handle_request()` waits, in seconds; `null` waits. */
  static timeout: number | null = null;

  /** The address the server is bound to (after binding: `getsockname()`). */
  server_address: A;
  /**
   * The class made for each request. The constructor checks it against the
   * server's request type; here it is typed for none, so that any server is
   * a `BaseServer` (a parameter typed `BaseServer` takes a `TCPServer`).
   */
  RequestHandlerClass: RequestHandlerClass<never>;
  /** The server's socket. */
  abstract socket: Socket;

  #timeout?: number | null;
  #shutdownRequest = false;
  #running = false;
  #stopWaiting: AbortController | null = null;
  // Python's `__is_shut_down` event: set when a serve_forever() ends, clear
  // while one runs and before the first.
  #isShutDown = shutDownEvent();

  /**
   * Store the address and handler class (Python's `BaseServer.__init__`).
   *
   * @param server_address The address to serve on.
   * @param RequestHandlerClass The class made for each request.
   */
  constructor(
    server_address: Address | A,
    RequestHandlerClass: RequestHandlerClass<R>,
  ) {
    this.server_address = server_address as A;
    this.RequestHandlerClass = RequestHandlerClass;
  }

  /** This server's `timeout`: its own if assigned, else its class's. */
  get timeout(): number | null {
    return this.#timeout !== undefined
      ? this.#timeout
      : classAttr(this, "timeout");
  }
  set timeout(value: number | null) {
    this.#timeout = value;
  }

  /**
   * The next request and its client's address (TCP: `accept()`; UDP: one
   * datagram).
   *
   * @returns The request and the address.
   */
  abstract get_request(): Promise<[R, A]>;

  /**
   * The server socket's descriptor, for selectors.
   *
   * @returns The descriptor.
   */
  abstract fileno(): number;

  /** Called by the constructor to activate the server (TCP: `listen()`). */
  server_activate(): void {}

  /**
   * Handle one request at a time until {@linkcode BaseServer.shutdown}: wait
   * for the socket to be readable (a selector, as CPython's), handle the
   * request, call `service_actions()`, again. It also stops once the
   * server's socket is closed (`server_close()` without `shutdown()`), where
   * CPython's loop spins on the closed descriptor until `shutdown()`.
   *
   * @param poll_interval Seconds between looks at `service_actions()` and
   *   the shutdown flag (shutdown() itself ends the wait at once).
   * @param options `signal`: aborting it stops the loop as `shutdown()`
   *   does (a request being handled is finished first), and the call then
   *   rejects with its reason.
   * @returns Resolves when the loop has stopped.
   * @throws {RuntimeError} The loop is running already.
   * @throws The signal's reason, once the loop has stopped for it.
   * @throws Whatever `handle_error()` throws (the default prints and goes
   *   on).
   *
   * @example
   * ```ts
   * import { TCPServer, StreamRequestHandler } from "./socketserver.ts";
   * import assert from "node:assert/strict";
   *
   * await using server = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
   * const serving = server.serve_forever(0.01);
   * await server.shutdown();
   * assert.equal(await serving, undefined);
   * ```
   *
   * @example Serve until a signal aborts
   * ```ts
   * import { TCPServer, StreamRequestHandler } from "./socketserver.ts";
   * import assert from "node:assert/strict";
   *
   * await using server = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
   * const signal = AbortSignal.timeout(20);
   * await assert.rejects(server.serve_forever({ signal }), { name: "TimeoutError" });
   * ```
   */
  async serve_forever(
    poll_interval: number | null | AbortOptions = 0.5,
    options?: AbortOptions,
  ): Promise<void> {
    if (isOptionsArg(poll_interval, arguments, "serve_forever")) {
      [poll_interval, options] = [0.5, poll_interval];
    }
    const signal = options?.signal;
    throwIfAborted(signal);
    if (this.#running) {
      throw new RuntimeError("serve_forever() is already running");
    }
    this.#running = true;
    let isShutDown = this.#isShutDown;
    if (isShutDown.done) this.#isShutDown = isShutDown = shutDownEvent();
    const stop = new AbortController();
    this.#stopWaiting = stop;
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      using selector = new PollSelector();
      selector.register(this, EVENT_READ);
      while (!this.#shutdownRequest && !stop.signal.aborted) {
        let ready: unknown[];
        try {
          ready = await selector.select(poll_interval, { signal: stop.signal });
        } catch (e) {
          if (stop.signal.aborted) break;
          throw e;
        }
        if (this.#shutdownRequest) break;
        // Closed (server_close()): reported ready for good, with nothing to
        // serve.
        if (ready.length > 0 && this.fileno() < 0) break;
        if (ready.length > 0) await this.#handleRequestNoblock();
        await this.service_actions();
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#shutdownRequest = false;
      this.#stopWaiting = null;
      this.#running = false;
      isShutDown.done = true;
      isShutDown.resolve();
    }
    throwIfAborted(signal);
  }

  /**
   * Stop {@linkcode BaseServer.serve_forever}; resolves when it has
   * stopped. A request being handled is finished first. As in Python,
   * called before the loop has started, it makes the next
   * `serve_forever()` return at once and resolves then; called after a
   * loop has ended, it resolves at once (and the next `serve_forever()`
   * returns at once too).
   *
   * @returns Resolves once the loop has ended.
   *
   * @example
   * ```ts
   * import { TCPServer, StreamRequestHandler } from "./socketserver.ts";
   *
   * await using server = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
   * const serving = server.serve_forever();
   * await server.shutdown(); // does not wait out the 0.5 s poll interval
   * await serving;
   * ```
   */
  async shutdown(): Promise<void> {
    this.#shutdownRequest = true;
    this.#stopWaiting?.abort();
    await this.#isShutDown.promise;
  }

  /**
   * Called on each turn of the `serve_forever()` loop; override it for
   * periodic work.
   */
  service_actions(): void | Promise<void> {}

  /**
   * Wait for one request and handle it, or call `handle_timeout()` when
   * `timeout` (the server's, or the socket's if shorter) passes first.
   *
   * @param options `signal`: aborting it while no request has come ends
   *   the wait, and the call rejects with its reason (no request is lost:
   *   the next call takes it).
   * @returns Resolves once the request was handled (Threading servers: once
   *   its task was started).
   * @throws The signal's reason.
   *
   * @example
   * ```ts
   * import { TCPServer, BaseRequestHandler } from "./socketserver.ts";
   * import { create_connection } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * let handled = 0;
   * class Handler extends BaseRequestHandler {
   *   override handle() {
   *     handled++;
   *   }
   * }
   * await using server = new TCPServer(["127.0.0.1", 0], Handler);
   * using _c = await create_connection(server.server_address);
   * await server.handle_request();
   * assert.equal(handled, 1);
   * ```
   */
  async handle_request(options?: AbortOptions): Promise<void> {
    const signal = options?.signal;
    throwIfAborted(signal);
    let timeout = this.socket.gettimeout();
    if (timeout === null) timeout = this.timeout;
    else if (this.timeout !== null) timeout = Math.min(timeout, this.timeout);
    const deadline = timeout === null ? 0 : performance.now() / 1e3 + timeout;
    using selector = new PollSelector();
    selector.register(this, EVENT_READ);
    for (;;) {
      const ready = await selector.select(timeout, { signal });
      if (ready.length > 0) return await this.#handleRequestNoblock();
      if (timeout !== null) {
        timeout = deadline - performance.now() / 1e3;
        if (timeout < 0) return await this.handle_timeout();
      }
    }
  }

  async #handleRequestNoblock(): Promise<void> {
    let request: R, client_address: A;
    try {
      [request, client_address] = await this.get_request();
    } catch (e) {
      if (e instanceof OSError) return;
      throw e;
    }
    if (await this.verify_request(request, client_address)) {
      try {
        await this.process_request(request, client_address);
      } catch (e) {
        try {
          await this.handle_error(request, client_address, e);
        } catch (handleError) {
          throw withContext(handleError, e);
        }
        await this.shutdown_request(request);
      }
    } else {
      await this.shutdown_request(request);
    }
  }

  /** Called when `handle_request()`'s timeout passes with no request. */
  handle_timeout(): void | Promise<void> {}

  /**
   * Whether to handle a request; `false` closes it unhandled.
   *
   * @param _request The request.
   * @param _client_address Its client.
   * @returns `true` to go on (the default).
   */
  verify_request(
    _request: R,
    _client_address: A,
  ): boolean | Promise<boolean> {
    return true;
  }

  /**
   * Handle the request (`finish_request()`), then `shutdown_request()`.
   * The Threading servers start it as its own task instead.
   *
   * @param request The request.
   * @param client_address Its client.
   */
  async process_request(request: R, client_address: A): Promise<void> {
    await this.finish_request(request, client_address);
    await this.shutdown_request(request);
  }

  /**
   * Clean up the server (TCPServer: close its socket).
   *
   * @returns Resolves when the server's request tasks are done.
   */
  server_close(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Make the handler for the request and run its `setup()`, `handle()`
   * and `finish()` (Python does this in the handler's constructor).
   *
   * @param request The request.
   * @param client_address Its client.
   */
  async finish_request(request: R, client_address: A): Promise<void> {
    const Handler: unknown = this.RequestHandlerClass;
    if (typeof Handler !== "function") {
      throw new TypeError(`'${pyTypeName(Handler)}' object is not callable`);
    }
    const handler = new this.RequestHandlerClass(
      request as never,
      client_address as never,
      this as never,
    );
    try {
      await handler.setup();
    } catch (e) {
      // CPython drops the handler here, and reference counting closes the
      // files its setup() made, so that the request's descriptor can close
      // with the request (not when the garbage collector comes).
      if (handler instanceof StreamRequestHandler) await dropFiles(handler);
      throw e;
    }
    try {
      await handler.handle();
    } catch (e) {
      // Python's `finally`: finish() runs, and if it fails too its error is
      // raised, with handle()'s as its context.
      try {
        await handler.finish();
      } catch (finishError) {
        throw withContext(finishError, e);
      }
      throw e;
    }
    await handler.finish();
  }

  /**
   * Shut down and close one request (TCPServer: `shutdown(SHUT_WR)`, then
   * `close_request()`).
   *
   * @param request The request.
   */
  shutdown_request(request: R): void | Promise<void> {
    return this.close_request(request);
  }

  /**
   * Clean up one request (TCPServer: close the connection).
   *
   * @param _request The request.
   */
  close_request(_request: R): void | Promise<void> {}

  /**
   * Report an error raised while handling a request, as Python does: the
   * traceback between two lines of dashes, on stderr. Serving goes on.
   *
   * @param _request The request.
   * @param client_address Its client.
   * @param error What was thrown (Python finds it in `sys.exc_info()`).
   */
  handle_error(
    _request: R,
    client_address: A,
    error?: unknown,
  ): void | Promise<void> {
    console.error("-".repeat(40));
    console.error(
      "Exception occurred during processing of request from",
      pyStr(client_address),
    );
    console.error(error instanceof Error ? formatError(error) : error);
    console.error("-".repeat(40));
  }

  /**
   * The end of an `await using` block: a `serve_forever()` still running is
   * told to stop, as `shutdown()` does but without waiting for it (a
   * handler may leave such a block), then `server_close()`. Python's
   * `with` only closes; here a loop left running on a closed socket would
   * spin and hold the process.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#running) {
      this.#shutdownRequest = true;
      this.#stopWaiting?.abort();
    }
    await this.server_close();
  }
}

/**
 * Python's `TCPServer`: a stream server. The constructor makes the socket
 * (`socket(address_family, socket_type)`), binds it and listens, unless
 * `bind_and_activate` is false.
 *
 * Class attributes (override with `static override`): `address_family`
 * (AF_INET), `socket_type` (SOCK_STREAM), `request_queue_size` (5),
 * `allow_reuse_address`, `allow_reuse_port` (false), `timeout` (null),
 * and `backend` (the socket's backend; the default's when undefined).
 *
 * @example A line-echo server, one client at a time
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "./socketserver.ts";
 * import { create_connection } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = new TCPServer(["127.0.0.1", 0], Echo);
 * const serving = server.serve_forever();
 * {
 *   using client = await create_connection(server.server_address);
 *   await using f = client.makefile("rw");
 *   await f.write("hi\n");
 *   await f.flush();
 *   assert.equal(await f.readline(), "hi\n");
 * }
 * await server.shutdown();
 * await serving;
 * ```
 */
export class TCPServer<
  A extends SockAddr | null = [host: string, port: number],
  R = Socket,
> extends BaseServer<R, A> {
  /** The socket's family. */
  static address_family: number = AF_INET;
  /** The socket's type. */
  static socket_type: number = SOCK_STREAM;
  /** `listen()`'s backlog. */
  static request_queue_size = 5;
  /** Set SO_REUSEADDR before binding. */
  static allow_reuse_address = false;
  /**
   * Set SO_REUSEPORT before binding: the socket goes to the libc backend
   * unless `backend` is `"deno"` (which cannot set it).
   */
  static allow_reuse_port = false;
  /** The socket's backend: `"deno"`, `"libc"`, or undefined for the default. */
  static backend: "deno" | "libc" | undefined = undefined;

  /**
   * The server's socket, typed by the server's address: `getsockname()` is
   * an `A` (`[host, port]` for the default).
   */
  socket: Socket<NonNullable<A>, A | null>;

  #own: Record<string, unknown> = {};

  /**
   * Make the server's socket; bind and listen unless `bind_and_activate`
   * is false (then call `server_bind()` and `server_activate()` yourself).
   *
   * @param server_address Where to listen: `[host, port]` (port 0 picks
   *   one; `server_address` then holds it), or a unix path.
   * @param RequestHandlerClass The class made for each request.
   * @param bind_and_activate Whether to bind and listen now.
   * @throws {OSError} What `bind()` or `listen()` raise; the socket is
   *   closed first.
   */
  constructor(
    server_address: Address | A,
    RequestHandlerClass: RequestHandlerClass<NoInfer<R>>,
    bind_and_activate = true,
  ) {
    super(server_address, RequestHandlerClass);
    // Deno's sockets cannot set SO_REUSEPORT: as create_server() does, the
    // option picks libc unless the Deno backend was asked for.
    const backend = this.allow_reuse_port && this.backend !== "deno"
      ? "libc"
      : this.backend;
    this.socket = socket(this.address_family, this.socket_type, 0, {
      backend,
    }) as Socket<NonNullable<A>, A | null>;
    if (bind_and_activate) {
      try {
        this.server_bind();
        this.server_activate();
      } catch (e) {
        let closing: Promise<void>;
        try {
          closing = this.server_close();
        } catch (closeError) {
          // As Python's `except: self.server_close(); raise`: the cleanup's
          // own error wins, with the first as its context.
          throw withContext(closeError, e);
        }
        // A cleanup that fails later has nobody to tell: the first error is.
        Promise.resolve(closing).catch(() => {});
        throw e;
      }
    }
  }

  #attr<T>(name: string): T {
    return name in this.#own ? this.#own[name] as T : classAttr(this, name);
  }

  /** The socket's family: the instance's if assigned, else the class's. */
  get address_family(): number {
    return this.#attr("address_family");
  }
  set address_family(value: number) {
    this.#own.address_family = value;
  }

  /** The socket's type: the instance's if assigned, else the class's. */
  get socket_type(): number {
    return this.#attr("socket_type");
  }
  set socket_type(value: number) {
    this.#own.socket_type = value;
  }

  /** `listen()`'s backlog: the instance's if assigned, else the class's. */
  get request_queue_size(): number {
    return this.#attr("request_queue_size");
  }
  set request_queue_size(value: number) {
    this.#own.request_queue_size = value;
  }

  /** SO_REUSEADDR: the instance's if assigned, else the class's. */
  get allow_reuse_address(): boolean {
    return this.#attr("allow_reuse_address");
  }
  set allow_reuse_address(value: boolean) {
    this.#own.allow_reuse_address = value;
  }

  /** SO_REUSEPORT: the instance's if assigned, else the class's. */
  get allow_reuse_port(): boolean {
    return this.#attr("allow_reuse_port");
  }
  set allow_reuse_port(value: boolean) {
    this.#own.allow_reuse_port = value;
  }

  /** The socket's backend: the instance's if assigned, else the class's. */
  get backend(): "deno" | "libc" | undefined {
    return this.#attr("backend");
  }
  set backend(value: "deno" | "libc" | undefined) {
    this.#own.backend = value;
  }

  /**
   * Bind the socket to `server_address` (setting SO_REUSEADDR /
   * SO_REUSEPORT first if asked), then set `server_address` to what it got.
   *
   * @throws {OSError} `[Errno 98]` address in use, and what else `bind()`
   *   raises.
   */
  server_bind(): void {
    if (this.allow_reuse_address) {
      this.socket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    }
    if (this.allow_reuse_port) {
      this.socket.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    }
    this.socket.bind(this.server_address as Address);
    this.server_address = this.socket.getsockname() as A;
  }

  /** Listen, with `request_queue_size` as the backlog. */
  override server_activate(): void {
    this.socket.listen(this.request_queue_size);
  }

  /**
   * Close the socket.
   *
   * @returns Resolves at once (the Threading servers: when their tasks are
   *   done).
   */
  override server_close(): Promise<void> {
    this.socket.close();
    // On the Deno backend a socket that serve_forever() watched lets go of
    // its port a turn of the event loop later: a server made again on the
    // same port once this resolves can bind it.
    return socketsLetGo();
  }

  /**
   * The socket's descriptor.
   *
   * @returns {@linkcode Socket.fileno}'s answer; -1 once closed.
   */
  fileno(): number {
    return this.socket.fileno();
  }

  /**
   * Accept the next connection.
   *
   * @returns The connection and the client's address.
   */
  async get_request(): Promise<[R, A]> {
    const [conn, addr] = await this.socket.accept();
    return [conn as R, addr as A];
  }

  /**
   * `shutdown(SHUT_WR)` the connection (ignoring OSError, as Python does),
   * then close it.
   *
   * @param request The connection.
   */
  override shutdown_request(request: R): void | Promise<void> {
    try {
      (request as Socket).shutdown(SHUT_WR);
    } catch (e) {
      if (!(e instanceof OSError)) throw e;
    }
    return this.close_request(request);
  }

  /**
   * Close the connection.
   *
   * @param request The connection.
   */
  override close_request(request: R): void | Promise<void> {
    (request as Socket).close();
  }
}

/**
 * Python's `UDPServer`: each datagram is a request, `[data, socket]`;
 * `max_packet_size` (8192) bounds what is read of each.
 *
 * @example An upper-casing UDP server
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "./socketserver.ts";
 * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Upper extends DatagramRequestHandler {
 *   override handle() {
 *     this.wfile.write(this.rfile.read().map((c) => c >= 97 ? c - 32 : c));
 *   }
 * }
 * await using server = new UDPServer(["127.0.0.1", 0], Upper);
 * using client = socket(AF_INET, SOCK_DGRAM);
 * await client.sendto(new TextEncoder().encode("abc"), server.server_address);
 * await server.handle_request();
 * assert.equal(new TextDecoder().decode(await client.recv(100)), "ABC");
 * ```
 */
export class UDPServer<A extends SockAddr | null = [host: string, port: number]>
  extends TCPServer<A, DatagramRequest> {
  /**
   * Set SO_REUSEADDR before binding: the class's own, as Python's, so that
   * `TCPServer.allow_reuse_address = true` leaves datagram servers alone.
   */
  static override allow_reuse_address = false;
  /** Set SO_REUSEPORT before binding (see TCPServer's): the class's own. */
  static override allow_reuse_port = false;
  /** The socket's type. */
  static override socket_type: number = SOCK_DGRAM;
  /** The most bytes read of one datagram. */
  static max_packet_size = 8192;

  #maxPacketSize?: number;

  /** The most bytes read of a datagram: the instance's, else the class's. */
  get max_packet_size(): number {
    return this.#maxPacketSize ?? classAttr(this, "max_packet_size");
  }
  set max_packet_size(value: number) {
    this.#maxPacketSize = value;
  }

  /**
   * Receive the next datagram.
   *
   * @returns `[data, socket]` and the sender's address.
   */
  override async get_request(): Promise<[DatagramRequest, A]> {
    const [data, addr] = await this.socket.recvfrom(this.max_packet_size);
    return [[data, this.socket], addr as A];
  }

  /** Nothing to do: datagram sockets do not listen. */
  override server_activate(): void {}

  /**
   * Nothing to shut down: the socket is the server's.
   *
   * @param request The datagram.
   */
  override shutdown_request(request: DatagramRequest): void | Promise<void> {
    return this.close_request(request);
  }

  /**
   * Nothing to close.
   *
   * @param _request The datagram.
   */
  override close_request(_request: DatagramRequest): void {}
}

/**
 * Python's `UnixStreamServer`: a {@linkcode TCPServer} on AF_UNIX, bound
 * to a path (or an abstract name); client addresses are `""` for unnamed
 * clients. Needs `--allow-read --allow-write`.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, UnixStreamServer } from "./socketserver.ts";
 * import { AF_UNIX, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * // A unix server's client address is a path (or bytes), not [host, port].
 * class Hello extends StreamRequestHandler<string | Uint8Array> {
 *   override async handle() {
 *     await this.wfile.write(new TextEncoder().encode("hello\n"));
 *   }
 * }
 * const dir = Deno.makeTempDirSync();
 * try {
 *   await using server = new UnixStreamServer(`${dir}/sock`, Hello);
 *   using client = socket(AF_UNIX);
 *   await client.connect(server.server_address);
 *   await server.handle_request();
 *   assert.equal(new TextDecoder().decode(await client.recv(100)), "hello\n");
 * } finally {
 *   Deno.removeSync(dir, { recursive: true });
 * }
 * ```
 */
export class UnixStreamServer extends TCPServer<string | Uint8Array> {
  /** The socket's family. */
  static override address_family: number = AF_UNIX;
}

/**
 * Python's `UnixDatagramServer`: a {@linkcode UDPServer} on AF_UNIX. Unix
 * datagram sockets run on the libc backend (`--allow-ffi`). A client that
 * did not bind has no address (`null`), so no reply can reach it.
 *
 * @example Not run by `deno test --doc`: the first libc socket loads libc,
 * which the resource sanitizer counts against the example.
 * ```ts ignore
 * import { DatagramRequestHandler, UnixDatagramServer } from "./socketserver.ts";
 * import { AF_UNIX, SOCK_DGRAM, socket } from "./mod.ts";
 *
 * class Echo extends DatagramRequestHandler {
 *   override handle() {
 *     this.wfile.write(this.rfile.read());
 *   }
 * }
 * await using server = new UnixDatagramServer("/tmp/echo.sock", Echo);
 * using client = socket(AF_UNIX, SOCK_DGRAM);
 * client.bind("/tmp/echo-client.sock");
 * await client.sendto(new Uint8Array([1, 2]), server.server_address);
 * await server.handle_request();
 * console.log(await client.recv(100)); // Uint8Array(2) [ 1, 2 ]
 * ```
 */
export class UnixDatagramServer extends UDPServer<string | Uint8Array | null> {
  /** The socket's family. */
  static override address_family: number = AF_UNIX;
}

/** Any server class: what {@linkcode ThreadingMixIn} extends. */
// deno-lint-ignore no-explicit-any
export type ServerClass = abstract new (...args: any[]) => BaseServer<any, any>;

/** The class attributes {@linkcode ThreadingMixIn} adds. */
export interface ThreadingMixInStatics {
  /**
   * Do not wait for the request tasks in `server_close()`, and let their
   * waits on their connections not keep the process running (Python's
   * daemon threads). Read as each request starts.
   */
  daemon_threads: boolean;
  /** Wait for the request tasks in `server_close()` (default true). */
  block_on_close: boolean;
}

/** The members {@linkcode ThreadingMixIn} adds to a server. */
export interface ThreadingMixInMembers extends ThreadingMixInStatics {
  /**
   * One request's task: `finish_request()`, errors to `handle_error()`,
   * then `shutdown_request()`.
   */
  process_request_thread(
    request: unknown,
    client_address: unknown,
  ): Promise<void>;
}

/** A server class with {@linkcode ThreadingMixIn}'s members added. */
export type ThreadingServerClass<B extends ServerClass> =
  & B
  & ThreadingMixInStatics
  & (B extends new (...args: never[]) => unknown
    // deno-lint-ignore no-explicit-any
    ? new (...args: any[]) => ThreadingMixInMembers
    // deno-lint-ignore no-explicit-any
    : abstract new (...args: any[]) => ThreadingMixInMembers);

/**
 * Python's `ThreadingMixIn`: a server class whose `process_request()`
 * starts each request as its own async task (JavaScript has no threads;
 * the tasks run concurrently on the event loop) and returns at once, so
 * the server goes on accepting. `server_close()` waits for the tasks
 * unless `daemon_threads`, or `block_on_close` is false; called from one of
 * them, it closes the socket and raises `RuntimeError("cannot join current
 * thread")`, as Python's. A `daemon_threads` task's waits on its connection
 * do not keep the process running, as a daemon thread's do not (see the
 * module's documentation for what still does).
 *
 * @param Base The server class: `TCPServer`, `UDPServer`, a subclass...
 * @returns A subclass of `Base` with the threading behaviour, to extend:
 *   Python's `class S(ThreadingMixIn, TCPServer)` is
 *   `class S extends ThreadingMixIn(TCPServer)`.
 *
 * @example
 * ```ts
 * import { TCPServer, ThreadingMixIn, StreamRequestHandler } from "./socketserver.ts";
 * import assert from "node:assert/strict";
 *
 * class MyServer extends ThreadingMixIn(TCPServer) {}
 * await using server = new MyServer(["127.0.0.1", 0], StreamRequestHandler);
 * assert.ok(server instanceof TCPServer);
 * assert.equal(server.block_on_close, true);
 * ```
 */
export function ThreadingMixIn<B extends ServerClass>(
  Base: B,
): ThreadingServerClass<B> {
  abstract class Threading extends Base {
    static daemon_threads = false;
    static block_on_close = true;
    // Each task, by the token it runs with (currentTask), in start order.
    #tasks = new Map<object, Promise<void>>();
    // Python's instance `_threads`, made by the first request served while
    // block_on_close held: from then on server_close() waits for every
    // non-daemon handler, whatever block_on_close says later.
    #joining = false;
    #daemonThreads?: boolean;
    #blockOnClose?: boolean;

    // deno-lint-ignore no-explicit-any
    constructor(...args: any[]) {
      super(...args);
      void loadTaskStore();
    }

    get daemon_threads(): boolean {
      return this.#daemonThreads ?? classAttr(this, "daemon_threads");
    }
    set daemon_threads(value: boolean) {
      this.#daemonThreads = value;
    }

    get block_on_close(): boolean {
      return this.#blockOnClose ?? classAttr(this, "block_on_close");
    }
    set block_on_close(value: boolean) {
      this.#blockOnClose = value;
    }

    async process_request_thread(
      request: unknown,
      client_address: unknown,
    ): Promise<void> {
      try {
        await this.finish_request(request, client_address);
      } catch (e) {
        try {
          await this.handle_error(request, client_address, e);
        } catch (handleError) {
          throw withContext(handleError, e);
        }
      } finally {
        await this.shutdown_request(request);
      }
    }

    override async process_request(
      request: unknown,
      client_address: unknown,
    ): Promise<void> {
      const tasks = currentTask ?? await loadTaskStore();
      const token = {};
      // Python's thread.daemon, taken as the thread starts. A daemon
      // handler's waits on its connection then never keep the process
      // running, as a daemon thread blocked on it does not.
      const daemon = this.daemon_threads;
      if (daemon && request instanceof Socket) daemonSocket(request);
      const run = () => this.process_request_thread(request, client_address);
      const task = (tasks === null ? run() : tasks.run(token, run))
        .catch(reportTaskError);
      if (this.block_on_close) this.#joining = true;
      if (this.#joining && !daemon) {
        this.#tasks.set(token, task);
        task.finally(() => this.#tasks.delete(token));
      }
    }

    override async server_close(): Promise<void> {
      await super.server_close();
      const current = currentTask?.getStore();
      if (current !== undefined && this.#tasks.has(current)) {
        // Python joins its threads in order, and fails at its own.
        for (const [token, task] of [...this.#tasks]) {
          if (token === current) {
            throw new RuntimeError("cannot join current thread");
          }
          await task;
        }
      }
      while (this.#tasks.size > 0) await Promise.all(this.#tasks.values());
    }
  }
  return Threading as unknown as ThreadingServerClass<B>;
}

// The exported Threading servers carry Python's class names.
function threading<B extends ServerClass>(
  Base: B,
  name: string,
): ThreadingServerClass<B> {
  const cls = ThreadingMixIn(Base);
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}

/**
 * Python's `ThreadingTCPServer`: a {@linkcode TCPServer} that serves each
 * connection as its own task; `ThreadingMixIn(TCPServer)`, as in Python.
 * Subclass it as any class: `class MyServer extends ThreadingTCPServer {}`.
 *
 * @example
 * ```ts
 * import { ThreadingTCPServer, StreamRequestHandler } from "./socketserver.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = new ThreadingTCPServer(["127.0.0.1", 0], StreamRequestHandler);
 * assert.equal(server.daemon_threads, false);
 * ```
 */
export const ThreadingTCPServer: ThreadingServerClass<typeof TCPServer> =
  threading(TCPServer, "ThreadingTCPServer");
/** The type of a {@linkcode ThreadingTCPServer}, as {@linkcode TCPServer}'s. */
export type ThreadingTCPServer<
  A extends SockAddr | null = [host: string, port: number],
  R = Socket,
> = TCPServer<A, R> & ThreadingMixInMembers;

/**
 * Python's `ThreadingUDPServer`: a {@linkcode UDPServer} that handles each
 * datagram as its own task.
 *
 * @example
 * ```ts
 * import { ThreadingUDPServer, DatagramRequestHandler } from "./socketserver.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = new ThreadingUDPServer(["127.0.0.1", 0], DatagramRequestHandler);
 * assert.equal(server.max_packet_size, 8192);
 * ```
 */
export const ThreadingUDPServer: ThreadingServerClass<typeof UDPServer> =
  threading(UDPServer, "ThreadingUDPServer");
/** The type of a {@linkcode ThreadingUDPServer}, as {@linkcode UDPServer}'s. */
export type ThreadingUDPServer<
  A extends SockAddr | null = [host: string, port: number],
> = UDPServer<A> & ThreadingMixInMembers;

/**
 * Python's `ThreadingUnixStreamServer`: a {@linkcode UnixStreamServer}
 * that serves each connection as its own task.
 *
 * @example
 * ```ts
 * import { ThreadingUnixStreamServer, StreamRequestHandler } from "./socketserver.ts";
 * import { AF_UNIX } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ThreadingUnixStreamServer.address_family, AF_UNIX);
 * ```
 */
export const ThreadingUnixStreamServer: ThreadingServerClass<
  typeof UnixStreamServer
> = threading(UnixStreamServer, "ThreadingUnixStreamServer");
/** The type of a {@linkcode ThreadingUnixStreamServer}. */
export type ThreadingUnixStreamServer =
  & UnixStreamServer
  & ThreadingMixInMembers;

/**
 * Python's `ThreadingUnixDatagramServer`: a {@linkcode UnixDatagramServer}
 * that handles each datagram as its own task (libc backend).
 *
 * @example
 * ```ts
 * import { ThreadingUnixDatagramServer } from "./socketserver.ts";
 * import { SOCK_DGRAM } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ThreadingUnixDatagramServer.socket_type, SOCK_DGRAM);
 * ```
 */
export const ThreadingUnixDatagramServer: ThreadingServerClass<
  typeof UnixDatagramServer
> = threading(UnixDatagramServer, "ThreadingUnixDatagramServer");
/** The type of a {@linkcode ThreadingUnixDatagramServer}. */
export type ThreadingUnixDatagramServer =
  & UnixDatagramServer
  & ThreadingMixInMembers;

/**
 * Python's `BaseRequestHandler`: made for each request, with `request`,
 * `client_address` and `server`; the server runs `setup()`, `handle()` and
 * `finish()` (each may be async; `finish()` runs even if `handle()`
 * throws). Override `handle()`.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServer } from "./socketserver.ts";
 * import { create_connection, type Socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Greeter extends BaseRequestHandler<Socket> {
 *   override async handle() {
 *     await this.request.sendall(new TextEncoder().encode("hi"));
 *   }
 * }
 * await using server = new TCPServer(["127.0.0.1", 0], Greeter);
 * using client = await create_connection(server.server_address);
 * await server.handle_request();
 * assert.equal(new TextDecoder().decode(await client.recv(10)), "hi");
 * ```
 */
export class BaseRequestHandler<
  R = Socket,
  A = [host: string, port: number],
  S extends BaseServer<R, A> = BaseServer<R, A>,
> implements RequestHandler {
  /** The request: a connected socket, or `[data, socket]` for datagrams. */
  request: R;
  /** The client's address. */
  client_address: A;
  /** The server handling the request. */
  server: S;

  /**
   * Store the request, its client's address and the server; the server
   * then runs `setup()`, `handle()` and `finish()`.
   *
   * @param request The request.
   * @param client_address Its client.
   * @param server The server.
   */
  constructor(request: R, client_address: A, server: S) {
    this.request = request;
    this.client_address = client_address;
    this.server = server;
  }

  /** Prepare for `handle()`. */
  setup(): void | Promise<void> {}

  /** Serve the request: override this. */
  handle(): void | Promise<void> {}

  /** Clean up after `handle()`. */
  finish(): void | Promise<void> {}
}

/**
 * Python's `StreamRequestHandler`: `rfile` and `wfile` are binary files on
 * the connection (`makefile("rb", rbufsize)`; `wfile` sends each write at
 * once unless `wbufsize` > 0), closed by `finish()`.
 *
 * Class attributes (override with `static override`): `rbufsize` (-1: the
 * default buffer), `wbufsize` (0: unbuffered, no flush needed), `timeout`
 * (null; else set on the connection), `disable_nagle_algorithm` (false).
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "./socketserver.ts";
 * import { create_connection } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Upper extends StreamRequestHandler {
 *   static override timeout = 5;
 *   override async handle() {
 *     const line = new TextDecoder().decode(await this.rfile.readline());
 *     await this.wfile.write(new TextEncoder().encode(line.toUpperCase()));
 *   }
 * }
 * await using server = new TCPServer(["127.0.0.1", 0], Upper);
 * using client = await create_connection(server.server_address);
 * await client.sendall(new TextEncoder().encode("abc\n"));
 * await server.handle_request();
 * assert.equal(new TextDecoder().decode(await client.recv(10)), "ABC\n");
 * ```
 */
export class StreamRequestHandler<
  A = [host: string, port: number],
  S extends BaseServer<Socket, A> = BaseServer<Socket, A>,
> extends BaseRequestHandler<Socket, A, S> {
  /** `rfile`'s buffer size: -1 for the default. */
  static rbufsize: number = -1;
  /** `wfile`'s buffer size: 0 sends each write at once. */
  static wbufsize = 0;
  /** The connection's timeout in seconds; `null` leaves it. */
  static timeout: number | null = null;
  /** Set TCP_NODELAY on the connection. */
  static disable_nagle_algorithm = false;

  /** The connection (the same as `request`). */
  connection!: Socket;
  /** The connection's bytes, to read. */
  rfile!: BinarySocketFile;
  /** Where to write the reply. */
  wfile!: BinarySocketFile;

  #own: Record<string, unknown> = {};

  #attr<T>(name: string): T {
    return name in this.#own ? this.#own[name] as T : classAttr(this, name);
  }

  /** `rfile`'s buffer size: the instance's if assigned, else the class's. */
  get rbufsize(): number {
    return this.#attr("rbufsize");
  }
  set rbufsize(value: number) {
    this.#own.rbufsize = value;
  }

  /** `wfile`'s buffer size: the instance's if assigned, else the class's. */
  get wbufsize(): number {
    return this.#attr("wbufsize");
  }
  set wbufsize(value: number) {
    this.#own.wbufsize = value;
  }

  /** The connection's timeout: the instance's if assigned, else the class's. */
  get timeout(): number | null {
    return this.#attr("timeout");
  }
  set timeout(value: number | null) {
    this.#own.timeout = value;
  }

  /** TCP_NODELAY: the instance's if assigned, else the class's. */
  get disable_nagle_algorithm(): boolean {
    return this.#attr("disable_nagle_algorithm");
  }
  set disable_nagle_algorithm(value: boolean) {
    this.#own.disable_nagle_algorithm = value;
  }

  /** Set the timeout and TCP_NODELAY if asked, and make `rfile` and `wfile`. */
  override setup(): void {
    this.connection = this.request;
    if (this.timeout !== null) this.connection.settimeout(this.timeout);
    if (this.disable_nagle_algorithm) {
      this.connection.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    }
    this.rfile = this.connection.makefile("rb", this.rbufsize);
    this.wfile = this.wbufsize === 0
      ? socketWriter(this.connection)
      : this.connection.makefile("wb", this.wbufsize);
  }

  /** Flush `wfile` (ignoring OSError, as Python does) and close both files. */
  override async finish(): Promise<void> {
    if (!this.wfile.closed) {
      try {
        await this.wfile.flush();
      } catch (e) {
        if (!(e instanceof OSError)) throw e;
      }
    }
    try {
      await this.wfile.close();
    } finally {
      await this.rfile.close();
    }
  }
}

// Close what a StreamRequestHandler's setup() made, quietly (as CPython's
// files close when collected).
async function dropFiles(handler: StreamRequestHandler): Promise<void> {
  for (const file of [handler.wfile, handler.rfile]) {
    if (file !== undefined && !file.closed) {
      await file.close().catch(() => {});
    }
  }
}

/**
 * Python's `DatagramRequestHandler`: `rfile` holds the datagram; what the
 * handler writes to `wfile` is sent back to the client by `finish()`.
 * Both are {@linkcode BytesIO}s, read and written without `await`, as
 * Python's `io.BytesIO`.
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "./socketserver.ts";
 * import { AF_INET, SOCK_DGRAM, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Reverse extends DatagramRequestHandler {
 *   override handle() {
 *     this.wfile.write(this.rfile.readline().reverse());
 *   }
 * }
 * await using server = new UDPServer(["127.0.0.1", 0], Reverse);
 * using client = socket(AF_INET, SOCK_DGRAM);
 * await client.sendto(new Uint8Array([1, 2, 3]), server.server_address);
 * await server.handle_request();
 * assert.deepEqual(await client.recv(10), new Uint8Array([3, 2, 1]));
 * ```
 */
export class DatagramRequestHandler<
  A = [host: string, port: number],
  S extends BaseServer<DatagramRequest, A> = BaseServer<DatagramRequest, A>,
> extends BaseRequestHandler<DatagramRequest, A, S> {
  /** The datagram. */
  packet!: Uint8Array<ArrayBuffer>;
  /** The server's socket, to reply on. */
  socket!: Socket;
  /** The datagram, to read. */
  rfile!: BytesIO;
  /** The reply, sent by `finish()`. */
  wfile!: BytesIO;

  /** Split the request into `packet` and `socket`; make `rfile`, `wfile`. */
  override setup(): void {
    [this.packet, this.socket] = this.request;
    this.rfile = new BytesIO(this.packet);
    this.wfile = new BytesIO();
  }

  /** Send what was written to `wfile` to the client. */
  override async finish(): Promise<void> {
    await this.socket.sendto(
      this.wfile.getvalue(),
      this.client_address as Address,
    );
  }
}

/**
 * Python's `io.BytesIO`: bytes in memory with a file's methods, for
 * {@linkcode DatagramRequestHandler}'s `rfile` and `wfile`. Synchronous, as
 * Python's.
 *
 * @example
 * ```ts
 * import { BytesIO } from "./socketserver.ts";
 * import assert from "node:assert/strict";
 *
 * const f = new BytesIO(new TextEncoder().encode("a\nb\n"));
 * assert.deepEqual([...f].map((l) => new TextDecoder().decode(l)), ["a\n", "b\n"]);
 * f.write(new TextEncoder().encode("c"));
 * assert.equal(new TextDecoder().decode(f.getvalue()), "a\nb\nc");
 * ```
 */
export class BytesIO {
  #buf: Uint8Array<ArrayBuffer>;
  #len: number;
  #pos = 0;
  #closed = false;

  /**
   * A file holding a copy of `initial_bytes`, positioned at its start.
   *
   * @param initial_bytes The starting content.
   */
  constructor(initial_bytes?: ArrayBufferView | ArrayBuffer | null) {
    const init = initial_bytes == null
      ? new Uint8Array(0)
      : requireBytes(initial_bytes);
    this.#buf = new Uint8Array(init);
    this.#len = init.length;
  }

  /** Whether {@linkcode BytesIO.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #check(): void {
    if (this.#closed) throw new ValueError("I/O operation on closed file.");
  }

  /**
   * Read `size` bytes from the position (all that is left when -1).
   *
   * @param size How many; `-1` or `null` for the rest.
   * @returns The bytes; empty at the end.
   */
  read(size: number | null = -1): Uint8Array<ArrayBuffer> {
    this.#check();
    const n = size === null ? -1 : toInt(size);
    const end = n < 0 ? this.#len : Math.min(this.#len, this.#pos + n);
    const out = this.#buf.slice(Math.min(this.#pos, this.#len), end);
    this.#pos = Math.max(this.#pos, end);
    return out;
  }

  /**
   * As {@linkcode BytesIO.read}.
   *
   * @param size How many; `-1` or `null` for the rest.
   * @returns The bytes.
   */
  read1(size: number | null = -1): Uint8Array<ArrayBuffer> {
    return this.read(size);
  }

  /**
   * Read into `b`.
   *
   * @param b Where to write.
   * @returns How many bytes were written.
   */
  readinto(b: ArrayBufferView | ArrayBuffer): number {
    this.#check();
    const target = bytesView(b);
    if (target === null) {
      throw new TypeError(
        `readinto() argument must be read-write bytes-like object, not ${
          pyTypeName(b)
        }`,
      );
    }
    const data = this.read(target.length);
    target.set(data);
    return data.length;
  }

  /**
   * Read one line, through `\n`; at most `size` bytes if not negative.
   *
   * @param size The most bytes; `-1` or `null` for no limit.
   * @returns The line; empty at the end.
   */
  readline(size: number | null = -1): Uint8Array<ArrayBuffer> {
    this.#check();
    const n = size === null ? -1 : toInt(size);
    const start = this.#pos;
    // Past the end: nothing, and the position stays where it was.
    if (start >= this.#len) return new Uint8Array(0);
    const nl = this.#buf.subarray(start, this.#len).indexOf(10);
    let end = nl < 0 ? this.#len : start + nl + 1;
    if (n >= 0) end = Math.min(end, start + n);
    this.#pos = end;
    return this.#buf.slice(start, end);
  }

  /**
   * Read the remaining lines (stopping once `hint` bytes were read, if
   * positive).
   *
   * @param hint The size to stop at; `-1` or `null` for all.
   * @returns The lines.
   */
  readlines(hint: number | null = -1): Uint8Array<ArrayBuffer>[] {
    const limit = hint === null ? -1 : toInt(hint);
    const lines: Uint8Array<ArrayBuffer>[] = [];
    let total = 0;
    for (;;) {
      const line = this.readline();
      if (line.length === 0) return lines;
      lines.push(line);
      total += line.length;
      if (limit > 0 && total >= limit) return lines;
    }
  }

  /**
   * Write bytes at the position, growing the content as needed.
   *
   * @param b The bytes.
   * @returns How many were written.
   */
  write(b: ArrayBufferView | ArrayBuffer): number {
    this.#check();
    const data = requireBytes(b);
    // Nothing written past the end pads nothing.
    if (data.length === 0) return 0;
    const end = this.#pos + data.length;
    if (end > this.#buf.length) {
      const grown = new Uint8Array(Math.max(end, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(data, this.#pos);
    this.#pos = end;
    this.#len = Math.max(this.#len, end);
    return data.length;
  }

  /**
   * Write each item of `lines`.
   *
   * @param lines The bytes to write.
   */
  writelines(lines: Iterable<ArrayBufferView | ArrayBuffer>): void {
    this.#check();
    for (const line of lines) this.write(line);
  }

  /**
   * All of the content.
   *
   * @returns A copy of the bytes.
   */
  getvalue(): Uint8Array<ArrayBuffer> {
    this.#check();
    return this.#buf.slice(0, this.#len);
  }

  /**
   * Move the position.
   *
   * @param pos The offset.
   * @param whence 0 from the start, 1 from the position, 2 from the end.
   * @returns The new position.
   */
  seek(pos: number, whence = 0): number {
    this.#check();
    const base = whence === 0 ? 0 : whence === 1 ? this.#pos : this.#len;
    if (whence < 0 || whence > 2) {
      throw new ValueError(
        `invalid whence (${whence}, should be 0, 1 or 2)`,
      );
    }
    const offset = toInt(pos);
    if (whence === 0 && offset < 0) {
      throw new ValueError(`negative seek value ${offset}`);
    }
    // Relative to the position or the end, before the start is the start.
    const to = Math.max(0, base + offset);
    this.#pos = to;
    return to;
  }

  /**
   * Cut the content to `size` bytes (never longer); the position stays.
   *
   * @param size The new length; `null` for the position.
   * @returns `size`.
   * @throws {ValueError} `size` is negative.
   */
  truncate(size: number | null = null): number {
    this.#check();
    const n = size === null ? this.#pos : toInt(size);
    if (n < 0) throw new ValueError(`negative size value ${n}`);
    if (n < this.#len) {
      // What a later write past the end pads with is zeros, as Python's.
      this.#buf.fill(0, n, this.#len);
      this.#len = n;
    }
    return n;
  }

  /**
   * Python's `readable()`.
   *
   * @returns `true`.
   */
  readable(): boolean {
    this.#check();
    return true;
  }

  /**
   * Python's `writable()`.
   *
   * @returns `true`.
   */
  writable(): boolean {
    this.#check();
    return true;
  }

  /**
   * Python's `seekable()`.
   *
   * @returns `true`.
   */
  seekable(): boolean {
    this.#check();
    return true;
  }

  /**
   * Python's `isatty()`.
   *
   * @returns `false`.
   */
  isatty(): boolean {
    this.#check();
    return false;
  }

  /**
   * The position.
   *
   * @returns The offset from the start.
   */
  tell(): number {
    this.#check();
    return this.#pos;
  }

  /** Nothing to send: the bytes are in memory. */
  flush(): void {
    this.#check();
  }

  /** Close the file; its content is gone. */
  close(): void {
    this.#closed = true;
  }

  /**
   * The lines, from the position on.
   *
   * @returns An iterator over the lines.
   */
  *[Symbol.iterator](): Generator<Uint8Array<ArrayBuffer>, void, undefined> {
    for (;;) {
      const line = this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  /** Close the file at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }
}

// Property-based bad input for every public function and method, shared by
// the fast suite (tests/fuzz_test.ts, few runs) and the stress run
// (tests/stress/fuzz_stress.ts, many). Each property throws random values at
// one entry point and checks the outcome: a success, or an error of a class
// errors.ts exports (OSError and its subclasses, ValueError, OverflowError)
// or the built-in TypeError; never a Deno.errors.*, never another class,
// never a hang (every call is bounded), and a live socket that saw a bad call
// still echoes afterwards.
//
// Traffic stays local: hosts that connect/sendto/getaddrinfo may look up are
// drawn from a pool of loopback literals, "localhost" (/etc/hosts) and
// strings the parser must reject; free-form strings only reach bind() (no
// lookup) or getaddrinfo() with AI_NUMERICHOST. Unix paths that bind() could
// create live in one temp dir; everything else is an abstract name.
import fc from "fast-check";
import assert from "node:assert/strict";
import * as errors from "../../errors.ts";
import * as mod from "../../mod.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  AI_NUMERICHOST,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
} from "../../mod.ts";
import {
  type BackendName,
  BACKENDS,
  bytes,
  connectedPair,
  onBackend,
  type Pair,
  recvExactly,
  sock,
  withTimeout,
} from "../_helpers.ts";

export { fc };

/** Longest one fuzzed call may take before it counts as a hang. */
export const CALL_MS = 2000;

// ------------------------------------------------------------ the verdict

const ALLOWED: ReadonlySet<unknown> = new Set<unknown>([
  ...Object.values(errors).filter((v) =>
    typeof v === "function" &&
    (v === errors.OSError || v.prototype instanceof errors.OSError)
  ),
  errors.ValueError,
  errors.OverflowError,
  // Python's codec errors (an IDNA label empty or too long in a host name).
  errors.UnicodeError,
  errors.UnicodeEncodeError,
  errors.UnicodeDecodeError,
  TypeError,
]);

const DENO_ERRORS = Object.values(Deno.errors) as (new () => Error)[];

/** Why `e` is not an acceptable error, or null when it is. */
export function badError(e: unknown): string | null {
  for (const C of DENO_ERRORS) {
    if (e instanceof C) return `leaked Deno.errors.${C.name}: ${e.message}`;
  }
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
  if (!ALLOWED.has(e.constructor)) {
    return `untyped ${e.constructor?.name ?? "?"}: ${e.message}`;
  }
  return null;
}

/** The outcome of one bounded call. */
export type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; error: unknown };

/** Thrown (through fast-check) when a call breaks the contract. */
export class ContractBroken extends Error {}

/**
 * With FUZZ_COLLECT=1 a broken contract is recorded here instead of failing
 * the property, so one run lists every distinct kind of violation.
 */
export const violations: Map<string, string> = new Map();
const collecting = Deno.env.get("FUZZ_COLLECT") === "1";

function violated(what: string, why: string, cause?: unknown): never | void {
  if (!collecting) throw new ContractBroken(`${what}: ${why}`, { cause });
  const key = `${what.replace(/\(.*$/s, "")}: ${
    why.replace(/\d+(\.\d+)?(e[+-]?\d+)?n?/g, "N").slice(0, 120)
  }`;
  if (!violations.has(key)) violations.set(key, `${what}: ${why}`);
}

/** How many fuzzed calls ran, per backend ("module" for module functions). */
export const tried: Record<string, number> = { deno: 0, libc: 0, module: 0 };

/**
 * Call `fn`, bound it in time, and check the error class. A hang or an
 * untyped error throws ContractBroken, naming `what` (fast-check then shrinks
 * and reports the arguments).
 */
export async function call(
  what: string,
  fn: () => unknown,
  counter: string = "module",
  ms: number = CALL_MS,
): Promise<Outcome> {
  tried[counter] = (tried[counter] ?? 0) + 1;
  let value: unknown;
  try {
    value = fn();
    if (value instanceof Promise) {
      const p = value;
      p.catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hang = Symbol("hang");
      const r = await Promise.race([
        p,
        new Promise((resolve) => timer = setTimeout(() => resolve(hang), ms)),
      ]).finally(() => clearTimeout(timer));
      if (r === hang) {
        violated(what, `did not settle within ${ms} ms`);
        return { ok: false, error: new Error("hang") };
      }
      value = r;
    }
  } catch (e) {
    if (e instanceof ContractBroken) throw e;
    const why = badError(e);
    if (why !== null) violated(what, why, e);
    return { ok: false, error: e };
  }
  return { ok: true, value };
}

/** Close whatever sockets a successful call returned. */
export function closeResult(value: unknown): void {
  const seen = new Set<unknown>();
  const visit = (v: unknown, depth: number) => {
    if (depth > 3 || v === null || typeof v !== "object" || seen.has(v)) {
      return;
    }
    seen.add(v);
    if (v instanceof mod.Socket) v.close();
    else if (Array.isArray(v)) { for (const x of v) visit(x, depth + 1); }
  };
  visit(value, 0);
}

// ------------------------------------------------------------ arbitraries

const SPECIAL: unknown[] = [
  undefined,
  null,
  true,
  false,
  NaN,
  Infinity,
  -Infinity,
  -0,
  0.5,
  -1,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  1e300,
  -1n,
  0n,
  2n ** 64n,
  "",
  "0",
  "80",
  "\0",
  Symbol("s"),
  () => 1,
  {},
  [],
  [[]],
  new ArrayBuffer(3),
  new DataView(new ArrayBuffer(4)),
  new Float64Array(2),
  new Uint16Array([1, 2]),
  new Date(0),
  new Map(),
  Object.create(null),
];

/** Any value at all: fast-check's anything() plus JS's odd corners. */
export const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...SPECIAL),
  fc.anything({
    withBigInt: true,
    withTypedArray: true,
    withBoxedValues: true,
    withNullPrototype: true,
    withSparseArray: true,
    maxDepth: 2,
  }),
);

/** Integers around every edge a C int, size_t or port has, and beyond. */
export const anInt: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -3, max: 300 }),
  fc.constantFrom(
    -1,
    0,
    1,
    65535,
    65536,
    2 ** 15,
    2 ** 16 + 1,
    2 ** 31 - 1,
    2 ** 31,
    -(2 ** 31),
    -(2 ** 31) - 1,
    2 ** 32,
    2 ** 32 + 5,
    2 ** 53,
    2 ** 63,
    -(2 ** 63),
  ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.integer(),
  fc.double(),
);

/** An int-ish argument: mostly numbers, sometimes anything. */
export const intArg: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: anInt },
  { weight: 1, arbitrary: junk },
);

/** Ports: in range, at the edges, out of range, and not numbers. */
export const port: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 0, max: 65535 }),
  fc.constantFrom(0, -1, 65536, 70000, 2 ** 32, 2 ** 31, 1.5, "80", NaN),
  anInt,
  junk,
);

/**
 * Hosts that connect() / sendto() may be given: loopback literals, names from
 * /etc/hosts, and strings the parser must reject before any lookup.
 */
export const safeHost: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    "127.0.0.1",
    "localhost",
    "",
    "0.0.0.0",
    "127.1",
    "0x7f.1",
    "127.0.0.1 ",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "0:0:0:0:0:0:0:1",
    "::1%lo",
    "::1%1",
    "fe80::1%lo",
    "::1%",
    "\0",
    "127.0.0.1\0",
    "\0localhost",
  ),
  fc.constantFrom(bytes("127.0.0.1"), bytes("::1"), bytes("localhost")),
  fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.integer())),
);

/** Hosts bind() may be given: anything, since bind never looks names up. */
export const bindHost: fc.Arbitrary<unknown> = fc.oneof(
  safeHost,
  fc.constant("<broadcast>"),
  fc.string(),
  fc.fullUnicodeString({ maxLength: 80 }),
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  junk,
);

/** IP addresses of every shape: pairs, 4-tuples, wrong lengths, wrong types. */
export function ipAddress(host: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(host, port) },
    { weight: 2, arbitrary: fc.tuple(host, port, intArg, intArg) },
    {
      weight: 1,
      arbitrary: fc.array(fc.oneof(host, port), { minLength: 0, maxLength: 6 }),
    },
    { weight: 1, arbitrary: junk },
    { weight: 1, arbitrary: fc.string() },
  );
}

/** The temp dir every unix path bind() may create lives in. */
let unixDir: string | null = null;

/** A fresh temp dir for unix paths; remove it with {@linkcode dropUnixDir}. */
export function makeUnixDir(): string {
  unixDir ??= Deno.makeTempDirSync({ prefix: "pysock-fuzz-" });
  return unixDir;
}

/** Remove the unix temp dir and everything bind() left in it. */
export function dropUnixDir(): void {
  if (unixDir === null) return;
  try {
    Deno.removeSync(unixDir, { recursive: true });
  } catch {
    // Gone already.
  }
  unixDir = null;
}

/** Unix addresses: paths in the temp dir (some too long), abstract names, junk. */
export function unixAddress(): fc.Arbitrary<unknown> {
  const dir = makeUnixDir();
  const name = fc.string({ minLength: 1, maxLength: 130 }).map((s) =>
    s.replace(/[/\0]/g, "_").replace(/^\.+$/, "x")
  );
  return fc.oneof(
    { weight: 3, arbitrary: name.map((n) => `${dir}/${n}`) },
    {
      weight: 1,
      arbitrary: name.map((n) => `${dir}/${n}\0tail`),
    },
    {
      weight: 2,
      arbitrary: fc.uint8Array({ minLength: 0, maxLength: 120 }).map((b) => {
        const out = new Uint8Array(b.length + 1);
        out.set(b, 1);
        return out; // leading NUL: an abstract name
      }),
    },
    { weight: 1, arbitrary: fc.constant("") },
    { weight: 1, arbitrary: fc.tuple(fc.constant("127.0.0.1"), port) },
    // Junk that is a path (a string or bytes) would bind in the working
    // directory, as in Python: only the temp dir's paths may be paths.
    { weight: 1, arbitrary: junk.filter((v) => !isPathLike(v)) },
  );
}

function isPathLike(v: unknown): boolean {
  return typeof v === "string" || v instanceof String ||
    ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
}

/** Bytes to send: arrays and views of every kind, sometimes not bytes at all. */
export const data: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) =>
      new DataView(b.buffer, 1)
    ),
  },
  { weight: 1, arbitrary: fc.int32Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.constant(new ArrayBuffer(10)) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: junk },
);

/** Receive buffers, including read-only-ish and zero-length ones. */
export const buffer: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 0, max: 4096 }).map((n) => new Uint8Array(n)),
  fc.integer({ min: 0, max: 64 }).map((n) => new Float32Array(n)),
  fc.constant(new ArrayBuffer(16)),
  fc.constant(new DataView(new ArrayBuffer(8), 3)),
  junk,
);

/** Receive sizes: small, edge and absurd. */
export const size: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -2, max: 70000 }),
  anInt,
  junk,
);

/** MSG_* flags: 0 most often, then single bits, then anything. */
export const flags: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0, max: 30 }).map((b) => 1 << b),
  },
  { weight: 1, arbitrary: intArg },
);

/** Timeouts: seconds, 0, null, negative, NaN, huge, not numbers. */
export const timeoutArg: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, 0, 0.01, -1, NaN, Infinity, 1e300, 2 ** 31, true),
  fc.double(),
  junk,
);

/** setsockopt values: ints, bytes, and junk. */
export const optValue: fc.Arbitrary<unknown> = fc.oneof(
  anInt,
  fc.uint8Array({ maxLength: 40 }),
  fc.boolean(),
  junk,
);

/** Option levels and names that exist, plus random ones. */
export const optLevel: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, 1, 6, 17, 41, 255, 263),
  intArg,
);

// ---------------------------------------------------------- live sockets

const SOCKET_METHODS = [
  "bind",
  "listen",
  "connect",
  "connect_ex",
  "recv",
  "recvfrom",
  "recv_into",
  "recvfrom_into",
  "send",
  "sendall",
  "sendto",
  "settimeout",
  "setblocking",
  "getsockname",
  "getpeername",
  "setsockopt",
  "getsockopt",
  "shutdown",
  "fileno",
  "dup",
  "detach",
  "gettimeout",
  "getblocking",
] as const;

/** Arguments for one method call on a socket of `family`. */
function argsFor(
  method: typeof SOCKET_METHODS[number],
  family: number,
): fc.Arbitrary<unknown[]> {
  const addr = family === AF_UNIX
    ? unixAddress()
    : ipAddress(method === "bind" ? bindHost : safeHost);
  switch (method) {
    case "bind":
    case "connect":
    case "connect_ex":
      return fc.tuple(addr);
    case "listen":
      return fc.oneof(fc.constant([]), fc.tuple(intArg));
    case "recv":
    case "recvfrom":
      return fc.oneof(fc.tuple(size), fc.tuple(size, flags));
    case "recv_into":
    case "recvfrom_into":
      return fc.oneof(
        fc.tuple(buffer),
        fc.tuple(buffer, size),
        fc.tuple(buffer, size, flags),
      );
    case "send":
    case "sendall":
      return fc.oneof(fc.tuple(data), fc.tuple(data, flags));
    case "sendto":
      return fc.oneof(fc.tuple(data, addr), fc.tuple(data, flags, addr));
    case "settimeout":
      return fc.tuple(timeoutArg);
    case "setblocking":
      return fc.tuple(junk);
    case "setsockopt":
      return fc.tuple(optLevel, intArg, optValue);
    case "getsockopt":
      return fc.oneof(
        fc.tuple(optLevel, intArg),
        fc.tuple(
          optLevel,
          intArg,
          fc.oneof(fc.integer({ min: -1, max: 2000 }), junk),
        ),
      );
    case "shutdown":
      return fc.tuple(fc.oneof(fc.integer({ min: -1, max: 3 }), intArg));
    default:
      return fc.constant([]);
  }
}

/** A fuzzed method call: which method, with which arguments. */
export interface MethodCall {
  method: typeof SOCKET_METHODS[number];
  args: unknown[];
}

/** Method calls on a socket of `family`. */
export function methodCall(family: number): fc.Arbitrary<MethodCall> {
  return fc.constantFrom(...SOCKET_METHODS).chain((method) =>
    argsFor(method, family).map((args) => ({ method, args }))
  );
}

function show(v: unknown): string {
  try {
    return fc.stringify(v);
  } catch {
    return String(v);
  }
}

/** Invoke a fuzzed method call on `s`, bounded and checked. */
export async function invoke(
  s: Socket,
  c: MethodCall,
  backend: BackendName,
): Promise<Outcome> {
  const what = `${backend}: ${c.method}(${c.args.map(show).join(", ")})`;
  // deno-lint-ignore no-explicit-any
  const m = (s as any)[c.method] as (...a: unknown[]) => unknown;
  const out = await call(what, () => m.apply(s, c.args), backend);
  if (out.ok && c.method === "detach" && typeof out.value === "number") {
    // A detached libc descriptor is ours to close now.
    if (out.value >= 0) {
      mod.socket(undefined, undefined, undefined, out.value).close();
    }
  }
  if (out.ok) closeResult(out.value);
  return out;
}

/** A connected stream pair on `backend` and `family` that is reopened when spent. */
export class LivePair {
  #pair: Pair | null = null;
  constructor(readonly backend: BackendName, readonly family: number) {}

  /** The pair, opening a fresh one when needed. */
  async get(): Promise<Pair> {
    this.#pair ??= await connectedPair(this.backend, this.family, "abstract");
    return this.#pair;
  }

  /** Drop the pair: the next get() opens a new one. */
  spend(): void {
    this.#pair?.[Symbol.dispose]();
    this.#pair = null;
  }
}

/**
 * One fuzzed call on the client of a live connected pair. A call that failed
 * must leave the socket as it was: same timeout, and an echo both ways still
 * works. A call that succeeded may change the socket (shutdown, a consumed
 * byte, an option): the pair is replaced.
 */
export async function fuzzLiveStream(
  live: LivePair,
  c: MethodCall,
): Promise<void> {
  const p = await live.get();
  // Short timeout so a legitimately blocking call ends in TimeoutError.
  p.client.settimeout(0.05);
  const out = await invoke(p.client, c, live.backend);
  if (out.ok) {
    live.spend();
    return;
  }
  const what = `${live.backend}: after failed ${c.method}(${
    c.args.map(show).join(", ")
  }) -> ${String(out.error)}`;
  if (p.client.gettimeout() !== 0.05) violated(what, "the timeout changed");
  if (p.client.fileno() === -1) violated(what, "the socket closed itself");
  else await echo(p.client, p.server, what);
  live.spend();
}

/** Bytes both ways between two connected stream sockets, bounded. */
export async function echo(a: Socket, b: Socket, what: string): Promise<void> {
  try {
    a.settimeout(2);
    b.settimeout(2);
    await withTimeout(a.sendall(bytes("ping")), CALL_MS, "sendall");
    assert.deepEqual(await recvExactly(b, 4, CALL_MS), bytes("ping"));
    await withTimeout(b.sendall(bytes("pong")), CALL_MS, "sendall");
    assert.deepEqual(await recvExactly(a, 4, CALL_MS), bytes("pong"));
  } catch (e) {
    violated(what, `echo failed: ${e}`, e);
  }
}

/**
 * One fuzzed call on a bound UDP socket; if it failed, a datagram round trip
 * with a second socket still works.
 */
export async function fuzzDatagram(
  backend: BackendName,
  family: number,
  c: MethodCall,
): Promise<void> {
  using a = sock(backend, family, SOCK_DGRAM);
  using b = sock(backend, family, SOCK_DGRAM);
  const host = family === AF_INET6 ? "::1" : "127.0.0.1";
  a.bind([host, 0]);
  b.bind([host, 0]);
  a.settimeout(0.05);
  const out = await invoke(a, c, backend);
  // Linux shuts an unconnected UDP socket down even as shutdown() fails with
  // ENOTCONN (CPython 3.11 sees the same: a later sendto() is EPIPE).
  if (out.ok || c.method === "shutdown") return;
  const what = `${backend}: UDP after failed ${c.method}(${
    c.args.map(show).join(", ")
  }) -> ${String(out.error)}`;
  try {
    a.settimeout(2);
    b.settimeout(2);
    const aAddr = a.getsockname() as [string, number];
    const bAddr = b.getsockname() as [string, number];
    await withTimeout(b.sendto(bytes("ping"), [host, aAddr[1]]), CALL_MS);
    // Drain anything a successful-looking partial call queued, up to ping.
    for (let i = 0; i < 4; i++) {
      const [d] = await withTimeout(a.recvfrom(100), CALL_MS);
      if (new TextDecoder().decode(d) === "ping") break;
      if (i === 3) throw new Error("ping never arrived");
    }
    await withTimeout(a.sendto(bytes("pong"), [host, bAddr[1]]), CALL_MS);
    const [d] = await withTimeout(b.recvfrom(100), CALL_MS);
    assert.deepEqual(d, bytes("pong"));
  } catch (e) {
    violated(what, `round trip failed: ${e}`, e);
  }
}

/** One fuzzed call on a fresh, unconnected socket; it must close cleanly. */
export async function fuzzFresh(
  backend: BackendName,
  family: number,
  type: number,
  c: MethodCall,
): Promise<void> {
  const s = sock(backend, family, type);
  try {
    s.settimeout(0.2);
    await invoke(s, c, backend);
  } finally {
    s.close();
  }
  assert.equal(s.fileno(), -1);
}

/** Calls on a closed socket: every one is OSError 9 or a typed argument error. */
export async function fuzzClosed(
  backend: BackendName,
  family: number,
  c: MethodCall,
): Promise<void> {
  const s = sock(backend, family);
  s.close();
  const out = await invoke(s, c, backend);
  if (out.ok) {
    const harmless = [
      "gettimeout",
      "getblocking",
      "fileno",
      "detach",
      "connect_ex",
    ];
    // recv(0) and recv_into() of nothing give b'' / 0 even when closed, as in
    // CPython 3.11.
    const empty = (c.method === "recv" || c.method === "recv_into") &&
      (out.value === 0 ||
        (out.value instanceof Uint8Array && out.value.length === 0));
    if (!harmless.includes(c.method) && !empty) {
      violated(
        `${backend}: ${c.method}(${c.args.map(show).join(", ")})`,
        "succeeded on a closed socket",
      );
    }
  }
}

// ------------------------------------------------------- module functions

/** Module-level calls with random arguments. */
export const moduleCall: fc.Arbitrary<readonly [string, () => unknown]> = fc
  .oneof(
    fc.tuple(fc.oneof(fc.string(), fc.ipV4Extended(), junk)).map(
      ([a]) =>
        [`inet_aton(${show(a)})`, () => mod.inet_aton(a as string)] as const,
    ),
    fc.tuple(fc.oneof(fc.uint8Array({ maxLength: 20 }), junk)).map(
      ([a]) =>
        [
          `inet_ntoa(${show(a)})`,
          () => mod.inet_ntoa(a as Uint8Array),
        ] as const,
    ),
    fc.tuple(
      fc.oneof(fc.constantFrom(AF_INET, AF_INET6, AF_UNIX), intArg),
      fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string(), junk),
    ).map(([f, a]) =>
      [
        `inet_pton(${show(f)}, ${show(a)})`,
        () => mod.inet_pton(f as number, a as string),
      ] as const
    ),
    fc.tuple(
      fc.oneof(fc.constantFrom(AF_INET, AF_INET6, AF_UNIX), intArg),
      fc.oneof(fc.uint8Array({ maxLength: 20 }), junk),
    ).map(([f, a]) =>
      [
        `inet_ntop(${show(f)}, ${show(a)})`,
        () => mod.inet_ntop(f as number, a as Uint8Array),
      ] as const
    ),
    fc.tuple(fc.constantFrom("htons", "ntohs", "htonl", "ntohl"), intArg).map(
      ([name, x]) =>
        [
          `${name}(${show(x)})`,
          () => (mod[name as "htons"] as (x: unknown) => number)(x),
        ] as const,
    ),
    // getaddrinfo: numeric hosts, or any string with AI_NUMERICHOST (no lookup).
    fc.tuple(
      fc.oneof(
        fc.constantFrom(null, "localhost", "127.0.0.1", "::1", ""),
        fc.ipV4(),
        fc.ipV6(),
        fc.ipV4Extended(),
        junk.filter((v) => typeof v !== "string"),
      ),
      fc.oneof(port, fc.constantFrom("http", "ssh", "nosuchservice", "", null)),
      intArg,
      intArg,
      intArg,
      intArg,
    ).map(([h, p, f, t, pr, fl]) =>
      [
        `getaddrinfo(${[h, p, f, t, pr, fl].map(show).join(", ")})`,
        () =>
          mod.getaddrinfo(
            h as string,
            p as number,
            f as number,
            t as number,
            pr as number,
            fl as number,
          ),
      ] as const
    ),
    fc.tuple(fc.string(), port, fc.integer({ min: 0, max: 0x7ff })).map(
      ([h, p, fl]) =>
        [
          `getaddrinfo(${show(h)}, ${show(p)}, 0, 0, 0, ${
            fl | AI_NUMERICHOST
          })`,
          () => mod.getaddrinfo(h, p as number, 0, 0, 0, fl | AI_NUMERICHOST),
        ] as const,
    ),
    fc.tuple(
      fc.oneof(
        fc.ipV4(),
        fc.constantFrom("localhost", "", "<broadcast>"),
        junk,
      ),
    ).filter(([h]) =>
      typeof h !== "string" || /^[\d.]*$|^localhost$|^<broadcast>$/.test(h)
    )
      .map(([h]) =>
        [
          `gethostbyname(${show(h)})`,
          () => mod.gethostbyname(h as string),
        ] as const
      ),
    fc.tuple(ipAddress(safeHost), intArg).map(([a, fl]) =>
      [`getnameinfo(${show(a)}, ${show(fl)}|NUMERIC)`, () =>
        mod.getnameinfo(
          a as [string, number],
          (typeof fl === "number" ? fl : 0) | NI_NUMERICHOST | NI_NUMERICSERV,
        )] as const
    ),
    fc.tuple(
      fc.oneof(fc.string(), junk),
      fc.oneof(fc.constantFrom("tcp", "udp"), fc.string(), junk),
    ).map(
      ([n, pr]) =>
        [
          `getservbyname(${show(n)}, ${show(pr)})`,
          () => mod.getservbyname(n as string, pr as string),
        ] as const,
    ),
    fc.tuple(port, fc.oneof(fc.constantFrom("tcp", "udp", undefined), junk))
      .map(
        ([p, pr]) =>
          [
            `getservbyport(${show(p)}, ${show(pr)})`,
            () => mod.getservbyport(p as number, pr as string),
          ] as const,
      ),
    fc.tuple(timeoutArg).map(([t]) =>
      [`setdefaulttimeout(${show(t)})`, () => {
        try {
          mod.setdefaulttimeout(t as number);
        } finally {
          mod.setdefaulttimeout(null);
        }
      }] as const
    ),
    fc.tuple(intArg, intArg, intArg).map(([f, t, p]) =>
      [
        `socketpair(${[f, t, p].map(show).join(", ")})`,
        () => mod.socketpair(f as number, t as number, p as number),
      ] as const
    ),
    fc.tuple(
      fc.oneof(intArg, fc.constantFrom(AF_INET, AF_INET6, AF_UNIX)),
      fc.oneof(intArg, fc.constantFrom(SOCK_STREAM, SOCK_DGRAM, 3, 5)),
      intArg,
      fc.oneof(
        fc.constant(undefined),
        fc.record({ backend: fc.oneof(fc.constantFrom("deno", "libc"), junk) }),
        fc.record({
          fileno: fc.oneof(
            fc.integer({ min: -5, max: -1 }),
            fc.constantFrom(100000, 1.5, NaN),
            junk.filter((v) => typeof v !== "number" && typeof v !== "bigint"),
          ),
        }),
      ),
    ).map(([f, t, p, o]) =>
      [
        `socket(${[f, t, p, o].map(show).join(", ")})`,
        () =>
          mod.socket(
            f as number,
            t as number,
            p as number,
            o as mod.SocketOptions,
          ),
      ] as const
    ),
    fc.tuple(
      ipAddress(safeHost),
      timeoutArg,
      fc.oneof(fc.constant(undefined), ipAddress(safeHost)),
    ).map(
      ([a, t, src]) =>
        [
          `create_connection(${[a, t, src].map(show).join(", ")})`,
          () =>
            mod.create_connection(
              a as [string, number],
              // A blocking connect to a live local port could wait on its backlog.
              (t === null || t === undefined) ? 0.5 : t as number,
              src as [string, number],
            ),
        ] as const,
    ),
    fc.tuple(
      ipAddress(fc.constantFrom("127.0.0.1", "::1", "", "localhost", 5)),
      fc.oneof(
        fc.constant(undefined),
        fc.record({
          // Not AF_UNIX: a junk address could then bind in the working dir.
          family: fc.oneof(
            fc.constantFrom(AF_INET, AF_INET6),
            intArg.filter((f) => f !== AF_UNIX),
          ),
          backlog: intArg,
          reuse_port: junk,
          dualstack_ipv6: junk,
        }, { requiredKeys: [] }),
        junk,
      ),
    ).map(([a, o]) =>
      [
        `create_server(${show(a)}, ${show(o)})`,
        () =>
          mod.create_server(
            a as [string, number],
            o as mod.CreateServerOptions,
          ),
      ] as const
    ),
  );

/** The stream families fuzzed on live sockets. */
export const LIVE_FAMILIES = [
  ["AF_INET", AF_INET],
  ["AF_INET6", AF_INET6],
  ["AF_UNIX", AF_UNIX],
] as const;

/** Register the fuzz properties as Deno tests, `runs` cases each. */
export function registerFuzz(runs: number, seed?: number): void {
  const params = (n: number) => ({ numRuns: n, seed });
  for (const backend of BACKENDS) {
    for (const [label, family] of LIVE_FAMILIES) {
      Deno.test(
        onBackend(
          backend,
          `every method with random arguments on a live ${label} stream: typed errors, and a failed call leaves it echoing`,
        ),
        async () => {
          const live = new LivePair(backend, family);
          try {
            await fc.assert(
              fc.asyncProperty(
                methodCall(family),
                (c) => fuzzLiveStream(live, c),
              ),
              params(runs),
            );
          } finally {
            live.spend();
            dropUnixDir();
          }
        },
      );
    }
    Deno.test(
      onBackend(
        backend,
        `every method with random arguments on fresh TCP, UDP and unix sockets: typed errors, closes cleanly`,
      ),
      async () => {
        try {
          await fc.assert(
            fc.asyncProperty(
              fc.constantFrom(
                [AF_INET, SOCK_STREAM],
                [AF_INET, SOCK_DGRAM],
                [AF_INET6, SOCK_STREAM],
                [AF_INET6, SOCK_DGRAM],
                [AF_UNIX, SOCK_STREAM],
              ).chain(([f, t]) => methodCall(f).map((c) => [f, t, c] as const)),
              ([f, t, c]) => fuzzFresh(backend, f, t, c),
            ),
            params(runs),
          );
        } finally {
          dropUnixDir();
        }
      },
    );
    Deno.test(
      onBackend(
        backend,
        `every method with random arguments on a bound UDP socket: typed errors, and a failed call leaves it working`,
      ),
      async () => {
        await fc.assert(
          fc.asyncProperty(
            methodCall(AF_INET),
            (c) => fuzzDatagram(backend, AF_INET, c),
          ),
          params(runs),
        );
      },
    );
    Deno.test(
      onBackend(
        backend,
        `every method with random arguments on a closed socket: typed errors, nothing reopens`,
      ),
      async () => {
        try {
          await fc.assert(
            fc.asyncProperty(
              methodCall(AF_INET),
              (c) => fuzzClosed(backend, AF_INET, c),
            ),
            params(runs),
          );
        } finally {
          dropUnixDir();
        }
      },
    );
  }
  Deno.test("module functions with random arguments: a result or a typed error, never a hang", async () => {
    try {
      await fc.assert(
        fc.asyncProperty(moduleCall, async ([what, fn]) => {
          const out = await call(what, fn);
          if (out.ok) closeResult(out.value);
        }),
        params(runs * 3),
      );
    } finally {
      mod.setdefaulttimeout(null);
    }
  });
  if (collecting) {
    Deno.test("fuzz: every distinct violation seen (FUZZ_COLLECT=1)", () => {
      for (const v of violations.values()) console.log(`VIOLATION ${v}`);
      console.log(`fuzz cases tried: ${JSON.stringify(tried)}`);
    });
  }
}

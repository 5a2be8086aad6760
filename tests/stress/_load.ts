// Load and leak fixtures shared by the fast reliability suite and the stress
// run: a many-connection echo with random chunk sizes checked by hash, a
// child process that checks its own descriptors around connect/accept/close
// cycles (without /proc: see FREE_FDS), and a slow peer for recv timeouts
// interleaved with data. And what the seeded stream runs share: random
// choices from a seed, the views a BYOB read may bring, and a run of rounds
// that goes on past a failed one, so that a run counts them.
import assert, { AssertionError } from "node:assert/strict";
import {
  AF_INET,
  SHUT_WR,
  SO_LINGER,
  SOCK_DGRAM,
  type Socket,
  SOL_SOCKET,
  TimeoutError,
} from "../../mod.ts";
import {
  type BackendName,
  bytes,
  COUNTED_CHILD_ENV,
  DENO_SIGNALS_READY,
  FREE_FDS,
  runChild,
  sleep,
  sock,
  withTimeout,
} from "../_helpers.ts";

/** A small seeded PRNG (xorshift32): the same seed gives the same run. */
export function rng(seed: number): () => number {
  let x = (seed * 2654435761 + 0x9e3779b9) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** An environment variable, or undefined (also without --allow-env). */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The seed of the seeded stream runs: STREAMS_SEED, or a random one. It
 * replays a run's choices (not its timing).
 */
export const STREAMS_SEED: number = Number(
  env("STREAMS_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0],
);

/** STREAMS_ROUND: the one round {@linkcode seededRounds} runs, or null. */
export const STREAMS_ROUND: number | null = env("STREAMS_ROUND") === undefined
  ? null
  : Number(env("STREAMS_ROUND"));

/**
 * A run's round count: the environment variable `name`, or `fallback`, and
 * at least as many as STREAMS_ROUND needs to reach its round.
 */
export function roundsFrom(name: string, fallback: number): number {
  return Math.max(Number(env(name) ?? fallback), (STREAMS_ROUND ?? -1) + 1);
}

/** Random choices from one seed. */
export class Dice {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = rng(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return this.#next() % n;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.#next() / 2 ** 32 < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/**
 * A seed for one part (0 or 1) of one round, the same whatever the timing
 * did to the parts and rounds before.
 */
export function seedOf(seed: number, round: number, part: number): number {
  const mixed = Math.imul(seed, 0x9e3779b1) ^
    Math.imul(round * 2 + part, 0x85ebca6b);
  return mixed >>> 0;
}

/** How many times each thing happened, for a run's log line. */
export type Tally = Record<string, number>;

/** Count one more `what`. */
export function count(tally: Tally, what: string): void {
  tally[what] = (tally[what] ?? 0) + 1;
}

/** A view constructor a BYOB read may be given. */
export type ViewKind = new (
  buffer: ArrayBuffer,
  byteOffset: number,
  length: number,
) => ArrayBufferView<ArrayBuffer>;
// Float16Array where the runtime has it.
const F16 = (globalThis as { Float16Array?: ViewKind }).Float16Array;
/** Every built-in view. */
export const VIEWS: readonly ViewKind[] = [
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
  ...(F16 === undefined ? [] : [F16]),
];

/** Bytes per element of `kind` (1 for DataView). */
export function elementSize(kind: ViewKind): number {
  return (kind as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
}

/** The bytes `view` spans. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** `parts`, one after another (the module's own). */
export { concat } from "../../_codecs.ts";

/** Make `s`'s close() reset the connection (SO_LINGER on, 0 s). */
export function resetOnClose(s: Socket): void {
  s.setsockopt(SOL_SOCKET, SO_LINGER, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
}

/** What {@linkcode seededRounds} runs. */
export interface SeededRounds {
  /** Who runs them, for messages: e.g. `deno reader, libc sender`. */
  what: string;
  rounds: number;
  /** The most the rounds may take, in all. */
  boundMs: number;
  /** What the rounds counted, logged at the end. */
  tally: Tally;
  /** One round, on a connection of its own; it throws if it fails. */
  round: (n: number) => Promise<void>;
}

// A failure's message; with the stack where the error is no check's (an
// assertion's, or a hang's from withTimeout) but a surprise.
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? e.cause : e;
  if (
    cause instanceof AssertionError ||
    /did not settle within/.test(cause.message)
  ) return e.message;
  return cause === e ? String(e.stack) : `${e.message}\n${cause.stack}`;
}

/** At most this many failed rounds are logged before a run stops. */
const MAX_FAILED_ROUNDS = 5;

/**
 * Run seeded rounds in turn. A failed round is logged with how to replay it
 * and the run goes on (up to {@linkcode MAX_FAILED_ROUNDS}), so that one run
 * tells how many rounds fail; then it throws, naming them. Running out of
 * time is a failure too. The rounds are STREAMS_ROUND's alone where it is
 * set. At the end it logs the tally. Returns how many rounds ran.
 */
export async function seededRounds(run: SeededRounds): Promise<number> {
  const started = Date.now();
  const deadline = started + run.boundMs;
  const replay = (n: number) =>
    `STREAMS_SEED=${STREAMS_SEED} STREAMS_ROUND=${n}`;
  const failed: number[] = [];
  let first: unknown = undefined;
  let ran = 0;
  for (let n = 0; n < run.rounds; n++) {
    if (STREAMS_ROUND !== null && n !== STREAMS_ROUND) continue;
    if (Date.now() > deadline) {
      throw new Error(
        `${run.what}: out of time (${run.boundMs} ms) after ${ran} rounds, ${failed.length} failed (${
          replay(n)
        } replays the next)`,
      );
    }
    ran++;
    try {
      await run.round(n);
    } catch (e) {
      first ??= e;
      failed.push(n);
      console.log(
        `${run.what}, round ${n} failed (${replay(n)} replays): ${describe(e)}`,
      );
      if (failed.length === MAX_FAILED_ROUNDS) break;
    }
  }
  if (failed.length > 0) {
    throw new Error(
      `${run.what}: ${failed.length} of ${ran} rounds failed (rounds ${
        failed.join(", ")
      }; ${replay(failed[0])} replays the first)`,
      { cause: first },
    );
  }
  console.log(
    `${run.what}, seed ${STREAMS_SEED}: ${ran} rounds in ${
      Date.now() - started
    } ms, ${JSON.stringify(run.tally)}`,
  );
  return ran;
}

/** FNV-1a over a stream of chunks: order-sensitive, so reordering shows. */
export class Hash {
  #h = 0x811c9dc5;
  #n = 0;
  /** Feed bytes. */
  update(b: Uint8Array): void {
    let h = this.#h;
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619);
    this.#h = h >>> 0;
    this.#n += b.length;
  }
  /** Byte count and hash, e.g. `262144:1a2b3c4d`. */
  digest(): string {
    return `${this.#n}:${this.#h.toString(16).padStart(8, "0")}`;
  }
}

/** What an echo load run moved. */
export interface LoadResult {
  connections: number;
  bytesEachWay: number;
  chunksSent: number;
  ms: number;
}

/**
 * A server made with the module echoes `conns` concurrent clients; each sends
 * `bytesPer` bytes in chunks of random size (1..maxChunk), half-closes, and
 * checks what comes back by length and hash. All connections are open at
 * once before any data moves.
 */
export async function echoLoad(
  backend: BackendName,
  conns: number,
  bytesPer: number,
  maxChunk: number,
  seed: number,
  ms: number,
): Promise<LoadResult> {
  const started = performance.now();
  const server = sock(backend);
  const clients: Socket[] = [];
  const accepted: Socket[] = [];
  let chunksSent = 0;
  try {
    server.bind(["127.0.0.1", 0]);
    server.listen(Math.min(conns, 4096));
    const addr = server.getsockname();
    const serve = (async () => {
      const echoes: Promise<void>[] = [];
      for (let i = 0; i < conns; i++) {
        const [conn] = await server.accept();
        accepted.push(conn);
        echoes.push((async () => {
          for (;;) {
            const chunk = await conn.recv(65536);
            if (chunk.length === 0) break;
            await conn.sendall(chunk);
          }
          conn.close();
        })());
      }
      await Promise.all(echoes);
    })();
    // Connect everyone first: every connection is open at the same time.
    await Promise.all(
      Array.from({ length: conns }, async () => {
        const c = sock(backend);
        clients.push(c);
        await c.connect(addr);
      }),
    );
    const talk = clients.map(async (c, i) => {
      const next = rng(seed * 100003 + i);
      const sent = new Hash();
      const got = new Hash();
      const receiving = (async () => {
        for (;;) {
          const chunk = await c.recv(65536);
          if (chunk.length === 0) break;
          got.update(chunk);
        }
      })();
      let left = bytesPer;
      while (left > 0) {
        const n = Math.min(left, 1 + (next() % maxChunk));
        const chunk = new Uint8Array(n);
        for (let j = 0; j < n; j += 4) {
          const r = next();
          chunk[j] = r;
          if (j + 1 < n) chunk[j + 1] = r >>> 8;
          if (j + 2 < n) chunk[j + 2] = r >>> 16;
          if (j + 3 < n) chunk[j + 3] = r >>> 24;
        }
        sent.update(chunk);
        await c.sendall(chunk);
        chunksSent++;
        left -= n;
      }
      c.shutdown(SHUT_WR);
      await receiving;
      assert.equal(
        got.digest(),
        sent.digest(),
        `connection ${i}: echo differs`,
      );
      c.close();
    });
    await withTimeout(
      Promise.all([serve, ...talk]),
      ms,
      `${conns} concurrent echoes`,
    );
  } finally {
    for (const c of clients) c.close();
    for (const c of accepted) c.close();
    server.close();
  }
  return {
    connections: conns,
    bytesEachWay: conns * bytesPer,
    chunksSent,
    ms: Math.round(performance.now() - started),
  };
}

/**
 * The lowest free descriptor numbers a child process saw around its cycles
 * (see `FREE_FDS` in tests/_helpers.ts): equal snapshots mean no descriptor
 * was left open, or closed, in between.
 */
export interface CycleReport {
  backend: string;
  cycles: number;
  /** Before any socket was opened. */
  base: number[];
  /** After the listener and 20 warm-up cycles. */
  before: number[];
  after: number[];
  afterClose: number[];
  ms: number;
}

const CYCLE_CHILD = (modUrl: string) => `
import { AF_INET, SOCK_STREAM, socket, TimeoutError } from ${
  JSON.stringify(modUrl)
};
const [backend, n] = [Deno.args[0], Number(Deno.args[1])];
${FREE_FDS}
const fds = () => freeFds(32);
// Deno opens a unix socketpair for its signal thread ~500 ms after start:
// baseline once it has.
${DENO_SIGNALS_READY}
const base = fds();
const l = socket(AF_INET, SOCK_STREAM, 0, { backend });
l.bind(["127.0.0.1", 0]);
l.listen(128);
const addr = l.getsockname();
async function cycle(i) {
  const c = socket(AF_INET, SOCK_STREAM, 0, { backend });
  const [, [conn]] = await Promise.all([c.connect(addr), l.accept()]);
  if (i % 10 === 0) {
    // Now and then a timed-out recv too, so timers are in the cycle.
    c.settimeout(0.001);
    try { await c.recv(1); } catch (e) { if (!(e instanceof TimeoutError)) throw e; }
  }
  // The server side closes first: TIME_WAIT stays on the listening port.
  conn.close();
  c.close();
}
for (let i = 0; i < 20; i++) await cycle(i);
const before = fds();
const t0 = performance.now();
for (let i = 0; i < n; i++) await cycle(i);
const ms = Math.round(performance.now() - t0);
const after = fds();
l.close();
// Deno closes a descriptor when the loop next polls: give it up to a second.
const same = () => JSON.stringify(fds()) === JSON.stringify(base);
for (let i = 0; i < 100 && !same(); i++) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify({ backend, cycles: n, base, before, after, afterClose: fds(), ms }));
// No Deno.exit(): the script must end on its own, with no timer or op left.
`;

/**
 * Run `n` connect/accept/close cycles in a child `deno run` and report its
 * lowest free descriptor numbers around them. The child must also exit by
 * itself within `ms`: a leaked timer or pending op would keep it alive.
 */
export async function cyclesInChild(
  backend: BackendName,
  n: number,
  ms: number,
): Promise<CycleReport> {
  const dir = Deno.makeTempDirSync({ prefix: "pysock-cycles-" });
  try {
    const script = `${dir}/cycles.mjs`;
    Deno.writeTextFileSync(
      script,
      CYCLE_CHILD(import.meta.resolve("../../mod.ts")),
    );
    const out = await runChild(
      [script, backend, String(n)],
      ms,
      COUNTED_CHILD_ENV,
    );
    if (out === "hung") {
      throw new Error(
        `${backend}: the cycle child did not exit within ${ms} ms`,
      );
    }
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** What a timeout run saw. */
export interface TimeoutResult {
  timeouts: number;
  recvs: number;
  bytes: number;
}

/**
 * A peer sends `chunks` pieces of a known stream with random pauses while the
 * reader polls with a tiny timeout: every TimeoutError must lose nothing, and
 * the stream arrives whole and in order.
 */
export async function streamTimeouts(
  a: Socket,
  b: Socket,
  chunks: number,
  seed: number,
  ms: number,
): Promise<TimeoutResult> {
  const next = rng(seed);
  const pieces = Array.from({ length: chunks }, (_, i) => {
    const n = 1 + (next() % 3000);
    const p = new Uint8Array(n);
    for (let j = 0; j < n; j++) p[j] = (i * 31 + j * 7 + seed) & 0xff;
    return p;
  });
  const total = pieces.reduce((s, p) => s + p.length, 0);
  const expected = new Hash();
  for (const p of pieces) expected.update(p);
  const writer = (async () => {
    for (const p of pieces) {
      const pause = next() % 4;
      if (pause > 0) await sleep(pause * 3);
      await b.sendall(p);
    }
  })();
  const got = new Hash();
  let have = 0, timeouts = 0, recvs = 0;
  const reader = (async () => {
    a.settimeout(0.002);
    while (have < total) {
      recvs++;
      try {
        const d = await a.recv(1 + (next() % 4096));
        assert.ok(d.length > 0, "EOF before the whole stream arrived");
        got.update(d);
        have += d.length;
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
        assert.equal(e.errno, null);
        timeouts++;
      }
    }
  })();
  await withTimeout(Promise.all([writer, reader]), ms, "timeout run");
  assert.equal(got.digest(), expected.digest(), "the stream differs");
  return { timeouts, recvs, bytes: total };
}

/**
 * The datagram version: `count` numbered datagrams with random pauses, read
 * with a tiny timeout; all arrive, in order, none twice.
 */
export async function datagramTimeouts(
  backend: BackendName,
  count: number,
  seed: number,
  ms: number,
): Promise<TimeoutResult> {
  using a = sock(backend, AF_INET, SOCK_DGRAM);
  using b = sock(backend, AF_INET, SOCK_DGRAM);
  a.bind(["127.0.0.1", 0]);
  b.bind(["127.0.0.1", 0]);
  const to = a.getsockname();
  const next = rng(seed);
  let bytesSent = 0;
  const writer = (async () => {
    for (let i = 0; i < count; i++) {
      const pause = next() % 4;
      if (pause > 0) await sleep(pause * 3);
      const msg = bytes(`${i}:${"x".repeat(next() % 500)}`);
      bytesSent += msg.length;
      await b.sendto(msg, to);
    }
  })();
  let timeouts = 0, recvs = 0, want = 0;
  const reader = (async () => {
    a.settimeout(0.002);
    while (want < count) {
      recvs++;
      try {
        const [d] = await a.recvfrom(1024);
        const n = Number(new TextDecoder().decode(d).split(":")[0]);
        assert.equal(n, want, "datagram lost, repeated or reordered");
        want++;
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
        timeouts++;
      }
    }
  })();
  await withTimeout(Promise.all([writer, reader]), ms, "datagram timeouts");
  return { timeouts, recvs, bytes: bytesSent };
}

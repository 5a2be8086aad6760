// Endings, the long run: Socket.readable over 300 short connections per
// backend pairing (reader, sender), each ended at a random moment by the
// sender (SHUT_WR, close(), or a reset where the sender is libc: SO_LINGER
// 0) and, in about half, by the reader's own side too (close(),
// shutdown(SHUT_RD), or a socket timeout of 5-30 ms), while random
// operations read it: default and BYOB readers with 1-3 reads queued,
// awaited, released or cancelled at a random moment; for await with and
// without preventCancel, left early or raced by return(); pipeTo() and
// pipeThrough() with random options, aborted by a signal or by a sink that
// fails; tee(); cancel(); recv() between readers. Then a closed or errored
// stream is asked again by new readers, and recv() takes what is left.
// Checks: every promise settles within STEP_MS (a hang is the main bug
// class: this run found three, fixed in 521cf84 and 25af43d); the bytes
// the readers and recv() take are those sent, in order, and all of them
// where the round loses none by the spec (not after a reset, a local close
// or SHUT_RD, an aborted pipeThrough or an errored tee); results have the
// spec's shapes; a stream errors with one error, which every read and a
// new reader's see. About 60 s in all here.
// STREAMS_SEED replays a run's choices (not its timing); with it,
// STREAMS_ROUND=n runs round n alone.
import assert from "node:assert/strict";
import { AF_INET, OSError, SHUT_RD, SHUT_WR, type Socket } from "../../mod.ts";
import {
  BACKEND_PAIRS,
  type BackendName,
  connectedPair,
  skipNote,
  sleep,
  STEP_MS,
  unavailable,
  withTimeout,
} from "../_helpers.ts";
import {
  bytesOf,
  concat,
  count,
  Dice,
  elementSize,
  resetOnClose,
  rng,
  seededRounds,
  seedOf,
  STREAMS_ROUND,
  STREAMS_SEED,
  type Tally,
  type ViewKind,
  VIEWS,
} from "./_load.ts";

/** Connections per pairing. */
const ROUNDS = 300;
/** The most one pairing may take. */
const BOUND_MS = 60_000;
/** The most reader operations on one connection, and their time. */
const OPS = 40;
const OPS_MS = 5_000;

/** A promise's outcome, and when it came on its round's clock. */
type Settled<T> =
  | { ok: true; value: T; at: number }
  | { ok: false; error: unknown; at: number };

/** How a stream stands, as a fresh reader's `closed` sees it. */
type State =
  | { kind: "open" }
  | { kind: "closed" }
  | { kind: "errored"; error: unknown };

function errName(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const errno = e instanceof OSError ? `(${e.errno})` : "";
  return `${e.constructor.name}${errno}: ${e.message.slice(0, 60)}`;
}

function describeView(v: ArrayBufferView): string {
  return `${v.constructor.name}(offset ${v.byteOffset}, ${v.byteLength} bytes)`;
}

/** One connection: the bytes sent, what the readers took, and the stream's error. */
class Round {
  readonly d: Dice;
  readonly data: Uint8Array;
  /** Bytes taken so far. */
  pos = 0;
  /**
   * Whether the spec lets this round lose bytes (a reset, a local close or
   * SHUT_RD, an aborted pipeThrough's or an errored tee's queues): then
   * what came must only be a prefix.
   */
  lossy = false;
  /** Whether the stream has errored, and with what. */
  errored = false;
  error: unknown = undefined;
  /** What a reader's cancel() rejected with (the stream's error). */
  cancelError: unknown = undefined;
  readonly #tally: Tally;
  #clock = 0;
  readonly #recent: string[] = [];

  constructor(d: Dice, size: number, tally: Tally) {
    this.d = d;
    this.#tally = tally;
    this.data = new Uint8Array(size);
    const next = rng(d.int(1 << 30) + 1);
    for (let i = 0; i < size; i++) this.data[i] = next() >>> 24;
  }

  /** The round's clock: orders settlements against a release or cancel. */
  tick(): number {
    return this.#clock++;
  }

  /** `p`'s outcome, stamped with the clock when it came. */
  settle<T>(p: Promise<T>): Promise<Settled<T>> {
    return p.then(
      (value) => ({ ok: true as const, value, at: this.tick() }),
      (error) => ({ ok: false as const, error, at: this.tick() }),
    );
  }

  /** `p`, or a failure once it has not settled within STEP_MS. */
  guard<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(p, STEP_MS, what);
  }

  /** Remember `what` for a failure's message. */
  note(what: string): void {
    this.#recent.push(what);
    if (this.#recent.length > 25) this.#recent.shift();
  }

  /** The last operations, for a failure's message. */
  get recent(): string {
    return this.#recent.join("\n    ");
  }

  count(what: string): void {
    count(this.#tally, what);
  }

  fail(what: string): never {
    assert.fail(what);
  }

  /** Check `b` as the next bytes sent, and count them taken. */
  take(b: Uint8Array, how: string): void {
    this.note(`${how}: ${b.length} bytes at ${this.pos}`);
    if (this.pos + b.length > this.data.length) {
      this.fail(
        `${how}: ${b.length} bytes at ${this.pos}, past the end (${this.data.length})`,
      );
    }
    for (let k = 0; k < b.length; k++) {
      if (b[k] !== this.data[this.pos + k]) {
        this.fail(
          `${how}: ${b.length} bytes at ${this.pos}: byte ${k} differs (they are the sent bytes at ${
            this.#whence(b)
          })`,
        );
      }
    }
    this.pos += b.length;
  }

  // Where in the sent bytes `b` starts (by its first 16 bytes), or -1: a
  // byte repeated or lost shows as an offset behind or ahead.
  #whence(b: Uint8Array): number {
    const n = Math.min(b.length, 16);
    for (let s = 0; s + b.length <= this.data.length; s++) {
      let k = 0;
      while (k < n && this.data[s + k] === b[k]) k++;
      if (k === n) return s;
    }
    return -1;
  }

  /** The stream errored with `e`: the first error seen is the stream's. */
  sawError(e: unknown, how: string): void {
    if (this.errored) return;
    this.errored = true;
    this.error = e;
    this.note(`${how}: the stream errored with ${errName(e)}`);
    this.count(`errored ${e instanceof Error ? e.constructor.name : e}`);
  }

  /** Now, after a microtask, after the timers' turn, or 1-24 ms on. */
  async moment(): Promise<void> {
    const k = this.d.int(6);
    if (k === 1) await Promise.resolve();
    else if (k === 2) await sleep(0);
    else if (k === 3) await sleep(1 + this.d.int(3));
    else if (k === 4) await sleep(5 + this.d.int(20));
  }
}

// The stream's state, as a fresh reader's `closed` sees it (getReader()
// after the end is under test too); null while it is locked.
async function probe(
  r: Round,
  s: ReadableStream<Uint8Array>,
): Promise<State | null> {
  if (s.locked) return null;
  const reader = s.getReader();
  // Open unless `closed` settles before the timers' turn. The timer is
  // cleared when `closed` wins: the round's tail (libc reads, closes) may
  // not turn the loop again, and the last round's would outlive the test.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const st = await Promise.race([
    reader.closed.then(
      (): State => ({ kind: "closed" }),
      (error): State => ({ kind: "errored", error }),
    ),
    new Promise<State>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "open" }), 0);
    }),
  ]).finally(() => clearTimeout(timer));
  reader.releaseLock();
  if (st.kind === "errored") {
    if (!r.errored) r.sawError(st.error, "probe");
    else if (st.error !== r.error) {
      r.fail(
        `probe: the stream errored with ${errName(st.error)}, reads saw ${
          errName(r.error)
        }`,
      );
    }
  }
  return st;
}

// A rejected read: a released reader's TypeError, or the stream's one
// error (which a cancel that came after rejects with too).
function rejected(
  r: Round,
  e: unknown,
  how: string,
  released: boolean,
  cancelled: boolean,
): void {
  if (released && e instanceof TypeError) {
    r.note(`${how}: TypeError (released)`);
    return;
  }
  if (cancelled && e !== r.cancelError) {
    r.fail(`${how}: rejected after a cancel: ${errName(e)}`);
  }
  if (r.errored && e !== r.error) {
    r.fail(
      `${how}: rejected with ${errName(e)}, the stream errored with ${
        errName(r.error)
      }`,
    );
  }
}

function checkDefault(
  r: Round,
  res: Settled<ReadableStreamReadResult<Uint8Array>>,
  how: string,
  released: boolean,
  cancelled: boolean,
): "more" | "end" {
  if (res.ok) {
    const { done, value } = res.value;
    if (done) {
      if (value !== undefined) r.fail(`${how}: done with a value`);
      r.note(`${how}: done`);
      return "end";
    }
    if (!(value instanceof Uint8Array) || value.length === 0) {
      r.fail(`${how}: a chunk that is no bytes: ${value}`);
    }
    r.take(value, how);
    return "more";
  }
  const e = res.error;
  rejected(r, e, how, released, cancelled);
  if (!(released && e instanceof TypeError)) {
    if (e instanceof TypeError) {
      r.fail(`${how}: TypeError without a release: ${errName(e)}`);
    }
    r.sawError(e, how);
  }
  return "end";
}

interface ViewRequest {
  kind: ViewKind;
  size: number;
  offset: number;
  /** Elements (bytes for DataView). */
  length: number;
  min: number;
  view: ArrayBufferView<ArrayBuffer>;
  bufferLength: number;
}

function makeView(r: Round): ViewRequest {
  const d = r.d;
  const kind = d.pick(VIEWS);
  const size = elementSize(kind);
  const length = d.pick([1, 1, 2, 3, 4, 7, 16, 100, 1000, 5000]);
  const offset = kind === DataView ? d.int(8) : d.int(4) * size;
  const bufferLength = offset + length * size + d.int(3) * size;
  const view = new kind(new ArrayBuffer(bufferLength), offset, length);
  const min = d.chance(0.5) ? 1 : d.chance(0.5) ? length : 1 + d.int(length);
  return { kind, size, offset, length, min, view, bufferLength };
}

function label(q: ViewRequest): string {
  return `${q.kind.name}(offset ${q.offset}, length ${q.length}) min ${q.min}`;
}

function checkByob(
  r: Round,
  res: Settled<ReadableStreamReadResult<ArrayBufferView>>,
  q: ViewRequest,
  how: string,
  released: boolean,
  cancelled: boolean,
): "more" | "end" {
  if (res.ok) {
    const { done, value } = res.value;
    if (!q.view.buffer.detached) r.fail(`${how}: the view was not transferred`);
    if (value === undefined) {
      if (!done) r.fail(`${how}: not done, and no view`);
      if (!cancelled) r.fail(`${how}: done with no view, and no cancel`);
      r.note(`${how}: done (cancelled)`);
      return "end";
    }
    if (Object.getPrototypeOf(value) !== q.kind.prototype) {
      r.fail(`${how}: a ${value.constructor.name} back`);
    }
    if (value.byteOffset !== q.offset) {
      r.fail(`${how}: byteOffset ${value.byteOffset}`);
    }
    if (value.buffer.byteLength !== q.bufferLength) {
      r.fail(`${how}: a buffer of ${value.buffer.byteLength} bytes`);
    }
    if (value.byteLength % q.size !== 0) {
      r.fail(`${how}: ${value.byteLength} bytes, elements of ${q.size}`);
    }
    if (value.byteLength > q.length * q.size) {
      r.fail(`${how}: ${value.byteLength} bytes, more than the view`);
    }
    if (!done && value.byteLength < q.min * q.size) {
      r.fail(`${how}: ${describeView(value)}, fewer than min`);
    }
    if (done && value.byteLength > 0 && value.byteLength >= q.min * q.size) {
      r.fail(`${how}: done with ${value.byteLength} bytes, min or more`);
    }
    if (value.byteLength > 0) r.take(bytesOf(value), how);
    if (done) r.note(`${how}: done`);
    return done ? "end" : "more";
  }
  const e = res.error;
  rejected(r, e, how, released, cancelled);
  if (!(released && e instanceof TypeError)) {
    // A TypeError is EOF amid an element; never for a 1-byte element.
    if (e instanceof TypeError && q.size === 1 && e !== r.error) {
      r.fail(`${how}: TypeError for a view of bytes: ${errName(e)}`);
    }
    r.sawError(e, how);
  }
  return "end";
}

type Act = "await" | "release" | "cancel";

/** One step's reads, queued at once, and how each is told and checked. */
interface Step<T> {
  reads: Promise<Settled<ReadableStreamReadResult<T>>>[];
  /** Read `j`'s name in messages. */
  name(j: number): string;
  check(
    j: number,
    res: Settled<ReadableStreamReadResult<T>>,
    how: string,
    released: boolean,
    cancelled: boolean,
  ): "more" | "end";
}

// 1-5 times: 1-3 reads queued, then awaited, or the reader released or
// cancelled at a moment. A read that settled after the release or cancel
// may have been ended by it. Says whether the reader was released.
async function session<T>(
  r: Round,
  reader: ReadableStreamGenericReader & { releaseLock(): void },
  kind: "default" | "BYOB",
  queue: () => Step<T>,
): Promise<{ released: boolean; cancelled: boolean }> {
  const d = r.d;
  let released = false, cancelled = false;
  const steps = 1 + d.int(5);
  for (let i = 0; i < steps; i++) {
    const step = queue();
    const n = step.reads.length;
    const act = d.pick<Act>(["await", "await", "await", "release", "cancel"]);
    let cancel: Promise<Settled<void>> | null = null;
    let actAt = Infinity;
    if (act !== "await") {
      await r.moment();
      actAt = r.tick();
      if (act === "release") {
        reader.releaseLock();
        released = true;
      } else {
        cancel = r.settle(reader.cancel());
        cancelled = true;
      }
      r.count(`${kind} reader ${act} with reads queued`);
    }
    if (cancel !== null) {
      const c = await r.guard(
        cancel,
        `${kind === "BYOB" ? "BYOB " : ""}reader.cancel()`,
      );
      if (!c.ok) r.cancelError = c.error;
    }
    let ended = false;
    for (let j = 0; j < n; j++) {
      const how = `${kind} read ${j + 1}/${n}${step.name(j)} (${act})`;
      const res = await r.guard(step.reads[j], how);
      const after = res.at > actAt;
      const end = step.check(
        j,
        res,
        how,
        released && after,
        cancelled && after,
      );
      if (end === "end") ended = true;
    }
    if (
      cancel !== null && r.cancelError !== undefined &&
      r.cancelError !== r.error
    ) {
      r.fail(
        `cancel() rejected with ${
          errName(r.cancelError)
        }, the stream errored with ${errName(r.error)}`,
      );
    }
    if (released || cancelled || ended) break;
  }
  return { released, cancelled };
}

// A default reader's session (see session()).
async function sessionDefault(
  r: Round,
  s: ReadableStream<Uint8Array>,
): Promise<void> {
  const reader = s.getReader();
  const { released, cancelled } = await session(r, reader, "default", () => {
    const n = 1 + r.d.int(3);
    return {
      reads: Array.from({ length: n }, () => r.settle(reader.read())),
      name: () => "",
      check: (_j, res, how, rel, can) => checkDefault(r, res, how, rel, can),
    };
  });
  if (released) return;
  // Cancelling an ended stream's reader settles too.
  if (!cancelled && r.d.chance(0.1)) {
    await r.guard(r.settle(reader.cancel()), "a last reader.cancel()");
  }
  reader.releaseLock();
}

// As sessionDefault, with BYOB reads of random views.
async function sessionByob(
  r: Round,
  s: ReadableStream<Uint8Array>,
): Promise<void> {
  const reader = s.getReader({ mode: "byob" });
  const { released } = await session(r, reader, "BYOB", () => {
    const n = 1 + r.d.int(3);
    const views = Array.from({ length: n }, () => makeView(r));
    return {
      reads: views.map((q) => r.settle(reader.read(q.view, { min: q.min }))),
      name: (j) => ` ${label(views[j])}`,
      check: (j, res, how, rel, can) =>
        checkByob(r, res, views[j], how, rel, can),
    };
  });
  if (!released) reader.releaseLock();
}

// for await, by hand: 1-4 chunks (or to the end), then return(), now and
// then racing the last next().
async function sessionIterate(
  r: Round,
  s: ReadableStream<Uint8Array>,
): Promise<void> {
  const d = r.d;
  const preventCancel = d.chance(0.6);
  const it = s.values({ preventCancel });
  const chunks = d.chance(0.3) ? 1000 : 1 + d.int(4);
  const racing = d.chance(0.3);
  r.count(`for await${racing ? ", return() racing next()" : ""}`);
  for (let i = 0; i < chunks; i++) {
    const next = r.settle(it.next());
    let ret: Promise<Settled<IteratorResult<Uint8Array>>> | null = null;
    if (racing && i === chunks - 1) {
      await r.moment();
      ret = r.settle(it.return!());
    }
    const res = await r.guard(next, `for await: next() ${i}`);
    if (!res.ok) {
      if (res.error instanceof TypeError) {
        r.fail(`for await: next() rejected with ${errName(res.error)}`);
      }
      if (r.errored && res.error !== r.error) {
        r.fail(
          `for await: ${errName(res.error)}, the stream errored with ${
            errName(r.error)
          }`,
        );
      }
      r.sawError(res.error, "for await");
      if (ret !== null) {
        await r.guard(ret, "for await: return() after an error");
      }
      return;
    }
    if (res.value.done) {
      r.note("for await: done");
      if (ret !== null) await r.guard(ret, "for await: return() after the end");
      return;
    }
    r.take(res.value.value, "for await");
    if (ret !== null) {
      const rr = await r.guard(ret, "for await: return() racing next()");
      if (!rr.ok) r.fail(`for await: return() rejected ${errName(rr.error)}`);
      return;
    }
  }
  const rr = await r.guard(r.settle(it.return!()), "for await: return()");
  if (!rr.ok && !r.errored) {
    r.fail(`for await: return() rejected ${errName(rr.error)}`);
  }
}

// pipeTo() a sink that takes the bytes (and may fail), with random options,
// aborted by a signal at a moment or not.
async function sessionPipeTo(
  r: Round,
  s: ReadableStream<Uint8Array>,
): Promise<void> {
  const d = r.d;
  const stop = new AbortController();
  const signalled = d.chance(0.5);
  let failAfter = d.chance(0.2) ? d.int(3) : -1;
  const options: StreamPipeOptions = {
    preventClose: d.chance(0.5),
    preventCancel: d.chance(0.5),
    preventAbort: d.chance(0.5),
    signal: signalled ? stop.signal : undefined,
  };
  r.count(
    `pipeTo${signalled ? ", aborted" : ""}${
      failAfter >= 0 ? ", sink fails" : ""
    }`,
  );
  const sink = new WritableStream<Uint8Array>(
    {
      write(chunk) {
        r.take(chunk, "pipeTo");
        if (failAfter-- === 0) throw new Error("the sink failed");
      },
    },
    new CountQueuingStrategy({ highWaterMark: 1 + d.int(3) }),
  );
  const piped = r.settle(s.pipeTo(sink, options));
  if (signalled) {
    await r.moment();
    await r.moment();
    stop.abort();
  }
  const res = await r.guard(piped, "pipeTo");
  r.note(`pipeTo: ${res.ok ? "done" : errName(res.error)}`);
}

// pipeThrough() an identity transform, read to the end: cancelling its
// output early would drop the transform's queue (lossy by the spec), and
// preventClose or preventAbort would leave the output open for good.
async function sessionPipeThrough(
  r: Round,
  s: ReadableStream<Uint8Array>,
): Promise<void> {
  const d = r.d;
  const stop = new AbortController();
  const signalled = d.chance(0.5);
  r.count(`pipeThrough${signalled ? ", aborted" : ""}`);
  const out = s.pipeThrough(new TransformStream<Uint8Array, Uint8Array>(), {
    preventCancel: d.chance(0.5),
    signal: signalled ? stop.signal : undefined,
  });
  const reader = out.getReader();
  const abortAt = signalled ? 1 + d.int(3) : -1;
  for (let i = 0; i < 10_000; i++) {
    if (i === abortAt) {
      stop.abort();
      // The chunks in the transform are dropped.
      r.lossy = true;
      r.note("pipeThrough aborted: lossy");
    }
    const res = await r.guard(
      r.settle(reader.read()),
      `pipeThrough: read ${i}`,
    );
    if (!res.ok) {
      r.note(`pipeThrough: ${errName(res.error)}`);
      break;
    }
    if (res.value.done) break;
    r.take(res.value.value, "pipeThrough");
  }
  reader.releaseLock();
  // The pipe lets go of the stream a turn later.
  await sleep(1);
}

// tee(), both branches read to the end, each by a default or a BYOB reader:
// the branches have the same bytes.
async function sessionTee(
  r: Round,
  s: ReadableStream<Uint8Array>,
): Promise<void> {
  const d = r.d;
  const [a, b] = s.tee();
  const start = r.pos;
  const readAll = async (
    branch: ReadableStream<Uint8Array>,
    name: string,
  ): Promise<[Uint8Array, unknown]> => {
    const chunks: Uint8Array[] = [];
    if (d.chance(0.5)) {
      const reader = branch.getReader({ mode: "byob" });
      for (let i = 0; i < 100_000; i++) {
        // Views of bytes only: an element cut by EOF errors its branch, and
        // Deno's tee (the spec's "!" on a close that then throws) leaves
        // the other branch waiting for good, plain byte streams too.
        const q = d.chance(0.7) ? null : makeView(r);
        const view = q !== null && q.size === 1
          ? q.view
          : new Uint8Array(1 + d.int(700));
        const min = q !== null && q.size === 1 ? q.min : 1;
        const res = await r.guard(
          r.settle(reader.read(view, { min })),
          `tee: branch ${name}, BYOB read`,
        );
        if (!res.ok) return [concat(chunks), res.error];
        const value = res.value.value;
        if (value !== undefined && value.byteLength > 0) {
          chunks.push(bytesOf(value).slice());
        }
        if (res.value.done) break;
      }
    } else {
      const reader = branch.getReader();
      for (let i = 0; i < 100_000; i++) {
        const res = await r.guard(
          r.settle(reader.read()),
          `tee: branch ${name}, read`,
        );
        if (!res.ok) return [concat(chunks), res.error];
        if (res.value.done) break;
        chunks.push(res.value.value);
      }
    }
    return [concat(chunks), undefined];
  };
  const [[ga, ea], [gb, eb]] = await Promise.all([
    readAll(a, "A"),
    readAll(b, "B"),
  ]);
  r.count(`tee ${ea === undefined ? "closed" : "errored"}`);
  const samePrefix = (short: Uint8Array, long: Uint8Array): void => {
    for (let i = 0; i < short.length; i++) {
      if (short[i] !== long[i]) r.fail(`tee: the branches differ at ${i}`);
    }
  };
  if (ea !== undefined) {
    if (ea !== eb) {
      r.fail(
        `tee: the branches ended differently: ${errName(ea)} / ${errName(eb)}`,
      );
    }
    r.sawError(ea, "tee");
    // The branches' queues are dropped at the error.
    r.lossy = true;
    r.note("tee errored: lossy");
    const [short, long] = ga.length < gb.length ? [ga, gb] : [gb, ga];
    samePrefix(short, long);
    r.take(long, "tee (the longer branch)");
    return;
  }
  if (eb !== undefined) {
    r.fail(`tee: the branches ended differently: done / ${errName(eb)}`);
  }
  if (ga.length !== gb.length) {
    r.fail(`tee: the branches have ${ga.length} and ${gb.length} bytes`);
  }
  samePrefix(ga, gb);
  r.take(ga, `tee from ${start}`);
}

// recv() between readers, ended by a signal after 5-24 ms. True at EOF.
async function sessionRecv(r: Round, sock: Socket): Promise<boolean> {
  const d = r.d;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 5 + d.int(20));
  const res = await r.guard(
    r.settle(sock.recv(1 + d.int(600), 0, { signal: stop.signal })),
    "recv() between readers",
  ).finally(() => clearTimeout(timer));
  if (!res.ok) {
    r.note(`recv: ${errName(res.error)}`);
    return false;
  }
  if (res.value.length === 0) {
    r.note("recv: EOF");
    r.count("recv() met EOF mid-stream");
    return true;
  }
  r.take(res.value, "recv");
  return false;
}

// A closed or errored stream, asked by new readers in a random order: each
// ends at once, done or with the stream's error.
async function afterEnd(
  r: Round,
  s: ReadableStream<Uint8Array>,
  st: State,
): Promise<void> {
  const d = r.d;
  const expectError = (e: unknown, how: string): void => {
    if (st.kind !== "errored") {
      r.fail(`${how}: rejected (${errName(e)}) on a closed stream`);
    }
    if (e !== st.error) {
      r.fail(
        `${how}: rejected with ${errName(e)}, the stream errored with ${
          errName(st.error)
        }`,
      );
    }
  };
  const order = [0, 1, 2, 3];
  for (let i = order.length - 1; i > 0; i--) {
    const j = d.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const k of order) {
    if (s.locked) return;
    if (k === 0) {
      const reader = s.getReader();
      const how = "after the end, a default read";
      const res = await r.guard(r.settle(reader.read()), how);
      if (!res.ok) expectError(res.error, how);
      else if (
        st.kind !== "closed" || !res.value.done || res.value.value !== undefined
      ) r.fail(`${how}: ${JSON.stringify(res.value)} on a ${st.kind} stream`);
      await r.guard(r.settle(reader.closed), "after the end, closed");
      reader.releaseLock();
    } else if (k === 1) {
      const reader = s.getReader({ mode: "byob" });
      const q = makeView(r);
      const how = `after the end, a BYOB read ${label(q)}`;
      const res = await r.guard(
        r.settle(reader.read(q.view, { min: q.min })),
        how,
      );
      if (!res.ok) expectError(res.error, how);
      else {
        const v = res.value.value;
        if (
          st.kind !== "closed" || !res.value.done || v === undefined ||
          v.byteLength !== 0 || Object.getPrototypeOf(v) !== q.kind.prototype ||
          v.byteOffset !== q.offset
        ) {
          r.fail(
            `${how}: done ${res.value.done}, ${
              v && describeView(v)
            } on a ${st.kind} stream`,
          );
        }
      }
      reader.releaseLock();
    } else if (k === 2) {
      const it = s.values();
      const how = "after the end, for await";
      const res = await r.guard(r.settle(it.next()), how);
      if (!res.ok) expectError(res.error, how);
      else if (st.kind !== "closed" || !res.value.done) {
        r.fail(`${how}: ${JSON.stringify(res.value)} on a ${st.kind} stream`);
      }
      await r.guard(r.settle(it.return!()), `${how}: return()`);
    } else if (d.chance(0.3)) {
      const how = "after the end, a tee branch's read";
      for (const branch of s.tee()) {
        const reader = branch.getReader();
        const res = await r.guard(r.settle(reader.read()), how);
        if (!res.ok) expectError(res.error, how);
        else if (st.kind !== "closed" || !res.value.done) {
          r.fail(`${how}: ${JSON.stringify(res.value)}`);
        }
      }
      return;
    }
  }
}

type Ending = "SHUT_WR" | "close" | "reset";
type Local = "none" | "close" | "SHUT_RD" | "timeout";
type Op =
  | "default"
  | "byob"
  | "iterate"
  | "pipeTo"
  | "pipeThrough"
  | "recv"
  | "cancel"
  | "tee";
const OP_WEIGHTS: readonly Op[] = [
  "default",
  "default",
  "byob",
  "byob",
  "byob",
  "iterate",
  "iterate",
  "pipeTo",
  "pipeThrough",
  "recv",
  "recv",
  "cancel",
  "tee",
];

// The sender: the bytes in random pieces with random pauses, then its
// ending; a reset may come anywhere in the bytes.
async function send(
  r: Round,
  sender: Socket,
  d: Dice,
  ending: Ending,
  local: Local,
  localDone: Promise<void>,
): Promise<void> {
  const size = r.data.length;
  const resetAt = ending === "reset" ? d.int(size + 1) : -1;
  for (let off = 0; off < size && off !== resetAt;) {
    let k = Math.min(1 + d.int(d.chance(0.5) ? 64 : 1500), size - off);
    if (resetAt > off) k = Math.min(k, resetAt - off);
    await sender.sendall(r.data.subarray(off, off + k));
    off += k;
    const pause = d.int(10);
    if (pause < 4) await sleep(0);
    else if (pause < 7) await sleep(1 + d.int(4));
    else if (pause === 9) await sleep(20 + d.int(40));
  }
  // After a local close or SHUT_RD (if it came within 300 ms), so that the
  // local ending is the first now and then.
  if (local === "close" || local === "SHUT_RD") {
    await withTimeout(localDone, 300).catch(() => {});
    await sleep(d.int(30));
  } else await sleep(d.int(20));
  if (ending === "reset") resetOnClose(sender);
  if (ending === "SHUT_WR") sender.shutdown(SHUT_WR);
  else sender.close();
}

// One connection: sent, ended, read at random, then checked.
async function round(
  rb: BackendName,
  sb: BackendName,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const size = d.chance(0.1) ? d.int(8) : 1 + d.int(d.chance(0.5) ? 600 : 6000);
  const r = new Round(d, size, tally);
  const ending = d.pick<Ending>(
    sb === "libc" ? ["SHUT_WR", "close", "reset"] : ["SHUT_WR", "close"],
  );
  const local = d.chance(0.55)
    ? "none"
    : d.pick<Local>(["close", "SHUT_RD", "timeout"]);
  r.count(`ending ${ending}`);
  r.count(`local ${local}`);
  r.note(`${size} bytes, ending ${ending}, local ${local}`);
  if (ending === "reset" || local === "close" || local === "SHUT_RD") {
    r.lossy = true;
  }
  await using p = await connectedPair(rb, AF_INET, "path", sb);
  const reader = p.server;
  const stream = reader.readable;
  if (local === "timeout") reader.settimeout(0.005 + d.int(25) / 1000);
  let localDone = false;
  const localEnded = Promise.withResolvers<void>();
  const sending = r.settle(
    send(
      r,
      p.client,
      new Dice(seedOf(seed, n, 1)),
      ending,
      local,
      localEnded.promise,
    ),
  );
  const localEnding = (async () => {
    if (local !== "close" && local !== "SHUT_RD") return;
    await sleep(d.int(60));
    try {
      if (local === "close") reader.close();
      else reader.shutdown(SHUT_RD);
      r.note(`local ${local}`);
    } catch (e) {
      r.note(`local ${local}: ${errName(e)}`);
    }
    localDone = true;
    localEnded.resolve();
  })();
  try {
    let st: State | null = { kind: "open" };
    const started = Date.now();
    for (let op = 0; op < OPS && Date.now() - started < OPS_MS; op++) {
      const kind = d.pick(OP_WEIGHTS);
      if ((kind === "tee" || kind === "cancel") && !d.chance(0.3)) continue;
      r.count(`op ${kind}`);
      r.note(`op ${kind}`);
      if (kind === "default") await sessionDefault(r, stream);
      else if (kind === "byob") await sessionByob(r, stream);
      else if (kind === "iterate") await sessionIterate(r, stream);
      else if (kind === "pipeTo") await sessionPipeTo(r, stream);
      else if (kind === "pipeThrough") await sessionPipeThrough(r, stream);
      else if (kind === "recv") {
        // The socket said EOF: the stream's next read ends too.
        if (await sessionRecv(r, reader)) {
          if (d.chance(0.5)) await sessionByob(r, stream);
          else await sessionDefault(r, stream);
        }
      } else if (kind === "cancel") {
        const c = await r.guard(r.settle(stream.cancel()), "stream.cancel()");
        if (!c.ok) r.fail(`stream.cancel() rejected: ${errName(c.error)}`);
      } else await sessionTee(r, stream);
      st = await probe(r, stream);
      // Locked for good (by a tee), or ended.
      if (st === null || st.kind !== "open") break;
    }
    if (st !== null && st.kind !== "open") {
      r.count(`stream ${st.kind}`);
      await afterEnd(r, stream, st);
    }
    // recv() takes what the stream left.
    await r.guard(localEnding, "the local ending");
    const sent = await r.guard(sending, "the sender");
    if (!sent.ok) r.note(`sender: ${errName(sent.error)}`);
    if (!localDone || local === "SHUT_RD") reader.settimeout(null);
    for (let i = 0; i < 10_000; i++) {
      const res = await r.guard(
        r.settle(reader.recv(4096)),
        "recv() at the end",
      );
      if (!res.ok) {
        if (!r.lossy) {
          r.fail(
            `recv() at the end: ${errName(res.error)} at ${r.pos} of ${size}`,
          );
        }
        break;
      }
      if (res.value.length === 0) break;
      r.take(res.value, "recv() at the end");
    }
    if (!r.lossy && r.pos !== size) {
      r.fail(`${r.pos} of ${size} bytes came, and the round lost none`);
    }
  } catch (e) {
    throw new Error(
      `${e instanceof Error ? e.message : e}\n  last:\n    ${r.recent}`,
      { cause: e },
    );
  } finally {
    p.server.close();
    p.client.close();
    // Closed, both end at once if they have not.
    await withTimeout(
      Promise.all([sending, localEnding]),
      STEP_MS,
      "the sender",
    );
  }
}

for (const [i, [rb, sb]] of BACKEND_PAIRS.entries()) {
  const reason = unavailable(rb) ?? unavailable(sb);
  Deno.test({
    name: skipNote(
      `${rb}: readable ended at random moments by a ${sb} peer (SHUT_WR, close${
        sb === "libc" ? ", reset" : ""
      }) and its own side (close, SHUT_RD, timeout), read at random: every read settles, every byte in order`,
      reason,
    ),
    ignore: reason !== null,
    fn: async () => {
      const seed = (STREAMS_SEED + i) >>> 0;
      const tally: Tally = {};
      await seededRounds({
        what: `${rb} reader, ${sb} sender`,
        rounds: ROUNDS,
        boundMs: BOUND_MS,
        tally,
        round: (n) => round(rb, sb, seed, n, tally),
      });
      if (STREAMS_ROUND !== null) return;
      // Streams ended every way are what this run is for.
      for (const what of ["stream closed", "stream errored"]) {
        assert.ok((tally[what] ?? 0) > 0, `no ${what} (seed ${STREAMS_SEED})`);
      }
    },
  });
}

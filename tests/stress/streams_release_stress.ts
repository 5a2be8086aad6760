// Releasing, the long run: Socket.readable let go at random moments over
// 8 MiB on each backend pairing (reader, sender). BYOB reads of every view
// type, at random offsets and with random `min`, released, cancelled or
// awaited; default readers released mid-read; `for await` left early; pipes
// aborted mid-way; and between them recv() in its variants (MSG_PEEK, then
// recv; MSG_WAITALL; recvmsg_into two buffers; aborted by a signal;
// non-blocking; 2-3 ms timeouts). Whatever a reader let go of must come
// next, from whichever call reads next, so each byte is checked where it
// lands: one lost, repeated or reordered shows at its offset.
// STREAMS_SEED replays a run's choices (not its timing).
import assert from "node:assert/strict";
import {
  AF_INET,
  BlockingIOError,
  MSG_PEEK,
  MSG_WAITALL,
  SHUT_WR,
  type Socket,
  TimeoutError,
} from "../../mod.ts";
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
  count,
  Dice,
  elementSize,
  seedOf,
  STREAMS_SEED,
  type Tally,
  type ViewKind,
  VIEWS,
} from "./_load.ts";

/** Bytes each pairing moves. */
const BYTES = 8 << 20;
/**
 * Bytes per connection: a cancel, a timeout or EOF ends a stream for good,
 * so each connection gives a fresh stream to let go of.
 */
const ROUND = 128 << 10;
/** The most one pairing may take. */
const BOUND_MS = 60_000;
/**
 * The chance that one stream operation ends its stream (a cancel, a
 * timeout, a loop or pipe left without preventCancel): a stream then lives
 * for some hundred operations.
 */
const END = 0.01;

// The byte at offset `i` of a connection: a hash, so that a byte out of
// place matches only by chance (1 in 256), whatever the distance.
function at(i: number): number {
  let x = Math.imul(i ^ 0x5bd1e995, 0x9e3779b1);
  x ^= x >>> 15;
  x = Math.imul(x, 0x85ebca6b);
  return (x ^ (x >>> 13)) & 255;
}

// A moment to let go at: now, after a microtask, after the timers' turn, or
// 1-2 ms on (bytes may come meanwhile).
async function moment(d: Dice): Promise<void> {
  const k = d.int(4);
  if (k === 1) await Promise.resolve();
  else if (k === 2) await sleep(0);
  else if (k === 3) await sleep(1 + d.int(2));
}

/** What one connection's reader has taken, checked byte by byte. */
class Received {
  /** Bytes taken so far. */
  pos = 0;
  readonly size: number;
  // The last operations, for a failure's message.
  readonly #recent: string[] = [];

  constructor(size: number) {
    this.size = size;
  }

  /** Whether every byte has come. */
  get done(): boolean {
    return this.pos === this.size;
  }

  /** Remember `op` for a failure's message. */
  note(op: string): void {
    this.#recent.push(op);
    if (this.#recent.length > 8) this.#recent.shift();
  }

  /** Check `view`'s bytes as the next ones, and count them taken. */
  take(view: ArrayBufferView, how: string): void {
    this.peeked(view, how);
    this.pos += view.byteLength;
  }

  /** `take()` for a receive, which brings no byte only at EOF. */
  received(data: Uint8Array, how: string): void {
    if (data.length === 0) this.fail(`${how}: EOF before the end`);
    this.take(data, how);
  }

  /** Check `view`'s bytes as the next ones, without taking them. */
  peeked(view: ArrayBufferView, how: string): void {
    const b = bytesOf(view);
    if (this.pos + b.length > this.size) {
      this.fail(`${how}: ${b.length} bytes, past the end`);
    }
    for (let k = 0; k < b.length; k++) {
      if (b[k] !== at(this.pos + k)) {
        this.fail(
          `${how}: byte ${this.pos + k} is ${b[k]}, expected ${
            at(this.pos + k)
          }`,
        );
      }
    }
  }

  /** Fail, with where and after what. */
  fail(what: string): never {
    assert.fail(
      `${what} (at ${this.pos} of ${this.size}; last: ${
        this.#recent.join(", ")
      })`,
    );
  }
}

interface ByobRead {
  read: Promise<ReadableStreamReadResult<ArrayBufferView>>;
  kind: ViewKind;
  offset: number;
  label: string;
}

type Ending = "await" | "release" | "cancel";

/** One connection's reader: random operations until every byte came. */
class Soak {
  readonly #sock: Socket;
  readonly #got: Received;
  readonly #d: Dice;
  readonly #tally: Tally;
  // Whether the stream may still bring bytes: not cancelled, errored or
  // closed (then it stays so, and only receives read on).
  #live = true;

  constructor(sock: Socket, got: Received, d: Dice, tally: Tally) {
    this.#sock = sock;
    this.#got = got;
    this.#d = d;
    this.#tally = tally;
  }

  /** One operation, chosen at random. */
  async step(): Promise<void> {
    this.#sock.settimeout(null);
    if (!this.#live || this.#d.chance(0.3)) return await this.#receive();
    const k = this.#d.int(20);
    if (k < 10) await this.#byob();
    else if (k < 15) await this.#defaultRead();
    else if (k < 18) await this.#forAwait();
    else await this.#pipe();
  }

  // Whether the stream is neither closed nor errored: a reader's `closed`
  // is settled already if it is, so its callback runs before this await's.
  async #open(): Promise<boolean> {
    const reader = this.#sock.readable.getReader();
    let ended = false;
    reader.closed.then(() => ended = true, () => ended = true);
    await Promise.resolve();
    reader.releaseLock();
    return !ended;
  }

  // The stream ended as it had to (cancelled, errored, or at EOF).
  async #ended(why: string): Promise<void> {
    this.#live = false;
    if (await this.#open()) this.#got.fail(`the stream is open after ${why}`);
  }

  async #byob(): Promise<void> {
    const d = this.#d;
    // A timeout errors the stream (and loses nothing), so only now and then.
    const timeout = d.chance(END) ? d.pick([0, 0.002, 0.003]) : null;
    this.#sock.settimeout(timeout);
    const reader = this.#sock.readable.getReader({ mode: "byob" });
    const reads = [this.#byobRead(reader)];
    // Queued behind the first: it waits its turn, and a let-go ends it too.
    if (d.chance(0.1)) reads.push(this.#byobRead(reader));
    const end: Ending = d.chance(END) ? "cancel" : d.pick(["await", "release"]);
    this.#got.note(
      `byob ${reads.map((r) => r.label).join(" + ")} ${end} t=${timeout}`,
    );
    count(this.#tally, `byob ${end}`);
    if (end === "release") {
      await moment(d);
      reader.releaseLock();
    } else if (end === "cancel") {
      await moment(d);
      // A stream a read errored first (a timeout) rejects the cancel with
      // that error, which the read reports below.
      await withTimeout(reader.cancel().catch(() => {}), STEP_MS, "cancel");
    }
    let ended: string | null = end === "cancel" ? "a cancel" : null;
    let released = false;
    for (const r of reads) {
      const outcome = await this.#settle(r, end, timeout);
      if (outcome === "released") released = true;
      else if (outcome !== "read") ended ??= outcome.ended;
    }
    reader.releaseLock();
    if (ended !== null) await this.#ended(ended);
    // A released read's TypeError can be EOF's too (an element's odd
    // bytes): then the stream errored.
    else if (released && !await this.#open()) this.#live = false;
  }

  #byobRead(reader: ReadableStreamBYOBReader): ByobRead {
    const d = this.#d;
    const kind = d.pick(VIEWS);
    const size = elementSize(kind);
    const length = 1 + d.int(d.chance(0.1) ? 8192 : 64);
    const offset = d.int(3) * size;
    const buffer = new ArrayBuffer(offset + (length + d.int(3)) * size);
    const view = new kind(buffer, offset, length);
    const min = d.chance(0.5) ? undefined : 1 + d.int(length);
    const read = reader.read(view, min === undefined ? undefined : { min });
    // #settle takes them in turn; a failure before then leaves the rest.
    read.catch(() => {});
    return {
      read,
      kind,
      offset,
      label: `${kind.name}(${offset}, ${length}) min ${min}`,
    };
  }

  // Take what a BYOB read brought: whether it was released unsettled, or
  // why the stream must have ended with it.
  async #settle(
    r: ByobRead,
    end: Ending,
    timeout: number | null,
  ): Promise<"read" | "released" | { ended: string }> {
    let result: ReadableStreamReadResult<ArrayBufferView>;
    try {
      result = await withTimeout(r.read, STEP_MS, `BYOB read ${r.label}`);
    } catch (e) {
      if (e instanceof TimeoutError || e instanceof BlockingIOError) {
        if (timeout === null) this.#got.fail(`${e.name} with no timeout`);
        count(this.#tally, "stream timeouts");
        return { ended: e.name };
      }
      if (!(e instanceof TypeError)) throw e;
      if (end !== "release") return { ended: "EOF amid an element" };
      count(this.#tally, "BYOB reads released unsettled");
      return "released";
    }
    const { value, done } = result;
    if (value !== undefined) {
      assert.equal(value.constructor, r.kind, r.label);
      assert.equal(value.byteOffset, r.offset, r.label);
      this.#got.take(value, `BYOB ${r.label}`);
    }
    if (!done) return "read";
    // Done with no view: cancelled; with one: EOF, after the last byte.
    if (value !== undefined && !this.#got.done) {
      this.#got.fail(`${r.label}: done early`);
    }
    return { ended: value === undefined ? "a cancel" : "EOF" };
  }

  async #defaultRead(): Promise<void> {
    const d = this.#d;
    const reader = this.#sock.readable.getReader();
    const read = reader.read();
    const release = d.chance(0.5);
    this.#got.note(`read ${release ? "release" : "await"}`);
    count(this.#tally, `default ${release ? "release" : "await"}`);
    if (release) {
      await moment(d);
      reader.releaseLock();
    }
    try {
      const { value, done } = await withTimeout(read, STEP_MS, "read()");
      if (value !== undefined) this.#got.take(value, "read()");
      if (done) {
        if (!this.#got.done) this.#got.fail("read(): done early");
        await this.#ended("EOF");
      }
    } catch (e) {
      if (!(e instanceof TypeError) || !release) throw e;
      count(this.#tally, "default reads released unsettled");
    } finally {
      reader.releaseLock();
    }
  }

  async #forAwait(): Promise<void> {
    const d = this.#d;
    // Without preventCancel, leaving the loop cancels the stream.
    const preventCancel = !d.chance(END);
    const chunks = 1 + d.int(3);
    this.#got.note(`for await ${chunks} preventCancel ${preventCancel}`);
    count(this.#tally, "for await");
    let n = 0;
    const loop = async () => {
      for await (const chunk of this.#sock.readable.values({ preventCancel })) {
        this.#got.take(chunk, "for await");
        if (++n === chunks) break;
      }
    };
    await withTimeout(loop(), STEP_MS, "for await");
    if (n < chunks) {
      if (!this.#got.done) this.#got.fail("for await: ended early");
      await this.#ended("EOF");
    } else if (!preventCancel) await this.#ended("a loop left");
  }

  async #pipe(): Promise<void> {
    const d = this.#d;
    const preventCancel = !d.chance(END);
    const stop = new AbortController();
    const reason = new Error("stop the pipe");
    // Abort from the sink after some chunks, or from outside at a moment.
    const after = d.chance(0.5) ? 1 + d.int(4) : 0;
    this.#got.note(`pipeTo after ${after} preventCancel ${preventCancel}`);
    count(this.#tally, "pipeTo");
    let written = 0;
    const sink = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        this.#got.take(chunk, "pipeTo");
        if (++written === after) stop.abort(reason);
        // A slow sink now and then: the pipe waits with chunks read.
        if (written % 2 === 0) await sleep(0);
      },
    });
    const piping = this.#sock.readable.pipeTo(sink, {
      signal: stop.signal,
      preventCancel,
    }).then(() => null, (e) => e);
    if (after === 0) {
      await moment(d);
      stop.abort(reason);
    }
    const outcome = await withTimeout(piping, STEP_MS, "pipeTo");
    if (outcome === null) {
      if (!this.#got.done) this.#got.fail("pipeTo: ended early");
      await this.#ended("EOF");
    } else if (outcome !== reason) throw outcome;
    else if (!preventCancel) await this.#ended("an aborted pipe");
  }

  async #receive(): Promise<void> {
    const d = this.#d;
    const got = this.#got;
    const s = this.#sock;
    // Bigger once the stream has ended: the rest of the round goes faster.
    const most = this.#live ? 3000 : 65536;
    const k = d.int(6);
    const what = ["recv", "peek", "waitall", "recvmsg_into", "abort", "nb"][k];
    got.note(what);
    count(this.#tally, what);
    if (k === 0) {
      const data = await withTimeout(s.recv(1 + d.int(most)));
      got.received(data, "recv");
    } else if (k === 1) {
      const peek = await withTimeout(s.recv(1 + d.int(100), MSG_PEEK));
      if (peek.length === 0) got.fail("MSG_PEEK: EOF before the end");
      got.peeked(peek, "MSG_PEEK");
      const data = await withTimeout(s.recv(peek.length));
      assert.equal(data.length, peek.length, "recv after MSG_PEEK");
      got.received(data, "recv after MSG_PEEK");
    } else if (k === 2) {
      const n = 1 + d.int(Math.min(8192, got.size - got.pos));
      const data = await withTimeout(s.recv(n, MSG_WAITALL));
      assert.equal(data.length, n, "MSG_WAITALL");
      got.received(data, "MSG_WAITALL");
    } else if (k === 3) {
      const first = new Uint8Array(1 + d.int(8));
      const second = new Uint8Array(4 + d.int(most)).subarray(d.int(4));
      const [n] = await withTimeout(s.recvmsg_into([first, second]));
      if (n === 0) got.fail("recvmsg_into: EOF before the end");
      got.take(first.subarray(0, n), "recvmsg_into, first buffer");
      if (n > first.length) {
        got.take(second.subarray(0, n - first.length), "recvmsg_into, second");
      }
    } else if (k === 4) {
      // Aborted at a moment: it brings bytes, or none and loses none.
      const stop = new AbortController();
      const reason = new Error("stop the recv");
      const recv = s.recv(1 + d.int(most), 0, { signal: stop.signal });
      await moment(d);
      stop.abort(reason);
      const outcome = await withTimeout(recv.catch((e) => e));
      if (outcome instanceof Uint8Array) got.received(outcome, "aborted recv");
      else if (outcome !== reason) throw outcome;
      else count(this.#tally, "recv aborted");
    } else {
      s.settimeout(d.pick([0, 0.002, 0.003]));
      try {
        got.received(await withTimeout(s.recv(1 + d.int(most))), "recv");
      } catch (e) {
        if (!(e instanceof TimeoutError || e instanceof BlockingIOError)) {
          throw e;
        }
        count(this.#tally, e.name);
      }
    }
  }
}

/** A connected pair, closed on dispose; then its sender's task is awaited. */
interface Peers extends AsyncDisposable {
  readonly reader: Socket;
  readonly sender: Socket;
  sending: Promise<void>;
}

async function peers(
  readerBackend: BackendName,
  senderBackend: BackendName,
): Promise<Peers> {
  const pair = await connectedPair(
    readerBackend,
    AF_INET,
    "path",
    senderBackend,
  );
  const p: Peers = {
    reader: pair.server,
    sender: pair.client,
    sending: Promise.resolve(),
    async [Symbol.asyncDispose]() {
      pair.server.close();
      pair.client.close();
      // Closed, the sender fails at once if it has not finished.
      await withTimeout(p.sending.catch(() => {}), STEP_MS, "sender");
      await pair[Symbol.asyncDispose]();
    },
  };
  return p;
}

// Send `size` bytes of the pattern in random pieces, then SHUT_WR. Now and
// then it waits for the reader to catch up (a little: a BYOB read with
// `min` holds its bytes until full), so that reads are let go of while
// they wait, not only with bytes at hand.
async function send(
  s: Socket,
  size: number,
  d: Dice,
  got: Received,
): Promise<void> {
  for (let sent = 0; sent < size;) {
    const n = Math.min(size - sent, 1 + d.int(d.chance(0.03) ? 65536 : 1500));
    const piece = new Uint8Array(n);
    for (let k = 0; k < n; k++) piece[k] = at(sent + k);
    await s.sendall(piece);
    sent += n;
    if (d.chance(0.25)) {
      for (let i = 0; i < 3 && got.pos < sent; i++) await sleep(1);
      await sleep(d.int(3));
    }
  }
  s.shutdown(SHUT_WR);
}

// One connection: `size` bytes, read at random until all came, then EOF.
async function round(
  r: BackendName,
  s: BackendName,
  size: number,
  seed: number,
  n: number,
  deadline: number,
  tally: Tally,
): Promise<void> {
  await using p = await peers(r, s);
  const got = new Received(size);
  p.sending = send(p.sender, size, new Dice(seedOf(seed, n, 0)), got);
  const soak = new Soak(p.reader, got, new Dice(seedOf(seed, n, 1)), tally);
  while (!got.done) {
    if (Date.now() > deadline) got.fail(`out of time in round ${n}`);
    await soak.step();
    count(tally, "operations");
  }
  await withTimeout(p.sending, STEP_MS, "sender");
  // Nothing left over: no byte given back twice.
  p.reader.settimeout(null);
  const rest = await withTimeout(p.reader.recv(100));
  if (rest.length > 0) got.fail(`${rest.length} more bytes after the end`);
}

for (const [i, [r, s]] of BACKEND_PAIRS.entries()) {
  const reason = unavailable(r) ?? unavailable(s);
  Deno.test({
    name: skipNote(
      `${r}: readable let go at random moments, recv() between, while a ${s} peer sends ${
        BYTES >> 20
      } MiB: every byte once, in order`,
      reason,
    ),
    ignore: reason !== null,
    fn: async () => {
      const seed = (STREAMS_SEED + i) >>> 0;
      const tally: Tally = {};
      const started = Date.now();
      try {
        for (let n = 0; n < BYTES / ROUND; n++) {
          await round(r, s, ROUND, seed, n, started + BOUND_MS, tally);
        }
      } catch (e) {
        throw new Error(
          `${r} reader, ${s} sender: ${
            e instanceof Error ? e.message : e
          } (STREAMS_SEED=${STREAMS_SEED} replays)`,
          { cause: e },
        );
      }
      console.log(
        `${r}<-${s} seed ${STREAMS_SEED}: ${BYTES} bytes in ${
          Date.now() - started
        } ms, ${JSON.stringify(tally)}`,
      );
      // Reads let go of while they waited are what this run is for.
      for (const what of ["BYOB", "default"]) {
        assert.ok(
          (tally[`${what} reads released unsettled`] ?? 0) > 0,
          `no ${what} read was released while it waited (seed ${STREAMS_SEED})`,
        );
      }
    },
  });
}

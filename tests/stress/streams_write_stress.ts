// Writing, the long run: Socket.writable, sendall() and makefile("wb")
// writes, and pipes, over 100 short connections per backend pairing (the
// writing socket's, its peer's), each on AF_INET or AF_UNIX at random.
// Writer rounds: writes of 0 bytes to 1 MiB, awaited or not, by writers
// released and taken again, closed or aborted, with sendall() and makefile
// writes between them and the peer stalling and reading again; now and
// then a 1-50 ms send timeout, shutdown(SHUT_WR), close(), or the peer gone
// (closed, or reset where it is libc on AF_INET). Pipe rounds: a socket's
// readable piped to the writing socket's writable, directly or through an
// identity or a text TransformStream, with random preventClose,
// preventAbort and preventCancel, ended by the source's SHUT_WR or a
// signal; then recv() takes what the pipe left. Self rounds: a socket's
// readable piped to its own writable echoes a peer. The bytes say where
// they came from: the writable's (and a pipe's) have the high bit clear,
// sendall()'s and makefile's have it set, each a hash of its offset in its
// own stream. Checks: every write, close, abort, pipe and send settles
// within its bound (a hang is the main bug class); writes resolve in order;
// the peer gets a prefix of each stream, in order, and every byte of each
// write that resolved where the connection ended cleanly (of a write that
// failed, a prefix may have gone); a pipe's bytes and what recv() finds
// after it are the source's exactly; a pipe aborted with preventAbort
// leaves the writable usable; where only an abort disrupted the writable,
// a write rejects with its reason or a TypeError, and where nothing did,
// none rejects; the self-pipe echoes every byte, then EOF. About 60 s in
// all here.
// STREAMS_SEED replays a run's choices (not its timing); with it,
// STREAMS_ROUND=n runs round n alone.
import assert from "node:assert/strict";
import { AF_INET, AF_UNIX, SHUT_WR, type Socket } from "../../mod.ts";
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
  concat,
  count,
  Dice,
  resetOnClose,
  seededRounds,
  seedOf,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

/** Connections per pairing. */
const ROUNDS = 100;
/** The most one pairing may take. */
const BOUND_MS = 60_000;
/**
 * The most a round's writes, closes, aborts, pipes and sends may take to
 * settle once the peer reads, and the peer to see the end.
 */
const SETTLE_MS = 10_000;
/** The most bytes a round writes each way (the writable, sendall()). */
const MOST = 6 << 20;
/** The most the peer reads for. */
const PEER_MS = 30_000;

// `n` bytes of a stream from `offset`: each a hash of its offset, the high
// bit set for the sendall() stream, clear for the writable's.
function tagged(offset: number, n: number, high: boolean): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = offset + i;
    const h = (Math.imul(k ^ (k >>> 7), 2654435761) >>> 13) & 0x7f;
    b[i] = high ? 0x80 | h : h;
  }
  return b;
}

// The writable's bytes and the sendall() stream's, apart.
function split(b: Uint8Array): [Uint8Array, Uint8Array] {
  const low: number[] = [], high: number[] = [];
  for (const x of b) (x & 0x80 ? high : low).push(x);
  return [Uint8Array.from(low), Uint8Array.from(high)];
}

// How many bytes `a` and `b` have the same from the start.
function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Whether `p` settles within `ms`. */
function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(p.then(() => true, () => true), ms).catch(() => false);
}

function errName(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
}

/** A promise the round waits for, and how it settled. */
class Tracked {
  readonly what: string;
  readonly promise: Promise<unknown>;
  state: "pending" | "resolved" | "rejected" = "pending";
  error: unknown = undefined;

  constructor(what: string, promise: Promise<unknown>) {
    this.what = what;
    this.promise = promise;
    promise.then(() => {
      this.state = "resolved";
    }, (e) => {
      this.state = "rejected";
      this.error = e;
    });
  }
}

// Fail unless every one of `tracked` settles within `ms`.
async function allSettle(tracked: readonly Tracked[], ms: number) {
  await settles(Promise.allSettled(tracked.map((t) => t.promise)), ms);
  const pending = tracked.filter((t) => t.state === "pending");
  if (pending.length > 0) {
    throw new Error(
      `${pending.map((t) => t.what).join(", ")} did not settle within ${ms} ms`,
    );
  }
}

/** The far end: reads everything (but while stalled), and keeps it. */
class Peer {
  readonly #parts: Uint8Array[] = [];
  eof = false;
  error: unknown = null;
  stalled = false;
  /** Closed or reset by the round: it reads no more. */
  gone = false;
  readonly done: Promise<void>;

  constructor(s: Socket, d: Dice, slow: boolean) {
    this.done = this.#read(s, d, slow);
  }

  async #read(s: Socket, d: Dice, slow: boolean): Promise<void> {
    const deadline = Date.now() + PEER_MS;
    while (!this.gone && Date.now() < deadline) {
      if (this.stalled) {
        await sleep(3);
        continue;
      }
      let chunk: Uint8Array;
      try {
        chunk = await s.recv(d.pick([1, 100, 4096, 65536, 1 << 20]));
      } catch (e) {
        this.error = e;
        return;
      }
      if (chunk.length === 0) {
        this.eof = true;
        return;
      }
      this.#parts.push(chunk);
      if (slow && d.chance(0.3)) await sleep(d.int(8));
    }
  }

  /** Every byte read. */
  bytes(): Uint8Array {
    return concat(this.#parts);
  }
}

interface Sent {
  chunk: Uint8Array;
  t: Tracked;
}

// Whether `got` is the sendall() stream: each send that resolved whole
// (or cut where `got` ends, if the connection did not end cleanly), each
// that failed a prefix of its bytes, perhaps none.
function sendsFit(
  got: Uint8Array,
  sends: readonly Sent[],
  complete: boolean,
): boolean {
  const fit = (i: number, pos: number): boolean => {
    if (i === sends.length) return pos === got.length;
    const { chunk, t } = sends[i];
    const m = commonPrefix(got.subarray(pos), chunk);
    if (t.state === "resolved") {
      if (m === chunk.length) return fit(i + 1, pos + m);
      return !complete && pos + m === got.length;
    }
    for (let k = m; k >= 0; k--) if (fit(i + 1, pos + k)) return true;
    return false;
  };
  return fit(0, 0);
}

// A writer's writes and the sendall()/makefile writes between them, with
// disruptions at random; then what the peer got is checked against what
// settled how.
async function writerRound(
  d: Dice,
  peerDice: Dice,
  wb: BackendName,
  pb: BackendName,
  family: number,
  tally: Tally,
  log: string[],
): Promise<void> {
  await using pair = await connectedPair(pb, family, "path", wb);
  const w = pair.client, p = pair.server;
  const peer = new Peer(p, peerDice, d.chance(0.7));
  peer.stalled = d.chance(0.3);
  const tracked: Tracked[] = [];
  const track = (what: string, promise: Promise<unknown>): Tracked => {
    const t = new Tracked(what, promise);
    tracked.push(t);
    return t;
  };
  const writes: Sent[] = [];
  const sends: Sent[] = [];
  let writeOffset = 0, sendOffset = 0;
  let writer: WritableStreamDefaultWriter<Uint8Array> | null = w.writable
    .getWriter();
  // The first disruption, after which a write may fail or lose its bytes.
  let disrupted = "";
  let abortReason: unknown = undefined;
  let closing = false;
  // sendall() and makefile writes go one after another.
  let sending: Promise<unknown> = Promise.resolve();
  try {
    const ops = 3 + d.int(25);
    for (let i = 0; i < ops; i++) {
      const op = d.int(1000);
      if (op < 500) {
        if (writer === null) {
          try {
            writer = w.writable.getWriter();
            log.push("getWriter");
          } catch (e) {
            log.push(`getWriter: ${errName(e)}`);
            continue;
          }
        }
        const n = d.pick([0, 1, 7, 1000, 65536, 100_000, 300_000, 1 << 20]);
        if (writeOffset + n > MOST) continue;
        const chunk = tagged(writeOffset, n, false);
        writeOffset += n;
        const mode = d.pick(["await", "ready", "fire", "fire"]);
        if (mode === "ready") await settles(writer.ready, 300);
        const t = track(`write ${writes.length} (${n})`, writer.write(chunk));
        log.push(`write ${writes.length} (${n}, ${mode})`);
        writes.push({ chunk, t });
        if (mode === "await") await settles(t.promise, 200);
      } else if (op < 580) {
        if (writer !== null) {
          writer.releaseLock();
          writer = null;
          log.push("releaseLock");
        }
      } else if (op < 630 || (op >= 815 && op < 830)) {
        const viaFile = op >= 815;
        const n = viaFile
          ? d.pick([1, 5000, 100_000])
          : d.pick([1, 1000, 65536, 200_000]);
        const chunk = tagged(sendOffset, n, true);
        sendOffset += n;
        const send = sending.then(async () => {
          if (!viaFile) return await w.sendall(chunk);
          const f = w.makefile("wb");
          try {
            await f.write(chunk);
            await f.flush();
          } finally {
            await f.close().catch(() => {});
          }
        });
        sending = send.catch(() => {});
        const what = viaFile ? "makefile write" : "sendall";
        sends.push({ chunk, t: track(`${what} (${n})`, send) });
        log.push(`${what} (${n})`);
      } else if (op < 660) {
        if (writer !== null) {
          closing = true;
          track("writer.close()", writer.close());
          log.push("writer.close()");
        }
      } else if (op < 680) {
        if (writer !== null) {
          const reason = new Error("aborted");
          abortReason ??= reason;
          disrupted ||= "abort";
          track("writer.abort()", writer.abort(reason));
          log.push("writer.abort()");
        }
      } else if (op < 720) {
        await sleep(d.int(30));
        log.push("sleep");
      } else if (op < 750) {
        peer.stalled = !peer.stalled;
        log.push(peer.stalled ? "peer stalls" : "peer reads");
      } else if (op < 770) {
        const timeout = d.pick([0.001, 0.01, 0.05]);
        try {
          w.settimeout(timeout);
        } catch {
          continue;
        }
        disrupted ||= "timeout";
        log.push(`settimeout(${timeout})`);
      } else if (op < 785) {
        try {
          w.shutdown(SHUT_WR);
          disrupted ||= "shutdown";
          log.push("shutdown(SHUT_WR)");
        } catch (e) {
          log.push(`shutdown(SHUT_WR): ${errName(e)}`);
        }
      } else if (op < 800) {
        w.close();
        disrupted ||= "close";
        log.push("close()");
      } else if (op < 815) {
        peer.gone = true;
        const reset = pb === "libc" && family !== AF_UNIX && d.chance(0.6);
        if (reset) resetOnClose(p);
        p.close();
        disrupted ||= "peer";
        count(tally, reset ? "peer reset" : "peer closed");
        log.push(reset ? "the peer resets" : "the peer closes");
        break;
      } else await null;
    }
    peer.stalled = false;
    await allSettle(tracked, SETTLE_MS);
    // The peer sees EOF.
    w.close();
    if (!await settles(peer.done, SETTLE_MS)) {
      assert.fail(`the peer saw no end within ${SETTLE_MS} ms`);
    }
    if (!peer.gone && !peer.eof && peer.error === null) {
      assert.fail("the peer saw no EOF after close()");
    }
  } finally {
    w.close();
    p.close();
    await settles(Promise.allSettled([peer.done, sending]), STEP_MS);
  }
  const [got, gotSent] = split(peer.bytes());
  const complete = peer.eof && !peer.gone;
  let resolved = 0;
  for (const [i, { t }] of writes.entries()) {
    if (t.state === "rejected") count(tally, "writes rejected");
    if (t.state !== "resolved") continue;
    if (resolved !== i) {
      assert.fail(`write ${i} resolved after write ${resolved} failed`);
    }
    resolved++;
  }
  // Every byte of the writes that resolved, and perhaps some of the next.
  const whole = concat(writes.slice(0, resolved).map((x) => x.chunk));
  const upTo = concat([whole, writes[resolved]?.chunk ?? new Uint8Array(0)]);
  const same = commonPrefix(got, upTo);
  if (same < got.length) {
    assert.fail(
      `the writable's bytes differ at ${same} (${got.length} came, the writes that resolved have ${whole.length})`,
    );
  }
  if (complete && got.length < whole.length) {
    assert.fail(
      `${got.length} of the writable's bytes came, the writes that resolved have ${whole.length} (after ${
        disrupted || "no disruption"
      })`,
    );
  }
  if (!sendsFit(gotSent, sends, complete)) {
    assert.fail(
      `the sendall() stream's ${gotSent.length} bytes are not those sent (${
        sends.map((x) => `${x.chunk.length} ${x.t.state}`).join(", ")
      })`,
    );
  }
  for (const [i, { t }] of writes.entries()) {
    if (t.state !== "rejected") continue;
    if (
      disrupted === "abort" && !(t.error instanceof TypeError) &&
      t.error !== abortReason
    ) {
      assert.fail(
        `write ${i} rejected with ${errName(t.error)}, not the abort's reason`,
      );
    }
    if (disrupted === "" && !closing) {
      assert.fail(`write ${i} rejected with ${errName(t.error)}, undisrupted`);
    }
  }
}

// A source's readable piped to the writable under test, ended at random.
async function pipeRound(
  d: Dice,
  peerDice: Dice,
  wb: BackendName,
  pb: BackendName,
  family: number,
  tally: Tally,
  log: string[],
): Promise<void> {
  // a sends to b, whose readable is piped to w's writable; p reads w.
  await using source = await connectedPair(wb, family, "path", pb);
  await using sink = await connectedPair(pb, family, "path", wb);
  const a = source.client, b = source.server, w = sink.client, p = sink.server;
  const peer = new Peer(p, peerDice, d.chance(0.7));
  peer.stalled = d.chance(0.3);
  const stop = new AbortController();
  const options: StreamPipeOptions = {
    preventClose: d.chance(0.3),
    preventAbort: d.chance(0.4),
    preventCancel: d.chance(0.4),
    signal: d.chance(0.6) ? stop.signal : undefined,
  };
  const via = d.pick(["direct", "identity", "text"]);
  count(tally, `pipe ${via}`);
  log.push(
    `via ${via}, ${JSON.stringify({ ...options, signal: !!options.signal })}`,
  );
  let readable = b.readable as ReadableStream<Uint8Array>;
  if (via === "identity") {
    readable = readable.pipeThrough(new TransformStream());
  } else if (via === "text") {
    // The bytes are ASCII: they come through decoded and encoded again.
    readable = readable.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextEncoderStream(),
    );
  }
  const pipe = new Tracked("the pipe", readable.pipeTo(w.writable, options));
  const sends: Tracked[] = [];
  const sent: Uint8Array[] = [];
  let offset = 0;
  let sending: Promise<unknown> = Promise.resolve();
  let aborted = false;
  try {
    let shut = false;
    const ops = 3 + d.int(20);
    for (let i = 0; i < ops && !aborted && !shut; i++) {
      const op = d.int(100);
      if (op < 60) {
        const n = d.pick([1, 1000, 65536, 300_000, 1 << 20]);
        if (offset + n > MOST) continue;
        const chunk = tagged(offset, n, false);
        offset += n;
        const send = sending.then(() => a.sendall(chunk));
        sending = send.catch(() => {});
        sent.push(chunk);
        sends.push(new Tracked(`the source's sendall (${n})`, send));
        log.push(`send ${n}`);
        if (d.chance(0.5)) await settles(send, 300);
      } else if (op < 70) {
        await sleep(d.int(30));
      } else if (op < 78) {
        peer.stalled = !peer.stalled;
        log.push(peer.stalled ? "peer stalls" : "peer reads");
      } else if (op < 84 && options.signal !== undefined) {
        stop.abort(new Error("pipe aborted"));
        aborted = true;
        log.push("signal aborts");
        await sleep(d.int(20));
      } else if (op < 88) {
        shut = true;
      } else await null;
    }
    if (!aborted && !shut && options.signal !== undefined && d.chance(0.5)) {
      stop.abort(new Error("pipe aborted"));
      aborted = true;
      log.push("signal aborts at the end");
    }
    count(tally, aborted ? "pipes aborted" : "pipes ended by SHUT_WR");
    peer.stalled = false;
    // The source shuts after its sends, however the pipe ended.
    const shutDown = sending.then(() => {
      try {
        a.shutdown(SHUT_WR);
      } catch {
        // Closed by a failed round's disposal.
      }
    });
    await settles(Promise.race([shutDown, pipe.promise]), SETTLE_MS);
    await allSettle([pipe], SETTLE_MS);
    // What the pipe left in b, to the source's EOF.
    const left: Uint8Array[] = [];
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
      if (Date.now() > deadline) {
        assert.fail(`recv() after the pipe: no EOF within ${SETTLE_MS} ms`);
      }
      const chunk = await withTimeout(
        b.recv(1 << 20),
        STEP_MS,
        "recv() after the pipe",
      );
      if (chunk.length === 0) break;
      left.push(chunk);
    }
    await allSettle(sends, SETTLE_MS);
    if (aborted && options.preventAbort && w.fileno() !== -1) {
      const writer = w.writable.getWriter();
      await withTimeout(
        writer.write(tagged(0, 10, true)),
        STEP_MS,
        "a write after a pipe aborted with preventAbort",
      );
      writer.releaseLock();
    }
    w.close();
    if (!await settles(peer.done, SETTLE_MS)) {
      assert.fail(`the peer saw no end within ${SETTLE_MS} ms`);
    }
    const [got] = split(peer.bytes());
    const all = concat(sent);
    const same = commonPrefix(got, all);
    if (same < got.length) {
      assert.fail(
        `the piped bytes differ at ${same} (${got.length} came of ${all.length})`,
      );
    }
    if (
      peer.eof && pipe.state === "resolved" && !aborted &&
      got.length !== all.length
    ) {
      assert.fail(
        `the pipe resolved, and ${got.length} of ${all.length} bytes came`,
      );
    }
    // Straight from the socket, nothing can be lost between the pipe and
    // recv().
    const rest = concat(left);
    const joined = concat([got, rest]);
    if (
      peer.eof && via === "direct" &&
      (joined.length !== all.length || commonPrefix(joined, all) < all.length)
    ) {
      assert.fail(
        `${got.length} bytes piped and ${rest.length} by recv() after are not the ${all.length} sent (they differ at ${
          commonPrefix(joined, all)
        }; the pipe ${pipe.state}: ${errName(pipe.error)})`,
      );
    }
  } finally {
    a.close();
    b.close();
    w.close();
    p.close();
    await settles(Promise.allSettled([peer.done, sending]), STEP_MS);
  }
}

// A socket's readable piped to its own writable echoes what the peer sends.
async function selfRound(
  d: Dice,
  peerDice: Dice,
  wb: BackendName,
  pb: BackendName,
  family: number,
  log: string[],
): Promise<void> {
  await using pair = await connectedPair(pb, family, "path", wb);
  const x = pair.client, p = pair.server;
  const pipe = new Tracked("the self-pipe", x.readable.pipeTo(x.writable));
  const peer = new Peer(p, peerDice, d.chance(0.5));
  const sends: Tracked[] = [];
  const sent: Uint8Array[] = [];
  let offset = 0;
  let sending: Promise<unknown> = Promise.resolve();
  try {
    const n = 1 + d.int(15);
    for (let i = 0; i < n; i++) {
      const k = d.pick([1, 1000, 65536, 300_000]);
      const chunk = tagged(offset, k, false);
      offset += k;
      sent.push(chunk);
      const send = sending.then(() => p.sendall(chunk));
      sending = send.catch(() => {});
      sends.push(new Tracked(`the peer's sendall (${k})`, send));
      if (d.chance(0.5)) await sleep(d.int(10));
    }
    log.push(`${n} sends, ${offset} bytes`);
    await settles(Promise.allSettled(sends.map((t) => t.promise)), SETTLE_MS);
    p.shutdown(SHUT_WR);
    await allSettle([pipe, ...sends], SETTLE_MS);
    if (!await settles(peer.done, SETTLE_MS)) {
      assert.fail(`the peer saw no end within ${SETTLE_MS} ms`);
    }
    const got = peer.bytes();
    const all = concat(sent);
    if (
      !peer.eof || got.length !== all.length ||
      commonPrefix(got, all) < all.length
    ) {
      assert.fail(
        `the echo brought ${got.length} of ${all.length} bytes (the same to ${
          commonPrefix(got, all)
        }), EOF ${peer.eof}; the pipe ${pipe.state}: ${errName(pipe.error)}`,
      );
    }
  } finally {
    x.close();
    p.close();
    await settles(Promise.allSettled([peer.done, sending]), STEP_MS);
  }
}

type Kind = "writer" | "pipe" | "self";
const KINDS: readonly Kind[] = [
  ...Array<Kind>(5).fill("writer"),
  ...Array<Kind>(3).fill("pipe"),
  ...Array<Kind>(2).fill("self"),
];

async function round(
  wb: BackendName,
  pb: BackendName,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const peerDice = new Dice(seedOf(seed, n, 1));
  const kind = d.pick(KINDS);
  const family = d.pick([AF_INET, AF_UNIX]);
  const log = [
    `${kind} round on ${family === AF_UNIX ? "AF_UNIX" : "AF_INET"}`,
  ];
  count(tally, `${kind} rounds`);
  try {
    if (kind === "writer") {
      await writerRound(d, peerDice, wb, pb, family, tally, log);
    } else if (kind === "pipe") {
      await pipeRound(d, peerDice, wb, pb, family, tally, log);
    } else await selfRound(d, peerDice, wb, pb, family, log);
  } catch (e) {
    throw new Error(
      `${e instanceof Error ? e.message : e}\n  ops: ${log.join(", ")}`,
      { cause: e },
    );
  }
}

for (const [i, [wb, pb]] of BACKEND_PAIRS.entries()) {
  const reason = unavailable(wb) ?? unavailable(pb);
  Deno.test({
    name: skipNote(
      `${wb}: writable, sendall(), makefile writes and pipes under random aborts, closes, resets and timeouts, to a ${pb} peer: every write settles, every byte in order`,
      reason,
    ),
    ignore: reason !== null,
    fn: async () => {
      const seed = (STREAMS_SEED + i) >>> 0;
      const tally: Tally = {};
      await seededRounds({
        what: `${wb} writer, ${pb} peer`,
        rounds: ROUNDS,
        boundMs: BOUND_MS,
        tally,
        round: (n) => round(wb, pb, seed, n, tally),
      });
    },
  });
}

// The programs tests/stress/faults_stress.ts runs inside its network
// namespaces, one side of the lossy link each (`ip netns exec NS deno run
// ... _faults_child.ts MODE JSON`). Each prints JSON lines on stdout: first
// {"ready":true} once its sockets are bound, last its result. Every loop is
// bounded in count and time: past `deadlineMs` the child prints what it has,
// marked "deadline", and exits. It also exits when its stdin closes (its
// parent died). The parent writes "start" and "end" lines on stdin: when
// the load starts, and when the senders are done.
//
//   tcp-recv  listen for the transfers (recv with a short timeout, retried on
//             TimeoutError, each timeout timed), check every byte, answer
//             with the SHA-256
//   tcp-send  send the transfers with sendall, shut down writing, wait for
//             the receiver's digest
//   udp-recv  collect numbered, checksummed datagrams with a short timeout
//   udp-send  send them, paced
//   timers    from "start" to "end", time recv timeouts (5 to 50 ms) on TCP
//             and UDP sockets of both backends that get no data, in a
//             process of their own so that the times are the library's and
//             the machine's, not those of a test program busy with data
import {
  AF_INET,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
  TimeoutError,
} from "../../mod.ts";
import { createHash } from "node:crypto";
import type { Backend, ChildConfig, Flow } from "./_faultnet.ts";

const RECV_TIMEOUTS = [0.005, 0.01, 0.02, 0.05];

const started = performance.now();
const [mode, json] = Deno.args;
const config = JSON.parse(json) as ChildConfig;
const out = (v: unknown) => console.log(JSON.stringify(v));

/** Lateness of timed-out recv calls, ms past the deadline, per kind. */
const lateness: Record<string, number[]> = {};
function late(kind: string, ms: number) {
  (lateness[kind] ??= []).push(Math.round(ms * 1000) / 1000);
}

let finished = false;
const deadline = setTimeout(() => {
  out({ mode, deadline: true, partial: partial() });
  Deno.exit(4);
}, config.deadlineMs);

let partial: () => unknown = () => ({ lateness });

// stdin: "start" and "end" lines, and EOF when the parent has gone.
const begun = Promise.withResolvers<void>();
const ended = Promise.withResolvers<void>();
(async () => {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of Deno.stdin.readable) {
    text += decoder.decode(chunk);
    if (text.includes("start\n")) begun.resolve();
    if (text.includes("end\n")) ended.resolve();
  }
  if (!finished) {
    console.error(`${mode}: stdin closed, parent gone`);
    Deno.exit(3);
  }
})();

/** `n` pseudo-random bytes from `seed` (an LCG: cheap, and any slip shows). */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** A small seeded PRNG for chunk sizes and datagram lengths. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

async function sha256(b: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>),
  );
}
const hex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `call()` (a recv that may time out), timed: a TimeoutError records how
 * late it came relative to the socket's timeout and returns null.
 */
async function timed<T>(
  kind: string,
  timeoutS: number,
  call: () => Promise<T>,
): Promise<T | null> {
  const t0 = performance.now();
  try {
    return await call();
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    late(kind, performance.now() - t0 - timeoutS * 1000);
    return null;
  }
}

/** Time recv timeouts on `s` (which gets no data) until `stop` resolves. */
async function idleTimeouts(kind: string, s: Socket, stop: Promise<void>) {
  let stopping = false;
  stop.then(() => stopping = true);
  let got = 0;
  for (let i = 0; i < 1_000_000 && !stopping; i++) {
    const t = RECV_TIMEOUTS[i % RECV_TIMEOUTS.length];
    s.settimeout(t);
    const r = await timed(kind, t, () => s.recv(1024));
    if (r !== null) {
      if (r.length === 0) break; // the peer closed its idle connection
      got += r.length;
    }
  }
  if (got !== 0) throw new Error(`${kind}: an idle socket got ${got} bytes`);
}

/** Time bare setTimeout() sleeps until `stop` resolves. */
async function controlSleeps(offset: number, stop: Promise<void>) {
  let stopping = false;
  stop.then(() => stopping = true);
  for (let i = offset; i < 1_000_000 && !stopping; i++) {
    const ms = RECV_TIMEOUTS[i % RECV_TIMEOUTS.length] * 1000;
    const t0 = performance.now();
    await sleep(ms);
    late("control: setTimeout", performance.now() - t0 - ms);
  }
}

function listener(backend: Backend, host: string, port: number): Socket {
  const s = socket(AF_INET, SOCK_STREAM, 0, { backend });
  s.bind([host, port]);
  s.listen(8);
  s.settimeout(config.deadlineMs / 1000);
  return s;
}

// ------------------------------------------------------------------ TCP

async function tcpRecv() {
  const bytes = config.bytes!;
  const listeners = config.flows.map((f) =>
    listener(f.backend, config.host, f.port)
  );
  const patterns = await expectedData(bytes);
  out({ ready: true });
  const results: Record<string, unknown>[] = [];
  partial = () => ({ results, lateness });
  const transfers = config.flows.map(async (f, i) => {
    const { data: expected, sha256: expectedSha256 } = patterns[i];
    const [conn] = await listeners[i].accept();
    const t0 = performance.now();
    // Hashed as it comes, a chunk at a time: crypto.subtle.digest() of 8 MiB
    // at the end would hold up the event loop whose timers are being timed
    // for some 80 ms.
    const hash = createHash("sha256");
    let got = 0, timeouts = 0, recvs = 0, excess = 0, firstMismatch = -1;
    conn.settimeout(config.timeout);
    const kind = `transfer ${f.backend}`;
    for (let n = 0; n < 10_000_000; n++) {
      const data = await timed(kind, config.timeout, () => conn.recv(65536));
      if (data === null) {
        timeouts++;
        continue;
      }
      if (data.length === 0) break;
      recvs++;
      const room = Math.min(data.length, bytes - got);
      hash.update(data.subarray(0, room));
      for (let j = 0; firstMismatch < 0 && j < room; j++) {
        if (data[j] !== expected[got + j]) firstMismatch = got + j;
      }
      excess += data.length - room;
      got += data.length;
    }
    const ms = performance.now() - t0;
    const digest = new Uint8Array(hash.digest());
    conn.settimeout(10);
    await conn.sendall(digest);
    conn.close();
    const r = {
      flow: f.name,
      bytes: got,
      excess,
      sha256: hex(digest),
      expectedSha256,
      firstMismatch,
      recvs,
      timeouts,
      ms: Math.round(ms),
    };
    results.push(r);
    return r;
  });
  const settled = await Promise.allSettled(transfers);
  for (const l of listeners) l.close();
  const errors = settled.flatMap((s, i) =>
    s.status === "rejected"
      ? [`${config.flows[i].name}: ${String(s.reason)}`]
      : []
  );
  return { results, errors, lateness };
}

/** Each flow's bytes and their SHA-256, made before any timing starts. */
function expectedData(bytes: number) {
  return Promise.all(config.flows.map(async (f) => {
    const data = pattern(bytes, f.seed);
    return { data, sha256: hex(await sha256(data)) };
  }));
}

async function tcpSend() {
  const bytes = config.bytes!;
  const patterns = await expectedData(bytes);
  out({ ready: true });
  const results: Record<string, unknown>[] = [];
  partial = () => ({ results });
  const settled = await Promise.allSettled(config.flows.map(async (f, i) => {
    const { data, sha256: digest } = patterns[i];
    const s = socket(AF_INET, SOCK_STREAM, 0, { backend: f.backend });
    try {
      s.settimeout(10);
      await s.connect([config.host, f.port]);
      const t0 = performance.now();
      s.settimeout(config.deadlineMs / 1000);
      const rand = prng(f.seed);
      let chunks = 0;
      for (let off = 0; off < bytes && chunks < 1_000_000; chunks++) {
        const n = 1 + Math.floor(rand() * (128 << 10));
        await s.sendall(data.subarray(off, off + n));
        off += n;
      }
      s.shutdown(SHUT_WR);
      const sent = performance.now() - t0;
      const back: number[] = [];
      for (let k = 0; k < 64 && back.length < 32; k++) {
        const r = await s.recv(32 - back.length);
        if (r.length === 0) break;
        back.push(...r);
      }
      const r = {
        flow: f.name,
        bytes,
        chunks,
        sha256: digest,
        peerSha256: hex(new Uint8Array(back)),
        sendallMs: Math.round(sent),
        ms: Math.round(performance.now() - t0),
      };
      results.push(r);
      return r;
    } finally {
      s.close();
    }
  }));
  const errors = settled.flatMap((s, i) =>
    s.status === "rejected"
      ? [`${config.flows[i].name}: ${String(s.reason)}`]
      : []
  );
  return { results, errors };
}

// ------------------------------------------------------------------ UDP
//
// A datagram: magic "PYFS", flow port (u16), seq (u32), payload length
// (u16), the payload (pattern of the flow's seed and seq), FNV-1a of all
// that (u32). Big-endian.

const MAGIC = 0x50594653;
const HEADER = 12;

function fnv1a(b: Uint8Array, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ b[i], 16777619) >>> 0;
  return h;
}

function payloadLength(seed: number, seq: number): number {
  return 1 + ((Math.imul(seq + 1, 2654435761) ^ seed) >>> 0) % 1200;
}

function datagram(f: Flow, seq: number): Uint8Array {
  const len = payloadLength(f.seed, seq);
  const b = new Uint8Array(HEADER + len + 4);
  const v = new DataView(b.buffer);
  v.setUint32(0, MAGIC);
  v.setUint16(4, f.port);
  v.setUint32(6, seq);
  v.setUint16(10, len);
  b.set(pattern(len, f.seed * 1_000_003 + seq), HEADER);
  v.setUint32(HEADER + len, fnv1a(b, HEADER + len));
  return b;
}

/** Why `b` is not an intact datagram of flow `f`, or its seq. */
function check(f: Flow, b: Uint8Array, count: number): number | string {
  if (b.length < HEADER + 4) return `short: ${b.length} bytes`;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0) !== MAGIC) return "bad magic";
  const len = v.getUint16(10);
  if (b.length !== HEADER + len + 4) return `length ${b.length} for ${len}`;
  if (v.getUint32(HEADER + len) !== fnv1a(b, HEADER + len)) {
    return "bad checksum";
  }
  if (v.getUint16(4) !== f.port) return `from flow ${v.getUint16(4)}`;
  const seq = v.getUint32(6);
  if (seq >= count) return `seq ${seq} out of range`;
  const want = datagram(f, seq);
  for (let i = 0; i < want.length; i++) {
    if (want[i] !== b[i]) return `byte ${i} differs from seq ${seq}`;
  }
  return seq;
}

async function udpRecv() {
  const count = config.count!;
  const socks = config.flows.map((f) => {
    const s = socket(AF_INET, SOCK_DGRAM, 0, { backend: f.backend });
    s.bind([config.host, f.port]);
    s.settimeout(config.timeout);
    return s;
  });
  out({ ready: true });
  let end = false;
  ended.promise.then(() => end = true);
  const results: Record<string, unknown>[] = [];
  partial = () => ({ results, lateness });
  await Promise.all(config.flows.map(async (f, i) => {
    const s = socks[i];
    const seen = new Uint16Array(count);
    let received = 0, timeouts = 0, outOfOrder = 0, maxSeq = -1;
    const bad: string[] = [];
    let badCount = 0;
    let quietSince = performance.now();
    const kind = `udp ${f.backend}`;
    // After "end", stop once 300 ms pass with nothing (the relay holds a
    // packet at most delay_max + hold_max + delay_max, well under that).
    for (let n = 0; n < 10_000_000; n++) {
      if (end && performance.now() - quietSince > 300) break;
      const r = await timed(kind, config.timeout, () => s.recvfrom(2048));
      if (r === null) {
        timeouts++;
        continue;
      }
      quietSince = performance.now();
      received++;
      const seq = check(f, r[0], count);
      if (typeof seq === "string") {
        badCount++;
        if (bad.length < 5) bad.push(seq);
        continue;
      }
      if (seq < maxSeq) outOfOrder++;
      else maxSeq = seq;
      seen[seq]++;
    }
    s.close();
    let distinct = 0, duplicates = 0;
    for (const c of seen) {
      if (c > 0) distinct++;
      if (c > 1) duplicates += c - 1;
    }
    results.push({
      flow: f.name,
      port: f.port,
      received,
      distinct,
      duplicates,
      outOfOrder,
      corrupt: badCount,
      bad,
      timeouts,
    });
  }));
  return { results, lateness };
}

async function udpSend() {
  const count = config.count!;
  out({ ready: true });
  const results: Record<string, unknown>[] = [];
  partial = () => ({ results });
  await Promise.all(config.flows.map(async (f) => {
    const s = socket(AF_INET, SOCK_DGRAM, 0, { backend: f.backend });
    s.settimeout(5);
    let sent = 0;
    const t0 = performance.now();
    try {
      for (let seq = 0; seq < count; seq++) {
        await s.sendto(datagram(f, seq), [config.host, f.port]);
        sent++;
        // Paced (about 1,000 a second), so that a receiver held up for a
        // few tens of ms does not overflow its socket buffer.
        if (seq % 4 === 3) await sleep(4);
      }
    } finally {
      s.close();
    }
    results.push({
      flow: f.name,
      port: f.port,
      sent,
      ms: Math.round(performance.now() - t0),
    });
  }));
  return { results };
}

// ------------------------------------------------------------------ timers

async function timers() {
  const socks: { kind: string; s: Socket }[] = [];
  const listeners: Socket[] = [];
  try {
    for (const backend of ["deno", "libc"] as const) {
      for (let i = 0; i < (config.timerSockets ?? 2); i++) {
        const u = socket(AF_INET, SOCK_DGRAM, 0, { backend });
        socks.push({ kind: `idle udp ${backend}`, s: u });
        u.bind([config.host, 0]);
        // A TCP connection inside this namespace that never carries data.
        const l = listener(backend, config.host, 0);
        listeners.push(l);
        const c = socket(AF_INET, SOCK_STREAM, 0, { backend });
        socks.push({ kind: `idle tcp ${backend}`, s: c });
        c.settimeout(10);
        await c.connect(l.getsockname() as [string, number]);
        const [a] = await l.accept();
        socks.push({ kind: `idle tcp ${backend}`, s: a });
      }
    }
    out({ ready: true });
    await begun.promise;
    await Promise.all([
      ...socks.map(({ kind, s }) => idleTimeouts(kind, s, ended.promise)),
      // The control: bare setTimeout() sleeps of the same lengths, in the
      // same process at the same time. How late they wake is the machine's
      // and the runtime's share of the lateness, not the library's.
      ...[0, 1, 2, 3].map((k) => controlSleeps(k, ended.promise)),
    ]);
  } finally {
    for (const { s } of socks) s.close();
    for (const l of listeners) l.close();
  }
  return { lateness };
}

// ------------------------------------------------------------------ main

const modes: Record<string, () => Promise<unknown>> = {
  "tcp-recv": tcpRecv,
  "tcp-send": tcpSend,
  "udp-recv": udpRecv,
  "udp-send": udpSend,
  timers,
};
let code = 0;
try {
  const result = await modes[mode]();
  out({ mode, ms: Math.round(performance.now() - started), result });
} catch (e) {
  out({
    mode,
    error: String(e),
    stack: (e as Error).stack,
    partial: partial(),
  });
  code = 1;
}
finished = true;
clearTimeout(deadline);
Deno.exit(code);

// makefile(), the differential run: Socket.makefile() against CPython's own
// socket.makefile(), call for call. Each round picks a mode (r, rb, w, wb,
// rw, rwb), a buffering (-1, null, 0, 1 and small to large sizes), for text
// an encoding (utf-8, utf-8-sig, ascii, latin-1 and single-byte codecs,
// EBCDIC cp037 among them), an errors handler and a newline (now and then
// ones makefile() or the first read or write refuses), then bytes the
// peer sends in random packets with short pauses (multi-byte characters,
// lone "\r", "\r\n" and BOMs split across packets, invalid bytes), and a
// sequence of calls: read(n), read(), read(None), read1(n), readinto,
// readline(limit), readlines(hint), iteration, write (now and then of the
// wrong type), writelines, flush, close. python3 plays the round first
// over a socket pair, with the same packets and pauses; then this module
// plays it over a TCP pair per backend pairing (file side, peer side), and
// every call's result must be python3's: the value and its type, or the
// exception's class and message; after each call, how many bytes the peer
// has received. At the end the socket, the file and now and then a second
// file are closed in a random order: the peer sees the connection open
// until the last of them is closed; fileno(), name, and a write or read
// between the closes, as python3's.
// What python3 decides by timing is played by size: a read1(), or an
// unbuffered read(n) or readinto() (one recv), returns at least one byte
// and at most n; python3's k bytes are asked of it here as read1(k) and
// made up to k by read(), so that both files stay at the same place.
// Left out, each where it is chosen:
// - the documented differences (README, "Files from makefile()"): bytes
//   that do not decode fail whichever read's chunk holds them (so the
//   round stops comparing reads there), and a text "rw" file writes
//   before it reads;
// - where this module is more lenient than CPython 3.11: fileno() and name
//   of "rw"/"rwb" files (CPython's BufferedRWPair has neither), null for
//   a text readline() or an unbuffered read() (TypeError in CPython),
//   read1() of an unbuffered file (SocketIO has none), errors=
//   "namereplace" (no Unicode names here: LookupError);
// - CPython's own quirks: an "rwb" file's readline(limit) can return more
//   than limit bytes (IOBase.readline caps each peek at the limit, not at
//   what is left), and an "rwb" file still hands out what it had read
//   ahead after close() (its reader's close() finds the shared SocketIO
//   closed and keeps its buffer).
// A second test: a read that times out raises TimeoutError, and here the
// next read goes on with nothing lost, where python3's refuses ("cannot
// read from timed out object"), as the README says.
// About 60 s in all by default. STREAMS_SEED replays a run's choices (not
// its timing); with it, STREAMS_ROUND=n runs round n alone.
// MAKEFILE_ROUNDS and MAKEFILE_TIMEOUT_ROUNDS set the rounds per pairing.
import assert from "node:assert/strict";
import {
  AF_INET,
  BlockingIOError,
  ConnectionResetError,
  MSG_DONTWAIT,
  SHUT_WR,
  type Socket,
  type SocketFile,
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
  type FedPythonPeer,
  hasPython,
  PY_START_MS,
  pythonFed,
  pythonJson,
} from "../_python.ts";
import {
  count,
  Dice,
  roundsFrom,
  seededRounds,
  seedOf,
  STREAMS_ROUND,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

/** Rounds per pairing (at least as many as STREAMS_ROUND needs). */
const ROUNDS = roundsFrom("MAKEFILE_ROUNDS", 70);
/** The most one pairing may take. */
const BOUND_MS = Math.max(40_000, ROUNDS * 600);

// ------------------------------------------------------------ python3's side

// Both python3 programs' imports, and how they write a value (enc) and an
// exception (err) down as JSON.
const PY_COMMON = String.raw`
import json, socket, sys, threading, time

def enc(v):
    if isinstance(v, (bytes, bytearray)):
        return {"b": bytes(v).hex()}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, list):
        return {"l": [enc(x) for x in v]}
    return {"v": v}

def err(e):
    return {"e": type(e).__name__, "m": str(e)}
`;

const PY_RUNNER = PY_COMMON + String.raw`
def fd(n):
    return n if n < 0 else "fd"

def drain(peer, got):
    while True:
        try:
            d = peer.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
        if not d:
            return True
        got.extend(d)

def probe(peer, got):
    end = time.monotonic() + 0.03
    while True:
        if drain(peer, got):
            return "closed"
        if time.monotonic() > end:
            return "open"
        time.sleep(0.002)

def run(c):
    a, peer = socket.socketpair()
    binary = "b" in c["mode"]
    try:
        f = a.makefile(c["mode"], c["buffering"], **c["kw"])
    except Exception as e:
        a.close(); peer.close()
        return {"make": err(e)}
    f2 = a.makefile(c["second"]) if c["second"] else None
    def send():
        for hx, pause in c["packets"]:
            if pause: time.sleep(pause / 1000)
            peer.sendall(bytes.fromhex(hx))
        peer.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send); t.start()
    got = bytearray()
    res, ks, counts = [], [], []
    for op in c["ops"]:
        name, arg = op["op"], op.get("arg")
        k = None
        try:
            if name == "read":
                v = f.read() if arg == "omit" else f.read(arg)
                if op.get("timing"): k = len(v)
            elif name == "read1":
                v = f.read1() if arg == "omit" else f.read1(arg)
                k = len(v)
            elif name == "readinto":
                b = bytearray(arg)
                n = f.readinto(b)
                v = [n, bytes(b[:n])]
                if op.get("timing"): k = n
            elif name == "readline":
                v = f.readline() if arg == "omit" else f.readline(arg)
            elif name == "readlines":
                v = f.readlines() if arg == "omit" else f.readlines(arg)
            elif name == "iter":
                v = []
                for line in f:
                    v.append(line)
                    if len(v) >= arg: break
            elif name == "write":
                v = f.write(bytes.fromhex(arg) if binary else arg)
            elif name == "writelines":
                v = f.writelines([bytes.fromhex(x) if binary else x for x in arg])
            elif name == "badwrite":
                v = f.write("x" if binary else b"x")
            elif name == "flush":
                v = f.flush()
            elif name == "close":
                v = f.close()
            else:
                raise RuntimeError("bad op " + name)
            r = enc(v)
        except Exception as e:
            r = err(e)
        res.append(r); ks.append(k)
        drain(peer, got)
        counts.append(len(got))
    t.join()
    valid = True
    if not binary:
        try:
            b"".join(bytes.fromhex(hx) for hx, _ in c["packets"]).decode(f.encoding)
        except UnicodeDecodeError:
            valid = False
    closing = []
    for step in c["closing"]:
        try:
            if step == "sock":
                a.close(); closing.append(["sock", fd(a.fileno())])
            elif step == "file2":
                f2.close(); closing.append(["file2", f2.closed])
            elif step == "file":
                f.close(); closing.append(["file", f.closed])
            elif step == "name":
                closing.append(["name", fd(f.fileno()), fd(f.name)])
            elif step == "write":
                f.write(b"Z" if binary else "Z"); f.flush(); closing.append(["write", "ok"])
            elif step == "read":
                closing.append(["read", enc(f.read())])
            elif step == "probe":
                closing.append(["probe", probe(peer, got), len(got)])
        except Exception as e:
            closing.append([step, err(e)])
    a.close(); f.close()
    if f2: f2.close()
    drain(peer, got)
    peer.close()
    return {"ops": res, "k": ks, "counts": counts, "closing": closing, "got": bytes(got).hex(), "valid": valid}

for line in sys.stdin:
    c = json.loads(line)
    try:
        out = run(c)
    except Exception as e:
        out = {"crash": repr(e)}
    sys.stdout.write(json.dumps(out) + "\n"); sys.stdout.flush()
`;

/**
 * python3's result of round `c`, played by `py` (PY_RUNNER); bounded by its
 * start-up time, which a round stays well within.
 */
async function play(py: FedPythonPeer, c: Case): Promise<PyResult> {
  await py.send(c);
  const out = JSON.parse(await py.line(PY_START_MS)) as PyResult;
  if (out.crash !== undefined) throw new Error(`python3: ${out.crash}`);
  return out;
}

// ------------------------------------------------------------------ a round

/** A value as both sides write it down. */
type Val =
  | { b: string }
  | { s: string }
  | { l: Val[] }
  | { v: unknown }
  | { e: string; m: string };

interface Op {
  op: string;
  arg?: unknown;
  /** Whether python3's result depends on timing (one recv): played by size. */
  timing?: boolean;
}

interface Case {
  mode: string;
  buffering: number | null;
  kw: { encoding?: string | null; errors?: string; newline?: string | null };
  /** Hex of each packet, and the pause before it in ms. */
  packets: [string, number][];
  ops: Op[];
  closing: string[];
  /** The mode of a second file on the socket, or null. */
  second: string | null;
}

interface PyResult {
  crash?: string;
  make?: Val;
  ops: Val[];
  k: (number | null)[];
  counts: number[];
  closing: unknown[][];
  got: string;
  /** Whether the bytes sent decode with errors="strict". */
  valid: boolean;
}

const hex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) =>
  new Uint8Array((s.match(/../g) ?? []).map((x) => parseInt(x, 16)));

const TEXT = [
  "a",
  "bc",
  "hello ",
  "x y z",
  "\n",
  "\r",
  "\r\n",
  "\r\n",
  "é",
  "€",
  "😀",
  "中文",
  "\u2028",
  "\x85",
  "\t",
];
const INVALID = [
  [0xff],
  [0xc3],
  [0xe2, 0x82],
  [0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xa0, 0xbd, 0xed, 0xb0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc0, 0x80],
  [0xf0, 0x9f, 0x98],
];
const BOM = [0xef, 0xbb, 0xbf];
const ENCODINGS = [
  null,
  "utf-8",
  "utf-8",
  "utf8",
  "locale",
  "utf-8-sig",
  "ascii",
  "latin-1",
  "cp1252",
  "iso8859-15",
  "koi8-r",
  "cp437",
  "cp037",
  "mac-roman",
];
const READ_ERRORS = [
  "strict",
  "strict",
  "replace",
  "ignore",
  "surrogateescape",
  "backslashreplace",
  "surrogatepass",
];
const WRITE_ERRORS = [
  ...READ_ERRORS,
  "xmlcharrefreplace",
  // Not "namereplace": this module has no Unicode names, and raises
  // LookupError("unknown error handler name 'namereplace'") (reported).
];
// Now and then what makefile() or the first read or write refuses.
const BAD_OPTIONS: Case["kw"][] = [
  { encoding: "no-such-codec" },
  { encoding: "hex" },
  { errors: "no-such-handler" },
  { errors: "xmlcharrefreplace" },
  { newline: "x" },
  { newline: "\n\n" },
];
const NEWLINES = [null, "", "\n", "\r", "\r\n"];
const SIZES = [-1, -1, null, 0, 1, 2, 3, 5, 7, 16, 64, 100, 1024, 8192, 65536];
const WRITE_TEXT = [
  ...TEXT,
  "\udc80",
  "\udcff",
  "\ud800",
  "Ω",
  "ÿ",
  "\u0100",
  "",
];

function genData(d: Dice, encoding: string | null, binary: boolean): number[] {
  const out: number[] = [];
  const size = d.chance(0.1) ? 2000 + d.int(12000) : 1 + d.int(300);
  const invalid = d.chance(0.4) ? 0.08 : 0;
  const utf8 = binary || encoding === null || encoding === "locale" ||
    encoding.startsWith("utf");
  const enc = new TextEncoder();
  while (out.length < size) {
    if (d.chance(0.03)) out.push(...BOM);
    else if (d.chance(invalid)) out.push(...d.pick(INVALID));
    else if (!utf8 && d.chance(0.3)) {
      out.push(d.pick([0x0d, 0x0a, 0x25, 0x15, 0x80 + d.int(128), d.int(256)]));
    } else out.push(...enc.encode(d.pick(TEXT)));
  }
  return out;
}

function genPackets(d: Dice, data: number[]): [string, number][] {
  const packets: [string, number][] = [];
  const big = data.length > 1000;
  for (let i = 0; i < data.length;) {
    const n = Math.min(
      data.length - i,
      d.chance(0.1) ? 1 + d.int(big ? 4000 : 200) : 1 + d.int(big ? 600 : 8),
    );
    const pause = d.chance(0.5) ? 0 : d.int(big ? 2 : 4);
    packets.push([hex(new Uint8Array(data.slice(i, i + n))), pause]);
    i += n;
  }
  return packets;
}

function genWrite(d: Dice, binary: boolean): string {
  if (binary) {
    const n = d.chance(0.1) ? d.int(20000) : d.int(40);
    return hex(Uint8Array.from({ length: n }, () => d.int(256)));
  }
  let s = "";
  const n = d.chance(0.1) ? 200 + d.int(3000) : d.int(12);
  for (let i = 0; i < n; i++) s += d.pick(WRITE_TEXT);
  return s;
}

function genCase(d: Dice): Case {
  const mode = d.pick(["r", "rb", "w", "wb", "rw", "rwb", "r", "rb"]);
  const binary = mode.includes("b");
  const reading = mode.includes("r");
  const writing = mode.includes("w");
  let buffering = d.pick(SIZES);
  if (!binary && buffering === 0 && !d.chance(0.1)) buffering = -1;
  const kw: Case["kw"] = {};
  let encoding: string | null = null;
  if (!binary) {
    encoding = d.pick(ENCODINGS);
    kw.encoding = encoding;
    kw.errors = d.pick(writing && !reading ? WRITE_ERRORS : READ_ERRORS);
    kw.newline = d.pick(NEWLINES);
    if (d.chance(0.03)) Object.assign(kw, d.pick(BAD_OPTIONS));
  }
  const packets = reading ? genPackets(d, genData(d, encoding, binary)) : [];
  const reads: Op[] = [];
  const writes: Op[] = [];
  const unbuffered = buffering === 0;
  // CPython's BufferedRWPair reads a line by IOBase.readline(), which can
  // return more than the limit (it caps each peek at the limit, not at what
  // is left of it): "rwb" files read lines without one here.
  const lineLimit = (limit: unknown) =>
    binary && reading && writing && typeof limit === "number" && limit > 0
      ? -1
      : limit;
  const nOps = 1 + d.int(14);
  const small = () =>
    d.pick([0, 1, 1, 2, 3, 4, 5, 7, 10, 16, 50, 100, 1000, 9000, -2]);
  for (let i = 0; i < nOps; i++) {
    if (reading && (!writing || d.chance(0.6))) {
      const k = d.int(binary ? 9 : 7);
      if (k === 0) {
        let arg = d.chance(0.1) ? d.pick(["omit", -1, null]) : small();
        // CPython's SocketIO.read() refuses None (TypeError); this
        // module's unbuffered file takes null as -1 (left out here).
        if (arg === null && unbuffered) arg = -1;
        reads.push({
          op: "read",
          arg,
          timing: binary && buffering === 0 && typeof arg === "number" &&
            arg > 0,
        });
      } else if (k === 1 || k === 2) {
        reads.push({
          op: "readline",
          // CPython 3.11's TextIOWrapper.readline() refuses None
          // (TypeError); this module's takes null as -1 (left out here).
          arg: lineLimit(d.pick(["omit", -1, binary ? null : -1, small()])),
        });
      } else if (k === 3) {
        reads.push({ op: "readlines", arg: d.pick(["omit", 0, -1, small()]) });
      } else if (k === 4 || k === 5) {
        reads.push({ op: "iter", arg: 1 + d.int(3) });
      } else if (k === 6) {
        reads.push({ op: "readline", arg: lineLimit(small()) });
      } else if (k === 7 && !unbuffered) {
        reads.push({
          op: "read1",
          arg: d.pick(["omit", -1, small(), small()]),
        });
      } else {
        reads.push({
          op: "readinto",
          arg: Math.max(0, small()),
          timing: buffering === 0,
        });
      }
    } else if (writing) {
      const k = d.int(10);
      if (k < 6) writes.push({ op: "write", arg: genWrite(d, binary) });
      else if (k < 8) {
        writes.push({
          op: "writelines",
          arg: Array.from({ length: d.int(4) }, () => genWrite(d, binary)),
        });
      } else if (k < 9 || !d.chance(0.2)) writes.push({ op: "flush" });
      // The wrong type: bytes to a text file, text to a binary one.
      else writes.push({ op: "badwrite" });
    }
  }
  // A text "rw" file writes before it reads: CPython's drops what it read
  // ahead when it writes (README).
  let ops: Op[];
  if (!binary && reading && writing) ops = [...writes, ...reads];
  else {
    ops = [];
    while (reads.length + writes.length > 0) {
      const w = writes.length > 0 &&
        (reads.length === 0 ||
          d.chance(writes.length / (reads.length + writes.length)));
      ops.push((w ? writes : reads).shift()!);
    }
  }
  if (d.chance(0.1)) {
    ops.splice(d.int(ops.length + 1), 0, { op: "close" });
  }
  // The socket, the file and now and then a second file, closed in a
  // random order; the peer looks for the end after each.
  const second = d.chance(0.3) ? d.pick(["rb", "wb", "r", "w", "rwb"]) : null;
  const owners = second === null ? ["sock", "file"] : ["sock", "file", "file2"];
  for (let i = owners.length - 1; i > 0; i--) {
    const j = d.int(i + 1);
    [owners[i], owners[j]] = [owners[j], owners[i]];
  }
  const closing = ["name"];
  let fileOpen = true;
  for (const owner of owners) {
    closing.push(owner, "probe");
    if (owner === "sock") closing.push("name");
    if (owner === "file") fileOpen = false;
    else if (fileOpen && d.chance(0.5)) {
      // (Not a text "rw" file's write after its reads: CPython's drops
      // what it read ahead, as the README says.)
      const textRw = !binary && reading && writing;
      if (writing && !textRw && d.chance(0.5)) {
        closing.push("write", "probe");
      } else if (reading) closing.push("read");
    }
  }
  return { mode, buffering, kw, packets, ops, closing, second };
}

// ------------------------------------------------------------- this side

function errVal(e: unknown): Val {
  if (!(e instanceof Error)) return { e: typeof e, m: String(e) };
  return { e: e.constructor.name, m: e.message };
}

function val(v: unknown): Val {
  if (v instanceof Uint8Array) return { b: hex(v) };
  if (typeof v === "string") return { s: v };
  if (Array.isArray(v)) return { l: v.map(val) };
  return { v: v === undefined ? null : v };
}

/** The peer's receiving side: what it has taken, and whether it met the end. */
class Receiver {
  readonly got: number[] = [];
  ended = false;
  constructor(readonly peer: Socket) {}

  /** Take what is there now; true once the end (EOF or reset) is met. */
  async drain(): Promise<boolean> {
    if (this.ended) return true;
    for (;;) {
      let b: Uint8Array;
      try {
        b = await withTimeout(
          this.peer.recv(65536, MSG_DONTWAIT),
          STEP_MS,
          "peer recv",
        );
      } catch (e) {
        if (e instanceof BlockingIOError) return false;
        if (e instanceof ConnectionResetError) return this.ended = true;
        throw e;
      }
      if (b.length === 0) return this.ended = true;
      this.got.push(...b);
    }
  }

  /** Take bytes until `want` have come (or the time is up), then what follows at once. */
  async upTo(want: number): Promise<number> {
    const deadline = Date.now() + 2000;
    for (;;) {
      const end = await this.drain();
      if (this.got.length >= want || end || Date.now() > deadline) break;
      await sleep(1);
    }
    await sleep(2);
    await this.drain();
    return this.got.length;
  }

  /** "closed" once the end is met within 30 ms (after `want` bytes), else "open". */
  async probe(want: number): Promise<string> {
    await this.upTo(want);
    const deadline = Date.now() + 30;
    for (;;) {
      if (await this.drain()) return "closed";
      if (Date.now() > deadline) return "open";
      await sleep(2);
    }
  }
}

type AnyFile = SocketFile;

const READS = ["read", "read1", "readinto", "readline", "readlines", "iter"];

// One call on the file, as python3's runner makes it.
async function call(
  f: AnyFile,
  op: Op,
  binary: boolean,
): Promise<unknown> {
  const a = op.arg;
  const b = f as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  switch (op.op) {
    case "read":
      return a === "omit" ? await f.read() : await f.read(a as number);
    case "read1":
      return a === "omit" ? await b.read1() : await b.read1(a);
    case "readinto": {
      const buf = new Uint8Array(a as number);
      const n = await b.readinto(buf) as number;
      return [n, buf.slice(0, n)];
    }
    case "readline":
      return a === "omit" ? await f.readline() : await f.readline(a as number);
    case "readlines":
      return a === "omit"
        ? await f.readlines()
        : await f.readlines(a as number);
    case "iter": {
      const lines: unknown[] = [];
      for await (const line of f) {
        lines.push(line);
        if (lines.length >= (a as number)) break;
      }
      return lines;
    }
    case "write":
      return await b.write(binary ? unhex(a as string) : a);
    case "writelines":
      return await b.writelines(
        (a as string[]).map((x) => binary ? unhex(x) : x),
      );
    case "badwrite":
      return await b.write(binary ? "x" : new Uint8Array([0x78]));
    case "flush":
      return await f.flush();
    case "close":
      return await f.close();
  }
  throw new Error(`bad op ${op.op}`);
}

// A call python3 made by timing, made here by size: at most k bytes by the
// same call with k, then made up to k by read() (one recv at a time when
// unbuffered).
async function callBySize(
  f: AnyFile,
  op: Op,
  k: number,
  unbuffered: boolean,
): Promise<unknown> {
  const b = f as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  let first: Uint8Array;
  if (op.op === "readinto") {
    const buf = new Uint8Array(k);
    const n = await b.readinto(buf) as number;
    first = buf.slice(0, n);
  } else first = await b[op.op](k) as Uint8Array;
  if (first.length < 1 || first.length > k) {
    throw new Error(
      `${op.op}(${k}) by size returned ${first.length} bytes, not 1 to ${k}`,
    );
  }
  const parts = [...first];
  while (parts.length < k) {
    const more = await f.read(k - parts.length) as Uint8Array;
    if (more.length === 0) break;
    parts.push(...more);
    if (!unbuffered) break;
  }
  const out = new Uint8Array(parts);
  return op.op === "readinto" ? [out.length, out] : out;
}

function same(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 300 ? s.slice(0, 300) + "..." : s;
}

async function round(
  py: FedPythonPeer,
  fb: BackendName,
  pb: BackendName,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const c = genCase(d);
  const binary = c.mode.includes("b");
  const writing = c.mode.includes("w");
  const reading = c.mode.includes("r");
  const unbuffered = c.buffering === 0;
  count(tally, `mode ${c.mode}`);
  count(tally, `buffering ${c.buffering}`);
  if (!binary) {
    count(tally, `encoding ${c.kw.encoding}`);
    count(tally, `errors ${c.kw.errors}`);
    count(tally, `newline ${JSON.stringify(c.kw.newline)}`);
  }
  const want = await play(py, c);
  const where = `case ${
    show({ ...c, packets: `${c.packets.length} packets` })
  }`;
  await using p = await connectedPair(fb, AF_INET, "path", pb);
  const sock = p.server;
  const peer = p.client;
  const args: unknown[] = [c.mode, c.buffering];
  if (!binary) args.push(c.kw);
  let f: AnyFile;
  try {
    f = (sock.makefile as (...a: unknown[]) => AnyFile)(...args);
  } catch (e) {
    count(tally, "makefile raised");
    const got = errVal(e);
    if (!same(got, want.make)) {
      assert.fail(
        `makefile: ${show(got)}, python3 ${show(want.make)}; ${where}`,
      );
    }
    return;
  }
  if (want.make !== undefined) {
    await f.close();
    assert.fail(`makefile: made a file, python3 ${show(want.make)}; ${where}`);
  }
  const f2 = c.second === null
    ? null
    : (sock.makefile as (m: string) => AnyFile)(c.second);
  const rx = new Receiver(peer);
  const sending = (async () => {
    for (const [h, pause] of c.packets) {
      if (pause) await sleep(pause);
      await peer.sendall(unhex(h));
    }
    peer.shutdown(SHUT_WR);
  })();
  try {
    let diverged = false;
    let closedByOp = false;
    for (const [i, op] of c.ops.entries()) {
      const k = want.k[i];
      const expect = want.ops[i];
      if (diverged && READS.includes(op.op)) continue;
      let got: Val;
      try {
        const v = op.timing !== undefined && op.timing && k !== null && k > 0 ||
            op.op === "read1" && k !== null && k > 0
          ? await withTimeout(
            callBySize(f, op, k!, unbuffered),
            STEP_MS,
            `${op.op} by size`,
          )
          : await withTimeout(call(f, op, binary), STEP_MS, op.op);
        got = val(v);
      } catch (e) {
        if (e instanceof Error && /did not settle/.test(e.message)) {
          assert.fail(
            `op ${i} ${op.op}(${show(op.arg)}) hung (python3: ${
              show(expect)
            }); ${where}`,
          );
        }
        got = errVal(e);
      }
      count(tally, `op ${op.op}${"e" in got ? " raised " + got.e : ""}`);
      // Bytes that do not decode strictly fail the read whose chunk holds
      // them: which read that is depends on how much each file read ahead,
      // and which bytes it drops differs (README). From there on, reads are
      // not compared.
      // (An encoding-only handler, xmlcharrefreplace, fails as TypeError
      // there, and an unknown one as LookupError.)
      const decodeError = (v: Val) =>
        "e" in v && (v.e === "UnicodeDecodeError" ||
          v.e === "TypeError" && v.m.startsWith("don't know how to handle") ||
          v.e === "LookupError" && v.m.startsWith("unknown error handler"));
      if (!want.valid && (decodeError(expect) || decodeError(got))) {
        diverged = true;
        count(tally, "strict decoding failed");
        continue;
      }
      // CPython's BufferedRWPair closes the shared SocketIO through its
      // writer, so its reader keeps its buffer and hands out what it read
      // ahead after close() (readline, read(n)); this module's raises
      // ValueError, as CPython's "rb" file does. Reads stop being compared.
      if (
        closedByOp && binary && reading && writing && READS.includes(op.op) &&
        "e" in got && got.e === "ValueError" &&
        (!("e" in expect) || expect.m !== got.m)
      ) {
        diverged = true;
        count(tally, "rwb read after close: CPython's reads its buffer");
        continue;
      }
      if (op.op === "close") closedByOp = true;
      if (!same(got, expect)) {
        assert.fail(
          `op ${i} ${op.op}(${show(op.arg)}): ${show(got)}, python3 ${
            show(expect)
          }; ${where}`,
        );
      }
      if (writing) {
        const have = await rx.upTo(want.counts[i]);
        if (have !== want.counts[i]) {
          assert.fail(
            `after op ${i} ${op.op}: the peer has ${have} bytes, under python3 ${
              want.counts[i]
            }; ${where}`,
          );
        }
      }
    }
    await withTimeout(sending, STEP_MS, "the sender");
    for (const [j, step] of c.closing.entries()) {
      const expect = want.closing[j];
      let got: unknown[];
      try {
        if (step === "sock") {
          sock.close();
          got = ["sock", sock.fileno() < 0 ? sock.fileno() : "fd"];
        } else if (step === "file2") {
          await withTimeout(f2!.close(), STEP_MS, "second file close");
          got = ["file2", f2!.closed];
        } else if (step === "file") {
          await withTimeout(f.close(), STEP_MS, "file close");
          got = ["file", f.closed];
        } else if (step === "name" && reading && writing) {
          // CPython's BufferedRWPair has no fileno() (UnsupportedOperation)
          // and no name; this module's "rw" files give the socket's.
          continue;
        } else if (step === "name") {
          const fd = f.fileno();
          got = ["name", fd < 0 ? fd : "fd", f.name < 0 ? f.name : "fd"];
        } else if (step === "write") {
          await withTimeout(
            (f.write as (x: unknown) => Promise<number>)(
              binary ? new Uint8Array([0x5a]) : "Z",
            ),
            STEP_MS,
            "write",
          );
          await withTimeout(f.flush(), STEP_MS, "flush");
          got = ["write", "ok"];
        } else if (step === "read") {
          // Reads after an op's close(): see the rwb case above.
          if (diverged || closedByOp && binary) continue;
          got = ["read", val(await withTimeout(f.read(), STEP_MS, "read"))];
        } else {
          // Once the peer has what python3's had by now.
          const state = await rx.probe(Number(expect?.[2] ?? 0));
          got = ["probe", state, rx.got.length];
        }
      } catch (e) {
        got = [step, errVal(e)];
      }
      count(
        tally,
        `closing ${step}${
          step === "probe"
            ? ` ${got[1]}`
            : "e" in Object(got[1])
            ? " raised"
            : ""
        }`,
      );
      if (!same(got, expect)) {
        assert.fail(
          `closing step ${j} ${step}: ${show(got)}, python3 ${
            show(expect)
          } (steps ${c.closing.join(" ")}); ${where}`,
        );
      }
    }
    await rx.upTo(unhex(want.got).length);
    if (!diverged && hex(new Uint8Array(rx.got)) !== want.got) {
      assert.fail(
        `the peer received ${rx.got.length} bytes ${
          show(hex(new Uint8Array(rx.got)))
        }, python3's ${want.got.length / 2} ${show(want.got)}; ${where}`,
      );
    }
  } finally {
    try {
      await withTimeout(f.close(), STEP_MS, "file close");
      await f2?.close();
    } catch {
      // Checked above where it counts.
    }
    sock.close();
    peer.close();
    await withTimeout(sending.catch(() => {}), STEP_MS, "the sender");
  }
}

const noPython = hasPython ? null : "no python3";

for (const [i, [fb, pb]] of BACKEND_PAIRS.entries()) {
  const reason = noPython ?? unavailable(fb) ?? unavailable(pb);
  Deno.test({
    name: skipNote(
      `${fb}: makefile() files, call for call as python3's, over random modes, buffering, codecs, newlines and packets from a ${pb} peer`,
      reason,
    ),
    ignore: reason !== null,
    fn: async () => {
      const seed = (STREAMS_SEED + i) >>> 0;
      const tally: Tally = {};
      await using py = pythonFed(PY_RUNNER);
      await seededRounds({
        what: `makefile ${fb} file, ${pb} peer`,
        rounds: ROUNDS,
        boundMs: BOUND_MS,
        tally,
        round: (n) => round(py, fb, pb, seed, n, tally),
      });
      if (STREAMS_ROUND !== null) return;
    },
  });
}

// ------------------------------------------------------------- timeouts

/** Rounds per pairing of the timeout run. */
const TIMEOUT_ROUNDS = roundsFrom("MAKEFILE_TIMEOUT_ROUNDS", 4);

interface TimeoutCase {
  mode: string;
  buffering: number;
  kw: Case["kw"];
  /** Complete lines, then the part of one, sent at once. */
  first: string;
  /** How many lines are read before the timeout. */
  lines: number;
  /** The rest, sent after the pause. */
  rest: string;
  /** The call that times out. */
  op: Op;
}

interface TimeoutResult {
  pre: Val[];
  timed: Val;
  /** What python3's next read does (it refuses: README). */
  next: Val;
  /** The whole stream, read with no timeout. */
  full: Val;
}

// The socket's timeout, and the peer's pause before the rest.
const TIMEOUT_S = 0.05;
const PAUSE_MS = 300;

const PY_TIMEOUTS = PY_COMMON + String.raw`
def call(f, op):
    name, arg = op["op"], op.get("arg")
    try:
        if name == "read":
            return enc(f.read(arg))
        if name == "readline":
            return enc(f.readline())
        if name == "readlines":
            return enc(f.readlines())
        if name == "readinto":
            b = bytearray(arg); n = f.readinto(b); return enc([n, bytes(b[:n])])
    except Exception as e:
        return err(e)

out = []
cases, timeout, pause = json.load(sys.stdin)
for c in cases:
    first, rest = bytes.fromhex(c["first"]), bytes.fromhex(c["rest"])
    a, peer = socket.socketpair()
    f = a.makefile(c["mode"], c["buffering"], **c["kw"])
    def send():
        peer.sendall(first); time.sleep(pause / 1000); peer.sendall(rest)
        peer.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send); t.start()
    pre = [enc(f.readline()) for _ in range(c["lines"])]
    a.settimeout(timeout)
    timed = call(f, c["op"])
    a.settimeout(None)
    time.sleep(pause / 1000 + 0.05)
    nxt = call(f, {"op": "read", "arg": -1})
    t.join(); f.close(); a.close(); peer.close()
    a, peer = socket.socketpair()
    peer.sendall(first + rest); peer.shutdown(socket.SHUT_WR)
    f = a.makefile(c["mode"], c["buffering"], **c["kw"])
    full = enc(f.read())
    f.close(); a.close(); peer.close()
    out.append({"pre": pre, "timed": timed, "next": nxt, "full": full})
print(json.dumps(out))
`;

function genTimeoutCase(d: Dice): TimeoutCase {
  const binary = d.chance(0.5);
  const mode = binary ? d.pick(["rb", "rwb"]) : d.pick(["r", "rw"]);
  const buffering = binary
    ? d.pick([-1, 0, 1, 3, 16, 8192])
    : d.pick([-1, 1, 3, 16, 8192]);
  const kw: Case["kw"] = binary ? {} : {
    encoding: d.pick(["utf-8", "utf-8", "latin-1", "cp1252"]),
    errors: d.pick(["strict", "replace", "surrogateescape"]),
    newline: d.pick(NEWLINES),
  };
  const utf8 = binary || kw.encoding === "utf-8";
  const enc = (s: string) =>
    utf8
      ? new TextEncoder().encode(s)
      : Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff);
  const line = () => {
    let s = "";
    for (let i = d.int(8); i > 0; i--) {
      s += d.pick(["a", "bc", "x y", "é", ...(utf8 ? ["€", "😀"] : [])]);
    }
    return s;
  };
  const lines = d.int(3);
  let head = "";
  for (let i = 0; i < lines; i++) head += line() + "\n";
  // A line cut anywhere before its end (often in a character), so that
  // the timed call waits for the rest.
  const part = enc(line() + "\u00e9" + line());
  const cut = 1 + d.int(part.length);
  const first = concatBytes(enc(head), part.subarray(0, cut));
  const rest = concatBytes(part.subarray(cut), enc("\n" + line() + "\n"));
  const op: Op = d.pick<Op>([
    { op: "readline" },
    { op: "readlines" },
    { op: "read", arg: -1 },
    { op: "read", arg: 1000 },
    ...(binary ? [{ op: "readinto", arg: 1000 }] : []),
  ]);
  return { mode, buffering, kw, first: hex(first), lines, rest: hex(rest), op };
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function timeoutRound(
  c: TimeoutCase,
  want: TimeoutResult,
  fb: BackendName,
  pb: BackendName,
  tally: Tally,
): Promise<void> {
  const where = `case ${show(c)}`;
  const binary = c.mode.includes("b");
  count(tally, `op ${c.op.op}`);
  count(tally, `python3 next ${"e" in want.next ? want.next.m : "read"}`);
  if (!("e" in want.timed) || want.timed.e !== "TimeoutError") {
    // python3's peer was late or early: nothing to compare with.
    count(tally, "python3 did not time out");
    return;
  }
  await using p = await connectedPair(fb, AF_INET, "path", pb);
  const sock = p.server;
  const peer = p.client;
  const args: unknown[] = [c.mode, c.buffering];
  if (!binary) args.push(c.kw);
  const f = (sock.makefile as (...a: unknown[]) => AnyFile)(...args);
  const sending = (async () => {
    await peer.sendall(unhex(c.first));
    await sleep(PAUSE_MS);
    await peer.sendall(unhex(c.rest));
    peer.shutdown(SHUT_WR);
  })();
  try {
    const pre: Val[] = [];
    for (let i = 0; i < c.lines; i++) {
      pre.push(val(await withTimeout(f.readline(), STEP_MS, "readline")));
    }
    if (!same(pre, want.pre)) {
      assert.fail(
        `lines before: ${show(pre)}, python3 ${show(want.pre)}; ${where}`,
      );
    }
    sock.settimeout(TIMEOUT_S);
    let timed: Val;
    try {
      timed = val(await withTimeout(call(f, c.op, binary), STEP_MS, c.op.op));
    } catch (e) {
      timed = errVal(e);
    }
    if (!same(timed, want.timed)) {
      count(tally, "no timeout here");
      // This side's peer was late or early: nothing is lost all the same.
      if ("e" in timed) {
        assert.fail(
          `${c.op.op}: ${show(timed)}, python3 ${show(want.timed)}; ${where}`,
        );
      }
    } else count(tally, "TimeoutError as python3's");
    sock.settimeout(null);
    await withTimeout(sending, STEP_MS, "the sender");
    const rest = await withTimeout(f.read(), STEP_MS, "read() after");
    // Nothing lost: what came before the timeout, what the timed call
    // returned if it did, and the rest make the whole stream.
    const parts: unknown[] = [
      ...pre.map((v) => "b" in v ? v.b : "s" in v ? v.s : ""),
    ];
    if (!("e" in timed)) parts.push(flat(timed));
    parts.push(binary ? hex(rest as Uint8Array) : rest);
    const whole = parts.join("");
    const full = "b" in want.full
      ? want.full.b
      : "s" in want.full
      ? want.full.s
      : "";
    if (whole !== full) {
      assert.fail(
        `after the timeout: ${show(whole)}, the stream is ${
          show(full)
        }; ${where}`,
      );
    }
  } finally {
    await f.close();
    sock.close();
    peer.close();
    await withTimeout(sending.catch(() => {}), STEP_MS, "the sender");
  }
}

// A read's value as one string (hex for bytes).
function flat(v: Val): string {
  if ("b" in v) return v.b;
  if ("s" in v) return v.s;
  if ("l" in v) {
    // readinto's [n, bytes] or readlines' lines.
    const items = v.l;
    if (items.length === 2 && "v" in items[0] && "b" in items[1]) {
      return items[1].b;
    }
    return items.map(flat).join("");
  }
  return "";
}

for (const [i, [fb, pb]] of BACKEND_PAIRS.entries()) {
  const reason = noPython ?? unavailable(fb) ?? unavailable(pb);
  Deno.test({
    name: skipNote(
      `${fb}: a makefile() read that times out raises TimeoutError as python3's, and the next read goes on with nothing lost (python3's refuses), from a ${pb} peer`,
      reason,
    ),
    ignore: reason !== null,
    fn: async () => {
      const seed = (STREAMS_SEED + 100 + i) >>> 0;
      const tally: Tally = {};
      const cases = Array.from(
        { length: TIMEOUT_ROUNDS },
        (_, n) =>
          STREAMS_ROUND === null || STREAMS_ROUND === n
            ? genTimeoutCase(new Dice(seedOf(seed, n, 0)))
            : null,
      );
      const wanted = await withTimeout(
        pythonJson(PY_TIMEOUTS, [
          cases.filter((c) => c !== null),
          TIMEOUT_S,
          PAUSE_MS,
        ]),
        PY_START_MS + TIMEOUT_ROUNDS * 2000,
        "python3",
      ) as TimeoutResult[];
      const byRound = new Map<number, TimeoutResult>();
      let k = 0;
      cases.forEach((c, n) => {
        if (c !== null) byRound.set(n, wanted[k++]);
      });
      await seededRounds({
        what: `makefile timeouts, ${fb} file, ${pb} peer`,
        rounds: TIMEOUT_ROUNDS,
        boundMs: 30_000,
        tally,
        round: (n) => timeoutRound(cases[n]!, byRound.get(n)!, fb, pb, tally),
      });
    },
  });
}

// The module-level lookups and conversions, the differential run:
// getaddrinfo(), getnameinfo(), gethostbyname(), gethostbyname_ex(),
// gethostbyaddr(), inet_aton(), inet_pton(), inet_ntop(), inet_ntoa(),
// htons()/ntohs()/htonl()/ntohl(), getservbyname(), getservbyport(),
// CMSG_LEN() and CMSG_SPACE() against CPython's own, call for call. Each
// round draws a batch of calls: hosts near the numeric forms glibc reads
// (inet_aton's dotted parts in decimal, octal and hex, IPv6 with and
// without an embedded IPv4 and a %scope, junk, spaces, trailing dots) and
// non-ASCII names for Python's idna codec (nameprep's folds, prohibited
// characters and bidi rule, lone surrogates, long labels),
// ports as numbers, decimal strings, bytes, service names and junk (lone
// surrogates, a NUL), every family,
// type and protocol of glibc's table and a few it does not have, and AI_* /
// NI_* flags OR-ed at random (bits glibc does not know among them).
// python3 runs the batch first; then this module, and every call's result
// must be python3's: the value (enums as their numbers), or the
// exception's class, errno and message.
// No name reaches a resolver but "localhost" (from /etc/hosts): any other
// host given to getaddrinfo() carries AI_NUMERICHOST, getnameinfo() asks
// for NI_NUMERICHOST unless the address is loopback's, and
// gethostbyname*()/gethostbyaddr() take only numeric hosts from a fixed
// list (their lookups have no such flag).
// Left out, as JavaScript or CPython quirks: floats with no fraction (a
// JavaScript number cannot tell 80.0 from 80), integers past 2**53, and
// herror's errno from gethostbyname_ex(), which CPython reads from glibc's
// global h_errno that the numeric path never sets (so it is the previous
// call's); its class is compared.
// About 25 s (45 s at most). STREAMS_SEED replays a run's choices; with it,
// STREAMS_ROUND=n runs round n alone. RESOLVE_ROUNDS sets the rounds.
import assert from "node:assert/strict";
import * as mod from "../../mod.ts";
import { skipNote } from "../_helpers.ts";
import { hasPython, pythonJson } from "../_python.ts";
import {
  count,
  Dice,
  roundsFrom,
  seededRounds,
  seedOf,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

const ROUNDS = roundsFrom("RESOLVE_ROUNDS", 30);
const CALLS = 120;

const AI_NUMERICHOST = 4;
const NI_NUMERICHOST = 1;

// Arguments travel as JSON; bytes as {"$b": hex} (Python decodes them).
type Arg = string | number | boolean | null | Arg[] | { $b: string };
interface Call {
  fn: string;
  args: Arg[];
}

const PY_RUNNER = `
import json, socket, sys, enum
def dec(v):
    if isinstance(v, dict): return bytes.fromhex(v["$b"])
    if isinstance(v, list): return tuple(dec(x) for x in v)
    return v
def enc(v):
    if isinstance(v, (bytes, bytearray)): return {"$b": bytes(v).hex()}
    if isinstance(v, bool): return v
    if isinstance(v, enum.Enum): return int(v)
    if isinstance(v, (list, tuple)): return [enc(x) for x in v]
    return v
out = []
for c in json.load(sys.stdin):
    try:
        out.append({"ok": enc(getattr(socket, c["fn"])(*[dec(a) for a in c["args"]]))})
    except Exception as e:
        d = {"err": type(e).__name__, "msg": str(e)}
        if isinstance(e, OSError): d["errno"] = e.errno
        out.append(d)
print(json.dumps(out))
`;

function decode(v: Arg): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === "object") {
    return new Uint8Array(
      (v.$b.match(/../g) ?? []).map((h) => parseInt(h, 16)),
    );
  }
  return v;
}

function encode(v: unknown): unknown {
  if (v instanceof Uint8Array) {
    return {
      $b: Array.from(v, (b) => b.toString(16).padStart(2, "0")).join(""),
    };
  }
  if (Array.isArray(v)) return v.map(encode);
  return v === undefined ? null : v;
}

async function ours(call: Call): Promise<unknown> {
  const fn = (mod as unknown as Record<string, (...a: unknown[]) => unknown>)[
    call.fn
  ];
  try {
    return { ok: encode(await fn(...call.args.map(decode))) };
  } catch (e) {
    const err = e as Error;
    const out: Record<string, unknown> = {
      err: err.constructor.name,
      msg: err.message,
    };
    if (e instanceof mod.OSError) out.errno = e.errno;
    return out;
  }
}

// ------------------------------------------------------------ the calls

const V4_PARTS = [
  "0",
  "1",
  "127",
  "255",
  "256",
  "0x7f",
  "0X1f",
  "077",
  "08",
  "0x",
  "4294967295",
  "65535",
  "16777215",
  "00",
  "1a",
  "-1",
  "+1",
  " 1",
  "",
];
const V6_GROUPS = [
  "",
  "0",
  "1",
  "ffff",
  "FFFF",
  "fe80",
  "ff02",
  "12345",
  "g",
  "0000",
  "1.2.3.4",
  "127.0.0.1",
];
const SCOPES = ["", "", "", "%1", "%lo", "%0", "%4294967296", "%", "%-1"];

// Pieces of non-ASCII names for Python's idna codec: case folds, NFKC,
// what Unicode 3.2 did not assign, prohibited characters (lone surrogates
// among them), right-to-left letters and digits for the bidi rule, the
// ideographic full stop, the ACE prefix.
const IDNA_PIECES = [
  "a",
  "1",
  "-",
  ".",
  "\u3002",
  "xn--",
  "\u00fc",
  "\u00df",
  "\u03a3",
  "\u0130",
  "\ufb01",
  "\u211c",
  "\u3384",
  "\u1d3e",
  "\u321e",
  "\u00ad",
  "\u200b",
  "\u0340",
  "\u3000",
  "\u05d0",
  "\u0627",
  "\u0660",
  "\u200e",
  "\ue000",
  "\ufffd",
  "\uffff",
  "\u2ff0",
  "\u0080",
  "\ud800",
  "\udc80",
  "\u{1d400}",
  "\u{e0001}",
];

// Blocks whose characters python3 (3.11: Unicode 14) and Deno's
// JavaScript see alike (no code point a later Unicode assigned): Latin,
// Greek, Cyrillic, Hebrew, Arabic, punctuation, letterlike symbols, CJK
// symbols and squares, ideographs, Hangul, private use, presentation forms,
// fullwidth forms, mathematical letters, tags.
const IDNA_BLOCKS: [number, number][] = [
  [0x80, 0x21f],
  [0x370, 0x3ce],
  [0x400, 0x486],
  [0x5d0, 0x5ea],
  [0x621, 0x63a],
  [0x660, 0x669],
  [0x1e00, 0x1e9b],
  [0x2000, 0x2046],
  [0x2100, 0x213a],
  [0x3000, 0x303a],
  [0x3300, 0x33fe],
  [0x4e00, 0x9fa5],
  [0xac00, 0xd7a3],
  [0xe000, 0xf8ff],
  [0xfb00, 0xfb06],
  [0xfe70, 0xfefc],
  [0xff01, 0xffbe],
  [0x1d400, 0x1d454],
  [0xe0000, 0xe007f],
];

function idnaHost(d: Dice): string {
  let host = "";
  for (let n = 1 + d.int(6); n > 0; n--) {
    const [first, last] = d.pick(IDNA_BLOCKS);
    host += d.chance(0.15)
      ? String.fromCodePoint(first + d.int(last - first + 1))
      : d.pick(IDNA_PIECES);
  }
  return d.chance(0.05) ? host.repeat(20) : host;
}

function randomHost(d: Dice): string {
  if (d.chance(0.1)) return idnaHost(d);
  if (d.chance(0.45)) {
    const parts = Array.from(
      { length: 1 + d.int(5) },
      () => d.pick(V4_PARTS),
    );
    return parts.join(".") + d.pick(["", "", "", " ", ".", "%1", "\n"]);
  }
  const groups = Array.from(
    { length: 1 + d.int(9) },
    () => d.pick(V6_GROUPS),
  );
  return groups.join(":") + d.pick(SCOPES);
}

// Numeric hosts (by glibc's reading) and loopback's names only: these
// functions have no flag that keeps a name from the resolver.
const BYNAME_HOSTS = [
  "localhost",
  "LOCALHOST",
  "127.0.0.1",
  "127.1",
  "0x7f.1",
  "0",
  "1.2.3",
  "4294967295",
  "01.2.3.4",
  "127.0.0.01",
  "0.0.0.0",
  "",
  "<broadcast>",
  "255.255.255.255",
  "::1",
  "::",
  "::ffff:127.0.0.1",
  "::FFFF:7f00:1",
  "::ffff:1.2.3.4%1",
  "fe80::1%1",
  "::ffff:127.0.0.1%lo",
  "a\0b",
];
const BYADDR_HOSTS = ["127.0.0.1", "::1", "localhost", "127.1", "a\0b"];

const PORTS: Arg[] = [
  null,
  0,
  1,
  80,
  65535,
  65536,
  -1,
  2 ** 31,
  -(2 ** 31),
  "0",
  "80",
  " 80",
  "80x",
  "http",
  "domain",
  "",
  "-0",
  "+0",
  "65536",
  "4294967296",
  "18446744073709551616",
  "00080",
  "\uff11",
  "\ud800",
  "8\udc80",
  "80\0x",
  { $b: "3830" },
  { $b: "68747470" },
];

function flags(d: Dice, bits: readonly number[], p: number): number {
  let f = 0;
  for (const b of bits) if (d.chance(p)) f |= b;
  return d.chance(0.02) ? -1 : f;
}

function getaddrinfoCall(d: Dice): Call {
  const host = d.chance(0.1)
    ? null
    : d.chance(0.06)
    ? "localhost"
    : randomHost(d);
  let f = flags(d, [1, 2, 4, 8, 16, 32, 1024, 0x40, 0x80, 0x800], 0.15);
  if (host !== null && host !== "localhost" && f !== -1) f |= AI_NUMERICHOST;
  return {
    fn: "getaddrinfo",
    args: [
      host,
      d.pick(PORTS),
      d.pick([0, 0, 2, 10, 1, 99]),
      d.pick([0, 0, 1, 2, 3, 4, 5, 6]),
      d.pick([0, 0, 6, 17, 132, 33, 136, 255]),
      f,
    ],
  };
}

function getnameinfoCall(d: Dice): Call {
  const loopback = d.chance(0.2);
  const host = loopback ? d.pick(["127.0.0.1", "::1"]) : randomHost(d);
  const sa: Arg[] = [host, d.pick([0, 22, 53, 80, 65535, -1, 65536, 2 ** 31])];
  if (d.chance(0.5)) sa.push(d.pick([0, 1, 1048575, 1048576, -1]));
  if (sa.length === 3 && d.chance(0.4)) {
    sa.push(d.pick([0, 1, 2, 99, 2 ** 32 - 1, 2 ** 32, -1]));
  }
  let f = flags(d, [1, 2, 4, 8, 16, 0x20, 0x100], 0.3);
  if (!loopback && f !== -1) f |= NI_NUMERICHOST;
  return { fn: "getnameinfo", args: [sa, f] };
}

function packed(d: Dice): Arg {
  const n = d.pick([0, 3, 4, 5, 15, 16, 17]);
  const bytes = Array.from(
    { length: n },
    () => d.chance(0.6) ? 0 : d.pick([1, 0xff, 0x80, 0xfe, 0x7f]),
  );
  if (n === 16 && d.chance(0.3)) bytes[10] = bytes[11] = 0xff;
  return {
    $b: bytes.map((b) => b.toString(16).padStart(2, "0")).join(""),
  };
}

const INTS = [0, 1, 255, 256, 65535, 65536, -1, 2 ** 31, 2 ** 32 - 1, 2 ** 32];

function call(d: Dice): Call {
  switch (d.int(12)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return getaddrinfoCall(d);
    case 4:
    case 5:
      return getnameinfoCall(d);
    case 6:
      return {
        fn: d.pick(["gethostbyname", "gethostbyname_ex"]),
        args: [d.pick(BYNAME_HOSTS)],
      };
    case 7:
      return d.chance(0.2)
        ? { fn: "gethostbyaddr", args: [d.pick(BYADDR_HOSTS)] }
        : { fn: "inet_aton", args: [randomHost(d)] };
    case 8:
      return {
        fn: "inet_pton",
        args: [d.pick([2, 10, 2, 10, 1, 99]), randomHost(d)],
      };
    case 9:
      return d.chance(0.5)
        ? { fn: "inet_ntop", args: [d.pick([2, 10, 2, 10, 0, 99]), packed(d)] }
        : { fn: "inet_ntoa", args: [packed(d)] };
    case 10:
      return {
        fn: d.pick([
          "htons",
          "ntohs",
          "htonl",
          "ntohl",
          "CMSG_LEN",
          "CMSG_SPACE",
        ]),
        args: [d.pick(INTS)],
      };
    default:
      return d.chance(0.5)
        ? {
          fn: "getservbyname",
          args: [
            d.pick([
              "http",
              "domain",
              "ssh",
              "HTTP",
              "www",
              "nope",
              "",
              "\ud800",
            ]),
            ...(d.chance(0.7)
              ? [d.pick(["tcp", "udp", "sctp", "x", "", "t\udc80"])]
              : []),
          ],
        }
        : {
          fn: "getservbyport",
          args: [
            d.pick([0, 7, 22, 53, 80, 443, 65535, 65536, -1]),
            ...(d.chance(0.7)
              ? [d.pick(["tcp", "udp", "sctp", "x", "\ud800"])]
              : []),
          ],
        };
  }
}

// ------------------------------------------------------------ the run

async function round(seed: number, n: number, tally: Tally): Promise<void> {
  const d = new Dice(seedOf(seed, n, 0));
  const calls = Array.from({ length: CALLS }, () => call(d));
  const python = await pythonJson(PY_RUNNER, calls) as Record<
    string,
    unknown
  >[];
  for (const [i, c] of calls.entries()) {
    const want = python[i];
    const got = await ours(c) as Record<string, unknown>;
    if (c.fn === "gethostbyname_ex" && want.err === "herror") {
      delete want.errno;
      delete want.msg;
      delete got.errno;
      delete got.msg;
    }
    assert.deepEqual(
      got,
      want,
      `${c.fn}(${JSON.stringify(c.args).slice(1, -1)})`,
    );
    count(tally, `${c.fn} ${"ok" in want ? "ok" : String(want.err)}`);
  }
}

const reason = hasPython ? null : "no python3";
Deno.test({
  name: skipNote(
    "getaddrinfo/getnameinfo/gethostbyname*/inet_*/hton*/getserv*/CMSG_* call for call as python3's over random hosts, ports, families, types, protocols and flags",
    reason,
  ),
  ignore: reason !== null,
  fn: async () => {
    const tally: Tally = {};
    await seededRounds({
      what: "resolve",
      rounds: ROUNDS,
      boundMs: 45_000,
      tally,
      round: (n) => round(STREAMS_SEED, n, tally),
    });
  },
});

/**
 * The text codecs of `Socket.makefile()`'s text files: UTF-8, ASCII,
 * Latin-1 and Python's other single-byte codecs (cp1252, iso8859-15,
 * koi8-r, the EBCDIC ones, ...: their tables in _charmaps.ts, generated from
 * CPython) with Python's error handlers (`strict`, `replace`, `ignore`,
 * `surrogateescape`, `backslashreplace`, `surrogatepass`, and on encoding
 * also `xmlcharrefreplace`), incremental so that a character
 * split across two packets decodes whole, and the errors Python raises
 * (`UnicodeDecodeError`, `UnicodeEncodeError`, `LookupError`).
 *
 * UTF-8 goes through the platform's TextDecoder/TextEncoder; only input with
 * an error takes the slow path that applies the handler, byte for byte as
 * CPython 3.11's codec does (one replacement per maximal invalid subpart).
 *
 * @example Decode a character split across two packets
 * ```ts
 * import { lookupCodec } from "./_codecs.ts";
 * import assert from "node:assert/strict";
 *
 * const dec = lookupCodec("utf-8").decoder("strict");
 * assert.equal(dec.decode(new Uint8Array([0x68, 0xe2, 0x82]), false), "h");
 * assert.equal(dec.decode(new Uint8Array([0xac]), false), "€");
 * ```
 *
 * @module
 */
import {
  LookupError,
  UnicodeDecodeError,
  UnicodeEncodeError,
} from "./errors.ts";
import { charEscape } from "./_repr.ts";
import { CHARMAPS, NOT_TEXT, UNSUPPORTED } from "./_charmaps.ts";

export { LookupError } from "./errors.ts";

export {
  UnicodeDecodeError,
  UnicodeEncodeError,
  UnicodeError,
} from "./errors.ts";

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}

function unknownHandler(errors: string): LookupError {
  return new LookupError(`unknown error handler name '${errors}'`);
}

/** An incremental decoder: bytes in, text out, state kept between calls. */
export interface Decoder {
  /**
   * Decode `input` after what the previous call held back. With `final`
   * false, an incomplete character at the end waits for the next call;
   * with `final` true it is an error.
   */
  decode(input: Uint8Array, final: boolean): string;
}

/** One codec: its Python name, an incremental decoder and an encoder. */
export interface Codec {
  /** The codec's canonical name, as Python's messages give it (`utf-8`). */
  readonly name: string;
  /** A fresh incremental decoder applying `errors`. */
  decoder(errors: string): Decoder;
  /** Encode `text`, applying `errors`. */
  encode(text: string, errors: string): Uint8Array<ArrayBuffer>;
  /** What a stream written with this codec starts with (utf-8-sig's BOM). */
  readonly bom?: Uint8Array;
}

// What a decode error handler puts in place of bytes [start, end).
function decodeReplacement(
  codec: string,
  errors: string,
  bytes: Uint8Array,
  start: number,
  end: number,
  reason: string,
): string {
  switch (errors) {
    case "strict":
      throw new UnicodeDecodeError(
        codec,
        bytes.slice(),
        start,
        end,
        reason,
      );
    case "replace":
      return "\ufffd";
    case "ignore":
      return "";
    case "surrogateescape": {
      let s = "";
      for (let i = start; i < end; i++) {
        if (bytes[i] < 0x80) {
          throw new UnicodeDecodeError(codec, bytes.slice(), i, i + 1, reason);
        }
        s += String.fromCharCode(0xdc00 + bytes[i]);
      }
      return s;
    }
    case "backslashreplace": {
      let s = "";
      for (let i = start; i < end; i++) s += `\\x${hex2(bytes[i])}`;
      return s;
    }
    case "xmlcharrefreplace":
    case "namereplace":
      // Encoding's handlers, as Python says when decoding meets them.
      throw new TypeError(
        "don't know how to handle UnicodeDecodeError in error callback",
      );
    default:
      throw unknownHandler(errors);
  }
}

// ------------------------------------------------------------------ UTF-8

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

// The second byte's range after lead byte b (RFC 3629's table); later
// continuation bytes are always 0x80-0xBF.
function secondLow(b: number): number {
  return b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
}
function secondHigh(b: number): number {
  return b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
}
function seqLength(b: number): number {
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

// Where a valid-so-far but incomplete sequence starts at the end of
// bytes[0, end), or `end` when the bytes end on a whole character (or on an
// error, which the decoder reports now rather than later, as Python's does).
function incompleteTail(bytes: Uint8Array, end: number): number {
  for (let k = 1; k <= 3 && k <= end; k++) {
    const b = bytes[end - k];
    if ((b & 0xc0) === 0x80) continue;
    const need = seqLength(b);
    if (need <= k) return end;
    // A lead byte with k - 1 bytes after it: incomplete if they are valid.
    // As CPython's, a truncated surrogate (0xED then 0xA0-0xBF) waits too:
    // surrogatepass may take it whole once its third byte comes.
    if (k >= 2) {
      const c = bytes[end - k + 1];
      const surrogate = k === 2 && b === 0xed && c >= 0xa0 && c <= 0xbf;
      if (!surrogate && (c < secondLow(b) || c > secondHigh(b))) return end;
    }
    return end - k;
  }
  return end;
}

// The surrogate (U+D800-DFFF) whose three-byte form starts at bytes[i], or
// -1: what surrogatepass decodes.
function surrogateAt(bytes: Uint8Array, i: number): number {
  const [a, b, c] = [bytes[i], bytes[i + 1], bytes[i + 2]];
  if ((a & 0xf0) !== 0xe0 || (b & 0xc0) !== 0x80 || (c & 0xc0) !== 0x80) {
    return -1;
  }
  const code = ((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (c & 0x3f);
  return isSurrogate(code) ? code : -1;
}

// Decode bytes[0, end) applying `errors`; every sequence is complete or an
// error (incompleteTail held back the rest), except with `final`. As
// CPython's, an error is told by all the input, the part held back too: a
// sequence cut by a byte held back is an invalid continuation, not an
// unexpected end, and the error's object is the whole input.
function utf8Slow(bytes: Uint8Array, end: number, errors: string): string {
  let out = "";
  let run = 0; // start of a run of plain ASCII copied in one go
  let i = 0;
  const flush = (to: number) => {
    if (to > run) out += fatalUtf8.decode(bytes.subarray(run, to));
  };
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    const need = seqLength(b);
    if (need === 0) {
      flush(i);
      out += decodeReplacement(
        "utf-8",
        errors === "surrogatepass" ? "strict" : errors,
        bytes,
        i,
        i + 1,
        "invalid start byte",
      );
      run = ++i;
      continue;
    }
    let j = i + 1;
    let bad: string | null = null;
    for (let k = 1; k < need; k++, j++) {
      if (j >= bytes.length) {
        bad = "unexpected end of data";
        break;
      }
      const c = bytes[j];
      const lo = k === 1 ? secondLow(b) : 0x80;
      const hi = k === 1 ? secondHigh(b) : 0xbf;
      if (c < lo || c > hi) {
        bad = "invalid continuation byte";
        break;
      }
    }
    if (bad === null) {
      i = j;
      continue;
    }
    flush(i);
    if (errors === "surrogatepass") {
      // CPython's handler: a surrogate's three bytes decode to it; any
      // other error raises, as strict.
      const c = i + 2 < end ? surrogateAt(bytes, i) : -1;
      if (c >= 0) {
        out += String.fromCharCode(c);
        run = i += 3;
        continue;
      }
    }
    out += decodeReplacement(
      "utf-8",
      errors === "surrogatepass" ? "strict" : errors,
      bytes,
      i,
      j,
      bad,
    );
    run = i = j;
  }
  flush(end);
  return out;
}

class Utf8Decoder implements Decoder {
  readonly #errors: string;
  #held: Uint8Array = new Uint8Array(0);

  constructor(errors: string) {
    this.#errors = errors;
  }

  decode(input: Uint8Array, final: boolean): string {
    let bytes = input;
    if (this.#held.length > 0) {
      bytes = new Uint8Array(this.#held.length + input.length);
      bytes.set(this.#held);
      bytes.set(input, this.#held.length);
    }
    const end = final ? bytes.length : incompleteTail(bytes, bytes.length);
    const held = end === bytes.length ? new Uint8Array(0) : bytes.slice(end);
    let out = "";
    if (end > 0) {
      const whole = end === bytes.length ? bytes : bytes.subarray(0, end);
      try {
        out = fatalUtf8.decode(whole);
      } catch {
        out = utf8Slow(bytes, end, this.#errors);
      }
    }
    // Only a call that decodes moves the state on, as Python's incremental
    // decoder: one that raises drops its input and keeps what was held
    // before it (so a cut sequence held at EOF raises again).
    this.#held = held;
    return out;
  }
}

function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

// UTF-8 of text that has lone surrogates (the only thing UTF-8 cannot
// encode), applying `errors` to each run of them.
function utf8EncodeSlow(text: string, errors: string): Uint8Array<ArrayBuffer> {
  const parts: (string | number[])[] = [];
  let plainFrom = 0;
  let cpIndex = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.codePointAt(i)!;
    const width = c > 0xffff ? 2 : 1;
    if (!isSurrogate(c)) {
      i += width;
      cpIndex++;
      continue;
    }
    // A run of lone surrogates: [i, j), code points [cpIndex, cpEnd).
    let j = i, cpEnd = cpIndex;
    while (j < text.length && isSurrogate(text.charCodeAt(j))) {
      const d = text.codePointAt(j)!;
      if (d > 0xffff) break; // a valid pair after the run
      j++;
      cpEnd++;
    }
    parts.push(text.slice(plainFrom, i));
    const bytes: number[] = [];
    for (let k = i; k < j; k++) {
      const s = text.charCodeAt(k);
      switch (errors) {
        case "strict":
          throw new UnicodeEncodeError(
            "utf-8",
            text,
            cpIndex,
            cpEnd,
            "surrogates not allowed",
            text.charCodeAt(i),
          );
        case "replace":
          bytes.push(0x3f);
          break;
        case "ignore":
          break;
        case "surrogateescape":
          // As CPython's: the escapes that lead the run are encoded, and
          // the error names the rest of the run, from the first that is not
          // one.
          if (s < 0xdc80 || s > 0xdcff) {
            throw new UnicodeEncodeError(
              "utf-8",
              text,
              cpIndex + (k - i),
              cpEnd,
              "surrogates not allowed",
              s,
            );
          }
          bytes.push(s - 0xdc00);
          break;
        case "surrogatepass":
          bytes.push(
            0xe0 | (s >> 12),
            0x80 | ((s >> 6) & 0x3f),
            0x80 | (s & 0x3f),
          );
          break;
        case "backslashreplace":
          for (const ch of charEscape(s)) bytes.push(ch.charCodeAt(0));
          break;
        case "xmlcharrefreplace":
          for (const ch of `&#${s};`) bytes.push(ch.charCodeAt(0));
          break;
        default:
          throw unknownHandler(errors);
      }
    }
    parts.push(bytes);
    plainFrom = i = j;
    cpIndex = cpEnd;
  }
  parts.push(text.slice(plainFrom));
  const chunks = parts.map((p) =>
    typeof p === "string" ? utf8Encoder.encode(p) : new Uint8Array(p)
  );
  return concat(chunks);
}

/** How many bytes `chunks` hold together. */
export function totalLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** `chunks` joined into one new array. */
export function concat(
  chunks: readonly Uint8Array[],
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(totalLength(chunks));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * `data` copied into `buffers` in order, as far as they hold it.
 *
 * @returns How many bytes were copied.
 */
export function scatter(
  data: Uint8Array,
  buffers: readonly Uint8Array[],
): number {
  let at = 0;
  for (const b of buffers) {
    if (at >= data.length) break;
    const n = Math.min(b.length, data.length - at);
    b.set(data.subarray(at, at + n));
    at += n;
  }
  return at;
}

/**
 * `text.encode("utf-8", errors)`, as Python's.
 *
 * @param text The text.
 * @param errors The error handler (`strict`, `surrogateescape`, ...).
 * @returns The bytes.
 * @throws {UnicodeEncodeError} A lone surrogate under `strict`, or one that
 *   is not an escape under `surrogateescape`: the error names the run.
 * @throws {LookupError} An unknown error handler, where one is needed.
 *
 * @example
 * ```ts
 * import { utf8Encode } from "./_codecs.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(utf8Encode("s\udcff", "surrogateescape"), new Uint8Array([0x73, 0xff]));
 * ```
 */
export function utf8Encode(
  text: string,
  errors: string,
): Uint8Array<ArrayBuffer> {
  if (text.isWellFormed()) return utf8Encoder.encode(text);
  return utf8EncodeSlow(text, errors);
}

const UTF8: Codec = {
  name: "utf-8",
  decoder: (errors) => new Utf8Decoder(errors),
  encode: utf8Encode,
};

const BOM_UTF8 = new Uint8Array([0xef, 0xbb, 0xbf]);

// utf-8-sig's decoder: UTF-8 that drops a BOM at the start. As CPython's,
// it decides only once three bytes are there: fewer that could begin a BOM
// wait, and are dropped at the end. As CPython's too, the call that decides
// has decided even if its bytes do not decode: what it held stays held, to
// be decoded as UTF-8, BOM or not, before the next call's bytes.
// What nothing held is (never written to).
const NOTHING = new Uint8Array(0);

class Utf8SigDecoder implements Decoder {
  readonly #inner: Decoder;
  #first = true;
  #held: Uint8Array = NOTHING;

  constructor(errors: string) {
    this.#inner = new Utf8Decoder(errors);
  }

  decode(input: Uint8Array, final: boolean): string {
    const bytes = this.#held.length > 0 ? concat([this.#held, input]) : input;
    if (!this.#first) {
      if (this.#held.length === 0) return this.#inner.decode(input, final);
      const out = this.#inner.decode(bytes, final);
      this.#held = NOTHING;
      return out;
    }
    if (bytes.length < 3 && bytes.every((b, i) => b === BOM_UTF8[i])) {
      this.#held = bytes.slice();
      return "";
    }
    this.#first = false;
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    const out = this.#inner.decode(bom ? bytes.subarray(3) : bytes, final);
    this.#held = NOTHING;
    return out;
  }
}

const UTF8_SIG: Codec = {
  name: "utf-8-sig",
  decoder: (errors) => new Utf8SigDecoder(errors),
  encode: UTF8.encode,
  bom: BOM_UTF8,
};

// ------------------------------------------------------- ASCII, Latin-1

const utf16le = new TextDecoder("utf-16le", { ignoreBOM: true });
// What a byte table holds for a byte with no character.
const UNDEFINED = 0xfffe;

// `codes[b]` for each byte of `bytes` (all below UNDEFINED).
function mapBytes(bytes: Uint8Array, codes: Uint16Array): string {
  const units = new Uint16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) units[i] = codes[bytes[i]];
  return utf16le.decode(units);
}

// A single-byte codec: `codes[b]` is byte b's UTF-16 code unit (UNDEFINED:
// none); the table back (see encodingTable) is made on first encode. Errors
// name the codec `errName`
// ("charmap" for the table-driven ones, as Python's do). `ucs1`: ASCII and
// Latin-1, whose surrogateescape encodes the escapes that lead a run that
// cannot be encoded before it raises for the rest (CPython's ucs1 encoder).
function byteCodec(
  name: string,
  errName: string,
  reason: string,
  codes: Uint16Array,
  ucs1: boolean,
): Codec {
  let bytes: Int16Array | null = null;
  return {
    name,
    decoder: (errors) => ({
      decode(input) {
        let out = "";
        let run = 0;
        for (let i = 0; i < input.length; i++) {
          if (codes[input[i]] !== UNDEFINED) continue;
          out += mapBytes(input.subarray(run, i), codes);
          // surrogatepass is for the UTF codecs: here it raises, as strict.
          const handler = errors === "surrogatepass" ? "strict" : errors;
          out += decodeReplacement(errName, handler, input, i, i + 1, reason);
          run = i + 1;
        }
        return out + mapBytes(input.subarray(run), codes);
      },
    }),
    encode(text, errors) {
      const table = bytes ??= encodingTable(codes);
      let out = new Uint8Array(text.length);
      let n = 0;
      const put = (b: number) => {
        if (n === out.length) {
          const more = new Uint8Array(out.length * 2 + 16);
          more.set(out);
          out = more;
        }
        out[n++] = b;
      };
      // `cp` counts code points, as Python's positions do.
      for (let i = 0, cp = 0; i < text.length;) {
        const b = table[text.charCodeAt(i)];
        if (b >= 0) {
          put(b);
          i++;
          cp++;
          continue;
        }
        // As CPython's: the handler gets the whole run that cannot be
        // encoded, and an error names it.
        const run: number[] = [];
        while (i < text.length) {
          const c = text.codePointAt(i)!;
          if (c <= 0xffff && table[c] >= 0) break;
          run.push(c);
          i += c > 0xffff ? 2 : 1;
        }
        const start = cp;
        cp += run.length;
        const fail = (from: number) =>
          new UnicodeEncodeError(
            errName,
            text,
            start + from,
            cp,
            reason,
            run[from],
          );
        if (errors === "surrogateescape") {
          const escape = (c: number) => c >= 0xdc80 && c <= 0xdcff;
          if (!ucs1 && !run.every(escape)) throw fail(0);
          for (let k = 0; k < run.length; k++) {
            if (!escape(run[k])) throw fail(k);
            put(run[k] - 0xdc00);
          }
          continue;
        }
        let rep = "";
        for (const c of run) {
          switch (errors) {
            case "strict":
            case "surrogatepass":
              throw fail(0);
            case "replace":
              rep += "?";
              break;
            case "ignore":
              break;
            case "backslashreplace":
              rep += charEscape(c);
              break;
            case "xmlcharrefreplace":
              rep += `&#${c};`;
              break;
            default:
              throw unknownHandler(errors);
          }
        }
        // The replacement goes through the codec too (ASCII everywhere but
        // in the EBCDIC codecs).
        for (let k = 0; k < rep.length; k++) {
          const r = table[rep.charCodeAt(k)];
          if (r < 0) throw fail(0);
          put(r);
        }
      }
      return out.slice(0, n);
    },
  };
}

// Each UTF-16 code unit's byte, from a decoding table: -1 where none (the
// last byte wins where two decode to one character, as in CPython's
// charmap_build).
function encodingTable(codes: Uint16Array): Int16Array {
  const table = new Int16Array(0x10000).fill(-1);
  for (let b = 0; b < 256; b++) {
    if (codes[b] !== UNDEFINED) table[codes[b]] = b;
  }
  return table;
}

// ASCII and Latin-1: code points below `limit` are the byte itself.
// Python calls Latin-1 "iso8859-1" (CodecInfo.name) and "latin-1" (errors).
function singleByte(name: string, errName: string, limit: number): Codec {
  const codes = new Uint16Array(256).map((_, b) => b < limit ? b : UNDEFINED);
  return byteCodec(
    name,
    errName,
    `ordinal not in range(${limit})`,
    codes,
    true,
  );
}

// One of Python's table-driven codecs (cp1252, koi8-r, iso8859-15, ...):
// its decoding table from _charmaps.ts (bytes below 0x80 as themselves
// where it holds only the upper half).
function charmap(name: string, table: string): Codec {
  const low = 256 - table.length;
  const codes = new Uint16Array(256);
  for (let b = 0; b < 256; b++) {
    codes[b] = b < low ? b : table.charCodeAt(b - low);
  }
  return byteCodec(
    name,
    "charmap",
    "character maps to <undefined>",
    codes,
    false,
  );
}

const ASCII = singleByte("ascii", "ascii", 0x80);
const LATIN1 = singleByte("iso8859-1", "latin-1", 0x100);

// Python's names for the three codecs, after encodings.normalize_encoding
// (lower case, punctuation to "_"). ("locale" is not one: TextIOWrapper
// takes that exact name for the locale's encoding, see openFile.)
const ALIASES: Record<string, Codec> = Object.create(null);
for (
  const name of [
    "utf_8",
    "utf8",
    "u8",
    "utf",
    "utf8_ucs2",
    "utf8_ucs4",
    "cp65001",
  ]
) ALIASES[name] = UTF8;
ALIASES["utf_8_sig"] = UTF8_SIG;
for (
  const name of [
    "ascii",
    "us_ascii",
    "646",
    "us",
    "ansi_x3.4_1968",
    "ansi_x3_4_1968",
    "ansi_x3.4_1986",
    "cp367",
    "csascii",
    "ibm367",
    "iso646_us",
    "iso_646.irv_1991",
    "iso_ir_6",
  ]
) ALIASES[name] = ASCII;
for (
  const name of [
    "latin_1",
    "latin1",
    "latin",
    "l1",
    "iso_8859_1",
    "iso8859_1",
    "8859",
    "cp819",
    "iso_ir_100",
    "csisolatin1",
    "iso_8859_1_1987",
    "ibm819",
  ]
) ALIASES[name] = LATIN1;

/**
 * The codec for a Python encoding name (`"utf-8"`, `"UTF8"`, `"latin-1"`,
 * `"ascii"`, `"cp1252"`, `"windows-1251"`, `"koi8_r"`, ... and their
 * aliases). The UTF-16/32 and multi-byte (CJK) codecs are not supported.
 *
 * @param encoding The name, any case, `-` or `_`.
 * @returns The codec.
 * @throws {LookupError} `unknown encoding: X` for a name Python does not
 *   know; a name Python knows but this module does not support says so.
 *
 * @example
 * ```ts
 * import { lookupCodec } from "./_codecs.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(lookupCodec("UTF8").name, "utf-8");
 * assert.equal(lookupCodec("latin-1").name, "iso8859-1");
 * assert.equal(lookupCodec("windows-1252").name, "cp1252");
 * ```
 */
export function lookupCodec(encoding: string): Codec {
  // encodings.normalize_encoding, after codecs.lookup's lower-casing.
  const key = encoding.toLowerCase().replace(/[^a-z0-9.]+/g, "_")
    .replace(/^_+|_+$/g, "");
  // An alias is also looked up with "." as "_"; a module name is not.
  const alias = key.replaceAll(".", "_");
  const codec = ALIASES[key] ?? ALIASES[alias] ?? lookupCharmap(key, alias);
  if (codec !== undefined) return codec;
  const known = (names: ReadonlySet<string>) =>
    names.has(key) || names.has(alias);
  if (known(NOT_TEXT)) {
    throw new LookupError(
      `'${encoding}' is not a text encoding; use codecs.open() to handle arbitrary codecs`,
    );
  }
  if (known(UNSUPPORTED)) {
    throw new LookupError(
      `unsupported encoding: ${encoding} (socket files support utf-8, utf-8-sig and Python's single-byte codecs: ascii, latin-1, cp1252, iso8859-15, koi8-r, ...)`,
    );
  }
  throw new LookupError(`unknown encoding: ${encoding}`);
}

// Each single-byte codec's module name by alias, and the codecs made so far
// by module name.
let charmapAliases: Map<string, string> | null = null;
const charmaps = new Map<string, Codec>();

// A single-byte codec of _charmaps.ts by alias or module name, as
// encodings.search_function finds it: an alias as written or with "." as
// "_" (`alias`), else a module of that name.
function lookupCharmap(key: string, alias: string): Codec | undefined {
  if (charmapAliases === null) {
    charmapAliases = new Map();
    for (const [module, [aliases]] of Object.entries(CHARMAPS)) {
      for (const alias of aliases) charmapAliases.set(alias, module);
    }
  }
  const module = charmapAliases.get(key) ?? charmapAliases.get(alias) ??
    (Object.hasOwn(CHARMAPS, key) ? key : undefined);
  if (module === undefined) return undefined;
  let codec = charmaps.get(module);
  if (codec === undefined) {
    // CodecInfo.name: the module's name, "_" as "-".
    codec = charmap(module.replaceAll("_", "-"), CHARMAPS[module][1]);
    charmaps.set(module, codec);
  }
  return codec;
}

/**
 * Python's `IncrementalNewlineDecoder` around a codec's decoder: holds a
 * trailing `\r` until the next call so that `\r\n` is never split, and with
 * `translate` turns `\r\n` and `\r` into `\n` (universal newlines).
 */
export class NewlineDecoder implements Decoder {
  readonly #inner: Decoder;
  readonly #translate: boolean;
  #pendingCR = false;

  /**
   * @param inner The codec's decoder.
   * @param translate Whether to turn `\r\n` and `\r` into `\n`.
   */
  constructor(inner: Decoder, translate: boolean) {
    this.#inner = inner;
    this.#translate = translate;
  }

  /** Decode as the inner decoder does, then apply the newline rules. */
  decode(input: Uint8Array, final: boolean): string {
    let out = this.#inner.decode(input, final);
    if (this.#pendingCR && (out.length > 0 || final)) {
      out = "\r" + out;
      this.#pendingCR = false;
    }
    if (!final && out.endsWith("\r")) {
      out = out.slice(0, -1);
      this.#pendingCR = true;
    }
    if (this.#translate && out.includes("\r")) {
      out = out.replace(/\r\n?/g, "\n");
    }
    return out;
  }
}

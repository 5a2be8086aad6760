// Python's "idna" codec (IDNA 2003, RFC 3490) for host names: CPython
// encodes a str host with it before the resolver sees it, so a bad label is
// a UnicodeError and a non-ASCII name reaches glibc as "xn--" labels.
import { UnicodeError } from "./_codecs.ts";
import { pyRepr } from "./_repr.ts";
import { ASSIGNED_3_2, FOLDS, L, PROHIBITED, RAND_AL } from "./_idna_tables.ts";

// The label separators RFC 3490 section 3.1 names.
const DOTS = /[.\u3002\uff0e\uff61]/;

// Nameprep's table B.1: code points mapped to nothing.
const MAPPED_OUT =
  /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/;

function fail(reason: string): UnicodeError {
  return new UnicodeError(
    `encoding with 'idna' codec failed (UnicodeError: ${reason})`,
  );
}

function isAscii(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /^[\x00-\x7f]*$/.test(s);
}

/**
 * A host as CPython's `str.encode("idna")` makes it: ASCII names unchanged
 * once each label's length is checked; other names label by label through
 * nameprep and Punycode.
 *
 * @param host The host name.
 * @returns The ASCII name.
 * @throws {UnicodeError} An empty label, or one of 64 characters or more.
 */
export function idnaEncode(host: string): string {
  if (host === "") return host;
  if (isAscii(host)) {
    const labels = host.split(".");
    const last = labels.pop()!;
    for (const label of labels) {
      if (label.length === 0 || label.length >= 64) {
        throw fail("label empty or too long");
      }
    }
    if (last.length >= 64) throw fail("label too long");
    return host;
  }
  const labels = host.split(DOTS);
  const trailing = labels.at(-1) === "" ? "." : "";
  if (trailing) labels.pop();
  return labels.map(toAscii).join(".") + trailing;
}

// RFC 3490's ToASCII with UseSTD3ASCIIRules off, as Python's.
function toAscii(label: string): string {
  if (!isAscii(label)) {
    label = nameprep(label);
    if (!isAscii(label)) {
      if (label.startsWith("xn--")) {
        throw fail("Label starts with ACE prefix");
      }
      label = "xn--" + punycode(label);
    }
  }
  if (label.length === 0 || label.length >= 64) {
    throw fail("label empty or too long");
  }
  return label;
}

// Nameprep (RFC 3491) as Python's: table B.1 mapped to nothing, table B.2
// (case folding), Unicode 3.2's NFKC, then the prohibited characters and
// the bidi rule (RFC 3454 section 6). The label is held as code points
// until the end: two lone surrogates that meet once B.1 drops what stood
// between them stay two (prohibited) characters, as in Python's str.
function nameprep(label: string): string {
  const folded: string[] = [];
  for (const c of label) {
    if (!MAPPED_OUT.test(c)) folded.push(...foldB2(c));
  }
  const chars = nfkc32(folded);
  const t = tables();
  for (const c of chars) {
    if (inRanges(t.prohibited, c)) {
      throw fail(`Invalid character ${pyRepr(c)}`);
    }
  }
  if (chars.some((c) => inRanges(t.randAl, c))) {
    if (chars.some((c) => inRanges(t.l, c))) {
      throw fail("Violation of BIDI requirement 2");
    }
    if (
      !inRanges(t.randAl, chars[0]) || !inRanges(t.randAl, chars.at(-1)!)
    ) {
      throw fail("Violation of BIDI requirement 3");
    }
  }
  return chars.join("");
}

// Table B.2 of one character, as code points: Python's
// stringprep.map_table_b2().
function foldB2(c: string): string[] {
  const fold = FOLDS[c.codePointAt(0)!];
  if (fold !== undefined) return Array.from(fold);
  const lower = Array.from(c.toLowerCase());
  const b = nfkc32(lower);
  const again = nfkc32(Array.from(b.join("").toLowerCase()));
  return b.join("") !== again.join("") ? again : lower;
}

// NFKC by Unicode 3.2's tables, as Python's ucd_3_2_0.normalize(), of code
// points: what Unicode 3.2 does not assign, and a lone surrogate, is a
// starter with no decomposition, so only the runs between such characters
// are normalized (by today's tables).
function nfkc32(chars: string[]): string[] {
  const { assigned } = tables();
  const out: string[] = [];
  let run = "";
  for (const c of chars) {
    const lone = c.length === 1 && c >= "\ud800" && c <= "\udfff";
    if (!lone && inRanges(assigned, c)) {
      run += c;
      continue;
    }
    out.push(...run.normalize("NFKC"), c);
    run = "";
  }
  out.push(...run.normalize("NFKC"));
  return out;
}

// The generated tables' "first-last" words as sorted [first, last] pairs.
function parseRanges(words: string): Uint32Array {
  const list = words.trim().split(/\s+/);
  const out = new Uint32Array(list.length * 2);
  list.forEach((w, i) => {
    const [a, b = a] = w.split("-");
    out[2 * i] = parseInt(a, 16);
    out[2 * i + 1] = parseInt(b, 16);
  });
  return out;
}

// Parsed when a non-ASCII label first needs them (about 2.6 ms), not on
// import: every importer of the module loads this file.
let sets: {
  readonly assigned: Uint32Array;
  readonly prohibited: Uint32Array;
  readonly randAl: Uint32Array;
  readonly l: Uint32Array;
} | null = null;

function tables(): NonNullable<typeof sets> {
  return sets ??= {
    assigned: parseRanges(ASSIGNED_3_2),
    prohibited: parseRanges(PROHIBITED),
    randAl: parseRanges(RAND_AL),
    l: parseRanges(L),
  };
}

function inRanges(ranges: Uint32Array, c: string): boolean {
  const cp = c.codePointAt(0)!;
  let lo = 0, hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ranges[2 * mid]) hi = mid - 1;
    else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

// Punycode (RFC 3492) of a label.
function punycode(label: string): string {
  const base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700;
  const points = Array.from(label, (c) => c.codePointAt(0)!);
  let out = points.filter((p) => p < 0x80).map((p) => String.fromCharCode(p))
    .join("");
  const basic = out.length;
  let handled = basic;
  if (basic > 0) out += "-";
  const digit = (d: number) => String.fromCharCode(d < 26 ? d + 97 : d + 22);
  const adapt = (delta: number, count: number, first: boolean) => {
    delta = first ? Math.floor(delta / damp) : delta >> 1;
    delta += Math.floor(delta / count);
    let k = 0;
    for (; delta > ((base - tMin) * tMax) >> 1; k += base) {
      delta = Math.floor(delta / (base - tMin));
    }
    return k + Math.floor((base - tMin + 1) * delta / (delta + skew));
  };
  let n = 0x80, delta = 0, bias = 72;
  while (handled < points.length) {
    const m = Math.min(...points.filter((p) => p >= n));
    delta += (m - n) * (handled + 1);
    n = m;
    for (const p of points) {
      if (p < n) delta++;
      if (p !== n) continue;
      let q = delta;
      for (let k = base;; k += base) {
        const t = k <= bias ? tMin : k >= bias + tMax ? tMax : k - bias;
        if (q < t) break;
        out += digit(t + (q - t) % (base - t));
        q = Math.floor((q - t) / (base - t));
      }
      out += digit(q);
      bias = adapt(delta, handled + 1, handled === basic);
      delta = 0;
      handled++;
    }
    delta++;
    n++;
  }
  return out;
}

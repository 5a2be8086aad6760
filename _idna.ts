// Python's "idna" codec (IDNA 2003, RFC 3490) for host names: CPython
// encodes a str host with it before the resolver sees it, so a bad label is
// a UnicodeError and a non-ASCII name reaches glibc as "xn--" labels.
import { UnicodeError } from "./_codecs.ts";

// The label separators RFC 3490 section 3.1 names.
const DOTS = /[.\u3002\uff0e\uff61]/;

// Nameprep's table B.1: code points mapped to nothing.
const MAPPED_OUT =
  /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/g;

// Case folds of table B.2 that lower-casing does not make.
const FOLDS: Record<string, string> = {
  "\u00df": "ss",
  "\u03c2": "\u03c3",
  "\u0130": "i\u0307",
};

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

// Nameprep (RFC 3491) as far as names in use need it: the mappings of
// tables B.1 and B.2 (case folding), then NFKC.
function nameprep(label: string): string {
  const mapped = label.replace(MAPPED_OUT, "");
  let folded = "";
  for (const c of mapped) folded += FOLDS[c] ?? c.toLowerCase();
  return folded.normalize("NFKC");
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

// Python's repr() and str() of the values this library puts in messages:
// KeyError's key, a client address in socketserver's error report.

/**
 * Python's `repr()`: strings and bytes quoted and escaped as CPython does,
 * `null` as `None`, booleans as `True` / `False`, arrays as tuples.
 */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "nan";
    if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
    return String(value);
  }
  if (typeof value === "string") return strRepr(value);
  if (value instanceof Uint8Array) return bytesRepr(value);
  if (Array.isArray(value)) {
    const items = value.map(pyRepr);
    return `(${items.join(", ")}${items.length === 1 ? "," : ""})`;
  }
  return String(value);
}

/** Python's `str()`: a string as it is, anything else as its repr. */
export function pyStr(value: unknown): string {
  return typeof value === "string" ? value : pyRepr(value);
}

// A str or bytes literal of code points: single quotes unless the text
// holds one and no double quote; the quote, backslash, \n \r \t escaped,
// and what is not printable as charEscape() shows it.
function quoted(
  prefix: string,
  codes: number[],
  printable: (c: number) => boolean,
): string {
  const quote = codes.includes(0x27) && !codes.includes(0x22) ? '"' : "'";
  let out = prefix + quote;
  for (const c of codes) {
    const ch = String.fromCodePoint(c);
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else out += printable(c) ? ch : charEscape(c);
  }
  return out + quote;
}

function strRepr(s: string): string {
  return quoted(
    "",
    Array.from(s, (ch) => ch.codePointAt(0)!),
    (c) => c === 0x20 || !NOT_PRINTABLE.test(String.fromCodePoint(c)),
  );
}

// What Python's str.isprintable() refuses: categories C* and Z* but the
// space.
const NOT_PRINTABLE = /^[\p{C}\p{Z}]$/u;

function bytesRepr(b: Uint8Array): string {
  return quoted("b", [...b], (c) => c >= 0x20 && c < 0x7f);
}

/** How CPython's codec messages and backslashreplace show a code point. */
export function charEscape(cp: number): string {
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\U${cp.toString(16).padStart(8, "0")}`;
}

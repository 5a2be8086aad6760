// What the op-script differentials share (tests/stress/_datagram.ts,
// tests/stress/_stream.ts): a script's shape, how its JSON arguments become
// values and bytes become text, where its sockets run, and how its outcomes
// are compared with python3's twin's.
import { AF_INET, AF_INET6, AF_UNIX, OSError, type Socket } from "../../mod.ts";
import type { BackendName } from "../_helpers.ts";

/** One operation: `[op, socket name, ...arguments]`. */
export type Op = readonly unknown[];
/** A script: its operations and the temp dir unix paths go in. */
export interface Script {
  dir: string;
  ops: readonly Op[];
}
/** What one operation gave, as JSON. */
export type Outcome = unknown;

/** A script's family names. */
export const FAMILIES: Readonly<Record<string, number>> = {
  "4": AF_INET,
  "6": AF_INET6,
  "u": AF_UNIX,
};

/** JSON to arguments: lists stay arrays (Python's tuples), {bytes} is bytes. */
export function conv(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(conv);
  if (v !== null && typeof v === "object") {
    const o = v as { bytes?: string; float?: number };
    if (o.bytes !== undefined) {
      return Uint8Array.from(o.bytes, (c) => c.charCodeAt(0));
    }
    if (o.float !== undefined) return o.float;
  }
  return v;
}

/** A payload: `"C:n"` is n bytes of C; anything else as {@linkcode conv}. */
export function data(d: unknown): unknown {
  if (typeof d === "string") {
    const [ch, n] = d.split(":");
    return new Uint8Array(Number(n)).fill(ch.charCodeAt(0));
  }
  return conv(d);
}

/** Bytes as text, a long run of one byte as `C*n` (the twins write the same). */
export function fmtBytes(b: Uint8Array): string {
  if (b.length > 12 && b.every((x) => x === b[0])) {
    return `${String.fromCharCode(b[0])}*${b.length}`;
  }
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

/** A bounded call's message when it did not settle: the outcome "hang". */
export const HANG = /did not settle/;

/** Which backend each socket of a script is on: all one, or `a` on the other. */
export const PLACEMENTS: Record<string, (name: string) => BackendName> = {
  deno: () => "deno",
  libc: () => "libc",
  "a on libc, others deno": (n) => n === "a" ? "libc" : "deno",
  "a on deno, others libc": (n) => n === "a" ? "deno" : "libc",
};

/**
 * Where `ours` and python3's `theirs` outcomes differ, one line each (none:
 * they agree). A TypeError's `'list'` is Python's `'tuple'` (a JavaScript
 * address is an array). `tolerated(i)`: a difference at op `i` that the
 * caller allows.
 */
export function compareOutcomes(
  ops: readonly Op[],
  theirs: readonly Outcome[],
  ours: readonly Outcome[],
  tolerated: (i: number) => boolean = () => false,
): string[] {
  const out: string[] = [];
  ops.forEach((op, i) => {
    const a = JSON.stringify(theirs[i] ?? null);
    const b = JSON.stringify(ours[i] ?? null).replaceAll("'list'", "'tuple'");
    if (a === b || tolerated(i)) return;
    out.push(`op ${i} ${JSON.stringify(op)}: python3 ${a}, ours ${b}`);
  });
  return out;
}

/** How a script's addresses and errors are written down (see outcomeWriter). */
export interface OutcomeWriter {
  /** An address: a port as its socket's name, a path under `$D`. */
  fmtAddr(a: unknown, fam: number): unknown;
  /** An error: `["E", class, errno, message]`, paths under `$D`. */
  fmtExc(e: unknown): Outcome;
}

/**
 * The writer for one script run: `socks` and `dead` (family to port) name
 * the ports; where two sockets have one, the first made names it when
 * `firstNames`, else the last (as the python3 twin does).
 */
export function outcomeWriter(
  dir: string,
  socks: ReadonlyMap<string, Socket>,
  dead: ReadonlyMap<number, number>,
  firstNames: boolean,
): OutcomeWriter {
  const names = () => {
    const m = new Map<string, string>();
    for (const [n, s] of socks) {
      try {
        const a = s.getsockname();
        const key = Array.isArray(a) ? `${s.family}:${a[1]}` : null;
        if (key !== null && !(firstNames && m.has(key))) m.set(key, n);
      } catch {
        // Closed.
      }
    }
    for (const [f, p] of dead) m.set(`${f}:${p}`, "dead");
    return m;
  };
  return {
    fmtAddr(a, fam) {
      if (a === null || a === undefined) return null;
      if (Array.isArray(a)) {
        const p = a[1] as number;
        const pn = names().get(`${fam}:${p}`) ?? (p === 0 ? "0" : "?");
        return [a[0], pn, ...a.slice(2)];
      }
      if (typeof a === "string") return a.replaceAll(dir, "$D");
      if (a instanceof Uint8Array) return a[0] === 0 ? "@auto" : String(a);
      return String(a);
    },
    fmtExc(e) {
      if (!(e instanceof Error)) return ["E", "?", null, String(e)];
      const errno = e instanceof OSError ? e.errno : null;
      return ["E", e.name, errno, e.message.replaceAll(dir, "$D")];
    },
  };
}

// Reads and writes on a Deno.Conn that can stop holding the process.
//
// Deno cannot cancel a write it has started, and its public API can unref a
// connection's reads only, through a flag on the connection (Conn.unref)
// that every later read inherits. Deno's core can ref and unref any op's
// promise (see _core.ts): where its internal API is there, reads and
// writes go through it, so that one op at a time can be let go and
// taken back with no state left on the connection; elsewhere they are
// conn.read / conn.write, a read's hold goes through Conn.ref/unref, and a
// write holds the process until it ends, as it always did.

import { budgeted } from "../_wait.ts";
import { core } from "../_core.ts";

/** An op in flight: its outcome, and whether it holds the process. */
export interface HeldOp {
  /** A write's bytes taken, or a read's bytes got (0: EOF). */
  readonly promise: Promise<number>;
  /** Hold the process while the op is pending (the default), or not. */
  hold(held: boolean): void;
}

function rid(conn: Deno.Conn): number | undefined {
  if (core === null) return undefined;
  const r =
    (conn as unknown as Record<symbol, unknown>)[core.internalRidSymbol];
  return typeof r === "number" ? r : undefined;
}

function heldOp(promise: Promise<number>, held: boolean): HeldOp {
  if (!held) core!.unrefOpPromise(promise);
  return {
    promise,
    hold(want: boolean) {
      if (want === held) return;
      held = want;
      if (want) core!.refOpPromise(promise);
      else core!.unrefOpPromise(promise);
    },
  };
}

/**
 * Start writing `bytes` on `conn`, holding the process (the default) or
 * not; where Deno's op API is missing, the write holds it and `hold` does
 * nothing.
 */
export function startWrite(
  conn: Deno.Conn,
  bytes: Uint8Array,
  held = true,
): HeldOp {
  const r = rid(conn);
  if (r === undefined) {
    return { promise: budgeted(conn.write(bytes)), hold() {} };
  }
  return heldOp(budgeted(core!.write(r, bytes)), held);
}

/**
 * Start reading into `buf` on `conn`, holding the process or not (a read
 * kept in flight that no caller waits on) until `hold()` says otherwise.
 * Rejects as conn.read does.
 */
export function startRead(
  conn: Deno.Conn,
  buf: Uint8Array,
  held: boolean,
): HeldOp {
  const r = rid(conn);
  if (r === undefined) {
    if (!held) conn.unref();
    const promise = budgeted(conn.read(buf)).then(
      (n) => {
        conn.ref();
        return n ?? 0;
      },
      (e) => {
        conn.ref();
        throw e;
      },
    );
    return {
      promise,
      hold: (want) => want ? conn.ref() : conn.unref(),
    };
  }
  return heldOp(budgeted(core!.read(r, buf)), held);
}

// A write on a Deno.Conn that can stop holding the process.
//
// Deno cannot cancel a write it has started, and its public API can unref a
// connection's reads only (Conn.unref), so a write left pending by a send
// that timed out would keep the process alive until the socket is closed.
// Deno's core can unref any op's promise: where its internal API is there
// (checked once, by shape), a write goes through it so that the write can
// be let go; elsewhere it is conn.write and holds the process as before.

interface Core {
  readonly internalRidSymbol: symbol;
  write(rid: number, bytes: Uint8Array): Promise<number>;
  refOpPromise(promise: Promise<unknown>): void;
  unrefOpPromise(promise: Promise<unknown>): void;
}

function findCore(): Core | null {
  try {
    const internal = (Deno as unknown as { internal?: symbol }).internal;
    if (internal === undefined) return null;
    const core = (Deno as unknown as Record<symbol, { core?: Core }>)[internal]
      ?.core;
    if (
      typeof core?.internalRidSymbol === "symbol" &&
      typeof core.write === "function" &&
      typeof core.refOpPromise === "function" &&
      typeof core.unrefOpPromise === "function"
    ) return core;
  } catch {
    // A runtime that forbids the lookup has no such API.
  }
  return null;
}

const core = findCore();

/** A write in flight: its outcome, and whether it holds the process. */
export interface WriteOp {
  /** Bytes the kernel took, once it took some. */
  readonly promise: Promise<number>;
  /**
   * Hold the process while the write is pending (the default), or not;
   * a no-op where Deno's op API is missing.
   */
  hold(held: boolean): void;
}

/** Start writing `bytes` on `conn`. */
export function startWrite(conn: Deno.Conn, bytes: Uint8Array): WriteOp {
  const rid = core === null
    ? undefined
    : (conn as unknown as Record<symbol, unknown>)[core.internalRidSymbol];
  if (core === null || typeof rid !== "number") {
    return { promise: conn.write(bytes), hold() {} };
  }
  const promise = core.write(rid, bytes);
  let held = true;
  return {
    promise,
    hold(want: boolean) {
      if (want === held) return;
      held = want;
      if (want) core.refOpPromise(promise);
      else core.unrefOpPromise(promise);
    },
  };
}

// Deno's core, where its internal API is there (checked once, by shape):
// it can ref and unref one op's promise, which Deno's public API cannot (a
// Deno.Conn's reads only, through a flag on the connection; an FFI call's
// promise not at all).

/** The parts of Deno's core this module uses. */
export interface Core {
  /** The key of a resource's id on a Deno.Conn. */
  readonly internalRidSymbol: symbol;
  /** An op reading into `buf` from resource `rid`; 0 at EOF. */
  read(rid: number, buf: Uint8Array): Promise<number>;
  /** An op writing `bytes` to resource `rid`: the count taken. */
  write(rid: number, bytes: Uint8Array): Promise<number>;
  /** Make the op of `promise` hold the process while it is pending. */
  refOpPromise(promise: Promise<unknown>): void;
  /** Let the op of `promise` stop holding the process. */
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
      typeof core.read === "function" &&
      typeof core.write === "function" &&
      typeof core.refOpPromise === "function" &&
      typeof core.unrefOpPromise === "function"
    ) return core;
  } catch {
    // A runtime that forbids the lookup has no such API.
  }
  return null;
}

/** Deno's core, or null where its internal API is not there. */
export const core: Core | null = findCore();

// Bad input, the fast run: fast-check throws random values at every public
// function and method (tests/stress/_fuzz.ts has the properties). A few dozen
// cases per property here; tests/stress/fuzz_stress.ts runs thousands.
// FUZZ_SEED replays a run; FUZZ_COLLECT=1 lists every distinct violation
// instead of stopping at the first.
import assert from "node:assert/strict";
import { BACKENDS, connectedPair, onBackend, sock } from "./_helpers.ts";
import { badError, registerFuzz } from "./stress/_fuzz.ts";

const seed = Deno.env.get("FUZZ_SEED");
registerFuzz(25, seed === undefined ? undefined : Number(seed));

/** The error `fn` throws or rejects with (undefined if none). */
async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

// Cases the fuzzer found, kept as plain regression tests.
for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      `recv(), recvfrom() and recv_into() sizes beyond memory raise a typed error, open or closed`,
    ),
    async () => {
      await using p = await connectedPair(backend);
      p.client.settimeout(0.05);
      const closed = sock(backend);
      closed.close();
      // CPython 3.11: OverflowError past ssize_t, MemoryError below it.
      for (const n of [2 ** 36, 2 ** 53, 2 ** 63, 1e300, 2n ** 70n]) {
        for (const s of [p.client, closed]) {
          for (
            const [name, fn] of [
              ["recv", () => s.recv(n as number)],
              ["recvfrom", () => s.recvfrom(n as number)],
              ["recv_into", () => s.recv_into(new Uint8Array(4), n as number)],
            ] as const
          ) {
            const e = await errorOf(fn);
            assert.ok(e !== undefined, `${name}(${n}) succeeded`);
            assert.equal(badError(e), null, `${name}(${n}): ${badError(e)}`);
          }
        }
      }
    },
  );

  Deno.test(
    onBackend(
      backend,
      `connect() to port 0 is ConnectionRefusedError 111 and connect_ex() returns 111`,
    ),
    async () => {
      using a = sock(backend);
      const e = await errorOf(() => a.connect(["127.0.0.1", 0]));
      assert.equal(badError(e), null, String(e));
      assert.equal((e as { errno?: number }).errno, 111, String(e));
      using b = sock(backend);
      assert.equal(await b.connect_ex(["127.0.0.1", 0]), 111);
    },
  );
}

// A wait leaves nothing behind: a program that polls an idle socket
// (non-blocking calls, short timeouts, aborts, readers taken and released),
// or reads a stream chunk after chunk, runs for days in constant memory, on
// both backends.
import assert from "node:assert/strict";
import { BACKENDS, onBackend } from "./_helpers.ts";

// Heap bytes one call may keep, measured over thousands of calls: noise is
// a few tens; a reaction left on a long-lived promise is 200-700 bytes.
const KEPT_MAX = 100;

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "waits that give up, and a stream read chunk by chunk, keep no memory",
    ),
    async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--no-check",
          "--v8-flags=--expose-gc",
          new URL("./_waits_heap_child.ts", import.meta.url).pathname,
          backend,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      });
      const out = await child.output();
      const err = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `child failed (or hung past 60 s): ${err}`);
      const kept: Record<string, number> = JSON.parse(
        new TextDecoder().decode(out.stdout),
      );
      assert.equal(Object.keys(kept).length, 7);
      for (const [name, bytes] of Object.entries(kept)) {
        assert.ok(
          bytes < KEPT_MAX,
          `${name}: ${bytes} heap bytes kept per call (${
            JSON.stringify(kept)
          })`,
        );
      }
    },
  );
}

// A socket dropped without close(), or closed with a makefile() file that
// is dropped unclosed, gives its descriptor back once it is collected, as
// CPython closes a socket it collects: a long-running server that forgets a
// close() does not run out of descriptors. On both backends.
import assert from "node:assert/strict";
import { BACKENDS, onBackend } from "./_helpers.ts";

for (const backend of BACKENDS) {
  Deno.test({
    ...onBackend(
      backend,
      "300 sockets dropped without close(), and 300 closed with their files dropped unclosed, leave no descriptor open once collected",
      Deno.build.os !== "linux",
    ),
    fn: async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--no-check",
          "--v8-flags=--expose-gc",
          new URL("./_dropped_child.ts", import.meta.url).pathname,
          backend,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `child failed (or hung past 60 s): ${err}`);
      const left: Record<string, number> = JSON.parse(
        new TextDecoder().decode(out.stdout),
      );
      // 600 descriptors a round when nothing gives them back; a few may
      // still wait for a finalizer.
      assert.ok(left.socket < 20, JSON.stringify(left));
      assert.ok(left.makefile < 20, JSON.stringify(left));
    },
  });
}

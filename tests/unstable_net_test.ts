// The Deno backend moves UDP through Deno.listenDatagram when the unstable
// net APIs are there, and through node:dgram otherwise. The normal run covers
// node:dgram; this runs the Deno backend's conformance and interop cases
// again with --unstable-net, so both paths keep Python's behaviour.
import assert from "node:assert/strict";

Deno.test("deno backend conformance holds with --unstable-net (UDP on Deno.listenDatagram)", async () => {
  const here = (name: string) => new URL(name, import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "-A",
      "--unstable-net",
      "--no-check",
      "--filter",
      "/^deno: /",
      here("conformance_test.ts"),
      here("python_interop_test.ts"),
      here("readiness_interop_test.ts"),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  const summary = text.match(/^(ok|FAILED) \| (\d+) passed.*$/m);
  assert.ok(summary, text.slice(-2000));
  assert.equal(out.code, 0, text.slice(-4000));
  // The filter must have selected the suite, not nothing.
  assert.ok(Number(summary[2]) > 100, summary[0]);
});

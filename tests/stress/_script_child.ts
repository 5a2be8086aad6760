// The process runIsolated() (_isolated.ts) plays scripts in, under
// `deno test` so that the sanitizers check what they leave behind.
// `$PYSOCK_SCRIPTS` names its input, a JSON IsolatedInput.
import { AF_INET, SOCK_STREAM, socket } from "../../mod.ts";
import type { IsolatedInput, IsolatedRun } from "./_isolated.ts";
import { type Outcome, PLACEMENTS } from "./_ops.ts";

const { runner, runs, together, out } = JSON.parse(
  Deno.readTextFileSync(Deno.env.get("PYSOCK_SCRIPTS")!),
) as IsolatedInput;
const { runScript } = runner === "stream"
  ? await import("./_stream.ts")
  : await import("./_datagram.ts");
const play = ({ script, placement }: IsolatedRun) =>
  runScript(script, PLACEMENTS[placement]);

// The libc backend opens libc.so.6 once per process and keeps it: open it
// outside the test, so that the sanitizer does not count it as a leak.
if (runs.some(({ placement }) => placement !== "deno")) {
  socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" }).close();
}

Deno.test(`${runner} scripts`, async () => {
  const outcomes: Outcome[][] = [];
  if (together) outcomes.push(...await Promise.all(runs.map(play)));
  else for (const run of runs) outcomes.push(await play(run));
  Deno.writeTextFileSync(out, JSON.stringify(outcomes));
});

// Plays differential scripts (_stream.ts, _datagram.ts) in a Deno process
// of their own, as python3's twin plays them in its own. A program that
// another thread of a test process spawns (a parallel test module's
// python3) holds a copy of every descriptor from its fork to its exec, so a
// close played in that process may reach the peer late: a send after it
// succeeds where python3's meets the close (118 of 400 runs of one stream
// script with two Workers spawning beside it; none of 150 played here).
// The process runs _script_child.ts with `deno test`, so that the
// sanitizers check what the scripts leave behind.
import { withTimeout } from "../_time.ts";
import type { Outcome, Script } from "./_ops.ts";

/** Which differential plays the scripts. */
export type Runner = "stream" | "datagram";

/** A script and the placement (a key of PLACEMENTS) to play it on. */
export interface IsolatedRun {
  script: Script;
  placement: string;
}

/** What the process reads (see _script_child.ts). */
export interface IsolatedInput {
  runner: Runner;
  runs: readonly IsolatedRun[];
  /** Whether the runs play at once, or one after another. */
  together: boolean;
  /** Where their outcomes go, as JSON. */
  out: string;
}

/**
 * Play `runs` with `runner`'s runScript in a Deno process of their own,
 * at once or (`together: false`) one after another, bounded by `ms`;
 * their outcomes, in order.
 */
export async function runIsolated(
  runner: Runner,
  runs: readonly IsolatedRun[],
  { together = true, ms = 60_000 }: { together?: boolean; ms?: number } = {},
): Promise<Outcome[][]> {
  const input = Deno.makeTempFileSync({ prefix: "pysock-scripts-" });
  const out = `${input}.out`;
  try {
    const given: IsolatedInput = { runner, runs, together, out };
    Deno.writeTextFileSync(input, JSON.stringify(given));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--no-check",
        "-A",
        decodeURIComponent(
          new URL("./_script_child.ts", import.meta.url).pathname,
        ),
      ],
      env: { PYSOCK_SCRIPTS: input, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let result: Deno.CommandOutput;
    try {
      result = await withTimeout(output, ms, "the scripts' process");
    } catch (e) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has just exited.
      }
      await output;
      throw e;
    }
    if (!result.success) {
      const text = new TextDecoder();
      throw new Error(
        `the scripts' process failed:\n${text.decode(result.stdout)}${
          text.decode(result.stderr)
        }`,
      );
    }
    return JSON.parse(Deno.readTextFileSync(out)) as Outcome[][];
  } finally {
    for (const file of [input, out]) {
      try {
        Deno.removeSync(file);
      } catch {
        // Never written: the process failed first.
      }
    }
  }
}

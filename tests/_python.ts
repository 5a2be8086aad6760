// python3 peers for the interop and live-comparison tests. Imports nothing
// from the module under test, so errors and constants tests load without it.

import { STEP_MS, withTimeout } from "./_time.ts";

export { STEP_MS, withTimeout };

/** Whether python3 runs here. */
export const hasPython: boolean = (() => {
  try {
    return new Deno.Command("python3", {
      args: ["-c", "pass"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
})();

/** A python3 child whose stdout lines can be read; killed and awaited on dispose. */
export interface PythonPeer extends AsyncDisposable {
  /** The next line the child printed (without the newline), bounded in time. */
  line(ms?: number): Promise<string>;
  /** Wait for the child to exit; its status and stderr. */
  finish(ms?: number): Promise<{ code: number; stderr: string }>;
}

/** A python3 child fed lines of JSON on its stdin (see {@linkcode pythonFed}). */
export interface FedPythonPeer extends PythonPeer {
  /** Write `value` to the child's stdin as one line of JSON. */
  send(value: unknown): Promise<void>;
}

/**
 * How long a python3 child's first line (or first connection) may take: its
 * start-up is about 0.4 s on an idle machine, seconds on a busy one.
 */
export const PY_START_MS = 15_000;

/** Run `python3 -c code ...args` (`sys.argv[1:]`), its stdout read line by line. */
export function python(code: string, ...args: (string | number)[]): PythonPeer {
  return spawn(code, args, false);
}

/**
 * Run `python3 -c code`, fed with {@linkcode FedPythonPeer.send} (a line of
 * JSON each) and read line by line: a long-lived peer that plays one round
 * per line.
 */
export function pythonFed(code: string): FedPythonPeer {
  return spawn(code, [], true);
}

function spawn(
  code: string,
  args: readonly (string | number)[],
  fed: boolean,
): FedPythonPeer {
  const child = new Deno.Command("python3", {
    args: ["-c", code, ...args.map(String)],
    stdin: fed ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = fed ? child.stdin.getWriter() : null;
  const encoder = new TextEncoder();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  let buffered = "";
  let done = false;
  let started = false;
  let finished: Promise<{ code: number; stderr: string }> | undefined;
  const finish = () =>
    finished ??= (async () => {
      while (!done) {
        const r = await reader.read();
        if (r.done) done = true;
      }
      reader.releaseLock();
      const status = await child.status;
      return { code: status.code, stderr: await stderr };
    })();
  return {
    async line(ms = started ? STEP_MS : PY_START_MS) {
      started = true;
      const deadline = Date.now() + ms;
      while (!buffered.includes("\n")) {
        if (done) throw new Error(`python exited; stderr: ${await stderr}`);
        const r = await withTimeout(
          reader.read(),
          Math.max(1, deadline - Date.now()),
          "python output",
        );
        if (r.done) done = true;
        else buffered += r.value;
      }
      const i = buffered.indexOf("\n");
      const out = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      return out;
    },
    finish(ms = STEP_MS) {
      return withTimeout(finish(), ms, "python exit");
    },
    async send(value) {
      if (writer === null) throw new Error("python3's stdin is not piped");
      await writer.write(encoder.encode(JSON.stringify(value) + "\n"));
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has exited already.
      }
      // After the kill: a close that waits on a full pipe then fails.
      await writer?.close().catch(() => {});
      await finish();
    },
  };
}

/** Run `script` in python3 with `input` as JSON on stdin; its JSON stdout. */
export async function pythonJson(
  script: string,
  input: unknown,
): Promise<unknown> {
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(input)));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    throw new Error(`python3 failed: ${new TextDecoder().decode(stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(stdout));
}

/**
 * The plumbing of the benchmark harness: child processes that cannot outlive
 * it, readings from /proc, loopback ports, statistics and tables.
 *
 * Every process is started with the repository root as its working
 * directory, so commands name files relative to it (`bench/clients/...`).
 *
 * @module
 */

/** The repository root, where every benchmark process runs. */
export const ROOT: string = decodeURIComponent(
  new URL("..", import.meta.url).pathname,
);

/** The running `deno`, so every Deno program runs on the harness's version. */
export const DENO: string = Deno.execPath();

/** What a finished process printed, and how it ended. */
export interface Finished {
  /** Exit code; 128 + the signal number when killed. */
  code: number;
  /** Everything written to stdout. */
  stdout: string;
  /** The last few KiB written to stderr. */
  stderr: string;
  /** Killed for running past its time limit. */
  timedOut: boolean;
}

/** How to start a process. */
export interface StartOptions {
  /** Pin it to this CPU (with `taskset`, when pinning is on). */
  cpu?: number;
  /** Fork under the guard and report its rusage (see bench/guard.c). */
  rusage?: boolean;
  /** Give it a stdin pipe, which it may watch to see the harness go. */
  stdin?: boolean;
  /** Keep stdout piped for the caller to read; otherwise it is discarded. */
  stdout?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** The rusage line that bench/guard.c prints after its command exits. */
export interface Rusage {
  /** User plus system CPU seconds, all threads. */
  cpu: number;
  /** Peak RSS in KiB. */
  maxRssKiB: number;
}

/**
 * Finds and parses the guard's `rusage USER SYS MAXRSS` line.
 *
 * @param stdout What the guarded command and the guard printed.
 * @returns The accounting, or null when the line is missing.
 *
 * @example
 * ```ts
 * import { parseRusage } from "./_harness.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseRusage("tcp_rtt_us 21.5\nrusage 0.25 0.5 9000\n"), {
 *   cpu: 0.75,
 *   maxRssKiB: 9000,
 * });
 * ```
 */
export function parseRusage(stdout: string): Rusage | null {
  const m = stdout.match(/^rusage (\S+) (\S+) (\d+)$/m);
  return m
    ? { cpu: Number(m[1]) + Number(m[2]), maxRssKiB: Number(m[3]) }
    : null;
}

/**
 * Finds a `NAME VALUE` line in a benchmark program's output.
 *
 * @param stdout The program's output.
 * @param name The figure's name, e.g. `bulk_mib_s`.
 * @returns The value, or NaN when the line is missing.
 *
 * @example
 * ```ts
 * import { figure } from "./_harness.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(figure("bulk_mib_s 3120.5\n", "bulk_mib_s"), 3120.5);
 * assert.ok(Number.isNaN(figure("", "bulk_mib_s")));
 * ```
 */
export function figure(stdout: string, name: string): number {
  const m = stdout.match(new RegExp(`^${name} (\\S+)`, "m"));
  return m ? Number(m[1]) : NaN;
}

/** Keeps the last `max` characters of a stream, reading it to its end. */
function tail(stream: ReadableStream<Uint8Array>, max = 4096): () => string {
  let text = "";
  (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text = (text + chunk).slice(-max);
    }
  })().catch(() => {});
  return () => text;
}

/** A started process and what it has written to stderr so far. */
export interface Started {
  /** The process (its pid is the command's own unless `rusage` was asked). */
  child: Deno.ChildProcess;
  /** The last few KiB of its stderr. */
  stderr: () => string;
}

/**
 * The processes of one benchmark run. Each is started under bench/guard.c,
 * which kills it if the harness dies however it dies; {@linkcode killAll}
 * ends every one still running, and `await using` does so on every path.
 */
export class Processes {
  readonly #live = new Set<Deno.ChildProcess>();
  readonly #guard: string;
  readonly #pin: boolean;

  /**
   * @param guard The compiled bench/guard.c.
   * @param pin Pin processes that ask for a CPU with `taskset`.
   */
  constructor(guard: string, pin: boolean) {
    this.#guard = guard;
    this.#pin = pin;
  }

  /**
   * Starts `cmd` (its first word is looked up on PATH).
   *
   * @param cmd The program and its arguments.
   * @param options Pinning, rusage, pipes.
   * @returns The process; its stderr is being collected.
   */
  start(cmd: string[], options: StartOptions = {}): Started {
    const args = [String(Deno.pid)];
    if (options.rusage) args.push("--rusage");
    if (this.#pin && options.cpu !== undefined) {
      args.push("taskset", "-c", String(options.cpu));
    }
    const child = new Deno.Command(this.#guard, {
      args: [...args, ...cmd],
      cwd: ROOT,
      // Deno's update check would reach out to the internet; keep it quiet.
      env: { DENO_NO_UPDATE_CHECK: "1", ...options.env },
      stdin: options.stdin ? "piped" : "null",
      stdout: options.stdout ? "piped" : "null",
      stderr: "piped",
    }).spawn();
    this.#live.add(child);
    child.status.finally(() => this.#live.delete(child));
    return { child, stderr: tail(child.stderr) };
  }

  /**
   * Runs `cmd` to its end, or kills it after `limitS` seconds.
   *
   * @param cmd The program and its arguments.
   * @param limitS The time limit in seconds.
   * @param options Pinning and rusage.
   * @returns Its output and how it ended.
   */
  async run(
    cmd: string[],
    limitS: number,
    options: Omit<StartOptions, "stdout" | "stdin"> = {},
  ): Promise<Finished> {
    const { child, stderr } = this.start(cmd, { ...options, stdout: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.kill(child);
    }, limitS * 1000);
    try {
      const [status, stdout] = await Promise.all([
        child.status,
        new Response(child.stdout).text(),
      ]);
      return { code: status.code, stdout, stderr: stderr().trim(), timedOut };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Kills one process (SIGKILL), if it is still running.
   *
   * @param child A process started here.
   */
  kill(child: Deno.ChildProcess): void {
    try {
      child.kill("SIGKILL");
    } catch {
      // It has already exited.
    }
  }

  /** Kills every process still running; synchronous, so a signal handler can call it. */
  killAll(): void {
    for (const child of this.#live) this.kill(child);
  }

  /** Kills every process still running and waits for them to be gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    const live = [...this.#live];
    this.killAll();
    await Promise.allSettled(live.map((c) => c.status));
  }
}

/**
 * The note for a comparison stopped early by its time budget.
 *
 * @param done Rounds completed.
 * @param planned Rounds planned.
 * @returns The note.
 */
export function overBudget(done: number, planned: number): string {
  return `stopped after ${done} of ${planned} rounds: over this part's time budget (--budget)`;
}

/**
 * Reads a stream until a line starts with `prefix`, or `ms` pass; keeps
 * draining the stream afterwards so the writer never blocks.
 *
 * @param stream A child's stdout.
 * @param prefix What the line starts with.
 * @param ms The time limit.
 * @returns The line, or null (end of stream or time up).
 */
export async function waitLine(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  ms: number,
): Promise<string | null> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((r) => timer = setTimeout(r, ms, null));
  let text = "";
  try {
    for (;;) {
      const chunk = await Promise.race([reader.read(), expired]);
      if (chunk === null || chunk.done) return null;
      text += chunk.value;
      const line = text.split("\n").slice(0, -1).find((l) =>
        l.startsWith(prefix)
      );
      if (line !== undefined) return line;
    }
  } finally {
    clearTimeout(timer);
    (async () => {
      while (!(await reader.read()).done);
    })().catch(() => {});
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, ms));

/**
 * A loopback TCP port that was free a moment ago.
 *
 * @returns The port number.
 */
export function freePort(): number {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return l.addr.port;
}

/**
 * Waits until something accepts connections on 127.0.0.1:`port`.
 *
 * @param port The port.
 * @param ms The time limit.
 * @param alive Stop early when this says the server has exited.
 * @returns Whether a connection succeeded in time.
 */
export async function waitPort(
  port: number,
  ms: number,
  alive: () => boolean,
): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && alive()) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      await sleep(50);
    }
  }
  return false;
}

/**
 * A `KEY: N kB` field of /proc/PID/status, in KiB.
 *
 * @param pid The process.
 * @param key `VmRSS` (resident now) or `VmHWM` (peak resident).
 * @returns The value, or NaN when the process is gone.
 */
export function procStatusKiB(pid: number, key: string): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = status.match(new RegExp(`^${key}:\\s+(\\d+)`, "m"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/**
 * The median of the numbers that are not NaN.
 *
 * @param values The samples.
 * @returns The median; NaN for none.
 *
 * @example
 * ```ts
 * import { median } from "./_harness.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(median([3, 1, NaN, 2]), 2);
 * assert.equal(median([4, 1, 3, 2]), 2.5);
 * ```
 */
export function median(values: number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * The best of the numbers that are not NaN: noise on a shared machine only
 * ever slows a run down, so the best round is the steadiest estimate of
 * what a program costs.
 *
 * @param values The samples.
 * @param higherIsBetter True for rates (MiB/s), false for times and costs.
 * @returns The best; NaN for none.
 *
 * @example
 * ```ts
 * import { best } from "./_harness.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(best([3, 1, 2], true), 3);
 * assert.equal(best([3, NaN, 2], false), 2);
 * ```
 */
export function best(values: number[], higherIsBetter: boolean): number {
  const v = values.filter((x) => !Number.isNaN(x));
  if (v.length === 0) return NaN;
  return higherIsBetter ? Math.max(...v) : Math.min(...v);
}

/**
 * Formats a number with `digits` decimals, or `-` when it is not finite.
 *
 * @param value The number.
 * @param digits Decimals.
 * @returns The text.
 */
export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

/**
 * Lays out rows as a plain-text table: the first column left-aligned, the
 * others right-aligned, two spaces between columns.
 *
 * @param rows The header row, then the data rows.
 * @returns The table, one line per row.
 *
 * @example
 * ```ts
 * import { table } from "./_harness.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   table([["client", "MiB/s"], ["c", "3000.0"]]),
 *   "client   MiB/s\nc       3000.0",
 * );
 * ```
 */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((r) => (r[i] ?? "").length))
  );
  return rows.map((r) =>
    r.map((cell, i) =>
      i === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[i] + 2)
    ).join("").trimEnd()
  ).join("\n");
}

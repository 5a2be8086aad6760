/**
 * Non-blocking calls on an idle socket, side by side: CPython's `recv`
 * raising BlockingIOError and `select.select([s], [], [], 0)`, and the same
 * two calls with this module on each backend. Medians of N calls.
 *
 * @module
 */
import type { Processes } from "./_harness.ts";

const DENO = "deno";

interface Row {
  name: string;
  about: string;
  cmd: string[];
  needs?: string;
}

const ROWS = (n: number): Row[] => [
  {
    name: "python-socket",
    about: "CPython socket and select",
    cmd: ["python3", "bench/clients/idle.py", String(n)],
    needs: "python3",
  },
  ...(["deno", "libc"] as const).map((backend) => ({
    name: `project-${backend}`,
    about: `this module, ${backend} backend, and its select.ts`,
    cmd: [
      DENO,
      "run",
      "--allow-net",
      "--allow-ffi",
      "bench/clients/idle.ts",
      `--backend=${backend}`,
      String(n),
    ],
  })),
];

/**
 * Runs each row once and returns the table.
 *
 * @param procs Where children run (killed with the harness).
 * @param calls Calls per figure.
 * @param skip Missing programs, with the reason.
 * @returns The report.
 */
export async function compareIdle(
  procs: Processes,
  calls: number,
  skip: Map<string, string>,
): Promise<string> {
  const lines = [
    "client            nonblocking recv us  select(t=0) us",
  ];
  const notes: string[] = [];
  for (const row of ROWS(calls)) {
    const missing = row.needs === undefined ? undefined : skip.get(row.needs);
    if (missing !== undefined) {
      notes.push(`# ${row.name} skipped: ${missing}`);
      continue;
    }
    const out = await procs.run(row.cmd, 120, { env: { NO_COLOR: "1" } });
    if (out.code !== 0) {
      notes.push(`# NOTE ${row.name} failed (exit ${out.code}): ${out.stderr}`);
      continue;
    }
    const r = JSON.parse(out.stdout.trim()) as {
      recv_us: number;
      select_us: number;
    };
    lines.push(
      `${row.name.padEnd(18)}${r.recv_us.toFixed(1).padStart(19)}${
        r.select_us.toFixed(1).padStart(16)
      }`,
    );
  }
  lines.push(
    `# medians of ${calls} calls each on a connected TCP pair on loopback; a recv that finds nothing raises BlockingIOError`,
    ...notes,
  );
  return lines.join("\n");
}

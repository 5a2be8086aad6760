/**
 * Memory of a server holding many idle connections: the servers of
 * {@linkcode SERVERS} marked `memory`, i.e. Deno's own `Deno.listen` server
 * and the project's on each backend.
 *
 * For each server and round: start it, read its RSS once it listens (idle),
 * open the connections from bench/_idle_clients.py (each proven served by a
 * one-byte echo, then left idle), let it settle, read the RSS again, kill
 * both. RSS is VmRSS from /proc/PID/status, the median of three readings.
 *
 * @module
 */
import {
  fixed,
  median,
  overBudget,
  type Processes,
  procStatusKiB,
  sleep,
  table,
  waitLine,
} from "./_harness.ts";
import { choose, REFERENCE, SERVERS, startServer } from "./compare_servers.ts";

/** How many connections, how many rounds. */
export interface MemoryPlan {
  /** Rounds; each measures every server once. */
  rounds: number;
  /** No new round starts after this `performance.now()` time (the first always runs). */
  deadline: number;
  /** Idle connections held open. */
  conns: number;
  /** Seconds between the connections being ready and the reading. */
  settle: number;
  /** Run only these servers (the reference always runs); null: all. */
  only: string[] | null;
}

interface Sample {
  idleKiB: number;
  loadedKiB: number;
}

async function rss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(200);
    readings.push(procStatusKiB(pid, "VmRSS"));
  }
  return median(readings);
}

async function measure(
  procs: Processes,
  name: string,
  bin: string,
  plan: MemoryPlan,
): Promise<Sample | string> {
  const server = await startServer(
    procs,
    SERVERS.find((s) => s.name === name)!,
    bin,
  );
  if (typeof server === "string") return server;
  let holder: ReturnType<Processes["start"]> | null = null;
  try {
    await sleep(500);
    const idleKiB = await rss(server.child.pid);
    holder = procs.start(
      [
        "python3",
        "bench/_idle_clients.py",
        String(server.port),
        String(plan.conns),
      ],
      { stdin: true, stdout: true },
    );
    const ready = await waitLine(holder.child.stdout, "ready", 60000);
    if (ready === null) {
      return `the idle clients did not connect: ${holder.stderr()}`;
    }
    await sleep(plan.settle * 1000);
    const loadedKiB = await rss(server.child.pid);
    return { idleKiB, loadedKiB };
  } finally {
    for (const p of [holder, server]) {
      if (p === null) continue;
      procs.kill(p.child);
      await p.child.status;
    }
  }
}

/**
 * Measures every memory server and returns the report.
 *
 * @param procs Where processes are started (and killed).
 * @param bin The directory of the compiled C programs.
 * @param plan Rounds, connections, which servers.
 * @param skip Missing programs, with the reason.
 * @returns The table and its notes, ready to print.
 */
export async function measureMemory(
  procs: Processes,
  bin: string,
  plan: MemoryPlan,
  skip: Map<string, string>,
): Promise<string> {
  const python = skip.get("python3");
  if (python !== undefined) return `# NOTE memory skipped: ${python}`;
  const { servers, notes } = choose(
    SERVERS.filter((s) => s.memory),
    plan.only,
    skip,
  );
  const samples = new Map(servers.map((s) => [s.name, [] as Sample[]]));
  let done = 0;
  for (let r = 0; r < plan.rounds; r++, done++) {
    if (r > 0 && performance.now() > plan.deadline) {
      notes.push(overBudget(r, plan.rounds));
      break;
    }
    const line: string[] = [];
    for (const s of servers) {
      const result = await measure(procs, s.name, bin, plan);
      if (typeof result === "string") {
        notes.push(`${s.name} round ${r + 1}: ${result}`);
        line.push(`${s.name} failed`);
      } else {
        samples.get(s.name)!.push(result);
        line.push(`${s.name} ${fixed(result.loadedKiB / 1024, 1)} MiB`);
      }
    }
    console.error(`# memory round ${r + 1}/${plan.rounds}: ${line.join(", ")}`);
  }

  const summary = (name: string) => {
    const v = samples.get(name) ?? [];
    return {
      idle: median(v.map((s) => s.idleKiB)),
      loaded: median(v.map((s) => s.loadedKiB)),
      perConn: median(v.map((s) => (s.loadedKiB - s.idleKiB) / plan.conns)),
    };
  };
  const ref = summary(REFERENCE);
  const rows = [[
    "server",
    "idle MiB",
    `${plan.conns} conns MiB`,
    "KiB/conn",
    "x deno",
    "x deno/conn",
  ]];
  for (const s of servers) {
    const m = summary(s.name);
    rows.push([
      s.name,
      fixed(m.idle / 1024, 1),
      fixed(m.loaded / 1024, 1),
      fixed(m.perConn, 1),
      fixed(m.loaded / ref.loaded, 2),
      fixed(m.perConn / ref.perConn, 2),
    ]);
  }
  return [
    table(rows),
    `# medians of ${done} round(s); VmRSS ${plan.settle} s after ${plan.conns} idle connections (each echoed one byte); x deno: ratio to ${REFERENCE} (whole RSS, and growth per connection)`,
    ...notes.map((n) => `# NOTE ${n}`),
  ].join("\n");
}

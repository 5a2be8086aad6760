/**
 * Echo servers side by side under one load: bench/loadgen.c keeps 200
 * connections busy with 64-byte requests; each server's requests per
 * second, peak RSS and CPU per request.
 *
 * Every server is a program run as `COMMAND PORT` that serves TCP echo on
 * 127.0.0.1:PORT until killed, in one process (so /proc/PID is all of it).
 * Add one with an entry in {@linkcode SERVERS}.
 *
 * @module
 */
import {
  DENO,
  fixed,
  freePort,
  median,
  overBudget,
  type Processes,
  procStatusKiB,
  table,
  waitPort,
} from "./_harness.ts";
import { display } from "./compare_clients.ts";

/** One server of the comparison. */
export interface Server {
  /** Its row in the tables. */
  name: string;
  /** What it is, for the legend. */
  about: string;
  /** Its command; PORT is appended. `bin` holds the C programs. */
  cmd: (bin: string) => string[];
  /** A program it needs on PATH, besides deno. */
  needs?: string;
  /** Also measured holding idle connections (bench/memory.ts). */
  memory?: boolean;
}

const project = (backend: string) => () => [
  DENO,
  "run",
  "--allow-net",
  ...(backend === "libc" ? ["--allow-ffi"] : []),
  "bench/servers/server.ts",
  `--backend=${backend}`,
];

const selectors = (backend: string) => () => [
  DENO,
  "run",
  "--allow-net",
  "--allow-ffi",
  "bench/servers/selectors_server.ts",
  `--backend=${backend}`,
];

/** The servers measured, in table order. `deno-native` is the reference. */
export const SERVERS: Server[] = [
  {
    name: "c-epoll",
    about: "C, one thread, epoll",
    cmd: (bin) => [`${bin}/server_epoll`],
  },
  {
    name: "deno-native",
    about: "Deno's own Deno.listen, a task per connection",
    cmd: () => [DENO, "run", "--allow-net", "bench/servers/server_deno.ts"],
    memory: true,
  },
  {
    name: "deno-native-ready",
    about:
      "control: Deno's own ops in a readiness loop's shape (a read in flight per connection, replies written in a batch)",
    cmd: () => [
      DENO,
      "run",
      "--allow-net",
      "bench/servers/server_deno_ready.ts",
    ],
  },
  {
    name: "deno-ffi-epoll",
    about:
      "control: libc's epoll, recv and send called through Deno FFI with no library, no Promise (epoll_wait blocks)",
    cmd: () => [
      DENO,
      "run",
      "--allow-ffi",
      "bench/servers/server_ffi_epoll.ts",
    ],
  },
  {
    name: "node-net",
    about: "Node's net, each socket piped to itself",
    cmd: () => ["node", "bench/servers/server_node.mjs"],
    needs: "node",
  },
  {
    name: "python-selectors",
    about: "CPython, selectors.DefaultSelector",
    cmd: () => ["python3", "bench/servers/server.py"],
    needs: "python3",
    memory: true,
  },
  {
    name: "project-deno",
    about: "this module, Deno backend, a task per connection",
    cmd: project("deno"),
    memory: true,
  },
  {
    name: "project-libc",
    about: "this module, libc backend, a task per connection",
    cmd: project("libc"),
    memory: true,
  },
  {
    name: "project-selectors-deno",
    about:
      "this module's selectors, server.py ported line by line, Deno backend",
    cmd: selectors("deno"),
    memory: true,
  },
  {
    name: "project-selectors-libc",
    about:
      "this module's selectors, server.py ported line by line, libc backend",
    cmd: selectors("libc"),
    memory: true,
  },
];

/** The reference of the `x deno` columns. */
export const REFERENCE = "deno-native";

/**
 * The servers to run, and a note for each one left out.
 *
 * @param list Candidates.
 * @param only Names to keep (the reference always stays); null: all.
 * @param skip Missing programs, with the reason.
 * @returns The servers, and the notes.
 */
export function choose(
  list: Server[],
  only: string[] | null,
  skip: Map<string, string>,
): { servers: Server[]; notes: string[] } {
  const notes: string[] = [];
  const servers = list.filter((s) => {
    if (s.name !== REFERENCE && only !== null && !only.includes(s.name)) {
      return false;
    }
    const missing = s.needs === undefined ? undefined : skip.get(s.needs);
    if (missing !== undefined) {
      notes.push(`${s.name} skipped: ${missing}`);
      return false;
    }
    return true;
  });
  return { servers, notes };
}

/**
 * Starts a server on a free port and waits until it accepts connections.
 *
 * @param procs Where processes are started.
 * @param server The server.
 * @param bin The directory of the compiled C programs.
 * @param cpu Pin it to this CPU, if pinning is on.
 * @returns The process and its port, or a reason it did not start (then it
 *   has been killed).
 */
export async function startServer(
  procs: Processes,
  server: Server,
  bin: string,
  cpu?: number,
): Promise<
  { child: Deno.ChildProcess; port: number; stderr: () => string } | string
> {
  const port = freePort();
  const started = procs.start([...server.cmd(bin), String(port)], { cpu });
  let running = true;
  started.child.status.then(() => running = false);
  if (await waitPort(port, 20000, () => running)) {
    return { ...started, port };
  }
  procs.kill(started.child);
  await started.child.status;
  const said = started.stderr().split("\n").slice(-3).join(" | ");
  return `did not start${said ? `: ${said}` : ""}`;
}

/** How long and how hard to load each server. */
export interface ServerPlan {
  /** Rounds; each runs every server once. */
  rounds: number;
  /** No new round starts after this `performance.now()` time (the first always runs). */
  deadline: number;
  /** Concurrent connections. */
  conns: number;
  /** Counted seconds of load per run. */
  seconds: number;
  /** Seconds of load before counting starts. */
  warmup: number;
  /** Whether servers are pinned to CPU 1 and the load generator to CPU 0. */
  pinned: boolean;
  /** Run only these servers (the reference always runs); null: all. */
  only: string[] | null;
}

interface Sample {
  reqS: number;
  cpuUsPerReq: number;
  peakKiB: number;
}

/**
 * Runs the server comparison and returns its report.
 *
 * @param procs Where processes are started (and killed).
 * @param bin The directory of the compiled C programs.
 * @param plan Rounds, load, which servers.
 * @param skip Missing programs, with the reason.
 * @returns The table and its notes, ready to print.
 */
export async function compareServers(
  procs: Processes,
  bin: string,
  plan: ServerPlan,
  skip: Map<string, string>,
): Promise<string> {
  const { servers, notes } = choose(SERVERS, plan.only, skip);
  const samples = new Map(servers.map((s) => [s.name, [] as Sample[]]));
  let done = 0;
  for (let r = 0; r < plan.rounds; r++, done++) {
    if (r > 0 && performance.now() > plan.deadline) {
      notes.push(overBudget(r, plan.rounds));
      break;
    }
    const line: string[] = [];
    const order = servers.map((_, i) => servers[(i + r) % servers.length]);
    for (const s of order) {
      const result = await loadOne(procs, s, bin, plan);
      if (typeof result === "string") {
        notes.push(`${s.name} round ${r + 1}: ${result}`);
        line.push(`${s.name} failed`);
      } else {
        samples.get(s.name)!.push(result);
        line.push(`${s.name} ${result.reqS}`);
      }
    }
    console.error(
      `# servers round ${r + 1}/${plan.rounds}: ${line.join(", ")}`,
    );
  }

  const summary = (name: string) => {
    const v = samples.get(name) ?? [];
    return {
      reqS: median(v.map((x) => x.reqS)),
      cpu: median(v.map((x) => x.cpuUsPerReq)),
      peak: v.length ? Math.max(...v.map((x) => x.peakKiB)) : NaN,
    };
  };
  const ref = summary(REFERENCE);
  const rows = [[
    "server",
    "req/s",
    "x deno",
    "peak RSS MiB",
    "cpu us/req",
    "x deno",
  ]];
  for (const s of servers) {
    const m = summary(s.name);
    rows.push([
      s.name,
      fixed(m.reqS, 0),
      fixed(m.reqS / ref.reqS, 2),
      fixed(m.peak / 1024, 1),
      fixed(m.cpu, 2),
      fixed(m.cpu / ref.cpu, 2),
    ]);
  }
  return [
    table(rows),
    `# medians of ${done} round(s) (peak RSS: the highest); ${plan.conns} connections, one 64-byte request each in flight, every echo checked; ${plan.warmup} s warm-up, then ${plan.seconds} s counted`,
    `# cpu: the server's user+sys (all threads) over the counted seconds, per request; x deno: ratio to ${REFERENCE}`,
    `# ${
      plan.pinned
        ? "servers pinned to CPU 1, the load generator to CPU 0 (taskset)"
        : "not pinned"
    }`,
    "",
    ...servers.map((s) =>
      `# ${s.name.padEnd(23)} ${s.about}: ${display(s.cmd("<build>"))} PORT`
    ),
    ...notes.map((n) => `# NOTE ${n}`),
  ].join("\n");
}

async function loadOne(
  procs: Processes,
  s: Server,
  bin: string,
  plan: ServerPlan,
): Promise<Sample | string> {
  const server = await startServer(procs, s, bin, 1);
  if (typeof server === "string") return server;
  try {
    const out = await procs.run(
      [
        `${bin}/loadgen`,
        String(server.port),
        String(plan.conns),
        String(plan.seconds),
        String(plan.warmup),
        String(server.child.pid),
      ],
      plan.seconds + plan.warmup + 60,
      { cpu: 0 },
    );
    const peakKiB = procStatusKiB(server.child.pid, "VmHWM");
    const m = out.stdout.match(
      /^req_s (\S+) requests (\d+) seconds \S+ server_cpu_s (\S+)/m,
    );
    if (out.code !== 0 || m === null) {
      const why = out.timedOut
        ? "the load generator ran over time"
        : out.stderr;
      const said = server.stderr().split("\n").slice(-3).join(" | ");
      return `failed (${why})${said ? `; the server said: ${said}` : ""}`;
    }
    const requests = Number(m[2]), cpu = Number(m[3]);
    return {
      reqS: Number(m[1]),
      cpuUsPerReq: cpu >= 0 && requests > 0 ? cpu / requests * 1e6 : NaN,
      peakKiB,
    };
  } finally {
    procs.kill(server.child);
    await server.child.status;
  }
}

/**
 * Clients side by side against one neutral peer (bench/peer.c): bulk TCP
 * send rate, 64-byte TCP and UDP round trips, and what each costs in CPU.
 *
 * Every client is a program run as `COMMAND MODE PORT AMOUNT` that prints one
 * `FIGURE VALUE` line (see bench/clients/client.c). Add one with an entry in
 * {@linkcode CLIENTS}.
 *
 * @module
 */
import {
  best,
  DENO,
  figure,
  fixed,
  median,
  overBudget,
  parseRusage,
  type Processes,
  table,
  waitLine,
} from "./_harness.ts";

/** One client of the comparison. */
export interface Client {
  /** Its row in the tables. */
  name: string;
  /** What it is, for the legend. */
  about: string;
  /** Its command; MODE PORT AMOUNT are appended. `bin` holds the C programs. */
  cmd: (bin: string) => string[];
  /** A program it needs on PATH, besides deno. */
  needs?: string;
}

const denoClient = (flags: string[], ...rest: string[]) => () => [
  DENO,
  "run",
  ...flags,
  ...rest,
];

/** The clients measured, in table order. The first is the reference (`x C`). */
export const CLIENTS: Client[] = [
  {
    name: "c-libc",
    about: "C, blocking libc calls",
    cmd: (bin) => [`${bin}/client`],
  },
  {
    name: "python-socket",
    about: "CPython's socket module",
    cmd: () => ["python3", "bench/clients/client.py"],
    needs: "python3",
  },
  {
    name: "node-net",
    about: "Node's net and dgram",
    cmd: () => ["node", "bench/clients/client.mjs"],
    needs: "node",
  },
  {
    name: "deno-native",
    about: "Deno's own Deno.connect and Deno.listenDatagram",
    cmd: denoClient(
      ["--allow-net", "--unstable-net"],
      "bench/clients/client_deno.ts",
    ),
  },
  {
    name: "deno-native-reuse",
    about:
      "control: deno-native with a reused UDP receive buffer, as this module has",
    cmd: denoClient(
      ["--allow-net", "--unstable-net"],
      "bench/clients/client_deno.ts",
      "--reuse",
    ),
  },
  {
    name: "project-deno",
    about: "this module, Deno backend",
    cmd: denoClient(
      ["--allow-net", "--unstable-net"],
      "bench/clients/client.ts",
      "--backend=deno",
    ),
  },
  {
    name: "project-libc",
    about: "this module, libc backend",
    cmd: denoClient(
      ["--allow-net", "--unstable-net", "--allow-ffi"],
      "bench/clients/client.ts",
      "--backend=libc",
    ),
  },
  {
    name: "project-deno-stable",
    about:
      "this module, Deno backend without --unstable-net (UDP on node:dgram)",
    cmd: denoClient(
      ["--allow-net"],
      "bench/clients/client.ts",
      "--backend=deno",
    ),
  },
];

/** How much work, and how to summarise the rounds. */
export interface ClientPlan {
  /** Interleaved rounds; each runs every client once per mode. */
  rounds: number;
  /** No new round starts after this `performance.now()` time (the first always runs). */
  deadline: number;
  /** MiB sent per bulk run. */
  mib: number;
  /** Round trips per TCP or UDP run. */
  trips: number;
  /** Report medians instead of each client's best round. */
  median: boolean;
  /** Whether the peer and the clients are pinned to CPUs 1 and 0. */
  pinned: boolean;
  /** Run only these clients (the reference always runs); null: all. */
  only: string[] | null;
}

interface Mode {
  mode: "bulk" | "tcp" | "udp";
  figure: string;
  amount: number;
  port: number;
  /** CPU seconds of a run, as the table shows them. */
  cost: (cpu: number) => number;
}

/**
 * Runs the client comparison and returns its report.
 *
 * @param procs Where processes are started (and killed).
 * @param bin The directory of the compiled C programs.
 * @param plan Rounds, amounts, which clients.
 * @param skip Clients to leave out, with the reason (a missing program).
 * @returns The tables and their notes, ready to print.
 */
export async function compareClients(
  procs: Processes,
  bin: string,
  plan: ClientPlan,
  skip: Map<string, string>,
): Promise<string> {
  const notes: string[] = [];
  const clients = CLIENTS.filter((c, i) => {
    if (i > 0 && plan.only !== null && !plan.only.includes(c.name)) {
      return false;
    }
    const why = c.needs === undefined ? undefined : skip.get(c.needs);
    if (why !== undefined) notes.push(`${c.name} skipped: ${why}`);
    return why === undefined;
  });

  // The peer gets a stdin pipe: it exits by itself when the harness goes.
  const peer = procs.start([`${bin}/peer`, "3600"], {
    cpu: 1,
    stdin: true,
    stdout: true,
  });
  const ports = await waitLine(peer.child.stdout, "ports ", 10000);
  if (ports === null) {
    procs.kill(peer.child);
    throw new Error(`the peer did not start: ${peer.stderr()}`);
  }
  const [sink, echo, udp] = ports.split(" ").slice(1).map(Number);
  const modes: Mode[] = [
    {
      mode: "bulk",
      figure: "bulk_mib_s",
      amount: plan.mib,
      port: sink,
      cost: (cpu) => cpu / (plan.mib / 1024),
    },
    {
      mode: "tcp",
      figure: "tcp_rtt_us",
      amount: plan.trips,
      port: echo,
      cost: (cpu) => cpu / plan.trips * 1e6,
    },
    {
      mode: "udp",
      figure: "udp_rtt_us",
      amount: plan.trips,
      port: udp,
      cost: (cpu) => cpu / plan.trips * 1e6,
    },
  ];
  // values[client][mode] and costs[client][mode]: one sample per round.
  const values = new Map(
    clients.map((c) => [c.name, modes.map(() => [] as number[])]),
  );
  const costs = new Map(
    clients.map((c) => [c.name, modes.map(() => [] as number[])]),
  );
  // starts[client]: CPU seconds of a run of one round trip (start-up,
  // imports, connect), so that what a round trip costs can be told apart
  // from what every run pays once.
  const starts = new Map(clients.map((c) => [c.name, [] as number[]]));

  let done = 0;
  try {
    for (let r = 0; r < plan.rounds; r++, done++) {
      if (r > 0 && performance.now() > plan.deadline) {
        notes.push(overBudget(r, plan.rounds));
        break;
      }
      for (
        const c of clients.map((_, i) => clients[(i + r) % clients.length])
      ) {
        const out = await procs.run(
          [...c.cmd(bin), "tcp", String(echo), "1"],
          120,
          { cpu: 0, rusage: true },
        );
        const usage = parseRusage(out.stdout);
        if (out.code === 0 && usage !== null) {
          starts.get(c.name)!.push(usage.cpu);
        }
      }
      for (const [m, mode] of modes.entries()) {
        const line: string[] = [];
        // Each round starts with a different client, so no client always
        // runs right after the same neighbour.
        const order = clients.map((_, i) => clients[(i + r) % clients.length]);
        for (const c of order) {
          const out = await procs.run(
            [...c.cmd(bin), mode.mode, String(mode.port), String(mode.amount)],
            120,
            { cpu: 0, rusage: true },
          );
          const value = figure(out.stdout, mode.figure);
          const usage = parseRusage(out.stdout);
          if (out.code !== 0 || Number.isNaN(value) || usage === null) {
            const why = out.timedOut
              ? "over 120 s, killed"
              : `exit ${out.code}: ${
                out.stderr.split("\n").slice(-3).join(" | ")
              }`;
            notes.push(`${c.name} ${mode.mode} round ${r + 1} failed (${why})`);
            line.push(`${c.name} failed`);
            continue;
          }
          values.get(c.name)![m].push(value);
          costs.get(c.name)![m].push(mode.cost(usage.cpu));
          line.push(`${c.name} ${value}`);
        }
        console.error(
          `# clients round ${r + 1}/${plan.rounds} ${mode.mode}: ${
            line.join(", ")
          }`,
        );
      }
    }
  } finally {
    procs.kill(peer.child);
    await peer.child.status;
  }

  const pick = (v: number[], higher: boolean) =>
    plan.median ? median(v) : best(v, higher);
  const figs = new Map(clients.map((c) => [
    c.name,
    values.get(c.name)!.map((v, m) => pick(v, m === 0)),
  ]));
  const cpu = new Map(clients.map((c) => [
    c.name,
    costs.get(c.name)!.map((v) => pick(v, false)),
  ]));
  const start = new Map(clients.map((c) => [
    c.name,
    pick(starts.get(c.name)!, false),
  ]));
  // A run's CPU less the start-up's, per GiB / per round trip.
  const net = new Map(clients.map((c) => {
    const k = cpu.get(c.name)!, s = start.get(c.name)!;
    return [c.name, [
      k[0] - s / (plan.mib / 1024),
      k[1] - s / plan.trips * 1e6,
      k[2] - s / plan.trips * 1e6,
    ]];
  }));
  const ref = figs.get(CLIENTS[0].name)!;
  const rows = [[
    "client",
    "bulk MiB/s",
    "x C",
    "tcp rtt us",
    "x C",
    "udp rtt us",
    "x C",
    "cpu s/GiB",
    "cpu us/tcp",
    "cpu us/udp",
    "start-up ms",
  ]];
  for (const c of clients) {
    const f = figs.get(c.name)!, k = cpu.get(c.name)!;
    rows.push([
      c.name,
      fixed(f[0], 1),
      fixed(f[0] / ref[0], 2),
      fixed(f[1], 2),
      fixed(f[1] / ref[1], 2),
      fixed(f[2], 2),
      fixed(f[2] / ref[2], 2),
      fixed(k[0], 3),
      fixed(k[1], 2),
      fixed(k[2], 2),
      fixed(start.get(c.name)! * 1000, 0),
    ]);
  }

  // The project's question: what it costs over the Deno it runs on.
  const native = "deno-native";
  const ratios = [[
    `x ${native}`,
    "bulk MiB/s",
    "tcp rtt",
    "udp rtt",
    "cpu/GiB",
    "cpu/tcp",
    "cpu/udp",
    "start-up",
    "net/GiB",
    "net/tcp",
    "net/udp",
  ]];
  if (figs.has(native)) {
    const nf = figs.get(native)!, nc = cpu.get(native)!;
    const ns = start.get(native)!, nn = net.get(native)!;
    for (
      const c of clients.filter((c) =>
        c.name.startsWith("deno-native-") || c.name.startsWith("project-")
      )
    ) {
      const f = figs.get(c.name)!, k = cpu.get(c.name)!;
      ratios.push([
        c.name,
        ...f.map((v, m) => fixed(v / nf[m], 2)),
        ...k.map((v, m) => fixed(v / nc[m], 2)),
        fixed(start.get(c.name)! / ns, 2),
        ...net.get(c.name)!.map((v, m) => fixed(v / nn[m], 2)),
      ]);
    }
  }

  const how = plan.median ? "medians" : "best";
  return [
    table(rows),
    `# ${how} of ${done} interleaved round(s); bulk: ${plan.mib} MiB in 64 KiB sends to a sink; round trips: ${plan.trips} x 64 bytes`,
    `# cpu: user+sys of the whole client process (start-up included) per GiB sent / per round trip; start-up: the same of a run of one round trip (start, imports, connect)`,
    `# ${
      plan.pinned
        ? "peer pinned to CPU 1, clients to CPU 0 (taskset)"
        : "not pinned"
    }`,
    "",
    ...(ratios.length > 1
      ? [
        table(ratios),
        "# ratio to deno-native: bulk below 1 is slower, round trips and cpu above 1 are slower or costlier; net: cpu less start-up, what each GiB or round trip adds",
        "",
      ]
      : []),
    ...clients.map((c) =>
      `# ${c.name.padEnd(20)} ${c.about}: ${display(c.cmd("<build>"))}`
    ),
    ...notes.map((n) => `# NOTE ${n}`),
  ].join("\n");
}

/**
 * A command line as printed: the running deno shown as `deno`.
 *
 * @param cmd The command.
 * @returns It, joined with spaces.
 */
export function display(cmd: string[]): string {
  return cmd.map((w) => w === DENO ? "deno" : w).join(" ");
}

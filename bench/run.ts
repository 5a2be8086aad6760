/**
 * `deno task bench`: the project's side-by-side benchmarks, in one run on
 * this machine so that the ratios are fair. See bench/README.md.
 *
 * ```sh
 * deno task bench                          # everything: 5 to 10 minutes on 2 cores
 * deno task bench --quick                  # a sanity run: about a minute
 * deno task bench --only client --rounds 3 --clients project-deno,deno-native
 * ```
 *
 * Needs deno, gcc, python3 and node on PATH (rows needing a missing one are
 * skipped with a note); `taskset` is used to pin processes when present. The
 * C programs are built into a temporary directory, removed at the end.
 *
 * @module
 */
import { compareClients } from "./compare_clients.ts";
import { compareServers } from "./compare_servers.ts";
import { DENO, Processes, ROOT, sleep } from "./_harness.ts";
import { measureMemory } from "./memory.ts";
import { compareIdle } from "./compare_idle.ts";
import { compareFiles } from "./compare_files.ts";

const PARTS = [
  "client",
  "server",
  "memory",
  "idle",
  "files",
  "micro",
] as const;

const USAGE = `usage: deno task bench [flags]

  --quick            a sanity run: 1 round, 256 MiB, 5000 trips, 2 s of load, no micro
  --only PARTS       comma-separated, of: ${PARTS.join(", ")} (default: all)
  --rounds N         rounds of every part (default: client 5, server 3,
                     files 3, memory 2)
  --median           clients and files: medians, not each row's best round
  --mib N            MiB per bulk run (default 1024; files: the bulk reads
                     take as many untimed first, the sendfile file is a
                     quarter of it)
  --trips N          round trips per TCP or UDP run (default 20000; files
                     reads 100 times as many lines)
  --clients NAMES    only these clients (c-libc always runs)
  --servers NAMES    only these servers, also in memory (deno-native always runs)
  --conns N          server load: concurrent connections (default 200)
  --seconds S        server load: counted seconds per run (default 3)
  --warmup S         server load: uncounted seconds first (default 1)
  --mem-conns N      memory: idle connections (default 1000)
  --settle S         memory: seconds before reading RSS (default 2)
  --budget MIN       minutes the run aims to stay within (default 10): client,
                     server, memory and files start no new round after 45%,
                     30%, 12% and 15% of it (each runs at least one round)
  --no-pin           do not pin processes to CPUs`;

/** Everything one run does, from the command line. */
export interface Plan {
  /** Which parts run. */
  parts: Set<string>;
  /** Rounds per part. */
  rounds: { client: number; server: number; memory: number; files: number };
  /** Clients: medians instead of best rounds. */
  median: boolean;
  /** MiB per bulk run. */
  mib: number;
  /** Round trips per TCP or UDP run. */
  trips: number;
  /** Client names to run; null: all. */
  clients: string[] | null;
  /** Server names to run; null: all. */
  servers: string[] | null;
  /** Server load: connections, counted and warm-up seconds. */
  conns: number;
  /** Counted seconds of load. */
  seconds: number;
  /** Uncounted seconds of load first. */
  warmup: number;
  /** Memory: idle connections. */
  memConns: number;
  /** Memory: seconds before reading. */
  settle: number;
  /** Minutes the run aims to stay within. */
  budget: number;
  /** Pin processes to CPUs. */
  pin: boolean;
  /** Print the usage and stop. */
  help: boolean;
}

/**
 * Parses the flags; an unknown flag or a bad value is an error, not ignored.
 *
 * @param args The command line.
 * @returns The plan.
 * @throws {Error} An unknown flag or a bad value.
 *
 * @example
 * ```ts
 * import { parsePlan } from "./run.ts";
 * import assert from "node:assert/strict";
 *
 * const p = parsePlan(["--quick", "--only", "client,memory"]);
 * assert.equal(p.mib, 256);
 * assert.deepEqual([...p.parts], ["client", "memory"]);
 * ```
 */
export function parsePlan(args: string[]): Plan {
  const quick = args.includes("--quick");
  const p: Plan = {
    parts: new Set(quick ? PARTS.filter((x) => x !== "micro") : PARTS),
    rounds: quick
      ? { client: 1, server: 1, memory: 1, files: 1 }
      : { client: 5, server: 3, memory: 2, files: 3 },
    median: false,
    mib: quick ? 256 : 1024,
    trips: quick ? 5000 : 20000,
    clients: null,
    servers: null,
    conns: 200,
    seconds: quick ? 2 : 3,
    warmup: quick ? 0.5 : 1,
    memConns: 1000,
    settle: quick ? 1 : 2,
    budget: 10,
    pin: true,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (integer: boolean) => {
      const v = value(), n = Number(v);
      if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
        throw new Error(`${flag}: bad value '${v}'`);
      }
      return n;
    };
    const names = () => value().split(",").filter(Boolean);
    switch (flag) {
      case "--quick":
        break;
      case "--only": {
        const parts = names();
        const bad = parts.find((x) =>
          !(PARTS as readonly string[]).includes(x)
        );
        if (bad !== undefined) throw new Error(`--only: unknown part '${bad}'`);
        p.parts = new Set(parts);
        break;
      }
      case "--rounds": {
        const n = num(true);
        p.rounds = { client: n, server: n, memory: n, files: n };
        break;
      }
      case "--median":
        p.median = true;
        break;
      case "--best": // the default; accepted for old command lines
        p.median = false;
        break;
      case "--mib":
        p.mib = num(true);
        break;
      case "--trips":
        p.trips = num(true);
        break;
      case "--clients":
        p.clients = names();
        break;
      case "--servers":
        p.servers = names();
        break;
      case "--conns":
        p.conns = num(true);
        break;
      case "--seconds":
        p.seconds = num(false);
        break;
      case "--warmup":
        p.warmup = Number(value());
        if (!(p.warmup >= 0)) throw new Error("--warmup: bad value");
        break;
      case "--mem-conns":
        p.memConns = num(true);
        break;
      case "--settle":
        p.settle = num(false);
        break;
      case "--budget":
        p.budget = num(false);
        break;
      case "--no-pin":
        p.pin = false;
        break;
      case "--help":
      case "-h":
        p.help = true;
        break;
      default:
        throw new Error(`unknown flag ${args[i]}\n${USAGE}`);
    }
  }
  return p;
}

/** The first line `cmd` prints, or null if it cannot run. */
async function version(cmd: string, ...args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10000),
    }).output();
    if (!out.success) return null;
    const text = new TextDecoder().decode(out.stdout) ||
      new TextDecoder().decode(out.stderr);
    return text.split("\n")[0].trim();
  } catch {
    return null;
  }
}

const C_PROGRAMS = [
  "guard.c",
  "peer.c",
  "loadgen.c",
  "clients/client.c",
  "servers/server_epoll.c",
];

/** Compiles the C programs into `dir`, each named after its source file. */
async function build(dir: string): Promise<void> {
  await Promise.all(C_PROGRAMS.map(async (src) => {
    const exe = `${dir}/${src.split("/").pop()!.replace(/\.c$/, "")}`;
    const out = await new Deno.Command("gcc", {
      args: ["-O2", "-Wall", "-o", exe, `bench/${src}`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120000),
    }).output();
    if (!out.success) {
      throw new Error(
        `gcc ${src} failed:\n${new TextDecoder().decode(out.stderr)}`,
      );
    }
  }));
}

function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/**
 * Runs one part and prints its report under a heading; a failed part
 * becomes a note. `report` gets the time after which it should start no new
 * round: `share` of the run's budget from now.
 */
async function part(
  title: string,
  budgetMin: number,
  share: number,
  report: (deadline: number) => Promise<string>,
): Promise<void> {
  console.error(`# ${title} ...`);
  const t0 = performance.now();
  let text: string;
  try {
    text = await report(t0 + budgetMin * 60000 * share);
  } catch (e) {
    text = `# NOTE failed: ${e instanceof Error ? e.message : e}`;
  }
  const took = ((performance.now() - t0) / 1000).toFixed(0);
  console.log(`\n## ${title} (${took} s)\n${text}`);
}

async function main(): Promise<void> {
  const plan = parsePlan(Deno.args);
  if (plan.help) {
    console.log(USAGE);
    return;
  }
  const t0 = performance.now();
  const [deno, gcc, python, node, taskset] = await Promise.all([
    version(DENO, "--version"),
    version("gcc", "--version"),
    version("python3", "--version"),
    version("node", "--version"),
    // Pinning needs taskset and both CPUs allowed to this process.
    version("taskset", "-c", "0,1", "true"),
  ]);
  if (gcc === null) throw new Error("the benchmarks need gcc on PATH");
  const skip = new Map<string, string>();
  if (python === null) skip.set("python3", "python3 is not on PATH");
  if (node === null) skip.set("node", "node is not on PATH");
  const cpus = navigator.hardwareConcurrency;
  const pin = plan.pin && taskset !== null && cpus >= 2;
  console.log(
    [
      `# ${new Date().toISOString()} ${deno}; ${node ?? "no node"}; ${
        python ?? "no python3"
      }; ${gcc}`,
      `# ${Deno.build.os} ${Deno.osRelease()}, ${cpus} CPUs (${cpuModel()}), ${
        pin
          ? "pinned with taskset"
          : `not pinned (${plan.pin ? "needs taskset and 2 CPUs" : "--no-pin"})`
      }; load average ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    ].join("\n"),
  );

  const load = Deno.loadavg()[0];
  if (load >= 1) {
    console.log(
      `# WARNING: load average ${
        load.toFixed(2)
      }: other processes are busy on this machine, expect noisy figures`,
    );
  }

  const bin = await Deno.makeTempDir({ prefix: "pysocket-bench-" });
  const procs = new Processes(`${bin}/guard`, pin);
  // On Ctrl-C or kill, end every process we started before going.
  const stop = async () => {
    await Promise.race([procs[Symbol.asyncDispose](), sleep(2000)]);
    Deno.removeSync(bin, { recursive: true });
    Deno.exit(130);
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    await build(bin);
    if (plan.parts.has("client")) {
      await part(
        "clients against the C peer",
        plan.budget,
        0.45,
        (deadline) =>
          compareClients(procs, bin, {
            rounds: plan.rounds.client,
            deadline,
            mib: plan.mib,
            trips: plan.trips,
            median: plan.median,
            pinned: pin,
            only: plan.clients,
          }, skip),
      );
    }
    if (plan.parts.has("server")) {
      await part(
        `echo servers, ${plan.conns} connections`,
        plan.budget,
        0.3,
        (deadline) =>
          compareServers(procs, bin, {
            rounds: plan.rounds.server,
            deadline,
            conns: plan.conns,
            seconds: plan.seconds,
            warmup: plan.warmup,
            pinned: pin,
            only: plan.servers,
          }, skip),
      );
    }
    if (plan.parts.has("memory")) {
      await part(
        `memory, ${plan.memConns} idle connections`,
        plan.budget,
        0.12,
        (deadline) =>
          measureMemory(procs, bin, {
            rounds: plan.rounds.memory,
            deadline,
            conns: plan.memConns,
            settle: plan.settle,
            only: plan.servers,
          }, skip),
      );
    }
    if (plan.parts.has("idle")) {
      await part(
        "non-blocking calls on an idle socket",
        plan.budget,
        0,
        () => compareIdle(procs, plan.trips, skip),
      );
    }
    if (plan.parts.has("files")) {
      await part(
        "readline, readable and sendfile",
        plan.budget,
        0.15,
        (deadline) =>
          compareFiles(procs, {
            lines: plan.trips * 100,
            mib: plan.mib,
            warmMib: plan.mib,
            fileMib: Math.max(1, Math.round(plan.mib / 4)),
            rounds: plan.rounds.files,
            deadline,
            median: plan.median,
          }, skip),
      );
    }
    if (plan.parts.has("micro")) {
      const cmd = [
        DENO,
        "bench",
        "--allow-net",
        "--allow-ffi",
        "--unstable-net",
        "bench/hot_paths_bench.ts",
      ];
      await part(
        "micro-benchmarks (deno bench bench/hot_paths_bench.ts)",
        plan.budget,
        0,
        async () => {
          const out = await procs.run(cmd, 600, { env: { NO_COLOR: "1" } });
          if (out.code === 0) return out.stdout.trimEnd();
          return `${out.stdout.trimEnd()}\n# NOTE deno bench failed (exit ${out.code}): ${out.stderr}`;
        },
      );
    }
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
    await procs[Symbol.asyncDispose]();
    await Deno.remove(bin, { recursive: true });
  }
  const seconds = ((performance.now() - t0) / 1000).toFixed(0);
  const after = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  console.log(`\n# done in ${seconds} s; load average ${after}`);
}

if (import.meta.main) await main();

/**
 * `deno task bench`: the project's clients and servers side by side with the
 * shared references, then the idle-connection memory harness.
 *
 * ```sh
 * deno task bench                  # full run: compare.py --best --rounds 5, ...
 * deno task bench --quick          # a sanity run in a couple of minutes
 * deno task bench --rounds 3 --only client,memory
 * ```
 *
 * Flags (all optional):
 * - `--quick`: 1 round, 256 MiB bulk, 5,000 trips, 2 s of load, 1 memory round.
 * - `--rounds N`: rounds for every harness.
 * - `--mib N`, `--trips N`, `--median` (report medians instead of
 *   `--best`), `--no-pin`: passed to compare.py.
 * - `--conns N`, `--seconds S`: passed to serve_compare.py.
 * - `--mem-conns N`: idle connections for memory.ts (default 1000).
 * - `--only client,server,memory`: which harnesses to run.
 *
 * @module
 */

const HERE = new URL(".", import.meta.url).pathname;
const SHARED = "/work/shared/bench";
// Plain `deno` (on PATH) keeps the printed commands readable.
const DENO = "deno";

interface Plan {
  quick: boolean;
  rounds: number | null;
  mib: number | null;
  trips: number | null;
  best: boolean;
  noPin: boolean;
  conns: number | null;
  seconds: number | null;
  memConns: number | null;
  only: Set<string>;
}

/** Parse run.ts's flags; unknown ones are an error rather than ignored. */
export function parsePlan(args: string[]): Plan {
  const p: Plan = {
    quick: false,
    rounds: null,
    mib: null,
    trips: null,
    best: true,
    noPin: false,
    conns: null,
    seconds: null,
    memConns: null,
    only: new Set(["client", "server", "memory"]),
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`bad ${flag}`);
      return n;
    };
    switch (flag) {
      case "--quick":
        p.quick = true;
        break;
      case "--rounds":
        p.rounds = num();
        break;
      case "--mib":
        p.mib = num();
        break;
      case "--trips":
        p.trips = num();
        break;
      case "--best":
        p.best = true;
        break;
      case "--median":
        p.best = false;
        break;
      case "--no-pin":
        p.noPin = true;
        break;
      case "--conns":
        p.conns = num();
        break;
      case "--seconds":
        p.seconds = num();
        break;
      case "--mem-conns":
        p.memConns = num();
        break;
      case "--only":
        p.only = new Set(value().split(","));
        break;
      default:
        throw new Error(`run.ts: unknown flag ${args[i]} (see bench/run.ts)`);
    }
  }
  return p;
}

function clientArgs(p: Plan): string[] {
  const rounds = p.rounds ?? (p.quick ? 1 : 5);
  const a = [`${SHARED}/compare.py`, "--rounds", String(rounds)];
  if (p.best) a.push("--best");
  if (p.noPin) a.push("--no-pin");
  const mib = p.mib ?? (p.quick ? 256 : null);
  const trips = p.trips ?? (p.quick ? 5000 : null);
  if (mib !== null) a.push("--mib", String(mib));
  if (trips !== null) a.push("--trips", String(trips));
  // deno-native runs with --unstable-net (Deno.listenDatagram), so ours do
  // too; project-deno-stable shows the flag-free UDP path (node:dgram).
  for (const backend of ["deno", "libc"]) {
    a.push(
      "--client",
      `project-${backend}=${DENO} run -A --unstable-net ${HERE}client.ts --backend ${backend}`,
    );
  }
  a.push(
    "--client",
    `project-deno-stable=${DENO} run -A ${HERE}client.ts --backend deno`,
  );
  // The control: Deno's own client with a reused UDP receive buffer.
  a.push(
    "--client",
    `deno-native-reuse=${DENO} run --allow-net --unstable-net ${HERE}deno_reuse_client.ts`,
  );
  return a;
}

function serverArgs(p: Plan): string[] {
  const rounds = p.rounds ?? (p.quick ? 1 : 3);
  const a = [`${SHARED}/serve_compare.py`, "--rounds", String(rounds)];
  const seconds = p.seconds ?? (p.quick ? 2 : null);
  if (seconds !== null) a.push("--seconds", String(seconds));
  if (p.conns !== null) a.push("--conns", String(p.conns));
  for (const backend of ["deno", "libc"]) {
    a.push(
      "--server",
      `project-${backend}=${DENO} run -A ${HERE}server.ts --backend ${backend}`,
    );
  }
  return a;
}

function memoryArgs(p: Plan): string[] {
  const a = ["run", "-A", `${HERE}memory.ts`];
  if (p.quick) a.push("--quick");
  if (p.rounds !== null && !p.quick) a.push("--rounds", String(p.rounds));
  if (p.memConns !== null) a.push("--conns", String(p.memConns));
  return a;
}

/** Run one harness with a time limit; its stderr streams through, stdout is returned. */
async function harness(
  title: string,
  cmd: string,
  args: string[],
  limitS: number,
): Promise<string> {
  console.error(`# ${title}: ${cmd} ${args.join(" ")}`);
  const child = new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const timer = setTimeout(() => {
    console.error(`# ${title}: over ${limitS} s, killed`);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, limitS * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout);
  console.log(`\n## ${title}\n${text.trimEnd()}`);
  if (!out.success) console.log(`# ${title} exited with ${out.code}`);
  return text;
}

async function main(): Promise<void> {
  const p = parsePlan(Deno.args);
  const t0 = performance.now();
  if (p.only.has("client")) {
    await harness("client (compare.py)", "python3", clientArgs(p), 3600);
  }
  if (p.only.has("server")) {
    await harness("server (serve_compare.py)", "python3", serverArgs(p), 1800);
  }
  if (p.only.has("memory")) {
    await harness("memory (bench/memory.ts)", DENO, memoryArgs(p), 900);
  }
  console.log(
    `\n# done in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

if (import.meta.main) await main();

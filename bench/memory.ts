/**
 * Memory of a server holding many idle connections: the project's echo
 * server (bench/server.ts) on each backend against a plain `Deno.listen` echo
 * server (the shared `server_deno.ts`).
 *
 * ```sh
 * deno run -A bench/memory.ts [--conns 1000] [--rounds 2] [--settle 2]
 * ```
 *
 * For each server and round: start it on a free loopback port, read its RSS
 * (VmRSS of the process and its children, from /proc/PID/status) once it
 * listens, open `--conns` connections from a Python client
 * (bench/_idle_clients.py: one 1-byte echo on each proves it is served, then
 * it sits idle), wait `--settle` seconds, read the RSS again (median of three
 * samples), then kill both. Prints a table and the ratio to Deno.listen, on
 * the whole RSS and on the growth per connection. Every process it starts is
 * killed, and each step has a time limit.
 *
 * @module
 */

const HERE = new URL(".", import.meta.url).pathname;
const SHARED = "/work/shared/bench";

/** Command lines of the servers measured; each gets the port appended. */
export const SERVERS: Record<string, string[]> = {
  "deno-listen": ["deno", "run", "--allow-net", `${SHARED}/server_deno.ts`],
  "project-deno": ["deno", "run", "-A", `${HERE}server.ts`, "--backend=deno"],
  "project-libc": ["deno", "run", "-A", `${HERE}server.ts`, "--backend=libc"],
};

interface Options {
  conns: number;
  rounds: number;
  settle: number;
  only: string[];
}

function parse(args: string[]): Options {
  const o: Options = { conns: 1000, rounds: 2, settle: 2, only: [] };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const value = () => inline ?? args[++i];
    if (flag === "--conns") o.conns = Number(value());
    else if (flag === "--rounds") o.rounds = Number(value());
    else if (flag === "--settle") o.settle = Number(value());
    else if (flag === "--only") o.only = value().split(",");
    else if (flag === "--quick") {
      o.rounds = 1;
      o.settle = 1;
    } else throw new Error(`memory.ts: unknown argument ${args[i]}`);
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitPort(port: number, ms = 15000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      await sleep(100);
    }
  }
  return false;
}

function children(pid: number): number[] {
  try {
    const out = new Deno.Command("pgrep", { args: ["-P", String(pid)] })
      .outputSync();
    return new TextDecoder().decode(out.stdout).split(/\s+/).filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** VmRSS of `pid` and its direct children, in KiB. */
export function rssKiB(pid: number): number {
  let total = 0;
  for (const p of [pid, ...children(pid)]) {
    try {
      const status = Deno.readTextFileSync(`/proc/${p}/status`);
      const m = status.match(/^VmRSS:\s+(\d+)/m);
      if (m) total += Number(m[1]);
    } catch {
      // The process is gone.
    }
  }
  return total;
}

async function rssMedian(pid: number): Promise<number> {
  const s: number[] = [];
  for (let i = 0; i < 3; i++) {
    s.push(rssKiB(pid));
    if (i < 2) await sleep(300);
  }
  return s.sort((a, b) => a - b)[1];
}

/** Read stdout lines until one starts with `prefix`, or the time is up. */
async function readLine(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  ms: number,
): Promise<string | null> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((r) => timer = setTimeout(r, ms, null));
  try {
    for (;;) {
      const chunk = await Promise.race([reader.read(), expired]);
      if (chunk === null || chunk.done) return null;
      text += chunk.value;
      const line = text.split("\n").find((l) => l.startsWith(prefix));
      if (line !== undefined) return line;
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

function kill(p: Deno.ChildProcess): void {
  try {
    p.kill("SIGKILL");
  } catch {
    // Already gone.
  }
}

interface Sample {
  idle: number;
  loaded: number;
}

async function measure(
  cmd: string[],
  o: Options,
): Promise<Sample | string> {
  const port = freePort();
  const server = new Deno.Command(cmd[0], {
    args: [...cmd.slice(1), String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let holder: Deno.ChildProcess | null = null;
  try {
    if (!await waitPort(port)) return "server did not start";
    await sleep(500);
    const idle = await rssMedian(server.pid);
    holder = new Deno.Command("python3", {
      args: [`${HERE}_idle_clients.py`, String(port), String(o.conns)],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const ready = await readLine(holder.stdout, "ready", 60000);
    if (ready === null) return "the idle clients did not connect";
    await sleep(o.settle * 1000);
    const loaded = await rssMedian(server.pid);
    return { idle, loaded };
  } finally {
    if (holder !== null) {
      kill(holder);
      await holder.status;
      await holder.stdin.close().catch(() => {});
      await holder.stderr.cancel().catch(() => {});
    }
    kill(server);
    await server.status;
    await server.stderr.cancel().catch(() => {});
  }
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2
    ? s[s.length >> 1]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const o = parse(Deno.args);
  const names = Object.keys(SERVERS).filter((n) =>
    o.only.length === 0 || o.only.includes(n) || n === "deno-listen"
  );
  const results: Record<string, Sample[]> = {};
  for (const n of names) results[n] = [];
  for (let r = 0; r < o.rounds; r++) {
    for (const name of names) {
      const s = await measure(SERVERS[name], o);
      if (typeof s === "string") console.error(`# ${name}: ${s}`);
      else results[name].push(s);
    }
  }
  const row = (cells: (string | number)[], widths: number[]) =>
    cells.map((c, i) =>
      i === 0 ? String(c).padEnd(widths[0]) : String(c).padStart(widths[i])
    ).join("");
  const w = [16, 10, 17, 10, 8, 13];
  console.log(
    row([
      "server",
      "idle MiB",
      `${o.conns} conns MiB`,
      "KiB/conn",
      "x deno",
      "x deno/conn",
    ], w),
  );
  const ref = results["deno-listen"];
  const refLoaded = ref.length ? median(ref.map((s) => s.loaded)) : NaN;
  const refPer = ref.length
    ? median(ref.map((s) => (s.loaded - s.idle) / o.conns))
    : NaN;
  for (const name of names) {
    const v = results[name];
    if (v.length === 0) {
      console.log(row([name, "-", "-", "-", "-", "-"], w));
      continue;
    }
    const idle = median(v.map((s) => s.idle));
    const loaded = median(v.map((s) => s.loaded));
    const per = median(v.map((s) => (s.loaded - s.idle) / o.conns));
    console.log(row([
      name,
      (idle / 1024).toFixed(1),
      (loaded / 1024).toFixed(1),
      per.toFixed(1),
      (loaded / refLoaded).toFixed(2),
      (per / refPer).toFixed(2),
    ], w));
  }
  console.log(
    `# medians of ${o.rounds} rounds; VmRSS ${o.settle} s after ${o.conns} idle connections (each echoed 1 byte once)`,
  );
}

if (import.meta.main) await main();

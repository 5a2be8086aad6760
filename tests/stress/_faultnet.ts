// A lossy link of the suite's own, for tests/stress/faults_stress.ts: two
// fresh network namespaces joined by a userspace relay over TUN devices
// (tests/stress/_relay.c, built with gcc into a temp dir at run time) that
// drops, delays, duplicates and reorders packets at the rates asked, with a
// seeded PRNG, and counts what it did. No netem needed. Test programs run in
// the namespaces as `ip netns exec NS deno run ...` children.
//
// Everything made here is undone on every path:
// - normally, and when a test fails or times out: by `dispose()`, which
//   kills the children and the relay (by pid), deletes both namespaces and
//   removes the temp dir, then checks that nothing is left;
// - when this process dies (Ctrl-C, a kill): by a guard, a `sh` child that
//   ignores SIGINT/SIGTERM/SIGHUP and waits for EOF on its stdin (our pipe,
//   closed by the kernel when we die), then kills whatever still runs in the
//   two namespaces, deletes them and removes the temp dir. The relay and the
//   children also exit by themselves at EOF on their stdin, and have
//   lifetimes of their own;
// - after a SIGKILL of the whole process group (guard included): the next
//   run deletes namespaces named after a pid that no longer exists.
// The TUN devices are not persistent: they vanish with the relay.
import { run } from "../_netns.ts";
import { withTimeout } from "../_python.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The prefix of every namespace this suite makes (then pid, then a/b). */
const PREFIX = "pysock-fault-";
/** The prefix of its temp dirs (then pid). */
const TMP_PREFIX = "pysock-faults-";

function must(out: Deno.CommandOutput, what: string): string {
  if (!out.success) {
    throw new Error(`${what} failed: ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout);
}

/**
 * Why the lossy link cannot be built here, or `null` when it can: not
 * Linux, not root, no `--allow-run`/`--allow-sys`, no `ip` (iproute2), no
 * TUN device, no gcc.
 */
export const faultsMissing: string | null = (() => {
  if (Deno.build.os !== "linux") return "network namespaces need Linux";
  try {
    if (Deno.uid() !== 0) return "needs root (network namespaces, TUN)";
  } catch {
    return "no --allow-sys to check for root";
  }
  for (
    const [cmd, args] of [["ip", ["netns", "list"]], ["gcc", [
      "--version",
    ]]] as const
  ) {
    try {
      const out = run(cmd, [...args]);
      if (!out.success) {
        return `${cmd} fails: ${decoder.decode(out.stderr).trim()}`;
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return `${cmd} is missing`;
      return `cannot run ${cmd} (no --allow-run?)`;
    }
  }
  try {
    const st = Deno.statSync("/dev/net/tun");
    if (!st.isCharDevice) return "/dev/net/tun is not a character device";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "no /dev/net/tun";
    return `cannot look at /dev/net/tun: ${e}`;
  }
  return null;
})();

// ------------------------------------------------ what children are told

export type Backend = "deno" | "libc";

/** A transfer or datagram stream between one sender and one receiver socket. */
export interface Flow {
  /** Its name in the report, e.g. "deno→libc". */
  name: string;
  /** The receiver's port (on the receiver's address). */
  port: number;
  /** The backend of this side's socket. */
  backend: Backend;
  /** Seeds the bytes (TCP) or payloads (UDP). */
  seed: number;
}

/** What the parent passes as the JSON argument. */
export interface ChildConfig {
  /** The receiver's address. */
  host: string;
  flows: Flow[];
  /** TCP: bytes per transfer. */
  bytes?: number;
  /** UDP: datagrams per flow. */
  count?: number;
  /** The receiver's recv timeout, seconds. */
  timeout: number;
  /** timers: how many sockets of each kind (TCP, UDP) and backend to time. */
  timerSockets?: number;
  /** The child gives up (printing what it has) after this long. */
  deadlineMs: number;
}

// ------------------------------------------------ the link

/** How the relay treats packets, each direction alike. */
export interface Faults {
  seed: number;
  /** Probabilities, 0 to 1. */
  loss: number;
  duplicate: number;
  reorder: number;
  /** Each packet's delay, uniform in this range (ms); order kept. */
  delayMs: [number, number];
  /** A reordered packet's extra hold (ms): later packets overtake it. */
  holdMs: [number, number];
}

/** The relay's counters for one direction. */
export interface DirStats {
  rx: number;
  rx_bytes: number;
  dropped: number;
  duplicated: number;
  /** Packets held back so that later ones could overtake them. */
  held: number;
  /** Packets delivered after one that arrived later than them. */
  reordered: number;
  tx: number;
  tx_bytes: number;
  overflow: number;
  write_errors: number;
  tcp: number;
  udp: number;
  other: number;
}

/** The relay's counters. */
export interface RelayStats {
  uptime_ms: number;
  queued: number;
  a2b: DirStats;
  b2a: DirStats;
  /** Per UDP destination port. */
  udp_ports: Record<
    string,
    { rx: number; dropped: number; duplicated: number; tx: number }
  >;
}

/** Reads a byte stream line by line, each read bounded in time. */
class Lines {
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";
  #done = false;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** The next line, or null at EOF. */
  async next(ms: number, what: string): Promise<string | null> {
    const deadline = Date.now() + ms;
    while (!this.#buffered.includes("\n")) {
      if (this.#done) return null;
      const r = await withTimeout(
        this.#reader.read(),
        Math.max(1, deadline - Date.now()),
        what,
      );
      if (r.done) this.#done = true;
      else this.#buffered += r.value;
    }
    const i = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, i);
    this.#buffered = this.#buffered.slice(i + 1);
    return line;
  }
  /** Read to EOF (so the pipe's op settles), bounded. */
  async drain(ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.#done) {
      const r = await withTimeout(
        this.#reader.read(),
        Math.max(1, deadline - Date.now()),
        "draining a child's output",
      );
      if (r.done) this.#done = true;
      else this.#buffered += r.value;
    }
    return this.#buffered;
  }
  cancel(): Promise<void> {
    return this.#reader.cancel().catch(() => {});
  }
}

/** A child process whose stdout is read as JSON lines. */
export class Child {
  readonly pid: number;
  readonly name: string;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #lines: Lines;
  #stderr: Promise<string>;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(name: string, cmd: string, args: string[]) {
    this.name = name;
    this.#child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    this.#stdin = this.#child.stdin.getWriter();
    this.#lines = new Lines(this.#child.stdout);
    this.#stderr = new Response(this.#child.stderr).text();
    this.status = this.#child.status.then((s) => {
      this.#exited = true;
      return s;
    });
  }

  /** The next JSON line it prints; throws (with its stderr) at EOF. */
  async json<T>(ms: number): Promise<T> {
    for (let i = 0; i < 1000; i++) {
      const line = await this.#lines.next(ms, `${this.name} output`);
      if (line === null) {
        const status = await withTimeout(this.status, 2000, this.name);
        throw new Error(
          `${this.name} ended (code ${status.code}) with no more output; stderr: ${
            (await this.stderr()).slice(-2000)
          }`,
        );
      }
      if (line.startsWith("{")) return JSON.parse(line) as T;
      console.log(`${this.name}: ${line}`);
    }
    throw new Error(`${this.name}: no JSON in 1000 lines`);
  }

  /** Write a line to its stdin (ignored once it has gone). */
  async send(line: string): Promise<void> {
    try {
      await this.#stdin.write(encoder.encode(`${line}\n`));
    } catch {
      // It has exited.
    }
  }

  /** What it wrote on stderr (complete once it has exited). */
  stderr(): Promise<string> {
    return withTimeout(this.#stderr, 2000, `${this.name} stderr`).catch(
      () => "",
    );
  }

  /**
   * Close its stdin, wait up to `graceMs` for it to exit, SIGKILL it (by its
   * pid) if it has not, and settle every pipe.
   */
  async stop(graceMs = 2000): Promise<Deno.CommandStatus> {
    await this.#stdin.close().catch(() => {});
    try {
      await withTimeout(this.status, graceMs, `${this.name} exit`);
    } catch {
      if (!this.#exited) {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // It ended meanwhile.
        }
      }
    }
    const status = await withTimeout(this.status, 5000, `${this.name} exit`);
    await this.#lines.drain(2000).catch(() => this.#lines.cancel());
    await this.stderr();
    return status;
  }
}

/** The two namespaces, the relay between them, and the children in them. */
export interface LossyLink extends AsyncDisposable {
  /** The namespaces' names. */
  readonly a: string;
  readonly b: string;
  /** Their addresses on the link. */
  readonly addrA: string;
  readonly addrB: string;
  /** The relay's counters now. */
  stats(): Promise<RelayStats>;
  /** The kernel's UDP counters (/proc/net/snmp) in namespace `side`. */
  udpCounters(side: "a" | "b"): Record<string, number>;
  /**
   * Run `deno run DENO_FLAGS FILE ...args` inside namespace `side`; stopped
   * (and killed if need be) by the caller or, at the latest, on dispose.
   */
  deno(side: "a" | "b", flags: string[], file: string, args: string[]): Child;
  /** Undo everything; throws if something could not be undone. */
  dispose(): Promise<void>;
}

function nsPids(name: string): number[] {
  const out = run("ip", ["netns", "pids", name]);
  if (!out.success) return [];
  return decoder.decode(out.stdout).split(/\s+/).filter(Boolean).map(Number);
}

function nsList(): string[] {
  return must(run("ip", ["netns", "list"]), "ip netns list").split("\n")
    .map((l) => l.split(" ")[0]).filter(Boolean);
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Delete what a crashed earlier run of this suite left (after a SIGKILL of
 * its whole process group, guard included): namespaces and temp dirs named
 * after a pid that no longer exists. Whatever still runs in those
 * namespaces was started by that run (its children, its relay). Returns
 * what was removed.
 */
export function sweepStale(): string[] {
  const removed: string[] = [];
  const stale = (pid: string) =>
    Number(pid) !== Deno.pid && !alive(Number(pid));
  for (const name of nsList()) {
    const m = name.match(new RegExp(`^${PREFIX}(\\d+)-[ab]$`));
    if (!m || !stale(m[1])) continue;
    for (const pid of nsPids(name)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    run("ip", ["netns", "delete", name]);
    removed.push(name);
  }
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  try {
    for (const e of Deno.readDirSync(tmp)) {
      const m = e.name.match(new RegExp(`^${TMP_PREFIX}(\\d+)-`));
      if (!e.isDirectory || !m || !stale(m[1])) continue;
      Deno.removeSync(`${tmp}/${e.name}`, { recursive: true });
      removed.push(`${tmp}/${e.name}`);
    }
  } catch {
    // No temp dir to look in: nothing of ours there either.
  }
  return removed;
}

/** Build the link: namespaces, relay, addresses. */
export async function lossyLink(faults: Faults): Promise<LossyLink> {
  const a = `${PREFIX}${Deno.pid}-a`;
  const b = `${PREFIX}${Deno.pid}-b`;
  const addrA = "10.201.0.1";
  const addrB = "10.201.0.2";
  const dev = "fault0";
  const dir = Deno.makeTempDirSync({ prefix: `${TMP_PREFIX}${Deno.pid}-` });
  const children: Child[] = [];
  let relay: Child | undefined;

  // The guard first, so that from here on even our own death cleans up.
  const guard = new Deno.Command("sh", {
    args: [
      "-c",
      `trap '' INT TERM HUP
cat >/dev/null
for ns in "$1" "$2"; do
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns delete "$ns" 2>/dev/null
done
rm -rf "$3"`,
      "guard",
      a,
      b,
      dir,
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();

  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    const problems: string[] = [];
    for (const c of children) {
      await c.stop(1000).catch((e) => problems.push(`${c.name}: ${e}`));
    }
    if (relay) {
      await relay.send("quit");
      await relay.stop(2000).catch((e) => problems.push(`relay: ${e}`));
    }
    for (const ns of [a, b]) {
      // Nothing of ours should be left; whatever is, is ours: kill it.
      for (const pid of nsPids(ns)) {
        problems.push(`pid ${pid} still in ${ns}`);
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      run("ip", ["netns", "delete", ns]);
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) problems.push(String(e));
    }
    // The guard has nothing left to do: let it go.
    await guard.stdin.close().catch(() => {});
    await withTimeout(guard.status, 5000, "guard exit").catch((e) => {
      problems.push(String(e));
      try {
        guard.kill("SIGKILL");
      } catch {
        // It ended meanwhile.
      }
    });
    const left = nsList().filter((n) => n === a || n === b);
    if (left.length) problems.push(`namespaces left: ${left.join(", ")}`);
    if (alive(relay?.pid ?? -1)) problems.push("the relay still runs");
    try {
      Deno.statSync(dir);
      problems.push(`${dir} left`);
    } catch {
      // Gone, as it should be.
    }
    if (problems.length) {
      throw new Error(`cleanup: ${problems.join("; ")}`);
    }
  };

  try {
    const bin = `${dir}/relay`;
    must(
      run("gcc", [
        "-O2",
        "-Wall",
        "-o",
        bin,
        new URL("./_relay.c", import.meta.url).pathname,
      ]),
      "gcc _relay.c",
    );
    for (const ns of [a, b]) {
      must(run("ip", ["netns", "add", ns]), `ip netns add ${ns}`);
      must(run("ip", ["-n", ns, "link", "set", "lo", "up"]), "lo up");
      // IPv4 only on the link: no IPv6 autoconfiguration chatter through
      // the relay (the kernel may have no IPv6 at all: then nothing to do).
      run("ip", [
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
      ]);
    }
    const ppm = (p: number) => String(Math.round(p * 1e6));
    const us = (ms: number) => String(Math.round(ms * 1000));
    relay = new Child("relay", bin, [
      `/run/netns/${a}`,
      `/run/netns/${b}`,
      dev,
      `seed=${faults.seed}`,
      `loss=${ppm(faults.loss)}`,
      `dup=${ppm(faults.duplicate)}`,
      `reorder=${ppm(faults.reorder)}`,
      `delay_min=${us(faults.delayMs[0])}`,
      `delay_max=${us(faults.delayMs[1])}`,
      `hold_min=${us(faults.holdMs[0])}`,
      `hold_max=${us(faults.holdMs[1])}`,
      "lifetime_ms=600000",
    ]);
    const ready = await relay.json<{ ready?: boolean }>(10_000);
    if (!ready.ready) throw new Error(`relay: ${JSON.stringify(ready)}`);
    for (const [ns, mine, peer] of [[a, addrA, addrB], [b, addrB, addrA]]) {
      must(
        run("ip", [
          "-n",
          ns,
          "addr",
          "add",
          mine,
          "peer",
          `${peer}/32`,
          "dev",
          dev,
        ]),
        `address ${mine}`,
      );
      must(run("ip", ["-n", ns, "link", "set", dev, "up"]), `${dev} up`);
    }
  } catch (e) {
    await dispose().catch(() => {});
    throw e;
  }

  let statsChain: Promise<unknown> = Promise.resolve();
  return {
    a,
    b,
    addrA,
    addrB,
    stats() {
      // One request at a time: the answers come back in order anyway.
      const p = statsChain.then(async () => {
        await relay!.send("stats");
        return await relay!.json<RelayStats>(5000);
      });
      statsChain = p.catch(() => {});
      return p;
    },
    udpCounters(side) {
      const text = must(
        run("ip", [
          "netns",
          "exec",
          side === "a" ? a : b,
          "cat",
          "/proc/net/snmp",
        ]),
        "reading /proc/net/snmp",
      );
      const [names, values] = text.split("\n")
        .filter((l) => l.startsWith("Udp:"))
        .map((l) => l.split(/\s+/).slice(1));
      return Object.fromEntries(names.map((n, i) => [n, Number(values[i])]));
    },
    deno(side, flags, file, args) {
      if (disposed) throw new Error("the link is gone");
      const c = new Child(
        `${side === "a" ? "A" : "B"}:${args[0] ?? file}`,
        "ip",
        [
          "netns",
          "exec",
          side === "a" ? a : b,
          Deno.execPath(),
          "run",
          "--no-lock",
          "--no-prompt",
          ...flags,
          file,
          ...args,
        ],
      );
      children.push(c);
      return c;
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/**
 * Lines, streams and files, side by side: CPython (`clients/files.py`) and
 * this module on each backend (`clients/files.ts`), against one peer for all
 * (`clients/files_peer.py`), on 127.0.0.1.
 *
 * - readline: lines/s reading 64-byte lines with `makefile("rb").readline()`
 *   until EOF;
 * - readable: MiB/s receiving bulk bytes with a 64 KiB `recv_into` loop,
 *   the same loop into a new buffer each time (what keeping every chunk
 *   costs, the bound of `for await`), `for await` over `sock.readable`, and
 *   a BYOB reader of it, and the ratios of the stream to the loops; Deno's
 *   own `conn.read`, `conn.readable` and BYOB reader alongside, for what Web
 *   Streams cost in Deno itself;
 * - sendfile: MiB/s sending a temporary file with `sendfile` and with a
 *   read/sendall loop of 1 MiB, timed until the sink reports the count back.
 *
 * Each run is its own process, which listens, starts the peer, accepts,
 * and prints one JSON line; the rows are interleaved round by round.
 *
 * @module
 */
import {
  best,
  DENO,
  fixed,
  median,
  overBudget,
  type Processes,
  table,
} from "./_harness.ts";

/** Sizes, rounds and time. */
export interface FilesPlan {
  /** Lines per readline run. */
  lines: number;
  /** MiB per bulk receive run, timed. */
  mib: number;
  /** MiB each bulk receive run reads untimed first. */
  warmMib: number;
  /** MiB in the file of the sendfile runs. */
  fileMib: number;
  /** Rounds; each runs every row once. */
  rounds: number;
  /** No new round starts after this `performance.now()` time (the first always runs). */
  deadline: number;
  /** Medians instead of the best round. */
  median: boolean;
}

/** What one run printed. */
interface Run {
  rate: number;
  peer_busy: number;
  /** The reader's CPU seconds per GiB (bulk runs of files.ts only). */
  cpu?: number;
}

// "native" is Deno's own Deno.Conn, in the bulk table only.
type Impl = "python" | "deno" | "libc" | "native";
const IMPLS: Impl[] = ["python", "deno", "libc"];
const NAME: Record<Impl, string> = {
  python: "python-socket",
  deno: "project-deno",
  libc: "project-libc",
  native: "deno-native",
};
// The bulk modes; deno-native's are conn.read, conn.readable and a BYOB
// reader of it (files.ts's native_* modes).
const BULK = ["recv_into", "fresh", "readable", "byob"];

function command(impl: Impl, mode: string, args: string[]): string[] {
  if (impl === "python") {
    return ["python3", "bench/clients/files.py", mode, ...args];
  }
  if (impl === "native") {
    mode = `native_${mode === "recv_into" ? "read" : mode}`;
  }
  return [
    DENO,
    "run",
    "--allow-net",
    "--allow-ffi",
    "--allow-read",
    "--allow-run=python3",
    "bench/clients/files.ts",
    `--backend=${impl === "native" ? "deno" : impl}`,
    mode,
    ...args,
  ];
}

/** A temporary file of `mib` MiB, not all one byte. */
async function makeFile(mib: number): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "pysocket-bench-files-" });
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 31 + 7) & 255);
  using f = await Deno.open(path, { write: true });
  for (let i = 0; i < mib; i++) {
    let view = chunk;
    while (view.length > 0) view = view.subarray(await f.write(view));
  }
  return path;
}

/**
 * Runs every row `plan.rounds` times, interleaved, and returns the tables.
 *
 * @param procs Where children run (killed with the harness).
 * @param plan Sizes, rounds and time.
 * @param skip Missing programs, with the reason.
 * @returns The report.
 */
export async function compareFiles(
  procs: Processes,
  plan: FilesPlan,
  skip: Map<string, string>,
): Promise<string> {
  const missing = skip.get("python3");
  if (missing !== undefined) {
    return `# files skipped: its peer is Python and ${missing}`;
  }
  const bytes = String(plan.mib * 2 ** 20);
  const warm = String(plan.warmMib * 2 ** 20);
  const path = await makeFile(plan.fileMib);
  // Every (implementation, mode) run, in the order of a round.
  const jobs: { impl: Impl; mode: string; args: string[] }[] = [
    ...IMPLS.map((impl) => ({
      impl,
      mode: "readline",
      args: [`${plan.lines}`],
    })),
    { impl: "python", mode: "recv_into", args: [bytes, warm] },
    ...(["deno", "libc", "native"] as const).flatMap((impl) =>
      BULK.map((mode) => ({
        impl,
        mode,
        args: [bytes, warm],
      }))
    ),
    ...IMPLS.flatMap((impl) =>
      ["sendfile", "loop"].map((mode) => ({ impl, mode, args: [path] }))
    ),
  ];
  const runs = new Map<string, Run[]>();
  const notes: string[] = [];
  try {
    for (let r = 0; r < plan.rounds; r++) {
      if (r > 0 && performance.now() > plan.deadline) {
        notes.push(`# NOTE ${overBudget(r, plan.rounds)}`);
        break;
      }
      for (const job of jobs) {
        const key = `${job.impl} ${job.mode}`;
        const out = await procs.run(
          command(job.impl, job.mode, job.args),
          120,
          {
            env: { NO_COLOR: "1" },
          },
        );
        let run: Run = { rate: NaN, peer_busy: NaN, cpu: NaN };
        if (out.code === 0) {
          run = JSON.parse(out.stdout.trim());
        } else {
          notes.push(
            `# NOTE ${NAME[job.impl]} ${job.mode} failed (exit ${out.code}${
              out.timedOut ? ", timed out" : ""
            }): ${out.stderr.split("\n").slice(-3).join(" ")}`,
          );
        }
        runs.set(key, [...(runs.get(key) ?? []), run]);
      }
    }
  } finally {
    await Deno.remove(path);
  }

  const rate = (impl: Impl, mode: string) => {
    const v = (runs.get(`${impl} ${mode}`) ?? []).map((x) => x.rate);
    return plan.median ? median(v) : best(v, true);
  };
  // The highest share of its CPU that the peer used in any of these runs.
  const busy = (keys: string[]) => {
    const v = keys.flatMap((k) => (runs.get(k) ?? []).map((x) => x.peer_busy))
      .filter((x) => !Number.isNaN(x));
    return v.length === 0 ? "-" : `${(Math.max(...v) * 100).toFixed(0)}%`;
  };
  const ratio = (a: number, b: number) => fixed(a / b, 2);
  // The reader's CPU per GiB, lowest (or median) of its rounds.
  const cpu = (impl: Impl, mode: string) => {
    const v = (runs.get(`${impl} ${mode}`) ?? []).map((x) => x.cpu ?? NaN);
    return plan.median ? median(v) : best(v, false);
  };
  const which = plan.median ? "medians" : "best";

  const readline = table([
    ["reader", "lines/s", "x CPython", "source busy"],
    ...IMPLS.map((impl) => [
      NAME[impl],
      fixed(rate(impl, "readline"), 0),
      ratio(rate(impl, "readline"), rate("python", "readline")),
      busy([`${impl} readline`]),
    ]),
  ]);

  const bulk = table([
    [
      "reader",
      "recv_into MiB/s",
      "fresh MiB/s",
      "readable MiB/s",
      "x recv_into",
      "x fresh",
      "byob MiB/s",
      "x recv_into",
      "cpu s/GiB",
      "source busy",
    ],
    ...([...IMPLS, "native"] as Impl[]).map((impl) => {
      const base = rate(impl, "recv_into");
      const fresh = impl === "python" ? NaN : rate(impl, "fresh");
      const stream = impl === "python" ? NaN : rate(impl, "readable");
      const byob = impl === "python" ? NaN : rate(impl, "byob");
      return [
        NAME[impl],
        fixed(base, 0),
        fixed(fresh, 0),
        fixed(stream, 0),
        ratio(stream, base),
        ratio(stream, fresh),
        fixed(byob, 0),
        ratio(byob, base),
        impl === "python"
          ? "-"
          : BULK.map((m) => fixed(cpu(impl, m), 2)).join(" / "),
        busy(BULK.map((m) => `${impl} ${m}`)),
      ];
    }),
  ]);

  const pySendfile = rate("python", "sendfile");
  const send = table([
    [
      "sender",
      "sendfile MiB/s",
      "loop MiB/s",
      "x loop",
      "x CPython",
      "sink busy",
    ],
    ...IMPLS.map((impl) => {
      const kernel = rate(impl, "sendfile"), loop = rate(impl, "loop");
      return [
        NAME[impl],
        fixed(kernel, 0),
        fixed(loop, 0),
        ratio(kernel, loop),
        ratio(kernel, pySendfile),
        busy([`${impl} sendfile`, `${impl} loop`]),
      ];
    }),
  ]);

  return [
    readline,
    `# ${plan.lines} lines of 64 bytes read with makefile("rb").readline() until EOF, timed from the first line; x CPython: over python-socket`,
    "",
    bulk,
    `# ${plan.mib} MiB received until EOF after ${plan.warmMib} MiB untimed (a warm-up: V8 compiles the reader's code meanwhile), timed from the first chunk after it: recv_into a 64 KiB buffer; fresh: recv_into a new 64 KiB buffer each time (a reader that keeps its chunks: the bound of for await); readable: for await over sock.readable; byob: a BYOB reader of it filling one 64 KiB buffer; x recv_into, x fresh: over the same backend's loops (the target is 0.90 or more of recv_into); deno-native: Deno's own Deno.Conn, conn.read into 64 KiB (one, or fresh), for await over conn.readable, a BYOB reader of it; cpu s/GiB: the reader's user+sys CPU per GiB over the timed part, recv_into / fresh / readable / byob`,
    "",
    send,
    `# a ${plan.fileMib} MiB file sent until the sink reports the count back: sendfile is socket.sendfile (the kernel's sendfile(2) on libc and in CPython, a read/send loop on the Deno backend); loop: read into a 1 MiB buffer and sendall, blocking sockets; x loop: over the same row's loop; x CPython: over python-socket's sendfile`,
    `# ${which} of ${
      runs.get("python readline")?.length ?? 0
    } rounds; each run is a process against clients/files_peer.py (one Python peer for all); source/sink busy: the peer's highest CPU time over wall time, near 100% if it held the others back`,
    ...notes,
  ].join("\n");
}

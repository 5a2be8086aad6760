/**
 * The project's benchmark client for `/work/shared/bench/compare.py`, written
 * the way a user ports `client.py` to this module. Same CLI as `client.c`:
 *
 * ```sh
 * deno run -A bench/client.ts [--backend deno|libc] MODE PORT AMOUNT
 * ```
 *
 * MODE is `bulk` (AMOUNT MiB in 64 KiB sendall()s, prints `bulk_mib_s`),
 * `pingpong` (AMOUNT 64-byte TCP round trips, prints `tcp_rtt_us`) or `udp`
 * (AMOUNT 64-byte round trips over a connected UDP socket, prints
 * `udp_rtt_us`). Exactly one `<figure> <value>` line goes to stdout.
 *
 * @module
 */
import {
  AF_INET,
  IPPROTO_TCP,
  MSG_WAITALL,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_STREAM,
  socket,
  TCP_NODELAY,
} from "../mod.ts";

/** Split `--backend X` / `--backend=X` out of the arguments. */
export function parseArgs(
  args: string[],
): { backend: "deno" | "libc"; rest: string[] } {
  let backend = "deno";
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--backend") backend = args[++i] ?? "";
    else if (a.startsWith("--backend=")) backend = a.slice(10);
    else rest.push(a);
  }
  if (backend !== "deno" && backend !== "libc") {
    throw new Error(`--backend must be deno or libc, not '${backend}'`);
  }
  return { backend, rest };
}

async function main(): Promise<void> {
  const { backend, rest } = parseArgs(Deno.args);
  const [mode, portArg, amountArg] = rest;
  if (!mode || !portArg || !amountArg) {
    console.error(
      "usage: client.ts [--backend deno|libc] bulk|pingpong|udp PORT AMOUNT",
    );
    Deno.exit(2);
  }
  const port = Number(portArg), amount = Number(amountArg);
  const addr = ["127.0.0.1", port] as const;
  const buf = new Uint8Array(65536).fill(120); // b"x" * 65536
  const now = () => performance.now() / 1000;

  if (mode === "udp") {
    using u = socket(AF_INET, SOCK_DGRAM, 0, { backend });
    await u.connect(addr);
    const msg = buf.subarray(0, 64);
    const t0 = now();
    for (let i = 0; i < amount; i++) {
      await u.send(msg);
      await u.recv(65536);
    }
    console.log(`udp_rtt_us ${((now() - t0) / amount * 1e6).toFixed(2)}`);
    return;
  }

  using s = socket(AF_INET, SOCK_STREAM, 0, { backend });
  await s.connect(addr);
  s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  if (mode === "bulk") {
    await s.sendall(new TextEncoder().encode("S"));
    const t0 = now();
    for (let i = 0; i < amount * 16; i++) await s.sendall(buf);
    s.shutdown(SHUT_WR);
    const r = await s.recv(8, MSG_WAITALL);
    const dt = now() - t0;
    const got = r.length === 8
      ? Number(new DataView(r.buffer, r.byteOffset, 8).getBigUint64(0, true))
      : -1;
    if (got !== amount * 1048576) throw new Error(`peer saw ${got} bytes`);
    console.log(`bulk_mib_s ${(amount / dt).toFixed(1)}`);
  } else if (mode === "pingpong") {
    await s.sendall(new TextEncoder().encode("E"));
    const msg = buf.subarray(0, 64);
    const r = new Uint8Array(64);
    const t0 = now();
    for (let i = 0; i < amount; i++) {
      await s.sendall(msg);
      let got = 0;
      while (got < 64) {
        const n = await s.recv_into(r.subarray(got));
        if (n === 0) throw new Error("eof");
        got += n;
      }
    }
    console.log(`tcp_rtt_us ${((now() - t0) / amount * 1e6).toFixed(2)}`);
  } else {
    throw new Error(`unknown mode '${mode}'`);
  }
}

if (import.meta.main) await main();

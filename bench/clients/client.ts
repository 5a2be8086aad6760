/**
 * The project's client, written the way a user ports `client.py` to this
 * module: the same calls, awaited.
 *
 * ```sh
 * deno run --allow-net --unstable-net bench/clients/client.ts [--backend deno|libc] MODE PORT AMOUNT
 * ```
 *
 * Same modes and output as client.c. The TCP round trip reads into one
 * buffer with `recv_into`, as the C and Deno clients do; the UDP one uses
 * `recv`, which returns new bytes, as in Python. `--backend libc` needs
 * `--allow-ffi`. Without `--unstable-net` the Deno backend's UDP runs on
 * `node:dgram`.
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
} from "../../mod.ts";

/**
 * Splits `--backend X` or `--backend=X` out of the arguments.
 *
 * @param args The command line.
 * @returns The backend (`"deno"` unless given) and the other arguments.
 * @throws {Error} A backend other than `deno` or `libc`.
 *
 * @example
 * ```ts
 * import { parseBackend } from "./client.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseBackend(["--backend=libc", "udp"]), {
 *   backend: "libc",
 *   rest: ["udp"],
 * });
 * ```
 */
export function parseBackend(
  args: string[],
): { backend: "deno" | "libc"; rest: string[] } {
  let backend = "deno";
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--backend") backend = args[++i] ?? "";
    else if (args[i].startsWith("--backend=")) backend = args[i].slice(10);
    else rest.push(args[i]);
  }
  if (backend !== "deno" && backend !== "libc") {
    throw new Error(`--backend must be deno or libc, not '${backend}'`);
  }
  return { backend, rest };
}

async function main(): Promise<void> {
  const { backend, rest: [mode, portArg, amountArg] } = parseBackend(
    Deno.args,
  );
  const peer = ["127.0.0.1", Number(portArg)] as const;
  const amount = Number(amountArg);
  const data = new Uint8Array(65536).fill(120); // b"x" * 65536
  const msg = data.subarray(0, 64);

  if (mode === "udp") {
    using u = socket(AF_INET, SOCK_DGRAM, 0, { backend });
    await u.connect(peer);
    const t0 = performance.now();
    for (let i = 0; i < amount; i++) {
      await u.send(msg);
      await u.recv(65536);
    }
    const us = (performance.now() - t0) / amount * 1000;
    console.log(`udp_rtt_us ${us.toFixed(2)}`);
    return;
  }

  using s = socket(AF_INET, SOCK_STREAM, 0, { backend });
  await s.connect(peer);
  s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  if (mode === "bulk") {
    const t0 = performance.now();
    for (let i = 0; i < amount * 16; i++) await s.sendall(data);
    s.shutdown(SHUT_WR);
    const count = await s.recv(8, MSG_WAITALL);
    const seconds = (performance.now() - t0) / 1000;
    const seen = count.length === 8
      ? new DataView(count.buffer, count.byteOffset, 8).getBigUint64(0, true)
      : -1n;
    if (seen !== BigInt(amount) * 1048576n) {
      throw new Error(`the sink saw ${seen} bytes`);
    }
    console.log(`bulk_mib_s ${(amount / seconds).toFixed(1)}`);
  } else if (mode === "tcp") {
    const back = new Uint8Array(64);
    const t0 = performance.now();
    for (let i = 0; i < amount; i++) {
      await s.sendall(msg);
      for (let got = 0; got < 64;) {
        const n = await s.recv_into(back.subarray(got));
        if (n === 0) throw new Error("the echo closed early");
        got += n;
      }
    }
    const us = (performance.now() - t0) / amount * 1000;
    console.log(`tcp_rtt_us ${us.toFixed(2)}`);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}

if (import.meta.main) await main();

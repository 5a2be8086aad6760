/**
 * Deno's own client: `Deno.connect` and `Deno.listenDatagram`, the baseline
 * the project's Deno backend is built on.
 *
 * ```sh
 * deno run --allow-net --unstable-net bench/clients/client_deno.ts [--reuse] MODE PORT AMOUNT
 * ```
 *
 * Same modes and output as client.c. `--reuse` makes this the control row:
 * the UDP receive fills one reused buffer (`receive(buf)`), as the project
 * does, instead of a fresh zero-filled 64 KiB one per datagram
 * (`receive()`). Bulk and TCP code is the same either way, so the control's
 * bulk and TCP figures show the noise between identical clients.
 *
 * @module
 */

/** Writes all of `data` to `conn`: `write` may take only part of it. */
async function writeAll(conn: Deno.TcpConn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) {
    off += await conn.write(data.subarray(off));
  }
}

/** Reads exactly `into.length` bytes; false if the stream ended first. */
async function readFull(
  conn: Deno.TcpConn,
  into: Uint8Array,
): Promise<boolean> {
  for (let got = 0; got < into.length;) {
    const n = await conn.read(into.subarray(got));
    if (n === null) return false;
    got += n;
  }
  return true;
}

async function main(): Promise<void> {
  const reuse = Deno.args.includes("--reuse");
  const [mode, portArg, amountArg] = Deno.args.filter((a) => a !== "--reuse");
  const port = Number(portArg), amount = Number(amountArg);
  const data = new Uint8Array(65536).fill(120);
  const msg = data.subarray(0, 64);

  if (mode === "udp") {
    const u = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
    const into = new Uint8Array(65536);
    const t0 = performance.now();
    for (let i = 0; i < amount; i++) {
      await u.send(msg, to);
      await (reuse ? u.receive(into) : u.receive());
    }
    const us = (performance.now() - t0) / amount * 1000;
    console.log(`udp_rtt_us ${us.toFixed(2)}`);
    u.close();
    return;
  }

  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  if (mode === "bulk") {
    const t0 = performance.now();
    for (let i = 0; i < amount * 16; i++) await writeAll(conn, data);
    await conn.closeWrite();
    const count = new Uint8Array(8);
    const whole = await readFull(conn, count);
    const seconds = (performance.now() - t0) / 1000;
    const seen = whole ? new DataView(count.buffer).getBigUint64(0, true) : -1n;
    if (seen !== BigInt(amount) * 1048576n) {
      throw new Error(`the sink saw ${seen} bytes`);
    }
    console.log(`bulk_mib_s ${(amount / seconds).toFixed(1)}`);
  } else if (mode === "tcp") {
    const back = new Uint8Array(64);
    const t0 = performance.now();
    for (let i = 0; i < amount; i++) {
      await writeAll(conn, msg);
      if (!await readFull(conn, back)) throw new Error("the echo closed early");
    }
    const us = (performance.now() - t0) / amount * 1000;
    console.log(`tcp_rtt_us ${us.toFixed(2)}`);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}

if (import.meta.main) await main();

/**
 * A control for `compare.py`: the shared Deno client
 * (`/work/shared/bench/client_deno.ts`) with one change, the UDP receive
 * reuses one buffer (`receive(buf)`) instead of allocating and zero-filling
 * 64 KiB per datagram (`receive()`). The library reuses a buffer too, so this
 * row separates what the library costs from what the zero-fill changes.
 *
 * ```sh
 * deno run --allow-net --unstable-net bench/deno_reuse_client.ts MODE PORT AMOUNT
 * ```
 *
 * @module
 */
const [mode, portArg, amountArg] = Deno.args;
const port = Number(portArg), amount = Number(amountArg);
const buf = new Uint8Array(65536).fill(120);
const now = () => performance.now() / 1000;

if (mode === "udp") {
  const u = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
  const msg = buf.subarray(0, 64);
  const into = new Uint8Array(65536); // the one change
  const t0 = now();
  for (let i = 0; i < amount; i++) {
    await u.send(msg, to);
    await u.receive(into);
  }
  console.log(`udp_rtt_us ${((now() - t0) / amount * 1e6).toFixed(2)}`);
  u.close();
} else {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  c.setNoDelay(true);
  const writeAll = async (b: Uint8Array) => {
    for (let o = 0; o < b.length;) o += await c.write(b.subarray(o));
  };
  if (mode === "bulk") {
    await writeAll(new TextEncoder().encode("S"));
    const t0 = now();
    for (let i = 0; i < amount * 16; i++) await writeAll(buf);
    await c.closeWrite();
    const r = new Uint8Array(8);
    let got = 0;
    while (got < 8) {
      const n = await c.read(r.subarray(got));
      if (n === null) break;
      got += n;
    }
    const seen = Number(new DataView(r.buffer).getBigUint64(0, true));
    if (seen !== amount * 1048576) throw new Error(`peer saw ${seen}`);
    console.log(`bulk_mib_s ${(amount / (now() - t0)).toFixed(1)}`);
  } else {
    await writeAll(new TextEncoder().encode("E"));
    const msg = buf.subarray(0, 64), r = new Uint8Array(64);
    const t0 = now();
    for (let i = 0; i < amount; i++) {
      await writeAll(msg);
      let got = 0;
      while (got < 64) {
        const n = await c.read(r.subarray(got));
        if (n === null) throw new Error("eof");
        got += n;
      }
    }
    console.log(`tcp_rtt_us ${((now() - t0) / amount * 1e6).toFixed(2)}`);
  }
  c.close();
}

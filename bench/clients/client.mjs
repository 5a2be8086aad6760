// The Node client: `net` and `dgram`, event-driven as Node code is written.
//
// usage: node client.mjs bulk PORT MIB | tcp PORT TRIPS | udp PORT TRIPS
//
// Same modes and output as client.c.
import dgram from "node:dgram";
import net from "node:net";
import process from "node:process";

const [mode, portArg, amountArg] = process.argv.slice(2);
const port = Number(portArg);
const amount = Number(amountArg);
const data = Buffer.alloc(65536, "x");
const msg = data.subarray(0, 64);
const fail = (why) => {
  console.error(why);
  process.exit(1);
};

function udp() {
  const u = dgram.createSocket("udp4");
  u.on("error", fail);
  u.connect(port, "127.0.0.1", () => {
    let trips = 0;
    const t0 = performance.now();
    u.on("message", () => {
      if (++trips < amount) return u.send(msg);
      const us = (performance.now() - t0) / amount * 1000;
      console.log(`udp_rtt_us ${us.toFixed(2)}`);
      u.close();
    });
    u.send(msg);
  });
}

function bulk() {
  const s = net.connect({ port, host: "127.0.0.1", noDelay: true });
  s.on("error", fail);
  s.on("connect", async () => {
    const replies = [];
    const t0 = performance.now();
    s.on("data", (d) => replies.push(d));
    s.on("end", () => {
      const seconds = (performance.now() - t0) / 1000;
      const seen = Buffer.concat(replies);
      if (
        seen.length !== 8 ||
        Number(seen.readBigUInt64LE(0)) !== amount * 1048576
      ) {
        fail("the sink saw the wrong byte count");
      }
      console.log(`bulk_mib_s ${(amount / seconds).toFixed(1)}`);
    });
    for (let i = 0; i < amount * 16; i++) {
      // Respect backpressure, as a Node program should.
      if (!s.write(data)) await new Promise((r) => s.once("drain", r));
    }
    s.end();
  });
}

function tcp() {
  const s = net.connect({ port, host: "127.0.0.1", noDelay: true });
  s.on("error", fail);
  s.on("connect", () => {
    let trips = 0;
    let pending = 0;
    const t0 = performance.now();
    s.on("data", (d) => {
      for (pending += d.length; pending >= 64; pending -= 64) {
        if (++trips < amount) {
          s.write(msg);
          continue;
        }
        const us = (performance.now() - t0) / amount * 1000;
        console.log(`tcp_rtt_us ${us.toFixed(2)}`);
        s.end();
        return;
      }
    });
    s.write(msg);
  });
}

if (mode === "udp") udp();
else if (mode === "bulk") bulk();
else if (mode === "tcp") tcp();
else fail(`unknown mode ${mode}`);

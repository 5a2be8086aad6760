// ICMP echo ("ping") over a raw socket on the libc backend.
//   sudo deno run --allow-ffi --allow-net examples/ping.ts [host] [-c count] [-i seconds]
// A raw socket needs CAP_NET_RAW (root): without it socket() raises
// PermissionError errno 1, which this script reports and exits 2.
import {
  AF_INET,
  gethostbyname,
  inet_aton,
  IPPROTO_ICMP,
  PermissionError,
  SOCK_RAW,
  socket,
  TimeoutError,
} from "../mod.ts";

const args = [...Deno.args];
const option = (flag: string, fallback: number): number => {
  const i = args.indexOf(flag);
  if (i < 0) return fallback;
  const [, value] = args.splice(i, 2);
  return Number(value);
};
const count = option("-c", 4);
const interval = option("-i", 1);
const host = args[0] ?? "127.0.0.1";

/** The Internet checksum (RFC 1071) of `data`. */
function checksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) {
    sum += (data[i] << 8) | data[i + 1];
  }
  if (data.length % 2) sum += data[data.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An echo request: type 8, code 0, checksum, id, sequence, 56 bytes of payload. */
function echoRequest(id: number, seq: number): Uint8Array {
  const packet = new Uint8Array(64);
  const view = new DataView(packet.buffer);
  view.setUint8(0, 8);
  view.setUint16(4, id);
  view.setUint16(6, seq);
  for (let i = 8; i < packet.length; i++) packet[i] = i;
  view.setUint16(2, checksum(packet));
  return packet;
}

let address: string;
try {
  inet_aton(host);
  address = host;
} catch {
  address = await gethostbyname(host);
}

let sock;
try {
  sock = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
} catch (e) {
  if (e instanceof PermissionError) {
    console.error(`ping: ${e.message}`);
    console.error(
      "ping: a raw ICMP socket needs CAP_NET_RAW (run as root) and --allow-ffi",
    );
    Deno.exit(2);
  }
  throw e;
}
using s = sock;
const id = Deno.pid & 0xffff;
const rtts: number[] = [];
const started = performance.now();
console.log(`PING ${host} (${address}) 56(84) bytes of data.`);

for (let seq = 1; seq <= count; seq++) {
  const sent = performance.now();
  await s.sendto(echoRequest(id, seq), [address, 0]);
  s.settimeout(Math.max(interval, 1));
  try {
    // A raw socket sees every ICMP packet (on loopback our own request too):
    // wait for the echo reply (type 0) with our id and this sequence number.
    for (;;) {
      const [packet, from] = await s.recvfrom(1500);
      const ihl = (packet[0] & 0x0f) * 4;
      const icmp = packet.subarray(ihl);
      const view = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
      if (icmp.length < 8 || icmp[0] !== 0) continue;
      if (view.getUint16(4) !== id || view.getUint16(6) !== seq) continue;
      const ok = checksum(icmp) === 0 ? "" : " (BAD CHECKSUM)";
      const rtt = performance.now() - sent;
      rtts.push(rtt);
      console.log(
        `${icmp.length} bytes from ${
          (from as [string, number])[0]
        }: icmp_seq=${seq} ttl=${packet[8]} time=${rtt.toFixed(3)} ms${ok}`,
      );
      break;
    }
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    console.log(`no reply for icmp_seq=${seq}`);
  }
  const rest = interval * 1000 - (performance.now() - sent);
  if (seq < count && rest > 0) await new Promise((r) => setTimeout(r, rest));
}

const elapsed = Math.round(performance.now() - started);
const loss = Math.round((1 - rtts.length / count) * 100);
console.log(`\n--- ${host} ping statistics ---`);
console.log(
  `${count} packets transmitted, ${rtts.length} received, ${loss}% packet loss, time ${elapsed}ms`,
);
if (rtts.length > 0) {
  const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
  const mdev = Math.sqrt(
    rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / rtts.length,
  );
  const f = (x: number) => x.toFixed(3);
  console.log(
    `rtt min/avg/max/mdev = ${f(Math.min(...rtts))}/${f(avg)}/${
      f(Math.max(...rtts))
    }/${f(mdev)} ms`,
  );
}
Deno.exitCode = rtts.length === count ? 0 : 1;

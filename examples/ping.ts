// ICMP echo ("ping") on the libc backend, in ping(8)'s output format.
//   deno run --allow-ffi --allow-net examples/ping.ts [host] [-c count] [-i seconds]
// A raw ICMP socket needs CAP_NET_RAW (root). Without it this uses a Linux
// "ping socket", socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), which any user
// whose group is in net.ipv4.ping_group_range may open; the kernel then
// fills in the identifier and checksum and hands over only our replies.
// Which one is used goes to stderr. If neither opens, it exits 2.
import {
  AF_INET,
  CMSG_SPACE,
  gethostbyname,
  inet_aton,
  IPPROTO_ICMP,
  IPPROTO_IP,
  PermissionError,
  SOCK_DGRAM,
  SOCK_RAW,
  type Socket,
  socket,
  TimeoutError,
} from "../mod.ts";

// Linux's IP_RECVTTL / IP_TTL: the TTL of each datagram as a control
// message (CPython has no name for IP_RECVTTL either; it is 12 on Linux).
const IP_RECVTTL = 12;
const IP_TTL = 2;

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

type Ip4 = [host: string, port: number];

/** A raw ICMP socket if this process may, else a ping socket; null if neither. */
function openIcmp(): { sock: Socket<Ip4, Ip4>; raw: boolean } | null {
  const reasons: string[] = [];
  for (const raw of [true, false]) {
    try {
      const sock = socket(AF_INET, raw ? SOCK_RAW : SOCK_DGRAM, IPPROTO_ICMP);
      return { sock, raw };
    } catch (e) {
      if (!(e instanceof PermissionError)) throw e;
      reasons.push(`${raw ? "raw socket" : "ping socket"}: ${e.message}`);
    }
  }
  for (const reason of reasons) console.error(`ping: ${reason}`);
  console.error(
    "ping: a raw ICMP socket needs CAP_NET_RAW; a ping socket needs your group " +
      "in net.ipv4.ping_group_range; both need --allow-ffi",
  );
  return null;
}

let address: string;
try {
  inet_aton(host);
  address = host;
} catch {
  address = await gethostbyname(host);
}

const opened = openIcmp();
if (opened === null) Deno.exit(2);
using s = opened.sock;
const raw = opened.raw;
console.error(
  raw
    ? "ping: using a raw ICMP socket (CAP_NET_RAW)"
    : "ping: using an ICMP datagram socket (net.ipv4.ping_group_range)",
);
// A ping socket has no IP header to read the TTL from: ask for it.
if (!raw) s.setsockopt(IPPROTO_IP, IP_RECVTTL, 1);
const id = Deno.pid & 0xffff;
const rtts: number[] = [];
const started = performance.now();
console.log(`PING ${host} (${address}) 56(84) bytes of data.`);

/** The next echo reply for `seq`: its ICMP bytes, source and TTL. */
async function reply(
  seq: number,
): Promise<{ icmp: Uint8Array; from: string; ttl: number }> {
  for (;;) {
    let icmp: Uint8Array, from: string, ttl: number;
    if (raw) {
      // A raw socket sees every ICMP packet (on loopback our own request
      // too), IP header first.
      const [packet, sender] = await s.recvfrom(1500);
      icmp = packet.subarray((packet[0] & 0x0f) * 4);
      ttl = packet[8];
      from = sender[0];
    } else {
      const [data, ancdata, , sender] = await s.recvmsg(1500, CMSG_SPACE(4));
      icmp = data;
      const item = ancdata.find(([l, t]) => l === IPPROTO_IP && t === IP_TTL);
      ttl = item
        ? new DataView(item[2].buffer, item[2].byteOffset).getInt32(0, true)
        : -1;
      from = sender[0];
    }
    const view = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
    if (icmp.length < 8 || icmp[0] !== 0) continue;
    // A ping socket's identifier is its local port, set by the kernel,
    // which hands it only its own replies.
    if (raw && view.getUint16(4) !== id) continue;
    if (view.getUint16(6) !== seq) continue;
    return { icmp, from, ttl };
  }
}

for (let seq = 1; seq <= count; seq++) {
  const sent = performance.now();
  await s.sendto(echoRequest(id, seq), [address, 0]);
  s.settimeout(Math.max(interval, 1));
  try {
    const { icmp, from, ttl } = await reply(seq);
    const ok = checksum(icmp) === 0 ? "" : " (BAD CHECKSUM)";
    const rtt = performance.now() - sent;
    rtts.push(rtt);
    console.log(
      `${icmp.length} bytes from ${from}: icmp_seq=${seq} ttl=${ttl} time=${
        rtt.toFixed(3)
      } ms${ok}`,
    );
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

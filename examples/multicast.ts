// UDP multicast: a sender and a receiver, on Deno's own networking (no FFI,
// no unstable flag), as Python's multicast recipes write them.
//   deno run --allow-net examples/multicast.ts [group] [port] [count]
// One process runs both; `receive` or `send` as the first argument runs one
// side only, so two terminals (or two machines on a LAN) can talk:
//   deno run --allow-net examples/multicast.ts receive 239.255.42.99 5007
//   deno run --allow-net examples/multicast.ts send 239.255.42.99 5007
// The receiver joins the group on the default interface (INADDR_ANY); the
// sender keeps its datagrams on the local network (TTL 1) and lets this
// host's own members hear them (IP_MULTICAST_LOOP, Linux's default).
import {
  AF_INET,
  INADDR_ANY,
  inet_aton,
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IPPROTO_IP,
  SO_REUSEADDR,
  SOCK_DGRAM,
  socket,
  SOL_SOCKET,
  TimeoutError,
} from "../mod.ts";

const args = [...Deno.args];
const role = args[0] === "send" || args[0] === "receive"
  ? args.shift()
  : "both";
const group = args[0] ?? "239.255.42.99";
const port = Number(args[1] ?? 5007);
const count = Number(args[2] ?? 3);

/** Python's struct.pack("4sl", inet_aton(group), INADDR_ANY) on 64-bit Linux. */
function membership(group: string): Uint8Array {
  const mreq = new Uint8Array(16);
  mreq.set(inet_aton(group), 0);
  new DataView(mreq.buffer).setBigInt64(8, BigInt(INADDR_ANY), true);
  return mreq;
}

async function receive(ready: () => void): Promise<number> {
  using sock = socket(AF_INET, SOCK_DGRAM);
  sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  sock.bind(["", port]);
  sock.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, membership(group));
  console.log(`receiver: joined ${group}, listening on port ${port}`);
  ready();
  sock.settimeout(role === "receive" ? null : 5);
  let got = 0;
  try {
    while (got < count) {
      const [data, [host, from]] = await sock.recvfrom(1024);
      console.log(
        `receiver: ${new TextDecoder().decode(data)} (from ${host}:${from})`,
      );
      got++;
    }
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    console.log("receiver: timed out (is there a multicast route?)");
  }
  sock.setsockopt(IPPROTO_IP, IP_DROP_MEMBERSHIP, membership(group));
  return got;
}

async function send(): Promise<void> {
  using sock = socket(AF_INET, SOCK_DGRAM);
  sock.setsockopt(IPPROTO_IP, IP_MULTICAST_TTL, 1);
  sock.setsockopt(IPPROTO_IP, IP_MULTICAST_LOOP, 1);
  for (let i = 1; i <= count; i++) {
    const message = `message ${i} of ${count}`;
    await sock.sendto(new TextEncoder().encode(message), [group, port]);
    console.log(`sender: ${message} to ${group}:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (role === "send") await send();
else if (role === "receive") await receive(() => {});
else {
  const joined = Promise.withResolvers<void>();
  const received = receive(joined.resolve);
  await joined.promise;
  await send();
  const got = await received;
  Deno.exitCode = got === count ? 0 : 1;
}

/**
 * Micro-benchmarks of the library's hot paths.
 *
 * ```sh
 * deno bench -A bench/hot_paths_bench.ts
 * ```
 *
 * Groups: address parsing (`addressForConnect` / `addressForBind`), error
 * construction and Deno error translation, `inet_pton`, and a 64-byte
 * send + recv round trip on a connected loopback pair, on each backend, with
 * Deno's own `Deno.Conn` as the baseline of that group. The UDP group needs
 * `--unstable-net` for its baseline (`Deno.listenDatagram`, which the Deno
 * backend then uses too): `deno bench -A --unstable-net bench/hot_paths_bench.ts`.
 *
 * @module
 */
import {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
  socketpair,
  TCP_NODELAY,
} from "../mod.ts";
import { OSError } from "../errors.ts";
import { addressForBind, addressForConnect } from "../_address.ts";
import { translate } from "../_deno/common.ts";
import { inet_pton } from "../_inet.ts";

// --- address parsing -------------------------------------------------------

Deno.bench("addressForConnect AF_INET numeric", { group: "address" }, () => {
  addressForConnect(AF_INET, ["127.0.0.1", 8080], "connect");
});

Deno.bench("addressForConnect AF_INET6 numeric", { group: "address" }, () => {
  addressForConnect(AF_INET6, ["::1", 8080], "connect");
});

Deno.bench("addressForConnect AF_INET 'localhost'", {
  group: "address",
}, () => {
  addressForConnect(AF_INET, ["localhost", 8080], "connect");
});

Deno.bench("addressForBind AF_INET ''", { group: "address" }, () => {
  addressForBind(AF_INET, ["", 0], "bind");
});

Deno.bench("addressForBind AF_INET numeric", {
  group: "address",
  baseline: true,
}, () => {
  addressForBind(AF_INET, ["127.0.0.1", 0], "bind");
});

// --- errors ----------------------------------------------------------------

const refused = new Deno.errors.ConnectionRefused("connection refused");
const badResource = new Deno.errors.BadResource("bad resource");
const nodeReset = Object.assign(new Error("read ECONNRESET"), {
  code: "ECONNRESET",
});

Deno.bench(
  "new Error() (baseline)",
  { group: "errors", baseline: true },
  () => {
    new Error("x");
  },
);

Deno.bench("new OSError(111)", { group: "errors" }, () => {
  new OSError(111);
});

Deno.bench("new OSError('message')", { group: "errors" }, () => {
  new OSError("AF_UNIX path too long");
});

Deno.bench("translate(Deno.errors.ConnectionRefused)", {
  group: "errors",
}, () => {
  translate(refused);
});

Deno.bench("translate(Deno.errors.BadResource)", { group: "errors" }, () => {
  translate(badResource);
});

Deno.bench("translate(node error code ECONNRESET)", {
  group: "errors",
}, () => {
  translate(nodeReset);
});

// --- inet_pton -------------------------------------------------------------

Deno.bench("inet_pton AF_INET", { group: "inet_pton", baseline: true }, () => {
  inet_pton(AF_INET, "192.168.100.200");
});

Deno.bench("inet_pton AF_INET6", { group: "inet_pton" }, () => {
  inet_pton(AF_INET6, "2001:db8:85a3::8a2e:370:7334");
});

Deno.bench("inet_pton AF_INET6 v4-mapped", { group: "inet_pton" }, () => {
  inet_pton(AF_INET6, "::ffff:192.0.2.1");
});

// --- recv path: 64-byte round trip on a connected pair ---------------------

/** A connected TCP pair on loopback, both ends with TCP_NODELAY. */
async function tcpPair(backend: "deno" | "libc"): Promise<[Socket, Socket]> {
  const srv = socket(AF_INET, SOCK_STREAM, 0, { backend });
  srv.bind(["127.0.0.1", 0]);
  srv.listen(1);
  const a = socket(AF_INET, SOCK_STREAM, 0, { backend });
  const [[b]] = await Promise.all([srv.accept(), a.connect(srv.getsockname())]);
  srv.close();
  for (const s of [a, b]) s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  return [a, b];
}

const msg = new Uint8Array(64).fill(120);
const into = new Uint8Array(64);

async function recvAll(s: Socket): Promise<void> {
  for (let got = 0; got < 64;) got += (await s.recv(64 - got)).length;
}

async function recvIntoAll(s: Socket): Promise<void> {
  for (let got = 0; got < 64;) got += await s.recv_into(into.subarray(got));
}

const [nativeA, nativeB] = await (async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({
      hostname: "127.0.0.1",
      port: (l.addr as Deno.NetAddr).port,
    }),
    l.accept(),
  ]);
  l.close();
  a.setNoDelay(true);
  b.setNoDelay(true);
  return [a, b];
})();

Deno.bench("Deno.Conn write + read (baseline)", {
  group: "recv tcp",
  baseline: true,
}, async () => {
  for (let o = 0; o < 64;) o += await nativeA.write(msg.subarray(o));
  for (let got = 0; got < 64;) {
    got += (await nativeB.read(into.subarray(got))) ?? 64;
  }
});

const pairs = {
  deno: await tcpPair("deno"),
  libc: await tcpPair("libc"),
};

for (const backend of ["deno", "libc"] as const) {
  const [a, b] = pairs[backend];
  Deno.bench(`${backend}: sendall + recv`, { group: "recv tcp" }, async () => {
    await a.sendall(msg);
    await recvAll(b);
  });
  Deno.bench(`${backend}: sendall + recv_into`, {
    group: "recv tcp",
  }, async () => {
    await a.sendall(msg);
    await recvIntoAll(b);
  });
}

// A recv that has to wait: the reader is parked before the bytes are sent,
// the path every request of a server takes.
for (const backend of ["deno", "libc"] as const) {
  const [a, b] = pairs[backend];
  Deno.bench(`${backend}: parked recv_into, then sendall`, {
    group: "recv tcp waiting",
  }, async () => {
    const r = recvIntoAll(b);
    await a.sendall(msg);
    await r;
  });
}

Deno.bench("Deno.Conn parked read, then write (baseline)", {
  group: "recv tcp waiting",
  baseline: true,
}, async () => {
  const r = (async () => {
    for (let got = 0; got < 64;) {
      got += (await nativeB.read(into.subarray(got))) ?? 64;
    }
  })();
  for (let o = 0; o < 64;) o += await nativeA.write(msg.subarray(o));
  await r;
});

// socketpair(): a unix stream pair, on Deno's networking.
const [ua, ub] = await socketpair();
Deno.bench("socketpair (unix, deno): sendall + recv_into", {
  group: "recv unix",
}, async () => {
  await ua.sendall(msg);
  await recvIntoAll(ub);
});

// UDP: a 64-byte datagram there and back between two loopback sockets.
const hasDatagram = typeof Deno.listenDatagram === "function";
const noDatagram = "needs --unstable-net (Deno.listenDatagram)";
const dgram = (): Deno.DatagramConn =>
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
const [da, db] = hasDatagram ? [dgram(), dgram()] : [];
const dbuf = new Uint8Array(65536);

Deno.bench("Deno.DatagramConn send + receive(buf) (baseline)", {
  group: "udp",
  baseline: true,
  ignore: !hasDatagram,
}, async () => {
  await da!.send(msg, db!.addr);
  await db!.receive(dbuf);
});

async function udpPair(backend: "deno" | "libc"): Promise<[Socket, Socket]> {
  const a = socket(AF_INET, SOCK_DGRAM, 0, { backend });
  const b = socket(AF_INET, SOCK_DGRAM, 0, { backend });
  b.bind(["127.0.0.1", 0]);
  await a.connect(b.getsockname());
  return [a, b];
}

const udp = hasDatagram
  ? { deno: await udpPair("deno"), libc: await udpPair("libc") }
  : null;
for (const backend of ["deno", "libc"] as const) {
  const [a, b] = udp?.[backend] ?? [];
  Deno.bench(`${backend}: udp send + recv`, {
    group: "udp",
    ignore: a === undefined,
  }, async () => {
    await a!.send(msg);
    await b!.recv(65536);
  });
  Deno.bench(`${backend}: udp send + recv_into`, {
    group: "udp",
    ignore: a === undefined,
  }, async () => {
    await a!.send(msg);
    await b!.recv_into(dbuf);
  });
}
if (!hasDatagram) console.error(`# udp group skipped: ${noDatagram}`);

// The libc backend's own kinds of socket through the public API: raw ICMP
// (with and without the privilege) and SOCK_SEQPACKET against CPython.
import assert from "node:assert/strict";
import {
  AF_UNIX,
  OSError,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SOL_SOCKET,
} from "../mod.ts";
import {
  bytes,
  fdLink,
  hasPython,
  kernelSocket,
  libcCase,
  libcMissing,
  movedHigh,
  netRawMissing,
  openEventfd,
  python,
  skipNote,
  sock,
  tempUnixPath,
  text,
  withoutCapNetRaw,
  withTimeout,
} from "./_helpers.ts";

// The "no CAP_NET_RAW" cases run their child as this same user with only
// that capability dropped (see withoutCapNetRaw), so the child can still read
// the checkout wherever it lives; they are ignored, saying why, where that
// cannot be done. The raw cases need CAP_NET_RAW in this process.
const noNetRaw = withoutCapNetRaw();
const noNetRawSkip = "reason" in noNetRaw ? noNetRaw.reason : null;
const noNetRawPrefix = "prefix" in noNetRaw ? noNetRaw.prefix : [];
/** The first reason that applies, or null. */
const either = (...reasons: (string | null)[]) =>
  reasons.find((r) => r !== null) ?? null;

async function run(args: string[], prefix: string[] = []) {
  const [cmd, ...rest] = [...prefix, Deno.execPath(), ...args];
  const out = await new Deno.Command(cmd, {
    args: rest,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test({
  name: skipNote(
    "socket(AF_INET, SOCK_RAW) without CAP_NET_RAW raises PermissionError errno 1",
    noNetRawSkip,
  ),
  ignore: noNetRawSkip !== null,
  async fn() {
    // The child keeps this uid but has no CAP_NET_RAW, as an unprivileged
    // user runs.
    const code = `
import { AF_INET, IPPROTO_ICMP, PermissionError, SOCK_RAW, socket } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
try {
  socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  console.log("opened");
} catch (e) {
  console.log(JSON.stringify({ cls: e.constructor.name, ok: e instanceof PermissionError, errno: e.errno, message: e.message }));
}`;
    const r = await run(["eval", "--no-check", code], noNetRawPrefix);
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout.trim());
    assert.deepEqual(e, {
      cls: "PermissionError",
      ok: true,
      errno: 1,
      message: "[Errno 1] Operation not permitted",
    });
  },
});

Deno.test({
  name: skipNote(
    "examples/ping.ts: ICMP echo to 127.0.0.1 gets every reply, checksums valid",
    netRawMissing,
  ),
  ignore: netRawMissing !== null,
  async fn() {
    const r = await run([
      "run",
      "--allow-ffi",
      "--allow-net",
      new URL("../examples/ping.ts", import.meta.url).pathname,
      "127.0.0.1",
      "-c",
      "3",
      "-i",
      "0.05",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const seq of [1, 2, 3]) {
      assert.match(
        r.stdout,
        new RegExp(
          `64 bytes from 127\\.0\\.0\\.1: icmp_seq=${seq} ttl=\\d+ time=`,
        ),
      );
    }
    assert.doesNotMatch(r.stdout, /BAD CHECKSUM/);
    assert.match(r.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
  },
});

Deno.test({
  name: skipNote(
    "examples/ping.ts without CAP_NET_RAW says what it needs and exits 2",
    noNetRawSkip,
  ),
  ignore: noNetRawSkip !== null,
  async fn() {
    const r = await run([
      "run",
      "--allow-ffi",
      "--allow-net",
      "--allow-read",
      new URL("../examples/ping.ts", import.meta.url).pathname,
      "-c",
      "1",
    ], noNetRawPrefix);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /\[Errno 1\] Operation not permitted/);
    assert.match(r.stderr, /CAP_NET_RAW/);
  },
});

/** What `socket(args)` raises in a child with no permissions at all. */
async function openedWithoutFfi(args: string): Promise<string> {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/open.ts`,
      `import * as m from ${
        JSON.stringify(new URL("../mod.ts", import.meta.url).href)
      };
try { m.socket(${args}); console.log("opened"); }
catch (e) { console.log((e instanceof m.PermissionError) + " " + e.message); }`,
    );
    const r = await run(["run", "--no-prompt", "--no-check", `${dir}/open.ts`]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("raw ICMP without --allow-ffi raises PermissionError naming the flag", async () => {
  // No permissions at all: the module still imports; only the socket fails.
  assert.equal(
    await openedWithoutFfi("m.AF_INET, m.SOCK_RAW, m.IPPROTO_ICMP"),
    "true [Errno 13] the libc backend needs FFI: run with --allow-ffi",
  );
});

Deno.test({
  ...libcCase(
    "socket(AF_UNIX, SOCK_RAW) is Linux's unix datagram socket, as python3 opens it (type SOCK_RAW, SO_TYPE SOCK_DGRAM): libc passes a datagram; the Deno backend says 95 naming libc; without --allow-ffi it is PermissionError naming the flag",
  ),
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      using a = sock("libc", AF_UNIX, SOCK_RAW);
      using b = sock("libc", AF_UNIX, SOCK_RAW);
      assert.equal(a.type, SOCK_RAW);
      assert.equal(a.getsockopt(SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
      a.bind(`${dir}/a`);
      b.bind(`${dir}/b`);
      a.settimeout(5);
      assert.equal(await b.sendto(bytes("dgram"), `${dir}/a`), 5);
      const [data, from] = await withTimeout(a.recvfrom(100));
      assert.deepEqual([text(data), from], ["dgram", `${dir}/b`]);
      assert.throws(
        () => sock("deno", AF_UNIX, SOCK_RAW),
        (e: unknown) =>
          e instanceof OSError && e.errno === 95 &&
          e.message.includes('backend: "libc"'),
      );
      assert.equal(
        await openedWithoutFfi("m.AF_UNIX, m.SOCK_RAW"),
        "true [Errno 13] the libc backend needs FFI: run with --allow-ffi",
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

const SEQ_SERVER = `
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen()
print("ready", flush=True)
c, _ = s.accept()
# Echo each message back with its length, one message per message.
while True:
    m = c.recv(65536)
    if not m:
        break
    c.send(str(len(m)).encode() + b":" + m)
c.close()
s.close()
`;

const seqSkip = either(libcMissing, hasPython ? null : "no python3");

Deno.test({
  name: skipNote(
    "SOCK_SEQPACKET to a python3 server: each send is one message, both ways",
    seqSkip,
  ),
  ignore: seqSkip !== null,
  async fn() {
    using tmp = tempUnixPath();
    await using srv = python(SEQ_SERVER, tmp.path);
    assert.equal(await srv.line(), "ready");
    using c = sock("libc", AF_UNIX, SOCK_SEQPACKET);
    await withTimeout(c.connect(tmp.path));
    // Back to back: a stream could merge these; seqpacket must not.
    for (const m of ["a", "bb", "a longer third message"]) {
      await withTimeout(c.send(bytes(m)));
    }
    assert.equal(text(await withTimeout(c.recv(100))), "1:a");
    assert.equal(text(await withTimeout(c.recv(100))), "2:bb");
    // recv(5) of a longer message: the first 5 bytes, the rest discarded.
    assert.equal(text(await withTimeout(c.recv(5))), "22:a ");
    c.shutdown(1);
    assert.equal((await withTimeout(c.recv(100))).length, 0);
    assert.equal((await srv.finish()).code, 0);
  },
});

const SEQ_CLIENT = `
import socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(sys.argv[1])
for m in (b"one", b"two", b"three"):
    c.send(m)
print(c.recv(5).decode(), flush=True)
print(repr(c.recv(100)), flush=True)
c.close()
`;

Deno.test({
  name: skipNote(
    "SOCK_SEQPACKET server for a python3 client: boundaries kept, truncation as Linux",
    seqSkip,
  ),
  ignore: seqSkip !== null,
  async fn() {
    using tmp = tempUnixPath();
    using l = sock("libc", AF_UNIX, SOCK_SEQPACKET);
    l.bind(tmp.path);
    l.listen();
    await using cli = python(SEQ_CLIENT, tmp.path);
    const [conn] = await withTimeout(l.accept());
    using _conn = conn;
    const got = [];
    for (let i = 0; i < 3; i++) {
      got.push(text(await withTimeout(conn.recv(100))));
    }
    assert.deepEqual(got, ["one", "two", "three"]);
    await withTimeout(conn.send(bytes("hello world")));
    assert.equal(await cli.line(), "hello");
    await withTimeout(conn.send(bytes("next")));
    assert.equal(await cli.line(), "b'next'");
    assert.equal((await cli.finish()).code, 0);
  },
});

/** The Internet checksum (RFC 1071). */
function checksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) {
    sum += (data[i] << 8) | data[i + 1];
  }
  if (data.length % 2) sum += data[data.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An ICMP echo request of `type` (8 for IPv4, 128 for IPv6) with id and sequence. */
function echo(type: number, id: number, seq: number): Uint8Array {
  const p = new Uint8Array(16);
  const v = new DataView(p.buffer);
  v.setUint8(0, type);
  v.setUint16(4, id);
  v.setUint16(6, seq);
  p.set(bytes("pysocket"), 8);
  if (type === 8) v.setUint16(2, checksum(p));
  return p;
}

const rawSkip = either(libcMissing, netRawMissing);

Deno.test({
  name: skipNote(
    "SOCK_RAW ICMP: sendto() and connect() take a host name ('localhost') and glibc's numeric short forms ('127.1'), as CPython resolves the host alone",
    rawSkip,
  ),
  ignore: rawSkip !== null,
  async fn() {
    const { AF_INET, IPPROTO_ICMP, SOCK_RAW } = await import("../mod.ts");
    for (const host of ["localhost", "127.1"]) {
      using s = sock("libc", AF_INET, SOCK_RAW, IPPROTO_ICMP);
      s.settimeout(2);
      assert.equal(
        await withTimeout(s.sendto(echo(8, 0x4321, 1), [host, 0])),
        16,
      );
      await withTimeout(s.connect([host, 0]));
    }
  },
});

Deno.test({
  name: skipNote(
    "SOCK_RAW ICMPv6: an echo request to ::1 gets its reply (id and sequence kept)",
    rawSkip,
  ),
  ignore: rawSkip !== null,
  async fn() {
    const { AF_INET6, IPPROTO_ICMPV6, SOCK_RAW } = await import("../mod.ts");
    using s = sock("libc", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    s.settimeout(2);
    // The kernel fills in the ICMPv6 checksum on a raw ICMPv6 socket.
    await withTimeout(s.sendto(echo(128, 0x1234, 7), ["::1", 0]));
    for (;;) {
      const [reply, from] = await withTimeout(s.recvfrom(1500));
      const v = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
      if (reply[0] !== 129) continue; // our own request, looped back
      assert.equal(v.getUint16(4), 0x1234);
      assert.equal(v.getUint16(6), 7);
      assert.equal(text(reply.subarray(8)), "pysocket");
      assert.equal((from as [string, number, number, number])[0], "::1");
      assert.equal((from as unknown[]).length, 4);
      break;
    }
  },
});

Deno.test({
  name: skipNote(
    "IPPROTO_RAW sends a whole IPv4 packet (IP_HDRINCL); the echo reply comes back with a valid checksum",
    rawSkip,
  ),
  ignore: rawSkip !== null,
  async fn() {
    const {
      AF_INET,
      IP_HDRINCL,
      IPPROTO_ICMP,
      IPPROTO_IP,
      IPPROTO_RAW,
      SOCK_RAW,
    } = await import(
      "../mod.ts"
    );
    using raw = sock("libc", AF_INET, SOCK_RAW, IPPROTO_RAW);
    assert.equal(raw.getsockopt(IPPROTO_IP, IP_HDRINCL), 1); // implied by IPPROTO_RAW
    using icmp = sock("libc", AF_INET, SOCK_RAW, IPPROTO_ICMP);
    icmp.settimeout(2);
    const body = echo(8, 0x4242, 3);
    const packet = new Uint8Array(20 + body.length);
    const v = new DataView(packet.buffer);
    v.setUint8(0, 0x45); // IPv4, header of 5 words
    v.setUint16(2, packet.length);
    v.setUint8(8, 64); // TTL
    v.setUint8(9, 1); // ICMP
    packet.set([127, 0, 0, 1], 12);
    packet.set([127, 0, 0, 1], 16);
    v.setUint16(10, checksum(packet.subarray(0, 20)));
    packet.set(body, 20);
    assert.equal(
      await withTimeout(raw.sendto(packet, ["127.0.0.1", 0])),
      packet.length,
    );
    for (;;) {
      const [reply] = await withTimeout(icmp.recvfrom(1500));
      const ihl = (reply[0] & 0x0f) * 4;
      const msg = reply.subarray(ihl);
      const m = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
      if (msg[0] !== 0 || m.getUint16(4) !== 0x4242) continue;
      assert.equal(m.getUint16(6), 3);
      assert.equal(checksum(msg), 0);
      break;
    }
  },
});

Deno.test(
  libcCase(
    "create_connection(source_address) binds first, on the libc backend",
  ),
  async () => {
    const { create_connection, create_server } = await import("../mod.ts");
    using server = create_server(["127.0.0.1", 0]);
    using probe = sock("libc");
    probe.bind(["127.0.0.1", 0]);
    const port = (probe.getsockname() as [string, number])[1];
    probe.close();
    using client = await withTimeout(
      create_connection(server.getsockname() as [string, number], 2, [
        "127.0.0.1",
        port,
      ]),
    );
    assert.equal(client.backend, "libc");
    assert.deepEqual(client.getsockname(), ["127.0.0.1", port]);
    const [conn, addr] = await withTimeout(server.accept());
    using _conn = conn;
    assert.deepEqual(addr, ["127.0.0.1", port]);
  },
);

Deno.test(
  libcCase("fromfd() makes a socket on a duplicate; the original stays open"),
  async () => {
    const { fromfd, AF_INET, SOCK_STREAM } = await import("../mod.ts");
    using server = sock("libc");
    server.bind(["127.0.0.1", 0]);
    server.listen();
    using copy = fromfd(server.fileno(), AF_INET, SOCK_STREAM);
    assert.notEqual(copy.fileno(), server.fileno());
    assert.equal(copy.backend, "libc");
    assert.deepEqual(copy.getsockname(), server.getsockname());
    copy.close();
    // The original still listens after the copy is closed.
    using client = sock("libc");
    await withTimeout(client.connect(server.getsockname()));
    const [conn] = await withTimeout(server.accept());
    conn.close();
    // family/type 0 read them from the descriptor, as the kernel knows them.
    using again = fromfd(server.fileno(), 0, 0);
    assert.equal(again.family, AF_INET);
    assert.equal(again.type, SOCK_STREAM);
  },
);

Deno.test(
  libcCase("fromfd() of a bad or non-socket descriptor raises OSError 9 / 88"),
  async () => {
    const { fromfd, OSError } = await import("../mod.ts");
    assert.throws(
      () => fromfd(-1, 2, 1),
      (e) => e instanceof OSError && e.errno === 9,
    );
    // A descriptor this test opens itself (an eventfd): open, but not a
    // socket, and no parallel test module can close it meanwhile, so the
    // answer is exactly 88.
    using efd = openEventfd();
    assert.deepEqual(kernelSocket(efd.fd), { errno: 88 });
    assert.throws(
      () => fromfd(efd.fd, 2, 1),
      (e) => e instanceof OSError && e.errno === 88,
    );
  },
);

Deno.test(
  libcCase(
    "close(fd) closes a detached descriptor; a second close is OSError 9",
  ),
  async () => {
    const { close, OSError } = await import("../mod.ts");
    const s = sock("libc");
    const detached = s.detach();
    assert.ok(detached >= 0);
    assert.equal(s.fileno(), -1);
    // A number no other test file is handed: the second close() must not
    // close another's descriptor.
    const fd = movedHigh(detached);
    close(fd);
    assert.equal(fdLink(fd), null);
    assert.throws(
      () => close(fd),
      (e) => e instanceof OSError && e.errno === 9,
    );
  },
);

// AF_NETLINK and AF_PACKET addresses: CPython's tuples both ways, and its
// errors for bad ones. Each row: an address, and what bind() then
// getsockname() gives (a netlink pid the kernel picks shows as "PID").
const ADDRESS_PROBE = `
import json, socket, sys
family, kind, proto, rows = json.load(sys.stdin)
def arg(x):
    if isinstance(x, dict): return bytes(x["bytes"])
    if isinstance(x, list): return tuple(arg(v) for v in x)
    return x
def shown(a):
    if isinstance(a, tuple): a = list(a)
    if isinstance(a, list):
        return ["PID" if family == socket.AF_NETLINK and i == 0 and v > 0 else
                {"bytes": list(v)} if isinstance(v, bytes) else v
                for i, v in enumerate(a)]
    return a
out = []
for row in rows:
    s = socket.socket(family, kind, proto)
    try:
        s.bind(arg(row))
        out.append(shown(s.getsockname()))
    except Exception as e:
        out.append("%s: %s" % (type(e).__name__, e))
    finally:
        s.close()
print(json.dumps(out))`;

async function compareAddresses(
  family: number,
  kind: number,
  proto: number,
  rows: unknown[],
): Promise<void> {
  const arg = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(arg)
      : typeof x === "object" && x !== null
      ? new Uint8Array((x as { bytes: number[] }).bytes)
      : x;
  const shown = (a: unknown) =>
    Array.isArray(a)
      ? a.map((v, i) =>
        family === 16 && i === 0 && (v as number) > 0
          ? "PID"
          : v instanceof Uint8Array
          ? { bytes: [...v] }
          : v
      )
      : a;
  const ours: unknown[] = [];
  for (const row of rows) {
    using s = sock("libc", family, kind, proto);
    try {
      s.bind(arg(row) as never);
      ours.push(shown(s.getsockname()));
    } catch (e) {
      ours.push(`${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  const { pythonJson } = await import("./_python.ts");
  assert.deepEqual(
    ours,
    await pythonJson(ADDRESS_PROBE, [family, kind, proto, rows]),
  );
}

const netlinkSkip = either(libcMissing, hasPython ? null : "no python3");

Deno.test({
  name: skipNote(
    "AF_NETLINK addresses are CPython's (pid, groups), pid and groups taken modulo 2**32, with its errors",
    netlinkSkip,
  ),
  ignore: netlinkSkip !== null,
  async fn() {
    const { AF_NETLINK, SOCK_RAW } = await import("../mod.ts");
    await compareAddresses(AF_NETLINK, SOCK_RAW, 0, [
      [0, 0],
      [0],
      ["x", 0],
      [2 ** 32 + 5, 0],
      [0, 0, 0],
      "x",
    ]);
  },
});

const packetSkip = either(rawSkip, hasPython ? null : "no python3");

Deno.test({
  name: skipNote(
    "AF_PACKET addresses are CPython's (ifname, proto, pkttype, hatype, addr), with its errors; a received packet's sender is one",
    packetSkip,
  ),
  ignore: packetSkip !== null,
  async fn() {
    const { AF_INET, AF_PACKET, SOCK_DGRAM, SOCK_RAW, htons } = await import(
      "../mod.ts"
    );
    await compareAddresses(AF_PACKET, SOCK_RAW, htons(3), [
      ["lo", 0x800],
      ["lo", 0x800, 0, 0, { bytes: [0, 0, 0, 0, 0, 0] }],
      ["lo"],
      ["no-such-if", 1],
      ["lo", 70000],
      ["lo", -1],
      ["lo", 1, 0, 0, { bytes: [1, 2, 3, 4, 5, 6, 7, 8, 9] }],
      ["lo", "x"],
      ["lo\0x", 0],
      ["lo", 2 ** 31],
      ["lo", 0, 2 ** 31],
      ["lo", 0, 0, 2 ** 40],
      ["lo", 0, -1, -1],
    ]);
    // IPv4 on lo only: other tests' traffic may pass too, all of it there.
    using p = sock("libc", AF_PACKET, SOCK_DGRAM, htons(0x800));
    p.bind(["lo", 0x800]);
    p.settimeout(2);
    using u = sock("libc", AF_INET, SOCK_DGRAM);
    await u.sendto(bytes("packet-probe"), ["127.0.0.1", 9]);
    const [, from] = await withTimeout(p.recvfrom(2048));
    const [ifname, proto, pkttype, hatype, hw] = from as [
      string,
      number,
      number,
      number,
      Uint8Array,
    ];
    // Loopback: ARPHRD_LOOPBACK (772), a 6-byte zero address, and each
    // packet seen going out (PACKET_OUTGOING, 4) and coming in (HOST, 0).
    assert.deepEqual([ifname, proto, hatype, [...hw]], [
      "lo",
      0x800,
      772,
      [0, 0, 0, 0, 0, 0],
    ]);
    assert.ok(pkttype === 0 || pkttype === 4, `pkttype ${pkttype}`);
    // recvmsg() too (Linux refuses MSG_CMSG_CLOEXEC on AF_PACKET: EINVAL).
    await u.sendto(bytes("packet-probe"), ["127.0.0.1", 9]);
    const [data, anc, flags, addr] = await withTimeout(p.recvmsg(2048));
    assert.ok(data.length > 0);
    assert.deepEqual([anc, flags, (addr as [string, number])[0]], [
      [],
      0,
      "lo",
    ]);
  },
});

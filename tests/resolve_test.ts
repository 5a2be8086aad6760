// getaddrinfo() and the other lookups, against what CPython 3.11.7 does on
// Linux (glibc 2.36), and live against the python3 on this machine.
import assert from "node:assert/strict";
import { skipNote } from "./_helpers.ts";
import { hasPython, pythonJson } from "./_python.ts";
import { netns, netnsMissing, script } from "./_netns.ts";
// Loads libc once, outside any test, where FFI is allowed: a scoped IPv6
// name is looked up with libc's if_nametoindex when /sys is out of reach.
import "./_helpers.ts";
import {
  AF_INET,
  AF_INET6,
  AI_CANONNAME,
  AI_NUMERICHOST,
  AI_NUMERICSERV,
  AI_PASSIVE,
  AI_V4MAPPED,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NI_DGRAM,
  NI_NAMEREQD,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SOCK_STREAM,
} from "../constants.ts";
import {
  gaierror,
  herror,
  OSError,
  OverflowError,
  ValueError,
} from "../errors.ts";
import { UnicodeError } from "../_codecs.ts";
import { idnaEncode } from "../_idna.ts";
import { inet_aton, inet_pton } from "../_inet.ts";
import { getprotobyname } from "../_system.ts";
import {
  getaddrinfo,
  getfqdn,
  gethostbyname,
  gethostbyname_ex,
  gethostname,
  getnameinfo,
  getservbyname,
  getservbyport,
} from "../_resolve.ts";

/** An assertion that `promise` rejects with gaierror `errno`. */
async function rejectsGai(
  promise: Promise<unknown>,
  errno: number,
): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof gaierror, `not a gaierror: ${e}`);
    assert.equal(e.errno, errno);
    return true;
  });
}

const LOOP4: [string, number] = ["127.0.0.1", 80];
const LOOP6: [string, number, number, number] = ["::1", 80, 0, 0];

Deno.test("getaddrinfo() lists each address once per socket type, as glibc", async () => {
  assert.deepEqual(await getaddrinfo("127.0.0.1", 80), [
    [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", LOOP4],
    [AF_INET, SOCK_DGRAM, IPPROTO_UDP, "", LOOP4],
    [AF_INET, SOCK_RAW, 0, "", LOOP4],
  ]);
  assert.deepEqual(await getaddrinfo("::1", 80), [
    [AF_INET6, SOCK_STREAM, IPPROTO_TCP, "", LOOP6],
    [AF_INET6, SOCK_DGRAM, IPPROTO_UDP, "", LOOP6],
    [AF_INET6, SOCK_RAW, 0, "", LOOP6],
  ]);
});

Deno.test("getaddrinfo(null) gives loopback, or the wildcards with AI_PASSIVE", async () => {
  const addrs = async (flags: number, family = 0) =>
    (await getaddrinfo(null, 80, family, SOCK_STREAM, 0, flags)).map((i) =>
      i[4]
    );
  assert.deepEqual(await addrs(0), [LOOP6, LOOP4]);
  assert.deepEqual(await addrs(AI_PASSIVE), [["0.0.0.0", 80], [
    "::",
    80,
    0,
    0,
  ]]);
  assert.deepEqual(await addrs(AI_PASSIVE, AF_INET6), [["::", 80, 0, 0]]);
  assert.deepEqual(await addrs(0, AF_INET), [LOOP4]);
  assert.equal((await getaddrinfo(null, 80, 0, 0, 0, AI_PASSIVE)).length, 6);
});

Deno.test("getaddrinfo() reads every inet_aton form as numeric", async () => {
  for (const host of ["127.1", "0x7f.1", "2130706433", "0177.0.0.1"]) {
    const [info] = await getaddrinfo(host, 80, 0, SOCK_STREAM);
    assert.deepEqual(
      info,
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", LOOP4],
      host,
    );
  }
});

Deno.test("getaddrinfo() reads ports as glibc does", async () => {
  const port = async (p: string | number | null) =>
    (await getaddrinfo("127.0.0.1", p, 0, SOCK_STREAM))[0][4][1];
  assert.equal(await port("80"), 80);
  assert.equal(await port(" 80"), 80);
  assert.equal(await port("+80"), 80);
  assert.equal(await port("00080"), 80);
  assert.equal(await port(""), 0);
  assert.equal(await port(null), 0);
  assert.equal(await port("domain"), 53);
  // CPython 3.11 passes the number as text; glibc keeps the low 16 bits.
  assert.equal(await port(70000), 4464);
  assert.equal(await port(65536), 0);
  assert.equal(await port(2 ** 32), 0);
  for (
    const bad of [-1, "-1", "80a", "80 ", "0x10", "nosuchservice", 2 ** 31]
  ) {
    await rejectsGai(getaddrinfo("127.0.0.1", bad), -8);
  }
  await rejectsGai(
    getaddrinfo("127.0.0.1", "domain", 0, 0, 0, AI_NUMERICSERV),
    -2,
  );
});

Deno.test("getaddrinfo() rejects bad argument types as Python does", async () => {
  await assert.rejects(
    getaddrinfo("127.0.0.1", 2 ** 63),
    (e: unknown) =>
      e instanceof OverflowError &&
      e.message === "Python int too large to convert to C long",
  );
  for (const port of [1.5, true, {}]) {
    await assert.rejects(
      getaddrinfo("127.0.0.1", port as unknown as number),
      (e: unknown) =>
        e instanceof OSError && e.message === "Int or String expected",
    );
  }
  await assert.rejects(
    getaddrinfo(1234 as unknown as string, 80),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === "getaddrinfo() argument 1 must be string or None",
  );
  await assert.rejects(getaddrinfo("127.0.0.1", 80, 1.5), TypeError);
  await assert.rejects(getaddrinfo("127.0.0.1", 80, 2 ** 31), OverflowError);
});

Deno.test("getaddrinfo() errors carry glibc's EAI codes", async () => {
  await rejectsGai(getaddrinfo("", 80), -2);
  await rejectsGai(getaddrinfo(null, null), -2);
  await rejectsGai(getaddrinfo("localhost", 80, 0, 0, 0, AI_NUMERICHOST), -2);
  await rejectsGai(getaddrinfo("127.0.0.1", 80, AF_INET6), -9);
  await rejectsGai(getaddrinfo("::1", 80, AF_INET), -9);
  await rejectsGai(getaddrinfo("127.0.0.1", 80, 99), -6);
  await rejectsGai(getaddrinfo("127.0.0.1", 80, 0, 99), -7);
  await rejectsGai(
    getaddrinfo("127.0.0.1", 80, 0, SOCK_STREAM, IPPROTO_UDP),
    -7,
  );
  await rejectsGai(getaddrinfo("127.0.0.1", 80, 0, SOCK_RAW), -8);
  await rejectsGai(getaddrinfo("127.0.0.1", 80, 0, 0, 99), -8);
  await rejectsGai(getaddrinfo("127.0.0.1", 80, 0, 0, 0, 0x800), -1);
  await rejectsGai(getaddrinfo(null, 80, 0, 0, 0, AI_CANONNAME), -1);
  await rejectsGai(getaddrinfo("::1%lo", 80), -2);
  await rejectsGai(getaddrinfo("::1%4294967296", 80), -2);
  await rejectsGai(getaddrinfo("1.2.3.4%1", 80), -2);
  // glibc refuses a service name under AI_NUMERICSERV before it looks the
  // type and protocol up.
  await rejectsGai(
    getaddrinfo("127.0.0.1", "http", 0, 99, 0, AI_NUMERICSERV),
    -2,
  );
  await rejectsGai(
    getaddrinfo(null, "x", 0, SOCK_STREAM, IPPROTO_UDP, AI_NUMERICSERV),
    -2,
  );
  await assert.rejects(getaddrinfo("", 80), {
    message: "[Errno -2] Name or service not known",
  });
  await assert.rejects(getaddrinfo("127.0.0.1", 80, AF_INET6), {
    message: "[Errno -9] Address family for hostname not supported",
  });
});

Deno.test("getaddrinfo() follows glibc's socket type table", async () => {
  const triples = async (
    type: number,
    proto: number,
    port: number | null = 80,
  ) =>
    (await getaddrinfo("127.0.0.1", port, 0, type, proto)).map((
      i,
    ) => [i[1], i[2]]);
  assert.deepEqual(await triples(SOCK_SEQPACKET, 0), [[
    SOCK_SEQPACKET,
    IPPROTO_SCTP,
  ]]);
  assert.deepEqual(await triples(0, IPPROTO_SCTP), [[
    SOCK_STREAM,
    IPPROTO_SCTP,
  ]]);
  assert.deepEqual(await triples(0, IPPROTO_UDP), [[SOCK_DGRAM, IPPROTO_UDP]]);
  assert.deepEqual(await triples(SOCK_DGRAM, 0), [[SOCK_DGRAM, IPPROTO_UDP]]);
  assert.deepEqual(await triples(0, 99, null), [[SOCK_RAW, 99]]);
  assert.deepEqual(await triples(SOCK_RAW, 0, null), [[SOCK_RAW, 0]]);
  assert.deepEqual(
    (await getaddrinfo("127.0.0.1", "domain")).map((
      i,
    ) => [i[1], i[2], i[4][1]]),
    [[SOCK_STREAM, IPPROTO_TCP, 53], [SOCK_DGRAM, IPPROTO_UDP, 53]],
  );
});

Deno.test("getaddrinfo() maps and unmaps IPv4 as glibc does", async () => {
  const [a] = await getaddrinfo(
    "127.0.0.1",
    80,
    AF_INET6,
    SOCK_STREAM,
    0,
    AI_V4MAPPED,
  );
  assert.deepEqual(a[4], ["::ffff:127.0.0.1", 80, 0, 0]);
  const [b] = await getaddrinfo("::ffff:1.2.3.4", 80, AF_INET, SOCK_STREAM);
  assert.deepEqual(b, [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["1.2.3.4", 80]]);
});

Deno.test("getaddrinfo() keeps a numeric IPv6 scope id", async () => {
  const [info] = await getaddrinfo("fe80::1%7", 80, 0, SOCK_STREAM);
  assert.deepEqual(info[4], ["fe80::1", 80, 0, 7]);
  const [v6] = await getaddrinfo("::1%4294967295", 80, 0, SOCK_STREAM);
  assert.deepEqual(v6[4], ["::1", 80, 0, 4294967295]);
});

Deno.test("getaddrinfo() fills canonname on the first result only", async () => {
  const infos = await getaddrinfo("127.1", 80, 0, 0, 0, AI_CANONNAME);
  assert.deepEqual(infos.map((i) => i[3]), ["127.1", "", ""]);
});

Deno.test("getaddrinfo() resolves localhost through the system resolver", async () => {
  const infos = await getaddrinfo("localhost", 80, 0, SOCK_STREAM);
  assert.ok(infos.length >= 1);
  for (const [family, type, proto, , sa] of infos) {
    assert.equal(type, SOCK_STREAM);
    assert.equal(proto, IPPROTO_TCP);
    assert.ok(
      family === AF_INET ? sa[0].startsWith("127.") : sa[0] === "::1",
      String(sa),
    );
  }
  await rejectsGai(getaddrinfo("nonexistent.invalid", 80), -2);
});

Deno.test("gethostbyname() follows CPython's special cases", async () => {
  assert.equal(await gethostbyname(""), "0.0.0.0");
  assert.equal(await gethostbyname("<broadcast>"), "255.255.255.255");
  assert.equal(await gethostbyname("1.2"), "1.0.0.2");
  assert.equal(await gethostbyname("01.2.3.4"), "1.2.3.4");
  assert.equal(await gethostbyname("::ffff:1.2.3.4"), "1.2.3.4");
  assert.ok((await gethostbyname("localhost")).startsWith("127."));
  await rejectsGai(gethostbyname("::1"), -9);
  await rejectsGai(gethostbyname("999.1.1.1"), -2);
  await assert.rejects(
    gethostbyname(null as unknown as string),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message ===
        "gethostbyname() argument 1 must be str, bytes or bytearray, not None",
  );
  await assert.rejects(gethostbyname("a\0b"), TypeError);
});

Deno.test("gethostbyname_ex() is stricter than getaddrinfo, as glibc's gethostbyname", async () => {
  assert.deepEqual(await gethostbyname_ex("127.0.0.1"), ["127.0.0.1", [], [
    "127.0.0.1",
  ]]);
  assert.deepEqual(await gethostbyname_ex("1.2"), ["1.2", [], ["1.0.0.2"]]);
  await assert.rejects(
    gethostbyname_ex("0x7f.1"),
    (e: unknown) =>
      e instanceof herror && e.errno === 1 && e.strerror === "Unknown host",
  );
  await assert.rejects(
    gethostbyname_ex(""),
    (e: unknown) => e instanceof herror && e.errno === 3,
  );
  // glibc's code for this one depends on the DNS server's answer.
  await assert.rejects(gethostbyname_ex("<broadcast>"), herror);
  await rejectsGai(gethostbyname_ex("::1"), -9);
  // An IPv4-mapped literal resolves (gethostbyname gives its IPv4 address)
  // but has no host entry.
  for (
    const name of ["::ffff:127.0.0.1", "::FFFF:7f00:1", "::ffff:1.2.3.4%1"]
  ) {
    await assert.rejects(
      gethostbyname_ex(name),
      (e: unknown) => e instanceof herror && e.errno === 1,
    );
  }
});

Deno.test("getnameinfo() with numeric flags needs no lookup", async () => {
  const N = NI_NUMERICHOST | NI_NUMERICSERV;
  assert.deepEqual(await getnameinfo(["127.0.0.1", 80], N), [
    "127.0.0.1",
    "80",
  ]);
  assert.deepEqual(await getnameinfo(["127.1", 80], N), ["127.0.0.1", "80"]);
  assert.deepEqual(await getnameinfo(["::1", 80, 0, 0], N), ["::1", "80"]);
  assert.deepEqual(await getnameinfo(["::1", 80, 0, 99], N), ["::1%99", "80"]);
  assert.deepEqual(await getnameinfo(["127.0.0.1", 70000], N), [
    "127.0.0.1",
    "4464",
  ]);
  assert.deepEqual(await getnameinfo(["127.0.0.1", 80], NI_NUMERICHOST), [
    "127.0.0.1",
    "http",
  ]);
  assert.deepEqual(
    await getnameinfo(["127.0.0.1", 53], NI_NUMERICHOST | NI_DGRAM),
    [
      "127.0.0.1",
      "domain",
    ],
  );
});

Deno.test("getnameinfo() rejects what CPython rejects", async () => {
  await rejectsGai(getnameinfo(["localhost", 80], 0), -2);
  await rejectsGai(
    getnameinfo(["127.0.0.1", 80], NI_NUMERICHOST | NI_NAMEREQD),
    -2,
  );
  await rejectsGai(getnameinfo(["127.0.0.1", 80], 256), -1);
  await rejectsGai(getnameinfo(["127.0.0.1", -1], 1), -8);
  await assert.rejects(
    getnameinfo(["127.0.0.1", 80, 0] as unknown as [string, number], 0),
    (e: unknown) =>
      e instanceof OSError && e.message === "IPv4 sockaddr must be 2 tuple",
  );
  await assert.rejects(
    getnameinfo(["::1", 80, 1048576, 0], 1),
    (e: unknown) =>
      e instanceof OverflowError &&
      e.message === "getnameinfo(): flowinfo must be 0-1048575.",
  );
  await assert.rejects(
    getnameinfo(["127.0.0.1"] as unknown as [string, number], 0),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === "getnameinfo(): illegal sockaddr argument",
  );
  await assert.rejects(
    getnameinfo("127.0.0.1" as unknown as [string, number], 0),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === "getnameinfo() argument 1 must be a tuple",
  );
});

Deno.test("getservbyname() and getservbyport() read /etc/services", () => {
  assert.equal(getservbyname("http"), 80);
  assert.equal(getservbyname("http", "tcp"), 80);
  assert.equal(getservbyname("domain", "udp"), 53);
  assert.equal(getservbyport(80), "http");
  assert.equal(getservbyport(53, "udp"), "domain");
  assert.throws(() => getservbyname("HTTP"), {
    name: "OSError",
    message: "service/proto not found",
  });
  assert.throws(() => getservbyport(80, "TCP"), {
    name: "OSError",
    message: "port/proto not found",
  });
  assert.throws(
    () => getservbyport(65536),
    (e: unknown) =>
      e instanceof OverflowError &&
      e.message === "getservbyport: port must be 0-65535.",
  );
  assert.throws(() => getservbyname(1 as unknown as string), {
    name: "TypeError",
    message: "getservbyname() argument 1 must be str, not int",
  });
});

Deno.test("str arguments with a lone surrogate are UnicodeEncodeError, as CPython's UTF-8 encoding of them, before a NUL or a port's type is looked at", async () => {
  const surrogates = (at: number, ch = "\\ud800") => ({
    name: "UnicodeEncodeError",
    message:
      `'utf-8' codec can't encode character '${ch}' in position ${at}: surrogates not allowed`,
  });
  await assert.rejects(getaddrinfo(null, "\ud800"), surrogates(0));
  await assert.rejects(getaddrinfo(null, "80\0\ud800"), surrogates(3));
  await assert.rejects(
    getnameinfo(["a\ud800\0", "x" as unknown as number], 1),
    surrogates(1),
  );
  await assert.rejects(
    getnameinfo(["a\0", "x" as unknown as number], 1),
    { name: "ValueError", message: "embedded null character" },
  );
  assert.throws(() => getservbyname("\udc80"), surrogates(0, "\\udc80"));
  assert.throws(() => getservbyname("http", "t\ud800"), surrogates(1));
  assert.throws(() => getservbyport(80, "\ud800"), surrogates(0));
  assert.throws(() => getprotobyname("tcp\udfff"), surrogates(3, "\\udfff"));
  assert.throws(() => inet_aton("\ud800"), surrogates(0));
  assert.throws(() => inet_pton(AF_INET, "1\ud800"), surrogates(1));
  assert.throws(() => inet_pton(AF_INET6, "::\ud800"), surrogates(2));
  // A host goes through the idna codec instead: a prohibited character.
  await assert.rejects(getaddrinfo("a\ud800", 80, 0, 0, 0, AI_NUMERICHOST), {
    name: "UnicodeError",
    message:
      "encoding with 'idna' codec failed (UnicodeError: Invalid character '\\ud800')",
  });
});

Deno.test("gethostname() is the machine's name, and getfqdn() falls back to its argument", async () => {
  assert.equal(gethostname(), Deno.hostname());
  assert.equal(await getfqdn("nonexistent.invalid"), "nonexistent.invalid");
});

// ---------------------------------------------------------------------------
// Permissions: a subprocess without flags

Deno.test("lookups without permissions raise PermissionError 13 naming the flag, as every missing flag does", async () => {
  const script = `
    import * as r from ${JSON.stringify(import.meta.resolve("../_resolve.ts"))};
    const out = [];
    async function run(f) {
      try { out.push(JSON.stringify(await f())); }
      catch (e) { out.push(e.name + " " + e.errno + ": " + e.message); }
    }
    await run(() => r.getaddrinfo("127.0.0.1", 80, 0, 1));
    await run(() => r.getaddrinfo("localhost", 80, 0, 1));
    await run(() => r.getaddrinfo("127.0.0.1", "http", 0, 1));
    await run(() => r.gethostname());
    await run(() => r.getservbyname("http"));
    await run(() => r.getnameinfo(["127.0.0.1", 80], 3));
    await run(() => r.getnameinfo(["127.0.0.1", 80], 1));
    await run(() => r.getnameinfo(["fe80::1", 80, 0, 1], 3));
    await run(() => r.getnameinfo(["2001:db8::1", 80, 0, 1], 3));
    console.log(JSON.stringify(out));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), [
    JSON.stringify([[2, 1, 6, "", ["127.0.0.1", 80]]]),
    "PermissionError 13: [Errno 13] getaddrinfo needs --allow-net (to look up 'localhost')",
    "PermissionError 13: [Errno 13] getaddrinfo needs --allow-read (to read /etc/services)",
    "PermissionError 13: [Errno 13] gethostname needs --allow-sys",
    "PermissionError 13: [Errno 13] getservbyname needs --allow-read (to read /etc/services)",
    JSON.stringify(["127.0.0.1", "80"]),
    // The service's name, or the interface's, is not silently left out.
    "PermissionError 13: [Errno 13] getnameinfo needs --allow-read (to read /etc/services)",
    "PermissionError 13: [Errno 13] getnameinfo needs --allow-ffi (or --allow-all) to name the interface 1",
    // Not link-local: glibc prints the number, with no lookup.
    JSON.stringify(["2001:db8::1%1", "80"]),
  ]);
});

// ---------------------------------------------------------------------------
// Live comparison with python3

const PY_RESOLVE = `
import json, socket, sys
def norm(v):
    if isinstance(v, (list, tuple)): return [norm(x) for x in v]
    if isinstance(v, bool): return v
    if isinstance(v, int): return int(v)
    return v
out = []
for fn, args in json.load(sys.stdin):
    if fn == "getnameinfo" and isinstance(args[0], list): args[0] = tuple(args[0])
    try:
        out.append({"ok": norm(getattr(socket, fn)(*args))})
    except Exception as e:
        out.append({"err": type(e).__name__, "errno": e.errno if isinstance(e, OSError) else None, "msg": str(e)})
print(json.dumps(out))
`;

// Calls whose answers depend on this machine (/etc/hosts, /etc/services,
// interfaces), so they are compared live rather than pinned.
const LIVE: [string, unknown[]][] = [
  ["getaddrinfo", ["localhost", 80]],
  ["getaddrinfo", ["LOCALHOST", 80, 0, SOCK_STREAM, 0, AI_CANONNAME]],
  ["getaddrinfo", ["localhost", 80, AF_INET]],
  ["getaddrinfo", ["localhost", 80, AF_INET6]],
  ["getaddrinfo", ["localhost", 80, AF_INET6, 0, 0, AI_V4MAPPED]],
  ["getaddrinfo", ["localhost", "http"]],
  ["getaddrinfo", ["localhost", "nosuchservice"]],
  ["getaddrinfo", ["127.0.0.1", 80]],
  ["getaddrinfo", ["::1", 80]],
  ["getaddrinfo", [null, 80]],
  ["getaddrinfo", [null, 80, 0, 0, 0, AI_PASSIVE]],
  ["getaddrinfo", [null, "domain", AF_INET6]],
  ["getaddrinfo", ["", 80]],
  ["getaddrinfo", ["127.0.0.1", "echo"]],
  ["getaddrinfo", ["127.0.0.1", "www"]],
  ["getaddrinfo", ["127.0.0.1", "syslog"]],
  ["getaddrinfo", ["127.0.0.1", "http", 0, SOCK_RAW]],
  ["getaddrinfo", ["127.0.0.1", "http", 0, 0, IPPROTO_UDP]],
  ["getaddrinfo", ["fe80::1%lo", 80]],
  ["getaddrinfo", ["fe80::1%nosuch", 80]],
  ["getaddrinfo", ["ff02::1%lo", 80]],
  ["getaddrinfo", ["127.0.0.1 ", 80]],
  ["getaddrinfo", ["nonexistent.invalid", 80]],
  ["getaddrinfo", ["<broadcast>", 80]],
  ["getaddrinfo", ["127.0.0.1", "80\u0000"]],
  ["getaddrinfo", ["127.0.0.1", "18446744073709551615"]],
  ["getaddrinfo", ["127.0.0.1", -(2 ** 31) - 1]],
  // Python's "idna" codec: labels checked, non-ASCII names as "xn--".
  ["getaddrinfo", ["a".repeat(64) + ".example", 80]],
  ["getaddrinfo", ["a..example", 80]],
  ["getaddrinfo", ["x".repeat(300), 80]],
  ["getaddrinfo", ["xn--\u00fc", 80]],
  ["gethostbyname", [".localhost"]],
  ["gethostbyname_ex", ["\u00fc".repeat(60)]],
  ["gethostbyaddr", ["a..b"]],
  ["gethostbyname", ["localhost"]],
  ["gethostbyname", ["nonexistent.invalid"]],
  ["gethostbyname", ["fe80::1%lo"]],
  ["gethostbyname_ex", ["localhost"]],
  ["gethostbyname_ex", ["LOCALHOST"]],
  ["gethostbyaddr", ["127.0.0.1"]],
  ["gethostbyaddr", ["::1"]],
  ["gethostbyaddr", ["192.0.2.99"]],
  ["gethostbyaddr", [""]],
  ["getnameinfo", [["127.0.0.1", 80], 0]],
  ["getnameinfo", [["127.0.0.1", 7], NI_DGRAM]],
  ["getnameinfo", [["127.0.0.1", 12345], 0]],
  ["getnameinfo", [["::1", 80, 0, 0], 0]],
  ["getnameinfo", [["fe80::1", 80, 0, 1], NI_NUMERICHOST]],
  ["getnameinfo", [["fe80::1%lo", 80], NI_NUMERICHOST]],
  ["getnameinfo", [["192.0.2.99", 80], NI_NAMEREQD]],
  ["getnameinfo", [["192.0.2.99", 80], 0]],
  ["getnameinfo", [["::ffff:127.0.0.1", 80], 0]],
  ["getnameinfo", [["::", 0], 0]],
  ["getnameinfo", [["::1", 80, 0, -1], NI_NUMERICHOST]],
  ["getservbyname", ["www"]],
  ["getservbyname", ["http", "udp"]],
  ["getservbyname", ["nosuch"]],
  ["getservbyport", [7]],
  ["getservbyport", [12345]],
  ["getfqdn", []],
  ["getfqdn", ["127.0.0.1"]],
  ["getfqdn", [" localhost "]],
  ["gethostname", []],
];

Deno.test({
  name: skipNote(
    "lookups agree with the python3 on this machine",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  async fn() {
    const want = await pythonJson(PY_RESOLVE, LIVE) as unknown[];

    const mod = await import("../_resolve.ts") as unknown as Record<
      string,
      (...args: unknown[]) => unknown
    >;
    const mismatches: string[] = [];
    for (let i = 0; i < LIVE.length; i++) {
      const [fn, args] = LIVE[i];
      let got: unknown;
      try {
        got = { ok: await mod[fn](...args) };
      } catch (e) {
        const err = e as {
          name: string;
          errno?: number | null;
          message: string;
        };
        got = { err: err.name, errno: err.errno ?? null, msg: err.message };
      }
      if (JSON.stringify(got) !== JSON.stringify(want[i])) {
        mismatches.push(
          `${fn}(${JSON.stringify(args)}): ${JSON.stringify(got)} != ${
            JSON.stringify(want[i])
          }`,
        );
      }
    }
    assert.deepEqual(mismatches, []);
  },
});

// AI_ADDRCONFIG, where the host's addresses are the namespace's own: each
// case as [host, family], with SOCK_STREAM and AI_ADDRCONFIG.
const ADDRCONFIG_CASES: [string | null, number][] = [
  [null, 0],
  ["::1", 0],
  ["127.0.0.1", 0],
  ["127.0.0.1", AF_INET],
  ["::1", AF_INET6],
  [null, AF_INET],
  [null, AF_INET6],
];

const ADDRCONFIG_PY = `
import json, socket, sys
out = []
for host, family in json.loads(sys.argv[1]):
    try:
        got = socket.getaddrinfo(host, 80, family, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
        out.append([[int(i[0]), i[4][0]] for i in got])
    except OSError as e:
        out.append([type(e).__name__, e.errno])
print(json.dumps(out))
`;

const ADDRCONFIG_TS = `
const out = [];
for (const [host, family] of JSON.parse(Deno.args[0])) {
  try {
    const got = await S.getaddrinfo(host, 80, family, S.SOCK_STREAM, 0, S.AI_ADDRCONFIG);
    out.push(got.map((i) => [i[0], i[4][0]]));
  } catch (e) {
    out.push([e.name, e.errno]);
  }
}
console.log(JSON.stringify(out));
`;

Deno.test({
  name: skipNote(
    "getaddrinfo() with AI_ADDRCONFIG looks at the host's addresses as glibc does (loopback only, IPv4 only, IPv6 only), and needs --allow-sys",
    netnsMissing ?? (hasPython ? null : "no python3"),
  ),
  ignore: netnsMissing !== null || !hasPython,
  async fn() {
    const cases = JSON.stringify(ADDRCONFIG_CASES);
    using child = script(ADDRCONFIG_TS);
    const hosts: [string, string[][]][] = [
      ["loopback only", []],
      ["IPv4 only", [["addr", "add", "10.9.9.9/32", "dev", "lo"]]],
      ["IPv6 only", [[
        "-6",
        "addr",
        "add",
        "2001:db8::9/128",
        "dev",
        "lo",
        "nodad",
      ]]],
    ];
    const seen = new Set<string>();
    for (const [what, setup] of hosts) {
      using ns = netns();
      for (const args of setup) ns.ip(...args);
      const py = await ns.exec(["python3", "-c", ADDRCONFIG_PY, cases]);
      assert.equal(py.code, 0, py.stderr);
      const ts = await ns.exec([
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-sys",
        child.path,
        cases,
      ]);
      assert.equal(ts.code, 0, ts.stderr);
      assert.deepEqual(JSON.parse(ts.stdout), JSON.parse(py.stdout), what);
      seen.add(py.stdout);
    }
    // The three hosts answer differently: the flag was not ignored.
    assert.equal(seen.size, 3);
    const denied = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", child.path, cases],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(denied.code, 0, new TextDecoder().decode(denied.stderr));
    const errors = JSON.parse(new TextDecoder().decode(denied.stdout));
    assert.deepEqual(errors[0], ["PermissionError", 13]);
  },
});

// /etc/hosts lines as glibc merges them: one name on several lines, ::1 and
// IPv4-mapped lines answering IPv4 lookups, names differing in case.
const HOSTS = `127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
127.0.0.20 m2 m2-a
127.0.0.21 m2 m2-b
127.0.0.22 M2 m2-a x2
::ffff:127.0.0.23 m2 mapped-a
127.0.0.24 m2-b m2
::2 m2 v6-a
127.0.0.30 a3
127.0.0.31 b3 a3 A3
`;
const HOSTS_NAMES = [
  "m2",
  "M2",
  "m2-b",
  "localhost",
  "ip6-loopback",
  "a3",
  "b3",
  "mapped-a",
];

const HOSTS_PY = `
import json, socket, sys
out = []
for n in json.loads(sys.argv[1]):
    name, aliases, addrs = socket.gethostbyname_ex(n)
    canon = [socket.getaddrinfo(n, 80, f, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)[0][3] for f in (0, socket.AF_INET)]
    # glibc answers EAI_NONAME for a name on an IPv4-mapped line only
    # (mapped-a), which the module does not copy.
    if n == "mapped-a":
        canon.append(None)
    else:
        try:
            canon.append(socket.getaddrinfo(n, 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_CANONNAME | socket.AI_V4MAPPED)[0][3])
        except socket.gaierror as e:
            canon.append(e.errno)
    out.append([name, aliases, addrs, canon])
print(json.dumps(out))
`;

const HOSTS_TS = `
const out = [];
for (const n of JSON.parse(Deno.args[0])) {
  const canon = [];
  for (const f of [0, S.AF_INET]) {
    canon.push((await S.getaddrinfo(n, 80, f, S.SOCK_STREAM, 0, S.AI_CANONNAME))[0][3]);
  }
  if (n === "mapped-a") canon.push(null);
  else try {
    canon.push((await S.getaddrinfo(n, 80, S.AF_INET6, S.SOCK_STREAM, 0, S.AI_CANONNAME | S.AI_V4MAPPED))[0][3]);
  } catch (e) {
    if (!(e instanceof S.gaierror)) throw e;
    canon.push(e.errno);
  }
  out.push([...await S.gethostbyname_ex(n), canon]);
}
console.log(JSON.stringify(out));
`;

const unshareMissing = netnsMissing ??
  (hasPython ? null : "no python3");

Deno.test({
  name: skipNote(
    "gethostbyname_ex() and AI_CANONNAME read /etc/hosts as glibc merges it (aliases of every line naming the host, ::1 as 127.0.0.1; an AF_INET6 lookup with AI_V4MAPPED of an IPv4-only name takes the IPv4 line's name), as python3 does",
    unshareMissing,
  ),
  ignore: unshareMissing !== null,
  async fn() {
    using child = script(HOSTS_TS);
    const hosts = await Deno.makeTempFile({ prefix: "pysock-hosts-" });
    try {
      await Deno.writeTextFile(hosts, HOSTS);
      const names = JSON.stringify(HOSTS_NAMES);
      // A mount namespace of the child's own (private propagation): the
      // file stands in for /etc/hosts there only.
      const inside = async (cmd: string[]) => {
        const out = await new Deno.Command("unshare", {
          args: [
            "-n",
            "-m",
            "sh",
            "-c",
            'ip link set lo up && mount --bind "$0" /etc/hosts && exec "$@"',
            hosts,
            ...cmd,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder();
        assert.equal(out.code, 0, text.decode(out.stderr));
        return JSON.parse(text.decode(out.stdout));
      };
      const want = await inside(["python3", "-c", HOSTS_PY, names]);
      assert.deepEqual(want[0][1].slice(0, 2), ["m2-a", "m2-b"]);
      const got = await inside([
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-read",
        child.path,
        names,
      ]);
      assert.deepEqual(got, want);
    } finally {
      await Deno.remove(hosts);
    }
  },
});

const PY_IDNA = `
import json, sys
out = []
for s in json.load(sys.stdin):
    try:
        out.append(s.encode("idna").decode())
    except UnicodeError as e:
        out.append("UnicodeError: " + str(e))
print(json.dumps(out))
`;

Deno.test({
  name: skipNote(
    "host names are encoded as Python's idna codec does (nameprep with Unicode 3.2's tables: case folding, NFKC, prohibited characters, the bidi rule; Punycode, label lengths)",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  async fn() {
    const names = [
      "\u00fcmlaut",
      "fa\u00df",
      "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3",
      "\ufb01.x",
      "a\u00adb",
      "\u65e5\u672c\u8a9e.jp",
      "xn--abc",
      "B\u00fccher.DE.",
      "m\u00fcnchen\u3002de",
      "\u0430\u0431\u0432.\u0440\u0444",
      "\u00c4\u00d6\u00dc-\u00df.Stra\u00dfe",
      "a".repeat(63) + ".b",
      "a".repeat(64),
      "a.",
      "a..b",
      "xn--\u00fc",
      "\u00fc".repeat(60),
      "\u200b.x",
      // Prohibited characters (RFC 3454 tables C.*), shown as Python's
      // repr() shows them, lone surrogates among them.
      "a\u0080b",
      "a\ue000",
      "a\ufffd",
      "\u2ff0x",
      "a\u200eb",
      "a\u06ddb",
      "a\u{e0001}b",
      "a\uffffb",
      "a\ud800b",
      "\udc80",
      "\ud800\u200b\udc80",
      // The bidi rule (table D.1 / D.2).
      "\u05d0a",
      "\u05d01",
      "1\u05d0",
      "\u05d0\u05d1",
      "\u0627\u0628.\u05d0",
      // Table B.2 folds what NFKC makes; Unicode 3.2's NFKC leaves what
      // Unicode 3.2 does not assign alone.
      "\u211c",
      "\u3384x",
      "x\u03d0",
      "\u1e9e",
      "a\u3000b",
      "a\u0340b",
      "a\u1d3eb",
      "a\u321eb",
    ];
    const want = await pythonJson(PY_IDNA, names) as string[];
    const got = names.map((n) => {
      try {
        return idnaEncode(n);
      } catch (e) {
        assert.ok(e instanceof UnicodeError && e instanceof ValueError);
        return "UnicodeError: " + e.message;
      }
    });
    assert.deepEqual(got, want);
  },
});

import assert from "node:assert/strict";
import {
  decodeSockAddr,
  encodeSockAddr,
  SOCKADDR_MAX,
  sockaddrFamily,
} from "./sockaddr.ts";
import { gaierror, OSError } from "../errors.ts";

const AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_PACKET = 17;
const enc = new TextEncoder();

function roundTrip(family: number, addr: Parameters<typeof encodeSockAddr>[1]) {
  const out = new Uint8Array(SOCKADDR_MAX);
  const len = encodeSockAddr(family, addr, out);
  return [len, decodeSockAddr(out, len), out] as const;
}

Deno.test("encodeSockAddr() lays out sockaddr_in in network order", () => {
  const [len, back, out] = roundTrip(AF_INET, ["192.0.2.33", 0x1234]);
  assert.equal(len, 16);
  assert.deepEqual(
    out.subarray(0, 16),
    new Uint8Array([2, 0, 0x12, 0x34, 192, 0, 2, 33, 0, 0, 0, 0, 0, 0, 0, 0]),
  );
  assert.deepEqual(back, ["192.0.2.33", 0x1234]);
});

Deno.test("encodeSockAddr() zeroes what a previous address left", () => {
  const out = new Uint8Array(SOCKADDR_MAX).fill(0xee);
  encodeSockAddr(AF_INET, ["1.2.3.4", 5], out);
  assert.deepEqual(out.subarray(8, 16), new Uint8Array(8));
  out.fill(0xee);
  encodeSockAddr(AF_INET6, ["::1", 5], out);
  assert.deepEqual(out.subarray(4, 8), new Uint8Array(4));
  assert.deepEqual(out.subarray(24, 28), new Uint8Array(4));
});

Deno.test("encodeSockAddr() writes sockaddr_in6 with flowinfo and scope_id", () => {
  const [len, back, out] = roundTrip(AF_INET6, [
    "2001:db8::1",
    443,
    0x12345,
    7,
  ]);
  assert.equal(len, 28);
  assert.deepEqual(
    out.subarray(0, 8),
    new Uint8Array([10, 0, 1, 187, 0, 1, 0x23, 0x45]),
  );
  assert.equal(out[8], 0x20);
  assert.equal(out[23], 1);
  assert.deepEqual(out.subarray(24, 28), new Uint8Array([7, 0, 0, 0]));
  assert.deepEqual(back, ["2001:db8::1", 443, 0x12345, 7]);
  assert.deepEqual(roundTrip(AF_INET6, ["::", 0])[1], ["::", 0, 0, 0]);
});

Deno.test("encodeSockAddr() takes a %zone suffix as the scope id", () => {
  assert.deepEqual(roundTrip(AF_INET6, ["fe80::1%3", 1])[1], [
    "fe80::1",
    1,
    0,
    3,
  ]);
  const out = new Uint8Array(SOCKADDR_MAX);
  encodeSockAddr(AF_INET6, ["fe80::1%lo", 1], out, (n) => n === "lo" ? 1 : 0);
  assert.equal(out[24], 1);
  assert.throws(
    () => encodeSockAddr(AF_INET6, ["fe80::1%nope0", 1], out, () => 0),
    gaierror,
  );
});

Deno.test("encodeSockAddr() rejects a host that is not numeric", () => {
  const out = new Uint8Array(SOCKADDR_MAX);
  assert.throws(() => encodeSockAddr(AF_INET, ["localhost", 1], out), OSError);
  assert.throws(() => encodeSockAddr(AF_INET6, ["1.2.3.4", 1], out), OSError);
  assert.throws(() => encodeSockAddr(AF_INET, "/tmp/x", out), OSError);
  assert.throws(() => encodeSockAddr(AF_UNIX, ["1.2.3.4", 1], out), OSError);
});

Deno.test("encodeSockAddr() gives a unix path its NUL and an abstract name its exact length", () => {
  const [len, back, out] = roundTrip(AF_UNIX, "/tmp/sock");
  assert.equal(len, 2 + 9 + 1);
  assert.deepEqual(out.subarray(0, 2), new Uint8Array([1, 0]));
  assert.equal(out[11], 0);
  assert.equal(back, "/tmp/sock");
  const name = new Uint8Array([0, ...enc.encode("abc")]);
  const [alen, aback] = roundTrip(AF_UNIX, name);
  assert.equal(alen, 2 + 4);
  assert.deepEqual(aback, name);
  // A string with a leading NUL is abstract too, as in CPython.
  assert.deepEqual(roundTrip(AF_UNIX, "\0abc")[1], name);
});

Deno.test("encodeSockAddr() asks for autobind with an empty unix name", () => {
  assert.equal(roundTrip(AF_UNIX, "")[0], 2);
  assert.equal(roundTrip(AF_UNIX, new Uint8Array(0))[0], 2);
});

Deno.test("encodeSockAddr() bounds unix names: 107-byte paths, 108-byte abstract names", () => {
  const out = new Uint8Array(SOCKADDR_MAX);
  assert.equal(encodeSockAddr(AF_UNIX, "a".repeat(107), out), 110);
  assert.throws(
    () => encodeSockAddr(AF_UNIX, "a".repeat(108), out),
    (e: unknown) =>
      e instanceof OSError && e.errno === null &&
      e.message === "AF_UNIX path too long",
  );
  const abs = new Uint8Array(108);
  assert.equal(encodeSockAddr(AF_UNIX, abs, out), 110);
  assert.throws(
    () => encodeSockAddr(AF_UNIX, new Uint8Array(109), out),
    OSError,
  );
});

Deno.test("encodeSockAddr() never writes past a small buffer", () => {
  const small = new Uint8Array(8);
  assert.throws(
    () => encodeSockAddr(AF_INET, ["1.2.3.4", 1], small),
    RangeError,
  );
  assert.throws(
    () => encodeSockAddr(AF_INET6, ["::1", 1], new Uint8Array(27)),
    RangeError,
  );
  assert.throws(() => encodeSockAddr(AF_UNIX, "/tmp/abc", small), RangeError);
});

Deno.test("encodeSockAddr() passes raw bytes for other families", () => {
  const raw = new Uint8Array([17, 0, 0, 3, 1, 0, 0, 0]);
  const out = new Uint8Array(SOCKADDR_MAX);
  assert.equal(encodeSockAddr(AF_PACKET, raw, out), 8);
  assert.deepEqual(decodeSockAddr(out, 8), raw);
  assert.throws(() => encodeSockAddr(AF_PACKET, "eth0", out), OSError);
});

Deno.test("decodeSockAddr() gives null for no address and '' for an unnamed unix socket", () => {
  assert.equal(decodeSockAddr(new Uint8Array(SOCKADDR_MAX), 0), null);
  assert.equal(decodeSockAddr(new Uint8Array([1, 0]), 2), "");
  assert.equal(decodeSockAddr(new Uint8Array([1, 0, 0]), 2), "");
});

Deno.test("decodeSockAddr() stops a unix path at its first NUL and gives a non-UTF-8 name as CPython does (os.fsdecode)", () => {
  const b = new Uint8Array(SOCKADDR_MAX);
  b.set([1, 0, ...enc.encode("/x/y"), 0, 0x41, 0x42]);
  assert.equal(decodeSockAddr(b, 12), "/x/y");
  // A 108-byte path has no NUL: addrlen bounds it.
  const full = new Uint8Array(110).fill(0x61);
  full.set([1, 0]);
  assert.equal(decodeSockAddr(full, 110), "a".repeat(108));
  const bad = new Uint8Array([1, 0, 0x2f, 0xff, 0xfe, 0]);
  assert.equal(decodeSockAddr(bad, 6), "/\udcff\udcfe");
});

Deno.test("decodeSockAddr() clamps an addrlen larger than the buffer", () => {
  // The kernel reports the full length when it truncated the address.
  const b = new Uint8Array([1, 0, 0, 0x61, 0x62]);
  assert.deepEqual(decodeSockAddr(b, 110), new Uint8Array([0, 0x61, 0x62]));
  const p = new Uint8Array([1, 0, 0x61, 0x62]);
  assert.equal(decodeSockAddr(p, 1000), "ab");
  const sin = new Uint8Array([2, 0, 0, 80, 10, 0, 0, 1]);
  assert.deepEqual(decodeSockAddr(sin, 16), ["10.0.0.1", 80]);
});

Deno.test("decodeSockAddr() returns raw bytes for short or unknown addresses", () => {
  assert.deepEqual(
    decodeSockAddr(new Uint8Array([2, 0, 0]), 3),
    new Uint8Array([2, 0, 0]),
  );
  const six = new Uint8Array(20);
  six[0] = 10;
  assert.equal(decodeSockAddr(six, 20) instanceof Uint8Array, true);
  assert.deepEqual(decodeSockAddr(new Uint8Array([9]), 1), new Uint8Array([9]));
  assert.equal(decodeSockAddr(new Uint8Array(4), -5), null);
  // sockaddr_in6 without its scope_id (24 bytes) still decodes.
  const s6 = new Uint8Array(24);
  s6[0] = 10;
  s6[23] = 1;
  assert.deepEqual(decodeSockAddr(s6, 24), ["::1", 0, 0, 0]);
});

Deno.test("decodeSockAddr() returns copies, not views of the scratch buffer", () => {
  const b = new Uint8Array([1, 0, 0, 0x61]);
  const name = decodeSockAddr(b, 4) as Uint8Array;
  b[3] = 0x7a;
  assert.deepEqual(name, new Uint8Array([0, 0x61]));
});

Deno.test("sockaddrFamily() reads sa_family in host order", () => {
  assert.equal(sockaddrFamily(new Uint8Array([10, 0]), 2), 10);
  assert.equal(sockaddrFamily(new Uint8Array([10, 0]), 1), -1);
});

// inet_aton / inet_ntoa / inet_pton / inet_ntop and the byte-order helpers,
// checked against vectors taken from CPython 3.11.7 on Linux (glibc 2.36),
// and live against the python3 on this machine when there is one.
import assert from "node:assert/strict";
import { skipNote } from "./_helpers.ts";
import { hasPython, pythonJson } from "./_python.ts";
import { AF_INET, AF_INET6, AF_UNIX } from "../constants.ts";
import { OSError, OverflowError, ValueError } from "../errors.ts";
import {
  htonl,
  htons,
  inet_aton,
  inet_ntoa,
  inet_ntop,
  inet_pton,
  ntohl,
  ntohs,
} from "../_inet.ts";

const hex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (h: string): Uint8Array =>
  new Uint8Array((h.match(/../g) ?? []).map((x) => parseInt(x, 16)));

// Vectors printed by CPython 3.11.7: [input, packed hex or null for OSError].
const ATON: [string, string | null][] = [
  ["1.2.3.4", "01020304"],
  ["1.2", "01000002"],
  ["1", "00000001"],
  ["0x7f.1", "7f000001"],
  ["1.2.3", "01020003"],
  ["255.255.255.255", "ffffffff"],
  ["256.1.1.1", null],
  ["1.256", "01000100"],
  ["1.2.65536", null],
  ["1.16777216", null],
  ["4294967295", "ffffffff"],
  ["4294967296", null],
  ["0x", null],
  ["0x.1", null],
  ["010.1", "08000001"],
  ["08.1", null],
  ["0", "00000000"],
  ["1.2.3.4 ", "01020304"],
  ["1.2.3.4 abc", "01020304"],
  [" 1.2.3.4", null],
  ["1.2.3.4\t", "01020304"],
  ["1..2", null],
  [".1", null],
  ["1.", null],
  ["1.2.3.4.", null],
  ["1.2.3.4.5", null],
  ["", null],
  ["a", null],
  ["0xffffffff", "ffffffff"],
  ["0XFF", "000000ff"],
  ["0x100000000", null],
  ["-1", null],
  ["+1", null],
  ["0x0000000000000001", "00000001"],
  ["0377.0377.0377.0377", "ffffffff"],
  ["0400.1.1.1", null],
  ["1 2", "00000001"],
  ["１.2.3.4", null],
  ["1.2.3.4é", null],
];
const PTON4: [string, string | null][] = [
  ["1.2.3.4", "01020304"],
  ["01.2.3.4", null],
  ["1.2", null],
  ["0.0.0.0", "00000000"],
  ["255.255.255.255", "ffffffff"],
  ["256.0.0.0", null],
  ["1.2.3.4 ", null],
  ["0x1.2.3.4", null],
  ["1.2.3.04", null],
  ["1.2.3.0", "01020300"],
  ["", null],
  ["1.2.3.4.5", null],
  ["00.1.1.1", null],
  ["1..2.3", null],
];
const PTON6: [string, string | null][] = [
  ["::", "00000000000000000000000000000000"],
  ["::1", "00000000000000000000000000000001"],
  ["1::", "00010000000000000000000000000000"],
  ["::ffff:1.2.3.4", "00000000000000000000ffff01020304"],
  ["::1.2.3.4", "00000000000000000000000001020304"],
  ["fe80::1%eth0", null],
  ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
  ["1:2:3:4:5:6:7:8:9", null],
  ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
  ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
  ["1::2:3:4:5:6:7:8", null],
  ["12345::", null],
  ["0000:0000::", "00000000000000000000000000000000"],
  ["::FFFF:1.2.3.4", "00000000000000000000ffff01020304"],
  ["1.2.3.4", null],
  [":1::", null],
  [":", null],
  ["::1:", null],
  ["1:::2", null],
  ["[::1]", null],
  [" ::1", null],
  ["::1 ", null],
  ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
  ["1:2:3:4:5:6:7:1.2.3.4", null],
  ["::1.2.3", null],
  ["::01.2.3.4", null],
  ["::1.2.3.4:1", null],
  ["::256.1.1.1", null],
  ["", null],
  ["0::0::0", null],
  ["a::b", "000a000000000000000000000000000b"],
  ["ABCD::EF01", "abcd000000000000000000000000ef01"],
  ["2001:db8::0:1", "20010db8000000000000000000000001"],
];
const NTOP6: [string, string][] = [
  ["00000000000000000000000000000001", "::1"],
  ["00000000000000000000000000000002", "::2"],
  ["00000000000000000000000001020304", "::1.2.3.4"],
  ["00000000000000000000ffff01020304", "::ffff:1.2.3.4"],
  ["000000000000000000000000ffff0000", "::255.255.0.0"],
  ["0000000000000000ffff000001020304", "::ffff:0:102:304"],
  ["00000000000000000000ffff00000000", "::ffff:0.0.0.0"],
  ["00010000000000000000000000000000", "1::"],
  ["00000000000100000000000000000000", "0:0:1::"],
  ["00000001000000000000000100000000", "0:1::1:0:0"],
  ["00010002000300040005000600070008", "1:2:3:4:5:6:7:8"],
  ["20010db8000000000001000000000001", "2001:db8::1:0:0:1"],
  ["20010db8000000010000000000000001", "2001:db8:0:1::1"],
  ["00000000000000000000000000000000", "::"],
  ["fe800000000000000000000000000001", "fe80::1"],
  ["0000000000000000000000000000ffff", "::ffff"],
  ["00000000000000000000fffe01020304", "::fffe:102:304"],
  ["000000000000000000000000000f0001", "::0.15.0.1"],
  ["abcd0000ef000000000000000000ab00", "abcd:0:ef00::ab00"],
];

Deno.test("inet_aton() accepts every form glibc's inet_aton does", () => {
  for (const [text, want] of ATON) {
    if (want === null) {
      assert.throws(
        () => inet_aton(text),
        (e: unknown) =>
          e instanceof OSError && e.errno === null &&
          e.message === "illegal IP address string passed to inet_aton",
        JSON.stringify(text),
      );
    } else {
      assert.equal(hex(inet_aton(text)), want, JSON.stringify(text));
    }
  }
});

Deno.test("inet_pton(AF_INET) takes only four decimal parts", () => {
  for (const [text, want] of PTON4) {
    if (want === null) {
      assert.throws(
        () => inet_pton(AF_INET, text),
        (e: unknown) =>
          e instanceof OSError && e.errno === null &&
          e.message === "illegal IP address string passed to inet_pton",
        JSON.stringify(text),
      );
    } else {
      assert.equal(hex(inet_pton(AF_INET, text)), want, JSON.stringify(text));
    }
  }
});

Deno.test("inet_pton(AF_INET6) takes RFC 4291 text and no zone id", () => {
  for (const [text, want] of PTON6) {
    if (want === null) {
      assert.throws(
        () => inet_pton(AF_INET6, text),
        (e: unknown) =>
          e instanceof OSError && e.errno === null &&
          e.message === "illegal IP address string passed to inet_pton",
        JSON.stringify(text),
      );
    } else {
      assert.equal(hex(inet_pton(AF_INET6, text)), want, JSON.stringify(text));
    }
  }
});

Deno.test("inet_ntop(AF_INET6) formats as glibc does", () => {
  for (const [packed, want] of NTOP6) {
    assert.equal(inet_ntop(AF_INET6, unhex(packed)), want, packed);
  }
});

Deno.test("inet_pton() with another family is OSError 97", () => {
  for (const family of [AF_UNIX, 99]) {
    assert.throws(
      () => inet_pton(family, "1.2.3.4"),
      (e: unknown) =>
        e instanceof OSError && e.errno === 97 &&
        e.message === "[Errno 97] Address family not supported by protocol",
    );
  }
});

Deno.test("inet_aton() and inet_pton() reject a NUL as ValueError", () => {
  for (
    const f of [
      () => inet_aton("1.2.3.4\0"),
      () => inet_aton("1.2.3.4 \0"),
      () => inet_pton(AF_INET, "1.2.3.4\0"),
      () => inet_pton(99, "1\0"),
    ]
  ) {
    assert.throws(f, ValueError);
    assert.throws(f, { message: "embedded null character" });
  }
});

Deno.test("inet_aton() and inet_pton() name the wrong argument type", () => {
  const bad = (f: () => unknown, message: string) =>
    assert.throws(
      f,
      (e: unknown) => e instanceof TypeError && e.message === message,
    );
  bad(
    () => inet_aton(null as unknown as string),
    "inet_aton() argument 1 must be str, not None",
  );
  bad(
    () => inet_aton(new Uint8Array(4) as unknown as string),
    "inet_aton() argument 1 must be str, not bytes",
  );
  bad(
    () => inet_pton(AF_INET, [1] as unknown as string),
    "inet_pton() argument 2 must be str, not list",
  );
  bad(
    () => inet_pton("2" as unknown as number, "1.2.3.4"),
    "'str' object cannot be interpreted as an integer",
  );
  bad(
    () => inet_pton(2.5, "1.2.3.4"),
    "'float' object cannot be interpreted as an integer",
  );
  assert.throws(() => inet_pton(2 ** 31, "1"), OverflowError);
  assert.throws(() => inet_pton(2 ** 31, "1"), {
    message: "signed integer is greater than maximum",
  });
});

Deno.test("inet_ntoa() formats 4 bytes and rejects other lengths", () => {
  assert.equal(inet_ntoa(new Uint8Array([1, 2, 3, 4])), "1.2.3.4");
  assert.equal(
    inet_ntoa(new Uint8Array([255, 0, 0, 255]).buffer),
    "255.0.0.255",
  );
  for (const n of [0, 3, 5, 16]) {
    assert.throws(
      () => inet_ntoa(new Uint8Array(n)),
      (e: unknown) =>
        e instanceof OSError && e.errno === null &&
        e.message === "packed IP wrong length for inet_ntoa",
    );
  }
  assert.throws(
    () => inet_ntoa("abcd" as unknown as Uint8Array),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === "a bytes-like object is required, not 'str'",
  );
});

Deno.test("inet_ntop() takes any bytes-like value", () => {
  const b = new Uint8Array([0, 10, 0, 0, 1, 0]);
  assert.equal(inet_ntop(AF_INET, b.subarray(1, 5)), "10.0.0.1");
  assert.equal(inet_ntop(AF_INET, new DataView(b.buffer, 1, 4)), "10.0.0.1");
  assert.equal(
    inet_ntop(AF_INET, new Uint16Array([0x0a00, 0x0100])),
    "0.10.0.1",
  );
  assert.equal(inet_ntop(AF_INET6, new ArrayBuffer(16)), "::");
});

Deno.test("inet_ntop() raises Python's ValueErrors", () => {
  const cases: [number, number, string][] = [
    [AF_INET, 5, "invalid length of packed IP address string"],
    [AF_INET, 16, "invalid length of packed IP address string"],
    [AF_INET6, 15, "invalid length of packed IP address string"],
    [AF_INET6, 4, "invalid length of packed IP address string"],
    [99, 4, "unknown address family 99"],
    [99, 5, "unknown address family 99"],
  ];
  for (const [family, length, message] of cases) {
    assert.throws(
      () => inet_ntop(family, new Uint8Array(length)),
      (e: unknown) => e instanceof ValueError && e.message === message,
    );
  }
  assert.throws(
    () => inet_ntop(AF_INET, null as unknown as Uint8Array),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === "a bytes-like object is required, not 'NoneType'",
  );
});

Deno.test("inet_pton() results are independent of each other", () => {
  // inet_pton() parses into one scratch buffer: each result must be a copy.
  const kept: [string, Uint8Array][] = [];
  for (let i = 0; i < 2000; i++) {
    const text = i % 2
      ? `10.${i >> 8 & 255}.${i & 255}.1`
      : `2001:db8::${(i + 1).toString(16)}`;
    kept.push([text, inet_pton(i % 2 ? AF_INET : AF_INET6, text)]);
  }
  for (const [text, packed] of kept) {
    assert.equal(
      text.includes(":")
        ? inet_ntop(AF_INET6, packed)
        : inet_ntop(AF_INET, packed),
      text,
    );
  }
  const a = inet_aton("1.2.3.4");
  const b = inet_aton("1.2.3.4");
  a[0] = 9;
  assert.deepEqual(b, new Uint8Array([1, 2, 3, 4]));
});

Deno.test("htons() and friends swap bytes and check ranges like Python", () => {
  assert.equal(htons(1), 256);
  assert.equal(ntohs(0x1234), 0x3412);
  assert.equal(htons(65535), 65535);
  assert.equal(htonl(1), 16777216);
  assert.equal(ntohl(0x7f000001), 0x0100007f);
  assert.equal(htonl(4294967295), 4294967295);
  assert.equal(htonl(65535), 4294901760);
  // A bool and a bigint are ints to Python's htonl, as to htons.
  assert.equal(htonl(true as unknown as number), 16777216);
  assert.equal(ntohl(1n as unknown as number), 16777216);
  assert.equal(htons(true as unknown as number), 256);
  const overflow: [() => number, string][] = [
    [
      () => htons(65536),
      "htons: Python int too large to convert to C 16-bit unsigned integer",
    ],
    [
      () => htons(70000),
      "htons: Python int too large to convert to C 16-bit unsigned integer",
    ],
    [
      () => ntohs(-1),
      "ntohs: can't convert negative Python int to C 16-bit unsigned integer",
    ],
    [() => htons(2 ** 32), "signed integer is greater than maximum"],
    [() => htons(-(2 ** 31) - 1), "signed integer is less than minimum"],
    [() => htons(2 ** 64), "Python int too large to convert to C long"],
    [() => htonl(2 ** 32), "int larger than 32 bits"],
    [() => ntohl(-1), "can't convert negative value to unsigned int"],
    [
      () => htonl(2n ** 64n as unknown as number),
      "Python int too large to convert to C unsigned long",
    ],
    [
      () => htonl(2 ** 64),
      "Python int too large to convert to C unsigned long",
    ],
  ];
  for (const [f, message] of overflow) {
    assert.throws(
      f,
      (e: unknown) => e instanceof OverflowError && e.message === message,
    );
  }
  const types: [() => number, string][] = [
    [() => htons(1.5), "'float' object cannot be interpreted as an integer"],
    [
      () => htons("1" as unknown as number),
      "'str' object cannot be interpreted as an integer",
    ],
    [
      () => ntohs(null as unknown as number),
      "'NoneType' object cannot be interpreted as an integer",
    ],
    [() => htonl(1.5), "expected int, float found"],
    [() => ntohl("1" as unknown as number), "expected int, str found"],
  ];
  for (const [f, message] of types) {
    assert.throws(
      f,
      (e: unknown) => e instanceof TypeError && e.message === message,
    );
  }
});

// ---------------------------------------------------------------------------
// Live comparison with python3

const PY_INET = `
import json, socket, sys
def run(kind, arg):
    try:
        if kind == "aton": r = socket.inet_aton(arg)
        elif kind == "pton4": r = socket.inet_pton(socket.AF_INET, arg)
        elif kind == "pton6": r = socket.inet_pton(socket.AF_INET6, arg)
        elif kind == "ntop6": r = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(arg))
        elif kind == "ntop4": r = socket.inet_ntop(socket.AF_INET, bytes.fromhex(arg))
        elif kind == "ntoa": r = socket.inet_ntoa(bytes.fromhex(arg))
        return r.hex() if isinstance(r, bytes) else r
    except Exception as e:
        return "!" + type(e).__name__ + ": " + str(e)
print(json.dumps([run(k, a) for k, a in json.load(sys.stdin)]))
`;

function runTs(kind: string, arg: string): string {
  try {
    switch (kind) {
      case "aton":
        return hex(inet_aton(arg));
      case "pton4":
        return hex(inet_pton(AF_INET, arg));
      case "pton6":
        return hex(inet_pton(AF_INET6, arg));
      case "ntop6":
        return inet_ntop(AF_INET6, unhex(arg));
      case "ntop4":
        return inet_ntop(AF_INET, unhex(arg));
      default:
        return inet_ntoa(unhex(arg));
    }
  } catch (e) {
    return `!${(e as Error).name}: ${(e as Error).message}`;
  }
}

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

function generateInputs(count: number): [string, string][] {
  const rand = rng(20240611);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const repeat = (n: number, f: () => string, sep: string): string =>
    Array.from({ length: n }, f).join(sep);
  const atonParts = [
    "0",
    "00",
    "01",
    "08",
    "0x",
    "0x7f",
    "0XfF",
    "255",
    "256",
    "1",
    "65535",
    "0xffffff",
    "16777215",
    "4294967295",
    "0377",
    "0400",
    "12",
  ];
  const ptonParts = [
    "0",
    "1",
    "9",
    "10",
    "99",
    "100",
    "199",
    "255",
    "256",
    "01",
    "00",
    "300",
  ];
  const tails = ["", "", "", "", "", " ", " x", "\t1", "x", ".", "\n", ":"];
  const groups = [
    "0",
    "1",
    "ff",
    "FFFF",
    "abcd",
    "12345",
    "",
    "0000",
    "1.2.3.4",
    "01.2.3.4",
  ];
  const mutations: [string, string][] = [
    ["::", "::"],
    ["::", ":0:"],
    ["::", ":::"],
    ["::", ":"],
    [":", "::"],
    ["0", "00000"],
  ];
  const inputs: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    inputs.push([
      "aton",
      repeat(1 + Math.floor(rand() * 5), () => pick(atonParts), ".") +
      pick(tails),
    ]);
    inputs.push([
      "pton4",
      repeat(pick([3, 4, 4, 4, 5]), () => pick(ptonParts), ".") +
      pick(tails),
    ]);
    const bytes = new Uint8Array(16).map(() =>
      pick([0, 0, 0, 0, 1, 0xff, 0x10])
    );
    inputs.push(["ntop6", hex(bytes)]);
    if (rand() < 0.5) {
      const [from, to] = pick(mutations);
      let text = inet_ntop(AF_INET6, bytes).replace(from, to);
      if (rand() < 0.3) text = text.toUpperCase();
      inputs.push(["pton6", text + pick(tails)]);
    } else {
      let text = repeat(1 + Math.floor(rand() * 9), () => pick(groups), ":");
      if (rand() < 0.3) text = pick(["::", ""]) + text + pick(["::", ""]);
      inputs.push(["pton6", text]);
    }
    inputs.push([
      pick(["ntop4", "ntoa"]),
      hex(bytes.subarray(0, pick([3, 4, 4, 5]))),
    ]);
  }
  return inputs;
}

Deno.test({
  name: skipNote(
    "inet_*() agree with the python3 on this machine",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  async fn() {
    const inputs = generateInputs(1500);
    const want = await pythonJson(PY_INET, inputs) as string[];
    const mismatches: string[] = [];
    inputs.forEach(([kind, arg], i) => {
      const got = runTs(kind, arg);
      if (got !== want[i]) {
        mismatches.push(
          `${kind}(${JSON.stringify(arg)}): ${got} != ${want[i]}`,
        );
      }
    });
    assert.deepEqual(mismatches, []);
  },
});

Deno.test("inet_aton() and inet_pton() results own their memory: moving one's buffer changes no other result and no later call", () => {
  const a = inet_aton("10.0.0.1");
  const b = inet_pton(AF_INET6, "::1");
  assert.equal(a.buffer.byteLength, 4);
  assert.equal(b.buffer.byteLength, 16);
  (a.buffer as ArrayBuffer).transfer();
  assert.deepEqual(b, inet_pton(AF_INET6, "::1"));
  assert.deepEqual(inet_aton("10.0.0.2"), new Uint8Array([10, 0, 0, 2]));
});

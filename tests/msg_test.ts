// sendmsg(), recvmsg(), recvmsg_into(), send_fds(), recv_fds(), CMSG_LEN()
// and CMSG_SPACE(), ported from CPython 3.11's test_socket (SendmsgTests,
// RecvmsgTests, RecvmsgIntoTests, SCMRightsTest, CmsgMacroTests) and
// compared live with python3: descriptors passed both ways with a CPython
// peer and then used, the kernel's truncation of control messages read as
// CPython reads it, a fuzz of control messages and 10,000 round trips that
// leak no descriptor.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  BlockingIOError,
  BufferError,
  close,
  CMSG_LEN,
  CMSG_SPACE,
  dup,
  fromfd,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_PEEK,
  MSG_TRUNC,
  MSG_WAITALL,
  OSError,
  OverflowError,
  recv_fds,
  SCM_CREDENTIALS,
  SCM_RIGHTS,
  send_fds,
  SO_PASSCRED,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  type Socket,
  socket,
  socketpair,
  SOL_SOCKET,
  TimeoutError,
  ValueError,
} from "../mod.ts";
import { decodeControl, encodeControl, pinnedNow } from "../_libc/msg.ts";
import { libc, LINUX } from "../_libc/ffi.ts";
import {
  abstractName,
  BACKENDS,
  bytes,
  connectedPair,
  hasPython,
  libcCase,
  libcMissing,
  onBackend,
  openEventfd,
  type OwnFd,
  python,
  raises,
  recvExactly,
  skipNote,
  sleep,
  text,
  udpPair,
  withTimeout,
} from "./_helpers.ts";
import { PY_START_MS, pythonJson } from "./_python.ts";

/** python3 with JSON in and out, bounded in time. */
function py(code: string, input: unknown): Promise<unknown> {
  return withTimeout(pythonJson(code, input), 20_000, "python3");
}

const MSG = bytes("Mary had a little lamb");
const SIZEOF_INT = 4;

// ------------------------------------------------------------------------
// Descriptors: eventfds holding their index, as CPython's newFDs() writes
// each temp file's index into it; the lowest free number counts leaks.

/**
 * The lowest `n` descriptor numbers free now: a leak changes them (Linux
 * hands out the lowest free number). Enough of them to cover every number
 * a workload used (253 descriptors in flight at most). Test modules share
 * one process under --parallel, so this is read only in a child process
 * that runs nothing else (see LEAK_CHILD below).
 */
function lowestFree(n = 400): number[] {
  const open = Array.from({ length: n }, () => openEventfd());
  const numbers = open.map((e) => e.fd);
  for (const e of open) e[Symbol.dispose]();
  return numbers;
}

/**
 * Workloads whose descriptors are counted in a child process of their own
 * (`deno run` of this file with LEAK_CHILD): by name, in the order added.
 */
const WORKLOADS = new Map<string, () => Promise<void>>();
const LEAK_CHILD = "--leak-child";

/** `n` eventfds, the i-th holding i + 1, closed on dispose. */
function newFds(n: number): OwnFd[] & Disposable {
  const fds: OwnFd[] = [];
  for (let i = 0; i < n; i++) {
    const e = openEventfd();
    const value = new BigUint64Array([BigInt(i + 1)]);
    libc().write(e.fd, new Uint8Array(value.buffer), 8n);
    fds.push(e);
  }
  return Object.assign(fds, {
    [Symbol.dispose]() {
      for (const e of fds) e[Symbol.dispose]();
    },
  });
}

/** Each received descriptor is the eventfd with its index + 1 (read once). */
function checkFds(fds: readonly number[]): void {
  fds.forEach((fd, i) => {
    const out = new BigUint64Array(1);
    const n = libc().read(fd, new Uint8Array(out.buffer), 8n);
    assert.equal(Number(n), 8, `read descriptor ${fd}`);
    assert.equal(out[0], BigInt(i + 1), `descriptor ${fd} is eventfd ${i}`);
  });
}

function closeFds(fds: readonly number[]): void {
  for (const fd of fds) libc().close(fd);
}

/** The descriptors in SCM_RIGHTS items, whole ints only (CPython's closeRecvmsgFDs). */
function rights(ancdata: [number, number, Uint8Array][]): number[] {
  const fds: number[] = [];
  for (const [level, type, data] of ancdata) {
    if (level !== SOL_SOCKET || type !== SCM_RIGHTS) continue;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let at = 0; at + 4 <= data.length; at += 4) {
      fds.push(view.getInt32(at, true));
    }
  }
  return fds;
}

function ints(values: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(values).buffer);
}

/** A pair of connected libc unix sockets of `type`, closed on dispose. */
async function unixPair(
  type: number,
): Promise<[Socket, Socket] & AsyncDisposable> {
  let pair: [Socket, Socket];
  if (type === SOCK_STREAM) {
    using l = socket(AF_UNIX, SOCK_STREAM, 0, { backend: "libc" });
    l.bind(abstractName());
    l.listen();
    const a = socket(AF_UNIX, SOCK_STREAM, 0, { backend: "libc" });
    const [[b]] = await withTimeout(
      Promise.all([l.accept(), a.connect(l.getsockname())]),
    );
    pair = [a, b];
  } else {
    pair = await socketpair(AF_UNIX, type);
  }
  for (const s of pair) s.settimeout(3);
  return Object.assign(pair, {
    [Symbol.asyncDispose]() {
      for (const s of pair) s.close();
      return Promise.resolve();
    },
  });
}

const KINDS = [["stream", SOCK_STREAM], ["seqpacket", SOCK_SEQPACKET]] as const;

// ------------------------------------------------------------------------
// CmsgMacroTests

const SOCKLEN_T_LIMIT = 0x7fffffff;

Deno.test({
  name: skipNote(
    "CMSG_LEN()/CMSG_SPACE(): CPython's values, limits and errors",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  async fn() {
    const lenTooBig = SOCKLEN_T_LIMIT - CMSG_LEN(0) + 1;
    const spaceTooBig = SOCKLEN_T_LIMIT - CMSG_SPACE(1) + 1;
    const range = (a: number, b: number) =>
      Array.from({ length: b - a }, (_, i) => a + i);
    const lens = [...range(0, 257), ...range(lenTooBig - 257, lenTooBig)];
    const spaces = [...range(0, 257), ...range(spaceTooBig - 257, spaceTooBig)];
    const expected = await py(
      `import json, socket, sys
lens, spaces = json.load(sys.stdin)
def err(f, n):
    try:
        return f(n)
    except OverflowError as e:
        return str(e)
bad = [-1, ${lenTooBig}, ${spaceTooBig}, 2**62, 2**63]
print(json.dumps([[socket.CMSG_LEN(n) for n in lens],
                  [socket.CMSG_SPACE(n) for n in spaces],
                  [err(socket.CMSG_LEN, n) for n in bad],
                  [err(socket.CMSG_SPACE, n) for n in bad]]))`,
      [lens, spaces],
    ) as unknown[];
    const err = (f: (n: number) => number, n: number) => {
      try {
        return f(n);
      } catch (e) {
        assert.ok(e instanceof OverflowError);
        return e.message;
      }
    };
    // 2 ** 62 stands for sys.maxsize: 2 ** 63 - 1 has no exact double.
    const bad = [-1, lenTooBig, spaceTooBig, 2 ** 62, 2 ** 63];
    assert.deepEqual([
      lens.map(CMSG_LEN),
      spaces.map(CMSG_SPACE),
      bad.map((n) => err(CMSG_LEN, n)),
      bad.map((n) => err(CMSG_SPACE, n)),
    ], expected);
    // CPython's own assumptions about them.
    let last = CMSG_SPACE(0);
    for (const n of spaces) {
      assert.ok(CMSG_SPACE(n) >= last && CMSG_SPACE(n) >= CMSG_LEN(n));
      last = CMSG_SPACE(n);
    }
    assert.throws(() => CMSG_LEN(1.5), TypeError);
  },
});

// ------------------------------------------------------------------------
// SendmsgTests and RecvmsgTests on UDP and TCP, both backends

for (const backend of BACKENDS) {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test(onBackend(backend, name), fn);

  test("sendmsg(): one buffer, a generator, a Uint16Array, gathered parts", async () => {
    await using p = await connectedPair(backend);
    const sent = [
      await p.client.sendmsg([MSG]),
      await p.client.sendmsg((function* () {
        yield MSG;
      })()),
      await p.client.sendmsg([new Uint16Array(MSG.buffer.slice(0, 22))]),
      await p.client.sendmsg([MSG.subarray(0, 3), MSG.subarray(3)], [], 0),
      await p.client.sendmsg([MSG], (function* () {})(), 0, null),
    ];
    assert.deepEqual(sent, Array(5).fill(MSG.length));
    p.server.settimeout(3);
    const got = new Uint8Array(5 * MSG.length);
    let n = 0;
    while (n < got.length) n += await p.server.recv_into(got.subarray(n));
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(got.subarray(i * 22, i * 22 + 22), MSG);
    }
  });

  test("sendmsg(): CPython's TypeErrors for bad buffers and ancillary items", async () => {
    await using p = await connectedPair(backend);
    const c = p.client as unknown as {
      sendmsg(...args: unknown[]): Promise<number>;
    };
    const cases: [unknown[], string][] = [
      [[], "sendmsg() takes at least 1 argument (0 given)"],
      [
        [bytes("not in an iterable")],
        "a bytes-like object is required, not 'int'",
      ],
      [[{}], "sendmsg() argument 1 must be an iterable"],
      [[[{}]], "a bytes-like object is required, not 'dict'"],
      [[[MSG, {}]], "a bytes-like object is required, not 'dict'"],
      [[[MSG], { x: 1 }], "sendmsg() argument 2 must be an iterable"],
      [
        [[MSG], [], { flags: 0 }],
        "'dict' object cannot be interpreted as an integer",
      ],
      [
        [[MSG], [{}]],
        "[sendmsg() ancillary data items]() argument must be 3-item sequence, not dict",
      ],
      [
        [[MSG], [[{}, 0, bytes("data")]]],
        "'dict' object cannot be interpreted as an integer",
      ],
      [
        [[MSG], [[0, {}, bytes("data")]]],
        "'dict' object cannot be interpreted as an integer",
      ],
      [[[MSG], [[0, 0, {}]]], "a bytes-like object is required, not 'dict'"],
      [
        [[MSG], [[0, 0]]],
        "[sendmsg() ancillary data items]() argument must be sequence of length 3, not 2",
      ],
      [
        [[MSG], [[0, 0, bytes("data"), 42]]],
        "[sendmsg() ancillary data items]() argument must be sequence of length 3, not 4",
      ],
      [
        [[MSG], [0, 0, new Uint8Array(0)]],
        "[sendmsg() ancillary data items]() argument must be 3-item sequence, not int",
      ],
      [
        [[MSG], [[0, 0, new Uint8Array(0)], {}]],
        "[sendmsg() ancillary data items]() argument must be 3-item sequence, not dict",
      ],
      [
        [[MSG], [null]],
        "[sendmsg() ancillary data items]() argument must be 3-item sequence, not None",
      ],
      // The flags come first, as CPython parses them with the arguments.
      [
        [[MSG], [[1, 1, 7]], "0"],
        "'str' object cannot be interpreted as an integer",
      ],
      [
        [[MSG, "s"], [], "0"],
        "'str' object cannot be interpreted as an integer",
      ],
    ];
    for (const [args, message] of cases) {
      await raises(() => c.sendmsg(...args), TypeError, { message });
    }
    // A str is a sequence to CPython's "(iiy*)": its length counts, then its
    // first character fails as an int.
    for (
      const [item, message] of [
        ["abc", "'str' object cannot be interpreted as an integer"],
        [
          "ab",
          "[sendmsg() ancillary data items]() argument must be sequence of length 3, not 2",
        ],
        [
          "abcd",
          "[sendmsg() ancillary data items]() argument must be sequence of length 3, not 4",
        ],
      ]
    ) {
      await raises(() => c.sendmsg([MSG], [item]), TypeError, { message });
    }
    await raises(() => c.sendmsg([MSG], [], 0, { host: "" }), TypeError);
    await raises(
      () => c.sendmsg([MSG], [[2 ** 31, 0, MSG]]),
      OverflowError,
      { message: "signed integer is greater than maximum" },
    );
  });

  test("recvmsg()/recvmsg_into() with no room and MSG_WAITALL on a non-blocking stream raise BlockingIOError 11, as python3's (nothing to fill: it waits as without the flag)", async () => {
    await using p = await connectedPair(backend);
    p.server.setblocking(false);
    for (const flags of [MSG_WAITALL, MSG_WAITALL | MSG_DONTWAIT]) {
      await raises(() => p.server.recvmsg(0, 0, flags), BlockingIOError, {
        errno: 11,
      });
      await raises(
        () => p.server.recvmsg_into([new Uint8Array(0)], 0, flags),
        BlockingIOError,
        { errno: 11 },
      );
      await raises(() => p.server.recvmsg_into([], 0, flags), BlockingIOError, {
        errno: 11,
      });
    }
    // With a timeout it waits, as python3's: TimeoutError.
    p.server.settimeout(0.05);
    await raises(() => p.server.recvmsg(0, 0, MSG_WAITALL), TimeoutError);
  });

  test("recvmsg()/recvmsg_into(): msg_flags echoes MSG_CMSG_CLOEXEC as Linux's (and python3's) do, on TCP and UDP", async () => {
    await using p = await connectedPair(backend);
    await p.client.sendall(bytes("abcd"));
    p.server.settimeout(3);
    const [data, , flags] = await p.server.recvmsg(2, 0, MSG_CMSG_CLOEXEC);
    assert.deepEqual([text(data), flags], ["ab", MSG_CMSG_CLOEXEC]);
    const [n, , flags2] = await p.server.recvmsg_into(
      [new Uint8Array(1), new Uint8Array(1)],
      0,
      MSG_CMSG_CLOEXEC,
    );
    assert.deepEqual([n, flags2], [2, MSG_CMSG_CLOEXEC]);
    await using u = udpPair(backend);
    await u.a.sendto(bytes("xyz"), u.bAddr);
    u.b.settimeout(3);
    const [, , flags3] = await u.b.recvmsg(1, 0, MSG_CMSG_CLOEXEC);
    assert.equal(flags3, MSG_CMSG_CLOEXEC | MSG_TRUNC);
  });

  test("sendmsg(), recvmsg() and recvmsg_into() on a closed socket raise OSError 9", async () => {
    await using p = await connectedPair(backend);
    p.client.close();
    await raises(() => p.client.sendmsg([MSG]), OSError, { errno: 9 });
    await raises(() => p.client.recvmsg(10), OSError, { errno: 9 });
    await raises(() => p.client.recvmsg_into([new Uint8Array(4)]), OSError, {
      errno: 9,
    });
  });

  test("recvmsg_into() with no room ([], or empty buffers) waits for data as python3's does (TimeoutError), then returns (0, [], 0, None) and leaves the bytes", async () => {
    const shapes = () => [[], [new Uint8Array(0), new Uint8Array(0)], [
      new Uint8Array(0),
    ]];
    for (const buffers of shapes()) {
      // Blocking, on a socket that has read nothing yet.
      await using q = await connectedPair(backend);
      const waiting = q.server.recvmsg_into(buffers);
      let settled = false;
      waiting.finally(() => settled = true);
      await sleep(30);
      assert.equal(settled, false, `${buffers.length} buffers`);
      await q.client.sendall(MSG);
      assert.deepEqual(await withTimeout(waiting, 1000), [0, [], 0, null]);
      assert.deepEqual(await recvExactly(q.server, MSG.length), MSG);
    }
    await using p = await connectedPair(backend);
    p.server.settimeout(0.05);
    for (const buffers of shapes()) {
      await raises(() => p.server.recvmsg_into(buffers), TimeoutError);
    }
    await p.client.sendall(MSG);
    await sleep(30);
    for (const buffers of shapes()) {
      assert.deepEqual(await p.server.recvmsg_into(buffers), [0, [], 0, null]);
    }
    assert.deepEqual(await recvExactly(p.server, MSG.length), MSG);
  });

  test("sendmsg(): a full send buffer times out (TimeoutError) or, with MSG_DONTWAIT, raises BlockingIOError 11", async () => {
    await using p = await connectedPair(backend);
    const chunk = new Uint8Array(1 << 16);
    await raises(
      async () => {
        for (let i = 0; i < 10_000; i++) {
          await p.client.sendmsg([chunk], [], MSG_DONTWAIT);
        }
      },
      OSError,
      { errno: 11 },
      10_000,
    );
    p.client.settimeout(0.03);
    await raises(
      async () => {
        for (let i = 0; i < 10_000; i++) await p.client.sendmsg([chunk]);
      },
      TimeoutError,
      {},
      10_000,
    );
  });

  test("recvmsg(): a stream's data, partly and whole, no ancillary data, no address, EOF", async () => {
    await using p = await connectedPair(backend);
    p.server.settimeout(3);
    await p.client.sendall(MSG);
    const [seg1, anc1, flags1, addr1] = await p.server.recvmsg(
      MSG.length - 3,
      0,
      0,
    );
    assert.deepEqual([anc1, flags1, addr1], [[], 0, null]);
    const [seg2, anc2, flags2] = await p.server.recvmsg(1024);
    assert.deepEqual([anc2, flags2], [[], 0]);
    assert.equal(text(seg1) + text(seg2), text(MSG));
    p.client.close();
    const [eof] = await p.server.recvmsg(1024);
    assert.equal(eof.length, 0);
  });

  test("recvmsg(): MSG_PEEK leaves the data for the next call", async () => {
    await using p = await connectedPair(backend);
    p.server.settimeout(3);
    await p.client.sendall(MSG);
    await withTimeout(
      (async () => {
        while ((await p.server.recv(100, MSG_PEEK)).length < MSG.length);
      })(),
    );
    assert.deepEqual(
      (await p.server.recvmsg(MSG.length - 3, 0, MSG_PEEK))[0],
      MSG.subarray(0, 19),
    );
    assert.deepEqual((await p.server.recvmsg(MSG.length, 0, MSG_PEEK))[0], MSG);
    assert.deepEqual((await p.server.recvmsg(MSG.length))[0], MSG);
  });

  test("recvmsg(): a timeout raises TimeoutError and loses nothing", async () => {
    await using p = await connectedPair(backend);
    p.server.settimeout(0.03);
    await raises(() => p.server.recvmsg(MSG.length), TimeoutError);
    await p.client.sendall(MSG);
    p.server.settimeout(3);
    assert.deepEqual((await p.server.recvmsg(MSG.length))[0], MSG);
  });

  test("recvmsg()/recvmsg_into(): CPython's errors for bad arguments", async () => {
    await using p = await connectedPair(backend);
    const s = p.server as unknown as {
      recvmsg(...args: unknown[]): Promise<unknown>;
      recvmsg_into(...args: unknown[]): Promise<unknown>;
    };
    await raises(() => s.recvmsg(-1, 0, 0), ValueError, {
      message: "negative buffer size in recvmsg()",
    });
    await raises(() => s.recvmsg(22, -1, 0), ValueError, {
      message: "invalid ancillary data buffer length",
    });
    await raises(() => s.recvmsg(22, 2 ** 31, 0), ValueError);
    await raises(() => s.recvmsg(22, 2 ** 63), OverflowError, {
      message: "Python int too large to convert to C ssize_t",
    });
    await raises(() => s.recvmsg([new Uint8Array(10)], 0, 0), TypeError);
    await raises(() => s.recvmsg({}, 0, 0), TypeError);
    await raises(() => s.recvmsg(22, {}, 0), TypeError);
    await raises(() => s.recvmsg(22, 0, { flags: 0 }), TypeError);
    const buf = new Uint8Array(22);
    await raises(() => s.recvmsg_into(22, 0, 0), TypeError, {
      message: "recvmsg_into() argument 1 must be an iterable",
    });
    await raises(() => s.recvmsg_into([{}], 0, 0), TypeError, {
      message:
        "recvmsg_into() argument 1 must be an iterable of single-segment read-write buffers",
    });
    await raises(() => s.recvmsg_into([buf, {}], 0, 0), TypeError);
    await raises(() => s.recvmsg_into([buf], -1, 0), ValueError);
    await raises(() => s.recvmsg_into([buf], {}, 0), TypeError);
    await raises(() => s.recvmsg_into([buf], 0, { flags: 0 }), TypeError);
    // CPython parses every argument before it checks a value: a bad type
    // anywhere wins over a bad number (python3 3.11; the ancillary fuzz).
    const cases: [string, unknown[], string, string][] = [
      [
        "recvmsg",
        [5, "x"],
        "TypeError",
        "'str' object cannot be interpreted as an integer",
      ],
      [
        "recvmsg",
        [-1, "s"],
        "TypeError",
        "'str' object cannot be interpreted as an integer",
      ],
      [
        "recvmsg",
        [-1, 0, "f"],
        "TypeError",
        "'str' object cannot be interpreted as an integer",
      ],
      ["recvmsg", [-1, -1], "ValueError", "negative buffer size in recvmsg()"],
      [
        "recvmsg_into",
        [5, "x"],
        "TypeError",
        "'str' object cannot be interpreted as an integer",
      ],
      [
        "recvmsg_into",
        [[buf], -1, "f"],
        "TypeError",
        "'str' object cannot be interpreted as an integer",
      ],
      [
        "recvmsg_into",
        [5, -1],
        "TypeError",
        "recvmsg_into() argument 1 must be an iterable",
      ],
      [
        "recvmsg_into",
        [-1, 2 ** 40],
        "TypeError",
        "recvmsg_into() argument 1 must be an iterable",
      ],
    ];
    for (const [method, args, name, message] of cases) {
      const Class = name === "TypeError" ? TypeError : ValueError;
      await raises(() => s[method as "recvmsg"](...args), Class, { message });
    }
  });

  test("recvmsg_into(): scatters into several buffers, views and typed arrays", async () => {
    await using p = await connectedPair(backend);
    p.server.settimeout(3);
    await p.client.sendall(MSG);
    const b1 = bytes("----");
    const b2 = bytes("0123456789");
    const b3 = bytes("--------------");
    await withTimeout(
      (async () => {
        while ((await p.server.recv(100, MSG_PEEK)).length < MSG.length);
      })(),
    );
    const [n, anc, flags, addr] = await p.server.recvmsg_into(
      (function* () {
        yield b1;
        yield b2.subarray(2, 9);
        yield new Uint16Array(b3.buffer);
      })(),
    );
    assert.deepEqual([n, anc, flags, addr], [22, [], 0, null]);
    assert.equal(text(b1), "Mary");
    assert.equal(text(b2), "01 had a 9");
    assert.equal(text(b3), "little lamb---");
  });

  test("recvmsg()/recvmsg_into() on UDP: the sender's address, and MSG_TRUNC as the kernel reports it", async () => {
    using p = udpPair(backend);
    p.a.settimeout(3);
    assert.equal(
      await p.b.sendmsg([MSG.subarray(0, 5), MSG.subarray(5)], [], 0, p.aAddr),
      22,
    );
    const [data, anc, flags, from] = await p.a.recvmsg(100);
    assert.deepEqual([data, anc, flags, from], [MSG, [], 0, p.bAddr]);
    await p.b.sendto(MSG, p.aAddr);
    const [cut, , cutFlags] = await p.a.recvmsg(4);
    assert.deepEqual([text(cut), cutFlags], ["Mary", MSG_TRUNC]);
    await p.b.sendto(MSG, p.aAddr);
    const bufs = [new Uint8Array(2), new Uint8Array(2)];
    assert.deepEqual(
      (await p.a.recvmsg_into(bufs, 0, MSG_TRUNC)).slice(0, 3),
      [22, [], MSG_TRUNC],
    );
    assert.deepEqual(bufs.map(text), ["Ma", "ry"]);
    await p.b.sendto(MSG, p.aAddr);
    assert.deepEqual(
      (await p.a.recvmsg_into([new Uint8Array(30), new Uint8Array(2)])).slice(
        0,
        3,
      ),
      [22, [], 0],
    );
  });
}

Deno.test({
  name: skipNote(
    'socketpair(AF_UNIX, SOCK_STREAM, 0, { backend: "libc" }) is a pair with descriptors, and send_fds passes one end to the other side',
    libcMissing,
  ),
  ignore: libcMissing !== null,
  async fn() {
    const [a, b] = await socketpair(AF_UNIX, SOCK_STREAM, 0, {
      backend: "libc",
    });
    using _a = a, _b = b;
    assert.ok(a.fileno() >= 0 && a.fileno() < 2 ** 30, `${a.fileno()}`);
    const [x, y] = await socketpair(AF_UNIX, SOCK_DGRAM);
    using _x = x, _y = y;
    await send_fds(x, [MSG], [b.fileno()]);
    const [msg, [fd]] = await recv_fds(y, 100, 1);
    assert.deepEqual(msg, MSG);
    using other = socket(undefined, undefined, undefined, fd);
    await a.sendall(bytes("through"));
    assert.equal(text(await withTimeout(other.recv(10))), "through");
    // null options, as socket() takes a null fileno: the default backend.
    const [c, d] = await socketpair(AF_UNIX, SOCK_STREAM, 0, null);
    using _c = c, _d = d;
    assert.ok(c.fileno() >= 2 ** 30, `${c.fileno()}`);
  },
});

Deno.test({
  name: skipNote(
    "a Deno-backend socket's fileno() where a descriptor is wanted (fromfd, dup, socket(fileno=), send_fds, sendmsg's SCM_RIGHTS, close) is OSError 9 naming the libc backend",
    libcMissing,
  ),
  ignore: libcMissing !== null,
  async fn() {
    await using p = await connectedPair("deno", AF_UNIX);
    const fd = p.client.fileno();
    const [x, y] = await socketpair(AF_UNIX, SOCK_DGRAM);
    using _x = x, _y = y;
    const calls: [string, () => unknown][] = [
      ["fromfd()", () => fromfd(fd, AF_UNIX, SOCK_STREAM)],
      ["dup()", () => dup(fd)],
      ["socket(fileno=...)", () => socket(undefined, undefined, undefined, fd)],
      ["send_fds()", () => send_fds(x, [MSG], [fd])],
      // Python's docs pass descriptors with sendmsg() itself.
      [
        "sendmsg()",
        () => x.sendmsg([MSG], [[SOL_SOCKET, SCM_RIGHTS, ints([0, fd])]]),
      ],
      ["close()", () => close(fd)],
    ];
    for (const [what, call] of calls) {
      await raises(call, OSError, {
        errno: 9,
        message: new RegExp(
          `${
            what.replace(/[().]/g, "\\$&")
          }: ${fd} is the fileno\\(\\) of a Deno-backend socket.*backend: "libc"`,
        ),
      });
    }
    // Nothing was sent, and the pair still works.
    await p.server.sendall(bytes("ok"));
    assert.equal(text(await withTimeout(p.client.recv(10))), "ok");
  },
});

Deno.test("sendmsg()/recvmsg() with ancillary data on the Deno backend raise OSError 95 naming libc", async () => {
  await using p = await connectedPair("deno", AF_UNIX);
  const hint = /backend: "libc"/;
  await raises(
    () => p.client.sendmsg([MSG], [[SOL_SOCKET, SCM_RIGHTS, ints([0])]]),
    OSError,
    { errno: 95, message: hint },
  );
  await raises(() => send_fds(p.client, [MSG], [0]), OSError, {
    errno: 95,
    message: hint,
  });
  await raises(() => p.server.recvmsg(10, CMSG_SPACE(4)), OSError, {
    errno: 95,
    message: hint,
  });
  await raises(() => recv_fds(p.server, 10, 1), OSError, {
    errno: 95,
    message: hint,
  });
  // Without ancillary data they work.
  await p.client.sendmsg([MSG]);
  p.server.settimeout(3);
  assert.deepEqual((await p.server.recvmsg(100))[0], MSG);
});

// ------------------------------------------------------------------------
// SCMRightsTest, on unix stream and seqpacket sockets (libc)

/** Send `n` new eventfds with MSG; returns them (closed on dispose). */
async function sendFds(s: Socket, n: number) {
  const fds = newFds(n);
  assert.equal(
    await s.sendmsg([MSG], [[
      SOL_SOCKET,
      SCM_RIGHTS,
      ints(fds.map((e) => e.fd)),
    ]]),
    MSG.length,
  );
  return fds;
}

/** CPython's checkRecvmsgFDs: MSG, `numfds` good descriptors in at most `maxcmsgs` messages. */
function checkRecvmsgFds(
  numfds: number,
  [msg, ancdata, flags]: [
    Uint8Array,
    [number, number, Uint8Array][],
    number,
    unknown,
  ],
  maxcmsgs = 1,
  ignoreflags = 0,
): void {
  try {
    assert.deepEqual(msg, MSG);
    assert.equal(flags & ~ignoreflags & MSG_CTRUNC, 0);
    assert.ok(ancdata.length <= maxcmsgs);
    for (const [level, type, data] of ancdata) {
      assert.deepEqual([level, type], [SOL_SOCKET, SCM_RIGHTS]);
      assert.equal(data.length % SIZEOF_INT, 0);
    }
    assert.equal(rights(ancdata).length, numfds);
    checkFds(rights(ancdata));
  } finally {
    closeFds(rights(ancdata));
  }
}

for (const [kind, type] of KINDS) {
  const test = (name: string, fn: () => Promise<void>) => {
    const full = `SCM_RIGHTS (${kind}): ${name}`;
    WORKLOADS.set(full, fn);
    Deno.test(libcCase(full), fn);
  };

  test("one descriptor, several, CMSG_SPACE- and CMSG_LEN-sized buffers", async () => {
    await using pair = await unixPair(type);
    const [a, b] = pair;
    for (
      const [n, ancbufsize, expect, ignore] of [
        [1, 10240, 1, 0],
        [4, 10240, 4, 0],
        [4, CMSG_SPACE(4 * SIZEOF_INT), 4, 0],
        // RFC 3542 lets the kernel set MSG_CTRUNC without room for padding.
        [1, CMSG_LEN(4 * SIZEOF_INT), 1, MSG_CTRUNC],
      ]
    ) {
      using _fds = await sendFds(a, n);
      checkRecvmsgFds(
        expect,
        await b.recvmsg(MSG.length, ancbufsize),
        1,
        ignore,
      );
    }
  });

  test("two arrays in two control messages (the kernel may merge them), also in their minimum space", async () => {
    await using pair = await unixPair(type);
    const [a, b] = pair;
    for (
      const ancbufsize of [
        10240,
        CMSG_SPACE(SIZEOF_INT) + CMSG_LEN(2 * SIZEOF_INT),
      ]
    ) {
      using fds = newFds(2);
      await a.sendmsg([MSG], [
        [SOL_SOCKET, SCM_RIGHTS, ints([fds[0].fd])],
        [SOL_SOCKET, SCM_RIGHTS, ints([fds[1].fd])],
      ]);
      checkRecvmsgFds(
        2,
        await b.recvmsg(MSG.length, ancbufsize),
        2,
        MSG_CTRUNC,
      );
    }
  });

  test("an empty array, a partial int, a partial int in the middle", async () => {
    await using pair = await unixPair(type);
    const [a, b] = pair;
    const badfd = -0x5555;
    const sendIfPossible = async (anc: [number, number, Uint8Array][]) => {
      try {
        assert.equal(await a.sendmsg([MSG], anc), MSG.length);
      } catch (e) {
        assert.ok(e instanceof OSError && typeof e.errno === "number");
        assert.equal(await a.sendmsg([MSG]), MSG.length);
      }
    };
    await sendIfPossible([[SOL_SOCKET, SCM_RIGHTS, new Uint8Array(0)]]);
    checkRecvmsgFds(0, await b.recvmsg(MSG.length, 10240), 1, MSG_CTRUNC);

    await sendIfPossible([[
      SOL_SOCKET,
      SCM_RIGHTS,
      ints([badfd]).subarray(0, 3),
    ]]);
    let [msg, ancdata, flags] = await b.recvmsg(MSG.length, 10240);
    closeFds(rights(ancdata));
    assert.deepEqual(msg, MSG);
    assert.ok(ancdata.length <= 1);
    for (const [, , data] of ancdata) assert.ok(data.length < SIZEOF_INT);
    void flags;

    using fds = newFds(2);
    await sendIfPossible([
      [SOL_SOCKET, SCM_RIGHTS, ints([fds[0].fd, badfd]).subarray(0, 7)],
      [SOL_SOCKET, SCM_RIGHTS, ints([fds[1].fd])],
    ]);
    [msg, ancdata, flags] = await b.recvmsg(MSG.length, 10240);
    try {
      assert.deepEqual(msg, MSG);
      assert.ok(rights(ancdata).length <= 2);
      checkFds(rights(ancdata));
    } finally {
      closeFds(rights(ancdata));
    }
  });

  test("a control buffer too small for a header gives no items and MSG_CTRUNC", async () => {
    await using pair = await unixPair(type);
    const [a, b] = pair;
    for (
      const [ancbufsize, ignore] of [
        [undefined, MSG_CTRUNC],
        [0, MSG_CTRUNC],
        [1, 0],
        [2 * SIZEOF_INT, 0],
        [CMSG_LEN(0) - 1, 0],
      ] as const
    ) {
      using _fds = await sendFds(a, 1);
      const [msg, ancdata, flags] = ancbufsize === undefined
        ? await b.recvmsg(MSG.length)
        : await b.recvmsg(MSG.length, ancbufsize);
      assert.deepEqual([msg, ancdata], [MSG, []]);
      if (!ignore) assert.equal(flags & MSG_CTRUNC, MSG_CTRUNC);
    }
  });

  test("an array cut short by the buffer keeps only whole descriptors, with MSG_CTRUNC", async () => {
    await using pair = await unixPair(type);
    const [a, b] = pair;
    for (
      const [ancbuf, maxdata, n] of [
        [CMSG_LEN(0), 0, 1],
        [CMSG_LEN(0) + 1, 1, 2],
        [CMSG_LEN(SIZEOF_INT), SIZEOF_INT, 2],
        [CMSG_LEN(2 * SIZEOF_INT) - 1, 2 * SIZEOF_INT - 1, 2],
      ]
    ) {
      using _fds = await sendFds(a, n);
      const [msg, ancdata, flags] = await b.recvmsg(MSG.length, ancbuf);
      try {
        assert.deepEqual(msg, MSG);
        assert.equal(flags & MSG_CTRUNC, MSG_CTRUNC);
        assert.ok(ancdata.length <= 1);
        for (const [level, t, data] of ancdata) {
          assert.deepEqual([level, t], [SOL_SOCKET, SCM_RIGHTS]);
          assert.ok(data.length <= maxdata);
        }
        checkFds(rights(ancdata));
      } finally {
        closeFds(rights(ancdata));
      }
    }
  });

  test("recv_fds(): descriptors past maxfds are closed by the kernel (MSG_CTRUNC), the rest open and close-on-exec", async () => {
    await using pair = await unixPair(type);
    const [a, b] = pair;
    using fds = newFds(3);
    await send_fds(a, [MSG], fds.map((e) => e.fd));
    const [msg, got, flags, address] = await recv_fds(b, 100, 2);
    try {
      assert.deepEqual([msg, got.length, flags & MSG_CTRUNC], [
        MSG,
        2,
        MSG_CTRUNC,
      ]);
      assert.equal(address, null);
      checkFds(got);
      for (const fd of got) {
        assert.equal(libc().fcntl(fd, LINUX.F_GETFD, 0) & LINUX.FD_CLOEXEC, 1);
      }
    } finally {
      closeFds(got);
    }
    await send_fds(a, [MSG], fds.map((e) => e.fd));
    const [, none, noneFlags] = await recv_fds(b, 100, 0);
    assert.deepEqual([none, noneFlags & MSG_CTRUNC], [[], MSG_CTRUNC]);
    await raises(() => recv_fds(b, 100, -1), OverflowError, {
      message: "CMSG_LEN() argument out of range",
    });
  });

  if (type === SOCK_STREAM) {
    test("recvmsg_into(MSG_WAITALL) whose buffer is detached while it waits for the rest raises BufferError", async () => {
      await using pair = await unixPair(type);
      const [a, b] = pair;
      // Only a blocking call waits for the rest (with a timeout it returns
      // the first part, as CPython's).
      b.settimeout(null);
      // A first part with no descriptors (one with them ends the call).
      await a.sendall(MSG);
      const buf = new Uint8Array(MSG.length + 100);
      const call = b.recvmsg_into(
        [buf],
        CMSG_SPACE(3 * SIZEOF_INT),
        MSG_WAITALL,
      );
      await new Promise((r) => setTimeout(r, 20));
      buf.buffer.transfer();
      await a.sendall(new Uint8Array(200));
      await assert.rejects(withTimeout(call), BufferError);
    });

    test("recvmsg(MSG_WAITALL) rejects with EBADF when its socket closes while it waits for the rest", async () => {
      await using pair = await unixPair(type);
      const [a, b] = pair;
      b.settimeout(null);
      await a.sendall(MSG);
      const call = b.recvmsg(
        MSG.length + 100,
        CMSG_SPACE(3 * SIZEOF_INT),
        MSG_WAITALL,
      );
      // The first part is there at once; the call then waits for the rest.
      await new Promise((r) => setTimeout(r, 20));
      b.close();
      await assert.rejects(
        call,
        (e: unknown) => e instanceof OSError && e.errno === 9,
      );
    });
  }
}

Deno.test(
  libcCase(
    "recvmsg(): MSG_CMSG_CLOEXEC shows in msg_flags only when the caller passed it",
  ),
  async () => {
    await using pair = await unixPair(SOCK_SEQPACKET);
    const [a, b] = pair;
    await a.sendmsg([MSG]);
    assert.equal((await b.recvmsg(100, 0))[2], 0);
    await a.sendmsg([MSG]);
    assert.equal(
      (await b.recvmsg(100, 0, MSG_CMSG_CLOEXEC))[2],
      MSG_CMSG_CLOEXEC,
    );
  },
);

Deno.test(
  libcCase(
    "SCM_CREDENTIALS: SO_PASSCRED gives the sender's struct ucred; one can be sent explicitly",
  ),
  async () => {
    const [a, b] = await socketpair(AF_UNIX, SOCK_DGRAM);
    using _a = a, _b = b;
    b.settimeout(3);
    b.setsockopt(SOL_SOCKET, SO_PASSCRED, 1);
    const ucred = new Uint8Array(
      new Int32Array([Deno.pid, Deno.uid()!, Deno.gid()!]).buffer,
    );
    await a.sendmsg([MSG]);
    assert.deepEqual(
      await b.recvmsg(100, CMSG_SPACE(12)),
      [MSG, [[SOL_SOCKET, SCM_CREDENTIALS, ucred]], 0, null],
    );
    await a.sendmsg([MSG], [[SOL_SOCKET, SCM_CREDENTIALS, ucred]]);
    assert.deepEqual((await b.recvmsg(100, CMSG_SPACE(12)))[1], [
      [SOL_SOCKET, SCM_CREDENTIALS, ucred],
    ]);
    // A ucred cut by the buffer, as the kernel cuts it.
    await a.sendmsg([MSG]);
    const [, cut, flags] = await b.recvmsg(100, CMSG_LEN(8));
    assert.deepEqual([cut[0][2].length, flags], [8, MSG_CTRUNC]);
  },
);

// ------------------------------------------------------------------------
// With a CPython peer

const PY_PEER = `
import array, os, socket, sys
name = b"\\0" + sys.argv[1].encode()
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(name)
if sys.argv[2] == "receive":
    # Take a listening socket from Deno, serve one client on it.
    msg, fds, flags, addr = socket.recv_fds(c, 100, 1)
    print(msg.decode(), len(fds), os.get_inheritable(fds[0]),
          os.get_blocking(fds[0]), flush=True)
    with socket.socket(fileno=fds[0]) as l:
        # Blocking, as a socket without a timeout is in CPython: plain
        # blocking code works on it.
        conn, _ = l.accept()
        conn.sendall(b"python got: " + conn.recv(100))
        conn.close()
else:
    # Hand Deno a listening socket and a SO_PASSCRED ucred, then be its client.
    l = socket.create_server(("127.0.0.1", 0))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    socket.send_fds(c, [b"take it"], [l.fileno()])
    l.close()
    print(os.getpid(), flush=True)
    port = int(c.recv(100))
    with socket.create_connection(("127.0.0.1", port), timeout=3) as k:
        k.sendall(b"hello from python")
        print(k.recv(100).decode(), flush=True)
`;

const peerSkip = libcMissing ?? (hasPython ? null : "no python3");

/** Whether open descriptor `fd` of this process has O_NONBLOCK (octal 04000). */
function nonBlocking(fd: number): boolean {
  const info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
  return (parseInt(/flags:\s+([0-7]+)/.exec(info)![1], 8) & 0o4000) !== 0;
}

Deno.test({
  name: skipNote(
    "libc: a socket's descriptor is blocking while it has no timeout and O_NONBLOCK with one, as CPython keeps it (another process may share it); adopting one leaves its flag alone",
    libcMissing,
  ),
  ignore: libcMissing !== null,
  async fn() {
    using s = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
    assert.equal(nonBlocking(s.fileno()), false);
    s.settimeout(2);
    assert.equal(nonBlocking(s.fileno()), true);
    s.setblocking(true);
    assert.equal(nonBlocking(s.fileno()), false);
    s.setblocking(false);
    assert.equal(nonBlocking(s.fileno()), true);
    s.settimeout(null);
    assert.equal(nonBlocking(s.fileno()), false);
    // dup() gives the copy the timeout, and so the flag (Python's dup()
    // calls settimeout()); the flag is the shared open file's.
    s.settimeout(1);
    using d = s.dup();
    assert.equal(d.gettimeout(), 1);
    s.settimeout(null);
    assert.equal(nonBlocking(d.fileno()), false);
    d.settimeout(3);
    assert.equal(nonBlocking(s.fileno()), true);
    s.settimeout(null);
    // Adopted: left as it is, blocking or not, when there is no timeout.
    const [a, b] = await socketpair(AF_UNIX, SOCK_STREAM, 0, {
      backend: "libc",
    });
    using _a = a, _b = b;
    using adopted = socket(AF_UNIX, SOCK_STREAM, 0, dup(a.fileno()));
    assert.equal(adopted.gettimeout(), null);
    assert.equal(nonBlocking(a.fileno()), false);
    a.setblocking(false);
    using again = socket(AF_UNIX, SOCK_STREAM, 0, dup(a.fileno()));
    assert.equal(nonBlocking(again.fileno()), true);
    // No timeout, yet the flag is set: as CPython's, the call makes its
    // syscall once and raises (python3: BlockingIOError 11), losing nothing;
    // settimeout(null) clears the shared flag, and the call waits.
    await raises(() => again.recv(10), BlockingIOError, { errno: 11 });
    again.settimeout(null);
    assert.equal(nonBlocking(a.fileno()), false);
    const late = setTimeout(() => void b.sendall(bytes("late")), 30);
    try {
      assert.equal(text(await withTimeout(again.recv(10))), "late");
    } finally {
      clearTimeout(late);
    }
    // A blocking socket's calls never block the thread: a timer runs while
    // accept() and recv() wait, and while an accept() waits on a listener
    // with a timeout whose dup() made the shared descriptor blocking. In a
    // child, killed after 20 s: a call that blocked the thread would hang.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", NEVER_BLOCKS(import.meta.resolve("../mod.ts"))],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    assert.equal(
      new TextDecoder().decode(out.stdout),
      "accept ok\naccepted blocking\nrecv ok\ndup ok\n",
      new TextDecoder().decode(out.stderr),
    );
  },
});

// The child of the test above: prints a line for each call that waited
// while a 5 ms timer kept ticking.
const NEVER_BLOCKS = (mod: string) => `
import { AF_INET, SOCK_STREAM, socket } from ${JSON.stringify(mod)};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let ticks = 0;
const tick = setInterval(() => ticks++, 5);
const l = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
l.bind(["127.0.0.1", 0]);
l.listen();
const accepting = l.accept();
await sleep(60);
if (ticks >= 3) console.log("accept ok");
const c = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
await c.connect(l.getsockname());
const [conn] = await accepting;
const flags = Deno.readTextFileSync("/proc/self/fdinfo/" + conn.fileno());
if ((parseInt(/flags:\\s+([0-7]+)/.exec(flags)[1], 8) & 0o4000) === 0) {
  console.log("accepted blocking");
}
const receiving = conn.recv(10);
let before = ticks;
await sleep(60);
if (ticks - before >= 3) console.log("recv ok");
await c.sendall(new Uint8Array([120]));
await receiving;
l.settimeout(5);
const d = l.dup();
d.settimeout(null);
const again = l.accept();
before = ticks;
await sleep(60);
if (ticks - before >= 3) console.log("dup ok");
const c2 = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
await c2.connect(l.getsockname());
const [conn2] = await again;
for (const s of [l, d, c, conn, c2, conn2]) s.close();
clearInterval(tick);
`;

/** A libc unix listener on a fresh abstract name, and the name for python. */
function channel(): { sock: Socket; name: string } & Disposable {
  const name = text(abstractName()).slice(1);
  const sock = socket(AF_UNIX, SOCK_STREAM, 0, { backend: "libc" });
  sock.bind(bytes(`\0${name}`));
  sock.listen();
  // python3 connects once started: seconds on a busy machine.
  sock.settimeout(PY_START_MS / 1000);
  return { sock, name, [Symbol.dispose]: () => sock.close() };
}

Deno.test({
  name: skipNote(
    "send_fds(): CPython receives a listening socket with recv_fds() and serves on it",
    peerSkip,
  ),
  ignore: peerSkip !== null,
  async fn() {
    using ch = channel();
    await using peer = python(PY_PEER, ch.name, "receive");
    const [conn] = await ch.sock.accept();
    using _conn = conn;
    const server = socket(AF_INET, SOCK_STREAM, 0, { backend: "libc" });
    server.bind(["127.0.0.1", 0]);
    server.listen();
    const address = server.getsockname();
    try {
      assert.equal(
        await send_fds(conn, [bytes("listener")], [server.fileno()]),
        8,
      );
      // CPython's recv_fds() does not ask for MSG_CMSG_CLOEXEC: inheritable.
      // A socket without a timeout has a blocking descriptor, as CPython's.
      assert.equal(await peer.line(), "listener 1 True True");
    } finally {
      server.close(); // python holds the listening socket now
    }
    using client = socket(AF_INET, SOCK_STREAM);
    client.settimeout(5);
    await client.connect(address);
    await client.sendall(bytes("hi"));
    assert.equal(text(await client.recv(100)), "python got: hi");
    assert.equal((await peer.finish()).code, 0);
  },
});

Deno.test({
  name: skipNote(
    "recv_fds(): a listening socket and SCM_CREDENTIALS from CPython's send_fds(), then served on here",
    peerSkip,
  ),
  ignore: peerSkip !== null,
  async fn() {
    using ch = channel();
    await using peer = python(PY_PEER, ch.name, "send");
    const [conn] = await ch.sock.accept();
    using _conn = conn;
    conn.settimeout(5);
    conn.setsockopt(SOL_SOCKET, SO_PASSCRED, 1);
    const [data, ancdata, flags] = await conn.recvmsg(
      100,
      CMSG_SPACE(12) + CMSG_SPACE(4),
    );
    const pid = Number(await peer.line());
    assert.deepEqual([text(data), flags], ["take it", 0]);
    const fds = rights(ancdata);
    assert.equal(fds.length, 1);
    // The passed listener: family, type and protocol read from it.
    using listener = socket(undefined, undefined, undefined, fds[0]);
    assert.equal(listener.get_inheritable(), false);
    const creds = ancdata.find(([, t]) => t === SCM_CREDENTIALS);
    if (creds) {
      assert.equal(new DataView(creds[2].buffer).getInt32(0, true), pid);
    }
    const [, port] = listener.getsockname() as [string, number];
    await conn.sendall(bytes(String(port)));
    listener.settimeout(5);
    const [client] = await listener.accept();
    using _client = client;
    client.settimeout(5);
    const request = text(await client.recv(100));
    await client.sendall(bytes(`deno got: ${request}`));
    assert.equal(await peer.line(), "deno got: hello from python");
    assert.equal((await peer.finish()).code, 0);
  },
});

// The kernel's truncation of two control messages (SCM_CREDENTIALS, then
// SCM_RIGHTS with three descriptors) at every buffer size from 0 to 100,
// as CPython's recvmsg() reports it: which items, how long, which flags.
const PY_TRUNCATION = `
import array, json, os, socket
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
b.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
r, w = os.pipe()
out = []
for size in range(101):
    socket.send_fds(a, [b"x"], [r, w, r])
    msg, anc, flags, addr = b.recvmsg(10, size)
    out.append([flags, [[l, t, len(d)] for l, t, d in anc]])
    for l, t, d in anc:
        if t == socket.SCM_RIGHTS:
            for fd in array.array("i", d[:len(d) - len(d) % 4]):
                os.close(fd)
print(json.dumps(out))
`;

Deno.test({
  name: skipNote(
    "recvmsg(): control messages cut at every buffer size from 0 to 100 read as CPython reads them",
    peerSkip,
  ),
  ignore: peerSkip !== null,
  async fn() {
    const expected = await py(PY_TRUNCATION, null);
    await using pair = await unixPair(SOCK_SEQPACKET);
    const [a, b] = pair;
    b.setsockopt(SOL_SOCKET, SO_PASSCRED, 1);
    using fds = newFds(2);
    const out: unknown[] = [];
    for (let size = 0; size <= 100; size++) {
      await send_fds(a, [bytes("x")], [fds[0].fd, fds[1].fd, fds[0].fd]);
      const [, ancdata, flags] = await b.recvmsg(10, size);
      out.push([flags, ancdata.map(([l, t, d]) => [l, t, d.length])]);
      closeFds(rights(ancdata));
    }
    assert.deepEqual(out, expected);
  },
});

// ------------------------------------------------------------------------
// Fuzz and leaks

/** A small seeded generator, so a failure can be replayed. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

Deno.test("decodeControl(): any bytes and any claimed length give items inside the buffer, never a throw", () => {
  const rand = rng(0xc0ffee);
  const deadline = Date.now() + 2000;
  for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
    const buf = new Uint8Array(rand(200));
    for (let j = 0; j < buf.length; j++) buf[j] = rand(256);
    // Plausible headers now and then: small cmsg_len values.
    if (buf.length >= 8 && rand(2)) {
      new DataView(buf.buffer).setBigUint64(0, BigInt(rand(64)), true);
    }
    const claimed =
      [rand(400), buf.length, 2 ** 32 + rand(9), -rand(5)][rand(4)];
    const items = decodeControl(buf, claimed);
    let total = 0;
    for (const [, , data] of items) {
      total += 16 + data.length;
      assert.ok(data.buffer !== buf.buffer, "data is a copy");
    }
    assert.ok(
      total <= Math.max(0, Math.min(claimed, buf.length)) + 8 * items.length,
    );
  }
  // What encodeControl() writes reads back.
  const items: [number, number, Uint8Array][] = [
    [1, 1, ints([3, 4, 5])],
    [0, 2, bytes("ttl")],
    [41, 50, new Uint8Array(0)],
  ];
  const control = encodeControl(items)!;
  assert.deepEqual(decodeControl(control, control.length), items);
});

WORKLOADS.set(
  "a fuzz of descriptors, truncation and buffer sizes",
  async () => {
    const rand = rng(Date.now());
    for (const [, type] of [...KINDS, ["dgram", SOCK_DGRAM] as const]) {
      await using pair = await unixPair(type);
      const [a, b] = pair;
      using pool = newFds(8);
      const deadline = Date.now() + 1500;
      for (let i = 0; i < 400 && Date.now() < deadline; i++) {
        // Up to 253 descriptors (SCM_MAX_FD), in one or two messages.
        const n = rand(5) === 0 ? rand(254) : rand(9);
        const fds = Array.from({ length: n }, () => pool[rand(8)].fd);
        const anc: [number, number, Uint8Array][] = n > 4 && rand(2)
          ? [
            [SOL_SOCKET, SCM_RIGHTS, ints(fds.slice(0, n >> 1))],
            [SOL_SOCKET, SCM_RIGHTS, ints(fds.slice(n >> 1))],
          ]
          : [[SOL_SOCKET, SCM_RIGHTS, ints(fds)]];
        const data = new Uint8Array(1 + rand(64));
        await a.sendmsg([data], anc);
        const ancbufsize =
          [rand(40), rand(1100), CMSG_SPACE(4 * n), 0][rand(4)];
        const bufsize = rand(80);
        let got: number[] = [];
        if (rand(3) === 0) {
          const [msg, fdsIn] = await recv_fds(b, bufsize, rand(n + 2));
          got = fdsIn;
          assert.ok(msg.length <= bufsize);
        } else {
          const bufs = [new Uint8Array(rand(40)), new Uint8Array(rand(40))];
          const [nbytes, ancdata, flags] = rand(2)
            ? await b.recvmsg_into(bufs, ancbufsize)
            : await b.recvmsg(bufsize, ancbufsize);
          got = rights(ancdata);
          assert.ok(nbytes !== undefined && got.length <= n);
          if (got.length < n) assert.equal(flags & MSG_CTRUNC, MSG_CTRUNC);
        }
        closeFds(got);
        // A stream may hold the rest of the data: drain it.
        if (type === SOCK_STREAM) {
          while (true) {
            try {
              await b.recv(1000, MSG_DONTWAIT);
            } catch {
              break;
            }
          }
        }
      }
    }
    assert.equal(pinnedNow(), false);
  },
);

const ROUND_TRIPS = 10_000;

WORKLOADS.set(
  `${ROUND_TRIPS} send_fds()/recv_fds() round trips`,
  async () => {
    await using pair = await unixPair(SOCK_SEQPACKET);
    const [a, b] = pair;
    using pool = newFds(2);
    const sent = [pool[0].fd, pool[1].fd];
    const data = bytes("x");
    for (let i = 0; i < ROUND_TRIPS; i++) {
      await send_fds(a, [data], sent);
      const [, fds] = await recv_fds(b, 10, 2);
      if (fds.length !== 2) {
        assert.fail(
          `round trip ${i}: ${fds.length} descriptors`,
        );
      }
      closeFds(fds);
    }
  },
);

Deno.test(
  libcCase(
    `SCM_RIGHTS: every case above, a fuzz of control messages and ${ROUND_TRIPS} send_fds()/recv_fds() round trips leak no descriptor and never fail (counted in a child process)`,
  ),
  async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, LEAK_CHILD],
      // Deno's update check opens (and later closes) a connection of its
      // own in the background: not in the child.
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const report = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(report.names, [...WORKLOADS.keys()]);
    assert.deepEqual(report.leaked, [], `a descriptor leaked: ${report.open}`);
  },
);

Deno.test(
  libcCase(
    "recvmsg(): calls waiting on two sockets at once each get their own data and descriptors",
  ),
  async () => {
    await using p1 = await unixPair(SOCK_SEQPACKET);
    await using p2 = await unixPair(SOCK_SEQPACKET);
    using fds = newFds(2);
    const r1 = p1[1].recvmsg(100, 1024);
    const r2 = p2[1].recvmsg(100, 1024);
    await p2[0].sendmsg([bytes("two")], [[
      SOL_SOCKET,
      SCM_RIGHTS,
      ints([fds[1].fd]),
    ]]);
    await p1[0].sendmsg([bytes("one")], [[
      SOL_SOCKET,
      SCM_RIGHTS,
      ints([fds[0].fd]),
    ]]);
    const [[d1, a1], [d2, a2]] = await withTimeout(Promise.all([r1, r2]));
    try {
      assert.deepEqual([text(d1), text(d2)], ["one", "two"]);
      checkFds(rights(a1));
      // The second eventfd holds 2: checkFds counts from 1.
      const out = new BigUint64Array(1);
      libc().read(rights(a2)[0], new Uint8Array(out.buffer), 8n);
      assert.equal(out[0], 2n);
    } finally {
      closeFds([...rights(a1), ...rights(a2)]);
    }
    assert.equal(pinnedNow(), false);
  },
);

/** Whether SIGUSR1 and SIGTERM are caught (SigCgt in /proc/self/status). */
function denoSignalsReady(): boolean {
  const status = Deno.readTextFileSync("/proc/self/status");
  const caught = BigInt(`0x${status.match(/SigCgt:\s*([0-9a-f]+)/)?.[1] ?? 0}`);
  const bit = (signo: number) => 1n << BigInt(signo - 1);
  const wanted = bit(10) | bit(15);
  return (caught & wanted) === wanted;
}

// The child of the leak test: every workload, between two counts.
if (import.meta.main && Deno.args[0] === LEAK_CHILD) {
  // Deno sets up signal handling of its own (a socket pair and handlers for
  // SIGHUP, SIGINT, SIGUSR1 and SIGTERM) about half a second after start,
  // later on a busy machine: count once its handlers show (5 s at most).
  const deadline = performance.now() + 5000;
  while (!denoSignalsReady() && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const before = lowestFree();
  for (const fn of WORKLOADS.values()) await fn();
  // A leak: a number free before and in use now, below one free now (a
  // descriptor of Deno's that closed meanwhile shifts the window of free
  // numbers up, which is no leak). It stays: one closed a moment later is
  // not one.
  const leaks = () => {
    const after = lowestFree();
    const top = Math.max(...after);
    return before.filter((fd) => fd < top && !after.includes(fd));
  };
  let leaked = leaks();
  for (let i = 0; i < 20 && leaked.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    leaked = leaks();
  }
  // What each leaked descriptor is, for the report.
  const open = leaked.map((fd) => {
    try {
      return `${fd}: ${Deno.readLinkSync(`/proc/self/fd/${fd}`)}`;
    } catch (e) {
      return `${fd}: ${e}`;
    }
  }).join(", ");
  console.log(JSON.stringify({ names: [...WORKLOADS.keys()], leaked, open }));
}

// Each case: what one sender writes, then recvmsg(6, ancbufsize, MSG_WAITALL)
// with SO_PASSCRED on or off: [data, [fds per SCM_RIGHTS], [other cmsg
// types], msg_flags].
const WAITALL_CASES: [
  parts: [string, number][],
  anc: number,
  creds: boolean,
][] = [
  [[["abc", 1], ["def", 1]], 0, false],
  [[["abc", 1], ["def", 1]], 24, false],
  [[["abc", 1], ["def", 1]], 48, false],
  [[["ab", 0], ["cd", 1], ["ef", 1]], 48, false],
  [[["ab", 0], ["cd", 0], ["ef", 0]], 64, true],
];

const WAITALL_PY = `
import array, json, os, socket, sys
out = []
for parts, anc, creds in json.load(sys.stdin):
    a, b = socket.socketpair()
    if creds: b.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    for data, nfds in parts:
        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(nfds)]
        socket.send_fds(a, [data.encode()], fds)
        for fd in fds: os.close(fd)
    b.settimeout(2)
    data, ancdata, flags, _ = b.recvmsg(6, anc, socket.MSG_WAITALL)
    rights, others = [], []
    for level, kind, cdata in ancdata:
        if kind == socket.SCM_RIGHTS:
            fds = array.array("i", cdata[:len(cdata) - len(cdata) % 4])
            rights.append(len(fds))
            for fd in fds: os.close(fd)
        else:
            others.append(kind)
    out.append([data.decode(), rights, others, flags])
    a.close(); b.close()
print(json.dumps(out))
`;

Deno.test({
  ...libcCase(
    "recvmsg(MSG_WAITALL) on a unix stream stops after a message that carried descriptors, and gives one SCM_CREDENTIALS, as python3's",
    !hasPython,
  ),
  async fn() {
    const expected = await py(WAITALL_PY, WAITALL_CASES);
    const got: unknown[] = [];
    // Any descriptor does: the kernel gives the receiver its own copy.
    using spare = socket(AF_UNIX, SOCK_DGRAM, 0, { backend: "libc" });
    const fd = spare.fileno();
    for (const [parts, anc, creds] of WAITALL_CASES) {
      await using pair = await unixPair(SOCK_STREAM);
      const [a, b] = pair;
      if (creds) b.setsockopt(SOL_SOCKET, SO_PASSCRED, 1);
      for (const [data, nfds] of parts) {
        await send_fds(a, [bytes(data)], Array(nfds).fill(fd));
      }
      b.settimeout(2);
      const [data, ancdata, flags] = await b.recvmsg(6, anc, MSG_WAITALL);
      const rights: number[] = [];
      const others: number[] = [];
      for (const [, kind, cdata] of ancdata) {
        if (kind !== SCM_RIGHTS) {
          others.push(kind);
          continue;
        }
        const fds = new Int32Array(cdata.slice(0, cdata.length & ~3).buffer);
        rights.push(fds.length);
        for (const f of fds) close(f);
      }
      got.push([text(data), rights, others, flags]);
    }
    assert.deepEqual(got, expected);
  },
});

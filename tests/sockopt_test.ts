// setsockopt() / getsockopt() against CPython 3.11 on Linux, on both
// backends: the four-argument form, argument errors, levels the socket has
// no options at, read-only options, IPV6_V6ONLY once bound, options an
// accepted socket takes from its listener, IPV6_MULTICAST_IF's interface
// check. Expected values were run with python3 (noted beside each case).
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  BlockingIOError,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_MULTICAST_IF,
  IPV6_V6ONLY,
  MSG_WAITALL,
  OSError,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_RCVTIMEO,
  SO_REUSEADDR,
  SO_SNDBUF,
  SO_SNDTIMEO,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socketpair,
  SOL_SOCKET,
  TCP_NODELAY,
  TimeoutError,
} from "../mod.ts";
import {
  BACKENDS,
  connectedPair,
  libcCase,
  needsLibc,
  onBackend,
  raises,
  raisesSync,
  sock,
  withTimeout,
} from "./_helpers.ts";

// setsockopt() called as a Python script may call it, whatever TS allows.
function setAny(s: Socket, ...args: unknown[]): void {
  (s.setsockopt as (...a: unknown[]) => void)(...args);
}

const V6ONLY_DEFAULT = Number(
  Deno.readTextFileSync("/proc/sys/net/ipv6/bindv6only"),
);

for (const backend of BACKENDS) {
  const isDeno = backend === "deno";
  const test = (name: string, fn: () => void | Promise<void>) =>
    Deno.test(onBackend(backend, name), fn);

  test("setsockopt(level, option, null, optlen) passes no buffer, as Python's None", () => {
    using s = sock(backend);
    if (isDeno) {
      needsLibc(
        raisesSync(
          () => s.setsockopt(SOL_SOCKET, SO_REUSEADDR, null, 4),
          OSError,
          {
            errno: 92,
          },
        ),
      );
    } else {
      // python3: EFAULT for NULL with 4 bytes, EINVAL for fewer than an int
      // (-1 is 0xffffffff, 2 ** 32 is 0, as CPython's "I").
      raisesSync(
        () => s.setsockopt(SOL_SOCKET, SO_REUSEADDR, null, 4),
        OSError,
        {
          errno: 14,
        },
      );
      for (const n of [0, -1, 2 ** 32]) {
        raisesSync(
          () => s.setsockopt(SOL_SOCKET, SO_REUSEADDR, null, n),
          OSError,
          {
            errno: 22,
          },
        );
      }
      // python3: a TCP option on a UDP socket is ENOPROTOOPT.
      using u = sock(backend, AF_INET, SOCK_DGRAM);
      raisesSync(
        () => u.setsockopt(IPPROTO_TCP, TCP_NODELAY, null, 4),
        OSError,
        {
          errno: 92,
        },
      );
    }
    s.close();
    raisesSync(() => s.setsockopt(SOL_SOCKET, SO_REUSEADDR, null, 4), OSError, {
      errno: 9,
    });
  });

  test("setsockopt() argument errors are CPython's: four arguments not (…, None, int), a float value", () => {
    using s = sock(backend);
    const count = {
      message: "setsockopt() takes exactly 3 arguments (4 given)",
    };
    for (
      const args of [
        [SOL_SOCKET, SO_REUSEADDR, 1, 4],
        [SOL_SOCKET, SO_REUSEADDR, new Uint8Array(4), 4],
        [SOL_SOCKET, SO_REUSEADDR, null, "4"],
        [SOL_SOCKET, SO_REUSEADDR, null, 4.5],
        ["1", SO_REUSEADDR, null, 4],
        [2 ** 31, SO_REUSEADDR, null, 4],
      ]
    ) raisesSync(() => setAny(s, ...args), TypeError, count);
    raisesSync(() => setAny(s, SOL_SOCKET, SO_REUSEADDR, 1.5), TypeError, {
      message: "a bytes-like object is required, not 'float'",
    });
    raisesSync(() => setAny(s, SOL_SOCKET, SO_REUSEADDR, null), TypeError, {
      message: "a bytes-like object is required, not 'NoneType'",
    });
  });

  test("an option at a level the socket has none at: getsockopt() 95 on AF_INET, 92 on AF_INET6; setsockopt() 92; no backend can", () => {
    for (const family of [AF_INET, AF_INET6]) {
      for (const type of [SOCK_STREAM, SOCK_DGRAM]) {
        using s = sock(backend, family, type);
        const other = type === SOCK_STREAM ? IPPROTO_UDP : IPPROTO_TCP;
        for (const level of [9999, other, 132]) {
          const g = raisesSync(() => s.getsockopt(level, 1), OSError, {
            errno: family === AF_INET ? 95 : 92,
          });
          const p = raisesSync(() => s.setsockopt(level, 1, 1), OSError, {
            errno: 92,
          });
          assert.doesNotMatch(g.message + p.message, /libc/);
        }
      }
    }
  });

  test("setting a read-only SOL_SOCKET option is ENOPROTOOPT (EINVAL with fewer than 4 bytes), not a libc matter", () => {
    using s = sock(backend);
    for (const option of [SO_TYPE, SO_ERROR, 30, 38, 39, 17]) {
      const e = raisesSync(() => s.setsockopt(SOL_SOCKET, option, 1), OSError, {
        errno: 92,
      });
      assert.doesNotMatch(e.message, /libc/);
      raisesSync(
        () => s.setsockopt(SOL_SOCKET, option, new Uint8Array([3])),
        OSError,
        { errno: 22 },
      );
    }
  });

  test("IPV6_V6ONLY: bound to one address it reads 1 (and the accepted socket too), and once bound it cannot be set (EINVAL)", async () => {
    for (const type of [SOCK_STREAM, SOCK_DGRAM]) {
      using one = sock(backend, AF_INET6, type);
      one.bind(["::1", 0]);
      assert.equal(one.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY), 1);
      raisesSync(() => one.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1), OSError, {
        errno: 22,
      });
      using any = sock(backend, AF_INET6, type);
      any.bind(["::", 0]);
      assert.equal(any.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY), V6ONLY_DEFAULT);
      raisesSync(
        () => any.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, V6ONLY_DEFAULT),
        OSError,
        { errno: 22 },
      );
      using mapped = sock(backend, AF_INET6, type);
      mapped.bind(["::ffff:127.0.0.1", 0]);
      assert.equal(
        mapped.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY),
        V6ONLY_DEFAULT,
      );
    }
    await using p = await connectedPair(backend, AF_INET6);
    assert.equal(p.listener.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY), 1);
    assert.equal(p.server.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY), 1);
    // connect() binds a port but not an address: the default stays.
    assert.equal(
      p.client.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY),
      V6ONLY_DEFAULT,
    );
    raisesSync(
      () => p.client.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, V6ONLY_DEFAULT),
      OSError,
      { errno: 22 },
    );
  });

  test("an accepted socket starts with its listener's TCP_NODELAY, SO_KEEPALIVE and SO_REUSEADDR", async () => {
    using l = sock(backend);
    l.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    l.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
    l.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    l.bind(["127.0.0.1", 0]);
    l.listen();
    using c = sock(backend);
    const [, [a]] = await withTimeout(
      Promise.all([c.connect(l.getsockname()), l.accept()]),
    );
    using _a = a;
    // python3: [1, 1, 1] for the accepted socket, [0, 0, 0] for the client.
    const read = (s: Socket) => [
      s.getsockopt(IPPROTO_TCP, TCP_NODELAY),
      s.getsockopt(SOL_SOCKET, SO_KEEPALIVE),
      s.getsockopt(SOL_SOCKET, SO_REUSEADDR),
    ];
    assert.deepEqual(read(a), [1, 1, 1]);
    assert.deepEqual(read(c), [0, 0, 0]);
  });

  test("IPV6_MULTICAST_IF with an interface that is not there is ENODEV at setsockopt(), as Linux's", () => {
    using s = sock(backend, AF_INET6, SOCK_DGRAM);
    for (const index of [-1, 0x7ffffff0]) {
      raisesSync(
        () => s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF, index),
        OSError,
        { errno: 19 },
      );
    }
    assert.equal(s.getsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF), 0);
    s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF, 1); // lo
    assert.equal(s.getsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF), 1);
    s.bind(["::1", 0]);
  });
}

// A struct timeval of `ms` milliseconds, as SO_RCVTIMEO / SO_SNDTIMEO take it.
function timeval(ms: number): Uint8Array {
  const tv = new Uint8Array(16);
  new DataView(tv.buffer).setBigInt64(8, BigInt(ms * 1000), true);
  return tv;
}

// python3 (timeout None, SO_RCVTIMEO 50 ms): recv, recvfrom, recvmsg,
// recv_into and accept raise BlockingIOError 11 after 50 ms (the kernel's
// blocking call says EAGAIN); with settimeout(0.1) the kernel's option does
// not count (the descriptor is non-blocking): TimeoutError after 100 ms.
Deno.test(
  libcCase(
    "libc: SO_RCVTIMEO bounds a blocking socket's receives and accept(): BlockingIOError 11 once it passes, as CPython's; a socket timeout goes first",
  ),
  async () => {
    const [a, b] = await socketpair(AF_UNIX, SOCK_STREAM, 0, {
      backend: "libc",
    });
    using _a = a;
    using _b = b;
    a.setsockopt(SOL_SOCKET, SO_RCVTIMEO, timeval(50));
    for (
      const call of [
        () => a.recv(1),
        () => a.recvfrom(1),
        () => a.recvmsg(1),
        () => a.recv_into(new Uint8Array(1)),
      ]
    ) {
      const t0 = performance.now();
      await raises(call, BlockingIOError, { errno: 11 });
      assert.ok(performance.now() - t0 >= 45);
    }
    a.settimeout(0.1);
    const t0 = performance.now();
    await raises(() => a.recv(1), TimeoutError, { errno: null });
    assert.ok(performance.now() - t0 >= 95);
    a.settimeout(null);
    // Nothing was lost: bytes that come later are the next recv's.
    await b.sendall(new Uint8Array([7]));
    assert.deepEqual(await withTimeout(a.recv(1)), new Uint8Array([7]));
    using l = sock("libc");
    l.bind(["127.0.0.1", 0]);
    l.listen();
    l.setsockopt(SOL_SOCKET, SO_RCVTIMEO, timeval(50));
    await raises(() => l.accept(), BlockingIOError, { errno: 11 });
  },
);

// python3 (timeout None, SO_RCVTIMEO 400 ms, one byte every 300 ms):
// recv(10, MSG_WAITALL), recvfrom and recvmsg return the bytes that came
// by 400 ms: Linux's timeout bounds the whole call. Each part of the call
// waiting 400 ms anew returned at 700 ms (recvmsg: later still).
Deno.test(
  libcCase(
    "libc: SO_RCVTIMEO bounds a blocking MSG_WAITALL receive as a whole, not each part of it, as CPython's",
  ),
  async () => {
    const [a, b] = await socketpair(AF_UNIX, SOCK_STREAM, 0, {
      backend: "libc",
    });
    using _a = a;
    using _b = b;
    a.setsockopt(SOL_SOCKET, SO_RCVTIMEO, timeval(400));
    let sent = 0;
    const feed = setInterval(() => {
      if (sent++ < 20) void b.send(new Uint8Array([sent]));
    }, 300);
    try {
      for (
        const call of [
          async () => (await a.recv(10, MSG_WAITALL)).length,
          async () => (await a.recvfrom(10, MSG_WAITALL))[0].length,
          async () => (await a.recvmsg(10, 0, MSG_WAITALL))[0].length,
        ]
      ) {
        const t0 = performance.now();
        const n = await withTimeout(call());
        const took = performance.now() - t0;
        assert.ok(n > 0 && n < 10, `${n} bytes`);
        assert.ok(took >= 390 && took < 600, `returned after ${took} ms`);
      }
    } finally {
      clearInterval(feed);
    }
  },
);

// python3 (timeout None, SO_SNDTIMEO 50 ms): a connect to a listener whose
// backlog is full raises BlockingIOError 115 after 50 ms, and the attempt
// goes on (connect_ex 114); sendall() into a full buffer raises
// BlockingIOError 11.
Deno.test(
  libcCase(
    "libc: SO_SNDTIMEO bounds a blocking connect() (BlockingIOError 115, the attempt goes on) and sendall() (BlockingIOError 11), as CPython's",
  ),
  async () => {
    using l = sock("libc");
    l.bind(["127.0.0.1", 0]);
    l.listen(0);
    const addr = l.getsockname();
    // Backlog 0 queues one connection; the next one's SYNs go unanswered.
    using first = sock("libc");
    await withTimeout(first.connect(addr));
    using c = sock("libc");
    c.setsockopt(SOL_SOCKET, SO_SNDTIMEO, timeval(50));
    await raises(() => c.connect(addr), BlockingIOError, { errno: 115 });
    assert.equal(await withTimeout(c.connect_ex(addr)), 114);
    const [server] = await withTimeout(l.accept());
    using _server = server;
    first.setsockopt(SOL_SOCKET, SO_SNDTIMEO, timeval(50));
    first.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
    await raises(
      () => first.sendall(new Uint8Array(8 << 20)),
      BlockingIOError,
      { errno: 11 },
    );
  },
);

// `{ signal }` on every Socket method that returns a Promise: an abort
// rejects with the signal's reason, promptly, loses nothing and leaves the
// socket usable, exactly like a timeout. Both backends.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  ConnectionResetError,
  create_connection,
  getaddrinfo,
  getfqdn,
  gethostbyaddr,
  gethostbyname,
  gethostbyname_ex,
  getnameinfo,
  MSG_OOB,
  MSG_PEEK,
  MSG_WAITALL,
  OSError,
  SHUT_RDWR,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socketpair,
} from "../mod.ts";
import * as select from "../select.ts";
import { DefaultSelector, EVENT_READ } from "../selectors.ts";
import {
  type Addr,
  BACKENDS,
  bytes,
  connectedPair,
  libcCase,
  libcMissing,
  listener,
  onBackend,
  sock,
  text,
  udpPair,
} from "./_helpers.ts";
import { withTimeout } from "./_python.ts";

// A step of draining 64 MiB under the parallel suite on two busy cores can
// take seconds: a wider bound for those steps; a stall still fails.
const DRAIN_MS = 10_000;

/** Abort `controller` after `ms`, and say how long the call took to reject. */
async function abortAfter(
  ms: number,
  call: (signal: AbortSignal) => Promise<unknown>,
): Promise<{ reason: unknown; elapsed: number }> {
  const controller = new AbortController();
  const reason = new Error("stop");
  // The clock starts before the timer: a pause between the two (a GC under
  // load) would otherwise make the abort look early.
  const t0 = performance.now();
  const timer = setTimeout(() => controller.abort(reason), ms);
  try {
    await withTimeout(call(controller.signal), 5000, "aborted call");
  } catch (e) {
    return { reason: e, elapsed: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
  throw new Error("the call was not aborted");
}

function expectAborted(
  { reason, elapsed }: { reason: unknown; elapsed: number },
  ms: number,
): void {
  assert.equal((reason as Error).message, "stop");
  assert.ok(
    elapsed >= ms - 5,
    `rejected after ${elapsed} ms, before the abort`,
  );
  assert.ok(elapsed < ms + 500, `rejected ${elapsed} ms later, not promptly`);
}

/**
 * A libc TCP listener whose backlog is full: it drops the next SYN, so a
 * connect to it waits. Disposing of it closes the connections that fill it.
 */
async function fullBacklog(): Promise<
  { addr: Addr } & AsyncDisposable
> {
  const l = listener("libc", AF_INET);
  l.sock.listen(0);
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const c = sock("libc", AF_INET);
    fillers.push(c);
    c.setblocking(false);
    await c.connect(l.addr).catch(() => {});
  }
  await new Promise((r) => setTimeout(r, 50));
  return {
    addr: l.addr,
    [Symbol.asyncDispose]() {
      for (const f of fillers) f.close();
      l[Symbol.dispose]();
      return Promise.resolve();
    },
  };
}

for (const backend of BACKENDS) {
  for (const family of [AF_INET, AF_UNIX]) {
    const kind = family === AF_INET ? "TCP" : "unix stream";
    Deno.test(
      onBackend(
        backend,
        `${kind} recv() aborted while waiting rejects with the reason; the late bytes come with the next recv()`,
      ),
      async () => {
        await using p = await connectedPair(backend, family);
        expectAborted(
          await abortAfter(50, (signal) => p.client.recv(100, 0, { signal })),
          50,
        );
        await p.server.sendall(bytes("late"));
        assert.equal(text(await withTimeout(p.client.recv(100))), "late");
        // Still usable both ways.
        await p.client.sendall(bytes("back"));
        assert.equal(text(await withTimeout(p.server.recv(100))), "back");
      },
    );
  }

  Deno.test(
    onBackend(
      backend,
      "recv(), recv_into(), recvmsg() and recvmsg_into() with MSG_WAITALL aborted with part of their bytes reject with the reason; the next recv() returns that part first",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const calls: [string, (signal: AbortSignal) => Promise<unknown>][] = [
        ["recv", (signal) => p.client.recv(8, MSG_WAITALL, { signal })],
        [
          "recv_into",
          (signal) =>
            p.client.recv_into(new Uint8Array(8), 8, MSG_WAITALL, { signal }),
        ],
        [
          "recvmsg",
          (signal) => p.client.recvmsg(8, 0, MSG_WAITALL, { signal }),
        ],
        [
          "recvmsg_into",
          (signal) =>
            p.client.recvmsg_into(
              [new Uint8Array(4), new Uint8Array(4)],
              0,
              MSG_WAITALL,
              { signal },
            ),
        ],
      ];
      for (const [name, call] of calls) {
        await p.server.sendall(bytes("abc"));
        expectAborted(await abortAfter(80, call), 80);
        await p.server.sendall(bytes("defgh"));
        assert.equal(
          text(await withTimeout(p.client.recv(8, MSG_WAITALL))),
          "abcdefgh",
          name,
        );
      }
    },
  );

  Deno.test(
    onBackend(
      backend,
      "an already-aborted signal rejects at once, before any wait",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const reason = new Error("already");
      const signal = AbortSignal.abort(reason);
      const calls: [string, () => Promise<unknown>][] = [
        ["recv", () => p.client.recv(10, 0, { signal })],
        ["recvfrom", () => p.client.recvfrom(10, 0, { signal })],
        [
          "recv_into",
          () => p.client.recv_into(new Uint8Array(4), 0, 0, { signal }),
        ],
        [
          "recvfrom_into",
          () => p.client.recvfrom_into(new Uint8Array(4), 0, 0, { signal }),
        ],
        ["send", () => p.client.send(bytes("x"), 0, { signal })],
        ["sendall", () => p.client.sendall(bytes("x"), 0, { signal })],
        ["accept", () => p.listener.accept({ signal })],
        ["connect", () => p.client.connect(p.addr, { signal })],
        ["connect_ex", () => p.client.connect_ex(p.addr, { signal })],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(call(), (e) => e === reason, name);
      }
      // Nothing was sent by the aborted sends.
      p.server.settimeout(0.1);
      await assert.rejects(p.server.recv(10), { name: "TimeoutError" });
    },
  );

  Deno.test(
    onBackend(
      backend,
      "accept() aborted while waiting; a later accept() gets the connection",
    ),
    async () => {
      using l = listener(backend);
      expectAborted(
        await abortAfter(50, (signal) => l.sock.accept({ signal })),
        50,
      );
      using client = sock(backend);
      const connecting = client.connect(l.addr);
      const [conn] = await withTimeout(l.sock.accept());
      using _conn = conn;
      await connecting;
      assert.deepEqual(conn.getpeername(), client.getsockname());
    },
  );

  Deno.test(
    onBackend(
      backend,
      "UDP recvfrom() aborted while waiting; the next datagram is not lost",
    ),
    async () => {
      await using u = udpPair(backend);
      expectAborted(
        await abortAfter(50, (signal) => u.a.recvfrom(100, 0, { signal })),
        50,
      );
      await u.b.sendto(bytes("dgram"), u.aAddr);
      const [data] = await withTimeout(u.a.recvfrom(100));
      assert.equal(text(data), "dgram");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "sendall() to a peer that never reads, aborted, rejects with the reason; the socket closes cleanly",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const chunk = new Uint8Array(1 << 20);
      const { reason, elapsed } = await abortAfter(100, async (signal) => {
        for (let i = 0; i < 256; i++) {
          await p.client.sendall(chunk, 0, { signal });
        }
      });
      assert.equal((reason as Error).message, "stop");
      assert.ok(elapsed < 2000, `took ${elapsed} ms`);
      // The peer can still read what was sent.
      assert.ok((await withTimeout(p.server.recv(1024))).length > 0);
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a timeout still raises TimeoutError when a signal is given but not aborted",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const controller = new AbortController();
      p.client.settimeout(0.05);
      await assert.rejects(
        p.client.recv(10, 0, { signal: controller.signal }),
        { name: "TimeoutError", message: "timed out" },
      );
    },
  );
}

for (const backend of BACKENDS) {
  for (const mode of ["wb", "w"] as const) {
    Deno.test(
      onBackend(
        backend,
        `makefile("${mode}").close() aborted while its buffer waits to go rejects with the reason; the file is closed and lets go of the socket`,
      ),
      async () => {
        await using p = await connectedPair(backend, AF_UNIX);
        // Fill the connection, so that what the file holds cannot go.
        const fill = new AbortController();
        const filling = p.client.sendall(new Uint8Array(64 << 20), 0, {
          signal: fill.signal,
        }).catch(() => {});
        await new Promise((r) => setTimeout(r, 100));
        fill.abort();
        await withTimeout(filling);
        let f;
        if (mode === "wb") {
          f = p.client.makefile("wb");
          await f.write(new Uint8Array(100));
        } else {
          f = p.client.makefile("w");
          await f.write("x");
        }
        p.client.close(); // deferred: the file holds the socket
        expectAborted(
          await abortAfter(50, (signal) => f.close({ signal })),
          50,
        );
        assert.equal(f.closed, true);
        assert.equal(p.client.fileno(), -1);
      },
    );

    Deno.test(
      onBackend(
        backend,
        `makefile("${mode}").close() with a signal aborted already rejects at once and does nothing: the file stays open with what it holds, as every call does`,
      ),
      async () => {
        await using p = await connectedPair(backend, AF_UNIX);
        const already = AbortSignal.abort("at once");
        let f;
        if (mode === "wb") {
          f = p.client.makefile("wb");
          await f.write(bytes("abc"));
        } else {
          f = p.client.makefile("w");
          await f.write("abc");
        }
        await assert.rejects(
          f.close({ signal: already }),
          (e) => e === "at once",
        );
        assert.equal(f.closed, false);
        await f.close();
        assert.equal(f.closed, true);
        assert.equal(text(await withTimeout(p.server.recv(10))), "abc");
      },
    );
  }
}

Deno.test("sendto() takes options last in both forms", async () => {
  await using u = udpPair("deno");
  const signal = new AbortController().signal;
  assert.equal(await u.b.sendto(bytes("a"), u.aAddr, { signal }), 1);
  assert.equal(await u.b.sendto(bytes("bc"), 0, u.aAddr, { signal }), 2);
  const got: string[] = [];
  for (let i = 0; i < 2; i++) got.push(text(await withTimeout(u.a.recv(10))));
  assert.deepEqual(got.sort(), ["a", "bc"]);
  const s: Socket = u.a;
  await assert.rejects(
    s.sendto(bytes("x"), "1" as unknown as number, u.bAddr),
    { name: "TypeError" },
  );
  assert.equal(SOCK_DGRAM, u.a.type);
});

for (const client of BACKENDS) {
  Deno.test({
    ...libcCase(
      `${client} client: a blocking connect to a unix listener whose backlog is full waits for room (and connects once the server accepts), and rejects promptly when aborted`,
    ),
    fn: async () => {
      // No readiness tells when the backlog has room: connect backs off on
      // a timer, which the abort must end too. Only a libc listener honours
      // a unix backlog.
      using l = listener("libc", AF_UNIX);
      l.sock.listen(0);
      const queued: Socket[] = [];
      try {
        let full = false;
        for (let i = 0; i < 64 && !full; i++) {
          const c = sock("libc", AF_UNIX);
          queued.push(c);
          c.setblocking(false);
          try {
            await c.connect(l.addr);
          } catch (e) {
            assert.equal((e as Error).name, "BlockingIOError");
            full = true;
          }
        }
        assert.ok(full, "the backlog never filled");
        using c = sock(client, AF_UNIX);
        expectAborted(
          await abortAfter(200, (signal) => c.connect(l.addr, { signal })),
          200,
        );
        using d = sock(client, AF_UNIX);
        const connected = d.connect(l.addr);
        await new Promise((r) => setTimeout(r, 100));
        const [first] = await withTimeout(l.sock.accept());
        first.close();
        await withTimeout(connected);
        assert.deepEqual(d.getpeername(), l.addr);
      } finally {
        for (const q of queued) q.close();
      }
    },
  });
}

for (const backend of BACKENDS) {
  for (const mode of ["rb", "r"] as const) {
    Deno.test(
      onBackend(
        backend,
        `makefile("${mode}"): a read waiting behind another read rejects with the reason when aborted, and takes nothing`,
      ),
      async () => {
        await using p = await connectedPair(backend, AF_INET);
        await using f = p.client.makefile(mode);
        const first: Promise<string | Uint8Array> = f.read(1);
        expectAborted(
          await abortAfter(50, (signal) => f.read(1, { signal })),
          50,
        );
        await p.server.sendall(bytes("ABC"));
        const one = await withTimeout(first);
        const rest = await withTimeout<string | Uint8Array>(f.read(2));
        const asText = (v: string | Uint8Array) =>
          typeof v === "string" ? v : text(v);
        assert.equal(asText(one) + asText(rest), "ABC");
      },
    );
  }

  Deno.test(
    onBackend(
      backend,
      `makefile("wb"): a flush or write waiting behind a blocked write rejects with the reason when aborted`,
    ),
    async () => {
      await using p = await connectedPair(backend, AF_INET);
      const f = p.client.makefile("wb");
      const size = 64 << 20; // more than loopback buffers hold: it waits
      const first = f.write(new Uint8Array(size));
      const late = first.catch((e) => e);
      expectAborted(await abortAfter(50, (signal) => f.flush({ signal })), 50);
      expectAborted(
        await abortAfter(
          50,
          (signal) => f.write(new Uint8Array(10), { signal }),
        ),
        50,
      );
      // The first write still goes out whole once the peer reads.
      let got = 0;
      const buf = new Uint8Array(1 << 20);
      while (got < size) {
        got += await withTimeout(p.server.recv_into(buf), DRAIN_MS);
      }
      assert.equal(await withTimeout(late, DRAIN_MS), size);
      await f.close();
    },
  );

  Deno.test(
    onBackend(
      backend,
      `makefile("w"): a write aborted while it waits its turn takes its text back: none of it is sent`,
    ),
    async () => {
      await using p = await connectedPair(backend, AF_INET);
      const f = p.client.makefile("w");
      const size = 64 << 20; // more than loopback buffers hold: it waits
      const first = f.write("y".repeat(size));
      await new Promise((r) => setTimeout(r, 50)); // it is sending now
      // 8192 characters: the file's chunk, handed over behind the first.
      expectAborted(
        await abortAfter(50, (signal) => f.write("z".repeat(8192), { signal })),
        50,
      );
      let got = 0, zs = 0;
      const buf = new Uint8Array(1 << 20);
      while (got < size) {
        const n = await withTimeout(p.server.recv_into(buf), DRAIN_MS);
        for (let i = 0; i < n; i++) if (buf[i] === 0x7a) zs++;
        got += n;
      }
      assert.equal(await withTimeout(first, DRAIN_MS), size);
      await f.close();
      p.client.shutdown(1);
      assert.equal(text(await withTimeout(p.server.recv(10))), "");
      assert.equal(zs, 0, "the aborted write's text was sent");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "poll(): a new poll() may start as soon as the one before is aborted",
    ),
    async () => {
      await using pair = await connectedPair(backend, AF_INET);
      const p = select.poll();
      p.register(pair.client.fileno(), select.POLLIN);
      const ac = new AbortController();
      const first = p.poll(null, { signal: ac.signal }).catch((e) => e);
      await new Promise((r) => setTimeout(r, 20));
      ac.abort(new Error("stop"));
      assert.deepEqual(await p.poll(0), []);
      assert.equal(((await first) as Error).message, "stop");
      // And no later than that: one not aborted still excludes the next.
      const waiting = p.poll(5000);
      await assert.rejects(p.poll(0), {
        name: "RuntimeError",
        message: "concurrent poll() invocation",
      });
      await pair.server.sendall(bytes("x"));
      assert.equal((await withTimeout(waiting)).length, 1);
    },
  );

  // close() or shutdown() by another task while a TCP connect waits (its
  // SYN unanswered), and what the connect then raises.
  const interruptions: [
    string,
    (s: Socket) => void,
    (e: unknown) => boolean,
  ][] = [
    [
      "close() rejects it with EBADF at once, and the attempt does not hold the process",
      (s) => s.close(),
      (e) => e instanceof OSError && e.errno === 9,
    ],
    [
      "shutdown() returns, and the connect fails with ConnectionResetError 104, as Linux disconnects the socket (python3 too)",
      (s) => s.shutdown(SHUT_RDWR),
      (e) => e instanceof ConnectionResetError && e.errno === 104,
    ],
  ];
  for (const [what, interrupt, expected] of interruptions) {
    Deno.test(
      onBackend(
        backend,
        `while a TCP connect waits, ${what}`,
        libcMissing !== null,
      ),
      async () => {
        await using l = await fullBacklog();
        using c = sock(backend, AF_INET);
        const connecting = c.connect(l.addr).then(
          () => null,
          (e: unknown) => e,
        );
        await new Promise((r) => setTimeout(r, 100));
        const t0 = performance.now();
        interrupt(c);
        const e = await withTimeout(connecting, 2000);
        assert.ok(expected(e), String(e));
        assert.ok(performance.now() - t0 < 500);
      },
    );
  }

  Deno.test(
    onBackend(
      backend,
      "create_connection(): aborting it while it connects rejects with the reason and leaves no socket",
    ),
    async () => {
      await using l = await fullBacklog();
      const [host, port] = l.addr as [string, number];
      expectAborted(
        await abortAfter(
          100,
          (signal) =>
            create_connection([host, port], 10, null, { backend, signal }),
        ),
        100,
      );
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a connect() with a timeout past setTimeout()'s 2^31-1 ms waits (python3: settimeout(2**31) waits), not a timer fired at once",
      libcMissing !== null,
    ),
    async () => {
      await using l = await fullBacklog();
      using c = sock(backend, AF_INET);
      c.settimeout(2 ** 31);
      expectAborted(
        await abortAfter(200, (signal) => c.connect(l.addr, { signal })),
        200,
      );
    },
  );
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "connect() to a listener with a full backlog, aborted right after the call (before it awaited anything), rejects with the reason at once",
      libcMissing !== null,
    ),
    async () => {
      await using full = await fullBacklog();
      using c = sock(backend);
      const controller = new AbortController();
      const reason = new Error("stop");
      const t0 = performance.now();
      const connecting = c.connect(full.addr, { signal: controller.signal });
      controller.abort(reason);
      await assert.rejects(
        withTimeout(connecting, 2000, "connect() aborted at once"),
        (e) => e === reason,
      );
      const elapsed = performance.now() - t0;
      assert.ok(elapsed < 500, `rejected after ${elapsed} ms`);
    },
  );
}

Deno.test("deno: create_connection(): an abort that lands as the connection is made leaves no connection open", async () => {
  // Deno.connect() throws the signal's reason when the signal is aborted by
  // the time its connect op comes back, connection made or not, and nothing
  // closes that connection (ext/net's `finally { signal.throwIfAborted() }`;
  // about 1 abort in 1,500 lands there). This stand-in for Deno.connect
  // makes the connection, lets the abort land, then does what Deno does.
  await using l = listener("deno");
  const [host, port] = l.addr as [string, number];
  const controller = new AbortController();
  const reason = new Error("stop");
  const leaked: Deno.Conn[] = [];
  const real = Deno.connect;
  Deno.connect = (async (options: Deno.ConnectOptions) => {
    const { signal, ...rest } = options;
    const conn = await real(rest);
    controller.abort(reason);
    try {
      signal?.throwIfAborted();
    } catch (e) {
      leaked.push(conn);
      throw e;
    }
    return conn;
  }) as typeof Deno.connect;
  try {
    const made = await create_connection([host, port], 5, null, {
      backend: "deno",
      signal: controller.signal,
    }).catch((e) => e);
    // Made before the abort landed, or not: either way nothing stays open.
    if (made instanceof Error) assert.equal(made, reason);
    else made.close();
    const [conn] = await withTimeout(l.sock.accept());
    using _conn = conn;
    conn.settimeout(2);
    assert.equal((await conn.recv(1)).length, 0, "the connection is open");
  } finally {
    Deno.connect = real;
    for (const conn of leaked) conn.close();
  }
});

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "socketpair(): an aborted signal rejects with its reason and makes no pair; a live one changes nothing",
    ),
    async () => {
      const reason = new Error("stop");
      await assert.rejects(
        socketpair(AF_UNIX, SOCK_STREAM, 0, {
          backend,
          signal: AbortSignal.abort(reason),
        }),
        (e) => e === reason,
      );
      const [a, b] = await withTimeout(
        socketpair(AF_UNIX, SOCK_STREAM, 0, {
          backend,
          signal: new AbortController().signal,
        }),
      );
      using _a = a, _b = b;
      await a.sendall(bytes("x"));
      assert.equal(text(await b.recv(1)), "x");
    },
  );
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "a signal that is not an AbortSignal raises TypeError naming it, from the socket's, a file's, select's, poll's and a selector's calls and getaddrinfo(), and null options are none; the socket works on",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const bad = { signal: "x" } as unknown as { signal: AbortSignal };
      const message = "signal must be an AbortSignal, not str";
      await assert.rejects(p.client.recv(1, bad), {
        name: "TypeError",
        message,
      });
      await assert.rejects(p.client.sendall(bytes("x"), bad), { message });
      await using f = p.client.makefile("rb");
      await assert.rejects(f.readline(bad), { message });
      await assert.rejects(select.select([p.client], [], [], 0, bad), {
        message,
      });
      const pl = select.poll();
      pl.register(p.client);
      await assert.rejects(pl.poll(0, bad), { message });
      using sel = new DefaultSelector();
      sel.register(p.client, EVENT_READ);
      await assert.rejects(sel.select(0, bad), { message });
      await assert.rejects(getaddrinfo("localhost", 80, 0, 0, 0, 0, bad), {
        message,
      });
      const none = null as unknown as { signal?: AbortSignal };
      assert.deepEqual(await select.select([p.client], [], [], 0, none), [
        [],
        [],
        [],
      ]);
      assert.deepEqual(await sel.select(0, none), []);
      await p.server.sendall(bytes("y"));
      assert.equal(text(await withTimeout(p.client.recv(1))), "y");
    },
  );
}

Deno.test("getaddrinfo() and the name lookups reject at once with an aborted signal's reason", async () => {
  const reason = new Error("stop");
  const signal = AbortSignal.abort(reason);
  const calls: [string, () => Promise<unknown>][] = [
    ["getaddrinfo", () => getaddrinfo("localhost", 80, 0, 0, 0, 0, { signal })],
    ["gethostbyname", () => gethostbyname("localhost", { signal })],
    ["gethostbyname_ex", () => gethostbyname_ex("localhost", { signal })],
    ["gethostbyaddr", () => gethostbyaddr("127.0.0.1", { signal })],
    ["getfqdn", () => getfqdn("localhost", { signal })],
    ["getnameinfo", () => getnameinfo(["127.0.0.1", 80], 0, { signal })],
    [
      "create_connection",
      () => create_connection(["localhost", 80], 1, null, { signal }),
    ],
  ];
  for (const [name, call] of calls) {
    await assert.rejects(call(), (e) => e === reason, name);
  }
  // Without a signal they answer as before.
  assert.equal(await gethostbyname("127.1"), "127.0.0.1");
});

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "{ signal } in place of the optional arguments: they keep their defaults, and an aborted signal rejects with its reason (recv(10, { signal }), select(r, w, x, { signal }), f.readline({ signal }), ...)",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const { client: a, server: b } = p;
      const signal = new AbortController().signal;
      const gone = new AbortController();
      gone.abort(new Error("gone"));
      const rejected = (call: Promise<unknown>) =>
        assert.rejects(call, { message: "gone" });

      // Socket methods: the defaults hold (flags 0, the whole buffer).
      assert.equal(await b.send(bytes("ab"), { signal }), 2);
      assert.equal(text(await withTimeout(a.recv(10, { signal }))), "ab");
      await b.sendall(bytes("cd"), { signal });
      const buf = new Uint8Array(4);
      assert.equal(await withTimeout(a.recv_into(buf, { signal })), 2);
      assert.equal(text(buf.subarray(0, 2)), "cd");
      await b.sendall(bytes("ef"));
      assert.equal(await withTimeout(a.recv_into(buf, 1, { signal })), 1);
      assert.equal(
        text((await withTimeout(a.recvfrom(10, { signal })))[0]),
        "f",
      );
      await b.sendall(bytes("gh"));
      const [n] = await withTimeout(a.recvfrom_into(buf, { signal }));
      assert.equal(text(buf.subarray(0, n)), "gh");
      assert.equal(await b.sendmsg([bytes("ij")], { signal }), 2);
      const [data, anc, flags] = await withTimeout(a.recvmsg(10, { signal }));
      assert.deepEqual([text(data), anc, flags], ["ij", [], 0]);
      await b.sendall(bytes("kl"));
      const [m] = await withTimeout(a.recvmsg_into([buf], { signal }));
      assert.equal(text(buf.subarray(0, m)), "kl");
      for (
        const call of [
          a.recv(10, { signal: gone.signal }),
          a.recv_into(buf, { signal: gone.signal }),
          a.recv_into(buf, 2, { signal: gone.signal }),
          a.recvfrom(10, { signal: gone.signal }),
          a.recvmsg(10, { signal: gone.signal }),
          a.recvmsg_into([buf], { signal: gone.signal }),
          b.send(bytes("x"), { signal: gone.signal }),
          b.sendall(bytes("x"), { signal: gone.signal }),
          b.sendmsg([bytes("x")], { signal: gone.signal }),
          b.sendmsg([bytes("x")], [], { signal: gone.signal }),
        ]
      ) await rejected(call);

      // sendfile(file, { signal }): from offset 0 to the end.
      const path = await Deno.makeTempFile();
      try {
        await Deno.writeTextFile(path, "0123456789");
        using file = await Deno.open(path);
        assert.equal(await withTimeout(b.sendfile(file, { signal })), 10);
        let got = "";
        while (got.length < 10) got += text(await withTimeout(a.recv(10)));
        assert.equal(got, "0123456789");
        await rejected(b.sendfile(file, { signal: gone.signal }));
        await rejected(b.sendfile(file, 0, { signal: gone.signal }));
      } finally {
        await Deno.remove(path);
      }

      // select(), poll objects, selectors: no timeout, so they wait.
      await b.sendall(bytes("m"));
      assert.deepEqual(
        await withTimeout(select.select([a], [], [], { signal })),
        [[a], [], []],
      );
      {
        using ep = select.epoll();
        ep.register(a.fileno(), select.EPOLLIN);
        assert.deepEqual(await withTimeout(ep.poll({ signal })), [[
          a.fileno(),
          select.EPOLLIN,
        ]]);
        assert.equal((await withTimeout(ep.poll(-1, { signal }))).length, 1);
        await rejected(ep.poll({ signal: gone.signal }));
      }
      const po = select.poll();
      po.register(a.fileno(), select.POLLIN);
      assert.equal((await withTimeout(po.poll({ signal }))).length, 1);
      await rejected(po.poll({ signal: gone.signal }));
      {
        using sel = new DefaultSelector();
        sel.register(a, EVENT_READ);
        assert.equal((await withTimeout(sel.select({ signal }))).length, 1);
        await rejected(sel.select({ signal: gone.signal }));
      }
      await rejected(select.select([a], [], [], { signal: gone.signal }));
      assert.equal(text(await a.recv(10)), "m");

      // A file's reads: read() to EOF, readline() a whole line.
      await b.sendall(bytes("line\nrest"));
      b.shutdown(SHUT_WR);
      const f = a.makefile("rb");
      assert.equal(text(await withTimeout(f.readline({ signal }))), "line\n");
      await rejected(f.readline({ signal: gone.signal }));
      await rejected(f.read({ signal: gone.signal }));
      await rejected(f.readlines({ signal: gone.signal }));
      assert.equal(text(await withTimeout(f.read({ signal }))), "rest");
      await f.close();
    },
  );
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "an argument after the options object is a TypeError, not dropped (recv_into(buf, { signal }, MSG_PEEK) would lose the flag), and the socket stays usable",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const { client: a, server: b } = p;
      const signal = new AbortController().signal;
      const buf = new Uint8Array(4);
      const late = { message: /after its options object/ };
      const calls: [string, () => Promise<unknown>][] = [
        ["recv", () => a.recv(10, { signal }, { signal })],
        ["recv_into", () => a.recv_into(buf, { signal }, MSG_PEEK)],
        ["recv_into", () => a.recv_into(buf, 2, { signal }, { signal })],
        ["recvfrom_into", () => a.recvfrom_into(buf, { signal }, MSG_PEEK)],
        ["recvmsg", () => a.recvmsg(10, { signal }, MSG_PEEK)],
        ["recvmsg_into", () => a.recvmsg_into([buf], { signal }, MSG_PEEK)],
        ["sendmsg", () => b.sendmsg([bytes("x")], { signal }, MSG_OOB)],
        ["sendmsg", () => b.sendmsg([bytes("x")], [], { signal }, null)],
        ["select", () => select.select([a], [], [], { signal }, {})],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(withTimeout(call(), 2000), {
          name: "TypeError",
          message: new RegExp(`^${name}\\(\\) got argument \\d`),
        });
      }
      const f = a.makefile("rb");
      await assert.rejects(f.read({ signal }, { signal }), late);
      await assert.rejects(f.readline({ signal }, { signal }), late);
      // Nothing was sent or taken: the pair still carries its bytes.
      await b.sendall(bytes("ok"));
      assert.equal(text(await withTimeout(f.read(2))), "ok");
      await f.close();
    },
  );
}

Deno.test("create_connection(), getaddrinfo() and getfqdn() take { signal } in place of their optional arguments", async () => {
  const signal = new AbortController().signal;
  const gone = new AbortController();
  gone.abort(new Error("gone"));
  using l = listener("deno");
  const addr = l.addr as [string, number];
  using c = await withTimeout(create_connection(addr, { signal }));
  assert.ok(c.fileno() >= 0);
  using c2 = await withTimeout(create_connection(addr, 5, { signal }));
  assert.equal(c2.gettimeout(), 5);
  await assert.rejects(
    create_connection(addr, { signal: gone.signal }),
    { message: "gone" },
  );
  const infos = await withTimeout(getaddrinfo("127.0.0.1", 80, { signal }));
  assert.deepEqual(
    infos,
    await withTimeout(getaddrinfo("127.0.0.1", 80, 0, 0, 0, 0)),
  );
  assert.deepEqual(
    await withTimeout(getaddrinfo("127.0.0.1", 80, AF_INET, { signal })),
    await withTimeout(getaddrinfo("127.0.0.1", 80, AF_INET)),
  );
  await assert.rejects(getaddrinfo("127.0.0.1", 80, { signal: gone.signal }), {
    message: "gone",
  });
  assert.equal(
    typeof await withTimeout(getfqdn({ signal })),
    "string",
  );
  await assert.rejects(getfqdn({ signal: gone.signal }), { message: "gone" });
  // An argument after the options is refused, not dropped.
  const late = { name: "TypeError", message: /after its options object/ };
  await assert.rejects(create_connection(addr, { signal }, ["", 0]), late);
  await assert.rejects(getaddrinfo("127.0.0.1", 80, { signal }, 1), late);
  await assert.rejects(getfqdn({ signal }, { signal }), late);
  await using u = udpPair("deno");
  // sendto's overloads refuse this at compile time; plain JavaScript can
  // still call it so.
  const extra = [bytes("x"), u.aAddr, { signal }, { signal }];
  await assert.rejects(Reflect.apply(u.b.sendto, u.b, extra), late);
});

Deno.test("sendto(data, address, options) takes any options object (also {} or one with more properties); create_connection(address, { backend }) is options too", async () => {
  await using u = udpPair("deno");
  class Options {
    signal = new AbortController().signal;
  }
  const extra = { signal: new AbortController().signal, timeout: 5 };
  for (const options of [{}, extra, new Options()]) {
    assert.equal(await u.b.sendto(bytes("abc"), u.aAddr, options), 3);
    assert.equal(text(await withTimeout(u.a.recv(10))), "abc");
  }
  using l = listener("deno");
  const addr = l.addr as [string, number];
  using c = await withTimeout(create_connection(addr, { backend: "deno" }));
  assert.ok(c.fileno() >= 0);
  using c2 = await withTimeout(
    create_connection(addr, 5, { backend: "deno", all_errors: true }),
  );
  assert.equal(c2.gettimeout(), 5);
});

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "an empty options object ({}, as `signal ? { signal } : {}` makes) is taken as no options by every call that takes { signal }",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const none = {};
      await p.client.send(bytes("ab"), none);
      await p.client.sendall(bytes("cd"), none);
      assert.equal(text(await withTimeout(p.server.recv(1, none))), "a");
      const buf = new Uint8Array(1);
      assert.equal(await withTimeout(p.server.recv_into(buf, none)), 1);
      assert.equal(text(buf), "b");
      const [data] = await withTimeout(p.server.recvfrom(2, none));
      assert.equal(text(data), "cd");
    },
  );
}

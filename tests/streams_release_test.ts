// Socket.readable's promise when a reader lets go (API.md, "Files and
// streams"): releasing or cancelling a reader loses no byte that a later
// recv() would see, and reorders none; bytes a BYOB read took and could not
// hand out (a `min` read half filled, an element's odd byte) go back to the
// socket, which readiness then reports readable. On both backends, read
// from each.
import assert from "node:assert/strict";
import {
  AF_INET,
  BlockingIOError,
  MSG_WAITALL,
  SHUT_RD,
  SHUT_WR,
  type Socket,
  TimeoutError,
} from "../mod.ts";
import {
  epoll,
  EPOLLET,
  EPOLLIN,
  EPOLLONESHOT,
  EPOLLOUT,
  select,
} from "../select.ts";
import { DefaultSelector, EVENT_READ } from "../selectors.ts";
import {
  BACKEND_PAIRS,
  type BackendName,
  BACKENDS,
  bytes,
  connectedPair,
  onBackend,
  type Pair,
  recvExactly,
  sleep,
  text,
  unavailable,
} from "./_helpers.ts";
import { withTimeout } from "./_python.ts";

/** A pair whose `reader`'s readable is read, and its peer `sender`. */
type Peers = Pair & { readonly reader: Socket; readonly sender: Socket };

async function peers(
  readerBackend: BackendName,
  senderBackend: BackendName,
): Promise<Peers> {
  const p = await connectedPair(readerBackend, AF_INET, "path", senderBackend);
  return Object.assign(p, { reader: p.server, sender: p.client });
}

// A default reader of `stream` released while its read waits, no byte
// coming: what the read settled with (a TypeError, as the spec's).
async function releasedMidRead(stream: ReadableStream): Promise<unknown> {
  const first = stream.getReader();
  const read = first.read().then((r) => r, (e: unknown) => e);
  await sleep(20);
  first.releaseLock();
  return await withTimeout(read);
}

// Everything the socket still has, until it is quiet for `ms`.
async function drain(s: Socket, ms = 150): Promise<number[]> {
  const out: number[] = [];
  s.settimeout(ms / 1000);
  try {
    for (let i = 0; i < 1000; i++) {
      const d = await s.recv(4096);
      if (d.length === 0) break;
      out.push(...d);
    }
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
  }
  return out;
}

for (const [r, s] of BACKEND_PAIRS) {
  const ignore = unavailable(s);
  for (const mode of ["default", "byob"] as const) {
    for (const timeout of [null, 5]) {
      Deno.test({
        ...onBackend(
          r,
          `${mode} readers released mid-read (sender ${s}, timeout ${timeout}): each byte once, in order, with recv() between`,
          ignore !== null,
        ),
        fn: async () => {
          await using p = await peers(r, s);
          p.reader.settimeout(timeout);
          const got: number[] = [];
          const ROUNDS = 60;
          for (let i = 0; i < ROUNDS; i++) {
            const stream = p.reader.readable;
            let read: Promise<unknown>;
            let release: () => void;
            if (mode === "byob") {
              const reader = stream.getReader({ mode: "byob" });
              read = reader.read(new Uint8Array(100));
              release = () => reader.releaseLock();
            } else {
              const reader = stream.getReader();
              read = reader.read();
              release = () => reader.releaseLock();
            }
            const taken = read.then(
              (x) => got.push(...(x as { value: Uint8Array }).value),
              (e) => assert.ok(e instanceof TypeError, String(e)),
            );
            // Release before the byte comes, as it comes, or after.
            const sent = p.sender.sendall(new Uint8Array([i]));
            if (i % 3 === 0) await sent;
            if (i % 4 === 1) await sleep(0);
            release();
            await withTimeout(Promise.all([taken, sent]));
            if (i % 5 === 0) {
              // recv() between two readers returns only earlier bytes.
              p.reader.setblocking(false);
              try {
                got.push(...await withTimeout(p.reader.recv(100)));
              } catch (e) {
                if (!(e instanceof BlockingIOError)) throw e;
              }
              p.reader.settimeout(timeout);
            }
          }
          got.push(...await drain(p.reader));
          assert.deepEqual(got, [...Array(ROUNDS).keys()]);
        },
      });
    }
  }

  Deno.test({
    ...onBackend(
      r,
      `a BYOB read with min released half filled gives its bytes back: select() says readable, recv() returns them first (sender ${s})`,
      ignore !== null,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      const read = reader.read(new Uint8Array(10), { min: 10 }).catch((e) => e);
      await p.sender.sendall(bytes("abcdef"));
      await sleep(30);
      reader.releaseLock();
      assert.ok(await withTimeout(read) instanceof TypeError);
      await p.sender.sendall(bytes("gh"));
      await sleep(30);
      const [readable] = await withTimeout(select([p.reader], [], [], 1));
      assert.deepEqual(readable, [p.reader]);
      p.reader.setblocking(false);
      assert.equal(text(await p.reader.recv(3, 0x2 /* MSG_PEEK */)), "abc");
      assert.equal(
        text(await withTimeout(recvExactly(p.reader, 8))),
        "abcdefgh",
      );
    },
  });

  Deno.test({
    ...onBackend(
      r,
      `a BYOB read with min cancelled half filled gives its bytes back; a new stream's reader gets them (sender ${s})`,
      ignore !== null,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      const read = reader.read(new Uint8Array(10), { min: 10 });
      await p.sender.sendall(bytes("abcd"));
      await sleep(30);
      await withTimeout(reader.cancel());
      assert.deepEqual(await withTimeout(read), {
        value: undefined,
        done: true,
      });
      // A selector sees them too.
      using sel = new DefaultSelector();
      sel.register(p.reader, EVENT_READ);
      const events = await withTimeout(sel.select(1));
      assert.equal(events.length, 1);
      await p.sender.sendall(bytes("efgh"));
      p.sender.shutdown(SHUT_WR);
      assert.equal(text(await withTimeout(recvExactly(p.reader, 2))), "ab");
      assert.equal(text(await withTimeout(recvExactly(p.reader, 6))), "cdefgh");
    },
  });

  Deno.test({
    ...onBackend(
      r,
      `BYOB reads with min fill across packets; a whole element resolves and its odd byte comes next (sender ${s})`,
      ignore !== null,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      const read = reader.read(new Uint8Array(8), { min: 6 });
      await p.sender.sendall(bytes("abc"));
      await sleep(20);
      await p.sender.sendall(bytes("def"));
      const full = await withTimeout(read);
      assert.equal(full.done, false);
      assert.equal(text(full.value!), "abcdef");
      assert.equal(full.value!.buffer.byteLength, 8);
      // Three bytes for two-byte elements: one element, and "z" waits.
      await p.sender.sendall(bytes("xyz"));
      await sleep(30);
      const u16 = await withTimeout(reader.read(new Uint16Array(4)));
      assert.equal(u16.value!.constructor, Uint16Array);
      assert.equal(u16.value!.length, 1);
      assert.equal(text(new Uint8Array(u16.value!.buffer, 0, 2)), "xy");
      // A DataView at an offset, filled by the byte given back and the rest.
      await p.sender.sendall(bytes("12"));
      const dv = await withTimeout(
        reader.read(new DataView(new ArrayBuffer(8), 2, 4), { min: 3 }),
      );
      assert.ok(dv.value instanceof DataView);
      assert.equal(dv.value.byteOffset, 2);
      assert.equal(
        text(new Uint8Array(dv.value.buffer, 2, dv.value.byteLength)),
        "z12",
      );
    },
  });

  Deno.test({
    ...onBackend(
      r,
      `EOF ends a BYOB read with min done with what came; an odd byte at EOF is a TypeError and recv() still gets it (sender ${s})`,
      ignore !== null,
    ),
    fn: async () => {
      {
        await using p = await peers(r, s);
        const reader = p.reader.readable.getReader({ mode: "byob" });
        const read = reader.read(new Uint8Array(10), { min: 10 });
        await p.sender.sendall(bytes("abc"));
        p.sender.shutdown(SHUT_WR);
        const end = await withTimeout(read);
        assert.equal(end.done, true);
        assert.equal(text(end.value!), "abc");
      }
      {
        await using p = await peers(r, s);
        const reader = p.reader.readable.getReader({ mode: "byob" });
        const read = reader.read(new Uint16Array(4)).catch((e) => e);
        await p.sender.sendall(bytes("q"));
        p.sender.shutdown(SHUT_WR);
        const err = await withTimeout(read);
        assert.ok(err instanceof TypeError, String(err));
        assert.equal(text(await withTimeout(p.reader.recv(10))), "q");
        assert.equal((await withTimeout(p.reader.recv(10))).length, 0);
      }
    },
  });

  Deno.test({
    ...onBackend(
      r,
      `a timeout in a BYOB read with min errors the stream and loses nothing (sender ${s})`,
      ignore !== null,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      p.reader.settimeout(0.1);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      const read = reader.read(new Uint8Array(10), { min: 10 }).catch((e) => e);
      await p.sender.sendall(bytes("part"));
      assert.ok(await withTimeout(read) instanceof TimeoutError);
      await assert.rejects(withTimeout(reader.closed), TimeoutError);
      await p.sender.sendall(bytes("-rest"));
      p.reader.settimeout(5);
      assert.equal(
        text(await withTimeout(recvExactly(p.reader, 9))),
        "part-rest",
      );
    },
  });
}

for (const backend of BACKENDS) {
  Deno.test({
    ...onBackend(
      backend,
      "BYOB reads with a bad min reject as the spec says and leave the reader usable",
      false,
    ),
    fn: async () => {
      await using p = await peers(backend, backend);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      await assert.rejects(
        reader.read(new Uint8Array(4), { min: 0 }),
        TypeError,
      );
      await assert.rejects(
        reader.read(new Uint16Array(4), { min: 5 }),
        RangeError,
      );
      await assert.rejects(reader.read(new Uint8Array(0)), TypeError);
      await p.sender.sendall(bytes("ok"));
      const got = await withTimeout(
        reader.read(new Uint8Array(4), { min: 2 }),
      );
      assert.equal(text(got.value!), "ok");
    },
  });
}

// Bytes given back to `p.reader`: a BYOB read with min, half filled, then
// its reader released.
async function giveBack(p: Peers, data: string): Promise<void> {
  const reader = p.reader.readable.getReader({ mode: "byob" });
  const read = reader.read(new Uint8Array(1000), { min: 1000 }).catch((e) => e);
  await p.sender.sendall(bytes(data));
  await sleep(30);
  reader.releaseLock();
  assert.ok(await withTimeout(read) instanceof TypeError);
}

for (const [r, s] of BACKEND_PAIRS) {
  const ignore = unavailable(s) !== null;

  Deno.test({
    ...onBackend(
      r,
      `a recv() already waiting when bytes are given back returns them at once, before later ones (sender ${s})`,
      ignore,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      const read = reader.read(new Uint8Array(10), { min: 10 }).catch((e) => e);
      await sleep(5);
      p.reader.settimeout(2);
      const waiting = p.reader.recv(100);
      await p.sender.sendall(bytes("abc"));
      await sleep(30);
      reader.releaseLock();
      await withTimeout(read);
      const t0 = performance.now();
      assert.equal(text(await withTimeout(waiting)), "abc");
      assert.ok(performance.now() - t0 < 500, "the recv() was not woken");
      await p.sender.sendall(bytes("def"));
      assert.equal(text(await withTimeout(p.reader.recv(100))), "def");
    },
  });

  Deno.test({
    ...onBackend(
      r,
      `an aborted pipeTo() leaves the next bytes to recv(), in order (sender ${s})`,
      ignore,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      const abort = new AbortController();
      const piping = p.reader.readable.pipeTo(new WritableStream(), {
        signal: abort.signal,
        preventCancel: true,
      }).catch((e) => e);
      await sleep(20);
      abort.abort(new Error("stop"));
      assert.equal((await withTimeout(piping)).message, "stop");
      await p.sender.sendall(bytes("A"));
      await sleep(30);
      await p.sender.sendall(bytes("B"));
      await sleep(30);
      p.reader.settimeout(0.2);
      const first = text(await withTimeout(p.reader.recv(10)));
      assert.ok(first === "A" || first === "AB", first);
      const reader = p.reader.readable.getReader();
      if (first === "A") {
        assert.equal(text((await withTimeout(reader.read())).value!), "B");
      }
      reader.releaseLock();
    },
  });

  Deno.test({
    ...onBackend(
      r,
      `recvmsg() and recv() with MSG_WAITALL take given-back bytes and wait for the rest (sender ${s})`,
      ignore,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      for (const how of ["recvmsg", "recvmsg_into", "recv"] as const) {
        await giveBack(p, "abc");
        setTimeout(() => p.sender.sendall(bytes("defgh")), 50);
        let got: string;
        if (how === "recvmsg") {
          const [data] = await withTimeout(p.reader.recvmsg(8, 0, MSG_WAITALL));
          got = text(data);
        } else if (how === "recvmsg_into") {
          const a = new Uint8Array(4), b = new Uint8Array(4);
          const [n] = await withTimeout(
            p.reader.recvmsg_into([a, b], 0, MSG_WAITALL),
          );
          assert.equal(n, 8);
          got = text(a) + text(b);
        } else {
          got = text(await withTimeout(p.reader.recv(8, MSG_WAITALL)));
        }
        assert.equal(got, "abcdefgh", how);
      }
    },
  });

  Deno.test({
    ...onBackend(
      r,
      `epoll with given-back bytes: maxevents 1 keeps the whole mask, EPOLLONESHOT and EPOLLET report once, and neither socket starves (sender ${s})`,
      ignore,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      await giveBack(p, "abc");
      const fd = p.reader.fileno();
      {
        using ep = epoll();
        ep.register(fd, EPOLLIN | EPOLLOUT);
        assert.deepEqual(await withTimeout(ep.poll(0, 1)), [[fd, 5]]);
      }
      for (const flag of [EPOLLONESHOT, EPOLLET]) {
        using ep = epoll();
        ep.register(fd, EPOLLIN | flag);
        assert.deepEqual(await withTimeout(ep.poll(0)), [[fd, EPOLLIN]]);
        assert.deepEqual(await withTimeout(ep.poll(0)), []);
      }
      await using q = await peers(r, s);
      await q.sender.sendall(bytes("x"));
      await sleep(30);
      using ep = epoll();
      ep.register(fd, EPOLLIN);
      ep.register(q.reader.fileno(), EPOLLIN);
      const seen = new Set<number>();
      for (let i = 0; i < 4; i++) {
        for (const [f] of await withTimeout(ep.poll(0, 1))) seen.add(f);
      }
      assert.deepEqual(seen, new Set([fd, q.reader.fileno()]));
      assert.equal(text(await withTimeout(p.reader.recv(10))), "abc");
    },
  });
}

for (const backend of BACKENDS) {
  Deno.test({
    ...onBackend(
      backend,
      "a pipe aborted by its signal while its read waits: bytes that come before it lets go of the stream go to the next recv(), not to the pipe, which would drop them",
    ),
    fn: async () => {
      await using p = await peers(backend, backend);
      const got: number[] = [];
      const aborting = Promise.withResolvers<void>();
      const sink = new WritableStream<Uint8Array>({
        write: (chunk) => {
          got.push(...chunk);
        },
        // The pipe holds the stream until the destination's abort is done.
        abort: async () => {
          aborting.resolve();
          await sleep(100);
        },
      });
      const stop = new AbortController();
      const piped = p.reader.readable.pipeTo(sink, {
        signal: stop.signal,
        preventCancel: true,
      }).catch((e) => e);
      await sleep(20); // its read waits for data now
      stop.abort(new Error("stop"));
      await withTimeout(aborting.promise);
      await p.sender.sendall(bytes("after the abort"));
      assert.equal(((await withTimeout(piped)) as Error).message, "stop");
      assert.deepEqual(got, [], "the sink got bytes after the abort");
      assert.equal(
        text(await recvExactly(p.reader, 15)),
        "after the abort",
      );
    },
  });
}

for (const backend of BACKENDS) {
  Deno.test({
    ...onBackend(
      backend,
      "a BYOB read queued behind another takes its buffer at once, and a cancel ends it done with no view",
    ),
    fn: async () => {
      await using p = await peers(backend, backend);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      const first = reader.read(new Uint8Array(4));
      const view = new Uint8Array(4);
      const second = reader.read(view);
      assert.equal(view.byteLength, 0, "the queued read's buffer is not taken");
      await withTimeout(reader.cancel());
      assert.deepEqual(await withTimeout(first), {
        value: undefined,
        done: true,
      });
      assert.deepEqual(await withTimeout(second), {
        value: undefined,
        done: true,
      });
    },
  });
}

for (const backend of BACKENDS) {
  Deno.test({
    ...onBackend(
      backend,
      "a new reader's read after a reader released mid-read gets the next bytes (nothing else holds the process)",
    ),
    fn: async () => {
      await using p = await peers(backend, backend);
      const first = p.reader.readable.getReader();
      first.read().catch(() => {});
      await sleep(20);
      first.releaseLock();
      await p.sender.sendall(bytes("2"));
      // No timer around this read: the read itself must hold the process
      // (the released one's pull must not keep the new one waiting).
      const reader = p.reader.readable.getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      assert.equal(text(value!), "2");
    },
  });
}

Deno.test({
  ...onBackend(
    "deno",
    "pipeThrough() refuses what the built-in one refuses, before it locks the stream",
  ),
  fn: async () => {
    await using p = await peers("deno", "deno");
    const stream = p.reader.readable;
    const bad: [unknown, unknown][] = [
      [{}, undefined],
      [new TransformStream(), { signal: 1 }],
      [new TransformStream(), 5],
    ];
    for (const [transform, options] of bad) {
      // What the built-in ReadableStream says of the same arguments.
      assert.throws(
        () =>
          new ReadableStream().pipeThrough(
            transform as TransformStream,
            options as StreamPipeOptions,
          ),
        TypeError,
      );
      assert.throws(
        () =>
          stream.pipeThrough(
            transform as TransformStream,
            options as StreamPipeOptions,
          ),
        TypeError,
      );
      assert.equal(stream.locked, false);
    }
    await p.sender.sendall(bytes("hi"));
    p.sender.shutdown(SHUT_WR);
    let got = "";
    for await (const s of stream.pipeThrough(new TextDecoderStream())) got += s;
    assert.equal(got, "hi");
  },
});

// Views a BYOB read fills straight besides a plain Uint8Array's: a
// subclass's, and views over a resizable buffer (whose odd byte, for a
// 16-bit view, goes back too).
class Bytes extends Uint8Array {}
const resizable = (n: number) => new ArrayBuffer(n, { maxByteLength: 2 * n });
const OTHER_VIEWS: [string, () => ArrayBufferView<ArrayBuffer>, number][] = [
  ["a Uint8Array subclass", () => new Bytes(10), 10],
  ["a resizable buffer", () => new Uint8Array(resizable(10)), 10],
  [
    "a Uint16Array of a resizable buffer",
    () => new Uint16Array(resizable(10)),
    5,
  ],
];

for (const [r, s] of BACKEND_PAIRS) {
  const ignore = unavailable(s);
  for (const [kind, make, min] of OTHER_VIEWS) {
    for (const how of ["released", "cancelled"] as const) {
      Deno.test({
        ...onBackend(
          r,
          `a BYOB read with min into ${kind}, ${how} half filled, gives its bytes back: recv() returns them first (sender ${s})`,
          ignore !== null,
        ),
        fn: async () => {
          await using p = await peers(r, s);
          const reader = p.reader.readable.getReader({ mode: "byob" });
          const read = reader.read(make(), { min }).catch((e) => e);
          await p.sender.sendall(bytes("abc"));
          await sleep(30);
          if (how === "released") reader.releaseLock();
          else await withTimeout(reader.cancel());
          const out = await withTimeout(read);
          if (how === "released") assert.ok(out instanceof TypeError);
          else assert.deepEqual(out, { value: undefined, done: true });
          await p.sender.sendall(bytes("defgh"));
          assert.equal(
            text(await withTimeout(recvExactly(p.reader, 8))),
            "abcdefgh",
          );
        },
      });
    }
  }

  Deno.test({
    ...onBackend(
      r,
      `a BYOB read into a subclass's view or a resizable buffer resolves as the built-in stream's does (sender ${s})`,
      ignore !== null,
    ),
    fn: async () => {
      await using p = await peers(r, s);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      for (const [, make] of OTHER_VIEWS) {
        // The built-in byte stream's result for the same view.
        const builtin = await new ReadableStream({
          type: "bytes",
          start(c) {
            c.enqueue(bytes("wxyz"));
          },
        }).getReader({ mode: "byob" }).read(make(), { min: 2 });
        await p.sender.sendall(bytes("wxyz"));
        const ours = await withTimeout(reader.read(make(), { min: 2 }));
        assert.equal(ours.done, false);
        const [a, b] = [ours.value!, builtin.value!];
        assert.equal(a.constructor, b.constructor);
        assert.equal(a.buffer.resizable, b.buffer.resizable);
        assert.equal(a.byteLength, b.byteLength);
        assert.deepEqual(
          new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
          new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
        );
      }
    },
  });
}

for (const backend of BACKENDS) {
  for (const by of ["a reader", "the stream"] as const) {
    Deno.test({
      ...onBackend(
        backend,
        `cancel() by ${by} settles at once after a reader was released mid-read, with nothing coming; later bytes reach recv()`,
      ),
      fn: async () => {
        await using p = await peers(backend, backend);
        await releasedMidRead(p.reader.readable);
        await withTimeout(
          by === "a reader"
            ? p.reader.readable.getReader().cancel()
            : p.reader.readable.cancel(),
          2000,
        );
        await p.sender.sendall(bytes("xy"));
        assert.equal(text(await withTimeout(recvExactly(p.reader, 2))), "xy");
      },
    });
  }

  // The released read's pull-into stays at the head of the controller's
  // queue; the spec queues a BYOB read behind it before it looks at whether
  // the stream is closed, so EOF met around the controller must clear it.
  for (
    const ending of ["a BYOB read", "a queued BYOB read", "for await"] as const
  ) {
    Deno.test({
      ...onBackend(
        backend,
        `EOF met by ${ending} after a reader was released mid-read: a BYOB read of the closed stream then ends done at once`,
      ),
      fn: async () => {
        await using p = await peers(backend, backend);
        const stream = p.reader.readable;
        assert.ok(await releasedMidRead(stream) instanceof TypeError);
        await p.sender.sendall(new Uint8Array([1, 0, 0, 0]));
        p.sender.shutdown(SHUT_WR);
        if (ending === "for await") {
          const chunks: number[] = [];
          for await (const c of stream.values({ preventCancel: true })) {
            chunks.push(...c);
          }
          assert.deepEqual(chunks, [1, 0, 0, 0]);
        }
        const reader = stream.getReader({ mode: "byob" });
        if (ending !== "for await") {
          // Wants 8 elements and meets EOF after 1: done, with that one.
          const eight = reader.read(new Int32Array(8), { min: 8 });
          const queued = ending === "a queued BYOB read"
            ? reader.read(new Int32Array(1))
            : null;
          const r = await withTimeout(eight, 2000, "the read that met EOF");
          assert.equal(r.done, true);
          assert.deepEqual([...r.value!], [1]);
          if (queued !== null) {
            const q = await withTimeout(queued, 2000, "the queued read");
            assert.equal(q.done, true);
            assert.equal(q.value!.length, 0);
          }
        }
        const after = await withTimeout(
          reader.read(new Int32Array(1)),
          2000,
          "a BYOB read after EOF",
        );
        assert.equal(after.done, true);
        assert.equal(after.value!.length, 0);
        reader.releaseLock();
      },
    });
  }

  Deno.test({
    ...onBackend(
      backend,
      "writable.abort() with a write in flight to a peer that does not read closes the socket at once; the write rejects with the reason",
    ),
    fn: async () => {
      await using p = await peers(backend, backend);
      const writer = p.sender.writable.getWriter();
      const write = writer.write(new Uint8Array(64 << 20)).catch((e) => e);
      await sleep(50);
      const reason = new Error("enough");
      await withTimeout(writer.abort(reason), 2000);
      assert.equal(p.sender.fileno(), -1);
      assert.equal(await withTimeout(write), reason);
    },
  });

  Deno.test({
    ...onBackend(
      backend,
      "a BYOB read into memory that cannot be transferred (WebAssembly's) rejects with TypeError, as the built-in one's does, and the reader goes on",
    ),
    fn: async () => {
      await using p = await peers(backend, backend);
      const reader = p.reader.readable.getReader({ mode: "byob" });
      const memory = new WebAssembly.Memory({ initial: 1 });
      let read: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        read = reader.read(new Uint8Array(memory.buffer, 0, 10));
      });
      await assert.rejects(read!, TypeError);
      await p.sender.sendall(bytes("ok"));
      const { value } = await withTimeout(reader.read(new Uint8Array(10)));
      assert.equal(text(value!), "ok");
    },
  });

  for (const next of ["for await", "a BYOB reader", "a default reader"]) {
    Deno.test({
      ...onBackend(
        backend,
        `${next} taken the moment an aborted pipe unlocks the stream gets the bytes in order`,
      ),
      fn: async () => {
        await using p = await peers(backend, backend);
        const stream = p.reader.readable;
        const stop = new AbortController();
        const piped = stream.pipeTo(new WritableStream(), {
          signal: stop.signal,
          preventCancel: true,
        }).catch(() => {});
        await sleep(30);
        stop.abort();
        for (let i = 0; i < 10_000 && stream.locked; i++) await null;
        assert.equal(stream.locked, false);
        const got: string[] = [];
        let job: Promise<void>;
        if (next === "for await") {
          job = (async () => {
            for await (const c of stream) got.push(text(c));
          })();
        } else {
          const byob = next === "a BYOB reader";
          const reader = byob
            ? stream.getReader({ mode: "byob" })
            : stream.getReader();
          job = (async () => {
            for (;;) {
              const x = byob
                ? await (reader as ReadableStreamBYOBReader).read(
                  new Uint8Array(100),
                )
                : await (reader as ReadableStreamDefaultReader).read();
              if (x.done) break;
              got.push(text(x.value));
            }
          })();
        }
        await sleep(30);
        await p.sender.sendall(bytes("one"));
        await sleep(30);
        await p.sender.sendall(bytes("two"));
        await sleep(30);
        p.sender.shutdown(SHUT_WR);
        await withTimeout(job);
        await piped;
        assert.deepEqual(got, ["one", "two"]);
      },
    });
  }
}

for (const backend of BACKENDS) {
  for (const min of [undefined, 3]) {
    Deno.test({
      ...onBackend(
        backend,
        `a BYOB read${
          min ? " with min" : ""
        } after a default reader was released mid-read gets the next bytes, in order`,
      ),
      fn: async () => {
        await using p = await peers(backend, backend);
        await releasedMidRead(p.reader.readable);
        const reader = p.reader.readable.getReader({ mode: "byob" });
        const next = reader.read(new Uint8Array(10), { min });
        await p.sender.sendall(bytes("abc"));
        const { value } = await withTimeout(next);
        assert.equal(text(value!), "abc");
        await p.sender.sendall(bytes("def"));
        p.sender.shutdown(SHUT_WR);
        reader.releaseLock();
        assert.equal(text(await withTimeout(recvExactly(p.reader, 3))), "def");
      },
    });
  }
}

// Ending the stream commits the pull-into a released reader left, which
// transfers its buffer: a Deno read still filling it (Deno cannot end one)
// must have handed its bytes to the socket first.
for (const backend of BACKENDS) {
  Deno.test({
    ...onBackend(
      backend,
      "a reader released mid-read, then shutdown(SHUT_RD) and a read that ends the stream: bytes the peer sends after reach recv()",
    ),
    fn: async () => {
      await using p = await peers(backend, "libc");
      const stream = p.reader.readable;
      assert.ok(await releasedMidRead(stream) instanceof TypeError);
      p.reader.shutdown(SHUT_RD);
      const second = stream.getReader();
      assert.equal((await withTimeout(second.read())).done, true);
      second.releaseLock();
      await p.sender.sendall(bytes("after"));
      assert.equal(text(await recvExactly(p.reader, 5)), "after");
    },
  });
}

// A default reader's read that meets EOF through pull() leaves its
// pull-into at the head of the closed stream's queue (the spec commits a
// closed stream's pull-into only to a BYOB reader): a BYOB reader taken
// after must still end done at once (Deno.Conn's readable waits for good).
for (const backend of BACKENDS) {
  for (const how of ["a default reader", "pipeTo"] as const) {
    Deno.test({
      ...onBackend(
        backend,
        `EOF met by ${how} through the controller: a BYOB read of the closed stream then ends done at once`,
      ),
      fn: async () => {
        await using p = await peers(backend, backend);
        const stream = p.reader.readable;
        const got: number[] = [];
        const sent = (async () => {
          await sleep(20);
          await p.sender.sendall(bytes("abc"));
          p.sender.shutdown(SHUT_WR);
        })();
        if (how === "a default reader") {
          const reader = stream.getReader();
          for (let i = 0; i < 10; i++) {
            const r = await withTimeout(reader.read());
            if (r.done) break;
            got.push(...r.value);
          }
          reader.releaseLock();
        } else {
          await withTimeout(stream.pipeTo(
            new WritableStream({ write: (c) => void got.push(...c) }),
          ));
        }
        await sent;
        assert.equal(text(new Uint8Array(got)), "abc");
        const reader = stream.getReader({ mode: "byob" });
        const r = await withTimeout(
          reader.read(new Int16Array(4)),
          2000,
          "a BYOB read of the closed stream",
        );
        assert.equal(r.done, true);
        assert.ok(r.value instanceof Int16Array);
        assert.equal(r.value.length, 0);
        reader.releaseLock();
      },
    });
  }
}

// A reader let go with a read in flight leaves that read's pull-into at the
// head of the controller's queue, which no pull() fills; tee()'s BYOB reads
// of the source are queued behind it and ask for no pull. A branch read
// with a BYOB reader must still get every byte, and EOF.
for (const backend of BACKENDS) {
  for (const how of ["a default reader released", "a pipe aborted"] as const) {
    for (const early of [false, true]) {
      Deno.test({
        ...onBackend(
          backend,
          `tee() after ${how} mid-read (bytes ${
            early ? "before" : "after"
          } the tee): a branch read by a BYOB reader gets every byte, then EOF`,
        ),
        fn: async () => {
          await using p = await peers(backend, backend);
          const stream = p.reader.readable;
          if (how === "a default reader released") {
            await releasedMidRead(stream);
          } else {
            const ac = new AbortController();
            const piped = stream.pipeTo(new WritableStream(), {
              signal: ac.signal,
              preventCancel: true,
            });
            await sleep(20);
            ac.abort();
            await withTimeout(piped.catch(() => {}));
          }
          const send = async () => {
            await p.sender.sendall(bytes("hello"));
            p.sender.shutdown(SHUT_WR);
          };
          if (early) {
            await send();
            await sleep(20);
          }
          const [a, b] = stream.tee();
          const byob = async () => {
            const reader = a.getReader({ mode: "byob" });
            const out: number[] = [];
            for (let i = 0; i < 10; i++) {
              const r = await withTimeout(
                reader.read(new Uint8Array(3)),
                2000,
                "a BYOB read of the branch",
              );
              if (r.done) return out;
              out.push(...r.value!);
            }
            throw new Error("no EOF");
          };
          const whole = async () => {
            const out: number[] = [];
            for await (const c of b) out.push(...c);
            return out;
          };
          const both = Promise.all([byob(), withTimeout(whole())]);
          if (!early) await send();
          const [x, y] = await both;
          assert.equal(text(new Uint8Array(x)), "hello");
          assert.equal(text(new Uint8Array(y)), "hello");
        },
      });
    }
  }
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "BYOB reads queued behind a pending one reject as released when the reader lets go, even if the stream is cancelled next; their bytes stay the socket's",
    ),
    async () => {
      await using p = await connectedPair(backend);
      // What the built-in byte stream does with the same steps.
      const builtin = async (stream: ReadableStream, cancel: () => unknown) => {
        const r = stream.getReader({ mode: "byob" });
        const reads = [
          r.read(new Uint8Array(8), { min: 8 }),
          r.read(new Uint8Array(8)),
        ].map((q) =>
          q.then(
            (v) => v.done ? "done" : "value",
            (e: Error) => e.name,
          )
        );
        r.releaseLock();
        await cancel();
        return await withTimeout(Promise.all(reads));
      };
      const native = new ReadableStream({
        type: "bytes",
        pull: () => new Promise<void>(() => {}),
      });
      const expected = await builtin(native, () => native.cancel());
      assert.deepEqual(expected, ["TypeError", "TypeError"]);
      await p.server.sendall(bytes("abc"));
      await sleep(20);
      const stream = p.client.readable;
      assert.deepEqual(await builtin(stream, () => stream.cancel()), expected);
      await p.server.sendall(bytes("de"));
      assert.equal(text(await recvExactly(p.client, 5)), "abcde");
    },
  );
}

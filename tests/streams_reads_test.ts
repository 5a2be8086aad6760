// Socket.readable's fast reads: `for await` (values()) takes chunks from the
// socket straight and must leave the stream as the spec's iterator would;
// the Deno backend's stream reads must hand every byte to exactly one of
// the stream and recv().
import assert from "node:assert/strict";
import { SHUT_WR, TimeoutError } from "../mod.ts";
import {
  BACKENDS,
  bytes,
  connectedPair,
  libcCase,
  onBackend,
  recvExactly,
  text,
} from "./_helpers.ts";
import { poller } from "../_libc/poller.ts";
import { withTimeout } from "./_python.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function collect(
  chunks: AsyncIterable<Uint8Array>,
  until = Infinity,
): Promise<string> {
  let out = "";
  for await (const chunk of chunks) {
    out += text(chunk);
    if (out.length >= until) break;
  }
  return out;
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "for await ends at EOF and leaves the stream closed and unlocked",
    ),
    async () => {
      await using p = await connectedPair(backend);
      await p.server.sendall(bytes("all of it"));
      p.server.shutdown(SHUT_WR);
      const stream = p.client.readable;
      assert.equal(await withTimeout(collect(stream)), "all of it");
      assert.equal(stream.locked, false);
      const reader = stream.getReader();
      assert.deepEqual(await withTimeout(reader.read()), {
        value: undefined,
        done: true,
      });
      // A new iterator of the closed stream just ends.
      reader.releaseLock();
      assert.equal(await withTimeout(collect(stream)), "");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a BYOB read with bad arguments rejects at once as the built-in reader's, even queued behind a pending read",
    ),
    async () => {
      await using p = await connectedPair(backend);
      // The built-in byte stream's errors for the same calls.
      const native = new ReadableStream({
        type: "bytes",
        pull: () => new Promise<void>(() => {}),
      }).getReader({ mode: "byob" });
      const reader = p.client.readable.getReader({ mode: "byob" });
      const pending = reader.read(new Uint8Array(4));
      const cases: [unknown, unknown][] = [
        [new ArrayBuffer(4), undefined],
        [null, undefined],
        [new Uint8Array(new SharedArrayBuffer(4)), undefined],
        [new Uint8Array(0), undefined],
        [new DataView(new ArrayBuffer(0)), undefined],
        [new Uint8Array(4), "min"],
        [new Uint8Array(4), { min: 0 }],
        [new Uint8Array(4), { min: -1 }],
        [new Uint8Array(4), { min: NaN }],
        [new Uint8Array(4), { min: 5 }],
        [new Uint16Array(2), { min: 3 }],
        [new DataView(new ArrayBuffer(2)), { min: 3 }],
      ];
      native.read(new Uint8Array(4)).catch(() => {});
      for (const [view, opts] of cases) {
        const why = async (r: ReadableStreamBYOBReader) => {
          const got = await withTimeout(
            // deno-lint-ignore no-explicit-any
            r.read(view as any, opts as any).then(
              () => "resolved",
              (e: Error) => `${e.name}: ${e.message}`,
            ),
            1000,
          );
          return got;
        };
        assert.equal(await why(reader), await why(native));
      }
      // The pending read still gets the next bytes.
      await p.server.sendall(bytes("ok"));
      const { value } = await withTimeout(pending);
      assert.equal(text(value!), "ok");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "breaking out of for await cancels the stream; the socket keeps what it had not handed out",
    ),
    async () => {
      await using p = await connectedPair(backend);
      await p.server.sendall(bytes("first"));
      const stream = p.client.readable;
      const iter = stream[Symbol.asyncIterator]();
      assert.equal(text((await withTimeout(iter.next())).value!), "first");
      assert.equal(stream.locked, true);
      assert.throws(() => stream.getReader(), TypeError);
      assert.deepEqual(await withTimeout(iter.return!()), {
        value: undefined,
        done: true,
      });
      assert.equal(stream.locked, false);
      assert.deepEqual(await withTimeout(iter.next()), {
        value: undefined,
        done: true,
      });
      // Cancelled: a reader sees the end; the socket still reads.
      assert.equal((await withTimeout(stream.getReader().read())).done, true);
      await p.server.sendall(bytes("second"));
      assert.equal(text(await withTimeout(recvExactly(p.client, 6))), "second");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "values({ preventCancel: true }): a loop left early hands the stream on, nothing lost or doubled",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const stream = p.client.readable;
      await p.server.sendall(bytes("one"));
      const first = stream.values({ preventCancel: true });
      assert.equal(await withTimeout(collect(first, 3)), "one");
      assert.equal(stream.locked, false);
      await p.server.sendall(bytes("two"));
      p.server.shutdown(SHUT_WR);
      assert.equal(await withTimeout(collect(stream)), "two");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a timeout ends for await with TimeoutError and errors the stream",
    ),
    async () => {
      await using p = await connectedPair(backend);
      p.client.settimeout(0.05);
      const stream = p.client.readable;
      await assert.rejects(withTimeout(collect(stream)), TimeoutError);
      assert.equal(stream.locked, false);
      await assert.rejects(
        withTimeout(stream.getReader().read()),
        TimeoutError,
      );
      // The socket itself still works, and lost nothing.
      p.client.settimeout(null);
      await p.server.sendall(bytes("later"));
      assert.equal(text(await withTimeout(recvExactly(p.client, 5))), "later");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "next() calls made at once come in order; return() waits for the one pending",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const iter = p.client.readable.values();
      const a = iter.next(), b = iter.next();
      const ended = iter.return!();
      await p.server.sendall(bytes("x"));
      assert.equal(text((await withTimeout(a)).value!), "x");
      await sleep(20);
      await p.server.sendall(bytes("y"));
      assert.equal(text((await withTimeout(b)).value!), "y");
      assert.equal((await withTimeout(ended)).done, true);
      await p.server.sendall(bytes("z"));
      assert.equal(text(await withTimeout(recvExactly(p.client, 1))), "z");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "for await takes what the stream had queued before reading the socket",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const stream = p.client.readable;
      await p.server.sendall(bytes("abcde"));
      await sleep(20);
      // Two 4-byte elements asked, five bytes came: one whole element is
      // handed out and the fifth byte waits in the stream's queue.
      const byob = stream.getReader({ mode: "byob" });
      const { value } = await withTimeout(byob.read(new Uint32Array(2)));
      assert.equal(value!.length, 1);
      assert.equal(text(new Uint8Array(value!.buffer, 0, 4)), "abcd");
      byob.releaseLock();
      await p.server.sendall(bytes("fgh"));
      p.server.shutdown(SHUT_WR);
      assert.equal(await withTimeout(collect(stream)), "efgh");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a timeout set after the stream was made applies to its next read",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const reader = p.client.readable.getReader();
      await p.server.sendall(bytes("ok"));
      assert.equal(text((await withTimeout(reader.read())).value!), "ok");
      p.client.settimeout(0.05);
      await assert.rejects(withTimeout(reader.read()), TimeoutError);
    },
  );
  Deno.test(
    onBackend(
      backend,
      "a BYOB read transfers the buffer and fills the view's own range",
    ),
    async () => {
      await using p = await connectedPair(backend);
      await p.server.sendall(bytes("hello"));
      const reader = p.client.readable.getReader({ mode: "byob" });
      const mine = new Uint8Array(16);
      const view = mine.subarray(4, 12);
      const { value, done } = await withTimeout(reader.read(view));
      assert.equal(done, false);
      assert.equal(
        mine.buffer.byteLength,
        0,
        "the caller's buffer is detached",
      );
      assert.equal(value!.buffer.byteLength, 16);
      assert.equal(value!.byteOffset, 4);
      assert.equal(text(value!), "hello");
      // Views of other types still go by the spec's steps.
      await p.server.sendall(bytes("abcd"));
      const wide = await withTimeout(reader.read(new Uint16Array(2)));
      assert.ok(wide.value instanceof Uint16Array);
      assert.equal(text(new Uint8Array(wide.value!.buffer)), "abcd");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "BYOB reads made at once, of any view, come in order",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const reader = p.client.readable.getReader({ mode: "byob" });
      const reads = [
        reader.read(new Uint8Array(1)),
        reader.read(new DataView(new ArrayBuffer(1))),
        reader.read(new Uint8Array(1)),
        reader.read(new Uint8Array(1)),
      ];
      await p.server.sendall(bytes("wxyz"));
      const got = await withTimeout(Promise.all(reads));
      assert.equal(
        got.map((r) => text(new Uint8Array(r.value!.buffer))).join(""),
        "wxyz",
      );
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a BYOB read pending when its reader is released rejects, and recv() gets the bytes",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const reader = p.client.readable.getReader({ mode: "byob" });
      const pending = reader.read(new Uint8Array(64)).catch((e) => e);
      await sleep(20);
      reader.releaseLock();
      assert.ok(await withTimeout(pending) instanceof TypeError);
      await p.server.sendall(bytes("after"));
      assert.equal(text(await withTimeout(recvExactly(p.client, 5))), "after");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a BYOB read pending when its reader cancels ends done, and recv() gets the bytes",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const stream = p.client.readable;
      const reader = stream.getReader({ mode: "byob" });
      const pending = reader.read(new Uint8Array(64));
      await sleep(20);
      await withTimeout(reader.cancel());
      assert.deepEqual(await withTimeout(pending), {
        value: undefined,
        done: true,
      });
      await withTimeout(reader.closed);
      await p.server.sendall(bytes("kept"));
      assert.equal(text(await withTimeout(recvExactly(p.client, 4))), "kept");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "a BYOB reader sees EOF as done with an empty view, and an error on read and closed",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const reader = p.client.readable.getReader({ mode: "byob" });
      p.server.shutdown(SHUT_WR);
      const end = await withTimeout(reader.read(new Uint8Array(8)));
      assert.equal(end.done, true);
      assert.equal(end.value!.length, 0);
      assert.equal(end.value!.buffer.byteLength, 8);
      await withTimeout(reader.closed);
      await using q = await connectedPair(backend);
      q.client.settimeout(0.05);
      const r = q.client.readable.getReader({ mode: "byob" });
      await assert.rejects(
        withTimeout(r.read(new Uint8Array(8))),
        TimeoutError,
      );
      await assert.rejects(withTimeout(r.closed), TimeoutError);
    },
  );
}

Deno.test(
  onBackend(
    "deno",
    "a recv() that waits while the stream's read is pending gets the next bytes, not EOF",
  ),
  async () => {
    await using p = await connectedPair("deno");
    const reader = p.client.readable.getReader();
    const streamRead = reader.read();
    await sleep(20);
    p.client.settimeout(5);
    const recv = p.client.recv(10);
    await sleep(20);
    await p.server.sendall(bytes("one"));
    assert.equal(text((await withTimeout(streamRead)).value!), "one");
    await sleep(20);
    await p.server.sendall(bytes("two"));
    assert.equal(text(await withTimeout(recv)), "two");
  },
);

Deno.test(
  onBackend(
    "deno",
    "bytes that reach a released reader's read go back to the socket, in order",
  ),
  async () => {
    await using p = await connectedPair("deno");
    const stream = p.client.readable;
    for (let i = 0; i < 20; i++) {
      const reader = stream.getReader({ mode: "byob" });
      const pending = reader.read(new Uint8Array(16)).catch((e) => e);
      // Release as the bytes arrive: sometimes before, sometimes after.
      const sent = p.server.sendall(bytes(`m${String(i).padStart(2, "0")}`));
      if (i % 2 === 0) await sent;
      reader.releaseLock();
      await sent;
      const got = await withTimeout(pending);
      let seen = "";
      if (!(got instanceof TypeError)) seen = text(got.value);
      // Whatever the reader did not get, recv() does.
      const want = `m${String(i).padStart(2, "0")}`;
      if (seen !== want) {
        assert.equal(seen, "");
        assert.equal(text(await withTimeout(recvExactly(p.client, 3))), want);
      }
    }
  },
);

Deno.test({
  ...libcCase(
    "libc: cancelling readable with a read parked resolves once the read has let go, and recv() gets the bytes",
  ),
  fn: async () => {
    await using p = await connectedPair("libc");
    const reader = p.client.readable.getReader();
    const pending = reader.read();
    await sleep(20);
    assert.equal(poller().running, true, "the read is not parked");
    await reader.cancel();
    // Nothing left running once cancel() resolves: no call in flight.
    assert.equal(poller().running, false);
    assert.deepEqual(await pending, { value: undefined, done: true });
    await p.server.sendall(bytes("kept"));
    assert.equal(text(await withTimeout(recvExactly(p.client, 4))), "kept");
  },
});

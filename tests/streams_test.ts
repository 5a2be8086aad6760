// Socket.readable / Socket.writable: Web Streams shaped like Deno.Conn's,
// on both backends and mixed. Nothing lost when a reader lets go.
import assert from "node:assert/strict";
import { SHUT_WR } from "../mod.ts";
import {
  BACKENDS,
  bytes,
  connectedPair,
  onBackend,
  pattern,
  recvExactly,
  sha256,
  sleep,
  text,
} from "./_helpers.ts";
import { withTimeout } from "./_python.ts";
import { proxyTests } from "./_proxy.ts";

async function readAll(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    parts.push(chunk.slice());
    size += chunk.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(backend, "readable delivers every byte and ends at EOF"),
    async () => {
      await using p = await connectedPair(backend);
      const data = pattern(1 << 20, 1);
      const sent = p.server.sendall(data).then(() =>
        p.server.shutdown(SHUT_WR)
      );
      const got = await withTimeout(readAll(p.client.readable), 10_000);
      await sent;
      assert.equal(await sha256(got), await sha256(data));
    },
  );

  Deno.test(
    onBackend(
      backend,
      "readable works with a BYOB reader filling its own buffer",
    ),
    async () => {
      await using p = await connectedPair(backend);
      await p.server.sendall(bytes("abcdefgh"));
      const reader = p.client.readable.getReader({ mode: "byob" });
      const { value } = await withTimeout(reader.read(new Uint8Array(3)));
      assert.equal(text(value!), "abc");
      reader.releaseLock();
      assert.equal(text(await withTimeout(recvExactly(p.client, 5))), "defgh");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "releasing a reader with a read pending loses nothing: recv() gets what came after",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const reader = p.client.readable.getReader();
      const pending = reader.read().catch((e) => e);
      await new Promise((r) => setTimeout(r, 20));
      reader.releaseLock();
      assert.equal((await pending).name, "TypeError");
      await p.server.sendall(bytes("after release"));
      assert.equal(
        text(await withTimeout(recvExactly(p.client, 13))),
        "after release",
      );
    },
  );

  Deno.test(
    onBackend(backend, "cancelling readable with a read pending loses nothing"),
    async () => {
      await using p = await connectedPair(backend);
      const reader = p.client.readable.getReader();
      const pending = reader.read();
      await new Promise((r) => setTimeout(r, 20));
      await reader.cancel();
      assert.deepEqual(await pending, { value: undefined, done: true });
      await p.server.sendall(bytes("kept"));
      assert.equal(text(await withTimeout(recvExactly(p.client, 4))), "kept");
    },
  );

  Deno.test(
    onBackend(
      backend,
      "writable.close() shuts down writing only; abort() closes the socket",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const writer = p.client.writable.getWriter();
      await writer.write(bytes("one"));
      await writer.close();
      assert.equal(text(await withTimeout(recvExactly(p.server, 3))), "one");
      assert.equal((await withTimeout(p.server.recv(10))).length, 0);
      // Reading still works after SHUT_WR.
      await p.server.sendall(bytes("back"));
      assert.equal(text(await withTimeout(recvExactly(p.client, 4))), "back");
      await using q = await connectedPair(backend);
      await q.client.writable.abort();
      assert.equal(q.client.fileno(), -1);
    },
  );

  Deno.test(
    onBackend(
      backend,
      "writable.abort() ends a write stuck on a peer that does not read, with a makefile() file still open",
    ),
    async () => {
      await using p = await connectedPair(backend);
      // The file keeps the descriptor open past close() (Python's rule).
      await using _rfile = p.client.makefile("rb");
      const writer = p.client.writable.getWriter();
      const stuck = writer.write(new Uint8Array(16 << 20)).catch((e) => e);
      await sleep(50);
      const reason = new Error("give up");
      await withTimeout(writer.abort(reason));
      assert.equal(await withTimeout(stuck), reason);
    },
  );

  Deno.test(
    onBackend(
      backend,
      "writable applies backpressure: 32 MiB to a reader that waits is not all taken",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const writer = p.client.writable.getWriter();
      const chunk = new Uint8Array(1 << 20);
      let accepted = 0;
      const writing = (async () => {
        for (let i = 0; i < 32; i++) {
          await writer.ready;
          writer.write(chunk).then(() => accepted++, () => {});
        }
        await writer.close();
      })();
      await new Promise((r) => setTimeout(r, 300));
      // The kernel's buffers hold a few MiB at most; the rest waits.
      assert.ok(accepted < 16, `${accepted} MiB taken while nobody read`);
      const got = await withTimeout(
        recvExactly(p.server, 32 << 20, 20_000),
        25_000,
      );
      assert.equal(got.length, 32 << 20);
      await writing;
      assert.equal(accepted, 32);
    },
  );
}

proxyTests(
  64 << 20,
  60_000,
  (back) =>
    `readable piped into another socket's writable is an echo proxy (to ${back}): 64 MiB intact`,
);

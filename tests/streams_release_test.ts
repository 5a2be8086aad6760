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
  SHUT_WR,
  type Socket,
  TimeoutError,
} from "../mod.ts";
import { select } from "../select.ts";
import { DefaultSelector, EVENT_READ } from "../selectors.ts";
import {
  type BackendName,
  BACKENDS,
  bytes,
  listener,
  onBackend,
  recvExactly,
  sleep,
  sock,
  text,
  unavailable,
} from "./_helpers.ts";
import { withTimeout } from "./_python.ts";

interface Peers extends AsyncDisposable {
  /** The socket whose readable is read. */
  reader: Socket;
  /** Its peer. */
  sender: Socket;
}

async function peers(
  readerBackend: BackendName,
  senderBackend: BackendName,
): Promise<Peers> {
  const l = listener(readerBackend, AF_INET);
  const sender = sock(senderBackend, AF_INET);
  try {
    const [, [reader]] = await withTimeout(
      Promise.all([sender.connect(l.addr), l.sock.accept()]),
    );
    l[Symbol.dispose]();
    return {
      reader,
      sender,
      [Symbol.asyncDispose]: () => {
        reader.close();
        sender.close();
        return Promise.resolve();
      },
    };
  } catch (e) {
    sender.close();
    l[Symbol.dispose]();
    throw e;
  }
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

const PAIRS = BACKENDS.flatMap((r) => BACKENDS.map((s) => [r, s] as const));

for (const [r, s] of PAIRS) {
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

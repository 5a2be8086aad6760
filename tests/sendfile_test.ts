// socket.sendfile(): CPython 3.11's results and errors (checked with python3:
// offset -1 is OSError 22, 2**63 OverflowError, count 0 ValueError, 1.5
// TypeError, an empty file sends 0 even non-blocking or with a bad offset, an offset past the end sends 0 and leaves the
// position), on both backends: sendfile(2) on libc, read/send on Deno.
import assert from "node:assert/strict";
import {
  AF_INET,
  OSError,
  SOCK_DGRAM,
  SOCK_STREAM,
  socket,
  UnsupportedOperation,
  ValueError,
} from "../mod.ts";
import {
  type BackendName,
  BACKENDS,
  bytes,
  connectedPair,
  onBackend,
  pattern,
  recvExactly,
  sha256,
} from "./_helpers.ts";
import { withTimeout } from "./_python.ts";

async function tempFile(data: Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "sendfile-" });
  await Deno.writeFile(path, data);
  return path;
}

const position = (f: Deno.FsFile) => f.seek(0, Deno.SeekMode.Current);

/**
 * sendfile() of `data` from a temp file over a connected pair on `backend`,
 * from `offset` for `count` bytes (all by default), with the peer reading
 * that many: what sendfile() returned, what arrived, and the file's
 * position after.
 */
async function sendSpan(
  backend: BackendName,
  data: Uint8Array,
  offset = 0,
  count = data.length - offset,
): Promise<{ sent: number; got: Uint8Array; at: number }> {
  const path = await tempFile(data);
  try {
    await using p = await connectedPair(backend);
    using file = await Deno.open(path);
    const [sent, got] = await withTimeout(
      Promise.all([
        p.client.sendfile(file, offset, count),
        recvExactly(p.server, count, 30_000),
      ]),
      30_000,
    );
    return { sent, got, at: await position(file) };
  } finally {
    await Deno.remove(path);
  }
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "sendfile() sends from offset, at most count, and leaves the position at offset + sent",
    ),
    async () => {
      const data = pattern(100_000, 3);
      const path = await tempFile(data);
      try {
        await using p = await connectedPair(backend);
        using file = await Deno.open(path);
        assert.equal(await p.client.sendfile(file), data.length);
        assert.equal(await position(file), data.length);
        assert.deepEqual(
          await withTimeout(recvExactly(p.server, data.length)),
          data,
        );
        assert.equal(await p.client.sendfile(file, 10, 1000), 1000);
        assert.equal(await position(file), 1010);
        assert.deepEqual(
          await withTimeout(recvExactly(p.server, 1000)),
          data.subarray(10, 1010),
        );
        // Past the end: nothing sent, the position where it was.
        assert.equal(await p.client.sendfile(file, 200_000), 0);
        assert.equal(await position(file), 1010);
      } finally {
        await Deno.remove(path);
      }
    },
  );

  Deno.test(
    onBackend(backend, "sendfile() argument errors are CPython's"),
    async () => {
      const path = await tempFile(pattern(100));
      const empty = await tempFile(new Uint8Array(0));
      try {
        await using p = await connectedPair(backend);
        using file = await Deno.open(path);
        await assert.rejects(
          p.client.sendfile(file, -1),
          (e) => e instanceof OSError && e.errno === 22,
        );
        // Past 64 bits: python3's OverflowError, for the count first.
        for (const offset of [2 ** 63, 2 ** 64, -(2 ** 63) - 4096]) {
          await assert.rejects(p.client.sendfile(file, offset), {
            name: "OverflowError",
            message: "Python int too large to convert to C long",
          });
        }
        for (const offset of [0, 2 ** 63, 1.5]) {
          await assert.rejects(p.client.sendfile(file, offset, 2 ** 63), {
            name: "OverflowError",
            message: "Python int too large to convert to C ssize_t",
          });
        }
        await assert.rejects(p.client.sendfile(file, 1.5), {
          name: "TypeError",
          message: "'float' object cannot be interpreted as an integer",
        });
        await assert.rejects(p.client.sendfile(file, 0, 0), {
          name: "ValueError",
          message: "count must be a positive integer (got 0)",
        });
        await assert.rejects(p.client.sendfile(file, 0, 1.5), {
          name: "TypeError",
          message: "count must be a positive integer (got 1.5)",
        });
        // Not a file: CPython's AttributeError is a TypeError here, and the
        // socket stays usable.
        for (const [notFile, name] of [["x", "str"], [null, "NoneType"]]) {
          await assert.rejects(p.client.sendfile(notFile as never), {
            name: "TypeError",
            message: `sendfile() takes an open Deno.FsFile, not '${name}'`,
          });
        }
        assert.equal(await p.client.sendfile(file, 98), 2);
        assert.deepEqual(
          await recvExactly(p.server, 2),
          pattern(100).subarray(98),
        );
        p.client.setblocking(false);
        using none = await Deno.open(empty);
        assert.equal(await p.client.sendfile(none), 0);
        // An empty file sends nothing before the offset is looked at.
        assert.equal(await p.client.sendfile(none, -1), 0);
        assert.equal(await p.client.sendfile(none, 2 ** 63), 0);
        assert.equal(await p.client.sendfile(none, 1.5), 0);
        await assert.rejects(
          p.client.sendfile(file),
          (e) =>
            e instanceof ValueError &&
            e.message === "non-blocking sockets are not supported",
        );
        using udp = socket(AF_INET, SOCK_DGRAM, 0, { backend });
        await assert.rejects(udp.sendfile(file), {
          name: "ValueError",
          message: "only SOCK_STREAM type sockets are supported",
        });
      } finally {
        await Deno.remove(path);
        await Deno.remove(empty);
      }
    },
  );

  Deno.test(
    onBackend(
      backend,
      "sendfile() takes a bigint or a boolean offset and count as the ints they are in Python",
    ),
    async () => {
      // python3: sendfile(f, True) sends from offset 1; count True sends 1
      // byte, False is ValueError "(got False)".
      const data = pattern(100, 4);
      const path = await tempFile(data);
      try {
        await using p = await connectedPair(backend);
        using file = await Deno.open(path);
        const send = p.client.sendfile.bind(p.client) as (
          ...args: unknown[]
        ) => Promise<number>;
        assert.equal(await send(file, true, 2n), 2);
        assert.equal(await position(file), 3);
        assert.equal(await send(file, 98n, true), 1);
        assert.equal(await position(file), 99);
        assert.deepEqual(
          await withTimeout(recvExactly(p.server, 3)),
          Uint8Array.of(data[1], data[2], data[98]),
        );
        await assert.rejects(send(file, 0, false), {
          name: "ValueError",
          message: "count must be a positive integer (got False)",
        });
        await assert.rejects(send(file, 0, -3n), {
          name: "ValueError",
          message: "count must be a positive integer (got -3)",
        });
        await assert.rejects(send(file, 0, NaN), {
          name: "TypeError",
          message: "count must be a positive integer (got nan)",
        });
        await assert.rejects(send(file, 2n ** 64n), {
          name: "OverflowError",
          message: "Python int too large to convert to C long",
        });
      } finally {
        await Deno.remove(path);
      }
    },
  );

  Deno.test(
    onBackend(backend, "sendfile() of 64 MiB arrives intact"),
    async () => {
      const data = pattern(64 << 20, 9);
      const { sent, got } = await sendSpan(backend, data);
      assert.equal(sent, data.length);
      assert.equal(await sha256(got), await sha256(data));
    },
  );

  Deno.test(
    onBackend(
      backend,
      "sendfile() from an unaligned offset, for a count across many calls, sends exactly that span",
    ),
    async () => {
      // Neither the offset nor the count is a multiple of a page, of the
      // libc backend's 60 KiB calls or of its 4 MiB batches.
      const data = pattern(10 << 20, 5);
      const offset = 4097;
      const count = (9 << 20) + 12345;
      const { sent, got, at } = await sendSpan(backend, data, offset, count);
      assert.equal(sent, count);
      assert.equal(at, offset + count);
      assert.equal(
        await sha256(got),
        await sha256(data.subarray(offset, offset + count)),
      );
    },
  );

  Deno.test(
    onBackend(
      backend,
      "sendfile() to a peer that stops reading times out with TimeoutError",
    ),
    async () => {
      const path = await tempFile(pattern(32 << 20));
      try {
        await using p = await connectedPair(backend);
        using file = await Deno.open(path);
        p.client.settimeout(0.2);
        await assert.rejects(
          withTimeout(p.client.sendfile(file), 10_000),
          { name: "TimeoutError" },
        );
        // What was sent is counted in the file's position.
        assert.ok(await position(file) > 0);
      } finally {
        await Deno.remove(path);
      }
    },
  );
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "sendfile() of a closed file is ValueError, of a file not open for reading UnsupportedOperation('read'), as python3; nothing is sent",
    ),
    async () => {
      await using p = await connectedPair(backend);
      const path = await Deno.makeTempFile();
      try {
        await Deno.writeTextFile(path, "hello");
        const writeOnly = await Deno.open(path, { append: true });
        // Another file open for reading on the same path changes nothing:
        // what counts is the file given.
        using _reader = await Deno.open(path);
        try {
          await assert.rejects(p.client.sendfile(writeOnly), {
            name: "UnsupportedOperation",
            message: "read",
          });
          assert.ok(
            await p.client.sendfile(writeOnly).catch((e) =>
              e instanceof UnsupportedOperation && e instanceof OSError
            ),
          );
        } finally {
          writeOnly.close();
        }
        const closed = await Deno.open(path);
        closed.close();
        await assert.rejects(p.client.sendfile(closed), ValueError);
        await assert.rejects(p.client.sendfile(closed), {
          message: "I/O operation on closed file",
        });
        // The socket is still usable, and nothing went before.
        using file = await Deno.open(path);
        assert.equal(await p.client.sendfile(file), 5);
        assert.equal(
          new TextDecoder().decode(await recvExactly(p.server, 5)),
          "hello",
        );
      } finally {
        await Deno.remove(path);
      }
    },
  );
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "sendfile() reads only the file it was given, though another file on the same path closes and its number goes to a third file meanwhile; no descriptor is left open",
    ),
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "sendfile-" });
      const size = 8 << 20;
      // Descriptors of this process on the test's own file (other tests run
      // in this process too: a count of all would move with them).
      const onFile = () =>
        [...Deno.readDirSync("/proc/self/fd")].filter(({ name }) => {
          try {
            return Deno.readLinkSync(`/proc/self/fd/${name}`) ===
              `${dir}/public`;
          } catch {
            return false;
          }
        }).length;
      try {
        await Deno.writeFile(`${dir}/public`, new Uint8Array(size).fill(0x41));
        await Deno.writeFile(`${dir}/secret`, new Uint8Array(size).fill(0x53));
        await using p = await connectedPair(backend);
        // The libc backend looks for a descriptor on the same file: `other`
        // is one, opened first.
        const other = await Deno.open(`${dir}/public`);
        using file = await Deno.open(`${dir}/public`);
        let third: Deno.FsFile | null = null;
        try {
          const sending = p.client.sendfile(file);
          const counts = await withTimeout(
            (async () => {
              let got = 0, foreign = 0;
              while (got < size) {
                const chunk = await p.server.recv(65536);
                if (chunk.length === 0) break;
                got += chunk.length;
                for (const b of chunk) if (b !== 0x41) foreign++;
                if (third === null && got > 1 << 20) {
                  other.close();
                  third = await Deno.open(`${dir}/secret`);
                }
              }
              return { got, foreign };
            })(),
            30_000,
          );
          assert.equal(await sending, size);
          assert.deepEqual(counts, { got: size, foreign: 0 });
        } finally {
          try {
            other.close();
          } catch { /* closed above */ }
          (third as Deno.FsFile | null)?.close();
        }
        file.close();
        assert.equal(onFile(), 0);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "sendfile() on a closed socket: ValueError 'Invalid file descriptor: -1' after the file's checks (an empty file sends 0), as python3",
    ),
    async () => {
      const path = await tempFile(bytes("hello"));
      const empty = await tempFile(new Uint8Array(0));
      try {
        const s = socket(AF_INET, SOCK_STREAM, 0, { backend });
        s.close();
        using file = await Deno.open(path);
        await assert.rejects(s.sendfile(file), {
          name: "ValueError",
          message: "Invalid file descriptor: -1",
        });
        assert.equal(await position(file), 0);
        using none = await Deno.open(empty);
        assert.equal(await s.sendfile(none), 0);
      } finally {
        await Deno.remove(path);
        await Deno.remove(empty);
      }
    },
  );
}

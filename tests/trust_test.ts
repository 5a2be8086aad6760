// Defects found by an adversarial review (issue 13): each test failed before
// its fix. Expected values are CPython 3.11's on Linux.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  MSG_TRUNC,
  SOCK_DGRAM,
  socket,
  socketpair,
} from "../mod.ts";
import { BACKENDS, backendTest, libcTest } from "./_helpers.ts";

const encode = (s: string) => new TextEncoder().encode(s);

libcTest(
  "recv(bufsize, MSG_TRUNC) past bufsize: the datagram's length, and no byte another socket received",
  async () => {
    const [a, b] = await socketpair(AF_UNIX, SOCK_DGRAM);
    const [c, d] = await socketpair(AF_UNIX, SOCK_DGRAM);
    using _a = a, _b = b, _c = c, _d = d;
    // Another socket's receive goes through the same scratch memory first.
    await c.send(encode("SECRET-SECRET-SECRET"));
    assert.equal((await d.recv(100)).length, 20);
    await a.send(encode("0123456789"));
    const got = await b.recv(4, MSG_TRUNC);
    // CPython: len(b.recv(4, MSG_TRUNC)) == 10, the first 4 bytes real.
    assert.equal(got.length, 10);
    assert.deepEqual(got.subarray(0, 4), encode("0123"));
    assert.deepEqual(got.subarray(4), new Uint8Array(6));
    await a.send(encode("abcdefghij"));
    const [data] = await b.recvfrom(3, MSG_TRUNC);
    assert.deepEqual([data.length, ...data.subarray(3)], [
      10,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
  },
);

for (const backend of BACKENDS) {
  backendTest(
    backend,
    "a NUL in a host name is TypeError on connect, sendto and bind, never a cut name",
    async () => {
      const host = "127.0.0.1\0.example.com";
      const message = "host name must not contain null character";
      using tcp = socket(AF_INET, undefined, undefined, { backend });
      await assert.rejects(tcp.connect([host, 80]), {
        name: "TypeError",
        message,
      });
      await assert.rejects(tcp.connect_ex([host, 80]), {
        name: "TypeError",
        message,
      });
      assert.throws(() => tcp.bind([host, 0]), { name: "TypeError", message });
      using udp = socket(AF_INET, SOCK_DGRAM, undefined, { backend });
      await assert.rejects(udp.sendto(new Uint8Array(1), [host, 9]), {
        name: "TypeError",
        message,
      });
      // The socket is still usable, as Python's is.
      tcp.bind(["127.0.0.1", 0]);
      assert.equal(tcp.getsockname()[0], "127.0.0.1");
    },
  );
}

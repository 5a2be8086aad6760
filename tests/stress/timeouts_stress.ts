// Timeouts, the long run: thousands of recv() calls time out against a slow
// peer, interleaved with data, on stream and datagram sockets of both
// backends; nothing may be lost, repeated or reordered.
import assert from "node:assert/strict";
import { BACKENDS, connectedPair, onBackend } from "../_helpers.ts";
import { datagramTimeouts, streamTimeouts } from "./_load.ts";

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      `2,000 stream chunks and 2,000 datagrams from slow peers, read with a 2 ms timeout: thousands of timeouts, nothing lost or reordered`,
    ),
    async () => {
      await using p = await connectedPair(backend);
      const [s, d] = await Promise.all([
        streamTimeouts(p.client, p.server, 2000, 11, 60_000),
        datagramTimeouts(backend, 2000, 12, 60_000),
      ]);
      console.log(
        `${backend} timeouts: stream ${JSON.stringify(s)}, datagram ${
          JSON.stringify(d)
        }`,
      );
      assert.ok(s.timeouts >= 1000, `stream: only ${s.timeouts} timeouts`);
      assert.ok(d.timeouts >= 1000, `datagram: only ${d.timeouts} timeouts`);
    },
  );
}

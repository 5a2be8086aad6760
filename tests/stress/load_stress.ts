// Load, the long run: 1,000 concurrent connections per backend, each sending
// 256 KiB in random chunks and checking the echo by hash; then 10,000
// connect/accept/close cycles per backend in a child process that checks its
// descriptors (the lowest free numbers stay the same) and must exit on its
// own: no timer or op left behind.
import assert from "node:assert/strict";
import { BACKENDS, onBackend } from "../_helpers.ts";
import { cyclesInChild, echoLoad } from "./_load.ts";

const CONNS = 1000;
const BYTES = 256 << 10;

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      `a server echoes ${CONNS} concurrent connections of ${
        BYTES >> 10
      } KiB in random chunks, every byte in order`,
    ),
    async () => {
      const r = await echoLoad(backend, CONNS, BYTES, 48 << 10, 42, 120_000);
      console.log(`${backend} load: ${JSON.stringify(r)}`);
      assert.equal(r.connections, CONNS);
    },
  );
}

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      `10,000 connect/accept/close cycles leave no descriptor behind`,
    ),
    async () => {
      const r = await cyclesInChild(backend, 10_000, 90_000);
      console.log(`${backend} cycles: ${JSON.stringify(r)}`);
      assert.equal(r.cycles, 10_000);
      assert.deepEqual(r.after, r.before, "descriptors leaked by the cycles");
      assert.deepEqual(
        r.afterClose,
        r.base,
        "descriptors left after the last close",
      );
    },
  );
}

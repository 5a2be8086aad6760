import assert from "node:assert/strict";
import { copyOut } from "./_bytes.ts";

Deno.test("copyOut() results never change when the source is reused", () => {
  const src = new Uint8Array(64);
  const results: Uint8Array[] = [];
  // Enough small results to fill several pools.
  for (let i = 0; i < 1000; i++) {
    src.fill(i & 0xff);
    results.push(copyOut(src, 1 + (i % 64)));
  }
  results.forEach((r, i) => {
    assert.equal(r.length, 1 + (i % 64));
    assert.ok(r.every((b) => b === (i & 0xff)), `result ${i} changed`);
  });
});

Deno.test("copyOut() results do not overlap, and start 8-byte aligned", () => {
  const src = new Uint8Array(100).fill(1);
  const a = copyOut(src, 3);
  const b = copyOut(src, 5);
  assert.equal(a.byteOffset % 8, 0);
  assert.equal(b.byteOffset % 8, 0);
  a.fill(9);
  assert.deepEqual(b, new Uint8Array(5).fill(1));
});

Deno.test("copyOut() gives a large result a buffer of its own", () => {
  const src = new Uint8Array(65536).fill(7);
  const r = copyOut(src, 5000);
  assert.equal(r.byteOffset, 0);
  assert.equal(r.buffer.byteLength, 5000);
  assert.equal(copyOut(src, 0).length, 0);
  assert.equal(copyOut(src).length, 65536);
});

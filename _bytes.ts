// The bytes a receive hands out. Small results are cut from a shared pool,
// as Node's Buffer does: V8 in Deno spends about 1.3 µs making any new
// ArrayBuffer, more than the rest of a small non-blocking recv on either
// backend, while a view on an existing one costs 0.06 µs. A region of the
// pool is handed out once and never written again, so no result can see
// another's bytes; results can share an underlying `.buffer`, which is why a
// caller who transfers or detaches it must copy first (as with Node's
// Buffer).

const POOL_SIZE = 8192;
// Larger results get their own ArrayBuffer: the allocation is then a small
// part of their cost, and a kept small result cannot pin a large pool.
const POOLED_MAX = POOL_SIZE >>> 1;

let pool = new Uint8Array(POOL_SIZE);
let used = 0;

/**
 * A copy of the first `n` bytes of `src` that the caller owns.
 *
 * @param src Where the bytes are (a scratch or read-ahead buffer).
 * @param n How many to copy.
 * @returns A new array of `n` bytes, unaliased with `src`.
 */
export function copyOut(
  src: Uint8Array,
  n: number = src.length,
): Uint8Array<ArrayBuffer> {
  if (n > POOLED_MAX) return src.slice(0, n);
  if (used + n > POOL_SIZE) {
    pool = new Uint8Array(POOL_SIZE);
    used = 0;
  }
  const out = pool.subarray(used, used + n);
  // Eight-byte aligned, so that a caller's wider view over a result works.
  used = (used + n + 7) & ~7;
  out.set(src.subarray(0, n));
  return out;
}

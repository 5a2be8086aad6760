// 1 GiB through an echo proxy made of Web Streams (readable piped into
// writable), on all four backend pairings, checked by hash.
import { proxyTests } from "../_proxy.ts";

proxyTests(
  1 << 30,
  300_000,
  (back) =>
    `readable piped into writable (to ${back}): 1 GiB through an echo proxy, intact`,
);

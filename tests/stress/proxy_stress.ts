// 1 GiB through an echo proxy made of Web Streams (readable piped into
// writable), on all four backend pairings, checked by hash.
import { onBackend } from "../_helpers.ts";
import { withTimeout } from "../_python.ts";
import { proxyCase } from "../_proxy.ts";

for (
  const [front, back] of [
    ["deno", "deno"],
    ["libc", "libc"],
    ["deno", "libc"],
    ["libc", "deno"],
  ] as const
) {
  Deno.test(
    {
      ...onBackend(
        front,
        `readable piped into writable (to ${back}): 1 GiB through an echo proxy, intact`,
      ),
      ignore: onBackend(front, "").ignore || onBackend(back, "").ignore,
    },
    () => withTimeout(proxyCase(front, back, 1 << 30), 300_000, "1 GiB proxy"),
  );
}

// An echo proxy made of Web Streams: a client sends `size` bytes to a proxy
// that pipes each socket's readable into the other's writable, in front of
// an echo server that pipes its own readable into its writable. Shared by
// the suite (64 MiB) and deno task stress (1 GiB).
import assert from "node:assert/strict";
import { AF_INET, SHUT_WR, type Socket } from "../mod.ts";
import {
  type BackendName,
  listener,
  onBackend,
  pattern,
  recvExactly,
  sha256,
  sock,
} from "./_helpers.ts";
import { withTimeout } from "./_python.ts";

/**
 * Send `size` bytes through the proxy (front backend) to the echo server
 * (back backend) and back; assert they return intact.
 */
export async function proxyCase(
  front: BackendName,
  back: BackendName,
  size: number,
): Promise<void> {
  // client -> [front server | proxy | back client] -> echo server
  using echoListen = listener(back);
  using frontListen = listener(front);
  const echo = (async () => {
    const [conn] = await echoListen.sock.accept();
    using _c = conn;
    await conn.readable.pipeTo(conn.writable);
  })();
  const proxy = (async () => {
    const [inbound] = await frontListen.sock.accept();
    using outbound = sock(back, AF_INET);
    await outbound.connect(echoListen.addr);
    using _i = inbound;
    await Promise.all([
      inbound.readable.pipeTo(outbound.writable),
      outbound.readable.pipeTo(inbound.writable),
    ]);
  })();
  using client: Socket = sock(front, AF_INET);
  await client.connect(frontListen.addr);
  const data = pattern(size, 5);
  const sending = client.sendall(data).then(() => client.shutdown(SHUT_WR));
  // Awaited below; should the receive fail first, the close that follows
  // ends these too, and their rejections are not the failure to report.
  for (const p of [sending, echo, proxy]) p.catch(() => {});
  // 1 GiB on a loaded machine takes minutes: the test's own limit decides.
  const got = await recvExactly(
    client,
    size,
    size > 1 << 28 ? 280_000 : 60_000,
  );
  await sending;
  assert.equal((await client.recv(1)).length, 0);
  await Promise.all([echo, proxy]);
  assert.equal(await sha256(got), await sha256(data));
}

/**
 * Register one {@linkcode proxyCase} test per backend pairing (front, back):
 * both alike and both mixed, each ignored where either backend is missing.
 */
export function proxyTests(
  size: number,
  ms: number,
  name: (back: BackendName) => string,
): void {
  const pairings = [
    ["deno", "deno"],
    ["libc", "libc"],
    ["deno", "libc"],
    ["libc", "deno"],
  ] as const;
  for (const [front, back] of pairings) {
    Deno.test(
      {
        ...onBackend(front, name(back)),
        ignore: onBackend(front, "").ignore || onBackend(back, "").ignore,
      },
      () => withTimeout(proxyCase(front, back, size), ms, name(back)),
    );
  }
}

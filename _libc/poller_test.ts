import assert from "node:assert/strict";
import { type Libc, libc, libcUsable, LINUX as L } from "./ffi.ts";
import { Poller, poller } from "./poller.ts";
import { OSError } from "../errors.ts";

// Why libc cannot be used in this process (no --allow-ffi, no FFI, no
// glibc), or null; the tests are ignored, saying why, when it cannot.
const noLibc: string | null = (() => {
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return "no --allow-ffi";
    }
  } catch {
    return "no --allow-ffi";
  }
  return libcUsable() ? null : "no Deno FFI or no glibc libc.so.6 here";
})();

// Opened here, outside any test: the resource sanitizer counts the library.
const C: Libc = noLibc === null ? libc() : ({} as Libc);

function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({
    name: noLibc === null ? name : `${name} [ignored: ${noLibc}]`,
    ignore: noLibc !== null,
    fn,
  });
}

// A non-blocking unix stream socketpair on raw descriptors.
function pair(): { a: number; b: number } & Disposable {
  const sv = new Int32Array(2);
  const r = C.socketpair(
    L.AF_UNIX,
    L.SOCK_STREAM | L.SOCK_NONBLOCK | L.SOCK_CLOEXEC,
    0,
    new Uint8Array(sv.buffer),
  );
  assert.equal(r, 0);
  return {
    a: sv[0],
    b: sv[1],
    [Symbol.dispose]() {
      C.close(sv[0]);
      C.close(sv[1]);
    },
  };
}

function put(fd: number, text = "x"): void {
  const b = new TextEncoder().encode(text);
  assert.equal(
    Number(C.send(fd, b, BigInt(b.length), L.MSG_NOSIGNAL)),
    b.length,
  );
}

function take(fd: number): string {
  const b = new Uint8Array(64);
  const n = Number(C.recv(fd, b, BigInt(b.length), 0));
  return n < 0 ? "" : new TextDecoder().decode(b.subarray(0, n));
}

test("Poller.wait() resolves true once the descriptor is readable, then stops", async () => {
  using p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  const ready = p.wait(e, L.EPOLLIN, null);
  assert.equal(p.running, true);
  assert.equal(p.waiting, 1);
  put(p2.b, "hi");
  assert.equal(await ready, true);
  assert.equal(take(p2.a), "hi");
  assert.equal(p.waiting, 0);
  p.cancel(e, new Error("unused"));
  // The loop ends by itself once nothing waits, closing its descriptors.
  assert.equal(p.running, false);
  assert.equal(p.open, false);
});

test("Poller.wait() resolves false when the time runs out, and the data stays", async () => {
  using p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  const t0 = performance.now();
  assert.equal(await p.wait(e, L.EPOLLIN, 30), false);
  assert.ok(performance.now() - t0 >= 25);
  assert.equal(p.running, false);
  put(p2.b, "late");
  assert.equal(await p.wait(e, L.EPOLLIN, 1000), true);
  assert.equal(take(p2.a), "late");
  p.cancel(e, null);
});

test("Poller.wait() for writability of an idle socket resolves at once", async () => {
  using p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  assert.equal(await p.wait(e, L.EPOLLOUT, 1000), true);
  p.cancel(e, null);
});

test("Poller.wait() wakes readers on hang-up", async () => {
  const p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  const ready = p.wait(e, L.EPOLLIN, 2000);
  C.close(p2.b);
  assert.equal(await ready, true);
  assert.equal(take(p2.a), "");
  p.cancel(e, null);
  C.close(p2.a);
});

test("Poller wakes every ready waiter in one round", async () => {
  const pairs = Array.from({ length: 40 }, pair);
  try {
    const p = new Poller();
    const entries = pairs.map((x) => p.entry(x.a));
    const waits = entries.map((e) => p.wait(e, L.EPOLLIN, 3000));
    // Let the first epoll_wait start, then make everything ready at once.
    await new Promise((r) => setTimeout(r, 20));
    const before = p.rounds;
    for (const x of pairs) put(x.b);
    assert.deepEqual(await Promise.all(waits), pairs.map(() => true));
    assert.ok(p.rounds - before <= 2, `${p.rounds - before} rounds`);
    for (const e of entries) p.cancel(e, null);
  } finally {
    for (const x of pairs) x[Symbol.dispose]();
  }
});

test("Poller sees interest added while epoll_wait is in flight", async () => {
  using one = pair();
  using two = pair();
  const p = new Poller();
  const e1 = p.entry(one.a);
  const e2 = p.entry(two.a);
  const first = p.wait(e1, L.EPOLLIN, 3000);
  await new Promise((r) => setTimeout(r, 10));
  const second = p.wait(e2, L.EPOLLIN, 3000);
  put(two.b);
  assert.equal(await second, true);
  put(one.b);
  assert.equal(await first, true);
  p.cancel(e1, null);
  p.cancel(e2, null);
});

test("Poller.wait() serves a reader and a writer of one descriptor", async () => {
  using p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  const reader = p.wait(e, L.EPOLLIN, 3000);
  const writer = p.wait(e, L.EPOLLOUT, 3000);
  assert.equal(await writer, true);
  put(p2.b);
  assert.equal(await reader, true);
  p.cancel(e, null);
});

test("Poller.cancel() rejects pending waits at once and leaves nothing running", async () => {
  using p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  const a = p.wait(e, L.EPOLLIN, null);
  const b = p.wait(e, L.EPOLLIN, 5000);
  const t0 = performance.now();
  p.cancel(e, new OSError(9));
  const [ra, rb] = await Promise.allSettled([a, b]);
  assert.ok(ra.status === "rejected" && ra.reason.errno === 9);
  assert.ok(rb.status === "rejected" && rb.reason instanceof OSError);
  assert.ok(performance.now() - t0 < 500);
  // Settled only after the in-flight call returned: the sanitizers agree.
  assert.equal(p.running, false);
});

test("Poller.sleep() resolves after the time, and cancel() ends it", async () => {
  using p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  assert.equal(await p.sleep(e, 5), true);
  const s = p.sleep(e, 10_000);
  p.cancel(e, new OSError(9));
  await assert.rejects(s, OSError);
});

test("Poller.sleep() with a signal ends at once, not ready, when it aborts", async () => {
  using p2 = pair();
  const p = new Poller();
  const e = p.entry(p2.a);
  const ac = new AbortController();
  const t0 = performance.now();
  const s = p.sleep(e, 10_000, ac.signal);
  ac.abort();
  assert.equal(await s, false);
  assert.equal(await p.sleep(e, 10_000, AbortSignal.abort()), false);
  assert.ok(performance.now() - t0 < 500);
  assert.equal(e.waiters.length, 0);
});

test("Poller.wait() on a descriptor that is not open throws EBADF", () => {
  const p = new Poller();
  const e = p.entry(1_000_000);
  assert.throws(
    () => p.wait(e, L.EPOLLIN, null),
    (err: unknown) => err instanceof OSError && err.errno === 9,
  );
  assert.equal(p.waiting, 0);
});

test("poller() is one shared instance", () => {
  assert.equal(poller(), poller());
});

test("Poller settles a wait dropped while epoll_wait is in flight, though new waits harvest at once", async () => {
  // The last waiter leaving defers its settling until the call in flight
  // returns, woken by the eventfd; two new waits at once make the second
  // harvest with epoll_wait(0), which must not take that wake-up.
  using one = pair();
  using two = pair();
  using three = pair();
  const p = new Poller();
  const [e1, e2, e3] = [p.entry(one.a), p.entry(two.a), p.entry(three.a)];
  let stuck = 0;
  for (let round = 0; round < 100; round++) {
    const ac = new AbortController();
    const first = p.wait(e1, L.EPOLLIN, null, ac.signal);
    await new Promise((r) => setTimeout(r, 1));
    ac.abort();
    const others = [
      p.wait(e2, L.EPOLLIN, 2000),
      p.wait(e3, L.EPOLLIN, 2000),
    ];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), 300);
    });
    if (await Promise.race([first, late]) === "late") stuck++;
    clearTimeout(timer);
    put(two.b);
    put(three.b);
    assert.deepEqual(await Promise.all([first, ...others]), [
      false,
      true,
      true,
    ]);
    take(two.a);
    take(three.a);
  }
  assert.equal(stuck, 0, `${stuck} of 100 dropped waits settled late`);
  for (const e of [e1, e2, e3]) p.cancel(e, null);
});

test("Poller.hold(): unheld waits (a daemon socket's) do not keep the process running, held ones and a wait held again do", async () => {
  // In a process of its own: whether it exits is the point. Its main
  // program ends at once (a top-level await would keep it running); each
  // step prints once its wait is over, and the process must end by itself
  // with only the unheld wait (and its minute-long timer) left pending.
  const url = (path: string) => JSON.stringify(import.meta.resolve(path));
  const code = `
import { libc, LINUX as L } from ${url("./ffi.ts")};
import { poller } from ${url("./poller.ts")};
const C = libc();
const pair = () => {
  const sv = new Int32Array(2);
  C.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_NONBLOCK, 0, new Uint8Array(sv.buffer));
  return sv;
};
const [a] = pair();
const [b, peer] = pair();
const p = poller();
const daemon = p.entry(a);
p.hold(daemon, false);
void p.wait(daemon, L.EPOLLIN, 60_000);
// A held wait among unheld ones holds the process until its timer ends it.
const other = p.entry(b);
p.wait(other, L.EPOLLIN, 200).then((ready) => {
  console.log(ready);
  // Unheld, then held again while it waits: it holds the process until a
  // byte comes (sent by a timer that holds nothing).
  p.hold(other, false);
  p.wait(other, L.EPOLLIN, null).then((ready) => console.log(ready));
  p.hold(other, true);
  Deno.unrefTimer(setTimeout(() => C.send(peer, new Uint8Array(1), 1n, 0), 200));
});
`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `exited with ${out.code}: ${stderr}`);
  assert.equal(new TextDecoder().decode(out.stdout), "false\ntrue\n", stderr);
});

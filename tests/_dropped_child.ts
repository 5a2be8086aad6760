// Run by dropped_test.ts with --v8-flags=--expose-gc: sockets dropped
// without close(), and sockets closed with their makefile() files dropped
// unclosed, N times each; prints how many descriptors each left open once
// the garbage collector has run.
import { AF_INET, SOCK_STREAM, socket } from "../mod.ts";

const backend = Deno.args[0] as "deno" | "libc";
const N = 300;
const gc = (globalThis as { gc?: () => void }).gc!;
const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;

async function collect(): Promise<void> {
  // Finalizers run as tasks after a collection: a few rounds of both.
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

using srv = socket(AF_INET, SOCK_STREAM, 0, { backend });
srv.bind(["127.0.0.1", 0]);
srv.listen(128);
const left: Record<string, number> = {};
for (const what of ["socket", "makefile"]) {
  await collect();
  const before = fds();
  for (let i = 0; i < N; i++) {
    const c = socket(AF_INET, SOCK_STREAM, 0, { backend });
    await c.connect(srv.getsockname());
    const [k] = await srv.accept();
    if (what === "makefile") {
      const f = c.makefile("rwb");
      const g = k.makefile("rwb");
      await f.write(new TextEncoder().encode("hi\n"));
      await f.flush();
      await g.readline();
      c.close();
      k.close();
    }
  }
  await collect();
  left[what] = fds() - before;
}
console.log(JSON.stringify(left));

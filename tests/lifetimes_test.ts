// When a script ends, on both backends, as python3's: a program whose work
// is done exits on its own, whatever it left open or registered (sockets of
// every kind, selectors, poll and epoll objects never closed, a socketserver
// after shutdown() and server_close(), makefile() files, an aborted wait);
// and a wait with no timeout on something that can still get data (a recv,
// an accept, select(), poll(), epoll, a selector, a file's read, even with
// nothing registered) holds the process until it is answered, as Python's
// blocks. Each script runs as a child `deno run`, bounded in time.
import assert from "node:assert/strict";
import { BACKENDS, onBackend, runChild, sleep } from "./_helpers.ts";
import { withTimeout } from "./_python.ts";
import {
  AF_INET,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
} from "../mod.ts";

const MOD = (name: string) => JSON.stringify(import.meta.resolve(`../${name}`));

// Each case leaves something open or registered, then returns; the script
// ends after the last. In python3 each of these exits at once.
const LEFT_OPEN = `
import { AF_INET, AF_UNIX, SOCK_DGRAM, SOCK_STREAM, socket, TimeoutError } from ${
  MOD("mod.ts")
};
import * as select from ${MOD("select.ts")};
import * as selectors from ${MOD("selectors.ts")};
import * as socketserver from ${MOD("socketserver.ts")};
const backend = Deno.args[0];
const dir = Deno.args[1];
const mk = (family = AF_INET, type = SOCK_STREAM) =>
  socket(family, type, 0, { backend });
const timedOut = (e) => { if (!(e instanceof TimeoutError)) throw e; };
async function connected(family, address) {
  const l = mk(family);
  l.bind(address);
  l.listen();
  const c = mk(family);
  await c.connect(l.getsockname());
  const [a] = await l.accept();
  return { l, a, c };
}
const cases = {
  async unix() {
    const { a, c } = await connected(AF_UNIX, dir + "/u");
    await c.sendall(new Uint8Array(3)); // unread, never closed
    a.settimeout(0.02);
    await a.recv(10);
  },
  async selectors() {
    const { l, a, c } = await connected(AF_INET, ["127.0.0.1", 0]);
    const u = mk(AF_INET, SOCK_DGRAM);
    u.bind(["127.0.0.1", 0]);
    for (const name of ["DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector"]) {
      const s = new selectors[name]();
      s.register(l, 1);
      s.register(a, 1);
      s.register(c, 3);
      s.register(u, 1);
      await s.select(0.02);
    }
  },
  async pollers() {
    const { l, a } = await connected(AF_INET, ["127.0.0.1", 0]);
    const p = select.poll();
    p.register(l, select.POLLIN);
    p.register(a, select.POLLIN);
    await p.poll(20);
    const e = select.epoll();
    e.register(l, select.EPOLLIN);
    e.register(a, select.EPOLLIN | select.EPOLLET);
    await e.poll(0.02);
  },
  async aborted() {
    const { l, a } = await connected(AF_INET, ["127.0.0.1", 0]);
    const s = new selectors.DefaultSelector();
    s.register(a, 1);
    const e = select.epoll();
    e.register(l, select.EPOLLIN);
    const waits = [
      (signal) => select.select([l, a], [], [], 30, { signal }),
      (signal) => s.select(30, { signal }),
      (signal) => e.poll(30, -1, { signal }),
      (signal) => a.recv(1, 0, { signal }),
      (signal) => l.accept({ signal }),
    ];
    for (const wait of waits) {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 10);
      await wait(abort.signal).then(() => { throw new Error("not aborted"); }, (e) => {
        if (e?.name !== "AbortError") throw e;
      });
    }
  },
  async servers() {
    class Handler extends socketserver.StreamRequestHandler {
      async handle() {
        await this.wfile.write(await this.rfile.readline());
      }
    }
    for (const Base of [socketserver.TCPServer, socketserver.ThreadingTCPServer]) {
      class Server extends Base {
        static backend = backend;
      }
      const server = new Server(["127.0.0.1", 0], Handler);
      const serving = server.serve_forever(0.05);
      const c = mk();
      await c.connect(server.server_address);
      await c.sendall(new TextEncoder().encode("hi\\n"));
      await c.recv(3);
      await server.shutdown();
      await serving;
      await server.server_close();
    }
  },
  async files() {
    const { a, c } = await connected(AF_INET, ["127.0.0.1", 0]);
    const r = a.makefile("rb");
    const w = c.makefile("wb");
    await w.write(new Uint8Array([1, 10]));
    await w.flush();
    await r.readline();
    a.settimeout(0.02);
    await r.read(1).catch(timedOut);
    a.close();
    c.close();
  },
};
for (const name of Deno.args.slice(2)) await cases[name]();
console.log("done");
`;
const CASES = ["unix", "selectors", "pollers", "aborted", "servers", "files"];

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "a script exits on its own once its work is done, with unix sockets, selectors, poll and epoll objects, servers and files left open, and waits aborted",
    ),
    async () => {
      const dir = Deno.makeTempDirSync({ prefix: "pysock-" });
      try {
        const script = `${dir}/left_open.js`;
        Deno.writeTextFileSync(script, LEFT_OPEN);
        const out = await runChild([script, backend, dir, ...CASES], 8000);
        if (out === "hung") {
          // Name the cases that hold it.
          const held: string[] = [];
          for (const name of CASES) {
            if (await runChild([script, backend, dir, name], 5000) === "hung") {
              held.push(name);
            }
          }
          assert.fail(`the script did not exit; held by: ${held.join(", ")}`);
        }
        const text = new TextDecoder();
        assert.equal(out.code, 0, text.decode(out.stderr));
        assert.equal(text.decode(out.stdout).trim(), "done");
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    },
  );
}

// Each wait, in turn, with no timeout, on what can still get data from the
// test: the script says which it waits in, and the test answers it only
// after a while in which the script must still be running.
const WAITS = [
  "recv",
  "recvfrom",
  "accept",
  "select",
  "poll",
  "epoll",
  "selector",
  "file",
  "empty",
] as const;
type WaitName = typeof WAITS[number];

const WAITING = `
import { AF_INET, SOCK_DGRAM, SOCK_STREAM, socket } from ${MOD("mod.ts")};
import * as select from ${MOD("select.ts")};
import * as selectors from ${MOD("selectors.ts")};
// No top-level await: with one pending, Deno would report it, not wait.
async function main() {
  const backend = Deno.args[0];
  const c = socket(AF_INET, SOCK_STREAM, 0, { backend });
  await c.connect(["127.0.0.1", Number(Deno.args[1])]);
  const u = socket(AF_INET, SOCK_DGRAM, 0, { backend });
  u.bind(["127.0.0.1", 0]);
  const l = socket(AF_INET, SOCK_STREAM, 0, { backend });
  l.bind(["127.0.0.1", 0]);
  l.listen();
  console.log(JSON.stringify([u.getsockname()[1], l.getsockname()[1]]));
  const byte = async () => (await c.recv(1)).length;
  const waits = {
    recv: byte,
    recvfrom: async () => (await u.recvfrom(1))[0].length,
    accept: async () => { const [a] = await l.accept(); a.close(); return 1; },
    select: async () => (await select.select([c, u], [], []))[0].length + await byte() - 1,
    poll: async () => { const p = select.poll(); p.register(c, select.POLLIN); return (await p.poll()).length + await byte() - 1; },
    epoll: async () => { const e = select.epoll(); e.register(c, select.EPOLLIN); const r = await e.poll(); e.close(); return r.length + await byte() - 1; },
    selector: async () => { const s = new selectors.DefaultSelector(); s.register(c, 1); s.register(u, 1); const r = await s.select(); s.close(); return r.length + await byte() - 1; },
    file: async () => (await c.makefile("rb", 0).read(1)).length,
    // Sleeps for good, as python3's: only the end of the test ends it.
    empty: async () => (await new selectors.DefaultSelector().select()).length,
  };
  for (const name of Deno.args.slice(2)) console.log(name, await waits[name]());
}
main();
`;

for (const backend of BACKENDS) {
  Deno.test(
    onBackend(
      backend,
      "a wait with no timeout (recv, recvfrom, accept, select, poll, epoll, a selector, a file's read, an empty selector) holds the process until it is answered",
    ),
    async () => {
      const dir = Deno.makeTempDirSync({ prefix: "pysock-" });
      const l = socket(AF_INET, SOCK_STREAM, 0, { backend });
      let proc: Deno.ChildProcess | null = null;
      let conn: Socket | null = null;
      try {
        Deno.writeTextFileSync(`${dir}/waiting.js`, WAITING);
        l.bind(["127.0.0.1", 0]);
        l.listen();
        const port = (l.getsockname() as [string, number])[1];
        proc = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--no-check",
            `${dir}/waiting.js`,
            backend,
            String(port),
            ...WAITS,
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        let exited = false;
        const status = proc.status.then((s) => {
          exited = true;
          return s;
        });
        const stderr = new Response(proc.stderr).text();
        const lines = proc.stdout.pipeThrough(new TextDecoderStream())
          .getReader();
        let buffered = "";
        const nextLine = async (): Promise<string> => {
          for (;;) {
            const i = buffered.indexOf("\n");
            if (i >= 0) {
              const line = buffered.slice(0, i);
              buffered = buffered.slice(i + 1);
              return line;
            }
            const { value, done } = await withTimeout(lines.read(), 15000);
            if (done) {
              throw new Error(`the script ended: ${await stderr}`);
            }
            buffered += value;
          }
        };
        [conn] = await withTimeout(l.accept(), 15000);
        const [udpPort, tcpPort] = JSON.parse(await nextLine());
        const answer = async (name: WaitName): Promise<void> => {
          if (name === "recvfrom") {
            using u = socket(AF_INET, SOCK_DGRAM, 0, { backend });
            await u.sendto(new Uint8Array(1), ["127.0.0.1", udpPort]);
          } else if (name === "accept") {
            using c = socket(AF_INET, SOCK_STREAM, 0, { backend });
            await c.connect(["127.0.0.1", tcpPort]);
          } else {
            await conn!.sendall(new Uint8Array(1));
          }
        };
        for (const name of WAITS) {
          await sleep(400);
          assert.ok(!exited, `the script exited while waiting in ${name}`);
          if (name === "empty") break;
          await answer(name);
          assert.equal(await nextLine(), `${name} 1`);
        }
        proc.kill("SIGKILL");
        await withTimeout(status, 5000);
        lines.releaseLock();
        await stderr;
      } finally {
        conn?.close();
        l.close();
        if (proc !== null) {
          try {
            proc.kill("SIGKILL");
          } catch {
            // Already gone.
          }
          await proc.status;
          await proc.stdout.cancel().catch(() => {});
        }
        Deno.removeSync(dir, { recursive: true });
      }
    },
  );
}

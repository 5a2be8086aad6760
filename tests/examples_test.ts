// Every example runs with exactly the permission flags its header gives:
// the flags are read from the header, so a header that asks for too little
// fails here. Servers run beside their clients on free loopback ports.
import assert from "node:assert/strict";
import { hasPython, withTimeout } from "./_python.ts";
import { libcMissing, skipNote } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

/** The permission flags a header's `deno run` line for `file` gives. */
function headerFlags(file: string): string[] {
  const text = Deno.readTextFileSync(new URL(`examples/${file}`, ROOT));
  const line = text.split("\n").slice(0, 20).find((l) =>
    l.startsWith("//") && l.includes(`deno run `) && l.includes(file)
  );
  if (line === undefined) throw new Error(`${file}: no deno run line`);
  const words = line.replace(/^\/\/\s*/, "").split(/\s+/);
  return words.slice(2, words.indexOf(`examples/${file}`));
}

interface Run {
  child: Deno.ChildProcess;
  out: Promise<{ code: number; stdout: string; stderr: string }>;
}

function start(file: string, args: string[] = []): Run {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...headerFlags(file),
      `examples/${file}`,
      ...args,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.output().then((o) => ({
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  }));
  return { child, out };
}

async function finished(run: Run, what: string, ms = 30_000): Promise<string> {
  const o = await withTimeout(run.out, ms, what);
  const all = o.stdout + o.stderr;
  assert.doesNotMatch(
    all,
    /PermissionError|NotCapable|Requires \w+ access/,
    `${what}: ${all}`,
  );
  assert.equal(o.code, 0, `${what} exited ${o.code}: ${all}`);
  return o.stdout;
}

async function stopped(run: Run, what: string): Promise<void> {
  try {
    run.child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  const o = await withTimeout(run.out, 10_000, what);
  assert.doesNotMatch(
    o.stdout + o.stderr,
    /PermissionError|NotCapable|Requires \w+ access/,
    `${what}: ${o.stderr}`,
  );
}

// Until a socket of this network namespace has UDP `port` (the server's
// start-up, seconds on a busy machine): the client sends one datagram.
async function udpBound(port: number, ms = 20_000): Promise<void> {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const end = Date.now() + ms; Date.now() < end;) {
    const table = Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1);
    if (
      table.some((row) => row.trim().split(/\s+/)[1]?.endsWith(local))
    ) {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no socket had UDP port ${port} within ${ms} ms`);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Start a server and wait until its port answers. */
async function server(
  file: string,
  args: string[],
  port: number,
): Promise<Run> {
  const run = start(file, args);
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return run;
    } catch {
      if (Date.now() > until) {
        await stopped(run, file);
        throw new Error(`${file} did not listen on ${port}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const libc = libcMissing === null;

Deno.test("examples: demo.ts with deno task demo's flags", async () => {
  const task = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)))
    .tasks.demo as string;
  assert.match(task, /examples\/demo\.ts/);
  const flags = task.split(/\s+/).filter((w) => w.startsWith("--"));
  const o = await withTimeout(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...flags, "examples/demo.ts"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output(),
    30_000,
    "demo",
  );
  assert.ok(o.success, new TextDecoder().decode(o.stderr));
});

Deno.test("examples: echo_server.ts and echo_client.ts", async () => {
  const port = freePort();
  const srv = await server("echo_server.ts", [String(port)], port);
  try {
    const out = await finished(
      start("echo_client.ts", [String(port), "hi"]),
      "echo_client",
    );
    assert.match(out, /hi/);
  } finally {
    await stopped(srv, "echo_server");
  }
});

Deno.test("examples: selectors_echo_server.ts and select_client.ts", async () => {
  const port = freePort();
  const srv = await server("selectors_echo_server.ts", [String(port)], port);
  try {
    await finished(
      start("select_client.ts", ["127.0.0.1", String(port), "3"]),
      "select_client",
    );
  } finally {
    await stopped(srv, "selectors_echo_server");
  }
});

Deno.test({
  name: skipNote(
    "examples: kv_server.ts with the Python client of its header",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  fn: async () => {
    const port = freePort();
    const srv = await server("kv_server.ts", [String(port)], port);
    try {
      const o = await new Deno.Command("python3", {
        args: [
          "-c",
          `import socket; f = socket.create_connection(("127.0.0.1", ${port})).makefile("rw"); f.write("SET greeting hello world\\nGET greeting\\nQUIT\\n"); f.flush(); print(f.read(), end="")`,
        ],
        stdout: "piped",
      }).output();
      assert.match(new TextDecoder().decode(o.stdout), /VALUE hello world/);
    } finally {
      await stopped(srv, "kv_server");
    }
  },
});

Deno.test("examples: pipeline.ts, server and client in one run", async () => {
  const out = await finished(start("pipeline.ts"), "pipeline");
  assert.equal(out, "1: héllo\n2: wörld\n3: streams all the way\n");
});

Deno.test({
  name: skipNote(
    "examples: pipeline.ts serve, with the Python client of its header",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  fn: async () => {
    const header = Deno.readTextFileSync(
      new URL("examples/pipeline.ts", ROOT),
    ).split("\n").find((l) => l.startsWith("//   python3 -c '"));
    assert.ok(header, "the header gives a python3 client");
    const code = header.slice(header.indexOf("'") + 1, header.lastIndexOf("'"));
    assert.match(code, /50009/);
    const port = freePort();
    const srv = await server("pipeline.ts", ["serve", String(port)], port);
    try {
      const o = await withTimeout(
        new Deno.Command("python3", {
          args: ["-c", code.replace("50009", String(port))],
          stdout: "piped",
          stderr: "piped",
        }).output(),
        20_000,
        "python3 client",
      );
      assert.equal(
        new TextDecoder().decode(o.stdout),
        "1: héllo\n2: wörld\n",
        new TextDecoder().decode(o.stderr),
      );
    } finally {
      await stopped(srv, "pipeline serve");
    }
  },
});

Deno.test("examples: udp_echo.ts server and client", async () => {
  const port = freePort();
  const srv = start("udp_echo.ts", ["server", String(port)]);
  try {
    await udpBound(port);
    const out = await finished(
      start("udp_echo.ts", ["client", String(port), "hello"]),
      "udp client",
    );
    assert.match(out, /hello/);
  } finally {
    await stopped(srv, "udp server");
  }
});

Deno.test("examples: port_check.ts, unix_pair.ts, multicast.ts", async () => {
  await finished(
    start("port_check.ts", ["127.0.0.1", String(freePort())]),
    "port_check",
  );
  await finished(start("unix_pair.ts"), "unix_pair");
  await finished(
    start("multicast.ts", ["239.255.42.99", String(freePort()), "2"]),
    "multicast",
  );
});

Deno.test({
  name: "examples: seqpacket.ts, fd_handoff.ts and ping.ts (libc)",
  ignore: !libc,
  fn: async () => {
    await finished(start("seqpacket.ts"), "seqpacket");
    await finished(start("fd_handoff.ts"), "fd_handoff");
    await finished(start("ping.ts", ["127.0.0.1", "-c", "1"]), "ping");
  },
});

// The libc backend's own kinds of socket through the public API: raw ICMP
// (with and without the privilege) and SOCK_SEQPACKET against CPython.
import assert from "node:assert/strict";
import { AF_UNIX, SOCK_SEQPACKET } from "../mod.ts";
import {
  bytes,
  hasPython,
  python,
  sock,
  tempUnixPath,
  text,
  withTimeout,
} from "./_helpers.ts";

const isRoot = Deno.uid() === 0;
const hasSetpriv = (() => {
  try {
    return new Deno.Command("setpriv", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();

async function run(args: string[], prefix: string[] = []) {
  const [cmd, ...rest] = [...prefix, Deno.execPath(), ...args];
  const out = await new Deno.Command(cmd, {
    args: rest,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test({
  name:
    "socket(AF_INET, SOCK_RAW) without CAP_NET_RAW raises PermissionError errno 1",
  ignore: !isRoot || !hasSetpriv,
  async fn() {
    // setpriv drops to nobody with no capabilities, as an unprivileged user runs.
    const code = `
import { AF_INET, IPPROTO_ICMP, PermissionError, SOCK_RAW, socket } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
try {
  socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  console.log("opened");
} catch (e) {
  console.log(JSON.stringify({ cls: e.constructor.name, ok: e instanceof PermissionError, errno: e.errno, message: e.message }));
}`;
    const r = await run(["eval", "--no-check", code], [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--inh-caps=-all",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout.trim());
    assert.deepEqual(e, {
      cls: "PermissionError",
      ok: true,
      errno: 1,
      message: "[Errno 1] Operation not permitted",
    });
  },
});

Deno.test({
  name:
    "examples/ping.ts: ICMP echo to 127.0.0.1 gets every reply, checksums valid",
  ignore: !isRoot,
  async fn() {
    const r = await run([
      "run",
      "--allow-ffi",
      "--allow-net",
      new URL("../examples/ping.ts", import.meta.url).pathname,
      "127.0.0.1",
      "-c",
      "3",
      "-i",
      "0.05",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const seq of [1, 2, 3]) {
      assert.match(
        r.stdout,
        new RegExp(
          `64 bytes from 127\\.0\\.0\\.1: icmp_seq=${seq} ttl=\\d+ time=`,
        ),
      );
    }
    assert.doesNotMatch(r.stdout, /BAD CHECKSUM/);
    assert.match(r.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
  },
});

Deno.test({
  name: "examples/ping.ts without CAP_NET_RAW says what it needs and exits 2",
  ignore: !isRoot || !hasSetpriv,
  async fn() {
    const r = await run([
      "run",
      "--allow-ffi",
      "--allow-net",
      "--allow-read",
      new URL("../examples/ping.ts", import.meta.url).pathname,
      "-c",
      "1",
    ], [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--inh-caps=-all",
    ]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /\[Errno 1\] Operation not permitted/);
    assert.match(r.stderr, /CAP_NET_RAW/);
  },
});

Deno.test("raw ICMP without --allow-ffi raises PermissionError naming the flag", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/raw.ts`,
      `import { AF_INET, IPPROTO_ICMP, PermissionError, SOCK_RAW, socket } from ${
        JSON.stringify(new URL("../mod.ts", import.meta.url).href)
      };
try { socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); console.log("opened"); }
catch (e) { console.log((e instanceof PermissionError) + " " + e.message); }`,
    );
    // No permissions at all: the module still imports; only the socket fails.
    const r = await run(["run", "--no-prompt", "--no-check", `${dir}/raw.ts`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      "true [Errno 13] the libc backend needs FFI: run with --allow-ffi",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const SEQ_SERVER = `
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen()
print("ready", flush=True)
c, _ = s.accept()
# Echo each message back with its length, one message per message.
while True:
    m = c.recv(65536)
    if not m:
        break
    c.send(str(len(m)).encode() + b":" + m)
c.close()
s.close()
`;

Deno.test({
  name:
    "SOCK_SEQPACKET to a python3 server: each send is one message, both ways",
  ignore: !hasPython,
  async fn() {
    using tmp = tempUnixPath();
    await using srv = python(SEQ_SERVER, tmp.path);
    assert.equal(await srv.line(), "ready");
    using c = sock("libc", AF_UNIX, SOCK_SEQPACKET);
    await withTimeout(c.connect(tmp.path));
    // Back to back: a stream could merge these; seqpacket must not.
    for (const m of ["a", "bb", "a longer third message"]) {
      await withTimeout(c.send(bytes(m)));
    }
    assert.equal(text(await withTimeout(c.recv(100))), "1:a");
    assert.equal(text(await withTimeout(c.recv(100))), "2:bb");
    // recv(5) of a longer message: the first 5 bytes, the rest discarded.
    assert.equal(text(await withTimeout(c.recv(5))), "22:a ");
    c.shutdown(1);
    assert.equal((await withTimeout(c.recv(100))).length, 0);
    assert.equal((await srv.finish()).code, 0);
  },
});

const SEQ_CLIENT = `
import socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(sys.argv[1])
for m in (b"one", b"two", b"three"):
    c.send(m)
print(c.recv(5).decode(), flush=True)
print(repr(c.recv(100)), flush=True)
c.close()
`;

Deno.test({
  name:
    "SOCK_SEQPACKET server for a python3 client: boundaries kept, truncation as Linux",
  ignore: !hasPython,
  async fn() {
    using tmp = tempUnixPath();
    using l = sock("libc", AF_UNIX, SOCK_SEQPACKET);
    l.bind(tmp.path);
    l.listen();
    await using cli = python(SEQ_CLIENT, tmp.path);
    const [conn] = await withTimeout(l.accept());
    using _conn = conn;
    const got = [];
    for (let i = 0; i < 3; i++) {
      got.push(text(await withTimeout(conn.recv(100))));
    }
    assert.deepEqual(got, ["one", "two", "three"]);
    await withTimeout(conn.send(bytes("hello world")));
    assert.equal(await cli.line(), "hello");
    await withTimeout(conn.send(bytes("next")));
    assert.equal(await cli.line(), "b'next'");
    assert.equal((await cli.finish()).code, 0);
  },
});

// Deno's permission flags mean the same on both backends: with
// `--allow-ffi --allow-net=127.0.0.1:PORT`, a libc socket reaches that
// address and nothing else, as a Deno-backend socket does. Each case runs in
// a child process with exactly the flags under test.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SOCK_DGRAM,
  SOCK_STREAM,
} from "../constants.ts";
import { permitAddress } from "../_permissions.ts";
import { libcMissing, skipNote } from "./_helpers.ts";
import { withTimeout } from "./_python.ts";

type Outcome = [name: string, message: string];

/** Run `body` in a child with `flags`; each `probe(name, fn)` records its outcome. */
async function probe(
  flags: string[],
  body: string,
): Promise<Record<string, Outcome>> {
  const dir = await Deno.makeTempDir({ prefix: "perm-test-" });
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import * as mod from ${JSON.stringify(import.meta.resolve("../mod.ts"))};
const out = {};
async function probe(name, fn) {
  try {
    const r = await fn();
    out[name] = ["ok", String(r)];
  } catch (e) {
    out[name] = [e.constructor.name, e.message];
  }
}
const dir = ${JSON.stringify(dir)};
${body}
console.log(JSON.stringify(out));
`,
    );
    const r = await withTimeout(
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", "--no-check", ...flags, script],
        stdout: "piped",
        stderr: "piped",
      }).output(),
      20_000,
      "deno run",
    );
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    return JSON.parse(new TextDecoder().decode(r.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function denied(
  out: Record<string, Outcome>,
  name: string,
  what: RegExp,
): void {
  const [cls, msg] = out[name] ?? ["missing", ""];
  assert.equal(cls, "PermissionError", `${name}: ${cls}: ${msg}`);
  assert.match(msg, /--allow-\w+/, `${name}: ${msg}`);
  assert.match(msg, what, `${name}: ${msg}`);
}

function allowed(out: Record<string, Outcome>, name: string): void {
  const [cls, msg] = out[name] ?? ["missing", ""];
  assert.notEqual(cls, "PermissionError", `${name}: ${msg}`);
}

const ignore = libcMissing !== null;

for (const backend of ["deno", "libc"] as const) {
  Deno.test({
    name: skipNote(
      `${backend}: --allow-net=127.0.0.1:PORT,[::1]:PORT lets bind, connect, connect_ex, sendto and sendmsg reach that address and nothing else, and a refusal names the address asked for (an abstract unix name as such); an unbound UDP socket's implicit bind needs its own grant`,
      backend === "libc" ? libcMissing : null,
    ),
    ignore: backend === "libc" && ignore,
    fn: async () => {
      const port = 40000 + Math.floor(Math.random() * 20000);
      const opts = JSON.stringify({ backend });
      const out = await probe(
        ["--allow-ffi", `--allow-net=127.0.0.1:${port},[::1]:${port}`],
        `const P = ${port}, O = ${opts};
const tcp = () => mod.socket(mod.AF_INET, mod.SOCK_STREAM, 0, O);
const tcp6 = () => mod.socket(mod.AF_INET6, mod.SOCK_STREAM, 0, O);
const udp = () => mod.socket(mod.AF_INET, mod.SOCK_DGRAM, 0, O);
const udp6 = () => mod.socket(mod.AF_INET6, mod.SOCK_DGRAM, 0, O);
await probe("bind allowed", () => { const s = tcp(); try { s.bind(["127.0.0.1", P]); } finally { s.close(); } });
await probe("bind other port", () => { const s = tcp(); try { s.bind(["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("bind6 other port", () => { const s = tcp6(); try { s.bind(["::1", P + 1]); } finally { s.close(); } });
await probe("connect allowed", async () => { const s = tcp(); try { await s.connect(["127.0.0.1", P]); } finally { s.close(); } });
await probe("connect other port", async () => { const s = tcp(); try { await s.connect(["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("connect other host", async () => { const s = tcp(); try { await s.connect(["127.0.0.2", P]); } finally { s.close(); } });
await probe("connect6 other port", async () => { const s = tcp6(); try { await s.connect(["::1", P + 1]); } finally { s.close(); } });
await probe("connect_ex other port", async () => { const s = tcp(); try { return await s.connect_ex(["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("sendto other port", async () => { const s = udp(); try { await s.sendto(new Uint8Array(1), ["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("sendto6 other port", async () => { const s = udp6(); try { await s.sendto(new Uint8Array(1), ["::1", P + 1]); } finally { s.close(); } });
await probe("sendmsg other port", async () => { const s = udp(); try { await s.sendmsg([new Uint8Array(1)], [], 0, ["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("sendto allowed, unbound", async () => { const s = udp(); try { await s.sendto(new Uint8Array(1), ["127.0.0.1", P]); } finally { s.close(); } });
await probe("udp connect allowed, unbound", async () => { const s = udp(); try { await s.connect(["127.0.0.1", P]); } finally { s.close(); } });
await probe("sendto allowed, bound", async () => { const s = udp(); try { s.bind(["127.0.0.1", P]); return await s.sendto(new Uint8Array(1), ["127.0.0.1", P]); } finally { s.close(); } });
await probe("abstract bind", () => { const s = mod.socket(mod.AF_UNIX, mod.SOCK_STREAM, 0, O); try { s.bind(new Uint8Array([0, 0x61, 0x62])); } finally { s.close(); } });`,
      );
      allowed(out, "bind allowed");
      allowed(out, "connect allowed");
      denied(out, "bind other port", new RegExp(`127\\.0\\.0\\.1:${port + 1}`));
      denied(out, "bind6 other port", new RegExp(`\\[::1\\]:${port + 1}`));
      denied(
        out,
        "connect other port",
        new RegExp(`127\\.0\\.0\\.1:${port + 1}`),
      );
      denied(out, "connect other host", /127\.0\.0\.2/);
      denied(out, "connect6 other port", new RegExp(`\\[::1\\]:${port + 1}`));
      denied(out, "connect_ex other port", /--allow-net/);
      denied(
        out,
        "sendto other port",
        new RegExp(`"127\\.0\\.0\\.1:${port + 1}"`),
      );
      denied(out, "sendto6 other port", new RegExp(`"\\[::1\\]:${port + 1}"`));
      denied(
        out,
        "sendmsg other port",
        new RegExp(`"127\\.0\\.0\\.1:${port + 1}"`),
      );
      denied(out, "abstract bind", /access to an abstract unix name/);
      assert.ok(
        !out["abstract bind"][1].includes("\0"),
        "a NUL in the message",
      );
      // An unbound UDP socket's send or connect binds it first (the
      // kernel's autobind; the Deno backend's own bind), which needs what
      // bind() of that address needs: here, both backends refuse.
      denied(out, "sendto allowed, unbound", /"0\.0\.0\.0:0"/);
      denied(out, "udp connect allowed, unbound", /"127\.0\.0\.1:0"/);
      assert.deepEqual(out["sendto allowed, bound"], ["ok", "1"]);
    },
  });
}

for (const backend of ["deno", "libc"] as const) {
  Deno.test({
    name: skipNote(
      `${backend}: a --deny-net / --deny-write list under unscoped --allow-net / --allow-write refuses its addresses: bind, connect, sendto, sendmsg and a unix bind raise PermissionError and make no system call; other addresses work`,
      backend === "libc" ? libcMissing : null,
    ),
    ignore: backend === "libc" && ignore,
    fn: async () => {
      const port = 40000 + Math.floor(Math.random() * 20000);
      const opts = JSON.stringify({ backend });
      const sockDir = await Deno.makeTempDir({ prefix: "perm-deny-" });
      try {
        const path = `${sockDir}/denied.sock`;
        const out = await probe(
          [
            "--allow-ffi",
            "--allow-net",
            "--allow-read",
            "--allow-write",
            `--deny-net=127.0.0.1:${port}`,
            `--deny-write=${path}`,
          ],
          `const P = ${port}, O = ${opts}, PATH = ${JSON.stringify(path)};
const tcp = () => mod.socket(mod.AF_INET, mod.SOCK_STREAM, 0, O);
const udp = () => mod.socket(mod.AF_INET, mod.SOCK_DGRAM, 0, O);
const unix = () => mod.socket(mod.AF_UNIX, mod.SOCK_STREAM, 0, O);
await probe("bind denied", () => { const s = tcp(); try { s.bind(["127.0.0.1", P]); } finally { s.close(); } });
await probe("bind other", () => { const s = tcp(); try { s.bind(["127.0.0.1", 0]); } finally { s.close(); } });
await probe("connect denied", async () => { const s = tcp(); try { await s.connect(["127.0.0.1", P]); } finally { s.close(); } });
await probe("sendto denied", async () => { const s = udp(); try { await s.sendto(new Uint8Array(1), ["127.0.0.1", P]); } finally { s.close(); } });
await probe("sendmsg denied", async () => { const s = udp(); try { await s.sendmsg([new Uint8Array(1)], [], 0, ["127.0.0.1", P]); } finally { s.close(); } });
await probe("sendto other", async () => { const s = udp(); try { return await s.sendto(new Uint8Array(1), ["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("unix bind denied", () => { const s = unix(); try { s.bind(PATH); } finally { s.close(); } });
await probe("unix file made", async () => { try { await Deno.lstat(PATH); return true; } catch { return false; } });
await probe("listen unbound", () => { const s = tcp(); try { s.listen(); } finally { s.close(); } });`,
        );
        denied(out, "bind denied", new RegExp(`127\\.0\\.0\\.1:${port}`));
        denied(out, "connect denied", new RegExp(`127\\.0\\.0\\.1:${port}`));
        denied(out, "sendto denied", new RegExp(`127\\.0\\.0\\.1:${port}`));
        denied(out, "sendmsg denied", new RegExp(`127\\.0\\.0\\.1:${port}`));
        denied(out, "unix bind denied", /--allow-write/);
        // Unscoped --allow-net with a deny list: the wildcard autobind of
        // listen() is granted.
        allowed(out, "listen unbound");
        assert.deepEqual(out["unix file made"], ["ok", "false"]);
        allowed(out, "bind other");
        assert.deepEqual(out["sendto other"], ["ok", "1"]);
      } finally {
        await Deno.remove(sockDir, { recursive: true });
      }
    },
  });
}

for (const backend of ["deno", "libc"] as const) {
  Deno.test({
    name: skipNote(
      `${backend}: listen() on an unbound TCP socket binds it to the wildcard first, which needs --allow-net for "0.0.0.0:0" ("[::]:0" on AF_INET6)`,
      backend === "libc" ? libcMissing : null,
    ),
    ignore: backend === "libc" && ignore,
    fn: async () => {
      const opts = JSON.stringify({ backend });
      const out = await probe(
        ["--allow-ffi", "--allow-net=127.0.0.1"],
        `const O = ${opts};
await probe("listen", () => { const s = mod.socket(mod.AF_INET, mod.SOCK_STREAM, 0, O); try { s.listen(); return s.getsockname(); } finally { s.close(); } });
await probe("listen6", () => { const s = mod.socket(mod.AF_INET6, mod.SOCK_STREAM, 0, O); try { s.listen(); return s.getsockname(); } finally { s.close(); } });
await probe("listen bound", () => { const s = mod.socket(mod.AF_INET, mod.SOCK_STREAM, 0, O); try { s.bind(["127.0.0.1", 0]); s.listen(); return "ok"; } finally { s.close(); } });`,
      );
      denied(out, "listen", /"0\.0\.0\.0:0"/);
      denied(out, "listen6", /"\[::\]:0"/);
      assert.deepEqual(out["listen bound"], ["ok", "ok"]);
    },
  });
}

for (const backend of ["deno", "libc"] as const) {
  Deno.test({
    name: skipNote(
      `${backend}: a relative unix path is checked as Deno checks its own: from the working directory, so --allow-net=unix:ABSOLUTE grants it`,
      backend === "libc" ? libcMissing : null,
    ),
    ignore: backend === "libc" && ignore,
    fn: async () => {
      const opts = JSON.stringify({ backend });
      const sockDir = await Deno.realPath(
        await Deno.makeTempDir({ prefix: "perm-rel-" }),
      );
      try {
        const out = await probe(
          [
            "--allow-ffi",
            `--allow-read=${sockDir}`,
            `--allow-write=${sockDir}`,
            `--allow-net=unix:${sockDir}/r.sock`,
          ],
          `const O = ${opts};
Deno.chdir(${JSON.stringify(sockDir)});
const unix = () => mod.socket(mod.AF_UNIX, mod.SOCK_STREAM, 0, O);
await probe("relative", () => { const s = unix(); try { s.bind("r.sock"); return "bound"; } finally { s.close(); } });
await probe("dotted", () => { const s = unix(); try { s.bind("./sub/../other.sock"); } finally { s.close(); } });
await probe("names", async () => {
  // The file a libc socket's bind() left ("relative" above).
  try { Deno.removeSync("r.sock"); } catch { /* none */ }
  const l = unix(), c = unix();
  try {
    l.bind("r.sock"); l.listen();
    await c.connect("r.sock");
    const [a] = await l.accept();
    try { return JSON.stringify([l.getsockname(), c.getpeername(), a.getsockname(), a.getpeername()]); } finally { a.close(); }
  } finally { c.close(); l.close(); }
});
await probe("peer named by its bind", async () => {
  // A libc listener bound "r.sock", reached by the absolute path: the peer's
  // name is the one it bound.
  try { Deno.removeSync("r.sock"); } catch { /* none */ }
  const lib = { backend: "libc" };
  const l = mod.socket(mod.AF_UNIX, mod.SOCK_STREAM, 0, lib), c = unix();
  try {
    l.bind("r.sock"); l.listen();
    await c.connect(${JSON.stringify(sockDir)} + "/r.sock");
    return c.getpeername();
  } finally { c.close(); l.close(); }
});`,
        );
        assert.deepEqual(out["relative"], ["ok", "bound"]);
        // Linux reports a unix name as it was given, relative too (Deno's
        // own addresses make it absolute when permissions are scoped).
        assert.deepEqual(out["names"], [
          "ok",
          JSON.stringify(["r.sock", "r.sock", "r.sock", ""]),
        ]);
        assert.deepEqual(out["peer named by its bind"], ["ok", "r.sock"]);
        denied(out, "dotted", /other\.sock/);
      } finally {
        await Deno.remove(sockDir, { recursive: true });
      }
    },
  });
}

for (
  const [backend, extra] of [
    ["deno", []],
    ["deno", ["--unstable-net"]],
    ["libc", []],
  ] as const
) {
  Deno.test({
    name: skipNote(
      `${backend}${
        extra.length ? " " + extra.join(" ") : ""
      }: a UDP socket whose implicit bind is allowed is refused a destination --allow-net does not name, at connect() and at sendto(), with a PermissionError naming it`,
      backend === "libc" ? libcMissing : null,
    ),
    ignore: backend === "libc" && ignore,
    fn: async () => {
      const port = 40000 + Math.floor(Math.random() * 20000);
      const out = await probe(
        [
          "--allow-ffi",
          ...extra,
          `--allow-net=0.0.0.0:0,127.0.0.1:0,127.0.0.1:${port}`,
        ],
        `const P = ${port}, O = ${JSON.stringify({ backend })};
const udp = () => mod.socket(mod.AF_INET, mod.SOCK_DGRAM, 0, O);
await probe("sendto other", async () => { const s = udp(); try { await s.sendto(new Uint8Array(1), ["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("sendto other, bound", async () => { const s = udp(); try { s.bind(["127.0.0.1", 0]); await s.sendto(new Uint8Array(1), ["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("connect other", async () => { const s = udp(); try { await s.connect(["127.0.0.1", P + 1]); } finally { s.close(); } });
await probe("connect allowed", async () => { const s = udp(); try { await s.connect(["127.0.0.1", P]); return await s.send(new Uint8Array(1)); } finally { s.close(); } });`,
      );
      const other = new RegExp(`"127\\.0\\.0\\.1:${port + 1}"`);
      denied(out, "sendto other", other);
      denied(out, "sendto other, bound", other);
      denied(out, "connect other", other);
      assert.deepEqual(out["connect allowed"], ["ok", "1"]);
    },
  });
}

Deno.test({
  name: skipNote(
    "libc: a unix path needs --allow-read, --allow-write and --allow-net as Deno's own unix sockets do; an abstract name unscoped --allow-net",
    libcMissing,
  ),
  ignore,
  fn: async () => {
    const body = `const O = { backend: "libc" };
await probe("path", () => { const s = mod.socket(mod.AF_UNIX, mod.SOCK_STREAM, 0, O); try { s.bind(dir + "/p"); } finally { s.close(); } });
await probe("seqpacket path", () => { const s = mod.socket(mod.AF_UNIX, mod.SOCK_SEQPACKET, 0, O); try { s.bind(dir + "/q"); } finally { s.close(); } });
await probe("abstract", () => { const s = mod.socket(mod.AF_UNIX, mod.SOCK_STREAM, 0, O); try { s.bind(new Uint8Array([0, 0x70, 0x71, 0x72])); } finally { s.close(); } });`;
    const noRead = await probe(["--allow-ffi", "--allow-net"], body);
    denied(noRead, "path", /--allow-read/);
    denied(noRead, "seqpacket path", /--allow-read/);
    allowed(noRead, "abstract");
    const noNet = await probe(
      ["--allow-ffi", "--allow-read", "--allow-write"],
      body,
    );
    denied(noNet, "path", /unix:/);
    denied(noNet, "abstract", /abstract/);
    const scoped = await probe(
      ["--allow-ffi", "--allow-read", "--allow-write", "--allow-net=127.0.0.1"],
      body,
    );
    denied(scoped, "path", /unix:/);
    denied(scoped, "abstract", /abstract/);
    const all = await probe(
      ["--allow-ffi", "--allow-read", "--allow-write", "--allow-net"],
      body,
    );
    for (const name of ["path", "seqpacket path", "abstract"]) {
      allowed(all, name);
    }
  },
});

Deno.test({
  name: skipNote(
    "libc: a raw socket needs unscoped --allow-net, checked when it is opened",
    libcMissing,
  ),
  ignore,
  fn: async () => {
    const out = await probe(
      ["--allow-ffi", "--allow-net=127.0.0.1"],
      `await probe("raw", () => mod.socket(mod.AF_INET, mod.SOCK_RAW, mod.IPPROTO_ICMP).close());
await probe("packet", () => mod.socket(17, mod.SOCK_DGRAM, 0).close());`,
    );
    denied(out, "raw", /raw socket/);
    denied(out, "packet", /--allow-net/);
  },
});

Deno.test({
  name: skipNote(
    "libc: a --deny-net list under unscoped --allow-net refuses raw sockets and families with no scope, which could reach the denied addresses",
    libcMissing,
  ),
  ignore,
  fn: async () => {
    const out = await probe(
      ["--allow-ffi", "--allow-net", "--deny-net=127.0.0.2"],
      `await probe("raw", () => mod.socket(mod.AF_INET, mod.SOCK_RAW, mod.IPPROTO_ICMP).close());
await probe("raw6", () => mod.socket(mod.AF_INET6, mod.SOCK_RAW, mod.IPPROTO_ICMPV6).close());
await probe("packet", () => mod.socket(17, mod.SOCK_DGRAM, 0).close());
await probe("udp", () => { const s = mod.socket(mod.AF_INET, mod.SOCK_DGRAM, 0, { backend: "libc" }); try { s.bind(["127.0.0.1", 0]); } finally { s.close(); } });`,
    );
    for (const name of ["raw", "raw6", "packet"]) {
      const [cls, msg] = out[name];
      assert.equal(cls, "PermissionError", `${name}: ${cls}: ${msg}`);
      assert.match(
        msg,
        /^\[Errno 13\] Requires net access to all addresses .*--deny-net/,
      );
    }
    allowed(out, "udp");
  },
});

Deno.test("with unscoped --allow-net and --allow-read/--allow-write, addresses are not asked about one by one (Deno keeps a state for each host or path it is asked about: memory grew with each new peer)", () => {
  const seen: Deno.PermissionDescriptor[] = [];
  const perms = Deno.permissions;
  const query = perms.querySync.bind(perms);
  perms.querySync = (d: Deno.PermissionDescriptor) => {
    seen.push(d);
    return query(d);
  };
  try {
    for (let port = 20000; port < 20100; port++) {
      permitAddress(AF_INET, SOCK_DGRAM, 0, ["127.0.0.1", port]);
      permitAddress(AF_INET6, SOCK_STREAM, 0, ["::1", port, 0, 0]);
      permitAddress(AF_UNIX, SOCK_STREAM, 0, `/tmp/pysocket-${port}.sock`);
    }
  } finally {
    Reflect.deleteProperty(perms, "querySync");
  }
  assert.ok(seen.length > 0);
  assert.deepEqual(
    // Deno fills in the other fields of what it is given, as undefined.
    seen.filter((d) =>
      Object.entries(d).some(([k, v]) => k !== "name" && v !== undefined)
    ),
    [],
  );
});

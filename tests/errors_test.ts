// The exception tree against CPython 3.11's: the errno -> class table, the
// `[Errno N] text` messages, the aliases, and the non-OSError classes. The
// table is checked by hand from the reference and LIVE against python3.
import assert from "node:assert/strict";
import * as errors from "../errors.ts";
import {
  BlockingIOError,
  BrokenPipeError,
  ConnectionAbortedError,
  ConnectionError,
  ConnectionRefusedError,
  ConnectionResetError,
  error,
  FileNotFoundError,
  gaierror,
  herror,
  InterruptedError,
  OSError,
  OverflowError,
  PermissionError,
  timeout,
  TimeoutError,
  ValueError,
} from "../errors.ts";
import { skipNote } from "./_helpers.ts";
import { hasPython } from "./_python.ts";

const TABLE: [number, typeof OSError, string][] = [
  [11, BlockingIOError, "Resource temporarily unavailable"],
  [115, BlockingIOError, "Operation now in progress"],
  [114, BlockingIOError, "Operation already in progress"],
  [111, ConnectionRefusedError, "Connection refused"],
  [104, ConnectionResetError, "Connection reset by peer"],
  [103, ConnectionAbortedError, "Software caused connection abort"],
  [32, BrokenPipeError, "Broken pipe"],
  [108, BrokenPipeError, "Cannot send after transport endpoint shutdown"],
  [4, InterruptedError, "Interrupted system call"],
  [110, TimeoutError, "Connection timed out"],
  [1, PermissionError, "Operation not permitted"],
  [13, PermissionError, "Permission denied"],
  [2, FileNotFoundError, "No such file or directory"],
  [107, OSError, "Transport endpoint is not connected"],
  [106, OSError, "Transport endpoint is already connected"],
  [9, OSError, "Bad file descriptor"],
  [22, OSError, "Invalid argument"],
  [98, OSError, "Address already in use"],
  [99, OSError, "Cannot assign requested address"],
  [97, OSError, "Address family not supported by protocol"],
  [93, OSError, "Protocol not supported"],
  [94, OSError, "Socket type not supported"],
  [95, OSError, "Operation not supported"],
  [90, OSError, "Message too long"],
  [89, OSError, "Destination address required"],
  [92, OSError, "Protocol not available"],
];

for (const [n, Class, text] of TABLE) {
  Deno.test(`OSError(${n}) is a ${Class.name} reading '[Errno ${n}] ${text}'`, () => {
    const e = new OSError(n);
    assert.equal(e.constructor, Class);
    assert.ok(e instanceof OSError && e instanceof Error);
    assert.equal(e.errno, n);
    assert.equal(e.strerror, text);
    assert.equal(e.message, `[Errno ${n}] ${text}`);
    assert.equal(e.name, Class.name);
    assert.equal(String(e), `${Class.name}: [Errno ${n}] ${text}`);
  });
}

Deno.test("OSError(errno, text) keeps the given text", () => {
  const e = new OSError(111, "Connection refused");
  assert.ok(e instanceof ConnectionRefusedError);
  assert.equal(e.message, "[Errno 111] Connection refused");
  const f = new OSError(22, "custom");
  assert.equal(f.strerror, "custom");
  assert.equal(f.message, "[Errno 22] custom");
});

Deno.test("a subclass constructed directly keeps its class and errno", () => {
  const e = new ConnectionResetError(104);
  assert.equal(e.constructor, ConnectionResetError);
  assert.equal(e.errno, 104);
  assert.equal(e.message, "[Errno 104] Connection reset by peer");
  assert.ok(new BlockingIOError(11) instanceof OSError);
});

Deno.test("OSError(message) has errno and strerror null", () => {
  const e = new OSError("AF_UNIX path too long");
  assert.equal(e.constructor, OSError);
  assert.equal(e.errno, null);
  assert.equal(e.strerror, null);
  assert.equal(e.message, "AF_UNIX path too long");
});

Deno.test("TimeoutError('timed out') is an OSError with errno null", () => {
  const e = new TimeoutError("timed out");
  assert.ok(e instanceof OSError);
  assert.equal(e.errno, null);
  assert.equal(e.strerror, null);
  assert.equal(e.message, "timed out");
  assert.equal(String(e), "TimeoutError: timed out");
});

Deno.test("the connection errors share ConnectionError", () => {
  for (
    const C of [
      BrokenPipeError,
      ConnectionAbortedError,
      ConnectionRefusedError,
      ConnectionResetError,
    ]
  ) {
    assert.ok(new C(1) instanceof ConnectionError, C.name);
  }
  assert.ok(!(new TimeoutError("x") instanceof ConnectionError));
});

Deno.test("error is OSError and timeout is TimeoutError", () => {
  assert.equal(error, OSError);
  assert.equal(timeout, TimeoutError);
});

Deno.test("ValueError and OverflowError extend RangeError, not OSError", () => {
  for (const C of [ValueError, OverflowError]) {
    const e = new C("bad");
    assert.ok(e instanceof RangeError && e instanceof Error);
    assert.ok(!(e instanceof OSError));
    assert.equal(e.name, C.name);
    assert.equal(e.message, "bad");
  }
});

Deno.test("gaierror carries the negative EAI code and getaddrinfo's text", () => {
  const cases: [number, string][] = [
    [-2, "Name or service not known"],
    [-3, "Temporary failure in name resolution"],
    [-6, "ai_family not supported"],
    [-7, "ai_socktype not supported"],
    [-8, "Servname not supported for ai_socktype"],
    [-9, "Address family for hostname not supported"],
  ];
  for (const [code, text] of cases) {
    const e = new gaierror(code);
    assert.equal(e.constructor, gaierror);
    assert.ok(e instanceof OSError);
    assert.equal(e.errno, code);
    assert.equal(e.strerror, text);
    assert.equal(e.message, `[Errno ${code}] ${text}`);
    assert.equal(e.name, "gaierror");
  }
});

Deno.test("herror is an OSError", () => {
  const e = new herror(1, "Unknown host");
  assert.ok(e instanceof OSError);
  assert.equal(e.constructor, herror);
  assert.equal(e.errno, 1);
  assert.equal(e.message, "[Errno 1] Unknown host");
});

Deno.test("mod.ts re-exports the very same error classes", async () => {
  const mod = await import("../mod.ts") as Record<string, unknown>;
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value !== "function" || !/^[A-Z]|error$|^timeout$/.test(name)) {
      continue;
    }
    if (!(value.prototype instanceof Error) && value !== OSError) continue;
    assert.equal(mod[name], value, `mod.ts ${name}`);
  }
  assert.equal(mod.error, OSError);
  assert.equal(mod.timeout, TimeoutError);
});

Deno.test({
  name: skipNote(
    "OSError(n) picks the same class and text as CPython for every errno 1-133",
    hasPython ? null : "no python3",
  ),
  ignore: !hasPython,
  fn() {
    const code = `
import json, os
out = {}
for n in range(1, 134):
    e = OSError(n, os.strerror(n))
    out[n] = [type(e).__name__, str(e)]
print(json.dumps(out))
`;
    const r = new Deno.Command("python3", { args: ["-c", code] }).outputSync();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    const py: Record<string, [string, string]> = JSON.parse(
      new TextDecoder().decode(r.stdout),
    );
    const diffs: string[] = [];
    for (const [n, [cls, msg]] of Object.entries(py)) {
      const e = new OSError(Number(n));
      const got = [e.constructor.name, e.message];
      if (got[0] !== cls || got[1] !== msg) {
        diffs.push(`${n}: python ${cls} '${msg}', ours ${got[0]} '${got[1]}'`);
      }
    }
    assert.deepEqual(diffs, []);
  },
});

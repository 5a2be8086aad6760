import assert from "node:assert/strict";
import { AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM } from "./constants.ts";
import { socket, socketpair } from "./mod.ts";
// Opens libc outside any test, as the suite's other files do.
import { libcMissing } from "./tests/_helpers.ts";
import {
  clientsOf,
  holdNames,
  nameHeld,
  nameOf,
  releaseNames,
} from "./_local_names.ts";

Deno.test("nameOf() matches an IP port of any host or family, a unix path's last component, an abstract name; nothing for an unnamed socket or port 0", () => {
  assert.equal(nameOf(AF_INET, ["127.0.0.1", 8080]), "#8080");
  assert.equal(nameOf(AF_INET6, ["::1", 8080, 0, 0]), "#8080");
  assert.equal(nameOf(AF_INET, ["0.0.0.0", 0]), null);
  assert.equal(nameOf(AF_UNIX, "/tmp/x/s.sock"), "u:s.sock");
  assert.equal(nameOf(AF_UNIX, "s.sock"), "u:s.sock");
  assert.equal(nameOf(AF_UNIX, ""), null);
  assert.equal(nameOf(AF_UNIX, new Uint8Array([0, 97])), "a:\0a");
  assert.equal(nameOf(AF_UNIX, "\0a"), "a:\0a");
  assert.equal(nameOf(AF_INET, null), null);
});

Deno.test("a name is held while any socket holds it, and released once each has let go", () => {
  const names = ["#65001", clientsOf("u:held_test.sock")];
  assert.equal(nameHeld(names[0]), false);
  holdNames(names);
  holdNames(names.slice(0, 1));
  assert.equal(nameHeld("#65001"), true);
  assert.equal(nameHeld("c:u:held_test.sock"), true);
  releaseNames(names);
  assert.equal(nameHeld("#65001"), true);
  assert.equal(nameHeld("c:u:held_test.sock"), false);
  releaseNames(names.slice(0, 1));
  assert.equal(nameHeld("#65001"), false);
  assert.equal(nameHeld(null), false);
});

Deno.test("a Deno-backend socket holds its port while open and lets go of it when closed or detached; a libc socket holds none", async () => {
  const u = socket(AF_INET, SOCK_DGRAM, 0, { backend: "deno" });
  u.bind(["127.0.0.1", 0]);
  const name = nameOf(AF_INET, u.getsockname());
  assert.equal(nameHeld(name), true);
  u.close();
  assert.equal(nameHeld(name), false);
  const [a, b] = await socketpair();
  a.close();
  b.close();
  if (libcMissing === null) {
    const l = socket(AF_INET, SOCK_DGRAM, 0, { backend: "libc" });
    l.bind(["127.0.0.1", 0]);
    assert.equal(nameHeld(nameOf(AF_INET, l.getsockname())), false);
    l.close();
  }
});

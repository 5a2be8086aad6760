// constants.ts against CPython LIVE: python3 dumps every upper-case int of its
// socket module and every errno, and each must be exported with the same
// number. The reference's Linux values are checked by hand too, so the suite
// says something even where python3 is missing.
import assert from "node:assert/strict";
import * as constants from "../constants.ts";
import { hasPython } from "./_python.ts";

const C = constants as unknown as Record<string, unknown>;

/**
 * The CPython minor version constants.ts was generated from (its first line
 * names the exact release; scripts/gen_constants.py). Where the local python3
 * is another version, names that exist on one side only are that version's
 * additions or removals, not mistakes here: they are listed and skipped.
 * Values are always compared: a name both sides have must have one number.
 */
const GENERATED_FROM = "3.11";

interface PyDump {
  version: string;
  socket: Record<string, number>;
  errno: Record<string, number>;
  errorcode: Record<string, string>;
  has_ipv6: boolean;
}

function pythonDump(): PyDump {
  const code = `
import errno, json, socket, sys
print(json.dumps({
    "version": "%d.%d" % sys.version_info[:2],
    "socket": {n: int(v) for n in dir(socket) if n.isupper()
               for v in [getattr(socket, n)]
               if isinstance(v, int) and not isinstance(v, bool)},
    "errno": {n: v for n in dir(errno) if n.startswith("E")
              for v in [getattr(errno, n)] if isinstance(v, int)},
    "errorcode": {str(k): v for k, v in errno.errorcode.items()},
    "has_ipv6": socket.has_ipv6,
}))
`;
  const r = new Deno.Command("python3", { args: ["-c", code] }).outputSync();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

const py: PyDump | undefined = hasPython ? pythonDump() : undefined;
const sameVersion = py?.version === GENERATED_FROM;

/** What comparing our table with Python's found. */
interface Diff {
  /** Python has the name, we do not. */
  missing: string[];
  /** We have the name, Python does not. */
  extra: string[];
  /** Both have the name, with different values. */
  wrong: string[];
}

/** Names on one side only, and names whose values differ. */
function diff(
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  names: (name: string) => boolean = () => true,
): Diff {
  const missing = Object.keys(theirs).filter((n) => names(n) && !(n in ours));
  const extra = Object.keys(ours).filter((n) => names(n) && !(n in theirs));
  const wrong = Object.keys(theirs)
    .filter((n) => names(n) && n in ours && ours[n] !== theirs[n])
    .map((n) => `${n}: ${String(ours[n])} != ${String(theirs[n])}`);
  return { missing, extra, wrong };
}

/**
 * Assert `d` shows nothing wrong. A wrong value always fails. Names on one
 * side only fail when python3 is the version the constants came from; on
 * another version they are that version's own and are skipped, listed on
 * the console with the reason.
 */
function assertSame(
  d: Diff,
  what: string,
  same: boolean,
  pyVersion: string,
  note: (line: string) => void = console.log,
): void {
  if (same) {
    assert.deepEqual(d, { missing: [], extra: [], wrong: [] });
    return;
  }
  for (
    const [list, side] of [[d.missing, "only in"], [d.extra, "not in"]] as const
  ) {
    if (list.length > 0) {
      note(
        `${what}: skipped ${list.length} name(s) ${side} CPython ${pyVersion} ` +
          `(constants.ts follows CPython ${GENERATED_FROM}): ${
            list.join(", ")
          }`,
      );
    }
  }
  assert.deepEqual(d.wrong, [], `${what}: values differ`);
}

// Bluetooth is optional in CPython builds (Debian's has it, a build without
// the headers does not); the constants stay for the full set.
const OPTIONAL = /^(AF_BLUETOOTH|BTPROTO_\w+|HCI_\w+|SOL_HCI)$/;
const UPPER = (n: string) => /^[A-Z][A-Z0-9_]*$/.test(n);

Deno.test({
  name:
    "constants.ts exports every upper-case int of Python's socket module, with its value",
  ignore: !py,
  fn() {
    const d = diff(C, py!.socket);
    // Names we have and Python lacks: the next test's business.
    d.extra = [];
    assertSame(d, "socket constants", sameVersion, py!.version);
  },
});

Deno.test({
  name:
    "constants.ts exports no upper-case constant that Python's socket module lacks",
  ignore: !py,
  fn() {
    const d = diff(C, py!.socket, (n) => UPPER(n) && !OPTIONAL.test(n));
    // Only the names here; values and Python-only names are the previous test's.
    assertSame(
      { missing: [], extra: d.extra, wrong: [] },
      "socket constants",
      sameVersion,
      py!.version,
    );
  },
});

Deno.test({
  name: "errno has every name and number of Python's errno module",
  ignore: !py,
  fn() {
    assertSame(
      diff(constants.errno, py!.errno),
      "errno",
      sameVersion,
      py!.version,
    );
  },
});

Deno.test({
  name: "errorcode maps each number to Python's errno.errorcode name",
  ignore: !py,
  fn() {
    const ours = Object.fromEntries(
      Object.entries(constants.errorcode).map(([k, v]) => [String(k), v]),
    );
    const d = diff(ours, py!.errorcode);
    if (!sameVersion) {
      // Another version may name a number by another of its aliases
      // (EAGAIN / EWOULDBLOCK): still right if each name means that number
      // on both sides. A name for another number is wrong anywhere.
      const E = constants.errno as Record<string, number>;
      d.wrong = d.wrong.filter((line) => {
        const k = Number(line.slice(0, line.indexOf(":")));
        const [ourName, theirName] = [ours[k], py!.errorcode[k]];
        const alias = py!.errno[ourName] === k && E[theirName] === k;
        if (alias) {
          console.log(
            `errorcode: ${k} is ${ourName} here, ${theirName} in CPython ${
              py!.version
            } (aliases; constants.ts follows CPython ${GENERATED_FROM})`,
          );
        }
        return !alias;
      });
      // A number on one side only is that version's own, unless its name
      // means another number on the other side: then a value is wrong.
      for (
        const [k, name, other] of [
          ...d.extra.map((k) => [k, ours[k], py!.errno] as const),
          ...d.missing.map((k) => [k, py!.errorcode[k], E] as const),
        ]
      ) {
        if (name in other && other[name] !== Number(k)) {
          d.wrong.push(`${k}: ${name} is ${other[name]} on the other side`);
        }
      }
    }
    assertSame(d, "errorcode", sameVersion, py!.version);
  },
});

Deno.test({
  name: "has_ipv6 is Python's socket.has_ipv6",
  ignore: !py,
  fn() {
    assert.equal(constants.has_ipv6, py!.has_ipv6);
  },
});

Deno.test("the comparison with another CPython skips added or missing names, never a wrong value", () => {
  const ours = { A: 1, B: 2, OLD: 3 };
  const same = { A: 1, B: 2, OLD: 3 };
  const newer = { A: 1, B: 2, OLD: 3, NEW: 4 };
  const older = { A: 1, B: 2 };
  const wrong = { A: 1, B: 5, NEW: 4 };
  assert.deepEqual(diff(ours, newer), {
    missing: ["NEW"],
    extra: [],
    wrong: [],
  });
  assert.deepEqual(diff(ours, wrong), {
    missing: ["NEW"],
    extra: ["OLD"],
    wrong: ["B: 2 != 5"],
  });
  const notes: string[] = [];
  const note = (line: string) => notes.push(line);
  // The version constants.ts came from: every difference fails.
  assertSame(diff(ours, same), "t", true, GENERATED_FROM, note);
  assert.throws(() => assertSame(diff(ours, newer), "t", true, "3.11", note));
  assert.throws(() => assertSame(diff(ours, older), "t", true, "3.11", note));
  assert.deepEqual(notes, []);
  // Another version: its own names are skipped, and said so; values are not.
  assertSame(diff(ours, newer), "t", false, "3.13", note);
  assertSame(diff(ours, older), "t", false, "3.10", note);
  assert.deepEqual(notes, [
    "t: skipped 1 name(s) only in CPython 3.13 (constants.ts follows CPython 3.11): NEW",
    "t: skipped 1 name(s) not in CPython 3.10 (constants.ts follows CPython 3.11): OLD",
  ]);
  assert.throws(
    () => assertSame(diff(ours, wrong), "t", false, "3.13", note),
    /values differ/,
  );
});

Deno.test({
  name: `constants.ts says it was generated from CPython ${GENERATED_FROM}`,
  ignore: Deno.permissions.querySync({
    name: "read",
    path: new URL("../constants.ts", import.meta.url),
  }).state !== "granted",
  fn() {
    const first = Deno.readTextFileSync(
      new URL("../constants.ts", import.meta.url),
    ).split("\n", 1)[0];
    assert.match(
      first,
      new RegExp(
        `from CPython ${GENERATED_FROM.replace(".", "\\.")}\\.\\d+ on Linux`,
      ),
      "regenerated from another CPython: update GENERATED_FROM",
    );
  },
});

const LINUX: Record<string, number> = {
  AF_UNSPEC: 0,
  AF_UNIX: 1,
  AF_INET: 2,
  AF_INET6: 10,
  AF_NETLINK: 16,
  AF_PACKET: 17,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_RDM: 4,
  SOCK_SEQPACKET: 5,
  SOCK_NONBLOCK: 2048,
  SOCK_CLOEXEC: 524288,
  SOL_SOCKET: 1,
  SOL_IP: 0,
  SOL_TCP: 6,
  SOL_UDP: 17,
  SO_DEBUG: 1,
  SO_REUSEADDR: 2,
  SO_TYPE: 3,
  SO_ERROR: 4,
  SO_DONTROUTE: 5,
  SO_BROADCAST: 6,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_KEEPALIVE: 9,
  SO_OOBINLINE: 10,
  SO_LINGER: 13,
  SO_REUSEPORT: 15,
  SO_PASSCRED: 16,
  SO_PEERCRED: 17,
  SO_RCVLOWAT: 18,
  SO_SNDLOWAT: 19,
  SO_RCVTIMEO: 20,
  SO_SNDTIMEO: 21,
  SO_BINDTODEVICE: 25,
  SO_ACCEPTCONN: 30,
  SO_PROTOCOL: 38,
  SO_DOMAIN: 39,
  IPPROTO_IP: 0,
  IPPROTO_ICMP: 1,
  IPPROTO_IGMP: 2,
  IPPROTO_TCP: 6,
  IPPROTO_UDP: 17,
  IPPROTO_IPV6: 41,
  IPPROTO_ICMPV6: 58,
  IPPROTO_SCTP: 132,
  IPPROTO_RAW: 255,
  MSG_OOB: 1,
  MSG_PEEK: 2,
  MSG_DONTROUTE: 4,
  MSG_TRUNC: 32,
  MSG_DONTWAIT: 64,
  MSG_EOR: 128,
  MSG_WAITALL: 256,
  MSG_NOSIGNAL: 16384,
  SHUT_RD: 0,
  SHUT_WR: 1,
  SHUT_RDWR: 2,
  TCP_NODELAY: 1,
  TCP_MAXSEG: 2,
  TCP_CORK: 3,
  TCP_KEEPIDLE: 4,
  TCP_KEEPINTVL: 5,
  TCP_KEEPCNT: 6,
  AI_PASSIVE: 1,
  AI_CANONNAME: 2,
  AI_NUMERICHOST: 4,
  AI_V4MAPPED: 8,
  AI_ALL: 16,
  AI_ADDRCONFIG: 32,
  AI_NUMERICSERV: 1024,
  NI_NUMERICHOST: 1,
  NI_NUMERICSERV: 2,
  NI_NOFQDN: 4,
  NI_NAMEREQD: 8,
  NI_DGRAM: 16,
  EAI_BADFLAGS: -1,
  EAI_NONAME: -2,
  EAI_AGAIN: -3,
  EAI_FAIL: -4,
  EAI_FAMILY: -6,
  EAI_SOCKTYPE: -7,
  EAI_SERVICE: -8,
  EAI_ADDRFAMILY: -9,
  EAI_MEMORY: -10,
  EAI_SYSTEM: -11,
  INADDR_ANY: 0,
  INADDR_LOOPBACK: 0x7f000001,
  INADDR_BROADCAST: 0xffffffff,
  IP_TOS: 1,
  IP_TTL: 2,
  IP_HDRINCL: 3,
  IP_MULTICAST_TTL: 33,
  IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35,
  IPV6_V6ONLY: 26,
};

Deno.test("constants have the reference's Linux values", () => {
  const wrong = Object.entries(LINUX)
    .filter(([name, value]) => C[name] !== value)
    .map(([name, value]) => `${name}: ${C[name]} != ${value}`);
  assert.deepEqual(wrong, []);
  assert.ok(C.SOMAXCONN === 4096 || C.SOMAXCONN === 128);
});

Deno.test("errno has the reference's Linux numbers", () => {
  const E = constants.errno as Record<string, number>;
  const expected: Record<string, number> = {
    EPERM: 1,
    ENOENT: 2,
    EINTR: 4,
    EBADF: 9,
    EAGAIN: 11,
    EWOULDBLOCK: 11,
    EACCES: 13,
    EINVAL: 22,
    EPIPE: 32,
    ENOTSOCK: 88,
    EDESTADDRREQ: 89,
    EMSGSIZE: 90,
    ENOPROTOOPT: 92,
    EPROTONOSUPPORT: 93,
    ESOCKTNOSUPPORT: 94,
    ENOTSUP: 95,
    EOPNOTSUPP: 95,
    EAFNOSUPPORT: 97,
    EADDRINUSE: 98,
    EADDRNOTAVAIL: 99,
    ENETUNREACH: 101,
    ECONNABORTED: 103,
    ECONNRESET: 104,
    ENOBUFS: 105,
    EISCONN: 106,
    ENOTCONN: 107,
    ESHUTDOWN: 108,
    ETIMEDOUT: 110,
    ECONNREFUSED: 111,
    EHOSTUNREACH: 113,
    EALREADY: 114,
    EINPROGRESS: 115,
  };
  const wrong = Object.entries(expected)
    .filter(([name, value]) => E[name] !== value)
    .map(([name, value]) => `${name}: ${E[name]} != ${value}`);
  assert.deepEqual(wrong, []);
});

Deno.test("mod.ts re-exports every constant of constants.ts", async () => {
  const mod = await import("../mod.ts") as Record<string, unknown>;
  const missing = Object.keys(C).filter((n) => mod[n] !== C[n]);
  assert.deepEqual(missing, []);
});

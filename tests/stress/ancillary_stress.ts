// Ancillary data, the differential run: sendmsg(), recvmsg(),
// recvmsg_into(), send_fds(), recv_fds(), CMSG_LEN() and CMSG_SPACE()
// against CPython's own, call for call. Each round picks a socket kind
// (unix stream, datagram and seqpacket socketpairs; UDP over 127.0.0.1 and
// ::1; TCP over 127.0.0.1), options on the receiver (SO_PASSCRED,
// IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT,
// SO_TIMESTAMP), a timeout (non-blocking, or 50 ms), and a sequence of
// sends and receives: buffers of random count and sizes (0 among them),
// control messages (SCM_RIGHTS with 0 to 300 descriptors, in one or several
// messages, with odd bytes after them, closed or negative descriptors;
// SCM_CREDENTIALS, our own and others'; IP_PKTINFO, IP_TTL, IPV6_PKTINFO,
// IPV6_HOPLIMIT; wrong levels and types, odd lengths, huge data, items
// that are not bytes or not 3-item sequences), send and receive flags
// (MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT, MSG_CMSG_CLOEXEC, MSG_WAITALL, ...),
// receive sizes smaller and larger than the message, and ancbufsize 0,
// tiny, CMSG_LEN(k*4) and CMSG_SPACE(k*4) and one off either way, large,
// over 1 MiB, and invalid. python3 plays the round first over its own
// sockets of the same kind; then this module plays it on the libc backend
// (now and then on the Deno backend, without ancillary data), and every
// call's result must be python3's: the data, the control messages (level,
// type, bytes; descriptors compared by what they refer to, the pid in
// SCM_CREDENTIALS by whose it is, timestamps by length), msg_flags, the
// address, or the exception's class, errno and message.
// Besides, the module's own promises: every descriptor received is open
// and close-on-exec; a round leaves /proc/self/fd as it found it (no
// descriptor leaked, truncated ones included); errors are the module's
// typed errors (a built-in TypeError only where CPython raises TypeError),
// never Deno.errors.*; and on the Deno backend ancillary data raises the
// documented OSError 95 naming libc.
// Left out, as documented or as CPython 3.11's own quirks:
// - recv_fds() and send_fds() pass flags (and send_fds() the address) on
//   (CPython 3.11 drops them): python3 plays them as recvmsg()/sendmsg()
//   with CMSG_LEN(maxfds * 4), which is what its recv_fds() calls;
// - descriptors received here are close-on-exec whatever the flags
//   (CPython's are inheritable without MSG_CMSG_CLOEXEC).
// About 50 s in all by default. STREAMS_SEED replays a run's choices (not
// its timing); with it, STREAMS_ROUND=n runs round n alone.
// ANCILLARY_ROUNDS and ANCILLARY_DENO_ROUNDS set the rounds.
import assert from "node:assert/strict";
import * as mod from "../../mod.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  close,
  CMSG_LEN,
  CMSG_SPACE,
  recv_fds,
  send_fds,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  type Socket,
  socket,
  socketpair,
} from "../../mod.ts";
import {
  type BackendName,
  skipNote,
  sleep,
  STEP_MS,
  unavailable,
  withTimeout,
} from "../_helpers.ts";
import { type FedPythonPeer, hasPython, pythonFed } from "../_python.ts";
import {
  count,
  Dice,
  roundsFrom,
  seededRounds,
  seedOf,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

/** Rounds on the libc backend (at least as many as STREAMS_ROUND needs). */
const ROUNDS = roundsFrom("ANCILLARY_ROUNDS", 950);
/** Rounds on the Deno backend. */
const DENO_ROUNDS = roundsFrom("ANCILLARY_DENO_ROUNDS", 160);

// Linux's numbers (the module's constants are CPython's, the same).
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const SO_PASSCRED = 16;
const SO_TIMESTAMP = 29;
const SO_TIMESTAMPNS = 35;
const IPPROTO_IP = 0;
const IPPROTO_IPV6 = 41;
const IP_TTL = 2;
const IP_PKTINFO = 8;
const IP_RECVTTL = 12;
const IP_RECVTOS = 13;
const IPV6_RECVPKTINFO = 49;
const IPV6_PKTINFO = 50;
const IPV6_RECVHOPLIMIT = 51;
const IPV6_HOPLIMIT = 52;
const MSG_OOB = 1;
const MSG_PEEK = 2;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const MSG_EOR = 0x80;
const MSG_WAITALL = 0x100;
const MSG_ERRQUEUE = 0x2000;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;

// ------------------------------------------------------------------ cases

type Kind =
  | "unix-stream"
  | "unix-dgram"
  | "unix-seqpacket"
  | "udp4"
  | "udp6"
  | "tcp4";

/** A control message to send, as both sides build it. */
type Item =
  // SCM_RIGHTS: pool indices (0-2), -1, or 1e6 (not open); odd bytes after.
  | ["fds", number[], number]
  // SCM_CREDENTIALS: pid ("self" or a number), uid, gid ("self" or a number).
  | ["creds", number | "self", number | "self", number | "self"]
  | ["raw", number, number, string]
  | ["zeros", number, number, number]
  // An item of the wrong shape or types.
  | ["bad", string];

type Step =
  | {
    op: "sendmsg";
    bufs: (number | "str")[];
    anc: Item[] | "int" | "none";
    flags: number;
    to: boolean;
  }
  | { op: "send_fds"; bufs: number[]; fds: number[]; flags: number }
  | { op: "recvmsg"; size: number; anc: number | "str"; flags: number }
  | { op: "into"; sizes: number[]; anc: number; flags: number }
  | { op: "recv_fds"; size: number; maxfds: number; flags: number }
  | { op: "cmsg"; len: number | "str" }
  | { op: "wait" }
  // Deno backend: ancillary data raises OSError 95 naming libc.
  | { op: "libcOnly"; send: boolean };

interface Case {
  kind: Kind;
  backend: BackendName;
  opts: [number, number, number][];
  timeout: number;
  steps: Step[];
}

const UNIX: readonly Kind[] = ["unix-stream", "unix-dgram", "unix-seqpacket"];
const isUnix = (k: Kind) => UNIX.includes(k);
const isDgram = (k: Kind) => k === "unix-dgram" || k.startsWith("udp");

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function le32(...ns: number[]): string {
  const b = new Uint8Array(ns.length * 4);
  const v = new DataView(b.buffer);
  ns.forEach((n, i) => v.setInt32(i * 4, n, true));
  return hex(b);
}

function genItem(d: Dice, kind: Kind): Item {
  const r = d.int(100);
  if (isUnix(kind) ? r < 55 : r < 8) {
    const n = d.chance(0.05) ? 250 + d.int(10) : d.int(d.chance(0.7) ? 4 : 9);
    const fds = Array.from(
      { length: n },
      () => d.chance(0.03) ? d.pick([-1, 1_000_000]) : d.int(3),
    );
    return ["fds", fds, d.chance(0.1) ? 1 + d.int(3) : 0];
  }
  if (isUnix(kind) ? r < 70 : r < 12) {
    return [
      "creds",
      d.chance(0.8) ? "self" : d.pick([0, 1, 99_999_999]),
      d.chance(0.85) ? "self" : d.pick([0, 1, 65534]),
      d.chance(0.85) ? "self" : d.pick([0, 1, 65534]),
    ];
  }
  if (r < 80) {
    // What UDP takes on send, now and then of the wrong length.
    const odd = d.chance(0.15);
    const which = d.int(4);
    if (which === 0) {
      const data = le32(0, 0x0100007f, 0);
      return ["raw", IPPROTO_IP, IP_PKTINFO, odd ? data.slice(0, 16) : data];
    }
    if (which === 1) {
      return ["raw", IPPROTO_IP, IP_TTL, odd ? "05" : le32(1 + d.int(255))];
    }
    if (which === 2) {
      const data = "00".repeat(15) + "01" + le32(0);
      return ["raw", IPPROTO_IPV6, IPV6_PKTINFO, odd ? data + "00" : data];
    }
    return [
      "raw",
      IPPROTO_IPV6,
      IPV6_HOPLIMIT,
      odd ? "0102" : le32(d.pick([1, 9, 255, -1, 256])),
    ];
  }
  if (r < 90) {
    const level = d.pick([SOL_SOCKET, 0, IPPROTO_IPV6, 999, -1]);
    const type = d.pick([SCM_RIGHTS, SCM_CREDENTIALS, 0, 99, -5]);
    const len = d.pick([0, 1, 3, 4, 7, 12, 13, 64]);
    const bytes = Array.from({ length: len }, () => d.int(256));
    return ["raw", level, type, hex(new Uint8Array(bytes))];
  }
  if (r < 93) {
    return [
      "zeros",
      d.pick([SOL_SOCKET, 999]),
      d.pick([SCM_RIGHTS, 99]),
      d.pick([300_000, 70_000, 20_000, 4096]),
    ];
  }
  return [
    "bad",
    d.pick([
      "str",
      "int",
      "none",
      "pair",
      "four",
      "biglevel",
      "negbig",
      "strdata",
      "intdata",
      "listdata",
      "strlevel",
    ]),
  ];
}

function genAncSize(d: Dice): number {
  const k = d.int(6);
  switch (d.int(12)) {
    case 0:
    case 1:
      return 0;
    case 2:
      return d.pick([1, 4, 8, 15, 16, 17, 19, 20, 23, 24]);
    case 3:
      return CMSG_SPACE(k * 4);
    case 4:
      return CMSG_LEN(k * 4);
    case 5:
      return CMSG_SPACE(k * 4) + d.pick([-1, 1]);
    case 6:
      return CMSG_LEN(k * 4) + d.pick([-1, 1]);
    case 7:
      return CMSG_SPACE(12) + CMSG_SPACE(k * 4) + d.pick([-1, 0, 0, 1]);
    case 8:
      return d.pick([1024, 4096, 65536]);
    case 9:
      return d.chance(0.5) ? (1 << 20) + d.int(100) : 2000;
    case 10:
      return d.chance(0.1) ? d.pick([-1, 2 ** 31, 2 ** 31 - 1]) : 64;
    default:
      return CMSG_SPACE(12) * 2 + CMSG_SPACE(4 * 253);
  }
}

function genRecvFlags(
  d: Dice,
  kind: Kind,
  deno: boolean,
  timeout: number,
): number {
  let f = 0;
  if (d.chance(0.2)) f |= MSG_PEEK;
  if (d.chance(0.15) && (!deno || isDgram(kind))) f |= MSG_TRUNC;
  if (d.chance(0.2)) f |= MSG_DONTWAIT;
  if (d.chance(0.2)) f |= MSG_CMSG_CLOEXEC;
  if (d.chance(0.15)) f |= MSG_WAITALL;
  // MSG_OOB only without a timeout: with one, CPython waits for POLLIN
  // before it calls, where this module calls first (EINVAL at once, no OOB
  // byte, against CPython's TimeoutError).
  if (!deno && d.chance(0.02)) {
    f |= timeout > 0 ? MSG_ERRQUEUE : d.pick([MSG_OOB, MSG_ERRQUEUE]);
  }
  return f;
}

function genSize(d: Dice): number {
  return d.chance(0.03)
    ? -1
    : d.pick([0, 1, 2, 3, 5, 8, 16, 40, 100, 1000, 70000]);
}

function genCase(d: Dice, backend: BackendName): Case {
  const deno = backend === "deno";
  const kind: Kind = deno
    ? d.pick(["unix-stream", "udp4", "tcp4"] as const)
    : d.pick(
      [
        "unix-stream",
        "unix-stream",
        "unix-dgram",
        "unix-dgram",
        "unix-seqpacket",
        "unix-seqpacket",
        "udp4",
        "udp6",
        "tcp4",
      ] as const,
    );
  const opts: [number, number, number][] = [];
  if (!deno) {
    if (isUnix(kind) && d.chance(0.5)) opts.push([SOL_SOCKET, SO_PASSCRED, 1]);
    if (kind === "udp4") {
      if (d.chance(0.5)) opts.push([IPPROTO_IP, IP_PKTINFO, 1]);
      if (d.chance(0.5)) opts.push([IPPROTO_IP, IP_RECVTTL, 1]);
      if (d.chance(0.2)) opts.push([IPPROTO_IP, IP_RECVTOS, 1]);
    }
    if (kind === "udp6") {
      if (d.chance(0.5)) opts.push([IPPROTO_IPV6, IPV6_RECVPKTINFO, 1]);
      if (d.chance(0.5)) opts.push([IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1]);
    }
    if (kind !== "tcp4" && kind !== "unix-stream" && d.chance(0.15)) {
      opts.push([SOL_SOCKET, SO_TIMESTAMP, 1]);
    }
  }
  const timeout = d.chance(0.85) ? 0 : 0.05;
  const steps: Step[] = [];
  const n = 2 + d.int(7);
  let sent = false;
  for (let i = 0; i < n; i++) {
    const r = d.int(100);
    if (r < 40 || !sent && r < 60) {
      sent = true;
      const bufs = Array.from(
        { length: d.int(d.chance(0.9) ? 4 : 8) },
        (): number | "str" =>
          d.chance(0.02) ? "str" : d.pick([0, 1, 2, 3, 7, 16, 100, 3000]),
      );
      if (isUnix(kind) && !deno && d.chance(0.3)) {
        steps.push({
          op: "send_fds",
          bufs: bufs.map((b) => b === "str" ? 1 : b),
          fds: Array.from(
            { length: d.int(5) },
            () => d.chance(0.05) ? -1 : d.int(3),
          ),
          flags: d.chance(0.1) ? MSG_DONTWAIT : 0,
        });
        continue;
      }
      const anc: Item[] | "int" | "none" = deno
        ? []
        : d.chance(0.02)
        ? d.pick(["int", "none"] as const)
        : Array.from(
          { length: d.chance(0.3) ? 0 : 1 + d.int(d.chance(0.8) ? 2 : 4) },
          () => genItem(d, kind),
        );
      const flags = d.chance(0.8)
        ? 0
        : d.pick([MSG_DONTWAIT, MSG_NOSIGNAL, MSG_EOR, MSG_OOB]);
      steps.push({
        op: "sendmsg",
        bufs,
        anc,
        flags: deno && flags !== MSG_DONTWAIT ? 0 : flags,
        to: kind.startsWith("udp") && d.chance(0.2),
      });
    } else if (r < 65) {
      steps.push({
        op: "recvmsg",
        size: genSize(d),
        anc: deno ? 0 : d.chance(0.01) ? "str" : genAncSize(d),
        flags: genRecvFlags(d, kind, deno, timeout),
      });
    } else if (r < 83) {
      steps.push({
        op: "into",
        sizes: Array.from(
          { length: d.int(5) },
          () => d.pick([0, 1, 2, 5, 16, 100, 4000]),
        ),
        anc: deno ? 0 : Math.max(0, genAncSize(d)),
        flags: genRecvFlags(d, kind, deno, timeout),
      });
    } else if (r < 92 && isUnix(kind) && !deno) {
      steps.push({
        op: "recv_fds",
        size: Math.max(0, genSize(d)),
        maxfds: d.chance(0.03) ? -1 : d.int(6),
        flags: genRecvFlags(d, kind, deno, timeout),
      });
    } else if (r < 95) {
      steps.push({
        op: "cmsg",
        len: d.chance(0.05) ? "str" : d.pick([
          0,
          1,
          4,
          7,
          12,
          -1,
          2 ** 31 - 17,
          2 ** 31 - 16,
          2 ** 31 - 24,
          2 ** 31 - 23,
          2 ** 63,
        ]),
      });
    } else {
      steps.push({ op: "wait" });
    }
  }
  // Whatever is left, read: descriptors in flight are the kernel's to close.
  steps.push({
    op: "recvmsg",
    size: 80000,
    anc: deno ? 0 : CMSG_SPACE(4 * 300) + 200,
    flags: MSG_DONTWAIT,
  });
  if (deno && d.chance(0.3)) {
    steps.push({ op: "libcOnly", send: d.chance(0.5) });
  }
  return {
    kind,
    backend,
    opts,
    timeout,
    steps,
  };
}

// ------------------------------------------------------------ python3's side

const PY_RUNNER = String.raw`
import array, json, os, socket, sys, time

POOL = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
LINKS = [os.readlink("/proc/self/fd/%d" % p.fileno()) for p in POOL]

def ident(fd):
    try:
        link = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        return "closed"
    if link in LINKS:
        return LINKS.index(link)
    return "other " + link.split(":")[0]

def pat(s, i, n):
    return bytes((s * 31 + i * 7 + j) & 255 for j in range(n))

def fdnum(x):
    return POOL[x].fileno() if 0 <= x < 3 else x

BAD = {
    "str": lambda: "abc",
    "int": lambda: 5,
    "none": lambda: None,
    "pair": lambda: (1, 1),
    "four": lambda: (1, 1, b"", 0),
    "biglevel": lambda: (2 ** 31, 1, b""),
    "negbig": lambda: (1, -2 ** 31 - 1, b""),
    "strdata": lambda: (1, 1, "abcd"),
    "intdata": lambda: (1, 1, 4),
    "listdata": lambda: (1, 1, [1, 2]),
    "strlevel": lambda: ("1", 1, b""),
}

def item(it):
    k = it[0]
    if k == "fds":
        return (socket.SOL_SOCKET, socket.SCM_RIGHTS,
                array.array("i", [fdnum(x) for x in it[1]]).tobytes() + b"\x01" * it[2])
    if k == "creds":
        pid = os.getpid() if it[1] == "self" else it[1]
        uid = os.getuid() if it[2] == "self" else it[2]
        gid = os.getgid() if it[3] == "self" else it[3]
        return (socket.SOL_SOCKET, socket.SCM_CREDENTIALS, array.array("i", [pid, uid, gid]).tobytes())
    if k == "raw":
        return (it[1], it[2], bytes.fromhex(it[3]))
    if k == "zeros":
        return (it[1], it[2], bytes(it[3]))
    return BAD[it[1]]()

def err(e):
    return {"e": type(e).__name__, "errno": getattr(e, "errno", None), "m": str(e)}

def anc_out(anc):
    out = []
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            whole = len(data) - len(data) % 4
            fds = list(array.array("i", data[:whole]))
            out.append([level, typ, {"fds": [ident(fd) for fd in fds], "rest": data[whole:].hex()}])
            for fd in fds:
                os.close(fd)
        elif level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            own = array.array("i", [os.getpid()]).tobytes()
            pid = "self" if data[:4] == own[:len(data[:4])] else data[:4].hex()
            out.append([level, typ, {"pid": pid, "rest": data[4:].hex()}])
        elif level == socket.SOL_SOCKET and typ in (29, 35):
            out.append([level, typ, {"len": len(data)}])
        else:
            out.append([level, typ, data.hex()])
    return out

def addr_out(a, peer):
    if a is None:
        return None
    if isinstance(a, str):
        return {"u": a}
    if isinstance(a, bytes):
        return {"ub": a.hex()}
    if tuple(a[:2]) == tuple(peer[:2]):
        return "peer"
    return list(a)

def pair(kind):
    if kind.startswith("unix"):
        t = {"unix-stream": socket.SOCK_STREAM, "unix-dgram": socket.SOCK_DGRAM,
             "unix-seqpacket": socket.SOCK_SEQPACKET}[kind]
        return socket.socketpair(socket.AF_UNIX, t)
    if kind.startswith("udp"):
        fam, host = (socket.AF_INET, "127.0.0.1") if kind == "udp4" else (socket.AF_INET6, "::1")
        a = socket.socket(fam, socket.SOCK_DGRAM)
        b = socket.socket(fam, socket.SOCK_DGRAM)
        a.bind((host, 0)); b.bind((host, 0))
        a.connect(b.getsockname()); b.connect(a.getsockname())
        return a, b
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.bind(("127.0.0.1", 0)); l.listen()
    a = socket.create_connection(l.getsockname())
    b, _ = l.accept()
    l.close()
    return a, b

def play(c):
    a, b = pair(c["kind"])
    for lvl, name, v in c["opts"]:
        b.setsockopt(lvl, name, v)
    for s in (a, b):
        s.settimeout(c["timeout"]) if c["timeout"] else s.setblocking(False)
    out = []
    ip = not c["kind"].startswith("unix")
    try:
        for si, st in enumerate(c["steps"]):
            op = st["op"]
            try:
                if op == "sendmsg":
                    bufs = ["abc" if x == "str" else pat(si, i, x) for i, x in enumerate(st["bufs"])]
                    anc = st["anc"]
                    anc = 5 if anc == "int" else None if anc == "none" else [item(it) for it in anc]
                    args = [bufs, anc, st["flags"]]
                    if st["to"]:
                        args.append(b.getsockname())
                    out.append({"n": a.sendmsg(*args)})
                    if ip:
                        time.sleep(0.005)
                elif op == "send_fds":
                    bufs = [pat(si, i, x) for i, x in enumerate(st["bufs"])]
                    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fdnum(x) for x in st["fds"]]))]
                    out.append({"n": a.sendmsg(bufs, anc, st["flags"])})
                elif op == "recvmsg":
                    anc = "x" if st["anc"] == "str" else st["anc"]
                    d, ad, f, ad2 = b.recvmsg(st["size"], anc, st["flags"])
                    if c["kind"] == "tcp4" and st["flags"] & 0x20:
                        d = b"?" * len(d)
                    out.append({"d": d.hex(), "a": anc_out(ad), "f": f, "addr": addr_out(ad2, a.getsockname())})
                elif op == "into":
                    bufs = [bytearray(n) for n in st["sizes"]]
                    n, ad, f, ad2 = b.recvmsg_into(bufs, st["anc"], st["flags"])
                    out.append({"n": n, "b": [x.hex() for x in bufs], "a": anc_out(ad), "f": f, "addr": addr_out(ad2, a.getsockname())})
                elif op == "recv_fds":
                    d, ad, f, ad2 = b.recvmsg(st["size"], socket.CMSG_LEN(st["maxfds"] * 4), st["flags"])
                    fds = []
                    for level, typ, data in ad:
                        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                            fds.extend(array.array("i", data[:len(data) - len(data) % 4]))
                    idents = [ident(fd) for fd in fds]
                    for level, typ, data in ad:
                        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                            for fd in array.array("i", data[:len(data) - len(data) % 4]):
                                os.close(fd)
                    out.append({"d": d.hex(), "fds": idents, "f": f, "addr": addr_out(ad2, a.getsockname())})
                elif op == "cmsg":
                    n = "x" if st["len"] == "str" else st["len"]
                    res = []
                    for fn in (socket.CMSG_LEN, socket.CMSG_SPACE):
                        try:
                            res.append(fn(n))
                        except Exception as e:
                            res.append(err(e))
                    out.append({"cmsg": res})
                elif op == "wait":
                    time.sleep(0.01)
                    out.append({})
                else:
                    out.append({})
            except Exception as e:
                out.append(err(e))
    finally:
        a.close(); b.close()
    return out

for line in sys.stdin:
    print(json.dumps(play(json.loads(line))), flush=True)
`;

// ------------------------------------------------------------ this side

type Pool = Socket[];

function pat(s: number, i: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, j) => (s * 31 + i * 7 + j) & 255);
}

function linkOf(fd: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** This process's open descriptors: number and what each refers to. */
function openFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const link = linkOf(Number(e.name));
    if (link !== null) out.set(Number(e.name), link);
  }
  return out;
}

/** Whether `fd` is open with close-on-exec (O_CLOEXEC, octal 02000000). */
function cloexec(fd: number): boolean {
  const info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
  return (parseInt(/flags:\s+([0-7]+)/.exec(info)![1], 8) & 0o2000000) !== 0;
}

class Side {
  problems: string[] = [];
  constructor(readonly pool: Pool, readonly links: string[]) {}

  ident(fd: number): number | string {
    const link = linkOf(fd);
    if (link === null) {
      this.problems.push(`received descriptor ${fd} is not open`);
      return "closed";
    }
    if (!cloexec(fd)) {
      this.problems.push(`received descriptor ${fd} is not close-on-exec`);
    }
    const i = this.links.indexOf(link);
    return i >= 0 ? i : "other " + link.split(":")[0];
  }

  fdnum(x: number): number {
    return x >= 0 && x < 3 ? this.pool[x].fileno() : x;
  }

  item(it: Item): unknown {
    switch (it[0]) {
      case "fds": {
        const ints = new Uint8Array(
          Int32Array.from(it[1], (x) => this.fdnum(x)).buffer,
        );
        const data = new Uint8Array(ints.length + it[2]);
        data.set(ints);
        data.fill(1, ints.length);
        return [SOL_SOCKET, SCM_RIGHTS, data];
      }
      case "creds": {
        const pid = it[1] === "self" ? Deno.pid : it[1];
        const uid = it[2] === "self" ? Deno.uid()! : it[2];
        const gid = it[3] === "self" ? Deno.gid()! : it[3];
        return [SOL_SOCKET, SCM_CREDENTIALS, new Int32Array([pid, uid, gid])];
      }
      case "raw":
        return [it[1], it[2], unhex(it[3])];
      case "zeros":
        return [it[1], it[2], new Uint8Array(it[3])];
      default:
        return ({
          str: "abc",
          int: 5,
          none: null,
          pair: [1, 1],
          four: [1, 1, new Uint8Array(0), 0],
          biglevel: [2 ** 31, 1, new Uint8Array(0)],
          negbig: [1, -(2 ** 31) - 1, new Uint8Array(0)],
          strdata: [1, 1, "abcd"],
          intdata: [1, 1, 4],
          listdata: [1, 1, [1, 2]],
          strlevel: ["1", 1, new Uint8Array(0)],
        } as Record<string, unknown>)[it[1]];
    }
  }

  ancOut(anc: [number, number, Uint8Array][]): unknown[] {
    return anc.map(([level, type, data]) => {
      const view = new DataView(data.buffer, data.byteOffset, data.length);
      if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        const whole = data.length - data.length % 4;
        const fds: number[] = [];
        for (let i = 0; i < whole; i += 4) fds.push(view.getInt32(i, true));
        const ids = fds.map((fd) => this.ident(fd));
        for (const fd of fds) close(fd);
        return [level, type, { fds: ids, rest: hex(data.subarray(whole)) }];
      }
      if (level === SOL_SOCKET && type === SCM_CREDENTIALS) {
        // The pid, whole or cut short, by whose it is.
        const own = hex(new Uint8Array(new Int32Array([Deno.pid]).buffer));
        const head = hex(data.subarray(0, 4));
        return [level, type, {
          pid: own.startsWith(head) ? "self" : head,
          rest: hex(data.subarray(4)),
        }];
      }
      if (
        level === SOL_SOCKET &&
        (type === SO_TIMESTAMP || type === SO_TIMESTAMPNS)
      ) return [level, type, { len: data.length }];
      return [level, type, hex(data)];
    });
  }
}

function unhex(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
}

function addrOut(a: unknown, peer: unknown): unknown {
  if (a === null || a === undefined) return null;
  if (typeof a === "string") return { u: a };
  if (a instanceof Uint8Array) return { ub: hex(a) };
  const t = a as unknown[];
  const p = peer as unknown[];
  if (t[0] === p[0] && t[1] === p[1]) return "peer";
  return t;
}

// A thrown value as python3's err(): only the module's typed errors (and a
// built-in TypeError, Python's TypeError here) pass; anything else is a
// problem of its own.
function errOut(e: unknown, side: Side): Record<string, unknown> {
  if (!(e instanceof Error)) {
    side.problems.push(`threw a non-Error: ${String(e)}`);
    return { e: String(e) };
  }
  const typed = e instanceof mod.OSError || e instanceof mod.ValueError ||
    e instanceof mod.OverflowError || e instanceof mod.BufferError ||
    e.constructor === TypeError;
  if (!typed) {
    side.problems.push(`untyped error ${e.name}: ${e.message}\n${e.stack}`);
  }
  return {
    e: e.name,
    errno: e instanceof mod.OSError ? e.errno : null,
    m: e.message,
  };
}

async function pairOf(c: Case): Promise<[Socket, Socket]> {
  const opt = { backend: c.backend };
  if (isUnix(c.kind)) {
    const t = c.kind === "unix-stream"
      ? SOCK_STREAM
      : c.kind === "unix-dgram"
      ? SOCK_DGRAM
      : SOCK_SEQPACKET;
    return await socketpair(AF_UNIX, t, 0, opt) as [Socket, Socket];
  }
  if (c.kind.startsWith("udp")) {
    const [fam, host] = c.kind === "udp4"
      ? [AF_INET, "127.0.0.1"]
      : [AF_INET6, "::1"];
    const a = socket(fam, SOCK_DGRAM, 0, opt);
    const b = socket(fam, SOCK_DGRAM, 0, opt);
    a.bind([host, 0]);
    b.bind([host, 0]);
    await a.connect(b.getsockname());
    await b.connect(a.getsockname());
    return [a, b];
  }
  using l = socket(AF_INET, SOCK_STREAM, 0, opt);
  l.bind(["127.0.0.1", 0]);
  l.listen();
  const a = socket(AF_INET, SOCK_STREAM, 0, opt);
  const [, [b]] = await Promise.all([a.connect(l.getsockname()), l.accept()]);
  return [a, b];
}

async function step(
  st: Step,
  si: number,
  a: Socket,
  b: Socket,
  c: Case,
  side: Side,
): Promise<Record<string, unknown>> {
  const ip = !isUnix(c.kind);
  // deno-lint-ignore no-explicit-any
  const call = (f: any, ...args: unknown[]) => f(...args);
  switch (st.op) {
    case "sendmsg": {
      const bufs = st.bufs.map((x, i) => x === "str" ? "abc" : pat(si, i, x));
      const anc = st.anc === "int"
        ? 5
        : st.anc === "none"
        ? null
        : st.anc.map((it) => side.item(it));
      const args: unknown[] = [bufs, anc, st.flags];
      if (st.to) args.push(b.getsockname());
      const n = await call(a.sendmsg.bind(a), ...args);
      if (ip) await sleep(5);
      return { n };
    }
    case "send_fds": {
      const bufs = st.bufs.map((x, i) => pat(si, i, x));
      return {
        n: await send_fds(a, bufs, st.fds.map((x) => side.fdnum(x)), st.flags),
      };
    }
    case "recvmsg": {
      const [d, anc, f, from] = await call(
        b.recvmsg.bind(b),
        st.size,
        st.anc === "str" ? "x" : st.anc,
        st.flags,
      );
      // TCP's MSG_TRUNC discards the bytes without copying them: CPython's
      // buffer is left uninitialized, so only the length counts.
      const tcpTrunc = c.kind === "tcp4" && (st.flags & MSG_TRUNC) !== 0;
      return {
        d: hex(tcpTrunc ? new Uint8Array(d.length).fill(0x3f) : d),
        a: side.ancOut(anc),
        f,
        addr: addrOut(from, a.getsockname()),
      };
    }
    case "into": {
      const bufs = st.sizes.map((n) => new Uint8Array(n));
      const [n, anc, f, from] = await b.recvmsg_into(bufs, st.anc, st.flags);
      return {
        n,
        b: bufs.map(hex),
        a: side.ancOut(anc),
        f,
        addr: addrOut(from, a.getsockname()),
      };
    }
    case "recv_fds": {
      const [d, fds, f, from] = await recv_fds(b, st.size, st.maxfds, st.flags);
      const ids = fds.map((fd) => side.ident(fd));
      for (const fd of fds) close(fd);
      return { d: hex(d), fds: ids, f, addr: addrOut(from, a.getsockname()) };
    }
    case "cmsg": {
      const n = st.len === "str" ? "x" : st.len;
      const res: unknown[] = [];
      for (const fn of [CMSG_LEN, CMSG_SPACE]) {
        try {
          res.push(call(fn, n));
        } catch (e) {
          res.push(errOut(e, side));
        }
      }
      return { cmsg: res };
    }
    case "wait":
      await sleep(10);
      return {};
    case "libcOnly": {
      // Not python3's: the documented OSError 95 naming libc.
      try {
        if (st.send) {
          await a.sendmsg([pat(si, 0, 3)], [[
            SOL_SOCKET,
            SCM_CREDENTIALS,
            new Uint8Array(12),
          ]]);
        } else await b.recvmsg(10, 24, MSG_DONTWAIT);
      } catch (e) {
        const r = errOut(e, side);
        if (r.errno !== 95 || !/backend: "libc"/.test(String(r.m))) {
          side.problems.push(`ancillary data on Deno: ${JSON.stringify(r)}`);
        }
        return {};
      }
      side.problems.push("ancillary data on Deno did not raise");
      return {};
    }
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 600 ? s.slice(0, 600) + "..." : s;
}

// Where `a` and `b` first differ: a path, and the two values there (long
// strings cut around their first differing character).
function diff(a: unknown, b: unknown, path = ""): string {
  if (same(a, b)) return "";
  if (
    a !== null && b !== null && typeof a === "object" && typeof b === "object"
  ) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = diff(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${path}.${k}`,
      );
      if (d !== "") return d;
    }
  }
  if (typeof a === "string" && typeof b === "string") {
    let i = 0;
    while (a[i] === b[i]) i++;
    const from = Math.max(0, i - 20);
    return `${path} (lengths ${a.length}, ${b.length}) at ${i}: ...${
      a.slice(from, i + 40)
    }... vs python3 ...${b.slice(from, i + 40)}...`;
  }
  return `${path}: ${show(a)} vs python3 ${show(b)}`;
}

// `got` is `want` but for fewer bytes of data, a prefix of `want`'s.
function shortRead(
  got: Record<string, unknown>,
  want: Record<string, unknown>,
): boolean {
  if (typeof got.d === "string" && typeof want.d === "string") {
    return got.d.length < want.d.length && want.d.startsWith(got.d) &&
      same({ ...got, d: "" }, { ...want, d: "" });
  }
  if (typeof got.n === "number" && typeof want.n === "number") {
    return got.n < (want.n as number) && same(got.f, want.f);
  }
  return false;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function tallyStep(tally: Tally, st: Step, got: Record<string, unknown>) {
  const what = "e" in got ? ` raised ${got.e}` : "";
  count(tally, `${st.op}${what}`);
  if ("f" in got && (got.f as number) & 8) count(tally, "MSG_CTRUNC");
  if ("f" in got && (got.f as number) & MSG_TRUNC) count(tally, "MSG_TRUNC");
  if (Array.isArray(got.a)) {
    for (const [, t, d] of got.a as [number, number, unknown][]) {
      if (t === SCM_RIGHTS && typeof d === "object") {
        count(tally, "SCM_RIGHTS received");
      } else if (t === SCM_CREDENTIALS) {
        count(tally, "SCM_CREDENTIALS received");
      } else count(tally, "other control message received");
    }
  }
}

async function round(
  py: FedPythonPeer,
  side: Side,
  backend: BackendName,
  seed: number,
  n: number,
  tally: Tally,
): Promise<void> {
  const c = genCase(new Dice(seedOf(seed, n, 0)), backend);
  count(tally, c.kind);
  await py.send(c);
  const want = JSON.parse(await py.line()) as Record<string, unknown>[];
  const where = `case ${show(c)}`;
  const before = openFds();
  side.problems = [];
  const [a, b] = await withTimeout(pairOf(c), STEP_MS, "pair");
  try {
    for (const [lvl, name, v] of c.opts) b.setsockopt(lvl, name, v);
    for (const s of [a, b]) {
      if (c.timeout) s.settimeout(c.timeout);
      else s.setblocking(false);
    }
    for (const [si, st] of c.steps.entries()) {
      let got: Record<string, unknown>;
      try {
        got = await withTimeout(step(st, si, a, b, c, side), STEP_MS, st.op);
      } catch (e) {
        if (e instanceof Error && /did not settle/.test(e.message)) {
          assert.fail(`step ${si} ${st.op} hung; ${where}`);
        }
        got = errOut(e, side);
      }
      tallyStep(tally, st, got);
      if (side.problems.length > 0) {
        assert.fail(
          `step ${si} ${st.op}: ${side.problems.join("; ")}; ${where}`,
        );
      }
      // A Deno-backend stream read may be short where bytes were given back
      // to it (README): a prefix of python3's, and the rounds' streams part.
      if (
        c.backend === "deno" &&
        (c.kind === "tcp4" || c.kind === "unix-stream") &&
        shortRead(got, want[si])
      ) {
        count(tally, "short Deno-backend stream read: the round stops there");
        break;
      }
      if (st.op !== "libcOnly" && !same(got, want[si])) {
        assert.fail(
          `step ${si} ${show(st)}: ${show(got)}, python3 ${
            show(want[si])
          } (first difference: ${diff(got, want[si])}); ${where}`,
        );
      }
    }
  } finally {
    a.close();
    b.close();
  }
  // The Deno backend closes its sockets once their pending ops have been
  // cancelled, a turn or two of the event loop after close().
  let after = openFds();
  let added = [...after].filter(([fd, l]) => before.get(fd) !== l);
  if (added.length > 0) count(tally, "closed after close() returned");
  for (let i = 0; i < 50 && added.length > 0; i++) {
    await sleep(10);
    after = openFds();
    added = [...after].filter(([fd, l]) => before.get(fd) !== l);
  }
  if (added.length > 0) {
    assert.fail(
      `open descriptors: ${before.size} before the round, ${after.size} after (new: ${
        show(added)
      }); ${where}`,
    );
  }
}

const noPython = hasPython ? null : "no python3";

for (
  const [backend, rounds, offset] of [["libc", ROUNDS, 0], [
    "deno",
    DENO_ROUNDS,
    1,
  ]] as const
) {
  const reason = noPython ?? unavailable("libc");
  Deno.test({
    name: skipNote(
      `${backend}: sendmsg/recvmsg/recvmsg_into/send_fds/recv_fds/CMSG_* call for call as python3's over random buffers, control messages, flags and buffer sizes; received descriptors open, close-on-exec, none leaked`,
      reason,
    ),
    ignore: reason !== null,
    // The pool's sockets live across rounds; python3's pipes too.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const seed = (STREAMS_SEED + offset) >>> 0;
      const tally: Tally = {};
      await using py = pythonFed(PY_RUNNER);
      const pool = Array.from(
        { length: 3 },
        () => socket(AF_INET, SOCK_DGRAM, 0, { backend: "libc" }),
      );
      try {
        const side = new Side(pool, pool.map((s) => linkOf(s.fileno())!));
        // The libc poller's epoll and eventfd, made on the first wait, are
        // the process's from then on: made here, before any round counts.
        {
          const [x, y] = await socketpair(AF_UNIX, SOCK_STREAM, 0, {
            backend: "libc",
          });
          using _x = x, _y = y;
          x.settimeout(0.01);
          await x.recv(1).catch(() => {});
        }
        await seededRounds({
          what: `ancillary data, ${backend} backend`,
          rounds,
          boundMs: Math.max(45_000, rounds * 150),
          tally,
          round: (n) => round(py, side, backend, seed, n, tally),
        });
      } finally {
        for (const s of pool) s.close();
      }
    },
  });
}

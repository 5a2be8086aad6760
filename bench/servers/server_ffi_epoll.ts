/**
 * A control for the ported selectors server on the libc backend: the same
 * loop as servers/server.py and server_epoll.c (epoll, accept, recv(65536),
 * send) written straight against libc through Deno FFI, with no library,
 * no Promise and no event loop turn (epoll_wait blocks the thread). It is
 * the most a Deno program that calls libc per request can do: against C
 * epoll it shows what an FFI call and a Deno process's system calls cost;
 * against the ported server, what the module adds.
 *
 * ```sh
 * deno run --allow-ffi bench/servers/server_ffi_epoll.ts PORT
 * ```
 *
 * As the port does, each request's bytes are copied out of a scratch buffer
 * into new memory (Python's recv returns a new bytes object).
 *
 * @module
 */

// Linux only (epoll).
const libc = Deno.dlopen(
  "libc.so.6",
  {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    setsockopt: {
      parameters: ["i32", "i32", "i32", "buffer", "u32"],
      result: "i32",
    },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    listen: { parameters: ["i32", "i32"], result: "i32" },
    accept4: {
      parameters: ["i32", "pointer", "pointer", "i32"],
      result: "i32",
    },
    epoll_create1: { parameters: ["i32"], result: "i32" },
    epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
    epoll_wait: {
      parameters: ["i32", "buffer", "i32", "i32"],
      result: "i32",
    },
    recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
    send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
  },
);
const c = libc.symbols;

// Linux x86-64 values.
const AF_INET = 2, SOCK_STREAM = 1, SOCK_NONBLOCK = 0o4000;
const SOL_SOCKET = 1, SO_REUSEADDR = 2, IPPROTO_TCP = 6, TCP_NODELAY = 1;
const EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLLIN = 1;
const EAGAIN = 11, EINTR = 4, MSG_NOSIGNAL = 0x4000;
// struct epoll_event is packed on x86-64 (12 bytes), 16 bytes elsewhere.
const EVENT = Deno.build.arch === "x86_64" ? 12 : 16;
const DATA = Deno.build.arch === "x86_64" ? 4 : 8;
const MAX = 256;

function errno(): number {
  return new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
}

function check(what: string, r: number): number {
  if (r < 0) throw new Error(`${what}: errno ${errno()}`);
  return r;
}

const one = new Int32Array([1]);
const onebytes = new Uint8Array(one.buffer);
const event = new Uint8Array(EVENT);
const eventView = new DataView(event.buffer);

function watch(ep: number, fd: number): void {
  eventView.setUint32(0, EPOLLIN, true);
  eventView.setInt32(DATA, fd, true);
  check("epoll_ctl", c.epoll_ctl(ep, EPOLL_CTL_ADD, fd, event));
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  const lfd = check(
    "socket",
    c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0),
  );
  check("setsockopt", c.setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, onebytes, 4));
  const sa = new Uint8Array(16);
  const sav = new DataView(sa.buffer);
  sav.setUint16(0, AF_INET, true);
  sav.setUint16(2, port, false);
  sa.set([127, 0, 0, 1], 4);
  check("bind", c.bind(lfd, sa, 16));
  check("listen", c.listen(lfd, 1024));
  const ep = check("epoll_create1", c.epoll_create1(0));
  watch(ep, lfd);

  const events = new Uint8Array(EVENT * MAX);
  const view = new DataView(events.buffer);
  const scratch = new Uint8Array(65536);
  const SCRATCH = BigInt(scratch.length);
  for (;;) {
    const n = c.epoll_wait(ep, events, MAX, -1);
    if (n < 0 && errno() === EINTR) continue;
    check("epoll_wait", n);
    for (let i = 0; i < n; i++) {
      const fd = view.getInt32(i * EVENT + DATA, true);
      if (fd === lfd) {
        const conn = c.accept4(lfd, null, null, SOCK_NONBLOCK);
        if (conn < 0) continue;
        c.setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, onebytes, 4);
        watch(ep, conn);
        continue;
      }
      const r = Number(c.recv(fd, scratch, SCRATCH, 0));
      if (r < 0 && errno() === EAGAIN) continue;
      if (r <= 0) {
        c.epoll_ctl(ep, EPOLL_CTL_DEL, fd, event);
        c.close(fd);
        continue;
      }
      const data = scratch.slice(0, r);
      // sendall: a 64-byte echo is taken whole (one request in flight per
      // connection); a client that went away is dropped.
      for (let sent = 0; sent < r;) {
        const k = Number(
          c.send(fd, data.subarray(sent), BigInt(r - sent), MSG_NOSIGNAL),
        );
        if (k < 0 && errno() === EAGAIN) continue;
        if (k < 0) {
          c.epoll_ctl(ep, EPOLL_CTL_DEL, fd, event);
          c.close(fd);
          break;
        }
        sent += k;
      }
    }
  }
}

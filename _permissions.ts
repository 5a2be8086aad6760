// Deno's permission flags for libc sockets: before bind, connect, sendto
// and sendmsg, a libc socket asks what Deno itself would require of its
// own socket for the same address, so that `--allow-ffi` is no way around
// a scoped `--allow-net`. Queried without prompting (querySync), every
// time: Deno answers from its own state in nanoseconds, and a revoke is
// seen at once. The Deno backend's UDP sockets use it too, where Deno
// checks nothing itself (a connect()) or says nothing of the flag (a
// node:dgram send it refused); there a connect may prompt, as Deno's own
// sockets do.
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  errno as E,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  SOCK_DGRAM,
  SOCK_RAW,
} from "./constants.ts";
import { PermissionError } from "./errors.ts";
import { fsDecode } from "./_args.ts";
import { resolveUnixPath } from "./_address.ts";
import type { SockAddr } from "./_backend.ts";

// What the flag `name` grants without a scope: every host or path ("all"),
// all but what a --deny-* list takes back ("partial", Deno's `partial`), or
// not everything ("no").
function unscoped(name: "net" | "read" | "write"): "all" | "partial" | "no" {
  const all = Deno.permissions.querySync({ name });
  if (all.state !== "granted") return "no";
  return all.partial ? "partial" : "all";
}

// The unscoped grant answers first: Deno keeps a state for every host or
// path it is asked about, for the life of the process, so asking per address
// grew memory with each new peer (0.4 KB each); the flag without a scope
// grants them all, unless a --deny-* list takes some back (`partial`).
function granted(
  descriptor: Deno.PermissionDescriptor,
  ask = false,
): boolean {
  const { name } = descriptor;
  if (
    (name === "net" || name === "read" || name === "write") &&
    Object.keys(descriptor).length > 1
  ) {
    if (unscoped(name) === "all") return true;
  }
  try {
    const status = ask
      ? Deno.permissions.requestSync(descriptor)
      : Deno.permissions.querySync(descriptor);
    return status.state === "granted";
  } catch {
    // A descriptor a scoped flag cannot name (an abstract unix name): only
    // the unscoped flag grants it.
    return descriptor.name === "net" &&
      Deno.permissions.querySync({ name: "net" }).state === "granted";
  }
}

function denied(flag: string, what: string): PermissionError {
  return new PermissionError(
    E.EACCES,
    `Requires ${flag} access to ${what}, run again with the --allow-${flag} flag`,
  );
}

function needNet(host: string | undefined, what: string, ask = false): void {
  const ok = host === undefined
    ? granted({ name: "net" }, ask)
    : granted({ name: "net", host }, ask);
  if (!ok) throw denied("net", what);
}

// A socket that can reach any address (a raw socket, a family with no
// scope): unscoped --allow-net, and no --deny-net list, which such a socket
// would otherwise pass by.
function needAllNet(what: string): void {
  const all = unscoped("net");
  if (all === "no") throw denied("net", what);
  if (all === "partial") {
    throw new PermissionError(
      E.EACCES,
      `Requires net access to ${what}, which a --deny-net list takes some of`,
    );
  }
}

/** How a refusal names an abstract unix name, which only unscoped --allow-net grants. */
export const ABSTRACT_NAME = "an abstract unix name (unscoped --allow-net)";

/**
 * What a raw socket, or one of a family Deno has no sockets for, needs:
 * unscoped `--allow-net` (it can reach any address).
 *
 * @param family The socket's family.
 * @param type The socket's type.
 * @throws {PermissionError} Without unscoped `--allow-net`, or with a
 *   `--deny-net` list.
 */
export function permitOpen(family: number, type: number): void {
  const inet = family === AF_INET || family === AF_INET6;
  if ((inet && type === SOCK_RAW) || (!inet && family !== AF_UNIX)) {
    needAllNet("all addresses (a raw socket)");
  }
}

/**
 * What Deno would require of its own socket to bind, connect or send to
 * `addr`: `--allow-net` for the host and port; for a unix path
 * `--allow-read` and `--allow-write` of the path and `--allow-net` of
 * `unix:PATH`; for an abstract name unscoped `--allow-net`.
 *
 * @param family The socket's family.
 * @param type The socket's type.
 * @param proto The socket's protocol.
 * @param addr A numeric address, as the backends take it.
 * @param ask Let Deno prompt where its flags leave the address open (an IP
 *   address only), as its own sockets do.
 * @throws {PermissionError} Naming the flag and the address.
 */
export function permitAddress(
  family: number,
  type: number,
  proto: number,
  addr: SockAddr,
  ask = false,
): void {
  if (family === AF_INET || family === AF_INET6) {
    if (type === SOCK_RAW) {
      return needAllNet("all addresses (a raw socket)");
    }
    const [host, port] = addr as [string, number];
    const h = family === AF_INET6 ? `[${host.split("%")[0]}]` : host;
    // A ping socket has no port: any port of the host will do.
    const ping = type === SOCK_DGRAM &&
      (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6);
    const target = ping ? h : `${h}:${port}`;
    return needNet(target, JSON.stringify(target), ask);
  }
  if (family === AF_UNIX) {
    const name = typeof addr === "string" ? addr : fsDecode(addr as Uint8Array);
    if (name === "" || name.startsWith("\0")) {
      return needNet(undefined, ABSTRACT_NAME);
    }
    const path = resolveUnixPath(name);
    for (const flag of ["read", "write"] as const) {
      if (!granted({ name: flag, path })) {
        throw denied(flag, JSON.stringify(path));
      }
    }
    return needNet(`unix:${path}`, JSON.stringify(`unix:${path}`));
  }
  needAllNet("all addresses (this family has no scope)");
}

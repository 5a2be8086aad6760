/**
 * Python's socket enums: `AddressFamily`, `SocketKind` (IntEnum) and
 * `MsgFlag`, `AddressInfo` (IntFlag), made as CPython 3.11's
 * `IntEnum._convert_` makes them from the module's `AF_*`, `SOCK_*`,
 * `MSG_*` and `AI_*` constants. Each is a frozen object in the shape of a
 * TypeScript enum: a name gives its number, a number gives back its
 * canonical name (the first by name among equal values, as in Python:
 * `AddressFamily[16]` is `"AF_NETLINK"`, and `AF_ROUTE` is its alias).
 *
 * The module's functions take and return plain numbers (`getaddrinfo()`,
 * `Socket.family`): use these to print or look up names.
 *
 * @example
 * ```ts
 * import { AddressFamily, MsgFlag, SocketKind } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(AddressFamily.AF_INET, 2);
 * assert.equal(AddressFamily[2], "AF_INET");
 * assert.equal(SocketKind[SocketKind.SOCK_DGRAM], "SOCK_DGRAM");
 * assert.equal(MsgFlag.MSG_PEEK | MsgFlag.MSG_DONTWAIT, 66);
 * ```
 *
 * @module
 */
import * as C from "./constants.ts";

/**
 * A Python IntEnum (or IntFlag) as a TypeScript-enum-like object: each
 * member name maps to its number, each number back to its canonical name.
 *
 * @typeParam Name The members' names.
 * @typeParam Values Their values' types: the constants', so that
 *   `AddressFamily.AF_INET6` is `10` to the type checker too, and types a
 *   socket made with it as `AF_INET6` does.
 */
export type IntEnum<
  Name extends string,
  Values extends { readonly [N in Name]: number } = Record<Name, number>,
> =
  & { readonly [N in Name]: Values[N] }
  & { readonly [value: number]: string };

function convert<E>(members: Record<string, number>): E {
  // CPython's _convert_ orders members by (value, name): the first name of
  // a value is its canonical one, the others are aliases.
  const sorted = (Object.entries(members) as [string, number][]).sort((
    [a, x],
    [b, y],
  ) => x - y || (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string | number, string | number> = {};
  for (const [name, value] of sorted) {
    out[name] = value;
    if (!(value in out)) out[value] = name;
  }
  return Object.freeze(out) as E;
}

/**
 * Address families (`AF_*`): Python's `socket.AddressFamily`.
 *
 * @example
 * ```ts
 * import { AddressFamily } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(AddressFamily.AF_INET6, 10);
 * assert.equal(AddressFamily[1], "AF_UNIX");
 * ```
 */
export const AddressFamily: IntEnum<
  | "AF_UNSPEC"
  | "AF_UNIX"
  | "AF_INET"
  | "AF_AX25"
  | "AF_IPX"
  | "AF_APPLETALK"
  | "AF_NETROM"
  | "AF_BRIDGE"
  | "AF_ATMPVC"
  | "AF_X25"
  | "AF_INET6"
  | "AF_ROSE"
  | "AF_NETBEUI"
  | "AF_SECURITY"
  | "AF_KEY"
  | "AF_NETLINK"
  | "AF_ROUTE"
  | "AF_PACKET"
  | "AF_ASH"
  | "AF_ECONET"
  | "AF_ATMSVC"
  | "AF_RDS"
  | "AF_SNA"
  | "AF_IRDA"
  | "AF_PPPOX"
  | "AF_WANPIPE"
  | "AF_LLC"
  | "AF_CAN"
  | "AF_TIPC"
  | "AF_BLUETOOTH"
  | "AF_ALG"
  | "AF_VSOCK"
  | "AF_QIPCRTR",
  typeof C
> = convert({
  AF_UNSPEC: C.AF_UNSPEC,
  AF_UNIX: C.AF_UNIX,
  AF_INET: C.AF_INET,
  AF_AX25: C.AF_AX25,
  AF_IPX: C.AF_IPX,
  AF_APPLETALK: C.AF_APPLETALK,
  AF_NETROM: C.AF_NETROM,
  AF_BRIDGE: C.AF_BRIDGE,
  AF_ATMPVC: C.AF_ATMPVC,
  AF_X25: C.AF_X25,
  AF_INET6: C.AF_INET6,
  AF_ROSE: C.AF_ROSE,
  AF_NETBEUI: C.AF_NETBEUI,
  AF_SECURITY: C.AF_SECURITY,
  AF_KEY: C.AF_KEY,
  AF_NETLINK: C.AF_NETLINK,
  AF_ROUTE: C.AF_ROUTE,
  AF_PACKET: C.AF_PACKET,
  AF_ASH: C.AF_ASH,
  AF_ECONET: C.AF_ECONET,
  AF_ATMSVC: C.AF_ATMSVC,
  AF_RDS: C.AF_RDS,
  AF_SNA: C.AF_SNA,
  AF_IRDA: C.AF_IRDA,
  AF_PPPOX: C.AF_PPPOX,
  AF_WANPIPE: C.AF_WANPIPE,
  AF_LLC: C.AF_LLC,
  AF_CAN: C.AF_CAN,
  AF_TIPC: C.AF_TIPC,
  AF_BLUETOOTH: C.AF_BLUETOOTH,
  AF_ALG: C.AF_ALG,
  AF_VSOCK: C.AF_VSOCK,
  AF_QIPCRTR: C.AF_QIPCRTR,
});

/**
 * Socket types (`SOCK_*`): Python's `socket.SocketKind`.
 *
 * @example
 * ```ts
 * import { SocketKind } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(SocketKind.SOCK_STREAM, 1);
 * assert.equal(SocketKind[3], "SOCK_RAW");
 * ```
 */
export const SocketKind: IntEnum<
  | "SOCK_STREAM"
  | "SOCK_DGRAM"
  | "SOCK_RAW"
  | "SOCK_RDM"
  | "SOCK_SEQPACKET"
  | "SOCK_NONBLOCK"
  | "SOCK_CLOEXEC",
  typeof C
> = convert({
  SOCK_STREAM: C.SOCK_STREAM,
  SOCK_DGRAM: C.SOCK_DGRAM,
  SOCK_RAW: C.SOCK_RAW,
  SOCK_RDM: C.SOCK_RDM,
  SOCK_SEQPACKET: C.SOCK_SEQPACKET,
  SOCK_NONBLOCK: C.SOCK_NONBLOCK,
  SOCK_CLOEXEC: C.SOCK_CLOEXEC,
});

/**
 * Message flags (`MSG_*`): Python's `socket.MsgFlag` (an IntFlag).
 *
 * @example
 * ```ts
 * import { MsgFlag } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MsgFlag.MSG_TRUNC, 32);
 * assert.equal(MsgFlag[8], "MSG_CTRUNC");
 * ```
 */
export const MsgFlag: IntEnum<
  | "MSG_OOB"
  | "MSG_PEEK"
  | "MSG_DONTROUTE"
  | "MSG_CTRUNC"
  | "MSG_TRUNC"
  | "MSG_DONTWAIT"
  | "MSG_EOR"
  | "MSG_WAITALL"
  | "MSG_CONFIRM"
  | "MSG_ERRQUEUE"
  | "MSG_NOSIGNAL"
  | "MSG_MORE"
  | "MSG_FASTOPEN"
  | "MSG_CMSG_CLOEXEC",
  typeof C
> = convert({
  MSG_OOB: C.MSG_OOB,
  MSG_PEEK: C.MSG_PEEK,
  MSG_DONTROUTE: C.MSG_DONTROUTE,
  MSG_CTRUNC: C.MSG_CTRUNC,
  MSG_TRUNC: C.MSG_TRUNC,
  MSG_DONTWAIT: C.MSG_DONTWAIT,
  MSG_EOR: C.MSG_EOR,
  MSG_WAITALL: C.MSG_WAITALL,
  MSG_CONFIRM: C.MSG_CONFIRM,
  MSG_ERRQUEUE: C.MSG_ERRQUEUE,
  MSG_NOSIGNAL: C.MSG_NOSIGNAL,
  MSG_MORE: C.MSG_MORE,
  MSG_FASTOPEN: C.MSG_FASTOPEN,
  MSG_CMSG_CLOEXEC: C.MSG_CMSG_CLOEXEC,
});

/**
 * getaddrinfo() flags (`AI_*`): Python's `socket.AddressInfo` (an IntFlag).
 *
 * @example
 * ```ts
 * import { AddressInfo } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(AddressInfo.AI_PASSIVE, 1);
 * assert.equal(AddressInfo[1024], "AI_NUMERICSERV");
 * ```
 */
export const AddressInfo: IntEnum<
  | "AI_PASSIVE"
  | "AI_CANONNAME"
  | "AI_NUMERICHOST"
  | "AI_V4MAPPED"
  | "AI_ALL"
  | "AI_ADDRCONFIG"
  | "AI_NUMERICSERV",
  typeof C
> = convert({
  AI_PASSIVE: C.AI_PASSIVE,
  AI_CANONNAME: C.AI_CANONNAME,
  AI_NUMERICHOST: C.AI_NUMERICHOST,
  AI_V4MAPPED: C.AI_V4MAPPED,
  AI_ALL: C.AI_ALL,
  AI_ADDRCONFIG: C.AI_ADDRCONFIG,
  AI_NUMERICSERV: C.AI_NUMERICSERV,
});

/**
 * Python's `socket` module for Deno: the same names, arguments, defaults,
 * numbers and errors, so a Python socket script ports line by line. What
 * blocks in Python returns a Promise here.
 *
 * TCP, UDP and unix stream sockets run on Deno's own networking
 * (`--allow-net`; unix paths need `--allow-read --allow-write`). Raw and
 * seqpacket sockets, unix datagrams, socket options Deno lacks, real
 * descriptors and `{ backend: "libc" }` run on libc through FFI
 * (`--allow-ffi`). The module imports cleanly without either.
 *
 * @example An echo server and client, as in Python's socket tutorial
 * ```ts
 * import { AF_INET, SOCK_STREAM, socket } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using server = socket(AF_INET, SOCK_STREAM);
 * server.bind(["127.0.0.1", 0]);
 * server.listen(1);
 *
 * using client = socket(AF_INET, SOCK_STREAM);
 * await client.connect(server.getsockname());
 * const [conn, addr] = await server.accept();
 * using _conn = conn;
 * assert.deepEqual(addr, client.getsockname());
 *
 * await client.sendall(new TextEncoder().encode("Hello, world"));
 * const data = await conn.recv(1024);
 * await conn.sendall(data);
 * assert.equal(new TextDecoder().decode(await client.recv(1024)), "Hello, world");
 * ```
 *
 * @module
 */
export * from "./constants.ts";
export * from "./errors.ts";
export {
  type AbortOptions,
  close,
  fromfd,
  getdefaulttimeout,
  setdefaulttimeout,
  Socket,
  socket,
  type SocketOptions,
  socketpair,
  SocketType,
} from "./socket.ts";
export type { Address, AddressOf, SenderOf, SockAddr } from "./socket.ts";
export {
  type BinaryFileMode,
  BinarySocketFile,
  type MakefileOptions,
  SocketFile,
  type TextFileMode,
  TextSocketFile,
  UnicodeDecodeError,
  UnicodeEncodeError,
  UnicodeError,
  type WriteData,
} from "./_socket_file.ts";
export {
  create_connection,
  create_server,
  type CreateConnectionOptions,
  type CreateServerOptions,
  has_dualstack_ipv6,
  type TcpSocket,
} from "./_create.ts";
export {
  htonl,
  htons,
  inet_aton,
  inet_ntoa,
  inet_ntop,
  inet_pton,
  ntohl,
  ntohs,
} from "./_inet.ts";
export {
  getaddrinfo,
  getfqdn,
  gethostbyaddr,
  gethostbyname,
  gethostbyname_ex,
  gethostname,
  getnameinfo,
  getservbyname,
  getservbyport,
} from "./_resolve.ts";
export type { BytesLike } from "./_args.ts";
export type { AddrInfo, AddrInfoOf, SockAddrTuple } from "./_resolve.ts";
export {
  type AncData,
  type AncDataIn,
  CMSG_LEN,
  CMSG_SPACE,
  recv_fds,
  send_fds,
} from "./_ancillary.ts";
export {
  dup,
  getprotobyname,
  if_indextoname,
  if_nameindex,
  if_nametoindex,
  sethostname,
} from "./_system.ts";
export {
  AddressFamily,
  AddressInfo,
  type IntEnum,
  MsgFlag,
  SocketKind,
} from "./_enums.ts";

// The README's first command: a TCP echo server and client, then a UDP round
// trip, in one run on loopback, written as a Python programmer would.
//   deno task demo
import { AF_INET, SOCK_DGRAM, SOCK_STREAM, socket } from "../mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// --- TCP: the socket tutorial's echo server ----------------------------------
using server = socket(AF_INET, SOCK_STREAM);
server.bind(["127.0.0.1", 0]); // port 0: the kernel picks a free port
server.listen(1);
const [host, port] = server.getsockname();
console.log(`server: listening on ${host}:${port}`);

const serving = (async () => {
  const [conn, addr] = await server.accept();
  using _conn = conn;
  console.log(`server: connection from ${JSON.stringify(addr)}`);
  for (;;) {
    const data = await conn.recv(1024);
    if (data.length === 0) break; // the client closed its side
    console.log(`server: echoing ${JSON.stringify(dec.decode(data))}`);
    await conn.sendall(data);
  }
  console.log("server: client closed, done");
})();

// --- TCP: the client ----------------------------------------------------------
{
  using client = socket(AF_INET, SOCK_STREAM);
  await client.connect([host, port]);
  for (const line of ["Hello, world", "ported from Python, line by line"]) {
    await client.sendall(enc.encode(line));
    const reply = await client.recv(1024);
    console.log(`client: received ${JSON.stringify(dec.decode(reply))}`);
  }
}
await serving;

// --- UDP: one datagram there and back ----------------------------------------
using udpServer = socket(AF_INET, SOCK_DGRAM);
udpServer.bind(["127.0.0.1", 0]);
using udpClient = socket(AF_INET, SOCK_DGRAM);
udpClient.settimeout(2);
await udpClient.sendto(enc.encode("ping"), udpServer.getsockname());
const [datagram, from] = await udpServer.recvfrom(1024);
console.log(
  `udp server: ${JSON.stringify(dec.decode(datagram))} from ${
    JSON.stringify(from)
  }`,
);
await udpServer.sendto(enc.encode("pong"), from);
console.log(
  `udp client: ${JSON.stringify(dec.decode(await udpClient.recv(1024)))}`,
);

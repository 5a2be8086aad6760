// A multi-connection echo client on select.select(), after Real Python's
// multiconn-client (https://realpython.com/python-sockets/), line by line:
// it opens num_conns non-blocking connections, sends two messages on each
// as the sockets become writable, and reads the echoes back as they become
// readable. Run it against examples/selectors_echo_server.ts:
//
//   deno run --allow-net examples/select_client.ts 127.0.0.1 1234 3
//
// The Python it came from:
//
//   import select
//   import socket
//   import sys
//
//   host, port, num_conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
//   messages = [b"Message 1 from client.", b"Message 2 from client."]
//
//   socks = []
//   for connid in range(1, num_conns + 1):
//       print(f"Starting connection {connid} to {(host, port)}")
//       sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
//       sock.setblocking(False)
//       sock.connect_ex((host, port))
//       socks.append(sock)
//
//   outgoing = {sock: b"".join(messages) for sock in socks}
//   expected = {sock: len(outgoing[sock]) for sock in socks}
//   received = {sock: b"" for sock in socks}
//
//   while expected:
//       rlist = [sock for sock in socks if sock in expected]
//       wlist = [sock for sock in rlist if outgoing[sock]]
//       readable, writable, _ = select.select(rlist, wlist, [], 5)
//       if not (readable or writable):
//           sys.exit("timed out")
//       for sock in writable:
//           sent = sock.send(outgoing[sock])
//           outgoing[sock] = outgoing[sock][sent:]
//       for sock in readable:
//           data = sock.recv(1024)
//           if data:
//               received[sock] += data
//           if not data or len(received[sock]) == expected[sock]:
//               print(f"Closing connection {socks.index(sock) + 1}: {received[sock]!r}")
//               del expected[sock]
//               sock.close()
import * as select from "../select.ts";
import * as socket from "../mod.ts";

const [host, port, num_conns] = [
  Deno.args[0] ?? "127.0.0.1",
  Number(Deno.args[1] ?? 1234),
  Number(Deno.args[2] ?? 3),
];
const encoder = new TextEncoder();
const messages = [
  encoder.encode("Message 1 from client."),
  encoder.encode("Message 2 from client."),
];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const socks: socket.Socket[] = [];
for (let connid = 1; connid < num_conns + 1; connid++) {
  console.log(`Starting connection ${connid} to ('${host}', ${port})`);
  const sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM);
  sock.setblocking(false);
  await sock.connect_ex([host, port]);
  socks.push(sock);
}

const outgoing = new Map<socket.Socket, Uint8Array>(
  socks.map((sock) => [sock, concat(...messages)]),
);
const expected = new Map<socket.Socket, number>(
  socks.map((sock) => [sock, outgoing.get(sock)!.length]),
);
const received = new Map<socket.Socket, Uint8Array>(
  socks.map((sock) => [sock, new Uint8Array(0)]),
);

while (expected.size) {
  const rlist = socks.filter((sock) => expected.has(sock));
  const wlist = rlist.filter((sock) => outgoing.get(sock)!.length);
  const [readable, writable] = await select.select(rlist, wlist, [], 5);
  if (!(readable.length || writable.length)) {
    console.error("timed out");
    Deno.exit(1);
  }
  for (const sock of writable) {
    const sent = await sock.send(outgoing.get(sock)!);
    outgoing.set(sock, outgoing.get(sock)!.subarray(sent));
  }
  for (const sock of readable) {
    const data = await sock.recv(1024);
    if (data.length) {
      received.set(sock, concat(received.get(sock)!, data));
    }
    if (!data.length || received.get(sock)!.length === expected.get(sock)) {
      console.log(
        `Closing connection ${socks.indexOf(sock) + 1}: ${
          new TextDecoder().decode(received.get(sock))
        }`,
      );
      expected.delete(sock);
      sock.close();
    }
  }
}

// The multi-client echo server of Python's selectors documentation
// (https://docs.python.org/3/library/selectors.html#examples), line by line.
// One change: the port comes from the command line (default 1234, 0 for any
// free one) and the address is printed once listening, so a script can find
// it.
//
//   deno run --allow-net examples/selectors_echo_server.ts [port]
//
// The Python it came from:
//
//   import selectors
//   import socket
//
//   sel = selectors.DefaultSelector()
//
//   def accept(sock, mask):
//       conn, addr = sock.accept()  # Should be ready
//       print('accepted', conn, 'from', addr)
//       conn.setblocking(False)
//       sel.register(conn, selectors.EVENT_READ, read)
//
//   def read(conn, mask):
//       data = conn.recv(1000)  # Should be ready
//       if data:
//           print('echoing', repr(data), 'to', conn)
//           conn.send(data)  # Hope it won't block
//       else:
//           print('closing', conn)
//           sel.unregister(conn)
//           conn.close()
//
//   sock = socket.socket()
//   sock.bind(('localhost', 1234))
//   sock.listen(100)
//   sock.setblocking(False)
//   sel.register(sock, selectors.EVENT_READ, accept)
//
//   while True:
//       events = sel.select()
//       for key, mask in events:
//           callback = key.data
//           callback(key.fileobj, mask)
import * as selectors from "../selectors.ts";
import * as socket from "../mod.ts";

type Callback = (sock: socket.Socket, mask: number) => Promise<void>;

const sel = new selectors.DefaultSelector<Callback, socket.Socket>();

async function accept(sock: socket.Socket, _mask: number): Promise<void> {
  const [conn, addr] = await sock.accept(); // Should be ready
  console.log("accepted", String(conn), "from", addr);
  conn.setblocking(false);
  sel.register(conn, selectors.EVENT_READ, read);
}

async function read(conn: socket.Socket, _mask: number): Promise<void> {
  const data = await conn.recv(1000); // Should be ready
  if (data.length) {
    console.log("echoing", data, "to", String(conn));
    await conn.send(data); // Hope it won't block
  } else {
    console.log("closing", String(conn));
    sel.unregister(conn);
    conn.close();
  }
}

const sock = socket.socket();
sock.bind(["localhost", Number(Deno.args[0] ?? 1234)]);
sock.listen(100);
sock.setblocking(false);
sel.register(sock, selectors.EVENT_READ, accept);
console.log("listening on", sock.getsockname());

while (true) {
  const events = await sel.select();
  for (const [key, mask] of events) {
    const callback = key.data;
    await callback(key.fileobj, mask);
  }
}

// The socket tutorial's echo server (Python's socket HOWTO), ported line by line.
//   deno run --allow-net examples/echo_server.ts [port]
// Python:
//   with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
//       s.bind((HOST, PORT)); s.listen()
//       conn, addr = s.accept()
//       with conn:
//           while True:
//               data = conn.recv(1024)
//               if not data: break
//               conn.sendall(data)
import { AF_INET, SOCK_STREAM, socket } from "../mod.ts";

const HOST = "127.0.0.1";
const PORT = Number(Deno.args[0] ?? 50007);

using s = socket(AF_INET, SOCK_STREAM);
s.bind([HOST, PORT]);
s.listen();
console.log(`listening on ${HOST}:${PORT}`);
for (;;) {
  const [conn, addr] = await s.accept();
  console.log("Connected by", addr);
  // Each client is served on its own, so one slow client does not stop the rest.
  (async () => {
    using c = conn;
    for (;;) {
      const data = await c.recv(1024);
      if (data.length === 0) break;
      await c.sendall(data);
    }
  })().catch((e) => console.error("client error:", e.message));
}

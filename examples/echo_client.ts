// The socket tutorial's echo client, ported line by line.
//   deno run --allow-net examples/echo_client.ts [port] [message]
// Python:
//   with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
//       s.connect((HOST, PORT))
//       s.sendall(b"Hello, world")
//       data = s.recv(1024)
//   print(f"Received {data!r}")
import { AF_INET, SOCK_STREAM, socket } from "../mod.ts";

const HOST = "127.0.0.1";
const PORT = Number(Deno.args[0] ?? 50007);
const message = Deno.args[1] ?? "Hello, world";

using s = socket(AF_INET, SOCK_STREAM);
s.settimeout(5);
await s.connect([HOST, PORT]);
await s.sendall(new TextEncoder().encode(message));
const data = await s.recv(1024);
console.log(`Received ${JSON.stringify(new TextDecoder().decode(data))}`);

// Which TCP ports answer? connect_ex() returns an errno instead of throwing.
//   deno run --allow-net examples/port_check.ts [host] [port ...]
// Python:
//   with socket.socket() as s:
//       s.settimeout(1)
//       print(port, "open" if s.connect_ex((host, port)) == 0 else "closed")
import { errno, errorcode, socket } from "../mod.ts";

const [host = "127.0.0.1", ...ports] = Deno.args;
for (
  const port of ports.length ? ports.map(Number) : [22, 80, 443, 5432, 8000]
) {
  using s = socket();
  s.settimeout(1);
  const err = await s.connect_ex([host, port]);
  const what = err === 0
    ? "open"
    : err === errno.ECONNREFUSED
    ? "closed"
    : `no answer (${errorcode[err] ?? err})`;
  console.log(`${host}:${port} ${what}`);
}

// A UDP echo pair: `server PORT` echoes datagrams back; `client PORT MSG` sends
// one and prints the reply (with a timeout, since UDP may drop datagrams).
//   deno run --allow-net examples/udp_echo.ts server 50008
//   deno run --allow-net examples/udp_echo.ts client 50008 hello
import { AF_INET, SOCK_DGRAM, socket, TimeoutError } from "../mod.ts";

const [mode = "client", portArg = "50008", message = "hello"] = Deno.args;
const port = Number(portArg);

using s = socket(AF_INET, SOCK_DGRAM);
if (mode === "server") {
  s.bind(["127.0.0.1", port]);
  console.log(`udp echo on 127.0.0.1:${port}`);
  for (;;) {
    const [data, addr] = await s.recvfrom(65535);
    await s.sendto(data, addr);
  }
} else {
  s.settimeout(2);
  await s.sendto(new TextEncoder().encode(message), ["127.0.0.1", port]);
  try {
    const [data, addr] = await s.recvfrom(65535);
    console.log(
      `reply from ${JSON.stringify(addr)}: ${new TextDecoder().decode(data)}`,
    );
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    console.log("no reply within 2 s");
    Deno.exitCode = 1;
  }
}

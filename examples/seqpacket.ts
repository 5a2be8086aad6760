// A message-preserving unix server and client (SOCK_SEQPACKET, libc backend).
// Unlike a stream, every send arrives as one message, never merged or split.
//   deno run --allow-ffi --allow-read --allow-write --allow-net examples/seqpacket.ts
import { AF_UNIX, SOCK_SEQPACKET, socket } from "../mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const dir = await Deno.makeTempDir();
const path = `${dir}/seqpacket.sock`;
try {
  using server = socket(AF_UNIX, SOCK_SEQPACKET);
  server.bind(path);
  server.listen();

  const serving = (async () => {
    const [conn] = await server.accept();
    using c = conn;
    for (;;) {
      const message = await c.recv(4096);
      if (message.length === 0) break; // the client closed
      console.log(
        `server: one message of ${message.length} bytes: ${
          dec.decode(message)
        }`,
      );
      await c.send(enc.encode(`ack ${dec.decode(message)}`));
    }
  })();

  {
    using client = socket(AF_UNIX, SOCK_SEQPACKET);
    await client.connect(path);
    // Three sends back to back: on a stream these could merge; here they cannot.
    for (const text of ["first", "second, longer message", "third"]) {
      await client.send(enc.encode(text));
    }
    for (let i = 0; i < 3; i++) {
      console.log(`client: ${dec.decode(await client.recv(4096))}`);
    }
  }
  await serving;
} finally {
  await Deno.remove(dir, { recursive: true });
}

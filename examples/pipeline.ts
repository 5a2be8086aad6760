// A line-numbering service made of Web Streams: each connection is one
// pipeline from the socket back to itself, with no read loop of its own.
//   deno run --allow-net examples/pipeline.ts              (server and client)
//   deno run --allow-net examples/pipeline.ts serve [port]  (default 50009)
// Talk to the server from Python:
//   python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 50009)); s.sendall("héllo\nwörld\n".encode()); s.shutdown(socket.SHUT_WR); print(s.makefile(encoding="utf-8").read(), end="")'
//
// The server's pipeline, per connection:
//   conn.readable                              bytes as they arrive
//     .pipeThrough(new TextDecoderStream())    UTF-8, even split across packets
//     .pipeThrough(lines())                    one string per line
//     .pipeThrough(numbered())                 "hello" -> "1: hello\n"
//     .pipeThrough(new TextEncoderStream())
//     .pipeTo(conn.writable, { signal })       sendall per chunk; close() is SHUT_WR
// The client's: a ReadableStream of bytes piped into its socket's writable,
// and its socket's readable read back with for await. An idle client is
// dropped after 30 s by the pipe's AbortSignal.
import { AF_INET, SOCK_STREAM, type Socket, socket } from "../mod.ts";

const HOST = "127.0.0.1";

/** Splits text into lines (without their "\n"); a last unended line counts. */
function lines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(text, controller) {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      for (const line of parts) controller.enqueue(line);
    },
    flush(controller) {
      if (rest !== "") controller.enqueue(rest);
    },
  });
}

/** "line" -> "N: line\n", counting from 1. */
function numbered(): TransformStream<string, string> {
  let n = 0;
  return new TransformStream({
    transform(line, controller) {
      controller.enqueue(`${++n}: ${line}\n`);
    },
  });
}

/** Serve one connection: its pipeline runs until the client's EOF. */
async function serveConnection(conn: Socket): Promise<void> {
  using c = conn;
  try {
    await c.readable
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(lines())
      .pipeThrough(numbered())
      .pipeThrough(new TextEncoderStream())
      .pipeTo(c.writable, { signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    console.error(`dropped: ${(e as Error).message}`);
  }
}

/** A client: send `chunks` through a pipe, then read the reply to its end. */
async function client(port: number, chunks: Uint8Array[]): Promise<string> {
  using s = socket(AF_INET, SOCK_STREAM);
  await s.connect([HOST, port]);
  // Shuts down writing when the chunks end, so the server sees EOF.
  const sending = ReadableStream.from(chunks).pipeTo(s.writable);
  let reply = "";
  for await (const part of s.readable.pipeThrough(new TextDecoderStream())) {
    reply += part;
  }
  await sending;
  return reply;
}

const [mode, portArg] = Deno.args;
using server = socket(AF_INET, SOCK_STREAM);
server.bind([HOST, mode === "serve" ? Number(portArg ?? 50009) : 0]);
server.listen();
const port = server.getsockname()[1] as number;

if (mode === "serve") {
  console.log(`numbering lines on ${HOST}:${port}`);
  for (;;) {
    const [conn] = await server.accept();
    serveConnection(conn);
  }
} else {
  const served = server.accept().then(([conn]) => serveConnection(conn));
  // Sent in three writes that split a line, and the two bytes of "ö".
  const text = new TextEncoder().encode("héllo\nwörld\nstreams all the way");
  const reply = await client(port, [
    text.subarray(0, 9),
    text.subarray(9, 11),
    text.subarray(11),
  ]);
  await served;
  console.log(reply.trimEnd());
}

// Run by socketserver_daemon_test.ts (as is its python3 twin there): a
// ThreadingTCPServer on the backend Deno.args[0], daemon_threads and
// block_on_close as args 1 and 2 ("1" or "0"), whose handler waits as arg 3
// says on a client of another process that never sends. It prints the
// port, "closing" once the handler waits and shutdown() has returned, and
// "closed" once server_close() has; then the main program ends.
import { StreamRequestHandler, ThreadingTCPServer } from "../socketserver.ts";

const [backend, daemon, blockOnClose, how] = Deno.args;
const waiting = Promise.withResolvers<void>();

class Handler extends StreamRequestHandler {
  // setup() gives the connection this timeout (settimeout), far past the
  // test's end.
  static override timeout = how === "timeout" ? 60 : null;

  override async handle(): Promise<void> {
    waiting.resolve();
    if (how === "readline") await this.rfile.readline();
    else if (how === "stream") await this.request.readable.getReader().read();
    // Far more than the kernel's buffers take: the write waits.
    else if (how === "sendall") {
      await this.request.sendall(new Uint8Array(1 << 26));
    } else await this.request.recv(10);
  }
}

class Server extends ThreadingTCPServer {
  static override backend = backend as "deno" | "libc";
  static override daemon_threads = daemon === "1";
  static override block_on_close = blockOnClose === "1";
}

const server = new Server(["127.0.0.1", 0], Handler);
const serving = server.serve_forever();
console.log(server.server_address[1]);
await waiting.promise;
// Time for the handler's call to start waiting.
await new Promise((resolve) => setTimeout(resolve, 200));
await server.shutdown();
await serving;
console.log("closing");
await server.server_close();
console.log("closed");

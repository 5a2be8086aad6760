// A key-value server speaking a line protocol, written with socketserver's
// ThreadingTCPServer and StreamRequestHandler as a Python programmer would.
//   deno run --allow-net examples/kv_server.ts [port]        (default 50008)
// Talk to it from Python (or with `nc 127.0.0.1 50008`):
//   python3 -c 'import socket; f = socket.create_connection(("127.0.0.1", 50008)).makefile("rw"); f.write("SET greeting hello world\nGET greeting\nKEYS\nQUIT\n"); f.flush(); print(f.read(), end="")'
//
// Protocol, one command per line, one reply line each:
//   SET key value...  -> OK
//   GET key           -> VALUE value...   or   NOT_FOUND
//   DEL key           -> DELETED          or   NOT_FOUND
//   KEYS              -> KEYS key1 key2 ...
//   QUIT              -> BYE (and the server closes the connection)
//   anything else     -> ERROR unknown command
//
// The Python original this ports:
//   class KVHandler(socketserver.StreamRequestHandler):
//       def handle(self):
//           for raw in self.rfile:
//               reply = self.server.run(raw.decode().strip().split(maxsplit=2))
//               self.wfile.write(reply.encode() + b"\n")
//               if reply == "BYE": break
//   class KVServer(socketserver.ThreadingTCPServer):
//       allow_reuse_address = True
//       def __init__(self, *args):
//           super().__init__(*args); self.store = {}
//   with KVServer(("127.0.0.1", PORT), KVHandler) as server:
//       server.serve_forever()
import * as socketserver from "../socketserver.ts";

const HOST = "127.0.0.1";
const PORT = Number(Deno.args[0] ?? 50008);

class KVServer extends socketserver.ThreadingTCPServer {
  static override allow_reuse_address = true;
  readonly store = new Map<string, string>();

  run(args: string[]): string {
    const [command = "", key, value] = args;
    switch (command.toUpperCase()) {
      case "SET":
        if (key === undefined || value === undefined) {
          return "ERROR usage: SET key value";
        }
        this.store.set(key, value);
        return "OK";
      case "GET":
        return this.store.has(key ?? "")
          ? `VALUE ${this.store.get(key!)}`
          : "NOT_FOUND";
      case "DEL":
        return this.store.delete(key ?? "") ? "DELETED" : "NOT_FOUND";
      case "KEYS":
        return ["KEYS", ...this.store.keys()].join(" ");
      case "QUIT":
        return "BYE";
      default:
        return "ERROR unknown command";
    }
  }
}

class KVHandler extends socketserver.StreamRequestHandler<[string, number]> {
  declare server: KVServer;

  override async handle(): Promise<void> {
    const [host, port] = this.client_address;
    console.log(`client ${host}:${port} connected`);
    for await (const raw of this.rfile) {
      // Python's str.split(maxsplit=2): the value keeps its inner spaces.
      const line = new TextDecoder().decode(raw).trim();
      const m = /^(\S+)(?:\s+(\S+)(?:\s+(.*))?)?$/s.exec(line);
      const args = m === null ? [] : m.slice(1).filter((a) => a !== undefined);
      const reply = this.server.run(args);
      await this.wfile.write(new TextEncoder().encode(reply + "\n"));
      if (reply === "BYE") break;
    }
    console.log(`client ${host}:${port} gone`);
  }
}

await using server = new KVServer([HOST, PORT], KVHandler);
console.log(`key-value server on ${server.server_address.join(":")}`);
Deno.addSignalListener("SIGINT", () => server.shutdown());
await server.serve_forever();

// The Node echo server: `net.createServer`, each socket piped back into
// itself.
//
// usage: node server_node.mjs PORT   (serves TCP echo on 127.0.0.1:PORT until killed)
import net from "node:net";
import process from "node:process";

const server = net.createServer({ noDelay: true }, (sock) => {
  sock.on("error", () => sock.destroy()); // the client went away
  sock.pipe(sock);
});
server.listen({
  port: Number(process.argv[2]),
  host: "127.0.0.1",
  backlog: 1024,
});

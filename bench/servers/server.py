"""The CPython echo server: one thread, `selectors.DefaultSelector`.

usage: python3 server.py PORT   (serves TCP echo on 127.0.0.1:PORT until killed)

The plain selectors loop from Python's documentation, with TCP_NODELAY:
accept, make the connection non-blocking, register it, echo what recv()
returns, unregister and close at EOF. servers/selectors_server.ts is its
line-by-line port.
"""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
server = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=1024)
server.setblocking(False)
sel.register(server, selectors.EVENT_READ)

while True:
    for key, _mask in sel.select():
        sock = key.fileobj
        if sock is server:
            conn, _addr = server.accept()
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sel.register(conn, selectors.EVENT_READ)
            continue
        try:
            data = sock.recv(65536)
        except ConnectionError:
            data = b""
        if data:
            sock.sendall(data)
        else:
            sel.unregister(sock)
            sock.close()

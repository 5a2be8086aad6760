"""Hold N idle TCP connections to 127.0.0.1:PORT (for bench/memory.ts).

usage: python3 _idle_clients.py PORT N

Opens N connections, proves each one is served with a one-byte echo (so the
server has accepted it and its per-connection work is running), prints
`ready N`, then holds them idle until stdin closes or 300 s pass.
"""
import resource
import select
import socket
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
# Room for N sockets: the soft limit on descriptors is often 1024.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64 if hard == resource.RLIM_INFINITY else min(n + 64, hard)
if soft != resource.RLIM_INFINITY and soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conns.append(s)
for s in conns:
    s.sendall(b"x")
for s in conns:
    if s.recv(1) != b"x":
        sys.exit("no echo")
print(f"ready {len(conns)}", flush=True)
select.select([sys.stdin], [], [], 300)
for s in conns:
    s.close()

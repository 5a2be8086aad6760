"""Hold N idle TCP connections to 127.0.0.1:PORT (for bench/memory.ts).

usage: python3 _idle_clients.py PORT N

Opens N connections, proves each one is served with a one-byte echo (so the
server has accepted it and its per-connection task is running), prints
`ready N`, then holds them idle until stdin closes (or 120 s pass).
"""
import select, socket, sys

port, n = int(sys.argv[1]), int(sys.argv[2])
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
select.select([sys.stdin], [], [], 120)
for s in conns:
    s.close()

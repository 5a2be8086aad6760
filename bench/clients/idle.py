"""What a non-blocking call on an idle socket costs in CPython: recv that
raises BlockingIOError, and select.select([s], [], [], 0). One JSON line of
medians in microseconds.

usage: python3 bench/clients/idle.py [N]
"""
import json, select, socket, statistics, sys, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
server = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
conn.setblocking(False)
recv = []
for _ in range(n):
    t = time.perf_counter()
    try:
        conn.recv(1024)
        raise SystemExit("an idle socket returned data")
    except BlockingIOError:
        pass
    recv.append(time.perf_counter() - t)
poll = []
for _ in range(n):
    t = time.perf_counter()
    r, _, _ = select.select([conn], [], [], 0)
    assert not r
    poll.append(time.perf_counter() - t)
print(json.dumps({"recv_us": statistics.median(recv) * 1e6,
                  "select_us": statistics.median(poll) * 1e6}))
for s in (conn, client, server):
    s.close()

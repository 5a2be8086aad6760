"""CPython's side of the "files" part (bench/compare_files.ts): reading
lines with makefile("rb").readline(), bulk bytes with recv_into, and sending
a file with socket.sendfile or a read/sendall loop. It listens on
127.0.0.1, starts bench/clients/files_peer.py against itself, accepts, and
prints one JSON line.

usage: python3 bench/clients/files.py readline N
       python3 bench/clients/files.py recv_into NBYTES [WARM]
       python3 bench/clients/files.py sendfile|loop PATH

  readline   N lines of 64 bytes until EOF: "rate" in lines/s
  recv_into  NBYTES in 64 KiB recv_into calls until EOF: "rate" in MiB/s
  sendfile   PATH with socket.sendfile, timed until the sink reports the
             count back: "rate" in MiB/s
  loop       the same with readinto a 1 MiB buffer and sendall

recv_into reads WARM bytes (default 0) untimed before its NBYTES, as
files.ts's bulk modes do. The readers time from the first line or chunk
(after the warm-up) to EOF and count what came after it; "peer_busy" is the peer's CPU time over its wall time.
"""
import json, os, socket, subprocess, sys, time

MiB = 1 << 20
PEER = "bench/clients/files_peer.py"


def serve(peer_mode, peer_arg, measure):
    """Listens, starts the peer, accepts, runs measure(conn), and adds what
    the peer reported to the result."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)
    args = [sys.executable, PEER, peer_mode, str(srv.getsockname()[1])]
    if peer_arg is not None:
        args.append(str(peer_arg))
    peer = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE)
    try:
        conn, _ = srv.accept()
        srv.close()
        # Blocking, the default: the harness's time limit bounds the run.
        conn.settimeout(None)
        with conn:
            result = measure(conn)
        out, _ = peer.communicate(timeout=30)
        if peer.returncode != 0:
            raise SystemExit(f"files_peer.py {peer_mode} failed")
        result["peer_busy"] = json.loads(out)["busy"]
        return result
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()


def readline(n):
    def measure(conn):
        f = conn.makefile("rb")
        line = f.readline()
        t0 = time.perf_counter()
        count = 0
        while line:
            if len(line) != 64:
                raise SystemExit(f"line {count}: {len(line)} bytes")
            count += 1
            line = f.readline()
        t = time.perf_counter() - t0
        f.close()
        if count != n:
            raise SystemExit(f"{count} lines, not {n}")
        return {"rate": (count - 1) / t, "count": count}
    return serve("lines", n, measure)


def recv_into(nbytes, warm):
    every = nbytes + warm

    def measure(conn):
        buf = bytearray(65536)
        total = 0
        while total < max(warm, 1) and (n := conn.recv_into(buf)):
            total += n
        untimed = total
        t0 = time.perf_counter()
        while n := conn.recv_into(buf):
            total += n
        t = time.perf_counter() - t0
        if total != every:
            raise SystemExit(f"{total} bytes, not {every}")
        return {"rate": (total - untimed) / MiB / t, "count": total}
    return serve("bytes", every, measure)


def send_file(path, kernel):
    size = os.path.getsize(path)

    def measure(conn):
        with open(path, "rb", buffering=0) as f:
            t0 = time.perf_counter()
            if kernel:
                conn.sendfile(f)
            else:
                buf = bytearray(MiB)
                view = memoryview(buf)
                while n := f.readinto(buf):
                    conn.sendall(view[:n])
            conn.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := conn.recv(64):
                reply += chunk
            t = time.perf_counter() - t0
        if int(reply) != size:
            raise SystemExit(f"the sink got {int(reply)} bytes, not {size}")
        return {"rate": size / MiB / t, "count": size}
    return serve("sink", None, measure)


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "readline":
        result = readline(int(arg))
    elif mode == "recv_into":
        result = recv_into(int(arg), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    elif mode in ("sendfile", "loop"):
        result = send_file(arg, mode == "sendfile")
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))


main()

"""The other end for the "files" part (bench/compare_files.ts): one source
or sink that every reader and sender of that part starts, so that each is
measured against the same peer. It connects to 127.0.0.1:PORT, where the
program under test listens, and ends when the connection does.

usage: python3 bench/clients/files_peer.py lines PORT N
       python3 bench/clients/files_peer.py bytes PORT NBYTES
       python3 bench/clients/files_peer.py sink PORT

  lines  sendall()s N lines of 64 bytes (63 bytes and "\\n") from a prebuilt
         1 MiB buffer, then closes
  bytes  sendall()s NBYTES bytes from the same kind of buffer, then closes
  sink   reads and discards until EOF (splice(2) into /dev/null, so that the
         bytes are not copied again; recv_into a 1 MiB buffer where splice
         fails), then sends back the count as one line "N\\n" and closes

Prints one JSON line: the bytes moved and "busy", its CPU time over the
wall time from its first byte to its last, near 1.0 when it was the one
holding the other side back. Every wait is bounded: SIGALRM after 120 s.
"""
import fcntl, json, os, signal, socket, sys, time

CHUNK = 1 << 20
LINE = 64


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    # Blocking from here on (splice needs a blocking descriptor); the alarm
    # bounds every wait.
    s.settimeout(None)
    return s


def lines_buffer():
    one = CHUNK // LINE
    return b"".join(b"%0*d\n" % (LINE - 1, i) for i in range(one))


def send(port, total):
    buf = memoryview(lines_buffer())
    s = connect(port)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    left = total
    while left > 0:
        n = min(left, len(buf))
        s.sendall(buf[:n])
        left -= n
    s.close()
    wall = time.perf_counter() - t0
    return total, (time.process_time() - cpu0) / wall if wall > 0 else 0.0


def sink(port):
    s = connect(port)
    fd = s.fileno()
    total = 0
    cpu0 = t0 = None
    null = os.open(os.devnull, os.O_WRONLY)
    r, w = os.pipe()
    try:
        fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, CHUNK)
    except OSError:
        pass
    use_splice = hasattr(os, "splice")
    buf = bytearray(CHUNK)
    while True:
        if use_splice:
            try:
                n = os.splice(fd, w, CHUNK, flags=os.SPLICE_F_MOVE)
            except OSError:
                if total:
                    raise
                use_splice = False
                continue
            left = n
            while left:
                left -= os.splice(r, null, left, flags=os.SPLICE_F_MOVE)
        else:
            n = s.recv_into(buf)
        if t0 is None:
            cpu0, t0 = time.process_time(), time.perf_counter()
        if n == 0:
            break
        total += n
    wall = time.perf_counter() - t0
    busy = (time.process_time() - cpu0) / wall if wall > 0 else 0.0
    s.sendall(b"%d\n" % total)
    s.close()
    return total, busy


def main():
    signal.alarm(120)
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "lines":
        moved, busy = send(port, int(sys.argv[3]) * LINE)
    elif mode == "bytes":
        moved, busy = send(port, int(sys.argv[3]))
    elif mode == "sink":
        moved, busy = sink(port)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps({"bytes": moved, "busy": busy}), flush=True)


main()

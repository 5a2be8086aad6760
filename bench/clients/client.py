"""The CPython client: the `socket` module as a Python script would use it.

usage: python3 client.py bulk PORT MIB | tcp PORT TRIPS | udp PORT TRIPS

Same modes and output as client.c: one line, `bulk_mib_s`, `tcp_rtt_us` or
`udp_rtt_us` and the figure.
"""
import socket
import sys
import time


def main() -> None:
    mode, port, amount = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    peer = ("127.0.0.1", port)
    data = b"x" * 65536
    msg = data[:64]
    if mode == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(peer)
            t0 = time.perf_counter()
            for _ in range(amount):
                u.send(msg)
                u.recv(65536)
            dt = time.perf_counter() - t0
        print(f"udp_rtt_us {dt / amount * 1e6:.2f}")
        return
    with socket.create_connection(peer) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if mode == "bulk":
            t0 = time.perf_counter()
            for _ in range(amount * 16):
                s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            seen = int.from_bytes(s.recv(8, socket.MSG_WAITALL), "little")
            dt = time.perf_counter() - t0
            if seen != amount * 1048576:
                sys.exit(f"the sink saw {seen} of {amount * 1048576} bytes")
            print(f"bulk_mib_s {amount / dt:.1f}")
        elif mode == "tcp":
            t0 = time.perf_counter()
            for _ in range(amount):
                s.sendall(msg)
                got = 0
                while got < 64:
                    chunk = s.recv(64 - got)
                    if not chunk:
                        sys.exit("the echo closed early")
                    got += len(chunk)
            dt = time.perf_counter() - t0
            print(f"tcp_rtt_us {dt / amount * 1e6:.2f}")
        else:
            sys.exit(f"unknown mode {mode}")


main()

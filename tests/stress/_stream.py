import json, select, signal, socket, struct, sys, time


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


signal.signal(signal.SIGALRM, _alarm)

FAM = {"4": socket.AF_INET, "6": socket.AF_INET6, "u": socket.AF_UNIX}
STEP_S = 3.0
# How long a "drain" reads on while bytes sent to it have not all come: a
# quiet gap is not the end then (see _stream.ts, DRAIN_LATEST_MS).
DRAIN_LATEST = 2.0
# The operations after which a socket's name is noted (see ["lo", n]).
KEEPS_NAME = {"bind", "listen", "connect", "connect_ex"}


def run(script):
    tmp = script["dir"]
    socks = {}
    dead = {}
    sent = {}
    # The name each socket last had (["lo", n] of a closed one).
    known = {}
    fills = [0]
    out = []

    def conv(v):
        if isinstance(v, list):
            return tuple(conv(x) for x in v)
        if isinstance(v, dict):
            if "bytes" in v:
                return v["bytes"].encode("latin-1")
            if "float" in v:
                return float(v["float"])
        return v

    def loopback(f):
        return "127.0.0.1" if f == socket.AF_INET else "::1"

    def name_of(n):
        try:
            return socks[n].getsockname()
        except OSError:
            if n in known:
                return known[n]
            raise

    def port_of(n):
        return name_of(n)[1]

    def addr(s, spec):
        k = spec[0]
        f = s.family
        if k == "lo":
            if f == socket.AF_UNIX:
                return name_of(spec[1])
            return (loopback(f), port_of(spec[1]))
        if k == "lo0":
            return (loopback(f), 0)
        if k == "any0":
            return ("", 0)
        if k == "dead":
            if f == socket.AF_UNIX:
                return tmp + "/dead"
            if f not in dead:
                t = socket.socket(f, socket.SOCK_STREAM)
                t.bind((loopback(f), 0))
                dead[f] = t.getsockname()[1]
                t.close()
            return (loopback(f), dead[f])
        if k == "path":
            return tmp + "/" + spec[1]
        if k == "raw":
            return conv(spec[1])
        raise Exception("bad spec %r" % (spec,))

    def data(d):
        if isinstance(d, str):
            ch, n = d.split(":")
            return ch.encode() * int(n)
        return conv(d)

    def fmt_bytes(b):
        b = bytes(b)
        if len(b) > 12 and b == b[:1] * len(b):
            return "%s*%d" % (b[:1].decode("latin-1"), len(b))
        return b.decode("latin-1")

    def names():
        m = {}
        for n, s in socks.items():
            try:
                a = s.getsockname()
                if isinstance(a, tuple):
                    m.setdefault((s.family, a[1]), n)
            except OSError:
                pass
        for f, p in dead.items():
            m[(f, p)] = "dead"
        return m

    def fmt_addr(a, fam):
        if a is None:
            return None
        if isinstance(a, tuple):
            p = a[1]
            pn = names().get((fam, p), "0" if p == 0 else "?")
            return [a[0], pn] + list(a[2:])
        if isinstance(a, str):
            return a.replace(tmp, "$D")
        if isinstance(a, bytes):
            return "@auto" if a.startswith(b"\0") else repr(a)
        return repr(a)

    def fmt_exc(e):
        errno = getattr(e, "errno", None) if isinstance(e, OSError) else None
        return ["E", type(e).__name__, errno, str(e).replace(tmp, "$D")]

    def top_up(s, got, room, into=None):
        # A stream recv may be short: read on, without waiting, while it
        # gives bytes (the same loop on both sides, so a short first read
        # does not show).
        # (Non-blocking: with a timeout, CPython's MSG_DONTWAIT waits.)
        extra = None
        saved = s.gettimeout()
        s.setblocking(False)
        while room > 0:
            try:
                if into is None:
                    b = s.recv(room)
                else:
                    n = s.recv_into(into[1][into[0]:], room)
                    b = bytes(into[1][into[0]:into[0] + n])
                    into = (into[0] + n, into[1])
            except BlockingIOError:
                break
            except OSError as e:
                extra = fmt_exc(e)
                break
            if not b:
                break
            got += b
            room -= len(b)
        s.settimeout(saved)
        return got, extra

    for op in script["ops"]:
        k = op[0]
        signal.setitimer(signal.ITIMER_REAL, STEP_S)
        try:
            r = None
            if k == "sleep":
                time.sleep(op[1] / 1000)
            elif k == "sock":
                socks[op[1]] = socket.socket(FAM[op[2]], socket.SOCK_STREAM)
            elif k == "pair":
                socks[op[1]], socks[op[2]] = socket.socketpair()
            else:
                s = socks[op[1]]
                fam = s.family
                if k == "bind":
                    r = s.bind(addr(s, op[2]))
                elif k == "listen":
                    r = s.listen() if len(op) < 3 else s.listen(op[2])
                elif k == "accept":
                    c, a = s.accept()
                    socks[op[2]] = c
                    r = fmt_addr(a, fam)
                elif k == "connect":
                    r = s.connect(addr(s, op[2]))
                elif k == "connect_ex":
                    r = s.connect_ex(addr(s, op[2]))
                elif k == "reuseaddr":
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, op[2])
                elif k == "nodelay":
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                elif k == "linger0":
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                elif k == "send":
                    r = s.send(data(op[2]), op[3])
                elif k == "sendall":
                    r = s.sendall(data(op[2]))
                elif k == "recv":
                    size, flags = conv(op[2]), op[3]
                    b = s.recv(size, flags)
                    extra = None
                    if b and not flags & (socket.MSG_PEEK | socket.MSG_WAITALL):
                        b, extra = top_up(s, b, size - len(b))
                    r = fmt_bytes(b) if extra is None else [fmt_bytes(b), extra]
                elif k == "recv_into":
                    buf = bytearray(b"." * op[2])
                    nbytes, flags = conv(op[3]), op[4]
                    n = s.recv_into(buf, nbytes, flags)
                    extra = None
                    room = (nbytes or op[2]) - n
                    if n and not flags & (socket.MSG_PEEK | socket.MSG_WAITALL):
                        got, extra = top_up(s, b"", room, (n, memoryview(buf)))
                        n += len(got)
                    r = [n, fmt_bytes(buf)] + ([] if extra is None else [extra])
                elif k == "settimeout":
                    r = s.settimeout(conv(op[2]))
                elif k == "setblocking":
                    r = s.setblocking(op[2])
                elif k == "mode":
                    r = [s.gettimeout(), s.getblocking()]
                elif k == "getsockname":
                    r = fmt_addr(s.getsockname(), fam)
                elif k == "getpeername":
                    r = fmt_addr(s.getpeername(), fam)
                elif k == "shutdown":
                    r = s.shutdown(op[2])
                elif k == "close":
                    r = s.close()
                elif k == "settle":
                    # Until readable (bytes, EOF, a reset) or op[2] ms.
                    try:
                        select.select([s], [], [], op[2] / 1000)
                    except (OSError, ValueError):
                        pass
                elif k == "fill":
                    # Non-blocking sends of op[2] bytes until the buffers
                    # are full: only how it ends compares.
                    # (The sends alternate two bytes, as _stream.ts's.)
                    total, r = 0, "nofill"
                    chunks = [b"F" * op[2], b"G" * op[2]]
                    for _ in range(4000):
                        try:
                            chunk = chunks[fills[0] % 2]
                            fills[0] += 1
                            total += s.send(chunk, socket.MSG_DONTWAIT)
                        except Exception as e:
                            r = type(e).__name__
                            break
                    sent[op[1]] = sent.get(op[1], 0) + total
                    if total == 0:
                        r = [r, "none sent"]
                elif k == "drain":
                    # Read until op[2] ms pass with nothing, or EOF, or an
                    # error: whether every byte came is what compares.
                    want = sent.pop(op[3], 0) if len(op) > 3 else 0
                    got, r = b"", "quiet"
                    s.settimeout(op[2] / 1000)
                    until = time.monotonic() + DRAIN_LATEST
                    for _ in range(100000):
                        try:
                            b = s.recv(1 << 20)
                        except TimeoutError:
                            if len(got) < want and time.monotonic() < until:
                                continue
                            break
                        except OSError as e:
                            r = type(e).__name__
                            break
                        if not b:
                            r = "eof"
                            break
                        got += b
                    bad = got.replace(b"F", b"").replace(b"G", b"")
                    r = [r, len(got) >= want, fmt_bytes(bad)]
                elif k == "discard":
                    # Every byte now readable, without waiting: how many.
                    n, r = 0, "would block"
                    for _ in range(100000):
                        try:
                            b = s.recv(1 << 20, socket.MSG_DONTWAIT)
                        except BlockingIOError:
                            break
                        except OSError as e:
                            r = type(e).__name__
                            break
                        if not b:
                            r = "eof"
                            break
                        n += len(b)
                    r = [n, r]
                else:
                    raise Exception("bad op %r" % (op,))
        except Hang:
            r = "hang"
        except Exception as e:
            r = fmt_exc(e)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if k in KEEPS_NAME and op[1] in socks:
            try:
                known[op[1]] = socks[op[1]].getsockname()
            except OSError:
                pass
        out.append(r)
    for s in socks.values():
        s.close()
    return out


if __name__ == "__main__":
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(run(json.loads(line))), flush=True)

import json, socket, sys, os, time, threading

def run(script):
    tmp = script["dir"]
    socks = {}
    dead = {}
    out = []
    FAM = {"4": socket.AF_INET, "6": socket.AF_INET6, "u": socket.AF_UNIX}

    def conv(v):
        if isinstance(v, list):
            return tuple(conv(x) for x in v)
        if isinstance(v, dict):
            if "bytes" in v:
                return v["bytes"].encode("latin-1")
            if "float" in v:
                return float(v["float"])
        return v

    def port_of(n):
        return socks[n].getsockname()[1]

    def addr(s, spec):
        k = spec[0]
        f = s.family
        if k == "lo":
            if f == socket.AF_UNIX:
                return socks[spec[1]].getsockname()
            return ("127.0.0.1" if f == socket.AF_INET else "::1", port_of(spec[1]))
        if k == "lo0":
            return ("127.0.0.1" if f == socket.AF_INET else "::1", 0)
        if k == "any0":
            return ("", 0)
        if k == "dead":
            if f not in dead:
                t = socket.socket(f, socket.SOCK_DGRAM)
                t.bind(("127.0.0.1" if f == socket.AF_INET else "::1", 0))
                dead[f] = t.getsockname()[1]
                t.close()
            return ("127.0.0.1" if f == socket.AF_INET else "::1", dead[f])
        if k == "any":
            return ("", port_of(spec[1]))
        if k == "mappedany":
            return ("::ffff:0.0.0.0", port_of(spec[1]))
        if k == "mapped":
            return ("::ffff:127.0.0.1", port_of(spec[1]))
        if k == "v4":
            return ("127.0.0.1", port_of(spec[1]))
        if k == "v6":
            return ("::1", port_of(spec[1]))
        if k == "v6full":
            return ("::1", port_of(spec[1]), spec[2], spec[3])
        if k == "path":
            return tmp + "/" + spec[1]
        if k == "raw":
            return conv(spec[1])
        raise Exception("bad spec %r" % (spec,))

    def data(d):
        if isinstance(d, str):
            ch, n = d.split(":")
            return ch.encode() * int(n)
        return conv(d)  # wrong types

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
                    m[(s.family, a[1])] = n
            except OSError:
                pass
        for f, p in dead.items():
            m[(f, p)] = "dead"
        return m

    def fmt_addr(a, fam):
        if a is None:
            return None
        if isinstance(a, tuple):
            m = names()
            p = a[1]
            pn = m.get((fam, p), "0" if p == 0 else "?")
            rest = list(a[2:])
            return [a[0], pn] + rest
        if isinstance(a, str):
            return a.replace(tmp, "$D")
        if isinstance(a, bytes):
            return "@auto" if a.startswith(b"\0") else repr(a)
        return repr(a)

    def fmt_exc(e):
        errno = getattr(e, "errno", None) if isinstance(e, OSError) else None
        return ["E", type(e).__name__, errno, str(e).replace(tmp, "$D")]

    for op in script["ops"]:
        k = op[0]
        try:
            if k == "sleep":
                time.sleep(op[1] / 1000)
                r = None
            elif k == "sock":
                s = socket.socket(FAM[op[2]], socket.SOCK_DGRAM)
                socks[op[1]] = s
                r = None
            else:
                s = socks[op[1]]
                fam = s.family
                if k == "bind":
                    r = s.bind(addr(s, op[2]))
                elif k == "connect":
                    r = s.connect(addr(s, op[2]))
                elif k == "connect_ex":
                    r = s.connect_ex(addr(s, op[2]))
                elif k == "sendto":
                    r = s.sendto(data(op[2]), addr(s, op[3]))
                elif k == "sendto_f":
                    r = s.sendto(data(op[2]), conv(op[3]), addr(s, op[4]))
                elif k == "send":
                    r = s.send(data(op[2]), op[3])
                elif k == "sendall":
                    r = s.sendall(data(op[2]))
                elif k == "recv":
                    b = s.recv(conv(op[2]), op[3])
                    if op[3] & socket.MSG_TRUNC:
                        b = b[: op[2]] + b"#" * max(0, len(b) - op[2])
                    r = fmt_bytes(b)
                elif k == "recvfrom":
                    b, a = s.recvfrom(conv(op[2]), op[3])
                    if op[3] & socket.MSG_TRUNC:
                        b = b[: op[2]] + b"#" * max(0, len(b) - op[2])
                    r = [fmt_bytes(b), fmt_addr(a, fam)]
                elif k == "recv_into":
                    buf = bytearray(b"." * op[2])
                    n = s.recv_into(buf, conv(op[3]), op[4])
                    r = [n, fmt_bytes(buf)]
                elif k == "recvfrom_into":
                    buf = bytearray(b"." * op[2])
                    n, a = s.recvfrom_into(buf, conv(op[3]), op[4])
                    r = [n, fmt_bytes(buf), fmt_addr(a, fam)]
                elif k == "settimeout":
                    r = s.settimeout(conv(op[2]))
                elif k == "setblocking":
                    r = s.setblocking(op[2])
                elif k == "mode":
                    r = [s.gettimeout(), s.getblocking()]
                elif k == "setsockopt":
                    r = s.setsockopt(op[2], op[3], op[4])
                elif k == "getsockname":
                    r = fmt_addr(s.getsockname(), fam)
                elif k == "getpeername":
                    r = fmt_addr(s.getpeername(), fam)
                elif k == "shutdown":
                    r = s.shutdown(op[2])
                elif k == "close":
                    r = s.close()
                elif k == "close_while_recv":
                    # Python's waiter sees EBADF when it wakes (its timeout).
                    res = []
                    def w():
                        try:
                            res.append(s.recvfrom(10))
                        except Exception as e:
                            res.append(e)
                    th = threading.Thread(target=w, daemon=True)
                    th.start()
                    time.sleep(op[2] / 1000)
                    s.close()
                    th.join(3)
                    if not res:
                        r = "hang"
                    elif isinstance(res[0], Exception):
                        raise res[0]
                    else:
                        r = [fmt_bytes(res[0][0]), fmt_addr(res[0][1], fam)]
                else:
                    raise Exception("bad op %r" % (op,))
        except Exception as e:
            r = fmt_exc(e)
        out.append(r)
    for s in socks.values():
        s.close()
    return out

if __name__ == "__main__":
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(run(json.loads(line))), flush=True)

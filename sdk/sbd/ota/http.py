# sbd.ota.http: a fetcher over plain HTTP/1.0 (MicroPython's socket), for
# `sbd ota serve` and any static web server.  TUF metadata and the target
# hashes make what it fetches trustworthy, not the transport; use TLS as
# well where the update's content must stay private.  Every body is bounded
# by Content-Length before it is read.
from micropython import const

from sbd import ota

_MAX_HEADER = const(512)
_MAX_HEADERS = const(32)
_SAFE = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/"


def _quote(name):
    out = bytearray()
    for c in name.encode():
        if c in _SAFE:
            out.append(c)
        else:
            out.extend(b"%%%02X" % c)
    return bytes(out)


class _Body:
    """A response body: readinto() stops at Content-Length."""

    def __init__(self, sock, stream, length):
        self._sock = sock
        self._s = stream
        self.length = length
        self._left = length

    def readinto(self, buf):
        if self._left <= 0:
            return 0
        mv = memoryview(buf)
        if len(mv) > self._left:
            mv = mv[: self._left]
        n = self._s.readinto(mv)
        if n:
            self._left -= n
        return n or 0

    def close(self):
        if self._s is not self._sock:
            self._s.close()
        self._sock.close()


class HttpFetcher:
    def __init__(self, host, port=80, base="/", timeout=10):
        self.host = host
        self.port = port
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout

    def open(self, name):
        import socket

        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        s = socket.socket()
        try:
            s.settimeout(self.timeout)
            s.connect(addr)
            # A MicroPython socket is a stream itself.  Its makefile() would
            # be a second object owning the same descriptor, closing it when
            # collected (by then maybe another socket's): never use it there.
            f = s if hasattr(s, "readline") else s.makefile("rwb", 0)
            f.write(b"GET " + _quote(self.base + name) + b" HTTP/1.0\r\nHost: " + self.host.encode() + b"\r\n\r\n")
            status = f.readline(_MAX_HEADER)
            parts = status.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise ota.Malformed("fetch: not an HTTP response")
            code = parts[1]
            length = -1
            for _ in range(_MAX_HEADERS):
                line = f.readline(_MAX_HEADER)
                if not line.endswith(b"\n"):
                    raise ota.Malformed("fetch: header line too long or cut")
                if line in (b"\r\n", b"\n"):
                    break
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    v = v.strip()
                    if not v or not v.isdigit() or len(v) > 10:
                        raise ota.Malformed("fetch: bad Content-Length")
                    length = int(v)
            else:
                raise ota.Malformed("fetch: too many headers")
            if code in (b"404", b"403"):
                s.close()
                return None
            if code != b"200":
                raise ota.NotFound("fetch: HTTP status %s" % code.decode())
            if length < 0:
                raise ota.Malformed("fetch: no Content-Length")
            return _Body(s, f, length)
        except OSError:
            s.close()
            raise ota.NotFound("fetch: connection failed")
        except ota.OtaError:
            s.close()
            raise

    def fetch(self, name, limit):
        b = self.open(name)
        if b is None:
            return None
        try:
            if b.length > limit:
                raise ota.TooLarge("fetch: more than %d bytes" % limit)
            buf = bytearray(b.length)
            mv = memoryview(buf)
            got = 0
            while got < b.length:
                n = b.readinto(mv[got:])
                if not n:
                    raise ota.Mismatch("fetch: body shorter than its Content-Length")
                got += n
            return bytes(buf)
        finally:
            b.close()

# sbd.ota.http: a fetcher over HTTP/1.0 or HTTPS (MicroPython's socket and
# ssl), for `sbd ota serve` and any static web server or CDN.  TUF metadata
# and the target hashes make what it fetches trustworthy, not the transport;
# TLS keeps the update's content private and the server authentic.
#
# Rules, in order:
#   1. HTTPS goes through sbd.net.tls_context(): the server's chain is
#      checked against the CA the app gives and its name against `host`
#      (no CA, no context: fail closed);
#   2. every body is bounded by Content-Length before it is read, every
#      header line by _MAX_HEADER bytes and their number by _MAX_HEADERS;
#   3. open(name, offset) resumes with a Range request; a 206 must say it
#      starts at that offset (Content-Range), a 200 (the server ignores
#      ranges) is read from the start and the first `offset` bytes are
#      skipped, so the caller always gets the bytes from `offset` on.
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


class TlsRefused(ota.OtaError):
    """The HTTPS server's certificate chain or name did not verify."""

    reason = "tls"


class _Body:
    """A response body: readinto() stops at Content-Length.  length: the
    bytes it delivers (from the offset asked), left: those still to come."""

    def __init__(self, sock, stream, length):
        self._sock = sock
        self._s = stream
        self.length = length
        self.left = length

    def readinto(self, buf):
        if self.left <= 0:
            return 0
        mv = memoryview(buf)
        if len(mv) > self.left:
            mv = mv[: self.left]
        n = self._s.readinto(mv)
        if n:
            self.left -= n
        return n or 0

    def close(self):
        if self._s is not self._sock:
            self._s.close()
        self._sock.close()


class HttpFetcher:
    """GET files under http(s)://host:port/base.  tls: an sbd.net.Tls
    (sbd.net.tls_context(cadata=CA)) for HTTPS, None for plain HTTP."""

    def __init__(self, host, port=None, base="/", timeout=10, tls=None):
        if "\r" in host or "\n" in host or "\r" in base or "\n" in base:
            raise ValueError("bad host or base")
        self.host = host
        self.port = port or (443 if tls is not None else 80)
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.tls = tls

    def open(self, name, offset=0):
        """A stream of the file's bytes from `offset` on (readinto, close,
        .length = bytes left), or None when the server has no such file."""
        import socket

        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        s = socket.socket()
        try:
            s.settimeout(self.timeout)
            s.connect(addr)
            if self.tls is not None:
                try:
                    s = self.tls.wrap(s, self.host)
                except (OSError, ValueError):
                    # Chain or name not verified (or the handshake failed):
                    # never a reason to fall back to plain HTTP.
                    raise TlsRefused("fetch: the TLS server was not verified")
            # A MicroPython socket (plain or TLS) is a stream itself.  Its
            # makefile() would be a second object owning the same descriptor,
            # closing it when collected (by then maybe another socket's):
            # never use it there.
            f = s if hasattr(s, "readline") else s.makefile("rwb", 0)
            req = b"GET " + _quote(self.base + name) + b" HTTP/1.0\r\nHost: " + self.host.encode()
            if offset:
                req += b"\r\nRange: bytes=%d-" % offset
            f.write(req + b"\r\n\r\n")
            code, length, start = _head(f)
            if code in (b"404", b"403"):
                s.close()
                return None
            if code == b"206" and offset:
                if start != offset:
                    raise ota.Malformed("fetch: Content-Range not at the offset asked")
                return _Body(s, f, length)
            if code != b"200":
                raise ota.NotFound("fetch: HTTP status %s" % code.decode())
            body = _Body(s, f, length)
            if offset:
                _skip(body, offset)
            return body
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


def _digits(v):
    v = v.strip()
    if not v or not v.isdigit() or len(v) > 10:
        raise ota.Malformed("fetch: bad length header")
    return int(v)


def _head(f):
    # (status code, Content-Length, first byte of a Content-Range or -1)
    status = f.readline(_MAX_HEADER)
    parts = status.split(None, 2)
    # A status line cut at _MAX_HEADER would leave its tail to be read as a header.
    if not status.endswith(b"\n") or len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ota.Malformed("fetch: not an HTTP response")
    length = start = -1
    for _ in range(_MAX_HEADERS):
        line = f.readline(_MAX_HEADER)
        if not line.endswith(b"\n"):
            raise ota.Malformed("fetch: header line too long or cut")
        if line in (b"\r\n", b"\n"):
            break
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = _digits(v)
        elif k == b"content-range":
            # "bytes START-END/TOTAL": only START matters, TUF bounds the rest
            v = v.strip()
            if not v.startswith(b"bytes "):
                raise ota.Malformed("fetch: bad Content-Range")
            start = _digits(v[6:].split(b"-", 1)[0])
    else:
        raise ota.Malformed("fetch: too many headers")
    if length < 0 and parts[1] in (b"200", b"206"):
        raise ota.Malformed("fetch: no Content-Length")
    return parts[1], length, start


def _skip(body, n):
    buf = bytearray(256)
    while n:
        k = body.readinto(memoryview(buf)[: min(n, 256)])
        if not k:
            raise ota.Mismatch("fetch: body shorter than the offset")
        n -= k
    body.length = body.left

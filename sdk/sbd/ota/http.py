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
#      skipped, so the caller always gets the bytes from `offset` on;
#   4. every open() is bounded in time as a whole, not only each read (a
#      server dripping one byte per read timeout would hold the board for
#      days): from the connect on it has `allowance` seconds, plus
#      1000 / min_rate ms per byte of the Content-Length once that is known
#      (capped at a day), measured with time.ticks_ms and checked before
#      every read; past it the fetch raises TooSlow (reason "too-slow").
#      On MicroPython the socket is non-blocking once the request is sent
#      and a read waits in poll() no longer than the bound (its readinto
#      would otherwise fill the whole buffer, one socket timeout per
#      recv); on CPython a read returns what arrived, so a fetch ends at
#      most one `timeout` after its bound.  `timeout` still ends a read
#      that gets no byte at all (OSError).
import time

from micropython import const

from sbd import ota

_MAX_HEADER = const(512)
_MAX_HEADERS = const(32)
_MAX_BUDGET_MS = const(86_400_000)  # a day: well inside half a ticks period (2**29 ms)
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


class TooSlow(ota.OtaError):
    """The server took longer than the fetch's time bound (slow-retrieval
    attack, or a link too slow to be of use).  Bytes already written stay:
    an interrupted download may resume later."""

    reason = "too-slow"  # sbd.ota.download keeps the bytes so far for it


class _Body:
    """A response: readline() for its head, then readinto(), which stops
    at Content-Length.  length: the bytes it delivers (from the offset
    asked), left: those still to come.  Every read first checks the time
    bound (rule 4)."""

    def __init__(self, sock, stream, allowance_ms, timeout_ms):
        self._sock = sock
        self._s = stream
        self._t0 = time.ticks_ms()
        self._budget = allowance_ms
        self._tmo = timeout_ms
        self._poll = None  # set by open() for a non-blocking socket
        self.length = 0
        self.left = (_MAX_HEADERS + 1) * _MAX_HEADER  # the head, until arm()
        self._line = None

    def arm(self, length, min_rate):
        # The body's bytes get their time on top of the allowance.
        self._line = None
        self.length = self.left = length
        b = self._budget + length * 1000 // min_rate
        self._budget = b if b < _MAX_BUDGET_MS else _MAX_BUDGET_MS

    def readline(self, limit):
        # One byte at a time, the time bound checked before each (a
        # stream's own readline would wait a read timeout per byte), into
        # one buffer for the whole head (dropped by arm()).
        if self._line is None:
            self._line = bytearray(_MAX_HEADER + 1)
        buf = self._line
        one = memoryview(buf)[_MAX_HEADER:]
        n = 0
        while n < limit:
            if not self.readinto(one):
                break
            c = one[0]
            buf[n] = c
            n += 1
            if c == 10:
                break
        return bytes(memoryview(buf)[:n])

    def readinto(self, buf):
        # What has arrived, at least one byte (0 at the end), the time
        # bound checked before every wait.  A MicroPython stream's readinto
        # fills the whole buffer (one recv after another, each with the
        # socket's timeout), so there the socket is non-blocking and _poll
        # waits (ipoll: no allocation); CPython's socket file returns short
        # reads by itself and never gets None.
        if self.left <= 0:
            return 0
        mv = memoryview(buf)
        if len(mv) > self.left:
            mv = mv[: self.left]
        t = time.ticks_ms()
        while True:
            now = time.ticks_ms()
            left = self._budget - time.ticks_diff(now, self._t0)
            if left < 0:
                raise TooSlow("fetch: past its time bound")
            n = self._s.readinto(mv)
            if n is not None:
                break
            w = self._tmo - time.ticks_diff(now, t)
            if w <= 0:
                raise OSError(110)  # ETIMEDOUT: no byte within the read timeout
            self._poll.ipoll(left if left < w else w)
        self.left -= n
        return n

    def close(self):
        if self._s is not self._sock:
            self._s.close()
        self._sock.close()


class HttpFetcher:
    """GET files under http(s)://host:port/base.  tls: an sbd.net.Tls
    (sbd.net.tls_context(cadata=CA)) for HTTPS, None for plain HTTP.
    timeout: seconds for one read; allowance (seconds) and min_rate
    (bytes per second): the time bound of a whole fetch (rule 4), by
    default 30 s plus 1 ms per byte."""

    def __init__(self, host, port=None, base="/", timeout=10, tls=None, allowance=30, min_rate=1000):
        if min_rate <= 0 or allowance < 0:
            raise ValueError("bad time bound")
        if "\r" in host or "\n" in host or "\r" in base or "\n" in base:
            raise ValueError("bad host or base")
        self.host = host
        self.port = port or (443 if tls is not None else 80)
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.tls = tls
        self.allowance = allowance
        self.min_rate = min_rate

    def open(self, name, offset=0):
        """A stream of the file's bytes from `offset` on (readinto, close,
        .length = bytes left), or None when the server has no such file."""
        import socket

        try:
            addr = socket.getaddrinfo(self.host, self.port)[0][-1]
            s = socket.socket()
        except OSError:  # no such name, no network: as any connection failure
            raise ota.NotFound("fetch: connection failed") from None
        body = None
        try:
            s.settimeout(self.timeout)
            body = _Body(s, None, int(self.allowance * 1000), int(self.timeout * 1000))
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
            body._sock = s
            body._s = f
            req = b"GET " + _quote(self.base + name) + b" HTTP/1.0\r\nHost: " + self.host.encode()
            if offset:
                req += b"\r\nRange: bytes=%d-" % offset
            f.write(req + b"\r\n\r\n")
            if f is s:
                # MicroPython: non-blocking, _Body._read waits in a poll
                import select

                body._poll = select.poll()
                body._poll.register(s, select.POLLIN)
                s.setblocking(False)
            code, length, start = _head(body)
            if code in (b"404", b"403"):
                body.close()
                return None
            if code == b"206" and offset:
                if start != offset:
                    raise ota.Malformed("fetch: Content-Range not at the offset asked")
                body.arm(length, self.min_rate)
                return body
            if code != b"200":
                raise ota.NotFound("fetch: HTTP status %s" % code.decode())  # three digits (_head)
            body.arm(length, self.min_rate)
            if offset:
                # A server that ignores Range sends the whole file: the skip
                # gets the time of `offset` bytes, not of the length the
                # server claims (sbd.ota.download refuses a claimed length
                # other than the signed one, but only after open returns).
                full = body._budget
                body._budget = min(full, int(self.allowance * 1000) + offset * 1000 // self.min_rate)
                _skip(body, offset)
                body._budget = full
            return body
        except OSError:
            _close(s, body)
            raise ota.NotFound("fetch: connection failed")
        except ota.OtaError:
            _close(s, body)
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
        except OSError:  # a read timed out or the connection reset
            raise ota.NotFound("fetch: connection failed") from None
        finally:
            b.close()


def _close(s, body):
    # The socket, and the TLS stream over it when there is one.
    if body is not None and body._s is not None:
        body.close()
    else:
        s.close()


def _digits(v):
    v = v.strip()
    if not v or not v.isdigit() or len(v) > 10:
        raise ota.Malformed("fetch: bad length header")
    return int(v)


def _head(f):
    # (status code, Content-Length, first byte of a Content-Range or -1)
    status = f.readline(_MAX_HEADER)
    parts = status.split(None, 2)
    # A status line cut at _MAX_HEADER would leave its tail to be read as a
    # header; the code is three digits (never the server's text in an error).
    if (
        not status.endswith(b"\n")
        or len(parts) < 2
        or not parts[0].startswith(b"HTTP/1.")
        or len(parts[1]) != 3
        or not parts[1].isdigit()
    ):
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

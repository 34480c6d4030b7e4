# sbd.net.http: a telemetry sink that POSTs each event (one JSON object) to
# an HTTP(S) endpoint.
#
# Rules, in order:
#   1. only a 2xx status counts as delivered; anything else, a timeout or a
#      closed connection keeps the event queued (send() returns False);
#   2. every wait is bounded by `timeout_s`, the status line by _MAX_LINE
#      bytes; the reply's body is never read into memory;
#   3. TLS goes through sbd.net.tls_context(), so it verifies by default;
#   4. while the back-off runs, send() returns False at once;
#   5. a 2xx reply over TLS that verified the server (not verify=False, not
#      plain HTTP) carries a trusted time: its Date header goes to
#      sbd.trustedtime.advance_http_date (which never moves the time back and
#      ignores a malformed date); the headers are read within _MAX_HEADERS
#      lines and _MAX_HEAD bytes; a line longer than _MAX_LINE is read to its
#      end and never taken as a Date, nor its tail as the next header.
import socket

from micropython import const

from sbd.net import Backoff

_MAX_LINE = const(64)
_MAX_HEADERS = const(32)
_MAX_HEAD = const(4096)  # bytes of status line and headers read in all


class HttpSink:
    """POST each event to http(s)://host:port/path (one connection each)."""

    def __init__(self, host, path="/", port=None, tls=None, headers=b"", backoff=None, timeout_s=5):
        if not path.startswith("/") or "\r" in path or "\n" in path or "\r" in host or "\n" in host:
            raise ValueError("bad host or path")
        self.host = host
        self.port = port or (443 if tls else 80)
        self.path = path
        self.tls = tls
        self.headers = headers  # extra header lines, each ending in \r\n (an auth token, say)
        self.backoff = backoff or Backoff()
        self.timeout_s = timeout_s
        self.failures = 0

    def send(self, payload):
        if not self.backoff.ready():
            return False
        s = None
        try:
            addr = socket.getaddrinfo(self.host, self.port)[0][-1]
            s = socket.socket()
            s.settimeout(self.timeout_s)
            s.connect(addr)
            if self.tls is not None:
                s = self.tls.wrap(s, self.host)
            req = b"POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
                self.path.encode(),
                self.host.encode(),
                len(payload),
            )
            _write(s, req + self.headers + b"\r\n" + payload)
            h = _Head(s)
            ok = _status(h) // 100 == 2
            if ok and self.tls is not None and self.tls.verify:
                _take_date(h)
        except (OSError, ValueError):
            ok = False
        finally:
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if ok:
            self.backoff.succeeded()
        else:
            self.failures += 1
            self.backoff.failed()
        return ok


def _write(s, buf):
    mv = memoryview(buf)
    w = s.send if hasattr(s, "send") else s.write
    while len(mv):
        n = w(mv)
        if not n:
            raise OSError(104)
        mv = mv[n:]


class _Head:
    # The reply's status line and headers, read byte by byte within _MAX_HEAD
    # bytes in all.  A line longer than _MAX_LINE is read to its end and its
    # tail dropped (never taken as the next line: a verified server echoing
    # text into a long header must not make it a Date), and marked `long`.

    def __init__(self, s):
        self.r = s.recv if hasattr(s, "recv") else s.read
        self.left = _MAX_HEAD
        self.long = False

    def line(self):
        """The next line's first _MAX_LINE bytes (without its end), or None
        when the connection ends or the budget runs out before a newline."""
        line = bytearray()
        self.long = False
        r = self.r
        while self.left > 0:
            self.left -= 1
            b = r(1)
            if not b:
                return None
            if b == b"\n":
                return bytes(line).rstrip(b"\r")
            if len(line) < _MAX_LINE:
                line += b
            else:
                self.long = True
        return None


def _take_date(h):
    # Rule 5: the Date header of a verified server's reply, if any, only at
    # the start of a whole line of at most _MAX_LINE bytes.
    for _ in range(_MAX_HEADERS):
        line = h.line()
        if not line:
            return  # the end of the headers, the connection or the budget
        if not h.long and line[:5].lower() == b"date:":
            from sbd import trustedtime

            try:
                trustedtime.advance_http_date(line[5:].strip())
            except (ValueError, OSError):
                pass  # a malformed date changes nothing; a full flash does not undo the delivery
            return


def _status(h):
    # "HTTP/1.x NNN ..." : the first line (a long reason phrase is read to
    # its end, so the headers start after it).
    line = h.line()
    if line is None:
        return 0
    parts = line.split(b" ")
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        return 0
    return int(parts[1])

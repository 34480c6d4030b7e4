# sbd.net.http.HttpSink against a scripted socket: only a whole header line
# that starts with "Date:" moves the trusted time.  A line longer than the
# reader's limit is read to its end and its tail is never parsed as the next
# header (review finding 5: a verified server echoing text into a long header
# put "date: ... 2190" at byte 64 and moved the time forward for good); the
# status line and headers are read within a bounded number of bytes.
import os

from dtest import eq, scratch_path, true
from sbd import _fs
from sbd import trustedtime as tt
from sbd.net import Backoff, http

REAL = b"Date: Tue, 15 Nov 2033 08:12:31 GMT\r\n"
WANT = "2033-11-15T08:12:31Z"
FORGED = b"date: Sun, 01 Jan 2190 00:00:00 GMT"


class Sock:
    """A connected socket that answers with scripted bytes."""

    def __init__(self, answer):
        self.answer = answer
        self.read = 0
        self.out = bytearray()

    def settimeout(self, t):
        pass

    def connect(self, addr):
        pass

    def send(self, b):
        self.out += bytes(b)
        return len(b)

    def recv(self, n):
        b = self.answer[self.read : self.read + n]
        self.read += len(b)
        return b

    def close(self):
        pass


class Net:
    """Stands in for the socket module sbd.net.http uses."""

    def __init__(self, answer):
        self.sock = Sock(answer)

    def getaddrinfo(self, host, port):
        return [(0, 0, 0, "", (host, port))]

    def socket(self):
        return self.sock


class VerifiedTls:
    """A Tls that verified the server (the date is trusted)."""

    verify = True

    def wrap(self, s, host):
        return s


def _post(answer):
    _fs.STATE_DIR = scratch_path("nethttp")
    try:
        os.remove(_fs.STATE_DIR + "/" + tt.NAME)
    except OSError:
        pass
    net = Net(answer)
    saved = http.socket
    http.socket = net
    try:
        ok = http.HttpSink("h", "/e", tls=VerifiedTls(), backoff=Backoff(1, 1)).send(b"{}")
    finally:
        http.socket = saved
    return ok, net.sock


def test_the_date_of_a_verified_reply_is_taken():
    ok, _ = _post(b"HTTP/1.1 204 No Content\r\nServer: x\r\n" + REAL + b"\r\n")
    true(ok, "delivered")
    eq(tt.newest(), WANT)


def test_a_long_header_tail_is_not_a_header():
    echo = b"X-Echo: " + b"a" * (64 - 8) + FORGED  # the forged date at byte 64
    eq(echo.index(b"date:"), 64)
    ok, _ = _post(b"HTTP/1.1 200 OK\r\n" + echo + b"\r\n" + REAL + b"\r\n")
    true(ok, "delivered")
    eq(tt.newest(), WANT, "the real Date, not the echoed one")


def test_a_long_status_line_tail_is_not_a_header():
    status = b"HTTP/1.1 200 " + b"O" * (64 - 13) + FORGED
    eq(status.index(b"date:"), 64)
    ok, _ = _post(status + b"\r\nServer: x\r\n\r\n")
    true(ok, "a 200 with a long reason phrase is still delivered")
    eq(tt.newest(), tt.FLOOR, "no date taken")


def test_a_date_line_longer_than_the_limit_is_not_taken():
    ok, _ = _post(b"HTTP/1.1 200 OK\r\n" + REAL[:-2] + b" " * 40 + b"\r\n\r\n")
    true(ok, "delivered")
    eq(tt.newest(), tt.FLOOR, "no date taken")


def test_endless_headers_are_read_within_a_bound():
    answer = b"HTTP/1.1 200 OK\r\nX: " + b"y" * 6000 + b"\r\n" + REAL + b"\r\n"
    ok, sock = _post(answer)
    true(ok, "delivered")
    eq(tt.newest(), tt.FLOOR, "no date after the bound")
    eq(sock.read, 4096, "stopped reading at the bound")

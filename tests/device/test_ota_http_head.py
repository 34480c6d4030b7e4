# sbd.ota.http's reply reader: a status line longer than the line limit is
# refused, so its tail is never read as a header (a reason phrase carrying
# "Content-Range: bytes 0-" at the limit would otherwise set the offset).
# Header lines were already refused when cut (checked here too).
import io

from dtest import eq, raises
from sbd import ota
from sbd.ota import http


def _head(b):
    return http._head(io.BytesIO(b))


def test_a_whole_reply_head_is_read():
    eq(_head(b"HTTP/1.1 206 Partial\r\nContent-Length: 5\r\nContent-Range: bytes 7-11/12\r\n\r\n"), (b"206", 5, 7))


def test_a_long_status_line_is_refused():
    status = b"HTTP/1.1 206 " + b"P" * (512 - 13)
    eq(len(status), 512)
    raises(ota.Malformed, _head, status + b"Content-Range: bytes 0-4/5\r\nContent-Length: 5\r\n\r\n")


def test_a_long_header_line_is_refused():
    raises(ota.Malformed, _head, b"HTTP/1.1 200 OK\r\nX: " + b"y" * 600 + b"\r\nContent-Length: 5\r\n\r\n")

# Streaming SHA-256 (hashlib's C implementation) over streams and files.
#
# One scratch buffer is allocated once and reused with readinto(), so hashing
# a 1 MiB image allocates a few hundred bytes in total instead of one new
# bytes object per chunk (what f.read(n) would cost).
from micropython import const
import hashlib

from sbd.crypto import MalformedInput, require_bytes

DIGEST_SIZE = const(32)
_CHUNK = const(1024)
_buf = None  # allocated on first use, then kept: no fragmentation later


def _scratch():
    global _buf
    if _buf is None:
        _buf = memoryview(bytearray(_CHUNK))
    return _buf


def sha256(data=b""):
    require_bytes(data)  # MicroPython's hashlib would hash a str as UTF-8
    return hashlib.sha256(data).digest()


def hash_stream(stream, size=None, h=None, buf=None):
    """Feed a stream (anything with readinto) into a SHA-256 and return the digest.

    size: read exactly this many bytes (a short stream raises MalformedInput),
    or everything up to EOF when None.  h: an existing hashlib.sha256 object
    to continue (its digest is returned).  buf: a memoryview to use as the
    scratch buffer instead of the module's own."""
    if h is None:
        h = hashlib.sha256()
    mv = buf if buf is not None else _scratch()
    chunk = len(mv)
    left = -1 if size is None else size
    if size is not None and size < 0:
        raise MalformedInput("negative size")
    while left != 0:
        want = chunk if left < 0 or left > chunk else left
        n = stream.readinto(mv[:want]) if want != chunk else stream.readinto(mv)
        if not n:
            if left > 0:
                raise MalformedInput("stream ended early")
            break
        h.update(mv[:n])
        if left > 0:
            left -= n
    return h.digest()


def hash_file(path, size=None):
    """SHA-256 of a file (or of its first size bytes, which must exist)."""
    with open(path, "rb") as f:
        return hash_stream(f, size)

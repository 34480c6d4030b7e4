# sbd.ota.download: streaming one verified target into a file: its signed
# length and SHA-256 are checked on the way, never more than its length is
# read, and an interrupted download can resume (the hash still covers every
# byte).  Kept out of sbd.ota.client so that a refresh, which never fetches a
# target, does not hold this code in the heap.
from micropython import const

from sbd import ota
from sbd.ota import client

_CHUNK = const(1024)

_buf = None


def _scratch():
    global _buf
    if _buf is None:
        _buf = memoryview(bytearray(_CHUNK))
    return _buf


def target_name(t, path, sha256):
    """The name to fetch a target by: with consistent snapshots the hash
    goes before the file name, as TUF 5.7.3 says."""
    if not t.root["consistent_snapshot"]:
        return path
    i = path.rfind("/") + 1
    import binascii

    return path[:i] + binascii.hexlify(sha256).decode() + "." + path[i:]


class Interrupted(ota.Mismatch):
    """The source ended before the target's signed length (a dropped
    connection): the bytes so far stay in dest, so the download can
    resume."""


def download(t, fetcher, path, dest, resume=False):
    """Stream one target into the file dest, checking its length and
    SHA-256 on the way (never more than its signed length is read).  With
    resume=True, bytes already in dest (an interrupted download) are kept
    and only the rest is fetched; the hash still covers every byte, and a
    resumed file that fails it is fetched once more from the start.  On a
    refusal dest is removed and OtaError raised; on Interrupted dest keeps
    what arrived, and on a fetcher's time bound (reason "too-slow",
    sbd.ota.http.TooSlow) too."""
    try:
        try:
            _download(t, fetcher, path, dest, resume)
        except Interrupted:
            raise
        except ota.Mismatch:
            if not resume:
                raise
            _download(t, fetcher, path, dest, False)
    except ota.OtaError as e:
        client.emit_rejected(e)
        if not isinstance(e, Interrupted) and e.reason != "too-slow":
            try:
                import os

                os.remove(dest)
            except OSError:
                pass
        raise


def _have(dest, length, h, buf):
    # Bytes of an interrupted download in dest, hashed into h; 0 (and dest
    # left to be truncated) when there are none or more than the target.
    try:
        f = open(dest, "rb")
    except OSError:
        return 0
    n = 0
    with f:
        if f.seek(0, 2) > length:
            return 0
        f.seek(0)
        while True:
            k = f.readinto(buf)
            if not k:
                break
            h.update(buf[:k])
            n += k
    return n


def _download(t, fetcher, path, dest, resume):
    import hashlib

    length, want, _ = t.target(path)
    h = hashlib.sha256()
    have = _have(dest, length, h, _scratch()) if resume else 0
    with open(dest, "ab" if have else "wb") as out:
        _stream(t, fetcher, path, have, h, out.write)


def to_sink(t, fetcher, path, write):
    """Stream one target into write(memoryview) (an app partition, say),
    checking its length and SHA-256 on the way; OtaError (and an
    ota.rejected event) when they differ, after which the caller must not
    use what it was given.  No resume: a cut stream starts over."""
    import hashlib

    try:
        _stream(t, fetcher, path, 0, hashlib.sha256(), write)
    except ota.OtaError as e:
        client.emit_rejected(e)
        raise


def _stream(t, fetcher, path, have, h, write):
    length, want, _ = t.target(path)
    buf = _scratch()
    left = length - have
    src = fetcher.open(target_name(t, path, want), have) if left else None
    if src is None and left:
        raise ota.NotFound("target: not in the repository")
    try:
        # A fetcher that knows the length it will deliver (HTTP's
        # Content-Length) must announce the signed one: the time bound of an
        # HTTP fetch grows with it, so a claimed 10 GB would let a server
        # drip a small target for a day.  Refused before a byte is read.
        n = getattr(src, "length", None)  # None too when nothing is left to fetch
        if n is not None and n != left:
            if n > left:
                raise ota.TooLarge("target: the server says more than its signed %d bytes" % length)
            raise Interrupted("target: the server has %d bytes fewer than signed" % (left - n))
        while left:
            try:
                n = src.readinto(buf if left >= _CHUNK else buf[:left])
            except OSError:  # a read timed out or the connection reset: resume later
                n = 0
            if not n:
                raise Interrupted("target: %d bytes short of its signed length" % left)
            h.update(buf[:n])
            write(buf[:n])
            left -= n
        # One more byte means the server sends more than was signed.
        if src is not None and src.readinto(buf[:1]):
            raise ota.TooLarge("target: more than its signed %d bytes" % length)
    finally:
        if src is not None:
            src.close()
    # A plain compare: both digests are public (the signed one is in metadata
    # anyone can fetch), so timing leaks nothing, and sbd.crypto.ct_equal would
    # load its native loop here, at the end of an install, when the heap is
    # most fragmented (a MemoryError seen on a 160K heap).
    if h.digest() != want:
        raise ota.Mismatch("target: SHA-256 differs")

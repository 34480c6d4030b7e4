# sbd.flashlog: a bounded log of records on flash that survives power cuts;
# sbd.telemetry's optional flash sink (FlashLog.send) and its reader (read).
#
# Two segment files, <path>.0 (older) and <path>.1 (current), each at most
# `seg_bytes`.  A record is appended to the current segment; when it would
# not fit, the current segment is renamed over the older one (one littlefs
# metadata commit: the old .0 goes, the full .1 becomes .0) and a new .1
# starts.  Rules, in order:
#   1. bounded: the log never holds more than 2 * seg_bytes bytes, so never
#      more records than that allows; the oldest segment is what goes;
#   2. power-cut safe: after a cut at any instant the log reads back as a run
#      of what was written, in order, ending at a record whose append had
#      finished (or the one being appended); never a record that was not
#      written, never garbage.  littlefs commits an append and a rename
#      atomically; a record also carries its length and a check value
#      (sha256, 4 bytes) so a torn tail on another filesystem reads as the end
#      of the segment, and the first append after boot starts a fresh segment
#      when the current one ends in one;
#   3. the flash wears: every record is one littlefs commit.  By default only
#      security events are kept (SECURITY: name prefixes), not metrics;
#   4. send() never blocks telemetry: an event not kept, one too large and a
#      filesystem error (full flash) are counted (skipped, errors) and the
#      event is reported taken; a repeat of the last record (a later sink
#      refused it and pump() offers it again) is not written twice.
# tests/device/test_telemetry_flashlog.py (both runtimes) and
# tests/vboard/test_telemetry_flashlog.py (a power cut at every flash write).
import os

from micropython import const

DEFAULT_PATH = "/.sbd/log/events"
SECURITY = (
    b"auth.",
    b"security.",
    b"creds.",
    b"privacy.",
    b"ota.",
    b"boot.",
    b"lockdown.",
    b"net.tls_unverified",
    b"net.plaintext_login",
)
_MAGIC = const(0xA5)
_OVERHEAD = const(7)  # magic, length (2), check (4)
_MIN_SEG = const(256)
_MAX_SEG = const(65536)
_EV = b'"ev": "'


def _check(data):
    import hashlib

    return hashlib.sha256(data).digest()[:4]


def _records(data):
    """(payloads, bytes of the valid prefix) of one segment's bytes."""
    out = []
    mv = memoryview(data)
    p = 0
    n = len(data)
    while p + _OVERHEAD <= n and data[p] == _MAGIC:
        ln = (data[p + 1] << 8) | data[p + 2]
        end = p + 3 + ln
        if end + 4 > n or bytes(mv[end : end + 4]) != _check(mv[p + 1 : end]):
            break
        out.append(bytes(mv[p + 3 : end]))
        p = end + 4
    return out, p


def _read(path, limit):
    # MicroPython's read(n) allocates n bytes whatever the file holds: ask
    # for what is there (sbd._fs.read_bounded does the same).
    try:
        with open(path, "rb") as f:
            n = min(f.seek(0, 2), limit)
            f.seek(0)
            return f.read(n)
    except OSError:
        return b""


def read(path=DEFAULT_PATH, seg_bytes=_MAX_SEG):
    """Every record of the log, oldest first (a list of bytes)."""
    old = _records(_read(path + ".0", seg_bytes))[0]
    return old + _records(_read(path + ".1", seg_bytes))[0]


def clear(path=DEFAULT_PATH):
    for s in (".0", ".1"):
        try:
            os.remove(path + s)
        except OSError:
            pass


class FlashLog:
    """A telemetry sink writing events to the bounded log (rule 4)."""

    def __init__(self, path=DEFAULT_PATH, seg_bytes=2048, events=SECURITY):
        if type(seg_bytes) is not int or not _MIN_SEG <= seg_bytes <= _MAX_SEG:
            raise ValueError("seg_bytes out of range")
        self.path = path
        self.seg_bytes = seg_bytes
        self.events = events
        self.written = 0
        self.skipped = 0
        self.errors = 0
        self._size = -1  # bytes in the current segment; learnt at the first append
        self._last = None

    def _wanted(self, payload):
        if self.events is None:
            return True
        i = payload.find(_EV)
        if i < 0:
            return False
        i += len(_EV)
        for p in self.events:
            if payload[i : i + len(p)] == p:
                return True
        return False

    def _start(self, cur):
        # The first append after boot: how full the current segment is, and
        # whether it ends in a torn record (then start a new one, rule 2).
        from sbd import _fs

        _fs.makedirs(self.path.rsplit("/", 1)[0])
        data = _read(cur, self.seg_bytes + 1)
        good = _records(data)[1]
        if good != len(data):
            os.rename(cur, self.path + ".0")
            return 0
        return good

    def send(self, payload):
        if payload == self._last or not self._wanted(payload):
            if payload != self._last:
                self.skipped += 1
            return True
        n = len(payload)
        if n + _OVERHEAD > self.seg_bytes:
            self.skipped += 1
            return True
        cur = self.path + ".1"
        rec = bytearray(n + _OVERHEAD)
        rec[0] = _MAGIC
        rec[1] = n >> 8
        rec[2] = n & 0xFF
        rec[3 : 3 + n] = payload
        rec[3 + n :] = _check(memoryview(rec)[1 : 3 + n])
        try:
            if self._size < 0:
                self._size = self._start(cur)
            if self._size + len(rec) > self.seg_bytes:
                os.rename(cur, self.path + ".0")
                self._size = 0
            with open(cur, "ab") as f:
                f.write(rec)
        except OSError:
            self.errors += 1
            self._size = -1  # look at the file again next time
            return True
        self._size += len(rec)
        self._last = payload
        self.written += 1
        return True

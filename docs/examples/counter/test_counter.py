# Device tests of the toy counter module (docs/examples/README.md): they run
# on MicroPython (as .mpy, 64 KiB heap) and on CPython through the shims.
# In the SDK this file would be tests/device/test_counter.py.
import os
import struct

import dtest
from counter import Counter, CounterError


def _path(name):
    p = dtest.scratch_path(name)
    for f in (p, p + ".tmp"):
        try:
            os.remove(f)
        except OSError:
            pass
    return p


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_starts_at_zero_and_counts():
    c = Counter(_path("a"))
    dtest.eq(c.value, 0, "new counter")
    dtest.eq(c.increment(), 1)
    dtest.eq(c.increment(), 2)
    dtest.eq(c.value, 2)


def test_value_survives_reopening():
    p = _path("b")
    c = Counter(p)
    for _ in range(5):
        c.increment()
    dtest.eq(Counter(p).value, 5, "reopened")
    dtest.true(".tmp" not in " ".join(os.listdir(dtest.scratch_path(""))), "no temporary file left")


def test_a_stale_temporary_file_is_ignored_then_replaced():
    # What a power cut before the rename leaves behind.
    p = _path("c")
    Counter(p).increment()
    _write(p + ".tmp", b"half-writ")
    c = Counter(p)
    dtest.eq(c.value, 1)
    dtest.eq(c.increment(), 2)
    dtest.eq(Counter(p).value, 2)


def test_a_damaged_file_fails_closed():
    p = _path("d")
    Counter(p).increment()
    with open(p, "rb") as f:
        good = f.read()
    for bad in (good[:-1], good + b"x", b"CNT2" + good[4:], good[:4] + b"\x00\x00\x00\x02" + good[8:], b""):
        _write(p, bad)
        e = dtest.raises(CounterError, Counter, p)
        dtest.eq(str(e), "counter file damaged", "message for %r" % bad)


def test_it_stops_at_its_maximum():
    p = _path("e")
    top = 0x3FFFFFFF
    _write(p, struct.pack(">4sII", b"CNT1", top, 0))
    c = Counter(p)
    dtest.eq(c.value, top)
    dtest.eq(str(dtest.raises(CounterError, c.increment)), "counter at its maximum")
    dtest.eq(Counter(p).value, top, "unchanged on flash")

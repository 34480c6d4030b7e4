# A power-cut-safe persistent counter: the toy device module of
# docs/examples/README.md.  In the SDK it would be sdk/sbd/counter.py,
# imported as `sbd.counter`.
#
# The value lives in one 12-byte file, replaced whole on each change: write a
# temporary file, then rename it over the old one (the commit point).  The
# rename is atomic on littlefs, so after a power cut at any moment the file
# holds the old value or the new one, and the real name never points at a
# half-written file.  (littlefs also commits a file's content atomically at
# close; the rename does not rely on that, which FAT does not give.)  A
# damaged or foreign file raises CounterError: a counter that guards against
# rollback must never quietly restart from 0.
import os
import struct

from micropython import const

_MAGIC = b"CNT1"
_FMT = ">4sII"  # magic, value, value ^ _MAX (a check that catches a damaged file)
_SIZE = const(12)
_MAX = const(0x3FFFFFFF)  # a small int on every port: counting allocates nothing


class CounterError(Exception):
    pass


class Counter:
    """`Counter(path)`: `.value`, and `.increment()` which returns the new value
    once it is on flash."""

    def __init__(self, path):
        self._path = path
        self._tmp = path + ".tmp"
        self._buf = bytearray(_SIZE)  # one buffer for every read and write
        self.value = self._load()

    def _load(self):
        try:
            f = open(self._path, "rb")
        except OSError:
            return 0  # never written (a cut before the first rename leaves no file)
        with f:
            n = f.readinto(self._buf)
            more = f.read(1)
        if n != _SIZE or more:
            raise CounterError("counter file damaged")
        magic, value, check = struct.unpack(_FMT, self._buf)
        if magic != _MAGIC or value > _MAX or check != value ^ _MAX:
            raise CounterError("counter file damaged")
        return value

    def increment(self):
        value = self.value + 1
        if value > _MAX:
            raise CounterError("counter at its maximum")
        struct.pack_into(_FMT, self._buf, 0, _MAGIC, value, value ^ _MAX)
        with open(self._tmp, "wb") as f:
            f.write(self._buf)
        os.rename(self._tmp, self._path)  # the commit point
        self.value = value
        return value

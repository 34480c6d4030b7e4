# Virtual board: the `rp2` module's Flash class (micropython 1c3c201
# ports/rp2/rp2_flash.c): the filesystem region of the flash as a block
# device with 4 KiB blocks, the extended protocol, and Flash(start=, len=)
# keyword-only sub-ranges (ValueError unless 4 KiB aligned and inside).
# Not reproduced: the buffer protocol (memoryview over XIP flash), and the
# port's missing checks (a read or write past the region is EINVAL here; an
# unaligned plain write erases the sectors it covers).
from micropython import const

_SECTOR = const(4096)

_flash = None
_base = 0
_size = 0


def _setup(flash, base, size):
    global _flash, _base, _size
    _flash = flash
    _base = base
    _size = size


class Flash:
    def __init__(self, *, start=-1, len=-1):
        if start == -1:
            start = 0
        elif not (0 <= start < _size and start % _SECTOR == 0):
            raise ValueError
        if len == -1:
            len = _size - start
        elif not (0 < len and start + len <= _size and len % _SECTOR == 0):
            raise ValueError
        self._off = _base + start
        self._len = len

    def _addr(self, block, off, n):
        a = block * _SECTOR + off
        if a < 0 or a + n > self._len:
            raise OSError(22)
        return self._off + a

    def readblocks(self, block, buf, off=0):
        _flash.read(self._addr(block, off, len(buf)), buf)

    def writeblocks(self, block, buf, off=None):
        if off is None:
            span = (len(buf) + _SECTOR - 1) // _SECTOR * _SECTOR
            addr = self._addr(block, 0, span)
            _flash.erase(addr, span)
            _flash.program(addr, buf)
        else:
            _flash.program(self._addr(block, off, len(buf)), buf)

    def ioctl(self, op, arg):
        if op in (1, 2, 3):
            return 0
        if op == 4:
            return self._len // _SECTOR
        if op == 5:
            return _SECTOR
        if op == 6:
            _flash.erase(self._addr(arg, 0, _SECTOR), _SECTOR)
            return 0
        return None

# Virtual board: the flash chip, emulated over the board's image file.
#
# Behaves like NOR flash, which is what littlefs and the ESP-IDF bootloader
# are written for:
#   * erase works on whole 4 KiB sectors and sets every bit to 1 (0xFF);
#   * program can only clear bits (new = old AND data) and is done page by
#     page (256 B, read-modify-write of the page), one write() per page, so a
#     kill between two pages leaves the earlier pages programmed and the
#     later ones not, as on a chip;
#   * each program call and each sector erase is one "operation".  When the
#     host asks for a power cut at operation N (SBD_VB_CUT_AT), that
#     operation is torn (only its first half reaches the flash) and the
#     process is killed with SIGKILL: nothing after it runs, as with a real
#     loss of power.
# File writes on the unix port are unbuffered write() calls, so a kill from
# outside at any instant also leaves the image exactly as far as it got.
import os

from micropython import const

_PAGE = const(256)
_SECTOR = const(4096)


def power_cut():
    # SIGKILL to our own process ($PPID of the shell): no finally blocks, no
    # flush, no atexit.  The loop only runs if the kill itself failed.
    os.system("kill -9 $PPID")
    while True:
        pass


class Flash:
    # The block device is called by littlefs with the heap locked (a file
    # closed by the GC finaliser, for one), as the C drivers on the ports
    # would be: every method here works in preallocated buffers and must not
    # allocate.  tests/vboard check this with micropython.heap_lock().

    def __init__(self, path, size, cut_at=0):
        self.f = open(path, "r+b")
        self.size = size
        self.ops = 0
        self.cut_at = cut_at
        self._page = bytearray(_PAGE)
        self._ff = b"\xff" * _PAGE

    def _check(self, addr, n):
        if addr < 0 or n < 0 or addr + n > self.size:
            raise OSError(22)  # EINVAL, as the real flash drivers answer

    def _tick(self):
        self.ops += 1
        return self.cut_at and self.ops == self.cut_at

    def read(self, addr, buf):
        n = len(buf)
        self._check(addr, n)
        self.f.seek(addr)
        got = self.f.readinto(buf) or 0
        for i in range(got, n):  # a short image file reads as erased flash
            buf[i] = 0xFF

    def program(self, addr, data):
        n = len(data)
        self._check(addr, n)
        cut = self._tick()
        # A torn program: only the first half (16-byte aligned) gets there.
        limit = (n // 2) & ~15 if cut else n
        page = self._page
        f = self.f
        pos = 0
        while pos < limit:
            # Read-modify-write the whole 256-byte page: bits only go 1 -> 0.
            a = addr + pos
            base = a - (a % _PAGE)
            f.seek(base)
            got = f.readinto(page) or 0
            for i in range(got, _PAGE):
                page[i] = 0xFF
            i = a - base
            while i < _PAGE and pos < limit:
                page[i] &= data[pos]
                i += 1
                pos += 1
            f.seek(base)
            f.write(page)
        if cut:
            power_cut()

    def erase(self, addr, size):
        if addr % _SECTOR or size % _SECTOR:
            raise OSError(22)
        self._check(addr, size)
        ff = self._ff
        f = self.f
        for s in range(addr, addr + size, _SECTOR):
            cut = self._tick()
            # A torn erase: the first half of the sector is erased.
            end = s + (_SECTOR // 2 if cut else _SECTOR)
            for p in range(s, end, _PAGE):
                f.seek(p)
                f.write(ff)
            if cut:
                power_cut()


class BlockDev:
    """A region of flash as a MicroPython block device (extended protocol)."""

    def __init__(self, flash, offset, size, block_size=_SECTOR):
        if block_size % _SECTOR or offset % _SECTOR or size % block_size:
            raise ValueError("block device must be sector aligned")
        self.flash = flash
        self.offset = offset
        self.size = size
        self.bs = block_size

    def readblocks(self, n, buf, off=0):
        self.flash.read(self.offset + n * self.bs + off, buf)

    def writeblocks(self, n, buf, off=None):
        addr = self.offset + n * self.bs
        if off is None:
            # Simple protocol: erase the blocks covered, then program.
            span = (len(buf) + self.bs - 1) // self.bs * self.bs
            self._bounds(addr, span)
            self.flash.erase(addr, span)
            self.flash.program(addr, buf)
        else:
            self._bounds(addr + off, len(buf))
            self.flash.program(addr + off, buf)

    def _bounds(self, addr, n):
        if addr < self.offset or addr + n > self.offset + self.size:
            raise OSError(22)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.size // self.bs
        if op == 5:  # block size
            return self.bs
        if op == 6:  # erase a block
            addr = self.offset + arg * self.bs
            self._bounds(addr, self.bs)
            self.flash.erase(addr, self.bs)
            return 0
        return 0  # init, deinit, sync: nothing to do

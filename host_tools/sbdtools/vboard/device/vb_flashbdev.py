# Virtual board: ESP32's frozen `flashbdev` (micropython 1c3c201
# ports/esp32/modules/flashbdev.py): `bdev` is the filesystem partition,
# "vfs" (MicroPython's tables) or "ffat" with 512-byte blocks (TinyUF2's),
# else None.
from esp32 import Partition

bdev = Partition.find(Partition.TYPE_DATA, label="vfs")
if not bdev:
    bdev = Partition.find(Partition.TYPE_DATA, label="ffat", block_size=512)
bdev = bdev[0] if bdev else None

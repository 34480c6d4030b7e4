# Virtual board: ESP32's frozen `inisetup` (micropython 1c3c201
# ports/esp32/modules/inisetup.py), run by _boot.py when the filesystem does
# not mount: it formats only when block 0 of the partition is erased (a
# fresh board); otherwise the filesystem is corrupt and the board stops in a
# loop that prints a warning every 3 s, leaving the data as it is.
import vfs
from flashbdev import bdev

_BOOT_PY = """\
# boot.py: run on every boot (including wake from deep sleep).
# Written by the initial setup when the filesystem was created.
"""


def check_bootsec():
    buf = bytearray(bdev.ioctl(5, 0))
    bdev.readblocks(0, buf)
    for b in buf:
        if b != 0xFF:
            fs_corrupted()
    return True


def fs_corrupted():
    import time

    import micropython

    import vboard

    vboard._halted()
    micropython.kbd_intr(3)
    while 1:
        print(
            "The filesystem appears to be corrupted: it was left as it is, and the board stops here.\n"
            "Save a flash dump to recover the data, or erase the flash and program the firmware again.\n"
        )
        time.sleep(3)


def setup():
    check_bootsec()
    print("Performing initial setup")
    if bdev.info()[4] == "vfs":
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    else:
        vfs.VfsFat.mkfs(bdev)
        fs = vfs.VfsFat(bdev)
    vfs.mount(fs, "/")
    with open("boot.py", "w") as f:
        f.write(_BOOT_PY)
    return fs

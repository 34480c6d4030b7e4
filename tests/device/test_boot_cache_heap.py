# The boot stage with its cached check in the smallest heap budget, 64 KiB
# (64-bit unix port, the SDK as .mpy): a full check that writes the key and
# the record, then a cached boot (sbd.crypto.hmac imported on that path).
# One test, so nothing runs before it in this process but the runner.
# sbd-device: heapsize=64K timeout=120
import binascii
import gc
import hashlib

from dtest import eq, scratch_path
from sbd import _fs, boot


def test_full_and_cached_boot_in_64k():
    _fs.STATE_DIR = scratch_path("bootheap-state")
    boot.APP_DIR = scratch_path("bootheap-app")
    d = boot.slot_dir("a")
    _fs.makedirs(d + "/lib")
    lines = []
    for i in range(12):
        rel = "app.py" if i == 0 else "lib/part%d.mpy" % i
        data = bytes([i]) * 4096
        with open(d + "/" + rel, "wb") as f:
            f.write(data)
        lines.append("%d %s %s\n" % (len(data), binascii.hexlify(hashlib.sha256(data).digest()).decode(), rel))
    with open(boot.path("a.manifest"), "w") as f:
        f.write("".join(lines))
    data = lines = None
    boot.write_pointer(
        {"slot": "a", "release": 1, "version": "1.0", "rfloor": 0, "trial": 0, "confirmed": True, "floor": 0,
         "prev": None, "failed": 0}
    )  # fmt: skip
    gc.collect()
    eq((boot.select(), boot.checked), (d, "full"))
    gc.collect()
    eq((boot.select(), boot.checked), (d, "cache"))

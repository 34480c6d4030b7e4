"""The emulated flash: NOR semantics, torn operations, no allocation."""

from __future__ import annotations

import pytest
from conftest import run_ok

from sbdtools.vboard import runner

SCRATCH = 0x40000  # inside the Pico W firmware area: free for these tests


def test_program_only_clears_bits_and_erase_sets_them(make_board) -> None:
    vb = make_board("pico_w")
    res = run_ok(
        vb,
        f"""
import vboard
f = vboard._flash
b = bytearray(4)
f.erase({SCRATCH}, 4096)
f.read({SCRATCH}, b); print('ERASED', b.hex())
f.program({SCRATCH}, b'\\xf0\\xf0\\xff\\xff')
f.program({SCRATCH}, b'\\x0f\\xff\\x0f\\xff')
f.read({SCRATCH}, b); print('PROGRAMMED', b.hex())
f.erase({SCRATCH}, 4096)
f.read({SCRATCH}, b); print('REERASED', b.hex())
""",
    )
    assert "ERASED ffffffff" in res.output
    assert "PROGRAMMED 00f00fff" in res.output
    assert "REERASED ffffffff" in res.output


def test_out_of_range_and_misaligned_operations_fail(make_board) -> None:
    vb = make_board("pico_w")
    res = run_ok(
        vb,
        """
import vboard
f = vboard._flash
for op in (lambda: f.erase(100, 4096), lambda: f.program(f.size - 2, b'abcd'), lambda: f.read(-1, bytearray(1))):
    try:
        op(); print('NOERROR')
    except OSError as e:
        print('OSERROR', e.args[0])
""",
    )
    assert res.output.count("OSERROR 22") == 3


def test_flash_and_littlefs_work_with_the_heap_locked(make_board) -> None:
    # littlefs calls the block device with the heap locked (e.g. when the GC
    # finaliser closes a file that was never closed): the flash must not allocate.
    vb = make_board("pico_w")
    res = run_ok(
        vb,
        f"""
import gc, micropython, vboard
f = vboard._flash
buf = bytearray(256)
data = bytes(range(256))
f.erase({SCRATCH}, 4096)
ok = False
micropython.heap_lock()
try:
    f.read({SCRATCH}, buf)
    f.program({SCRATCH}, data)
    f.erase({SCRATCH}, 4096)
    ok = True
finally:
    micropython.heap_unlock()
print('LOCKED-OK', ok)
open('leak.txt', 'w').write('closed by the finaliser')
gc.collect()
print(open('leak.txt').read())
""",
    )
    assert "LOCKED-OK True" in res.output
    assert "closed by the finaliser" in res.output


def test_a_cut_tears_the_operation_and_stops_everything(make_board) -> None:
    vb = make_board("pico_w")
    run_ok(vb, "pass")  # first boot formats the filesystem
    res = run_ok(vb, "import vboard; print('OPS', vboard.flash_ops())")
    start = int(res.output.split("OPS")[1].split()[0])
    script = f"""
import vboard
f = vboard._flash
f.erase({SCRATCH}, 4096)
f.program({SCRATCH}, bytes(256))
print('AFTER-CUT')
"""
    cut = runner.boot(vb, script=script, cut_at=start + 2)
    assert cut.ended == runner.POWER_CUT
    assert "AFTER-CUT" not in cut.output
    image = vb.image.read_bytes()
    # The torn program reached the first half of the page only.
    assert image[SCRATCH : SCRATCH + 128] == bytes(128)
    assert image[SCRATCH + 128 : SCRATCH + 256] == b"\xff" * 128


def test_a_torn_erase_leaves_half_a_sector(make_board) -> None:
    vb = make_board("pico_w")
    run_ok(vb, f"import vboard\nf = vboard._flash\nf.erase({SCRATCH}, 4096)\nf.program({SCRATCH}, bytes(4096))")
    res = run_ok(vb, "import vboard; print('OPS', vboard.flash_ops())")
    start = int(res.output.split("OPS")[1].split()[0])
    cut = runner.boot(vb, script=f"import vboard\nvboard._flash.erase({SCRATCH}, 4096)", cut_at=start + 1)
    assert cut.ended == runner.POWER_CUT
    image = vb.image.read_bytes()
    assert image[SCRATCH : SCRATCH + 2048] == b"\xff" * 2048
    assert image[SCRATCH + 2048 : SCRATCH + 4096] == bytes(2048)


@pytest.mark.parametrize(("board", "bdev"), [("esp32", "esp32.Partition('ota_1')"), ("pico_w", "rp2.Flash()")])
def test_the_ports_block_devices_work_with_the_heap_locked(make_board, board: str, bdev: str) -> None:
    # littlefs mounts these (flashbdev.bdev on ESP32, rp2.Flash() on rp2), so the same rule holds.
    vb = make_board(board)
    last = 383 if board == "esp32" else 211  # a block at the end, away from the filesystem's first blocks
    res = run_ok(
        vb,
        f"""
import micropython, {bdev.split(".")[0]}
d = {bdev}
buf = bytearray(256)
data = bytes(range(256))
ok = False
micropython.heap_lock()
try:
    d.ioctl(6, {last})
    d.writeblocks({last}, data, 256)
    d.readblocks({last}, buf, 256)
    n = d.ioctl(4, 0) + d.ioctl(5, 0)
    ok = True
finally:
    micropython.heap_unlock()
print('LOCKED-OK', ok, buf == data)
""",
    )
    assert "LOCKED-OK True True" in res.output

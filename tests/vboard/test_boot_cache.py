"""sbd.boot's cached boot check on a virtual Pico W (littlefs, which keeps
each file's mtime): the second boot of a confirmed release takes the cached
path, a same-size edit made through the filesystem is a full check that
catches it, every power cut in the boot that writes the cache record leaves
a board that boots a checked slot, and files with no mtime (put there by an
image builder) are checked in full on every boot."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from ota_repo import CONFIRMED_POINTER as POINTER

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools.vboard import runner

FILES = {"app.py": b"print('APP', 1)\n", "lib/util.py": b"X = 1\n" * 40}


def _manifest() -> str:
    return "".join(f"{len(d)} {hashlib.sha256(d).hexdigest()} {p}\n" for p, d in FILES.items())


# Writes the slot on the board itself (files get littlefs mtimes).
SLOT = f"""
from sbd import _fs, boot
d = boot.slot_dir('a')
_fs.makedirs(d + '/lib')
for rel, data in {FILES!r}.items():
    with open(d + '/' + rel, 'wb') as f:
        f.write(data)
with open(boot.path('a.manifest'), 'w') as f:
    f.write({_manifest()!r})
boot.write_pointer({POINTER!r})
print('SLOT WRITTEN')
"""

# main.py of a board: the boot stage, then the app of the slot it chose.
MAIN = """
from sbd import boot
print('SLOT', boot.run('app'))
print('CHECK', boot.checked)
"""

INSPECT = MAIN + "print('VERIFIED', boot.check_slot('a'))\n"

EDIT = """
import time
t = int(time.time())
while int(time.time()) == t:
    time.sleep(0.05)
with open('/.sbd/app/a/app.py', 'wb') as f:
    f.write(b"print('APP', 9)\\n")  # the same length
"""


STATE = """
import os
try:
    print('STATE', sorted(os.listdir('/.sbd/state')))
except OSError:
    print('STATE', [])
"""


def _line(out: str, key: str) -> str:
    return next(ln for ln in out.splitlines() if ln.startswith(key + " "))


def _board(make_sdk_board: Callable[..., SdkBoard]) -> SdkBoard:
    board = make_sdk_board("pico_w")
    assert "SLOT WRITTEN" in board.exec(SLOT).output
    return board


def test_the_second_boot_is_cached_and_an_edit_is_caught(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = _board(make_sdk_board)
    first = board.exec(MAIN).output
    assert "APP 1" in first and _line(first, "CHECK") == "CHECK full", first
    second = board.exec(MAIN).output
    assert "APP 1" in second and _line(second, "CHECK") == "CHECK cache", second
    board.exec(EDIT)
    third = board.exec(MAIN).output
    assert "APP" not in third, third
    assert (_line(third, "SLOT"), _line(third, "CHECK")) == ("SLOT None", "CHECK full"), third


def test_every_cut_in_the_boot_that_first_writes_the_record_boots_a_checked_slot(
    make_sdk_board: Callable[..., SdkBoard],
) -> None:
    board = _board(make_sdk_board)
    seen: set[str] = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        out = res.output
        assert "APP 1" in out and _line(out, "SLOT") == "SLOT /.sbd/app/a", out
        assert _line(out, "VERIFIED") == "VERIFIED True", out
        seen.add(_line(out, "CHECK"))
        # And the boot after that, cached or not, runs the same checked app.
        again = b.exec(MAIN).output
        assert "APP 1" in again and _line(again, "CHECK") in ("CHECK full", "CHECK cache"), again

    sweep = power_cut_sweep(board, MAIN, check, inspect=INSPECT)
    assert len(sweep.cuts) >= 4, sweep
    assert seen == {"CHECK full", "CHECK cache"}, seen


def test_files_without_an_mtime_are_checked_in_full_every_boot(make_sdk_board: Callable[..., SdkBoard]) -> None:
    # The host's image builder stores no mtime: littlefs then reports 0.
    files: dict[str, str | bytes] = {f".sbd/app/a/{p}": d for p, d in FILES.items()}
    files[".sbd/app/a.manifest"] = _manifest()
    files[".sbd/app/pointer"] = json.dumps(POINTER)
    board = make_sdk_board("pico_w", files=files)
    for _ in range(2):
        out = board.exec(MAIN + STATE).output
        assert "APP 1" in out and _line(out, "CHECK") == "CHECK full", out
        assert _line(out, "STATE") == "STATE []", out


def _checked_after_every_cut(seen: set[str]) -> Callable[[SdkBoard, runner.BootResult], None]:
    def check(b: SdkBoard, res: runner.BootResult) -> None:
        out = res.output
        assert "APP 1" in out and _line(out, "SLOT") == "SLOT /.sbd/app/a", out
        assert _line(out, "VERIFIED") == "VERIFIED True", out
        seen.add(_line(out, "CHECK"))

    return check


def test_every_cut_in_a_cached_boot_and_in_the_periodic_full_check_boots_a_checked_slot(
    make_sdk_board: Callable[..., SdkBoard],
) -> None:
    board = _board(make_sdk_board)
    assert _line(board.exec(MAIN).output, "CHECK") == "CHECK full"
    # A cached boot writes the record back with its count one lower.
    seen: set[str] = set()
    sweep = power_cut_sweep(board, MAIN, _checked_after_every_cut(seen), inspect=INSPECT)
    assert len(sweep.cuts) >= 2 and seen == {"CHECK cache"}, (sweep, seen)
    # The boot whose count ran out: a full check and a fresh record.
    left = MAIN + "print('LEFT', open('/.sbd/state/boot.cache', 'rb').read().split(b' ')[2])\n"
    for _ in range(16):
        res = board.exec(left).output
        if _line(res, "LEFT") == "LEFT b'0'":
            break
    else:
        raise AssertionError("the count never reached 0")
    assert _line(res, "CHECK") == "CHECK cache", res
    seen = set()
    sweep = power_cut_sweep(board, MAIN, _checked_after_every_cut(seen), inspect=INSPECT)
    # Cut before the fresh record is on flash: the next boot checks in full again.
    assert len(sweep.cuts) >= 2 and seen == {"CHECK full", "CHECK cache"}, (sweep, seen)

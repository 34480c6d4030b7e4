"""Power cuts: deterministic at every flash operation, and random kills.

The littlefs/MCUboot method: run an operation once to count its flash
program/erase operations, then for each of them start again from the same
image, cut power there, boot again and check the invariants: the filesystem
mounts without being reformatted, and every file holds either its old or its
new content, never a mix.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading

import pytest
from conftest import board_processes, run_ok

from sbdtools.vboard import runner

OLD = {"a.txt": "old-A " * 300, "b.txt": "old-B " * 40, "cfg.json": '{"v": 1}'}
NEW = {"a.txt": "new-A " * 350, "b.txt": "new-B " * 10, "cfg.json": '{"v": 2}', "c.txt": "new-C " * 100}

WRITE_NEW = f"""
import os, vboard
print('OPS-START', vboard.flash_ops())
NEW = {NEW!r}
for name in ('a.txt', 'b.txt', 'c.txt'):
    with open(name, 'w') as f:
        f.write(NEW[name])
# the safe-replace pattern for a config: write a temp file, then rename over
with open('cfg.tmp', 'w') as f:
    f.write(NEW['cfg.json'])
os.rename('cfg.tmp', 'cfg.json')
print('OPS-END', vboard.flash_ops())
"""

CHECK = """
import os
for name in ('a.txt', 'b.txt', 'c.txt', 'cfg.json'):
    try:
        with open(name) as f:
            print('FILE', name, f.read())
    except OSError:
        print('FILE', name, '<missing>')
print('LS', sorted(os.listdir('/')))
"""


def _files(output: str) -> dict[str, str]:
    out = {}
    for line in output.splitlines():
        if line.startswith("FILE "):
            _, name, content = line.split(" ", 2)
            out[name] = content
    return out


def _check(output: str) -> None:
    files = _files(output)
    for name in ("a.txt", "b.txt", "cfg.json"):
        assert files[name] in (OLD[name], NEW[name]), f"{name} is neither old nor new: {files[name][:60]!r}"
    # A new file: littlefs commits its (empty) directory entry when open('w')
    # creates it, before any data; so absent, empty or complete, never partial.
    assert files["c.txt"] in ("<missing>", "", NEW["c.txt"]), f"c.txt half-written: {files['c.txt'][:60]!r}"


@pytest.mark.parametrize("board", ["pico_w", "esp32"])
def test_cut_at_every_flash_operation_of_a_file_update(make_board, board: str) -> None:
    vb = make_board(board)
    run_ok(vb, "".join(f"with open({k!r}, 'w') as f:\n f.write({v!r})\n" for k, v in OLD.items()))
    before = vb.image.with_suffix(".before")
    shutil.copyfile(vb.image, before)

    counted = run_ok(vb, WRITE_NEW)
    start = int(counted.output.split("OPS-START")[1].split()[0])
    end = int(counted.output.split("OPS-END")[1].split()[0])
    assert end - start >= 10, "the update should take many flash operations"
    _check(run_ok(vb, CHECK).output)

    seen_old = seen_new = 0
    for cut in range(start + 1, end + 1):
        shutil.copyfile(before, vb.image)
        res = runner.boot(vb, script=WRITE_NEW, cut_at=cut)
        assert res.ended == runner.POWER_CUT, f"no cut at operation {cut}: {res.ended}"
        after = run_ok(vb, CHECK)
        assert not after.formatted, f"cut at operation {cut} left a filesystem that does not mount"
        _check(after.output)
        files = _files(after.output)
        seen_old += files["a.txt"] == OLD["a.txt"]
        seen_new += files["a.txt"] == NEW["a.txt"]
    # The sweep really crossed the update: early cuts keep the old a.txt, later ones the new.
    assert seen_old and seen_new


WRITER = """
import os
gen = 0
try:
    with open('gen') as f:
        gen = int(f.read())
except (OSError, ValueError):
    pass
print('WRITING')
while True:
    gen += 1
    for name in ('x.dat', 'y.dat'):
        with open(name, 'w') as f:
            f.write('%08d:' % gen + ('%s%d' % (name, gen % 10)) * 200)
    with open('gen.tmp', 'w') as f:
        f.write(str(gen))
    os.rename('gen.tmp', 'gen')
"""

VERIFY = """
for name in ('x.dat', 'y.dat'):
    try:
        with open(name) as f:
            d = f.read()
    except OSError:
        print('ABSENT', name)
        continue
    g = int(d[:8])
    ok = d == '%08d:' % g + ('%s%d' % (name, g % 10)) * 200
    print('CONSISTENT' if ok else 'TORN', name, g)
"""


def test_random_kills_during_writes_never_corrupt(make_board) -> None:
    # Kill the board's process from outside at random instants (a power cut
    # the board cannot see coming), many times over.  Each kill lands a
    # random time after the writer says it has started writing, so no kill
    # can fall before the writes however slow the machine is.
    vb = make_board("pico_w")
    run_ok(vb, "pass")
    rng = random.Random(20261125)
    cuts = 0
    for _ in range(25):
        delay = rng.uniform(0.0, 0.15)

        def kill_later(chunk: bytes, delay: float = delay) -> None:
            if b"WRITING" in chunk:
                threading.Timer(delay, lambda: [os.kill(p, signal.SIGKILL) for p in board_processes(vb)]).start()

        res = runner.boot(vb, script=WRITER, timeout=120, on_output=kill_later)
        assert res.ended == runner.POWER_CUT, res.output  # the writer never ends by itself: we killed it
        cuts += 1
        check = run_ok(vb, VERIFY)
        assert not check.formatted, "a kill left a filesystem that does not mount"
        assert "TORN" not in check.output, check.output
    assert cuts == 25
    final = run_ok(vb, "print('GEN', open('gen').read())")
    assert int(final.output.split("GEN")[1].split()[0]) > 0, "the writer made progress between kills"

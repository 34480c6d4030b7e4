"""Stray files in an app slot on a virtual Pico W (review finding 2): a
staging note that survived a power cut between the pointer commit and its
removal never lets a reinstall keep what was written into the slot, and a
resumed install that deletes strays is safe to cut at every flash write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ota_repo import board_with_release_1

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools.vboard import runner

APP = {1: b"M\x06print('release 1')\n", 2: b"M\x06print('release 2')\n"}
SLOT_FILES = ["app.mpy", "lib/", "lib/util.mpy"]

INSTALL = """
from sbd.ota import client, release, slots
root = open('/repo/root.json', 'rb').read()
t = client.refresh(client.DirFetcher('/repo/metadata'), '2026-11-30T00:00:00Z', root)
root = None
slots.install(t, release.release(t, 'acme-sensor', 'pico_w', 2), client.DirFetcher('/repo/targets'))
print('INSTALLED 2')
"""

COUNT = "import vboard\nprint('OPS', vboard.flash_ops())\n" + INSTALL + "print('OPS', vboard.flash_ops())\n"

# Pointer release, whether a staging note is there, and slot b's files.
STATE = """
import os
from sbd import boot
def tree(d, rel=''):
    out = []
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        if os.stat(d + '/' + n)[0] & 0x4000:
            out.append(rel + n + '/')
            out += tree(d + '/' + n, rel + n + '/')
        else:
            out.append(rel + n)
    return out
p = boot.read_pointer()
try:
    os.stat('/.sbd/app/staging')
    staged = 1
except OSError:
    staged = 0
print('STATE', p['release'] if p else None, staged, ','.join(sorted(tree('/.sbd/app/b'))))
"""

# A boot: the release that boots and its app file, then STATE.
INSPECT = (
    """
from sbd import boot
d = boot.select()
p = boot.read_pointer()
print('BOOTS', p['release'] if p else None, repr(open(d + '/app.mpy', 'rb').read() if d else b''))
"""
    + STATE
)

STRAYS = """
import os
for d in ('/.sbd/app/b/lib', '/.sbd/app/b/pkg'):
    try:
        os.mkdir(d)
    except OSError:
        pass
for p in ('/.sbd/app/b/evil.py', '/.sbd/app/b/lib/evil.mpy', '/.sbd/app/b/pkg/__init__.py'):
    with open(p, 'w') as f:
        f.write("print('not signed')\\n")
os.mkdir('/.sbd/app/b/ns')
"""


def _line(res: runner.BootResult, tag: str) -> list[str]:
    line: str = next(ln for ln in res.output.splitlines() if ln.startswith(tag + " "))
    return line.split(" ")[1:]


def _state(res: runner.BootResult) -> tuple[int | None, bool, list[str]]:
    rel, staged, files = _line(res, "STATE")
    return (None if rel == "None" else int(rel)), staged == "1", [f for f in files.split(",") if f]


def _boots(res: runner.BootResult) -> tuple[int, bytes]:
    rel, app = _line(res, "BOOTS")[0], " ".join(_line(res, "BOOTS")[1:])
    return int(rel), eval(app)


def _board(make_sdk_board: Callable[..., SdkBoard]) -> tuple[SdkBoard, Path, int]:
    """A board with release 1 confirmed (its snapshot) and the number of
    flash writes an install of release 2 makes."""
    board = board_with_release_1(make_sdk_board)
    start = board.snapshot("confirmed-1")
    ops = [int(ln.split()[1]) for ln in board.exec(COUNT, timeout=300).output.splitlines() if ln.startswith("OPS ")]
    board.restore(start)
    return board, start, ops[1] - ops[0]


def _cut_install(board: SdkBoard, start: Path, n: int) -> tuple[int | None, bool, list[str]]:
    board.restore(start)
    board.boot("import vboard\nvboard.cut_after(%d)\n" % n + INSTALL, timeout=300)
    return _state(board.exec(STATE, timeout=300))


# The install of release 2, keeping a copy of its staging note; then the
# note put back as a power cut between the pointer commit and the note's
# removal would leave it.  (On the virtual Pico W's littlefs both land in
# one flash write, so no cut falls between them; other filesystems differ.)
INSTALL_NOTE_SURVIVES = INSTALL.replace(
    "client.DirFetcher('/repo/targets'))",
    """Keep())
with open('/.sbd/app/staging', 'wb') as f:
    f.write(note[0])""",
).replace(
    "root = None",
    """root = None
note = [None]
class Keep:
    f = client.DirFetcher('/repo/targets')
    def open(self, name, offset=0):
        with open('/.sbd/app/staging', 'rb') as g:
            note[0] = g.read()
        return self.f.open(name, offset)""",
)


def test_a_note_that_survived_the_commit_never_keeps_app_files(
    make_sdk_board: Callable[..., SdkBoard],
) -> None:
    board, _, _ = _board(make_sdk_board)
    assert "INSTALLED 2" in board.exec(INSTALL_NOTE_SURVIVES, timeout=300).output
    assert _state(board.exec(STATE, timeout=300)) == (2, True, SLOT_FILES)
    # Release 2 boots on trial; something writes a module into its slot.
    res = board.exec(INSPECT, timeout=300)
    assert _boots(res) == (2, APP[2]), res.output
    board.exec(STRAYS, timeout=300)
    # The boot check refuses the slot: back to release 1.
    res = board.exec(INSPECT, timeout=300)
    assert _boots(res) == (1, APP[1]), res.output
    # The release that fell back is never installed again (sbd.boot remembers
    # it as failed): its slot, with the app's file in it, never boots.
    res = board.boot(INSTALL, timeout=300)
    assert "INSTALLED 2" not in res.output and "failed release 2" in res.output, res.output
    res = board.exec(INSPECT, timeout=300)
    assert _boots(res) == (1, APP[1]), res.output


def test_power_cut_at_every_write_of_a_resume_that_deletes_strays(
    make_sdk_board: Callable[..., SdkBoard],
) -> None:
    board, start, total = _board(make_sdk_board)
    # An install cut short with some of release 2 in slot b and its note,
    # then files release 2 does not list written into the slot.
    for n in range(total // 2, 0, -1):
        rel, staged, files = _cut_install(board, start, n)
        if rel == 1 and staged and "app.mpy" in files:
            break
    else:
        raise AssertionError("no cut left a partial install")
    board.exec(STRAYS, timeout=300)
    assert "evil.py" in _state(board.exec(STATE, timeout=300))[2]
    seen: set[int] = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        rel, app = _boots(res)
        assert app == APP[rel], res.output
        _, _, files = _state(res)
        if rel == 2:
            assert files == SLOT_FILES, f"release 2 boots with strays in its slot: {res.output}"
        seen.add(rel)

    sweep = power_cut_sweep(board, INSTALL, check, inspect=INSPECT, timeout=300)
    assert seen == {1, 2}, "the sweep crossed the commit point"
    assert sweep.ops >= 4
    print(f"resume with strays: {sweep.ops} cut points")

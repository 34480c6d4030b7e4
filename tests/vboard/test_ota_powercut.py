"""Power cut at every flash write of an app update on a virtual Pico W: after
each cut the board boots release 1 or release 2, whole, never a mix and
never nothing; and a rollback of an unconfirmed release likewise."""

from __future__ import annotations

from collections.abc import Callable

from ota_repo import board_with_release_1, install_script, valid_updates_files

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools.vboard import runner

APP = {1: b"M\x06print('release 1')\n", 2: b"M\x06print('release 2')\n"}

INSTALL = install_script(2)

INSPECT = """
from sbd import boot
d = boot.select()
p = boot.read_pointer()
app = open(d + '/app.mpy', 'rb').read() if d else b''
util = open(d + '/lib/util.mpy', 'rb').read() if d else b''
print('BOOTS', p['release'] if p else None, p['confirmed'] if p else None, repr(app), len(util))
"""


def _boots(res: runner.BootResult) -> tuple[int, bool, bytes, int]:
    line = next(ln for ln in res.output.splitlines() if ln.startswith("BOOTS "))
    _, rel, confirmed, rest = line.split(" ", 3)
    app_repr, util_len = rest.rsplit(" ", 1)
    return int(rel), confirmed == "True", eval(app_repr), int(util_len)


def test_power_cut_at_every_write_of_an_install(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = board_with_release_1(make_sdk_board)
    seen: set[int] = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        rel, confirmed, app, util_len = _boots(res)
        assert rel in (1, 2), res.output
        assert app == APP[rel], f"release {rel} boots another release's file: {res.output}"
        assert util_len == len(b"VERSION = %d\n" % rel) + 2 + 40 * rel + 1, res.output
        assert confirmed == (rel == 1), res.output
        seen.add(rel)

    sweep = power_cut_sweep(board, INSTALL, check, inspect=INSPECT, timeout=300)
    assert seen == {1, 2}, "the sweep crossed the commit point"
    assert sweep.ops >= 10
    print(f"install: {sweep.ops} cut points")


ROLLBACK = """
from sbd import boot
for _ in range(boot.TRIAL_BOOTS + 1):
    boot.select()
"""


def test_power_cut_at_every_write_of_a_trial_and_rollback(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = board_with_release_1(make_sdk_board)
    out = board.exec(INSTALL, timeout=300).output
    assert "Traceback" not in out, out
    seen: set[int] = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        rel, _, app, _ = _boots(res)
        assert app == APP[rel], res.output
        seen.add(rel)

    sweep = power_cut_sweep(board, ROLLBACK, check, inspect=INSPECT, timeout=300)
    assert seen == {1, 2}
    assert sweep.ops >= 4  # at least a pointer write per trial boot and one for the rollback
    print(f"trial and rollback: {sweep.ops} cut points")


FIRST = install_script(1)

GIVEN_UP = """
from sbd import boot
d = boot.select()
p = boot.read_pointer()
app = open(d + '/app.mpy', 'rb').read() if d else b''
print('STATE', p['release'] if p else 0, p['trial'] if p else -1, boot.installed(), boot.failed(), repr(app))
"""


def test_power_cut_at_every_write_of_a_first_release_given_up(make_sdk_board: Callable[..., SdkBoard]) -> None:
    # The first release never confirms and has nothing to roll back to: the
    # pointer goes from "release 1 on trial" to "no release, 1 failed" in
    # one write_atomic.  After every cut the board is in one state or the
    # other, never a half-written pointer (that would read as no pointer at
    # all and forget the failed release).
    board = make_sdk_board(files=valid_updates_files())
    out = board.exec(FIRST, timeout=300).output
    assert "Traceback" not in out, out
    seen: set[str] = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        line = next(ln for ln in res.output.splitlines() if ln.startswith("STATE "))
        if line.startswith("STATE 1 "):  # still on trial (this inspection used a trial boot)
            assert f"(1, 0) 0 {APP[1]!r}" in line, res.output
            seen.add("trial")
        else:
            assert line == "STATE 0 -1 (0, 0) 1 b''", res.output
            seen.add("given up")

    sweep = power_cut_sweep(board, ROLLBACK, check, inspect=GIVEN_UP, timeout=300)
    assert seen == {"trial", "given up"}, seen
    assert sweep.ops >= 4
    print(f"first release given up: {sweep.ops} cut points")
    # Whatever the last cut left, the board then takes release 2 (and never 1).
    board.exec(ROLLBACK)
    out = board.exec(INSTALL + "print('INSTALLED')\n", timeout=300).output
    assert "INSTALLED" in out, out
    assert "STATE 2 2 (2, 0) 1 " + repr(APP[2]) in board.exec(GIVEN_UP).output

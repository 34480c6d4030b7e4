"""sbd.identity and sbd.auth on virtual boards: the real unique id, real
reboots (new processes), and a power cut at every flash write of the
password paths (count first, then check: no cut ever gives a free try)."""

from __future__ import annotations

import pytest

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools.vboard import runner

PASSWORD = "Q4mz-Hr7k-Wd9p-Lx3t"
ITER = 1000


STATE = """
from sbd import auth, events
seen = []
events.subscribe(lambda n, f: seen.append(n))
print('FAILURES', auth.failures(), 'WAIT', auth.wait_ms(), 'TAMPER', 'auth.tamper' in seen)
"""


def _provisioned(board: SdkBoard) -> SdkBoard:
    board.provision(PASSWORD, iterations=ITER)
    return board


def _state(res: runner.BootResult) -> tuple[int, int, bool]:
    line = next(ln for ln in res.output.splitlines() if ln.startswith("FAILURES "))
    _, failures, _, wait, _, tamper = line.split()
    return int(failures), int(wait), tamper == "True"


@pytest.mark.parametrize("sdk_board", ["pico_w", "esp32"], indirect=True)
def test_provision_then_check_on_the_board(sdk_board: SdkBoard) -> None:
    board = _provisioned(sdk_board)
    out = board.exec(
        "import sbd\nfrom sbd import auth, identity, board\n"
        "print('SDK FROM', sbd.__file__)\n"
        "i = identity.load()\n"
        "print('BOUND', i.uid == board.unique_id(), board.FAMILY)\n"
        f"print('CHECK', auth.check({PASSWORD!r}), auth.check('nope'))\n"
    ).output
    family = "rp2" if sdk_board.vb.board.family == "rp2" else "esp32"
    assert "SDK FROM /lib/sbd/__init__.mpy" in out, "the SDK still imports from /lib after provisioning"
    assert f"BOUND True {family}" in out, out
    assert "CHECK True False" in out, out


def test_not_provisioned_board_refuses_with_a_reason(sdk_board: SdkBoard) -> None:
    out = sdk_board.boot("from sbd import auth\nauth.check('x')").output
    assert "NotProvisioned" in out and "sbd provision" in out, out


def test_record_copied_to_another_board_is_refused(make_sdk_board) -> None:  # type: ignore[no-untyped-def]
    a = _provisioned(make_sdk_board(name="a"))
    b = make_sdk_board(name="b")
    dump = a.exec(
        "import binascii\nprint('REC', binascii.hexlify(open('/.sbd/factory/identity.bin','rb').read()).decode())"
    )
    rec = next(ln for ln in dump.output.splitlines() if ln.startswith("REC "))[4:]
    out = b.boot(
        "import os, binascii\n"
        "for d in ('/.sbd', '/.sbd/factory'):\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n"
        f"with open('/.sbd/factory/identity.bin', 'wb') as f:\n f.write(binascii.unhexlify({rec!r}))\n"
        "from sbd import identity\nidentity.load()\n"
    ).output
    assert "WrongBoard" in out and "another board" in out, out


def test_back_off_survives_a_reboot(sdk_board: SdkBoard) -> None:
    board = _provisioned(sdk_board)
    board.exec("from sbd import auth\nfor i in range(4):\n try:\n  auth.check('bad')\n except auth.Locked:\n  pass\n")
    failures, wait, tamper = _state(board.exec(STATE))
    assert failures == 3 and wait == 1000 and not tamper  # the 4th try was refused while locked
    out = board.boot(f"from sbd import auth\nauth.check({PASSWORD!r})").output
    assert "Locked" in out, "a reboot does not clear the back-off"


def test_the_counter_is_on_flash_before_the_check_starts(sdk_board: SdkBoard) -> None:
    # Count first, then check: when the password comparison starts, every
    # flash write of the failure path has already happened.
    board = _provisioned(sdk_board)
    out = board.exec(
        "import vboard\nfrom sbd import auth\n"
        "real = auth._verifier\n"
        "def spy(state):\n print('AT-CHECK', vboard.flash_ops())\n return real(state)\n"
        "auth._verifier = spy\n"
        "before = vboard.flash_ops()\nauth.check('bad')\nprint('DONE', before, vboard.flash_ops())\n"
    ).output
    at_check = int(out.split("AT-CHECK")[1].split()[0])
    before, after = (int(x) for x in out.split("DONE")[1].split()[:2])
    assert before < at_check == after, out


def test_power_cut_anywhere_in_a_failed_check_never_gives_a_free_try(sdk_board: SdkBoard) -> None:
    board = _provisioned(sdk_board)
    board.exec("from sbd import auth\nauth.check('bad')\nauth.check('bad')")  # 2 failures so far

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        failures, _, tamper = _state(res)
        assert not tamper, res.output
        assert failures in (2, 3), res.output

    sweep = power_cut_sweep(board, "from sbd import auth\nauth.check('bad')", check, inspect=STATE)
    assert sweep.ops >= 2


def test_power_cut_anywhere_in_a_password_change(sdk_board: SdkBoard) -> None:
    # Old or new password, exactly one of them, after a cut at any write.
    board = _provisioned(sdk_board)
    new = "brand-New-pass-42"
    probe = f"from sbd import auth\nprint('OLD', auth.check({PASSWORD!r}))\nprint('NEW', auth.check({new!r}))\n"
    seen = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        _, _, tamper = _state(res)
        assert not tamper, res.output
        out = b.exec(probe).output
        old_ok, new_ok = "OLD True" in out, "NEW True" in out
        assert old_ok != new_ok, out
        seen.add("new" if new_ok else "old")

    power_cut_sweep(board, f"from sbd import auth\nauth.change({PASSWORD!r}, {new!r})", check, inspect=STATE)
    assert seen == {"old", "new"}, "the sweep crossed the commit point"

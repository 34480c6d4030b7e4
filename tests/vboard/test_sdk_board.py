"""The SDK on a virtual board (harness/vboards.py): the `sdk_board` fixtures
and the power-cut sweep helper, used on SDK code running on the board."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools import sdkpkg
from sbdtools.vboard import runner

LIST_LIB = """
import os
def walk(d):
    for name, kind, *_ in os.ilistdir(d):
        p = d + '/' + name
        if kind == 0x4000:
            walk(p)
        else:
            print('FILE', p)
walk('/lib')
"""


def _lib_files(board: SdkBoard) -> list[str]:
    out = board.exec(LIST_LIB).output
    return sorted(line.split()[1] for line in out.splitlines() if line.startswith("FILE "))


@pytest.mark.parametrize("sdk_board", ["pico_w", "esp32"], indirect=True)
def test_the_sdk_is_on_the_board_as_mpy_and_imports(sdk_board: SdkBoard) -> None:
    want = sorted(f"/lib/{f[:-3]}.mpy" for f in sdkpkg.files_for(c.name for c in sdkpkg.CAPABILITIES))
    assert _lib_files(sdk_board) == want
    res = sdk_board.exec(
        "import sbd\nfrom sbd.crypto import aead, ed25519\nfrom sbd import validate\n"
        "print('SDK', sbd.__version__, aead.__file__)"
    )
    assert f"SDK {sdkpkg.__version__} /lib/sbd/crypto/aead.mpy" in res.output, res.output


def test_each_board_is_a_fresh_copy_of_one_image(make_sdk_board) -> None:  # type: ignore[no-untyped-def]
    a = make_sdk_board(name="a")
    b = make_sdk_board(name="b")
    assert a.image == b.image and a.flash != b.flash
    a.exec("with open('mark', 'w') as f:\n f.write('a')")
    assert "NO-MARK" in b.exec("import os\nprint('MARK' if 'mark' in os.listdir() else 'NO-MARK')").output
    assert a.image.read_bytes() == b.flash.read_bytes(), "a test's writes never reach the shared image"


def test_images_are_built_per_content(sdk_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mod = tmp_path / "extra.py"
    mod.write_text("X = 1\n")
    whole = sdk_image("pico_w")
    assert sdk_image("pico_w") == whole
    with_mod = sdk_image("pico_w", modules=[mod])
    assert with_mod != whole
    mod.write_text("X = 2\n")
    assert sdk_image("pico_w", modules=[mod]) != with_mod, "a changed module makes a new image"
    assert sdk_image("esp32") != whole


def test_only_the_capabilities_asked_for(make_sdk_board) -> None:  # type: ignore[no-untyped-def]
    board = make_sdk_board(capabilities=["validate"])
    assert _lib_files(board) == sorted(f"/lib/{f[:-3]}.mpy" for f in sdkpkg.files_for(["validate"]))
    res = board.boot("import sbd.crypto")
    assert "ImportError" in res.output, "crypto is not on a validate-only board"


def test_own_modules_and_files(make_sdk_board, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mod = tmp_path / "greet.py"
    mod.write_text("def hello():\n    return 'hello from /lib'\n")
    board = make_sdk_board(modules=[mod], files={"cfg.json": '{"v": 1}'})
    res = board.exec("import greet\nprint(greet.__file__, greet.hello(), open('cfg.json').read())")
    assert '/lib/greet.mpy hello from /lib {"v": 1}' in res.output, res.output


# -- the sweep, on SDK code ----------------------------------------------------

KEY = bytes(range(32))
SAVE = """
from sbd.crypto import aead
import os
rec = aead.encrypt({key!r}, {text!r}, b'cfg')
with open('cfg.tmp', 'wb') as f:
    f.write(rec)
os.rename('cfg.tmp', 'cfg.rec')
"""
LOAD = f"""
from sbd.crypto import aead
with open('cfg.rec', 'rb') as f:
    print('CFG', aead.decrypt({KEY!r}, f.read(), b'cfg').decode())
"""


def test_sweep_an_encrypted_config_save(sdk_board: SdkBoard) -> None:
    # Write-temp-then-rename: after a cut anywhere, the record still decrypts
    # (its MAC holds) to the old or the new settings, never to anything else.
    old, new = "old-settings " * 20, "new-settings " * 60
    sdk_board.exec(SAVE.format(key=KEY, text=old.encode()))
    seen = set()

    def check(board: SdkBoard, res: runner.BootResult) -> None:
        line = next((ln for ln in res.output.splitlines() if ln.startswith("CFG ")), None)
        assert line is not None, res.output
        assert line[4:] in (old, new), f"neither old nor new: {line[:60]!r}"
        seen.add(line[4:])

    sweep = power_cut_sweep(sdk_board, SAVE.format(key=KEY, text=new.encode()), check, inspect=LOAD)
    assert sweep.ops >= 3 and sweep.cuts == list(range(sweep.first, sweep.last + 1))
    assert seen == {old, new}, "the sweep crossed the commit point"


def test_a_broken_invariant_is_reported_with_its_cut(sdk_board: SdkBoard) -> None:
    # Two files that must agree, written one after the other: not power-cut
    # safe (littlefs makes each file's update atomic, not the pair).
    write = "for name in ('a', 'b'):\n with open(name, 'w') as f:\n  f.write(%r)"
    sdk_board.exec(write % ("old" * 100))

    def check(board: SdkBoard, res: runner.BootResult) -> None:
        assert "SAME True" in res.output, "a and b disagree"

    with pytest.raises(
        AssertionError,
        match=r"after a power cut at flash operation \d+ \(operation \d+ of \d+"
        r".*a and b disagree",
    ):
        power_cut_sweep(
            sdk_board, write % ("new" * 100), check, inspect="print('SAME', open('a').read() == open('b').read())"
        )


def test_step_samples_and_keeps_the_last_operation(sdk_board: SdkBoard) -> None:
    op = "for i in range(6):\n with open('f%d' % i, 'w') as f:\n  f.write('x' * 600)"
    sweep = power_cut_sweep(sdk_board, op, lambda board, res: None, step=4)
    assert sweep.cuts[0] == sweep.first and sweep.cuts[-1] == sweep.last
    assert sweep.cuts[1:-1] == list(range(sweep.first + 4, sweep.last, 4))


def test_an_operation_that_writes_nothing_is_refused(sdk_board: SdkBoard) -> None:
    with pytest.raises(ValueError, match="nothing to cut"):
        power_cut_sweep(sdk_board, "x = 1", lambda board, res: None)


def test_a_replay_that_does_not_reach_the_cut_fails(sdk_board: SdkBoard) -> None:
    # An operation whose flash work differs between runs (here: it writes only
    # when no cut is planned) cannot be swept; the sweep says so.
    op = "import vboard\nif not vboard.cut_at():\n with open('f', 'w') as f:\n  f.write('x' * 600)"
    with pytest.raises(AssertionError, match="did not reach flash operation"):
        power_cut_sweep(sdk_board, op, lambda board, res: None)


def test_a_check_that_crashes_fails_at_its_cut(sdk_board: SdkBoard) -> None:
    calls = []

    def check(board: SdkBoard, res: runner.BootResult) -> None:
        calls.append(1)
        if len(calls) > 1:  # the uncut run passes; the first cut's check crashes
            int("not a number")

    with pytest.raises(AssertionError, match=r"power cut at flash operation \d+ .*the check raised ValueError"):
        power_cut_sweep(sdk_board, "with open('f', 'w') as f:\n f.write('x')", check)


def test_two_modules_with_one_name_are_refused(sdk_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "m.py").write_text("X = 1\n")
    with pytest.raises(ValueError, match="two modules named 'm'"):
        sdk_image("pico_w", modules=[tmp_path / "a" / "m.py", tmp_path / "b" / "m.py"])


def test_at_cuts_only_where_asked(sdk_board: SdkBoard) -> None:
    op = "for i in range(3):\n with open('f%d' % i, 'w') as f:\n  f.write('x' * 600)"
    sweep = power_cut_sweep(sdk_board, op, lambda board, res: None, at=[2, -1])
    assert sweep.cuts == [sweep.first + 1, sweep.last]
    with pytest.raises(ValueError, match="must list operations"):
        power_cut_sweep(sdk_board, op, lambda board, res: None, at=[10_000])

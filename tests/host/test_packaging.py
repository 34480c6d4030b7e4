"""`pip install .` alone gives a working `sbd` that can put the SDK on a board.

Builds the wheel, checks it carries the device sources, board configs,
virtual-board ROM, shims and examples, then runs the installed copy (not the
checkout) to create a virtual board and deploy the SDK and an example to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a clean copy: the rest of the suite writes __pycache__ and
    # build files into the checkout while this runs.
    src = tmp_path_factory.mktemp("src") / "sbd"
    junk = shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "*.egg-info", ".*_cache", ".hypothesis")
    shutil.copytree(REPO, src, ignore=junk)
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("sbd-*.whl")
    return whl


def test_wheel_carries_everything_a_board_needs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sdk = {str(p.relative_to(REPO / "sdk")) for p in (REPO / "sdk" / "sbd").rglob("*.py")}
    assert sdk and sdk <= names, sorted(sdk - names)
    for board in ("esp32", "esp32s3", "pico_w", "pico2_w"):
        assert f"sbdtools/board_configs/{board}.json" in names
    for f in (
        "sbdtools/vboard/device/vbrom.py",
        "sbdtools/vboard/device/vb_flash.py",
        "sbdtools/shims/mp/cryptolib.py",
        "sbdtools/examples/minimal/main.py",
        "sbdtools/py.typed",
    ):
        assert f in names, f
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sbd = sbdtools.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_copy_deploys_to_a_virtual_board(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "elsewhere"  # not the checkout: only the installed files can be found
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "SBD_HOME": str(tmp_path / "home")}

    def sbd(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-c", "from sbdtools.cli import main; main()", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout + r.stderr

    where = subprocess.run(
        [sys.executable, "-c", "import sbd, sbdtools; print(sbd.__file__, sbdtools.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(REPO) not in where and str(target) in where
    sbd("vboard", "new", "p1", "--board", "esp32")
    app = target / "sbdtools" / "examples" / "minimal"
    assert "deployed" in sbd("deploy", "--vboard", "p1", "--app", str(app))
    out = sbd("vboard", "run", "p1")
    assert "sbd 0.1.0 minimal example" in out

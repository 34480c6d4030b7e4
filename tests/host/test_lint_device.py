"""`make lint` holds device code to the MicroPython rule set in sdk/ruff.toml
(examples/ and docs/examples/ extend it): the mistakes that matter on a board
are caught, and what viper code needs is allowed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> str:
    exe = Path(sys.executable).with_name("ruff")
    return str(exe) if exe.exists() else (shutil.which("ruff") or pytest.skip("ruff not installed"))


def _check(tmp_path: Path, source: str, config: Path) -> str:
    f = tmp_path / "mod.py"
    f.write_text(source)
    r = subprocess.run(
        [_ruff(), "check", "--no-cache", "--config", str(config), "--output-format", "concise", str(f)],
        capture_output=True,
        text=True,
    )
    return r.stdout + r.stderr


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("try:\n    x = 1\nexcept:\n    pass\n", "E722"),
        ("def f(a=[]):\n    return a\n", "B006"),
        ("print(undefined_name)\n", "F821"),
        ("import os\n", "F401"),
        ("eval(input())\n", "S307"),
        ("exec('x=1')\n", "S102"),
    ],
)
def test_device_rules_catch(tmp_path: Path, source: str, rule: str) -> None:
    assert rule in _check(tmp_path, source, ROOT / "sdk" / "ruff.toml")


def test_viper_names_are_allowed(tmp_path: Path) -> None:
    src = (
        "import micropython\n\n\n@micropython.viper\ndef f(b, n: int) -> int:\n"
        "    p = ptr8(b)\n    q = ptr32(b)\n    return int(p[0]) + int(q[0]) + int(uint(n))\n"
    )
    assert "F821" not in _check(tmp_path, src, ROOT / "sdk" / "ruff.toml")


def test_examples_use_the_device_rules() -> None:
    for cfg in (ROOT / "examples" / "ruff.toml", ROOT / "docs" / "examples" / "ruff.toml"):
        assert (cfg.parent / cfg.read_text().split('extend = "', 1)[1].split('"', 1)[0]).resolve() == (
            ROOT / "sdk" / "ruff.toml"
        )


def test_make_lint_checks_format_and_everything() -> None:
    lint = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check ." in lint and "ruff format --check ." in lint and "mypy" in lint

"""Locating and driving the real MicroPython tools from tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sbdtools import mpytools

REPO = Path(__file__).resolve().parents[2]
SDK_DIR = REPO / "sdk"
RUNNER = Path(__file__).resolve().parent / "devrunner.py"


def micropython() -> str:
    return mpytools.require_tool("micropython")


def mpy_cross() -> str:
    return mpytools.require_tool("mpy-cross")


_arch_cache: dict[str, str | None] = {}


def native_arch() -> str | None:
    """The -march that makes @native/@viper code loadable by this micropython."""
    mp = micropython()
    if mp not in _arch_cache:
        _arch_cache[mp] = mpytools.interpreter_mpy(mp)[2]
    return _arch_cache[mp]


def compile_tree(src: Path, dest: Path, *, opt: int = 0) -> list[str]:
    """Compile every .py under src to .mpy under dest (same layout).

    Returns the compile errors (empty when all compiled)."""
    errors = []
    arch = native_arch()
    tool = mpy_cross()
    for py in sorted(src.rglob("*.py")):
        if "__pycache__" in py.parts:
            continue
        rel = py.relative_to(src)
        out = dest / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [tool, f"-O{opt}", "-o", str(out), "-s", str(rel)]
        if arch:
            cmd.append(f"-march={arch}")
        cmd.append(str(py))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode:
            errors.append(f"{py}: {r.stderr.strip() or r.stdout.strip()}")
    return errors


def vectors_dir() -> Path:
    env = os.environ.get("SBD_VECTORS")
    return Path(env) if env else REPO.parent / "shared" / "vectors"

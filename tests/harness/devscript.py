"""A device script run from a host test, on both runtimes.

For host tests whose device side needs something a tests/device module
cannot have (an HTTP server, a repository just made on the host): the test
builds a script (its own constants first, then the device code) and runs it
in a fresh process on the real MicroPython unix port (sdk/ compiled to .mpy
by `compile_sdk`, under the test's own `-X heapsize`) or on CPython (sdk/
and host_tools/ on PYTHONPATH, the shims installed before the script).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import tools

RUNTIMES = ("micropython", "cpython")

# What CPython runs before a script.  On both runtimes the script starts
# with sys imported (on MicroPython by the line that puts the SDK on its path).
SHIMS = "import sys\nfrom sbdtools import shims\nshims.install()\n"


def compile_sdk(dest: Path) -> Path:
    """sdk/ compiled to .mpy under dest (every module must compile); dest."""
    assert not tools.compile_tree(tools.SDK_DIR, dest)
    return dest


def command(
    runtime: str, script: str, *, heap: str | None = None, mpy: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run script on runtime; on
    MicroPython heap is its `-X heapsize` value ("160K", the test's own) and
    mpy the compiled SDK."""
    if runtime == "micropython":
        assert heap and mpy is not None, "MicroPython needs a heap size and compile_sdk's folder"
        boot = f"import sys\nsys.path.insert(0, {str(mpy)!r})\n"
        cmd = [str(Path(sys.executable).parent / "micropython"), "-X", f"heapsize={heap}", "-c", boot + script]
        return cmd, dict(os.environ)
    assert runtime == "cpython", runtime
    path = os.pathsep.join([str(tools.SDK_DIR), str(tools.REPO / "host_tools")])
    return [sys.executable, "-c", SHIMS + script], {**os.environ, "PYTHONPATH": path}


def run(runtime: str, script: str, *, heap: str | None = None, mpy: Path | None = None, timeout: float = 300) -> str:
    """Run script (see `command`); it must exit 0.  What it printed."""
    cmd, env = command(runtime, script, heap=heap, mpy=mpy)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout

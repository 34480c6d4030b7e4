"""`sbd ota serve` for a test: the real command on 127.0.0.1, on a port the
system picks, stopped when the test is done."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SBD = str(Path(sys.executable).parent / "sbd")


@contextlib.contextmanager
def sbd_ota_serve(repo: Path) -> Iterator[int]:
    """`sbd ota serve repo --port 0` running; the port it said it serves on."""
    p = subprocess.Popen([SBD, "ota", "serve", str(repo), "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", p.stdout.readline())
        assert m, "serve did not say its port"
        yield int(m.group(1))
    finally:
        p.terminate()
        p.wait(timeout=10)

"""The `sbd` command as host tests run it: with a private SBD_HOME and the
test passphrase for key files (`sbd`, `new_keys`), and `sbd ota serve` on
127.0.0.1 on a port the system picks, stopped when the test is done."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SBD = str(Path(sys.executable).parent / "sbd")
PASS = "correct horse battery"


def sbd(*args: str, tmp: Path, ok: bool = True, passphrase: str = PASS) -> subprocess.CompletedProcess[str]:
    """`sbd args` with SBD_HOME in tmp; it must succeed unless ok is False."""
    env = {**os.environ, "SBD_HOME": str(tmp / "home"), "SBD_KEY_PASSPHRASE": passphrase}
    r = subprocess.run([SBD, *args], capture_output=True, text=True, env=env, timeout=120)
    if ok:
        assert r.returncode == 0, f"sbd {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def new_keys(folder: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """`sbd keys new folder/NAME.key` for each name; the key files by name."""
    out = {}
    for name in names:
        out[name] = folder / f"{name}.key"
        sbd("keys", "new", str(out[name]), tmp=folder)
    return out


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

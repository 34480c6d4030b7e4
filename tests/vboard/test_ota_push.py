"""`sbd ota push` to a virtual Pico W: the board's own client verifies the
pushed copy (from its pinned root) and installs the release on trial; a
tampered release is refused with the running one kept; a board that trusts
no root and has no pin refuses unless the person pushing names the root."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.vboards import SdkBoard

SBD = str(Path(sys.executable).parent / "sbd")
PASS = "correct horse battery"


def sbd(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SBD_KEY_PASSPHRASE": PASS}
    r = subprocess.run([SBD, *args], capture_output=True, text=True, env=env, timeout=300)
    if ok:
        assert r.returncode == 0, f"sbd {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def _add(repo: Path, tmp: Path, n: int, keys: Path) -> None:
    app = tmp / f"app{n}"
    (app / "lib").mkdir(parents=True)
    (app / "main.py").write_text(f"print('release {n}')\n")
    (app / "lib" / "util.py").write_text(f"N = {n}\n")
    sbd("ota", "add", str(repo), str(app), "--board", "pico_w", "--product", "acme", "--version", f"{n}.0")
    for role in ("targets", "snapshot", "timestamp"):
        sbd("ota", "sign", str(repo), "--role", role, "--key", str(keys / f"{role}.key"))
    sbd("ota", "publish", str(repo))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir()
    args = []
    for role in ("root", "targets", "snapshot", "timestamp"):
        sbd("keys", "new", str(keys / f"{role}.key"))
        args += [f"--{role}-key", str(keys / f"{role}.key.pub")]
    out = tmp_path / "repo"
    sbd("ota", "init", str(out), *args)
    sbd("ota", "sign", str(out), "--role", "root", "--key", str(keys / "root.key"))
    _add(out, tmp_path, 1, keys)
    return out


INSPECT = """
from sbd import boot
import os
d = boot.select()
p = boot.read_pointer()
print('BOOTS', p and p['release'], p and p['confirmed'], open(d + '/main.py').read().strip() if d else None)
print('PUSHDIR', '.sbd' in os.listdir('/') and 'push' in os.listdir('/.sbd'))
boot.confirm()
"""


def _boots(board: SdkBoard) -> str:
    out = board.exec(INSPECT, timeout=300).output.replace("\r", "")
    assert "PUSHDIR False" in out, f"the pushed copy was left on the board: {out}"
    return next(ln for ln in out.splitlines() if ln.startswith("BOOTS "))


def _provision(board: SdkBoard, pin: bytes) -> None:
    out = board.exec(
        "from sbd.identity import provision as p\n"
        f"p.provision(bytes(32), 'SBD-1', 'Model 1', '2030-01-31', 'sec@x.example', b'\\x11' * 16, 1000, "
        f"bytes(32), trust_root={pin!r})\nprint('PROVISIONED')\n"
    ).output
    assert "PROVISIONED" in out, out


def test_push_installs_and_a_tampered_release_is_refused(
    make_sdk_board: Callable[..., SdkBoard], repo: Path, tmp_path: Path
) -> None:
    board = make_sdk_board()
    _provision(board, hashlib.sha256((repo / "metadata" / "1.root.json").read_bytes()).digest())
    r = sbd("ota", "push", str(repo), "--vboard", board.name)
    assert "release 1 (1.0) installed on trial" in r.stdout, r.stdout
    assert _boots(board) == "BOOTS 1 False print('release 1')"
    # Release 2 with a file changed after signing: the board refuses it.
    _add(repo, tmp_path, 2, tmp_path / "keys")
    (repo / "targets" / "acme" / "pico_w" / "2" / "main.py").write_text("print('evil')\n")
    r = sbd("ota", "push", str(repo), "--vboard", board.name, ok=False)
    assert r.returncode == 1 and "REFUSED (mismatch)" in r.stdout, r.stdout + r.stderr
    assert _boots(board) == "BOOTS 1 True print('release 1')"
    # Put right, it installs.
    (repo / "targets" / "acme" / "pico_w" / "2" / "main.py").write_text("print('release 2')\n")
    r = sbd("ota", "push", str(repo), "--vboard", board.name, "--json")
    assert '"installed": 2' in r.stdout, r.stdout
    assert _boots(board) == "BOOTS 2 False print('release 2')"


def test_the_trust_anchor_is_never_taken_from_the_copy(
    make_sdk_board: Callable[..., SdkBoard], repo: Path, tmp_path: Path
) -> None:
    # A board pinned to another root refuses the repository's.
    pinned = make_sdk_board(name="pinned")
    _provision(pinned, bytes(32))
    r = sbd("ota", "push", str(repo), "--vboard", pinned.name, ok=False)
    assert r.returncode == 1 and "REFUSED (refused): root: not the pinned trust root" in r.stdout, r.stdout
    # A board with no record and no trusted root: refused unless named.
    bare = make_sdk_board(name="bare")
    r = sbd("ota", "push", str(repo), "--vboard", bare.name, ok=False)
    assert r.returncode == 1 and "NoTrustRoot" in r.stderr and "--trusted-root" in r.stderr, r.stderr
    assert "BOOTS None None None" in _boots(bare)
    r = sbd("ota", "push", str(repo), "--vboard", bare.name, "--trusted-root", str(repo / "metadata" / "1.root.json"))
    assert "release 1 (1.0) installed" in r.stdout, r.stdout
    # Bad input.
    r = sbd("ota", "push", str(repo), ok=False)
    assert r.returncode == 2 and "give either --port" in r.stderr, r.stderr
    r = sbd("ota", "push", str(repo), "--vboard", bare.name, "--product", "nope", ok=False)
    assert r.returncode == 1 and "no release of nope for pico_w" in r.stderr, r.stderr

"""`sbd ota rotate-root` and `sbd ota revoke`, judged by the device client
(sbd.ota.client) on the real MicroPython unix port and on CPython through the
shims: a device pinned to the old root walks the chain to the new one; a
rotation signed by the new keys alone is refused; after a revocation,
metadata signed with the revoked key is refused (and was accepted before)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbd_cli import PASS, new_keys, sbd

from harness import devscript
from sbdtools import ota

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-30T00:00:00Z"
RUNTIMES = ["micropython", "cpython"]

DEVICE = """
from sbd import _fs, ota
from sbd.ota import client, release
_fs.STATE_DIR = STATE
root = open(ROOTFILE, "rb").read()
try:
    t = client.refresh(client.DirFetcher(REPO + "/metadata"), NOW, root)
    print("OK root", t.root["version"], "release", release.newest(t, "acme", "pico_w"))
except ota.OtaError as e:
    print("REFUSED", e.reason)
"""


@pytest.fixture(scope="module")
def mpy_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return devscript.compile_sdk(tmp_path_factory.mktemp("mpy"))


def device(runtime: str, mpy: Path, repo: Path, state: Path, root: Path) -> str:
    """One refresh by a device whose persisted state is `state`, pinned to
    `root` when it has none yet; its one-line verdict."""
    head = f"STATE = {str(state)!r}\nROOTFILE = {str(root)!r}\nREPO = {str(repo)!r}\nNOW = {NOW!r}\n"
    out = devscript.run(runtime, head + DEVICE, heap="128K", mpy=mpy)
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return new_keys(tmp_path_factory.mktemp("keys"), ("root", "root2", "targets", "targets2", "snapshot", "timestamp"))


def _published(tmp: Path, keys: dict[str, Path]) -> Path:
    """A repository with release 1, every role signed."""
    repo = tmp / "repo"
    args = []
    for role in ("root", "targets", "snapshot", "timestamp"):
        args += [f"--{role}-key", f"{keys[role]}.pub"]
    sbd("ota", "init", str(repo), *args, tmp=tmp)
    app = tmp / "app"
    app.mkdir()
    (app / "main.py").write_text("print('hello')\n")
    sbd("ota", "add", str(repo), str(app), "--board", "pico_w", "--product", "acme", "--version", "1.0", tmp=tmp)
    for role in ("root", "targets", "snapshot", "timestamp"):
        sbd("ota", "sign", str(repo), "--role", role, "--key", str(keys[role]), tmp=tmp)
    sbd("ota", "publish", str(repo), tmp=tmp)
    shutil.copy(repo / "metadata" / "1.root.json", tmp / "pinned.json")
    return repo


@pytest.fixture
def published(tmp_path: Path, keys: dict[str, Path]) -> Iterator[Path]:
    yield _published(tmp_path, keys)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_device_pinned_to_the_old_root_walks_to_the_new_one(
    runtime: str, mpy_sdk: Path, published: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    repo, pinned = published, tmp_path / "pinned.json"
    old_device = tmp_path / "old-device"
    assert device(runtime, mpy_sdk, repo, old_device, pinned) == "OK root 1 release 1"
    # A rotation signed by the new key alone: refused by every device.
    forged = tmp_path / "forged"
    shutil.copytree(repo, forged)
    r = sbd(
        "ota", "rotate-root", str(forged), "--new-key", f"{keys['root2']}.pub", "--remove-key",
        f"{keys['root']}.pub", "--sign", str(keys["root2"]), tmp=tmp_path,
    )  # fmt: skip
    assert "needs 1 more from the v1 root keys" in r.stdout, r.stdout
    # It is only staged: `publish` refuses it (the device's verifier says
    # why) and what is served stays as it was.
    p = sbd("ota", "publish", str(forged), "--trusted-root", str(pinned), tmp=tmp_path, ok=False)
    assert p.returncode == 1 and "REFUSED (signature)" in p.stdout and "nothing was published" in p.stderr, p
    assert not (forged / "metadata" / "2.root.json").exists()
    assert device(runtime, mpy_sdk, forged, old_device, pinned) == "OK root 1 release 1"
    # Served anyway (an attacker who can write the web host): refused.
    staged = forged / "staging"
    assert device(runtime, mpy_sdk, staged, tmp_path / "fresh-forged", pinned) == "REFUSED signature"
    assert device(runtime, mpy_sdk, staged, old_device, pinned) == "REFUSED signature"
    # The real rotation: signed by the old and the new root key.
    r = sbd(
        "ota", "rotate-root", str(repo), "--new-key", f"{keys['root2']}.pub", "--remove-key",
        f"{keys['root']}.pub", "--sign", str(keys["root"]), "--sign", str(keys["root2"]), tmp=tmp_path,
    )  # fmt: skip
    assert "root v2: signed" in r.stdout, r.stdout
    assert device(runtime, mpy_sdk, repo, old_device, pinned) == "OK root 1 release 1"  # staged, not served
    sbd("ota", "publish", str(repo), tmp=tmp_path)
    assert device(runtime, mpy_sdk, repo, old_device, pinned) == "OK root 2 release 1"
    assert device(runtime, mpy_sdk, repo, tmp_path / "fresh", pinned) == "OK root 2 release 1"
    assert sbd("ota", "verify", str(repo), "--trusted-root", str(pinned), tmp=tmp_path, ok=False).returncode == 0
    # The old root key is no root key any more: it cannot start root v3.
    r = sbd("ota", "rotate-root", str(repo), "--threshold", "1", "--sign", str(keys["root"]), tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "signs none of what changed" in r.stderr, r.stderr


def _release_signed_by(repo: Path, out: Path, targets_key: Path, keys: dict[str, Path]) -> None:
    """What an attacker holding targets_key publishes: release 2 signed by
    it (snapshot and timestamp re-signed with the real keys, so only the
    targets signature decides)."""
    r = ota.Repo.load(repo)
    r.add_target(
        "acme/pico_w/2/main.py",
        b"print('evil')\n",
        {"sbd": {"product": "acme", "boards": ["pico_w"], "release": 2, "version": "6.6.6", "floor": 0}},
    )
    r.bump("targets")
    r.link_snapshot()
    r.bump("snapshot")
    r.link_timestamp()
    r.bump("timestamp")
    r.sign("targets", [ota.load_signer(targets_key, PASS.encode())])
    r.sign("snapshot", [ota.load_signer(keys["snapshot"], PASS.encode())])
    r.sign("timestamp", [ota.load_signer(keys["timestamp"], PASS.encode())])
    shutil.copytree(repo, out)
    r.publish(out)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_metadata_signed_with_a_revoked_key_is_refused(
    runtime: str, mpy_sdk: Path, published: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    repo, pinned = published, tmp_path / "pinned.json"
    dev = tmp_path / "device"
    assert device(runtime, mpy_sdk, repo, dev, pinned) == "OK root 1 release 1"
    # Before the revocation the stolen key is good: the attack would work.
    _release_signed_by(repo, tmp_path / "attack-before", keys["targets"], keys)
    assert device(runtime, mpy_sdk, tmp_path / "attack-before", tmp_path / "victim", pinned) == "OK root 1 release 2"
    r = sbd(
        "ota", "revoke", str(repo), "--role", "targets", "--key", f"{keys['targets']}.pub",
        "--new-key", f"{keys['targets2']}.pub", "--sign", str(keys["root"]), "--sign", str(keys["targets2"]),
        "--sign", str(keys["snapshot"]), "--sign", str(keys["timestamp"]), tmp=tmp_path,
    )  # fmt: skip
    assert r.stdout.count(": signed") == 4, r.stdout  # root, targets, snapshot, timestamp
    sbd("ota", "publish", str(repo), tmp=tmp_path)
    assert device(runtime, mpy_sdk, repo, dev, pinned) == "OK root 2 release 1"
    # After it: refused by the device that took the revocation, and by a
    # fresh device pinned to root v1 (it walks to v2 first).
    _release_signed_by(repo, tmp_path / "attack-after", keys["targets"], keys)
    assert device(runtime, mpy_sdk, tmp_path / "attack-after", dev, pinned) == "REFUSED signature"
    assert device(runtime, mpy_sdk, tmp_path / "attack-after", tmp_path / "fresh", pinned) == "REFUSED signature"
    # The replacement key publishes as before.
    _release_signed_by(repo, tmp_path / "next", keys["targets2"], keys)
    assert device(runtime, mpy_sdk, tmp_path / "next", dev, pinned) == "OK root 2 release 2"


def test_revoke_and_rotate_refuse_bad_input(published: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    repo = published
    # The revoked key cannot sign its role again.
    r = sbd(
        "ota", "revoke", str(repo), "--role", "targets", "--key", f"{keys['targets']}.pub", "--new-key",
        f"{keys['targets2']}.pub", "--sign", str(keys["targets"]), tmp=tmp_path, ok=False,
    )  # fmt: skip
    assert r.returncode == 1 and "signs none of what changed" in r.stderr, r.stderr
    # Nothing was written by a refused command.
    assert not (repo / "metadata" / "2.root.json").exists()
    r = sbd("ota", "revoke", str(repo), "--role", "targets", "--key", f"{keys['targets']}.pub", tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "no key left" in r.stderr, r.stderr
    r = sbd("ota", "revoke", str(repo), "--role", "snapshot", "--key", f"{keys['targets']}.pub", tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "is not a snapshot key" in r.stderr, r.stderr
    r = sbd("ota", "revoke", str(repo), "--role", "targets", "--key", "zz", tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "neither a .pub file nor a key id" in r.stderr, r.stderr
    r = sbd(
        "ota", "rotate-root", str(repo), "--new-key", f"{keys['root2']}.pub", "--threshold", "3",
        tmp=tmp_path, ok=False,
    )  # fmt: skip
    assert r.returncode == 1 and "threshold 3 with 2 key(s)" in r.stderr, r.stderr
    r = sbd(
        "ota", "rotate-root", str(repo), "--new-key", f"{keys['root2']}.pub", "--sign", str(keys["root"]),
        tmp=tmp_path, ok=False, passphrase="not the passphrase",
    )  # fmt: skip
    assert r.returncode == 1 and "cannot decrypt" in r.stderr, r.stderr
    r = sbd("ota", "rotate-root", str(tmp_path / "keys-not-a-repo"), tmp=tmp_path, ok=False)
    assert r.returncode == 2 and "does not exist" in r.stderr, r.stderr
    (tmp_path / "empty").mkdir()
    r = sbd("ota", "rotate-root", str(tmp_path / "empty"), tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "not an sbd update repository" in r.stderr, r.stderr
    assert not (repo / "metadata" / "2.root.json").exists()
    # A rotation not signed yet: nothing may be built on it until it is.
    r = sbd("ota", "rotate-root", str(repo), "--new-key", f"{keys['root2']}.pub", tmp=tmp_path)
    assert "root v2: needs 1 more from the v1 root keys and 1 more from its own root keys" in r.stdout, r.stdout
    r = sbd(
        "ota", "revoke", str(repo), "--role", "targets", "--key", f"{keys['targets']}.pub", "--new-key",
        f"{keys['targets2']}.pub", tmp=tmp_path, ok=False,
    )  # fmt: skip
    assert r.returncode == 1 and "root v2 is not fully signed yet" in r.stderr, r.stderr
    assert not (repo / "metadata" / "3.root.json").exists()

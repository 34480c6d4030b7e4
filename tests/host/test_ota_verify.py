"""`sbd ota verify`: the device's own verifier (sdk/sbd/ota through the shims)
judges a repository as a fresh device pinned to its root would, python-tuf's
ngclient cross-checks it, and the exit status says whether a device would
refuse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ota_scenarios import DATA_DIR, DEVICE_NOW, FUTURE, Scenario

from sbdtools import ota, ota_verify
from sbdtools.ota import OtaError

SBD = str(Path(sys.executable).parent / "sbd")


def sbd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SBD, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


def _states() -> list[tuple[Path, Path]]:
    out = []
    for sc in sorted(p for p in DATA_DIR.iterdir() if p.is_dir()):
        for st in sorted((p for p in sc.iterdir() if p.is_dir()), key=lambda p: int(p.name)):
            out.append((sc / "root.json", st))
    return out


def test_the_device_and_ngclient_agree_on_every_scenario_state() -> None:
    # Every committed repository state of the differential suite, judged by a
    # fresh device: refusals of metadata and of target bytes alike.
    refused_meta = refused_target = accepted = 0
    for root, state in _states():
        v = ota_verify.verify(state, trusted_root=root, now=DEVICE_NOW)
        assert v.disagreements == [], (state, v.disagreements)
        assert v.ngclient is not None
        if v.metadata != "accepted":
            refused_meta += 1
            assert v.ngclient != "accepted" and v.targets == []
        elif v.refused:
            refused_target += 1
            # Refused for its bytes by both (the release checks are sbd's own).
            assert all(t.ngclient not in (None, "accepted") for t in v.targets if t.device != "accepted")
        else:
            accepted += 1
    assert refused_meta >= 10 and refused_target >= 3 and accepted >= 20, (refused_meta, refused_target, accepted)


def test_exit_status_and_report() -> None:
    good = DATA_DIR / "valid_updates"
    r = sbd("ota", "verify", str(good / "3"), "--trusted-root", str(good / "root.json"), "--now", DEVICE_NOW)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in r.stderr, r.stderr  # the root the devices pin was given
    assert "release 2 (1.2.0), the newest" in r.stdout and "release 1 (1.1.0):" in r.stdout
    assert "the newest" in r.stdout and "REFUSED" not in r.stdout
    bad = DATA_DIR / "tampered_target"
    r = sbd("ota", "verify", str(bad / "1"), "--trusted-root", str(bad / "root.json"), "--now", DEVICE_NOW, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["refused"] and doc["metadata"] == "accepted" and doc["ngclient"] == "accepted"
    refused = [t for t in doc["targets"] if t["device"] != "accepted"]
    assert [(t["device"], t["release"], t["ngclient"]) for t in refused] == [
        ("mismatch", 2, "LengthOrHashMismatchError")
    ]
    # Expired metadata: refused at the device's time, accepted once the
    # clock is set back (the device judges by the time it is given).
    frz = DATA_DIR / "freeze_timestamp"
    r = sbd("ota", "verify", str(frz / "1"), "--trusted-root", str(frz / "root.json"), "--now", DEVICE_NOW)
    assert r.returncode == 1 and "REFUSED (expired)" in r.stdout, r.stdout


def test_a_disagreement_is_loud(tmp_path: Path) -> None:
    # An indented timestamp: python-tuf verifies the canonical form it
    # re-serialises, the device only the compact bytes as published.
    repo = tmp_path / "repo"
    shutil.copytree(DATA_DIR / "valid_updates" / "1", repo)
    ts = repo / "metadata" / "timestamp.json"
    ts.write_text(json.dumps(json.loads(ts.read_text()), indent=2))
    root = DATA_DIR / "valid_updates" / "root.json"
    r = sbd("ota", "verify", str(repo), "--trusted-root", str(root), "--now", DEVICE_NOW)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "DISAGREEMENT" in r.stderr and "ngclient says accepted" in r.stderr
    assert "REFUSED" in r.stdout


def _repo_with(tmp: Path, files: dict[str, bytes], *, floor: int = 0) -> Path:
    sc = Scenario("verify")
    for path, data in files.items():
        sc.repo.add_target(
            path,
            data,
            {"sbd": {"product": "acme", "boards": ["pico_w"], "release": 5, "version": "5.0", "floor": floor}},
        )
    sc.repo.bump("targets", expires=FUTURE)
    sc.repo.link_snapshot()
    sc.repo.bump("snapshot", expires=FUTURE)
    sc.repo.link_timestamp()
    sc.repo.bump("timestamp", expires=FUTURE)
    for role in ("targets", "snapshot", "timestamp"):
        sc.repo.sign(role, [sc.k[role]])
    out = tmp / "repo"
    # Repo.publish writes no file for a path the tools refuse (a hidden
    # part): such a file is put there by hand, as a hostile repository would.
    by_hand = {p: sc.repo.files.pop(p) for p in list(sc.repo.files) if not ota.target_path_ok(p)}
    sc.repo.publish(out)
    for p, data in by_hand.items():
        (out / "targets" / p).parent.mkdir(parents=True, exist_ok=True)
        (out / "targets" / p).write_bytes(data)
    return out


def test_release_checks_against_the_board(tmp_path: Path) -> None:
    # Signed and valid TUF, but a path outside the app: ngclient downloads it,
    # the device refuses the whole release (and says why), exit status 1.
    repo = _repo_with(tmp_path, {"acme/pico_w/5/main.py": b"x", "acme/pico_w/5/.sbd/factory/identity.bin": b"y"})
    v = ota_verify.verify(repo, now=DEVICE_NOW, board="pico_w")
    rel5 = [t for t in v.targets if t.product == "acme"]
    assert {t.path for t in rel5} == {"acme/pico_w/5/main.py", "acme/pico_w/5/.sbd/factory/identity.bin"}
    assert all(t.device == "refused" and "outside the app" in t.detail for t in rel5)
    assert v.disagreements == [] and v.refused
    # Another board has no release at all: a device of it installs nothing.
    r = sbd("ota", "verify", str(repo), "--board", "esp32", "--now", DEVICE_NOW)
    assert r.returncode == 1 and "no release for esp32" in r.stdout, r.stdout
    # A floor above the release number is malformed.
    repo2 = _repo_with(tmp_path / "2", {"acme/pico_w/5/main.py": b"x"}, floor=6)
    v2 = ota_verify.verify(repo2, now=DEVICE_NOW, board="pico_w")
    assert [t.device for t in v2.targets if t.product == "acme"] == ["malformed"]


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    r = sbd("ota", "verify", str(tmp_path))
    assert r.returncode == 1 and "not an sbd update repository" in r.stderr, r.stderr
    good = DATA_DIR / "valid_updates" / "1"
    r = sbd("ota", "verify", str(good), "--now", "yesterday")
    assert r.returncode == 1 and "not an ISO 8601 time" in r.stderr, r.stderr
    r = sbd("ota", "verify", str(good), "--board", "no_such_board")
    assert r.returncode != 0 and "no_such_board" in r.stderr and "Traceback" not in r.stderr, r.stderr
    with pytest.raises(OtaError, match="cannot read the trusted root"):
        ota_verify.verify(good, trusted_root=tmp_path / "absent.json")


def test_without_a_trusted_root_it_warns_what_it_trusts(tmp_path: Path) -> None:
    # The repository's own 1.root.json is trusted, and whoever writes the
    # repository chooses it: a repository made with other keys throughout
    # (an attacker's) passes on its own root.  The warning says so and how
    # to pass the pinned root, which refuses it.
    from datetime import datetime, timezone

    from sbdtools import ota

    signers = {r: ota.signer_from_seed(bytes([i + 1]) * 32) for i, r in enumerate(ota.ROLES)}
    future = datetime(2099, 1, 1, tzinfo=timezone.utc)
    forged = ota.Repo.create({r: [s.public_key] for r, s in signers.items()}, now=future)
    forged.add_target(
        "acme/pico_w/9/main.py",
        b"print('not yours')\n",
        {"sbd": {"product": "acme", "boards": ["pico_w"], "release": 9, "version": "9", "floor": 0}},
    )
    forged.link_snapshot()
    forged.link_timestamp()
    for role in ota.ROLES:
        forged.sign(role, [signers[role]])
    forged.publish(tmp_path / "forged")
    r = sbd("ota", "verify", str(tmp_path / "forged"), "--now", DEVICE_NOW)
    assert r.returncode == 0 and "release 9 (9), the newest" in r.stdout, r.stdout + r.stderr
    warning = " ".join(r.stderr.split())
    assert warning.startswith("warning: no --trusted-root: trusting the repository's own metadata/1.root.json")
    assert "not that it is the repository your devices trust" in warning and "--trusted-root FILE" in warning
    assert "sbd provision --trust-root" in warning
    pinned = DATA_DIR / "valid_updates" / "root.json"
    r = sbd("ota", "verify", str(tmp_path / "forged"), "--trusted-root", str(pinned), "--now", DEVICE_NOW)
    assert r.returncode == 1 and "metadata: REFUSED (signature)" in r.stdout, r.stdout + r.stderr
    assert "warning" not in r.stderr, r.stderr

"""Update-repository scenarios for the differential tests of sbd.ota.

Each scenario is a sequence of repository states made with python-tuf's
metadata API (sbdtools.ota.Repo), some of them attacks made by editing the
published bytes.  After each state a client refreshes and downloads some
targets.  python-tuf's own client (ngclient, configured with the device's
size bounds) is run here as the reference: its accept/reject decision and
the metadata it persisted are recorded in expect.json next to the states.
tests/device/test_ota_differential.py replays the same states with sbd.ota
on MicroPython and CPython and must reach the same decision, persist the
same bytes, and name the reason given here.

Deterministic (fixed seeds, fixed dates): `python tests/host/make_ota_vectors.py`
rewrites tests/device/data/ota, and test_ota_vectors.py checks the committed
copy is what this module makes today.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api import exceptions as tuf_exc
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from sbdtools.ota import Release, Repo, release_prefix, signer_from_seed

ROOT_DIR = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT_DIR / "tests" / "device" / "data" / "ota"
# The device judges expiry against this time; ngclient against the real
# clock.  Every date below is either long before or long after both.
DEVICE_NOW = "2026-11-30T00:00:00Z"
FUTURE = datetime(2099, 1, 1, tzinfo=timezone.utc)
PAST = datetime(2021, 1, 1, tzinfo=timezone.utc)
PRODUCT = "acme-sensor"
BOARD = "pico_w"
# The device's bounds (sbd/ota/__init__.py), given to ngclient too.
BOUNDS = {"root": 16384, "timestamp": 4096, "snapshot": 4096, "targets": 32768}


def _signer(name: str) -> CryptoSigner:
    return signer_from_seed(hashlib.sha256(b"sbd-ota-test-key:" + name.encode()).digest())


def release_files(release: int) -> dict[str, bytes]:
    return {
        "app.mpy": b"M\x06print('release %d')\n" % release,
        "lib/util.mpy": b"VERSION = %d\n" % release + b"# " + b"x" * (40 * release) + b"\n",
    }


class Scenario:
    def __init__(self, name: str, *, consistent: bool = False, hashes: bool = False):
        self.name = name
        self.hashes = hashes
        self.k = {n: _signer(n) for n in ("root1", "root2", "root3", "timestamp", "snapshot", "targets")}
        self.repo = Repo.create(
            {
                "root": [self.k["root1"].public_key, self.k["root2"].public_key, self.k["root3"].public_key],
                "timestamp": [self.k["timestamp"].public_key],
                "snapshot": [self.k["snapshot"].public_key],
                "targets": [self.k["targets"].public_key],
            },
            {"root": 2},
            now=FUTURE,
            consistent_snapshot=consistent,
        )
        for role in ("root", "timestamp", "snapshot", "targets"):
            self.repo.md(role).signed.expires = FUTURE
        self.root_signers = [self.k["root1"], self.k["root2"]]
        self.release = 0
        self.add_release(1)
        self.repo.sign("root", self.root_signers)
        self.sign_all()
        self.initial_root = self.repo.roots[1]
        self.steps: list[dict[str, Any]] = []

    def add_release(self, n: int, *, board: str = BOARD, floor: int = 0) -> list[str]:
        self.release = n
        rel = Release(PRODUCT, [board], n, f"1.{n}.0", floor)
        paths = []
        for rel_path, data in release_files(n).items():
            path = release_prefix(PRODUCT, board, n) + rel_path
            self.repo.add_target(path, data, rel.custom())
            paths.append(path)
        return paths

    def paths(self, n: int | None = None) -> list[str]:
        return [release_prefix(PRODUCT, BOARD, n or self.release) + p for p in release_files(n or self.release)]

    def sign_all(self, *, bump: bool = False) -> None:
        """Re-sign targets, snapshot, timestamp (bumping each version)."""
        r = self.repo
        if bump:
            for role in ("targets", "snapshot", "timestamp"):
                r.bump(role, expires=FUTURE)
        r.sign("targets", [self.k["targets"]])
        r.link_snapshot()
        r.sign("snapshot", [self.k["snapshot"]])
        r.link_timestamp(hashes=self.hashes)
        r.sign("timestamp", [self.k["timestamp"]])

    def step(
        self,
        ok: bool,
        reason: str | None = None,
        *,
        download: list[str] | None = None,
        edit: Callable[[Path], None] | None = None,
        note: str = "",
    ) -> None:
        self.steps.append(
            {
                "ok": ok,
                "reason": reason,
                "download": self.paths() if download is None else download,
                "note": note,
                "_edit": edit,
                "_files": _snapshot_files(self.repo),
            }
        )


def _snapshot_files(repo: Repo) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as d:
        repo.publish(Path(d))
        return {str(p.relative_to(d)): p.read_bytes() for p in Path(d).rglob("*") if p.is_file()}


# -- edits of published bytes (attacks on the wire) ---------------------------


def flip_sig(name: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        p = d / "metadata" / name
        data = p.read_bytes()
        i = data.index(b'"sig":"') + 7
        c = b"0" if data[i : i + 1] != b"0" else b"1"
        p.write_bytes(data[:i] + c + data[i + 1 :])

    return edit


def bump_length_digit(d: Path) -> None:
    p = d / "metadata" / "targets.json"
    data = p.read_bytes()
    i = data.index(b'"length":') + 9
    c = b"9" if data[i : i + 1] != b"9" else b"8"
    p.write_bytes(data[:i] + c + data[i + 1 :])


def pad(name: str, n: int) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        p = d / name
        p.write_bytes(p.read_bytes() + b" " * n)

    return edit


def replace_file(name: str, data: bytes) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        (d / name).write_bytes(data)

    return edit


def tamper_target(name: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        p = d / name
        data = bytearray(p.read_bytes())
        data[0] ^= 0x20
        p.write_bytes(bytes(data))

    return edit


# -- the scenarios ----------------------------------------------------------------


def scenarios() -> list[Scenario]:
    out = []

    s = Scenario("valid_updates")
    s.step(True, note="first refresh, release 1")
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(True, note="release 2")
    s.step(True, note="nothing new: the same timestamp again")
    s.step(False, "not-found", download=["acme-sensor/pico_w/9/main.py"], note="no such target")
    out.append(s)

    s = Scenario("consistent_snapshot", consistent=True)
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(True)
    out.append(s)

    s = Scenario("timestamp_rollback")
    s.step(True)
    old = _snapshot_files(s.repo)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(True)
    s.step(False, "rollback", edit=lambda d: _write_all(d, old), note="the whole older repository replayed")
    out.append(s)

    s = Scenario("snapshot_rollback")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(True)
    s.repo.bump("timestamp", expires=FUTURE)
    s.repo.timestamp.signed.snapshot_meta.version = 1
    s.repo.sign("timestamp", [s.k["timestamp"]])
    s.step(False, "rollback", note="a new timestamp naming the old snapshot")
    out.append(s)

    s = Scenario("targets_rollback")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(True)
    s.repo.bump("snapshot", expires=FUTURE)
    s.repo.bump("timestamp", expires=FUTURE)
    s.repo.snapshot.signed.meta["targets.json"].version = 1
    s.repo.sign("snapshot", [s.k["snapshot"]])
    s.repo.link_timestamp()
    s.repo.sign("timestamp", [s.k["timestamp"]])
    s.step(False, "rollback", note="a new snapshot naming the old targets")
    out.append(s)

    for role in ("timestamp", "snapshot", "targets"):
        s = Scenario(f"freeze_{role}")
        s.step(True)
        s.add_release(2)
        s.sign_all(bump=True)
        s.repo.md(role).signed.expires = PAST
        s.sign_all()
        s.step(False, "expired", note=f"{role} expired")
        out.append(s)

    s = Scenario("expired_root")
    s.step(True)
    s.repo.bump("root", expires=PAST)
    s.repo.sign("root", s.root_signers)
    s.step(False, "expired", note="a correctly signed new root that has expired")
    out.append(s)

    s = Scenario("mix_and_match")
    s.step(True)
    snap1 = _snapshot_files(s.repo)["metadata/snapshot.json"]
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(False, "version", edit=replace_file("metadata/snapshot.json", snap1), note="new timestamp, old snapshot")
    out.append(s)

    s = Scenario("mix_and_match_hashed", hashes=True)
    s.step(True)
    snap1 = _snapshot_files(s.repo)["metadata/snapshot.json"]
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(False, "mismatch", edit=replace_file("metadata/snapshot.json", snap1), note="snapshot hash pinned")
    out.append(s)

    s = Scenario("mix_and_match_targets")
    s.step(True)
    old_target = _snapshot_files(s.repo)["targets/" + s.paths()[0]]
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(
        False,
        "mismatch",
        edit=_swap_target(s.paths(2)[0], old_target),
        note="a release 1 file served as release 2's",
    )
    out.append(s)

    s = Scenario("bad_signature")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(False, "signature", edit=flip_sig("targets.json"), note="one hex digit of the signature changed")
    out.append(s)

    s = Scenario("tampered_metadata")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(False, "signature", edit=bump_length_digit, note="a target length changed after signing")
    out.append(s)

    s = Scenario("unknown_key")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.repo.sign("targets", [_signer("attacker")])
    s.repo.link_snapshot()
    s.repo.sign("snapshot", [s.k["snapshot"]])
    s.repo.link_timestamp()
    s.repo.sign("timestamp", [s.k["timestamp"]])
    s.step(False, "signature", note="targets signed by a key root does not list")
    out.append(s)

    s = Scenario("threshold_not_met")
    s.step(True)
    s.repo.bump("root", expires=FUTURE)
    s.repo.sign("root", [s.k["root1"]])
    s.step(False, "signature", note="new root with 1 of 2 root signatures")
    out.append(s)

    s = Scenario("root_rotation")
    s.step(True)
    new_ts = _signer("timestamp-2")
    r = s.repo.root.signed
    r.revoke_key(s.k["timestamp"].public_key.keyid, "timestamp")
    r.add_key(new_ts.public_key, "timestamp")
    s.repo.bump("root", expires=FUTURE)
    s.repo.sign("root", s.root_signers)
    old_ts_key = s.k["timestamp"]
    s.k["timestamp"] = new_ts
    s.sign_all(bump=True)
    s.step(True, note="timestamp key rotated by root v2")
    s.k["timestamp"] = old_ts_key
    s.repo.bump("timestamp", expires=FUTURE)
    s.repo.sign("timestamp", [old_ts_key])
    s.step(False, "signature", note="a timestamp signed by the revoked key")
    out.append(s)

    s = Scenario("root_key_rotation")
    s.step(True)
    new_root = [_signer("root-new-1"), _signer("root-new-2")]
    r = s.repo.root.signed
    for k in ("root1", "root2", "root3"):
        r.revoke_key(s.k[k].public_key.keyid, "root")
    for k in new_root:
        r.add_key(k.public_key, "root")
    s.repo.bump("root", expires=FUTURE)
    s.repo.sign("root", [*s.root_signers, *new_root])
    s.step(True, note="root keys replaced (signed by old and new thresholds)")
    s.repo.bump("root", expires=FUTURE)
    s.repo.sign("root", s.root_signers)
    s.step(False, "signature", note="root v3 signed by the old root keys only")
    out.append(s)

    s = Scenario("root_not_signed_by_new_keys")
    s.step(True)
    r = s.repo.root.signed
    r.revoke_key(s.k["root3"].public_key.keyid, "root")
    new = _signer("root-new-3")
    r.add_key(new.public_key, "root")
    r.roles["root"].threshold = 3
    s.repo.bump("root", expires=FUTURE)
    s.repo.sign("root", s.root_signers)
    s.step(False, "signature", note="new root meets the old threshold, not its own")
    out.append(s)

    s = Scenario("root_version_skip")
    s.step(True)
    s.repo.bump("root", expires=FUTURE)
    s.repo.bump("root", expires=FUTURE)
    s.repo.sign("root", s.root_signers)
    v3 = s.repo.roots.pop(3)
    s.step(False, "version", edit=replace_file("metadata/2.root.json", v3), note="root v3 served as 2.root.json")
    out.append(s)

    s = Scenario("endless_timestamp")
    s.step(True)
    s.step(False, "too-large", edit=pad("metadata/timestamp.json", 5000), note="a timestamp longer than the bound")
    out.append(s)

    s = Scenario("endless_target")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(False, "too-large", edit=pad("targets/" + s.paths(2)[1], 4096), note="a target longer than signed")
    out.append(s)

    s = Scenario("tampered_target")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(False, "mismatch", edit=tamper_target("targets/" + s.paths(2)[0]), note="same length, other bytes")
    out.append(s)

    s = Scenario("short_target")
    s.step(True)
    s.add_release(2)
    s.sign_all(bump=True)
    s.step(False, "mismatch", edit=replace_file("targets/" + s.paths(2)[0], b"print(1)"), note="a truncated target")
    out.append(s)
    return out


def _swap_target(path: str, data: bytes) -> Callable[[Path], None]:
    return replace_file("targets/" + path, data)


def _write_all(d: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(d)
    for name, data in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)


# -- the reference client --------------------------------------------------------


class DirFetcher(FetcherInterface):
    def __init__(self, root: Path):
        self.root = root

    def _fetch(self, url: str) -> Iterator[bytes]:
        name = url.split("://", 1)[1]
        p = self.root / name
        if not p.is_file():
            raise tuf_exc.DownloadHTTPError(f"{name} not found", 404)
        data = p.read_bytes()
        return iter([data[i : i + 4096] for i in range(0, len(data), 4096)] or [b""])


def ngclient_step(
    state: Path, step_dir: Path, initial_root: bytes, download: list[str], when: str | None = None
) -> str | None:
    """Refresh and download with python-tuf (at time `when`, an ISO 8601 UTC
    string, if given); None if all went well, else the name of the first
    exception."""
    config = UpdaterConfig(
        max_root_rotations=32,
        root_max_length=BOUNDS["root"],
        timestamp_max_length=BOUNDS["timestamp"],
        snapshot_max_length=BOUNDS["snapshot"],
        targets_max_length=BOUNDS["targets"],
    )
    boot = (state / "root.json").read_bytes() if (state / "root.json").exists() else initial_root
    with tempfile.TemporaryDirectory() as tdir:
        try:
            up = Updater(
                str(state),
                "file://metadata/",
                tdir,
                "file://targets/",
                DirFetcher(step_dir),
                config,
                bootstrap=boot,
            )
            if when is not None:
                # The step's time, not the machine's (a private field: test only).
                trusted: Any = up._trusted_set
                trusted.reference_time = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            up.refresh()
            for path in download:
                info = up.get_targetinfo(path)
                if info is None:
                    return "TargetNotFound"
                up.download_target(info, str(Path(tdir) / "t"))
        except (tuf_exc.RepositoryError, tuf_exc.DownloadError) as e:
            return type(e).__name__
    return None


def persisted(state: Path, initial_root: bytes) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for role in ("root", "timestamp", "snapshot", "targets"):
        p = state / f"{role}.json"
        data = p.read_bytes() if p.exists() else (initial_root if role == "root" else None)
        out[role] = None if data is None else hashlib.sha256(data).hexdigest()
    return out


def render(out: Path) -> dict[str, Any]:
    """Write every scenario's states under out; return expect.json's data."""
    expect: dict[str, Any] = {"now": DEVICE_NOW, "product": PRODUCT, "board": BOARD, "scenarios": {}}
    for sc in scenarios():
        base = out / sc.name
        base.mkdir(parents=True)
        (base / "root.json").write_bytes(sc.initial_root)
        steps = []
        with tempfile.TemporaryDirectory() as st:
            state = Path(st)
            for i, step in enumerate(sc.steps):
                d = base / str(i)
                for name, data in step["_files"].items():
                    (d / name).parent.mkdir(parents=True, exist_ok=True)
                    (d / name).write_bytes(data)
                if step["_edit"] is not None:
                    step["_edit"](d)
                ref = ngclient_step(state, d, sc.initial_root, step["download"])
                steps.append(
                    {
                        "ok": step["ok"],
                        "reason": step["reason"],
                        "download": step["download"],
                        "note": step["note"],
                        "ngclient": ref,
                        "state": persisted(state, sc.initial_root),
                    }
                )
        expect["scenarios"][sc.name] = steps
        # The device reads a line per step (no 20 KB JSON on a 64 KiB heap):
        # outcome, the four persisted hashes ("-" for none), the downloads.
        lines = []
        for st in steps:
            o = "ok" if st["ok"] else st["reason"]
            hs = [st["state"][r] or "-" for r in ("root", "timestamp", "snapshot", "targets")]
            lines.append(" ".join([o, *hs, ",".join(st["download"]) or "-"]))
        (base / "expect.txt").write_text("\n".join(lines) + "\n")
    (out / "expect.json").write_text(json.dumps(expect, indent=1, sort_keys=True) + "\n")
    return expect

"""Regression tests for the security review of the staged state, publish and
prune (review of main @ 30b8f65, findings F1-F9): whoever can write
REPO/staging/ holds no key, so everything read from it is untrusted until
the device's verifier accepted it, and never leads a read, write or unlink
outside the repository."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from ota_staged import NOW, ROLES, StagedRepos, served

from sbdtools import ota, ota_publish, ota_verify

_REPOS = StagedRepos(b"review ")
signer, add, new_repo = _REPOS.signer, _REPOS.add, _REPOS.new_repo


def _staged_targets(repo: Path) -> tuple[Path, dict[str, object]]:
    tj = repo / "staging" / "metadata" / "targets.json"
    return tj, json.loads(tj.read_bytes())


def _escape(repo: Path, victim: Path, *, link: bool) -> None:
    """The review's F1 attack, staging write access only: a target name in
    the unsigned staged targets.json that leads to victim (through a
    symbolic link inside staging, or with plain '..' parts)."""
    st = repo / "staging"
    tj, d = _staged_targets(repo)
    rel = str(victim).lstrip("/")
    if link:
        leaf = (st / "deep").joinpath(*[f"d{i}" for i in range(60)])
        leaf.mkdir(parents=True)
        (st / "targets").mkdir(exist_ok=True)
        os.symlink(leaf, st / "targets" / "L")
        name = "L/" + "../" * 40 + rel
        payload = leaf.joinpath(*[".."] * 40) / rel
        payload.parent.mkdir(parents=True, exist_ok=True)
        payload.write_text("attacker bytes\n")
    else:
        name = "../" * 40 + rel
    targets = d["signed"]["targets"]  # type: ignore[index]
    targets[name] = {"length": 1, "hashes": {"sha256": "00" * 32}}
    tj.write_text(json.dumps(d, separators=(",", ":")))


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    v = tmp_path / "victim" / "rc"
    v.parent.mkdir()
    v.write_text("operator's file\n")
    return v


# -- F1: target paths from staged metadata ------------------------------------


@pytest.mark.parametrize("link", [True, False], ids=["symlink", "dotdot"])
def test_f1_publish_and_verify_staged_never_write_outside(tmp_path: Path, victim: Path, link: bool) -> None:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    _escape(repo, victim, link=link)
    before = served(repo)
    with pytest.raises(ota.OtaError, match=r"symbolic link|not a path a device installs"):
        ota_publish.verify_staged(repo, now=NOW, cross_check=False)
    with pytest.raises(ota.OtaError, match=r"symbolic link|not a path a device installs"):
        ota_publish.publish(repo, now=NOW, cross_check=False)
    assert victim.read_text() == "operator's file\n"
    assert served(repo) == before and ota.has_staged(repo)


def test_f1_changing_commands_refuse_an_escaping_staged_path(tmp_path: Path, victim: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    _escape(repo, victim, link=True)
    with pytest.raises(ota.OtaError, match="symbolic link"):
        ota.sign_role(repo, "targets", signer("targets"))
    shutil.rmtree(repo / "staging" / "deep")
    (repo / "staging" / "targets" / "L").unlink()
    for change in (
        lambda: ota.sign_role(repo, "targets", signer("targets")),
        lambda: ota.timestamp_again(repo),
        lambda: ota.add_release(repo, {"main.py": b"3"}, product="acme", board="pico_w", version="3"),
    ):
        with pytest.raises(ota.OtaError, match="not a path a device installs"):
            change()
    assert victim.read_text() == "operator's file\n"


def test_f1_prune_never_unlinks_outside(tmp_path: Path, victim: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    tj, d = _staged_targets(repo)
    name = "../" * 40 + str(victim).lstrip("/")
    for r, n in ((1, name), (2, "x/pico_w/2/main.py")):
        d["signed"]["targets"][n] = {  # type: ignore[index]
            "length": 1,
            "hashes": {"sha256": "00" * 32},
            "custom": {"sbd": {"product": "x", "boards": ["pico_w"], "release": r, "version": "1", "floor": 0}},
        }
    tj.write_text(json.dumps(d, separators=(",", ":")))
    with pytest.raises(ota.OtaError, match="not a path a device installs"):
        ota.prune_releases(repo, 1)
    assert victim.read_text() == "operator's file\n"


def test_f1_a_hash_that_is_not_hex_names_no_file(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", consistent=True)
    with pytest.raises(ota.OtaError, match="64 lowercase hex"):
        ota.hashed_name("acme/pico_w/1/main.py", "../../../x")
    assert ota.hashed_name("a/b.py", "ab" * 32) == f"a/{'ab' * 32}.b.py"
    assert ota_publish.target_names(repo / "metadata")


def test_f1_path_rules_are_the_devices() -> None:
    for bad in ("", "/a", "a/", "a//b", "a/./b", "a/../b", "..", ".x", "a/.sbd/b", "a\\b", "a b", "é", "a" * 129):
        assert not ota.target_path_ok(bad), bad
    for good in ("acme/pico_w/1/main.py", "a/b-c_d.e/f.mpy", "a" * 128):
        assert ota.target_path_ok(good), good


# -- F2: only an exact allow-list of metadata, plain files, mode 0644 ------------


def test_f2_extra_or_linked_staged_metadata_is_refused(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    secret = tmp_path / "operator-secret.txt"
    secret.write_text("not for devices\n")
    add(repo, 2)
    meta = repo / "staging" / "metadata"
    before = served(repo)
    os.symlink(secret, meta / "0.leak")
    with pytest.raises(ota.OtaError, match="symbolic link"):
        ota_publish.publish(repo, now=NOW, cross_check=False)
    (meta / "0.leak").unlink()
    (meta / "0.x.html").write_text("<script>alert(1)</script>")
    with pytest.raises(ota.OtaError, match=r"0\.x\.html: not a file of the staged state"):
        ota_publish.publish(repo, now=NOW, cross_check=False)
    (meta / "0.x.html").unlink()
    (meta / "sub").mkdir()
    with pytest.raises(ota.OtaError, match="not a file of the staged state"):
        ota_publish.publish(repo, now=NOW, cross_check=False)
    (meta / "sub").rmdir()
    assert served(repo) == before
    ota_publish.publish(repo, now=NOW, cross_check=False)  # the operator's own change goes through


def test_f2_published_files_are_0644_whatever_the_staged_mode(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    for p in (repo / "staging").rglob("*"):
        if p.is_file():
            os.chmod(p, 0o4755)
    r = ota_publish.publish(repo, now=NOW, cross_check=False)
    assert r.written
    for w in r.written:
        assert stat.S_IMODE((repo / w).stat().st_mode) == 0o644, w


def test_f2_a_published_versioned_file_never_changes(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", consistent=True)
    add(repo, 2)
    meta = repo / "staging" / "metadata"
    published = sorted(p.name for p in (repo / "metadata").glob("*.targets.json"))
    assert published
    name = published[0]
    (meta / name).write_text("{}")
    before = served(repo)
    with pytest.raises(ota.OtaError, match="not a file of the staged state"):
        ota_publish.publish(repo, now=NOW, cross_check=False)
    assert served(repo) == before


# -- F3: with consistent snapshots, unversioned files equal the verified ones ------


def test_f3_unverified_unversioned_targets_are_refused(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", consistent=True)
    add(repo, 2)
    st = repo / "staging"
    tj, d = _staged_targets(repo)
    evil = b"import os  # attacker code\n"
    h = hashlib.sha256(evil).hexdigest()
    signed = d["signed"]
    signed["version"] += 1000  # type: ignore[index]
    signed["targets"]["acme/pico_w/2/boot.py"] = {  # type: ignore[index]
        "length": len(evil),
        "hashes": {"sha256": h},
        "custom": {"sbd": {"product": "acme", "boards": ["pico_w"], "release": 2, "version": "2.0", "floor": 0}},
    }
    d["signatures"] = []
    tj.write_text(json.dumps(d, separators=(",", ":")))
    for n in ("acme/pico_w/2/boot.py", f"acme/pico_w/2/{h}.boot.py"):
        (st / "targets" / n).write_bytes(evil)
    before = served(repo)
    with pytest.raises(ota.OtaError, match=r"targets\.json differs from \d+\.targets\.json"):
        ota_publish.publish(repo, now=NOW, cross_check=True)
    assert served(repo) == before
    # target_names reads the versioned file devices read, not targets.json.
    assert not any("boot.py" in n for n in ota_publish.target_names(repo / "metadata"))


# -- F4: sign shows what it signs ----------------------------------------------------


def test_f4_sign_shows_the_change_and_a_digest_verify_staged_repeats(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    ota.add_release(repo, {"main.py": b"print(2)\n"}, product="acme", board="pico_w", version="2.0")
    st = repo / "staging"
    evil = b"import machine  # attacker\n"
    tj, d = _staged_targets(repo)
    targets = d["signed"]["targets"]  # type: ignore[index]
    custom = targets["acme/pico_w/2/main.py"]["custom"]
    targets["acme/pico_w/2/boot.py"] = {
        "length": len(evil),
        "hashes": {"sha256": hashlib.sha256(evil).hexdigest()},
        "custom": custom,
    }
    tj.write_text(json.dumps(d, separators=(",", ":")))
    (st / "targets" / "acme/pico_w/2/boot.py").write_bytes(evil)
    r = ota.sign_staged(repo, "targets", signer("targets"))
    assert "acme release 2 added: 2 target(s) (published: 0)" in r.changes
    assert "  + acme/pico_w/2/boot.py" in r.changes and "  + acme/pico_w/2/main.py" in r.changes
    assert r.signatures == 1
    r2 = ota.sign_staged(repo, "snapshot", signer("snapshot"))
    assert r2.digest == r.digest  # signatures do not change what is signed
    ota.sign_role(repo, "timestamp", signer("timestamp"))
    v = ota_publish.verify_staged(repo, now=NOW, cross_check=False)
    assert v.digest == r.digest and not v.refused
    # Pruning release 1 and a key change show up too.
    ota_publish.publish(repo, now=NOW, cross_check=False)
    ota.prune_releases(repo, 1)
    r3 = ota.sign_staged(repo, "targets", signer("targets"))
    assert "acme release 1 removed: 0 target(s) (published: 2)" in r3.changes
    assert r3.digest != r.digest
    new_key = ota.signer_from_seed(hashlib.sha256(b"new timestamp").digest())
    ota.change_keys(repo, "timestamp", add=[new_key.public_key], signers=[signer("root")])
    r4 = ota.sign_staged(repo, "timestamp", new_key)
    assert f"  timestamp key added: {new_key.public_key.keyid[:16]}" in r4.changes
    assert any(line.startswith("root v2 (published: v1)") for line in r4.changes)


# -- F5: product and board names --------------------------------------------------


@pytest.mark.parametrize("product", ["..", ".", ".hidden", "a/b", "", "a" * 65, "a b"])
def test_f5_add_refuses_a_product_the_device_would_not_take(tmp_path: Path, product: str) -> None:
    repo = new_repo(tmp_path / "repo")
    with pytest.raises(ota.OtaError, match="product"):
        ota.add_release(repo, {"main.py": b"2"}, product=product, board="pico_w", version="2")
    assert not (repo / "pico_w").exists() and not ota.has_staged(repo)
    with pytest.raises(ota.OtaError, match="board"):
        ota.add_release(repo, {"main.py": b"2"}, product="acme", board="..", version="2")


# -- F6: prune keeps the newest N ----------------------------------------------------


def test_f6_prune_keep_1_after_a_floor_leaves_one_release(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    ota.add_release(repo, {"main.py": b"2"}, product="acme", board="pico_w", version="2", floor=2)
    for n in range(3, 7):
        ota.add_release(repo, {"main.py": str(n).encode()}, product="acme", board="pico_w", version=str(n))
    assert ota.kept_releases(ota.load_current(repo), 1) == {("acme", "pico_w"): {6}}
    assert [p.release for p in ota.prune_releases(repo, 1)] == [1, 2, 3, 4, 5]


# -- F7: a first publish cut short is finished by running it again ----------------------


def test_f7_a_cut_first_publish_finishes_when_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    ota.init_repo(repo, {r: [signer(r).public_key] for r in ROLES}, {})  # type: ignore[arg-type]
    add(repo, 1, sign_root=True)
    real = ota_publish._put

    class Cut(Exception):
        pass

    def put(src: Path, dest: Path) -> bool:
        if dest.name == "snapshot.json":
            raise Cut
        return real(src, dest)

    monkeypatch.setattr(ota_publish, "_put", put)
    with pytest.raises(Cut):
        ota_publish.publish(repo, now=NOW)
    assert (repo / "metadata").is_dir() and not (repo / "metadata" / "1.root.json").exists()
    monkeypatch.setattr(ota_publish, "_put", real)
    r = ota_publish.publish(repo, now=NOW)
    assert r.first and not r.verdict.refused
    assert ota_verify.verify(repo, now=NOW, cross_check=False).metadata == "accepted"


# -- F8: a cut publish of a key change: refused until publish runs again -----------------


def test_f8_a_cut_key_change_is_refused_until_publish_reruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo", consistent=True)
    new_snap = ota.signer_from_seed(hashlib.sha256(b"new snapshot").digest())
    ota.change_keys(
        repo,
        "snapshot",
        add=[new_snap.public_key],
        remove=[signer("snapshot").public_key.keyid],
        signers=[signer("root"), new_snap],
    )
    ota.sign_role(repo, "timestamp", signer("timestamp"))
    real = ota_publish._put

    class Cut(Exception):
        pass

    def put(src: Path, dest: Path) -> bool:
        wrote = real(src, dest)
        if dest.name == "2.root.json":
            raise Cut
        return wrote

    monkeypatch.setattr(ota_publish, "_put", put)
    with pytest.raises(Cut):
        ota_publish.publish(repo, now=NOW)
    # What docs/ota.md says: the new root is served with the old timestamp,
    # signed by nobody the new root trusts for the snapshot: refused (a device
    # keeps what it has) until publish runs again.
    v = ota_verify.verify(repo, now=NOW, cross_check=True)
    assert v.metadata != "accepted" and v.disagreements == []
    monkeypatch.setattr(ota_publish, "_put", real)
    ota_publish.publish(repo, now=NOW)
    assert ota_verify.verify(repo, now=NOW, cross_check=True).metadata == "accepted"


# -- F9: locks, leftovers -----------------------------------------------------------------


def test_f9_verify_staged_reads_only_and_leftovers_are_cleaned(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    # verify --staged takes a shared lock: two at once, and nothing written.
    listing = sorted(str(p) for p in repo.rglob("*"))
    with ota.repo_lock(repo, shared=True):
        v = ota_publish.verify_staged(repo, now=NOW, cross_check=False)
        with pytest.raises(ota.OtaError, match="another sbd ota command"):
            ota.timestamp_again(repo)
    assert not v.refused and sorted(str(p) for p in repo.rglob("*")) == listing
    # A killed publish's leftovers go with the next changing command.
    (repo / ".publish-abc" / "metadata").mkdir(parents=True)
    (repo / "metadata" / ".publish-x1").write_text("half")
    (repo / "targets" / "acme" / "pico_w" / "1" / ".publish-x2").write_text("half")
    ota.timestamp_again(repo)
    assert not (repo / ".publish-abc").exists()
    assert not list(repo.rglob(".publish-*"))


def test_f9_no_write_access_is_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    real = os.open

    def ro_open(path: object, flags: int, *a: int, **kw: object) -> int:
        if str(path).endswith(".lock") and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied")
        return real(path, flags, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", ro_open)
    with pytest.raises(ota.OtaError, match=r"no write access .* changes the repository"):
        ota.timestamp_again(repo)
    assert not ota_publish.verify_staged(repo, now=NOW, cross_check=False).refused
    with pytest.raises(ota.OtaError, match="not an sbd update repository"):
        ota_publish.verify_staged(tmp_path / "nothing", now=NOW, cross_check=False)

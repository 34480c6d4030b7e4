"""`sbd ota publish`: move the staged state into the published one.

Every change to a repository (``sbd ota add``, ``sign``, ``timestamp``,
``rotate-root``, ``revoke``, ``prune``) is written to ``REPO/staging/``;
``REPO/metadata`` and ``REPO/targets`` (what ``sbd ota serve`` or a web host
serves) change only here, and only to a state the device's own verifier
accepted.  In order:

1. A candidate is assembled in a folder beside the published state, the
   staged state being untrusted input until verified: no symbolic link or
   other non-regular file anywhere under staging/; exactly the metadata
   files a publish may serve (contiguous root versions, the three role
   files, and with consistent snapshots the versioned files devices read,
   byte-equal to the unversioned ones); every target path checked with the
   device's rules and confined to its folder before anything is read; then
   every target file the staged targets name (from staging, else from the
   published files).
2. It must follow on from what is published: root versions already
   published unchanged, no role's version going back, a role at the same
   version unchanged, no published target file with other bytes under the
   same name, no published versioned file changed (devices may hold the
   published state; they refuse anything else, or would be fed bytes their
   metadata does not list).
3. `sbd ota verify` judges the candidate as a fresh device pinned to the
   trusted root would (the device's verifier, ngclient as a cross-check):
   refused or a disagreement, and nothing is published.
4. Files are written into the published folders, each one atomically
   (a temporary name, fsync, rename), in the order a client never sees a
   name before what it names exists: target files, then the versioned
   metadata (``N.targets.json``, ``N.snapshot.json``), ``targets.json``,
   ``snapshot.json``, the new root versions, and ``timestamp.json`` last.
   Every file gets mode 0644.  With consistent snapshots every state a
   client can fetch during and after (also after a crash) is a complete
   verified one, except for a key change (a cut between the new root and
   the timestamp is refused by clients until publish runs again).  Without them,
   ``snapshot.json`` and ``targets.json`` are replaced in place before the
   timestamp: a client between the two renames, or a crash there, sees a
   mix that TUF's version links make it refuse (it keeps what it has, never
   installs from it) until ``sbd ota publish`` is run again, which
   finishes the job: the staged state is removed only at the very end.
5. Target files the new targets no longer name (``sbd ota prune``) are
   removed, then the staged state.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata

from . import ota_verify
from .ota import (
    STAGING,
    OtaError,
    check_target_paths,
    check_tree,
    confined,
    has_staged,
    hashed_name,
    locked,
    read_locked,
    read_regular,
    staging_dir,
    state_digest,
)

_ROLE_FILES = ("timestamp.json", "snapshot.json", "targets.json")


class PublishRefused(OtaError):
    """The staged state was not published; `verdict` is the device's when
    it was judged."""

    def __init__(self, message: str, verdict: ota_verify.Verdict | None = None):
        super().__init__(message)
        self.verdict = verdict


@dataclass
class Published:
    verdict: ota_verify.Verdict
    written: list[str] = field(default_factory=list)  # paths relative to the repository, in order
    removed: list[str] = field(default_factory=list)
    first: bool = False  # nothing was published before


def _version(data: bytes) -> int:
    return int(Metadata.from_bytes(data).signed.version)


_VERSIONED = re.compile(r"[1-9][0-9]{0,8}\.(root|snapshot|targets)\.json")


def _load(meta: Path, name: str) -> Metadata[Any]:
    try:
        return Metadata.from_bytes(read_regular(meta / name))
    except (OSError, ValueError, TypeError, KeyError, RepositoryError) as e:
        raise OtaError(f"{meta / name}: cannot read it as TUF metadata ({e.__class__.__name__})") from e


def _root_versions(meta: Path) -> list[int]:
    return sorted(
        int(p.name.split(".")[0]) for p in meta.iterdir() if _VERSIONED.fullmatch(p.name) and "root" in p.name
    )


def _consistent(meta: Path) -> bool:
    roots = _root_versions(meta)
    if not roots:
        raise OtaError(f"{meta}: no N.root.json")
    return bool(_load(meta, f"{roots[-1]}.root.json").signed.consistent_snapshot)


def _versioned_names(meta: Path) -> tuple[str, str] | None:
    """With consistent snapshots, the N.snapshot.json and M.targets.json a
    device reads (named by timestamp.json and that snapshot); else None."""
    if not _consistent(meta):
        return None
    snap_v = _load(meta, "timestamp.json").signed.snapshot_meta.version
    snap_name = f"{snap_v}.snapshot.json"
    meta_targets = _load(meta, snap_name).signed.meta.get("targets.json")
    if meta_targets is None:
        raise OtaError(f"{meta / snap_name}: names no targets.json")
    return snap_name, f"{meta_targets.version}.targets.json"


def target_names(meta: Path) -> set[str]:
    """Every file name under targets/ the targets metadata in meta names:
    the path, and with consistent snapshots also <sha256>.<name> (read from
    the M.targets.json devices read).  OtaError when a path is not one a
    device installs: nothing is read or written for such a state."""
    versioned = _versioned_names(meta)
    targets = _load(meta, versioned[1] if versioned else "targets.json").signed
    check_target_paths(meta, targets.targets)
    out: set[str] = set()
    for path, tf in targets.targets.items():
        out.add(path)
        if versioned:
            out.add(hashed_name(path, tf.hashes.get("sha256")))
    return out


def _check_metadata(meta: Path) -> None:
    """The candidate's metadata holds exactly what a publish may serve:
    contiguous root versions from 1, the three role files, and with
    consistent snapshots the N.snapshot.json / M.targets.json devices read,
    byte-equal to snapshot.json / targets.json (which other clients read)."""
    roots = _root_versions(meta)
    if roots != list(range(1, len(roots) + 1)):
        raise OtaError(f"{meta}: root versions {roots} are not 1, 2, ... without a gap; refusing the staged state")
    for name in _ROLE_FILES:
        if not (meta / name).is_file():
            raise OtaError(f"{meta}: no {name} staged")
    versioned = _versioned_names(meta)
    if versioned is not None:
        for vname, name in zip(versioned, ("snapshot.json", "targets.json"), strict=True):
            if not (meta / vname).is_file():
                raise OtaError(f"{meta}: no {vname} (devices read it with consistent snapshots)")
            if (meta / vname).read_bytes() != (meta / name).read_bytes():
                raise OtaError(
                    f"{meta}: {name} differs from {vname}, the file devices read: refusing to serve an "
                    "unchecked copy (only sbd ota commands should write staging/)"
                )
    allowed = {f"{v}.root.json" for v in roots} | set(_ROLE_FILES) | set(versioned or ())
    for p in sorted(meta.iterdir()):
        if p.name not in allowed:
            raise OtaError(
                f"{p}: not a file of the staged state ({', '.join(sorted(allowed))}); refusing it: "
                "remove it (only sbd ota commands should write staging/)"
            )


def _follows(cand: Path, served: Path) -> list[str]:
    """Why the candidate cannot replace what is published (empty: it can)."""
    problems = []
    pub = served / "metadata"
    for f in sorted(pub.glob("*.root.json")):
        mine = cand / "metadata" / f.name
        if not mine.is_file() or mine.read_bytes() != f.read_bytes():
            problems.append(f"{f.name} is published and the staged state has {'another' if mine.is_file() else 'none'}")
    for f in sorted(pub.iterdir()):
        mine = cand / "metadata" / f.name
        if _VERSIONED.fullmatch(f.name) and "root" not in f.name and mine.is_file():
            if mine.read_bytes() != f.read_bytes():
                problems.append(
                    f"{f.name} is published and the staged state has another: a published version never changes"
                )
    for name in _ROLE_FILES:
        old_f, new_f = pub / name, cand / "metadata" / name
        if not old_f.is_file():
            continue
        old, new = old_f.read_bytes(), new_f.read_bytes()
        if old == new:
            continue
        vo, vn = _version(old), _version(new)
        role = name.split(".")[0]
        if vn < vo:
            problems.append(f"{role} v{vn} is older than the published v{vo}: devices refuse a version going back")
        elif vn == vo:
            problems.append(
                f"{role} v{vn} is published with other content: a device that has it keeps it; "
                f"give the change a new version ({'sbd ota timestamp' if role == 'timestamp' else 'sbd ota add'})"
            )
    for name in sorted(target_names(cand / "metadata")):
        old_t, new_t = confined(served / "targets", name), cand / "targets" / name
        if old_t.is_file() and new_t.is_file() and old_t.read_bytes() != new_t.read_bytes():
            problems.append(f"targets/{name} is published with other bytes under the same name")
    return problems


def _assemble(repo: Path, cand: Path) -> None:
    """A private copy of the staged state in cand: only plain files (no
    symbolic link anywhere under staging/), only the metadata files a
    publish may serve, and only the target files the staged targets name,
    each name checked with the device's path rules and confined to its
    folder before anything is read."""
    st = staging_dir(repo)
    check_tree(st)
    (cand / "metadata").mkdir()
    for p in sorted((st / "metadata").iterdir()):
        if not _VERSIONED.fullmatch(p.name) and p.name not in _ROLE_FILES:
            raise OtaError(
                f"{p}: not a file of the staged state (N.root.json, N.snapshot.json, N.targets.json, "
                f"{', '.join(_ROLE_FILES)}); refusing it: remove it (only sbd ota commands should write staging/)"
            )
        (cand / "metadata" / p.name).write_bytes(read_regular(p))
    try:
        _check_metadata(cand / "metadata")
        names = sorted(target_names(cand / "metadata"))
    except OtaError as e:  # name the staged files, not the private copy
        raise OtaError(str(e).replace(str(cand), str(st))) from e
    (cand / "targets").mkdir()
    for name in names:
        for base in (st / "targets", repo / "targets"):
            src = confined(base, name)
            if src.is_file():
                dest = confined(cand / "targets", name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(read_regular(src))
                break
        # A name found nowhere stays missing: the verifier refuses it.


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _put(src: Path, dest: Path) -> bool:
    """Copy src to dest atomically, unless dest already holds the same
    bytes; whether it wrote."""
    data = read_regular(src)
    if dest.is_file() and dest.read_bytes() == data:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".publish-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # served files are readable; never a staged file's mode (mkstemp makes 0600)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)
    return True


def _metadata_order(meta: Path) -> list[str]:
    """The candidate's metadata files (_check_metadata's exact set) in the
    order they are published."""
    names = sorted(p.name for p in meta.iterdir() if p.is_file())
    versioned = [n for n in names if _VERSIONED.fullmatch(n) and not n.endswith(".root.json")]
    roots = sorted((n for n in names if n.endswith(".root.json")), key=lambda n: int(n.split(".")[0]))
    return [*versioned, "targets.json", "snapshot.json", *roots, "timestamp.json"]


def _remove_unnamed(tdir: Path, keep: set[str]) -> list[str]:
    removed: list[str] = []
    if not tdir.is_dir():
        return removed
    for p in sorted(tdir.rglob("*"), reverse=True):
        rel = p.relative_to(tdir).as_posix()
        if p.is_file() and rel not in keep:
            p.unlink()
            removed.append("targets/" + rel)
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    return removed


@locked
def publish(
    repo: Path, *, trusted_root: Path | None = None, now: str | None = None, cross_check: bool = True
) -> Published:
    """Publish the staged state of repo (see the module's docstring);
    PublishRefused (nothing published, the staged state kept) when a device
    would not take it."""
    if not has_staged(repo):
        if (repo / "metadata").is_dir():
            raise OtaError(f"{repo}: nothing staged to publish (the published state is current)")
        raise OtaError(f"{repo}: not an sbd update repository (no metadata/ and nothing staged)")
    # A first publish cut short leaves metadata/ without 1.root.json (it is
    # written after the targets): running it again is still a first publish.
    first = not (repo / "metadata" / "1.root.json").is_file()
    cand = Path(tempfile.mkdtemp(dir=repo, prefix=".publish-"))
    try:
        _assemble(repo, cand)
        if not first:
            problems = _follows(cand, repo)
            if problems:
                raise PublishRefused("the staged state cannot follow the published one: " + "; ".join(problems))
        root = trusted_root
        if root is None:
            # The root devices were pinned to: the published 1.root.json
            # (the staged one is the same, checked above), or for a first
            # publish the staged one, which is the one to pin.
            root = (cand if first else repo) / "metadata" / "1.root.json"
        verdict = ota_verify.verify(cand, trusted_root=root, now=now, cross_check=cross_check)
        verdict.repo = str(staging_dir(repo))
        if trusted_root is None:
            verdict.trusted_root = str((staging_dir(repo) if first else repo) / "metadata" / "1.root.json")
        if verdict.refused or verdict.disagreements:
            raise PublishRefused(f"{repo}: a device would refuse the staged state; nothing was published", verdict)
        walked = int(verdict.roles.get("root", {}).get("version", 0))
        if _root_versions(cand / "metadata")[-1] != walked:
            raise PublishRefused(f"{repo}: root versions above v{walked} are staged but a device stops at v{walked}")
        out = Published(verdict, first=first)
        for name in sorted(target_names(cand / "metadata")):
            src = cand / "targets" / name
            if _put(src, confined(repo / "targets", name)):
                out.written.append(f"targets/{name}")
        (repo / "targets").mkdir(exist_ok=True)
        (repo / "metadata").mkdir(exist_ok=True)
        for name in _metadata_order(cand / "metadata"):
            if _put(cand / "metadata" / name, repo / "metadata" / name):
                out.written.append(f"metadata/{name}")
        out.removed = _remove_unnamed(repo / "targets", target_names(repo / "metadata"))
        done = repo / (STAGING + ".done")
        os.rename(staging_dir(repo), done)  # one step: a crash never leaves half a staged state
        shutil.rmtree(done)
        return out
    finally:
        shutil.rmtree(cand, ignore_errors=True)


def staged_digest(meta: Path) -> str:
    """state_digest of the metadata in meta (the newest root, and with
    consistent snapshots the versioned files devices read)."""
    versioned = _versioned_names(meta)
    names = {
        "root": f"{_root_versions(meta)[-1]}.root.json",
        "timestamp": "timestamp.json",
        "snapshot": versioned[0] if versioned else "snapshot.json",
        "targets": versioned[1] if versioned else "targets.json",
    }
    return state_digest({role: _load(meta, name) for role, name in names.items()})


@read_locked
def verify_staged(
    repo: Path,
    *,
    trusted_root: Path | None = None,
    board: str | None = None,
    now: str | None = None,
    cross_check: bool = True,
) -> ota_verify.Verdict:
    """`sbd ota verify --staged`: what a fresh device decides about the
    staged state, as `publish` would judge it (default root: the repository's
    own 1.root.json, the published one when there is one).  It only reads
    the repository (a shared lock; a private copy outside it), and the
    verdict carries the staged state's digest, as `sbd ota sign` prints it."""
    if not has_staged(repo):
        if (repo / (STAGING + ".old")).is_dir():
            raise OtaError(
                f"{repo}: a change to the staged state was cut short; the next changing command "
                f"(e.g. sbd ota timestamp {repo}) recovers it, then run this again"
            )
        raise OtaError(f"{repo}: nothing staged")
    cand = Path(tempfile.mkdtemp(prefix="sbd-ota-staged-"))
    try:
        _assemble(repo, cand)
        published = repo / "metadata" / "1.root.json"
        root = trusted_root or (published if published.is_file() else cand / "metadata" / "1.root.json")
        v = ota_verify.verify(cand, trusted_root=root, board=board, now=now, cross_check=cross_check)
        v.repo = str(staging_dir(repo))
        if trusted_root is None:
            v.trusted_root = str(published if published.is_file() else staging_dir(repo) / "metadata" / "1.root.json")
        v.digest = staged_digest(cand / "metadata")
        return v
    finally:
        shutil.rmtree(cand, ignore_errors=True)

"""Update repositories: TUF 1.0 metadata made with python-tuf's metadata API.

A repository folder holds ``metadata/`` (``N.root.json`` for every root
version, ``timestamp.json``, ``snapshot.json``, ``targets.json``, and with
consistent snapshots ``N.snapshot.json`` / ``N.targets.json``) and
``targets/`` (the files): the published state, what ``sbd ota serve`` or a
web host serves.  Every change (``add``, ``sign``, ``timestamp``,
``rotate-root``, ``revoke``, ``prune``) goes to ``staging/`` inside it (the
same layout; ``staging/targets/`` holds only files not published yet), and
``publish`` moves a staged state into the published one only after the
device's own verifier accepts it.  Every metadata file is written in python-tuf's
compact form: a device verifies the signature over the ``signed`` bytes of
that very file (docs/ota.md), so it must be byte-for-byte the canonical
JSON python-tuf signs.

Keys are Ed25519.  Private keys live in PEM files encrypted with a
passphrase (``sbd keys new``), or behind an external signer command; never
in the repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.signer import CryptoSigner, Key, Signature, Signer, SSlibKey

__all__ = ["CryptoSigner", "Key", "SSlibKey", "Signature", "Signer"]
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from .boards import BoardConfig
from .errors import SbdError
from .flash import firmware
from .flash.firmware import AppImage

ROLES = ("root", "timestamp", "snapshot", "targets")
COMPACT = JSONSerializer(compact=True)
# Default lifetimes: a root changes rarely, a timestamp is re-signed often.
LIFETIME = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=30),
    "timestamp": timedelta(days=7),
}
# What a device takes (sdk/sbd/ota/__init__.py; tests/host/test_ota_cli.py
# checks these are the device's): a repository beyond them is refused whole.
DEVICE_MAX_TARGETS = 128
DEVICE_MAX_TARGETS_BYTES = 32768
DEVICE_MAX_TARGET_PATH = 128
# The boot stage stays outside the app slots (DESIGN.md): a release never
# carries it, even with the SDK.
BOOT_STAGE = ("lib/sbd/boot.mpy", "lib/sbd/boot.py", "lib/sbd/bootcache.mpy", "lib/sbd/bootcache.py")
# The SDK modules already imported from /lib (or the frozen SDK) when
# sbd.boot.run() points sbd.__path__ at a slot's lib/sbd: the package itself,
# the boot stage, and what it imports before the switch (sbd._fs at its top,
# sbd.privacy in run(), sbd.events from privacy).  A slot's copies of them
# would never run, so `sbd ota add --with-sdk` leaves them out
# (tests/host/test_ota_cli.py checks this set against what sbd.boot loads).
BOOT_LOADED = ("sbd", "sbd._fs", "sbd.boot", "sbd.events", "sbd.privacy")


def _module_files(module: str) -> tuple[str, ...]:
    stem = "lib/" + ("sbd/__init__" if module == "sbd" else module.replace(".", "/"))
    return (stem + ".mpy", stem + ".py")


NOT_FROM_SLOT = tuple(f for m in BOOT_LOADED for f in _module_files(m))
# Inside a repository: the staged state (changes not published yet).
STAGING = "staging"
# Room left in targets.json for signatures (one is about 150 bytes).
_SIGNATURE_ROOM = 8 * 160


class OtaError(SbdError):
    pass


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# -- keys ---------------------------------------------------------------------


def signer_from_private(priv: Ed25519PrivateKey) -> CryptoSigner:
    return CryptoSigner(priv)


def signer_from_seed(seed: bytes) -> CryptoSigner:
    """A deterministic key (tests and generated vectors only)."""
    return CryptoSigner(Ed25519PrivateKey.from_private_bytes(seed))


def new_key_file(path: Path, passphrase: bytes) -> SSlibKey:
    """Make an Ed25519 key; write it to path as PKCS#8 PEM encrypted with
    the passphrase (mode 0600) and its public half to path + ".pub"."""
    if len(passphrase) < 8:
        raise OtaError("the passphrase must be at least 8 characters")
    if path.exists():
        raise OtaError(f"{path} exists: not overwriting a key")
    priv = Ed25519PrivateKey.generate()
    pem = priv.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    key = SSlibKey.from_crypto(priv.public_key())
    Path(str(path) + ".pub").write_text(json.dumps(key.to_dict() | {"keyid": key.keyid}, indent=1) + "\n")
    return key


def load_signer(path: Path, passphrase: bytes) -> CryptoSigner:
    try:
        priv = serialization.load_pem_private_key(path.read_bytes(), passphrase)
    except (ValueError, TypeError) as e:
        raise OtaError(f"{path}: cannot decrypt the key (wrong passphrase?)") from e
    if not isinstance(priv, Ed25519PrivateKey):
        raise OtaError(f"{path}: not an Ed25519 key")
    return CryptoSigner(priv)


def load_public(path: Path) -> SSlibKey:
    d = json.loads(path.read_text())
    keyid = d.pop("keyid")
    return SSlibKey.from_dict(keyid, d)


SIGNER_TIMEOUT = 300  # seconds: room for a person to touch a hardware token


class CommandSigner(Signer):
    """Signs by running an external command (an HSM tool, a cloud KMS
    client, a script on an offline machine): the bytes to sign on stdin,
    the 64-byte Ed25519 signature (raw or hex) on stdout.  The signature is
    checked against the public key before it is used."""

    def __init__(self, command: list[str], public_key: SSlibKey):
        self.command = command
        self._public = public_key

    @property
    def public_key(self) -> Key:
        return self._public

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri: str, public_key: Key, secrets_handler: Any = None) -> CommandSigner:
        raise NotImplementedError

    def sign(self, payload: bytes) -> Signature:
        # Never put the command line in a message: it may carry a PIN or a
        # token (TimeoutExpired's own text would print it whole).
        try:
            r = subprocess.run(self.command, input=payload, capture_output=True, check=False, timeout=SIGNER_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise OtaError(f"signer command did not answer within {SIGNER_TIMEOUT} s") from None
        except OSError as e:
            raise OtaError(f"signer command could not be started ({e.strerror})") from None
        if r.returncode != 0:
            raise OtaError(f"signer command failed with status {r.returncode}")
        out = r.stdout.strip()
        try:
            sig = bytes.fromhex(out.decode("ascii")) if len(out) == 128 else out
        except ValueError:  # UnicodeDecodeError included
            raise OtaError("signer command did not print a 64-byte Ed25519 signature") from None
        if len(sig) != 64:
            raise OtaError("signer command did not print a 64-byte Ed25519 signature")
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self._public.keyval["public"]))
        try:
            pub.verify(sig, payload)
        except Exception as e:  # cryptography's InvalidSignature
            raise OtaError("signer command's signature does not verify with the role key") from e
        return Signature(self._public.keyid, sig.hex())


# -- metadata -------------------------------------------------------------------


def compact(md: Metadata[Any]) -> bytes:
    return md.to_bytes(COMPACT)


@dataclass
class Release:
    product: str
    boards: list[str]
    release: int
    version: str
    floor: int = 0
    kind: str = "app"  # or "firmware": one ESP32 app image (sdk/sbd/ota/release.py)

    def custom(self) -> dict[str, Any]:
        sbd: dict[str, Any] = {
            "product": self.product,
            "boards": list(self.boards),
            "release": self.release,
            "version": self.version,
            "floor": self.floor,
        }
        if self.kind != "app":  # the device's default; app targets stay as they were
            sbd["kind"] = self.kind
        return {"sbd": sbd}


def release_prefix(product: str, board: str, release: int) -> str:
    return f"{product}/{board}/{release}/"


# A product or board name as the device's release schema takes it
# (sdk/sbd/ota/release.py), and never a name of dots only ("." or ".."):
# the name is a folder of the target path.
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def check_name(what: str, name: str, limit: int) -> None:
    """OtaError unless name is a product (limit 64) or board (32) name a
    device takes and that is safe as one folder of a target path."""
    if not 1 <= len(name) <= limit or not set(name) <= _NAME_CHARS or name[0] == ".":
        raise OtaError(f"{what} {name!r}: use 1 to {limit} of the characters A-Z a-z 0-9 _ . - , not starting with '.'")


def target_path_ok(path: str) -> bool:
    """A target path the tools read or write a file for: the device's
    check_path (relative, '/'-separated, printable ASCII without backslash
    or space, no '', '.' or '..' parts, at most DEVICE_MAX_TARGET_PATH
    characters) and no hidden ('.'-first) part."""
    if not isinstance(path, str) or not 0 < len(path) <= DEVICE_MAX_TARGET_PATH:
        return False
    if any(not ("!" <= c <= "~") or c == "\\" for c in path):
        return False
    return all(part not in ("", ".", "..") and part[0] != "." for part in path.split("/"))


def _is_sha256(h: object) -> bool:
    return isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h)


def hashed_name(path: str, sha256: object) -> str:
    """The consistent-snapshot name of a target: <dir>/<sha256>.<name>."""
    if not _is_sha256(sha256):
        raise OtaError(f"target {path[:DEVICE_MAX_TARGET_PATH]!r}: its sha256 is not 64 lowercase hex digits")
    head, _, name = path.rpartition("/")
    return f"{head}/{sha256}.{name}" if head else f"{sha256}.{name}"


def check_target_paths(where: Path, paths: Iterable[str]) -> None:
    """OtaError naming the first target path that is not target_path_ok:
    the whole state is refused, nothing is read or written for it."""
    for path in paths:
        if not target_path_ok(path):
            shown = path[:DEVICE_MAX_TARGET_PATH] if isinstance(path, str) else type(path).__name__
            raise OtaError(
                f"{where}: target {shown!r} is not a path a device installs (relative, no '.', '..' or "
                "hidden parts, printable ASCII, no backslash): refusing this state; nothing was read or written"
            )


def confined(base: Path, name: str) -> Path:
    """base / name, checked to stay inside base once symlinks are resolved
    (OtaError otherwise): every file the tools read, write or remove for a
    name from metadata goes through here."""
    p = base / name
    if not p.resolve().is_relative_to(base.resolve()):
        raise OtaError(f"{base}: {name[:DEVICE_MAX_TARGET_PATH]!r} leads outside it (a symbolic link?); refusing")
    return p


def check_tree(top: Path) -> None:
    """OtaError when anything under top (top included) is a symbolic link
    or not a regular file or folder: the staged state is written by whoever
    can write staging/, and is read only as plain files."""
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise OtaError(f"{top}: not a plain folder (a symbolic link?); refusing the staged state")
    for dirpath, dirnames, filenames in os.walk(top):
        for n in (*dirnames, *filenames):
            m = os.lstat(os.path.join(dirpath, n)).st_mode
            if not (stat.S_ISDIR(m) or stat.S_ISREG(m)):
                kind = "a symbolic link" if stat.S_ISLNK(m) else "not a regular file"
                raise OtaError(
                    f"{os.path.join(dirpath, n)}: {kind} in the staged state; refusing it "
                    f"(remove it; only sbd ota commands should write {top})"
                )


def read_regular(p: Path) -> bytes:
    """The bytes of p, a regular file opened without following a symbolic
    link at its last part (callers confine the folders)."""
    fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OtaError(f"{p}: not a regular file; refusing")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


class Repo:
    """The four roles in memory, with helpers to change, sign and publish
    them.  Signing is explicit: a role changed but not re-signed is
    published with no valid signature (and refused by every client)."""

    def __init__(
        self,
        root: Metadata[Root],
        timestamp: Metadata[Timestamp],
        snapshot: Metadata[Snapshot],
        targets: Metadata[Targets],
    ):
        self.root = root
        self.timestamp = timestamp
        self.snapshot = snapshot
        self.targets = targets
        self.files: dict[str, bytes] = {}  # target path -> data
        self.roots: dict[int, bytes] = {}  # every published root version

    @classmethod
    def create(
        cls,
        keys: Mapping[str, Iterable[Key]],
        thresholds: Mapping[str, int] | None = None,
        *,
        now: datetime | None = None,
        consistent_snapshot: bool = False,
    ) -> Repo:
        now = now or utcnow()
        root = Root(expires=now + LIFETIME["root"], consistent_snapshot=consistent_snapshot)
        for role in ROLES:
            for k in keys[role]:
                root.add_key(k, role)
            root.roles[role].threshold = (thresholds or {}).get(role, 1)
        return cls(
            Metadata(root),
            Metadata(Timestamp(expires=now + LIFETIME["timestamp"])),
            Metadata(Snapshot(expires=now + LIFETIME["snapshot"])),
            Metadata(Targets(expires=now + LIFETIME["targets"])),
        )

    def md(self, role: str) -> Metadata[Any]:
        return cast("Metadata[Any]", getattr(self, role))

    def sign(self, role: str, signers: Iterable[Signer], *, append: bool = False) -> None:
        md = self.md(role)
        if not append:
            md.signatures.clear()
        for s in signers:
            md.sign(s, append=True)
        if role == "root":
            self.roots[md.signed.version] = compact(md)

    def add_target(self, path: str, data: bytes, custom: Mapping[str, Any] | None = None) -> TargetFile:
        tf = TargetFile.from_data(path, data, ["sha256"])
        if custom is not None:
            tf.unrecognized_fields["custom"] = dict(custom)
        self.targets.signed.targets[path] = tf
        self.files[path] = data
        return tf

    def bump(self, role: str, *, expires: datetime | None = None) -> None:
        s = self.md(role).signed
        s.version += 1
        s.expires = expires or (utcnow() + LIFETIME[role])

    def link_snapshot(self) -> None:
        """Point snapshot at the current targets version (before signing it)."""
        self.snapshot.signed.meta["targets.json"] = MetaFile(self.targets.signed.version)

    def link_timestamp(self, *, hashes: bool = False) -> None:
        """Point timestamp at the current snapshot (after signing it: with
        hashes=True the snapshot's published bytes are hashed)."""
        if hashes:
            data = compact(self.snapshot)
            self.timestamp.signed.snapshot_meta = MetaFile(
                self.snapshot.signed.version, len(data), {"sha256": hashlib.sha256(data).hexdigest()}
            )
        else:
            self.timestamp.signed.snapshot_meta = MetaFile(self.snapshot.signed.version)

    def publish(self, out: Path, *, extra: Mapping[str, bytes] | None = None) -> None:
        """Write the repository (metadata/ and targets/) into out."""
        meta = out / "metadata"
        tdir = out / "targets"
        meta.mkdir(parents=True, exist_ok=True)
        tdir.mkdir(parents=True, exist_ok=True)
        cs = self.root.signed.consistent_snapshot
        self.roots[self.root.signed.version] = compact(self.root)
        for v, data in self.roots.items():
            (meta / f"{v}.root.json").write_bytes(data)
        (meta / "timestamp.json").write_bytes(compact(self.timestamp))
        snap = compact(self.snapshot)
        targ = compact(self.targets)
        (meta / "snapshot.json").write_bytes(snap)
        (meta / "targets.json").write_bytes(targ)
        if cs:
            (meta / f"{self.snapshot.signed.version}.snapshot.json").write_bytes(snap)
            (meta / f"{self.targets.signed.version}.targets.json").write_bytes(targ)
        check_target_paths(out, self.files)
        for path, data in self.files.items():
            p = confined(tdir, path)
            p.parent.mkdir(parents=True, exist_ok=True)
            confined(tdir, path).write_bytes(data)
            if cs:
                confined(tdir, hashed_name(path, hashlib.sha256(data).hexdigest())).write_bytes(data)
        for name, data in (extra or {}).items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)

    @classmethod
    def load(cls, out: Path, *, files: bool = True) -> Repo:
        """The state in out (metadata/, and with files=True the bytes of
        every target found under targets/)."""
        meta = out / "metadata"
        try:
            roots = sorted(int(p.name.split(".")[0]) for p in meta.glob("*.root.json"))
            root = Metadata[Root].from_file(str(meta / f"{roots[-1]}.root.json"))
            repo = cls(
                root,
                Metadata[Timestamp].from_file(str(meta / "timestamp.json")),
                Metadata[Snapshot].from_file(str(meta / "snapshot.json")),
                Metadata[Targets].from_file(str(meta / "targets.json")),
            )
        except (OSError, IndexError, ValueError) as e:
            raise OtaError(f"{out}: not an sbd update repository ({e})") from e
        check_target_paths(out, repo.targets.signed.targets)
        for v in roots:
            repo.roots[v] = (meta / f"{v}.root.json").read_bytes()
        for path in repo.targets.signed.targets if files else ():
            f = confined(out / "targets", path)
            if f.is_file():
                repo.files[path] = read_regular(f)
        return repo


# -- the staged state --------------------------------------------------------------


def staging_dir(path: Path) -> Path:
    return path / STAGING


def has_staged(path: Path) -> bool:
    return (path / STAGING / "metadata").is_dir()


@contextlib.contextmanager
def repo_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """One changing `sbd ota` command at a time on a repository (an
    exclusive lock on REPO/.lock, which is never served; a crash's leftovers
    are cleaned up under it).  shared=True is for commands that only read
    (`sbd ota verify --staged`): a shared lock, taken with read access
    alone, and nothing is recovered or changed."""
    try:
        if shared:
            fd = os.open(path / ".lock", os.O_RDONLY)
        else:
            fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError as e:
        if not path.is_dir():
            raise OtaError(f"{path}: not an sbd update repository (no such folder)") from e
        raise OtaError(f"{path}: not an sbd update repository (no .lock: made by the first sbd ota command)") from e
    except PermissionError as e:
        raise OtaError(
            f"{path}: no write access to {path / '.lock'}: this command changes the repository and needs write "
            "access to it (`sbd ota verify` and `sbd ota verify --staged` only read)"
        ) from e
    except OSError as e:
        raise OtaError(f"{path}: cannot open {path / '.lock'} ({e.strerror})") from e
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OtaError(f"{path}: another sbd ota command is changing this repository; run it again after") from None
        if not shared:
            _recover(path)
        yield
    finally:
        os.close(fd)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def locked(fn: Callable[Concatenate[Path, _P], _R]) -> Callable[Concatenate[Path, _P], _R]:
    """Run fn(path, ...) holding the repository's lock."""

    @functools.wraps(fn)
    def run(path: Path, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with repo_lock(path):
            return fn(path, *args, **kwargs)

    return run


def read_locked(fn: Callable[Concatenate[Path, _P], _R]) -> Callable[Concatenate[Path, _P], _R]:
    """Run fn(path, ...) holding the repository's lock shared (fn only reads)."""

    @functools.wraps(fn)
    def run(path: Path, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with repo_lock(path, shared=True):
            return fn(path, *args, **kwargs)

    return run


def _recover(path: Path) -> None:
    """Finish or undo a swap of the staged state that a crash cut short
    (see _save_staged and ota_publish.publish)."""
    st, old = staging_dir(path), path / (STAGING + ".old")
    if not st.exists() and old.is_dir():
        os.rename(old, st)  # cut between the two renames: the change is lost, as if not run
    for leftover in (old, path / (STAGING + ".new"), path / (STAGING + ".done")):
        if leftover.exists():
            shutil.rmtree(leftover)
    # A publish killed mid-way: its candidate folder and temporary files
    # (".publish-*", never a name a target or metadata file can have).
    for p in path.glob(".publish-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
    for folder in (path / "metadata", path / "targets"):
        if folder.is_dir() and not folder.is_symlink():
            for dirpath, _dirs, names in os.walk(folder):
                for n in names:
                    if n.startswith(".publish-"):
                        os.unlink(os.path.join(dirpath, n))


def _load_staged(path: Path) -> tuple[Repo, Path]:
    """The state to change and the folder to write it to: the staged state,
    or (nothing staged) the published one, whose target files are already
    published and so are not copied into staging."""
    st = staging_dir(path)
    if has_staged(path):
        check_tree(st)
        return Repo.load(st), st
    if not (path / "metadata").is_dir():
        raise OtaError(f"{path}: not an sbd update repository (no metadata/ and nothing staged)")
    return Repo.load(path, files=False), st


def targets_footprint(repo: Repo) -> tuple[int, int]:
    """(targets, bytes) of the targets metadata as a device measures it
    against its bounds (with room for signatures)."""
    return len(repo.targets.signed.targets), len(compact(repo.targets)) + _SIGNATURE_ROOM


@locked
def load_current(path: Path) -> Repo:
    """The state the next change starts from: the staged one, else the
    published one (metadata only)."""
    return _load_staged(path)[0]


def _save_staged(repo: Repo, st: Path) -> None:
    """Write the changed state as the staged one, whole or not at all: a
    copy is written beside it (every published root version is in
    repo.roots), then swapped in by two renames; a crash leaves the old
    staged state or the new one (_recover)."""
    new, old = st.with_name(STAGING + ".new"), st.with_name(STAGING + ".old")
    if new.exists():
        shutil.rmtree(new)
    if (st / "targets").is_dir():
        # Only the staged target files are carried over (checked plain by
        # check_tree when loaded); repo.publish writes the whole metadata,
        # so staging/metadata holds exactly what publish accepts.
        check_tree(st)
        shutil.copytree(st / "targets", new / "targets", symlinks=True)
    repo.publish(new)
    _fsync_tree(new)  # on disk before the swap: a power cut leaves old or new
    if st.exists():
        os.rename(st, old)
    os.rename(new, st)
    _fsync_dir(st.parent)
    if old.exists():
        shutil.rmtree(old)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(top: Path) -> None:
    for dirpath, _dirs, names in os.walk(top):
        for n in names:
            fd = os.open(os.path.join(dirpath, n), os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


# -- the repository workflow (sbd ota ...) -----------------------------------------


def init_repo(
    path: Path,
    keys: Mapping[str, list[SSlibKey]],
    thresholds: Mapping[str, int],
    *,
    consistent_snapshot: bool = False,
) -> Repo:
    """A new repository, staged: root v1 naming the keys, empty targets;
    nothing signed yet (`sbd ota sign` each role, then `sbd ota publish`)."""
    if (path / "metadata").exists() or staging_dir(path).exists():
        raise OtaError(f"{path}: already a repository")
    for role in ROLES:
        if not keys.get(role):
            raise OtaError(f"no key for the {role} role")
        if not 1 <= thresholds.get(role, 1) <= len(keys[role]):
            raise OtaError(f"{role}: threshold must be between 1 and the number of its keys")
    repo = Repo.create(keys, thresholds, consistent_snapshot=consistent_snapshot)
    repo.link_snapshot()
    repo.link_timestamp()
    path.mkdir(parents=True, exist_ok=True)
    with repo_lock(path):
        _save_staged(repo, staging_dir(path))
    return repo


def newest_release(repo: Repo, product: str, board: str) -> int:
    best = 0
    for tf in repo.targets.signed.targets.values():
        c = tf.custom.get("sbd") if isinstance(tf.custom, dict) else None
        if isinstance(c, dict) and c.get("product") == product and board in c.get("boards", ()):
            best = max(best, int(c.get("release", 0)))
    return best


def add_release(
    path: Path,
    files: Mapping[str, bytes],
    *,
    product: str,
    board: str,
    version: str,
    release: int | None = None,
    floor: int = 0,
) -> int:
    """Add an app release (files: path in the app -> bytes) for one board;
    bump targets, snapshot and timestamp (their signatures are dropped:
    sign them again).  Returns the release number."""
    return _add(path, files, product=product, board=board, version=version, release=release, floor=floor)


# The target name of a firmware release: <product>/<board>/<release>/firmware.bin.
FIRMWARE_TARGET = "firmware.bin"


def firmware_partition_size(board: BoardConfig) -> int:
    """The largest app image an update can carry for the board: the smallest
    of its OTA app partitions (the next one may be any of them); OtaError
    for a board without two (an RP2 board has no app partitions at all)."""
    ota_parts = [p for p in board.app_partitions if p.subtype.startswith("ota_")]
    if board.family != "esp32" or len(ota_parts) < 2:
        why = (
            "RP2 boards have no app partitions: their MicroPython firmware is changed over USB only (sbd flash)"
            if board.family == "rp2"
            else "its partition table has fewer than two OTA app partitions (ota_0, ota_1)"
        )
        raise OtaError(
            f"board {board.name} ({board.chip}) cannot take a firmware update: {why}; "
            "publish app releases for it with `sbd ota add REPO APPDIR`"
        )
    return min(p.size for p in ota_parts)


def add_firmware_release(
    path: Path,
    data: bytes,
    *,
    product: str,
    board: BoardConfig,
    version: str,
    release: int | None = None,
    floor: int = 0,
    source: str = "firmware",
    allow_list: Path | None = None,
) -> tuple[int, AppImage]:
    """Add a release that is one ESP32 firmware image (a MicroPython app
    image for the board's next app partition, target kind "firmware").
    Everything is checked before anything is written: the board takes
    firmware updates, the image is on the allow-list (when given), it is an
    app image for the board's chip that ESP-IDF would boot, and it fits the
    smallest OTA app partition.  Returns the release number and the image."""
    limit = firmware_partition_size(board)
    if allow_list is not None:
        firmware.check_allowed(data, allow_list, source)
    img = firmware.check_app_image(data, board, source)
    if img.length > limit:
        raise OtaError(
            f"{source}: {img.length} bytes does not fit the {limit}-byte app partition of board {board.name}; "
            "a device would refuse it (nothing was written)"
        )
    number = _add(
        path,
        {FIRMWARE_TARGET: data},
        product=product,
        board=board.name,
        version=version,
        release=release,
        floor=floor,
        kind="firmware",
    )
    return number, img


@locked
def _add(
    path: Path,
    files: Mapping[str, bytes],
    *,
    product: str,
    board: str,
    version: str,
    release: int | None,
    floor: int,
    kind: str = "app",
) -> int:
    check_name("product", product, 64)
    check_name("board", board, 32)
    repo, st = _load_staged(path)
    newest = newest_release(repo, product, board)
    number = release if release is not None else newest + 1
    if number <= newest:
        raise OtaError(f"release {number} is not newer than release {newest}")
    if not 0 <= floor <= number:
        raise OtaError("the security floor must be between 0 and the release number")
    rel = Release(product, [board], number, version, floor, kind)
    for rel_path, data in sorted(files.items()):
        parts = rel_path.split("/")
        if rel_path.startswith("/") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise OtaError(f"{rel_path}: not a path inside the app")
        target = release_prefix(product, board, number) + rel_path
        if len(target) > DEVICE_MAX_TARGET_PATH:
            raise OtaError(f"{target}: longer than the {DEVICE_MAX_TARGET_PATH} characters a device takes")
        repo.add_target(target, data, rel.custom())
    _bump_chain(repo, ("targets", "snapshot", "timestamp"))
    count, size = targets_footprint(repo)
    if count > DEVICE_MAX_TARGETS or size > DEVICE_MAX_TARGETS_BYTES:
        raise OtaError(
            f"targets metadata would hold {count} targets in about {size} bytes; a device takes at most "
            f"{DEVICE_MAX_TARGETS} in {DEVICE_MAX_TARGETS_BYTES} bytes, so it would refuse the whole repository "
            f"(nothing was written): remove old releases first with `sbd ota prune {path} --keep 1`"
        )
    _save_staged(repo, st)
    return number


def _bump_chain(repo: Repo, roles: Iterable[str]) -> None:
    for role in roles:
        repo.bump(role)
        repo.md(role).signatures.clear()
    repo.link_snapshot()
    repo.link_timestamp()


def state_digest(mds: Mapping[str, Metadata[Any]]) -> str:
    """A digest of what the four roles sign (their canonical signed bytes,
    not the signatures): the same before and after any signature is added,
    so `sbd ota sign` and `sbd ota verify --staged` print the same one for
    the same staged state."""
    h = hashlib.sha256()
    for role in ("root", "targets", "snapshot", "timestamp"):
        h.update(f"{role}:{hashlib.sha256(mds[role].signed_bytes).hexdigest()}\n".encode())
    return h.hexdigest()


def _releases(targets: Targets) -> dict[tuple[str, int], dict[str, str]]:
    """(product, release) -> {target path: sha256} of the sbd releases; the
    targets of no sbd release under ("", 0)."""
    out: dict[tuple[str, int], dict[str, str]] = {}
    for tp, tf in targets.targets.items():
        c = _sbd_of(tf)
        key = (str(c.get("product")), int(c["release"])) if c is not None else ("", 0)
        out.setdefault(key, {})[tp] = str(tf.hashes.get("sha256", "")) + f"/{tf.length}"
    return out


def describe_change(published: Repo | None, staged: Repo, *, limit: int = 12) -> list[str]:
    """What the staged state changes against the published one, for people
    to read before they sign: root version, keys and thresholds, and the
    releases and target files added, removed or changed."""
    lines: list[str] = []
    if published is None:
        lines.append("nothing published yet: everything below is new")
    new_root, old_root = staged.root.signed, published.root.signed if published else None
    if old_root is None or new_root.version != old_root.version:
        was = f" (published: v{old_root.version})" if old_root else ""
        lines.append(f"root v{new_root.version}{was}")
    for role in ROLES:
        new_ids = set(new_root.roles[role].keyids)
        old_ids = set(old_root.roles[role].keyids) if old_root else set()
        for k in sorted(new_ids - old_ids):
            lines.append(f"  {role} key added: {k[:16]}")
        for k in sorted(old_ids - new_ids):
            lines.append(f"  {role} key removed: {k[:16]}")
        thr = new_root.roles[role].threshold
        if old_root is None or old_root.roles[role].threshold != thr:
            lines.append(f"  {role} threshold: {thr} of {len(new_ids)} key(s)")
    if old_root is not None and old_root.consistent_snapshot != new_root.consistent_snapshot:
        lines.append(f"  consistent snapshots: {'on' if new_root.consistent_snapshot else 'off'}")
    new_rel = _releases(staged.targets.signed)
    old_rel = _releases(published.targets.signed) if published else {}

    def name(key: tuple[str, int]) -> str:
        return f"{key[0]} release {key[1]}" if key[1] else "targets of no sbd release"

    for key in sorted(set(new_rel) | set(old_rel)):
        new_t, old_t = new_rel.get(key, {}), old_rel.get(key, {})
        if new_t == old_t:
            continue
        what = "added" if not old_t else "removed" if not new_t else "changed"
        lines.append(f"{name(key)} {what}: {len(new_t)} target(s) (published: {len(old_t)})")
        rows = [f"  + {p}" for p in sorted(set(new_t) - set(old_t))]
        rows += [f"  - {p}" for p in sorted(set(old_t) - set(new_t))]
        rows += [f"  ~ {p} (other bytes)" for p in sorted(set(new_t) & set(old_t)) if new_t[p] != old_t[p]]
        lines.extend(rows[:limit])
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more")
    if len(lines) == (1 if published is None else 0):
        lines.append("no change to root keys or targets (versions and expiry only)")
    return lines


@dataclass
class SignResult:
    signatures: int  # how many the role now carries
    changes: list[str]  # describe_change against the published state
    digest: str  # state_digest of the staged state signed


@locked
def sign_role(path: Path, role: str, signer: Signer) -> int:
    """Add signer's signature to role; returns how many it now carries."""
    return _sign(path, role, signer).signatures


@locked
def sign_staged(path: Path, role: str, signer: Signer) -> SignResult:
    """sign_role, and what was signed: the change against the published
    state and the staged state's digest (from the very state signed)."""
    return _sign(path, role, signer)


def _sign(path: Path, role: str, signer: Signer) -> SignResult:
    if role not in ROLES:
        raise OtaError(f"no role {role!r}")
    repo, st = _load_staged(path)
    md = repo.md(role)
    keyids = repo.root.signed.roles[role].keyids
    if signer.public_key.keyid not in keyids:
        # A new root may also need the previous root's keys (rotation).
        prev = repo.roots.get(repo.root.signed.version - 1)
        prev_ids = Metadata[Root].from_bytes(prev).signed.roles["root"].keyids if prev and role == "root" else []
        if signer.public_key.keyid not in prev_ids:
            raise OtaError(f"this key is not a {role} key of the repository")
    published = Repo.load(path, files=False) if (path / "metadata" / "timestamp.json").is_file() else None
    changes = describe_change(published, repo)
    md.sign(signer, append=True)
    _save_staged(repo, st)
    return SignResult(len(md.signatures), changes, state_digest({r: repo.md(r) for r in ROLES}))


@locked
def timestamp_again(path: Path) -> None:
    """A new timestamp version (to sign) so devices see the repository is
    still live before the old one expires."""
    repo, st = _load_staged(path)
    _bump_chain(repo, ("timestamp",))
    _save_staged(repo, st)


# -- key changes: root rotation and revocation ---------------------------------------

# What a changed key of a role makes stale: that role's metadata, and what
# names its version (snapshot names targets, timestamp names snapshot).
_RESIGN = {"root": (), "targets": ("targets", "snapshot", "timestamp"), "snapshot": ("snapshot", "timestamp")}
_RESIGN["timestamp"] = ("timestamp",)


def resolve_keyid(text: str, candidates: Iterable[str]) -> str:
    """A key named by its .pub file, its key id, or a unique prefix of at
    least 8 hex digits of it (`sbd keys new` prints 16)."""
    cands = list(candidates)
    p = Path(text)
    if p.is_file():
        try:
            keyid = load_public(p).keyid
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise OtaError(f"{p}: not a public key file (.pub from `sbd keys new`)") from e
        return keyid
    t = text.lower()
    if len(t) < 8 or any(c not in "0123456789abcdef" for c in t):
        raise OtaError(f"{text!r}: neither a .pub file nor a key id (64 hex digits, or a prefix of 8 or more)")
    hits = [k for k in cands if k.startswith(t)]
    if len(hits) != 1:
        raise OtaError(f"key {text}: {'no' if not hits else 'more than one'} key of the role has this id")
    return hits[0]


def _root_result(repo: Repo) -> tuple[Root | None, Any]:
    """The previous root (None for v1) and the RootVerificationResult of
    the newest root: a threshold of the previous root's keys and of its own."""
    md = repo.root
    prev_bytes = repo.roots.get(md.signed.version - 1)
    prev = Metadata[Root].from_bytes(prev_bytes).signed if prev_bytes is not None else None
    return prev, md.signed.get_root_verification_result(prev, md.signed_bytes, md.signatures)


def role_status(repo: Repo, role: str) -> str:
    """'<role> vN: signed' or what it still misses, for people."""
    md = repo.md(role)
    root = repo.root.signed
    v = md.signed.version
    if role == "root":
        prev, res = _root_result(repo)
        if res.verified:
            return f"root v{v}: signed"
        parts = []
        if prev is not None and res.first.missing:
            parts.append(f"{res.first.missing} more from the v{v - 1} root keys")
        if res.second.missing:
            parts.append(f"{res.second.missing} more from its own root keys")
        return f"root v{v}: needs " + " and ".join(parts) + " (sbd ota sign --role root)"
    r = root.get_verification_result(role, md.signed_bytes, md.signatures)
    if r.verified:
        return f"{role} v{v}: signed"
    return f"{role} v{v}: needs {r.missing} more signature(s) from its keys (sbd ota sign --role {role})"


@locked
def change_keys(
    path: Path,
    role: str,
    *,
    add: Iterable[Key] = (),
    remove: Iterable[str] = (),
    threshold: int | None = None,
    signers: Iterable[Signer] = (),
) -> list[str]:
    """A new root version (the trusted one + 1) with role's keys changed:
    `remove` (key ids) taken out, `add` put in, `threshold` set.  When role
    is not root, what its keys signed is bumped and must be signed again
    (targets -> targets, snapshot, timestamp; snapshot -> snapshot,
    timestamp; timestamp -> timestamp).  Each signer signs everything it is
    a key for: the new root needs a threshold of the OLD root keys and of
    its own (TUF 5.3.4), the bumped roles their role's keys.  Returns a
    status line per changed role."""
    if role not in ROLES:
        raise OtaError(f"no role {role!r}")
    repo, st = _load_staged(path)
    old = repo.root
    if not _root_result(repo)[1].verified:
        raise OtaError(
            f"root v{old.signed.version} is not fully signed yet: finish it (sbd ota sign --role root) before "
            "changing keys again, or devices cannot walk from it"
        )
    new = Metadata[Root].from_bytes(compact(old))
    new.signatures.clear()
    r = new.signed
    r.version += 1
    r.expires = utcnow() + LIFETIME["root"]
    removed = list(dict.fromkeys(remove))
    for keyid in removed:
        if keyid not in r.roles[role].keyids:
            raise OtaError(f"key {keyid[:16]}… is not a {role} key of the repository")
        r.revoke_key(keyid, role)
    for k in add:
        if k.keyid in r.roles[role].keyids:
            raise OtaError(f"key {k.keyid[:16]}… is already a {role} key")
        if k.keyid in removed:
            raise OtaError(f"key {k.keyid[:16]}… is both removed and added")
        r.add_key(k, role)
    n = len(r.roles[role].keyids)
    if n == 0:
        raise OtaError(f"the {role} role would have no key left: give a new key")
    thr = r.roles[role].threshold if threshold is None else threshold
    if not 1 <= thr <= n:
        raise OtaError(f"{role}: threshold {thr} with {n} key(s): give --threshold between 1 and {n}")
    r.roles[role].threshold = thr
    repo.root = new
    stale = _RESIGN[role]
    if stale:
        _bump_chain(repo, stale)
    old_root_ids = set(old.signed.roles["root"].keyids)
    for s in signers:
        kid = s.public_key.keyid
        used = False
        if kid in old_root_ids or kid in r.roles["root"].keyids:
            new.sign(s, append=True)
            used = True
        for other in stale:
            if kid in r.roles[other].keyids:
                repo.md(other).sign(s, append=True)
                used = True
        if not used:
            what = " or ".join(("root", *stale))
            raise OtaError(f"key {kid[:16]}… signs none of what changed (not a {what} key)")
    _save_staged(repo, st)
    return [role_status(repo, x) for x in ("root", *stale)]


# -- pruning old releases ------------------------------------------------------------------


@dataclass
class Pruned:
    product: str
    boards: list[str]
    release: int
    targets: int


def _sbd_of(tf: TargetFile) -> dict[str, Any] | None:
    c = tf.custom.get("sbd") if isinstance(tf.custom, dict) else None
    if not isinstance(c, dict) or not isinstance(c.get("release"), int) or not isinstance(c.get("boards"), list):
        return None
    return c


def kept_releases(repo: Repo, keep: int) -> dict[tuple[str, str], set[int]]:
    """(product, board) -> the release numbers `sbd ota prune --keep` keeps:
    the newest `keep`.  A security floor keeps nothing older: a device
    installs only the newest release, and refuses any below its floor."""
    numbers: dict[tuple[str, str], set[int]] = {}
    for tf in repo.targets.signed.targets.values():
        c = _sbd_of(tf)
        if c is None:
            continue
        for b in c["boards"]:
            numbers.setdefault((str(c.get("product")), str(b)), set()).add(c["release"])
    return {key: set(sorted(rel, reverse=True)[:keep]) for key, rel in numbers.items()}


@locked
def prune_releases(path: Path, keep: int, *, dry_run: bool = False) -> list[Pruned]:
    """Remove from the staged targets every release of a product and board
    but the newest `keep`;
    a target naming several boards goes only when no board keeps its
    release.  Bumps targets, snapshot and timestamp (sign them again, then
    `sbd ota publish`, which deletes the files).  Nothing is written when
    nothing goes, or with dry_run."""
    if keep < 1:
        raise OtaError("--keep must be at least 1: the newest release of each product and board always stays")
    repo, st = _load_staged(path)
    kept = kept_releases(repo, keep)
    gone: dict[tuple[str, int], Pruned] = {}
    for tp, tf in sorted(repo.targets.signed.targets.items()):
        c = _sbd_of(tf)
        if c is None:
            continue
        product, number = str(c.get("product")), c["release"]
        if any(number in kept[(product, str(b))] for b in c["boards"]):
            continue
        p = gone.setdefault((product, number), Pruned(product, [str(b) for b in c["boards"]], number, 0))
        p.targets += 1
        if not dry_run:
            del repo.targets.signed.targets[tp]
            repo.files.pop(tp, None)
            for n in (tp, hashed_name(tp, tf.hashes.get("sha256"))):
                confined(st / "targets", n).unlink(missing_ok=True)
    if gone and not dry_run:
        _bump_chain(repo, ("targets", "snapshot", "timestamp"))
        _save_staged(repo, st)
    return sorted(gone.values(), key=lambda p: (p.product, p.release))

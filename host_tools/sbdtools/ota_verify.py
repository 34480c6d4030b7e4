"""`sbd ota verify`: what a device would decide about an update repository.

The device's own verifier (``sdk/sbd/ota``, the very modules a board runs,
imported on CPython through the shims) walks the repository from a pinned
root as a fresh device would: root rotations, timestamp, snapshot, targets,
then every target downloaded and checked (length, SHA-256) and sbd's release
checks (product, board, one release number, version and floor, paths).

python-tuf's ngclient, configured with the device's size bounds and the same
time, is run over the same files as a cross-check: where the two disagree on
a TUF decision (metadata, or a target's bytes) something is wrong in one of
them, and the report says so loudly.  The device is stricter by design in a
few places (docs/ota.md: compact layout only, no unknown fields, no
delegations); those show up as disagreements too, which is what a publisher
needs to know.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuf.api import exceptions as tuf_exc
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from . import shims
from .ota import OtaError

ACCEPTED = "accepted"
# The device's bounds (sbd/ota/__init__.py), given to ngclient too.
_BOUNDS = ("root", "timestamp", "snapshot", "targets")


@dataclass
class TargetVerdict:
    path: str
    device: str  # "accepted", or the device's reason word (mismatch, refused, ...)
    detail: str = ""  # the device's message (names roles and numbers only)
    ngclient: str | None = None  # "accepted", an ngclient exception name, or None (not run)
    product: str | None = None
    board: str | None = None
    release: int | None = None
    version: str | None = None
    newest: bool = False  # the release a fresh device of this board installs


@dataclass
class Verdict:
    repo: str
    trusted_root: str
    now: str
    metadata: str  # "accepted" or the device's reason word
    detail: str = ""
    ngclient: str | None = None
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: list[TargetVerdict] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # refusals that name no target
    digest: str | None = None  # the staged state's digest (verify --staged), as `sbd ota sign` prints it

    @property
    def refused(self) -> bool:
        return self.metadata != ACCEPTED or bool(self.problems) or any(t.device != ACCEPTED for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["refused"] = self.refused
        return d


def device_now(when: datetime | None = None) -> str:
    """A time in the form the device takes (TUF's: YYYY-MM-DDTHH:MM:SSZ)."""
    when = when or datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_now(text: str) -> str:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise OtaError(f"--now {text!r}: not an ISO 8601 time (e.g. 2026-11-30T12:00:00Z)") from e
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return device_now(when)


def _device() -> tuple[Any, Any, Any, Any]:
    shims.install()
    mods = [importlib.import_module(m) for m in ("sbd._fs", "sbd.ota", "sbd.ota.client", "sbd.ota.release")]
    return mods[0], mods[1], mods[2], mods[3]


def _sbd_custom(custom: Any) -> dict[str, Any] | None:
    c = custom.get("sbd") if isinstance(custom, dict) else None
    if not isinstance(c, dict):
        return None
    if not isinstance(c.get("product"), str) or not isinstance(c.get("release"), int):
        return None
    boards = c.get("boards")
    if not isinstance(boards, list) or not all(isinstance(b, str) for b in boards):
        return None
    return c


def _run_device(repo: Path, root: bytes, now: str, board: str | None, verdict: Verdict, work: Path) -> dict[str, str]:
    """The device's decisions; returns the TUF-level verdict of every target
    (its bytes alone, before sbd's release checks) for the cross-check."""
    fs, ota, client, release = _device()
    saved = fs.STATE_DIR
    fs.STATE_DIR = str(work / "device-state")
    tuf_level: dict[str, str] = {}
    try:
        try:
            t = client.refresh(client.DirFetcher(str(repo / "metadata")), now, root)
        except ota.OtaError as e:
            verdict.metadata, verdict.detail = e.reason, str(e)
            return tuf_level
        verdict.metadata = ACCEPTED
        for role in _BOUNDS:
            md = getattr(t, role)
            verdict.roles[role] = {"version": md["version"], "expires": md["expires"]}
        targets = client.DirFetcher(str(repo / "targets"))
        found: dict[tuple[str, str], set[int]] = {}
        rows: dict[str, TargetVerdict] = {}
        customs: dict[str, dict[str, Any]] = {}
        for path in sorted(t.targets["targets"]):
            try:
                client.download(t, targets, path, str(work / "target"))
                tuf_level[path] = ACCEPTED
                row = TargetVerdict(path, ACCEPTED)
            except ota.OtaError as e:
                tuf_level[path] = e.reason
                row = TargetVerdict(path, e.reason, str(e))
            c = _sbd_custom(t.target(path)[2])
            if c is None:
                row.detail = row.detail or "not part of an sbd release (a device ignores it)"
                if board is None:
                    verdict.targets.append(row)
                continue
            rows[path], customs[path] = row, c
            for b in c["boards"]:
                if board is None or b == board:
                    found.setdefault((c["product"], b), set()).add(c["release"])
        if board is not None and not found:
            verdict.problems.append(f"no release for {board}: a device of that board installs nothing")
        for (product, b), numbers in sorted(found.items()):
            newest = release.newest(t, product, b)
            for n in sorted(numbers):
                rel = None
                refusal: tuple[str, str] | None = None
                try:
                    rel = release.release(t, product, b, n)
                    paths = [p for p, _ in rel.files]
                    if rel.firmware is not None:
                        paths.append(rel.firmware)
                        if rows[rel.firmware].device == ACCEPTED:
                            refusal = firmware_refusal(repo / "targets" / rel.firmware, b)
                except ota.OtaError as e:
                    refusal = (e.reason, str(e))
                    paths = [
                        p
                        for p, c in customs.items()
                        if c["product"] == product and c["release"] == n and b in c["boards"]
                    ]
                for p in paths:
                    base = rows[p]
                    row = TargetVerdict(
                        p,
                        base.device,
                        base.detail,
                        product=product,
                        board=b,
                        release=n,
                        version=None if rel is None else rel.version,
                        newest=n == newest,
                    )
                    if refusal is not None and row.device == ACCEPTED:
                        row.device, row.detail = refusal
                    verdict.targets.append(row)
    finally:
        fs.STATE_DIR = saved
    return tuf_level


def firmware_refusal(target: Path, board: str) -> tuple[str, str] | None:
    """What a device of `board` says about a firmware target whose bytes
    TUF accepted, beyond TUF: an RP2 board (or any without two OTA app
    partitions) installs no firmware (refused); an image larger than the app
    partition is refused before it is written (refused); an image ESP-IDF
    would not take fails set_boot (malformed), checked on the host with
    esp_image_verify's checks (flash.firmware.check_app_image, not strict:
    the app description and exact length are what `sbd ota add` asks of a
    publisher, not what a device checks).  None when the device would take
    it, or when the board has no config here (nothing to judge it by)."""
    from . import boards
    from .errors import ConfigError
    from .flash import firmware
    from .ota import firmware_partition_size

    if board not in boards.names():  # a name from the repository, never a path to load
        return None
    try:
        cfg = boards.load(board)
    except ConfigError:
        return None
    try:
        limit = firmware_partition_size(cfg)
    except OtaError as e:
        return "refused", str(e)
    data = target.read_bytes()
    if len(data) > limit:
        return "refused", f"firmware: {len(data)} bytes, larger than the {limit}-byte app partition"
    try:
        firmware.check_app_image(data, cfg, target.name, strict=False)
    except firmware.FirmwareError as e:
        return "malformed", f"firmware: ESP-IDF would not boot it ({e})"
    return None


class _RepoFetcher(FetcherInterface):
    """ngclient's fetcher over the repository folder (file://metadata/...,
    file://targets/...), never outside it."""

    def __init__(self, root: Path):
        self.root = root.resolve()

    def _fetch(self, url: str) -> Iterator[bytes]:
        name = url.split("://", 1)[1]
        p = (self.root / name).resolve()
        if not p.is_relative_to(self.root) or not p.is_file():
            raise tuf_exc.DownloadHTTPError(f"{name} not found", 404)
        data = p.read_bytes()
        return iter([data[i : i + 4096] for i in range(0, len(data), 4096)] or [b""])


def _run_ngclient(repo: Path, root: bytes, now: str, work: Path) -> tuple[str, dict[str, str]]:
    _, ota, _, _ = _device()
    limits = {
        "root": ota.MAX_ROOT_BYTES,
        "timestamp": ota.MAX_TIMESTAMP_BYTES,
        "snapshot": ota.MAX_SNAPSHOT_BYTES,
        "targets": ota.MAX_TARGETS_BYTES,
    }
    config = UpdaterConfig(max_root_rotations=32, **{f"{k}_max_length": v for k, v in limits.items()})
    state, tdir = work / "ngclient-state", work / "ngclient-targets"
    state.mkdir()
    tdir.mkdir()
    out: dict[str, str] = {}
    try:
        up = Updater(
            str(state), "file://metadata/", str(tdir), "file://targets/", _RepoFetcher(repo), config, bootstrap=root
        )
        # ngclient judges expiry against the time its trusted set was made;
        # give it the device's time so both judge the same instant.
        up._trusted_set.reference_time = datetime.fromisoformat(now.replace("Z", "+00:00"))
        up.refresh()
    except (tuf_exc.RepositoryError, tuf_exc.DownloadError, ValueError) as e:
        return type(e).__name__, out
    for path in sorted(up._trusted_set.targets.targets):
        try:
            info = up.get_targetinfo(path)
            if info is None:
                out[path] = "TargetNotFound"
                continue
            up.download_target(info, str(tdir / "t"))
            out[path] = ACCEPTED
        except (tuf_exc.RepositoryError, tuf_exc.DownloadError) as e:
            out[path] = type(e).__name__
    return ACCEPTED, out


def verify(
    repo: Path,
    *,
    trusted_root: Path | None = None,
    board: str | None = None,
    now: str | None = None,
    cross_check: bool = True,
) -> Verdict:
    """What a fresh device pinned to trusted_root (default: the repository's
    own metadata/1.root.json) decides about repo at time now (default: this
    machine's clock), for one board or every board the releases name."""
    if not (repo / "metadata").is_dir():
        raise OtaError(f"{repo}: not an sbd update repository (no metadata/ folder)")
    root_file = trusted_root or repo / "metadata" / "1.root.json"
    try:
        root = root_file.read_bytes()
    except OSError as e:
        raise OtaError(f"{root_file}: cannot read the trusted root ({e.strerror})") from e
    now = now or device_now()
    verdict = Verdict(str(repo), str(root_file), now, metadata="")
    with tempfile.TemporaryDirectory(prefix="sbd-ota-verify-") as tmp:
        work = Path(tmp)
        tuf_level = _run_device(repo, root, now, board, verdict, work)
        if not cross_check:
            return verdict
        ng_meta, ng_targets = _run_ngclient(repo, root, now, work)
    verdict.ngclient = ng_meta
    if (ng_meta == ACCEPTED) != (verdict.metadata == ACCEPTED):
        verdict.disagreements.append(f"metadata: the device says {verdict.metadata}, ngclient says {ng_meta}")
    for row in verdict.targets:
        row.ngclient = ng_targets.get(row.path)
    if ng_meta == ACCEPTED and verdict.metadata == ACCEPTED:
        for path in sorted(set(tuf_level) | set(ng_targets)):
            dev, ng = tuf_level.get(path, "absent"), ng_targets.get(path, "absent")
            if (dev == ACCEPTED) != (ng == ACCEPTED):
                verdict.disagreements.append(f"target {path}: the device says {dev}, ngclient says {ng}")
    return verdict

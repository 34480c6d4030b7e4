"""`sbd ota push`: install a release over the serial line.

The host copies the repository's metadata and the files of the newest
release for the board into ``/.sbd/push/`` on the board (mpremote, as
``sbd deploy`` does), then runs the device's own update path there with
``sbd.ota.client.DirFetcher``: the board verifies everything itself (root
chain from its persisted root or the pinned one, timestamp, snapshot,
targets, release checks, each file's length and SHA-256) and installs into
the slot that is not running, on trial; a firmware release (an ESP32 app
image from ``sbd ota add --firmware``) goes into the next app partition with
``sbd.ota.firmware.install``, set to boot on trial.  The host only chooses
what to copy; it decides nothing.  The copy is removed afterwards, installed
or not.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from . import deploy
from .ota import OtaError, Repo, release_prefix

PUSH_DIR = ".sbd/push"  # on the board, relative to / (mpremote's cwd)
_MARK = "@@SBD-RESULT"


class Runner(Protocol):
    name: str
    port: str

    def run(self, script: str, *, timeout: float | None = None) -> dict[str, Any]: ...


@dataclass
class PushResult:
    installed: int | None  # the release number, or None when refused
    version: str | None
    refused: str | None  # the device's reason word
    detail: str
    files: int  # files copied to the board


def _releases(repo: Repo, board: str) -> dict[str, int]:
    """product -> newest release number for board (what the host offers)."""
    out: dict[str, int] = {}
    for tf in repo.targets.signed.targets.values():
        c = tf.custom.get("sbd") if isinstance(tf.custom, dict) else None
        if isinstance(c, dict) and board in c.get("boards", ()) and isinstance(c.get("release"), int):
            p = str(c.get("product"))
            out[p] = max(out.get(p, 0), c["release"])
    return out


def stage(repo_dir: Path, board: str, product: str | None, trusted_root: Path | None, out: Path) -> tuple[str, int]:
    """Lay out under out/.sbd/push what goes to the board; (product, release)."""
    repo = Repo.load(repo_dir)
    offered = _releases(repo, board)
    if product is None:
        if len(offered) != 1:
            names = ", ".join(sorted(offered)) or "none"
            raise OtaError(f"{repo_dir}: give --product (products with a release for {board}: {names})")
        product = next(iter(offered))
    if product not in offered:
        raise OtaError(f"{repo_dir}: no release of {product} for {board}")
    number = offered[product]
    dest = out / PUSH_DIR
    shutil.copytree(repo_dir / "metadata", dest / "metadata")
    prefix = release_prefix(product, board, number)
    src = repo_dir / "targets" / prefix
    if src.is_dir():
        shutil.copytree(src, dest / "targets" / prefix)
    root = trusted_root or repo_dir / "metadata" / "1.root.json"
    try:
        shutil.copyfile(root, dest / "root.json")
    except OSError as e:
        raise OtaError(f"{root}: cannot read the trusted root ({e.strerror})") from e
    return product, number


# Runs on the board.  The trust anchor, in order: the root the board already
# trusts (persisted by earlier updates), else the pushed root when it matches
# the factory record's pin, else the pushed root only if the person pushing
# named it (--trusted-root): never a root taken on faith from the copy.
DEVICE = """
import gc, json, sys
# The REPL session is resumed, not reset: what earlier scripts (the deploy's
# hashing) loaded is still there.  Drop the SDK's modules so this one loads
# what it needs into a collected heap (a virtual ESP32's 110 KiB ran out
# now and then on a second push).
for _k in list(sys.modules):
    if _k == "sbd" or _k.startswith("sbd."):
        del sys.modules[_k]
gc.collect()
from sbd import _fs, ota
from sbd.ota import client, release
R = "/" + PUSH_DIR
def _pin():
    from sbd import identity
    if not identity.is_provisioned():
        return None
    pin = identity.load().trust_root
    # The record's code and its key derivation are not needed again here.
    for k in list(sys.modules):
        if k.startswith("sbd.identity") or k.startswith("sbd.crypto."):
            del sys.modules[k]
    return pin
def _go():
    import os
    pin = _pin()
    gc.collect()
    try:
        os.stat(client.state_dir() + "/root.json")
        have_root = True
    except OSError:
        have_root = False
    if not have_root and pin is None and not EXPLICIT_ROOT:
        return {"error": "NoTrustRoot", "msg": "the board trusts no root yet"}
    with open(R + "/root.json", "rb") as f:
        initial = f.read()
    try:
        now = client.newest_time(NOW)
        t = client.refresh(client.DirFetcher(R + "/metadata"), now, initial, pin=pin)
        initial = None
        n = release.newest(t, PRODUCT, BOARD)
        rel = release.release(t, PRODUCT, BOARD, n)
        gc.collect()
        if rel.firmware is not None:
            # An ESP32 firmware release: into the next app partition, set to
            # boot on trial (no confirm in this session: the reset boots it).
            from sbd.ota import firmware as inst
        else:
            from sbd.ota import slots as inst
        slot = inst.install(t, rel, client.DirFetcher(R + "/targets"))
    except ota.OtaError as e:
        return {"refused": e.reason, "msg": str(e)}
    return {"installed": n, "version": rel.version, "slot": slot}
try:
    r = _go()
except Exception as e:
    r = {"error": type(e).__name__, "msg": str(e)}
_fs.remove_tree(R)
print(MARK, json.dumps(r))
"""

_HINTS = {
    "ImportError": " (put the SDK on the board first: `sbd deploy`)",
    "NoTrustRoot": (
        " and has no pin in its factory record: provision it with `sbd provision --trust-root`, or name the "
        "root you vouch for with --trusted-root"
    ),
    "SlotError": " (boot the release on trial and confirm it, or let it roll back, before the next update)",
}


def push(
    link: Runner,
    repo_dir: Path,
    *,
    board: str,
    product: str | None = None,
    trusted_root: Path | None = None,
    now: str | None = None,
) -> PushResult:
    """Copy the newest release of product for board to the board on link and
    install it there with the device's own client."""
    if not (repo_dir / "metadata").is_dir():
        raise OtaError(f"{repo_dir}: not an sbd update repository (no metadata/ folder)")
    now = now or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryDirectory(prefix="sbd-ota-push-") as tmp:
        product, _ = stage(repo_dir, board, product, trusted_root, Path(tmp))
        files = sorted(str(p.relative_to(tmp)) for p in Path(tmp).rglob("*") if p.is_file())
        link.run(f"from sbd import _fs\n_fs.remove_tree('/{PUSH_DIR}')\nprint({_MARK!r}, '{{}}')\n")
        deploy.deploy(link.port, Path(tmp), files)
    head = (
        f"PUSH_DIR = {PUSH_DIR!r}\nPRODUCT = {product!r}\nBOARD = {board!r}\nNOW = {now!r}\n"
        f"EXPLICIT_ROOT = {trusted_root is not None!r}\nMARK = {_MARK!r}\n"
    )
    doc = link.run(head + DEVICE)
    if "error" in doc:
        err, msg = str(doc.get("error")), str(doc.get("msg", ""))[:300]
        raise OtaError(f"{link.name}: {err}: {msg}{_HINTS.get(err, '')}")
    if "refused" in doc:
        return PushResult(None, None, str(doc["refused"]), str(doc.get("msg", ""))[:300], len(files))
    return PushResult(int(doc["installed"]), str(doc.get("version")), None, "", len(files))


def result_json(r: PushResult) -> str:
    return json.dumps(r.__dict__)

"""Helpers for sbd.ota tests and benches on virtual boards: a signed TUF
repository (python-tuf, through sbdtools.ota) holding releases, ESP32 app
images of a chosen size for firmware releases, the device tests' signed
repository (tests/device/data/ota/valid_updates) on a board with release 1
installed and confirmed, a confirmed boot pointer for hand-made slots, and
a board clock that is not trusted time."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sbdtools.ota import ROLES, Release, Repo, Signer, release_prefix, signer_from_seed

if TYPE_CHECKING:
    from harness.vboards import SdkBoard

PRODUCT = "acme-sensor"
NOW = "2026-11-30T00:00:00Z"
# make_repo's keys: one a role, from these seeds.
SEEDS = {"root": "root", "timestamp": "ts", "snapshot": "sn", "targets": "tg"}
# Its state 1 holds releases 1 and 2 of acme-sensor for pico_w.
VALID_UPDATES = Path(__file__).resolve().parents[1] / "device" / "data" / "ota" / "valid_updates"

# sbd.boot's pointer to a confirmed release 1 in slot a.
CONFIRMED_POINTER = {
    "slot": "a",
    "release": 1,
    "version": "1.0",
    "rfloor": 0,
    "trial": 0,
    "confirmed": True,
    "floor": 0,
    "prev": None,
    "failed": 0,
}


def install_script(n: int) -> str:
    """A board script that installs release n from /repo (valid_updates_files)."""
    return f"""
from sbd.ota import client, release, slots
root = open('/repo/root.json', 'rb').read()
t = client.refresh(client.DirFetcher('/repo/metadata'), '2026-11-30T00:00:00Z', root)
slots.install(t, release.release(t, 'acme-sensor', 'pico_w', {n}), client.DirFetcher('/repo/targets'))
"""


# Installs release 1 from /repo and confirms it.
INSTALL_CONFIRMED_1 = install_script(1) + "from sbd import boot\nboot.select()\nprint('CONFIRMED', boot.confirm())\n"


def esp32_app(version: str, size: int) -> bytes:
    """A valid ESP-IDF app image for the ESP32 (what set_boot and the
    bootloader check) with about `size` bytes of seeded data in it."""
    from esptool.bin_image import ELFSection, ESP32FirmwareImage

    img = ESP32FirmwareImage(append_digest=True)
    img.entrypoint = 0x40080000
    data = random.Random(version).randbytes(size - size % 4)
    img.segments = [
        ELFSection(b".dram0.data", 0x3FFB0000, b"SBD-FW " + version.encode().ljust(9) + data, 0),
        ELFSection(b".iram0.text", 0x40080000, bytes(64), 0),
    ]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "app.bin"
        img.save(str(path))
        return path.read_bytes()


def make_repo(out: Path, board: str, releases: dict[int, dict[str, tuple[str, bytes]]]) -> None:
    """Publish releases {number: {path: (kind, data)}} for `board` into out
    (metadata/ with 1.root.json, targets/), every role signed, expiring in
    2099."""
    keys = {r: [signer_from_seed(hashlib.sha256(s.encode()).digest())] for r, s in SEEDS.items()}
    repo = far_repo(keys)
    for n, files in releases.items():
        custom = Release(PRODUCT, [board], n, f"{n}.0.0").custom()
        for path, (kind, data) in files.items():
            c = {"sbd": {**custom["sbd"], "kind": kind}} if kind != "app" else custom
            repo.add_target(release_prefix(PRODUCT, board, n) + path, data, c)
    sign_and_publish(repo, keys, out)


def far_repo(keys: dict[str, list[Signer]], thresholds: dict[str, int] | None = None) -> Repo:
    """A new repository whose roles hold keys' signers' public keys, every
    role expiring in 2099."""
    future = datetime(2099, 1, 1, tzinfo=timezone.utc)
    repo = Repo.create({r: [s.public_key for s in keys[r]] for r in ROLES}, thresholds, now=future)
    for role in ROLES:
        repo.md(role).signed.expires = future
    return repo


def sign_and_publish(repo: Repo, signers: dict[str, list[Signer]], out: Path) -> None:
    """Sign every role with signers (role: list), snapshot and timestamp
    linked to what they cover, and publish into out."""
    repo.sign("root", signers["root"])
    repo.sign("targets", signers["targets"])
    repo.link_snapshot()
    repo.sign("snapshot", signers["snapshot"])
    repo.link_timestamp()
    repo.sign("timestamp", signers["timestamp"])
    repo.publish(out)


def board_files(repo: Path, at: str = "/repo") -> dict[str, bytes]:
    """The repository as files for a virtual board's filesystem."""
    return {f"{at}/{p.relative_to(repo)}": p.read_bytes() for p in repo.rglob("*") if p.is_file()}


@contextlib.contextmanager
def serve_after_failures(repo: Path, failures: int) -> Iterator[int]:
    """The repository over HTTP, answering its first `failures` requests
    with 503 (a server briefly away): deterministic, no timing."""
    left = [failures]

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if left[0] > 0:
                left[0] -= 1
                self.send_error(503)
                return
            super().do_GET()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(repo)))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(10)


def fake_clock(year: int) -> str:
    """A board script that puts a `time` whose gmtime() says January 1 of year
    in place of the real one, for an app imported after it (sbd was imported
    by the ROM already): the board's clock never set, or set by one forged
    NTP reply."""
    return f"""
import sys, time as _t
class _Clock:
    pass
_c = _Clock()
for _n in dir(_t):
    if not _n.startswith('__'):
        setattr(_c, _n, getattr(_t, _n))
_c.gmtime = lambda *a: ({year}, 1, 1, 0, 0, 0, 0, 1)
sys.modules['time'] = _c
"""


def valid_updates_files() -> dict[str, bytes]:
    """VALID_UPDATES' root.json and state 1 as a board's files under /repo."""
    return {"/repo/root.json": (VALID_UPDATES / "root.json").read_bytes(), **board_files(VALID_UPDATES / "1")}


def board_with_release_1(make_sdk_board: Callable[..., SdkBoard]) -> SdkBoard:
    """A new board holding valid_updates_files, release 1 installed and confirmed."""
    board = make_sdk_board(files=valid_updates_files())
    out = board.exec(INSTALL_CONFIRMED_1, timeout=300).output
    assert "CONFIRMED True" in out, out
    return board

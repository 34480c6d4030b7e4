"""Helpers for sbd.ota tests and benches on virtual boards: a signed TUF
repository (python-tuf, through sbdtools.ota) holding releases, and ESP32
app images of a chosen size for firmware releases."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import random
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from sbdtools.ota import Release, Repo, release_prefix, signer_from_seed

PRODUCT = "acme-sensor"
NOW = "2026-11-30T00:00:00Z"


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
    from datetime import datetime, timezone

    k = {r: signer_from_seed(hashlib.sha256(r.encode()).digest()) for r in ("root", "ts", "sn", "tg")}
    future = datetime(2099, 1, 1, tzinfo=timezone.utc)
    repo = Repo.create(
        {
            "root": [k["root"].public_key],
            "timestamp": [k["ts"].public_key],
            "snapshot": [k["sn"].public_key],
            "targets": [k["tg"].public_key],
        },
        now=future,
    )
    for role in ("root", "timestamp", "snapshot", "targets"):
        repo.md(role).signed.expires = future
    for n, files in releases.items():
        custom = Release(PRODUCT, [board], n, f"{n}.0.0").custom()
        for path, (kind, data) in files.items():
            c = {"sbd": {**custom["sbd"], "kind": kind}} if kind != "app" else custom
            repo.add_target(release_prefix(PRODUCT, board, n) + path, data, c)
    repo.sign("root", [k["root"]])
    repo.sign("targets", [k["tg"]])
    repo.link_snapshot()
    repo.sign("snapshot", [k["sn"]])
    repo.link_timestamp()
    repo.sign("timestamp", [k["ts"]])
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

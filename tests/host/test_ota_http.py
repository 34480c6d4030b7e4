"""End to end over HTTP: `sbd ota serve` on 127.0.0.1 and sbd.ota's HTTP
fetcher on the real MicroPython unix port (and on CPython through the
shims): refresh, install into a slot, boot it; a tampered target served the
same way is refused and the running release stays."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbd_cli import sbd_ota_serve

from harness import devscript

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "device" / "data" / "ota"

SCRIPT = """
from sbd import _fs, boot, ota
from sbd.ota import client, release, slots
from sbd.ota.http import HttpFetcher
_fs.STATE_DIR = STATE + "/state"
boot.APP_DIR = STATE + "/app"
root = open(ROOTFILE, "rb").read()
def install(port):
    t = client.refresh(HttpFetcher("127.0.0.1", port, "/metadata/"), "2026-11-30T00:00:00Z", root)
    n = release.newest(t, "acme-sensor", "pico_w")
    slots.install(t, release.release(t, "acme-sensor", "pico_w", n), HttpFetcher("127.0.0.1", port, "/targets/"))
    return n
try:
    print("INSTALLED", install(PORT1))
    d = boot.select()
    print("BOOTS", open(d + "/app.mpy", "rb").read())
    boot.confirm()
    print("INSTALLED", install(PORT2))
except ota.OtaError as e:
    print("REFUSED", e.reason)
d = boot.select()
print("BOOTS", open(d + "/app.mpy", "rb").read())
"""


@pytest.fixture
def servers() -> Iterator[tuple[int, int]]:
    # Release 1 from one state, then release 2 either intact or tampered.
    with sbd_ota_serve(DATA / "valid_updates" / "0") as good, sbd_ota_serve(DATA / "tampered_target" / "1") as bad:
        yield good, bad


def _run(runtime: str, ports: tuple[int, int], script: str = SCRIPT) -> str:
    with tempfile.TemporaryDirectory() as state:
        head = (
            f"STATE = {state!r}\nROOTFILE = {str(DATA / 'valid_updates' / 'root.json')!r}\n"
            f"PORT1 = {ports[0]}\nPORT2 = {ports[1]}\n"
        )
        mpy = devscript.compile_sdk(Path(state) / "mpy") if runtime == "micropython" else None
        return devscript.run(runtime, head + script, heap="160K", mpy=mpy)


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_update_over_http_and_a_tampered_one_refused(servers: tuple[int, int], runtime: str) -> None:
    out = _run(runtime, servers)
    assert out.splitlines() == [
        "INSTALLED 1",
        "BOOTS b\"M\\x06print('release 1')\\n\"",
        "REFUSED mismatch",
        "BOOTS b\"M\\x06print('release 1')\\n\"",
    ], out


ENDLESS = """
from sbd import _fs, ota
from sbd.ota import client
from sbd.ota.http import HttpFetcher
_fs.STATE_DIR = STATE + "/state"
root = open(ROOTFILE, "rb").read()
try:
    client.refresh(HttpFetcher("127.0.0.1", PORT1, "/metadata/"), "2026-11-30T00:00:00Z", root)
except ota.OtaError as e:
    print("REFUSED", e.reason)
import os
try:
    names = sorted(os.listdir(STATE + "/state/ota"))
except OSError:
    names = []
print("PERSISTED", names)
"""


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_an_endless_timestamp_over_http_is_refused_and_nothing_persisted(runtime: str) -> None:
    with sbd_ota_serve(DATA / "endless_timestamp" / "1") as port:
        out = _run(runtime, (port, port), ENDLESS)
    assert out.splitlines() == ["REFUSED too-large", "PERSISTED []"], out

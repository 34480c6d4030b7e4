"""`sbd ota serve` answers Range requests (RFC 9110): a device resuming an
interrupted download asks for the rest of a target (`bytes=N-`) and gets a
206 with only those bytes; a range past the end gets a 416; a Range it does
not understand gets the whole file (a server may ignore Range, and the
device's fetcher then skips the bytes it has)."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbd_cli import sbd_ota_serve

from harness import devscript

ROOT = Path(__file__).resolve().parents[2]
REPO = ROOT / "tests" / "device" / "data" / "ota" / "valid_updates" / "0"
TARGET = "targets/acme-sensor/pico_w/1/app.mpy"


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with sbd_ota_serve(REPO) as p:
        yield p


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/" + path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_an_open_range_gets_the_rest_of_the_file(port: int) -> None:
    whole = (REPO / TARGET).read_bytes()
    assert len(whole) > 10
    status, h, body = _get(port, TARGET, {"Range": "bytes=7-"})
    assert status == 206
    assert body == whole[7:]
    assert h["content-range"] == f"bytes 7-{len(whole) - 1}/{len(whole)}"
    assert h["content-length"] == str(len(whole) - 7)


def test_a_closed_range_gets_just_those_bytes_and_an_overlong_end_is_clipped(port: int) -> None:
    whole = (REPO / TARGET).read_bytes()
    status, h, body = _get(port, TARGET, {"Range": "bytes=2-5"})
    assert (status, body, h["content-range"]) == (206, whole[2:6], f"bytes 2-5/{len(whole)}")
    status, h, body = _get(port, TARGET, {"Range": f"bytes=3-{len(whole) + 100}"})
    assert (status, body) == (206, whole[3:])


def test_a_range_past_the_end_is_416_and_nothing_is_sent(port: int) -> None:
    n = len((REPO / TARGET).read_bytes())
    for bad in (f"bytes={n}-", f"bytes={n + 50}-"):
        status, h, body = _get(port, TARGET, {"Range": bad})
        assert (status, body, h["content-range"]) == (416, b"", f"bytes */{n}"), bad


def test_a_range_it_does_not_take_gets_the_whole_file(port: int) -> None:
    whole = (REPO / TARGET).read_bytes()
    # Several ranges, other units, suffix ranges, an end before the start.
    for odd in ("bytes=0-1,4-5", "items=1-", "bytes=-5", "bytes=99999999999999999999-", "bytes=5-2"):
        status, _, body = _get(port, TARGET, {"Range": odd})
        assert (status, body) == (200, whole), odd


def test_ranges_stay_inside_the_published_folders(port: int) -> None:
    for path in ("staging/x", "../README.md", "metadata/../../README.md", ".lock", "metadata/a%00b"):
        status, _, body = _get(port, path, {"Range": "bytes=0-"})
        assert status == 404 and b"sbd" not in body, path


def test_the_device_fetcher_resumes_from_an_offset_with_a_206(port: int) -> None:
    # The SDK's own HTTP fetcher (CPython, through the shims): open(name, offset)
    # asks for the rest and checks the Content-Range starts where it asked.
    script = (
        "from sbd.ota import http\n"
        f"f = http.HttpFetcher('127.0.0.1', {port})\n"
        f"b = f.open({TARGET!r}, 9)\n"
        "buf = bytearray(4096)\n"
        "out = b''\n"
        "while True:\n"
        "    n = b.readinto(buf)\n"
        "    if not n:\n"
        "        break\n"
        "    out += bytes(buf[:n])\n"
        "b.close()\n"
        "print('LEFT', b.length if hasattr(b, 'length') else -1)\n"
        "print('GOT', out.hex())\n"
    )
    out = devscript.run("cpython", script, timeout=60)
    got = re.search(r"GOT ([0-9a-f]*)", out)
    assert got and bytes.fromhex(got.group(1)) == (REPO / TARGET).read_bytes()[9:]


def test_a_symlink_out_of_the_published_folders_is_not_followed(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the fleet")
    (repo / "targets" / "leak.txt").symlink_to(secret)
    (repo / "targets" / "same.mpy").symlink_to(repo / TARGET)  # stays inside: served
    with sbd_ota_serve(repo) as port:
        for rng in ({}, {"Range": "bytes=0-"}):
            status, _, body = _get(port, "targets/leak.txt", rng)
            assert status == 404 and b"fleet" not in body
        status, _, body = _get(port, "targets/same.mpy")
        assert (status, body) == (200, (REPO / TARGET).read_bytes())

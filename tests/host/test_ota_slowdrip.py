"""Slow-drip downloads (TUF's slow-retrieval attack) over real HTTP on
127.0.0.1, on the real MicroPython unix port and on CPython through the
shims: a server that sends a metadata file or a target one byte at a time
(in its head or in its body) makes sbd.ota.http give up with TooSlow
(reason "too-slow", an ota.rejected event); the trusted metadata and the
installed release are unchanged; the same update from a normal server then
installs (an interrupted target resumes).

The fetcher's time bound is made small through its settings (allowance
0.2 s, a minimum rate no link reaches).  Nothing here measures time: the
drip server cannot deliver the file sooner than one byte per 0.2 s, far
longer than the bound, so the outcome does not depend on the machine's
load (a slower client only reaches its bound sooner)."""

from __future__ import annotations

import http.server
import tempfile
import threading
import time
from collections.abc import Generator
from pathlib import Path

import pytest

from harness import devscript

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "device" / "data" / "ota" / "valid_updates"
DRIP_S = 0.2


class _Drip(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repo: Path, drip: str, mode: str) -> None:
        self.repo = repo
        self.drip = drip  # requests whose path contains this drip
        # "head": the headers drip; "body": the body does; "lie": the body
        # drips under a Content-Length of 10**9; "status": a status line
        # whose code is words
        self.mode = mode
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Drip

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.server.repo / self.path.lstrip("/")
        if ".." in self.path or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data)
        try:
            if self.server.drip not in self.path:
                self.wfile.write(head + data)
            elif self.server.mode == "lie":
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
                self._drip(data)
            elif self.server.mode == "status":
                self.wfile.write(b"HTTP/1.0 Please-visit-evil.example/pay-now\r\n\r\n")
            elif self.server.mode == "head":
                self._drip(head + data)
            else:
                self.wfile.write(head)
                self._drip(data)
        except OSError:
            pass  # the client gave up

    def _drip(self, data: bytes) -> None:
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(DRIP_S)


def _server(repo: Path, drip: str = "\0", mode: str = "body") -> Generator[int, None, None]:
    srv = _Drip(repo, drip, mode)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


PRELUDE = """
import os
from sbd import _fs, boot, events, ota
from sbd.ota import client, release, slots
from sbd.ota.http import HttpFetcher
_fs.STATE_DIR = STATE + "/state"
boot.APP_DIR = STATE + "/app"
root = open(ROOTFILE, "rb").read()
NOW = "2026-11-30T00:00:00Z"
seen = []
events.subscribe(lambda name, f: seen.append((name, f.get("reason"))))
def fetcher(port, base, slow):
    if slow:
        return HttpFetcher("127.0.0.1", port, base, allowance=0.2, min_rate=100000000)
    return HttpFetcher("127.0.0.1", port, base)
def refresh(port, slow=False):
    return client.refresh(fetcher(port, "/metadata/", slow), NOW, root)
def install(t, port, slow=False):
    n = release.newest(t, "acme-sensor", "pico_w")
    slots.install(t, release.release(t, "acme-sensor", "pico_w", n), fetcher(port, "/targets/", slow))
    return n
def trusted():
    d = STATE + "/state/ota"
    return [(n, open(d + "/" + n, "rb").read()) for n in sorted(os.listdir(d))]
def booted():
    return open(boot.select() + "/app.mpy", "rb").read()
print("INSTALLED", install(refresh(GOOD1), GOOD1))
print("BOOTS", booted())
boot.confirm()
"""


def _attempt(setup: str, step: str) -> str:
    # PRELUDE, then `step` against the misbehaving server SLOW: refused or
    # not, with nothing changed, then release 2 from a good server.
    return (
        PRELUDE
        + setup
        + "before = (trusted(), boot.installed())\ntry:\n    "
        + step
        + """
    print("ACCEPTED")
except ota.OtaError as e:
    print("REFUSED", e.reason, ("ota.rejected", e.reason) in seen)
print("UNCHANGED", (trusted(), boot.installed()) == before)
print("BOOTS", booted())
print("INSTALLED", install(refresh(GOOD2), GOOD2))
"""
    )


METADATA = _attempt("", "refresh(SLOW, True)")
TARGET = _attempt("t = refresh(GOOD2)\n", "install(t, SLOW, True)")


def _run(runtime: str, script: str, ports: dict[str, int]) -> str:
    with tempfile.TemporaryDirectory() as state:
        head = f"STATE = {state!r}\nROOTFILE = {str(DATA / 'root.json')!r}\n"
        head += "".join(f"{k} = {v}\n" for k, v in ports.items())
        mpy = devscript.compile_sdk(Path(state) / "mpy") if runtime == "micropython" else None
        # 256K: not a heap test (test_ota_heap.py is)
        return devscript.run(runtime, head + script, heap="256K", mpy=mpy)


RELEASE1 = "BOOTS b\"M\\x06print('release 1')\\n\""


def _refused(runtime: str, script: str, drip: str, mode: str) -> list[str]:
    # Release 1 installed from a good server, then the refresh (METADATA) or
    # the install (TARGET) of release 2 from a server misbehaving on `drip`,
    # then release 2 from a good one: the board's lines.
    servers = [_server(DATA / "0"), _server(DATA / "1"), _server(DATA / "1", drip, mode)]
    try:
        good1, good2, slow = (next(s) for s in servers)
        out = _run(runtime, script, {"GOOD1": good1, "GOOD2": good2, "SLOW": slow})
    finally:
        for s in servers:
            s.close()
    return out.splitlines()


def _expect(refused: str) -> list[str]:
    return ["INSTALLED 1", RELEASE1, refused, "UNCHANGED True", RELEASE1, "INSTALLED 2"]


@pytest.mark.parametrize("mode", ["head", "body"])
@pytest.mark.parametrize("what", ["metadata", "target"])
@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_dripping_server_is_given_up_and_nothing_changes(runtime: str, what: str, mode: str) -> None:
    # metadata: timestamp.json of the newer state drips; target: release 2's app.mpy does.
    drip = "timestamp.json" if what == "metadata" else "/2/app.mpy"
    out = _refused(runtime, METADATA if what == "metadata" else TARGET, drip, mode)
    assert out == _expect("REFUSED too-slow True"), out


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_claimed_length_other_than_the_signed_one_is_refused_unread(runtime: str) -> None:
    # The time bound grows with the Content-Length: a server claiming 10**9
    # bytes for release 2's app.mpy while dripping it would get 10 s here
    # (a day on a board's default bound), enough for the drip to finish.
    # Refused at the header instead: too-large, nothing read.
    out = _refused(runtime, TARGET, "/2/app.mpy", "lie")
    assert out == _expect("REFUSED too-large True"), out


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_status_line_with_words_for_a_code_is_malformed_and_not_quoted(runtime: str) -> None:
    script = METADATA.replace('print("REFUSED", e.reason,', 'print("REFUSED", e.reason, "evil" in str(e),')
    out = _refused(runtime, script, "timestamp.json", "status")
    assert out == _expect("REFUSED malformed False True"), out

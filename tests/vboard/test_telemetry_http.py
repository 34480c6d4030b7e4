"""sbd.net.http.HttpSink: telemetry POSTed to an HTTP endpoint on the host,
from a virtual board (real MicroPython) and under CPython through the shims.
The endpoint refuses the first request (500): that event stays queued and
goes with the next pump; the bodies are the events, in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.vboards import SdkBoard


class Endpoint:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.requests = 0
        self.headers: list[str] = []


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, int]]:
    ep = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            ep.requests += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ep.headers.append(self.headers.get("Authorization", ""))
            if ep.requests == 1:
                self.send_response(500)
            else:
                ep.bodies.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield ep, srv.server_address[1]
    srv.shutdown()
    srv.server_close()


SCRIPT = """
from sbd import telemetry as t
from sbd.net import Backoff
from sbd.net.http import HttpSink
t.configure(8, ())
sink = HttpSink('127.0.0.1', '/events', port={port}, headers=b'Authorization: Bearer dev-token\\r\\n',
                backoff=Backoff(1, 1))
t.add_sink(sink)
t.record('auth.failure', 1)
t.record('auth.failure', 2)
first = t.pump()
import time
time.sleep_ms(5)
second = t.pump()
print('HTTP', first, second, t.sent, t.pending(), sink.failures)
"""


def test_http_sink_from_a_virtual_board(endpoint: tuple[Endpoint, int], make_sdk_board: object) -> None:
    ep, port = endpoint
    board: SdkBoard = make_sdk_board()  # type: ignore[operator]
    out = board.exec(SCRIPT.format(port=port)).output
    assert "HTTP 0 2 2 0 1" in out, out
    assert [b["f"] for b in ep.bodies] == [{"count": 1}, {"count": 2}]
    assert ep.headers[-1] == "Bearer dev-token"


def test_http_sink_under_cpython(endpoint: tuple[Endpoint, int]) -> None:
    from sbdtools import shims

    shims.install()
    from sbd import telemetry as t
    from sbd.net import Backoff
    from sbd.net.http import HttpSink

    ep, port = endpoint
    t.configure(8, ())
    sink = HttpSink("127.0.0.1", "/events", port=port, backoff=Backoff(1, 1))
    t.add_sink(sink)
    try:
        t.record("auth.failure", 1)
        assert t.pump() == 0 and t.pending() == 1  # the 500 keeps it queued
        import time

        time.sleep(0.005)
        assert t.pump() == 1 and t.pending() == 0
    finally:
        t.remove_sink(sink)
    assert [b["f"] for b in ep.bodies] == [{"count": 1}]
    with pytest.raises(ValueError):
        HttpSink("h", "no-slash")
    with pytest.raises(ValueError):
        HttpSink("h\r\nX: y", "/")

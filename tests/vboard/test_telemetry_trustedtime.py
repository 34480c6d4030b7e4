"""Trusted time from a verified server, on a virtual board (real MicroPython,
mbedTLS): sbd.net.http.HttpSink takes the Date header of an HTTPS endpoint
whose certificate chain (a private test CA, the only trust anchor: CA
pinning) and host name it verified into sbd.trustedtime; the same reply over
plain HTTP or with checks turned off moves nothing, a server from another CA
is refused outright, an older or malformed date never moves the time back,
and the time survives a reboot."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools.vboard import runner

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer: tuple[Key, x509.Name] | None, *, ca: bool) -> tuple[Key, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    signer, issuer_name = issuer if issuer else (key, _name(subject))
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return key, b.sign(signer, hashes.SHA256())


class Endpoint:
    def __init__(self) -> None:
        self.date = "Tue, 15 Nov 2033 08:12:31 GMT"
        self.requests = 0


def _serve(tmp_path: Path, ep: Endpoint, tls: tuple[Key, x509.Certificate] | None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            ep.requests += 1
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)  # adds "Date: " + date_time_string()
            self.end_headers()

        def date_time_string(self, timestamp: float | None = None) -> str:
            return ep.date

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        cert, key = tmp_path / f"cert{id(srv)}.pem", tmp_path / f"key{id(srv)}.pem"
        cert.write_bytes(tls[1].public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            tls[0].private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, object]]:
    ca = _cert("sbd test CA", None, ca=True)
    other = _cert("another CA", None, ca=True)
    server = _cert("localhost", (ca[0], ca[1].subject), ca=False)
    impostor = _cert("localhost", (other[0], other[1].subject), ca=False)
    ep = Endpoint()
    made = {
        "https": _serve(tmp_path, ep, server),
        "impostor": _serve(tmp_path, ep, impostor),
        "http": _serve(tmp_path, ep, None),
    }
    yield {"ep": ep, "ca": ca[1].public_bytes(serialization.Encoding.DER), **made}
    for s in made.values():
        s.shutdown()  # type: ignore[attr-defined]
        s.server_close()  # type: ignore[attr-defined]


POST = """
from sbd import telemetry as t, trustedtime, net
from sbd.net import Backoff
from sbd.net.http import HttpSink
t.configure(8, ())
tls = {tls}
sink = HttpSink('localhost', '/events', port={port}, tls=tls, backoff=Backoff(1, 1), timeout_s=10)
t.add_sink(sink)
t.record('auth.failure', 1)
print('SENT', t.pump(), 'TIME', trustedtime.newest())
"""


def _post(board: SdkBoard, port: int, tls: str) -> str:
    out = board.exec(POST.format(port=port, tls=tls)).output
    line = next(ln for ln in out.splitlines() if ln.startswith("SENT "))
    return line


def _port(srv: object) -> int:
    return int(srv.server_address[1])  # type: ignore[attr-defined]


def test_a_verified_servers_date_is_the_trusted_time(sdk_board: SdkBoard, servers: dict[str, object]) -> None:
    ep: Endpoint = servers["ep"]  # type: ignore[assignment]
    ca = servers["ca"]
    verified = f"net.tls_context(cadata={ca!r})"
    floor = "2026-11-01T00:00:00Z"
    # plain HTTP and TLS without checks: delivered, but the time is not taken
    assert _post(sdk_board, _port(servers["http"]), "None") == f"SENT 1 TIME {floor}"
    assert _post(sdk_board, _port(servers["https"]), "net.tls_context(verify=False)") == f"SENT 1 TIME {floor}"
    # a server from another CA: refused (CA pinning), nothing taken
    assert _post(sdk_board, _port(servers["impostor"]), verified) == f"SENT 0 TIME {floor}"
    # verified: taken
    assert _post(sdk_board, _port(servers["https"]), verified) == "SENT 1 TIME 2033-11-15T08:12:31Z"
    # older and malformed dates from the same verified server never move it back
    ep.date = "Mon, 14 Nov 2033 08:12:31 GMT"
    assert _post(sdk_board, _port(servers["https"]), verified) == "SENT 1 TIME 2033-11-15T08:12:31Z"
    ep.date = "Sunday, 16-Nov-33 08:12:31 GMT"
    assert _post(sdk_board, _port(servers["https"]), verified) == "SENT 1 TIME 2033-11-15T08:12:31Z"
    ep.date = "Wed, 16 Nov 2033 00:00:00 GMT"
    assert _post(sdk_board, _port(servers["https"]), verified) == "SENT 1 TIME 2033-11-16T00:00:00Z"
    # it is on flash: the next boot has it
    out = sdk_board.exec("from sbd import trustedtime\nprint('NEWEST', trustedtime.newest())").output
    assert "NEWEST 2033-11-16T00:00:00Z" in out, out
    assert ep.requests == 6  # the impostor's handshake failed before any request


def test_power_cut_at_every_write_of_advance_leaves_the_old_time_or_the_new(sdk_board: SdkBoard) -> None:
    sdk_board.exec("from sbd import trustedtime\ntrustedtime.advance('2030-01-01T00:00:00Z')")
    seen = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        line = next(ln for ln in res.output.splitlines() if ln.startswith("NEWEST "))
        t = line.split()[1]
        assert t in ("2030-01-01T00:00:00Z", "2031-06-01T12:00:00Z"), t
        seen.add(t)

    power_cut_sweep(
        sdk_board,
        "from sbd import trustedtime\ntrustedtime.advance('2031-06-01T12:00:00Z')",
        check,
        inspect="from sbd import trustedtime\nprint('NEWEST', trustedtime.newest())",
    )
    assert seen == {"2030-01-01T00:00:00Z", "2031-06-01T12:00:00Z"}, seen

"""sbd.ota.http over TLS and with Range requests, on the real MicroPython
unix port and on CPython through the shims.

A local HTTPS server with a test CA serves a TUF repository made by
python-tuf: the device installs release 1 when the chain and the name
verify, and refuses (reason "tls", nothing installed, no trusted metadata
persisted) with another CA or a certificate for another name.  A download
cut short resumes with a Range request instead of starting over; a server
that ignores ranges is read from the start and the bytes already held are
skipped."""

from __future__ import annotations

import datetime
import http.server
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import devscript

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "device" / "data" / "ota" / "valid_updates"

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Key, issuer: tuple[Key, x509.Name], *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[1])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return b.sign(issuer[0], hashes.SHA256())


def _ca(cn: str) -> tuple[Key, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, _cert(cn, key, (key, _name(cn)), ca=True)


class Server:
    def __init__(self, root: Path, tls: ssl.SSLContext | None, ranges: bool) -> None:
        log: list[str] = []
        self.log = log

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                log.append(f"{self.path} {rng or '-'}")
                p = (root / self.path.lstrip("/")).resolve()
                if not p.is_relative_to(root) or not p.is_file():
                    self.send_error(404)
                    return
                data = p.read_bytes()
                start = 0
                if ranges and rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _tls_server(folder: Path, ca: tuple[Key, x509.Certificate], name: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(name, key, (ca[0], ca[1].subject), ca=False)
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(folder / f"{name}.pem", folder / f"{name}.key")
    return ctx


HEAD = """
import os
from sbd import _fs, boot, ota, net
from sbd.ota import client, release, slots
from sbd.ota.http import HttpFetcher
_fs.STATE_DIR = STATE + "/state"
boot.APP_DIR = STATE + "/app"
root = open(ROOTFILE, "rb").read()
tls = net.tls_context(cadata=CA) if CA else None
def fetcher(base):
    return HttpFetcher(HOST, PORT, base, tls=tls)
def install(f=None):
    t = client.refresh(fetcher("/metadata/"), "2026-11-30T00:00:00Z", root)
    n = release.newest(t, "acme-sensor", "pico_w")
    slots.install(t, release.release(t, "acme-sensor", "pico_w", n), f or fetcher("/targets/"))
    return n
def persisted():
    try:
        return sorted(os.listdir(STATE + "/state/ota"))
    except OSError:
        return []
"""

INSTALL = """
try:
    print("INSTALLED", install())
    print("BOOTS", open(boot.select() + "/app.mpy", "rb").read())
except ota.OtaError as e:
    print("REFUSED", e.reason, boot.installed(), persisted())
"""

# The first body stops after 10 bytes, as a dropped connection would.
RESUME = """
class Cut:
    def __init__(self, f):
        self.f = f
        self.cut = True
    def open(self, name, offset=0):
        b = self.f.open(name, offset)
        if self.cut:
            self.cut = False
            b.left = 10
        return b
try:
    install(Cut(fetcher("/targets/")))
except ota.OtaError as e:
    print("CUT", e.reason, boot.installed())
print("INSTALLED", install())
print("BOOTS", open(boot.select() + "/app.mpy", "rb").read())
"""


def _run(runtime: str, port: int, ca_der: bytes | None, script: str, host: str = "localhost") -> str:
    with tempfile.TemporaryDirectory() as state:
        head = (
            f"STATE = {state!r}\nROOTFILE = {str(DATA / 'root.json')!r}\n"
            f"HOST = {host!r}\nPORT = {port}\nCA = {ca_der!r}\n" + HEAD
        )
        mpy = devscript.compile_sdk(Path(state) / "mpy") if runtime == "micropython" else None
        return devscript.run(runtime, head + script, heap="160K", mpy=mpy)


@dataclass
class Pki:
    ca: bytes  # DER
    other: bytes  # DER, a CA that signed nothing here
    good: Server  # localhost, signed by ca
    wrong_name: Server  # updates.example, signed by ca


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    d = tmp_path_factory.mktemp("pki")
    ca = _ca("sbd test update CA")
    other = _ca("another CA")
    p = Pki(
        ca[1].public_bytes(serialization.Encoding.DER),
        other[1].public_bytes(serialization.Encoding.DER),
        Server(DATA / "0", _tls_server(d, ca, "localhost"), ranges=True),
        Server(DATA / "0", _tls_server(d, ca, "updates.example"), ranges=True),
    )
    yield p
    p.good.stop()
    p.wrong_name.stop()


RUNTIMES = ["micropython", "cpython"]
RELEASE_1 = "BOOTS b\"M\\x06print('release 1')\\n\""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_https_with_the_right_ca_and_name_installs(pki: Pki, runtime: str) -> None:
    out = _run(runtime, pki.good.port, pki.ca, INSTALL)
    assert out.splitlines() == ["INSTALLED 1", RELEASE_1], out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_https_with_another_ca_is_refused(pki: Pki, runtime: str) -> None:
    out = _run(runtime, pki.good.port, pki.other, INSTALL)
    assert out.splitlines() == ["REFUSED tls (0, 0) []"], out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_https_to_a_server_named_otherwise_is_refused(pki: Pki, runtime: str) -> None:
    out = _run(runtime, pki.wrong_name.port, pki.ca, INSTALL)
    assert out.splitlines() == ["REFUSED tls (0, 0) []"], out


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("ranges", [True, False])
def test_a_cut_download_resumes(runtime: str, ranges: bool) -> None:
    srv = Server(DATA / "0", None, ranges=ranges)
    try:
        out = _run(runtime, srv.port, None, RESUME, host="127.0.0.1")
    finally:
        srv.stop()
    assert out.splitlines() == ["CUT mismatch (0, 0)", "INSTALLED 1", RELEASE_1], out
    app = [ln for ln in srv.log if ln.startswith("/targets/") and "app.mpy" in ln]
    assert len(app) == 2, srv.log
    assert app[0].endswith(" -") and app[1].endswith(" bytes=10-"), srv.log

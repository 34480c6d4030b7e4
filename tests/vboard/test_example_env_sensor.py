"""examples/env_sensor on a virtual Pico W, driven over HTTP from the host.

How the board keeps serving while the test talks to it: `runner.boot` (one
power-on, blocking until the board's script ends) runs in a thread; the
script in place of main.py calls ``env_sensor.main(port=0, host="127.0.0.1",
stop=...)``, where stop() polls a second, test-only listening socket: the
test connects to it to end the board's loop cleanly, and `boot`'s own timeout
(killing the board) is the backstop.  The ports come from the board's output,
read through boot's on_output callback.  No pty, no mpremote: the simplest
path with a clean ending and the board's full output to assert on.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ota_repo import board_files, fake_clock, make_repo, serve_after_failures

from harness.vboards import SdkBoard
from sbdtools.commands import demo
from sbdtools.commands.demo import free_port, login_token, serve_repo
from sbdtools.vboard import runner

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "env_sensor"
MODULES = [EXAMPLE / "env_sensor.py", EXAMPLE / "uplink.py"]
OTA = Path(__file__).resolve().parents[2] / "tests" / "device" / "data" / "ota" / "valid_updates"
PASSWORD = "correct-horse-42"
SERVE_ENV_SENSOR = demo.SERVE_ENV_SENSOR


@dataclass
class Served:
    board: SdkBoard
    port: int = 0
    control: int = 0
    out: list[bytes] = field(default_factory=list)
    result: runner.BootResult | None = None

    def text(self) -> str:
        return b"".join(self.out).decode("utf-8", "replace")

    def request(
        self, method: str, path: str, body: dict[str, str] | None = None, cookie: str | None = None
    ) -> http.client.HTTPResponse:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        headers = {}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie is not None:
            headers["Cookie"] = cookie if "=" in cookie else f"sid={cookie}"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        r.body = r.read()  # type: ignore[attr-defined]
        c.close()
        return r

    def raw(self, data: bytes, *, close_write: bool = True) -> bytes:
        """Send raw bytes; the status line's code (or b'' if closed without one)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as s:
            try:
                s.sendall(data)
                if close_write:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the board may answer and close before reading everything
            got = b""
            try:
                while chunk := s.recv(4096):
                    got += chunk
            except OSError:
                pass
        return got.split(b"\r\n", 1)[0]

    def post_login(self, password: str) -> http.client.HTTPResponse:
        """The login form as a browser sends it: its token and cookie from GET /."""
        token, cookie = login_token(self.request("GET", "/"))
        return self.request("POST", "/login", {"csrf": token, "password": password}, cookie=cookie)

    def login(self, password: str = PASSWORD) -> tuple[str, str]:
        r = self.post_login(password)
        assert r.status == 303, (r.status, r.body)  # type: ignore[attr-defined]
        sid = re.search(r"sid=([0-9a-f]{32});", r.getheader("Set-Cookie") or "")
        assert sid
        page = self.request("GET", "/", cookie=sid.group(1)).body  # type: ignore[attr-defined]
        csrf = re.search(rb"name=csrf value=([0-9a-f]{32})", page)
        assert csrf
        return sid.group(1), csrf.group(1).decode()

    def readings(self, sid: str) -> int:
        r = self.request("GET", "/readings", cookie=sid)
        assert r.status == 200
        return int(r.body.split()[0])  # type: ignore[attr-defined]


def _serve(board: SdkBoard, prefix: str = "", serve: str = SERVE_ENV_SENSOR) -> Iterator[Served]:
    # The ports are free when chosen, but another test (or xdist worker) may
    # take one before the board binds it: then the board says EADDRINUSE and
    # it is booted again on new ports, from the flash as it was before that
    # boot (which may have used up a trial boot).
    before = board.snapshot("before-serve")
    for attempt in range(3):
        if attempt:
            board.restore(before)
        s = Served(board, port=free_port(), control=free_port())
        ready = threading.Event()

        def on_output(chunk: bytes, s: Served = s, ready: threading.Event = ready) -> None:
            s.out.append(chunk)
            text = s.text()
            if "serving on port" in text:
                ready.set()

        def run(s: Served = s, ready: threading.Event = ready) -> None:
            script = prefix + serve.format(port=s.port, control=s.control)
            s.result = board.boot(script, timeout=300, on_output=on_output)
            ready.set()

        th = threading.Thread(target=run, daemon=True)
        th.start()
        ready.wait(60)
        if "serving on port" in s.text() or "EADDRINUSE" not in s.text():
            break
        th.join(60)
    assert "serving on port" in s.text(), f"the board did not start serving:\n{s.text()}"
    yield s
    with socket.create_connection(("127.0.0.1", s.control), timeout=10):
        pass
    th.join(60)
    assert s.result is not None and s.result.ended == runner.EXIT, s.text()
    assert "Traceback" not in s.text(), s.text()


@pytest.fixture
def served(make_sdk_board: Callable[..., SdkBoard]) -> Iterator[Served]:
    board = make_sdk_board(modules=MODULES)
    board.provision(PASSWORD)
    yield from _serve(board)


def test_an_unprovisioned_board_refuses_to_serve(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = make_sdk_board(modules=MODULES)
    res = board.boot("import env_sensor\nenv_sensor.main(port=0, host='127.0.0.1')\n", timeout=60)
    assert res.uncaught and "NotProvisioned" in res.output
    assert "serving" not in res.output


def test_login_settings_and_delete_my_data(served: Served) -> None:
    # Wrong passwords: three free tries, then the back-off, shown as 429 + Retry-After.
    assert served.request("GET", "/").status == 200
    assert served.request("GET", "/readings").status == 401
    # Login CSRF: the form's token must match the cookie set with it; a post
    # without them is refused before the password is checked (no try used up:
    # the three free tries below are still there).
    token, cookie = login_token(served.request("GET", "/"))
    other, _ = login_token(served.request("GET", "/"))
    assert token != other  # a fresh token with every form
    assert served.request("POST", "/login", {"password": PASSWORD}).status == 400  # no token
    assert served.request("POST", "/login", {"csrf": token, "password": PASSWORD}).status == 403  # no cookie
    r = served.request("POST", "/login", {"csrf": other, "password": PASSWORD}, cookie=cookie)
    assert r.status == 403  # a token from another form
    # DNS rebinding: a page on a foreign name that resolves to the board.
    c = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
    c.request("POST", "/login", body=f"csrf={token}&password=x", headers={"Host": "evil.example", "Cookie": cookie})
    assert c.getresponse().status == 421
    c.close()
    for _ in range(3):
        r = served.post_login("wrong-password")
        assert r.status == 401 and b"Wrong password" in r.body  # type: ignore[attr-defined]
    # The third failure started the back-off: even the right password waits.
    r = served.post_login(PASSWORD)
    assert r.status == 429 and int(r.getheader("Retry-After") or 0) >= 1
    assert b"Too many wrong passwords" in r.body  # type: ignore[attr-defined]
    time.sleep(int(r.getheader("Retry-After") or 1) + 0.2)

    sid, csrf = served.login()
    cookie = served.post_login(PASSWORD).getheader("Set-Cookie") or ""
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=900" in cookie
    sid, csrf = served.login()  # a new login ends the previous session
    good = {
        "csrf": csrf,
        "ssid": "home net",
        "wifi_pass": "wifi-secret-1",
        "mqtt_host": "broker.local",
        "mqtt_port": "1883",
        "mqtt_ca": "/broker-ca.pem",
        "interval": "1",
    }
    # Validation errors name the field and the rule, never the value.
    r = served.request("POST", "/settings", {**good, "mqtt_port": "70000"}, cookie=sid)
    assert r.status == 400 and b"form.mqtt_port: above 65535" in r.body  # type: ignore[attr-defined]
    # The CA is a file on the board, outside the SDK's folders: no "..", no /.sbd.
    for bad in ("/../etc/ca.pem", "/.sbd/factory/identity.bin", "ca.pem", "/certs/", "/ca pem"):
        r = served.request("POST", "/settings", {**good, "mqtt_ca": bad}, cookie=sid)
        assert r.status == 400 and b"form.mqtt_ca" in r.body, bad  # type: ignore[attr-defined]
    # The broker login is the device's own secret: there is no password field for it.
    assert served.request("POST", "/settings", {**good, "mqtt_pass": "x"}, cookie=sid).status == 400
    r = served.request("POST", "/settings", {**good, "mqtt_host": "bad host<script>"}, cookie=sid)
    assert r.status == 400 and b"<script>" not in r.body and b"form.mqtt_host" in r.body  # type: ignore[attr-defined]
    r = served.request("POST", "/settings", {**good, "extra": "1"}, cookie=sid)
    assert r.status == 400
    assert served.request("POST", "/settings", {**good, "csrf": "0" * 32}, cookie=sid).status == 403
    assert served.request("POST", "/settings", good).status == 401  # no session
    r = served.request("POST", "/settings", good, cookie=sid)
    assert r.status == 303
    # No broker (a blank host): no telemetry, sbd.telemetry is not even loaded.
    assert served.request("POST", "/settings", {**good, "mqtt_host": ""}, cookie=sid).status == 303
    page = served.request("GET", "/", cookie=sid).body  # type: ignore[attr-defined]
    assert b'value="home net"' in page and b"secret" not in page  # passwords never shown
    assert b'name=mqtt_host type=text value=""' in page and b'name=mqtt_ca type=text value="/broker-ca.pem"' in page
    assert b"mqtt_pass" not in page

    # It keeps measuring while it serves (interval is now 1 s).
    n = served.readings(sid)
    deadline = time.monotonic() + 30
    while served.readings(sid) <= n and time.monotonic() < deadline:
        time.sleep(0.3)
    assert served.readings(sid) > n

    # Delete my data: a token from the confirm page, used once.
    page = served.request("GET", "/delete", cookie=sid).body  # type: ignore[attr-defined]
    token = re.search(rb"name=confirm value=([0-9a-f]{16})", page)
    assert token
    r = served.request("POST", "/delete", {"csrf": csrf, "confirm": "0" * 16}, cookie=sid)
    assert r.status == 400  # wrong token: nothing deleted, and the real one is spent
    r = served.request("POST", "/delete", {"csrf": csrf, "confirm": token.group(1).decode()}, cookie=sid)
    assert r.status == 400
    page = served.request("GET", "/delete", cookie=sid).body  # type: ignore[attr-defined]
    token = re.search(rb"name=confirm value=([0-9a-f]{16})", page)
    assert token
    r = served.request("POST", "/delete", {"csrf": csrf, "confirm": token.group(1).decode()}, cookie=sid)
    assert r.status == 200 and b"deleted" in r.body  # type: ignore[attr-defined]
    assert served.request("GET", "/readings", cookie=sid).status == 401  # the session ended with it
    served.login()  # the factory password still works


def test_the_secrets_are_in_creds_and_gone_after_delete(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = make_sdk_board(modules=MODULES)
    board.provision(PASSWORD)
    gen = _serve(board)
    served = next(gen)
    sid, csrf = served.login()
    form = {
        "csrf": csrf,
        "ssid": "n",
        "wifi_pass": "wifi-secret-1",
        "mqtt_host": "h",
        "mqtt_port": "1",
        "interval": "9",
    }
    assert served.request("POST", "/settings", form, cookie=sid).status == 303
    # A blank password field (as a browser sends it) leaves the stored one; a short one is refused.
    assert served.request("POST", "/settings", {**form, "wifi_pass": ""}, cookie=sid).status == 303
    r = served.request("POST", "/settings", {**form, "wifi_pass": "short"}, cookie=sid)
    assert r.status == 400 and b"form.wifi_pass: shorter than 8" in r.body  # type: ignore[attr-defined]
    next(gen, None)
    out = board.exec(
        "from sbd import creds\nprint('NAMES', sorted(creds.names()), creds.get('wifi'))\n"
        "print('FILE', open('/.sbd/settings/env.json').read())\n"
    ).output
    assert "NAMES ['wifi'] b'n\\nwifi-secret-1'" in out, out  # the network's name and passphrase, one record
    assert "secret" not in out.split("FILE", 1)[1]


def _stored(board: SdkBoard) -> str:
    return board.exec(
        "from sbd import creds\nimport env_sensor\n"
        "print('STORED', sorted(creds.names()), creds.get('wifi'), env_sensor.load_settings())\n"
    ).output.split("STORED", 1)[1]


def test_hostile_http_leaves_the_board_up_and_its_data_intact(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = make_sdk_board(modules=MODULES)
    board.provision(PASSWORD)
    gen = _serve(board)
    s = next(gen)
    sid, csrf = s.login()
    form = {
        "csrf": csrf,
        "ssid": "n",
        "wifi_pass": "wifi-secret-1",
        "mqtt_host": "h",
        "mqtt_port": "1",
        "interval": "9",
    }
    assert s.request("POST", "/settings", form, cookie=sid).status == 303

    big_header = b"GET / HTTP/1.1\r\nX-Junk: " + b"a" * 4000 + b"\r\n\r\n"
    cases = {
        big_header: b"431",
        b"GET /" + b"a" * 600 + b" HTTP/1.1\r\n\r\n": b"431",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 40 + b"\r\n": b"431",
        b"POST /settings HTTP/1.1\r\nContent-Length: 100000\r\n\r\n": b"413",
        b"POST /login HTTP/1.1\r\n\r\n": b"411",
        b"POST /login HTTP/1.1\r\nContent-Length: -1\r\n\r\n": b"400",
        b"POST /login HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n": b"400",
        b"POST /login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n": b"400",
        b"GARBAGE\r\n\r\n": b"400",
        b"GET / HTTP/9.9\r\n\r\n": b"505",
        b"DELETE / HTTP/1.1\r\n\r\n": b"405",
        b"GET http://x/ HTTP/1.1\r\n\r\n": b"400",
        b"GET /../../.sbd/state/creds.bin HTTP/1.1\r\n\r\n": b"404",
        b"GET /%2e%2e/%2e%2e/.sbd/factory/identity.bin HTTP/1.1\r\n\r\n": b"404",
        b"GET /settings/../readings HTTP/1.1\r\n\r\n": b"404",
        b"GET / HTTP/1.1\r\nNoColonHere\r\n\r\n": b"400",
        b"POST /login HTTP/1.1\r\nContent-Length: 3\r\n\r\n\xff\xfe\xfd": b"400",
        b"GET / HTTP/1.1\r\nHost: x": b"400",  # closed before the headers ended
        # The Host header names this board or the request goes nowhere (DNS rebinding).
        b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n": b"421",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1.evil.example:80\r\n\r\n": b"421",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:x\r\n\r\n": b"421",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n": b"400",
        b"GET / HTTP/1.1\r\nHost: LocalHost:8080\r\n\r\n": b"200",
        b"GET / HTTP/1.1\r\nHost: 192.168.4.1\r\n\r\n": b"200",
        b"": b"400",  # connect and close
    }
    for data, want in cases.items():
        got = s.raw(data)
        assert got.split(b" ")[1:2] == [want], (data[:60], got)

    # Bad cookies are no session.
    for cookie in ("0" * 32, sid[:-1], sid + "0", "x" * 3000, sid.upper(), "\u00e9" * 32):
        try:
            r = s.request("GET", "/readings", cookie=cookie)
            assert r.status in (401, 431), cookie
        except (UnicodeEncodeError, http.client.HTTPException):
            pass
    # A request dripped slower than the board allows: 408, and the board moves on.
    with socket.create_connection(("127.0.0.1", s.port), timeout=20) as c:
        c.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(3.5)
        try:
            c.sendall(b"X: y\r\n")
        except OSError:
            pass
        assert c.recv(100).startswith(b"HTTP/1.1 408")
    # A small flood of connections, some left open without a byte.
    idle = [socket.create_connection(("127.0.0.1", s.port), timeout=20) for _ in range(2)]
    for _ in range(30):
        assert s.request("GET", "/").status == 200
    for c in idle:
        c.close()
    assert b'value="n"' in s.request("GET", "/", cookie=sid).body  # type: ignore[attr-defined]
    next(gen, None)
    after = _stored(board)
    assert "['wifi'] b'n\\nwifi-secret-1'" in after and "'mqtt_port': 1" in after, after


def test_the_heap_while_serving_on_a_pico_w(make_sdk_board: Callable[..., SdkBoard]) -> None:
    # Issue 15 asks for 64 KiB.  Measured (README): with the SDK and the app
    # as .mpy (bytecode on the heap) the flow below (a broker host but no CA:
    # telemetry off) needs 136 KiB of app heap (it fails at 128 KiB); with
    # telemetry over TLS (test_telemetry_goes_to_mqtt_over_tls_...) 160 KiB
    # (it fails at 156); the Pico W's 166 KiB runs both.  The virtual
    # board's heap is the board's figure plus its ROM modules'
    # (store.ROM_HEAP_ALLOWANCE), so this is what a Pico W has.  The check
    # that runs at other sizes: SdkBoard(dataclasses.replace(b.vb, heap=N), b.image).
    board = make_sdk_board(modules=MODULES)
    board.provision(PASSWORD)
    gen = _serve(board)
    s = next(gen)
    sid, csrf = s.login()
    form = {
        "csrf": csrf,
        "ssid": "n",
        "wifi_pass": "wifi-secret-1",
        "mqtt_host": "h",
        "mqtt_port": "1",
        "interval": "9",
    }
    assert s.request("POST", "/settings", form, cookie=sid).status == 303
    assert s.request("POST", "/settings", {**form, "mqtt_port": "0"}, cookie=sid).status == 400
    assert (
        s.raw(b"GET / HTTP/1.1\r\nX: " + b"a" * 3000 + b"\r\n\r\n") == b"HTTP/1.1 431 Request Header Fields Too Large"
    )
    assert s.readings(sid) >= 1
    next(gen, None)
    heap = re.search(r"heap in use: (\d+) at start, (\d+) at most, of (\d+)", s.text())
    assert heap, s.text()
    start, peak, total = map(int, heap.groups())
    assert start <= peak < total
    print(f"env_sensor on a virtual Pico W: {heap.group(0)}")  # shown with -s; the README quotes it


# -- the network side: telemetry to MQTT, signed updates ----------------------


def _listen(port: int, user: str, secret: str) -> tuple[object, list[tuple[str, bytes]], threading.Event]:
    """A paho listener on sbd/#: (client, messages, a flag set on each message)."""
    import paho.mqtt.client as paho

    got: list[tuple[str, bytes]] = []
    flag = threading.Event()
    subscribed = threading.Event()
    # A persistent session, so what arrives while it reconnects after the
    # broker's restart waits for it.
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="env-listener", clean_session=False)
    c.username_pw_set(user, secret)
    c.reconnect_delay_set(0.05, 0.5)
    c.on_connect = lambda cl, *a: cl.subscribe("sbd/#", qos=1)
    c.on_subscribe = lambda *a: subscribed.set()

    def on_message(cl: object, ud: object, msg: paho.MQTTMessage) -> None:
        got.append((msg.topic, bytes(msg.payload)))
        flag.set()

    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert subscribed.wait(20), "the listener did not subscribe"
    return c, got, flag


def _wait(pred: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_without_a_ca_or_a_broker_secret_telemetry_stays_off_not_the_page(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    # The login goes only over TLS checked against the CA the settings name,
    # with the secret made at provisioning: no CA, a CA path with no file or
    # a file that is not a certificate, and a board provisioned without a
    # broker secret each turn telemetry off with a reason, and the page and
    # the measuring go on.  Nothing is sent in plain text: the example has no
    # insecure switch.
    files = {"junk.pem": b"-----BEGIN CERTIFICATE-----\nnot one\n", "broker-ca.pem": _tls_material(tmp_path)[0]}
    board = make_sdk_board(modules=MODULES, files=files)
    board.provision(PASSWORD)  # a factory record, but no broker secret (no --broker-creds)
    gen = _serve(board)
    s = next(gen)
    try:
        sid, csrf = s.login()
        form = {"csrf": csrf, "ssid": "home", "mqtt_host": "localhost", "mqtt_port": "8883", "interval": "1"}
        reasons = [
            ("", "no CA for the broker: set mqtt_ca (a CA certificate file on the board)"),
            ("/nowhere.pem", "the broker's CA file (mqtt_ca) cannot be read"),
            ("/junk.pem", "the broker's CA file (mqtt_ca) is not a certificate"),
            # A real CA, but this board has no secret of its own.
            ("/broker-ca.pem", "no broker secret on this board (provision it with --broker-creds)"),
        ]
        for path, why in reasons:
            assert s.request("POST", "/settings", {**form, "mqtt_ca": path}, cookie=sid).status == 303
            _wait(lambda w=why: f"env_sensor: telemetry off: {w}" in s.text(), s.text())  # type: ignore[misc]
        n = s.readings(sid)
        _wait(lambda: s.readings(sid) >= n + 1, "it stopped measuring")
        assert s.request("GET", "/", cookie=sid).status == 200
    finally:
        next(gen, None)
    assert "WARNING" not in s.text() and "plain text" not in s.text(), s.text()


def _tls_material(folder: Path) -> tuple[bytes, bytes, Path, Path, Path]:
    """A test CA and a broker certificate it signed for "localhost", and a
    second CA that signed nothing here: (the CA as PEM, the other CA as DER,
    the CA, certificate and key files for Mosquitto)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - day)
            .not_valid_after(now + 30 * day)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("env_sensor test CA")
    other = ca("another CA")[1]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day)
        .not_valid_after(now + 30 * day)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = (folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    files[0].write_bytes(ca_cert.public_bytes(pem))
    files[1].write_bytes(cert.public_bytes(pem))
    files[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    files[2].chmod(0o600)
    return ca_cert.public_bytes(pem), other.public_bytes(serialization.Encoding.DER), *files


def _provision_with_broker_secret(
    board: SdkBoard, tmp: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str, Path]:
    """`sbd provision --broker-creds DIR` on the virtual board, as a factory
    does: (serial, the label's password, DIR with the broker's passwd and acl)."""
    from sbdtools import cli

    bdir = tmp / "broker"
    args = ["provision", "--vboard", board.name, "--model", "Env 1", "--support-end", "2031-12-31"]
    args += ["--disclosure", "security@example.com", "--db", str(tmp / "f.db"), "--new-db"]
    args += ["--labels", str(tmp / "labels"), "--broker-creds", str(bdir), "--json", "--show-passwords"]
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    got = capsys.readouterr()
    assert int(e.value.code or 0) == 0, got.err
    (rec,) = json.loads(got.out)
    return str(rec["serial"]), str(rec["password"]), bdir


def test_telemetry_goes_to_mqtt_over_tls_with_the_devices_own_secret(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The board provisioned with its own broker secret, a real Mosquitto
    with the files provisioning wrote and a TLS listener: with a CA that did
    not sign the broker nothing is sent (telemetry off, the page serving);
    with the right CA the SDK's events and the readings arrive under the
    board's serial; the broker away, the page goes on, and back, the
    reconnect is reported."""
    from harness.broker import Broker
    from harness.broker import free_port as broker_port
    from sbdtools import brokerfiles
    from sbdtools import telemetry as ht

    ca_pem, other_der, ca_file, cert_file, key_file = _tls_material(tmp_path)
    board = make_sdk_board(modules=MODULES, files={"broker-ca.pem": ca_pem, "other-ca.der": other_der})
    serial, password, bdir = _provision_with_broker_secret(board, tmp_path, capsys)
    lsec = ht.new_secret()
    with open(bdir / brokerfiles.PASSWD, "a") as f:
        f.write(ht.passwd_line(brokerfiles.LISTENER, lsec) + "\n")
    plain = broker_port()  # a second, plain listener on loopback for the test's own subscriber
    conf = [f"cafile {ca_file}", f"certfile {cert_file}", f"keyfile {key_file}", f"listener {plain} 127.0.0.1"]
    conf += ["allow_anonymous false", f"password_file {bdir / 'passwd'}", f"acl_file {bdir / 'acl'}"]
    conf += ["persistence true", f"persistence_location {tmp_path}/"]
    broker = Broker(tmp_path, conf).start()
    listener, got, _ = _listen(plain, brokerfiles.LISTENER, lsec)
    gen = _serve(board)
    s = next(gen)
    try:
        sid, csrf = s.login(password)
        form = {"csrf": csrf, "ssid": "home", "mqtt_host": "localhost", "mqtt_port": str(broker.port)}
        form |= {"mqtt_ca": "/other-ca.der", "interval": "1"}

        def names() -> list[str]:
            return [json.loads(p)["ev"] for t, p in got if t == f"sbd/{serial}/events"]

        # A CA that did not sign the broker: the TLS handshake refuses it.
        assert s.request("POST", "/settings", form, cookie=sid).status == 303
        _wait(lambda: "env_sensor: telemetry: broker not reached (" in s.text(), s.text())
        n = s.readings(sid)
        _wait(lambda: s.readings(sid) >= n + 2, "it stopped measuring")
        assert s.request("GET", "/", cookie=sid).status == 200
        assert names() == [], names()
        # The right CA: from now on the SDK's security events and the readings
        # go to the broker, logged in with the board's own secret.
        assert s.request("POST", "/settings", {**form, "mqtt_ca": "/broker-ca.pem"}, cookie=sid).status == 303
        assert s.post_login("wrong-password").status == 401
        _wait(lambda: {"auth.failure", "env.reading"} <= set(names()), f"events: {names()}")
        assert "net.plaintext_login" not in names() and "WARNING" not in s.text(), s.text()
        # The broker goes away: the page and the measuring go on.
        broker.stop()
        n = s.readings(sid)
        _wait(lambda: s.readings(sid) >= n + 2, "it stopped measuring while the broker was down")
        assert s.request("GET", "/", cookie=sid).status == 200
        before = len(names())
        broker.start()
        # Back: the queued readings arrive, and the reconnect is reported.
        _wait(lambda: "net.reconnect" in names()[before:], f"no reconnect: {names()[before:]}")
    finally:
        next(gen, None)
        listener.loop_stop()  # type: ignore[attr-defined]
        listener.disconnect()  # type: ignore[attr-defined]
        broker.stop()
    secret = board.exec("from sbd import creds\nprint('S', creds.get('mqtt.broker').decode())").output
    secret = secret.split("S ", 1)[1].split()[0]
    assert len(secret) == 32 and all(secret.encode() not in p for _, p in got) and secret not in s.text()
    heap = re.search(r"heap in use: (\d+) at start, (\d+) at most, of (\d+)", s.text())
    assert heap, s.text()
    print(f"env_sensor with telemetry over TLS on a virtual Pico W: {heap.group(0)}")  # the README quotes it


def test_telemetry_over_tls_and_an_update_check_on_a_pico_ws_heap(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Telemetry over TLS running, the update check runs on the default heap:
    it installs the release, or (as .mpy, since the cached boot check and
    the fetch time bound made the SDK's code larger) says "not now (out of
    memory)" and changes nothing; either way the page serves after it and
    the events queued meanwhile reach the broker.  With the MQTT sink, its
    TLS context and sbd.net left loaded during the check the page answered
    500 after it."""
    from harness.broker import Broker
    from harness.broker import free_port as broker_port
    from sbdtools import brokerfiles
    from sbdtools import telemetry as ht

    ca_pem, _, ca_file, cert_file, key_file = _tls_material(tmp_path)
    port = free_port()
    cfg = {"url": f"http://127.0.0.1:{port}/", "product": "acme-sensor", "board": "pico_w", "every_s": 1}
    files = {"broker-ca.pem": ca_pem, "update.json": json.dumps(cfg)}
    files["update_root.json"] = (OTA / "root.json").read_bytes()
    board = make_sdk_board(modules=MODULES, files=files)
    assert board.vb.heap == 169984  # board_configs/pico_w.json's heap, not a test's own
    serial, password, bdir = _provision_with_broker_secret(board, tmp_path, capsys)
    lsec = ht.new_secret()
    with open(bdir / brokerfiles.PASSWD, "a") as f:
        f.write(ht.passwd_line(brokerfiles.LISTENER, lsec) + "\n")
    plain = broker_port()
    conf = [f"cafile {ca_file}", f"certfile {cert_file}", f"keyfile {key_file}", f"listener {plain} 127.0.0.1"]
    conf += ["allow_anonymous false", f"password_file {bdir / 'passwd'}", f"acl_file {bdir / 'acl'}"]
    broker = Broker(tmp_path, conf).start()
    listener, got, _ = _listen(plain, brokerfiles.LISTENER, lsec)
    gen = _serve(board)
    s = next(gen)

    def names() -> list[str]:
        return [json.loads(p)["ev"] for t, p in got if t == f"sbd/{serial}/events"]

    try:
        sid, csrf = s.login(password)
        form = {"csrf": csrf, "ssid": "home", "mqtt_host": "localhost", "mqtt_port": str(broker.port)}
        form |= {"mqtt_ca": "/broker-ca.pem", "interval": "1"}
        assert s.request("POST", "/settings", form, cookie=sid).status == 303
        _wait(lambda: "env.reading" in names(), f"events: {names()}")
        fits = "env_sensor: update: up to date (release 1)"
        short = "env_sensor: update: not now (out of memory)"
        with serve_repo(OTA / "0", port):
            _wait(lambda: fits in s.text() or short in s.text(), s.text())
        if fits in s.text():
            assert "env_sensor: update: release 1 (1.1.0) installed in slot a" in s.text(), s.text()
            _wait(lambda: "ota.installed" in names(), f"events: {names()}")
        else:
            assert "installed in slot" not in s.text(), s.text()
            print("env_sensor: the update check did not fit the default heap with TLS telemetry")
        before = names().count("env.reading")
        _wait(lambda: names().count("env.reading") > before, f"events: {names()}")  # telemetry goes on
        sid, _ = s.login(password)  # the page's modules, unloaded for each check, are back
        assert s.readings(sid) >= 1
    finally:
        next(gen, None)
        listener.loop_stop()  # type: ignore[attr-defined]
        listener.disconnect()  # type: ignore[attr-defined]
        broker.stop()
    # Only the update check may have found the heap short, never the page (a
    # 500 says so); the telemetry's sink, built again right after a check,
    # may find it short too, and is then built again at a later step (said
    # once: telemetry went on above either way).
    text = s.text()
    retried = text.count("telemetry: not now (out of memory); trying again")
    assert text.count("out of memory") == text.count("update: not now (out of memory)") + retried, text
    assert "telemetry off" not in text, text


def test_signed_updates_are_checked_while_serving(make_sdk_board: Callable[..., SdkBoard]) -> None:
    """Offline, the check fails and the page goes on; once the repository is
    up, the next check installs the release into the other slot (for its
    trial boot), the page answering throughout."""
    port = free_port()
    cfg = {"url": f"http://127.0.0.1:{port}/", "product": "acme-sensor", "board": "pico_w", "every_s": 1}
    board = make_sdk_board(
        modules=MODULES,
        files={"update.json": json.dumps(cfg), "update_root.json": (OTA / "root.json").read_bytes()},
    )
    board.provision(PASSWORD)
    gen = _serve(board)
    s = next(gen)
    try:
        offline = "env_sensor: update: REFUSED (not-found: fetch: connection failed)"
        _wait(lambda: offline in s.text(), s.text())
        sid, _ = s.login()
        with serve_repo(OTA / "0", port):
            _wait(lambda: "installed in slot a" in s.text(), s.text())
            assert s.readings(sid) >= 1
            # The checks go on: the installed release is the newest now.
            _wait(lambda: "env_sensor: update: up to date (release 1)" in s.text(), s.text())
        assert "env_sensor: update: release 1 (1.1.0) installed in slot a, on trial from the next boot" in s.text()
        assert s.request("GET", "/", cookie=sid).status == 200
        sid, _ = s.login()  # sbd.auth and the crypto, unloaded for each check, are back
        assert s.readings(sid) >= 1
    finally:
        next(gen, None)


# -- review findings 3 and 7: the board's clock is not trusted time; a release
# is kept only once its update path works --------------------------------------

# The board's clock as one forged NTP reply would set it (2199).
FAKE_CLOCK = fake_clock(2199)


def test_the_boards_clock_is_not_trusted_time(make_sdk_board: Callable[..., SdkBoard]) -> None:
    """A board clock at 2199 (a forged NTP reply) neither makes the signed
    metadata look expired nor moves sbd.trustedtime."""
    with serve_repo(OTA / "0") as port:
        cfg = {"url": f"http://127.0.0.1:{port}/", "product": "acme-sensor", "board": "pico_w", "every_s": 600}
        board = make_sdk_board(
            modules=MODULES,
            files={"update.json": json.dumps(cfg), "update_root.json": (OTA / "root.json").read_bytes()},
        )
        board.provision(PASSWORD)
        gen = _serve(board, FAKE_CLOCK)
        s = next(gen)
        try:
            _wait(lambda: "env_sensor: update:" in s.text(), s.text())
            assert "env_sensor: update: release 1 (1.1.0) installed in slot a" in s.text(), s.text()
        finally:
            next(gen, None)
    newest = board.exec("from sbd import trustedtime\nprint('NEWEST', trustedtime.newest())").output
    assert "NEWEST 2026-11-01T00:00:00Z" in newest, newest


INSTALL = """
from sbd.ota import client, release, slots
from sbd import boot
root = open('/update_root.json', 'rb').read()
t = client.refresh(client.DirFetcher('/repo/metadata'), None, root)
print('SLOT', slots.install(t, release.release(t, 'acme-sensor', 'pico_w', {n}), client.DirFetcher('/repo/targets')))
{after}
"""
BOOT = "from sbd import boot\nboot.run('env_sensor')\n"  # main.py's boot stage


def _release_repo(tmp: Path) -> Path:
    """Releases 1 and 2 of env_sensor (compiled as `sbd ota add` does), each
    saying which it is when imported."""
    from sbdtools import deploy
    from sbdtools.mpytools import interpreter_mpy

    arch = interpreter_mpy(runner.micropython_binary())[2]
    rels: dict[int, dict[str, tuple[str, bytes]]] = {}
    for n in (1, 2):
        rels[n] = {}
        for m in MODULES:
            src = tmp / f"src{n}" / m.name
            src.parent.mkdir(parents=True, exist_ok=True)
            mark = f"print('RELEASE {n}')\n" if m.stem == "env_sensor" else ""
            src.write_text(mark + m.read_text())
            out = src.with_suffix(".mpy")
            deploy.compile_file(src, out, arch=arch, source_name=m.name)
            rels[n][f"lib/{m.stem}.mpy"] = ("app", out.read_bytes())
    repo = tmp / "repo"
    make_repo(repo, "pico_w", rels)
    return repo


def _on_trial(make: Callable[..., SdkBoard], repo: Path, port: int, retry_s: int = 600) -> SdkBoard:
    """Release 1 installed and confirmed, release 2 installed on trial."""
    cfg = {"url": f"http://127.0.0.1:{port}/", "product": "acme-sensor", "board": "pico_w", "every_s": 600}
    cfg["retry_s"] = retry_s  # 600 (= every_s): no sooner retry on a trial boot
    files: dict[str, str | bytes] = dict(board_files(repo))
    files["update.json"] = json.dumps(cfg)
    files["update_root.json"] = (repo / "metadata" / "1.root.json").read_bytes()
    board = make(modules=MODULES, files=files)
    board.provision(PASSWORD)
    out = board.exec(INSTALL.format(n=1, after="boot.select()\nboot.confirm()")).output
    assert "SLOT a" in out, out
    out = board.exec(INSTALL.format(n=2, after="")).output
    assert "SLOT b" in out, out
    return board


def _trial_boot(board: SdkBoard, update_line: str) -> str:
    """Boot as main.py does, wait for the update check, answer one request, stop."""
    gen = _serve(board, BOOT)
    s = next(gen)
    try:
        _wait(lambda: update_line in s.text(), s.text())
        assert s.request("GET", "/").status == 200
        time.sleep(0.5)  # a loop turn or more after the answer: a confirm would be printed by now
    finally:
        next(gen, None)
    return s.text()


def test_a_release_that_cannot_reach_its_repository_is_rolled_back(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    board = _on_trial(make_sdk_board, _release_repo(tmp_path), free_port())  # nobody serves it
    for _ in range(3):  # the trial boots: it serves, its update check fails
        out = _trial_boot(board, "env_sensor: update: REFUSED (not-found: fetch: connection failed)")
        assert "RELEASE 2" in out and "confirmed" not in out, out
    p = board.exec("from sbd import boot\nprint('POINTER', boot.read_pointer())").output
    assert "'confirmed': False" in p and "'release': 2" in p, p
    gen = _serve(board, BOOT)  # no trial boot left: back to release 1
    s = next(gen)
    next(gen, None)
    assert "RELEASE 1" in s.text() and "RELEASE 2" not in s.text(), s.text()


def test_a_release_that_cannot_verify_its_repository_is_not_confirmed(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    repo = _release_repo(tmp_path)
    with serve_repo(OTA / "0") as port:  # reachable, but signed by other keys
        board = _on_trial(make_sdk_board, repo, port)
        out = _trial_boot(board, "env_sensor: update: REFUSED (")
    assert "RELEASE 2" in out and "confirmed" not in out, out
    p = board.exec("from sbd import boot\nprint('POINTER', boot.read_pointer())").output
    assert "'confirmed': False" in p, p


def test_a_failed_check_on_a_trial_boot_is_tried_again_soon(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    # The repository answers 503 to its first two requests: the check fails
    # twice, is tried again after 1 s then 2 s (retry_s, doubling), not after
    # every_s (600 s), and the release is confirmed on this boot.
    repo = _release_repo(tmp_path)
    with serve_after_failures(repo, 2) as port:
        board = _on_trial(make_sdk_board, repo, port, retry_s=1)
        out = _trial_boot(board, "env_sensor: update: up to date (release 2)")
    lines = [ln for ln in out.splitlines() if ln.startswith("env_sensor: update:")]
    assert lines == [
        "env_sensor: update: REFUSED (not-found: fetch: HTTP status 503); keeps running the release it has",
        "env_sensor: update: trying again in 1 s (a release on trial must pass its check)",
        "env_sensor: update: REFUSED (not-found: fetch: HTTP status 503); keeps running the release it has",
        "env_sensor: update: trying again in 2 s (a release on trial must pass its check)",
        "env_sensor: update: up to date (release 2)",
    ], out
    assert "env_sensor: this release works (a request answered, an update check passed): confirmed" in out, out


def test_a_release_whose_update_check_works_is_confirmed(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    repo = _release_repo(tmp_path)
    with serve_repo(repo) as port:
        board = _on_trial(make_sdk_board, repo, port)
        out = _trial_boot(board, "env_sensor: update: up to date (release 2)")
        assert "RELEASE 2" in out, out
        assert "env_sensor: this release works (a request answered, an update check passed): confirmed" in out
    p = board.exec("from sbd import boot\nprint('POINTER', boot.read_pointer())").output
    assert "'confirmed': True" in p and "'release': 2" in p, p


# -- in a real browser ---------------------------------------------------------

ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "env_sensor"


def _chromium() -> str:
    """Debian's chromium (Playwright cannot download its own here); .ci/run installs it."""
    import os
    import shutil

    path = os.environ.get("SBD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if not path:
        msg = "no chromium or no playwright (apt-get install chromium; pip install playwright)"
        if os.environ.get("SBD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"SBD_REQUIRE_SERVICES=1 but {msg}")
        pytest.skip(msg)
    return path


def test_the_page_in_a_browser(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    exe = _chromium()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])  # root in CI: no sandbox
        try:
            page = browser.new_page()
            page.set_default_timeout(20000)
            page.goto(f"http://127.0.0.1:{served.port}/")
            expect(page.locator("h1")).to_have_text("Log in")
            page.screenshot(path=str(ARTEFACTS / "1-login.png"))
            for _ in range(3):
                page.fill("input[name=password]", "wrong-password")
                page.click("text=Log in >> nth=-1")
                expect(page.locator("body")).to_contain_text("Wrong password")
            page.fill("input[name=password]", PASSWORD)
            page.click("text=Log in >> nth=-1")
            expect(page.locator("body")).to_contain_text("Too many wrong passwords")
            page.screenshot(path=str(ARTEFACTS / "2-back-off.png"))
            wait = re.search(r"wait (\d+) s", page.inner_text("body"))
            assert wait
            time.sleep(int(wait.group(1)) + 0.2)

            page.goto(f"http://127.0.0.1:{served.port}/")
            page.fill("input[name=password]", PASSWORD)
            page.click("text=Log in >> nth=-1")
            expect(page.locator("h1")).to_have_text("Settings")
            cookie = next(c for c in page.context.cookies() if c["name"] == "sid")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
            assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
            page.fill("input[name=ssid]", "home net")
            page.fill("input[name=wifi_pass]", "wifi-secret-1")
            page.fill("input[name=mqtt_host]", "broker.local")
            page.fill("input[name=mqtt_port]", "70000")
            page.fill("input[name=interval]", "5")
            page.click("text=Save")
            expect(page.locator(".err")).to_have_text("form.mqtt_port: above 65535")
            page.screenshot(path=str(ARTEFACTS / "3-validation-error.png"))
            page.fill("input[name=ssid]", "home net")
            page.fill("input[name=wifi_pass]", "wifi-secret-1")
            page.fill("input[name=mqtt_host]", "broker.local")
            page.fill("input[name=mqtt_port]", "8883")
            page.fill("input[name=mqtt_ca]", "/broker-ca.pem")
            page.fill("input[name=interval]", "5")
            page.click("text=Save")
            expect(page.locator("input[name=mqtt_port]")).to_have_value("8883")
            expect(page.locator("input[name=mqtt_ca]")).to_have_value("/broker-ca.pem")
            expect(page.locator(".err")).to_have_count(0)
            page.screenshot(path=str(ARTEFACTS / "4-saved.png"))

            page.click("text=Delete my data")
            expect(page.locator("h1")).to_have_text("Delete my data")
            page.click("button:has-text('Delete my data')")
            expect(page.locator("body")).to_contain_text("Your data is deleted")
            page.screenshot(path=str(ARTEFACTS / "5-deleted.png"))
            page.goto(f"http://127.0.0.1:{served.port}/")
            expect(page.locator("h1")).to_have_text("Log in")  # the session ended with the data
        finally:
            browser.close()


def test_a_refusing_credential_store_is_a_500_and_the_page_stays_up(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = make_sdk_board(modules=MODULES)
    board.provision(PASSWORD)
    # A damaged credential store: sbd.creds refuses every set (Tampered) until wiped.
    board.exec(
        "from sbd import _fs\n_fs.makedirs('/.sbd/state')\nopen('/.sbd/state/creds.bin', 'wb').write(b'x' * 100)\n"
    )
    gen = _serve(board)
    s = next(gen)
    sid, csrf = s.login()
    form = {
        "csrf": csrf,
        "ssid": "n",
        "wifi_pass": "wifi-secret-1",
        "mqtt_host": "h",
        "mqtt_port": "1",
        "interval": "9",
    }
    assert s.request("POST", "/settings", form, cookie=sid).status == 500
    assert s.request("GET", "/", cookie=sid).status == 200  # still serving
    next(gen, None)

"""sbd.telemetry over sbd.net.mqtt from virtual boards (real MicroPython) to
real Mosquitto brokers this test starts: per-device credentials in
mosquitto's $7$ password_file, an acl_file that confines each device to
sbd/<serial>/, plain and TLS listeners with a test CA made here, and a
broker outage in the middle of a run."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.broker import Broker
from harness.vboards import SdkBoard
from sbdtools import telemetry as ht
from sbdtools.vboard import runner

LISTENER = "listener"


@dataclass
class Fleet:
    folder: Path
    creds: dict[str, str]  # serial -> secret
    listener_secret: str
    conf: list[str]


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    devs = ht.broker_creds(["DEV-A", "DEV-B"])
    lsec = ht.new_secret()
    pw = tmp_path / "passwd"
    pw.write_text("\n".join([d.line for d in devs] + [ht.passwd_line(LISTENER, lsec)]) + "\n")
    acl = tmp_path / "acl"
    acl.write_text(ht.acl_text([LISTENER]))
    pw.chmod(0o600)
    acl.chmod(0o600)
    conf = ["allow_anonymous false", f"password_file {pw}", f"acl_file {acl}"]
    return Fleet(tmp_path, {d.serial: d.secret for d in devs}, lsec, conf)


@dataclass
class Sub:
    """A listener on the host (paho-mqtt 2), collecting (topic, payload)."""

    got: list[tuple[str, bytes]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, pred: object, timeout: float = 30) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred(self.got), timeout)  # type: ignore[operator]


@pytest.fixture
def subscribe(fleet: Fleet) -> Iterator[object]:
    clients = []

    def make(port: int, client_id: str = "listener-test", persistent: bool = False) -> Sub:
        sub = Sub()
        connected = threading.Event()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        c.username_pw_set(LISTENER, fleet.listener_secret)
        c.reconnect_delay_set(0.05, 0.5)

        def on_connect(cl: paho.Client, ud: object, flags: object, rc: object, props: object) -> None:
            cl.subscribe("sbd/#", qos=1)

        def on_subscribe(*a: object) -> None:
            connected.set()

        def on_message(cl: paho.Client, ud: object, msg: paho.MQTTMessage) -> None:
            with sub.cond:
                sub.got.append((msg.topic, bytes(msg.payload)))
                sub.cond.notify_all()

        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert connected.wait(20), "listener did not subscribe"
        clients.append(c)
        return sub

    yield make
    for c in clients:
        c.loop_stop()
        c.disconnect()


def _device(port: int, user: str, secret: str | None, body: str, *, host: str = "127.0.0.1", tls: str = "") -> str:
    return (
        "from sbd import telemetry as t, events\n"
        "from sbd.net import mqtt, Backoff\n"
        f"tls = None\n{tls}\n"
        # insecure only when the test broker has no TLS (tls stays None)
        f"c = mqtt.MqttClient({host!r}, {port}, user={user!r}, password={secret!r}, tls=tls, timeout_s=10,"
        " insecure=tls is None)\n"
        "sink = mqtt.MqttSink(c, Backoff(20, 200))\n" + body
    )


def _events(sub: Sub, topic: str) -> list[dict[str, object]]:
    return [json.loads(p) for t, p in sub.got if t == topic]


def test_events_arrive_with_the_device_credentials(fleet: Fleet, subscribe: object, make_sdk_board: object) -> None:
    broker = Broker(fleet.folder, fleet.conf).start()
    try:
        sub = subscribe(broker.port)  # type: ignore[operator]
        board: SdkBoard = make_sdk_board()  # type: ignore[operator]
        body = (
            "t.start(rules=(('fails', 'auth.failure', 3, 60),))\n"
            "t.add_sink(sink)\n"
            "for i in range(3):\n"
            "    events.emit('auth.failure', count=i + 1, password='hunter2')\n"
            "t.record('auth.lockout', 3, 1000)\n"
            "t.sample()\n"
            "while t.pump(100):\n"
            "    pass\n"
            "print('SENT', t.sent, t.pending(), sink.connects, sink.failures)\n"
        )
        out = board.exec(_device(broker.port, "DEV-A", fleet.creds["DEV-A"], body)).output
        assert "SENT 6 0 1 0" in out, out
        assert sub.wait_for(lambda g: len(g) >= 6)
        evs = _events(sub, "sbd/DEV-A/events")
        assert [e["ev"] for e in evs] == [
            "auth.failure",
            "auth.failure",
            "auth.failure",
            "security.alert",
            "auth.lockout",
            "sys.metrics",
        ]
        assert [e["seq"] for e in evs] == sorted(e["seq"] for e in evs)
        assert evs[3]["f"] == {"rule": "fails", "event": "auth.failure", "count": 3, "window_s": 60}
        assert all(b"hunter2" not in p for _, p in sub.got)
        parsed = [ht.parse_event(t, p) for t, p in sub.got]
        assert {e.device for e in parsed} == {"DEV-A"}
    finally:
        broker.stop()


def test_a_device_cannot_speak_for_another_nor_log_in_as_one(
    fleet: Fleet, subscribe: object, make_sdk_board: object
) -> None:
    broker = Broker(fleet.folder, fleet.conf).start()
    try:
        sub = subscribe(broker.port)  # type: ignore[operator]
        board: SdkBoard = make_sdk_board()  # type: ignore[operator]
        body = (
            "c.connect()\n"
            "c.publish(b'sbd/DEV-B/events', b'{\"forged\": 1}')\n"
            "c.publish(b'sbd/DEV-A/events', b'{\"marker\": 1}')\n"
            "c.close()\n"
            "def login(user, pw):\n"
            "    x = mqtt.MqttClient('127.0.0.1', %d, user=user, password=pw, timeout_s=10, insecure=True)\n"
            "    try:\n"
            "        x.connect()\n"
            "    except mqtt.NetError as e:\n"
            "        return 'refused'\n"
            "    x.close()\n"
            "    return 'accepted'\n"
            "print('OTHER', login('DEV-B', %r))\n"
            "print('NONE', login('DEV-B', None))\n"
            "print('ANON', login(None, None))\n"
            "print('OWN', login('DEV-B', %r))\n"
        ) % (broker.port, fleet.creds["DEV-A"], fleet.creds["DEV-B"])
        out = board.exec(_device(broker.port, "DEV-A", fleet.creds["DEV-A"], body)).output
        assert "OTHER refused" in out and "NONE refused" in out and "ANON refused" in out, out
        assert "OWN accepted" in out, out  # the check can fail: the right secret gets in
        # The marker went after the forgery on the same connection: once it is
        # here, the forgery would have been delivered before it.
        assert sub.wait_for(lambda g: any(t == "sbd/DEV-A/events" for t, _ in g))
        assert [t for t, _ in sub.got] == ["sbd/DEV-A/events"]
    finally:
        broker.stop()


def test_broker_outage_keeps_the_device_working_and_loses_nothing_queued(
    fleet: Fleet, subscribe: object, make_sdk_board: object
) -> None:
    conf = [*fleet.conf, "persistence true", f"persistence_location {fleet.folder}/"]
    broker = Broker(fleet.folder, conf).start()
    try:
        sub = subscribe(broker.port, persistent=True)  # type: ignore[operator]
        broker.stop()  # the device starts while the broker is down
        board: SdkBoard = make_sdk_board()  # type: ignore[operator]
        body = (
            "import time\n"
            "t.start(slots=8, rules=())\n"
            "t.add_sink(sink)\n"
            "for i in range(20):\n"
            "    t.record('auth.failure', i)\n"
            "    t.pump()\n"
            "work = sum(range(1000))\n"  # the app goes on
            "print('DOWN', t.sent, t.pending(), t.dropped, sink.failures > 0, work)\n"
            "n = 0\n"
            "while t.pending() and n < 2000:\n"
            "    t.pump()\n"
            "    time.sleep_ms(10)\n"
            "    n += 1\n"
            "print('UP', t.sent, t.pending(), t.dropped, sink.connects)\n"
            "t.record('auth.ok')\n"
            "print('AFTER', t.pump(), t.sent, t.pending())\n"
        )
        restarted = threading.Event()

        def on_output(chunk: bytes) -> None:
            if b"DOWN" in chunk and not restarted.is_set():
                restarted.set()
                broker.start()

        res = board.boot(_device(broker.port, "DEV-A", fleet.creds["DEV-A"], body), on_output=on_output)
        assert res.ended == runner.EXIT and "Traceback" not in res.output, res.output
        assert "DOWN 0 8 12 True 499500" in res.output, res.output
        # all 8 queued went, none lost; the reconnect report queued behind them
        assert "UP 9 0 12 1" in res.output, res.output
        assert "AFTER 1 10 0" in res.output, res.output
        assert sub.wait_for(lambda g: len(g) >= 10)
        evs = _events(sub, "sbd/DEV-A/events")
        assert [e["f"]["count"] for e in evs[:8]] == list(range(12, 20))  # type: ignore[index]
        assert evs[8]["ev"] == "net.reconnect" and evs[8]["f"]["attempts"] > 0  # type: ignore[index,operator]
        assert evs[9]["ev"] == "auth.ok"
    finally:
        broker.stop()


# -- TLS -----------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], dns: str, *, expired: bool = False
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (
        (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        if expired
        else (
            now - datetime.timedelta(days=1),
            now + datetime.timedelta(days=30),
        )
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns))
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca[0], hashes.SHA256())
    )
    return key, cert


def _tls_broker(
    fleet: Fleet, ca: x509.Certificate, server: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], tag: str
) -> Broker:
    d = fleet.folder
    (d / f"{tag}-ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / f"{tag}-cert.pem").write_bytes(server[1].public_bytes(serialization.Encoding.PEM))
    (d / f"{tag}-key.pem").write_bytes(
        server[0].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (d / f"{tag}-key.pem").chmod(0o600)
    conf = [
        *fleet.conf,
        f"cafile {d}/{tag}-ca.pem",
        f"certfile {d}/{tag}-cert.pem",
        f"keyfile {d}/{tag}-key.pem",
    ]
    return Broker(d, conf).start()


TLS_TRY = (
    "t.start(rules=())\n"
    "t.add_sink(sink)\n"
    "try:\n"
    "    c.connect()\n"
    "    c.publish(b'sbd/DEV-A/events', t.encode(t._head) if t.pending() else b'{}')\n"
    "    print('TLS accepted')\n"
    "except Exception as e:\n"
    "    print('TLS refused', type(e).__name__, repr(e.args))\n"
)


def _try_tls(board: SdkBoard, fleet: Fleet, port: int, ca_der: bytes, host: str = "localhost") -> str:
    tls = f"tls = __import__('sbd.net').net.tls_context(cadata={ca_der!r})"
    return board.exec(_device(port, "DEV-A", fleet.creds["DEV-A"], TLS_TRY, host=host, tls=tls)).output


def test_tls_verifies_the_broker_on_real_micropython(fleet: Fleet, make_sdk_board: object) -> None:
    ca = _ca("sbd test CA")
    other_ca = _ca("another CA")
    der = ca[1].public_bytes(serialization.Encoding.DER)
    board: SdkBoard = make_sdk_board()  # type: ignore[operator]
    good = _tls_broker(fleet, ca[1], _server(ca, "localhost"), "good")
    expired = _tls_broker(fleet, ca[1], _server(ca, "localhost", expired=True), "expired")
    wrong_name = _tls_broker(fleet, ca[1], _server(ca, "broker.example"), "name")
    try:
        assert "TLS accepted" in _try_tls(board, fleet, good.port, der)
        # Refused, each for its own reason (mbedTLS's verify message):
        out = _try_tls(board, fleet, good.port, other_ca[1].public_bytes(serialization.Encoding.DER))
        assert "TLS refused" in out and "not correctly signed by the trusted CA" in out, out
        out = _try_tls(board, fleet, expired.port, der)
        assert "TLS refused" in out and "validity has expired" in out, out
        out = _try_tls(board, fleet, wrong_name.port, der)
        assert "TLS refused" in out and "does not match with the expected CN" in out, out
    finally:
        for b in (good, expired, wrong_name):
            b.stop()


def test_tls_without_a_ca_is_refused_and_turning_checks_off_is_loud(make_sdk_board: object) -> None:
    board: SdkBoard = make_sdk_board()  # type: ignore[operator]
    out = board.exec(
        "from sbd import net, events\n"
        "seen = []\n"
        "events.subscribe(lambda n, f: seen.append((n, f)))\n"
        "try:\n"
        "    net.tls_context()\n"
        "except ValueError as e:\n"
        "    print('NO CA', e)\n"
        "tls = net.tls_context(verify=False)\n"
        "import socket\n"
        "try:\n"
        "    tls.wrap(socket.socket(), 'broker.example')\n"
        "except Exception:\n"
        "    pass\n"
        "print('SEEN', seen)\n"
    ).output
    assert "NO CA a CA certificate is needed" in out, out
    assert "WARNING: TLS certificate checks are OFF" in out, out
    assert "SEEN [('net.tls_unverified', {'host': 'broker.example'})]" in out, out


PASSWORD = "Q4mz-Hr7k-Wd9p-Lx3t"
NEW_PASSWORD = "Zt8v-Kp3m-Rq6w-Jn2c"


def test_the_sdk_security_events_reach_the_wire_without_secrets(
    fleet: Fleet, subscribe: object, make_sdk_board: object
) -> None:
    # The real modules emit (sbd.auth on a provisioned board, sbd.validate):
    # every event they define today except auth.tamper (a damaged state
    # file; tests/device/test_telemetry.py covers its allow-list).
    broker = Broker(fleet.folder, fleet.conf).start()
    try:
        sub = subscribe(broker.port)  # type: ignore[operator]
        board: SdkBoard = make_sdk_board()  # type: ignore[operator]
        board.provision(PASSWORD, serial="DEV-A")
        body = f"""
import time
from sbd import auth, validate as v
t.start(rules=(('fails', 'auth.failure', 3, 60),))
t.add_sink(sink)
print('OK', auth.check({PASSWORD!r}))
for wrong in ('wrong-guess-1', 'wrong-guess-2', 'wrong-guess-3'):
    while True:
        try:
            auth.check(wrong)
            break
        except auth.Locked as e:
            time.sleep_ms(e.wait_ms + 1)
while True:
    try:
        auth.change({PASSWORD!r}, {NEW_PASSWORD!r})
        break
    except auth.Locked as e:
        time.sleep_ms(e.wait_ms + 1)
auth.factory_reset()
try:
    doc = b'{{"ssid": "my-home-wifi-name-that-is-far-too-long-for-it"}}'
    v.parse_json(doc, v.obj({{'ssid': v.text(1, 8)}}), name='wifi')
except v.ValidationError:
    pass
while t.pump(100):
    pass
print('SENT', t.sent, t.pending(), t.redacted)
"""
        out = board.exec(_device(broker.port, "DEV-A", fleet.creds["DEV-A"], body)).output
        assert "OK True" in out and "SENT" in out, out
        assert sub.wait_for(lambda g: any(b"validation.rejected" in p for _, p in g))
        evs = _events(sub, "sbd/DEV-A/events")
        names = [e["ev"] for e in evs]
        for want in (
            "auth.ok",
            "auth.failure",
            "auth.lockout",
            "security.alert",
            "auth.changed",
            "auth.factory_reset",
            "validation.rejected",
        ):
            assert want in names, (want, names)
        wire = b"".join(p for _, p in sub.got)
        for secret in (PASSWORD, NEW_PASSWORD, "wrong-guess", "my-home-wifi", fleet.creds["DEV-A"]):
            assert secret.encode() not in wire, f"{secret!r} went out on the wire"
        rejected = next(e for e in evs if e["ev"] == "validation.rejected")
        assert rejected["f"] == {"path": "wifi.ssid", "rule": "longer than 8"}
    finally:
        broker.stop()

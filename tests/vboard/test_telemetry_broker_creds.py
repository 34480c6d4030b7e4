"""Per-device broker secrets made at provisioning: `sbd provision
--broker-creds DIR` on two virtual boards (real MicroPython), each drawing its
own MQTT secret into its credential store and handing the station only the
$7$ line; a real Mosquitto started with DIR/passwd and DIR/acl lets each
board in with its own secret, refuses one board's secret under the other's
name, and the factory database, the broker files, the labels and the
station's output hold no plaintext secret."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from harness.broker import Broker
from harness.vboards import SdkBoard
from sbdtools import brokerfiles, cli
from sbdtools import telemetry as ht
from sbdtools.errors import SbdError

BASE = ("--model", "Acme Sensor", "--support-end", "2031-12-31", "--disclosure", "security@acme.example")


def _sbd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        cli.main(list(args))
    got = capsys.readouterr()
    return int(e.value.code or 0), got.out, got.err


def _secret(board: SdkBoard) -> str:
    out = board.exec("from sbd import creds\nprint('SECRET', creds.get('mqtt.broker').decode())").output
    line = next(ln for ln in out.splitlines() if ln.startswith("SECRET "))
    return str(line.split()[1])


def _listen(port: int, secret: str) -> tuple[paho.Client, list[tuple[str, bytes]], threading.Condition]:
    got: list[tuple[str, bytes]] = []
    cond = threading.Condition()
    ready = threading.Event()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="listener-test")
    c.username_pw_set(brokerfiles.LISTENER, secret)
    c.on_connect = lambda cl, *a: cl.subscribe("sbd/#", qos=1)
    c.on_subscribe = lambda *a: ready.set()

    def on_message(cl: paho.Client, ud: object, msg: paho.MQTTMessage) -> None:
        with cond:
            got.append((msg.topic, bytes(msg.payload)))
            cond.notify_all()

    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ready.wait(20), "listener did not subscribe"
    return c, got, cond


DEVICE = """
from sbd import telemetry as t
from sbd.net import mqtt, Backoff
c = mqtt.device_client('127.0.0.1', {port}, timeout_s=10, insecure=True)  # the test broker has no TLS
sink = mqtt.MqttSink(c, Backoff(20, 200))
t.start()
t.add_sink(sink)
t.record('auth.failure', 1)
while t.pump(10):
    pass
print('SENT', t.sent, sink.connects, sink.failures)

def login(user, pw):
    x = mqtt.MqttClient('127.0.0.1', {port}, user=user, password=pw, timeout_s=10, insecure=True)
    try:
        x.connect()
        print('LOGIN', user, 'accepted')
    except OSError as e:
        print('LOGIN', user, 'refused', type(e).__name__)
    x.close()

from sbd import creds
mine = creds.get('mqtt.broker')
login({other!r}, mine)
login({other!r}, None)
"""


def test_provisioned_boards_log_in_with_their_own_secret_and_the_station_keeps_none(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_sdk_board(name="ba")
    b = make_sdk_board(name="bb")
    db, labels, bdir = tmp_path / "f.db", tmp_path / "labels", tmp_path / "broker"
    code, out, err = _sbd(
        capsys,
        "provision",
        "--vboard",
        "ba",
        "--vboard",
        "bb",
        *BASE,
        "--db",
        str(db),
        "--new-db",
        "--labels",
        str(labels),
        "--broker-creds",
        str(bdir),
        "--json",
    )
    assert code == 0, err
    serials = {d["target"]: d["serial"] for d in json.loads(out)}
    sa, sb = serials["ba"], serials["bb"]
    secret_a, secret_b = _secret(a), _secret(b)
    assert secret_a != secret_b and len(secret_a) == 32
    lines = (bdir / brokerfiles.PASSWD).read_text().splitlines()
    assert sorted(ln.partition(":")[0] for ln in lines) == sorted([sa, sb])
    line_a = next(ln for ln in lines if ln.startswith(sa + ":"))
    assert ht.check_passwd_line(line_a, sa, secret_a), "the line checks the board's secret"
    assert not ht.check_passwd_line(line_a, sa, secret_b), "and not another's"
    assert "pattern write sbd/%u/#" in (bdir / brokerfiles.ACL).read_text()
    # no plaintext secret anywhere the station wrote or printed
    for path in [db, *db.parent.glob("f.db*"), *bdir.iterdir(), *labels.iterdir()]:
        data = path.read_bytes()
        for s in (secret_a, secret_b):
            assert s.encode() not in data, f"a broker secret is in {path.name}"
    for s in (secret_a, secret_b):
        assert s not in out + err

    # the real broker with the exported files (plus the listener's own line)
    lsec = ht.new_secret()
    with open(bdir / brokerfiles.PASSWD, "a") as f:
        f.write(ht.passwd_line(brokerfiles.LISTENER, lsec) + "\n")
    conf = ["allow_anonymous false", f"password_file {bdir / 'passwd'}", f"acl_file {bdir / 'acl'}"]
    broker = Broker(tmp_path, conf).start()
    lis = None
    try:
        lis, got, cond = _listen(broker.port, lsec)
        res = a.exec(DEVICE.format(port=broker.port, other=sb)).output
        assert "SENT 1 1 0" in res, res
        with cond:
            assert cond.wait_for(lambda: any(t == f"sbd/{sa}/events" for t, _ in got), 30), got
        assert f"LOGIN {sb} refused NetError" in res, "one board's secret must not open another's account"
        assert res.count(f"LOGIN {sb} refused") == 2, res
        # the other board gets in with its own secret (the check above can fail)
        res = b.exec(DEVICE.format(port=broker.port, other=sa)).output
        assert "SENT 1 1 0" in res, res
    finally:
        if lis is not None:
            lis.loop_stop()
            lis.disconnect()
        broker.stop()


def test_reprovisioning_replaces_the_line_and_a_bad_line_is_refused(tmp_path: Path) -> None:
    good = ht.passwd_line("SBD-000001", "s1")
    brokerfiles.add_device(tmp_path, "SBD-000001", good)
    brokerfiles.add_device(tmp_path, "SBD-000002", ht.passwd_line("SBD-000002", "s2"))
    newer = ht.passwd_line("SBD-000001", "s3")
    brokerfiles.add_device(tmp_path, "SBD-000001", newer)
    lines = (tmp_path / "passwd").read_text().splitlines()
    assert [ln.partition(":")[0] for ln in lines] == ["SBD-000002", "SBD-000001"] and newer in lines
    for bad in (
        "SBD-000001:plaintext",  # not a hash
        ht.passwd_line("SBD-000009", "x"),  # another serial
        ht.passwd_line("SBD-000001", "x", iterations=10),  # too few iterations
        good + "\nlistener:$7$...",  # a second line smuggled in
    ):
        with pytest.raises(SbdError):
            brokerfiles.add_device(tmp_path, "SBD-000001", bad)
    assert (tmp_path / "passwd").read_text().splitlines() == lines

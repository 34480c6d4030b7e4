"""Host side of telemetry: $7$ password lines checked against the real
mosquitto_passwd and a real broker, `sbd telemetry broker-creds`, the schema
check of incoming events, and `sbd telemetry listen` storing what devices
publish in SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from harness.broker import Broker, mosquitto_bin
from sbdtools import telemetry as tm
from sbdtools.cli import group


def _mosquitto_passwd() -> str:
    mosquitto_bin()  # skips / fails like the broker when mosquitto is missing
    found = shutil.which("mosquitto_passwd")
    if found is None:
        pytest.skip("mosquitto_passwd is not installed")
    return found


def test_our_lines_and_mosquitto_passwd_lines_agree(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("")
    subprocess.run([_mosquitto_passwd(), "-b", str(f), "DEV-1", "s3cret-value"], check=True)
    theirs = f.read_text().strip()
    assert theirs.startswith("DEV-1:$7$101$")
    assert tm.check_passwd_line(theirs, "DEV-1", "s3cret-value")
    assert not tm.check_passwd_line(theirs, "DEV-1", "s3cret-valuf")
    assert not tm.check_passwd_line(theirs, "DEV-2", "s3cret-value")
    ours = tm.passwd_line("DEV-1", "s3cret-value")
    assert ours.split("$")[:3] == theirs.split("$")[:3]  # same algorithm and iterations
    assert len(ours) == len(theirs)  # same salt and hash sizes
    assert tm.check_passwd_line(ours, "DEV-1", "s3cret-value")
    assert ours != tm.passwd_line("DEV-1", "s3cret-value")  # a fresh salt each time


def _login(port: int, user: str | None, pw: str | None) -> bool:
    done = threading.Event()
    result: list[bool] = []
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}")
    if user is not None:
        c.username_pw_set(user, pw)

    def on_connect(cl: paho.Client, ud: object, flags: object, rc: paho.ReasonCode, props: object) -> None:
        result.append(not rc.is_failure)
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        assert done.wait(20), "no CONNACK"
    finally:
        c.loop_stop()
        c.disconnect()
    return result[0]


def test_broker_creds_command_and_a_real_broker(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        group,
        [
            "telemetry",
            "broker-creds",
            "DEV-1",
            "DEV-2",
            "--passwd",
            str(tmp_path / "passwd"),
            "--acl",
            str(tmp_path / "acl"),
            "--secrets",
            str(tmp_path / "secrets.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    secrets = json.loads((tmp_path / "secrets.json").read_text())
    assert set(secrets) == {"DEV-1", "DEV-2", "listener"}
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0
    passwd = (tmp_path / "passwd").read_text()
    assert all(s not in passwd for s in secrets.values()), "a plaintext secret in the password file"
    assert "pattern write sbd/%u/#" in (tmp_path / "acl").read_text()
    again = CliRunner().invoke(
        group,
        [
            "telemetry",
            "broker-creds",
            "DEV-3",
            "--passwd",
            str(tmp_path / "passwd"),
            "--acl",
            str(tmp_path / "acl2"),
            "--secrets",
            str(tmp_path / "s2"),
        ],
    )
    assert again.exit_code != 0 and "exists" in str(again.exception)
    # nothing written when one target exists: no secret left behind
    assert not (tmp_path / "s2").exists() and not (tmp_path / "acl2").exists()
    broker = Broker(
        tmp_path, ["allow_anonymous false", f"password_file {tmp_path}/passwd", f"acl_file {tmp_path}/acl"]
    ).start()
    try:
        assert _login(broker.port, "DEV-1", secrets["DEV-1"])
        assert not _login(broker.port, "DEV-1", secrets["DEV-2"])
        assert not _login(broker.port, "DEV-1", None)
        assert not _login(broker.port, None, None)
    finally:
        broker.stop()


@pytest.mark.parametrize("serial", ["", "a/b", "a+b", "a#", "a:b", "x" * 65, "-x", "a b"])
def test_serials_that_would_break_topics_or_files_are_refused(serial: str) -> None:
    with pytest.raises(tm.TelemetryError):
        tm.check_serial(serial)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("sbd/DEV-1/other", b'{"v":1,"seq":1,"t_ms":0,"ev":"a.b","f":{}}'),
        ("sbd/DEV+/events", b'{"v":1,"seq":1,"t_ms":0,"ev":"a.b","f":{}}'),
        ("sbd/DEV-1/events", b'{"v":2,"seq":1,"t_ms":0,"ev":"a.b","f":{}}'),
        ("sbd/DEV-1/events", b'{"v":1,"seq":"1","t_ms":0,"ev":"a.b","f":{}}'),
        ("sbd/DEV-1/events", b'{"v":1,"seq":1,"t_ms":0,"ev":"","f":{}}'),
        ("sbd/DEV-1/events", b'{"v":1,"seq":1,"t_ms":0,"ev":"a.b","f":[]}'),
        ("sbd/DEV-1/events", b"not json"),
        ("sbd/DEV-1/events", b"[1]"),
        ("sbd/DEV-1/events", b" " * 5000),
    ],
)
def test_malformed_events_are_rejected(topic: str, payload: bytes) -> None:
    with pytest.raises(tm.TelemetryError):
        tm.parse_event(topic, payload)


def test_broker_urls() -> None:
    assert tm.parse_broker("mqtt://h") == tm.Broker("h", 1883, False)
    assert tm.parse_broker("mqtts://h:9000") == tm.Broker("h", 9000, True)
    for bad in ("http://h", "mqtt://", "mqtt://u:p@h", "mqtt://h:99999"):
        with pytest.raises(tm.TelemetryError):
            tm.parse_broker(bad)


def _publish_as(port: int, user: str, secret: str, payloads: list[bytes]) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=user)
    c.username_pw_set(user, secret)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for p in payloads:
            c.publish(f"sbd/{user}/events", p, qos=1).wait_for_publish(20)
    finally:
        c.loop_stop()
        c.disconnect()


@pytest.fixture
def creds_broker(tmp_path: Path) -> tuple[Broker, dict[str, str]]:
    devs = tm.broker_creds(["DEV-1", "DEV-2", "listener"])
    (tmp_path / "passwd").write_text("".join(d.line + "\n" for d in devs))
    (tmp_path / "acl").write_text(tm.acl_text(["listener"]))
    b = Broker(tmp_path, ["allow_anonymous false", f"password_file {tmp_path}/passwd", f"acl_file {tmp_path}/acl"])
    yield b.start(), {d.serial: d.secret for d in devs}
    b.stop()


def _event(seq: int, name: str = "auth.failure") -> bytes:
    return json.dumps({"v": 1, "seq": seq, "t_ms": seq * 10, "ev": name, "f": {"count": seq}}).encode()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_listen_stores_events_and_filters(
    db: str, creds_broker: tuple[Broker, dict[str, str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    broker, secrets = creds_broker
    url = str(tmp_path / "events.db") if db == "sqlite" else request.getfixturevalue("pg_url")
    store = tm.EventStore(url)
    lis = tm.Listener(
        tm.Broker("127.0.0.1", broker.port, False),
        store,
        user="listener",
        password=secrets["listener"],
        devices=["DEV-1"],
    )
    lis.start()
    try:
        _publish_as(broker.port, "DEV-1", secrets["DEV-1"], [_event(i) for i in range(1, 6)] + [b"garbage"])
        _publish_as(broker.port, "DEV-2", secrets["DEV-2"], [_event(1)])
        while lis.stats.received < 7:
            lis.poll(wait=1)
    finally:
        lis.stop()
    assert (lis.stats.received, lis.stats.stored, lis.stats.rejected) == (7, 5, 1)
    assert store.count() == 5 and store.count("DEV-1") == 5 and store.count("DEV-2") == 0
    store.close()


def test_listen_command_shows_and_stores(creds_broker: tuple[Broker, dict[str, str]], tmp_path: Path) -> None:
    broker, secrets = creds_broker
    out: list[str] = []

    def run() -> None:
        r = CliRunner(env={"SBD_MQTT_PASSWORD": secrets["listener"]}).invoke(
            group,
            [
                "telemetry",
                "listen",
                "--broker",
                f"mqtt://127.0.0.1:{broker.port}",
                "--user",
                "listener",
                "--db",
                str(tmp_path / "ev.db"),
                "--count",
                "3",
                "--seconds",
                "60",
            ],
        )
        out.append(r.output)

    th = threading.Thread(target=run)
    th.start()
    # publish until the listener has subscribed and taken three
    n = 0
    while th.is_alive() and n < 200:
        n += 1
        _publish_as(broker.port, "DEV-1", secrets["DEV-1"], [_event(n, "security.alert")])
        th.join(0.1)
    th.join(60)
    m = re.search(r"received (\d+), stored (\d+), rejected 0", out[0])
    assert m and int(m.group(2)) >= 3, out
    assert "security.alert" in out[0]
    store = tm.EventStore(str(tmp_path / "ev.db"))
    assert store.count("DEV-1") == int(m.group(2))
    store.close()


def test_listen_refuses_a_bad_login(creds_broker: tuple[Broker, dict[str, str]]) -> None:
    broker, _ = creds_broker
    lis = tm.Listener(tm.Broker("127.0.0.1", broker.port, False), None, user="listener", password="wrong")
    with pytest.raises(tm.TelemetryError, match="refused"):
        lis.start()


def test_listener_credentials_are_not_taken_from_the_url() -> None:
    # The listener's password comes from the environment, never argv (ps shows argv).
    r = CliRunner().invoke(group, ["telemetry", "listen", "--broker", "mqtt://u:p@h"])
    assert isinstance(r.exception, tm.TelemetryError) and "SBD_MQTT_PASSWORD" in str(r.exception)

"""Load: 20 virtual boards (real MicroPython, one process each) publish
telemetry over MQTT to one Mosquitto at once, for LOAD_SECONDS each (60 in CI,
where .ci/run sets SBD_LOAD_SECONDS; 3 s in a developer's `make test`),
while two listeners store everything, one in SQLite and one in PostgreSQL.
Every event a board counts as sent (the broker's PUBACK came back) must be
stored, per device, in both databases."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from harness.broker import Broker
from harness.vboards import SdkBoard
from sbdtools import telemetry as tm

BOARDS = 20
LOAD_SECONDS = int(os.environ.get("SBD_LOAD_SECONDS", "3"))

DEVICE = """
import time
from sbd import telemetry as t
from sbd.net import mqtt, Backoff
t.define('load.tick', ('n',))
t.configure(64, ())
c = mqtt.MqttClient('127.0.0.1', {port}, user={user!r}, password={secret!r}, timeout_s=20, insecure=True)  # no TLS here
t.add_sink(mqtt.MqttSink(c, Backoff(50, 500)))
end = time.ticks_add(time.ticks_ms(), {ms})
n = 0
while time.ticks_diff(end, time.ticks_ms()) > 0:
    n += 1
    t.record('load.tick', n)
    t.pump(16)
while t.pending() and t.pump(64):
    pass
print('LOAD', t.sent, t.pending(), t.dropped)
"""


@pytest.mark.slow
def test_twenty_boards_one_broker_every_event_stored(tmp_path: Path, make_sdk_board: object, pg_url: str) -> None:
    serials = [f"LOAD-{i:02d}" for i in range(BOARDS)]
    devs = tm.broker_creds([*serials, "listener"])
    secrets = {d.serial: d.secret for d in devs}
    (tmp_path / "passwd").write_text("".join(d.line + "\n" for d in devs))
    (tmp_path / "acl").write_text(tm.acl_text(["listener"]))
    broker = Broker(
        tmp_path,
        [
            "allow_anonymous false",
            f"password_file {tmp_path}/passwd",
            f"acl_file {tmp_path}/acl",
            "max_queued_messages 0",
        ],
    ).start()
    stores = {"sqlite": tm.EventStore(str(tmp_path / "load.db")), "postgresql": tm.EventStore(pg_url)}
    listeners = {
        k: tm.Listener(
            tm.Broker("127.0.0.1", broker.port, False),
            s,
            user="listener",
            password=secrets["listener"],
            client_id=f"load-{k}",
        )
        for k, s in stores.items()
    }
    stop = threading.Event()

    def drain(lis: tm.Listener) -> None:
        while not stop.is_set():
            lis.poll(wait=0.2)

    try:
        for lis in listeners.values():
            lis.start()
        drains = [threading.Thread(target=drain, args=(lis,)) for lis in listeners.values()]
        for th in drains:
            th.start()
        boards: list[SdkBoard] = [make_sdk_board(name=s.lower()) for s in serials]  # type: ignore[operator]
        sent: dict[str, int] = {}
        errors: list[str] = []

        def run(board: SdkBoard, serial: str) -> None:
            try:
                script = DEVICE.format(port=broker.port, user=serial, secret=secrets[serial], ms=LOAD_SECONDS * 1000)
                out = board.exec(script, timeout=300).output
                m = re.search(r"LOAD (\d+) (\d+) (\d+)", out)
                assert m and m.group(2) == "0", out
                sent[serial] = int(m.group(1))
            except Exception as e:
                errors.append(f"{serial}: {e}")

        threads = [threading.Thread(target=run, args=(b, s)) for b, s in zip(boards, serials, strict=True)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        total = sum(sent.values())
        for lis in listeners.values():
            deadline = 0
            while lis.stats.stored < total and deadline < 600:
                stop.wait(0.1)
                deadline += 1
        stop.set()
        for th in drains:
            th.join()
        print(f"\nload: {BOARDS} boards x {LOAD_SECONDS} s: {total} events sent;", end=" ")
        for k, s in stores.items():
            print(f"{k} stored {s.count()}", end="; ")
            for serial in serials:
                assert s.count(serial) == sent[serial], (k, serial)
            assert listeners[k].stats.rejected == 0
        assert total >= BOARDS  # every board got events through
    finally:
        stop.set()
        for lis in listeners.values():
            try:
                lis.stop()
            except Exception:
                pass
        for s in stores.values():
            s.close()
        broker.stop()

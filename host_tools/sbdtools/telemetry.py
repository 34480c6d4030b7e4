"""Host side of sbd telemetry: per-device broker credentials and the listener.

Broker credentials: each device logs in to the broker with its serial as
user name and a random secret of its own.  The broker checks it against
`password_file` lines in mosquitto_passwd's hashed form (`$7$`: PBKDF2-
HMAC-SHA512, 101 iterations, 12-byte salt, as mosquitto 2 writes them), so
the station exports what the broker needs without keeping the secret.  The
`acl_file` lets each device write only under its own topic tree
(`pattern write sbd/%u/#`) and the listener read them all.

The listener (`sbd telemetry listen`) subscribes to `sbd/+/events`, takes the
device from the topic (the broker vouches for it), checks each payload
against schema version 1 (docs/telemetry.md) and stores it in SQLite or
PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from .errors import SbdError

SCHEMA = 1
TOPIC_FILTER = "sbd/+/events"
MOSQ_ITERATIONS = 101  # mosquitto_passwd's default for $7$
_SALT_LEN = 12
_SECRET_BYTES = 24  # 192 bits, 32 characters of url-safe base64
_SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_PAYLOAD = 4096


class TelemetryError(SbdError):
    """A telemetry input (serial, credential, event) is not acceptable."""


def check_serial(serial: str) -> str:
    """A serial usable as an MQTT user name and topic level (no wildcards,
    no separators, no colon for password_file)."""
    if not _SERIAL_RE.fullmatch(serial):
        raise TelemetryError("a serial is 1-64 characters of A-Z a-z 0-9 _ . - (starting with a letter or digit)")
    return serial


def new_secret() -> str:
    """A device's broker secret from the CSPRNG."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def passwd_line(user: str, secret: str, *, salt: bytes | None = None, iterations: int = MOSQ_ITERATIONS) -> str:
    """One mosquitto password_file line for `user` ($7$, PBKDF2-SHA512)."""
    check_serial(user)
    salt = secrets.token_bytes(_SALT_LEN) if salt is None else salt
    dk = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations, 64)
    b64 = base64.b64encode
    return f"{user}:$7${iterations}${b64(salt).decode()}${b64(dk).decode()}"


def check_passwd_line(line: str, user: str, secret: str) -> bool:
    """True when a $7$ line (ours or mosquitto_passwd's) accepts user/secret."""
    name, _, rest = line.strip().partition(":")
    parts = rest.split("$")
    if name != user or len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    return passwd_line(user, secret, salt=salt, iterations=int(parts[2])).split(":", 1)[1] == rest


def acl_text(listeners: Iterable[str] = ("listener",)) -> str:
    """An acl_file: devices write only under sbd/<own user>/, listeners read all."""
    lines = ["# sbd telemetry: made by `sbd telemetry broker-creds`"]
    for u in listeners:
        lines += [f"user {check_serial(u)}", "topic read sbd/#", ""]
    lines += ["# every device: its own tree only", "pattern write sbd/%u/#", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class DeviceCreds:
    serial: str
    secret: str  # goes to the device only (its credential store); never stored here
    line: str


def broker_creds(serials: Iterable[str]) -> list[DeviceCreds]:
    out = []
    seen: set[str] = set()
    for s in serials:
        check_serial(s)
        if s in seen:
            raise TelemetryError(f"serial {s} given twice")
        seen.add(s)
        secret = new_secret()
        out.append(DeviceCreds(s, secret, passwd_line(s, secret)))
    return out


@dataclass(frozen=True)
class Event:
    device: str
    seq: int
    t_ms: int
    name: str
    fields: dict[str, object]


def parse_event(topic: str, payload: bytes) -> Event:
    """Check one message against schema 1; the device comes from the topic."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "sbd" or parts[2] != "events":
        raise TelemetryError("not an sbd event topic")
    device = check_serial(parts[1])
    if len(payload) > MAX_PAYLOAD:
        raise TelemetryError("event too large")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise TelemetryError("event is not JSON") from e
    if not isinstance(obj, dict) or obj.get("v") != SCHEMA:
        raise TelemetryError("unknown event schema version")
    seq, t_ms, name, fields = obj.get("seq"), obj.get("t_ms"), obj.get("ev"), obj.get("f")
    if not isinstance(seq, int) or not isinstance(t_ms, int) or isinstance(seq, bool):
        raise TelemetryError("event seq/t_ms are not integers")
    if not isinstance(name, str) or not 0 < len(name) <= 32 or not isinstance(fields, dict):
        raise TelemetryError("event name or fields malformed")
    return Event(device, seq, t_ms, name, fields)


# -- the bounded log on the device's flash (sbd.flashlog) -----------------------

LOG_PATH = "/.sbd/log/events"
_LOG_PATH_RE = re.compile(r"/[A-Za-z0-9_.-][A-Za-z0-9_./-]{0,99}")
_MARK = "@@SBD-RESULT"


def flash_log_script(path: str = LOG_PATH) -> str:
    """A board script reporting the records of its flash log (as text)."""
    if not _LOG_PATH_RE.fullmatch(path) or ".." in path:
        raise TelemetryError("--path: an absolute path on the board (A-Z a-z 0-9 _ . - /)")
    return (
        "import json\n"
        "try:\n"
        "    from sbd import flashlog\n"
        f"    recs = [bytes(r).decode() for r in flashlog.read({path!r})]\n"
        "    r = {'records': recs}\n"
        "except Exception as e:\n"
        "    r = {'error': type(e).__name__, 'msg': str(e)}\n"
        f"print({_MARK!r}, json.dumps(r))\n"
    )


def parse_flash_log(doc: dict[str, Any]) -> tuple[list[Event], int]:
    """The events of a flash_log_script report, oldest first, and how many
    records were not schema-1 events (counted, never shown raw)."""
    if "error" in doc:
        raise TelemetryError(f"reading the log on the board failed: {doc.get('error')}: {str(doc.get('msg'))[:200]}")
    recs = doc.get("records")
    if not isinstance(recs, list):
        raise TelemetryError("the board did not report its log")
    out: list[Event] = []
    bad = 0
    for r in recs:
        try:
            out.append(parse_event("sbd/flash/events", str(r).encode()))
        except TelemetryError:
            bad += 1
    return out, bad


# -- storage -------------------------------------------------------------------

_CREATE = (
    "CREATE TABLE IF NOT EXISTS telemetry_events ("
    " id {pk}, device TEXT NOT NULL, seq BIGINT NOT NULL, t_ms BIGINT NOT NULL,"
    " name TEXT NOT NULL, fields TEXT NOT NULL, received_at TEXT NOT NULL)"
)
_COLS = "INSERT INTO telemetry_events (device, seq, t_ms, name, fields, received_at)"
_INSERT = {"sqlite": _COLS + " VALUES (?, ?, ?, ?, ?, ?)", "postgresql": _COLS + " VALUES (%s, %s, %s, %s, %s, %s)"}
_COUNT_DEVICE = {
    "sqlite": "SELECT COUNT(*) FROM telemetry_events WHERE device = ?",
    "postgresql": "SELECT COUNT(*) FROM telemetry_events WHERE device = %s",
}
_INDEX = "CREATE INDEX IF NOT EXISTS telemetry_events_device ON telemetry_events (device, name)"


class EventStore:
    """Events in SQLite (a path or sqlite:///path) or PostgreSQL
    (postgresql://...), the table `telemetry_events`; one transaction per batch."""

    def __init__(self, url: str) -> None:
        from .provision import factorydb

        self.dialect, target = factorydb.parse_url(url)
        self.shown = factorydb.redact_url(url)
        self._lock = threading.Lock()
        if self.dialect == "sqlite":
            self.conn: Any = sqlite3.connect(target, check_same_thread=False, timeout=15)
            pk = "INTEGER PRIMARY KEY AUTOINCREMENT"
        else:
            import psycopg

            try:
                self.conn = psycopg.connect(target, connect_timeout=5)
            except psycopg.OperationalError:
                raise TelemetryError(f"cannot reach the database {self.shown}") from None
            pk = "BIGSERIAL PRIMARY KEY"
        with self._lock:
            cur = self.conn.cursor()
            cur.execute(_CREATE.format(pk=pk))
            cur.execute(_INDEX)
            self.conn.commit()

    def add(self, events: Iterable[Event]) -> int:
        rows = [(e.device, e.seq, e.t_ms, e.name, json.dumps(e.fields, sort_keys=True), _now()) for e in events]
        if not rows:
            return 0
        with self._lock:
            cur = self.conn.cursor()
            cur.executemany(_INSERT[self.dialect], rows)
            self.conn.commit()
        return len(rows)

    def count(self, device: str | None = None) -> int:
        """Events stored (of one device)."""
        with self._lock:
            cur = self.conn.cursor()
            if device is None:
                cur.execute("SELECT COUNT(*) FROM telemetry_events")
            else:
                cur.execute(_COUNT_DEVICE[self.dialect], (device,))
            row = cur.fetchone()
            self.conn.commit()
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# -- the listener ----------------------------------------------------------------


@dataclass
class Broker:
    host: str
    port: int
    tls: bool


def parse_broker(url: str) -> Broker:
    """mqtt://host[:port] or mqtts://host[:port] (TLS, port 8883 by default)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise TelemetryError("--broker is mqtt://host[:port] or mqtts://host[:port]")
    if parts.username or parts.password:
        raise TelemetryError("put the listener's credentials in --user and SBD_MQTT_PASSWORD, not in the URL")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise TelemetryError("the broker's port must be a number from 1 to 65535") from None
    return Broker(parts.hostname, port, parts.scheme == "mqtts")


@dataclass
class ListenStats:
    received: int = 0
    stored: int = 0
    rejected: int = 0


class Listener:
    """Subscribes to sbd/+/events and stores what passes the schema check.

    paho's network thread only queues messages; `run` stores them in
    batches, so a slow database never stalls the MQTT connection."""

    def __init__(
        self,
        broker: Broker,
        store: EventStore | None,
        *,
        user: str | None = None,
        password: str | None = None,
        tls_ca: str | None = None,
        devices: Iterable[str] = (),
        names: Iterable[str] = (),
        client_id: str | None = None,
    ) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.store = store
        self.devices = set(devices)
        self.names = set(names)
        self.stats = ListenStats()
        self._q: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._ready = threading.Event()
        self._error: str | None = None
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"sbd-listen-{secrets.token_hex(4)}")
        if user is not None:
            c.username_pw_set(user, password)
        if broker.tls:
            c.tls_set(ca_certs=tls_ca)  # verifies chain and host name
        elif tls_ca:
            raise TelemetryError("--tls-ca needs an mqtts:// broker")
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        self.client = c
        self.broker = broker

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self._error = f"the broker refused the listener: {rc}"
            self._ready.set()
            return
        client.subscribe(TOPIC_FILTER, qos=1)

    def _on_subscribe(self, *args: Any) -> None:
        self._ready.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._q.put((msg.topic, bytes(msg.payload)))

    def start(self, timeout: float = 20) -> None:
        try:
            self.client.connect(self.broker.host, self.broker.port)
        except OSError as e:
            raise TelemetryError(f"cannot reach the broker {self.broker.host}:{self.broker.port}: {e}") from None
        self.client.loop_start()
        if not self._ready.wait(timeout) or self._error:
            self.stop()
            raise TelemetryError(self._error or "the broker did not answer the subscription")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def poll(self, wait: float = 0.2, batch: int = 500) -> list[Event]:
        """Take what arrived (waiting up to `wait` for the first), check,
        filter and store it; returns the events kept."""
        msgs = []
        try:
            msgs.append(self._q.get(timeout=wait))
            while len(msgs) < batch:
                msgs.append(self._q.get_nowait())
        except queue.Empty:
            pass
        kept = []
        for topic, payload in msgs:
            self.stats.received += 1
            try:
                ev = parse_event(topic, payload)
            except TelemetryError:
                self.stats.rejected += 1
                continue
            if (self.devices and ev.device not in self.devices) or (self.names and ev.name not in self.names):
                continue
            kept.append(ev)
        if self.store is not None:
            self.stats.stored += self.store.add(kept)
        return kept

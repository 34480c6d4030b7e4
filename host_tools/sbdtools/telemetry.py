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
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

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

"""Fixtures for the system services some tests need (Mosquitto, PostgreSQL).

They are looked for on 127.0.0.1.  On a developer's machine without them the
tests that ask for them skip with a message saying how to enable them; with
SBD_REQUIRE_SERVICES=1 (set by .ci/run, which installs and starts both) a
missing service fails the test instead, so CI can never silently skip.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Service:
    name: str
    host: str
    port: int
    dsn: str = ""


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def _need(name: str, port: int, how: str) -> None:
    if _reachable(port):
        return
    msg = f"{name} is not running on {HOST}:{port}; {how}"
    if os.environ.get("SBD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"SBD_REQUIRE_SERVICES=1 but {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def mosquitto() -> Service:
    port = int(os.environ.get("SBD_MQTT_PORT", "1883"))
    _need("Mosquitto", port, "install and start it (`sudo apt-get install mosquitto`) or run .ci/run")
    return Service("mosquitto", HOST, port)


@pytest.fixture(scope="session")
def postgres() -> Service:
    port = int(os.environ.get("SBD_PG_PORT", "5432"))
    dsn = os.environ.get("SBD_PG_DSN", f"postgresql://sbd:sbd@{HOST}:{port}/sbd")
    _need(
        "PostgreSQL",
        port,
        "install and start it (`sudo apt-get install postgresql`), create role and database `sbd` "
        "(password `sbd`) or set SBD_PG_DSN, or run .ci/run",
    )
    return Service("postgresql", HOST, port, dsn)


def _with_schema(dsn: str, schema: str) -> str:
    return dsn + ("&" if "?" in dsn else "?") + "options=-csearch_path%3D" + schema


@pytest.fixture
def pg_url(postgres: Service) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of this test's own
    (dropped afterwards), so parallel tests never see each other's rows."""
    import psycopg

    schema = "sbdtest_" + secrets.token_hex(6)
    with psycopg.connect(postgres.dsn, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _with_schema(postgres.dsn, schema)
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")

"""The factory database (sbdtools.provision.factorydb), on SQLite and on the
real PostgreSQL server (tests/harness/services.py: skipped locally without
one, a failure under SBD_REQUIRE_SERVICES=1).  Each PostgreSQL test works in a
schema of its own, so parallel tests never see each other's rows."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.services import Service
from sbdtools.provision import escrow, factorydb, migrations, passwords
from sbdtools.provision.factorydb import (
    AlreadyProvisionedError,
    DatabaseUnavailableError,
    DatabaseURLError,
    DuplicateSerialError,
    InvalidValueError,
    SchemaError,
    StateError,
)

ROOT = Path(__file__).resolve().parents[2]
UID = "a1b2c3d4e5f60718"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "factory.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(url: str) -> Iterator[factorydb.FactoryDB]:
    d = factorydb.open_db(url, station="station-1")
    yield d
    d.close()


def _dump(db: factorydb.FactoryDB) -> str:
    """Every value of every table, as text."""
    out = []
    with db.transaction("dump") as q:
        for table in ("boards", "events", "counters", "schema_version"):
            out += [repr(r) for r in q.all(f"SELECT * FROM {table}")]
    return "\n".join(out)


# -- the happy path ------------------------------------------------------------


def test_a_board_is_started_then_provisioned(db: factorydb.FactoryDB) -> None:
    s = factorydb.begin_provisioning(db, bytes.fromhex(UID), model="Acme T1", board="esp32",
                                     firmware_version="1.24.1", sdk_version="0.1.0")  # fmt: skip
    assert s.action == "new" and s.previous is None
    assert (s.board.unique_id, s.board.serial, s.board.state) == (UID, "SBD-000001", "started")
    assert factorydb.half_provisioned(db) == [s.board]
    done = factorydb.finish_provisioning(db, UID, escrow=b"\x00blob\xff")
    assert (done.state, done.result, done.escrow, done.serial) == ("provisioned", "ok", b"\x00blob\xff", "SBD-000001")
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert (done.model, done.board, done.firmware_version, done.sdk_version) == ("Acme T1", "esp32", "1.24.1", "0.1.0")
    assert factorydb.get_board_by_serial(db, "SBD-000001") == done == factorydb.get_board(db, UID)
    assert [e.kind for e in factorydb.events(db, UID)] == ["started", "provisioned"]
    assert all(e.station == "station-1" for e in factorydb.events(db))
    assert factorydb.counts(db) == {"started": 0, "provisioned": 1, "failed": 0}


def test_serials_count_up_per_prefix(db: factorydb.FactoryDB) -> None:
    got = [factorydb.begin_provisioning(db, "%016x" % i, model="M").board.serial for i in range(1, 4)]
    assert got == ["SBD-000001", "SBD-000002", "SBD-000003"]
    other = factorydb.begin_provisioning(db, "ff" * 8, model="M", serial_prefix="T2-").board.serial
    assert other == "T2-000001"


def test_no_plaintext_password_is_stored(db: factorydb.FactoryDB, url: str) -> None:
    vendor = escrow.generate_key()
    pw = passwords.generate()
    factorydb.begin_provisioning(db, UID, model="Acme T1")
    factorydb.finish_provisioning(db, UID, escrow=escrow.seal(pw, vendor.public_key(), serial="SBD-000001"))
    text = _dump(db)
    assert "SBD-000001" in text  # the dump does see the data
    assert pw not in text and pw.replace("-", "") not in text
    if db.dialect == "sqlite":  # the raw file and its write-ahead log, too
        raw = b"".join(Path(p).read_bytes() for p in (url, url + "-wal") if os.path.exists(p))
        assert b"SBD-000001" in raw and pw.encode() not in raw
    row = factorydb.get_board(db, UID)
    assert row is not None and row.escrow is not None
    assert escrow.recover(row.escrow, vendor).password == pw


def test_the_schema_has_no_column_for_a_password() -> None:
    sql = " ".join(s for m in migrations.MIGRATIONS for s in m[2]).lower()
    assert "password" not in sql and "verifier" not in sql


# -- provisioned twice, half-provisioned, failed --------------------------------


def test_a_provisioned_board_is_not_provisioned_again_by_accident(db: factorydb.FactoryDB) -> None:
    factorydb.begin_provisioning(db, UID, model="Acme T1")
    factorydb.finish_provisioning(db, UID, escrow=b"old")
    before = _dump(db)
    with pytest.raises(AlreadyProvisionedError, match=r"already provisioned as serial SBD-000001.*--reprovision"):
        factorydb.begin_provisioning(db, UID, model="Acme T1")
    assert _dump(db) == before, "a refused call changes nothing"


def test_reprovisioning_is_explicit_and_logged(db: factorydb.FactoryDB) -> None:
    factorydb.begin_provisioning(db, UID, model="Acme T1")
    first = factorydb.finish_provisioning(db, UID, escrow=b"old")
    s = factorydb.begin_provisioning(db, UID, model="Acme T1 rev B", reprovision=True)
    assert s.action == "reprovision" and s.previous == first
    assert (s.board.serial, s.board.state, s.board.attempts, s.board.model) == (
        "SBD-000001",
        "started",
        2,
        "Acme T1 rev B",
    )
    ev = factorydb.events(db, UID)
    assert [e.kind for e in ev] == ["started", "provisioned", "reprovision"]
    assert "was provisioned" in (ev[-1].detail or "")
    # The escrow of the last completed provisioning stays until the new one completes.
    assert s.board.escrow == b"old"
    assert factorydb.finish_provisioning(db, UID, escrow=b"new").escrow == b"new"


def test_a_half_provisioned_board_is_found_and_resumed(url: str) -> None:
    with factorydb.open_db(url, station="station-1") as d:
        factorydb.begin_provisioning(d, UID, model="Acme T1")
    # The station crashed here.  A new run, maybe on another station:
    with factorydb.open_db(url, station="station-2") as d:
        assert [b.unique_id for b in factorydb.half_provisioned(d)] == [UID]
        s = factorydb.begin_provisioning(d, UID, model="Acme T1")
        assert s.action == "resumed" and s.board.serial == "SBD-000001" and s.board.attempts == 2
        assert s.board.station == "station-2"
        assert factorydb.begin_provisioning(d, "00" * 8, model="Acme T1").board.serial == "SBD-000002", (
            "resuming used no new serial"
        )
        factorydb.finish_provisioning(d, UID)
        assert [b.unique_id for b in factorydb.half_provisioned(d)] == ["00" * 8]
        assert [e.kind for e in factorydb.events(d, UID)] == ["started", "resumed", "provisioned"]


def test_a_failed_board_is_retried_under_its_serial(db: factorydb.FactoryDB) -> None:
    factorydb.begin_provisioning(db, UID, model="Acme T1")
    f = factorydb.fail_provisioning(db, UID, "self-test failed:\nrecord unreadable")
    assert (f.state, f.result) == ("failed", "self-test failed: record unreadable")
    s = factorydb.begin_provisioning(db, UID, model="Acme T1")
    assert s.action == "retry" and s.board.serial == "SBD-000001" and s.board.result is None
    assert [e.kind for e in factorydb.events(db, UID)] == ["started", "failed", "retry"]


def test_finishing_a_board_that_was_not_started_is_refused(db: factorydb.FactoryDB) -> None:
    with pytest.raises(StateError, match="no provisioning record"):
        factorydb.finish_provisioning(db, UID)
    factorydb.begin_provisioning(db, UID, model="M")
    factorydb.finish_provisioning(db, UID)
    with pytest.raises(StateError, match="is provisioned, not started"):
        factorydb.fail_provisioning(db, UID, "late failure")
    with pytest.raises(StateError):
        factorydb.finish_provisioning(db, UID)


# -- serials -------------------------------------------------------------------


def test_a_duplicate_serial_is_refused_and_nothing_stored(db: factorydb.FactoryDB) -> None:
    factorydb.begin_provisioning(db, UID, model="M", serial="CUST-42")
    before = _dump(db)
    with pytest.raises(DuplicateSerialError, match=f"serial CUST-42 already belongs to board {UID}"):
        factorydb.begin_provisioning(db, "00" * 8, model="M", serial="CUST-42")
    assert _dump(db) == before


def test_allocation_skips_a_serial_set_by_hand(db: factorydb.FactoryDB) -> None:
    factorydb.begin_provisioning(db, UID, model="M", serial="SBD-000001")
    assert factorydb.begin_provisioning(db, "00" * 8, model="M").board.serial == "SBD-000002"


def test_a_failed_step_leaves_nothing_behind(db: factorydb.FactoryDB, monkeypatch: pytest.MonkeyPatch) -> None:
    """One transaction per call: a failure after the board row was written (here:
    writing the audit event) takes the row and the used serial back with it."""
    factorydb.begin_provisioning(db, "00" * 8, model="M")
    before = _dump(db)

    def broken(*a: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(factorydb, "_event", broken)
    with pytest.raises(RuntimeError):
        factorydb.begin_provisioning(db, UID, model="M")
    assert _dump(db) == before
    monkeypatch.undo()
    assert factorydb.begin_provisioning(db, UID, model="M").board.serial == "SBD-000002"


def _station(url: str, name: str, n: int, barrier: threading.Barrier, out: list[str], errors: list[str]) -> None:
    try:
        with factorydb.open_db(url, station=name) as d:
            barrier.wait()
            for _ in range(n):
                uid = secrets.token_hex(8)
                out.append(factorydb.begin_provisioning(d, uid, model="M").board.serial)
                factorydb.finish_provisioning(d, uid)
    except Exception as e:  # reported below, with the station's name
        errors.append(f"{name}: {e!r}")


def test_concurrent_stations_never_share_a_serial(url: str) -> None:
    stations, per = 4, 15
    barrier = threading.Barrier(stations)
    out: list[str] = []
    errors: list[str] = []
    # The first open migrates; open once first so the race is about serials.
    factorydb.open_db(url).close()
    threads = [threading.Thread(target=_station, args=(url, f"st{k}", per, barrier, out, errors))
               for k in range(stations)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(out) == ["SBD-%06d" % i for i in range(1, stations * per + 1)]


_PROC = r"""
import sys, secrets
from sbdtools.provision import factorydb
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with factorydb.open_db(url, station=name) as d:
    sys.stdin.readline()  # start together
    for _ in range(n):
        uid = secrets.token_hex(8)
        print(factorydb.begin_provisioning(d, uid, model="M").board.serial, flush=True)
        factorydb.finish_provisioning(d, uid)
"""


def test_concurrent_station_processes_never_share_a_serial(url: str) -> None:
    """Separate processes, as separate stations are: no shared Python lock can help."""
    procs = [subprocess.Popen([sys.executable, "-c", _PROC, url, f"p{k}", "20"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(3)]  # fmt: skip
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    serials: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        serials += out.split()
    assert sorted(serials) == ["SBD-%06d" % i for i in range(1, 61)]


# -- migrations ----------------------------------------------------------------


def test_migrations_bring_a_new_database_to_the_latest_version(db: factorydb.FactoryDB) -> None:
    assert factorydb.schema_version(db) == migrations.LATEST
    assert factorydb.apply_migrations(db) == migrations.LATEST, "applying again is a no-op"
    with db.transaction("t") as q:
        assert q.all("SELECT version FROM schema_version ORDER BY version") == [(m[0],) for m in migrations.MIGRATIONS]


def test_migration_versions_are_contiguous() -> None:
    assert [m[0] for m in migrations.MIGRATIONS] == list(range(1, len(migrations.MIGRATIONS) + 1))


def test_a_newer_schema_is_refused(url: str) -> None:
    with factorydb.open_db(url) as d, d.transaction("t") as q:
        q.run("INSERT INTO schema_version (version, description, applied_at) VALUES (?, 'future', 'x')",
              (migrations.LATEST + 1,))  # fmt: skip
    with pytest.raises(SchemaError, match=r"newer than this sbd knows.*upgrade sbd"):
        factorydb.open_db(url)


def test_an_unmigrated_database_is_refused_without_migrate(url: str) -> None:
    with pytest.raises(SchemaError, match="schema version 0"):
        factorydb.open_db(url, migrate=False)


def test_stations_starting_together_migrate_once(url: str) -> None:
    errors: list[str] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            factorydb.open_db(url).close()
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with factorydb.open_db(url) as d, d.transaction("t") as q:
        assert q.one("SELECT COUNT(*) FROM schema_version") == (migrations.LATEST,)


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("", "no database given"),
        ("mysql://u:s3cret@db/factory", "unsupported database URL scheme 'mysql'"),
        ("http://u:s3cret@db/factory", "unsupported database URL scheme 'http'"),
        ("sqlite://host/factory.db", "a sqlite URL has no host"),
        ("sqlite:///srv/factory/", "names no file"),
        ("sqlite:///srv/factory.db?mode=ro", "take no options"),
        ("postgresql://u:s3cret@db:notaport/factory", "port must be a number"),
        ("postgresql://u:s3cret@db:99999/factory", "port must be a number"),
        ("postgresql://u:s3cret@db/factory?bogus=1", "malformed database URL"),
    ],
)
def test_malformed_urls_say_what_is_wrong_without_the_password(bad: str, match: str) -> None:
    with pytest.raises(DatabaseURLError, match=match) as e:
        factorydb.open_db(bad)
    assert "s3cret" not in str(e.value)
    assert str(e.value).startswith(("malformed", "unsupported", "no database"))


def test_url_forms() -> None:
    assert factorydb.parse_url("factory.db") == ("sqlite", "factory.db")
    assert factorydb.parse_url("sqlite:///srv/f.db") == ("sqlite", "/srv/f.db")
    assert factorydb.parse_url("sqlite:rel/f.db") == ("sqlite", "rel/f.db")
    assert factorydb.parse_url("postgres://u@h/d")[0] == "postgresql"
    assert factorydb.redact_url("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert factorydb.redact_url("postgresql://h/d?user=u&password=s3cret") == "postgresql://h/d?user=u&password=***"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_database_that_is_down_is_a_clear_error() -> None:
    url = f"postgresql://sbd:s3cret@127.0.0.1:{_free_port()}/sbd"
    with pytest.raises(DatabaseUnavailableError, match=r"cannot connect.*127\.0\.0\.1.*is running") as e:
        factorydb.open_db(url)
    assert "s3cret" not in str(e.value)


def test_a_wrong_database_password_is_a_clear_error(postgres: Service) -> None:
    import psycopg

    user = psycopg.conninfo.conninfo_to_dict(postgres.dsn).get("user", "sbd")
    url = f"postgresql://{user}:wrong-s3cret@{postgres.host}:{postgres.port}/sbd"
    with pytest.raises(DatabaseUnavailableError, match="cannot connect") as e:
        factorydb.open_db(url)
    assert "wrong-s3cret" not in str(e.value)


def _kill_backend(pg_url: str, pid: int) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_database_lost_between_boards(pg_url: str) -> None:
    """The server drops the station's connection mid-batch: the next call fails
    clearly, nothing stored is lost, and the call after reconnects."""
    with factorydb.open_db(pg_url) as d:
        factorydb.begin_provisioning(d, "01" * 8, model="M")
        factorydb.finish_provisioning(d, "01" * 8)
        _kill_backend(pg_url, d._conn.info.backend_pid)
        with pytest.raises(DatabaseUnavailableError, match="re-running it is safe"):
            factorydb.begin_provisioning(d, "02" * 8, model="M")
        assert factorydb.get_board(d, "01" * 8) is not None
        s = factorydb.begin_provisioning(d, "02" * 8, model="M")
        assert s.action == "new" and s.board.serial == "SBD-000002"


def test_database_lost_in_the_middle_of_a_step(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection dies after the serial was taken, before the board row was
    written: the whole step is rolled back by the server, the serial included."""
    with factorydb.open_db(pg_url) as d:
        factorydb.begin_provisioning(d, "01" * 8, model="M")
        real = factorydb._allocate_serial

        def allocate_then_die(q: Any, prefix: str) -> str:
            serial = real(q, prefix)
            _kill_backend(pg_url, d._conn.info.backend_pid)
            return serial

        monkeypatch.setattr(factorydb, "_allocate_serial", allocate_then_die)
        with pytest.raises(DatabaseUnavailableError, match="lost the connection"):
            factorydb.begin_provisioning(d, "02" * 8, model="M")
        monkeypatch.undo()
        assert factorydb.get_board(d, "02" * 8) is None
        assert factorydb.get_board(d, "01" * 8) is not None
        assert factorydb.begin_provisioning(d, "02" * 8, model="M").board.serial == "SBD-000002"


def test_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError, match="does not exist; create it or fix --db"):
        factorydb.open_db(str(tmp_path / "nope" / "factory.db"))


def test_sqlite_create_false_refuses_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError, match="does not exist"):
        factorydb.open_db(str(tmp_path / "factory.db"), create=False)
    assert not (tmp_path / "factory.db").exists()


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    p = tmp_path / "factory.db"
    p.write_bytes(b"this is a spreadsheet, not a database" * 100)
    with pytest.raises(DatabaseUnavailableError, match="not a usable SQLite database"):
        factorydb.open_db(str(p))
    assert p.read_bytes().startswith(b"this is a spreadsheet"), "the file is left alone"


def test_sqlite_locked_by_another_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = str(tmp_path / "factory.db")
    with factorydb.open_db(p) as d:
        factorydb.begin_provisioning(d, "01" * 8, model="M")
    monkeypatch.setattr(factorydb, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    other = sqlite3.connect(p, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with factorydb.open_db(p, migrate=False) as d:
            with pytest.raises(DatabaseUnavailableError, match="locked by another program"):
                factorydb.begin_provisioning(d, "02" * 8, model="M")
    finally:
        other.execute("ROLLBACK")
        other.close()
    with factorydb.open_db(p) as d:
        assert factorydb.begin_provisioning(d, "02" * 8, model="M").board.serial == "SBD-000002"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"unique_id": "xyz"}, "unique id"),
        ({"unique_id": "abc"}, "unique id"),
        ({"unique_id": b""}, "unique id"),
        ({"model": ""}, "model"),
        ({"model": "two\nlines"}, "model"),
        ({"model": "x" * 65}, "model"),
        ({"serial": "has space"}, "serial"),
        ({"serial": "-leading"}, "serial"),
        ({"serial_prefix": "a/b"}, "serial prefix"),
    ],
)
def test_malformed_values_are_refused(db: factorydb.FactoryDB, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"unique_id": UID, "model": "M", **kwargs}
    uid = args.pop("unique_id")
    with pytest.raises(InvalidValueError, match=match):
        factorydb.begin_provisioning(db, uid, **args)
    assert factorydb.counts(db) == {"started": 0, "provisioned": 0, "failed": 0}


def test_unique_id_forms_are_one_board(db: factorydb.FactoryDB) -> None:
    factorydb.begin_provisioning(db, "A1:B2:C3:D4", model="M")
    assert factorydb.begin_provisioning(db, b"\xa1\xb2\xc3\xd4", model="M").action == "resumed"


def test_a_station_name_is_required_to_be_sane(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="station"):
        factorydb.open_db(str(tmp_path / "f.db"), station="")


def test_errors_are_sbd_errors() -> None:
    from sbdtools.errors import SbdError

    for cls in (DatabaseURLError, DatabaseUnavailableError, SchemaError, InvalidValueError,
                AlreadyProvisionedError, DuplicateSerialError, StateError):  # fmt: skip
        assert issubclass(cls, SbdError)


def test_the_repo_root_is_right() -> None:
    assert (ROOT / "host_tools" / "sbdtools" / "provision" / "factorydb.py").exists()


def test_one_database_shared_by_a_stations_threads(url: str) -> None:
    """A batch on one station may share one FactoryDB between its board threads."""
    with factorydb.open_db(url, station="batch") as d:
        barrier = threading.Barrier(8)
        errors: list[str] = []
        serials: list[str] = []

        def board(k: int) -> None:
            try:
                barrier.wait()
                uid = "%016x" % (k + 1)
                serials.append(factorydb.begin_provisioning(d, uid, model="M").board.serial)
                if k == 3:
                    factorydb.fail_provisioning(d, uid, "board stopped answering")
                else:
                    factorydb.finish_provisioning(d, uid)
            except Exception as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=board, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert sorted(serials) == ["SBD-%06d" % i for i in range(1, 9)]
        assert factorydb.counts(d) == {"started": 0, "provisioned": 7, "failed": 1}
        assert len(factorydb.events(d)) == 16


def test_sqlite_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError, match="unable to open database file"):
        factorydb.open_db(str(tmp_path))

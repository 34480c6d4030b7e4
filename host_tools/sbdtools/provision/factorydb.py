"""The factory database: which board got which serial, when, where and how it went.

SQLite (a file path, or ``sqlite:///abs/path`` / ``sqlite:rel/path``) for one
station; PostgreSQL (``postgresql://user:pass@host:port/db``, psycopg 3) for
several stations sharing one database.  Both get the same schema from the same
migrations (sbdtools.provision.migrations); only locking differs.

Rules this module enforces (tests in tests/host/test_provision_factorydb.py):

1. Never a plaintext password: there is no column for one.  The optional
   escrow is the password sealed to a vendor public key (escrow.py).
2. Every call is one transaction: it happens whole or not at all, so an error
   (a dropped connection, a full disk, a bug) never loses or half-writes what
   was stored before.
3. Serials are allocated from a counter row updated inside the transaction
   (UPDATE ... RETURNING): the row lock serialises concurrent stations on
   PostgreSQL, BEGIN IMMEDIATE does on SQLite, and a UNIQUE constraint is the
   backstop.  Two stations never hand out the same serial.
4. A provisioned board is not provisioned again by accident: that needs
   reprovision=True, and it is logged in the events table (as is every start,
   resume, retry, success and failure).
5. A board left in state 'started' (the station crashed or lost power
   mid-board) is detected on the next begin_provisioning() for it, which
   resumes it under the same serial so the re-run finishes or redoes it.
6. Bad input and failures are SbdError subclasses whose messages say what to
   do, and never show the database password.

A FactoryDB may be shared by the threads of one station: calls are
serialised on it.  Several processes or stations each open their own.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from sbdtools.errors import SbdError
from sbdtools.provision import migrations

STATES = ("started", "provisioned", "failed")
DEFAULT_SERIAL_PREFIX = "SBD-"
SERIAL_WIDTH = 6  # digits after the prefix: SBD-000001
CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_S = 15.0
MAX_REASON = 500  # characters of a failure reason kept
_MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_UNIQUE_ID_RE = re.compile(r"^[0-9a-f]{2,64}$")
_SERIAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]{0,16}$")
_BOARD_COLUMNS = (
    "unique_id, serial, model, board, station, state, result, firmware_version, sdk_version,"
    " escrow, attempts, created_at, started_at, finished_at"
)


# -- errors --------------------------------------------------------------------


class FactoryDBError(SbdError):
    """Something about the factory database."""


class DatabaseURLError(FactoryDBError):
    """The --db value is not a database this tool can open."""


class DatabaseUnavailableError(FactoryDBError):
    """The database cannot be reached or used right now (down, refused, locked, lost)."""


class SchemaError(FactoryDBError):
    """The database's schema is not one this version knows."""


class InvalidValueError(FactoryDBError):
    """A value (unique id, serial, model...) is malformed."""


class AlreadyProvisionedError(FactoryDBError):
    """The board was provisioned before and reprovision was not asked for."""


class DuplicateSerialError(FactoryDBError):
    """The serial asked for belongs to another board."""


class StateError(FactoryDBError):
    """The board is not in the state the call needs (e.g. finishing a board never started)."""


# -- records -------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    unique_id: str
    serial: str
    model: str
    board: str | None
    station: str
    state: str
    result: str | None
    firmware_version: str | None
    sdk_version: str | None
    escrow: bytes | None
    attempts: int
    created_at: str
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class Event:
    id: int
    at: str
    station: str
    unique_id: str
    serial: str | None
    kind: str  # started | resumed | retry | reprovision | provisioned | failed
    detail: str | None


@dataclass(frozen=True)
class Start:
    """What begin_provisioning() decided.

    action: 'new' (first time), 'resumed' (a half-provisioned board, state was
    'started'), 'retry' (state was 'failed'), 'reprovision' (state was
    'provisioned' and reprovision=True).  previous is the row before the call.
    """

    board: BoardRow
    action: str
    previous: BoardRow | None


# -- URLs ----------------------------------------------------------------------


def redact_url(url: str) -> str:
    """`url` with any password replaced by '***' (for messages and logs)."""
    m = _SCHEME_RE.match(url)
    if not m or len(m.group(1)) == 1 or not url[m.end() :].startswith("//"):
        return url  # a file path: nothing secret in it
    try:
        parts = urlsplit(url)
    except ValueError:
        return m.group(1) + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_url(url: str) -> tuple[str, str]:
    """('sqlite', path) or ('postgresql', conninfo URL); DatabaseURLError if neither."""
    if not isinstance(url, str) or not url.strip():
        raise DatabaseURLError("no database given: pass a file path, sqlite:///path or postgresql://user@host/db")
    url = url.strip()
    m = _SCHEME_RE.match(url)
    # A single letter before ':' is a Windows drive (C:\...), i.e. a plain path.
    if m is None or len(m.group(1)) == 1:
        return "sqlite", url
    scheme = m.group(1).lower()
    shown = redact_url(url)
    if scheme == "sqlite":
        rest = url[len(m.group(0)) :]
        if rest.startswith("//"):
            host, _, path = rest[2:].partition("/")
            if host:
                raise DatabaseURLError(
                    f"malformed database URL {shown!r}: a sqlite URL has no host; "
                    "write sqlite:///absolute/path.db or sqlite:relative/path.db"
                )
            path = "/" + path
        else:
            path = rest
        if "?" in path or "#" in path:
            raise DatabaseURLError(f"malformed database URL {shown!r}: sqlite URLs take no options")
        path = unquote(path)
        if not path or path.endswith("/"):
            raise DatabaseURLError(f"malformed database URL {shown!r}: it names no file")
        return "sqlite", path
    if scheme in ("postgresql", "postgres"):
        _check_pg_url(url, shown)
        return "postgresql", url
    raise DatabaseURLError(
        f"unsupported database URL scheme {scheme!r} in {shown!r}: use a file path or sqlite:///path "
        "(one station), or postgresql://user:password@host:port/dbname (several stations)"
    )


def _check_pg_url(url: str, shown: str) -> None:
    try:
        from psycopg import conninfo
    except ImportError as e:  # pragma: no cover - psycopg is a dependency
        raise DatabaseURLError("PostgreSQL support needs psycopg: pip install 'psycopg[binary]'") from e
    try:
        params = conninfo.conninfo_to_dict(url)
    except Exception as e:  # psycopg.ProgrammingError: libpq rejected the URI
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        why = why.replace(url, shown)
        raise DatabaseURLError(
            f"malformed database URL {shown!r} ({why}): expected postgresql://user:password@host:port/dbname"
        ) from None
    port = str(params.get("port", "5432"))
    if not all(p.isdigit() and 0 < int(p) < 65536 for p in port.split(",")):
        raise DatabaseURLError(f"malformed database URL {shown!r}: the port must be a number from 1 to 65535")
    if not params.get("dbname") and not params.get("user"):
        raise DatabaseURLError(f"malformed database URL {shown!r}: it names no database (…/dbname)")


# -- the connection ------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class _Query:
    """Runs the module's '?'-placeholder SQL on either backend."""

    def __init__(self, cur: Any, pg: bool) -> None:
        self._cur = cur
        self._pg = pg

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pg else sql

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(self._sql(sql), tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self._cur.execute(self._sql(sql), tuple(params))
        row = self._cur.fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(self._sql(sql), tuple(params))
        return [tuple(r) for r in self._cur.fetchall()]


class FactoryDB:
    """An open factory database.  Use open_db(); close() or use as a context manager."""

    def __init__(self, dialect: str, target: str, url: str, station: str, create: bool) -> None:
        self.dialect = dialect
        self.url = redact_url(url)  # safe to print
        self.station = station
        self._target = target
        self._create = create
        self._conn: Any = None
        self._lock = threading.RLock()

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    # connections

    def _where(self) -> str:
        if not self.is_postgresql:
            return f"SQLite database {self._target}"
        try:
            from psycopg import conninfo

            p = conninfo.conninfo_to_dict(self._target)
            return "PostgreSQL at %s:%s" % (p.get("host", "localhost"), p.get("port", "5432"))
        except Exception:
            return f"PostgreSQL at {self.url}"

    def _connect(self) -> Any:
        if self.is_postgresql:
            import psycopg

            try:
                return psycopg.connect(self._target, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            except psycopg.Error as e:
                raise DatabaseUnavailableError(
                    f"cannot connect to the factory database ({self._where()}): {_pg_reason(e, self._target)}; "
                    "check that PostgreSQL is running and reachable from this station, and the --db URL "
                    "(user, password, host, port, database name)"
                ) from None
        path = self._target
        if not self._create and not os.path.exists(path):
            raise DatabaseUnavailableError(
                f"the factory database {path} does not exist; check the path, or create it on purpose "
                "(`sbd provision --new-db`, or open_db(..., create=True))"
            )
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise DatabaseUnavailableError(
                f"cannot open SQLite database {path}: the directory {parent} does not exist; create it or fix --db"
            )
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise DatabaseUnavailableError(
                "this Python's SQLite is %s; the factory database needs 3.35 or newer" % sqlite3.sqlite_version
            )
        try:
            conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            # WAL: one fsync per commit and readers never block the writer;
            # synchronous=FULL: a commit survives a power cut.  Switching a
            # new file to WAL can answer "locked" at once, without waiting
            # for the busy timeout, while another station opens it at the
            # same moment: retry within the same time bound.
            deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
            while True:
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            raise _sqlite_error(e, path, "opening it") from None
        return conn

    def _connection(self) -> Any:
        c = self._conn
        if c is not None and self.is_postgresql and (c.closed or c.broken):
            self._conn = c = None  # lost (server restart, network): reconnect once, below
        if c is None:
            self._conn = c = self._connect()
        return c

    @contextmanager
    def transaction(self, what: str, *, write: bool = True) -> Iterator[_Query]:
        """One transaction; errors become FactoryDBError and roll everything back.
        what names the step in error messages; write=False for reads only (on
        SQLite a read then does not wait for another writer)."""
        with self._lock:
            conn = self._connection()
            if self.is_postgresql:
                import psycopg

                try:
                    with conn.transaction(), conn.cursor() as cur:
                        yield _Query(cur, True)
                except psycopg.Error as e:
                    raise self._pg_error(e, what) from None
                return
            try:
                # IMMEDIATE: take the write lock now, so serial allocation is serialised.
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as e:
                raise _sqlite_error(e, self._target, what) from None
            try:
                yield _Query(conn.cursor(), False)
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the original error is what matters; SQLite rolls back on close anyway
                if isinstance(e, sqlite3.Error):
                    raise _sqlite_error(e, self._target, what) from None
                raise

    def _pg_error(self, e: Exception, what: str) -> FactoryDBError:
        import psycopg

        if isinstance(e, psycopg.errors.UniqueViolation):
            return FactoryDBError(
                f"{what}: another station changed the same record at the same moment; nothing of this step "
                "was stored, run it again"
            )
        if isinstance(e, psycopg.errors.UndefinedTable):
            return SchemaError(
                f"{what}: the factory database has no sbd tables ({_pg_reason(e, self._target)}); "
                "open it with migrate=True (the default) to create them"
            )
        if isinstance(e, psycopg.OperationalError):
            return DatabaseUnavailableError(
                f"lost the connection to the factory database ({self._where()}) while {what}: "
                f"{_pg_reason(e, self._target)}. This step was not completed (re-running it is safe) and what was "
                "stored before is kept. Check that the database is up, then run again"
            )
        return FactoryDBError(f"factory database error while {what}: {_pg_reason(e, self._target)}")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __enter__(self) -> FactoryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pg_reason(e: Exception, dsn: str) -> str:
    """The first line of a psycopg error, with the DSN (and so its password) kept out."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[-1] if lines and lines[-1].lower().startswith(("fatal", "error")) else (lines[0] if lines else "")
    text = text.replace(dsn, redact_url(dsn)) or type(e).__name__
    try:
        from psycopg import conninfo

        pw = conninfo.conninfo_to_dict(dsn).get("password")
    except Exception:
        pw = None
    if pw:
        text = text.replace(str(pw), "***")
    return text


def _sqlite_error(e: Exception, path: str, what: str) -> FactoryDBError:
    msg = str(e)
    low = msg.lower()
    if "locked" in low or "busy" in low:
        return DatabaseUnavailableError(
            f"the SQLite database {path} stayed locked by another program for {SQLITE_BUSY_TIMEOUT_S:.0f} s "
            f"while {what}; nothing of this step was stored. Close the other program, or use PostgreSQL for "
            "several stations"
        )
    if "not a database" in low or "malformed" in low:
        return DatabaseUnavailableError(
            f"{path} is not a usable SQLite database ({msg}); check --db points at the factory database"
        )
    if "unable to open" in low or "readonly" in low or "read-only" in low or "disk i/o" in low or "full" in low:
        return DatabaseUnavailableError(
            f"cannot write the SQLite database {path} while {what} ({msg}); check the path, permissions and "
            "free space. Nothing of this step was stored"
        )
    if "no such table" in low:
        return SchemaError(f"{path} has no sbd tables ({msg}); open it with migrate=True (the default)")
    if isinstance(e, sqlite3.IntegrityError):
        return FactoryDBError(f"{what}: the database refused a conflicting record ({msg}); nothing was stored")
    return FactoryDBError(f"factory database error while {what} ({msg}); nothing of this step was stored")


# -- opening and migrations ----------------------------------------------------


def open_db(
    url: str,
    *,
    station: str | None = None,
    migrate: bool = True,
    create: bool = True,
) -> FactoryDB:
    """Open (and by default create and migrate) the factory database at `url`.

    station names this machine in every record and event (default: the host
    name).  create=False refuses a SQLite file that does not exist yet (a
    mistyped path would otherwise start a new database whose serials restart
    at 1).  Raises DatabaseURLError, DatabaseUnavailableError, SchemaError.
    """
    dialect, target = parse_url(url)
    station = station if station is not None else socket.gethostname()
    _check_text("station", station, 64)
    db = FactoryDB(dialect, target, url, station, create)
    try:
        with db._lock:
            db._connection()
        if migrate:
            apply_migrations(db)
        else:
            have = schema_version(db)
            if have != migrations.LATEST:
                raise SchemaError(
                    f"the factory database is at schema version {have}, this sbd needs {migrations.LATEST}; "
                    "open it with migrations enabled"
                )
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: FactoryDB) -> int:
    """The newest migration applied (0 for an empty database)."""
    with db.transaction("reading the schema version", write=False) as q:
        if db.is_postgresql:
            exists = q.one("SELECT to_regclass('schema_version') IS NOT NULL")
        else:
            exists = q.one("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
        if not exists or not exists[0]:
            return 0
        row = q.one("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def apply_migrations(db: FactoryDB) -> int:
    """Apply the migrations the database lacks, each in its own transaction; return the version reached."""
    while True:
        with db.transaction("migrating the schema") as q:
            if db.is_postgresql:
                # Stations starting together: one migrates, the others wait
                # here and then find nothing left to do.
                q.run("SELECT pg_advisory_xact_lock(?)", (0x5BD0_F4C7,))
            q.run(migrations.SCHEMA_VERSION_TABLE)
            row = q.one("SELECT MAX(version) FROM schema_version")
            have = int(row[0]) if row and row[0] is not None else 0
            if have > migrations.LATEST:
                raise SchemaError(
                    f"the factory database is at schema version {have}, newer than this sbd knows "
                    f"({migrations.LATEST}); upgrade sbd on this station before using it"
                )
            todo = [m for m in migrations.MIGRATIONS if m[0] == have + 1]
            if not todo:
                return have
            version, description, statements = todo[0]
            for stmt in statements:
                q.run(stmt)
            q.run(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (version, description, _now()),
            )


# -- validation ----------------------------------------------------------------


def _check_text(field: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable() or value != value.strip():
        raise InvalidValueError(f"{field} must be 1-{limit} printable characters without surrounding spaces")
    return value


def _opt_text(field: str, value: str | None, limit: int) -> str | None:
    return None if value is None else _check_text(field, value, limit)


def normalize_unique_id(unique_id: str | bytes) -> str:
    """A board's unique id as lower-case hex (bytes from machine.unique_id() or a hex string)."""
    if isinstance(unique_id, (bytes, bytearray)):
        unique_id = bytes(unique_id).hex()
    if isinstance(unique_id, str):
        u = unique_id.strip().lower().replace(":", "")
        if _UNIQUE_ID_RE.match(u) and len(u) % 2 == 0:
            return u
    raise InvalidValueError("a board unique id must be 1-32 bytes, given as bytes or hex")


def _check_serial(serial: str) -> str:
    if not isinstance(serial, str) or not _SERIAL_RE.match(serial):
        raise InvalidValueError(
            "a serial must be 1-32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return serial


# -- rows ----------------------------------------------------------------------


def _board(row: tuple[Any, ...]) -> BoardRow:
    escrow = row[9]
    blob = None
    if escrow is not None:
        try:
            blob = base64.b64decode(escrow, validate=True)
        except (binascii.Error, ValueError):
            raise FactoryDBError(f"the escrow stored for board {row[0]} is not valid base64") from None
    return BoardRow(
        unique_id=row[0], serial=row[1], model=row[2], board=row[3], station=row[4], state=row[5],
        result=row[6], firmware_version=row[7], sdk_version=row[8], escrow=blob, attempts=int(row[10]),
        created_at=row[11], started_at=row[12], finished_at=row[13],
    )  # fmt: skip


def _select_board(db: FactoryDB, q: _Query, where: str, value: str, lock: bool) -> BoardRow | None:
    # `where` is one of this module's column names, never a caller's value.
    sql = f"SELECT {_BOARD_COLUMNS} FROM boards WHERE {where} = ?"  # noqa: S608
    if lock and db.is_postgresql:
        sql += " FOR UPDATE"  # SQLite's BEGIN IMMEDIATE already holds the write lock
    row = q.one(sql, (value,))
    return None if row is None else _board(row)


def _next_value(q: _Query, name: str) -> int:
    q.run("INSERT INTO counters (name, next_value) VALUES (?, 1) ON CONFLICT (name) DO NOTHING", (name,))
    row = q.one("UPDATE counters SET next_value = next_value + 1 WHERE name = ? RETURNING next_value - 1", (name,))
    assert row is not None  # the row exists: inserted above or before (never deleted)
    return int(row[0])


def _event(db: FactoryDB, q: _Query, unique_id: str, serial: str | None, kind: str, detail: str | None) -> None:
    q.run(
        "INSERT INTO events (id, at, station, unique_id, serial, kind, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (_next_value(q, "events"), _now(), db.station, unique_id, serial, kind, detail),
    )


def _allocate_serial(q: _Query, prefix: str) -> str:
    # A serial someone set by hand may sit on the counter's path: skip it.
    for _ in range(10_000):
        serial = "%s%0*d" % (prefix, SERIAL_WIDTH, _next_value(q, "serial:" + prefix))
        if q.one("SELECT 1 FROM boards WHERE serial = ?", (serial,)) is None:
            return serial
    raise FactoryDBError(f"could not find a free serial after prefix {prefix!r}: too many set by hand")


def _serial_taken(db: FactoryDB, q: _Query, serial: str, unique_id: str) -> None:
    other = _select_board(db, q, "serial", serial, lock=False)
    if other is not None and other.unique_id != unique_id:
        raise DuplicateSerialError(
            f"serial {serial} already belongs to board {other.unique_id} ({other.state} {other.started_at[:10]}); "
            "choose another serial, or leave it out to allocate the next free one"
        )


# -- provisioning --------------------------------------------------------------


def begin_provisioning(
    db: FactoryDB,
    unique_id: str | bytes,
    *,
    model: str,
    board: str | None = None,
    firmware_version: str | None = None,
    sdk_version: str | None = None,
    serial: str | None = None,
    serial_prefix: str = DEFAULT_SERIAL_PREFIX,
    reprovision: bool = False,
) -> Start:
    """Record that this station starts provisioning the board `unique_id`.

    A new board gets the next serial for serial_prefix (or `serial` when
    given, refused with DuplicateSerialError if another board has it).  A
    board left 'started' (half-provisioned) or 'failed' is resumed under its
    serial.  A 'provisioned' board raises AlreadyProvisionedError unless
    reprovision=True, which keeps its serial and logs a 'reprovision' event.
    """
    uid = normalize_unique_id(unique_id)
    _check_text("model", model, 64)
    _opt_text("board", board, 32)
    _opt_text("firmware version", firmware_version, 64)
    _opt_text("SDK version", sdk_version, 64)
    if serial is not None:
        _check_serial(serial)
    if not isinstance(serial_prefix, str) or not _PREFIX_RE.match(serial_prefix):
        raise InvalidValueError("a serial prefix must be 0-16 characters: letters, digits, '.', '_' or '-'")
    now = _now()
    with db.transaction("starting board %s" % uid) as q:
        prev = _select_board(db, q, "unique_id", uid, lock=True)
        if prev is None:
            if serial is not None:
                _serial_taken(db, q, serial, uid)
            new_serial = serial if serial is not None else _allocate_serial(q, serial_prefix)
            q.run(
                "INSERT INTO boards (unique_id, serial, model, board, station, state, firmware_version,"
                " sdk_version, attempts, created_at, started_at) VALUES (?, ?, ?, ?, ?, 'started', ?, ?, 1, ?, ?)",
                (uid, new_serial, model, board, db.station, firmware_version, sdk_version, now, now),
            )
            _event(db, q, uid, new_serial, "started", f"model {model}")
            action = "new"
        else:
            if prev.state == "provisioned" and not reprovision:
                raise AlreadyProvisionedError(
                    f"board {uid} is already provisioned as serial {prev.serial} (model {prev.model}, "
                    f"{(prev.finished_at or prev.started_at)[:19]} on station {prev.station}); to provision it "
                    "again (new password, the old label stops working) pass --reprovision"
                )
            new_serial = prev.serial
            if serial is not None and serial != prev.serial:
                _serial_taken(db, q, serial, uid)
                new_serial = serial
            action = {"started": "resumed", "failed": "retry", "provisioned": "reprovision"}[prev.state]
            q.run(
                "UPDATE boards SET serial = ?, model = ?, board = ?, station = ?, state = 'started', result = NULL,"
                " firmware_version = ?, sdk_version = ?, attempts = attempts + 1, started_at = ?, finished_at = NULL"
                " WHERE unique_id = ?",
                (new_serial, model, board, db.station, firmware_version, sdk_version, now, uid),
            )
            detail = "was %s (serial %s, attempt %d, station %s, since %s)" % (
                prev.state, prev.serial, prev.attempts, prev.station, (prev.finished_at or prev.started_at)[:19],
            )  # fmt: skip
            _event(db, q, uid, new_serial, action, detail)
        row = _select_board(db, q, "unique_id", uid, lock=False)
    assert row is not None
    return Start(row, action, prev)


def _finish(db: FactoryDB, uid: str, state: str, result: str, escrow: bytes | None, fields: dict[str, Any]) -> BoardRow:
    with db.transaction(f"recording board {uid} as {state}") as q:
        prev = _select_board(db, q, "unique_id", uid, lock=True)
        if prev is None:
            raise StateError(f"board {uid} has no provisioning record; call begin_provisioning first")
        if prev.state != "started":
            raise StateError(
                f"board {uid} is {prev.state}, not started: only a board being provisioned can be marked {state}"
            )
        sets = ["state = ?", "result = ?", "finished_at = ?"]
        params: list[Any] = [state, result, _now()]
        if escrow is not None:
            sets.append("escrow = ?")
            params.append(base64.b64encode(escrow).decode())
        for col, val in fields.items():
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(val)
        q.run("UPDATE boards SET %s WHERE unique_id = ?" % ", ".join(sets), (*params, uid))  # noqa: S608 (constant columns)
        _event(db, q, uid, prev.serial, state, result)
        row = _select_board(db, q, "unique_id", uid, lock=False)
    assert row is not None
    return row


def finish_provisioning(
    db: FactoryDB,
    unique_id: str | bytes,
    *,
    escrow: bytes | None = None,
    result: str = "ok",
    firmware_version: str | None = None,
    sdk_version: str | None = None,
) -> BoardRow:
    """Mark a started board provisioned (after its self-test passed), storing
    the escrow blob when there is one.  StateError if it was not started."""
    uid = normalize_unique_id(unique_id)
    _check_text("result", result, MAX_REASON)
    _opt_text("firmware version", firmware_version, 64)
    _opt_text("SDK version", sdk_version, 64)
    if escrow is not None and not isinstance(escrow, (bytes, bytearray)):
        raise InvalidValueError("escrow must be bytes (an escrow.seal() blob)")
    fields = {"firmware_version": firmware_version, "sdk_version": sdk_version}
    return _finish(db, uid, "provisioned", result, None if escrow is None else bytes(escrow), fields)


def fail_provisioning(db: FactoryDB, unique_id: str | bytes, reason: str) -> BoardRow:
    """Mark a started board failed, with a short reason (never a password).
    A later begin_provisioning() for it retries under the same serial."""
    uid = normalize_unique_id(unique_id)
    if not isinstance(reason, str):
        raise InvalidValueError("reason must be text")
    reason = " ".join(reason.split())[:MAX_REASON] or "failed"
    reason = "".join(c if c.isprintable() else "?" for c in reason)
    return _finish(db, uid, "failed", reason, None, {})


# -- queries -------------------------------------------------------------------


def get_board(db: FactoryDB, unique_id: str | bytes) -> BoardRow | None:
    uid = normalize_unique_id(unique_id)
    with db.transaction(f"reading board {uid}", write=False) as q:
        return _select_board(db, q, "unique_id", uid, lock=False)


def get_board_by_serial(db: FactoryDB, serial: str) -> BoardRow | None:
    _check_serial(serial)
    with db.transaction(f"reading serial {serial}", write=False) as q:
        return _select_board(db, q, "serial", serial, lock=False)


def list_boards(db: FactoryDB, *, state: str | None = None, limit: int = 1000) -> list[BoardRow]:
    """Boards, oldest first; only those in `state` when given ('started' = half-provisioned)."""
    if state is not None and state not in STATES:
        raise InvalidValueError(f"state must be one of {', '.join(STATES)}")
    sql = f"SELECT {_BOARD_COLUMNS} FROM boards"  # noqa: S608 (constant columns)
    params: tuple[Any, ...] = ()
    if state is not None:
        sql += " WHERE state = ?"
        params = (state,)
    sql += " ORDER BY created_at, unique_id LIMIT ?"
    with db.transaction("listing boards", write=False) as q:
        return [_board(r) for r in q.all(sql, (*params, int(limit)))]


def half_provisioned(db: FactoryDB) -> list[BoardRow]:
    """Boards left in state 'started': a crash or power cut stopped their provisioning."""
    return list_boards(db, state="started")


def counts(db: FactoryDB) -> dict[str, int]:
    """How many boards are in each state."""
    with db.transaction("counting boards", write=False) as q:
        got = {str(s): int(n) for s, n in q.all("SELECT state, COUNT(*) FROM boards GROUP BY state")}
    return {s: got.get(s, 0) for s in STATES}


def events(db: FactoryDB, unique_id: str | bytes | None = None, *, limit: int = 1000) -> list[Event]:
    """The audit log, oldest first; only this board's when unique_id is given."""
    sql = "SELECT id, at, station, unique_id, serial, kind, detail FROM events"
    params: tuple[Any, ...] = ()
    if unique_id is not None:
        sql += " WHERE unique_id = ?"
        params = (normalize_unique_id(unique_id),)
    sql += " ORDER BY id LIMIT ?"
    with db.transaction("reading events", write=False) as q:
        return [Event(int(r[0]), *r[1:]) for r in q.all(sql, (*params, int(limit)))]

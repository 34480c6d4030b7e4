"""The factory database schema, as ordered migrations.

One schema for SQLite and PostgreSQL: every statement here is SQL both
accept, so the two can never drift.  That rules out a few conveniences:

* no auto-increment columns (SQLite's INTEGER PRIMARY KEY and PostgreSQL's
  identity columns differ): boards are keyed by their unique id, and event
  ids come from the same counter table as serials;
* no BLOB/BYTEA (they differ): binary values (the escrow blob) are base64 text;
* timestamps are ISO-8601 UTC text written by the host ('2026-11-30T09:41:07.123456+00:00'),
  which sorts correctly as text on both.

A migration is (version, description, statements).  Versions count up from 1
without gaps; a released migration is never edited, only followed by a new
one.  factorydb applies the missing ones in order, each in one transaction
together with its schema_version row, under a lock so two stations starting
at once do not both apply it.
"""

from __future__ import annotations

# The table that says which migrations a database has.  Created before any
# migration runs (it is how the runner knows where it stands).
SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)"
)

Migration = tuple[int, str, tuple[str, ...]]

MIGRATIONS: tuple[Migration, ...] = (
    (
        1,
        "boards, serial counters, audit events",
        (
            # Named counters: one row per serial prefix ('serial:<prefix>') and
            # one for event ids ('events').  Allocation is UPDATE ... RETURNING
            # inside the caller's transaction, so the row lock serialises
            # stations and a rolled-back transaction gives its number back.
            "CREATE TABLE counters ( name TEXT PRIMARY KEY, next_value BIGINT NOT NULL CHECK (next_value >= 1))",
            # One row per board, keyed by the board's unique id (hex).  Never a
            # password: escrow is the password sealed to the vendor's public
            # key (base64), recoverable only with the private key.
            "CREATE TABLE boards ("
            " unique_id TEXT PRIMARY KEY,"
            " serial TEXT NOT NULL UNIQUE,"
            " model TEXT NOT NULL,"
            " board TEXT,"
            " station TEXT NOT NULL,"
            " state TEXT NOT NULL CHECK (state IN ('started', 'provisioned', 'failed')),"
            " result TEXT,"
            " firmware_version TEXT,"
            " sdk_version TEXT,"
            " escrow TEXT,"
            " attempts INTEGER NOT NULL DEFAULT 1,"
            " created_at TEXT NOT NULL,"
            " started_at TEXT NOT NULL,"
            " finished_at TEXT)",
            "CREATE INDEX boards_state ON boards (state)",
            # The audit log: every start, resume, retry, re-provisioning,
            # success and failure, with the station that did it.
            "CREATE TABLE events ("
            " id BIGINT PRIMARY KEY,"
            " at TEXT NOT NULL,"
            " station TEXT NOT NULL,"
            " unique_id TEXT NOT NULL,"
            " serial TEXT,"
            " kind TEXT NOT NULL,"
            " detail TEXT)",
            "CREATE INDEX events_unique_id ON events (unique_id)",
        ),
    ),
)

LATEST = MIGRATIONS[-1][0]

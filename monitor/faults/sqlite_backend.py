"""The SQLite side of the fault store: the file `<state_dir>/faults.db`, its schema and dialect.

`monitor/faults/store.py` holds the statements and the lifecycle, written once for both
databases; this module and `monitor/faults/postgres.py` say what differs: how a batch
becomes one transaction (BEGIN IMMEDIATE here), how a list of ids is passed (`json_each`),
two function names, how the schema version is kept (PRAGMA user_version) and how another
process's commit is noticed (PRAGMA data_version).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator, Sequence

from monitor.faults.errors import FaultError
from monitor.sqlitedb import Database

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000

_SCHEMA_V1 = """
CREATE TABLE fault (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: an id is never reused after prune
    device           TEXT NOT NULL,
    rule             TEXT NOT NULL,
    instance         TEXT NOT NULL DEFAULT '',
    severity         TEXT NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    message          TEXT NOT NULL DEFAULT '',
    site             TEXT NOT NULL DEFAULT '',
    site_path        TEXT NOT NULL DEFAULT '',          -- root/.../site, '/'-joined
    device_class     TEXT NOT NULL DEFAULT '',
    opened_at        REAL NOT NULL,
    last_seen_at     REAL NOT NULL,
    first_value      REAL,
    last_value       REAL,
    worst_value      REAL,
    threshold        REAL,
    higher_is_worse  INTEGER NOT NULL DEFAULT 1,
    occurrences      INTEGER NOT NULL DEFAULT 1,
    acknowledged_at  REAL,
    acknowledged_by  TEXT,
    resolved_at      REAL,
    resolved_by      TEXT,
    closed_at        REAL,
    closed_by        TEXT,
    cause            TEXT,
    resolution       TEXT,
    prevention       TEXT,
    symptom_of       INTEGER REFERENCES fault(id) ON DELETE SET NULL,
    in_maintenance   INTEGER NOT NULL DEFAULT 0,
    maintenance      TEXT,
    heightened       INTEGER NOT NULL DEFAULT 0,
    ack_deadline     REAL NOT NULL,
    resolve_deadline REAL NOT NULL,
    ack_warn_at      REAL NOT NULL,   -- deadline minus the warning lead in force when it opened
    resolve_warn_at  REAL NOT NULL,
    ack_warned       INTEGER NOT NULL DEFAULT 0,
    ack_breached     INTEGER NOT NULL DEFAULT 0,
    resolve_warned   INTEGER NOT NULL DEFAULT 0,
    resolve_breached INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX fault_one_unresolved ON fault (device, rule, instance) WHERE resolved_at IS NULL;
CREATE INDEX fault_by_key ON fault (device, rule, instance, id);
CREATE INDEX fault_by_opened ON fault (opened_at);
CREATE INDEX fault_by_parent ON fault (symptom_of) WHERE symptom_of IS NOT NULL;
CREATE TABLE note (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    fault_id INTEGER NOT NULL REFERENCES fault(id) ON DELETE CASCADE,
    at       REAL NOT NULL,
    author   TEXT NOT NULL,
    text     TEXT NOT NULL
);
CREATE INDEX note_by_fault ON note (fault_id, id);
CREATE TABLE maintenance (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    selector   TEXT NOT NULL,     -- Selector as JSON
    starts_at  REAL NOT NULL,     -- once: opens; recurring: first moment an occurrence may open
    ends_at    REAL,              -- once: closes; recurring: no occurrence opens from here (NULL: for ever)
    recurrence TEXT,              -- Recurrence as JSON, NULL for a one-off window
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at   REAL,              -- ended early by hand
    ended_by   TEXT
);
"""


def _statements(script: str) -> Iterator[str]:
    """Statements of a script one by one: executescript() would COMMIT our transaction first."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


class SqliteFaultDb(Database):
    """`Database` (one WAL connection, `write()`, `data_version()`) plus the dialect the
    shared statements of the fault store ask for."""

    SHARED = False    # one server's file
    GREATEST = "MAX"  # the two-argument scalar maximum
    FIND = "instr"    # instr(haystack, needle): 1-based position, 0 when absent

    @classmethod
    def open(cls, path: Path) -> "SqliteFaultDb":
        """The file at `path`, created and migrated if needed; FaultError when it is not a
        fault database or a newer netvigil wrote it; sqlite3.Error / OSError otherwise."""
        try:
            # The busy timeout lets a CLI ack wait out a daemon batch instead of failing.
            db = cls(path, synchronous="FULL", busy_timeout_s=BUSY_TIMEOUT_MS / 1000, foreign_keys=True)
        except sqlite3.DatabaseError as error:
            raise _unreadable(path, error) from None
        try:
            db._migrate()
        except sqlite3.DatabaseError as error:
            db.connection.close()
            raise _unreadable(path, error) from None
        except BaseException:
            db.connection.close()
            raise
        return db

    @property
    def where(self) -> str:
        return str(self.path)

    def _migrate(self) -> None:
        with self.write():
            version = self.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FaultError(f"{self.path} was written by a newer netvigil (schema {version}, this one "
                                 f"knows {SCHEMA_VERSION}); upgrade netvigil")
            if version == 0:
                for statement in _statements(_SCHEMA_V1):
                    self.execute(statement)
                self.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            # Later versions add `if version < N:` steps here, each in this transaction.

    @staticmethod
    def ids_in(column: str) -> str:
        """`column` is one of the values (ids or names) passed as the parameter `ids()` makes."""
        return f"{column} IN (SELECT value FROM json_each(?))"

    @staticmethod
    def ids(values: Sequence) -> str:
        return json.dumps(list(values))


def _unreadable(path: Path, error: sqlite3.DatabaseError) -> FaultError:
    return FaultError(f"{path}: cannot open the fault database ({error}); move the file aside to start a new one")

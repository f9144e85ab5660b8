"""The SQLite side of the fault store: the file `<state_dir>/faults.db`, its schema and dialect.

`monitor/faults/store.py` holds the statements and the lifecycle, and `schema.py` the
tables, written once for both databases; this module and `monitor/faults/postgres.py` say
what differs: the column types, how a batch becomes one transaction (BEGIN IMMEDIATE here),
how a list of ids is passed (`json_each`), two function names, how the schema version is
kept (PRAGMA user_version) and how another process's commit is noticed (PRAGMA data_version).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator, Sequence

from monitor.faults import schema
from monitor.faults.errors import FaultError
from monitor.sqlitedb import Database

SCHEMA_VERSION = max(schema.STEPS)
BUSY_TIMEOUT_MS = 5000

# AUTOINCREMENT: an id is never reused after prune.
_TYPES = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "ref": "INTEGER", "real": "REAL"}


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
            for step in range(version + 1, SCHEMA_VERSION + 1):  # all in this one transaction
                for statement in _statements(schema.render(schema.STEPS[step], **_TYPES)):
                    self.execute(statement)
            if version < SCHEMA_VERSION:
                self.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @staticmethod
    def ids_in(column: str) -> str:
        """`column` is one of the values (ids or names) passed as the parameter `ids()` makes."""
        return f"{column} IN (SELECT value FROM json_each(?))"

    @staticmethod
    def ids(values: Sequence) -> str:
        return json.dumps(list(values))


def _unreadable(path: Path, error: sqlite3.DatabaseError) -> FaultError:
    return FaultError(f"{path}: cannot open the fault database ({error}); move the file aside to start a new one")

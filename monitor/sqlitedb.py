"""One SQLite file of the daemon's state: opened the same way by every store that keeps one.

The spool (`outputs/spool.py`), the embedded metrics store (`outputs/embedded.py`), the
notification outbox (`notify/outbox.py`) and the fault records (`faults/store.py`) each open
their file through `Database`:

    db = Database(path, synchronous="FULL", busy_timeout_s=5)
    with db.write() as connection:        # BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error
        connection.execute("INSERT ...")
    rows = db.execute("SELECT ...").fetchall()
    db.close()                            # folds the WAL back into the main file

What every store gets, and why:

* WAL, so a reader in another process (`netvigil status`, a CLI acknowledgement) never waits
  for the daemon's writer, and a commit that returned survives kill -9.
* `synchronous` and the busy timeout are each store's own measured choice (FULL where a
  record must survive a power cut too, NORMAL where a lost last second is acceptable), so they
  are arguments without a default.
* Owner-only files whatever the umask: the main file is created 0600 (SQLite gives the -wal
  and -shm files the main file's mode) and directories this module creates are 0700; the
  files hold device names, addresses and the names of people (see `monitor/statefiles.py`).
* `isolation_level=None`: the transactions are ours. Python's implicit transactions once
  broke a later explicit BEGIN after a failed statement.
* `write()` takes `BEGIN IMMEDIATE`, i.e. the write lock at the start: a deferred transaction
  that upgrades to a writer later can fail with SQLITE_BUSY at once, whatever the timeout.
  Nested `write()`s become savepoints, so a failed call inside a caller's batch undoes only
  itself if the caller handles its error.
* `close()` checkpoints with TRUNCATE so a stopped daemon leaves one file even while another
  process still has the database open.

One connection, shared by threads: every call holds `lock` (re-entrant, so a store may hold
it across a read and a `write()`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


class Database:
    """One WAL-mode connection to `path`; see the module docstring."""

    def __init__(self, path: Path, *, synchronous: str, busy_timeout_s: float,
                 auto_vacuum: Optional[str] = None, foreign_keys: bool = False) -> None:
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, not {synchronous!r}")
        self.path = Path(path)
        self.lock = threading.RLock()
        self._depth = 0  # nesting of write(): 0 means no transaction is open
        make_private_parents(self.path.parent)
        create_private(self.path)
        # timeout sets SQLite's busy timeout: a writer waits that long for another one's lock.
        self.connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                          timeout=busy_timeout_s)
        try:
            if auto_vacuum is not None:
                # Only takes effect before the first table exists.
                self.connection.execute(f"PRAGMA auto_vacuum={auto_vacuum}")
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute(f"PRAGMA synchronous={synchronous}")
            if foreign_keys:
                self.connection.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            self.connection.close()
            raise

    # -- reading (and statements outside a transaction) -----------------------------------

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.connection.execute(sql, parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        with self.lock:
            return self.connection.executemany(sql, rows)

    def executescript(self, script: str) -> None:
        """Run a script (a schema); it COMMITs first, so never inside `write()`."""
        with self.lock:
            if self._depth:
                raise RuntimeError("executescript() would commit the open transaction; run statements one by one")
            self.connection.executescript(script)

    def data_version(self) -> int:
        """Changes when ANOTHER connection committed to the file (never for our own commits)."""
        with self.lock:
            return self.connection.execute("PRAGMA data_version").fetchone()[0]

    # -- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT at the end, ROLLBACK when the block (or
        the COMMIT) raises. Inside another `write()` it is a savepoint of that transaction."""
        with self.lock:
            outer = self._depth == 0
            savepoint = f"s{self._depth}"
            self.connection.execute("BEGIN IMMEDIATE" if outer else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield self.connection
            except BaseException:
                self._depth -= 1
                self._undo(outer, savepoint)
                raise
            self._depth -= 1
            try:
                self.connection.execute("COMMIT" if outer else f"RELEASE {savepoint}")
            except BaseException:
                self._undo(outer, savepoint)
                raise

    def _undo(self, outer: bool, savepoint: str) -> None:
        # SQLite rolls a transaction back by itself after some errors (a full disk, an
        # interrupt); a second ROLLBACK would then raise and hide the error that matters.
        if not self.connection.in_transaction:
            return
        if outer:
            self.connection.execute("ROLLBACK")
        else:
            self.connection.execute(f"ROLLBACK TO {savepoint}")
            self.connection.execute(f"RELEASE {savepoint}")

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Fold the WAL back into the main file, then close. Never fails on the checkpoint: what
        was committed is in the WAL either way and the next open replays it."""
        with self.lock:
            try:
                self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError as error:
                log.warning("%s: could not fold the WAL back into the file (%s); the next open does it",
                            self.path, error)
            finally:
                self.connection.close()


def create_private(path: Path) -> None:
    """Create `path` (if missing) as an empty file readable by its owner only, and tighten an
    existing one that is not; the umask cannot loosen it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def make_private_parents(directory: Path) -> None:
    """Create `directory` and its missing parents 0700 whatever the umask; directories that
    exist already are left as they are (the state directory's mode is the operator's choice)."""
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:  # made meanwhile by another process
            continue
        os.chmod(candidate, DIRECTORY_MODE)

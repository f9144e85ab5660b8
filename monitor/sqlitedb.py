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

One connection, shared by threads: `write()` holds `lock` (re-entrant) for the whole
transaction. `execute` is the connection's own method, with no wrapper on the hot path
(measured: a locking wrapper doubled the cost of a `SELECT 1`, 0.8 -> 1.7 µs; a fault batch
runs ten statements per fault), so a store whose methods run in several threads holds `lock`
around its reads: sqlite3 serialises single calls, not a read against another thread's open
transaction on the same connection.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Optional

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
        self.execute = self.connection.execute
        self.executemany = self.connection.executemany

    # -- reading (and statements outside a transaction) -----------------------------------

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

    def write(self) -> "_Transaction":
        """A write transaction: BEGIN IMMEDIATE, COMMIT at the end, ROLLBACK when the block (or
        the COMMIT) raises; `with db.write() as connection:`. Inside another `write()` it is a
        savepoint of that transaction."""
        return _Transaction(self)

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


class _Transaction:
    # A class rather than @contextlib.contextmanager: an empty transaction measured 6.2 µs
    # against 7.5 µs (hand-written BEGIN/COMMIT: 5.6 µs).
    __slots__ = ("_db", "_savepoint")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._savepoint: Optional[str] = None  # None: the outer transaction

    def __enter__(self) -> sqlite3.Connection:
        db = self._db
        db.lock.acquire()
        try:
            if db._depth == 0:
                db.connection.execute("BEGIN IMMEDIATE")
            else:
                self._savepoint = f"s{db._depth}"
                db.connection.execute(f"SAVEPOINT {self._savepoint}")
        except BaseException:
            db.lock.release()
            raise
        db._depth += 1
        return db.connection

    def __exit__(self, exc_type, exc, traceback) -> None:
        db = self._db
        db._depth -= 1
        try:
            if exc_type is not None:
                self._undo()
                return
            try:
                db.connection.execute("COMMIT" if self._savepoint is None else f"RELEASE {self._savepoint}")
            except BaseException:
                self._undo()
                raise
        finally:
            db.lock.release()

    def _undo(self) -> None:
        connection = self._db.connection
        # SQLite rolls a transaction back by itself after some errors (a full disk, an
        # interrupt); a second ROLLBACK would then raise and hide the error that matters.
        if not connection.in_transaction:
            return
        if self._savepoint is None:
            connection.execute("ROLLBACK")
        else:
            connection.execute(f"ROLLBACK TO {self._savepoint}")
            connection.execute(f"RELEASE {self._savepoint}")


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

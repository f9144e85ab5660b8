"""The PostgreSQL side of the fault store: pollers on several servers share one database.

`monitor/faults/store.py` holds the statements and the lifecycle, written once for both
databases (`?` placeholders, translated here to psycopg's `%s`); this module says what
differs from SQLite (`monitor/faults/sqlite_backend.py`):

* One synchronous psycopg 3 connection in autocommit mode, because the fault manager calls
  the store synchronously (from its own thread in the daemon: monitor/faults/thread.py, so a
  slow server holds up the fault records, not probing), and between calls nothing should stay open
  (an idle transaction would hold a snapshot and block vacuum). `write()` is an explicit
  BEGIN ... COMMIT, nested ones are savepoints: the same contract as SQLite's.
* Writers are serialised by a transaction-scoped advisory lock (`WRITE_LOCK`), taken first
  in every write transaction. That is SQLite's BEGIN IMMEDIATE: the read-then-write steps of
  the lifecycle (acknowledge once, reopen within the window, fire a clock event once) stay
  correct with several pollers and CLI commands writing at once, with no SELECT ... FOR
  UPDATE in the shared statements. Faults change a few times a minute, or in one batch
  when a core switch fails: one writer at a time costs nothing that matters. A writer waits
  at most `lock_timeout` (BUSY_TIMEOUT_MS, as SQLite's busy timeout) for another's batch.
* `data_version()`: a one-row counter `fault_change.seq`, bumped once by every committed
  transaction that changed a row (`pg_current_xact_id_if_assigned()` is NULL for one that
  only read, so the daemon's frequent empty clock checks do not count). The store returns
  seq minus its own bumps, so the value moves exactly when ANOTHER connection committed a
  change, like SQLite's PRAGMA data_version. Chosen over LISTEN/NOTIFY: a notification sent
  while a poller is disconnected is lost, and reading it needs the connection polled for
  notifies; the counter is read by the daemon's housekeeping every few seconds anyway and
  survives reconnects. (Rows changed by hand in psql are not counted.)
* Ids are identity columns (never reused, as AUTOINCREMENT), times DOUBLE PRECISION unix
  seconds, and the flags INTEGER 0/1, as in the SQLite file, so every statement is shared.
* Migrations: `schema_migrations` (version, when, by whom) and numbered steps in
  `MIGRATIONS`, applied in ONE transaction at open under the write lock, so two pollers
  starting at once migrate once; a database a newer netvigil wrote is refused with a
  sentence, and `inspect()` (for `netvigil check`) reads the state without changing it.
* A connection that broke (server restarted, an idle session ended by the server) is
  replaced at the next call outside a transaction, which is sent again on the new one; a
  transaction it broke fails as a whole (nothing of it was saved). Every database error
  reaches the caller as a `FaultError` sentence naming the server (FaultStoreUnavailable
  when the server cannot be used), never with the password: it is passed to libpq apart
  from the URL, and scrubbed from messages.

While the server is away, the fault manager keeps the changes that fail with
FaultStoreUnavailable on the poller's disk (monitor/faults/pending.py) and applies them in
order when it answers. Active/standby leadership is a lease row with its own connection
(monitor/leadership.py), not a lock of this store.
"""

from __future__ import annotations

import functools
import math
import socket
import threading
import time
from typing import Any, Optional, Sequence

from monitor.faults import schema
from monitor.faults.errors import FaultError, FaultStoreMissing, FaultStoreUnavailable
from monitor.faults.settings import DatabaseSettings
from monitor.faults.sqlite_backend import BUSY_TIMEOUT_MS

# pg_advisory_xact_lock keys (one 64-bit space per database): "netvigl" and a number.
WRITE_LOCK = 0x6E65_7476_6967_6C01
RECONNECT_FIRST_S = 2.0
RECONNECT_MAX_S = 60.0

# Identities are never reused after prune; times and values are 8-byte floats as in SQLite.
_TYPES = {"id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "ref": "BIGINT", "real": "DOUBLE PRECISION"}

# data_version(): bumped once by every transaction that changed a row (see the module docstring).
_CHANGE_COUNTER = """
CREATE TABLE fault_change (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO fault_change (id, seq) VALUES (1, 0);
"""

#: Numbered steps (schema.py's, and what only PostgreSQL has); each runs once, in order, in the
#: transaction that opens the database. A new step goes into schema.STEPS and is never edited.
MIGRATIONS: dict[int, str] = {number: schema.render(step, **_TYPES) for number, step in schema.STEPS.items()}
MIGRATIONS[1] += _CHANGE_COUNTER
SCHEMA_VERSION = max(MIGRATIONS)

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL,
    applied_by TEXT NOT NULL
)
"""


@functools.lru_cache(maxsize=512)
def _dialect(sql: str) -> str:
    """The shared statements' `?` placeholders as psycopg's `%s` (a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def connect(settings: DatabaseSettings):
    """A new autocommit connection; psycopg.Error when the server cannot be used."""
    import psycopg

    password = settings.password.get_secret_value() if settings.password is not None else None
    extra: dict[str, Any] = {"password": password} if password else {}
    return psycopg.connect(
        settings.url, autocommit=True, connect_timeout=max(1, math.ceil(settings.connect_timeout_s)),
        application_name=f"netvigil {socket.gethostname()}"[:63],
        # A dead server or path is noticed within ~25 s when idle, and within 10 s of sending
        # to it, instead of the kernel's two hours or fifteen minutes.
        keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3, tcp_user_timeout=10_000,
        options=f"-c lock_timeout={BUSY_TIMEOUT_MS}", **extra)


def _reason(error: BaseException, settings: DatabaseSettings) -> str:
    """libpq's own words, one line, without the connection boilerplate and never the password."""
    text = str(error).strip()
    if "failed: " in text:
        text = text.rsplit("failed: ", 1)[1]
    text = text.replace("FATAL:  ", "").replace("ERROR:  ", "").strip()
    text = " ".join(line.strip() for line in text.splitlines()[:1]) or type(error).__name__
    if settings.password is not None and len(settings.password.get_secret_value()) >= 1:
        text = text.replace(settings.password.get_secret_value(), "***")
    return text


def _server(settings: DatabaseSettings) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(settings.url or "")
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def connect_problem(settings: DatabaseSettings, error: BaseException) -> tuple[str, str]:
    """What a failed connection means, as (kind, sentence): kind is "credentials",
    "database" (it does not exist) or "unreachable"."""
    from urllib.parse import urlsplit

    reason, server = _reason(error, settings), _server(settings)
    lowered = reason.lower()
    parts = urlsplit(settings.url or "")
    if ("password" in lowered or "authentication" in lowered or "pg_hba.conf" in lowered
            or ("role" in lowered and "does not exist" in lowered)):
        return "credentials", (f"faults.database: PostgreSQL at {server} refused {parts.username or 'the user'} "
                               f"({reason}); check the user in faults.database.url, faults.database.password "
                               f"(a secret) and the server's pg_hba.conf")
    if "database" in lowered and "does not exist" in lowered:
        return "database", (f"faults.database: PostgreSQL at {server} has no database {parts.path.strip('/')!r} "
                            f"({reason}); create it (docs/operations.md, \"Fault records on PostgreSQL\")")
    return "unreachable", (f"faults.database: cannot reach PostgreSQL at {server} ({reason}); start the server "
                           f"or correct faults.database.url ({settings.shown()})")


class PostgresFaultDb:
    """The fault database on a PostgreSQL server; see the module docstring."""

    SHARED = True  # pollers on several servers write here
    GREATEST = "GREATEST"
    FIND = "strpos"  # strpos(haystack, needle): 1-based position, 0 when absent

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self._depth = 0          # nesting of write(): 0 means no transaction is open
        self._own_bumps = 0      # change counter bumps of our own commits (data_version)
        self._connection: Any = None
        # After a failed connection attempt, calls fail at once with its sentence until
        # _retry_at: each attempt can block the caller (the fault thread) for up to
        # connect_timeout_s, so they are spaced out, doubling up to RECONNECT_MAX_S.
        self._retry_at = 0.0
        self._backoff_s = 0.0
        self._refusal = ""

    @classmethod
    def open(cls, settings: DatabaseSettings, *, create: bool = True) -> "PostgresFaultDb":
        """Connected and migrated. `create=False`: a database without fault records yet is
        FaultStoreMissing rather than created (commands that only read)."""
        db = cls(settings)
        try:
            db._live()
            db._migrate(create)
        except BaseException:
            db.close()
            raise
        return db

    @property
    def where(self) -> str:
        return self.settings.shown()

    # -- the connection -----------------------------------------------------------------

    def _live(self):
        """The connection, made again when it broke (only between transactions)."""
        connection = self._connection
        if connection is not None and not connection.closed and not connection.broken:
            return connection
        if self._depth:
            raise FaultStoreUnavailable(f"fault records on {self.where}: the connection was lost in the middle "
                                        f"of a change; it was not saved")
        if connection is not None:
            connection.close()
            self._connection = None
        if time.monotonic() < self._retry_at:
            raise FaultStoreUnavailable(self._refusal)
        import psycopg

        try:
            self._connection = connect(self.settings)
        except psycopg.Error as error:
            self._refusal = connect_problem(self.settings, error)[1]
            self._backoff_s = min(RECONNECT_MAX_S, max(RECONNECT_FIRST_S, self._backoff_s * 2))
            self._retry_at = time.monotonic() + self._backoff_s
            raise FaultStoreUnavailable(self._refusal) from None
        self._backoff_s = 0.0
        return self._connection

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None, *, again: bool = False):
        """Execute on the live connection; psycopg's errors become sentences.

        `again`: a statement that may simply be sent again on a new connection when the old
        one turns out to be broken (a read or BEGIN between transactions: a server restarted,
        an idle session ended by the server), never COMMIT or a change inside a transaction."""
        import psycopg

        try:
            return self._live().execute(sql, params)
        except psycopg.OperationalError as error:
            if self._connection is None or self._connection.closed or self._connection.broken:
                if again and not self._depth:
                    return self._run(sql, params)
                raise FaultStoreUnavailable(f"fault records on {self.where}: the connection was lost "
                                            f"({_reason(error, self.settings)})") from None
            if getattr(error, "sqlstate", None) == "55P03":  # lock_timeout: another writer's long batch
                raise FaultStoreUnavailable(f"fault records on {self.where}: busy (another poller or command "
                                            f"held the write lock for {BUSY_TIMEOUT_MS / 1000:g} s); try again "
                                            f"shortly") from None
            raise FaultError(f"fault records on {self.where}: {_reason(error, self.settings)}") from None
        except psycopg.Error as error:
            raise FaultError(f"fault records on {self.where}: the database refused a statement "
                             f"({_reason(error, self.settings)})") from None

    # -- what the store calls -----------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()):
        # Outside write() the store only reads (every change is inside a transaction).
        return self._run(_dialect(sql), tuple(params), again=not self._depth)

    def write(self) -> "_Transaction":
        """BEGIN + the write lock ... COMMIT (ROLLBACK when the block raises); inside another
        write() a savepoint of that transaction."""
        return _Transaction(self)

    def data_version(self) -> int:
        """Moves when ANOTHER connection committed a change (never for our own commits)."""
        with self.lock:
            seq = self._run("SELECT seq FROM fault_change WHERE id = 1", again=True).fetchone()[0]
            return seq - self._own_bumps

    @staticmethod
    def ids_in(column: str) -> str:
        return f"{column} = ANY(?)"

    @staticmethod
    def ids(values: Sequence) -> list:
        return list(values)

    def close(self) -> None:
        with self.lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- migrations ---------------------------------------------------------------------

    def schema_version(self) -> int:
        """The newest step applied (0: no fault records here yet)."""
        found = self._run("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        if not found:
            return 0
        return self._run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]

    def _migrate(self, create: bool) -> None:
        # Nothing to do is the usual case, and is read without the write lock: a command that
        # only reads (`netvigil faults`, `status`) must not wait behind a poller's long batch.
        # Through pg_tables, not to_regclass(): a name the session's catalog cache once missed
        # stays missed inside a transaction that began before another poller created it, so
        # the check under the lock below would not see the table a concurrent start made.
        if self._run("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                     "AND tablename = 'schema_migrations')").fetchone()[0]:
            version = self.schema_version()
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise FaultError(newer_sentence(self.where, version))
        # Under the write lock: two pollers starting at once migrate one after the other (the
        # second finds nothing to do), and no older poller writes in the middle of a step.
        with self.write():
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise FaultError(newer_sentence(self.where, version))
            if version == 0 and not create:
                raise FaultStoreMissing(f"no fault records in {self.where} yet: the daemon creates them when it "
                                        f"starts")
            if version == SCHEMA_VERSION:
                return
            self._run(_MIGRATIONS_TABLE)
            by = f"netvigil {_version()} on {socket.gethostname()}"
            for step in range(version + 1, SCHEMA_VERSION + 1):
                self._run(MIGRATIONS[step])  # a script: no parameters, several statements
                self._run("INSERT INTO schema_migrations (version, applied_at, applied_by) VALUES (%s, %s, %s)",
                          (step, time.time(), by))


def newer_sentence(where: str, version: int) -> str:
    return (f"{where} was written by a newer netvigil (schema {version}, this one knows {SCHEMA_VERSION}); "
            f"upgrade netvigil")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("netvigil")
    except PackageNotFoundError:
        return "?"


class _Transaction:
    __slots__ = ("_db", "_savepoint")

    def __init__(self, db: PostgresFaultDb) -> None:
        self._db = db
        self._savepoint: Optional[str] = None  # None: the outer transaction

    def __enter__(self) -> PostgresFaultDb:
        db = self._db
        db.lock.acquire()
        try:
            if db._depth == 0:
                db._run("BEGIN", again=True)
                try:
                    db._run("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                except BaseException:
                    self._undo()
                    raise
            else:
                self._savepoint = f"s{db._depth}"
                db._run(f"SAVEPOINT {self._savepoint}")
        except BaseException:
            db.lock.release()
            raise
        db._depth += 1
        return db

    def __exit__(self, exc_type, exc, traceback) -> None:
        db = self._db
        db._depth -= 1
        try:
            if exc_type is not None:
                self._undo()
                return
            try:
                if self._savepoint is not None:
                    db._run(f"RELEASE {self._savepoint}")
                    return
                # Counted only when this transaction changed a row: see data_version().
                bumped = db._run("UPDATE fault_change SET seq = seq + 1 WHERE id = 1 "
                                 "AND pg_current_xact_id_if_assigned() IS NOT NULL RETURNING seq").fetchone()
                db._run("COMMIT")
                if bumped is not None:
                    db._own_bumps += 1
            except BaseException:
                self._undo()
                raise
        finally:
            db.lock.release()

    def _undo(self) -> None:
        """Roll back; quietly when the connection is gone (the server rolled back already),
        so the error that matters is the one the caller sees."""
        connection = self._db._connection
        if connection is None or connection.closed or connection.broken:
            return
        try:
            if self._savepoint is None:
                connection.execute("ROLLBACK")
            else:
                connection.execute(f"ROLLBACK TO {self._savepoint}")
                connection.execute(f"RELEASE {self._savepoint}")
        except Exception:  # noqa: BLE001 - the original error is raised by the caller
            pass


#: inspect()'s kinds that stop the daemon from starting (the others are notes).
PROBLEM_KINDS = frozenset({"unreachable", "credentials", "database", "newer", "error"})


def inspect(settings: DatabaseSettings) -> tuple[str, str]:
    """The database's state for `netvigil check`, changing nothing: (kind, one sentence).

    Kinds: "ok"; "empty" and "migrate" (the daemon creates or migrates the schema when it
    starts); and the problems in PROBLEM_KINDS: "unreachable", "credentials", "database"
    (it does not exist), "newer" (written by a newer netvigil), "error" (anything else)."""
    import psycopg

    where = settings.shown()
    try:
        connection = connect(settings)
    except psycopg.Error as error:
        return connect_problem(settings, error)
    try:
        with connection:
            if not connection.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]:
                return "empty", (f"faults.database: {where} has no fault records yet; the daemon creates them "
                                 f"(schema {SCHEMA_VERSION}) when it starts")
            version = connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
    except psycopg.Error as error:
        return "error", f"faults.database: {where}: {_reason(error, settings)}"
    if version > SCHEMA_VERSION:
        return "newer", f"faults.database: {newer_sentence(where, version)}"
    if version < SCHEMA_VERSION:
        return "migrate", (f"faults.database: {where} has fault schema {version}; this netvigil migrates it to "
                           f"{SCHEMA_VERSION} when the daemon starts (older pollers sharing it must be upgraded "
                           f"first)")
    return "ok", f"faults.database: {where}: reachable, fault schema {version}"

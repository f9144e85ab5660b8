"""A real PostgreSQL server on a free loopback port, one per test session (per xdist worker).

Debian's `postgresql` package (scripts/test.sh installs it) brings the server binaries under
/usr/lib/postgresql/<version>/bin; its packaged cluster is never used. `PostgresServer`
initialises a cluster of its own in a temporary directory and runs `postgres` bound to
127.0.0.1 with its socket in that directory, so nothing collides with another worker or a
server of the machine. The server refuses to run as root: as root the cluster belongs to the
`postgres` user the package creates, and `setpriv` execs the server as that user, so the pid
we keep is the server's own and it is stopped by that pid (SIGINT: fast shutdown).

`fsync=off` for speed: no test here pulls the plug on the server's machine.

Each test gets a fresh database (`fresh_database`), copied from template0 in ~50 ms
(STRATEGY FILE_COPY: a third of the default's time, which writes the copy into the WAL), and
dropped after the test, so tests never see each other's rows and the cluster stays small. The superuser `postgres` connects without a password over
loopback; `add_role` makes a role that must give its password (scram-sha-256), for the tests
of credentials.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from itertools import count
from pathlib import Path
from typing import Optional

import pytest

from lab.support import Process, free_port, wait_until

SUPERUSER = "postgres"
_HBA = """\
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
host    all       postgres  127.0.0.1/32   trust
host    all       all       127.0.0.1/32   scram-sha-256
"""


def postgres_bin() -> Path:
    """The directory of initdb and postgres; a failure (never a skip) when none is installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise AssertionError("the PostgreSQL server is not installed (Debian package postgresql); run the "
                             "README's test command, which installs it")
    return found[-1].parent


class PostgresServer:
    """initdb + postgres on 127.0.0.1:<free port>; `start()`, `stop()`, `fresh_database()`."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        # Not pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        self.dir = Path(tempfile.mkdtemp(prefix="netvigil-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.process: Optional[Process] = None
        self._owner = pwd.getpwnam(SUPERUSER) if os.geteuid() == 0 else None
        self._names = count(1)
        if self._owner is not None:
            os.chown(self.dir, self._owner.pw_uid, self._owner.pw_gid)
        self._as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], self.dir / "initdb.log")
        (self.data / "pg_hba.conf").write_text(_HBA)

    def _argv(self, argv: list[str]) -> list[str]:
        if self._owner is None:
            return argv
        return ["setpriv", f"--reuid={self._owner.pw_uid}", f"--regid={self._owner.pw_gid}", "--init-groups",
                "--reset-env", *argv]

    def _as_owner(self, argv: list[str], log: Path) -> None:
        with open(log, "ab") as out:
            done = subprocess.run(self._argv(argv), stdout=out, stderr=subprocess.STDOUT, cwd=self.dir, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{argv[0]} failed ({done.returncode}):\n{log.read_text(errors='replace')[-2000:]}")

    def start(self) -> "PostgresServer":
        self.process = Process(self._argv([
            str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.dir),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "log_min_messages=warning"]),
            self.dir / "postgres.log", cwd=self.dir)
        # The session's server may be started lazily from inside a test (`fault_database` asks for
        # it only for the PostgreSQL half): it is not that test's leftover, its fixture stops it.
        Process.started.remove(self.process)
        wait_until(self._ready, timeout_s=30, interval_s=0.05,
                   what=f"PostgreSQL on 127.0.0.1:{self.port} (log: {self.dir / 'postgres.log'})")
        return self

    def _ready(self) -> bool:
        assert self.process is not None and self.process.alive(), self.process.log() if self.process else ""
        done = subprocess.run([str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                              timeout=5)
        return done.returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGINT, timeout_s=30)  # fast shutdown: sessions are ended
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- what tests use -----------------------------------------------------------------

    def url(self, database: str, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", autocommit: bool = True):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database,
                               autocommit=autocommit, connect_timeout=10)

    def sql(self, statement: str, database: str = "postgres", params=None) -> list:
        """Rows of one statement run as the superuser ([] for statements without rows)."""
        with self.connect(database) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def fresh_database(self, prefix: str = "t") -> str:
        """A new, empty database (its name); each test gets its own."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY')
        return name

    def drop_database(self, name: str) -> None:
        """Drop it, ending the sessions a test left open on it."""
        if self.process is not None:
            self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def add_role(self, name: str, password: str, owns: Optional[str] = None) -> None:
        """A login role that must give `password` (scram-sha-256 over loopback)."""
        from psycopg import sql

        with self.connect() as connection:
            connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name),
                                                                                   sql.Literal(password)))
            if owns:
                connection.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(owns),
                                                                                   sql.Identifier(name)))


# -- pytest fixtures (imported by tests/conftest.py) ----------------------------------------

@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """One PostgreSQL server for the session (each xdist worker has its own session)."""
    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture
def postgres_database(postgres_server) -> str:
    """A fresh database of this test's own on the session's server; its name."""
    name = postgres_server.fresh_database()
    yield name
    postgres_server.drop_database(name)


class FaultDatabase:
    """One fault database of a test, on either backend: `open()` is a new connection to it
    (a daemon restarting, or a CLI command beside the daemon), `settings` what
    `faults.database` would say, `raw(sql)` runs a statement past the store."""

    def __init__(self, kind: str, tmp_path: Path, server: Optional[PostgresServer] = None) -> None:
        from monitor.faults.settings import DatabaseSettings

        self.kind = kind
        self.path = tmp_path / "faults.db"
        self.server = server
        self.name = server.fresh_database() if server is not None else None
        self.settings = (DatabaseSettings(url=server.url(self.name)) if server is not None
                         else DatabaseSettings())

    def open(self, clock=None):
        from monitor.faults.store import FaultStore

        if self.server is None:
            return FaultStore(self.path) if clock is None else FaultStore(self.path, clock=clock)
        from monitor.faults.postgres import PostgresFaultDb

        db = PostgresFaultDb.open(self.settings)
        return FaultStore.over(db) if clock is None else FaultStore.over(db, clock=clock)

    def raw(self, statement: str) -> None:
        if self.server is None:
            import sqlite3

            db = sqlite3.connect(self.path)
            try:
                db.execute(statement)
                db.commit()
            finally:
                db.close()
        else:
            self.server.sql(statement, self.name)

    def integrity_error(self) -> type:
        if self.server is None:
            import sqlite3

            return sqlite3.IntegrityError
        import psycopg

        return psycopg.IntegrityError


@pytest.fixture(params=["sqlite", "postgresql"])
def fault_database(request, tmp_path) -> FaultDatabase:
    """The same fault store tests on both backends; the PostgreSQL server starts only when a
    test asks for that backend."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    database = FaultDatabase(request.param, tmp_path, server)
    yield database
    if server is not None:
        server.drop_database(database.name)

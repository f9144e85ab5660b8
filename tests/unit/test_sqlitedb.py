"""The SQLite seam every state store opens its file through: WAL, transactions, close, modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time

import pytest

from monitor.sqlitedb import Database


@pytest.fixture
def db(tmp_path):
    opened = Database(tmp_path / "state.db", synchronous="FULL", busy_timeout_s=5)
    opened.executescript("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);")
    yield opened
    opened.close()


def names(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM item ORDER BY id")]


@pytest.mark.parametrize("synchronous, level", [("FULL", 2), ("NORMAL", 1)])
def test_opens_in_wal_with_the_stores_own_synchronous_level_and_busy_timeout(tmp_path, synchronous, level):
    db = Database(tmp_path / "x.db", synchronous=synchronous, busy_timeout_s=2.5)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == level
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 0
        assert db.connection.isolation_level is None  # the transactions are ours
    finally:
        db.close()


def test_options_for_one_store_only(tmp_path):
    db = Database(tmp_path / "x.db", synchronous="FULL", busy_timeout_s=1, auto_vacuum="INCREMENTAL",
                  foreign_keys=True)
    try:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        db.close()
    with pytest.raises(ValueError, match="^synchronous must be one of OFF, NORMAL, FULL, EXTRA, not 'full;'$"):
        Database(tmp_path / "y.db", synchronous="full;", busy_timeout_s=1)


def test_write_commits_and_another_connection_sees_it(db):
    with db.write() as connection:
        connection.execute("INSERT INTO item (name) VALUES ('a')")
        assert connection.in_transaction
    assert not db.connection.in_transaction
    other = sqlite3.connect(db.path)
    try:
        assert other.execute("SELECT name FROM item").fetchall() == [("a",)]
    finally:
        other.close()


def test_an_exception_rolls_the_whole_transaction_back(db):
    with pytest.raises(KeyError):
        with db.write() as connection:
            connection.execute("INSERT INTO item (name) VALUES ('a')")
            raise KeyError("boom")
    assert names(db) == [] and not db.connection.in_transaction
    with db.write() as connection:  # and the next transaction starts cleanly
        connection.execute("INSERT INTO item (name) VALUES ('b')")
    assert names(db) == ["b"]


def test_a_nested_write_is_a_savepoint_that_undoes_only_itself(db):
    with db.write() as connection:
        connection.execute("INSERT INTO item (name) VALUES ('kept')")
        with pytest.raises(sqlite3.IntegrityError):
            with db.write() as inner:
                inner.execute("INSERT INTO item (name) VALUES ('undone')")
                inner.execute("INSERT INTO item (name) VALUES ('kept')")  # UNIQUE fails
        with db.write() as inner:
            inner.execute("INSERT INTO item (name) VALUES ('also kept')")
    assert names(db) == ["kept", "also kept"]
    with pytest.raises(RuntimeError):
        with db.write():
            with db.write() as inner:
                inner.execute("INSERT INTO item (name) VALUES ('gone with the outer one')")
            raise RuntimeError
    assert names(db) == ["kept", "also kept"]


def test_a_failed_commit_is_rolled_back_not_left_open(tmp_path):
    # A deferred foreign key is only checked at COMMIT: the COMMIT itself fails.
    db = Database(tmp_path / "fk.db", synchronous="FULL", busy_timeout_s=1, foreign_keys=True)
    try:
        db.executescript("CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                         "CREATE TABLE child (parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);")
        with pytest.raises(sqlite3.IntegrityError):
            with db.write() as connection:
                connection.execute("INSERT INTO child VALUES (42)")
        assert not db.connection.in_transaction
        assert db.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0
    finally:
        db.close()


def test_write_takes_the_write_lock_at_begin_and_waits_for_another_writer(db):
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    started = time.monotonic()
    release.start()
    try:
        with db.write() as connection:
            waited = time.monotonic() - started
            connection.execute("INSERT INTO item (name) VALUES ('after the other writer')")
    finally:
        release.join()
        other.close()
    assert 0.25 <= waited < 4
    assert names(db) == ["after the other writer"]


def test_executescript_inside_a_transaction_is_refused(db):
    with pytest.raises(RuntimeError, match="would commit the open transaction"):
        with db.write():
            db.executescript("CREATE TABLE other (x);")


def test_data_version_moves_only_for_other_connections_commits(db):
    before = db.data_version()
    with db.write() as connection:
        connection.execute("INSERT INTO item (name) VALUES ('ours')")
    assert db.data_version() == before
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("INSERT INTO item (name) VALUES ('theirs')")
    finally:
        other.close()
    assert db.data_version() != before


def test_close_folds_the_wal_back_even_while_another_process_reads(tmp_path):
    db = Database(tmp_path / "state.db", synchronous="NORMAL", busy_timeout_s=1)
    db.executescript("CREATE TABLE item (name TEXT);")
    reader = sqlite3.connect(tmp_path / "state.db")  # e.g. `netvigil status` holding the file open
    try:
        assert reader.execute("SELECT COUNT(*) FROM item").fetchone()[0] == 0
        with db.write() as connection:
            connection.executemany("INSERT INTO item VALUES (?)", [(str(i),) for i in range(1000)])
        wal = tmp_path / "state.db-wal"
        assert wal.stat().st_size > 0
        db.close()
        # Without the checkpoint the WAL would keep every page while the reader has the file open.
        assert wal.stat().st_size == 0
        assert reader.execute("SELECT COUNT(*) FROM item").fetchone()[0] == 1000
    finally:
        reader.close()
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_files_are_owner_only_and_new_directories_0700_whatever_the_umask(tmp_path, umask):
    os.chmod(tmp_path, 0o755)
    old = os.umask(umask)
    try:
        db = Database(tmp_path / "spool" / "deep" / "out.db", synchronous="FULL", busy_timeout_s=1)
        with db.write() as connection:
            connection.execute("CREATE TABLE t (x)")
            for name in ("out.db", "out.db-wal", "out.db-shm"):
                path = tmp_path / "spool" / "deep" / name
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        db.close()
    finally:
        os.umask(old)
    for directory in (tmp_path / "spool", tmp_path / "spool" / "deep"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # a directory that existed is the operator's choice


def test_a_loose_file_left_by_an_earlier_version_is_tightened(tmp_path):
    path = tmp_path / "metrics.db"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    Database(path, synchronous="NORMAL", busy_timeout_s=1).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_that_is_not_a_database_raises_and_leaves_nothing_open(tmp_path):
    path = tmp_path / "faults.db"
    path.write_bytes(b"not a database, just text " * 100)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        Database(path, synchronous="FULL", busy_timeout_s=1)

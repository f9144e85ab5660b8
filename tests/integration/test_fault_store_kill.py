"""kill -9 of a process writing fault records: what it reported committed is there exactly as
committed, a batch is all or nothing, the one-unresolved-per-key index holds, the file is sound."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.faults.store import FaultStore
from tests import fault_writer
from lab.support import REPO

pytestmark = pytest.mark.integration

WRITER = REPO / "tests" / "fault_writer.py"


class Writer:
    """tests/fault_writer.py in its own process, stopped by its own pid."""

    def __init__(self, mode: str, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER), mode, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})

    def lines(self):
        for line in self.process.stdout:
            yield line.strip()
        raise AssertionError(f"the writer stopped by itself: {self.process.stderr.read()[-2000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        assert self.process.returncode == -signal.SIGKILL
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


@pytest.fixture
def writers():
    started: list[Writer] = []

    def start(mode: str, path: Path) -> Writer:
        started.append(Writer(mode, path))
        return started[-1]

    yield start
    for writer in started:
        if writer.process.poll() is None:
            writer.kill()


def dump(path: Path) -> tuple[list[tuple], list[tuple]]:
    """Every row of the fault and note tables, as committed (read without the store's code)."""
    db = sqlite3.connect(path)
    try:
        return (db.execute("SELECT * FROM fault ORDER BY id").fetchall(),
                db.execute("SELECT * FROM note ORDER BY id").fetchall())
    finally:
        db.close()


def assert_sound(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        doubled = db.execute("SELECT device, rule, instance, COUNT(*) FROM fault WHERE resolved_at IS NULL "
                             "GROUP BY device, rule, instance HAVING COUNT(*) > 1").fetchall()
        assert doubled == []
    finally:
        db.close()


def test_kill_9_during_single_commits_keeps_exactly_what_was_committed(tmp_path, writers):
    path = tmp_path / "faults.db"
    writer = writers("steps", path)
    reported = -1
    for line in writer.lines():  # let it commit a few hundred steps, then kill it mid-write
        reported = int(line)
        if reported >= 300:
            break
    writer.kill()

    FaultStore(path).disconnect()  # recovery: the store opens the file as the daemon would
    assert_sound(path)
    killed = dump(path)
    # Replay the same deterministic steps into a fresh store: the killed file must hold every
    # reported step, and at most the one step whose commit landed just before the kill.
    with FaultStore(tmp_path / "reference.db") as reference:
        for number in range(reported + 1):
            fault_writer.step(reference, number)
        after_reported = dump(tmp_path / "reference.db")
        fault_writer.step(reference, reported + 1)
        after_one_more = dump(tmp_path / "reference.db")
    assert killed in (after_reported, after_one_more)
    with FaultStore(path) as store:  # the steps did exercise re-opens, auto-resolves and notes
        faults = store.list(limit=100_000)
    assert any(f.resolved_by == "auto" for f in faults) and any(f.occurrences > 1 for f in faults)
    assert any(f.notes for f in faults) and any(f.acknowledged_by == "writer" for f in faults)


def test_kill_9_between_batches_leaves_whole_batches(tmp_path, writers):
    path = tmp_path / "faults.db"
    writer = writers("batches", path)
    reported = -1
    for line in writer.lines():
        reported = int(line)
        if reported >= 5:
            break
    writer.kill()
    assert_sound(path)
    with FaultStore(path) as store:
        faults = store.list(limit=100_000)
    batches = {}
    for fault in faults:
        batches.setdefault(fault.device.split("-")[0], []).append(fault)
    assert all(len(members) == fault_writer.BATCH for members in batches.values())
    assert len(batches) in (reported + 1, reported + 2)
    assert {f"b{n}" for n in range(reported + 1)} <= set(batches)


def test_kill_9_inside_a_batch_leaves_none_of_it(tmp_path, writers):
    path = tmp_path / "faults.db"
    writer = writers("hold", path)
    assert next(writer.lines()) == "inside"  # 250 of 500 opens written, not committed
    writer.kill()
    assert_sound(path)
    with FaultStore(path) as store:
        assert store.list() == []
        assert store.unresolved() == []
        # The file is fully usable afterwards: the same batch now commits whole.
        fault_writer.open_batch(store, 0)
        assert len(store.unresolved()) == fault_writer.BATCH

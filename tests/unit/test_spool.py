"""monitor.outputs.spool: order, front insertion, the size bound, and surviving kill -9."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import zlib

import pytest

from monitor.outputs.spool import Batch, Spool, SpoolBusy
from lab.support import REPO

MB = 1024 * 1024


def batch(name: str, points: int = 1) -> Batch:
    return Batch("\n".join(f"{name} v={i}i {i}" for i in range(points)).encode(), points)


def drain(spool: Spool) -> list[bytes]:
    bodies = []
    while (head := spool.head()) is not None:
        bodies.append(head.body)
        spool.remove(head.id)
    return bodies


def test_fifo_order_and_counts(tmp_path):
    spool = Spool(tmp_path / "s.db", 10 * MB)
    spool.append([batch("a", 2), batch("b", 3)])
    spool.append([batch("c", 1)])
    counts = spool.counts()
    assert (counts.batches, counts.points, counts.dropped_points) == (3, 6, 0)
    assert counts.bytes > 0
    assert drain(spool) == [batch("a", 2).body, batch("b", 3).body, batch("c", 1).body]
    assert spool.counts().batches == spool.counts().points == spool.counts().bytes == 0
    spool.close()


def test_head_stays_until_removed(tmp_path):
    spool = Spool(tmp_path / "s.db", MB)
    spool.append([batch("a"), batch("b")])
    first = spool.head()
    assert spool.head() == first  # peeking twice gives the same batch
    spool.remove(first.id)
    assert spool.head().body == batch("b").body
    spool.close()


def test_prepend_goes_before_everything(tmp_path):
    spool = Spool(tmp_path / "s.db", MB)
    spool.append([batch("c"), batch("d")])
    spool.prepend([batch("a"), batch("b")])
    assert drain(spool) == [batch(n).body for n in "abcd"]
    spool.prepend([batch("x")])  # into an empty spool
    spool.append([batch("y")])
    assert drain(spool) == [batch("x").body, batch("y").body]
    spool.close()


def test_replace_splits_the_head_in_place(tmp_path):
    spool = Spool(tmp_path / "s.db", MB)
    spool.append([batch("big", 4), batch("next")])
    head = spool.head()
    spool.replace(head.id, [batch("half1", 2), batch("half2", 2)])
    assert spool.counts().points == 5
    assert drain(spool) == [batch("half1", 2).body, batch("half2", 2).body, batch("next").body]
    spool.close()


def test_survives_reopen(tmp_path):
    spool = Spool(tmp_path / "s.db", MB)
    spool.append([batch("a", 2), batch("b", 3)])
    spool.close()
    again = Spool(tmp_path / "s.db", MB)
    assert (again.counts().batches, again.counts().points) == (2, 5)
    assert drain(again) == [batch("a", 2).body, batch("b", 3).body]
    again.close()


def test_bound_drops_oldest_and_counts(tmp_path):
    # Random payload so compression cannot hide the size: each body is ~2 KB on disk.
    rng = random.Random(7)

    def noisy(name: str) -> Batch:
        return Batch((name + " " + "".join(rng.choice("0123456789abcdef") for _ in range(4000))).encode(), 10)

    spool = Spool(tmp_path / "s.db", max_bytes=10_000, label="influxdb")
    dropped = 0
    for i in range(12):
        dropped += spool.append([noisy(f"b{i:02d}")])
    counts = spool.counts()
    assert counts.bytes <= 10_000
    assert dropped == counts.dropped_points > 0  # the writer logs them (tests/unit/test_droplog.py)
    assert counts.points + dropped == 120  # every point is either still spooled or counted
    remaining = [body.split(b" ")[0] for body in drain(spool)]
    assert remaining == [f"b{i:02d}".encode() for i in range(12 - len(remaining), 12)]  # the newest survive
    spool.close()


def test_one_owner_per_file(tmp_path):
    first = Spool(tmp_path / "s.db", MB)
    with pytest.raises(SpoolBusy, match="still open by another writer"):
        Spool(tmp_path / "sub" / ".." / "s.db", MB)  # the same file by another spelling
    first.append([batch("a")])
    first.close()
    second = Spool(tmp_path / "s.db", MB)  # closed: the next owner may open it
    assert second.counts().points == 1
    second.close()


def test_counts_follow_commits_of_another_connection(tmp_path):
    """What a second writer on the file once did behind the owner's back (a reload that
    opened the new spool before the old writer's last append): the owner's counts, and so
    its replay, must follow the file, not its memory."""
    spool = Spool(tmp_path / "s.db", MB)
    spool.append([batch("a", 2)])
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("INSERT INTO batch (points, nbytes, body) VALUES (3, ?, ?)",
                  (len(zlib.compress(batch("late", 3).body)), zlib.compress(batch("late", 3).body)))
    other.close()
    assert not spool.is_empty()
    assert (spool.counts().batches, spool.counts().points) == (2, 5)
    assert drain(spool) == [batch("a", 2).body, batch("late", 3).body]  # nothing left behind
    assert spool.is_empty() and len(spool) == 0
    spool.close()


def test_counts_match_disk_after_reopen(tmp_path):
    spool = Spool(tmp_path / "s.db", MB)
    spool.append([batch("a", 7), batch("b", 5)])
    before = spool.counts()
    spool.close()
    reopened = Spool(tmp_path / "s.db", MB)
    after = reopened.counts()
    reopened.close()
    assert (after.batches, after.points, after.bytes) == (before.batches, before.points, before.bytes)


_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from monitor.outputs.spool import Batch, Spool
    spool = Spool(Path(sys.argv[1]), 100 * 1024 * 1024)
    i = 0
    while True:
        spool.append([Batch(b"m v=%di %d" % (i, i), 1)])
        print(i, flush=True)  # printed only after the commit returned
        i += 1
""")


def test_survives_kill_9(tmp_path):
    path = tmp_path / "s.db"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    acknowledged = -1
    try:
        for raw in child.stdout:  # let it commit a few hundred batches, then kill it mid-write
            acknowledged = int(raw)
            if acknowledged >= 200:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    assert acknowledged >= 200
    spool = Spool(path, 100 * 1024 * 1024)
    bodies = drain(spool)
    # Every acknowledged batch is there, in order, and nothing is torn.
    assert len(bodies) >= acknowledged + 1
    assert bodies == [b"m v=%di %d" % (i, i) for i in range(len(bodies))]
    spool.close()

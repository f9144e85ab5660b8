"""The embedded SQLite store: history, latest per device, retention, and a reader process."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from monitor.outputs import Outputs
from monitor.outputs.embedded import EmbeddedStore, LatestRow, read_latest
from monitor.outputs.settings import OutputsSettings
from probes.base import Sample
from lab.support import REPO

pytestmark = pytest.mark.integration

DAY_NS = 86_400 * 10**9


def point_count(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM point").fetchone()[0]


def test_write_and_latest_per_device(tmp_path):
    store = EmbeddedStore(tmp_path / "metrics.db", retention_days=7)
    now = time.time_ns()
    assert store.write([
        Sample("icmp", {"device": "sw1", "site": "a"}, {"rtt_ms": 1.0, "up": True}, now - 2_000),
        Sample("icmp", {"device": "sw1", "site": "a"}, {"rtt_ms": 3.0, "up": False}, now),
        Sample("icmp", {"device": "sw2", "site": "b"}, {"rtt_ms": 2.0, "up": True, "result_code": 0}, now - 1_000),
        Sample("ups", {"device": "sw1"}, {"load_pct": 40, "status": "online", "temp_c": float("nan")}, now),
        Sample("icmp", {"device": "sw3"}, {"rtt_ms": float("nan")}, now),  # nothing storable
    ]) == 4
    # A late, older sample must not replace the newer state.
    store.write([Sample("icmp", {"device": "sw1", "site": "a"}, {"rtt_ms": 9.9, "up": True}, now - 5_000)])
    assert point_count(tmp_path / "metrics.db") == 5
    rows = EmbeddedStore.read_latest(tmp_path / "metrics.db")
    store.close()
    assert rows == [
        LatestRow("sw1", "icmp", now, {"device": "sw1", "site": "a"}, {"rtt_ms": 3.0, "up": False}),
        LatestRow("sw1", "ups", now, {"device": "sw1"}, {"load_pct": 40, "status": "online"}),
        LatestRow("sw2", "icmp", now - 1_000, {"device": "sw2", "site": "b"},
                  {"rtt_ms": 2.0, "up": True, "result_code": 0}),
    ]
    # Types survive: an int stays an int, a bool a bool.
    assert type(rows[1].fields["load_pct"]) is int and rows[0].fields["up"] is False


def test_read_latest_of_a_store_that_does_not_exist_yet(tmp_path):
    assert EmbeddedStore.read_latest(tmp_path / "none.db") == []


def test_retention_prunes_in_small_chunks(tmp_path):
    store = EmbeddedStore(tmp_path / "metrics.db", retention_days=1)
    now = time.time_ns()
    old = [Sample("icmp", {"device": f"gone{i % 5}"}, {"v": i}, now - 2 * DAY_NS + i) for i in range(250)]
    fresh = [Sample("icmp", {"device": "sw1"}, {"v": i}, now - i) for i in range(40)]
    store.write(old + fresh)
    chunks = []
    while (deleted := store.prune(now_ns=now, max_rows=100)) == 100:
        chunks.append(deleted)
    chunks.append(deleted)
    assert chunks == [100, 100, 50]  # three short transactions, not one big DELETE
    assert point_count(tmp_path / "metrics.db") == 40
    # Devices not heard of for the whole retention leave the latest table too.
    assert [r.device for r in EmbeddedStore.read_latest(tmp_path / "metrics.db")] == ["sw1"]
    assert store.prune(now_ns=now) == 0
    store.close()


async def test_outputs_use_the_embedded_store_when_no_influxdb_is_configured(tmp_path):
    outputs = Outputs.build(OutputsSettings(), tmp_path)
    assert outputs.embedded is not None and outputs.embedded.path == tmp_path / "metrics.db"
    await outputs.start()
    now = time.time_ns()
    outputs.submit([Sample("icmp", {"device": f"sw{i}"}, {"up": True}, now) for i in range(10)])
    await outputs.stop(5)  # stop writes what is queued
    (stats,) = outputs.stats()
    assert (stats.name, stats.written_points, stats.queued_points, stats.dropped_points) == ("embedded", 10, 0, 0)
    # Read after the daemon stopped, through the module-level function `netvigil status` uses.
    assert sorted(row.device for row in read_latest(tmp_path / "metrics.db")) == sorted(f"sw{i}" for i in range(10))


async def test_write_of_10000_samples_off_the_event_loop(tmp_path, record_property):
    """The figure for the report; the event loop keeps running while the thread writes."""
    store = EmbeddedStore(tmp_path / "metrics.db", retention_days=7)
    now = time.time_ns()
    batches = [[Sample("icmp", {"device": f"sw-{i % 7000}", "site": "bureau-12", "class": "switch"},
                       {"rtt_ms": i * 0.01, "loss_pct": 0.0, "up": True, "result_code": 0}, now + k * 10**9 + i)
                for i in range(10_000)] for k in range(3)]
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    elapsed = []
    for batch in batches:
        started = time.perf_counter()
        assert await asyncio.to_thread(store.write, batch) == 10_000
        elapsed.append(time.perf_counter() - started)
    task.cancel()
    store.close()
    record_property("embedded_write_10k_s", [round(e, 3) for e in elapsed])
    print(f"\nembedded: 10,000 samples per write: {', '.join(f'{e:.3f} s' for e in elapsed)} (first creates series)")
    assert ticks > 0  # the loop ran while the writes were in the thread
    assert point_count(tmp_path / "metrics.db") == 30_000


_READER = textwrap.dedent("""
    import sys, time
    from monitor.outputs.embedded import EmbeddedStore
    path, until = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + 20
    seen = []
    while time.monotonic() < deadline:
        rows = EmbeddedStore.read_latest(path)
        if rows:
            seen.append(max(r.fields["round"] for r in rows))
        if seen and seen[-1] >= until:
            break
        time.sleep(0.005)
    print(len(seen), min(seen) if seen else -1, max(seen) if seen else -1, flush=True)
""")


async def test_read_latest_from_another_process_while_writing(tmp_path):
    path = tmp_path / "metrics.db"
    store = EmbeddedStore(path, retention_days=7)
    store.write([Sample("icmp", {"device": "sw0"}, {"round": 0}, time.time_ns())])
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _READER, str(path), "60", cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    for round_no in range(1, 61):  # the daemon side keeps writing meanwhile
        await asyncio.to_thread(store.write, [Sample("icmp", {"device": f"sw{i}"}, {"round": round_no},
                                                     time.time_ns()) for i in range(500)])
        await asyncio.sleep(0.01)
    out, err = await asyncio.wait_for(reader.communicate(), 30)
    store.close()
    assert reader.returncode == 0, err.decode()
    reads, first, last = map(int, out.split())
    # Many reads, the first while rounds were still being written, and it saw the last one.
    assert reads > 1 and first < 60 and last == 60, (reads, first, last)
    assert b"locked" not in err

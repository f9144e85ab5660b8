"""Replay is at least once: what a server does with a batch it receives twice.

A batch whose answer never came back (kill -9 of the daemon while the write was in flight,
a timeout after the server had stored it) is sent again from the spool. docs/operations.md
("Duplicates after a crash") tells operators which setting makes a server keep one sample;
this shows that setting working on a real VictoriaMetrics 1.79.5, and what happens without it.
InfluxDB needs no setting: a point with the same series and timestamp overwrites the first
(shown against influxd 1.6.7 below).
"""

from __future__ import annotations

import asyncio

import pytest

from monitor.outputs import Outputs
from monitor.outputs.settings import OutputsSettings
from probes.base import Sample
from lab.servers import INFLUXD_ADMIN, VictoriaMetrics, eventually

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000
DEDUP_FLAG = "-dedup.minScrapeInterval=1ms"  # the setting docs/operations.md recommends


def batch() -> list[Sample]:
    # One probe round: 20 devices, one sample each, all at the round's start time.
    return [Sample("dup", {"device": f"d{i}"}, {"up": 1, "rtt_ms": 1.0 + i}, T0) for i in range(20)]


async def write_twice(s: OutputsSettings, state_dir) -> None:
    """The same batch written twice, as a replay after a lost answer does."""
    outputs = Outputs.build(s, state_dir)
    await outputs.start()
    for round_ in (1, 2):
        outputs.submit(batch())
        await eventually(lambda: outputs.stats()[0].written_points == 20 * round_, what=f"write {round_}")
    await outputs.stop(5)


def v2(url: str) -> OutputsSettings:
    return OutputsSettings.model_validate({"influxdb": {"url": url, "bucket": "b", "flush_interval_s": 0.05}})


async def test_victoria_metrics_keeps_one_sample_per_timestamp_only_with_dedup(tmp_path):
    plain = VictoriaMetrics(tmp_path / "plain")
    dedup = VictoriaMetrics(tmp_path / "dedup", extra_args=[DEDUP_FLAG])
    await asyncio.gather(asyncio.to_thread(plain.start), asyncio.to_thread(dedup.start))
    try:
        await write_twice(v2(plain.url), tmp_path / "a")
        await write_twice(v2(dedup.url), tmp_path / "b")
        kept_plain = await asyncio.to_thread(plain.export, "dup_up", lambda rows: sum(len(r["values"]) for r in rows) >= 40)
        kept_dedup = await asyncio.to_thread(dedup.export, "dup_up")
    finally:
        await asyncio.gather(asyncio.to_thread(plain.stop), asyncio.to_thread(dedup.stop))
    assert len(kept_plain) == len(kept_dedup) == 20  # one series per device
    # Without the flag: both copies are stored, so a sum or count over time is doubled.
    assert all(row["timestamps"] == [T0 // 10**6] * 2 for row in kept_plain)
    # With it: one sample per timestamp.
    assert all(row["timestamps"] == [T0 // 10**6] and row["values"] == [1] for row in kept_dedup)


async def test_influxdb_overwrites_a_point_sent_twice(influxd, tmp_path):
    await asyncio.to_thread(influxd.create_database, "dup")
    s = OutputsSettings.model_validate({"influxdb_v1": {
        "url": influxd.url, "database": "dup", "username": INFLUXD_ADMIN[0], "password": INFLUXD_ADMIN[1],
        "flush_interval_s": 0.05}})
    await write_twice(s, tmp_path)
    rows = await asyncio.to_thread(influxd.query, "SELECT up, device FROM dup", "dup")
    assert sorted(r["device"] for r in rows) == sorted(f"d{i}" for i in range(20))  # once each

"""The monthly report's network quality from a real influxd 1.x: points written by the
daemon's own InfluxDB output, read back with the report's InfluxQL; the same figures as the
embedded-store test (tests/unit/test_report_metrics.py). The 2.x path (v1-compatible /query,
bucket as database) is run against an influxd with authentication off: no InfluxDB 2.x
binary is available here, so its token header is not exercised against a server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from lab.servers import INFLUXD_ADMIN, InfluxD, eventually
from lab.support import free_port
from monitor.outputs import Outputs
from monitor.outputs.settings import OutputsSettings
from monitor.reports.metrics import DeviceQuality, network_quality
from probes.base import Sample
from tests.unit.test_report_metrics import END, START, ns

pytestmark = pytest.mark.integration

EXPECTED = (DeviceQuality("codec-a", 4, 75.0, 2.0, 37.5, 0.2, 0.3), DeviceQuality("srv-1", 1, 100.0, 0.5, 0.0, 0.05, 0.05))


def _samples() -> list[Sample]:
    def icmp(device, at, **fields):
        return Sample("icmp", {"device": device, "class": "codec"}, fields, at)

    return [
        icmp("codec-a", ns(10, 31, 23, 59), up=0, loss_pct=100.0),
        icmp("codec-a", ns(11, 1, 0), up=1, rtt_avg_ms=1.0, loss_pct=0.0, jitter_ms=0.1),
        icmp("codec-a", ns(11, 10, 12), up=1, rtt_avg_ms=2.0, loss_pct=0.0, jitter_ms=0.2),
        icmp("codec-a", ns(11, 20, 12), up=1, rtt_avg_ms=3.0, loss_pct=50.0, jitter_ms=0.3),
        icmp("codec-a", ns(11, 30, 23, 59), up=0, loss_pct=100.0),
        icmp("codec-a", ns(12, 1, 0), up=0, loss_pct=100.0),
        icmp("srv-1", ns(11, 15, 8), up=1, rtt_avg_ms=0.5, loss_pct=0.0, jitter_ms=0.05),
    ]


def _v1(influxd, database: str, **overrides) -> dict:
    credentials = {"username": INFLUXD_ADMIN[0], "password": INFLUXD_ADMIN[1]} if influxd.admin else {}
    return {"url": influxd.url, "database": database, "flush_interval_s": 0.05, **credentials, **overrides}


async def _write(tmp_path, influxd, database: str) -> None:
    await asyncio.to_thread(influxd.create_database, database)
    outputs = Outputs.build(OutputsSettings.model_validate({"influxdb_v1": _v1(influxd, database)}), tmp_path)
    await outputs.start()
    outputs.submit(_samples())
    await eventually(lambda: outputs.stats()[0].written_points == 7, what="7 points written")
    await outputs.stop(5)


def _quality(tmp_path, **outputs):
    return network_quality(SimpleNamespace(outputs=OutputsSettings.model_validate(outputs), state_dir=tmp_path),
                           START, END)


async def test_figures_from_influxdb_1x(influxd, tmp_path):
    await _write(tmp_path, influxd, "nvquality")
    quality = await asyncio.to_thread(_quality, tmp_path, influxdb_v1=_v1(influxd, "nvquality"))
    assert quality.problem == "" and quality.devices == EXPECTED
    assert (quality.first_ns, quality.last_ns) == (ns(11, 1, 0), ns(11, 30, 23, 59))
    assert quality.source == f"InfluxDB 1.x {influxd.url} database nvquality"

    wrong = await asyncio.to_thread(_quality, tmp_path, influxdb_v1=_v1(influxd, "nvquality", password="wrong"))
    assert wrong.devices == () and wrong.problem == (
        f"InfluxDB 1.x {influxd.url} database nvquality: HTTP 401: authorization failed")
    missing = await asyncio.to_thread(_quality, tmp_path, influxdb_v1=_v1(influxd, "nosuchdb"))
    assert missing.problem == f"InfluxDB 1.x {influxd.url} database nosuchdb: database not found: nosuchdb"
    port = free_port()
    closed = await asyncio.to_thread(_quality, tmp_path, influxdb_v1={"url": f"http://127.0.0.1:{port}",
                                                                      "database": "x"})
    assert closed.problem == f"InfluxDB 1.x http://127.0.0.1:{port} database x: [Errno 111] Connection refused"


async def test_the_2x_path_queries_the_bucket_as_database(tmp_path):
    influxd = InfluxD(tmp_path / "influxd").start()  # authentication off: no token to check
    try:
        await _write(tmp_path, influxd, "bucket1")
        quality = await asyncio.to_thread(_quality, tmp_path, influxdb={"url": influxd.url, "bucket": "bucket1"})
    finally:
        influxd.stop()
    assert quality.problem == "" and quality.devices == EXPECTED
    assert quality.source == f"InfluxDB {influxd.url} bucket bucket1 (v1-compatible query)"

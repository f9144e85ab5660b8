"""The `influxdb_v1` output against a real influxd 1.6.7 (auth on): read back with InfluxQL,
and the real 400 / 401 / 404 answers of that server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from monitor.outputs import Outputs
from monitor.outputs.settings import OutputsSettings
from probes.base import Sample
from lab.servers import INFLUXD_ADMIN, eventually

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000


def settings(influxd, database: str, **overrides) -> OutputsSettings:
    v1 = {"url": influxd.url, "database": database, "username": INFLUXD_ADMIN[0], "password": INFLUXD_ADMIN[1],
          "flush_interval_s": 0.05, "timeout_s": 2.0} | overrides
    return OutputsSettings.model_validate(
        {"influxdb_v1": v1, "spool": {"retry_initial_s": 0.05, "retry_max_s": 0.2}})


async def running(state_dir, s: OutputsSettings) -> Outputs:
    outputs = Outputs.build(s, state_dir)
    await outputs.start()
    return outputs


def v1_stats(outputs: Outputs):
    (stats,) = [s for s in outputs.stats() if s.name == "influxdb_v1"]
    return stats


async def query(influxd, q: str, db: str) -> list[dict]:
    return await asyncio.to_thread(influxd.query, q, db)


async def test_points_read_back_with_influxql(influxd, tmp_path):
    await asyncio.to_thread(influxd.create_database, "v1read")
    outputs = await running(tmp_path, settings(influxd, "v1read"))
    outputs.submit([
        Sample("icmp", {"device": "sw-core 1", "site": "街道,5", "class": "switch"},
               {"rtt_ms": 1.25, "loss_pct": 0.0, "up": True, "result_code": 3, "detail": 'no "reply"\nat all'}, T0),
        Sample("icmp", {"device": "ups=2", "site": "trailing\\", "path": "a\\,b", "class": "ups"},
               {"rtt_ms": 7.5, "loss_pct": 50.0, "up": False, "result_code": 0, "detail": "C:\\temp\\"}, T0 + 1),
    ])
    await eventually(lambda: v1_stats(outputs).written_points == 2, what="2 points written")
    await outputs.stop(5)
    rows = await query(influxd, "SELECT * FROM icmp ORDER BY time", "v1read")
    assert rows == [
        {"time": T0, "class": "switch", "detail": 'no "reply"\\nat all', "device": "sw-core 1", "loss_pct": 0,
         "path": None, "result_code": 3, "rtt_ms": 1.25, "site": "街道,5", "up": True},
        # Backslashes (monitor/lineproto.py): the trailing one is removed from the tag (1.x cannot
        # parse it), 1.x keeps one extra before the comma, and string fields come back exactly.
        {"time": T0 + 1, "class": "ups", "detail": "C:\\temp\\", "device": "ups=2", "loss_pct": 50,
         "path": "a\\\\,b", "result_code": 0, "rtt_ms": 7.5, "site": "trailing", "up": False},
    ]
    # Types as line protocol sent them: result_code an integer, rtt_ms a float.
    types = {r["fieldKey"]: r["fieldType"] for r in await query(influxd, "SHOW FIELD KEYS FROM icmp", "v1read")}
    assert types == {"detail": "string", "loss_pct": "float", "result_code": "integer", "rtt_ms": "float",
                     "up": "boolean"}


async def test_retention_policy_is_used(influxd, tmp_path):
    await asyncio.to_thread(influxd.create_database, "v1rp")
    await asyncio.to_thread(influxd._post_query, 'CREATE RETENTION POLICY "short" ON "v1rp" DURATION 1000w REPLICATION 1')
    outputs = await running(tmp_path, settings(influxd, "v1rp", retention_policy="short"))
    outputs.submit([Sample("rp", {"device": "a"}, {"v": 1}, T0)])
    await eventually(lambda: v1_stats(outputs).written_points == 1, what="1 point written")
    await outputs.stop(5)
    assert await query(influxd, 'SELECT v FROM "v1rp"."short"."rp"', "v1rp") == [{"time": T0, "v": 1}]
    assert await query(influxd, 'SELECT v FROM "v1rp"."autogen"."rp"', "v1rp") == []


async def test_real_400_type_conflict_drops_only_the_conflicting_point(influxd, tmp_path, caplog):
    await asyncio.to_thread(influxd.create_database, "v1conflict")
    outputs = await running(tmp_path, settings(influxd, "v1conflict", flush_interval_s=0.2))
    outputs.submit([Sample("c", {"device": "a"}, {"rtt_ms": 1.5}, T0)])
    await eventually(lambda: v1_stats(outputs).written_points == 1, what="the float point")
    with caplog.at_level(logging.ERROR):
        # One batch: two good points around one whose rtt_ms is a string (influxd: partial write).
        outputs.submit([Sample("c", {"device": "b"}, {"rtt_ms": 2.5}, T0 + 1),
                        Sample("c", {"device": "c"}, {"rtt_ms": "fast"}, T0 + 2),
                        Sample("c", {"device": "d"}, {"rtt_ms": 3.5}, T0 + 3)])
        await eventually(lambda: v1_stats(outputs).dropped_points == 1, what="the conflict counted")
        outputs.submit([Sample("c", {"device": "e"}, {"rtt_ms": 4.5}, T0 + 4)])  # the queue is not blocked
        await eventually(lambda: v1_stats(outputs).written_points == 4, what="the later point")
    await outputs.stop(5)
    rows = await query(influxd, "SELECT rtt_ms, device FROM c ORDER BY time", "v1conflict")
    assert [(r["device"], r["rtt_ms"]) for r in rows] == [("a", 1.5), ("b", 2.5), ("d", 3.5), ("e", 4.5)]
    stats = v1_stats(outputs)
    assert (stats.written_points, stats.dropped_points, stats.spooled_points) == (4, 1, 0)
    assert "field type conflict" in stats.last_error
    assert any("field type conflict" in r.getMessage() for r in caplog.records)


async def test_real_404_spools_until_the_database_exists(influxd, tmp_path, caplog):
    outputs = await running(tmp_path, settings(influxd, "v1later"))
    with caplog.at_level(logging.WARNING):
        outputs.submit([Sample("late", {"device": "a"}, {"v": i}, T0 + i) for i in range(3)])
        await eventually(lambda: v1_stats(outputs).spooled_points == 3, what="3 points spooled")
        assert "database 'v1later' does not exist" in v1_stats(outputs).last_error
        assert "database not found" in v1_stats(outputs).last_error  # influxd's own words
        # The spool's counts move in the worker thread before the writer logs, so wait for the line.
        await eventually(lambda: any("database 'v1later' does not exist" in r.getMessage() for r in caplog.records),
                         what="the warning naming the missing database")
        await asyncio.to_thread(influxd.create_database, "v1later")
        await eventually(lambda: v1_stats(outputs).written_points == 3, what="replay after CREATE DATABASE")
    await outputs.stop(5)
    assert [r["v"] for r in await query(influxd, "SELECT v FROM late ORDER BY time", "v1later")] == [0, 1, 2]


async def test_real_401_names_the_keys_never_the_password(influxd, tmp_path, caplog):
    password = "Wr0ng-but-S3cret"
    await asyncio.to_thread(influxd.create_database, "v1auth")
    outputs = await running(tmp_path, settings(influxd, "v1auth", username="writer401", password=password))
    with caplog.at_level(logging.INFO):
        outputs.submit([Sample("auth", {"device": "a"}, {"v": 1}, T0)])
        await eventually(lambda: v1_stats(outputs).spooled_points == 1 and v1_stats(outputs).last_error,
                         what="refused and spooled")
        stats = v1_stats(outputs)
        assert not stats.healthy
        assert "outputs.influxdb_v1.username and outputs.influxdb_v1.password" in stats.last_error
        assert "HTTP 401" in stats.last_error
        # The account is created on the server: the spooled point goes out.
        await asyncio.to_thread(influxd._post_query, f"CREATE USER writer401 WITH PASSWORD '{password}'")
        await asyncio.to_thread(influxd._post_query, 'GRANT WRITE ON "v1auth" TO writer401')
        await eventually(lambda: v1_stats(outputs).written_points == 1, what="replay after the user exists")
        await outputs.stop(5)
    logged = "\n".join(r.getMessage() for r in caplog.records) + repr(outputs.stats())
    assert "outputs.influxdb_v1.password" in logged
    assert password not in logged
    assert [r["v"] for r in await query(influxd, "SELECT v FROM auth", "v1auth")] == [1]


async def test_real_400_for_a_malformed_line_loses_only_that_line(influxd, tmp_path, caplog):
    """influxd 1.6.7 answers 400 "partial write: unable to parse '<the line>' ... dropped=0":
    it stored the others, quotes the bad line with its field values, and counts it as 0."""
    await asyncio.to_thread(influxd.create_database, "v1malformed")
    outputs = await running(tmp_path, settings(influxd, "v1malformed", flush_interval_s=0.2))
    good = [f"seq,device=d{i % 40} seq={i}i {T0 + i}" for i in range(120)]
    bad = 'seq,device=sw-7 secret="hunter2",seq= 5'  # what no encoder of ours writes: a parse error
    with caplog.at_level(logging.WARNING):
        outputs.writers[0].submit_lines(good[:57] + [bad] + good[57:])
        await eventually(lambda: v1_stats(outputs).dropped_points == 1 and v1_stats(outputs).written_points == 120,
                         what="the bad line isolated and counted")
    await outputs.stop(5)
    rows = await query(influxd, "SELECT seq FROM seq", "v1malformed")
    assert sorted(r["seq"] for r in rows) == list(range(120))
    stats = v1_stats(outputs)
    assert (stats.written_points, stats.dropped_points, stats.rejected_points, stats.spooled_points) == (120, 1, 1, 0)
    assert "unable to parse a line of seq device=sw-7" in stats.last_error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "dropped 1 points" in logged and "seq device=sw-7" in logged
    assert "hunter2" not in logged + repr(outputs.stats())  # influxd quoted it; we do not

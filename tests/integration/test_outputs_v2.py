"""The `influxdb` (v2 API) output: points read back from VictoriaMetrics, and every error class.

Read-back tests use a real VictoriaMetrics. The error-class tests use lab/fake_influx.py
because VictoriaMetrics answers 204 to everything and no InfluxDB 2.x exists for this
machine (Debian bookworm and PyPI have clients only); each of those tests says which answer it needs from the fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from monitor.lineproto import encode
from monitor.outputs import Outputs
from monitor.outputs.settings import OutputsSettings
from probes.base import Sample
from lab.fake_influx import ACCEPT, Answer
from lab.servers import eventually

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-T0ken-value"
T0 = 1_700_000_000_000_000_000


def settings(url: str, **overrides) -> OutputsSettings:
    influxdb = {"url": url, "bucket": "netvigil", "org": "noc", "token": TOKEN,
                "flush_interval_s": 0.05, "timeout_s": 2.0} | overrides.pop("influxdb", {})
    return OutputsSettings.model_validate(
        {"influxdb": influxdb, "spool": {"retry_initial_s": 0.05, "retry_max_s": 0.2}} | overrides)


def numbered(measurement: str, count: int, start: int = 0) -> list[Sample]:
    # 1 ms apart: VictoriaMetrics keeps milliseconds, so every sample stays distinct there.
    return [Sample(measurement, {"device": f"d{i % 3}"}, {"seq": i}, T0 + i * 1_000_000)
            for i in range(start, start + count)]


def seqs(lines: list[str]) -> list[int]:
    return [int(line.split("seq=")[1].split("i")[0]) for line in lines]


async def running(state_dir, s: OutputsSettings) -> Outputs:
    outputs = Outputs.build(s, state_dir)
    await outputs.start()
    return outputs


def influx_stats(outputs: Outputs):
    (stats,) = [s for s in outputs.stats() if s.name == "influxdb"]
    return stats


def all_text(caplog, outputs: Outputs) -> str:
    return "\n".join(r.getMessage() for r in caplog.records) + "\n" + repr(outputs.stats())


# -- real server: VictoriaMetrics ---------------------------------------------------------

async def test_points_arrive_with_values_and_tags(victoria_metrics, tmp_path):
    outputs = await running(tmp_path, settings(victoria_metrics.url))
    outputs.submit([
        Sample("v2read", {"device": "sw-core 1", "site": "街道,5", "class": "switch", "empty": ""},
               {"rtt_ms": 1.25, "loss_pct": 0.0, "up": True, "result_code": 3}, T0),
        Sample("v2read", {"device": "ups=2", "site": "trailing\\", "path": "a\\,b", "class": "ups"},
               {"rtt_ms": 7.5, "loss_pct": 50.0, "up": False, "result_code": 0}, T0 + 1_000_000_000),
    ])
    rows = await asyncio.to_thread(victoria_metrics.export, '{__name__=~"v2read_.*"}',
                                   lambda rows: len(rows) == 8)
    await outputs.stop(5)

    got = {(r["metric"]["__name__"], r["metric"]["device"]): (r["values"], r["timestamps"]) for r in rows}
    assert got == {
        ("v2read_rtt_ms", "sw-core 1"): ([1.25], [T0 // 10**6]),
        ("v2read_loss_pct", "sw-core 1"): ([0], [T0 // 10**6]),
        ("v2read_up", "sw-core 1"): ([1], [T0 // 10**6]),
        ("v2read_result_code", "sw-core 1"): ([3], [T0 // 10**6]),
        ("v2read_rtt_ms", "ups=2"): ([7.5], [T0 // 10**6 + 1000]),
        ("v2read_loss_pct", "ups=2"): ([50], [T0 // 10**6 + 1000]),
        ("v2read_up", "ups=2"): ([0], [T0 // 10**6 + 1000]),
        ("v2read_result_code", "ups=2"): ([0], [T0 // 10**6 + 1000]),
    }
    labels = {r["metric"]["device"]: r["metric"] for r in rows}
    # Escaped tags come back exactly; the empty tag was left out.
    assert labels["sw-core 1"] == {"__name__": labels["sw-core 1"]["__name__"], "device": "sw-core 1",
                                   "site": "街道,5", "class": "switch"}
    # Backslashes (monitor/lineproto.py): trailing ones removed, one before a comma kept exactly.
    assert (labels["ups=2"]["site"], labels["ups=2"]["path"]) == ("trailing", "a\\,b")
    stats = influx_stats(outputs)
    assert (stats.written_points, stats.dropped_points, stats.spooled_points) == (2, 0, 0)


async def test_write_throughput_to_victoria_metrics(victoria_metrics, tmp_path, record_property):
    """100,000 points through the whole pipeline (encode, batch 5,000, gzip, HTTP); figure reported."""
    outputs = await running(tmp_path, settings(victoria_metrics.url, influxdb={"flush_interval_s": 1.0}))
    samples = [Sample("v2speed", {"device": f"sw{i % 1000}", "site": "bureau-12"}, {"rtt_ms": i * 0.5, "up": True},
                      T0 + (i // 1000) * 1_000_000_000) for i in range(100_000)]
    started = time.perf_counter()
    for chunk in range(0, len(samples), 10_000):
        outputs.submit(samples[chunk:chunk + 10_000])
        await asyncio.sleep(0)
    await eventually(lambda: influx_stats(outputs).written_points == 100_000, 30, "100,000 points written")
    elapsed = time.perf_counter() - started
    await outputs.stop(5)
    record_property("v2_points_per_s", round(100_000 / elapsed))
    print(f"\nv2 -> VictoriaMetrics: 100,000 points in {elapsed:.2f} s = {100_000 / elapsed:,.0f} points/s")
    rows = await asyncio.to_thread(victoria_metrics.export, "v2speed_rtt_ms",
                                   lambda rows: sum(len(r["values"]) for r in rows) == 100_000)
    assert sum(len(r["values"]) for r in rows) == 100_000
    assert len(rows) == 1000


async def test_build_layout(tmp_path):
    outputs = Outputs.build(settings("http://127.0.0.1:9"), tmp_path)
    assert [s.name for s in outputs.stats()] == ["influxdb"]
    assert outputs.embedded is None  # an InfluxDB is configured, so no embedded store by default
    assert (tmp_path / "spool" / "influxdb.db").exists()
    await outputs.stop(1)


# -- error classes, answered by the fake (VictoriaMetrics never sends them) ------------------

async def test_gzip_and_token_are_sent(fake_influx, tmp_path):
    """Fake: a real VictoriaMetrics ignores the token and does not show the request headers."""
    outputs = await running(tmp_path, settings(fake_influx.url))
    outputs.submit(numbered("gz", 3))
    await eventually(lambda: len(fake_influx.accepted) == 1, what="one write")
    await outputs.stop(5)
    (request,) = fake_influx.requests
    assert request.gzipped
    assert request.authorization == f"Token {TOKEN}"
    assert request.query == {"org": "noc", "bucket": "netvigil", "precision": "ns"}


async def test_401_keeps_spooling_and_names_the_key_never_the_secret(fake_influx, tmp_path, caplog):
    """Fake: 401 is an InfluxDB 2.x answer that VictoriaMetrics never gives."""
    # Like some servers and proxies, it echoes the credential it refused.
    fake_influx.answer = lambda body: Answer(401, json.dumps({"code": "unauthorized",
                                                              "message": f"unauthorized access: token {TOKEN}"}))
    outputs = await running(tmp_path, settings(fake_influx.url))
    with caplog.at_level(logging.INFO):
        outputs.submit(numbered("auth", 5))
        await eventually(lambda: len(fake_influx.requests) >= 3, what="three refused attempts")
        stats = influx_stats(outputs)
        assert not stats.healthy
        assert stats.spooled_points == 5 and stats.dropped_points == 0
        assert "outputs.influxdb.token" in stats.last_error
        assert "unauthorized access" in stats.last_error
        assert any("outputs.influxdb.token" in r.getMessage() for r in caplog.records)
        # The token is fixed on the server side: the spooled points go out.
        fake_influx.answer = lambda body: ACCEPT
        await eventually(lambda: seqs(fake_influx.accepted_lines()) == [0, 1, 2, 3, 4], what="replay")
        await outputs.stop(5)
    assert TOKEN not in all_text(caplog, outputs)
    assert influx_stats(outputs).healthy


async def test_404_names_the_missing_bucket_and_keeps_spooling(fake_influx, tmp_path, caplog):
    """Fake: VictoriaMetrics has no buckets, so it cannot answer 404 for a missing one."""
    fake_influx.answer = lambda body: Answer(404, json.dumps({"code": "not found", "message": 'bucket "nv" not found'}))
    outputs = await running(tmp_path, settings(fake_influx.url, influxdb={"bucket": "nv"}))
    with caplog.at_level(logging.WARNING):
        outputs.submit(numbered("nf", 4))
        await eventually(lambda: len(fake_influx.requests) >= 2, what="refused attempts")
        assert "bucket 'nv' does not exist" in influx_stats(outputs).last_error
        assert any("bucket 'nv' does not exist" in r.getMessage() for r in caplog.records)
        assert influx_stats(outputs).spooled_points == 4
        fake_influx.answer = lambda body: ACCEPT  # someone created the bucket
        await eventually(lambda: seqs(fake_influx.accepted_lines()) == [0, 1, 2, 3], what="replay")
    await outputs.stop(5)


async def test_413_splits_the_batch_until_it_fits(fake_influx, tmp_path, caplog):
    """Fake: a body-size limit (413) is an InfluxDB answer VictoriaMetrics does not give."""
    fake_influx.answer = lambda body: Answer(413, '{"code":"request too large"}') if body.count(b"\n") >= 10 else ACCEPT
    outputs = await running(tmp_path, settings(fake_influx.url, influxdb={"batch_size": 64, "flush_interval_s": 0.2}))
    with caplog.at_level(logging.WARNING):
        outputs.submit(numbered("big", 64))
        await eventually(lambda: len(fake_influx.accepted_lines()) == 64, what="all 64 points accepted")
    await outputs.stop(5)
    assert seqs(fake_influx.accepted_lines()) == list(range(64))  # split, but still in order
    assert all(body.count(b"\n") < 10 for body in fake_influx.accepted)
    assert 413 in fake_influx.statuses
    stats = influx_stats(outputs)
    assert (stats.written_points, stats.dropped_points) == (64, 0)
    assert any("413" in r.getMessage() for r in caplog.records)


async def test_429_honours_retry_after(fake_influx, tmp_path):
    """Fake: rate limiting with Retry-After is an InfluxDB Cloud/2.x answer."""
    answers = iter([Answer(429, '{"code":"too many requests"}', {"Retry-After": "1"})])
    fake_influx.answer = lambda body: next(answers, ACCEPT)
    # retry_initial_s is 0.05: a retry a second later can only come from Retry-After.
    outputs = await running(tmp_path, settings(fake_influx.url))
    outputs.submit(numbered("rl", 3))
    await eventually(lambda: len(fake_influx.accepted) == 1, what="the retried write")
    await outputs.stop(5)
    first, second = fake_influx.requests
    assert (first.status, second.status) == (429, 204)
    assert second.at - first.at >= 0.9
    assert seqs(fake_influx.accepted_lines()) == [0, 1, 2]


async def test_503_and_slow_answers_are_retried(fake_influx, tmp_path):
    """Fake: 503 and a server slower than timeout_s, neither of which VictoriaMetrics gives on demand."""
    answers = iter([Answer(503, '{"code":"unavailable"}'), Answer(503, delay_s=1.0)])
    fake_influx.answer = lambda body: next(answers, ACCEPT)
    outputs = await running(tmp_path, settings(fake_influx.url, influxdb={"timeout_s": 0.3}))
    outputs.submit(numbered("busy", 5))
    # The server records the write before its answer reaches the writer, which counts it then.
    await eventually(lambda: len(fake_influx.accepted) == 1 and influx_stats(outputs).written_points == 5,
                     what="the retried write, answered")
    stats = influx_stats(outputs)
    await outputs.stop(5)
    assert seqs(fake_influx.accepted_lines()) == [0, 1, 2, 3, 4]
    assert (stats.written_points, stats.dropped_points, stats.healthy) == (5, 0, True)


async def test_400_for_one_malformed_line_loses_only_that_line(fake_influx, tmp_path, caplog):
    """Fake: InfluxDB 2.x answers 400 to the whole request when one line does not parse and
    stores none of it; no 2.x server runs here, and VictoriaMetrics answers 204 to malformed
    lines and skips them. The same split against a real influxd is in test_outputs_v1.py."""
    bad = 'bad,device=sw-7 v=,secret="hunter2" 1'

    def answer(body: bytes) -> Answer:
        if bad.encode() in body:
            return Answer(400, json.dumps({"code": "invalid", "message": f"unable to parse '{bad}': missing field value"}))
        return ACCEPT

    fake_influx.answer = answer
    outputs = await running(tmp_path, settings(fake_influx.url, influxdb={"flush_interval_s": 0.2}))
    lines = [encode(sample) for sample in numbered("good", 120)]
    lines.insert(57, bad)
    with caplog.at_level(logging.WARNING):
        outputs.writers[0].submit_lines(lines)
        await eventually(lambda: len(fake_influx.accepted_lines()) == 120 and influx_stats(outputs).dropped_points == 1,
                         what="every good line accepted, the bad one dropped")
        outputs.submit(numbered("good", 3, start=120))  # the queue is not blocked
        await eventually(lambda: len(fake_influx.accepted_lines()) == 123, what="the next batch")
    await outputs.stop(5)
    assert seqs(fake_influx.accepted_lines()) == list(range(123))  # in order, each once
    stats = influx_stats(outputs)
    assert (stats.written_points, stats.dropped_points, stats.rejected_points, stats.spooled_points) == (123, 1, 1, 0)
    assert stats.healthy and "missing field value" in stats.last_error
    # Halving: about two requests per level, not one per line.
    assert fake_influx.statuses.count(400) <= 8 and len(fake_influx.requests) <= 20
    dropped_lines = [r.getMessage() for r in caplog.records if "dropped 1 points" in r.getMessage()]
    assert len(dropped_lines) == 1 and "bad device=sw-7" in dropped_lines[0]
    assert "hunter2" not in all_text(caplog, outputs)  # field values never reach log or status


async def test_a_300_kb_device_name_costs_only_its_own_samples(victoria_metrics, tmp_path, caplog):
    """Real VictoriaMetrics 1.79.5: a line over 256 KiB gets 400 "too long line" for the whole
    request, and the lines after it are lost. The encoder refuses that one line instead."""
    outputs = await running(tmp_path, settings(victoria_metrics.url, influxdb={"flush_interval_s": 0.2}))
    samples = numbered("longname", 120)
    samples.insert(60, Sample("longname", {"device": "n" * 300_000}, {"seq": 999, "note": "hunter2"}, T0))
    with caplog.at_level(logging.WARNING):
        outputs.submit(samples)
        await eventually(lambda: influx_stats(outputs).written_points == 120, what="120 points written")
    await outputs.stop(5)
    rows = await asyncio.to_thread(victoria_metrics.export, "longname_seq",
                                   lambda rows: sum(len(r["values"]) for r in rows) >= 120)
    assert sorted(int(v) for r in rows for v in r["values"]) == list(range(120))
    stats = influx_stats(outputs)
    assert (stats.written_points, stats.dropped_points, stats.rejected_points) == (120, 1, 1)
    text = all_text(caplog, outputs)
    assert "longname device=" + "n" * 60 + "... (300000 characters)" in text
    assert "hunter2" not in text and "n" * 1000 not in text


async def test_partial_write_counts_only_what_the_server_dropped(fake_influx, tmp_path):
    """Fake: an InfluxDB 2.x partial-write answer (422/400 with dropped=N)."""
    message = 'partial write: field type conflict: input field "seq" on measurement "pw" is type integer dropped=1'
    answers = iter([Answer(422, json.dumps({"code": "unprocessable entity", "message": message}))])
    fake_influx.answer = lambda body: next(answers, ACCEPT)
    outputs = await running(tmp_path, settings(fake_influx.url))
    outputs.submit(numbered("pw", 5))
    await eventually(lambda: influx_stats(outputs).dropped_points == 1, what="the partial write")
    await outputs.stop(5)
    stats = influx_stats(outputs)
    assert (stats.written_points, stats.dropped_points, stats.spooled_points) == (4, 1, 0)

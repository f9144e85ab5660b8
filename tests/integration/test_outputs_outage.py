"""Nothing lost: real servers stopped mid-run, the spool across restarts, and its bound.

Samples carry a sequence number (`seq`) and are submitted continuously; after the outage
every number must be on the server exactly once. Replay *order* is shown with the fake
(lab/fake_influx.py), which records arrival order: neither VictoriaMetrics nor influxd
can say in which order points arrived.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time

import pytest

from monitor.outputs import Outputs
from monitor.outputs import writer as writer_module
from monitor.outputs.settings import OutputsSettings
from probes.base import Sample
from lab.fake_influx import ACCEPT, Answer, FakeInflux
from lab.servers import INFLUXD_ADMIN, eventually

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000
SPOOL = {"retry_initial_s": 0.05, "retry_max_s": 0.2}


def v2_settings(url: str, **spool) -> OutputsSettings:
    return OutputsSettings.model_validate({
        "influxdb": {"url": url, "bucket": "netvigil", "token": "t", "flush_interval_s": 0.05, "timeout_s": 1.0},
        "spool": SPOOL | spool})


def numbered(measurement: str, count: int, start: int) -> list[Sample]:
    # 1 ms apart: VictoriaMetrics keeps milliseconds, so no two samples share a timestamp.
    return [Sample(measurement, {"device": f"d{i % 3}"}, {"seq": i}, T0 + i * 1_000_000)
            for i in range(start, start + count)]


class Producer:
    """Submits `per_tick` numbered samples every `tick_s`, like a scheduler would."""

    def __init__(self, outputs: Outputs, measurement: str, per_tick: int = 20, tick_s: float = 0.05) -> None:
        self.outputs, self.measurement, self.per_tick, self.tick_s = outputs, measurement, per_tick, tick_s
        self.submitted = 0

    async def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.outputs.submit(numbered(self.measurement, self.per_tick, self.submitted))
            self.submitted += self.per_tick
            await asyncio.sleep(self.tick_s)


def only_stats(outputs: Outputs):
    (stats,) = outputs.stats()
    return stats


def settled(outputs: Outputs, total: int) -> bool:
    stats = only_stats(outputs)
    return stats.written_points == total and stats.spooled_points == 0 and stats.queued_points == 0


def seqs(lines: list[str]) -> list[int]:
    return [int(line.split("seq=")[1].split("i")[0]) for line in lines]


async def test_victoria_metrics_outage_every_sample_arrives_exactly_once(private_victoria_metrics, tmp_path):
    vm = private_victoria_metrics
    outputs = Outputs.build(v2_settings(vm.url), tmp_path)
    await outputs.start()
    producer = Producer(outputs, "outage_vm")
    await producer.run(0.5)
    # Stop the real server while samples keep coming (stopping VM takes ~2 s).
    await asyncio.gather(producer.run(2.5), asyncio.to_thread(vm.stop))
    during = only_stats(outputs)
    assert not during.healthy and during.spooled_points > 0 and during.last_error
    await asyncio.gather(producer.run(1.0), asyncio.to_thread(vm.start))
    await eventually(lambda: settled(outputs, producer.submitted), 20, "backlog replayed")
    await outputs.stop(5)

    total = producer.submitted
    rows = await asyncio.to_thread(vm.export, "outage_vm_seq",
                                   lambda rows: sum(len(r["values"]) for r in rows) >= total)
    values = sorted(int(v) for r in rows for v in r["values"])
    assert values == list(range(total))  # all there, none twice
    assert only_stats(outputs).dropped_points == 0


async def test_influxd_outage_every_sample_arrives(private_influxd, tmp_path):
    """influxd keeps one point per series and timestamp, so a duplicate would be invisible
    here; exactly-once is shown against VictoriaMetrics above, which keeps duplicates."""
    influxd = private_influxd
    await asyncio.to_thread(influxd.create_database, "outage")
    s = OutputsSettings.model_validate({
        "influxdb_v1": {"url": influxd.url, "database": "outage", "username": INFLUXD_ADMIN[0],
                        "password": INFLUXD_ADMIN[1], "flush_interval_s": 0.05, "timeout_s": 1.0},
        "spool": SPOOL})
    outputs = Outputs.build(s, tmp_path)
    await outputs.start()
    producer = Producer(outputs, "outage_v1")
    await producer.run(0.5)
    await asyncio.gather(producer.run(2.0), asyncio.to_thread(influxd.stop))
    during = only_stats(outputs)
    assert not during.healthy and during.spooled_points > 0
    await asyncio.gather(producer.run(1.0), asyncio.to_thread(influxd.start))
    await eventually(lambda: settled(outputs, producer.submitted), 20, "backlog replayed")
    await outputs.stop(5)

    rows = await asyncio.to_thread(influxd.query, "SELECT seq FROM outage_v1", "outage")
    assert sorted(r["seq"] for r in rows) == list(range(producer.submitted))


async def test_replay_keeps_submission_order_through_a_503_period(fake_influx, tmp_path):
    """Fake: only it can tell the order in which points arrived, and answer 503 on demand."""
    down = False
    fake_influx.answer = lambda body: Answer(503, '{"code":"unavailable"}') if down else ACCEPT
    outputs = Outputs.build(v2_settings(fake_influx.url), tmp_path)
    await outputs.start()
    producer = Producer(outputs, "order")
    await producer.run(0.3)
    down = True
    await producer.run(0.8)
    assert only_stats(outputs).spooled_points > 0
    down = False
    await producer.run(0.5)
    await eventually(lambda: settled(outputs, producer.submitted), 10, "backlog replayed")
    await outputs.stop(5)
    assert 503 in fake_influx.statuses
    assert seqs(fake_influx.accepted_lines()) == list(range(producer.submitted))  # in order, once each


async def test_a_slow_failed_request_goes_back_before_what_was_spooled_meanwhile(fake_influx, tmp_path):
    """Fake: a server that holds the first request for 0.5 s and then answers 503.

    While it hangs, later batches overflow memory into the spool; the failed batch is
    older than all of them and must be replayed first.
    """
    answers = iter([Answer(503, '{"code":"unavailable"}', delay_s=0.5)])
    fake_influx.answer = lambda body: next(answers, ACCEPT)
    s = v2_settings(fake_influx.url)
    s.influxdb.batch_size = 10
    outputs = Outputs.build(s, tmp_path)
    await outputs.start()
    outputs.submit(numbered("slow", 10, 0))
    await eventually(lambda: outputs.writers[0]._in_flight is not None, what="the first request in flight")
    for start in range(10, 110, 10):
        outputs.submit(numbered("slow", 10, start))
        await asyncio.sleep(0.01)
    await eventually(lambda: only_stats(outputs).spooled_points >= 50, what="later batches spooled meanwhile")
    await eventually(lambda: settled(outputs, 110), 10, "everything replayed")
    await outputs.stop(5)
    assert fake_influx.statuses[0] == 503
    assert seqs(fake_influx.accepted_lines()) == list(range(110))


async def test_spool_survives_a_restart_of_the_daemon(private_victoria_metrics, tmp_path):
    vm = private_victoria_metrics
    await asyncio.to_thread(vm.stop)
    first = Outputs.build(v2_settings(vm.url), tmp_path)
    await first.start()
    first.submit(numbered("restart", 300, 0))
    await asyncio.sleep(0.2)
    first.submit(numbered("restart", 200, 300))
    await first.stop(1.0)  # server down: everything must end up on disk
    stopped = only_stats(first)
    assert (stopped.spooled_points, stopped.queued_points, stopped.written_points) == (500, 0, 0)

    second = Outputs.build(v2_settings(vm.url), tmp_path)
    assert only_stats(second).spooled_points == 500  # visible before it even starts
    await asyncio.to_thread(vm.start)
    await second.start()
    await eventually(lambda: settled(second, 500), 15, "the spool of the previous run replayed")
    await second.stop(5)
    rows = await asyncio.to_thread(vm.export, "restart_seq", lambda rows: sum(len(r["values"]) for r in rows) >= 500)
    assert sorted(int(v) for r in rows for v in r["values"]) == list(range(500))


async def test_bounded_spool_drops_the_oldest_and_counts_them(tmp_path, caplog):
    fake = FakeInflux()  # not started yet: the output sees connection refused
    max_mb = 0.02
    outputs = Outputs.build(v2_settings(fake.url, max_mb=max_mb), tmp_path)
    await outputs.start()
    rng = random.Random(1)
    total = 0
    with caplog.at_level(logging.WARNING):
        for _ in range(40):
            # Random padding, so compression cannot make the bound meaningless.
            outputs.submit([Sample("bound", {"device": "d"}, {"seq": total + i, "pad": rng.randbytes(100).hex()},
                                   T0 + total + i) for i in range(25)])
            total += 25
            await asyncio.sleep(0.06)
        await eventually(lambda: only_stats(outputs).queued_points == 0, what="memory flushed to the spool")
    full = only_stats(outputs)
    assert full.dropped_points > 0
    assert full.spooled_bytes <= max_mb * 1024 * 1024
    assert full.spooled_points + full.dropped_points == total
    assert any("output influxdb: dropped" in r.getMessage() and "the spool was full (outputs.spool.max_mb)"
               in r.getMessage() for r in caplog.records)

    await fake.start()
    try:
        await eventually(lambda: only_stats(outputs).spooled_points == 0, 10, "spool replayed")
        await outputs.stop(5)
    finally:
        await fake.stop()
    arrived = seqs(fake.accepted_lines())
    assert arrived == list(range(total - len(arrived), total))  # the newest survived, in order
    assert len(arrived) + only_stats(outputs).dropped_points == total


async def test_stop_with_a_hanging_server_spools_within_the_timeout(fake_influx, tmp_path):
    """Fake: a server that accepts the connection but answers only after 3 s."""
    fake_influx.answer = lambda body: Answer(204, delay_s=3.0)
    s = v2_settings(fake_influx.url)
    s.influxdb.timeout_s = 30.0  # so only stop()'s own timeout can end the request
    outputs = Outputs.build(s, tmp_path)
    await outputs.start()
    outputs.submit(numbered("hang", 50, 0))
    await eventually(lambda: only_stats(outputs).queued_points == 50 and fake_influx.requests == [] and
                     outputs.writers[0]._in_flight is not None, what="the request in flight")
    outputs.submit(numbered("hang", 30, 50))
    started = time.monotonic()
    await outputs.stop(1.0)
    assert time.monotonic() - started < 2.0
    stats = only_stats(outputs)
    assert (stats.spooled_points, stats.queued_points, stats.written_points) == (80, 0, 0)


def logged_drops(caplog) -> list[tuple[float, int]]:
    """(time, points) of every drop line of the influxdb output, in order."""
    found = []
    for record in caplog.records:
        match = re.match(r"output influxdb: dropped (\d+) points", record.getMessage())
        if match:
            found.append((record.created, int(match.group(1))))
    return found


async def test_spool_drops_are_logged_as_they_happen_with_exact_counts(tmp_path, caplog, monkeypatch):
    """A full spool during an outage: the log says how many points went, while they go (at
    most one line per interval), and its counts add up to the exported dropped_points before
    the stop, not only after it. Connection refused from a port nobody listens on."""
    interval_s = 0.5
    # raising=False: the same test, run against a writer without this setting, must fail on
    # its assertions, not on the patch.
    monkeypatch.setattr(writer_module, "DROP_LOG_INTERVAL_S", interval_s, raising=False)
    fake = FakeInflux()  # never started
    outputs = Outputs.build(v2_settings(fake.url, max_mb=0.01), tmp_path)
    await outputs.start()
    rng = random.Random(2)
    total = 0
    with caplog.at_level(logging.WARNING):
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            outputs.submit([Sample("drops", {"device": "d"}, {"seq": total + i, "pad": rng.randbytes(100).hex()},
                                   T0 + total + i) for i in range(25)])
            total += 25
            await asyncio.sleep(0.05)
        await eventually(lambda: only_stats(outputs).queued_points == 0, what="memory flushed to the spool")
        await asyncio.sleep(interval_s * 2)  # the last drops are reported without a new drop or a stop
        running = only_stats(outputs)
        before_stop = logged_drops(caplog)
        await outputs.stop(1.0)
    assert running.dropped_points > 0
    assert sum(points for _, points in before_stop) == running.dropped_points
    assert len(before_stop) >= 3  # as they happened, not one line for all
    gaps = [b[0] - a[0] for a, b in zip(before_stop, before_stop[1:])]
    assert min(gaps) >= interval_s * 0.9  # and never more often than the interval
    stopped = only_stats(outputs)
    assert sum(points for _, points in logged_drops(caplog)) == stopped.dropped_points
    assert stopped.spooled_points + stopped.dropped_points == total

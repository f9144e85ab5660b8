"""The parent-worker channel on a real socketpair, and the parent's view of its workers' schedulers."""

from __future__ import annotations

import asyncio
import socket
from types import MappingProxyType

from monitor.scheduler import KindStats
from monitor.workers.channel import flat_samples, receive, samples_from, send
from monitor.workers.partition import Shard
from monitor.workers.pool import WorkerPool, _Worker
from probes.base import Sample


def _samples() -> list[Sample]:
    tags = MappingProxyType({"device": "core-sw", "site": "机房", "class": "switch"})
    return [Sample("icmp", tags, {"up": 1, "rtt_avg_ms": 0.4}, 1_765_000_000_000_000_000),
            Sample("interface", MappingProxyType({**tags, "ifName": "Gi0/1"}), {"in_octets": 2 ** 40}, 1),
            Sample("snmp", tags, {"up": 0, "error_code": 1, "note": "超时"}, 2)]


def test_samples_cross_as_tuples_and_come_back_equal():
    samples = _samples()
    flat = flat_samples(samples)
    assert all(type(values) is tuple for values in flat)
    assert samples_from(flat) == samples
    # one dict per distinct read-only mapping: samples of one device share it
    assert flat[0][1] is flat[2][1] and flat[0][1] is not flat[1][1]


async def test_messages_in_order_across_a_socketpair_and_none_at_the_end():
    left, right = socket.socketpair()
    _, writer = await asyncio.open_unix_connection(sock=left)
    reader, _ = await asyncio.open_unix_connection(sock=right)
    big = [("icmp", {"device": f"d{i}"}, {"up": 1}, i) for i in range(20_000)]  # > one socket buffer
    send(writer, "probed", "icmp", big, [("d1", "timed out")])
    send(writer, "done", 7)

    async def finish() -> None:
        await writer.drain()
        writer.close()

    async def read_all() -> list:
        return [await receive(reader) for _ in range(3)]

    _, received = await asyncio.wait_for(asyncio.gather(finish(), read_all()), 30)
    assert received == [("probed", "icmp", big, [("d1", "timed out")]), ("done", 7), None]
    send(writer, "stop")  # to a closed writer: dropped, no error


def _worker(index: int, stats: dict, retired: dict | None = None) -> _Worker:
    worker = _Worker(index, Shard((), (), 0.0))
    worker.stats = stats
    worker.retired = retired or {}
    return worker


def _kind(**values) -> dict:
    return {**vars(KindStats()), **values}


def test_the_parent_adds_up_counts_and_takes_the_highest_lag():
    pool = WorkerPool(2, "netvigil.yaml", handle=lambda *args: None)
    pool.workers = [
        _worker(1, {"snmp": _kind(devices=5000, jobs=100, running=3, runs_total=40, skipped_total=1,
                                  errors_total=2, lag_last_s=0.2, run_seconds_last=1.5)},
                retired={"snmp": {"runs_total": 7, "skipped_total": 1, "errors_total": 0}}),
        _worker(2, {"snmp": _kind(devices=4000, jobs=90, running=1, runs_total=30, lag_last_s=0.9,
                                  run_seconds_last=0.5),
                    "icmp": _kind(devices=4000, jobs=4, runs_total=12)}),
    ]
    pool._window = {"snmp": 1.7}
    merged = pool.stats()
    snmp = merged["snmp"]
    assert (snmp.devices, snmp.jobs, snmp.running) == (9000, 190, 4)
    assert (snmp.runs_total, snmp.skipped_total, snmp.errors_total) == (77, 2, 2)  # earlier lives included
    assert (snmp.lag_last_s, snmp.lag_max_s, snmp.run_seconds_last) == (0.9, 1.7, 1.5)
    assert merged["icmp"].runs_total == 12 and merged["icmp"].lag_max_s == 0.0
    window = pool.take_window()
    assert window["snmp"].lag_max_s == 1.7
    assert pool.stats()["snmp"].lag_max_s == 0.0  # a new window


def test_a_worker_without_a_process_is_not_alive():
    pool = WorkerPool(2, "netvigil.yaml", handle=lambda *args: None)
    pool.workers = [_worker(1, {}), _worker(2, {})]
    assert not pool.alive()
    assert pool.stalled() == "worker 1 is not running"

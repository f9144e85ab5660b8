"""The whole daemon: a reload that changes `outputs` during an outage loses nothing and keeps order.

A real `netvigil run` probes 20 loopback devices every 5 s and writes through a
fault-injecting proxy (lab/write_proxy.py) to a real VictoriaMetrics. The proxy closes
its port for the outage and records the order in which points reached the server; the
daemon's embedded store keeps the reference copy of every sample it produced.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.integration.test_daemon import INVENTORY, _devices, _start, _status, workdir  # noqa: F401
from lab.support import wait_until
from lab.write_proxy import WriteProxy, duplicates, order_inversions

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _settings_text(proxy_url: str, batch_size: int) -> str:
    # flush_interval_s 4: between two cuts the writer holds seconds of points in memory, which
    # a reload during an outage must hand over through the spool.
    return ("inventory: [inventory.yaml]\nstate_dir: state\n"
            "probes:\n  icmp: {interval_s: 5, count: 2, echo_interval_ms: 50, timeout_s: 0.5}\n"
            "scheduler: {slot_s: 0.5}\n"
            f"outputs:\n  influxdb: {{url: '{proxy_url}', bucket: health, batch_size: {batch_size}, "
            "flush_interval_s: 4, timeout_s: 1}\n"
            "  embedded: {enabled: true}\n  spool: {retry_initial_s: 0.2, retry_max_s: 1}\n")


def reference_samples(state_dir: Path) -> set[tuple[str, int]]:
    """(device, time_ns) of every icmp sample the daemon produced (its embedded store)."""
    db = sqlite3.connect(state_dir / "metrics.db")
    try:
        return set(db.execute("SELECT s.device, p.time_ns FROM point p JOIN series s ON s.id = p.series_id "
                              "WHERE s.measurement = 'icmp'"))
    finally:
        db.close()


def tag(key: str, name: str) -> str:
    return next(part.split("=", 1)[1] for part in key.split(",")[1:] if part.startswith(name + "="))


def spool_rows(state_dir: Path) -> int:
    db = sqlite3.connect(state_dir / "spool" / "influxdb.db")
    try:
        return db.execute("SELECT COALESCE(SUM(points), 0) FROM batch").fetchone()[0]
    finally:
        db.close()


def test_reload_changing_outputs_during_an_outage_hands_the_spool_over(workdir, private_victoria_metrics):
    proxy = WriteProxy(private_victoria_metrics.url).start()
    settings = workdir / "netvigil.yaml"
    (workdir / "inventory.yaml").write_text(INVENTORY + _devices(20, net=47))
    settings.write_text(_settings_text(proxy.url, 5000))
    process, listener = _start(workdir, settings)
    try:
        ready = listener.wait_for("READY=1")
        wait_until(lambda: len(proxy.snapshot()) >= 20, timeout_s=20, what="first samples written")
        proxy.stop()  # outage: the write endpoint refuses connections
        time.sleep(12)
        # Reload while the old writer holds points in memory (it always does, except just
        # after a cut): they are the ones the reload must not strand.
        wait_until(lambda: _status(settings)["daemon"]["outputs"][0]["queued_points"] >= 4, timeout_s=10,
                   interval_s=0.05, what="points in the old writer's memory")
        settings.write_text(_settings_text(proxy.url, 1000))
        process.popen.send_signal(signal.SIGHUP)
        listener.wait_for("READY=1", after=listener.wait_for("RELOADING=1", after=ready + 1))
        assert _status(settings)["daemon"]["outputs"][0]["spooled_points"] > 0
        time.sleep(10)
        proxy.start()  # restored on the same port
        wait_until(lambda: _status(settings)["daemon"]["outputs"][0]["healthy"], timeout_s=20,
                   what="the output healthy again")
        time.sleep(6)  # replay, and a probe round written straight after it
        arrived = len(proxy.snapshot())
        during = _status(settings)["daemon"]["outputs"][0]
        assert process.stop(signal.SIGTERM, timeout_s=20) == 0, process.log()
    finally:
        listener.close()
        proxy.close()

    log = process.log()
    arrivals = [a for a in proxy.snapshot() if a.key.startswith("icmp,")]
    received = [(tag(a.key, "device"), a.time_ns) for a in arrivals]
    expected = reference_samples(workdir / "state")
    assert len(expected) >= 20 * 6  # probing went on through outage and reload
    missing = expected - set(received)
    assert not missing, f"{len(missing)} of {len(expected)} samples never reached the server"
    assert duplicates(arrivals) == 0
    assert order_inversions(arrivals) == 0
    assert during["spooled_points"] == 0 and spool_rows(workdir / "state") == 0
    # Counters go on across the reload (the new writer continues the old one's).
    assert during["written_points"] >= arrived and during["dropped_points"] == 0
    assert "reload: outputs reconfigured" in log
    assert "Traceback" not in log


def test_reload_to_outputs_that_cannot_start_restarts_the_previous_ones(workdir, victoria_metrics):
    """The new set fails half-way (its second spool cannot be opened): the spool file the
    first one had already opened is given back, so the previous outputs restart on it."""
    settings = workdir / "netvigil.yaml"
    (workdir / "inventory.yaml").write_text(INVENTORY + _devices(3, prefix="fallback", net=48))
    settings.write_text(_settings_text(victoria_metrics.url, 5000).replace("interval_s: 5", "interval_s: 1")
                        .replace("flush_interval_s: 4", "flush_interval_s: 0.2"))
    process, listener = _start(workdir, settings)
    try:
        ready = listener.wait_for("READY=1")
        (workdir / "state" / "spool" / "influxdb_v1.db").mkdir(parents=True)  # not a file: cannot be opened
        settings.write_text(settings.read_text().replace(
            "  embedded:", f"  influxdb_v1: {{url: '{victoria_metrics.url}', database: x}}\n  embedded:"))
        process.popen.send_signal(signal.SIGHUP)
        listener.wait_for("READY=1", after=listener.wait_for("RELOADING=1", after=ready + 1))
        reloaded_at_ms = time.time() * 1000
        outputs = _status(settings)["daemon"]["outputs"]
        assert [o["name"] for o in outputs] == ["influxdb", "embedded"]
        # Written after the reload: the previous output runs again.
        rows = victoria_metrics.export('icmp_up{device=~"fallback-.*"}', until=lambda rows: any(
            t > reloaded_at_ms for r in rows for t in r["timestamps"]), timeout_s=20)
        assert any(t > reloaded_at_ms for r in rows for t in r["timestamps"])
        assert process.stop(signal.SIGTERM, timeout_s=20) == 0, process.log()
    finally:
        listener.close()
    log = process.log()
    assert "new outputs failed to start" in log and "restarting the previous ones" in log
    assert "failed to restart too" not in log and "Traceback" not in log

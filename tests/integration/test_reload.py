"""Reloads under way never cost a device a run: the real daemon, 500 loopback devices probed every
5 s into the embedded store, SIGHUPs 3 s apart (each adding or removing a device) and a burst of
50 SIGHUPs in one second."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections import defaultdict

import pytest

from tests.integration.test_daemon import INVENTORY, _start, _status, workdir  # noqa: F401 - fixture
from lab.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]

INTERVAL_S = 5


def _inventory(n: int, extra: bool) -> str:
    lines = [f"  - {{name: r{i}, address: 127.50.{i // 250}.{i % 250 + 1}, class: switch, site: room}}\n"
             for i in range(n)]
    if extra:
        lines.append("  - {name: extra, address: 127.50.9.9, class: switch, site: room}\n")
    return INVENTORY + "".join(lines)


def _pause(listener, seconds: float) -> None:
    """Sleep while reading the notify socket, as systemd would (a full queue used to block the daemon)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listener.collect()


def _icmp_times(db) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    with sqlite3.connect(db) as conn:
        for device, time_ns in conn.execute(
                "SELECT s.device, p.time_ns FROM point p JOIN series s ON s.id = p.series_id "
                "WHERE s.measurement = 'icmp' ORDER BY s.device, p.time_ns"):
            times[device].append(time_ns / 1e9)
    return times


def test_reloads_and_a_burst_of_sighups_cost_no_device_a_run(workdir):  # noqa: F811 - fixture
    devices = 500
    (workdir / "inventory.yaml").write_text(_inventory(devices, extra=False))
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\n"
        f"probes:\n  icmp: {{interval_s: {INTERVAL_S}, count: 1, timeout_s: 0.5}}\n"
        "scheduler: {slot_s: 0.5}\napi: {enabled: false}\n")
    process, listener = _start(workdir, settings)
    try:
        listener.wait_for("READY=1")
        wait_until(lambda: _status(settings)["daemon"]["up"] == devices, timeout_s=30, what="every device up")
        watch_from = time.time()
        for round_number in range(8):  # a sysadmin editing and reloading, every 3 s
            (workdir / "inventory.yaml").write_text(_inventory(devices, extra=round_number % 2 == 0))
            process.popen.send_signal(signal.SIGHUP)
            _pause(listener, 3)
        reloads_before_burst = _status(settings)["daemon"]["reloads"]
        for _ in range(50):  # a script signalling in a loop
            process.popen.send_signal(signal.SIGHUP)
            time.sleep(0.02)  # 50 signals within about a second
        _pause(listener, 2 * INTERVAL_S + 2)
        reloads_after_burst = _status(settings)["daemon"]["reloads"]
        watch_until = time.time()
    finally:
        assert process.stop() == 0, process.log()[-4000:]
        listener.close()
    times = _icmp_times(workdir / "state" / "metrics.db")
    gaps = {}
    for i in range(devices):
        seen = [t for t in times[f"r{i}"] if t >= watch_from - INTERVAL_S]
        # Runs every 5 s: a gap of 7.5 s or more is a run that never happened.
        worst = max(b - a for a, b in zip([watch_from - INTERVAL_S] + seen, seen + [watch_until]))
        if worst >= 1.5 * INTERVAL_S:
            gaps[f"r{i}"] = round(worst, 1)
    assert gaps == {}, f"{len(gaps)} devices missed a run: {dict(list(gaps.items())[:10])}"
    assert reloads_before_burst == 8
    assert 1 <= reloads_after_burst - reloads_before_burst <= 3  # the burst coalesced
    assert "Traceback" not in process.log()

"""How bench/daemon_10k.py reads a daemon of several processes: self-metrics of each worker,
device samples from any of them, CPU of the whole process tree."""

import os
import signal
import subprocess
import sys
import time

import pytest

from bench import daemon_10k

T0, T1 = 1_000.0, 1_180.0  # the window, seconds


def _series(name, tags, points):
    return {"metric": {"__name__": name, **tags}, "timestamps": [int(t * 1000) for t, _ in points],
            "values": [v for _, v in points]}


class _FakeVM:
    def __init__(self, rows):
        self.rows = rows

    def export(self, match, timeout_s=10.0):
        name = match.split('"')[1]
        return [row for row in self.rows if row["metric"]["__name__"] == name]


def test_figures_from_two_workers():
    rows = [
        # d0 timed out, then answered: ok. d1 answered, then timed out: not ok. d2 moved to the
        # other worker half way (another series): its newest point counts.
        _series("snmp_error_code", {"device": "d0", "worker": "1"}, [(990, 0), (1010, 1), (1070, 0)]),
        _series("snmp_error_code", {"device": "d1", "worker": "1"}, [(1010, 0), (1070, 1)]),
        _series("snmp_error_code", {"device": "d2", "worker": "1"}, [(1010, 1)]),
        _series("snmp_error_code", {"device": "d2", "worker": "2"}, [(1070, 0), (1190, 1)]),  # 1190: after the window
        _series("icmp_result_code", {"device": "d0"}, [(1005, 0)]),
        _series("icmp_result_code", {"device": "d1"}, [(1005, 1)]),
        _series("icmp_sent", {"device": "d0"}, [(1005, 20)]),
        _series("icmp_sent", {"device": "d1"}, [(1005, 20), (900, 20)]),
        _series("icmp_received", {"device": "d0"}, [(1005, 18)]),
        _series("icmp_received", {"device": "d1"}, [(1005, 0)]),
        _series("netvigil_scheduler_skipped_total", {"kind": "snmp", "worker": "1"}, [(1000, 2), (1100, 3)]),
        _series("netvigil_scheduler_skipped_total", {"kind": "snmp", "worker": "2"}, [(1000, 0), (1100, 4)]),
        _series("netvigil_scheduler_lag_max_ms", {"kind": "snmp", "worker": "1"}, [(990, 9000), (1100, 1200)]),
        _series("netvigil_scheduler_lag_max_ms", {"kind": "snmp", "worker": "2"}, [(1100, 2500)]),
    ]
    figures = daemon_10k.read_figures(_FakeVM(rows), 3, T0, T1, icmp=True)
    assert figures["snmp_polls"] == 6  # 990 and 1190 are outside the window
    assert figures["snmp_ok"] == 1  # d0; d2's newest is the timeout at 1190
    assert figures["snmp_timeouts"] == 3
    assert figures["icmp_runs"] == 2 and figures["icmp_ok"] == 1
    assert figures["echoes_lost"] == 22
    assert figures["runs_skipped"] == 7  # the sum of each worker's counter
    assert figures["lag_max_s"] == 2.5  # the max over workers within the window (9 s was before it)
    assert figures["self_metric_series"] == 2


def test_table_side_by_side_with_ratio():
    def run(workers, cpu):
        return daemon_10k.Run(workers, {"daemon_cpu_pct": cpu, "snmp_ok": 10}, [{"cpu_pct": 5.0, "udp_in": 10,
                                                                                  "udp_drops": 0}])

    text = daemon_10k.render([run(1, 90.0), run(2, 60.0), run(1, 100.0), run(2, 40.0)])
    assert "| per run" in text and "workers=1, run 2" in text and "workers=2, run 2" in text
    assert "workers=2 / workers=1 (median)" in text
    row = next(line for line in text.splitlines() if line.startswith("| daemon CPU") and "/" in line)
    assert "90.0 / 95.0 / 100.0" in row and "40.0 / 50.0 / 60.0" in row and row.rstrip(" |").endswith("0.53")
    assert "run 4 (workers=2): agent 0: 5.0 % CPU, 10 datagrams in, 0 dropped" in text


def test_cpu_of_the_whole_process_tree():
    code = "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); " \
           "print(c.pid, flush=True); time.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        time.sleep(0.2)
        cpu = daemon_10k.tree_cpu(parent.pid)
        assert set(cpu) == {parent.pid, child}
        assert daemon_10k.tree_rss_mb(parent.pid) > 1
    finally:
        os.kill(child, signal.SIGTERM)
        parent.kill()
        parent.wait()


def test_fleet_addresses_and_shares(tmp_path):
    fleet = daemon_10k.Fleet(tmp_path, 10_000, 3)
    assert [fleet.address(i) for i in (0, 249, 250, 9_999)] == ["10.234.0.1", "10.234.0.250", "10.234.1.1",
                                                                  "10.234.39.250"]
    assert [len(blocks) for blocks in fleet.blocks] == [14, 13, 13]  # 40 /24s, contiguous, no block twice
    assert sorted(b for blocks in fleet.blocks for b in blocks) == list(range(40))
    assert str(fleet.transit) == "10.234.64.0"  # the veth /30s: after the devices' /18
    assert daemon_10k.Fleet(tmp_path, 300, 5).agents == 2  # never more agents than /24s
    small = daemon_10k.Fleet(tmp_path, 50, 1, net="10.237.0.0/22", tag="t1")
    assert small.address(49) == "10.237.0.50" and small.namespace(0) == "nvbt10"
    with pytest.raises(ValueError, match="20000 devices need 80 /24s at 250 a block; 10.234.0.0/18 has 64"):
        daemon_10k.Fleet(tmp_path, 20_000, 2)

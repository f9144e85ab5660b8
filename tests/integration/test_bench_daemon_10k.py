"""The 10,000-device benchmark's harness end to end on a small fleet, so it cannot rot: the
daemon, two snmpd agents in network namespaces, VictoriaMetrics, the figures read back."""

import json
import os

import pytest

from bench import daemon_10k
from lab.support import require_root


@pytest.mark.serial  # 20 s measured on a 10 s schedule: a starved daemon would miss polls in the window
def test_smoke_run_reads_sane_figures(tmp_path, capsys):
    require_root()
    out = tmp_path / "figures.json"
    # A network and names of this test's own, so a benchmark running beside it does not meet it.
    code = daemon_10k.main(["--smoke", "--devices", "300", "--agents", "2", "--net", "10.237.0.0/22",
                            "--tag", f"t{os.getpid() % 10000}", "--json", str(out)])
    printed = capsys.readouterr().out
    [run] = json.loads(out.read_text())
    assert code == 0, printed
    assert run["workers"] is None and run["devices"] == 300
    assert run["snmp_ok"] == 300 and run["icmp_ok"] == 300
    assert run["runs_skipped"] == 0
    # 300 devices every 10 s over 20 s: about 600 of each; at least every device once.
    assert 300 <= run["snmp_polls"] <= 1000 and 300 <= run["icmp_runs"] <= 1000
    assert run["echoes_per_s"] > 0 and run["daemon_cpu_pct"] > 0 and run["processes"] >= 1
    assert 0 <= run["lag_max_s"] < 5 and run["self_metric_series"] >= 2
    assert run["daemon_exit"] == 0
    # 300 devices are two /24 blocks: one to each agent, and each answered its share.
    assert len(run["agents"]) == 2 and all(agent["udp_in"] > 0 for agent in run["agents"])
    assert "devices whose last SNMP poll was ok       | 300 |" in printed
    assert "targets (workers default: every device's last poll ok, 0 runs skipped, lag < 5 s, in every run): met" \
        in printed

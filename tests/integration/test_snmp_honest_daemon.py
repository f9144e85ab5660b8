"""Honest SNMP status in the running daemon and on the command line: a device whose profiles
find nothing shows `no data` (with the profiles) in `status`, from the daemon and from the
embedded store, in English and in Chinese; `probe --kind snmp` says so; the shipped rules open
their warnings after the polls they wait for and clear when data comes back. The agents are
snmpsim replaying the recordings of a real APC UPS card and of a Hikvision camera whose agent
has no system group (tests/fixtures/snmprec/SOURCES.md)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_daemon import NETVIGIL, _start, _status, workdir  # noqa: F401 - fixture
from lab.netlab import loopback_addresses
from lab.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]

UPS_RECORDING, CAM_RECORDING = "apc_surt3000xl", "hikvision-cam"


def _write(workdir: Path, sim, skip_apc: bool = True) -> Path:
    ups, cam = sim.addresses
    port = sim.port
    # The APC card speaks PowerNet-MIB: with `apc_ups` skipped, a device of class ups has only
    # the `ups` profile (UPS-MIB), which finds nothing there: no data.
    skip = ", skip_profiles: [apc_ups]" if skip_apc else ""
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "devices:\n"
        f"  - {{name: ups-1, address: {ups}, class: ups, site: room, snmp: {{credential: ups, port: {port}{skip}}}}}\n"
        f"  - {{name: cam-1, address: {cam}, class: camera, site: room, snmp: {{credential: cam, port: {port}}}}}\n")
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\n"
        "probes:\n"
        "  icmp: {interval_s: 5, count: 1, timeout_s: 0.5}\n"
        "  snmp:\n"
        "    credential: ups\n    interval_s: 5\n    timeout_s: 1\n    retries: 1\n"
        "    credentials:\n"
        "      ups: {version: v2c}\n"          # communities: from the environment (ENV)
        "      cam: {version: v2c}\n"
        "scheduler: {slot_s: 0.5}\n"
        "rules: {dirs: []}\n"
        "faults: {heightened_watch: {periods: []}}\n"
        "api: {enabled: false}\n")
    return settings


ENV = {"NETVIGIL_PROBES__SNMP__CREDENTIALS__UPS__COMMUNITY": UPS_RECORDING,
       "NETVIGIL_PROBES__SNMP__CREDENTIALS__CAM__COMMUNITY": CAM_RECORDING}


def _netvigil(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([NETVIGIL, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **ENV, **env})


def _faults(settings: Path) -> dict:
    result = _netvigil("faults", "--json", "-c", str(settings))
    if result.returncode != 0:  # no records yet
        return {}
    return {(f["device"], f["rule"]): f for f in json.loads(result.stdout)["faults"]}


def _snmp_polls_until(metrics_db: Path, device: str, until_unix: float) -> int:
    with sqlite3.connect(f"file:{metrics_db}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM point p JOIN series s ON s.id = p.series_id "
                          "WHERE s.device = ? AND s.measurement = 'snmp' AND p.time_ns <= ?",
                          (device, int(until_unix * 1e9) + 1_000_000)).fetchone()[0]  # float seconds: +1 ms


def test_no_data_and_no_system_group_show_in_status_open_warnings_and_clear(workdir, snmpsim_factory):
    sim = snmpsim_factory(recordings=[UPS_RECORDING, CAM_RECORDING], addresses=loopback_addresses(2))
    settings = _write(workdir, sim)
    metrics_db = workdir / "state" / "metrics.db"

    # `probe` says so before any daemon runs.
    probed = _netvigil("probe", "ups-1", "--kind", "snmp", "-c", str(settings))
    assert probed.returncode == 1, probed.stdout + probed.stderr
    lines = probed.stdout.splitlines()
    assert "  profiles: system, ups" in lines and "  found nothing on this agent: ups" in lines
    assert ("  error: SNMP: no data: the agent answered, but the profiles ups found nothing on it "
            "(sysObjectID 1.3.6.1.4.1.318.1.3.2.17)") in probed.stdout
    as_json = json.loads(_netvigil("probe", "ups-1", "--kind", "snmp", "--json", "-c", str(settings)).stdout)
    assert as_json["empty_profiles"] == ["ups"]
    assert as_json["samples"][-1]["fields"]["error_code"] == 14

    process, listener = _start(workdir, settings, **ENV)
    try:
        listener.wait_for("READY=1")

        def rows() -> dict:
            return {row["device"]: row for row in _status(settings)["devices"]}

        try:
            wait_until(lambda: (rows()["ups-1"]["snmp"], rows()["cam-1"]["snmp"]) == ("no_data", "no_system_group"),
                       timeout_s=30, what="no data and no system group in status")
        except AssertionError:
            raise AssertionError(f"{rows()}\n{process.log()}") from None
        row = rows()["ups-1"]
        assert row["state"] == "up" and row["snmp_empty"] == ["ups"]
        assert row["snmp_error"].startswith("SNMP: no data: the agent answered, but the profiles ups found nothing")
        table = _netvigil("status", "-c", str(settings)).stdout
        line = next(line for line in table.splitlines() if line.startswith("ups-1 "))
        assert "no data" in line and " ok " not in line
        assert "no system group" in next(line for line in table.splitlines() if line.startswith("cam-1 "))
        assert "  ups-1: SNMP: no data: the agent answered, but the profiles ups found nothing" in table

        # The warnings: snmp_no_system_group after 2 polls, snmp_no_data after 3.
        wait_until(lambda: {("ups-1", "snmp_no_data"), ("cam-1", "snmp_no_system_group")} <= set(_faults(settings)),
                   timeout_s=40, what="the two warnings")
        faults = _faults(settings)
        no_data, no_system = faults[("ups-1", "snmp_no_data")], faults[("cam-1", "snmp_no_system_group")]
        assert (no_data["severity"], no_data["state"]) == ("warning", "open")
        assert no_data["message"].startswith("ups-1 at room: SNMP answers, but the profiles ups found nothing for ")
        assert (no_system["severity"], no_system["state"]) == ("warning", "open")
        assert "Traceback" not in process.log()
    finally:
        code = process.stop()
        listener.close()
    assert code == 0, process.log()
    # Not on the first poll: after three (two) polls that said so, all in the store by now.
    assert _snmp_polls_until(metrics_db, "ups-1", no_data["opened_at_unix"]) >= 3
    assert _snmp_polls_until(metrics_db, "cam-1", no_system["opened_at_unix"]) >= 2

    # The stopped daemon's last picture, from the embedded store, in Chinese too.
    stored = _netvigil("status", "-c", str(settings)).stdout
    assert "  ups-1: SNMP: no data: the agent answered, but the profiles ups found nothing on it" in stored
    assert "no data" in next(line for line in stored.splitlines() if line.startswith("ups-1 "))
    chinese = _netvigil("status", "-c", str(settings), LANG="zh_CN.UTF-8", LC_ALL="zh_CN.UTF-8").stdout
    assert "无数据" in next(line for line in chinese.splitlines() if line.startswith("ups-1 "))
    assert "无系统组" in next(line for line in chinese.splitlines() if line.startswith("cam-1 "))
    assert "  ups-1: SNMP：无数据：代理有应答，但采集模板 ups 在其上未采到任何数据" in chinese

    # The device gets the profile that fits: data comes back and the warning clears by itself.
    settings = _write(workdir, sim, skip_apc=False)
    (workdir / "notify.sock").unlink()  # the first run's listener socket
    process, listener = _start(workdir, settings, **ENV)
    try:
        listener.wait_for("READY=1")
        wait_until(lambda: _faults(settings)[("ups-1", "snmp_no_data")]["state"] == "resolved", timeout_s=40,
                   what="snmp_no_data to clear")
        assert _faults(settings)[("ups-1", "snmp_no_data")]["resolved_by"] == "auto"
        row = {row["device"]: row for row in _status(settings)["devices"]}["ups-1"]
        assert row["snmp"] == "ok" and row["snmp_empty"] == ["ups"]  # `ups` still finds nothing: only counted
        assert row["health"]["charge_pct"] == 100                    # the APC card's own readings
        assert _faults(settings)[("cam-1", "snmp_no_system_group")]["state"] == "open"
    finally:
        code = process.stop()
        listener.close()
    assert code == 0, process.log()

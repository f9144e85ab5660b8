"""The README's quick start, run the way a user runs it: `bash scripts/demo.sh`, here with
`--once` (show the status and stop). It sets up .venv with snmpsim, replays the recordings of a
UPS, two switches, a machine-room sensor and an NVR on loopback addresses, runs the daemon, and
must show their SNMP health in `status`, the one open fault (a UPS card nothing answers on,
rule snmp_not_answering), where Grafana goes, and leave no process behind; and, run into a real
influxd 1.x as its Grafana lines say, write there what the dashboards read. About 30 s each
here, most of it the two SNMP polls the fault rule waits for."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from lab.servers import INFLUXD_ADMIN
from lab.support import REPO, wait_until

pytestmark = pytest.mark.integration

CONFIG = "config/demo/netvigil.yaml"

# What the recordings say (config/demo/snmprec/README.md), as status words it.
HEALTH = {
    "ups-room-01": "on mains, battery normal, charge 100 %, runtime 452 min, load 6 %, CPU 17 %",  # its card's CPU
    "env-room-01": "temperature 23.6-31.1 °C, humidity 20.6-30.3 %RH, 6 inputs, none in alarm",
    "core-sw-01": "temperature 22-58 °C, CPU 21 %, memory 20 %",
    "east-sw-01": "ports 14 up of 52",
    "community-a-nvr": "memory 5 %, disks 1, fullest 28.8 %",
}


def _in_session(sid: int) -> list[str]:
    """Processes of session `sid` (the demo's: started with a session of its own)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
        if int(fields[3]) == sid:
            found.append(f"{entry} {stat.split('(', 1)[1].rsplit(')', 1)[0]}")
    return found


def _netvigil(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / ".venv" / "bin" / "netvigil"), *args, "-c", CONFIG], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def _run_demo(tmp_path, once: bool = True, **settings) -> tuple[str, dict]:
    """`bash scripts/demo.sh --once`, or without --once stopped by SIGINT (Ctrl-C) once it
    says it is running, with its own state directory and `settings` as NETVIGIL_ variables;
    its output, once it ended having left no process behind; and the environment for further
    commands."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NETVIGIL_")}
    env["NETVIGIL_STATE_DIR"] = str(tmp_path / "state")  # not the user's .demo-state/
    env.update({f"NETVIGIL_{key}": value for key, value in settings.items()})
    started = time.monotonic()
    errors = open(tmp_path / "demo.stderr", "w+")
    # SIGINT as a terminal gives it: a runner started in the background by a non-interactive
    # shell (as CI runners and `cmd &` do) ignores SIGINT, its children inherit that, and bash
    # cannot trap a signal ignored at its start, so the Ctrl-C below would go unheard.
    demo = subprocess.Popen(["bash", "scripts/demo.sh", *(["--once"] if once else [])], cwd=REPO, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=errors, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = []
    try:
        if not once:
            deadline = time.monotonic() + 180
            for line in demo.stdout:
                out.append(line)
                if "Stop the demo: Ctrl-C" in line or time.monotonic() > deadline:  # its last words
                    break
            demo.send_signal(signal.SIGINT)  # Ctrl-C: the script's trap stops the rest by their pids
        out.append(demo.communicate(timeout=180)[0])
    except subprocess.TimeoutExpired:
        demo.terminate()
        out.append(demo.communicate(timeout=30)[0])
        pytest.fail(f"the demo did not finish within 180 s:\n{''.join(out)}\n{errors.read()}")
    finally:
        errors.close()
    out = "".join(out)
    print(f"demo: {time.monotonic() - started:.1f} s")
    assert demo.returncode == 0, f"exit {demo.returncode}\n{out}\n{(tmp_path / 'demo.stderr').read_text()}"
    # Nothing left running: not the daemon, snmpsim, nor the tee of the daemon's log.
    wait_until(lambda: not _in_session(demo.pid), timeout_s=5, what="the demo's processes to end")
    for address in ("127.0.10.1", "127.0.10.4", "127.0.21.20"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 16161))  # snmpsim's port is free again
    return out, env


def test_quick_start_demo_shows_snmp_health_one_fault_and_grafana_then_stops_everything(tmp_path):
    out, env = _run_demo(tmp_path)
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("netvigil pid "))
    assert "14 devices, 14 up, 0 down, 0 pending, faults open: 1" in header, header
    health_at = lines.index("SNMP health (newest poll)")
    health = {line.split()[0]: line.split(None, 1)[1].strip() for line in lines[health_at + 1:]
              if line.startswith("  ") and line.split()[0] in HEALTH}
    assert health == HEALTH, out
    faults_at = next(i for i, line in enumerate(lines) if line.startswith("Open faults"))
    rows = [line.split() for line in lines[faults_at + 2:] if line and line.split()[0].isdigit()]
    assert [row[1:5] for row in rows] == [["OPEN", "minor", "stats-ups-01", "snmp_not_answering"]], out
    stats_ups = next(line for line in lines if line.startswith("stats-ups-01 "))
    assert " timeout " in stats_ups
    assert "docs/grafana.md" in out and "NETVIGIL_OUTPUTS__INFLUXDB_V1__URL=" in out

    # The fault is in the records for `netvigil faults`, and status still has the SNMP figures
    # from the embedded store with the daemon gone.
    faults = _netvigil(env, "faults", "--open", "--json")
    assert faults.returncode == 0, faults.stderr
    records = json.loads(faults.stdout)["faults"]
    assert [(f["device"], f["rule"], f["state"]) for f in records] == [("stats-ups-01", "snmp_not_answering", "open")]
    status = _netvigil(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    answer = json.loads(status.stdout)
    assert answer["source"] == "embedded store"
    rows = {row["device"]: row for row in answer["devices"]}
    assert rows["ups-room-01"]["health"]["runtime_min"] == 452
    assert rows["env-room-01"]["health"]["temperature_c"] == [23.6, 31.1]
    assert rows["east-sw-01"]["health"] == {"ports": 52, "ports_up": 14}
    assert rows["community-a-nvr"]["health"]["disk_used_pct"] == 28.8
    assert rows["stats-ups-01"]["snmp"] == "timeout" and rows["stats-ups-01"]["health"] is None


def test_the_demo_left_running_feeds_an_influxdb_as_its_grafana_lines_say_and_stops_on_ctrl_c(tmp_path, influxd):
    # What the demo prints for Grafana, with this test's influxd (auth on) for 127.0.0.1:8086;
    # run as the quick start runs it, until Ctrl-C.
    influxd.create_database("netvigil_demo")
    user, password = INFLUXD_ADMIN
    out, _ = _run_demo(tmp_path, once=False, OUTPUTS__INFLUXDB_V1__URL=influxd.url, OUTPUTS__INFLUXDB_V1__DATABASE="netvigil_demo",
                       OUTPUTS__INFLUXDB_V1__USERNAME=user, OUTPUTS__INFLUXDB_V1__PASSWORD=password,
                       OUTPUTS__EMBEDDED__ENABLED="true")
    assert "NETVIGIL_OUTPUTS__EMBEDDED__ENABLED=true bash scripts/demo.sh" in out
    assert "netvigil is running" in out and "Ctrl-C" in out

    def one(query: str) -> dict:
        rows = influxd.query(query, "netvigil_demo")
        assert len(rows) == 1, (query, rows)
        return rows[0]

    # The daemon flushes its outputs when it stops, so everything the status showed is there.
    assert one("SELECT last(runtime_remaining_min) FROM ups WHERE device = 'ups-room-01'")["last"] == 452
    assert one("SELECT max(value) FROM env_sensor WHERE device = 'env-room-01' AND unit = 'C'")["max"] == 31.1
    assert one("SELECT last(used_pct) FROM nvr_disk WHERE device = 'community-a-nvr'")["last"] == pytest.approx(28.82, abs=0.01)
    assert one("SELECT max(cpu_pct) FROM h3c_entity WHERE device = 'core-sw-01'")["max"] == 21
    ports = influxd.query("SELECT last(oper_status) FROM snmp_if WHERE device = 'east-sw-01' GROUP BY \"index\"",
                          "netvigil_demo")
    assert len(ports) == 52 and sum(1 for row in ports if row["last"] == 1) == 14
    fault = one("SELECT last(\"open\") FROM fault WHERE rule = 'snmp_not_answering' GROUP BY device")
    assert fault["device"] == "stats-ups-01" and fault["last"] == 1
    assert one("SELECT count(up) FROM icmp WHERE device = 'mcu-01'")["count"] >= 1

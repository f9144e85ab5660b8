"""The daemon as systemd runs it: notify protocol on a real unix datagram socket, SIGHUP with
valid and invalid changes, SIGTERM flushing to a real VictoriaMetrics, status from the
control socket and from the embedded store."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lab.support import VENV_BIN, Process, require_root, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")


def _devices(n: int, prefix: str = "dev", net: int = 40) -> str:
    return "".join(f"  - {{name: {prefix}-{i}, address: 127.0.{net}.{i + 1}, class: switch, site: room}}\n"
                   for i in range(n))


INVENTORY = "sites:\n  - {name: room, level: room}\ndevices:\n"


@pytest.fixture
def workdir():
    # Short path: a unix socket path must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="nvd"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _write_config(workdir: Path, devices: str, outputs: str = "", interval_s: int = 2) -> Path:
    (workdir / "inventory.yaml").write_text(INVENTORY + devices)
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\n"
        "state_dir: state\n"
        "probes:\n  icmp: {interval_s: %d, count: 2, echo_interval_ms: 50, timeout_s: 0.5}\n"
        "scheduler: {slot_s: 0.5}\n%s" % (interval_s, outputs))
    return settings


class NotifyListener:
    """What systemd would see: a unix datagram socket passed as NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def collect(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def wait_for(self, text: str, after: int = 0, timeout_s: float = 60.0) -> int:
        """Index of the first message containing `text` at or after message `after`. The wait is
        for the message, not a bound on how soon it comes: a daemon starting beside other tests
        busy on the same CPUs took more than 15 s to import and say READY=1."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for index, message in enumerate(self.collect()[after:], start=after):
                if text in message.splitlines():
                    return index
        raise AssertionError(f"no {text!r} after message {after}; got {self.messages!r}")

    def close(self) -> None:
        self.sock.close()


def _start(workdir: Path, settings: Path, **env) -> tuple[Process, NotifyListener]:
    require_root()
    listener = NotifyListener(workdir / "notify.sock")
    environ = {**os.environ, "NOTIFY_SOCKET": str(listener.path), **env}
    environ.pop("JOURNAL_STREAM", None)
    process = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=environ)
    return process, listener


def _status(settings: Path) -> dict:
    result = subprocess.run([NETVIGIL, "status", "-c", str(settings), "--json"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_notify_ready_watchdog_and_status(workdir):
    settings = _write_config(workdir, _devices(3))
    process, listener = _start(workdir, settings, WATCHDOG_USEC="1000000", WATCHDOG_PID="")
    try:
        ready = listener.wait_for("READY=1")
        assert any(line.startswith("STATUS=3 devices") for line in listener.messages[ready].splitlines())
        first = listener.wait_for("WATCHDOG=1", after=ready)
        listener.wait_for("WATCHDOG=1", after=first + 1)  # keeps coming from the event loop
        wait_until(lambda: _status(settings)["daemon"]["up"] == 3, timeout_s=15, what="3 devices up")
        answer = _status(settings)
        assert answer["source"] == "daemon"
        assert {row["device"] for row in answer["devices"]} == {"dev-0", "dev-1", "dev-2"}
        assert all(row["rtt_avg_ms"] is not None for row in answer["devices"])
    finally:
        code = process.stop()
        listener.collect()
        listener.close()
    assert code == 0, process.log()
    assert any("STOPPING=1" in m for m in listener.messages)


def test_sighup_applies_a_valid_change_and_keeps_state(workdir):
    settings = _write_config(workdir, _devices(2))
    process, listener = _start(workdir, settings)
    try:
        ready = listener.wait_for("READY=1")
        wait_until(lambda: _status(settings)["daemon"]["up"] == 2, timeout_s=15, what="2 devices up")
        (workdir / "inventory.yaml").write_text(INVENTORY + _devices(2) + _devices(1, prefix="added", net=41))
        process.popen.send_signal(signal.SIGHUP)
        reloading = listener.wait_for("RELOADING=1", after=ready + 1)
        listener.wait_for("READY=1", after=reloading)
        answer = _status(settings)
        rows = {row["device"]: row for row in answer["devices"]}
        assert set(rows) == {"dev-0", "dev-1", "added-0"}
        assert rows["dev-0"]["state"] == "up"  # state survived the reload
        assert answer["daemon"]["reloads"] == 1
        wait_until(lambda: _status(settings)["daemon"]["up"] == 3, timeout_s=15, what="added device probed")
    finally:
        assert process.stop() == 0
        listener.close()
    assert "reloaded" in process.log()


def test_sighup_with_an_invalid_change_keeps_the_old_configuration(workdir):
    settings = _write_config(workdir, _devices(2))
    process, listener = _start(workdir, settings)
    try:
        ready = listener.wait_for("READY=1")
        (workdir / "inventory.yaml").write_text(
            INVENTORY + _devices(2) + "  - {name: bad, address: 127.0.42.1, class: swtich, site: room}\n")
        process.popen.send_signal(signal.SIGHUP)
        listener.wait_for("READY=1", after=ready + 1)
        wait_until(lambda: "reload rejected" in process.log(), timeout_s=10, what="rejection logged")
        log = process.log()
        assert "inventory.yaml:6: devices[2].class: unknown class 'swtich'" in log
        assert "Traceback" not in log
        assert process.alive()
        assert {row["device"] for row in _status(settings)["devices"]} == {"dev-0", "dev-1"}
    finally:
        assert process.stop() == 0
        listener.close()


def _sigterm_once_all_up(workdir: Path, settings: Path, devices: int) -> tuple[Process, int, float]:
    """Start the daemon, wait until every device was probed up, SIGTERM it: (process, exit code, seconds)."""
    process, listener = _start(workdir, settings)
    try:
        listener.wait_for("READY=1")
        wait_until(lambda: _status(settings)["daemon"]["up"] == devices, timeout_s=15, what="all devices up")
        started = time.monotonic()
        code = process.stop(signal.SIGTERM, timeout_s=15)
        return process, code, time.monotonic() - started
    finally:
        listener.close()


def test_sigterm_flushes_samples_to_influxdb_v2(workdir, victoria_metrics):
    # flush_interval_s is 30: nothing is written before SIGTERM unless the stop flushes it.
    outputs = (f"outputs:\n  influxdb: {{url: '{victoria_metrics.url}', org: noc, bucket: health, "
               f"token: s3cret-token, flush_interval_s: 30}}\n")
    settings = _write_config(workdir, _devices(3), outputs=outputs)
    process, code, elapsed = _sigterm_once_all_up(workdir, settings, 3)
    assert code == 0, process.log()
    assert elapsed < 10, f"SIGTERM took {elapsed:.1f} s"
    series = victoria_metrics.export('icmp_up{device=~"dev-.*"}')
    assert {s["metric"]["device"] for s in series} == {"dev-0", "dev-1", "dev-2"}
    assert all(v == 1 for s in series for v in s["values"])
    assert "s3cret-token" not in process.log()


def test_sigterm_with_influxdb_down_spools_and_exits_in_time(workdir):
    dead_port = _unused_port()
    outputs = (f"outputs:\n  influxdb: {{url: 'http://127.0.0.1:{dead_port}', bucket: health, token: t0ken-value, "
               f"flush_interval_s: 0.2, timeout_s: 1}}\n")
    settings = _write_config(workdir, _devices(2), outputs=outputs)
    process, code, elapsed = _sigterm_once_all_up(workdir, settings, 2)
    assert code == 0, process.log()
    assert elapsed < 10
    spool = workdir / "state" / "spool" / "influxdb.db"
    assert spool.exists()
    log = process.log()
    assert "kept in the spool" in log
    assert "t0ken-value" not in log


def test_status_reads_the_embedded_store_when_the_daemon_is_stopped(workdir):
    settings = _write_config(workdir, _devices(2))
    process, listener = _start(workdir, settings)
    try:
        listener.wait_for("READY=1")
        wait_until(lambda: _status(settings)["daemon"]["up"] == 2, timeout_s=15, what="2 devices up")
    finally:
        assert process.stop() == 0
        listener.close()
    answer = _status(settings)
    assert answer["source"] == "embedded store"
    assert {(row["device"], row["state"]) for row in answer["devices"]} == {("dev-0", "up"), ("dev-1", "up")}
    table = subprocess.run([NETVIGIL, "status", "-c", str(settings)], capture_output=True, text=True, timeout=30)
    assert table.returncode == 0
    assert "daemon not running" in table.stdout and "dev-0" in table.stdout


def test_configuration_problems_stop_the_start_with_exit_2(workdir):
    settings = _write_config(workdir, "  - {name: x, address: 127.0.43.1, class: switch, site: nowhere}\n")
    result = subprocess.run([NETVIGIL, "run", "-c", str(settings)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "inventory.yaml:4: devices[0].site: unknown site 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_second_daemon_on_the_same_state_dir_refuses_to_start(workdir):
    settings = _write_config(workdir, _devices(1))
    process, listener = _start(workdir, settings)
    try:
        listener.wait_for("READY=1")
        second = subprocess.run([NETVIGIL, "run", "-c", str(settings)], capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert process.alive()
    finally:
        assert process.stop() == 0
        listener.close()


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_influxdb_outage_while_probing_loses_nothing_and_duplicates_nothing(workdir, private_victoria_metrics):
    """The real VictoriaMetrics is stopped while the daemon keeps probing, then started again:
    every sample the daemon produced (the embedded store keeps the reference copy) arrives
    exactly once."""
    import sqlite3

    vm = private_victoria_metrics
    outputs = (f"outputs:\n  influxdb: {{url: '{vm.url}', bucket: health, flush_interval_s: 0.2, timeout_s: 1}}\n"
               f"  embedded: {{enabled: true}}\n  spool: {{retry_initial_s: 0.2, retry_max_s: 0.5}}\n")
    settings = _write_config(workdir, _devices(3, net=44), outputs=outputs, interval_s=1)
    process, listener = _start(workdir, settings)
    try:
        listener.wait_for("READY=1")
        time.sleep(2.5)
        vm.stop()  # outage: the daemon keeps probing and spools
        time.sleep(3.0)
        vm.start()
        time.sleep(2.5)
        assert process.stop() == 0, process.log()
    finally:
        listener.close()
    reference = sqlite3.connect(workdir / "state" / "metrics.db")
    expected = {}
    for device, time_ns in reference.execute(
            "SELECT s.device, p.time_ns FROM point p JOIN series s ON s.id = p.series_id WHERE s.measurement = 'icmp'"):
        expected.setdefault(device, []).append(time_ns // 1_000_000)  # VictoriaMetrics keeps ms
    reference.close()
    assert set(expected) == {"dev-0", "dev-1", "dev-2"}
    assert all(len(stamps) >= 6 for stamps in expected.values())  # probing went on through the outage

    def complete(rows):
        got = {r["metric"]["device"]: r["timestamps"] for r in rows}
        return all(len(got.get(d, [])) >= len(s) for d, s in expected.items())

    rows = vm.export('icmp_up{device=~"dev-.*"}', until=complete, timeout_s=20)
    received = {r["metric"]["device"]: r["timestamps"] for r in rows}
    for device, stamps in expected.items():
        assert sorted(received[device]) == sorted(stamps), device  # each exactly once, none missing
    log = process.log()
    assert "output influxdb: write failed" in log  # the outage is visible to the operator
    assert "output influxdb: backlog replayed" in log or "replaying" in log


def test_sigterm_lets_a_probe_run_in_flight_finish_and_writes_its_samples(workdir, victoria_metrics):
    outputs = (f"outputs:\n  influxdb: {{url: '{victoria_metrics.url}', bucket: health, flush_interval_s: 30}}\n")
    settings = workdir / "netvigil.yaml"
    (workdir / "inventory.yaml").write_text(INVENTORY + _devices(1, prefix="inflight", net=45))
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\n"
                        "probes:\n  icmp: {interval_s: 6, count: 10, echo_interval_ms: 300, timeout_s: 0.5}\n"
                        + outputs)
    process, listener = _start(workdir, settings)
    try:
        listener.wait_for("READY=1")
        # Runs are in flight half the time; each `status` takes a while on a busy machine.
        wait_until(lambda: _status(settings)["daemon"]["scheduler"]["icmp"]["running"] == 1, timeout_s=30,
                   interval_s=0.05, what="a run in flight")
        assert process.stop(signal.SIGTERM, timeout_s=15) == 0, process.log()
    finally:
        listener.close()
    series = victoria_metrics.export('icmp_sent{device="inflight-0"}')
    assert [v for s in series for v in s["values"]] == [10]  # the whole run, not a cut one
    assert "Traceback" not in process.log()


def test_unusable_state_dir_is_a_sentence_not_a_traceback(workdir):
    settings = _write_config(workdir, _devices(1))
    (workdir / "state").write_text("a file where the state directory should be\n")
    result = subprocess.run([NETVIGIL, "run", "-c", str(settings)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot start: state_dir {workdir / 'state'}:" in result.stderr
    assert "must be a directory the daemon's user can write" in result.stderr


def test_sighup_changing_the_icmp_socket_keeps_runs_in_flight_intact(workdir):
    settings = _write_config(workdir, _devices(3, net=46))
    settings.write_text(settings.read_text().replace("state_dir: state\n", "state_dir: state\nlog_level: debug\n"))
    process, listener = _start(workdir, settings)
    try:
        ready = listener.wait_for("READY=1")
        wait_until(lambda: _status(settings)["daemon"]["up"] == 3, timeout_s=15, what="3 devices up")
        after = ready + 1
        for payload in (64, 56, 120):  # each reload replaces the pinger while runs may be in flight
            settings.write_text(re.sub(r"echo_interval_ms: 50(, payload_bytes: \d+)?",
                                       f"echo_interval_ms: 50, payload_bytes: {payload}", settings.read_text()))
            process.popen.send_signal(signal.SIGHUP)
            after = listener.wait_for("READY=1", after=listener.wait_for("RELOADING=1", after=after)) + 1
            time.sleep(0.7)
        answer = _status(settings)
        assert answer["daemon"]["reloads"] == 3
        assert answer["daemon"]["down"] == 0
    finally:
        assert process.stop() == 0
        listener.close()
    log = process.log()
    assert "could not be sent" not in log and "Bad file descriptor" not in log

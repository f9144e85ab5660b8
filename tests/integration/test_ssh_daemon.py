"""SSH in the daemon and on the command line: a Linux server behind a real sshd (key from the
credential directory) and a simulated Huawei VRP switch (password from the environment,
known_hosts), samples in the embedded store, `status` showing SSH and backup state,
`netvigil probe --kind ssh`, `netvigil config fetch|history|diff`, missing secrets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.integration.test_daemon import NETVIGIL, _start, _status, workdir  # noqa: F401 - fixture
from lab.sshsim import CliSim
from lab.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]

VRP_PASSWORD = "Admin@123"


class ThreadedSim:
    """A CliSim on its own event loop thread, so the daemon and CLI processes can reach it
    while the test blocks; the test may still change `sim.config` between fetches."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim: CliSim = asyncio.run_coroutine_threadsafe(CliSim().start(host="127.0.0.2"), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def threaded_sim():
    lab = ThreadedSim()
    yield lab.sim
    lab.stop()


def _write(workdir: Path, sshd, sim: CliSim, backup: bool = True) -> Path:
    (workdir / "known_hosts").write_text(sim.known_hosts_line() + "\n")
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "classes:\n"
        f"  switch: {{ssh: {{credential: vrp, profiles: [huawei_vrp], backup: {str(backup).lower()}}}}}\n"
        "devices:\n"
        f"  - {{name: srv-1, address: 127.0.0.1, class: server, site: room, icmp: {{enabled: false}},\n"
        f"      ssh: {{credential: srv, profiles: [linux], port: {sshd.port}, host_key_policy: tofu}}}}\n"
        f"  - {{name: sw-core-01, address: 127.0.0.2, class: switch, site: room, icmp: {{enabled: false}},\n"
        f"      ssh: {{port: {sim.port}}}}}\n")
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\n"
        "probes:\n"
        "  ssh:\n"
        "    interval_s: 30\n    session_timeout_s: 20\n"
        "    known_hosts: [known_hosts]\n"
        "    credentials:\n"
        f"      srv: {{username: {sshd.user}}}\n"   # private_key: from the credential directory
        "      vrp: {username: admin}\n"               # password: from the environment
        "scheduler: {slot_s: 0.5}\n")
    return settings


def _credentials(workdir: Path, sshd) -> dict:
    directory = workdir / "creds"
    directory.mkdir(exist_ok=True)
    (directory / "probes__ssh__credentials__srv__private_key").write_text(sshd.client_key_path.read_text())
    return {"CREDENTIALS_DIRECTORY": str(directory), "NETVIGIL_PROBES__SSH__CREDENTIALS__VRP__PASSWORD": VRP_PASSWORD}


def _netvigil(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([NETVIGIL, *args], capture_output=True, text=True, timeout=90,
                          env={**os.environ, **(env or {})})


def _rows(settings: Path) -> dict:
    return {row["device"]: row for row in _status(settings)["devices"]}


def test_the_daemon_runs_ssh_checks_and_backups(workdir, sshd, threaded_sim):
    settings = _write(workdir, sshd, threaded_sim)
    env = _credentials(workdir, sshd)
    process, listener = _start(workdir, settings, **env)
    try:
        listener.wait_for("READY=1")
        try:
            wait_until(lambda: (_rows(settings)["srv-1"]["ssh"], _rows(settings)["sw-core-01"]["ssh"],
                                _rows(settings)["sw-core-01"]["config"]) == ("ok", "ok", "v1"),
                       timeout_s=30, what="SSH ok on both devices and the switch's configuration stored")
        except AssertionError:
            raise AssertionError(f"{_rows(settings)}\n{process.log()}") from None

        def latest() -> dict:
            # Every series (the store's `latest` table keeps one row per device and measurement).
            db = sqlite3.connect(f"file:{workdir / 'state' / 'metrics.db'}?mode=ro", uri=True, timeout=10)
            try:
                found = db.execute("SELECT s.device, s.measurement, s.tags, p.fields FROM series s JOIN point p "
                                   "ON p.series_id = s.id ORDER BY p.time_ns").fetchall()
            finally:
                db.close()
            out = {}
            for device, measurement, tags, fields in found:
                tags = json.loads(tags)
                key = tags.get("command") or tags.get("mount") or tags.get("slot")
                out[(device, measurement, key)] = SimpleNamespace(tags=tags, fields=json.loads(fields))
            return out
        wanted = {("srv-1", "ssh", None), ("srv-1", "ssh_disk", "/"), ("sw-core-01", "ssh_command", "cpu"),
                  ("sw-core-01", "ssh_config", None)}
        wait_until(lambda: wanted <= set(latest()), timeout_s=40, what="SSH samples in the embedded store")
        rows = latest()
        assert rows[("srv-1", "ssh", None)].fields["commands_ok"] == 5
        assert rows[("srv-1", "ssh", None)].tags["room"] == "room"
        assert rows[("sw-core-01", "ssh_config", None)].fields["version"] == 1
        assert (workdir / "state" / "ssh_known_hosts").read_text().count("device=srv-1") == 1  # TOFU
        table = _netvigil("status", "-c", str(settings)).stdout
        assert "SSH" in table.splitlines()[0] + table.splitlines()[1] and " v1 " in table

        # SIGHUP with another key in the credential directory (one that needs a pass phrase
        # nobody gave): the next check of srv-1 fails with an auth error, the switch stays ok.
        (workdir / "creds" / "probes__ssh__credentials__srv__private_key").write_text(
            sshd.encrypted_key_path.read_text())
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: _rows(settings)["srv-1"]["ssh"] == "auth", timeout_s=45, what="srv-1 auth error")
        assert "passphrase" in _rows(settings)["srv-1"]["ssh_error"]
        assert _rows(settings)["sw-core-01"]["ssh"] == "ok"

        # The CLI shares the daemon's store: history shows the daemon's version.
        history = _netvigil("config", "history", "sw-core-01", "-c", str(settings), "--json", env=env)
        assert history.returncode == 0, history.stderr
        assert [v["version"] for v in json.loads(history.stdout)["versions"]] == [1]
    finally:
        code = process.stop()
        listener.close()
    assert code == 0, process.log()
    log = process.log()
    assert VRP_PASSWORD not in log and "PRIVATE KEY" not in log


def test_config_fetch_history_diff_and_probe_from_the_command_line(workdir, sshd, threaded_sim):
    settings = _write(workdir, sshd, threaded_sim, backup=False)
    env = _credentials(workdir, sshd)
    first = _netvigil("config", "fetch", "sw-core-01", "-c", str(settings), env=env)
    assert first.returncode == 0, first.stderr
    assert "first version stored" in first.stdout
    same = _netvigil("config", "fetch", "sw-core-01", "-c", str(settings), env=env)
    assert "unchanged since version 1" in same.stdout
    threaded_sim.config = threaded_sim.config.replace(" description MCU-01\n", " description MCU-01-SPARE\n")
    changed = _netvigil("config", "fetch", "sw-core-01", "-c", str(settings), env=env)
    assert changed.returncode == 0, changed.stderr
    assert "CHANGED: version 2 stored (+1 -1 lines against version 1)" in changed.stdout
    assert "- description MCU-01\n+ description MCU-01-SPARE\n" in changed.stdout
    diff = _netvigil("config", "diff", "sw-core-01", "-c", str(settings))
    explicit = _netvigil("config", "diff", "sw-core-01", "1", "2", "-c", str(settings))
    assert diff.returncode == explicit.returncode == 0 and diff.stdout == explicit.stdout
    assert diff.stdout.startswith("--- sw-core-01 v1 ") and "+ description MCU-01-SPARE" in diff.stdout
    missing = _netvigil("config", "diff", "sw-core-01", "1", "9", "-c", str(settings))
    assert missing.returncode == 2 and "no version 9" in missing.stderr and "Traceback" not in missing.stderr
    history = _netvigil("config", "history", "sw-core-01", "-c", str(settings))
    assert history.stdout.splitlines()[0].startswith("sw-core-01: 2 versions; last checked ")
    for result in (first, changed, diff, history):
        assert VRP_PASSWORD not in result.stdout + result.stderr
        assert "%^%#" not in result.stdout  # cipher blobs are masked

    # A state directory that cannot hold the versions: a sentence, not a traceback.
    broken = workdir / "broken.yaml"
    broken.write_text(settings.read_text().replace("state_dir: state", "state_dir: not-a-directory"))
    (workdir / "not-a-directory").write_text("")
    refused = _netvigil("config", "fetch", "sw-core-01", "-c", str(broken), env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "not-a-directory" in refused.stderr and "daemon's user" in refused.stderr

    probe = _netvigil("probe", "srv-1", "--kind", "ssh", "-c", str(settings), "--json", env=env)
    assert probe.returncode == 0, probe.stderr
    samples = json.loads(probe.stdout)["samples"]
    assert samples[0]["measurement"] == "ssh" and samples[0]["fields"]["commands_ok"] == 5
    text = _netvigil("probe", "sw-core-01", "--kind", "ssh", "-c", str(settings), env=env)
    assert text.returncode == 0 and "ssh ok" in text.stdout and "cpu_pct=" in text.stdout


def test_a_missing_ssh_secret_stops_the_daemon_with_a_sentence(workdir, sshd, threaded_sim):
    settings = _write(workdir, sshd, threaded_sim)
    env = _credentials(workdir, sshd)
    env.pop("NETVIGIL_PROBES__SSH__CREDENTIALS__VRP__PASSWORD")
    result = _netvigil("run", "-c", str(settings), env=env)
    assert result.returncode == 2
    assert ("probes.ssh.credentials.vrp.password: not set; put it in a secret file named "
            "probes__ssh__credentials__vrp__password") in result.stderr
    check = _netvigil("check", "-c", str(settings), env=env)
    assert check.returncode == 0 and "warning: probes.ssh.credentials.vrp.password" in check.stderr

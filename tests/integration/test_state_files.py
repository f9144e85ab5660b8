"""The daemon's state files are owner-only even when it is started by hand with a loose umask."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess

import pytest

from tests.integration.test_daemon import INVENTORY, NETVIGIL, _devices, workdir  # noqa: F401 - fixture
from lab.support import Process, require_root, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_state_files_are_owner_only_whatever_the_umask(workdir):  # noqa: F811 - fixture
    require_root()
    (workdir / "inventory.yaml").write_text(INVENTORY + _devices(3, net=47))
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\napi: {enabled: false}\n"
        "probes:\n  icmp: {interval_s: 2, count: 1, timeout_s: 0.5}\n"
        # A metrics server that is down: the spool gets files too.
        f"outputs:\n  influxdb: {{url: 'http://127.0.0.1:{_closed_port()}', bucket: b, flush_interval_s: 0.2}}\n"
        "  embedded: {enabled: true}\n")
    state = workdir / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    earlier = state / "ssh_known_hosts"  # left 0644 by an earlier version
    earlier.write_text("")
    os.chmod(earlier, 0o644)
    argv = ["sh", "-c", f"umask 022; exec {NETVIGIL} run -c {settings}"]
    process = Process(argv, workdir / "daemon.log")
    try:
        wait_until(lambda: (state / "metrics.db").exists() and any((state / "spool").rglob("*.db"))
                   and (state / "notifications.db").exists(), timeout_s=20, what="state files")
        subprocess.run([NETVIGIL, "faults", "-c", str(settings)], capture_output=True, timeout=30)
    finally:
        process.popen.send_signal(signal.SIGTERM)
        assert process.stop() == 0, process.log()
    loose = {}
    for path in state.rglob("*"):
        mode = path.lstat().st_mode
        if not stat.S_ISSOCK(mode) and mode & 0o077:
            loose[str(path.relative_to(state))] = oct(stat.S_IMODE(mode))
    assert loose == {}
    assert {"metrics.db", "notifications.db", "faults.db", "ssh_known_hosts"} <= {p.name for p in state.iterdir()}
    assert stat.S_IMODE(state.stat().st_mode) == 0o755  # the directory itself is the operator's choice
    assert "1 file(s) readable by others made owner-only: ssh_known_hosts" in process.log()

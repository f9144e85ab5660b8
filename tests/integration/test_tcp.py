"""The TCP connect probe against real sockets on 127.0.0.1: an open port, a closed one
(refused), and a listener whose accept queue is full (the kernel drops the SYN: a timeout);
then once through `netvigil run` into the embedded store and `status`."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from probes.base import Target
from probes.registry import KINDS
from probes.tcp import ErrorCode
from probes.tcp.plugin import TcpPlugin
from probes.tcp.settings import TcpSettings
from lab.support import VENV_BIN, Process, free_port, wait_until

pytestmark = pytest.mark.integration

NETVIGIL = str(VENV_BIN / "netvigil")
TARGET = Target("lo", "127.0.0.1", {"device": "lo", "address": "127.0.0.1"})


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def full_listener():
    """A listener that never accepts, with a backlog of 0 and that backlog filled: Linux drops
    further SYNs (with tcp_abort_on_overflow=0, the default, it neither answers nor resets)."""
    assert Path("/proc/sys/net/ipv4/tcp_abort_on_overflow").read_text().strip() == "0", \
        "tcp_abort_on_overflow=1 makes a full queue answer with a reset; this test needs the default 0"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    port = sock.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.2)  # the handshakes that fit complete; the queue is full
    yield port
    for filler in fillers:
        filler.close()
    sock.close()


def _probe(settings: TcpSettings):
    async def run():
        plugin = await KINDS["tcp"].start(settings, None)
        try:
            started = time.monotonic()
            probed = await plugin.probe([TARGET], lambda _device: settings)
            return probed, time.monotonic() - started
        finally:
            plugin.close()
    return asyncio.run(run())


# serial: the run must last one 0.5 s timeout and less than 2 s, a bound that other tests busy on
# the same CPUs could break.
@pytest.mark.serial
def test_open_closed_and_dropped_ports_are_samples(listener, full_listener):
    closed = free_port()
    settings = TcpSettings(ports=(listener, closed, full_listener), timeout_s=0.5)
    probed, took_s = _probe(settings)
    by_port = {int(sample.tags["port"]): sample for sample in probed.samples}
    assert set(by_port) == {listener, closed, full_listener}
    assert all(sample.measurement == "tcp" and sample.tags["device"] == "lo" for sample in probed.samples)

    open_fields = by_port[listener].fields
    assert open_fields["up"] == 1 and open_fields["error_code"] == ErrorCode.NONE and open_fields["result_code"] == 0
    assert 0 < open_fields["connect_ms"] < 500

    refused = by_port[closed].fields
    assert refused["up"] == 0 and refused["error_code"] == ErrorCode.REFUSED and "connect_ms" not in refused

    dropped = by_port[full_listener].fields
    assert dropped["up"] == 0 and dropped["error_code"] == ErrorCode.TIMEOUT and dropped["result_code"] == 1
    assert 0.45 < took_s < 2.0  # the ports are tried together: the run lasts one timeout

    errors = {error.detail for _, error in probed.errors}
    assert errors == {f"tcp/{closed}: connection refused", f"tcp/{full_listener}: no answer within 0.5 s"}


def test_a_device_without_ports_is_not_probed(listener):
    settings = TcpSettings(ports=(listener,))
    none = settings.model_copy(update={"ports": ()})

    async def run():
        plugin = TcpPlugin(settings)
        return await plugin.probe([TARGET, Target("quiet", "127.0.0.2", {"device": "quiet"})],
                                  lambda device: settings if device == "lo" else none)
    probed = asyncio.run(run())
    assert [sample.tags["device"] for sample in probed.samples] == ["lo"]


def test_the_daemon_probes_tcp_ports_into_the_embedded_store(tmp_path, listener):
    closed = free_port()
    second = socket.socket()  # the same port on the second device's address
    second.bind(("127.0.0.2", listener))
    second.listen(16)
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "classes:\n  server: {tcp: {ports: [%d]}}\n"
        "devices:\n"
        "  - {name: web, address: 127.0.0.1, class: server, site: room, tcp: {ports: [%d, %d]}}\n"
        "  - {name: other, address: 127.0.0.2, class: server, site: room}\n"
        "  - {name: switch, address: 127.0.0.3, class: switch, site: room}\n" % (listener, listener, closed))
    settings = tmp_path / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\n"
        "probes:\n  icmp: {enabled: false}\n  tcp: {interval_s: 2, timeout_s: 1}\n"
        "scheduler: {slot_s: 0.5}\n")
    check = subprocess.run([NETVIGIL, "check", "-c", str(settings)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    db = tmp_path / "state" / "metrics.db"

    def stored() -> dict:
        if not db.exists():
            return {}
        with sqlite3.connect(db) as connection:
            rows = connection.execute(
                "SELECT series.tags, point.fields FROM point JOIN series ON series.id = point.series_id "
                "WHERE series.measurement = 'tcp'").fetchall()
        return {(json.loads(tags)["device"], int(json.loads(tags)["port"])): json.loads(fields)
                for tags, fields in rows}

    process = Process([NETVIGIL, "run", "-c", str(settings)], tmp_path / "daemon.log")
    try:
        wait_until(lambda: len(stored()) == 3, timeout_s=20, what="tcp samples of 3 device ports")
        status = subprocess.run([NETVIGIL, "status", "-c", str(settings), "--json"], capture_output=True,
                                text=True, timeout=30)
    finally:
        second.close()
        assert process.stop() == 0, process.log()
    samples = stored()
    assert set(samples) == {("web", listener), ("web", closed), ("other", listener)}  # switch: no ports
    assert samples[("web", listener)]["up"] == 1 and samples[("web", listener)]["connect_ms"] > 0
    assert samples[("web", closed)]["up"] == 0 and samples[("web", closed)]["error_code"] == ErrorCode.REFUSED
    rows = {row["device"]: row for row in json.loads(status.stdout)["devices"]}
    # Without ICMP, a refused port still shows the device answering; the column names the error.
    assert rows["web"]["state"] == "up" and rows["web"]["tcp"] == "refused"
    assert rows["web"]["tcp_error"] == f"tcp/{closed}: connection refused"
    assert rows["other"]["tcp"] == "ok" and rows["switch"]["state"] == "unmonitored"
    assert "Traceback" not in process.log()


def test_probe_command_runs_a_kind_from_the_map(tmp_path, listener):
    closed = free_port()
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "devices:\n  - {name: web, address: 127.0.0.1, class: server, site: room, tcp: {ports: [%d, %d]}}\n"
        "  - {name: quiet, address: 127.0.0.2, class: server, site: room}\n" % (listener, closed))
    settings = tmp_path / "netvigil.yaml"
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\n")

    def probe(*args):
        return subprocess.run([NETVIGIL, "probe", *args, "--kind", "tcp", "-c", str(settings)], capture_output=True,
                              text=True, timeout=60)

    answer = probe("web", "--json")
    assert answer.returncode == 1, answer.stderr  # one port refused: like ping, not everything answered
    shown = json.loads(answer.stdout)
    assert [(s["tags"]["port"], s["fields"]["up"]) for s in shown["samples"]] == [(str(listener), 1), (str(closed), 0)]
    assert shown["errors"] == [f"tcp/{closed}: connection refused"]
    text = probe("web").stdout
    assert f"web tcp port={listener}: up 1" in text and f"tcp/{closed}: connection refused" in text
    off = probe("quiet")
    assert off.returncode == 2 and "tcp is not on for quiet" in off.stderr and "Traceback" not in off.stderr

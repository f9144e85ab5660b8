"""Active and standby end to end: two `netvigil run` processes for one share, their fault records
and lease on a real PostgreSQL server, their metrics in a real VictoriaMetrics, alerts at a
real HTTP receiver, a loopback device silenced with nftables, and kill -9 of the active one."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.support import DaemonDir, require_root, webhook_alerting

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.serial]

INTERVAL_S = 2
LEASE_S = 10


class Server(DaemonDir):
    def __init__(self, name: str, root: Path, database_url: str, vm_url: str, receiver_url: str,
                 addresses: list[str]) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir()
        (self.dir / "inventory.yaml").write_text(
            "sites:\n  - {name: room}\ndevices:\n"
            + "".join(f"  - {{name: ha-sw-{i}, address: {address}, class: switch, site: room}}\n"
                      for i, address in enumerate(addresses)))
        self.settings = self.dir / "netvigil.yaml"
        self.settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
workers: 1
probes:
  icmp: {{interval_s: {INTERVAL_S}, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
scheduler: {{slot_s: 0.5}}
outputs:
  influxdb: {{url: "{vm_url}", org: noc, bucket: health, token: t0ken, flush_interval_s: 0.5}}
faults:
  database: {{url: "{database_url}"}}
  heightened_watch: {{periods: []}}
{webhook_alerting(receiver_url)}api: {{enabled: false}}
ha: {{enabled: true, server: {name}, share: district-7, lease_s: {LEASE_S}}}
""")
        self.process = None

    def ha(self) -> dict:
        result = self.cli("status", "--json")
        if result.returncode != 0:
            return {}
        daemon = json.loads(result.stdout)["daemon"]
        return (daemon or {}).get("ha") or {}

    def log(self) -> str:
        return self.process.log() if self.process else ""


async def _until(predicate, timeout_s: float, what: str, *servers: Server) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            logs = "\n".join(f"--- {s.name}:\n{s.log()[-6000:]}" for s in servers)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="nvha"))  # short: control socket paths
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_kill_9_of_the_active_server_the_standby_takes_over_without_a_second_alert(
        root, postgres_server, postgres_database, victoria_metrics, webhook_receiver):
    require_root()
    addresses = loopback_addresses(3)
    url = postgres_server.url(postgres_database)
    a, b = (Server(name, root, url, victoria_metrics.url, webhook_receiver.url, addresses) for name in ("a", "b"))
    servers = (a, b)
    a.start()
    try:
        await _until(lambda: a.ha().get("role") == "active", 60, "a active", *servers)
        b.start()
        await _until(lambda: b.ha().get("role") == "standby" and b.ha().get("active") == "a", 60,
                     "b standby behind a", *servers)
        assert "standby for share district-7; active: a" in b.cli("status").stdout

        with nft_table([drop_input(addresses[0])]) as table:
            await _until(lambda: webhook_receiver.delivered, 30, "the alert from a", *servers)
            [opened] = webhook_receiver.delivered
            [fault] = opened["faults"]
            assert fault["device"] == "ha-sw-0"

            a.process.stop(signal.SIGKILL)
            took = await _until(lambda: b.ha().get("role") == "active", 30, "b to take over", *servers)
            assert "ha: server b is now active for share district-7 (lease epoch 2)" in b.log()
            await asyncio.sleep(3 * INTERVAL_S + 2)  # b probes the silent device and restores the fault
            # one alert for the fault, from a; b knows it was sent
            assert [h["event"] for h in webhook_receiver.delivered] == ["open"], webhook_receiver.delivered
            records = json.loads(b.cli("faults", "--json", "--open").stdout)["faults"]
            assert [(f["id"], f["device"]) for f in records] == [(fault["id"], "ha-sw-0")]

            table.update([])  # the device answers again: b tells people, once
            await _until(lambda: len(webhook_receiver.delivered) >= 2, 30, "the resolved notice from b", *servers)
            await asyncio.sleep(2)
            assert [h["event"] for h in webhook_receiver.delivered] == ["open", "resolved"]
        print(f"takeover after kill -9: {took:.1f} s")
        assert took < 30

        # Metrics: the series of a device that answered all along has no gap longer than one
        # interval plus the takeover (a wrote until it died, b from when it took over).
        series = victoria_metrics.export('icmp_up{device="ha-sw-1"}')
        stamps = sorted(t / 1000 for s in series for t in s["timestamps"])
        gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:])]
        # `took` ends when b's status says active; the takeover ends with b's first point. So the
        # gap is at most a's last interval (its last run may have been up to an interval before
        # the kill), `took`, b's first run (at most an interval after it started probing) and a
        # flush of each (0.5 s).
        assert max(gaps) <= INTERVAL_S + took + INTERVAL_S + 2 * 0.5, (max(gaps), took)
        assert "Traceback" not in a.log() + b.log()
    finally:
        for server in servers:
            if server.process is not None:
                server.process.stop()

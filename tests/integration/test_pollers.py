"""Two pollers on one machine: two `netvigil run` processes with their own state directories and
shares of one inventory, one PostgreSQL database (a real server), alerts at a real HTTP
receiver, loopback hosts silenced with nftables."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.support import VENV_BIN, DaemonDir, require_root, webhook_alerting

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")


class Poller(DaemonDir):
    def __init__(self, name: str, sites: list[str], root: Path, inventory: str, database_url: str,
                 receiver_url: str) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir()
        (self.dir / "inventory.yaml").write_text(inventory)
        self.settings = self.dir / "netvigil.yaml"
        self.settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
workers: 1
poller: {{name: {name}, sites: {json.dumps(sites)}}}
probes:
  icmp: {{interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
scheduler: {{slot_s: 0.5}}
faults:
  database: {{url: "{database_url}"}}
  heightened_watch: {{periods: []}}
{webhook_alerting(receiver_url)}api: {{enabled: false}}
""")
        self.process = None

    def up(self) -> int:
        result = self.cli("status", "--json")
        daemon = json.loads(result.stdout)["daemon"] if result.returncode == 0 else None
        return daemon["up"] if daemon else -1


def _district(addresses: list[str]) -> str:
    """A core switch in the machine room and 30 codecs behind it in three streets."""
    devices = [f"  - {{name: core-sw, address: {addresses[0]}, class: switch, site: room}}"]
    devices += [f"  - {{name: codec-{i:02d}, address: {address}, class: codec, site: street-{i % 3}, "
                f"parent: core-sw}}" for i, address in enumerate(addresses[1:31])]
    return ("sites:\n  - {name: district}\n  - {name: room, parent: district}\n"
            + "".join(f"  - {{name: street-{i}, parent: district}}\n" for i in range(3))
            + "devices:\n" + "\n".join(devices) + "\n")


async def _until(predicate, timeout_s: float, what: str, *pollers: Poller) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name} (running: {p.process.alive()}; status: "
                             f"{p.cli('status').stderr.strip()[-300:] or 'answers'}):\n{p.process.log()[-3000:]}"
                             for p in pollers if p.process)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        await asyncio.sleep(0.2)


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="nvpl"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_parent_in_one_poller_and_its_children_in_another_give_one_grouped_alert(
        root, postgres_server, postgres_database, webhook_receiver):
    require_root()
    addresses = loopback_addresses(31)
    inventory = _district(addresses)
    url = postgres_server.url(postgres_database)
    a = Poller("a", ["room"], root, inventory, url, webhook_receiver.url)
    b = Poller("b", ["street-0", "street-1", "street-2"], root, inventory, url, webhook_receiver.url)
    pollers = (a, b)
    a.start()
    b.start()
    try:
        await _until(lambda: a.up() == 1 and b.up() == 30, 60, "both pollers' devices up", *pollers)

        # 3. A third poller for the whole district overlaps both: a clear start-up error.
        c = Poller("c", ["district"], root, inventory, url, webhook_receiver.url)
        refused = subprocess.run([NETVIGIL, "run", "-c", str(c.settings)], capture_output=True, text=True,
                                 timeout=60, stdin=subprocess.DEVNULL)
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in refused.stderr
        [sentence] = [line for line in refused.stderr.splitlines() if "cannot start" in line]
        assert "poller.sites: this poller (c: district) overlaps poller" in sentence, sentence

        with nft_table([drop_input(address) for address in addresses]):
            await _until(lambda: webhook_receiver.delivered, 30, "the alert", *pollers)
            await asyncio.sleep(8)  # four more probe intervals: nothing else may arrive
            [alert] = webhook_receiver.delivered
            [fault] = alert["faults"]
            assert fault["device"] == "core-sw" and alert["event"] == "open"
            # The 30 codecs are b's records, symptoms of a's fault, in the one shared database.
            records = json.loads(b.cli("faults", "--json", "--open").stdout)["faults"]
            symptoms = sorted(r["device"] for r in records if r["symptom_of"] == fault["id"])
            assert symptoms == [f"codec-{i:02d}" for i in range(30)], records
            assert [r["device"] for r in records if r["symptom_of"] is None] == ["core-sw"]
        for poller in pollers:
            assert "Traceback" not in poller.process.log()
    finally:
        for poller in pollers:
            if poller.process is not None:
                poller.process.stop()

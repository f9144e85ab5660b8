"""Faults end to end: the daemon probing real loopback hosts made unreachable with nftables,
alerts received by a real SMTP server (aiosmtpd) and a real HTTP webhook receiver, the HTTP
API, the fault commands, and kill -9 in the middle of an open fault.

The network: a core switch with 30 conference codecs behind it (three streets), and a server
with no parent. Dropping every packet to the core and the codecs (one /27) is "the core switch
is down": exactly one alert must leave, naming the core and the 30 devices behind it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest

from lab.mailserver import MAIL_PASSWORD, MAIL_USER
from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.snmplab import COMMUNITY
from lab.support import VENV_BIN, Process, free_port, require_root, webhook_alerting

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")
TOKEN = "f3a9c0d1e2b4a5968778695a4b3c2d1e"


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="nvf"))  # short: the control socket path must stay under 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Lab:
    def __init__(self, workdir: Path, mailserver, receiver, workers: int = 1) -> None:
        require_root()
        self.workdir = workdir
        addresses = loopback_addresses(40)
        self.core, self.codecs, self.server = addresses[0], addresses[1:31], addresses[39]
        self.behind_core = addresses[0].rsplit(".", 1)[0] + ".0/27"  # the core and its 30 codecs
        self.api_port = free_port()
        self.receiver = receiver
        self.mailserver = mailserver
        devices = [f"  - {{name: core-sw, address: {self.core}, class: switch, site: room}}",
                   f"  - {{name: server-1, address: {self.server}, class: server, site: room}}"]
        devices += [f"  - {{name: codec-{i:02d}, address: {address}, class: codec, site: street-{i % 3}, "
                    f"parent: core-sw}}" for i, address in enumerate(self.codecs)]
        (workdir / "inventory.yaml").write_text(
            "sites:\n  - {name: district, level: district}\n  - {name: room, parent: district, level: room}\n"
            + "".join(f"  - {{name: street-{i}, parent: district, level: street}}\n" for i in range(3))
            + "devices:\n" + "\n".join(devices) + "\n")
        mail_url = (f"mailto://{MAIL_USER}:{MAIL_PASSWORD}@127.0.0.1:{mailserver.port}"
                    f"?to=noc@example.org&from=netvigil@example.org")
        self.settings = workdir / "netvigil.yaml"
        self.settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
workers: {workers}
probes:
  icmp: {{interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
scheduler: {{slot_s: 0.5}}
rules:
  dirs: []
faults:
  sla: {{acknowledge_s: 6, warn_before_ack_s: 2, resolve_s: 1200}}
  heightened_watch: {{periods: []}}
notifications:
  channels:
    mail: {{apprise: "{mail_url}"}}
    tickets: {{webhook: {{url: "{receiver.url}"}}}}
    lead: {{webhook: {{url: "http://127.0.0.1:{receiver.port}/lead"}}}}
  groups:
    oncall: {{tiers: [[mail, tickets], [lead]]}}
  default_groups: [oncall]
  group_wait_s: 1
  retry: {{attempts: 3, initial_backoff_s: 0.5}}
api:
  listen: 127.0.0.1:{self.api_port}
""")
        self.daemon = None

    def start(self) -> None:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NETVIGIL_API__TOKEN": TOKEN}
        self.daemon = Process([NETVIGIL, "run", "-c", str(self.settings)], self.workdir / "daemon.log", env=env)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([NETVIGIL, *args, "-c", str(self.settings)], capture_output=True, text=True, timeout=30)

    def faults(self, *args: str) -> list[dict]:
        result = self.cli("faults", "--json", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["faults"]

    def hooks(self, path: str) -> list[dict]:
        return [r.body for r in self.receiver.requests if r.path == path and 200 <= r.answered < 300]

    async def until(self, predicate, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.daemon is not None and not self.daemon.alive():
                raise AssertionError(f"the daemon exited while waiting for {what}:\n{self.daemon.log()[-3000:]}")
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; daemon log:\n"
                             f"{self.daemon.log()[-3000:] if self.daemon else ''}")

    def all_up(self) -> bool:
        result = self.cli("status", "--json")
        if result.returncode != 0:
            return False
        daemon = json.loads(result.stdout)["daemon"]  # None until the daemon's control socket answers
        return daemon is not None and daemon["up"] == 32

    async def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, f"http://127.0.0.1:{self.api_port}/api/v1{path}", json=body,
                                       headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                return response.status, await response.json()


def worker_pids(lab: Lab) -> list[int]:
    result = lab.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    return [worker["pid"] for worker in json.loads(result.stdout)["daemon"]["workers"]]


def pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"  # a zombie waits for its reaper only
    except FileNotFoundError:
        return True


# workers=2: the core switch and some of its codecs are probed by different worker processes;
# the parent's fault manager must still hold the codecs' failures for the core's re-probe and
# send one grouped alert, and a kill -9 of the parent must not leave workers probing.
@pytest.mark.parametrize("workers", [1, 2])
async def test_core_switch_down_one_alert_escalation_kill_9_and_recovery(workdir, mailserver, webhook_receiver,
                                                                         workers):
    lab = Lab(workdir, mailserver, webhook_receiver, workers)
    if workers > 1:
        from monitor import config
        from monitor.workers.partition import split

        shards = split(config.load(lab.settings).inventory.devices, workers)
        core_shard = next(shard for shard in shards if "core-sw" in shard.devices)
        assert any(f"codec-{i:02d}" not in core_shard.devices for i in range(30)), shards
    lab.start()
    try:
        await lab.until(lab.all_up, 30, "every device up")
        old_workers = worker_pids(lab) if workers > 1 else []
        assert len(old_workers) == (workers if workers > 1 else 0)
        with nft_table([drop_input(lab.behind_core)]) as table:
            # 1. Exactly one alert, naming the core switch and the 30 codecs behind it.
            await lab.until(lambda: lab.hooks("/hook"), 30, "the webhook alert")
            await lab.until(lambda: mailserver.messages, 15, "the alert e-mail")
            await asyncio.sleep(6)  # three more probe intervals: nothing else may arrive
            # Later messages (the acknowledge-deadline warning) are about the same fault only.
            assert {f["device"] for h in lab.hooks("/hook") for f in h["faults"]} == {"core-sw"}, lab.daemon.log()[-5000:]
            [alert] = [h for h in lab.hooks("/hook") if h["event"] == "open"]
            [fault] = alert["faults"]
            assert fault["device"] == "core-sw" and fault["severity"] == "critical"
            assert sorted(fault["symptoms"]) == [f"codec-{i:02d}" for i in range(30)]
            [mail] = [m for m in mailserver.messages if m.subject.startswith("[CRITICAL]")]
            assert "core-sw" in mail.subject and "30 devices" in mail.subject, mail.subject
            assert f"netvigil ack {fault['id']}" in mail.body
            assert MAIL_PASSWORD not in mail.body and MAIL_PASSWORD not in lab.daemon.log()

            records = lab.faults("--open")
            root = [f for f in records if f["symptom_of"] is None]
            assert [f["device"] for f in root] == ["core-sw"]
            assert len([f for f in records if f["symptom_of"] == root[0]["id"]]) == 30

            # 2. Not acknowledged within the SLA (6 s here): the next tier is told.
            await lab.until(lambda: lab.hooks("/lead"), 20, "escalation to the lead")
            escalated = lab.hooks("/lead")[0]
            assert escalated["event"] == "escalate" and escalated["faults"][0]["id"] == root[0]["id"]

            # 3. Acknowledged through the API (token required).
            status, body = await lab.api("POST", f"/faults/{root[0]['id']}/ack", {"by": "wang.fang", "note": "on it"})
            assert status == 200 and body["acknowledged_by"] == "wang.fang"

            # 4. kill -9 with the fault open; after the restart: the same record, no new alert.
            sent_before = (len(webhook_receiver.requests), len(mailserver.messages))
            lab.daemon.stop(signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not all(pid_gone(pid) for pid in old_workers):
                assert time.monotonic() < deadline, f"workers {old_workers} still run after their parent was killed"
                await asyncio.sleep(0.2)
            lab.start()
            await asyncio.sleep(8)  # four probe intervals with everything behind the core still down
            assert lab.daemon.alive(), lab.daemon.log()[-3000:]
            records = lab.faults("--open")
            assert len([f for f in records if f["device"] == "core-sw"]) == 1
            assert len(records) == 31
            assert (len(webhook_receiver.requests), len(mailserver.messages)) == sent_before

            # 5. The core comes back: one resolved notice; the codecs resolve quietly.
            table.update([])
            await lab.until(lambda: any(h["event"] == "resolved" for h in lab.hooks("/hook")), 30,
                            "the resolved notice")
            await lab.until(lambda: not lab.faults("--open"), 30, "every fault resolved")
        await asyncio.sleep(2)
        resolved = [h for h in lab.hooks("/hook") if h["event"] == "resolved"]
        assert len(resolved) == 1 and resolved[0]["faults"][0]["device"] == "core-sw"
        assert len(lab.faults()) == 31  # no record was duplicated by the restart
        assert "Traceback" not in lab.daemon.log()
    finally:
        if lab.daemon is not None:
            lab.daemon.stop()


async def test_snmp_agent_stopped_and_restarted_opens_clears_and_reports_the_reboot(workdir, snmpd_factory,
                                                                                     webhook_receiver):
    """A server that answers ping while its SNMP agent is stopped: `snmp_not_answering` opens
    and alerts; the agent comes back (a restart: uptime from 0) -> it clears with a resolved
    notice, and `device_rebooted` records the reboot."""
    require_root()
    agent = snmpd_factory(loopback_addresses(41)[40], users=())
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\ndevices:\n"
        f"  - {{name: srv-1, address: {agent.address}, class: server, site: room, snmp: {{port: {agent.port}}}}}\n")
    settings = workdir / "netvigil.yaml"
    settings.write_text(f"""inventory: [inventory.yaml]
state_dir: state
probes:
  icmp: {{interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
  snmp: {{credential: lab, interval_s: 5, timeout_s: 0.5, retries: 0, credentials: {{lab: {{version: v2c}}}}}}
scheduler: {{slot_s: 0.5}}
rules: {{dirs: []}}
faults: {{heightened_watch: {{periods: []}}}}
{webhook_alerting(webhook_receiver.url, group_wait_s=0.5)}api: {{enabled: false}}
""")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NETVIGIL_PROBES__SNMP__CREDENTIALS__LAB__COMMUNITY": COMMUNITY}
    daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=env)

    def events(rule: str) -> list[str]:
        return [h["event"] for h in (r.body for r in webhook_receiver.requests) if h["faults"][0]["rule"] == rule]

    async def until(predicate, what: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert daemon.alive(), daemon.log()[-3000:]
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{daemon.log()[-3000:]}"
            await asyncio.sleep(0.2)

    try:
        # Polls succeed first, long enough that the agent's uptime before the stop is longer
        # than it will be at the first poll after the restart (a reboot is seen as sysUpTime
        # going backwards).
        await asyncio.sleep(12)
        assert events("snmp_not_answering") == []
        agent.stop()
        await until(lambda: "open" in events("snmp_not_answering"), "snmp_not_answering to open")
        [body] = [r.body for r in webhook_receiver.requests if r.body["event"] == "open"]
        assert "SNMP agent does not answer" in body["faults"][0]["message"] and COMMUNITY not in json.dumps(body)
        agent.start()
        await until(lambda: "resolved" in events("snmp_not_answering"), "the resolved notice")
        await until(lambda: "open" in events("device_rebooted"), "the reboot to be reported")
        result = subprocess.run([NETVIGIL, "faults", "--json", "-c", str(settings)], capture_output=True, text=True)
        records = {f["rule"]: f for f in json.loads(result.stdout)["faults"]}
        assert records["snmp_not_answering"]["resolved_by"] == "auto"
        assert records["device_rebooted"]["state"] == "open"  # an event: resolves by itself an hour later
        assert COMMUNITY not in daemon.log()
    finally:
        daemon.stop()

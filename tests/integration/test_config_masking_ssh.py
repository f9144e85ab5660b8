"""Every statement form of the secret catalogues, planted with secrets, through real SSH sessions:
netmiko's own `huawei`, `hp_comware` and `cisco_ios` drivers against the CLI simulator
(lab/sshsim.py), and an exec channel of a real OpenSSH sshd reading Linux files. After a
first backup and a second one in which every secret changed, no planted secret may be in a
stored file, a diff, the `config_changed` sample, or (the daemon test) the daemon's log,
InfluxDB, the embedded store, `netvigil config diff` or the HTTP API. Versions a leaky masker
stored before the upgrade are masked again by the daemon at start, and said so in its log.

The simulator stands in for switches (none runs here); the Linux side is a real sshd.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from monitor.config_store import ConfigStore
from probes.base import Target
from probes.devconfig.text import normalise, rules_for
from probes.ssh.prober import SshProber
from probes.ssh.backup import backup
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.profiles import load_profiles
from probes.ssh.settings import SshSettings
from lab.servers import INFLUXD_ADMIN
from lab.sshsim import CliSim
from lab.support import free_port, wait_until

pytestmark = pytest.mark.integration

CATALOGUES = Path(__file__).resolve().parents[2] / "probes" / "devconfig" / "catalogues"
PLANTED = re.compile(r"«(.*?)»")
PROFILES = load_profiles([])
PASSWORD = "Admin@123"


# -- planted configurations ---------------------------------------------------------------------------

def catalogue_examples(vendor: str) -> list[str]:
    data = yaml.safe_load((CATALOGUES / f"{vendor}.yaml").read_text(encoding="utf-8"))
    return [example for entry in data["statements"] for example in entry["examples"]]


def planted_config(vendor: str, revision: int) -> tuple[str, set[str]]:
    """(configuration text, its secrets): every catalogue example of the vendor, each secret
    made unique to the revision, framed like the vendor's output, plus a description line that
    differs per revision (a real change next to the secret changes)."""
    secrets: set[str] = set()

    def plant(match: re.Match) -> str:
        value = match.group(1)
        # Change the value without breaking its form (blob terminators, quotes, hash prefixes, hex).
        if re.fullmatch(r"(0x)?[0-9A-Fa-f]{6,}", value):
            changed = value[:-3] + "ABC"[revision - 1] + value[-2:]
        else:
            changed = re.sub(r"([A-Za-z])(?=[^A-Za-z]*$)", lambda m: m.group(1) + f"Rv{revision}", value, count=1)
        secrets.add(changed)
        return changed

    lines = [PLANTED.sub(plant, example) for example in catalogue_examples(vendor)]
    header = {"huawei_vrp": ["!Software Version V200R011C10SPC500", "#", "sysname SW-CORE-01", "#"],
              "h3c_comware": ["#", " version 7.1.070, Release 6555P01", "#", " sysname SW-ACC-07", "#"],
              "cisco_ios": ["Building configuration...", "", "Current configuration : 9999 bytes", "!",
                            "hostname R1-BRANCH", "!"],
              "linux": ["# /etc/snmp/snmpd.conf and friends, concatenated"]}[vendor]
    description = (f"sysLocation machine room rev {revision}" if vendor == "linux"
                   else f" description uplink rev {revision}")
    footer = {"huawei_vrp": ["#", "return"], "h3c_comware": ["#", "return"], "cisco_ios": ["!", "end"],
              "linux": []}[vendor]
    return "\n".join(header + [description] + lines + footer) + "\n", secrets


def all_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*"))
                   if p.is_file() and p.name != ".mask-key")


class CiscoSim(CliSim):
    """The simulator with an IOS prompt (`R1-BRANCH#`) for netmiko's cisco_ios driver."""

    @property
    def prompt(self) -> str:
        return f"{self.hostname}#"


def cli_sim(vendor: str, config: str) -> CliSim:
    if vendor == "huawei_vrp":
        return CliSim(config=config)
    if vendor == "h3c_comware":  # hp_comware's session preparation sends `screen-length disable`
        sim = CliSim(hostname="SW-ACC-07", config=config, outputs={"screen-length disable": ""})
        sim.paging_off_commands.add("screen-length disable")
        return sim
    sim = CiscoSim(hostname="R1-BRANCH", config="", outputs={"terminal width 511": "", "terminal length 0": "",
                                                             "show running-config": config})
    sim.paging_off_commands.add("terminal length 0")
    return sim


def set_config(sim: CliSim, vendor: str, config: str) -> None:
    if vendor == "cisco_ios":
        sim.outputs["show running-config"] = config
    else:
        sim.config = config


def _settings(port: int, profile: str, **more) -> SshSettings:
    values = {"credentials": {"c": {"username": "admin", "password": PASSWORD}}, "credential": "c", "port": port,
              "profiles": [profile], "backup": True, "known_hosts": [], "host_key_policy": "tofu",
              "session_timeout_s": 40, "command_timeout_s": 30}
    values.update(more)
    return SshSettings.model_validate(values)


async def _twice(prober, store, target, settings, change) -> tuple[dict, dict]:
    """Back up, apply `change`, back up again; the samples of both runs by measurement."""
    runs = []
    for step in range(2):
        if step:
            change()
        errors: list = []
        samples = await backup(prober, store, [target], lambda _n: settings, on_error=lambda _t, e: errors.append(e))
        assert errors == [], errors
        runs.append({sample.measurement: sample.fields for sample in samples})
    return runs[0], runs[1]


def _assert_clean(vendor: str, first: dict, second: dict, store: ConfigStore, root: Path, device: str,
                  secrets: set[str]) -> None:
    assert first["ssh_config"]["ok"] == 1 and "config_changed" not in first
    changed = second["config_changed"]
    examples = catalogue_examples(vendor)
    # Each example line changed its secrets, and the description changed: nothing else.
    assert (changed["added"], changed["removed"]) == (len(examples) + 1, len(examples) + 1)
    diffs = {"sample": changed["diff"], "store diff": store.diff(device), "files": all_text(root)}
    assert "rev 2" in changed["diff"] and changed["diff"].count("<secret:") >= 2 * len(examples)
    for where, text in diffs.items():
        leaked = sorted(secret for secret in secrets if secret in text)
        assert leaked == [], f"{vendor}: planted secrets in the {where}: {leaked}"


@pytest.mark.parametrize("vendor, profile", [("huawei_vrp", "huawei_vrp"), ("h3c_comware", "h3c_comware"),
                                             ("cisco_ios", "cisco_ios")])
async def test_every_cli_catalogue_form_through_netmiko_leaks_nothing(vendor, profile, tmp_path):
    first_config, first_secrets = planted_config(vendor, 1)
    second_config, second_secrets = planted_config(vendor, 2)
    sim = await cli_sim(vendor, first_config).start()
    settings = _settings(sim.port, profile)
    prober = SshProber(settings, PROFILES, HostKeyStore([], tmp_path / "tofu"))
    root = tmp_path / "configs"
    store = ConfigStore(root, lambda _device: rules_for(vendor))
    target = Target(vendor, "127.0.0.1", {"device": vendor})
    try:
        first, second = await _twice(prober, store, target, settings,
                                     lambda: set_config(sim, vendor, second_config))
    finally:
        prober.close()
        await sim.stop()
    assert (vendor == "cisco_ios") == ("show running-config" in sim.commands_seen)
    _assert_clean(vendor, first, second, store, root, vendor, first_secrets | second_secrets)
    # The stored text is the device's text with the secrets masked: lines and order kept.
    assert len(store.read(vendor, 2).splitlines()) == len(normalise(second_config, rules_for(vendor)).splitlines())


@pytest.mark.root
async def test_linux_files_through_a_real_sshd_leak_nothing(sshd, tmp_path):
    first_config, first_secrets = planted_config("linux", 1)
    second_config, second_secrets = planted_config("linux", 2)
    planted = sshd.home / "planted-configs.txt"
    planted.write_text(first_config)
    os.chmod(planted, 0o644)
    settings = SshSettings.model_validate({
        "credentials": {"c": {"username": sshd.user, "password": sshd.password}}, "credential": "c",
        "port": sshd.port, "profiles": ["linux"], "backup": True, "backup_command": f"cat {planted}",
        "known_hosts": [], "host_key_policy": "tofu"})
    prober = SshProber(settings, PROFILES, HostKeyStore([], tmp_path / "tofu"))
    root = tmp_path / "configs"
    store = ConfigStore(root, lambda _device: rules_for("linux"))
    try:
        first, second = await _twice(prober, store, Target("srv-1", "127.0.0.1", {"device": "srv-1"}), settings,
                                     lambda: planted.write_text(second_config))
    finally:
        prober.close()
        planted.unlink(missing_ok=True)
    _assert_clean("linux", first, second, store, root, "srv-1", first_secrets | second_secrets)


# -- the daemon ------------------------------------------------------------------------------------------

class SimThread:
    """CLI simulators on an event loop thread of their own, reachable from the daemon process."""

    def __init__(self, sims: dict[str, tuple[CliSim, str]]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sims = {name: self.call(sim.start(host=host)) for name, (sim, host) in sims.items()}

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(15)

    def stop(self) -> None:
        for sim in self.sims.values():
            self.call(sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


PROFILE_OF = {"huawei_vrp": "huawei_vrp", "h3c_comware": "h3c_comware", "cisco_ios": "cisco_ios", "linux": "linux"}
DEVICE_OF = {"huawei_vrp": "sw-core-01", "h3c_comware": "sw-acc-07", "cisco_ios": "r1-branch", "linux": "srv-1"}
ADDRESS_OF = {"huawei_vrp": "127.0.0.21", "h3c_comware": "127.0.0.22", "cisco_ios": "127.0.0.23", "linux": "127.0.0.1"}


@pytest.mark.root
def test_the_daemon_re_masks_old_versions_and_leaks_no_planted_secret_anywhere(sshd, influxd, tmp_path):
    from tests.integration.test_daemon import _start

    workdir = Path(tmp_path)
    state = workdir / "state"
    configs = {vendor: (planted_config(vendor, 1), planted_config(vendor, 2)) for vendor in PROFILE_OF}
    secrets = set().union(*(first[1] | second[1] for first, second in configs.values()))

    # The store as a leaky masker left it: version 1 of every device holds its secrets in clear,
    # and its last backup is two days old, so the daemon fetches each device at start.
    legacy = ConfigStore(state / "configs")
    for vendor, ((first, _), _) in configs.items():
        legacy.save(DEVICE_OF[vendor], normalise(first, rules_for(vendor)), fetched_at=time.time() - 2 * 86400)
    assert all(secret in all_text(state / "configs") for secret in configs["cisco_ios"][0][1])

    # The devices now have revision 2: every secret and one description changed.
    sims = SimThread({vendor: (cli_sim(vendor, configs[vendor][1][0]), ADDRESS_OF[vendor])
                      for vendor in ("huawei_vrp", "h3c_comware", "cisco_ios")})
    linux_file = sshd.home / "daemon-planted.txt"
    linux_file.write_text(configs["linux"][1][0])
    os.chmod(linux_file, 0o644)
    influxd.create_database("masking")
    api_port = free_port()
    devices = []
    for vendor, name in DEVICE_OF.items():
        if vendor == "linux":
            ssh = (f"{{credential: srv, profiles: [linux], port: {sshd.port}, backup: true, "
                   f"backup_command: 'cat {linux_file}'}}")
        else:
            ssh = f"{{credential: cli, profiles: [{PROFILE_OF[vendor]}], port: {sims.sims[vendor].port}, backup: true}}"
        kind = "server" if vendor == "linux" else "switch"
        devices.append(f"  - {{name: {name}, address: {ADDRESS_OF[vendor]}, class: {kind}, site: room, "
                       f"icmp: {{enabled: false}}, ssh: {ssh}}}\n")
    (workdir / "inventory.yaml").write_text("sites:\n  - {name: room, level: room}\ndevices:\n" + "".join(devices))
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\nlog_level: debug\n"
        "probes:\n  ssh:\n    session_timeout_s: 40\n    command_timeout_s: 30\n    host_key_policy: tofu\n"
        f"    credentials:\n      srv: {{username: {sshd.user}}}\n      cli: {{username: admin}}\n"
        "scheduler: {slot_s: 0.5}\n"
        f"outputs:\n  influxdb_v1: {{url: '{influxd.url}', database: masking, username: {INFLUXD_ADMIN[0]}, "
        "flush_interval_s: 0.2}\n  embedded: {enabled: true}\n"
        f"api:\n  listen: 127.0.0.1:{api_port}\n")
    env = {"NETVIGIL_PROBES__SSH__CREDENTIALS__SRV__PASSWORD": sshd.password,
           "NETVIGIL_PROBES__SSH__CREDENTIALS__CLI__PASSWORD": PASSWORD,
           "NETVIGIL_OUTPUTS__INFLUXDB_V1__PASSWORD": INFLUXD_ADMIN[1]}
    netvigil = str(Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[2] / ".venv")) / "bin" /
                   "netvigil")
    process, listener = _start(workdir, settings, **env)
    try:
        listener.wait_for("READY=1", timeout_s=30)
        wait_until(lambda: len(influxd.query("SELECT * FROM config_changed", "masking")) == 4, timeout_s=90,
                   what=f"a config_changed sample of each of the 4 devices in influxd\n{process.log()}")
        rows = influxd.query("SELECT * FROM config_changed", "masking")
        api = {}
        for path in ("/api/v1/faults", "/api/v1/status"):
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}{path}", timeout=10) as answer:
                api[path] = answer.read().decode()
    finally:
        code = process.stop()
        listener.close()
        sims.stop()
        linux_file.unlink(missing_ok=True)
    assert code == 0, process.log()
    log = process.log()

    # The migration: one line per device, with counts and without the secrets.
    for name in DEVICE_OF.values():
        (line,) = [line for line in log.splitlines() if f"configs: {name}: masked " in line]
        assert "1 of 1 stored version(s)" in line
    assert {row["device"] for row in rows} == set(DEVICE_OF.values())
    for row in rows:
        assert (row["version"], row["previous_version"]) == (2, 1)
        assert "rev 2" in row["diff"] and "<secret:" in row["diff"]
    json.loads(api["/api/v1/faults"])  # an answer, not an error page
    assert "config_changed" in api["/api/v1/faults"]

    diffs = {}
    for name in DEVICE_OF.values():
        result = subprocess.run([netvigil, "config", "diff", name, "-c", str(settings)], capture_output=True,
                                text=True, timeout=60, env={**os.environ, **env})
        assert result.returncode == 0, result.stderr
        diffs[name] = result.stdout + result.stderr
    places = {"daemon log": log, "influxd config_changed": json.dumps(rows, ensure_ascii=False),
              "API": "".join(api.values()), "netvigil config diff": "".join(diffs.values()),
              "state_dir (versions, embedded store, faults, spool)": all_text(state)}
    for where, text in places.items():
        leaked = sorted(secret for secret in secrets if secret in text)
        assert leaked == [], f"planted secrets in the {where}: {leaked}"

"""Configuration backup against the simulated Huawei VRP (netmiko) and a real sshd (exec):
versions, change detection with an exact diff, volatile lines ignored, secrets masked
everywhere (samples, stored files, diffs), failed fetches storing nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.config_store import ConfigStore
from probes.base import Target
from probes.ssh.prober import ErrorCode, SshProber
from probes.ssh.backup import backup
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.profiles import load_profiles
from probes.ssh.settings import SshSettings

pytestmark = pytest.mark.integration

PROFILES = load_profiles([])
TARGET = Target("sw-core-01", "127.0.0.1", {"device": "sw-core-01"})
# Every secret in the configuration the simulator serves: none may appear anywhere we write.
SECRET = re.compile(r"(%\^%#.*?%\^%#|\$1a\$\S+)")


def _settings(port: int, **more) -> SshSettings:
    values = {"credentials": {"c": {"username": "admin", "password": "Admin@123"}}, "credential": "c",
              "port": port, "profiles": ["huawei_vrp"], "backup": True, "known_hosts": [],
              "host_key_policy": "tofu", "session_timeout_s": 25}
    values.update(more)
    return SshSettings.model_validate(values)


async def _backup(prober, store, settings, target=TARGET):
    errors = []
    samples = await backup(prober, store, [target], lambda _n: settings, on_error=lambda _t, e: errors.append(e))
    return {s.measurement: s.fields for s in samples}, errors


def _everything_written(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.name != ".mask-key")


async def test_versions_diffs_volatile_lines_and_masked_secrets(vrp_sim, tmp_path):
    settings = _settings(vrp_sim.port)
    prober = SshProber(settings, PROFILES, HostKeyStore([], tmp_path / "tofu"))
    store = ConfigStore(tmp_path / "configs")
    secrets = set(SECRET.findall(vrp_sim.config))
    assert len(secrets) >= 6  # the fixture's radius, tacacs, users, community, console password
    try:
        first, errors = await _backup(prober, store, settings)
        assert errors == [] and first["ssh_config"]["ok"] == 1 and first["ssh_config"]["version"] == 1
        assert "config_changed" not in first  # the first version is not a change

        # The same configuration again: no new version.
        again, _ = await _backup(prober, store, settings)
        assert again["ssh_config"] == {**again["ssh_config"], "version": 1, "changed": 0}
        assert len(store.history(TARGET.device)) == 1

        # Only the volatile header changed (someone saved; the clock moved): not a change.
        vrp_sim.config = re.sub(r"(?m)^!Last configuration was (updated|saved) at .*$",
                                r"!Last configuration was \1 at 2026-11-21 03:00:00+08:00 by noc-admin",
                                vrp_sim.config)
        volatile, _ = await _backup(prober, store, settings)
        assert volatile["ssh_config"]["changed"] == 0 and "config_changed" not in volatile

        # A real change: an uplink description and a new VLAN on a port.
        vrp_sim.config = vrp_sim.config.replace(" description UPLINK-TO-EGRESS\n", " description UPLINK-TO-CORE-B\n")
        vrp_sim.config = vrp_sim.config.replace(" port default vlan 100\n#\ninterface GigabitEthernet0/0/2",
                                                " port default vlan 101\n#\ninterface GigabitEthernet0/0/2")
        changed, _ = await _backup(prober, store, settings)
        event = changed["config_changed"]
        assert (event["version"], event["previous_version"], event["added"], event["removed"]) == (2, 1, 2, 2)
        plus = [line for line in event["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")]
        minus = [line for line in event["diff"].splitlines() if line.startswith("-") and not line.startswith("---")]
        assert plus == ["+ description UPLINK-TO-CORE-B", "+ port default vlan 101"]
        assert minus == ["- description UPLINK-TO-EGRESS", "- port default vlan 100"]

        # A password changed: it is a change, and the diff shows which line without the secret.
        old_user = re.search(r"(?m)^ local-user netvigil password irreversible-cipher (\S+)$", vrp_sim.config)[1]
        new_secret = "$1a$Zz9!Qq8W$Newcipher0Newcipher1Newcipher2Newcip$"
        vrp_sim.config = vrp_sim.config.replace(old_user, new_secret)
        secret_change, _ = await _backup(prober, store, settings)
        diff = secret_change["config_changed"]["diff"]
        assert [line.split("<secret:")[0] + "<secret:" for line in diff.splitlines()
                if line.startswith(("+ ", "- "))] == [
            "- local-user netvigil password irreversible-cipher <secret:",
            "+ local-user netvigil password irreversible-cipher <secret:"]
        secrets |= {new_secret}
        written = _everything_written(tmp_path / "configs")
        assert "UPLINK-TO-CORE-B" in written  # the scan does read the versions
        for secret in secrets:
            assert secret not in written and secret not in diff
        assert "Last configuration was" not in written
        assert [v.number for v in store.history(TARGET.device)] == [1, 2, 3]
    finally:
        prober.close()


async def test_failed_fetches_store_nothing(vrp_sim, tmp_path):
    store = ConfigStore(tmp_path / "configs")
    settings = _settings(vrp_sim.port, backup_command="display nonsense")
    prober = SshProber(settings, PROFILES, HostKeyStore([], tmp_path / "tofu"))
    try:
        refused, errors = await _backup(prober, store, settings)
        assert refused["ssh_config"]["ok"] == 0 and refused["ssh_config"]["error_code"] == ErrorCode.COMMAND_FAILED
        assert "Unrecognized command" in errors[0].detail
        wrong_password = _settings(vrp_sim.port, credentials={"c": {"username": "admin", "password": "wrong"}})
        prober.settings = wrong_password
        denied, errors = await _backup(prober, store, wrong_password)
        assert denied["ssh_config"]["error_code"] == ErrorCode.AUTH
        assert store.history(TARGET.device) == []
        no_config = _settings(vrp_sim.port, profiles=["linux"])
        prober.settings = no_config
        missing, errors = await _backup(prober, store, no_config)
        assert missing["ssh_config"]["error_code"] == ErrorCode.COMMAND_FAILED
        assert "backup_command" in errors[0].detail
    finally:
        prober.close()


async def test_backup_over_exec_of_a_linux_file(sshd, tmp_path):
    settings = SshSettings.model_validate({
        "credentials": {"c": {"username": sshd.user, "password": sshd.password}}, "credential": "c",
        "port": sshd.port, "profiles": ["linux"], "backup": True, "backup_command": "cat /etc/os-release",
        "known_hosts": [], "host_key_policy": "tofu"})
    prober = SshProber(settings, PROFILES, HostKeyStore([], tmp_path / "tofu"))
    store = ConfigStore(tmp_path / "configs")
    try:
        result, errors = await _backup(prober, store, settings, Target("srv-1", "127.0.0.1", {"device": "srv-1"}))
    finally:
        prober.close()
    assert errors == [] and result["ssh_config"]["ok"] == 1
    stored = store.read("srv-1", 1)
    assert stored.splitlines() == [line.rstrip() for line in Path("/etc/os-release").read_text().strip().splitlines()]

"""SSH settings and command profiles: credentials from the secret sources, overrides per class,
site and device, one-line sentences for each mistake, and how profiles turn output into
samples (regular expressions, rows, TextFSM templates, maps, expect/forbid)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor import config
from probes.snmp.profiles import ProfileError
from probes.ssh.profiles import SshProfile, command_samples, load_profiles, textfsm_table
from probes.ssh.settings import SshCredential, SshSettings
from tests.unit.test_config import _clean_environment, problems_of, secret_file, write_settings  # noqa: F401

PASSWORD = "Ssh-Pa55word!"

INVENTORY = """\
sites:
  - {name: city, level: city, defaults: {ssh: {credential: noc, interval_s: 600}}}
  - {name: room, parent: city, level: room}
classes:
  switch: {ssh: {profiles: [huawei_vrp], backup: true}}
devices:
  - {name: core, address: 192.0.2.1, class: switch, site: room}
  - {name: srv, address: 192.0.2.2, class: server, site: room, ssh: {profiles: [linux, linux_systemd], port: 2222}}
  - {name: cam, address: 192.0.2.3, class: camera, site: room}
"""

SETTINGS = """\
probes:
  ssh:
    credentials:
      noc: {username: netvigil}
secrets_dir: secrets
"""


@pytest.fixture
def site(tmp_path) -> Path:
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    secret_file(tmp_path / "secrets", "probes__ssh__credentials__noc__password", PASSWORD)
    return tmp_path


def test_effective_settings_and_secrets(site):
    cfg = config.load(write_settings(site, SETTINGS))
    devices = {device.name: device.ssh for device in cfg.inventory.devices}
    assert devices["core"].profiles == ("huawei_vrp",) and devices["core"].backup_active
    assert devices["core"].interval_s == 600 and devices["core"].port == 22
    assert devices["srv"].profiles == ("linux", "linux_systemd") and devices["srv"].port == 2222
    assert not devices["srv"].backup_active and devices["srv"].active
    assert not devices["cam"].active  # a credential but no profiles: nothing to run
    credential = cfg.settings.probes.ssh.credentials["noc"]
    assert credential.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(credential) and config.missing_secrets(cfg) == []


def test_a_missing_password_is_a_sentence_not_an_error(site):
    (site / "secrets" / "probes__ssh__credentials__noc__password").unlink()
    cfg = config.load(write_settings(site, SETTINGS))
    assert config.missing_secrets(cfg) == [
        "probes.ssh.credentials.noc.password: not set; put it in a secret file named "
        "probes__ssh__credentials__noc__password ($CREDENTIALS_DIRECTORY via the unit's LoadCredential=, or "
        "secrets_dir) or in NETVIGIL_PROBES__SSH__CREDENTIALS__NOC__PASSWORD"]
    assert SshCredential(username="x", private_key_file="/etc/netvigil/id_ed25519").missing() == []


@pytest.mark.parametrize("inventory_line, problem", [
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, ssh: {credential: nco}}",
     "devices[3].ssh.credential: unknown credential 'nco' (did you mean 'noc'?) "
     "(probes.ssh.credentials of the settings file)"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, ssh: {profiles: [huawei_vpr]}}",
     "devices[3].ssh.profiles[0]: unknown SSH profile 'huawei_vpr' (did you mean 'huawei_vrp'?); "
     "`netvigil profiles list` shows them"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, ssh: {profiles: [linux, huawei_vrp]}}",
     "devices[3].ssh.profiles: profiles linux (exec linux), huawei_vrp (cli huawei) need different SSH drivers; "
     "one device's profiles must all use the same driver and device type (they share one session)"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, ssh: {cli_workers: 4}}",
     "devices[3].ssh.cli_workers: 'cli_workers' can only be set for all devices, in probes.ssh of the "
     "settings file"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, ssh: {session_timeout_s: 900}}",
     "devices[3].ssh: effective settings (probes.ssh < class switch < site city < device): "
     "session_timeout_s = 900 s must be shorter than interval_s = 600 s"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, ssh: {host_key_policy: trust}}",
     "devices[3].ssh.host_key_policy: must be one of 'known_hosts' or 'tofu' (got 'trust')"),
])
def test_inventory_mistakes_are_one_line_each(site, inventory_line, problem):
    (site / "inventory.yaml").write_text(INVENTORY + f"  - {inventory_line}\n", encoding="utf-8")
    assert problems_of(write_settings(site, SETTINGS)) == [f"{site / 'inventory.yaml'}:10: {problem}"]


def test_settings_mistakes(site):
    text = "probes:\n  ssh:\n    profiles: [linx]\n    credentials: {noc: {username: n, password: p}}\n"
    assert problems_of(write_settings(site, text)) == [
        "probes.ssh.profiles: unknown SSH profile(s) linx (did you mean 'linux'?); `netvigil profiles list` "
        "shows them"]
    both = "probes:\n  ssh:\n    credentials: {noc: {username: n, private_key: x, private_key_file: /k}}\n"
    assert problems_of(write_settings(site, both))[0].endswith(
        "netvigil.yaml:3: probes.ssh.credentials.noc: set private_key or private_key_file, not both")


def test_a_broken_profile_file_is_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\ndriver: cli\ndevice_type: huawei_vrpp\n")
    assert load_profiles([tmp_path])["bad"].device_type == "huawei_vrpp"  # quick loads do not import netmiko
    with pytest.raises(ProfileError) as caught:
        load_profiles([tmp_path], check_drivers=True)
    assert "SSH profile bad: device_type 'huawei_vrpp' is not a netmiko device type" in str(caught.value)
    (tmp_path / "bad.yaml").write_text("name: bad\ndriver: exec\ncommands:\n  - {name: x, command: y, match: '(?P<a'}\n")
    with pytest.raises(ProfileError) as caught:
        load_profiles([tmp_path])
    assert "x.match: invalid regular expression" in str(caught.value)


def test_a_site_profile_replaces_a_shipped_one(tmp_path):
    (tmp_path / "linux.yaml").write_text("name: linux\ndriver: exec\ncommands:\n  - {name: up, command: uptime}\n")
    assert [c.name for c in load_profiles([tmp_path])["linux"].commands] == ["up"]
    assert [c.name for c in load_profiles([])["linux"].commands][:2] == ["uptime", "load"]


# -- output to samples -----------------------------------------------------------------------------

PROFILE = SshProfile.model_validate({
    "name": "t", "driver": "exec", "commands": [
        {"name": "state", "command": "status", "match": r"State:\s*(?P<state>\w+)\s+Temp:\s*(?P<temp_c>[\d.]+)C"
                                                        r"\s+Build:\s*(?P<build>\S+)",
         "map": {"state": {"Normal": 1, "Alarm": 0}}, "text": ["build"], "expect": ["^State:"], "forbid": ["Alarm"]},
        {"name": "fs", "command": "df -P",
         "rows": {"measurement": "disk", "match": r"^(?P<fs>\S+)\s+\d+\s+\d+\s+\d+\s+(?P<used_pct>\d+)%\s+(?P<mount>/\S*)$",
                  "labels": ["fs", "mount"]}},
    ]})
TAGS = {"device": "d"}


def _samples(index: int, output: str, exit_status=0):
    return command_samples(PROFILE, PROFILE.commands[index], output, exit_status, 12.5, TAGS, 1)


def test_match_map_text_expect_and_forbid():
    output = "State: Normal  Temp: 41.5C  Build: 10.20\n"
    [sample] = _samples(0, output)
    assert sample.tags == {"device": "d", "command": "state"}
    assert sample.fields == {"exit_status": 0, "duration_ms": 12.5, "output_bytes": len(output), "state": 1.0,
                             "temp_c": 41.5, "build": "10.20", "ok": 1, "unknown_states": 0}
    [alarm] = _samples(0, "State: Alarm  Temp: 70C  Build: 10.20\n")
    assert alarm.fields["state"] == 0.0 and alarm.fields["ok"] == 0  # forbidden pattern present
    [odd] = _samples(0, "State: Degraded  Temp: 70C  Build: 10.20\n")  # a word the map does not know
    assert "state" not in odd.fields and odd.fields["state_unknown"] == "Degraded"
    assert (odd.fields["unknown_states"], odd.fields["unknown_words"]) == (1, "state=Degraded")
    [changed_cli] = _samples(0, "Status is fine\n")
    assert changed_cli.fields["ok"] == 0 and "state" not in changed_cli.fields  # output not as expected
    [failed] = _samples(0, "State: Normal  Temp: 41C  Build: 1\n", exit_status=2)
    assert failed.fields["ok"] == 0 and failed.fields["exit_status"] == 2


def test_rows_one_sample_per_matching_line():
    output = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
              "/dev/sda1 100 42 58 42% /\n/dev/sdb1 200 190 10 95% /var/lib/records\nnot a row\n")
    samples = _samples(1, output)
    assert [(s.measurement, s.tags.get("mount"), s.fields) for s in samples[1:]] == [
        ("disk", "/", {"used_pct": 42.0}), ("disk", "/var/lib/records", {"used_pct": 95.0})]
    assert samples[1].tags["fs"] == "/dev/sda1" and samples[0].fields["ok"] == 1


def test_textfsm_rows_come_from_ntc_templates():
    from lab.sshsim import capture

    profile = load_profiles([])["huawei_vrp"]
    spec = next(c for c in profile.commands if c.name == "device")
    output = capture("display device")
    samples = command_samples(profile, spec, output, None, 1.0, TAGS, 1)
    table = textfsm_table("huawei_vrp", "display device", output)
    boards = [s for s in samples if s.measurement == "ssh_board"]
    assert len(boards) == len(table) > 5
    assert [s.tags["slot"] for s in boards] == [row["slot"] for row in table]
    assert {s.fields["alarm_status"] for s in boards} <= {0.0, 1.0}
    assert [s.tags["slot"] for s in boards if s.fields.get("role") == 1.0] == ["9", "15"]  # the master MPU, CMU
    assert [s.tags["slot"] for s in boards if s.fields.get("role") == 0.0] == ["10", "16"]
    assert samples[0].fields["unknown_states"] == 0
    with pytest.raises(ValueError, match="no template for huawei_vrp `frobnicate`"):
        textfsm_table("huawei_vrp", "frobnicate", "")


def test_settings_bounds():
    with pytest.raises(ValidationError, match="must be shorter than interval_s"):
        SshSettings(interval_s=60, session_timeout_s=60)
    with pytest.raises(ValidationError, match="credential 'x' is not in credentials"):
        SshSettings(credential="x")


def test_cisco_ios_profile_on_real_captures():
    """Real IOS output (ntc-templates' test captures, tests/fixtures/ssh/SOURCES.md) through
    the shipped profile: the CPU line and `show version` via its TextFSM template."""
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "ssh" / "cisco_ios"
    profile = load_profiles([])["cisco_ios"]
    cpu_spec, _memory, version_spec = profile.commands[:3]
    [cpu] = command_samples(profile, cpu_spec, (fixtures / "show_processes_cpu_include.txt").read_text(), None,
                            1.0, TAGS, 1)
    assert (cpu.fields["cpu_5s_pct"], cpu.fields["cpu_pct"], cpu.fields["cpu_5m_pct"], cpu.fields["ok"]) == (
        4.0, 6.0, 5.0, 1)
    samples = command_samples(profile, version_spec, (fixtures / "show_version.txt").read_text(), None, 1.0, TAGS, 1)
    [info] = [s for s in samples if s.measurement == "ssh_version"]
    assert info.tags["version"] == "12.2(54)SG1" and info.tags["hostname"] == "router1"
    assert (info.fields["uptime_years"], info.fields["uptime_weeks"], info.fields["uptime_days"]) == (2.0, 31.0, 6.0)
    # "2 years, 31 weeks, 6 days, 9 hours, 55 minutes"
    assert info.fields["uptime_s"] == 2 * 365 * 86400 + 31 * 7 * 86400 + 6 * 86400 + 9 * 3600 + 55 * 60

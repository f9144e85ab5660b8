"""`netvigil check` on broken configurations: each prints exactly these lines and exits 2.

One directory per rule under tests/data/broken/ (a settings file, and its inventory when the
rule is about the inventory). The expected lines are what a sysadmin reads: file, line,
field, message. Paths are relative because the command runs in the case's directory.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from monitor import cli
from lab.support import REPO, VENV_BIN

BROKEN = REPO / "tests" / "data" / "broken"

CASES = {
    # ---- settings file
    "settings_syntax_error": [
        "netvigil.yaml:2: YAML syntax error: did not find expected ',' or ']'"],
    "settings_unknown_key": [
        "netvigil.yaml:2: loglevel: unknown key 'loglevel' (did you mean 'log_level'?)"],
    "settings_unknown_nested_key": [
        "netvigil.yaml:4: probes.icmp.countt: unknown key 'countt' (did you mean 'count'?)"],
    "settings_bad_choice": [
        "netvigil.yaml:2: log_level: must be one of 'debug', 'info', 'warning' or 'error' (got 'verbose')"],
    "settings_count_zero": [
        "netvigil.yaml:4: probes.icmp.count: must be >= 1 (got 0)"],
    "settings_count_true": [
        "netvigil.yaml:4: probes.icmp.count: must be a whole number (got true)",
        "netvigil.yaml:5: probes.icmp.timeout_s: must be a number (got false)"],
    "settings_holiday_file": [
        "netvigil.yaml:3: reports.holiday_files: holidays.yaml: 2026-10-10 is listed both as a holiday and as a "
        "working day"],
    "settings_report_times": [
        "netvigil.yaml:3: reports.inspection_times: 1020 is a number, not a time (YAML reads an unquoted 17:00 as "
        "1020); write the time in quotes, e.g. '17:00'",
        "netvigil.yaml:4: reports.reminder_time: '25:00' is not a time of day; write HH:MM in quotes, e.g. '09:00'",
        "netvigil.yaml:7: reports.deliver.formats: unknown format 'pdf'; use html, xlsx or csv"],
    "settings_report_channel": [
        "netvigil.yaml:7: reports.deliver.channels[0]: unknown notification channel 'noc-mial' (did you mean "
        "'noc-mail'?)"],
    "settings_wrong_type": [
        "netvigil.yaml:4: probes.icmp.timeout_s: must be a number (got 'fast')"],
    "settings_run_longer_than_interval": [
        "netvigil.yaml:3: probes.icmp: a run lasts (count-1) x echo_interval_ms + timeout_s = 5.95 s, which must "
        "be shorter than interval_s = 5 s; lower count or timeout_s, or raise interval_s"],
    "settings_influxdb_without_bucket": [
        "netvigil.yaml:3: outputs.influxdb.bucket: required"],
    "settings_duplicate_key": [
        "netvigil.yaml:4: log_level: duplicate key 'log_level' (first at line 2); YAML would silently keep only one"],
    "settings_not_a_mapping": [
        "netvigil.yaml:1: the settings file must be a mapping of keys, not a list"],
    "settings_inventory_missing": [
        "netvigil.yaml:1: inventory[1]: 'missing.yaml' does not exist"],
    "settings_inventory_empty_list": [
        "netvigil.yaml:1: inventory: the list is empty; name at least one inventory file or directory"],
    "settings_inventory_empty_dir": [
        "netvigil.yaml:1: inventory[0]: no *.yaml or *.yml files in directory 'inventory.d'"],
    "settings_secrets_dir_missing": [
        "netvigil.yaml:2: secrets_dir: directory 'secrets' does not exist"],
    "settings_unsafe_tag": [
        "netvigil.yaml:2: log_level: unsupported YAML tag '!!python/object/apply:os.system' "
        "(only plain data is allowed)"],
    # ---- inventory
    "inventory_unknown_class": [
        "inventory.yaml:7: devices[0].class: unknown class 'swtich' (did you mean 'switch'?)"],
    "inventory_unknown_device_key": [
        "inventory.yaml:5: devices[0].address: required",
        "inventory.yaml:6: devices[0].adress: unknown key 'adress' (did you mean 'address'?)"],
    "inventory_unknown_top_key": [
        "inventory.yaml:4: device: unknown key 'device' (did you mean 'devices'?)"],
    "inventory_device_not_a_mapping": [
        "inventory.yaml:5: devices[0]: a device must be a mapping with name, address, class and site "
        "(got 'core-sw-01')"],
    "inventory_duplicate_name": [
        "inventory.yaml:9: devices[1].name: duplicate device name 'core-sw-01' (also at inventory.yaml:5)"],
    "inventory_duplicate_ipv6": [
        "inventory.yaml:10: devices[1].address: address '2001:DB8:0:0::0010' of device 'mgmt-server-02' is "
        "already used by device 'mgmt-server-01' (inventory.yaml:5)"],
    "inventory_duplicate_host_name": [
        "inventory.yaml:10: devices[1].address: address 'NVR-01.Example.org.' of device 'nvr-01-old' is "
        "already used by device 'nvr-01' (inventory.yaml:5)"],
    "inventory_directory_duplicates": [
        "inventory.d/30-cameras.yml:6: devices[1].name: duplicate device name 'core-sw-01' "
        "(also at inventory.d/20-core.yaml:2)"],
    "inventory_unknown_site": [
        "inventory.yaml:8: devices[0].site: unknown site 'distrcit' (did you mean 'district'?)"],
    "inventory_unknown_parent": [
        "inventory.yaml:9: devices[0].parent: unknown device 'egress-rt-01'"],
    "inventory_parent_cycle": [
        "inventory.yaml:9: devices[0].parent: parent cycle: sw-a -> sw-b -> sw-c -> sw-a"],
    "inventory_site_cycle": [
        "inventory.yaml:3: sites[0].parent: site parent cycle: street-01 -> community-01 -> street-01"],
    "inventory_reserved_level": [
        "inventory.yaml:3: sites[0].level: 'site' is a reserved tag key (device, address, class, site); "
        "choose another level name"],
    "inventory_invalid_addresses": [
        "inventory.yaml:6: devices[0].address: invalid address '192.0.2.256': neither an IP address nor a valid "
        "host name",
        "inventory.yaml:10: devices[1].address: invalid address 'cam 02.example.org': neither an IP address nor "
        "a valid host name"],
    "inventory_interval_zero": [
        "inventory.yaml:9: devices[0].icmp.interval_s: must be >= 1 (got 0)"],
    "inventory_effective_run_too_long": [
        "inventory.yaml:7: devices[0].icmp: effective settings (probes.icmp < class camera): a run lasts "
        "(count-1) x echo_interval_ms + timeout_s = 50.95 s, which must be shorter than interval_s = 30 s; "
        "lower count or timeout_s, or raise interval_s (and 2 more devices with the same settings)"],
    "inventory_settings_only_key": [
        "inventory.yaml:5: classes.camera.icmp.echo_interval_ms: 'echo_interval_ms' can only be set for all "
        "devices, in probes.icmp of the settings file"],
    "inventory_name_too_long": [
        "inventory.yaml:5: devices[0].name: '会议室终端-很长的名字很长的名字很长的名字很长的名字很长的名字很长的名字很长的名字很长的名字很长的名字很长的名字很...' "
        "is 306 characters long; names, site levels and tags may have at most 200 (they go into every sample and "
        "alert, and a metrics server refuses a line that is too long); shorten it",
        "inventory.yaml:9: devices[0].tags[1]: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is 201 "
        "characters long; names, site levels and tags may have at most 200 (they go into every sample and alert, "
        "and a metrics server refuses a line that is too long); shorten it"],
    "inventory_count_true": [
        "inventory.yaml:4: sites[0].defaults.snmp.retries: must be a whole number (got true)",
        "inventory.yaml:11: devices[0].icmp.count: must be a whole number (got true)"],
    "inventory_numeric_name": [
        "inventory.yaml:5: devices[0].name: must be a string (got 101); write it in quotes"],
    "inventory_syntax_error": [
        "inventory.yaml:7: YAML syntax error: did not find expected '-' indicator"],
    "inventory_not_utf8": [
        "inventory.yaml:4: not UTF-8 text (byte 0xb6); save the file as UTF-8"],
    # ---- several at once
    "inventory_three_problems": [
        "inventory.yaml:7: devices[0].class: unknown class 'swtich' (did you mean 'switch'?)",
        "inventory.yaml:10: devices[1].address: address '192.0.2.1' of device 'cam-01' is already used by "
        "device 'core-sw-01' (inventory.yaml:5)",
        "inventory.yaml:16: devices[2].site: unknown site 'nowhere'"],
    "settings_and_inventory_problems": [
        "netvigil.yaml:2: log_level: must be one of 'debug', 'info', 'warning' or 'error' (got 'loud')",
        "inventory.yaml:9: devices[0].tags: must be a list of labels, e.g. [uplink, vip] (got 'vip')"],
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("NETVIGIL_") or name in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"):
            monkeypatch.delenv(name)


def test_every_case_directory_is_in_the_table():
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir()) == sorted(CASES)
    assert len(CASES) >= 24


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_prints_each_problem_on_one_line(case, monkeypatch, capsys):
    monkeypatch.chdir(BROKEN / case)
    code = cli.main(["check", "-c", "netvigil.yaml"])
    out, err = capsys.readouterr()
    expected = CASES[case]
    assert (code, out) == (2, "")
    assert err.splitlines() == expected + [f"{len(expected)} problem(s) found"]
    assert "Traceback" not in err


def test_a_file_with_three_different_errors_yields_three_lines(monkeypatch, capsys):
    monkeypatch.chdir(BROKEN / "inventory_three_problems")
    assert cli.main(["check", "-c", "netvigil.yaml"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and lines[-1] == "3 problem(s) found"
    assert [line.split(": ")[1] for line in lines[:3]] == ["devices[0].class", "devices[1].address", "devices[2].site"]


def _environment_without_netvigil() -> dict:
    return {name: value for name, value in os.environ.items()
            if not name.upper().startswith("NETVIGIL_") and name not in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")}


@pytest.mark.parametrize("case", ["inventory_unknown_class", "settings_count_zero"])
def test_console_script_exits_2_with_the_same_lines(case):
    result = subprocess.run([str(VENV_BIN / "netvigil"), "check", "-c", "netvigil.yaml"], cwd=BROKEN / case,
                            capture_output=True, text=True, timeout=60, env=_environment_without_netvigil())
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == CASES[case] + ["1 problem(s) found"]


def test_console_script_names_a_bad_environment_variable():
    env = _environment_without_netvigil() | {"NETVIGIL_PROBES__ICMP__COUNT": "0"}
    result = subprocess.run([str(VENV_BIN / "netvigil"), "check", "-c", "config/netvigil.yaml"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "environment NETVIGIL_PROBES__ICMP__COUNT: probes.icmp.count: must be >= 1 (got 0)", "1 problem(s) found"]


def test_valid_configuration_prints_one_ok_line(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert cli.main(["check", "-c", "config/netvigil.yaml"]) == 0
    out, err = capsys.readouterr()
    assert out == "ok: config/netvigil.yaml: 17 devices in 8 sites from 1 inventory file\n"
    # The example has no API token and no notification channel: allowed, but worth saying.
    warnings = err.splitlines()
    assert all(line.startswith("warning: ") for line in warnings)
    assert [w.split(":")[1].split()[0] for w in warnings] == ["api.token", "notifications.channels"]


def test_missing_settings_file_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "-c", "nowhere.yaml"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "nowhere.yaml: cannot read the settings file: No such file or directory\n")


def test_settings_path_that_is_a_directory_is_one_line(tmp_path, capsys):
    assert cli.main(["check", "-c", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"{tmp_path}: cannot read the settings file: Is a directory\n"


def test_an_internal_error_is_one_line_without_traceback(monkeypatch, capsys):
    from monitor import config

    def broken_load(path):
        raise RuntimeError("token=hunter2-should-not-show")

    monkeypatch.setattr(config, "load", broken_load)
    assert cli.main(["check", "-c", "x.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("netvigil check: internal error RuntimeError at ")
    assert "hunter2" not in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_a_300_kb_device_name_is_refused_in_one_short_line(tmp_path, monkeypatch, capsys):
    # A name this long passed `check` and made the metrics server refuse every batch that held
    # one of its samples, losing other devices' data with it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "netvigil.yaml").write_text("inventory: [inventory.yaml]\n")
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room}\ndevices:\n"
        f"  - {{name: {'n' * 300_000}, address: 192.0.2.1, class: switch, site: room}}\n"
        f"  - {{name: ok, address: 192.0.2.2, class: switch, site: room, parent: {'p' * 201}}}\n")
    assert cli.main(["check", "-c", "netvigil.yaml"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("inventory.yaml:4: devices[0].name: 'nnnn") and "300,000 characters long" in lines[0]
    assert lines[1].startswith("inventory.yaml:5: devices[1].parent: 'pppp") and "201 characters" in lines[1]
    assert all(len(line) < 400 for line in lines)

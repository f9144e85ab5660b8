"""Settings: sources and their priority, secret files, paths, and the example files."""

from __future__ import annotations

import logging
import os
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor import cli, config
from lab.support import REPO

INVENTORY = """\
sites:
  - {name: district, level: district}
devices:
  - {name: core-sw-01, address: 192.0.2.1, class: switch, site: district}
"""
INFLUX = "outputs:\n  influxdb:\n    url: http://influx.example:8086\n    bucket: netvigil\n"
SECRET = "s3cr3t-Token-Do-Not-Print"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("NETVIGIL_") or name in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"):
            monkeypatch.delenv(name)


@pytest.fixture
def site(tmp_path) -> Path:
    """A directory with a valid inventory; tests write their own settings file."""
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    return tmp_path


def write_settings(directory: Path, text: str) -> Path:
    path = directory / "netvigil.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    return caught.value.problems


# ----------------------------------------------------------------------------- defaults and paths

def test_defaults_and_paths_relative_to_the_settings_file(site):
    cfg = config.load(write_settings(site, "# all defaults\n"))
    settings = cfg.settings
    assert settings.inventory == [site / "inventory.yaml"]
    assert settings.state_dir == Path("/var/lib/netvigil")
    assert settings.control_socket == Path("/var/lib/netvigil/netvigil.sock")
    assert (settings.log_level, settings.secrets_dir) == ("info", None)
    assert settings.probes.icmp.count == 20
    assert settings.outputs.influxdb is None and settings.outputs.embedded_enabled()
    assert settings.scheduler.slot_s == 1.0
    assert cfg.path == site / "netvigil.yaml"
    assert [d.name for d in cfg.inventory.devices] == ["core-sw-01"]


def test_relative_paths_resolve_against_the_settings_directory_not_the_working_one(site, monkeypatch, tmp_path_factory):
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    settings = config.load(write_settings(site, "state_dir: state\ncontrol_socket: run/nv.sock\n")).settings
    assert settings.state_dir == site / "state"
    assert settings.control_socket == site / "run" / "nv.sock"


def test_state_dir_defaults_to_systemd_state_directory(site, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/netvigil-a:/var/lib/other")
    settings = config.load(write_settings(site, "log_level: info\n")).settings
    assert settings.state_dir == Path("/var/lib/netvigil-a")
    assert settings.control_socket == Path("/var/lib/netvigil-a/netvigil.sock")


def test_inventory_may_be_a_single_path_and_directories_are_read_in_name_order(tmp_path):
    inv = tmp_path / "inventory.d"
    inv.mkdir()
    (inv / "20-devices.yml").write_text(
        "devices:\n  - {name: sw-1, address: 192.0.2.1, class: switch, site: district}\n", encoding="utf-8")
    (inv / "10-sites.yaml").write_text("sites:\n  - {name: district}\n", encoding="utf-8")
    (inv / "notes.txt").write_text("not read", encoding="utf-8")
    (inv / ".#10-sites.yaml").write_text("{{ an editor's lock file, not read", encoding="utf-8")
    cfg = config.load(write_settings(tmp_path, "inventory: inventory.d\n"))
    assert cfg.inventory.files == (str(inv / "10-sites.yaml"), str(inv / "20-devices.yml"))
    assert cfg.inventory.by_name("sw-1").source == f"{inv / '20-devices.yml'}:2"


def test_load_can_leave_out_one_inventory_file(tmp_path):
    (tmp_path / "a.yaml").write_text(INVENTORY, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(INVENTORY, encoding="utf-8")  # would duplicate everything
    path = write_settings(tmp_path, "inventory: [a.yaml, b.yaml]\n")
    assert config.load(path, exclude=tmp_path / "b.yaml").inventory.files == (str(tmp_path / "a.yaml"),)
    assert any("duplicate device name" in p for p in problems_of(path))


def test_load_settings_alone_does_not_read_the_inventory(tmp_path):
    path = write_settings(tmp_path, "inventory: [missing.yaml]\nlog_level: debug\n")
    assert config.load_settings(path).log_level == "debug"


# ----------------------------------------------------------------------------- environment

def test_environment_wins_over_the_file_and_merges_with_it(site, monkeypatch):
    monkeypatch.setenv("NETVIGIL_PROBES__ICMP__COUNT", "10")
    monkeypatch.setenv("NETVIGIL_LOG_LEVEL", "debug")
    settings = config.load(write_settings(site, "probes:\n  icmp:\n    count: 5\n    interval_s: 60\n")).settings
    assert (settings.probes.icmp.count, settings.probes.icmp.interval_s, settings.log_level) == (10, 60, "debug")


def test_environment_inventory_takes_a_plain_path_or_a_json_list(site, monkeypatch):
    monkeypatch.setenv("NETVIGIL_INVENTORY", str(site / "inventory.yaml"))
    assert config.load(write_settings(site, "inventory: [missing.yaml]\n")).settings.inventory == [
        site / "inventory.yaml"]
    monkeypatch.setenv("NETVIGIL_INVENTORY", '["inventory.yaml"]')
    assert config.load(site / "netvigil.yaml").settings.inventory == [site / "inventory.yaml"]


@pytest.mark.parametrize("name, value, problem", [
    ("NETVIGIL_PROBES__ICMP__COUNT", "0",
     "environment NETVIGIL_PROBES__ICMP__COUNT: probes.icmp.count: must be >= 1 (got 0)"),
    ("NETVIGIL_LOG_LEVEL", "loud",
     "environment NETVIGIL_LOG_LEVEL: log_level: must be one of 'debug', 'info', 'warning' or 'error' (got 'loud')"),
    ("NETVIGIL_PROBES__ICMP__COUNTT", "5",
     "environment NETVIGIL_PROBES__ICMP__COUNTT: probes.icmp.countt: unknown key 'countt' (did you mean 'count'?)"),
    ("NETVIGIL_PROBES__ICMP", '{"count": x}',
     "environment NETVIGIL_PROBES__ICMP: probes.icmp: not valid JSON (give a nested setting as JSON, or key by "
     "key as NETVIGIL_PROBES__ICMP__KEY)"),
    ("NETVIGIL_PROBES_ICMP_COUNT", "5",
     "environment NETVIGIL_PROBES_ICMP_COUNT: unknown key 'probes_icmp_count' (nested keys are separated by '__': "
     "NETVIGIL_PROBES__...)"),
    ("NETVIGIL_LOGLEVEL", "debug",
     "environment NETVIGIL_LOGLEVEL: unknown key 'loglevel' (did you mean 'log_level'?)"),
])
def test_environment_problems_name_the_variable(site, monkeypatch, name, value, problem):
    monkeypatch.setenv(name, value)
    assert problems_of(write_settings(site, "probes:\n  icmp:\n    count: 5\n")) == [problem]


def test_plain_settings_construction_reads_the_environment(monkeypatch):
    monkeypatch.setenv("NETVIGIL_LOG_LEVEL", "warning")
    monkeypatch.setenv("NETVIGIL_OUTPUTS__INFLUXDB__URL", "http://influx.example:8086")
    monkeypatch.setenv("NETVIGIL_OUTPUTS__INFLUXDB__BUCKET", "b")
    settings = config.Settings()
    assert settings.log_level == "warning"
    assert settings.outputs.influxdb.bucket == "b"


# ----------------------------------------------------------------------------- secrets

def secret_file(directory: Path, name: str, value: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(value + "\n", encoding="utf-8")
    return path


def test_secret_from_systemd_credentials_directory(site, monkeypatch):
    secret_file(site / "creds", "outputs__influxdb__token", SECRET)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(site / "creds"))
    token = config.load(write_settings(site, INFLUX)).settings.outputs.influxdb.token
    assert token.get_secret_value() == SECRET


def test_secret_from_secrets_dir_relative_to_the_settings_file(site):
    secret_file(site / "secrets", "outputs__influxdb__token", SECRET)
    settings = config.load(write_settings(site, INFLUX + "secrets_dir: secrets\n")).settings
    assert settings.outputs.influxdb.token.get_secret_value() == SECRET
    assert settings.secrets_dir == site / "secrets"


def test_priority_environment_then_credentials_then_secrets_dir_then_file(site, monkeypatch):
    path = write_settings(site, INFLUX + "    token: from-file\nsecrets_dir: secrets\n")
    (site / "secrets").mkdir()
    assert config.load(path).settings.outputs.influxdb.token.get_secret_value() == "from-file"
    secret_file(site / "secrets", "outputs__influxdb__token", "from-secrets-dir")
    assert config.load(path).settings.outputs.influxdb.token.get_secret_value() == "from-secrets-dir"
    secret_file(site / "creds", "outputs__influxdb__token", "from-credentials")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(site / "creds"))
    assert config.load(path).settings.outputs.influxdb.token.get_secret_value() == "from-credentials"
    monkeypatch.setenv("NETVIGIL_OUTPUTS__INFLUXDB__TOKEN", "from-environment")
    assert config.load(path).settings.outputs.influxdb.token.get_secret_value() == "from-environment"


def test_missing_credentials_directory_is_a_problem(site, monkeypatch):
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(site / "nowhere"))
    assert problems_of(write_settings(site, "")) == [
        f"environment CREDENTIALS_DIRECTORY: directory '{site / 'nowhere'}' does not exist"]


def run_check(path: Path, capsys, caplog) -> str:
    caplog.set_level(logging.DEBUG)
    assert cli.main(["check", "-c", str(path)]) == 2
    out, err = capsys.readouterr()
    return out + err + caplog.text


def test_an_invalid_value_from_a_secret_file_is_never_shown(site, monkeypatch, capsys, caplog):
    secret_file(site / "creds", "probes__icmp__count", SECRET)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(site / "creds"))
    output = run_check(write_settings(site, ""), capsys, caplog)
    assert SECRET not in output
    assert f"secret file {site / 'creds' / 'probes__icmp__count'}: probes.icmp.count: must be a whole number\n" \
        in output


def test_an_invalid_secret_field_in_the_file_is_never_shown(site, capsys, caplog):
    output = run_check(write_settings(site, INFLUX + f"    token: [{SECRET}]\n"), capsys, caplog)
    assert SECRET not in output
    assert "netvigil.yaml:5: outputs.influxdb.token: must be a string\n" in output


def test_a_secret_is_not_shown_when_its_section_is_invalid(site, monkeypatch, capsys, caplog):
    secret_file(site / "creds", "outputs__influxdb__token", SECRET)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(site / "creds"))
    output = run_check(write_settings(site, "outputs:\n  influxdb:\n    bucket: b\n    gzip: maybe\n"), capsys, caplog)
    assert SECRET not in output
    assert "netvigil.yaml:2: outputs.influxdb.url: required" in output
    assert "netvigil.yaml:4: outputs.influxdb.gzip: must be true or false (got 'maybe')" in output


def test_a_section_problem_is_placed_in_the_settings_file_not_in_a_secret_file_inside_it(site, monkeypatch):
    # The password comes from a secret file; the timings that clash are in the settings file.
    secret_file(site / "creds", "probes__ssh__credentials__admin__password", SECRET)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(site / "creds"))
    path = write_settings(site, "probes:\n  ssh:\n    interval_s: 60\n    session_timeout_s: 120\n"
                                "    credentials:\n      admin: {username: admin}\n")
    assert problems_of(path) == [
        f"{path}:2: probes.ssh: session_timeout_s = 120 s must be shorter than interval_s = 60 s"]


def test_a_secret_value_quoted_by_another_field_is_masked(site, monkeypatch, capsys, caplog):
    # Last line of defence: the same text pasted into a non-secret field is still masked.
    monkeypatch.setenv("NETVIGIL_OUTPUTS__INFLUXDB__TOKEN", SECRET)
    output = run_check(write_settings(site, INFLUX + f"log_level: {SECRET}\n"), capsys, caplog)
    assert SECRET not in output
    assert "log_level: must be one of 'debug', 'info', 'warning' or 'error' (got '***')" in output


def test_secrets_stay_out_of_repr_and_errors(site, monkeypatch):
    monkeypatch.setenv("NETVIGIL_OUTPUTS__INFLUXDB__TOKEN", SECRET)
    cfg = config.load(write_settings(site, INFLUX))
    assert SECRET not in repr(cfg) and SECRET not in str(cfg.settings)
    with pytest.raises(config.ConfigError) as caught:
        config.load(write_settings(site, INFLUX + "log_level: loud\n"))
    assert SECRET not in str(caught.value) and SECRET not in "".join(caught.value.problems)


# ----------------------------------------------------------------------------- example files

EXAMPLES = sorted(REPO.glob("config/**/netvigil*.yaml"))


def test_the_examples_are_found():
    assert REPO / "config" / "netvigil.yaml" in EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(REPO)) for p in EXAMPLES])
def test_every_example_settings_file_loads(path):
    cfg = config.load(path)
    assert cfg.inventory.devices


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + (field.alias or name))
        annotation = field.annotation
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys += _keys(candidate, f"{prefix}{name}.")
    return keys


def test_the_example_settings_file_documents_every_key():
    lines = (REPO / "config" / "netvigil.yaml").read_text(encoding="utf-8").splitlines()
    # Commented-out sections count: strip the comment marker, keep the indentation.
    text = [line[line.index("#") + 1:] if line.lstrip().startswith("# ") and ":" in line else line
            for line in lines]
    missing = []
    for key in _keys(config.Settings):
        *parents, leaf = key.split(".")
        # Each parent must appear, then the leaf below it, in that order.
        position = 0
        for part in parents + [leaf]:
            found = next((i for i in range(position, len(text)) if text[i].strip().startswith(part + ":")), None)
            if found is None:
                missing.append(key)
                break
            position = found + 1
    assert missing == []


def test_the_example_settings_show_the_defaults():
    cfg = config.load(REPO / "config" / "netvigil.yaml")
    defaults = config.Settings.model_validate({})
    assert cfg.settings.probes == defaults.probes
    assert cfg.settings.outputs == defaults.outputs
    assert cfg.settings.scheduler == defaults.scheduler
    assert (cfg.settings.state_dir, cfg.settings.log_level) == (Path("/var/lib/netvigil"), "info")


def test_load_settings_masks_secrets_too(site, monkeypatch):
    monkeypatch.setenv("NETVIGIL_OUTPUTS__INFLUXDB__TOKEN", SECRET)
    with pytest.raises(config.ConfigError) as caught:
        config.load_settings(write_settings(site, INFLUX + f"log_level: {SECRET}\n"))
    assert caught.value.problems == [
        f"{site / 'netvigil.yaml'}:5: log_level: must be one of 'debug', 'info', 'warning' or 'error' (got '***')"]


def test_a_binary_secret_file_is_one_line_naming_it(site, monkeypatch, capsys, caplog):
    (site / "creds").mkdir()
    (site / "creds" / "outputs__influxdb__token").write_bytes(b"\xff\xfe" + SECRET.encode())
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(site / "creds"))
    output = run_check(write_settings(site, INFLUX), capsys, caplog)
    assert SECRET not in output and "Traceback" not in output
    assert output.splitlines()[0] == f"secret file {site / 'creds' / 'outputs__influxdb__token'}: not UTF-8 text"


# ----------------------------------------------------------------------------- found in review

def test_a_url_with_credentials_is_refused_without_quoting_it(site):
    path = write_settings(site, "outputs:\n  influxdb_v1: {url: 'http://admin:Pa55word@127.0.0.1:8086', database: x}\n"
                                "  influxdb: {url: 'ftp://host', bucket: b}\n")
    problems = problems_of(path)
    assert problems == [
        f"{path}:2: outputs.influxdb_v1.url: must not contain a user name or password (URLs are logged); "
        f"use outputs.influxdb_v1.username and password",
        f"{path}:3: outputs.influxdb.url: must be an http:// or https:// URL with a host, "
        f"e.g. http://influx.example:8086",
    ]
    assert "Pa55word" not in "\n".join(problems)


def test_a_malformed_environment_value_holding_a_secret_is_not_quoted(site, monkeypatch):
    path = write_settings(site, "state_dir: state\n")
    monkeypatch.setenv("NETVIGIL_OUTPUTS__INFLUXDB", '{"token": "S3CRETTOKEN", "url": ')
    problems = problems_of(path)
    assert problems == ["environment NETVIGIL_OUTPUTS__INFLUXDB: outputs.influxdb: must be a mapping"]

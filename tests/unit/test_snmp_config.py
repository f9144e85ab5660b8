"""SNMP settings: credentials with secrets from the secret sources, per class/site/device
overrides in the inventory, and the sentences a sysadmin gets for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor import config
from probes.snmp.settings import SnmpCredential, SnmpSettings, missing_secrets, used_credentials
from tests.unit.test_config import _clean_environment, problems_of, secret_file, write_settings  # noqa: F401

COMMUNITY = "Pr1vate-C0mmunity"
PASSPHRASE = "auth-Pass-Phrase-9"

INVENTORY = """\
sites:
  - {name: city, level: city, defaults: {snmp: {credential: city-v3, interval_s: 120}}}
  - {name: room, parent: city, level: room}
classes:
  ups: {snmp: {timeout_s: 4, max_varbinds_per_request: 8}}
devices:
  - {name: core, address: 192.0.2.1, class: switch, site: room}
  - {name: ups-1, address: 192.0.2.2, class: ups, site: room}
  - {name: old-ups, address: 192.0.2.3, class: ups, site: room, snmp: {credential: campus, port: 1161}}
  - {name: cam, address: 192.0.2.4, class: camera, site: room, snmp: {enabled: false}}
"""

SETTINGS = """\
probes:
  snmp:
    credentials:
      campus: {version: v2c}
      city-v3: {version: v3, user: noc, auth_protocol: sha256, priv_protocol: aes}
secrets_dir: secrets
"""


@pytest.fixture
def site(tmp_path) -> Path:
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    secret_file(tmp_path / "secrets", "probes__snmp__credentials__campus__community", COMMUNITY)
    secret_file(tmp_path / "secrets", "probes__snmp__credentials__city-v3__auth_passphrase", PASSPHRASE)
    secret_file(tmp_path / "secrets", "probes__snmp__credentials__city-v3__priv_passphrase", PASSPHRASE + "p")
    return tmp_path


def test_effective_settings_settings_then_class_then_sites_then_device(site):
    cfg = config.load(write_settings(site, SETTINGS))
    devices = {device.name: device.snmp for device in cfg.inventory.devices}
    assert (devices["core"].credential, devices["core"].interval_s, devices["core"].timeout_s) == ("city-v3", 120, 2)
    assert (devices["ups-1"].credential, devices["ups-1"].timeout_s, devices["ups-1"].max_varbinds_per_request) == (
        "city-v3", 4, 8)
    assert (devices["old-ups"].credential, devices["old-ups"].port, devices["old-ups"].timeout_s) == ("campus", 1161, 4)
    assert not devices["cam"].active and devices["core"].active
    # Secrets came from secret files named by key path, and stay secret.
    credential = cfg.settings.probes.snmp.credentials["campus"]
    assert credential.community.get_secret_value() == COMMUNITY
    assert COMMUNITY not in repr(cfg.settings) and PASSPHRASE not in repr(cfg.settings)
    assert missing_secrets(cfg.settings.probes.snmp, used_credentials(cfg.inventory.devices)) == []


def test_the_row_bounds_have_defaults_and_a_big_chassis_may_raise_its_own(site):
    chassis = ("  - {name: core-chassis, address: 192.0.2.9, class: switch, site: room, "
               "snmp: {max_rows_per_table: 50000, max_rows_per_device: 120000}}\n")
    (site / "inventory.yaml").write_text(INVENTORY + chassis, encoding="utf-8")
    devices = {device.name: device.snmp for device in config.load(write_settings(site, SETTINGS)).inventory.devices}
    assert (devices["core"].max_rows_per_table, devices["core"].max_rows_per_device,
            devices["core"].max_index_length) == (10_000, 30_000, 64)
    assert (devices["core-chassis"].max_rows_per_table, devices["core-chassis"].max_rows_per_device) == (
        50_000, 120_000)


def test_without_a_credential_snmp_is_off(tmp_path):
    (tmp_path / "inventory.yaml").write_text(
        "sites: [{name: room}]\ndevices:\n  - {name: sw, address: 192.0.2.1, class: switch, site: room}\n")
    cfg = config.load(write_settings(tmp_path, "# defaults\n"))
    assert not cfg.inventory.devices[0].snmp.active


def test_a_missing_secret_is_named_with_where_to_put_it_never_its_value(site):
    (site / "secrets" / "probes__snmp__credentials__campus__community").unlink()
    cfg = config.load(write_settings(site, SETTINGS))  # loading works: status/check must run from a shell
    assert missing_secrets(cfg.settings.probes.snmp, used_credentials(cfg.inventory.devices)) == [
        "probes.snmp.credentials.campus.community: not set; put it in a secret file named "
        "probes__snmp__credentials__campus__community ($CREDENTIALS_DIRECTORY via the unit's LoadCredential=, "
        "or secrets_dir) or in NETVIGIL_PROBES__SNMP__CREDENTIALS__CAMPUS__COMMUNITY"]


def test_the_environment_may_carry_a_community(site, monkeypatch):
    monkeypatch.setenv("NETVIGIL_PROBES__SNMP__CREDENTIALS__CAMPUS__COMMUNITY", "from-env")
    cfg = config.load(write_settings(site, SETTINGS))
    assert cfg.settings.probes.snmp.credentials["campus"].community.get_secret_value() == "from-env"


@pytest.mark.parametrize("inventory_line, problem", [
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, snmp: {credential: campsu}}",
     "devices[4].snmp.credential: unknown credential 'campsu' (did you mean 'campus'?) "
     "(probes.snmp.credentials of the settings file)"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, snmp: {profiles: [hikvison]}}",
     "devices[4].snmp.profiles[0]: unknown SNMP profile 'hikvison' (did you mean 'hikvision'?); "
     "`netvigil profiles list` shows them"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, snmp: {max_in_flight: 4}}",
     "devices[4].snmp.max_in_flight: 'max_in_flight' can only be set for all devices, in probes.snmp of the "
     "settings file"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, snmp: {retries: 2, timeout_s: 50}}",
     "devices[4].snmp: effective settings (probes.snmp < site city < device): a device that does not answer "
     "costs timeout_s x (retries + 1) = 150 s, which must be shorter than interval_s = 120 s"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, snmp: {port: 0}}",
     "devices[4].snmp.port: must be >= 1 (got 0)"),
    ("{name: sw, address: 192.0.2.9, class: switch, site: room, snmp: {max_index_length: 200}}",
     "devices[4].snmp.max_index_length: must be <= 128 (got 200)"),
])
def test_inventory_mistakes_are_one_line_each(site, inventory_line, problem):
    (site / "inventory.yaml").write_text(INVENTORY + f"  - {inventory_line}\n", encoding="utf-8")
    assert problems_of(write_settings(site, SETTINGS)) == [f"{site / 'inventory.yaml'}:11: {problem}"]


@pytest.mark.parametrize("credential, problem", [
    ("{version: v2c, user: noc}",
     "user, auth_protocol and priv_protocol are v3 settings; this credential is v2c (set version: v3, or remove them)"),
    ("{version: v3}", "SNMP v3 needs a user"),
    ("{version: v3, user: noc, priv_protocol: aes}",
     "privacy needs authentication: set auth_protocol too (USM has no noAuthPriv level)"),
    ("{version: v3, user: noc, auth_protocol: sha, auth_passphrase: tiny7}",
     "auth_passphrase needs at least 8 characters with sha (RFC 3414; agents refuse shorter ones)"),
    ("{version: v3, user: noc, priv_protocol: 3des, auth_protocol: sha}", None),
])
def test_credential_mistakes_name_the_credential(site, credential, problem):
    text = f"probes:\n  snmp:\n    credentials:\n      bad: {credential}\n"
    problems = problems_of(write_settings(site, text))
    assert problems[0].startswith(f"{site / 'netvigil.yaml'}:4: probes.snmp.credentials.bad")
    if problem is not None:
        assert problems[0].endswith(problem)
    else:
        assert "'none', 'des', 'aes'" in problems[0]  # the choices are listed
    assert "tiny7" not in "\n".join(problems)  # a (too short) secret is not quoted back


def test_credential_secrets_stay_out_of_reprs_and_errors():
    credential = SnmpCredential(version="v3", user="noc", auth_protocol="sha", auth_passphrase=PASSPHRASE,
                                priv_protocol="aes", priv_passphrase=PASSPHRASE)
    assert PASSPHRASE not in repr(credential) and PASSPHRASE not in str(credential)
    assert credential.level == "authPriv" and credential.missing() == []


def test_the_default_credential_must_exist():
    with pytest.raises(ValidationError) as caught:
        SnmpSettings(credential="campus")
    assert "credential 'campus' is not in credentials (none defined)" in str(caught.value)

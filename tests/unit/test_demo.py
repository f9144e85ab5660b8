"""The quick-start demo's data hangs together: scripts/demo.sh serves snmpsim on the addresses
of the inventory's SNMP devices but the one meant to be silent, every credential names a
recording in config/demo/snmprec/, and those are identical to the test fixtures they were
copied from, each listed with its provenance (the demo itself: tests/integration/test_demo.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from lab import snmprec
from lab.support import REPO
from monitor import config

DEMO = REPO / "config" / "demo"
RECORDINGS = DEMO / "snmprec"
SCRIPT = (REPO / "scripts" / "demo.sh").read_text()
#: The demo's one SNMP device whose agent must not answer: its fault is the demo's open fault.
SILENT = "stats-ups-01"


def _cfg():
    return config.load(DEMO / "netvigil.yaml")


def _script_list(name: str) -> list[str]:
    match = re.search(rf"^{name}=\((.*)\)$", SCRIPT, re.M)
    assert match, f"scripts/demo.sh has no {name}=(...) line"
    return match.group(1).split()


def test_snmpsim_answers_on_every_snmp_device_but_the_silent_one():
    cfg = _cfg()
    snmp_devices = {device.name: device for device in cfg.inventory.devices if device.snmp.active}
    assert SILENT in snmp_devices
    served = _script_list("snmp_addresses")
    assert sorted(served) == sorted(d.address for name, d in snmp_devices.items() if name != SILENT)
    assert snmp_devices[SILENT].address not in served
    port = int(re.search(r"^snmp_port=(\d+)$", SCRIPT, re.M).group(1))
    assert {d.snmp.port for d in snmp_devices.values()} == {port}


def test_every_credential_is_a_recording_and_every_recording_is_used():
    cfg = _cfg()
    credentials = cfg.settings.probes.snmp.credentials
    used = {device.snmp.credential for device in cfg.inventory.devices if device.snmp.active}
    assert used == set(credentials)
    communities = {credential.community.get_secret_value() for credential in credentials.values()}
    assert communities == {path.stem for path in RECORDINGS.glob("*.snmprec")}


def test_recordings_are_identical_to_the_fixtures_and_listed_with_their_source():
    readme = (RECORDINGS / "README.md").read_text()
    files = sorted(RECORDINGS.glob("*.snmprec"))
    assert len(files) == 5
    for path in files:
        assert path.read_bytes() == snmprec.path(path.stem).read_bytes(), f"{path.name} differs from the fixture"
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{path.name}` |")), None)
        assert row is not None, f"{path.name} is not in config/demo/snmprec/README.md"
        assert re.search(r"@ `[0-9a-f]{40}`", row), f"{path.name}: no source commit in the README"


def test_the_demo_extra_installs_snmpsim_as_the_tests_do():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = {re.split(r"[<>=]", spec)[0]: spec for spec in extras["demo"]}
    assert set(pins) == {"snmpsim", "pysmi"}
    assert set(pins.values()) <= set(extras["test"])
    assert re.search(r"^scripts/setup-venv\.sh demo$", SCRIPT, re.M)


def test_the_readme_quick_start_is_one_command():
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first_block = quick_start.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block == "bash scripts/demo.sh\n"
    assert Path(REPO / "scripts" / "demo.sh").exists()

"""`netvigil faults|ack|resolve|close|maintenance` against a real fault store in a temp state dir,
and the same commands against a real PostgreSQL server (`faults.database`; lab/postgres.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.faults.model import DeviceInfo
from monitor.faults.settings import SlaSettings
from monitor.faults.store import FaultStore

INVENTORY = """
sites:
  - {name: district, level: district}
  - {name: room, parent: district, level: room}
  - {name: street-03, parent: district, level: street}
devices:
  - {name: core-sw, address: 127.0.60.1, class: switch, site: room}
  - {name: codec-1, address: 127.0.60.2, class: codec, site: street-03, parent: core-sw, tags: [conference]}
  - {name: server-1, address: 127.0.60.3, class: server, site: room}
"""


@pytest.fixture
def site(tmp_path: Path, fault_database) -> Path:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    settings = tmp_path / "netvigil.yaml"
    database = f", database: {{url: '{fault_database.settings.url}'}}" if fault_database.server else ""
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
                        f"faults: {{timezone: Asia/Shanghai, budget: {{faults_per_month: 1}}{database}}}\n")
    (tmp_path / "state").mkdir()
    fault_database.path = tmp_path / "state" / "faults.db"
    return settings


def _device(name: str, cls: str, site_path: tuple) -> DeviceInfo:
    return DeviceInfo(name, cls, site_path)


def _open(store: FaultStore, name: str, cls: str, site_path: tuple, rule="device_unreachable", at=None, **kw):
    fault, _ = store.open(_device(name, cls, site_path), rule, "", severity="critical",
                          message=f"{name} does not answer ping", value=100.0, threshold=None, higher_is_worse=True,
                          at=at or time.time() - 120, sla=SlaSettings(), reopen_window_s=600, **kw)
    return fault


@pytest.fixture
def faults(site, fault_database):
    store = fault_database.open()
    core = _open(store, "core-sw", "switch", ("district", "room"))
    codec = _open(store, "codec-1", "codec", ("district", "street-03"), symptom_of=core.id)
    server = _open(store, "server-1", "server", ("district", "room"), rule="cpu_high_host")
    _open(store, "server-1", "server", ("district", "room"), rule="memory_high_host")
    store.disconnect()
    return {"core": core.id, "codec": codec.id, "server": server.id}


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_no_records_yet_is_a_sentence(site, capsys, fault_database):
    code, out, err = run(capsys, "faults", "-c", str(site))
    where = f"in {fault_database.settings.shown()}" if fault_database.server else "at"
    assert code == 1 and f"no fault records {where}" in err and "Traceback" not in err


def test_list_open_with_symptoms_and_budget(site, faults, capsys):
    code, out, err = run(capsys, "faults", "--open", "-c", str(site))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["ID", "STATE", "SEVERITY", "DEVICE", "RULE"]
    codec_line = next(line for line in lines if " codec-1 " in line)
    assert f"symptom of {faults['core']}" in codec_line
    assert "over the monthly budget of 1 faults this month: server-1 (2)" in out


def test_list_json_and_site_filter(site, faults, capsys):
    code, out, _ = run(capsys, "faults", "--json", "--site", "street-03", "-c", str(site))
    data = json.loads(out)
    assert code == 0 and [f["device"] for f in data["faults"]] == ["codec-1"]
    assert data["over_budget"] == [{"device": "server-1", "faults": 2}]


def test_show_has_clocks_and_symptoms(site, faults, capsys):
    code, out, _ = run(capsys, "faults", "show", str(faults["core"]), "-c", str(site))
    assert code == 0
    assert "codec-1" in out and "1 symptom behind it: codec-1" in out
    assert "  site:         district/room   class: switch" in out.splitlines()
    assert "left of SLA 3m" in out or "BREACHED" in out
    code, out, _ = run(capsys, "faults", "show", str(faults["codec"]), "-c", str(site))
    assert f"symptom of:   fault {faults['core']}" in out and "no SLA clock" in out


def test_ack_resolve_close_lifecycle(site, faults, capsys, fault_database):
    fid = str(faults["core"])
    code, out, err = run(capsys, "close", fid, "--cause", "power", "--resolution", "restored", "--prevention", "UPS",
                         "--by", "li", "-c", str(site))
    assert code == 1 and "resolve it first" in err
    code, out, err = run(capsys, "ack", fid, "--by", "wang.fang", "--note", "driving there", "-c", str(site))
    assert code == 0 and f"fault {fid} acknowledged by wang.fang" in out, err
    code, out, err = run(capsys, "ack", fid, "--by", "someone.else", "-c", str(site))
    assert code == 1 and "wang.fang" in err
    code, out, err = run(capsys, "resolve", fid, "--by", "wang.fang", "-c", str(site))
    assert code == 0 and "netvigil close" in out
    code, out, err = run(capsys, "close", fid, "--cause", "power cut in room", "--resolution", "breaker reset",
                         "--prevention", "second feed", "--by", "wang.fang", "-c", str(site))
    assert code == 0, err
    code, out, _ = run(capsys, "faults", "show", fid, "-c", str(site))
    assert "CLOSED" in out and "cause:        power cut in room" in out and "driving there" in out
    store = fault_database.open()
    assert store.get(faults["core"]).state == "closed"


def test_unknown_id_and_empty_cause_are_sentences(site, faults, capsys):
    code, _, err = run(capsys, "ack", "9999", "--by", "x", "-c", str(site))
    assert code == 1 and "9999" in err and "Traceback" not in err
    run(capsys, "resolve", str(faults["server"]), "--by", "li", "-c", str(site))
    code, _, err = run(capsys, "close", str(faults["server"]), "--cause", " ", "--resolution", "r",
                       "--prevention", "p", "-c", str(site))
    assert code == 1 and "cause" in err


def test_maintenance_add_list_end(site, faults, capsys):
    code, _, err = run(capsys, "maintenance", "add", "move", "--site", "stret-03", "--for", "2h", "-c", str(site))
    assert code == 2 and "did you mean 'street-03'" in err
    code, _, err = run(capsys, "maintenance", "add", "move", "-c", str(site))
    assert code == 2 and "--device, --site, --class or --tag" in err
    code, _, err = run(capsys, "maintenance", "add", "move", "--site", "street-03", "--for", "soon", "-c", str(site))
    assert code == 2 and "not a duration" in err
    code, out, err = run(capsys, "maintenance", "add", "relocation street-03", "--site", "street-03", "--for", "2h",
                         "--by", "zhao", "-c", str(site))
    assert code == 0 and "relocation street-03" in out, err
    window_id = out.split()[1]
    code, out, _ = run(capsys, "maintenance", "list", "-c", str(site))
    assert "relocation street-03" in out and "sites street-03" in out and "zhao" in out
    code, out, _ = run(capsys, "maintenance", "end", window_id, "-c", str(site))
    assert code == 0 and "ended" in out
    code, out, _ = run(capsys, "maintenance", "list", "--json", "-c", str(site))
    assert json.loads(out)["windows"] == []


def test_show_escapes_control_characters_in_messages_and_notes(site, faults, capsys, fault_database):
    store = fault_database.open()
    store.add_note(faults["server"], "li.na", "reboot\x1b[2Jdone\nfake: line")
    store.disconnect()
    code, out, _ = run(capsys, "faults", "show", str(faults["server"]), "-c", str(site))
    assert code == 0 and "\x1b" not in out
    assert any(line.endswith("li.na: reboot\\x1b[2Jdone\\nfake: line") for line in out.splitlines())

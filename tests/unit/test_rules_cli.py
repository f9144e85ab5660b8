"""`netvigil rules test` and `netvigil rules list` (monitor/cli/rules.py), run in-process."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from monitor import lineproto
from monitor.cli import rules as cli
from monitor.rules.model import load_paths
from probes.base import Sample
from lab.support import REPO

DATA = REPO / "tests" / "data" / "rules"
SHIPPED = REPO / "monitor" / "rules" / "defaults"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="netvigil")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_rules_parser(sub)
    args = parser.parse_args(list(argv))
    command = {"rules test": cli.rules_test_command, "rules list": cli.rules_list_command}[args.command_key]
    return command(args)


def test_rules_test_shows_opens_a_summary_of_updates_clears_and_what_stays_open(capsys):
    assert run("rules", "test", str(SHIPPED), str(DATA / "samples.lp")) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [re.match(r"(\S+)  (OPEN|CLEAR|UPDATE x\d+)\s+(\S+)\s+(\S+)  (\S+)  (\S+)  (.*)", line).groups()
            for line in out if line.startswith("2026-")]
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("2026-06-01T08:01:00Z", "OPEN", "east-sw-01", "device_rebooted"),
        ("2026-06-01T08:02:00Z", "OPEN", "community-a-codec", "packet_loss_video"),
        ("2026-06-01T08:02:30Z", "UPDATE x1", "community-a-codec", "packet_loss_video"),
        ("2026-06-01T08:03:30Z", "CLEAR", "community-a-codec", "packet_loss_video")]
    assert "packet loss 15% > 1% for 3 samples" in out[1]
    shipped = len(load_paths([SHIPPED]).rules)
    assert out[-2] == f"-- 11 sample(s), {shipped} rule(s), 4 transition(s); open at the end: 1"
    assert out[-1].split() == ["east-sw-01", "device_rebooted", "-"]


def test_rules_test_json_lines_and_json_output(capsys):
    assert run("rules", "test", str(SHIPPED), str(DATA / "samples.jsonl"), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert [(t["action"], t["rule"], t["device"], t["time"]) for t in result["transitions"]] == [
        ("open", "device_unreachable", "mcu-01", "2026-06-01T08:00:00Z"),
        ("clear", "device_unreachable", "mcu-01", "2026-06-01T08:00:30Z"),
        ("open", "config_changed", "core-sw-01", "2026-06-01T08:01:00Z")]
    assert result["transitions"][0]["time_ns"] == 1780300800 * 10**9
    assert result["open"] == [{"device": "core-sw-01", "rule": "config_changed", "instance": ""}]


def test_clear_after_expires_during_replay(tmp_path, capsys):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - {name: boot, measurement: snmp_system, when: 'rebooted == 1', clear_after: 2m,"
                     " severity: warning}\n")
    lines = [lineproto.encode(Sample("snmp_system", {"device": "sw"}, {"rebooted": r}, t * 60 * 10**9))
             for t, r in ((0, 1), (1, 0), (2, 0), (3, 0))]
    samples = tmp_path / "s.lp"
    samples.write_text("\n".join(lines) + "\n")
    assert run("rules", "test", str(rules), str(samples), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert [(t["action"], t["time_ns"]) for t in result["transitions"]] == [("open", 0), ("clear", 120 * 10**9)]
    assert result["open"] == []


def test_with_shipped_lets_a_site_file_replace_a_shipped_rule(capsys):
    samples = str(DATA / "samples.lp")
    assert run("rules", "test", str(DATA / "site"), samples, "--with-shipped", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    # the site's stricter rule (loss > 0 for 2 samples, critical) replaces the shipped one
    loss = [t for t in result["transitions"] if t["rule"] == "packet_loss_video"]
    assert (loss[0]["action"], loss[0]["severity"], loss[0]["time"]) == ("open", "critical", "2026-06-01T08:01:30Z")
    assert any(t["rule"] == "device_rebooted" for t in result["transitions"])
    assert run("rules", "test", str(DATA / "site"), samples, "--json") == 0
    assert {t["rule"] for t in json.loads(capsys.readouterr().out)["transitions"]} == {"packet_loss_video"}


def test_heightened_selects_the_heightened_watch_rules(tmp_path, capsys):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - {name: strict, measurement: icmp, when: 'loss_pct > 0', during: heightened_watch,"
                     " severity: major}\n")
    assert run("rules", "test", str(rules), str(DATA / "samples.lp"), "--json") == 0
    assert json.loads(capsys.readouterr().out)["transitions"] == []
    assert run("rules", "test", str(rules), str(DATA / "samples.lp"), "--json", "--heightened") == 0
    assert json.loads(capsys.readouterr().out)["transitions"][0]["rule"] == "strict"


def test_devices_come_from_the_inventory_with_a_config(tmp_path, capsys):
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "devices:\n  - {name: mcu-01, address: 127.0.0.5, class: mcu, site: room}\n")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text(f"inventory: [inventory.yaml]\nstate_dir: {tmp_path / 'state'}\n")
    assert run("rules", "test", str(SHIPPED), str(DATA / "samples.jsonl"), "-c", str(settings), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    # core-sw-01 is not in this inventory: its config change is nobody's
    assert {(t["rule"], t["device"]) for t in result["transitions"]} == {("device_unreachable", "mcu-01")}
    assert "mcu-01 at room does not answer ping" in result["transitions"][0]["message"]


def test_a_bad_samples_line_is_named_with_file_and_line_and_exit_2(tmp_path, capsys):
    samples = tmp_path / "s.lp"
    samples.write_text("# comment\nicmp,device=a up=1i 1\nicmp,device=a up=1i\n")
    assert run("rules", "test", str(SHIPPED), str(samples)) == 2
    err = capsys.readouterr().err
    assert err == f"{samples}:3: no timestamp; every sample needs one (nanoseconds since 1970) so rules can time it\n"


def test_rule_problems_exit_2_without_a_traceback(capsys):
    assert run("rules", "test", str(DATA / "broken" / "top_level.yaml"), str(DATA / "samples.lp")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{DATA / 'broken' / 'top_level.yaml'}:1: unknown key 'rule'")
    assert "Traceback" not in err
    assert run("rules", "test", "/nonexistent/rules.yaml", str(DATA / "samples.lp")) == 2
    assert "no such rule file or directory" in capsys.readouterr().err


def test_a_broken_settings_file_exits_2(tmp_path, capsys):
    settings = tmp_path / "netvigil.yaml"
    settings.write_text("inventory: [missing.yaml]\n")
    assert run("rules", "list", "-c", str(settings)) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_rules_list_shows_every_rule_with_its_source(capsys):
    assert run("rules", "list") == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("device_unreachable "))
    assert row.split()[1:3] == ["shipped", "critical"] and "defaults/reachability.yaml:" in row
    assert run("rules", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name", "status", "severity", "measurements", "match", "source", "note", "description"} == set(rows[0])
    assert len(rows) >= 25


@pytest.mark.parametrize("line, message", [
    ("icmp", "no fields found"),
    ("icmp up=1i x", "timestamp 'x' is not a whole number"),
    ("icmp,device up=1i 1", "tag 'device' is not key=value"),
    ("icmp up=abc 1", "field 'up': 'abc' is not a number"),
    ('icmp msg="open 1', "no closing double quote"),
    ("icmp up=nan 1", "not a finite number"),
    (",a=b up=1 1", "no measurement name"),
])
def test_line_protocol_errors(line, message):
    with pytest.raises(ValueError) as caught:
        cli.parse_line(line)
    assert message in str(caught.value)


def test_line_protocol_round_trips_what_the_daemon_writes():
    sample = Sample("config_changed", {"device": "core sw,1=a", "site": "东街道", "note": "a\\b"},
                    {"version": 4, "ok": True, "loss_pct": 0.5, "diff": 'line "1"\n+ x = y, z\\'}, 17)
    assert cli.parse_line(lineproto.encode(sample)) == sample


@pytest.mark.parametrize("line, message", [
    ('{"measurement": "icmp", "fields": {"up": 1}}', '"time" is required'),
    ('{"measurement": "icmp", "fields": {"up": 1}, "time": "yesterday"}', "is not a date and time"),
    ('{"measurement": "icmp", "fields": {}, "time": 1}', '"fields" must be a non-empty object'),
    ('{"measurement": "icmp", "tags": {"a": 1}, "fields": {"up": 1}, "time": 1}', '"tags" must be an object of'),
    ('{"measurement": "icmp", "fields": {"up": 1}, "time": 1, "tgas": {}}', "unknown key 'tgas'"),
    ('{"measurement": "icmp", "fields": {"up": [1]}, "time": 1}', "field 'up' must be a number"),
    ('{"measurement": ', "not valid JSON"),
])
def test_json_line_errors(tmp_path, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(cli.SamplesError) as caught:
        cli.read_samples(path)
    assert str(caught.value).startswith(f"{path}:1: ") and message in str(caught.value)


def test_json_times_as_text_with_an_offset_or_as_nanoseconds(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"measurement": "m", "fields": {"x": 1}, "time": "2026-06-01T16:00:00.5+08:00"}\n'
                    '{"measurement": "m", "fields": {"x": 1}, "time": 1780300800000000000}\n')
    first, second = cli.read_samples(path)
    assert first.time_ns == 1780300800 * 10**9 + 500_000_000
    assert second.time_ns == 1780300800 * 10**9

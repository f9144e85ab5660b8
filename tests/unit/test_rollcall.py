"""`netvigil rollcall`: selection, verdicts, the roster's columns (wide characters) and bad
input. Probing real endpoints is in tests/integration/test_rollcall.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from monitor import rollcall
from monitor.rollcall import SelectionError
from monitor.cli.rollcall import render
from monitor.rollcall import ABSENT, DEGRADED, PRESENT, Entry, judge
from monitor.cli.tables import display_width as _width

INVENTORY = """
sites:
  - {name: district, level: district, label: 东城区}
  - {name: street-03, parent: district, level: street}
  - {name: 社区一, parent: street-03, level: community}
  - {name: street-04, parent: district, level: street}
devices:
  - {name: mcu-1, address: 127.0.62.1, class: mcu, site: district}
  - {name: 会议终端-甲, address: 127.0.62.2, class: codec, site: 社区一}
  - {name: codec-2, address: 127.0.62.3, class: codec, site: street-03}
  - {name: phone-1, address: 127.0.62.4, class: phone, site: street-04}
  - {name: sw-1, address: 127.0.62.5, class: switch, site: street-03}
"""

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    path = tmp_path / "netvigil.yaml"
    path.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n")
    return path


@pytest.fixture
def inventory(settings):
    from monitor import config

    return config.load(settings).inventory


def _names(devices):
    return [device.name for device in devices]


def test_default_selection_is_the_conference_classes(inventory):
    assert _names(rollcall.select(inventory, rollcall.parse_classes(None), None)) == [
        "mcu-1", "会议终端-甲", "codec-2", "phone-1"]


def test_class_list_and_site_take_the_site_and_everything_below_it(inventory):
    classes = rollcall.parse_classes("codec, mcu")
    assert classes == ("codec", "mcu")
    assert _names(rollcall.select(inventory, classes, "street-03")) == ["会议终端-甲", "codec-2"]
    assert _names(rollcall.select(inventory, classes, "社区一")) == ["会议终端-甲"]
    assert _names(rollcall.select(inventory, ("switch",), "district")) == ["sw-1"]


def test_unknown_class_is_refused_with_the_known_ones():
    with pytest.raises(SelectionError) as caught:
        rollcall.parse_classes("codec,projector")
    assert "'projector'" in str(caught.value) and "codec" in str(caught.value)


@pytest.mark.parametrize("argv, sentence, code", [
    (["--class", "ups"], "netvigil rollcall: no device matches class ups in the inventory of", 1),
    (["--class", "codec", "--site", "street-04"], "no device matches class codec at site street-04", 1),
    (["--site", "nowhere"], "no site named 'nowhere'", 2),
    (["--site", "street-3"], "no site named 'street-3' in the inventory of", 2),
    (["--class", "beamer"], "unknown class 'beamer'", 2),
    (["--class", "codec,cdoec"], "netvigil rollcall: unknown class 'cdoec' (did you mean 'codec'?); classes: ", 2),
])
def test_bad_selection_is_one_line_exit_2_for_bad_names_and_1_when_nothing_matches(settings, capsys, argv, sentence,
                                                                                  code):
    assert main(["rollcall", "-c", str(settings), *argv]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert sentence in err and err.count("\n") == 1
    if argv == ["--site", "street-3"]:
        assert err.endswith("(did you mean 'street-03'?)\n")


def test_missing_settings_file_is_exit_2_without_traceback(tmp_path, capsys):
    assert main(["rollcall", "-c", str(tmp_path / "none.yaml")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def _entry(name="codec-1", site="street-03"):
    return Entry(name, "10.0.0.1", "codec", site, ("district", site))


GOOD = {"up": 1, "sent": 20, "received": 20, "loss_pct": 0.0, "rtt_avg_ms": 3.0, "jitter_ms": 1.0}


def test_clean_path_and_answering_checks_are_present():
    assert judge(_entry(), GOOD, {"snmp": "ok", "ssh": "ok"}).state == PRESENT


def test_no_reply_is_absent_whatever_else():
    entry = judge(_entry(), {"up": 0, "sent": 20, "received": 0, "loss_pct": 100.0}, {"snmp": "timeout"}, ["snmp"])
    assert entry.state == ABSENT
    assert entry.reasons == ["no reply to 20 echoes"]


@pytest.mark.parametrize("fields, reason", [
    ({"loss_pct": 5.0, "received": 19}, "loss 5 % > 1 %"),
    ({"jitter_ms": 31.0}, "jitter 31.0 ms > 30 ms"),
    ({"rtt_avg_ms": 120.0}, "round trip 120.0 ms > 100 ms"),
])
def test_one_lost_echo_or_video_breaking_jitter_or_rtt_is_degraded(fields, reason):
    entry = judge(_entry(), {**GOOD, **fields}, {})
    assert entry.state == DEGRADED
    assert entry.reasons == [reason]


def test_thresholds_at_the_limit_are_still_present():
    assert judge(_entry(), {**GOOD, "loss_pct": 1.0, "jitter_ms": 30.0, "rtt_avg_ms": 100.0}, {}).state == PRESENT


def test_a_silent_or_failing_check_degrades_with_its_kind_named():
    entry = judge(_entry(), GOOD, {"snmp": "timeout", "ssh": "auth"}, ["snmp"])
    assert entry.state == DEGRADED
    assert entry.reasons == ["SNMP does not answer (timeout)", "SSH: auth"]


def test_thresholds_are_those_of_the_shipped_video_rules():
    rules = {rule["name"]: rule for rule in
             yaml.safe_load((REPO / "monitor/rules/defaults/reachability.yaml").read_text())["rules"]}
    assert re.search(rf"loss_pct > {rollcall.LOSS_PCT_MAX:g}\b", rules["packet_loss_video"]["when"])
    assert f"jitter_ms > {rollcall.JITTER_MS_MAX:g}" == rules["jitter_video"]["when"]
    assert f"rtt_avg_ms > {rollcall.RTT_MS_MAX:g}" == rules["rtt_high"]["when"]
    assert set(rules["packet_loss_video"]["match"]["classes"]) == set(rollcall.CONFERENCE_CLASSES)
    # 20 echoes: one lost echo (5 %) is above the video limit, so the run can see it.
    assert 100 / rollcall.ECHO_COUNT > rollcall.LOSS_PCT_MAX


def test_roster_groups_by_site_in_hierarchy_order_worst_first_and_aligns_wide_names():
    entries = [
        judge(_entry("codec-2", "street-03"), GOOD, {}),
        judge(Entry("会议终端-甲", "10.0.0.2", "codec", "社区一", ("district", "street-03", "社区一")),
              {"up": 0, "sent": 20}, {}),
        judge(_entry("codec-3", "street-03"), {**GOOD, "loss_pct": 10.0}, {}),
        judge(Entry("mcu-1", "10.0.0.9", "mcu", "district", ("district",)), GOOD, {}),
    ]
    text = render(entries, "2026-12 区会议", "2026-12-07 09:30", {"district": "东城区"})
    lines = text.split("\n")
    assert lines[0] == 'Roll call "2026-12 区会议" at 2026-12-07 09:30: 2 present, 1 degraded, 1 absent of 4'
    sites = [line for line in lines if line and not line.startswith(" ") and line is not lines[0]]
    assert sites == ["district 东城区", "street-03", "社区一"]
    block = lines[lines.index("street-03") + 1:lines.index("street-03") + 4]
    assert [line.split()[0] for line in block] == ["DEVICE", "codec-3", "codec-2"]
    assert "DEGRADED" in block[1] and "loss 10 % > 1 %" in block[1]
    wide = lines[lines.index("社区一") + 1:lines.index("社区一") + 3]
    # Every column starts at the same terminal column although 会议终端-甲 has 4 wide characters.
    for column in ("ADDRESS", "STATE"):
        header_at = _width(wide[0][:wide[0].index(column)])
        value = "10.0.0.2" if column == "ADDRESS" else "ABSENT"
        assert _width(wide[1][:wide[1].index(value)]) == header_at


def test_samples_carry_the_device_tags_and_a_summary(inventory):
    devices = rollcall.select(inventory, ("codec",), None)
    entries = [judge(Entry(d.name, d.address, d.device_class, d.site, d.site_path), GOOD, {}) for d in devices]
    entries[0] = judge(entries[0], {"up": 0, "sent": 20}, {})
    samples = rollcall.samples_of(entries, devices, "meeting", "20261207T093000Z", 1)
    assert [s.measurement for s in samples] == ["rollcall", "rollcall", "rollcall_summary"]
    assert samples[0].tags["device"] == "会议终端-甲" and samples[0].tags["community"] == "社区一"
    assert (samples[0].fields["state"], samples[0].fields["present"]) == (2, 0)
    assert "loss_pct" not in samples[0].fields
    assert samples[1].fields["state"] == 0 and samples[1].fields["loss_pct"] == 0.0
    assert dict(samples[2].fields) == {"selected": 2, "present": 1, "degraded": 0, "absent": 1,
                                       "meeting": "meeting", "rollcall": "20261207T093000Z"}


def test_a_failed_checks_sentence_goes_under_its_site_table_escaped():
    entry = judge(_entry("codec-9"), GOOD, {"snmp": "timeout"}, ["snmp"])
    entry.details = {"snmp": "no answer from 10.0.0.1:161 within 2 s \x1b[2J"}
    text = render([entry])
    assert text.split("\n")[-1] == r"  codec-9: SNMP: no answer from 10.0.0.1:161 within 2 s \x1b[2J"


def test_nothing_sent_is_absent_saying_so():
    entry = judge(_entry(), {"up": 0, "sent": 0, "received": 0, "loss_pct": 100.0, "result_code": 3}, {})
    assert (entry.state, entry.reasons) == (ABSENT, ["no echo could be sent"])


def test_the_roster_and_its_reasons_read_in_chinese_and_stay_aligned():
    from monitor import i18n

    with i18n.using("zh-CN"):
        entries = [judge(Entry("会议终端-甲", "10.0.0.2", "codec", "社区一", ("district", "社区一")),
                         {"up": 0, "sent": 20}, {}),
                   judge(_entry("codec-3", "社区一"), {**GOOD, "loss_pct": 10.0}, {"snmp": "timeout"}, ["snmp"])]
        text = render(entries, "区会议", "2026-12-07 09:30")
    lines = text.split("\n")
    assert lines[0] == "会前点名“区会议”（2026-12-07 09:30）：共 2 个，正常 0，降级 1，缺席 1"
    header, absent, degraded = lines[3:6]
    assert header.split()[:4] == ["设备", "地址", "类别", "状态"]
    assert "缺席" in absent and "20 个探测包均无应答" in absent
    assert "降级" in degraded and "丢包 10 % > 1 %; SNMP 无应答（timeout）" in degraded
    for column, row in (("状态", absent), ("状态", degraded)):
        assert _width(row[:row.index("缺席" if row is absent else "降级")]) == _width(header[:header.index(column)])


def test_a_bad_selection_reads_in_chinese_with_the_command_named(settings, capsys):
    from monitor import i18n

    chinese = Path(settings).parent / "zh.yaml"
    chinese.write_text(Path(settings).read_text() + "language: zh-CN\n")
    with i18n.using("en"):  # the settings switch the process to Chinese; back to English after
        assert main(["rollcall", "-c", str(chinese), "--class", "cdoec"]) == 2
        assert capsys.readouterr().err.startswith(
            "netvigil rollcall: 未知类别 'cdoec' (did you mean 'codec'?)；可用类别：")
        assert main(["rollcall", "-c", str(chinese), "--class", "ups"]) == 1
        assert "的设备清单中没有符合“类别 ups”的设备" in capsys.readouterr().err

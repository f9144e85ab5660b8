"""The meeting calendar: what `netvigil check` says about it, when its roll calls fall (local
time, weekly series, offsets), the roster as a notification, and how it is queued for the
on-call groups. The daemon making the calls is in tests/integration/test_rollcall.py."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from monitor import cli, config
from monitor.notify.dispatcher import AlertDispatcher
from monitor.notify.settings import NotificationSettings
from monitor.rollcall import ABSENT, DEGRADED, PRESENT, Entry, RollCall
from monitor.rollcall_schedule import Call, MeetingSettings, calls_between, next_due, roster_message

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

INVENTORY = """
sites:
  - {name: district, level: district}
  - {name: street-03, parent: district, level: street}
devices:
  - {name: mcu-1, address: 127.0.62.1, class: mcu, site: district}
  - {name: codec-1, address: 127.0.62.2, class: codec, site: street-03}
  - {name: sw-1, address: 127.0.62.3, class: switch, site: street-03}
"""

NOTIFICATIONS = """
faults: {timezone: Asia/Shanghai}
notifications:
  channels:
    tickets: {webhook: {url: "http://127.0.0.1:9/hook"}}
  groups:
    oncall: {tiers: [[tickets]]}
"""


def _check(tmp_path: Path, rollcall: str, capsys, notifications: str = NOTIFICATIONS) -> tuple[int, list[str]]:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    path = tmp_path / "netvigil.yaml"
    path.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n" + notifications + rollcall)
    code = cli.main(["check", "-c", str(path)])
    err = capsys.readouterr().err
    return code, [line.replace(str(tmp_path) + "/", "") for line in err.splitlines()]


def test_a_good_calendar_passes_check(tmp_path, capsys):
    code, lines = _check(tmp_path, """
rollcall:
  groups: [oncall]
  meetings:
    - {name: district meeting, at: 2026-12-15T09:00, classes: [codec, mcu], sites: [street-03], before: [30m, 10m]}
    - {name: weekly, weekdays: [mon, Thursday], time: "09:30"}
""", capsys)
    assert code == 0, lines


def test_the_calendars_shape_problems_name_file_line_and_key(tmp_path, capsys):
    code, lines = _check(tmp_path, """
rollcall:
  groups: [oncall]
  meetings:
    - name: district meeting
      at: 2026-12-15T09:00
      classes: [codec, mcuu]
      before: [30m, 9d]
    - {name: no day, time: "09:00"}
    - {name: no time, weekdays: [mon]}
    - {name: never}
""", capsys)
    assert code == 2
    assert lines[:-1] == [
        "netvigil.yaml:17: rollcall.meetings[0].classes: unknown class 'mcuu' (did you mean 'mcu'?)",
        "netvigil.yaml:18: rollcall.meetings[0].before: 9d is more than 7 days before the meeting",
        "netvigil.yaml:19: rollcall.meetings[1]: time needs weekdays, e.g. weekdays: [mon]; for one meeting use "
        "at: 2026-12-15T09:00",
        "netvigil.yaml:20: rollcall.meetings[2]: weekdays need a time, e.g. time: \"09:00\"",
        "netvigil.yaml:21: rollcall.meetings[3]: give `at` (a date-time, or a list of them) and/or `weekdays` "
        "with `time`"]


def test_sites_groups_and_an_empty_selection_are_checked_against_the_inventory(tmp_path, capsys):
    code, lines = _check(tmp_path, """
rollcall:
  groups: [oncal]
  meetings:
    - {name: district meeting, at: 2026-12-15T09:00, sites: [street-3]}
    - name: power
      at: 2026-12-15T09:00
      classes: ups
      sites: street-03
      groups: [onc]
""", capsys)
    assert code == 2
    assert sorted(lines[:-1]) == sorted([
        "netvigil.yaml:15: rollcall.meetings[0].sites[0]: unknown site 'street-3' (did you mean 'street-03'?)",
        "netvigil.yaml:16: rollcall.meetings[1] (power): no device matches class ups at street-03: the roll call "
        "would have no one to call",
        "netvigil.yaml:20: rollcall.meetings[1].groups[0]: unknown notification group 'onc' (did you mean "
        "'oncall'?)",
        "netvigil.yaml:13: rollcall.groups[0]: unknown notification group 'oncal' (did you mean 'oncall'?)"])


def test_a_roster_that_would_go_to_no_one_is_refused(tmp_path, capsys):
    code, lines = _check(tmp_path, "rollcall:\n  meetings:\n    - {name: district meeting, at: 2026-12-15T09:00}\n",
                         capsys)
    assert code == 2
    assert lines[0] == ("netvigil.yaml:13: rollcall.meetings[0] (district meeting): the roster would go to no one: "
                        "set rollcall.groups or notifications.default_groups (or this meeting's groups)")


def _unix(text: str, zone=SHANGHAI) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_a_one_off_meeting_is_local_time_and_called_at_each_offset_earliest_first():
    meeting = MeetingSettings(name="m", at="2026-12-15T09:00", before=["10m", "30m"])
    assert meeting.before == [1800.0, 600.0]
    calls = calls_between([meeting], SHANGHAI, _unix("2026-12-15T08:00"), _unix("2026-12-15T09:00"))
    assert [(c.due, c.before_s) for c in calls] == [(_unix("2026-12-15T08:30"), 1800.0),
                                                    (_unix("2026-12-15T08:50"), 600.0)]
    assert calls[0].start == dt.datetime(2026, 12, 15, 9, tzinfo=SHANGHAI)
    # 09:00 in Shanghai is 01:00 UTC: the zone decides, not the machine's clock.
    assert calls[0].due == dt.datetime(2026, 12, 15, 0, 30, tzinfo=dt.timezone.utc).timestamp()
    # The window is (after, until]: a call exactly at `after` was made in the previous window.
    assert calls_between([meeting], SHANGHAI, _unix("2026-12-15T08:30"), _unix("2026-12-15T08:50")) == calls[1:]
    assert calls_between([meeting], SHANGHAI, _unix("2026-12-15T08:51"), _unix("2026-12-16T09:00")) == []


def test_a_utc_offset_in_at_wins_over_the_zone():
    meeting = MeetingSettings(name="m", at="2026-12-15T01:00+00:00", before=[0])
    [call] = calls_between([meeting], SHANGHAI, _unix("2026-12-15T00:00"), _unix("2026-12-16T00:00"))
    assert call.due == _unix("2026-12-15T09:00")


def test_a_weekly_series_meets_on_its_days_and_the_next_call_is_found_across_the_week():
    meeting = MeetingSettings(name="weekly", weekdays=["monday", "thu"], time="09:30", before=["30m"])
    # 2026-12-14 is a Monday.
    calls = calls_between([meeting], SHANGHAI, _unix("2026-12-13T00:00"), _unix("2026-12-21T00:00"))
    assert [c.start.strftime("%a %d %H:%M") for c in calls] == ["Mon 14 09:30", "Thu 17 09:30"]
    assert next_due([meeting], SHANGHAI, _unix("2026-12-17T09:01")) == _unix("2026-12-21T09:00")


def test_one_off_and_weekly_together_and_several_meetings_in_due_order():
    a = MeetingSettings(name="a", at=["2026-12-15T10:00", "2026-12-16T10:00"], weekdays=["tue"], time="10:00",
                        before=[600])
    b = MeetingSettings(name="b", at="2026-12-15T09:55", before=[300])
    calls = calls_between([a, b], SHANGHAI, _unix("2026-12-15T00:00"), _unix("2026-12-17T00:00"))
    # The Tuesday of the series and the one-off on the same Tuesday are one meeting, called once.
    assert [(c.meeting.name, c.start.strftime("%d %H:%M")) for c in calls] == [
        ("a", "15 10:00"), ("b", "15 09:55"), ("a", "16 10:00")]
    assert calls[0].due == calls[1].due


def _entry(name, state, reasons=(), site="street-03"):
    entry = Entry(name, "127.0.62.9", "codec", site, ("district", site))
    entry.state, entry.reasons = state, list(reasons)
    return entry


def test_the_roster_message_counts_and_names_the_absent_and_degraded_with_reasons():
    entries = [_entry("mcu-1", PRESENT, site="district"), _entry("codec-1", ABSENT, ["no reply to 20 echoes"]),
               _entry("会议终端-甲", DEGRADED, ["loss 10 % > 1 %"])]
    started = dt.datetime(2026, 12, 15, 0, 30, tzinfo=dt.timezone.utc)
    record = {"id": "20261215T003000000000Z", "summary": {"present": 1, "degraded": 1, "absent": 1, "total": 3},
              "file": "/var/lib/netvigil/rollcalls/20261215T003000000000Z.json"}
    meeting = MeetingSettings(name="区视频会议", at="2026-12-15T09:00")
    call = Call(started.timestamp(), meeting, dt.datetime(2026, 12, 15, 9, tzinfo=SHANGHAI), 1800.0)
    message = roster_message(RollCall(record, entries, started), call, SHANGHAI)
    assert message.title == "[ROLL CALL] 区视频会议 at 2026-12-15 09:00: 1 present, 1 degraded, 1 absent of 3"
    assert message.text.splitlines() == [
        "Roll call for \"区视频会议\" (starts 2026-12-15 09:00, in 30m), made at 2026-12-15 08:30:",
        "1 present, 1 degraded, 1 absent of 3 endpoints.", "",
        "Absent (1):", "  codec-1 (street-03, 127.0.62.9): no reply to 20 echoes", "",
        "Degraded (1):", "  会议终端-甲 (street-03, 127.0.62.9): loss 10 % > 1 %", "",
        "Record: /var/lib/netvigil/rollcalls/20261215T003000000000Z.json"]
    payload = message.payload["rollcall"]
    assert message.payload["event"] == "rollcall" and payload["summary"] == record["summary"]
    assert [e["device"] for e in payload["absent"]] == ["codec-1"]
    assert payload["degraded"][0]["reasons"] == ["loss 10 % > 1 %"]
    assert payload["starts"] == "2026-12-15T09:00:00+08:00" and payload["before_s"] == 1800.0


def test_announce_queues_once_per_key_for_tier_1_of_the_groups(tmp_path):
    settings = NotificationSettings.model_validate({
        "channels": {name: {"webhook": {"url": f"http://127.0.0.1:9/{name}"}} for name in ("a", "b", "lead")},
        "groups": {"oncall": {"tiers": [["a"], ["lead"]]}, "video": {"tiers": [["b", "a"]]}}})
    dispatcher = AlertDispatcher(settings, tmp_path / "notifications.db", is_unacknowledged=lambda _: False,
                                 ack_deadline=lambda _: None)
    from monitor.notify.message import Message

    message = Message("[ROLL CALL] m", "text", {"event": "rollcall", "title": "[ROLL CALL] m"})
    try:
        assert dispatcher.announce(["oncall", "video", "gone"], message, "rollcall 1") == ["a", "b"]
        assert dispatcher.announce(["oncall", "video"], message, "rollcall 1") == ["a", "b"]  # told already
        queued = dispatcher.outbox.messages()
        assert sorted((m.channel, m.event, m.message.title) for m in queued) == [
            ("a", "rollcall", "[ROLL CALL] m"), ("b", "rollcall", "[ROLL CALL] m")]
        assert dispatcher.outbox.told_channels(1) == []  # no fault's history lists it
    finally:
        dispatcher.outbox.close()


def test_the_roster_message_reads_in_chinese():
    from monitor import i18n

    started = dt.datetime(2026, 12, 15, 0, 50, tzinfo=dt.timezone.utc)
    record = {"id": "x", "summary": {"present": 1, "degraded": 0, "absent": 1, "total": 2}}
    call = Call(started.timestamp(), MeetingSettings(name="区视频会议", at="2026-12-15T09:00"),
                dt.datetime(2026, 12, 15, 9, tzinfo=SHANGHAI), 600.0)
    with i18n.using("zh-CN"):
        entries = [_entry("mcu-1", PRESENT), _entry("codec-1", ABSENT, ["no reply"])]
        message = roster_message(RollCall(record, entries, started), call, SHANGHAI)
    assert message.title == "[会前点名] 区视频会议（2026-12-15 09:00）：共 2 个，正常 1，降级 0，缺席 1"
    assert message.text.splitlines()[:5] == [
        "“区视频会议”会前点名（会议 2026-12-15 09:00 开始，还有 10m），点名时间 2026-12-15 08:50：",
        "共 2 个终端：正常 1，降级 0，缺席 1。", "", "缺席（1）：", "  codec-1（street-03，127.0.62.9）：no reply"]


async def test_the_daemons_loop_makes_each_call_on_time_survives_a_failure_and_follows_reloads():
    import asyncio
    import time
    from types import SimpleNamespace

    from monitor.rollcall_schedule import MeetingRollcalls

    now = time.time()

    def at(offset_s: float) -> str:
        return dt.datetime.fromtimestamp(now + offset_s, dt.timezone.utc).replace(tzinfo=None).isoformat()

    meetings = [MeetingSettings(name="boom", at=at(0.3), before=[0]),
                MeetingSettings(name="soon", at=at(0.6), before=[0]),
                MeetingSettings(name="past", at=at(-1), before=[0]),  # due while "the daemon was down"
                MeetingSettings(name="later", at=at(3600), before=[0])]
    settings = SimpleNamespace(faults=SimpleNamespace(zone=lambda: dt.timezone.utc),
                               rollcall=SimpleNamespace(meetings=meetings))
    made = []

    class Recorder(MeetingRollcalls):
        async def make(self, cfg, call, zone):
            made.append((call.meeting.name, time.time() - call.due))
            if call.meeting.name == "boom":
                raise RuntimeError("a bug in one roll call")

    task = asyncio.create_task(Recorder(lambda: SimpleNamespace(settings=settings), None, lambda: None).run())
    try:
        await asyncio.sleep(0.1)
        # A reload adds a meeting while the loop sleeps towards the next one.
        settings.rollcall = SimpleNamespace(meetings=[*meetings, MeetingSettings(name="added", at=at(0.9), before=[0])])
        await asyncio.sleep(1.6)
    finally:
        task.cancel()
    assert [name for name, _late in made] == ["boom", "soon", "added"]
    assert all(0 <= late < 0.5 for _name, late in made), made  # wakes at the due time, not at the next poll


async def test_the_api_answers_a_bad_selection_400_and_no_icmp_503():
    from monitor.api.service import BadRequest, CannotNow, FaultService
    from monitor.rollcall import SelectionError
    from probes.icmp.pinger import IcmpPermissionError

    async def refuse(classes, site, name):
        raise {"ups": SelectionError("no device matches class ups", bad_input=False),
               "codec": IcmpPermissionError("ping sockets are not permitted")}[classes[0]]

    service = FaultService(store=object(), rollcall=refuse)
    with pytest.raises(BadRequest, match="no device matches class ups"):
        await service.rollcall(["ups"], None, None)
    with pytest.raises(CannotNow, match="the roll call cannot send ICMP echoes: ping sockets are not permitted"):
        await service.rollcall(["codec"], None, None)

"""What people read, in Chinese and in English: every notification kind, the command tables and
the reports. In zh-CN no heading or frame word may stay English: each text is rendered with
Chinese names and Chinese rule messages, the data that is English by nature (rule names,
commands, time zone abbreviations) is taken out, and no English word may be left."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from monitor import i18n, words
from monitor.faults.model import ALERT_EVENTS, SEVERITIES, Alert, DeviceInfo
from monitor.inventory import DEVICE_CLASSES
from monitor.notify.message import escalation_note, reminder_note, render, render_summary
from monitor.state import STATE_NAMES

CST = timezone(timedelta(hours=8), "CST")
OPENED = datetime(2026, 11, 20, 9, 30, tzinfo=CST).timestamp()
HINT = "netvigil ack {id} --by NAME"
CORE = DeviceInfo("核心交换机", "switch", ("区政府", "城东街道"), address="10.1.0.1")
UPS = DeviceInfo("机房UPS", "ups", ("区政府", "城东街道"), address="10.1.0.9")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
# English by nature in any language: abbreviations NOC engineers use as they are.
KEPT = {"CST", "SLA", "UPS", "MCU", "IP"}


def english_left(text: str, *data: str) -> list[str]:
    """The English words in `text` once `data` (names, rule ids, commands) is taken out."""
    for item in sorted(data, key=len, reverse=True):
        text = text.replace(item, " ")
    return [word for word in ENGLISH_WORD.findall(text) if word not in KEPT]


def alert(event: str, device=CORE, fault_id=12, **extra) -> Alert:
    defaults = dict(rule="unreachable", instance="", severity="critical", message="城东街道 的 核心交换机 无响应",
                    opened_at=OPENED, time=OPENED + 60, value=100.0, threshold=50.0)
    defaults.update(extra)
    return Alert(fault_id=fault_id, event=event, device=device, **defaults)


def every_notification() -> list:
    """One message of each event kind, with every optional line, plus a grouped one, an
    escalation and a reminder with their notes, and a rate-limit summary."""
    rich = dict(heightened=True, instance="GE0/0/1", symptoms=tuple(f"摄像机{i}" for i in range(25)),
                symptom_sites=tuple(f"社区{i}" for i in range(14)), acknowledged_by="张工", deadline=OPENED + 180)
    messages = [render([alert(event, **rich)], ack_hint=HINT, now=OPENED + 200, tz=CST) for event in ALERT_EVENTS]
    messages.append(render([alert("open"), alert("open", device=UPS, fault_id=13, severity="major", rule="ups_on_battery",
                                                message="城东街道 的 机房UPS：UPS 由电池供电")],
                           ack_hint=HINT, now=OPENED + 200, tz=CST))
    messages.append(render([alert("escalate")], ack_hint=HINT, now=OPENED + 400, tz=CST,
                           note=escalation_note(360, 3), tier=3))
    messages.append(render([alert("repeat")], ack_hint=HINT, now=OPENED + 400, tz=CST, note=reminder_note(2), tier=1))
    messages += [render([alert("open", severity=severity)], ack_hint=HINT, now=OPENED, tz=CST) for severity in SEVERITIES]
    messages.append(render_summary(messages[:3], window_s=300))
    return messages


DATA = ("unreachable", "ups_on_battery", "GE0/0/1", "netvigil ack 12 --by NAME", "netvigil ack 13 --by NAME",
        "10.1.0.1", "10.1.0.9")


def test_every_notification_kind_reads_in_chinese():
    with i18n.using("zh-CN"):
        messages = every_notification()
    for message in messages:
        for text in (message.title, message.text):
            assert english_left(text, *DATA) == [], text
    titles = "\n".join(message.title for message in messages)
    bodies = "\n".join(message.text for message in messages)
    for word in ("[紧急]", "[重要]", "[次要]", "[提示]", "[已恢复]", "[已升级]", "[重复提醒]", "[超时未确认]", "[修复超时]", "[维护窗口结束]", "[汇总]",
                 "发生 2 个故障", "14 个站点共 25 台设备不可达", "再次发生"):
        assert word in titles, word
    for word in ("级别：紧急", "设备：核心交换机（交换机, 10.1.0.1）", "站点：区政府 / 城东街道", "触发规则：unreachable",
                 "发生时间：2026-11-20 09:30:00 CST", "已持续 3分钟20秒", "确认人：张工", "确认方法：netvigil ack 12",
                 "重点保障期", "已超过确认时限", "修复时限即将到期", "维护窗口已结束", "……另有 5 台", "另有 2 个",
                 "6分钟 内无人确认，已升级至第 3 级", "第 2 次提醒", "5分钟内到达的通知超过了本通道的频率限制"):
        assert word in bodies, word


def test_every_notification_kind_reads_in_english():
    with i18n.using("en"):
        messages = every_notification()
    titles = "\n".join(message.title for message in messages)
    bodies = "\n".join(message.text for message in messages)
    for word in ("[CRITICAL]", "[MAJOR]", "[MINOR]", "[WARNING]", "[RESOLVED]", "[ESCALATED]", "[REPEAT]", "[NOT ACKNOWLEDGED IN TIME]", "[FIX OVERDUE]",
                 "[MAINTENANCE OVER]", "[SUMMARY]", "2 faults at 城东街道", "25 devices at 14 sites unreachable",
                 "reopened"):
        assert word in titles, word
    for word in ("Severity: critical", "Device: 核心交换机 (switch, 10.1.0.1)", "Since: 2026-11-20 09:30:00 CST",
                 "Acknowledged by: 张工", "HEIGHTENED WATCH", "Not acknowledged within 6m of opening; escalated to tier 3.",
                 "Still not acknowledged (reminder 2).", "arrived within 5m;"):
        assert word in bodies, word
    chinese_data = r"核心交换机|机房UPS|城东街道|区政府|张工|摄像机\d+|社区\d+|无响应|的|：UPS 由电池供电"
    assert not CJK.search(re.sub(chinese_data, "", titles + bodies))


def test_the_payload_keeps_its_keys_and_codes_in_english():
    with i18n.using("zh-CN"):
        message = render([alert("ack_breach", deadline=OPENED + 180)], ack_hint=HINT, now=OPENED + 200, tz=CST)
    assert message.payload["event"] == "ack_breach" and message.payload["severity"] == "critical"
    assert message.payload["faults"][0]["class"] == "switch" and message.payload["faults"][0]["event"] == "ack_breach"
    assert message.payload["title"] == message.title and "超时未确认" in message.title


@pytest.mark.parametrize("table, keys", [
    (words.SEVERITIES, SEVERITIES), (words.DEVICE_CLASSES, DEVICE_CLASSES),
    (words.PROBE_STATES, {name for names in STATE_NAMES.values() for name in names.values()}),
    (words.FAULT_STATES, ("open", "acknowledged", "resolved", "closed")),
    (words.REACHABILITY, ("up", "down", "pending", "unmonitored"))])
def test_every_shared_word_has_an_entry(table, keys):
    assert set(keys) <= set(table), set(keys) - set(table)


@pytest.mark.parametrize("seconds, en, zh", [
    (45, "45s", "45秒"), (200, "3m 20s", "3分钟20秒"), (3725, "1h 2m", "1小时2分钟"), (90000, "1d 1h", "1天1小时"),
    (7200, "2h", "2小时")])
def test_durations(seconds, en, zh):
    with i18n.using("en"):
        assert words.duration(seconds) == en
    with i18n.using("zh-CN"):
        assert words.duration(seconds) == zh

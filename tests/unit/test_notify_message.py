"""What notifications say: titles, bodies and the webhook JSON (monitor/notify/message.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.faults.model import Alert, DeviceInfo
from monitor.notify.message import SYMPTOMS_SHOWN, headline, render, render_summary

CST = timezone(timedelta(hours=8), "CST")
OPENED = datetime(2024, 5, 1, 10, 2, 0, tzinfo=CST).timestamp()
HINT = "netvigil ack {id} --by NAME"

CORE = DeviceInfo("core-sw-01", "switch", ("district", "street-03"), tags=("core",), address="10.1.0.1")


def alert(fault_id=12, event="open", device=CORE, severity="critical", message="down", rule="unreachable",
          value=100.0, threshold=50.0, **extra) -> Alert:
    return Alert(fault_id=fault_id, event=event, device=device, rule=rule, instance=extra.pop("instance", ""),
                 severity=severity, message=message, opened_at=extra.pop("opened_at", OPENED),
                 time=extra.pop("time", OPENED), value=value, threshold=threshold, **extra)


def test_an_opening_says_every_promised_item():
    symptoms = tuple(f"cam-{i:03d}" for i in range(37))
    sites = tuple(f"community-{i}" for i in range(12))
    message = render([alert(symptoms=symptoms, symptom_sites=sites)], ack_hint=HINT, now=OPENED + 200, tz=CST)

    assert message.title == "[CRITICAL] core-sw-01: down: 37 devices at 12 sites unreachable (fault 12)"
    text = message.text
    for expected in ("Device: core-sw-01 (switch, 10.1.0.1)", "Site: district / street-03",
                     "What tripped: rule unreachable: down (value 100, threshold 50)", "Severity: critical",
                     "Since: 2024-05-01 10:02:00 CST (for 3m 20s)", "Fault 12:",
                     "Acknowledge: netvigil ack 12 --by NAME"):
        assert expected in text, expected
    shown = [name for name in symptoms if f"  - {name}\n" in text + "\n"]
    assert shown == list(symptoms[:SYMPTOMS_SHOWN])
    assert f"... and {37 - SYMPTOMS_SHOWN} more" in text
    assert "HEIGHTENED" not in text


def test_heightened_watch_and_instance_are_shown():
    message = render([alert(heightened=True, instance="GE0/0/1", message="link down", value=None, threshold=None)],
                     ack_hint=HINT, now=OPENED, tz=CST)
    assert message.title == "[CRITICAL] core-sw-01 GE0/0/1: link down (fault 12)"
    assert "HEIGHTENED WATCH" in message.text
    assert "What tripped: rule unreachable on GE0/0/1: link down\n" in message.text  # no empty value list


def test_a_template_naming_the_device_is_not_prefixed_twice():
    assert headline(alert(message="core-sw-01 does not answer ping")) == "core-sw-01 does not answer ping"


def test_grouped_faults_are_one_message_listing_each_with_its_id():
    cam = DeviceInfo("cam-7", "camera", ("district", "street-03"))
    ups = DeviceInfo("ups-1", "ups", ("district", "street-03"))
    alerts = [alert(31, device=cam, severity="minor", message="no video"),
              alert(30, device=ups, severity="major", message="on battery", value=1, threshold=None),
              alert(29, severity="critical")]
    message = render(alerts, ack_hint=HINT, now=OPENED + 5, tz=CST)

    assert message.title == "[CRITICAL] 3 faults at street-03 (faults 29, 30, 31)"
    lines = message.text.splitlines()
    assert lines[1:4] == ["  fault 29 [critical] core-sw-01: down", "  fault 30 [major] ups-1: on battery",
                          "  fault 31 [minor] cam-7: no video"]
    for fault_id in (29, 30, 31):
        assert f"Acknowledge: netvigil ack {fault_id} --by NAME" in message.text
    assert [f["id"] for f in message.payload["faults"]] == [29, 30, 31]


def test_resolved_says_when_and_how_long_and_asks_for_no_acknowledgement():
    resolved = alert(event="resolved", time=OPENED + 3725)
    message = render([resolved], ack_hint=HINT, now=OPENED + 3800, tz=CST)
    assert message.title == "[RESOLVED] core-sw-01: down (fault 12)"
    assert "Resolved: 2024-05-01 11:04:05 CST after 1h 2m" in message.text
    assert "Acknowledge" not in message.text


@pytest.mark.parametrize("event, tag", [("escalate", "ESCALATED"), ("repeat", "REPEAT"),
                                        ("ack_breach", "NOT ACKNOWLEDGED IN TIME"),
                                        ("maintenance_over", "MAINTENANCE OVER")])
def test_other_events_are_tagged(event, tag):
    message = render([alert(event=event)], ack_hint=HINT, now=OPENED, note="Escalated to tier 2.", tz=CST)
    assert message.title.startswith(f"[{tag}] core-sw-01: down")
    assert message.text.startswith("Escalated to tier 2.\n")


def test_reopen_is_marked():
    assert render([alert(event="reopen")], ack_hint=HINT, now=OPENED).title.endswith("(fault 12, reopened)")


def test_webhook_body_has_the_documented_keys():
    message = render([alert(symptoms=("cam-1",), symptom_sites=("community-1",), acknowledged_by="li",
                            deadline=OPENED + 180)], ack_hint=HINT, now=OPENED, tier=2, tz=CST)
    body = json.loads(json.dumps(message.payload))  # JSON-clean
    assert set(body) == {"version", "event", "severity", "title", "text", "note", "tier", "faults"}
    assert (body["version"], body["event"], body["severity"], body["tier"]) == (1, "open", "critical", 2)
    assert body["title"] == message.title and body["text"] == message.text
    fault = body["faults"][0]
    assert fault == {
        "id": 12, "event": "open", "device": "core-sw-01", "address": "10.1.0.1", "class": "switch",
        "site": "street-03", "site_path": ["district", "street-03"], "tags": ["core"], "rule": "unreachable",
        "instance": "", "severity": "critical", "message": "down", "value": 100.0, "threshold": 50.0,
        "opened_at": "2024-05-01T02:02:00+00:00", "event_time": "2024-05-01T02:02:00+00:00", "heightened": False,
        "acknowledged_by": "li", "deadline": "2024-05-01T02:05:00+00:00", "symptoms": ["cam-1"],
        "symptom_sites": ["community-1"], "acknowledge": "netvigil ack 12 --by NAME"}


def test_ack_hint_is_a_template():
    message = render([alert()], ack_hint="https://noc.example/faults/{id}/ack", now=OPENED)
    assert "Acknowledge: https://noc.example/faults/12/ack" in message.text


def test_summary_lists_every_folded_title_and_keeps_their_faults():
    messages = [render([alert(i, severity=s)], ack_hint=HINT, now=OPENED) for i, s in ((1, "minor"), (2, "major"))]
    summary = render_summary(messages, window_s=60)
    assert summary.title == "[SUMMARY] 2 notifications held back by the rate limit"
    for message in messages:
        assert message.title in summary.text
    assert summary.payload["event"] == "summary" and summary.payload["severity"] == "major"
    assert [f["id"] for f in summary.payload["faults"]] == [1, 2]


def test_render_needs_an_alert():
    with pytest.raises(ValueError):
        render([], ack_hint=HINT, now=OPENED)

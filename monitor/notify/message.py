"""What a notification says: a title, a plain-text body, and the webhook's JSON body.

Pure functions of `Alert`s (which never carry a secret: they are built from rule templates,
device names and numbers), so nothing here can leak a password.

Webhook JSON body (version 1), POSTed with `Content-Type: application/json`:

    {
      "version": 1,
      "event": "open",            # open | reopen | resolved | escalate | repeat | ack_warning | ack_breach |
                                  # resolve_warning | resolve_breach | maintenance_over | summary
      "severity": "critical",     # the most severe of the faults below
      "title": "[CRITICAL] core-sw-01: down: 37 devices at 12 sites unreachable (fault 12)",
      "text": "...",              # the same plain text an e-mail carries
      "note": "",                 # e.g. "Not acknowledged within 3m; tier 2 is now told." (may be empty)
      "tier": 1,                  # escalation tier this message goes to (null for notices outside escalation)
      "sent_at": "2024-05-01T02:05:20+00:00",   # when this delivery attempt started (UTC, ISO 8601)
      "faults": [                 # one entry per fault; several when faults at one site were grouped
        {
          "id": 12,                                   # fault id (acknowledge with it)
          "event": "open",                            # this fault's event
          "device": "core-sw-01",
          "address": "10.1.0.1",
          "class": "switch",
          "site": "street-03",                        # the device's own site
          "site_path": ["district", "street-03"],     # root first
          "tags": ["core"],
          "rule": "unreachable",
          "instance": "",                             # e.g. an interface name; "" when the rule has none
          "severity": "critical",
          "message": "down",                          # what tripped, from the rule's template
          "value": 100.0,                             # the watched value (null for events)
          "threshold": 50.0,                          # null when the rule has none
          "opened_at": "2024-05-01T02:02:00+00:00",   # UTC, ISO 8601
          "event_time": "2024-05-01T02:02:03+00:00",  # when this event happened
          "heightened": false,                        # opened during a heightened-watch period
          "acknowledged_by": null,
          "deadline": null,                           # for *_warning / *_breach: the SLA deadline (ISO 8601)
          "symptoms": ["cam-001", "cam-002"],         # every device cut off behind this one
          "symptom_sites": ["community-7"],
          "acknowledge": "netvigil ack 12 --by NAME"  # the configured ack_hint for this fault
        }
      ]
    }

A rate-limit summary has event "summary", the folded messages' faults, and a text listing
their titles. A scheduled report (monitor/reports/schedule.py) has event "report", `report`
(inspection, monthly, reminder), `files` (the paths written on the daemon's machine), `figures`
(the report's headline numbers) and an empty `faults` list, except a reminder's, which lists
the faults whose analysis is due. New keys may be added within version 1; receivers should ignore unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any, Optional, Sequence

from monitor.faults.model import SEVERITIES, SEVERITY_RANK, Alert, format_duration

PAYLOAD_VERSION = 1
SYMPTOMS_SHOWN = 20  # a message lists this many devices behind a failed parent, then "and N more"
SYMPTOM_SITES_SHOWN = 12

OPENING_EVENTS = ("open", "reopen", "maintenance_over")  # these start a fault's notifications and timers

_EVENT_TAGS = {
    "resolved": "RESOLVED", "escalate": "ESCALATED", "repeat": "REPEAT", "ack_warning": "ACK DUE SOON",
    "ack_breach": "NOT ACKNOWLEDGED IN TIME", "resolve_warning": "FIX DUE SOON", "resolve_breach": "FIX OVERDUE",
    "maintenance_over": "MAINTENANCE OVER",
}
_EVENT_LINES = {
    "reopen": "The fault opened again soon after it had resolved.",
    "maintenance_over": "The maintenance window ended and the device is still failing.",
    "ack_warning": "The acknowledge deadline is near.",
    "ack_breach": "The acknowledge deadline has passed without an acknowledgement.",
    "resolve_warning": "The repair deadline is near.",
    "resolve_breach": "The repair deadline has passed.",
}


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notification. `payload` is the webhook body without `sent_at` (added per attempt)."""

    title: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    # Files sent along where the service takes attachments (e-mail); a report's paths are in
    # `text` as well, for the channels that do not.
    attachments: tuple[str, ...] = ()


def render(alerts: Sequence[Alert], *, ack_hint: str, now: float, note: str = "", tier: Optional[int] = None,
           tz: Optional[tzinfo] = None) -> Message:
    """One message about one fault, or about several faults (grouped: one site, one short window).

    `note` adds a line such as why this is an escalation; `tz` is for tests (default: local time)."""
    if not alerts:
        raise ValueError("render() needs at least one alert")
    alerts = sorted(alerts, key=lambda a: (SEVERITY_RANK.get(a.severity, 99), a.fault_id))
    worst = alerts[0].severity
    event = alerts[0].event if len({a.event for a in alerts}) == 1 else "open"
    tag = _EVENT_TAGS.get(event, worst.upper())
    if len(alerts) == 1:
        alert = alerts[0]
        reopened = ", reopened" if alert.event == "reopen" else ""
        title = f"[{tag}] {headline(alert)} (fault {alert.fault_id}{reopened})"
        text = _details(alert, ack_hint, now, tz)
        if note:
            text = f"{note}\n\n{text}"
    else:
        site = alerts[0].device.site or "no site"
        ids = ", ".join(str(a.fault_id) for a in alerts)
        title = f"[{tag}] {len(alerts)} faults at {site} (faults {ids})"
        overview = [f"{len(alerts)} faults at {' / '.join(alerts[0].device.site_path) or 'no site'}:"]
        overview += [f"  fault {a.fault_id} [{a.severity}] {headline(a)}" for a in alerts]
        blocks = ["\n".join(overview)] + [_details(a, ack_hint, now, tz) for a in alerts]
        if note:
            blocks.insert(0, note)
        text = "\n\n".join(blocks)
    payload = {"version": PAYLOAD_VERSION, "event": event, "severity": worst, "title": title, "text": text,
               "note": note, "tier": tier, "faults": [fault_record(a, ack_hint) for a in alerts]}
    return Message(title, text, payload)


def render_summary(messages: Sequence[Message], *, window_s: float) -> Message:
    """One message standing for several the rate limit held back (none is dropped silently)."""
    faults: dict[int, dict] = {}
    for message in messages:
        for record in message.payload.get("faults", ()):
            faults.setdefault(record["id"], record)
    severities = [record.get("severity") for record in faults.values() if record.get("severity") in SEVERITY_RANK]
    worst = min(severities, key=SEVERITY_RANK.__getitem__) if severities else SEVERITIES[-1]
    title = f"[SUMMARY] {len(messages)} notifications held back by the rate limit"
    lines = [f"More notifications than this channel's rate limit allows arrived within {format_duration(window_s)}; "
             f"these {len(messages)} are summed up here:", ""]
    lines += [f"  {message.title}" for message in messages]
    text = "\n".join(lines)
    payload = {"version": PAYLOAD_VERSION, "event": "summary", "severity": worst, "title": title, "text": text,
               "note": "", "tier": None, "faults": list(faults.values())}
    return Message(title, text, payload)


def headline(alert: Alert) -> str:
    """`core-sw-01: down: 37 devices at 12 sites unreachable`: device, what tripped, what it cuts off."""
    subject = alert.device.name + (f" {alert.instance}" if alert.instance else "")
    what = alert.message or alert.rule
    # Rule templates often name the device already ("core-sw-01 does not answer").
    text = what if what.startswith(alert.device.name) else f"{subject}: {what}"
    if alert.symptoms:
        text += f"{',' if ':' in what else ':'} {_symptom_count(alert)} unreachable"
    return text


def _symptom_count(alert: Alert) -> str:
    devices = len(alert.symptoms)
    sites = len(alert.symptom_sites)
    text = f"{devices} device{'s' if devices != 1 else ''}"
    if sites:
        text += f" at {sites} site{'s' if sites != 1 else ''}"
    return text


def _details(alert: Alert, ack_hint: str, now: float, tz: Optional[tzinfo]) -> str:
    device = alert.device
    lines = [f"Fault {alert.fault_id}: {headline(alert)}"]
    if alert.heightened:
        lines.append("HEIGHTENED WATCH: opened during a heightened-watch period (stricter SLA).")
    if alert.event in _EVENT_LINES:
        lines.append(_EVENT_LINES[alert.event])
    lines.append(f"Severity: {alert.severity}")
    where = f" ({', '.join(part for part in (device.device_class, device.address) if part)})" \
        if device.device_class or device.address else ""
    lines.append(f"Device: {device.name}{where}")
    lines.append(f"Site: {' / '.join(device.site_path) or '-'}")
    tripped = f"What tripped: rule {alert.rule}" + (f" on {alert.instance}" if alert.instance else "")
    tripped += f": {alert.message}" if alert.message else ""
    measured = [f"{name} {_number(value)}" for name, value in (("value", alert.value), ("threshold", alert.threshold))
                if value is not None]
    if measured:
        tripped += f" ({', '.join(measured)})"
    lines.append(tripped)
    if alert.event == "resolved":
        lines.append(f"Since: {_local(alert.opened_at, tz)}")
        lines.append(f"Resolved: {_local(alert.time, tz)} after {format_duration(max(0.0, alert.time - alert.opened_at))}")
    else:
        lines.append(f"Since: {_local(alert.opened_at, tz)} (for {format_duration(max(0.0, now - alert.opened_at))})")
    if alert.deadline is not None:
        lines.append(f"Deadline: {_local(alert.deadline, tz)}")
    if alert.acknowledged_by:
        lines.append(f"Acknowledged by: {alert.acknowledged_by}")
    if alert.event != "resolved":
        lines.append(f"Acknowledge: {ack_hint.format(id=alert.fault_id)}")
    if alert.symptoms:
        lines.append(f"Unreachable behind it ({_symptom_count(alert)}):")
        lines += [f"  - {name}" for name in alert.symptoms[:SYMPTOMS_SHOWN]]
        if len(alert.symptoms) > SYMPTOMS_SHOWN:
            lines.append(f"  ... and {len(alert.symptoms) - SYMPTOMS_SHOWN} more")
        if alert.symptom_sites:
            sites = ", ".join(alert.symptom_sites[:SYMPTOM_SITES_SHOWN])
            more = len(alert.symptom_sites) - SYMPTOM_SITES_SHOWN
            lines.append(f"Sites affected: {sites}" + (f" and {more} more" if more > 0 else ""))
    return "\n".join(lines)


def fault_record(alert: Alert, ack_hint: str) -> dict[str, Any]:
    """One entry of the webhook body's `faults` list (see the module docstring)."""
    device = alert.device
    return {
        "id": alert.fault_id, "event": alert.event, "device": device.name, "address": device.address,
        "class": device.device_class, "site": device.site, "site_path": list(device.site_path),
        "tags": list(device.tags), "rule": alert.rule, "instance": alert.instance, "severity": alert.severity,
        "message": alert.message, "value": alert.value, "threshold": alert.threshold,
        "opened_at": iso(alert.opened_at), "event_time": iso(alert.time), "heightened": alert.heightened,
        "acknowledged_by": alert.acknowledged_by,
        "deadline": iso(alert.deadline) if alert.deadline is not None else None,
        "symptoms": list(alert.symptoms), "symptom_sites": list(alert.symptom_sites),
        "acknowledge": ack_hint.format(id=alert.fault_id),
    }


def iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, timezone.utc).isoformat(timespec="seconds")


def _local(unix_s: float, tz: Optional[tzinfo]) -> str:
    moment = datetime.fromtimestamp(unix_s, tz) if tz is not None else datetime.fromtimestamp(unix_s).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


def _number(value: float) -> str:
    return f"{value:g}"

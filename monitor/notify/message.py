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

from monitor import words
from monitor.faults.model import SEVERITIES, SEVERITY_RANK, Alert
from monitor.i18n import N_, _, ngettext

PAYLOAD_VERSION = 1
SYMPTOMS_SHOWN = 20  # a message lists this many devices behind a failed parent, then "and N more"
SYMPTOM_SITES_SHOWN = 12

OPENING_EVENTS = ("open", "reopen", "maintenance_over")  # these start a fault's notifications and timers

# Every text a notification is made of (translated through monitor.i18n when a message is rendered).
_EVENT_TAGS = {
    "resolved": N_("RESOLVED"), "escalate": N_("ESCALATED"), "repeat": N_("REPEAT"),
    "ack_warning": N_("ACK DUE SOON"), "ack_breach": N_("NOT ACKNOWLEDGED IN TIME"),
    "resolve_warning": N_("FIX DUE SOON"), "resolve_breach": N_("FIX OVERDUE"),
    "maintenance_over": N_("MAINTENANCE OVER"),
}
_EVENT_LINES = {
    "reopen": N_("The fault opened again soon after it had resolved."),
    "maintenance_over": N_("The maintenance window ended and the device is still failing."),
    "ack_warning": N_("The acknowledge deadline is near."),
    "ack_breach": N_("The acknowledge deadline has passed without an acknowledgement."),
    "resolve_warning": N_("The repair deadline is near."),
    "resolve_breach": N_("The repair deadline has passed."),
}
SUMMARY_TAG = N_("SUMMARY")
NO_SITE = N_("no site")


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
    """One message about one fault, or about several faults (grouped: one site, one short window),
    in the language in force (monitor.i18n); the payload's keys and codes stay English.

    `note` adds a line such as why this is an escalation; `tz` is for tests (default: local time)."""
    if not alerts:
        raise ValueError("render() needs at least one alert")
    alerts = sorted(alerts, key=lambda a: (SEVERITY_RANK.get(a.severity, 99), a.fault_id))
    worst = alerts[0].severity
    event = alerts[0].event if len({a.event for a in alerts}) == 1 else "open"
    tag = _(_EVENT_TAGS[event]) if event in _EVENT_TAGS else words.severity(worst).upper()
    if len(alerts) == 1:
        alert = alerts[0]
        template = _("[{tag}] {headline} (fault {id}, reopened)") if alert.event == "reopen" \
            else _("[{tag}] {headline} (fault {id})")
        title = template.format(tag=tag, headline=headline(alert), id=alert.fault_id)
        text = _details(alert, ack_hint, now, tz)
        if note:
            text = f"{note}\n\n{text}"
    else:
        site = alerts[0].device.site or _(NO_SITE)
        ids = ", ".join(str(a.fault_id) for a in alerts)
        title = ngettext("[{tag}] {count} fault at {site} (faults {ids})",
                         "[{tag}] {count} faults at {site} (faults {ids})", len(alerts)).format(
            tag=tag, count=len(alerts), site=site, ids=ids)
        path = " / ".join(alerts[0].device.site_path) or _(NO_SITE)
        overview = [ngettext("{count} fault at {site}:", "{count} faults at {site}:", len(alerts)).format(
            count=len(alerts), site=path)]
        overview += [_("  fault {id} [{severity}] {headline}").format(
            id=a.fault_id, severity=words.severity(a.severity), headline=headline(a)) for a in alerts]
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
    count = len(messages)
    title = ngettext("[{tag}] {count} notification held back by the rate limit",
                     "[{tag}] {count} notifications held back by the rate limit", count).format(
        tag=_(SUMMARY_TAG), count=count)
    lines = [ngettext("More notifications than this channel's rate limit allows arrived within {window}; "
                      "this {count} is summed up here:",
                      "More notifications than this channel's rate limit allows arrived within {window}; "
                      "these {count} are summed up here:", count).format(window=words.duration(window_s), count=count),
             ""]
    lines += [f"  {message.title}" for message in messages]
    text = "\n".join(lines)
    payload = {"version": PAYLOAD_VERSION, "event": "summary", "severity": worst, "title": title, "text": text,
               "note": "", "tier": None, "faults": list(faults.values())}
    return Message(title, text, payload)


def escalation_note(unacknowledged_s: float, tier: int) -> str:
    """The line an escalation to `tier` starts with."""
    return _("Not acknowledged within {duration} of opening; escalated to tier {tier}.").format(
        duration=words.duration(unacknowledged_s), tier=tier)


def reminder_note(repeats: int) -> str:
    """The line the `repeats`-th reminder of an unacknowledged fault starts with."""
    return _("Still not acknowledged (reminder {n}).").format(n=repeats)


def headline(alert: Alert) -> str:
    """`core-sw-01: down: 37 devices at 12 sites unreachable`: device, what tripped, what it cuts off."""
    subject = alert.device.name + (f" {alert.instance}" if alert.instance else "")
    what = alert.message or alert.rule
    # Rule templates name the device already ("core-sw-01 at street-03 does not answer"; in
    # Chinese the site comes first, so the name is looked for anywhere in the text).
    text = what if alert.device.name in what else _("{subject}: {what}").format(subject=subject, what=what)
    if alert.symptoms:
        template = _("{text}, {count} unreachable") if ":" in what or "\uff1a" in what \
            else _("{text}: {count} unreachable")
        text = template.format(text=text, count=_symptom_count(alert))
    return text


def _symptom_count(alert: Alert) -> str:
    devices = len(alert.symptoms)
    sites = len(alert.symptom_sites)
    text = ngettext("{n} device", "{n} devices", devices).format(n=devices)
    if sites:
        text = ngettext("{devices} at {n} site", "{devices} at {n} sites", sites).format(devices=text, n=sites)
    return text


def _details(alert: Alert, ack_hint: str, now: float, tz: Optional[tzinfo]) -> str:
    device = alert.device
    lines = [_("Fault {id}: {headline}").format(id=alert.fault_id, headline=headline(alert))]
    if alert.heightened:
        lines.append(_("HEIGHTENED WATCH: opened during a heightened-watch period (stricter SLA)."))
    if alert.event in _EVENT_LINES:
        lines.append(_(_EVENT_LINES[alert.event]))
    lines.append(_("Severity: {severity}").format(severity=words.severity(alert.severity)))
    details = _(", ").join(part for part in (words.device_class(device.device_class) if device.device_class else "",
                                          device.address) if part)
    lines.append((_("Device: {name} ({details})") if details else _("Device: {name}")).format(
        name=device.name, details=details))
    lines.append(_("Site: {site}").format(site=" / ".join(device.site_path) or "-"))
    tripped = (_("What tripped: rule {rule} on {instance}") if alert.instance else _("What tripped: rule {rule}")) \
        .format(rule=alert.rule, instance=alert.instance)
    if alert.message:
        tripped = _("{tripped}: {message}").format(tripped=tripped, message=alert.message)
    measured = [template.format(value=_number(value)) for template, value in
                ((_("value {value}"), alert.value), (_("threshold {value}"), alert.threshold)) if value is not None]
    if measured:
        tripped = _("{text} ({measured})").format(text=tripped, measured=_(", ").join(measured))
    lines.append(tripped)
    if alert.event == "resolved":
        lines.append(_("Since: {time}").format(time=_local(alert.opened_at, tz)))
        lines.append(_("Resolved: {time} after {duration}").format(
            time=_local(alert.time, tz), duration=words.duration(max(0.0, alert.time - alert.opened_at))))
    else:
        lines.append(_("Since: {time} (for {duration})").format(
            time=_local(alert.opened_at, tz), duration=words.duration(max(0.0, now - alert.opened_at))))
    if alert.deadline is not None:
        lines.append(_("Deadline: {time}").format(time=_local(alert.deadline, tz)))
    if alert.acknowledged_by:
        lines.append(_("Acknowledged by: {name}").format(name=alert.acknowledged_by))
    if alert.event != "resolved":
        lines.append(_("Acknowledge: {command}").format(command=ack_hint.format(id=alert.fault_id)))
    if alert.symptoms:
        lines.append(_("Unreachable behind it ({count}):").format(count=_symptom_count(alert)))
        lines += [f"  - {name}" for name in alert.symptoms[:SYMPTOMS_SHOWN]]
        if len(alert.symptoms) > SYMPTOMS_SHOWN:
            lines.append(_("  ... and {n} more").format(n=len(alert.symptoms) - SYMPTOMS_SHOWN))
        if alert.symptom_sites:
            sites = _(", ").join(alert.symptom_sites[:SYMPTOM_SITES_SHOWN])
            more = len(alert.symptom_sites) - SYMPTOM_SITES_SHOWN
            lines.append((_("Sites affected: {sites} and {n} more") if more > 0 else _("Sites affected: {sites}"))
                         .format(sites=sites, n=more))
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

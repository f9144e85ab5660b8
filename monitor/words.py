"""Words people read that several places share: severities, fault states, device classes,
reachability and probe states, and durations, shown in the language in force (monitor.i18n).

The values stored, sent as JSON or written to InfluxDB stay the English keys (`critical`,
`acknowledged`, `switch`, `timeout`); only what a person reads goes through these functions. In
English each word reads as it always did (the key itself, or its upper case in titles), so
English output does not change; a key without an entry here is shown as it is.
"""

from __future__ import annotations

from monitor.i18n import N_, _

SEVERITIES = {"critical": N_("critical"), "major": N_("major"), "minor": N_("minor"), "warning": N_("warning")}

FAULT_STATES = {"open": N_("open"), "acknowledged": N_("acknowledged"), "resolved": N_("resolved"),
                "closed": N_("closed")}

DEVICE_CLASSES = {
    "mcu": N_("mcu"), "codec": N_("codec"), "phone": N_("phone"), "switch": N_("switch"), "router": N_("router"),
    "ups": N_("ups"), "nvr": N_("nvr"), "camera": N_("camera"), "server": N_("server"),
    "env_sensor": N_("env_sensor"), "other": N_("other"),
}

# `netvigil status`: a device's reachability (shown in upper case in English, as before).
REACHABILITY = {"up": N_("UP"), "down": N_("DOWN"), "pending": N_("PENDING"), "unmonitored": N_("UNMONITORED")}

# The SNMP/SSH/TCP columns of `status`: each probe kind's error-code names (probes/*: ErrorCode).
PROBE_STATES = {
    "ok": N_("ok"), "timeout": N_("timeout"), "send_failed": N_("send_failed"),
    "resolve_failed": N_("resolve_failed"), "auth": N_("auth"), "malformed": N_("malformed"),
    "no_such_object": N_("no_such_object"), "agent_error": N_("agent_error"), "walk_loop": N_("walk_loop"),
    "too_many_rows": N_("too_many_rows"), "internal": N_("internal"),
    "too_many_rows_device": N_("too_many_rows_device"), "index_too_long": N_("index_too_long"),
    "wrong_type": N_("wrong_type"), "no_data": N_("no data"), "no_system_group": N_("no system group"),
    "refused": N_("refused"), "auth_timeout": N_("auth_timeout"),
    "host_key_unknown": N_("host_key_unknown"), "host_key_changed": N_("host_key_changed"),
    "command_failed": N_("command_failed"), "command_timeout": N_("command_timeout"),
    "output_too_large": N_("output_too_large"), "disconnected": N_("disconnected"),
    "session_timeout": N_("session_timeout"), "protocol": N_("protocol"), "unreachable": N_("unreachable"),
    "error": N_("error"),
}

_UNITS = ((N_("{n}d"), 86400), (N_("{n}h"), 3600), (N_("{n}m"), 60), (N_("{n}s"), 1))


def _word(table: dict[str, str], key: str) -> str:
    text = table.get(key)
    return key if text is None else _(text)


def severity(key: str) -> str:
    return _word(SEVERITIES, key)


def fault_state(key: str) -> str:
    return _word(FAULT_STATES, key)


def device_class(key: str) -> str:
    return _word(DEVICE_CLASSES, key)


def reachability(key: str) -> str:
    text = REACHABILITY.get(key)
    return key.upper() if text is None else _(text)


def probe_state(key: str) -> str:
    return _word(PROBE_STATES, key)


def duration(seconds: float) -> str:
    """`3725` -> `1h 2m` (`1小时2分`): the two largest units, like monitor.faults.model.format_duration,
    which stays English for logs."""
    seconds = int(round(seconds))
    if seconds < 60:
        return _("{n}s").format(n=seconds)
    parts = []
    for unit, size in _UNITS:
        if seconds >= size:
            parts.append(_(unit).format(n=seconds // size))
            seconds %= size
    parts = parts[:2]
    return parts[0] if len(parts) == 1 else _("{first} {second}").format(first=parts[0], second=parts[1])


_SELECTOR_PARTS = (("devices", N_("devices {names}")), ("sites", N_("sites {names}")),
                   ("classes", N_("classes {names}")), ("tags", N_("tags {names}")))
EVERY_DEVICE = N_("every device")


def selector(chosen) -> str:
    """What a Selector (rule match, maintenance window) covers, for people: `sites street-03;
    classes codec` or `every device` (Selector.describe() is the English one, for logs and JSON)."""
    parts = []
    for key, template in _SELECTOR_PARTS:
        values = list(getattr(chosen, key))
        if values:
            if key == "classes":
                values = [device_class(value) for value in values]
            parts.append(_(template).format(names=", ".join(values)))
    return "; ".join(parts) or _(EVERY_DEVICE)


# A notification in a fault's written timeline: which event went to which channel, and whether
# it was delivered (monitor/notify/outbox.py). One text per event: the event names alone would
# share their English with other words ("open" is also a fault state) but not their Chinese.
NOTICES = {
    "open": N_("open -> {channel} ({status})"), "reopen": N_("reopen -> {channel} ({status})"),
    "resolved": N_("resolved -> {channel} ({status})"), "escalate": N_("escalate -> {channel} ({status})"),
    "repeat": N_("repeat -> {channel} ({status})"), "ack_warning": N_("ack_warning -> {channel} ({status})"),
    "ack_breach": N_("ack_breach -> {channel} ({status})"),
    "resolve_warning": N_("resolve_warning -> {channel} ({status})"),
    "resolve_breach": N_("resolve_breach -> {channel} ({status})"),
    "maintenance_over": N_("maintenance_over -> {channel} ({status})"),
    "summary": N_("summary -> {channel} ({status})"),
}
DELIVERY = {"pending": N_("pending"), "sent": N_("sent"), "failed": N_("failed"), "folded": N_("folded")}


def notice(event: str, channel: str, status: str) -> str:
    """`open -> oncall-mail (sent)`: a notification about a fault and what became of it."""
    template = _(NOTICES[event]) if event in NOTICES else event + " -> {channel} ({status})"
    return template.format(channel=channel, status=_word(DELIVERY, status))

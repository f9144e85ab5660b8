"""Tables for people: the `netvigil status` table and aligned columns for the other commands.

Cells are shown escaped (a port alias or an error sentence an agent sent must not drive the
operator's terminal), and wide (CJK) characters count as two columns.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Optional, Sequence

from monitor import words
from monitor.i18n import N_, _
from monitor.logsetup import escape_controls
from monitor.state import STATE_NAMES

# The `status` table's headings (a column per probe kind with error codes follows STATE, named
# by the kind in upper case: SNMP, SSH, TCP).
STATUS_HEADINGS = (N_("DEVICE"), N_("ADDRESS"), N_("CLASS"), N_("SITE"), N_("STATE"), N_("RTT ms"), N_("LOSS %"),
                   N_("JITTER ms"))
STATUS_TAIL = (N_("CONFIG"), N_("LAST SEEN"), N_("SINCE"))


def _number(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_table(rows: Sequence[dict]) -> str:
    """The `netvigil status` table, one device a line, worst first, in the language in force
    (the rows carry the English codes the daemon and `--json` use)."""
    kinds = list(STATE_NAMES)  # a column per probe kind with error codes: SNMP, SSH, TCP, ...
    header = (*(_(text) for text in STATUS_HEADINGS), *(kind.upper() for kind in kinds),
              *(_(text) for text in STATUS_TAIL))
    lines = [header]
    for row in rows:
        lines.append((
            row["device"], row["address"], words.device_class(row["class"]) if row["class"] else "", row["site"],
            words.reachability(row["state"]),
            _number(row.get("rtt_avg_ms"), 2), _number(row.get("loss_pct"), 1), _number(row.get("jitter_ms"), 2),
            *(words.probe_state(row[kind]) if row.get(kind) else "-" for kind in kinds),
            _config_cell(row.get("config")),
            _short_time(row.get("last_seen")), _short_time(row.get("since")),
        ))
    out = [format_columns(lines)]
    for row in rows:
        # Error sentences quote what devices said: escape sequences in them must not drive the
        # operator's terminal (colours, cursor moves, a line that overwrites another).
        if row.get("error"):
            out.append(f"  {row['device']}: {escape_controls(row['error'])}")
        for key in (f"{kind}_error" for kind in kinds):
            if row.get(key):
                out.append(f"  {row['device']}: {escape_controls(row[key])}")
            elif key == "snmp_error" and row.get("snmp") == "no_data" and row.get("snmp_empty"):
                # The store keeps no sentences (a stopped daemon's status): say which profiles.
                out.append(f"  {row['device']}: " + escape_controls(
                    _(NO_DATA_PROFILES).format(names=", ".join(row["snmp_empty"]))))
    return "\n".join(out)


NO_DATA_PROFILES = N_("SNMP: no data: the agent answered, but the profiles {names} found nothing on it")


def _config_cell(value: Optional[str]) -> str:
    """`v12` (the stored configuration version) as it is; an SSH failure by its state word."""
    if not value:
        return "-"
    return value if value[:1] == "v" and value[1:].isdigit() else words.probe_state(value)


# The words of the SNMP health lines (figures from monitor/health.py), all in one place;
# translated where shown.
HEALTH_TITLE = N_("SNMP health (newest poll)")
_POWER = {"mains": N_("on mains"), "battery": N_("ON BATTERY"), "bypass": N_("ON BYPASS"),
          "off": N_("output OFF"), "none": N_("no output"), "other": N_("power source other")}
_POWER_CODE = N_("power {code}")
_BATTERY = {"normal": N_("battery normal"), "low": N_("battery LOW"), "depleted": N_("battery DEPLETED"),
            "fault": N_("battery FAULT"), "unknown": N_("battery unknown")}
_BATTERY_CODE = N_("battery {code}")
_HEALTH_WORDS = {
    "charge_pct": N_("charge {value} %"), "runtime_min": N_("runtime {value} min"), "load_pct": N_("load {value} %"),
    "temperature_c": N_("temperature {value} °C"), "humidity_pct": N_("humidity {value} %RH"),
    "cpu_pct": N_("CPU {value} %"), "memory_pct": N_("memory {value} %"),
    "disks": N_("disks {value}"), "disk_used_pct": N_("fullest {value} %"), "inputs": N_("{value} inputs"),
}
_PORTS_UP = N_("ports {up} up of {total}")
_DISKS_FAILED = N_("{value} FAILED")
_INPUTS_ALARM = N_("{value} IN ALARM")
_INPUTS_QUIET = N_("none in alarm")
_SEPARATOR = N_(", ")  # between the figures of one device


def _figure(value) -> str:
    if isinstance(value, list):  # [lowest, highest]
        low, high = (_figure(v) for v in value)
        return low if low == high else f"{low}-{high}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def health_text(health: dict) -> str:
    """One device's figures as words, e.g. "on mains, battery normal, charge 100 %, runtime 452 min"."""
    parts = []
    for key, value in health.items():
        if key == "power":
            parts.append(_(_POWER[value]) if value in _POWER else _(_POWER_CODE).format(code=value))
        elif key == "battery":
            parts.append(_(_BATTERY[value]) if value in _BATTERY else _(_BATTERY_CODE).format(code=value))
        elif key == "ports_up":
            parts.append(_(_PORTS_UP).format(up=value, total=health.get("ports", "?")))
        elif key == "inputs_alarm":
            parts.append(_(_INPUTS_ALARM).format(value=value) if value else _(_INPUTS_QUIET))
        elif key == "disks_failed":
            if value:  # a disk that is fine needs no words
                parts.append(_(_DISKS_FAILED).format(value=value))
        elif key in _HEALTH_WORDS:
            parts.append(_(_HEALTH_WORDS[key]).format(value=_figure(value)))
    return _(_SEPARATOR).join(parts)


def render_health(rows: Sequence[dict]) -> str:
    """The SNMP health section under the status table: a line per device with figures ("" if none)."""
    lines = [(row["device"], health_text(row["health"])) for row in rows if row.get("health")]
    if not lines:
        return ""
    return _(HEALTH_TITLE) + "\n" + "\n".join("  " + line for line in format_columns(lines).splitlines())


def _short_time(value: Optional[str]) -> str:
    if not value:
        return "-"
    local = datetime.fromisoformat(value).astimezone()
    return local.strftime("%m-%d %H:%M:%S")


def format_columns(lines: Sequence[Sequence[str]]) -> str:
    """Rows of cells as aligned columns (the first row is the header); control characters in a
    cell (e.g. a port alias an agent sent) are shown escaped, never sent to the terminal."""
    if not lines:
        return ""
    lines = [[escape_controls(str(cell)) for cell in line] for line in lines]
    widths = [max(display_width(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell + " " * (widths[i] - display_width(cell)) for i, cell in enumerate(line)).rstrip()
                     for line in lines)


def display_width(text: str) -> int:
    """Terminal columns: Chinese site and device names (and full-width punctuation such as
    '，' or '（') take two per character, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


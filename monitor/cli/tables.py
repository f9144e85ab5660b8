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
            *(words.probe_state(row[kind]) if row.get(kind) else "-" for kind in kinds), _config_cell(row.get("config")),
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
    return "\n".join(out)


def _config_cell(value: Optional[str]) -> str:
    """`v12` (the stored configuration version) as it is; an SSH failure by its state word."""
    if not value:
        return "-"
    return value if value[:1] == "v" and value[1:].isdigit() else words.probe_state(value)


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


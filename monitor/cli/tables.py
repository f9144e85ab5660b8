"""Tables for people: the `netvigil status` table and aligned columns for the other commands.

Cells are shown escaped (a port alias or an error sentence an agent sent must not drive the
operator's terminal), and wide (CJK) characters count as two columns.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Optional, Sequence

from monitor.logsetup import escape_controls
from monitor.state import STATE_NAMES


def _number(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_table(rows: Sequence[dict]) -> str:
    """The `netvigil status` table, one device a line, worst first."""
    kinds = list(STATE_NAMES)  # a column per probe kind with error codes: SNMP, SSH, TCP, ...
    header = ("DEVICE", "ADDRESS", "CLASS", "SITE", "STATE", "RTT ms", "LOSS %", "JITTER ms",
              *(kind.upper() for kind in kinds), "CONFIG", "LAST SEEN", "SINCE")
    lines = [header]
    for row in rows:
        lines.append((
            row["device"], row["address"], row["class"], row["site"], row["state"].upper(),
            _number(row.get("rtt_avg_ms"), 2), _number(row.get("loss_pct"), 1), _number(row.get("jitter_ms"), 2),
            *(row.get(kind) or "-" for kind in kinds), row.get("config") or "-", _short_time(row.get("last_seen")),
            _short_time(row.get("since")),
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


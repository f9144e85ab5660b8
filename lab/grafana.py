"""What Grafana does with a dashboard's InfluxQL before it reaches InfluxDB, without Grafana.

No Grafana server can be installed on the test machines (there is no Debian package), so the
tests read the provisioned dashboards themselves: every query of every panel, annotation and
template variable (`queries`), with the variables expanded the way Grafana's InfluxDB
datasource expands them (`Expander`):

* `$timeFilter` -> `time >= now() - 15m and time <= now()` (a relative range, as on a wall screen);
* `$__interval` -> the panel's interval: range / max data points, never below the datasource's
  `timeInterval` (10 s in grafana/provisioning), so for 15 minutes it is `10s`;
* `$var`, `${var}`, `[[var]]` of a query variable -> its value, regex-escaped when the variable
  is multi-value or has "All" (as Grafana escapes it for `=~ /^$var$/`), several values (and
  "All", which has no custom all-value here) as `(a|b|c)`;
* alias patterns (`$tag_device`, `$measurement`, `$col`) are Grafana's legend, not InfluxQL,
  and stay as they are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from lab.support import REPO

GRAFANA_DIR = REPO / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
#: Variables Grafana itself defines (and alias patterns, which never reach InfluxDB).
BUILTINS = {"timeFilter", "__interval", "__interval_ms", "__all", "measurement", "col"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_REGEX_SPECIAL = re.compile(r"[\\/^$*+?.()|\[\]{}]")


@dataclass(frozen=True)
class Query:
    dashboard: str  # the dashboard's title
    where: str  # "panel <title>", "annotation <name>" or "variable <name>"
    text: str


def dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict]:
    """"<language>/<file stem>" -> parsed dashboard, for every JSON file of the provisioned
    folders (one per language: en/noc-overview, zh-CN/noc-overview, ...)."""
    return {path.relative_to(directory).with_suffix("").as_posix(): json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(directory.glob("*/*.json"))}


def panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # inside collapsed rows


def queries(dashboard: dict) -> Iterator[Query]:
    """Every InfluxQL text of a dashboard: variables first (their values feed the others)."""
    title = dashboard["title"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            yield Query(title, f"variable {var['name']}", var["query"])
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield Query(title, f"panel {panel['title']!r} ({target['refId']})", target["query"])
    for note in dashboard.get("annotations", {}).get("list", []):
        if "query" in note:
            yield Query(title, f"annotation {note['name']!r}", note["query"])


def used_variables(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VARIABLE.finditer(text)} - {""}


def regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


@dataclass
class Expander:
    range_: str = "15m"
    interval: str = "10s"
    variables: Mapping[str, dict] = field(default_factory=dict)  # name -> Grafana's variable model
    values: dict[str, Sequence[str]] = field(default_factory=dict)  # name -> chosen values

    def expand(self, text: str) -> str:
        def one(match: re.Match) -> str:
            name = next(g for g in match.groups() if g)
            if name == "timeFilter":
                return f"time >= now() - {self.range_} and time <= now()"
            if name == "__interval":
                return self.interval
            if name not in self.values:
                return match.group(0)  # an alias pattern such as $tag_device
            values = list(self.values[name])
            model = self.variables.get(name, {})
            if not (model.get("multi") or model.get("includeAll")):
                return values[0]
            escaped = [regex_escape(v) for v in values]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

        return VARIABLE.sub(one, text)

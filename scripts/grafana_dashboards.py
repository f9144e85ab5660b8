"""Build the Grafana dashboards in grafana/dashboards/<language>/ (JSON, InfluxQL) from the
definitions below, in English (en/) and Chinese (zh-CN/).

The JSON files are what a Grafana provisioning provider reads (one provider, and one Grafana
folder, per language); this module is where they are written, so that every query uses the
same tag filters and the measurement names of docs/measurements.md. Every text a person reads
goes through the gettext catalogue (monitor/i18n.py): titles, descriptions, variable labels,
annotation names and legends with `_()`; table columns, which come from the queries, with
`COLUMNS` and a Grafana "organize" transformation that renames them, so the queries are the
same in both languages. A unit test fails when the committed JSON and this output drift apart,
or when a text has no Chinese; `--write` rewrites grafana/dashboards/.

    python scripts/grafana_dashboards.py --write
    python scripts/i18n.py      # after adding a text: extract it, translate it in the .po, compile
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere, the package beside it
    sys.path.insert(0, str(REPO))

from monitor import words  # noqa: E402
from monitor.i18n import N_, _, using  # noqa: E402

DASHBOARD_DIR = REPO / "grafana" / "dashboards"
LANGUAGES = ("en", "zh-CN")

#: The datasource every panel uses; grafana/provisioning/datasources/netvigil.yaml gives it this uid.
DATASOURCE_UID = "netvigil-influxdb"
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
TAGS = ["netvigil"]

#: "Now" for states: newer than two ICMP intervals at the slowest shipped setting, and for the
#: open-fault snapshot (written every 10 s) a minute rides out a late write.
NOW_STATE = "time > now() - 5m"
NOW_FAULTS = "time > now() - 1m"

#: The template-variable filter of the site/device dashboard (Grafana expands `$site` etc. to a
#: regex-escaped value or `(a|b)`; anchored so "street-1" does not match "street-10").
SELECTED = '"site" =~ /^$site$/ AND "class" =~ /^$class$/ AND "device" =~ /^$device$/'


def _target(query: str, ref: str = "A", alias: str = "", table: bool = False) -> dict:
    target = {"datasource": DATASOURCE, "refId": ref, "rawQuery": True, "query": query,
              "resultFormat": "table" if table else "time_series"}
    if alias:
        target["alias"] = alias
    return target


def _targets(*queries) -> list[dict]:
    """Queries as (query, alias) pairs or plain strings -> targets A, B, C, ..."""
    out = []
    for i, query in enumerate(queries):
        query, alias = (query, "") if isinstance(query, str) else query
        out.append(_target(query, chr(ord("A") + i), alias))
    return out


def _panel(kind: str, title: str, targets: list[dict], w: int, h: int, *, description: str = "",
           unit: str = "", options: dict | None = None, field_config: dict | None = None) -> dict:
    defaults = dict(field_config or {})
    if unit:
        defaults["unit"] = unit
    panel = {"type": kind, "title": title, "datasource": DATASOURCE, "targets": targets,
             "fieldConfig": {"defaults": defaults, "overrides": []}, "options": options or {},
             "gridPos": {"w": w, "h": h}}
    if description:
        panel["description"] = description
    return panel


def timeseries(title: str, *queries, unit: str = "", w: int = 12, h: int = 8, description: str = "") -> dict:
    return _panel("timeseries", title, _targets(*queries), w, h, unit=unit, description=description)


#: Every column a table panel shows (tags it groups by, aliases and fields it selects): their
#: names come from the queries, which stay the same in every language, and are translated by
#: the panel's "organize" transformation. The unit test fails on a table column not listed.
COLUMNS = (
    N_("Time"), N_("class"), N_("device"), N_("name"), N_("severity"), N_("rule"), N_("instance"),
    N_("command"), N_("model"), N_("software"), N_("disk"), N_("meeting"), N_("reason"), N_("state"),
    N_("up"), N_("down"), N_("fault"), N_("age"), N_("acknowledged"), N_("ack left"), N_("resolve left"),
    N_("breached"), N_("symptom"), N_("faults"), N_("budget"), N_("left"), N_("over"), N_("oper"), N_("admin"),
    N_("speed Mbit/s"), N_("in %"), N_("out %"), N_("source"), N_("ok"), N_("exit status"), N_("ms"),
    N_("output status"), N_("battery"), N_("charge %"), N_("runtime min"), N_("load %"), N_("input V"),
    N_("output V"), N_("on battery s"), N_("alarms"), N_("alarm"), N_("status"), N_("loss %"), N_("jitter ms"),
    N_("RTT ms"), N_("major version"), N_("minor version"), N_("selected"), N_("present"), N_("degraded"), N_("absent"),
    N_("rollcall"), N_("input"), N_("used %"), N_("free MB"), N_("capacity MB"), N_("availability %"), N_("resolved"),
    N_("ack mean"), N_("ack max"), N_("ack SLA"), N_("ack late"), N_("resolve mean"), N_("resolve max"),
    N_("resolve SLA"), N_("resolve late"), N_("port"), N_("rx dBm"), N_("tx dBm"), N_("margin dB"), N_("bias mA"),
    N_("module °C"),
)
#: Columns whose name, as a text of its own, means something else elsewhere in netvigil (gettext
#: has one translation per text): translated through another English text.
COLUMN_LABELS = {"site": N_("Site")}  # "site" alone is a site rule's origin in `rules list`
_QUOTED = re.compile(r'"([^"]+)"')
#: Tag values a person reads in the shared words of monitor.words (severities most severe
#: first, device classes): tables map a column's values, the overview draws one series per
#: severity.
SEVERITY_TEXTS = words.SEVERITIES
VALUE_WORDS = {"severity": words.SEVERITIES, "class": words.DEVICE_CLASSES}


def _top_level(text: str) -> str:
    """`text` with everything inside parentheses removed (subqueries, function arguments)."""
    out, depth = [], 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def table_columns(query: str) -> list[str]:
    """The columns of an InfluxQL table result: the outer query's GROUP BY tags, then each
    selected item's alias (or its field name, for a bare field)."""
    outer = _outer_select(query)
    columns = []
    for item in _split_select(outer[len("SELECT "):]):
        alias = re.search(r'\bAS "([^"]+)"\s*$', item)
        bare = re.fullmatch(r'\s*"([^"]+)"\s*', item)
        columns.append(alias.group(1) if alias else bare.group(1) if bare else item.strip())
    group = _top_level(query).rsplit("GROUP BY", 1)
    tags = [name for name in _QUOTED.findall(group[1])] if len(group) == 2 else []
    return ["Time", *tags, *columns]


def _outer_select(query: str) -> str:
    depth = 0
    for index in range(len(query)):
        if query[index] == "(":
            depth += 1
        elif query[index] == ")":
            depth -= 1
        elif depth == 0 and query.startswith(" FROM ", index):
            return query[:index]
    return query


def _split_select(items: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in items:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def table(title: str, query: str, *, w: int = 12, h: int = 8, description: str = "", unit: str = "",
          units: dict[str, str] | None = None) -> dict:
    """`unit` for every number of the table; `units` column -> unit where the columns differ
    (an override by the column's shown name, which the language's rename decides)."""
    panel = _panel("table", title, [_target(query, table=True)], w, h, unit=unit, description=description,
                   options={"showHeader": True})
    columns = table_columns(query)
    for column, column_unit in (units or {}).items():
        assert column in columns, (title, column)
        shown = _(COLUMN_LABELS.get(column, column))
        panel["fieldConfig"]["overrides"].append({"matcher": {"id": "byName", "options": shown},
                                                  "properties": [{"id": "unit", "value": column_unit}]})
    labels = {column: COLUMN_LABELS.get(column, column) for column in columns}
    renames = {column: _(label) for column, label in labels.items() if _(label) != label}
    organize = {"renameByName": renames} if renames else {}
    if "ORDER BY time" not in query:
        # A snapshot table: its time column is the aggregate's, not a moment anyone needs.
        organize["excludeByName"] = {"Time": True}
    if organize:
        panel["transformations"] = [{"id": "organize", "options": organize}]
    for column, table_words in VALUE_WORDS.items():
        shown = {value: _(text) for value, text in table_words.items() if _(text) != value}
        if column in columns and shown:
            mappings = [{"type": "value", "options": {value: {"text": text, "index": index}
                                                      for index, (value, text) in enumerate(shown.items())}}]
            matcher = {"id": "byName", "options": renames.get(column, column)}
            panel["fieldConfig"]["overrides"].append({"matcher": matcher,
                                                      "properties": [{"id": "mappings", "value": mappings}]})
    return panel


def stat(title: str, *queries, w: int = 4, h: int = 4, description: str = "", unit: str = "",
         thresholds: list | None = None, mappings: dict | None = None) -> dict:
    config = {}
    if thresholds:
        config["thresholds"] = {"mode": "absolute", "steps": thresholds}
        config["color"] = {"mode": "thresholds"}
    if mappings:
        config["mappings"] = [{"type": "value", "options": {str(value): {"text": _(text), "index": index}
                                                            for index, (value, text) in enumerate(mappings.items())}}]
    return _panel("stat", title, _targets(*queries), w, h, unit=unit, description=description,
                  field_config=config, options={"reduceOptions": {"calcs": ["lastNotNull"]},
                                                "colorMode": "background", "textMode": "value_and_name"})


def bargauge(title: str, query: str, *, value: str, worst_first: bool = True, unit: str = "", w: int = 8,
             h: int = 8, description: str = "") -> dict:
    """One bar per row of a top()/bottom() query (columns time, `value`, device): the rows come
    as a table, each bar named by the row's text field (the device), sorted worst first; as
    time series, top()'s device column would not name anything."""
    panel = _panel("bargauge", title, [_target(query, table=True)], w, h, unit=unit, description=description,
                   options={"orientation": "horizontal", "displayMode": "gradient",
                            "reduceOptions": {"calcs": ["lastNotNull"], "values": True, "fields": f"/^{value}$/"}})
    panel["transformations"] = [{"id": "sortBy", "options": {"sort": [{"field": value, "desc": worst_first}]}}]
    return panel


def annotation(name: str, query: str, *, text: str, tags: str, color: str) -> dict:
    """A Grafana InfluxQL annotation: `text` and `tags` are columns the query selects."""
    return {"name": name, "datasource": DATASOURCE, "enable": True, "iconColor": color, "query": query,
            "textColumn": text, "tagsColumn": tags}


def variable(name: str, label: str, query: str) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE, "query": query,
            "definition": query, "refresh": 2, "multi": True, "includeAll": True, "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}


def dashboard(uid: str, title: str, panels: list[dict], *, description: str, annotations: list[dict] = (),
              variables: list[dict] = (), time_from: str = "now-6h", refresh: str = "1m") -> dict:
    x = y = row_h = 0
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
        w, h = panel["gridPos"]["w"], panel["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        panel["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x, row_h = x + w, max(row_h, h)
    return {"uid": uid, "title": title, "description": description, "tags": TAGS, "editable": True,
            "schemaVersion": 39, "version": 1, "timezone": "browser", "refresh": refresh,
            "time": {"from": time_from, "to": "now"}, "panels": panels,
            "annotations": {"list": list(annotations)}, "templating": {"list": list(variables)}}


# -- the annotations every dashboard can share -----------------------------------------------

def fault_annotations(where: str = "") -> list[dict]:
    extra = f" AND {where}" if where else ""
    return [
        annotation(_("Faults opened"), 'SELECT "message", "device", "severity" FROM "fault" WHERE $timeFilter'
                   f' AND ("event" = 1 OR "event" = 2){extra}', text="message", tags="device,severity", color="red"),
        annotation(_("Faults acknowledged"), 'SELECT "message", "device", "severity" FROM "fault" WHERE $timeFilter'
                   f' AND "event" = 3{extra}', text="message", tags="device,severity", color="yellow"),
        annotation(_("Faults resolved"), 'SELECT "message", "device", "severity" FROM "fault" WHERE $timeFilter'
                   f' AND "event" = 4{extra}', text="message", tags="device,severity", color="green"),
    ]


# -- 1. NOC overview -----------------------------------------------------------------------

BY_DEVICE = '"device"'
BY_DEVICE_SITE_CLASS = '"device", "site", "class"'


def _last_up(group: str) -> str:
    return f'SELECT last("up") AS "up" FROM "icmp" WHERE {NOW_STATE} GROUP BY {group}'


def _worst(field: str) -> str:
    return (f'SELECT top("v", "device", 10) AS "v" FROM (SELECT last("{field}") AS "v" FROM "icmp" '
            f'WHERE {NOW_STATE} GROUP BY "device")')


def noc_overview() -> dict:
    red = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
    panels = [
        stat(_("Devices up"), f'SELECT sum("up") FROM ({_last_up(BY_DEVICE)})',
             description=_("Devices whose last ICMP run (within 5 min) was answered")),
        stat(_("Devices down"), f'SELECT count("up") - sum("up") FROM ({_last_up(BY_DEVICE)})',
             thresholds=red, description=_("Devices whose last ICMP run (within 5 min) got no answer")),
        stat(_("Open faults by severity"),
             *((f'SELECT last("open") FROM "fault_open_count" WHERE {NOW_FAULTS} AND "severity" = \'{severity}\'',
                _(text)) for severity, text in SEVERITY_TEXTS.items()),
             w=8, thresholds=red, description=_("Unresolved faults, symptoms and maintenance included")),
        stat(_("Unacknowledged"),
             f'SELECT sum("unacknowledged") FROM (SELECT last("unacknowledged") AS "unacknowledged" '
             f'FROM "fault_open_count" WHERE {NOW_FAULTS} GROUP BY "severity")', thresholds=red,
             description=_("Alerting faults nobody has acknowledged yet")),
        stat(_("SLA breached"),
             f'SELECT sum("breached") FROM (SELECT last("breached") AS "breached" '
             f'FROM "fault_open_count" WHERE {NOW_FAULTS} GROUP BY "severity")', thresholds=red,
             description=_("Open faults past their acknowledge or resolve deadline")),
        table(_("Devices down now"),
              f'SELECT "up" FROM ({_last_up(BY_DEVICE_SITE_CLASS)}) WHERE "up" = 0 GROUP BY "site", "class", "device"',
              w=8, h=10,
              description=_("Every device whose last ICMP run (within 5 min) got no answer: who to call")),
        table(_("Open faults now, with time left on the SLA clocks"),
              'SELECT last("id") AS "fault", last("age_s") AS "age", last("ack") AS "acknowledged", '
              'last("ack_left_s") AS "ack left", last("resolve_left_s") AS "resolve left", '
              'last("breached") AS "breached", last("symptom") AS "symptom" '
              f'FROM "fault_open" WHERE {NOW_FAULTS} GROUP BY "severity", "site", "device", "rule", "instance"',
              w=16, h=10, units={"age": "s", "ack left": "s", "resolve left": "s"},
              description=_("One row per unresolved fault from the snapshot the daemon writes every 10 s; "
                          "time left is negative once a deadline has passed")),
        table(_("Devices up and down by site and class"),
              f'SELECT sum("up") AS "up", count("up") - sum("up") AS "down" FROM '
              f'({_last_up(BY_DEVICE_SITE_CLASS)}) '
              'GROUP BY "site", "class"', w=6, h=8),
        bargauge(_("Worst loss now"), _worst("loss_pct"), value="v", unit="percent", w=6),
        bargauge(_("Worst jitter now"), _worst("jitter_ms"), value="v", unit="ms", w=6),
        bargauge(_("Worst RTT now"), _worst("rtt_avg_ms"), value="v", unit="ms", w=6),
        timeseries(_("Loss by site (worst device)"),
                   ('SELECT max("loss_pct") FROM "icmp" WHERE $timeFilter GROUP BY time($__interval), "site" '
                    'fill(none)',
                    "$tag_site"), unit="percent", w=8),
        timeseries(_("RTT by site (worst device)"),
                   ('SELECT max("rtt_avg_ms") FROM "icmp" WHERE $timeFilter GROUP BY time($__interval), "site" '
                    'fill(none)', "$tag_site"), unit="ms", w=8),
        timeseries(_("Open faults by severity"),
                   *((f'SELECT max("open") FROM "fault_open_count" WHERE $timeFilter AND "severity" = \'{severity}\' '
                      'GROUP BY time($__interval) fill(none)', _(text)) for severity, text in SEVERITY_TEXTS.items()),
                   w=8),
        stat(_("Devices over this month's fault budget"),
             f'SELECT last("over") FROM "fault_budget_count" WHERE {NOW_FAULTS}', w=6, h=6, thresholds=red,
             description=_("Devices with more root faults this calendar month than faults.budget allows")),
        table(_("Over budget this month"),
              f'SELECT last("faults") AS "faults", last("budget") AS "budget" FROM "fault_budget" '
              f'WHERE {NOW_FAULTS} AND "over" = 1 GROUP BY "site", "class", "device"', w=18, h=6,
              description=_("Each device over its budget, with its faults this month (symptoms and "
                          "maintenance not counted)")),
    ]
    return dashboard("netvigil-noc", _("netvigil: NOC overview"), panels, refresh="30s",
                     description=_("The wall screen: what is down, what is open and how long is left on its SLA clock"),
                     annotations=fault_annotations())


# -- 2. Site / device ----------------------------------------------------------------------

def _selected(select: str, measurement: str, group: str = '"device"') -> str:
    return (f'SELECT {select} FROM "{measurement}" WHERE $timeFilter AND {SELECTED} '
            f'GROUP BY time($__interval), {group} fill(none)')


def _selected_last(select: str, measurement: str, group: str) -> str:
    return f'SELECT {select} FROM "{measurement}" WHERE $timeFilter AND {SELECTED} GROUP BY {group}'


def site_device() -> dict:
    by_name = '"device", "name"'
    panels = [
        timeseries(_("Reachability"), (_selected('mean("up") * 100', "icmp"), "$tag_device"), unit="percent", w=12),
        timeseries(_("Round-trip time"), (_selected('mean("rtt_avg_ms")', "icmp"), _("$tag_device avg")),
                   (_selected('max("rtt_max_ms")', "icmp"), _("$tag_device max")), unit="ms"),
        timeseries(_("Loss"), (_selected('max("loss_pct")', "icmp"), "$tag_device"), unit="percent"),
        timeseries(_("Jitter"), (_selected('mean("jitter_ms")', "icmp"), "$tag_device"), unit="ms"),
        timeseries(_("Interface traffic"),
                   (_selected('mean("in_bps")', "snmp_if", by_name), _("$tag_device $tag_name in")),
                   (_selected('mean("out_bps")', "snmp_if", by_name), _("$tag_device $tag_name out")), unit="bps"),
        timeseries(_("Interface errors"),
                   (_selected('mean("in_errors_per_s")', "snmp_if", by_name), _("$tag_device $tag_name in")),
                   (_selected('mean("out_errors_per_s")', "snmp_if", by_name), _("$tag_device $tag_name out")),
                   unit="short"),
        table(_("Interface state"),
              _selected_last('last("oper_status") AS "oper", last("admin_status") AS "admin", '
                             'last("speed_mbps") AS "speed Mbit/s", last("in_util_pct") AS "in %", '
                             'last("out_util_pct") AS "out %"', "snmp_if", by_name),
              w=24, description=_("ifOperStatus / ifAdminStatus: 1 up, 2 down, 3 testing, 5 dormant, "
                                  "7 lower layer down")),
        timeseries(_("CPU"),
                   (_selected('mean("load_5min_pct")', "cisco_cpu", by_name), "$tag_device $tag_name"),
                   (_selected('100 - mean("cpu_idle_pct")', "snmp_host"), "$tag_device"),
                   (_selected('mean("cpu_pct")', "huawei_board", by_name), "$tag_device $tag_name"),
                   (_selected('mean("cpu_pct")', "h3c_entity", by_name), "$tag_device $tag_name"),
                   (_selected('mean("cpu_pct")', "ssh_command"), _("$tag_device (CLI)")), unit="percent", w=8,
                   description=_("Cisco IOS, Huawei VRP and H3C Comware boards and net-snmp hosts over SNMP; "
                                 "Huawei VRP over SSH")),
        timeseries(_("Memory"),
                   (_selected('mean("used_pct")', "cisco_mempool", by_name), "$tag_device $tag_name"),
                   (_selected('mean("mem_used_pct")', "snmp_host"), "$tag_device"),
                   (_selected('mean("mem_pct")', "huawei_board", by_name), "$tag_device $tag_name"),
                   (_selected('mean("mem_pct")', "h3c_entity", by_name), "$tag_device $tag_name"),
                   (_selected('mean("mem_pct")', "ssh_command"), _("$tag_device (CLI)")), unit="percent", w=8),
        timeseries(_("Temperatures"),
                   (_selected('mean("temperature_c")', "cisco_temperature", by_name), "$tag_device $tag_name"),
                   (_selected('mean("temperature_c")', "huawei_board", by_name), "$tag_device $tag_name"),
                   (_selected('mean("temperature_c")', "h3c_entity", by_name), "$tag_device $tag_name"),
                   (_selected('mean("temperature_c")', "akcp_temperature", by_name), "$tag_device $tag_name"),
                   (_selected('mean("battery_temperature_c")', "apc_ups"), _("$tag_device battery")),
                   unit="celsius", w=8),
        table(_("Fans"),
              _selected_last('last("state") AS "state"', "cisco_fan", by_name),
              w=12, description=_("1 normal, 2 warning, 3 critical, 4 shutdown, 5 not present, 6 not functioning")),
        table(_("Power supplies"),
              _selected_last('last("state") AS "state", last("source") AS "source"', "cisco_power_supply", by_name),
              w=12, description=_("state as for fans; source 1 unknown, 2 AC, 3 DC, 4 external, 5 internal redundant")),
        timeseries(_("Optical receive power"),
                   (_selected('mean("rx_power_dbm")', "optic", '"device", "port"'), "$tag_device $tag_port"),
                   unit="dBm", w=12,
                   description=_("Received light of each SFP/QSFP module, dBm; a slow fall is a dirty or "
                                 "bent fibre, -40 is no light at all")),
        table(_("Optical modules"),
              _selected_last('last("rx_power_dbm") AS "rx dBm", last("tx_power_dbm") AS "tx dBm", '
                             'last("rx_margin_db") AS "margin dB", last("bias_ma") AS "bias mA", '
                             'last("temperature_c") AS "module °C"', "optic", '"device", "port"'),
              w=12, description=_("margin: dB left above the module's own low receive alarm (empty where "
                                  "the module gives none)")),
        table(_("SSH checks"),
              _selected_last('last("ok") AS "ok", last("exit_status") AS "exit status", '
                             'last("duration_ms") AS "ms"', "ssh_command", '"device", "command"'),
              w=12, description=_("ok 1: exit status 0, every expected text found, nothing forbidden")),
        timeseries(_("SSH login time"), (_selected('mean("login_ms")', "ssh"), "$tag_device"), unit="ms"),
    ]
    variables = [
        variable("site", _("Site"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "site"'),
        variable("class", _("Class"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "class" WHERE "site" =~ /^$site$/'),
        variable("device", _("Device"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "device" '
                                     'WHERE "site" =~ /^$site$/ AND "class" =~ /^$class$/'),
    ]
    annotations = fault_annotations(SELECTED) + [
        annotation(_("Configuration changes"), 'SELECT "diff", "device" FROM "config_changed" WHERE $timeFilter '
                   f'AND {SELECTED}', text="diff", tags="device", color="blue")]
    return dashboard("netvigil-device", _("netvigil: site and device"), panels, variables=variables,
                     annotations=annotations,
                     description=_("One site, class or device: reachability, interfaces, health, SSH checks"))


# -- 7. netvigil itself --------------------------------------------------------------------

def netvigil_self() -> dict:
    def per(select: str, measurement: str, tag: str) -> tuple[str, str]:
        return (f'SELECT {select} FROM "{measurement}" WHERE $timeFilter GROUP BY time($__interval), "{tag}" '
                'fill(none)', f"$tag_{tag}")

    panels = [
        timeseries(_("Scheduler lag (max)"), per('max("lag_max_ms")', "netvigil_scheduler", "kind"), unit="ms",
                   description=_("Delay between the planned and the actual start of a run")),
        timeseries(_("Runs skipped"),
                   per('non_negative_difference(last("skipped_total"))', "netvigil_scheduler", "kind"),
                   description=_("A device's run was due while its previous run was still going")),
        timeseries(_("Probe run errors"), per('non_negative_difference(last("errors_total"))', "netvigil_scheduler",
                                           "kind")),
        timeseries(_("Probe failures by kind"),
                   ('SELECT count("result_code") FROM /^(icmp|snmp|ssh|tcp)$/ WHERE $timeFilter '
                    'AND "result_code" > 0 GROUP BY time($__interval) fill(none)', "$measurement"),
                   description=_("Runs whose result_code is not 0: timeouts, send errors, names that did not resolve")),
        timeseries(_("Output backlog"), per('max("queued_points")', "netvigil_output", "output"),
                   (per('max("spooled_points")', "netvigil_output", "output")[0], _("$tag_output spooled")),
                   description=_("Points not written yet: in memory, and in the spool on disk")),
        timeseries(_("Spool size"), per('max("spooled_bytes")', "netvigil_output", "output"), unit="bytes"),
        timeseries(_("Points dropped"), per('non_negative_difference(last("dropped_points"))', "netvigil_output",
                                         "output")),
        stat(_("Outputs healthy"),
             (f'SELECT last("healthy") FROM "netvigil_output" WHERE {NOW_FAULTS} GROUP BY "output"', "$tag_output"),
             w=12, thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
    ]
    return dashboard("netvigil-self", _("netvigil: the monitor itself"), panels, time_from="now-3h",
                     description=_("Is netvigil keeping up: scheduler lag, skipped runs, probe errors, output backlog"))


# -- 4. Machine room ------------------------------------------------------------------------

ROOM = '"site" =~ /^$site$/'


def _room(select: str, measurement: str, group: str = '"device"', where: str = "") -> str:
    extra = f" AND {where}" if where else ""
    return (f'SELECT {select} FROM "{measurement}" WHERE $timeFilter AND {ROOM}{extra} '
            f'GROUP BY time($__interval), {group} fill(none)')


def _room_now(select: str, measurement: str, group: str = '"site", "device"') -> str:
    return f'SELECT {select} FROM "{measurement}" WHERE {NOW_STATE} AND {ROOM} GROUP BY {group}'


def machine_room() -> dict:
    sensor = '"device", "name"'
    panels = [
        table(_("UPS now (APC)"),
              _room_now('last("output_status") AS "output status", last("battery_status") AS "battery", '
                        'last("capacity_pct") AS "charge %", last("runtime_remaining_min") AS "runtime min", '
                        'last("output_load_pct") AS "load %", last("input_voltage_v") AS "input V", '
                        'last("output_voltage_v") AS "output V"', "apc_ups"),
              w=24, h=6, description=_("output status 2 online, 3 on battery, 4 smart boost, 9 bypass; "
                                     "battery 1 unknown, 2 normal, 3 low, 4 fault")),
        table(_("UPS now (UPS-MIB)"),
              _room_now('last("output_source") AS "source", last("battery_status") AS "battery", '
                        'last("charge_pct") AS "charge %", last("runtime_remaining_min") AS "runtime min", '
                        'last("seconds_on_battery_s") AS "on battery s", last("alarms_present") AS "alarms"', "ups"),
              w=24, h=6, description=_("source 3 normal, 4 bypass, 5 battery; battery 2 normal, 3 low, 4 depleted")),
        timeseries(_("UPS charge"), (_room('mean("capacity_pct")', "apc_ups"), "$tag_device"),
                   (_room('mean("charge_pct")', "ups"), "$tag_device"), unit="percent", w=8),
        timeseries(_("UPS runtime remaining"), (_room('mean("runtime_remaining_min")', "apc_ups"), "$tag_device"),
                   (_room('mean("runtime_remaining_min")', "ups"), "$tag_device"), unit="m", w=8),
        timeseries(_("UPS load"), (_room('mean("output_load_pct")', "apc_ups"), "$tag_device"),
                   (_room('mean("load_pct")', "ups_output", '"device", "line"'), _("$tag_device line $tag_line")),
                   unit="percent", w=8),
        timeseries(_("UPS input voltage"), (_room('mean("input_voltage_v")', "apc_ups"), "$tag_device"),
                   (_room('mean("voltage_v")', "ups_input", '"device", "line"'), _("$tag_device line $tag_line")),
                   unit="volt", w=12),
        timeseries(_("UPS output voltage"), (_room('mean("output_voltage_v")', "apc_ups"), "$tag_device"),
                   (_room('mean("voltage_v")', "ups_output", '"device", "line"'), _("$tag_device line $tag_line")),
                   unit="volt", w=12),
        timeseries(_("Temperature per sensor"),
                   (_room('mean("temperature_c")', "akcp_temperature", sensor), "$tag_device $tag_name"),
                   (_room('mean("temperature_c")', "env_sensor", sensor), "$tag_device $tag_name"),
                   (_room('mean("value")', "env_sensor", sensor, "\"unit\" = 'C'"), "$tag_device $tag_name"),
                   unit="celsius", description=_("AKCP probes, APC NetBotz pods, HW-group Poseidon sensors (°C)")),
        timeseries(_("Humidity per sensor"),
                   (_room('mean("humidity_pct")', "akcp_humidity", sensor), "$tag_device $tag_name"),
                   (_room('mean("humidity_pct")', "env_sensor", sensor), "$tag_device $tag_name"),
                   (_room('mean("value")', "env_sensor", sensor, "\"unit\" = '%RH'"), "$tag_device $tag_name"),
                   unit="humidity"),
        table(_("Leak, smoke and dry-contact inputs"),
              _room_now('last("alarm") AS "alarm", last("state") AS "state", last("value") AS "input"', "env_input",
                        '"site", "device", "name"'),
              description=_("alarm 1: the input is in alarm (water, smoke, door, ...); state (NetBotz) and input "
                            "(HW-group: 1 on, 0 off) as the unit reports them")),
        table(_("Dry contacts (AKCP)"),
              _room_now('last("status") AS "status"', "akcp_switch", '"site", "device", "name"'),
              description=_("status 1 no status, 2 normal, 3 high warning, 4 high critical, 5 low warning, "
                            "6 low critical, 7 sensor error")),
    ]
    variables = [variable("site", _("Site"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "site" '
                                          'WHERE "class" =~ /^(ups|env_sensor)$/')]
    return dashboard("netvigil-room", _("netvigil: machine room"), panels, variables=variables,
                     annotations=fault_annotations(ROOM),
                     description=_("UPS units, temperature and humidity per sensor, leak and smoke inputs"))


# -- 3. Conference network -------------------------------------------------------------------

CONFERENCE = '"class" =~ /^(mcu|codec)$/ AND "site" =~ /^$site$/'
#: Loss and jitter colours of the heat maps: the shipped video rules' thresholds (1 % loss,
#: 30 ms jitter degrade a conference; 5 % and 50 ms break it).
LOSS_STEPS = [{"color": "green", "value": None}, {"color": "yellow", "value": 1}, {"color": "red", "value": 5}]
JITTER_STEPS = [{"color": "green", "value": None}, {"color": "yellow", "value": 30}, {"color": "red", "value": 50}]


def heatmap(title: str, query: str, *, steps: list, unit: str, w: int = 12, h: int = 8,
            description: str = "") -> dict:
    """One row per series (here: per site), one cell per interval, coloured by value. A
    status-history panel rather than Grafana's heatmap: the heatmap wants numeric buckets,
    and the rows here are sites."""
    return _panel("status-history", title, _targets((query, "$tag_site")), w, h, unit=unit,
                  description=description,
                  field_config={"thresholds": {"mode": "absolute", "steps": steps}, "color": {"mode": "thresholds"}},
                  options={"showValue": "never", "rowHeight": 0.9, "colWidth": 0.9})


def conference() -> dict:
    def per_site(field: str) -> str:
        return (f'SELECT max("{field}") FROM "icmp" WHERE $timeFilter AND {CONFERENCE} '
                'GROUP BY time($__interval), "site" fill(none)')

    def endpoints(kind: str) -> tuple[tuple[str, str], tuple[str, str]]:
        last = (f'(SELECT last("up") AS "up" FROM "icmp" WHERE {NOW_STATE} AND "class" = \'{kind}\' '
                'AND "site" =~ /^$site$/ GROUP BY "device")')
        return (f'SELECT sum("up") FROM {last}', _("up")), (f'SELECT count("up") - sum("up") FROM {last}', _("down"))

    red = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
    panels = [
        stat(_("MCUs"), *endpoints("mcu"), w=6, description=_("MCUs answering and not answering ping now")),
        stat(_("Codecs"), *endpoints("codec"), w=6, description=_("Conference terminals answering and not now")),
        stat(_("Absent at the last roll call"),
             'SELECT last("absent") FROM "rollcall_summary" WHERE time > now() - 31d', w=6, thresholds=red,
             description=_("From the newest `netvigil rollcall` in the last 31 days")),
        stat(_("Degraded at the last roll call"),
             'SELECT last("degraded") FROM "rollcall_summary" WHERE time > now() - 31d', w=6, thresholds=red),
        table(_("MCUs and codecs now"),
              f'SELECT last("up") AS "up", last("loss_pct") AS "loss %", last("jitter_ms") AS "jitter ms", '
              f'last("rtt_avg_ms") AS "RTT ms" FROM "icmp" WHERE {NOW_STATE} AND {CONFERENCE} '
              'GROUP BY "site", "class", "device"', w=14, h=10,
              description=_("The last ICMP run of every endpoint; up 0 is a terminal the meeting will miss")),
        table(_("Codec models and software"),
              f'SELECT last("software_major") AS "major version", last("software_minor") AS "minor version" '
              'FROM "codec" '
              f'WHERE {NOW_STATE} AND "site" =~ /^$site$/ GROUP BY "site", "device", "model", "software"',
              w=10, h=10, description=_("Cisco TelePresence codecs over SNMP: a terminal on other software "
                                      "than its peers is the first suspect")),
        heatmap(_("Loss heat map per site"), per_site("loss_pct"), steps=LOSS_STEPS, unit="percent",
                description=_("Worst endpoint of each site per interval; yellow from 1 %, red from 5 %")),
        heatmap(_("Jitter heat map per site"), per_site("jitter_ms"), steps=JITTER_STEPS, unit="ms",
                description=_("Worst endpoint of each site per interval; yellow from 30 ms, red from 50 ms")),
        timeseries(_("Loss per endpoint"),
                   (f'SELECT max("loss_pct") FROM "icmp" WHERE $timeFilter AND {CONFERENCE} '
                    'GROUP BY time($__interval), "device" fill(none)', "$tag_device"), unit="percent", w=8),
        timeseries(_("Jitter per endpoint"),
                   (f'SELECT mean("jitter_ms") FROM "icmp" WHERE $timeFilter AND {CONFERENCE} '
                    'GROUP BY time($__interval), "device" fill(none)', "$tag_device"), unit="ms", w=8),
        timeseries(_("RTT per endpoint"),
                   (f'SELECT mean("rtt_avg_ms") FROM "icmp" WHERE $timeFilter AND {CONFERENCE} '
                    'GROUP BY time($__interval), "device" fill(none)', "$tag_device"), unit="ms", w=8),
        table(_("Last roll calls"),
              'SELECT "meeting", "selected", "present", "degraded", "absent", "rollcall" FROM "rollcall_summary" '
              'WHERE time > now() - 31d ORDER BY time DESC LIMIT 10', w=12, h=8,
              description=_("`netvigil rollcall` before a meeting: one row per roll call, newest first")),
        table(_("Missing at the last roll calls"),
              'SELECT "meeting", "device", "site", "state", "reason" FROM "rollcall" WHERE time > now() - 31d '
              'AND "state" > 0 AND "site" =~ /^$site$/ ORDER BY time DESC LIMIT 50', w=12, h=8,
              description=_("Endpoints degraded (state 1) or absent (2), with the reason the roll call gave")),
    ]
    variables = [variable("site", _("Site"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "site" '
                                          'WHERE "class" =~ /^(mcu|codec)$/')]
    return dashboard("netvigil-conference", _("netvigil: conference network"), panels, variables=variables,
                     annotations=fault_annotations(CONFERENCE),
                     description=_("MCUs and conference terminals: who answers, loss and jitter per site, roll calls"))


# -- 5. Video surveillance ------------------------------------------------------------------

#: Hikvision disk states (hikDiskStatus), as the NVR disk panels show them.
DISK_STATES = {0: N_("normal"), 1: N_("unformatted"), 2: N_("abnormal"), 3: N_("SMART failed"),
               4: N_("mismatch"), 5: N_("idle"), 6: N_("not online"), 10: N_("repairing"), 11: N_("formatting")}


def video() -> dict:
    at_site = '"site" =~ /^$site$/'
    cameras = f'"class" = \'camera\' AND {at_site}'
    last_up = f'SELECT last("up") AS "up" FROM "icmp" WHERE {NOW_STATE} AND {cameras} GROUP BY "site", "device"'
    red = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
    panels = [
        stat(_("Cameras up"), f'SELECT sum("up") FROM ({last_up})', w=6),
        stat(_("Cameras down"), f'SELECT count("up") - sum("up") FROM ({last_up})', w=6, thresholds=red),
        stat(_("Worst NVR disk state"),
             f'SELECT max("status") FROM (SELECT last("status") AS "status" FROM "nvr_disk" WHERE {NOW_STATE} '
             f'AND {at_site} GROUP BY "device", "disk")', w=6, thresholds=red, mappings=DISK_STATES,
             description=_("The worst state of any NVR disk: normal unless a disk needs attention "
                         "(the table below says which)")),
        stat(_("Fullest NVR disk"),
             f'SELECT max("used_pct") FROM (SELECT last("used_pct") AS "used_pct" FROM "nvr_disk" '
             f'WHERE {NOW_STATE} AND {at_site} GROUP BY "device", "disk")', w=6, unit="percent",
             thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 90},
                         {"color": "red", "value": 97}]),
        table(_("Camera reachability by site"),
              f'SELECT sum("up") AS "up", count("up") - sum("up") AS "down" FROM ({last_up}) GROUP BY "site"',
              w=8, h=8, description=_("Cameras answering ping now, per site")),
        table(_("Cameras down now"), f'SELECT "up" FROM ({last_up}) WHERE "up" = 0 GROUP BY "site", "device"',
              w=8, h=8,
              description=_("Every camera whose last ICMP run got no answer")),
        table(_("NVR disks"),
              f'SELECT last("status") AS "state", last("used_pct") AS "used %", last("free_mb") AS "free MB", '
              f'last("capacity_mb") AS "capacity MB" FROM "nvr_disk" WHERE {NOW_STATE} AND {at_site} '
              'GROUP BY "site", "device", "disk", "name"', w=8, h=8,
              description=_("Hikvision state: 0 normal, 1 unformatted, 2 abnormal, 3 SMART failed, 4 mismatch, "
                          "5 idle, 6 not online, 10 repairing, 11 formatting")),
        timeseries(_("Camera reachability per site"),
                   (f'SELECT mean("up") * 100 FROM "icmp" WHERE $timeFilter AND {cameras} '
                    'GROUP BY time($__interval), "site" fill(none)', "$tag_site"), unit="percent",
                   description=_("Share of a site's camera pings answered")),
        timeseries(_("NVR disk fill"),
                   (f'SELECT mean("used_pct") FROM "nvr_disk" WHERE $timeFilter AND {at_site} '
                    'GROUP BY time($__interval), "device", "name" fill(none)', "$tag_device $tag_name"),
                   unit="percent"),
        timeseries(_("NVR reachability"),
                   (f'SELECT mean("up") * 100 FROM "icmp" WHERE $timeFilter AND "class" = \'nvr\' AND {at_site} '
                    'GROUP BY time($__interval), "device" fill(none)', "$tag_device"), unit="percent", w=24),
    ]
    variables = [variable("site", _("Site"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "site" '
                                          'WHERE "class" =~ /^(nvr|camera)$/')]
    return dashboard("netvigil-video", _("netvigil: video surveillance"), panels, variables=variables,
                     annotations=fault_annotations(f'"class" =~ /^(nvr|camera)$/ AND {at_site}'),
                     description=_("Cameras answering per site, NVR disks: state and fill"))


# -- 6. SLA and budget ------------------------------------------------------------------------

SLA_SELECTED = '"site" =~ /^$site$/ AND "class" =~ /^$class$/'


def sla_budget() -> dict:
    def availability(group: str) -> str:
        return (f'SELECT mean("up") * 100 AS "availability %" FROM "icmp" WHERE $timeFilter AND {SLA_SELECTED} '
                f'GROUP BY {group}')

    resolved = f'FROM "fault" WHERE $timeFilter AND "event" = 4 AND {SLA_SELECTED}'
    panels = [
        table(_("Availability per site and class"), availability('"site", "class"'), w=8, h=10, unit="percent",
              description=_("Share of ICMP runs answered over the chosen range (every device, every run)")),
        table(_("Availability per device"), availability('"site", "class", "device"'), w=8, h=10, unit="percent"),
        bargauge(_("Least available devices"),
                 'SELECT bottom("a", "device", 10) AS "availability" FROM (SELECT mean("up") * 100 AS "a" '
                 f'FROM "icmp" WHERE $timeFilter AND {SLA_SELECTED} GROUP BY "device")', value="availability",
                 worst_first=False, unit="percent"),
        timeseries(_("Availability per site"),
                   (f'SELECT mean("up") * 100 FROM "icmp" WHERE $timeFilter AND {SLA_SELECTED} '
                    'GROUP BY time($__interval), "site" fill(none)', "$tag_site"), unit="percent", w=24),
        stat(_("Devices over this month's budget"),
             f'SELECT last("over") FROM "fault_budget_count" WHERE {NOW_FAULTS}', w=6, h=8,
             thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        table(_("Faults this month per device against the budget"),
              f'SELECT last("faults") AS "faults", last("budget") AS "budget", last("left") AS "left", '
              f'last("over") AS "over" FROM "fault_budget" WHERE {NOW_FAULTS} AND {SLA_SELECTED} '
              'GROUP BY "site", "class", "device"', w=9, h=8,
              description=_("Root faults opened this calendar month (the budget counts no symptoms and no "
                          "faults in maintenance); left below 0 costs a penalty")),
        table(_("Faults opened in the range per device"),
              f'SELECT count("id") AS "faults" FROM "fault" WHERE $timeFilter AND ("event" = 1 OR "event" = 7) '
              f'AND "symptom" = 0 AND "maintenance" = 0 AND {SLA_SELECTED} GROUP BY "site", "class", "device"',
              w=9, h=8, description=_("Root faults that opened (or became faults of their own) in the chosen range")),
        table(_("Acknowledge and resolve times against the SLA"),
              'SELECT count("resolve_s") AS "resolved", mean("ack_s") AS "ack mean", max("ack_s") AS "ack max", '
              'max("ack_sla_s") AS "ack SLA", sum("ack_breached") AS "ack late", mean("resolve_s") AS "resolve mean", '
              'max("resolve_s") AS "resolve max", max("resolve_sla_s") AS "resolve SLA", '
              f'sum("resolve_breached") AS "resolve late" {resolved} GROUP BY "severity"', w=24, h=6,
              units={column: "s" for column in ("ack mean", "ack max", "ack SLA", "resolve mean", "resolve max",
                                                 "resolve SLA")},
              description=_("Faults resolved in the chosen range, per severity: how long acknowledging and "
                          "resolving took, the contract's allowance and how many were late")),
        timeseries(_("Time to resolve against the SLA"),
                   (f'SELECT max("resolve_s") {resolved} GROUP BY time($__interval), "severity" fill(none)',
                    _("$tag_severity took")),
                   (f'SELECT max("resolve_sla_s") {resolved} GROUP BY time($__interval), "severity" fill(none)',
                    _("$tag_severity SLA")), unit="s"),
        timeseries(_("Time to acknowledge against the SLA"),
                   (f'SELECT max("ack_s") {resolved} GROUP BY time($__interval), "severity" fill(none)',
                    _("$tag_severity took")),
                   (f'SELECT max("ack_sla_s") {resolved} GROUP BY time($__interval), "severity" fill(none)',
                    _("$tag_severity SLA")), unit="s"),
    ]
    variables = [
        variable("site", _("Site"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "site"'),
        variable("class", _("Class"), 'SHOW TAG VALUES FROM "icmp" WITH KEY = "class" WHERE "site" =~ /^$site$/'),
    ]
    return dashboard("netvigil-sla", _("netvigil: SLA and budget"), panels, variables=variables, time_from="now/M",
                     refresh="5m", annotations=fault_annotations(SLA_SELECTED),
                     description=_("Availability per site and class, faults against the monthly budget, "
                                 "acknowledge and resolve times against the contract"))


DASHBOARDS = {"noc-overview": noc_overview, "site-device": site_device, "conference": conference,
              "machine-room": machine_room, "video": video, "sla-budget": sla_budget, "netvigil": netvigil_self}


#: Each language's dashboards get uids of their own (Grafana's uids are global): English
#: keeps the plain ones.
UID_SUFFIX = {"en": "", "zh-CN": "-zh"}


def build(name: str, language: str) -> dict:
    with using(language):
        board = DASHBOARDS[name]()
        # Tagged with its language, so the menu of links leads to the same language's dashboards.
        board["tags"] = [*TAGS, language]
        board["links"] = [{"type": "dashboards", "tags": board["tags"], "asDropdown": True,
                           "title": _("netvigil dashboards"), "includeVars": False, "keepTime": True,
                           "icon": "external link", "targetBlank": False}]
    board["uid"] += UID_SUFFIX[language]
    return board


def render(name: str, language: str = "en") -> str:
    return json.dumps(build(name, language), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv not in ([], ["--write"]):
        print("usage: grafana_dashboards.py [--write]", file=sys.stderr)
        return 2
    for language in LANGUAGES:
        for name in DASHBOARDS:
            if argv:
                (DASHBOARD_DIR / language).mkdir(parents=True, exist_ok=True)
                (DASHBOARD_DIR / language / f"{name}.json").write_text(render(name, language), encoding="utf-8")
            else:
                print(render(name, language))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

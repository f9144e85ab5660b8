"""Build the Grafana dashboards in grafana/dashboards/ (JSON, InfluxQL) from the definitions below.

The JSON files are what a Grafana provisioning provider reads; this module is where they are
written, so that every query uses the same tag filters and the measurement names of
docs/measurements.md, and every title a user sees is in one place (English for now; they are
the strings a translation will wrap). A unit test fails when the committed JSON and this
output drift apart; `--write` rewrites grafana/dashboards/.

    python scripts/grafana_dashboards.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = REPO / "grafana" / "dashboards"

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


def table(title: str, query: str, *, w: int = 12, h: int = 8, description: str = "", unit: str = "") -> dict:
    return _panel("table", title, [_target(query, table=True)], w, h, unit=unit, description=description,
                  options={"showHeader": True})


def stat(title: str, *queries, w: int = 4, h: int = 4, description: str = "", unit: str = "",
         thresholds: list | None = None) -> dict:
    config = {}
    if thresholds:
        config["thresholds"] = {"mode": "absolute", "steps": thresholds}
        config["color"] = {"mode": "thresholds"}
    return _panel("stat", title, _targets(*queries), w, h, unit=unit, description=description,
                  field_config=config, options={"reduceOptions": {"calcs": ["lastNotNull"]},
                                                "colorMode": "background", "textMode": "value_and_name"})


def bargauge(title: str, query: str, *, unit: str = "", w: int = 8, h: int = 8, description: str = "") -> dict:
    return _panel("bargauge", title, _targets((query, "$tag_device")), w, h, unit=unit, description=description,
                  options={"orientation": "horizontal", "displayMode": "gradient",
                           "reduceOptions": {"calcs": ["lastNotNull"], "values": True}})


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
        annotation("Faults opened", 'SELECT "message", "device", "severity" FROM "fault" WHERE $timeFilter'
                   f' AND ("event" = 1 OR "event" = 2){extra}', text="message", tags="device,severity", color="red"),
        annotation("Faults resolved", 'SELECT "message", "device", "severity" FROM "fault" WHERE $timeFilter'
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
        stat("Devices up", f'SELECT sum("up") FROM ({_last_up(BY_DEVICE)})',
             description="Devices whose last ICMP run (within 5 min) was answered"),
        stat("Devices down", f'SELECT count("up") - sum("up") FROM ({_last_up(BY_DEVICE)})',
             thresholds=red, description="Devices whose last ICMP run (within 5 min) got no answer"),
        stat("Open faults by severity",
             (f'SELECT last("open") FROM "fault_open_count" WHERE {NOW_FAULTS} GROUP BY "severity"', "$tag_severity"),
             w=8, thresholds=red, description="Unresolved faults, symptoms and maintenance included"),
        stat("Unacknowledged",
             f'SELECT sum("unacknowledged") FROM (SELECT last("unacknowledged") AS "unacknowledged" '
             f'FROM "fault_open_count" WHERE {NOW_FAULTS} GROUP BY "severity")', thresholds=red,
             description="Alerting faults nobody has acknowledged yet"),
        stat("SLA breached",
             f'SELECT sum("breached") FROM (SELECT last("breached") AS "breached" '
             f'FROM "fault_open_count" WHERE {NOW_FAULTS} GROUP BY "severity")', thresholds=red,
             description="Open faults past their acknowledge or resolve deadline"),
        table("Devices up and down by site and class",
              f'SELECT sum("up") AS "up", count("up") - sum("up") AS "down" FROM '
              f'({_last_up(BY_DEVICE_SITE_CLASS)}) '
              'GROUP BY "site", "class"', w=8, h=10),
        table("Open faults now, with time left on the SLA clocks",
              'SELECT last("id") AS "fault", last("age_s") AS "age", last("ack") AS "acknowledged", '
              'last("ack_left_s") AS "ack left", last("resolve_left_s") AS "resolve left", '
              'last("breached") AS "breached", last("symptom") AS "symptom" '
              f'FROM "fault_open" WHERE {NOW_FAULTS} GROUP BY "severity", "site", "device", "rule", "instance"',
              w=16, h=10, unit="s",
              description="One row per unresolved fault from the snapshot the daemon writes every 10 s; "
                          "time left is negative once a deadline has passed"),
        bargauge("Worst loss now", _worst("loss_pct"), unit="percent"),
        bargauge("Worst jitter now", _worst("jitter_ms"), unit="ms"),
        bargauge("Worst RTT now", _worst("rtt_avg_ms"), unit="ms"),
        timeseries("Loss by site (worst device)",
                   ('SELECT max("loss_pct") FROM "icmp" WHERE $timeFilter GROUP BY time($__interval), "site" fill(none)',
                    "$tag_site"), unit="percent", w=8),
        timeseries("RTT by site (worst device)",
                   ('SELECT max("rtt_avg_ms") FROM "icmp" WHERE $timeFilter GROUP BY time($__interval), "site" '
                    'fill(none)', "$tag_site"), unit="ms", w=8),
        timeseries("Open faults by severity",
                   ('SELECT max("open") FROM "fault_open_count" WHERE $timeFilter GROUP BY time($__interval), '
                    '"severity" fill(none)', "$tag_severity"), w=8),
    ]
    return dashboard("netvigil-noc", "netvigil: NOC overview", panels, refresh="30s",
                     description="The wall screen: what is down, what is open and how long is left on its SLA clock",
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
        timeseries("Reachability", (_selected('mean("up") * 100', "icmp"), "$tag_device"), unit="percent", w=12),
        timeseries("Round-trip time", (_selected('mean("rtt_avg_ms")', "icmp"), "$tag_device avg"),
                   (_selected('max("rtt_max_ms")', "icmp"), "$tag_device max"), unit="ms"),
        timeseries("Loss", (_selected('max("loss_pct")', "icmp"), "$tag_device"), unit="percent"),
        timeseries("Jitter", (_selected('mean("jitter_ms")', "icmp"), "$tag_device"), unit="ms"),
        timeseries("Interface traffic",
                   (_selected('mean("in_bps")', "snmp_if", by_name), "$tag_device $tag_name in"),
                   (_selected('mean("out_bps")', "snmp_if", by_name), "$tag_device $tag_name out"), unit="bps"),
        timeseries("Interface errors",
                   (_selected('mean("in_errors_per_s")', "snmp_if", by_name), "$tag_device $tag_name in"),
                   (_selected('mean("out_errors_per_s")', "snmp_if", by_name), "$tag_device $tag_name out"),
                   unit="short"),
        table("Interface state",
              _selected_last('last("oper_status") AS "oper", last("admin_status") AS "admin", '
                             'last("speed_mbps") AS "speed Mbit/s", last("in_util_pct") AS "in %", '
                             'last("out_util_pct") AS "out %"', "snmp_if", by_name),
              w=24, description="ifOperStatus / ifAdminStatus: 1 up, 2 down, 3 testing, 5 dormant, 7 lower layer down"),
        timeseries("CPU",
                   (_selected('mean("load_5min_pct")', "cisco_cpu", by_name), "$tag_device $tag_name"),
                   (_selected('100 - mean("cpu_idle_pct")', "snmp_host"), "$tag_device"),
                   (_selected('mean("cpu_pct")', "ssh_command"), "$tag_device (CLI)"), unit="percent", w=8),
        timeseries("Memory",
                   (_selected('mean("used_pct")', "cisco_mempool", by_name), "$tag_device $tag_name"),
                   (_selected('mean("mem_used_pct")', "snmp_host"), "$tag_device"),
                   (_selected('mean("mem_pct")', "ssh_command"), "$tag_device (CLI)"), unit="percent", w=8),
        timeseries("Temperatures",
                   (_selected('mean("temperature_c")', "cisco_temperature", by_name), "$tag_device $tag_name"),
                   (_selected('mean("temperature_c")', "akcp_temperature", by_name), "$tag_device $tag_name"),
                   (_selected('mean("battery_temperature_c")', "apc_ups"), "$tag_device battery"),
                   unit="celsius", w=8),
        table("Fans",
              _selected_last('last("state") AS "state"', "cisco_fan", by_name),
              w=12, description="1 normal, 2 warning, 3 critical, 4 shutdown, 5 not present, 6 not functioning"),
        table("Power supplies",
              _selected_last('last("state") AS "state", last("source") AS "source"', "cisco_power_supply", by_name),
              w=12, description="state as for fans; source 1 unknown, 2 AC, 3 DC, 4 external, 5 internal redundant"),
        table("SSH checks",
              _selected_last('last("ok") AS "ok", last("exit_status") AS "exit status", '
                             'last("duration_ms") AS "ms"', "ssh_command", '"device", "command"'),
              w=12, description="ok 1: exit status 0, every expected text found, nothing forbidden"),
        timeseries("SSH login time", (_selected('mean("login_ms")', "ssh"), "$tag_device"), unit="ms"),
    ]
    variables = [
        variable("site", "Site", 'SHOW TAG VALUES FROM "icmp" WITH KEY = "site"'),
        variable("class", "Class", 'SHOW TAG VALUES FROM "icmp" WITH KEY = "class" WHERE "site" =~ /^$site$/'),
        variable("device", "Device", 'SHOW TAG VALUES FROM "icmp" WITH KEY = "device" '
                                     'WHERE "site" =~ /^$site$/ AND "class" =~ /^$class$/'),
    ]
    annotations = fault_annotations(SELECTED) + [
        annotation("Configuration changes", 'SELECT "diff", "device" FROM "config_changed" WHERE $timeFilter '
                   f'AND {SELECTED}', text="diff", tags="device", color="blue")]
    return dashboard("netvigil-device", "netvigil: site and device", panels, variables=variables,
                     annotations=annotations,
                     description="One site, class or device: reachability, interfaces, health, SSH checks")


# -- 7. netvigil itself --------------------------------------------------------------------

def netvigil_self() -> dict:
    def per(select: str, measurement: str, tag: str) -> tuple[str, str]:
        return (f'SELECT {select} FROM "{measurement}" WHERE $timeFilter GROUP BY time($__interval), "{tag}" '
                'fill(none)', f"$tag_{tag}")

    panels = [
        timeseries("Scheduler lag (max)", per('max("lag_max_ms")', "netvigil_scheduler", "kind"), unit="ms",
                   description="Delay between the planned and the actual start of a run"),
        timeseries("Runs skipped", per('non_negative_difference(last("skipped_total"))', "netvigil_scheduler", "kind"),
                   description="A device's run was due while its previous run was still going"),
        timeseries("Probe run errors", per('non_negative_difference(last("errors_total"))', "netvigil_scheduler",
                                           "kind")),
        timeseries("Probe failures by kind",
                   ('SELECT count("result_code") FROM /^(icmp|snmp|ssh|tcp)$/ WHERE $timeFilter '
                    'AND "result_code" > 0 GROUP BY time($__interval) fill(none)', "$measurement"),
                   description="Runs whose result_code is not 0: timeouts, send errors, names that did not resolve"),
        timeseries("Output backlog", per('max("queued_points")', "netvigil_output", "output"),
                   (per('max("spooled_points")', "netvigil_output", "output")[0], "$tag_output spooled"),
                   description="Points not written yet: in memory, and in the spool on disk"),
        timeseries("Spool size", per('max("spooled_bytes")', "netvigil_output", "output"), unit="bytes"),
        timeseries("Points dropped", per('non_negative_difference(last("dropped_points"))', "netvigil_output",
                                         "output")),
        stat("Outputs healthy",
             (f'SELECT last("healthy") FROM "netvigil_output" WHERE {NOW_FAULTS} GROUP BY "output"', "$tag_output"),
             w=12, thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
    ]
    return dashboard("netvigil-self", "netvigil: the monitor itself", panels, time_from="now-3h",
                     description="Is netvigil keeping up: scheduler lag, skipped runs, probe errors, output backlog")


DASHBOARDS = {"noc-overview": noc_overview, "site-device": site_device, "netvigil": netvigil_self}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv not in ([], ["--write"]):
        print("usage: grafana_dashboards.py [--write]", file=sys.stderr)
        return 2
    for name in DASHBOARDS:
        if argv:
            DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
            (DASHBOARD_DIR / f"{name}.json").write_text(render(name), encoding="utf-8")
        else:
            print(render(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

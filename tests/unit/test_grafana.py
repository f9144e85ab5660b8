"""The provisioned Grafana files, structurally: the dashboards are what the generator writes,
panel ids are unique, every datasource reference resolves to the provisioned datasource's uid,
every variable a query uses is defined, and every measurement a query reads is in the
measurement schema. No Grafana server can be installed here (no Debian package), so these
checks and tests/integration/test_grafana_queries.py (every query against a real influxd) are
what stands in for loading the files into Grafana."""

from __future__ import annotations

import importlib
import re
import sys

import pytest
import yaml

from lab import grafana
from lab.support import REPO

sys.path.insert(0, str(REPO / "scripts"))
generator = importlib.import_module("grafana_dashboards")

DATASOURCES = yaml.safe_load((grafana.GRAFANA_DIR / "provisioning/datasources/netvigil.yaml").read_text())
PROVIDERS = yaml.safe_load((grafana.GRAFANA_DIR / "provisioning/dashboards/netvigil.yaml").read_text())
DASHBOARDS = grafana.dashboards()
SCHEMA = "".join((REPO / "docs" / name).read_text() for name in ("measurements.md", "snmp.md"))
FROM = re.compile(r'FROM\s+"(\w+)"')
#: Written by `netvigil rollcall`, whose measurements are documented with that command; the
#: conference dashboard reads them (tests/integration/test_grafana_queries.py writes such points).
WRITTEN_BY_ROLLCALL = {"rollcall", "rollcall_summary"}


def test_the_committed_dashboards_are_the_generators_output():
    assert set(DASHBOARDS) == set(generator.DASHBOARDS)
    for name in generator.DASHBOARDS:
        committed = (grafana.DASHBOARD_DIR / f"{name}.json").read_text(encoding="utf-8")
        assert committed == generator.render(name), f"run: python scripts/grafana_dashboards.py --write ({name})"


def test_provisioning_files():
    [source] = DATASOURCES["datasources"]
    assert source["type"] == "influxdb" and source["uid"] == generator.DATASOURCE_UID
    assert source["jsonData"]["timeInterval"] == "10s"  # the interval of self-metrics and the fault snapshot
    [provider] = PROVIDERS["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def _references(node):
    """Every `datasource` object anywhere in a dashboard."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_structure(name):
    board = DASHBOARDS[name]
    ids = [panel["id"] for panel in grafana.panels(board)]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
    refs = list(_references(board))
    assert refs and all(ref == {"type": "influxdb", "uid": DATASOURCES["datasources"][0]["uid"]} for ref in refs), name
    defined = {var["name"] for var in board.get("templating", {}).get("list", [])}
    for query in grafana.queries(board):
        unknown = {v for v in grafana.used_variables(query.text) - defined - grafana.BUILTINS
                   if not v.startswith("tag_")}
        assert not unknown, f"{name} {query.where}: undefined variable(s) {unknown}"
        for measurement in set(FROM.findall(query.text)) - WRITTEN_BY_ROLLCALL:
            assert f"`{measurement}`" in SCHEMA, f"{name} {query.where}: {measurement} is not in the schema"
    for panel in grafana.panels(board):
        assert panel["targets"] and panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_uids_are_unique_and_titles_say_netvigil():
    uids = [board["uid"] for board in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))
    assert all(board["title"].startswith("netvigil") for board in DASHBOARDS.values())


def test_the_expander_does_what_grafana_does():
    variables = {"site": {"multi": True, "includeAll": True}, "one": {}}
    expander = grafana.Expander(variables=variables, values={"site": ["street-1", "a.b"], "one": ["x.y"]})
    assert expander.expand('WHERE $timeFilter AND "site" =~ /^$site$/ AND d = \'$one\' GROUP BY time($__interval)') \
        == "WHERE time >= now() - 15m and time <= now() AND \"site\" =~ /^(street-1|a\\.b)$/ AND d = 'x.y' " \
           "GROUP BY time(10s)"
    assert expander.expand("${site} [[site]] $tag_device") == "(street-1|a\\.b) (street-1|a\\.b) $tag_device"

"""The provisioned Grafana files, structurally: the dashboards are what the generator writes,
in English and in Chinese, panel ids are unique, every datasource reference resolves to the
provisioned datasource's uid, every variable a query uses is defined, every measurement a
query reads is in the measurement schema, and every text of the Chinese set is Chinese. No
Grafana server can be installed here (no Debian package), so these
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


CJK = re.compile(r"[\u4e00-\u9fff]")
#: Legends that are Grafana's alias patterns alone ($tag_device) need no translation.
PATTERN_ONLY = re.compile(r"^(\$(tag_\w+|measurement|col) ?)+$")


def test_the_committed_dashboards_are_the_generators_output_in_both_languages():
    assert set(DASHBOARDS) == {f"{language}/{name}" for language in generator.LANGUAGES
                               for name in generator.DASHBOARDS}
    for language in generator.LANGUAGES:
        for name in generator.DASHBOARDS:
            committed = (grafana.DASHBOARD_DIR / language / f"{name}.json").read_text(encoding="utf-8")
            assert committed == generator.render(name, language), \
                f"run: python scripts/grafana_dashboards.py --write ({language}/{name})"


def test_provisioning_files():
    [source] = DATASOURCES["datasources"]
    assert source["type"] == "influxdb" and source["uid"] == generator.DATASOURCE_UID
    assert source["jsonData"]["timeInterval"] == "10s"  # the interval of self-metrics and the fault snapshot
    providers = PROVIDERS["providers"]
    assert [provider["options"]["path"].rsplit("/", 1)[1] for provider in providers] == list(generator.LANGUAGES)
    assert all(provider["type"] == "file" for provider in providers)
    assert len({provider["folder"] for provider in providers}) == len(providers)


def _texts(board: dict):
    """(where, text) of everything a person reads on a dashboard."""
    yield "title", board["title"]
    yield "description", board["description"]
    for var in board["templating"]["list"]:
        yield f"variable {var['name']}", var["label"]
    for note in board["annotations"]["list"]:
        yield "annotation", note["name"]
    for panel in grafana.panels(board):
        yield "panel", panel["title"]
        if "description" in panel:
            yield f"description of {panel['title']}", panel["description"]
        for target in panel["targets"]:
            if target.get("alias") and not PATTERN_ONLY.match(target["alias"]):
                yield f"legend of {panel['title']}", target["alias"]


@pytest.mark.parametrize("name", sorted(generator.DASHBOARDS))
def test_the_chinese_dashboards_read_in_chinese_and_differ_from_the_english_only_in_words(name):
    english, chinese = DASHBOARDS[f"en/{name}"], DASHBOARDS[f"zh-CN/{name}"]
    for (where, en), (_, zh) in zip(_texts(english), _texts(chinese), strict=True):
        assert not CJK.search(en), f"{name} {where}: {en!r}"
        assert CJK.search(zh), f"zh-CN/{name} {where}: {zh!r} is not Chinese (translate {en!r} in the .po)"
    # Value texts (disk states; severities and classes of table columns): English needs no
    # mapping for tag values (they are English), so only the Chinese ones are checked.
    for panel in grafana.panels(chinese):
        mappings = list(panel["fieldConfig"]["defaults"].get("mappings", []))
        mapped = set()
        for override in panel["fieldConfig"]["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "mappings":
                    mappings += prop["value"]
                    mapped.add(override["matcher"]["options"])
        for mapping in mappings:
            for key, value in mapping["options"].items():
                # Chinese, or another spelling ("mcu" reads "MCU" in Chinese too).
                assert CJK.search(value["text"]) or value["text"] != key, f"zh-CN/{name} {panel['title']}: {key}"
        if panel["type"] == "table":
            renames = panel["transformations"][0]["options"]["renameByName"]
            for column in set(generator.table_columns(panel["targets"][0]["query"])) & set(generator.VALUE_WORDS):
                assert renames[column] in mapped, f"zh-CN/{name} {panel['title']}: {column} values"
    # Every column of every table is renamed by the panel's transformation.
    for panel in grafana.panels(chinese):
        if panel["type"] == "table":
            renames = panel["transformations"][0]["options"]["renameByName"]
            columns = generator.table_columns(panel["targets"][0]["query"])
            assert set(columns) <= set(renames), f"zh-CN/{name} {panel['title']}: {set(columns) - set(renames)}"
            assert all(CJK.search(text) for text in renames.values()), renames
    # The same queries: one query test covers both languages' data.
    assert [q.text for q in grafana.queries(english)] == [q.text for q in grafana.queries(chinese)]
    assert chinese["uid"] == english["uid"] + "-zh"


def test_every_table_column_is_in_the_catalogue_list():
    for key, board in DASHBOARDS.items():
        for panel in grafana.panels(board):
            if panel["type"] == "table":
                missing = (set(generator.table_columns(panel["targets"][0]["query"])) - set(generator.COLUMNS)
                           - set(generator.COLUMN_LABELS))
                assert not missing, f"{key} {panel['title']}: add {missing} to COLUMNS"


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
        for measurement in FROM.findall(query.text):
            assert f"`{measurement}`" in SCHEMA, f"{name} {query.where}: {measurement} is not in the schema"
    for panel in grafana.panels(board):
        assert panel["targets"] and panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_each_language_links_to_its_own_dashboards():
    for key, board in DASHBOARDS.items():
        language = key.split("/")[0]
        assert board["tags"] == ["netvigil", language]
        [link] = board["links"]
        assert link["type"] == "dashboards" and link["tags"] == ["netvigil", language]
        assert bool(CJK.search(link["title"])) == (language == "zh-CN")


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

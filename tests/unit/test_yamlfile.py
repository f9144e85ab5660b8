"""YAML with line numbers: every key and item located, duplicates and unsafe tags caught."""

from __future__ import annotations

import datetime

import pytest

from monitor import yamlfile

TEXT = """\
# a comment
sites:
  - name: dongcheng
    label: 东城区
  - name: street-03

devices:
  - name: core-sw-01
    tags: [uplink, vip]
"""


def test_builds_plain_objects():
    doc = yamlfile.parse(TEXT, "inv.yaml")
    assert doc.problems == ()
    assert doc.data == {"sites": [{"name": "dongcheng", "label": "东城区"}, {"name": "street-03"}],
                        "devices": [{"name": "core-sw-01", "tags": ["uplink", "vip"]}]}


def test_records_the_line_of_every_key_and_item():
    doc = yamlfile.parse(TEXT, "inv.yaml")
    assert doc.lines[("sites",)] == 2
    assert doc.lines[("sites", 0)] == 3
    assert doc.lines[("sites", 0, "label")] == 4
    assert doc.lines[("sites", 1)] == 5
    assert doc.lines[("devices", 0, "tags")] == 9
    assert doc.lines[("devices", 0, "tags", 1)] == 9


def test_line_of_a_missing_path_is_its_nearest_ancestor():
    doc = yamlfile.parse(TEXT, "inv.yaml")
    assert doc.line(("devices", 0, "address")) == 8
    assert doc.where(("sites", 1, "level")) == "inv.yaml:5"
    assert doc.line(("nothing",)) == 2  # the document itself, which starts after the comment


def test_duplicate_keys_are_problems_naming_both_lines():
    doc = yamlfile.parse("a: 1\nb:\n  c: 2\n  c: 3\na: 4\n", "f.yaml")
    assert doc.problems == (
        "f.yaml:4: b.c: duplicate key 'c' (first at line 3); YAML would silently keep only one",
        "f.yaml:5: a: duplicate key 'a' (first at line 1); YAML would silently keep only one",
    )
    assert doc.data == {"a": 1, "b": {"c": 2}}


@pytest.mark.parametrize("text, message", [
    ("a: [1\n", "f.yaml:2: YAML syntax error: did not find expected ',' or ']'"),
    ("a:\n  - b\n c: 1\n", "f.yaml:3: YAML syntax error: did not find expected key"),
    ("a: b\n---\nc: d\n", "f.yaml:2: YAML syntax error: expected a single document in the stream, "
                          "but found another document"),
    ("a: b\nc: \x01\n", "f.yaml:2: YAML syntax error: character #x0001: control characters are not allowed"),
])
def test_syntax_errors_are_one_line_with_file_and_line(text, message):
    doc = yamlfile.parse(text, "f.yaml")
    assert doc.problems == (message,)
    assert doc.data is None


@pytest.mark.parametrize("text, tag", [
    ("a: !!python/object/apply:os.system [id]\n", "!!python/object/apply:os.system"),
    ("a: !!python/name:os.system x\n", "!!python/name:os.system"),
    ("a: !custom 1\n", "!custom"),
    ("a: !!set {x}\n", "!!set"),
    ("a: !!binary aGVsbG8=\n", "!!binary"),
])
def test_only_safe_types_are_built(text, tag):
    doc = yamlfile.parse(text + "b: 2\n", "f.yaml")
    assert doc.problems == (f"f.yaml:1: a: unsupported YAML tag '{tag}' (only plain data is allowed)",)
    assert doc.data == {"b": 2}  # the unsafe entry is left out, the rest is kept


def test_safe_scalars_keep_their_yaml_types():
    doc = yamlfile.parse('i: 10\nf: 1.5\nb: true\nn: ~\ns: "10"\nd: 2024-06-01\nh: 0x1f\n', "f.yaml")
    assert doc.data == {"i": 10, "f": 1.5, "b": True, "n": None, "s": "10",
                        "d": datetime.date(2024, 6, 1), "h": 31}


def test_aliases_and_merge_keys():
    text = "base: &b {interval_s: 60, count: 10}\nsite:\n  <<: *b\n  count: 5\nother: *b\n"
    doc = yamlfile.parse(text, "f.yaml")
    assert doc.problems == ()
    assert doc.data["site"] == {"interval_s": 60, "count": 5}
    assert doc.data["other"] == {"interval_s": 60, "count": 10}
    assert doc.lines[("site", "interval_s")] == 3  # merged keys point at the `<<` line
    assert doc.lines[("site", "count")] == 4


def test_recursive_alias_is_a_problem_not_a_hang():
    doc = yamlfile.parse("a: &x [1, *x]\n", "f.yaml")
    assert doc.problems == ("f.yaml:1: a[1]: an alias refers to its own anchor (recursive data is not supported)",)
    assert doc.data == {"a": [1]}


def test_a_list_as_mapping_key_is_a_problem():
    doc = yamlfile.parse("? [a, b]\n: 1\nc: 2\n", "f.yaml")
    assert doc.problems == ("f.yaml:1: a mapping key must be a single value, not a list or a mapping",)
    assert doc.data == {"c": 2}


def test_empty_file_is_no_data_and_no_problem():
    doc = yamlfile.parse("# only a comment\n", "f.yaml")
    assert (doc.data, doc.problems) == (None, ())


def test_read_accepts_a_bom_and_reports_non_utf8_bytes(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: 东城区\n".encode("utf-8"))
    assert yamlfile.read(path, "bom.yaml").data == {"name": "东城区"}
    path.write_bytes("a: 1\nlabel: 东城区\n".encode("gb18030"))
    doc = yamlfile.read(path, "gbk.yaml")
    assert doc.problems == ("gbk.yaml:2: not UTF-8 text (byte 0xb6); save the file as UTF-8",)


def test_read_leaves_a_missing_file_to_the_caller(tmp_path):
    with pytest.raises(FileNotFoundError):
        yamlfile.read(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path, text", [
    (("devices", 17, "class"), "devices[17].class"),
    (("probes", "icmp", "count"), "probes.icmp.count"),
    ((0,), "[0]"),
    ((), ""),
])
def test_format_path(path, text):
    assert yamlfile.format_path(path) == text


def test_gc_paused_restores_the_collector():
    import gc
    assert gc.isenabled()
    with yamlfile.gc_paused():
        assert not gc.isenabled()
        with yamlfile.gc_paused():
            pass
        assert not gc.isenabled()  # the inner pause does not resume it early
    assert gc.isenabled()

"""`netvigil inventory import`: spreadsheets in, inventory YAML that `netvigil check` accepts out."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from monitor import cli, config, inventory
from monitor.cli import inventory as csvimport
from lab.support import REPO, VENV_BIN

CSV = REPO / "tests" / "data" / "csv"

# File -> the exact lines on stderr, and the exit code. Run from tests/data/csv.
BAD_FILES = {
    "bad-rows.csv": ([], [
        "bad-rows.csv:3: name: missing",
        "bad-rows.csv:4: address: missing",
        "bad-rows.csv:5: class: unknown class 'swtich' (did you mean 'switch'?)",
        "bad-rows.csv:6: address: invalid address '192.0.2.256': neither an IP address nor a valid host name",
        "bad-rows.csv:7: site: missing",
        "bad-rows.csv:8: name: duplicate name 'sw-01' (also on line 2)",
        "bad-rows.csv:9: address: invalid address '192.0.2.01': neither an IP address nor a valid host name",
        "bad-rows.csv:10: address: address '192.0.2.1' is also used by 'sw-01' (line 2)",
        "bad-rows.csv:11: parent: unknown device 'sw-99' (did you mean 'sw-01'?)",
        "bad-rows.csv:12: parent: device 'cam-03' (line 5) is skipped",
        "bad-rows.csv:15: class: missing (one of mcu, codec, phone, switch, router, ups, nvr, camera, server, "
        "env_sensor, other)",
        "2 devices written, 11 rows skipped",
    ]),
    "multiline-and-cycle.csv": ([], [
        "multiline-and-cycle.csv:2: parent: parent cycle: sw-a -> sw-b -> sw-a",
        "multiline-and-cycle.csv:4: parent: parent cycle: sw-a -> sw-b -> sw-a",  # line 3 is inside a quoted cell
        "multiline-and-cycle.csv:5: parent: parent cycle: sw-c -> sw-c",
        "1 devices written, 3 rows skipped",
    ]),
    "against-existing.csv": (["-c", "existing/netvigil.yaml"], [
        "against-existing.csv:2: name: device 'core-sw-01' already exists (existing/inventory.yaml:5)",
        "against-existing.csv:3: address: address '192.0.2.1' is already used by device 'core-sw-01' "
        "(existing/inventory.yaml:5)",
        "2 devices written, 2 rows skipped",
    ]),
    "missing-column.csv": ([], [
        "missing-column.csv:1: ignoring columns: adress",
        "missing-column.csv:1: address: missing column; the header row must name name, address, class, site "
        "(did you mean 'adress'?)",
    ]),
    "duplicate-header.csv": ([], [
        "duplicate-header.csv:1: address: the header names this column twice",
    ]),
    "empty.csv": ([], [
        "empty.csv:1: the file is empty; the first row must name the columns name, address, class, site",
    ]),
    "missing.csv": ([], ["missing.csv: cannot read: No such file or directory"]),
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("NETVIGIL_") or name in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"):
            monkeypatch.delenv(name)


def run_import(*argv: str) -> int:
    return cli.main(["inventory", "import", *argv])


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_and_rows_print_exact_lines_and_exit_2(name, tmp_path, monkeypatch, capsys):
    options, expected = BAD_FILES[name]
    monkeypatch.chdir(CSV)
    assert run_import(name, "-o", str(tmp_path / "out.yaml"), *options) == 2
    assert capsys.readouterr().err.splitlines() == expected


def test_good_rows_are_written_even_when_some_are_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(CSV)
    run_import("bad-rows.csv", "-o", str(tmp_path / "out.yaml"))
    written = yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))
    assert [d["name"] for d in written["devices"]] == ["sw-01", "cam-11"]
    assert written["sites"] == [{"name": "street-east"}]


def check_next_to(directory, output) -> config.Config:
    """Drop the import next to a settings file, as a sysadmin would, and load it like `netvigil check`."""
    (directory / "netvigil.yaml").write_text(f"inventory: [{output.name}]\n", encoding="utf-8")
    return config.load(directory / "netvigil.yaml")


def test_utf8_chinese_names_sites_and_synonyms_round_trip(tmp_path, capsys):
    output = tmp_path / "imported.yaml"
    assert run_import(str(CSV / "equipment-utf8.csv"), "-o", str(output)) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{CSV / 'equipment-utf8.csv'}:1: ignoring columns: 型号", "6 devices written, 0 rows skipped"]
    text = output.read_text(encoding="utf-8")
    assert "东华街道-会议终端-01" in text  # written as characters, not \u escapes
    cfg = check_next_to(tmp_path, output)
    devices = {d.name: d for d in cfg.inventory.devices}
    assert {name: d.device_class for name, d in devices.items()} == {
        "东华街道-交换机-01": "switch", "东华街道-会议终端-01": "codec", "东华第一社区-摄像头-01": "camera",
        "东华第一社区-录像机": "nvr", "机房-UPS": "ups", "机房-温湿度": "env_sensor"}
    assert devices["东华街道-会议终端-01"].parents == ("东华街道-交换机-01",)
    assert devices["东华街道-交换机-01"].tags == ("核心", "vip")
    assert devices["东华街道-会议终端-01"].tags == ("会议室", "一层")
    assert devices["东华第一社区-摄像头-01"].tags == ("室外", "球机")
    assert devices["东华第一社区-录像机"].site == "东华第一社区"
    assert sorted(cfg.inventory.sites) == ["东华第一社区", "东华街道"]


def test_gb18030_reads_like_utf8_and_says_so(tmp_path, capsys):
    assert run_import(str(CSV / "equipment-utf8.csv"), "-o", str(tmp_path / "utf8.yaml")) == 0
    capsys.readouterr()
    assert run_import(str(CSV / "equipment-gb18030.csv"), "-o", str(tmp_path / "gb.yaml")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{CSV / 'equipment-gb18030.csv'}: not UTF-8; read as GB18030 (how Excel on Chinese Windows " \
                     "saves CSV)"
    assert err[-1] == "6 devices written, 0 rows skipped"
    body = (tmp_path / "gb.yaml").read_text(encoding="utf-8").split("\n", 1)[1]  # after the header comment
    assert body == (tmp_path / "utf8.yaml").read_text(encoding="utf-8").split("\n", 1)[1]
    assert len(check_next_to(tmp_path, tmp_path / "gb.yaml").inventory.devices) == 6


def test_bom_and_any_column_order_and_case(tmp_path, capsys):
    output = tmp_path / "imported.yaml"
    assert run_import(str(CSV / "equipment-bom.csv"), "-o", str(output)) == 0
    cfg = check_next_to(tmp_path, output)
    phone = cfg.inventory.by_name("east-phone-01")
    assert (phone.device_class, phone.address, phone.site, phone.parents, phone.tags) == (
        "phone", "192.0.2.2", "street-east", ("east-sw-01",), ("desk",))
    assert cfg.inventory.by_name("mcu-01").address == "2001:db8::1"


def test_against_existing_inventory_reuses_sites_by_label_and_passes_check(tmp_path, capsys):
    shutil.copytree(CSV / "existing", tmp_path / "etc")
    output = tmp_path / "etc" / "imported.yaml"
    assert run_import(str(CSV / "against-existing.csv"), "-c", str(tmp_path / "etc" / "netvigil.yaml"),
                      "-o", str(output)) == 2
    written = yaml.safe_load(output.read_text(encoding="utf-8"))
    assert written["sites"] == [{"name": "新社区"}]  # 东华街道 is the label of the existing street-donghua
    assert [(d["name"], d["site"]) for d in written["devices"]] == [
        ("donghua-sw-02", "street-donghua"), ("新社区-终端-01", "新社区")]
    (tmp_path / "etc" / "netvigil.yaml").write_text("inventory: [inventory.yaml, imported.yaml]\n", encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["check", "-c", str(tmp_path / "etc" / "netvigil.yaml")]) == 0
    assert capsys.readouterr().out.endswith(": 3 devices in 3 sites from 2 inventory files\n")


def test_re_importing_into_the_inventory_does_not_collide_with_its_own_output(tmp_path, capsys):
    (tmp_path / "inventory.d").mkdir()
    (tmp_path / "netvigil.yaml").write_text("inventory: [inventory.d]\n", encoding="utf-8")
    output = tmp_path / "inventory.d" / "imported.yaml"
    for _ in range(2):
        assert run_import(str(CSV / "equipment-bom.csv"), "-c", str(tmp_path / "netvigil.yaml"),
                          "-o", str(output)) == 0
    assert capsys.readouterr().err.splitlines()[-1] == "3 devices written, 0 rows skipped"


def test_an_invalid_existing_configuration_stops_the_import(tmp_path, capsys):
    (tmp_path / "netvigil.yaml").write_text("inventory: [nothing.yaml]\n", encoding="utf-8")
    assert run_import(str(CSV / "equipment-bom.csv"), "-c", str(tmp_path / "netvigil.yaml"),
                      "-o", str(tmp_path / "out.yaml")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'netvigil.yaml'}:1: inventory[0]: '{tmp_path / 'nothing.yaml'}' does not exist",
        f"{tmp_path / 'netvigil.yaml'}: the configuration has problems; fix them first, so the import can be "
        "compared with the existing inventory"]
    assert not (tmp_path / "out.yaml").exists()


def test_without_output_the_yaml_goes_to_stdout(capsys):
    assert run_import(str(CSV / "equipment-bom.csv")) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# Imported by `netvigil inventory import` from ")
    assert [d["name"] for d in yaml.safe_load(out)["devices"]] == ["east-sw-01", "east-phone-01", "mcu-01"]
    assert err == "3 devices written, 0 rows skipped\n"


def test_console_script_exit_code(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NETVIGIL_")}
    result = subprocess.run([str(VENV_BIN / "netvigil"), "inventory", "import", "bad-rows.csv", "-o",
                             str(tmp_path / "out.yaml")], cwd=CSV, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == BAD_FILES["bad-rows.csv"][1]


@pytest.mark.parametrize("word, device_class", sorted(csvimport.CLASS_SYNONYMS.items()) + [
    ("SWITCH", "switch"), ("Env Sensor", "env_sensor"), ("env-sensor", "env_sensor"), ("ip-phone", "phone"),
    ("nvr", "nvr"), ("MCU", "mcu"), (" 交换机 ", "switch")])
def test_class_words(word, device_class, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(f"name,address,class,site\nd,192.0.2.1,\"{word}\",s\n", encoding="utf-8")
    output = tmp_path / "one.yaml"
    assert run_import(str(path), "-o", str(output)) == 0
    assert yaml.safe_load(output.read_text(encoding="utf-8"))["devices"][0]["class"] == device_class


def test_every_synonym_is_documented_and_canonical():
    assert set(csvimport.CLASS_SYNONYMS.values()) <= set(inventory.DEVICE_CLASSES)
    doc = csvimport.__doc__
    missing = [word for word in csvimport.CLASS_SYNONYMS if word not in doc]
    assert missing == []
    for device_class in inventory.DEVICE_CLASSES:
        assert f"\n    {device_class} " in doc  # one documented line per class


def test_tag_separators(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text('name,address,class,site,tags\nd,192.0.2.1,switch,s,"a;b|c d，e、f；g,a"\n', encoding="utf-8")
    assert run_import(str(path), "-o", str(tmp_path / "out.yaml")) == 0
    written = yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))
    assert written["devices"][0]["tags"] == ["a", "b", "c", "d", "e", "f", "g"]


def test_bytes_that_are_neither_utf8_nor_gb18030(tmp_path, capsys):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"name,address\n\xff\xff\xff\n")
    assert run_import(str(path)) == 2
    assert capsys.readouterr().err == f"{path}: neither UTF-8 nor GB18030 text; save the sheet as \"CSV UTF-8\"\n"


def test_excel_line_endings_keep_physical_row_numbers(tmp_path, capsys):
    path = tmp_path / "excel.csv"
    path.write_bytes(b'\xef\xbb\xbfname,address,class,site\r\nsw-1,192.0.2.1,switch,east\r\n'
                     b'"sw\r\n2",192.0.2.2,switch,east\r\nsw-3,192.0.2.3,swich,east\r\n')
    assert run_import(str(path), "-o", str(tmp_path / "out.yaml")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:3: name: 'sw\\r\\n2' contains a control character",
        f"{path}:5: class: unknown class 'swich' (did you mean 'switch'?)",
        "1 devices written, 2 rows skipped"]


def test_an_unwritable_output_is_one_line(tmp_path, capsys):
    output = tmp_path / "no-such-directory" / "out.yaml"
    assert run_import(str(CSV / "equipment-bom.csv"), "-o", str(output)) == 1
    assert capsys.readouterr().err == f"{output}: cannot write: No such file or directory\n"

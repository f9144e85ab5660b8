"""Chinese and English: the catalogues are complete and compiled, the language setting and the
locale pick the language, and the shipped rules' messages read in both."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from lab.support import VENV_BIN
from monitor import i18n
from monitor.cli.tables import display_width, format_columns
from monitor.rules.model import load_rules
from monitor.rules.settings import RulesSettings

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _tool():
    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_text_has_a_chinese_translation_and_the_compiled_catalogue_is_current(capsys):
    code = _tool().main(["--check"])
    assert code == 0, capsys.readouterr().err


def test_the_check_names_a_missing_translation_a_fuzzy_one_and_a_lost_field():
    tool = _tool()
    catalog = Catalog(locale="zh_CN")
    catalog.add("{device} is down", "")
    catalog.add("{device} is slow", "{device} 缓慢", flags=("fuzzy",))
    catalog.add("{device} at {site}", "{device} 在某处")
    catalog.add("{device} answers", "{device} 有响应")
    found = "\n".join(tool.problems("zh_CN", catalog))
    assert "no zh_CN translation of '{device} is down'" in found
    assert "'{device} is slow' is marked fuzzy" in found
    assert "'{device} at {site}' has the fields ['device'], the English ['device', 'site']" in found
    assert "answers" not in found


def test_every_shipped_rule_message_reads_in_chinese_and_in_english():
    with i18n.using("en"):
        english = {rule.name: rule for rule in load_rules(RulesSettings(dirs=[])).rules}
    with i18n.using("zh-CN"):
        chinese = {rule.name: rule for rule in load_rules(RulesSettings(dirs=[])).rules}
    assert english.keys() == chinese.keys() and len(english) > 30
    for name, rule in english.items():
        context = {"device": "核心交换机", "site": "区政府", "instance": "1", "value": 42, "threshold": 30,
                   "for": rule.for_text, "rule": name}
        en = rule.message.render(context, {}, {})
        zh = chinese[name].message.render({**context, "for": chinese[name].for_text}, {}, {})
        assert not CJK.search(rule.spec.message), name
        assert CJK.search(zh.replace("核心交换机", "").replace("区政府", "")), f"{name}: {zh!r} is not Chinese"
        assert en != zh, name


def test_a_rule_over_several_samples_says_so_in_each_language():
    with i18n.using("zh-CN"):
        rules = {rule.name: rule for rule in load_rules(RulesSettings(dirs=[])).rules}
    several = [rule for rule in rules.values() if rule.for_samples > 1]
    assert several and all("个样本" in rule.for_text for rule in several)
    with i18n.using("en"):
        assert i18n.ngettext("{n} sample", "{n} samples", 3).format(n=3) == "3 samples"


@pytest.mark.parametrize("given, expected", [
    ("zh-CN", "zh-CN"), ("zh_CN", "zh-CN"), ("zh", "zh-CN"), ("ZH-cn", "zh-CN"), ("en", "en"), ("en_US", "en")])
def test_language_spellings(given, expected):
    assert i18n.normalise(given) == expected


def test_an_unknown_language_is_a_sentence_with_the_choices():
    with pytest.raises(i18n.UnknownLanguage, match=r"unknown language 'fr'; use one of: zh-CN, en"):
        i18n.normalise("fr")


@pytest.mark.parametrize("environ, expected", [
    ({"LANG": "zh_CN.UTF-8"}, "zh-CN"), ({"LANG": "en_US.UTF-8"}, "en"), ({}, "en"), ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"), ({"LC_MESSAGES": "zh_TW.UTF-8", "LANG": "C"}, "zh-CN"),
    ({"LC_ALL": "", "LANG": "zh_CN.GB18030"}, "zh-CN")])
def test_the_default_comes_from_the_locale(environ, expected):
    assert i18n.from_locale(environ) == expected


def test_using_restores_the_language_before_it():
    with i18n.using("en"):
        with i18n.using("zh-CN"):
            assert i18n._(" and ") == "且" and i18n.language() == "zh-CN"
        assert i18n._(" and ") == " and " and i18n.language() == "en"


def test_the_language_setting_applies_when_the_settings_load(tmp_path):
    from monitor.config import load_settings
    settings_file = tmp_path / "netvigil.yaml"
    settings_file.write_text("language: zh_CN\n", encoding="utf-8")
    with i18n.using("en"):
        assert load_settings(settings_file).language == "zh-CN"
        assert i18n.language() == "zh-CN"


def test_an_unknown_language_setting_is_a_configuration_error_at_check(tmp_path):
    settings_file = tmp_path / "netvigil.yaml"
    settings_file.write_text("state_dir: state\nlanguage: fr\ninventory: []\n", encoding="utf-8")
    result = subprocess.run([str(VENV_BIN / "netvigil"), "check", "-c", str(settings_file)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result
    assert f"{settings_file}:2: language: unknown language 'fr'; use one of: zh-CN, en" in result.stderr
    assert "Traceback" not in result.stderr


def test_chinese_names_take_two_columns_and_stay_aligned():
    assert display_width("核心交换机") == 10 and display_width("（一）") == 6 and display_width("sw-1") == 4
    table = format_columns([["DEVICE", "SITE"], ["核心交换机", "区政府"], ["sw-1", "street"]]).splitlines()
    columns = [display_width(line[:line.index(site)]) for line, site in zip(table, ["SITE", "区政府", "street"])]
    assert len(set(columns)) == 1, table

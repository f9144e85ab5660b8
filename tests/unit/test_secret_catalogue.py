"""probes/devconfig/catalogue.py: the catalogue files load, every entry does its own work, and a
broken entry is refused with a sentence naming the file, the entry and the fix."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from probes.devconfig import catalogue as secret_catalogue
from probes.devconfig.mask import Masker, secret_mask
from probes.devconfig.catalogue import CatalogueError, compile_form, planted


def _statements():
    for vendor in secret_catalogue.VENDORS:
        for index, statement in enumerate(secret_catalogue.load(vendor).statements):
            yield pytest.param(statement, id=f"{vendor}-{index}")


@pytest.mark.parametrize("statement", list(_statements()))
def test_each_entry_alone_finds_exactly_the_secrets_of_its_examples(statement):
    # Not the net behind it: the entry itself, so no catalogue line is dead weight.
    for example in statement.examples:
        line, secrets = planted(example)
        found = statement.pattern.search(line)
        assert found is not None, example
        spans = sorted(found.span(group) for group in statement.groups if found.span(group)[0] >= 0)
        assert [line[start:end] for start, end in spans] == secrets, example
        if statement.first_words is not None:  # the masker only tries the form on lines starting so
            assert line.split()[0].lower() in statement.first_words
        lower = line.lower()
        assert all(word in lower for word in statement.needs), example
        assert not statement.needs_any or any(word in lower for word in statement.needs_any), example


def test_every_vendor_has_a_catalogue_with_references():
    for vendor in secret_catalogue.VENDORS:
        catalogue = secret_catalogue.load(vendor)
        assert catalogue.vendor == vendor and catalogue.title not in ("", vendor)
        assert len(catalogue.statements) >= 10
        assert all(statement.ref.strip() for statement in catalogue.statements)
        assert all(statement.source == f"{vendor}: {statement.ref}" for statement in catalogue.statements)


@pytest.mark.parametrize("form, line, secrets, needs", [
    ("a [ b ] SECRET", "a b Pw1", ["Pw1"], ("a",)),
    ("a [ b ] SECRET", " a Pw2 tail", ["Pw2"], ("a",)),
    ("a { x | y z } SECRET", "a y z Pw3", ["Pw3"], ("a",)),
    ("a ... key SECRET", "a 1 2 3 key Pw4", ["Pw4"], ("a", "key")),
    ("a <#id> SECRET", "a 12 Pw5", ["Pw5"], ("a",)),
    ("a [{ cipher | plain }] SECRET", "a cipher %^%#x y%^%# z", ["%^%#x y%^%#"], ("a",)),
    ("a SECRET [ b SECRET ]", "a P1 b P2", ["P1", "P2"], ("a",)),
    ("a SECRET!not SECRET", "a not-it P6", ["not-it", "P6"], ("a",)),
    ('a SECRET', 'a "quoted pass" x', ['"quoted pass"'], ("a",)),
    ("a { only } SECRET", "a only Pw7", ["Pw7"], ("a",)),  # a choice of one
    ("A <user> B SECRET", "a bob b Pw8", ["Pw8"], ("a", "b")),  # keywords in any case
    # three values (a user's password and both SNMPv3 keys): each gets a group name of its own
    ("a SECRET b SECRET c SECRET", "a P1 b P2 c P3", ["P1", "P2", "P3"], ("a", "b", "c")),
])
def test_forms_compile_to_what_they_say(form, line, secrets, needs):
    pattern, first, required = compile_form(form)
    found = pattern.match(line)
    assert found is not None
    assert [found.group(name) for name in pattern.groupindex if found.group(name) is not None] == secrets
    assert first == ("a",)
    # The masker only tries a form on lines holding these words: an optional word or one of a
    # choice among them would turn away the lines that leave it out, and leak their secrets.
    assert required == needs


@pytest.mark.parametrize("form, first", [
    ("[ pac ] key SECRET", ("key", "pac")),
    ("{ a | b c } SECRET", ("a", "b")),
    ("[ x ] [ y ] z SECRET", ("x", "y", "z")),
    ("{ [ x ] y | z } SECRET", ("x", "y", "z")),
    ("<user> SECRET", None),
    ("[ ... ] a SECRET", None),
    ("[ x ] SECRET", None),  # the value may start the line
    ("{ [ x ] | y } z SECRET", ("x", "y", "z")),  # a choice that can be empty
    ("{ [ a ] | [ b ] } c SECRET", ("a", "b", "c")),
    ("[ [ x ] ] y SECRET", ("x", "y")),
    ("{ { a | b } c | d } SECRET", ("a", "b", "d")),  # a choice that cannot
    ("{ { a | b } | c } SECRET", ("a", "b", "c")),
    ("{ x | { [ y ] | z } w } SECRET", ("w", "x", "y", "z")),
    ("{ { { a | b } } | c } SECRET", ("a", "b", "c")),
])
def test_the_first_keywords_of_a_form_are_all_the_words_a_match_can_start_with(form, first):
    assert compile_form(form)[1] == first


@pytest.mark.parametrize("form, line", [
    ("a <#id> SECRET", "a x Pw"),  # <#...> is digits only
    ("a SECRET!not", "a not"),  # an excluded word is never the value
    ("a SECRET!not!nor", "a nor"),
    ("a SECRET", "a cipher"),  # nor an encoding keyword
    ("a SECRET", "ab Pw"),  # keywords are whole tokens
    ("a SECRET", "x a Pw"),  # a statement starts the line
])
def test_forms_do_not_match_what_they_exclude(form, line):
    pattern, _, _ = compile_form(form)
    assert pattern.match(line) is None


@pytest.mark.parametrize("form, problem", [
    ("a b", "has no SECRET"),
    ("a [ SECRET", "expected ']'"),
    ("a { b | } SECRET", "has an empty group"),
    ("a ] SECRET", "unexpected ']'"),
    ("a } SECRET", "unexpected '}'"),
    ("a | SECRET", "unexpected '|'"),
    ("a SECRET!", "'SECRET!': name the excluded words after the !"),
    ("a <user SECRET", "'<user' is neither a keyword, <argument>, SECRET nor ..."),
])
def test_a_broken_form_is_refused_with_a_reason(form, problem):
    with pytest.raises(CatalogueError) as refused:
        compile_form(form)
    assert str(refused.value) == f"form {form!r}: {problem}"


@pytest.mark.parametrize("entry, problem", [
    ("a SECRET", "an entry is a mapping with ref, form (or regex or block) and examples"),
    ({"form": "a SECRET", "examples": ["a «x»"]}, "`ref` (the command reference's statement form) is missing"),
    ({"ref": "a x", "form": "a SECRET"}, "`examples` must list at least one line"),
    ({"ref": "a x", "form": "a SECRET", "examples": []}, "`examples` must list at least one line"),
    ({"ref": "a x", "form": "a SECRET", "examples": "a «x»"}, "`examples` must list at least one line"),
    ({"ref": "a x", "form": "a SECRET", "examples": ["a «x»", 3]}, "`examples` must list at least one line"),
    ({"ref": "a x", "form": "a b", "examples": ["a «x»"]}, "(a x): form 'a b': has no SECRET"),
    ({"ref": "k", "block": {"begin": "^-----BEGIN"}, "examples": ["-----BEGIN\n«x»\n-----END"]},
     "(k): block needs `begin` and `end` regular expressions: 'end'"),
    ({"ref": "k", "block": {"begin": "^key-store begin", "end": "^key-store end"}, "examples": ["x\n«y»\nz"]},
     "(k): a block's `begin` must match a PEM armour line: put the literal -----BEGIN in it"),
    ({"ref": "a x", "form": "a SECRET", "examples": ["a x"]}, "marks no «secret»"),
    ({"ref": "a x", "form": "a SECRET", "regex": "a (?P<secret>x)", "examples": ["a «x»"]}, "exactly one of"),
    ({"ref": "a x", "regex": "a (x)", "examples": ["a «x»"]}, "no group named secret"),
    ({"ref": "a x", "regex": "a (?P<secret>x", "examples": ["a «x»"]}, "invalid regex"),
    ({"ref": "a x", "form": "a SECRET", "examples": ["a «x»"], "colour": 1}, "unknown keys ['colour']"),
])
def test_a_broken_entry_is_refused_naming_where_and_what(entry, problem):
    with pytest.raises(CatalogueError, match=re.escape(problem)) as caught:
        secret_catalogue._statement("test", "test.yaml: statements[3]", entry)
    assert str(caught.value).startswith("test.yaml: statements[3]")


def test_a_block_entry_masks_the_lines_between_its_begin_and_end():
    entry = {"ref": "appliance key store",
             "block": {"begin": "^-----BEGIN STORE-----$", "end": "^-----END STORE-----$"},
             "examples": ["-----BEGIN STORE-----\n«c2VjcmV0»\n-----END STORE-----"]}
    block = secret_catalogue._statement("test", "test.yaml: statements[0]", entry)
    assert isinstance(block, secret_catalogue.Block)
    assert (block.vendor, block.ref, block.examples) == ("test", "appliance key store", tuple(entry["examples"]))
    masked = Masker((), (block,)).mask("-----BEGIN STORE-----\nc2VjcmV0\n-----END STORE-----\nafter", b"k" * 32)
    assert masked == f"-----BEGIN STORE-----\n{secret_mask('c2VjcmV0', b'k' * 32)}\n-----END STORE-----\nafter"


@pytest.mark.parametrize("entry, name", [
    ({"form": "snmp-agent target-host ... params securityname SECRET"}, "snmp-agent target-host"),
    ({"form": "one two three four SECRET"}, "one two three"),  # at most three words
    ({"form": "a [ b ] SECRET"}, "a"),
    ({"form": "a { b | c } SECRET"}, "a"),
    ({"form": "{ x | y z } SECRET"}, "x / y"),  # a leading choice shows its words
    ({"form": "[ pac ] key SECRET"}, "key / pac"),
    ({"form": "a SECRET", "name": "what people call it"}, "what people call it"),
    ({"regex": "^x (?P<secret>\\S+)"}, "shadow(5)"),  # a regex: the reference up to its colon
])
def test_a_statement_is_named_by_its_leading_keywords(entry, name):
    # docs/ssh.md's catalogue table lists statements by these names (scripts/secret_reference.py).
    entry = {"ref": "shadow(5): login:password:...", "examples": ["x «y»"], **entry}
    assert secret_catalogue._statement("test", "test.yaml: statements[0]", entry).name == name


def test_a_catalogue_file_loads_with_its_title_statements_and_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(secret_catalogue, "CATALOGUE_DIR", tmp_path)
    (tmp_path / "test.yaml").write_text(
        "title: Test appliance\nstatements:\n"
        "  - ref: 'admin password PASSWORD'\n    form: 'admin password SECRET'\n"
        "    examples: ['admin password «x»']\n"
        "  - ref: 'key store'\n    block: {begin: '^-----BEGIN K-----$', end: '^-----END K-----$'}\n"
        "    examples: [\"-----BEGIN K-----\\n«k»\\n-----END K-----\"]\n",
        encoding="utf-8")
    catalogue = secret_catalogue._load("test")
    assert (catalogue.vendor, catalogue.title) == ("test", "Test appliance")
    assert [statement.ref for statement in catalogue.statements] == ["admin password PASSWORD"]
    assert [block.ref for block in catalogue.blocks] == ["key store"]
    (tmp_path / "untitled.yaml").write_text("statements: []\n", encoding="utf-8")
    assert secret_catalogue._load("untitled").title == "untitled"


@pytest.mark.parametrize("text, problem", [
    (None, "no secret catalogue {dir}/test.yaml; known: huawei_vrp, h3c_comware, cisco_ios, linux"),
    ("title: only a title\n", "{dir}/test.yaml: expected a mapping with a `statements` list"),
    ("- a list\n", "{dir}/test.yaml: expected a mapping with a `statements` list"),
    ("statements: {a: 1}\n", "{dir}/test.yaml: expected a mapping with a `statements` list"),
    ("statements:\n  - ref: x\n",
     "test.yaml: statements[0] (x): `examples` must list at least one line with «secret» marked"),
])
def test_a_broken_catalogue_file_is_refused_naming_the_file(tmp_path, monkeypatch, text, problem):
    monkeypatch.setattr(secret_catalogue, "CATALOGUE_DIR", tmp_path)
    if text is not None:
        (tmp_path / "test.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as refused:
        secret_catalogue._load("test")
    assert str(refused.value) == problem.format(dir=tmp_path)


def test_the_catalogues_load_under_a_locale_that_is_not_utf_8():
    # The files are UTF-8 (« » mark the examples); a server's locale may be C with the coercion
    # to UTF-8 turned off, or GB 18030 on a Chinese installation, so the reading names it.
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    code = ("import locale, sys\nfrom probes.devconfig import catalogue as c\n"
            "print(locale.getpreferredencoding(False), [len(c.load(v).statements) for v in c.VENDORS])")
    run = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    encoding, counts = run.stdout.split(" ", 1)
    assert encoding != "UTF-8"  # the locale really was another one
    assert counts.strip() == str([len(secret_catalogue.load(vendor).statements) for vendor in secret_catalogue.VENDORS])

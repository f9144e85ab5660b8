"""probes/secret_catalogue.py: the catalogue files load, every entry does its own work, and a
broken entry is refused with a sentence naming the file, the entry and the fix."""

from __future__ import annotations

import re

import pytest

from probes import secret_catalogue
from probes.secret_catalogue import CatalogueError, compile_form, planted


def _statements():
    for vendor in secret_catalogue.VENDORS:
        for index, statement in enumerate(secret_catalogue.load(vendor).statements):
            yield pytest.param(statement, id=f"{vendor}-{index}")


@pytest.mark.parametrize("statement", _statements())
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
        assert len(catalogue.statements) >= 10
        assert all(statement.ref.strip() for statement in catalogue.statements)


@pytest.mark.parametrize("form, line, secrets", [
    ("a [ b ] SECRET", "a b Pw1", ["Pw1"]),
    ("a [ b ] SECRET", " a Pw2 tail", ["Pw2"]),
    ("a { x | y z } SECRET", "a y z Pw3", ["Pw3"]),
    ("a ... key SECRET", "a 1 2 3 key Pw4", ["Pw4"]),
    ("a <#id> SECRET", "a 12 Pw5", ["Pw5"]),
    ("a [{ cipher | plain }] SECRET", "a cipher %^%#x y%^%# z", ["%^%#x y%^%#"]),
    ("a SECRET [ b SECRET ]", "a P1 b P2", ["P1", "P2"]),
    ("a SECRET!not SECRET", "a not-it P6", ["not-it", "P6"]),
    ('a SECRET', 'a "quoted pass" x', ['"quoted pass"']),
])
def test_forms_compile_to_what_they_say(form, line, secrets):
    pattern, first, needs = compile_form(form)
    found = pattern.match(line)
    assert found is not None
    assert [found.group(name) for name in pattern.groupindex if found.group(name) is not None] == secrets
    assert first == ("a",)


@pytest.mark.parametrize("form, first", [
    ("[ pac ] key SECRET", ("key", "pac")),
    ("{ a | b c } SECRET", ("a", "b")),
    ("[ x ] [ y ] z SECRET", ("x", "y", "z")),
    ("{ [ x ] y | z } SECRET", ("x", "y", "z")),
    ("<user> SECRET", None),
    ("[ ... ] a SECRET", None),
])
def test_the_first_keywords_of_a_form_are_all_the_words_a_match_can_start_with(form, first):
    assert compile_form(form)[1] == first


@pytest.mark.parametrize("form, line", [
    ("a <#id> SECRET", "a x Pw"),  # <#...> is digits only
    ("a SECRET!not", "a not"),  # an excluded word is never the value
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
    ("a { b | } SECRET", "empty group"),
    ("a ] SECRET", "unexpected ']'"),
    ("a SECRET!", "name the excluded words"),
])
def test_a_broken_form_is_refused_with_a_reason(form, problem):
    with pytest.raises(CatalogueError, match=re.escape(problem)):
        compile_form(form)


@pytest.mark.parametrize("entry, problem", [
    ({"form": "a SECRET", "examples": ["a «x»"]}, "`ref` (the command reference's statement form) is missing"),
    ({"ref": "a x", "form": "a SECRET"}, "`examples` must list at least one line"),
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

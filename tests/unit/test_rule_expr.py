"""Conditions and message templates of rules (monitor/rules/expr.py)."""

from __future__ import annotations

import itertools

import pytest

from monitor.rules.expr import ExprError, compile_condition, compile_template, readable


def check(text, fields=None, tags=None):
    return compile_condition(text).evaluate(fields or {}, tags or {})


@pytest.mark.parametrize("text, fields, expected", [
    ("loss_pct > 1", {"loss_pct": 1.5}, True),
    ("loss_pct > 1", {"loss_pct": 1}, False),
    ("loss_pct >= 1", {"loss_pct": 1}, True),
    ("loss_pct < 1", {"loss_pct": 0.5}, True),
    ("loss_pct <= 0.5", {"loss_pct": 0.5}, True),
    ("up == 0", {"up": 0}, True),
    ("up != 0", {"up": 0}, False),
    ("1 < loss_pct", {"loss_pct": 2}, True),          # constant first: mirrored
    ("10 >= temperature_c", {"temperature_c": 11}, False),
    ("temperature_c < -5", {"temperature_c": -10.5}, True),
    ("0 < x < 10", {"x": 5}, True),
    ("0 < x < 10", {"x": 10}, False),
    ("ok == 1", {"ok": True}, True),                   # booleans compare as 0/1
    ("status in [3, 4]", {"status": 4}, True),
    ("status in [3, 4]", {"status": 2}, False),
    ("status not in [3, 4]", {"status": 2}, True),
    ("x > 1 and y > 1", {"x": 2, "y": 2}, True),
    ("x > 1 and y > 1", {"x": 2, "y": 0}, False),
    ("x > 1 or y > 1", {"x": 0, "y": 2}, True),
    ("not x > 1", {"x": 0}, True),
    ("not (x > 1 or y > 1)", {"x": 0, "y": 0}, True),
])
def test_numeric_conditions(text, fields, expected):
    assert check(text, fields) is expected


@pytest.mark.parametrize("operator", ["==", "!=", "<", "<=", ">", ">="])
def test_a_constant_written_first_means_what_it_says(operator):
    # `5 <= x` reads "x is at least 5": the compiler turns it round to `x >= 5`. Below, at and
    # above the constant, for every operator, the result must be Python's own for `5 OP x`.
    for value in (4, 5, 6):
        expected = eval(f"5 {operator} {value}")  # noqa: S307 - literal numbers only
        assert check(f"5 {operator} x", {"x": value}) is expected, (operator, value)
        assert check(f"-5 {operator} x", {"x": -value}) is eval(f"-5 {operator} {-value}"), (operator, value)  # noqa: S307
    # The comparison reported for {value}/{threshold} and higher_is_worse is the turned-round one.
    mirrored = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[operator]
    [comparison] = compile_condition(f"5 {operator} x").comparisons
    assert (comparison.name, comparison.operator, comparison.number) == ("x", mirrored, 5.0)


def test_names_resolve_to_fields_first_then_tags():
    assert check('class == "codec"', {}, {"class": "codec"}) is True
    assert check('name == "x"', {"name": "x"}, {"name": "y"}) is True
    assert check('name == "x"', {}, {"name": "y"}) is False
    assert check('unit != "C"', {}, {"unit": "%RH"}) is True
    # Python keywords that are sample tags parse as names
    assert check('class in ["codec", "mcu"] and from == "x"', {}, {"class": "mcu", "from": "x"}) is True
    assert compile_condition('class == "ups"').names == ("class",)
    assert check('up == 0 or(class == "mcu")', {"up": 1}, {"class": "mcu"}) is True  # no space before "("


def test_a_tag_compares_numerically_when_it_reads_as_a_number_else_unknown():
    assert check("index > 10", {}, {"index": "12"}) is True
    assert check("index > 10", {}, {"index": "9.5"}) is False
    assert check("index > 10", {}, {"index": "Gi0/1"}) is None
    assert check("index in [7, 8]", {}, {"index": "7"}) is True
    assert check('type in ["6", "117"]', {}, {"type": "6"}) is True
    assert check('type in ["6", 117]', {}, {"type": "117"}) is True
    assert check("diff > 1", {"diff": "--- a\n+++ b"}) is None     # a text field against a number
    assert check('up == "1"', {"up": 1}) is None                    # a number against text


def test_quoted_text_is_taken_as_written():
    # Escaped quotes, keywords and =~ inside a string are text, not syntax.
    assert check('alias == "say \\"class\\" =~ x"', {}, {"alias": 'say "class" =~ x'}) is True
    assert check('alias == "a\\\\"', {}, {"alias": "a\\"}) is True
    assert check("alias == 'it''s'", {}, {"alias": "its"}) is True  # Python's implicit concatenation


def test_regex_operators_need_no_spaces_and_names_may_be_capitals():
    assert check('alias=~"up"', {}, {"alias": "uplink"}) is True
    assert check('alias!~"up"', {}, {"alias": "uplink"}) is False
    assert check('X=~"^a"', {}, {"X": "abc"}) is True


def test_signed_constants_and_the_length_limit():
    assert check("x > +5", {"x": 3}) is False
    assert check("x > -5", {"x": 3}) is True
    longest = "x > 1" + " or x > 1" * 100
    longest += " " * (4000 - len(longest))
    assert len(longest) == 4000 and check(longest, {"x": 2}) is True
    assert compile_condition(longest).text == longest


def test_membership_of_texts_bools_and_values_of_neither_kind():
    assert check('type in ["6", "117"]', {}, {"type": "7"}) is False        # text, not among texts
    assert check("index in [7, 8]", {}, {"index": "Gi0/1"}) is None         # text, but the list holds numbers
    assert check('type not in ["6"]', {}, {"type": "7"}) is True
    assert check("ok in [1]", {"ok": True}) is True                         # a bool is 0/1
    assert check("ok in [0]", {"ok": True}) is False
    assert check('ok in ["yes"]', {"ok": True}) is None                     # a bool among texts: unknown
    assert check("x in [1]", {"x": b"\x01"}) is None                        # neither text nor number


def test_regular_expressions_search_text_and_are_unknown_on_missing_names():
    assert check('alias =~ "(?i)uplink"', {}, {"alias": "To core UPLINK 1"}) is True
    assert check('alias =~ "^uplink$"', {}, {"alias": "uplink 2"}) is False
    assert check('alias !~ "printer"', {}, {"alias": "uplink"}) is True
    assert check('alias =~ "x"', {}, {}) is None
    # =~ inside a quoted string is text, not an operator
    assert check('alias == "a =~ b"', {}, {"alias": "a =~ b"}) is True


KLEENE = {  # (a, b) -> (a and b, a or b), None = unknown
    (True, True): (True, True), (True, False): (False, True), (True, None): (None, True),
    (False, True): (False, True), (False, False): (False, False), (False, None): (False, None),
    (None, True): (None, True), (None, False): (False, None), (None, None): (None, None),
}


@pytest.mark.parametrize("a, b", list(itertools.product([True, False, None], repeat=2)))
def test_missing_names_follow_three_valued_logic(a, b):
    def fields(value, name):
        return {} if value is None else {name: 1 if value else 0}
    values = {**fields(a, "a"), **fields(b, "b")}
    assert check("a == 1 and b == 1", values) is KLEENE[(a, b)][0]
    assert check("a == 1 or b == 1", values) is KLEENE[(a, b)][1]
    assert check("not a == 1", values) is (None if a is None else not a)


def test_every_missing_comparison_is_unknown():
    for text in ("x > 1", "x != 1", 'x == "a"', "x in [1]", "x not in [1]", 'x !~ "a"', "not x > 1"):
        assert check(text, {"y": 1}) is None, text


EXAMPLE = '; write e.g. "loss_pct > 1 and up == 1"'
COMPARE = ("compare a name with a number, a quoted string or another name (that name + or - a number), "
           "e.g. loss_pct > 1 or temperature_c >= temperature_threshold_c - 5")
IN_LIST = "`in` takes a list of numbers or quoted strings, e.g. status in [3, 4]"
NOT_ALLOWED = "is not allowed; use comparisons (== != < <= > >=), in [...], =~, and, or, not"


# The whole sentence a person reads, column included: the column counts in the text as written
# (a tag named like a Python keyword is renamed inside, which must not shift it).
@pytest.mark.parametrize("text, message", [
    ("", 'a condition must be text, e.g. "loss_pct > 1 and up == 1"'),
    (42, 'a condition must be text, e.g. "loss_pct > 1 and up == 1"'),
    ("x > 1 " * 700, "a condition is limited to 4000 characters"),
    ("loss_pct >", "not a valid condition (invalid syntax)" + EXAMPLE),
    ("up == 1 and x = 1", "not a valid condition (invalid syntax) at column 15; to compare, write == (not =)"),
    ('class == "x" and (', "not a valid condition ('(' was never closed) at column 18" + EXAMPLE),
    ("loss_pct", "'loss_pct' alone is not a condition; compare it, e.g. loss_pct == 1 at column 1"),
    ("class", "'class' alone is not a condition; compare it, e.g. class == 1 at column 1"),
    ("5", "a value alone is not a condition; compare a field with it at column 1"),
    ("loss_pct > other_field * 2", COMPARE + " at column 12"),
    ("loss_pct > 2 - other_field", COMPARE + " at column 12"),
    ("loss_pct > other_field + x", COMPARE + " at column 12"),
    ("1 > 2", "a comparison needs a field or tag name on one side at column 1"),
    ("len(x) > 1", "expected a field or tag name at column 1"),
    ("__import__('os').system('x')",
     'function calls are not part of conditions; use =~ "regex" for text matches at column 1'),
    ("x.y > 1", "expected a field or tag name at column 1"),
    ('class == "codec" and x.y > 1', "expected a field or tag name at column 22"),
    ("x + 1 > 2", "expected a field or tag name at column 1"),
    ('up == 1 or 5 =~ "a"', "expected a field or tag name at column 12"),
    ('x > "a"', "text can only be compared with == or != (or =~), not > at column 5"),
    ("x in y", f"{IN_LIST} at column 6"),
    ("x in []", f"{IN_LIST} at column 6"),
    ("up == 1 and x in [1, b]", f"{IN_LIST} at column 18"),
    ('x =~ "("', "bad regular expression '(': missing ), unterminated subpattern at position 0 at column 6"),
    ("x =~ 5", '=~ and !~ take a quoted regular expression, e.g. alias =~ "(?i)uplink" at column 6'),
    ("x is None", "only == != < <= > >= and in / not in compare values at column 1"),
    ("lambda: 1", "not a valid condition (invalid syntax) at column 7" + EXAMPLE),
    ("x if y else z", "not a valid condition (invalid syntax) at column 3" + EXAMPLE),
    ("[x > 1]", f"'[x > 1]' {NOT_ALLOWED} at column 1"),
    ('class == "a" and [class > 1]', f"'[class > 1]' {NOT_ALLOWED} at column 18"),
    ("x > True", COMPARE + " at column 5"),
    ('x > -"a"', COMPARE + " at column 5"),
    ("x <=~ 5", COMPARE + " at column 5"),  # a typo
    ('alias == "a\\', "not a valid condition (unterminated string literal (detected at line 1)) at column 10"
                      + EXAMPLE),
    (" or ".join(["x > 1"] * 199), "a condition with this many and/or terms or this deep nesting cannot be "
                                   "compiled; use `in [...]` for a list of values, or split it into several rules"),
    ("not " * 150 + "x > 1", "a condition with this many and/or terms or this deep nesting cannot be "
                             "compiled; use `in [...]` for a list of values, or split it into several rules"),
])
def test_invalid_conditions_are_refused_with_a_sentence(text, message):
    with pytest.raises(ExprError) as caught:
        compile_condition(text)
    assert str(caught.value) == message


def test_a_condition_reports_its_names_and_comparisons_in_source_order():
    condition = compile_condition('loss_pct > 1 and up == 1 and status in [3] and alias =~ "x"')
    assert condition.names == ("loss_pct", "up", "status", "alias")
    assert [(c.name, c.operator, c.number) for c in condition.comparisons] == [("loss_pct", ">", 1.0),
                                                                                ("up", "==", 1.0)]
    assert condition.numeric_names == ("loss_pct", "up", "status")
    assert [c.operator for c in compile_condition("10 > runtime_min").comparisons] == ["<"]


@pytest.mark.parametrize("text, fields, expected", [
    ("temperature_c >= temperature_threshold_c", {"temperature_c": 74, "temperature_threshold_c": 74}, True),
    ("temperature_c >= temperature_threshold_c", {"temperature_c": 56, "temperature_threshold_c": 74}, False),
    ("temperature_threshold_c <= temperature_c", {"temperature_c": 80.5, "temperature_threshold_c": 74}, True),
    ("temperature_c < temperature_threshold_c - 3", {"temperature_c": 71, "temperature_threshold_c": 74}, False),
    ("temperature_c < temperature_threshold_c - 3", {"temperature_c": 70.9, "temperature_threshold_c": 74}, True),
    ("temperature_threshold_c - 3 > temperature_c", {"temperature_c": 70.9, "temperature_threshold_c": 74}, True),
    ("rx_dbm < rx_low_dbm + 0.5", {"rx_dbm": -14.2, "rx_low_dbm": -15.0}, False),
    ("rx_dbm < rx_low_dbm + 0.5", {"rx_dbm": -14.2, "rx_low_dbm": -14.0}, True),
    ("temperature_c >= temperature_threshold_c", {"temperature_c": 90}, None),             # no threshold: unknown
    ("temperature_c >= temperature_threshold_c", {"temperature_threshold_c": 74}, None),
    ("a == b", {"a": 2, "b": 2.0}, True),
    ("a != b", {"a": 2, "b": 3}, True),
    ("a >= b or a > 5", {"a": 9}, True),                          # unknown or true
    ("a >= b and a > 5", {"a": 1}, False),                        # unknown and false
])
def test_a_name_compares_with_another_name_of_the_same_sample(text, fields, expected):
    assert compile_condition(text).evaluate(fields, {}) is expected


def test_names_compared_with_names_read_tags_as_numbers_and_text_as_unknown():
    condition = compile_condition("value > limit")
    assert condition.evaluate({"value": 5}, {"limit": "4"}) is True
    assert condition.evaluate({"value": 5}, {"limit": "high"}) is None
    assert condition.evaluate({"value": True}, {"limit": "0"}) is True


def test_a_comparison_between_names_is_listed_with_the_other_name_and_offset():
    condition = compile_condition("temperature_threshold_c - 3 > temperature_c and state == 1")
    assert [(c.name, c.operator, c.number, c.other) for c in condition.comparisons] == [
        ("temperature_c", "<", -3.0, "temperature_threshold_c"), ("state", "==", 1.0, None)]
    assert condition.numeric_names == ("temperature_c", "state")


def test_generated_code_never_contains_names_as_code():
    condition = compile_condition("a_b > 1")
    assert "F.get('a_b')" in condition.source
    assert check("a_b > 1", {"a_b": 2}) is True


@pytest.mark.parametrize("value, text", [
    (1.5, "1.5"), (1.50000001, "1.5"), (3.0, "3"), (7, "7"), (0.005, "0.005"), (12.345, "12.35"),
    (434.8, "434.8"), (325.4333333, "325.4"), (True, "1"), (False, "0"), ("up", "up"), (1e20, "1e+20"),
    # at each boundary between the forms
    (1e15, "1e+15"), (-1e15, "-1e+15"), (999999999999999.0, "999999999999999"), (100.25, "100.2"),
    (100.04, "100"), (99.994, "99.99"), (1.004, "1"), (0.123, "0.12"), (0.01, "0.01"), (0.0099, "0.0099"),
    (float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf"),
])
def test_numbers_render_readably(value, text):
    assert readable(value) == text


def test_templates_fill_from_each_mapping_in_turn_and_mark_missing_names():
    template = compile_template("{device}: {value}% > {threshold:.1f}% on {name} ({nosuch}) {{literal}}")
    assert template.text == "{device}: {value}% > {threshold:.1f}% on {name} ({nosuch}) {{literal}}"
    assert template.names == ("device", "value", "threshold", "name", "nosuch")
    text = template.render({"device": "d1", "value": 2.345, "threshold": 1, "name": None}, {}, {"name": "Gi0/1"})
    assert text == "d1: 2.35% > 1.0% on Gi0/1 (?) {literal}"
    assert compile_template("{x}").render({}, missing="") == ""
    # A spec that does not fit the value's type falls back to the readable form.
    assert compile_template("{name:.1f}").render({"name": "eth0"}) == "eth0"


@pytest.mark.parametrize("text, message", [
    (5, 'a template must be text, e.g. "{device}: packet loss {value}%"'),
    ("{device.__class__}", "{device.__class__}: fields are plain names (no . or [ ]), e.g. {value} or {name}"),
    ("{device[0]}", "{device[0]}: fields are plain names (no . or [ ]), e.g. {value} or {name}"),
    ("{}", "a template field needs a name, e.g. {device} or {value}; {} and {0} are never filled"),
    ("{0}", "a template field needs a name, e.g. {device} or {value}; {} and {0} are never filled"),
    ("{device!r}", "{device!r}: conversions are not supported; write {device}"),
    ("{device", "bad template (expected '}' before end of string); write names in braces like {device}, "
                "and {{ }} for a literal brace"),
    ("device}", "bad template (Single '}' encountered in format string); write names in braces like {device}, "
                "and {{ }} for a literal brace"),
    ("{value:{width}}", "{value:{width}}: nested fields in a format spec are not supported"),
    ("{value:zz}", "{value:zz}: bad format spec; e.g. {value:.1f}"),
])
def test_bad_templates_are_refused(text, message):
    with pytest.raises(ExprError) as caught:
        compile_template(text)
    assert str(caught.value) == message

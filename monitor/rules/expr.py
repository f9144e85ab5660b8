"""The two small languages a rule is written in: conditions (`when`, `clear`) and message templates.

Conditions
    loss_pct > 1 and up == 1
    oper_status in [2, 7] and alias =~ "(?i)uplink|trunk"
    not (unit == "C") or value >= 30.5

Comparisons `== != < <= > >=` between a name and a number or a quoted string (either side
first), or between two names, the second optionally plus or minus a number
(`temperature_c >= temperature_threshold_c`, `temperature_c < temperature_threshold_c - 3`: a
device's own threshold, read from the same sample), `in [...]` / `not in [...]` lists,
regular-expression search `name =~ "re"` and `name !~ "re"` (Python `re.search`: anywhere in
the value; anchor with ^ and $), `and`, `or`, `not`, parentheses. A name is a sample field,
else a sample tag; tag names that are Python keywords (`class`) work as names.

Unknown values use three-valued (Kleene) logic: a comparison whose name the sample lacks, or
whose value cannot be compared (a text tag against a number), is *unknown*; `false and
unknown` is false, `true or unknown` is true, every other combination with unknown is
unknown. An unknown condition changes nothing in the rule's state. This is a little more
decisive than "any missing name makes the whole condition unknown" and never wrong: a result
is only given when every possible value of the missing name would give the same one.

Text parses as Python (`ast.parse(mode="eval")`), every node is checked against a short
whitelist, and the checked tree is turned into the source of one small Python function,
compiled once. Evaluating is then a plain function call with inline comparisons: no tree
walking per sample (bench/rule_eval.py measures it).

Templates
    "{device}: packet loss {value}% > {threshold}% for {for}"

`str.format` fields by name only: no attribute or index access, no positional fields, no
`!r` conversions. A value is looked up in the given context (the engine's device, value,
threshold, ...), then the sample's fields, then its tags; a name found nowhere renders as `?`
(or as a chosen default). Numbers render readably (`1.5`, not `1.50000001`).
"""

from __future__ import annotations

import ast
import keyword
import re
import string
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

# The result of a condition: True, False, or None for unknown.
Condition = Callable[[Mapping[str, Any], Mapping[str, str]], Optional[bool]]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER_TYPES = frozenset((int, float))
_OPERATORS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_MAX_LENGTH = 4000


class ExprError(ValueError):
    """A condition or template that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class Comparison:
    """One `name OP number` (or `name OP other + number`) of a condition, in the order written
    (for {value} and {threshold})."""

    name: str
    operator: str
    number: float
    other: Optional[str] = None  # compared with this field (plus `number`), not with a constant


@dataclass(frozen=True)
class CompiledCondition:
    text: str
    evaluate: Condition
    names: tuple[str, ...]
    comparisons: tuple[Comparison, ...]  # against numbers, in source order
    numeric_names: tuple[str, ...]  # names compared with numbers (also by `in`), in source order
    source: str  # the generated Python, for people debugging the engine


# -- condition helpers used by generated code ---------------------------------------------------

def as_number(value: Any) -> Optional[float]:
    """A field or tag value as a number, or None (missing, or text that is not a number)."""
    kind = type(value)
    if kind is int or kind is float:
        return value
    if kind is bool:
        return int(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)):  # IntEnum and friends
        return value
    return None


def _number_of(fields: Mapping[str, Any], tags: Mapping[str, str], name: str, value: Any) -> Optional[float]:
    """Slow path: `value` (fields' entry, already fetched) was not a plain int/float."""
    if value is None:
        value = tags.get(name)
        if value is None:
            return None
    return as_number(value)


def _field_number(fields: Mapping[str, Any], tags: Mapping[str, str], name: str) -> Optional[float]:
    """A name's value as a number, or None (for comparisons between two names)."""
    value = fields.get(name)
    if value.__class__ in _NUMBER_TYPES:
        return value
    return _number_of(fields, tags, name, value)


def _text_of(fields: Mapping[str, Any], tags: Mapping[str, str], name: str) -> Optional[str]:
    value = fields.get(name)
    if value is None:
        value = tags.get(name)
    return value if isinstance(value, str) else None


def _member(fields: Mapping[str, Any], tags: Mapping[str, str], name: str, value: Any,
            numbers: frozenset, texts: frozenset) -> Optional[bool]:
    """Slow path of `in`: a tag, a text field or a bool. A text that reads as a number (a port
    index "7") is looked up among the numbers; a value of neither kind is unknown."""
    if value is None:
        value = tags.get(name)
        if value is None:
            return None
    if isinstance(value, str):
        if value in texts:
            return True
        number = as_number(value) if numbers else None
        if number is not None:
            return number in numbers
        return False if texts else None
    number = as_number(value)
    if number is None or not numbers:
        return None
    return number in numbers


_HELPERS = {"_number_of": _number_of, "_field_number": _field_number, "_text_of": _text_of, "_member": _member,
            "_NUM": _NUMBER_TYPES}


# -- parsing ------------------------------------------------------------------------------------

_KEYWORD_PREFIX = "__kw_"
_OWN_KEYWORDS = frozenset(("and", "or", "not", "in", "is", "True", "False", "None"))


def _rewrite(text: str) -> tuple[str, tuple[int, ...]]:
    """Outside string literals: `=~` -> `<<` and `!~` -> `>>` (Python has neither operator;
    shifts are otherwise not part of the language), and Python keywords that are not part of
    this language (`class`, a sample tag) -> `__kw_class`, so they parse as names.

    Also returns where (in the rewritten text) each prefix went in, so that error columns can
    be given in the text the person wrote."""
    out, i, quote = [], 0, None
    inserted: list[int] = []
    while i < len(text):
        char = text[i]
        if not quote and (char.isalpha() or char == "_") and (i == 0 or not (text[i - 1].isalnum()
                                                                             or text[i - 1] in "_.")):
            end = i
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[i:end]
            if keyword.iskeyword(word) and word not in _OWN_KEYWORDS:
                inserted.append(sum(map(len, out)))
                word = _KEYWORD_PREFIX + word
            out.append(word)
            i = end
            continue
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        elif text.startswith("=~", i) and (i == 0 or text[i - 1] not in "=!<>"):
            out.append("<<")
            i += 2
            continue
        elif text.startswith("!~", i):
            out.append(">>")
            i += 2
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out), tuple(inserted)


def _written_column(column: int, inserted: Sequence[int]) -> int:
    """A 0-based column of the rewritten text as a column of the text as written."""
    return column - len(_KEYWORD_PREFIX) * sum(1 for position in inserted if position < column)


def _constant(node: ast.AST) -> Any:
    """A number or string literal (a leading minus allowed), else a sentinel."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _constant(node.operand)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
        return _NOT_CONSTANT
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool) and \
            isinstance(node.value, (int, float, str)):
        return node.value
    return _NOT_CONSTANT


_NOT_CONSTANT = object()
_COMPARE_WITH = ("compare a name with a number, a quoted string or another name (that name + or - a number), "
                 "e.g. loss_pct > 1 or temperature_c >= temperature_threshold_c - 5")


class _Compiler:
    """Turns a checked tree into one Python expression with True/False/None results."""

    def __init__(self, text: str, inserted: Sequence[int] = ()) -> None:
        self.text = text
        self.inserted = inserted
        self.names: list[str] = []
        self.comparisons: list[Comparison] = []
        self.numeric_names: list[str] = []
        self.namespace: dict[str, Any] = dict(_HELPERS)
        self._counter = 0

    def _local(self) -> str:
        self._counter += 1
        return f"_v{self._counter}"

    def _bind(self, value: Any) -> str:
        self._counter += 1
        name = f"_k{self._counter}"
        self.namespace[name] = value
        return name

    def fail(self, node: ast.AST, message: str) -> ExprError:
        column = getattr(node, "col_offset", None)
        where = f" at column {_written_column(column, self.inserted) + 1}" if column is not None else ""
        return ExprError(f"{message}{where}")

    def _name(self, node: ast.AST) -> str:
        if not isinstance(node, ast.Name):
            raise self.fail(node, "expected a field or tag name")
        name = node.id.removeprefix(_KEYWORD_PREFIX)
        if name not in self.names:
            self.names.append(name)
        return name

    def compile(self, node: ast.AST) -> str:
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(value) for value in node.values]
            return self._all(parts) if isinstance(node.op, ast.And) else self._any(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner, local = self.compile(node.operand), self._local()
            return f"(None if ({local} := {inner}) is None else not {local})"
        if isinstance(node, ast.Compare):
            pairs, left = [], node.left
            for op, right in zip(node.ops, node.comparators):
                pairs.append(self._comparison(left, op, right))
                left = right
            return pairs[0] if len(pairs) == 1 else self._all(pairs)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.LShift, ast.RShift)):
            return self._regex(node)
        if isinstance(node, ast.Name):
            name = node.id.removeprefix(_KEYWORD_PREFIX)
            raise self.fail(node, f"'{name}' alone is not a condition; compare it, e.g. {name} == 1")
        if isinstance(node, ast.Call):
            raise self.fail(node, "function calls are not part of conditions; use =~ \"regex\" for text matches")
        if isinstance(node, (ast.Constant, ast.UnaryOp)):
            raise self.fail(node, "a value alone is not a condition; compare a field with it")
        written = (ast.get_source_segment(self.text, node) or type(node).__name__).replace(_KEYWORD_PREFIX, "")
        raise self.fail(node, f"'{written}' is not allowed; use comparisons (== != < <= > >=), in [...], =~, "
                              "and, or, not")

    def _all(self, parts: Sequence[str]) -> str:
        # false if any part is false; else unknown if any is unknown; else true. Short-circuits.
        locals_ = [self._local() for _ in parts]
        expression = "(None if " + " or ".join(f"{name} is None" for name in locals_) + " else True)"
        for part, name in reversed(list(zip(parts, locals_))):
            expression = f"(False if ({name} := {part}) is False else {expression})"
        return expression

    def _any(self, parts: Sequence[str]) -> str:
        locals_ = [self._local() for _ in parts]
        expression = "(None if " + " or ".join(f"{name} is None" for name in locals_) + " else False)"
        for part, name in reversed(list(zip(parts, locals_))):
            expression = f"(True if ({name} := {part}) is True else {expression})"
        return expression

    def _comparison(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> str:
        if isinstance(op, (ast.In, ast.NotIn)):
            return self._membership(left, op, right)
        symbol = _OPERATORS.get(type(op))
        if symbol is None:
            raise self.fail(left, "only == != < <= > >= and in / not in compare values")
        left_value, right_value = _constant(left), _constant(right)
        if left_value is _NOT_CONSTANT and right_value is _NOT_CONSTANT:
            return self._between_names(left, symbol, right)
        if left_value is not _NOT_CONSTANT and right_value is _NOT_CONSTANT:
            left, right, left_value, right_value, symbol = right, left, right_value, left_value, _MIRRORED[symbol]
        if right_value is _NOT_CONSTANT:
            raise self.fail(right, _COMPARE_WITH)
        if left_value is not _NOT_CONSTANT:
            raise self.fail(left, "a comparison needs a field or tag name on one side")
        name = self._name(left)
        local = self._local()
        if isinstance(right_value, str):
            if symbol not in ("==", "!="):
                raise self.fail(right, f"text can only be compared with == or != (or =~), not {symbol}")
            return f"(None if ({local} := _text_of(F, T, {name!r})) is None else {local} {symbol} {right_value!r})"
        self.comparisons.append(Comparison(name, symbol, float(right_value)))
        self.numeric_names.append(name)
        slow = self._local()
        return (f"({local} {symbol} {right_value!r} if ({local} := F.get({name!r})).__class__ in _NUM else "
                f"(None if ({slow} := _number_of(F, T, {name!r}, {local})) is None else {slow} {symbol} "
                f"{right_value!r}))")

    def _offset_name(self, node: ast.AST) -> Optional[tuple[ast.Name, float]]:
        """`name`, `name + number` or `name - number` as (name node, number); None otherwise."""
        if isinstance(node, ast.Name):
            return node, 0.0
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)) and \
                isinstance(node.left, ast.Name):
            number = _constant(node.right)
            if isinstance(number, (int, float)):
                return node.left, float(number if isinstance(node.op, ast.Add) else -number)
        return None

    def _between_names(self, left: ast.AST, symbol: str, right: ast.AST) -> str:
        """`name OP other [+- number]`: both values as numbers, unknown when either is missing."""
        if not isinstance(left, ast.Name) and isinstance(right, ast.Name):
            left, right, symbol = right, left, _MIRRORED[symbol]
        if not isinstance(left, ast.Name):
            raise self.fail(left, _COMPARE_WITH)
        found = self._offset_name(right)
        if found is None:
            raise self.fail(right, _COMPARE_WITH)
        other_node, offset = found
        name, other = self._name(left), self._name(other_node)
        self.comparisons.append(Comparison(name, symbol, offset, other))
        self.numeric_names.append(name)
        mine, theirs = self._local(), self._local()
        shifted = f"{theirs} + {offset!r}" if offset else theirs
        return (f"(None if ({mine} := _field_number(F, T, {name!r})) is None or "
                f"({theirs} := _field_number(F, T, {other!r})) is None else {mine} {symbol} {shifted})")

    def _membership(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> str:
        name = self._name(left)
        if not isinstance(right, (ast.List, ast.Tuple, ast.Set)) or not right.elts:
            raise self.fail(right, "`in` takes a list of numbers or quoted strings, e.g. status in [3, 4]")
        values = [_constant(element) for element in right.elts]
        if any(value is _NOT_CONSTANT for value in values):
            raise self.fail(right, "`in` takes a list of numbers or quoted strings, e.g. status in [3, 4]")
        numbers = frozenset(float(v) for v in values if not isinstance(v, str))
        texts = frozenset(v for v in values if isinstance(v, str))
        if numbers:
            self.numeric_names.append(name)
        local, number_set, text_set = self._local(), self._bind(numbers), self._bind(texts)
        negate = "not " if isinstance(op, ast.NotIn) else ""
        result = self._local()
        return (f"({negate}({local} in {number_set}) if ({local} := F.get({name!r})).__class__ in _NUM else "
                f"(None if ({result} := _member(F, T, {name!r}, {local}, {number_set}, {text_set})) is None "
                f"else {negate}{result}))")

    def _regex(self, node: ast.BinOp) -> str:
        name = self._name(node.left)
        pattern = _constant(node.right)
        if not isinstance(pattern, str):
            raise self.fail(node.right, "=~ and !~ take a quoted regular expression, e.g. alias =~ \"(?i)uplink\"")
        try:
            search = re.compile(pattern).search
        except re.error as exc:
            raise self.fail(node.right, f"bad regular expression {pattern!r}: {exc}") from None
        function, local = self._bind(search), self._local()
        negate = "" if isinstance(node.op, ast.LShift) else "not "
        return (f"(None if ({local} := _text_of(F, T, {name!r})) is None else "
                f"{negate}({function}({local}) is not None))")


def compile_condition(text: Any) -> CompiledCondition:
    """A condition ready to evaluate as `condition.evaluate(fields, tags)` -> True/False/None.

    Raises ExprError with one sentence for anything that is not a valid condition."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("a condition must be text, e.g. \"loss_pct > 1 and up == 1\"")
    if len(text) > _MAX_LENGTH:
        raise ExprError(f"a condition is limited to {_MAX_LENGTH} characters")
    rewritten, inserted = _rewrite(text.strip())
    try:
        tree = ast.parse(rewritten, mode="eval")
    except SyntaxError as exc:
        where = f" at column {_written_column(exc.offset - 1, inserted) + 1}" if exc.offset else ""
        hint = "; to compare, write == (not =)" if re.search(r"(?<![=!<>])=(?![=~])", text) else \
            "; write e.g. \"loss_pct > 1 and up == 1\""
        raise ExprError(f"not a valid condition ({exc.msg}){where}{hint}") from None
    compiler = _Compiler(rewritten, inserted)
    body = compiler.compile(tree.body)
    source = f"def _condition(F, T):\n    return {body}\n"
    namespace = compiler.namespace
    try:
        code = compile(source, f"<condition {text!r}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        # Each and/or term and each `not` nests one level in the generated code, and Python's
        # parser stops at 200 levels: about 190 terms, well inside the length limit.
        raise ExprError("a condition with this many and/or terms or this deep nesting cannot be compiled; "
                        "use `in [...]` for a list of values, or split it into several rules") from None
    exec(code, namespace)  # noqa: S102 - generated from a checked tree
    return CompiledCondition(text, namespace["_condition"], tuple(compiler.names), tuple(compiler.comparisons),
                             tuple(dict.fromkeys(compiler.numeric_names)), source)


# -- templates ----------------------------------------------------------------------------------

def readable(value: Any) -> str:
    """A value as a message shows it: `1.5` not `1.50000001`, `3` not `3.0`, large numbers whole."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if abs(value) >= 1e15:
            return f"{value:.6g}"
        if value.is_integer():
            return str(int(value))
        if abs(value) >= 100:
            return f"{value:.1f}".rstrip("0").rstrip(".")
        if abs(value) >= 0.01:
            return f"{value:.2f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"
    return str(value)


@dataclass(frozen=True)
class Template:
    """A checked message template: literal text and named fields with their format specs."""

    text: str
    parts: tuple[tuple[str, Optional[str], str], ...]  # (literal, name or None, format spec)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for _literal, name, _spec in self.parts if name is not None)

    def render(self, *lookups: Mapping[str, Any], missing: str = "?") -> str:
        """The text with each name taken from the first mapping that has it."""
        out = []
        for literal, name, spec in self.parts:
            out.append(literal)
            if name is None:
                continue
            for lookup in lookups:
                value = lookup.get(name)
                if value is not None:
                    break
            else:
                out.append(missing)
                continue
            if spec:
                try:
                    out.append(format(value, spec))
                except (ValueError, TypeError):
                    out.append(readable(value))  # a spec that does not fit this value's type
            else:
                out.append(readable(value))
        return "".join(out)


def compile_template(text: Any) -> Template:
    """A template ready to render; ExprError for bad syntax or fields that can never be filled."""
    if not isinstance(text, str):
        raise ExprError("a template must be text, e.g. \"{device}: packet loss {value}%\"")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ExprError(f"bad template ({exc}); write names in braces like {{device}}, and {{{{ }}}} for a "
                        "literal brace") from None
    parts = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            parts.append((literal, None, ""))
            continue
        if conversion:
            raise ExprError(f"{{{name}!{conversion}}}: conversions are not supported; write {{{name}}}")
        if not name or name.isdigit():
            raise ExprError("a template field needs a name, e.g. {device} or {value}; {} and {0} are never filled")
        if not _NAME.match(name):
            raise ExprError(f"{{{name}}}: fields are plain names (no . or [ ]), e.g. {{value}} or {{name}}")
        if "{" in (spec or ""):
            raise ExprError(f"{{{name}:{spec}}}: nested fields in a format spec are not supported")
        if spec:
            try:
                format(1.5, spec)
            except ValueError:
                try:
                    format("x", spec)
                except ValueError:
                    raise ExprError(f"{{{name}:{spec}}}: bad format spec; e.g. {{value:.1f}}") from None
        parts.append((literal, name, spec or ""))
    return Template(text, tuple(parts))

"""What every part says when input is wrong, and the exit codes the commands return.

`ConfigError` carries every problem found, one formatted line each; the wording helpers turn
a near miss into "did you mean" and a pydantic error into a sentence a sysadmin reads; the
model walkers find what a field is (a number, a secret) to word it. Settings, inventory,
rules and notification models all use these, so they live here, beside nothing they could
import back: this module imports no other part of netvigil.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Annotated, Any, Sequence

from pydantic import BaseModel, SecretStr

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2


class ConfigError(Exception):
    """Every problem found, one formatted line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} configuration problem(s)")


class SettingsFileError(ConfigError):
    """The settings file itself could not be read (one problem)."""


# ----------------------------------------------------------------------------- wording

def did_you_mean(word: Any, choices: Sequence[str]) -> str:
    """` (did you mean 'switch'?)` for a near miss, else an empty string."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def unknown_key(key: Any, choices: Sequence[str]) -> str:
    return f"unknown key '{key}'" + (did_you_mean(key, choices) or f" (known keys: {', '.join(choices)})")


def shown_value(value: Any) -> str:
    """A value as a message quotes it: short, and never a whole nested structure."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
_TYPE_WORDS = {
    "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "int_from_float": "must be a whole number", "float_parsing": "must be a number",
    "float_type": "must be a number", "bool_parsing": "must be true or false",
    "bool_type": "must be true or false", "string_type": "must be a string",
    "list_type": "must be a list", "path_type": "must be a path", "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping", "dict_type": "must be a mapping",
}


def describe_error(error: Any, *, show_input: bool, known_keys: Sequence[str] = ()) -> str:
    """One pydantic error in words a sysadmin reads; the input only when `show_input`.

    `known_keys` are the valid keys beside an unknown one (for "did you mean").
    """
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = f" (got {shown_value(value)})" if show_input else ""
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return unknown_key(error["loc"][-1] if error["loc"] else "?", known_keys)
    if kind in _BOUNDS:
        symbol, name = _BOUNDS[kind]
        # A bound is shown as a number even when it came as text from the environment.
        got = f" (got {value})" if show_input and isinstance(value, (str, int, float)) else got
        return f"must be {symbol} {shown_value(ctx[name])}{got}"
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind] + got
    if kind == "literal_error":
        hint = did_you_mean(value, re.findall(r"'([^']*)'", ctx.get("expected", ""))) if show_input else ""
        return f"must be one of {ctx.get('expected')}{got}{hint}"
    if kind == "string_too_short":
        return ("must not be empty" if ctx.get("min_length") == 1
                else f"must be at least {ctx.get('min_length')} characters long")
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error") or error["msg"])
    message = error["msg"]
    return message[:1].lower() + message[1:] + got


# ----------------------------------------------------------------------------- model walking

def _unwrap(annotation: Any) -> Any:
    """The model or element type inside Optional[...] / Annotated[...] / list[...]."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        elif origin in (list, tuple):
            annotation = typing.get_args(annotation)[0]
        elif origin is dict:  # e.g. notifications.channels: name -> channel
            annotation = typing.get_args(annotation)[1]
        else:
            return annotation


def _strip_optional(annotation: Any) -> Any:
    while typing.get_origin(annotation) in (Annotated, typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) is not Annotated and len(args) != 1:
            return annotation
        annotation = args[0]
    return annotation


def _annotation_at(model: type[BaseModel], loc: Sequence[Any]) -> Any:
    """The annotation of the field at `loc` (None when `loc` leaves the models)."""
    annotation: Any = model
    for part in loc:
        if typing.get_origin(_strip_optional(annotation)) is dict:
            annotation = typing.get_args(_strip_optional(annotation))[1]  # `part` is a key of the mapping
            continue
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        field = annotation.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
    return annotation


def booleans_for_numbers(model: type[BaseModel], data: Any, loc: tuple = ()) -> list[tuple[tuple, str]]:
    """(loc, message) of every true/false written where a number belongs. pydantic's lax mode
    reads `count: true` as 1 and `timeout_s: false` as 0, which is never what a person meant."""
    if isinstance(data, dict):
        return [found for key, value in data.items() for found in booleans_for_numbers(model, value, loc + (key,))]
    if isinstance(data, list):
        return [found for index, value in enumerate(data)
                for found in booleans_for_numbers(model, value, loc + (index,))]
    if isinstance(data, bool):
        annotation = _strip_optional(_annotation_at(model, loc))
        if annotation in (int, float):
            words = "must be a whole number" if annotation is int else "must be a number"
            return [(loc, f"{words} (got {shown_value(data)})")]
    return []


def known_keys_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    model_type = _unwrap(_annotation_at(model, loc))
    if isinstance(model_type, type) and issubclass(model_type, BaseModel):
        return list(model_type.model_fields)
    return []


def is_secret_field(model: type[BaseModel], loc: Sequence[Any]) -> bool:
    """True if the value at `loc` is a secret or may contain one (a model with a secret inside:
    a whole `outputs.influxdb` given as one malformed JSON value must not be quoted)."""
    return _holds_secret(_unwrap(_annotation_at(model, loc)))


def _holds_secret(annotation: Any, depth: int = 0) -> bool:
    annotation = _unwrap(annotation)
    if annotation is SecretStr:
        return True
    if depth < 6 and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_holds_secret(f.annotation, depth + 1) for f in annotation.model_fields.values())
    return False

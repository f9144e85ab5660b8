"""Print the settings reference (every key, type, default, meaning) as a Markdown table.

The "Configuration reference" of docs/configuration.md is this output between its markers; a
unit test fails when the two drift apart. `--write` updates docs/configuration.md in place.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
DOC = "docs/configuration.md"


def _model_of(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        model = _model_of(arg)
        if model is not None:
            return model
    return None


def _type_name(annotation) -> str:
    if typing.get_origin(annotation) is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if annotation is SecretStr:
        return "secret"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", '"') for a in typing.get_args(annotation))
    if origin is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + (" or null" if len(args) < len(typing.get_args(annotation)) else "")
    if origin in (list, tuple):
        return "list of " + ", ".join(_type_name(a) for a in typing.get_args(annotation) if a is not Ellipsis)
    return getattr(annotation, "__name__", str(annotation)).replace("PosixPath", "path").replace("Path", "path")


_NO_INSTANCE = object()


def _value_text(value) -> str:
    if isinstance(value, SecretStr):
        return '""'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, BaseModel):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.model_dump(exclude_defaults=True).items()) + "}"
    return str(value)


def _default(field, value=_NO_INSTANCE) -> str:
    """The default as the settings file would show it; `value`: the default read from the
    enclosing model's default instance (a default_factory there may differ from the class's)."""
    if value is not _NO_INSTANCE:
        return _value_text(value)
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return _value_text(field.default_factory())
    return _value_text(field.default)


def _field_default(field):
    if field.is_required():
        return None
    return field.default_factory() if field.default_factory is not None else field.default


def rows(model: type[BaseModel], prefix: str = "", instance=None) -> list[str]:
    """`instance`: the enclosing field's default (so `heightened_watch.sla` shows its own
    defaults, not SlaSettings'); None inside lists and mappings, where entries have no default."""
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        value = getattr(instance, name) if instance is not None else _NO_INSTANCE
        nested = _model_of(field.annotation)
        if nested is not None:
            origin = typing.get_origin(field.annotation)
            inner = value if value is not _NO_INSTANCE else _field_default(field)
            if origin is dict:  # named entries, e.g. credentials.<name>.version
                meaning = (field.description or "").replace("|", "\\|")
                out.append(f"| `{key}` | mapping of name to settings | `{{}}` | {meaning} |")
                key += ".<name>"
            if origin in (list, tuple) and inner:  # a list with shipped entries, e.g. the flood season
                meaning = (field.description or "").replace("|", "\\|")
                out.append(f"| `{key}` | list | `{_value_text(inner)}` | {meaning} |")
            if origin in (dict, list, tuple) or not isinstance(inner, BaseModel):
                inner = None
            out.extend(rows(nested, key + ".", inner))
            continue
        meaning = (field.description or "").replace("|", "\\|")
        out.append(f"| `{key}` | {_type_name(field.annotation)} | `{_default(field, value)}` | {meaning} |")
    return out


def reference() -> str:
    from monitor.config import Settings

    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += rows(Settings, "", Settings.model_construct())
    return "\n".join(lines)


def main() -> int:
    from doc_section import write_or_print

    return write_or_print(DOC, START, END, reference(), sys.argv)


if __name__ == "__main__":
    sys.exit(main())

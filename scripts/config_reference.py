"""Print the settings reference (every key, type, default, meaning) as a Markdown table.

The README's "Configuration reference" is this output between its markers; a unit test
fails when the two drift apart. `--write` updates README.md in place.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def _model_of(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        model = _model_of(arg)
        if model is not None:
            return model
    return None


def _type_name(annotation) -> str:
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


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "see meaning"
    value = field.default
    if isinstance(value, SecretStr):
        return '""'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _model_of(field.annotation)
        if nested is not None:
            if typing.get_origin(field.annotation) is dict:  # named entries, e.g. credentials.<name>.version
                meaning = (field.description or "").replace("|", "\\|")
                out.append(f"| `{key}` | mapping of name to settings | `{{}}` | {meaning} |")
                key += ".<name>"
            out.extend(rows(nested, key + "."))
            continue
        meaning = (field.description or "").replace("|", "\\|")
        out.append(f"| `{key}` | {_type_name(field.annotation)} | `{_default(field)}` | {meaning} |")
    return out


def reference() -> str:
    from monitor.config import Settings

    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += rows(Settings)
    return "\n".join(lines)


def main() -> int:
    from readme_section import write_or_print

    return write_or_print(START, END, reference(), sys.argv)


if __name__ == "__main__":
    sys.exit(main())

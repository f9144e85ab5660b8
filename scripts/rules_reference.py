"""Print the shipped rules (what they watch, when they open and clear, severity) and the rule
file keys as Markdown tables.

The "Shipped rules", informational fields and "Rule file keys" tables of docs/faults.md are
this output between their markers; a unit test fails when they drift apart. `--write` updates
docs/faults.md in place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START, END = "<!-- rules-reference:start -->", "<!-- rules-reference:end -->"
DOC = "docs/faults.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _seconds(value) -> str:
    from monitor.faults.model import format_duration

    return format_duration(value) if value else ""


def reference() -> str:
    from monitor.rules.model import RuleSpec, load_rules
    from monitor.rules.settings import RulesSettings

    rules = load_rules(RulesSettings(dirs=[]))
    lines = ["| rule | severity | devices | measurement | opens when | for | clears when |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for rule in rules.rules:
        spec = rule.spec
        held = " and ".join(part for part in (_seconds(spec.for_), f"{spec.for_samples} samples"
                                               if spec.for_samples and spec.for_samples > 1 else "") if part) or "1 sample"
        if spec.clear_after:
            clears = f"by itself {_seconds(spec.clear_after)} after the last trigger"
        elif spec.clear == "manual":
            clears = "when a person resolves it"
        else:
            clears = f"`{_cell(spec.clear)}`" if spec.clear else "the condition is false"
            extra = " and ".join(part for part in (_seconds(spec.clear_for), f"{spec.clear_samples} samples"
                                                    if spec.clear_samples else "") if part)
            clears += f" ({extra})" if extra else ""
        devices = spec.match.describe()
        lines.append(f"| `{rule.name}` | {spec.severity} | {_cell(devices)} | {', '.join(rule.measurements)} | "
                     f"`{_cell(spec.when)}` | {held} | {clears} |")
    lines += ["", "State fields of the shipped profiles that no rule watches, and why "
              "(`monitor/rules/informational.yaml`):", "",
              "| measurement | field | why no rule |", "| --- | --- | --- |"]
    for entry in yaml.safe_load((ROOT / "monitor/rules/informational.yaml").read_text(encoding="utf-8"))[
            "informational"]:
        lines.append(f"| {entry['measurement']} | `{entry['field']}` | {_cell(entry['why'])} |")
    lines += ["", "| key | meaning |", "| --- | --- |"]
    for name, field in RuleSpec.model_fields.items():
        lines.append(f"| `{field.alias or name}` | {_cell(field.description or '')} |")
    return "\n".join(lines)


def main() -> int:
    from doc_section import write_or_print

    return write_or_print(DOC, START, END, reference(), sys.argv)


if __name__ == "__main__":
    sys.exit(main())

"""Print the secret catalogues (probes/devconfig/catalogues/*.yaml) as a Markdown table: per vendor,
how many statement forms and examples, and the statements they cover.

The "what is masked" table of docs/ssh.md is this output between its markers; a unit test
fails when the two drift apart. `--write` updates docs/ssh.md in place.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START, END = "<!-- secret-reference:start -->", "<!-- secret-reference:end -->"
DOC = "docs/ssh.md"


def reference() -> str:
    from probes.devconfig import catalogue as secret_catalogue

    lines = ["| rule set | catalogue | statement forms | planted examples | statements (first keywords) |",
             "| --- | --- | --- | --- | --- |"]
    for vendor in secret_catalogue.VENDORS:
        catalogue = secret_catalogue.load(vendor)
        statements = catalogue.statements
        examples = sum(len(statement.examples) for statement in statements)
        names = list(dict.fromkeys(statement.name for statement in statements))
        lines.append(f"| `{vendor}` | {catalogue.title} | {len(statements)} | {examples} | "
                     f"{', '.join('`' + name + '`' for name in names)} |")
    return "\n".join(lines)


def main() -> int:
    from doc_section import write_or_print

    return write_or_print(DOC, START, END, reference(), sys.argv)


if __name__ == "__main__":
    sys.exit(main())

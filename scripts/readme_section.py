"""Replace the text between two markers of README.md: the generated reference tables."""

from __future__ import annotations

import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def write_or_print(start: str, end: str, text: str, argv: list[str]) -> int:
    """`--write` in argv: put `text` between the markers in README.md; else print it."""
    if "--write" not in argv:
        print(text)
        return 0
    head, rest = README.read_text().split(start, 1)
    _old, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    return 0


def section(start: str, end: str) -> str:
    """What README.md holds between the markers now (for the drift tests)."""
    return README.read_text().split(start, 1)[1].split(end, 1)[0].strip()


if __name__ == "__main__":
    sys.exit("a library for config_reference.py and profile_reference.py")

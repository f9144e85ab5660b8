"""Replace the text between two markers of a documentation file: the generated reference tables."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_or_print(doc: str, start: str, end: str, text: str, argv: list[str]) -> int:
    """`--write` in argv: put `text` between the markers in `doc` (relative to the repository);
    else print it."""
    if "--write" not in argv:
        print(text)
        return 0
    path = REPO / doc
    head, rest = path.read_text().split(start, 1)
    _old, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    return 0


def section(doc: str, start: str, end: str) -> str:
    """What `doc` holds between the markers now (for the drift tests)."""
    return (REPO / doc).read_text().split(start, 1)[1].split(end, 1)[0].strip()


if __name__ == "__main__":
    sys.exit("a library for scripts/*_reference.py")

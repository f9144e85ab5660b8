"""Every relative link and #anchor in README.md and docs/*.md leads somewhere.

The references were split out of the README into docs/; a section moved again, or a heading
reworded, would otherwise leave links that GitHub renders as dead. Anchors follow GitHub's
slug rules: the heading's text lower-cased, everything but letters, digits, spaces, `-` and
`_` removed, each space a `-`, and a repeated slug numbered `-1`, `-2`, ...
"""

import re
import unicodedata
from pathlib import Path

from lab.support import REPO

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
# A code span may wrap lines but, like every inline, ends with its paragraph.
CODE_SPAN = re.compile(r"(`+)(?!`)(?:(?!\n[ \t]*\n).)*?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"\[([^\[\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _prose(text: str) -> tuple[str, list[str]]:
    """The text outside fenced code blocks, and the headings in it."""
    kept, headings, fence = [], [], None
    for line in text.split("\n"):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            kept.append(line)
            if heading := HEADING.match(line):
                headings.append(heading.group(1))
            continue
        kept.append("")
    return "\n".join(kept), headings


def slug(heading: str) -> str:
    """GitHub's anchor of a heading (its rendered text: code spans and links as their text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in _prose(path.read_text())[1]:
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def broken_links(root: Path, files: list[Path]) -> list[str]:
    """One sentence per relative link or anchor in `files` that leads nowhere."""
    problems = []
    for path in files:
        where = path.relative_to(root)
        prose = CODE_SPAN.sub("", _prose(path.read_text())[0])
        for _text, target in LINK.findall(prose):
            if not target or SCHEME.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            goal = (path.parent / file_part).resolve() if file_part else path
            if not goal.is_relative_to(root.resolve()):
                problems.append(f"{where}: link to {target} leaves the repository")
            elif not goal.exists():
                problems.append(f"{where}: link to {target}: no file {file_part}")
            elif anchor and goal.suffix == ".md" and anchor not in anchors(goal):
                problems.append(f"{where}: link to {target}: no heading with the anchor #{anchor}"
                                f" in {goal.relative_to(root.resolve())}")
    return problems


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def test_every_relative_link_and_anchor_of_the_documentation_resolves():
    files = documents(REPO)
    assert len(files) > 5, "docs/ is where the references live"
    assert broken_links(REPO, files) == []


def test_the_check_finds_broken_files_anchors_and_links_out_of_the_repository(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Tool\n\n## SSH: command checks and `backup`\n\n## Notes\n\n## Notes\n\n"
        "[a](docs/ops.md#reliability-and-security) [b](#ssh-command-checks-and-backup)\n"
        "[c](#notes-1) [d](https://example.org/x#y) `[e](docs/gone.md)` `a\nb`\n\n"
        "```\n[f](docs/gone.md)\n```\n")
    (tmp_path / "docs" / "ops.md").write_text(
        "# Operations\n\n## Reliability and security\n\n[back](../README.md#tool)\n")
    assert broken_links(tmp_path, documents(tmp_path)) == []

    (tmp_path / "docs" / "ops.md").write_text(
        "# Operations\n\n## Reliability, security\n\n[back](../README.md#tool)\n"
        "[typo](../READNE.md) [out](../../elsewhere/notes.md) [self](#operation)\n"
        "\nan unclosed ` does not hide\n\n[the next paragraph](#gone) and `code`\n")
    assert broken_links(tmp_path, documents(tmp_path)) == [
        "README.md: link to docs/ops.md#reliability-and-security: no heading with the anchor"
        " #reliability-and-security in docs/ops.md",
        "docs/ops.md: link to ../READNE.md: no file ../READNE.md",
        "docs/ops.md: link to ../../elsewhere/notes.md leaves the repository",
        "docs/ops.md: link to #operation: no heading with the anchor #operation in docs/ops.md",
        "docs/ops.md: link to #gone: no heading with the anchor #gone in docs/ops.md",
    ]


def test_slugs_follow_githubs_rules():
    assert slug("SSH: command checks and configuration backup") == "ssh-command-checks-and-configuration-backup"
    assert slug("Duplicates after a crash, and what a metrics server keeps") == \
        "duplicates-after-a-crash-and-what-a-metrics-server-keeps"
    assert slug("Failed parents: one alert, not a storm") == "failed-parents-one-alert-not-a-storm"
    assert slug("`netvigil status` — worst first") == "netvigil-status--worst-first"
    assert slug("Echo count and loss") == "echo-count-and-loss"

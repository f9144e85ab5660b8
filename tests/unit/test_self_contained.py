"""The repository stands alone: a clone with nothing beside it has every recording the tests
read, each with its provenance, and no tracked text sends the reader outside the repository
(a sibling directory of notes) or to an issue tracker's numbers instead of giving the reason."""

from __future__ import annotations

import re
import subprocess
import tomllib

from lab import snmplab, snmprec
from lab.support import FIXTURES, REPO

# Built from parts so that this file does not match itself.
OUTSIDE = re.compile(re.escape("../" + "shared") + "|" + re.escape("/work/" + "shared")
                     + r"|\b(?:LAB|DOMAIN|STYLE)" + r"\.md\b")
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\d+|\bPR\s*#\d+|(?:^|[\s(\[,])#\d{1,5}\b(?![-\w])", re.IGNORECASE)
#: Recordings of devices are facts (an OpenWrt sysDescr says "#0 SMP"; the ABB UPS's says "#1"),
#: and the provenance notes beside them cite the upstream pull requests the files came from. The
#: quick-start demo replays copies of some of them.
FACTS = ("tests/fixtures/", "config/demo/snmprec/")
PROVENANCE = ("tests/fixtures/devices/README.md", "tests/fixtures/snmprec/SOURCES.md", "tests/fixtures/ssh/SOURCES.md")


def _tracked_texts():
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    for name in names.decode().split("\0"):
        path = REPO / name
        if not name or not path.is_file():
            continue                    # deleted in the work tree, not yet committed
        try:
            yield name, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue                    # binary


def _hits(pattern, skip):
    return [f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0).strip()!r}"
            for name, text in _tracked_texts() if not skip(name) for m in pattern.finditer(text)]


def test_no_tracked_text_points_outside_the_repository():
    hits = _hits(OUTSIDE, lambda name: name in PROVENANCE)
    assert not hits, "say what the note outside the repository said instead:\n" + "\n".join(hits)


def test_no_tracked_text_quotes_an_issue_number():
    hits = _hits(ISSUE_NUMBER, lambda name: name.startswith(FACTS))
    assert not hits, "give the measured reason instead of the issue:\n" + "\n".join(hits)


def test_the_patterns_catch_what_they_are_for():
    for text in ("see ../" "shared/fixtures", "(" "LAB" ".md §5)", "DOMAIN" ".md's classes"):
        assert OUTSIDE.search(text), text
    for text in ("Target (issue " "#3):", "follow (issues " "#4, " "#5)", "fixed (" "#12)", "Issue " "12 asks",
                 "librenms PR " "#15602"):
        assert ISSUE_NUMBER.search(text), text
    for text in ("Sensor#1", "{tag:" "#04x}", "cipher %^%" "#0spfK3y", '".#10-sites.yaml"', "issuer"):
        assert not ISSUE_NUMBER.search(text), text


def test_every_recording_is_inside_the_repository_with_its_provenance():
    notes = {directory: (directory.parent / "README.md" if directory == snmprec.RECORDINGS
                         else directory / "SOURCES.md").read_text()
             for directory in snmprec.DIRECTORIES}
    for directory in snmprec.DIRECTORIES:
        assert directory.is_relative_to(FIXTURES) and FIXTURES.is_relative_to(REPO)
        for recording in directory.glob("*.snmprec"):
            assert f"`{recording.name}`" in notes[directory] or f"`{recording.stem}`" in notes[directory], recording
    assert len(snmplab.RECORDINGS) == 10 and snmplab.PROJECT_RECORDINGS
    readme = notes[snmprec.RECORDINGS]
    expected = sorted(p.name for p in snmprec.EXPECTED.iterdir())
    assert expected == ["abbups_abbups.json", "hwg-poseidon.json", "openwrt.json"]
    for name in expected:
        assert f"`expected/{name}`" in readme, name
    ssh_notes = (FIXTURES / "ssh" / "SOURCES.md").read_text()
    for capture in (FIXTURES / "ssh").rglob("*.txt"):
        assert capture.name in ssh_notes, capture


def test_the_lab_and_the_tests_are_not_installed():
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert not [p for p in packages if p.split(".")[0] in ("lab", "tests", "bench", "scripts")]

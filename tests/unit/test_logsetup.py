"""Log lines: one event per line; under the journal a priority prefix and no timestamp."""

import logging
import os
import subprocess
import sys

from tests.support import REPO

SCRIPT = """
import logging, sys
from monitor import logsetup
logsetup.configure("info")
logging.getLogger("netvigil").warning("uplink down\\nsecond line")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("netvigil").exception("probe failed")
logging.getLogger("netvigil").debug("not shown")
"""


def _run(tmp_path, journal: bool) -> list[str]:
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as handle:
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        if journal:
            stat = os.fstat(handle.fileno())
            env["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=handle, env=env, cwd=REPO, check=True)
    return err.read_text().splitlines()


def test_under_the_journal_lines_carry_priority_and_no_timestamp(tmp_path):
    lines = _run(tmp_path, journal=True)
    assert lines[0] == "<4>uplink down | second line"
    assert lines[1].startswith("<3>probe failed | Traceback")
    assert len(lines) == 2  # the traceback stays on its event's line; debug is filtered


def test_elsewhere_lines_start_with_a_timestamp_and_level(tmp_path):
    lines = _run(tmp_path, journal=False)
    assert len(lines) == 2
    stamp, level, rest = lines[0].split(maxsplit=2)
    assert stamp[:4].isdigit() and "T" in stamp
    assert (level, rest) == ("warning", "uplink down | second line")


def test_journal_stream_naming_another_file_is_not_the_journal(tmp_path, monkeypatch):
    from monitor import logsetup

    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert logsetup.under_journal() is False

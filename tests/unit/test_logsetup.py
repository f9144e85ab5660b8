"""Log lines: one event per line; under the journal a priority prefix and no timestamp."""

import os
import subprocess
import sys

from lab.support import REPO

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
    return _run_script(tmp_path, SCRIPT, journal).decode().splitlines()


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


# -- control characters from outside ----------------------------------------------------------------

INJECTION_SCRIPT = r"""
import logging
from monitor import logsetup
logsetup.configure("info")
log = logging.getLogger("netvigil.api")
path = "/api/v1/faults/1\x1b[31m\x00red\n<0>forged emergency\r\x7f\x85\u2028\u202eevil"
log.warning("api: wrong token from %s for %s %s", "127.0.0.1", "POST", path)
log.warning("snmp: sysName %r changed on %s", "core\x1b]0;pwned\x07", "会议室终端-01")
log.warning("count %d, rate %.1f, nothing %s", 3, 2.5, None)
log.warning("mapping %(device)s", {"device": "sw\x00"})
log.warning("built before logging: " + "ssh output\x1b[2J\x00")
try:
    raise ValueError("bad device name \x1b[31m\x00 in inventory.csv")
except ValueError:
    log.exception("csv import failed for %s", "row\n2")
"""


def _run_script(tmp_path, script: str, journal: bool) -> bytes:
    err = tmp_path / "stderr.bin"
    with open(err, "wb") as handle:
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        if journal:
            stat = os.fstat(handle.fileno())
            env["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
        subprocess.run([sys.executable, "-c", script], stderr=handle, env=env, cwd=REPO, check=True)
    return err.read_bytes()


def test_control_characters_from_outside_are_escaped_in_every_line(tmp_path):
    raw = _run_script(tmp_path, INJECTION_SCRIPT, journal=True)
    text = raw.decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == 6, lines  # no value forged a line of its own
    forbidden = [ch for ch in text if (ord(ch) < 0x20 and ch != "\n") or 0x7f <= ord(ch) <= 0x9f
                 or ch in "\u2028\u2029\u202e"]
    assert forbidden == []
    assert lines[0] == ("<4>api: wrong token from 127.0.0.1 for POST "
                        "/api/v1/faults/1\\x1b[31m\\x00red\\n<0>forged emergency\\r\\x7f\\x85\\u2028\\u202eevil")
    assert lines[1] == "<4>snmp: sysName 'core\\x1b]0;pwned\\x07' changed on 会议室终端-01"  # %r: repr, not doubled
    assert lines[2] == "<4>count 3, rate 2.5, nothing None"
    assert lines[3] == "<4>mapping sw\\x00"
    assert lines[4] == "<4>built before logging: ssh output\\x1b[2J\\x00"
    assert lines[5].startswith("<3>csv import failed for row\\n2 | Traceback (most recent call last): | ")
    assert lines[5].endswith("ValueError: bad device name \\x1b[31m\\x00 in inventory.csv")


def test_escape_controls_keeps_printable_text_and_escapes_each_kind():
    from monitor.logsetup import escape_controls

    assert escape_controls("东城区/某街道/会议室终端-01 café ✓") == "东城区/某街道/会议室终端-01 café ✓"
    assert escape_controls("\x00\x07\t\n\r\x1b\x7f") == "\\x00\\x07\\t\\n\\r\\x1b\\x7f"
    assert escape_controls("\x80\x9b\u2028\u2029\u202a\u2066") == "\\x80\\x9b\\u2028\\u2029\\u202a\\u2066"

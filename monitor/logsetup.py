"""Logging: one event per line on stderr, journald-friendly.

Under systemd's journal ($JOURNAL_STREAM names our stderr) lines carry a `<N>` syslog
priority prefix and no timestamp (the journal adds its own, and shows the level);
elsewhere lines start with an ISO timestamp and the level name.
"""

from __future__ import annotations

import logging
import os
import sys
import time

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def under_journal() -> bool:
    stream = os.environ.get("JOURNAL_STREAM", "")
    if ":" not in stream:
        return False
    try:
        device, inode = (int(part) for part in stream.split(":", 1))
        stat = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


class _OneLine(logging.Formatter):
    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            # Tracebacks are for developers: keep them, but on the same line so the journal
            # and grep see one event.
            message += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        message = message.replace("\n", " | ")
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{message}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        return f"{stamp}.{int(record.msecs):03d} {record.levelname.lower():7} {message}"


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(under_journal()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The SSH libraries narrate every connection, channel and command at INFO; netvigil
    # reports what matters itself. Their warnings and errors still come through.
    for noisy in ("asyncssh", "paramiko", "netmiko"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

"""Logging: one event per line on stderr, journald-friendly.

Under systemd's journal ($JOURNAL_STREAM names our stderr) lines carry a `<N>` syslog
priority prefix and no timestamp (the journal adds its own, and shows the level);
elsewhere lines start with an ISO timestamp and the level name.

Every control character is written as a visible escape (`\x1b`, `\x00`, `\n`), wherever it
came from: HTTP paths and headers, SNMP strings, SSH output, inventory and CSV files all reach
log lines as arguments, and a raw ESC would recolour or rewrite the operator's terminal, a NUL
cut the line for some readers, and a newline forge a second event (under the journal even one
with a priority of our choosing, `<0>`). The formatter is the one place every line passes.
"""

from __future__ import annotations

import logging
import numbers
import os
import re
import sys
import time
import warnings
from collections.abc import Mapping

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


# C0 controls (newline and tab included), DEL, C1 controls, the Unicode line and paragraph
# separators (some viewers break lines there) and the bidirectional overrides and isolates
# (they make a line read differently than it is stored).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(found: re.Match) -> str:
    char = found.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) <= 0xFF else f"\\u{ord(char):04x}"


def escape_controls(text: str) -> str:
    """`text` with every control character as a visible escape: ESC -> `\\x1b`, NUL ->
    `\\x00`, newline -> `\\n`, U+2028 -> `\\u2028`. Printable text (Chinese names too) is kept."""
    return _CONTROL.sub(_escape_one, text)


class _Escaped(str):
    """A log argument already escaped for `%s`; `%r` still shows the original's repr (which
    escapes control characters itself), not a repr of the escaped text."""

    def __new__(cls, original: object) -> "_Escaped":
        self = super().__new__(cls, escape_controls(str(original)))
        self.original = original
        return self

    def __repr__(self) -> str:
        return repr(self.original)


def _escaped_argument(value: object) -> object:
    if value is None or isinstance(value, (numbers.Number, _Escaped)):
        return value  # %d, %.3f and friends need the number itself
    try:
        return _Escaped(value)
    except Exception:  # noqa: BLE001 - a broken __str__: let logging report it as it would
        return value


def message_of(record: logging.LogRecord) -> str:
    """record.getMessage() with every argument escaped (see escape_controls)."""
    message = str(record.msg)
    if record.args:
        if isinstance(record.args, Mapping):
            args: object = {key: _escaped_argument(value) for key, value in record.args.items()}
        else:
            args = tuple(_escaped_argument(value) for value in record.args)
        message = message % args
    return message


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
    def __init__(self, journal: bool, prefix: str = "") -> None:
        super().__init__()
        self.journal = journal
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        message = message_of(record)
        if record.exc_info:
            # Tracebacks are for developers: keep them, but on the same line so the journal
            # and grep see one event.
            message += " | " + self.formatException(record.exc_info)
        # What is left are our own multi-line texts (tracebacks, lists of problems) and values
        # built into the message before logging (an exception's text): the same escapes.
        message = self.prefix + escape_controls(message.replace("\n", " | "))
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{message}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        return f"{stamp}.{int(record.msecs):03d} {record.levelname.lower():7} {message}"


def configure(level: str = "info", prefix: str = "") -> None:
    """`prefix` starts every line (a worker process names itself: "worker 2: ")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(under_journal(), prefix))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The SSH libraries narrate every connection, channel and command at INFO; netvigil
    # reports what matters itself. Their warnings and errors still come through.
    for noisy in ("asyncssh", "paramiko", "netmiko"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def quiet_third_party_warnings() -> None:
    """asyncssh (imported by every SSH path, and by `run`) touches cryptography's DSA classes at
    import, and cryptography answers with five CryptographyDeprecationWarning lines on stderr:
    noise a person cannot act on. Only that category from asyncssh's modules is silenced, and
    not when the user asked for warnings (-W, PYTHONWARNINGS)."""
    if sys.warnoptions:
        return
    try:
        from cryptography.utils import CryptographyDeprecationWarning  # ~4 ms; already loaded by SSH paths
    except ImportError:
        return
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")

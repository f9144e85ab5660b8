"""InfluxDB line protocol, encoded by hand: one `Sample` -> one line, nanosecond timestamps.

Why not `influxdb_client.Point`: it is slower on this hot path (10,000+ samples/s) and it
writes a newline inside a string field verbatim, which splits the line for parsers that cut
on newlines first (VictoriaMetrics). Measured on this machine (Python 3.11.7, one core of a
noisy 2-core VM; 20,000 samples with 5 tags and 4 fields, 7,000 distinct devices):
  this module          2.6 µs/sample (3.5 µs on the first pass, before the caches are warm)
  encode_batch         2.9 µs/sample including the join and UTF-8 encoding
  influxdb_client.Point 11.7 µs/sample (build the Point from the Sample + to_line_protocol)

Rules (each pinned by a golden test in tests/unit/test_lineproto.py):
* measurement: `,` and space are escaped;
* tag keys, tag values, field keys: `,` `=` and space are escaped;
* backslashes next to separators (verified against influxd 1.6.7 and VictoriaMetrics 1.79):
  - a backslash run right before a `,` `=` or space of the value is doubled. Both servers
    then parse the line; VictoriaMetrics reads back the original text, InfluxDB 1.x keeps
    one extra backslash (its scanner only looks at the single character before a separator);
  - trailing backslashes of a name, tag key/value or field key are removed: InfluxDB 1.x
    cannot parse them in any escaping ("invalid tag format"), and one such line would get
    the whole batch answered with 400;
* string field values: `\\` and `"` are escaped;
* newline, carriage return and tab inside names, tags and strings become the two characters
  `\\n`, `\\r`, `\\t`: a sample can never break its line;
* ints `5i`, bools `true`/`false`, floats via `repr` (`0.0`, `1e+20`); NaN and +-inf are
  not representable, so that field is left out; an int outside int64 likewise;
* tags sorted by key (what InfluxDB recommends for write speed); tags with an empty key or
  value are left out (line protocol has no empty tag value);
* a sample left with no field (or with no measurement name) cannot be written: `encode`
  returns "" and `encode_batch` skips it;
* a line beyond what the servers take raises `LineTooLong` (the writer counts and logs it
  and sends the rest). Measured: a 300 KB device name made VictoriaMetrics 1.79.5 answer
  400 "too long line: more than 262144 bytes" after storing only the lines *before* it, and
  influxd 1.6.7 refuse it with "max key length exceeded"; InfluxDB 2.x refuses the whole
  request. One such line cost other devices' points in every batch it was in. Refused, not
  truncated: a cut name would be another series, and could be another device's.
"""

from __future__ import annotations

import math
import re
import time
from typing import Iterable

from probes.base import Sample

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# What one line may be, in UTF-8 bytes, so that no server refuses it:
# InfluxDB 1.x/2.x: measurement + tags as sent ("series key") at most 65,535 bytes
# (`max key length exceeded`); VictoriaMetrics: a line at most -influx.maxLineSize, 262,144
# bytes by default. A character is at most 4 bytes, so shorter texts skip the byte count.
MAX_KEY_BYTES = 65_535
MAX_LINE_BYTES = 262_144
_SHOWN_NAME = 60  # characters of a name shown in a message about a refused line


class LineTooLong(ValueError):
    """A sample whose line no server would take; `describe` names it without field values."""

    def __init__(self, what: str, size: int, limit: int, describe: str) -> None:
        super().__init__(f"{what} of {size} bytes is over the servers' limit of {limit}")
        self.describe = describe


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_NAME else f"{text[:_SHOWN_NAME]}... ({len(text)} characters)"


def describe(measurement: str, device: str | None) -> str:
    """`icmp device=sw-1`: how a log line names a sample (names cut short, no field values)."""
    return _shown(measurement) + (f" device={_shown(device)}" if device else "")


def _utf8_len_over(text: str, limit: int) -> int:
    """Byte length of `text` if it is over `limit`, else 0 (counting bytes only when it may be)."""
    if len(text) * 4 <= limit:
        return 0
    size = len(text.encode())
    return size if size > limit else 0

_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NAME_TABLE = str.maketrans({",": "\\,", " ": "\\ ", **_CONTROL})
_KEY_TABLE = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\=", **_CONTROL})
_STRING_TABLE = str.maketrans({"\\": "\\\\", '"': '\\"', **_CONTROL})

# Characters that make a token need any work at all; the common case (plain ASCII names,
# addresses, device names) skips translate() entirely after one C-level scan.
_NAME_SPECIAL = re.compile(r"[,\s\\]")
_KEY_SPECIAL = re.compile(r"[,=\s\\]")
_NAME_BACKSLASH_BEFORE_SEPARATOR = re.compile(r"\\+(?=[, ])")
_KEY_BACKSLASH_BEFORE_SEPARATOR = re.compile(r"\\+(?=[,= ])")

# Device names, sites, addresses and field names repeat on every run, so escaped tokens and
# whole "measurement,tags" heads are memoised. Bounded: cleared when full rather than LRU,
# which is cheaper on the hot path. A memo that fills again soon after it was last cleared
# holds less than the fleet writes every interval, and clearing it would make nearly every
# sample a miss: it doubles instead, up to a ceiling. Measured (bench/lineproto_cache.py):
# 291,200 series (10,000 devices of the daemon benchmark write 29 each) cost 9.2 us per
# sample with heads cleared at 65,536 or at 262,144, 5.2 us when they all fit; a head costs
# about 400 bytes (its key tuple and the text), so 65,536 heads are ~25 MB and the ceiling's
# 524,288 ~200 MB.
_CACHE_START = 65_536
_CACHE_CEILING = 524_288
_GROW_WITHIN_S = 300.0


class _Memo(dict):
    """A dict that `full()` clears, or doubles (up to the ceiling) when it filled within
    _GROW_WITHIN_S of its last clear or growth."""

    def __init__(self) -> None:
        super().__init__()
        self.limit = _CACHE_START
        self.since = time.monotonic()

    def full(self) -> None:
        now = time.monotonic()
        if self.limit < _CACHE_CEILING and now - self.since < _GROW_WITHIN_S:
            self.limit = min(2 * self.limit, _CACHE_CEILING)
        else:
            self.clear()
        self.since = now


_key_cache = _Memo()
_head_cache = _Memo()
_isfinite = math.isfinite


def _double(match: re.Match) -> str:
    return match.group(0) * 2


def _escape_name(text: str) -> str:
    if _NAME_SPECIAL.search(text) is None:
        return text
    if "\\" in text:
        text = _NAME_BACKSLASH_BEFORE_SEPARATOR.sub(_double, text.rstrip("\\"))
    return text.translate(_NAME_TABLE)


def _escape_key(text: str) -> str:
    """Tag key, tag value or field key."""
    escaped = _key_cache.get(text)
    if escaped is not None:
        return escaped
    escaped = text
    if _KEY_SPECIAL.search(text) is not None:
        if "\\" in text:
            escaped = _KEY_BACKSLASH_BEFORE_SEPARATOR.sub(_double, escaped.rstrip("\\"))
        escaped = escaped.translate(_KEY_TABLE)
    if len(_key_cache) >= _key_cache.limit:
        _key_cache.full()
    _key_cache[text] = escaped
    return escaped


def _head(measurement: str, tags) -> str:
    """`measurement,k1=v1,k2=v2` with tags sorted and empty ones left out; "" if no measurement."""
    # Keys then values, flat: the length gives the number of tags, so two tag sets share an
    # ident only when they are equal, and no (key, value) tuple is made per tag and lookup
    # (a third of the memory of a head, and a lookup ~20 % cheaper).
    ident = (measurement, *tags, *tags.values())
    head = _head_cache.get(ident)
    if head is None:
        name = _escape_name(measurement)
        parts = [name]
        for key in sorted(tags):
            escaped_key, escaped_value = _escape_key(key), _escape_key(tags[key])
            if escaped_key and escaped_value:
                parts.append(f"{escaped_key}={escaped_value}")
        head = ",".join(parts) if name else ""
        if len(_head_cache) >= _head_cache.limit:
            _head_cache.full()
        _head_cache[ident] = head
    return head


def _other_value(value: object) -> str | None:
    """Encoding of the rarer value types (IntEnum, float and str subclasses); None: not representable.

    No bool case: bool cannot be subclassed, so every bool took encode()'s `kind is bool`."""
    if isinstance(value, int):  # e.g. probes.base.ResultCode
        return f"{int(value)}i" if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float):
        return repr(float(value)) if _isfinite(value) else None
    if isinstance(value, str):
        return '"' + str(value).translate(_STRING_TABLE) + '"'
    return None


def encode(sample: Sample) -> str:
    """One line of line protocol (no trailing newline), or "" when nothing can be written."""
    fields = []
    append = fields.append
    for key, value in sample.fields.items():
        # Exact type checks first: they are the fast path, and bool must not pass as int.
        kind = type(value)
        if kind is float:
            if not _isfinite(value):
                continue
            encoded = repr(value)
        elif kind is bool:
            encoded = "true" if value else "false"
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                continue
            encoded = f"{value}i"
        elif kind is str:
            encoded = '"' + value.translate(_STRING_TABLE) + '"'
        else:
            encoded = _other_value(value)
            if encoded is None:
                continue
        escaped_key = _escape_key(key)
        if escaped_key:
            append(f"{escaped_key}={encoded}")
    if not fields:
        return ""
    head = _head(sample.measurement, sample.tags)
    if not head:
        return ""
    line = f"{head} {','.join(fields)} {sample.time_ns}"
    if len(line) * 4 > MAX_KEY_BYTES:  # the only lines that can be over a limit
        _check_size(head, line, sample)
    return line


def _check_size(head: str, line: str, sample: Sample) -> None:
    for what, text, limit in (("series key (measurement and tags)", head, MAX_KEY_BYTES),
                              ("line", line, MAX_LINE_BYTES)):
        size = _utf8_len_over(text, limit)
        if size:
            raise LineTooLong(what, size, limit, describe(sample.measurement, sample.tags.get("device")))


def describe_line(line: bytes | str) -> str:
    """`describe` of an encoded line: its measurement and device tag, never its fields."""
    text = line.decode("utf-8", "replace") if isinstance(line, (bytes, bytearray)) else line
    key = re.split(r"(?<!\\) ", text, maxsplit=1)[0]
    parts = re.split(r"(?<!\\),", key)
    device = next((part[len("device="):] for part in parts[1:] if part.startswith("device=")), None)
    return describe(parts[0], device)


def encode_batch(samples: Iterable[Sample]) -> bytes:
    """Newline-joined lines of every writable sample, UTF-8 encoded."""
    return "\n".join(line for line in map(encode, samples) if line).encode()

"""`netvigil rules test RULES SAMPLES` (what would fire) and `netvigil rules list` (every rule).

SAMPLES is a file of InfluxDB line protocol (what the daemon writes: monitor/lineproto.py,
one sample per line with a nanosecond timestamp) or of JSON lines
`{"measurement": .., "tags": {..}, "fields": {..}, "time": "2026-06-01T10:00:00Z" | ns}`;
both may be mixed, blank lines and `#` comments are skipped. Samples are replayed in time
order through the same engine the daemon runs, with `tick()` at each new timestamp so
`clear_after` and flapping behave as they would live.

Exit codes: 0 ok, 1 runtime failure, 2 bad input (a rule, the settings, or a samples line:
`file:line:` and what to do).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from monitor import words
from monitor.cli.tables import display_width, format_columns
from monitor.faults.model import DeviceInfo, Transition
from monitor.i18n import N_, _, ngettext
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from monitor.rules.expr import readable
from monitor.rules.settings import RulesSettings
from probes.base import Sample

EXIT_INPUT = EXIT_CONFIG  # a rule, the settings or a samples line is wrong


class SamplesError(ValueError):
    """A samples line that cannot be read: `file:line: what is wrong`."""


class _Refused(Exception):
    def __init__(self, lines: list[str], code: int) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.code = code


def add_rules_parser(sub) -> None:
    """`rules test` and `rules list` under the top-level sub-parsers of monitor.cli."""
    rules = sub.add_parser("rules", help="fault rules: list them, test them against recorded samples")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    test = rules_sub.add_parser("test", help="replay samples through rules and show what would open and clear")
    test.add_argument("rules", type=Path, help="a rule file, or a directory of them")
    test.add_argument("samples", type=Path, help="samples: InfluxDB line protocol or JSON lines, with timestamps")
    test.add_argument("--with-shipped", action="store_true",
                      help="test RULES over the shipped rules (a rule of the same name replaces the shipped one)")
    test.add_argument("--heightened", action="store_true", help="evaluate as during a heightened-watch period")
    test.add_argument("--json", action="store_true", help="machine-readable output")
    _add_config(test, "devices (class, site, tags) and flap settings from this settings file's inventory; "
                      "without it every device in the samples is class 'other' unless its tags say otherwise")
    test.set_defaults(command_key="rules test")
    listing = rules_sub.add_parser("list", help="every rule: shipped, site, replaced, disabled, with file:line")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _add_config(listing, "settings file whose rules.dirs and rules.disable apply (default: the shipped rules "
                         "and /etc/netvigil/rules.d)")
    listing.set_defaults(command_key="rules list")


def _add_config(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("-c", "--config", type=Path, default=None, help=f"settings file (optional): {help_text}")


def _run(command, args) -> int:
    try:
        return command(args)
    except _Refused as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        raise  # standard output closed (`| head`): monitor.cli.main ends quietly
    except Exception as exc:  # noqa: BLE001 - a bug: say where, without the message (it may hold values)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"netvigil {args.command_key}: internal error {type(exc).__name__} at {frame.filename}:"
              f"{frame.lineno}; please report it", file=sys.stderr)
        return EXIT_RUNTIME


def _config(path: Path):
    # The settings, the rule files and the engine are imported on use (here, in _list and in
    # _test): every command's parser, and `netvigil --help`, import this module for its parser.
    from monitor import config as config_module

    try:
        return config_module.load(path)
    except config_module.ConfigError as exc:
        raise _Refused(list(exc.problems), EXIT_INPUT) from None


def _rules_settings(cfg):
    """The `rules` settings of a loaded configuration (defaults until the settings model has them);
    relative directories are relative to the settings file."""
    settings = getattr(cfg.settings, "rules", None) if cfg is not None else None
    if settings is None:
        return RulesSettings()
    base = cfg.path.parent
    return settings.model_copy(update={"dirs": [d if d.is_absolute() else base / d for d in settings.dirs]})


RULE_HEADINGS = (N_("RULE"), N_("STATUS"), N_("SEVERITY"), N_("MEASUREMENT / MATCH / SOURCE"))
TEST_ACTIONS = {"open": N_("OPEN"), "clear": N_("CLEAR")}
RULE_STATUSES = {"shipped": N_("shipped"), "site": N_("site"), "replaced": N_("replaced"), "disabled": N_("disabled")}


# -- netvigil rules list --------------------------------------------------------------------------

def rules_list_command(args) -> int:
    return _run(_list, args)


def _list(args) -> int:
    from monitor.rules.model import RulesError, load_rules

    cfg = _config(args.config) if args.config is not None else None
    try:
        ruleset = load_rules(_rules_settings(cfg))
    except RulesError as exc:
        raise _Refused(list(exc.problems) + [f"{len(exc.problems)} problem(s) found"], EXIT_INPUT) from None
    rows = [{"name": r.name, "status": r.status, "severity": r.severity, "measurements": list(r.measurements),
             "match": r.match, "source": r.source, "note": r.note, "description": r.description}
            for r in ruleset.listing]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    lines = [tuple(_(text) for text in RULE_HEADINGS)]
    for row in rows:
        note = f"  ({row['note']})" if row["note"] else ""
        lines.append((row["name"], _(RULE_STATUSES[row["status"]]), words.severity(row["severity"]),
                      f"{','.join(row['measurements'])}; {row['match']}; {row['source']}{note}"))
    print(format_columns(lines))
    active = sum(1 for row in rows if row["status"] in ("shipped", "site"))
    print(ngettext("{active} active rule, {other} replaced or disabled",
                   "{active} active rules, {other} replaced or disabled", active).format(
        active=active, other=len(rows) - active))
    return EXIT_OK


# -- netvigil rules test --------------------------------------------------------------------------

def rules_test_command(args) -> int:
    return _run(_test, args)


def _test(args) -> int:
    from monitor.rules.engine import RuleEngine
    from monitor.rules.model import RulesError, load_paths

    cfg = _config(args.config) if args.config is not None else None
    settings = _rules_settings(cfg)
    problems: list[str] = []
    ruleset = None
    if not args.rules.exists():
        problems.append(f"{args.rules}: no such rule file or directory")
    else:
        try:
            ruleset = load_paths([args.rules], with_shipped=args.with_shipped)
        except RulesError as exc:
            problems += exc.problems
    try:
        samples = read_samples(args.samples)
    except SamplesError as exc:
        problems.append(str(exc))
        samples = []
    if problems:
        raise _Refused(problems, EXIT_INPUT)
    if cfg is not None:
        devices = [DeviceInfo.from_device(device) for device in cfg.inventory.devices]
    else:
        devices = devices_from_samples(samples)
    engine = RuleEngine(ruleset, devices, settings)
    transitions = replay(engine, samples, heightened=args.heightened)
    still_open = sorted(engine.firing())
    if args.json:
        print(json.dumps({"transitions": [_as_json(t) for t in transitions],
                          "open": [{"device": d, "rule": r, "instance": i} for d, r, i in still_open]},
                         ensure_ascii=False, indent=2))
    else:
        _print_human(transitions, still_open, len(samples), len(ruleset.rules))
    return EXIT_OK


def replay(engine, samples: list[Sample], heightened: bool = False) -> list[Transition]:
    """Every transition of `samples` replayed in time order, ticking the engine's clock at each
    new timestamp (and once at the end) as the daemon's periodic tick would."""
    out: list[Transition] = []
    ordered = sorted(samples, key=lambda s: s.time_ns)
    start = 0
    while start < len(ordered):
        time_ns = ordered[start].time_ns
        end = start
        while end < len(ordered) and ordered[end].time_ns == time_ns:
            end += 1
        out += engine.tick(time_ns, heightened)
        out += engine.evaluate(ordered[start:end], heightened)
        start = end
    if ordered:
        out += engine.tick(ordered[-1].time_ns, heightened)
    return out


def devices_from_samples(samples: list[Sample]) -> list[DeviceInfo]:
    """Without an inventory: every device named in the samples, with the class and site its
    sample tags carry (the daemon writes both), else class `other` at no site."""
    found: dict[str, DeviceInfo] = {}
    for sample in samples:
        name = sample.tags.get("device")
        if name and name not in found:
            site = sample.tags.get("site", "")
            found[name] = DeviceInfo(name, sample.tags.get("class", "other"), (site,) if site else ())
    return list(found.values())


def _format_time(time_ns: int) -> str:
    moment = datetime.fromtimestamp(time_ns // 1_000_000_000, tz=timezone.utc)
    fraction = time_ns % 1_000_000_000
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{fraction:09d}".rstrip("0") if fraction else "") + "Z"


def _pad(text: str, width: int) -> str:
    """`text` filled to `width` terminal columns (a Chinese character takes two)."""
    return text + " " * max(0, width - display_width(text))


def _as_json(t: Transition) -> dict:
    return {"time": _format_time(t.time_ns), "time_ns": t.time_ns, "action": t.action, "severity": t.severity,
            "device": t.device, "rule": t.rule, "instance": t.instance, "value": t.value,
            "threshold": t.threshold, "message": t.message}


def _print_human(transitions: list[Transition], still_open: list, sample_count: int, rule_count: int) -> None:
    """One line per open and clear; a run of updates of one key becomes one `UPDATE xN` line."""
    lines: list[tuple[int, int, str]] = []
    updates: dict[tuple, list] = {}  # key -> [first_ns, last_ns, count, last value, worst value, higher_is_worse]

    def row(time_ns: int, action: str, t: Transition, message: str) -> None:
        lines.append((time_ns, len(lines), f"{_format_time(time_ns)}  {_pad(action, 9)} "
                                          f"{_pad(words.severity(t.severity), 8)}  {t.device}  "
                                          f"{t.rule}  {t.instance or '-'}  {message}"))

    def flush(key: tuple, t: Transition) -> None:
        run = updates.pop(key, None)
        if run is None:
            return
        first, last, count, value, worst, _higher = run
        since = _("still holding since {time}").format(time=_format_time(first))
        if value is not None:
            since = _("{since}; last value {value}, worst {worst}").format(
                since=since, value=readable(value), worst=readable(worst))
        row(last, _("UPDATE x{n}").format(n=count), t, since)

    last_of: dict[tuple, Transition] = {}
    for t in transitions:
        if t.action == "update":
            run = updates.get(t.key)
            if run is None:
                updates[t.key] = [t.time_ns, t.time_ns, 1, t.value, t.value, t.higher_is_worse]
            else:
                run[1], run[2], run[3] = t.time_ns, run[2] + 1, t.value
                if t.value is not None and (run[4] is None or
                                            (t.value > run[4] if t.higher_is_worse else t.value < run[4])):
                    run[4] = t.value
            last_of[t.key] = t
            continue
        flush(t.key, t)
        row(t.time_ns, _(TEST_ACTIONS[t.action]) if t.action in TEST_ACTIONS else t.action.upper(), t, t.message)
        last_of[t.key] = t
    for key in list(updates):
        flush(key, last_of[key])
    for _time, _seq, text in sorted(lines):
        print(text)
    print(_("-- {samples} sample(s), {rules} rule(s), {transitions} transition(s); open at the end: {open}").format(
        samples=sample_count, rules=rule_count, transitions=len(transitions), open=len(still_open)))
    for device, rule, instance in still_open:
        print(f"   {device}  {rule}  {instance or '-'}")


# -- reading samples ------------------------------------------------------------------------------

def read_samples(path: Path) -> list[Sample]:
    """Samples from a line-protocol or JSON-lines file; SamplesError `file:line: ...` on the first bad line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SamplesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SamplesError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            samples.append(_json_sample(stripped) if stripped.startswith("{") else parse_line(stripped))
        except ValueError as exc:
            raise SamplesError(f"{path}:{number}: {exc}") from None
    return samples


def _json_sample(line: str) -> Sample:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("a JSON sample is an object with measurement, tags, fields and time")
    unknown = set(data) - {"measurement", "tags", "fields", "time"}
    if unknown:
        raise ValueError(f"unknown key '{sorted(unknown)[0]}'; a JSON sample has measurement, tags, fields, time")
    measurement, tags, fields = data.get("measurement"), data.get("tags", {}), data.get("fields")
    if not isinstance(measurement, str) or not measurement:
        raise ValueError("\"measurement\" must be a non-empty string")
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ValueError("\"tags\" must be an object of strings, e.g. {\"device\": \"core-sw-01\"}")
    if not isinstance(fields, dict) or not fields:
        raise ValueError("\"fields\" must be a non-empty object, e.g. {\"up\": 1}")
    for key, value in fields.items():
        if not isinstance(value, (int, float, str, bool)):
            raise ValueError(f"field '{key}' must be a number, a string or true/false")
    return Sample(measurement, tags, fields, _json_time(data.get("time")))


def _json_time(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError("\"time\" is required: nanoseconds since 1970, or text like \"2026-06-01T10:00:00Z\"")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"\"time\" {value!r} is not a date and time like \"2026-06-01T10:00:00Z\"") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)  # the daemon's data is UTC
        delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    raise ValueError("\"time\" must be nanoseconds since 1970 or text like \"2026-06-01T10:00:00Z\"")


# What lineproto.encode escapes: separators and backslashes, and control characters as \n \r \t.
# Any other backslash is a literal one (InfluxDB reads `s\x` as written).
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", ",": ",", "=": "=", " ": " ", "\\": "\\", '"': '"'}


def _split(text: str, separator: str, limit: int = -1, quotes: bool = False) -> list[str]:
    """Split at `separator` where it is not escaped (and, with `quotes`, not inside "...")."""
    parts, start, i, quoted = [], 0, 0, False
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if quotes and char == '"':
            quoted = not quoted
        elif char == separator and not quoted and (limit < 0 or len(parts) < limit):
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise ValueError("a string field value has no closing double quote")
    parts.append(text[start:])
    return parts


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            replacement = _UNESCAPE.get(text[i + 1])
            if replacement is not None:
                out.append(replacement)
                i += 2
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _field_value(text: str, key: str) -> Any:
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise ValueError(f"field '{key}': a string value must be in double quotes")
        return _unescape(text[1:-1])
    if text in ("t", "T", "true", "True", "TRUE"):
        return True
    if text in ("f", "F", "false", "False", "FALSE"):
        return False
    try:
        if text.endswith(("i", "u")):
            return int(text[:-1])
        value = float(text)
    except ValueError:
        raise ValueError(f"field '{key}': {text!r} is not a number (5i, 1.5), a boolean or a \"string\"") from None
    if not math.isfinite(value):
        raise ValueError(f"field '{key}': {text!r} is not a finite number")
    return value


def parse_line(line: str) -> Sample:
    """One line of InfluxDB line protocol, as monitor/lineproto.py writes it, as a Sample."""
    sections = _split(line, " ", limit=1)
    if len(sections) < 2:
        raise ValueError("expected `measurement,tag=value field=value timestamp` (no fields found)")
    head, rest = sections
    body = _split(rest, " ", limit=1, quotes=True)
    if len(body) < 2 or not body[1].strip():
        raise ValueError("no timestamp; every sample needs one (nanoseconds since 1970) so rules can time it")
    field_text, stamp = body[0], body[1].strip()
    try:
        time_ns = int(stamp)
    except ValueError:
        raise ValueError(f"timestamp {stamp!r} is not a whole number of nanoseconds") from None
    head_parts = _split(head, ",")
    measurement = _unescape(head_parts[0])
    if not measurement:
        raise ValueError("the line has no measurement name")
    tags = {}
    for part in head_parts[1:]:
        pair = _split(part, "=", limit=1)
        if len(pair) != 2 or not pair[0]:
            raise ValueError(f"tag {part!r} is not key=value")
        tags[_unescape(pair[0])] = _unescape(pair[1])
    fields = {}
    for part in _split(field_text, ",", quotes=True):
        pair = _split(part, "=", limit=1, quotes=True)
        if len(pair) != 2 or not pair[0]:
            raise ValueError(f"field {part!r} is not key=value")
        key = _unescape(pair[0])
        fields[key] = _field_value(pair[1], key)
    if not fields:
        raise ValueError("the line has no fields")
    return Sample(measurement, tags, fields, time_ns)


def main(argv: Optional[list[str]] = None) -> int:
    """For running without monitor/cli.py wired: `python -m monitor.rules.cli rules test ...`."""
    parser = argparse.ArgumentParser(prog="netvigil")
    sub = parser.add_subparsers(dest="command", required=True)
    add_rules_parser(sub)
    args = parser.parse_args(argv)
    return rules_test_command(args) if args.command_key == "rules test" else rules_list_command(args)


if __name__ == "__main__":
    sys.exit(main())

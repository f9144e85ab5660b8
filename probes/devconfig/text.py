"""Turning a device's raw running configuration into the text netvigil stores, compares and shows.

Contracts forbid unapproved configuration changes, so every real change must show up, and
nothing else may: a diff that fires every fetch because the clock line moved teaches people
to ignore diffs. Two things therefore happen to the text a device prints:

* `normalise` removes what changes without anyone changing the configuration (terminal
  escape sequences and pager prompts left in the capture, CRLF, trailing blanks, and the
  *volatile* lines of a rule set: "Last configuration was saved at ...", byte counts,
  `ntp clock-period`, log messages the device printed into the session). What is a real change
  stays: a software upgrade changes the version line, and an upgrade must be seen.
* `mask` replaces every secret (passwords, keys, SNMP communities, pre-shared keys, cipher
  strings, even the vendors' reversible "encrypted" forms, which are not protection) with
  `<secret:1a2b3c4d>`, a keyed hash (probes/devconfig/mask.py). What is secret comes from the
  vendor's catalogue of secret-bearing statements (probes/devconfig/catalogues/*.yaml, compiled by
  probes/devconfig/catalogue.py) and a generic keyword net behind it.

A rule set is named after a vendor: its `volatile` patterns (data below) drop a whole line
(`re.search` on the line without its newline) and its masker is the profile's own `secrets`
patterns, then the vendor's catalogue, then the generic net. `generic` is the net alone;
`all` is every vendor's catalogue and the net, for a device whose vendor no profile names.

Pure functions, no I/O: the fetcher calls `prepare`, the store (monitor/config_store.py)
keeps what it returns and re-masks its older versions when the rules change (`fingerprint`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Mapping, Sequence

from probes.devconfig import catalogue as secret_catalogue
from probes.devconfig.mask import GENERIC_BLOCKS, GENERIC_RULES, Masker, SecretRule

VENDOR_SETS = secret_catalogue.VENDORS
RULE_SET_NAMES = ("generic", *VENDOR_SETS, "all")


@dataclass(frozen=True)
class ConfigRules:
    name: str
    volatile: tuple[re.Pattern, ...]  # a line matching any of these is dropped
    masker: Masker

    @property
    def secrets(self) -> tuple[SecretRule, ...]:
        return self.masker.rules

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever these rules may mask differently (stored versions are then re-masked)."""
        return self.masker.fingerprint


# -- building blocks of the patterns ----------------------------------------------------------

# A timestamp alone on a line: Huawei VRP8 and H3C print the time before command output
# ("2026-11-20 10:15:00.123 +08:00"), Cisco with `terminal exec prompt timestamp`.
_TIMESTAMP_LINE = (r"^\s*\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?"
                   r"(?:\s*(?:[+-]\d{2}:?\d{2}|Z|UTC|GMT))?(?:\s+[A-Z]{2,5})?\s*$")


# -- the rule sets ----------------------------------------------------------------------------

_VOLATILE: dict[str, tuple[str, ...]] = {
    "generic": (),  # nothing is volatile everywhere: a Linux file has no clock line of its own
    "huawei_vrp": (
        # VRP header: "!Last configuration was updated at 2026-11-20 10:15:00+08:00 by admin" (moves with
        # every commit, which the diff shows anyway) and "...was saved at ..." (moves on `save` alone)
        r"^\s*!\s*Last configuration was (?:updated|saved) at\b",
        # VRP8 header: "!Time: 2026-11-20 10:15:00" (the time of the display command)
        r"^\s*!\s*Time:",
        # VRP8 header: "!Create configuration: 2026-11-20 10:15:00" (when the output was produced)
        r"^\s*!\s*Create configuration\b",
        # a timestamp alone on a line (VRP8 prints the time before command output)
        _TIMESTAMP_LINE,
        # log messages printed into the session while fetching:
        # "Nov 20 2026 10:15:00+08:00 SW-CORE-01 %%01SHELL/5/CMDRECORD(s)[0]:Recorded command ..."
        r"^\s*[A-Z][a-z]{2}\s+\d{1,2}\s+\d{4}\s+\d{2}:\d{2}:\d{2}\S*(?:\s+\S+)?\s+%%\d+\S+/\d/",
    ),
    "h3c_comware": (
        # a timestamp alone on a line (Comware 7 can print one before command output)
        _TIMESTAMP_LINE,
        # log messages printed into the session while fetching (`terminal monitor` on):
        # "%Nov 20 10:15:00:123 2026 SW-ACC-07 SHELL/5/SHELL_LOGIN: admin logged in from 10.0.0.5."
        r"^\s*%[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}(?::\d+)?\s+\d{4}\s+\S+\s+[\w-]+/\d/[\w-]+",
    ),
    "cisco_ios": (
        # `show running-config` preamble: "Building configuration..."
        r"^Building configuration\.\.\.",
        # preamble: "Current configuration : 4512 bytes" (the byte count moves with any change)
        r"^Current configuration\s*:\s*\d+\s+bytes",
        # header: "! Last configuration change at 10:15:00 UTC Thu Nov 20 2026 by admin"
        r"^!\s*Last configuration change at\b",
        # header: "! NVRAM config last updated at 10:15:00 UTC Thu Nov 20 2026 by admin" (moves on `write`)
        r"^!\s*NVRAM config last updated at\b",
        # header: "! No configuration change since last restart"
        r"^!\s*No configuration change since last restart",
        # "ntp clock-period 17179869": the router's own clock drift correction, rewritten by NTP
        r"^ntp clock-period\s+\d+",
        # `terminal exec prompt timestamp`: "Load for five secs: 5%/0%; one minute: 4%; ..."
        r"^Load for five secs:",
        # `terminal exec prompt timestamp`: "Time source is NTP, 10:15:00.123 UTC Thu Nov 20 2026"
        r"^Time source is\b",
        # a timestamp alone on a line: "*10:15:00.123 UTC Thu Nov 20 2026" or ISO form
        r"^\s*\*?\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\s+\S+\s+[A-Z][a-z]{2}\s+[A-Z][a-z]{2}\s+\d{1,2}\s+\d{4}\s*$",
        _TIMESTAMP_LINE,
        # log messages printed into the session (`terminal monitor`):
        # "*Nov 20 10:15:00.123: %SYS-5-CONFIG_I: Configured from console by admin on vty0"
        r"^\s*[*.]?[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:\s+\w+)?:\s+%[A-Z0-9_]+-\d-[A-Z0-9_]+:",
    ),
    "linux": (),  # a file has no clock lines; add a profile's `volatile` for generated headers
}
_VOLATILE["all"] = ()


# The cached functions only call the ones doing the work: mutation testing (scripts/mutation.sh)
# leaves decorated functions unmutated, and these are where the catalogues become the masker.
@lru_cache(maxsize=None)
def _named(name: str) -> ConfigRules:
    return _compose(name)


def _compose(name: str) -> ConfigRules:
    vendors = VENDOR_SETS if name == "all" else (() if name == "generic" else (name,))
    rules: list[SecretRule] = []
    blocks = []
    for vendor in vendors:
        catalogue = secret_catalogue.load(vendor)
        rules += [SecretRule.from_statement(statement) for statement in catalogue.statements]
        blocks += catalogue.blocks
    return ConfigRules(name, tuple(re.compile(p) for p in _VOLATILE[name]),
                       Masker(tuple(rules) + GENERIC_RULES, tuple(blocks) + GENERIC_BLOCKS))


class _RuleSets(Mapping):
    """name -> ConfigRules, each compiled on first use."""

    def __getitem__(self, name: str) -> ConfigRules:
        if name not in RULE_SET_NAMES:
            raise KeyError(name)
        return _named(name)

    def __iter__(self):
        return iter(RULE_SET_NAMES)

    def __len__(self) -> int:
        return len(RULE_SET_NAMES)


RULE_SETS: Mapping[str, ConfigRules] = _RuleSets()

# Lines any volatile pattern must leave alone: one that matches them all would drop every line
# and so hide every change.
_ORDINARY_LINES = ("", "x", "interface GigabitEthernet0/0/1", " ip address 10.0.0.1 255.255.255.0", "#", "!")


def _compile_extra(expression: str, kind: str) -> re.Pattern:
    try:
        pattern = re.compile(expression)
    except re.error as exc:
        raise ValueError(f"{kind} regex {expression!r} is not a valid regular expression: {exc}") from None
    if kind == "volatile" and all(pattern.search(line) for line in _ORDINARY_LINES):
        raise ValueError(f"volatile regex {expression!r} matches every line: it would drop the whole "
                         "configuration and hide every change")
    if kind == "secret" and pattern.groups < 1:
        raise ValueError(f"secret regex {expression!r} has no group to mask: put the value in a named "
                         "group, e.g. 'password (?P<secret>\\S+)'")
    return pattern


def rules_for(name: str, extra_volatile: Sequence[str] = (), extra_secrets: Sequence[str] = ()) -> ConfigRules:
    """The named rule set plus a profile's own patterns (those win overlaps)."""
    if name not in RULE_SET_NAMES:
        raise ValueError(f"unknown configuration rule set {name!r}; known sets: {', '.join(sorted(RULE_SET_NAMES))}")
    if isinstance(extra_volatile, str) or isinstance(extra_secrets, str):
        raise ValueError("extra_volatile and extra_secrets are lists of regular expressions, not one string")
    return _with_extras(name, tuple(extra_volatile), tuple(extra_secrets))


@lru_cache(maxsize=256)  # one per profile: every fetch and store look-up asks again
def _with_extras(name: str, extra_volatile: tuple[str, ...], extra_secrets: tuple[str, ...]) -> ConfigRules:
    return _compose_with_extras(name, extra_volatile, extra_secrets)


def _compose_with_extras(name: str, extra_volatile: tuple[str, ...], extra_secrets: tuple[str, ...]) -> ConfigRules:
    base = _named(name)
    if not extra_volatile and not extra_secrets:
        return base
    volatile = tuple(_compile_extra(e, "volatile") for e in extra_volatile)
    secrets = tuple(SecretRule.from_regex("profile", _compile_extra(e, "secret")) for e in extra_secrets)
    return ConfigRules(name, volatile + base.volatile, Masker(secrets + base.masker.rules, base.masker.blocks))


# -- normalising ------------------------------------------------------------------------------

# What a terminal would interpret: CSI sequences (`ESC [ 42 D`), OSC titles, two-byte escapes,
# backspace and other control characters (NUL and BEL, which Comware sometimes sends).
_CONTROL = re.compile(r"\x1b\[(?P<args>[0-9;?]*)(?P<command>[@-~])"
                      r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                      r"|\x1b[()*+#][0-9A-Za-z]"
                      r"|\x1b.?"
                      r"|[\x00-\x08\x0b-\x1f\x7f]")
_NEEDS_RENDERING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A pager prompt left in the text: Huawei/H3C "  ---- More ----", Cisco " --More-- ", ASA "<--- More --->"
_PAGER = re.compile(r"^[ \t]*<?-{2,}[ \t]*More[ \t]*-{2,}>?[ \t]*")


def _render(line: str) -> str:
    """The line as a terminal would show it.

    Pagers erase their prompt by moving the cursor back (Huawei "\\x1b[42D", Cisco backspaces),
    writing spaces and moving back again; the next configuration line then overwrites it.
    Replaying the cursor keeps that line's indentation, which deleting the codes would not.
    """
    if not _NEEDS_RENDERING.search(line):
        return line
    cells: list[str] = []
    cursor = 0

    def write(text: str) -> None:
        nonlocal cursor
        if not text:
            return
        if cursor > len(cells):
            cells.extend(" " * (cursor - len(cells)))
        cells[cursor:cursor + len(text)] = text
        cursor += len(text)

    position = 0
    for control in _CONTROL.finditer(line):
        write(line[position:control.start()])
        position = control.end()
        token = control.group(0)
        if token == "\b":
            cursor = max(0, cursor - 1)
            continue
        command = control.group("command")
        if command is None:
            continue  # other escapes and control characters show nothing
        args = control.group("args") or ""
        count = int(args) if args.isdigit() else 1
        if command == "D":  # cursor back
            cursor = max(0, cursor - count)
        elif command == "C":  # cursor forward
            cursor += count
        elif command == "G":  # cursor to column
            cursor = max(0, count - 1)
        elif command == "K":  # erase in line
            if args in ("", "0"):
                del cells[cursor:]
            elif args == "1":
                cells[:cursor] = " " * min(cursor, len(cells))
            else:
                cells.clear()
    write(line[position:])
    return "".join(cells)


def normalise(text: str, rules: ConfigRules) -> str:
    """The configuration without capture noise and volatile lines, ending with one newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept: list[str] = []
    for raw_line in text.split("\n"):
        line = _render(raw_line).rstrip()
        pager = _PAGER.match(line)
        if pager is not None:
            line = line[pager.end():]
            if not line:
                continue  # a line that was only a pager prompt was never part of the configuration
        if any(pattern.search(line) for pattern in rules.volatile):
            continue
        kept.append(line)
    while kept and not kept[0]:
        kept.pop(0)
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""


# -- masking ----------------------------------------------------------------------------------

def mask(text: str, rules: ConfigRules, key: bytes) -> str:
    """`text` with every secret value replaced by its mask; everything else untouched."""
    return rules.masker.mask(text, key)


def prepare(raw: str, rules: ConfigRules, key: bytes) -> str:
    """What gets stored, compared and shown: the normalised text with its secrets masked."""
    return mask(normalise(raw, rules), rules, key)

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
  `<secret:1a2b3c4d>`, the first 8 hex digits of HMAC-SHA256(key, value). The same value
  always gives the same mask under one key, so a changed password is still a changed line,
  yet neither the stored file nor the diff reveals it, and without the key a mask cannot be
  checked against guessed passwords. The rest of the line stays, so an operator still reads
  `snmp-agent community read <secret:1a2b3c4d> acl 2000`.

Rule sets are data: `volatile` patterns drop a whole line (`re.search` on the line without
its newline); `secrets` patterns mask the named group `secret` (group 1 if there is none) of
every match. When two patterns would mask overlapping text the earlier one wins, so sets put
their precise patterns first and `rules_for` puts a profile's own patterns before the named
set, and the `generic` set (keyword followed by a value) last, as the safety net. Masking too
much only hides a value; masking too little leaks one, so the net is wide.

Pure functions, no I/O: the fetcher calls `prepare`, the store (monitor/config_store.py)
keeps what it returns.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

MASK_FORMAT = "<secret:{}>"
_MASKED = re.compile(r"<secret:[0-9a-f]{8}>")  # already masked: prepare is idempotent


@dataclass(frozen=True)
class ConfigRules:
    volatile: tuple[re.Pattern, ...]  # a line matching any of these is dropped
    secrets: tuple[re.Pattern, ...]  # in a matching line, group "secret" (or group 1) is masked

    def __post_init__(self) -> None:
        for pattern in self.secrets:
            if "secret" not in pattern.groupindex and pattern.groups < 1:
                raise ValueError(f"secret regex {pattern.pattern!r} has no group to mask: put the value in "
                                 "a named group, e.g. 'password (?P<secret>\\S+)'")


def _set(volatile: Sequence[str], secrets: Sequence[str]) -> ConfigRules:
    return ConfigRules(tuple(re.compile(p) for p in volatile), tuple(re.compile(p) for p in secrets))


# -- building blocks of the patterns ----------------------------------------------------------

_VALUE = r"(?P<secret>\S+)"
_WORD_START = r"(?<![\w-])"  # `password` but not `password-policy`, `key` but not `authentication-key`
_WORD_END = r"(?![\w-])"


def _qualifiers(*words: str) -> str:
    """Any number of whole tokens that sit between a keyword and its value (`7`, `cipher`)."""
    return r"(?:\s+(?:" + "|".join(words) + r")(?!\S))*"


# Tokens that say how a value is written: Cisco's type digit (0 clear, 5/8/9 hashes, 6/7
# reversible), Huawei/H3C's cipher/simple/plain/hash keywords.
_HOW = _qualifiers(r"\d", "cipher", "irreversible-cipher", "simple", "plain", "hash", "encrypted")

# A timestamp alone on a line: Huawei VRP8 and H3C print the time before command output
# ("2026-11-20 10:15:00.123 +08:00"), Cisco with `terminal exec prompt timestamp`.
_TIMESTAMP_LINE = (r"^\s*\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?"
                   r"(?:\s*(?:[+-]\d{2}:?\d{2}|Z|UTC|GMT))?(?:\s+[A-Z]{2,5})?\s*$")


# -- the rule sets ----------------------------------------------------------------------------

_GENERIC = _set(
    volatile=(),  # nothing is volatile everywhere: a Linux file has no clock line of its own
    secrets=(
        # any CLI: `password [type] VALUE`, `secret 5 VALUE`, `super password level 15 cipher VALUE`,
        # `super password role network-admin hash VALUE`; not `password encryption aes` (IOS setting)
        _WORD_START + r"(?:password|passwd|secret)" + _WORD_END
        + r"(?!\s+(?:encryption|policy|history|complexity|expire|min-length)\b)"
        + r"(?:\s+(?:level|role)\s+\S+)?" + _HOW + r"\s+" + _VALUE,
        # any CLI: `snmp-server community VALUE RO`, `snmp-agent community read cipher VALUE`; not BGP
        # communities of route maps (`set community 65000:100`, `apply community 100:1`)
        _WORD_START + r"(?<!set )(?<!apply )(?<!match )(?<!delete )community" + _WORD_END
        + r"(?!\s+complexity-check\b)" + _qualifiers("read", "write", "ro", "rw", "cipher", "simple", "plain")
        + r"\s+" + _VALUE,
        # any CLI: `key 7 VALUE` (IOS radius/tacacs server), `key authentication cipher VALUE` (Comware
        # RADIUS scheme), `crypto isakmp key VALUE address ...`; not `key chain NAME`, not a key chain's
        # `key 1`, not a GRE `tunnel key 100`
        _WORD_START + r"(?<!tunnel )key" + _WORD_END + r"(?!\s+(?:chain|config-key|pubkey-chain)\b)(?!\s+\d+\s*$)"
        + _qualifiers(r"\d", "cipher", "simple", "plain", "hash", "encrypted", "authentication", "accounting")
        + r"\s+" + _VALUE,
        # any CLI: `key-string 7 VALUE`, `radius-server shared-key cipher VALUE`, `pre-shared-key cipher
        # VALUE`, `ip ospf authentication-key 7 VALUE`, `ip ospf message-digest-key 1 md5 7 VALUE`; not
        # `pre-shared-key address 10.0.0.1 key VALUE` (the `key` pattern takes that one)
        _WORD_START + r"(?:key-string|shared-key|pre-shared-key|authentication-key|message-digest-key|auth-key|"
        r"wpa-psk|psk)" + _WORD_END + r"(?!\s+(?:address|hostname|ipv6|identity)\b)"
        + _qualifiers(r"\d+", "cipher", "simple", "plain", "hash", "encrypted", "ascii", "hex", "md5", "sha\\S*",
                      "hmac-\\S+")
        + r"\s+" + _VALUE,
    ),
)

# Huawei VRP (`display current-configuration`) and H3C Comware share most secret syntax:
# `cipher VALUE`, `simple VALUE`, `%^%#...%^%#` blobs.
_VRP_FAMILY_SECRETS = (
    # VRP5/VRP8 reversible cipher text, anywhere on a line (may hold any printable character);
    # unterminated (truncated line): everything to the end of the line
    r"(?P<secret>%\^%#.*?(?:%\^%#|$))",
    # VRP cipher text of older releases (`%@%@...%@%@`, `%$%$...%$%$`), anywhere
    r"(?P<secret>%@%@.*?(?:%@%@|$))",
    r"(?P<secret>%\$%\$.*?(?:%\$%\$|$))",
    # `snmp-agent community read|write [cipher|simple] VALUE [acl 2000]`
    r"^\s*snmp-agent community\s+(?:read|write)(?:\s+(?:cipher|simple|plain))?\s+" + _VALUE,
    # `snmp-agent usm-user v3 NAME [GROUP] [cipher] authentication-mode sha VALUE privacy-mode aes128 VALUE`
    r"^\s*snmp-agent usm-user\b.*?\sauthentication-mode\s+\S+(?:\s+(?:cipher|simple|plain))?\s+" + _VALUE,
    r"^\s*snmp-agent usm-user\b.*?\sprivacy-mode\s+\S+(?:\s+(?:cipher|simple|plain))?\s+" + _VALUE,
    # `radius-server shared-key cipher VALUE`, `hwtacacs-server shared-key cipher VALUE`
    r"(?:radius|hwtacacs)-server\s+shared-key(?:\s+(?:cipher|simple|plain))?\s+" + _VALUE,
    # IKE peer / IPsec: `pre-shared-key cipher VALUE`
    r"^\s*pre-shared-key(?:\s+(?:cipher|simple|plain))\s+" + _VALUE,
    # whatever follows `cipher`/`irreversible-cipher`/`plain` is a secret on these CLIs
    # (`local-user admin password irreversible-cipher VALUE`, `peer 10.0.0.2 password cipher VALUE`,
    # `authentication-mode md5 1 cipher VALUE`); not algorithm lists (`ssh server cipher aes256_ctr`)
    _WORD_START + r"(?<!ssh server )(?<!ssh client )(?<!algorithm )(?:cipher|irreversible-cipher|plain)"
    + _WORD_END + r"(?!\s+(?:authentication-mode|privacy-mode)\b)\s+" + _VALUE,
    # `simple VALUE` (clear text) unless a mode keyword follows (`authentication-mode simple cipher ...`)
    _WORD_START + r"simple" + _WORD_END + r"(?!\s+(?:cipher|plain|authentication-mode|privacy-mode)\b)\s+" + _VALUE,
    # VRP cellular / SIM: `pin verify [auto] VALUE`
    r"\bpin verify(?:\s+auto)?(?:\s+(?:cipher|simple))?\s+" + _VALUE,
)

_HUAWEI_VRP = _set(
    volatile=(
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
    secrets=_VRP_FAMILY_SECRETS,
)

_H3C_COMWARE = _set(
    volatile=(
        # a timestamp alone on a line (Comware 7 can print one before command output)
        _TIMESTAMP_LINE,
        # log messages printed into the session while fetching (`terminal monitor` on):
        # "%Nov 20 10:15:00:123 2026 SW-ACC-07 SHELL/5/SHELL_LOGIN: admin logged in from 10.0.0.5."
        r"^\s*%[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}(?::\d+)?\s+\d{4}\s+\S+\s+[\w-]+/\d/[\w-]+",
    ),
    secrets=(
        # Comware 7 cipher and hash text (`password cipher $c$3$...`, `password hash $h$6$...`), anywhere
        r"(?P<secret>\$[ch]\$\d+\$\S+)",
        *_VRP_FAMILY_SECRETS,
    ),
)

_CISCO_IOS = _set(
    volatile=(
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
    secrets=(
        # `enable secret 9 VALUE`, `enable password [level 15] [7] VALUE`
        r"^enable\s+(?:secret|password)(?:\s+level\s+\d+)?(?:\s+\d)?\s+" + _VALUE,
        # `username admin privilege 15 secret 9 VALUE`, `username ops password 7 VALUE`
        r"^username\s+\S+.*?\s(?:secret|password)(?:\s+\d)?\s+" + _VALUE,
        # `snmp-server community VALUE RO 10`
        r"^snmp-server community\s+" + _VALUE,
        # `snmp-server host 10.0.0.9 [vrf X] [traps|informs] [version 1|2c] VALUE` (the community)
        r"^snmp-server host\s+\S+(?:\s+vrf\s+\S+)?(?:\s+(?:traps|informs))?(?:\s+version\s+(?:1|2c))?\s+"
        r"(?!version\b)" + _VALUE,
        # `snmp-server user NAME GROUP v3 auth sha VALUE priv aes 128 VALUE` (where shown)
        r"^snmp-server user\b.*?\sauth\s+\S+\s+" + _VALUE,
        r"^snmp-server user\b.*?\spriv\s+\S+(?:\s+\d+)?\s+" + _VALUE,
        # `crypto isakmp key [6] VALUE address 203.0.113.7`
        r"^crypto isakmp key(?:\s+\d)?\s+" + _VALUE,
        # `ntp authentication-key 1 md5 VALUE 7` (the value sits before its type digit)
        r"^ntp authentication-key\s+\d+\s+md5\s+" + _VALUE,
        # `ip ospf message-digest-key 1 md5 [7] VALUE`
        r"message-digest-key\s+\d+\s+md5(?:\s+\d)?\s+" + _VALUE,
        # `tacacs-server key [7] VALUE`, `radius-server key [7] VALUE`, ` key-string [7] VALUE`
        r"^(?:tacacs|radius)-server key(?:\s+\d)?\s+" + _VALUE,
        r"^\s*key-string(?:\s+\d)?\s+" + _VALUE,
        # wireless: `wpa-psk ascii [7] VALUE`
        r"wpa-psk\s+(?:ascii|hex)(?:\s+\d)?\s+" + _VALUE,
        # `ppp chap password [7] VALUE`, `ppp pap sent-username NAME password [7] VALUE`
        r"\bppp\s+(?:chap|pap)\b.*?\spassword(?:\s+\d)?\s+" + _VALUE,
    ),
)

_LINUX = _set(
    volatile=(),  # a file has no clock lines; add a profile's `volatile` for generated headers
    secrets=(
        # `key = value` / `key: value` files (wpa_supplicant `psk="..."`, WireGuard `PrivateKey = ...`,
        # `rpcpassword=...`): the whole value to the end of the line
        r"(?i)^\s*[\w.-]*(?:pass(?:wd|word|phrase)?|secret|psk|token|private_?key|api_?key)[\w.-]*\s*[=:]\s*"
        r"(?P<secret>\S.*?)\s*$",
        # keepalived: `auth_pass VALUE`
        r"^\s*auth_pass\s+" + _VALUE,
        # net-snmp snmpd.conf: `rocommunity VALUE 10.0.0.0/8`, `com2sec local localhost VALUE`
        r"^\s*r[ow]community6?\s+" + _VALUE,
        r"^\s*com2sec6?\s+\S+\s+\S+\s+" + _VALUE,
    ),
)

RULE_SETS: Mapping[str, ConfigRules] = MappingProxyType({
    "generic": _GENERIC,
    "huawei_vrp": _HUAWEI_VRP,
    "h3c_comware": _H3C_COMWARE,
    "cisco_ios": _CISCO_IOS,
    "linux": _LINUX,
})

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
    if kind == "secret" and "secret" not in pattern.groupindex and pattern.groups < 1:
        raise ValueError(f"secret regex {expression!r} has no group to mask: put the value in a named "
                         "group, e.g. 'password (?P<secret>\\S+)'")
    return pattern


def rules_for(name: str, extra_volatile: Sequence[str] = (), extra_secrets: Sequence[str] = ()) -> ConfigRules:
    """The named rule set plus `generic` plus a profile's own patterns (those win overlaps)."""
    base = RULE_SETS.get(name)
    if base is None:
        raise ValueError(f"unknown configuration rule set {name!r}; known sets: {', '.join(sorted(RULE_SETS))}")
    if isinstance(extra_volatile, str) or isinstance(extra_secrets, str):
        raise ValueError("extra_volatile and extra_secrets are lists of regular expressions, not one string")
    volatile = tuple(_compile_extra(e, "volatile") for e in extra_volatile)
    secrets = tuple(_compile_extra(e, "secret") for e in extra_secrets)
    sets = (base,) if name == "generic" else (base, _GENERIC)
    for rule_set in sets:
        volatile += rule_set.volatile
        secrets += rule_set.secrets
    return ConfigRules(volatile, secrets)


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

def secret_mask(value: str, key: bytes) -> str:
    """`<secret:XXXXXXXX>`: 8 hex digits of HMAC-SHA256(key, value)."""
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return MASK_FORMAT.format(digest[:8])


def _mask_line(line: str, secrets: Sequence[re.Pattern], key: bytes) -> str:
    spans: list[tuple[int, int, bool]] = []  # start, end, whether to replace
    for pattern in secrets:
        group = "secret" if "secret" in pattern.groupindex else 1
        for found in pattern.finditer(line):
            start, end = found.span(group)
            if start < 0 or start == end:
                continue
            if any(start < other_end and other_start < end for other_start, other_end, _ in spans):
                continue  # an earlier (more precise) pattern already covers this text
            spans.append((start, end, _MASKED.fullmatch(line, start, end) is None))
    if not spans:
        return line
    pieces = []
    position = 0
    for start, end, replace in sorted(spans):
        if replace:
            pieces += [line[position:start], secret_mask(line[start:end], key)]
            position = end
    pieces.append(line[position:])
    return "".join(pieces)


def mask(text: str, rules: ConfigRules, key: bytes) -> str:
    """`text` with every secret value replaced by its mask; everything else untouched."""
    if not key:
        raise ValueError("the mask key is empty: masks made with an empty key could be checked against "
                         "guessed passwords")
    return "\n".join(_mask_line(line, rules.secrets, key) for line in text.split("\n"))


def prepare(raw: str, rules: ConfigRules, key: bytes) -> str:
    """What gets stored, compared and shown: the normalised text with its secrets masked."""
    return mask(normalise(raw, rules), rules, key)

"""Masking secrets in configuration text: the vendor catalogue first, a generic net after it.

`Masker` replaces every secret value of a configuration with `<secret:1a2b3c4d>`, the first
8 hex digits of HMAC-SHA256(key, value): the same value always gives the same mask under
one key, so a changed password is still a changed line and an unchanged one is not, yet
neither the stored file nor a diff reveals it. The rest of the line stays as the device
printed it (`snmp-agent community read <secret:1a2b3c4d> acl 2000`), so change control still
reads what changed.

What is a secret comes from three layers, in this order (the first that claims a stretch of
a line wins it; a later, wider match masks only what is left of it):

1. a profile's own `secrets` patterns (regular expressions, group `secret`);
2. the vendor's catalogue of every secret-bearing statement of its command reference
   (probes/devconfig/catalogue.py, data in probes/devconfig/catalogues/): exact, and keeps all
   structure around the value;
3. the generic net, for whatever the catalogue misses: cipher blobs and crypt hashes
   anywhere, a value after any of the words password / passwd / passphrase / secret /
   cipher / key / community / securityname / simple / plain / psk (and -password, -secret,
   -key forms such as md5-password, shared-key, key-string), after authentication / auth /
   authentication-mode / privacy-mode / priv when an algorithm or encoding word says a key
   follows (`authentication md5 X`, not `aaa authentication login default`), `NAME = value`
   where NAME holds password / secret / psk / token / api key / private key, the password of
   a URL (`ftp://user:password@host`), and PEM private-key blocks. Between the word and the
   value the net skips type digits, key ids, addresses (`md5-password plain 10.0.0.2 VALUE`)
   and encoding words; it never takes a known setting word (`password-encryption`,
   `community complexity-check disable`, `key chain NAME`, `set community 65000:100`).

Masking too much only hides a value; masking too little leaks one, so the net is wide.

Speed (bench/config_masking.py): a line is only tried against the catalogue statements
that start with its first word and whose keywords it contains, and against the net only
when it holds one of the net's cheap hints ("pass", "key", "%^%#", ...); most lines of a
configuration (interfaces, VLANs, routes) cost a dictionary look-up and a few substring
tests.

Masks already in the text (`<secret:...>`) are never changed, so masking is idempotent:
stored versions can be masked again with a newer catalogue (monitor/config_store.py) and
come out as a fresh fetch would, except where an older masker had masked a stretch that
is not secret, which cannot be undone.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from probes.devconfig.catalogue import BLOB, ENCODING_WORDS, VALUE, Block, Statement

# Bump when the engine changes what it produces for the same rules; the catalogue's own
# changes are seen by the fingerprint of the rules themselves. 3: patterns starting with `^`
# are searched along the line (a profile's `^a|b` missed `b` after the start); a private key on
# the line of its BEGIN is masked (it leaked, and every line after it was masked).
MASKER_SCHEME = 3

MASK_FORMAT = "<secret:{}>"
_MASKED = re.compile(r"<secret:[0-9a-f]{8}>")


def secret_mask(value: str, key: bytes) -> str:
    """`<secret:XXXXXXXX>`: 8 hex digits of HMAC-SHA256(key, value)."""
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return MASK_FORMAT.format(digest[:8])


@dataclass(frozen=True)
class SecretRule:
    """One pattern whose `groups` hold secrets, and when it is worth trying on a line."""

    source: str  # where it comes from, for people: "huawei_vrp: snmp-agent ...", "generic: ..."
    pattern: re.Pattern
    groups: tuple
    first_words: Optional[tuple[str, ...]] = None  # statement forms: only lines starting with one of these
    needs: tuple[str, ...] = ()  # lower-case substrings that must all be in the line
    needs_any: tuple[str, ...] = ()  # lower-case substrings of which one must be in the line
    fallback: bool = False  # tried only on lines no precise rule (profile, catalogue) found a secret in

    def __post_init__(self) -> None:
        # One regex search for "any of these words" is several times cheaper than a loop of `in` tests.
        object.__setattr__(self, "_needs_any_pattern",
                           re.compile("|".join(re.escape(word) for word in self.needs_any)) if self.needs_any else None)

    @classmethod
    def from_statement(cls, statement: Statement) -> "SecretRule":
        return cls(statement.source, statement.pattern, statement.groups, statement.first_words, statement.needs,
                   statement.needs_any)

    @classmethod
    def from_regex(cls, source: str, pattern: re.Pattern) -> "SecretRule":
        groups = tuple(name for name in pattern.groupindex if name.startswith("secret")) or (1,)
        return cls(source, pattern, groups)


# -- the generic net --------------------------------------------------------------------------

_WORD_START = r"(?<![\w-])"
_WORD_END = r"(?![\w-])"
_ADDRESS = r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:/\d{1,3})?"
# Algorithm and encoding words, written exactly, so a password that merely starts like one
# ("aesthetic") is still a value.
_ENCODING = (r"(?:" + "|".join(ENCODING_WORDS)
             + r"|encrypted|text|ascii|hex|md5|sha|sha1|sha-1|sha2?-?(?:224|256|384|512)"
             r"|hmac-(?:md5|sha[\w-]*)|aes(?:128|192|256)?(?:[_-](?:ctr|cbc|gcm|cfb))?|3des(?:[_-]cbc)?"
             r"|des(?:56)?(?:[_-]cbc)?|sm3|sm4|rfc\d+|usual|nonstandard)")
_QUALIFIER_WORDS = r"(?:read|write|ro|rw|local|remote|inbound|outbound|ah|esp|authentication|accounting|authorization)"
# Digits between a keyword and its value are a type digit or a key id (`authentication-key 1 md5
# VALUE`), at most 5 of them: a longer number is the value itself ("123456" is the commonest
# password there is), so `community 123456 version 2c` masks the number, not `version`.
_KEY_ID = r"\d{1,5}"
_QUALIFIER = (r"(?:" + _KEY_ID + "|" + _ADDRESS + "|" + _ENCODING + "|" + _QUALIFIER_WORDS
              + r"|(?:level|role|key-id|user-role)\s+\S+)(?!\S)")
_STRONG = (r"[\w-]*(?:password|passwd|passphrase|pass-phrase|secret)|community|securityname|cipher-securityname"
           r"|irreversible-cipher|cipher|simple|plain|key|key-string|shared-key|pre-shared-key|preshared-key"
           r"|authentication-key|message-digest-key|auth-key|server-key|string-key|set-key|psk|wpa-psk")
_WEAK = r"[\w-]*authentication-mode|authentication|auth|privacy-mode|priv"
# Words that follow those keywords as settings, never as secrets.
_SETTING_WORDS = (r"encryption|policy|history|complexity|complexity-check|expire|expired|min-length|lifetime|alert"
                  r"|control|prompt|recovery|aging|change|restriction|length|retry|mode|message-digest|null|none"
                  r"|login|enable|disable|dot1x|ppp|exec|commands|network|default|key-chain|keychain|chain"
                  r"|config-key|pubkey-chain|generate|zeroize|import|export|storage|address|hostname|ipv6"
                  r"|identity|aaa|scheme|template|type|group|view|acl|both|standard|extended|key-management"
                  r"|required|optional|sha-256|no-export|no-advertise|local-as|internet|additive|gshut"
                  r"|no-export-subconfed|peer|wep-40|wep-104|wep-128|[0-9]+:[0-9]+|[=:]")
_NOT_A_VALUE = (r"(?!(?:" + _SETTING_WORDS + "|" + _STRONG + "|" + _WEAK + "|" + _ENCODING + "|" + _QUALIFIER_WORDS
                + r"|level|role|key-id)(?!\S))")
_NET_VALUE = _NOT_A_VALUE + r"(?P<secret>" + VALUE + ")"


def _net(source: str, regex: str, needs_any: Iterable[str], needs: Iterable[str] = (),
         fallback: bool = False) -> SecretRule:
    pattern = re.compile(regex, re.IGNORECASE)
    groups = tuple(name for name in pattern.groupindex if name.startswith("secret"))
    return SecretRule(f"generic: {source}", pattern, groups, needs=tuple(needs), needs_any=tuple(needs_any),
                      fallback=fallback)


_KEYWORD_HINTS = ("pass", "secret", "cipher", "key", "communit", "securityname", "simple", "plain", "psk", "auth",
                  "priv")

GENERIC_RULES: tuple[SecretRule, ...] = (
    _net("cipher blob %^%#...%^%# (also truncated), anywhere", r"(?P<secret>" + BLOB + ")",
         ("%^%#", "%@%@", "%$%$", "%@%#")),
    # `$1a$...$` (VRP irreversible cipher), `$c$3$...`/`$h$6$...` (Comware), `$9$`/`$8$`/`$5$`/`$1$` (IOS,
    # crypt), `$6$`/`$y$` (Linux shadow): at least 8 characters after the prefix, so `$1$2` in a script stays
    _net("crypt hash or cipher $..$...", r"(?<![^\s:=\"'])(?P<secret>\$(?:1a|1|2[abxy]|5|6|8|9|y|gy|c\$\d+|h\$\d+)\$"
         r"[^\s:]{8,})", ("$",)),
    # keyword [qualifiers] VALUE; the look-behinds keep BGP communities, GRE keys and SSH algorithm lists
    _net("keyword followed by a value",
         _WORD_START + r"(?<!set )(?<!apply )(?<!match )(?<!delete )(?<!additive )(?<!tunnel )(?<!ssh server )"
         r"(?<!ssh client )(?<!algorithm )(?:" + _STRONG + ")" + _WORD_END
         + r"(?!(?<=key)\s+" + _KEY_ID + r"\s*$)"  # `key 1` alone is a key chain's key id; `password 123456` a value
         + r"(?:\s+" + _QUALIFIER + r")*\s+" + _NET_VALUE, _KEYWORD_HINTS, fallback=True),
    _net("authentication/auth/privacy keyword, an algorithm, a value",
         _WORD_START + r"(?:" + _WEAK + ")" + _WORD_END + r"(?:\s+" + _KEY_ID + r")*\s+" + _ENCODING + r"(?!\S)"
         + r"(?:\s+" + _QUALIFIER + r")*\s+" + _NET_VALUE, ("auth", "priv"), fallback=True),
    _net("NAME = value (NAME holds password, secret, psk, token, api key, private key)",
         r"(?<![\w.-])[\w.-]*(?:pass(?:wd|word|phrase)|secret|psk|token|api_?key|private_?key|pre_?shared_?key)"
         r"[\w.-]*\s*=\s*(?:\"(?P<secret>[^\"]*)\"?|'(?P<secret2>[^']*)'?|(?P<secret3>\S+))",
         ("pass", "secret", "psk", "token", "key"), ("=",), fallback=True),
    _net("password of a URL (scheme://user:password@host)",
         r"\b[a-z][a-z0-9+.-]*://[^\s/:@]+:(?P<secret>[^\s/@]+)@", ("://",)),
)

# Any private key printed into a configuration (a `cat` of a server's files, an appliance's
# certificate store): everything between BEGIN and END. Each pattern matches its whole armour:
# what follows it on the line is key text.
GENERIC_BLOCKS: tuple[Block, ...] = (
    Block("generic", "PEM private key (-----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE KEY-----)",
          re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"),
          re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"), ()),
    Block("generic", "OpenVPN static key (-----BEGIN OpenVPN Static key V1----- ... -----END ...)",
          re.compile(r"-----BEGIN OpenVPN Static key V\d+-----"),
          re.compile(r"-----END OpenVPN Static key V\d+-----"), ()),
)


# -- the engine -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Masker:
    """Rules in precedence order, blocks, and the per-first-word index built from them."""

    rules: tuple[SecretRule, ...]
    blocks: tuple[Block, ...] = ()

    def __post_init__(self) -> None:
        anywhere = tuple(rule for rule in self.rules if rule.first_words is None)
        words = {word for rule in self.rules for word in (rule.first_words or ())}
        # Precedence is the order of `rules`, whichever list a rule sits in.
        specific = {word: tuple(rule for rule in self.rules if rule.first_words and word in rule.first_words)
                    for word in words}
        mixed = {word: tuple(rule for rule in self.rules if rule.first_words is None or word in rule.first_words)
                 for word in words}
        # Most lines hold none of the words the rules that apply anywhere need: one search says so.
        quick = None
        if all(rule.needs or rule.needs_any for rule in anywhere):
            hints = {word for rule in anywhere for word in (*rule.needs, *rule.needs_any)}
            quick = re.compile("|".join(re.escape(word) for word in sorted(hints))) if hints else None
        object.__setattr__(self, "_anywhere", anywhere)
        object.__setattr__(self, "_specific", specific)
        object.__setattr__(self, "_mixed", mixed)
        object.__setattr__(self, "_quick", quick)

    @property
    def fingerprint(self) -> str:
        """Changes whenever what this masker masks may change: its scheme, rules and blocks."""
        return _fingerprint(self.rules, self.blocks)

    def secret_spans(self, line: str) -> list[tuple[int, int]]:
        """Where the secrets of one line are (already masked values excluded), in order."""
        occupied: list[tuple[int, int]] = []
        if "<secret:" in line:
            occupied = [found.span() for found in _MASKED.finditer(line)]
        lower = line.lower()
        stripped = lower.lstrip()
        first = stripped.split(None, 1)[0] if stripped else ""
        if self._quick is not None and self._quick.search(lower) is None:
            candidates = self._specific.get(first, ())
        else:
            candidates = self._mixed.get(first, self._anywhere)
        pieces: list[tuple[int, int]] = []
        precise = False  # a profile or catalogue rule found a secret here: the keyword net stays out
        for rule in candidates:
            if rule.fallback and precise:
                continue
            if rule.needs or rule.needs_any:
                if rule.needs and not all(word in lower for word in rule.needs):
                    continue
                if rule._needs_any_pattern is not None and rule._needs_any_pattern.search(lower) is None:
                    continue
            # Searched along the whole line even when the pattern starts with `^`: in `^a|b` the
            # anchor binds the first alternative only (re gives a `^` pattern one attempt anyway).
            for found in rule.pattern.finditer(line):
                precise = precise or not rule.source.startswith("generic:")
                for group in rule.groups:
                    start, end = found.span(group)
                    if start < end:
                        _claim(occupied, pieces, start, end, line)
        return sorted(pieces)

    def mask_line(self, line: str, key: bytes) -> str:
        pieces = self.secret_spans(line)
        if not pieces:
            return line
        out = []
        position = 0
        for start, end in pieces:
            out += [line[position:start], secret_mask(line[start:end], key)]
            position = end
        out.append(line[position:])
        return "".join(out)

    def mask(self, text: str, key: bytes) -> str:
        """`text` with every secret value replaced by its mask; everything else untouched."""
        if not key:
            raise ValueError("the mask key is empty: masks made with an empty key could be checked against "
                             "guessed passwords")
        lines = text.split("\n")
        open_block: Optional[Block] = None
        blocks = self.blocks
        for index, line in enumerate(lines):
            if open_block is None and (not blocks or "-----BEGIN" not in line):  # nearly every line
                lines[index] = self.mask_line(line, key)
                continue
            regions, open_block = self._blocks_on(line, open_block)
            out, position = [], 0
            for start, end, key_start, key_end in regions:
                # the armour stays as it is; only the text outside blocks goes through the rules
                out += [self.mask_line(line[position:start], key), line[start:key_start],
                        _mask_stretch(line[key_start:key_end], key), line[key_end:end]]
                position = end
            out.append(self.mask_line(line[position:], key))
            lines[index] = "".join(out)
        return "\n".join(lines)

    def _blocks_on(self, line: str, open_block: Optional[Block]) -> tuple[list[tuple[int, int, int, int]],
                                                                          Optional[Block]]:
        """Each block's part of `line` as (start, end, key start, key end), the armour between
        start and key start and between key end and end; and the block still open at its end.

        A block may begin, or end, anywhere on a line: a JSON key file holds a whole PEM key on
        one line ("private_key": "-----BEGIN ...\\nMIIE...\\n-----END ..."), and files joined
        with `cat` put one key's END and the next key's BEGIN on one line when the first file
        lacks its last newline."""
        regions: list[tuple[int, int, int, int]] = []
        start = position = 0
        while True:
            if open_block is not None:
                end = open_block.end.search(line, position)
                if end is None:
                    regions.append((start, len(line), position, len(line)))
                    return regions, open_block
                regions.append((start, end.end(), position, end.start()))
                open_block, position = None, end.end()
            # every block's begin holds "-----BEGIN" (the catalogue loader checks)
            if "-----BEGIN" not in line[position:]:
                return regions, None
            found = [(begin.start(), begin.end(), block) for block in self.blocks
                     if (begin := block.begin.search(line, position)) is not None]
            if not found:
                return regions, None
            start, position, open_block = min(found, key=lambda begin: begin[0])


def _mask_stretch(text: str, key: bytes) -> str:
    """Key text as one mask, blanks at its edges kept (unchanged if blank or a mask already)."""
    body = text.strip()
    if not body or _MASKED.fullmatch(body):
        return text
    at = len(text) - len(text.lstrip())
    return text[:at] + secret_mask(body, key) + text[at + len(body):]


def _fingerprint(rules: Sequence[SecretRule], blocks: Sequence[Block]) -> str:
    # Not a property itself: mutation testing (scripts/mutation.sh) leaves decorated functions unmutated.
    digest = hashlib.sha256(f"scheme {MASKER_SCHEME}\n".encode())
    for rule in rules:
        # The pre-checks too: a line they turn away is never searched, so they decide what is masked.
        digest.update(f"{rule.source}\0{rule.pattern.pattern}\0{rule.pattern.flags}\0{rule.groups}\0"
                      f"{rule.first_words}\0{rule.needs}\0{rule.needs_any}\0{rule.fallback}\n".encode())
    for block in blocks:
        digest.update(f"{block.ref}\0{block.begin.pattern}\0{block.end.pattern}\n".encode())
    return f"{MASKER_SCHEME}-{digest.hexdigest()[:16]}"


def _claim(occupied: list[tuple[int, int]], pieces: list[tuple[int, int]], start: int, end: int, line: str) -> None:
    """Add the parts of [start, end) nobody claimed yet as pieces to mask (blanks at their edges
    left out) and mark them claimed; `occupied` stays sorted and without overlaps."""
    cursor = start
    index = bisect.bisect_left(occupied, (start, start))
    if index > 0 and occupied[index - 1][1] > start:
        index -= 1
    free: list[tuple[int, int]] = []
    while index < len(occupied) and occupied[index][0] < end:
        taken_start, taken_end = occupied[index]
        if taken_start > cursor:
            free.append((cursor, taken_start))
        cursor = max(cursor, taken_end)
        index += 1
    if cursor < end:
        free.append((cursor, end))
    for piece_start, piece_end in free:
        while piece_start < piece_end and line[piece_start].isspace():
            piece_start += 1
        while piece_end > piece_start and line[piece_end - 1].isspace():
            piece_end -= 1
        if piece_start < piece_end:
            bisect.insort(occupied, (piece_start, piece_end))
            pieces.append((piece_start, piece_end))

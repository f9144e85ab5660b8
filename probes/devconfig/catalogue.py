"""The per-vendor catalogue of secret-bearing configuration statements (data in probes/devconfig/catalogues/).

Masking that depends on one regular expression per statement someone happened to remember
leaks the statements nobody remembered (a VRP trap host's `securityname public`, LDP's
`md5-password plain 10.0.0.2 Secret`, where the first value after the keyword is the peer
and the second the password). So every secret-bearing statement of a vendor's command
reference is written down once, in the reference's own shape, in one YAML file per vendor:

    - ref: "snmp-agent target-host trap address udp-domain ip-address [ udp-port port ] ... params
            securityname { security-string | cipher security-string } [ v1 | v2c | v3 ... ]"
      form: "snmp-agent target-host ... params securityname [cipher] SECRET"
      examples:
        - "snmp-agent target-host trap address udp-domain 10.20.0.30 params securityname «Trap-C0mm» v2c"

`ref` cites the command reference's statement; `form` is what is matched, in a small
language close to the references' own notation, matched against one configuration line
(after its indentation), from the start of the statement:

    word            that keyword, as a whole token (case-insensitive)
    <name>          any one token (an argument that is not secret: a user, an address)
    <#name>         a token of digits (a key id, a type digit)
    SECRET          the secret value: masked. A VRP cipher blob (`%^%#...%^%#`, also when a
                    truncated line cut it before its terminator, with the spaces it may hold),
                    a quoted string, or one token that is not an encoding keyword (cipher,
                    irreversible-cipher, simple, plain, hash) nor a lone type digit before
                    another token
    SECRET!a!b      the same, but never the tokens `a` or `b` (keywords that may stand where
                    the value would: `pre-shared-key SECRET!address!hostname`)
    ...             any number of tokens (options the statement allows before the next word)
    [ a b ]         optional;  { a | b }  one of the alternatives

A statement whose syntax is not token-shaped (a Linux `/etc/shadow` line, `psk="..."`) gives a
`regex` instead, with named groups `secret`, `secret2`, ... to mask; `block` entries mask every
line between a `begin` and an `end` line (a PEM private key; `begin` holds the literal
`-----BEGIN`, and both match the whole armour: what follows it on its line is key text). Every entry has at least one example with each secret value between « and »:
the unit tests plant each example, mask it, and require the result to be the example with
exactly those values masked and everything else kept, and the integration tests send all of
them through real SSH sessions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogues"
VENDORS = ("huawei_vrp", "h3c_comware", "cisco_ios", "linux")

# A VRP/Comware reversible cipher text. VRP5/VRP8 write `%^%#...%^%#`, older releases `%@%@...%@%@`
# and `%$%$...%$%$`, and `%@%#...%@%#` is seen too; the text between may hold spaces and any printable
# character. A line cut short (a capture truncated by a pager or a flooding session) leaves the
# blob without its terminator: then everything to the end of the line is the secret.
BLOB = (r"%\^%#.*?(?:%\^%#|$)|%@%@.*?(?:%@%@|$)|%\$%\$.*?(?:%\$%\$|$)|%@%#.*?(?:%@%#|$)")
# Keywords that say how a value is written; a secret slot never takes one of them.
ENCODING_WORDS = ("cipher", "irreversible-cipher", "simple", "plain", "hash")
# A lone digit before another token is a type digit (Cisco `password 7 VALUE`), not the value.
VALUE = (r"(?!(?:" + "|".join(ENCODING_WORDS) + r")(?!\S))(?!\d\s+\S)"
         r"(?:" + BLOB + r'|"[^"]*(?:"|$)' + r"|\S+)")

_TOKEN = re.compile(r"\[|\]|\{|\}|\||[^\s\[\]{}|]+")
_SEPARATOR = r"\s*(?<!\S)"  # whitespace before a token; at the start: the indentation


class CatalogueError(ValueError):
    """A catalogue entry that cannot be used; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class Statement:
    """One compiled catalogue entry."""

    vendor: str
    ref: str  # the command reference's statement form, as cited
    pattern: re.Pattern
    groups: tuple[str, ...]  # named groups holding secrets
    first_words: Optional[tuple[str, ...]]  # forms: the keywords a matching line can start with (lower case)
    needs: tuple[str, ...]  # lower-case words every matching line contains (a cheap pre-check)
    needs_any: tuple[str, ...]  # lower-case words of which every matching line contains one
    examples: tuple[str, ...]  # with each secret between « and »
    name: str = ""  # what people call it: the form's leading keywords, or the entry's `name`

    @property
    def source(self) -> str:
        return f"{self.vendor}: {self.ref}"


@dataclass(frozen=True)
class Block:
    """Lines strictly between a `begin` line and an `end` line are secret as a whole."""

    vendor: str
    ref: str
    begin: re.Pattern
    end: re.Pattern
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    vendor: str
    title: str
    statements: tuple[Statement, ...]
    blocks: tuple[Block, ...]


# -- the form language ---------------------------------------------------------------------------

class _Form:
    """Recursive-descent compiler of one form into a regular expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _TOKEN.findall(text)
        self.position = 0
        self.secrets = 0
        self.required: list[str] = []  # top-level keywords: every matching line has them

    def fail(self, why: str) -> CatalogueError:
        return CatalogueError(f"form {self.text!r}: {why}")

    def peek(self) -> Optional[str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def compile(self) -> tuple[str, Optional[tuple[str, ...]]]:
        body = self.sequence(top=True, stop=())  # all of it: a stray `]`, `}` or `|` is refused by `element`
        if not self.secrets:
            raise self.fail("has no SECRET")
        first, _ = _first_words(self.tokens, 0, ())
        return "^" + body, (tuple(sorted(first)) if first is not None else None)

    def sequence(self, top: bool, stop: tuple[str, ...]) -> str:
        parts = []
        while self.peek() is not None and self.peek() not in stop:
            parts.append(self.element(top))
        if not parts:
            raise self.fail("has an empty group")
        return "".join(parts)

    def element(self, top: bool) -> str:
        token = self.tokens[self.position]
        self.position += 1
        if token == "[":
            inner = self.sequence(top=False, stop=("]",))
            self.expect("]")
            return f"(?:{inner})?"
        if token == "{":
            alternatives = [self.sequence(top=False, stop=("|", "}"))]
            while self.peek() == "|":
                self.position += 1
                alternatives.append(self.sequence(top=False, stop=("|", "}")))
            self.expect("}")
            return "(?:" + "|".join(alternatives) + ")"
        if token in ("]", "}", "|"):
            raise self.fail(f"unexpected {token!r}")
        if token == "...":
            return r"(?:\s*(?<!\S)\S+)*?"
        if token == "SECRET" or token.startswith("SECRET!"):
            self.secrets += 1
            name = "secret" if self.secrets == 1 else f"secret{self.secrets}"
            excluded = [word for word in token.split("!")[1:] if word]
            if token != "SECRET" and not excluded:
                raise self.fail(f"{token!r}: name the excluded words after the !")
            never = "(?!(?i:" + "|".join(re.escape(word) for word in excluded) + r")(?!\S))" if excluded else ""
            return _SEPARATOR + never + f"(?P<{name}>{VALUE})"
        if token.startswith("<#") and token.endswith(">"):
            return _SEPARATOR + r"\d+(?!\S)"
        if token.startswith("<") and token.endswith(">"):
            return _SEPARATOR + r"\S+"
        if not _is_word(token):
            raise self.fail(f"{token!r} is neither a keyword, <argument>, SECRET nor ...")
        if top:
            self.required.append(token.lower())
        return _SEPARATOR + "(?i:" + re.escape(token) + r")(?!\S)"

    def expect(self, token: str) -> None:
        if self.peek() != token:
            raise self.fail(f"expected {token!r}")
        self.position += 1


def _first_words(tokens: list[str], position: int, stop: tuple[str, ...]) -> tuple[Optional[set[str]], bool]:
    """(the keywords a match of tokens[position:] up to `stop` can start with, or None when any
    token can; whether it can match nothing at all). Lets the masker try a form only on lines
    that start with one of its keywords."""
    words: set[str] = set()
    while position < len(tokens) and tokens[position] not in stop:
        token = tokens[position]
        if token in ("[", "{"):
            end = _closing(tokens, position)
            empty = token == "["
            start = position + 1
            for split in _alternative_starts(tokens, start, end):
                found, can_be_empty = _first_words(tokens, split, ("|", "]", "}"))
                if found is None:
                    return None, False
                words |= found
                empty = empty or can_be_empty
            if not empty:
                return words, False
            position = end + 1
            continue
        if token == "...":
            return None, False
        if not _is_word(token):
            return None, False
        return words | {token.lower()}, False
    return words, True


def _closing(tokens: list[str], position: int) -> int:
    depth = 0
    for index in range(position, len(tokens)):
        if tokens[index] in ("[", "{"):
            depth += 1
        elif tokens[index] in ("]", "}"):
            depth -= 1
            if depth == 0:
                return index
    return len(tokens)


def _alternative_starts(tokens: list[str], start: int, end: int) -> list[int]:
    starts, depth = [start], 0
    for index in range(start, end):
        if tokens[index] in ("[", "{"):
            depth += 1
        elif tokens[index] in ("]", "}"):
            depth -= 1
        elif tokens[index] == "|" and depth == 0:
            starts.append(index + 1)
    return starts


def _is_word(token: str) -> bool:
    return token not in ("[", "]", "{", "}", "|", "...") and not token.startswith(("<", "SECRET"))


def compile_form(form: str) -> tuple[re.Pattern, Optional[tuple[str, ...]], tuple[str, ...]]:
    """(pattern, keywords a match starts with or None, required keywords) of a form; CatalogueError
    names the problem."""
    compiler = _Form(form)
    regex, first = compiler.compile()
    return re.compile(regex), first, tuple(dict.fromkeys(compiler.required))


# -- loading -------------------------------------------------------------------------------------

_PLANTED = re.compile(r"«(.*?)»")


def planted(example: str) -> tuple[str, list[str]]:
    """(the line as a device prints it, the secret values marked in it)."""
    return _PLANTED.sub(lambda m: m.group(1), example), _PLANTED.findall(example)


def _statement(vendor: str, where: str, entry: dict) -> object:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: an entry is a mapping with ref, form (or regex or block) and examples")
    unknown = set(entry) - {"ref", "name", "form", "regex", "needs", "needs_any", "block", "examples"}
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    ref = entry.get("ref")
    examples = entry.get("examples")
    if not isinstance(ref, str) or not ref.strip():
        raise CatalogueError(f"{where}: `ref` (the command reference's statement form) is missing")
    if not isinstance(examples, list) or not examples or not all(isinstance(e, str) for e in examples):
        raise CatalogueError(f"{where} ({ref}): `examples` must list at least one line with «secret» marked")
    kinds = [key for key in ("form", "regex", "block") if key in entry]
    if len(kinds) != 1:
        raise CatalogueError(f"{where} ({ref}): give exactly one of form, regex, block")
    if "block" in entry:
        block = entry["block"]
        try:
            compiled = Block(vendor, ref, re.compile(block["begin"]), re.compile(block["end"]), tuple(examples))
        except (KeyError, TypeError, re.error) as exc:
            raise CatalogueError(f"{where} ({ref}): block needs `begin` and `end` regular expressions: {exc}") from None
        # The masker looks for a block's start only on lines holding "-----BEGIN" (one substring
        # test per line, not a search per block).
        if "-----BEGIN" not in block["begin"]:
            raise CatalogueError(f"{where} ({ref}): a block's `begin` must match a PEM armour line: put the literal "
                                 "-----BEGIN in it")
        return compiled
    for example in examples:
        if not planted(example)[1]:
            raise CatalogueError(f"{where} ({ref}): example {example!r} marks no «secret»")
    if "form" in entry:
        try:
            pattern, first, needs = compile_form(entry["form"])
        except CatalogueError as exc:
            raise CatalogueError(f"{where} ({ref}): {exc}") from None
    else:
        try:
            pattern = re.compile(entry["regex"])
        except re.error as exc:
            raise CatalogueError(f"{where} ({ref}): invalid regex: {exc}") from None
        first = None
        needs = tuple(str(word).lower() for word in entry.get("needs", ()))
    needs_any = tuple(str(word).lower() for word in entry.get("needs_any", ()))
    groups = tuple(name for name in pattern.groupindex if name.startswith("secret"))
    if not groups:
        raise CatalogueError(f"{where} ({ref}): no group named secret... to mask")
    name = str(entry.get("name") or (_leading_words(entry["form"]) if "form" in entry else ref.split(":")[0]))
    return Statement(vendor, ref, pattern, groups, first, needs, needs_any, tuple(examples), name)


def _leading_words(form: str) -> str:
    """`snmp-agent target-host ... params` -> "snmp-agent target-host"; a leading choice shows its words."""
    tokens = _TOKEN.findall(form)
    if tokens and tokens[0] in ("{", "["):
        first, _ = _first_words(tokens, 0, ())
        return " / ".join(sorted(first or ()))
    words = []
    for token in tokens:
        if not _is_word(token) or len(words) == 3:
            break
        words.append(token)
    return " ".join(words)


@lru_cache(maxsize=None)
def load(vendor: str) -> Catalogue:
    """The catalogue of one vendor (probes/devconfig/catalogues/VENDOR.yaml), compiled."""
    return _load(vendor)


def _load(vendor: str) -> Catalogue:
    # Not decorated itself: mutation testing (scripts/mutation.sh) leaves decorated functions unmutated.
    path = CATALOGUE_DIR / f"{vendor}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"no secret catalogue {path}; known: {', '.join(VENDORS)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("statements"), list):
        raise CatalogueError(f"{path}: expected a mapping with a `statements` list")
    statements, blocks = [], []
    for index, entry in enumerate(data["statements"]):
        compiled = _statement(vendor, f"{path.name}: statements[{index}]", entry)
        (blocks if isinstance(compiled, Block) else statements).append(compiled)
    return Catalogue(vendor, str(data.get("title", vendor)), tuple(statements), tuple(blocks))

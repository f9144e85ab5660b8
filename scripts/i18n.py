"""Extract, update and compile the translation catalogues (Babel), or check them.

    python scripts/i18n.py            # extract every text, update the .po files, compile the .mo
    python scripts/i18n.py --check    # exit 1, naming each problem, if anything is out of date

Texts come from three places: Python sources (`_()`, `N_()`, `ngettext()` in monitor/, probes/
and the dashboard generator), the `message` of every shipped rule (monitor/rules/defaults), which
the rule loader passes through `_()`, and nothing else. The `.po` files are the sources
translators edit; the `.mo` next to each is compiled from it and committed, because an
installed daemon reads it with the stdlib's gettext and has no Babel.

A check fails on: a text with no translation (it would show in English in zh-CN), a fuzzy
entry, a translation whose `{fields}` differ from the English (formatting would fail or lose
a value), a `.po` that extraction would change, or a `.mo` that is not the compiled `.po`.
"""

from __future__ import annotations

import argparse
import gettext
import io
import string
import sys
from pathlib import Path
from typing import Iterator

import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "monitor" / "locale"
DOMAIN = "netvigil"
LANGUAGES = ("zh_CN",)
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
SOURCE_DIRS = ("monitor", "probes")
SOURCE_FILES = ("scripts/grafana_dashboards.py",)
RULE_DIR = ROOT / "monitor" / "rules" / "defaults"


def _python_messages() -> Iterator[tuple[str, int, object]]:
    for folder in SOURCE_DIRS:
        for filename, lineno, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            yield f"{folder}/{filename}", lineno, message
    for name in SOURCE_FILES:
        path = ROOT / name
        if path.exists():
            for lineno, message, _comments, _context in extract_from_file("python", path, keywords=KEYWORDS):
                yield name, lineno, message


def _rule_messages() -> Iterator[tuple[str, int, object]]:
    """Every `message:` of a shipped rule, with its line (YAML nodes keep their position)."""
    for path in sorted(RULE_DIR.glob("*.yaml")):
        stack = [yaml.compose(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == "message" and isinstance(value, yaml.ScalarNode):
                        yield str(path.relative_to(ROOT)), value.start_mark.line + 1, value.value
                    else:
                        stack.append(value)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)


def template() -> Catalog:
    """Every text people may read, as a catalogue with no translations (the .pot)."""
    catalog = Catalog(project="netvigil", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message in [*_python_messages(), *_rule_messages()]:
        if not message or (isinstance(message, tuple) and not all(message)):
            continue
        catalog.add(message, locations=[(filename, lineno)], flags=("python-brace-format",))
    return catalog


def updated(language: str, pot: Catalog) -> Catalog:
    path = po_path(language)
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language, domain=DOMAIN)
    else:
        catalog = Catalog(locale=language, domain=DOMAIN, project="netvigil", version="1", charset="utf-8",
                          copyright_holder="the netvigil maintainers", msgid_bugs_address="",
                          last_translator="the netvigil maintainers", language_team="the netvigil maintainers",
                          header_comment=f"# {language} translations of what netvigil shows people.",
                          fuzzy=False)
    # No fuzzy matching: a guessed translation of a similar text is worse than an obvious gap.
    catalog.update(pot, no_fuzzy_matching=True, update_header_comment=False, update_creation_date=False)
    catalog.obsolete.clear()
    # A fuzzy header is left out of the .mo, and with it Plural-Forms: ngettext would then pick
    # an English plural index the catalogue does not have and fall back to English.
    catalog.fuzzy = False
    return catalog


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    # Sorted and without line numbers: moving code does not churn the file translators edit.
    write_po(out, catalog, width=100, sort_output=True, include_lineno=False, ignore_obsolete=True)
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _entries(catalog: Catalog) -> dict:
    return {message.id: (message.string, message.fuzzy) for message in catalog if message.id}


def _compiled(mo: bytes) -> dict:
    translations = gettext.GNUTranslations(io.BytesIO(mo))
    return {key: value for key, value in translations._catalog.items() if key != ""}  # "" is the header


def _fields(text: str) -> set[str]:
    try:
        return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def problems(language: str, catalog: Catalog) -> list[str]:
    found = []
    where = po_path(language).relative_to(ROOT)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        shown = ids[0]
        if not all(strings):
            found.append(f"{where}: no {language} translation of {shown!r}")
        elif message.fuzzy:
            found.append(f"{where}: the {language} translation of {shown!r} is marked fuzzy; check it and "
                         "remove the flag")
        else:
            expected = set().union(*(_fields(i) for i in ids))
            for text in strings:
                if _fields(text) != expected:
                    found.append(f"{where}: the {language} translation of {shown!r} has the fields "
                                 f"{sorted(_fields(text))}, the English {sorted(expected)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    pot = template()
    failures = []
    for language in LANGUAGES:
        catalog = updated(language, pot)
        po, mo = po_bytes(catalog), mo_bytes(catalog)
        po_file, mo_file = po_path(language), po_path(language).with_suffix(".mo")
        if args.check:
            # Compared by content, not bytes: another Babel version writes other header lines.
            if not po_file.exists() or _entries(read_po(io.BytesIO(po_file.read_bytes()))) != _entries(catalog):
                failures.append(f"{po_file.relative_to(ROOT)} is not up to date with the sources; "
                                "run python scripts/i18n.py")
            if not mo_file.exists() or _compiled(mo_file.read_bytes()) != _compiled(mo):
                failures.append(f"{mo_file.relative_to(ROOT)} is not the compiled .po; run python scripts/i18n.py")
        else:
            po_file.parent.mkdir(parents=True, exist_ok=True)
            po_file.write_bytes(po)
            mo_file.write_bytes(mo)
        failures += problems(language, catalog)
    for failure in failures:
        print(failure, file=sys.stderr)
    if not args.check:
        print(f"{len(pot)} texts; catalogues written under {LOCALE_DIR.relative_to(ROOT)}"
              + (f"; {len(failures)} to translate or fix (listed above)" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

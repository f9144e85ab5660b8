"""The language people read: Chinese (zh-CN) or English (en), through gettext catalogues.

What a person reads (alert and rule messages, notification texts, command headings and states,
reports, dashboard titles) is written in English in the code and translated through the
standard gettext machinery: the catalogue `monitor/locale/zh_CN/LC_MESSAGES/netvigil.po`,
compiled to the `.mo` next to it that the stdlib's `gettext` reads at run time. English needs no
catalogue (the source strings are English). Babel is the tool that extracts, updates and
compiles the catalogues (`python scripts/i18n.py`), not a run-time dependency.

How to use it in a module:

- `_("text")` where the text is used (at render time), so the language in force then applies.
- `N_("text")` for a module-level constant or a table of texts: it only marks the text for
  extraction and returns it unchanged; translate it with `_(CONSTANT)` where it is shown.
- `ngettext(singular, plural, n)` for texts that change with a number.
- Placeholders are `str.format` fields (`"{device} is down"`), never `%` or f-strings: the
  translation must keep the same fields (a test checks every entry), and an f-string would
  translate nothing because the text differs on every call.
- Then run `python scripts/i18n.py` (extracts every marked text, the shipped rules' messages
  and the dashboards' titles, updates the `.po`), translate the new `msgstr ""` entries in the
  `.po`, and run it again to compile the `.mo`. `tests/unit/test_i18n.py` fails while any
  text lacks a Chinese translation, so nothing falls back to English silently in zh-CN.

One language per process: the daemon and each command set it once from the `language` setting
(`zh-CN` or `en`; by default from the locale, `LC_ALL`/`LC_MESSAGES`/`LANG` starting with `zh`
meaning Chinese). Tests switch with `using(language)`.
"""

from __future__ import annotations

import gettext
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

DOMAIN = "netvigil"
LOCALE_DIR = Path(__file__).with_name("locale")
SUPPORTED = ("zh-CN", "en")
# The catalogue folder of each language, in gettext's spelling (underscore, not hyphen).
_CATALOGUE = {"zh-CN": "zh_CN"}
_ALIASES = {"zh": "zh-CN", "zh-cn": "zh-CN", "zh_cn": "zh-CN", "zh-hans": "zh-CN", "en": "en", "en-us": "en",
            "en_us": "en", "en-gb": "en", "en_gb": "en"}

_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


class UnknownLanguage(ValueError):
    pass


def normalise(value: str) -> str:
    """'zh-CN', 'zh_CN', 'zh' -> 'zh-CN'; 'en', 'en_US' -> 'en'; anything else raises
    UnknownLanguage with a sentence naming the choices."""
    code = _ALIASES.get(value.strip().lower())
    if code is None:
        raise UnknownLanguage(f"unknown language '{value}'; use one of: {', '.join(SUPPORTED)}")
    return code


def from_locale(environ: Optional[dict] = None) -> str:
    """The language the machine's locale asks for: Chinese when the first of LC_ALL,
    LC_MESSAGES, LANG that is set starts with 'zh', English otherwise (C, POSIX, en_*, others
    we have no catalogue for)."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return "zh-CN" if value.lower().startswith("zh") else "en"
    return "en"


def _load(code: str) -> gettext.NullTranslations:
    folder = _CATALOGUE.get(code)
    if folder is None:
        return gettext.NullTranslations()
    # fallback=False: a missing compiled catalogue is a packaging fault that must show, not a
    # silent switch to English.
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[folder], fallback=False)


def set_language(value: Optional[str]) -> str:
    """Make `value` (or, when None, the locale's language) the language of this process;
    returns the normalised code."""
    global _translations, _language
    code = from_locale() if value is None else normalise(value)
    _translations = _load(code)
    _language = code
    return code


def language() -> str:
    return _language


@contextmanager
def using(value: Optional[str]) -> Iterator[str]:
    """The language `value` inside the block (tests, a report rendered in another language)."""
    global _translations, _language
    saved = _translations, _language
    try:
        yield set_language(value)
    finally:
        _translations, _language = saved


def _(message: str) -> str:
    return _translations.gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a text for extraction; translated where shown, with `_()`."""
    return message

"""Words in the user's language, through the standard gettext machinery.

explain and gradcheck speak English or Chinese (`--lang zh`, or LC_ALL / LC_MESSAGES / LANG
starting with `zh`); numbers, formulas and JSON never change. The catalog is
locale/zh/LC_MESSAGES/nnctl.po; the .mo beside it is compiled from it by `python -m
nnctl.i18n.msgfmt` (a test checks it is up to date).
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Callable
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "nnctl"
LANGUAGES = ("en", "zh")


def language(lang: str | None = None) -> str:
    """The language asked for: --lang, else the first of LC_ALL, LC_MESSAGES, LANG that is set."""
    from nnctl.errors import UsageError

    if lang is not None:
        lang = lang.strip().lower()
        if lang.split("_")[0] not in LANGUAGES:
            raise UsageError(f"--lang: expected one of {', '.join(LANGUAGES)}, got {lang!r}")
        return lang.split("_")[0]
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def translator(lang: str | None = None) -> Callable[[str], str]:
    """`_(msgid)` for the language: the catalog's text, or the English msgid itself."""
    if language(lang) == "en":
        return lambda text: text
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=["zh"], fallback=True).gettext

"""Translations: gettext catalogs (Babel) per language, compiled from the .po files when first used."""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from kernel.settings import LANGUAGES

LOCALES = Path(__file__).with_name("locales")
DOMAIN = "messages"


@cache
def translator(language: str) -> gettext.NullTranslations:
    """The catalog for a language; unknown languages get the first of LANGUAGES."""
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    with open(LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def pick_language(telegram_code: str | None, default: str) -> str:
    """The language to greet a new user in, from Telegram's language_code ("vi", "en-US", ...)."""
    code = (telegram_code or "").split("-")[0].lower()
    return code if code in LANGUAGES else default

"""Every user-facing string has a Vietnamese and an English translation, and the catalogs
match the code: a string added, changed or removed in the code without `make messages` fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from kernel.i18n import LOCALES
from kernel.settings import LANGUAGES

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def messages_in_code() -> set[str]:
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        found.add(message if isinstance(message, str) else message[0])
    return found


def key(message_id) -> str:
    """A plural entry ("{count} day", "{count} days") is known by its singular."""
    return message_id if isinstance(message_id, str) else message_id[0]


def forms(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def catalog(language: str):
    with open(LOCALES / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def test_the_code_has_strings_to_translate():
    assert len(messages_in_code()) > 20


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_in_the_code_is_translated(language):
    entries = {key(m.id): m for m in catalog(language) if m.id}
    missing = sorted(messages_in_code() - entries.keys())
    assert not missing, f"{language}: not in the catalog (run `make messages`): {missing}"
    empty = sorted(i for i, m in entries.items() if not all(forms(m.string)) or m.fuzzy)
    assert not empty, f"{language}: untranslated or fuzzy: {empty}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_has_nothing_the_code_no_longer_says(language):
    stale = sorted({key(m.id) for m in catalog(language) if m.id} - messages_in_code())
    assert not stale, f"{language}: no longer in the code (run `make messages`): {stale}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language):
    for message in catalog(language):
        if message.id and message.string:
            for form in forms(message.string):
                assert sorted(PLACEHOLDER.findall(key(message.id))) == sorted(PLACEHOLDER.findall(form)), message.id


def test_vietnamese_is_written_with_its_diacritics():
    texts = " ".join(form for m in catalog("vi") if m.id for form in forms(m.string))
    assert re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", texts)

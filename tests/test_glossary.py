"""One word per thing: the catalogs use the words of docs/GLOSSARY.md and none of the words it
rejects. The table is read from the document itself, so a term added there is checked at once;
a failure names the term, the word, the file and the entry."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "GLOSSARY.md"
CATALOGS = ROOT / "kernel" / "locales"
COLUMNS = ("Term", "English", "Vietnamese", "Not in English", "Not in Vietnamese", "Fine in")
QUOTED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Term:
    name: str
    words: dict[str, list[str]]  # language -> the words to use
    rejected: dict[str, list[str]]  # language -> the words not to use
    fine: list[str]  # phrases in which a rejected word is allowed


def fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def glossary() -> list[Term]:
    """The rows of the table whose header is COLUMNS."""
    terms, inside = [], False
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if tuple(cells) == COLUMNS:
            inside = True
            continue
        if not inside or set(line.strip()) <= {"|", "-", " "}:
            if inside and not line.strip():
                break
            continue
        name, english, vietnamese, not_en, not_vi, fine = cells
        terms.append(Term(name, {"en": QUOTED.findall(english), "vi": QUOTED.findall(vietnamese)},
                          {"en": QUOTED.findall(not_en), "vi": QUOTED.findall(not_vi)}, QUOTED.findall(fine)))
    return terms


def entries(language: str) -> list[tuple[str, str]]:
    """(msgid, msgstr) of the language's catalog, plural forms joined."""
    path = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = []
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else " ".join(message.id)
        msgstr = message.string if isinstance(message.string, str) else " ".join(message.string)
        found.append((msgid, msgstr))
    return found


def word(phrase: str) -> re.Pattern:
    return re.compile(r"(?<!\w)" + re.escape(fold(phrase)) + r"(?!\w)")


def uses(text: str, rejected: str, allowed: list[str]) -> bool:
    """Whether `text` uses the word `rejected` outside the allowed phrases that contain it (the
    term's own words and its "Fine in": "chấp nhận được" is not "chấp nhận")."""
    text = fold(text)
    excused = [(m.start(), m.end()) for phrase in allowed if fold(rejected) in fold(phrase)
               for m in word(phrase).finditer(text)]
    return any(not any(start <= m.start() and m.end() <= end for start, end in excused)
               for m in word(rejected).finditer(text))


def violations(terms: list[Term]) -> list[str]:
    found = []
    for language in ("vi", "en"):
        where = f"kernel/locales/{language}/LC_MESSAGES/messages.po"
        for msgid, msgstr in entries(language):
            # The English msgids are the source text: they are checked with the English catalog.
            texts = [("msgstr", msgstr)] + ([("msgid", msgid)] if language == "en" else [])
            for term in terms:
                for field, text in texts:
                    for rejected in term.rejected[language]:
                        if uses(text, rejected, term.words[language] + term.fine):
                            found.append(f"“{term.words['en'][0]}” ({term.name}): “{rejected}” in {where}, {field} "
                                         f"of {msgid!r}: {text!r}; docs/GLOSSARY.md says "
                                         f"{' / '.join(term.words[language])}")
    return found


def test_the_glossary_is_read_whole():
    terms = glossary()
    assert len(terms) >= 25, [t.name for t in terms]
    for term in terms:
        assert term.words["en"] and term.words["vi"], f"{term.name}: a word in each language"
        for language, rejected in term.rejected.items():
            for chosen in term.words[language]:
                assert fold(chosen) not in map(fold, rejected), f"{term.name}: “{chosen}” is both used and rejected"


def test_the_catalogs_use_the_glossarys_words():
    problems = violations(glossary())
    assert not problems, f"{len(problems)} words the glossary rejects:\n" + "\n".join(problems)


def test_a_rejected_word_is_found_and_excused_only_inside_an_allowed_phrase():
    """The check itself, on the glossary's own terms."""
    terms = {term.words["en"][0]: term for term in glossary()}

    def flagged(key: str, text: str, rejected: str, language: str = "vi") -> bool:
        term = terms[key]
        return uses(text, rejected, term.words[language] + term.fine)

    assert flagged("tap", "Chạm để thêm", "chạm") and not flagged("tap", "Bấm để thêm", "chạm")
    assert flagged("alert", "Ngừng nhận thông báo", "thông báo")
    assert not flagged("alert", "Người dân đang được thông báo.", "thông báo")
    assert flagged("alert", "Người dân đang được thông báo; thông báo mới", "thông báo"), "the second one is rejected"
    assert flagged("alert", "Bạn vẫn nhận được thông báo", "thông báo")
    assert not flagged("rating", "😐 Chấp nhận được", "chấp nhận") and flagged("rating", "😐 Chấp nhận", "chấp nhận")
    assert flagged("deadline", "Thời hạn xử lý dự kiến", "thời hạn"), "an allowed word hides no longer rejected one"
    assert flagged("Severe", "Serious alerts", "serious", "en")
    assert not flagged("Severe", "How serious is it?", "serious", "en")

"""Folding text for search: the one way Loa compares what people type with what it keeps."""

from __future__ import annotations

import re
import unicodedata

# A word is a run of letters and digits; any other sign but a space is a word of its own.
_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")


def fold(text: str) -> str:
    """`text` without case or diacritics, đ as d: "Đội Cấn", "ĐỘI CẤN" and "doi can" all give
    "doi can". Everything else (spaces, punctuation, digits) is kept as it is."""
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.replace("đ", "d").replace("ð", "d")


def words(text: str) -> list[str]:
    """The folded words of `text`, each sign other than a letter, digit or space one on its own:
    "Ngõ 5/2, Đội Cấn" gives ["ngo", "5", "/", "2", ",", "doi", "can"]."""
    return _WORD.findall(fold(text))

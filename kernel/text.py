"""Folding text for search: the one way Loa compares what people type with what it keeps."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """`text` without case or diacritics, đ as d: "Đội Cấn", "ĐỘI CẤN" and "doi can" all give
    "doi can". Everything else (spaces, punctuation, digits) is kept as it is."""
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.replace("đ", "d").replace("ð", "d")

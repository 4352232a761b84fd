"""Message entities: UTF-16 offsets, the entities Telegram finds by itself, trimming, ordering."""

from __future__ import annotations

import re

WHITESPACE = " \t\r\n"

# Telegram's link detector checks top-level domains against a list; these cover the usual cases.
_TLDS = "com|org|net|vn|io|gov|edu|info|me|ru|uk|de|fr|app|dev|co|int|biz|online|site|xyz|tv"
_PATTERNS = [
    ("email", r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}\b"),
    ("url", r"(?<![\w@/.])(?:(?:[hH][tT][tT][pP][sS]?|[fF][tT][pP])://[^\s<>\"]+|(?:[wW]{3}\.)?(?:[\w-]+\.)+"
            r"(?i:" + _TLDS + r")\b(?::\d{1,5})?(?:/[^\s<>\"]*)?)"),
    ("bot_command", r"(?<![\w/\\.<>])/[a-zA-Z0-9_]{1,64}(?:@[a-zA-Z0-9_]{3,32})?(?![\w/<>])"),
    ("mention", r"(?<![\w@])@[a-zA-Z0-9_]{3,32}\b"),
    ("hashtag", r"(?<![\w#])#\w*[^\W\d]\w*"),
    ("cashtag", r"(?<![\w$])\$[A-Z]{3,8}\b"),
]
# One pass over the text: at each position the first kind that matches wins.
_DETECTOR = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _PATTERNS))
_TRAILING_PUNCTUATION = ".,:;!?)]}'\""
_DETECTABLE = re.compile(r"[/@#$.:]")


def utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_offsets(text: str) -> list[int]:
    """offsets[i] is the UTF-16 offset of text[i]; offsets[len(text)] is the total length."""
    offsets = [0] * (len(text) + 1)
    position = 0
    for index, ch in enumerate(text):
        offsets[index] = position
        position += 2 if ord(ch) > 0xFFFF else 1
    offsets[len(text)] = position
    return offsets


def detect_entities(text: str) -> list[dict]:
    """The entities Telegram adds to any message text by itself: commands, mentions, links..."""
    if not _DETECTABLE.search(text):
        return []
    found: list[tuple[int, int, str]] = []
    for match in _DETECTOR.finditer(text):
        kind = match.lastgroup
        start, end = match.span()
        if kind == "url":
            while end > start and text[end - 1] in _TRAILING_PUNCTUATION:
                end -= 1
        found.append((start, end, kind))
    if not found:
        return []
    offsets = utf16_offsets(text) if not text.isascii() else None
    if offsets is None:
        return [{"offset": start, "length": end - start, "type": kind} for start, end, kind in found]
    return [
        {"offset": offsets[start], "length": offsets[end] - offsets[start], "type": kind}
        for start, end, kind in found
    ]


def merge_detected(text: str, entities: list[dict]) -> list[dict]:
    """Add detected entities that do not overlap code, pre or links the sender marked up."""
    detected = detect_entities(text)
    if not detected:
        return entities
    blocking = [e for e in entities if e["type"] in ("code", "pre", "text_link", "text_mention", "url")]
    for entity in detected:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if not any(start < b["offset"] + b["length"] and b["offset"] < end for b in blocking):
            entities.append(entity)
    return sort_entities(entities)


_TYPE_ORDER = {
    "blockquote": 0, "expandable_blockquote": 0, "pre": 1, "code": 1, "text_link": 2, "url": 2,
    "text_mention": 2, "mention": 2, "bold": 3, "italic": 4, "underline": 5, "strikethrough": 6,
    "spoiler": 7, "custom_emoji": 8,
}


def sort_entities(entities: list[dict]) -> list[dict]:
    entities.sort(key=lambda e: (e["offset"], -e["length"], _TYPE_ORDER.get(e["type"], 9)))
    return entities


def trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Strip surrounding whitespace as Telegram does, keeping entities on the same characters."""
    stripped_left = text.lstrip(WHITESPACE)
    result = stripped_left.rstrip(WHITESPACE)
    if result == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(stripped_left)])
    limit = utf16_len(result)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, kept

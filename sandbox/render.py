"""A Telegram message's text as HTML for the web chat: plain text and its entities (offsets in
UTF-16 code units, as the Bot API counts them), never the markup the bot sent, so that what the
page shows is what Telegram would show and every character of the text is escaped."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

# Entity type -> the tag that shows it; links are made apart.
_TAGS = {
    "bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "spoiler": "mark",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "expandable_blockquote": "blockquote",
}
_SCHEMES = ("http://", "https://", "tg://")


def _units(text: str) -> list[str]:
    """The text cut into UTF-16 code units' worth of characters: a character outside the BMP
    takes two slots, the second empty, so that offsets index this list directly."""
    units: list[str] = []
    for char in text:
        units.append(char)
        if ord(char) > 0xFFFF:
            units.append("")
    return units


def _opening(entity: dict, segment: str) -> tuple[str, str] | None:
    kind = entity.get("type")
    if kind in _TAGS:
        tag = _TAGS[kind]
        return f"<{tag}>", f"</{tag}>"
    url = entity.get("url") if kind == "text_link" else segment if kind == "url" else None
    if url and url.lower().startswith(_SCHEMES):
        return f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">', "</a>"
    return None


def message_html(text: str | None, entities: list[dict] | None) -> Markup:
    """`text` with its formatting and links, escaped; newlines are kept for `white-space: pre-wrap`."""
    if not text:
        return Markup("")
    units = _units(text)
    spans = sorted((e for e in entities or () if e.get("length", 0) > 0),
                   key=lambda e: (e["offset"], -e["length"]))
    cuts = sorted({0, len(units), *(e["offset"] for e in spans), *(e["offset"] + e["length"] for e in spans)})
    out: list[str] = []
    for start, end in zip(cuts, cuts[1:]):
        segment = "".join(units[start:end])
        # Each piece is wrapped in every entity covering it, outermost first: overlapping
        # entities then never produce crossed tags.
        wrappers = []
        for entity in spans:
            if entity["offset"] <= start and end <= entity["offset"] + entity["length"]:
                whole = "".join(units[entity["offset"]:entity["offset"] + entity["length"]])
                tags = _opening(entity, whole)
                if tags:
                    wrappers.append(tags)
        out.append("".join(o for o, _ in wrappers) + escape(segment) + "".join(c for _, c in reversed(wrappers)))
    return Markup("".join(out))

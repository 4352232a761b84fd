"""Message text and captions as the Bot API reads them: parse mode or explicit entities, then
trimming, the entities Telegram finds by itself, and the length limits (counted after parsing)."""

from __future__ import annotations

from emulator import limits
from emulator.entities import merge_detected, sort_entities, trim, utf16_len
from emulator.errors import ApiError, bad_request
from emulator.html_entities import EntityParseError, parse_html, strip_private_keys
from emulator.markdown import parse_markdown, parse_markdown_v2
from emulator.params import Params

_PARSERS = {"html": parse_html, "markdown": parse_markdown, "markdownv2": parse_markdown_v2}
ENTITY_TYPES = frozenset({
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold", "italic",
    "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote", "code", "pre",
    "text_link", "text_mention", "custom_emoji", "bank_card_number",
})


class Formatted:
    """Plain text with its entities, and the raw text the bot sent."""

    __slots__ = ("text", "entities", "raw")

    def __init__(self, text: str, entities: list[dict], raw: str):
        self.text = text
        self.entities = entities
        self.raw = raw


def _explicit_entities(value: object, text: str) -> list[dict]:
    if not isinstance(value, list):
        return []
    limit = utf16_len(text)
    result = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("can't parse MessageEntity: expected an Object")
        kind = item.get("type")
        if not kind:
            raise bad_request("can't parse MessageEntity: Type is not specified")
        if kind not in ENTITY_TYPES:
            raise bad_request("can't parse MessageEntity: Unsupported type specified")
        try:
            offset, length = int(item["offset"]), int(item["length"])
        except (KeyError, TypeError, ValueError):
            raise bad_request("can't parse MessageEntity: Field \"offset\" must be a valid Number") from None
        if kind in ("mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number",
                    "bank_card_number"):
            continue  # Telegram finds these by itself
        start, end = max(offset, 0), min(offset + length, limit)
        if end <= start:
            continue
        entity = {k: v for k, v in item.items() if k not in ("offset", "length")}
        entity.update(offset=start, length=end - start)
        if kind == "text_link":
            if not item.get("url"):
                raise bad_request("can't parse MessageEntity: Field \"url\" must be of type String")
        result.append(entity)
    return result


def format_text(raw: str, parse_mode: str, entities: object, users: dict[int, dict] | None = None
                ) -> tuple[str, list[dict]]:
    mode = parse_mode.lower()
    if raw and mode and mode != "none":
        parser = _PARSERS.get(mode)
        if parser is None:
            raise bad_request("unsupported parse_mode")
        try:
            text, found = parser(raw, users)
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
        strip_private_keys(found)
    else:
        text, found = raw, _explicit_entities(entities, raw)
    text, found = trim(text, found)
    return text, merge_detected(text, sort_entities(found))


def message_text(params: Params, users: dict[int, dict] | None = None) -> Formatted:
    raw = params.str("text")
    if not raw:
        raise bad_request("message text is empty")
    text, entities = format_text(raw, params.str("parse_mode"), _entities_param(params, "entities"), users)
    if not text:
        raise bad_request("message must be non-empty")
    if utf16_len(text) > limits.TEXT_MAX:
        raise bad_request("message is too long")
    return Formatted(text, entities, raw)


def caption_from(raw: str, parse_mode: str, entities: object, users: dict[int, dict] | None = None
                 ) -> Formatted | None:
    if not raw:
        return None
    text, found = format_text(raw, parse_mode, entities, users)
    if utf16_len(text) > limits.CAPTION_MAX:
        raise bad_request("message caption is too long")
    return Formatted(text, found, raw) if text else None


def caption(params: Params, users: dict[int, dict] | None = None) -> Formatted | None:
    return caption_from(params.str("caption"), params.str("parse_mode"),
                        _entities_param(params, "caption_entities"), users)


def _entities_param(params: Params, name: str) -> object:
    # Telegram ignores an entities parameter that is not valid JSON.
    try:
        return params.json(name, "entities")
    except ApiError:
        return None

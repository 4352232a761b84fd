"""A strict parser of Telegram's HTML subset, with Telegram's error texts.

It follows the Bot API server's parser (TDLib's parse_html): supported tags only, attributes
quoted or as name tokens, the four named character references (the ';' is optional) and numeric
ones, and errors that name the UTF-8 byte offset of the offending '<'. The result is the plain
text and the entities, with offsets and lengths in UTF-16 code units.
"""

from __future__ import annotations

import re

SUPPORTED_TAGS = frozenset({
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji",
    "span", "pre", "code", "blockquote",
})
_SIMPLE = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "s": "strikethrough",
    "strike": "strikethrough", "del": "strikethrough", "u": "underline", "ins": "underline",
    "tg-spoiler": "spoiler", "span": "spoiler",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACE = " \t\r\n\v\x00"
_USER_LINK = re.compile(r"^tg://user\?id=(\d+)$", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_HOST_PORT = re.compile(r"^[\w.-]+:\d+(?:[/?#]|$)")
_HOST_TAIL = re.compile(r"^([^/?#]*)(.*)$", re.DOTALL)
_HOST = re.compile(r"^[\w.-]+\.[\w-]{2,}(?::\d{1,5})?$|^localhost(?::\d{1,5})?$|^\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?$")


class EntityParseError(ValueError):
    """The text after "can't parse entities: " in Telegram's answer."""


def decode_entity(text: str, pos: int) -> tuple[str | None, int]:
    """Decode the character reference at text[pos] == '&': (character, next position) or (None, pos)."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
                if value >= 0x10FFFF:
                    return None, pos
        else:
            while end < n and text[end].isascii() and text[end].isdigit():
                value = value * 10 + int(text[end])
                end += 1
                if value >= 0x10FFFF:
                    return None, pos
        if value == 0 or 0xD800 <= value <= 0xDFFF:
            return None, pos
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        char = _NAMED.get(text[pos + 1:end])
        if char is None:
            return None, pos
    if end < n and text[end] == ";":
        end += 1
    return char, end


def normalize_link(url: str) -> str | None:
    """The URL Telegram stores for a text link, or None when Telegram would drop the link."""
    url = url.strip()
    if not url or any(ch in url for ch in " \t\r\n"):
        return None
    match = _SCHEME.match(url)
    if match and not _HOST_PORT.match(url):
        scheme = match.group(1).lower()
        if scheme in ("tg", "ton", "tonsite"):
            return url
        if scheme not in ("http", "https", "ftp") or url[match.end():match.end() + 2] != "//":
            return None
        rest = url[match.end() + 2:]
    else:
        scheme, rest = "http", url
    host, tail = _HOST_TAIL.match(rest).groups()
    if not _HOST.match(host):
        return None
    if not tail.startswith("/"):
        tail = "/" + tail
    return f"{scheme}://{host}{tail}"


class _Open:
    __slots__ = ("tag", "argument", "offset", "text_start")

    def __init__(self, tag: str, argument: str, offset: int, text_start: int):
        self.tag = tag
        self.argument = argument
        self.offset = offset
        self.text_start = text_start


def parse_html(text: str, users: dict[int, dict] | None = None) -> tuple[str, list[dict]]:
    """Parse `text`; `users` resolves tg://user?id= links to the user objects of text_mention."""
    out: list[str] = []
    utf16 = 0
    entities: list[dict] = []
    stack: list[_Open] = []
    n = len(text)
    i = 0

    def at_byte(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    def char(index: int) -> str:
        return text[index] if index < n else "\x00"

    while i < n:
        c = text[i]
        if c == "&":
            decoded, after = decode_entity(text, i)
            if decoded is not None:
                out.append(decoded)
                utf16 += 2 if ord(decoded) > 0xFFFF else 1
                i = after
                continue
        if c != "<":
            out.append(c)
            utf16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue

        begin = i
        i += 1
        if char(i) != "/":
            while char(i) not in _SPACE and char(i) != ">":
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {at_byte(begin)}")
            tag = text[begin + 1:i].lower()
            if tag not in SUPPORTED_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {at_byte(begin)}')
            argument = ""
            while char(i) != ">":
                while i < n and char(i) in _SPACE:
                    i += 1
                if char(i) == ">":
                    break
                name_start = i
                while char(i) not in _SPACE and char(i) not in "=>":
                    i += 1
                name = text[name_start:i].lower()
                if not name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {at_byte(name_start)}'
                    )
                while i < n and char(i) in _SPACE:
                    i += 1
                if char(i) != "=":
                    if tag == "blockquote" and name == "expandable":
                        argument = "1"
                        continue
                    if i >= n:
                        raise EntityParseError(f"Unclosed start tag at byte offset {at_byte(begin)}")
                    raise EntityParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {at_byte(begin)}"
                    )
                i += 1
                while i < n and char(i) in _SPACE:
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {at_byte(begin)}")
                if char(i) not in "'\"":
                    token_start = i
                    while char(i).isascii() and (char(i).isalnum() or char(i) in ".-"):
                        i += 1
                    value = text[token_start:i].lower()
                    if char(i) not in _SPACE and char(i) != ">":
                        raise EntityParseError(f"Unexpected end of name token at byte offset {at_byte(token_start)}")
                else:
                    quote = text[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and text[i] != quote:
                        if text[i] == "&":
                            decoded, after = decode_entity(text, i)
                            if decoded is not None:
                                chars.append(decoded)
                                i = after
                                continue
                        chars.append(text[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {at_byte(begin)}")
                if tag == "a" and name == "href":
                    argument = value
                elif tag == "code" and name == "class" and value.startswith("language-"):
                    argument = value[len("language-"):]
                elif tag == "span" and name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-"):]
                elif tag == "tg-emoji" and name == "emoji-id":
                    argument = value
                elif tag == "blockquote" and name == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at_byte(begin)}')
            stack.append(_Open(tag, argument, utf16, len(out)))
            i += 1
            continue

        # an end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {at_byte(begin)}")
        i += 1
        name_start = i
        while char(i) not in _SPACE and char(i) != ">":
            i += 1
        end_tag = text[name_start:i].lower()
        while i < n and char(i) in _SPACE:
            i += 1
        if char(i) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {at_byte(begin)}")
        opened = stack[-1]
        if end_tag and end_tag != opened.tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {at_byte(begin)}, expected "</{opened.tag}>", '
                f'found "</{end_tag}>"'
            )
        i += 1
        stack.pop()
        length = utf16 - opened.offset
        if length == 0:
            continue
        entity = _entity(opened, length, "".join(out[opened.text_start:]), entities, stack, users)
        if entity is not None:
            entities.append(entity)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return "".join(out), entities


def _entity(opened: _Open, length: int, inner: str, entities: list[dict], stack: list[_Open],
            users: dict[int, dict] | None) -> dict | None:
    tag, offset = opened.tag, opened.offset
    if tag in _SIMPLE:
        return {"offset": offset, "length": length, "type": _SIMPLE[tag]}
    if tag == "a":
        url = opened.argument or inner
        user_link = _USER_LINK.match(url.strip())
        if user_link:
            user = (users or {}).get(int(user_link.group(1)))
            if user is None:
                return None
            return {"offset": offset, "length": length, "type": "text_mention", "user": user}
        normalized = normalize_link(url)
        if normalized is None:
            return None
        return {"offset": offset, "length": length, "type": "text_link", "url": normalized}
    if tag == "pre":
        last = entities[-1] if entities else None
        if (last is not None and last["type"] == "code" and last["offset"] == offset
                and last["length"] == length and last.get("_language")):
            last["type"] = "pre"
            last["language"] = last.pop("_language")
            return None
        return {"offset": offset, "length": length, "type": "pre"}
    if tag == "code":
        entity = {"offset": offset, "length": length, "type": "code"}
        if opened.argument and stack and stack[-1].tag == "pre":
            entity["_language"] = opened.argument
        return entity
    if tag == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        return {"offset": offset, "length": length, "type": "custom_emoji", "custom_emoji_id": opened.argument}
    if tag == "blockquote":
        kind = "expandable_blockquote" if opened.argument else "blockquote"
        return {"offset": offset, "length": length, "type": kind}
    return None


def strip_private_keys(entities: list[dict]) -> list[dict]:
    for entity in entities:
        entity.pop("_language", None)
    return entities

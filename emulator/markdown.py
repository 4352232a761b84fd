"""Telegram's Markdown and MarkdownV2 parse modes, after the Bot API server's parsers.

Errors carry Telegram's texts (the part after "can't parse entities: "); offsets in them are
UTF-8 byte offsets, entity offsets are UTF-16 code units.
"""

from __future__ import annotations

from emulator.html_entities import EntityParseError, normalize_link

_USER_PREFIX = "tg://user?id="
_EMOJI_PREFIX = "tg://emoji?id="
_TYPE_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
    "spoiler": "Spoiler", "text_link": "TextUrl", "code": "Code", "pre": "Pre", "custom_emoji": "CustomEmoji",
}
_V2_RESERVED = "_*[]()~`>#+-=|{}.!"


def _width(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _link_entity(url: str, offset: int, length: int, users: dict[int, dict] | None) -> dict | None:
    if url.lower().startswith(_USER_PREFIX) and url[len(_USER_PREFIX):].isdigit():
        user = (users or {}).get(int(url[len(_USER_PREFIX):]))
        return None if user is None else {"offset": offset, "length": length, "type": "text_mention", "user": user}
    normalized = normalize_link(url)
    if normalized is None:
        return None
    return {"offset": offset, "length": length, "type": "text_link", "url": normalized}


def parse_markdown(text: str, users: dict[int, dict] | None = None) -> tuple[str, list[dict]]:
    """Legacy Markdown: *bold* _italic_ `code` ```pre``` [text](url); '\\' escapes _*`[."""
    out: list[str] = []
    entities: list[dict] = []
    utf16 = 0
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            utf16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            utf16 += _width(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        i += 1
        is_pre = False
        language = ""
        if c == "`" and text[i:i + 2] == "``":
            i += 2
            is_pre = True
            lang_end = i
            while lang_end < n and text[lang_end] not in " \t\r\n`":
                lang_end += 1
            if i != lang_end and lang_end < n and text[lang_end] != "`":
                language = text[i:lang_end]
                i = lang_end
            if i < n and text[i] in "\r\n":
                i += 1
        start_out, start_utf16 = len(out), utf16
        while i < n and (text[i] != end_char or (is_pre and text[i + 1:i + 3] != "``")):
            out.append(text[i])
            utf16 += _width(text[i])
            i += 1
        if i >= n:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {len(text[:begin].encode())}"
            )
        length = utf16 - start_utf16
        entity: dict | None = None
        if c == "[":
            url = "".join(out[start_out:])
            if i + 1 < n and text[i + 1] == "(":
                i += 2
                url_chars = []
                while i < n and text[i] != ")":
                    url_chars.append(text[i])
                    i += 1
                url = "".join(url_chars)
            if length:
                entity = _link_entity(url, start_utf16, length, users)
        elif length:
            kind = {"_": "italic", "*": "bold"}.get(c, "pre" if is_pre else "code")
            entity = {"offset": start_utf16, "length": length, "type": kind}
            if language:
                entity["language"] = language
        if entity:
            entities.append(entity)
        if is_pre:
            i += 2
        i += 1
    return "".join(out), entities


class _Open:
    __slots__ = ("kind", "argument", "offset", "byte_offset", "text_start")

    def __init__(self, kind: str, argument: str, offset: int, byte_offset: int, text_start: int):
        self.kind = kind
        self.argument = argument
        self.offset = offset
        self.byte_offset = byte_offset
        self.text_start = text_start


def parse_markdown_v2(text: str, users: dict[int, dict] | None = None) -> tuple[str, list[dict]]:
    out: list[str] = []
    entities: list[dict] = []
    stack: list[_Open] = []
    utf16 = 0
    n = len(text)
    i = 0
    quote_start: int | None = None

    def at(index: int) -> str:
        return text[index] if index < n else ""

    def reserved(ch: str) -> EntityParseError:
        return EntityParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")

    def end_quote() -> None:
        nonlocal quote_start
        end = utf16 - 1 if out and out[-1] == "\n" else utf16
        if quote_start is not None and end > quote_start:
            entities.append({"offset": quote_start, "length": end - quote_start, "type": "blockquote"})
        quote_start = None

    while i < n:
        c = text[i]
        line_start = i == 0 or text[i - 1] == "\n"
        if line_start and not stack:
            if c == ">":
                if quote_start is None:
                    quote_start = utf16
                i += 1
                continue
            end_quote()
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            utf16 += 1
            i += 2
            continue
        in_code = bool(stack) and stack[-1].kind in ("code", "pre")
        if c not in ("`" if in_code else _V2_RESERVED):
            out.append(c)
            utf16 += _width(c)
            i += 1
            continue
        top = stack[-1].kind if stack else None
        closes = (
            (top == "bold" and c == "*")
            or (top == "italic" and c == "_" and at(i + 1) != "_")
            or (top == "code" and c == "`")
            or (top == "pre" and c == "`" and text[i + 1:i + 3] == "``")
            or (top in ("text_link", "custom_emoji") and c == "]")
            or (top == "underline" and c == "_" and at(i + 1) == "_")
            or (top == "strikethrough" and c == "~")
            or (top == "spoiler" and c == "|" and at(i + 1) == "|")
        )
        if not closes:
            byte_offset = len(text[:i].encode())
            argument = ""
            if c == "_":
                kind = "underline" if at(i + 1) == "_" else "italic"
                if kind == "underline":
                    i += 1
            elif c == "*":
                kind = "bold"
            elif c == "~":
                kind = "strikethrough"
            elif c == "|":
                if at(i + 1) != "|":
                    raise reserved(c)
                i += 1
                kind = "spoiler"
            elif c == "[":
                kind = "text_link"
            elif c == "`":
                if text[i + 1:i + 3] == "``":
                    i += 3
                    kind = "pre"
                    lang_end = i
                    while lang_end < n and text[lang_end] not in " \t\r\n`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and text[lang_end] != "`":
                        argument = text[i:lang_end]
                        i = lang_end
                    if at(i) in ("\n", "\r"):
                        i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
                    i -= 1
                else:
                    kind = "code"
            elif c == "!" and at(i + 1) == "[":
                i += 1
                kind = "custom_emoji"
            else:
                raise reserved(c)
            stack.append(_Open(kind, argument, utf16, byte_offset, len(out)))
            i += 1
            continue

        opened = stack.pop()
        kind, argument = opened.kind, opened.argument
        skip = utf16 == opened.offset
        entity: dict | None = None
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind == "pre":
            i += 2
        elif kind in ("text_link", "custom_emoji"):
            url = "".join(out[opened.text_start:])
            if at(i + 1) == "(":
                i += 2
                url_begin = len(text[:i].encode())
                chars = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        chars.append(text[i + 1])
                        i += 2
                        continue
                    chars.append(text[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {url_begin}")
                url = "".join(chars)
            elif kind == "custom_emoji":
                raise EntityParseError(f"Can't find end of a custom emoji URL at byte offset {len(text[:i].encode())}")
            if kind == "custom_emoji":
                emoji_id = url[len(_EMOJI_PREFIX):] if url.startswith(_EMOJI_PREFIX) else ""
                if not emoji_id.isdigit():
                    raise EntityParseError("Custom emoji URL must have an emoji identifier")
                argument = emoji_id
            elif not skip:
                entity = _link_entity(url, opened.offset, utf16 - opened.offset, users)
                skip = True
                if entity:
                    entities.append(entity)
        if not skip:
            entity = {"offset": opened.offset, "length": utf16 - opened.offset, "type": kind}
            if kind == "pre" and argument:
                entity["language"] = argument
            if kind == "custom_emoji":
                entity["custom_emoji_id"] = argument
            entities.append(entity)
        i += 1

    if stack:
        opened = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_TYPE_NAMES[opened.kind]} entity at byte offset {opened.byte_offset}"
        )
    end_quote()
    return "".join(out), entities

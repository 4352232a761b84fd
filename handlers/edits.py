"""Editing the bot's own messages, never into what they already show.

Telegram refuses an edit that changes nothing ("Bad Request: message is not modified"). That is
what a second tap on a button produces: both callback queries carry the message as it was
before the first was handled, so the second handler edits it into what the first already made
of it. Every edit in handlers/ goes through here:

- the bot remembers what it last put in each message it edited (`Shown`, for a minute) and
  compares with that, or else with the message as the callback query carried it; an edit that
  would change nothing is not sent;
- a "not modified" answer all the same (another instance edited it, or the bot restarted) is
  taken as done.

What the second tap does besides is the handler's business: it finds the state the first tap
left, in the database, and changes nothing twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from telegram import CallbackQuery, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application

log = logging.getLogger(__name__)

REMEMBERED = 10_000  # messages whose last edit the bot remembers
REMEMBER_FOR = 60.0  # seconds


@dataclass(frozen=True)
class Content:
    """What a message shows: its text or caption as the bot wrote it (with `parse_mode`), and its
    inline keyboard as JSON. `body` None: not known (only the keyboard was edited)."""

    kind: str  # "text" or "caption"
    body: str | None
    parse_mode: str | None
    markup: str | None


def _markup_json(markup) -> str | None:
    if not isinstance(markup, InlineKeyboardMarkup) or not markup.inline_keyboard:
        return None
    return json.dumps(markup.to_dict(), sort_keys=True, ensure_ascii=False)


def _as_shown(message: Message, kind: str, parse_mode: str | None) -> Content:
    """The message as a callback query carried it, written as the bot would write it."""
    if kind == "text":
        body = message.text_html if parse_mode == ParseMode.HTML else message.text
    else:
        body = message.caption_html if parse_mode == ParseMode.HTML else message.caption
    return Content(kind, body, parse_mode, _markup_json(message.reply_markup))


class Shown:
    """What the bot last put in each message it edited: the most recent `size`, each for `ttl`
    seconds. Long enough for the second of two taps; short, because another instance of the bot
    may edit the same message (a staff card) and this one would not know."""

    def __init__(self, size: int = REMEMBERED, ttl: float = REMEMBER_FOR) -> None:
        self.size, self.ttl = size, ttl
        self._last: OrderedDict[tuple[int, int], tuple[float, Content]] = OrderedDict()

    def get(self, chat_id: int, message_id: int) -> Content | None:
        found = self._last.get((chat_id, message_id))
        if found is None or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1]

    def put(self, chat_id: int, message_id: int, content: Content) -> None:
        self._last[(chat_id, message_id)] = (time.monotonic(), content)
        self._last.move_to_end((chat_id, message_id))
        while len(self._last) > self.size:
            self._last.popitem(last=False)


def shown(application: Application) -> Shown:
    return application.bot_data.setdefault("shown", Shown())


def _same(now: Content | None, wanted: Content) -> bool:
    if now is None or now.markup != wanted.markup:
        return False
    if wanted.body is None:  # only the keyboard changes
        return True
    return now.kind == wanted.kind and now.body == wanted.body and now.parse_mode == wanted.parse_mode


def _current(memory: Shown, chat_id: int, message_id: int, message: Message | None, wanted: Content) -> Content | None:
    known = memory.get(chat_id, message_id)
    if known is not None and (known.body is not None or wanted.body is None):
        return known
    if isinstance(message, Message) and message.message_id == message_id:
        carried = _as_shown(message, wanted.kind, wanted.parse_mode)
        return carried if known is None else Content(carried.kind, carried.body, carried.parse_mode, known.markup)
    return None


async def _edit(application: Application, chat_id: int, message_id: int, wanted: Content, send,
                message: Message | None) -> bool:
    """Send the edit unless the message already shows `wanted`; whether it was sent."""
    memory = shown(application)
    if _same(_current(memory, chat_id, message_id, message, wanted), wanted):
        return False
    try:
        await send()
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise
        log.debug("edit_not_modified chat=%s message=%s", chat_id, message_id)
    known = memory.get(chat_id, message_id)
    if wanted.body is None and known is not None:
        wanted = Content(known.kind, known.body, known.parse_mode, wanted.markup)
    memory.put(chat_id, message_id, wanted)
    return True


async def text(application: Application, chat_id: int, message_id: int, body: str, *, parse_mode: str | None = None,
               reply_markup: InlineKeyboardMarkup | None = None, message: Message | None = None,
               disable_web_page_preview: bool | None = None) -> bool:
    """editMessageText, unless the message shows that already. `message`: the message as a
    callback query carried it, if any."""
    wanted = Content("text", body, parse_mode, _markup_json(reply_markup))
    return await _edit(application, chat_id, message_id, wanted, lambda: application.bot.edit_message_text(
        body, chat_id, message_id, parse_mode=parse_mode, reply_markup=reply_markup,
        disable_web_page_preview=disable_web_page_preview), message)


async def caption(application: Application, chat_id: int, message_id: int, body: str | None, *,
                  parse_mode: str | None = None, reply_markup: InlineKeyboardMarkup | None = None,
                  message: Message | None = None) -> bool:
    """editMessageCaption, unless the message shows that already."""
    wanted = Content("caption", body, parse_mode, _markup_json(reply_markup))
    return await _edit(application, chat_id, message_id, wanted, lambda: application.bot.edit_message_caption(
        chat_id, message_id, caption=body, parse_mode=parse_mode, reply_markup=reply_markup), message)


async def markup(application: Application, chat_id: int, message_id: int, reply_markup: InlineKeyboardMarkup | None,
                 *, message: Message | None = None) -> bool:
    """editMessageReplyMarkup (None takes the keyboard away), unless the message has that keyboard."""
    wanted = Content("text", None, None, _markup_json(reply_markup))
    return await _edit(application, chat_id, message_id, wanted, lambda: application.bot.edit_message_reply_markup(
        chat_id, message_id, reply_markup=reply_markup), message)


# ---------------------------------------------------------------- the tapped message


def _tapped(query: CallbackQuery) -> tuple[int, int, Message | None]:
    message = query.message
    return message.chat.id, message.message_id, message if isinstance(message, Message) else None


async def query_text(application: Application, query: CallbackQuery, body: str, *, parse_mode: str | None = None,
                     reply_markup: InlineKeyboardMarkup | None = None) -> bool:
    """Edit the text of the message whose button was tapped."""
    chat_id, message_id, message = _tapped(query)
    return await text(application, chat_id, message_id, body, parse_mode=parse_mode, reply_markup=reply_markup,
                      message=message)


async def query_markup(application: Application, query: CallbackQuery,
                       reply_markup: InlineKeyboardMarkup | None) -> bool:
    """Edit the keyboard of the message whose button was tapped."""
    chat_id, message_id, message = _tapped(query)
    return await markup(application, chat_id, message_id, reply_markup, message=message)

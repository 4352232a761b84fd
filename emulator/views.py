"""What a test sees of the chat: messages as they are now, button taps, and waiting for changes."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

from emulator.markup import button_rows
from emulator.model import CallbackQuery, Chat, Message


class BotMessage:
    """A message as the chat shows it now: edits applied, `deleted` once deleted."""

    __slots__ = ("message",)

    def __init__(self, message: Message):
        self.message = message

    message_id = property(lambda self: self.message.message_id)
    chat_id = property(lambda self: self.message.chat.id)
    date = property(lambda self: self.message.date)
    text = property(lambda self: self.message.text, doc="Plain text, after entity parsing.")
    entities = property(lambda self: self.message.entities or [])
    caption = property(lambda self: self.message.caption)
    caption_entities = property(lambda self: self.message.caption_entities or [])
    media_group_id = property(lambda self: self.message.media_group_id)
    location = property(lambda self: self.message.location)
    contact = property(lambda self: self.message.contact)
    reply_markup = property(lambda self: self.message.reply_markup, doc="The reply_markup as sent (raw dict).")
    edit_count = property(lambda self: self.message.edit_count)
    deleted = property(lambda self: self.message.deleted)
    protected = property(lambda self: self.message.protected)
    parse_mode = property(lambda self: self.message.parse_mode)
    sender_id = property(lambda self: self.message.sender.id)

    @property
    def html(self) -> str | None:
        """The text (or caption) exactly as the bot sent it, markup included."""
        message = self.message
        return message.raw if message.text is not None else message.raw_caption

    @property
    def photo(self) -> str | None:
        """The file_id of the largest size."""
        sizes = self.message.photo
        return sizes[-1].file_id if sizes else None

    @property
    def photo_sizes(self) -> list[dict]:
        return [size.photo_size() for size in self.message.photo or ()]

    @property
    def document(self) -> dict | None:
        return self.message.document.document() if self.message.document else None

    @property
    def reply_to_message_id(self) -> int | None:
        return self.message.reply_to.message_id if self.message.reply_to else None

    @property
    def buttons(self) -> list[list[str]]:
        """The texts of the inline keyboard, row by row ([] without one)."""
        rows = button_rows(self.message.reply_markup, "inline_keyboard") or []
        return [[button["text"] for button in row] for row in rows]

    def button(self, text: str) -> dict:
        """The inline button with this text, as sent."""
        for row in button_rows(self.message.reply_markup, "inline_keyboard") or []:
            for button in row:
                if button["text"] == text:
                    return button
        raise AssertionError(f"message #{self.message_id} has no button {text!r}; its buttons: {self.buttons}")

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        rows = button_rows(self.message.reply_markup, "keyboard")
        return None if rows is None else [[button["text"] for button in row] for row in rows]

    @property
    def raw(self) -> dict:
        """The Message object as the Bot API shows it."""
        return self.message.to_dict()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BotMessage) and other.message is self.message

    def __hash__(self) -> int:
        return id(self.message)

    def __repr__(self) -> str:
        return f"<BotMessage {self.message.summary()}>"


class CallbackAnswer(NamedTuple):
    text: str | None
    show_alert: bool
    url: str | None


class Tap:
    """What tapping a button did: a callback query, a URL to open, or a message sent."""

    def __init__(self, chat: Chat, *, query: CallbackQuery | None = None, url: str | None = None,
                 message: BotMessage | None = None):
        self.chat = chat
        self.query = query
        self.url = url
        self.message = message

    async def answer(self, timeout: float = 5.0) -> CallbackAnswer:
        """The bot's answerCallbackQuery for this tap, once it comes."""
        query = self.query
        if query is None:
            raise AssertionError(f"this tap sent no callback query (url={self.url!r}, message={self.message!r})")
        await wait_until(self.chat, lambda: query.answered, timeout,
                          lambda: f"callback query {query.id} (data {query.data!r}) was not answered within "
                                  f"{timeout}s")
        answer = query.answer
        return CallbackAnswer(answer["text"], answer["show_alert"], answer["url"])


async def wait_until(chat: Chat, condition: Callable[[], Any], timeout: float, failure: Callable[[], str]) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(failure())
        try:
            await asyncio.wait_for(chat.change_event().wait(), remaining)
        except TimeoutError:
            pass

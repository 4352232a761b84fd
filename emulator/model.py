"""The things the emulated Telegram stores: users, bots, chats, messages, callback queries,
and how each looks as Bot API JSON."""

from __future__ import annotations

import asyncio
from collections import deque

from emulator.files import StoredFile

DEFAULT_UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
    "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media",
    "poll", "poll_answer", "my_chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
})
ALL_UPDATE_TYPES = DEFAULT_UPDATE_TYPES | {"chat_member", "message_reaction", "message_reaction_count"}


class User:
    __slots__ = ("id", "first_name", "last_name", "username", "language_code", "is_bot", "is_premium",
                 "deactivated", "phone_number", "_dict")

    def __init__(self, id: int, first_name: str, last_name: str | None = None, username: str | None = None,
                 language_code: str | None = None, is_bot: bool = False, is_premium: bool = False,
                 phone_number: str | None = None):
        self.id = id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.is_bot = is_bot
        self.is_premium = is_premium
        self.deactivated = False
        self.phone_number = phone_number
        self._dict: dict | None = None

    def to_dict(self) -> dict:
        if self._dict is None:
            result = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
            if self.last_name:
                result["last_name"] = self.last_name
            if self.username:
                result["username"] = self.username
            if self.language_code and not self.is_bot:
                result["language_code"] = self.language_code
            if self.is_premium:
                result["is_premium"] = True
            self._dict = result
        return self._dict

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.name!r}>"


class Webhook:
    __slots__ = ("url", "secret_token", "max_connections", "ip_address", "last_error_date",
                 "last_error_message")

    def __init__(self, url: str, secret_token: str | None, max_connections: int, ip_address: str | None):
        self.url = url
        self.secret_token = secret_token
        self.max_connections = max_connections
        self.ip_address = ip_address
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None


class BotAccount:
    def __init__(self, token: str, user: User, can_read_all_group_messages: bool = False):
        self.token = token
        self.user = user
        self.can_read_all_group_messages = can_read_all_group_messages
        self.updates: deque[dict] = deque()
        self.next_update_id = 1
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.poll: asyncio.Future | None = None  # the pending long poll, if any
        self.poll_started = asyncio.Event()  # set while a long poll is pending
        self.webhook: Webhook | None = None
        self.updates_changed = asyncio.Event()  # wakes the webhook sender
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.profile: dict[tuple[str, str], str] = {}  # (name / description / short_description, language)
        self.menu_buttons: dict[int | None, dict] = {}  # chat id (None: default) -> MenuButton
        self.callback_queries: dict[str, CallbackQuery] = {}

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username or ""

    def get_me(self) -> dict:
        return {**self.user.to_dict(), "can_join_groups": True,
                "can_read_all_group_messages": self.can_read_all_group_messages,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def wake(self, reason: str) -> None:
        if self.poll is not None and not self.poll.done():
            self.poll.set_result(reason)
        self.updates_changed.set()

    def __repr__(self) -> str:
        return f"<Bot @{self.username} {self.id}>"


class Chat:
    def __init__(self, id: int, type: str, *, title: str | None = None, username: str | None = None,
                 user: User | None = None, bot: BotAccount | None = None):
        self.id = id
        self.type = type
        self.title = title
        self.username = username
        self.user = user  # the other side of a private chat
        self.bot = bot  # the bot of a private chat
        self.messages: dict[int, Message] = {}
        self.log: deque[Message] = deque()  # every message in order, deleted ones too
        self.next_message_id = 1
        self.started = False  # private: the user wrote to the bot at least once
        self.blocked = False  # private: the user blocked the bot
        self.members: dict[int, User] = {}  # groups: the users in it
        self.bots: dict[int, str] = {}  # groups: bot id -> member / administrator / left / kicked
        self.reply_keyboard: dict | None = None  # the ReplyKeyboardMarkup the bot left showing
        self.last_action: tuple[str, float] | None = None  # sendChatAction: (action, time)
        self.last_bot_sender: int | None = None
        self._changed: asyncio.Event | None = None
        self._dict: dict | None = None

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    def to_dict(self) -> dict:
        if self._dict is None:
            if self.is_private:
                user = self.user
                result = {"id": self.id, "first_name": user.first_name}
                if user.last_name:
                    result["last_name"] = user.last_name
                if user.username:
                    result["username"] = user.username
                result["type"] = "private"
            else:
                result = {"id": self.id, "title": self.title}
                if self.username:
                    result["username"] = self.username
                result["type"] = self.type
            self._dict = result
        return self._dict

    def changed(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def change_event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def __repr__(self) -> str:
        return f"<Chat {self.type} {self.id} {self.title or (self.user.name if self.user else '')!r}>"


class Message:
    __slots__ = ("message_id", "chat", "sender", "date", "seq", "text", "entities", "raw", "caption",
                 "caption_entities", "raw_caption", "photo", "document", "voice", "sticker", "video",
                 "location", "contact", "media_group_id", "reply_markup", "reply_to", "edit_date",
                 "edit_count", "deleted", "protected", "link_preview_options", "parse_mode",
                 "show_caption_above_media", "has_media_spoiler")

    def __init__(self, message_id: int, chat: Chat, sender: User, date: int, seq: int):
        self.message_id = message_id
        self.chat = chat
        self.sender = sender
        self.date = date
        self.seq = seq
        self.text: str | None = None
        self.entities: list[dict] | None = None
        self.raw: str | None = None  # the text as the bot sent it (markup included)
        self.caption: str | None = None
        self.caption_entities: list[dict] | None = None
        self.raw_caption: str | None = None
        self.photo: list[StoredFile] | None = None
        self.document: StoredFile | None = None
        self.voice: StoredFile | None = None
        self.sticker: StoredFile | None = None
        self.video: StoredFile | None = None
        self.location: dict | None = None
        self.contact: dict | None = None
        self.media_group_id: str | None = None
        self.reply_markup: dict | None = None
        self.reply_to: Message | None = None
        self.edit_date: int | None = None
        self.edit_count = 0
        self.deleted = False
        self.protected = False
        self.link_preview_options: dict | None = None
        self.parse_mode: str | None = None
        self.show_caption_above_media = False
        self.has_media_spoiler = False

    @property
    def from_bot(self) -> bool:
        return self.sender.is_bot

    def to_dict(self, with_reply: bool = True) -> dict:
        result = {"message_id": self.message_id, "from": self.sender.to_dict(), "chat": self.chat.to_dict(),
                  "date": self.date}
        if self.reply_to is not None and with_reply:
            result["reply_to_message"] = self.reply_to.to_dict(with_reply=False)
        if self.edit_date is not None:
            result["edit_date"] = self.edit_date
        if self.protected:
            result["has_protected_content"] = True
        if self.media_group_id is not None:
            result["media_group_id"] = self.media_group_id
        if self.text is not None:
            result["text"] = self.text
            if self.entities:
                result["entities"] = self.entities
            if self.link_preview_options:
                result["link_preview_options"] = self.link_preview_options
        if self.photo is not None:
            result["photo"] = [size.photo_size() for size in self.photo]
        if self.document is not None:
            result["document"] = self.document.document()
        if self.voice is not None:
            voice = self.voice
            result["voice"] = {"file_id": voice.file_id, "file_unique_id": voice.file_unique_id,
                               "duration": voice.duration or 0, "mime_type": voice.mime_type,
                               "file_size": voice.size}
        if self.sticker is not None:
            sticker = self.sticker
            result["sticker"] = {"file_id": sticker.file_id, "file_unique_id": sticker.file_unique_id,
                                 "type": "regular", "width": sticker.width, "height": sticker.height,
                                 "is_animated": False, "is_video": False, "emoji": "👍",
                                 "file_size": sticker.size}
        if self.video is not None:
            video = self.video
            result["video"] = {"file_id": video.file_id, "file_unique_id": video.file_unique_id,
                               "width": video.width, "height": video.height, "duration": video.duration or 0,
                               "mime_type": video.mime_type, "file_size": video.size}
        if self.caption is not None:
            result["caption"] = self.caption
            if self.caption_entities:
                result["caption_entities"] = self.caption_entities
            if self.show_caption_above_media:
                result["show_caption_above_media"] = True
        if self.has_media_spoiler:
            result["has_media_spoiler"] = True
        if self.location is not None:
            result["location"] = self.location
        if self.contact is not None:
            result["contact"] = self.contact
        markup = self.reply_markup
        if markup is not None and "inline_keyboard" in markup:
            result["reply_markup"] = markup
        return result

    def summary(self) -> str:
        """One line for failure messages."""
        who = "bot" if self.from_bot else self.sender.first_name
        if self.text is not None:
            body = repr(self.text if len(self.text) <= 80 else self.text[:77] + "...")
        elif self.photo is not None:
            body = f"[photo] {self.caption!r}" if self.caption else "[photo]"
        elif self.location is not None:
            body = f"[location {self.location['latitude']}, {self.location['longitude']}]"
        else:
            kind = next((k for k in ("document", "voice", "sticker", "video", "contact") if getattr(self, k)), "?")
            body = f"[{kind}]"
        flags = "".join([" (edited)" if self.edit_count else "", " (deleted)" if self.deleted else ""])
        buttons = ""
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            buttons = " buttons=" + repr([[b.get("text") for b in row] for row in self.reply_markup["inline_keyboard"]])
        return f"#{self.message_id} {who}: {body}{buttons}{flags}"


class CallbackQuery:
    __slots__ = ("id", "bot", "user", "message", "data", "created", "answered", "answer", "chat_instance", "late")

    def __init__(self, id: str, bot: BotAccount, user: User, message: Message, data: str, created: float,
                 chat_instance: str):
        self.id = id
        self.bot = bot
        self.user = user
        self.message = message
        self.data = data
        self.created = created
        self.answered = False
        self.answer: dict | None = None
        self.chat_instance = chat_instance
        self.late = False  # the bot tried to answer it after Telegram's time window

    def to_dict(self) -> dict:
        return {"id": self.id, "from": self.user.to_dict(), "message": self.message.to_dict(),
                "chat_instance": self.chat_instance, "data": self.data}


def chat_member(user: dict, status: str) -> dict:
    """A ChatMember object: creator, administrator, member, left or kicked."""
    member = {"user": user, "status": status}
    if status == "kicked":
        member["until_date"] = 0
    if status == "administrator":
        member.update(can_be_edited=False, is_anonymous=False, can_manage_chat=True, can_delete_messages=True,
                      can_manage_video_chats=True, can_restrict_members=True, can_promote_members=False,
                      can_change_info=True, can_invite_users=True, can_post_stories=False, can_edit_stories=False,
                      can_delete_stories=False, can_pin_messages=True)
    return member

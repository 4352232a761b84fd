"""What the emulated Telegram knows, and the rules that need no HTTP: who may write to whom,
which updates a bot gets. Everything runs on one event loop, so there is no locking.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from emulator.errors import BOT_BLOCKED, CANT_INITIATE, CHAT_NOT_FOUND, USER_DEACTIVATED, bad_request, forbidden
from emulator.files import FileStore
from emulator.model import BotAccount, CallbackQuery, Chat, Message, User

Observer = Callable[[str, Chat, "Message | None"], None]


class State:
    def __init__(self, files: FileStore | None = None, history_limit: int | None = None, auto_users: bool = False):
        self.files = files if files is not None else FileStore()
        self.history_limit = history_limit
        self.auto_users = auto_users
        self.bots: dict[str, BotAccount] = {}
        self.bots_by_id: dict[int, BotAccount] = {}
        self.users: dict[int, User] = {}
        self.groups: dict[int, Chat] = {}
        self.private: dict[tuple[int, int], Chat] = {}
        self.observers: list[Observer] = []
        self._seq = itertools.count(1)
        self._user_ids = itertools.count(700000001)
        self._group_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._media_group_ids = itertools.count(1)

    # accounts and chats

    def add_bot(self, token: str, username: str, first_name: str, can_read_all_group_messages: bool = False
                ) -> BotAccount:
        if token in self.bots:
            raise ValueError(f"a bot with token {token!r} exists")
        prefix = token.split(":", 1)[0]
        bot_id = int(prefix) if prefix.isdigit() else 900000000 + len(self.bots) + 1
        bot = BotAccount(token, User(bot_id, first_name, username=username, is_bot=True), can_read_all_group_messages)
        self.bots[token] = bot
        self.bots_by_id[bot_id] = bot
        self.users[bot_id] = bot.user
        return bot

    def add_user(self, first_name: str, *, id: int | None = None, **fields) -> User:
        user_id = id if id is not None else next(self._user_ids)
        if user_id in self.users:
            raise ValueError(f"user {user_id} exists")
        user = User(user_id, first_name, **fields)
        self.users[user_id] = user
        return user

    def private_chat(self, bot: BotAccount, user: User) -> Chat:
        chat = self.private.get((bot.id, user.id))
        if chat is None:
            chat = self.private[(bot.id, user.id)] = Chat(user.id, "private", user=user, bot=bot)
        return chat

    def add_group(self, title: str, type: str = "supergroup", *, id: int | None = None,
                  username: str | None = None) -> Chat:
        if type not in ("group", "supergroup"):
            raise ValueError("type is 'group' or 'supergroup'")
        if id is None:
            number = next(self._group_ids)
            id = -(1001000000000 + number) if type == "supergroup" else -(400000000 + number)
        chat = Chat(id, type, title=title, username=username)
        self.groups[id] = chat
        return chat

    def user_dicts(self) -> dict[int, dict]:
        """Users that tg://user?id= links may name."""
        return _UserDicts(self.users)

    def resolve_chat(self, bot: BotAccount, chat_id: int | str, *, sending: bool = True) -> Chat:
        """The chat `bot` addresses as `chat_id`, or the error Telegram answers.

        `sending` is false for edits and deletions: a block stops new messages only.
        """
        if isinstance(chat_id, str):
            name = chat_id[1:].lower()
            chat = next((g for g in self.groups.values() if g.username and g.username.lower() == name), None)
            if chat is None:
                raise bad_request(CHAT_NOT_FOUND)
            chat_id = chat.id
        if chat_id > 0:
            user = self.users.get(chat_id)
            if user is None or user.is_bot:
                if user is None and self.auto_users and chat_id < 10**13:
                    user = self.add_user(f"User {chat_id}", id=chat_id)
                    self.private_chat(bot, user).started = True
                else:
                    raise bad_request(CHAT_NOT_FOUND)
            if user.deactivated:
                raise forbidden(USER_DEACTIVATED)
            chat = self.private.get((bot.id, chat_id))
            if chat is None or not chat.started:
                if not sending:
                    raise bad_request(CHAT_NOT_FOUND)
                raise forbidden(CANT_INITIATE)
            if chat.blocked and sending:
                raise forbidden(BOT_BLOCKED)
            return chat
        chat = self.groups.get(chat_id)
        status = chat.bots.get(bot.id) if chat is not None else None
        if status is None:
            raise bad_request(CHAT_NOT_FOUND)
        kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
        if status == "kicked":
            raise forbidden(f"bot was kicked from the {kind}")
        if status == "left":
            raise forbidden(f"bot is not a member of the {kind}")
        return chat

    # messages

    def add_message(self, chat: Chat, sender: User, **fields) -> Message:
        message = Message(chat.next_message_id, chat, sender, int(time.time()), next(self._seq))
        chat.next_message_id += 1
        for name, value in fields.items():
            setattr(message, name, value)
        chat.messages[message.message_id] = message
        chat.log.append(message)
        if sender.is_bot:
            chat.last_bot_sender = sender.id
        limit = self.history_limit
        if limit is not None and len(chat.log) > limit:
            old = chat.log.popleft()
            chat.messages.pop(old.message_id, None)
        self.notify("message", chat, message)
        return message

    def new_media_group_id(self) -> str:
        return str(13000000000000000 + next(self._media_group_ids))

    def notify(self, event: str, chat: Chat, message: Message | None = None) -> None:
        chat.changed()
        for observer in self.observers:
            observer(event, chat, message)

    # updates

    def push_update(self, bot: BotAccount, kind: str, payload: dict) -> dict | None:
        if kind not in bot.allowed_updates:
            return None
        update = {"update_id": bot.next_update_id, kind: payload}
        bot.next_update_id += 1
        bot.updates.append(update)
        bot.wake("update")
        return update

    def deliver_message(self, message: Message, kind: str = "message") -> None:
        """Hand a user's message to the bots that get it."""
        chat = message.chat
        if chat.is_private:
            self.push_update(chat.bot, kind, message.to_dict())
            return
        payload = None
        for bot_id, status in chat.bots.items():
            if status in ("left", "kicked"):
                continue
            bot = self.bots_by_id[bot_id]
            if self.group_message_visible(bot, chat, message, status):
                payload = payload or message.to_dict()
                self.push_update(bot, kind, payload)

    def group_message_visible(self, bot: BotAccount, chat: Chat, message: Message, status: str) -> bool:
        """Privacy mode: a bot that is not an administrator and cannot read all group messages gets
        commands for it, replies to its messages and mentions of it."""
        if status == "administrator" or bot.can_read_all_group_messages:
            return True
        if message.reply_to is not None and message.reply_to.sender.id == bot.id:
            return True
        text = message.text if message.text is not None else message.caption or ""
        entities = message.entities if message.text is not None else message.caption_entities
        username = "@" + bot.username.lower()
        for entity in entities or ():
            part = _utf16_slice(text, entity["offset"], entity["length"]).lower()
            if entity["type"] == "mention" and part == username:
                return True
            if entity["type"] == "bot_command":
                if "@" in part:
                    if part.endswith(username):
                        return True
                else:
                    active_bots = [b for b, s in chat.bots.items() if s in ("member", "administrator")]
                    if len(active_bots) == 1 or chat.last_bot_sender == bot.id:
                        return True
        return False

    def new_callback_query(self, bot: BotAccount, user: User, message: Message, data: str, created: float
                           ) -> CallbackQuery:
        query_id = str(4300000000000000000 + next(self._query_ids) * 7919)
        instance = str(abs(hash((bot.id, message.chat.id))) % 10**19)
        query = CallbackQuery(query_id, bot, user, message, data, created, instance)
        bot.callback_queries[query_id] = query
        return query


class _UserDicts(dict):
    """A read-only view from user id to the user's JSON, built on demand."""

    def __init__(self, users: dict[int, User]):
        super().__init__()
        self._users = users

    def get(self, key, default=None):
        user = self._users.get(key)
        return user.to_dict() if user is not None else default


def _utf16_slice(text: str, offset: int, length: int) -> str:
    encoded = text.encode("utf-16-le")
    return encoded[offset * 2:(offset + length) * 2].decode("utf-16-le", "replace")

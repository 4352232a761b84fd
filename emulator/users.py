"""The test side: simulated users and groups that talk to the bot.

Everything a simulated user does becomes an update for the bot at once; waiting for the bot's
answer (`next_message`, `wait_for`, `Tap.answer`) wakes on every change in the chat instead of
polling, and fails with an AssertionError that shows what the chat contains.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.entities import detect_entities
from emulator.images import open_image, sample_jpeg, sticker_webp
from emulator.markup import button_rows
from emulator.model import BotAccount, Chat, Message, User, chat_member
from emulator.views import BotMessage, Tap, wait_until

if TYPE_CHECKING:
    from emulator.emulator import Emulator


class _Conversation:
    """One chat seen from the test: users post into it; the bot's messages are read in order."""

    def __init__(self, emulator: Emulator, chat: Chat, bot: BotAccount):
        self.emulator = emulator
        self.chat = chat
        self.bot = bot
        self._cursor = 0  # seq of the last bot message handed out by next_message

    @property
    def state(self):
        return self.emulator.state

    # reading

    @property
    def all_messages(self) -> list[BotMessage]:
        """Every message the bot sent here, deleted ones included."""
        return [BotMessage(m) for m in self.chat.log if m.sender.is_bot]

    @property
    def messages(self) -> list[BotMessage]:
        """The bot's messages still in the chat."""
        return [BotMessage(m) for m in self.chat.log if m.sender.is_bot and not m.deleted]

    @property
    def last_message(self) -> BotMessage | None:
        visible = self.messages
        return visible[-1] if visible else None

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        rows = button_rows(self.chat.reply_keyboard, "keyboard")
        return None if rows is None else [[button["text"] for button in row] for row in rows]

    def transcript(self, last: int = 15) -> str:
        lines = [message.summary() for message in list(self.chat.log)[-last:]]
        return "\n".join("    " + line for line in lines) or "    (no messages)"

    async def next_message(self, timeout: float = 5.0) -> BotMessage:
        """The next message the bot sent here that the test has not taken yet."""
        def take() -> BotMessage | None:
            for message in self.chat.log:
                if message.sender.is_bot and message.seq > self._cursor:
                    self._cursor = message.seq
                    return BotMessage(message)
            return None

        return await wait_until(
            self.chat, take, timeout,
            lambda: f"{self._who()} got no new message from the bot within {timeout}s. The chat:\n"
                    f"{self.transcript()}",
        )

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until `predicate()` is true, checking it again on every change in this chat."""
        return await wait_until(
            self.chat, predicate, timeout,
            lambda: f"the condition was not met within {timeout}s in {self._who()}'s chat. The chat:\n"
                    f"{self.transcript()}",
        )

    def _who(self) -> str:
        return self.chat.title or self.chat.user.name

    # writing

    def _post(self, user: User, **fields) -> BotMessage:
        message = self.state.add_message(self.chat, user, **fields)
        self.state.deliver_message(message)
        return BotMessage(message)

    def _text_fields(self, text: str, reply_to: BotMessage | int | None) -> dict:
        return {"text": text, "entities": detect_entities(text) or None, "reply_to": self._resolve(reply_to)}

    def _resolve(self, message: BotMessage | Message | int | None) -> Message | None:
        if message is None:
            return None
        if isinstance(message, BotMessage):
            return message.message
        if isinstance(message, Message):
            return message
        found = self.chat.messages.get(message)
        if found is None:
            raise AssertionError(f"there is no message #{message} in {self._who()}'s chat")
        return found

    def _caption_fields(self, caption: str | None) -> dict:
        if not caption:
            return {}
        return {"caption": caption, "caption_entities": detect_entities(caption) or None}

    def _photo(self, image: bytes | None) -> list:
        data = image if image is not None else sample_jpeg(seed=len(self.state.files))
        return self.state.files.add_photo(open_image(data))

    async def _press(self, sim: SimUser, text: str, message: BotMessage | int | None,
                     location: tuple[float, float] | None) -> Tap:
        """`sim` presses the button labelled `text`: an inline button on the newest bot message that
        has it (or on `message`), else a button of the reply keyboard the bot left showing."""
        user = sim.user
        if message is not None:
            candidates = [self._resolve(message)]
        else:
            candidates = [m for m in reversed(self.chat.log) if m.sender.is_bot and not m.deleted]
        for candidate in candidates:
            for row in button_rows(candidate.reply_markup, "inline_keyboard") or []:
                for button in row:
                    if button["text"] != text:
                        continue
                    if button.get("callback_data"):
                        return self._callback(user, candidate, button["callback_data"])
                    if button.get("url"):
                        return Tap(self.chat, url=button["url"])
                    raise AssertionError(f"button {text!r} neither sends a callback query nor opens a URL: {button}")
        for row in (button_rows(self.chat.reply_keyboard, "keyboard") or []) if message is None else []:
            for button in row:
                if button["text"] != text:
                    continue
                if button.get("request_location"):
                    where = location or sim.location
                    if where is None:
                        raise AssertionError("the button asks for a location: give tap(..., location=(lat, lon)) "
                                             "or set user.location")
                    fields = {"location": {"latitude": where[0], "longitude": where[1]}}
                elif button.get("request_contact"):
                    fields = {"contact": _contact(user)}
                else:
                    fields = self._text_fields(text, None)
                return Tap(self.chat, message=self._post(user, **fields))
        visible = [f"#{m.message_id}: {BotMessage(m).buttons}" for m in candidates if BotMessage(m).buttons]
        raise AssertionError(
            f"{user.first_name} sees no button {text!r}. Inline keyboards: {visible or 'none'}; "
            f"reply keyboard: {self.reply_keyboard}. The chat:\n{self.transcript()}"
        )

    def _callback(self, user: User, message: Message, data: str) -> Tap:
        query = self.state.new_callback_query(self.bot, user, message, data, self.emulator.limits.clock())
        self.state.push_update(self.bot, "callback_query", query.to_dict())
        return Tap(self.chat, query=query)


class SimUser(_Conversation):
    """A Telegram user in a private chat with the bot (chat id == user id)."""

    def __init__(self, emulator: Emulator, user: User, bot: BotAccount, location: tuple[float, float] | None = None):
        super().__init__(emulator, emulator.state.private_chat(bot, user), bot)
        self.user = user
        self.location = location

    id = property(lambda self: self.user.id)
    first_name = property(lambda self: self.user.first_name)
    username = property(lambda self: self.user.username)
    language_code = property(lambda self: self.user.language_code)

    @property
    def blocked(self) -> bool:
        return self.chat.blocked

    def _before_sending(self) -> None:
        if self.user.deactivated:
            raise AssertionError(f"{self.user.name} deleted their account and cannot send messages")
        if self.chat.blocked:
            self._set_blocked(False)  # writing to a blocked bot means unblocking it first
        self.chat.started = True

    async def send(self, text: str, *, reply_to: BotMessage | int | None = None) -> BotMessage:
        """Send a text; Telegram marks commands, mentions and links in it."""
        self._before_sending()
        return self._post(self.user, **self._text_fields(text, reply_to))

    async def edit(self, message: BotMessage, text: str) -> BotMessage:
        """Edit one of this user's messages: the bot gets an edited_message update."""
        stored = message.message
        if stored.sender is not self.user:
            raise AssertionError("a user can edit only their own messages")
        stored.text, stored.entities = text, detect_entities(text) or None
        stored.edit_date, stored.edit_count = int(time.time()), stored.edit_count + 1
        self.state.notify("edit", self.chat, stored)
        self.state.deliver_message(stored, "edited_message")
        return message

    async def tap(self, text: str, *, message: BotMessage | int | None = None,
                  location: tuple[float, float] | None = None) -> Tap:
        """Press the button labelled `text`: an inline button on the newest bot message that has it
        (or on `message`), else a button of the reply keyboard the bot left showing; a location
        button shares `location` or else `user.location`."""
        self._before_sending()
        return await self._press(self, text, message, location)

    async def tap_data(self, data: str, message: BotMessage | int) -> Tap:
        """A callback query with `data` from `message`, whatever its buttons carry: what a
        modified client or a replayed old button sends. The bot must check it all."""
        self._before_sending()
        return self._callback(self.user, self._resolve(message), data)

    async def share_location(self, latitude: float, longitude: float, *, live_period: int | None = None,
                             reply_to: BotMessage | int | None = None) -> BotMessage:
        self._before_sending()
        location = {"latitude": latitude, "longitude": longitude}
        if live_period:
            location["live_period"] = live_period
        return self._post(self.user, location=location, reply_to=self._resolve(reply_to))

    async def share_contact(self, phone_number: str | None = None) -> BotMessage:
        self._before_sending()
        return self._post(self.user, contact=_contact(self.user, phone_number))

    async def send_photo(self, caption: str | None = None, image: bytes | None = None, *,
                         reply_to: BotMessage | int | None = None) -> BotMessage:
        """Send a photo (a real JPEG made with Pillow unless `image` is given); the bot gets it in
        several sizes, as from Telegram."""
        self._before_sending()
        return self._post(self.user, photo=self._photo(image), reply_to=self._resolve(reply_to),
                          **self._caption_fields(caption))

    async def send_album(self, images: list[bytes | None], caption: str | None = None) -> list[BotMessage]:
        """Send 2-10 photos as one album: one update per photo, sharing a media_group_id."""
        if not 2 <= len(images) <= 10:
            raise AssertionError("an album has 2 to 10 photos")
        self._before_sending()
        group_id = self.state.new_media_group_id()
        sent = []
        for index, image in enumerate(images):
            fields = self._caption_fields(caption) if index == 0 else {}
            sent.append(self._post(self.user, photo=self._photo(image), media_group_id=group_id, **fields))
        return sent

    async def send_document(self, data: bytes = b"%PDF-1.4\n%emulator\n", filename: str = "document.pdf",
                            mime_type: str = "application/pdf", caption: str | None = None) -> BotMessage:
        self._before_sending()
        stored = self.state.files.add("document", data, mime_type=mime_type, file_name=filename)
        return self._post(self.user, document=stored, **self._caption_fields(caption))

    async def send_voice(self, duration: int = 3, data: bytes | None = None) -> BotMessage:
        self._before_sending()
        stored = self.state.files.add("voice", data or b"OggS\x00\x02" + bytes(512), mime_type="audio/ogg",
                                      duration=duration)
        return self._post(self.user, voice=stored)

    async def send_sticker(self) -> BotMessage:
        self._before_sending()
        stored = self.state.files.add("sticker", sticker_webp(self.user.id), mime_type="image/webp", width=512,
                                      height=512)
        return self._post(self.user, sticker=stored)

    async def send_video(self, data: bytes | None = None, duration: int = 5, width: int = 640, height: int = 360,
                         caption: str | None = None) -> BotMessage:
        self._before_sending()
        stored = self.state.files.add("video", data or b"\x00\x00\x00\x18ftypmp42" + bytes(1024),
                                      mime_type="video/mp4", width=width, height=height, duration=duration)
        return self._post(self.user, video=stored, **self._caption_fields(caption))

    async def block(self) -> None:
        """Block the bot: its messages now fail with 403, and it gets a my_chat_member update."""
        self._set_blocked(True)

    async def unblock(self) -> None:
        self._set_blocked(False)

    async def deactivate(self) -> None:
        """Delete the account: messages to it fail with 403 "user is deactivated"."""
        self.user.deactivated = True

    def _set_blocked(self, blocked: bool) -> None:
        if self.chat.blocked == blocked:
            return
        self.chat.blocked = blocked
        bot_user = self.bot.user.to_dict()
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        payload = {"chat": self.chat.to_dict(), "from": self.user.to_dict(), "date": int(time.time()),
                   "old_chat_member": chat_member(bot_user, old), "new_chat_member": chat_member(bot_user, new)}
        self.state.push_update(self.bot, "my_chat_member", payload)
        self.state.notify("block", self.chat)

    def commands(self) -> list[dict]:
        """The command menu this user sees in the private chat."""
        language = (self.user.language_code or "")[:2]
        for scope in (f"chat:{self.chat.id}", "all_private_chats", "default"):
            for lang in (language, ""):
                found = self.bot.commands.get((scope, lang))
                if found:
                    return found
        return []

    def __repr__(self) -> str:
        return f"<SimUser {self.user.id} {self.user.name!r}>"


class SimGroup(_Conversation):
    """A group or supergroup with the bot in it; members post with `group.send(user, ...)`."""

    id = property(lambda self: self.chat.id)
    title = property(lambda self: self.chat.title)

    def add(self, user: SimUser) -> None:
        self.chat.members[user.id] = user.user

    def add_bot(self, bot: BotAccount, admin: bool = False) -> None:
        self.set_bot_status("administrator" if admin else "member", bot)

    def set_bot_status(self, status: str, bot: BotAccount | None = None) -> None:
        """member, administrator, left or kicked; the bot gets a my_chat_member update."""
        bot = bot or self.bot
        old = self.chat.bots.get(bot.id, "left")
        if old == status:
            return
        self.chat.bots[bot.id] = status
        actor = next(iter(self.chat.members.values()), None)
        bot_user = bot.user.to_dict()
        payload = {"chat": self.chat.to_dict(), "from": (actor or bot.user).to_dict(), "date": int(time.time()),
                   "old_chat_member": chat_member(bot_user, old), "new_chat_member": chat_member(bot_user, status)}
        self.state.push_update(bot, "my_chat_member", payload)

    def _member_check(self, user: SimUser) -> User:
        if user.id not in self.chat.members:
            raise AssertionError(f"{user.first_name} is not a member of {self.chat.title!r}")
        return user.user

    async def send(self, user: SimUser, text: str, *, reply_to: BotMessage | int | None = None) -> BotMessage:
        return self._post(self._member_check(user), **self._text_fields(text, reply_to))

    async def send_photo(self, user: SimUser, caption: str | None = None, image: bytes | None = None, *,
                         reply_to: BotMessage | int | None = None) -> BotMessage:
        return self._post(self._member_check(user), photo=self._photo(image), reply_to=self._resolve(reply_to),
                          **self._caption_fields(caption))

    async def send_document(self, user: SimUser, data: bytes = b"%PDF-1.4\n%emulator\n",
                            filename: str = "document.pdf", mime_type: str = "application/pdf",
                            caption: str | None = None, *, reply_to: BotMessage | int | None = None) -> BotMessage:
        stored = self.state.files.add("document", data, mime_type=mime_type, file_name=filename)
        return self._post(self._member_check(user), document=stored, reply_to=self._resolve(reply_to),
                          **self._caption_fields(caption))

    async def share_location(self, user: SimUser, latitude: float, longitude: float) -> BotMessage:
        return self._post(self._member_check(user), location={"latitude": latitude, "longitude": longitude})

    async def tap(self, user: SimUser, text: str, *, message: BotMessage | int | None = None,
                  location: tuple[float, float] | None = None) -> Tap:
        self._member_check(user)
        return await self._press(user, text, message, location)

    async def tap_data(self, user: SimUser, data: str, message: BotMessage | int) -> Tap:
        """`user` sends a callback query with `data` from `message`, whatever its buttons carry:
        what a modified client or a replayed old button sends. The bot must check it all."""
        self._member_check(user)
        return self._callback(user.user, self._resolve(message), data)

    def __repr__(self) -> str:
        return f"<SimGroup {self.chat.id} {self.chat.title!r}>"


def _contact(user: User, phone_number: str | None = None) -> dict:
    phone = phone_number or user.phone_number or f"+8490{user.id % 10**7:07d}"
    contact = {"phone_number": phone, "first_name": user.first_name, "user_id": user.id}
    if user.last_name:
        contact["last_name"] = user.last_name
    return contact

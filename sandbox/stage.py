"""The cast on the emulator: each person a Telegram account, each group a Telegram group with the
bot in it, and the seats of the web chat, one per chat a person can play in.

A seat is a private chat with the bot (a resident, or a member of staff sending /broadcast or
/dashboard), or a staff group seen by one of its members. The stage also counts every change in
the emulator, so that the page can wait for the next one, and remembers what each seat has seen,
for the unread counts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from emulator import Emulator, SimGroup, SimUser
from sandbox import cast


@dataclass
class Seat:
    key: str
    member: SimUser  # who types, taps and sends here
    chat: SimUser | SimGroup  # where: the member's private chat, or a group
    person: cast.Person | None  # None: a resident added from the page
    group: cast.Group | None = None
    seen: int = 0  # seq of the newest message shown on this seat

    @property
    def is_group(self) -> bool:
        return self.group is not None

    @property
    def title(self) -> str:
        return self.group.title if self.group else self.member.user.name

    def about(self, language: str) -> str:
        return self.person.about(language, self.member.chat.started) if self.person and not self.group else ""

    def messages(self):
        """The chat's messages still shown (deleted ones are gone), oldest first."""
        return [m for m in self.chat.chat.log if not m.deleted]

    def unread(self) -> int:
        me = self.member.user.id
        return sum(1 for m in self.chat.chat.log if m.seq > self.seen and not m.deleted and m.sender.id != me)


@dataclass
class Stage:
    emulator: Emulator
    seats: dict[str, Seat] = field(default_factory=dict)
    version: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.emulator.on_change(self._on_change)

    def _on_change(self, _event: str, _chat, _message) -> None:
        self.version += 1
        self.wake()

    def wake(self) -> None:
        """End every wait now, as a change would."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, version: int, timeout: float) -> None:
        """Return once the emulator changed after `version`, or after `timeout` seconds."""
        if self.version != version:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def residents(self) -> list[Seat]:
        return [s for s in self.seats.values() if not s.is_group and (s.person is None or s.person.role is None)]

    def staff(self) -> list[Seat]:
        return [s for s in self.seats.values() if s.is_group or (s.person is not None and s.person.role)]

    def add_resident(self, first_name: str, language: str) -> Seat:
        """A new Telegram user who has never written to the bot."""
        user = self.emulator.user(first_name, language_code=language)
        seat = Seat(f"r{user.id}", user, user, None)
        self.seats[seat.key] = seat
        return seat


def enact(emulator: Emulator) -> Stage:
    """Create the cast's accounts and groups in the emulator, and their seats."""
    stage = Stage(emulator)
    users: dict[str, SimUser] = {}
    for person in cast.PEOPLE:
        user = emulator.user(person.first_name, last_name=person.last_name, language_code=person.language,
                             id=person.telegram_id)
        # The demo database has them as people who once wrote to the bot (cast.HOA has not).
        user.chat.started = person.ward is not None or person.role is not None
        users[person.key] = user
        stage.seats[person.key] = Seat(person.key, user, user, person)
    for group in cast.GROUPS:
        chat = emulator.group(group.title, [users[key] for key in group.members], id=group.chat_id, bot_admin=True)
        member = users[group.members[0]]
        stage.seats[group.key] = Seat(group.key, member, chat, cast.person(group.members[0]), group)
    return stage

"""At most LOA_UPDATES_IN_FLIGHT updates are handled at once, the others in arrival order, and one
chat's burst holds one place (bot/ordering.py)."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update

from bot.app import build_application
from bot.ordering import PerChatUpdateProcessor
from tests.fixtures.bot import running, settings_for


def message_update(update_id: int, chat_id: int) -> Update:
    return Update.de_json({"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": "/start",
        "chat": {"id": chat_id, "type": "private"}, "from": {"id": chat_id, "is_bot": False, "first_name": "R"}}},
        None)


class Handling:
    """Updates handled by a processor: each waits until the test lets it finish."""

    def __init__(self, processor: PerChatUpdateProcessor) -> None:
        self.processor = processor
        self.started: list[int] = []
        self.running = self.most_running = 0
        self.finish: dict[int, asyncio.Event] = {}
        self.tasks: list[asyncio.Task] = []

    async def _handle(self, update_id: int) -> None:
        self.started.append(update_id)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        await self.finish[update_id].wait()
        self.running -= 1

    def arrive(self, update_id: int, chat_id: int) -> None:
        self.finish[update_id] = asyncio.Event()
        self.tasks.append(asyncio.create_task(
            self.processor.process_update(message_update(update_id, chat_id), self._handle(update_id))))

    async def until_started(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.started) < count:
                await asyncio.sleep(0.001)
        # Nothing more starts while the running ones hold their places.
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(self.started) == count


async def test_updates_beyond_the_bound_wait_and_start_in_arrival_order():
    handling = Handling(PerChatUpdateProcessor(in_flight=3))
    for update_id in range(1, 21):
        handling.arrive(update_id, chat_id=1000 + update_id)
    await handling.until_started(3)
    assert handling.started == [1, 2, 3]
    for done in range(1, 18):
        handling.finish[done].set()
        await handling.until_started(done + 3)
    for update_id in range(18, 21):
        handling.finish[update_id].set()
    await asyncio.gather(*handling.tasks)
    assert handling.started == list(range(1, 21))
    assert handling.most_running == 3


async def test_one_residents_burst_holds_one_place():
    handling = Handling(PerChatUpdateProcessor(in_flight=2))
    for update_id in range(1, 11):
        handling.arrive(update_id, chat_id=7)  # ten taps of one resident
    handling.arrive(11, chat_id=8)
    handling.arrive(12, chat_id=9)
    await handling.until_started(2)
    # The resident's second tap waits for the first without a place: the next resident has it.
    assert handling.started == [1, 11]
    handling.finish[11].set()
    await handling.until_started(3)
    assert handling.started == [1, 11, 12]
    for update_id in (1, *range(2, 11), 12):
        handling.finish[update_id].set()
    await asyncio.gather(*handling.tasks)
    assert handling.started == [1, 11, 12, *range(2, 11)]


@pytest.fixture
async def one_at_a_time(emulator, db, areas_loaded, tmp_path):
    settings = settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), LOA_UPDATES_IN_FLIGHT="1")
    application = build_application(settings, areas_loaded)
    assert application.update_processor.in_flight == 1
    async with running(application, emulator):
        yield application


async def test_with_one_update_in_flight_residents_are_answered_in_the_order_they_wrote(one_at_a_time, emulator):
    residents = [emulator.user(first_name=f"Resident {i}", language_code="vi") for i in range(12)]
    sent = []
    for resident in residents:
        await resident.send("/start")
        sent.append(resident.id)
    for resident in residents:
        assert (await resident.next_message()).buttons == [["Tiếng Việt ✓", "English"]]
    # The emulator numbers every message it stores, across chats, in the order they came.
    reply_seq = {resident.id: next(m.seq for m in resident.chat.log if m.sender.is_bot) for resident in residents}
    assert sorted(sent, key=reply_seq.get) == sent

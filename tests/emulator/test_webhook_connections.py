"""setWebhook's max_connections: up to that many updates in flight at once, each chat in order."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, defaultdict

from aiohttp import web

from emulator.webhook import order_key
from tests.fixtures.ptb import receiver


class Receiver:
    """A webhook receiver that counts what is in flight, overall and per chat, and can hold
    requests until released."""

    def __init__(self, hold: bool = False, pause: tuple[float, float] = (0.0, 0.0)):
        self.released = asyncio.Event()
        if not hold:
            self.released.set()
        self.pause = pause
        self.in_flight = 0
        self.most = 0
        self.per_chat: dict[int, int] = defaultdict(int)
        self.most_per_chat = 0
        self.seen: list[tuple[int, str]] = []  # (chat, text) in the order the receiver took them
        self.arrived = asyncio.Condition()
        self.fail: set[str] = set()  # texts answered 500 (once each)

    async def __call__(self, request: web.Request) -> web.Response:
        update = await request.json()
        message = update["message"]
        chat, text = message["chat"]["id"], message["text"]
        self.in_flight += 1
        self.per_chat[chat] += 1
        self.most = max(self.most, self.in_flight)
        self.most_per_chat = max(self.most_per_chat, self.per_chat[chat])
        async with self.arrived:
            self.arrived.notify_all()
        try:
            await self.released.wait()
            if self.pause[1]:
                await asyncio.sleep(random.uniform(*self.pause))
            if text in self.fail:
                self.fail.discard(text)
                return web.Response(status=500)
            self.seen.append((chat, text))
            return web.Response()
        finally:
            self.in_flight -= 1
            self.per_chat[chat] -= 1

    async def wait_in_flight(self, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: self.in_flight >= count), 5)

    async def wait_seen(self, count: int) -> None:
        for _ in range(500):
            if len(self.seen) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"the receiver took {len(self.seen)} updates, not {count}")


@contextlib.asynccontextmanager
async def hooked(tg, handler, **options):
    async def handle(request: web.Request) -> web.Response:
        return await handler(request)

    async with receiver(handle) as url:
        assert await tg.set_webhook(url, **options)
        try:
            yield url
        finally:
            await tg.delete_webhook()


def residents(emulator, count: int):
    return [emulator.user(first_name=f"R{n}", language_code="vi") for n in range(count)]


async def test_at_most_max_connections_updates_are_in_flight(tg, emulator):
    hook = Receiver(hold=True)
    people = residents(emulator, 8)
    async with hooked(tg, hook, max_connections=3):
        assert (await tg.get_webhook_info()).max_connections == 3
        for person in people:
            await person.send("/start")
        await hook.wait_in_flight(3)
        await asyncio.sleep(0.1)  # room for a fourth, were it allowed
        assert hook.in_flight == 3 and (await tg.get_webhook_info()).pending_update_count == 8
        hook.released.set()
        await hook.wait_seen(8)
    assert hook.most == 3
    assert sorted(chat for chat, _ in hook.seen) == sorted(p.id for p in people)


async def test_the_default_is_40_connections(tg, emulator):
    hook = Receiver(hold=True)
    people = residents(emulator, 45)
    async with hooked(tg, hook):
        assert (await tg.get_webhook_info()).max_connections == 40
        for person in people:
            await person.send("/start")
        await hook.wait_in_flight(40)
        await asyncio.sleep(0.1)
        assert hook.in_flight == 40
        hook.released.set()
        await hook.wait_seen(45)
    assert hook.most == 40


async def test_updates_of_one_chat_are_never_in_flight_together_and_keep_their_order(tg, emulator):
    hook = Receiver(pause=(0.0, 0.01))
    people = residents(emulator, 4)
    async with hooked(tg, hook, max_connections=100):
        for n in range(6):
            for person in people:
                await person.send(f"{person.first_name}-{n}")
        await hook.wait_seen(24)
    assert hook.most_per_chat == 1
    assert hook.most > 1  # the chats did go concurrently
    for person in people:
        assert [text for chat, text in hook.seen if chat == person.id] == [
            f"{person.first_name}-{n}" for n in range(6)]


async def test_a_failing_update_holds_up_its_own_chat_only(tg, emulator):
    hook = Receiver()
    hook.fail.add("An-0")
    an, binh = residents(emulator, 2)
    an.user.first_name, binh.user.first_name = "An", "Binh"
    async with hooked(tg, hook, max_connections=10):
        await an.send("An-0")
        await an.send("An-1")
        await binh.send("Binh-0")
        await hook.wait_seen(3)
        info = await tg.get_webhook_info()
    texts = [text for _, text in hook.seen]
    # Binh's update went while An's first one waited for its retry; An's stayed in order.
    assert texts.index("Binh-0") < texts.index("An-0") < texts.index("An-1")
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.pending_update_count == 0


async def test_one_connection_delivers_everything_in_order(tg, emulator):
    hook = Receiver(pause=(0.0, 0.005))
    people = residents(emulator, 3)
    async with hooked(tg, hook, max_connections=1):
        sent = []
        for n in range(3):
            for person in people:
                await person.send(f"{person.first_name}-{n}")
                sent.append((person.id, f"{person.first_name}-{n}"))
        await hook.wait_seen(9)
    assert hook.seen == sent and hook.most == 1


async def test_max_connections_is_clamped_to_1_100(tg, emulator):
    async def hook(_request):
        return web.Response()

    async with hooked(tg, hook, max_connections=500):
        assert (await tg.get_webhook_info()).max_connections == 100
    async with hooked(tg, hook, max_connections=0):
        assert (await tg.get_webhook_info()).max_connections == 1


def test_order_keys():
    chat = {"id": 42, "type": "private"}
    user = {"id": 7, "is_bot": False, "first_name": "A"}
    assert order_key({"update_id": 1, "message": {"chat": chat, "from": user}}) == 42
    assert order_key({"update_id": 2, "callback_query": {"id": "1", "from": user, "message": {"chat": chat}}}) == 42
    assert order_key({"update_id": 3, "inline_query": {"id": "1", "from": user, "query": ""}}) == 7
    assert order_key({"update_id": 4, "poll": {"id": "1", "question": "?"}}) is None


async def test_resend_every_delivers_that_share_of_the_updates_once_more(tg, emulator):
    hook = Receiver()
    people = residents(emulator, 6)
    emulator.webhooks.resend_every = 3
    async with hooked(tg, hook):
        for person in people:
            await person.send("/start")
        await hook.wait_seen(8)  # six, and every third once more
        assert emulator.webhooks.taken == 6 and emulator.webhooks.resent == 2
        assert (await tg.get_webhook_info()).pending_update_count == 0
    times = Counter(chat for chat, _ in hook.seen)
    assert set(times) == {p.id for p in people} and sorted(times.values()) == [1, 1, 1, 1, 2, 2]

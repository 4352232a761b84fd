"""The sender against the emulator: Telegram's limits, its errors, and faults on the way."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from kernel.transport import AiohttpRequest
from broadcasts import alerts, lifecycle, outbox
from broadcasts.sender import Sender
from emulator.faults import Faults
from storage.models import Alert, Resident
from tests.test_alerts import TZ, deliveries, wards_of


def received(emulator, sims) -> Counter:
    """Messages each simulated user got from the bot, by user id."""
    return Counter({sim.user.id: len(sim.all_messages) for sim in sims})


async def residents_in_emulator(emulator, db, count: int, **fields) -> list:
    sims = [emulator.user(f"R{n}") for n in range(count)]
    for sim in sims:
        sim.chat.started = True  # they pressed Start some time ago
    ward = (await wards_of(db, "01", 1))[0]
    async with db.transaction() as session:
        for sim in sims:
            resident = Resident(telegram_id=sim.user.id, area_code=ward, onboarded=True)
            session.add(resident)
            await session.flush()
            for name, value in fields.items():
                setattr(resident, name, value)
            session.add(alerts_subscription(resident.id))
    return sims


def alerts_subscription(resident_id: int):
    from storage.models import Subscription

    return Subscription(resident_id=resident_id, topic_code="weather")


async def send_alert(db, **fields) -> Alert:
    values = dict(topic_code="weather", severity="severe", area_codes=["01"], texts={"vi": "Mưa lớn <b>"})
    values.update(fields)
    async with db.transaction() as session:
        alert = await alerts.create(session, **values)
        await lifecycle.compose(session, alert, tz=TZ)
    return alert


def sender_for(emulator, db, **options) -> Sender:
    options.setdefault("rate", float("inf"))
    return Sender(db, token=emulator.token, api_url=emulator.url, tz=TZ, **options)


async def progress_of(db, alert_id: int) -> alerts.Progress:
    async with db.read() as session:
        return await alerts.progress(session, alert_id)


async def test_every_resident_receives_the_alert_once_and_the_alert_is_done(emulator, areas_loaded):
    db = areas_loaded
    emulator.limits.rate_limits = False
    sims = await residents_in_emulator(emulator, db, 40)
    alert = await send_alert(db)
    counters = await sender_for(emulator, db).drain()
    assert counters.sent == 40
    assert set(received(emulator, sims).values()) == {1}
    text = sims[0].all_messages[0].text
    assert "Mưa lớn <b>" in text  # escaped on the way out, shown as typed
    assert (await progress_of(db, alert.id)).sent == 40
    async with db.read() as session:
        assert (await session.get(Alert, alert.id)).status == alerts.Status.DONE


async def test_at_telegrams_limit_a_strict_server_refuses_nothing(emulator, areas_loaded):
    """300 residents at 30 a second, against the emulator refusing a 31st message in any sliding
    second as a strict server would: no 429 (the emulator's fixture would fail the test on one),
    each resident gets the alert once."""
    db = areas_loaded
    sims = await residents_in_emulator(emulator, db, 300)
    await send_alert(db)
    counters = await sender_for(emulator, db, rate=30).drain()
    assert counters.sent == 300 and counters.throttled == 0
    assert set(received(emulator, sims).values()) == {1}


async def test_messages_to_one_chat_keep_a_second_apart(emulator, areas_loaded):
    """Five messages queued for one private chat: the emulator's 1/s per-chat limit (bursts of
    3) would refuse the fourth if they were not spaced."""
    db = areas_loaded
    [sim] = await residents_in_emulator(emulator, db, 1)
    async with db.transaction() as session:
        for n in range(5):
            await outbox.enqueue(session, sim.user.id, "sendMessage", {"text": f"Tin {n}"})
    counters = await sender_for(emulator, db, rate=30).drain()
    assert counters.sent == 5 and counters.throttled == 0
    assert [m.text for m in sim.all_messages] == [f"Tin {n}" for n in range(5)]


async def test_a_429_pauses_sending_and_the_message_goes_later(emulator, areas_loaded):
    db = areas_loaded
    emulator.limits.rate_limits = False
    sims = await residents_in_emulator(emulator, db, 10)
    emulator.faults = Faults(rate_429=0.3, retry_after=1, seed=3, methods={"sendMessage"})
    alert = await send_alert(db)
    counters = await sender_for(emulator, db, rate=100).drain()
    assert emulator.faults.injected["429"] > 0
    assert counters.throttled == emulator.faults.injected["429"]
    assert set(received(emulator, sims).values()) == {1}
    assert (await progress_of(db, alert.id)).sent == 10


async def test_a_blocked_resident_is_marked_and_their_other_messages_dropped(emulator, areas_loaded):
    db = areas_loaded
    emulator.limits.rate_limits = False
    sims = await residents_in_emulator(emulator, db, 3)
    await sims[1].block()
    async with db.transaction() as session:
        await outbox.enqueue(session, sims[1].user.id, "sendMessage", {"text": "later"}, due_at=4_000_000_000)
    emulator.expect_error(403)
    alert = await send_alert(db)
    counters = await sender_for(emulator, db).drain()
    assert (counters.sent, counters.blocked) == (2, 1)
    progress = await progress_of(db, alert.id)
    assert (progress.sent, progress.blocked) == (2, 1)
    async with db.read() as session:
        blocked = (await session.execute(select(Resident).where(Resident.telegram_id == sims[1].user.id))).scalar_one()
        assert blocked.blocked_at is not None
        assert await outbox.pending_count(session) == 0


async def test_a_bad_request_fails_that_delivery_with_telegrams_reason(emulator, areas_loaded):
    db = areas_loaded
    emulator.limits.rate_limits = False
    [sim] = await residents_in_emulator(emulator, db, 1)
    emulator.expect_error(400)
    async with db.transaction() as session:
        await outbox.enqueue(session, sim.user.id, "sendMessage", {"text": "<b>broken", "parse_mode": "HTML"})
        await outbox.enqueue(session, sim.user.id, "sendMessage", {"text": "fine"})
    counters = await sender_for(emulator, db).drain()
    assert (counters.sent, counters.failed) == (1, 1)
    async with db.read() as session:
        from storage.models import Delivery

        failed = (await session.execute(select(Delivery).where(Delivery.state == alerts.FAILED))).scalar_one()
    assert "can't parse entities" in failed.error
    assert [m.text for m in sim.all_messages] == ["fine"]


async def test_server_errors_and_timeouts_are_retried_until_delivered(emulator, areas_loaded):
    db = areas_loaded
    emulator.limits.rate_limits = False
    sims = await residents_in_emulator(emulator, db, 20)
    emulator.faults = Faults(rate_500=0.1, rate_timeout=0.05, timeout_hang=3, seed=5, methods={"sendMessage"})
    alert = await send_alert(db)
    sender = sender_for(emulator, db, retry_base=1, request=AiohttpRequest(connection_pool_size=16, read_timeout=0.5))
    counters = await sender.drain(horizon=60)  # waits for the backoff of the last retries
    assert counters.sent == 20 and counters.retried > 0
    assert emulator.faults.injected["500"] > 0 and emulator.faults.injected["timeout"] > 0
    assert set(received(emulator, sims).values()) == {1}
    assert (await progress_of(db, alert.id)).sent == 20


async def test_expired_alerts_are_not_sent(emulator, areas_loaded):
    db = areas_loaded
    emulator.limits.rate_limits = False
    sims = await residents_in_emulator(emulator, db, 3)
    alert = await send_alert(db)
    async with db.transaction() as session:
        stored = await session.get(Alert, alert.id)
        stored.expires_at = alerts.utcnow()
    counters = await sender_for(emulator, db).drain()
    assert (counters.sent, counters.expired) == (0, 3)
    assert sum(received(emulator, sims).values()) == 0
    assert [d.state for d in await deliveries(db, alert.id)] == [alerts.EXPIRED] * 3


async def test_a_batch_whose_lease_ran_out_is_not_sent_twice(emulator, areas_loaded):
    """Batches that take longer to send than their lease (a slow rate, a long 429 pause): the
    next batch, claimed while one goes out, has run out of lease when its turn comes, and the
    claim after it takes the same rows again. Each resident still gets the alert once."""
    db = areas_loaded
    sims = await residents_in_emulator(emulator, db, 36)
    alert = await send_alert(db)
    counters = await sender_for(emulator, db, rate=4, batch_size=12, lease_seconds=2).drain(horizon=5)
    assert Counter(received(emulator, sims).values()) == Counter({1: 36})
    assert counters.sent == 36 and counters.throttled == 0
    assert (await progress_of(db, alert.id)).sent == 36


async def test_a_sender_started_right_after_another_counts_what_that_one_just_sent(emulator, areas_loaded):
    """A restart within a second of the last sends: Telegram still counts those in its window, so
    the new sender must too (it reads them from the outbox), or its first messages get 429s."""
    db = areas_loaded
    sims = await residents_in_emulator(emulator, db, 60)
    counters = []
    # The first sends its 30 at once (the server's second is then full), the next paces itself.
    for half, rate in ((sims[:30], float("inf")), (sims[30:], 30)):
        async with db.transaction() as session:
            for sim in half:
                await outbox.enqueue(session, sim.user.id, "sendMessage", {"text": "Cảnh báo"})
        counters.append(await sender_for(emulator, db, rate=rate).drain(horizon=0))
    assert [c.sent for c in counters] == [30, 30]
    assert [c.throttled for c in counters] == [0, 0]
    assert set(received(emulator, sims).values()) == {1}

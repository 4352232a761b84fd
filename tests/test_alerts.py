"""Targeting and the outbox, on SQLite and PostgreSQL: who an alert reaches, when, and only once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from broadcasts import alerts, lifecycle, outbox
from broadcasts.alerts import Kind, Severity
from storage.models import Delivery, Resident, Subscription
from tests.fixtures.alerts import TZ, deliveries, wards_of


def local(hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment at this local time in Hanoi (UTC+7), as UTC."""
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=TZ).astimezone(timezone.utc)


async def add_residents(db, area_code: str, count: int, *, start_id: int, topics=("weather",), **fields) -> list[int]:
    async with db.transaction() as session:
        for n in range(count):
            resident = Resident(telegram_id=start_id + n, area_code=area_code, onboarded=True)
            session.add(resident)
            await session.flush()
            for name, value in fields.items():  # after the insert: None would get the column default
                setattr(resident, name, value)
            for topic in topics:
                session.add(Subscription(resident_id=resident.id, topic_code=topic))
    return [start_id + n for n in range(count)]


async def new_alert(db, **fields):
    values = dict(topic_code="weather", severity="severe", area_codes=["01"], texts={"vi": "Mưa lớn"})
    values.update(fields)
    async with db.transaction() as session:
        return await alerts.create(session, **values)


async def compose(db, alert, now):
    async with db.transaction() as session:
        alert = await session.merge(alert)
        return await lifecycle.compose(session, alert, tz=TZ, now=now)


async def test_a_province_alert_reaches_its_wards_subscribers_only(areas_loaded):
    db = areas_loaded
    hanoi_ward, other_ward = await wards_of(db, "01")
    elsewhere = (await wards_of(db, "79", 1))[0]  # Ho Chi Minh City
    reached = await add_residents(db, hanoi_ward, 3, start_id=1000)
    reached += await add_residents(db, other_ward, 2, start_id=2000)
    await add_residents(db, elsewhere, 2, start_id=3000)
    await add_residents(db, hanoi_ward, 2, start_id=4000, topics=("traffic",))
    await add_residents(db, hanoi_ward, 1, start_id=5000, alerts_enabled=False)
    await add_residents(db, hanoi_ward, 1, start_id=6000, blocked_at=local(8))

    alert = await new_alert(db)
    async with db.read() as session:
        assert await alerts.count_recipients(session, "weather", ["01"]) == 5
        assert await alerts.count_recipients(session, "weather", [other_ward]) == 2
        assert await alerts.count_recipients(session, "weather", [other_ward, elsewhere]) == 4
    assert await compose(db, alert, local(12)) == 5
    assert [d.chat_id for d in await deliveries(db, alert.id)] == reached


async def test_composing_again_adds_nothing(areas_loaded):
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 4, start_id=1000)
    alert = await new_alert(db)
    assert await compose(db, alert, local(12)) == 4
    assert await compose(db, alert, local(12, 5)) == 0
    assert len(await deliveries(db, alert.id)) == 4


async def test_quiet_hours_defer_minor_alerts_to_their_end_but_not_severe_ones(areas_loaded):
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 1, start_id=1000)  # 22:00-06:00, the default
    await add_residents(db, ward, 1, start_id=2000, quiet_start_minute=None, quiet_end_minute=None)
    await add_residents(db, ward, 1, start_id=3000, quiet_start_minute=13 * 60, quiet_end_minute=14 * 60)
    now = local(23, 30, 15)

    minor = await new_alert(db, severity="minor")
    await compose(db, minor, now)
    by_chat = {d.chat_id: d for d in await deliveries(db, minor.id)}
    assert by_chat[1000].deferred and by_chat[1000].due_at == int(local(6).timestamp()) + 86400
    assert not by_chat[2000].deferred and by_chat[2000].due_at == int(now.timestamp())
    assert not by_chat[3000].deferred

    severe = await new_alert(db, severity="extreme")
    await compose(db, severe, now)
    assert all(not d.deferred and d.due_at == int(now.timestamp()) for d in await deliveries(db, severe.id))

    async with db.read() as session:
        progress = await alerts.progress(session, minor.id, now=now)
    assert (progress.total, progress.waiting_quiet_hours, progress.remaining) == (3, 1, 2)


async def test_a_daytime_quiet_window_and_the_minute_it_ends(areas_loaded):
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 1, start_id=1000, quiet_start_minute=13 * 60, quiet_end_minute=14 * 60)
    alert = await new_alert(db, severity="moderate")
    await compose(db, alert, local(13, 59, 30))
    [delivery] = await deliveries(db, alert.id)
    assert delivery.deferred and delivery.due_at == int(local(14).timestamp())

    at_the_end = await new_alert(db, severity="moderate")
    await compose(db, at_the_end, local(14))
    assert not (await deliveries(db, at_the_end.id))[0].deferred


async def test_an_alert_that_expires_before_quiet_hours_end_is_not_sent(areas_loaded):
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 1, start_id=1000)
    await add_residents(db, ward, 1, start_id=2000, quiet_start_minute=None, quiet_end_minute=None)
    alert = await new_alert(db, severity="minor", expires_at=local(23) + timedelta(hours=3))
    await compose(db, alert, local(23))
    states = {d.chat_id: d.state for d in await deliveries(db, alert.id)}
    assert states == {1000: alerts.EXPIRED, 2000: alerts.PENDING}


async def test_an_expiry_after_2038_composes(areas_loaded):
    """A CAP message may expire far ahead; the expiry is compared as a 64-bit number of seconds."""
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 1, start_id=1000, quiet_start_minute=None, quiet_end_minute=None)
    alert = await new_alert(db, severity="minor", expires_at=local(12).replace(year=2099))
    assert await compose(db, alert, local(12)) == 1
    assert [d.state for d in await deliveries(db, alert.id)] == [alerts.PENDING]


async def test_claims_lease_rows_and_an_expired_lease_is_claimed_again(areas_loaded):
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 5, start_id=1000)
    alert = await new_alert(db)
    now = local(12)
    await compose(db, alert, now)
    t = int(now.timestamp())
    async with db.transaction() as session:
        first = await outbox.claim(session, 3, lease_seconds=30, now=t)
    async with db.transaction() as session:
        second = await outbox.claim(session, 10, lease_seconds=30, now=t + 1)
    assert len(first) == 3 and len(second) == 2
    assert not {c.id for c in first} & {c.id for c in second}
    async with db.transaction() as session:
        assert await outbox.claim(session, 10, lease_seconds=30, now=t + 10) == []
        await outbox.record(session, [outbox.Outcome(c.id, alerts.SENT, message_id=1) for c in second], now=t + 10)
    async with db.transaction() as session:  # the first claimer died: its leases run out
        again = await outbox.claim(session, 10, lease_seconds=30, now=t + 31)
    assert sorted(c.id for c in again) == sorted(c.id for c in first)
    assert all(c.attempts == 2 for c in again)


async def test_a_blocked_chat_loses_its_other_deliveries_and_is_no_longer_targeted(areas_loaded):
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 2, start_id=1000)
    first, second = await new_alert(db), await new_alert(db, texts={"vi": "Lần hai"})
    now = local(12)
    await compose(db, first, now)
    await compose(db, second, now)
    async with db.transaction() as session:
        claimed = [c for c in await outbox.claim(session, 10, 30, now=int(now.timestamp()))
                   if c.alert_id == first.id and c.chat_id == 1000]
        await outbox.record(session, [outbox.Outcome(claimed[0].id, alerts.BLOCKED, chat_id=1000)])
    async with db.read() as session:
        states = (await session.execute(
            select(Delivery.state, func.count()).where(Delivery.chat_id == 1000).group_by(Delivery.state))).all()
        assert dict(states) == {alerts.BLOCKED: 2}
        assert await alerts.count_recipients(session, "weather", ["01"]) == 1


async def test_cancel_stops_what_is_not_sent_and_a_correction_reaches_everyone_it_was_for(areas_loaded):
    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 4, start_id=1000)
    alert = await new_alert(db)
    now = local(12)
    await compose(db, alert, now)
    async with db.transaction() as session:
        claimed = await outbox.claim(session, 2, 30, now=int(now.timestamp()))
        await outbox.record(session, [outbox.Outcome(c.id, alerts.SENT, message_id=7) for c in claimed])
    sent_to = sorted(c.chat_id for c in claimed)

    async with db.transaction() as session:
        original = await session.get(type(alert), alert.id)
        correction = await lifecycle.follow_up(session, original, Kind.CORRECTION, {"vi": "Sửa: mưa rất lớn"})
    async with db.read() as session:
        progress = await alerts.progress(session, alert.id)
        assert (progress.sent, progress.cancelled, progress.remaining) == (2, 2, 0)
    assert sorted(d.chat_id for d in await deliveries(db, correction.id)) == [1000, 1001, 1002, 1003]

    async with db.transaction() as session:
        original = await session.get(type(alert), alert.id)
        cancellation = await lifecycle.follow_up(session, original, Kind.CANCELLATION, {"vi": "Hủy"})
    assert sorted(d.chat_id for d in await deliveries(db, cancellation.id)) == sent_to
    assert Severity(cancellation.severity) == Severity.SEVERE


async def test_enqueued_messages_with_a_key_are_added_once(db):
    async with db.transaction() as session:
        assert await outbox.enqueue(session, 42, "sendMessage", {"text": "hi"}, key="report:1:assigned")
        assert not await outbox.enqueue(session, 42, "sendMessage", {"text": "hi"}, key="report:1:assigned")
        assert await outbox.enqueue(session, 42, "sendMessage", {"text": "again"})
        assert await outbox.pending_count(session) == 2


async def test_forget_leaves_no_chat_id_in_the_outbox(areas_loaded):
    from storage import residents

    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 2, start_id=1000)
    alert = await new_alert(db)
    now = local(12)
    await compose(db, alert, now)
    async with db.transaction() as session:
        claimed = [c for c in await outbox.claim(session, 10, 30, now=int(now.timestamp())) if c.chat_id == 1000]
        await outbox.record(session, [outbox.Outcome(claimed[0].id, alerts.SENT, message_id=3)])
        await outbox.enqueue(session, 1000, "sendMessage", {"text": "your report"})
        assert await residents.forget(session, 1000)
    async with db.read() as session:
        chats = (await session.execute(select(Delivery.chat_id, Delivery.state))).all()
        progress = await alerts.progress(session, alert.id)
    assert 1000 not in {chat for chat, _ in chats}
    assert progress.sent == 1  # the record of what was sent stays, anonymous


async def test_composing_in_slices_reaches_everyone_and_resumes_after_a_crash(areas_loaded):
    from storage.models import Alert

    db = areas_loaded
    ward = (await wards_of(db, "01", 1))[0]
    await add_residents(db, ward, 7, start_id=1000)
    alert = await new_alert(db)
    slices = []
    assert await lifecycle.compose_all(db, alert.id, tz=TZ, slice_size=2, on_slice=lambda: slices.append(1)) == 7
    assert len(slices) == 4
    async with db.read() as session:
        assert (await session.get(Alert, alert.id)).composed_at is not None

    interrupted = await new_alert(db, texts={"vi": "Lần hai"})
    async with db.transaction() as session:  # the first slice, then the process died
        stored = await session.get(Alert, interrupted.id)
        await lifecycle.compose(session, stored, tz=TZ, residents=(0, 3), complete=False)
    assert len(await deliveries(db, interrupted.id)) == 3
    assert await lifecycle.resume_composing(db, tz=TZ) == [interrupted.id]
    assert len(await deliveries(db, interrupted.id)) == 7
    assert await lifecycle.resume_composing(db, tz=TZ) == []


async def test_an_alert_nobody_follows_is_done_at_once(areas_loaded):
    from storage.models import Alert

    db = areas_loaded
    alert = await new_alert(db, area_codes=["79"])
    assert await lifecycle.compose_all(db, alert.id, tz=TZ) == 0
    async with db.read() as session:
        assert (await session.get(Alert, alert.id)).status == alerts.Status.DONE

"""Storage: migrations, SQLite's settings, concurrent writers, residents."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from storage import migrate, residents
from storage.models import Resident, StaffRole


async def test_migrations_create_exactly_what_the_models_declare(db):
    assert await migrate.current_revision(db) == migrate.head_revision()
    assert await migrate.pending_model_changes(db) == []


async def test_downgrade_to_base_and_back(db):
    await migrate.downgrade(db, "base")
    assert await migrate.current_revision(db) is None
    await migrate.upgrade(db)
    assert await migrate.current_revision(db) == migrate.head_revision()
    async with db.read() as session:
        assert (await session.execute(select(Resident))).all() == []


async def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(sqlite_db):
    async with sqlite_db.read() as session:
        pragma = lambda name: session.execute(text(f"PRAGMA {name}"))  # noqa: E731
        assert (await pragma("journal_mode")).scalar() == "wal"
        assert (await pragma("foreign_keys")).scalar() == 1
        assert (await pragma("busy_timeout")).scalar() >= 5000


async def test_a_lookup_sees_what_was_committed_and_cannot_write(db):
    async with db.transaction() as session:
        session.add(Resident(telegram_id=77, first_name="Lan"))
    async with db.lookup() as session:
        assert (await residents.by_telegram_id(session, 77)).first_name == "Lan"
        assert await session.scalar(select(Resident.first_name).where(Resident.telegram_id == 77)) == "Lan"
    if db.is_sqlite:  # on PostgreSQL a look-up is a read(), whose transaction is rolled back
        with pytest.raises(Exception, match="(?i)readonly"):
            async with db.lookup() as session:
                await session.execute(text("DELETE FROM residents"))
    async with db.read() as session:
        assert await residents.by_telegram_id(session, 77) is not None


async def test_foreign_keys_are_enforced(db):
    with pytest.raises(Exception, match="(?i)foreign key"):
        async with db.transaction() as session:
            session.add(Resident(telegram_id=1, area_code="no-such-area"))


async def test_concurrent_read_modify_write_transactions_all_succeed(db):
    """Twenty handlers that each read, yield, then write the same row: none fails, none is lost."""
    async with db.transaction() as session:
        session.add(Resident(telegram_id=42, quiet_start_minute=0))

    async def bump() -> None:
        async with db.transaction() as session:
            resident = await residents.by_telegram_id(session, 42, for_update=True)
            await asyncio.sleep(0.005)
            resident.quiet_start_minute += 1

    await asyncio.gather(*(bump() for _ in range(20)))
    async with db.read() as session:
        assert (await residents.by_telegram_id(session, 42)).quiet_start_minute == 20


async def test_a_failed_transaction_leaves_nothing_behind(db):
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            session.add(Resident(telegram_id=7))
            await session.flush()
            raise RuntimeError("handler crashed")
    async with db.read() as session:
        assert await residents.by_telegram_id(session, 7) is None


async def test_datetimes_come_back_aware_and_in_utc(db):
    hanoi_noon = datetime(2026, 11, 22, 12, 0, tzinfo=timezone(timedelta(hours=7)))
    async with db.transaction() as session:
        session.add(Resident(telegram_id=9, blocked_at=hanoi_noon))
    async with db.read() as session:
        stored = (await residents.by_telegram_id(session, 9)).blocked_at
    assert stored == hanoi_noon and stored.tzinfo == timezone.utc and stored.hour == 5


async def test_naive_datetimes_are_refused(db):
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as session:
            session.add(Resident(telegram_id=10, blocked_at=datetime(2026, 1, 1)))


async def test_telegram_ids_beyond_32_bits_fit(db):
    big = 7_000_000_000
    async with db.transaction() as session:
        session.add(Resident(telegram_id=big))
        session.add(StaffRole(telegram_id=big, role="moderator"))
    async with db.read() as session:
        assert (await residents.by_telegram_id(session, big)).telegram_id == big


async def test_upsert_on_start_creates_once_and_keeps_settings(db):
    async with db.transaction() as session:
        resident, created = await residents.upsert_on_start(
            session, 5, first_name="Lan", username="lan", language="en")
        assert created
        resident.alerts_enabled = False
        resident.blocked_at = datetime.now(timezone.utc)
    async with db.transaction() as session:
        resident, created = await residents.upsert_on_start(
            session, 5, first_name="Lan N.", username=None, language="vi")
        assert not created
    async with db.read() as session:
        count = (await session.execute(select(Resident))).all()
        again = await residents.by_telegram_id(session, 5)
    assert len(count) == 1
    assert (again.language, again.alerts_enabled, again.blocked_at) == ("en", False, None)
    assert (again.first_name, again.username) == ("Lan N.", None)


async def test_the_default_topics_are_seeded_and_subscriptions_toggle(db):
    from storage import topics

    async with db.transaction() as session:
        codes = [t.code for t in await topics.all_topics(session)]
        assert codes == ["weather", "traffic", "health", "food_safety", "security", "utilities", "general"]
        resident = Resident(telegram_id=77)
        session.add(resident)
        await session.flush()
        await topics.subscribe_defaults(session, resident.id)
        await topics.subscribe_defaults(session, resident.id)  # twice adds nothing
        assert await topics.toggle(session, resident.id, "traffic") is False
        assert await topics.toggle(session, resident.id, "no-such-topic") is None
        assert await topics.subscribed(session, resident.id) == set(codes) - {"traffic"}
        assert await residents.forget(session, 77) is True
        assert await topics.subscribed(session, resident.id) == set()

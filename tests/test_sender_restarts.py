"""The bot stopped and started again and again while it broadcasts: a graceful stop writes the
outcome of every message it sent, so none is sent twice. (A crash may repeat the messages whose
outcome was not yet written: tests/test_resilience.py bounds those.)"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text

from bot.app import build_application
from broadcasts.alerts import PENDING, SENT
from storage.models import Delivery
from tests.fixtures.alerts import received, residents_in_emulator, send_alert
from tests.fixtures.bot import running, settings_for

RESIDENTS = 150
STOP_EVERY = 12  # messages received between two restarts


async def states(db) -> dict[str, int]:
    async with db.read() as session:
        rows = await session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
        return dict(rows.all())


async def leased(db) -> int:
    async with db.read() as session:
        query = select(func.count()).where(Delivery.state == PENDING, Delivery.lease_until.is_not(None))
        return (await session.execute(query)).scalar_one()


async def wait_until(predicate, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_restarts_mid_send_send_nothing_twice(emulator, areas_loaded, tmp_path):
    db = areas_loaded
    settings = settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"))
    sims = await residents_in_emulator(emulator, db, RESIDENTS)
    await send_alert(db)

    def total() -> int:
        return sum(received(emulator, sims).values())

    restarts = 0
    while (await states(db)).get(PENDING, 0):
        application = build_application(settings, db)
        async with running(application, emulator):
            target = min(total() + STOP_EVERY, RESIDENTS)
            await wait_until(lambda: total() >= target)  # noqa: B023 (awaited here, in this round)
        restarts += 1
        # Stopped: every message that reached a resident has its outcome written, nothing is
        # left leased, and nobody got the alert twice.
        assert (await states(db)).get(SENT, 0) == total()
        assert await leased(db) == 0
        assert max(received(emulator, sims).values()) == 1, f"a duplicate after restart {restarts}"
    assert restarts >= 5  # it was stopped mid-send again and again
    assert set(received(emulator, sims).values()) == {1}
    assert await states(db) == {SENT: RESIDENTS}


async def waiting_writes(db) -> list:
    """When the sender's writes to the outbox that wait for a row lock started."""
    async with db.read() as session:
        rows = await session.execute(text(
            "SELECT query_start FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query ILIKE :update"), {"update": f"UPDATE {Delivery.__tablename__} %"})
        return list(rows.scalars())


async def test_a_stop_while_outcomes_are_being_written_loses_none(emulator, areas_loaded, tmp_path):
    """The outbox's rows locked by someone else (a slow write, a vacuum) while the sender sends:
    its write of the outcomes waits. A stop then must let that write finish, not abandon it: an
    abandoned write loses the outcomes it carried, and the next sender sends those messages again."""
    db = areas_loaded
    if db.is_sqlite:
        pytest.skip("row locks need PostgreSQL (SQLite locks the whole file, the sender's claims too)")
    settings = settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"))
    sims = await residents_in_emulator(emulator, db, 20)
    await send_alert(db)

    def total() -> int:
        return sum(received(emulator, sims).values())

    application = build_application(settings, db)
    async with running(application, emulator), db.engine.connect() as locker:
        await wait_until(lambda: total() >= 1)  # the batch is claimed and going out
        await locker.execute(select(Delivery.id).with_for_update())
        await wait_until(lambda: total() == 20)
        async with asyncio.timeout(30):
            while not await waiting_writes(db):  # the sender's write of the outcomes waits
                await asyncio.sleep(0.05)
        stop_asked = datetime.now(timezone.utc)
        stopping = asyncio.create_task(application.bot_data["sender"].stop())
        # A stop that abandoned the write returns, or starts a new one; give it the time to (a
        # right stop does neither: it waits for the lock, which is then let go).
        for _ in range(60):
            if stopping.done() or any(at > stop_asked for at in await waiting_writes(db)):
                break
            await asyncio.sleep(0.05)
        await locker.rollback()
        await stopping
        assert (await states(db)).get(SENT, 0) == total() == 20
        assert await leased(db) == 0

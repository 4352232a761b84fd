"""Database sessions take their turn in arrival order, look-ups send no BEGIN, and the pool's size
comes from LOA_DB_POOL_SIZE (storage/db.py)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from storage import db as storage_db
from storage.db import Database
from tests.fixtures.database import terminate_backend


@pytest.fixture
async def small(db):
    """The test's database through a second Database with a pool of two connections."""
    database = Database(db.url, schema=db.schema, pool_size=2)
    yield database
    await database.dispose()


async def until(condition) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.001)


async def test_sessions_are_granted_in_the_order_asked_and_newcomers_do_not_overtake(small):
    granted: list[str] = []
    release = {name: asyncio.Event() for name in ("a", "b", *(f"w{i}" for i in range(8)), "late")}

    async def session(name: str, way) -> None:
        async with way() as opened:
            granted.append(name)
            await opened.execute(text("SELECT 1"))
            await release[name].wait()

    # One writer and one reader hold the two places (SQLite has one writer at a time).
    holders = [asyncio.create_task(session("a", small.transaction)), asyncio.create_task(session("b", small.read))]
    await until(lambda: len(granted) == 2)
    # Eight more ask, alternating writes and reads, while both places are held.
    waiters = [asyncio.create_task(session(f"w{i}", small.transaction if i % 2 else small.read))
               for i in range(8)]
    await until(lambda: small.waiting == 8)
    # A place comes free and a newcomer asks in the same instant: the first waiter gets it.
    release["a"].set()
    late = asyncio.create_task(session("late", small.read))
    await until(lambda: len(granted) == 3)
    assert granted[2] == "w0"
    for i in range(8):
        release[f"w{i}"].set()
    release["b"].set()
    await until(lambda: len(granted) == 11)
    release["late"].set()
    await asyncio.gather(*holders, *waiters, late)
    assert granted == ["a", "b", *(f"w{i}" for i in range(8)), "late"]
    assert small.waiting == 0


async def test_a_session_opened_inside_another_does_not_wait_for_its_own_place(db):
    one = Database(db.url, schema=db.schema, pool_size=1)
    try:
        async with one.transaction() as outer:
            await outer.execute(text("SELECT 1"))
            async with asyncio.timeout(10), one.read() as inner:
                assert (await inner.execute(text("SELECT 2"))).scalar() == 2
            async with asyncio.timeout(10), one.lookup() as inner:
                assert (await inner.execute(text("SELECT 3"))).scalar() == 3
        # Its place is free again for another task.
        async def other() -> int:
            async with one.read() as session:
                return (await session.execute(text("SELECT 4"))).scalar()

        assert await asyncio.wait_for(asyncio.create_task(other()), 10) == 4
    finally:
        await one.dispose()


async def test_the_pool_holds_the_configured_connections(small):
    if small.is_sqlite:
        assert small.engine.pool.size() == 2
        return
    pids = set()
    gate = asyncio.Event()

    async def hold() -> None:
        async with small.read() as session:
            pids.add((await session.execute(text("SELECT pg_backend_pid()"))).scalar())
            await gate.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(5)]
    await until(lambda: len(pids) == 2 and small.waiting == 3)
    gate.set()
    await asyncio.gather(*tasks)
    assert small.engine.pool.size() == 2 and len(pids) <= 2


async def test_a_lookup_opens_no_transaction_and_a_read_does(db):
    if db.is_sqlite:
        async with db.lookup() as session:
            assert not session.sync_session.connection().connection.dbapi_connection.in_transaction
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
            assert (await session.connection()).in_transaction()
        return
    # Each statement of a look-up is a transaction of its own; those of a read share one.
    xid = text("SELECT txid_current()")
    async with db.lookup() as session:
        assert (await session.execute(xid)).scalar() != (await session.execute(xid)).scalar()
    async with db.read() as session:
        assert (await session.execute(xid)).scalar() == (await session.execute(xid)).scalar()


async def test_a_connection_that_died_while_idle_is_replaced_before_use(db, monkeypatch):
    if db.is_sqlite:
        pytest.skip("SQLite has no server connection to lose")
    monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_S", 0.0)
    one = Database(db.url, schema=db.schema, pool_size=1)
    try:
        async with one.lookup() as session:
            first = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
        await terminate_backend(db, first)
        async with one.lookup() as session:
            second = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
        assert second != first
    finally:
        await one.dispose()

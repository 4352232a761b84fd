"""`Database.rows`, the hot look-ups' fast path (storage/db.py), and the detached instances
storage/rows.py makes of its rows: the same values as the ORM's, the same turns as a session."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, bindparam, func, inspect, text
from sqlmodel import select

from storage import db as storage_db
from storage import residents
from storage.db import Database
from storage.models import Resident
from tests.fixtures.database import terminate_backend

HANOI_NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone(timedelta(hours=7)))
BIG = 7_000_000_000


async def test_a_resident_found_outside_a_session_has_the_values_the_orm_reads(db):
    async with db.transaction() as session:
        session.add(Resident(telegram_id=BIG, language="en", first_name="Lan", username=None,
                             onboarded=True, awaiting="area", quiet_start_minute=None, blocked_at=HANOI_NOON))
    found = await residents.find(db, BIG)
    async with db.read() as session:
        stored = await residents.by_telegram_id(session, BIG)
        columns = [column.key for column in inspect(Resident).column_attrs]
        expected = {name: getattr(stored, name) for name in columns}
    assert {name: getattr(found, name) for name in columns} == expected
    assert found.blocked_at == HANOI_NOON and found.blocked_at.tzinfo == timezone.utc
    assert found.created_at.tzinfo == timezone.utc
    assert await residents.find(db, BIG + 1) is None


async def test_a_found_resident_is_detached_and_a_session_updates_it_instead_of_inserting(db):
    async with db.transaction() as session:
        session.add(Resident(telegram_id=11, first_name="Minh"))
    found = await residents.find(db, 11)
    assert inspect(found).detached
    async with db.transaction() as session:
        merged = await session.merge(found)
        merged.first_name = "Minh Anh"
    async with db.read() as session:
        everyone = (await session.execute(select(Resident.telegram_id, Resident.first_name))).all()
    assert everyone == [(11, "Minh Anh")]


async def test_rows_wait_their_turn_behind_the_sessions_holding_the_pool(db):
    if db.is_sqlite:
        pytest.skip("SQLite's look-ups read on a connection of their own and take no turn")
    one = Database(db.url, schema=db.schema, pool_size=1)
    try:
        holding, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with one.read() as session:
                await session.execute(text("SELECT 1"))
                holding.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await holding.wait()
        reader = asyncio.create_task(one.rows(select(func.count()).select_from(Resident), {}))
        async with asyncio.timeout(10):
            while one.waiting == 0:
                await asyncio.sleep(0.001)
        assert not reader.done()
        release.set()
        assert await reader == [(0,)]
        await holder
    finally:
        await one.dispose()


async def test_rows_get_a_new_connection_when_the_idle_one_died(db, monkeypatch):
    if db.is_sqlite:
        pytest.skip("SQLite has no server connection to lose")
    monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_S", 0.0)
    one = Database(db.url, schema=db.schema, pool_size=1)
    pid = select(func.pg_backend_pid())
    try:
        [(first,)] = await one.rows(pid, {})
        await terminate_backend(db, first)
        [(second,)] = await one.rows(pid, {})
        assert second != first
    finally:
        await one.dispose()


async def test_rows_send_no_transaction(db):
    if db.is_sqlite:
        pytest.skip("SQLite's look-up connection is checked by test_db_turns")
    xid = select(func.txid_current())
    assert await db.rows(xid, {}) != await db.rows(xid, {})


async def test_an_area_read_without_its_boundary_keeps_it_in_the_database_when_merged(db):
    from sqlalchemy.orm.exc import DetachedInstanceError

    from storage.models import Area
    from storage.rows import columns_of

    boundary = '{"type":"Polygon","coordinates":[[[105.8,21.0],[105.9,21.0],[105.9,21.1],[105.8,21.0]]]}'
    async with db.transaction() as session:
        session.add(Area(code="00001", level=1, kind="ward", name_vi="Phường Một", name_en="Mot ward",
                         full_name_vi="Phường Một", full_name_en="Mot ward", boundary=boundary))
    light = columns_of(Area, without=("boundary",))
    assert "boundary" not in [column.key for column in light.columns]
    [row] = await db.rows(select(*light.columns).where(Area.code == "00001"), {})
    area = light.load(row)
    assert (area.code, area.name_en, area.level) == ("00001", "Mot ward", 1)
    with pytest.raises(DetachedInstanceError):
        _ = area.boundary
    async with db.transaction() as session:
        merged = await session.merge(area)
        merged.name_en = "Ward One"
    async with db.read() as session:
        stored = (await session.execute(select(Area.name_en, Area.boundary).where(Area.code == "00001"))).one()
    assert tuple(stored) == ("Ward One", boundary)
    with pytest.raises(ValueError):
        columns_of(Area, without=("no_such_column",))


async def test_a_read_that_fails_leaves_the_next_one_a_working_connection(db):
    if db.is_sqlite:
        pytest.skip("SQLite's look-ups read on a connection of their own")
    one = Database(db.url, schema=db.schema, pool_size=1)
    try:
        share = select((bindparam("n", type_=Integer) / bindparam("d", type_=Integer)).label("share"))
        with pytest.raises(Exception, match="division by zero"):
            await one.rows(share, {"n": 6, "d": 0})
        assert await one.rows(share, {"n": 6, "d": 3}) == [(2,)]
        # and the sessions are not held up by it: rows and sessions share the one place
        async with one.read() as session:
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await one.dispose()

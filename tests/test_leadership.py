"""Exactly one sender at a time, and another takes over when it goes."""

from __future__ import annotations

import asyncio

from broadcasts.leadership import leadership
from storage.db import Database


async def test_one_leader_and_a_successor_when_it_leaves(db):
    other = Database(db.url, schema=db.schema)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    order: list[str] = []
    first_may_leave = asyncio.Event()

    async def candidate(name: str, database: Database, stop: asyncio.Event, leave: asyncio.Event | None) -> None:
        async with leadership(database, stop, retry_every=0.1) as lost:
            if lost is None:
                return
            order.append(f"{name} leads")
            if leave is not None:
                await leave.wait()
            else:
                await stop.wait()
            order.append(f"{name} leaves")

    try:
        first = asyncio.create_task(candidate("first", db, stop_first, first_may_leave))
        await _until(lambda: order == ["first leads"])
        second = asyncio.create_task(candidate("second", other, stop_second, None))
        await asyncio.sleep(0.5)  # several of the second's tries
        assert order == ["first leads"]

        first_may_leave.set()
        await first
        await _until(lambda: order[-1] == "second leads")
        assert order == ["first leads", "first leaves", "second leads"]
        stop_second.set()
        await second
    finally:
        await other.dispose()


async def test_a_candidate_told_to_stop_while_waiting_never_leads(db):
    other = Database(db.url, schema=db.schema)
    stop_leader, stop_waiting = asyncio.Event(), asyncio.Event()
    try:
        async with leadership(db, stop_leader, retry_every=0.1) as held:
            assert held is not None
            waiting = asyncio.create_task(_lead_once(other, stop_waiting))
            await asyncio.sleep(0.3)
            stop_waiting.set()
            assert await waiting is False
    finally:
        await other.dispose()


async def _lead_once(database: Database, stop: asyncio.Event) -> bool:
    async with leadership(database, stop, retry_every=0.1) as lost:
        return lost is not None


async def _until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)

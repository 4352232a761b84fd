"""Queries on alert topics and residents' subscriptions."""

from __future__ import annotations

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.models import Subscription, Topic


async def all_topics(session: AsyncSession) -> list[Topic]:
    return list((await session.execute(select(Topic).order_by(Topic.position, Topic.code))).scalars())


async def subscribed(session: AsyncSession, resident_id: int) -> set[str]:
    query = select(Subscription.topic_code).where(Subscription.resident_id == resident_id)
    return set((await session.execute(query)).scalars())


async def subscribe_defaults(session: AsyncSession, resident_id: int) -> None:
    defaults = (await session.execute(select(Topic.code).where(Topic.subscribed_by_default))).scalars().all()
    have = await subscribed(session, resident_id)
    rows = [{"resident_id": resident_id, "topic_code": code} for code in defaults if code not in have]
    if rows:
        await session.execute(insert(Subscription), rows)


async def toggle(session: AsyncSession, resident_id: int, topic_code: str) -> bool | None:
    """Flip one subscription; returns whether it is now on, or None for an unknown topic."""
    if await session.get(Topic, topic_code) is None:
        return None
    existing = await session.get(Subscription, (resident_id, topic_code))
    if existing is not None:
        await session.delete(existing)
        await session.flush()
        return False
    session.add(Subscription(resident_id=resident_id, topic_code=topic_code))
    await session.flush()
    return True


async def unsubscribe_all(session: AsyncSession, resident_id: int) -> None:
    await session.execute(delete(Subscription).where(Subscription.resident_id == resident_id))

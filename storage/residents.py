"""Queries on residents."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.db import Database
from storage.models import Delivery, Report, ReportDraft, ReportEvent, ReportMessage, Resident, Subscription
from storage.rows import columns_of
from storage.types import utcnow

_RESIDENT = columns_of(Resident)

# The look-ups every update makes, built once: SQLAlchemy then reuses their compiled form
# without rebuilding and re-analysing the statement on each call.
_BY_TELEGRAM_ID = select(Resident).where(Resident.telegram_id == bindparam("telegram_id"))
_BY_TELEGRAM_ID_FOR_UPDATE = _BY_TELEGRAM_ID.with_for_update()


_FIND = select(*_RESIDENT.columns).where(Resident.telegram_id == bindparam("telegram_id"))


async def find(db: Database, telegram_id: int) -> Resident | None:
    """The resident, read outside any session (`Database.rows`): for reading only."""
    rows = await db.rows(_FIND, {"telegram_id": telegram_id})
    return _RESIDENT.load(rows[0]) if rows else None


async def by_telegram_id(session: AsyncSession, telegram_id: int, *, for_update: bool = False) -> Resident | None:
    """The resident in `session`, to change it or read it with the rest of the session's work
    (a look-up alone is `find`); `for_update` locks the row on PostgreSQL for a
    read-modify-write (SQLite's writing transactions are serialised already)."""
    query = _BY_TELEGRAM_ID_FOR_UPDATE if for_update else _BY_TELEGRAM_ID
    return (await session.execute(query, {"telegram_id": telegram_id})).scalar_one_or_none()


async def upsert_on_start(
    session: AsyncSession,
    telegram_id: int,
    *,
    first_name: str | None,
    username: str | None,
    language: str,
) -> tuple[Resident, bool]:
    """The resident behind a /start, created on first contact; returns (resident, created).

    A returning resident keeps their settings (language included) and is no longer marked blocked.
    """
    resident = await by_telegram_id(session, telegram_id, for_update=True)
    created = resident is None
    if resident is None:
        resident = Resident(telegram_id=telegram_id, language=language)
        session.add(resident)
    resident.first_name = first_name
    resident.username = username
    resident.blocked_at = None
    resident.updated_at = utcnow()
    await session.flush()
    return resident, created


async def forget(session: AsyncSession, telegram_id: int) -> bool:
    """Delete everything personal about a resident (their subscriptions and any report draft go
    with them); the reports they sent, and what they wrote in reports' threads, stay with the city
    as anonymous records."""
    resident = await by_telegram_id(session, telegram_id, for_update=True)
    if resident is None:
        return False
    # The changed `updated_at` has the staff's cards drawn again, without the name.
    await session.execute(update(Report).where(Report.resident_id == resident.id)
                          .values(resident_id=None, reporter_name=None, updated_at=utcnow()))
    # Their ratings and reopenings stay in the reports' history, by "the resident", no longer by whom.
    await session.execute(update(ReportEvent).where(ReportEvent.actor_telegram_id == telegram_id,
                                                    ReportEvent.actor == "resident")
                          .values(actor_telegram_id=None, actor_name=None))
    # What they wrote in reports' threads stays, with its cleaned photos, by "the resident".
    await session.execute(update(ReportMessage).where(ReportMessage.author_telegram_id == telegram_id,
                                                      ReportMessage.author == "resident")
                          .values(author_telegram_id=None, author_name=None))
    await session.execute(delete(ReportDraft).where(ReportDraft.resident_id == resident.id))
    await session.execute(delete(Subscription).where(Subscription.resident_id == resident.id))
    # Messages not yet sent are dropped; the record of those sent keeps no chat id.
    await session.execute(delete(Delivery).where(Delivery.chat_id == telegram_id, Delivery.state == "pending"))
    await session.execute(update(Delivery)
                          .where(or_(Delivery.resident_id == resident.id, Delivery.chat_id == telegram_id))
                          .values(resident_id=None, chat_id=0, payload=None))
    await session.execute(delete(Resident).where(Resident.id == resident.id))
    return True


async def mark_blocked(session: AsyncSession, telegram_id: int, blocked: bool) -> None:
    resident = await by_telegram_id(session, telegram_id, for_update=True)
    if resident is not None:
        resident.blocked_at = utcnow() if blocked else None
        resident.updated_at = utcnow()

"""The outbox: messages the system must not lose, claimed by the sender under a lease.

A claimed delivery carries `lease_until`; if the sender dies before recording the outcome, the
lease runs out and the delivery is claimed again. So a delivery is sent at least once, and more
than once only if the sender died between Telegram's answer and the write of the outcome (the
messages in flight at that moment).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.alerts import BLOCKED, CANCELLED, EXPIRED, FAILED, IS_PENDING, PENDING, SENT, TALLIED
from storage.models import Delivery, DeliveryTally, Resident
from storage.types import utcnow

# Report notifications and other one-to-one messages come before alerts of any severity but
# the most serious (alerts use 1-5 by severity).
PRIORITY_MESSAGE = 1


@dataclass(slots=True)
class Claimed:
    id: int
    alert_id: int | None
    resident_id: int | None
    chat_id: int
    language: str
    payload: dict | None
    attempts: int


def _now() -> int:
    return int(utcnow().timestamp())


async def enqueue(session: AsyncSession, chat_id: int, method: str, params: dict, *,
                  key: str | None = None, resident_id: int | None = None,
                  priority: int = PRIORITY_MESSAGE, due_at: int | None = None) -> bool:
    """Queue one Bot API call (e.g. "sendMessage", {"text": ...}) for `chat_id`.

    With a `key`, enqueueing the same key again adds nothing; returns whether a row was added.
    """
    row = dict(chat_id=chat_id, payload={"method": method, "params": params}, key=key,
               resident_id=resident_id, priority=priority, due_at=due_at or _now(), state=PENDING)
    if key is None:
        await session.execute(insert(Delivery).values(**row))
        return True
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        statement = pg_insert(Delivery).values(**row).on_conflict_do_nothing(index_elements=["key"])
    else:
        statement = insert(Delivery).values(**row).prefix_with("OR IGNORE")
    return bool((await session.execute(statement)).rowcount)


async def without_waiting_for_disk(session: AsyncSession) -> None:
    """This transaction's commit does not wait for its WAL to reach the disk (PostgreSQL's
    `synchronous_commit = off`, for this transaction only): for the sender's claims and outcomes,
    several a second, whose flushes otherwise queue with the intake's commits. A database crash
    may then lose the last fraction of a second of them: those deliveries are claimed and sent
    again, which a crash of the sender does anyway (at least once, see above). Nothing else is
    at risk: the database stays consistent."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit = off"))


async def claim(session: AsyncSession, limit: int, lease_seconds: int, now: int | None = None) -> list[Claimed]:
    """Lease up to `limit` due deliveries, most urgent first.

    On PostgreSQL the rows are locked with SKIP LOCKED so two claimers never take the same
    row; on SQLite the writing transaction holds the database lock for the same effect.
    """
    now = _now() if now is None else now
    due = (
        select(Delivery.id)
        .where(IS_PENDING, Delivery.due_at <= now,
               or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        .order_by(Delivery.priority, Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    postgres = session.bind.dialect.name == "postgresql"
    if postgres:
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease_seconds, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.alert_id, Delivery.resident_id, Delivery.chat_id,
                   Delivery.language, Delivery.payload, Delivery.attempts)
        .execution_options(synchronize_session=False)
    )
    if postgres:
        # The due rows are read in the order of ix_deliveries_due, never sorted: a plan made
        # while the statistics lag behind a compose (or a generic plan made on an empty outbox)
        # otherwise sorts every pending row at each claim, which held a claim for 29 s at a
        # million pending beside the webhook intake (docs/BENCHMARKS.md, "Quick while
        # broadcasting"); with sorts off its plan is that index's scan, whatever the statistics.
        await session.execute(text("SELECT set_config('enable_sort', 'off', true)"))
    rows = (await session.execute(statement)).all()
    if postgres:
        await session.execute(text("SELECT set_config('enable_sort', 'on', true)"))
    claimed = [Claimed(*row) for row in rows]
    claimed.sort(key=lambda c: c.id)
    return claimed


_RECORD_DONE_PG = text(
    "UPDATE deliveries AS d SET state = o.state, message_id = o.message_id, error = o.error, "
    "done_at = :now, lease_until = NULL "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:states AS varchar[]), CAST(:message_ids AS bigint[]), "
    "CAST(:errors AS varchar[])) AS o (id, state, message_id, error) WHERE d.id = o.id")


@dataclass(slots=True)
class Outcome:
    """What became of one claimed delivery."""

    id: int
    state: str  # SENT, FAILED, BLOCKED, EXPIRED, or PENDING to try again at `retry_at`
    message_id: int | None = None
    error: str | None = None
    retry_at: int | None = None
    chat_id: int | None = None
    refund_attempt: bool = False  # a 429: the try does not count


async def record(session: AsyncSession, outcomes: list[Outcome], now: int | None = None) -> None:
    """Write the outcomes of a batch in a few statements."""
    now = _now() if now is None else now
    done = [o for o in outcomes if o.state != PENDING]
    retry = [o for o in outcomes if o.state == PENDING]
    if done and session.bind.dialect.name == "postgresql":
        # One statement for the batch: an executemany is one UPDATE per row on the server, and at
        # 1,000 messages a second those were a good part of PostgreSQL's work while it also
        # serves the webhook intake (docs/BENCHMARKS.md, "Quick while broadcasting").
        await session.execute(_RECORD_DONE_PG, {
            "now": now, "ids": [o.id for o in done], "states": [o.state for o in done],
            "message_ids": [o.message_id for o in done],
            "errors": [(o.error or "")[:255] or None for o in done]})
    elif done:
        await session.execute(
            update(Delivery.__table__)
            .where(Delivery.__table__.c.id == bindparam("b_id"))
            .values(state=bindparam("b_state"), message_id=bindparam("b_message_id"),
                    error=bindparam("b_error"), done_at=now, lease_until=None),
            [{"b_id": o.id, "b_state": o.state, "b_message_id": o.message_id,
              "b_error": (o.error or "")[:255] or None} for o in done],
        )
    if retry:
        table = Delivery.__table__
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(due_at=bindparam("b_due"), lease_until=None, error=bindparam("b_error"),
                    attempts=table.c.attempts - bindparam("b_refund")),
            [{"b_id": o.id, "b_due": o.retry_at or now, "b_error": (o.error or "")[:255] or None,
              "b_refund": 1 if o.refund_attempt else 0} for o in retry],
        )
    blocked_chats = sorted({o.chat_id for o in outcomes if o.state == BLOCKED and o.chat_id is not None})
    if blocked_chats:
        await mark_blocked(session, blocked_chats, now)


async def mark_blocked(session: AsyncSession, chat_ids: list[int], now: int) -> None:
    """Those chats blocked the bot: no more alerts are targeted to them, and their other
    pending deliveries are dropped."""
    await session.execute(
        update(Resident).where(Resident.telegram_id.in_(chat_ids), Resident.blocked_at.is_(None))
        .values(blocked_at=utcnow())
    )
    await session.execute(
        update(Delivery).where(Delivery.chat_id.in_(chat_ids), IS_PENDING)
        .values(state=BLOCKED, error="blocked by the user", done_at=now, lease_until=None)
    )


async def release_leases(session: AsyncSession) -> int:
    """Free every lease: called by a newly elected sender, the only one, so any lease left
    belongs to a sender that died; its deliveries need not wait for the lease to run out."""
    result = await session.execute(
        update(Delivery).where(IS_PENDING, Delivery.lease_until.is_not(None)).values(lease_until=None)
    )
    return result.rowcount or 0


async def done_since(session: AsyncSession, since: int) -> int:
    """Deliveries whose outcome was written at `since` (Unix seconds) or later: what a sender
    starting now must count as sent in Telegram's last second (one scan of the outbox, at start)."""
    return (await session.execute(select(func.count()).where(Delivery.done_at >= since))).scalar_one()


async def pending_count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).where(IS_PENDING))).scalar_one()


async def next_due(session: AsyncSession) -> int | None:
    """When the earliest pending delivery is due (Unix seconds), or None if none is pending."""
    return (await session.execute(select(func.min(Delivery.due_at)).where(IS_PENDING))).scalar()


def _done_before(before: int):
    return (Delivery.state != PENDING, Delivery.done_at < before)


async def count_done_before(session: AsyncSession, before: int) -> int:
    """Outbox rows whose outcome was written before `before` (Unix seconds): what `purge_done`
    would delete."""
    return (await session.execute(select(func.count()).select_from(Delivery)
                                  .where(*_done_before(before)))).scalar_one()


async def purge_done(session: AsyncSession, before: int, limit: int) -> int:
    """Delete up to `limit` of those rows, oldest first, adding what the deleted rows of each
    alert came to into its tally first (in the same transaction), so an alert's figures stay
    whole. The tally counts what the DELETE returned: a row two purges race for counts once."""
    ids = list((await session.execute(select(Delivery.id).where(*_done_before(before))
                                      .order_by(Delivery.id).limit(limit))).scalars())
    if not ids:
        return 0
    gone = (await session.execute(delete(Delivery).where(Delivery.id.in_(ids), *_done_before(before))
                                  .returning(Delivery.alert_id, Delivery.state))).all()
    per_alert: dict[int, Counter] = {}
    for alert_id, state in gone:
        if alert_id is not None and state in TALLIED:
            per_alert.setdefault(alert_id, Counter())[state] += 1
    if per_alert:
        rows = [{"alert_id": alert_id, **{state: counts[state] for state in TALLIED}}
                for alert_id, counts in sorted(per_alert.items())]
        dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(DeliveryTally).values(rows)
        table = DeliveryTally.__table__
        await session.execute(statement.on_conflict_do_update(
            index_elements=["alert_id"],
            set_={state: table.c[state] + statement.excluded[state] for state in TALLIED}))
    return len(gone)


__all__ = ["BLOCKED", "CANCELLED", "EXPIRED", "FAILED", "PENDING", "SENT", "Claimed", "Outcome",
           "claim", "count_done_before", "done_since", "enqueue", "mark_blocked", "next_due", "pending_count",
           "purge_done", "record", "release_leases", "without_waiting_for_disk"]

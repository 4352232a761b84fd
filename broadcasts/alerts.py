"""Alerts: who they reach, writing their deliveries into the outbox, following and stopping them.

Targeting is one SQL statement. Residents of the alert's areas (and of every unit below them)
who follow its topic, have alerts on and have not blocked the bot get one delivery each, written
with INSERT ... SELECT: a million rows never pass through Python. Quiet hours are worked out in
the same statement, in the city's time zone: a Minor or Moderate alert to a resident in their
quiet hours is due when those hours end; Severe and Extreme alerts are due at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, and_, case, func, insert, literal, or_, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alert, Area, Delivery, Resident, Subscription
from storage.types import utcnow

MINUTES_PER_DAY = 24 * 60


class Severity(StrEnum):
    """CAP 1.2 severities, most serious first."""

    EXTREME = "extreme"
    SEVERE = "severe"
    MODERATE = "moderate"
    MINOR = "minor"
    UNKNOWN = "unknown"

    @property
    def waits_for_quiet_hours(self) -> bool:
        return self in (Severity.MODERATE, Severity.MINOR, Severity.UNKNOWN)

    @property
    def priority(self) -> int:
        """Outbox priority: the more serious, the sooner (0 first)."""
        return list(Severity).index(self) + 1


class Urgency(StrEnum):
    IMMEDIATE = "immediate"
    EXPECTED = "expected"
    FUTURE = "future"
    PAST = "past"
    UNKNOWN = "unknown"


class Kind(StrEnum):
    ALERT = "alert"
    CORRECTION = "correction"
    CANCELLATION = "cancellation"


class Status(StrEnum):
    DRAFT = "draft"
    TEMPLATE = "template"  # what a schedule sends copies of
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


# Outbox states a delivery ends in; "pending" is the only one the sender works on.
PENDING, SENT, FAILED, BLOCKED, CANCELLED, EXPIRED = "pending", "sent", "failed", "blocked", "cancelled", "expired"


COLUMNS = ["alert_id", "resident_id", "chat_id", "language", "state", "priority", "due_at", "deferred", "attempts"]


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


async def target_area_codes(session: AsyncSession, codes: list[str]):
    """A subquery of the codes in `codes` and every unit below them, at any depth."""
    tree = select(Area.code).where(Area.code.in_(codes)).cte("target_areas", recursive=True)
    tree = tree.union_all(select(Area.code).where(Area.parent_code == tree.c.code))
    return select(tree.c.code)


def _recipients(topic_code: str, areas):
    return and_(
        Subscription.resident_id == Resident.id,
        Subscription.topic_code == topic_code,
        Resident.alerts_enabled == true(),
        Resident.blocked_at.is_(None),
        Resident.area_code.in_(areas),
    )


async def count_recipients(session: AsyncSession, topic_code: str, area_codes: list[str]) -> int:
    """How many residents an alert on this topic to these areas would reach right now."""
    areas = await target_area_codes(session, area_codes)
    query = select(func.count()).select_from(Resident).join(Subscription, _recipients(topic_code, areas))
    return (await session.execute(query)).scalar_one()


def _greatest(session: AsyncSession, a, b):
    """SQL's larger-of-two: max() with two arguments on SQLite, greatest() on PostgreSQL."""
    return func.max(a, b) if session.bind.dialect.name == "sqlite" else func.greatest(a, b)


def _quiet_delay(now_local_minute: int):
    """Seconds until the end of the resident's quiet hours if `now` is inside them, else 0."""
    start, end = Resident.quiet_start_minute, Resident.quiet_end_minute
    m = literal(now_local_minute)
    inside = case(
        (or_(start.is_(None), end.is_(None), start == end), False),
        (start < end, and_(m >= start, m < end)),
        else_=or_(m >= start, m < end),
    )
    minutes_left = (end - m + MINUTES_PER_DAY) % MINUTES_PER_DAY
    return case((inside, minutes_left * 60), else_=0)


async def compose(session: AsyncSession, alert: Alert, *, tz: ZoneInfo, now: datetime | None = None,
                  residents: tuple[int, int] | None = None, complete: bool = True) -> int:
    """Write the alert's deliveries into the outbox; returns how many were added.

    `residents` = (after, up_to) limits it to a range of resident ids, and `complete=False`
    says more ranges follow (see `compose_all`). Composing again adds nothing (one delivery per
    alert and resident), so a compose that was interrupted can simply be run again.
    """
    now = now or utcnow()
    local = now.astimezone(tz)
    severity = Severity(alert.severity)
    now_s = epoch(now)
    # Quiet hours end on a whole minute: subtract the seconds already gone in this one.
    delay = _quiet_delay(local.hour * 60 + local.minute) - local.second if severity.waits_for_quiet_hours else literal(0)
    delay = _greatest(session, delay, 0)
    due = literal(now_s) + delay
    state = literal(PENDING)
    if alert.expires_at is not None:
        # As a BIGINT: asyncpg binds a plain int as int4, and an expiry after 2038 overflows it.
        state = case((due >= literal(epoch(alert.expires_at), BigInteger), EXPIRED), else_=PENDING)
    areas = await target_area_codes(session, alert.area_codes)
    rows = (
        select(
            literal(alert.id), Resident.id, Resident.telegram_id, Resident.language, state,
            literal(severity.priority), due, delay > 0, literal(0),
        )
        .select_from(Resident)
        .join(Subscription, _recipients(alert.topic_code, areas))
    )
    if residents is not None:
        rows = rows.where(Resident.id > residents[0], Resident.id <= residents[1])
    statement = insert(Delivery).from_select(COLUMNS, rows)
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        statement = pg_insert(Delivery).from_select(COLUMNS, rows).on_conflict_do_nothing(
            index_elements=["alert_id", "resident_id"])
    else:
        statement = statement.prefix_with("OR IGNORE")
    added = await _rows_written(session, await session.execute(statement))
    alert.status = Status.SENDING
    if complete:
        alert.composed_at = alert.composed_at or now
    return added


SLICE = 50_000  # residents per committed slice of a compose


async def compose_all(db, alert_id: int, *, tz: ZoneInfo, slice_size: int = SLICE,
                      on_slice: Callable[[], None] | None = None) -> int:
    """Compose an alert in committed slices of resident ids, calling `on_slice` after each.

    The sender starts on the first slice while the others are written, so the first messages
    leave within a second even for a million recipients. The alert counts as composed (and
    can be finished) only after the last slice; a compose cut short by a crash is resumed by
    `resume_composing`.
    """
    async with db.read() as session:
        low, high = (await session.execute(select(func.min(Resident.id), func.max(Resident.id)))).one()
    bounds = list(range((low or 1) - 1, (high or 0), slice_size)) or [0]
    added = 0
    for number, after in enumerate(bounds):
        last = number == len(bounds) - 1
        async with db.transaction() as session:
            alert = await session.get(Alert, alert_id)
            if alert is None or alert.status in (Status.CANCELLED, Status.DONE):
                return added
            added += await compose(session, alert, tz=tz, residents=(after, after + slice_size), complete=last)
            if last and not (await session.execute(select(Delivery.id).where(Delivery.alert_id == alert_id).limit(1))).first():
                alert.status, alert.finished_at = Status.DONE, utcnow()  # nobody to send it to
        if number == 0 and not db.is_sqlite and not last:
            # The claim's plan relies on the table's statistics, which now lag far behind.
            async with db.engine.connect() as connection:
                await connection.execute(text("ANALYZE deliveries"))
        if on_slice is not None:
            on_slice()
    return added


async def resume_composing(db, *, tz: ZoneInfo, on_slice: Callable[[], None] | None = None) -> list[int]:
    """Finish composes a crash interrupted (alerts being sent but not fully composed)."""
    async with db.read() as session:
        ids = (await session.execute(select(Alert.id).where(
            Alert.status == Status.SENDING, Alert.composed_at.is_(None)))).scalars().all()
    for alert_id in ids:
        await compose_all(db, alert_id, tz=tz, on_slice=on_slice)
    return list(ids)


async def _rows_written(session: AsyncSession, result) -> int:
    # Python's sqlite3 leaves rowcount at -1 for a statement that starts with WITH (our CTE).
    if result.rowcount is not None and result.rowcount >= 0:
        return result.rowcount
    return (await session.execute(select(func.changes()))).scalar_one()


async def create(session: AsyncSession, **fields) -> Alert:
    """A new alert (not yet composed); `fields` are Alert's columns."""
    for name, kind in (("severity", Severity), ("urgency", Urgency), ("kind", Kind)):
        if name in fields:
            fields[name] = kind(fields[name]).value
    fields.setdefault("owner", fields.get("agency_code") or "")
    alert = Alert(**fields)
    session.add(alert)
    await session.flush()
    return alert


@dataclass(frozen=True)
class Progress:
    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0
    expired: int = 0
    waiting_quiet_hours: int = 0  # pending, due when quiet hours end
    remaining: int = 0  # pending, due now (or being retried)

    @property
    def finished(self) -> bool:
        return self.remaining == 0 and self.waiting_quiet_hours == 0


async def progress(session: AsyncSession, alert_id: int, *, now: datetime | None = None) -> Progress:
    return (await progress_of(session, [alert_id], now=now))[alert_id]


async def progress_of(session: AsyncSession, alert_ids: list[int], *,
                      now: datetime | None = None) -> dict[int, Progress]:
    """How far the sending of each of these alerts got, from one grouped query."""
    if not alert_ids:
        return {}
    now_s = epoch(now or utcnow())
    waiting = and_(Delivery.state == PENDING, Delivery.deferred == true(), Delivery.due_at > now_s)
    query = (
        select(Delivery.alert_id, Delivery.state, waiting, func.count())
        .where(Delivery.alert_id.in_(alert_ids))
        .group_by(Delivery.alert_id, Delivery.state, waiting)
    )
    counts: dict[int, dict[str, int]] = {alert_id: {"total": 0} for alert_id in alert_ids}
    for alert_id, state, is_waiting, count in (await session.execute(query)).all():
        key = "waiting_quiet_hours" if state == PENDING and is_waiting else (
            "remaining" if state == PENDING else state)
        figures = counts[alert_id]
        figures[key] = figures.get(key, 0) + count
        figures["total"] += count
    return {alert_id: Progress(**{k: v for k, v in figures.items() if k in Progress.__dataclass_fields__})
            for alert_id, figures in counts.items()}


async def cancel(session: AsyncSession, alert: Alert) -> int:
    """Stop the alert: its deliveries not yet sent are cancelled; returns how many."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.alert_id == alert.id, Delivery.state == PENDING)
        .values(state=CANCELLED, done_at=epoch(utcnow()))
    )
    alert.status = Status.CANCELLED
    alert.finished_at = utcnow()
    return result.rowcount or 0


class NoFollowUp(StrEnum):
    """Why an alert may not be corrected or cancelled (any more)."""

    IS_CANCELLATION = "is_cancellation"
    ALREADY_REPLACED = "already_replaced"
    CANCELLED = "cancelled"


async def replaced_by(session: AsyncSession, alert_id: int) -> int | None:
    """The correction or cancellation that followed the alert, if any."""
    return (await session.execute(
        select(Alert.id).where(Alert.replaces_id == alert_id, Alert.kind.in_([Kind.CORRECTION, Kind.CANCELLATION]))
        .order_by(Alert.id).limit(1))).scalar_one_or_none()


async def no_follow_up(session: AsyncSession, alert: Alert) -> NoFollowUp | None:
    """Why `alert` may not get a correction or cancellation, or None when it may: an alert is
    corrected or cancelled once, a cancellation never, nor an alert whose sending was stopped."""
    if alert.kind == Kind.CANCELLATION:
        return NoFollowUp.IS_CANCELLATION
    if await replaced_by(session, alert.id) is not None:
        return NoFollowUp.ALREADY_REPLACED
    if alert.status == Status.CANCELLED:
        return NoFollowUp.CANCELLED
    return None


async def follow_up(session: AsyncSession, original: Alert, kind: Kind, texts: dict[str, str], **fields) -> Alert:
    """A correction or cancellation of an alert that is being or was sent.

    A cancellation reaches those who received the original; a correction reaches them and also
    those still waiting for it, who get the corrected text instead. Either way the original's
    deliveries not yet sent are cancelled.
    """
    follow = await create(
        session, topic_code=original.topic_code, severity=original.severity, urgency=original.urgency,
        area_codes=original.area_codes, texts=texts, kind=kind, replaces_id=original.id,
        expires_at=original.expires_at, paid_broadcast=original.paid_broadcast,
        **{"agency_code": original.agency_code, **fields},
    )
    reached = [SENT, PENDING] if kind == Kind.CORRECTION else [SENT]
    now_s = epoch(utcnow())
    recipients = (
        select(
            literal(follow.id), Delivery.resident_id, Delivery.chat_id, Delivery.language,
            literal(PENDING), literal(Severity(original.severity).priority),
            _greatest(session, Delivery.due_at, now_s),
            Delivery.deferred, literal(0),
        )
        .where(Delivery.alert_id == original.id, Delivery.state.in_(reached), Delivery.resident_id.is_not(None))
    )
    await session.execute(insert(Delivery).from_select(COLUMNS, recipients))
    await cancel(session, original)
    follow.status = Status.SENDING
    follow.composed_at = utcnow()
    return follow


def expired(alert: Alert, now: datetime | None = None) -> bool:
    return alert.expires_at is not None and alert.expires_at <= (now or utcnow())

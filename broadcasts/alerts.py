"""Alerts: who they reach, writing their deliveries into the outbox, how far their sending got.
What happens to an alert (sent, scheduled, corrected, stopped, finished) and its status are
broadcasts/lifecycle.py's, which calls the writes here.

Targeting is one SQL statement. Residents of the alert's areas (and of every unit below them)
who follow its topic, have alerts on and have not blocked the bot get one delivery each, written
with INSERT ... SELECT: a million rows never pass through Python. Quiet hours are worked out in
the same statement, in the city's time zone: a Minor or Moderate alert to a resident in their
quiet hours is due when those hours end; Severe and Extreme alerts are due at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, and_, case, func, insert, literal, literal_column, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alert, Area, Delivery, DeliveryTally, Resident, Subscription
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
    """Where an alert is in its life; set only by broadcasts/lifecycle.py."""

    DRAFT = "draft"
    TEMPLATE = "template"  # what a schedule sends copies of
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


# Outbox states a delivery ends in; "pending" is the only one the sender works on.
PENDING, SENT, FAILED, BLOCKED, CANCELLED, EXPIRED = "pending", "sent", "failed", "blocked", "cancelled", "expired"
# The outcomes an alert's tallies keep once retention deleted the rows (storage.models.DeliveryTally).
TALLIED = (SENT, FAILED, BLOCKED, CANCELLED, EXPIRED)
# A pending row, with 'pending' written into the SQL rather than bound: the outbox's partial
# indexes (ix_deliveries_due, _alert_pending, _chat_pending) hold pending rows only, and the
# generic plan PostgreSQL switches a prepared statement to after five runs (the idle sender's
# polls) cannot use them for `state = $1`: it then scans and sorts the whole outbox.
IS_PENDING = Delivery.state == literal_column(f"'{PENDING}'")


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


async def write_deliveries(session: AsyncSession, alert: Alert, *, tz: ZoneInfo, now: datetime,
                           residents: tuple[int, int] | None = None) -> int:
    """Write the alert's deliveries into the outbox; returns how many were added. The alert's
    status is the life cycle's (broadcasts.lifecycle.compose, which calls this).

    `residents` = (after, up_to) limits it to a range of resident ids. Writing again adds nothing
    (one delivery per alert and resident), so an interrupted write can simply be run again.
    """
    local = now.astimezone(tz)
    severity = Severity(alert.severity)
    now_s = epoch(now)
    # Quiet hours end on a whole minute: subtract the seconds already gone in this one.
    delay = (_quiet_delay(local.hour * 60 + local.minute) - local.second if severity.waits_for_quiet_hours
             else literal(0))
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
    return await _rows_written(session, await session.execute(statement))


async def resident_id_range(session: AsyncSession) -> tuple[int | None, int | None]:
    """The lowest and highest resident ids (None, None without residents)."""
    low, high = (await session.execute(select(func.min(Resident.id), func.max(Resident.id)))).one()
    return low, high


async def has_deliveries(session: AsyncSession, alert_id: int) -> bool:
    found = await session.execute(select(Delivery.id).where(Delivery.alert_id == alert_id).limit(1))
    return found.first() is not None


async def _rows_written(session: AsyncSession, result) -> int:
    # Python's sqlite3 leaves rowcount at -1 for a statement that starts with WITH (our CTE).
    if result.rowcount is not None and result.rowcount >= 0:
        return result.rowcount
    return (await session.execute(select(func.changes()))).scalar_one()


async def create(session: AsyncSession, **fields) -> Alert:
    """A new alert row (not yet composed); `fields` are Alert's columns. The life cycle's
    functions (broadcasts/lifecycle.py) call it with the status the alert starts in."""
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
    # The rows retention deleted (complaints/retention.py) count through their tallies.
    tallied = select(DeliveryTally).where(DeliveryTally.alert_id.in_(alert_ids))
    for tally in (await session.execute(tallied)).scalars():
        figures = counts[tally.alert_id]
        for state in TALLIED:
            figures[state] = figures.get(state, 0) + getattr(tally, state)
            figures["total"] += getattr(tally, state)
    return {alert_id: Progress(**{k: v for k, v in figures.items() if k in Progress.__dataclass_fields__})
            for alert_id, figures in counts.items()}


async def drop_pending(session: AsyncSession, alert_id: int) -> int:
    """The alert's deliveries not yet sent are cancelled; returns how many (see lifecycle.stop)."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.alert_id == alert_id, IS_PENDING)
        .values(state=CANCELLED, done_at=epoch(utcnow()))
    )
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


async def copy_deliveries(session: AsyncSession, original: Alert, follow: Alert) -> None:
    """A follow-up's deliveries: a cancellation reaches those who received the original; a
    correction reaches them and also those still waiting for it (see lifecycle.follow_up)."""
    reached = [SENT, PENDING] if follow.kind == Kind.CORRECTION else [SENT]
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


async def sent_count(session: AsyncSession, alert_id: int) -> int:
    """How many of the alert's messages were delivered (those retention deleted included)."""
    live = (await session.execute(select(func.count()).select_from(Delivery).where(
        Delivery.alert_id == alert_id, Delivery.state == SENT))).scalar_one()
    tallied = (await session.execute(select(DeliveryTally.sent).where(DeliveryTally.alert_id == alert_id))).scalar()
    return live + (tallied or 0)

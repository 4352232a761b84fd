"""Deadlines of reports on the working-hours calendar, and the queries of the job that watches them.

Two deadlines run from the moment a report is filed (or reopened):
- take-up (`take_up_due_at`): an agency has started work (`in_progress`) within `take_up_hours`
  working hours (8 by default) — moderators assigning it late eat into the same time;
- resolution (`due_at`): `resolved` within the category's `resolve_days` working days (each of
  the calendar's working hours; 10 by default), or, once marked urgent, within `urgent_hours`
  working hours (4 by default) of that moment. With LOA_PAUSE_WHILE_ASKING it waits while a staff
  question to the resident is unanswered (not reminded, not overdue), and moves on by the working
  hours the answer took (complaints/thread.py).

What the deadline job does about them is decided here: `reminders` (a deadline within the
reminder window: the agency's group is told, or the moderators' when it has none), `newly_overdue`
(a deadline passed: the agency's group is told; without one the moderators hear of it in the
escalation) and `escalation` (the overdue reports the moderators have not heard of: their group
is told, once it is set). Each names the deadline (`deadline_of`: take-up or resolution) and the
group to tell. The job (handlers/deadline_job.py) renders and queues the messages and records
them with `mark_reminded`, `mark_overdue` and `mark_escalated`, so each report is reminded and
escalated once per deadline (reopening or marking urgent starts again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from complaints.calendar import WorkingCalendar
from storage.models import Agency, Category, Report, ReportMessage

# States in which the agency still has to take the report up, and in which it still has to resolve it.
AWAITING_TAKE_UP = ("submitted", "assigned", "reopened")
OPEN = ("submitted", "assigned", "in_progress", "reopened")
DEFAULT_RESOLVE_DAYS = 10
# The two deadlines of a report.
TAKE_UP, RESOLVE = "take_up", "resolve"


@dataclass(frozen=True)
class DeadlineRules:
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    take_up_hours: float = 8
    urgent_hours: float = 4

    @classmethod
    def from_settings(cls, settings) -> DeadlineRules:
        return cls(calendar=WorkingCalendar.from_settings(settings), take_up_hours=settings.take_up_hours,
                   urgent_hours=settings.urgent_hours)

    def take_up_due(self, start: datetime) -> datetime:
        return self.calendar.add_hours(start, self.take_up_hours)

    def resolve_due(self, start: datetime, *, resolve_days: int, priority: str = "normal") -> datetime:
        if priority == "urgent":
            return self.calendar.add_hours(start, self.urgent_hours)
        return self.calendar.add_working_days(start, resolve_days)


async def resolve_days(session: AsyncSession, category_code: str) -> int:
    category = await session.get(Category, category_code)
    return category.resolve_days if category is not None else DEFAULT_RESOLVE_DAYS


async def start_clock(session: AsyncSession, report: Report, start: datetime, rules: DeadlineRules) -> None:
    """Set both deadlines from `start` (filing, or reopening) and forget earlier reminders."""
    report.take_up_due_at = rules.take_up_due(start)
    report.due_at = rules.resolve_due(start, resolve_days=await resolve_days(session, report.category_code),
                                      priority=report.priority)
    report.reminded_at = report.overdue_at = report.escalated_at = None


def _paused():
    """The report's resolution deadline waits: a staff question asked with LOA_PAUSE_WHILE_ASKING
    is not answered yet (complaints/thread.py moves the deadline on by the wait once it is)."""
    return exists().where(ReportMessage.report_id == Report.id, ReportMessage.kind == "question",
                          ReportMessage.pauses, ReportMessage.answered_at.is_(None))


def _pending_deadline(now_or_later: datetime):
    """Open reports with a deadline (take-up while not taken up, or resolution, unless it is
    paused) before the moment."""
    return or_(
        and_(Report.state.in_(AWAITING_TAKE_UP), Report.take_up_due_at.is_not(None),
             Report.take_up_due_at <= now_or_later),
        and_(Report.state.in_(OPEN), Report.due_at.is_not(None), Report.due_at <= now_or_later, ~_paused()),
    )


async def due_for_reminder(session: AsyncSession, now: datetime,
                           before: timedelta = timedelta(hours=2)) -> list[Report]:
    """Open reports not yet reminded whose next deadline falls within `before` from `now` (and not
    yet passed: those are `overdue`), soonest first."""
    query = (select(Report)
             .where(Report.reminded_at.is_(None), Report.overdue_at.is_(None), _pending_deadline(now + before),
                    ~_pending_deadline(now))
             .order_by(Report.due_at, Report.id))
    return list((await session.execute(query)).scalars())


async def overdue(session: AsyncSession, now: datetime, *, flagged: bool = False) -> list[Report]:
    """Open reports past a deadline that are not yet flagged overdue (`flagged=True`: also those
    already flagged, e.g. for the dashboard), most overdue first."""
    query = select(Report).where(_pending_deadline(now))
    if not flagged:
        query = query.where(Report.overdue_at.is_(None))
    return list((await session.execute(query.order_by(Report.due_at, Report.id))).scalars())


async def not_escalated(session: AsyncSession) -> list[Report]:
    """Open reports flagged overdue whose moderators have not yet been told."""
    query = (select(Report).where(Report.state.in_(OPEN), Report.overdue_at.is_not(None),
                                  Report.escalated_at.is_(None)).order_by(Report.overdue_at, Report.id))
    return list((await session.execute(query)).scalars())


async def _mark(session: AsyncSession, column, report_ids: list[int], now: datetime) -> int:
    """Set `column` to `now` where it is not set yet; `updated_at` moves too, so the staff cards
    (re-rendered when it changes) show the reminder, overdue or escalation flag."""
    if not report_ids:
        return 0
    result = await session.execute(update(Report).where(Report.id.in_(report_ids), column.is_(None))
                                   .values({column.key: now, Report.updated_at.key: now})
                                   .execution_options(synchronize_session=False))
    return result.rowcount or 0


async def mark_reminded(session: AsyncSession, report_ids: list[int], now: datetime) -> int:
    return await _mark(session, Report.reminded_at, report_ids, now)


async def mark_overdue(session: AsyncSession, report_ids: list[int], now: datetime) -> int:
    return await _mark(session, Report.overdue_at, report_ids, now)


async def mark_escalated(session: AsyncSession, report_ids: list[int], now: datetime) -> int:
    return await _mark(session, Report.escalated_at, report_ids, now)


async def to_autoclose(session: AsyncSession, now: datetime, days: int) -> list[int]:
    """Ids of resolved reports nobody rated within `days` days (closed by `lifecycle.auto_close`)."""
    query = (select(Report.id).where(Report.state == "resolved", Report.resolved_at <= now - timedelta(days=days))
             .order_by(Report.resolved_at, Report.id))
    return list((await session.execute(query)).scalars())


# ---------------------------------------------------------------- what the deadline job does


def deadline_of(report: Report, until: datetime) -> tuple[str, datetime] | None:
    """The report's earliest deadline at or before `until` that still applies: take-up while the
    agency has not taken it up, resolution while it is open. None if there is none."""
    found = []
    if report.state in AWAITING_TAKE_UP and report.take_up_due_at is not None and report.take_up_due_at <= until:
        found.append((report.take_up_due_at, TAKE_UP))
    if report.state in OPEN and report.due_at is not None and report.due_at <= until:
        found.append((report.due_at, RESOLVE))
    if not found:
        return None
    at, kind = min(found)
    return kind, at


@dataclass(frozen=True)
class Due:
    """A deadline to tell staff about: which (`kind`, TAKE_UP or RESOLVE), when (`at`), and the
    staff group to tell (`chat_id`; None: no group is told now)."""

    report: Report
    kind: str
    at: datetime
    chat_id: int | None


async def _agency_chats(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Agency.code, Agency.telegram_chat_id)
                                 .where(Agency.telegram_chat_id.is_not(None)))
    return {code: chat_id for code, chat_id in rows if chat_id}


async def reminders(session: AsyncSession, now: datetime, before: timedelta,
                    moderators_chat_id: int | None) -> list[Due]:
    """The reminders due at `now` (`due_for_reminder`): each to the agency's group, or the
    moderators' when the report has no agency or its agency no group."""
    reports = await due_for_reminder(session, now, before=before)
    chats = await _agency_chats(session) if reports else {}
    found = []
    for report in reports:
        due = deadline_of(report, now + before)
        if due is not None:
            found.append(Due(report, *due, chats.get(report.agency_code or "") or moderators_chat_id or None))
    return found


async def newly_overdue(session: AsyncSession, now: datetime) -> list[Due]:
    """The reports past a deadline not yet flagged (`overdue`), each to its agency's group (None
    without one: the moderators hear of it in the escalation)."""
    reports = await overdue(session, now)
    chats = await _agency_chats(session) if reports else {}
    return [Due(report, *(deadline_of(report, now) or (RESOLVE, now)), chats.get(report.agency_code or ""))
            for report in reports]


@dataclass(frozen=True)
class Escalation:
    """The overdue reports the moderators have not heard of (`reports`, all marked escalated),
    and the deadlines to tell them of (`due`: those still late), to `chat_id`."""

    reports: list[Report]
    due: list[Due]
    chat_id: int


async def escalation(session: AsyncSession, now: datetime, moderators_chat_id: int | None) -> Escalation | None:
    """What to escalate at `now`; None when there is nothing, or nobody to tell (the reports stay
    not escalated until a moderators' group is set)."""
    if not moderators_chat_id:
        return None
    reports = await not_escalated(session)
    if not reports:
        return None
    due = [Due(report, *late, moderators_chat_id) for report in reports
           if (late := deadline_of(report, now)) is not None]  # else no longer late (taken up meanwhile)
    return Escalation(reports, due, moderators_chat_id)

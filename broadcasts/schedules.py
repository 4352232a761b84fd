"""Broadcasts at a time: one-off or on a cron line, stored in `broadcast_schedules`.

A schedule points to a template alert (status "template"); each run copies the template into a
new alert and composes it. `run_due` is called by a JobQueue job of the running bot (every
SCHEDULE_POLL seconds, and once at start). Each due schedule runs in a transaction of its own
that also moves `next_run_at` on, so a due time runs at most once: on PostgreSQL the schedule row
is locked FOR UPDATE SKIP LOCKED (two instances never both take it), on SQLite the writing
transaction holds the database lock; besides, the copy's identifier names the schedule and the
due time, and (source, identifier) is unique.

A bot that was down over one or more due times runs the schedule once when it is back (not once
per missed time), unless the template has expired; then the next run is the next future one.
"""

from __future__ import annotations

from collections.abc import Callable

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import alerts
from broadcasts.alerts import Status, epoch
from storage.db import Database
from storage.models import Alert, BroadcastSchedule
from storage.types import utcnow

log = logging.getLogger("loa.schedules")

SCHEDULE_POLL = 30  # seconds between two looks for due schedules
SOURCE = "schedule"
_SECOND = timedelta(seconds=1)
COPIED = ("topic_code", "severity", "urgency", "area_codes", "texts", "photo_file_id", "link", "kind",
          "sender_telegram_id", "sender_name", "sender_language", "paid_broadcast", "expires_at", "agency_code")


def trigger(cron: str, tz: ZoneInfo) -> CronTrigger:
    """A 5-field cron line (minute hour day month day-of-week) in the city's time zone; raises
    ValueError when it is not one. Days of the week are best written as names (mon...sun)."""
    if len(cron.split()) != 5:
        raise ValueError(f"a cron line has 5 fields: {cron!r}")
    return CronTrigger.from_crontab(cron, timezone=tz)


def next_run(cron: str, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first time strictly after `after` the cron line fires, in UTC."""
    fire = trigger(cron, tz).get_next_fire_time(None, after)
    if fire is not None and fire <= after:  # APScheduler may return `after` itself
        fire = trigger(cron, tz).get_next_fire_time(None, after.replace(microsecond=0) + _SECOND)
    return fire.astimezone(after.tzinfo) if fire is not None else None


async def create(session: AsyncSession, template: Alert, *, at: datetime, cron: str | None,
                 tz: ZoneInfo, created_by: int | None) -> BroadcastSchedule:
    """Make `template` a template and schedule it: first at `at`, then on `cron` if given."""
    if cron is not None:
        trigger(cron, tz)  # a bad line fails here, not at the first run
    template.status = Status.TEMPLATE
    template.send_at = at
    schedule = BroadcastSchedule(alert_id=template.id, cron=cron, next_run_at=at, created_by=created_by)
    session.add(schedule)
    await session.flush()
    return schedule


async def due_ids(session: AsyncSession, now: datetime) -> list[int]:
    query = (select(BroadcastSchedule.id)
             .where(BroadcastSchedule.active, BroadcastSchedule.next_run_at <= now)
             .order_by(BroadcastSchedule.next_run_at, BroadcastSchedule.id))
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class Ran:
    schedule_id: int
    alert_id: int | None  # the alert sent; None when the template had expired
    recipients: int
    next_run_at: datetime | None


async def run_one(session: AsyncSession, schedule_id: int, *, tz: ZoneInfo, now: datetime) -> Ran | None:
    """Run one schedule if it is (still) due; None when another run took it or it is not due."""
    query = select(BroadcastSchedule).where(
        BroadcastSchedule.id == schedule_id, BroadcastSchedule.active, BroadcastSchedule.next_run_at <= now)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    schedule = (await session.execute(query)).scalar_one_or_none()
    if schedule is None:
        return None
    due_at = schedule.next_run_at
    template = await session.get(Alert, schedule.alert_id)
    schedule.last_run_at = now
    schedule.next_run_at = next_run(schedule.cron, now, tz) if schedule.cron else None
    schedule.active = schedule.next_run_at is not None
    if template is None or alerts.expired(template, now):
        schedule.active = False
        schedule.next_run_at = None
        log.info("schedule_expired schedule=%s", schedule_id)
        return Ran(schedule_id, None, 0, None)
    alert = await alerts.create(
        session, **{name: getattr(template, name) for name in COPIED},
        source=SOURCE, identifier=f"{schedule_id}:{epoch(due_at)}", replaces_id=template.replaces_id,
    )
    # The broadcaster follows the run in a progress message (see handlers/broadcasting.py).
    if template.sender_telegram_id is not None:
        alert.progress_chat_id = template.sender_telegram_id
        alert.wizard_step = "follow"
    # Composed by run_due once this commits; a crash in between is resumed by the next sender.
    alert.status = alerts.Status.SENDING
    return Ran(schedule_id, alert.id, 0, schedule.next_run_at)


async def run_due(db: Database, *, tz: ZoneInfo, now: datetime | None = None,
                  on_slice: Callable[[], None] | None = None) -> list[Ran]:
    """Run every due schedule, each in its own transaction, then write its deliveries."""
    now = now or utcnow()
    async with db.read() as session:
        ids = await due_ids(session, now)
    ran = []
    for schedule_id in ids:
        async with db.transaction() as session:
            result = await run_one(session, schedule_id, tz=tz, now=now)
        if result is None:
            continue
        if result.alert_id is not None:
            added = await alerts.compose_all(db, result.alert_id, tz=tz, on_slice=on_slice)
            result = replace(result, recipients=added)
            log.info("schedule_ran schedule=%s alert=%s recipients=%s", schedule_id, result.alert_id, added)
        ran.append(result)
    return ran


async def active_for(session: AsyncSession, telegram_id: int | None) -> list[tuple[BroadcastSchedule, Alert]]:
    """Active schedules (of one broadcaster, or everyone's for None) with their templates, soonest first."""
    query = (select(BroadcastSchedule, Alert).join(Alert, Alert.id == BroadcastSchedule.alert_id)
             .where(BroadcastSchedule.active).order_by(BroadcastSchedule.next_run_at, BroadcastSchedule.id))
    if telegram_id is not None:
        query = query.where(BroadcastSchedule.created_by == telegram_id)
    return [(schedule, alert) for schedule, alert in (await session.execute(query)).all()]


async def stop(session: AsyncSession, schedule_id: int, telegram_id: int | None) -> BroadcastSchedule | None:
    """Stop a schedule (one of `telegram_id`'s, or any for None); None if there is no such active one."""
    query = select(BroadcastSchedule).where(BroadcastSchedule.id == schedule_id, BroadcastSchedule.active)
    if telegram_id is not None:
        query = query.where(BroadcastSchedule.created_by == telegram_id)
    schedule = (await session.execute(query.with_for_update())).scalar_one_or_none()
    if schedule is not None:
        schedule.active = False
        schedule.next_run_at = None
    return schedule

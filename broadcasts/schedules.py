"""Broadcasts at a time: one-off or on a cron line, stored in `broadcast_schedules`: the cron
lines and the reads. Creating, running and stopping a schedule are the life cycle's
(broadcasts/lifecycle.py: `schedule`, `run_due`, `stop_schedule`).

A schedule points to a template alert (status "template"); each run copies the template into a
new alert and composes it. `lifecycle.run_due` is called by a JobQueue job of the running bot
(every SCHEDULE_POLL seconds, and once at start). Each due schedule runs in a transaction of its own
that also moves `next_run_at` on, so a due time runs at most once: on PostgreSQL the schedule row
is locked FOR UPDATE SKIP LOCKED (two instances never both take it), on SQLite the writing
transaction holds the database lock; besides, the copy's identifier names the schedule and the
due time, and (source, identifier) is unique.

A bot that was down over one or more due times runs the schedule once when it is back (not once
per missed time), unless the template has expired; then the next run is the next future one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alert, BroadcastSchedule

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


async def active_for(session: AsyncSession, telegram_id: int | None) -> list[tuple[BroadcastSchedule, Alert]]:
    """Active schedules (of one broadcaster, or everyone's for None) with their templates, soonest first."""
    query = (select(BroadcastSchedule, Alert).join(Alert, Alert.id == BroadcastSchedule.alert_id)
             .where(BroadcastSchedule.active).order_by(BroadcastSchedule.next_run_at, BroadcastSchedule.id))
    if telegram_id is not None:
        query = query.where(BroadcastSchedule.created_by == telegram_id)
    return [(schedule, alert) for schedule, alert in (await session.execute(query)).all()]


async def active_of(session: AsyncSession, alert_id: int) -> BroadcastSchedule | None:
    """The template's schedule that still runs, if any."""
    return (await session.execute(select(BroadcastSchedule).where(
        BroadcastSchedule.alert_id == alert_id, BroadcastSchedule.active))).scalars().first()


async def latest_of(session: AsyncSession, alert_id: int) -> BroadcastSchedule | None:
    """The template's last schedule, running or not."""
    return (await session.execute(select(BroadcastSchedule).where(BroadcastSchedule.alert_id == alert_id)
                                  .order_by(BroadcastSchedule.id.desc()).limit(1))).scalar_one_or_none()

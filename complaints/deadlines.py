"""The expected deadline of a report: a number of working days (Monday to Friday) in the city's
time zone. A later issue replaces this with a working-hours calendar that knows public holidays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo


def add_working_days(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The same local time of day, `days` working days after `start` (aware), in UTC."""
    local = start.astimezone(tz)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    due = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=tz)
    return due.astimezone(timezone.utc)

"""A working-hours calendar: the city's time zone, its working days and hours, its public holidays.

Deadlines count only the hours inside the working window of working days: a report filed on
Friday at 16:00 with 8 working hours to be taken up is due on Monday at 15:00 (8:00-17:00,
Monday to Friday). Times are wall-clock times in the city's zone; moments go in and come out
aware (UTC out). The settings' words for days, hours and holidays are read by kernel/calendar_text.py
(the settings check them with it when they load).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from kernel.calendar_text import parse_days, parse_holidays, parse_hours

WEEKDAYS = frozenset(range(5))
_MAX_DAYS = 3660  # ten years: a calendar without working days must not loop for ever


@dataclass(frozen=True)
class WorkingCalendar:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    days: frozenset[int] = WEEKDAYS
    start: time = time(8)
    end: time = time(17)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a working day must end after it starts")
        if not self.days:
            raise ValueError("a calendar needs at least one working day")
        object.__setattr__(self, "days", frozenset(self.days))
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def from_settings(cls, settings) -> WorkingCalendar:
        """From Loa's settings (LOA_TIMEZONE, LOA_WORKING_DAYS, LOA_WORKING_HOURS, LOA_HOLIDAYS)."""
        start, end = parse_hours(settings.working_hours)
        return cls(tz=ZoneInfo(settings.timezone), days=parse_days(settings.working_days), start=start,
                   end=end, holidays=parse_holidays(settings.holidays))

    @property
    def day_hours(self) -> float:
        """The working hours of one working day."""
        return (_minutes(self.end) - _minutes(self.start)) / 60

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        return datetime.combine(day, self.start), datetime.combine(day, self.end)

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("naive datetime given to the calendar")
        return moment.astimezone(self.tz).replace(tzinfo=None)

    def _aware(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.tz).astimezone(timezone.utc)

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `start` (which need not be within working hours).

        A deadline that falls on the end of a working day is that end, not the next morning.
        """
        if hours < 0:
            raise ValueError("cannot add negative working hours")
        cursor = self._local(start)
        left = timedelta(hours=hours)
        for _ in range(_MAX_DAYS):
            day = cursor.date()
            if self.is_working_day(day):
                opens, closes = self._window(day)
                cursor = max(cursor, opens)
                if cursor < closes:
                    if cursor + left <= closes:
                        return self._aware(cursor + left)
                    left -= closes - cursor
            cursor = datetime.combine(day + timedelta(days=1), time())
        raise ValueError("no working hours in the next ten years: check the working days and holidays")

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """`days` working days of `day_hours` each after `start`."""
        return self.add_hours(start, days * self.day_hours)

    def hours_between(self, a: datetime, b: datetime) -> float:
        """The working hours from `a` to `b`; negative when `b` comes first."""
        if b < a:
            return -self.hours_between(b, a)
        first, last = self._local(a), self._local(b)
        total = timedelta()
        day = first.date()
        while day <= last.date():
            if self.is_working_day(day):
                opens, closes = self._window(day)
                lo, hi = max(opens, first), min(closes, last)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600

    def working_days(self, first: date, last: date) -> Iterable[date]:
        day = first
        while day <= last:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute

"""The working-hours calendar deadlines count on, and its settings."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from complaints.calendar import WorkingCalendar, parse_days, parse_holidays, parse_hours
from kernel.settings import Settings

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar(HANOI, holidays={date(2026, 9, 2)})  # Wednesday: National Day


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=HANOI)


def local(moment: datetime) -> str:
    return moment.astimezone(HANOI).strftime("%a %d/%m %H:%M")


def test_hours_skip_the_weekend():
    assert local(CAL.add_hours(at(27, 16), 8)) == "Mon 30/11 15:00"  # Friday 16:00: 1 h, then 7 on Monday
    assert local(CAL.add_hours(at(28, 11), 1)) == "Mon 30/11 09:00"  # from a Saturday


def test_hours_skip_a_holiday():
    assert local(CAL.add_hours(at(1, 16, month=9), 2)) == "Thu 03/09 09:00"
    assert local(WorkingCalendar(HANOI).add_hours(at(1, 16, month=9), 2)) == "Wed 02/09 09:00"


def test_the_end_of_the_working_day():
    assert local(CAL.add_hours(at(25, 15), 2)) == "Wed 25/11 17:00"   # ends at the close, not next morning
    assert local(CAL.add_hours(at(25, 15), 2.5)) == "Thu 26/11 08:30"
    assert local(CAL.add_hours(at(25, 20), 1)) == "Thu 26/11 09:00"   # after hours
    assert local(CAL.add_hours(at(25, 6), 1)) == "Wed 25/11 09:00"    # before hours


def test_working_days_are_days_of_working_hours():
    assert CAL.day_hours == 9
    assert local(CAL.add_working_days(at(27, 10), 10)) == "Fri 11/12 10:00"
    assert local(CAL.add_working_days(at(27, 17, 30), 1)) == "Mon 30/11 17:00"


def test_hours_between():
    assert CAL.hours_between(at(27, 16), at(30, 10)) == 3
    assert CAL.hours_between(at(30, 10), at(27, 16)) == -3
    assert CAL.hours_between(at(25, 12), at(25, 12, 30)) == 0.5
    assert CAL.hours_between(at(1, 8, month=9), at(4, 8, month=9)) == 18  # Tue and Thu; Wed is a holiday
    start = at(27, 16)
    assert CAL.hours_between(start, CAL.add_hours(start, 31)) == 31


def test_other_calendars():
    six_days = WorkingCalendar(HANOI, days=parse_days("mon-fri,sat"), start=time(7, 30), end=time(11, 30))
    assert local(six_days.add_hours(at(28, 11), 1)) == "Mon 30/11 08:00"  # Saturday: half an hour, then Monday
    assert parse_days("mon,wed,fri") == {0, 2, 4}
    assert parse_hours("07:30-16:30") == (time(7, 30), time(16, 30))
    assert parse_holidays("2026-01-01, 2026-04-30") == {date(2026, 1, 1), date(2026, 4, 30)}


@pytest.mark.parametrize("name, value, says", [
    ("LOA_WORKING_DAYS", "mon-fry", "'fry'"),
    ("LOA_WORKING_DAYS", "fri-mon", "runs backwards"),
    ("LOA_WORKING_HOURS", "17:00-08:00", "the end must come after the start"),
    ("LOA_WORKING_HOURS", "8 to 5", "HH:MM-HH:MM"),
    ("LOA_HOLIDAYS", "2026-09-02,2026-13-01", "'2026-13-01' is not a date"),
])
def test_bad_calendar_settings_are_named(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None)
    assert says in str(error.value) and name in str(error.value)


def test_the_calendar_comes_from_the_settings(monkeypatch):
    monkeypatch.setenv("LOA_WORKING_DAYS", "mon-sat")
    monkeypatch.setenv("LOA_WORKING_HOURS", "07:00-11:00")
    monkeypatch.setenv("LOA_HOLIDAYS", "2026-11-30")
    calendar = WorkingCalendar.from_settings(Settings(_env_file=None))
    assert calendar.day_hours == 4
    assert local(calendar.add_hours(at(28, 10), 2)) == "Tue 01/12 08:00"  # Saturday works, Monday is off

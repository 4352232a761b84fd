"""The settings' words for the working calendar: LOA_WORKING_DAYS ("mon-fri"), LOA_WORKING_HOURS
("08:00-17:00") and LOA_HOLIDAYS ("2026-01-01, 2026-04-30"), read into plain values. The settings
check them with these when they load; complaints/calendar.py builds the working calendar from them.
"""

from __future__ import annotations

from datetime import date, time

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = dict(zip(DAY_NAMES, ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")))


def parse_days(text: str) -> frozenset[int]:
    """"mon-fri", "mon-fri,sat", "mon,wed,fri" -> weekday numbers (Monday is 0)."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        ends = [e.strip() for e in part.split("-")]
        if len(ends) > 2:
            raise ValueError(f"working days {text!r}: {part!r} is not a day or a range of days (e.g. mon-fri)")
        for end in ends:
            if end[:3] not in DAY_NAMES or not _DAY_WORDS[end[:3]].startswith(end):
                raise ValueError(f"working days {text!r}: {end!r} is not a day (use mon, tue, wed, thu, fri, "
                                 f"sat, sun, and ranges like mon-fri)")
        ends = [e[:3] for e in ends]
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        if last < first:
            raise ValueError(f"working days {text!r}: the range {part!r} runs backwards")
        days.update(range(first, last + 1))
    if not days:
        raise ValueError("working days: at least one day is needed (e.g. mon-fri)")
    return frozenset(days)


def parse_hours(text: str) -> tuple[time, time]:
    """"08:00-17:00" -> (08:00, 17:00)."""
    try:
        start_text, end_text = (p.strip() for p in text.split("-"))
        start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    except ValueError:
        raise ValueError(f"working hours {text!r}: use HH:MM-HH:MM, e.g. 08:00-17:00") from None
    if end <= start:
        raise ValueError(f"working hours {text!r}: the end must come after the start")
    return start, end


def parse_holidays(text: str) -> frozenset[date]:
    """"2026-01-01, 2026-04-30" -> dates."""
    holidays = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            holidays.add(date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"holiday {part!r} is not a date like 2026-09-02") from None
    return frozenset(holidays)

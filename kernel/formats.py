"""Numbers, dates and times as a reader of each language expects them: one format per language
and per purpose, for the bot's messages, the alerts and the dashboard alike.

Vietnamese: 1.234,5 · 85,7% · 14:30 07/12/2026 · 07/12/2026.
English:    1,234.5 · 85.7% · 7 Dec 2026, 14:30 · 7 Dec 2026."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

_MOMENT = {"vi": "HH:mm dd/MM/yyyy", "en": "d MMM yyyy, HH:mm"}
_DAY = {"vi": "dd/MM/yyyy", "en": "d MMM yyyy"}


def _locale(language: str) -> str:
    return "en" if language == "en" else "vi"


def number(value: float | int, language: str, digits: int = 1) -> str:
    """At most `digits` decimals, grouped in the language's way: 1.234,5 / 1,234.5."""
    return format_decimal(value, format="#,##0." + "#" * digits if digits else "#,##0", locale=_locale(language))


def percent(value: float, language: str, digits: int = 1) -> str:
    """85,7% / 85.7%."""
    return number(value, language, digits) + "%"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def moment(value: datetime, language: str, tz: ZoneInfo) -> str:
    """A date and time in `tz`: "14:30 07/12/2026" / "7 Dec 2026, 14:30". A naive value is UTC."""
    return format_datetime(_aware(value).astimezone(tz), _MOMENT[_locale(language)], locale=_locale(language))


def day(value: datetime | date, language: str, tz: ZoneInfo | None = None) -> str:
    """A date (of a datetime, in `tz`): "07/12/2026" / "7 Dec 2026"."""
    if isinstance(value, datetime):
        value = _aware(value).astimezone(tz).date() if tz is not None else value.date()
    return format_date(value, _DAY[_locale(language)], locale=_locale(language))

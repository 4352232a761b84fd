"""Report handling performance, public to residents (/stats) and shown on the dashboard and the API.

Over the reports filed in the last `days` days that an agency holds (assigned to it now), per
agency (`agency_stats`) or per category (`category_stats`): received, resolved (resolved or
closed after a resolution), the share resolved on time (resolved_at no later than due_at), the
median time from filing to resolution, and the share of ratings that are "satisfied". SQL picks
the reports of the period and their group; the numbers are computed in Python from that one
query, so they are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.models import Agency, Category, Report

RATINGS = ("satisfied", "acceptable", "not_satisfied")


@dataclass
class Performance:
    """The figures of one group of reports (an agency's, a category's)."""

    code: str
    name_vi: str
    name_en: str
    _: KW_ONLY
    received: int = 0
    resolved: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    acceptable: int = 0
    not_satisfied: int = 0
    median_hours_to_resolve: float | None = None

    @property
    def on_time_pct(self) -> float | None:
        return round(100 * self.on_time / self.resolved, 1) if self.resolved else None

    @property
    def satisfied_pct(self) -> float | None:
        return round(100 * self.satisfied / self.rated, 1) if self.rated else None

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_vi


@dataclass
class AgencyStats(Performance):
    @property
    def agency_code(self) -> str:
        return self.code


@dataclass
class CategoryStats(Performance):
    @property
    def category_code(self) -> str:
        return self.code


Row = TypeVar("Row", bound=Performance)


async def _period(session: AsyncSession, *, now: datetime, days: int) -> list:
    """The reports of the period held by an agency: (agency, category, created, resolved, due, rating)."""
    since = now - timedelta(days=days)
    return list((await session.execute(
        select(Report.agency_code, Report.category_code, Report.created_at, Report.resolved_at, Report.due_at,
               Report.rating)
        .where(Report.agency_code.is_not(None), Report.created_at >= since, Report.created_at <= now))).all())


def _tally(rows: list, column: int | None, *, row_for: Callable[[str], Row], idle: list[str]) -> list[Row]:
    """The figures of `rows` (of `_period`) grouped by their `column` (0: agency, 1: category,
    None: all in one group ""); the groups of `idle` are listed even without reports. The
    busiest first."""
    table: dict[str, Row] = {code: row_for(code) for code in idle}
    durations: dict[str, list[float]] = {}
    for row in rows:
        code, (created_at, resolved_at, due_at, rating) = ("" if column is None else row[column]), row[2:]
        if code not in table:
            table[code] = row_for(code)
        stats = table[code]
        stats.received += 1
        if resolved_at is not None:
            stats.resolved += 1
            if due_at is not None and resolved_at <= due_at:
                stats.on_time += 1
            durations.setdefault(code, []).append((resolved_at - created_at).total_seconds() / 3600)
        if rating in RATINGS:
            stats.rated += 1
            setattr(stats, rating, getattr(stats, rating) + 1)
    for code, values in durations.items():
        table[code].median_hours_to_resolve = round(statistics.median(values), 2)
    return sorted(table.values(), key=lambda s: (-s.received, s.code))


async def _tally_by(session: AsyncSession, rows: list, include_idle: bool, model: type[Agency] | type[Category],
                    column: int, make: type[AgencyStats] | type[CategoryStats]) -> list:
    """The rows tallied per agency (`column` 0) or per category (1), named from `model`'s table;
    with `include_idle`, the active ones without reports too."""
    known = {row.code: row for row in (await session.execute(select(model))).scalars()}

    def row_for(code: str):
        found = known.get(code)
        return make(code, found.name_vi if found else code, found.name_en if found else code)

    idle = [code for code, row in known.items() if row.active] if include_idle else []
    return _tally(rows, column, row_for=row_for, idle=idle)


async def _by_agency(session: AsyncSession, rows: list, include_idle: bool) -> list[AgencyStats]:
    return await _tally_by(session, rows, include_idle, Agency, 0, AgencyStats)


async def _by_category(session: AsyncSession, rows: list, include_idle: bool) -> list[CategoryStats]:
    return await _tally_by(session, rows, include_idle, Category, 1, CategoryStats)


async def agency_stats(session: AsyncSession, *, now: datetime, days: int = 90,
                       include_idle: bool = True) -> list[AgencyStats]:
    """One row per agency (active ones without reports too, unless `include_idle` is False),
    the busiest first."""
    return await _by_agency(session, await _period(session, now=now, days=days), include_idle)


async def category_stats(session: AsyncSession, *, now: datetime, days: int = 90,
                         include_idle: bool = True) -> list[CategoryStats]:
    """One row per report category (active ones without reports too, unless `include_idle` is
    False), the busiest first: the same reports and figures as `agency_stats`."""
    return await _by_category(session, await _period(session, now=now, days=days), include_idle)


async def agency_and_category_stats(session: AsyncSession, *, now: datetime, days: int = 90,
                                    include_idle: bool = True) -> tuple[list[AgencyStats], list[CategoryStats]]:
    """`agency_stats` and `category_stats` from one read of the period's reports (the dashboard)."""
    rows = await _period(session, now=now, days=days)
    return await _by_agency(session, rows, include_idle), await _by_category(session, rows, include_idle)


async def overall_stats(session: AsyncSession, *, now: datetime, days: int = 30) -> Performance:
    """The figures of all the agencies together (the public portal's home): the same reports and
    figures as `agency_stats`, summed."""
    rows = await _period(session, now=now, days=days)
    [total] = _tally(rows, None, row_for=lambda code: Performance(code, "", ""), idle=[""])
    return total

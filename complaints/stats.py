"""Agency performance, public to residents (/stats) and shown on the dashboard and the API.

Over the reports filed in the last `days` days that an agency holds (assigned to it now):
received, resolved (resolved or closed after a resolution), the share resolved on time
(resolved_at no later than due_at), the median time from filing to resolution, and the share of
ratings that are "satisfied". The numbers are computed in Python from one query, so they are
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.models import Agency, Report


@dataclass
class AgencyStats:
    agency_code: str
    name_vi: str
    name_en: str
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


async def agency_stats(session: AsyncSession, *, now: datetime, days: int = 90,
                       include_idle: bool = True) -> list[AgencyStats]:
    """One row per agency (active ones without reports too, unless `include_idle` is False),
    the busiest first."""
    since = now - timedelta(days=days)
    rows = (await session.execute(
        select(Report.agency_code, Report.created_at, Report.resolved_at, Report.due_at, Report.rating)
        .where(Report.agency_code.is_not(None), Report.created_at >= since, Report.created_at <= now))).all()
    agencies = {a.code: a for a in (await session.execute(select(Agency))).scalars()}
    table: dict[str, AgencyStats] = {}
    durations: dict[str, list[float]] = {}

    def row_for(code: str) -> AgencyStats:
        if code not in table:
            agency = agencies.get(code)
            table[code] = AgencyStats(code, agency.name_vi if agency else code, agency.name_en if agency else code)
            durations[code] = []
        return table[code]

    if include_idle:
        for code, agency in agencies.items():
            if agency.active:
                row_for(code)
    for code, created_at, resolved_at, due_at, rating in rows:
        stats = row_for(code)
        stats.received += 1
        if resolved_at is not None:
            stats.resolved += 1
            if due_at is not None and resolved_at <= due_at:
                stats.on_time += 1
            durations[code].append((resolved_at - created_at).total_seconds() / 3600)
        if rating in ("satisfied", "acceptable", "not_satisfied"):
            stats.rated += 1
            setattr(stats, rating, getattr(stats, rating) + 1)
    for code, values in durations.items():
        if values:
            table[code].median_hours_to_resolve = round(statistics.median(values), 2)
    return sorted(table.values(), key=lambda s: (-s.received, s.agency_code))

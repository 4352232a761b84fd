"""GET /public/agencies: how each agency handled residents' reports over the last 30, 90 or 365
days (?days=, 30 by default): received, resolved, the share resolved on time, the median time to
resolve and the share of satisfied ratings; complaints.stats' figures (those of the bot's /stats
and the dashboard's statistics), as a table and bar charts drawn on the server (web/dashboard)."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from complaints import stats
from web import context, portal
from web.dashboard import svg
from web.dashboard.stats import PERIODS, charts
from web.keys import DB

DEFAULT_DAYS = 30


def setup(app: web.Application) -> None:
    app.router.add_get(f"{portal.PREFIX}/agencies", agencies)


async def _rows(db, now: datetime, days: int) -> tuple[datetime, list[stats.AgencyStats]]:
    async with db.read() as session:
        return now, await stats.agency_stats(session, now=now, days=days)


async def agencies(request: web.Request) -> web.Response:
    raw = request.query.get("days", "")
    days = int(raw) if raw in {str(d) for d in PERIODS} else DEFAULT_DAYS
    language = portal.language(request)
    db = request.config_dict[DB]
    asked = context.now(request)
    now, rows = await portal.memo(request, ("agencies", days), lambda: _rows(db, asked, days))
    drawn = charts(rows, language)
    drawn["satisfied"] = svg.bar_chart([(row.name(language), row.satisfied_pct) for row in rows
                                        if row.satisfied_pct is not None], unit="%", max_value=100, language=language)
    return portal.page(request, "public/agencies.html", rows=rows, charts=drawn, days=days, periods=PERIODS,
                       since=now - timedelta(days=days), now=now)

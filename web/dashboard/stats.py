"""GET /dashboard/stats, for every signed-in member of staff: how the agencies handled residents'
reports, per agency and per category, over the last 30, 90 or 365 days (`?days=`): volume, the
share resolved on time, the median time to resolve and the share of satisfied ratings, from
complaints.stats (the figures of the bot's /stats), as tables and bar charts drawn on the server."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from complaints import stats
from complaints.stats import Performance
from kernel.i18n import translator
from web import context
from web.dashboard import svg, views
from web.dashboard.views import PREFIX
from web.keys import DB

PERIODS = (30, 90, 365)
DEFAULT_DAYS = 90


def setup(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/stats", page)


def charts(rows: list[Performance], language: str) -> dict:
    """The volume and on-time bar charts of one table (rows without a resolved report have no
    on-time share, so no bar)."""
    return {"volume": svg.bar_chart([(row.name(language), row.received) for row in rows], language=language),
            "on_time": svg.bar_chart([(row.name(language), row.on_time_pct) for row in rows
                                      if row.on_time_pct is not None], unit="%", max_value=100, language=language)}


async def page(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    raw = request.query.get("days", "")
    days = int(raw) if raw in {str(d) for d in PERIODS} else DEFAULT_DAYS
    now = context.now(request)
    async with request.app[DB].read() as session:
        by_agency, by_category = await stats.agency_and_category_stats(session, now=now, days=days,
                                                                       include_idle=False)
    _ = translator(staff.language).gettext
    tables = [
        {"id": "agencies", "title": _("Per agency"), "heading": _("Agency"), "rows": by_agency,
         "charts": charts(by_agency, staff.language)},
        {"id": "categories", "title": _("Per category"), "heading": _("Category"), "rows": by_category,
         "charts": charts(by_category, staff.language)},
    ]
    return views.render(request, staff, "dashboard/stats.html", days=days, periods=PERIODS, tables=tables,
                        since=now - timedelta(days=days), now=now)

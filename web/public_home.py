"""GET /public/, the portal's home page: what Loa is, how to reach the bot (a t.me link to the
running bot's @username), the last HOME_DAYS days in numbers (complaints.stats.overall_stats:
the figures of /stats, all agencies together; and the alerts sent), a map of the open reports
(web/public_reports.py) and the latest alerts."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from broadcasts import publish
from complaints import stats
from web import context, portal, public_alerts, public_reports
from web.keys import DB

HOME_DAYS = 30
LATEST_ALERTS = 5


def setup(app: web.Application) -> None:
    app.router.add_get(f"{portal.PREFIX}/", home)


async def _figures(db, now) -> stats.Performance:
    async with db.read() as session:
        return await stats.overall_stats(session, now=now, days=HOME_DAYS)


async def home(request: web.Request) -> web.Response:
    now = context.now(request)
    language = portal.language(request)
    db = request.config_dict[DB]
    figures = await portal.memo(request, ("overall", HOME_DAYS), lambda: _figures(db, now))
    async with db.read() as session:
        alerts_sent = await publish.sent_since(session, now - timedelta(days=HOME_DAYS))
        latest = await public_alerts.items(session, await publish.feed_alerts(session, LATEST_ALERTS), language)
    # The map of open reports (web/public_reports.py), kept a minute per language.
    open_map = await portal.memo(request, ("open_reports_map", language),
                                 lambda: public_reports.open_reports_map(db, language))
    username = portal.bot_username(request)
    return portal.page(request, "public/home.html", figures=figures, alerts_sent=alerts_sent, latest=latest,
                       days=HOME_DAYS, bot_username=username,
                       bot_link=f"https://t.me/{username}" if username else None, open_map=open_map)

"""Banning a report's reporter from the report's page, and lifting the ban: moderators only.

POST /dashboard/reports/{code}/ban (a `confirm=yes` box and an optional reason) and
/dashboard/reports/{code}/unban, each with the session's CSRF token. The reporter stays as
anonymous as on the page; a report whose reporter asked to be forgotten leads to nobody (409).
"""

from __future__ import annotations

import logging

from aiohttp import web

from complaints import bans
from kernel.i18n import translator
from web import context
from web.dashboard import report as page
from web.dashboard import views
from web.dashboard.views import PREFIX
from web.keys import DB, SETTINGS

log = logging.getLogger("loa.dashboard")
MAX_REASON = 500


def setup(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/reports/{{code}}/ban", ban)
    app.router.add_post(f"{PREFIX}/reports/{{code}}/unban", unban)


async def ban(request: web.Request) -> web.Response:
    return await _change(request, lift=False)


async def unban(request: web.Request) -> web.Response:
    return await _change(request, lift=True)


async def _change(request: web.Request, *, lift: bool) -> web.Response:
    staff = await views.signed_in(request)
    data = await views.form(request, staff)
    if not staff.moderator:  # before anything about the report, which others must not learn
        raise views.refusal(request, staff, 403)
    settings = request.app[SETTINGS]
    _ = translator(staff.language).gettext
    reason = data.get("reason", "").strip()
    if not lift and data.get("confirm") != "yes":
        return await page.show(request, staff, request.match_info["code"], status=400, typed=data,
                               error=_("Tick the box to confirm the ban."))
    if len(reason) > MAX_REASON:
        return await page.show(request, staff, request.match_info["code"], status=400, typed=data,
                               error=_("Too long: at most {limit} characters.").format(limit=MAX_REASON))
    gettext = context.policy(request).gettext
    async with request.app[DB].transaction() as session:
        report = await page.visible(request, staff, session, request.match_info["code"])
        resident = await bans.reporter(session, report)
        if resident is None:
            changed = None
        elif lift:
            changed = await bans.unban(session, settings.pseudonym_secret, resident.telegram_id, gettext=gettext)
        else:
            changed = await bans.ban(session, settings.pseudonym_secret, resident.telegram_id, reason=reason,
                                     by=staff.telegram_id, report_code=report.code, gettext=gettext)
    if changed is None:
        return await page.show(request, staff, report.code, status=409,
                               error=_("This report's reporter cannot be banned: they asked Loa to forget them."))
    if changed:
        log.info("dashboard_reporter_%s code=%s by=%s", "unbanned" if lift else "banned", report.code,
                 staff.telegram_id)
        context.carry_out(request, changed)  # they are told; their cards in Telegram are drawn again
    raise web.HTTPSeeOther(f"{PREFIX}/reports/{report.code}?done={'unban' if lift else 'ban'}")

"""A report's thread on its page: "Ask the resident" and "Internal note", and the thread's photos.

POST /dashboard/reports/{code}/messages (`action` ask or note, `text`, the session's CSRF token):
moderators and the staff of the agency holding the report; `complaints.thread` checks it again,
with the report locked. A refusal shows the page again with the form as typed (400 for the
text, 403 for the role, 409 for the report's state); a message redirects back to the page's
thread (303), once what it left to do (the resident's notice, the staff's cards) is handed to
`web.context.carry_out`. Anyone else is answered as on the page: 404 for a report they may not
see, 403 without a role that sees reports.

GET /dashboard/reports/{code}/messages/{id}/photos/{n} serves a message's photo n (from 1), the
cleaned copy, with the page's permission check.

GET /dashboard/reports/{code}/messages.json?after=<id> says, for the page's live line
(dashboard.js's data-live), how many messages the thread got after the last one the page shows:
{"text", "done"}, done once there are some (the page is then reloaded by the reader, so that
nothing they are typing is lost).
"""

from __future__ import annotations

import logging

from aiohttp import web

from complaints import thread
from complaints.lifecycle import ActorKind, Refused
from complaints.media import MediaStore
from kernel.i18n import translator
from web import context, inputs
from web.dashboard import report as page
from web.dashboard import views
from web.dashboard.views import PREFIX
from web.keys import DB, SETTINGS

log = logging.getLogger("loa.dashboard")

# Refusals that are the form's fault (400); those of the role are 403, anything else (the report
# closed, the day's limit reached, nobody to ask) 409.
BAD_INPUT = {"missing_text", "too_long"}
NOT_ALLOWED = page.NOT_ALLOWED | {"not_staff"}


def setup(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/reports/{{code}}/messages", post)
    app.router.add_get(f"{PREFIX}/reports/{{code}}/messages/{{message_id}}/photos/{{n}}", photo)
    app.router.add_get(f"{PREFIX}/reports/{{code}}/messages.json", news)


async def post(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    data = await views.form(request, staff)
    settings = request.app[SETTINGS]
    typed_code = request.match_info["code"]
    async with request.app[DB].read() as session:
        report = await page.visible(request, staff, session, typed_code)
    action = data.get("action", "")
    if action not in ("ask", "note"):
        raise views.refusal(request, staff, 400)
    text, now = data.get("text", ""), context.now(request)
    try:
        async with request.app[DB].transaction() as session:
            who = await page.actors(session, staff, report, settings.admin_ids)
            # The agency's staff write as the agency holding it; anyone else as a moderator.
            actor = who.get(ActorKind.AGENCY_STAFF) or who.get(ActorKind.MODERATOR)
            if actor is None:  # a role taken away since the page was shown
                raise views.refusal(request, staff, 403)
            if action == "ask":
                written = await thread.ask(session, report.id, actor, text, policy=context.policy(request),
                                           pause=settings.pause_while_asking, now=now)
            else:
                written = await thread.note(session, report.id, actor, text, policy=context.policy(request), now=now)
    except Refused as refusal:
        status = 400 if refusal.code in BAD_INPUT else 403 if refusal.code in NOT_ALLOWED else 409
        message = refusal.render(translator(staff.language).gettext, staff.language, settings.tz)
        kept = {key: value for key, value in data.items() if key != "csrf"}
        return await page.show(request, staff, report.code, status=status, error=message, typed=kept)
    log.info("dashboard_report_%s code=%s by=%s", action, report.code, staff.telegram_id)
    context.carry_out(request, written.effects)
    raise web.HTTPSeeOther(f"{PREFIX}/reports/{report.code}?done={action}#thread")


async def photo(request: web.Request) -> web.StreamResponse:
    staff = await views.signed_in(request)
    message_id = inputs.number(request.match_info["message_id"])
    position = inputs.number(request.match_info["n"], 1, 100)
    async with request.app[DB].read() as session:
        report = await page.visible(request, staff, session, request.match_info["code"])
        found = await thread.photo(session, report.id, message_id, position - 1) \
            if message_id is not None and position is not None else None
    path = MediaStore(request.app[SETTINGS].media_dir).path_of(found) if found else None
    if path is None or not path.is_file():
        raise views.refusal(request, staff, 404)
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})


async def news(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    after = inputs.number(request.query.get("after", ""), 0)
    if after is None:
        raise views.refusal(request, staff, 400)
    async with request.app[DB].read() as session:
        report = await page.visible(request, staff, session, request.match_info["code"])
        count = sum(1 for message in await thread.messages(session, report.id, for_staff=True) if message.id > after)
    text = translator(staff.language).ngettext(
        "{count} new message in the thread: reload the page to see it.",
        "{count} new messages in the thread: reload the page to see them.", count).format(count=count) if count else ""
    return web.json_response({"text": text, "done": count > 0})

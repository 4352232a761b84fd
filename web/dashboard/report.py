"""One report: what staff see of it, its photos, and the actions they may take now.

Moderators and admins see every report; agency staff only the reports their agency holds now, and
any other code is answered 404, as a code that does not exist, so codes cannot be probed. The
reporter's name is for moderators only, as on the bot's cards.

Actions are POSTed to /dashboard/reports/{code}/act with the id of the last event the page showed:
`complaints.lifecycle.apply` refuses a report that changed meanwhile, naming who did what. Bad
input is answered 400 and a refusal 409 (403 when the role does not allow it), each with the page
and what was typed; a change redirects back to the page (303) with `?done=<action>`, once what it
left to do (the residents' notifications, the staff's cards) is handed to `web.context.carry_out`.
The form's reason, note and reject template become `apply`'s arguments as the bot's buttons do
(complaints.actions).
"""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import select

from complaints import actions, agencies, bans, codes, duplicates, lifecycle, thread
from complaints import reports as report_queries
from complaints.lifecycle import Action, ActorKind, Refused
from complaints.media import MediaStore
from complaints.rejections import REJECT_REASONS
from kernel.i18n import translator
from storage import areas
from storage.models import Agency, Category, Report, ReportPhoto, Resident
from web import context, inputs
from web.dashboard import svg, views
from web.dashboard.queue import DONE
from web.dashboard.views import PREFIX, Staff
from web.keys import DB, SETTINGS

log = logging.getLogger("loa.dashboard")


def N_(msgid: str) -> str:
    return msgid


# Refusals that are the form's fault (400); those of the role are 403, anything else (the report
# changed, or is in another state) 409.
BAD_INPUT = actions.RETYPE | {"bad_request", "unknown_action", "unknown_agency", "missing_agency", "missing_original",
                              "bad_priority", "unknown_reason"}
NOT_ALLOWED = {"not_moderator", "not_agency_staff", "other_agency"}
HISTORY = {
    None: N_("Filed"),
    "submit": N_("Filed"),
    Action.ASSIGN: N_("Assigned"),
    Action.REJECT: N_("Rejected"),
    Action.DUPLICATE: N_("Marked as a duplicate"),
    Action.PRIORITY: N_("Priority changed"),
    Action.START: N_("Taken up"),
    Action.RESOLVE: N_("Resolved"),
    Action.SEND_BACK: N_("Sent back to the moderators"),
    Action.RATE: N_("Rated by the resident"),
    Action.REOPEN: N_("Reopened by the resident"),
    Action.AUTO_CLOSE: N_("Closed automatically"),
}
THREAD_KINDS = {
    "question": N_("question to the resident"),
    "answer": N_("answer to a question"),
    "addition": N_("added to the report"),
    "note": N_("internal note"),
}


def setup(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/reports/{{code}}", page)
    app.router.add_post(f"{PREFIX}/reports/{{code}}/act", act)
    app.router.add_get(f"{PREFIX}/photos/{{code}}/{{position}}", photo)


# ---------------------------------------------------------------- who may see it


def may_see(staff: Staff, agency_code: str | None) -> bool:
    return staff.moderator or (agency_code is not None and agency_code in staff.agencies)


async def visible(request: web.Request, staff: Staff, session, typed: str) -> Report:
    """The report with this code if the viewer may see it; else 404, the same as for no report."""
    if not (staff.moderator or staff.agencies):
        raise views.refusal(request, staff, 403)
    code = codes.parse(typed) if len(typed) <= 32 else None
    report = (await session.execute(select(Report).where(Report.code == code))).scalar_one_or_none() \
        if code is not None else None
    if report is None or not may_see(staff, report.agency_code):
        raise views.refusal(request, staff, 404)
    return report


async def actors(session, staff: Staff, report: Report, admin_ids) -> dict[str, lifecycle.Actor]:
    """Who the viewer can act as on this report: staff of its agency, a moderator, or both."""
    found: dict[str, lifecycle.Actor] = {}
    for agency_code in (report.agency_code, None):
        actor = await lifecycle.actor_for(session, staff.telegram_id, admin_ids, name=staff.name,
                                          agency_code=agency_code)
        if actor.kind in (ActorKind.MODERATOR, ActorKind.AGENCY_STAFF):
            found.setdefault(actor.kind, actor)
    return found


# ---------------------------------------------------------------- the page


def _name(row, language: str) -> str:
    return (row.name_en if language == "en" else row.name_vi) if row is not None else ""


async def _history(session, report: Report, staff: Staff, names: dict[str, str], _) -> list[dict]:
    events = []
    for event in await report_queries.history(session, report.id):
        if event.actor == ActorKind.SYSTEM:
            who = "Loa"
        elif event.actor in (None, ActorKind.RESIDENT):
            # The resident is named to moderators only.
            who = (event.actor_name if staff.moderator else None) or _("the resident")
        else:
            who = event.actor_name or "—"
        note = event.note
        if event.action == Action.PRIORITY and note in lifecycle.PRIORITY_LABELS:
            note = _(lifecycle.PRIORITY_LABELS[note])
        label = HISTORY.get(event.action)
        events.append({"id": event.id, "at": event.at, "what": _(label) if label else event.action,
                       "state": event.state, "who": who, "agency": names.get(event.agency_code, event.agency_code),
                       "note": note, "visible": event.visible})
    return events


def _osm(point: tuple[float, float]) -> str:
    return f"https://www.openstreetmap.org/?mlat={point[0]:.6f}&mlon={point[1]:.6f}#map=18/{point[0]:.6f}/{point[1]:.6f}"


async def _thread(session, report: Report, _) -> list[dict]:
    """The thread as staff see it: public and internal messages in order. A resident is "the
    resident" (or one following the report) to every member of staff: only the facts name the
    reporter, to moderators."""
    reporter = await session.get(Resident, report.resident_id) if report.resident_id is not None else None
    shown = []
    for message in await thread.messages(session, report.id, for_staff=True):
        if message.from_resident:
            following = message.author_telegram_id not in (None, reporter.telegram_id if reporter else None)
            who = _("a resident following this report") if following else _("the resident")
        elif message.author == ActorKind.SYSTEM:
            who = "Loa"
        else:
            who = message.author_name or "—"
        point = (message.latitude, message.longitude) if None not in (message.latitude, message.longitude) else None
        shown.append({
            "id": message.id, "at": message.at, "who": who, "author": message.author,
            "what": _(THREAD_KINDS[message.kind]) if message.kind in THREAD_KINDS else message.kind,
            "internal": message.internal, "text": message.text, "point": point, "osm": _osm(point) if point else None,
            "photos": [f"{PREFIX}/reports/{report.code}/messages/{message.id}/photos/{n}"
                       for n in range(1, len(message.photos) + 1)],
            "undeliverable": message.delivery == thread.UNDELIVERABLE,
            "waiting": message.kind == thread.Kind.QUESTION and message.answered_at is None
                       and message.delivery != thread.UNDELIVERABLE,
            "pauses": message.pauses, "paused_hours": f"{message.paused_hours:g}" if message.paused_hours else None,
        })
    return shown


async def _context(request: web.Request, staff: Staff, session, report: Report) -> dict:
    """What report.html shows of the report, and the actions the viewer may take now."""
    settings = request.app[SETTINGS]
    language = staff.language
    _ = translator(language).gettext
    chain = await areas.path(session, report.area_code) if report.area_code else []
    every_agency = list((await session.execute(select(Agency).order_by(Agency.code))).scalars())
    names = {agency.code: _name(agency, language) for agency in every_agency}
    category = await session.get(Category, report.category_code)
    original = await session.get(Report, report.duplicate_of_id) if report.duplicate_of_id else None
    store = MediaStore(settings.media_dir)
    photos = [row.position + 1 for row in (await session.execute(
        select(ReportPhoto).where(ReportPhoto.report_id == report.id).order_by(ReportPhoto.position))).scalars()
        if row.sha256 and store.path_of(row.sha256).is_file()]
    last = await lifecycle.last_event(session, report.id)

    who = await actors(session, staff, report, settings.admin_ids)
    allowed = {action.value for actor in who.values() for action in lifecycle.allowed_actions(report, actor)}
    choices: dict = {}
    if Action.ASSIGN in allowed:
        offer = await agencies.choices(session, report)
        choices["routed"] = offer.routed.code if offer.routed is not None else None
        for group in ("serving", "taking", "other"):
            choices[group] = [(a.code, _name(a, language)) for a in getattr(offer, group)]
    if Action.DUPLICATE in allowed:
        choices["suggestions"] = await duplicates.suggestions(session, report, now=context.now(request))
    if Action.REJECT in allowed:
        choices["reasons"] = [(index, _(reason)) for index, reason in enumerate(REJECT_REASONS)]

    shown = await _thread(session, report, _)
    point = (report.latitude, report.longitude) if None not in (report.latitude, report.longitude) else None
    area = chain[-1] if chain else None
    place = ", ".join(_name(unit, language) for unit in reversed(chain))
    return {
        "report": report, "category": _name(category, language) or report.category_code, "place": place,
        "agency": names.get(report.agency_code, report.agency_code), "original": original.code if original else None,
        "show_reporter": staff.moderator, "photos": photos, "point": point,
        "osm": _osm(point) if point else None,
        "map": svg.area_map(area.boundary if area else None, point,
                            label=place if (area and area.boundary) or point else _("No map for this report.")),
        "history": await _history(session, report, staff, names, _),
        "thread": shown, "last_message_id": shown[-1]["id"] if shown else 0,
        "thread_url": f"{PREFIX}/reports/{report.code}/messages",
        # Staff note in any state; they ask while the report is open (complaints.thread checks again).
        "may_note": bool(who), "may_ask": bool(who) and report.state in lifecycle.OPEN,
        "nobody_to_ask": _(thread.NO_RESIDENT) if report.resident_id is None else None,
        "message_max": thread.MESSAGE_MAX,
        "allowed": allowed, "choices": choices, "expected_event_id": last.id if last else "",
        "rating": _(lifecycle.RATING_LABELS[report.rating]) if report.rating in lifecycle.RATING_LABELS else None,
        "reporter_banned": (await bans.reporter_banned(session, settings.pseudonym_secret, report)
                            if staff.moderator else None),
    }


async def show(request: web.Request, staff: Staff, typed_code: str, *, status: int = 200, error: str | None = None,
               typed: dict | None = None) -> web.Response:
    async with request.app[DB].read() as session:
        report = await visible(request, staff, session, typed_code)
        values = await _context(request, staff, session, report)
    done = request.query.get("done") if status == 200 else None
    _ = translator(staff.language).gettext
    return views.render(request, staff, "dashboard/report.html", status=status, error=error, typed=typed or {},
                        done=_(DONE[done]) if done in DONE else None, **values)


async def page(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    return await show(request, staff, request.match_info["code"])


# ---------------------------------------------------------------- acting


async def _args(session, report: Report, action: str, data: dict[str, str], default_language: str) -> dict:
    """The arguments of `lifecycle.apply` from the form; an empty choice is refused here."""
    def refuse(code: str, message: str) -> Refused:
        return Refused(code, message, state=report.state)

    if action == Action.ASSIGN:
        agency = data.get("agency", "").strip()
        if not agency:
            raise refuse("missing_agency", N_("Choose an agency."))
        return {"agency_code": agency}
    if action == Action.DUPLICATE:
        original = data.get("original_code", "").strip() or data.get("suggested", "").strip()
        if not original:
            raise refuse("missing_original", N_("Choose one of the suggested reports or type a report's code."))
        return {"original_code": original}
    if action == Action.REJECT:
        return await actions.reject(session, report.id, reason=data.get("reason", ""),
                                    template=data.get("reason_template", ""), default_language=default_language)
    if action == Action.PRIORITY:
        return {"priority": data.get("priority", "")}
    if action in (Action.RESOLVE, Action.SEND_BACK):
        return actions.typed(action, data.get(actions.TYPED[action], ""))  # fields named as the arguments
    return {}


def _expected(data: dict[str, str]) -> int | None:
    raw = data.get("expected_event_id", "").strip()
    if not raw:
        return None
    expected = inputs.number(raw)
    if expected is None:
        raise Refused("bad_request", N_("This request is not valid."))
    return expected


async def act(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    data = await views.form(request, staff)
    settings = request.app[SETTINGS]
    typed_code = request.match_info["code"]
    async with request.app[DB].read() as session:
        report = await visible(request, staff, session, typed_code)
    action = data.get("action", "")
    try:
        expected = _expected(data)
        async with request.app[DB].transaction() as session:
            who = await actors(session, staff, report, settings.admin_ids)
            # The role the action needs, if the viewer has it; else any, for lifecycle to refuse.
            actor = who.get(lifecycle.WHO.get(action, "")) or next(iter(who.values()), None)
            if actor is None:  # a role taken away since the page was shown
                raise views.refusal(request, staff, 403)
            args = await _args(session, report, action, data, settings.default_language)
            done = await lifecycle.apply(session, report.id, action, actor, policy=context.policy(request),
                                         expected_event_id=expected, now=context.now(request), **args)
    except Refused as refusal:
        status = 400 if refusal.code in BAD_INPUT else 403 if refusal.code in NOT_ALLOWED else 409
        message = refusal.render(translator(staff.language).gettext, staff.language, settings.tz)
        kept = {key: value for key, value in data.items() if key != "csrf"}
        return await show(request, staff, report.code, status=status, error=message, typed=kept)
    log.info("dashboard_report_%s code=%s by=%s", done.action, done.code, staff.telegram_id)
    context.carry_out(request, done.effects)
    if may_see(staff, done.agency_code):
        raise web.HTTPSeeOther(f"{PREFIX}/reports/{done.code}?done={done.action}")
    # Sent back or passed on: no longer the viewer's agency's report.
    raise web.HTTPSeeOther(f"{staff.home()}?done={done.action}&code={done.code}")


async def photo(request: web.Request) -> web.StreamResponse:
    """A photo of the report, the cleaned copy (from 1), with the page's permission check."""
    staff = await views.signed_in(request)
    raw = request.match_info["position"]
    async with request.app[DB].read() as session:
        report = await visible(request, staff, session, request.match_info["code"])
        row = await session.get(ReportPhoto, (report.id, int(raw) - 1)) \
            if raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= 100 else None
    path = MediaStore(request.app[SETTINGS].media_dir).path_of(row.sha256) if row is not None and row.sha256 else None
    if path is None or not path.is_file():
        raise views.refusal(request, staff, 404)
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})

"""Broadcasts on the dashboard, for broadcasters and admins (403 for everyone else), with the rules
of the bot's /broadcast wizard (broadcasts.drafts) and the life cycle of every alert
(broadcasts.lifecycle: send, now or at a later time; stop, in the way `offered_way` offers).

GET  /dashboard/broadcasts                     the alerts, newest first, with their delivery counts
GET  /dashboard/broadcasts/new                 the compose form
POST /dashboard/broadcasts                     the form again (`action` other than "send": the
                                               wards of the chosen province), or send it
GET  /dashboard/broadcasts/count.json          {"text"}: the recipients of ?topic=&areas=...
GET  /dashboard/broadcasts/{id}                one alert, its texts and its progress
GET  /dashboard/broadcasts/{id}/progress.json  {"text", "done"}
POST /dashboard/broadcasts/{id}/cancel         stop it, as the bot's buttons do (lifecycle.offered_way)

Photos are the wizard's only. Alerts made here have source "dashboard" and the broadcaster as
their sender, so the bot's /schedules and buttons treat them as the broadcaster's own.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import func, select

from broadcasts import alerts, drafts, lifecycle, schedules
from broadcasts.alerts import Kind, Progress, Status
from broadcasts.lifecycle import By, No, Refused, Way
from broadcasts.progress import figures, number
from broadcasts.render import MARKERS, SEVERITY_LABELS
from kernel.i18n import translator
from storage import areas, topics
from storage.models import Alert, Area
from web import context, inputs
from web.dashboard import views
from web.dashboard.views import PREFIX, Staff
from web.keys import DB, SETTINGS

BASE = f"{PREFIX}/broadcasts"
SOURCE = "dashboard"
PER_PAGE = 20
LINK = re.compile(r"^https?://\S+$")
LINK_MAX = 512
log = logging.getLogger("loa.dashboard.broadcasts")


def N_(msgid: str) -> str:
    return msgid


STATUS_LABELS = {Status.TEMPLATE: N_("Scheduled"), Status.SENDING: N_("Sending"), Status.DONE: N_("Sent"),
                 Status.CANCELLED: N_("Stopped"), Status.DRAFT: N_("Draft")}
KIND_LABELS = {Kind.ALERT: N_("Alert"), Kind.CORRECTION: N_("Correction"), Kind.CANCELLATION: N_("Cancellation")}
REPEAT_LABELS = {"once": N_("Only once"), "daily": N_("Every day"), "weekly": N_("Every week")}
# The first words of the progress line.
PROGRESS_TITLES = {Status.SENDING: N_("Sending…"), Status.DONE: N_("Sending finished"),
                   Status.CANCELLED: N_("Sending stopped"), Status.TEMPLATE: N_("Scheduled")}


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get(BASE, history)
    router.add_post(BASE, create)
    router.add_get(f"{BASE}/new", new)
    router.add_get(f"{BASE}/count.json", count)
    router.add_get(BASE + r"/{alert_id:\d{1,9}}", show)
    router.add_get(BASE + r"/{alert_id:\d{1,9}}/progress.json", progress_json)
    router.add_post(BASE + r"/{alert_id:\d{1,9}}/cancel", cancel)


async def broadcaster(request: web.Request) -> Staff:
    staff = await views.signed_in(request)
    if not staff.broadcaster:
        raise views.refusal(request, staff, 403)
    return staff


def labels(language: str) -> dict[str, dict[str, str]]:
    _ = translator(language).gettext
    severity = {code: f"{MARKERS.get(code, '⚪')} {_(label)}" for code, label in SEVERITY_LABELS.items()}
    return {"severity": severity, "status": {k.value: _(v) for k, v in STATUS_LABELS.items()},
            "kind": {k.value: _(v) for k, v in KIND_LABELS.items()},
            "repeat": {k: _(v) for k, v in REPEAT_LABELS.items()}}


async def names(session, language: str, area_codes) -> tuple[dict[str, str], dict[str, str]]:
    """(topic names, area names) by code, for the codes given."""
    en = language == "en"
    topic_names = {t.code: t.name_en if en else t.name_vi for t in await topics.all_topics(session)}
    codes = sorted(set(area_codes))
    found = (await session.execute(select(Area).where(Area.code.in_(codes)))).scalars() if codes else []
    return topic_names, {a.code: a.full_name_en if en else a.full_name_vi for a in found}


def progress_text(alert: Alert, progress: Progress, rate: float, language: str) -> str:
    """One line of how far the sending got, with the bot's progress wording."""
    _ = translator(language).gettext
    f = figures(progress, alert.status, rate, language)
    parts = [_(PROGRESS_TITLES.get(alert.status, alert.status)), _("Recipients: {count}").format(count=f.total),
             _("Sent: {count}").format(count=f.sent), _("Failed: {count}").format(count=f.failed),
             _("Blocked the bot: {count}").format(count=f.blocked)]
    if progress.waiting_quiet_hours:
        parts.append(_("Waiting for quiet hours to end: {count}").format(count=f.waiting))
    if progress.remaining:
        parts.append(_("Remaining: {count}").format(count=f.remaining))
    if f.finished and progress.cancelled:
        parts.append(_("Not sent (stopped): {count}").format(count=f.cancelled))
    if progress.expired:
        parts.append(_("Not sent (expired): {count}").format(count=f.expired))
    return " · ".join(parts)


def _done(alert: Alert) -> bool:
    return alert.status not in (Status.SENDING, Status.DRAFT)


# ---------------------------------------------------------------- the history


async def history(request: web.Request) -> web.Response:
    staff = await broadcaster(request)
    raw = request.query.get("page", "1")
    page = inputs.number(raw, 1, 99_999) or 1
    listed = Alert.status != Status.DRAFT  # a draft is someone's wizard in progress
    async with request.app[DB].read() as session:
        total = (await session.execute(select(func.count()).select_from(Alert).where(listed))).scalar_one()
        pages = max(1, -(-total // PER_PAGE))
        page = min(page, pages)
        found = list((await session.execute(select(Alert).where(listed).order_by(Alert.id.desc())
                                            .offset((page - 1) * PER_PAGE).limit(PER_PAGE))).scalars())
        counts = await alerts.progress_of(session, [a.id for a in found], now=context.now(request))
        topic_names, area_names = await names(session, staff.language,
                                              [code for a in found for code in a.area_codes or []])
    rate = request.app[SETTINGS].send_rate
    rows = [{"alert": a, "progress": counts[a.id], "live": not _done(a),
             "text": progress_text(a, counts[a.id], rate, staff.language)} for a in found]
    return views.render(request, staff, "dashboard/broadcasts.html", rows=rows, page=page, pages=pages,
                        total=total, topic_names=topic_names, area_names=area_names, labels=labels(staff.language))


# ---------------------------------------------------------------- composing


@dataclass
class Compose:
    """The compose form as typed, kept whole when it is shown again."""

    topic: str = ""
    areas: list[str] = field(default_factory=list)
    province: str = ""
    severity: str = ""
    text_vi: str = ""
    text_en: str = ""
    link: str = ""
    when: str = "now"
    send_at: str = ""
    repeat: str = "once"

    @classmethod
    def read(cls, data: MultiDictProxy) -> Compose:
        def text(name: str) -> str:
            value = data.get(name, "")
            return value if isinstance(value, str) else ""

        codes = [code.strip() for code in data.getall("areas", []) if isinstance(code, str) and code.strip()]
        return cls(topic=text("topic"), areas=list(dict.fromkeys(codes)), province=text("province"),
                   severity=text("severity"), text_vi=text("text_vi"), text_en=text("text_en"),
                   link=text("link").strip(), when="later" if text("when") == "later" else "now",
                   send_at=text("send_at").strip(), repeat=text("repeat") or "once")


@dataclass
class Checked:
    problems: dict[str, str]  # field → what is wrong, in the broadcaster's language
    texts: dict[str, str] = field(default_factory=dict)
    send_at: datetime | None = None  # for "later", in UTC


async def check(session, typed: Compose, language: str, *, now: datetime, tz: ZoneInfo) -> Checked:
    """The wizard's checks, on the whole form at once."""
    _ = translator(language).gettext
    problems: dict[str, str] = {}
    if len(typed.areas) > drafts.MAX_AREAS:
        problems["areas"] = _("At most {count} areas per alert.").format(count=drafts.MAX_AREAS)
        unknown = await drafts.unknown_choices(session, typed.topic, [])
    else:
        unknown = await drafts.unknown_choices(session, typed.topic, typed.areas)
        if not typed.areas:
            problems["areas"] = _("Choose at least one area.")
        elif unknown.areas:
            problems["areas"] = _("There is no area {codes}: choose the areas from the list.").format(
                codes=", ".join(unknown.areas))
    if unknown.topic:
        problems["topic"] = _("Choose a topic from the list.")
    if typed.severity not in drafts.SEVERITIES:
        problems["severity"] = _("Choose how serious the alert is.")
    texts = {}
    for name, language_code in (("text_vi", "vi"), ("text_en", "en")):
        value, problem = drafts.check_text(getattr(typed, name), drafts.TEXT_LIMIT)
        if problem == drafts.Problem.EMPTY and language_code == "vi":
            problems[name] = _("Write the text of the alert in Vietnamese.")
        elif problem == drafts.Problem.TOO_LONG:
            problems[name] = _("The text is too long: {length} characters, and an alert can have at most "
                               "{limit}.").format(length=number(len(value), language),
                                                  limit=number(drafts.TEXT_LIMIT, language))
        elif value:
            texts[language_code] = value
    if typed.link and (len(typed.link) > LINK_MAX or not LINK.match(typed.link)):
        problems["link"] = _("The link must be a web address starting with http:// or https:// (at most {limit} "
                             "characters).").format(limit=LINK_MAX)
    send_at = None
    if typed.when == "later":
        send_at, problem = drafts.parse_send_time(typed.send_at, now=now, tz=tz)
        if problem is not None:
            problems["send_at"] = {
                drafts.Problem.PAST: _("That time has already passed. Choose a time in the future."),
                drafts.Problem.TOO_FAR: _("That is more than a year away. Choose a nearer time."),
            }.get(problem, _("Choose the date and time to send it, for example 2026-12-01 07:30."))
        if typed.repeat not in drafts.REPEATS:
            problems["repeat"] = _("Choose whether to send it once, every day or every week.")
    return Checked(problems, texts, send_at)


async def form_page(request: web.Request, staff: Staff, typed: Compose, *, problems: dict[str, str] | None = None,
                    status: int = 200) -> web.Response:
    """The compose form, with what was typed: the provinces, and the wards of the chosen one."""
    async with request.app[DB].read() as session:
        provinces = await areas.children(session, None)
        province = await areas.get(session, typed.province) if typed.province else None
        chosen = [a for a in [await areas.get(session, code) for code in typed.areas[:drafts.MAX_AREAS]] if a]
        if province is None and chosen:
            province = await areas.get(session, chosen[0].parent_code) if chosen[0].parent_code else chosen[0]
        wards = await areas.children(session, province.code) if province is not None else []
        all_topics = await topics.all_topics(session)
        recipients = await _count_text(session, staff.language, typed.topic, typed.areas)
    en = staff.language == "en"
    shown = {province.code} | {w.code for w in wards} if province is not None else set()
    return views.render(
        request, staff, "dashboard/broadcast_new.html", status=status, typed=typed, problems=problems or {},
        topics=[(t.code, t.name_en if en else t.name_vi) for t in all_topics],
        provinces=[(a.code, a.name_en if en else a.name_vi) for a in provinces], province=province,
        wards=[(a.code, a.name_en if en else a.name_vi) for a in wards],
        elsewhere=[(a.code, a.full_name_en if en else a.full_name_vi) for a in chosen if a.code not in shown],
        province_name=(province.full_name_en if en else province.full_name_vi) if province else "",
        severities=drafts.SEVERITIES, repeats=drafts.REPEATS, text_limit=drafts.TEXT_LIMIT,
        recipients=recipients, labels=labels(staff.language), max_areas=drafts.MAX_AREAS)


async def new(request: web.Request) -> web.Response:
    staff = await broadcaster(request)
    return await form_page(request, staff, Compose(province=request.query.get("province", "")))


async def create(request: web.Request) -> web.Response:
    staff = await broadcaster(request)
    await views.form(request, staff)
    typed = Compose.read(await request.post())  # aiohttp keeps the parsed form: areas are repeated
    if (await request.post()).get("action") != "send":
        return await form_page(request, staff, typed)
    db, settings = request.app[DB], request.app[SETTINGS]
    now = context.now(request)
    async with db.read() as session:
        checked = await check(session, typed, staff.language, now=now, tz=settings.tz)
    if checked.problems:
        return await form_page(request, staff, typed, problems=checked.problems, status=400)
    async with db.transaction() as session:
        # Never a draft: the wizard would take it for the broadcaster's own draft.
        sent = await lifecycle.send(
            session, _by(staff), tz=settings.tz, at=checked.send_at,
            cron=drafts.cron_line(typed.repeat, checked.send_at, settings.tz) if checked.send_at else None,
            topic_code=typed.topic, severity=typed.severity, area_codes=typed.areas, texts=checked.texts,
            link=typed.link or None, send_at=now)
        alert_id = sent.alert.id
    if checked.send_at is None:
        added, left = await lifecycle.compose_now(db, sent.effects, tz=settings.tz,
                                                  on_slice=context.sender_waker(request))
        context.carry_out(request, left)
        log.info("dashboard_alert alert=%s recipients=%s by=%s", alert_id, added, staff.telegram_id)
    else:
        log.info("dashboard_alert_scheduled alert=%s at=%s by=%s", alert_id, checked.send_at.isoformat(),
                 staff.telegram_id)
    raise web.HTTPSeeOther(f"{BASE}/{alert_id}")


async def _count_text(session, language: str, topic: str, codes: list[str]) -> str:
    tr = translator(language)
    if not codes:
        return tr.gettext("Choose at least one area first.")
    if len(codes) > drafts.MAX_AREAS:
        return tr.gettext("At most {count} areas per alert.").format(count=drafts.MAX_AREAS)
    unknown = await drafts.unknown_choices(session, topic, codes)
    if unknown.topic:
        return tr.gettext("Choose a topic first.")
    known = [code for code in codes if code not in unknown.areas]
    total = await alerts.count_recipients(session, topic, known) if known else 0
    return tr.ngettext("{count} recipient", "{count} recipients", total).format(count=number(total, language))


async def count(request: web.Request) -> web.Response:
    staff = await broadcaster(request)
    codes = list(dict.fromkeys(code for code in request.query.getall("areas", []) if code))
    async with request.app[DB].read() as session:
        text = await _count_text(session, staff.language, request.query.get("topic", ""), codes)
    return web.json_response({"text": text})


# ---------------------------------------------------------------- one alert, and stopping it


def _alert_id(request: web.Request) -> int:
    return int(request.match_info["alert_id"])


def _by(staff: Staff) -> By:
    """The broadcaster as the alerts they make are signed, and as the life cycle checks them."""
    return By(SOURCE, telegram_id=staff.telegram_id, name=staff.name or str(staff.telegram_id),
              language=staff.language, admin=staff.admin)


async def _visible(session, request: web.Request, staff: Staff, alert_id: int, *, lock: bool = False) -> Alert:
    query = select(Alert).where(Alert.id == alert_id, Alert.status != Status.DRAFT)
    alert = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if alert is None:
        raise views.refusal(request, staff, 404)
    return alert


async def show(request: web.Request) -> web.Response:
    staff = await broadcaster(request)
    async with request.app[DB].read() as session:
        alert = await _visible(session, request, staff, _alert_id(request))
        progress = await alerts.progress(session, alert.id, now=context.now(request))
        topic_names, area_names = await names(session, staff.language, alert.area_codes or [])
        schedule = (await schedules.latest_of(session, alert.id)
                    if alert.status in (Status.TEMPLATE, Status.CANCELLED) else None)
        runs = [] if schedule is None else list((await session.execute(
            select(Alert.id, Alert.created_at).where(Alert.source == schedules.SOURCE,
                                                     Alert.identifier.startswith(f"{schedule.id}:", autoescape=True))
            .order_by(Alert.id.desc()).limit(10))).all())
        replaced_by = await alerts.replaced_by(session, alert.id)
        # How the viewer may stop it now, as the bot lets its sender (admins: any alert).
        way = await lifecycle.offered_way(session, alert, _by(staff), sent=progress.sent)
        sent_to = progress.sent
    settings = request.app[SETTINGS]
    return views.render(
        request, staff, "dashboard/broadcast.html", alert=alert, progress=progress, live=not _done(alert),
        text=progress_text(alert, progress, settings.send_rate, staff.language), topic_names=topic_names,
        area_names=area_names, schedule=schedule, runs=runs, replaced_by=replaced_by, way=way, sent_to=sent_to,
        labels=labels(staff.language), done=request.query.get("done", ""),
        link_is_web=bool(alert.link and LINK.match(alert.link)))


async def progress_json(request: web.Request) -> web.Response:
    staff = await broadcaster(request)
    async with request.app[DB].read() as session:
        alert = await _visible(session, request, staff, _alert_id(request))
        progress = await alerts.progress(session, alert.id, now=context.now(request))
    text = progress_text(alert, progress, request.app[SETTINGS].send_rate, staff.language)
    return web.json_response({"text": text, "done": _done(alert)})


async def cancel(request: web.Request) -> web.Response:
    staff = await broadcaster(request)
    data = await views.form(request, staff)
    _ = translator(staff.language).gettext
    asked = data.get("way")
    try:
        async with request.app[DB].transaction() as session:
            alert = await _visible(session, request, staff, _alert_id(request), lock=True)
            if asked not in [way.value for way in Way]:
                raise Refused(No.CHANGED) if _by(staff).may_act_on(alert) else Refused(No.NOT_YOURS)
            stopped = await lifecycle.stop(session, alert, Way(asked), _by(staff), now=context.now(request),
                                           offered=True)
    except Refused as refusal:
        if refusal.code == No.NOT_YOURS:
            raise views.refusal(request, staff, 403, _("Only the broadcaster who sent an alert, or an administrator, "
                                                       "can stop it.")) from None
        raise views.refusal(request, staff, 409, _("This alert changed in the meantime and cannot be stopped "
                                                   "this way any more. Reload its page.")) from None
    log.info("dashboard_alert_stopped alert=%s way=%s by=%s", alert.id, stopped.way, staff.telegram_id)
    context.carry_out(request, stopped.effects)
    raise web.HTTPSeeOther(f"{BASE}/{alert.id}?done={stopped.way}")

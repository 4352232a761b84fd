"""The agency REST API under /api/v1: alerts (scope alerts) and reports (scope reports) of the
token's agency, and the reference lists (areas, topics, categories) for any valid token.

Thin, like the handlers: check the token (web/auth.py), check the input against the OpenAPI
document (web/openapi.py), then call the same domain functions as the bot and the command line:
`broadcasts.lifecycle` for the alerts (send, now or later as the wizard's "Send at a time";
correct; stop, in the way `agency_way` picks; its checks of the times), and
`complaints.lifecycle.apply` for the reports, with the token standing for the agency's staff.
One transaction per change; what it leaves to do (the sender to wake) is carried out after it.

Whose alert is it? `agency_code`: set here from the token, inherited by corrections,
cancellations and the runs of a schedule; also set on the CAP messages the agency's tokens post.
An alert made here has source "api", `sender_name` the token's name and an identifier
`<agency code>/<the client's identifier>` (or `<agency code>/#<random>` without one), so that
the client's identifiers are unique per agency.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from broadcasts import alerts, drafts, schedules
from broadcasts import lifecycle as alert_lifecycle
from broadcasts.alerts import Kind, Status
from broadcasts.lifecycle import By, No
from complaints import actions, codes, lifecycle, thread
from complaints import reports as report_queries
from complaints.lifecycle import Action, Actor, ActorKind, Refused
from complaints.media import MediaStore
from kernel.i18n import translator
from storage import areas, tokens, topics
from storage.models import Alert, Area, BroadcastSchedule, Category, Delivery, Report, ReportPhoto
from storage.types import utcnow
from web import auth, context, inputs, openapi
from web.auth import error
from web.keys import DB, SETTINGS

PREFIX = "/api/v1"
SOURCE = "api"
log = logging.getLogger("loa.api")


def setup(app: web.Application) -> None:
    app.middlewares.append(json_errors)
    router = app.router
    router.add_get(f"{PREFIX}/openapi.json", openapi_document)
    router.add_get(f"{PREFIX}/areas", list_areas)
    router.add_get(f"{PREFIX}/topics", list_topics)
    router.add_get(f"{PREFIX}/categories", list_categories)
    router.add_get(f"{PREFIX}/alerts", list_alerts)
    router.add_post(f"{PREFIX}/alerts", create_alert)
    router.add_get(f"{PREFIX}/alerts/{{alert_id}}", get_alert)
    router.add_post(f"{PREFIX}/alerts/{{alert_id}}/correct", correct_alert)
    router.add_post(f"{PREFIX}/alerts/{{alert_id}}/cancel", cancel_alert)
    router.add_get(f"{PREFIX}/reports", list_reports)
    router.add_get(f"{PREFIX}/reports/{{code}}", get_report)
    router.add_post(f"{PREFIX}/reports/{{code}}/actions", act_on_report)
    router.add_get(f"{PREFIX}/reports/{{code}}/photos/{{n}}", get_report_photo)
    router.add_get(f"{PREFIX}/reports/{{code}}/messages", list_report_messages)
    router.add_post(f"{PREFIX}/reports/{{code}}/messages", post_report_message)
    router.add_get(f"{PREFIX}/reports/{{code}}/messages/{{message_id}}/photos/{{n}}", get_message_photo)


# ---------------------------------------------------------------- errors as JSON

GENERIC = {
    400: ("bad_request", "The request is not valid."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This method is not allowed here."),
    408: ("timeout", "The body did not arrive in time."),
    413: ("too_large", "The body is larger than the server accepts."),
}


@web.middleware
async def json_errors(request: web.Request, handler):
    """Under /api/v1, aiohttp's own plain-text errors (no such route, wrong method, body too large)
    and unexpected failures are answered in the API's JSON error format too."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        if exc.text != f"{exc.status}: {exc.reason}" and exc.status != 413:
            raise  # a body of its own, from another module's handler
        headers = {name: value for name, value in exc.headers.items() if name in ("Allow", "WWW-Authenticate")}
        code, message = GENERIC.get(exc.status, ("error", exc.reason))
        if exc.status == 405:
            message = f"{request.method} is not allowed here; allowed: {headers.get('Allow') or 'none'}."
        if exc.status == 413:
            message = f"The body is larger than the {request.client_max_size} bytes the server accepts."
        raise error(exc.status, code, message, headers=headers) from None
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("api_error method=%s path=%s", request.method, request.path)
        raise error(500, "internal_error", "Something went wrong on our side; it was logged.") from None


def _json(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=partial(json.dumps, ensure_ascii=False))


def _invalid(problem: openapi.Invalid) -> web.HTTPException:
    field = problem.field or None
    return error(422, "validation_error", f"{problem.field}: {problem.message}" if field else problem.message,
                 field=field)


def _query(request: web.Request, operation: str) -> dict:
    try:
        return openapi.query(request.query, operation)
    except openapi.Invalid as problem:
        raise _invalid(problem) from None


async def _body(request: web.Request, schema: str) -> dict:
    """The JSON body, checked against the document's schema."""
    if request.body_exists and request.headers.get("Content-Type"):
        media = request.content_type.lower()
        if media != "application/json" and not media.endswith("+json"):
            raise error(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    limit = request.client_max_size
    if request.content_length is not None and request.content_length > limit:
        raise error(413, "too_large", f"The body is larger than the {limit} bytes the server accepts.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise error(413, "too_large", f"The body is larger than the {limit} bytes the server accepts.") from None
    if not raw.strip():
        raise error(400, "invalid_json", "The body is empty: send a JSON object.")
    try:
        value = await inputs.parse_json(raw)
    except inputs.Unreadable as problem:
        raise error(400, "invalid_json", f"The body is not valid JSON: {problem}.") from None
    try:
        openapi.check(value, {"$ref": f"#/components/schemas/{schema}"})
    except openapi.Invalid as problem:
        raise _invalid(problem) from None
    return value


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _page(params: dict, total: int, items: list) -> dict:
    return {"items": items, "page": params["page"], "per_page": params["per_page"], "total": total}


# ---------------------------------------------------------------- the document and the reference lists


async def openapi_document(request: web.Request) -> web.Response:
    return _json(openapi.document())


def _area(area: Area) -> dict:
    bbox = None
    if None not in (area.min_lon, area.min_lat, area.max_lon, area.max_lat):
        bbox = [area.min_lon, area.min_lat, area.max_lon, area.max_lat]
    return {"code": area.code, "parent_code": area.parent_code, "level": area.level, "kind": area.kind,
            "name_vi": area.name_vi, "name_en": area.name_en, "full_name_vi": area.full_name_vi,
            "full_name_en": area.full_name_en, "bbox": bbox}


async def list_areas(request: web.Request) -> web.Response:
    await auth.caller(request, None)
    params = _query(request, "areas")
    parent, q = params["parent"], params["q"]
    async with request.config_dict[DB].read() as session:
        if parent is not None and await areas.get(session, parent) is None:
            raise error(422, "unknown_area", f"There is no area {parent!r}.", field="parent")
        if q is not None:
            found = await areas.search(session, q, within=parent, limit=params["limit"])
        else:
            found = await areas.children(session, parent)
    return _json({"items": [_area(a) for a in found]})


async def list_topics(request: web.Request) -> web.Response:
    await auth.caller(request, None)
    async with request.config_dict[DB].read() as session:
        found = await topics.all_topics(session)
    return _json({"items": [{"code": t.code, "name_vi": t.name_vi, "name_en": t.name_en,
                             "subscribed_by_default": t.subscribed_by_default} for t in found]})


async def list_categories(request: web.Request) -> web.Response:
    await auth.caller(request, None)
    async with request.config_dict[DB].read() as session:
        found = (await session.execute(select(Category).order_by(Category.position, Category.code))).scalars().all()
    return _json({"items": [{"code": c.code, "name_vi": c.name_vi, "name_en": c.name_en,
                             "description_vi": c.description_vi, "description_en": c.description_en,
                             "resolve_days": c.resolve_days, "active": c.active} for c in found]})


# ---------------------------------------------------------------- alerts: whose they are


def _prefix(agency_code: str) -> str:
    return f"{agency_code}/"


def _owned(agency_code: str):
    return Alert.agency_code == agency_code


def _identifier(agency_code: str, given: str | None) -> str:
    return _prefix(agency_code) + (given if given else "#" + uuid.uuid4().hex)


def _shown_identifier(alert: Alert) -> str | None:
    if alert.source != SOURCE or not alert.identifier or "/" not in alert.identifier:
        return None
    own = alert.identifier.split("/", 1)[1]
    return None if own.startswith("#") else own


def _alert_id(request: web.Request) -> int:
    raw = request.match_info["alert_id"]
    alert_id = inputs.number(raw)
    if alert_id is None:
        raise error(404, "not_found", f"There is no alert {raw[:20]}.")
    return alert_id


async def _alert_of(session, who: tokens.Caller, alert_id: int, *, lock: bool = False) -> Alert:
    """The agency's alert, or 404 (none) / 403 (not the agency's)."""
    query = select(Alert).where(Alert.id == alert_id)
    if lock:
        query = query.with_for_update()
    alert = (await session.execute(query)).scalar_one_or_none()
    if alert is None:
        raise error(404, "not_found", f"There is no alert {alert_id}.")
    mine = (await session.execute(select(Alert.id).where(Alert.id == alert_id, _owned(who.agency_code)))).first()
    if mine is None:
        raise error(403, "other_agency", f"Alert {alert_id} is not one of your agency's alerts.")
    return alert


async def _described(session, found: list[Alert], *, deliveries: bool) -> list[dict]:
    """The alerts as the API shows them: with their follow-up, their schedule, and (`deliveries`)
    how far their sending got."""
    ids = [a.id for a in found]
    replaced: dict[int, int] = {}
    if ids:
        rows = await session.execute(
            select(Alert.replaces_id, func.min(Alert.id))
            .where(Alert.replaces_id.in_(ids), Alert.kind.in_([Kind.CORRECTION.value, Kind.CANCELLATION.value]))
            .group_by(Alert.replaces_id))
        replaced = {original: follow for original, follow in rows.all()}
    plans: dict[int, dict] = {}
    templates = [a.id for a in found if a.status == Status.TEMPLATE]
    if templates:
        rows = (await session.execute(select(BroadcastSchedule).where(BroadcastSchedule.alert_id.in_(templates))
                                      .order_by(BroadcastSchedule.id))).scalars().all()
        for schedule in rows:
            sent_as = (await session.execute(
                select(Alert.id).where(Alert.source == schedules.SOURCE,
                                       Alert.identifier.startswith(f"{schedule.id}:", autoescape=True))
                .order_by(Alert.id).limit(1))).scalar_one_or_none()
            template = next(a for a in found if a.id == schedule.alert_id)
            plans[schedule.alert_id] = {"send_at": _time(template.send_at or schedule.next_run_at),
                                        "active": schedule.active, "sent_as": sent_as}
    described = []
    for alert in found:
        item = {
            "id": alert.id, "kind": alert.kind, "status": alert.status, "topic": alert.topic_code,
            "areas": list(alert.area_codes or []), "severity": alert.severity, "urgency": alert.urgency,
            "texts": dict(alert.texts or {}), "link": alert.link, "identifier": _shown_identifier(alert),
            "replaces_id": alert.replaces_id, "replaced_by": replaced.get(alert.id), "source": alert.source,
            "sender_name": alert.sender_name, "created_at": _time(alert.created_at), "send_at": _time(alert.send_at),
            "expires_at": _time(alert.expires_at), "composed_at": _time(alert.composed_at),
            "finished_at": _time(alert.finished_at), "schedule": plans.get(alert.id),
        }
        if deliveries:
            progress = await alerts.progress(session, alert.id)
            item["deliveries"] = {"total": progress.total, "sent": progress.sent, "failed": progress.failed,
                                  "blocked": progress.blocked, "cancelled": progress.cancelled,
                                  "expired": progress.expired, "waiting": progress.waiting_quiet_hours,
                                  "remaining": progress.remaining}
        described.append(item)
    return described


async def _alert_response(request: web.Request, alert_id: int, *, status: int = 200,
                          recipients: int | None = None) -> web.Response:
    async with request.config_dict[DB].read() as session:
        alert = await session.get(Alert, alert_id)
        item = (await _described(session, [alert], deliveries=True))[0]
    headers = None
    if recipients is not None:
        item["recipients"] = recipients
    if status == 201:
        headers = {"Location": f"{PREFIX}/alerts/{alert_id}"}
    return _json(item, status=status, headers=headers)


# ---------------------------------------------------------------- alerts: the routes


async def list_alerts(request: web.Request) -> web.Response:
    who = await auth.caller(request, "alerts")
    params = _query(request, "alerts")
    owned = _owned(who.agency_code)
    async with request.config_dict[DB].read() as session:
        total = (await session.execute(select(func.count()).select_from(Alert).where(owned))).scalar_one()
        found = list((await session.execute(
            select(Alert).where(owned).order_by(Alert.created_at.desc(), Alert.id.desc())
            .offset((params["page"] - 1) * params["per_page"]).limit(params["per_page"]))).scalars())
        items = await _described(session, found, deliveries=False)
    return _json(_page(params, total, items))


def _texts(given: dict, field: str = "texts") -> dict[str, str]:
    """Trimmed texts, as the wizard and `loa broadcast send` keep them: Vietnamese required, English
    dropped when empty."""
    texts = {"vi": given["vi"].strip()}
    if not texts["vi"]:
        raise error(422, "validation_error", f"{field}.vi: must not be empty", field=f"{field}.vi")
    if isinstance(given.get("en"), str) and given["en"].strip():
        texts["en"] = given["en"].strip()
    return texts


def _moment(body: dict, name: str) -> datetime | None:
    value = body.get(name)
    return openapi.parse_date_time(value) if value is not None else None


async def _check_choices(session, topic: str, area_codes: list[str]) -> None:
    """As `loa broadcast send` checks them: an unknown topic or area names the valid ones."""
    unknown = await drafts.unknown_choices(session, topic, area_codes)
    if unknown.topic:
        raise error(422, "unknown_topic", f"Unknown topic {topic!r} (choose from "
                    f"{', '.join(unknown.topics) or 'none: the topics table is empty'}).", field="topic")
    if unknown.areas:
        raise error(422, "unknown_area", f"Unknown area {', '.join(map(repr, unknown.areas))} (area codes: GET "
                    f"{PREFIX}/areas).", field=f"areas.{area_codes.index(unknown.areas[0])}")


TIME_REFUSALS = {
    No.EXPIRES_PAST: "is in the past",
    No.SEND_AT_PAST: "is in the past (leave it out to send now)",
    No.SEND_AT_TOO_FAR: "is more than a year ahead",
    No.EXPIRES_BEFORE_SEND: "must be after send_at",
}


def _by(who: tokens.Caller) -> By:
    return By(SOURCE, name=who.name, agency_code=who.agency_code)


async def create_alert(request: web.Request) -> web.Response:
    who = await auth.caller(request, "alerts")
    body = await _body(request, "AlertCreate")
    settings = request.config_dict[SETTINGS]
    texts = _texts(body["texts"])
    expires_at, send_at = _moment(body, "expires_at"), _moment(body, "send_at")
    refusal = alert_lifecycle.check_times(now=utcnow(), at=send_at, expires_at=expires_at)
    if refusal is not None:
        raise error(422, "validation_error", f"{refusal.field}: {TIME_REFUSALS[refusal.code]}", field=refusal.field)
    area_codes = list(dict.fromkeys(body["areas"]))
    identifier = _identifier(who.agency_code, body.get("identifier"))
    db = request.config_dict[DB]
    recipients = None
    try:
        async with db.transaction() as session:
            await _check_choices(session, body["topic"], area_codes)
            taken = (await session.execute(select(Alert.id).where(
                Alert.source == SOURCE, Alert.identifier == identifier))).scalar_one_or_none()
            if taken is not None:
                raise error(409, "duplicate_identifier", f"Your agency already sent an alert with the identifier "
                            f"{body['identifier']!r}: alert {taken}.")
            # Sent at a time, as the wizard's "Send at a time": a template, sent by the bot's schedule job.
            sent = await alert_lifecycle.send(
                session, _by(who), tz=settings.tz, at=send_at, topic_code=body["topic"], severity=body["severity"],
                urgency=body.get("urgency") or "unknown", area_codes=area_codes, texts=texts, link=body.get("link"),
                identifier=identifier, expires_at=expires_at)
            alert_id = sent.alert.id
            if send_at is not None:
                recipients = await alerts.count_recipients(session, sent.alert.topic_code, sent.alert.area_codes)
    except IntegrityError:
        raise error(409, "duplicate_identifier", f"Your agency already sent an alert with the identifier "
                    f"{body.get('identifier')!r}.") from None
    log.info("api_alert alert=%s token=%s agency=%s", alert_id, who.token_id, who.agency_code)
    effects = sent.effects
    if effects.compose:
        recipients, effects = await alert_lifecycle.compose_now(db, effects, tz=settings.tz,
                                                                on_slice=context.sender_waker(request))
    context.carry_out(request, effects)
    return await _alert_response(request, alert_id, status=201, recipients=recipients)


async def get_alert(request: web.Request) -> web.Response:
    who = await auth.caller(request, "alerts")
    alert_id = _alert_id(request)
    async with request.config_dict[DB].read() as session:
        await _alert_of(session, who, alert_id)
    return await _alert_response(request, alert_id)


def _refused(refusal: alert_lifecycle.Refused, alert_id: int, verb: str) -> web.HTTPException:
    """A refusal of the life cycle (broadcasts/lifecycle.py) as the API's 409."""
    if refusal.code == No.IS_CANCELLATION:
        return error(409, "is_cancellation", f"Alert {alert_id} is a cancellation: it cannot be {verb}.")
    if refusal.code == No.ALREADY_REPLACED:
        return error(409, "already_replaced", f"Alert {alert_id} was already corrected or cancelled: see alert "
                     f"{refusal.replaced_by}.")
    if refusal.code == No.CANCELLED:
        return error(409, "cancelled", f"Alert {alert_id} is cancelled.")
    if refusal.code == No.NOT_SENT:
        return error(409, "not_sent", f"Alert {alert_id} has not been sent yet: cancel it and send a new one.")
    if refusal.code == No.ALREADY_SENT:
        return error(409, "already_sent", f"Scheduled alert {alert_id} was already sent: cancel its "
                     "sending (schedule.sent_as).")
    if refusal.code == No.NOT_YOURS:
        return error(403, "other_agency", f"Alert {alert_id} is not one of your agency's alerts.")
    return error(409, refusal.code.value, f"Alert {alert_id} cannot be {verb} now.")


async def correct_alert(request: web.Request) -> web.Response:
    who = await auth.caller(request, "alerts")
    alert_id = _alert_id(request)
    db = request.config_dict[DB]
    async with db.read() as session:
        await _alert_of(session, who, alert_id)
    body = await _body(request, "AlertCorrect")
    texts = _texts(body["texts"])
    try:
        async with db.transaction() as session:
            alert = await _alert_of(session, who, alert_id, lock=True)
            followed = await alert_lifecycle.correct(session, alert, _by(who), texts,
                                                     identifier=_identifier(who.agency_code, None))
            follow_id = followed.alert.id
            recipients = (await session.execute(select(func.count()).select_from(Delivery)
                                                .where(Delivery.alert_id == follow_id))).scalar_one()
    except alert_lifecycle.Refused as refusal:
        raise _refused(refusal, alert_id, "corrected") from None
    log.info("api_alert_follow_up alert=%s kind=correction original=%s token=%s", follow_id, alert_id, who.token_id)
    context.carry_out(request, followed.effects)
    return await _alert_response(request, follow_id, status=201, recipients=recipients)


async def cancel_alert(request: web.Request) -> web.Response:
    who = await auth.caller(request, "alerts")
    alert_id = _alert_id(request)
    try:
        async with request.config_dict[DB].transaction() as session:
            alert = await _alert_of(session, who, alert_id, lock=True)
            # A cancellation notice to those who received it (the bot's "Cancel alert"), else the
            # rest is dropped (its "Cancel sending"), or a scheduled alert's schedule stops.
            way = await alert_lifecycle.agency_way(session, alert)
            stopped = await alert_lifecycle.stop(session, alert, way, _by(who),
                                                 identifier=_identifier(who.agency_code, None))
    except alert_lifecycle.Refused as refusal:
        raise _refused(refusal, alert_id, "cancelled") from None
    if stopped.follow is not None:
        log.info("api_alert_follow_up alert=%s kind=cancellation original=%s token=%s", stopped.follow.id,
                 alert_id, who.token_id)
    context.carry_out(request, stopped.effects)
    return await _alert_response(request, alert_id)


# ---------------------------------------------------------------- reports


def _actor(who: tokens.Caller) -> Actor:
    return Actor(ActorKind.AGENCY_STAFF, None, who.name, who.agency_code, token_id=who.token_id)


async def _report_of(session, who: tokens.Caller, typed: str) -> Report:
    code = codes.parse(typed) if len(typed) <= 32 else None
    report = (await session.execute(select(Report).where(Report.code == code))).scalar_one_or_none() \
        if code is not None else None
    if report is None:
        raise error(404, "not_found", f"There is no report {typed}.")
    if report.agency_code != who.agency_code:
        raise error(403, "other_agency", f"Report {report.code} is not assigned to your agency.")
    return report


async def _reports(session, who: tokens.Caller, found: list[Report], *, history: bool) -> list[dict]:
    ids = [r.id for r in found]
    photos: dict[int, int] = {}
    duplicates: dict[int, str] = {}
    if ids:
        rows = await session.execute(select(ReportPhoto.report_id, func.count()).where(ReportPhoto.report_id.in_(ids))
                                     .group_by(ReportPhoto.report_id))
        photos = dict(rows.all())
        originals = {r.duplicate_of_id for r in found if r.duplicate_of_id is not None}
        if originals:
            rows = await session.execute(select(Report.id, Report.code).where(Report.id.in_(originals)))
            duplicates = dict(rows.all())
    actor = _actor(who)
    described = []
    for report in found:
        item = {
            "code": report.code, "state": report.state, "priority": report.priority,
            "category": report.category_code, "area_code": report.area_code, "address": report.address_text,
            "latitude": report.latitude, "longitude": report.longitude, "description": report.description,
            "created_at": _time(report.created_at), "updated_at": _time(report.updated_at),
            "take_up_due_at": _time(report.take_up_due_at), "due_at": _time(report.due_at),
            "resolved_at": _time(report.resolved_at), "closed_at": _time(report.closed_at),
            "rating": report.rating, "rating_comment": report.rating_comment,
            "reopened_count": report.reopened_count or 0, "duplicate_of": duplicates.get(report.duplicate_of_id),
            "photos": photos.get(report.id, 0),
            "allowed_actions": [a.value for a in lifecycle.allowed_actions(report, actor)
                                if a.value in openapi.AGENCY_ACTIONS],
        }
        if history:
            item["history"] = [{
                "at": _time(event.at), "action": event.action, "state": event.state, "actor": event.actor,
                # The resident is never named; the staff and tokens are.
                "actor_name": None if event.actor in (None, ActorKind.RESIDENT.value) else event.actor_name,
                "agency_code": event.agency_code, "note": event.note, "public": event.visible,
            } for event in await report_queries.history(session, report.id)]
        described.append(item)
    return described


async def list_reports(request: web.Request) -> web.Response:
    who = await auth.caller(request, "reports")
    params = _query(request, "reports")
    conditions = [Report.agency_code == who.agency_code]
    if params["state"] is not None:
        conditions.append(Report.state == params["state"])
    if params["updated_since"] is not None:
        conditions.append(Report.updated_at >= openapi.parse_date_time(params["updated_since"]))
    async with request.config_dict[DB].read() as session:
        total = (await session.execute(select(func.count()).select_from(Report).where(*conditions))).scalar_one()
        found = list((await session.execute(
            select(Report).where(*conditions).order_by(Report.created_at.desc(), Report.id.desc())
            .offset((params["page"] - 1) * params["per_page"]).limit(params["per_page"]))).scalars())
        items = await _reports(session, who, found, history=False)
    return _json(_page(params, total, items))


async def _report_response(request: web.Request, who: tokens.Caller, report_id: int) -> web.Response:
    async with request.config_dict[DB].read() as session:
        report = await session.get(Report, report_id)
        return _json((await _reports(session, who, [report], history=True))[0])


async def get_report(request: web.Request) -> web.Response:
    who = await auth.caller(request, "reports")
    async with request.config_dict[DB].read() as session:
        report = await _report_of(session, who, request.match_info["code"])
    return await _report_response(request, who, report.id)


async def act_on_report(request: web.Request) -> web.Response:
    who = await auth.caller(request, "reports")
    db = request.config_dict[DB]
    async with db.read() as session:
        report_id = (await _report_of(session, who, request.match_info["code"])).id
    body = await _body(request, "ReportAction")
    action = Action(body["action"])
    try:
        args = actions.typed(action, body.get(actions.TYPED.get(action, "")))  # fields named as the arguments
        async with db.transaction() as session:
            result = await lifecycle.apply(session, report_id, action, _actor(who), policy=context.policy(request),
                                           expected_state=body.get("expected_state"), now=context.now(request), **args)
    except Refused as refusal:
        message = refusal.render(translator("en").gettext, "en", None)
        if refusal.code in actions.RETYPE:  # the note or the reason: what the action takes typed
            field = actions.TYPED[action]
            raise error(422, refusal.code, f"{field}: {message}", field=field) from None
        raise error(409, refusal.code, message) from None
    log.info("api_report_action report=%s action=%s token=%s agency=%s", result.code, action.value, who.token_id,
             who.agency_code)
    context.carry_out(request, result.effects)
    return await _report_response(request, who, report_id)


async def get_report_photo(request: web.Request) -> web.Response:
    who = await auth.caller(request, "reports")
    raw = request.match_info["n"]
    async with request.config_dict[DB].read() as session:
        report = await _report_of(session, who, request.match_info["code"])
        position = inputs.number(raw, 1, 100)
        photo = await session.get(ReportPhoto, (report.id, position - 1)) if position is not None else None
    path = MediaStore(request.config_dict[SETTINGS].media_dir).path_of(photo.sha256) if photo and photo.sha256 else None
    if path is None or not path.is_file():
        raise error(404, "not_found", f"Report {report.code} has no photo {raw[:20]}.")
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})


# ---------------------------------------------------------------- a report's thread


MESSAGE_REFUSALS = {"missing_text", "too_long"}


def _message(message: thread.MessageInfo) -> dict:
    """A message of the thread as the agency sees it: the resident is never named."""
    return {
        "id": message.id, "at": _time(message.at), "author": message.author,
        "author_name": None if message.author == ActorKind.RESIDENT else message.author_name,
        "kind": message.kind, "public": not message.internal, "text": message.text,
        "photos": len(message.photos), "latitude": message.latitude, "longitude": message.longitude,
        "delivery": message.delivery, "answered_at": _time(message.answered_at),
    }


async def list_report_messages(request: web.Request) -> web.Response:
    who = await auth.caller(request, "reports")
    async with request.config_dict[DB].read() as session:
        report = await _report_of(session, who, request.match_info["code"])
        found = await thread.messages(session, report.id, for_staff=True)
    return _json({"items": [_message(message) for message in found]})


async def post_report_message(request: web.Request) -> web.Response:
    who = await auth.caller(request, "reports")
    db = request.config_dict[DB]
    async with db.read() as session:
        report = await _report_of(session, who, request.match_info["code"])
    body = await _body(request, "ReportMessageCreate")
    policy, now = context.policy(request), context.now(request)
    try:
        async with db.transaction() as session:
            if body.get("internal"):
                written = await thread.note(session, report.id, _actor(who), body["text"], policy=policy, now=now)
            else:
                written = await thread.ask(session, report.id, _actor(who), body["text"], policy=policy,
                                           pause=request.config_dict[SETTINGS].pause_while_asking, now=now)
    except Refused as refusal:
        message = refusal.render(translator("en").gettext, "en", None)
        if refusal.code in MESSAGE_REFUSALS:  # the text: empty once trimmed, or too long
            raise error(422, refusal.code, f"text: {message}", field="text") from None
        raise error(409, refusal.code, message) from None
    log.info("api_report_message report=%s internal=%s token=%s agency=%s", report.code, bool(body.get("internal")),
             who.token_id, who.agency_code)
    context.carry_out(request, written.effects)
    return _json(_message(written.message), status=201)


async def get_message_photo(request: web.Request) -> web.Response:
    who = await auth.caller(request, "reports")
    message_id = inputs.number(request.match_info["message_id"])
    position = inputs.number(request.match_info["n"], 1, 100)
    async with request.config_dict[DB].read() as session:
        report = await _report_of(session, who, request.match_info["code"])
        found = await thread.photo(session, report.id, message_id, position - 1) \
            if message_id is not None and position is not None else None
    path = MediaStore(request.config_dict[SETTINGS].media_dir).path_of(found) if found else None
    if path is None or not path.is_file():
        raise error(404, "not_found", f"Report {report.code} has no such photo in its thread.")
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})

"""The portal's alert archive (web/portal.py renders it):

    GET /public/alerts         the published alerts, newest first, PAGE_SIZE a page (?page=),
                               filtered by topic (?topic=) and severity (?severity=)
    GET /public/alerts/{id}    one alert: its text per language, areas, topic, severity, times
                               (sent, expires), the alert it corrects or cancels and its own
                               corrections and cancellations, links to its CAP document

What is published is broadcasts/publish.py's one rule: an unpublished alert is absent from the
list and its page answers 404, as its CAP document does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import publish
from broadcasts.alerts import Kind, Status
from broadcasts.render import SEVERITIES, SEVERITY_LABELS
from kernel.i18n import translator
from storage.areas import full_name
from storage.models import Agency, Alert, Topic
from web import context, inputs, portal
from web.keys import DB

PAGE_SIZE = 20
MAX_PAGE = 10_000
LIST_PATH = "/public/alerts"
PAGE_PATH = "/public/alerts/{alert_id:[0-9]+}"


def setup(app: web.Application) -> None:
    app.router.add_get(LIST_PATH, archive)
    app.router.add_get(PAGE_PATH, alert_page)


@dataclass(frozen=True)
class Item:
    """An alert as the lists show it (the archive, the home page's latest alerts)."""

    id: int
    title: str
    topic: str
    severity: str  # the code (a CSS class)
    severity_label: str
    kind: str  # alert | correction | cancellation
    replaces_id: int | None
    sent: datetime
    expires: datetime | None


async def topic_names(session: AsyncSession, language: str) -> dict[str, str]:
    topics = (await session.execute(select(Topic).order_by(Topic.position, Topic.code))).scalars()
    return {topic.code: topic.name_en if language == "en" else topic.name_vi for topic in topics}


def _text_in(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or next(iter(texts.values()), "")


def severity_label(severity: str, language: str) -> str:
    code = severity if severity in SEVERITIES else "unknown"
    return translator(language).gettext(SEVERITY_LABELS[code])


async def items(session: AsyncSession, alerts: list[Alert], language: str,
                names: dict[str, str] | None = None) -> list[Item]:
    """The list entries of `alerts`, titled in `language` (else the alert's first language);
    `names`: the topics' names in `language`, when the caller has read them."""
    if not alerts:
        return []
    if names is None:
        names = await topic_names(session, language)
    wanted = {alert.replaces_id for alert in alerts if alert.replaces_id is not None}
    originals = {alert.id: alert for alert in (await session.execute(
        select(Alert).where(Alert.id.in_(wanted)))).scalars()} if wanted else {}
    found = []
    for alert in alerts:
        texts = publish.texts_of(alert, originals.get(alert.replaces_id))
        found.append(Item(alert.id, publish.headline(_text_in(texts, language)), names.get(alert.topic_code,
                          alert.topic_code), alert.severity, severity_label(alert.severity, language),
                          alert.kind if alert.replaces_id is not None else Kind.ALERT, alert.replaces_id,
                          publish.sent_at(alert), alert.expires_at))
    return found


async def archive(request: web.Request) -> web.Response:
    language = portal.language(request)
    page = inputs.number(request.query.get("page", "1"), 1, MAX_PAGE) or 1
    severity = request.query.get("severity", "")
    severity = severity if severity in SEVERITIES else ""
    async with request.config_dict[DB].read() as session:
        names = await topic_names(session, language)
        topic = request.query.get("topic", "")
        topic = topic if topic in names else ""
        alerts, more = await publish.archive(session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                             topic=topic or None, severity=severity or None)
        listed = await items(session, alerts, language, names)
    filters = {"topic": topic, "severity": severity}
    return portal.page(request, "public/alerts.html", alerts=listed, page=page, more=more, filters=filters,
                       topics=names, severities=[(code, severity_label(code, language)) for code in SEVERITIES])


async def alert_page(request: web.Request) -> web.Response:
    alert_id = inputs.number(request.match_info["alert_id"])
    language = portal.language(request)
    async with request.config_dict[DB].read() as session:
        alert = await publish.published_alert(session, alert_id) if alert_id is not None else None
        if alert is None:
            raise portal.not_found(request)
        found = await publish.context_for(session, alert)
        names = await topic_names(session, language)
        later = await items(session, await publish.follow_ups(session, alert), language, names)
        agency = await session.get(Agency, alert.agency_code) if alert.agency_code else None
    texts = publish.texts_of(alert, found.original)
    ordered = sorted(texts.items(), key=lambda pair: pair[0] != language)
    cancelled = alert.status == Status.CANCELLED or any(item.kind == Kind.CANCELLATION for item in later)
    areas = [full_name(area, language) for area in found.areas]
    link = alert.link if alert.link and alert.link.startswith(("https://", "http://")) else None
    return portal.page(
        request, "public/alert.html", alert=alert, texts=ordered, areas=areas, later=later, cancelled=cancelled,
        title=publish.headline(_text_in(texts, language)), topic=names.get(alert.topic_code, alert.topic_code),
        severity=severity_label(alert.severity, language), sent=publish.sent_at(alert), link=link,
        kind=alert.kind if found.original is not None else Kind.ALERT, original=found.original,
        agency=(agency.name_en if language == "en" else agency.name_vi) if agency else None,
        expired=alert.expires_at is not None and alert.expires_at <= context.now(request),
        cap_url=f"/public/alerts/{alert.id}.cap")

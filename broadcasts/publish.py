"""What Loa publishes of its alerts, for other systems to take: an Atom 1.0 feed and one CAP 1.2
document per alert (web/public.py serves them at /public/alerts.atom and /public/alerts/{id}.cap).

Published: the alerts that were sent, i.e. composed into the outbox (`composed_at`) and not
stopped before any message left (a cancelled one counts only when someone received it or a
correction or cancellation followed it). Never published: drafts, schedules' templates, alerts
stopped before sending, messages taken but held (CAP's Test, Exercise, Draft, a Restricted or
Private scope, no matching area: `lifecycle.record` leaves them uncomposed), and the alerts taken
from the city's CAP feeds (source "cap", owner ""), with the corrections of those: they are
another authority's, already public at their source, and relaying them would make two Loa that
follow each other pass the same alert back and forth for ever. An agency's CAP messages posted
with its token are Loa's own and are published.

Each published alert is one CAP message: identifier "loa-<id>", the sender LOA_CAP_SENDER, sent
at its send time; a correction is msgType Update and a cancellation Cancel, with <references>
"sender,identifier,sent" of the alert it replaces. One <info> per language of its texts, and in
each one <area> per area: its name, its code as <geocode> and, when it has a boundary, that
boundary as <polygon>s (each part's outer ring). A boundary is drawn a little inside the area
(shrunk by twice the simplification's tolerance, then simplified), so that a consumer that
matches polygons by "meets", as Loa's own ingest does, never reaches the neighbours. Polygons
stay within the ingest's caps (MAX_POLYGON_POINTS a polygon, MAX_SHAPES a message) and a total
of POINTS_BUDGET points; past that the tolerance grows, and past MAX_TOLERANCE the geocodes stand
alone. The XML is built as an ElementTree, so every text is escaped by the serializer.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from broadcasts import cap
from broadcasts.alerts import SENT, Kind, Status
from broadcasts.cap_areas import boundary_shape
from storage.models import Agency, Alert, Area, Delivery, DeliveryTally, Topic

ATOM = "http://www.w3.org/2005/Atom"
FEED_LENGTH = 100  # the newest published alerts the feed lists
FORMAT = "1"  # part of the documents' ETags: change it when what they say of an alert changes
CAP_TYPE = "application/cap+xml"
ATOM_TYPE = "application/atom+xml"
IDENTIFIER_PREFIX = "loa-"
GEOCODE_NAME = "loa-area-code"  # the <valueName> of an area's code (the codes of `loa areas import`)
MSG_TYPES = {Kind.ALERT: "Alert", Kind.CORRECTION: "Update", Kind.CANCELLATION: "Cancel"}
# Loa's topics as CAP categories; the ingest (cap.CATEGORY_TOPICS) maps them back.
TOPIC_CATEGORIES = {"weather": "Met", "traffic": "Transport", "health": "Health", "food_safety": "Health",
                    "security": "Safety", "utilities": "Infra", "general": "Other"}
HEADLINE_LENGTH = 160  # CAP: "should be less than 160 characters"
LANGUAGE_TAGS = {"vi": "vi-VN", "en": "en-US"}
TOLERANCE = 0.0001  # degrees (about 11 m): the first simplification of a boundary
MAX_TOLERANCE = 0.01  # about 1 km: coarser than this, the polygon says less than the geocode
POINTS_BUDGET = 20_000  # polygon points in one message, all <info> blocks together

_published_status = (Status.SENDING, Status.DONE, Status.CANCELLED)


# ---------------------------------------------------------------------------- what is published


def _published():
    """The SQL condition of a published alert (see the module's docstring); the chain of the
    alerts it replaces is checked by `_chain_published`."""
    follow_up = aliased(Alert)
    received = or_(exists().where(Delivery.alert_id == Alert.id, Delivery.state == SENT),
                   exists().where(DeliveryTally.alert_id == Alert.id, DeliveryTally.sent > 0))
    followed = exists().where(follow_up.replaces_id == Alert.id)
    relayed = and_(Alert.source == cap.SOURCE, Alert.owner == "")
    return and_(Alert.composed_at.is_not(None), Alert.status.in_(_published_status),
                or_(Alert.status != Status.CANCELLED, received, followed), not_(relayed))


def sent_at(alert: Alert) -> datetime:
    """When the alert was sent: the wizard's "Send now" time, else when it was made."""
    return alert.send_at or alert.created_at


def _newest_first():
    return func.coalesce(Alert.send_at, Alert.created_at).desc(), Alert.id.desc()


async def _chain_published(session: AsyncSession, alert: Alert, known: dict[int, bool]) -> bool:
    """Whether the alerts `alert` replaces, back to the first, are published too (a correction of
    an alert taken from a feed is not). `known`: alert id → this answer, filled as it goes."""
    path: list[int] = []
    current = alert
    answer = True
    while current.replaces_id is not None:
        if current.id in known:
            answer = known[current.id]
            break
        path.append(current.id)
        if current.replaces_id in path:  # a loop, which the life cycle never makes
            break
        original = (await session.execute(select(Alert).where(Alert.id == current.replaces_id, _published()))
                    ).scalar_one_or_none()
        if original is None:
            answer = False
            break
        current = original
    known.update(dict.fromkeys(path, answer))
    return answer


async def feed_alerts(session: AsyncSession, limit: int = FEED_LENGTH) -> list[Alert]:
    """The newest published alerts, newest first."""
    rows = list((await session.execute(select(Alert).where(_published()).order_by(*_newest_first())
                                       .limit(limit))).scalars())
    known: dict[int, bool] = {}
    return [alert for alert in rows if await _chain_published(session, alert, known)]


async def feed_version(session: AsyncSession) -> str:
    """What the feed's ETag is made of, from one aggregate over the alerts that were composed:
    an alert becomes published when it is composed (a new `composed_at`, a new row) and can stop
    being published only when it is stopped, which sets its `finished_at`."""
    row = (await session.execute(select(func.count(), func.max(Alert.id), func.max(Alert.composed_at),
                                        func.max(Alert.finished_at)).where(Alert.composed_at.is_not(None)))).one()
    return "|".join(str(value) for value in row)


async def published_alert(session: AsyncSession, alert_id: int) -> Alert | None:
    """The alert if it is published, else None."""
    alert = (await session.execute(select(Alert).where(Alert.id == alert_id, _published()))).scalar_one_or_none()
    if alert is None or not await _chain_published(session, alert, {}):
        return None
    return alert


async def archive(session: AsyncSession, *, offset: int = 0, limit: int = 20, topic: str | None = None,
                  severity: str | None = None) -> tuple[list[Alert], bool]:
    """A page of the published alerts, newest first, of a topic and a severity when given (the
    portal's archive); and whether older ones follow. A page may hold fewer than `limit` when a
    correction of another authority's alert falls in it (`_chain_published`)."""
    query = select(Alert).where(_published())
    if topic:
        query = query.where(Alert.topic_code == topic)
    if severity:
        query = query.where(Alert.severity == severity)
    rows = list((await session.execute(query.order_by(*_newest_first()).offset(offset).limit(limit + 1))).scalars())
    known: dict[int, bool] = {}
    return [alert for alert in rows[:limit] if await _chain_published(session, alert, known)], len(rows) > limit


async def follow_ups(session: AsyncSession, alert: Alert) -> list[Alert]:
    """The published corrections and cancellations of a published `alert`, oldest first."""
    rows = (await session.execute(select(Alert).where(Alert.replaces_id == alert.id, _published())
                                  .order_by(func.coalesce(Alert.send_at, Alert.created_at), Alert.id))).scalars()
    return list(rows)


async def sent_since(session: AsyncSession, since: datetime) -> int:
    """How many alerts were published since `since`, corrections and cancellations not counted."""
    sent = func.coalesce(Alert.send_at, Alert.created_at)
    return (await session.execute(select(func.count()).select_from(Alert).where(
        _published(), Alert.replaces_id.is_(None), sent >= since))).scalar_one()


def texts_of(alert: Alert, original: Alert | None) -> dict[str, str]:
    """The alert's text per language, Vietnamese first; a cancellation without its own, its original's."""
    texts = _texts(alert, original)
    return {language: texts[language] for language in sorted(texts, key=lambda code: (code != "vi", code))}


# ---------------------------------------------------------------------------- the CAP document


@dataclass(frozen=True)
class Publisher:
    """Who publishes and where: the CAP <sender>, the base URL the documents are linked from (no
    trailing slash) and the city's time zone (CAP times carry its offset)."""

    sender: str
    base: str
    tz: ZoneInfo

    def cap_url(self, alert_id: int) -> str:
        return f"{self.base}/public/alerts/{alert_id}.cap"

    @property
    def feed_url(self) -> str:
        return f"{self.base}/public/alerts.atom"

    def identifier(self, alert: Alert) -> str:
        return f"{IDENTIFIER_PREFIX}{alert.id}"

    def reference(self, alert: Alert) -> str:
        return f"{self.sender},{self.identifier(alert)},{cap_time(sent_at(alert), self.tz)}"


def cap_time(moment: datetime, tz: ZoneInfo) -> str:
    """CAP's dateTime: whole seconds with the offset ("2026-12-07T09:30:00+07:00"); UTC is written
    "-00:00", as CAP requires, never "Z"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    text = moment.astimezone(tz).replace(microsecond=0).isoformat()
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def atom_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Context:
    """What a document needs beside the alert, read by `context_for`."""

    original: Alert | None  # the alert a correction or cancellation replaces
    areas: tuple[Area, ...]
    topic: Topic | None
    agency: Agency | None


async def context_for(session: AsyncSession, alert: Alert) -> Context:
    original = await session.get(Alert, alert.replaces_id) if alert.replaces_id is not None else None
    codes = list(alert.area_codes or ())
    found = {area.code: area for area in (await session.execute(select(Area).where(Area.code.in_(codes)))).scalars()}
    topic = await session.get(Topic, alert.topic_code)
    agency = await session.get(Agency, alert.agency_code) if alert.agency_code else None
    return Context(original, tuple(found[code] for code in codes if code in found), topic, agency)


def _root(name: str, namespace: str) -> ET.Element:
    """A document's root in its namespace; its elements are then named without it (ElementTree
    refuses a default namespace beside attributes without one, as Atom's links have)."""
    return ET.Element(name, xmlns=namespace)


def _sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, name)
    if text is not None:
        element.text = text
    return element


def _texts(alert: Alert, original: Alert | None) -> dict[str, str]:
    """The alert's texts; a cancellation without its own says what it cancels."""
    texts = {language: text for language, text in (alert.texts or {}).items() if text and text.strip()}
    if not texts and original is not None:
        texts = {language: text for language, text in (original.texts or {}).items() if text and text.strip()}
    return texts


def headline(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= HEADLINE_LENGTH else first[:HEADLINE_LENGTH - 1].rstrip() + "…"


def _outer_rings(geometry) -> list[list[tuple[float, float]]]:
    parts = getattr(geometry, "geoms", [geometry])
    return [list(part.exterior.coords) for part in parts if part.geom_type == "Polygon" and not part.is_empty]


@lru_cache(maxsize=4096)
def _rings(boundary: str, tolerance: float) -> tuple[str, ...]:
    """A GeoJSON boundary as CAP polygons ("lat,lon ..." with the first point last too), drawn
    `2 * tolerance` inside it and simplified by `tolerance` (so it never passes the boundary)."""
    shape = boundary_shape(json.loads(boundary))
    inner = shapely.simplify(shape.buffer(-2 * tolerance), tolerance, preserve_topology=True)
    rings = []
    for ring in _outer_rings(inner):
        if len(ring) < 4:
            continue
        points = [f"{lat:.5f},{lon:.5f}" for lon, lat in ring]
        points[-1] = points[0]
        rings.append(" ".join(points))
    return tuple(rings)


def polygons(areas: tuple[Area, ...], infos: int) -> dict[str, tuple[str, ...]]:
    """Each area's CAP polygons, within the ingest's caps when repeated in `infos` <info> blocks;
    {} when even the coarsest tolerance does not fit."""
    bounded = [area for area in areas if area.boundary]
    tolerance = TOLERANCE
    while bounded and tolerance <= MAX_TOLERANCE:
        drawn = {area.code: _rings(area.boundary, tolerance) for area in bounded}
        rings = [ring for found in drawn.values() for ring in found]
        sizes = [ring.count(" ") + 1 for ring in rings]
        if (len(rings) * infos <= cap.MAX_SHAPES and sum(sizes) * infos <= POINTS_BUDGET
                and max(sizes, default=0) <= cap.MAX_POLYGON_POINTS):
            return drawn
        tolerance *= 2
    return {}


def cap_document(alert: Alert, found: Context, publisher: Publisher) -> bytes:
    """The alert as a CAP 1.2 message (UTF-8 XML)."""
    root = _root("alert", cap.CAP12)
    _sub(root, "identifier", publisher.identifier(alert))
    _sub(root, "sender", publisher.sender)
    _sub(root, "sent", cap_time(sent_at(alert), publisher.tz))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", MSG_TYPES.get(Kind(alert.kind), "Alert") if found.original is not None else "Alert")
    _sub(root, "scope", "Public")
    if found.original is not None:
        _sub(root, "references", publisher.reference(found.original))
    texts = _texts(alert, found.original)
    shapes = polygons(found.areas, len(texts))
    for language in sorted(texts, key=lambda code: (code != "vi", code)):
        text = texts[language]
        info = _sub(root, "info")
        _sub(info, "language", LANGUAGE_TAGS.get(language, language))
        _sub(info, "category", TOPIC_CATEGORIES.get(alert.topic_code, "Other"))
        topic_name = None
        if found.topic is not None:
            topic_name = found.topic.name_vi if language == "vi" else found.topic.name_en
        _sub(info, "event", topic_name or alert.topic_code)
        _sub(info, "urgency", alert.urgency.capitalize())
        _sub(info, "severity", alert.severity.capitalize())
        _sub(info, "certainty", "Unknown")
        if alert.expires_at is not None:
            _sub(info, "expires", cap_time(alert.expires_at, publisher.tz))
        if found.agency is not None:
            _sub(info, "senderName", found.agency.name_vi if language == "vi" else found.agency.name_en)
        _sub(info, "headline", headline(text))
        _sub(info, "description", text)
        if alert.link and alert.link.startswith(("https://", "http://")):
            _sub(info, "web", alert.link)
        for area in found.areas:
            block = _sub(info, "area")
            _sub(block, "areaDesc", area.full_name_vi if language == "vi" else area.full_name_en)
            for ring in shapes.get(area.code, ()):
                _sub(block, "polygon", ring)
            geocode = _sub(block, "geocode")
            _sub(geocode, "valueName", GEOCODE_NAME)
            _sub(geocode, "value", area.code)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------------------- the Atom feed


def _entry_title(alert: Alert, texts: dict[str, str]) -> str:
    text = texts.get("vi") or texts.get("en") or next(iter(texts.values()), "")
    return headline(text) or f"{alert.severity.capitalize()} {alert.topic_code}"


def atom_feed(alerts: list[Alert], originals: dict[int, Alert], publisher: Publisher, *, title: str) -> bytes:
    """The feed of `alerts` (newest first), each entry linking to its CAP document; `originals`
    are the alerts the follow-ups among them replace (for a cancellation's title)."""
    feed = _root("feed", ATOM)
    _sub(feed, "id", publisher.feed_url)
    _sub(feed, "title", title)
    newest = max((sent_at(alert) for alert in alerts), default=datetime(2000, 1, 1, tzinfo=timezone.utc))
    _sub(feed, "updated", atom_time(newest))
    ET.SubElement(feed, "link", rel="self", type=ATOM_TYPE, href=publisher.feed_url)
    author = _sub(feed, "author", None)
    _sub(author, "name", publisher.sender)
    for alert in alerts:
        entry = _sub(feed, "entry", None)
        url = publisher.cap_url(alert.id)
        _sub(entry, "id", url)
        texts = _texts(alert, originals.get(alert.replaces_id) if alert.replaces_id else None)
        kind = MSG_TYPES.get(Kind(alert.kind), "Alert") if alert.replaces_id else "Alert"
        prefix = {"Update": "Update: ", "Cancel": "Cancel: "}.get(kind, "")
        _sub(entry, "title", prefix + _entry_title(alert, texts))
        _sub(entry, "updated", atom_time(sent_at(alert)))
        _sub(entry, "published", atom_time(sent_at(alert)))
        ET.SubElement(entry, "link", rel="alternate", type=CAP_TYPE, href=url)
        ET.SubElement(entry, "category", term=TOPIC_CATEGORIES.get(alert.topic_code, "Other"))
        summary = texts.get("vi") or texts.get("en") or next(iter(texts.values()), "")
        if summary:
            _sub(entry, "summary", summary)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


async def feed_document(session: AsyncSession, publisher: Publisher, *, title: str) -> bytes:
    alerts = await feed_alerts(session)
    wanted = {alert.replaces_id for alert in alerts if alert.replaces_id is not None}
    originals = {alert.id: alert for alert in (await session.execute(
        select(Alert).where(Alert.id.in_(wanted)))).scalars()} if wanted else {}
    return atom_feed(alerts, originals, publisher, title=title)

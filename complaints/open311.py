"""Reports as Open311 GeoReport v2 sees them: services, service requests, open and closed.

The domain side of web/open311.py, free of HTTP: which categories are services, how a report's
state maps to `open` / `closed`, what its public record says (never who reported it), which
reports a query finds, and how the fields of a POST are checked the way the bot checks a draft.

Public records hold plain values; web/open311.py renders them as JSON or XML.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from complaints import codes, drafts
from complaints.lifecycle import OPEN, STATE_LABELS, Action, ActorKind, State
from storage.models import Agency, Area, Category, Report, ReportEvent

STATUSES = ("open", "closed")
MAX_RESULTS = 1000
DEFAULT_SPAN = timedelta(days=90)
MAX_SPAN = timedelta(days=90)
MAX_IDS = 1000
MAX_CODES = 100
MAX_URL = 2000
MAX_NAME = 200
# C0 controls but tab, line feed and carriage return; DEL; what XML 1.0 cannot carry.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


class Invalid(ValueError):
    """A request Open311 answers with an error: `status` (400, 404) and a `description` for people."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def clean_text(value: str) -> str:
    """The text without the characters no database or XML document should get (NUL and the like)."""
    return _UNSAFE.sub("", value)


def status_of(state: str) -> str:
    """`open` while the city still has to act (received, assigned, being handled, reopened), else `closed`."""
    return "open" if state in OPEN else "closed"


def states_of(status: str) -> list[str]:
    if status == "open":
        return sorted(OPEN)
    return sorted(s.value for s in State if s.value not in OPEN)


# ---------------------------------------------------------------- services


@dataclass(frozen=True)
class Service:
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


def service_of(category: Category) -> Service:
    return Service(service_code=category.code, service_name=category.name_en, description=category.description_en,
                   metadata=False, type="realtime", keywords=category.name_vi, group=category.name_en)


async def services(session: AsyncSession) -> list[Service]:
    """The active categories, in their order."""
    query = select(Category).where(Category.active).order_by(Category.position, Category.code)
    return [service_of(category) for category in (await session.execute(query)).scalars()]


async def service(session: AsyncSession, code: str) -> Category | None:
    """The active category with this code, or None."""
    if not code or len(code) > 32:
        return None
    category = await session.get(Category, code)
    return category if category is not None and category.active else None


# ---------------------------------------------------------------- public records of reports


@dataclass
class PublicRequest:
    """What anyone may know of a report, in the order of GeoReport v2's fields. No reporter."""

    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    lat: float | None
    long: float | None

    def fields(self) -> list[tuple[str, object]]:
        return [(name, getattr(self, name)) for name in self.__dataclass_fields__]


def _status_notes(events: list[ReportEvent], original_code: str | None) -> str | None:
    """Why the report is where it is: the note of its last visible event, as the city wrote it.

    A resident's own words (a rating's comment) stay private: a rated or automatically closed
    report shows what the agency did; a reopened one says so without the comment."""
    if not events:
        return None
    last = events[-1]
    if last.action in (Action.RATE, Action.AUTO_CLOSE):
        resolved = [e for e in events if e.action == Action.RESOLVE]
        return resolved[-1].note if resolved else None
    if last.action == Action.REOPEN:
        return "Reopened: the problem is not fixed, its reporter says."
    if last.action == Action.DUPLICATE:
        text = f"Duplicate of {original_code}." if original_code else "Duplicate of another report."
        return f"{text} {last.note}" if last.note else text
    if last.actor == ActorKind.RESIDENT:
        return None
    return last.note or None


def _address(report: Report, areas: dict[str, Area]) -> str | None:
    parts = [report.address_text] if report.address_text else []
    area = areas.get(report.area_code) if report.area_code else None
    while area is not None:
        parts.append(area.full_name_en or area.name_en)
        area = areas.get(area.parent_code) if area.parent_code else None
    return ", ".join(parts) or None


async def _areas_with_parents(session: AsyncSession, codes_: set[str]) -> dict[str, Area]:
    found: dict[str, Area] = {}
    wanted = set(codes_)
    while wanted:
        rows = (await session.execute(select(Area).where(Area.code.in_(sorted(wanted))))).scalars().all()
        found.update({row.code: row for row in rows})
        wanted = {row.parent_code for row in rows if row.parent_code and row.parent_code not in found}
    return found


async def public(session: AsyncSession, reports: list[Report]) -> list[PublicRequest]:
    """The public records of the reports, in the same order (a few queries for any number)."""
    if not reports:
        return []
    ids = [r.id for r in reports]
    category_codes = sorted({r.category_code for r in reports})
    categories = {c.code: c for c in (await session.execute(
        select(Category).where(Category.code.in_(category_codes)))).scalars()}
    agency_codes = sorted({r.agency_code for r in reports if r.agency_code})
    agencies = {a.code: a for a in (await session.execute(
        select(Agency).where(Agency.code.in_(agency_codes)))).scalars()} if agency_codes else {}
    areas = await _areas_with_parents(session, {r.area_code for r in reports if r.area_code})
    originals_ids = sorted({r.duplicate_of_id for r in reports if r.duplicate_of_id})
    originals = dict((await session.execute(
        select(Report.id, Report.code).where(Report.id.in_(originals_ids)))).all()) if originals_ids else {}
    events: dict[int, list[ReportEvent]] = {i: [] for i in ids}
    query = (select(ReportEvent).where(ReportEvent.report_id.in_(ids), ReportEvent.visible)
             .order_by(ReportEvent.report_id, ReportEvent.at, ReportEvent.id))
    for event in (await session.execute(query)).scalars():
        events[event.report_id].append(event)

    records = []
    for report in reports:
        category = categories.get(report.category_code)
        agency = agencies.get(report.agency_code) if report.agency_code else None
        visible = events[report.id]
        status = status_of(report.state)
        rejected = report.state == State.REJECTED
        records.append(PublicRequest(
            service_request_id=report.code,
            status=status,
            status_notes=_status_notes(visible, originals.get(report.duplicate_of_id)),
            service_name=category.name_en if category else None,
            service_code=report.category_code,
            # A rejected report may be abuse or hold what should not be published: only its reason is.
            description=None if rejected else report.description,
            agency_responsible=agency.name_en if agency else None,
            service_notice=STATE_LABELS.get(report.state),
            requested_datetime=report.created_at,
            updated_datetime=visible[-1].at if visible else report.created_at,
            expected_datetime=report.due_at if status == "open" else None,
            address=_address(report, areas),
            lat=report.latitude,
            long=report.longitude,
        ))
    return records


# ---------------------------------------------------------------- finding reports


@dataclass(frozen=True)
class Query:
    """GET requests: by codes (which override the rest), or by service codes, statuses and a time span."""

    codes: tuple[str, ...] | None = None
    service_codes: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def parse_datetime(value: str, name: str, tz: ZoneInfo) -> datetime:
    """A w3 / ISO 8601 moment; without a time zone it is the city's time."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(400, f"{name} is not an ISO 8601 date and time, like 2026-01-31T00:00:00Z.") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_query(params, *, tz: ZoneInfo, now: datetime) -> Query:
    """The query of GET requests from its parameters (empty ones count as absent); Invalid if wrong."""
    ids = _split(params.get("service_request_id"))
    if ids:
        if len(ids) > MAX_IDS:
            raise Invalid(400, f"At most {MAX_IDS} service_request_id values at once.")
        # A value that cannot be one of our codes finds nothing, like a code nobody has.
        return Query(codes=tuple(dict.fromkeys(c for c in map(codes.parse, ids) if c)))
    service_codes = _split(params.get("service_code"))
    if len(service_codes) > MAX_CODES:
        raise Invalid(400, f"At most {MAX_CODES} service_code values at once.")
    statuses = [s.lower() for s in _split(params.get("status"))]
    for status in statuses:
        if status not in STATUSES:
            raise Invalid(400, "status must be open or closed (or both, separated by a comma).")
    start = parse_datetime(params["start_date"], "start_date", tz) if (params.get("start_date") or "").strip() else None
    end = parse_datetime(params["end_date"], "end_date", tz) if (params.get("end_date") or "").strip() else None
    if start is None and end is None:
        end = now
    if start is None:
        start = end - DEFAULT_SPAN
    if end is None:
        end = start + DEFAULT_SPAN
    if end < start:
        raise Invalid(400, "end_date is before start_date.")
    if end - start > MAX_SPAN:
        raise Invalid(400, "start_date and end_date may not span more than 90 days.")
    return Query(service_codes=tuple(service_codes) or None, statuses=tuple(dict.fromkeys(statuses)) or None,
                 start=start, end=end)


async def find(session: AsyncSession, query: Query, limit: int = MAX_RESULTS) -> list[Report]:
    """The reports the query finds, newest first, at most `limit`."""
    statement = select(Report)
    if query.codes is not None:
        if not query.codes:
            return []
        statement = statement.where(Report.code.in_(query.codes))
    else:
        if query.service_codes:
            statement = statement.where(Report.category_code.in_(query.service_codes))
        if query.statuses and set(query.statuses) != set(STATUSES):
            statement = statement.where(Report.state.in_(states_of(query.statuses[0])))
        if query.start is not None:
            statement = statement.where(Report.created_at >= query.start)
        if query.end is not None:
            statement = statement.where(Report.created_at <= query.end)
    statement = statement.order_by(Report.created_at.desc(), Report.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def by_code(session: AsyncSession, typed: str) -> Report | None:
    code = codes.parse(typed) if typed and len(typed) <= 32 else None
    if code is None:
        return None
    return (await session.execute(select(Report).where(Report.code == code))).scalar_one_or_none()


# ---------------------------------------------------------------- POST requests: the fields


@dataclass
class NewRequest:
    """A POST's fields, checked as the bot checks a draft; what is not here is not kept."""

    service_code: str
    description: str
    latitude: float | None = None
    longitude: float | None = None
    address_text: str | None = None
    reporter_name: str | None = None
    media_url: str | None = None
    area_code: str | None = None  # found from lat/long by the caller


DESCRIPTION_PROBLEMS = {
    "short": "description is too short: {value} characters, and it needs at least 10. Say what is wrong, "
             "where exactly, and since when.",
    "long": "description is too long: {value} characters, and it may have at most 2,000.",
    "junk": "description does not look like a description: write in words what is wrong.",
}


def _text(params, name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(400, f"{name} must be a text field; files are not accepted (give a media_url).")
    return clean_text(value).strip()


def _coordinate(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Invalid(400, f"{name} is not a number.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise Invalid(400, f"{name} must be between {low:g} and {high:g}.")
    return value


def parse_new(params) -> NewRequest:
    """The fields of a POST requests, checked (the service itself is checked by the caller); Invalid if wrong.

    Only `first_name` of the person is kept (as the reporter's name, for moderators only); email,
    last_name, phone, device_id and account_id are read by nobody and stored nowhere."""
    service_code = _text(params, "service_code")
    if not service_code:
        raise Invalid(400, "service_code is missing.")
    lat, lon = _text(params, "lat"), _text(params, "long")
    address = _text(params, "address_string")
    if bool(lat) != bool(lon):
        raise Invalid(400, "lat and long must be sent together.")
    if not lat and not address:
        detail = " (address_id is not supported)" if _text(params, "address_id") else ""
        raise Invalid(400, f"A location is missing: send lat and long, or address_string{detail}.")
    request = NewRequest(service_code=service_code, description="")
    if lat:
        request.latitude = _coordinate(lat, "lat", -90, 90)
        request.longitude = _coordinate(lon, "long", -180, 180)
    if address:
        problem = drafts.check_address(address)
        if problem is not None:
            raise Invalid(400, "address_string is too short: give the street and house number, or a landmark."
                          if problem.kind == "short" else
                          f"address_string is too long: at most {drafts.MAX_ADDRESS} characters.")
        request.address_text = address
    description = _text(params, "description")
    if not description:
        raise Invalid(400, "description is missing.")
    problem = drafts.check_description(description)
    if problem is not None:
        raise Invalid(400, DESCRIPTION_PROBLEMS[problem.kind].format(value=problem.value))
    request.description = description
    name = " ".join(_text(params, "first_name").split())
    request.reporter_name = name[:MAX_NAME] or None
    media_url = _text(params, "media_url")
    if media_url:
        if len(media_url) > MAX_URL or not re.match(r"(?i)^https?://[^\s/]", media_url):
            raise Invalid(400, "media_url must be an http or https URL.")
        request.media_url = media_url
    return request

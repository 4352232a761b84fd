"""What the public portal shows of the reports: the one door every public page and feed that shows
reports goes through (web/public_reports.py, the home page's map, the GeoJSON).

Privacy by construction: the queries here select only the columns the public may see, so what a
page could leak is never read. Shown: the code, category, area, state, filing time, deadline, the
agency it was passed to, the public history (filed, passed to an agency, taken up, resolved with
the note the resident was sent, the rating as a level, reopened, closed, marked a duplicate of
another report) and, as the resident chose when filing (`Report.publicity`):

    photo   the exact place (the shared location and the typed address) and the cleaned copy of
            the first photo
    place   the exact place, no photo
    ward    no photo and no exact place: the report stands at the centre of its area (the middle of
            the area's bounding box), marked as such. The default, and every report filed before
            residents were asked.

Never: the reporter's name or Telegram id, the description (residents write names and phone
numbers in it), the rating's comment, the staff's names, notes other than the resolution's, the
reasons a report was sent back, the resolution's photo. A rejected report is shown by its code
with its reason only, and is in no list, map or feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from complaints.lifecycle import OPEN, Action, State
from complaints.queue import unindexed
from storage import areas
from storage.models import Area, Report, ReportEvent, ReportPhoto
from storage.types import utcnow


def N_(msgid: str) -> str:
    return msgid


PHOTO, PLACE, WARD = "photo", "place", "ward"
CHOICES = (PHOTO, PLACE, WARD)
# The one question at submission: its choices, as buttons and as /status names them.
CHOICE_LABELS = {PHOTO: N_("Public with photo"), PLACE: N_("Public without photo"),
                 WARD: N_("Private: no photo, only the ward")}
CHOICE_NOTES = {PHOTO: N_("its place and first photo are shown, never your name"),
                PLACE: N_("its place is shown, no photo, never your name"),
                WARD: N_("only its category, ward and progress are shown")}

LISTED_STATES = tuple(s.value for s in State if s != State.REJECTED)
STATE_GROUPS = {"open": tuple(sorted(OPEN)), "done": (State.RESOLVED.value, State.CLOSED.value)}
PERIODS = {"7": 7, "30": 30, "90": 90, "365": 365}  # days back from now
MAX_PER_PAGE = 100
MAX_OFFSET = 10_000  # paging reaches the newest 10,000 matches; filters narrow older ones down
MAX_POINTS = 1000  # a map's or the GeoJSON's reports at most
# The events the public history shows; the rest (priority, sent back) are the staff's business.
PUBLIC_ACTIONS = (Action.ASSIGN, Action.START, Action.RESOLVE, Action.RATE, Action.REOPEN, Action.AUTO_CLOSE,
                  Action.DUPLICATE)


@dataclass(frozen=True)
class Filters:
    state: str | None = None  # a state of LISTED_STATES or a group of STATE_GROUPS
    category: str | None = None
    area: str | None = None  # reports in the area or in any unit below it
    period: str | None = None  # a key of PERIODS


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float
    exact: bool  # False: the centre of the report's area


@dataclass(frozen=True)
class Summary:
    code: str
    category_code: str
    area_code: str | None
    state: str
    created_at: datetime
    due_at: datetime | None
    agency_code: str | None
    place: Place | None
    has_photo: bool


@dataclass(frozen=True)
class Step:
    at: datetime
    action: str  # "submit" or a PUBLIC_ACTIONS value
    agency_code: str | None = None
    note: str | None = None  # the resolution's note only
    rating: str | None = None  # a level of RATINGS
    duplicate_of: str | None = None


@dataclass(frozen=True)
class Detail(Summary):
    address: str | None = None  # the typed address, only with the exact place
    history: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class Rejected:
    code: str
    reason: str | None


@dataclass(frozen=True)
class Page:
    reports: list[Summary]
    total: int  # at most MAX_OFFSET + 1: more than MAX_OFFSET when it is that
    page: int  # from 1
    pages: int
    per_page: int


def choice(value: str | None, default: str) -> str:
    return value if value in CHOICES else default


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _private():
    return Report.publicity.not_in((PHOTO, PLACE))  # anything else, today's or tomorrow's, is private


def _exact(column):
    """`column` of a report whose resident allowed its exact place; NULL otherwise, in SQL, so
    that the private coordinates never leave the database."""
    return case((_private(), None), else_=column)


def _first_photo():
    """The SHA-256 of the cleaned first photo, for reports whose resident allowed it; else NULL."""
    sha = (select(ReportPhoto.sha256).where(ReportPhoto.report_id == Report.id, ReportPhoto.position == 0)
           .correlate(Report).scalar_subquery())
    return case((Report.publicity == PHOTO, sha), else_=None)


_SUMMARY = (Report.code, Report.category_code, Report.area_code, Report.state, Report.created_at, Report.due_at,
            Report.agency_code, _exact(Report.latitude).label("lat"), _exact(Report.longitude).label("lon"),
            Area.min_lat, Area.max_lat, Area.min_lon, Area.max_lon, _first_photo().label("photo"))


def _place(row) -> Place | None:
    if row.lat is not None and row.lon is not None:
        return Place(row.lat, row.lon, True)
    if None not in (row.min_lat, row.max_lat, row.min_lon, row.max_lon):
        return Place((row.min_lat + row.max_lat) / 2, (row.min_lon + row.max_lon) / 2, False)
    return None


def _summary(row) -> Summary:
    return Summary(code=row.code, category_code=row.category_code, area_code=row.area_code, state=row.state,
                   created_at=row.created_at, due_at=row.due_at, agency_code=row.agency_code, place=_place(row),
                   has_photo=row.photo is not None)


async def _area_codes(session: AsyncSession, f: Filters) -> list[str] | None:
    """The filter's area and every unit below it; None without an area."""
    return [f.area, *await areas.descendant_codes(session, f.area)] if f.area else None


def _conditions(f: Filters, area_codes: list[str] | None, now: datetime, *, walk: bool = False) -> list:
    """The filter as SQL conditions. `walk`: for the page's rows on SQLite, which keeps no
    statistics: its state and a province's many wards are kept off their indexes (`+column`), so
    that it walks the newest-first index until the page is full instead of sorting every match
    (a city's reports are mostly in one province, and most are in a listed state)."""
    col = unindexed if walk else (lambda column: column)
    states = STATE_GROUPS.get(f.state or "") or ((f.state,) if f.state in LISTED_STATES else None)
    conditions = [col(Report.state).in_(states) if states else col(Report.state) != State.REJECTED]
    if f.category:
        conditions.append(Report.category_code == f.category)
    if area_codes is not None:
        conditions.append((col(Report.area_code) if len(area_codes) > 1 else Report.area_code).in_(area_codes))
    if f.period in PERIODS:
        conditions.append(Report.created_at >= now - timedelta(days=PERIODS[f.period]))
    return conditions


_NEWEST = (Report.created_at.desc(), Report.id.desc())


async def _rows(session: AsyncSession, conditions: list, offset: int, limit: int) -> list[Summary]:
    """The listed reports `offset` to `offset + limit`, newest first: their ids first, from the
    indexes alone, then their columns for those ids only (a deep page skips ids, not rows)."""
    ids = select(Report.id).where(and_(*conditions)).order_by(*_NEWEST).offset(offset).limit(limit).subquery()
    query = (select(*_SUMMARY).join(ids, ids.c.id == Report.id).outerjoin(Area, Area.code == Report.area_code)
             .order_by(*_NEWEST))
    return [_summary(row) for row in (await session.execute(query)).all()]


async def page(session: AsyncSession, f: Filters, number: int = 1, per_page: int = 20, *,
               now: datetime | None = None) -> Page:
    """One page of the listed reports (never the rejected ones), newest first. `number` is
    clamped to the pages there are, `per_page` to 1..MAX_PER_PAGE. Two queries (three with an area)."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    now = now or utcnow()
    area_codes = await _area_codes(session, f)
    conditions = _conditions(f, area_codes, now)
    # Counted up to one past what paging reaches: enough to say "more than 10,000", at a bounded cost.
    counted = select(Report.id).where(and_(*conditions)).limit(MAX_OFFSET + 1).subquery()
    total = (await session.execute(select(func.count()).select_from(counted))).scalar_one()
    pages = max(1, min(-(-total // per_page), MAX_OFFSET // per_page))
    number = min(max(number, 1), pages)
    walk = _conditions(f, area_codes, now, walk=_is_sqlite(session))
    return Page(await _rows(session, walk, (number - 1) * per_page, per_page), total, number, pages, per_page)


async def points(session: AsyncSession, f: Filters, limit: int = MAX_POINTS, *,
                 now: datetime | None = None) -> list[Summary]:
    """The newest `limit` (at most MAX_POINTS) listed reports matching `f`, for a map or a feed."""
    limit = min(max(limit, 1), MAX_POINTS)
    conditions = _conditions(f, await _area_codes(session, f), now or utcnow(), walk=_is_sqlite(session))
    return await _rows(session, conditions, 0, limit)


async def one(session: AsyncSession, code: str) -> Detail | Rejected | None:
    """A report as the public sees it; `Rejected` (its reason only) for a rejected one; None for
    an unknown code."""
    row = (await session.execute(
        select(*_SUMMARY, Report.id, _exact(Report.address_text).label("address"), Report.rating)
        .outerjoin(Area, Area.code == Report.area_code).where(Report.code == code))).one_or_none()
    if row is None:
        return None
    if row.state == State.REJECTED:
        reason = (await session.execute(
            select(ReportEvent.note).where(ReportEvent.report_id == row.id, ReportEvent.action == Action.REJECT)
            .order_by(ReportEvent.at.desc(), ReportEvent.id.desc()).limit(1))).scalar_one_or_none()
        return Rejected(row.code, reason)
    return Detail(**vars(_summary(row)), address=row.address, history=await _history(session, row.id, row.rating))


async def _history(session: AsyncSession, report_id: int, rating: str | None) -> list[Step]:
    original = (await session.execute(
        select(Report.code).where(Report.id == select(Report.duplicate_of_id).where(Report.id == report_id)
                                  .scalar_subquery()))).scalar_one_or_none()
    rows = (await session.execute(
        select(ReportEvent.at, ReportEvent.action, ReportEvent.agency_code,
               case((ReportEvent.action == Action.RESOLVE, ReportEvent.note), else_=None).label("note"))
        .where(ReportEvent.report_id == report_id,
               ReportEvent.action.in_(["submit", *PUBLIC_ACTIONS]) | ReportEvent.action.is_(None))
        .order_by(ReportEvent.at, ReportEvent.id))).all()
    steps = []
    for row in rows:
        action = row.action or "submit"
        steps.append(Step(
            at=row.at, action=action,
            agency_code=row.agency_code if action in (Action.ASSIGN, Action.START, Action.RESOLVE) else None,
            note=row.note,
            rating=rating if action == Action.RATE else "not_satisfied" if action == Action.REOPEN else None,
            duplicate_of=original if action == Action.DUPLICATE else None))
    return steps


async def photo(session: AsyncSession, code: str) -> str | None:
    """The SHA-256 of the cleaned first photo the public may see, or None (no consent, no photo,
    not cleaned, rejected or unknown report)."""
    return (await session.execute(
        select(_first_photo()).where(Report.code == code, Report.state != State.REJECTED))).scalar_one_or_none()


async def version(session: AsyncSession) -> str:
    """Changes whenever anything public about the reports may have changed: the newest change,
    the newest report and the oldest one (the last two tell of reports filed and deleted), three
    look-ups of an index each (the portal's pages are cached on it)."""
    newest, last, first = (await session.execute(select(
        select(func.max(Report.updated_at)).scalar_subquery(), select(func.max(Report.id)).scalar_subquery(),
        select(func.min(Report.id)).scalar_subquery()))).one()
    return f"{newest.isoformat() if newest else '-'}:{last}:{first}"


async def area_codes(session: AsyncSession) -> list[str]:
    """The areas that have reports, for the filter's choices."""
    query = select(Report.area_code).where(Report.area_code.is_not(None)).distinct()
    return list((await session.execute(query)).scalars())

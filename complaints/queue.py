"""The triage queue of the web dashboard: reports filtered, sorted and paged, and their exports.

Moderators and agency staff browse reports by state, category, area (a unit and every unit below
it), agency, priority, overdue, and a search (a reference code, or words of the description or
the address). A page costs two queries (and a look-up of the units below an area): the number of
reports per state for the filter without its states (the state tabs; the page's total is their
sum over the states asked for), then the page's rows, whose ids are chosen first on the narrow
columns the filter and the sort need and whose photos are counted for those rows only. Exports
read the same rows without paging, as CSV or GeoJSON.

A row never carries who reported it: no resident, no reporter name, no rating comment.

Indexes (storage/models.py, migration 0010): a sort walks its (column, id) index, or with states
asked for its (state, column, id) index state by state, until the page is full; the counts come
from (filter column, state) indexes alone. Sorts that one ORDER BY could not take from an index
(due: the open reports with a deadline by it, then the others newest first; state: in the tabs'
order, each newest first; priority with ties newest first) run as consecutive parts, the first
two always state by state. On SQLite, which keeps no statistics, the page tells the planner which way to go: when the
matches are many, `+column` keeps it from fetching all of them through a filter's index to sort
them. At 100,000 reports a page takes 5 to 45 ms (bench/dashboard_queue.py), most of it the counts.

A search has no index: it reads every report's folded words once (`search_text`, written by
complaints.reports.file with kernel.text.words, on the bot's area search's fold), to count; the
page's rows are then read by the ids found or, for a common word, found walking the sort's index.
Every word typed must start a word of the description or the address, in any case and with or
without diacritics ("den" and "đèn" find "Đèn" and "ĐÈN", "doi can" finds "Đội Cấn", "hong" finds
"hỏng" but not "không"); a sign other than a letter or a digit is a word of its own, % and _
included. One instr (SQLite) or strpos (PostgreSQL) per word on one column costs a few times less
than one per casing and per column.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

from sqlalchemy import and_, case, cast, func, literal, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from complaints import codes
from complaints.deadlines import OPEN
from complaints.lifecycle import PRIORITIES, State
from kernel.text import words
from storage import areas
from storage.models import Report, ReportPhoto

STATES = tuple(state.value for state in State)
SORTS = {"created", "-created", "due", "-due", "updated", "-updated", "priority", "-priority", "code", "-code",
         "state", "-state"}
DEFAULT_SORT = "-created"
MAX_PER_PAGE = 500
MAX_SEARCH_CHARS = 200  # a longer search is cut
MAX_WORDS = 8  # words of a search beyond these are ignored
TRUE_WORDS = {"1", "true", "yes", "on"}
# A spreadsheet reads a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CODE_SEPARATORS = re.compile(r"[\s\-_.]")


@dataclass(frozen=True)
class QueueFilter:
    states: tuple[str, ...] = ()  # empty: every state
    category: str | None = None  # category code
    area: str | None = None  # area code: reports in it or in any unit below it
    agency: str | None = None  # agency code
    priority: str | None = None  # "urgent" | "normal"
    overdue: bool = False  # only open reports whose overdue_at is set
    search: str | None = None  # a reference code, or words of the description or the address


@dataclass
class QueueRow:
    """A line of the queue and of the exports: never the reporter's identity."""

    id: int
    code: str
    state: str
    priority: str
    category_code: str
    area_code: str | None
    agency_code: str | None
    description: str
    address_text: str | None
    latitude: float | None
    longitude: float | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    overdue: bool
    photos: int
    rating: str | None


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int  # reports matching the filter, on all pages
    page: int  # from 1
    per_page: int
    pages: int  # at least 1
    counts: dict[str, int]  # per state (every state, 0 included), for the filter without its states


# ---------------------------------------------------------------- parsing query strings


def _values(params: Mapping[str, str], key: str) -> list[str]:
    """Every value of `key` (a MultiDict may repeat it), split at commas, stripped, blanks dropped."""
    raw = params.getall(key, []) if hasattr(params, "getall") else [params.get(key)]
    return [part.strip() for value in raw if value for part in str(value).split(",") if part.strip()]


def _one(params: Mapping[str, str], key: str) -> str | None:
    value = params.get(key)
    value = str(value).strip() if value is not None else ""
    return value or None


def parse_filter(params: Mapping[str, str]) -> QueueFilter:
    """A filter from query-string parameters: `state` (comma-separated), `category`, `area`,
    `agency`, `priority`, `overdue` ("1", "true", "yes", "on") and `q`. Unknown states and
    priorities are dropped, blank values mean no filter; nothing here is an error."""
    wanted = {value.lower() for value in _values(params, "state")}
    priority = (_one(params, "priority") or "").lower()
    return QueueFilter(
        states=tuple(state for state in STATES if state in wanted),
        category=_one(params, "category"),
        area=_one(params, "area"),
        agency=_one(params, "agency"),
        priority=priority if priority in PRIORITIES else None,
        overdue=(_one(params, "overdue") or "").lower() in TRUE_WORDS,
        search=_one(params, "q"),
    )


def parse_sort(value: str | None) -> str:
    """One of SORTS ("-" first: descending); anything else is the default, newest first."""
    value = (value or "").strip().lower()
    return value if value in SORTS else DEFAULT_SORT


# ---------------------------------------------------------------- the queries

REPORTS = Report.__table__
# A search matching at most this many reports: the page's rows are read by id, not searched again.
ID_LIST_MAX = 2000


def _is_sqlite(session: AsyncSession) -> bool:
    bind = getattr(session, "bind", None)
    if bind is None:  # a Database.lookup() session on SQLite
        bind = session.sync_session.get_bind()
    return bind.dialect.name == "sqlite"


def _plain(column):
    return column


def unindexed(column):
    """`+column`: SQLite's documented way to keep its planner from using an index on a column."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _word_matches(word: str, sqlite: bool):
    """A word of the report's folded description and address (reports.searchable: each after a
    space) starts with the folded word, found as plain text (% and _ as themselves): instr on
    SQLite, a third faster than LIKE, which folds case again; strpos on PostgreSQL, three times as
    fast as LIKE on Vietnamese text."""
    return (func.instr if sqlite else func.strpos)(REPORTS.c.search_text, " " + word) > 0


def _search(term: str, sqlite: bool):
    """A reference code typed with its prefix ("pa-7k3q9", "PA 7K3Q9") finds that report only;
    anything else finds the report with that code, if any, and the reports whose description or
    address holds every word (at most MAX_WORDS)."""
    term = unicodedata.normalize("NFC", term.replace("\x00", "")).strip()[:MAX_SEARCH_CHARS]
    parsed = codes.parse(term)
    if parsed is not None and _CODE_SEPARATORS.sub("", term.upper()).startswith(codes.PREFIX.rstrip("-")):
        return REPORTS.c.code == parsed
    exact = sorted({term.upper()} | ({parsed} if parsed else set()))
    typed = list(dict.fromkeys(words(term)))[:MAX_WORDS]
    if not typed:
        return REPORTS.c.code.in_(exact)
    return or_(REPORTS.c.code.in_(exact), and_(*(_word_matches(word, sqlite) for word in typed)))


def _is_overdue(col=_plain):
    return and_(col(REPORTS.c.overdue_at).is_not(None), col(REPORTS.c.state).in_(OPEN))


async def _area_codes(session: AsyncSession, f: QueueFilter) -> list[str] | None:
    """The area and every unit below it (storage.areas.descendant_codes); None without an area."""
    if not f.area:
        return None
    return [f.area, *await areas.descendant_codes(session, f.area)]


def _conditions(f: QueueFilter, area_codes: list[str] | None, sqlite: bool, col=_plain) -> list:
    """The filter's conditions, but its states; `col` may wrap the indexed columns (`unindexed`)."""
    c = REPORTS.c
    conditions = []
    if f.category:
        conditions.append(col(c.category_code) == f.category)
    if area_codes is not None:
        conditions.append(col(c.area_code).in_(area_codes))
    if f.agency:
        conditions.append(col(c.agency_code) == f.agency)
    if f.priority:
        conditions.append(col(c.priority) == f.priority)
    if f.overdue:
        conditions.append(_is_overdue(col))
    if f.search and f.search.strip():
        conditions.append(_search(f.search, sqlite))
    return conditions


def _state_conditions(states: Iterable[str], col=_plain) -> list:
    states = sorted(set(states))
    if not states:
        return []
    return [col(REPORTS.c.state) == states[0]] if len(states) == 1 else [col(REPORTS.c.state).in_(states)]


_SORT_COLUMNS = {"created": "created_at", "updated": "updated_at", "due": "due_at", "priority": "priority",
                 "code": "code", "state": "created_at"}


def _segments(sort: str) -> list[tuple]:
    """The sort as consecutive parts, (condition or None, ORDER BY): each part can walk an index
    in order, where one ORDER BY could not (priorities in both directions with ties newest first).
    The sorts by deadline and by state are made of parts state by state (`_parts`)."""
    c = REPORTS.c
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column = c[_SORT_COLUMNS[key]]
    ordered = column.desc() if descending else column.asc()
    if key == "code":  # unique: no ties
        return [(None, [ordered])]
    if key == "priority":  # each priority newest first, and the ranges around them (empty) in order
        values = sorted(PRIORITIES)
        parts = [(column < values[0], [ordered, c.id.desc()])]
        for value, above in zip(values, [*values[1:], None]):
            parts.append((column == value, [c.id.desc()]))
            parts.append((column > value if above is None else and_(column > value, column < above),
                          [ordered, c.id.desc()]))
        return parts[::-1] if descending else parts
    return [(None, [ordered, c.id.desc()])]


def _parts(sort: str, split: list[str] | None, col=_plain) -> list[tuple]:
    """The parts of a page's query: (part number, condition or None, ORDER BY, the key the part is
    ordered by before its ids or None, whether that key runs newest first whatever the sort's
    direction). With `split`, state by state.

    By deadline: the open reports that have one, by it; then the others (without a deadline, or
    no longer open, whose old deadline means nothing now), newest first, either way. By state:
    the states in the tabs' order (reversed descending), each newest first."""
    c = REPORTS.c
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key == "state":
        states = [state for state in STATES if split is None or state in split]
        ranks = {state: rank for rank, state in enumerate(STATES[::-1] if descending else STATES)}
        return [(ranks[state], c.state == state, [c.created_at.desc(), c.id.desc()], c.created_at, True)
                for state in states]
    if key == "due":
        column = c.due_at
        ordered = column.desc() if descending else column.asc()
        if split is None:
            return [(0, and_(column.is_not(None), c.state.in_(OPEN)), [ordered, c.id.desc()], column, False),
                    (1, or_(column.is_(None), c.state.not_in(OPEN)), [c.id.desc()], None, False)]
        open_states = [state for state in split if state in OPEN]
        done_states = [state for state in split if state not in OPEN]
        parts = [(0, and_(c.state == state, column.is_not(None)), [ordered, c.id.desc()], column, False)
                 for state in open_states]
        parts += [(1, and_(c.state == state, column.is_(None)), [c.id.desc()], None, False) for state in open_states]
        if done_states:  # newest first: walking the ids back finds them soon, they are many
            parts.append((1, col(c.state).in_(done_states), [c.id.desc()], None, False))
        return parts
    return [(number, condition if state is None else
             (c.state == state if condition is None else and_(c.state == state, condition)), order,
             c[_SORT_COLUMNS[key]], False)
            for number, (condition, order) in enumerate(_segments(sort))
            for state in (split if split is not None else [None])]


# Sorts whose order depends much on the state (done reports have old deadlines, old updates):
# with states asked for, each state's reports are taken in order from its (state, column) index
# and the parts merged, instead of walking reports of other states through the column's index.
# The sorts by deadline and by state are always taken state by state.
SPLIT_SORTS = {"created", "updated", "due", "state"}


def _split_states(f: QueueFilter, sort: str) -> list[str] | None:
    """The states whose reports a page of this sort takes part by part; None: not split."""
    key = sort.lstrip("-")
    if key not in SPLIT_SORTS:
        return None
    if f.states:
        return sorted(set(f.states) & set(OPEN)) if f.overdue else sorted(set(f.states))
    if f.overdue:
        return sorted(OPEN)
    return list(STATES) if key in ("due", "state") else None


def _row_query(conditions: list, sort: str, offset: int, limit: int, split: list[str] | None = None, col=_plain):
    """The rows of a page: their ids (with the sort's key) chosen first, part by part of the sort
    (`_parts`), each part walking an index in order; then the other columns read and the photos
    counted for those rows only."""
    c = REPORTS.c
    descending = sort.startswith("-")
    parts = []
    for number, condition, order, key, newest_first in _parts(sort, split, col):
        # The part's key in the column of its direction, the other one empty: the merge orders by both.
        no_key = cast(null(), (key if key is not None else c.created_at).type)
        key = no_key if key is None else key
        forward, backward = (no_key, key) if newest_first or descending else (key, no_key)
        where = [*conditions, *([] if condition is None else [condition])]
        parts.append(select(c.id, forward.label("forward"), backward.label("backward"), literal(number).label("part"))
                     .where(*where).order_by(*order).limit(offset + limit))
    if len(parts) == 1:
        chosen_rows = parts[0].subquery("chosen_rows")
    else:  # SQLite wants each ordered and limited part in a subquery of its own
        subqueries = [part.subquery(f"part_{number}") for number, part in enumerate(parts)]
        chosen_rows = union_all(*(select(*sub.c) for sub in subqueries)).subquery("chosen_rows")

    def in_order(table) -> list:  # the sort's parts one after the other, each in its order
        return [table.c.part, table.c.forward.asc(), table.c.backward.desc(), table.c.id.desc()]

    chosen = select(chosen_rows).order_by(*in_order(chosen_rows)).offset(offset).limit(limit).subquery("chosen")
    photos = (select(func.count()).select_from(ReportPhoto).where(ReportPhoto.report_id == c.id)
              .correlate(REPORTS).scalar_subquery())
    return (select(c.id, c.code, c.state, c.priority, c.category_code, c.area_code, c.agency_code,
                   c.description, c.address_text, c.latitude, c.longitude, c.created_at, c.updated_at,
                   c.due_at, _is_overdue().label("overdue"), photos.label("photos"), c.rating)
            .select_from(chosen.join(REPORTS, c.id == chosen.c.id))
            .order_by(*in_order(chosen)))


def _to_rows(result) -> list[QueueRow]:
    rows = []
    for values in result.mappings():
        values = dict(values)
        values["overdue"] = bool(values["overdue"])
        values["photos"] = int(values["photos"] or 0)
        rows.append(QueueRow(**values))
    return rows


def _ids(aggregated) -> list[int]:
    """The ids of array_agg (PostgreSQL: a list) or group_concat (SQLite: "1,2,3")."""
    if aggregated is None:
        return []
    if isinstance(aggregated, str):
        return [int(part) for part in aggregated.split(",") if part]
    return [int(part) for part in aggregated]


async def page(session: AsyncSession, f: QueueFilter, *, sort: str = DEFAULT_SORT, page: int = 1,
               per_page: int = 50) -> QueuePage:
    """One page of the reports the filter keeps, in the sort's order (see SORTS), with the number
    per state for the filter without its states. `page` is clamped to 1..pages, `per_page` to
    1..MAX_PER_PAGE. Two queries (three with an area: its units are looked up first)."""
    sort = parse_sort(sort)
    per_page = min(max(int(per_page), 1), MAX_PER_PAGE)
    sqlite = _is_sqlite(session)
    area_codes = await _area_codes(session, f)
    conditions = _conditions(f, area_codes, sqlite)
    wanted = set(f.states)

    # 1. Reports per state. A search is a full scan: the ids it found come back with the counts.
    # On SQLite the largest id, about the number of reports, helps choose the page's plan.
    searching = bool(f.search and f.search.strip())
    columns = [REPORTS.c.state.label("state"), func.count().label("count")]
    if searching:
        ids = func.group_concat(REPORTS.c.id) if sqlite else func.array_agg(REPORTS.c.id)
        columns.append(case((func.count() <= ID_LIST_MAX, ids)).label("ids"))
    if sqlite:
        columns.append(select(func.max(REPORTS.c.id)).scalar_subquery().label("largest_id"))
    if sqlite and searching:
        # SQLite would walk the index on state to group, reading each report from there: a scan
        # (what a search needs anyway) is several times faster, of the narrow index of (search_text,
        # state, code) when no other filter needs the table (storage.models).
        group = [unindexed(REPORTS.c.state)]
    elif area_codes is not None and len(area_codes) > 1:
        # Area by area, each in the order of its (area, state) index: no sorting of every match.
        group = [REPORTS.c.area_code, REPORTS.c.state]
    else:
        group = [REPORTS.c.state]
    counts = dict.fromkeys(STATES, 0)
    found: list[int] = []
    largest_id = 0
    for row in (await session.execute(select(*columns).where(*conditions).group_by(*group))).mappings():
        counts[row["state"]] = counts.get(row["state"], 0) + row["count"]
        if searching and (not wanted or row["state"] in wanted):
            found += _ids(row["ids"])
        largest_id = row.get("largest_id") or largest_id
    total = sum(counts.get(state, 0) for state in wanted) if wanted else sum(counts.values())
    pages = max(1, -(-total // per_page))
    page = min(max(int(page), 1), pages)
    offset = (page - 1) * per_page

    # 2. The page's rows.
    rows: list[QueueRow] = []
    if total:
        split, col = None, _plain
        if searching and total <= ID_LIST_MAX:
            where = [REPORTS.c.id.in_(found)]
        elif sqlite and (offset + per_page) * largest_id > total * total:
            # Few matches: SQLite reads them through a filter's index and sorts them. The index
            # on state, which it would pick for the order, is kept out when another filter has one.
            other = f.category or f.area or f.agency or f.priority or f.overdue
            where = conditions + _state_conditions(wanted, unindexed if other else _plain)
        else:
            # Many matches: walking the sort's indexes until the page is full reads fewer reports
            # than fetching every match to sort them. SQLite, which keeps no statistics, is told so
            # (`+column`); PostgreSQL's planner knows.
            col = unindexed if sqlite else _plain
            split = _split_states(f, sort)
            if split is not None:
                split = [state for state in split if counts.get(state)]
            where = _conditions(f, area_codes, sqlite, col) + (_state_conditions(wanted, col) if split is None else [])
        rows = _to_rows(await session.execute(_row_query(where, sort, offset, per_page, split, col)))
    return QueuePage(rows=rows, total=total, page=page, per_page=per_page, pages=pages, counts=counts)


async def export_rows(session: AsyncSession, f: QueueFilter, *, sort: str = DEFAULT_SORT,
                      limit: int = 100_000) -> list[QueueRow]:
    """Every report the filter keeps, in the sort's order, at most `limit`."""
    if limit <= 0:
        return []
    sqlite = _is_sqlite(session)
    conditions = _conditions(f, await _area_codes(session, f), sqlite) + _state_conditions(f.states)
    return _to_rows(await session.execute(_row_query(conditions, parse_sort(sort), 0, limit)))


# ---------------------------------------------------------------- exports

COLUMNS = tuple(field.name for field in fields(QueueRow))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _cell(value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # a spreadsheet shows it as text instead of running it
    return value


def to_csv(rows: Iterable[QueueRow]) -> str:
    """The rows as CSV (RFC 4180, CRLF), a header of the field names first. Times in ISO 8601
    UTC, booleans true/false, empty for none. A text cell a spreadsheet would take for a formula
    gets a leading apostrophe; numbers are written as numbers."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in COLUMNS])
    return out.getvalue()


def to_geojson(rows: Iterable[QueueRow]) -> dict:
    """A GeoJSON FeatureCollection of the rows with coordinates (the others are left out): a Point
    each, `id` the report's id, properties the row's other fields, times as ISO 8601 UTC."""
    features = []
    for row in rows:
        if row.latitude is None or row.longitude is None:
            continue
        properties = {key: _iso(value) if isinstance(value, datetime) else value
                      for key, value in asdict(row).items() if key not in ("latitude", "longitude")}
        features.append({"type": "Feature", "id": row.id,
                         "geometry": {"type": "Point", "coordinates": [row.longitude, row.latitude]},
                         "properties": properties})
    return {"type": "FeatureCollection", "features": features}

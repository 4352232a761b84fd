"""The report queues: /dashboard/queue for moderators (every report; by default those waiting for
a moderator) and /dashboard/agency for agency staff (only their agency's; by default those it
must work on), with their CSV and GeoJSON exports of the same filter.

The filter is the query string (complaints.queue.parse_filter, plus `sort` and `page`); the
agency queue always overrides `agency` with one of the viewer's agencies, so no parameter reaches
another agency's reports. Rows and exports never name the reporter (complaints.queue.QueueRow).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from complaints import queue
from complaints.lifecycle import State
from kernel.i18n import translator
from storage.models import Agency, Area, Category, Report
from web import context
from web.dashboard import views
from web.dashboard.views import PREFIX, Staff
from web.keys import DB, SETTINGS

PER_PAGE = 50
DESCRIPTION_CHARS = 140
SORT = "due"  # the most pressing first (urgent reports are due soonest)
# What each queue shows when no state is chosen: what needs its viewer.
DEFAULT_STATES = {"queue": (State.SUBMITTED.value, State.REOPENED.value),
                  "agency": (State.ASSIGNED.value, State.IN_PROGRESS.value, State.REOPENED.value)}
OPEN_STATES = {State.SUBMITTED, State.ASSIGNED, State.IN_PROGRESS, State.REOPENED}
# Columns whose header sorts the table (complaints.queue sort keys), and the order of a first click.
SORTABLE = {"code": "code", "state": "state", "priority": "-priority", "created": "created", "due": "due"}


def N_(msgid: str) -> str:
    return msgid


# The sentence shown after an action on a report, when the viewer lands on a queue (a report sent
# back is no longer the agency's) or on the report page; `?done=<action>`.
DONE = {
    "assign": N_("The report was passed to the agency. The resident is being told."),
    "reject": N_("The report was rejected. The resident is being told why."),
    "duplicate": N_("The report was marked as a duplicate. Its reporter will hear the news of the original."),
    "priority": N_("The priority was changed."),
    "start": N_("The report is now being handled. The resident is being told."),
    "resolve": N_("The report is resolved. The resident is being told and asked to rate it."),
    "send_back": N_("The report was sent back to the moderators."),
    "ban": N_("The reporter is banned: Loa refuses their reports from now on. They are being told."),
    "unban": N_("The ban was lifted: the reporter may send reports again. They are being told."),
    "ask": N_("Your question is on its way to the resident. Their answer will appear here."),
    "note": N_("The internal note was added. The resident does not see it."),
}


def setup(app: web.Application) -> None:
    for kind in ("queue", "agency"):
        app.router.add_get(f"{PREFIX}/{kind}", _page_of(kind))
        app.router.add_get(f"{PREFIX}/{kind}.csv", _export_of(kind, "csv"))
        app.router.add_get(f"{PREFIX}/{kind}.geojson", _export_of(kind, "geojson"))


@dataclass(frozen=True)
class Scope:
    """What a request to a queue asks for, once the viewer's rights are applied."""

    kind: str  # "queue" | "agency"
    filter: queue.QueueFilter
    sort: str
    page: int
    params: dict[str, str]  # what links keep: the filter and the sort as given
    state_param: str | None  # None: the default states


def scope(request: web.Request, staff: Staff, kind: str) -> Scope:
    """The filter of the request; 403 for a queue the viewer has no role for, or an agency not theirs."""
    query = request.query
    if kind == "queue" and not staff.moderator:
        raise views.refusal(request, staff, 403)
    f = queue.parse_filter(query)
    params = {key: query.get(key, "").strip() for key in ("category", "area", "priority", "q")}
    if kind == "agency":
        if not staff.agencies:
            raise views.refusal(request, staff, 403)
        agency = (query.get("agency") or "").strip() or staff.agencies[0]
        if agency not in staff.agencies:
            raise views.refusal(request, staff, 403)
        f = replace(f, agency=agency)
        if len(staff.agencies) > 1:
            params["agency"] = agency
    else:
        params["agency"] = (query.get("agency") or "").strip()
    state_param = (query.get("state") or "").strip() or None
    if state_param is None:
        f = replace(f, states=DEFAULT_STATES[kind])
    params["state"] = state_param or ""
    params["overdue"] = "1" if f.overdue else ""
    sort = queue.parse_sort(query.get("sort") or SORT)
    params["sort"] = "" if sort == SORT else sort
    raw_page = query.get("page", "1")
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7 else 1
    return Scope(kind, f, sort, page, {k: v for k, v in params.items() if v}, state_param)


def _page_of(kind: str):
    async def handler(request: web.Request) -> web.Response:
        staff = await views.signed_in(request)
        return await show(request, staff, scope(request, staff, kind))
    return handler


def link(s: Scope, **changes) -> str:
    """The address of this queue with the filter kept and `changes` made (None drops a parameter)."""
    params = {key: value for key, value in {**s.params, **changes}.items() if value not in (None, "")}
    return f"{PREFIX}/{s.kind}" + (f"?{urlencode(params)}" if params else "")


def _sorting(s: Scope) -> dict[str, dict]:
    """Each sortable header: its link (the other way round when it is the current sort) and its aria-sort."""
    headers = {}
    for key, first in SORTABLE.items():
        current = s.sort.lstrip("-") == key
        descending = s.sort.startswith("-")
        following = (key if descending else f"-{key}") if current else first
        headers[key] = {"url": link(s, sort=None if following == SORT else following, page=None),
                        "aria": ("descending" if descending else "ascending") if current else None}
    return headers


def _name(row, language: str) -> str:
    return (row.name_en if language == "en" else row.name_vi) if row is not None else ""


def shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


async def _choices(session, s: Scope, language: str) -> dict:
    """The filter's select options: categories, areas that have reports (of the agency, in its
    queue), agencies; each a list of (code, name)."""
    categories = (await session.execute(select(Category).order_by(Category.position, Category.code))).scalars()
    in_reports = select(Report.area_code).where(Report.area_code.is_not(None)).distinct()
    if s.kind == "agency":
        in_reports = in_reports.where(Report.agency_code == s.filter.agency)
    wanted = set((await session.execute(in_reports)).scalars())
    if s.filter.area:
        wanted.add(s.filter.area)
    found = (await session.execute(select(Area).where(Area.code.in_(sorted(wanted))))).scalars().all() if wanted else []
    agencies = (await session.execute(select(Agency).order_by(Agency.code))).scalars().all()
    return {
        "categories": [(c.code, _name(c, language)) for c in categories],
        "areas": sorted(((a.code, _name(a, language)) for a in found), key=lambda pair: pair[1].casefold()),
        "agencies": sorted(((a.code, _name(a, language)) for a in agencies), key=lambda pair: pair[1].casefold()),
    }


def _tabs(s: Scope, counts: dict[str, int], _) -> list[dict]:
    """The state tabs: the queue's default, each state, all; with their counts for the rest of the filter."""
    chosen = set(s.filter.states)
    default = DEFAULT_STATES[s.kind]
    tabs = [{"label": _("To triage") if s.kind == "queue" else _("To handle"), "state": None,
             "count": sum(counts.get(state, 0) for state in default), "current": s.state_param is None}]
    for state in (state.value for state in State):
        tabs.append({"label": None, "state": state, "count": counts.get(state, 0),
                     "current": s.state_param is not None and chosen == {state}})
    tabs.append({"label": _("All"), "state": "all", "count": sum(counts.values()),
                 "current": s.state_param is not None and not chosen})
    return tabs


async def show(request: web.Request, staff: Staff, s: Scope) -> web.Response:
    language = staff.language
    _ = translator(language).gettext
    async with request.app[DB].read() as session:
        found = await queue.page(session, s.filter, sort=s.sort, page=s.page, per_page=PER_PAGE)
        choices = await _choices(session, s, language)
    categories, areas, agencies = (dict(choices[key]) for key in ("categories", "areas", "agencies"))
    rows = [{
        "code": row.code, "state": row.state, "priority": row.priority, "overdue": row.overdue,
        "category": categories.get(row.category_code, row.category_code),
        "area": areas.get(row.area_code, row.area_code or ""),
        "agency": agencies.get(row.agency_code, row.agency_code or ""),
        "created_at": row.created_at, "due_at": row.due_at if row.state in OPEN_STATES else None,
        "description": shorten(row.description), "photos": row.photos,
    } for row in found.rows]
    mine = [(code, agencies.get(code, code)) for code in staff.agencies]
    done = request.query.get("done")
    return views.render(
        request, staff, "dashboard/queue.html", kind=s.kind, base=f"{PREFIX}/{s.kind}", params=s.params,
        link=lambda **changes: link(s, **changes), sorting=_sorting(s), filter=s.filter,
        tabs=_tabs(s, found.counts, _), rows=rows, found=found,
        choices=choices, my_agencies=mine, done=_(DONE[done]) if done in DONE else None,
        done_code=request.query.get("code", "")[:16])


def _export_of(kind: str, form: str):
    async def handler(request: web.Request) -> web.Response:
        staff = await views.signed_in(request)
        s = scope(request, staff, kind)
        async with request.app[DB].read() as session:
            rows = await queue.export_rows(session, s.filter, sort=s.sort)
        stamp = context.now(request).astimezone(request.app[SETTINGS].tz).strftime("%Y%m%d-%H%M")
        name = f"loa-{kind}-{stamp}.{form}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if form == "csv":
            # With a byte order mark, spreadsheets read the Vietnamese text as UTF-8.
            return web.Response(text="\ufeff" + queue.to_csv(rows), content_type="text/csv", charset="utf-8",
                                headers=headers)
        return web.Response(text=json.dumps(queue.to_geojson(rows), ensure_ascii=False),
                            content_type="application/geo+json", charset="utf-8", headers=headers)
    return handler

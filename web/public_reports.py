"""The public portal's reports (what is shown of a report: complaints/public.py, the one door):

    GET /public/reports                 the reports, newest first, filtered by `state` (a state or
                                        "open" / "done"), `category`, `area`, `period` (7, 30, 90
                                        or 365 days), paged (`page` from 1, `per_page` 1-100), with
                                        a map of the reports shown
    GET /public/reports/{code}          one report: its facts, map and public history (404: unknown)
    GET /public/reports/{code}/photo    the cleaned copy of its first photo, only when its resident
                                        allowed it; 404 otherwise
    GET /public/reports.geojson         the same filters as a GeoJSON FeatureCollection, newest
                                        first, at most `limit` (1-1000, default 500) reports

A malformed filter or page number is answered 400, saying which; a page beyond the last shows the
last. Pages are cacheable as the feeds are: an ETag from what the page is made of (the reports'
newest change, the address, the language), `Cache-Control: public, max-age=60`, 304 to a client
holding it. Registered by web/public.py, under its LOA_PUBLIC_PORTAL switch.
"""

from __future__ import annotations

import json
import re

from aiohttp import web
from sqlalchemy import select

from complaints import public as reports_public
from complaints.lifecycle import RATING_LABELS, STATE_LABELS
from complaints.media import MediaStore
from kernel.i18n import translator
from storage.areas import full_name
from storage.models import Agency, Area, Category
from web import portal, public
from web.dashboard import svg
from web.keys import DB, SETTINGS

LIST_PATH = "/public/reports"
GEOJSON_PATH = "/public/reports.geojson"
REPORT_PATH = "/public/reports/{code}"
PHOTO_PATH = "/public/reports/{code}/photo"
PER_PAGE = 20
GEOJSON_LIMIT = 500
MAX_PAGE = 100_000
_CODE = re.compile(r"[\w-]{1,32}$")
_AREA = re.compile(r"[\w.-]{1,16}$")


def _cached(request: web.Request, tag: str, body: bytes | None, content_type: str) -> web.Response:
    return public.answer(request, tag, body, content_type, vary=portal.VARY)


def _bad(request: web.Request, what: str) -> web.HTTPBadRequest:
    _ = translator(portal.language(request)).gettext
    return web.HTTPBadRequest(text=_("Not a valid value for “{name}”.").format(name=what),
                              content_type="text/plain", headers={"Vary": portal.VARY})


def _filters(request: web.Request) -> reports_public.Filters:
    """The filters of the query string; 400 for a malformed one (an unknown category or area
    simply finds nothing)."""
    q = request.query
    state, category, area, period = (q.get(name) or None for name in ("state", "category", "area", "period"))
    if state is not None and state not in reports_public.LISTED_STATES and state not in reports_public.STATE_GROUPS:
        raise _bad(request, "state")
    if category is not None and not _CODE.match(category):
        raise _bad(request, "category")
    if area is not None and not _AREA.match(area):
        raise _bad(request, "area")
    if period is not None and period not in reports_public.PERIODS:
        raise _bad(request, "period")
    return reports_public.Filters(state=state, category=category, area=area, period=period)


def _bounded(request: web.Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)) or not 1 <= int(raw) <= high:
        raise _bad(request, name)
    return int(raw)


async def _version(request: web.Request, *parts: str) -> str:
    async with request.config_dict[DB].read() as session:
        version = await reports_public.version(session)
    return public.etag("reports", version, request.path_qs, portal.language(request), *parts)


class _Names:
    """The names a page shows, looked up once for all its reports."""

    def __init__(self, lang: str, categories: dict, agencies: dict, areas: dict) -> None:
        self.lang, self.categories, self.agencies, self.areas = lang, categories, agencies, areas

    @classmethod
    async def load(cls, session, lang: str, area_codes) -> _Names:
        en = lang == "en"
        categories = {c.code: (c.name_en if en else c.name_vi)
                      for c in (await session.execute(select(Category))).scalars()}
        agencies = {a.code: (a.name_en if en else a.name_vi) for a in (await session.execute(select(Agency))).scalars()}
        codes = sorted({code for code in area_codes if code})
        areas = {row.code: row for row in (await session.execute(  # names only: not the boundaries
            select(Area.code, Area.full_name_vi, Area.full_name_en).where(Area.code.in_(codes)))).all()}
        return cls(lang, categories, agencies, areas)

    def category(self, code: str) -> str:
        return self.categories.get(code, code)

    def agency(self, code: str | None) -> str:
        return self.agencies.get(code, code or "")

    def area(self, code: str | None) -> str:
        area = self.areas.get(code)
        return full_name(area, self.lang) if area is not None else (code or "—")


def _render(request: web.Request, template: str, **values) -> bytes:
    translate = translator(portal.language(request)).gettext
    return portal.render_text(request, template, **values,
                              state_label=lambda state: translate(STATE_LABELS.get(state, state)),
                              rating_label=lambda rating: translate(RATING_LABELS.get(rating, rating))).encode()


def _map(names: _Names, reports: list[reports_public.Summary], boundaries: list[str | None], label: str):
    _ = translator(names.lang).gettext
    points = [(r.place.latitude, r.place.longitude, r.place.exact,
               f"{r.code} · {names.category(r.category_code)}", f"{LIST_PATH}/{r.code}")
              for r in reports if r.place is not None]
    return svg.points_map(boundaries, points, label=label if points else _("No report to show on the map."))


async def _area_choices(request: web.Request) -> list[str]:
    """The areas that have reports, kept a minute (web.portal.memo): a scan of an index of them all."""
    db = request.config_dict[DB]

    async def read() -> list[str]:
        async with db.read() as session:
            return await reports_public.area_codes(session)

    return await portal.memo(request, "public_report_areas", read)


async def reports_page(request: web.Request) -> web.Response:
    f = _filters(request)
    number = _bounded(request, "page", 1, MAX_PAGE)
    per_page = _bounded(request, "per_page", PER_PAGE, reports_public.MAX_PER_PAGE)
    lang = portal.language(request)
    tag = await _version(request)
    if public.fresh(request, tag):
        return _cached(request, tag, None, "text/html")
    with_reports = await _area_choices(request)
    async with request.config_dict[DB].read() as session:
        found = await reports_public.page(session, f, number, per_page)
        names = await _Names.load(session, lang, [*with_reports, f.area, *(r.area_code for r in found.reports)])
        boundaries = list((await session.execute(select(Area.boundary).where(
            Area.code.in_({r.area_code for r in found.reports if r.area_code})))).scalars())
    _ = translator(lang).gettext
    params = {k: v for k, v in (("state", f.state), ("category", f.category), ("area", f.area),
                                ("period", f.period)) if v}
    if per_page != PER_PAGE:
        params["per_page"] = str(per_page)
    body = _render(request, "public/reports.html", page=found, names=names, filters=f, params=params,
                   states=reports_public.LISTED_STATES, most=reports_public.MAX_OFFSET,
                   periods=list(reports_public.PERIODS),
                   area_choices=sorted(((code, names.area(code)) for code in with_reports), key=lambda a: a[1]),
                   map=_map(names, found.reports, boundaries, _("Map of the reports on this page")),
                   page_url=lambda n: LIST_PATH + "?" + "&".join(
                       f"{k}={v}" for k, v in sorted({**params, "page": str(n)}.items())),
                   geojson_url=GEOJSON_PATH + ("?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
                                               if params else ""))
    return _cached(request, tag, body, "text/html")


async def report_page(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if not _CODE.match(code):
        raise portal.not_found(request)
    lang = portal.language(request)
    tag = await _version(request)
    if public.fresh(request, tag):  # only a page that was found was given this ETag
        return _cached(request, tag, None, "text/html")
    async with request.config_dict[DB].read() as session:
        found = await reports_public.one(session, code)
        if found is None:
            raise portal.not_found(request)
        if isinstance(found, reports_public.Rejected):
            body = _render(request, "public/report_rejected.html", report=found)
            return _cached(request, tag, body, "text/html")
        names = await _Names.load(session, lang, [found.area_code])
        boundary = (await session.execute(select(Area.boundary).where(Area.code == found.area_code))).scalar()
    _ = translator(lang).gettext
    point = (found.place.latitude, found.place.longitude) if found.place and found.place.exact else None
    body = _render(request, "public/report.html", report=found, names=names,
                   map=svg.area_map(boundary, point, label=_("Where the report is")),
                   photo_url=f"{LIST_PATH}/{found.code}/photo" if found.has_photo else None)
    return _cached(request, tag, body, "text/html")


async def photo(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    if not _CODE.match(code):
        raise portal.not_found(request)
    async with request.config_dict[DB].read() as session:
        sha256 = await reports_public.photo(session, code)
    path = MediaStore(request.config_dict[SETTINGS].media_dir).path_of(sha256) if sha256 else None
    if path is None or not path.is_file():
        raise portal.not_found(request)
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg", "ETag": f'"{sha256[:32]}"',
                                           "Cache-Control": "public, max-age=86400"})


def feature(report: reports_public.Summary, names: _Names, base: str) -> dict:
    """A report as a GeoJSON Feature: its place (exact, or its area's centre) and public facts."""
    place = report.place
    return {
        "type": "Feature",
        "geometry": None if place is None else {"type": "Point", "coordinates": [place.longitude, place.latitude]},
        "properties": {
            "code": report.code, "url": f"{base}{LIST_PATH}/{report.code}",
            "category": report.category_code, "category_name": names.category(report.category_code),
            "area": report.area_code, "area_name": names.area(report.area_code),
            "state": report.state, "agency": report.agency_code,
            "created": report.created_at.isoformat(), "due": report.due_at.isoformat() if report.due_at else None,
            "location": None if place is None else ("exact" if place.exact else "area_centre"),
            "photo": f"{base}{LIST_PATH}/{report.code}/photo" if report.has_photo else None,
        },
    }


async def geojson(request: web.Request) -> web.Response:
    f = _filters(request)
    limit = _bounded(request, "limit", GEOJSON_LIMIT, reports_public.MAX_POINTS)
    tag = await _version(request)
    if public.fresh(request, tag):
        return _cached(request, tag, None, "application/geo+json")
    settings = request.config_dict[SETTINGS]
    base = (settings.dashboard_url or str(request.url.origin())).rstrip("/")
    async with request.config_dict[DB].read() as session:
        shown = await reports_public.points(session, f, limit)
        names = await _Names.load(session, portal.language(request), [r.area_code for r in shown])
    body = json.dumps({"type": "FeatureCollection", "features": [feature(r, names, base) for r in shown]},
                      ensure_ascii=False, separators=(",", ":")).encode()
    return _cached(request, tag, body, "application/geo+json")


async def open_reports_map(db, language: str, limit: int = 300):
    """The map of the newest `limit` open reports, for the portal's home page."""
    async with db.read() as session:
        shown = await reports_public.points(session, reports_public.Filters(state="open"), limit)
        names = await _Names.load(session, language, [r.area_code for r in shown])
        boundaries = list((await session.execute(select(Area.boundary).where(
            Area.code.in_({r.area_code for r in shown if r.area_code})))).scalars())
    return _map(names, shown, boundaries, translator(language).gettext("Map of the open reports"))


def setup(app: web.Application) -> None:
    app.router.add_get(LIST_PATH, reports_page)
    app.router.add_get(GEOJSON_PATH, geojson)
    app.router.add_get(REPORT_PATH, report_page)
    app.router.add_get(PHOTO_PATH, photo)

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

import hashlib
import json
import re
from functools import cache

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select

from complaints import public
from complaints.lifecycle import RATING_LABELS, STATE_LABELS
from complaints.media import MediaStore
from kernel import formats
from kernel.i18n import translator
from kernel.settings import LANGUAGES
from storage.areas import full_name
from storage.models import Agency, Area, Category, Report
from web.dashboard import svg
from web.dashboard.views import TEMPLATES
from web.keys import DB, SETTINGS

LIST_PATH = "/public/reports"
GEOJSON_PATH = "/public/reports.geojson"
REPORT_PATH = "/public/reports/{code}"
PHOTO_PATH = "/public/reports/{code}/photo"
MAX_AGE = 60
PER_PAGE = 20
GEOJSON_LIMIT = 500
MAX_PAGE = 100_000
LANGUAGE_COOKIE = "loa_lang"
_CODE = re.compile(r"[\w-]{1,32}$")
_AREA = re.compile(r"[\w.-]{1,16}$")


@cache
def environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def language(request: web.Request) -> str:
    """The visitor's language: `?lang=`, else their cookie, else the city's."""
    for chosen in (request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    return request.config_dict[SETTINGS].default_language


def _etag(*parts: str) -> str:
    return '"r' + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32] + '"'


def _fresh(request: web.Request, tag: str) -> bool:
    tags = {held.strip().removeprefix("W/") for held in request.headers.get("If-None-Match", "").split(",")}
    return tag in tags or "*" in tags


def _answer(tag: str, body: bytes | None, content_type: str) -> web.Response:
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={MAX_AGE}", "Vary": "Host, Cookie"}
    if body is None:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type": f"{content_type}; charset=utf-8"})


def _bad(request: web.Request, what: str) -> web.HTTPBadRequest:
    _ = translator(language(request)).gettext
    return web.HTTPBadRequest(text=_("Not a valid value for “{name}”.").format(name=what),
                              content_type="text/plain")


def _filters(request: web.Request) -> public.Filters:
    """The filters of the query string; 400 for a malformed one (an unknown category or area
    simply finds nothing)."""
    q = request.query
    state, category, area, period = (q.get(name) or None for name in ("state", "category", "area", "period"))
    if state is not None and state not in public.LISTED_STATES and state not in public.STATE_GROUPS:
        raise _bad(request, "state")
    if category is not None and not _CODE.match(category):
        raise _bad(request, "category")
    if area is not None and not _AREA.match(area):
        raise _bad(request, "area")
    if period is not None and period not in public.PERIODS:
        raise _bad(request, "period")
    return public.Filters(state=state, category=category, area=area, period=period)


def _bounded(request: web.Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)) or not 1 <= int(raw) <= high:
        raise _bad(request, name)
    return int(raw)


async def _version(request: web.Request, *parts: str) -> str:
    async with request.config_dict[DB].read() as session:
        version = await public.version(session)
    return _etag(version, request.path_qs, language(request), *parts)


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
        areas = {a.code: a for a in (await session.execute(select(Area).where(Area.code.in_(codes)))).scalars()}
        return cls(lang, categories, agencies, areas)

    def category(self, code: str) -> str:
        return self.categories.get(code, code)

    def agency(self, code: str | None) -> str:
        return self.agencies.get(code, code or "")

    def area(self, code: str | None) -> str:
        area = self.areas.get(code)
        return full_name(area, self.lang) if area is not None else (code or "—")


def _render(request: web.Request, template: str, **values) -> bytes:
    lang = language(request)
    translate = translator(lang).gettext
    settings = request.config_dict[SETTINGS]
    values.update(_=translate, language=lang,
                  state_label=lambda state: translate(STATE_LABELS.get(state, state)),
                  rating_label=lambda rating: translate(RATING_LABELS.get(rating, rating)),
                  when=lambda moment: formats.moment(moment, lang, settings.tz) if moment else "—",
                  day=lambda moment: formats.day(moment, lang, settings.tz) if moment else "—")
    return environment().get_template(template).render(**values).encode()


def _map(names: _Names, reports: list[public.Summary], boundaries: list[str | None], label: str):
    _ = translator(names.lang).gettext
    points = [(r.place.latitude, r.place.longitude, r.place.exact,
               f"{r.code} · {names.category(r.category_code)}", f"{LIST_PATH}/{r.code}")
              for r in reports if r.place is not None]
    return svg.points_map(boundaries, points, label=label if points else _("No report to show on the map."))


async def reports_page(request: web.Request) -> web.Response:
    f = _filters(request)
    number = _bounded(request, "page", 1, MAX_PAGE)
    per_page = _bounded(request, "per_page", PER_PAGE, public.MAX_PER_PAGE)
    lang = language(request)
    tag = await _version(request)
    if _fresh(request, tag):
        return _answer(tag, None, "text/html")
    async with request.config_dict[DB].read() as session:
        found = await public.page(session, f, number, per_page)
        with_reports = [row[0] for row in (await session.execute(
            select(Report.area_code).where(Report.area_code.is_not(None)).distinct())).all()]
        names = await _Names.load(session, lang, [*with_reports, f.area, *(r.area_code for r in found.reports)])
        boundaries = list((await session.execute(select(Area.boundary).where(
            Area.code.in_({r.area_code for r in found.reports if r.area_code})))).scalars())
    _ = translator(lang).gettext
    params = {k: v for k, v in (("state", f.state), ("category", f.category), ("area", f.area),
                                ("period", f.period)) if v}
    if per_page != PER_PAGE:
        params["per_page"] = str(per_page)
    body = _render(request, "public/reports.html", page=found, names=names, filters=f, params=params,
                   states=public.LISTED_STATES, periods=list(public.PERIODS),
                   area_choices=sorted(((code, names.area(code)) for code in with_reports), key=lambda a: a[1]),
                   map=_map(names, found.reports, boundaries, _("Map of the reports on this page")),
                   page_url=lambda n: LIST_PATH + "?" + "&".join(
                       f"{k}={v}" for k, v in sorted({**params, "page": str(n)}.items())),
                   geojson_url=GEOJSON_PATH + ("?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
                                               if params else ""))
    return _answer(tag, body, "text/html")


async def report_page(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if not _CODE.match(code):
        raise web.HTTPNotFound()
    lang = language(request)
    tag = await _version(request)
    async with request.config_dict[DB].read() as session:
        found = await public.one(session, code)
        if found is None:
            raise web.HTTPNotFound()
        if _fresh(request, tag):
            return _answer(tag, None, "text/html")
        if isinstance(found, public.Rejected):
            body = _render(request, "public/report_rejected.html", report=found)
            return _answer(tag, body, "text/html")
        names = await _Names.load(session, lang, [found.area_code])
        boundary = (await session.execute(select(Area.boundary).where(Area.code == found.area_code))).scalar()
    _ = translator(lang).gettext
    point = (found.place.latitude, found.place.longitude) if found.place and found.place.exact else None
    body = _render(request, "public/report.html", report=found, names=names,
                   map=svg.area_map(boundary, point, label=_("Where the report is")),
                   photo_url=f"{LIST_PATH}/{found.code}/photo" if found.has_photo else None)
    return _answer(tag, body, "text/html")


async def photo(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    if not _CODE.match(code):
        raise web.HTTPNotFound()
    async with request.config_dict[DB].read() as session:
        sha256 = await public.photo(session, code)
    path = MediaStore(request.config_dict[SETTINGS].media_dir).path_of(sha256) if sha256 else None
    if path is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg", "ETag": f'"{sha256[:32]}"',
                                           "Cache-Control": "public, max-age=86400"})


def feature(report: public.Summary, names: _Names, base: str) -> dict:
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
    limit = _bounded(request, "limit", GEOJSON_LIMIT, public.MAX_POINTS)
    tag = await _version(request)
    if _fresh(request, tag):
        return _answer(tag, None, "application/geo+json")
    settings = request.config_dict[SETTINGS]
    base = (settings.dashboard_url or str(request.url.origin())).rstrip("/")
    async with request.config_dict[DB].read() as session:
        shown = await public.points(session, f, limit)
        names = await _Names.load(session, language(request), [r.area_code for r in shown])
    body = json.dumps({"type": "FeatureCollection", "features": [feature(r, names, base) for r in shown]},
                      ensure_ascii=False, separators=(",", ":")).encode()
    return _answer(tag, body, "application/geo+json")


async def open_reports_map(session, lang: str, limit: int = 300):
    """The map of the newest open reports, for the portal's home page."""
    shown = await public.points(session, public.Filters(state="open"), limit)
    names = await _Names.load(session, lang, [r.area_code for r in shown])
    boundaries = list((await session.execute(select(Area.boundary).where(
        Area.code.in_({r.area_code for r in shown if r.area_code})))).scalars())
    return _map(names, shown, boundaries, translator(lang).gettext("Map of the open reports"))


def setup(app: web.Application) -> None:
    app.router.add_get(LIST_PATH, reports_page)
    app.router.add_get(GEOJSON_PATH, geojson)
    app.router.add_get(REPORT_PATH, report_page)
    app.router.add_get(PHOTO_PATH, photo)

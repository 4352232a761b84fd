"""A map of a city for the sandbox's web chat, where a person playing a resident picks the
point to share as a Telegram location: one self-contained SVG drawn on the server from the
areas table, with no tiles and nothing from the internet.

`city_map(session, "01", "vi")` draws every ward of Hà Nội that has a boundary as a
`<path class="ward" data-code=... data-name=...>` (with a `<title>`) and the city's outline as
`<path class="city">` above them (it takes no clicks). The projection is equirectangular, x
scaled by cos(the middle latitude) so shapes keep their proportions, north up; the `<svg>` carries it
(`data-lon0`, `data-lat0`, `data-scale-x`, `data-scale-y`) so that web/static/sandbox-map.js
turns a click into a longitude/latitude: lon = lon0 + x / scale_x, lat = lat0 - y / scale_y.
`Projection` does the same in Python. The paths are drawn as the dashboard's maps are
(web/dashboard/svg.py `path_data`), rounded to a tenth of a unit (the view is 1000 units on its
longer side: ~9 m in Hà Nội); neighbouring wards share their border vertices in the data, and
rounding keeps them shared.

Nothing here knows Telegram or aiohttp.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import areas
from storage.models import Area
from web.dashboard.svg import SVG_NS, num, parse_boundary, path_data

SIZE = 1000.0  # svg units on the map's longer side
MARGIN = 10.0  # svg units kept free around the drawing


@dataclass(frozen=True)
class Projection:
    """lon/lat (degrees) ⇄ svg x/y (units, y down): x = (lon - lon0) * scale_x, y = (lat0 - lat) * scale_y."""

    lon0: float  # the longitude at x = 0 (the west edge of the view)
    lat0: float  # the latitude at y = 0 (the north edge)
    scale_x: float  # svg units per degree of longitude: scale_y * cos(mean latitude)
    scale_y: float  # svg units per degree of latitude

    def project(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.scale_x, (self.lat0 - lat) * self.scale_y

    def unproject(self, x: float, y: float) -> tuple[float, float]:
        """The (lon, lat) at svg point (x, y)."""
        return self.lon0 + x / self.scale_x, self.lat0 - y / self.scale_y


def fit(min_lon: float, min_lat: float, max_lon: float, max_lat: float, *, size: float = SIZE,
        margin: float = MARGIN) -> tuple[Projection, float, float]:
    """The projection showing the box in `size` units on its longer side, `margin` units around
    it, and the view's width and height. A box of no size (a point) is widened to 0.01°."""
    if max_lon - min_lon < 1e-9 and max_lat - min_lat < 1e-9:
        min_lon, min_lat, max_lon, max_lat = (min_lon - 0.005, min_lat - 0.005,
                                              max_lon + 0.005, max_lat + 0.005)
    k = max(math.cos(math.radians((min_lat + max_lat) / 2)), 0.01)
    span_x, span_y = (max_lon - min_lon) * k, max_lat - min_lat
    scale = size / max(span_x, span_y, 1e-9)  # svg units per degree of latitude
    projection = Projection(lon0=min_lon - margin / (scale * k), lat0=max_lat + margin / scale,
                            scale_x=scale * k, scale_y=scale)
    return projection, span_x * scale + 2 * margin, span_y * scale + 2 * margin


class AreaLike(Protocol):
    code: str
    full_name_vi: str
    full_name_en: str
    boundary: str | None


def render(province: AreaLike, wards: Iterable[AreaLike], language: str) -> str:
    """The map (see the module's docstring) of `province` and its `wards`, names in `language`
    ("en", else Vietnamese). Wards without a usable boundary are left out; with nothing to draw
    at all, the view is an empty square around (0, 0)."""
    shapes = [(ward, parse_boundary(ward.boundary)) for ward in wards]
    shapes = [(ward, polygons) for ward, polygons in shapes if polygons]
    outline = parse_boundary(province.boundary)
    every = [polygon for _, polygons in shapes for polygon in polygons] + outline
    lons = [lon for polygon in every for ring in polygon for lon, _ in ring] or [0.0]
    lats = [lat for polygon in every for ring in polygon for _, lat in ring] or [0.0]
    projection, width, height = fit(min(lons), min(lats), max(lons), max(lats))

    name = escape(areas.full_name(province, language))
    out = [f'<svg xmlns="{SVG_NS}" class="loa-city-map" viewBox="0 0 {num(width)} {num(height)}" '
           f'data-province="{escape(province.code)}" data-lon0="{projection.lon0!r}" '
           f'data-lat0="{projection.lat0!r}" data-scale-x="{projection.scale_x!r}" '
           f'data-scale-y="{projection.scale_y!r}" aria-label="{name}"><title>{name}</title>',
           '<g class="wards" fill="#e0ecff" stroke="#3b6fd8" stroke-width="1" '
           'stroke-linejoin="round" fill-rule="evenodd">']
    for ward, polygons in sorted(shapes, key=lambda shape: shape[0].code):
        d = path_data(polygons, projection.project)
        if d:
            label = escape(areas.full_name(ward, language))
            out.append(f'<path class="ward" data-code="{escape(ward.code)}" data-name="{label}" '
                       f'vector-effect="non-scaling-stroke" d="{d}"><title>{label}</title></path>')
    out.append("</g>")
    d = path_data(outline, projection.project)
    if d:
        out.append(f'<path class="city" fill="none" stroke="#1e3a8a" stroke-width="2" '
                   f'stroke-linejoin="round" pointer-events="none" vector-effect="non-scaling-stroke" '
                   f'd="{d}"/>')
    out.append("</svg>")
    return "".join(out)


_drawn: dict[tuple[str, str], str] = {}  # (province, language) -> svg: areas don't change while the bot runs


async def city_map(session: AsyncSession, province_code: str, language: str) -> str:
    """The map of the province and its wards (the areas right below it), names in `language`;
    LookupError for an unknown province. Drawing Hà Nội takes ~45 ms of CPU, so each map is drawn
    once per process and kept (`forget()` drops them, for tests that change the areas)."""
    key = (province_code, "en" if language == "en" else "vi")
    svg = _drawn.get(key)
    if svg is None:
        province = await session.get(Area, province_code)
        if province is None:
            raise LookupError(f"no area {province_code!r}")
        wards = (await session.execute(select(Area).where(
            Area.parent_code == province_code, Area.boundary.is_not(None)))).scalars().all()
        svg = _drawn[key] = render(province, wards, language)
    return svg


def forget() -> None:
    """Drop the maps `city_map` keeps."""
    _drawn.clear()

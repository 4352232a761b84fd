"""Pictures drawn on the server as inline SVG, so the dashboard needs no map tiles and no chart
library and works offline: `area_map` (an area's boundary and a report's place), `points_map` (many places) and
`bar_chart`.

Each returns `markupsafe.Markup`, ready for a Jinja2 template (`{{ area_map(...) }}`); every text
they are given is escaped. Numbers are rounded to a tenth of a pixel to keep the SVG small.
Colours are presentation attributes, so the dashboard's CSS can override them through the
classes (`loa-map`, `loa-map-area`, `loa-map-marker`, `loa-bars`, `loa-bar`, ...).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence

from markupsafe import Markup, escape

from kernel import formats

SVG_NS = "http://www.w3.org/2000/svg"
# A point alone (no boundary) is shown with this much around it, in degrees of latitude (~1.1 km).
_POINT_SPAN_DEG = 0.01
_MAP_MARGIN = 12  # pixels kept free around the drawing
_FONT = "system-ui, sans-serif"

Ring = list[tuple[float, float]]  # (lon, lat) pairs
Polygon = list[Ring]  # outer ring, then holes


def num(value: float) -> str:
    """A number with at most one decimal and no useless zeros: 12, 12.5, -3.2."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _attr(value: object) -> str:
    return str(escape(str(value)))


def _open_svg(width: float, height: float, label: str, css_class: str) -> list[str]:
    """The opening tag (role="img", named by `label`) and its <title>."""
    parts = [f'<svg xmlns="{SVG_NS}" class="{css_class}" width="{num(width)}" '
             f'height="{num(height)}" viewBox="0 0 {num(width)} {num(height)}" role="img"']
    if label:
        parts.append(f' aria-label="{_attr(label)}"><title>{escape(label)}</title>')
    else:
        parts.append(">")
    return ["".join(parts)]


# ---------------------------------------------------------------- the map


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _rings_of(polygon: Iterable) -> Polygon:
    rings: Polygon = []
    for ring in polygon or ():
        points: Ring = []
        for position in ring or ():
            try:
                lon, lat = float(position[0]), float(position[1])
            except (TypeError, ValueError, IndexError):
                continue
            if _finite(lon, lat):
                points.append((lon, lat))
        if len(points) >= 3:
            rings.append(points)
    return rings


def parse_boundary(boundary: str | None) -> list[Polygon]:
    """The polygons of an `areas.boundary` value: GeoJSON text of a Polygon or MultiPolygon in
    longitude/latitude (a Feature or FeatureCollection of them is accepted too). Text that is not
    such GeoJSON gives no polygons rather than an error: the page still shows the report."""
    if not boundary:
        return []
    try:
        data = json.loads(boundary)
    except (TypeError, ValueError):
        return []
    return _polygons_of(data)


def _polygons_of(data: object) -> list[Polygon]:
    if not isinstance(data, dict):
        return []
    kind = data.get("type")
    if kind == "FeatureCollection":
        return [p for feature in data.get("features") or () for p in _polygons_of(feature)]
    if kind == "Feature":
        return _polygons_of(data.get("geometry"))
    coordinates = data.get("coordinates") or []
    if kind == "Polygon":
        candidates = [coordinates]
    elif kind == "MultiPolygon":
        candidates = coordinates
    else:
        return []
    polygons = []
    for candidate in candidates:
        rings = _rings_of(candidate)
        if rings:
            polygons.append(rings)
    return polygons


def path_data(polygons: list[Polygon], project: Callable[[float, float], tuple[float, float]]) -> str:
    """The `d` of an SVG path drawing the polygons (fill-rule evenodd makes their holes): each
    ring "M x y L x y … Z" with the points `project(lon, lat)` gives, rounded to a tenth, a point
    repeated after rounding dropped, and a ring left with fewer than three points skipped.
    Neighbouring areas that share border vertices keep sharing them after rounding."""
    commands = []
    for polygon in polygons:
        for ring in polygon:
            points: list[tuple[str, str]] = []
            for lon, lat in ring:
                x, y = project(lon, lat)
                xy = (num(x), num(y))
                if not points or points[-1] != xy:
                    points.append(xy)
            if len(points) > 1 and points[0] == points[-1]:
                points.pop()  # Z closes the ring
            if len(points) < 3:
                continue
            commands.append(f"M{points[0][0]} {points[0][1]}L" + " ".join(f"{x} {y}" for x, y in points[1:]) + "Z")
    return "".join(commands)


def area_map(boundary: str | None, point: tuple[float, float] | None, *, width: int = 480,
             height: int = 320, label: str = "") -> Markup:
    """An SVG map of an area and a report's place.

    `boundary` is the GeoJSON text of `areas.boundary` (Polygon or MultiPolygon, lon/lat);
    `point` is the report's (lat, lon). The area is filled lightly, the point is a marker, and
    the view fits the area and the point. The projection is equirectangular, its x scaled by
    cos(latitude) so that shapes keep their proportions, with north up. With neither a boundary
    nor a point, the SVG shows `label` (the caller's translated "nothing to show"); otherwise
    `label` names the picture (aria-label and title).
    """
    polygons = parse_boundary(boundary)
    if point is not None:
        try:
            lat, lon = float(point[0]), float(point[1])
        except (TypeError, ValueError, IndexError):
            point = None
        else:
            point = (lat, lon) if _finite(lat, lon) and -90 <= lat <= 90 and -180 <= lon <= 180 else None

    out = _open_svg(width, height, label, "loa-map")
    if not polygons and point is None:
        out.append(f'<rect class="loa-map-empty" width="{num(width)}" height="{num(height)}" '
                   'fill="#f3f4f6" stroke="#d1d5db"/>')
        if label:
            out.append(f'<text x="{num(width / 2)}" y="{num(height / 2)}" text-anchor="middle" '
                       f'dominant-baseline="middle" font-family="{_FONT}" font-size="14" '
                       f'fill="#6b7280">{escape(label)}</text>')
        out.append("</svg>")
        return Markup("".join(out))

    # The extent, in degrees, of what must be seen.
    lons = [lon for polygon in polygons for ring in polygon for lon, _ in ring]
    lats = [lat for polygon in polygons for ring in polygon for _, lat in ring]
    if point is not None:
        lats.append(point[0])
        lons.append(point[1])
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    mid_lat = (min_lat + max_lat) / 2
    k = max(math.cos(math.radians(mid_lat)), 0.01)  # metres per degree of lon / of lat
    if max_lat - min_lat < 1e-9 and max_lon - min_lon < 1e-9:  # a point alone (or a degenerate area)
        min_lat, max_lat = mid_lat - _POINT_SPAN_DEG / 2, mid_lat + _POINT_SPAN_DEG / 2
        mid_lon = (min_lon + max_lon) / 2
        min_lon, max_lon = mid_lon - _POINT_SPAN_DEG / 2 / k, mid_lon + _POINT_SPAN_DEG / 2 / k
    span_x = (max_lon - min_lon) * k
    span_y = max_lat - min_lat
    inner_w, inner_h = max(width - 2 * _MAP_MARGIN, 1), max(height - 2 * _MAP_MARGIN, 1)
    scale = min(inner_w / span_x if span_x else math.inf, inner_h / span_y if span_y else math.inf)
    offset_x = (width - span_x * scale) / 2
    offset_y = (height - span_y * scale) / 2

    def project(lon: float, lat: float) -> tuple[float, float]:
        return offset_x + (lon - min_lon) * k * scale, offset_y + (max_lat - lat) * scale  # north up

    out.append(f'<rect class="loa-map-background" width="{num(width)}" height="{num(height)}" '
               'fill="#f8fafc"/>')
    d = path_data(polygons, project)
    if d:
        out.append(f'<path class="loa-map-area" d="{d}" fill="#2563eb" '
                   'fill-opacity="0.12" fill-rule="evenodd" stroke="#2563eb" stroke-width="1.5" '
                   'stroke-linejoin="round"/>')
    if point is not None:
        x, y = map(num, project(point[1], point[0]))
        out.append(f'<g class="loa-map-marker"><circle cx="{x}" cy="{y}" r="7" fill="#dc2626" '
                   f'stroke="#fff" stroke-width="2"/><circle cx="{x}" cy="{y}" r="2" fill="#fff"/></g>')
    out.append("</svg>")
    return Markup("".join(out))


def points_map(boundaries: Sequence[str | None], points: Sequence[tuple[float, float, bool, str, str]], *,
               width: int = 480, height: int = 320, label: str = "") -> Markup:
    """An SVG map of several places (the public portal's reports) over the boundaries of their
    areas, in `area_map`'s projection. A point is (lat, lon, exact, title, href): a filled dot
    when exact, a hollow ring when it stands for its area's centre; each a link to `href`, named
    by `title`. With nothing to draw, the SVG shows `label`, as `area_map` does."""
    polygons = [polygon for boundary in boundaries for polygon in parse_boundary(boundary)]
    shown = [(float(lat), float(lon), exact, title, href) for lat, lon, exact, title, href in points
             if _finite(lat, lon) and -90 <= lat <= 90 and -180 <= lon <= 180]
    if not polygons and not shown:
        return area_map(None, None, width=width, height=height, label=label)
    lons = [lon for polygon in polygons for ring in polygon for lon, _ in ring] + [p[1] for p in shown]
    lats = [lat for polygon in polygons for ring in polygon for _, lat in ring] + [p[0] for p in shown]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    mid_lat = (min_lat + max_lat) / 2
    k = max(math.cos(math.radians(mid_lat)), 0.01)
    if max_lat - min_lat < _POINT_SPAN_DEG and max_lon - min_lon < _POINT_SPAN_DEG / k:
        mid_lon = (min_lon + max_lon) / 2
        min_lat, max_lat = mid_lat - _POINT_SPAN_DEG / 2, mid_lat + _POINT_SPAN_DEG / 2
        min_lon, max_lon = mid_lon - _POINT_SPAN_DEG / 2 / k, mid_lon + _POINT_SPAN_DEG / 2 / k
    span_x, span_y = (max_lon - min_lon) * k, max_lat - min_lat
    inner_w, inner_h = max(width - 2 * _MAP_MARGIN, 1), max(height - 2 * _MAP_MARGIN, 1)
    scale = min(inner_w / span_x if span_x else math.inf, inner_h / span_y if span_y else math.inf)
    offset_x, offset_y = (width - span_x * scale) / 2, (height - span_y * scale) / 2

    def project(lon: float, lat: float) -> tuple[float, float]:
        return offset_x + (lon - min_lon) * k * scale, offset_y + (max_lat - lat) * scale

    out = _open_svg(width, height, label, "loa-map")
    out.append(f'<rect class="loa-map-background" width="{num(width)}" height="{num(height)}" fill="#f8fafc"/>')
    d = path_data(polygons, project)
    if d:
        out.append(f'<path class="loa-map-area" d="{d}" fill="#2563eb" fill-opacity="0.08" fill-rule="evenodd" '
                   'stroke="#2563eb" stroke-width="1" stroke-linejoin="round"/>')
    for lat, lon, exact, title, href in shown:
        x, y = map(num, project(lon, lat))
        dot = (f'<circle cx="{x}" cy="{y}" r="5" fill="#dc2626" stroke="#fff" stroke-width="1.5"/>' if exact else
               f'<circle cx="{x}" cy="{y}" r="5" fill="none" stroke="#dc2626" stroke-width="2"/>')
        out.append(f'<a href="{_attr(href)}" class="loa-map-marker"><title>{escape(title)}</title>{dot}</a>')
    out.append("</svg>")
    return Markup("".join(out))


# ---------------------------------------------------------------- the bar chart


def _value_text(value: float, unit: str, language: str) -> str:
    if not _finite(value):
        return "–"
    number = formats.number(value, language)
    if not unit:
        return number
    return f"{number}{unit}" if unit in ("%", "‰") else f"{number} {unit}"


def _shorten(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max(max_chars - 1, 1)].rstrip() + "…"


def bar_chart(items: Sequence[tuple[str, float]], *, unit: str = "", max_value: float | None = None,
              width: int = 480, bar_height: int = 22, label: str = "", language: str = "en") -> Markup:
    """Horizontal bars, one per (label, value): the label above its bar, over the whole width, and
    the value after the bar, written in `language`'s way (kernel.formats: "85,7%" / "85.7%").

    Bars are scaled to `max_value` (default: the largest value); a zero, negative or missing value
    has no bar but keeps its text. `unit` follows the value ("87.5%", "3 ngày"). `label` names the
    chart (aria-label and title) and is shown when there are no items. A label longer than the
    chart's width is cut with "…" (counted generously: wide letters and diacritics never run out
    of the picture); its full text is the bar's tooltip.
    """
    gap = max(round(bar_height * 0.35), 4)
    font_size = max(min(round(bar_height * 0.6), 16), 9)
    values = []
    for _, value in items:
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            values.append(math.nan)
    if not items:
        height = bar_height + 2 * gap
        out = _open_svg(width, height, label, "loa-bars")
        if label:
            out.append(f'<text x="0" y="{num(height / 2)}" dominant-baseline="middle" '
                       f'font-family="{_FONT}" font-size="{font_size}" fill="#6b7280">'
                       f'{escape(label)}</text>')
        out.append("</svg>")
        return Markup("".join(out))

    finite = [v for v in values if _finite(v)]
    top = max_value if max_value is not None and _finite(max_value) else max(finite, default=0.0)
    value_w = max(round(font_size * 4.5), 48)
    bar_area = max(width - value_w - gap, 1)
    max_chars = max(int(width / (font_size * 0.72)), 4)
    label_h = round(font_size * 1.3)
    row_h = label_h + bar_height + gap
    height = len(items) * row_h + gap

    out = _open_svg(width, height, label, "loa-bars")
    for index, ((name, _), value) in enumerate(zip(items, values)):
        name = str(name)
        top_y = gap + index * row_h
        y = top_y + label_h
        middle = num(y + bar_height / 2)
        length = bar_area * min(value / top, 1.0) if top > 0 and _finite(value) and value > 0 else 0.0
        text = _value_text(value, unit, language)
        out.append(f'<g class="loa-bar"><title>{escape(name)}: {escape(text)}</title>')
        out.append(f'<text class="loa-bar-label" x="0" y="{num(top_y + label_h / 2)}" '
                   f'dominant-baseline="middle" font-family="{_FONT}" font-size="{font_size}" '
                   f'fill="#111827">{escape(_shorten(name, max_chars))}</text>')
        if length >= 0.05:
            out.append(f'<rect x="0" y="{num(y)}" width="{num(length)}" '
                       f'height="{num(bar_height)}" rx="2" fill="#2563eb"/>')
        out.append(f'<text class="loa-bar-value" x="{num(length + gap)}" y="{middle}" '
                   f'dominant-baseline="middle" font-family="{_FONT}" font-size="{font_size}" '
                   f'fill="#374151">{escape(text)}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))

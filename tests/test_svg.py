"""The dashboard's server-side SVG: area maps and bar charts."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from storage.areas import SHIPPED, AreaLocator, read_units
from web.dashboard.svg import area_map, bar_chart

NS = "{http://www.w3.org/2000/svg}"
BA_DINH = "00004"  # Phường Ba Đình, Hà Nội
HANOI = "01"
NASTY = '<script>alert("x")</script> & Sở <b>Xây dựng</b>'


@pytest.fixture(scope="module")
def boundaries() -> dict[str, str]:
    """`areas.boundary` of every shipped unit that has one, as the import stores it."""
    rows, _ = read_units(SHIPPED)
    return {row["code"]: row["boundary"] for row in rows if row["boundary"]}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    return root


def path_rings(root: ET.Element) -> list[list[tuple[float, float]]]:
    """The rings of the map's area path, in pixels."""
    paths = root.findall(f".//{NS}path")
    assert len(paths) == 1
    d = paths[0].get("d")
    assert re.fullmatch(r"(M[-\d. ]+L[-\d. ]+Z)+", d), d
    rings = []
    for part in re.findall(r"M([^Z]+)Z", d):
        numbers = [float(n) for n in re.split(r"[ L]+", part.strip())]
        rings.append(list(zip(numbers[::2], numbers[1::2])))
    return rings


def marker(root: ET.Element) -> tuple[float, float]:
    circles = root.findall(f".//{NS}g[@class='loa-map-marker']/{NS}circle")
    assert circles
    return float(circles[0].get("cx")), float(circles[0].get("cy"))


def inside(x: float, y: float, rings: list[list[tuple[float, float]]]) -> bool:
    """Even-odd ray casting, as the path's fill-rule draws it."""
    result = False
    for ring in rings:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                result = not result
    return result


def interior_point(code: str, boundary: str) -> tuple[float, float]:
    """A (lat, lon) that the locator places in the unit, found on a grid over its bounding box."""
    geometry = json.loads(boundary)
    locator = AreaLocator([(code, 1, geometry)])
    lons = [p[0] for polygon in geometry["coordinates"] for ring in polygon for p in ring]
    lats = [p[1] for polygon in geometry["coordinates"] for ring in polygon for p in ring]
    for i in range(1, 20):
        for j in range(1, 20):
            lat = min(lats) + (max(lats) - min(lats)) * i / 20
            lon = min(lons) + (max(lons) - min(lons)) * j / 20
            if locator.locate(lat, lon) == code:
                return lat, lon
    raise AssertionError(f"no interior point found for {code}")


def bbox(rings):
    xs = [x for ring in rings for x, _ in ring]
    ys = [y for ring in rings for _, y in ring]
    return min(xs), min(ys), max(xs), max(ys)


def test_a_ward_and_a_report_inside_it(boundaries):
    boundary = boundaries[BA_DINH]
    assert json.loads(boundary)["type"] == "MultiPolygon"
    lat, lon = interior_point(BA_DINH, boundary)

    svg = area_map(boundary, (lat, lon), label="Phường Ba Đình")

    assert isinstance(svg, Markup)
    root = parse(svg)
    assert root.get("viewBox") == "0 0 480 320"
    assert root.get("aria-label") == "Phường Ba Đình"
    assert root.find(f"{NS}title").text == "Phường Ba Đình"
    rings = path_rings(root)
    x, y = marker(root)
    min_x, min_y, max_x, max_y = bbox(rings)
    assert min_x <= x <= max_x and min_y <= y <= max_y
    assert inside(x, y, rings)
    # The area fills the view (less its margin) without leaving it.
    assert 0 <= min_x and max_x <= 480 and 0 <= min_y and max_y <= 320
    assert max_x - min_x > 400 or max_y - min_y > 280


def test_the_projection_keeps_proportions_with_north_up(boundaries):
    geometry = json.loads(boundaries[HANOI])
    points = [p for polygon in geometry["coordinates"] for ring in polygon for p in ring]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    ratio = ((max(lons) - min(lons)) * math.cos(math.radians((max(lats) + min(lats)) / 2))
             / (max(lats) - min(lats)))

    root = parse(area_map(boundaries[HANOI], None, width=600, height=600))

    rings = path_rings(root)
    min_x, min_y, max_x, max_y = bbox(rings)
    assert (max_x - min_x) / (max_y - min_y) == pytest.approx(ratio, rel=0.01)
    # North up: the southernmost vertex is drawn at the bottom, the northernmost at the top.
    south = min(points, key=lambda p: p[1])
    north = max(points, key=lambda p: p[1])
    for (lon, lat), y in ((south, max_y), (north, min_y)):
        root = parse(area_map(boundaries[HANOI], (lat, lon), width=600, height=600))
        assert marker(root)[1] == pytest.approx(y, abs=0.2)


def test_numbers_are_rounded_and_the_svg_is_small(boundaries):
    svg = str(area_map(boundaries[HANOI], (21.03, 105.85)))
    root = parse(svg)
    coordinates = [root.find(f".//{NS}path").get("d")]
    coordinates += [c.get(name) for c in root.iter(f"{NS}circle") for name in ("cx", "cy")]
    assert not any(re.search(r"\d\.\d\d", text) for text in coordinates)
    assert len(svg) < len(boundaries[HANOI]) / 1.5


def test_a_point_outside_the_area_is_in_view(boundaries):
    boundary = boundaries[BA_DINH]
    lat, lon = interior_point(BA_DINH, boundary)
    outside = (lat + 0.05, lon + 0.05)  # some 7 km to the north-east

    root = parse(area_map(boundary, outside))

    rings = path_rings(root)
    x, y = marker(root)
    min_x, min_y, max_x, max_y = bbox(rings)
    assert 0 <= x <= 480 and 0 <= y <= 320
    assert x > max_x and y < min_y  # east is right, north is up
    assert not inside(x, y, rings)


def test_a_plain_polygon_and_a_point_alone():
    polygon = json.dumps({"type": "Polygon", "coordinates": [
        [[105.80, 21.00], [105.82, 21.00], [105.82, 21.02], [105.80, 21.02], [105.80, 21.00]],
        [[105.805, 21.005], [105.815, 21.005], [105.815, 21.015], [105.805, 21.005]],  # a hole
    ]})
    root = parse(area_map(polygon, (21.01, 105.801)))
    assert len(path_rings(root)) == 2
    assert root.find(f".//{NS}path").get("fill-rule") == "evenodd"

    root = parse(area_map(None, (21.01, 105.81)))
    assert root.find(f".//{NS}path") is None
    assert marker(root) == (240, 160)


@pytest.mark.parametrize("boundary", [None, "", "not json", '{"type": "Point", "coordinates": [1, 2]}'])
def test_nothing_to_show(boundary):
    svg = area_map(boundary, None, label="Không có vị trí")

    root = parse(svg)
    assert root.find(f".//{NS}path") is None
    assert root.find(f".//{NS}circle") is None
    assert [t.text for t in root.iter(f"{NS}text")] == ["Không có vị trí"]


def test_map_labels_are_escaped(boundaries):
    for svg in (area_map(None, None, label=NASTY), area_map(boundaries[BA_DINH], (21.03, 105.83), label=NASTY)):
        assert "<script" not in svg and "<b>" not in svg
        root = parse(svg)
        assert root.get("aria-label") == NASTY
        assert root.find(f"{NS}title").text == NASTY


def bars(root: ET.Element) -> list[tuple[str, str, float | None]]:
    """(label, value text, bar width or None) of each bar."""
    found = []
    for group in root.iter(f"{NS}g"):
        label = group.find(f"{NS}text[@class='loa-bar-label']").text
        value = group.find(f"{NS}text[@class='loa-bar-value']").text
        rect = group.find(f"{NS}rect")
        found.append((label, value, None if rect is None else float(rect.get("width"))))
    return found


def test_bar_chart():
    svg = bar_chart([("Sở Xây dựng", 80), ("Công an phường", 40.25), ("UBND", 0)], unit="%")

    root = parse(svg)
    drawn = bars(root)
    assert [(label, value) for label, value, _ in drawn] == [
        ("Sở Xây dựng", "80%"), ("Công an phường", "40.2%"), ("UBND", "0%")]
    full, half, zero = (width for _, _, width in drawn)
    assert half == pytest.approx(full * 40.25 / 80, abs=0.1)
    assert zero is None
    assert float(root.get("height")) >= 3 * 22
    assert all(float(rect.get("x")) + float(rect.get("width")) <= 480 for rect in root.iter(f"{NS}rect"))


def test_bar_chart_scale_and_units():
    root = parse(bar_chart([("A", 3), ("B", 12)], unit="ngày", max_value=6, width=300, bar_height=10))
    (_, a_text, a), (_, b_text, b) = bars(root)
    assert (a_text, b_text) == ("3 ngày", "12 ngày")
    assert a == pytest.approx(b / 2, abs=0.1)  # B is over the maximum: a full bar
    assert root.get("width") == "300"


def test_bar_chart_only_zeros_and_empty():
    root = parse(bar_chart([("A", 0), ("B", 0.0)]))
    assert [(value, width) for _, value, width in bars(root)] == [("0", None), ("0", None)]

    root = parse(bar_chart([]))
    assert root.find(f".//{NS}rect") is None and root.find(f".//{NS}text") is None
    root = parse(bar_chart([], label="Chưa có số liệu"))
    assert [t.text for t in root.iter(f"{NS}text")] == ["Chưa có số liệu"]


def test_bar_labels_are_escaped():
    svg = bar_chart([(NASTY, 5), ("A & B", 2)], label=NASTY)

    assert "<script" not in svg and "<b>" not in svg
    root = parse(svg)
    assert root.get("aria-label") == NASTY
    titles = [t.text for t in root.iter(f"{NS}title")]
    assert titles[1:] == [f"{NASTY}: 5", "A & B: 2"]
    assert bars(root)[1][0] == "A & B"

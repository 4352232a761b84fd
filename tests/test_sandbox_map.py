"""The sandbox's city map (sandbox/map.py) and its picker (web/static/sandbox-map.js): every ward
of Hà Nội drawn with its code and escaped name, a projection that inverts exactly, a point inside
Ba Đình's path that the bot's own point lookup places in Ba Đình, and, in Chromium, a click there
that the picker reports as Ba Đình."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from sqlalchemy import select

from sandbox import map as city
from sandbox.map import Projection, city_map, fit, render
from storage.areas import AreaLocator
from storage.models import Area
from tests.fixtures.browser import screenshot

NS = "{http://www.w3.org/2000/svg}"
HANOI, BA_DINH = "01", "00004"
NASTY = 'Phường <b>"A" & B</b>'
SCRIPT = Path(__file__).resolve().parents[1] / "web" / "static" / "sandbox-map.js"


@pytest.fixture(autouse=True)
def fresh():
    """city_map keeps what it drew: each test (and database) draws afresh."""
    city.forget()
    yield
    city.forget()


def projection_of(root: ET.Element) -> Projection:
    return Projection(*(float(root.get(f"data-{name}")) for name in ("lon0", "lat0", "scale-x", "scale-y")))


def wards_of(root: ET.Element) -> dict[str, ET.Element]:
    return {path.get("data-code"): path for path in root.iter(f"{NS}path") if path.get("class") == "ward"}


def rings(d: str) -> list[list[tuple[float, float]]]:
    """The rings of a path as web/dashboard/svg.py's path_data writes it: M x y L x y ... Z."""
    found = []
    for part in re.findall(r"M([^Z]+)Z", d):
        numbers = [float(n) for n in re.split(r"[ L]+", part.strip())]
        found.append(list(zip(numbers[::2], numbers[1::2])))
    return found


def interior_point(d: str) -> tuple[float, float]:
    """A point inside the path (even-odd): the middle of the widest span across it at the middle
    of its height (a little off the 0.1 grid, so that no vertex lies on the line)."""
    all_rings = rings(d)
    ys = [y for ring in all_rings for _, y in ring]
    y = round((min(ys) + max(ys)) / 2, 1) + 0.05
    crossings = sorted(
        x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        for ring in all_rings for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1])
        if (y1 <= y) != (y2 <= y))
    spans = list(zip(crossings[::2], crossings[1::2]))
    left, right = max(spans, key=lambda span: span[1] - span[0])
    return (left + right) / 2, y


async def test_the_city_map_draws_every_ward_of_hanoi(areas_loaded):
    async with areas_loaded.read() as session:
        svg = await city_map(session, HANOI, "vi")
        children = (await session.execute(select(Area).where(Area.parent_code == HANOI))).scalars().all()
    assert len(svg.encode()) < 250_000  # ~166 KB

    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("data-province") == HANOI
    assert root.get("aria-label") == root.find(f"{NS}title").text == "Thành phố Hà Nội"
    x, y, width, height = map(float, root.get("viewBox").split())
    assert (x, y) == (0, 0) and 800 < width < 900 and height == pytest.approx(1020, abs=0.1)
    wards = wards_of(root)
    assert len(wards) == 126 and set(wards) == {area.code for area in children}
    ba_dinh = wards[BA_DINH]
    assert ba_dinh.get("data-name") == ba_dinh.find(f"{NS}title").text == "Phường Ba Đình"
    assert all(ward.get("d").startswith("M") for ward in wards.values())
    outline = [path for path in root.iter(f"{NS}path") if path.get("class") == "city"]
    assert len(outline) == 1 and outline[0].get("pointer-events") == "none"

    # The x scale is the y scale shortened by cos(latitude), at Hà Nội's ~21° N.
    projection = projection_of(root)
    assert projection.scale_x / projection.scale_y == pytest.approx(math.cos(math.radians(20.975)), abs=1e-3)

    # Every ward's rings stay within the view.
    for ward in wards.values():
        for ring in rings(ward.get("d")):
            assert all(0 <= px <= width + 0.1 and 0 <= py <= height + 0.1 for px, py in ring)


async def test_names_are_in_the_language_and_the_map_is_kept(areas_loaded):
    async with areas_loaded.read() as session:
        english = await city_map(session, HANOI, "en")
        assert await city_map(session, HANOI, "en") is english  # drawn once
        assert await city_map(session, HANOI, "fr") == await city_map(session, HANOI, "vi")
    root = ET.fromstring(english)
    assert root.get("aria-label") == "Hanoi City"
    assert wards_of(root)[BA_DINH].get("data-name") == "Ba Dinh Ward"


async def test_an_unknown_province_is_an_error(areas_loaded):
    async with areas_loaded.read() as session:
        with pytest.raises(LookupError):
            await city_map(session, "99", "vi")


async def test_a_point_inside_ba_dinhs_path_is_located_in_ba_dinh(areas_loaded):
    async with areas_loaded.read() as session:
        root = ET.fromstring(await city_map(session, HANOI, "vi"))
        locator = await AreaLocator.load(session)
    projection = projection_of(root)
    lon, lat = projection.unproject(*interior_point(wards_of(root)[BA_DINH].get("d")))
    assert locator.locate(lat, lon) == BA_DINH
    # And every other ward, despite the rounding to 0.1 unit (~9 m).
    for code, ward in wards_of(root).items():
        lon, lat = projection.unproject(*interior_point(ward.get("d")))
        assert locator.locate(lat, lon) == code


def square(lon: float, lat: float, side: float = 0.01) -> str:
    ring = [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]
    return json.dumps({"type": "MultiPolygon", "coordinates": [[ring]]})


def test_names_are_escaped_and_wards_without_a_boundary_left_out():
    province = SimpleNamespace(code="P", full_name_vi="Tỉnh <P> & Q", full_name_en="P & Q",
                               boundary=square(105.0, 21.0, 0.05))
    wards = [SimpleNamespace(code="W1", full_name_vi=NASTY, full_name_en="W1",
                             boundary=square(105.01, 21.01)),
             SimpleNamespace(code="W2", full_name_vi="Không có ranh giới", full_name_en="W2", boundary=None),
             SimpleNamespace(code="W3", full_name_vi="Hỏng", full_name_en="W3", boundary="{not json"),
             SimpleNamespace(code="W&4", full_name_vi="Xã '4'", full_name_en="W4",
                             boundary=square(105.03, 21.03))]
    svg = render(province, wards, "vi")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&lt;P&gt; &amp; Q" in svg
    root = ET.fromstring(svg)
    assert root.get("aria-label") == "Tỉnh <P> & Q"
    found = wards_of(root)
    assert list(found) == ["W&4", "W1"]
    assert found["W1"].get("data-name") == found["W1"].find(f"{NS}title").text == NASTY
    assert found["W&4"].get("data-name") == "Xã '4'"
    assert ET.fromstring(render(province, wards, "en")).get("aria-label") == "P & Q"


def test_nothing_to_draw_still_makes_a_map():
    empty = SimpleNamespace(code="X", full_name_vi="X", full_name_en="X", boundary=None)
    root = ET.fromstring(render(empty, [], "vi"))
    assert wards_of(root) == {} and root.get("viewBox") == "0 0 1020 1020"


def test_the_projection_inverts_and_keeps_shapes():
    projection, width, height = fit(105.285352, 20.56428, 106.02013, 21.38539)
    assert max(width, height) == pytest.approx(1020)
    for lon, lat in [(105.285352, 21.38539), (105.84, 21.035), (106.02013, 20.56428), (0.0, 0.0)]:
        x, y = projection.project(lon, lat)
        back = projection.unproject(x, y)
        assert back[0] == pytest.approx(lon, abs=1e-6) and back[1] == pytest.approx(lat, abs=1e-6)
    # The north-west corner is at (margin, margin); north is up.
    assert projection.project(105.285352, 21.38539) == pytest.approx((10, 10))
    assert projection.project(105.84, 21.0)[1] > projection.project(105.84, 21.1)[1]
    # A square kilometre looks square: 1 km of longitude is 1 km of latitude on the map.
    degree = 111.32  # km per degree of latitude
    lat = 21.0
    east = 105.8 + 1 / (degree * math.cos(math.radians(lat)))
    dx = projection.project(east, lat)[0] - projection.project(105.8, lat)[0]
    dy = projection.project(105.8, lat)[1] - projection.project(105.8, lat + 1 / degree)[1]
    assert dx == pytest.approx(dy, rel=0.01)


# ---------------------------------------------------------------- in the browser

PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Bản đồ</title>
<link rel="stylesheet" href="/page.css">
<script src="/sandbox-map.js"></script><script src="/page.js" defer></script>
</head><body>{svg}</body></html>"""
PAGE_JS = """window.picks = [];
LoaMap.attach(document.querySelector("svg.loa-city-map"), (pick) => window.picks.push(pick),
              {titles: {zoomIn: "Phóng to", zoomOut: "Thu nhỏ", reset: "Cả thành phố"}});"""
PAGE_CSS = "svg.loa-city-map { display: block; width: 720px; height: 720px; border: 1px solid #ccc; }"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'"


async def test_a_click_in_ba_dinh_picks_ba_dinh_in_chromium(shipped_areas, page):
    rows = {row["code"]: SimpleNamespace(**row) for row in shipped_areas if row["code"] == HANOI
            or row["parent_code"] == HANOI}
    svg = render(rows[HANOI], [row for code, row in rows.items() if code != HANOI], "vi")
    locator = AreaLocator((row.code, row.level, json.loads(row.boundary))
                          for row in rows.values() if row.boundary)
    inside = interior_point(wards_of(ET.fromstring(svg))[BA_DINH].get("d"))

    def serve(text: str, content_type: str):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=text, content_type=content_type, charset="utf-8",
                                headers={"Content-Security-Policy": CSP})
        return handler

    app = web.Application()
    app.router.add_get("/", serve(PAGE.format(svg=svg), "text/html"))
    app.router.add_get("/sandbox-map.js", serve(SCRIPT.read_text(encoding="utf-8"), "text/javascript"))
    app.router.add_get("/page.js", serve(PAGE_JS, "text/javascript"))
    app.router.add_get("/page.css", serve(PAGE_CSS, "text/css"))
    app.router.add_get("/favicon.ico", serve("", "image/x-icon"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        await page.goto(f"http://127.0.0.1:{runner.addresses[0][1]}/")
        await page.wait_for_function("() => Array.isArray(window.picks)")

        async def on_screen(x: float, y: float) -> tuple[float, float]:
            return tuple(await page.evaluate("""([x, y]) => {
                const svg = document.querySelector("svg.loa-city-map");
                const point = svg.createSVGPoint(); point.x = x; point.y = y;
                const client = point.matrixTransform(svg.getScreenCTM());
                return [client.x, client.y];
            }""", list((x, y))))

        async def view_width() -> float:
            return float((await page.get_attribute("svg.loa-city-map", "viewBox")).split()[2])

        async def picks() -> list[dict]:
            return await page.evaluate("() => window.picks")

        # A click in Ba Đình, seen whole: Ba Đình's code and name, a point the bot places there, a pin.
        await page.mouse.click(*await on_screen(*inside))
        [pick] = await picks()
        assert (pick["code"], pick["name"]) == (BA_DINH, "Phường Ba Đình")
        assert locator.locate(pick["latitude"], pick["longitude"]) == BA_DINH
        assert await page.locator("svg.loa-city-map circle.pin").count() == 1

        # The wheel zooms in around the pointer: Ba Đình stays under it.
        whole = await view_width()
        await page.mouse.wheel(0, -600)
        await page.wait_for_function(f"() => parseFloat(document.querySelector('svg.loa-city-map')"
                                     f".getAttribute('viewBox').split(' ')[2]) < {whole / 2}")
        x, y = await on_screen(*inside)
        assert 0 < x < 722 and 0 < y < 722

        # A drag pans and picks nothing; the + button zooms; a click picks Ba Đình again.
        before = await page.get_attribute("svg.loa-city-map", "viewBox")
        await page.mouse.move(300, 300)
        await page.mouse.down()
        await page.mouse.move(340, 330, steps=5)
        await page.mouse.up()
        assert await page.get_attribute("svg.loa-city-map", "viewBox") != before
        assert len(await picks()) == 1
        zoomed = await view_width()
        await page.get_by_role("button", name="Phóng to").click()
        assert await view_width() < zoomed
        await page.mouse.click(*await on_screen(*inside))
        assert [p["code"] for p in await picks()] == [BA_DINH, BA_DINH]
        await screenshot(page, "sandbox-map-ba-dinh")

        # Outside every ward: no code; ⌂ shows the whole city again.
        await page.get_by_role("button", name="Cả thành phố").click()
        assert await view_width() == pytest.approx(whole)
        await page.mouse.click(*await on_screen(2, 2))
        assert (await picks())[-1]["code"] is None and (await picks())[-1]["name"] is None
        await screenshot(page, "sandbox-map-city")
        assert errors == []
    finally:
        await runner.cleanup()

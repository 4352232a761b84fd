"""Areas: importing the unit tree and its boundaries, the tree, search, locating a point, `loa areas`."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage import areas
from storage.areas import AreaLocator, normalize
from storage.models import Area
from tests.fixtures.cli import loa

HOAN_KIEM_LAKE = (21.0287, 105.8524)
LONG_BIEN = (21.0400, 105.8900)
HO_CHI_MINH_CITY = (10.776, 106.700)
GULF_OF_TONKIN = (20.0, 107.0)


@pytest.fixture
async def shipped(db):
    """The test's database with Vietnam's units and Hanoi's boundaries imported."""
    counts = await areas.import_units(db, areas.SHIPPED)
    assert counts.created == 3355
    return db


async def all_rows(db) -> dict[str, tuple]:
    async with db.read() as session:
        rows = (await session.execute(select(Area))).scalars().all()
        return {area.code: tuple(area.model_dump().values()) for area in rows}


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def write_dataset(folder: Path, units: list, features: list | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "units.json").write_text(json.dumps(units, ensure_ascii=False), encoding="utf-8")
    if features is not None:
        (folder / "boundaries.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return folder


def unit(code: str, name: str, full_name: str, **more) -> dict:
    return {"Code": code, "Name": name, "NameEn": normalize(name).title(), "FullName": full_name,
            "FullNameEn": normalize(full_name).title(), **more}


# ---------------------------------------------------------------- normalize


def test_normalize_ignores_accents_case_and_spacing():
    assert normalize("long bien") == normalize("LONG BIÊN") == normalize("Long  Biên ") == "long bien"
    assert normalize("Đống Đa") == "dong da"
    assert normalize("Văn Miếu - Quốc Tử Giám") == "van mieu quoc tu giam"
    assert normalize("M'Drắk") == "mdrak"


def test_kind_comes_from_the_full_name():
    assert [areas.kind_of(name) for name in ("Thành phố Hà Nội", "Tỉnh Cao Bằng", "Phường Long Biên",
                                              "Xã Bát Tràng", "xã Bắc Sơn", "Đặc khu Phú Quốc", "Quận 1")] \
        == ["province", "province", "ward", "commune", "commune", "special_zone", "unit"]


# ---------------------------------------------------------------- import


async def test_import_of_the_shipped_data(db):
    started = time.perf_counter()
    counts = await areas.import_units(db, areas.SHIPPED)
    elapsed = time.perf_counter() - started
    assert (counts.created, counts.updated, counts.unchanged) == (3355, 0, 0)
    assert counts.with_boundary == 127 and counts.unmatched_boundaries == []
    assert elapsed < 5, f"the import took {elapsed:.1f} s"
    async with db.read() as session:
        by_level = dict((await session.execute(
            select(Area.level, func.count()).group_by(Area.level))).all())
        by_kind = dict((await session.execute(
            select(Area.kind, func.count()).group_by(Area.kind))).all())
        hanoi_bounded = (await session.execute(select(func.count()).select_from(Area).where(
            Area.parent_code == "01", Area.boundary.is_not(None)))).scalar_one()
        long_bien = await areas.get(session, "00145")
        hanoi = await areas.get(session, "01")
        saigon = await areas.get(session, "79")
    assert by_level == {0: 34, 1: 3321}
    assert by_kind == {"province": 34, "ward": 697, "commune": 2611, "special_zone": 13}
    assert hanoi_bounded == 126
    assert (long_bien.parent_code, long_bien.level, long_bien.kind) == ("01", 1, "ward")
    assert (long_bien.name_vi, long_bien.name_en) == ("Long Biên", "Long Bien")
    assert (long_bien.full_name_vi, long_bien.full_name_en) == ("Phường Long Biên", "Long Bien Ward")
    assert long_bien.search_name == "long bien"
    assert hanoi.min_lon < long_bien.min_lon < long_bien.max_lon < hanoi.max_lon
    assert hanoi.min_lat < long_bien.min_lat < long_bien.max_lat < hanoi.max_lat
    assert json.loads(long_bien.boundary)["type"] == "MultiPolygon"
    assert saigon.boundary is None and saigon.min_lon is None


async def test_a_second_import_changes_nothing(shipped):
    before = await all_rows(shipped)
    counts = await areas.import_units(shipped, areas.SHIPPED)
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 3355)
    assert await all_rows(shipped) == before


async def test_a_changed_name_or_boundary_updates_the_row(db, tmp_path):
    data = [unit("01", "Hà Nội", "Thành phố Hà Nội", Wards=[
        unit("00145", "Long Biên", "Phường Long Biên"), unit("00577", "Bát Tràng", "Xã Bát Tràng")])]
    features = [{"type": "Feature", "id": "00577", "properties": {},
                 "geometry": {"type": "Polygon", "coordinates": [square(105.9, 20.9, 106.0, 21.0)]}}]
    folder = write_dataset(tmp_path / "data", data, features)
    assert (await areas.import_units(db, folder)).created == 3

    data[0]["Wards"][0].update(Name="Long Biên Mới", FullName="Phường Long Biên Mới")
    features[0]["geometry"]["coordinates"] = [square(105.9, 20.9, 106.1, 21.0)]
    write_dataset(folder, data, features)
    counts = await areas.import_units(db, folder)
    assert (counts.created, counts.updated, counts.unchanged) == (0, 2, 1)
    async with db.read() as session:
        renamed = await areas.get(session, "00145")
        assert (renamed.name_vi, renamed.full_name_vi, renamed.search_name) == (
            "Long Biên Mới", "Phường Long Biên Mới", "long bien moi")
        assert (await areas.get(session, "00577")).max_lon == 106.1
        assert [a.code for a in await areas.search(session, "long bien moi")] == ["00145"]


async def test_a_tree_of_any_depth_imports_parents_first(db, tmp_path):
    """Three levels, children under `Units` and `Children`, boundaries matched by id or properties."""
    data = [
        unit("C1", "Chiêm Thành", "Thành phố Chiêm Thành", Units=[
            unit("D1", "Thủ Đức", "Thành phố Thủ Đức", Children=[
                unit("W1", "Linh Trung", "Phường Linh Trung"),
                unit("W2", "Ấp Một", "Ấp Một"),
            ]),
            unit("D2", "Cần Giờ", "Huyện Cần Giờ"),
        ]),
    ]
    features = [
        {"type": "Feature", "id": "C1", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [square(0, 0, 10, 10)]}},
        {"type": "Feature", "properties": {"code": "W1"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[square(1, 1, 2, 2)], [square(3, 3, 4, 4)]]}},
        {"type": "Feature", "id": "ZZ", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [square(50, 50, 51, 51)]}},
    ]
    counts = await areas.import_units(db, write_dataset(tmp_path / "data", data, features))
    assert (counts.created, counts.with_boundary, counts.unmatched_boundaries) == (5, 2, ["ZZ"])
    async with db.read() as session:
        rows = {a.code: a for a in (await session.execute(select(Area))).scalars()}
        assert {code: (a.parent_code, a.level, a.kind) for code, a in rows.items()} == {
            "C1": (None, 0, "province"), "D1": ("C1", 1, "city"), "D2": ("C1", 1, "unit"),
            "W1": ("D1", 2, "ward"), "W2": ("D1", 2, "unit")}
        assert (rows["W1"].min_lon, rows["W1"].min_lat, rows["W1"].max_lon, rows["W1"].max_lat) == (1, 1, 4, 4)
        assert [a.code for a in await areas.path(session, "W2")] == ["C1", "D1", "W2"]
        assert await areas.path(session, "nope") == []
        assert sorted(await areas.descendant_codes(session, "C1")) == ["D1", "D2", "W1", "W2"]
        assert [a.code for a in await areas.search(session, "linh trung", within="C1")] == ["W1"]
        assert await areas.search(session, "linh trung", within="D2") == []
        locator = await AreaLocator.load(session)
    assert locator.locate(1.5, 1.5) == "W1" and locator.locate(3.5, 3.5) == "W1"
    assert locator.locate(2.5, 2.5) == "C1"  # between W1's two parts
    assert locator.locate(11, 5) is None
    assert (await areas.import_units(db, tmp_path / "data")).unchanged == 5


async def test_an_invalid_dataset_is_refused_and_leaves_nothing(db, tmp_path):
    folder = write_dataset(tmp_path / "data", [unit("01", "Hà Nội", "Thành phố Hà Nội"),
                                               unit("01", "Hà Nội", "Thành phố Hà Nội")])
    with pytest.raises(ValueError, match="appears twice"):
        await areas.import_units(db, folder)
    write_dataset(folder, [{"Code": "01", "Wards": []}])
    with pytest.raises(ValueError, match="without Code or Name"):
        await areas.import_units(db, folder)
    assert await all_rows(db) == {}


# ---------------------------------------------------------------- the tree


async def test_children_come_in_vietnamese_alphabetical_order(db, tmp_path):
    names = ["Hà Giang 10", "Đông Anh", "Hà Giang 2", "Bạch Mai", "Dương Nội", "Ân Thi", "Ba Đình", "An Khánh"]
    data = [unit("P", "Tỉnh", "Tỉnh Thử", Wards=[
        unit(f"{i:05d}", name, f"Xã {name}") for i, name in enumerate(names)])]
    await areas.import_units(db, write_dataset(tmp_path / "data", data))
    async with db.read() as session:
        ordered = [a.name_vi for a in await areas.children(session, "P")]
        top = [a.code for a in await areas.children(session, None)]
    # a < ă < â, d < đ, and numbers by value.
    assert ordered == ["An Khánh", "Ân Thi", "Ba Đình", "Bạch Mai", "Dương Nội", "Đông Anh",
                       "Hà Giang 2", "Hà Giang 10"]
    assert top == ["P"]


async def test_children_of_the_shipped_tree(shipped):
    async with shipped.read() as session:
        provinces = await areas.children(session, None)
        hanoi = await areas.children(session, "01")
        assert await areas.children(session, "00145") == []
        assert [a.code for a in await areas.path(session, "00145")] == ["01", "00145"]
        assert await areas.count_children(session, "01") == 126
    names = [a.name_vi for a in provinces]
    assert len(names) == 34 and names[0] == "An Giang" and names[-1] == "Vĩnh Long"
    assert names.index("Cần Thơ") < names.index("Đà Nẵng") < names.index("Gia Lai")
    assert len(hanoi) == 126 and hanoi[0].name_vi == "An Khánh"
    assert all(a.parent_code == "01" for a in hanoi)


# ---------------------------------------------------------------- search


async def test_search_ignores_accents_and_case(shipped):
    async with shipped.read() as session:
        for typed in ("long bien", "LONG BIÊN", "Long Biên", "  long   biên "):
            found = await areas.search(session, typed)
            assert found and found[0].code == "00145", typed


async def test_search_understands_a_leading_kind(shipped):
    async with shipped.read() as session:
        assert (await areas.search(session, "phuong long bien"))[0].code == "00145"
        assert (await areas.search(session, "Xã Bát Tràng"))[0].code == "00577"
        assert (await areas.search(session, "tp ha noi"))[0].code == "01"
        # A name that starts like a kind still comes first when typed whole.
        assert (await areas.search(session, "xa dung"))[0].full_name_vi == "Xã Xa Dung"
        # Spaces left out still find the unit.
        assert (await areas.search(session, "hanoi"))[0].code == "01"


async def test_search_ranks_exact_then_prefix_then_substring_in_a_short_list(shipped):
    async with shipped.read() as session:
        several = await areas.search(session, "tan")
        three = await areas.search(session, "tan", limit=3)
        ha = await areas.search(session, "ha noi")
        hoan = await areas.search(session, "hoan kiem")
        dong_ha = await areas.search(session, "Đông Hà")
    assert len(several) == 8 and all("tan" in a.search_name for a in several)
    assert [a.code for a in three] == [a.code for a in several[:3]]
    assert ha[0].code == "01"
    assert hoan[0].code == "00070"
    # Phường Đông Hà, then the names that start with it (Đông Hải...), then those that contain it.
    tiers = [0 if a.search_name == "dong ha" else 1 if a.search_name.startswith("dong ha") else 2
             for a in dong_ha]
    assert tiers[0] == 0 and tiers == sorted(tiers) and {1, 2} <= set(tiers)


async def test_search_within_a_unit_and_short_queries(shipped):
    async with shipped.read() as session:
        everywhere = await areas.search(session, "an")
        in_hanoi = await areas.search(session, "an", within="01")
        assert everywhere[0].code == "91"  # Tỉnh An Giang
        assert in_hanoi and all(a.parent_code == "01" for a in in_hanoi)
        assert in_hanoi[0].name_vi == "An Khánh"
        assert await areas.search(session, "") == []
        assert await areas.search(session, "a") == []
        assert await areas.search(session, " đ ") == []
        assert await areas.search(session, "no such place") == []


# ---------------------------------------------------------------- locating a point


async def named(db, text: str, within: str | None = "01") -> tuple[str, bool] | None:
    async with db.read() as session:
        found = await areas.named_in(session, text, within=within)
    return (found.area.name_vi, found.only_name) if found else None


async def test_a_typed_address_names_its_ward_whatever_the_accents(shipped):
    for typed in ("25 Nguyễn Văn Cừ, Long Biên", "25 nguyen van cu, LONG BIEN", "25 Nguyễn Văn Cừ, Long Biên, Hà Nội",
                  "số 25 Nguyễn Văn Cừ phường Long Biên", "25 Nguyen Van Cu, P. Long Bien, TP Ha Noi",
                  "25 Nguyễn Văn Cừ, quận Long Biên"):
        assert await named(shipped, typed) == ("Long Biên", False), typed
    assert await named(shipped, "Phường Cửa Nam") == ("Cửa Nam", True)
    assert await named(shipped, "cua nam") == ("Cửa Nam", True)
    assert await named(shipped, "12 Lê Duẩn, Văn Miếu - Quốc Tử Giám") == ("Văn Miếu - Quốc Tử Giám", False)
    # A ward's kind word outweighs an old district's name further on.
    assert await named(shipped, "25 Trần Hưng Đạo, p. Cửa Nam, q. Hoàn Kiếm") == ("Cửa Nam", False)
    assert await named(shipped, "ngõ 5, phố Hàng Bông Hoàn Kiếm") == ("Hoàn Kiếm", False)


async def test_a_street_or_a_landmark_names_no_ward(shipped):
    for typed in ("15 Hàng Bài", "25 Trần Hưng Đạo", "Cổng chợ Long Biên, near the flower stalls",
                  "Ngõ 12 Phố Huế, gần chợ", "ab"):
        assert await named(shipped, typed) is None, typed


async def test_names_several_provinces_share_are_settled_by_the_province(shipped):
    # Trần Phú is a commune of Hà Nội and of three other provinces.
    assert (await named(shipped, "thôn 3, xã Trần Phú", within="01")) == ("Trần Phú", False)
    async with shipped.read() as session:
        found = await areas.named_in(session, "thôn 3, xã Trần Phú, Hà Tĩnh", within="01")
        assert found is not None and found.area.parent_code == "42"
        # Anywhere, Hà Nội's (the city with boundaries) is meant; Long Biên is Hà Nội's alone.
        assert (await areas.named_in(session, "xã Trần Phú")).area.parent_code == "01"
        assert (await areas.named_in(session, "25 Nguyễn Văn Cừ, Long Biên", within="79")).area.code == "00145"


async def test_locate_resolves_a_shared_location_to_the_ward(shipped):
    async with shipped.read() as session:
        locator = await AreaLocator.load(session)
    assert locator.size == 127
    assert locator.locate(*HOAN_KIEM_LAKE) == "00070"
    assert locator.locate(*LONG_BIEN) == "00145"
    assert locator.locate(*HO_CHI_MINH_CITY) is None  # only Hanoi has boundaries
    assert locator.locate(*GULF_OF_TONKIN) is None


async def test_every_located_point_in_hanoi_is_a_ward_of_hanoi_and_fast(shipped):
    async with shipped.read() as session:
        locator = await AreaLocator.load(session)
        hanoi = await areas.get(session, "01")
        wards = {a.code for a in await areas.children(session, "01")}
    rng = random.Random(7)
    points = [(rng.uniform(hanoi.min_lat, hanoi.max_lat), rng.uniform(hanoi.min_lon, hanoi.max_lon))
              for _ in range(5000)]
    started = time.perf_counter()
    found = [locator.locate(lat, lon) for lat, lon in points]
    elapsed = time.perf_counter() - started
    assert set(found) <= wards | {"01", None}
    assert len(set(found) & wards) > 120  # random points reach nearly every ward
    assert 0.3 < sum(code in wards for code in found) / len(found) < 0.7  # Hanoi fills half its box
    assert elapsed < 2.5, f"5,000 look-ups took {elapsed:.2f} s"


def test_locate_prefers_the_deepest_area_and_respects_holes():
    with_hole = {"type": "Polygon", "coordinates": [square(0, 0, 10, 10), square(4, 4, 6, 6)[::-1]]}
    locator = AreaLocator([
        ("P", 0, with_hole),
        ("W", 1, {"type": "Polygon", "coordinates": [square(0, 0, 2, 2)]}),
    ])
    assert locator.locate(1, 1) == "W"
    assert locator.locate(8, 8) == "P"
    assert locator.locate(5, 5) is None  # in the hole
    assert locator.locate(-1, 5) is None
    assert AreaLocator([]).locate(1, 1) is None


# ---------------------------------------------------------------- loa areas


async def test_loa_areas_import_twice_and_show(tmp_path):
    fresh, migrated = tmp_path / "fresh", tmp_path / "migrated"
    fresh.mkdir()
    migrated.mkdir()
    (code, _out, err), (upgraded, _, _) = await asyncio.gather(
        loa("areas", "import", str(areas.SHIPPED), cwd=fresh), loa("db", "upgrade", cwd=migrated))
    assert code == 1 and "loa db upgrade" in err and "Traceback" not in err
    assert upgraded == 0

    code, out, err = await loa("areas", "import", str(areas.SHIPPED), cwd=migrated)
    assert code == 0, err
    assert "3355 created, 0 updated, 0 unchanged; 127 with boundaries" in out
    code, out, err = await loa("areas", "import", str(areas.SHIPPED), cwd=migrated)
    assert code == 0, err
    assert "0 created, 0 updated, 3355 unchanged" in out

    (code, out, _err), (unknown, _, unknown_err) = await asyncio.gather(
        loa("areas", "show", "00145", cwd=migrated), loa("areas", "show", "99999", cwd=migrated))
    assert code == 0
    assert "Phường Long Biên" in out and "Thành phố Hà Nội [01] > Phường Long Biên [00145]" in out
    assert "children: 0" in out and "kind: ward, level 1" in out
    assert unknown == 1 and "no area with code 99999" in unknown_err

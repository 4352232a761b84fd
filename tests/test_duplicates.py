"""Possible duplicates of a report on SQLite and PostgreSQL: same category, open, recent, and near
(by haversine when both have coordinates, else by ward); nearest first, at most `limit`."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from complaints import duplicates
from complaints.duplicates import Suggestion
from storage.models import Report

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
# Hoàn Kiếm lake, Hà Nội.
LAT, LON = 21.0285, 105.8542
HOAN_KIEM, CUA_NAM = "00070", "00082"
M_PER_DEG_LAT = duplicates.METRES_PER_DEGREE
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(LAT))


def north(metres: float) -> tuple[float, float]:
    return LAT + metres / M_PER_DEG_LAT, LON


def east(metres: float) -> tuple[float, float]:
    return LAT, LON + metres / M_PER_DEG_LON


class Reports:
    """Adds reports with distinct codes; each defaults to an open `roads` report filed an hour ago."""

    def __init__(self, db) -> None:
        self.db = db
        self.n = 0

    async def add(self, point: tuple[float, float] | None = (LAT, LON), *, category: str = "roads",
                  state: str = "submitted", age: timedelta = timedelta(hours=1), area: str | None = None,
                  description: str = "Ổ gà lớn giữa đường", **fields) -> Report:
        self.n += 1
        latitude, longitude = point if point is not None else (None, None)
        async with self.db.transaction() as session:
            report = Report(code=f"PA-{self.n:05d}", category_code=category, description=description,
                            latitude=latitude, longitude=longitude, area_code=area, state=state,
                            created_at=NOW - age, updated_at=NOW - age, **fields)
            session.add(report)
            await session.flush()
            session.expunge(report)
            return report


async def suggest(db, report: Report, **args) -> list[Suggestion]:
    async with db.read() as session:
        return await duplicates.suggestions(session, report, now=NOW, **args)


def codes(found: list[Suggestion]) -> list[str]:
    return [s.code for s in found]


async def test_a_report_100_m_away_is_suggested_and_one_400_m_away_is_not(db):
    reports = Reports(db)
    report = await reports.add()
    near = await reports.add(north(100),
                             description="Ổ gà  sâu\nngay trước nhà số 12 Đinh Tiên Hoàng, xe máy ngã nhiều lần rồi")
    await reports.add(north(400))
    found = await suggest(db, report)
    assert codes(found) == [near.code]
    only = found[0]
    assert only.report_id == near.id and only.distance_m == 100 and only.state == "submitted"
    assert only.created_at == NOW - timedelta(hours=1)
    assert only.description == "Ổ gà sâu ngay trước nhà số 12 Đinh Tiên Hoàng, xe máy ngã nh"
    assert len(only.description) == 60 and "\n" not in only.description


async def test_the_circle_is_exact_and_longitude_degrees_follow_the_latitude(db):
    reports = Reports(db)
    report = await reports.add()
    east_240 = await reports.add(east(240))  # further than 250 m in degrees of latitude
    await reports.add(east(260))
    await reports.add((north(200)[0], east(200)[1]))  # in the box's corner: 283 m
    west_249 = await reports.add(east(-249))
    south_249 = await reports.add(north(-249), age=timedelta(hours=2))  # as near, but older
    found = await suggest(db, report)
    assert codes(found) == [east_240.code, west_249.code, south_249.code]
    assert [s.distance_m for s in found] == [240, 249, 249]
    assert codes(await suggest(db, report, radius_m=245)) == [east_240.code]


async def test_another_category_an_old_or_a_finished_report_and_itself_are_not_suggested(db):
    reports = Reports(db)
    report = await reports.add()
    await reports.add(north(50), category="sanitation")
    await reports.add(north(50), age=timedelta(days=31))
    recent = await reports.add(north(50), age=timedelta(days=29))
    await reports.add(north(50), age=timedelta(hours=-1))  # filed after `now`
    for state in ("resolved", "closed", "rejected", "duplicate"):
        await reports.add(north(50), state=state)
    opened = [await reports.add(north(60), state=state, age=timedelta(hours=hours))  # same distance: newest first
              for hours, state in ((2, "assigned"), (3, "in_progress"), (4, "reopened"))]
    await reports.add(north(50), duplicate_of_id=report.id)  # already marked its duplicate
    found = await suggest(db, report)
    assert codes(found) == [recent.code] + [r.code for r in opened]
    assert [s.state for s in found] == ["submitted", "assigned", "in_progress", "reopened"]
    assert report.id not in {s.report_id for s in found}
    assert codes(await suggest(db, report, days=20)) == [r.code for r in opened]


async def test_without_coordinates_the_same_ward_is_suggested_and_another_ward_is_not(areas_loaded):
    db = areas_loaded
    reports = Reports(db)
    report = await reports.add(None, area=HOAN_KIEM)
    same_ward = await reports.add(None, area=HOAN_KIEM)
    located_in_ward = await reports.add(north(3000), area=HOAN_KIEM, age=timedelta(hours=2))
    await reports.add(None, area=CUA_NAM)
    await reports.add((LAT, LON), area=CUA_NAM)
    await reports.add(None, area=None)
    found = await suggest(db, report)
    assert codes(found) == [same_ward.code, located_in_ward.code]  # newest first
    assert [s.distance_m for s in found] == [None, None]
    assert await suggest(db, await reports.add(None, area=None)) == []


async def test_a_located_report_meets_unlocated_ones_of_its_ward_after_the_measured_ones(areas_loaded):
    db = areas_loaded
    reports = Reports(db)
    report = await reports.add(area=HOAN_KIEM)
    unlocated = await reports.add(None, area=HOAN_KIEM, age=timedelta(minutes=5))
    near = await reports.add(north(150), area=CUA_NAM)  # measured: the ward does not matter
    await reports.add(None, area=CUA_NAM)
    await reports.add(north(1000), area=HOAN_KIEM)  # measured, and too far
    found = await suggest(db, report)
    assert codes(found) == [near.code, unlocated.code]
    assert [s.distance_m for s in found] == [150, None]


async def test_nearest_first_then_newest_and_at_most_limit(db):
    reports = Reports(db)
    report = await reports.add()
    far = await reports.add(north(200))
    nearest = await reports.add(east(20))
    older = await reports.add(north(-80), age=timedelta(days=3))
    newer = await reports.add(east(80), age=timedelta(days=1))
    middle = await reports.add(north(120))
    extra = [await reports.add(north(230 + n)) for n in range(3)]
    found = await suggest(db, report)
    assert codes(found) == [nearest.code, newer.code, older.code, middle.code, far.code]
    assert [s.distance_m for s in found] == [20, 80, 80, 120, 200]
    assert codes(await suggest(db, report, limit=2)) == [nearest.code, newer.code]
    assert len(await suggest(db, report, limit=20)) == 8 and extra
    assert await suggest(db, report, limit=0) == []

"""Possible duplicates of a report, for the moderators deciding whether to mark it one.

A candidate is an open report of the same category filed in the `days` days before `now`, within
`radius_m` metres (haversine) when both have coordinates, else in the same area (`area_code`);
nearest first, those without a distance after them, newer before older.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, false, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from complaints.deadlines import OPEN
from storage.models import Report

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180  # along a meridian, about 111,195 m
DESCRIPTION_CHARS = 60
# The bounding box is widened a little so that it always contains the haversine circle (a great
# circle is shorter than the parallel between the same two points).
BOX_MARGIN = 1.01


@dataclass(frozen=True)
class Suggestion:
    report_id: int
    code: str
    description: str  # the first 60 characters, on one line
    distance_m: int | None  # None: compared by area, one of the two has no coordinates
    state: str
    created_at: datetime


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _has_point(report: Report) -> bool:
    return report.latitude is not None and report.longitude is not None


def _box(latitude: float, longitude: float, radius_m: float):
    """A SQL condition: the point lies in a box around (latitude, longitude) that holds the circle."""
    dlat = radius_m / METRES_PER_DEGREE * BOX_MARGIN
    conditions = [Report.latitude.between(latitude - dlat, latitude + dlat)]
    # Degrees of longitude shrink with the cosine of the latitude: take the box's poleward edge.
    poleward = min(abs(latitude) + dlat, 90.0)
    cos = math.cos(math.radians(poleward))
    if cos > 1e-6:
        dlon = radius_m / (METRES_PER_DEGREE * cos) * BOX_MARGIN
        if longitude - dlon >= -180 and longitude + dlon <= 180:  # else near the antimeridian: no bound
            conditions.append(Report.longitude.between(longitude - dlon, longitude + dlon))
    return and_(Report.latitude.is_not(None), Report.longitude.is_not(None), *conditions)


def _one_line(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    return " ".join((text or "").split())[:limit].rstrip()


async def suggestions(session: AsyncSession, report: Report, *, now: datetime, radius_m: float = 250,
                      days: int = 30, limit: int = 5) -> list[Suggestion]:
    """Open reports of the report's category filed in the `days` days before `now` that may be the
    same problem: within `radius_m` metres when both have coordinates, else in the same area.
    Nearest first, then those compared by area; newer before older; at most `limit`."""
    if limit <= 0:
        return []
    located = _has_point(report)
    same_area = Report.area_code == report.area_code if report.area_code is not None else false()
    no_point = or_(Report.latitude.is_(None), Report.longitude.is_(None))
    if located:
        place = or_(_box(report.latitude, report.longitude, radius_m), and_(no_point, same_area))
    else:
        place = same_area
    conditions = [Report.category_code == report.category_code, Report.state.in_(OPEN),
                  Report.created_at >= now - timedelta(days=days), Report.created_at <= now, place]
    if report.id is not None:  # not itself, nor what is already marked its duplicate
        conditions += [Report.id != report.id,
                       or_(Report.duplicate_of_id.is_(None), Report.duplicate_of_id != report.id)]
    query = select(Report.id, Report.code, Report.description, Report.latitude, Report.longitude,
                   Report.state, Report.created_at).where(*conditions)

    found: list[Suggestion] = []
    for row in (await session.execute(query)).all():
        distance = None
        if located and row.latitude is not None and row.longitude is not None:
            metres = haversine_m(report.latitude, report.longitude, row.latitude, row.longitude)
            if metres > radius_m:
                continue  # in a corner of the box, outside the circle
            distance = round(metres)
        found.append(Suggestion(row.id, row.code, _one_line(row.description), distance, row.state, row.created_at))
    # By the distance shown (whole metres): equally near ones newest first.
    found.sort(key=lambda s: (s.distance_m is None, s.distance_m or 0, -s.created_at.timestamp(), -s.report_id))
    return found[:limit]

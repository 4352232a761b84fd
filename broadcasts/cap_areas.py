"""Which wards a CAP message's polygons and circles reach, with shapely (GEOS).

The boundaries of the areas at the most detailed level that has boundaries (an area whose
children have boundaries of their own is left to them) are loaded once into an `AreaIndex`: an
STRtree of their shapes. A CAP shape is tested only against the areas whose bounding boxes meet
it, by GEOS's indexed predicates, so a 2,400-vertex band costs about what a 2,400-vertex blob
does instead of (boundary edges x CAP edges) segment tests.

Semantics (tests/test_cap.py defines them): a polygon reaches an area when they meet, touching
included; a circle reaches an area when its centre is inside or an edge lies within its radius
(kilometres on a local flat projection, fine at a city's scale: the circle is drawn as a
128-sided polygon in degrees, an ellipse at its latitude). Invalid shapes (a "bow-tie" polygon
crossing itself) are repaired with `make_valid`, never refused for that.

The index is kept per database and rebuilt when the areas' boundaries change (`loa areas import`
in another process included): a cheap fingerprint of the table (count, sum of the bounding boxes
and of the boundaries' lengths) is read before each use. Building and matching are CPU work: the
caller runs them in a worker thread (see `broadcasts.cap.take`).
"""

from __future__ import annotations

import json
import math
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable

import shapely
from shapely.geometry import Point, Polygon, shape
from shapely.strtree import STRtree
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Area

# Kilometres per degree, for circles (a local flat projection: fine at a city's scale).
KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON = 111.320
CIRCLE_QUAD_SEGMENTS = 32  # 128 sides: the polygon stays within 0.03 % of the radius


def _valid(geometry):
    return geometry if geometry.is_valid else shapely.make_valid(geometry)


def polygon_shape(ring: Iterable[tuple[float, float]]):
    """A CAP polygon ((lat, lon) pairs) as a valid shapely geometry in (lon, lat)."""
    return _valid(Polygon([(lon, lat) for lat, lon in ring]))


def circle_shape(lat: float, lon: float, radius_km: float):
    """A CAP circle as a shapely geometry in (lon, lat): a point for radius 0, else an ellipse."""
    if radius_km <= 0:
        return Point(lon, lat)
    dlat = radius_km / KM_PER_DEGREE_LAT
    dlon = radius_km / max(1e-9, KM_PER_DEGREE_LON * math.cos(math.radians(lat)))
    # The inscribed polygon would fall short between its corners: push them out a little.
    grow = 1 / math.cos(math.pi / (4 * CIRCLE_QUAD_SEGMENTS))
    unit = Point(0, 0).buffer(grow, quad_segs=CIRCLE_QUAD_SEGMENTS)
    return shapely.transform(unit, lambda xy: xy * (dlon, dlat) + (lon, lat))


def boundary_shape(geometry: dict):
    """A GeoJSON Polygon or MultiPolygon boundary as a valid shapely geometry."""
    return _valid(shape(geometry))


class AreaIndex:
    """The areas' boundaries in an STRtree, to find the areas a shape meets."""

    def __init__(self, areas: Iterable[tuple[str, dict]]) -> None:
        """`areas`: (code, GeoJSON geometry) pairs."""
        codes, shapes = [], []
        for code, geometry in areas:
            codes.append(code)
            shapes.append(boundary_shape(geometry))
        self.codes = codes
        self.shapes = shapes
        shapely.prepare(shapes)
        self.tree = STRtree(shapes)

    def meeting(self, shapes: Iterable) -> set[str]:
        """The codes of the areas that meet any of the shapes."""
        found: set[str] = set()
        for geometry in shapes:
            if geometry.is_empty:
                continue
            found.update(self.codes[i] for i in self.tree.query(geometry, predicate="intersects"))
        return found


async def _fingerprint(session: AsyncSession) -> tuple:
    bounded = Area.boundary.is_not(None)
    row = (await session.execute(select(
        func.count(), func.sum(Area.min_lon + Area.min_lat + Area.max_lon + Area.max_lat),
        func.sum(func.length(Area.boundary))).where(bounded))).one()
    parents = (await session.execute(select(func.count(Area.parent_code.distinct())).where(
        bounded, Area.parent_code.is_not(None)))).scalar_one()
    return (*row, parents)


async def _rows(session: AsyncSession) -> list[tuple[str, str]]:
    """(code, boundary JSON) of the areas with a boundary whose children have none."""
    left_to_children = select(Area.parent_code).where(Area.boundary.is_not(None), Area.parent_code.is_not(None))
    rows = await session.execute(select(Area.code, Area.boundary).where(
        Area.boundary.is_not(None), Area.code.not_in(left_to_children)).order_by(Area.code))
    return [(code, boundary) for code, boundary in rows]


def build(rows: list[tuple[str, str]]) -> AreaIndex:
    """The index of `_rows`' answer (CPU work: in a worker thread)."""
    return AreaIndex((code, json.loads(boundary)) for code, boundary in rows)


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Database → (fingerprint, AreaIndex)
_cache_lock = threading.Lock()


async def area_index(db, offload: Callable[..., Awaitable]) -> AreaIndex:
    """The index of `db`'s areas, built once and again when they change; `offload(function,
    *args)` runs the building off the event loop."""
    async with db.read() as session:
        fingerprint = await _fingerprint(session)
        with _cache_lock:
            cached = _cache.get(db)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        rows = await _rows(session)
    index = await offload(build, rows)
    with _cache_lock:
        _cache[db] = (fingerprint, index)
    return index

"""Simplify a folder of GeoJSON boundaries into one small FeatureCollection, keeping shared borders shared.

Neighbouring units share their borders vertex for vertex in the source data. Simplifying each
polygon on its own would move a shared border differently on each side and open gaps and
overlaps between neighbours, so this works on the borders themselves, as TopoJSON does: every
ring is cut into arcs at the junctions (vertices where the rings passing through stop sharing
their neighbours), each distinct arc is simplified once with Douglas-Peucker (end points kept,
distances in metres on a local projection) and both neighbours get that same arc back.
Coordinates are then rounded. An arc whose simplification would flatten a ring into fewer than
three corners is redone with a smaller tolerance, for every ring that uses it.

Then it checks its work against the input: for a representative interior point of each
lowest-level unit's original polygon (its centroid if inside, otherwise the middle of the
widest span across the polygon at the centroid's latitude), which unit the simplified data
resolves it to, with `storage.areas.AreaLocator`; and, for random points in the data's bounding
box, how often original and simplified data give the same answer.

    .venv/bin/python scripts/simplify_boundaries.py INPUT_FOLDER OUTPUT_FILE [--tolerance 15] [--precision 5]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.areas import AreaLocator  # noqa: E402

Point = tuple[float, float]
METRES_PER_DEGREE = 111_320.0


def read_features(folder: Path) -> list[dict]:
    """Every feature of every `*.geojson` in the folder: code, properties, polygons (rings of points)."""
    features = []
    for path in sorted(folder.glob("*.geojson")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for feature in data["features"] if data.get("type") == "FeatureCollection" else [data]:
            properties = feature.get("properties") or {}
            code = str(feature.get("id") or properties.get("code"))
            geometry = feature["geometry"]
            polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            features.append({
                "code": code,
                "properties": properties,
                "polygons": [[clean_ring(ring) for ring in polygon] for polygon in polygons],
            })
    return features


def clean_ring(ring: list) -> list[Point]:
    """The ring's points without the closing repeat and without consecutive duplicates."""
    points: list[Point] = []
    for x, y, *_ in ring:
        if not points or points[-1] != (x, y):
            points.append((x, y))
    while len(points) > 1 and points[0] == points[-1]:
        points.pop()
    return points


# ---------------------------------------------------------------- topology


def find_junctions(rings: list[list[Point]]) -> set[Point]:
    """Vertices where the rings through them do not all have the same two neighbours."""
    neighbours: dict[Point, set] = defaultdict(set)
    seen_in_ring: dict[Point, int] = defaultdict(int)
    junctions: set[Point] = set()
    for ring in rings:
        n = len(ring)
        for i, point in enumerate(ring):
            pair = tuple(sorted((ring[i - 1], ring[(i + 1) % n])))
            neighbours[point].add(pair)
        for point in set(ring):
            seen_in_ring[point] += 1
        if len(set(ring)) != n:  # a ring touching itself
            counts: dict[Point, int] = defaultdict(int)
            for point in ring:
                counts[point] += 1
            junctions.update(p for p, c in counts.items() if c > 1)
    junctions.update(p for p, pairs in neighbours.items() if len(pairs) > 1)
    return junctions


def split_ring(ring: list[Point], junctions: set[Point]) -> list[tuple[Point, ...]]:
    """The ring as arcs from junction to junction (one closed arc when it has none)."""
    cuts = [i for i, point in enumerate(ring) if point in junctions]
    if not cuts:
        start = ring.index(min(ring))  # the same start for every ring with this outline
        rotated = ring[start:] + ring[:start]
        return [tuple(rotated + [rotated[0]])]
    rotated = ring[cuts[0]:] + ring[:cuts[0]]
    cuts = [i - cuts[0] for i in cuts] + [len(ring)]
    rotated.append(rotated[0])
    return [tuple(rotated[a:b + 1]) for a, b in zip(cuts, cuts[1:])]


def canonical(arc: tuple[Point, ...]) -> tuple[tuple[Point, ...], bool]:
    """The arc in the direction both its rings agree on, and whether `arc` runs the other way."""
    backwards = arc[::-1]
    if arc[0] == arc[-1]:  # closed: same start, pick the direction by the second point
        return (arc, False) if arc[1] <= backwards[1] else (backwards, True)
    return (arc, False) if arc <= backwards else (backwards, True)


# ---------------------------------------------------------------- simplification


def douglas_peucker(points: list[tuple[float, float]], tolerance: float) -> list[int]:
    """Indices of the points Douglas-Peucker keeps (first and last always)."""
    keep = {0, len(points) - 1}
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        (ax, ay), (bx, by) = points[first], points[last]
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        farthest, distance = first, -1.0
        for i in range(first + 1, last):
            px, py = points[i]
            d = (abs(dy * (px - ax) - dx * (py - ay)) / length) if length else math.hypot(px - ax, py - ay)
            if d > distance:
                farthest, distance = i, d
        if distance > tolerance:
            keep.add(farthest)
            stack.append((first, farthest))
            stack.append((farthest, last))
    return sorted(keep)


def simplify_arc(arc: tuple[Point, ...], tolerance: float, scale_x: float) -> tuple[Point, ...]:
    metres = [(x * scale_x, y * METRES_PER_DEGREE) for x, y in arc]
    if arc[0] == arc[-1] and len(arc) > 3:
        # A closed arc: cut it at the point farthest from its start, keep both halves' shapes.
        far = max(range(len(arc)), key=lambda i: math.dist(metres[0], metres[i]))
        first = douglas_peucker(metres[:far + 1], tolerance)
        second = [far + i for i in douglas_peucker(metres[far:], tolerance)]
        return tuple(arc[i] for i in first[:-1] + second)
    return tuple(arc[i] for i in douglas_peucker(metres, tolerance))


def rounded(points, precision: int) -> tuple[Point, ...]:
    out: list[Point] = []
    for x, y in points:
        point = (round(x, precision), round(y, precision))
        if not out or out[-1] != point:
            out.append(point)
    return tuple(out)


def _orientation(a: Point, b: Point, c: Point) -> int:
    value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (value > 0) - (value < 0)


def _between(a: Point, b: Point, c: Point) -> bool:
    """c, collinear with a-b, lies within the segment's box."""
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])


def segments_clash(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Segments a-b and c-d meet anywhere but at an end point they share."""
    shared = {a, b} & {c, d}
    if shared:
        if len(shared) == 2:
            return True  # the same segment twice
        (point,) = shared
        far1 = b if a == point else a
        far2 = d if c == point else c
        return (_orientation(point, far1, far2) == 0
                and (far1[0] - point[0]) * (far2[0] - point[0]) + (far1[1] - point[1]) * (far2[1] - point[1]) > 0)
    o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
    o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
    if o1 != o2 and o3 != o4 and 0 not in (o1, o2, o3, o4):
        return True
    return ((o1 == 0 and _between(a, b, c)) or (o2 == 0 and _between(a, b, d))
            or (o3 == 0 and _between(c, d, a)) or (o4 == 0 and _between(c, d, b)))


def clashing_arcs(arcs: dict[tuple, tuple[Point, ...]], cell: float = 0.002) -> set[tuple[tuple, tuple]]:
    """The pairs of arcs (or an arc twice) with segments that cross or touch where they should not."""
    segments = [(a, b, key) for key, points in arcs.items() for a, b in zip(points, points[1:])]
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, (a, b, _) in enumerate(segments):
        for i in range(int(min(a[0], b[0]) // cell), int(max(a[0], b[0]) // cell) + 1):
            for j in range(int(min(a[1], b[1]) // cell), int(max(a[1], b[1]) // cell) + 1):
                buckets[i, j].append(index)
    clashing: set[tuple[tuple, tuple]] = set()
    checked: set[tuple[int, int]] = set()
    for members in buckets.values():
        for n, first in enumerate(members):
            for second in members[n + 1:]:
                pair = (first, second)
                if pair in checked:
                    continue
                checked.add(pair)
                a, b, key1 = segments[first]
                c, d, key2 = segments[second]
                if segments_clash(a, b, c, d):
                    clashing.add((key1, key2) if key1 <= key2 else (key2, key1))
    return clashing


def simplify(features: list[dict], tolerance: float, precision: int) -> list[dict]:
    rings = [ring for feature in features for polygon in feature["polygons"] for ring in polygon]
    latitudes = [y for ring in rings for _, y in ring]
    scale_x = METRES_PER_DEGREE * math.cos(math.radians((min(latitudes) + max(latitudes)) / 2))
    junctions = find_junctions(rings)
    ring_arcs = [[canonical(arc) for arc in split_ring(ring, junctions)] for ring in rings]
    tolerances = {key: tolerance for arcs in ring_arcs for key, _ in arcs}
    precisions = dict.fromkeys(tolerances, precision)
    simplified: dict[tuple, tuple[Point, ...]] = {}

    def arc_points(key: tuple) -> tuple[Point, ...]:
        if key not in simplified:
            simplified[key] = rounded(simplify_arc(key, tolerances[key], scale_x), precisions[key])
        return simplified[key]

    def assemble(arcs) -> list[list[float]]:
        points: list[Point] = []
        for key, backwards in arcs:
            part = arc_points(key)
            part = part[::-1] if backwards else part
            points.extend(part if not points else part[1:])
        return [list(point) for point in points]

    # Arcs that flatten a ring into fewer than three corners, or that cross or touch another arc
    # they did not cross in the input (a unit's outline crosses its parent's when the two come
    # from different surveys), are simplified again with half the tolerance, and once that is
    # below a metre with one more decimal (a corridor a metre wide needs it), until none does.
    inherent = clashing_arcs({key: key for key in tolerances})
    for _ in range(30):
        flat = {key for arcs in ring_arcs if len(assemble(arcs)) < 4 for key, _ in arcs}
        clashes = clashing_arcs({key: arc_points(key) for key in tolerances}) - inherent
        culprits = {key for key in flat.union(*clashes) if tolerances[key] > 0.01 or precisions[key] < 7}
        if not culprits:
            break
        for key in culprits:
            if tolerances[key] < 1:
                precisions[key] = min(7, precisions[key] + 1)
            tolerances[key] /= 2
            simplified.pop(key)
    else:
        print(f"warning: {len(culprits)} arcs still cross another one", file=sys.stderr)
    out = []
    position = 0
    for feature in features:
        polygons = []
        for polygon in feature["polygons"]:
            polygons.append([assemble(ring_arcs[position + i]) for i in range(len(polygon))])
            position += len(polygon)
        out.append({**feature, "polygons": polygons})
    return out


# ---------------------------------------------------------------- output


def geometry(polygons) -> dict:
    def closed(ring):
        ring = [list(p) for p in ring]
        return ring if ring[0] == ring[-1] else ring + [ring[0]]

    return {"type": "MultiPolygon", "coordinates": [[closed(r) for r in polygon] for polygon in polygons]}


def ring_area(ring) -> float:
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]))) / 2


def write_collection(features: list[dict], path: Path) -> None:
    lines = []
    for feature in sorted(features, key=lambda f: (len(f["code"]), f["code"])):  # "01" before its wards
        properties = {"code": feature["code"]}
        for key in ("name", "fullName"):
            if key in feature["properties"]:
                properties[key] = feature["properties"][key]
        lines.append(json.dumps({"type": "Feature", "id": feature["code"], "properties": properties,
                                 "geometry": geometry(feature["polygons"])},
                                ensure_ascii=False, separators=(",", ":")))
    path.write_text('{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n",
                    encoding="utf-8")


# ---------------------------------------------------------------- checking


def centroid(ring: list[Point]) -> Point:
    a = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        cross = x1 * y2 - x2 * y1
        a += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if not a:
        return ring[0]
    return cx / (3 * a), cy / (3 * a)


def representative_point(feature: dict) -> Point:
    """The centroid of the largest polygon if inside it, else the middle of its widest span there."""
    polygon = max(feature["polygons"], key=lambda p: ring_area(p[0]))
    x, y = centroid(polygon[0])
    locator = AreaLocator([("x", 0, geometry([polygon]))])
    if locator.locate(y, x) == "x":
        return x, y
    crossings = []
    for ring in polygon:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
            if (y1 > y) != (y2 > y):
                crossings.append(x1 + (y - y1) * (x2 - x1) / (y2 - y1))
    crossings.sort()
    spans = list(zip(crossings[0::2], crossings[1::2]))
    left, right = max(spans, key=lambda span: span[1] - span[0])
    return (left + right) / 2, y


def levels(features: list[dict]) -> dict[str, int]:
    """Each unit's depth in the tree the boundaries draw: a unit contains the smaller units whose
    representative point falls inside it; the units that contain none are the deepest."""
    areas = {f["code"]: sum(ring_area(p[0]) for p in f["polygons"]) for f in features}
    points = {f["code"]: representative_point(f) for f in features}
    single = {f["code"]: AreaLocator([(f["code"], 0, geometry(f["polygons"]))]) for f in features}
    inside = {code: [other for other, (x, y) in points.items()
                     if areas[other] < areas[code] and locator.locate(y, x) == code]
              for code, locator in single.items()}
    heights: dict[str, int] = {}

    def height(code: str) -> int:
        if code not in heights:
            heights[code] = 1 + max(map(height, inside[code]), default=-1)
        return heights[code]

    top = max(map(height, inside))
    return {code: top - height(code) for code in inside}


def check(original: list[dict], simplified: list[dict], samples: int, seed: int = 1) -> dict:
    depth = levels(original)
    before = AreaLocator((f["code"], depth[f["code"]], geometry(f["polygons"])) for f in original)
    after = AreaLocator((f["code"], depth[f["code"]], geometry(f["polygons"])) for f in simplified)
    deepest = max(depth.values())
    units = [f for f in original if depth[f["code"]] == deepest]
    misses = []
    for feature in units:
        x, y = representative_point(feature)
        if before.locate(y, x) != feature["code"] or after.locate(y, x) != feature["code"]:
            misses.append((feature["code"], (round(y, 6), round(x, 6)), after.locate(y, x)))
    rng = random.Random(seed)
    agree = inside = 0
    for _ in range(samples):
        lon = rng.uniform(before.min_x, before.max_x)
        lat = rng.uniform(before.min_y, before.max_y)
        expected = before.locate(lat, lon)
        inside += expected is not None
        agree += expected == after.locate(lat, lon)
    return {"units": len(units), "resolved": len(units) - len(misses), "misses": misses,
            "samples": samples, "inside": inside, "agree": agree}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="folder of *.geojson files (one or more features each)")
    parser.add_argument("output", type=Path, help="the FeatureCollection to write")
    parser.add_argument("--tolerance", type=float, default=15.0, help="Douglas-Peucker tolerance in metres")
    parser.add_argument("--precision", type=int, default=5, help="decimals kept in coordinates")
    parser.add_argument("--samples", type=int, default=20_000, help="random points for the check")
    args = parser.parse_args()

    original = read_features(args.input)
    simplified = simplify(original, args.tolerance, args.precision)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_collection(simplified, args.output)

    count = lambda fs: sum(len(r) for f in fs for p in f["polygons"] for r in p)  # noqa: E731
    source_bytes = sum(p.stat().st_size for p in args.input.glob("*.geojson"))
    print(f"{len(original)} features: {count(original):,} vertices, {source_bytes:,} bytes -> "
          f"{count(simplified):,} vertices, {args.output.stat().st_size:,} bytes "
          f"(tolerance {args.tolerance:g} m, {args.precision} decimals)")
    result = check(original, simplified, args.samples)
    print(f"representative points of the {result['units']} lowest-level units resolved to their own unit: "
          f"{result['resolved']}/{result['units']}")
    for code, point, got in result["misses"]:
        print(f"  {code} at {point}: resolved to {got}")
    print(f"random points in the bounding box: {result['agree']:,}/{result['samples']:,} "
          f"({100 * result['agree'] / result['samples']:.2f}%) resolved alike; "
          f"{result['inside']:,} of them inside a unit")


if __name__ == "__main__":
    main()

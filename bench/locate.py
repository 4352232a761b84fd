"""Benchmark: resolving a shared location to its ward with storage.areas.AreaLocator.

Imports the shipped units and Hanoi's boundaries into a fresh SQLite database in a temporary
folder, loads the locator from it, then looks up random points (uniform in Hanoi's bounding box,
fixed seed): every point once per round, ``--rounds`` rounds, medians reported. For scale, the
same lookups go through a plain scan (every boundary, deepest first, bounding-box check then a
ray cast over all its edges) on a sample of the points.  Not part of the test suite.

    .venv/bin/python bench/locate.py [--n 100000] [--rounds 5] [--scan 2000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from storage import areas, migrate  # noqa: E402
from storage.areas import AreaLocator  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Area  # noqa: E402


class Scan:
    """The baseline: no index, every area's rings tested in turn."""

    def __init__(self, rows: list[tuple[str, int, dict]]) -> None:
        self.areas = []
        for code, _level, geometry in sorted(rows, key=lambda row: -row[1]):
            polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            rings = [ring for polygon in polygons for ring in polygon]
            xs = [p[0] for ring in rings for p in ring]
            ys = [p[1] for ring in rings for p in ring]
            self.areas.append((code, min(xs), min(ys), max(xs), max(ys), polygons))

    def locate(self, lat: float, lon: float) -> str | None:
        for code, x0, y0, x1, y1, polygons in self.areas:
            if not (x0 <= lon <= x1 and y0 <= lat <= y1):
                continue
            for polygon in polygons:
                inside = False
                for ring in polygon:
                    for (ax, ay), (bx, by) in zip(ring, ring[1:]):
                        if (ay > lat) != (by > lat) and lon < ax + (lat - ay) * (bx - ax) / (by - ay):
                            inside = not inside
                if inside:
                    return code
        return None


async def prepare(folder: Path) -> tuple[AreaLocator, list, dict]:
    db = Database(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    try:
        await migrate.upgrade(db)
        started = time.perf_counter()
        counts = await areas.import_units(db, areas.SHIPPED)
        imported = time.perf_counter() - started
        async with db.read() as session:
            started = time.perf_counter()
            locator = await AreaLocator.load(session)
            loaded = time.perf_counter() - started
            rows = await session.execute(
                select(Area.code, Area.level, Area.boundary).where(Area.boundary.is_not(None)))
            rows = [(code, level, json.loads(boundary)) for code, level, boundary in rows]
            hanoi = await areas.get(session, "01")
        box = (hanoi.min_lat, hanoi.max_lat, hanoi.min_lon, hanoi.max_lon)
        return locator, rows, {"import_s": imported, "load_s": loaded, "units": counts.created,
                               "boundaries": counts.with_boundary, "box": box}
    finally:
        await db.dispose()


def rate(locate, points) -> tuple[float, list]:
    started = time.perf_counter()
    found = [locate(lat, lon) for lat, lon in points]
    return len(points) / (time.perf_counter() - started), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="points per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scan", type=int, default=2_000, help="points for the plain-scan baseline")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        locator, rows, info = asyncio.run(prepare(Path(folder)))
    lat0, lat1, lon0, lon1 = info["box"]
    rng = random.Random(args.seed)
    points = [(rng.uniform(lat0, lat1), rng.uniform(lon0, lon1)) for _ in range(args.n)]
    scan = Scan(rows)

    found = [locator.locate(lat, lon) for lat, lon in points]
    in_wards = [point for point, code in zip(points, found) if code and code != "01"]
    indexed, in_ward, scanned = [], [], []
    for _ in range(args.rounds):
        per_second, again = rate(locator.locate, points)
        indexed.append(per_second)
        in_ward.append(rate(locator.locate, in_wards)[0])
        per_second, baseline = rate(scan.locate, points[:args.scan])
        scanned.append(per_second)
        assert again == found and baseline == found[:args.scan], "the scan and the locator disagree"
    outcome = Counter("ward" if code and code != "01" else "province only" if code else "outside"
                      for code in found)
    result = {
        "python": platform.python_version(), "points": args.n, "rounds": args.rounds,
        "units": info["units"], "boundaries": info["boundaries"],
        "vertices": sum(len(ring) for _, _, g in rows for polygon in g["coordinates"] for ring in polygon),
        "import_s": round(info["import_s"], 3), "load_s": round(info["load_s"], 3),
        "locator_per_s": round(statistics.median(indexed)), "scan_per_s": round(statistics.median(scanned)),
        "locator_in_ward_per_s": round(statistics.median(in_ward)),
        "rounds_locator": [round(r) for r in indexed], "rounds_in_ward": [round(r) for r in in_ward],
        "rounds_scan": [round(r) for r in scanned],
        "outcome": dict(outcome),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"Locating a shared location: {args.n:,} random points in Hanoi's bounding box x {args.rounds} rounds")
    print(f"Python {result['python']}; {result['units']:,} units, {result['boundaries']} boundaries, "
          f"{result['vertices']:,} vertices")
    print(f"import into SQLite {info['import_s']:.2f} s; AreaLocator.load {info['load_s'] * 1000:.0f} ms")
    print()
    print(f"{'variant':<40}{'look-ups/s':>12}{'µs / look-up':>16}")
    for name, figure in (("AreaLocator, all points", result["locator_per_s"]),
                         (f"AreaLocator, {len(in_wards):,} points in a ward", result["locator_in_ward_per_s"]),
                         (f"plain scan, first {args.scan:,} points", result["scan_per_s"])):
        print(f"{name:<40}{figure:>12,}{1e6 / figure:>16.1f}")
    print(f"{'ratio locator / scan (all points)':<40}{result['locator_per_s'] / result['scan_per_s']:>11,.0f}x")
    print()
    print("medians of the rounds; per round (look-ups/s):")
    print("  all points  " + "  ".join(f"{r:,}" for r in result["rounds_locator"]))
    print("  in a ward   " + "  ".join(f"{r:,}" for r in result["rounds_in_ward"]))
    print("  plain scan  " + "  ".join(f"{r:,}" for r in result["rounds_scan"]))
    print("points: " + ", ".join(f"{outcome[k]:,} {k}" for k in ("ward", "province only", "outside")))


if __name__ == "__main__":
    main()

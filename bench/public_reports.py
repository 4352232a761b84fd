"""Benchmark: the public portal's report pages and GeoJSON at N reports (web/public_reports.py,
complaints/public.py), and the home page with its map of open reports.

Each database gets the N reports of bench/dashboard_queue.py (same seed, same spread over Hà Nội's
wards, states, categories and 120 days), a third of them "Public with photo", a third "Public
without photo", a third private. The portal's routes run on an aiohttp server in this process, as
`loa run` builds them; an aiohttp client asks each address --runs times after --warmup unmeasured
runs, without If-None-Match (every answer is built), and once more with the ETag it got (304).
p50, p95 and max of the round trip, in ms.

    .venv/bin/python bench/public_reports.py [--n 100000] [--db sqlite|postgresql|both] [--runs 30]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.dashboard_queue import load, percentile  # noqa: E402
from bench.webhook import open_database  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from web import context, portal, public, public_agencies, public_alerts, public_home  # noqa: E402
from web.keys import DB, SETTINGS  # noqa: E402


def addresses(ward: str, code: str) -> list[str]:
    return ["/public/reports", "/public/reports?page=50", "/public/reports?page=5000&per_page=20",
            "/public/reports?state=open", "/public/reports?state=closed&category=roads",
            "/public/reports?area=01", f"/public/reports?area={ward}", "/public/reports?period=30&state=done",
            f"/public/reports/{code}", "/public/reports.geojson", "/public/reports.geojson?limit=1000&state=open",
            "/public/"]


async def measure(kind: str, args) -> list[tuple[str, dict]]:
    with tempfile.TemporaryDirectory() as folder:
        db, cleanup = await open_database(kind, Path(folder))
        try:
            loaded = await load(db, args.n, args.seed)
            async with db.transaction() as session:
                await session.execute(text("UPDATE reports SET publicity = CASE id % 3 WHEN 0 THEN 'photo' "
                                           "WHEN 1 THEN 'place' ELSE 'ward' END"))
            if not db.is_sqlite:
                async with db.engine.connect() as connection:
                    connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await connection.execute(text("VACUUM ANALYZE reports"))
            print(f"{kind}: {args.n} reports loaded in {loaded['load_s']:.1f} s", file=sys.stderr)
            settings = Settings(_env_file=None, DATABASE_URL=db.url, LOA_MEDIA_DIR=str(Path(folder) / "media"))
            app = web.Application()
            app[SETTINGS], app[DB] = settings, db
            for module in (context, public, portal, public_home, public_agencies, public_alerts):
                module.setup(app)
            results = []
            async with TestClient(TestServer(app)) as client:
                for path in addresses(loaded["wards"][3], loaded["code"]):
                    times, etag, status, size = [], None, 0, 0
                    for position in range(args.warmup + args.runs):
                        started = time.perf_counter()
                        response = await client.get(path)
                        body = await response.read()
                        elapsed = (time.perf_counter() - started) * 1000
                        status, size, etag = response.status, len(body), response.headers.get("ETag")
                        if position >= args.warmup:
                            times.append(elapsed)
                    cached = []
                    for _ in range(args.runs):
                        started = time.perf_counter()
                        response = await client.get(path, headers={"If-None-Match": etag or ""})
                        await response.read()
                        cached.append((time.perf_counter() - started) * 1000)
                    results.append((path, {"status": status, "bytes": size, "p50": percentile(times, 0.5),
                                           "p95": percentile(times, 0.95), "max": max(times),
                                           "304_p95": percentile(cached, 0.95), "304": response.status}))
            return results
        finally:
            await cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.n} reports, {args.runs} runs")
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        print(f"\n{kind}\n| address | status | bytes | p50 ms | p95 ms | max ms | 304 p95 ms |")
        print("|---|---|---|---|---|---|---|")
        for path, r in asyncio.run(measure(kind, args)):
            print(f"| `{path}` | {r['status']} | {r['bytes']:,} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | "
                  f"{r['304_p95']:.1f} ({r['304']}) |")


if __name__ == "__main__":
    main()

"""Benchmark: the dashboard's triage queue at N reports: the query (complaints.queue.page()) and
the whole page (GET /dashboard/queue, as a signed-in moderator's browser asks for it).

Each database gets N reports bulk-loaded, the same ones on both (fixed seed): spread over the
shipped Hà Nội wards (the shipped areas are imported, as `loa areas import` does), the 8
categories the migrations seed (weighted), the agencies of storage/seed/agencies-hanoi.toml
(loaded with complaints.agencies, as `loa agencies load` does; a held report goes to an agency
serving its category), 60% open, filed over the last 120 days, 3% urgent; 12% of the open ones are
past their deadline and flagged overdue, as the deadline job does; 1% have no deadline; 85% have
coordinates, in 21.00-21.08 N, 105.78-105.90 E; 40% have 1 to 3 photos.

Then `page()` runs for each combination of filter and sort of `combinations()`, --runs times after
--warmup unmeasured runs, each in a read session of its own (`db.read()`, as a page handler has
it), the session included in the time. p50, p95 and max in ms, and how many reports matched.
--explain prints the plan of every statement of one run of each combination.

Then the same combinations as pages: the dashboard's routes on an aiohttp server in this process
(web.dashboard and web.context, with the settings and the database, as `loa run` builds them),
asked by an aiohttp client holding a moderator's session cookie. "Server" time runs from the
request reaching the route to the response being ready (a middleware around the handler: the
session and role look-up, every query, the template), "round trip" is the client's.

SQLite: a migrated file in a temporary folder, without ANALYZE (as Loa runs it). PostgreSQL: a
schema of its own (`loa_bench_<random>`, migrated, VACUUM ANALYZEd after the load as autovacuum
would after so many inserts) on BENCH_DATABASE_URL, dropped at the end.

    .venv/bin/python bench/dashboard_queue.py [--n 100000] [--db sqlite|postgresql|both] [--runs 50] [--explain]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert, select, text  # noqa: E402

from bench.triage import code_of  # noqa: E402
from bench.webhook import open_database  # noqa: E402
from complaints import agencies, queue  # noqa: E402
from complaints.deadlines import OPEN  # noqa: E402
from complaints.queue import QueueFilter  # noqa: E402
from complaints.reports import searchable  # noqa: E402
from storage.models import Agency, Area, Category, Report, ReportPhoto  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)
HANOI = "01"
AGENCIES_FILE = ROOT / "storage" / "seed" / "agencies-hanoi.toml"
BOX = (21.00, 21.08, 105.78, 105.90)  # lat min, lat max, lon min, lon max
DAYS_BACK = 120
WITH_POINT = 0.85
WITH_PHOTOS = 0.40
URGENT = 0.03
OVERDUE = 0.12  # of the open reports
CHUNK = 5_000
CATEGORY_WEIGHTS = {"roads": 25, "sanitation": 20, "urban_order": 15, "infrastructure": 15, "security": 8,
                    "food_safety": 5, "health": 4, "other": 8}
STATE_WEIGHTS = {"submitted": 15, "assigned": 15, "in_progress": 22, "reopened": 8,
                 "resolved": 12, "closed": 18, "rejected": 5, "duplicate": 5}
HELD = {"assigned", "in_progress", "reopened", "resolved", "closed"}  # states with an agency
PHRASES = ["Ổ gà lớn giữa đường", "Đèn tín hiệu giao lộ không hoạt động", "Rác thải tập kết sai nơi quy định",
           "Cống thoát nước bốc mùi", "Lấn chiếm vỉa hè bán hàng", "Đèn chiếu sáng hỏng cả dãy phố",
           "Cây xanh nghiêng có nguy cơ đổ", "Tụ tập gây rối ban đêm", "Cơ sở bán đồ ăn mất vệ sinh",
           "Tiếng ồn từ công trình ban đêm"]
DETAILS = ["gần ngã tư, đã nhiều ngày chưa được xử lý", "ảnh hưởng đến người đi đường, đề nghị kiểm tra",
           "người dân đã phản ánh nhiều lần", "đặc biệt nguy hiểm vào buổi tối"]
STREETS = ["phố Huế", "Đinh Tiên Hoàng", "Hàng Bài", "Trần Hưng Đạo", "Lê Duẩn", "Kim Mã", "Láng Hạ"]


def combinations(ward: str, agency: str, code: str) -> list[tuple[str, QueueFilter, str, int]]:
    """(label, filter, sort, page) of the views the dashboard shows most."""
    open_states = tuple(OPEN)
    return [
        ("everything, newest first", QueueFilter(), "-created", 1),
        ("everything, page 200", QueueFilter(), "-created", 200),
        ("state=submitted (moderators' inbox)", QueueFilter(states=("submitted",)), "-created", 1),
        ("open states, due soonest", QueueFilter(states=open_states), "due", 1),
        (f"agency={agency} + its open states", QueueFilter(states=("assigned", "in_progress", "reopened"),
                                                           agency=agency), "-created", 1),
        ("category=roads", QueueFilter(category="roads"), "-created", 1),
        ("area=01 (Hà Nội and its wards)", QueueFilter(area=HANOI), "-created", 1),
        (f"area={ward} (one ward), updated", QueueFilter(area=ward), "-updated", 1),
        ("overdue, due soonest", QueueFilter(overdue=True), "due", 1),
        ("urgent + open, newest first", QueueFilter(states=open_states, priority="urgent"), "-created", 1),
        ("everything, urgent first", QueueFilter(), "-priority", 1),
        ("everything, by code", QueueFilter(), "code", 1),
        ("everything, due soonest (the 'All' tab)", QueueFilter(), "due", 1),
        ("everything, by state", QueueFilter(), "state", 1),
        ("search words 'đèn hỏng'", QueueFilter(search="đèn hỏng"), "-created", 1),
        ("search words 'den hong' (no diacritics)", QueueFilter(search="den hong"), "-created", 1),
        ("search word 'rac'", QueueFilter(search="rac"), "-created", 1),
        (f"search code {code.lower()}", QueueFilter(search=code.lower()), "-created", 1),
    ]


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# ============================================================================ the data


def make_reports(n: int, seed: int, wards: list[str], by_category: dict[str, list[str]],
                 resolve_days: dict[str, int]) -> tuple[list[dict], list[dict]]:
    """N rows of `reports` (ids 1..N in filing order) and their `report_photos` rows."""
    rng = random.Random(seed)
    categories, category_weights = zip(*CATEGORY_WEIGHTS.items())
    states, state_weights = zip(*STATE_WEIGHTS.items())
    lat0, lat1, lon0, lon1 = BOX
    ages = sorted((rng.uniform(0, DAYS_BACK * 86400) for _ in range(n)), reverse=True)
    rows, photos = [], []
    for i, age in enumerate(ages):
        category = rng.choices(categories, category_weights)[0]
        state = rng.choices(states, state_weights)[0]
        created = NOW - timedelta(seconds=age)
        latitude = longitude = None
        if rng.random() < WITH_POINT:
            latitude, longitude = round(rng.uniform(lat0, lat1), 6), round(rng.uniform(lon0, lon1), 6)
        priority = "urgent" if rng.random() < URGENT else "normal"
        # Deadlines: a finished report's was the category's working days after filing (urgent: hours);
        # an open report's is ahead, but for OVERDUE of them, flagged as the deadline job does; 1% none.
        overdue_at = None
        if state not in OPEN:
            hours = rng.uniform(4, 48) if priority == "urgent" else resolve_days.get(category, 10) * 24 * 7 / 5
            due = created + timedelta(hours=hours)
        elif rng.random() < OVERDUE:
            due = overdue_at = NOW - timedelta(hours=rng.uniform(1, 20 * 24))
        else:
            due = NOW + timedelta(hours=rng.uniform(1, 20 * 24))
        if rng.random() < 0.01:
            due = overdue_at = None
        resolved_at = closed_at = rating = None
        if state in ("resolved", "closed"):
            resolved_at = min(NOW, created + timedelta(hours=rng.expovariate(1 / 150)))
        if state == "closed":
            closed_at = min(NOW, resolved_at + timedelta(hours=rng.uniform(1, 96)))
            rating = rng.choice(["satisfied", "acceptable", "not_satisfied", None])
        updated = min(NOW, max(created, closed_at or resolved_at or created + timedelta(hours=rng.uniform(0, 72))))
        rows.append(dict(
            id=i + 1, code=code_of(i), resident_id=None, reporter_name=f"Người báo {i}", category_code=category,
            description=f"{rng.choice(PHRASES)} {rng.choice(DETAILS)} (số {rng.randint(1, 300)})",
            latitude=latitude, longitude=longitude, area_code=rng.choice(wards),
            address_text=f"Số {rng.randint(1, 200)} {rng.choice(STREETS)}" if rng.random() < 0.7 else None,
            state=state, priority=priority, due_at=due, created_at=created, updated_at=updated,
            agency_code=rng.choice(by_category[category]) if state in HELD else None,
            take_up_due_at=created + timedelta(days=1), overdue_at=overdue_at,
            resolved_at=resolved_at, closed_at=closed_at, rating=rating, reopened_count=int(state == "reopened"),
        ))
        rows[-1]["search_text"] = searchable(rows[-1]["description"], rows[-1]["address_text"])
        if rng.random() < WITH_PHOTOS:
            for position in range(rng.randint(1, 3)):
                photos.append(dict(report_id=i + 1, position=position, telegram_file_id=f"file-{i}-{position}",
                                   file_unique_id=f"u-{i}-{position}", sha256=None, width=1280, height=960))
    return rows, photos


async def load(db, n: int, seed: int) -> dict:
    started = time.perf_counter()
    async with db.transaction() as session:
        await agencies.load(session, agencies.read_config(AGENCIES_FILE))
    async with db.read() as session:
        wards = list((await session.execute(
            select(Area.code).where(Area.parent_code == HANOI).order_by(Area.code))).scalars())
        resolve_days = dict((await session.execute(select(Category.code, Category.resolve_days))).all())
        held = list((await session.execute(select(Agency.code, Agency.category_codes).order_by(Agency.code))).all())
    by_category = {c: [code for code, served in held if not served or c in served] for c in CATEGORY_WEIGHTS}
    rows, photos = make_reports(n, seed, wards, by_category, resolve_days)
    async with db.transaction() as session:
        for start in range(0, len(rows), CHUNK):
            await session.execute(insert(Report.__table__), rows[start:start + CHUNK])
        for start in range(0, len(photos), CHUNK):
            await session.execute(insert(ReportPhoto.__table__), photos[start:start + CHUNK])
    if not db.is_sqlite:
        async with db.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("reports", "report_photos", "areas", "agencies"):
                await connection.execute(text(f"VACUUM ANALYZE {table}"))
    agency_counts: dict[str, int] = {}
    for row in rows:
        if row["agency_code"]:
            agency_counts[row["agency_code"]] = agency_counts.get(row["agency_code"], 0) + 1
    return {"load_s": time.perf_counter() - started, "wards": wards, "agencies": len(held),
            "photos": len(photos),
            "busiest_agency": max(agency_counts, key=agency_counts.get),
            "open_share": sum(r["state"] in OPEN for r in rows) / len(rows),
            "overdue": sum(r["overdue_at"] is not None for r in rows),
            "with_point_share": sum(r["latitude"] is not None for r in rows) / len(rows),
            "code": rows[len(rows) // 2]["code"]}


# ============================================================================ the measurements


class Statements:
    """The statements one page() runs, for EXPLAIN."""

    def __init__(self, db) -> None:
        self.seen: list[tuple[str, object]] | None = None
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        if self.seen is not None and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.seen.append((statement, parameters))


async def explain(db, statements: Statements, f: QueueFilter, sort: str, page: int) -> list[str]:
    statements.seen = []
    async with db.read() as session:
        await queue.page(session, f, sort=sort, page=page)
    seen, statements.seen = statements.seen, None
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) "
    lines = []
    async with db.engine.connect() as connection:
        for number, (statement, parameters) in enumerate(seen, 1):
            lines.append(f"query {number}: {' '.join(statement.split())[:160]}")
            plan = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
            lines += ["  " + (f"{row[0]}:{row[1]} {row[-1]}" if db.is_sqlite else row[0]) for row in plan]
    return lines


async def time_page(db, f: QueueFilter, sort: str, page: int, runs: int, warmup: int) -> dict:
    times, result = [], None
    for position in range(warmup + runs):
        started = time.perf_counter()
        async with db.read() as session:
            result = await queue.page(session, f, sort=sort, page=page)
        elapsed = time.perf_counter() - started
        if position >= warmup:
            times.append(elapsed * 1000)
    return {"p50": percentile(times, 0.50), "p95": percentile(times, 0.95), "max": max(times),
            "total": result.total, "rows": len(result.rows)}


def page_query(f: QueueFilter, sort: str, page: int) -> dict[str, str]:
    """The query string the dashboard's links give for this filter."""
    params = {"state": ",".join(f.states) or "all", "category": f.category, "area": f.area, "agency": f.agency,
              "priority": f.priority, "overdue": "1" if f.overdue else None, "q": f.search, "sort": sort,
              "page": str(page)}
    return {key: value for key, value in params.items() if value}


async def time_pages(db, combos: list, runs: int, warmup: int) -> list[tuple[str, dict]]:
    import aiohttp
    from aiohttp import web

    from kernel.settings import Settings
    from storage import logins, roles
    from web import context, dashboard
    from web.keys import DB, SETTINGS

    spent: list[float] = []

    @web.middleware
    async def timer(request, handler):
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            spent.append((time.perf_counter() - started) * 1000)

    app = web.Application(middlewares=[timer])
    app[SETTINGS] = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="1:bench", DATABASE_URL=db.url)
    app[DB] = db
    context.setup(app)
    dashboard.setup(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/dashboard/queue"
    async with db.transaction() as session:
        await roles.grant(session, 1, "moderator")
        opened = await logins.open_session(session, 1, name="Bench", language="vi")
    results = []
    try:
        async with aiohttp.ClientSession(cookies={"loa_session": opened.cookie},
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            for label, f, sort, page in combos:
                print(f"  page: {label}...", file=sys.stderr, flush=True)
                server, trips, size = [], [], 0
                for position in range(warmup + runs):
                    started = time.perf_counter()
                    async with client.get(base, params=page_query(f, sort, page), allow_redirects=False) as answer:
                        body = await answer.read()
                        assert answer.status == 200, (answer.status, body[:300])
                    if position >= warmup:
                        trips.append((time.perf_counter() - started) * 1000)
                        server.append(spent[-1])
                        size = len(body)
                results.append((f"{label} [{sort}]", {"p50": percentile(server, 0.50), "p95": percentile(server, 0.95),
                                                       "max": max(server), "trip_p95": percentile(trips, 0.95),
                                                       "kb": size / 1024}))
    finally:
        await runner.cleanup()
    return results


async def measure(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        print(f"  {kind}: migrating and importing the areas...", file=sys.stderr, flush=True)
        db, cleanup = await open_database(kind, Path(folder))
        try:
            print(f"  {kind}: loading {args.n:,} reports...", file=sys.stderr, flush=True)
            info = await load(db, args.n, args.seed)
            async with db.read() as session:
                info["server"] = (sqlite3.sqlite_version if db.is_sqlite else
                                  (await session.execute(text("SHOW server_version"))).scalar().split()[0])
            statements = Statements(db)
            info["results"], info["plans"] = [], []
            for label, f, sort, page in combinations(info["wards"][7], info["busiest_agency"], info["code"]):
                print(f"  {kind}: {label}...", file=sys.stderr, flush=True)
                timed = await time_page(db, f, sort, page, args.runs, args.warmup)
                info["results"].append((f"{label} [{sort}]", timed))
                if args.explain:
                    info["plans"].append((label, await explain(db, statements, f, sort, page)))
            info["pages"] = await time_pages(db, combinations(info["wards"][7], info["busiest_agency"], info["code"]),
                                             args.runs, args.warmup)
            return info
        finally:
            await cleanup()


def print_table(results: dict, args) -> None:
    print(f"Triage queue, complaints.queue.page(per_page=50): {args.n:,} reports, {args.runs} runs each "
          f"after {args.warmup} warm-up")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs; "
          + ", ".join(f"{p} {version(p)}" for p in ("SQLAlchemy", "aiosqlite", "asyncpg")))
    for kind, info in results.items():
        server = f"SQLite {info['server']}" if kind == "sqlite" else f"PostgreSQL {info['server']}"
        print(f"\n{server}: {len(info['wards'])} wards, {info['agencies']} agencies, {info['open_share']:.0%} open, "
              f"{info['overdue']:,} overdue, {info['with_point_share']:.0%} with coordinates, "
              f"{info['photos']:,} photos; bulk load {info['load_s']:.1f} s")
        print(f"{'filter [sort]':<62}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'matched':>9}")
        for label, r in info["results"]:
            print(f"{label:<62}{r['p50']:>8.2f}{r['p95']:>8.2f}{r['max']:>8.2f}{r['total']:>9,}")
        print(f"\n{server}: the page, GET /dashboard/queue (50 rows)")
        print(f"{'filter [sort]':<62}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'trip p95':>9}{'KiB':>6}")
        for label, r in info["pages"]:
            print(f"{label:<62}{r['p50']:>8.2f}{r['p95']:>8.2f}{r['max']:>8.2f}{r['trip_p95']:>9.2f}{r['kb']:>6.0f}")
        for label, lines in info["plans"]:
            print(f"\n  plans, {label}:")
            for line in lines:
                print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="reports loaded")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per combination")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs before them")
    parser.add_argument("--explain", action="store_true", help="show the plan of each statement")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = {}
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        results[kind] = asyncio.run(measure(kind, args))
    print_table(results, args)


if __name__ == "__main__":
    main()

"""Benchmark: the triage queries staff run on every card and on /stats, at N reports.

complaints.duplicates.suggestions(session, report, now=...) is what the "Duplicate of…" menu of a
report's card lists; complaints.stats.agency_stats(session, now=..., days=90) is /stats (and the
dashboard). Each database gets N reports bulk-loaded, the same ones on both (fixed seed): spread
over Hanoi's 126 wards (the shipped areas are imported, as `loa areas import` does), the 8
categories the migrations seed (weighted: roads and sanitation the most), 60% open, filed over
the last 120 days; 90% have coordinates, uniform in 21.00-21.08 N, 105.78-105.90 E, and their
ward is the one `AreaLocator` finds there; the others get a random ward. All but the
submitted, rejected and duplicate ones are held by one of 15 agencies.

Then: `suggestions` for --calls random reports (the same ones on both databases), each in its
own read session with the report loaded first (as the card handler has it), only the call timed;
`agency_stats` --stats-calls times. p50, p95 and max in ms. With --indexes, each candidate index
is created in turn (inside the benchmark's own database: nothing is migrated), the suggestions
timed again, and the index dropped.

SQLite: a migrated file in a temporary folder, without ANALYZE (as Loa runs it). PostgreSQL: a
schema of its own (`loa_bench_<random>`, migrated, ANALYZEd after the load as autovacuum would)
on BENCH_DATABASE_URL, dropped at the end.

    .venv/bin/python bench/triage.py [--n 100000] [--db sqlite|postgresql|both] [--json]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert, select, text  # noqa: E402

from complaints import duplicates, stats  # noqa: E402
from complaints.deadlines import OPEN  # noqa: E402
from storage import areas, migrate  # noqa: E402
from storage.areas import AreaLocator  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Agency, Area, Category, Report  # noqa: E402

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=timezone.utc)
HANOI = "01"
BOX = (21.00, 21.08, 105.78, 105.90)  # lat min, lat max, lon min, lon max
DAYS_BACK = 120
WITHOUT_POINT = 0.10
AGENCIES = 15
CHUNK = 5_000
# Relative weights of the seeded categories.
CATEGORY_WEIGHTS = {"roads": 25, "sanitation": 20, "urban_order": 15, "infrastructure": 15, "security": 8,
                    "food_safety": 5, "health": 4, "other": 8}
# 60% open (complaints.deadlines.OPEN), 40% done.
STATE_WEIGHTS = {"submitted": 15, "assigned": 15, "in_progress": 22, "reopened": 8,
                 "resolved": 12, "closed": 18, "rejected": 5, "duplicate": 5}
RATINGS = (("satisfied", 60), ("acceptable", 25), ("not_satisfied", 15))
PHRASES = {
    "roads": ["Ổ gà lớn giữa đường", "Đèn tín hiệu giao lộ không hoạt động", "Mặt đường lún sụt sau mưa"],
    "sanitation": ["Rác thải tập kết sai nơi quy định", "Cống thoát nước bốc mùi", "Ngập úng kéo dài"],
    "urban_order": ["Lấn chiếm vỉa hè bán hàng", "Quảng cáo rao vặt dán trên cột điện", "Xây dựng không phép"],
    "infrastructure": ["Đèn chiếu sáng hỏng cả dãy phố", "Cây xanh nghiêng có nguy cơ đổ", "Mất nước sinh hoạt"],
    "security": ["Tụ tập gây rối ban đêm", "Trộm cắp xe máy trong ngõ", "Đua xe trái phép"],
    "food_safety": ["Cơ sở bán đồ ăn mất vệ sinh", "Thực phẩm không rõ nguồn gốc", "Quán ăn xả thải ra đường"],
    "health": ["Nhiều muỗi, nguy cơ sốt xuất huyết", "Vứt rác y tế bừa bãi", "Ổ dịch chưa được xử lý"],
    "other": ["Tiếng ồn từ công trình ban đêm", "Chó thả rông không rọ mõm", "Vấn đề khác cần chính quyền biết"],
}
DETAILS = ["gần ngã tư, đã nhiều ngày chưa được xử lý", "ảnh hưởng đến người đi đường, đề nghị kiểm tra",
           "người dân đã phản ánh nhiều lần", "đặc biệt nguy hiểm vào buổi tối",
           "mong cơ quan chức năng sớm giải quyết"]
# Candidate indexes tried with --indexes: name -> columns of reports.
INDEXES = {
    "category_created": ("category_code", "created_at"),
    "category_latitude": ("category_code", "latitude"),
    "category_state_created": ("category_code", "state", "created_at"),
}
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def code_of(i: int) -> str:
    digits = []
    for _ in range(5):
        i, rest = divmod(i, len(CODE_ALPHABET))
        digits.append(CODE_ALPHABET[rest])
    return "PA-" + "".join(reversed(digits))


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {"calls": len(ms), "p50_ms": round(percentile(ms, 0.50), 3), "p95_ms": round(percentile(ms, 0.95), 3),
            "max_ms": round(max(ms), 3), "mean_ms": round(sum(ms) / len(ms), 3)}


# ============================================================================ the data


def make_reports(n: int, seed: int, wards: list[str], locator: AreaLocator, resolve_days: dict[str, int]) -> list[dict]:
    """N rows of `reports` (all keys in every row), ids 1..N in filing order."""
    rng = random.Random(seed)
    ward_set = set(wards)
    categories, category_weights = zip(*CATEGORY_WEIGHTS.items())
    states, state_weights = zip(*STATE_WEIGHTS.items())
    ratings, rating_weights = zip(*RATINGS)
    lat0, lat1, lon0, lon1 = BOX
    ages = sorted((rng.uniform(0, DAYS_BACK * 86400) for _ in range(n)), reverse=True)
    rows = []
    for i, age in enumerate(ages):
        category = rng.choices(categories, category_weights)[0]
        state = rng.choices(states, state_weights)[0]
        created = NOW - timedelta(seconds=age)
        latitude = longitude = None
        ward = None
        if rng.random() >= WITHOUT_POINT:
            latitude, longitude = round(rng.uniform(lat0, lat1), 6), round(rng.uniform(lon0, lon1), 6)
            ward = locator.locate(latitude, longitude)
        if ward not in ward_set:
            ward = rng.choice(wards)
        agency = None
        if state not in ("submitted", "rejected", "duplicate"):
            agency = f"AG{(wards.index(ward) * 8 + categories.index(category)) % AGENCIES + 1:02d}"
        due = created + timedelta(days=resolve_days.get(category, 10) * 7 / 5)
        resolved_at = closed_at = rating = rated_at = None
        if state == "resolved" or (state == "closed" and rng.random() < 0.8):
            resolved_at = min(NOW, created + timedelta(hours=rng.expovariate(1 / 150)))
        if state == "closed":
            closed_at = min(NOW, (resolved_at or created) + timedelta(hours=rng.uniform(1, 96)))
            if resolved_at is not None and rng.random() < 0.5:
                rating, rated_at = rng.choices(ratings, rating_weights)[0], closed_at
        description = f"{rng.choice(PHRASES[category])} {rng.choice(DETAILS)} (số {rng.randint(1, 300)})"
        rows.append(dict(
            id=i + 1, code=code_of(i), resident_id=None, reporter_name=None, category_code=category,
            description=description, latitude=latitude, longitude=longitude, area_code=ward, address_text=None,
            state=state, priority="urgent" if rng.random() < 0.03 else "normal", due_at=due,
            created_at=created, updated_at=closed_at or resolved_at or created, agency_code=agency,
            duplicate_of_id=rng.randint(1, i) if state == "duplicate" and i > 0 else None,
            take_up_due_at=created + timedelta(days=1), resolved_at=resolved_at, closed_at=closed_at,
            rating=rating, rated_at=rated_at, reopened_count=1 if state == "reopened" else 0,
        ))
    return rows


async def load(db: Database, rows: list[dict]) -> float:
    started = time.perf_counter()
    async with db.transaction() as session:
        await session.execute(insert(Agency.__table__), [
            dict(code=f"AG{k:02d}", name_vi=f"Ban quản lý số {k}", name_en=f"Management board {k}",
                 telegram_chat_id=-1_000_000_000 - k, area_codes=[], category_codes=[], active=True)
            for k in range(1, AGENCIES + 1)])
        for start in range(0, len(rows), CHUNK):
            await session.execute(insert(Report.__table__), rows[start:start + CHUNK])
    if not db.is_sqlite:
        async with db.engine.begin() as connection:
            await connection.execute(text("ANALYZE reports"))
            await connection.execute(text("ANALYZE agencies"))
            await connection.execute(text("ANALYZE areas"))
    return time.perf_counter() - started


# ============================================================================ the measurements


class LastQuery:
    """The statement and parameters of the last SELECT of `suggestions`, for EXPLAIN."""

    def __init__(self, db: Database) -> None:
        self.statement: str | None = None
        self.parameters = None
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith("SELECT REPORTS.ID, REPORTS.CODE, REPORTS.DESCRIPTION"):
            self.statement, self.parameters = statement, parameters


async def explain(db: Database, last: LastQuery, report_id: int) -> list[str]:
    async with db.read() as session:
        report = await session.get(Report, report_id)
        await duplicates.suggestions(session, report, now=NOW)
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
    async with db.engine.connect() as connection:
        rows = (await connection.exec_driver_sql(prefix + last.statement, last.parameters)).all()
    return [row[-1] if db.is_sqlite else row[0] for row in rows]


async def time_suggestions(db: Database, ids: list[int], warmup: list[int]) -> dict:
    times, found = [], []
    for position, report_id in enumerate(warmup + ids):
        async with db.read() as session:
            report = await session.get(Report, report_id)
            started = time.perf_counter()
            result = await duplicates.suggestions(session, report, now=NOW)
            elapsed = time.perf_counter() - started
        if position >= len(warmup):
            times.append(elapsed)
            found.append(len(result))
    return summary(times) | {"mean_found": round(sum(found) / len(found), 2)}


async def time_agency_stats(db: Database, calls: int, warmup: int = 2) -> dict:
    times, rows = [], None
    for position in range(warmup + calls):
        async with db.read() as session:
            started = time.perf_counter()
            result = await stats.agency_stats(session, now=NOW, days=90)
            elapsed = time.perf_counter() - started
        if position >= warmup:
            times.append(elapsed)
            rows = result
    return summary(times) | {"agencies": len(rows), "received": sum(r.received for r in rows),
                             "resolved": sum(r.resolved for r in rows)}


async def measure(db: Database, args, name: str) -> dict:
    result: dict = {"database": name}
    await migrate.upgrade(db)
    started = time.perf_counter()
    await areas.import_units(db, areas.SHIPPED)
    result["areas_import_s"] = round(time.perf_counter() - started, 3)
    async with db.read() as session:
        wards = list((await session.execute(
            select(Area.code).where(Area.parent_code == HANOI).order_by(Area.code))).scalars())
        locator = await AreaLocator.load(session)
        resolve_days = dict((await session.execute(select(Category.code, Category.resolve_days))).all())
        if not db.is_sqlite:
            result["server"] = (await session.execute(text("SHOW server_version"))).scalar().split()[0]
    rows = make_reports(args.n, args.seed, wards, locator, resolve_days)
    result["wards"] = len(wards)
    result["open_share"] = round(sum(r["state"] in OPEN for r in rows) / len(rows), 3)
    result["with_point_share"] = round(sum(r["latitude"] is not None for r in rows) / len(rows), 3)
    result["wards_used"] = len({r["area_code"] for r in rows})
    print(f"  {name}: loading {args.n:,} reports...", file=sys.stderr, flush=True)
    result["load_s"] = round(await load(db, rows), 2)
    del rows
    print(f"  {name}: loaded in {result['load_s']} s", file=sys.stderr, flush=True)

    rng = random.Random(args.seed + 1)
    picked = rng.sample(range(1, args.n + 1), min(args.n, args.calls + 20))
    ids, warmup = picked[:args.calls], picked[args.calls:]
    last = LastQuery(db)
    async with db.read() as session:
        points = dict((await session.execute(
            select(Report.id, Report.latitude.is_not(None)).where(Report.id.in_(ids)))).all())
    located = next(i for i in ids if points[i])
    unlocated = next((i for i in ids if not points[i]), None)

    variants = [("none", None)] + [(key, INDEXES[key]) for key in args.indexes]
    result["suggestions"] = {}
    result["plans"] = {}
    for key, columns in variants:
        index = f"ix_bench_reports_{key}"
        if columns:
            async with db.engine.begin() as connection:
                await connection.execute(text(f"CREATE INDEX {index} ON reports ({', '.join(columns)})"))
                if not db.is_sqlite:
                    await connection.execute(text("ANALYZE reports"))
        print(f"  {name}: suggestions, index {key}...", file=sys.stderr, flush=True)
        timed = await time_suggestions(db, ids, warmup)
        result["suggestions"][key] = timed | {"columns": list(columns) if columns else []}
        if args.explain:
            result["plans"][key] = {"located": await explain(db, last, located)}
            if unlocated is not None:
                result["plans"][key]["without point"] = await explain(db, last, unlocated)
        if columns:
            async with db.engine.begin() as connection:
                await connection.execute(text(f"DROP INDEX {index}"))
    print(f"  {name}: agency_stats...", file=sys.stderr, flush=True)
    result["agency_stats"] = await time_agency_stats(db, args.stats_calls)
    return result


async def on_sqlite(args) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        try:
            result = await measure(db, args, "sqlite")
        finally:
            await db.dispose()
    result["server"] = sqlite3.sqlite_version
    return result


async def on_postgresql(args) -> dict:
    schema = f"loa_bench_{uuid.uuid4().hex[:10]}"
    admin = Database(PG_URL)
    async with admin.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(PG_URL, schema=schema)
    try:
        return await measure(db, args, "postgresql")
    finally:
        await db.dispose()
        async with admin.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


# ============================================================================ output


def label(result: dict, key: str) -> str:
    columns = result["suggestions"][key]["columns"]
    return "suggestions" if not columns else f"  + index ({', '.join(columns)})"


def print_table(results: dict, args) -> None:
    setup = results["setup"]
    print(f"Triage queries: {args.n:,} reports; suggestions x {args.calls}, agency_stats(days=90) x "
          f"{args.stats_calls}")
    print(f"Python {setup['python']}, {setup['cpus']} CPUs; " + ", ".join(f"{p} {v}" for p, v in
                                                                       setup["versions"].items()))
    for name in ("sqlite", "postgresql"):
        if name not in results:
            continue
        r = results[name]
        server = f"SQLite {r['server']}" if name == "sqlite" else f"PostgreSQL {r['server']}"
        print(f"\n{server}: {r['wards_used']} of {r['wards']} wards used, {r['open_share']:.0%} open, "
              f"{r['with_point_share']:.0%} with coordinates; bulk load {r['load_s']:.1f} s "
              f"(areas import {r['areas_import_s']:.2f} s)")
        print(f"{'query':<50}{'calls':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'found':>7}")
        for key, s in r["suggestions"].items():
            print(f"{label(r, key):<50}{s['calls']:>6}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}{s['max_ms']:>9.2f}"
                  f"{s['mean_found']:>7.2f}")
        a = r["agency_stats"]
        print(f"{'agency_stats(days=90)':<50}{a['calls']:>6}{a['p50_ms']:>9.1f}{a['p95_ms']:>9.1f}"
              f"{a['max_ms']:>9.1f}")
        print(f"  agency_stats: {a['agencies']} agencies, {a['received']:,} reports received, "
              f"{a['resolved']:,} resolved in the 90 days")
        for key, plans in r.get("plans", {}).items():
            for which, lines in plans.items():
                print(f"  plan, index {key}, a report {'with' if which == 'located' else 'without'} coordinates:")
                for line in lines:
                    print(f"    {line}")
    print("\n'found': suggestions returned per call (at most 5), mean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="reports loaded")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=500, help="suggestions calls timed")
    parser.add_argument("--stats-calls", type=int, default=20, help="agency_stats calls timed")
    parser.add_argument("--indexes", default=",".join(INDEXES),
                        help=f"candidate indexes to try, comma-separated, or 'none' (of: {', '.join(INDEXES)})")
    parser.add_argument("--explain", action="store_true", help="show the query plan of suggestions per index")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()
    args.indexes = [] if args.indexes == "none" else [k.strip() for k in args.indexes.split(",") if k.strip()]
    unknown = [k for k in args.indexes if k not in INDEXES]
    if unknown:
        parser.error(f"unknown index {', '.join(unknown)}; choose from {', '.join(INDEXES)}")

    results: dict = {"setup": {
        "python": platform.python_version(), "cpus": os.cpu_count(), "n": args.n, "calls": args.calls,
        "stats_calls": args.stats_calls, "seed": args.seed, "now": NOW.isoformat(),
        "versions": {p: version(p) for p in ("SQLAlchemy", "aiosqlite", "asyncpg")},
    }}
    if args.db in ("sqlite", "both"):
        results["sqlite"] = asyncio.run(on_sqlite(args))
    if args.db in ("postgresql", "both"):
        results["postgresql"] = asyncio.run(on_postgresql(args))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print_table(results, args)


if __name__ == "__main__":
    main()

"""Benchmark: what one GET /metrics costs with 1,000,000 rows in the outbox.

The bot's HTTP server (web/server.py, as `loa run` builds it; the bot itself is built, not
started) answers /metrics on 127.0.0.1 over a migrated database holding 1,000,000 deliveries, in
two states of the outbox:

  broadcast  all 1,000,000 pending (an alert to a million residents just composed)
  history    10,000 pending, 990,000 done (sent, and a few failed and blocked): the outbox after
             a few large alerts, before retention deletes the old rows

Each state: --warmup scrapes, then --scrapes scrapes one after the other, timed from request to
the last byte (median, p95, max). On PostgreSQL the table is VACUUM ANALYZEd first, as autovacuum
leaves it. To compare with the code before the counters, run the same script with another
checkout first on PYTHONPATH (the script imports whatever `web` and `storage` Python finds):

    .venv/bin/python bench/metrics_scrape.py [--db sqlite|postgresql|both] [--rows 1000000]
    PYTHONPATH=/path/to/older/checkout .venv/bin/python bench/metrics_scrape.py ...

PostgreSQL from TEST_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test), in
a schema of its own, dropped at the end. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.webhook import open_database  # noqa: E402
from bot.app import build_application  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from web import server  # noqa: E402

TOKEN = "123456789:AAEbenchmarkbenchmarkbenchmarkbenchm"


async def fill(db: Database, rows: int) -> None:
    """`rows` pending deliveries of one alert, written by the database itself."""
    now = int(time.time())
    select_rows = (f"SELECT 1, g, g, 'vi', 'pending', 5, {now}, false, 0 FROM generate_series(1, {rows}) AS g"
                   if not db.is_sqlite else
                   f"SELECT 1, g, g, 'vi', 'pending', 5, {now}, 0, 0 FROM (WITH RECURSIVE c(g) AS "
                   f"(SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < {rows}) SELECT g FROM c)")
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO deliveries (alert_id, resident_id, chat_id, language, state, "
                                   f"priority, due_at, deferred, attempts) {select_rows}"))


async def to_history(db: Database, pending: int) -> None:
    now = int(time.time())
    async with db.transaction() as session:
        await session.execute(text(
            "UPDATE deliveries SET state = CASE WHEN id % 100 = 1 THEN 'failed' WHEN id % 100 = 2 THEN 'blocked' "
            f"ELSE 'sent' END, done_at = {now}, attempts = 1 WHERE id > {pending}"))


async def settle(db: Database) -> None:
    if db.is_sqlite:
        async with db.transaction() as session:
            await session.execute(text("ANALYZE"))
        return
    async with db.engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE deliveries"))


async def scrapes(base: str, warmup: int, count: int) -> tuple[list[float], str]:
    times = []
    async with aiohttp.ClientSession() as http:
        for i in range(warmup + count):
            started = time.perf_counter()
            async with http.get(base + "/metrics") as response:
                body = await response.text()
                assert response.status == 200
            if i >= warmup:
                times.append(time.perf_counter() - started)
    depth = next((line for line in body.splitlines() if line.startswith("loa_outbox_depth")), "no depth")
    up = next(line for line in body.splitlines() if line.startswith("loa_database_up"))
    return times, f"{depth}; {up}"


def line(name: str, times: list[float], note: str) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"  {name:<10} median {statistics.median(ordered) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   "
            f"max {ordered[-1] * 1000:8.1f} ms   ({note})")


async def run(kind: str, args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="loa-metrics-"))
    db, cleanup = await open_database(kind, folder)
    try:
        settings = Settings(TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL=db.url, HTTP_PORT=0, LOA_MEDIA_DIR=str(folder))
        application = build_application(settings, db)
        runner = await server.start(server.build(application, settings, db), "127.0.0.1", 0)
        base = server.address(runner)
        try:
            started = time.perf_counter()
            await fill(db, args.rows)
            await settle(db)
            print(f"{kind}: {args.rows:,} outbox rows written in {time.perf_counter() - started:.0f} s")
            times, note = await scrapes(base, args.warmup, args.scrapes)
            print(line("broadcast", times, note))
            await to_history(db, args.pending)
            await settle(db)
            times, note = await scrapes(base, args.warmup, args.scrapes)
            print(line("history", times, note))
        finally:
            await server.stop(runner)
    finally:
        await cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=10_000, help="pending rows left in the history state")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--scrapes", type=int, default=30)
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; code of "
          f"{Path(server.__file__).resolve().parent.parent}")
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        asyncio.run(run(kind, args))


if __name__ == "__main__":
    main()

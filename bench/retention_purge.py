"""Benchmark: retention deleting a million old outbox rows while the event loop keeps running.

A migrated database (SQLite file, or a PostgreSQL schema of its own) holds --rows deliveries of
--alerts alerts, all sent (a few failed or blocked) 40 days ago, and 10,000 pending ones. Then
`complaints.retention.run` deletes what is past LOA_OUTBOX_DAYS (30), in its batches, while a
task measures how late the event loop wakes it every 10 ms (what an update arriving then would
wait). Printed: the rows deleted, the time, the longest batch (one transaction: the select of the
ids, the DELETE ... RETURNING and the tally's upsert), the event loop's worst lateness, and
whether the alerts' figures are the same before and after.

    .venv/bin/python bench/retention_purge.py [--db sqlite|postgresql|both] [--rows 1000000]

PostgreSQL from TEST_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.metrics_scrape import open_database, settle  # noqa: E402
from broadcasts import alerts, outbox  # noqa: E402
from complaints import media, retention  # noqa: E402

DAY = 86_400


def _series(db, count: int) -> str:
    """Rows 1..count in a column `g`."""
    if db.is_sqlite:
        return f"(WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < {count}) SELECT g FROM c)"
    return f"generate_series(1, {count}) AS g"


async def fill(db, rows: int, alerts_count: int, pending: int) -> None:
    old, now = int(time.time()) - 40 * DAY, int(time.time())
    false = "0" if db.is_sqlite else "false"
    columns = "alert_id, resident_id, chat_id, language, state, priority, due_at, deferred, attempts, done_at"
    async with db.transaction() as session:
        for alert in range(1, alerts_count + 1):
            await session.execute(text(
                "INSERT INTO alerts (id, topic_code, severity, urgency, area_codes, texts, kind, source, owner, "
                f"paid_broadcast, status, created_at) VALUES ({alert}, 'weather', 'severe', 'immediate', '[]', "
                f"'{{}}', 'alert', 'cli', '', {false}, 'done', CURRENT_TIMESTAMP)"))
        await session.execute(text(
            f"INSERT INTO deliveries ({columns}) SELECT 1 + g % {alerts_count}, g, g, 'vi', "
            "CASE WHEN g % 100 = 1 THEN 'failed' WHEN g % 100 = 2 THEN 'blocked' ELSE 'sent' END, "
            f"5, {old}, {false}, 1, {old} FROM {_series(db, rows)}"))
        await session.execute(text(
            f"INSERT INTO deliveries ({columns}) SELECT 1, {rows} + g, {rows} + g, 'vi', 'pending', 5, "
            f"{now + DAY}, {false}, 0, NULL FROM {_series(db, pending)}"))


async def run(kind: str, args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="loa-retention-"))
    db, cleanup = await open_database(kind, folder)
    try:
        started = time.perf_counter()
        await fill(db, args.rows, args.alerts, 10_000)
        await settle(db)
        print(f"{kind}: {args.rows:,} old outbox rows of {args.alerts} alerts and 10,000 pending written in "
              f"{time.perf_counter() - started:.0f} s")
        ids = list(range(1, args.alerts + 1))
        async with db.read() as session:
            before = await alerts.progress_of(session, ids)

        batches: list[float] = []
        purge = outbox.purge_done

        async def timed(session, before_s, limit):
            began = time.perf_counter()
            try:
                return await purge(session, before_s, limit)
            finally:
                batches.append(time.perf_counter() - began)

        outbox.purge_done = timed
        late: list[float] = []
        done = asyncio.Event()

        async def watch() -> None:
            while not done.is_set():
                asked = time.perf_counter()
                await asyncio.sleep(0.01)
                late.append(time.perf_counter() - asked - 0.01)

        # As `loa run` does once started (bot/runner.py): what is loaded by then is never collected,
        # so a full collection does not walk the modules (about a second on this machine).
        gc.collect()
        gc.freeze()
        watcher = asyncio.create_task(watch())
        periods = retention.Periods(sign_in=timedelta(days=30), outbox=timedelta(days=30), drafts=timedelta(days=7),
                                    file_ids=timedelta(days=1))
        began = time.perf_counter()
        deleted = await retention.run(db, periods, media.MediaStore(folder / "media"))
        took = time.perf_counter() - began
        done.set()
        await watcher
        outbox.purge_done = purge
        async with db.read() as session:
            after = await alerts.progress_of(session, ids)
            left = (await session.execute(text("SELECT count(*) FROM deliveries"))).scalar_one()
        ordered = sorted(batches)
        if args.verbose:
            print("  batches (ms):", [round(b * 1000) for b in batches],
                  "late > 50 ms:", [round(x * 1000) for x in late if x > 0.05])
        print(f"  deleted {deleted['outbox']:,} rows in {took:.1f} s ({deleted['outbox'] / took:,.0f} rows/s), "
              f"{len(batches)} batches of at most {retention.BATCH:,}: "
              f"median {ordered[len(ordered) // 2] * 1000:.0f} ms, "
              f"longest {ordered[-1] * 1000:.0f} ms; event loop late by at most {max(late) * 1000:.0f} ms "
              f"(p99 {sorted(late)[int(len(late) * 0.99)] * 1000:.0f} ms); {left:,} rows left; "
              f"figures {'the same' if after == before else 'CHANGED'}")
    finally:
        await cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--verbose", action="store_true", help="every batch's time")
    args = parser.parse_args()
    print(f"{platform.node()}: Python {platform.python_version()}")
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        asyncio.run(run(kind, args))


if __name__ == "__main__":
    main()

"""Benchmark: the public portal's pages and feeds at 100,000 reports and 1,000 alerts: p95 of
each page and feed without a cached copy, and requests a second of the feed asked with its ETag.

Each database gets the reports of bench/dashboard_queue.py (`load`: bulk-inserted, filed over the
last 120 days, the shipped agencies, 60% open, ratings on the closed ones) and the alerts of
bench/public_feeds.py (`populate`: through the alert life cycle, over the last 90 days, with
corrections, cancellations, alerts stopped before sending and 100 sent messages each).

The server runs in a second process pinned to one CPU: the public routes of `loa run`
(web/server.py's SETUPS whose module is `context`, `public*` or `portal`, so pages added later
are served too) on an aiohttp application without a bot, the client in this one pinned to the
other. Each page is asked --runs times after --warmup unmeasured ones, on one kept-alive
connection, without If-None-Match (every answer built afresh, but for the report figures of
the home and agencies pages, which web.portal.memo keeps for a minute: the time to compute them,
what the first request of a minute waits for, is measured apart); the report pages (from the
`portal-reports` work) are measured when the server has them. Then the feed with its ETag
from --clients connections for --seconds.

SQLite: a migrated file in a temporary folder. PostgreSQL: a schema of its own on
BENCH_DATABASE_URL, dropped at the end.

    .venv/bin/python bench/public_pages.py [--reports 100000] [--alerts 1000] [--db sqlite|postgresql|both] \
        [--runs 100] [--stats-runs 10]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench import dashboard_queue, public_feeds  # noqa: E402
from bench.child import free_port  # noqa: E402
from bench.public_feeds import cached_load, quantile  # noqa: E402
from bench.webhook import open_database  # noqa: E402
from broadcasts import publish  # noqa: E402
from complaints import stats  # noqa: E402
from storage.models import Alert, Report  # noqa: E402

SENDER = "canhbao@hanoi.example.vn"


def serve(port: int, url: str, schema: str | None) -> None:
    from aiohttp import web

    from kernel.settings import Settings
    from storage.db import Database
    from web import server
    from web.keys import DB, SETTINGS

    async def main() -> None:
        app = web.Application()
        app[SETTINGS] = Settings(_env_file=None, DATABASE_URL=url, LOA_CAP_SENDER=SENDER)
        app[DB] = Database(url, schema=schema)
        for module in server.SETUPS:
            name = module.__name__.rsplit(".", 1)[-1]
            if name == "context" or name.startswith(("public", "portal")):
                module.setup(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    def __init__(self, db, cpu: int | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, __file__, "--serve", str(self.port), "--database-url", db.url]
        if db.schema:
            command += ["--schema", db.schema]
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=pin)
        if not re.search(r"https?://", self.process.stdout.readline()):
            raise SystemExit(f"the server did not start (exit code {self.process.wait()})")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


async def measure(http: aiohttp.ClientSession, paths: list[str], base: str, runs: int, warmup: int,
                  language: str) -> tuple[list[float], int] | None:
    """Round trips of GET base+path (cycling through `paths`), in `language`; None when 404."""
    cookies = {"loa_lang": language}
    times, size = [], 0
    for n in range(warmup + runs):
        started = time.perf_counter()
        async with http.get(base + paths[n % len(paths)], cookies=cookies) as response:
            body = await response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status == 404 and n == 0:
            return None
        assert response.status == 200, (paths[n % len(paths)], response.status)
        if n >= warmup:
            times.append(elapsed)
            size = max(size, len(body))
    return times, size


async def figures(db, runs: int) -> None:
    """What a page waits for when its figures are not in the memo (web.portal.memo, once a minute
    per period): complaints.stats over the period, in a read session of its own, in this process."""
    now = datetime.now(timezone.utc)
    for name, days, compute in (("overall", 30, stats.overall_stats), ("per agency", 30, stats.agency_stats),
                                ("per agency", 90, stats.agency_stats), ("per agency", 365, stats.agency_stats)):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            async with db.read() as session:
                await compute(session, now=now, days=days)
            times.append((time.perf_counter() - started) * 1000)
        print(f"  figures {name}, {days} days, computed (a memo miss): p50 {quantile(times, .5):.0f} ms, "
              f"max {max(times):.0f} ms", flush=True)


async def run(kind: str, args) -> list[tuple[str, float, float, int]]:
    folder = Path(tempfile.mkdtemp(prefix="loa-bench-portal-"))
    db, cleanup = await open_database(kind, folder)
    server = None
    results = []
    try:
        print(f"{kind}:", flush=True)
        started = time.perf_counter()
        await dashboard_queue.load(db, args.reports, seed=11)
        await public_feeds.populate(db, args.alerts)
        print(f"  loaded {args.reports:,} reports and {args.alerts:,} alerts in {time.perf_counter() - started:.0f} s",
              flush=True)
        async with db.read() as session:
            published = [alert.id for alert in (await session.execute(select(Alert))).scalars()
                         if await publish.published_alert(session, alert.id) is not None]
            codes = list((await session.execute(select(Report.code).where(Report.state.not_in(
                ("rejected", "duplicate"))).limit(2000))).scalars())
        rng = random.Random(7)
        alert_pages = [f"/public/alerts/{rng.choice(published)}" for _ in range(50)]
        report_pages = [f"/public/reports/{rng.choice(codes)}" for _ in range(50)]
        pages = [
            ("home", ["/public/"]),
            ("agencies, 30 days", ["/public/agencies"]),
            ("agencies, 90 days", ["/public/agencies?days=90"]),
            ("agencies, 365 days", ["/public/agencies?days=365"]),
            ("alert archive, page 1", ["/public/alerts"]),
            ("alert archive, page 40", ["/public/alerts?page=40"]),
            ("alert archive, severe, page 5", ["/public/alerts?severity=severe&page=5"]),
            ("an alert's page", alert_pages),
            ("Atom feed", ["/public/alerts.atom"]),
            ("a CAP document", [f"{path}.cap" for path in alert_pages]),
            ("reports, page 1", ["/public/reports"]),
            ("reports, page 50", ["/public/reports?page=50"]),
            ("a report's page", report_pages),
            ("reports GeoJSON", ["/public/reports.geojson"]),
        ]
        await figures(db, args.stats_runs)
        cpus = sorted(os.sched_getaffinity(0))
        server = Server(db, cpus[0] if len(cpus) > 1 else None)
        if len(cpus) > 1:
            os.sched_setaffinity(0, {cpus[1]})
        async with aiohttp.ClientSession() as http:
            for name, paths in pages:
                for language in (("vi", "en") if name == "home" else ("vi",)):
                    found = await measure(http, paths, server.url, args.runs, args.warmup, language)
                    label = f"{name} ({language})" if name == "home" else name
                    if found is None:
                        print(f"  {label}: not served", flush=True)
                        continue
                    times, size = found
                    results.append((label, quantile(times, .5), quantile(times, .95), size))
                    print(f"  {label}: p50 {quantile(times, .5):.1f} ms, p95 {quantile(times, .95):.1f} ms, "
                          f"max {max(times):.1f} ms; {size / 1024:.0f} KiB", flush=True)
            async with http.get(f"{server.url}/public/alerts.atom") as response:
                etag = response.headers["ETag"]
        count, times = await cached_load(f"{server.url}/public/alerts.atom", etag, args.clients, args.seconds)
        print(f"  feed with its ETag (304), {args.clients} connections for {args.seconds:g} s: "
              f"{count / args.seconds:,.0f} requests/s, p50 {quantile(times, .5):.1f} ms, "
              f"p95 {quantile(times, .95):.1f} ms", flush=True)
    finally:
        if server is not None:
            server.stop()
        await cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stats-runs", type=int, default=10)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database_url, args.schema)
        return
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        asyncio.run(run(kind, args))


if __name__ == "__main__":
    main()

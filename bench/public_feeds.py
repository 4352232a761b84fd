"""Benchmark: the public feeds (web/public.py) at N alerts: GET /public/alerts.atom and GET
/public/alerts/{id}.cap without a cached copy, and the feed asked again with its ETag (304).

Each database gets N alerts written through the alert life cycle (`broadcasts.lifecycle`: sent,
then finished or stopped), the same on both (fixed seed): sent over the last 90 days, each to 1-3
of the shipped Hà Nội wards (whose boundaries become CAP polygons) or, one in twenty, to the whole
city; 80% in Vietnamese and English, the rest in Vietnamese; 10% corrections and 5% cancellations
of an earlier alert; 5% stopped before anyone received them (never published); each with
DELIVERIES messages in the outbox (sent), so that the "was it received" test reads a table of
realistic size.

The server runs in a second process, pinned to one CPU (`loa run`'s public routes: web/public.py
on an aiohttp application with the settings and the database), the client in this one, pinned
to the other. Times are the client's round trips on one kept-alive connection, --runs of each
after --warmup unmeasured ones:
- the feed, without If-None-Match: the query of the newest 100 published alerts, the Atom XML;
- a CAP document of a random published alert, without If-None-Match: the alert, its areas and
  their boundaries drawn as polygons (cached per boundary in the process after the first use);
- the feed with its ETag, from --clients connections at once for --seconds: requests a second
  and p95; each answers 304 from the version a request read in the last second
  (web.public.VERSION_SECONDS), or with --version-seconds 0 from the version read again from the
  database (one aggregate over the alerts) for every request.

SQLite: a migrated file in a temporary folder. PostgreSQL: a schema of its own on
BENCH_DATABASE_URL, dropped at the end.

    .venv/bin/python bench/public_feeds.py [--alerts 1000] [--db sqlite|postgresql|both] [--runs 200] \
        [--clients 8] [--seconds 5] [--version-seconds 0]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from bench.child import free_port  # noqa: E402
from bench.webhook import open_database  # noqa: E402
from broadcasts import lifecycle, publish  # noqa: E402
from broadcasts.alerts import SENT  # noqa: E402
from broadcasts.lifecycle import By, Way  # noqa: E402
from storage import areas  # noqa: E402
from storage.models import Alert, Delivery  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DELIVERIES = 100  # messages per alert in the outbox
BY = By("cli")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TEXTS = ["Mưa lớn kéo dài, nguy cơ ngập úng tại các tuyến phố trũng.", "Cấm đường để sửa chữa cầu, đi đường khác.",
         "Cảnh báo nắng nóng gay gắt, hạn chế ra ngoài từ 11 giờ đến 15 giờ.", "Mất điện theo kế hoạch để bảo trì."]
ENGLISH = ["Prolonged heavy rain, flooding likely in low streets.", "Road closed for bridge repairs: take another.",
           "Severe heat: stay inside from 11:00 to 15:00.", "Planned power cut for maintenance."]


async def populate(db, count: int, seed: int = 20) -> None:
    rng = random.Random(seed)
    async with db.read() as session:
        wards = [area.code for area in await areas.children(session, "01")]
    made: list[int] = []
    async with db.transaction() as session:
        for n in range(count):
            when = NOW - timedelta(days=90) + timedelta(seconds=n * 90 * 86400 // count)
            pick = rng.randrange(4)
            texts = {"vi": f"{TEXTS[pick]} (#{n})"}
            if rng.random() < 0.8:
                texts["en"] = f"{ENGLISH[pick]} (#{n})"
            codes = ["01"] if rng.random() < 0.05 else rng.sample(wards, rng.randint(1, 3))
            roll = rng.random()
            fields = dict(topic_code=rng.choice(["weather", "traffic", "utilities", "health"]),
                          severity=rng.choice(["extreme", "severe", "moderate", "minor"]), urgency="expected",
                          area_codes=codes, texts=texts, created_at=when)
            if roll < 0.05:  # stopped before anyone received it
                alert = (await lifecycle.send(session, BY, tz=TZ, **fields, send_at=when)).alert
                await lifecycle.stop(session, alert, Way.SENDING, BY, now=when)
            else:
                follow = made and roll < 0.20
                kind = ("correction" if roll < 0.15 else "cancellation") if follow else "alert"
                replaces = rng.choice(made[-20:]) if follow else None
                alert = (await lifecycle.send(session, BY, tz=TZ, **fields, kind=kind, replaces_id=replaces,
                                              composed_at=when)).alert
                lifecycle.finished(alert, when)  # as the sender records it once all is sent
                made.append(alert.id)
                rows = [dict(alert_id=alert.id, resident_id=r, chat_id=r, state=SENT, due_at=int(when.timestamp()),
                             done_at=int(when.timestamp())) for r in range(1, DELIVERIES + 1)]
                await session.execute(insert(Delivery), rows)
    print(f"  {count:,} alerts, {len(made):,} sent; {len(made) * DELIVERIES:,} deliveries", flush=True)


# ---------------------------------------------------------------------------- the server process


def serve(port: int, url: str, schema: str | None, version_seconds: float | None) -> None:
    from aiohttp import web

    from kernel.settings import Settings
    from storage.db import Database
    from web import public
    from web.keys import DB, SETTINGS

    if version_seconds is not None:
        public.VERSION_SECONDS = version_seconds

    async def main() -> None:
        db = Database(url, schema=schema)
        app = web.Application()
        app[SETTINGS] = Settings(_env_file=None, DATABASE_URL=url, LOA_CAP_SENDER="canhbao@hanoi.example.vn")
        app[DB] = db
        public.setup(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    def __init__(self, db, cpu: int | None, version_seconds: float | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, __file__, "--serve", str(self.port), "--database-url", db.url]
        if db.schema:
            command += ["--schema", db.schema]
        if version_seconds is not None:
            command += ["--version-seconds", str(version_seconds)]
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=pin)
        if not re.search(r"https?://", self.process.stdout.readline()):
            raise SystemExit(f"the server did not start (exit code {self.process.wait()})")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# ---------------------------------------------------------------------------- measuring


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(http: aiohttp.ClientSession, url: str, headers: dict | None = None) -> tuple[float, int, int]:
    started = time.perf_counter()
    async with http.get(url, headers=headers or {}) as response:
        body = await response.read()
    return (time.perf_counter() - started) * 1000, response.status, len(body)


async def sequential(http, urls: list[str], warmup: int) -> tuple[list[float], int]:
    for url in urls[:warmup]:
        await timed(http, url)
    times, size = [], 0
    for url in urls[warmup:]:
        ms, status, length = await timed(http, url)
        assert status == 200, (url, status)
        times.append(ms)
        size = max(size, length)
    return times, size


async def cached_load(url: str, etag: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    connector = aiohttp.TCPConnector(limit=clients)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=connector) as http:
        async def client() -> None:
            while time.perf_counter() < deadline:
                ms, status, _ = await timed(http, url, {"If-None-Match": etag})
                assert status == 304, status
                times.append(ms)

        await asyncio.gather(*(client() for _ in range(clients)))
    return len(times), times


async def run(kind: str, args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="loa-bench-public-"))
    db, cleanup = await open_database(kind, folder)
    server = None
    try:
        print(f"{kind}:", flush=True)
        await populate(db, args.alerts)
        cpus = sorted(os.sched_getaffinity(0))
        server = Server(db, cpus[0] if len(cpus) > 1 else None, args.version_seconds)
        if len(cpus) > 1:
            os.sched_setaffinity(0, {cpus[1]})
        async with db.read() as session:
            published = [alert.id for alert in (await session.execute(select(Alert))).scalars()
                         if await publish.published_alert(session, alert.id) is not None]
        rng = random.Random(7)
        feed_url = f"{server.url}/public/alerts.atom"
        async with aiohttp.ClientSession() as http:
            times, size = await sequential(http, [feed_url] * (args.warmup + args.runs), args.warmup)
            print(f"  feed, uncached: p50 {quantile(times, .5):.1f} ms, p95 {quantile(times, .95):.1f} ms, "
                  f"max {max(times):.1f} ms; {size / 1024:.0f} KiB", flush=True)
            urls = [f"{server.url}/public/alerts/{rng.choice(published)}.cap" for _ in range(args.warmup + args.runs)]
            times, size = await sequential(http, urls, args.warmup)
            print(f"  CAP document, uncached: p50 {quantile(times, .5):.1f} ms, p95 {quantile(times, .95):.1f} ms, "
                  f"max {max(times):.1f} ms; largest {size / 1024:.0f} KiB ({len(published):,} published)", flush=True)
            async with http.get(feed_url) as response:
                etag = response.headers["ETag"]
        count, times = await cached_load(feed_url, etag, args.clients, args.seconds)
        print(f"  feed with its ETag (304), {args.clients} connections for {args.seconds:g} s: "
              f"{count / args.seconds:,.0f} requests/s, p50 {quantile(times, .5):.1f} ms, "
              f"p95 {quantile(times, .95):.1f} ms", flush=True)
    finally:
        if server is not None:
            server.stop()
        await cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--version-seconds", type=float,
                        help="how long a 304 may rest on the version read before (web.public.VERSION_SECONDS); "
                             "0: the version is read from the database for every request")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database_url, args.schema, args.version_seconds)
        return
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        asyncio.run(run(kind, args))


if __name__ == "__main__":
    main()

"""Benchmark: webhook intake. Simulated residents talk to the real bot in webhook mode.

The emulator runs in another process (this script with --serve-emulator), pinned to one CPU:
the Bot API, the webhook delivery (setWebhook's max_connections at once, each chat in order)
and the load generator, N simulated residents (SimUser) that each send an update, wait for the
bot's reply, and send the next, alternating /start and `/status CODE` (the code of a report of
their own, filed beforehand). Half the residents are onboarded, so their /start draws the
settings summary; the other half are not, so theirs shows the language question again.

The bot runs in this process, pinned to the other CPU, as `loa run --webhook` runs it
(`bot.runner.serving`: PTB Application, outbox sender, jobs, the HTTP server; logging at INFO to
a file), on a migrated database with the shipped areas imported: a SQLite file, or a schema of
its own on PostgreSQL, dropped at the end, with WEBHOOK_MAX_CONNECTIONS from --max-connections.

A round trip runs from the moment the emulator makes the update (SimUser.send) to the moment
the bot's reply is stored by the emulator's sendMessage. After --warmup seconds, --rounds
windows of --seconds each are measured back to back while the load keeps running; each
window's updates/s counts the round trips completed in it. "bot CPU s/1000" is
`time.process_time()` of the bot process (all its threads: aiosqlite's count) per 1,000 updates
the bot handled in the window.

With --rate R the residents are paced instead: R updates a second in all, at the moments of a
Poisson process (each resident still waits for its reply before sending again), to measure the
latency below saturation. --trace, --py-spy FILE and --profile show where the bot's time goes;
--bare and --uvloop are variants that are not what `loa run` does, to measure what a change would
bring (docs/BENCHMARKS.md); --pool-size and --in-flight set LOA_DB_POOL_SIZE and
LOA_UPDATES_IN_FLIGHT. Every run counts the statements, transactions and pool checkouts per
update (SQLAlchemy's events). `--db both --repeat N` measures the two databases in one run,
alternating, and ends with the ratios of each pair.

    .venv/bin/python bench/webhook.py [--db sqlite|postgresql|both] [--repeat 1] [--residents 200] [--seconds 20]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import logging
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child import ChildProcess, free_port  # noqa: E402

TOKEN = "123456789:BENCHxWebhookxTokenxxxxxxxxxxxxxxxx"
SECRET = "bench-webhook-secret-0123456789"
FIRST_CHAT = 20_000_000  # telegram ids of the simulated residents
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REPLY_TIMEOUT = 10.0


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


# ============================================================================ the emulator process


class Load:
    """The simulated residents, inside the emulator process."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.running = False
        self.tasks: list[asyncio.Task] = []
        self.arrived: dict[int, float] = {}  # chat id -> perf_counter() of the bot's last message there
        self.window: dict | None = None
        self.totals = {"sent": 0, "replies": 0, "timeouts": 0, "wrong": 0, "extra_messages": 0}
        emulator.on_change(self._observe)

    def _observe(self, event: str, chat, message) -> None:
        if event == "message" and message is not None and message.sender.is_bot:
            if chat.id in self.arrived:
                self.totals["extra_messages"] += 1  # a second reply to one update
            self.arrived[chat.id] = time.perf_counter()

    def start(self, residents: list[dict], rate: float | None = None, bare: bool = False) -> None:
        self.running = True
        self.rate = rate
        self.bare = bare  # the bot answers without the database: any reply is right
        sims = [self.emulator.user(first_name=spec["first_name"], id=spec["id"], language_code=spec["language"])
                for spec in residents]
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._resident(sim, spec["code"], index, len(sims)))
                      for index, (sim, spec) in enumerate(zip(sims, residents))]

    async def _resident(self, sim, code: str, index: int, residents: int) -> None:
        texts = ["/start", f"/status {code}"]
        turn = index % 2
        # Paced (--rate): each resident sends at the moments of a Poisson process of rate
        # rate / residents, or as soon as the previous reply came when that is later.
        period = residents / self.rate if self.rate else None
        rng = random.Random(index)
        next_at = time.perf_counter() + (rng.expovariate(1 / period) if period else rng.random() * 0.5)
        while self.running:
            wait = next_at - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            if period:
                next_at += rng.expovariate(1 / period)
            text = texts[turn]
            turn ^= 1
            self.arrived.pop(sim.id, None)
            started = time.perf_counter()
            await sim.send(text)
            self.totals["sent"] += 1
            try:
                reply = await sim.next_message(timeout=REPLY_TIMEOUT)
            except AssertionError:
                self.totals["timeouts"] += 1
                if self.window is not None:
                    self.window["timeouts"] += 1
                await asyncio.sleep(1.0)
                sim._cursor = max((m.seq for m in sim.chat.log), default=sim._cursor)  # skip a late reply
                continue
            finished = self.arrived.get(sim.id, time.perf_counter())
            self.totals["replies"] += 1
            right = code in (reply.text or "") if text.startswith("/status") and not self.bare else bool(reply.text)
            if not right:
                self.totals["wrong"] += 1
            window = self.window
            if window is not None and finished >= window["started"]:
                window["latencies"].append(finished - started)
                window["kinds"][text.split()[0]] += 1
                if not right:
                    window["wrong"] += 1

    def mark(self) -> dict:
        self.window = {"started": time.perf_counter(), "cpu": time.process_time(), "latencies": [],
                       "kinds": {"/start": 0, "/status": 0}, "timeouts": 0, "wrong": 0,
                       "deliveries": self.emulator.webhooks.deliveries, "errors": len(self.emulator.errors)}
        return {"ok": True}

    def collect(self) -> dict:
        window, now, cpu = self.window, time.perf_counter(), time.process_time()
        self.window = None
        wall = now - window["started"]
        latencies = sorted(window["latencies"])
        bot = self.emulator.default_bot
        return {
            "wall": wall, "round_trips": len(latencies), "per_s": len(latencies) / wall,
            "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
            "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
            "kinds": window["kinds"], "timeouts": window["timeouts"], "wrong": window["wrong"],
            "emulator_busy": (cpu - window["cpu"]) / wall,
            "deliveries": self.emulator.webhooks.deliveries - window["deliveries"],
            "api_errors": len(self.emulator.errors) - window["errors"],
            "pending": len(bot.updates),
            "webhook_error": bot.webhook.last_error_message if bot.webhook else None,
            "latencies_ms": [round(x * 1000, 3) for x in latencies],
        }

    async def stop(self) -> dict:
        self.running = False
        await asyncio.wait(self.tasks, timeout=REPLY_TIMEOUT + 2)
        for task in self.tasks:
            task.cancel()
        errors = [str(e) for e in list(self.emulator.errors)[:20]]
        return {**self.totals, "api_errors": len(self.emulator.errors), "api_error_samples": errors,
                "most_in_flight": self.emulator.webhooks.most_in_flight,
                "deliveries": self.emulator.webhooks.deliveries}


def serve_emulator(port: int) -> None:
    from aiohttp import web

    from emulator.emulator import Emulator
    from emulator.limits import Limits

    async def main() -> None:
        emulator = Emulator(Limits(rate_limits=False), record_calls=False, token=TOKEN, history_limit=4,
                            max_errors=1000)
        load = Load(emulator)

        async def start(request):
            body = await request.json()
            load.start(body["residents"], body.get("rate"), body.get("bare", False))
            return web.json_response({"ok": True})

        async def mark(_request):
            return web.json_response(load.mark())

        async def collect(_request):
            return web.json_response(load.collect())

        async def stop(_request):
            return web.json_response(await load.stop())

        async def info(_request):
            bot = emulator.default_bot
            return web.json_response({"webhook": bot.webhook.url if bot.webhook else None,
                                      "max_connections": bot.webhook.max_connections if bot.webhook else None})

        for path, handler in (("start", start), ("mark", mark), ("collect", collect), ("stop", stop)):
            emulator.app.router.add_post(f"/bench/{path}", handler)
        emulator.app.router.add_get("/bench/info", info)
        url = await emulator.start("127.0.0.1", port)
        print(f"emulator on {url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class EmulatorProcess(ChildProcess):
    def __init__(self, cpu: int | None) -> None:
        super().__init__(__file__, [], cpu)



# ============================================================================ the database


async def open_database(kind: str, folder: Path, pool_size: int | None = None):
    """A migrated database with the shipped areas: (db, cleanup coroutine function)."""
    from sqlalchemy import text

    from storage import areas, migrate
    from storage.db import Database

    pool = {"pool_size": pool_size} if pool_size else {}  # else Database's default, LOA_DB_POOL_SIZE's
    if kind == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{folder / 'bench.db'}", **pool)

        async def cleanup() -> None:
            await db.dispose()
    else:
        schema = f"loa_bench_{uuid.uuid4().hex[:10]}"
        admin = Database(PG_URL)
        async with admin.engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        db = Database(PG_URL, schema=schema, **pool)

        async def cleanup() -> None:
            await db.dispose()
            async with admin.engine.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await admin.dispose()
    try:
        await migrate.upgrade(db)
        await areas.import_units(db, areas.SHIPPED)
    except BaseException:
        await cleanup()
        raise
    return db, cleanup


async def populate(db, residents: int, extra: int, seed: int) -> list[dict]:
    """The simulated residents (even ones onboarded, in a Hà Nội ward, odd ones not), each with a
    report filed through `reports.file`; `extra` more onboarded residents with a report each,
    bulk-inserted, so the tables are not tiny. Returns what the emulator needs of the simulated."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import insert, select, update

    from complaints import codes, reports
    from storage.models import Area, Report, ReportEvent, Resident, Subscription, Topic
    from storage.types import utcnow

    rng = random.Random(seed)
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = utcnow()
    async with db.transaction() as session:
        wards = list((await session.execute(
            select(Area.code).where(Area.boundary.is_not(None), Area.level > 0))).scalars())
        defaults = list((await session.execute(select(Topic.code).where(Topic.subscribed_by_default))).scalars())
        categories = ["roads", "sanitation", "infrastructure"]
        sims = []
        for i in range(residents):
            onboarded = i % 2 == 0
            language = "en" if i % 5 == 4 else "vi"
            resident = Resident(telegram_id=FIRST_CHAT + i, language=language, first_name=f"Resident {i}",
                                onboarded=onboarded, awaiting=None if onboarded else "language",
                                area_code=rng.choice(wards) if onboarded else None, created_at=now, updated_at=now)
            session.add(resident)
            await session.flush()
            await session.execute(insert(Subscription), [{"resident_id": resident.id, "topic_code": t}
                                                         for t in defaults])
            report = await reports.file(
                session, category_code=rng.choice(categories),
                description="Ổ gà lớn giữa đường, xe máy phải tránh, nguy hiểm vào buổi tối.",
                area_code=resident.area_code or rng.choice(wards), address_text=f"Số {i + 1} phố Huế",
                resident_id=resident.id, reporter_name=resident.first_name, tz=tz, now=now)
            sims.append({"id": resident.telegram_id, "first_name": resident.first_name, "language": language,
                         "code": report.code})
        if extra:
            rows = [dict(telegram_id=FIRST_CHAT + residents + i, language="vi", first_name=f"Extra {i}",
                         onboarded=True, area_code=rng.choice(wards), created_at=now, updated_at=now)
                    for i in range(extra)]
            await session.execute(insert(Resident), rows)
            ids = list((await session.execute(
                select(Resident.id).where(Resident.telegram_id >= FIRST_CHAT + residents))).scalars())
            await session.execute(insert(Subscription), [{"resident_id": r, "topic_code": t}
                                                         for r in ids for t in defaults])
            taken = {s["code"] for s in sims}
            report_rows = []
            for resident_id in ids:
                code = codes.new_code()
                while code in taken:
                    code = codes.new_code()
                taken.add(code)
                report_rows.append(dict(code=code, resident_id=resident_id, category_code=rng.choice(categories),
                                        description="Rác thải ùn ứ ở đầu ngõ nhiều ngày.", area_code=rng.choice(wards),
                                        state="submitted", priority="normal", created_at=now, updated_at=now))
            await session.execute(insert(Report), report_rows)
            report_ids = list((await session.execute(
                select(Report.id).where(Report.resident_id.in_(ids)))).scalars())
            await session.execute(insert(ReportEvent), [dict(report_id=r, at=now, state="submitted", action="submit",
                                                              actor="resident", visible=True) for r in report_ids])
        # Their staff cards as the bot leaves them once filed: synced. Left unsynced, the 10,000 were
        # a backlog the staff cards' job worked through during the measurement, 20 reports every
        # 5 s at about ten statements each, on PostgreSQL only (on SQLite the saturated loop made
        # APScheduler skip most runs as misfired): not the same work on the two databases.
        await session.execute(update(Report).values(cards_synced_at=Report.updated_at))
    if not db.is_sqlite:
        from sqlalchemy import text
        async with db.engine.begin() as connection:
            for table in ("residents", "subscriptions", "reports", "report_events"):
                await connection.execute(text(f"ANALYZE {table}"))
    return sims


# ============================================================================ the bot process


def add_bare_handler(application) -> None:
    """--bare: /start and /status answered first in group 0 with the language question (the
    reply /start gives a resident who is not onboarded), without touching the database; the rest
    of the pipeline (webhook, PTB, logging, metrics, sending) is the bot's own."""
    from telegram.ext import CommandHandler

    from handlers import prompts
    from handlers.cards import show

    async def bare(update, context) -> None:
        await show(update, context, prompts.language("vi"))

    application.handlers.setdefault(0, []).insert(0, CommandHandler(["start", "status"], bare))


class ErrorCount(logging.Handler):
    """Counts the bot's log records at WARNING and above, by logger and message start."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}

        self.samples: list[str] = []  # the first few errors, with their exception

    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.levelname} {record.name} {str(record.msg).split(' ', 1)[0]}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if record.levelno >= logging.ERROR and len(self.samples) < 3:
            error = record.exc_info[1] if record.exc_info else None
            self.samples.append(f"{key}: {type(error).__name__}: {error}"[:300] if error else key)


class GcClock:
    """Collections by generation and the time they took (gc.callbacks), from `reset` on."""

    def __init__(self) -> None:
        self.reset()
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.counts, self.seconds, self.longest = [0, 0, 0], 0.0, 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            took = time.perf_counter() - self._started
            self.counts[info["generation"]] += 1
            self.seconds += took
            self.longest = max(self.longest, took)

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


class Trace:
    """--trace: where an update's time goes inside the bot, by wrapping five places: its wait
    from the webhook (Update.de_json) to its turn (its chat's, then one of LOA_UPDATES_IN_FLIGHT),
    its handling (bot.ordering), each wait for a database session's turn (storage.db) and how long
    the session then holds it, each wait for a connection in SQLAlchemy's QueuePool, and each Bot
    API call (the transport)."""

    def __init__(self) -> None:
        from contextlib import asynccontextmanager

        from sqlalchemy.pool import QueuePool
        from telegram import Update

        from bot import ordering
        from kernel import transport
        from storage.db import Database

        self.samples: dict[str, list[float]] = {"webhook to turn": [], "handling": [], "database turn": [],
                                                "session held": [], "pool checkout": [], "Bot API call": []}
        self.recording = False
        self._received: dict[int, float] = {}
        self._restore = []
        trace = self

        de_json = Update.de_json

        def traced_de_json(data, bot=None):
            update = de_json(data, bot)
            if update is not None:
                trace._received[update.update_id] = time.perf_counter()
            return update

        timed = ordering.PerChatUpdateProcessor._timed

        async def traced_timed(processor, update, coroutine):
            started = time.perf_counter()
            received = trace._received.pop(getattr(update, "update_id", None), None)
            try:
                await timed(processor, update, coroutine)
            finally:
                if received is not None:
                    trace.add("webhook to turn", started - received)
                trace.add("handling", time.perf_counter() - started)

        turn = Database._turn

        @asynccontextmanager
        async def traced_turn(db):
            started = time.perf_counter()
            async with turn(db):
                granted = time.perf_counter()
                trace.add("database turn", granted - started)
                try:
                    yield
                finally:
                    trace.add("session held", time.perf_counter() - granted)

        do_get = QueuePool._do_get

        def traced_do_get(pool):
            started = time.perf_counter()
            try:
                return do_get(pool)
            finally:
                trace.add("pool checkout", time.perf_counter() - started)

        exchange = transport.AiohttpRequest._exchange

        async def traced_exchange(*args):
            started = time.perf_counter()
            try:
                return await exchange(*args)
            finally:
                trace.add("Bot API call", time.perf_counter() - started)

        for owner, name, replacement in ((Update, "de_json", staticmethod(traced_de_json)),
                                         (ordering.PerChatUpdateProcessor, "_timed", traced_timed),
                                         (Database, "_turn", traced_turn),
                                         (QueuePool, "_do_get", traced_do_get),
                                         (transport.AiohttpRequest, "_exchange", staticmethod(traced_exchange))):
            self._restore.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, replacement)

    def add(self, name: str, seconds: float) -> None:
        if self.recording:
            self.samples[name].append(seconds)

    def summary(self) -> str:
        lines = ["--trace, inside the bot over the measured windows (ms):"]
        for name, values in self.samples.items():
            values.sort()
            if values:
                lines.append(f"  {name:<16} n={len(values):>7,}  p50 {percentile(values, 50) * 1000:8.1f}  "
                             f"p90 {percentile(values, 90) * 1000:8.1f}  p99 {percentile(values, 99) * 1000:8.1f}  "
                             f"max {values[-1] * 1000:8.1f}")
        return "\n".join(lines)

    def close(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)


class DbCounter:
    """What the bot asks of its database, counted by SQLAlchemy's events on every engine: the
    statements sent, the transactions opened (BEGIN sent: not the look-ups in autocommit, on
    PostgreSQL or SQLite's look-up connection), and the pool checkouts; on PostgreSQL
    `Database.rows` sends its statement to asyncpg itself, so it is counted where it is called."""

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        from storage.db import Database

        self.counts = {"statements": 0, "transactions": 0, "checkouts": 0}
        self._listeners = [(Engine, "before_cursor_execute", self._statement), (Engine, "begin", self._begin),
                           (Pool, "checkout", self._checkout)]
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)
        rows = self._rows = Database.rows
        counts = self.counts

        async def counted_rows(db, statement, params):
            if not db.is_sqlite:
                counts["statements"] += 1
            return await rows(db, statement, params)

        Database.rows = counted_rows

    def _statement(self, *_args) -> None:
        self.counts["statements"] += 1

    def _begin(self, connection) -> None:
        autocommit = (connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
                      or connection.engine.url.drivername == "sqlite")  # SQLite's look-ups: no BEGIN
        if not autocommit:
            self.counts["transactions"] += 1

    def _checkout(self, *_args) -> None:
        self.counts["checkouts"] += 1

    def snapshot(self) -> dict:
        return dict(self.counts)

    def close(self) -> None:
        from sqlalchemy import event

        from storage.db import Database

        for target, name, fn in self._listeners:
            event.remove(target, name, fn)
        Database.rows = self._rows


def main_thread_cpu() -> float:
    """CPU seconds of this process's main thread (the rest of process_time() is other threads':
    aiosqlite's, one per SQLite connection)."""
    with open(f"/proc/self/task/{os.getpid()}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def handled(application) -> int:
    return int(sum(sample.value for family in application.update_processor.stats.handled.collect()
                   for sample in family.samples if sample.name.endswith("_total")))


async def run_one(kind: str, args, pins, spy_file: str | None = None) -> dict:
    import aiohttp

    from bot.app import build_application
    from bot.runner import serving
    from kernel.logs import setup_logging
    from kernel.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="loa-bench-webhook-"))
    emulator = EmulatorProcess(pins.get("emulator"))
    result: dict = {"db": kind}
    try:
        started = time.perf_counter()
        db, cleanup = await open_database(kind, folder, args.pool_size)
        try:
            sims = await populate(db, args.residents, args.extra, args.seed)
            result["setup_s"] = time.perf_counter() - started
            port = free_port()
            settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator.url,
                                DATABASE_URL=db.url, HTTP_HOST="127.0.0.1", HTTP_PORT=str(port),
                                WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_SECRET=SECRET,
                                WEBHOOK_MAX_CONNECTIONS=str(args.max_connections), LOA_MEDIA_DIR=str(folder / "media"),
                                LOA_LOG_LEVEL=args.log_level,
                                **({"LOA_UPDATES_IN_FLIGHT": str(args.in_flight)} if args.in_flight else {}))
            setup_logging(settings.log_level, secrets=(TOKEN, SECRET))
            root = logging.getLogger()
            log_file = open(folder / "bot.log", "w", encoding="utf-8")  # noqa: SIM115
            root.handlers[0].setStream(log_file)
            errors = ErrorCount()
            root.addHandler(errors)
            trace = Trace() if args.trace else None
            asked = DbCounter()
            application = build_application(settings, db)
            if args.bare:
                add_bare_handler(application)
            timeout = aiohttp.ClientTimeout(total=args.seconds + 60)
            async with serving(application, settings, db), aiohttp.ClientSession(timeout=timeout) as control:
                async with control.get(emulator.url + "/bench/info") as answer:
                    result["webhook"] = await answer.json()
                result["gc_frozen"] = gc.get_freeze_count()
                await emulator.call(control, "start", {"residents": sims, "rate": args.rate, "bare": args.bare})
                await asyncio.sleep(args.warmup)
                windows = []
                gc_clock = GcClock()
                profile = cProfile.Profile() if args.profile else None
                spy = start_py_spy(args, pins, spy_file)
                for _ in range(args.rounds):
                    cpu, count, main_cpu = time.process_time(), handled(application), main_thread_cpu()
                    asked_before = asked.snapshot()
                    gc_clock.reset()
                    if trace is not None:
                        trace.recording = True
                    await emulator.call(control, "mark")
                    if profile is not None:
                        profile.enable()
                    await asyncio.sleep(args.seconds)
                    if profile is not None:
                        profile.disable()
                    window = await emulator.call(control, "collect")
                    if trace is not None:
                        trace.recording = False
                    window["bot_cpu"] = time.process_time() - cpu
                    window["bot_cpu_main_thread"] = main_thread_cpu() - main_cpu
                    window["bot_cpu_other_threads"] = max(0.0, window["bot_cpu"] - window["bot_cpu_main_thread"])
                    window["gc"] = {"collections": list(gc_clock.counts), "seconds": gc_clock.seconds,
                                    "longest_ms": gc_clock.longest * 1000}
                    window["bot_handled"] = handled(application) - count
                    window["db"] = {k: v - asked_before[k] for k, v in asked.snapshot().items()}
                    window["bot_cpu_ms_per_update"] = (window["bot_cpu"] / window["bot_handled"] * 1000
                                                       if window["bot_handled"] else float("nan"))
                    window["bot_busy"] = window["bot_cpu"] / window["wall"]
                    windows.append(window)
                    print(f"  {kind}: {window['per_s']:,.0f} updates/s, p50 {window['p50_ms']:.1f} ms, "
                          f"p99 {window['p99_ms']:.1f} ms, bot {window['bot_cpu_ms_per_update']:.3f} ms CPU/update",
                          file=sys.stderr, flush=True)
                if spy is not None:
                    spy.wait(30)
                    main_ms = (sum(w["bot_cpu_main_thread"] for w in windows)
                               / max(1, sum(w["bot_handled"] for w in windows)) * 1000)
                    result["py_spy"] = py_spy_summary(spy_file, main_ms)
                gc_clock.close()
                asked.close()
                if trace is not None:
                    trace.close()
                    result["trace"] = trace.summary()
                result["totals"] = await emulator.call(control, "stop")
                if profile is not None:
                    result["profile"] = profile_text(profile, sum(w["bot_handled"] for w in windows))
            result["bot_log_problems"] = errors.counts
            result["bot_log_samples"] = errors.samples
            root.removeHandler(errors)
            root.handlers[0].setStream(sys.stderr)  # the next run's set-up logs there
            log_file.close()
        finally:
            await cleanup()
    finally:
        emulator.stop()
        shutil.rmtree(folder, ignore_errors=True)
    result["windows"] = windows
    pooled = sorted(x for w in windows for x in w.pop("latencies_ms"))
    wall = sum(w["wall"] for w in windows)
    handled_total = sum(w["bot_handled"] for w in windows)
    result["overall"] = {
        "round_trips": len(pooled), "per_s": len(pooled) / wall,
        "p50_ms": percentile(pooled, 50), "p95_ms": percentile(pooled, 95), "p99_ms": percentile(pooled, 99),
        "max_ms": pooled[-1] if pooled else float("nan"),
        "bot_cpu_s_per_1000": sum(w["bot_cpu"] for w in windows) / handled_total * 1000 if handled_total else None,
        "bot_busy": sum(w["bot_cpu"] for w in windows) / wall,
        "bot_other_threads_share": (sum(w["bot_cpu_other_threads"] for w in windows)
                                    / max(1e-9, sum(w["bot_cpu_main_thread"] + w["bot_cpu_other_threads"]
                                                    for w in windows))),
        "emulator_busy": statistics.fmean(w["emulator_busy"] for w in windows),
        "timeouts": sum(w["timeouts"] for w in windows), "wrong": sum(w["wrong"] for w in windows),
        "api_errors": sum(w["api_errors"] for w in windows),
        "db_per_update": {k: sum(w["db"][k] for w in windows) / max(1, handled_total)
                          for k in ("statements", "transactions", "checkouts")},
    }
    return result


def start_py_spy(args, pins, spy_file: str | None) -> subprocess.Popen | None:
    """py-spy sampling this process (all threads, without pausing it) over the measured windows,
    itself pinned to the emulator's CPU; collapsed stacks to --py-spy."""
    if not spy_file:
        return None
    command = ["py-spy", "record", "--pid", str(os.getpid()), "--duration", str(int(args.seconds * args.rounds)),
               "--rate", "200", "--format", "raw", "--threads", "--nonblocking", "--output", spy_file]
    pin = (lambda: os.sched_setaffinity(0, {pins["emulator"]})) if pins else None
    return subprocess.Popen([str(Path(sys.executable).with_name("py-spy"))] + command[1:], preexec_fn=pin,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Where the bot's main thread spends its time, from py-spy's collapsed stacks: the first rule
# that matches a sample's stack names it. SQLAlchemy runs its synchronous core in greenlets,
# whose samples py-spy shows as stacks of their own (they start at Session.execute).
PY_SPY_RULES = [
    ("database: SQLAlchemy, aiosqlite, asyncpg (main thread)",
     ("sqlalchemy", "aiosqlite", "greenlet", "asyncpg", "storage/db.py", "storage/rows.py")),
    ("reply: PTB send_message, request, transport, Message.de_json",
     ("send_message", "Bot._post", "transport.py")),
    ("intake: web/webhook.receive (json, Update.de_json)", ("receive (web/webhook.py",)),
    ("intake: aiohttp server (HTTP, middlewares, response)", ("aiohttp/web", "web_protocol.py", "http_parser")),
    ("aiohttp client (reading the sendMessage answers)", ("aiohttp/client",)),
    ("logging", ("logging/__init__", "kernel/logs.py")),
    ("handlers' own code (prompts, cards, i18n)", ("handlers/",)),
    ("PTB dispatch (Application, check_update, processor)", ("telegram/ext", "bot/ordering.py")),
    ("event loop, sockets, selectors, the rest", ("",)),
]


def py_spy_summary(path: str, main_ms_per_update: float) -> str:
    counts = dict.fromkeys((name for name, _ in PY_SPY_RULES), 0)
    total = 0
    with open(path) as samples:
        for line in samples:
            stack, _, n = line.rstrip().rpartition(" ")
            thread, _, frames = stack.partition(";")
            if "MainThread" not in thread or not n.isdigit():  # a frame's name may hold a line break
                continue
            total += int(n)
            name = next(name for name, needles in PY_SPY_RULES if any(needle in frames for needle in needles))
            counts[name] += int(n)
    lines = [f"py-spy, main thread only ({total:,} samples; µs/update = share x its CPU per update):"]
    for name, n in counts.items():
        share = n / total if total else 0.0
        lines.append(f"  {share:6.1%}  {share * main_ms_per_update * 1000:5.0f} µs  {name}")
    return "\n".join(lines)


def by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) summed by package or top-level module: where the CPU went."""
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        path = filename.replace("\\", "/")
        if "site-packages/" in path:
            key = path.split("site-packages/", 1)[1].split("/", 1)[0]
        elif str(ROOT) in path:
            key = "loa: " + path.split(str(ROOT) + "/", 1)[1].split("/", 1)[0]
        elif path.startswith("~") or path.startswith("<"):
            key = "built-in: " + _name.split(" ")[0].strip("<{")
        else:
            key = "stdlib: " + Path(path).stem if "/lib/python" in path else path
        totals[key] = totals.get(key, 0.0) + tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


def profile_text(profile: cProfile.Profile, updates: int, top: int = 35) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = sum(t for _k, t in by_package(stats))
    out.write("own time by package (tottime; % of the profiled main thread):\n")
    for key, seconds in by_package(stats)[:25]:
        out.write(f"  {seconds / total:6.1%}  {seconds / updates * 1e6:7.0f} µs/update  {key}\n")
    out.write("\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"\n(cumulative, top {top})\n")
    stats.sort_stats("cumulative").print_stats(top)
    return f"{updates:,} updates handled while profiling\n" + out.getvalue()


# ============================================================================ output


def print_result(r: dict, args) -> None:
    o = r["overall"]
    if args.bare:
        print("\nBARE VARIANT: /start and /status answered without the database")
    if args.uvloop:
        print("\nUVLOOP VARIANT: the bot process runs on uvloop")
    pace = f"paced at {args.rate:g} updates/s offered" if args.rate else "each sending again as soon as answered"
    print(f"\n{r['db']}: {args.residents} residents {pace}, webhook max_connections "
          f"{r['webhook']['max_connections']}, {args.rounds} x {args.seconds:g} s after {args.warmup:g} s warm-up "
          f"(set-up {r['setup_s']:.1f} s)")
    print(f"{'window':<10}{'updates/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'bot CPU s/1000':>16}{'bot busy':>10}{'emu busy':>10}{'errors':>8}")
    for i, w in enumerate(r["windows"], 1):
        errs = w["timeouts"] + w["wrong"] + w["api_errors"]
        print(f"{i:<10}{w['per_s']:>11,.0f}{w['p50_ms']:>9.1f}{w['p95_ms']:>9.1f}{w['p99_ms']:>9.1f}"
              f"{w['max_ms']:>9.1f}{w['bot_cpu_ms_per_update']:>16.3f}{w['bot_busy']:>10.0%}"
              f"{w['emulator_busy']:>10.0%}{errs:>8}")
    errs = o["timeouts"] + o["wrong"] + o["api_errors"]
    print(f"{'all':<10}{o['per_s']:>11,.0f}{o['p50_ms']:>9.1f}{o['p95_ms']:>9.1f}{o['p99_ms']:>9.1f}"
          f"{o['max_ms']:>9.1f}{o['bot_cpu_s_per_1000']:>16.3f}{o['bot_busy']:>10.0%}{o['emulator_busy']:>10.0%}"
          f"{errs:>8}")
    print(f"  bot CPU in threads other than the main one (aiosqlite's): {o['bot_other_threads_share']:.0%}")
    asked = o["db_per_update"]
    print(f"  per update: {asked['statements']:.2f} SQL statements, {asked['transactions']:.2f} transactions "
          f"(BEGIN sent), {asked['checkouts']:.2f} pool checkouts")
    print(f"  objects frozen out of the garbage collector once serving (gc.freeze()): {r['gc_frozen']:,}")
    collections = [sum(w["gc"]["collections"][g] for w in r["windows"]) for g in range(3)]
    gc_seconds = sum(w["gc"]["seconds"] for w in r["windows"])
    print(f"  bot garbage collections (generations 0/1/2): {collections[0]:,}/{collections[1]:,}/{collections[2]:,}, "
          f"{gc_seconds:.2f} s in all ({gc_seconds / sum(w['wall'] for w in r['windows']):.1%} of the time), longest "
          f"{max(w['gc']['longest_ms'] for w in r['windows']):.0f} ms")
    t = r["totals"]
    print(f"  whole run: {t['sent']:,} updates sent, {t['replies']:,} replies, {t['timeouts']} timeouts, "
          f"{t['wrong']} wrong replies, {t['extra_messages']} extra messages, {t['api_errors']} Bot API errors, "
          f"{t['deliveries']:,} webhook POSTs, at most {t['most_in_flight']} in flight")
    print(f"  bot log at WARNING or above: {r['bot_log_problems'] or 'nothing'}")
    for sample in r["bot_log_samples"]:
        print(f"    {sample}")
    if t["api_error_samples"]:
        print("  Bot API errors: " + "; ".join(t["api_error_samples"][:5]))
    if r.get("trace"):
        print("\n" + r["trace"])
    if r.get("py_spy"):
        print("\n" + r["py_spy"])
    if r.get("profile"):
        print("\ncProfile of the bot process over the measured windows (main thread):\n" + r["profile"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--residents", type=int, default=200, help="simulated residents, each one update at a time")
    parser.add_argument("--extra", type=int, default=10_000, help="more residents (with a report each) in the tables")
    parser.add_argument("--rate", type=float, help="paced: offer this many updates/s in all (Poisson), instead of "
                        "each resident sending again as soon as the reply came")
    parser.add_argument("--max-connections", type=int, default=100,
                        help="WEBHOOK_MAX_CONNECTIONS, setWebhook's max_connections")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring")
    parser.add_argument("--seconds", type=float, default=20, help="seconds per measured window")
    parser.add_argument("--rounds", type=int, default=3, help="measured windows, back to back")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-level", default="INFO", help="the bot's LOA_LOG_LEVEL (its log goes to a file)")
    parser.add_argument("--profile", action="store_true", help="cProfile the bot's main thread in the windows")
    parser.add_argument("--pool-size", type=int, help="LOA_DB_POOL_SIZE (default: the bot's default)")
    parser.add_argument("--in-flight", type=int, help="LOA_UPDATES_IN_FLIGHT (default: the bot's default)")
    parser.add_argument("--repeat", type=int, default=1, help="with --db both: run both databases this many "
                        "times, alternating (sqlite, postgresql, postgresql, sqlite, ...)")
    parser.add_argument("--trace", action="store_true", help="time the waits inside the bot (adds a little CPU)")
    parser.add_argument("--py-spy", metavar="FILE", help="sample the bot process with py-spy (collapsed stacks)")
    parser.add_argument("--bare", action="store_true",
                        help="variant: answer without the database (the same reply for both commands)")
    parser.add_argument("--uvloop", action="store_true",
                        help="variant: run the bot on uvloop (pip install uvloop; not what `loa run` does)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes to CPUs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--serve-emulator", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator(args.serve_emulator)
        return

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    pins = {"emulator": cpus[0], "bot": cpus[1]} if len(cpus) >= 2 and not args.no_pin else {}
    if pins:
        os.sched_setaffinity(0, {pins["bot"]})
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    # Alternating, so that a change in the machine's load weighs on both alike.
    order = [kind for i in range(args.repeat) for kind in (kinds if i % 2 == 0 else kinds[::-1])]
    results = {"setup": {
        "python": platform.python_version(), "cpus": os.cpu_count(), "pinning": pins or None,
        "load_before": os.getloadavg(),
        "versions": {p: version(p) for p in ("python-telegram-bot", "aiohttp", "SQLAlchemy", "aiosqlite", "asyncpg")},
    }, "runs": []}
    for i, kind in enumerate(order):
        print(f"{kind}...", file=sys.stderr, flush=True)
        spy_file = f"{args.py_spy}.{i + 1}-{kind}" if args.py_spy else None
        if args.uvloop:
            import uvloop  # a what-if: `loa run` uses asyncio's own loop

            results["runs"].append(uvloop.run(run_one(kind, args, pins, spy_file)))
        else:
            results["runs"].append(asyncio.run(run_one(kind, args, pins, spy_file)))
    results["setup"]["load_after"] = os.getloadavg()
    if args.json:
        for run in results["runs"]:
            run.pop("profile", None)
        print(json.dumps(results, indent=2, default=str))
        return
    setup = results["setup"]
    print(f"Webhook intake: Python {setup['python']}, {setup['cpus']} CPUs; "
          + ", ".join(f"{p} {v}" for p, v in setup["versions"].items()))
    print(f"Pinned: emulator + residents on CPU {pins['emulator']}, bot on CPU {pins['bot']}" if pins else "Not pinned")
    print("load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
        *setup["load_before"], *setup["load_after"]))
    for run in results["runs"]:
        print_result(run, args)
    if args.db == "both":
        print_ratios(results["runs"])


def print_ratios(runs: list[dict]) -> None:
    """Each run in order, then PostgreSQL over SQLite for the runs next to each other."""
    print("\nboth databases, in the order run (all windows of each run pooled):")
    print(f"{'run':<14}{'updates/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'p99/p50':>9}"
          f"{'CPU ms/update':>15}{'statements':>12}{'transactions':>14}{'errors':>8}")
    for i, run in enumerate(runs, 1):
        o = run["overall"]
        name = f"{i} {run['db']}"
        print(f"{name:<14}{o['per_s']:>11,.0f}{o['p50_ms']:>9.1f}{o['p95_ms']:>9.1f}{o['p99_ms']:>9.1f}"
              f"{o['p99_ms'] / o['p50_ms']:>9.2f}{o['bot_cpu_s_per_1000']:>15.3f}"
              f"{o['db_per_update']['statements']:>12.2f}{o['db_per_update']['transactions']:>14.2f}"
              f"{o['timeouts'] + o['wrong'] + o['api_errors']:>8}")
    print("PostgreSQL / SQLite, runs paired in order:")
    for pair in range(len(runs) // 2):
        a, b = runs[2 * pair]["overall"], runs[2 * pair + 1]["overall"]
        sqlite, pg = (a, b) if runs[2 * pair]["db"] == "sqlite" else (b, a)
        print(f"  pair {pair + 1}: updates/s {pg['per_s'] / sqlite['per_s']:.2f}x, "
              f"CPU per update {pg['bot_cpu_s_per_1000'] / sqlite['bot_cpu_s_per_1000']:.2f}x")


if __name__ == "__main__":
    main()

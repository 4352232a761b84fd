"""Benchmark: the broadcast sender (broadcasts.sender.Sender) against PTB's ways of sending.

Three parts, each can run alone (--only):

throughput  N recipients, the emulator's limits off, three (four) ways in alternating rounds:
            a naive PTB loop (telegram.Bot, default HTTPXRequest, one send_message after the
            other); PTB's ExtBot with AIORateLimiter (overall limit off, no retries) sending
            chunks concurrently with asyncio.gather (on HTTPXRequest, and on our AiohttpRequest);
            and our Sender (rate unlimited) draining the outbox of an SQLite database after
            `lifecycle.compose` wrote it, the database work counted.
adherence   the emulator enforcing Telegram's limits (at most 30 messages in any sliding second),
            the Sender at rate 30 for --seconds (or until --recipients are all sent): achieved
            rate, the most messages the emulator accepted in one sliding second, 429 answers.
million     PostgreSQL: a schema of its own with 1,000,000 subscribed residents bulk-loaded;
            time of `lifecycle.compose`, time from compose to the first message the emulator
            receives, and the sender's RSS while it sends at 1,000/s for --seconds.

The emulator runs in another process (this script, with --serve-emulator), pinned to the other
CPU; it counts the send calls it answers by status and serves the counts at /stats.

    .venv/bin/python bench/sender.py [--only throughput|adherence|million] [--n 10000] [--rounds 3]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child import ChildProcess  # noqa: E402

TOKEN = "123456789:BENCHxSenderxTokenxxxxxxxxxxxxxxxxxx"
FIRST_CHAT = 10_000_000  # chat ids of the simulated residents (the emulator makes them users)
TEXT = "Cảnh báo mưa lớn: nội thành Hà Nội từ 18 giờ đến 22 giờ tối nay. Hạn chế ra đường."
SENDS = {"sendmessage", "sendphoto"}
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


# ============================================================================ the emulator process


def serve_emulator(port: int, limits: bool) -> None:
    """Run the emulator (as `python -m emulator --quiet` does) with a counting middleware."""
    from aiohttp import web

    from emulator.emulator import Emulator
    from emulator.limits import Limits

    stats = {"ok": 0, "429": 0, "other": 0, "first_ok": None, "last_ok": None}
    accepted: list[float] = []  # monotonic times of the sends answered 200

    @web.middleware
    async def count(request, handler):
        response = await handler(request)
        method = request.match_info.get("method", "").lower()
        if method in SENDS:
            if response.status == 200:
                now = time.time()
                stats["ok"] += 1
                stats["first_ok"] = stats["first_ok"] or now
                stats["last_ok"] = now
                accepted.append(time.monotonic())
            elif response.status == 429:
                stats["429"] += 1
            else:
                stats["other"] += 1
        return response

    def most_in_a_second() -> int:
        most, start = 0, 0
        for end, at in enumerate(accepted):
            while accepted[start] <= at - 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    async def show(_request):
        return web.json_response({**stats, "most_in_a_second": most_in_a_second()})

    async def reset(_request):
        stats.update(ok=0, other=0, first_ok=None, last_ok=None, **{"429": 0})
        accepted.clear()
        return web.json_response(stats)

    async def main() -> None:
        emulator = Emulator(Limits(rate_limits=limits), record_calls=False, token=TOKEN, auto_users=True,
                            history_limit=2, max_errors=1000)
        emulator.app.middlewares.append(count)
        emulator.app.router.add_get("/stats", show)
        emulator.app.router.add_post("/stats/reset", reset)
        url = await emulator.start("127.0.0.1", port)
        print(f"emulator on {url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class EmulatorProcess(ChildProcess):
    def __init__(self, limits: bool, cpu: int | None) -> None:
        super().__init__(__file__, [] if limits else ["--no-limits"], cpu)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/stats") as answer:
            return json.load(answer)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/stats/reset", method="POST")).read()



# ============================================================================ measuring


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Clock:
    """Wall and CPU seconds (all threads of this process: the SQLite driver's thread counts)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


# ============================================================================ databases


async def sqlite_city(folder: Path, n: int, warmup: int):
    """A migrated SQLite file: area B01 with n subscribed residents, B02 with `warmup` more."""
    from sqlalchemy import insert

    from storage import migrate
    from storage.db import Database
    from storage.models import Area, Resident, Subscription
    from storage.types import utcnow

    now = utcnow()
    db = Database(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    await migrate.upgrade(db)
    async with db.transaction() as session:
        await session.execute(insert(Area.__table__), [
            dict(code=code, name_vi=code, name_en=code, full_name_vi=code, full_name_en=code, level=0, kind="",
                 search_name=code) for code in ("B01", "B02")])
        rows = [dict(telegram_id=FIRST_CHAT + i, area_code="B01" if i < n else "B02", language="vi" if i % 5 else "en",
                     onboarded=True, created_at=now, updated_at=now) for i in range(n + warmup)]
        await session.execute(insert(Resident), rows)
        await session.flush()
        ids = (await session.execute(Resident.__table__.select().with_only_columns(Resident.id))).scalars().all()
        await session.execute(insert(Subscription), [dict(resident_id=i, topic_code="weather") for i in ids])
    return db


async def compose_alert(db, tz, area: str, **fields) -> tuple[int, int]:
    from broadcasts import alerts, lifecycle

    async with db.transaction() as session:
        alert = await alerts.create(session, topic_code="weather", severity="severe", urgency="immediate",
                                    area_codes=[area], texts={"vi": TEXT, "en": "Heavy rain warning"}, source="cli",
                                    **fields)
    return alert.id, await lifecycle.compose_all(db, alert.id, tz=tz)


# ============================================================================ part 1: throughput


async def naive_ptb(base: str, chats: list[int]) -> dict:
    from telegram import Bot

    async with Bot(TOKEN, base_url=base + "/bot") as bot:
        with Clock() as clock:
            for chat in chats:
                await bot.send_message(chat, TEXT)
    return {"sent": len(chats), "wall": clock.wall, "cpu": clock.cpu}


async def ptb_rate_limiter(base: str, chats: list[int], chunk: int, transport: str) -> dict:
    from telegram.ext import AIORateLimiter, ExtBot
    from telegram.request import HTTPXRequest

    from kernel.transport import AiohttpRequest

    request = (HTTPXRequest if transport == "httpx" else AiohttpRequest)(connection_pool_size=chunk)
    limiter = AIORateLimiter(overall_max_rate=0, max_retries=0)
    async with ExtBot(TOKEN, base_url=base + "/bot", request=request, rate_limiter=limiter) as bot:
        with Clock() as clock:
            for start in range(0, len(chats), chunk):
                await asyncio.gather(*(bot.send_message(c, TEXT) for c in chats[start:start + chunk]))
    return {"sent": len(chats), "wall": clock.wall, "cpu": clock.cpu}


async def our_sender(db, base: str, tz, area: str, emulator: EmulatorProcess | None = None, profile=None,
                     concurrency: int | None = None) -> dict:
    from broadcasts.sender import Sender

    if emulator:
        emulator.reset()
    with Clock() as clock:
        with Clock() as composing:
            _alert_id, count = await compose_alert(db, tz, area)
        options = {"concurrency": concurrency} if concurrency else {}
        sender = Sender(db, token=TOKEN, api_url=base, tz=tz, rate=float("inf"), **options)
        if profile is not None:
            profile.enable()
        counters = await sender.drain()
        if profile is not None:
            profile.disable()
    result = {"sent": counters.sent, "wall": clock.wall, "cpu": clock.cpu, "composed": count,
              "compose_wall": composing.wall, "compose_cpu": composing.cpu, "counters": counters.as_dict()}
    if emulator:
        stats = emulator.stats()
        result["span"] = (stats["last_ok"] - stats["first_ok"]) if stats["ok"] > 1 else None
        result["emulator"] = stats
    if counters.sent != count:
        raise SystemExit(f"the sender sent {counters.sent} of {count}: {counters.as_dict()}")
    return result


async def throughput(args, pins) -> dict:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    emulator = EmulatorProcess(limits=False, cpu=pins.get("emulator"))
    folder = Path(tempfile.mkdtemp(prefix="loa-bench-"))
    try:
        with Clock() as loading:
            db = await sqlite_city(folder, args.n, args.warmup)
        chats = [FIRST_CHAT + i for i in range(args.n)]
        warm = [FIRST_CHAT + args.n + i for i in range(args.warmup)]
        variants = {
            "naive": lambda: naive_ptb(emulator.url, chats),
            "limiter-httpx": lambda: ptb_rate_limiter(emulator.url, chats, args.chunk, "httpx"),
            "limiter-aiohttp": lambda: ptb_rate_limiter(emulator.url, chats, args.chunk, "aiohttp"),
            "sender": lambda: our_sender(db, emulator.url, tz, "B01", emulator, concurrency=args.concurrency),
        }
        variants = {k: v for k, v in variants.items() if k in args.variants}
        # Warm-up, unmeasured: imports, connections, the templates, SQLite's caches.
        if "naive" in variants:
            await naive_ptb(emulator.url, warm[:50])
        if "limiter-httpx" in variants or "limiter-aiohttp" in variants:
            await ptb_rate_limiter(emulator.url, warm, args.chunk, "aiohttp")
        if "sender" in variants:
            await our_sender(db, emulator.url, tz, "B02")
        rounds: dict[str, list[dict]] = {name: [] for name in variants}
        for number in range(args.rounds):
            for name, run in variants.items():
                server_cpu = emulator.cpu_seconds()
                result = await run()
                result["emulator_busy"] = (emulator.cpu_seconds() - server_cpu) / result["wall"]
                result["messages_per_s"] = result["sent"] / result["wall"]
                result["cpu_s_per_1000"] = result["cpu"] / result["sent"] * 1000
                rounds[name].append(result)
                print(f"  round {number + 1} {name:<16} {result['messages_per_s']:>8,.0f} msg/s  "
                      f"{result['cpu_s_per_1000']:.3f} CPU s/1000  emulator busy {result['emulator_busy']:.0%}",
                      file=sys.stderr, flush=True)
        profile_text = None
        if args.profile:
            import cProfile
            import io
            import pstats

            profile = cProfile.Profile()
            result = await our_sender(db, emulator.url, tz, "B01", emulator, profile=profile)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            out.write("\n")
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
            profile_text = out.getvalue()
        await db.dispose()
    finally:
        emulator.stop()
    medians = {name: {key: statistics.median(r[key] for r in results)
                      for key in ("messages_per_s", "cpu_s_per_1000", "wall", "cpu", "emulator_busy")}
               for name, results in rounds.items()}
    if "sender" in rounds:
        for key in ("compose_wall", "compose_cpu", "span"):
            values = [r[key] for r in rounds["sender"] if r.get(key) is not None]
            medians["sender"][key] = statistics.median(values) if values else None
    return {"rounds": rounds, "median": medians, "load_s": loading.wall, "profile": profile_text}


# ============================================================================ part 2: adherence


async def adherence(args, pins) -> dict:
    from zoneinfo import ZoneInfo

    from broadcasts.sender import Sender

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    # More than can be sent in the time, so the sender never runs dry; or a broadcast of --recipients.
    n = args.recipients or int(args.rate * args.seconds * 1.2)
    emulator = EmulatorProcess(limits=True, cpu=pins.get("emulator"))
    folder = Path(tempfile.mkdtemp(prefix="loa-bench-"))
    try:
        db = await sqlite_city(folder, n, 0)
        _alert_id, count = await compose_alert(db, tz, "B01")
        emulator.reset()
        sender = Sender(db, token=TOKEN, api_url=emulator.url, tz=tz, rate=args.rate)
        started = time.time()
        if args.recipients:
            await sender.drain()
            seconds = emulator.stats()["last_ok"] - started
        else:
            stop = asyncio.Event()
            task = asyncio.create_task(sender.run(stop))
            await asyncio.sleep(args.seconds)
            stop.set()
            await task
            seconds = args.seconds
        stats = emulator.stats()
        await db.dispose()
    finally:
        emulator.stop()
    steady = (stats["ok"] - 1) / (stats["last_ok"] - stats["first_ok"]) if stats["ok"] > 1 else 0.0
    return {"rate": args.rate, "seconds": seconds, "broadcast": bool(args.recipients), "recipients": count,
            "accepted": stats["ok"], "achieved_per_s": stats["ok"] / seconds,
            "percent": stats["ok"] / seconds / args.rate * 100,
            "steady_per_s": steady, "steady_percent": steady / args.rate * 100,
            "first_after_s": stats["first_ok"] - started if stats["first_ok"] else None,
            "most_in_a_second": stats["most_in_a_second"],
            "emulator_429": stats["429"], "emulator_other_errors": stats["other"],
            "sender_counters": sender.counters.as_dict()}


# ============================================================================ part 3: a million subscribers


async def add_recipients(db, count: int, first_chat: int, wards: int = 100, traffic: bool = False) -> None:
    """`count` onboarded residents (telegram ids from `first_chat`) in `wards` wards of a city
    B01, all subscribed to weather (and every third to traffic with `traffic`), in a few
    statements; then the tables analysed, as a city's would be. PostgreSQL only."""
    from sqlalchemy import text

    async with db.transaction() as session:
        await session.execute(text(
            "INSERT INTO areas (code, parent_code, level, kind, name_vi, name_en, full_name_vi, full_name_en, "
            "search_name) VALUES ('B01', NULL, 0, '', 'B01', 'B01', 'B01', 'B01', 'b01')"))
        await session.execute(text(
            "INSERT INTO areas (code, parent_code, level, kind, name_vi, name_en, full_name_vi, full_name_en, "
            "search_name) SELECT 'B01' || lpad(g::text, 3, '0'), 'B01', 1, '', 'w', 'w', 'w', 'w', 'w' "
            f"FROM generate_series(1, {wards}) g"))
        # Half the residents have the default quiet hours (22:00-06:00): a severe alert is due at
        # once for them too, but the compose works them out.
        await session.execute(text(
            "INSERT INTO residents (telegram_id, language, area_code, alerts_enabled, onboarded, "
            "quiet_start_minute, quiet_end_minute, created_at, updated_at) "
            f"SELECT {first_chat} + g, CASE WHEN g % 5 = 0 THEN 'en' ELSE 'vi' END, "
            f"'B01' || lpad((1 + g % {wards})::text, 3, '0'), true, true, "
            "CASE WHEN g % 2 = 0 THEN 1320 END, CASE WHEN g % 2 = 0 THEN 360 END, now(), now() "
            f"FROM generate_series(0, {count - 1}) g"))
        await session.execute(text(
            "INSERT INTO subscriptions (resident_id, topic_code) SELECT id, 'weather' FROM residents "
            f"WHERE telegram_id >= {first_chat}"))
        if traffic:
            await session.execute(text(
                "INSERT INTO subscriptions (resident_id, topic_code) SELECT id, 'traffic' FROM residents "
                f"WHERE telegram_id >= {first_chat} AND id % 3 = 0"))
    async with db.engine.begin() as connection:
        for table in ("areas", "residents", "subscriptions", "deliveries"):
            await connection.execute(text(f"ANALYZE {table}"))


async def million(args, pins) -> dict:
    from zoneinfo import ZoneInfo

    from sqlalchemy import text

    from broadcasts import alerts, lifecycle
    from broadcasts.sender import Sender
    from storage import migrate
    from storage.db import Database

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    schema = f"loa_bench_{uuid.uuid4().hex[:10]}"
    admin = Database(PG_URL)
    async with admin.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(PG_URL, schema=schema)
    # Telegram's limits on: the paid broadcast allowance is 1,000 messages a second.
    emulator = EmulatorProcess(limits=True, cpu=pins.get("emulator"))
    result: dict = {"residents": args.million, "rate": args.paid_rate, "seconds": args.seconds,
                    "slice": lifecycle.SLICE}
    try:
        await migrate.upgrade(db)
        with Clock() as loading:
            await add_recipients(db, args.million, FIRST_CHAT, traffic=True)
        result["load_s"] = loading.wall
        print(f"  loaded {args.million:,} residents in {loading.wall:.1f} s", file=sys.stderr, flush=True)

        # The sender runs, idle, as in the bot; the compose wakes it, as the bot's handlers do.
        sender = Sender(db, token=TOKEN, api_url=emulator.url, tz=tz, rate=args.paid_rate, paid_broadcast=True)
        stop = asyncio.Event()
        samples: list[tuple[float, float]] = []
        task = asyncio.create_task(sender.run(stop))
        await asyncio.sleep(1.5)
        emulator.reset()
        samples.append((0.0, rss_mb()))
        started_wall = time.time()
        with Clock() as composing:
            async with db.transaction() as session:
                alert = await alerts.create(session, topic_code="weather", severity="severe", urgency="immediate",
                                            area_codes=["B01"], texts={"vi": TEXT, "en": "Heavy rain warning"},
                                            source="cli")
            count = await lifecycle.compose_all(db, alert.id, tz=tz, on_slice=sender.wake.set)
        sender.wake.set()
        result.update(composed=count, compose_s=composing.wall, rss_before_mb=samples[0][1])
        print(f"  composed {count:,} in {composing.wall:.1f} s", file=sys.stderr, flush=True)
        send_started = time.monotonic()
        while time.monotonic() - send_started < args.seconds:
            await asyncio.sleep(1.0)
            samples.append((time.time() - started_wall, rss_mb()))
        sent_before_stop = sender.counters.sent
        stats = emulator.stats()
        stop.set()
        await task
        result.update(
            first_message_after_compose_start_s=stats["first_ok"] - started_wall if stats["first_ok"] else None,
            first_message_after_compose_end_s=(stats["first_ok"] - started_wall - composing.wall
                                                if stats["first_ok"] else None),
            sent=sent_before_stop, accepted=stats["ok"],
            send_rate_per_s=(stats["ok"] - 1) / (stats["last_ok"] - stats["first_ok"]) if stats["ok"] > 1 else 0,
            emulator_429=stats["429"], emulator_other_errors=stats["other"], counters=sender.counters.as_dict(),
            rss_samples=samples, rss_max_mb=max(s[1] for s in samples),
            rss_peak_kernel_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
        sending = [s for s in samples if s[0] >= result["first_message_after_compose_start_s"] + 10] \
            if result["first_message_after_compose_start_s"] is not None else []
        if len(sending) > 2:
            result["rss_after_10s_min_mb"] = min(s[1] for s in sending)
            result["rss_after_10s_max_mb"] = max(s[1] for s in sending)
    finally:
        emulator.stop()
        await db.dispose()
        async with admin.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()
    return result


# ============================================================================ output


LABELS = {
    "naive": "(a) PTB Bot, httpx, one at a time",
    "limiter-httpx": "(b) ExtBot+AIORateLimiter, httpx",
    "limiter-aiohttp": "(b') ExtBot+AIORateLimiter, aiohttp",
    "sender": "(c) Sender, compose + drain",
}


def print_throughput(result: dict, args) -> None:
    print(f"\nThroughput: {args.n:,} recipients x {args.rounds} rounds, emulator limits off; "
          f"(b) chunks of {args.chunk} with a pool of {args.chunk}; (c) SQLite outbox")
    print(f"bulk load of {args.n + args.warmup:,} residents into SQLite: {result['load_s']:.1f} s\n")
    print(f"{'variant':<38}{'messages/s':>12}{'CPU s / 1000 msg':>19}{'emulator busy':>15}")
    for name, median in result["median"].items():
        print(f"{LABELS[name]:<38}{median['messages_per_s']:>12,.0f}{median['cpu_s_per_1000']:>19.3f}"
              f"{median['emulator_busy']:>15.0%}")
    if "sender" in result["median"]:
        m = result["median"]["sender"]
        span = (f"{args.n / m['span']:,.0f} msg/s between first and last message at the emulator"
                if m.get("span") else "")
        print(f"  (c) of which compose {m['compose_wall']:.2f} s wall / {m['compose_cpu']:.2f} s CPU; {span}")
    print("\nmedians of the rounds; per round (messages/s):")
    for name, rounds in result["rounds"].items():
        print(f"  {name:<16}" + "  ".join(f"{r['messages_per_s']:,.0f}" for r in rounds))
    if result.get("profile"):
        print("\ncProfile of one (c) drain (the main thread only):\n" + result["profile"])


def print_adherence(r: dict) -> None:
    what = (f"a broadcast to {r['recipients']:,} recipients" if r["broadcast"]
            else f"{r['seconds']:g} s, {r['recipients']:,} recipients queued")
    print(f"\nAdherence: emulator limits on (30 in any sliding second), Sender at rate {r['rate']:g}, {what}")
    print(f"  accepted by the emulator   {r['accepted']:,} in {r['seconds']:.2f} s ({r['achieved_per_s']:.2f}/s, "
          f"{r['percent']:.1f}% of {r['rate']:g}/s)")
    print(f"  steady rate (first-last)   {r['steady_per_s']:.2f}/s ({r['steady_percent']:.1f}%); "
          f"first message {r['first_after_s']:.2f} s after start")
    print(f"  most in a sliding second   {r['most_in_a_second']}")
    print(f"  429 answers                emulator {r['emulator_429']}, "
          f"sender counted {r['sender_counters']['throttled']}")
    print(f"  other errors               emulator {r['emulator_other_errors']}; sender counters {r['sender_counters']}")


def print_million(r: dict) -> None:
    print(f"\nA million subscribers on PostgreSQL: {r['residents']:,} residents, paid rate {r['rate']:g}/s, "
          f"{r['seconds']:g} s of sending; emulator limits on (paid broadcast: 1,000/s)")
    print(f"  bulk load (INSERT ... SELECT generate_series, + ANALYZE)   {r['load_s']:.1f} s")
    print(f"  lifecycle.compose_all ({r['composed']:,} deliveries, slices of {r['slice']:,})  {r['compose_s']:.2f} s")
    first = r["first_message_after_compose_start_s"]
    print(f"  compose start -> first message at the emulator            {first:.2f} s")
    print(f"  sent {r['accepted']:,} at {r['send_rate_per_s']:,.0f}/s; 429s {r['emulator_429']}, other errors "
          f"{r['emulator_other_errors']}")
    print(f"  RSS: {r['rss_before_mb']:.0f} MB before compose, max {r['rss_max_mb']:.0f} MB; "
          f"from 10 s into sending {r.get('rss_after_10s_min_mb', float('nan')):.0f}-"
          f"{r.get('rss_after_10s_max_mb', float('nan')):.0f} MB; ru_maxrss {r['rss_peak_kernel_mb']:.0f} MB")
    every = [s for i, s in enumerate(r["rss_samples"]) if i % 10 == 0]
    print("  RSS every 10 s (s: MB): " + ", ".join(f"{t:.0f}: {m:.0f}" for t, m in every))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["throughput", "adherence", "million"], action="append",
                        help="run only this part (repeatable); default: all three")
    parser.add_argument("--n", type=int, default=10_000, help="throughput: recipients per round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput: alternating rounds (medians)")
    parser.add_argument("--warmup", type=int, default=300, help="throughput: unmeasured messages first")
    parser.add_argument("--chunk", type=int, default=100, help="throughput (b): messages per asyncio.gather")
    parser.add_argument("--variants", default="naive,limiter-httpx,limiter-aiohttp,sender",
                        help="throughput: which variants, comma-separated")
    parser.add_argument("--concurrency", type=int, help="throughput (c): the Sender's requests in flight "
                        "(default: the Sender's own, 64)")
    parser.add_argument("--profile", action="store_true", help="throughput: cProfile one more (c) drain")
    parser.add_argument("--rate", type=float, default=30, help="adherence: the sender's rate")
    parser.add_argument("--seconds", type=float, default=60, help="adherence and million: seconds of sending")
    parser.add_argument("--recipients", type=int, help="adherence: one broadcast to this many, sent to the end "
                                                         "(instead of --seconds of sending)")
    parser.add_argument("--million", type=int, default=1_000_000, help="million: residents")
    parser.add_argument("--paid-rate", type=float, default=1000, help="million: the sender's (paid) rate")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--serve-emulator", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-limits", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator(args.serve_emulator, limits=not args.no_limits)
        return
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    parts = args.only or ["throughput", "adherence", "million"]

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    pins = {"emulator": cpus[0], "client": cpus[1]} if len(cpus) >= 2 else {}
    if pins:
        os.sched_setaffinity(0, {pins["client"]})
    results: dict = {"setup": {
        "python": platform.python_version(), "cpus": os.cpu_count(), "pinning": pins or None,
        "versions": {p: version(p) for p in ("python-telegram-bot", "aiohttp", "httpx", "SQLAlchemy", "aiosqlite",
                                              "asyncpg")},
    }}
    runners = {"throughput": throughput, "adherence": adherence, "million": million}
    for part in parts:
        print(f"{part}...", file=sys.stderr, flush=True)
        results[part] = asyncio.run(runners[part](args, pins))
    if args.json:
        results.get("throughput", {}).pop("profile", None)
        print(json.dumps(results, indent=2, default=str))
        return
    setup = results["setup"]
    versions = ", ".join(f"{p} {v}" for p, v in setup["versions"].items())
    print(f"Python {setup['python']}, {setup['cpus']} CPUs; {versions}")
    print(f"Pinned: emulator on CPU {pins['emulator']}, benchmark on CPU {pins['client']}" if pins else "Not pinned")
    if "throughput" in results:
        print_throughput(results["throughput"], args)
    if "adherence" in results:
        print_adherence(results["adherence"])
    if "million" in results:
        print_million(results["million"])


if __name__ == "__main__":
    main()

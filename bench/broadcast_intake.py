"""Benchmark: is the bot still quick while it broadcasts to a million? In one run, on PostgreSQL:

1. alone      the webhook intake of bench/webhook.py (its simulated residents, the emulator in
              another process, the bot as `loa run --webhook` runs it), measured for --rounds
              windows of --seconds;
2. broadcast  then an alert to 1,000,000 residents is sent from the same bot (as the dashboard's
              "Send now" does: `lifecycle.send`, its deliveries composed in the bot's process by
              the effect runner) at the paid rate (LOA_SEND_RATE=1000, LOA_PAID_BROADCAST), the
              emulator standing in for Telegram, and the same intake is measured again for
              --rounds windows, the first starting as the compose starts.

For each window: the intake's updates/s, p50 and p99 of the round trip (update made -> the bot's
reply stored), and the alert's messages the emulator accepted per second in the window. Goal: the
intake's p99 during the broadcast within 1.5x of alone, the broadcast at its rate.

The intake is paced (--rate updates/s in all, Poisson, as in `bench/webhook.py --rate`): below
saturation, so that latency measures the bot's responsiveness, not a queue. The 1,000,000
recipients live in an area of their own (`B01`, 100 wards), so none of the simulated residents is
among them. The emulator runs with auto_users (any chat id is a user) and without Telegram's
rate limits (Loa's own pacing keeps 1,000/s).

    .venv/bin/python bench/broadcast_intake.py [--recipients 1000000] [--rate 100] [--seconds 20] [--rounds 3]

PostgreSQL from BENCH_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
a schema of its own, dropped at the end. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import webhook as intake  # noqa: E402
from bench.child import ChildProcess, free_port  # noqa: E402
from bench.sender import add_recipients  # noqa: E402

BROADCAST_FIRST_CHAT = 50_000_000  # telegram ids of the alert's recipients
TEXT = "Cảnh báo mưa lớn: nội thành Hà Nội từ 18 giờ đến 22 giờ tối nay. Hạn chế ra đường."


# ============================================================================ the emulator process


def serve_emulator(port: int) -> None:
    from aiohttp import web

    from emulator.emulator import Emulator
    from emulator.limits import Limits

    async def main() -> None:
        emulator = Emulator(Limits(rate_limits=False), record_calls=False, token=intake.TOKEN, auto_users=True,
                            history_limit=2, max_errors=1000)
        load = intake.Load(emulator)
        broadcast = {"accepted": 0}

        def count(event: str, chat, message) -> None:
            if event == "message" and chat.id >= BROADCAST_FIRST_CHAT:
                broadcast["accepted"] += 1

        emulator.on_change(count)

        async def start(request):
            body = await request.json()
            load.start(body["residents"], body.get("rate"))
            return web.json_response({"ok": True})

        async def mark(_request):
            load.mark()
            return web.json_response({"ok": True, "broadcast": broadcast["accepted"], "at": time.perf_counter()})

        async def collect(_request):
            window = load.collect()
            window.pop("latencies_ms")
            return web.json_response({**window, "broadcast": broadcast["accepted"], "at": time.perf_counter()})

        async def stop(_request):
            return web.json_response(await load.stop())

        for path, handler in (("start", start), ("mark", mark), ("collect", collect), ("stop", stop)):
            emulator.app.router.add_post(f"/bench/{path}", handler)
        url = await emulator.start("127.0.0.1", port)
        print(f"emulator on {url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class EmulatorProcess(ChildProcess):
    def __init__(self, cpu: int | None) -> None:
        super().__init__(__file__, [], cpu)


# ============================================================================ the bot process


async def windows(emulator, control, args, phase: str) -> list[dict]:
    found = []
    for _ in range(args.rounds):
        marked = await emulator.call(control, "mark")
        await asyncio.sleep(args.seconds)
        window = await emulator.call(control, "collect")
        window["broadcast_per_s"] = (window["broadcast"] - marked["broadcast"]) / (window["at"] - marked["at"])
        window["phase"] = phase
        found.append(window)
        print(f"  {phase:<9} {window['per_s']:7.1f} updates/s  p50 {window['p50_ms']:7.1f} ms  "
              f"p99 {window['p99_ms']:7.1f} ms  max {window['max_ms']:7.1f} ms  timeouts {window['timeouts']}  "
              f"broadcast {window['broadcast_per_s']:7.1f} msg/s", file=sys.stderr, flush=True)
    return found


async def run(args, pins) -> dict:
    import aiohttp

    from bot.app import build_application
    from bot.runner import serving
    from broadcasts import lifecycle
    from handlers.context import services
    from kernel.logs import setup_logging
    from kernel.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="loa-bench-broadcast-"))
    emulator = EmulatorProcess(pins.get("emulator"))
    result: dict = {"recipients": args.recipients, "rate": args.rate, "pins": pins}
    try:
        started = time.perf_counter()
        db, cleanup = await intake.open_database("postgresql", folder)
        try:
            sims = await intake.populate(db, args.residents, args.extra, 1)
            await add_recipients(db, args.recipients, BROADCAST_FIRST_CHAT)
            result["setup_s"] = time.perf_counter() - started
            print(f"  set up in {result['setup_s']:.0f} s", file=sys.stderr, flush=True)
            port = free_port()
            settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN=intake.TOKEN, TELEGRAM_API_URL=emulator.url,
                                DATABASE_URL=db.url, HTTP_HOST="127.0.0.1", HTTP_PORT=str(port),
                                WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_SECRET=intake.SECRET,
                                WEBHOOK_MAX_CONNECTIONS="100", LOA_MEDIA_DIR=str(folder / "media"),
                                LOA_SEND_RATE=str(args.send_rate), LOA_PAID_BROADCAST="true")
            setup_logging("INFO", secrets=(intake.TOKEN, intake.SECRET))
            log_file = open(folder / "bot.log", "w", encoding="utf-8")  # noqa: SIM115
            logging.getLogger().handlers[0].setStream(log_file)
            application = build_application(settings, db)
            timeout = aiohttp.ClientTimeout(total=args.seconds + 120)
            async with serving(application, settings, db), aiohttp.ClientSession(timeout=timeout) as control:
                await emulator.call(control, "start", {"residents": sims, "rate": args.rate})
                await asyncio.sleep(args.warmup)
                alone = await windows(emulator, control, args, "alone")
                async with db.transaction() as session:
                    sent = await lifecycle.send(session, lifecycle.By("dashboard", telegram_id=1, name="Bench"),
                                                tz=settings.tz, topic_code="weather", severity="severe",
                                                urgency="immediate", area_codes=["B01"],
                                                texts={"vi": TEXT, "en": "Heavy rain warning"}, paid_broadcast=True)
                composing = time.perf_counter()
                services(application).carry_out(sent.effects)
                during = await windows(emulator, control, args, "broadcast")
                result["since_send_s"] = time.perf_counter() - composing
                result["totals"] = await emulator.call(control, "stop")
                result["sender_counters"] = services(application).sender.counters.as_dict()
                # The rest of the compose is not waited for (the schema is dropped next).
                composing_tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("loa-compose-")]
                for task in composing_tasks:
                    task.cancel()
                await asyncio.gather(*composing_tasks, return_exceptions=True)
            logging.getLogger().handlers[0].setStream(sys.stderr)
            log_file.close()
        finally:
            await cleanup()
    finally:
        emulator.stop()
        shutil.rmtree(folder, ignore_errors=True)
    result["windows"] = alone + during
    return result


def summary(result: dict) -> str:
    def worst(phase: str, key: str) -> float:
        return max(w[key] for w in result["windows"] if w["phase"] == phase)

    def mean(phase: str, key: str) -> float:
        values = [w[key] for w in result["windows"] if w["phase"] == phase]
        return sum(values) / len(values)

    alone, during = worst("alone", "p99_ms"), worst("broadcast", "p99_ms")
    return (f"intake p99 (worst window): alone {alone:.1f} ms, during the broadcast {during:.1f} ms: "
            f"{during / alone:.2f}x (goal 1.5x); updates/s {mean('alone', 'per_s'):.1f} vs "
            f"{mean('broadcast', 'per_s'):.1f}; broadcast {mean('broadcast', 'broadcast_per_s'):.0f} msg/s "
            f"(goal {result['send_rate']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--residents", type=int, default=200, help="simulated residents of the intake")
    parser.add_argument("--extra", type=int, default=10_000, help="more residents with a report each, in the tables")
    parser.add_argument("--rate", type=float, default=100, help="intake: updates/s offered in all (Poisson)")
    parser.add_argument("--send-rate", type=int, default=1000, help="LOA_SEND_RATE")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve-emulator", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator(args.serve_emulator)
        return
    cpus = sorted(os.sched_getaffinity(0))
    pins = {"emulator": cpus[0], "bot": cpus[1]} if len(cpus) >= 2 and not args.no_pin else {}
    if pins:
        os.sched_setaffinity(0, {pins["bot"]})
    load_before = os.getloadavg()
    result = asyncio.run(run(args, pins))
    result.update(send_rate=args.send_rate, load_before=load_before, load_after=os.getloadavg(),
                  python=platform.python_version(), cpus=os.cpu_count())
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    pinned = f"pinned: emulator CPU {pins['emulator']}, bot CPU {pins['bot']}" if pins else "not pinned"
    print(f"Broadcast while taking updates: Python {result['python']}, {result['cpus']} CPUs, {pinned}; "
          "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
              *result["load_before"], *result["load_after"]))
    print(f"intake: {args.residents} residents, {args.rate:g} updates/s offered; alert to {args.recipients:,} "
          f"at LOA_SEND_RATE={args.send_rate}")
    print(f"{'phase':<10} {'updates/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'timeouts':>8} "
          f"{'alert msg/s':>11}")
    for w in result["windows"]:
        print(f"{w['phase']:<10} {w['per_s']:9.1f} {w['p50_ms']:8.1f} {w['p99_ms']:8.1f} {w['max_ms']:8.1f} "
              f"{w['timeouts']:8d} {w['broadcast_per_s']:11.1f}")
    print(f"sender: {result['sender_counters']}")
    print(summary(result))


if __name__ == "__main__":
    main()

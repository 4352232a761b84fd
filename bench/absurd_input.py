"""Benchmark: absurd input costs little and never stalls the server.

`loa run` in webhook mode (bot.runner.serving: the PTB Application, the sender, the HTTP server)
on a fresh SQLite database, with the project's Bot API emulator in the same process (limits off).
For each kind of hostile request, C clients send it back to back for --seconds while a poller
asks GET /healthz every 50 ms; the script reports the hostile requests' answers and median time,
and the poller's worst and median wait. A quiet window (no hostile requests) comes first, for
comparison.

    .venv/bin/python bench/absurd_input.py [--seconds 5] [--concurrency 4]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child import free_port  # noqa: E402

TOKEN = "123456789:BENCHxAbsurdxInputxTokenxxxxxxxxxxxx"
SECRET = "bench-absurd-secret-0123456789"
POLL = 0.05


def hostile(path: str, api_token: str) -> dict[str, tuple[str, str, bytes, dict]]:
    """name -> (method, path, body, headers)."""
    hook = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    bearer = {"Authorization": f"Bearer {api_token}"}
    return {
        "webhook: 100,000-deep JSON (200 KB)": ("POST", path, b"[" * 100_000 + b"]" * 100_000, hook),
        "webhook: 1 MB JSON array of numbers": ("POST", path, b"[" + b"1," * 499_999 + b"1]", hook),
        "webhook: a 5,000-digit number": ("POST", path, b"9" * 5000, hook),
        "API: GET /alerts/<5,000 digits>": ("GET", "/api/v1/alerts/" + "9" * 5000, b"", bearer),
        "API: POST /alerts, 100,000-deep JSON": ("POST", "/api/v1/alerts", b"[" * 100_000 + b"]" * 100_000,
                                                 {**bearer, "Content-Type": "application/json"}),
        "dashboard: a form that is not UTF-8": ("POST", "/dashboard/login", b"t=%ff%fe\xff" * 1000,
                                                {"Content-Type": "application/x-www-form-urlencoded"}),
    }


async def window(base: str, seconds: float, concurrency: int, request: tuple | None) -> dict:
    stop = time.monotonic() + seconds
    waits: list[float] = []
    times: list[float] = []
    statuses: Counter[int] = Counter()

    async with aiohttp.ClientSession() as http:
        async def poller() -> None:
            while time.monotonic() < stop:
                start = time.monotonic()
                async with http.get(base + "/healthz") as response:
                    await response.read()
                waits.append(time.monotonic() - start)
                await asyncio.sleep(max(0.0, POLL - (time.monotonic() - start)))

        async def client() -> None:
            method, path, body, headers = request
            while time.monotonic() < stop:
                start = time.monotonic()
                async with http.request(method, base + path, data=body or None, headers=headers) as response:
                    await response.read()
                times.append(time.monotonic() - start)
                statuses[response.status] += 1

        jobs = [poller()] + ([client() for _ in range(concurrency)] if request else [])
        await asyncio.gather(*jobs)
    return {"statuses": dict(statuses), "requests": len(times),
            "median_ms": statistics.median(times) * 1000 if times else None,
            "healthz_worst_ms": max(waits) * 1000, "healthz_median_ms": statistics.median(waits) * 1000,
            "polls": len(waits)}


async def main(args) -> None:
    from bot.app import build_application
    from bot.runner import serving
    from emulator import Emulator, Limits
    from kernel.settings import Settings
    from storage import migrate, tokens
    from storage.db import Database
    from storage.models import Agency

    logging.basicConfig(level=logging.WARNING)
    emulator = Emulator(Limits.off(), record_calls=False, token=TOKEN)
    await emulator.start("127.0.0.1", 0)
    folder = Path(tempfile.mkdtemp(prefix="loa-bench-absurd-"))
    port = free_port()
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator.url,
                        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'loa.db'}", LOA_MEDIA_DIR=str(folder / "media"),
                        HTTP_HOST="127.0.0.1", HTTP_PORT=str(port), WEBHOOK_URL=f"http://127.0.0.1:{port}",
                        WEBHOOK_SECRET=SECRET)
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    async with db.transaction() as session:
        session.add(Agency(code="bench", name_vi="Cơ quan", name_en="Agency"))
        await session.flush()
        _row, api_token = await tokens.create(session, name="bench", scopes=["alerts"], agency_code="bench")
    from web import webhook
    base = f"http://127.0.0.1:{port}"
    print(f"Absurd input: {args.seconds} s per kind, {args.concurrency} clients, /healthz polled every "
          f"{POLL * 1000:.0f} ms; Python {platform.python_version()}, aiohttp {version('aiohttp')}")
    async with serving(build_application(settings, db), settings, db):
        rows = [("quiet (no hostile requests)", await window(base, args.seconds, 0, None))]
        for name, request in hostile(webhook.path_for(SECRET), api_token).items():
            rows.append((name, await window(base, args.seconds, args.concurrency, request)))
    await db.dispose()
    await emulator.stop()
    print(f"\n{'request':40} {'answers':>14} {'n':>6} {'median ms':>10} {'healthz worst':>14} {'median':>7}")
    for name, r in rows:
        answers = ",".join(f"{s}x{n}" for s, n in sorted(r["statuses"].items())) or "-"
        median = f"{r['median_ms']:.1f}" if r["median_ms"] is not None else "-"
        print(f"{name:40} {answers:>14} {r['requests']:>6} {median:>10} {r['healthz_worst_ms']:>11.1f} ms "
              f"{r['healthz_median_ms']:>5.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    asyncio.run(main(parser.parse_args()))

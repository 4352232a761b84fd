"""Benchmark: CAP ingest work, and how long /healthz waits meanwhile.

Imports the shipped units and Hanoi's boundaries into a fresh SQLite database in a temporary
folder, then measures (medians of ``--rounds``):

- mapping a 2,400-vertex polygon over central Hà Nội to its wards (`broadcasts.cap.match_areas`,
  the area index already built), and a hostile polygon of the same size: a thin band around the
  whole city just outside it (its bounding box covers every ward, it meets none);
- parsing (XML, the schema, CAP's rules) of those messages;
- refusing a message whose <alert> carries 30,000 attributes (about 300 KB);
- over real HTTP (an aiohttp server on a local port with POST /api/v1/cap and a /healthz that
  runs the real health check's `SELECT 1`): a poller GETs /healthz every 50 ms while the CAP
  messages above (and one at the element cap) are posted one after another, then four at once;
  the worst and median waits of /healthz are reported. The poller is a process of its own, so
  a stalled event loop shows as a long wait, not as a poller that stalls with it.

Not part of the test suite. Run from the repository:

    .venv/bin/python bench/cap.py [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from broadcasts import cap  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from storage import areas, migrate, tokens  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Agency  # noqa: E402
from tests.fixtures import cap_shapes  # noqa: E402
from web import cap as cap_route  # noqa: E402
from web.health import database_reachable  # noqa: E402
from web.keys import DB, SETTINGS  # noqa: E402

VERTICES = 2400
POLL_SECONDS = 0.05


def with_attributes(count: int) -> bytes:
    text = cap_shapes.RAIN.read_text(encoding="utf-8")
    attributes = " ".join(f'a{n}="x"' for n in range(count))
    return text.replace('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">',
                        f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" {attributes}>').encode()


def at_the_element_cap(identifier: str) -> bytes:
    """A valid message of about 11,700 elements (two info blocks of geocodes) and a 2,400-point polygon."""
    more = "".join(f"<geocode><valueName>x</valueName><value>9{n:05d}</value></geocode>" for n in range(1940))
    data = cap_shapes.with_polygons(cap_shapes.disc(VERTICES), identifier=identifier).decode()
    return data.replace("</polygon>", f"</polygon>{more}").encode()


async def match(db: Database, message) -> list[str]:
    """`match_areas` as this checkout has it (before the change it took a session)."""
    if "session" in inspect.signature(cap.match_areas).parameters:
        async with db.read() as session:
            return await cap.match_areas(session, message)
    return await cap.match_areas(db, message)


def poll_healthz(url: str, stop, waits) -> None:
    """In a process of its own (the server's event loop may be the one stalling): GET `url`
    every 50 ms until `stop` is set; (sent at, wait) pairs in seconds onto the `waits` queue."""
    found = []
    while not stop.is_set():
        sent, started = time.time(), time.perf_counter()
        with urllib.request.urlopen(url, timeout=600) as response:
            response.read()
        found.append((sent, time.perf_counter() - started))
        time.sleep(POLL_SECONDS)
    waits.put(found)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def timed(factory, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = await factory()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


async def mapping(db: Database, rounds: int) -> dict:
    found = {}
    disc = cap.parse(cap_shapes.with_polygons(cap_shapes.disc(VERTICES)))
    band = cap.parse(cap_shapes.with_polygons(cap_shapes.band(VERTICES)))
    started = time.perf_counter()
    await match(db, disc)  # the first use builds the area index
    found["first_match_ms"] = ms(time.perf_counter() - started)
    seconds, codes = await timed(lambda: match(db, disc), rounds)
    found["hanoi_polygon_ms"], found["hanoi_polygon_wards"] = ms(seconds), len(codes)
    seconds, codes = await timed(lambda: match(db, band), rounds)
    found["hostile_band_ms"], found["hostile_band_wards"] = ms(seconds), len(codes)
    found["hostile_to_hanoi_ratio"] = round(found["hostile_band_ms"] / max(found["hanoi_polygon_ms"], 0.1), 2)

    async def parse(data: bytes):
        return cap.parse(data)

    data = cap_shapes.with_polygons(cap_shapes.disc(VERTICES))
    found["parse_hanoi_polygon_ms"] = ms((await timed(lambda: parse(data), rounds))[0])
    heavy = at_the_element_cap("heavy")
    found["parse_at_element_cap_ms"] = ms((await timed(lambda: parse(heavy), rounds))[0])
    hostile = with_attributes(30_000)

    async def refuse():
        try:
            cap.parse(hostile)
        except cap.CapError as error:
            return str(error)
        return "accepted?"

    seconds, reason = await timed(refuse, max(1, rounds if hasattr(cap, "MAX_ATTRIBUTES") else 1))
    found["refuse_30000_attributes_ms"], found["refusal"] = ms(seconds), reason[:100]
    found["attributes_message_bytes"] = len(hostile)
    return found


async def healthz_during_ingest(db: Database) -> dict:
    settings = Settings(_env_file=None, DATABASE_URL=db.url)
    async with db.transaction() as session:
        session.add(Agency(code="kttv", name_vi="Đài KTTV", name_en="Hydro-Met"))
        await session.flush()
        _, token = await tokens.create(session, name="KTTV CAP", agency_code="kttv", scopes=["alerts"])

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"database": await database_reachable(request.app[DB])})

    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS], app[DB] = settings, db
    cap_route.setup(app)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    messages = [("hanoi polygon", cap_shapes.with_polygons(cap_shapes.disc(VERTICES), identifier="h1")),
                ("hostile band", cap_shapes.with_polygons(cap_shapes.band(VERTICES), identifier="b1")),
                ("30,000 attributes", with_attributes(30_000)),
                ("element cap", at_the_element_cap("e1"))]
    concurrent = [at_the_element_cap(f"c{n}") for n in range(4)]  # made before: the client shares the loop
    statuses: dict[str, int] = {}
    context = multiprocessing.get_context("spawn")
    stop, queue = context.Event(), context.Queue()
    poller = context.Process(target=poll_healthz, args=(base + "/healthz", stop, queue))
    async with aiohttp.ClientSession() as http:
        async def post(name: str, data: bytes):
            async with http.post(base + cap_route.PATH, data=data, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"}) as response:
                await response.read()
                statuses[name] = response.status

        poller.start()
        await post("warm-up", cap_shapes.with_polygons(cap_shapes.disc(100), identifier="w"))  # starts the workers
        await asyncio.sleep(3.0)  # the poller's process starts; then 1 s idle
        idle_from = time.time() - 1.0
        started, busy_from = time.perf_counter(), time.time()
        for name, data in messages:
            await post(name, data)
        await asyncio.gather(*(post(f"concurrent {n}", data) for n, data in enumerate(concurrent)))
        busy, busy_to = time.perf_counter() - started, time.time()
        stop.set()
        found = await asyncio.to_thread(queue.get)
        poller.join()
    await runner.cleanup()
    idle = [wait for sent, wait in found if idle_from <= sent < busy_from] or [0.0]
    waits = [wait for sent, wait in found if busy_from <= sent <= busy_to]
    return {"healthz_idle_polls": len(idle), "healthz_idle_worst_ms": ms(max(idle)),
            "healthz_polls": len(waits), "healthz_worst_ms": ms(max(waits)),
            "healthz_median_ms": ms(statistics.median(waits)), "busy_seconds": round(busy, 2), "statuses": statuses}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--healthz-only", action="store_true", help="skip the timings of mapping and parsing")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{folder}/loa.db")
        await migrate.upgrade(db)
        await areas.import_units(db, areas.SHIPPED)
        try:
            figures = {"python": platform.python_version(),
                       **({} if options.healthz_only else await mapping(db, options.rounds)),
                       **await healthz_during_ingest(db)}
        finally:
            await db.dispose()
    if options.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    asyncio.run(main())

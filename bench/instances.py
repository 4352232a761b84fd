"""Benchmark: one `loa run --webhook` instance against two, side by side, on PostgreSQL.

The intake of bench/webhook.py, closed loop (each simulated resident sends an update, waits for
the bot's reply, sends the next; the emulator in a process of its own), through the round-robin
front of tests/test_instances.py (nginx's part, tests/fixtures/instances.py) to 1 and then 2
`loa run --webhook` processes, each its own process as an operator starts it, on one database
made for the run (the instances cannot be pointed at a schema) with the shipped areas and the
residents of bench/webhook.py. For each setting: updates/s, p50 and p99 of the round trip
(update made -> the bot's reply stored by the emulator), and the CPU each part used per update
(the instances, the emulator with its simulated residents, the front, PostgreSQL's processes),
from /proc, over the measured windows. Nothing is pinned: everything shares the machine's CPUs.

    .venv/bin/python bench/instances.py [--residents 200] [--seconds 20] [--rounds 2] [--instances 1 2]

Run it with PYTHONPATH set to the checkout (the instances are `loa` processes). PostgreSQL from
BENCH_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test); the database is
dropped at the end. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import webhook as intake  # noqa: E402
from tests.fixtures.instances import Front, Instance, free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (its backends and its workers)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().startswith("postgres"):
                        total += cpu_seconds(int(entry))
            except OSError:
                pass
    return total


async def admin(statement: str) -> None:
    from sqlalchemy import text

    from storage.db import Database

    db = Database(intake.PG_URL)
    try:
        async with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            await connection.execute(text(statement))
    finally:
        await db.dispose()


async def prepare(url: str, args) -> list[dict]:
    from storage import areas, migrate
    from storage.db import Database

    db = Database(url)
    try:
        await migrate.upgrade(db)
        await areas.import_units(db, areas.SHIPPED)
        return await intake.populate(db, args.residents, args.extra, 1)
    finally:
        await db.dispose()


async def forget_updates(url: str) -> None:
    """Each setting has an emulator of its own, whose update ids start again at 1: the claims of
    the setting before would make the instances skip them as already handled."""
    from sqlalchemy import text

    from storage.db import Database

    db = Database(url)
    try:
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM update_claims"))
    finally:
        await db.dispose()


async def measure(count: int, url: str, sims: list[dict], args, folder: Path) -> dict:
    """`count` instances behind the front, the load started, --rounds windows measured."""
    import aiohttp

    from tests.fixtures.instances import nginx_upstream

    emulator = intake.EmulatorProcess(None)
    ports = [free_port() for _ in range(count)]
    front = Front(ports, nginx_upstream()[1])
    front_port = await front.start()
    env = {"TELEGRAM_BOT_TOKEN": intake.TOKEN, "TELEGRAM_API_URL": emulator.url, "DATABASE_URL": url,
           "HTTP_HOST": "127.0.0.1", "WEBHOOK_URL": f"http://127.0.0.1:{front_port}",
           "WEBHOOK_SECRET": intake.SECRET, "WEBHOOK_MAX_CONNECTIONS": "100",
           "LOA_MEDIA_DIR": str(folder / "media"), "LOA_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)}
    instances = []
    for number, port in enumerate(ports):
        run_folder = folder / f"{count}-{number}"
        run_folder.mkdir()
        instances.append(Instance(port, env, run_folder / "loa.log"))
    windows = []
    try:
        for instance in instances:
            await instance.start()
        timeout = aiohttp.ClientTimeout(total=args.seconds + 60)
        async with aiohttp.ClientSession(timeout=timeout) as control:
            for _ in range(600):
                if all([(await i.health(control)) is not None for i in instances]):
                    break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the instances did not answer /healthz within 60 s")
            await emulator.call(control, "start", {"residents": sims})
            await asyncio.sleep(args.warmup)
            for _ in range(args.rounds):
                cpu = ([cpu_seconds(i.process.pid) for i in instances], emulator.cpu_seconds(),
                       time.process_time(), postgres_cpu())
                await emulator.call(control, "mark")
                await asyncio.sleep(args.seconds)
                window = await emulator.call(control, "collect")
                window.pop("latencies_ms")
                updates = max(1, window["round_trips"])
                window["cpu_ms_per_update"] = {
                    "instances": sum(cpu_seconds(i.process.pid) - before
                                     for i, before in zip(instances, cpu[0], strict=True)) / updates * 1000,
                    "emulator": (emulator.cpu_seconds() - cpu[1]) / updates * 1000,
                    "front": (time.process_time() - cpu[2]) / updates * 1000,
                    "postgres": (postgres_cpu() - cpu[3]) / updates * 1000,
                }
                window["instances"] = count
                windows.append(window)
                shares = "  ".join(f"{k} {v:.2f}" for k, v in window["cpu_ms_per_update"].items())
                print(f"  {count} instance(s): {window['per_s']:7.1f} updates/s  p50 {window['p50_ms']:7.1f} ms  "
                      f"p99 {window['p99_ms']:7.1f} ms  timeouts {window['timeouts']}  CPU ms/update: {shares}",
                      file=sys.stderr, flush=True)
            await emulator.call(control, "stop")
    finally:
        for instance in instances:
            if instance.process.returncode is None:
                await instance.stop()
        await front.stop()
        emulator.stop()
    return {"instances": count, "windows": windows, "served": dict(front.served)}


async def run(args) -> list[dict]:
    name = f"loa_bench_instances_{uuid.uuid4().hex[:10]}"
    url = urlunsplit(urlsplit(intake.PG_URL)._replace(path="/" + name))
    folder = Path(tempfile.mkdtemp(prefix="loa-bench-instances-"))
    await admin(f'CREATE DATABASE "{name}"')
    try:
        sims = await prepare(url, args)
        results = []
        for count in args.instances:
            await forget_updates(url)
            results.append(await measure(count, url, sims, args, folder))
        return results
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=200, help="simulated residents, closed loop")
    parser.add_argument("--extra", type=int, default=10_000, help="more residents with a report each, in the tables")
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = asyncio.run(run(args))
    load_after = os.getloadavg()
    print(f"1 vs 2 instances: Python {platform.python_version()}, {os.cpu_count()} CPUs, nothing pinned; "
          "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(*load_before, *load_after))
    print(f"{args.residents} residents, closed loop, through the round-robin front; {args.rounds} windows of "
          f"{args.seconds:g} s each")
    print(f"{'instances':>9} {'updates/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'timeouts':>8}   CPU ms per update: "
          f"{'instances':>9} {'emulator':>8} {'front':>6} {'postgres':>8}")
    for result in results:
        for w in result["windows"]:
            c = w["cpu_ms_per_update"]
            print(f"{result['instances']:>9} {w['per_s']:9.1f} {w['p50_ms']:8.1f} {w['p99_ms']:8.1f} "
                  f"{w['timeouts']:8d}   {'':>19}{c['instances']:9.2f} {c['emulator']:8.2f} {c['front']:6.2f} "
                  f"{c['postgres']:8.2f}")
        print(f"{'':>9} front: requests per instance {sorted(result['served'].values())}")


if __name__ == "__main__":
    main()

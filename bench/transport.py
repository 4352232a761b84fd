"""Benchmark: sendMessage throughput of PTB's HTTPXRequest vs kernel.transport.AiohttpRequest.

Both go through PTB's real ``telegram.Bot`` against the project's Bot API emulator, started here
as a separate process with rate limits off.  The variants alternate for ``--rounds`` rounds, each
round with its own Bot and a warm-up; the medians are reported.  Not part of the test suite.

    .venv/bin/python bench/transport.py [--n 5000] [--concurrency 100] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Bot  # noqa: E402
from telegram.request import BaseRequest, HTTPXRequest  # noqa: E402

from kernel.transport import AiohttpRequest  # noqa: E402

TOKEN = "123456789:BENCHxTransportxTokenxxxxxxxxxxxxxx"
VARIANTS = {"httpx": HTTPXRequest, "aiohttp": AiohttpRequest}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_emulator(port: int, cpu: int | None) -> subprocess.Popen:
    """Start `python -m emulator` and wait until it prints its URL (i.e. serves)."""
    command = [
        sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port),
        "--token", TOKEN, "--no-rate-limits", "--quiet",
    ]  # fmt: skip
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=pin
    )
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the emulator exited (code {process.wait()}) before serving")
        if re.search(r"https?://", line):
            # Keep draining its output so that it can never block on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process
    process.kill()
    raise SystemExit("the emulator printed no URL within 30 s")


async def send_many(bot: Bot, chat_id: int, n: int, concurrency: int) -> None:
    """n sendMessage calls, `concurrency` at a time; any failure aborts the benchmark."""
    remaining = iter(range(n))

    async def worker() -> None:
        for i in remaining:
            await bot.send_message(chat_id, f"Benchmark message {i}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(
    request: BaseRequest, base_url: str, chat_id: int, n: int, concurrency: int, warmup: int
) -> dict:
    async with Bot(TOKEN, base_url=base_url, request=request) as bot:
        await send_many(bot, chat_id, warmup, concurrency)
        cpu, wall = time.process_time(), time.perf_counter()
        await send_many(bot, chat_id, n, concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"messages_per_s": n / wall, "cpu_s_per_1000": cpu / n * 1000}


async def run(args: argparse.Namespace, base_url: str) -> dict:
    rounds: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, transport in VARIANTS.items():
            request = transport(connection_pool_size=args.concurrency)
            rounds[name].append(
                await measure(
                    request, base_url, args.chat_id, args.n, args.concurrency, args.warmup
                )
            )
    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in rounds.items()
    }
    return {
        "rounds": rounds,
        "median": medians,
        "ratio_aiohttp_over_httpx": {
            key: medians["aiohttp"][key] / medians["httpx"][key] for key in medians["httpx"]
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="messages per measurement")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--warmup", type=int, default=500, help="unmeasured messages first")
    parser.add_argument("--chat-id", type=int, default=1001, help="chat to send to")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--url", help="use the Bot API server already running at this URL (http://host:port)"
    )
    args = parser.parse_args()

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    pinning = None
    emulator = None
    if args.url:
        base_url = args.url.rstrip("/") + "/bot"
    else:
        port = free_port()
        if len(cpus) >= 2:
            pinning = {"emulator_cpu": cpus[0], "client_cpu": cpus[1]}
        emulator = start_emulator(port, pinning["emulator_cpu"] if pinning else None)
        base_url = f"http://127.0.0.1:{port}/bot"
    if pinning:
        os.sched_setaffinity(0, {pinning["client_cpu"]})
    try:
        result = asyncio.run(run(args, base_url))
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(10)

    result["setup"] = {
        "n": args.n,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "server": args.url or "python -m emulator --no-rate-limits --quiet",
        "pinning": pinning,
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("python-telegram-bot", "aiohttp", "httpx")},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return

    setup = result["setup"]
    print(
        f"Bot API transport: {args.n} sendMessage x {args.rounds} rounds, concurrency "
        f"{args.concurrency}, pool size {args.concurrency}, warm-up {args.warmup}"
    )
    print(
        f"Python {setup['python']}, "
        + ", ".join(f"{p} {v}" for p, v in setup["versions"].items())
    )
    if pinning:
        print(f"Pinned: emulator on CPU {pinning['emulator_cpu']}, "
              f"client on CPU {pinning['client_cpu']}")  # fmt: skip
    else:
        print("Not pinned to CPUs (no sched_setaffinity, a single CPU, or --url)")
    print()
    print(f"{'transport':<28}{'messages/s':>12}{'CPU s / 1000 msg':>19}")
    labels = {"httpx": "HTTPXRequest (httpx)", "aiohttp": "AiohttpRequest (aiohttp)"}
    for name, median in result["median"].items():
        print(
            f"{labels[name]:<28}{median['messages_per_s']:>12,.0f}"
            f"{median['cpu_s_per_1000']:>19.3f}"
        )
    ratio = result["ratio_aiohttp_over_httpx"]
    print(
        f"{'ratio aiohttp / httpx':<28}{ratio['messages_per_s']:>11.2f}x"
        f"{ratio['cpu_s_per_1000']:>18.2f}x"
    )
    print("\nmedians of the rounds; per round (messages/s):")
    for name, rounds in result["rounds"].items():
        print(f"  {name:<8}" + "  ".join(f"{r['messages_per_s']:,.0f}" for r in rounds))


if __name__ == "__main__":
    main()

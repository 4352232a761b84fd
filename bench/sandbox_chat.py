"""Benchmark: the sandbox (`loa run` without a token) as an evaluator meets it: how long it takes
to start, and how fast its web chat answers.

Start: `--starts` times, each in a fresh temporary folder, the phases of sandbox/run.py `opened`
timed apart: the emulator, migrating the new SQLite file, importing the shipped areas, the demo
data (sandbox/demo.py `seed`), and starting the bot with its HTTP server (`serving`). The last
start stays up for the rest.

Chat: GET / (the page, with the seat list and the chat of Lan, who has news), GET
/sandbox/view without waiting (what the page's script asks after every change), and GET
/sandbox/map.svg (the first one draws the map, the next come from memory): `--requests` each, one
at a time, p50 / p95 / max of the client's round trip in ms. Then a round trip of the chat: a text
typed on the page (POST /sandbox/seats/lan/text "/myreports") until the bot's answer shows in
/sandbox/view, `--requests` times.

    .venv/bin/python bench/sandbox_chat.py [--starts 5] [--requests 200]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from kernel.settings import Settings
from sandbox import chat
from sandbox.run import opened


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def newest_answer(chat_html: str) -> int:
    """The id of the bot's newest message in a rendered chat."""
    return max((int(n) for n in re.findall(r'class="msg in" id="m(\d+)"', chat_html)), default=0)


def spread(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"p50 {statistics.median(values):7.1f}  p95 {p95:7.1f}  max {values[-1]:7.1f}"


@asynccontextmanager
async def started(folder: Path, times: dict[str, float]):
    """The sandbox as sandbox/run.py starts it, with the time (ms) each step of the start took."""
    settings = Settings(_env_file=None, HTTP_HOST="127.0.0.1", HTTP_PORT=str(free_port()), LOA_LOG_LEVEL="WARNING")
    mark = time.perf_counter()

    def done(step: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        times[step] = (now - mark) * 1000
        mark = now

    async with opened(settings, folder, done=done) as sandbox:
        times["total"] = sum(times.values())
        yield sandbox


async def timed(session: aiohttp.ClientSession, url: str, n: int, **params) -> list[float]:
    found = []
    for _ in range(n):
        started = time.perf_counter()
        async with session.get(url, params=params) as response:
            await response.read()
            assert response.status == 200, response.status
        found.append((time.perf_counter() - started) * 1000)
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")

    phases: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.starts - 1):
            times: dict[str, float] = {}
            async with started(Path(tmp) / f"run{number}", times):
                pass
            for name, value in times.items():
                phases.setdefault(name, []).append(value)
        times = {}
        async with started(Path(tmp) / "last", times) as sandbox:
            for name, value in times.items():
                phases.setdefault(name, []).append(value)
            print(f"\nstarting the sandbox, {args.starts} times (ms):")
            for name, values in phases.items():
                print(f"  {name:14} median {statistics.median(values):7.0f}  min {min(values):7.0f}  "
                      f"max {max(values):7.0f}")
            await chat_figures(sandbox.url, args.requests)


async def chat_figures(url: str, requests: int) -> None:
    await asyncio.sleep(12)  # let the card job post the groups' cards first
    async with aiohttp.ClientSession() as session:
        first_map = await timed(session, url + "sandbox/map.svg", 1)
        print(f"\nweb chat, {requests} requests each, one at a time (round trip, ms):")
        for name, path, params in (("page, Lan", "", {"seat": "lan"}),
                                   ("page, moderators", "", {"seat": "moderators"}),
                                   ("view, Lan", "sandbox/view", {"seat": "lan", "v": -1}),
                                   ("view, moderators", "sandbox/view", {"seat": "moderators", "v": -1}),
                                   ("map.svg, kept", "sandbox/map.svg", {})):
            print(f"  {name:18} {spread(await timed(session, url + path, requests, **params))}")
        print(f"  map.svg, first      {first_map[0]:7.1f}")

        round_trips = []
        for _ in range(requests):
            async with session.get(url + "sandbox/view", params={"seat": "lan", "v": -1}) as response:
                before = newest_answer((await response.json())["chat"])
            begun = time.perf_counter()
            async with session.post(url + "sandbox/seats/lan/text", json={"text": "/myreports"},
                                    headers={chat.HEADER: "1"}) as response:
                assert response.status == 200
            version = -1
            while True:
                async with session.get(url + "sandbox/view", params={"seat": "lan", "v": version}) as response:
                    parts = await response.json()
                if newest_answer(parts["chat"]) > before:
                    break
                version = parts["version"]
            round_trips.append((time.perf_counter() - begun) * 1000)
        print(f"  /myreports typed → answer shown  {spread(round_trips)}")


if __name__ == "__main__":
    asyncio.run(main())

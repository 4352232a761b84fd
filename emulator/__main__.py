"""Serve the emulator standalone: `python -m emulator --port 8081 --token TOKEN`.

For benchmarks in another process and manual runs. Every positive chat id is a user who has
started the bot (there is no users API over HTTP yet), only the last messages of each chat are
kept, and calls are not recorded, so memory does not grow with the number of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from emulator.emulator import DEFAULT_TOKEN, Emulator
from emulator.limits import Limits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token to accept")
    parser.add_argument("--username", default="loa_test_bot", help="the bot's username")
    parser.add_argument("--no-rate-limits", action="store_true", help="lift the flood limits (sizes still apply)")
    parser.add_argument("--history", type=int, default=50, help="messages kept per chat (default 50)")
    parser.add_argument("--quiet", action="store_true", help="no per-request log")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    emulator = Emulator(Limits(rate_limits=not args.no_rate_limits), record_calls=False, token=args.token,
                        bot_username=args.username, auto_users=True, history_limit=args.history,
                        max_errors=1000)
    url = await emulator.start(args.host, args.port, access_log=not args.quiet)
    print(f"Telegram Bot API emulator on {url}", flush=True)
    print(f"token {emulator.token}", flush=True)
    print(f"base_url {url}/bot  base_file_url {url}/file/bot", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()

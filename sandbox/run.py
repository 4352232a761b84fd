"""`loa run` without a bot token: the sandbox.

The real bot, as `loa run` serves it, talks to the built-in Telegram emulator (emulator/) in the
same process instead of to Telegram. Its database is a fresh SQLite file, `data/sandbox.db`,
migrated, with the shipped areas and the demo data (sandbox/demo.py); its HTTP server adds the
web chat (sandbox/chat.py) at `/` beside the dashboard. Each start begins afresh: the emulator
keeps its chats in memory only, so the database must not remember more than they do.
"""

from __future__ import annotations

import asyncio
import fcntl
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.app import build_application
from bot.runner import CannotStart, serving
from emulator import Emulator, Limits
from kernel.settings import Settings
from sandbox import cast, chat, demo
from sandbox import stage as stages
from storage import areas, migrate
from storage.db import Database
from web import server

DATA_DIR = Path("data")
PHOTO_BYTES = 20 * 1024 * 1024  # photos from a phone's camera; Telegram itself takes 10 MB
HISTORY = 500  # messages the emulator keeps per chat


@dataclass
class Sandbox:
    url: str  # the web chat
    settings: Settings  # as the bot runs: the emulator's token and address, the sandbox's database
    emulator: Emulator
    db: Database
    stage: stages.Stage
    demo: demo.Demo


def sandbox_settings(settings: Settings, emulator: Emulator, data_dir: Path) -> Settings:
    """The operator's settings (HTTP port, time zone, language...), with the emulator in place of
    Telegram and the sandbox's own database, media folder and moderators' group."""
    return settings.model_copy(update={
        "telegram_bot_token": SecretStr(emulator.token),
        "telegram_api_url": emulator.url,
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'sandbox.db'}",
        "media_dir": data_dir / "sandbox-media",
        "moderators_chat_id": cast.MODERATORS.chat_id,
        "webhook_url": None,
        "webhook_secret": None,
        "cap_feeds": "",  # no internet is needed, nor used
        "max_body_bytes": max(settings.max_body_bytes, PHOTO_BYTES),
    })


@contextmanager
def _only_one(data_dir: Path) -> Iterator[None]:
    """Hold data/sandbox.lock while the sandbox runs: a second one started from the same folder
    would delete the first one's database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "sandbox.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CannotStart(f"a sandbox is already running from this folder ({data_dir.resolve()}): "
                              "use it, or stop it first") from None
        yield


def _clear(data_dir: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        (data_dir / f"sandbox.db{suffix}").unlink(missing_ok=True)
    shutil.rmtree(data_dir / "sandbox-media", ignore_errors=True)


@asynccontextmanager
async def opened(settings: Settings, data_dir: Path = DATA_DIR, *,
                 done: Callable[[str], None] = lambda _step: None) -> AsyncIterator[Sandbox]:
    """The sandbox, serving until the block ends; `done(step)` is called as each step of the
    start ends (bench/sandbox_chat.py times them)."""
    with _only_one(data_dir):
        async with _opened(settings, data_dir, done) as sandbox:
            yield sandbox


@asynccontextmanager
async def _opened(settings: Settings, data_dir: Path, done: Callable[[str], None]) -> AsyncIterator[Sandbox]:
    emulator = Emulator(Limits.off(), record_calls=False, bot_username="loa_sandbox_bot", bot_name="Loa",
                        auto_users=True, history_limit=HISTORY, max_errors=1000)
    await emulator.start("127.0.0.1", 0)
    done("emulator")
    try:
        bot_settings = sandbox_settings(settings, emulator, data_dir)
        _clear(data_dir)
        db = Database(bot_settings.database_url, pool_size=bot_settings.db_pool_size)
        try:
            await migrate.upgrade(db)
            done("migrate")
            await areas.import_units(db, areas.SHIPPED)
            done("areas")
            seeded = await demo.seed(db, bot_settings)
            done("demo data")
            stage = stages.enact(emulator)
            application = build_application(bot_settings, db)
            async with serving(application, bot_settings, db, (chat.setup_with(stage),)) as http:
                done("bot and HTTP")
                yield Sandbox(f"{server.address(http)}/", bot_settings, emulator, db, stage, seeded)
        finally:
            await db.dispose()
    finally:
        await emulator.stop()


def banner(sandbox: Sandbox, host: str) -> str:
    lines = [
        "",
        "Loa sandbox: no TELEGRAM_BOT_TOKEN is set, so the real bot talks to the built-in Telegram",
        "emulator, with demo data for Hà Nội. Nothing leaves this computer.",
        "",
        f"  Chat with the bot, as a resident or as staff:  {sandbox.url}",
        f"  The staff's web dashboard:                     {sandbox.url}dashboard/",
        "     (sign in by sending /dashboard in a staff member's chat, then open the link)",
        "",
        f"  Demo data: {sandbox.demo.summary()}",
        f"  It starts afresh at every start, in {sandbox.settings.sqlite_path()}.",
        "  Ctrl-C stops. To run the real bot, put TELEGRAM_BOT_TOKEN in .env (see README.md).",
        "",
    ]
    if host not in ("127.0.0.1", "localhost", "::1"):
        lines.insert(-1, f"  Careful: HTTP_HOST is {host}, so anyone who reaches this port can act as any demo user.")
    return "\n".join(lines)


async def run(settings: Settings, stop: asyncio.Event, announce: Callable[[str], None] = print) -> None:
    async with opened(settings) as sandbox:
        announce(banner(sandbox, settings.http_host))
        await stop.wait()

"""Running the bot: polling until SIGINT or SIGTERM, then a clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal

from telegram import BotCommand, Update

from bot.app import POLL_TIMEOUT, build_application
from bot.i18n import translator
from bot.logs import fields
from bot.settings import LANGUAGES, Settings
from storage import migrate
from storage.db import Database

log = logging.getLogger("loa.run")


class NotMigrated(RuntimeError):
    pass


def _commands(language: str) -> list[BotCommand]:
    _ = translator(language).gettext
    return [
        BotCommand("start", _("Start, or see your settings")),
        BotCommand("report", _("Report a problem")),
        BotCommand("myreports", _("The problems you reported")),
        BotCommand("status", _("A report's details: /status CODE")),
        BotCommand("stats", _("How the agencies handle reports")),
        BotCommand("subscriptions", _("Choose which alerts you receive")),
        BotCommand("area", _("Change your ward or commune")),
        BotCommand("quiet", _("Quiet hours at night")),
        BotCommand("language", _("Tiếng Việt / English")),
        BotCommand("help", _("What this bot does")),
        BotCommand("stop", _("Receive no more alerts")),
        BotCommand("forget", _("Delete your data")),
    ]


async def _publish_commands(application) -> None:
    bot = application.bot
    await bot.set_my_commands(_commands(LANGUAGES[0]))
    for language in LANGUAGES:
        await bot.set_my_commands(_commands(language), language_code=language)


async def run_polling(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (by default, until SIGINT or SIGTERM)."""
    stop = stop or _stop_on_signals()
    db = Database(settings.database_url)
    try:
        head = migrate.head_revision()
        if await migrate.current_revision(db) != head:
            raise NotMigrated("the database is not up to date: run `loa db upgrade` first")
        application = build_application(settings, db)
        async with application:
            await _publish_commands(application)
            await application.start()
            sender = application.bot_data["sender"]
            sender.start()
            await application.updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES)
            log.info("started %s", fields(bot=application.bot.username, mode="polling"))
            await stop.wait()
            log.info("stopping")
            await application.updater.stop()
            await sender.stop()
            await application.stop()
    finally:
        await db.dispose()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop

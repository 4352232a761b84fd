"""Running the bot beside its HTTP server, by long polling or a webhook, until SIGINT or SIGTERM,
then a clean shutdown."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import BadRequest
from telegram.ext import Application

from bot.app import POLL_TIMEOUT, build_application
from handlers.context import services
from kernel.i18n import translator
from kernel.logs import fields
from kernel.settings import LANGUAGES, Settings
from storage import migrate
from storage.db import Database, sqlite_file
from web import server, webhook

log = logging.getLogger("loa.run")


class CannotStart(RuntimeError):
    """What keeps the bot from starting, in words for the operator."""


class NotMigrated(CannotStart):
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


@asynccontextmanager
async def serving(application: Application, settings: Settings, db: Database,
                  web_setups: tuple = ()) -> AsyncIterator[web.AppRunner]:
    """The bot, its outbox sender and its HTTP server, started as `loa run` starts them.

    Polling mode: the updater long-polls getUpdates. Webhook mode (WEBHOOK_URL set; see
    web/webhook.py): the updater stays idle, the HTTP server takes Telegram's POSTs and puts
    each update on `application.update_queue`; setWebhook on start. The webhook stays set on
    stop: with several instances behind it, one stopping must not cut off the others (updates
    wait at Telegram while none runs), and polling mode removes it when it starts.
    Leaving the block stops everything in reverse order; updates already received are handled.
    `web_setups` are added to the HTTP server (web.server.build's `extra`).
    Yields the HTTP server (`web.server.address(runner)` is where it listens).
    """
    hook_url = webhook.public_url(settings)
    if settings.webhook_url and (trouble := webhook.problem(settings)):
        raise CannotStart(trouble)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(application)
        await _publish_commands(application)
        await application.start()
        stack.push_async_callback(application.stop)
        sender = services(application).sender
        sender.start()
        stack.push_async_callback(sender.stop)
        try:
            http = await server.start(server.build(application, settings, db, web_setups), settings.http_host,
                                      settings.http_port)
        except OSError as error:
            raise CannotStart(f"cannot serve HTTP on {settings.http_host}:{settings.http_port}: "
                              f"{error.strerror or error} (set HTTP_HOST / HTTP_PORT)") from None
        stack.push_async_callback(server.stop, http)
        if hook_url:
            try:
                await application.bot.set_webhook(url=hook_url, secret_token=webhook.secret_of(settings),
                                                  max_connections=settings.webhook_max_connections,
                                                  allowed_updates=Update.ALL_TYPES)
            except BadRequest as error:
                raise CannotStart(f"Telegram refused the webhook {settings.webhook_url}: {error.message}") from None
        else:
            await application.updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES)
            stack.push_async_callback(application.updater.stop)
        # What start-up built (PTB, SQLAlchemy's compiled statements, the areas, the templates)
        # lives as long as the process: keep it out of the collector's generations, so that a
        # full collection under load looks at the updates' garbage only (pauses of 95 ms become
        # 11 ms, bench/webhook.py, docs/BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        log.info("started %s", fields(bot=application.bot.username, mode="webhook" if hook_url else "polling",
                                      http=server.address(http)))
        try:
            yield http
        finally:
            log.info("stopping")


@contextmanager
def only_process(db: Database) -> Iterator[None]:
    """On a SQLite file, one `loa run` at a time: an exclusive lock on `<database>.instance-lock`
    for as long as it runs (the kernel releases it when the process ends, however it ends).
    Several instances need PostgreSQL, where updates and jobs are claimed in the database."""
    path = sqlite_file(db.url) if db.is_sqlite else None
    if path is None:
        yield
        return
    lock = path.with_name(path.name + ".instance-lock")
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CannotStart(f"another `loa run` already serves the SQLite database {path} (it holds {lock}): "
                              "SQLite serves one process; stop the other one, or use PostgreSQL "
                              "(DATABASE_URL=postgresql://…) to run several instances") from None
        yield
    finally:
        os.close(descriptor)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`loa run`: serve until `stop` is set (by default, until SIGINT or SIGTERM)."""
    stop = stop or stop_on_signals()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    try:
        with only_process(db):
            head = migrate.head_revision()
            if await migrate.current_revision(db) != head:
                raise NotMigrated("the database is not up to date: run `loa db upgrade` first")
            async with serving(build_application(settings, db), settings, db):
                await stop.wait()
    finally:
        await db.dispose()


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop

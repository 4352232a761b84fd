"""The handler registry: every Telegram handler the bot runs, in the order they are tried."""

from __future__ import annotations

from telegram.ext import Application

from handlers import start


def register(application: Application) -> None:
    for module in (start,):
        application.add_handlers(module.HANDLERS)

"""The handler registry: every Telegram handler the bot runs, in the order they are tried."""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    area,
    broadcasting,
    dashboard_link,
    guide,
    leaving,
    myreports,
    onboarding,
    preferences,
    rating,
    report_thread,
    reporting,
    stats,
    triage,
)
from handlers.context import attach_resume

MODULES = (onboarding, area, preferences, leaving, reporting, myreports, report_thread, broadcasting, rating, triage,
           stats, dashboard_link, guide)


def register(application: Application) -> None:
    for module in MODULES:
        application.add_handlers(module.HANDLERS)
    application.add_handlers(guide.LAST)
    attach_resume(application, guide.resume)

"""What a web route borrows from the running bot, as the bot's handlers have it (bot/context.py):
the clock, the life cycle's policy, and the sender to wake when messages were queued. The API,
the CAP ingest and the dashboard all take them from here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from complaints.lifecycle import Policy
from kernel.effects import Effects
from storage.types import utcnow
from web.keys import BOT, SETTINGS

_POLICY = web.AppKey("policy", dict)  # a policy built here when no bot carries one


def setup(app: web.Application) -> None:
    app[_POLICY] = {}


def sender_waker(request: web.Request) -> Callable[[], None] | None:
    """What wakes the running bot's sender, if a bot runs."""
    application = request.config_dict.get(BOT)
    sender = application.bot_data.get("sender") if application is not None else None
    return sender.wake if sender is not None else None


def wake_sender(request: web.Request) -> None:
    """The running bot's sender has messages to send."""
    wake = sender_waker(request)
    if wake is not None:
        wake()


def carry_out(request: web.Request, effects: Effects) -> None:
    """What a write left to do after its commit, done by the composition root (bot/effects.py);
    nothing when no bot runs (a server built without one, as some tests do: no sender to wake)."""
    application = request.config_dict.get(BOT)
    if application is not None:
        application.bot_data["effects"].carry_out(effects)


def now(request: web.Request) -> datetime:
    application = request.config_dict.get(BOT)
    clock = application.bot_data.get("clock") if application is not None else None
    return clock() if clock is not None else utcnow()


def policy(request: web.Request) -> Policy:
    """The life cycle's policy, as the bot's handlers have it."""
    application = request.config_dict.get(BOT)
    if application is not None and application.bot_data.get("policy") is not None:
        return application.bot_data["policy"]
    built = request.config_dict[_POLICY]
    if "policy" not in built:
        from kernel.i18n import translator
        from handlers.rating import rating_markup  # here: the handlers import the bot's modules

        built["policy"] = Policy.from_settings(request.config_dict[SETTINGS], translator=translator,
                                               rating_markup=rating_markup)
    return built["policy"]

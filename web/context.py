"""What a web route borrows from the running bot, as the bot's handlers have it (handlers/context.py):
the clock, the life cycle's policy, the sender and the runner of a write's effects. The composition
root (bot/app.py) put them on the PTB Application (web/keys.py's BOT); this module is the only one
of web/ that knows where, and reads them at each call (tests set the clock on a built bot). The
API, the CAP ingest and the dashboard all take them from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web

from broadcasts.service import SenderService
from complaints.lifecycle import Policy
from kernel.effects import Effects
from kernel.i18n import translator
from storage.types import utcnow
from web.keys import BOT, SETTINGS

# The keys of the bot's bot_data the root fills (handlers/context.py names the same ones).
_SENDER, _EFFECTS, _POLICY_OF, _CLOCK = "sender", "effects", "policy", "clock"

_POLICY = web.AppKey("policy", dict)  # a policy built here when no bot carries one


def setup(app: web.Application) -> None:
    app[_POLICY] = {}


def _bot_data(app: Mapping) -> Mapping:
    """The running bot's bot_data, or nothing when the server runs without a bot (benches)."""
    application = app.get(BOT)
    return application.bot_data if application is not None else {}


def sender(app: Mapping) -> SenderService | None:
    """The running bot's outbox sender, if a bot runs (`app` or `request.config_dict`)."""
    return _bot_data(app).get(_SENDER)


def sender_waker(request: web.Request) -> Callable[[], None] | None:
    """What wakes the running bot's sender, if a bot runs."""
    found = sender(request.config_dict)
    return found.wake if found is not None else None


def wake_sender(request: web.Request) -> None:
    """The running bot's sender has messages to send."""
    wake = sender_waker(request)
    if wake is not None:
        wake()


def carry_out(request: web.Request, effects: Effects) -> None:
    """What a write left to do after its commit, done by the composition root (bot/effects.py);
    nothing when no bot runs (a server built without one, as some tests do: no sender to wake)."""
    run = _bot_data(request.config_dict).get(_EFFECTS)
    if run is not None:
        run(effects)


def now(request: web.Request) -> datetime:
    return _bot_data(request.config_dict).get(_CLOCK, utcnow)()


def policy(request: web.Request) -> Policy:
    """The life cycle's policy, as the bot's handlers have it. Without a bot (benches), one of the
    settings with the translations, and no rating buttons under a resolution message."""
    policy_of: Callable[[], Policy] | None = _bot_data(request.config_dict).get(_POLICY_OF)
    if policy_of is not None:
        return policy_of()
    built = request.config_dict[_POLICY]
    if "policy" not in built:
        built["policy"] = Policy.from_settings(request.config_dict[SETTINGS], translator=translator)
    return built["policy"]

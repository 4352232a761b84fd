"""What every handler and job gets besides the update: the services the composition root (bot/app.py)
put on the PTB Application, reached only through the typed properties here.

`LoaContext` is the handlers' context type (`context.db`, `context.settings`, `context.sender`,
`context.policy`, `context.now()`, `context.carry_out(effects)`); a job that holds only the
`Application` asks `services(application)` for the same things. This module is the only one of
handlers/ that knows the keys of `bot_data` the services sit under; `attach` fills them.

Settings, the clock and the policy are read at each call, not kept: tests replace
`bot_data["settings"]` and set `bot_data["clock"]` on a built application.
"""

from __future__ import annotations

import gettext
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from broadcasts.service import SenderService
from complaints.lifecycle import Policy
from kernel.effects import Effects
from kernel.i18n import translator
from kernel.settings import Settings
from storage.db import Database
from storage.types import utcnow

# The keys of bot_data, for this module and the root that fills them (web/context.py reads the
# same ones from the web side).
SETTINGS, DB, SENDER, EFFECTS, POLICY, CLOCK = "settings", "db", "sender", "effects", "policy", "clock"
RESUME = "resume"


class Services:
    """The composition root's services, as one Application's bot_data holds them."""

    def __init__(self, application: Application) -> None:
        self._data: MutableMapping = application.bot_data

    @property
    def db(self) -> Database:
        return self._data[DB]

    @property
    def settings(self) -> Settings:
        return self._data[SETTINGS]

    @property
    def sender(self) -> SenderService:
        return self._data[SENDER]

    @property
    def policy(self) -> Policy:
        """What complaints.lifecycle.apply needs from the settings: deadlines, admins, translations."""
        return self._data[POLICY]()

    def now(self) -> datetime:
        """The time for deadlines and transitions: `bot_data["clock"]()` when a test set one."""
        return self._data.get(CLOCK, utcnow)()

    def carry_out(self, effects: Effects) -> None:
        """What a write left to do after its commit, done by the composition root (bot/effects.py)."""
        self._data[EFFECTS](effects)


def services(application: Application) -> Services:
    """The services of `application`, for jobs and callbacks that get the Application itself."""
    return Services(application)


def attach(application: Application, *, settings: Settings, db: Database, sender: SenderService,
           policy: Callable[[], Policy], carry_out: Callable[[Effects], None]) -> None:
    """Put the root's services where `Services` finds them. `policy()` gives the policy of the
    current settings; `carry_out` is bot/effects.py's EffectRunner.carry_out."""
    application.bot_data.update({SETTINGS: settings, DB: db, SENDER: sender, POLICY: policy, EFFECTS: carry_out})


def attach_resume(application: Application, resume: Callable[[Update, LoaContext, bool], Awaitable[bool]]) -> None:
    """Put `LoaContext.resume`'s work (handlers/guide.py `resume`, which builds on every step's
    module) where the steps' handlers reach it without importing it."""
    application.bot_data[RESUME] = resume


class LoaContext(CallbackContext[ExtBot, dict, dict, dict]):
    @property
    def services(self) -> Services:
        return Services(self.application)

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def sender(self) -> SenderService:
        return self.services.sender

    @property
    def policy(self) -> Policy:
        """What complaints.lifecycle.apply needs from the settings: deadlines, admins, translations."""
        return self.services.policy

    def taken_over(self, update: Update) -> bool:
        """Whether `update` was taken over from an instance that died while handling it
        (storage/updates.py): its work may be half done, the reply to it not sent."""
        claims = getattr(self.application.update_processor, "claims", None)
        return claims is not None and update.update_id in claims.taken_over

    async def resume(self, update: Update, *, answered: bool = False) -> bool:
        """Called where a handler finds its step done already (a stale tap, a message the step no
        longer takes): for an update taken over from an instance that died after its commit,
        perhaps before its reply, the prompt of the step the resident is at now is sent instead
        (handlers/guide.py `resume`). True when it answered; False otherwise (the handler answers
        as it would). `answered`: the handler answered the tap already."""
        if not self.taken_over(update):
            return False
        return await self.application.bot_data[RESUME](update, self, answered)

    def tr(self, language: str) -> gettext.NullTranslations:
        return translator(language)

    def now(self) -> datetime:
        """The time for deadlines and transitions: `bot_data["clock"]()` when a test set one."""
        return self.services.now()

    def carry_out(self, effects: Effects) -> None:
        """What a write left to do after its commit, done by the composition root (bot/effects.py)."""
        self.services.carry_out(effects)

"""What every handler gets besides the update: the database, the settings and a translator."""

from __future__ import annotations

import gettext
from datetime import datetime

from telegram.ext import Application, CallbackContext, ExtBot

from kernel.effects import Effects
from kernel.i18n import translator
from kernel.settings import Settings
from broadcasts.service import SenderService
from complaints.lifecycle import Policy
from storage.db import Database
from storage.types import utcnow


class LoaContext(CallbackContext[ExtBot, dict, dict, dict]):
    @property
    def db(self) -> Database:
        return self.application.bot_data["db"]

    @property
    def settings(self) -> Settings:
        return self.application.bot_data["settings"]

    def tr(self, language: str) -> gettext.NullTranslations:
        return translator(language)


    @property
    def policy(self) -> Policy:
        """What complaints.lifecycle.apply needs from the settings: deadlines, admins, translations."""
        policy = self.application.bot_data.get("policy")
        if policy is None:
            from handlers.rating import rating_markup  # here: the handlers package imports this module

            policy = self.application.bot_data["policy"] = Policy.from_settings(
                self.settings, translator=translator, rating_markup=rating_markup)
        return policy

    def now(self) -> datetime:
        """The time for deadlines and transitions: `bot_data["clock"]()` when a test set one."""
        return self.application.bot_data.get("clock", utcnow)()

    @property
    def sender(self) -> SenderService:
        return self.application.bot_data["sender"]

    def carry_out(self, effects: Effects) -> None:
        """What a write left to do after its commit, done by the composition root (bot/effects.py)."""
        self.application.bot_data["effects"].carry_out(effects)


def attach(application: Application, settings: Settings, db: Database) -> None:
    application.bot_data["settings"] = settings
    application.bot_data["db"] = db
    application.bot_data["sender"] = SenderService(db, settings)

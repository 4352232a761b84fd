"""What every handler gets besides the update: the database, the settings and a translator."""

from __future__ import annotations

import gettext

from telegram.ext import Application, CallbackContext, ExtBot

from bot.i18n import translator
from bot.settings import Settings
from broadcasts.service import SenderService
from storage.db import Database


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
    def sender(self) -> SenderService:
        return self.application.bot_data["sender"]


def attach(application: Application, settings: Settings, db: Database) -> None:
    application.bot_data["settings"] = settings
    application.bot_data["db"] = db
    application.bot_data["sender"] = SenderService(db, settings)

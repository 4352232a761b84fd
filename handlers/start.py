"""/start: the first contact. Records the resident and greets them in their language."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.context import LoaContext
from bot.i18n import pick_language
from storage import residents


async def start(update: Update, context: LoaContext) -> None:
    user = update.effective_user
    async with context.db.transaction() as session:
        resident, created = await residents.upsert_on_start(
            session,
            user.id,
            first_name=user.first_name,
            username=user.username,
            language=pick_language(user.language_code, context.settings.default_language),
        )
        language = resident.language
    _ = context.tr(language).gettext
    greeting = (
        _("Welcome to Loa, the city's channel to its residents: alerts for your area, and a way to report problems to the city.")
        if created
        else _("Welcome back to Loa. Your settings are as you left them.")
    )
    await update.effective_message.reply_text(greeting)


HANDLERS = [CommandHandler("start", start, filters=filters.ChatType.PRIVATE)]

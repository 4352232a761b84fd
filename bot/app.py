"""Building the PTB Application: transport, context type, the services the handlers and the web
routes reach (handlers/context.py, web/context.py), handlers, jobs, update logging."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import Application, ApplicationBuilder, ContextTypes, ExtBot, TypeHandler

import handlers
from bot import ordering
from bot.effects import EffectRunner
from bot.ordering import PerChatUpdateProcessor, update_kind
from broadcasts.service import SenderService
from complaints.lifecycle import Policy
from handlers import broadcasting, deadline_job, feed_job, retention_job, staff_cards
from handlers.context import LoaContext, attach, services
from handlers.rating import rating_markup
from kernel.i18n import translator
from kernel.logs import fields
from kernel.settings import Settings
from kernel.transport import AiohttpRequest
from storage.db import Database
from storage.updates import UpdateClaims

log = logging.getLogger("loa.updates")

# Long polling holds getUpdates open for this many seconds; its read timeout must exceed it.
POLL_TIMEOUT = 10
# What Telegram answers to answerCallbackQuery for a tap older than its ~15 s, or answered already.
QUERY_TOO_OLD = "query is too old"


class LoaBot(ExtBot):
    """The bot of every handler: answering a tap never stops the handler's real work. A tap
    answered late (its update waited under load, or was taken over from an instance that died,
    storage/updates.py), or answered already by that instance, gets "query is too old" from
    Telegram: the resident merely misses the small notice, while the edit or the next question
    that follows must still come."""

    async def answer_callback_query(self, callback_query_id: str, *args, **kwargs) -> bool:
        try:
            return await super().answer_callback_query(callback_query_id, *args, **kwargs)
        except BadRequest as error:
            if QUERY_TOO_OLD not in error.message.lower():
                raise
            log.warning("callback_answer_late %s", fields(query=callback_query_id))
            return False


async def _log_update(update: Update, _context: LoaContext) -> None:
    log.info("update %s", fields(
        id=update.update_id,
        kind=update_kind(update),
        chat=update.effective_chat.id if update.effective_chat else None,
        user=update.effective_user.id if update.effective_user else None,
    ))


async def _log_error(update: object, context: LoaContext) -> None:
    ids = {}
    if isinstance(update, Update):
        ids = {"id": update.update_id, "chat": update.effective_chat.id if update.effective_chat else None}
    log.error("handler_failed %s", fields(**ids, error=type(context.error).__name__),
              exc_info=context.error)


def policy_of(application: Application) -> Callable[[], Policy]:
    """The life cycle's policy of the application's current settings (made again when a test
    replaces them), with the bot's translations and rating buttons."""
    made: dict = {}

    def policy() -> Policy:
        settings = services(application).settings
        if made.get("settings") is not settings:
            made.update(settings=settings, policy=Policy.from_settings(settings, translator=translator,
                                                                       rating_markup=rating_markup))
        return made["policy"]

    return policy


def build_application(settings: Settings, db: Database) -> Application:
    api = settings.telegram_api_url
    # Several instances may share a webhook on PostgreSQL: updates are claimed in the database.
    claims = UpdateClaims(db) if settings.webhook_url and not db.is_sqlite else None
    application = (
        ApplicationBuilder()
        .bot(LoaBot(settings.token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
                    request=AiohttpRequest(connection_pool_size=64),
                    get_updates_request=AiohttpRequest(connection_pool_size=1, read_timeout=POLL_TIMEOUT + 10)))
        .context_types(ContextTypes(context=LoaContext))
        .concurrent_updates(PerChatUpdateProcessor(settings.updates_in_flight, claims))
        .build()
    )
    sender = SenderService(db, settings)
    runner = EffectRunner(db, settings, wake=sender.wake, sync_cards=lambda: staff_cards.soon(application))
    attach(application, settings=settings, db=db, sender=sender, policy=policy_of(application),
           carry_out=runner.carry_out)
    application.add_handler(TypeHandler(Update, _log_update), group=-1)
    handlers.register(application)
    broadcasting.add_jobs(application)
    staff_cards.add_jobs(application)
    deadline_job.add_jobs(application)
    retention_job.add_jobs(application)
    feed_job.add_jobs(application)
    ordering.add_jobs(application)
    application.add_error_handler(_log_error)
    return application

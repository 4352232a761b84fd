"""Building the PTB Application: transport, context type, handlers, update logging."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

import handlers
from broadcasts import feeds
from handlers import broadcasting, deadline_job, draft_job, staff_cards
from bot.context import LoaContext, attach
from bot.effects import EffectRunner
from kernel.logs import fields
from bot.ordering import PerChatUpdateProcessor, update_kind
from kernel.settings import Settings
from kernel.transport import AiohttpRequest
from storage.db import Database

log = logging.getLogger("loa.updates")

# Long polling holds getUpdates open for this many seconds; its read timeout must exceed it.
POLL_TIMEOUT = 10


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


def build_application(settings: Settings, db: Database) -> Application:
    api = settings.telegram_api_url
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(AiohttpRequest(connection_pool_size=64))
        .get_updates_request(AiohttpRequest(connection_pool_size=1, read_timeout=POLL_TIMEOUT + 10))
        .context_types(ContextTypes(context=LoaContext))
        .concurrent_updates(PerChatUpdateProcessor())
        .build()
    )
    attach(application, settings, db)
    application.bot_data["effects"] = EffectRunner(db, settings, wake=application.bot_data["sender"].wake,
                                                   sync_cards=lambda: staff_cards.soon(application))
    application.add_handler(TypeHandler(Update, _log_update), group=-1)
    handlers.register(application)
    broadcasting.add_jobs(application)
    staff_cards.add_jobs(application)
    deadline_job.add_jobs(application)
    draft_job.add_jobs(application)
    feeds.add_jobs(application)
    application.add_error_handler(_log_error)
    return application

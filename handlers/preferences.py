"""Alert topics (/subscriptions) and quiet hours (/quiet), in onboarding and afterwards."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from handlers import callbacks, prompts
from handlers.awaiting import Awaiting
from handlers.cards import Card, edit
from handlers.context import LoaContext
from handlers.onboarding import for_resident, next_step, stale_button, summary
from kernel.i18n import translator
from storage import residents, topics
from storage.models import Resident

PRIVATE = filters.ChatType.PRIVATE


async def subscriptions_command(update: Update, context: LoaContext) -> None:
    async def build(session, resident: Resident) -> Card:
        resident.awaiting = None if resident.onboarded else resident.awaiting
        return prompts.topics(resident, await topics.all_topics(session),
                              await topics.subscribed(session, resident.id))

    await for_resident(update, context, build)


async def toggle_topic(update: Update, context: LoaContext) -> None:
    """`tp:<code>` flips one topic; `tp:!` is "Done"."""
    query = update.callback_query
    [code] = callbacks.TOPIC.args(query.data)
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        if resident is None:
            prompt = None
        elif code == "!":
            _ = translator(resident.language).gettext
            if resident.onboarded:
                prompt = await summary(session, resident, _("Saved."))
            else:
                prompt = await next_step(session, resident, Awaiting.TOPICS)
        else:
            now_on = await topics.toggle(session, resident.id, code)
            prompt = None if now_on is None else prompts.topics(
                resident, await topics.all_topics(session), await topics.subscribed(session, resident.id))
    if prompt is None:
        await stale_button(update, context)
        return
    await query.answer()
    await edit(context.application, query, prompt)


async def quiet_command(update: Update, context: LoaContext) -> None:
    async def build(_session, resident: Resident) -> Card:
        return prompts.quiet(resident)

    await for_resident(update, context, build)


async def choose_quiet(update: Update, context: LoaContext) -> None:
    """`q:keep`, `q:off`, `q:chg` (then `q:s:<hour>`), `q:e:<start>:<end>`."""
    query = update.callback_query
    parts = callbacks.QUIET.args(query.data)
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        prompt = None
        if resident is not None:
            _ = translator(resident.language).gettext
            action = parts[0]
            if action == "chg":
                prompt = prompts.quiet_start(resident)
            elif action == "s" and len(parts) == 2 and int(parts[1]) in prompts.QUIET_STARTS:
                prompt = prompts.quiet_end(resident, int(parts[1]))
            elif action in ("keep", "off", "e"):
                if action == "off":
                    resident.quiet_start_minute = resident.quiet_end_minute = None
                elif action == "e":
                    start_h, end_h = int(parts[1]), int(parts[2])
                    resident.quiet_start_minute, resident.quiet_end_minute = start_h * 60, end_h * 60
                if resident.onboarded:
                    prompt = await summary(session, resident, _("Saved."))
                else:
                    prompt = await next_step(session, resident, Awaiting.QUIET)
    if prompt is None:
        await stale_button(update, context)
        return
    await query.answer()
    await edit(context.application, query, prompt)


HANDLERS = [
    CommandHandler("subscriptions", subscriptions_command, filters=PRIVATE),
    CommandHandler("quiet", quiet_command, filters=PRIVATE),
    CallbackQueryHandler(toggle_topic, pattern=callbacks.TOPIC.pattern),
    CallbackQueryHandler(choose_quiet, pattern=callbacks.QUIET.pattern),
]

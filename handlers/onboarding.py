"""/start and the first-time walk through language → area → topics → quiet hours → summary.

Handlers do their database work in one transaction and talk to Telegram after it commits,
so no write lock is held across a network round trip.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, true
from sqlmodel import select
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from handlers import callbacks, prompts
from handlers.awaiting import ONBOARDING, Awaiting
from handlers.cards import Card, edit, show
from handlers.context import LoaContext
from kernel.i18n import pick_language, translator
from storage import residents, topics
from storage.db import Database
from storage.models import Area, Resident, Subscription, Topic
from storage.rows import columns_of, split

PRIVATE = filters.ChatType.PRIVATE


async def next_step(session, resident: Resident, done: Awaiting) -> Card:
    """After onboarding step `done`, the prompt of the next one, or the summary after the last."""
    following = ONBOARDING[ONBOARDING.index(done) + 1:]
    if not following:
        resident.onboarded = True
        resident.awaiting = None
        _ = translator(resident.language).gettext
        return await summary(session, resident, _("All set! You will receive alerts for your area."))
    resident.awaiting = following[0]
    if resident.awaiting == Awaiting.AREA:
        return await area_prompt(session, resident)
    if resident.awaiting == Awaiting.TOPICS:
        chosen = await topics.subscribed(session, resident.id)
        return prompts.topics(resident, await topics.all_topics(session), chosen)
    return prompts.quiet(resident)


async def area_prompt(session, resident: Resident) -> Card:
    """The area question, saying which area the resident has now, if any."""
    prompt = prompts.area(resident)
    area = await session.get(Area, resident.area_code) if resident.area_code else None
    if area is not None:
        _ = translator(resident.language).gettext
        prompt.text = _("Your area now: {area}").format(
            area=prompts.area_name(area, resident.language)) + "\n\n" + prompt.text
    return prompt


# Built once (see storage/residents.py).
_TOPICS_AND_CHOSEN = (select(Topic, Subscription.topic_code)
                      .outerjoin(Subscription, and_(Subscription.topic_code == Topic.code,
                                                    Subscription.resident_id == bindparam("resident_id")))
                      .order_by(Topic.position, Topic.code))


async def topics_and_chosen(session, resident_id: int) -> tuple[list[Topic], set[str]]:
    """Every topic in menu order, and the codes of those the resident follows, in one query."""
    rows = (await session.execute(_TOPICS_AND_CHOSEN, {"resident_id": resident_id})).all()
    return [topic for topic, _code in rows], {code for _topic, code in rows if code is not None}


async def summary(session, resident: Resident, title: str) -> Card:
    area = await session.get(Area, resident.area_code) if resident.area_code else None
    all_topics, chosen = await topics_and_chosen(session, resident.id)
    return prompts.summary(resident, area, all_topics, chosen, title=title)


def _start_changes_nothing(resident: Resident, user) -> bool:
    """Whether /start would leave the resident's row as it is: the same name, not marked
    blocked, and already where /start puts them (onboarded with nothing awaited and alerts on,
    or at the language question)."""
    if (resident.first_name != user.first_name or resident.username != user.username
            or resident.blocked_at is not None):
        return False
    if resident.onboarded:
        return resident.awaiting is None and resident.alerts_enabled
    return resident.awaiting == Awaiting.LANGUAGE


# /start's read, in one statement: the resident, their area and, for an onboarded resident (whose
# /start shows the summary), one row per topic in menu order with their subscription to it. A LEFT
# JOIN, so that the resident's row comes back without topics too. Columns, not entities, for
# `Database.rows`, the fast path: every /start reads this. Not the ward's boundary: kilobytes of
# GeoJSON that the summary does not show, on each of the topics' rows.
_RESIDENT, _AREA, _TOPIC = columns_of(Resident), columns_of(Area, without=("boundary",)), columns_of(Topic)
_START = (select(*_RESIDENT.columns, *_AREA.columns, *_TOPIC.columns, Subscription.topic_code)
          .select_from(Resident)
          .outerjoin(Area, Area.code == Resident.area_code)
          .outerjoin(Topic, Resident.onboarded == true())
          .outerjoin(Subscription, and_(Subscription.resident_id == Resident.id, Subscription.topic_code == Topic.code))
          .where(Resident.telegram_id == bindparam("telegram_id"))
          .order_by(Topic.position, Topic.code))


async def start_read(db: Database, telegram_id: int) -> tuple[Resident | None, Area | None, list[Topic], set[str]]:
    """/start's read: the resident (None for someone new), their area, and for an onboarded
    resident every topic in menu order and the codes of those they follow."""
    rows = await db.rows(_START, {"telegram_id": telegram_id})
    if not rows:
        return None, None, [], set()
    (resident, area), _rest = split(rows[0], _RESIDENT, _AREA)
    topic_columns = slice(-1 - len(_TOPIC), -1)
    all_topics = [topic for row in rows if (topic := _TOPIC.load(row[topic_columns])) is not None]
    return resident, area, all_topics, {row[-1] for row in rows if row[-1] is not None}


async def start(update: Update, context: LoaContext) -> None:
    user = update.effective_user
    # Most /starts come from residents whose row they would not change: answer those from a
    # read, without taking SQLite's write lock (their updated_at does not move).
    prompt = None
    resident, area, all_topics, chosen = await start_read(context.db, user.id)
    if resident is not None and _start_changes_nothing(resident, user):
        if resident.onboarded:
            _ = translator(resident.language).gettext
            prompt = prompts.summary(resident, area, all_topics, chosen,
                                     title=_("Welcome back to Loa. Your settings are as you left them."))
        else:
            prompt = prompts.language(resident.language)
    if prompt is None:
        async with context.db.transaction() as session:
            resident, created = await residents.upsert_on_start(
                session, user.id, first_name=user.first_name, username=user.username,
                language=pick_language(user.language_code, context.settings.default_language),
            )
            if created:
                await topics.subscribe_defaults(session, resident.id)
            if not resident.onboarded:
                resident.awaiting = Awaiting.LANGUAGE
                prompt = prompts.language(resident.language)
            else:
                _ = translator(resident.language).gettext
                resident.awaiting = None
                title = _("Welcome back to Loa. Your settings are as you left them.")
                if not resident.alerts_enabled:
                    resident.alerts_enabled = True
                    title = _("Welcome back to Loa. Alerts are on again, with your old settings.")
                prompt = await summary(session, resident, title)
    await show(update, context, prompt)


async def choose_language(update: Update, context: LoaContext) -> None:
    query = update.callback_query
    [code] = callbacks.LANGUAGE.args(query.data)
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        if resident is None or code not in prompts.LANGUAGE_NAMES:
            resident = None
        else:
            # A second tap of the same language once the next step is asked: nothing more to do
            # (but see `context.resume` below).
            again = resident.awaiting != Awaiting.LANGUAGE and code == resident.language
            resident.language = code
            following = (None if resident.onboarded or again
                         else await next_step(session, resident, Awaiting.LANGUAGE))
    if resident is None:
        await stale_button(update, context)
        return
    _ = translator(code).gettext
    chosen = _("Language: {value}").format(value=prompts.LANGUAGE_NAMES[code])
    await query.answer(chosen)
    await edit(context.application, query, Card(chosen))
    if following is not None:
        await show(update, context, following)
    elif again:
        await context.resume(update, answered=True)


async def for_resident(update: Update, context: LoaContext, build) -> None:
    """A settings command: shows what `build(session, resident)` makes; someone new gets /start."""
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        prompt = await build(session, resident) if resident is not None else None
    if prompt is None:
        await start(update, context)
        return
    await show(update, context, prompt)


async def language_command(update: Update, context: LoaContext) -> None:
    async def build(_session, resident: Resident) -> Card:
        return prompts.language(resident.language)

    await for_resident(update, context, build)


def language_of(update: Update, context: LoaContext, resident: Resident | None) -> str:
    """The resident's language, or for someone unknown the one their Telegram suggests."""
    if resident is not None:
        return resident.language
    return pick_language(update.effective_user.language_code, context.settings.default_language)


async def stale_button(update: Update, context: LoaContext) -> None:
    """A button from an old message, or one the resident can no longer use: say so, change nothing
    (unless the tap was taken over from a dead instance: `context.resume`)."""
    if await context.resume(update):
        return
    resident = await residents.find(context.db, update.effective_user.id)
    _ = translator(language_of(update, context, resident)).gettext
    await update.callback_query.answer(
        _("This button is no longer active. Send /start to see your settings."), show_alert=True)


HANDLERS = [
    CommandHandler("start", start, filters=PRIVATE),
    CommandHandler("language", language_command, filters=PRIVATE),
    CallbackQueryHandler(choose_language, pattern=callbacks.LANGUAGE.pattern),
]

"""/broadcast: topic → areas → severity → text (Vietnamese, optional English) → optional photo →
preview with the exact recipient count → send now, or at a time (once, daily or weekly); then a
progress message edited every few seconds into a final report, with Cancel sending, Correct and
Cancel alert. /schedules lists the broadcaster's scheduled alerts and stops them.

Only users with the broadcaster or admin role (staff_roles, or LOA_ADMIN_IDS) get through, checked
on every command, message and button. The draft is an Alert with status "draft" whose
`wizard_step` says what the wizard waits for, so a restart loses nothing; typed messages reach
the wizard through guide.unexpected, buttons (`bc:<alert id>:<action>...`) come here directly.
As everywhere, the database work is one transaction, committed before Telegram is called. What
happens to the alert (sent, scheduled, corrected, stopped) is broadcasts.lifecycle's, whose
refusals the buttons answer as out of date; its Effects are carried out after the commit.

Two JobQueue jobs (added by `add_jobs` where the Application is built): the progress job edits
the progress messages of the alerts being followed (it finds them in the database, so it carries
on after a restart), and the schedule job runs due schedules (broadcasts.lifecycle.run_due).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import case, delete, select
from sqlalchemy import update as sql_update
from telegram import Message, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from broadcasts import alerts, drafts, lifecycle, schedules
from broadcasts.alerts import Status
from broadcasts.lifecycle import By, Refused, Way
from broadcasts.render import render_alert
from handlers import broadcast_prompts as cards
from handlers import callbacks, edits
from handlers.awaiting import Awaiting
from handlers.cards import Card, edit, page_of, send
from handlers.context import LoaContext, services
from kernel.effects import Effects
from kernel.i18n import pick_language
from storage import areas, jobs, residents, roles, topics
from storage.models import Alert, Area, Role, Topic
from storage.types import utcnow

PRIVATE = filters.ChatType.PRIVATE
PROGRESS_EVERY = 3.0  # seconds between two edits of a progress message
WIZARD_SOURCE = "bot"
log = logging.getLogger("loa.broadcasting")


# ---------------------------------------------------------------- who and in which language


async def allowed(session, context: LoaContext, telegram_id: int) -> bool:
    return (telegram_id in context.settings.admin_ids
            or await roles.has_role(session, telegram_id, Role.BROADCASTER, Role.ADMIN))


async def staff_language(session, update: Update, context: LoaContext) -> str:
    resident = await residents.by_telegram_id(session, update.effective_user.id)
    if resident is not None:
        return resident.language
    return pick_language(update.effective_user.language_code, context.settings.default_language)


async def _draft(session, telegram_id: int) -> Alert | None:
    query = (select(Alert).where(Alert.sender_telegram_id == telegram_id, Alert.status == Status.DRAFT)
             .order_by(Alert.id.desc()).limit(1).with_for_update())
    return (await session.execute(query)).scalar_one_or_none()


async def _waiting(session, telegram_id: int) -> Alert | None:
    """The alert the wizard waits for an answer about: a correction's text first, else the draft."""
    query = (select(Alert)
             .where(Alert.sender_telegram_id == telegram_id, Alert.wizard_step.is_not(None),
                    Alert.wizard_step != drafts.FOLLOW, Alert.status.in_([Status.DRAFT, Status.DONE]))
             .order_by(case((Alert.wizard_step == drafts.FIX, 0), else_=1), Alert.id.desc())
             .limit(1).with_for_update())
    return (await session.execute(query)).scalar_one_or_none()


# ---------------------------------------------------------------- what a handler does after its transaction


@dataclass
class Outcome:
    answer: str | None = None  # the callback query's answer
    popup: bool = False
    edit: Card | None = None  # the tapped message becomes this
    close: bool = False  # the tapped message loses its buttons
    send: list[Card] = field(default_factory=list)
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    picker: int | None = None  # the alert whose area picker the last card shown is (`_live`)


async def _carry_out(update: Update, context: LoaContext, outcome: Outcome) -> None:
    query = update.callback_query
    shown = None
    if query is not None:
        await query.answer(outcome.answer, show_alert=outcome.popup)
        if outcome.edit is not None:
            await edit(context.application, query, outcome.edit)
            shown = query.message.message_id
        elif outcome.close:
            await edits.query_markup(context.application, query, None)
    for card in outcome.send:
        shown = (await send(context.bot, update.effective_chat.id, card)).message_id
    if outcome.picker is not None and shown is not None:
        await _live(context, outcome.picker, update.effective_chat.id, shown)
    for action in outcome.after:
        await action()


async def _live(context: LoaContext, alert_id: int, chat_id: int, message_id: int) -> None:
    """One area picker at a time: the one in `message_id` is the broadcaster's now, and the one
    before it loses its buttons (a tap that still reaches it is refused: `_stale_picker`)."""
    async with context.db.transaction() as session:
        alert = await session.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            return
        before, alert.wizard_message_id = alert.wizard_message_id, message_id
    if before is not None and before != message_id:
        try:
            await edits.markup(context.application, chat_id, before, None)
        except BadRequest as error:  # deleted, or too old to edit: its taps are refused all the same
            log.info("old_picker_kept alert=%s error=%s", alert_id, error)


def _picker_step(alert: Alert) -> int | None:
    """The alert's id when its draft is at the areas step: what is shown then is its area picker."""
    return alert.id if alert.status == Status.DRAFT and drafts.step_of(alert)[0] == "areas" else None


PICKER_BUTTONS = frozenset({"ap", "ax", "ad"})


def _stale_picker(alert: Alert, action: str, update: Update) -> bool:
    """A button of an area picker that is no longer the live one."""
    return (action in PICKER_BUTTONS and alert.wizard_message_id is not None
            and update.callback_query.message.message_id != alert.wizard_message_id)


# ---------------------------------------------------------------- the cards of each step


async def _chosen_areas(session, alert: Alert) -> list[Area]:
    found = []
    for code in alert.area_codes or []:
        area = await areas.get(session, code)
        if area is not None:
            found.append(area)
    return found


async def _picker(session, alert: Alert, language: str, parent_code: str | None, page: int = 0,
                  *, around: str | None = None, intro: str = "") -> Card:
    parent = await areas.get(session, parent_code) if parent_code else None
    children = await areas.children(session, parent.code if parent else None)
    if around is not None and any(a.code == around for a in children):
        page = page_of(parent, children, around)
    return cards.area_picker(alert, await _chosen_areas(session, alert), parent, children, page, language,
                             frequent=await drafts.frequent_areas(session), intro=intro)


async def preview(session, context: LoaContext, alert: Alert, language: str) -> list[Card]:
    """The alert exactly as residents get it (in Vietnamese, and in English if it has that text),
    then the controls with the exact number of recipients."""
    topic = await session.get(Topic, alert.topic_code)
    out = []
    for reader in ("vi", "en") if (alert.texts or {}).get("en") else ("vi",):
        rendered = render_alert(alert, topic, reader, tz=context.settings.tz)
        out.append(Card(rendered.text, photo=rendered.photo, html=True, link_preview=False))
    count = await alerts.count_recipients(session, alert.topic_code, alert.area_codes)
    out.append(cards.preview_controls(alert, topic, await _chosen_areas(session, alert), count, language))
    return out


async def step_cards(session, context: LoaContext, alert: Alert, language: str, *, intro: str = "") -> list[Card]:
    step, _editing = drafts.step_of(alert)
    if step == "topic":
        return [cards.topics(alert, await topics.all_topics(session), language, intro=intro)]
    if step == "areas":
        start = await drafts.start(session, alert.sender_telegram_id)
        return [await _picker(session, alert, language, start.province, around=start.around, intro=intro)]
    if step == drafts.PREVIEW:
        out = await preview(session, context, alert, language)
    elif step == drafts.TIME:
        out = [cards.ask_time(alert, language, context.settings.tz, utcnow())]
    elif step == drafts.REPEAT:
        out = [cards.ask_repeat(alert, language, context.settings.tz)]
    else:
        out = [{"severity": cards.severity, "text_vi": cards.text_vi, "text_en": cards.text_en,
                "photo": cards.photo}[step](alert, language)]
    return ([Card(intro)] if intro else []) + out


async def advance(session, context: LoaContext, alert: Alert, language: str) -> list[Card]:
    """The current step was answered: on to the next one (or back to the preview after an edit)."""
    step, editing = drafts.step_of(alert)
    alert.wizard_step = drafts.next_step(step, editing)
    return await step_cards(session, context, alert, language)


# ---------------------------------------------------------------- /broadcast, /cancel, /schedules


async def broadcast_command(update: Update, context: LoaContext) -> None:
    user = update.effective_user
    async with context.db.transaction() as session:
        language = await staff_language(session, update, context)
        _ = cards.texts(language)
        picker = None
        if not await allowed(session, context, user.id):
            out = [Card(cards.refused(language))]
        else:
            resident = await residents.by_telegram_id(session, user.id, for_update=True)
            if resident is not None and resident.onboarded and resident.awaiting in (Awaiting.REPORT, Awaiting.AREA):
                resident.awaiting = None  # the last command wins: typed messages now go to the wizard
            await session.execute(update_fix_steps(user.id))
            alert = await _draft(session, user.id)
            if alert is not None:
                alert.sender_language = language
                if alert.wizard_step == drafts.REPEAT:
                    alert.wizard_step = drafts.TIME
                out = await step_cards(session, context, alert, language, intro=_(
                    "You were writing an alert: let's carry on where you stopped. (To throw it away, send /cancel.)"))
            else:
                all_topics = await topics.all_topics(session)
                if not all_topics:
                    out = [Card(_("No alert topics are set up yet: an administrator has to add them first."))]
                else:
                    alert = await lifecycle.new_draft(
                        session, By(WIZARD_SOURCE, telegram_id=user.id, name=user.full_name, language=language),
                        topic_code=all_topics[0].code, severity="unknown", wizard_step="topic")
                    out = await step_cards(session, context, alert, language)
            picker = _picker_step(alert) if alert is not None else None
    message = None
    for card in out:
        message = await send(context.bot, update.effective_chat.id, card)
    if picker is not None:
        await _live(context, picker, update.effective_chat.id, message.message_id)


def update_fix_steps(telegram_id: int):
    """A correction's text was awaited: a new command abandons it."""
    return (sql_update(Alert).where(Alert.sender_telegram_id == telegram_id, Alert.wizard_step == drafts.FIX)
            .values(wizard_step=None))


async def cancel(update: Update, context: LoaContext) -> bool:
    """/cancel, asked by guide.cancel first: drops the broadcaster's draft (or a correction under
    way); False when there is none, or the user is in the middle of a report."""
    user = update.effective_user
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, user.id)
        if resident is not None and resident.awaiting == Awaiting.REPORT:
            return False
        fixing = (await session.execute(update_fix_steps(user.id))).rowcount or 0
        dropped = (await session.execute(delete(Alert).where(
            Alert.sender_telegram_id == user.id, Alert.status == Status.DRAFT))).rowcount or 0
        if not fixing and not dropped:
            return False
        language = await staff_language(session, update, context)
    _ = cards.texts(language)
    text = _("The alert draft was deleted; nothing was sent.") if dropped else _("The correction was abandoned.")
    await send(context.bot, update.effective_chat.id, Card(text))
    return True


async def schedules_command(update: Update, context: LoaContext) -> None:
    async with context.db.read() as session:
        language = await staff_language(session, update, context)
        if not await allowed(session, context, update.effective_user.id):
            card = Card(cards.refused(language))
        else:
            card = await _schedule_list(session, context, update.effective_user.id, language)
    await send(context.bot, update.effective_chat.id, card)


async def _schedule_list(session, context: LoaContext, telegram_id: int, language: str) -> Card:
    items = await schedules.active_for(session, telegram_id)
    topics_by_code = {t.code: t for t in await topics.all_topics(session)}
    return cards.schedules(items, topics_by_code, language, context.settings.tz)


async def stop_schedule(update: Update, context: LoaContext) -> None:
    """`bs:<schedule id>`."""
    query = update.callback_query
    schedule_id = int(callbacks.SCHEDULE_STOP.args(query.data)[0])
    user = update.effective_user
    async with context.db.transaction() as session:
        language = await staff_language(session, update, context)
        _ = cards.texts(language)
        if not await allowed(session, context, user.id):
            outcome = Outcome(answer=cards.refused(language), popup=True)
        elif await lifecycle.stop_schedule(session, schedule_id, By(WIZARD_SOURCE, telegram_id=user.id)) is None:
            outcome = Outcome(answer=cards.stale(language), popup=True)
        else:
            outcome = Outcome(answer=_("Schedule #{id} stopped.").format(id=schedule_id),
                              edit=await _schedule_list(session, context, user.id, language))
    await _carry_out(update, context, outcome)


# ---------------------------------------------------------------- buttons


Action = Callable[..., Awaitable[Outcome | None]]
ACTIONS: dict[str, tuple[tuple[str, ...], Action]] = {}


def action(name: str, *steps: str):
    """Register the handler of button `bc:<id>:<name>...`, valid while the alert is at one of `steps`
    ("draft:<step>" for a draft's wizard step, or a status)."""
    def register(function: Action) -> Action:
        ACTIONS[name] = (steps, function)
        return function
    return register


def _at(alert: Alert, steps: tuple[str, ...]) -> bool:
    if alert.status == Status.DRAFT:
        return f"draft:{drafts.step_of(alert)[0]}" in steps
    return alert.status in steps


async def on_button(update: Update, context: LoaContext) -> None:
    query = update.callback_query
    tap = callbacks.broadcast_tap(query.data)
    user = update.effective_user
    async with context.db.transaction() as session:
        language = await staff_language(session, update, context)
        registered = ACTIONS.get(tap.action) if tap.alert_id is not None else None
        if not await allowed(session, context, user.id):
            outcome = Outcome(answer=cards.refused(language), popup=True)
        else:
            alert = None
            if registered is not None:
                alert = (await session.execute(
                    select(Alert).where(Alert.id == tap.alert_id, Alert.sender_telegram_id == user.id)
                    .with_for_update())).scalar_one_or_none()
            outcome = None
            if alert is not None and _at(alert, registered[0]):
                if _stale_picker(alert, tap.action, update):
                    _ = cards.texts(language)
                    outcome = Outcome(answer=_("This list is out of date: use the newest one below."), popup=True,
                                      close=True)
                else:
                    outcome = await registered[1](session, context, alert, language, tap.args, update)
                    if outcome is not None and outcome.picker is None and not outcome.popup:
                        outcome.picker = _picker_step(alert)
            if outcome is None:
                outcome = Outcome(answer=cards.stale(language), popup=True)
    await _carry_out(update, context, outcome)


@action("t", "draft:topic")
async def _topic(session, context, alert, language, args, update):
    topic = await session.get(Topic, args[0]) if args else None
    if topic is None:
        return None
    alert.topic_code = topic.code
    return Outcome(answer=cards.topic_name(topic, language), close=True,
                   send=await advance(session, context, alert, language))


@action("ap", "draft:areas")
async def _area_page(session, context, alert, language, args, update):
    if len(args) != 2 or not args[1].isdigit() or (args[0] != "-" and await areas.get(session, args[0]) is None):
        return None
    return Outcome(edit=await _picker(session, alert, language, None if args[0] == "-" else args[0], int(args[1])))


@action("ax", "draft:areas")
async def _area_toggle(session, context, alert, language, args, update):
    area = await areas.get(session, args[0]) if args else None
    if area is None:
        return None
    _ = cards.texts(language)
    chosen = list(alert.area_codes or [])
    if area.code in chosen:
        chosen.remove(area.code)
    elif len(chosen) >= drafts.MAX_AREAS:
        return Outcome(answer=_("At most {count} areas per alert.").format(count=drafts.MAX_AREAS), popup=True)
    else:
        chosen.append(area.code)
    alert.area_codes = chosen
    return Outcome(answer=areas.full_name(area, language),
                   edit=await _picker(session, alert, language, area.parent_code, around=area.code))


@action("ad", "draft:areas")
async def _areas_done(session, context, alert, language, args, update):
    if not alert.area_codes:
        _ = cards.texts(language)
        return Outcome(answer=_("Choose at least one area first."), popup=True)
    return Outcome(close=True, send=await advance(session, context, alert, language))


@action("sv", "draft:severity")
async def _severity(session, context, alert, language, args, update):
    if not args or args[0] not in drafts.SEVERITIES:
        return None
    alert.severity = args[0]
    return Outcome(answer=cards.severity_name(args[0], language), close=True,
                   send=await advance(session, context, alert, language))


@action("sk", "draft:text_en", "draft:photo")
async def _skip(session, context, alert, language, args, update):
    step, _editing = drafts.step_of(alert)
    if step == "text_en":
        alert.texts = {k: v for k, v in (alert.texts or {}).items() if k != "en"}
    else:
        alert.photo_file_id = None
    return Outcome(close=True, send=await advance(session, context, alert, language))


@action("pv", "draft:preview", "draft:time", "draft:repeat")
async def _back_to_preview(session, context, alert, language, args, update):
    alert.wizard_step = drafts.PREVIEW
    return Outcome(close=True, send=await preview(session, context, alert, language))


@action("ed", "draft:preview")
async def _edit_menu(session, context, alert, language, args, update):
    return Outcome(edit=cards.edit_menu(alert, language))


@action("e", "draft:preview")
async def _edit_step(session, context, alert, language, args, update):
    if not args or args[0] not in drafts.STEPS:
        return None
    alert.wizard_step = args[0] + drafts.EDITING
    return Outcome(close=True, send=await step_cards(session, context, alert, language))


@action("at", "draft:preview")
async def _ask_time(session, context, alert, language, args, update):
    alert.wizard_step = drafts.TIME
    return Outcome(edit=cards.ask_time(alert, language, context.settings.tz, utcnow()))


@action("rp", "draft:repeat")
async def _repeat(session, context, alert, language, args, update):
    if not args or args[0] not in drafts.REPEATS or alert.send_at is None:
        return None
    tz = context.settings.tz
    schedule = await lifecycle.schedule(session, alert, at=alert.send_at, tz=tz, created_by=update.effective_user.id,
                                        cron=drafts.cron_line(args[0], alert.send_at, tz))
    alert.wizard_step = None
    return Outcome(edit=cards.scheduled(schedule, language, tz))


@action("x", *(f"draft:{s}" for s in (*drafts.STEPS, drafts.PREVIEW, drafts.TIME, drafts.REPEAT)))
async def _drop(session, context, alert, language, args, update):
    await session.delete(alert)
    _ = cards.texts(language)
    return Outcome(edit=Card(_("The alert draft was deleted; nothing was sent.")))


@action("go", "draft:preview")
async def _send_now(session, context, alert, language, args, update):
    _ = cards.texts(language)
    effects = await lifecycle.send_draft(session, alert, now=utcnow(), progress_chat_id=update.effective_chat.id,
                                         wizard_step=drafts.FOLLOW)
    count = await alerts.count_recipients(session, alert.topic_code, alert.area_codes)
    log.info("alert_sent alert=%s recipients=%s by=%s", alert.id, count, update.effective_user.id)
    application = context.application
    return Outcome(answer=_("Sending."), edit=Card(_("Alert #{id} is being sent to {count} residents. "
                                                     "Its progress follows.").format(
        id=alert.id, count=cards.number(count, language))),
        after=[lambda: _compose(context, effects), lambda: follow_progress(application)])


@action("st", Status.SENDING)
async def _stop_sending(session, context, alert, language, args, update):
    try:
        stopped = await lifecycle.stop(session, alert, Way.SENDING, _by(update, alert))
    except Refused:
        return None
    dropped = stopped.dropped
    _ = cards.texts(language)
    application = context.application
    return Outcome(answer=_("Sending stopped: {count} messages will not be sent.").format(
        count=cards.number(dropped, language)), after=[lambda: follow_progress(application)])


@action("fx", Status.DONE)
async def _correct(session, context, alert, language, args, update):
    if await lifecycle.check_follow_up(session, alert) is not None:
        return None
    alert.wizard_step = drafts.FIX
    return Outcome(send=[cards.ask_correction(alert, language)])


@action("nf", Status.DONE)
async def _no_correction(session, context, alert, language, args, update):
    if alert.wizard_step != drafts.FIX:
        return None
    alert.wizard_step = None
    _ = cards.texts(language)
    return Outcome(edit=Card(_("Alert #{id} was not corrected.").format(id=alert.id)))


@action("kl", Status.DONE)
async def _ask_cancellation(session, context, alert, language, args, update):
    if await lifecycle.check_follow_up(session, alert) is not None:
        return None
    return Outcome(send=[cards.confirm_cancellation(alert, await alerts.sent_count(session, alert.id), language)])


@action("kn", Status.DONE)
async def _keep(session, context, alert, language, args, update):
    _ = cards.texts(language)
    return Outcome(edit=Card(_("Alert #{id} stays in force.").format(id=alert.id)))


@action("ky", Status.DONE)
async def _cancel_alert(session, context, alert, language, args, update):
    try:
        stopped = await lifecycle.stop(session, alert, Way.NOTICE, _by(update, alert), **_following(update))
    except Refused:
        return None
    _after_follow_up_in_wizard(alert, stopped.follow)
    _ = cards.texts(language)
    return Outcome(answer=_("Cancelling."), edit=Card(_("Alert #{id} is cancelled: the residents who received "
                                                        "it are being told.").format(id=alert.id)),
                   after=_after_follow_up(context, alert, stopped.effects))


def _by(update: Update, alert: Alert) -> By:
    """The broadcaster, signing a follow-up of their alert as they signed it."""
    return By(WIZARD_SOURCE, telegram_id=update.effective_user.id, name=alert.sender_name,
              language=alert.sender_language)


def _following(update: Update) -> dict:
    """A follow-up's progress is shown in this chat."""
    return {"progress_chat_id": update.effective_chat.id, "wizard_step": drafts.FOLLOW}


def _after_follow_up_in_wizard(original: Alert, follow: Alert) -> None:
    if original.wizard_step == drafts.FIX:
        original.wizard_step = None
    log.info("alert_follow_up alert=%s kind=%s original=%s", follow.id, follow.kind, original.id)


def _after_follow_up(context: LoaContext, original: Alert, effects: Effects) -> list:
    application = context.application
    chat_id, message_id = original.progress_chat_id, original.progress_message_id

    async def close_report() -> None:
        # The original's final report loses its Correct / Cancel buttons.
        if chat_id and message_id:
            try:
                await edits.markup(application, chat_id, message_id, None)
            except TelegramError as error:
                log.info("report_not_closed alert=%s error=%s", original.id, error)

    async def carry_out() -> None:
        context.carry_out(effects)

    return [close_report, carry_out, lambda: follow_progress(application)]


# ---------------------------------------------------------------- typed messages (from guide.unexpected)


TYPED_STEPS = {"areas", "text_vi", "text_en", "photo", drafts.TIME, drafts.FIX}


async def on_message(update: Update, context: LoaContext) -> bool:
    """A message for the wizard, if it waits for one from this user; False otherwise."""
    user = update.effective_user
    message = update.effective_message
    async with context.db.lookup() as session:  # most messages are not for the wizard: no write lock for them
        waiting = (await session.execute(select(Alert.id).where(
            Alert.sender_telegram_id == user.id, Alert.wizard_step.is_not(None),
            Alert.wizard_step != drafts.FOLLOW).limit(1))).first()
    if waiting is None:
        return False
    async with context.db.transaction() as session:
        alert = await _waiting(session, user.id)
        if alert is None:
            return False
        language = await staff_language(session, update, context)
        if not await allowed(session, context, user.id):
            outcome = Outcome(send=[Card(cards.refused(language))])
        else:
            outcome = await _typed(session, context, update, alert, message, language)
    await _carry_out(update, context, outcome)
    return True


async def _typed(session, context: LoaContext, update: Update, alert: Alert, message: Message,
                 language: str) -> Outcome:
    _ = cards.texts(language)
    step, editing = drafts.step_of(alert)
    text = message.text if message.text and not message.text.startswith("/") else None
    if step not in TYPED_STEPS:
        return Outcome(send=[Card(_("Please use the buttons above to continue, or send /cancel to throw the "
                                    "alert away."))])
    if step == "areas":
        if text is None:
            return Outcome(send=[Card(_("Type the name of an area, or use the buttons above."))])
        return await _typed_area(session, alert, text.strip(), language)
    if step == "photo":
        if not message.photo:
            return Outcome(send=[Card(_("Please send a photo (as a photo, not as a file), or tap “No photo”."),
                                      cards.photo(alert, language).markup)])
        if drafts.longest_text(alert) > drafts.CAPTION_TEXT_LIMIT:
            return Outcome(send=[Card(_("With a photo the text can be at most {limit} characters, and yours is "
                                        "longer. Tap “No photo”, or shorten the text later with “Edit” in the "
                                        "preview and then add the photo.").format(
                limit=cards.number(drafts.CAPTION_TEXT_LIMIT, language)), cards.photo(alert, language).markup)])
        alert.photo_file_id = message.photo[-1].file_id
        return Outcome(send=await advance(session, context, alert, language))
    if step == drafts.TIME:
        if text is None:
            return Outcome(send=[Card(_("Please type the time, for example 07:30 or 2026-12-01 07:30."))])
        at, problem = drafts.parse_send_time(text, now=utcnow(), tz=context.settings.tz)
        if problem == drafts.Problem.PAST:
            return Outcome(send=[Card(_("That time has already passed. Type a time in the future, for example "
                                        "07:30 or 2026-12-01 07:30."))])
        if problem == drafts.Problem.TOO_FAR:
            return Outcome(send=[Card(_("That is more than a year away. Type a nearer time."))])
        if problem is not None:
            return Outcome(send=[Card(_("I could not read that time. Type it as HH:MM (for example 07:30) or "
                                        "YYYY-MM-DD HH:MM (for example 2026-12-01 07:30)."))])
        alert.send_at = at
        alert.wizard_step = drafts.REPEAT
        return Outcome(send=[cards.ask_repeat(alert, language, context.settings.tz)])
    # A text: the alert's, in Vietnamese or English, or a correction's.
    limit = drafts.TEXT_LIMIT if step == drafts.FIX else drafts.text_limit(alert)
    if message.text is None or message.text.startswith("/"):
        return Outcome(send=[Card(_("Please send the text as a message. Stickers, photos and files cannot be "
                                    "used here."))])
    cleaned, problem = drafts.check_text(text, limit)
    if problem == drafts.Problem.EMPTY:
        return Outcome(send=[Card(_("The text is empty. Please send the text of the alert."))])
    if problem == drafts.Problem.TOO_LONG:
        key = (_("The text is too long: {length} characters, and an alert with a photo can have at most "
                 "{limit}. Please shorten it and send it again.") if limit == drafts.CAPTION_TEXT_LIMIT else
               _("The text is too long: {length} characters, and an alert can have at most {limit}. "
                 "Please shorten it and send it again."))
        return Outcome(send=[Card(key.format(length=cards.number(len(cleaned), language),
                                             limit=cards.number(limit, language)))])
    if step == drafts.FIX:
        try:
            followed = await lifecycle.correct(session, alert, _by(update, alert), {"vi": cleaned},
                                               **_following(update))
        except Refused:  # corrected or stopped elsewhere meanwhile
            alert.wizard_step = None
            return Outcome(send=[Card(cards.stale(language))])
        _after_follow_up_in_wizard(alert, followed.alert)
        return Outcome(send=[Card(_("The correction of alert #{id} is being sent.").format(id=alert.id))],
                       after=_after_follow_up(context, alert, followed.effects))
    alert.texts = {**(alert.texts or {}), ("vi" if step == "text_vi" else "en"): cleaned}
    return Outcome(send=await advance(session, context, alert, language))


async def _typed_area(session, alert: Alert, text: str, language: str) -> Outcome:
    _ = cards.texts(language)
    if len(text) > 80:
        return Outcome(send=[Card(_("That is too long for a place name. Type just the name, for example: Long Biên"))])
    found = await areas.search(session, text, limit=8)
    exact = [a for a in found
             if areas.normalize(text) in (areas.normalize(a.name_vi), areas.normalize(a.full_name_vi),
                                          areas.normalize(a.name_en), areas.normalize(a.full_name_en))]
    if not found:
        return Outcome(send=[Card(_("I found no area called “{name}”. Check the spelling, type another name, "
                                    "or use the buttons.").format(name=text))])
    if len(found) == 1 or len(exact) == 1:
        area = (exact or found)[0]
        chosen = list(alert.area_codes or [])
        if area.code not in chosen:
            if len(chosen) >= drafts.MAX_AREAS:
                return Outcome(send=[Card(_("At most {count} areas per alert.").format(count=drafts.MAX_AREAS))])
            chosen.append(area.code)
        alert.area_codes = chosen
        return Outcome(send=[await _picker(session, alert, language, area.parent_code, around=area.code,
                                           intro=_("Added: {area}").format(area=areas.full_name(area, language)))],
                       picker=alert.id)
    parents = {}
    for area in found:
        if area.parent_code and area.parent_code not in parents:
            parents[area.parent_code] = await areas.get(session, area.parent_code)
    return Outcome(send=[cards.area_matches(alert, found, parents, language)], picker=alert.id)


# ---------------------------------------------------------------- jobs: progress messages and schedules


async def _compose(context: LoaContext, effects: Effects) -> None:
    """Write the alert's deliveries before its progress is first shown, waking the sender after
    each slice; then what is left to do."""
    _added, left = await lifecycle.compose_now(context.db, effects, tz=context.settings.tz,
                                               on_slice=context.sender.wake)
    context.carry_out(left)


async def follow_progress(application: Application) -> None:
    """Post or edit the progress message of every alert being followed; the last edit, once the
    alert is done or stopped, is its final report, after which the alert is no longer followed."""
    lock = application.bot_data.setdefault("progress_lock", asyncio.Lock())
    db, settings = services(application).db, services(application).settings
    # With several instances, one posts and edits the progress messages at a time; the others
    # skip the tick (storage/jobs.py).
    async with lock, jobs.alone(db, "broadcast-progress") as mine:
        if not mine:
            return
        async with db.read() as session:
            followed = (await session.execute(
                select(Alert).where(Alert.wizard_step == drafts.FOLLOW, Alert.progress_chat_id.is_not(None))
                .order_by(Alert.id))).scalars().all()
            items = [(alert, await alerts.progress(session, alert.id)) for alert in followed]
        shown: dict = application.bot_data.setdefault("progress_shown", {})
        for alert, progress in items:
            language = alert.sender_language or settings.default_language
            card = cards.progress(alert, progress, settings.send_rate, language)
            final = alert.status in (Status.DONE, Status.CANCELLED)
            seen = (card.text, card.markup.to_json() if card.markup else None)
            keep_following = True
            try:
                if alert.progress_message_id is None:
                    message = await send(application.bot, alert.progress_chat_id, card)
                    async with db.transaction() as session:
                        await session.execute(sql_update(Alert).where(Alert.id == alert.id)
                                              .values(progress_message_id=message.message_id))
                elif shown.get(alert.id) != seen:
                    await edits.text(application, alert.progress_chat_id, alert.progress_message_id, card.text,
                                     reply_markup=card.markup)
            except BadRequest as error:
                if "not modified" not in error.message.lower():
                    log.warning("progress_not_shown alert=%s error=%s", alert.id, error.message)
                    keep_following = "not found" not in error.message.lower()
            except Forbidden:
                keep_following = False
            except TelegramError as error:  # try again at the next tick
                log.warning("progress_not_shown alert=%s error=%s", alert.id, error)
                continue
            shown[alert.id] = seen
            if final or not keep_following:
                async with db.transaction() as session:
                    await session.execute(sql_update(Alert)
                                          .where(Alert.id == alert.id, Alert.wizard_step == drafts.FOLLOW)
                                          .values(wizard_step=None))
                shown.pop(alert.id, None)


async def progress_job(context: LoaContext) -> None:
    await follow_progress(context.application)


async def schedules_job(context: LoaContext) -> None:
    application = context.application
    ran = await lifecycle.run_due(context.db, tz=context.settings.tz, on_slice=context.sender.wake)
    if any(r.alert_id for r in ran):
        await follow_progress(application)


def add_jobs(application: Application) -> None:
    """The progress and schedule jobs; they start and stop with the Application."""
    queue = application.job_queue
    if queue is None:  # python-telegram-bot without its job-queue extra
        raise RuntimeError("python-telegram-bot's job queue is missing: install python-telegram-bot[job-queue]")
    queue.run_repeating(progress_job, interval=PROGRESS_EVERY, first=PROGRESS_EVERY, name="broadcast-progress",
                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    queue.run_repeating(schedules_job, interval=schedules.SCHEDULE_POLL, first=schedules.SCHEDULE_POLL,
                        name="broadcast-schedules",
                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    # And once as soon as the Application starts: runs missed while the bot was down. (An interval
    # job added before the start would wait for its first interval; a one-off job does not.)
    queue.run_once(schedules_job, when=0, name="broadcast-schedules-at-start",
                   job_kwargs={"misfire_grace_time": None})


HANDLERS = [
    CommandHandler("broadcast", broadcast_command, filters=PRIVATE),
    CommandHandler("schedules", schedules_command, filters=PRIVATE),
    CallbackQueryHandler(on_button, pattern=callbacks.BROADCAST.pattern),
    CallbackQueryHandler(stop_schedule, pattern=callbacks.SCHEDULE_STOP.pattern),
]

"""/help, /cancel, and a helpful answer to anything the bot did not ask for. A reply to a staff
question about a report is its answer (report_thread.on_reply); any other message goes to the
step the resident's `awaiting` names when it takes it (`STEPS`, the one routing table: the area
step, the report wizard, the comment on a rating, an addition to a report), else to the
broadcaster's wizard when no step waits, else it gets a short reminder of where the resident is.

**Resuming a step after a dead instance** (several instances, storage/updates.py). An update taken
over from an instance that died is handled again from its stored payload. That instance may have
committed the step's work and died before its reply went out: the handler then finds the step
done (the state moved on, a tap of a step already answered, a message the step no longer takes).
Wherever a handler decides so, it calls `context.resume(update)` before its usual answer ("This
button is no longer active", "I didn't understand", a refusal): for a taken-over update, `resume`
sends the prompt of the step the resident is at now (`Step.prompt`), which is the question the
lost reply ended with. The work is never done twice (the step is done: its handler changes
nothing), nothing entered is lost, and the resident gets the next question: once if the dead
instance's reply was lost, twice at worst if it had gone out, never a contradicting answer. An
update that was not taken over, or whose resident awaits nothing (`resume` then sends only the
neutral reminder to a message, nothing to a tap), gets the handler's usual answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from complaints import drafts, lifecycle
from complaints.lifecycle import N_
from handlers import area, broadcasting, onboarding, prompts, rating, report_thread, reporting
from handlers.awaiting import Awaiting
from handlers.cards import Card, reply
from handlers.context import LoaContext
from handlers.onboarding import language_of, stale_button
from kernel.i18n import translator
from kernel.logs import fields
from storage import residents
from storage.models import Report, Resident

PRIVATE = filters.ChatType.PRIVATE
log = logging.getLogger("loa.updates")


def help_text(language: str) -> str:
    _ = translator(language).gettext
    return _(
        "Loa connects you with the city.\n\n"
        "• Alerts: the city sends warnings about weather, traffic, health, food safety, "
        "security and power or water cuts in your area.\n"
        "• Reports: tell the city about a problem (a pothole, garbage, a broken street light...) "
        "with photos and the place, and follow what is done about it.\n\n"
        "Commands:\n"
        "/report – report a problem\n"
        "/myreports – the problems you reported\n"
        "/status CODE – one report's details and history\n"
        "/stats – how the agencies handle reports\n"
        "/subscriptions – choose which alerts you receive\n"
        "/area – change your ward or commune\n"
        "/quiet – quiet hours at night\n"
        "/language – Tiếng Việt or English\n"
        "/stop – receive no more alerts\n"
        "/forget – delete your data\n"
        "/help – this message"
    )


async def _resident(update: Update, context: LoaContext):
    return await residents.find(context.db, update.effective_user.id)


async def help_command(update: Update, context: LoaContext) -> None:
    await reply(update, Card(help_text(language_of(update, context, await _resident(update, context)))))


async def cancel(update: Update, context: LoaContext) -> None:
    if await broadcasting.cancel(update, context):
        return
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        photos = await drafts.discard(session, resident.id) if resident is not None else None
        had_draft = photos is not None
        if resident is not None and (resident.onboarded or resident.awaiting == Awaiting.REPORT):
            resident.awaiting = None
    await reporting.remove_photos(context, photos)
    _ = translator(language_of(update, context, resident)).gettext
    if had_draft:
        await reply(update, Card(_("The report was cancelled; nothing was sent."), ReplyKeyboardRemove()))
        return
    await reply(update, Card(_("Cancelled. Nothing was changed.")))


def _typed(message: Message) -> bool:
    """Text that is not a command."""
    return bool(message.text) and not message.text.startswith("/")


def _not_command(message: Message) -> bool:
    return not (message.text or "").startswith("/")


def _area_answer(message: Message) -> bool:
    return bool(message.location) or _typed(message)


# The prompt of each step, as the handler that moves the resident to it asks it (`Step.prompt`).


async def _language_prompt(_session, resident: Resident) -> list[Card]:
    return [prompts.language(resident.language)]


async def _area_prompt(session, resident: Resident) -> list[Card]:
    return [await onboarding.area_prompt(session, resident)]


async def _topics_prompt(session, resident: Resident) -> list[Card]:
    return [prompts.topics(resident, *await onboarding.topics_and_chosen(session, resident.id))]


async def _quiet_prompt(_session, resident: Resident) -> list[Card]:
    return [prompts.quiet(resident)]


async def _report_prompt(session, resident: Resident) -> list[Card]:
    draft = await drafts.get(session, resident.id)
    return await reporting.step_cards(session, resident, draft) if draft is not None else []


async def _comment_prompt(session, resident: Resident) -> list[Card]:
    report_id = await lifecycle.last_rated(session, resident.telegram_id)
    if report_id is None:
        return []
    text, markup = rating.comment_offer(report_id, resident.language)
    return [Card(text, markup)]


async def _addition_prompt(session, resident: Resident) -> list[Card]:
    report = await session.get(Report, resident.adding_report_id) if resident.adding_report_id else None
    return [report_thread.adding_prompt(report.code, resident.language)] if report is not None else []


@dataclass(frozen=True)
class Step:
    """What a resident awaiting this step is reminded of, its question (`prompt`, the cards that
    ask it, for `resume`), and, for a step that takes typed messages, which ones (`takes`) and
    who handles them (`handle`: False when there is nothing to answer after all, and the message
    is treated as unexpected)."""

    reminder: str
    prompt: Callable[[object, Resident], Awaitable[list[Card]]]
    takes: Callable[[Message], bool] | None = None
    handle: Callable[[Update, LoaContext, object], Awaitable[bool]] | None = None


STEPS: dict[Awaiting, Step] = {
    Awaiting.LANGUAGE: Step(N_("Please choose your language with the buttons above, or send /start."),
                            _language_prompt),
    Awaiting.AREA: Step(N_("I am waiting for your area: share your location, tap “📋 Pick from the list”, "
                           "or type the name of your ward."), _area_prompt, _area_answer, area.on_message),
    Awaiting.TOPICS: Step(N_("Please use the buttons above to continue, or send /start."), _topics_prompt),
    Awaiting.QUIET: Step(N_("Please use the buttons above to continue, or send /start."), _quiet_prompt),
    Awaiting.REPORT: Step(N_("You are writing a report: answer the last question, or send /cancel to abandon it."),
                          _report_prompt, _not_command, reporting.on_message),
    Awaiting.COMMENT: Step(N_("Type a comment on how your report was handled, or tap Skip."),
                           _comment_prompt, _typed, rating.on_comment),
    Awaiting.ADDITION: Step(N_("Send what you want to add to your report, or tap “Done ✓”."),
                            _addition_prompt, _not_command, report_thread.on_addition),
}


async def resume(update: Update, context: LoaContext, answered: bool = False) -> bool:
    """`LoaContext.resume`'s work, for an update taken over from a dead instance whose step is
    found done (see the module's docstring): the prompt of the step the resident is at now; with
    no step under way, a message gets the neutral reminder and a tap the handler's own answer.
    True when something was sent."""
    async with context.db.read() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id)
        step = STEPS.get(resident.awaiting) if resident is not None and resident.awaiting else None
        cards = await step.prompt(session, resident) if step is not None else []
    query = update.callback_query
    if not cards and (query is not None or resident is None):
        return False
    if query is not None and not answered:
        await query.answer()  # perhaps too late, or answered already by the dead instance (bot/app.py LoaBot)
    if not cards:
        _ = translator(resident.language).gettext
        cards = [Card(_reminder(resident, _))]
    log.info("step_resumed %s", fields(id=update.update_id, step=resident.awaiting))
    await reply(update, *cards)
    return True


def _reminder(resident, _) -> str:
    """What the resident was in the middle of, so they can carry on."""
    if resident is None:
        return _("Send /start to begin.")
    step = STEPS.get(resident.awaiting) if resident.awaiting else None
    if step is not None:
        return _(step.reminder)
    return _("Send /help to see what I can do.")


async def unexpected(update: Update, context: LoaContext) -> None:
    """Anything that is not a known command: to the step that waits for it (`STEPS`), or to the
    broadcaster's wizard; everything else gets a short reminder of where the resident is."""
    resident = await _resident(update, context)
    message = update.effective_message
    if message.reply_to_message is not None and _not_command(message) \
            and await report_thread.on_reply(update, context, resident):
        return  # the answer to a staff question about one of their reports
    step = STEPS.get(resident.awaiting) if resident is not None and resident.awaiting else None
    if (step is None or step.handle is None) and _not_command(message):
        if await broadcasting.on_message(update, context):
            return
    if step is not None and step.handle is not None and step.takes(message):
        if await step.handle(update, context, resident):
            return
        resident.awaiting = None
    if _not_command(message) and await context.resume(update):
        return
    _ = translator(language_of(update, context, resident)).gettext
    if message.text and message.text.startswith("/"):
        opening = _("I don't know that command.")
    elif message.text:
        opening = _("I didn't understand that.")
    else:
        opening = _("I can't use this kind of message here.")
    await reply(update, Card(opening + " " + _reminder(resident, _)))


HANDLERS = [
    CommandHandler("help", help_command, filters=PRIVATE),
    CommandHandler("cancel", cancel, filters=PRIVATE),
]

# Registered after every other handler.
LAST = [
    MessageHandler(PRIVATE & ~filters.StatusUpdate.ALL, unexpected),
    CallbackQueryHandler(stale_button),
]

"""The resident's rating of a resolved report: satisfied / acceptable / not satisfied.

The resolution message (complaints.lifecycle._notify) carries the buttons of `rating_markup`,
callback data `rt:<report id>:<choice>` (callbacks.RATING):

- satisfied, acceptable: rated and closed at once;
- not_satisfied: a question, reopen or close, whose buttons are `rt:<id>:reopen` and
  `rt:<id>:close` (closed with the rating "not satisfied");
- after each of them the resident may type a comment (`awaiting` is `Awaiting.COMMENT`, typed text comes
  here through guide.unexpected) or tap Skip (`rt:<id>:skip`). The comment goes to the report the
  resident rated last (complaints.lifecycle.comment).

A stale or second tap is answered with the reason `apply` gives, in the resident's language, and
changes nothing: the buttons expect a resolved report, so a tap on one rated, reopened or closed
meanwhile is told what happened ("Already rated by the resident at ..."). As everywhere, the
database work is one transaction, committed before Telegram is called.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler

from complaints import drafts, lifecycle
from complaints.lifecycle import N_, Action, Actor, ActorKind, Refused, State
from handlers import callbacks, edits
from handlers.awaiting import Awaiting
from handlers.context import LoaContext
from handlers.onboarding import language_of
from kernel.i18n import translator
from storage import residents
from storage.models import Report, Resident

RATINGS = ("satisfied", "acceptable", "not_satisfied")
ANSWER_LIMIT = 200  # characters of a callback query answer


def rating_markup(report: Report, language: str) -> dict:
    """The buttons under the "your report was resolved" message (callback data `rt:<id>:<rating>`)."""
    _ = translator(language).gettext
    labels = {"satisfied": _("😊 Satisfied"), "acceptable": _("😐 Acceptable"),
              "not_satisfied": _("😞 Not satisfied")}
    return {"inline_keyboard": [[{"text": labels[r], "callback_data": callbacks.RATING.build(report.id, r)}]
                                for r in RATINGS]}


# ---------------------------------------------------------------- the messages


def _code(code: str) -> str:
    return f"<b>{escape(code)}</b>"


def reopen_question(report_id: int, code: str, language: str) -> tuple[str, InlineKeyboardMarkup]:
    _ = translator(language).gettext
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(_("Reopen"), callback_data=callbacks.RATING.build(report_id, "reopen")),
        InlineKeyboardButton(_("No, close it"), callback_data=callbacks.RATING.build(report_id, "close")),
    ]])
    return _code(code) + "\n" + _("Reopen the report so the agency works on it again?"), buttons


def done_text(action: Action, code: str, rating: str, language: str) -> str:
    """What the resident is told once their rating is recorded: the rating they chose, and what follows."""
    _ = translator(language).gettext
    chosen = _("Your rating: {rating}.").format(rating=_(lifecycle.RATING_LABELS[rating]))
    if action == Action.REOPEN:
        return chosen + "\n" + _("Report {code} is reopened: it goes back to the agency, which will work on it "
                                  "again.").format(code=_code(code))
    return chosen + "\n" + lifecycle.notice_text(Action.RATE, _, language, code=code)


# A tap on a report the resident has rated or reopened already: told in the second person, with
# what they chose, rather than `lifecycle.CHANGED`'s words for the staff ("rated by the resident").
YOU_DID = {Action.RATE.value: N_("You already rated this report at {time}: {rating}."),
           Action.REOPEN.value: N_("You already reopened this report at {time}: it went back to the agency.")}


def comment_offer(report_id: int, language: str) -> tuple[str, InlineKeyboardMarkup]:
    _ = translator(language).gettext
    return (_("Add a comment? Type it now, or tap Skip."),
            InlineKeyboardMarkup([[InlineKeyboardButton(_("Skip"),
                                                        callback_data=callbacks.RATING.build(report_id, "skip"))]]))


def _resident_actor(telegram_id: int) -> Actor:
    # Rating is done as the reporter, whatever staff roles the person also has; no name is
    # recorded (agencies see the report, not who sent it).
    return Actor(ActorKind.RESIDENT, telegram_id)


def _may_comment(resident: Resident | None) -> bool:
    """Typed text may become a comment unless the resident is in the middle of the first-time steps."""
    return resident is not None and (resident.onboarded or resident.awaiting is None)


async def _after_comment(session, resident: Resident) -> None:
    """Leave the comment step: back to the report being written, if there is one."""
    resident.awaiting = Awaiting.REPORT if await drafts.get(session, resident.id) is not None else None


async def _close_buttons(update: Update, context: LoaContext) -> None:
    await edits.query_markup(context.application, update.callback_query, None)


async def _refuse(update: Update, context: LoaContext, refusal: Refused, language: str, report_id: int) -> None:
    _ = translator(language).gettext
    last = refusal.last_event
    mine = last is not None and last.action in YOU_DID and last.actor_telegram_id == update.effective_user.id
    if mine and await context.resume(update):
        return  # taken over after its commit: the comment question, rather than "you did it at ..."
    if mine:
        async with context.db.lookup() as session:
            report = await session.get(Report, report_id)
        rating = report.rating if report is not None else None
        text = _(YOU_DID[last.action]).format(
            time=lifecycle.render_value(last.at, _, language, context.settings.tz),
            rating=_(lifecycle.RATING_LABELS[rating]) if rating in lifecycle.RATING_LABELS else "")
    else:
        text = refusal.render(_, language, context.settings.tz)
    await update.callback_query.answer(text[:ANSWER_LIMIT], show_alert=True)


# ---------------------------------------------------------------- the buttons


async def rating_button(update: Update, context: LoaContext) -> None:
    """`rt:<id>:<satisfied|acceptable|not_satisfied|reopen|close|skip>`."""
    query = update.callback_query
    report_id, choice = callbacks.RATING.args(query.data)
    report_id = int(report_id)
    if choice == "skip":
        await skip(update, context, report_id)
        return
    if choice == "not_satisfied":
        await not_satisfied(update, context, report_id)
        return
    user = update.effective_user
    language = language_of(update, context, None)
    action = Action.REOPEN if choice == "reopen" else Action.RATE
    args = {} if action == Action.REOPEN else {"rating": "not_satisfied" if choice == "close" else choice}
    try:
        async with context.db.transaction() as session:
            resident = await residents.by_telegram_id(session, user.id, for_update=True)
            language = language_of(update, context, resident)
            result = await lifecycle.apply(session, report_id, action, _resident_actor(user.id),
                                           policy=context.policy, expected_state=State.RESOLVED.value,
                                           now=context.now(), **args)
            offer = _may_comment(resident)
            if offer:
                resident.awaiting = Awaiting.COMMENT
    except Refused as refusal:
        await _refuse(update, context, refusal, language, report_id)
        return
    context.carry_out(result.effects)  # the residents who follow the report, the staff's cards
    _ = translator(language).gettext
    await query.answer(_("Thank you for your rating!") if action == Action.RATE else None)
    await _close_buttons(update, context)
    text, markup = done_text(action, result.code, args.get("rating", "not_satisfied"), language), None
    if offer:
        question, markup = comment_offer(report_id, language)
        text += "\n\n" + question
    await update.effective_chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def not_satisfied(update: Update, context: LoaContext, report_id: int) -> None:
    """Ask before reopening; nothing changes yet."""
    user = update.effective_user
    language = language_of(update, context, None)
    try:
        async with context.db.lookup() as session:
            resident = await residents.by_telegram_id(session, user.id)
            language = language_of(update, context, resident)
            report = await lifecycle.check(session, report_id, Action.REOPEN, _resident_actor(user.id),
                                           policy=context.policy, expected_state=State.RESOLVED.value)
            code = report.code
    except Refused as refusal:
        await _refuse(update, context, refusal, language, report_id)
        return
    await update.callback_query.answer()
    await _close_buttons(update, context)
    text, markup = reopen_question(report_id, code, language)
    await update.effective_chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def skip(update: Update, context: LoaContext, report_id: int) -> None:
    """No comment: leave the comment step (if it is this report's) and take the button away."""
    user = update.effective_user
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, user.id, for_update=True)
        if resident is not None and resident.awaiting == Awaiting.COMMENT \
                and await lifecycle.last_rated(session, user.id) == report_id:
            await _after_comment(session, resident)
    await update.callback_query.answer()
    await _close_buttons(update, context)


# ---------------------------------------------------------------- the typed comment


async def on_comment(update: Update, context: LoaContext, resident: Resident) -> bool:
    """A typed message while `resident.awaiting == Awaiting.COMMENT`: the comment on the report the
    resident rated last. False if it is not one (not text, or no comment is awaited)."""
    message = update.effective_message
    if not message.text or message.text.startswith("/"):
        return False
    user = update.effective_user
    refusal, commented = None, None
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, user.id, for_update=True)
        if resident is None or resident.awaiting != Awaiting.COMMENT:
            return False
        language = resident.language
        report_id = await lifecycle.last_rated(session, user.id)
        if report_id is None:
            await _after_comment(session, resident)
            return False
        try:
            commented = await lifecycle.comment(session, report_id, _resident_actor(user.id), message.text,
                                                now=context.now())
        except Refused as error:
            refusal = error
        if refusal is None or refusal.code != "too_long":  # too long: they shorten it and send it again
            await _after_comment(session, resident)
        code = (await session.get(Report, report_id)).code
    if commented is not None:
        context.carry_out(commented.effects)
    _ = translator(language).gettext
    if refusal is None:
        text = _("Thank you: your comment on report {code} was saved.").format(code=_code(code))
    elif refusal.code == "too_long":
        text = _("Your comment is {count} characters long; at most {limit} fit. Please shorten it and send it "
                 "again, or tap Skip.").format(count=len(message.text.strip()), limit=lifecycle.COMMENT_MAX)
    else:
        text = escape(refusal.render(_, language, context.settings.tz))
    await update.effective_chat.send_message(text, parse_mode=ParseMode.HTML)
    return True


HANDLERS = [
    CallbackQueryHandler(rating_button, pattern=callbacks.RATING.pattern),
]

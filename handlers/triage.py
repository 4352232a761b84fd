"""The buttons of the staff's cards, and the replies staff write when the bot asks for a reason
or a note.

Callback data: `tr:<report>:<event seen>:<op>[:<arg>]`. Ops that change the report go through
`complaints.lifecycle.apply` with the event the card showed, so of two people pressing at once
the second is told what the first did; their arguments come from complaints.actions, as on the
dashboard, and what the change leaves to do (kernel/effects.py) goes to `context.carry_out`, the
report's cards being redrawn before the handler returns. Ops that open a choice (another agency,
a duplicate, a reason) or ask a question check the same permission first: the role is checked
on every press, not only when the buttons are drawn. "Ask the resident…" (`aq`) asks the staff
member, the same way, for a question to the report's resident (complaints/thread.py). A question
is a ForceReply message remembered in `staff_prompts`; the answer is the reply to it, even after
a restart. /cancel in the
group drops the sender's open questions there (only the one it replies to, when it replies to
one). A busy group is not answered message by message: someone who writes in the group instead of
replying while a question of theirs is open is told once per question how to answer it, and a
message that mentions the bot is told what the bot does in the group; anything else is left alone.
"""

from __future__ import annotations

import html
import logging

from sqlmodel import delete, select
from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from complaints import actions, agencies, bans, duplicates, lifecycle, thread
from complaints.lifecycle import Action, Refused
from complaints.rejections import REJECT_REASONS
from handlers import callbacks, edits, staff_cards
from handlers.context import LoaContext
from handlers.onboarding import language_of
from kernel.effects import NOTHING, Effects
from kernel.i18n import translator
from storage import abuse
from storage.models import Report, StaffPrompt

log = logging.getLogger(__name__)
GROUPS = filters.ChatType.GROUPS


def N_(msgid: str) -> str:
    return msgid


# op -> the action it leads to; the ops of `APPLY` change the report at once.
ACTIONS = {"as": Action.ASSIGN, "ag": Action.ASSIGN, "du": Action.DUPLICATE, "dp": Action.DUPLICATE,
           "dc": Action.DUPLICATE, "rj": Action.REJECT, "rr": Action.REJECT, "ro": Action.REJECT,
           "pr": Action.PRIORITY, "st": Action.START, "rs": Action.RESOLVE, "sb": Action.SEND_BACK}
APPLY = {"as", "dp", "rr", "pr", "st"}
# "Ask the resident…": a question for the report's thread (complaints/thread.py), asked like a reason.
ASK_RESIDENT, QUESTION = "aq", "question"
# The ops that lead to no action: « Back, the photos, banning the reporter (asked, then confirmed),
# and asking the resident.
OTHER_OPS = ("bk", "ph", "bn", "by", ASK_RESIDENT)
ASK = {"dc": N_("Reply to this message with the code of the report that {code} duplicates (like PA-7K3Q9)."),
       "ro": N_("Reply to this message with the reason for rejecting {code}. The resident will read it."),
       "rs": N_("Reply to this message with what was done about {code}. You can send a photo with the note as "
                "its caption. The resident will read it."),
       "sb": N_("Reply to this message with why {code} should go back to the moderators."),
       ASK_RESIDENT: N_("Reply to this message with your question about {code} for the resident who sent it. "
                        "They will read it and can answer with text, a photo or a location.")}


def _staff_language(update: Update, context: LoaContext) -> str:
    return language_of(update, context, None)


async def _actor(session, update: Update, context: LoaContext):
    agency = await agencies.by_chat(session, update.effective_chat.id)
    user = update.effective_user
    return await lifecycle.actor_for(session, user.id, context.settings.admin_ids, name=user.full_name,
                                     agency_code=agency.code if agency else None)


# a question's action (StaffPrompt.action) -> its op in `ASK`
ASKED_BY = {**{ACTIONS[op].value: op for op in ASK if op in ACTIONS}, QUESTION: ASK_RESIDENT}


# Refusals of who is pressing: answered the same whatever the report (its state, who has it,
# whether it exists), so a forged button learns nothing; and nothing is redrawn.
NOT_THEIRS = frozenset({"not_found", "not_moderator", "not_agency_staff", "other_agency"})
WHO_MAY = {lifecycle.ActorKind.MODERATOR: N_("Only moderators can do this."),
           lifecycle.ActorKind.AGENCY_STAFF: N_("Only the staff of the agency handling this report can do this.")}
BIGGEST_ID = 2**63 - 1  # a BIGINT: a forged larger id is no report
MOST_AGENCIES = 30  # buttons of "Assign to…" (Telegram takes 100 to a message; the dashboard lists them all)


async def on_button(update: Update, context: LoaContext) -> None:
    query = update.callback_query
    tap = callbacks.triage_tap(query.data)
    report_id, event_id, op, arg = tap.report_id, tap.event_id, tap.op, tap.arg
    language = _staff_language(update, context)
    _ = translator(language).gettext
    if op not in ACTIONS and op not in OTHER_OPS:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    if report_id > BIGGEST_ID or (event_id or 0) > BIGGEST_ID:
        report_id = 0  # no report has it: refused below as any other that does not exist
    if op == ASK_RESIDENT:
        await _ask_resident(update, context, report_id, event_id)
        return
    if op == "bk":
        await _redraw(update, context, report_id)
        return
    if op == "ph":
        await _photos(update, context, report_id)
        return
    if op in ("bn", "by"):
        await _ban(update, context, report_id, event_id, confirmed=op == "by")
        return
    action = ACTIONS[op]
    refused, menu, done, not_theirs = None, None, None, False
    async with context.db.transaction() as session:
        actor = await _actor(session, update, context)
        try:
            if op in APPLY:
                args = await _args(session, op, arg, report_id, context)
                done = await lifecycle.apply(session, report_id, action, actor, policy=context.policy,
                                             expected_event_id=event_id, now=context.now(), **args)
            else:
                report = await lifecycle.check(session, report_id, action, actor, policy=context.policy,
                                               expected_event_id=event_id)
                if op in ASK:
                    ask = _(ASK[op]).format(code=report.code)
                else:
                    menu = await _menu(session, op, report, event_id, language, context)
                    if menu is None:
                        refused = _("There is no other active agency to assign it to.")
        except Refused as refusal:
            not_theirs = refusal.code in NOT_THEIRS
            refused = (_(WHO_MAY[lifecycle.WHO[action]]) if not_theirs
                       else refusal.render(_, language, context.settings.tz))
    if refused is not None:
        await query.answer(refused, show_alert=True)
        if not not_theirs:  # the card may show an older state: bring it up to date
            await staff_cards.sync(context.application, [report_id])
        return
    if done is not None:
        await query.answer(_("Done: {code} is now “{state}”.").format(
            code=done.code, state=_(lifecycle.STATE_LABELS[lifecycle.State(done.to_state)])))
        log.info("report_%s code=%s by=%s", done.action, done.code, update.effective_user.id)
        await _carry_out(context, done.effects, [report_id])
        return
    await query.answer()
    if menu is not None:
        await edits.query_markup(context.application, query, menu)
        return
    await _ask(update, context, report_id, event_id, action, ask)


async def _ask_resident(update: Update, context: LoaContext, report_id: int, event_id: int | None) -> None:
    """"Ask the resident…": who asks is checked now (and again when the question is written)."""
    query = update.callback_query
    language = _staff_language(update, context)
    _ = translator(language).gettext
    refused = None
    async with context.db.read() as session:
        actor = await _actor(session, update, context)
        report = await session.get(Report, report_id) if report_id else None
        try:
            if report is None:
                raise Refused("not_found", "")
            await lifecycle.check_staff(session, report, actor, context.policy)
        except Refused as refusal:
            refused = _("Only moderators and the staff of the agency handling this report can do this.") \
                if refusal.code in NOT_THEIRS | {"not_staff"} else refusal.render(_, language, context.settings.tz)
        else:
            if report.state not in lifecycle.OPEN:
                refused = _("Report {code} is closed: the resident can no longer be asked.").format(code=report.code)
            elif report.resident_id is None:
                refused = _(thread.NO_RESIDENT)
    if refused is not None:
        await query.answer(refused, show_alert=True)
        return
    await query.answer()
    await _ask(update, context, report_id, event_id, QUESTION, _(ASK[ASK_RESIDENT]).format(code=report.code))


def _may_see(actor: lifecycle.Actor, report: Report | None) -> bool:
    """Moderators, and the staff of the agency handling the report."""
    return report is not None and (actor.kind == lifecycle.ActorKind.MODERATOR or (
        actor.kind == lifecycle.ActorKind.AGENCY_STAFF and actor.agency_code == report.agency_code))


async def _photos(update: Update, context: LoaContext, report_id: int) -> None:
    """All the report's photos, the cleaned copies, as an album under the card: for its staff only."""
    query = update.callback_query
    _ = translator(_staff_language(update, context)).gettext
    async with context.db.read() as session:
        actor = await _actor(session, update, context)
        report = await session.get(Report, report_id) if report_id else None
        allowed = _may_see(actor, report)
        paths = await staff_cards.photo_paths(session, report_id, context.settings.media_dir) if allowed else []
    if not allowed:
        await query.answer(_("Only moderators and the staff of the agency handling this report can see them."),
                           show_alert=True)
        return
    await query.answer()
    media = [InputMediaPhoto(path.read_bytes()) for path in paths]
    if len(media) > 1:
        await context.bot.send_media_group(update.effective_chat.id, media,
                                           reply_to_message_id=query.message.message_id)
    elif media:
        await context.bot.send_photo(update.effective_chat.id, media[0].media,
                                     reply_to_message_id=query.message.message_id)


async def _ban(update: Update, context: LoaContext, report_id: int, event_id: int | None, *, confirmed: bool) -> None:
    """"Ban reporter…" on the moderators' card (`bn`) asks to confirm (`by`). Only a moderator gets
    past the first check, so nobody else learns anything of the report or its reporter."""
    query = update.callback_query
    _ = translator(_staff_language(update, context)).gettext
    secret = context.settings.pseudonym_secret
    answer, menu, banned = None, None, NOTHING
    async with context.db.transaction() as session:
        actor = await _actor(session, update, context)
        report = await session.get(Report, report_id) if actor.kind == lifecycle.ActorKind.MODERATOR else None
        resident = await bans.reporter(session, report) if report is not None else None
        if actor.kind != lifecycle.ActorKind.MODERATOR:
            answer = _("Only moderators can ban a reporter.")
        elif resident is None:
            answer = _("This report's reporter cannot be banned: they asked Loa to forget them.")
        elif not confirmed:
            if await abuse.ban_of(session, secret, resident.telegram_id) is not None:
                answer = _("The reporter of {code} is banned already.").format(code=report.code)
            else:
                menu = InlineKeyboardMarkup([
                    [InlineKeyboardButton("🚫 " + _("Yes, ban the reporter of {code}").format(code=report.code),
                                          callback_data=staff_cards.callback(report, event_id, "by"))],
                    [InlineKeyboardButton("« " + _("Back"),
                                          callback_data=staff_cards.callback(report, event_id, "bk"))]])
        else:
            banned = await bans.ban(session, secret, resident.telegram_id, by=update.effective_user.id,
                                    report_code=report.code, gettext=context.policy.gettext)
            answer = (_("The reporter of {code} is banned: Loa refuses their reports from now on.") if banned
                      else _("The reporter of {code} is banned already.")).format(code=report.code)
    if menu is not None:
        await query.answer()
        await edits.query_markup(context.application, query, menu)
        return
    await query.answer(answer, show_alert=True)
    if banned:
        log.info("reporter_banned code=%s by=%s", report.code, update.effective_user.id)
        await _carry_out(context, banned)  # every card of theirs is drawn again, showing the ban


async def _carry_out(context: LoaContext, effects: Effects, report_ids: list[int] | None = None) -> None:
    """What a change left to do, by the composition root; when it changed cards, they are also
    redrawn here, awaited, so that the staff see the result of their tap before the handler ends."""
    context.carry_out(effects)
    if effects.cards:
        await staff_cards.sync(context.application, report_ids)


async def _args(session, op: str, arg: str, report_id: int, context: LoaContext) -> dict:
    if op == "as":
        return {"agency_code": arg}
    if op == "dp":
        return {"original_id": int(arg) if arg.isdigit() and int(arg) <= BIGGEST_ID else 0}
    if op == "pr":
        return {"priority": arg}
    if op == "rr":
        return {"reason": await actions.template_reason(session, report_id, arg,
                                                        default_language=context.settings.default_language)}
    return {}


async def _menu(session, op: str, report: Report, event_id: int | None, language: str,
                context: LoaContext) -> InlineKeyboardMarkup | None:
    """The choices behind "Assign to…", "Duplicate of…" and "Reject…", with a way back; None when
    there is no agency to offer (complaints.agencies.Choices.offered), rather than a menu of none."""
    _ = translator(language).gettext

    def button(text: str, next_op: str, arg: str = "") -> InlineKeyboardButton:
        return InlineKeyboardButton(text, callback_data=staff_cards.callback(report, event_id, next_op, arg))

    rows = []
    if op == "ag":
        offered = (await agencies.choices(session, report)).offered()
        if not offered:
            return None
        for agency in offered[:MOST_AGENCIES]:
            rows.append([button(agency.name_en if language == "en" else agency.name_vi, "as", agency.code)])
    elif op == "du":
        for found in await duplicates.suggestions(session, report, now=context.now()):
            where = f"{found.distance_m} m" if found.distance_m is not None else _("same ward")
            rows.append([button(f"{found.code} · {where} · {found.description}"[:60], "dp", str(found.report_id))])
        rows.append([button("⌨️ " + _("Type a code…"), "dc")])
    elif op == "rj":
        for index, reason in enumerate(REJECT_REASONS):
            rows.append([button(_(reason)[:60], "rr", str(index))])
        rows.append([button("✏️ " + _("Another reason…"), "ro")])
    rows.append([button("« " + _("Back"), "bk")])
    return InlineKeyboardMarkup(rows)


async def _redraw(update: Update, context: LoaContext, report_id: int) -> None:
    """Back from a choice: the card's own buttons again, on that report's card, for its staff."""
    query = update.callback_query
    settings = context.settings
    _ = translator(_staff_language(update, context)).gettext
    async with context.db.read() as session:
        actor = await _actor(session, update, context)
        report = await session.get(Report, report_id) if report_id else None
        for_agency = query.message.chat.id != settings.moderators_chat_id
        card = report and (report.agency_card_message_id if for_agency else report.mod_card_message_id)
        # The job writes a card's message id just after posting it: a tap may come first.
        if not (_may_see(actor, report) and card in (query.message.message_id, None)):
            view = None
        else:
            view = await staff_cards.load_view(session, report, settings.media_dir, settings.pseudonym_secret)
            routed = None if for_agency else await agencies.route(session, report.category_code, report.area_code)
    if view is None:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    await query.answer()
    await edits.query_markup(context.application, query,
                             staff_cards.card_markup(view, settings.default_language, for_agency=for_agency,
                                                     routed=routed))


def _question(user, text: str) -> str:
    """A question as the bot asks it, naming whom it is for (HTML)."""
    return f'<a href="tg://user?id={user.id}">{html.escape(user.full_name)}</a>, {html.escape(text)}'


async def _ask(update: Update, context: LoaContext, report_id: int, event_id: int | None, action: Action | str,
               text: str) -> None:
    user = update.effective_user
    message = await context.bot.send_message(
        update.effective_chat.id, _question(user, text), parse_mode=ParseMode.HTML,
        reply_markup=ForceReply(selective=True, input_field_placeholder=text[:64]),
        reply_to_message_id=update.callback_query.message.message_id)
    async with context.db.transaction() as session:
        session.add(StaffPrompt(chat_id=message.chat_id, message_id=message.message_id, telegram_id=user.id,
                                report_id=report_id, action=str(action), expected_event_id=event_id))


async def on_reply(update: Update, context: LoaContext) -> None:
    """A staff member's answer to a question of the bot: a reason, a note (perhaps with a photo), a code."""
    message = update.effective_message
    language = _staff_language(update, context)
    _ = translator(language).gettext
    answer, done, hint, asked = None, None, None, None
    async with context.db.transaction() as session:
        prompt = await _prompt_of(session, message.reply_to_message)
        if prompt is None:  # a reply to something else: perhaps meant as the answer
            hint = await _hint(session, update, context)
        elif prompt.telegram_id != update.effective_user.id:
            answer = _("This question was for someone else. Tap the button on the card to do it yourself.")
        elif prompt.action == QUESTION:
            answer, asked = await _question_for_resident(session, update, context, prompt, message)
        else:
            text = (message.text or message.caption or "").strip()
            photo = message.photo[-1].file_id if message.photo else None
            try:
                args = actions.typed(prompt.action, text, photo)
            except Refused as refusal:  # a photo where a text was asked for: the question stays
                answer = refusal.render(_, language, context.settings.tz)
            else:
                try:
                    actor = await _actor(session, update, context)
                    async with session.begin_nested():
                        done = await lifecycle.apply(session, prompt.report_id, prompt.action, actor,
                                                     policy=context.policy,
                                                     expected_event_id=prompt.expected_event_id, now=context.now(),
                                                     **args)
                except Refused as refusal:
                    answer = refusal.render(_, language, context.settings.tz)
                    if refusal.code in actions.RETYPE:
                        answer += "\n" + _("Reply to my question again with the corrected text.")
                        prompt = None  # kept: they can answer again
                if prompt is not None:
                    await session.execute(delete(StaffPrompt).where(StaffPrompt.id == prompt.id))
    if done is not None:
        await message.reply_text(_("Done: {code} is now “{state}”.").format(
            code=done.code, state=_(lifecycle.STATE_LABELS[lifecycle.State(done.to_state)])))
        await _carry_out(context, done.effects, [done.report_id])
    elif asked is not None:
        await message.reply_text(answer)
        log.info("resident_asked code=%s by=%s", asked.code, update.effective_user.id)
        await _carry_out(context, asked.effects, [asked.report_id])
    elif answer is not None or hint is not None:
        await message.reply_text(answer or hint)


async def _question_for_resident(session, update: Update, context: LoaContext, prompt: StaffPrompt,
                                 message) -> tuple[str, thread.Posted | None]:
    """The staff member's reply to "Ask the resident…": the question, into the report's thread
    and on its way to the resident. What to answer them, and the question when it was asked."""
    language = _staff_language(update, context)
    _ = translator(language).gettext
    text = (message.text or message.caption or "").strip()
    try:
        actor = await _actor(session, update, context)
        async with session.begin_nested():
            asked = await thread.ask(session, prompt.report_id, actor, text, policy=context.policy,
                                     pause=context.settings.pause_while_asking, now=context.now())
    except Refused as refusal:
        answer = refusal.render(_, language, context.settings.tz)
        if refusal.code in ("missing_text", "too_long"):
            return answer + "\n" + _("Reply to my question again with the corrected text."), None
        await session.execute(delete(StaffPrompt).where(StaffPrompt.id == prompt.id))
        return answer, None
    await session.execute(delete(StaffPrompt).where(StaffPrompt.id == prompt.id))
    if asked.message.delivery == thread.UNDELIVERABLE:
        return _("Saved in the thread of {code}, but the resident cannot receive it: they blocked the bot.").format(
            code=asked.code), asked
    return _("Sent to the resident of {code}. Their answer will appear on the card.").format(code=asked.code), asked


async def _prompt_of(session, replied) -> StaffPrompt | None:
    """The question of the bot's that message `replied` is, if it is one."""
    if replied is None:
        return None
    return (await session.execute(select(StaffPrompt).where(
        StaffPrompt.chat_id == replied.chat_id, StaffPrompt.message_id == replied.message_id))).scalar_one_or_none()


async def _open_questions(session, chat_id: int, telegram_id: int) -> list[tuple[StaffPrompt, str]]:
    """The questions this staff member has open in this group, oldest first, with their reports' codes."""
    rows = await session.execute(
        select(StaffPrompt, Report.code).join(Report, Report.id == StaffPrompt.report_id)
        .where(StaffPrompt.chat_id == chat_id, StaffPrompt.telegram_id == telegram_id)
        .order_by(StaffPrompt.id))
    return [(prompt, code) for prompt, code in rows.all()]


def _mentions_bot(message, username: str | None) -> bool:
    """The message names the bot (@username): it is addressed to it."""
    text = message.text or message.caption or ""
    return bool(username) and f"@{username}".lower() in text.lower()


async def _hint(session, update: Update, context: LoaContext) -> str | None:
    """What to tell someone who wrote in the group without answering a question: how to answer
    their open question (once per question), or, when they addressed the bot, what it does here;
    None (silence) otherwise, so that the staff's own conversation is left alone."""
    message = update.effective_message
    _ = translator(_staff_language(update, context)).gettext
    questions = await _open_questions(session, message.chat_id, update.effective_user.id)
    fresh = [(prompt, code) for prompt, code in questions if prompt.hinted_at is None]
    if fresh:
        for prompt, _code in fresh:
            prompt.hinted_at = context.now()
        return _("To answer my question about {codes}, reply to that message of mine (Reply on it); a message "
                 "that is not a reply does nothing. To drop the question, send /cancel.").format(
            codes=", ".join(code for _prompt, code in questions))
    if _mentions_bot(message, context.bot.username):
        return _("In this group I post the report cards: use their buttons. When I ask you a question, reply to "
                 "my message; /cancel drops your open questions.")
    return None


async def cancel(update: Update, context: LoaContext) -> None:
    """/cancel in a group: as a reply to one of the sender's questions, that question; otherwise
    every question they have open in the group. Nothing else changes."""
    message = update.effective_message
    user = update.effective_user
    _ = translator(_staff_language(update, context)).gettext
    questions = []
    async with context.db.transaction() as session:
        replied = await _prompt_of(session, message.reply_to_message)
        if replied is not None and replied.telegram_id != user.id:
            text = _("This question was for someone else: only they can cancel it.")
        else:
            questions = await _open_questions(session, message.chat_id, user.id)
            if replied is not None:
                questions = [(prompt, code) for prompt, code in questions if prompt.id == replied.id]
            if questions:
                await session.execute(delete(StaffPrompt).where(StaffPrompt.id.in_([p.id for p, _c in questions])))
                text = _("Cancelled: I no longer wait for your answer about {codes}. Nothing was changed.").format(
                    codes=", ".join(code for _prompt, code in questions))
            else:
                text = _("You have no open question in this group: there is nothing to cancel.")
    await message.reply_text(text)
    for prompt, code in questions:
        # The question itself says so, for whoever scrolls back to it and would reply to it.
        asked = _(ASK[ASKED_BY[prompt.action]]).format(code=code)
        try:
            await edits.text(context.application, prompt.chat_id, prompt.message_id,
                             _question(user, asked) + "\n\n✖ " + html.escape(_("Cancelled.")),
                             parse_mode=ParseMode.HTML)
        except BadRequest as error:  # deleted meanwhile: the confirmation above says it all
            log.info("cancelled_question_kept chat=%s error=%s", prompt.chat_id, error)


async def on_group_message(update: Update, context: LoaContext) -> None:
    """A message in a group that replies to nothing: a hint when one is due (`_hint`), else silence.
    Most of a group's messages are the staff talking: they cost one read, never a write lock."""
    message = update.effective_message
    if not _mentions_bot(message, context.bot.username):
        async with context.db.lookup() as session:
            waiting = (await session.execute(select(StaffPrompt.id).where(
                StaffPrompt.chat_id == message.chat_id, StaffPrompt.telegram_id == update.effective_user.id,
                StaffPrompt.hinted_at.is_(None)).limit(1))).first()
        if waiting is None:
            return
    async with context.db.transaction() as session:
        hint = await _hint(session, update, context)
    if hint is not None:
        await update.effective_message.reply_text(hint)


async def chat_id(update: Update, context: LoaContext) -> None:
    """/chatid in a group: the id the city IT officer configures for it."""
    chat = update.effective_chat
    _ = translator(_staff_language(update, context)).gettext
    await update.effective_message.reply_text(
        _("This group's id is {id}. For the moderators' group, set LOA_MODERATORS_CHAT_ID={id}; for an "
          "agency's group, run: loa agencies chat AGENCY_CODE {id}").format(id=chat.id))


HANDLERS = [
    CommandHandler("chatid", chat_id, filters=GROUPS),
    CommandHandler("cancel", cancel, filters=GROUPS),
    CallbackQueryHandler(on_button, pattern=callbacks.TRIAGE.pattern),
    MessageHandler(GROUPS & filters.REPLY & (filters.TEXT | filters.PHOTO) & ~filters.COMMAND, on_reply),
    MessageHandler(GROUPS & (filters.TEXT | filters.PHOTO) & ~filters.COMMAND, on_group_message),
]

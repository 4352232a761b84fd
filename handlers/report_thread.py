"""The resident's side of a report's thread (complaints/thread.py) in the bot.

- A staff member's question reaches the resident through the outbox as a ForceReply message
  with the report's code; the resident answers by replying to it (text, a photo, a location).
  guide.unexpected hands every reply here first (`on_reply`): the replied message is looked up
  among the questions the outbox sent the resident (complaints.thread.question_replied).
- "➕ Add to my report" on the /status card (callbacks.ADD, `ad:<code>`) checks that the
  resident may (their report, or one they follow, open, not banned) and makes their next
  messages additions to it (`Awaiting.ADDITION`, `Resident.adding_report_id`) until they tap
  "Done ✓" (`ad:done`), send /cancel, or start something else.

Photos are downloaded and cleaned (complaints/media: EXIF gone) before anything is written; a
refusal removes the stored copy again. Someone who may not add to a report gets the answer an
unknown code gets. What a write leaves to do (the staff's cards, their group told) goes to
`context.carry_out`.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler

from complaints import media, thread
from complaints.lifecycle import Actor, ActorKind, Refused
from complaints.thread import Location
from handlers import callbacks, report_prompts
from handlers.area import area_locator
from handlers.awaiting import Awaiting
from handlers.cards import Card, reply
from handlers.context import LoaContext
from handlers.onboarding import language_of
from kernel.i18n import translator
from storage import residents
from storage.models import Report, Resident

log = logging.getLogger(__name__)

NOT_A_PHOTO = "not_a_photo"
# Refusals after which the resident's next messages no longer go to the report they were adding to.
ENDS_ADDING = frozenset({"closed", "not_found", "banned"})


def _refusal(refusal: Refused, language: str, context: LoaContext) -> Card:
    return Card(refusal.render(translator(language).gettext, language, context.settings.tz))


# ---------------------------------------------------------------- "Add to my report"


async def add_button(update: Update, context: LoaContext) -> None:
    """`ad:<code>`: the next messages go to that report; `ad:done`: they no longer do."""
    query = update.callback_query
    arg = callbacks.ADD.args(query.data)[0]
    actor = Actor(ActorKind.RESIDENT, update.effective_user.id)
    refused, code = None, None
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        language = language_of(update, context, resident)
        if arg == "done":
            adding = await session.get(Report, resident.adding_report_id) \
                if resident is not None and resident.adding_report_id else None
            if resident is not None and resident.awaiting == Awaiting.ADDITION:
                resident.awaiting, resident.adding_report_id = None, None
            code = adding.code if adding is not None else None
        else:
            try:
                report = await thread.may_add(session, await thread.report_id_of(session, arg), actor,
                                              secret=context.settings.pseudonym_secret)
            except Refused as refusal:
                refused = refusal
                if refusal.code == "not_found":  # the code as typed, whether it exists or not
                    refused = Refused("not_found", thread.NOT_FOUND, {"code": arg})
            else:
                resident.awaiting, resident.adding_report_id = Awaiting.ADDITION, report.id
                code = report.code
    _ = translator(language).gettext
    await query.answer()
    if refused is not None:
        await reply(update, _refusal(refused, language, context))
    elif arg == "done":
        await reply(update, Card(_("Thank you. The staff handling report {code} have what you sent.").format(
            code=code) if code else _("Nothing more is being added.")))
    else:
        await reply(update, adding_prompt(code, language))


def adding_prompt(code: str, language: str) -> Card:
    """The question of "Add to my report": what the resident sends next goes to report `code`."""
    _ = translator(language).gettext
    return Card(_("Send what you want to add to report {code}: a text, photos, or a corrected "
                  "location (📎 → Location). Tap “Done ✓” when you have finished.").format(code=code),
                report_prompts.done_markup(language))


async def on_addition(update: Update, context: LoaContext, resident: Resident) -> bool:
    """A message while adding to a report (guide.STEPS); False when no report waits for it."""
    if resident.adding_report_id is None:
        return False
    posted = await _post(update, context, resident, resident.adding_report_id, None)
    if isinstance(posted, thread.Posted):
        _ = translator(resident.language).gettext
        await reply(update, Card(_("Added to report {code}. Send more, or tap “Done ✓”.").format(code=posted.code),
                                 report_prompts.done_markup(resident.language)))
    elif isinstance(posted, Refused) and posted.code in ENDS_ADDING:
        async with context.db.transaction() as session:
            fresh = await residents.by_telegram_id(session, resident.telegram_id, for_update=True)
            if fresh is not None and fresh.awaiting == Awaiting.ADDITION:
                fresh.awaiting, fresh.adding_report_id = None, None
    return True


# ---------------------------------------------------------------- answers


async def on_reply(update: Update, context: LoaContext, resident: Resident | None) -> bool:
    """A reply to one of the bot's messages: if it is a staff question, the answer to it (True);
    else False, and the message goes on to the other steps."""
    message = update.effective_message
    replied = message.reply_to_message
    if resident is None or replied is None:
        return False
    async with context.db.lookup() as session:
        found = await thread.question_replied(session, resident.telegram_id, replied.message_id,
                                              replied.text or replied.caption)
    if found is None:
        return False
    report_id, question_id = found
    posted = await _post(update, context, resident, report_id, question_id)
    if isinstance(posted, thread.Posted):
        _ = translator(resident.language).gettext
        await reply(update, Card(_("Thank you: your answer was passed on to the staff handling report {code}.")
                                 .format(code=posted.code)))
    return True


# ---------------------------------------------------------------- writing


async def _post(update: Update, context: LoaContext, resident: Resident, report_id: int,
                question_id: int | None) -> thread.Posted | Refused | None:
    """The message into the report's thread; the resident is told when it could not be (and
    given the refusal, or None for a message of the wrong kind)."""
    message = update.effective_message
    language = resident.language
    _ = translator(language).gettext
    kind = _kind(message)
    if kind is None:
        await reply(update, Card(_("Send a text, a photo or a location.")))
        return None
    photo, location, locator = None, None, None
    if kind == "photo":
        photo = await _cleaned(context, message)
        if photo == NOT_A_PHOTO:
            await reply(update, Card(_("This file is not a photo Loa can read. Please send a photo (JPEG or PNG).")))
            return None
    elif kind == "location":
        location = Location(message.location.latitude, message.location.longitude)
        locator = await area_locator(context)
    text = message.text if kind == "text" else message.caption
    try:
        async with context.db.transaction() as session:
            posted = await thread.add(session, report_id, Actor(ActorKind.RESIDENT, resident.telegram_id),
                                      text=text, photos=[photo] if isinstance(photo, dict) else [],
                                      location=location, locator=locator, question_id=question_id,
                                      policy=context.policy, secret=context.settings.pseudonym_secret,
                                      now=context.now(), again=context.taken_over(update))
    except Refused as refusal:
        if isinstance(photo, dict) and photo.get("sha256"):
            async with context.db.read() as session:
                await media.remove_unused(session, media.MediaStore(context.settings.media_dir), [photo["sha256"]])
        await reply(update, _refusal(refusal, language, context))
        return refusal
    log.info("report_thread_%s code=%s", posted.message.kind, posted.code)
    context.carry_out(posted.effects)
    return posted


def _kind(message: Message) -> str | None:
    if message.photo:
        return "photo"
    if message.location is not None:
        return "location"
    if message.text and not message.text.startswith("/"):
        return "text"
    return None


async def _cleaned(context: LoaContext, message: Message) -> dict | str:
    """The photo, downloaded and cleaned into the media store, as a draft keeps its photos; or
    NOT_A_PHOTO. A download that fails keeps Telegram's file id without a cleaned copy (staff
    never see the resident's own file)."""
    settings = context.settings
    size = message.photo[-1]
    photo = {"file_id": size.file_id, "file_unique_id": size.file_unique_id, "sha256": None,
             "width": None, "height": None}
    if size.file_size is not None and size.file_size > settings.max_photo_bytes:
        return NOT_A_PHOTO
    try:
        data = bytes(await (await context.bot.get_file(size.file_id)).download_as_bytearray())
        stored = await asyncio.to_thread(media.MediaStore(settings.media_dir).put, data, settings.max_photo_bytes)
    except (media.NotAnImage, media.TooLarge):
        return NOT_A_PHOTO
    except TelegramError as error:
        log.warning("thread_photo_download_failed error=%s", type(error).__name__)
        return photo
    return {**photo, "sha256": stored.sha256, "width": stored.width, "height": stored.height}


HANDLERS = [
    CallbackQueryHandler(add_button, pattern=callbacks.ADD.pattern),
]

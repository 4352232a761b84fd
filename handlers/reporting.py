"""/report: category → description → photos → location → review → submitted.

The draft lives in the database (complaints.drafts), so every update reads where the resident
is and a restart changes nothing. Messages reach the wizard through guide.unexpected while
`resident.awaiting == Awaiting.REPORT`; buttons come here directly. As everywhere, the database work
is one transaction, committed before Telegram is called.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from complaints import drafts, media, public, reports
from handlers import callbacks, edits
from handlers import report_prompts as cards
from handlers.area import area_locator
from handlers.awaiting import Awaiting
from handlers.cards import area_level, edit, reply
from handlers.context import LoaContext
from handlers.onboarding import language_of
from handlers.report_prompts import Card
from kernel import formats
from storage import abuse, areas, residents
from storage.models import Area, Category, Resident
from storage.types import utcnow

PRIVATE = filters.ChatType.PRIVATE
PHOTO_STEPS = ("description", "photos")
log = logging.getLogger("loa.reports")


async def _close_buttons(update: Update, context: LoaContext) -> None:
    """Take the buttons off the message whose button was tapped, so it cannot be tapped again."""
    await edits.query_markup(context.application, update.callback_query, None)


async def _answered(update: Update, context: LoaContext, following: list[Card]) -> None:
    """A tapped button that moved the wizard on: answer it, close its buttons, send what follows."""
    await update.callback_query.answer()
    await _close_buttons(update, context)
    await reply(update, *following)


async def stale(update: Update, context: LoaContext, resident: Resident | None = None) -> None:
    if await context.resume(update):
        return
    _ = cards.texts(language_of(update, context, resident))
    await update.callback_query.answer(
        _("This button is no longer active. Send /report to start or continue a report."), show_alert=True)


# The card of each step


async def step_cards(session, resident: Resident, draft, *, intro: str = "") -> list[Card]:
    step = draft.step
    if step == "category":
        return [cards.categories(resident, await drafts.categories(session), intro=intro)]
    if step == "description":
        card = cards.description(resident)
    elif step == "photos":
        card = cards.photos(resident, draft)
    elif step == "location" and drafts.ward_pending(draft):
        card = await ward_question(session, resident, draft, await _province_of(session, resident.area_code))
    elif step == "location":
        card = cards.location(resident, photo_gps=any(p.get("gps") for p in draft.photos or []))
    else:
        card = await review_card(session, resident, draft)
    if intro:
        return [Card(intro), card]
    return [card]


async def review_card(session, resident: Resident, draft, *, closed: bool = False) -> Card:
    category = await session.get(Category, draft.category_code) if draft.category_code else None
    area = await session.get(Area, draft.area_code) if draft.area_code else None
    return cards.review(resident, draft, category, area, closed=closed)


async def _province_of(session, code: str | None) -> str | None:
    """The top unit above area `code` (the resident's province), or None."""
    chain = await areas.path(session, code) if code else []
    return chain[0].code if chain else None


async def ward_question(session, resident: Resident, draft, province: str | None, *, not_found: bool = False) -> Card:
    """Which ward the typed address is in, with the wards of `province` to choose from."""
    level = await area_level(session, province) or await area_level(session, None)
    return cards.ward_question(resident, draft.address_text, *level, not_found=not_found)


async def _located(session, resident: Resident, draft, *, ward_found: bool = False) -> Card:
    """The location step's outcome: the typed address with its ward, or the ward alone."""
    chain = await areas.path(session, draft.area_code)
    if ward_found:  # with its province: the name may be one of several provinces'
        return cards.located(resident, draft.address_text, ward=", ".join(
            cards.area_label(unit, resident.language) for unit in reversed(chain)))
    ward = cards.area_label(chain[-1] if chain else None, resident.language)
    return cards.located(resident, ", ".join(filter(None, [draft.address_text, ward])))


def _place(draft, *, area_code: str, latitude: float | None = None, longitude: float | None = None) -> None:
    """The location chosen at the location step; a typed address waiting for its ward keeps its words."""
    if not drafts.ward_pending(draft):
        draft.address_text = None
    draft.area_code, draft.latitude, draft.longitude = area_code, latitude, longitude


async def _advance(session, resident: Resident, draft, done: str) -> list[Card]:
    """After step `done`, the next one's card (the review's, after an edit)."""
    drafts.go_to(draft, drafts.next_after(done))
    missing = drafts.missing(draft) if draft.step == "review" else None
    if missing is not None and missing != done:
        # Reached the review through an edit of a draft that lacks an answer: ask for it.
        draft.step = missing
    return await step_cards(session, resident, draft)


# /report and the menu button


async def report_command(update: Update, context: LoaContext) -> None:
    user = update.effective_user
    query = update.callback_query
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, user.id, for_update=True)
        _ = cards.texts(language_of(update, context, resident))
        out: list[Card]
        if resident is None or not resident.onboarded:
            out = [Card(_("First tell Loa your language and your area: send /start. Then /report."))]
        elif await abuse.ban_of(session, context.settings.pseudonym_secret, user.id) is not None:
            out = [Card(_("Sorry, you can no longer send reports through Loa. "
                          "If you think this is a mistake, please contact your ward's office."))]
        else:
            draft = await drafts.get(session, resident.id, for_update=True)
            if draft is not None:
                resident.awaiting = Awaiting.REPORT
                out = await step_cards(session, resident, draft,
                                       intro=_("You were writing a report: let's carry on where you stopped. "
                                               "(To throw it away, send /cancel.)"))
            else:
                again = await abuse.next_report_at(session, context.settings.pseudonym_secret, user.id,
                                                   now=context.now(), per_hour=context.settings.reports_per_hour)
                if again is not None:
                    out = [Card(_limited(resident, again, context))]
                else:
                    draft = await drafts.start(session, resident.id,
                                               publicity=context.settings.public_reports_default)
                    resident.awaiting = Awaiting.REPORT
                    out = await step_cards(session, resident, draft)
    if query is not None:
        await query.answer()
    await reply(update, *out)


def _limited(resident: Resident, again: datetime, context: LoaContext) -> str:
    _ = cards.texts(resident.language)
    return _("You have sent {count} reports in the last hour, the most Loa accepts. "
             "You can report again from {time}. If it is an emergency, call 113 (police), "
             "114 (fire) or 115 (ambulance).").format(
        count=context.settings.reports_per_hour, time=formats.moment(again, resident.language, context.settings.tz))


# Buttons of the wizard


async def _with_draft(update: Update, context: LoaContext, steps: tuple[str, ...], work):
    """Run `work(session, resident, draft)` in a transaction when the resident's draft is at one of
    `steps`; answers a stale button and returns None otherwise."""
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        draft = await drafts.get(session, resident.id, for_update=True) if resident else None
        if draft is None or draft.step not in steps:
            result = None
        else:
            resident.awaiting = Awaiting.REPORT
            result = await work(session, resident, draft)
    if result is None:
        await stale(update, context, resident)
    return result


async def choose_category(update: Update, context: LoaContext) -> None:
    """`rc:<code>`."""
    [code] = callbacks.CATEGORY.args(update.callback_query.data)

    async def work(session, resident, draft):
        category = await session.get(Category, code)
        if category is None or not category.active:
            return None
        draft.category_code = code
        return cards.category_name(category, resident.language), await _advance(session, resident, draft, "category")

    result = await _with_draft(update, context, ("category",), work)
    if result is None:
        return
    name, following = result
    await update.callback_query.answer(name)
    await _close_buttons(update, context)
    await reply(update, *following)


async def photos_button(update: Update, context: LoaContext) -> None:
    """`rph:done`, `rph:none` (go on) and `rph:clear` (remove the photos)."""
    [action] = callbacks.PHOTOS.args(update.callback_query.data)

    removed: list[str] = []

    async def work(session, resident, draft):
        if action == "clear":
            removed.extend(drafts.photo_hashes(draft.photos))
            draft.photos = []
            draft.media_group_id = None
            draft.updated_at = utcnow()
            return [cards.photos(resident, draft)]
        return await _advance(session, resident, draft, "photos")

    following = await _with_draft(update, context, ("photos",), work)
    await remove_photos(context, removed)
    if following is None:
        return
    await update.callback_query.answer()
    if action == "clear":
        await edit(context.application, update.callback_query, following[0])
        return
    await _close_buttons(update, context)
    await reply(update, *following)


async def _set_area(update: Update, context: LoaContext, code: str) -> None:
    async def work(session, resident, draft):
        area = await areas.get(session, code)
        if area is None:
            return None
        _place(draft, area_code=area.code)
        return [await _located(session, resident, draft)] + await _advance(session, resident, draft, "location")

    following = await _with_draft(update, context, ("location",), work)
    if following is not None:
        await _answered(update, context, following)


async def location_button(update: Update, context: LoaContext) -> None:
    """`rl:<code or ->:<page>`: the area picker; `rl:gps`: the location a photo carried."""
    query = update.callback_query
    if callbacks.LOCATION.args(query.data) == ["gps"]:
        await _photo_location(update, context)
        return
    code, page = callbacks.area_page(query.data, callbacks.LOCATION)
    async with context.db.lookup() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id)
        draft = await drafts.get(session, resident.id) if resident else None
        level = await area_level(session, code)
    if draft is None or draft.step != "location" or level is None:
        await stale(update, context, resident)
        return
    parent, children = level
    if parent is not None and not children:
        await _set_area(update, context, parent.code)
        return
    await query.answer()
    await edit(context.application, query, cards.area_picker(resident, parent, children, page))


async def _photo_location(update: Update, context: LoaContext) -> None:
    locator = await area_locator(context)

    async def work(session, resident, draft):
        point = next((p["gps"] for p in draft.photos or [] if p.get("gps")), None)
        if point is None:
            return None
        code = locator.locate(*point)
        _ = cards.texts(resident.language)
        if code is None:
            return [Card(_("The place where the photo was taken is outside every area Loa serves. "
                           "Share the location, pick the area, or type the address."))]
        _place(draft, area_code=code, latitude=point[0], longitude=point[1])
        return [await _located(session, resident, draft)] + await _advance(session, resident, draft, "location")

    following = await _with_draft(update, context, ("location",), work)
    if following is not None:
        await _answered(update, context, following)


async def edit_button(update: Update, context: LoaContext) -> None:
    """`re:<step>` on the review card: change one field, then come back to the review. `re:ward`:
    another ward for the typed address, which stays."""
    [step] = callbacks.REVIEW_EDIT.args(update.callback_query.data)
    if step not in drafts.STEPS[:-1] and step != "ward":
        await stale(update, context)
        return

    async def work(session, resident, draft):
        if step == "ward" and not drafts.ward_from_address(draft):
            return None
        closed = await review_card(session, resident, draft, closed=True)
        if step == "ward":
            province = await _province_of(session, draft.area_code)
            drafts.edit(draft, "location")
            draft.area_code = None
            return closed, [await ward_question(session, resident, draft, province)]
        drafts.edit(draft, step)
        return closed, await step_cards(session, resident, draft)

    result = await _with_draft(update, context, ("review",), work)
    if result is not None:
        await _closed(update, context, *result)


async def publicity_button(update: Update, context: LoaContext) -> None:
    """`rv:<choice>` on the review card: what the public portal may show of the report. The card
    is redrawn with the choice ticked; the same choice again changes nothing."""
    [choice] = callbacks.PUBLICITY.args(update.callback_query.data)

    async def work(session, resident, draft):
        changed = draft.publicity != choice
        if changed:
            draft.publicity = choice
            draft.updated_at = utcnow()
        return changed, resident, await review_card(session, resident, draft)

    result = await _with_draft(update, context, ("review",), work)
    if result is None:
        return
    changed, resident, card = result
    _ = cards.texts(resident.language)
    await update.callback_query.answer(_(public.CHOICE_LABELS[choice]) + " ✓")
    if changed:
        await edit(context.application, update.callback_query, card)


async def _closed(update: Update, context: LoaContext, review: Card, following: list[Card]) -> None:
    """A button of the review card moved the wizard on: the card stays without its buttons and
    without the words that point to them, and what follows is sent."""
    await update.callback_query.answer()
    await edit(context.application, update.callback_query, review)
    await reply(update, *following)


async def submit(update: Update, context: LoaContext) -> None:
    """`rs:<draft nonce>`. The draft is locked, turned into a report and deleted in one
    transaction, so a second tap finds no draft: one report, never two."""
    query = update.callback_query
    [nonce] = callbacks.SUBMIT.args(query.data)
    settings = context.settings
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        draft = await drafts.get(session, resident.id, for_update=True) if resident else None
        language = language_of(update, context, resident)
        _ = cards.texts(language)
        answer, out = None, []
        if draft is None and resident is not None and context.taken_over(update) \
                and (filed := await reports.filed_since(session, resident.id, int(nonce))) is not None:
            # This tap's instance filed the report and died, perhaps before saying so: say it
            # (there is no further step to ask, guide.py's `resume`).
            closed, out = None, [cards.submitted(resident, filed, settings.tz)]
        elif draft is None or draft.step != "review" or str(int(draft.created_at.timestamp())) != nonce:
            answer = _("This report has already been sent or cancelled. /myreports shows your reports.")
        elif await abuse.ban_of(session, settings.pseudonym_secret, resident.telegram_id) is not None:
            answer = _("Sorry, you can no longer send reports through Loa.")
        elif (again := await abuse.next_report_at(session, settings.pseudonym_secret, resident.telegram_id,
                                                  now=context.now(), per_hour=settings.reports_per_hour)) is not None:
            answer = _("Not sent yet: too many reports in the last hour.")
            out = [Card(_limited(resident, again, context))]
        elif (missing := drafts.missing(draft)) is not None:
            draft.step = missing
            answer = _("Something is missing.")
            out = await step_cards(session, resident, draft)
        else:
            name = " ".join(filter(None, [resident.first_name, f"@{resident.username}" if resident.username else None]))
            closed = await review_card(session, resident, draft, closed=True)
            report = await reports.submit(session, draft, reporter_name=name or None, tz=settings.tz,
                                          now=context.now(), rules=context.policy.rules)
            await abuse.count_report(session, settings.pseudonym_secret, resident.telegram_id, now=context.now())
            resident.awaiting = None
            out = [cards.submitted(resident, report, settings.tz)]
            log.info("report_submitted code=%s category=%s photos=%d", report.code, report.category_code,
                     len(draft.photos or []))
    if answer is not None:
        await query.answer(answer, show_alert=not out)
        await reply(update, *out)
        return
    await query.answer(_("Sent ✓"))
    if closed is not None:
        await edit(context.application, query, closed)
    await reply(update, *out)
    context.carry_out(reports.FILED)


async def cancel_button(update: Update, context: LoaContext) -> None:
    """`rx` on the review card."""
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        draft = await drafts.get(session, resident.id, for_update=True) if resident is not None else None
        closed = await review_card(session, resident, draft, closed=True) if draft is not None else None
        photos = await drafts.discard(session, resident.id) if resident is not None else None
        discarded = photos is not None
        if discarded and resident.awaiting == Awaiting.REPORT:
            resident.awaiting = None
    await remove_photos(context, photos)
    if not discarded:
        await stale(update, context, resident)
        return
    _ = cards.texts(resident.language)
    await _closed(update, context, closed, [Card(_("The report was cancelled; nothing was sent."),
                                                 ReplyKeyboardRemove())])


# Messages: called by guide.unexpected while the resident is writing a report


def _kind(message: Message) -> str:
    if message.text is not None:
        return "text"
    if message.photo:
        return "photo"
    if message.document is not None:
        return "image" if (message.document.mime_type or "").startswith("image/") else "document"
    if message.location is not None:
        return "location"
    for kind in ("video", "voice", "sticker", "video_note", "audio", "animation", "contact"):
        if getattr(message, kind, None):
            return kind
    return "other"


def _step_hint(step: str, _) -> str:
    return {
        "category": _("Please choose a category with the buttons above."),
        "description": _("Please type a description of the problem."),
        "photos": _("Send a photo, or tap “Done” (or “No photo”) above."),
        "location": _("Share the location, pick the area, or type the address or a landmark."),
        "review": _("Check the report above and tap “Submit”, or a button to change something."),
    }.get(step, "")


def _kind_refusal(kind: str, step: str, _) -> str:
    return {
        "video": _("Loa cannot take videos, only photos."),
        "animation": _("Loa cannot take videos, only photos."),
        "video_note": _("Loa cannot take videos, only photos."),
        "voice": _("Loa cannot take voice messages: please type instead."),
        "audio": _("Loa cannot take sound recordings: please type instead."),
        "sticker": _("Stickers cannot go into a report."),
        "document": _("This file is not a photo. Only photos can be added to a report."),
        "photo": _("Photos come a little later: first this step."),
        "image": _("Photos come a little later: first this step."),
        "location": _("The location comes a little later: first this step."),
        "text": _("That is not what Loa is asking for now."),
    }.get(kind, _("Loa cannot use this kind of message in a report."))


async def on_message(update: Update, context: LoaContext, resident: Resident) -> bool:
    """A message while writing a report; False when there is no report under way after all."""
    async with context.db.lookup() as session:
        draft = await drafts.get(session, resident.id)
    if draft is None:
        async with context.db.transaction() as session:
            fresh = await residents.by_telegram_id(session, resident.telegram_id, for_update=True)
            if fresh is not None and fresh.awaiting == Awaiting.REPORT:
                fresh.awaiting = None
        return False
    message = update.effective_message
    kind, step = _kind(message), draft.step
    _ = cards.texts(resident.language)
    if kind in ("photo", "image") and step in PHOTO_STEPS:
        await _take_photo(update, context, resident)
    elif kind == "text" and step == "description":
        await _take_description(update, context, resident, message.text)
    elif kind == "text" and step == "location":
        if message.text.strip() in cards.pick_area_labels():
            await _show_picker(update, context, resident)
        else:
            await _take_address(update, context, resident, message.text)
    elif kind == "location" and step == "location":
        await _take_location(update, context, resident, message.location.latitude, message.location.longitude)
    elif not await context.resume(update):
        await reply(update, Card(_kind_refusal(kind, step, _) + " " + _step_hint(step, _)))
    return True


async def _take_description(update: Update, context: LoaContext, resident: Resident, text: str) -> None:
    _ = cards.texts(resident.language)
    problem = drafts.check_description(text)
    if problem is not None:
        refusal = {
            "short": _("That is too short ({count} characters). Please describe in at least 10 characters "
                       "what is wrong, where exactly, and since when."),
            "long": _("That is too long: {count} characters, and a description can have at most 2,000. "
                      "Please shorten it and send it again."),
            "junk": _("That does not look like a description. Please write in words what is wrong, "
                      "where exactly, and since when."),
        }[problem.kind]
        await reply(update, Card(refusal.format(count=problem.value)))
        return

    async def work(session, resident, draft):
        draft.description = text.strip()
        return await _advance(session, resident, draft, "description")

    following = await _message_work(update, context, ("description",), work)
    if following is not None:
        await reply(update, *following)


async def _message_work(update: Update, context: LoaContext, steps: tuple[str, ...], work):
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        draft = await drafts.get(session, resident.id, for_update=True) if resident else None
        if draft is None or draft.step not in steps:
            return None
        return await work(session, resident, draft)


async def _take_address(update: Update, context: LoaContext, resident: Resident, text: str) -> None:
    _ = cards.texts(resident.language)
    problem = drafts.check_address(text)
    if problem is not None:
        refusal = (_("That is too short for an address. Type the street and house number, or a landmark.")
                   if problem.kind == "short" else
                   _("That is too long for an address: at most 200 characters. Put the details in the "
                     "description instead."))
        await reply(update, Card(refusal))
        return

    async def work(session, resident, draft):
        named = await areas.named_in(session, text, within=await _province_of(session, resident.area_code))
        if named is not None and named.only_name and drafts.ward_pending(draft):
            draft.area_code = named.area.code  # the answer to "which ward?": the address stays
            return [await _located(session, resident, draft)] + await _advance(session, resident, draft, "location")
        draft.address_text, draft.latitude, draft.longitude = text.strip(), None, None
        draft.area_code = named.area.code if named is not None else None
        draft.updated_at = utcnow()
        if named is None:
            return [await ward_question(session, resident, draft, await _province_of(session, resident.area_code),
                                        not_found=True)]
        done = await _located(session, resident, draft, ward_found=True)
        return [done] + await _advance(session, resident, draft, "location")

    following = await _message_work(update, context, ("location",), work)
    if following is not None:
        await reply(update, *following)


async def _take_location(update: Update, context: LoaContext, resident: Resident, lat: float, lon: float) -> None:
    _ = cards.texts(resident.language)
    code = (await area_locator(context)).locate(lat, lon)
    if code is None:
        await reply(update, Card(_("This location is outside every area Loa serves. Share another "
                                   "location, pick the area, or type the address.")))
        return

    async def work(session, resident, draft):
        _place(draft, area_code=code, latitude=lat, longitude=lon)
        return [await _located(session, resident, draft)] + await _advance(session, resident, draft, "location")

    following = await _message_work(update, context, ("location",), work)
    if following is not None:
        await reply(update, *following)


async def _show_picker(update: Update, context: LoaContext, resident: Resident) -> None:
    """The wards of the resident's own province first; "‹ Back" leads to the other provinces."""
    async with context.db.lookup() as session:
        home = await areas.get(session, resident.area_code) if resident.area_code else None
        parent = await areas.get(session, home.parent_code) if home is not None and home.parent_code else None
        children = await areas.children(session, parent.code if parent else None)
    await reply(update, cards.area_picker(resident, parent, children, 0))


async def remove_photos(context: LoaContext, hashes: list[str] | None) -> None:
    """Delete the files of photos a draft dropped, unless a report or another draft holds them."""
    if hashes:
        async with context.db.read() as session:
            await media.remove_unused(session, media.MediaStore(context.settings.media_dir), hashes)


async def _take_photo(update: Update, context: LoaContext, resident: Resident) -> None:
    message = update.effective_message
    settings = context.settings
    _ = cards.texts(resident.language)
    if message.photo:
        size = message.photo[-1]
        file_id, unique, declared = size.file_id, size.file_unique_id, size.file_size
    else:
        file_id, unique, declared = (message.document.file_id, message.document.file_unique_id,
                                     message.document.file_size)
    outcome, stored = "ok", None
    async with context.db.lookup() as session:
        draft = await drafts.get(session, resident.id)
    if draft is None:
        return
    known = any(p["file_unique_id"] == unique for p in draft.photos or [])
    if declared is not None and declared > settings.max_photo_bytes:
        outcome = "big"
    elif len(draft.photos or []) >= drafts.MAX_PHOTOS and not known:
        outcome = "full"
    elif drafts.photo_bytes(draft) >= settings.draft_media_bytes and not known:
        outcome = "held"
    elif not known:
        try:
            telegram_file = await context.bot.get_file(file_id)
            data = bytes(await telegram_file.download_as_bytearray())
            stored = await asyncio.to_thread(media.MediaStore(settings.media_dir).put, data, settings.max_photo_bytes)
        except media.TooManyPixels:
            outcome = "pixels"
        except media.TooLarge:
            outcome = "big"
        except media.NotAnImage:
            outcome = "not_image"
        except TelegramError as error:
            # Keep the Telegram file id; the cleaned copy is missing (sha256 None) and can be fetched later.
            log.warning("photo_download_failed error=%s", type(error).__name__)

    async def work(session, resident, draft):
        nonlocal outcome
        if outcome == "ok" and not known:
            photo = {"file_id": file_id, "file_unique_id": unique, "kind": "photo" if message.photo else "document",
                     "sha256": stored.sha256 if stored else None,
                     "width": stored.width if stored else None, "height": stored.height if stored else None,
                     "bytes": stored.size if stored else 0}
            if stored is not None and stored.gps is not None:
                photo["gps"] = list(stored.gps)
            if drafts.photo_bytes(draft) + photo["bytes"] > settings.draft_media_bytes:
                outcome = "held"
            elif not drafts.add_photo(draft, photo):
                outcome = "full"
        quiet = drafts.answered_before(draft, message.media_group_id, outcome)
        return quiet, len(draft.photos or []), draft.step

    result = await _message_work(update, context, PHOTO_STEPS, work)
    if stored is not None and (result is None or outcome != "ok"):
        await remove_photos(context, [stored.sha256])  # stored, then not taken
    if result is None:
        return
    quiet, count, step = result
    if quiet and not context.taken_over(update):  # (taken over: the answer recorded may not have gone out)
        return
    album = message.media_group_id is not None
    if outcome == "ok":
        card = cards.photo_saved(resident, count, album=album, step=step)
    elif outcome == "full":
        card = Card((_("A report can have at most {most} photos, so the extra photos were not added.") if album
                     else _("A report can have at most {most} photos, so this one was not added.")).format(
            most=drafts.MAX_PHOTOS) + " " + _("Tap “Done” to go on."),
            cards.photos_done(_) if step == "photos" else None)
    elif outcome == "big":
        card = Card(_("This photo is too large: the limit is {size} MB. Please send a smaller one.").format(
            size=_megabytes(settings.max_photo_bytes)))
    elif outcome == "pixels":
        card = Card(_("This image has too many pixels for Loa: at most {count} million. Please send it as a "
                      "photo rather than as a file, or a smaller one.").format(count=media.MAX_PIXELS // 1_000_000))
    elif outcome == "held":
        card = Card(_("This report already holds {size} MB of photos, the most Loa keeps for a report not yet "
                      "sent, so this one was not added. The photos you sent are kept.").format(
            size=_megabytes(settings.draft_media_bytes)) + " " + _("Tap “Done” to go on."),
            cards.photos_done(_) if step == "photos" else None)
    else:
        card = Card(_("This file is not a photo Loa can read. Please send a photo (JPEG or PNG)."))
    await reply(update, card)


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.0f}" if value >= 1 else f"{value:.2f}"


HANDLERS = [
    CommandHandler("report", report_command, filters=PRIVATE),
    CallbackQueryHandler(report_command, pattern=callbacks.REPORT_NEW.pattern),
    CallbackQueryHandler(choose_category, pattern=callbacks.CATEGORY.pattern),
    CallbackQueryHandler(photos_button, pattern=callbacks.PHOTOS.pattern),
    CallbackQueryHandler(location_button, pattern=callbacks.LOCATION.pattern),
    CallbackQueryHandler(edit_button, pattern=callbacks.REVIEW_EDIT.pattern),
    CallbackQueryHandler(submit, pattern=callbacks.SUBMIT.pattern),
    CallbackQueryHandler(publicity_button, pattern=callbacks.PUBLICITY.pattern),
    CallbackQueryHandler(cancel_button, pattern=callbacks.REPORT_CANCEL.pattern),
]

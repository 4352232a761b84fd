"""The messages of the report wizard, /myreports and /status. Builders only; HTML, with
everything a resident typed escaped."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from zoneinfo import ZoneInfo

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from complaints import drafts, public
from complaints.lifecycle import OPEN, RATING_LABELS
from handlers import callbacks, cards
from handlers.cards import area_page
from kernel import formats
from kernel.i18n import translator
from storage.areas import full_name
from storage.models import Area, Category, Report, ReportDraft, ReportEvent, Resident

CAPTION_DESCRIPTION = 500  # of a photo's 1,024 caption characters
TEXT_DESCRIPTION = 1500


@dataclass
class Card(cards.Card):
    """A card of the wizard, /myreports or /status: Telegram HTML."""

    html: bool = True


def texts(language: str):
    return translator(language).gettext


def category_name(category: Category | None, language: str) -> str:
    if category is None:
        return "—"
    return category.name_en if language == "en" else category.name_vi


def area_label(area: Area | None, language: str) -> str:
    return "" if area is None else full_name(area, language)


def state_name(state: str, language: str) -> str:
    _ = texts(language)
    names = {
        "submitted": _("Received"),
        "assigned": _("Passed to the agency"),
        "in_progress": _("Being handled"),
        "resolved": _("Resolved"),
        "closed": _("Closed"),
        "rejected": _("Rejected"),
        "duplicate": _("Duplicate of another report"),
        "reopened": _("Reopened"),
    }
    return names.get(state, state)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def pick_area_labels() -> set[str]:
    return {texts(code)("📋 Pick the area") for code in ("vi", "en")}


# The wizard's steps


def categories(resident: Resident, rows: list[Category], *, intro: str = "") -> Card:
    _ = texts(resident.language)
    lines = [_("What is the problem about? Choose a category:"), ""]
    for category in rows:
        about = category.description_en if resident.language == "en" else category.description_vi
        lines.append(f"• <b>{escape(category_name(category, resident.language))}</b>: {escape(about)}")
    lines += ["", _("You can stop at any time with /cancel.")]
    buttons = [[InlineKeyboardButton(category_name(c, resident.language),
                                     callback_data=callbacks.CATEGORY.build(c.code))] for c in rows]
    body = "\n".join(lines)
    return Card(f"{escape(intro)}\n\n{body}" if intro else body, InlineKeyboardMarkup(buttons))


def description(resident: Resident) -> Card:
    _ = texts(resident.language)
    return Card(_("Describe the problem in a message of 10 to 2,000 characters:\n"
                  "• what is wrong,\n"
                  "• where exactly (house number, street, a landmark),\n"
                  "• since when.\n\n"
                  "For example: “A deep pothole in front of 25 Nguyễn Văn Cừ, near the bus stop, "
                  "since last week; motorbikes fall into it when it rains.”"))


def photos(resident: Resident, draft: ReportDraft) -> Card:
    _ = texts(resident.language)
    count = len(draft.photos or [])
    if count:
        text = _("Photos: {count} of {most}. Send more, one by one or as an album, or tap “Done”.").format(
            count=count, most=drafts.MAX_PHOTOS)
        rows = [[InlineKeyboardButton(_("Done ✓"), callback_data=callbacks.PHOTOS.build("done"))],
                [InlineKeyboardButton(_("Remove the photos"), callback_data=callbacks.PHOTOS.build("clear"))]]
    else:
        text = _("Add photos of the problem: up to {most}, one by one or as an album. "
                 "No photo? Tap “No photo”.").format(most=drafts.MAX_PHOTOS)
        rows = [[InlineKeyboardButton(_("No photo"), callback_data=callbacks.PHOTOS.build("none"))]]
    return Card(text, InlineKeyboardMarkup(rows))


def photo_saved(resident: Resident, count: int, *, album: bool, step: str) -> Card:
    _ = texts(resident.language)
    if step == "description":
        return Card(_("📷 Photo saved. Now describe the problem in words: what, where exactly, since when."))
    if album:
        text = _("📷 Photos saved ({count} of {most}). Send more, or tap “Done”.")
    else:
        text = _("📷 Photo saved ({count} of {most}). Send another, or tap “Done”.")
    return Card(text.format(count=count, most=drafts.MAX_PHOTOS), photos_done(_))


def photos_done(_) -> InlineKeyboardMarkup:
    """The photos step's "Done" alone."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(_("Done ✓"), callback_data=callbacks.PHOTOS.build("done"))]])


def location(resident: Resident, *, photo_gps: bool) -> Card:
    _ = texts(resident.language)
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(_("📍 Share the location"), request_location=True)], [_("📋 Pick the area")]],
        resize_keyboard=True, one_time_keyboard=True,
    )
    card = Card(_("Where is the problem?\n\n"
                  "• Tap “📍 Share the location” if you are there now, or\n"
                  "• tap “📋 Pick the area”, or\n"
                  "• type the address or a landmark, for example: 25 Nguyễn Văn Cừ, Long Biên"), keyboard)
    if photo_gps:
        card.extra.append(Card(
            _("A photo you sent says where it was taken. Loa does not use that on its own: "
              "tap the button if it is where the problem is."),
            InlineKeyboardMarkup([[InlineKeyboardButton(_("📷 Use the photo's location"),
                                                        callback_data=callbacks.LOCATION.build("gps"))]])))
    return card


def located(resident: Resident, place: str, *, ward: str | None = None) -> Card:
    """The location step is done: where the report will say the problem is (`place`, plain text);
    `ward`: the ward Loa found in a typed address, which the resident may change."""
    _ = texts(resident.language)
    text = _("✅ Location: {place}").format(place=escape(place))
    if ward is not None:
        text += "\n" + _("Ward: {ward}. Not this one? Tap “✏️ Ward” below.").format(ward=escape(ward))
    return Card(text, ReplyKeyboardRemove())


def ward_question(resident: Resident, address: str, parent: Area | None, children: list[Area], *,
                  not_found: bool) -> Card:
    """A typed address whose ward is not known: the wards to choose from (`parent`'s)."""
    _ = texts(resident.language)
    shown = area_page(parent, children, 0, resident.language, browse=callbacks.LOCATION.build)
    text = _("Which ward or commune is “{address}” in? Choose it below, type its name, or share the "
             "location.").format(address=escape(address))
    if not_found:
        text = _("Loa could not find the ward in the address.") + " " + text
    return Card(text + shown.note, InlineKeyboardMarkup(shown.rows))


def area_picker(resident: Resident, parent: Area | None, children: list[Area], page: int) -> Card:
    _ = texts(resident.language)
    shown = area_page(parent, children, page, resident.language, browse=callbacks.LOCATION.build)
    if parent is not None:
        text = _("Where is the problem? Choose the ward or commune in {place}:").format(
            place=escape(area_label(parent, resident.language)))
    else:
        text = _("Where is the problem? Choose the province or city:")
    return Card(text + shown.note, InlineKeyboardMarkup(shown.rows))


def where(draft: ReportDraft | Report, area: Area | None, language: str) -> str:
    _ = texts(language)
    parts = []
    if area is not None:
        parts.append(escape(area_label(area, language)))
    if draft.latitude is not None:
        parts.append(_("shared location ({lat:.5f}, {lon:.5f})").format(lat=draft.latitude, lon=draft.longitude))
    if draft.address_text:
        parts.append(escape(draft.address_text))
    return ", ".join(parts) or "—"


def review(resident: Resident, draft: ReportDraft, category: Category | None, area: Area | None, *,
           closed: bool = False) -> Card:
    """The review card; `closed`: as it stays once submitted, cancelled or left for an edit,
    without its buttons and without the words that point to them."""
    _ = texts(resident.language)
    count = len(draft.photos or [])
    limit = CAPTION_DESCRIPTION if count else TEXT_DESCRIPTION
    lines = [
        "<b>" + _("Your report: please check it") + "</b>",
        "",
        _("Category: {value}").format(value="<b>" + escape(category_name(category, resident.language)) + "</b>"),
        _("Description: {value}").format(value=escape(shorten(draft.description or "", limit))),
        _("Photos: {value}").format(value=count if count else _("none")),
        _("Location: {value}").format(value=where(draft, area, resident.language)),
    ]
    if category is not None:
        lines.append(_("Expected handling time: {days} working days").format(days=category.resolve_days))
    # An image sent as a file still carries its metadata in Telegram: only real photos are shown.
    first = next((p["file_id"] for p in draft.photos or [] if p.get("kind") != "document"), None)
    if closed:
        return Card("\n".join(lines), photo=first)
    lines += ["", _("Tap a button to change something, or “Submit” to send it.")]
    nonce = int(draft.created_at.timestamp())
    rows = [
        [InlineKeyboardButton(_("✏️ Category"), callback_data=callbacks.REVIEW_EDIT.build("category")),
         InlineKeyboardButton(_("✏️ Description"), callback_data=callbacks.REVIEW_EDIT.build("description"))],
        [InlineKeyboardButton(_("✏️ Photos"), callback_data=callbacks.REVIEW_EDIT.build("photos")),
         InlineKeyboardButton(_("✏️ Location"), callback_data=callbacks.REVIEW_EDIT.build("location"))],
        [InlineKeyboardButton(_("✅ Submit"), callback_data=callbacks.SUBMIT.build(nonce))],
        [InlineKeyboardButton(_("✖️ Cancel the report"), callback_data=callbacks.REPORT_CANCEL.build())],
        # What the public portal may show: the ticked one (a button, not a line of the card, whose
        # caption, with a photo, holds 1,024 characters and is full enough).
        *([InlineKeyboardButton(("✓ " if draft.publicity == choice else "") + _(public.CHOICE_LABELS[choice]),
                                callback_data=callbacks.PUBLICITY.build(choice))] for choice in public.CHOICES),
    ]
    if drafts.ward_from_address(draft):
        rows[1].append(InlineKeyboardButton(_("✏️ Ward"), callback_data=callbacks.REVIEW_EDIT.build("ward")))
    return Card("\n".join(lines), InlineKeyboardMarkup(rows), photo=first)


def publicity_text(choice: str, _) -> str:
    """The resident's answer to "may the portal show it?", with what it means."""
    choice = public.choice(choice, public.WARD)
    return f"<b>{escape(_(public.CHOICE_LABELS[choice]))}</b> ({escape(_(public.CHOICE_NOTES[choice]))})"


def submitted(resident: Resident, report: Report, tz: ZoneInfo) -> Card:
    _ = texts(resident.language)
    return Card(_("✅ Thank you! Your report has been received.\n\n"
                  "Reference code: <b>{code}</b>\n"
                  "Expected to be handled by: {due}\n\n"
                  "You will hear from Loa when its status changes. "
                  "Follow it with /status {code}, or see all your reports with /myreports.").format(
        code=report.code, due=formats.day(report.due_at, resident.language, tz))
        + "\n\n" + _("On the public portal: {value}").format(value=publicity_text(report.publicity, _)),
        ReplyKeyboardRemove())


# /myreports and /status


def my_reports(resident: Resident, page, names: dict[str, Category], tz: ZoneInfo) -> Card:
    _ = texts(resident.language)
    if page.total == 0:
        return Card(_("You have not reported any problem yet. To report one, send /report."))
    lines = [_("Your reports, newest first:")]
    for report in page.reports:
        lines += ["", f"<b>{report.code}</b> · {formats.day(report.created_at, resident.language, tz)}",
                  f"{escape(category_name(names.get(report.category_code), resident.language))}: "
                  f"<i>{escape(state_name(report.state, resident.language))}</i>"]
    if page.pages > 1:
        lines += ["", _("(page {page} of {pages})").format(page=page.page + 1, pages=page.pages)]
    lines += ["", _("Tap a code for its details and history.")]
    codes = [InlineKeyboardButton(r.code, callback_data=callbacks.STATUS.build(r.code)) for r in page.reports]
    rows = [codes[i:i + 3] for i in range(0, len(codes), 3)]
    nav = []
    if page.page > 0:
        nav.append(InlineKeyboardButton(_("‹ Newer"), callback_data=callbacks.MY_REPORTS.build(page.page - 1)))
    if page.page < page.pages - 1:
        nav.append(InlineKeyboardButton(_("Older ›"), callback_data=callbacks.MY_REPORTS.build(page.page + 1)))
    if nav:
        rows.append(nav)
    return Card("\n".join(lines), InlineKeyboardMarkup(rows))


def add_markup(code: str, language: str, *, followed: bool = False) -> InlineKeyboardMarkup:
    """"Add to my report" (handlers/report_thread.py), under the /status card of an open report;
    `followed`: the report a duplicate of the resident's was merged into."""
    _ = texts(language)
    label = _("Add to report {code}").format(code=code) if followed else _("Add to my report")
    return InlineKeyboardMarkup([[InlineKeyboardButton("➕ " + label, callback_data=callbacks.ADD.build(code))]])


def done_markup(language: str) -> InlineKeyboardMarkup:
    _ = texts(language)
    return InlineKeyboardMarkup([[InlineKeyboardButton(_("Done ✓"), callback_data=callbacks.ADD.build("done"))]])


THREAD_SHOWN = 5  # the last public messages of a report's thread /status shows


def _thread_author(message, resident: Resident, agencies: dict[str, str], _) -> str:
    """Who wrote a thread message, as the resident sees it: "you", another resident, or the
    agency or the city's moderators (never a staff member's name)."""
    if message.from_resident:
        return _("you") if message.author_telegram_id == resident.telegram_id else _("another resident")
    if message.agency_code:
        return agencies.get(message.agency_code) or _("the agency")
    return _("the city's moderators")


def status(resident: Resident, report: Report, category: Category | None, area: Area | None,
           photo_count: int, events: list[ReportEvent], tz: ZoneInfo, *, thread: list = (),
           agencies: dict[str, str] | None = None, followed: Report | None = None) -> Card:
    """`thread`: the report's public thread messages (complaints.thread.MessageInfo), oldest first;
    `agencies`: agency code -> its name in the resident's language; `followed`: the open report
    this one (a duplicate) was merged into, which the resident may add to."""
    _ = texts(resident.language)
    lines = [
        f"<b>{report.code}</b>: {escape(state_name(report.state, resident.language))}",
        "",
        _("Category: {value}").format(value=escape(category_name(category, resident.language))),
        _("Sent: {value}").format(value=formats.moment(report.created_at, resident.language, tz)),
    ]
    if report.due_at is not None and report.state not in ("resolved", "closed", "rejected", "duplicate"):
        due = formats.day(report.due_at, resident.language, tz)
        lines.append(_("Expected to be handled by: {value}").format(value=due))
    lines += [
        _("Location: {value}").format(value=where(report, area, resident.language)),
        _("Photos: {value}").format(value=photo_count if photo_count else _("none")),
        _("Description: {value}").format(value=escape(shorten(report.description, TEXT_DESCRIPTION))),
        _("On the public portal: {value}").format(value=publicity_text(report.publicity, _)),
    ]
    if report.rating in RATING_LABELS:
        lines.append(_("Your rating: {rating}.").format(rating=_(RATING_LABELS[report.rating])))
    if thread:
        lines += ["", "<b>" + _("Messages") + "</b>"]
        if len(thread) > THREAD_SHOWN:
            lines.append(_("(the last {count} of {total})").format(count=THREAD_SHOWN, total=len(thread)))
        for message in thread[-THREAD_SHOWN:]:
            at = formats.moment(message.at, resident.language, tz)
            who = escape(_thread_author(message, resident, agencies or {}, _))
            parts = [escape(shorten(message.text, 300))] if message.text else []
            if message.photos:
                parts.append("📷 " + _("{count} photo(s)").format(count=len(message.photos)))
            if message.latitude is not None:
                parts.append("📍 " + _("a corrected location"))
            lines.append(f"• {at}, {who}: " + " · ".join(parts))
    lines += ["", "<b>" + _("History") + "</b>"]
    for event in events:
        at = formats.moment(event.at, resident.language, tz)
        line = f"• {at}: {escape(state_name(event.state, resident.language))}"
        if event.note:
            line += " (" + escape(shorten(event.note, 300)) + ")"
        lines.append(line)
    markup = None
    if report.state in OPEN:
        markup = add_markup(report.code, resident.language)
    elif followed is not None and followed.state in OPEN:
        markup = add_markup(followed.code, resident.language, followed=True)
    return Card("\n".join(lines), markup)


def not_found(language: str, typed: str) -> Card:
    _ = texts(language)
    return Card(_("No report of yours has the code {code}. Check the code, or see your reports with /myreports.")
                .format(code=escape(shorten(typed, 20))))

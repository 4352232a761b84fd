"""The staff's cards of a report in Telegram: one in the moderators' group, one in the group of
the agency handling it. Each is posted once and then edited in place as the report moves.

`sync` brings the cards of the reports whose `updated_at` is newer than `cards_synced_at` up to
date: it posts the missing ones, edits the others, and closes the card an agency no longer holds.
It also tells a group of what it must not miss, through the outbox: the agency that a report
came back to (reopened by its reporter), and the moderators when an agency sends one back.
The job runs it every few seconds in every instance (each card claimed in the database, see
`sync`), and handlers run it at once for the report they changed. The cards show the cleaned
copy of the first photo from the media store, never the resident's own file, and the agency's
card never names the reporter.

The cards also show the last messages of the report's thread (complaints/thread.py), the
resident only as "the resident", and a question the resident could not receive as undeliverable
(the job first settles the questions the sender has done with); a resident's answer or addition
is told in the group holding the report, under its card, once per message.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_
from sqlmodel import select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes

from broadcasts import outbox
from complaints import agencies, bans, media, thread
from complaints.lifecycle import (
    FINAL,
    OPEN,
    PRIORITY_LABELS,
    RATING_LABELS,
    STATE_LABELS,
    Action,
    Actor,
    ActorKind,
    State,
    allowed_actions,
)
from handlers import callbacks, edits
from handlers.context import services
from kernel import formats
from kernel.i18n import translator
from storage.models import Agency, Area, Category, Report, ReportEvent, ReportMessage, ReportPhoto

log = logging.getLogger(__name__)

SYNC_EVERY = 5  # seconds between two runs of the job
THREAD_SHOWN = 3  # the last messages of a report's thread a card shows
BATCH = 20  # reports a run looks at; the next run takes the rest
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
WITH_AGENCY = frozenset({State.ASSIGNED, State.IN_PROGRESS, State.REOPENED, State.RESOLVED, State.CLOSED})


def N_(msgid: str) -> str:
    return msgid


# What the last step was, on the card: who did what.
DONE = {
    Action.ASSIGN: N_("assigned to {agency}"),
    Action.REJECT: N_("rejected: {note}"),
    Action.DUPLICATE: N_("marked as a duplicate of {original}"),
    Action.PRIORITY: N_("priority set to {priority}"),
    Action.START: N_("taken up"),
    Action.RESOLVE: N_("resolved: {note}"),
    Action.SEND_BACK: N_("sent back to the moderators: {note}"),
    Action.RATE: N_("rated by the resident: {rating}"),
    Action.REOPEN: N_("reopened by the resident: {note}"),
    Action.AUTO_CLOSE: N_("closed automatically, not rated"),
}
ICONS = {State.SUBMITTED: "🆕", State.ASSIGNED: "📨", State.IN_PROGRESS: "🛠", State.RESOLVED: "✅",
         State.CLOSED: "🏁", State.REJECTED: "❌", State.DUPLICATE: "🔁", State.REOPENED: "↩️"}


@dataclass
class View:
    """Everything one card shows, read in one session."""

    report: Report
    category: Category | None
    area: Area | None
    province: Area | None
    agency: Agency | None
    last: ReportEvent | None
    photo: Path | None
    photos: int
    original: str | None  # the code of the report this one duplicates
    # Whether the reporter is banned; None when the report leads to nobody (forgotten).
    reporter_banned: bool | None = None
    # The last messages of the report's thread (complaints/thread.py), internal notes included.
    thread: list[thread.MessageInfo] = field(default_factory=list)


async def load_view(session, report: Report, media_dir: Path, secret: str | None = None) -> View:
    """`secret`: the settings' pseudonym_secret, to tell whether the reporter is banned."""
    area = await session.get(Area, report.area_code) if report.area_code else None
    province = area
    while province is not None and province.parent_code:
        province = await session.get(Area, province.parent_code)
    last = (await session.execute(
        select(ReportEvent).where(ReportEvent.report_id == report.id)
        .order_by(ReportEvent.at.desc(), ReportEvent.id.desc()).limit(1))).scalar_one_or_none()
    own = await photo_paths(session, report.id, media_dir, with_thread=False)
    paths = await photo_paths(session, report.id, media_dir)
    original = await session.get(Report, report.duplicate_of_id) if report.duplicate_of_id else None
    messages = await thread.messages(session, report.id, for_staff=True)
    return View(report, await session.get(Category, report.category_code), area,
                province if province is not area else None,
                await session.get(Agency, report.agency_code) if report.agency_code else None,
                last, own[0] if own else None, len(paths), original.code if original else None,
                await bans.reporter_banned(session, secret, report), messages[-THREAD_SHOWN:])


async def photo_paths(session, report_id: int, media_dir: Path, *, with_thread: bool = True) -> list[Path]:
    """The cleaned copies of the report's photos in the media store, in order, then (`with_thread`)
    those the residents added in its thread (those not fetched or since removed are left out:
    staff never see the resident's own file)."""
    store = media.MediaStore(media_dir)
    hashes = list((await session.execute(select(ReportPhoto.sha256).where(ReportPhoto.report_id == report_id)
                                         .order_by(ReportPhoto.position))).scalars())
    if with_thread:
        added = (await session.execute(select(ReportMessage.photos).where(
            ReportMessage.report_id == report_id, ReportMessage.author == ActorKind.RESIDENT.value)
            .order_by(ReportMessage.at, ReportMessage.id))).scalars()
        hashes += [photo.get("sha256") for photos in added for photo in photos or ()]
    return [path for sha in hashes if sha and (path := store.path_of(sha)).exists()]


def _name(row, language: str) -> str:
    return (row.name_en if language == "en" else row.name_vi) if row is not None else ""


def card_text(view: View, language: str, tz, *, for_agency: bool, limit: int) -> str:
    """The card as Telegram HTML; the description is shortened so that it fits in `limit`."""
    _ = translator(language).gettext
    report = view.report
    state = State(report.state)
    head = f"{ICONS[state]} <b>{html.escape(report.code)}</b> · {_(STATE_LABELS[state])}"
    if report.priority == "urgent":
        head += " · 🔴 " + _(PRIORITY_LABELS["urgent"])
    lines = [head, "📂 " + html.escape(_name(view.category, language) or report.category_code)]
    place = ", ".join(filter(None, [_name(view.area, language), _name(view.province, language)]))
    if report.address_text:
        place = f"{place} — {report.address_text}" if place else report.address_text
    if place:
        lines.append("📍 " + html.escape(place))
    if report.latitude is not None and report.longitude is not None:
        lat, lon = f"{report.latitude:.6f}", f"{report.longitude:.6f}"
        url = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"
        lines.append(f'🗺 <a href="{url}">{_("Map")}</a> ({lat}, {lon})')
    if not for_agency:
        lines.append("👤 " + html.escape(report.reporter_name or _("anonymous"))
                     + (" · 🚫 " + _("banned from reporting") if view.reporter_banned else ""))
    if view.agency is not None and not for_agency:
        lines.append("🏢 " + html.escape(_name(view.agency, language)))
    if state not in FINAL and state != State.RESOLVED and report.due_at is not None:
        due = _("Due {time}").format(time=formats.moment(report.due_at, language, tz))
        if report.overdue_at is not None:
            due += " · ⚠️ " + _("overdue")
        lines.append("⏰ " + due)
    if report.reopened_count:
        lines.append("↩️ " + _("Reopened {count}×: the resident was not satisfied").format(count=report.reopened_count))
    tail = []
    last = view.last
    if last is not None and last.action in DONE:
        done = _(DONE[Action(last.action)]).format(
            agency=html.escape(_name(view.agency, language)), note=html.escape(_shorten(last.note or "", 300)),
            original=html.escape(view.original or ""),
            priority=_(PRIORITY_LABELS.get(last.note or "", "normal")) if last.action == Action.PRIORITY else "",
            rating=_(RATING_LABELS.get(report.rating or "", "")) if report.rating else "")
        who = html.escape(last.actor_name or ("Loa" if last.actor == ActorKind.SYSTEM else _("the resident")))
        if for_agency and last.actor == ActorKind.RESIDENT:
            who = _("the resident")
        tail.append(f"— {who}, {formats.moment(last.at, language, tz)}: {done}")
    head_text = "\n".join(lines) + "\n\n"
    exchanges = _thread_lines(view.thread, view.agency, language, tz, each=80 if limit <= CAPTION_LIMIT else 300)
    # The thread's oldest lines give way first, so that some of the description always fits.
    while exchanges and len(head_text) + len("\n\n" + "\n".join(tail + exchanges)) > limit - 120:
        exchanges.pop(0)
    tail += exchanges
    tail_text = ("\n\n" + "\n".join(tail)) if tail else ""
    room = limit - len(head_text) - len(tail_text)
    return head_text + html.escape(_shorten(report.description, max(room - 200, 20))) + tail_text


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:max(limit - 1, 0)].rstrip() + "…"


THREAD_ICONS = {thread.Kind.QUESTION: "❓", thread.Kind.ANSWER: "💬", thread.Kind.ADDITION: "➕",
                thread.Kind.NOTE: "📝"}


def author_of(message: thread.MessageInfo, agency: Agency | None, language: str) -> str:
    """Who wrote a thread message, as the staff see it: a staff member by name, a resident only
    as "the resident" (never who they are)."""
    _ = translator(language).gettext
    if message.from_resident:
        return _("the resident")
    return message.author_name or _name(agency, language) or "Loa"


def _place_link(message: thread.MessageInfo, _) -> str:
    lat, lon = f"{message.latitude:.6f}", f"{message.longitude:.6f}"
    url = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"
    label = _("corrected location")
    return f'📍 <a href="{url}">{label}</a> ({lat}, {lon})'


def message_body(message: thread.MessageInfo, language: str, *, each: int) -> str:
    """A thread message's text (escaped and shortened), its photos and its corrected location (HTML)."""
    _ = translator(language).gettext
    parts = [html.escape(_shorten(message.text, each))] if message.text else []
    if message.photos:
        parts.append("📷 " + _("{count} photo(s)").format(count=len(message.photos)))
    if message.latitude is not None and message.longitude is not None:
        parts.append(_place_link(message, _))
    return " · ".join(parts)


def _thread_lines(messages: list[thread.MessageInfo], agency: Agency | None, language: str, tz, *,
                  each: int) -> list[str]:
    _ = translator(language).gettext
    lines = []
    for message in messages:
        who = html.escape(author_of(message, agency, language))
        line = (f"{THREAD_ICONS.get(message.kind, '💬')} {who}, {formats.moment(message.at, language, tz)}: "
                + message_body(message, language, each=each))
        if message.delivery == thread.UNDELIVERABLE:
            line += " · ⚠️ " + _("undeliverable: the resident blocked the bot")
        elif message.kind == thread.Kind.QUESTION and message.answered_at is None:
            line += " · ⏳ " + (_("waiting for the answer; the deadline waits too") if message.pauses
                               else _("waiting for the answer"))
        if message.paused_hours:
            line += " · ⏸ " + _("the deadline moved by {hours} working hours").format(
                hours=f"{message.paused_hours:g}")
        lines.append(line)
    return lines


def callback(report: Report, event_id: int | None, op: str, arg: str = "") -> str:
    """A button of the report's card (callbacks.TRIAGE): the event is what the staff member saw."""
    return callbacks.triage(report.id, event_id, op, arg)


def card_markup(view: View, language: str, *, for_agency: bool,
                routed: Agency | None = None) -> InlineKeyboardMarkup | None:
    """The buttons of the card: what a moderator (or the agency's staff) may do in this state."""
    _ = translator(language).gettext
    report, event_id = view.report, view.last.id if view.last else None
    actor = Actor(ActorKind.AGENCY_STAFF, agency_code=report.agency_code) if for_agency else Actor(ActorKind.MODERATOR)
    actions = set(allowed_actions(report, actor))
    rows: list[list[InlineKeyboardButton]] = []

    def button(text: str, op: str, arg: str = "") -> InlineKeyboardButton:
        return InlineKeyboardButton(text, callback_data=callback(report, event_id, op, arg))

    if for_agency:
        row = []
        if Action.START in actions and report.state != State.IN_PROGRESS:
            row.append(button("▶️ " + _("In progress"), "st"))
        if Action.RESOLVE in actions:
            row.append(button("✅ " + _("Resolve…"), "rs"))
        if row:
            rows.append(row)
        if Action.SEND_BACK in actions:
            rows.append([button("↩️ " + _("Send back to moderators…"), "sb")])
    else:
        if Action.ASSIGN in actions:
            if routed is not None and routed.code != report.agency_code:
                rows.append([button("🏢 " + _("Assign: {agency}").format(agency=_name(routed, language)),
                                    "as", routed.code)])
            rows.append([button("🏢 " + (_("Other agency…") if routed is not None and not report.agency_code
                                         else _("Assign to…")), "ag")])
        row = []
        if Action.DUPLICATE in actions:
            row.append(button("🔁 " + _("Duplicate of…"), "du"))
        if Action.REJECT in actions:
            row.append(button("❌ " + _("Reject…"), "rj"))
        if row:
            rows.append(row)
        if Action.PRIORITY in actions:
            rows.append([button("⚪ " + _("Mark normal"), "pr", "normal") if report.priority == "urgent"
                         else button("🔴 " + _("Mark urgent"), "pr", "urgent")])
        if view.reporter_banned is False and Action.REJECT in actions:
            # While the report is with the moderators; the dashboard's page offers it at any time.
            rows.append([button("🚫 " + _("Ban reporter…"), "bn")])
    if report.state in OPEN and report.resident_id is not None and (not for_agency or actions):
        rows.append([button("❓ " + _("Ask the resident…"), "aq")])
    if view.photos > (1 if view.photo is not None else 0):
        rows.append([button("🖼 " + (_("All {count} photos").format(count=view.photos) if view.photos > 1
                                     else _("The photo")), "ph")])
    return InlineKeyboardMarkup(rows) if rows else None


# ---------------------------------------------------------------- posting and editing


def _lock(application: Application) -> asyncio.Lock:
    return application.bot_data.setdefault("cards-lock", asyncio.Lock())


async def sync(application: Application, report_ids: list[int] | None = None) -> int:
    """Bring the cards of changed reports (or of `report_ids`) up to date; returns how many
    reports it handled. Every instance may run it: on PostgreSQL each report is claimed for the
    post and the write of its card's message id, a row lock taken with SKIP LOCKED that the others
    pass over, so that two instances never both post one card (a sender changing or not). On
    SQLite one process serves and the in-process lock suffices, so the post stays outside the
    write transaction (which would hold up every other writer)."""
    settings, db, sender = services(application).settings, services(application).db, services(application).sender
    async with _lock(application):
        async with db.read() as session:
            query = select(Report).where(or_(Report.cards_synced_at.is_(None),
                                             Report.cards_synced_at < Report.updated_at))
            if report_ids is not None:
                query = query.where(Report.id.in_(report_ids))
            reports = list((await session.execute(query.order_by(Report.updated_at, Report.id).limit(BATCH))).scalars())
            views = {}
            for report in reports:
                views[report.id] = (await load_view(session, report, settings.media_dir, settings.pseudonym_secret),
                                    await agencies.route(session, report.category_code, report.area_code),
                                    await _new_events(session, report), await _new_messages(session, report))
        done = 0
        for report in reports:
            view, routed, events, messages = views[report.id]
            try:
                if db.is_sqlite:
                    placed = await _sync_one(application, view, routed)
                    if placed is not None:
                        async with db.transaction() as session:
                            await _record(session, settings, report, view, placed, events, messages)
                else:
                    async with db.transaction() as session:
                        placed = None
                        if await _claimed(session, report):
                            placed = await _sync_one(application, view, routed)
                            if placed is not None:
                                await _record(session, settings, report, view, placed, events, messages)
            except RetryAfter as error:
                log.warning("cards_paused retry_after=%s", error.retry_after)
                break  # the group's limit: the next run goes on
            except TelegramError as error:
                log.warning("card_failed report=%s error=%s", report.code, error)
                continue
            if placed is not None:
                done += 1
        if done:
            sender.wake()
        return done


CARD_COLUMNS = ("mod_card_chat_id", "mod_card_message_id", "agency_card_chat_id", "agency_card_message_id")


async def _claimed(session, report: Report) -> bool:
    """Lock the report's row for this transaction unless another instance holds it; False when it
    does, or when the cards changed since they were read (the next run sees them as they are)."""
    row = (await session.execute(select(Report).where(Report.id == report.id)
                                 .with_for_update(skip_locked=True)
                                 .execution_options(populate_existing=True))).scalar_one_or_none()
    return row is not None and all(getattr(row, c) == getattr(report, c) for c in CARD_COLUMNS)


async def _record(session, settings, report: Report, view: View, placed: dict, events: list[ReportEvent],
                  messages: list[thread.MessageInfo]) -> None:
    row = await session.get(Report, report.id, with_for_update=True)
    for key, value in placed.items():
        setattr(row, key, value)
    if row.updated_at == report.updated_at:
        row.cards_synced_at = report.updated_at
    await _notices(session, settings, view, placed, events)
    await _thread_notices(session, settings, view, placed, messages)


async def _new_events(session, report: Report) -> list[ReportEvent]:
    query = select(ReportEvent).where(ReportEvent.report_id == report.id)
    if report.cards_synced_at is not None:
        query = query.where(ReportEvent.at > report.cards_synced_at)
    return list((await session.execute(query.order_by(ReportEvent.at, ReportEvent.id))).scalars())


async def _new_messages(session, report: Report) -> list[thread.MessageInfo]:
    """What residents wrote in the report's thread since its cards were last drawn."""
    query = select(ReportMessage).where(ReportMessage.report_id == report.id,
                                        ReportMessage.author == ActorKind.RESIDENT.value)
    if report.cards_synced_at is not None:
        query = query.where(ReportMessage.at > report.cards_synced_at)
    rows = (await session.execute(query.order_by(ReportMessage.at, ReportMessage.id))).scalars()
    return [thread.MessageInfo.of(row) for row in rows]


async def _sync_one(application: Application, view: View, routed: Agency | None) -> dict | None:
    """Post or edit both cards; the card columns to write."""
    settings = services(application).settings
    bot, report, language = application.bot, view.report, settings.default_language
    placed: dict = {}
    if settings.moderators_chat_id:
        markup = card_markup(view, language, for_agency=False, routed=routed)
        if report.mod_card_message_id is None or report.mod_card_chat_id != settings.moderators_chat_id:
            message = await _post(bot, settings.moderators_chat_id, view, language, settings.tz, False, markup)
            placed.update(mod_card_chat_id=message.chat_id, mod_card_message_id=message.message_id)
        else:
            await _edit(application, report.mod_card_chat_id, report.mod_card_message_id, view, language, settings.tz,
                        False, markup)
    holder = view.agency if State(report.state) in WITH_AGENCY else None
    chat = holder.telegram_chat_id if holder is not None else None
    if report.agency_card_message_id is not None and report.agency_card_chat_id != chat:
        # The agency no longer holds it (sent back, reassigned, a duplicate): its card loses its buttons.
        await _edit(application, report.agency_card_chat_id, report.agency_card_message_id, view, language, settings.tz,
                    True, None)
        placed.update(agency_card_chat_id=None, agency_card_message_id=None)
    if chat:
        markup = card_markup(view, language, for_agency=True)
        if report.agency_card_message_id is None or report.agency_card_chat_id != chat:
            message = await _post(bot, chat, view, language, settings.tz, True, markup)
            placed.update(agency_card_chat_id=message.chat_id, agency_card_message_id=message.message_id)
        else:
            await _edit(application, chat, report.agency_card_message_id, view, language, settings.tz, True, markup)
    return placed


async def _post(bot, chat_id: int, view: View, language: str, tz, for_agency: bool, markup):
    if view.photo is not None:
        text = card_text(view, language, tz, for_agency=for_agency, limit=CAPTION_LIMIT)
        with view.photo.open("rb") as photo:
            return await bot.send_photo(chat_id, photo, caption=text, parse_mode=ParseMode.HTML, reply_markup=markup)
    text = card_text(view, language, tz, for_agency=for_agency, limit=TEXT_LIMIT)
    return await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                  disable_web_page_preview=True)


async def _edit(application: Application, chat_id: int, message_id: int, view: View, language: str, tz,
                for_agency: bool, markup) -> None:
    if view.photo is not None:
        await edits.caption(application, chat_id, message_id, card_text(
            view, language, tz, for_agency=for_agency, limit=CAPTION_LIMIT), parse_mode=ParseMode.HTML,
            reply_markup=markup)
    else:
        await edits.text(application, chat_id, message_id, card_text(
            view, language, tz, for_agency=for_agency, limit=TEXT_LIMIT), parse_mode=ParseMode.HTML,
            reply_markup=markup, disable_web_page_preview=True)


async def _notices(session, settings, view: View, placed: dict, events: list[ReportEvent]) -> None:
    """What a group must hear besides its card changing, queued in the outbox once per event."""
    _ = translator(settings.default_language).gettext
    report = view.report
    for event in events:
        if event.action == Action.REOPEN and view.agency is not None and view.agency.telegram_chat_id:
            text = _("↩️ Report {code} was reopened: the resident is not satisfied.").format(
                code=f"<b>{html.escape(report.code)}</b>")
            if event.note:
                text += "\n" + _("Their comment: {comment}").format(comment=html.escape(_shorten(event.note, 1000)))
            reply_to = placed.get("agency_card_message_id") or report.agency_card_message_id
            await _queue(session, view.agency.telegram_chat_id, text, reply_to, f"card-notice:{event.id}")
        elif event.action == Action.SEND_BACK and settings.moderators_chat_id:
            agency = await session.get(Agency, event.agency_code) if event.agency_code else None
            text = _("↩️ {agency} sent report {code} back: {reason}").format(
                agency=html.escape(_name(agency, settings.default_language) or event.actor_name or ""),
                code=f"<b>{html.escape(report.code)}</b>", reason=html.escape(_shorten(event.note or "", 1000)))
            reply_to = placed.get("mod_card_message_id") or report.mod_card_message_id
            await _queue(session, settings.moderators_chat_id, text, reply_to, f"card-notice:{event.id}")


THREAD_NOTICES = {thread.Kind.ANSWER: N_("💬 The resident answered about report {code}:"),
                  thread.Kind.ADDITION: N_("➕ The resident added to report {code}:")}


async def _thread_notices(session, settings, view: View, placed: dict, messages: list[thread.MessageInfo]) -> None:
    """A resident's answer or addition, told in the group of whoever holds the report (its
    agency, else the moderators), as a reply to the card, once per message."""
    _ = translator(settings.default_language).gettext
    report = view.report
    holder = view.agency if State(report.state) in WITH_AGENCY else None
    if holder is not None and holder.telegram_chat_id:
        chat, reply_to = holder.telegram_chat_id, placed.get("agency_card_message_id") or report.agency_card_message_id
    elif settings.moderators_chat_id:
        chat, reply_to = settings.moderators_chat_id, placed.get("mod_card_message_id") or report.mod_card_message_id
    else:
        return
    for message in messages:
        if message.kind not in THREAD_NOTICES:
            continue
        text = _(THREAD_NOTICES[thread.Kind(message.kind)]).format(code=f"<b>{html.escape(report.code)}</b>")
        text += "\n" + message_body(message, settings.default_language, each=1000)
        if message.photos:
            text += "\n" + _("The photos are on the card: “{button}”.").format(button=_("All {count} photos").format(
                count=view.photos) if view.photos > 1 else _("The photo"))
        await _queue(session, chat, text, reply_to, f"thread-notice:{message.id}")


async def _queue(session, chat_id: int, text: str, reply_to: int | None, key: str) -> None:
    params: dict = {"text": text, "parse_mode": "HTML"}
    if reply_to:
        params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    await outbox.enqueue(session, chat_id, "sendMessage", params, key=key)


# ---------------------------------------------------------------- the job


async def sync_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    db = services(context.application).db
    # Questions the sender has done with: delivered, or not (the resident blocked the bot); a
    # look-up first, so that a quiet bot takes no write lock every few seconds.
    async with db.lookup() as session:
        queued = await thread.any_queued(session)
    if queued:
        async with db.transaction() as session:
            await thread.settle_deliveries(session, now=services(context.application).now())
    await sync(context.application)


def soon(application: Application) -> None:
    """Sync the cards now, in the background (after a report is filed, say)."""
    if application.job_queue is not None:
        application.job_queue.run_once(sync_job, when=0, job_kwargs={"misfire_grace_time": None})


def add_jobs(application: Application) -> None:
    application.job_queue.run_repeating(sync_job, interval=SYNC_EVERY, first=1, name="staff-cards",
                                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})

"""/myreports (the resident's reports, newest first, paged) and /status CODE (one report's
details, the last public messages of its thread, its history, and "➕ Add to my report" while it
is open). A resident sees only their own reports: any other code, whether it exists or not, gets
the same answer."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import bindparam, func
from sqlmodel import select
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from complaints import codes, reports, thread
from complaints.lifecycle import EventInfo
from handlers import callbacks
from handlers import report_prompts as cards
from handlers.cards import edit, reply
from handlers.context import LoaContext
from handlers.onboarding import language_of
from handlers.report_prompts import Card
from handlers.reporting import stale
from storage import residents
from storage.models import Agency, Area, Category, Report, ReportEvent, ReportMessage, ReportPhoto, Resident
from storage.rows import columns_of, split

PRIVATE = filters.ChatType.PRIVATE
PER_PAGE = 5


async def _page(context: LoaContext, telegram_id: int, page: int):
    async with context.db.lookup() as session:
        resident = await residents.by_telegram_id(session, telegram_id)
        if resident is None:
            return None, None
        found = await reports.of_resident(session, resident.id, page, PER_PAGE)
        names = {c.code: c for c in await _categories(session)}
    return resident, cards.my_reports(resident, found, names, context.settings.tz)


async def _categories(session) -> list[Category]:
    return list((await session.execute(select(Category))).scalars())


async def myreports_command(update: Update, context: LoaContext) -> None:
    resident, card = await _page(context, update.effective_user.id, 0)
    if card is None:
        _ = cards.texts(language_of(update, context, None))
        card = Card(_("You have not reported any problem yet. To report one, send /report."))
    await reply(update, card)


async def page_button(update: Update, context: LoaContext) -> None:
    """`mr:<page>`."""
    query = update.callback_query
    resident, card = await _page(context, update.effective_user.id, int(callbacks.MY_REPORTS.args(query.data)[0]))
    if card is None:
        await stale(update, context)
        return
    await query.answer()
    await edit(context.application, query, card)


# The events whose note the resident was told of (a rejection's reason, what was done) or wrote
# (their comment); the others' notes are for the staff (a moderator's note to the agency).
NOTED = frozenset({None, "submit", "reject", "resolve", "rate", "reopen"})


def _shown(events: list) -> list[EventInfo]:
    """The history as the resident sees it: only the events they are told of (`visible`); the
    staff's own steps, such as a priority change or sending back to the moderators, are hidden."""
    return [info if info.action in NOTED else replace(info, note=None)
            for info in (EventInfo.of(event) for event in events if event.visible)]


# The report card in one query, built once (see storage/residents.py): the resident and their
# report with this code (as `reports.owned`: nothing when the report is not theirs), its
# category, area and number of photos, and one row per event of its history, oldest first.
_PHOTOS = (select(func.count()).select_from(ReportPhoto).where(ReportPhoto.report_id == Report.id)
           .scalar_subquery())
# Columns, not entities, for `Database.rows`, the fast path; not the ward's boundary (kilobytes
# the card does not show, on each event's row).
_RESIDENT, _REPORT, _CATEGORY, _EVENT = (columns_of(model) for model in (Resident, Report, Category, ReportEvent))
_AREA = columns_of(Area, without=("boundary",))
_SAID = (select(func.count()).select_from(ReportMessage)
         .where(ReportMessage.report_id == Report.id, ReportMessage.visibility == thread.PUBLIC).scalar_subquery())
_STATUS = (select(*_RESIDENT.columns, *_REPORT.columns, *_CATEGORY.columns, *_AREA.columns, _PHOTOS, _SAID,
                  *_EVENT.columns)
           .select_from(Resident)
           .join(Report, Report.resident_id == Resident.id)
           .outerjoin(Category, Category.code == Report.category_code)
           .outerjoin(Area, Area.code == Report.area_code)
           .outerjoin(ReportEvent, ReportEvent.report_id == Report.id)
           .where(Resident.telegram_id == bindparam("telegram_id"), Report.code == bindparam("code"))
           .order_by(ReportEvent.at, ReportEvent.id))


async def _status_card(update: Update, context: LoaContext, typed: str) -> Card:
    code = codes.parse(typed)
    telegram_id = update.effective_user.id
    rows = await context.db.rows(_STATUS, {"telegram_id": telegram_id, "code": code}) if code else []
    if not rows:
        resident = await residents.find(context.db, telegram_id)
        return cards.not_found(language_of(update, context, resident), typed)
    (resident, report, category, area), (count, said, *_event) = split(rows[0], _RESIDENT, _REPORT, _CATEGORY,
                                                                       _AREA)
    events = _shown([event for row in rows if (event := _EVENT.load(row[-len(_EVENT):])) is not None])
    messages, names, followed = [], {}, None
    if said or report.duplicate_of_id:  # most reports have no thread: the card then costs one statement
        async with context.db.lookup() as session:
            messages = await thread.messages(session, report.id, for_staff=False)
            named = {m.agency_code for m in messages if m.agency_code}
            agencies = (await session.execute(select(Agency).where(Agency.code.in_(named)))).scalars()
            names = {agency.code: agency.name_en if resident.language == "en" else agency.name_vi
                     for agency in agencies}
            followed = await session.get(Report, report.duplicate_of_id) if report.duplicate_of_id else None
    return cards.status(resident, report, category, area, count, events, context.settings.tz, thread=messages,
                        agencies=names, followed=followed)


async def status_command(update: Update, context: LoaContext) -> None:
    typed = " ".join(context.args or []).strip()
    if not typed:
        resident = await residents.find(context.db, update.effective_user.id)
        _ = cards.texts(language_of(update, context, resident))
        await reply(update, Card(_("Send /status followed by the reference code, for example: "
                                   "/status PA-7K3Q9. /myreports lists your reports.")))
        return
    await reply(update, await _status_card(update, context, typed))


async def status_button(update: Update, context: LoaContext) -> None:
    """`st:<code>` on the /myreports list."""
    card = await _status_card(update, context, callbacks.STATUS.args(update.callback_query.data)[0])
    await update.callback_query.answer()
    await reply(update, card)


HANDLERS = [
    CommandHandler("myreports", myreports_command, filters=PRIVATE),
    CommandHandler("status", status_command, filters=PRIVATE),
    CallbackQueryHandler(page_button, pattern=callbacks.MY_REPORTS.pattern),
    CallbackQueryHandler(status_button, pattern=callbacks.STATUS.pattern),
]

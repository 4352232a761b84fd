"""A report's thread: the staff ask the resident, the resident answers and adds, the staff note.

One ordered list of messages per report (`report_message`): a moderator's or the assigned
agency's question to the resident (public), the resident's answer (a reply to a question) or
addition (text, photos, a corrected location; public), and the staff's internal notes, which the
resident never sees. As in complaints/lifecycle.py, every write works in the caller's
transaction, checks who acts where it acts (`Refused`, with the same msgids and params), and
returns what is left to do after the commit (`Posted.effects`: the cards to redraw, the sender
to wake).

- `ask`: moderators, or the staff of the agency the report is assigned to, while it is open. The
  question is queued in the outbox for the reporter, in their language, with the report's code,
  once (key `report-message:<id>`), as a message the resident answers by replying to it. To a
  resident who blocked the bot it is `undeliverable` at once; one who blocks it later is found
  by `settle_deliveries` (the cards' job), from the outbox row the sender marked.
- `note`: an internal note, staff only, in any state.
- `add`: the reporter, or a resident who follows the report (the reporter of a duplicate), while
  it is open. Anyone else gets the answer an unknown code gets ("not_found"). An answer
  (`question_id`) answers every question still waiting; with `pauses` (LOA_PAUSE_WHILE_ASKING)
  the resolution deadline moves on by the working hours the first of them waited.
- `messages`: the thread, oldest first; internal notes for the staff only.

Limits: `MESSAGE_MAX` characters a message; `RESIDENT_PER_DAY` messages from residents and
`STAFF_PER_DAY` from the staff on one report in any 24 hours; photos: the report's own and those
added in its thread together at most `drafts.MAX_PHOTOS`; a banned resident adds nothing
(storage/abuse.py, as for reports). The Open311 `status_notes` is read from the report's events
(complaints/open311.py), which the thread does not touch.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from broadcasts import outbox
from complaints import codes, drafts
from complaints.lifecycle import (
    OPEN,
    STATE_LABELS,
    Actor,
    ActorKind,
    Msg,
    Policy,
    Refused,
    State,
    agency_name,
    check_staff,
    followers,
)
from kernel.effects import Effects
from storage import abuse
from storage.models import Agency, Delivery, Report, ReportMessage, ReportPhoto, Resident
from storage.types import utcnow


def N_(msgid: str) -> str:
    return msgid


class Kind(StrEnum):
    QUESTION = "question"  # staff -> the resident
    ANSWER = "answer"  # the resident, replying to a question
    ADDITION = "addition"  # the resident, of their own accord
    NOTE = "note"  # staff -> staff (internal)


PUBLIC, INTERNAL = "public", "internal"
QUEUED, DELIVERED, UNDELIVERABLE = "queued", "delivered", "undeliverable"

MESSAGE_MAX = 2000
RESIDENT_PER_DAY = 20
STAFF_PER_DAY = 50
DAY = timedelta(hours=24)

# The answer to a resident about a report that is not theirs, whether it exists or not: the one
# /status gives an unknown code (handlers/report_prompts.not_found renders it with the code).
NOT_FOUND = N_("No report of yours has the code {code}. Check the code, or see your reports with /myreports.")

QUESTION_NOTICE = N_("❓ A question from {who} about your report {code}:\n\n{text}\n\n"
                     "Reply to this message to answer: with text, a photo or a location.")
MODERATORS = N_("the city's moderators")
NO_RESIDENT = N_("Nobody can be asked: the resident who sent this report asked Loa to forget them.")


@dataclass(frozen=True)
class MessageInfo:
    """A thread message as plain data (it outlives the session)."""

    id: int
    report_id: int
    at: datetime
    author: str
    author_telegram_id: int | None
    author_name: str | None
    agency_code: str | None
    visibility: str
    kind: str
    text: str | None
    photos: tuple[dict, ...]
    latitude: float | None
    longitude: float | None
    area_code: str | None
    reply_to_id: int | None
    answered_at: datetime | None
    delivery: str | None
    pauses: bool
    paused_hours: float | None

    @classmethod
    def of(cls, row: ReportMessage) -> MessageInfo:
        return cls(row.id, row.report_id, row.at, row.author, row.author_telegram_id, row.author_name,
                   row.agency_code, row.visibility, row.kind, row.text, tuple(dict(p) for p in row.photos or ()),
                   row.latitude, row.longitude, row.area_code, row.reply_to_id, row.answered_at, row.delivery,
                   bool(row.pauses), row.paused_hours)

    @property
    def internal(self) -> bool:
        return self.visibility == INTERNAL

    @property
    def from_resident(self) -> bool:
        return self.author == ActorKind.RESIDENT


@dataclass
class Posted:
    message: MessageInfo
    report_id: int
    code: str
    state: str
    notified: int  # outbox rows queued for the resident
    # What is left to do after the commit: wake the sender, redraw the staff's cards.
    effects: Effects = field(default_factory=Effects)


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


# ---------------------------------------------------------------- helpers


async def _locked(session: AsyncSession, report_id: int) -> Report | None:
    query = (select(Report).where(Report.id == report_id).with_for_update()
             .execution_options(populate_existing=True))
    return (await session.execute(query)).scalar_one_or_none()


def _text(value: Any, report: Report, *, required: bool) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    if not text:
        if required:
            raise Refused("missing_text", N_("Write the message."), state=report.state)
        return None
    if len(text) > MESSAGE_MAX:
        raise Refused("too_long", N_("Too long: at most {limit} characters."), {"limit": MESSAGE_MAX},
                      state=report.state)
    return text


async def _count_since(session: AsyncSession, report_id: int, since: datetime, *, residents: bool) -> list[datetime]:
    author = ReportMessage.author == ActorKind.RESIDENT.value
    query = (select(ReportMessage.at).where(ReportMessage.report_id == report_id, ReportMessage.at > since,
                                            author if residents else ~author)
             .order_by(ReportMessage.at))
    return list((await session.execute(query)).scalars())


async def _within_day(session: AsyncSession, report: Report, now: datetime, *, residents: bool) -> None:
    limit = RESIDENT_PER_DAY if residents else STAFF_PER_DAY
    times = await _count_since(session, report.id, now - DAY, residents=residents)
    if len(times) >= limit:
        raise Refused("too_many", N_("Enough for today: {limit} messages on this report in 24 hours. "
                                     "You can write again after {time}."),
                      {"limit": limit, "time": times[len(times) - limit] + DAY}, state=report.state)


def _open(report: Report) -> None:
    if report.state not in OPEN:
        raise Refused("closed", N_("Report {code} is “{state}”: nothing can be added to it any more."),
                      {"code": report.code, "state": Msg(STATE_LABELS[State(report.state)])}, state=report.state)


def _neutral(code: str) -> Refused:
    return Refused("not_found", NOT_FOUND, {"code": code})


# ---------------------------------------------------------------- the staff


async def ask(session: AsyncSession, report_id: int, actor: Actor, text: str, *, policy: Policy | None = None,
              pause: bool = False, now: datetime | None = None) -> Posted:
    """A staff member's question to the reporter, queued for them in their language.
    `pause`: the resolution deadline waits until the resident answers (LOA_PAUSE_WHILE_ASKING)."""
    policy, now = policy or Policy(), now or utcnow()
    report = await _locked(session, report_id)
    if report is None:
        raise Refused("not_found", N_("This report does not exist."))
    await check_staff(session, report, actor, policy)
    _open(report)
    text = _text(text, report, required=True)
    resident = await session.get(Resident, report.resident_id) if report.resident_id is not None else None
    if resident is None:
        raise Refused("no_resident", NO_RESIDENT, state=report.state)
    await _within_day(session, report, now, residents=False)
    message = _staff_message(report, actor, Kind.QUESTION, PUBLIC, text, now)
    message.delivery = UNDELIVERABLE if resident.blocked_at is not None else QUEUED
    message.pauses = pause and message.delivery == QUEUED  # nothing to wait for from one who cannot read it
    session.add(message)
    await session.flush()
    notified = 0
    if message.delivery == QUEUED:
        notified = int(await _queue_question(session, report, message, resident, actor, policy))
    report.updated_at = now
    await session.flush()
    return Posted(MessageInfo.of(message), report.id, report.code, report.state, notified,
                  Effects(wake_sender=notified > 0, cards=True))


async def note(session: AsyncSession, report_id: int, actor: Actor, text: str, *, policy: Policy | None = None,
               now: datetime | None = None) -> Posted:
    """An internal note on the report, for the staff only; in any state."""
    policy, now = policy or Policy(), now or utcnow()
    report = await _locked(session, report_id)
    if report is None:
        raise Refused("not_found", N_("This report does not exist."))
    await check_staff(session, report, actor, policy)
    text = _text(text, report, required=True)
    await _within_day(session, report, now, residents=False)
    message = _staff_message(report, actor, Kind.NOTE, INTERNAL, text, now)
    session.add(message)
    report.updated_at = now
    await session.flush()
    return Posted(MessageInfo.of(message), report.id, report.code, report.state, 0, Effects(cards=True))


def _staff_message(report: Report, actor: Actor, kind: Kind, visibility: str, text: str,
                   now: datetime) -> ReportMessage:
    return ReportMessage(report_id=report.id, at=now, author=str(actor.kind), author_telegram_id=actor.telegram_id,
                         author_name=(actor.name or None) and actor.name[:128],
                         agency_code=actor.agency_code if actor.kind == ActorKind.AGENCY_STAFF else None,
                         visibility=visibility, kind=kind.value, text=text)


def question_key(message_id: int) -> str:
    return f"report-message:{message_id}"


def question_text(gettext, language: str, *, code: str, who: str, text: str) -> str:
    return gettext(QUESTION_NOTICE).format(who=html.escape(who, quote=False), code=f"<b>{html.escape(code)}</b>",
                                           text=html.escape(text, quote=False))


async def _queue_question(session: AsyncSession, report: Report, message: ReportMessage, resident: Resident,
                          actor: Actor, policy: Policy) -> bool:
    language = resident.language
    gettext = policy.gettext(language)
    if actor.kind == ActorKind.AGENCY_STAFF:
        who = agency_name(await session.get(Agency, actor.agency_code)).pick(language)
    else:
        who = gettext(MODERATORS)
    params = {"text": question_text(gettext, language, code=report.code, who=who, text=message.text or ""),
              "parse_mode": "HTML",
              "reply_markup": {"force_reply": True, "input_field_placeholder": report.code}}
    return await outbox.enqueue(session, resident.telegram_id, "sendMessage", params,
                                key=question_key(message.id), resident_id=resident.id)


async def any_queued(session: AsyncSession) -> bool:
    """Whether a question waits for the sender (`settle_deliveries` has something to look at)."""
    query = select(ReportMessage.id).where(ReportMessage.delivery == QUEUED).limit(1)
    return (await session.execute(query)).first() is not None


async def settle_deliveries(session: AsyncSession, *, now: datetime | None = None, limit: int = 200) -> Effects:
    """Questions still `queued` whose outbox row the sender has done with: `delivered`, or
    `undeliverable` (the resident blocked the bot, the message failed, or /forget dropped it).
    Their reports' cards are redrawn."""
    now = now or utcnow()
    queued = list((await session.execute(
        select(ReportMessage).where(ReportMessage.delivery == QUEUED).order_by(ReportMessage.id).limit(limit)
    )).scalars())
    if not queued:
        return Effects()
    keys = {question_key(m.id): m for m in queued}
    states = dict((await session.execute(select(Delivery.key, Delivery.state)
                                         .where(Delivery.key.in_(sorted(keys))))).all())
    touched: set[int] = set()
    for key, message in keys.items():
        state = states.get(key)
        if state == outbox.PENDING:
            continue
        message.delivery = DELIVERED if state == outbox.SENT else UNDELIVERABLE
        if message.delivery == UNDELIVERABLE:
            message.pauses = False  # the deadline runs again: no answer can come
        touched.add(message.report_id)
    for report_id in sorted(touched):
        report = await session.get(Report, report_id)
        if report is not None:
            report.updated_at = now
    await session.flush()
    return Effects(cards=bool(touched))


# ---------------------------------------------------------------- the resident


async def _adder(session: AsyncSession, report: Report | None, actor: Actor) -> Resident:
    """The resident who may add to the report: its reporter, or one who follows it; anyone else
    is answered as for a code that does not exist."""
    resident = None
    if actor.kind == ActorKind.RESIDENT and actor.telegram_id is not None:
        resident = (await session.execute(select(Resident).where(Resident.telegram_id == actor.telegram_id))
                    ).scalar_one_or_none()
    if report is None or resident is None or not (
            report.resident_id == resident.id or resident.id in await followers(session, report.id)):
        raise _neutral(report.code if report is not None else "")
    return resident


async def _may_add(session: AsyncSession, report: Report, resident: Resident, secret: str | None) -> None:
    _open(report)
    if await abuse.ban_of(session, secret, resident.telegram_id) is not None:
        raise Refused("banned", N_("You can no longer send reports or add to them."), state=report.state)


async def may_add(session: AsyncSession, report_id: int | None, actor: Actor, *, secret: str | None = None) -> Report:
    """Whether `actor` may add to the report now, without doing it (nothing is written): the
    report, or `Refused` as `add` would refuse it. `add` checks everything again."""
    report = await session.get(Report, report_id) if report_id is not None else None
    resident = await _adder(session, report, actor)
    await _may_add(session, report, resident, secret)
    return report


async def report_id_of(session: AsyncSession, code: str | None) -> int | None:
    if not code:
        return None
    return (await session.execute(select(Report.id).where(Report.code == code))).scalar_one_or_none()


async def add(session: AsyncSession, report_id: int, actor: Actor, *, text: str | None = None,
              photos: Sequence[dict] = (), location: Location | None = None, locator=None,
              question_id: int | None = None, policy: Policy | None = None, secret: str | None = None,
              now: datetime | None = None, again: bool = False) -> Posted:
    """The resident's addition to their report (or to one they follow), or with `question_id`
    their answer to a question: text, photos (the cleaned ones, as a draft keeps them), or a
    corrected `location`, which `locator` (storage.areas.AreaLocator) must place in an area Loa
    serves. `secret`: the settings' pseudonym_secret, for the ban. `again`: the same message may
    have been added already (its Telegram update is handled again after the instance that
    handled it died, storage/updates.py): if the resident's last message in the thread is this
    one, it is the one posted, and nothing is added."""
    policy, now = policy or Policy(), now or utcnow()
    report = await _locked(session, report_id)
    resident = await _adder(session, report, actor)
    question = None
    if question_id is not None:
        question = await session.get(ReportMessage, question_id)
        if question is None or question.report_id != report.id or question.kind != Kind.QUESTION \
                or report.resident_id != resident.id:
            raise _neutral(report.code)
    await _may_add(session, report, resident, secret)
    text = _text(text, report, required=False)
    photos = [dict(p) for p in photos]
    if not (text or photos or location):
        raise Refused("empty", N_("Send a text, a photo or a location."), state=report.state)
    kind = Kind.ANSWER if question is not None else Kind.ADDITION
    if again and (last := await _last_of(session, report.id, resident.telegram_id)) is not None \
            and _same(last, kind, text, photos, location):
        return Posted(MessageInfo.of(last), report.id, report.code, report.state, 0, Effects())
    if photos:
        held = await _photos_held(session, report.id)
        if held + len(photos) > drafts.MAX_PHOTOS:
            raise Refused("too_many_photos", N_("A report holds at most {limit} photos, and this one has {count}."),
                          {"limit": drafts.MAX_PHOTOS, "count": held}, state=report.state)
    area_code = None
    if location is not None:
        lat, lon = location.latitude, location.longitude
        area_code = locator.locate(lat, lon) if locator is not None and -90 <= lat <= 90 and -180 <= lon <= 180 \
            else None
        if area_code is None:
            raise Refused("outside", N_("This location is outside every area Loa serves."), state=report.state)
    await _within_day(session, report, now, residents=True)
    message = ReportMessage(report_id=report.id, at=now, author=ActorKind.RESIDENT.value,
                            author_telegram_id=resident.telegram_id, visibility=PUBLIC,
                            kind=kind.value, text=text,
                            photos=photos, latitude=location.latitude if location else None,
                            longitude=location.longitude if location else None, area_code=area_code,
                            reply_to_id=question.id if question is not None else None)
    if question is not None:
        message.paused_hours = await _answered(session, report, policy, now)
    session.add(message)
    report.updated_at = now
    await session.flush()
    return Posted(MessageInfo.of(message), report.id, report.code, report.state, 0, Effects(cards=True))


async def _last_of(session: AsyncSession, report_id: int, telegram_id: int) -> ReportMessage | None:
    """The last message this resident put in the report's thread."""
    return (await session.execute(
        select(ReportMessage)
        .where(ReportMessage.report_id == report_id, ReportMessage.author_telegram_id == telegram_id)
        .order_by(ReportMessage.at.desc(), ReportMessage.id.desc()).limit(1))).scalar_one_or_none()


def _same(message: ReportMessage, kind: Kind, text: str | None, photos: list[dict], location: Location | None) -> bool:
    return (message.kind == kind.value and message.text == text
            and [p.get("file_unique_id") for p in message.photos or []] == [p.get("file_unique_id") for p in photos]
            and (message.latitude, message.longitude) == ((location.latitude, location.longitude) if location
                                                          else (None, None)))


async def _photos_held(session: AsyncSession, report_id: int) -> int:
    own = (await session.execute(select(func.count()).select_from(ReportPhoto)
                                 .where(ReportPhoto.report_id == report_id))).scalar_one()
    added = (await session.execute(select(ReportMessage.photos).where(
        ReportMessage.report_id == report_id, ReportMessage.author == ActorKind.RESIDENT.value))).scalars()
    return own + sum(len(p or ()) for p in added)


async def _answered(session: AsyncSession, report: Report, policy: Policy, now: datetime) -> float | None:
    """Every question still waiting is answered now; a pause the first pausing one started ends:
    the resolution deadline moves on by the working hours it lasted. Returns those hours."""
    waiting = list((await session.execute(
        select(ReportMessage).where(ReportMessage.report_id == report.id, ReportMessage.kind == Kind.QUESTION.value,
                                    ReportMessage.answered_at.is_(None)).order_by(ReportMessage.at))).scalars())
    paused = [q for q in waiting if q.pauses]
    for question in waiting:
        question.answered_at = now
    if not paused or report.due_at is None:
        return None
    hours = max(policy.rules.calendar.hours_between(paused[0].at, now), 0.0)
    if hours > 0:
        report.due_at = policy.rules.calendar.add_hours(report.due_at, hours)
        if report.due_at > now:
            report.reminded_at = report.overdue_at = report.escalated_at = None
    return round(hours, 2)


QUESTION_MARK = "❓"  # how every question's notice begins, in every language
_CODE = re.compile(re.escape(codes.PREFIX) + "[" + codes.ALPHABET + "]{" + str(codes.LENGTH) + "}")


async def question_replied(session: AsyncSession, telegram_id: int, message_id: int,
                           text: str | None = None) -> tuple[int, int] | None:
    """The (report id, question id) of the question that Telegram message `message_id` in the
    resident's chat is, or None. The sender records a message's id a moment after sending it: a
    reply faster than that is known by `text`, the replied message's, which names the report
    (its latest question to this resident is the one answered)."""
    query = (select(ReportMessage.id, ReportMessage.report_id, Report.code)
             .join(Report, Report.id == ReportMessage.report_id)
             .join(Resident, Resident.id == Report.resident_id)
             .where(Resident.telegram_id == telegram_id, ReportMessage.kind == Kind.QUESTION.value)
             .order_by(ReportMessage.id.desc()).limit(100))
    rows = (await session.execute(query)).all()
    questions = {question_key(row.id): (row.report_id, row.id) for row in rows}
    if not questions:
        return None
    key = (await session.execute(select(Delivery.key).where(Delivery.key.in_(sorted(questions)),
                                                            Delivery.chat_id == telegram_id,
                                                            Delivery.message_id == message_id))).scalar_one_or_none()
    if key:
        return questions[key]
    named = _CODE.search(text or "") if (text or "").startswith(QUESTION_MARK) else None
    latest = next((row for row in rows if named is not None and row.code == named.group(0)), None)
    return (latest.report_id, latest.id) if latest is not None else None


# ---------------------------------------------------------------- reading


async def messages(session: AsyncSession, report_id: int, *, for_staff: bool) -> list[MessageInfo]:
    """The thread, oldest first; the internal notes only `for_staff`."""
    query = select(ReportMessage).where(ReportMessage.report_id == report_id)
    if not for_staff:
        query = query.where(ReportMessage.visibility == PUBLIC)
    rows = (await session.execute(query.order_by(ReportMessage.at, ReportMessage.id))).scalars()
    return [MessageInfo.of(row) for row in rows]


async def waiting_question(session: AsyncSession, report_id: int) -> MessageInfo | None:
    """The report's oldest question not answered yet."""
    query = (select(ReportMessage).where(ReportMessage.report_id == report_id,
                                         ReportMessage.kind == Kind.QUESTION.value,
                                         ReportMessage.answered_at.is_(None))
             .order_by(ReportMessage.at, ReportMessage.id).limit(1))
    row = (await session.execute(query)).scalar_one_or_none()
    return MessageInfo.of(row) if row is not None else None


async def photo(session: AsyncSession, report_id: int, message_id: int, index: int) -> str | None:
    """The media key (sha256) of photo `index` (from 0) of message `message_id` of the report, for
    the staff (the dashboard and the API serve the cleaned copy); None when there is none."""
    row = await session.get(ReportMessage, message_id)
    if row is None or row.report_id != report_id or not 0 <= index < len(row.photos or ()):
        return None
    return row.photos[index].get("sha256")


# Telegram's ids of the thread's photos go as the reports' own do (complaints/reports.py,
# complaints/retention.py): cleared `LOA_FILE_ID_DAYS` after the message, once the cleaned copy is
# stored (a photo whose copy could not be fetched keeps its id); the copy stays with the report.
_WITH_FILE_IDS = {
    "postgresql": text(
        "EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof(report_message.photos) = 'array' "
        "THEN report_message.photos ELSE '[]'::json END) AS p "
        "WHERE p->>'sha256' IS NOT NULL AND coalesce(p->>'file_id', '') <> '')"),
    "sqlite": text(
        "EXISTS (SELECT 1 FROM json_each(report_message.photos) AS p "
        "WHERE json_extract(p.value, '$.sha256') IS NOT NULL "
        "AND coalesce(json_extract(p.value, '$.file_id'), '') <> '')"),
}


def _file_ids_before(session: AsyncSession, before: datetime):
    return ReportMessage.at < before, _WITH_FILE_IDS[session.bind.dialect.name]


def _without_file_ids(photos: list) -> list:
    return [{**p, "file_id": "", "file_unique_id": ""} if p.get("sha256") and p.get("file_id") else p
            for p in photos or ()]


async def count_file_ids(session: AsyncSession, before: datetime) -> int:
    """The thread messages sent before `before` that hold a Telegram id of a stored photo."""
    return (await session.execute(select(func.count()).select_from(ReportMessage)
                                  .where(*_file_ids_before(session, before)))).scalar_one()


async def forget_file_ids(session: AsyncSession, before: datetime, limit: int) -> int:
    """Clear the Telegram ids of the stored photos of up to `limit` thread messages sent before
    `before`; how many messages."""
    rows = (await session.execute(select(ReportMessage.id, ReportMessage.photos)
                                  .where(*_file_ids_before(session, before))
                                  .order_by(ReportMessage.id).limit(limit))).all()
    for row in rows:
        await session.execute(update(ReportMessage).where(ReportMessage.id == row.id)
                              .values(photos=_without_file_ids(row.photos)))
    return len(rows)

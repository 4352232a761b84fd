"""The report life cycle: every transition validated, recorded, and told.

    submitted --assign--> assigned --start--> in_progress --resolve--> resolved --rate--> closed
    side exits: reject (submitted), duplicate (submitted, assigned), send back to the moderators
    (assigned, in_progress, reopened -> submitted), reopen (resolved -> reopened, the resident is
    not satisfied), auto-close (resolved -> closed after N days without a rating), and the
    priority (urgent or normal, any open state; the state does not change).

`apply` is the one way to change a report. Inside one transaction it locks the report (SELECT ...
FOR UPDATE on PostgreSQL; SQLite's writing transactions are serialised by BEGIN IMMEDIATE),
checks the actor may act (roles from the database and the admins of the settings, not only what
the caller believes), checks the state (and `expected_state`, what the staff member saw, so that
of two people pressing buttons at once the second is told what the first did), writes a
`report_events` row, updates the report and its deadlines, and queues the notification of the
reporter and of the residents who follow the report (the reporters of its duplicates) in the
outbox, each in their language.

What the transition leaves to do once the caller's transaction has committed comes back with it
(`TransitionResult.effects`, kernel/effects.py): the sender to wake when notifications were
queued, the staff's cards to redraw. The adapter hands it to the composition root's runner.

A refusal is `Refused`: a machine `code`, an English gettext msgid `message` and its `params`
(plain values, `Localized` names and `Msg` msgids, rendered by `Refused.render` in the user's
language), and the report's last event, so the caller can say what happened.
"""

from __future__ import annotations

import gettext as _gettext
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from broadcasts import outbox
from complaints import codes, deadlines
from complaints.deadlines import DeadlineRules
from kernel import formats
from kernel.effects import Effects
from storage import roles
from storage.models import Agency, ApiToken, Report, ReportEvent, ReportFollower, Resident, Role, StaffRole
from storage.types import utcnow


def N_(msgid: str) -> str:
    """Marks a message for translation; the caller translates it in the user's language."""
    return msgid


class State(StrEnum):
    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    REOPENED = "reopened"


OPEN = frozenset(deadlines.OPEN)
FINAL = frozenset({State.CLOSED, State.REJECTED, State.DUPLICATE})


class Action(StrEnum):
    ASSIGN = "assign"          # moderator: to an agency (also to reassign)
    REJECT = "reject"          # moderator, with a reason
    DUPLICATE = "duplicate"    # moderator: of an open report, whose news the reporter then receives
    PRIORITY = "priority"      # moderator: urgent or normal
    START = "start"            # the assigned agency's staff
    RESOLVE = "resolve"        # the assigned agency's staff, with a note and perhaps a photo
    SEND_BACK = "send_back"    # the assigned agency's staff, with a reason: back to the moderators
    RATE = "rate"              # the reporter: satisfied, acceptable or not satisfied; closes it
    REOPEN = "reopen"          # the reporter, not satisfied: back to the agency
    AUTO_CLOSE = "auto_close"  # the system, N days after resolution without a rating


class ActorKind(StrEnum):
    MODERATOR = "moderator"
    AGENCY_STAFF = "agency_staff"
    RESIDENT = "resident"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    kind: str
    telegram_id: int | None = None
    name: str | None = None
    agency_code: str | None = None  # agency staff: the agency they act for
    # Agency staff acting through the REST API: the id of the API token the caller verified (it
    # speaks for `agency_code`), instead of a Telegram user whose role is looked up.
    token_id: int | None = None


SYSTEM = Actor(ActorKind.SYSTEM, name="Loa")

RATINGS = ("satisfied", "acceptable", "not_satisfied")
PRIORITIES = ("normal", "urgent")
NOTE_MAX = 2000
COMMENT_MAX = 1000
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

WHO = {
    Action.ASSIGN: ActorKind.MODERATOR, Action.REJECT: ActorKind.MODERATOR,
    Action.DUPLICATE: ActorKind.MODERATOR, Action.PRIORITY: ActorKind.MODERATOR,
    Action.START: ActorKind.AGENCY_STAFF, Action.RESOLVE: ActorKind.AGENCY_STAFF,
    Action.SEND_BACK: ActorKind.AGENCY_STAFF,
    Action.RATE: ActorKind.RESIDENT, Action.REOPEN: ActorKind.RESIDENT,
    Action.AUTO_CLOSE: ActorKind.SYSTEM,
}
FROM = {
    Action.ASSIGN: {State.SUBMITTED, State.REOPENED, State.ASSIGNED},
    Action.REJECT: {State.SUBMITTED},
    Action.DUPLICATE: {State.SUBMITTED, State.ASSIGNED},
    Action.PRIORITY: set(OPEN),
    Action.START: {State.ASSIGNED, State.REOPENED},
    Action.RESOLVE: {State.ASSIGNED, State.IN_PROGRESS, State.REOPENED},
    Action.SEND_BACK: {State.ASSIGNED, State.IN_PROGRESS, State.REOPENED},
    Action.RATE: {State.RESOLVED},
    Action.REOPEN: {State.RESOLVED},
    Action.AUTO_CLOSE: {State.RESOLVED},
}
TO = {
    Action.ASSIGN: State.ASSIGNED, Action.REJECT: State.REJECTED, Action.DUPLICATE: State.DUPLICATE,
    Action.PRIORITY: None, Action.START: State.IN_PROGRESS, Action.RESOLVE: State.RESOLVED,
    Action.SEND_BACK: State.SUBMITTED, Action.RATE: State.CLOSED, Action.REOPEN: State.REOPENED,
    Action.AUTO_CLOSE: State.CLOSED,
}
# What the reporter (and the followers) are told of; the others are the staff's business.
VISIBLE = frozenset({Action.ASSIGN, Action.REJECT, Action.DUPLICATE, Action.START, Action.RESOLVE,
                     Action.RATE, Action.REOPEN, Action.AUTO_CLOSE})

# The same msgids as the resident's /status card.
STATE_LABELS = {
    State.SUBMITTED: N_("Received"),
    State.ASSIGNED: N_("Passed to the agency"),
    State.IN_PROGRESS: N_("Being handled"),
    State.RESOLVED: N_("Resolved"),
    State.CLOSED: N_("Closed"),
    State.REJECTED: N_("Rejected"),
    State.DUPLICATE: N_("Duplicate of another report"),
    State.REOPENED: N_("Reopened"),
}
PRIORITY_LABELS = {"normal": N_("normal"), "urgent": N_("urgent")}
RATING_LABELS = {"satisfied": N_("satisfied"), "acceptable": N_("acceptable"), "not_satisfied": N_("not satisfied")}

# Told to the second of two people who acted on the same report, by what the first one did.
CHANGED = {
    Action.ASSIGN: N_("Already assigned to {agency} by {name} at {time}."),
    Action.REJECT: N_("Already rejected by {name} at {time}."),
    Action.DUPLICATE: N_("Already marked as a duplicate by {name} at {time}."),
    Action.PRIORITY: N_("The priority was changed by {name} at {time}."),
    Action.START: N_("Already taken up by {name} at {time}."),
    Action.RESOLVE: N_("Already resolved by {name} at {time}."),
    Action.SEND_BACK: N_("Already sent back to the moderators by {name} at {time}."),
    Action.RATE: N_("Already rated by the resident at {time}."),
    Action.REOPEN: N_("Reopened by the resident at {time}."),
    Action.AUTO_CLOSE: N_("Already closed automatically at {time}."),
}


# ---------------------------------------------------------------- values rendered late


@dataclass(frozen=True)
class Localized:
    """A name in both languages (an agency's)."""

    vi: str
    en: str

    def pick(self, language: str) -> str:
        return self.en if language == "en" else self.vi


@dataclass(frozen=True)
class Msg:
    """A msgid to translate when rendered."""

    msgid: str


def agency_name(agency: Agency | None) -> Localized | Msg:
    return Localized(agency.name_vi, agency.name_en) if agency is not None else Msg(N_("no agency"))


def render_value(value: Any, gettext: Callable[[str], str], language: str, tz) -> str:
    if isinstance(value, Localized):
        return value.pick(language)
    if isinstance(value, Msg):
        return gettext(value.msgid)
    if isinstance(value, datetime):
        if tz is None:
            return value.isoformat(timespec="minutes")
        return formats.moment(value, language, tz)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class EventInfo:
    """A report event as plain data (it outlives the session)."""

    id: int
    action: str | None
    state: str
    actor: str | None
    actor_name: str | None
    actor_telegram_id: int | None
    at: datetime
    agency_code: str | None
    note: str | None
    visible: bool

    @classmethod
    def of(cls, event: ReportEvent) -> EventInfo:
        return cls(event.id, event.action, event.state, event.actor, event.actor_name, event.actor_telegram_id,
                   event.at, event.agency_code, event.note, event.visible)


class Refused(Exception):
    """An action that is not allowed, and why: `code` for programs, `message` (a msgid with
    `params`) for people. `state` and `last_event` describe the report as it is."""

    def __init__(self, code: str, message: str, params: dict | None = None, *, state: str | None = None,
                 last_event: EventInfo | None = None) -> None:
        self.code = code
        self.message = message
        self.params = params or {}
        self.state = state
        self.last_event = last_event
        super().__init__(f"{code}: {self.render(lambda m: m, 'en', None)}")

    def render(self, gettext: Callable[[str], str], language: str, tz) -> str:
        """The reason in the user's language: `render(translator(lang).gettext, lang, settings.tz)`."""
        values = {key: render_value(value, gettext, language, tz) for key, value in self.params.items()}
        return gettext(self.message).format(**values)


@dataclass
class TransitionResult:
    report_id: int
    code: str
    action: str
    from_state: str
    to_state: str
    event: EventInfo
    agency_code: str | None
    priority: str
    due_at: datetime | None
    notified: int  # outbox rows queued for residents
    # What is left to do after the commit: wake the sender for the notifications, redraw the cards.
    effects: Effects = field(default_factory=Effects)


@dataclass(frozen=True)
class Policy:
    """What `apply` needs besides the report: deadlines, who the admins are, how to translate."""

    rules: DeadlineRules = field(default_factory=DeadlineRules)
    admin_ids: frozenset[int] = frozenset()
    autoclose_days: int = 7
    # language -> catalog; kernel.i18n.translator in the bot. None: the English msgids.
    translator: Callable[[str], _gettext.NullTranslations] | None = None
    # (report, language) -> the reply_markup of the resolution message to the reporter (rating buttons).
    rating_markup: Callable[[Report, str], dict | None] | None = None

    @classmethod
    def from_settings(cls, settings, *, translator=None, rating_markup=None) -> Policy:
        return cls(rules=DeadlineRules.from_settings(settings), admin_ids=frozenset(settings.admin_ids),
                   autoclose_days=settings.autoclose_days, translator=translator, rating_markup=rating_markup)

    def gettext(self, language: str) -> Callable[[str], str]:
        return self.translator(language).gettext if self.translator else (lambda message: message)


# ---------------------------------------------------------------- who is acting


async def actor_for(session: AsyncSession, telegram_id: int, admin_ids=frozenset(), *, name: str | None = None,
                    agency_code: str | None = None) -> Actor:
    """The actor a Telegram user is: staff of `agency_code` when given and they are (in that
    agency's group), else a moderator (admins too), else staff of their agency, else a resident."""
    staff_of = list((await session.execute(
        select(StaffRole.agency_code).where(StaffRole.telegram_id == telegram_id,
                                            StaffRole.role == Role.AGENCY_STAFF.value)
        .order_by(StaffRole.agency_code))).scalars())
    if agency_code is not None and agency_code in staff_of:
        return Actor(ActorKind.AGENCY_STAFF, telegram_id, name, agency_code)
    if telegram_id in admin_ids or await roles.has_role(session, telegram_id, Role.MODERATOR, Role.ADMIN):
        return Actor(ActorKind.MODERATOR, telegram_id, name)
    if staff_of:
        return Actor(ActorKind.AGENCY_STAFF, telegram_id, name, staff_of[0])
    return Actor(ActorKind.RESIDENT, telegram_id, name)


def allowed_actions(report: Report, actor: Actor) -> list[Action]:
    """The actions to offer this actor on this report (buttons); `apply` checks again."""
    found = []
    for action in Action:
        if WHO[action] != actor.kind or report.state not in FROM[action]:
            continue
        if actor.kind == ActorKind.AGENCY_STAFF and report.agency_code != actor.agency_code:
            continue
        found.append(action)
    return found


async def _check_actor(session: AsyncSession, report: Report, action: Action, actor: Actor, policy: Policy) -> None:
    def refuse(code: str, message: str, params: dict | None = None) -> Refused:
        return Refused(code, message, params)  # nothing of the report: see _vetted

    needed = WHO[action]
    if needed == ActorKind.SYSTEM:
        if actor.kind != ActorKind.SYSTEM:
            raise refuse("not_allowed", N_("Only Loa itself does this."))
    elif needed == ActorKind.MODERATOR:
        if actor.kind != ActorKind.MODERATOR or actor.telegram_id is None or not (
                actor.telegram_id in policy.admin_ids
                or await roles.has_role(session, actor.telegram_id, Role.MODERATOR, Role.ADMIN)):
            raise refuse("not_moderator", N_("Only moderators can do this."))
    elif needed == ActorKind.AGENCY_STAFF:
        if actor.kind != ActorKind.AGENCY_STAFF or not actor.agency_code or not (
                await _is_token_of(session, actor.token_id, actor.agency_code) if actor.token_id is not None
                else actor.telegram_id is not None and await _is_staff(session, actor.telegram_id, actor.agency_code)):
            raise refuse("not_agency_staff", N_("Only the staff of the agency handling this report can do this."))
        if report.agency_code != actor.agency_code:
            # Not which agency has it: that is not theirs to learn.
            raise refuse("other_agency", N_("Only the staff of the agency handling this report can do this."))
    elif needed == ActorKind.RESIDENT:
        resident = None
        if actor.kind == ActorKind.RESIDENT and actor.telegram_id is not None:
            resident = (await session.execute(
                select(Resident).where(Resident.telegram_id == actor.telegram_id))).scalar_one_or_none()
        if resident is None or report.resident_id != resident.id:
            raise refuse("not_reporter", N_("Only the resident who sent this report can do this."))


async def _is_token_of(session: AsyncSession, token_id: int, agency_code: str) -> bool:
    """The API token speaks for the agency, may act on reports and is not revoked (its secret was
    checked by the caller)."""
    query = select(ApiToken.scopes).where(ApiToken.id == token_id, ApiToken.agency_code == agency_code,
                                          ApiToken.revoked_at.is_(None))
    scopes = (await session.execute(query)).scalar_one_or_none()
    return scopes is not None and "reports" in scopes


async def _is_staff(session: AsyncSession, telegram_id: int, agency_code: str) -> bool:
    query = select(StaffRole.id).where(StaffRole.telegram_id == telegram_id, StaffRole.role == Role.AGENCY_STAFF.value,
                                       StaffRole.agency_code == agency_code)
    return (await session.execute(query.limit(1))).first() is not None


async def check_staff(session: AsyncSession, report: Report, actor: Actor, policy: Policy) -> None:
    """`actor` is a moderator, or the staff of the agency the report is assigned to (as the
    transitions check them); else `Refused`, saying nothing of the report."""
    if actor.kind == ActorKind.AGENCY_STAFF:
        await _check_actor(session, report, Action.START, actor, policy)
    elif actor.kind == ActorKind.MODERATOR:
        await _check_actor(session, report, Action.ASSIGN, actor, policy)
    else:
        raise Refused("not_staff", N_("Only moderators and the staff of the agency handling this report can do this."))


# ---------------------------------------------------------------- the transition


async def _locked(session: AsyncSession, report_id: int) -> Report | None:
    query = (select(Report).where(Report.id == report_id).with_for_update()
             .execution_options(populate_existing=True))
    return (await session.execute(query)).scalar_one_or_none()


async def last_event(session: AsyncSession, report_id: int) -> ReportEvent | None:
    query = (select(ReportEvent).where(ReportEvent.report_id == report_id)
             .order_by(ReportEvent.at.desc(), ReportEvent.id.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()


async def _changed(session: AsyncSession, report: Report, last: EventInfo | None) -> Refused:
    """The report is not as the actor saw it: say what happened last."""
    if last is None or last.action not in CHANGED:
        return Refused("changed", N_("This report has changed meanwhile: it is now “{state}”."),
                       {"state": Msg(STATE_LABELS[State(report.state)])}, state=report.state, last_event=last)
    agency = await session.get(Agency, last.agency_code) if last.agency_code else None
    return Refused("changed", CHANGED[Action(last.action)],
                   {"agency": agency_name(agency), "name": last.actor_name or Msg(N_("someone")), "time": last.at},
                   state=report.state, last_event=last)


def _text(value: Any, required: tuple[str, str] | None, limit: int, report: Report,
          last: EventInfo | None) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    if not text:
        if required is not None:
            raise Refused(required[0], required[1], state=report.state, last_event=last)
        return None
    if len(text) > limit:
        raise Refused("too_long", N_("Too long: at most {limit} characters."), {"limit": limit},
                      state=report.state, last_event=last)
    return text


async def _vetted(session: AsyncSession, report: Report, action: Action | str, actor: Actor, policy: Policy,
                  expected_state: str | None, expected_event_id: int | None) -> tuple[Action, EventInfo | None]:
    """The checks of `apply` and `check`: the action, who they are, the report as the actor saw
    it, the state. Returns the action and the report's last event."""
    last_row = await last_event(session, report.id)
    last = EventInfo.of(last_row) if last_row is not None else None
    try:
        action = Action(action)
    except ValueError:
        raise Refused("unknown_action", N_("Unknown action."), state=report.state, last_event=last) from None
    # Who first: the answer to someone who may not act must not depend on the report (whether it
    # changed, who did what, its state), or a forged button or request would learn it.
    await _check_actor(session, report, action, actor, policy)
    if (expected_state is not None and report.state != expected_state) or \
            (expected_event_id is not None and (last is None or last.id != expected_event_id)):
        raise await _changed(session, report, last)
    if report.state not in FROM[action]:
        raise Refused("wrong_state", N_("This cannot be done to a report in the state “{state}”."),
                      {"state": Msg(STATE_LABELS[State(report.state)])}, state=report.state, last_event=last)
    return action, last


async def apply(session: AsyncSession, report_id: int, action: Action | str, actor: Actor, *,
                policy: Policy | None = None, expected_state: str | None = None,
                expected_event_id: int | None = None, now: datetime | None = None, **args: Any) -> TransitionResult:
    """Do `action` to the report as `actor`, in the caller's transaction; raise `Refused` if it may not be.

    Arguments by action: assign `agency_code`; reject `reason`; duplicate `original_id` or
    `original_code`, optional `note`; priority `priority` ("urgent"/"normal"); resolve `note`,
    optional `photo_file_id`; send_back `reason`; rate `rating` (satisfied, acceptable,
    not_satisfied), optional `comment`; reopen optional `comment`.
    `expected_state` / `expected_event_id`: what the actor saw; anything else is refused with
    code "changed", naming who did what and when.
    """
    policy = policy or Policy()
    now = now or utcnow()
    report = await _locked(session, report_id)
    if report is None:
        raise Refused("not_found", N_("This report does not exist."))
    action, last = await _vetted(session, report, action, actor, policy, expected_state, expected_event_id)

    from_state = report.state
    event = ReportEvent(report_id=report.id, at=now, state=report.state, action=action.value, actor=actor.kind,
                        actor_name=(actor.name or None) and actor.name[:128], actor_telegram_id=actor.telegram_id,
                        agency_code=report.agency_code, visible=action in VISIBLE)
    extra: dict[str, Any] = {}
    refuse = lambda code, message, params=None: Refused(code, message, params, state=report.state,  # noqa: E731
                                                        last_event=last)

    if action == Action.ASSIGN:
        code = args.get("agency_code")
        agency = await session.get(Agency, code) if code else None
        if agency is None or not agency.active:
            raise refuse("unknown_agency", N_("There is no active agency “{agency}”."), {"agency": code or ""})
        if report.state == State.ASSIGNED and report.agency_code == agency.code:
            raise refuse("no_change", N_("This report is already assigned to {agency}."),
                         {"agency": agency_name(agency)})
        report.agency_code = event.agency_code = agency.code
        event.note = _text(args.get("note"), None, NOTE_MAX, report, last)
    elif action == Action.REJECT:
        event.note = _text(args.get("reason"), ("missing_reason", N_("Give a reason.")), NOTE_MAX, report, last)
    elif action == Action.DUPLICATE:
        original = await _original(session, args, report, refuse)
        report.duplicate_of_id = original.id
        await _follow(session, report, original)
        event.note = _text(args.get("note"), None, NOTE_MAX, report, last)
        extra["original"] = original.code
    elif action == Action.PRIORITY:
        priority = args.get("priority")
        if priority not in PRIORITIES:
            raise refuse("bad_priority", N_("Unknown priority."))
        if priority == report.priority:
            raise refuse("no_change", N_("The priority is already {priority}."),
                         {"priority": Msg(PRIORITY_LABELS[priority])})
        report.priority = priority
        if priority == "urgent":
            report.due_at = policy.rules.resolve_due(now, resolve_days=0, priority="urgent")
        else:
            clock = await _clock_start(session, report)
            report.due_at = policy.rules.resolve_due(
                clock, resolve_days=await deadlines.resolve_days(session, report.category_code))
        report.reminded_at = report.overdue_at = report.escalated_at = None
        event.note = priority
    elif action == Action.START:
        pass
    elif action == Action.RESOLVE:
        event.note = _text(args.get("note"), ("missing_note", N_("Write what was done.")), NOTE_MAX, report, last)
        event.photo_file_id = args.get("photo_file_id") or None
        report.resolved_at = now
    elif action == Action.SEND_BACK:
        event.note = _text(args.get("reason"), ("missing_reason", N_("Give a reason.")), NOTE_MAX, report, last)
        report.agency_code = None
    elif action == Action.RATE:
        rating = args.get("rating")
        if rating not in RATINGS:
            raise refuse("bad_rating", N_("Unknown rating."))
        report.rating, report.rated_at = rating, now
        report.rating_comment = event.note = _text(args.get("comment"), None, COMMENT_MAX, report, last)
        report.closed_at = now
    elif action == Action.REOPEN:
        report.rating, report.rated_at = "not_satisfied", now
        report.rating_comment = event.note = _text(args.get("comment"), None, COMMENT_MAX, report, last)
        report.reopened_count = (report.reopened_count or 0) + 1
        report.resolved_at = None
        await deadlines.start_clock(session, report, now, policy.rules)
    elif action == Action.AUTO_CLOSE:
        if report.resolved_at is None or report.resolved_at > now - timedelta(days=policy.autoclose_days):
            raise refuse("too_early", N_("Not yet: a resolved report is closed {days} days after it was resolved."),
                         {"days": policy.autoclose_days})
        report.closed_at = now

    if TO[action] is not None:
        report.state = event.state = TO[action].value
    report.updated_at = now
    session.add(event)
    await session.flush()
    info = EventInfo.of(event)
    notified = await _notify(session, report, event, actor, policy, extra) if event.visible else 0
    return TransitionResult(report.id, report.code, action.value, from_state, report.state, info, report.agency_code,
                            report.priority, report.due_at, notified,
                            Effects(wake_sender=notified > 0, cards=True))


async def _original(session: AsyncSession, args: dict, report: Report, refuse) -> Report:
    original = None
    if args.get("original_id") is not None:
        original = await session.get(Report, args["original_id"])
        shown = str(args["original_id"])
    else:
        typed = str(args.get("original_code") or "")
        shown = typed
        code = codes.parse(typed)
        if code is not None:
            original = (await session.execute(select(Report).where(Report.code == code))).scalar_one_or_none()
    if original is None:
        raise refuse("original_not_found", N_("There is no report {code}."), {"code": shown})
    if original.id == report.id:
        raise refuse("self_duplicate", N_("A report cannot be a duplicate of itself."))
    if original.state not in OPEN:
        raise refuse("original_not_open", N_("Report {code} is “{state}”: a report can only duplicate an open one."),
                     {"code": original.code, "state": Msg(STATE_LABELS[State(original.state)])})
    return original


async def followers(session: AsyncSession, report_id: int) -> list[int]:
    query = select(ReportFollower.resident_id).where(ReportFollower.report_id == report_id)
    return list((await session.execute(query.order_by(ReportFollower.resident_id))).scalars())


async def _follow(session: AsyncSession, duplicate: Report, original: Report) -> None:
    """The duplicate's reporter, and whoever followed the duplicate, now follow the original."""
    residents = set(await followers(session, duplicate.id))
    if duplicate.resident_id is not None:
        residents.add(duplicate.resident_id)
    residents -= set(await followers(session, original.id))
    residents.discard(original.resident_id)
    for resident_id in sorted(residents):
        session.add(ReportFollower(report_id=original.id, resident_id=resident_id))
    await session.flush()


async def _clock_start(session: AsyncSession, report: Report) -> datetime:
    """When the resolution clock started: the last reopening, else the filing."""
    query = (select(ReportEvent.at).where(ReportEvent.report_id == report.id, ReportEvent.action == Action.REOPEN.value)
             .order_by(ReportEvent.at.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none() or report.created_at


# ---------------------------------------------------------------- telling the residents

NOTICES = {
    Action.ASSIGN: N_("Report {code} has been passed to {agency}, which will handle it."),
    Action.REJECT: N_("Report {code} was not accepted. Reason: {note}"),
    Action.DUPLICATE: N_("Report {code} is about the same problem as report {original}, which is already being "
                         "handled. You will receive the news of {original}."),
    Action.START: N_("{agency} has started work on report {code}."),
    Action.RESOLVE: N_("{agency} has resolved report {code}: {note}"),
    Action.RATE: N_("Report {code} is closed."),
    Action.REOPEN: N_("Report {code} was reopened: the problem is not fixed, its reporter says."),
    Action.AUTO_CLOSE: N_("Report {code} is closed."),
}
RATE_PROMPT = N_("Are you satisfied with how it was handled?")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:max(limit - 1, 0)].rstrip() + "…"


def notice_text(action: Action, gettext: Callable[[str], str], language: str, *, code: str,
                agency: Agency | None = None, note: str | None = None, original: str | None = None,
                prompt: bool = False, limit: int = MESSAGE_LIMIT) -> str:
    """The HTML message telling a resident of a transition; the note is escaped and shortened so
    that the whole fits in `limit` characters."""
    values = {"code": f"<b>{html.escape(code)}</b>",
              "agency": html.escape(agency_name(agency).pick(language) if agency else gettext(N_("the agency"))),
              "original": f"<b>{html.escape(original or '')}</b>"}
    tail = "\n\n" + gettext(RATE_PROMPT) if prompt else ""
    template = gettext(NOTICES[action])
    raw = note or ""
    while True:
        text = template.format(**values, note=html.escape(raw)) + tail
        if len(text) <= limit or not raw:
            return text[:limit]
        raw = _shorten(raw, max(len(raw) - (len(text) - limit) - 1, 0))


async def _notify(session: AsyncSession, report: Report, event: ReportEvent, actor: Actor, policy: Policy,
                  extra: dict) -> int:
    """Queue the message of this event for the reporter and the followers, each in their language."""
    ids = set(await followers(session, report.id))
    if report.resident_id is not None:
        ids.add(report.resident_id)
    if not ids:
        return 0
    people = (await session.execute(select(Resident).where(Resident.id.in_(sorted(ids))))).scalars().all()
    agency = await session.get(Agency, event.agency_code) if event.agency_code else None
    action = Action(event.action)
    count = 0
    for resident in sorted(people, key=lambda r: r.id):
        if resident.blocked_at is not None:
            continue
        if actor.kind == ActorKind.RESIDENT and resident.telegram_id == actor.telegram_id:
            continue  # they did it: the bot answers them there and then
        language = resident.language
        gettext = policy.gettext(language)
        is_reporter = resident.id == report.resident_id
        prompt = action == Action.RESOLVE and is_reporter
        photo = event.photo_file_id if action == Action.RESOLVE else None
        text = notice_text(action, gettext, language, code=report.code, agency=agency, note=event.note,
                           original=extra.get("original"), prompt=prompt,
                           limit=CAPTION_LIMIT if photo else MESSAGE_LIMIT)
        params: dict[str, Any] = {"parse_mode": "HTML"}
        if photo:
            method, params["photo"], params["caption"] = "sendPhoto", photo, text
        else:
            method, params["text"] = "sendMessage", text
        if prompt and policy.rating_markup is not None:
            markup = policy.rating_markup(report, language)
            if markup:
                params["reply_markup"] = markup
        if await outbox.enqueue(session, resident.telegram_id, method, params,
                                key=f"report-event:{event.id}:{resident.id}", resident_id=resident.id):
            count += 1
    return count


async def auto_close(session: AsyncSession, now: datetime, policy: Policy | None = None) -> list[TransitionResult]:
    """Close the resolved reports nobody rated within `policy.autoclose_days` days (what is left
    to do: `effects_of` the results)."""
    policy = policy or Policy()
    closed = []
    for report_id in await deadlines.to_autoclose(session, now, policy.autoclose_days):
        try:
            closed.append(await apply(session, report_id, Action.AUTO_CLOSE, SYSTEM, policy=policy, now=now))
        except Refused:
            continue  # rated meanwhile
    return closed


def effects_of(results: list[TransitionResult]) -> Effects:
    """What several transitions leave to do, together."""
    effects = Effects()
    for result in results:
        effects |= result.effects
    return effects


# ---------------------------------------------------------------- the reporter's rating


async def check(session: AsyncSession, report_id: int, action: Action | str, actor: Actor, *,
                policy: Policy | None = None, expected_state: str | None = None,
                expected_event_id: int | None = None) -> Report:
    """Whether `actor` may do `action` to the report now, without doing it (nothing is written, no
    lock): the report, or `Refused` as `apply` would refuse it. For a question asked before the act
    (the resident's "reopen it?", a moderator's "which reason?"); `apply` checks everything again."""
    policy = policy or Policy()
    report = await session.get(Report, report_id)
    if report is None:
        raise Refused("not_found", N_("This report does not exist."))
    await _vetted(session, report, action, actor, policy, expected_state, expected_event_id)
    return report


async def last_rated(session: AsyncSession, telegram_id: int) -> int | None:
    """The id of the report the resident with this Telegram id rated (or reopened) most recently."""
    query = (select(Report.id).join(Resident, Resident.id == Report.resident_id)
             .where(Resident.telegram_id == telegram_id, Report.rated_at.is_not(None))
             .order_by(Report.rated_at.desc(), Report.id.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()


@dataclass(frozen=True)
class Commented:
    event: EventInfo  # the rating, with the comment as its note
    effects: Effects  # the staff's cards show the comment


async def comment(session: AsyncSession, report_id: int, actor: Actor, text: str, *,
                  now: datetime | None = None) -> Commented:
    """The reporter's comment on their last rating (RATE or REOPEN) of the report, in the caller's
    transaction: saved as `rating_comment` and as the note of that event. Only the reporter, only
    a report they rated, only once per rating; 1 to COMMENT_MAX characters. Returns the event and
    what is left to do (the cards to redraw)."""
    now = now or utcnow()
    report = await _locked(session, report_id)
    if report is None:
        raise Refused("not_found", N_("This report does not exist."))
    query = (select(ReportEvent).where(ReportEvent.report_id == report.id,
                                       ReportEvent.action.in_((Action.RATE.value, Action.REOPEN.value)))
             .order_by(ReportEvent.at.desc(), ReportEvent.id.desc()).limit(1))
    rating = (await session.execute(query)).scalar_one_or_none()
    last = EventInfo.of(rating) if rating is not None else None
    await _check_actor(session, report, Action.RATE, actor, Policy())
    if rating is None or rating.actor != ActorKind.RESIDENT or report.rating is None:
        raise Refused("not_rated", N_("This report has not been rated."), state=report.state, last_event=last)
    if rating.note:
        raise Refused("already_commented", N_("A comment was already added to this rating."),
                      state=report.state, last_event=last)
    text = _text(text, ("missing_comment", N_("Write a comment.")), COMMENT_MAX, report, last)
    rating.note = report.rating_comment = text
    report.updated_at = now  # the staff's cards show the comment
    await session.flush()
    return Commented(EventInfo.of(rating), Effects(cards=True))

"""The life of an alert: the one way to create, schedule, send, correct, stop and finish one, with
its rules. The only module that sets an alert's `status` (broadcasts.alerts.Status).

    new_draft -> draft --send_draft--> sending --finish_sent (nothing left to send)--> done
    send (now) ----------------------> sending --stop SENDING (the rest dropped)-----> cancelled
    send (at a time), schedule -> template --stop SCHEDULE / stop_schedule----------> cancelled
                                  template --run_due: a copy of it, on each run--> sending
    correct, stop NOTICE: a follow-up (sending) to who got it; the original -> cancelled
    record: a message taken but held (CAP) -> done at once

An alert past its expiry (`expired`) is sent to nobody any more: the sender drops its messages,
its schedule stops.

The wizard (handlers/broadcasting.py), the dashboard (web/dashboard/broadcasts.py), the agency
API (web/api.py), the command line (cli/main.py), the CAP ingest (broadcasts/cap.py) and the
schedule job call the same functions. As in zulip's check_* / do_* split, a check returns a
`Refused` (plain data: a code, the field it is about) or None, and a write raises it when the
alert may not change that way; the adapter renders the refusal in its own format (a JSON error,
a form error, a wizard message). Who may act on an alert (`By.may_act_on`: an agency's token
its agency's alerts, a broadcaster their own, an administrator any) is checked here too.

A write returns what must happen after its commit as `kernel.effects.Effects`: the alert to
compose in the background, the sender to wake. An adapter that shows the number of recipients
composes at once instead (`compose_now`), then hands what is left to its `carry_out`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import alerts, schedules
from broadcasts.alerts import Kind, NoFollowUp, Status, epoch
from broadcasts.schedules import COPIED, Ran
from kernel.effects import NOTHING, Effects
from storage.db import Database
from storage.models import Alert, BroadcastSchedule, Delivery
from storage.types import utcnow

schedule_log = logging.getLogger("loa.schedules")

MAX_AHEAD = timedelta(days=366)  # the furthest ahead an alert may be sent
SLICE = 50_000  # residents per committed slice of a compose


# ---------------------------------------------------------------- refusals and who acts


class No(StrEnum):
    """Why an alert may not be written or changed so."""

    EXPIRES_PAST = "expires_past"  # expires_at is not in the future
    SEND_AT_PAST = "send_at_past"  # a time to send that has passed
    SEND_AT_TOO_FAR = "send_at_too_far"  # more than MAX_AHEAD ahead
    EXPIRES_BEFORE_SEND = "expires_before_send"  # expires_at not after send_at
    IS_CANCELLATION = NoFollowUp.IS_CANCELLATION.value  # a cancellation is never followed up
    ALREADY_REPLACED = NoFollowUp.ALREADY_REPLACED.value  # corrected or cancelled once already
    CANCELLED = NoFollowUp.CANCELLED.value  # its sending was stopped
    NOT_SENT = "not_sent"  # a correction of an alert not sent yet
    ALREADY_SENT = "already_sent"  # a scheduled alert whose schedule ran (or was stopped)
    FINISHED = "finished"  # done or cancelled: nothing left to stop
    CHANGED = "changed"  # it cannot be stopped this way (any more)
    NOT_YOURS = "not_yours"  # someone else's alert


class Refused(Exception):
    """A check that failed: `code`, the input `field` it is about (if any), and for ALREADY_REPLACED
    the alert that `replaced_by` it."""

    def __init__(self, code: No, *, field: str | None = None, replaced_by: int | None = None) -> None:
        super().__init__(code.value)
        self.code, self.field, self.replaced_by = code, field, replaced_by


@dataclass(frozen=True)
class By:
    """Who writes: the `source` (bot, dashboard, api, cli, cap, schedule), and as they sign the
    alerts they make. An agency's token (`agency_code`) acts on its agency's alerts; a Telegram
    user (`telegram_id`) on their own, or on any as an administrator; the command line on any."""

    source: str
    telegram_id: int | None = None
    name: str | None = None
    language: str | None = None
    agency_code: str | None = None
    admin: bool = False

    def may_act_on(self, alert: Alert) -> bool:
        if self.agency_code is not None:
            return alert.agency_code == self.agency_code
        if self.telegram_id is not None:
            return self.admin or alert.sender_telegram_id == self.telegram_id
        return True

    def fields(self) -> dict:
        """The columns of an alert made by them (a follow-up inherits the others)."""
        given = {"source": self.source, "sender_telegram_id": self.telegram_id,
                 "sender_name": self.name[:128] if self.name is not None else None,
                 "sender_language": self.language, "agency_code": self.agency_code}
        return {name: value for name, value in given.items() if value is not None}


# ---------------------------------------------------------------- checks


def check_send_at(at: datetime, now: datetime) -> Refused | None:
    """A time to send: in the future, at most MAX_AHEAD away."""
    if at <= now:
        return Refused(No.SEND_AT_PAST, field="send_at")
    if at - now > MAX_AHEAD:
        return Refused(No.SEND_AT_TOO_FAR, field="send_at")
    return None


def check_times(*, now: datetime, at: datetime | None = None, expires_at: datetime | None = None) -> Refused | None:
    """The times of a new alert: it expires in the future and after it is sent; `at` (None: now)
    as `check_send_at`."""
    if expires_at is not None and expires_at <= now:
        return Refused(No.EXPIRES_PAST, field="expires_at")
    if at is not None:
        refusal = check_send_at(at, now)
        if refusal is not None:
            return refusal
        if expires_at is not None and expires_at <= at:
            return Refused(No.EXPIRES_BEFORE_SEND, field="expires_at")
    return None


async def check_follow_up(session: AsyncSession, alert: Alert) -> Refused | None:
    """Whether `alert` may be corrected or cancelled: once, never a cancellation, nor an alert
    whose sending was stopped (alerts.no_follow_up)."""
    problem = await alerts.no_follow_up(session, alert)
    if problem is None:
        return None
    replaced = await alerts.replaced_by(session, alert.id) if problem == NoFollowUp.ALREADY_REPLACED else None
    return Refused(No(problem.value), replaced_by=replaced)


def expired(alert: Alert, now: datetime | None = None) -> bool:
    """Whether the alert is past its expiry: its messages are not sent any more (the sender), nor
    its schedule run (`run_schedule`)."""
    return alert.expires_at is not None and alert.expires_at <= (now or utcnow())


# ---------------------------------------------------------------- composing and finishing


async def compose(session: AsyncSession, alert: Alert, *, tz: ZoneInfo, now: datetime | None = None,
                  residents: tuple[int, int] | None = None, complete: bool = True) -> int:
    """Write the alert's deliveries into the outbox (alerts.write_deliveries): it is being sent;
    returns how many were added. `residents` = (after, up_to) limits it to a range of resident
    ids, and `complete=False` says more ranges follow (see `compose_all`)."""
    now = now or utcnow()
    added = await alerts.write_deliveries(session, alert, tz=tz, now=now, residents=residents)
    alert.status = Status.SENDING
    if complete:
        alert.composed_at = alert.composed_at or now
    return added


async def compose_all(db: Database, alert_id: int, *, tz: ZoneInfo, slice_size: int = SLICE,
                      on_slice: Callable[[], None] | None = None) -> int:
    """Compose an alert in committed slices of resident ids, calling `on_slice` after each.

    The sender starts on the first slice while the others are written, so the first messages
    leave within a second even for a million recipients. The alert counts as composed (and
    can be finished) only after the last slice; a compose cut short by a crash is resumed by
    `resume_composing`. An alert nobody receives is done at once.
    """
    async with db.read() as session:
        low, high = await alerts.resident_id_range(session)
    bounds = list(range((low or 1) - 1, (high or 0), slice_size)) or [0]
    added = analyzed = 0
    for number, after in enumerate(bounds):
        last = number == len(bounds) - 1
        async with db.transaction() as session:
            alert = await session.get(Alert, alert_id)
            if alert is None or alert.status in (Status.CANCELLED, Status.DONE):
                return added
            added += await compose(session, alert, tz=tz, residents=(after, after + slice_size), complete=last)
            if last and not await alerts.has_deliveries(session, alert_id):
                alert.status, alert.finished_at = Status.DONE, utcnow()  # nobody to send it to
        if not db.is_sqlite and not last and added >= 2 * analyzed and added:
            # The claim's plan relies on the table's statistics, which now lag far behind: while
            # they describe the first slice, the planner sorts every pending row at each claim
            # (seconds at a million) instead of reading 2,000 from ix_deliveries_due in order.
            # Each time the alert's rows have doubled: about 5 ANALYZEs for a million.
            async with db.engine.connect() as connection:
                await connection.execute(text("ANALYZE deliveries"))
            analyzed = added
        if on_slice is not None:
            on_slice()
    return added


async def resume_composing(db: Database, *, tz: ZoneInfo, on_slice: Callable[[], None] | None = None) -> list[int]:
    """Finish composes a crash interrupted (alerts being sent but not fully composed)."""
    async with db.read() as session:
        ids = (await session.execute(select(Alert.id).where(
            Alert.status == Status.SENDING, Alert.composed_at.is_(None)))).scalars().all()
    for alert_id in ids:
        await compose_all(db, alert_id, tz=tz, on_slice=on_slice)
    return list(ids)


async def compose_now(db: Database, effects: Effects, *, tz: ZoneInfo,
                      on_slice: Callable[[], None] | None = None) -> tuple[int, Effects]:
    """Compose the alerts of `effects` here and now, for an adapter that shows how many they
    reach (the API, the dashboard, the command line, CAP): returns that number and what is left
    to carry out (the sender to wake)."""
    added = 0
    for alert_id in sorted(effects.compose):
        added += await compose_all(db, alert_id, tz=tz, on_slice=on_slice)
    return added, Effects(wake_sender=effects.wake_sender or bool(effects.compose), cards=effects.cards)


async def finish_sent(session: AsyncSession) -> list[int]:
    """Alerts being sent that have nothing left to send are done (the sender, after each batch);
    returns their ids."""
    pending = exists().where(and_(Delivery.alert_id == Alert.id, alerts.IS_PENDING))
    result = await session.execute(
        update(Alert).where(Alert.status == Status.SENDING, Alert.composed_at.is_not(None), ~pending)
        .values(status=Status.DONE, finished_at=utcnow())
        .returning(Alert.id)
    )
    return list(result.scalars().all())


def finished(alert: Alert, at: datetime) -> None:
    """The alert was sent in full at `at` (the sandbox's demo, which plays the sender)."""
    alert.status, alert.finished_at = Status.DONE, at


# ---------------------------------------------------------------- creating, sending, scheduling


async def new_draft(session: AsyncSession, by: By, **fields) -> Alert:
    """The wizard's draft, written step by step (broadcasts/drafts.py)."""
    return await alerts.create(session, **by.fields(), **fields, status=Status.DRAFT)


@dataclass(frozen=True)
class Sent:
    alert: Alert
    schedule: BroadcastSchedule | None  # sent at a time: its schedule
    effects: Effects


async def send(session: AsyncSession, by: By, *, tz: ZoneInfo, at: datetime | None = None,
               cron: str | None = None, **fields) -> Sent:
    """A new alert (`fields` are its columns), sent now, or at `at` (then on `cron` if given) by
    a schedule. Sent now, its deliveries are written after the commit (Effects.compose)."""
    if at is None:
        alert = await alerts.create(session, **by.fields(), **fields, status=Status.SENDING)
        return Sent(alert, None, Effects(compose=frozenset({alert.id})))
    alert = await alerts.create(session, **by.fields(), **fields, status=Status.TEMPLATE)
    made = await schedule(session, alert, at=at, cron=cron, tz=tz, created_by=by.telegram_id)
    return Sent(alert, made, NOTHING)


async def send_draft(session: AsyncSession, draft: Alert, *, now: datetime, **fields) -> Effects:
    """The wizard's "Send now": `fields` are set on the alert too (where its progress is shown)."""
    draft.send_at = now
    for name, value in fields.items():
        setattr(draft, name, value)
    # Its deliveries are written once this commits (a crash in between is resumed by the sender).
    draft.status = Status.SENDING
    return Effects(compose=frozenset({draft.id}))


async def schedule(session: AsyncSession, template: Alert, *, at: datetime, cron: str | None,
                   tz: ZoneInfo, created_by: int | None) -> BroadcastSchedule:
    """Make `template` a template and schedule it: first at `at`, then on `cron` if given."""
    if cron is not None:
        schedules.trigger(cron, tz)  # a bad line fails here, not at the first run
    template.status = Status.TEMPLATE
    template.send_at = at
    made = BroadcastSchedule(alert_id=template.id, cron=cron, next_run_at=at, created_by=created_by)
    session.add(made)
    await session.flush()
    return made


async def record(session: AsyncSession, by: By, *, now: datetime, **fields) -> Alert:
    """An alert taken but held (a CAP message not to be sent): done at once, sent to nobody."""
    return await alerts.create(session, **by.fields(), **fields, status=Status.DONE, finished_at=now)


async def run_schedule(session: AsyncSession, schedule_id: int, *, tz: ZoneInfo, now: datetime) -> Ran | None:
    """Run one schedule if it is (still) due: a copy of its template is sent (composed by
    `run_due` once this commits); None when another run took it or it is not due."""
    query = select(BroadcastSchedule).where(
        BroadcastSchedule.id == schedule_id, BroadcastSchedule.active, BroadcastSchedule.next_run_at <= now)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    plan = (await session.execute(query)).scalar_one_or_none()
    if plan is None:
        return None
    due_at = plan.next_run_at
    template = await session.get(Alert, plan.alert_id)
    plan.last_run_at = now
    plan.next_run_at = schedules.next_run(plan.cron, now, tz) if plan.cron else None
    plan.active = plan.next_run_at is not None
    if template is None or expired(template, now):
        plan.active = False
        plan.next_run_at = None
        schedule_log.info("schedule_expired schedule=%s", schedule_id)
        return Ran(schedule_id, None, 0, None)
    alert = await alerts.create(
        session, **{name: getattr(template, name) for name in COPIED},
        source=schedules.SOURCE, identifier=f"{schedule_id}:{epoch(due_at)}", replaces_id=template.replaces_id,
        # Composed by run_due once this commits; a crash in between is resumed by the next sender.
        status=Status.SENDING,
    )
    # The broadcaster follows the run in a progress message (see handlers/broadcasting.py).
    if template.sender_telegram_id is not None:
        alert.progress_chat_id = template.sender_telegram_id
        alert.wizard_step = "follow"
    return Ran(schedule_id, alert.id, 0, plan.next_run_at)


async def run_due(db: Database, *, tz: ZoneInfo, now: datetime | None = None,
                  on_slice: Callable[[], None] | None = None) -> list[Ran]:
    """Run every due schedule, each in its own transaction, then write its deliveries."""
    now = now or utcnow()
    async with db.read() as session:
        ids = await schedules.due_ids(session, now)
    ran = []
    for schedule_id in ids:
        async with db.transaction() as session:
            result = await run_schedule(session, schedule_id, tz=tz, now=now)
        if result is None:
            continue
        if result.alert_id is not None:
            added = await compose_all(db, result.alert_id, tz=tz, on_slice=on_slice)
            result = replace(result, recipients=added)
            schedule_log.info("schedule_ran schedule=%s alert=%s recipients=%s", schedule_id, result.alert_id, added)
        ran.append(result)
    return ran


# ---------------------------------------------------------------- following up and stopping


async def follow_up(session: AsyncSession, original: Alert, kind: Kind, texts: dict[str, str], *,
                    recompose: bool = False, **fields) -> Alert:
    """A correction or cancellation of an alert that is being or was sent, without the checks
    (`correct` and `stop` make them; CAP has its own rules, see broadcasts/cap.py).

    A cancellation reaches those who received the original; a correction reaches them and also
    those still waiting for it, who get the corrected text instead. Either way the original's
    deliveries not yet sent are cancelled. `fields` override what the follow-up inherits;
    `recompose`: it is composed again for its areas once this commits (CAP's Update).
    """
    inherited = dict(topic_code=original.topic_code, severity=original.severity, urgency=original.urgency,
                     area_codes=original.area_codes, expires_at=original.expires_at,
                     paid_broadcast=original.paid_broadcast, agency_code=original.agency_code)
    follow = await alerts.create(session, **{**inherited, **fields}, texts=texts, kind=kind,
                                 replaces_id=original.id)
    await alerts.copy_deliveries(session, original, follow)
    await _cancel(session, original)
    follow.status = Status.SENDING
    follow.composed_at = None if recompose else utcnow()
    return follow


@dataclass(frozen=True)
class Followed:
    alert: Alert  # the correction or cancellation
    effects: Effects


async def correct(session: AsyncSession, alert: Alert, by: By, texts: dict[str, str], **fields) -> Followed:
    """A correction of `alert` with these texts, to those who received it or still wait for it."""
    if not by.may_act_on(alert):
        raise Refused(No.NOT_YOURS)
    refusal = await check_follow_up(session, alert)
    if refusal is not None:
        raise refusal
    if alert.status in (Status.TEMPLATE, Status.DRAFT):
        raise Refused(No.NOT_SENT)
    follow = await follow_up(session, alert, Kind.CORRECTION, texts, **{**by.fields(), **fields})
    return Followed(follow, Effects(wake_sender=True))


class Way(StrEnum):
    """How an alert is stopped."""

    SCHEDULE = "schedule"  # not sent yet: its schedule stops (the bot's /schedules)
    SENDING = "sending"  # its messages not yet sent are dropped (the bot's "Cancel sending")
    NOTICE = "notice"  # a cancellation to those who received it (the bot's "Cancel alert")


@dataclass(frozen=True)
class Stopped:
    way: Way
    dropped: int  # messages not sent
    follow: Alert | None  # the cancellation notice (NOTICE)
    effects: Effects


async def offered_way(session: AsyncSession, alert: Alert, by: By, *, sent: int) -> Way | None:
    """How a person may stop the alert now, as the bot offers its sender (administrators: any
    alert) and the dashboard shows it; `sent`: how many received it. None: it cannot be stopped."""
    if not by.may_act_on(alert):
        return None
    if alert.status == Status.TEMPLATE:
        latest = await schedules.latest_of(session, alert.id)
        return Way.SCHEDULE if latest is not None and latest.active else None
    if alert.status == Status.SENDING:
        return Way.SENDING
    if alert.status == Status.DONE and sent and await alerts.no_follow_up(session, alert) is None:
        return Way.NOTICE
    return None


async def agency_way(session: AsyncSession, alert: Alert) -> Way:
    """How the API stops an alert: a scheduled one's schedule; one that reached someone with a
    cancellation notice; else its messages are dropped. Raises Refused when it cannot be."""
    refusal = await check_follow_up(session, alert)
    if refusal is not None:
        raise refusal
    if alert.status == Status.TEMPLATE:
        if await schedules.active_of(session, alert.id) is None:
            raise Refused(No.ALREADY_SENT)
        return Way.SCHEDULE
    return Way.NOTICE if await alerts.sent_count(session, alert.id) else Way.SENDING


def command_way(alert: Alert) -> Way:
    """How the command line stops an alert: a scheduled one's schedule, else its messages not
    yet sent are dropped. Raises Refused(FINISHED) for an alert done or cancelled."""
    if alert.status in (Status.DONE, Status.CANCELLED):
        raise Refused(No.FINISHED)
    return Way.SCHEDULE if alert.status == Status.TEMPLATE else Way.SENDING


async def stop(session: AsyncSession, alert: Alert, way: Way, by: By, *, now: datetime | None = None,
               offered: bool = False, **fields) -> Stopped:
    """Stop the alert this way (`fields`: of the cancellation notice). `offered`: only if it is
    the way `offered_way` offers (the dashboard's form, which may be out of date)."""
    if not by.may_act_on(alert):
        raise Refused(No.NOT_YOURS)
    if offered and await offered_way(session, alert, by, sent=await alerts.sent_count(session, alert.id)) != way:
        raise Refused(No.CHANGED)
    if way == Way.SCHEDULE:
        plan = await schedules.active_of(session, alert.id) if alert.status == Status.TEMPLATE else None
        if plan is None:
            raise Refused(No.ALREADY_SENT)
        _stop_plan(plan)
        alert.status, alert.finished_at = Status.CANCELLED, now or utcnow()
        return Stopped(way, 0, None, NOTHING)
    if way == Way.SENDING:
        if alert.status in (Status.TEMPLATE, Status.CANCELLED):
            raise Refused(No.CHANGED)
        return Stopped(way, await _cancel(session, alert), None, NOTHING)
    refusal = await check_follow_up(session, alert)
    if refusal is not None:
        raise refusal
    follow = await follow_up(session, alert, Kind.CANCELLATION, {}, **{**by.fields(), **fields})
    return Stopped(way, 0, follow, Effects(wake_sender=True))


async def stop_schedule(session: AsyncSession, schedule_id: int, by: By) -> BroadcastSchedule | None:
    """Stop a schedule that runs (the bot's /schedules: one of `by`'s own); its template is then
    cancelled, as when it is stopped from the dashboard or the API. None if there is no such one."""
    query = select(BroadcastSchedule).where(BroadcastSchedule.id == schedule_id, BroadcastSchedule.active)
    if by.telegram_id is not None:
        query = query.where(BroadcastSchedule.created_by == by.telegram_id)
    plan = (await session.execute(query.with_for_update())).scalar_one_or_none()
    if plan is not None:
        _stop_plan(plan)
        template = await session.get(Alert, plan.alert_id)
        if template is not None and template.status == Status.TEMPLATE:
            template.status, template.finished_at = Status.CANCELLED, utcnow()
    return plan


def _stop_plan(plan: BroadcastSchedule) -> None:
    plan.active = False
    plan.next_run_at = None


async def _cancel(session: AsyncSession, alert: Alert) -> int:
    """The alert is stopped: its deliveries not yet sent are cancelled; returns how many."""
    dropped = await alerts.drop_pending(session, alert.id)
    alert.status = Status.CANCELLED
    alert.finished_at = utcnow()
    return dropped

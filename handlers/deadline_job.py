"""The deadline job: reminders before a deadline, overdue flags, escalation to the moderators,
and the automatic closing of resolved reports nobody rated. What is due when, and which group
hears of it, is complaints.deadlines' decision; the job renders the messages and queues them.

Every `LOA_DEADLINE_CHECK_SECONDS` (and soon after the bot starts) `check` makes one pass:

1. reminders: the reports whose next deadline (take-up, or resolution) falls within
   `LOA_REMINDER_HOURS` get a message in their agency's group (the moderators' group when the
   report has no agency or its agency no group), then `reminded_at`;
2. overdue: the reports past a deadline get "overdue since ..." in their agency's group, then
   `overdue_at` (a report without an agency group is left to step 3: the moderators hear of it);
3. escalation: the overdue reports the moderators have not heard of go to the moderators' group
   in a digest, then `escalated_at`;
4. auto-close: `complaints.lifecycle.auto_close`, which tells the residents.

Each step is one transaction: the messages are queued in the outbox (the running sender delivers
them) and the reports marked together, so a crash sends nothing twice; the outbox keys make a
second pass, or a second bot, add nothing either. Staff groups read the city's default language.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import select
from telegram.ext import Application, CallbackContext

from broadcasts import outbox
from complaints import deadlines, lifecycle
from complaints.lifecycle import N_
from handlers.context import LoaContext, services
from kernel import formats
from kernel.effects import Effects
from kernel.i18n import translator
from kernel.logs import fields
from storage.models import Agency, Category, Report

log = logging.getLogger("loa.deadlines")

JOB_NAME = "deadline-check"
FIRST_RUN = 5.0  # seconds after the start before the first pass (at most the interval)
MESSAGE_LIMIT = 4096
EXCERPT = 120  # characters of the description shown in the agency's messages

TAKE_UP, RESOLVE = deadlines.TAKE_UP, deadlines.RESOLVE
REMINDERS = {
    TAKE_UP: N_("⏰ Reminder: report {code} ({category}) must be taken up by {time}."),
    RESOLVE: N_("⏰ Reminder: report {code} ({category}) must be resolved by {time}."),
}
OVERDUE = {
    TAKE_UP: N_("⚠️ Report {code} ({category}) is overdue since {time}: it was not taken up in time."),
    RESOLVE: N_("⚠️ Report {code} ({category}) is overdue since {time}: it was not resolved in time."),
}
ESCALATION_TITLE = N_("🚨 Overdue reports ({count}):")
ESCALATION_LINES = {
    TAKE_UP: N_("• {code} ({category}, {agency}): not taken up, due {time}"),
    RESOLVE: N_("• {code} ({category}, {agency}): not resolved, due {time}"),
}
NO_AGENCY = N_("no agency")


@dataclass
class CheckResult:
    """What one pass did: the codes of the reports reminded, flagged overdue, escalated, closed."""

    reminded: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    queued: int = 0  # outbox rows added

    def __bool__(self) -> bool:
        return bool(self.reminded or self.overdue or self.escalated or self.closed)


def _context(target: Application | CallbackContext) -> LoaContext:
    if isinstance(target, LoaContext):
        return target
    application = target.application if isinstance(target, CallbackContext) else target
    return LoaContext(application)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


class _Texts:
    """Names and times for the staff messages, in the city's default language."""

    def __init__(self, context: LoaContext, agencies: dict[str, Agency], categories: dict[str, Category]):
        self.language = context.settings.default_language
        self.gettext = translator(self.language).gettext
        self.tz = context.settings.tz
        self.agencies = agencies
        self.categories = categories

    def time(self, moment: datetime) -> str:
        return formats.moment(moment, self.language, self.tz)

    def category(self, report: Report) -> str:
        category = self.categories.get(report.category_code)
        if category is None:
            return html.escape(report.category_code)
        return html.escape(category.name_en if self.language == "en" else category.name_vi)

    def agency(self, report: Report) -> str:
        agency = self.agencies.get(report.agency_code) if report.agency_code else None
        if agency is None:
            return html.escape(self.gettext(NO_AGENCY))
        return html.escape(agency.name_en if self.language == "en" else agency.name_vi)

    def about(self, template: str, report: Report, at: datetime) -> str:
        """A message about one report: the template's line, then the start of the description."""
        text = self.gettext(template).format(code=f"<b>{html.escape(report.code)}</b>",
                                             category=self.category(report), time=self.time(at))
        if report.description:
            text += "\n<i>" + html.escape(_shorten(report.description, EXCERPT)) + "</i>"
        return text[:MESSAGE_LIMIT]


async def _names(session) -> tuple[dict[str, Agency], dict[str, Category]]:
    agencies = {a.code: a for a in (await session.execute(select(Agency))).scalars()}
    categories = {c.code: c for c in (await session.execute(select(Category))).scalars()}
    return agencies, categories


async def _send(session, chat_id: int, text: str, key: str) -> int:
    params = {"text": text, "parse_mode": "HTML", "disable_web_page_preview": True}
    return int(await outbox.enqueue(session, chat_id, "sendMessage", params, key=key))


async def _remind(context: LoaContext, now: datetime, result: CheckResult) -> None:
    before = timedelta(hours=context.settings.reminder_hours)
    async with context.db.transaction() as session:
        due = await deadlines.reminders(session, now, before, context.settings.moderators_chat_id)
        if not due:
            return
        texts = _Texts(context, *await _names(session))
        for d in due:
            if d.chat_id:
                result.queued += await _send(session, d.chat_id, texts.about(REMINDERS[d.kind], d.report, d.at),
                                             f"deadline:remind:{d.report.id}:{d.at.isoformat()}")
        await deadlines.mark_reminded(session, [d.report.id for d in due], now)
        result.reminded += [d.report.code for d in due]


async def _flag_overdue(context: LoaContext, now: datetime, result: CheckResult) -> None:
    async with context.db.transaction() as session:
        due = await deadlines.newly_overdue(session, now)
        if not due:
            return
        texts = _Texts(context, *await _names(session))
        for d in due:
            if d.chat_id:  # else the moderators hear of it in the escalation
                result.queued += await _send(session, d.chat_id, texts.about(OVERDUE[d.kind], d.report, d.at),
                                             f"deadline:overdue:{d.report.id}:{d.at.isoformat()}")
        await deadlines.mark_overdue(session, [d.report.id for d in due], now)
        result.overdue += [d.report.code for d in due]


def _digests(title: str, lines: list[tuple[int, str]]) -> list[tuple[list[int], str]]:
    """The escalation lines in as few messages of at most MESSAGE_LIMIT characters as they fit."""
    messages: list[tuple[list[int], str]] = []
    ids: list[int] = []
    text = title
    for report_id, line in lines:
        line = line[:MESSAGE_LIMIT - len(title) - 1]
        if ids and len(text) + 1 + len(line) > MESSAGE_LIMIT:
            messages.append((ids, text))
            ids, text = [], title
        ids.append(report_id)
        text += "\n" + line
    if ids:
        messages.append((ids, text))
    return messages


async def _escalate(context: LoaContext, now: datetime, result: CheckResult) -> None:
    if not context.settings.moderators_chat_id:
        return  # nobody to tell (see deadlines.escalation): no need to lock anything
    async with context.db.transaction() as session:
        escalation = await deadlines.escalation(session, now, context.settings.moderators_chat_id)
        if escalation is None:
            return
        texts = _Texts(context, *await _names(session))
        lines = [(d.report.id, texts.gettext(ESCALATION_LINES[d.kind]).format(
            code=f"<b>{html.escape(d.report.code)}</b>", category=texts.category(d.report),
            agency=texts.agency(d.report), time=texts.time(d.at))) for d in escalation.due]
        title = texts.gettext(ESCALATION_TITLE).format(count=len(lines))
        by_id = {r.id: r for r in escalation.reports}
        for ids, text in _digests(title, lines):
            # The key names the reports and the moment each was flagged: the same digest is queued once.
            seen = ",".join(f"{i}@{by_id[i].overdue_at.isoformat()}" for i in ids)
            digest = hashlib.sha256(seen.encode()).hexdigest()[:40]
            result.queued += await _send(session, escalation.chat_id, text, f"deadline:escalate:{digest}")
        await deadlines.mark_escalated(session, [r.id for r in escalation.reports], now)
        result.escalated += [r.code for r in escalation.reports]


async def _auto_close(context: LoaContext, now: datetime, result: CheckResult) -> None:
    async with context.db.transaction() as session:
        closed = await lifecycle.auto_close(session, now, context.policy)
        result.closed += [c.code for c in closed]
        result.queued += sum(c.notified for c in closed)
    context.carry_out(lifecycle.effects_of(closed))  # the residents told, the cards redrawn


async def check(target: Application | CallbackContext, now: datetime | None = None) -> CheckResult:
    """One pass of the deadline job (see the module's description), at `now` (default: the
    context's clock). Passes of one bot run one at a time."""
    context = _context(target)
    now = now or context.now()
    result = CheckResult()
    lock = context.application.bot_data.setdefault("deadline_lock", asyncio.Lock())
    async with lock:
        for step in (_remind, _flag_overdue, _escalate, _auto_close):
            queued = result.queued
            await step(context, now, result)
            if result.queued > queued:
                context.carry_out(Effects(wake_sender=True))
    if result:
        log.info("deadlines_checked %s", fields(reminded=len(result.reminded), overdue=len(result.overdue),
                                                escalated=len(result.escalated), closed=len(result.closed)))
    return result


async def deadline_job(context: LoaContext) -> None:
    await check(context)


def add_jobs(application: Application) -> None:
    """The deadline job, every `LOA_DEADLINE_CHECK_SECONDS`, first soon after the start."""
    queue = application.job_queue
    if queue is None:  # python-telegram-bot without its job-queue extra
        raise RuntimeError("python-telegram-bot's job queue is missing: install python-telegram-bot[job-queue]")
    interval = services(application).settings.deadline_check_seconds
    queue.run_repeating(deadline_job, interval=interval, first=min(FIRST_RUN, interval), name=JOB_NAME,
                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})

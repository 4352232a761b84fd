"""/stats: how the agencies handle residents' reports, public to anyone in a private chat (also to
people who never sent /start: they read it in their Telegram's language).

Per agency with at least one report filed in the last `DAYS` days (complaints.stats): reports
received, resolved, the share resolved on time, the median time to resolve, and the share of
ratings that were "satisfied"; the busiest agencies first, at most `MAX_AGENCIES` of them.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import CommandHandler, filters

from complaints import stats
from complaints.stats import AgencyStats
from handlers.context import LoaContext
from handlers.onboarding import language_of
from kernel.formats import day, number, percent
from kernel.i18n import translator
from storage import residents

PRIVATE = filters.ChatType.PRIVATE
DAYS = 90
MAX_AGENCIES = 15
MESSAGE_LIMIT = 4096


def duration(hours: float, language: str) -> str:
    """A median time to resolve, readable: in hours under two days, else in days."""
    tr = translator(language)
    if hours < 1:
        return tr.gettext("less than an hour")
    if hours < 48:
        count = round(hours)
        return tr.ngettext("{count} hour", "{count} hours", count).format(count=number(count, language))
    days = round(hours / 24, 1)
    return tr.ngettext("{count} day", "{count} days", 1 if days == 1 else 2).format(count=number(days, language))


def agency_line(row: AgencyStats, language: str) -> str:
    _ = translator(language).gettext
    parts = [_("{received} received, {resolved} resolved").format(
        received=number(row.received, language), resolved=number(row.resolved, language))]
    if row.on_time_pct is not None:
        parts.append(_("{percent} on time").format(percent=percent(row.on_time_pct, language)))
    if row.median_hours_to_resolve is not None:
        parts.append(_("median time to resolve {time}").format(time=duration(row.median_hours_to_resolve, language)))
    if row.satisfied_pct is not None:
        parts.append(_("{percent} satisfied").format(percent=percent(row.satisfied_pct, language)))
    return f"• <b>{html.escape(row.name(language))}</b>: " + ", ".join(parts)


def stats_text(rows: list[AgencyStats], language: str, now: datetime, tz, days: int = DAYS) -> str:
    _ = translator(language).gettext
    rows = [r for r in rows if r.received]
    if not rows:
        return _("No reports were filed in the last {days} days, so there are no figures yet. "
                 "Send /report to report a problem.").format(days=days)
    since, until = day(now - timedelta(days=days), language, tz), day(now, language, tz)
    head = [_("📊 How the agencies handled residents' reports in the last {days} days "
              "({since} – {until}):").format(days=days, since=since, until=until), ""]
    legend = ["", _("On time: resolved by the deadline. Satisfied: the share of the residents' ratings "
                    "that were “satisfied”.")]
    lines: list[str] = []
    for shown, row in enumerate(rows):
        line = agency_line(row, language)
        more = len(rows) - shown
        if shown == MAX_AGENCIES or len("\n".join(head + lines + [line] + legend)) + 100 > MESSAGE_LIMIT:
            lines.append(translator(language).ngettext("…and {count} more agency.", "…and {count} more agencies.",
                                                        more).format(count=more))
            break
        lines.append(line)
    return "\n".join(head + lines + legend)


async def stats_command(update: Update, context: LoaContext) -> None:
    now = context.now()
    async with context.db.read() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id)
        rows = await stats.agency_stats(session, now=now, days=DAYS, include_idle=False)
    language = language_of(update, context, resident)
    text = stats_text(rows, language, now, context.settings.tz)
    await update.effective_chat.send_message(text, parse_mode="HTML", disable_web_page_preview=True)


HANDLERS = [CommandHandler("stats", stats_command, filters=PRIVATE)]

"""Banning a resident from filing reports, from the command line, a report's card or the
dashboard; the resident is told, politely and in their language, through the outbox.

The ban itself is kept by storage.abuse under a pseudonym that /forget does not erase. A report
whose reporter asked to be forgotten no longer leads to anyone: it cannot get its reporter banned.

`ban` and `unban` return what is left to do after the commit (kernel/effects.py): the sender to
wake for the message, and the staff's cards of the resident's reports, which show the ban, to
redraw (each report is marked changed here, once). Nothing (a false `NOTHING`) when nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import update

from broadcasts import outbox
from kernel.effects import NOTHING, Effects
from storage import abuse, residents
from storage.models import Report, Resident
from storage.types import utcnow


def N_(msgid: str) -> str:
    return msgid


BANNED = N_("Loa will no longer accept reports from you: the city's moderators found that your reports "
            "broke its rules. Alerts still reach you as before. If you think this is a mistake, please "
            "contact your ward's office.")
UNBANNED = N_("You can send reports through Loa again. Thank you for your patience.")


async def reporter(session, report: Report) -> Resident | None:
    return await session.get(Resident, report.resident_id) if report.resident_id else None


async def reporter_banned(session, secret: str | None, report: Report) -> bool | None:
    """Whether the report's reporter is banned; None when it leads to nobody (they sent /forget)."""
    resident = await reporter(session, report)
    if resident is None:
        return None
    return await abuse.ban_of(session, secret, resident.telegram_id) is not None


async def ban(session, secret: str | None, telegram_id: int, *, gettext: Callable[[str], Callable[[str], str]],
              reason: str | None = None, by: int | None = None, report_code: str | None = None) -> Effects:
    """Ban `telegram_id` and tell them; NOTHING (false) when already banned (nothing changes,
    nothing is sent). `gettext(language)` gives the function translating into that language."""
    if not await abuse.ban(session, secret, telegram_id, reason=reason, by=by, report_code=report_code):
        return NOTHING
    return await _changed(session, telegram_id, BANNED, "ban", gettext)


async def unban(session, secret: str | None, telegram_id: int, *,
                gettext: Callable[[str], Callable[[str], str]]) -> Effects:
    """Lift the ban and tell them; NOTHING (false) when they were not banned."""
    if not await abuse.unban(session, secret, telegram_id):
        return NOTHING
    return await _changed(session, telegram_id, UNBANNED, "unban", gettext)


async def _changed(session, telegram_id: int, text: str, kind: str, gettext) -> Effects:
    """Mark the resident's reports changed, so that every card of theirs is drawn again with or
    without the ban, and tell them if they are in touch with the bot."""
    resident = await residents.by_telegram_id(session, telegram_id)
    if resident is not None:
        await session.execute(update(Report).where(Report.resident_id == resident.id).values(updated_at=utcnow()))
    told = resident is not None and resident.blocked_at is None  # else nobody to tell (or forgotten)
    if told:
        await outbox.enqueue(session, telegram_id, "sendMessage", {"text": gettext(resident.language)(text)},
                             key=f"{kind}:{resident.id}:{time.time_ns()}", resident_id=resident.id)
    return Effects(wake_sender=told, cards=True)

"""From what a staff member gave to the arguments of `complaints.lifecycle.apply`: the one mapping,
for the bot's buttons and replies, the dashboard's forms, the API and the sandbox's stories.

- A reason, a note, a code typed (`typed`): the reason of a rejection or a sending back, the note
  of a resolution (with perhaps a photo, the only action that takes one), the code of the report
  a duplicate repeats. A photo given to any other action is refused.
- A rejection by one of the reasons of complaints/rejections.py (`template_reason`), by its index:
  the reason reaches the resident, so it is written in the reporter's language, else (a report
  that leads to nobody) in the default language, as the staff's cards are. An index that is not
  one of the reasons is refused. On a form, a reason written wins over one chosen (`reject`).
- `RETYPE`: `apply`'s refusals of what was typed, which the person corrects and sends again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from complaints.lifecycle import N_, Action, Refused
from complaints.rejections import REJECT_REASONS
from kernel.i18n import translator
from storage.models import Report, Resident

# The argument of `apply` that takes what the staff member typed, by action.
TYPED = {Action.REJECT: "reason", Action.SEND_BACK: "reason", Action.RESOLVE: "note",
         Action.DUPLICATE: "original_code"}
# `apply`'s refusals of what was typed (missing, too long, no such report to duplicate): the person
# corrects it and sends it again (the bot keeps its question; the dashboard answers 400, the API 422).
RETYPE = frozenset({"missing_reason", "missing_note", "too_long", "original_not_found", "self_duplicate",
                    "original_not_open"})


def typed(action: Action | str, text: str | None, photo_file_id: str | None = None) -> dict:
    """The arguments of `action` from a typed text (and a photo, for a resolution's note); `apply`
    refuses a missing or too long text. An action that takes no text gets none."""
    action = Action(action)
    if photo_file_id and action != Action.RESOLVE:
        raise Refused("text_only", N_("Please answer with text."))
    if action not in TYPED:
        return {}
    args = {TYPED[action]: text}
    if action == Action.RESOLVE:
        args["photo_file_id"] = photo_file_id
    return args


def reason_index(raw: object) -> int:
    """The index of one of REJECT_REASONS, from a button's or a form's text (or a number); else
    `Refused` "unknown_reason"."""
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and int(text) < len(REJECT_REASONS)):
        raise Refused("unknown_reason", N_("Unknown reason."))
    return int(text)


async def template_reason(session: AsyncSession, report_id: int, raw: object, *, default_language: str) -> str:
    """The reason of REJECT_REASONS at index `raw`, in the language of the report's reporter, else
    in `default_language`."""
    reason = REJECT_REASONS[reason_index(raw)]
    report = await session.get(Report, report_id) if report_id else None
    resident = await session.get(Resident, report.resident_id) if report is not None and report.resident_id else None
    return translator(resident.language if resident is not None else default_language).gettext(reason)


async def reject(session: AsyncSession, report_id: int, *, reason: str | None, template: object,
                 default_language: str) -> dict:
    """The arguments of a rejection from a form: the reason written, else the one chosen
    (`template_reason`); with neither, `apply` asks for a reason."""
    if (reason or "").strip() or template in (None, ""):
        return typed(Action.REJECT, reason)
    return {"reason": await template_reason(session, report_id, template, default_language=default_language)}

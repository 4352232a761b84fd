"""The resident's rating of a resolved report: satisfied / acceptable / not satisfied."""

from __future__ import annotations

from bot.i18n import translator
from storage.models import Report

RATINGS = ("satisfied", "acceptable", "not_satisfied")


def rating_markup(report: Report, language: str) -> dict:
    """The buttons under the "your report was resolved" message (callback data `rt:<id>:<rating>`)."""
    _ = translator(language).gettext
    labels = {"satisfied": _("😊 Satisfied"), "acceptable": _("😐 Acceptable"),
              "not_satisfied": _("😞 Not satisfied")}
    return {"inline_keyboard": [[{"text": labels[r], "callback_data": f"rt:{report.id}:{r}"}] for r in RATINGS]}

"""The reasons a moderator picks from to reject a report, in the bot's "Reject…" menu and on the
dashboard. English msgids: the reason reaches the resident in their language."""

from __future__ import annotations


def N_(msgid: str) -> str:
    return msgid


REJECT_REASONS = (
    N_("This is not something the city handles."),
    N_("There is not enough information to act on it."),
    N_("It is not a real problem, or a test."),
    N_("It contains abusive or offensive content."),
)

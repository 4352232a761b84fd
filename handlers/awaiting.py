"""What the bot waits for from a resident (`Resident.awaiting`): the answer to which question
their next typed message is. The values are the strings stored in the column.

Set by the handler that asks; guide.py routes a message to the step that waits for it (its
`STEPS` table), or reminds the resident of where they are.
"""

from __future__ import annotations

from enum import StrEnum


class Awaiting(StrEnum):
    LANGUAGE = "language"  # onboarding: the language buttons
    AREA = "area"  # onboarding or /area: a shared location or a typed area name
    TOPICS = "topics"  # onboarding: the topic buttons
    QUIET = "quiet"  # onboarding: the quiet-hours buttons
    REPORT = "report"  # the report wizard (complaints.drafts): its step says what
    COMMENT = "comment"  # a comment on the report just rated
    ADDITION = "addition"  # "Add to my report": to Resident.adding_report_id (complaints/thread.py)


ONBOARDING = (Awaiting.LANGUAGE, Awaiting.AREA, Awaiting.TOPICS, Awaiting.QUIET)

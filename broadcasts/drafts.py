"""The alert a broadcaster writes in the /broadcast wizard: its steps and the checks of each
answer (the dashboard's form has the same). Plain data only: the handlers turn the problems into
translated messages. The draft's status, and what sending it does, are broadcasts/lifecycle.py's.

The draft is an Alert row with status "draft"; `wizard_step` says which answer the wizard waits
for. A step changed from the preview is marked with EDITING ("areas*"): once it is answered the
wizard goes back to the preview instead of on to the next step.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import lifecycle
from broadcasts.alerts import Status
from storage import areas
from storage.models import Alert, Area, Resident
from storage.topics import all_topics

STEPS = ("topic", "areas", "severity", "text_vi", "text_en", "photo")
PREVIEW, TIME, REPEAT = "preview", "time", "repeat"
# After sending: the progress message is being edited; a correction's text is awaited.
FOLLOW, FIX = "follow", "fix"
EDITING = "*"

# The severities a broadcaster picks from, most serious first (CAP's "unknown" is not offered).
SEVERITIES = ("extreme", "severe", "moderate", "minor")

TEXT_LIMIT = 3500  # characters of an alert's text
CAPTION_TEXT_LIMIT = 900  # with a photo: Telegram's captions are shorter
MAX_AREAS = 20


class Problem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNPARSEABLE = "unparseable"
    PAST = "past"
    TOO_FAR = "too_far"


def step_of(alert: Alert) -> tuple[str | None, bool]:
    """(step, editing) of a draft."""
    step = alert.wizard_step
    if step and step.endswith(EDITING):
        return step[:-1], True
    return step, False


def next_step(step: str, editing: bool) -> str:
    """Where the wizard goes once `step` is answered."""
    if editing or step not in STEPS or step == STEPS[-1]:
        return PREVIEW
    return STEPS[STEPS.index(step) + 1]


def text_limit(alert: Alert) -> int:
    return CAPTION_TEXT_LIMIT if alert.photo_file_id else TEXT_LIMIT


def check_text(text: str | None, limit: int) -> tuple[str, Problem | None]:
    """The text as it will be stored (trimmed), and what is wrong with it, if anything."""
    text = (text or "").strip()
    if not text:
        return text, Problem.EMPTY
    if len(text) > limit:
        return text, Problem.TOO_LONG
    return text, None


@dataclass(frozen=True)
class Unknown:
    """What an alert names that does not exist: its topic (then `topics` lists the valid ones),
    and area codes that name no area, in the order given."""

    topic: bool
    topics: list[str]
    areas: list[str]


async def unknown_choices(session: AsyncSession, topic_code: str, area_codes: list[str]) -> Unknown:
    """The check of a topic and areas given by code (the API, the dashboard), which the wizard's
    buttons make unnecessary."""
    topics = [t.code for t in await all_topics(session)]
    known = set((await session.execute(select(Area.code).where(Area.code.in_(area_codes)))).scalars())
    return Unknown(topic=topic_code not in topics, topics=topics,
                   areas=[code for code in area_codes if code not in known])


@dataclass(frozen=True)
class Start:
    """Where the areas step opens: the province shown (None: the list of provinces), and the area
    its page is turned to."""

    province: str | None
    around: str | None


FREQUENT = 4  # areas offered first
FREQUENT_SAMPLE = 200  # recent alerts they are counted in


async def start(session: AsyncSession, telegram_id: int) -> Start:
    """The broadcaster's own area's province, at their area, when they are a resident with one;
    else the province most residents live in (the city the deployment serves); else the provinces."""
    own = (await session.execute(select(Resident.area_code).where(Resident.telegram_id == telegram_id))
           ).scalar_one_or_none()
    chain = await areas.path(session, own) if own else []
    if chain:
        province, around = chain[0].code, chain[1].code if len(chain) > 1 else None
    else:
        province = (await session.execute(
            select(Area.parent_code).join(Resident, Resident.area_code == Area.code)
            .where(Area.parent_code.is_not(None)).group_by(Area.parent_code)
            .order_by(func.count().desc(), Area.parent_code).limit(1))).scalar_one_or_none()
        around = None
    return Start(province, around)


async def frequent_areas(session: AsyncSession, limit: int = FREQUENT) -> list[Area]:
    """The areas the last FREQUENT_SAMPLE alerts sent (not drafts nor templates) went to most often."""
    rows = (await session.execute(
        select(Alert.area_codes).where(Alert.status.in_([Status.SENDING, Status.DONE, Status.CANCELLED]))
        .order_by(Alert.id.desc()).limit(FREQUENT_SAMPLE))).scalars()
    counted = Counter(code for codes in rows for code in set(codes or []))
    found = []
    for code, _count in sorted(counted.items(), key=lambda item: (-item[1], item[0])):
        area = await areas.get(session, code)
        if area is not None:
            found.append(area)
        if len(found) == limit:
            break
    return found


def longest_text(alert: Alert) -> int:
    return max((len(t) for t in (alert.texts or {}).values() if isinstance(t, str)), default=0)


_HHMM = re.compile(r"^(\d{1,2})[:hH.](\d{2})$")
_DATE_TIME = (
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})[ T]+(?P<H>\d{1,2})[:hH.](?P<M>\d{2})$"),
    re.compile(r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})[ ]+(?P<H>\d{1,2})[:hH.](?P<M>\d{2})$"),
    re.compile(r"^(?P<H>\d{1,2})[:hH.](?P<M>\d{2})[ ]+(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})$"),
)


def parse_send_time(text: str, *, now: datetime, tz: ZoneInfo) -> tuple[datetime | None, Problem | None]:
    """A time typed by the broadcaster, in the city's time zone: "HH:MM" (today, or tomorrow if
    that time has passed today), "YYYY-MM-DD HH:MM" or "DD/MM/YYYY HH:MM". Returns it in UTC."""
    text = " ".join((text or "").split())
    local_now = now.astimezone(tz)
    moment = None
    match = _HHMM.match(text)
    try:
        if match:
            clock = time(int(match.group(1)), int(match.group(2)))
            moment = datetime.combine(local_now.date(), clock, tzinfo=tz)
            if moment <= local_now:
                moment = datetime.combine(local_now.date() + timedelta(days=1), clock, tzinfo=tz)
        else:
            for pattern in _DATE_TIME:
                found = pattern.match(text)
                if found:
                    day = date(int(found["y"]), int(found["m"]), int(found["d"]))
                    moment = datetime.combine(day, time(int(found["H"]), int(found["M"])), tzinfo=tz)
                    break
    except ValueError:  # 25:00, 31/02/...
        moment = None
    if moment is None:
        return None, Problem.UNPARSEABLE
    moment = moment.astimezone(timezone.utc)
    refusal = lifecycle.check_send_at(moment, now)  # as the API's send_at
    if refusal is not None:
        return None, Problem.PAST if refusal.code == lifecycle.No.SEND_AT_PAST else Problem.TOO_FAR
    return moment, None


CRON_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REPEATS = ("once", "daily", "weekly")


def cron_line(repeat: str, at: datetime, tz: ZoneInfo) -> str | None:
    """The 5-field cron line repeating a send at `at`'s local time: None for a one-off."""
    local = at.astimezone(tz)
    if repeat == "daily":
        return f"{local.minute} {local.hour} * * *"
    if repeat == "weekly":
        return f"{local.minute} {local.hour} * * {CRON_DAYS[local.weekday()]}"
    return None

"""The report a resident is writing: kept in the database step by step, so that a restart of
the bot in the middle changes nothing, and checked field by field as it is entered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.models import Category, ReportDraft
from storage.types import utcnow

STEPS = ("category", "description", "photos", "location", "review")
MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 2000
MAX_PHOTOS = 5
MIN_ADDRESS = 3
MAX_ADDRESS = 200


async def get(session: AsyncSession, resident_id: int, *, for_update: bool = False) -> ReportDraft | None:
    query = select(ReportDraft).where(ReportDraft.resident_id == resident_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def start(session: AsyncSession, resident_id: int, *, publicity: str = "ward") -> ReportDraft:
    """A new draft; `publicity` is what the portal may show of it until the resident says otherwise."""
    draft = ReportDraft(resident_id=resident_id, step="category", publicity=publicity)
    session.add(draft)
    await session.flush()
    return draft


async def discard(session: AsyncSession, resident_id: int) -> list[str] | None:
    """Delete the resident's draft; the SHA-256 of its stored photos (to remove the files that no
    longer serve, complaints.media.remove_unused, after the commit), or None without a draft."""
    draft = await get(session, resident_id, for_update=True)
    if draft is None:
        return None
    await session.execute(delete(ReportDraft).where(ReportDraft.resident_id == resident_id))
    return photo_hashes(draft.photos)


def photo_hashes(photos: list | None) -> list[str]:
    return [p["sha256"] for p in photos or [] if p.get("sha256")]


def photo_bytes(draft: ReportDraft) -> int:
    """The size of the cleaned photos the draft holds (photos stored before this was counted: 0)."""
    return sum(int(p.get("bytes") or 0) for p in draft.photos or [])


async def count_abandoned(session: AsyncSession, before: datetime) -> int:
    """How many drafts nobody touched since `before` (what `abandoned` would delete)."""
    return (await session.execute(select(func.count()).select_from(ReportDraft)
                                  .where(ReportDraft.updated_at < before))).scalar_one()


async def abandoned(session: AsyncSession, before: datetime, limit: int = 100) -> list[str]:
    """Delete up to `limit` drafts nobody touched since `before`; the SHA-256 of their photos."""
    query = select(ReportDraft).where(ReportDraft.updated_at < before).order_by(ReportDraft.updated_at).limit(limit)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    old = list((await session.execute(query)).scalars())
    if not old:
        return []
    await session.execute(delete(ReportDraft).where(ReportDraft.resident_id.in_([d.resident_id for d in old]),
                                                    ReportDraft.updated_at < before))
    return [sha for draft in old for sha in photo_hashes(draft.photos)]


def go_to(draft: ReportDraft, step: str) -> None:
    """Move on; a field changed from the review card leads back to the review."""
    if draft.editing and step != "review":
        # `step` is the one after the field being edited: the edit is done.
        step = "review"
    if step == "review":
        draft.editing = False
    draft.step = step
    draft.updated_at = utcnow()


def edit(draft: ReportDraft, step: str) -> None:
    draft.step = step
    draft.editing = True
    draft.updated_at = utcnow()


def next_after(step: str) -> str:
    return STEPS[STEPS.index(step) + 1]


async def categories(session: AsyncSession) -> list[Category]:
    query = select(Category).where(Category.active).order_by(Category.position, Category.code)
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class Problem:
    """Why an entry was refused: `kind` picks the message, `value` fills it."""

    kind: str
    value: int = 0


_WORD = re.compile(r"[^\W\d_]{2,}")


def check_description(text: str) -> Problem | None:
    """None when the description can be used; else why not (short, long, junk)."""
    text = text.strip()
    if len(text) < MIN_DESCRIPTION:
        return Problem("short", len(text))
    if len(text) > MAX_DESCRIPTION:
        return Problem("long", len(text))
    letters = [c.lower() for c in text if c.isalpha()]
    words = _WORD.findall(text)
    if len(letters) < 6 or len(set(letters)) < 4 or len(words) < 2:
        return Problem("junk")
    longest_run = max(len(m.group(0)) for m in re.finditer(r"(.)\1*", text))
    if longest_run > 20 or len(set(words)) == 1:
        return Problem("junk")
    return None


def check_address(text: str) -> Problem | None:
    text = text.strip()
    if len(text) < MIN_ADDRESS:
        return Problem("short", len(text))
    if len(text) > MAX_ADDRESS:
        return Problem("long", len(text))
    return None


def add_photo(draft: ReportDraft, photo: dict) -> bool:
    """Add a photo to the draft; False when it already has the most a report may have.
    The same photo sent twice is kept once."""
    photos = list(draft.photos or [])
    if any(p["file_unique_id"] == photo["file_unique_id"] for p in photos):
        return True
    if len(photos) >= MAX_PHOTOS:
        return False
    draft.photos = photos + [photo]  # a new list: the JSON column notices assignments only
    draft.updated_at = utcnow()
    return True


def answered_before(draft: ReportDraft, media_group_id: str | None, outcome: str) -> bool:
    """Whether the album `media_group_id` already got an answer about `outcome`; records it if not.
    Photos sent one by one (no album) are each answered."""
    if media_group_id is None:
        return False
    group, _, seen = (draft.media_group_id or "").partition("|")
    outcomes = set(seen.split(",")) if group == media_group_id and seen else set()
    if outcome in outcomes:
        return True
    outcomes.add(outcome)
    draft.media_group_id = (media_group_id + "|" + ",".join(sorted(outcomes)))[:64]
    return False


def missing(draft: ReportDraft) -> str | None:
    """The first step whose answer the draft lacks, or None when it can be submitted. A typed
    address is not enough: the report needs its ward, to be routed."""
    if not draft.category_code:
        return "category"
    if not draft.description:
        return "description"
    if not draft.area_code:
        return "location"
    return None


def ward_pending(draft: ReportDraft) -> bool:
    """An address was typed and its ward is not known yet: the resident is asked for the ward."""
    return bool(draft.address_text) and not draft.area_code


def ward_from_address(draft: ReportDraft) -> bool:
    """The ward was found in (or chosen for) a typed address, not from a shared location: the
    resident may change it and keep the address."""
    return bool(draft.address_text and draft.area_code) and draft.latitude is None

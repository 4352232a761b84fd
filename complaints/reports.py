"""Filing reports and finding them again: submit, a resident's list, /status (the hourly limit:
storage/abuse.py).

A report filed (`submit`, `file`) always leaves the same to do after the commit: `FILED`, its
cards to post in the staff's groups; the adapter hands it to the composition root's runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from complaints import codes, deadlines
from complaints.calendar import WorkingCalendar
from kernel.effects import Effects
from kernel.text import words
from storage.models import Report, ReportDraft, ReportEvent, ReportPhoto
from storage.types import utcnow

CODE_ATTEMPTS = 10
FILED = Effects(cards=True)  # what filing a report leaves to do: post its staff cards


class CodeSpaceExhausted(RuntimeError):
    pass


async def submit(session: AsyncSession, draft: ReportDraft, *, reporter_name: str | None, tz: ZoneInfo,
                 now: datetime | None = None, new_code=codes.new_code,
                 rules: deadlines.DeadlineRules | None = None) -> Report:
    """File the draft as a report (state `submitted`, with its first event) and delete the draft.

    Its deadlines count on `rules` (by default Monday to Friday, 08:00-17:00 in `tz`)."""
    report = await file(session, category_code=draft.category_code, description=draft.description,
                        latitude=draft.latitude, longitude=draft.longitude, area_code=draft.area_code,
                        address_text=draft.address_text, resident_id=draft.resident_id,
                        reporter_name=reporter_name, photos=draft.photos or [], tz=tz, now=now,
                        new_code=new_code, rules=rules, publicity=draft.publicity)
    await session.delete(draft)
    await session.flush()
    return report


def searchable(description: str | None, address: str | None) -> str:
    """What a word search looks in: the words of the description and the address, folded
    (kernel.text.words: no case, no diacritics, đ as d, signs apart), each after a space, so that a
    search finds the words that start with what was typed: "den", "đèn" and "ĐÈN" all find "Đèn",
    and "hong" finds "hỏng" but not "không"."""
    return "".join(" " + word for word in words("\n".join(part for part in (description, address) if part)))


async def file(session: AsyncSession, *, category_code: str, description: str, latitude: float | None = None,
               longitude: float | None = None, area_code: str | None = None, address_text: str | None = None,
               resident_id: int | None = None, reporter_name: str | None = None, photos: Sequence[dict] = (),
               tz: ZoneInfo | None = None, now: datetime | None = None, new_code=codes.new_code,
               rules: deadlines.DeadlineRules | None = None, actor: str = "resident",
               actor_name: str | None = None, publicity: str = "ward") -> Report:
    """File a report from plain fields (state `submitted`, with its first event): the one way a
    report comes to be, from the bot's draft (`submit`) or from an Open311 client.

    The caller has checked the fields (complaints.drafts). `photos` are the draft's dicts
    (`file_id`, `file_unique_id`, `sha256`, `width`, `height`); `actor` and `actor_name` say on
    the first event who filed it (the resident, or an Open311 client by its token's name);
    `publicity` what the public portal may show of it (complaints.public.CHOICES).
    Deadlines count on `rules` (by default Monday to Friday, 08:00-17:00 in `tz`)."""
    now = now or utcnow()
    rules = rules or deadlines.DeadlineRules(calendar=WorkingCalendar(tz=tz) if tz else WorkingCalendar())
    days = await deadlines.resolve_days(session, category_code)
    report = None
    for _ in range(CODE_ATTEMPTS):
        candidate = Report(
            code=new_code(), resident_id=resident_id, reporter_name=reporter_name,
            category_code=category_code, description=description,
            search_text=searchable(description, address_text),
            latitude=latitude, longitude=longitude, area_code=area_code,
            address_text=address_text, publicity=publicity, due_at=rules.resolve_due(now, resolve_days=days),
            take_up_due_at=rules.take_up_due(now),
            created_at=now, updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(candidate)
                await session.flush()
        except IntegrityError:
            continue  # that code is taken: draw another
        report = candidate
        break
    if report is None:
        raise CodeSpaceExhausted("no free reference code found")
    for position, photo in enumerate(photos):
        session.add(ReportPhoto(report_id=report.id, position=position, telegram_file_id=photo["file_id"],
                                file_unique_id=photo["file_unique_id"], sha256=photo.get("sha256"),
                                width=photo.get("width"), height=photo.get("height")))
    session.add(ReportEvent(report_id=report.id, at=now, state="submitted", action="submit", actor=actor,
                            actor_name=(actor_name or None) and actor_name[:128]))
    await session.flush()
    return report


@dataclass
class Page:
    reports: list[Report]
    total: int
    page: int
    pages: int


async def of_resident(session: AsyncSession, resident_id: int, page: int, per_page: int = 5) -> Page:
    """One page of the resident's reports, newest first."""
    total = (await session.execute(
        select(func.count()).select_from(Report).where(Report.resident_id == resident_id))).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 0), pages - 1)
    query = (select(Report).where(Report.resident_id == resident_id)
             .order_by(Report.created_at.desc(), Report.id.desc())
             .offset(page * per_page).limit(per_page))
    return Page(list((await session.execute(query)).scalars()), total, page, pages)


async def filed_since(session: AsyncSession, resident_id: int, timestamp: int) -> Report | None:
    """The resident's newest report if it was filed at or after `timestamp` (Unix seconds): the one
    filed from a draft begun then (the wizard's Submit button carries that second)."""
    try:
        since = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):  # a button's nonce no draft was ever given
        return None
    query = (select(Report).where(Report.resident_id == resident_id)
             .order_by(Report.created_at.desc(), Report.id.desc()).limit(1))
    newest = (await session.execute(query)).scalar_one_or_none()
    return newest if newest is not None and newest.created_at >= since else None


async def owned(session: AsyncSession, resident_id: int, code: str) -> Report | None:
    """The report with this code if it is the resident's; None for any other code, theirs or nobody's."""
    query = select(Report).where(Report.code == code, Report.resident_id == resident_id)
    return (await session.execute(query)).scalar_one_or_none()


async def history(session: AsyncSession, report_id: int) -> list[ReportEvent]:
    query = select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(ReportEvent.at, ReportEvent.id)
    return list((await session.execute(query)).scalars())


async def photo_count(session: AsyncSession, report_id: int) -> int:
    query = select(func.count()).select_from(ReportPhoto).where(ReportPhoto.report_id == report_id)
    return (await session.execute(query)).scalar_one()


# Retention (complaints/retention.py): Telegram's ids of a report's photos are needed only until
# the cleaned copy is stored (the cards, the dashboard and the API show that copy); a photo whose
# copy could not be fetched keeps its id.
def _file_ids_of_reports_before(before: datetime):
    return (ReportPhoto.sha256.is_not(None), ReportPhoto.telegram_file_id != "",
            ReportPhoto.report_id.in_(select(Report.id).where(Report.created_at < before).scalar_subquery()))


async def count_file_ids(session: AsyncSession, before: datetime) -> int:
    return (await session.execute(select(func.count()).select_from(ReportPhoto)
                                  .where(*_file_ids_of_reports_before(before)))).scalar_one()


async def forget_file_ids(session: AsyncSession, before: datetime, limit: int) -> int:
    """Clear the Telegram ids of up to `limit` reports' stored photos filed before `before`."""
    reports = list((await session.execute(select(ReportPhoto.report_id).distinct()
                                          .where(*_file_ids_of_reports_before(before))
                                          .order_by(ReportPhoto.report_id).limit(limit))).scalars())
    if not reports:
        return 0
    return (await session.execute(update(ReportPhoto).where(ReportPhoto.report_id.in_(reports),
                                                            *_file_ids_of_reports_before(before))
                                  .values(telegram_file_id="", file_unique_id=""))).rowcount or 0

"""Retention: what Loa is done with is deleted on schedule, each kind after its period
(kernel/settings.py; the README's "Privacy and data deletion" says what is kept how long and why).

Each kind deletes in batches of at most BATCH rows, one short transaction each, yielding to the
event loop between them: a big purge never holds a long transaction nor the loop. The outbox's
rows of an alert leave their figures in its tally first (broadcasts.outbox.purge_done), so its
history and progress stay whole. `run` is what the job (handlers/retention_job.py, one instance
at a time by storage/jobs.py) and `loa retention run` do; `due` is the dry run's count, deleting
nothing.

The claims of updates handled (storage/updates.py) go `LOA_UPDATE_CLAIM_DAYS` after they were
done; a claim not yet done is never deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import outbox
from complaints import drafts, media, reports, thread
from kernel.settings import Settings
from storage import logins, updates
from storage.db import Database
from storage.models import RetentionRun
from storage.types import utcnow

log = logging.getLogger("loa.retention")
BATCH = 2000
JOB = "retention"


@dataclass(frozen=True)
class Periods:
    """How long each kind is kept once it is done with."""

    sign_in: timedelta  # dashboard links used or expired, sessions ended or expired
    outbox: timedelta  # outbox rows since their outcome (sent, failed, blocked, cancelled, expired)
    drafts: timedelta  # report drafts nobody touched, with their photos
    file_ids: timedelta  # Telegram's ids of the photos (reports' and threads') whose cleaned copy is stored
    update_claims: timedelta  # the claims of updates handled (storage/updates.py) since they were done

    @classmethod
    def of(cls, settings: Settings) -> Periods:
        return cls(sign_in=timedelta(days=settings.sign_in_days), outbox=timedelta(days=settings.outbox_days),
                   drafts=timedelta(days=settings.draft_days), file_ids=timedelta(days=settings.file_id_days),
                   update_claims=timedelta(days=settings.update_claim_days))


@dataclass(frozen=True)
class _Kind:
    name: str
    period: Callable[[Periods], timedelta]
    count: Callable[[AsyncSession, datetime], Awaitable[int]]
    purge: Callable[[AsyncSession, datetime, int], Awaitable[int]]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


async def _count_outbox(session: AsyncSession, before: datetime) -> int:
    return await outbox.count_done_before(session, _epoch(before))


async def _purge_outbox(session: AsyncSession, before: datetime, limit: int) -> int:
    return await outbox.purge_done(session, _epoch(before), limit)


# In the order a run takes them; drafts are apart (their photos' files go after the commit).
_KINDS = (
    _Kind("sign_in_links", lambda p: p.sign_in, logins.count_old_links, logins.purge_old_links),
    _Kind("dashboard_sessions", lambda p: p.sign_in, logins.count_old_sessions, logins.purge_old_sessions),
    _Kind("outbox", lambda p: p.outbox, _count_outbox, _purge_outbox),
    _Kind("photo_file_ids", lambda p: p.file_ids, reports.count_file_ids, reports.forget_file_ids),
    _Kind("thread_file_ids", lambda p: p.file_ids, thread.count_file_ids, thread.forget_file_ids),
    _Kind("update_claims", lambda p: p.update_claims, updates.count_done_before, updates.purge_done),
)
DRAFTS = "drafts"
KINDS = tuple(kind.name for kind in _KINDS) + (DRAFTS,)


async def due(db: Database, periods: Periods, *, now: datetime | None = None) -> dict[str, int]:
    """What a run would delete now, per kind (the dry run): counted, nothing deleted."""
    now = now or utcnow()
    async with db.read() as session:
        found = {kind.name: await kind.count(session, now - kind.period(periods)) for kind in _KINDS}
        found[DRAFTS] = await drafts.count_abandoned(session, now - periods.drafts)
    return found


async def purge_drafts(db: Database, store: media.MediaStore, before: datetime, limit: int = BATCH) -> tuple[int, int]:
    """One batch: delete up to `limit` drafts untouched since `before`, then, after the commit,
    their photos' files that nothing else holds. (drafts deleted, files removed)."""
    async with db.transaction() as session:
        count = await drafts.count_abandoned(session, before)
        hashes = await drafts.abandoned(session, before, limit=limit)
    if not count:
        return 0, 0
    removed = 0
    if hashes:
        async with db.read() as session:
            removed = await media.remove_unused(session, store, hashes)
    return min(count, limit), removed


async def run(db: Database, periods: Periods, store: media.MediaStore, *, now: datetime | None = None,
              batch: int = BATCH) -> dict[str, int]:
    """Delete every kind's rows past its period, a batch per transaction; what went, per kind
    (`drafts_files`: the photo files removed with the drafts)."""
    now = now or utcnow()
    deleted = dict.fromkeys(KINDS, 0)
    for kind in _KINDS:
        before = now - kind.period(periods)
        while True:
            async with db.transaction() as session:
                done = await kind.purge(session, before, batch)
            deleted[kind.name] += done
            await asyncio.sleep(0)
            if done < batch:
                break
    deleted["drafts_files"] = 0
    while True:
        gone, removed = await purge_drafts(db, store, now - periods.drafts, batch)
        deleted[DRAFTS] += gone
        deleted["drafts_files"] += removed
        await asyncio.sleep(0)
        if gone < batch:
            break
    return deleted


async def record(db: Database, deleted: dict[str, int], *, name: str = JOB, now: datetime | None = None) -> None:
    """Keep what the last run deleted, for the operator."""
    now = now or utcnow()
    async with db.transaction() as session:
        dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
        await session.execute(dialect.insert(RetentionRun).values(name=name, last_run_at=now, last_deleted=deleted)
                              .on_conflict_do_update(index_elements=["name"],
                                                     set_={"last_run_at": now, "last_deleted": deleted}))

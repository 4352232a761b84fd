"""Abandoned report drafts: a draft nobody touched for `LOA_DRAFT_DAYS` days is deleted, and the
cleaned photos it held leave the media store (unless a report or another draft holds them too).
The job runs every `SWEEP_SECONDS`, first soon after the start; each pass takes at most `BATCH`
drafts, so a backlog goes over several passes. The resident is not told: /report starts afresh.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram.ext import Application, CallbackContext

from complaints import drafts, media
from handlers.context import services

log = logging.getLogger("loa.reports")
JOB_NAME = "abandoned-drafts"
SWEEP_SECONDS = 600
FIRST_RUN = 30
BATCH = 100


async def sweep(application: Application, now: datetime | None = None) -> int:
    """One pass: delete the drafts untouched for LOA_DRAFT_DAYS days before `now` and their photos'
    files; returns how many files went."""
    found = services(application)
    settings, db = found.settings, found.db
    now = now or found.now()
    async with db.transaction() as session:
        hashes = await drafts.abandoned(session, now - timedelta(days=settings.draft_days), limit=BATCH)
    if not hashes:
        return 0
    async with db.read() as session:
        removed = await media.remove_unused(session, media.MediaStore(settings.media_dir), hashes)
    log.info("abandoned_drafts photos_removed=%d", removed)
    return removed


async def sweep_job(context: CallbackContext) -> None:
    await sweep(context.application)


def add_jobs(application: Application) -> None:
    application.job_queue.run_repeating(sweep_job, interval=SWEEP_SECONDS, first=FIRST_RUN, name=JOB_NAME,
                                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})

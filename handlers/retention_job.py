"""The retention job: every SWEEP_SECONDS (first soon after the start) one instance deletes what
is past its period (complaints/retention.py: sign-in links and sessions, the outbox's old rows,
abandoned report drafts with their photos, Telegram's ids of stored photos). Which instance is
claimed in the database, so two instances never both run it. The resident is not told: an
abandoned /report starts afresh.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram.ext import Application, CallbackContext

from complaints import media, retention
from handlers.context import services
from kernel.logs import fields

log = logging.getLogger("loa.retention")
JOB_NAME = "retention"
SWEEP_SECONDS = 600
FIRST_RUN = 30
# The claim holds a little less than the interval, so the instance that ran keeps the job even
# when its timer fires a little early; another takes over when it stops running it.
CLAIM = timedelta(seconds=SWEEP_SECONDS * 0.9)


async def sweep(application: Application, now: datetime | None = None) -> dict[str, int]:
    """One run, unclaimed: what went, per kind."""
    found = services(application)
    deleted = await retention.run(found.db, retention.Periods.of(found.settings),
                                  media.MediaStore(found.settings.media_dir), now=now or found.now())
    if any(deleted.values()):
        log.info("retention_run %s", fields(**deleted))
    return deleted


async def sweep_job(context: CallbackContext) -> None:
    found = services(context.application)
    now = found.now()
    if not await retention.claim(found.db, CLAIM, now=now):
        return
    await retention.record(found.db, await sweep(context.application, now), now=now)


def add_jobs(application: Application) -> None:
    application.job_queue.run_repeating(sweep_job, interval=SWEEP_SECONDS, first=FIRST_RUN, name=JOB_NAME,
                                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})

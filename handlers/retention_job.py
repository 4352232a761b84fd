"""The retention job: every SWEEP_SECONDS (first soon after the start) one instance deletes what
is past its period (complaints/retention.py: sign-in links and sessions, the outbox's old rows,
abandoned report drafts with their photos, Telegram's ids of stored photos, the claims of
updates handled). With several instances, one runs it at a time (storage/jobs.py); another whose
timer fires meanwhile skips that run. What the last run deleted is kept in `retention_runs`. The
resident is not told: an abandoned /report starts afresh.
"""

from __future__ import annotations

import logging
from datetime import datetime

from telegram.ext import Application, CallbackContext

from complaints import media, retention
from handlers.context import services
from kernel.logs import fields
from storage import jobs

log = logging.getLogger("loa.retention")
JOB_NAME = retention.JOB  # `loa retention run` takes the same lock (cli/main.py)
SWEEP_SECONDS = 600
FIRST_RUN = 30


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
    async with jobs.alone(found.db, JOB_NAME) as mine:
        if not mine:
            return
        now = found.now()
        await retention.record(found.db, await sweep(context.application, now), now=now)


def add_jobs(application: Application) -> None:
    application.job_queue.run_repeating(sweep_job, interval=SWEEP_SECONDS, first=FIRST_RUN, name=JOB_NAME,
                                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})

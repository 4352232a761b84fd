"""The CAP feeds' job: every LOA_CAP_FEED_SECONDS, when LOA_CAP_FEEDS lists any feed, the bot's
one `broadcasts.feeds.FeedPoller` polls them all, waking the sender when an alert was queued."""

from __future__ import annotations

import logging

from telegram.ext import Application, CallbackContext

from broadcasts.feeds import FeedPoller, feed_urls
from handlers.context import services
from kernel.logs import fields

log = logging.getLogger("loa.cap_feeds")

JOB_NAME = "cap-feeds"
FIRST_RUN = 10.0  # seconds after the start before the first poll (at most the interval)
POLLER = "cap_feed_poller"  # bot_data key of the Application's poller


async def feeds_job(context: CallbackContext) -> None:
    """The job: poll every configured feed (one poller per Application, made on first use)."""
    application = context.application
    poller = application.bot_data.get(POLLER)
    if poller is None:
        found = services(application)
        poller = application.bot_data[POLLER] = FeedPoller(found.db, found.settings, on_queued=found.sender.wake)
    await poller.poll_all()


def add_jobs(application: Application) -> None:
    """The feed job, every LOA_CAP_FEED_SECONDS, when LOA_CAP_FEEDS lists any feed."""
    settings = services(application).settings
    urls = feed_urls(settings)
    if not urls:
        return
    queue = application.job_queue
    if queue is None:  # python-telegram-bot without its job-queue extra
        raise RuntimeError("python-telegram-bot's job queue is missing: install python-telegram-bot[job-queue]")
    interval = settings.cap_feed_seconds
    queue.run_repeating(feeds_job, interval=interval, first=min(FIRST_RUN, interval), name=JOB_NAME,
                        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    log.info("cap_feeds %s", fields(feeds=len(urls), every=interval))

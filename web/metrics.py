"""GET /metrics in the Prometheus text format.

A scrape never counts the outbox: what happened is counted in the process as it happens, and
the database is asked only what cannot be counted so (the work still to do), through indexes.

From the bot (bot/ordering.py), as it happens:
  loa_updates_handled_total{kind}          updates handled, by kind (message, callback_query, …)
  loa_update_handling_seconds              histogram of the time to handle one update
From the outbox sender (broadcasts/sender.py), as Telegram answers, since the process started:
  loa_deliveries_total{outcome}            sent, failed, blocked, expired (not sent after the
                                           alert's expiry), retried (a network error or a 5xx:
                                           tried again later), throttled (a 429)
From the database, at each scrape, by index only:
  loa_outbox_depth                         outbox rows still to send (state pending): a count
                                           over the partial index of pending rows, so its cost
                                           follows the backlog, not the outbox's size
  loa_reports_by_state{state}              reports by state (over the index on the state)
  loa_database_up                          1 when those could be read, else 0 (and no figures)
From the bot and its database sessions, at each scrape (a storm shows here first):
  loa_updates_handling                     updates being handled now (at most LOA_UPDATES_IN_FLIGHT)
  loa_updates_waiting                      updates waiting for one of those places, in arrival order
  loa_db_pool_size                         LOA_DB_POOL_SIZE: the connections the sessions share
  loa_db_sessions_waiting                  sessions waiting for one of them, in arrival order
And:
  loa_sender_leading                       1 when this instance sends the outbox
  loa_last_update_age_seconds              seconds since the bot last handled an update (absent before)

Counters are per process: with several instances, sum them (each instance's sender counts what
it sent while it led). Each web application has a registry of its own, so two in one process
never collide.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from broadcasts import outbox
from broadcasts.sender import Counters
from kernel.logs import fields
from storage.db import Database
from storage.models import Report
from web import context
from web.keys import BOT, DB

log = logging.getLogger("loa.metrics")

DB_TIMEOUT = 5.0  # seconds the counts may take
REPORT_STATES = ("submitted", "assigned", "in_progress", "resolved", "closed", "rejected", "duplicate",
                 "reopened")
OUTCOMES = ("sent", "failed", "blocked", "expired", "retried", "throttled")


async def read_counts(db: Database) -> dict:
    async with db.read() as session:
        reports = await session.execute(select(Report.state, func.count()).group_by(Report.state))
        return {"outbox_depth": await outbox.pending_count(session),
                "reports": {state: count for state, count in reports}}


class DatabaseCollector(Collector):
    """The figures read from the database and the process. `collect` cannot wait for the
    database, so the handler reads those first (`counts`), then renders the registry."""

    def __init__(self, app: web.Application) -> None:
        self.app, self.application = app, app[BOT]
        self.counts: dict[str, dict[str, int]] | None = None

    def collect(self):
        up = GaugeMetricFamily("loa_database_up", "1 when the database answered this scrape's counts")
        up.add_metric([], 1 if self.counts is not None else 0)
        yield up
        if self.counts is not None:
            yield GaugeMetricFamily("loa_outbox_depth", "Outbox rows still to send (pending)",
                                    value=self.counts["outbox_depth"])
            reports = {**dict.fromkeys(REPORT_STATES, 0), **self.counts["reports"]}
            family = GaugeMetricFamily("loa_reports_by_state", "Reports by state", labels=["state"])
            for state, count in sorted(reports.items()):
                family.add_metric([state], count)
            yield family
        sender = context.sender(self.app)
        counters = sender.counters if sender is not None else Counters()
        family = CounterMetricFamily("loa_deliveries", "Outbox deliveries by outcome, as Telegram answered, "
                                     "since the process started", labels=["outcome"])
        for outcome in OUTCOMES:
            family.add_metric([outcome], getattr(counters, outcome))
        yield family
        processor = self.application.update_processor
        if hasattr(processor, "waiting"):
            yield GaugeMetricFamily("loa_updates_handling", "Updates being handled now", value=processor.handling)
            yield GaugeMetricFamily("loa_updates_waiting", "Updates waiting for a place to be handled",
                                    value=processor.waiting)
        db = self.app[DB]
        yield GaugeMetricFamily("loa_db_pool_size", "Database connections the sessions share", value=db.pool_size)
        yield GaugeMetricFamily("loa_db_sessions_waiting", "Database sessions waiting for a connection",
                                value=db.waiting)
        yield GaugeMetricFamily("loa_sender_leading", "1 when this instance sends the outbox",
                                value=1 if sender is not None and sender.leading else 0)
        stats = getattr(self.application.update_processor, "stats", None)
        age = stats.last_update_age() if stats is not None else None
        if age is not None:
            yield GaugeMetricFamily("loa_last_update_age_seconds",
                                    "Seconds since the bot last handled an update", value=age)


REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
COLLECTOR = web.AppKey("metrics_database", DatabaseCollector)


async def metrics(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            counts = await read_counts(request.app[DB])
    except Exception as error:
        log.warning("metrics_counts_failed %s", fields(error=type(error).__name__))
        counts = None
    # No await between setting the counts and rendering: a concurrent scrape cannot interleave.
    collector.counts = counts
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    application = app[BOT]
    registry = CollectorRegistry(auto_describe=False)
    stats = getattr(application.update_processor, "stats", None)
    if stats is not None:
        registry.register(stats.handled)
        registry.register(stats.latency)
    collector = DatabaseCollector(app)
    registry.register(collector)
    app[REGISTRY] = registry
    app[COLLECTOR] = collector
    app.router.add_get("/metrics", metrics)

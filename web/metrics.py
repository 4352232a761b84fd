"""GET /metrics in the Prometheus text format.

From the bot (bot/ordering.py), as it happens:
  loa_updates_handled_total{kind}          updates handled, by kind (message, callback_query, …)
  loa_update_handling_seconds              histogram of the time to handle one update
From the database, counted at each scrape:
  loa_deliveries_by_state{state}           outbox rows by state: pending, sent, failed, blocked,
                                           cancelled, expired
  loa_outbox_depth                         outbox rows still to send (state pending)
  loa_reports_by_state{state}              reports by state
  loa_database_up                          1 when those counts could be read, else 0 (and no counts)
From the bot and its database sessions, at each scrape (a storm shows here first):
  loa_updates_handling                     updates being handled now (at most LOA_UPDATES_IN_FLIGHT)
  loa_updates_waiting                      updates waiting for one of those places, in arrival order
  loa_db_pool_size                         LOA_DB_POOL_SIZE: the connections the sessions share
  loa_db_sessions_waiting                  sessions waiting for one of them, in arrival order
And:
  loa_sender_leading                       1 when this instance sends the outbox
  loa_last_update_age_seconds              seconds since the bot last handled an update (absent before)

Each web application has a registry of its own, so two in one process never collide.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from kernel.logs import fields
from storage.db import Database
from storage.models import Delivery, Report
from web import context
from web.keys import BOT, DB

log = logging.getLogger("loa.metrics")

DB_TIMEOUT = 5.0  # seconds the counts may take
DELIVERY_STATES = ("pending", "sent", "failed", "blocked", "cancelled", "expired")
REPORT_STATES = ("submitted", "assigned", "in_progress", "resolved", "closed", "rejected", "duplicate",
                 "reopened")


async def _by_state(session, column) -> dict[str, int]:
    rows = await session.execute(select(column, func.count()).group_by(column))
    return {state: count for state, count in rows}


async def read_counts(db: Database) -> dict[str, dict[str, int]]:
    async with db.read() as session:
        return {"deliveries": await _by_state(session, Delivery.state),
                "reports": await _by_state(session, Report.state)}


class DatabaseCollector(Collector):
    """The gauges counted in the database. `collect` cannot wait for the database, so the
    handler reads the counts first (`counts`), then renders the registry."""

    def __init__(self, app: web.Application) -> None:
        self.app, self.application = app, app[BOT]
        self.counts: dict[str, dict[str, int]] | None = None

    def collect(self):
        up = GaugeMetricFamily("loa_database_up", "1 when the database answered this scrape's counts")
        up.add_metric([], 1 if self.counts is not None else 0)
        yield up
        if self.counts is not None:
            deliveries = {**dict.fromkeys(DELIVERY_STATES, 0), **self.counts["deliveries"]}
            family = GaugeMetricFamily("loa_deliveries_by_state", "Outbox rows by state", labels=["state"])
            for state, count in sorted(deliveries.items()):
                family.add_metric([state], count)
            yield family
            yield GaugeMetricFamily("loa_outbox_depth", "Outbox rows still to send (pending)",
                                    value=deliveries["pending"])
            reports = {**dict.fromkeys(REPORT_STATES, 0), **self.counts["reports"]}
            family = GaugeMetricFamily("loa_reports_by_state", "Reports by state", labels=["state"])
            for state, count in sorted(reports.items()):
                family.add_metric([state], count)
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
        sender = context.sender(self.app)
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

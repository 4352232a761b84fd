"""Updates of one chat are handled one after another, in order; different chats run concurrently.

PTB offers all-sequential or all-concurrent; a resident tapping twice quickly must not have
the second tap overtake the first, while a thousand residents must not wait for each other.

At most `in_flight` updates (LOA_UPDATES_IN_FLIGHT) are handled at once; the others wait their
turn in the order they arrived. Under a storm the wait then grows evenly for everyone, instead
of hundreds of handlers competing for the database's connections, where some are overtaken again
and again (bench/webhook.py, docs/BENCHMARKS.md). An update takes its place only once its chat's
previous update is done, so one resident's burst of taps holds one place, not many.

With several instances on PostgreSQL (webhook mode), `claims` (storage/updates.py) carries the
order and the once-only across them: each update handled is marked done there, and `claims_job`
renews this instance's leases and takes over the updates of instances that died.

The processor also counts what it handles (`UpdateStats`), which /metrics and /healthz read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable

from prometheus_client import Counter, Histogram
from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor, ContextTypes

from kernel.logs import fields
from storage.updates import RENEW_S, UpdateClaims

log = logging.getLogger("loa.updates")

UPDATE_KINDS = ("message", "edited_message", "callback_query", "my_chat_member", "chat_member",
                "inline_query")
# Seconds; a handler answering one update takes a few milliseconds to a few seconds (photos).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def update_kind(update: object) -> str:
    """`message`, `callback_query`, … or `other`, for logs and metrics."""
    return next((k for k in UPDATE_KINDS if getattr(update, k, None)), "other")


class UpdateStats:
    """What the bot handled: a counter by kind, the handling time, and when it last finished one.

    The metrics belong to no registry: each web app registers them in its own (web/metrics.py),
    so two applications in one process (tests) never collide.
    """

    def __init__(self) -> None:
        self.handled = Counter("loa_updates_handled", "Updates the bot handled, by kind", ["kind"],
                               registry=None)
        self.latency = Histogram("loa_update_handling_seconds",
                                 "Time to handle one update, from its chat's turn to the handlers' end",
                                 buckets=LATENCY_BUCKETS, registry=None)
        self.last_handled_at: float | None = None  # time.monotonic()

    def record(self, update: object, seconds: float) -> None:
        self.handled.labels(kind=update_kind(update)).inc()
        self.latency.observe(seconds)
        self.last_handled_at = time.monotonic()

    def last_update_age(self) -> float | None:
        """Seconds since the last update was handled, None before the first."""
        return None if self.last_handled_at is None else time.monotonic() - self.last_handled_at


# PTB's own bound is taken before the chat's turn, so it only caps the updates waiting in all.
QUEUED = 100_000


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, in_flight: int = 64, claims: UpdateClaims | None = None) -> None:
        super().__init__(QUEUED)
        self.in_flight = in_flight
        self.claims = claims
        self._turns = asyncio.Semaphore(in_flight)  # FIFO
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self.stats = UpdateStats()

    @property
    def waiting(self) -> int:
        """Updates whose chat's turn came, waiting for a place (for /metrics)."""
        return len(self._turns._waiters or ())

    @property
    def handling(self) -> int:
        """Updates being handled now (for /metrics)."""
        return self.in_flight - self._turns._value

    async def do_process_update(self, update: object, coroutine: Awaitable) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._turns:
                await self._timed(update, coroutine)
            return
        lock, users = self._locks.get(chat.id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[chat.id] = (lock, users + 1)
        try:
            async with lock, self._turns:
                await self._timed(update, coroutine)
        finally:
            lock, users = self._locks[chat.id]
            if users == 1:
                del self._locks[chat.id]
            else:
                self._locks[chat.id] = (lock, users - 1)

    async def _timed(self, update: object, coroutine: Awaitable) -> None:
        started = time.perf_counter()
        try:
            await coroutine
        finally:
            self.stats.record(update, time.perf_counter() - started)
        if self.claims is not None and isinstance(update, Update):
            self.claims.done(update.update_id)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self.claims is not None:
            await self.claims.close()


async def claims_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Renew this instance's claims, and handle the updates whose instance's lease ran out."""
    application = context.application
    claims = application.update_processor.claims
    await claims.renew()
    for update_id, payload in await claims.recover():
        log.warning("update_recovered %s", fields(id=update_id))
        application.update_queue.put_nowait(Update.de_json(json.loads(payload), application.bot))


def add_jobs(application: Application) -> None:
    if getattr(application.update_processor, "claims", None) is not None:
        application.job_queue.run_repeating(claims_job, interval=RENEW_S, first=RENEW_S, name="update-claims",
                                            job_kwargs={"max_instances": 1, "coalesce": True,
                                                        "misfire_grace_time": None})

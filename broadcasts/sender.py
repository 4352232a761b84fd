"""The sender: takes due deliveries from the outbox and sends them at Telegram's pace.

One loop claims batches under a lease, a dispatcher keeps to the pace (at most 30 messages in any
sliding second by default, see `broadcasts.pacing`) and a second between two messages to the
same chat, and each message goes out as one pre-encoded POST on the aiohttp transport; outcomes
are written back in batches. A delivery held back past its lease is not sent: a later claim may
have taken it again. A stop writes every outcome before it returns.
PTB's Bot and RequestData are skipped on purpose: their per-call work costs more than the whole
send here (see docs/BENCHMARKS.md).

Telegram's answers: 429 pauses all sending for retry_after and the message is tried again
(the try not counted); 403 marks the resident blocked and drops their other deliveries; other
4xx fail the delivery with Telegram's reason; 5xx and timeouts are retried with exponential
backoff, `max_attempts` tries in all.

Only one sender runs at a time (see `broadcasts.leadership`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram.error import NetworkError, TimedOut

from broadcasts import lifecycle, outbox
from broadcasts.alerts import BLOCKED, CANCELLED, EXPIRED, FAILED, PENDING, SENT, Status
from broadcasts.outbox import Claimed, Outcome
from broadcasts.pacing import Pace
from broadcasts.render import render_alert
from kernel.logs import fields
from kernel.transport import AiohttpRequest
from storage.db import Database
from storage.models import Alert, Topic
from storage.types import utcnow

log = logging.getLogger("loa.sender")

PER_CHAT_INTERVAL = 1.0  # seconds between two messages to one private chat
MAX_BACKOFF = 300
# Outcomes are written every FLUSH_SECONDS, or as soon as FLUSH_BATCH of them wait. Sent
# messages whose outcome is not yet written are sent again after a crash, so these bound the
# duplicates (see tests/test_resilience.py).
FLUSH_SECONDS = 0.25
FLUSH_BATCH = 100
# The part of a lease kept for the answer of the last message sent under it and the write of
# its outcome (15 s of the default 60: the transport's read timeout is 10 s).
LEASE_MARGIN = 0.25
# A stop tries this long to write the last outcomes (a database that went away for a moment).
FINAL_FLUSH_TRIES = (0.5, 1, 2, 4)


@dataclass
class Counters:
    """Outcomes of deliveries since the counters were made, counted as Telegram answers (before
    the outcome is written): what /metrics reports without counting the outbox."""

    sent: int = 0
    failed: int = 0
    blocked: int = 0
    expired: int = 0
    retried: int = 0
    throttled: int = 0  # 429 answers
    lease_expired: int = 0  # claimed but held back past their lease: left to a later claim

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Prepared:
    delivery: Claimed
    method: str
    body: bytes


@dataclass
class _AlertInfo:
    alert: Alert
    topic: Topic
    replaced: Alert | None
    rendered: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # language -> (method, tail)


def _form_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


class Sender:
    def __init__(
        self,
        db: Database,
        *,
        token: str,
        api_url: str = "https://api.telegram.org",
        tz: ZoneInfo,
        rate: float = 30,
        paid_broadcast: bool = False,
        concurrency: int = 64,
        batch_size: int | None = None,
        lease_seconds: int = 60,
        max_attempts: int = 5,
        retry_base: float = 2.0,
        idle_poll: float = 1.0,
        request: AiohttpRequest | None = None,
        counters: Counters | None = None,
    ) -> None:
        self.db = db
        self.tz = tz
        self.base = f"{api_url}/bot{token}/"
        self.pace = Pace(rate) if rate != float("inf") else None
        self.paid_broadcast = paid_broadcast
        self.concurrency = concurrency
        # Half a second's worth (100 at least), well within its lease at a slow rate too: the
        # claim of a bigger batch held PostgreSQL and the event loop long enough to show in the
        # webhook intake's latency (2,000 rows claimed in 0.5 to 1 s beside it).
        self.batch_size = batch_size or max(1, int(min(max(rate / 2, 100), 2000, rate * lease_seconds / 3)))
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.retry_base = retry_base  # seconds before the first retry, doubled for each next one
        self.idle_poll = idle_poll
        self.request = request or AiohttpRequest(connection_pool_size=concurrency, read_timeout=10)
        # What this sender's deliveries came to; a service passes one that outlives its senders.
        self.counters = counters if counters is not None else Counters()
        self.wake = asyncio.Event()  # set to look at the outbox now (a compose just happened)
        self._alerts: dict[int, _AlertInfo] = {}
        self._last_sent: dict[int, float] = {}
        self._recent: deque[tuple[float, int]] = deque()
        self._outcomes: list[Outcome] = []
        self._in_flight: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._flush_soon = asyncio.Event()

    # ------------------------------------------------------------------ main loop

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; outcomes of messages in flight are written before returning.

        Only the elected sender may run this (see `broadcasts.leadership`): it starts by freeing
        every lease, which only a dead sender can have left.
        """
        await self.request.initialize()
        async with self.db.transaction() as session:
            released = await outbox.release_leases(session)
            # The sender before this one (a restart, a failover) may have sent up to the limit
            # in the last second; Telegram still counts those.
            if self.pace is not None:
                self.pace.assume_sent(await outbox.done_since(session, int(time.time()) - 1))
        if released:
            log.info("took over %s", fields(leased_deliveries=released))
        closing = asyncio.Event()
        flusher = asyncio.create_task(self._flush_every(FLUSH_SECONDS, closing))
        self.wake.clear()
        claiming = asyncio.create_task(self._claim())
        try:
            while not stop.is_set():
                usable_until, batch = await claiming
                if not batch:
                    await self._finish_alerts()
                    await self._idle(stop)
                    self.wake.clear()
                    claiming = asyncio.create_task(self._claim())
                    continue
                # The next batch is claimed while this one goes out, so a slow claim never
                # leaves the pace idle.
                claiming = asyncio.create_task(self._claim())
                for prepared in await self._prepare(batch):
                    if stop.is_set():
                        self._release(prepared.delivery)
                        continue
                    await self._dispatch(prepared, usable_until)
        finally:
            for delivery in await _claimed_or_nothing(claiming):
                self._release(delivery)
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            # The flusher finishes the write it may be in the middle of: cancelled there, it
            # would lose the outcomes it holds, and those messages would be sent again.
            closing.set()
            self._flush_soon.set()
            await flusher
            await self._flush_before_stop()
            await self._finish_alerts()
            await self.request.shutdown()

    async def drain(self, horizon: float = 1.0) -> Counters:
        """Send until nothing pending is due within `horizon` seconds, then return (for scripts,
        tests and benchmarks)."""
        stop = asyncio.Event()

        async def watch() -> None:
            while True:
                await asyncio.sleep(0.2)
                async with self.db.read() as session:
                    due = await outbox.next_due(session)
                if due is None or due > time.time() + horizon:
                    if not self._in_flight:
                        stop.set()
                        return

        watcher = asyncio.create_task(watch())
        await self.run(stop)
        watcher.cancel()
        return self.counters

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        done, pending = await asyncio.wait(waits, timeout=self.idle_poll, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def _claim(self) -> tuple[float, list[Claimed]]:
        """A batch, and until when (monotonic) its deliveries may still be sent: the lease, less
        the time an answer and the write of its outcome may take. After that a claim (the
        next one of this sender) may take them again: they are left to it, untouched."""
        usable_until = time.monotonic() + self.lease_seconds * (1 - LEASE_MARGIN)
        async with self.db.transaction() as session:
            await outbox.without_waiting_for_disk(session)
            return usable_until, await outbox.claim(session, self.batch_size, self.lease_seconds)

    # ------------------------------------------------------------------ rendering

    async def _prepare(self, batch: list[Claimed]) -> list[_Prepared]:
        await self._load_alerts({d.alert_id for d in batch if d.alert_id is not None})
        prepared: list[_Prepared] = []
        now = utcnow()
        for delivery in batch:
            if delivery.alert_id is None:
                payload = delivery.payload or {}
                params = {"chat_id": delivery.chat_id, **payload.get("params", {})}
                body = urlencode({k: _form_value(v) for k, v in params.items() if v is not None}).encode()
                prepared.append(_Prepared(delivery, payload.get("method", "sendMessage"), body))
                continue
            info = self._alerts[delivery.alert_id]
            if info.alert.status == Status.CANCELLED:
                self._outcomes.append(Outcome(delivery.id, CANCELLED))
                continue
            if lifecycle.expired(info.alert, now):
                self._outcomes.append(Outcome(delivery.id, EXPIRED))
                self.counters.expired += 1
                continue
            method, tail = self._rendered(info, delivery.language)
            prepared.append(_Prepared(delivery, method, b"chat_id=%d&" % delivery.chat_id + tail))
        return prepared

    async def _load_alerts(self, ids: set[int]) -> None:
        """Alerts of the batch, their status refreshed (a cancel takes effect within a batch)."""
        if not ids:
            return
        async with self.db.read() as session:
            alerts = (await session.execute(select(Alert).where(Alert.id.in_(ids)))).scalars().all()
            for alert in alerts:
                info = self._alerts.get(alert.id)
                if info is not None:
                    info.alert.status = alert.status
                    continue
                topic = await session.get(Topic, alert.topic_code)
                replaced = await session.get(Alert, alert.replaces_id) if alert.replaces_id else None
                self._alerts[alert.id] = _AlertInfo(alert, topic, replaced)

    def _rendered(self, info: _AlertInfo, language: str) -> tuple[str, bytes]:
        cached = info.rendered.get(language)
        if cached is None:
            message = render_alert(info.alert, info.topic, language, tz=self.tz, replaced=info.replaced)
            params: dict = {"parse_mode": "HTML"}
            if message.photo:
                method = "sendPhoto"
                params.update(photo=message.photo, caption=message.text)
            else:
                method = "sendMessage"
                params.update(text=message.text, link_preview_options='{"is_disabled":true}')
            if self.paid_broadcast or info.alert.paid_broadcast:
                params["allow_paid_broadcast"] = "true"
            cached = info.rendered[language] = (method, urlencode(params).encode())
        return cached

    # ------------------------------------------------------------------ sending

    async def _dispatch(self, prepared: _Prepared, usable_until: float) -> None:
        chat = prepared.delivery.chat_id
        now = time.monotonic()
        if now >= usable_until:
            self.counters.lease_expired += 1
            return
        last = self._last_sent.get(chat)
        if last is not None and now - last < PER_CHAT_INTERVAL:
            # Too soon for this chat: give it back to the outbox, due in a second.
            self._outcomes.append(Outcome(prepared.delivery.id, PENDING, retry_at=int(time.time()) + 1,
                                          refund_attempt=True))
            return
        if self.pace is not None:
            await self.pace.take()
        await self._slots.acquire()
        now = time.monotonic()
        if now >= usable_until:  # the pace held it back (a 429's pause) past its lease
            self._slots.release()
            if self.pace is not None:
                self.pace.give_back()
            self.counters.lease_expired += 1
            return
        self._last_sent[chat] = now
        self._recent.append((now, chat))
        while self._recent and now - self._recent[0][0] > PER_CHAT_INTERVAL:
            _, old = self._recent.popleft()
            if now - self._last_sent.get(old, now) > PER_CHAT_INTERVAL:
                del self._last_sent[old]
        task = asyncio.create_task(self._send(prepared))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send(self, prepared: _Prepared) -> None:
        delivery = prepared.delivery
        try:
            try:
                status, raw = await self.request.post_form(self.base + prepared.method, prepared.body)
            except (TimedOut, NetworkError) as error:
                self._outcomes.append(self._retry(delivery, f"network: {type(error).__name__}"))
                return
            finally:
                if self.pace is not None:
                    self.pace.done()
            self._outcomes.append(self._outcome(delivery, status, raw))
            if len(self._outcomes) >= FLUSH_BATCH:
                self._flush_soon.set()
        finally:
            self._slots.release()

    def _outcome(self, delivery: Claimed, status: int, raw: bytes) -> Outcome:
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {}
        if status == 200 and answer.get("ok"):
            self.counters.sent += 1
            result = answer.get("result") or {}
            return Outcome(delivery.id, SENT, message_id=result.get("message_id"))
        description = str(answer.get("description") or f"HTTP {status}")
        if status == 429:
            retry_after = float((answer.get("parameters") or {}).get("retry_after") or 1)
            self.counters.throttled += 1
            if self.pace is not None:
                self.pace.pause(retry_after)
            return Outcome(delivery.id, PENDING, error=description, refund_attempt=True,
                           retry_at=int(time.time() + retry_after))
        if status == 403:
            self.counters.blocked += 1
            return Outcome(delivery.id, BLOCKED, error=description, chat_id=delivery.chat_id)
        if 400 <= status < 500:
            self.counters.failed += 1
            return Outcome(delivery.id, FAILED, error=description)
        return self._retry(delivery, description)

    def _retry(self, delivery: Claimed, reason: str) -> Outcome:
        if delivery.attempts >= self.max_attempts:
            self.counters.failed += 1
            return Outcome(delivery.id, FAILED, error=f"gave up after {delivery.attempts} tries: {reason}")
        self.counters.retried += 1
        backoff = min(self.retry_base * 2 ** (delivery.attempts - 1), MAX_BACKOFF)
        return Outcome(delivery.id, PENDING, error=reason, retry_at=round(time.time() + backoff))

    def _release(self, delivery: Claimed) -> None:
        self._outcomes.append(Outcome(delivery.id, PENDING, retry_at=int(time.time()), refund_attempt=True))

    # ------------------------------------------------------------------ writing outcomes

    async def _flush_every(self, seconds: float, closing: asyncio.Event) -> None:
        while not closing.is_set():
            try:
                await asyncio.wait_for(self._flush_soon.wait(), seconds)
            except TimeoutError:
                pass
            self._flush_soon.clear()
            try:
                await self._flush()
            except Exception:
                log.exception("flush_failed")

    async def _flush(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        try:
            async with self.db.transaction() as session:
                await outbox.without_waiting_for_disk(session)
                await outbox.record(session, outcomes)
        except BaseException:
            self._outcomes[:0] = outcomes  # try again at the next flush; the leases hold meanwhile
            raise

    async def _flush_before_stop(self) -> None:
        """The last outcomes, written before a stop returns: a few tries if the database fails."""
        for delay in (*FINAL_FLUSH_TRIES, None):
            try:
                await self._flush()
                return
            except Exception:
                if delay is None:
                    log.exception("outcomes_lost %s", fields(outcomes=len(self._outcomes)))
                    return
                log.warning("final_flush_failed %s", fields(retry_in=delay), exc_info=True)
                await asyncio.sleep(delay)

    async def _finish_alerts(self) -> None:
        """Alerts being sent that have nothing left to send are done."""
        async with self.db.transaction() as session:
            finished = await lifecycle.finish_sent(session)
        for alert_id in finished:
            log.info("alert_done %s", fields(alert=alert_id, **self.counters.as_dict()))
            self._alerts.pop(alert_id, None)


async def _claimed_or_nothing(claiming: asyncio.Task) -> list[Claimed]:
    """The batch a claim in progress got (to hand back at a stop), or nothing if it failed."""
    try:
        return (await claiming)[1]
    except Exception:
        return []


def from_settings(db: Database, settings, **overrides) -> Sender:
    return Sender(db, token=settings.token, api_url=settings.telegram_api_url, tz=settings.tz,
                  rate=settings.send_rate, paid_broadcast=settings.paid_broadcast, **overrides)


__all__ = ["Counters", "Sender", "from_settings", "BLOCKED", "FAILED", "SENT"]

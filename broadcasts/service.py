"""The sender as a background service of the running bot: elected, restarted if it fails."""

from __future__ import annotations

import asyncio
import logging

from broadcasts import lifecycle
from broadcasts import sender as sending
from broadcasts.leadership import leadership, sleep_or_stop
from kernel.logs import fields
from kernel.settings import Settings
from storage.db import Database

log = logging.getLogger("loa.sender")

RESTART_DELAY = 5.0


class SenderService:
    def __init__(self, db: Database, settings: Settings, **sender_options) -> None:
        self.db = db
        self.settings = settings
        self.options = sender_options
        self.sender: sending.Sender | None = None
        # Since the process started, across the senders of each leadership (web/metrics.py).
        self.counters = sending.Counters()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def leading(self) -> bool:
        return self.sender is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Something was just put in the outbox: look now rather than at the next poll."""
        if self.sender is not None:
            self.sender.wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._serve(), name="loa-sender")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                async with leadership(self.db, self._stop) as lost:
                    if lost is None:
                        return
                    await self._send_until(lost)
            except Exception:
                log.exception("sender_failed")
                await sleep_or_stop(self._stop, RESTART_DELAY)

    async def _send_until(self, lost: asyncio.Event) -> None:
        stop = asyncio.Event()
        self.sender = sending.from_settings(self.db, self.settings, counters=self.counters, **self.options)

        async def relay() -> None:
            waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(lost.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            stop.set()

        relaying = asyncio.create_task(relay())
        resuming = asyncio.create_task(self._resume_composing())
        try:
            await self.sender.run(stop)
        finally:
            relaying.cancel()
            resuming.cancel()
            self.sender = None

    async def _resume_composing(self) -> None:
        try:
            resumed = await lifecycle.resume_composing(self.db, tz=self.settings.tz, on_slice=self.wake)
        except Exception:
            log.exception("resume_composing_failed")
            return
        if resumed:
            log.info("resumed composing %s", fields(alerts=",".join(map(str, resumed))))

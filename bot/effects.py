"""The one place where a write's effects (kernel/effects.py) are carried out, for every adapter:
the bot's handlers and jobs, the dashboard, the API, the CAP ingest, Open311."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from broadcasts import lifecycle
from kernel.effects import Effects
from kernel.settings import Settings
from storage.db import Database

log = logging.getLogger("loa.effects")


class EffectRunner:
    """Wakes the sender, composes alerts in the background, asks for the staff cards' sync."""

    def __init__(self, db: Database, settings: Settings, *, wake: Callable[[], None],
                 sync_cards: Callable[[], None]) -> None:
        self.db, self.settings = db, settings
        self._wake, self._sync_cards = wake, sync_cards
        self._composing: set[asyncio.Task] = set()

    def carry_out(self, effects: Effects) -> None:
        """Never raises: the write has committed, so its adapter must answer as done; what fails
        here is done anyway by the periodic work (the sender polls the outbox, the cards' job runs
        every few seconds, the sender's start-up resumes composing)."""
        try:
            if effects.wake_sender:
                self._wake()
            for alert_id in sorted(effects.compose):
                task = asyncio.create_task(self._compose(alert_id), name=f"loa-compose-{alert_id}")
                self._composing.add(task)
                task.add_done_callback(self._composing.discard)
            if effects.cards:
                self._sync_cards()
        except Exception:
            log.exception("effects_failed %s", effects)

    async def _compose(self, alert_id: int) -> None:
        """Write the alert's deliveries, waking the sender after each slice; a crash here is
        picked up again by the sender's start-up (lifecycle.resume_composing)."""
        try:
            await lifecycle.compose_all(self.db, alert_id, tz=self.settings.tz, on_slice=self._wake)
        except Exception:
            log.exception("compose_failed alert=%s", alert_id)

"""What must happen after a write has committed, as plain data.

A domain write (a report's transition, an alert sent or cancelled) returns an `Effects`; the adapter
that called it hands it, unchanged, to the composition root's runner (`bot/effects.py`), which
carries it out the same way for the bot, the dashboard, the API, Open311 and the CLI. So no adapter
decides for itself whom to wake or which cards to redraw."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Effects:
    wake_sender: bool = False  # messages were queued in the outbox
    compose: frozenset[int] = field(default_factory=frozenset)  # alerts whose deliveries are still to be written
    cards: bool = False  # the staff's report cards must be posted or redrawn

    def __or__(self, other: Effects) -> Effects:
        return Effects(wake_sender=self.wake_sender or other.wake_sender,
                       compose=self.compose | other.compose,
                       cards=self.cards or other.cards)

    def __bool__(self) -> bool:
        return self.wake_sender or bool(self.compose) or self.cards


NOTHING = Effects()

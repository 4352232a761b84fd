"""How far an alert's sending got, in figures a person reads: counts in the reader's number
format, and the time the rest will take at the send rate. No Telegram types."""

from __future__ import annotations

import math
from dataclasses import dataclass

from broadcasts.alerts import Progress, Status
from kernel.formats import number


def eta_seconds(progress: Progress, rate: float) -> int:
    """Seconds until the deliveries due now are sent, at `rate` messages a second."""
    if progress.remaining <= 0 or rate <= 0:
        return 0
    return math.ceil(progress.remaining / rate)


def duration_parts(seconds: int) -> tuple[int, int, int]:
    """(hours, minutes, seconds)."""
    return seconds // 3600, seconds % 3600 // 60, seconds % 60


@dataclass(frozen=True)
class Figures:
    """What a progress message shows, formatted for one language."""

    total: str
    sent: str
    failed: str
    blocked: str
    cancelled: str
    expired: str
    waiting: str
    remaining: str
    eta: tuple[int, int, int]
    finished: bool
    stopped: bool


def figures(progress: Progress, status: str, rate: float, language: str) -> Figures:
    n = lambda value: number(value, language)  # noqa: E731
    return Figures(
        total=n(progress.total), sent=n(progress.sent), failed=n(progress.failed), blocked=n(progress.blocked),
        cancelled=n(progress.cancelled), expired=n(progress.expired), waiting=n(progress.waiting_quiet_hours),
        remaining=n(progress.remaining), eta=duration_parts(eta_seconds(progress, rate)),
        finished=status in (Status.DONE, Status.CANCELLED), stopped=status == Status.CANCELLED,
    )

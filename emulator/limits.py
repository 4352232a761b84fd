"""Telegram's size facts and flood limits.

Sizes always apply. The flood limits, per bot token: at most 30 messages in any sliding second
across all chats (1,000 with allow_paid_broadcast), as a strict server counts them, so a sender
whose pace jitters over the limit for a moment is refused; one a second per private chat with
short bursts tolerated and 20 a minute per group (token buckets). Over a limit the answer is 429
with `retry_after`, the whole seconds until the message would be accepted.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

TEXT_MAX = 4096
CAPTION_MAX = 1024
CALLBACK_DATA_MAX = 64
MEDIA_GROUP_MIN = 2
MEDIA_GROUP_MAX = 10
PHOTO_UPLOAD_MAX = 10 * 1024 * 1024
PHOTO_URL_MAX = 5 * 1024 * 1024
DOCUMENT_UPLOAD_MAX = 50 * 1024 * 1024
DOWNLOAD_MAX = 20 * 1024 * 1024
REQUEST_MAX = DOCUMENT_UPLOAD_MAX + 1024 * 1024
PHOTO_DIMENSIONS_MAX = 10000  # width + height
PHOTO_RATIO_MAX = 20
INLINE_BUTTONS_MAX = 100
COMMANDS_MAX = 100
COMMAND_DESCRIPTION_MAX = 256
CALLBACK_ANSWER_TIMEOUT = 15.0  # seconds a callback query stays answerable
LONG_POLL_MAX = 50


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, count: float) -> float:
        """Seconds until `count` tokens are available (0 if they are now); call refill first."""
        missing = count - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.rate  # a hair of slack for float sums

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.updated) * self.rate >= self.burst


class SlidingWindow:
    """At most `limit` messages in any `period` seconds: the times of the messages accepted in
    the last period are kept."""

    __slots__ = ("limit", "period", "times")

    def __init__(self, limit: float, period: float = 1.0):
        self.limit = int(limit)
        self.period = period
        self.times: deque[float] = deque()

    def refill(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()

    def room(self) -> int:
        """Messages accepted now (call refill first)."""
        return self.limit - len(self.times)

    def wait(self, count: int, now: float) -> float:
        """Seconds until `count` more messages fit (0 if they do now); call refill first."""
        over = len(self.times) + count - self.limit
        return 0.0 if over <= 0 else self.times[over - 1] + self.period - now

    def take(self, count: int, now: float) -> None:
        self.times.extend([now] * count)


class Limits:
    """Flood limits per bot token; `Limits(rate_limits=False)` or `Limits.off()` lifts them.

    `clock` (seconds, monotonic) is injectable so tests can move time instead of sleeping.
    """

    def __init__(
        self,
        rate_limits: bool = True,
        *,
        clock: Callable[[], float] = time.monotonic,
        global_per_second: float = 30,  # in any sliding second
        paid_per_second: float = 1000,
        private_per_second: float = 1,
        private_burst: float = 3,
        group_per_minute: float = 20,
        group_burst: float = 20,
        callback_answer_timeout: float | None = CALLBACK_ANSWER_TIMEOUT,
    ):
        self.rate_limits = rate_limits
        self.clock = clock
        self.global_per_second = global_per_second
        self.paid_per_second = paid_per_second
        self.private_per_second = private_per_second
        self.private_burst = private_burst
        self.group_per_minute = group_per_minute
        self.group_burst = group_burst
        self.callback_answer_timeout = callback_answer_timeout
        self.paid_messages = 0  # paid broadcast messages over the free 30/s, billed 0.1 Stars each
        self._global: dict[str, SlidingWindow] = {}
        self._paid: dict[str, SlidingWindow] = {}
        self._chats: dict[tuple[str, int], TokenBucket] = {}
        self._takes = 0

    @classmethod
    def off(cls, **options) -> Limits:
        return cls(rate_limits=False, **options)

    def _bucket(self, buckets: dict, key, rate: float, burst: float, now: float) -> TokenBucket:
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(rate, burst, now)
        else:
            bucket.refill(now)
        return bucket

    @staticmethod
    def _window(windows: dict, key, limit: float, now: float) -> SlidingWindow:
        window = windows.get(key)
        if window is None:
            window = windows[key] = SlidingWindow(limit)
        window.refill(now)
        return window

    def retry_after(self, token: str, chat_id: int, private: bool, count: int = 1, paid: bool = False) -> int:
        """Take `count` message slots for a send to `chat_id`: 0 if accepted, else whole seconds
        to wait (nothing is taken then)."""
        if not self.rate_limits:
            return 0
        now = self.clock()
        if private:
            chat = self._bucket(self._chats, (token, chat_id), self.private_per_second, self.private_burst, now)
        else:
            chat = self._bucket(self._chats, (token, chat_id), self.group_per_minute / 60, self.group_burst, now)
        free = self._window(self._global, token, self.global_per_second, now)
        cross = self._window(self._paid, token, self.paid_per_second, now) if paid else free
        # An album counts as all its items, but it needs no more than a full bucket to go out
        # (a 10-photo album reaches a private chat); the bucket then goes into debt.
        wait = max(chat.wait(min(count, chat.burst)), cross.wait(min(count, cross.limit), now))
        if wait > 0:
            return max(1, math.ceil(wait))
        chat.tokens -= count
        cross.take(count, now)
        if paid:
            # Paid messages use the free allowance while it lasts; the rest is billed.
            covered = min(count, max(0, free.room()))
            free.take(covered, now)
            self.paid_messages += count - covered
        self._takes += 1
        if self._takes % 10000 == 0:
            self._forget_idle_chats(now)
        return 0

    def _forget_idle_chats(self, now: float) -> None:
        """A full bucket behaves like a new one: drop those so memory follows the active chats."""
        for key in [key for key, bucket in self._chats.items() if bucket.full(now)]:
            del self._chats[key]

    def callback_expired(self, created: float) -> bool:
        timeout = self.callback_answer_timeout
        return timeout is not None and self.clock() - created > timeout

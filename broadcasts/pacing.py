"""The sender's pace: never more than Telegram's limit in any sliding second, as a strict server
counts them.

A server counts a message when it receives it, some time between our sending it and its answer
reaching us. Two messages sent exactly a second apart can therefore reach the server less than a
second apart when the first was slowed on the way (a busy event loop, a paused process, the
network), and a pace of exactly 30 a second then puts 31 into one of the server's seconds: a 429,
and everything waits for retry_after. So the window here counts each message from the moment of
its answer, the latest the server can have counted it (a message without an answer yet counts
as now): a new message goes only when fewer than `limit` answers arrived in the last second and
fewer are in flight. That holds whatever the jitter; its price is the round trip, a pace of
limit / (1 s + round trip) at most. Sends are also spread by a token bucket at `rate` that saves
up a few (BURST, or BURST_SECONDS' worth at a high rate), so they do not go out in bursts of 30,
yet catch up after a slow answer held the window back, or a busy event loop woke the sender late:
at 1,000 a second a bucket of 3 lost every send a wake-up more than 3 ms late would have made,
and the sender kept 700 to 800 a second beside the webhook intake (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

BURST = 3.0
BURST_SECONDS = 0.05  # at 1,000 a second, 50: what a wake-up 50 ms late makes up for


class Pace:
    """At most `rate` messages in any sliding second (for a rate under 1, one per 1/rate
    seconds); `take` before a send, `done` when its answer (or its failure) arrives; `pause`
    stops everything for a while (a 429's retry_after)."""

    def __init__(self, rate: float, clock=time.monotonic) -> None:
        if rate >= 1:
            self.limit, self.period = math.floor(rate), 1.0
        else:
            self.limit, self.period = 1, 1 / rate
        self.rate = rate
        self.burst = min(max(BURST, rate * BURST_SECONDS), max(1.0, float(self.limit)))
        self.tokens = 1.0
        self.clock = clock
        self.updated = clock()
        self.answered: deque[float] = deque()  # answer times within the last period
        self.in_flight = 0
        self.paused_until = 0.0
        self._answer = asyncio.Event()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)
        self.tokens, self.updated = 0.0, self.paused_until  # nothing saved up over the pause

    async def take(self) -> None:
        while True:
            now = self.clock()
            answered = self.answered
            while answered and answered[0] <= now - self.period:
                answered.popleft()
            if now < self.paused_until:
                await asyncio.sleep(self.paused_until - now)
                continue
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1.0:
                await asyncio.sleep((1.0 - self.tokens) / self.rate)
            elif len(answered) + self.in_flight >= self.limit:
                if answered:  # an answer only moves a send from in flight to the window
                    await asyncio.sleep(answered[0] + self.period - now)
                else:  # all in flight: the window's clock starts at the first answer
                    self._answer.clear()
                    await self._answer.wait()
            else:
                self.tokens -= 1.0
                self.in_flight += 1
                return

    def assume_sent(self, count: int) -> None:
        """`count` messages sent by someone else (the sender before this one) may still be in
        the server's window: count them as answered now."""
        now = self.clock()
        self.answered.extend([now] * min(count, self.limit))

    def give_back(self) -> None:
        """A taken send that did not go out after all."""
        self.in_flight -= 1
        self.tokens = min(self.burst, self.tokens + 1.0)

    def done(self) -> None:
        self.in_flight -= 1
        self.answered.append(self.clock())
        self._answer.set()

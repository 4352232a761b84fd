"""Injected faults: a seeded fraction of requests answer 429 or 500, or hang so the client times
out; optional latency on every request. Mutable while the emulator runs. A faulted request is
not processed: it changes no state."""

from __future__ import annotations

import random
from collections import Counter

DEFAULT_METHODS = frozenset({
    "sendmessage", "sendphoto", "sendmediagroup", "sendlocation", "senddocument",
    "editmessagetext", "editmessagecaption", "editmessagereplymarkup",
})


class Faults:
    def __init__(
        self,
        rate_429: float = 0.0,
        rate_500: float = 0.0,
        rate_timeout: float = 0.0,
        *,
        timeout_hang: float = 30.0,
        latency: float = 0.0,
        methods: frozenset[str] | set[str] | None = None,
        seed: int | None = 0,
        retry_after: int = 1,
    ):
        self.rate_429 = rate_429
        self.rate_500 = rate_500
        self.rate_timeout = rate_timeout
        self.timeout_hang = timeout_hang
        self.latency = latency
        self.retry_after = retry_after
        self.methods = methods if methods is not None else DEFAULT_METHODS
        self.injected: Counter[str] = Counter()
        self.seed(seed)

    @property
    def methods(self) -> frozenset[str]:
        return self._methods

    @methods.setter
    def methods(self, names) -> None:
        self._methods = frozenset(name.lower() for name in names)

    def seed(self, seed: int | None) -> None:
        self._random = random.Random(seed)

    @property
    def active(self) -> bool:
        return bool(self.rate_429 or self.rate_500 or self.rate_timeout or self.latency)

    def pick(self, method: str) -> str | None:
        """The fault for one request to `method` (lower case): "429", "500", "timeout" or None."""
        if method not in self._methods or not (self.rate_429 or self.rate_500 or self.rate_timeout):
            return None
        draw = self._random.random()
        fault = None
        if draw < self.rate_429:
            fault = "429"
        elif draw < self.rate_429 + self.rate_500:
            fault = "500"
        elif draw < self.rate_429 + self.rate_500 + self.rate_timeout:
            fault = "timeout"
        if fault:
            self.injected[fault] += 1
        return fault

    def clear(self) -> None:
        self.rate_429 = self.rate_500 = self.rate_timeout = self.latency = 0.0

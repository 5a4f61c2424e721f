"""A per-client token bucket on starting checkouts, and the wait it asks for, said in words."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED_CLIENTS = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`per_minute` requests per client, refilled continuously, bursting up to `per_minute`."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, client: str) -> float:
        """Take one token; return 0 when allowed, else the seconds until the next token."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CLIENTS:
                self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(self.capacity, now)
        bucket.tokens = min(
            self.capacity, bucket.tokens + (now - bucket.updated) * self.refill_per_second
        )
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.refill_per_second

    def _forget_idle(self, now: float) -> None:
        # A client whose bucket would be full again is indistinguishable from a new one.
        full_after = self.capacity / self.refill_per_second
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < full_after}


class TooManyAttempts(Exception):
    """A client started too many checkouts lately; `retry_after_s` is when the next one may start."""

    def __init__(self, wait_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(wait_s))
        self.message = (
            "Too many payment attempts from your connection. "
            f"Try again in {wait_in_words(self.retry_after_s)}."
        )
        super().__init__(self.message)


def wait_in_words(seconds: int) -> str:
    """'1 second', '45 seconds', '2 minutes': rounded up, so waiting that long is always enough."""
    if seconds < 60:
        count, unit = seconds, "second"
    else:
        count, unit = math.ceil(seconds / 60), "minute"
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"

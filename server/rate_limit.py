"""A per-client token bucket on checkout creation, answering 429 with Retry-After."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

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


class TooManyRequests(web.HTTPTooManyRequests):
    """429 with Retry-After; the error middleware renders it as a page or JSON."""


def setup_rate_limit(
    app: web.Application, limiter: RateLimiter, *, routes: Collection[str]
) -> None:
    """Apply `limiter` to the named routes of `app`, keyed by the client's address."""

    @web.middleware
    async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.match_info.route.name in routes:
            wait = limiter.acquire(request.remote or "unknown")
            if wait:
                seconds = math.ceil(wait)
                raise TooManyRequests(
                    headers={"Retry-After": str(seconds)},
                    text=f"Too many payment attempts from your connection. Try again in {seconds} seconds.",
                )
        return await handler(request)

    app.middlewares.append(rate_limit_middleware)

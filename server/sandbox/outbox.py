"""Webhook deliveries (one event to one endpoint) waiting for their time: first attempts, retries, duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from dataclasses import dataclass, field


@dataclass(order=True, frozen=True)
class Delivery:
    due: float
    sequence: int
    event_id: str = field(compare=False)
    endpoint_id: str = field(compare=False)
    # A duplicate re-sends a delivered event, as Stripe occasionally does; it is never retried.
    duplicate: bool = field(default=False, compare=False)
    # Seconds after this delivery succeeds that its duplicate follows; None: no duplicate.
    duplicate_delay: float | None = field(default=None, compare=False)


class Outbox:
    def __init__(self) -> None:
        self._heap: list[Delivery] = []
        self._sequence = itertools.count()
        self._changed = asyncio.Event()

    def put(
        self,
        event_id: str,
        endpoint_id: str,
        *,
        delay: float = 0.0,
        duplicate: bool = False,
        duplicate_delay: float | None = None,
    ) -> None:
        delivery = Delivery(
            time.time() + delay,
            next(self._sequence),
            event_id,
            endpoint_id,
            duplicate,
            duplicate_delay,
        )
        heapq.heappush(self._heap, delivery)
        self._changed.set()

    def pop_due(self, now: float) -> list[Delivery]:
        """Every delivery due by `now`, in the order they came due (then were queued)."""
        due: list[Delivery] = []
        while self._heap and self._heap[0].due <= now:
            due.append(heapq.heappop(self._heap))
        return due

    def waiting(self) -> list[Delivery]:
        return sorted(self._heap)

    async def wait(self, max_wait: float) -> None:
        """Return when something new was queued, when the next delivery is due, or after max_wait."""
        self._changed.clear()
        timeout = max_wait
        if self._heap:
            timeout = min(max(self._heap[0].due - time.time(), 0.0), max_wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout=timeout)

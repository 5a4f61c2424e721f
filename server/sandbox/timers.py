"""Delayed jobs (session expiry, bank debit outcomes, disputes), run by one background task."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# The runner re-checks at least this often, so no wait is unbounded.
_MAX_SLEEP = 30.0


@dataclass(order=True)
class _Job:
    due: float
    sequence: int
    name: str = field(compare=False)
    action: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Timers:
    """A heap of jobs; actions are plain synchronous functions, so each runs to completion."""

    def __init__(self) -> None:
        self._heap: list[_Job] = []
        self._sequence = itertools.count()
        self._changed = asyncio.Event()

    def call_at(self, due: float, name: str, action: Callable[[], object]) -> _Job:
        job = _Job(due, next(self._sequence), name, action)
        heapq.heappush(self._heap, job)
        self._changed.set()
        return job

    def call_later(self, delay: float, name: str, action: Callable[[], object]) -> _Job:
        return self.call_at(time.time() + delay, name, action)

    @staticmethod
    def cancel(job: _Job) -> None:
        job.cancelled = True

    def pending(self) -> list[tuple[float, str]]:
        return sorted((job.due, job.name) for job in self._heap if not job.cancelled)

    def run_due(self, now: float) -> int:
        """Run every job due by `now`, including jobs those jobs schedule; returns how many ran."""
        ran = 0
        while self._heap and self._heap[0].due <= now:
            job = heapq.heappop(self._heap)
            if not job.cancelled:
                job.action()
                ran += 1
        return ran

    def fast_forward(self, within: float | None = None) -> int:
        """Run now every job due within `within` seconds (all when None), including the jobs
        those jobs schedule inside that horizon; returns how many ran."""
        horizon = time.time() + within if within is not None else float("inf")
        ran = 0
        while self._heap and self._heap[0].due <= horizon:
            ran += self.run_due(self._heap[0].due)
        return ran

    async def run(self) -> None:
        """Run jobs as they fall due, until cancelled."""
        while True:
            self.run_due(time.time())
            self._changed.clear()
            delay = _MAX_SLEEP
            if self._heap:
                delay = min(max(self._heap[0].due - time.time(), 0.0), _MAX_SLEEP)
            # Woken by a new job, or timed out because a job is due (or it is time to re-check).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=delay)

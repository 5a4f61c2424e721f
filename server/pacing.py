"""Requests first: background work (mail) takes a bounded share of the event loop while requests arrive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

BACKGROUND_SHARE = 0.1  # of the loop's time, for background work while requests keep coming
QUIET_AFTER = 0.05  # seconds without a new request before background work runs at full speed
LONGEST_PAUSE = 1.0  # a background step never waits longer than this, however costly it was


class Foreground:
    """When the last request arrived, so background work can step aside while they keep coming."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_request = -float("inf")

    def request_arrived(self) -> None:
        self._last_request = self._clock()

    def quiet_for(self) -> float:
        """Seconds since the last request arrived."""
        return self._clock() - self._last_request

    def busy(self) -> bool:
        return self.quiet_for() < QUIET_AFTER


class BackgroundPacer:
    """Keeps background work to `share` of the loop while the foreground is busy.

    Python runs one step of background work (composing a message: about 2 ms) to its end before
    a waiting request gets the loop, so a burst of webhooks and a burst of the mail they queue
    would otherwise split the loop between them. After each step the worker reports how long it
    took; while requests are arriving it then rests long enough that its steps fill at most
    `share` of the time. Nothing is dropped or reordered: mail is only later, and catches up at
    full speed once requests stop.
    """

    def __init__(
        self,
        foreground: Foreground,
        *,
        share: float = BACKGROUND_SHARE,
        longest_pause: float = LONGEST_PAUSE,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self._foreground = foreground
        self._rest_per_second = (1 - share) / share
        self._longest_pause = longest_pause

    async def after_step(self, spent: float) -> None:
        """Rest after a step that took `spent` seconds, if requests are waiting for the loop."""
        if self._foreground.busy():
            await asyncio.sleep(min(spent * self._rest_per_second, self._longest_pause))

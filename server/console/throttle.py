"""Login throttling: a client with too many wrong passwords in a window must wait (in memory)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

MAX_TRACKED_CLIENTS = 10_000


class LoginThrottle:
    """At most `failures` wrong passwords per client per `window` seconds."""

    def __init__(
        self, failures: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.window = window
        self._clock = clock
        self._failed: dict[str, deque[float]] = {}

    def retry_after(self, client: str) -> int:
        """0 when the client may try now, else whole seconds until it may."""
        recent = self._recent(client)
        if len(recent) < self.failures:
            return 0
        return max(1, math.ceil(recent[0] + self.window - self._clock()))

    def failed(self, client: str) -> None:
        if client not in self._failed and len(self._failed) >= MAX_TRACKED_CLIENTS:
            self._forget_quiet()
        self._failed.setdefault(client, deque(maxlen=self.failures)).append(self._clock())

    def succeeded(self, client: str) -> None:
        self._failed.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        recent = self._failed.get(client, deque())
        cutoff = self._clock() - self.window
        while recent and recent[0] <= cutoff:
            recent.popleft()
        return recent

    def _forget_quiet(self) -> None:
        cutoff = self._clock() - self.window
        self._failed = {c: d for c, d in self._failed.items() if d and d[-1] > cutoff}

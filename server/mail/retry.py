"""When a message that could not be delivered is tried again, and when paydesk gives up on it."""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_DOUBLINGS = 32  # 2**32 × any sane base is far above any cap; stops the float from overflowing


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter. All durations are in seconds."""

    base: float = 30.0  # the wait after the first failed attempt, before jitter
    cap: float = 3600.0  # the longest wait between two attempts
    # A message still undelivered this long after it was queued is marked failed.
    give_up_after: float = 2 * 86400

    def delay(self, attempts: int, rng: random.Random) -> float:
        """The wait after the `attempts`-th failed attempt: between half and all of the ceiling.

        The random half spreads retries of messages that failed together (the server was down
        for all of them), so they do not all hit the server again in the same second.
        """
        ceiling = min(self.cap, self.base * 2 ** min(max(attempts - 1, 0), MAX_DOUBLINGS))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)

    def gives_up(self, queued_at_ms: int, now_ms: int) -> bool:
        return now_ms - queued_at_ms >= self.give_up_after * 1000

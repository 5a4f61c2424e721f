"""Counts of rejected webhook calls, kept in memory: a rejection must not write to the database."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 24 * 60 * 60


@dataclass
class WebhookStats:
    rejected_total: Counter[str] = field(default_factory=Counter)
    # Bounded so a flood of forged calls cannot grow memory; the count then reads as "at least".
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def rejected(self, reason: str) -> None:
        self.rejected_total[reason] += 1
        self._recent.append(time.time())

    def rejected_last_day(self) -> int:
        cutoff = time.time() - WINDOW_SECONDS
        while self._recent and self._recent[0] < cutoff:
            self._recent.popleft()
        return len(self._recent)

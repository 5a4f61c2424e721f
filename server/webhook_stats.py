"""Webhook figures kept in memory: answers by outcome, handling time, and why calls were rejected.

A rejection must not write to the database, and a figure read by every scrape must cost nothing.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

from prometheus_client import Histogram

WINDOW_SECONDS = 24 * 60 * 60
# Most events apply in a few milliseconds; the upper buckets catch a busy disk or a Stripe look-up.
HANDLING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _handling_histogram() -> Histogram:
    # Not registered anywhere: each app's /metrics registry reads it (tests build many apps).
    return Histogram(
        "paydesk_webhook_handling_seconds",
        "Time from a webhook call reaching paydesk to its answer.",
        buckets=HANDLING_BUCKETS,
        registry=None,
    )


@dataclass
class WebhookStats:
    rejected_total: Counter[str] = field(default_factory=Counter)
    # Bounded so a flood of forged calls cannot grow memory; the count then reads as "at least".
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    answered_total: Counter[str] = field(default_factory=Counter)  # by outcome
    handling_seconds: Histogram = field(default_factory=_handling_histogram)

    def answered(self, outcome: str, seconds: float) -> None:
        """One webhook call answered: `outcome` as the answer says it ("applied", "rejected", ...)."""
        self.answered_total[outcome] += 1
        self.handling_seconds.observe(seconds)

    def rejected(self, reason: str) -> None:
        self.rejected_total[reason] += 1
        self._recent.append(time.time())

    def rejected_last_day(self) -> int:
        cutoff = time.time() - WINDOW_SECONDS
        while self._recent and self._recent[0] < cutoff:
            self._recent.popleft()
        return len(self._recent)

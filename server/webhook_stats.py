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
# A verified call answers with one of these; it ends a streak of refused signatures.
VERIFIED_OUTCOMES = frozenset(("applied", "unchanged", "ignored", "duplicate"))
SIGNATURE_MISMATCH = "signature does not match"
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
    # Mismatched signatures since the last verified call: many in a row mean a wrong secret.
    _mismatches: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))

    def answered(self, outcome: str, seconds: float) -> None:
        """One webhook call answered: `outcome` as the answer says it ("applied", "rejected", ...)."""
        self.answered_total[outcome] += 1
        if outcome in VERIFIED_OUTCOMES:
            self._mismatches.clear()
        self.handling_seconds.observe(seconds)

    def rejected(self, reason: str) -> None:
        self.rejected_total[reason] += 1
        self._recent.append(time.time())
        if reason == SIGNATURE_MISMATCH:
            self._mismatches.append(time.time())

    def mismatch_streak(self, window_s: float) -> int:
        """Mismatched signatures in the last `window_s` seconds with no verified call since."""
        cutoff = time.time() - window_s
        return sum(1 for at in self._mismatches if at >= cutoff)

    def rejected_last_day(self) -> int:
        cutoff = time.time() - WINDOW_SECONDS
        while self._recent and self._recent[0] < cutoff:
            self._recent.popleft()
        return len(self._recent)

"""The retry policy: exponential backoff with jitter, capped, and giving up after a while."""

from __future__ import annotations

import random

import pytest

from server.mail import RetryPolicy

DEFAULT = RetryPolicy()


@pytest.mark.parametrize(
    ("attempts", "ceiling"),
    [(1, 30), (2, 60), (3, 120), (5, 480), (7, 1920), (8, 3600), (50, 3600), (10_000, 3600)],
)
def test_the_wait_doubles_up_to_the_cap_and_keeps_half_of_it(attempts: int, ceiling: float) -> None:
    rng = random.Random(attempts)
    delays = [DEFAULT.delay(attempts, rng) for _ in range(200)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert max(delays) - min(delays) > ceiling / 4  # jittered: retries of one outage spread out


@pytest.mark.parametrize(
    ("age_seconds", "gives_up"),
    [(0, False), (3600, False), (2 * 86400 - 1, False), (2 * 86400, True), (30 * 86400, True)],
)
def test_it_gives_up_two_days_after_the_message_was_queued(
    age_seconds: int, gives_up: bool
) -> None:
    queued = 1_700_000_000_000
    assert DEFAULT.gives_up(queued, queued + age_seconds * 1000) is gives_up


def test_retries_span_the_give_up_window_in_a_reasonable_number_of_attempts() -> None:
    rng, elapsed, attempts = random.Random(7), 0.0, 0
    while elapsed < DEFAULT.give_up_after:
        attempts += 1
        elapsed += DEFAULT.delay(attempts, rng)
    assert 50 <= attempts <= 110  # about hourly once capped: persistent, not hammering

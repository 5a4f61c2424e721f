"""The console counts in plain words: "1 minute", "15 minutes", never "minute(s)"."""

from __future__ import annotations

import pytest

from server.console.wording import count, minutes_to_wait, time_left


@pytest.mark.parametrize(
    ("number", "unit", "text"),
    [
        (0, "attempt", "0 attempts"),
        (1, "attempt", "1 attempt"),
        (2, "day", "2 days"),
        (1, "time", "1 time"),
        (3, "time", "3 times"),
    ],
)
def test_counts_take_the_right_plural(number: int, unit: str, text: str) -> None:
    assert count(number, unit) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(900, "15 minutes"), (60, "1 minute"), (61, "2 minutes"), (5, "1 minute")]
)
def test_a_wait_is_rounded_up_to_whole_minutes(seconds: float, text: str) -> None:
    assert minutes_to_wait(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (600, "less than an hour left"),
        (3600, "1 hour left"),
        (30 * 3600, "30 hours left"),
        (2 * 86400, "2 days left"),
        (5 * 86400 - 1, "4 days left"),
    ],
)
def test_time_left_to_a_deadline(seconds: float, text: str) -> None:
    assert time_left(seconds) == text

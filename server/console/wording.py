"""Counts and durations in the console's words: "1 minute", "15 minutes", never "minute(s)"."""

from __future__ import annotations

import math

# Irregular plurals of the units the console counts; the rest take an "s".
PLURALS = {"day": "days", "hour": "hours", "minute": "minutes", "attempt": "attempts"}


def count(number: int, unit: str) -> str:
    """'1 attempt', '3 attempts', '0 attempts'."""
    word = unit if number == 1 else PLURALS.get(unit, unit + "s")
    return f"{number} {word}"


def minutes_to_wait(seconds: float) -> str:
    """A wait as the operator reads it, rounded up to whole minutes: '15 minutes', '1 minute'."""
    return count(max(1, math.ceil(seconds / 60)), "minute")


def time_left(seconds: float) -> str:
    """Until a deadline: '4 days left', '1 day left', '7 hours left', 'less than an hour left'."""
    if seconds < 3600:
        return "less than an hour left"
    if seconds < 2 * 86400:
        return count(math.floor(seconds / 3600), "hour") + " left"
    return count(math.floor(seconds / 86400), "day") + " left"

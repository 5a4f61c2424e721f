"""Each webhook delivery's place in time: a seeded delay for its first attempt, and any duplicate."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .settings import SandboxSettings


@dataclass(frozen=True)
class Plan:
    # Seconds the first attempt waits, so that events made close together overtake each other.
    first_delay: float = 0.0
    # Seconds after the delivery succeeds that the event is sent again; None: it is sent once.
    duplicate_delay: float | None = None


EXACT = Plan()


def plan_delivery(settings: SandboxSettings, event_number: int, endpoint_number: int) -> Plan:
    """The choices for the `event_number`-th event (0-based, in creation order) to one endpoint.

    They come from the seed and the event's place alone, not from timing, so a run with the same
    seed and the same steps makes the same choices."""
    if settings.delivery == "exact":
        return EXACT
    choices = random.Random(f"{settings.delivery_seed}:{event_number}:{endpoint_number}")  # noqa: S311 - not for security
    first_delay = choices.uniform(0.0, settings.delivery_window)
    duplicate_delay = None
    if choices.random() < settings.duplicate_rate:
        duplicate_delay = choices.uniform(0.0, settings.delivery_window)
    return Plan(first_delay, duplicate_delay)

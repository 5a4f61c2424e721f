"""The console's in-memory state for one app: its settings, the login throttle and the live feed."""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher

from .feed import Feed
from .settings import ConsoleSettings
from .throttle import LoginThrottle


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    throttle: LoginThrottle
    hasher: PasswordHasher
    feed: Feed = field(default_factory=Feed)

    @classmethod
    def create(cls, settings: ConsoleSettings) -> ConsoleState:
        throttle = LoginThrottle(settings.login_failures, settings.login_window_seconds)
        return cls(settings=settings, throttle=throttle, hasher=settings.password_hasher())

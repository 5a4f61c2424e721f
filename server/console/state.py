"""The console's in-memory state for one app: its settings, the login throttle and the live feed."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher

from ..config import ConsoleSettings
from .feed import OperatorFeed
from .sessions import password_hasher
from .throttle import LoginThrottle


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    throttle: LoginThrottle
    hasher: PasswordHasher
    feed: OperatorFeed

    @classmethod
    def create(cls, settings: ConsoleSettings, feed: OperatorFeed) -> ConsoleState:
        throttle = LoginThrottle(settings.login_failures, settings.login_window_seconds)
        return cls(settings, throttle, password_hasher(settings), feed)

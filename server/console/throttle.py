"""Login throttling: sign-in attempts per client per window, and a bound on password checks at once."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from ..db import Database
from ..shared_limits import SharedRateLimiter

MAX_TRACKED_CLIENTS = 10_000
# argon2id takes 64 MiB and ~50 ms per check: two at a time keep a spray of wrong passwords
# from many addresses to ~128 MiB and a steady pace, while everyone's turn still comes.
CONCURRENT_CHECKS = 2
# Beyond this many sign-ins waiting for a check, new ones are told to retry in a moment rather
# than queue without end. Nothing is counted against them: it is not a lock, only "busy".
MAX_WAITING = 200
SHARED_NAME = "console-login"  # the limit's name in the shared_limits table


class LoginAttempts(Protocol):
    """Where a client's sign-in attempts are counted."""

    async def retry_after(self, client: str) -> int:
        """0 when the client may try now, else whole seconds until it may."""

    async def admit(self, client: str) -> int:
        """Count an attempt and return 0, or return the whole seconds until the client may try."""

    async def succeeded(self, client: str) -> None:
        """The right password: the client's failures are forgiven."""


class LoginThrottle:
    """At most `failures` sign-in attempts per client per `window` seconds, a success forgiving them.

    An attempt is counted when it is admitted, before its password is checked, so a burst of
    concurrent guesses from one client gets `failures` checks, not one per request. The limit is
    per client: another client's guesses never refuse the operator's right password.
    """

    def __init__(
        self,
        failures: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        concurrent_checks: int = CONCURRENT_CHECKS,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.failures = failures
        self.window = window
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}
        self._checks = asyncio.Semaphore(concurrent_checks)
        self._max_waiting = max_waiting
        self._waiting = 0

    def retry_after(self, client: str) -> int:
        """0 when the client may try now, else whole seconds until it may."""
        recent = self._recent(client)
        if len(recent) < self.failures:
            return 0
        return max(1, math.ceil(recent[0] + self.window - self._clock()))

    def admit(self, client: str) -> int:
        """Count an attempt and return 0, or return the whole seconds until the client may try."""
        if wait := self.retry_after(client):
            return wait
        if client not in self._attempts and len(self._attempts) >= MAX_TRACKED_CLIENTS:
            self._forget_quiet()
        self._attempts.setdefault(client, deque(maxlen=self.failures)).append(self._clock())
        return 0

    def succeeded(self, client: str) -> None:
        self._attempts.pop(client, None)

    def attempts(self, db: Database) -> LoginAttempts:
        """Where attempts are counted: in the database when several processes share it (an
        operator's guesses reach every process alike), else in this process."""
        if db.shared:
            return SharedAttempts(
                SharedRateLimiter(db, SHARED_NAME, self.failures, period_s=self.window)
            )
        return InProcessAttempts(self)

    def busy(self) -> bool:
        """True when so many sign-ins wait for a check that a new one should retry in a moment."""
        return self._checks.locked() and self._waiting >= self._max_waiting

    @asynccontextmanager
    async def checking(self) -> AsyncIterator[None]:
        """Hold one of the few password-check slots, waiting in turn for one."""
        self._waiting += 1
        try:
            await self._checks.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._checks.release()

    def _recent(self, client: str) -> deque[float]:
        recent = self._attempts.get(client, deque())
        cutoff = self._clock() - self.window
        while recent and recent[0] <= cutoff:
            recent.popleft()
        return recent

    def _forget_quiet(self) -> None:
        cutoff = self._clock() - self.window
        self._attempts = {c: d for c, d in self._attempts.items() if d and d[-1] > cutoff}


class InProcessAttempts:
    """The throttle's own count, in this process's memory."""

    def __init__(self, throttle: LoginThrottle) -> None:
        self._throttle = throttle

    async def retry_after(self, client: str) -> int:
        return self._throttle.retry_after(client)

    async def admit(self, client: str) -> int:
        return self._throttle.admit(client)

    async def succeeded(self, client: str) -> None:
        self._throttle.succeeded(client)


class SharedAttempts:
    """The count in the database: a bucket of `failures` attempts per client, refilled over the
    window, emptied by wrong passwords in any process and filled again by a right one."""

    def __init__(self, limiter: SharedRateLimiter) -> None:
        self._limiter = limiter

    async def retry_after(self, client: str) -> int:
        return _whole_seconds(await self._limiter.wait_s(client))

    async def admit(self, client: str) -> int:
        return _whole_seconds(await self._limiter.acquire(client))

    async def succeeded(self, client: str) -> None:
        await self._limiter.forgive(client)


def _whole_seconds(wait_s: float) -> int:
    return max(1, math.ceil(wait_s)) if wait_s > 0 else 0

"""Who hears of a committed payment change: every writer reports to one PaymentEvents, and it tells
the status pages, the operators' feed and the mail sender."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from .payments import Payment

log = logging.getLogger(__name__)


class Audience(Protocol):
    """Someone showing payments live: asked first, so nobody watching costs no read."""

    def watching(self, payment_id: str) -> bool: ...

    def changed(self, payment: Payment) -> None:
        """Take the committed row; must not wait on anyone (queue, never send inline)."""


class PaymentEvents:
    """Told after each commit that created or changed a payment or queued its mail.

    The row is read once per change, and only when an audience is watching that payment.
    """

    def __init__(self, read_payment: Callable[[str], Awaitable[Payment | None]]) -> None:
        self._read_payment = read_payment
        self._audiences: list[Audience] = []
        self._on_commit: list[Callable[[], None]] = []

    def add_audience(self, audience: Audience) -> Callable[[], None]:
        """Show changes to `audience` from now on; returns the call that stops it."""
        self._audiences.append(audience)
        return lambda: self._audiences.remove(audience)

    def on_commit(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after every commit (the mail sender wakes: mail may be queued)."""
        self._on_commit.append(callback)
        return lambda: self._on_commit.remove(callback)

    async def committed(self, payment_id: str) -> None:
        """Call once the transaction that touched `payment_id` has committed."""
        for callback in list(self._on_commit):
            callback()
        audiences = [a for a in self._audiences if a.watching(payment_id)]
        if not audiences:
            return
        payment = await self._read_payment(payment_id)
        if payment is None:
            return
        for audience in audiences:
            audience.changed(payment)

"""Who hears of a committed payment change: every writer reports to one PaymentEvents, and it tells
the status pages, the operators' feed and the mail sender."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

from .payments import Payment

log = logging.getLogger(__name__)

# Versions shown, remembered for this many payments (least recently changed forgotten first): a
# change heard twice (from this process's writer and from the database's announcement) is shown
# once. A payment forgotten costs at most one repeated frame: status pages drop it by version.
REMEMBERED_PAYMENTS = 10_000


class Audience(Protocol):
    """Someone showing payments live: asked first, so nobody watching costs no read."""

    def watching(self, payment_id: str) -> bool: ...

    def changed(self, payment: Payment) -> None:
        """Take the committed row; must not wait on anyone (queue, never send inline)."""


class PaymentEvents:
    """Told after each commit that created or changed a payment or queued its mail.

    The row is read once per change, and only when an audience is watching that payment. Each
    version of a payment is shown once, however many times it is heard of.
    """

    def __init__(self, read_payment: Callable[[str], Awaitable[Payment | None]]) -> None:
        self._read_payment = read_payment
        self._audiences: list[Audience] = []
        self._on_commit: list[Callable[[], None]] = []
        self._shown: OrderedDict[str, int] = OrderedDict()  # payment id -> last version shown

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
        await self._show(payment_id)

    def wants(self, payment_id: str, version: int) -> bool:
        """Whether version `version` of the payment would be shown: watched, and not shown yet."""
        if version <= self._shown.get(payment_id, 0):
            return False
        return any(a.watching(payment_id) for a in self._audiences)

    async def announced(self, payment_id: str, version: int) -> None:
        """A change committed by any process, as the database announced it (change_feed.py).

        Mail is not woken: the process that committed the change woke its own sender.
        """
        if self.wants(payment_id, version):
            await self._show(payment_id)

    async def _show(self, payment_id: str) -> None:
        if not any(a.watching(payment_id) for a in self._audiences):
            return
        payment = await self._read_payment(payment_id)
        if payment is None or payment.version <= self._shown.get(payment_id, 0):
            return  # the same change, heard another way, was shown while this read ran
        self._remember(payment_id, payment.version)
        for audience in self._audiences:
            if audience.watching(payment_id):
                audience.changed(payment)

    def _remember(self, payment_id: str, version: int) -> None:
        self._shown[payment_id] = version
        self._shown.move_to_end(payment_id)
        if len(self._shown) > REMEMBERED_PAYMENTS:
            self._shown.popitem(last=False)

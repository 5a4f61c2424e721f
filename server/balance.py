"""Recording Stripe's fee on each payment: its balance transaction fetched in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import stripe

from .db import Database
from .lifecycle import Balance
from .payment_events import PaymentEvents
from .payments import balances_due, record_balance

log = logging.getLogger(__name__)

# Fetches one balance transaction by id within a timeout (StripeGateway.balance_transaction).
BalanceLookup = Callable[[str, float], Awaitable[Balance]]

FETCH_TIMEOUT_S = 10.0  # nobody waits on it; a slower Stripe is asked again at the next catch-up
QUEUE_SIZE = 256  # fetches waiting; more are dropped here and found by the catch-up
CATCH_UP_EVERY_S = 300.0  # how often payments with a fee still unknown are looked for
CATCH_UP_BUDGET = 20  # fetches per catch-up, so a backlog never floods Stripe


class BalanceRecorder:
    """Fetches the balance transactions webhooks name, one at a time, and records fee and net.

    Never in a webhook's request: the webhook only queues the payment (`wanted`). Each fetch is
    idempotent (a GET, recorded by merging into the facts), so a payment queued twice, or found
    again by the catch-up after a restart, costs one more GET and changes nothing.
    """

    def __init__(
        self,
        db: Database,
        lookup: BalanceLookup,
        events: PaymentEvents,
        *,
        timeout_s: float = FETCH_TIMEOUT_S,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self._db = db
        self._lookup = lookup
        self._events = events
        self._timeout_s = timeout_s
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(queue_size)
        self._wanted: set[tuple[str, str]] = set()  # queued or being fetched: one fetch each

    def wanted(self, payment_id: str, txn_id: str) -> bool:
        """Queue a fetch; False when it is already queued or the queue is full (the catch-up
        finds it later). Never waits."""
        key = (payment_id, txn_id)
        if key in self._wanted:
            return False
        try:
            self._queue.put_nowait(key)
        except asyncio.QueueFull:
            return False
        self._wanted.add(key)
        return True

    @property
    def idle(self) -> bool:
        """Nothing queued or being fetched."""
        return not self._wanted

    async def fetch(self, payment_id: str, txn_id: str) -> bool:
        """Fetch one balance transaction and record it; True when the payment changed.

        Raises the SDK's errors, TimeoutError or ValueError when Stripe did not answer usefully.
        """
        balance = await self._lookup(txn_id, self._timeout_s)
        changed = await self._db.write(lambda conn: record_balance(conn, payment_id, balance))
        if changed:
            await self._events.committed(payment_id)
        return changed

    async def serve(self) -> None:
        """Fetch the queued balance transactions one at a time, until cancelled."""
        while True:
            payment_id, txn_id = await self._queue.get()
            try:
                await self._fetch_logged(payment_id, txn_id)
            finally:
                self._wanted.discard((payment_id, txn_id))

    async def catch_up(self) -> int:
        """Queue the payments whose fee is still unknown (missed, failed, or before a restart)."""
        due = await balances_due(self._db, CATCH_UP_BUDGET)
        return sum(self.wanted(d.payment_id, d.balance_transaction_id) for d in due)

    async def catch_up_every(self, interval_s: float) -> None:
        """Catch up now and then every `interval_s`, until cancelled."""
        while True:
            await self.catch_up()
            await asyncio.sleep(interval_s)

    async def _fetch_logged(self, payment_id: str, txn_id: str) -> None:
        try:
            await self.fetch(payment_id, txn_id)
        except TimeoutError:
            log.warning(
                "Stripe took over %ss to send balance transaction %s", self._timeout_s, txn_id
            )
        except (stripe.StripeError, ValueError) as exc:
            # Asked again at the next catch-up; the fee is a figure for the books, not urgent.
            log.warning("could not fetch balance transaction %s of %s: %s", txn_id, payment_id, exc)

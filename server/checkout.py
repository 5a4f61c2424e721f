"""Starting a payment: record it, ask Stripe for a Checkout Session once, and survive double submits."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import customers, payments
from .clock import now_ms
from .db import Database
from .lifecycle import SETTLED, Status
from .orders import Order
from .payment_events import PaymentEvents
from .payments import NewPayment, Payment
from .rate_limit import RateLimiter, TooManyAttempts
from .stripe_gateway import SessionRequest, StripeGateway, StripeUnavailable

log = logging.getLogger(__name__)
STRIPE_MIN_EXPIRY = 30 * 60
STRIPE_MAX_EXPIRY = 24 * 60 * 60


# Takes one attempt for a client: 0 when allowed, else the seconds until it may try again.
Limiter = Callable[[str], Awaitable[float]]


def in_process(limiter: RateLimiter) -> Limiter:
    """A limiter of this process's memory: enough where one process serves (SQLite)."""

    async def acquire(client: str) -> float:
        return limiter.acquire(client)

    return acquire


@dataclass(frozen=True)
class CheckoutUrls:
    """Where Stripe sends the customer back; built by the web layer from named routes."""

    success: Callable[[str], str]  # payment id → URL (may carry {CHECKOUT_SESSION_ID})
    cancel: Callable[[str], str]


@dataclass(frozen=True)
class CheckoutResult:
    payment: Payment
    redirect_to_checkout: bool  # False: the payment is past checkout, show its status instead


class Checkout:
    """Creates payments and their Checkout Sessions: one in-flight Stripe call per payment, few per client."""

    def __init__(
        self,
        db: Database,
        gateway: StripeGateway,
        urls: CheckoutUrls,
        expiry_minutes: int,
        events: PaymentEvents,
        limiter: Limiter,
    ) -> None:
        self._db = db
        self._limiter = limiter  # attempts per client that reach Stripe
        self._events = events  # told of each payment whose row a commit created or changed
        self._gateway = gateway
        self._urls = urls
        self._expiry_seconds = expiry_minutes * 60
        # Concurrent submits of one form wait for each other instead of racing to Stripe.
        self._in_flight: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def start(
        self, order: Order, request_key: str, *, client: str, replace_finished: bool = False
    ) -> CheckoutResult:
        """Return the payment for this order and request key, with a Checkout Session to send the customer to.

        Only a call to Stripe spends one of `client`'s attempts, so finding the session a double
        submit already opened is free; past the limit, TooManyAttempts and nothing is recorded.
        With `replace_finished`, a request key whose payment is over (paid, expired, refunded...)
        starts a new payment: a customer who paid, went Back and sends the form again pays again.

        Raises StripeUnavailable when Stripe cannot create the session; the payment is then
        recorded as not started, and submitting the same form again retries it.
        """
        lock = self._in_flight.setdefault(request_key, asyncio.Lock())
        async with lock:
            key, payment = await self._current(request_key, replace_finished)
            if payment is not None and payment.status == Status.PENDING and payment.checkout_url:
                expired = payment.expires_at is not None and payment.expires_at <= now_ms()
                return CheckoutResult(payment, redirect_to_checkout=not expired)
            if payment is not None and payment.status not in (Status.PENDING, Status.NOT_STARTED):
                return CheckoutResult(payment, redirect_to_checkout=False)
            wait_s = await self._limiter(client)
            if wait_s:
                raise TooManyAttempts(wait_s)
            if payment is None:
                payment = await self._create(order, key)
            return CheckoutResult(
                await self._open_session(payment, order), redirect_to_checkout=True
            )

    async def _current(
        self, request_key: str, replace_finished: bool
    ) -> tuple[str, Payment | None]:
        """The payment a request key stands for now, and the key it is stored under.

        A payment replacing a finished one is stored under the request key with "/2", "/3"...
        appended (the column is unique), so the same form finds the newest one again.
        """
        key, number = request_key, 1
        while True:
            payment = await payments.find_by_request_key(self._db, key)
            if payment is None or not replace_finished or payment.status not in SETTLED:
                return key, payment
            number += 1
            key = f"{request_key}/{number}"

    async def _create(self, order: Order, request_key: str) -> Payment:
        new = NewPayment(
            request_key=request_key,
            product_id=order.product.id,
            product_name=order.product.name,
            quantity=order.quantity,
            unit_amount=order.unit_amount,
            amount=order.amount,
            currency=order.product.currency,
            customer_name=order.customer_name,
            customer_email=order.customer_email,
            expires_at=self._next_expiry(),
        )
        payment_id = await self._db.write(lambda conn: payments.insert_payment(conn, new))
        created = await payments.get_payment(self._db, payment_id)
        assert created is not None  # just committed
        return created

    async def _open_session(self, payment: Payment, order: Order) -> Payment:
        assert payment.expires_at is not None  # set when the payment or its retry was recorded
        request = SessionRequest(
            payment_id=payment.id,
            product_id=order.product.id,
            product_name=order.product.name,
            product_description=order.product.description,
            currency=payment.currency,
            unit_amount=payment.unit_amount,
            quantity=payment.quantity,
            customer_email=payment.customer_email,
            success_url=self._urls.success(payment.id),
            cancel_url=self._urls.cancel(payment.id),
            expires_at_s=payment.expires_at // 1000,
            stripe_customer=await customers.customer_for(self._db, payment.customer_email),
        )
        # Stable across crashes and double submits; a new attempt only after a recorded failure.
        idempotency_key = f"paydesk-checkout-{payment.id}-{payment.checkout_attempts}"
        try:
            session = await self._gateway.create_checkout_session(request, idempotency_key)
        except StripeUnavailable as exc:
            log.warning("checkout for payment %s not started: %s", payment.id, exc)
            reason, next_expiry = exc.customer_message, self._next_expiry()
            await self._db.write(
                lambda conn: payments.mark_not_started(conn, payment.id, reason, next_expiry)
            )
            await self._events.committed(payment.id)
            raise
        await self._db.write(
            lambda conn: payments.attach_session(
                conn, payment.id, session.id, session.url, session.expires_at_s * 1000
            )
        )
        await self._events.committed(payment.id)
        updated = await payments.get_payment(self._db, payment.id)
        assert updated is not None
        return updated

    def _next_expiry(self) -> int:
        """When a checkout opened now should expire, in milliseconds (whole seconds, as Stripe's)."""
        # Stripe accepts 30 minutes to 24 hours from when it receives the call: keep a minute clear of each end.
        seconds = min(max(self._expiry_seconds, STRIPE_MIN_EXPIRY + 60), STRIPE_MAX_EXPIRY - 60)
        return (int(time.time()) + seconds) * 1000

"""Confirming payments by asking Stripe when webhooks are late: on the customer's return, and in a sweep."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import stripe

from .db import Database
from .payments import Payment, get_payment
from .stripe_gateway import StripeUnavailable
from .webhook_stats import WebhookStats
from .webhooks import UnknownPayment, WebhookAlarm, WebhookProcessor

log = logging.getLogger(__name__)

# Written after the stored reason of every event paydesk made from what it asked Stripe.
OBSERVED = "observed through the API"
# Statuses a webhook could still move to paid (or on): the ones worth asking Stripe about.
UNCONFIRMED = ("pending", "declined", "processing")
LOOKUP_TIMEOUT_S = 5.0  # the customer is looking at the page; a slower answer waits for the sweep
QUEUE_SIZE = 64  # returning customers waiting for a lookup; more are dropped, the sweep finds them
# A payment this young may still be in the customer's hands, or its webhook on the way.
SWEEP_GRACE_S = 120
SWEEP_BUDGET = 20  # lookups per sweep, so a backlog never floods Stripe
RATE_LIMIT_WAIT_S = 60  # after a 429 without Retry-After
WEBHOOK_ALERT_AFTER_S = 600  # the WEBHOOK_ALERT_AFTER default

# Retrieves a Checkout Session, its PaymentIntent and latest charge expanded, within a timeout.
SessionLookup = Callable[[str, float], Awaitable[Mapping[str, Any]]]

_INTENT_EVENTS = {
    "succeeded": "payment_intent.succeeded",
    "processing": "payment_intent.processing",
    "requires_action": "payment_intent.requires_action",
}
_CHARGE_EVENTS = {
    "succeeded": "charge.succeeded",
    "pending": "charge.pending",
    "failed": "charge.failed",
}


def observed_events(session: Mapping[str, Any], now_s: int) -> list[dict[str, Any]]:
    """The events Stripe would have sent for the state `session` shows, ids derived from that state.

    The same state observed twice gives the same ids, so the second is stored as a duplicate.
    """
    events: list[dict[str, Any]] = []
    intent = session.get("payment_intent")
    intent = intent if isinstance(intent, Mapping) else None
    charge = intent.get("latest_charge") if intent else None
    charge = charge if isinstance(charge, Mapping) else None
    if charge is not None:
        charge_type = _CHARGE_EVENTS.get(str(charge.get("status")))
        if charge_type:
            events.append(_event(charge_type, charge, str(charge.get("status")), now_s))
    if intent is not None:
        status = str(intent.get("status"))
        intent_type = _INTENT_EVENTS.get(status)
        if status == "requires_payment_method" and intent.get("last_payment_error"):
            intent_type = "payment_intent.payment_failed"
            status = f"failed_{_id(intent.get('latest_charge')) or 'attempt'}"
        if intent_type:
            events.append(_event(intent_type, _collapsed(intent, "latest_charge"), status, now_s))
    session_status = session.get("status")
    flat_session = _collapsed(session, "payment_intent")
    if session_status == "complete":
        state = f"complete_{session.get('payment_status')}"
        events.append(_event("checkout.session.completed", flat_session, state, now_s))
    elif session_status == "expired":
        events.append(_event("checkout.session.expired", flat_session, "expired", now_s))
    return events


def _event(event_type: str, obj: Mapping[str, Any], state: str, now_s: int) -> dict[str, Any]:
    return {
        "id": f"obs_{obj.get('id')}_{state}",
        "object": "event",
        "type": event_type,
        "created": now_s,
        "livemode": bool(obj.get("livemode")),
        "data": {"object": dict(obj)},
    }


def _collapsed(obj: Mapping[str, Any], field: str) -> dict[str, Any]:
    """`obj` with an expanded `field` back to its id, as Stripe puts it in an event."""
    return {**obj, field: _id(obj.get(field))}


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


class Confirmer:
    """Looks up unconfirmed payments at Stripe and applies what it sees through the webhook path."""

    def __init__(
        self,
        db: Database,
        lookup: SessionLookup,
        processor: WebhookProcessor,
        *,
        timeout_s: float = LOOKUP_TIMEOUT_S,
        queue_size: int = QUEUE_SIZE,
        alert_after_s: int = WEBHOOK_ALERT_AFTER_S,
        stats: WebhookStats | None = None,
    ) -> None:
        self._db = db
        self._lookup = lookup
        self._processor = processor
        self._timeout_s = timeout_s
        self._alert_after_s = alert_after_s
        self._stats = stats or WebhookStats()
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._wanted: set[str] = set()  # queued or being looked up: at most one lookup each
        self._sweep_after = (
            0  # created_at where the next sweep resumes, so every payment gets a turn
        )

    def customer_returned(self, payment: Payment, session_id: str | None) -> bool:
        """Queue a lookup for a customer back from checkout; False when there is nothing to do.

        Only the payment's own Checkout Session counts: the query string is the customer's.
        """
        if not session_id or session_id != payment.checkout_session_id:
            return False
        if payment.status not in UNCONFIRMED or payment.id in self._wanted:
            return False
        try:
            self._queue.put_nowait(payment.id)
        except asyncio.QueueFull:
            return False  # the sweep finds it later
        self._wanted.add(payment.id)
        return True

    async def serve_returns(self) -> None:
        """Look up the queued payments one at a time, until cancelled."""
        while True:
            payment_id = await self._queue.get()
            try:
                await self.confirm(payment_id)
            except stripe.StripeError as exc:
                log.warning("could not look up payment %s at Stripe: %s", payment_id, exc)
            except Exception:
                # One payment's trouble must not stop the lookups of the others.
                log.exception("looking up payment %s failed", payment_id)
            finally:
                self._wanted.discard(payment_id)

    async def confirm(self, payment_id: str) -> int:
        """Ask Stripe about one payment and apply what it shows; how many events changed it.

        Raises stripe.StripeError when Stripe refused or failed the lookup.
        """
        payment = await get_payment(self._db, payment_id)
        if payment is None or payment.status not in UNCONFIRMED or not payment.checkout_session_id:
            return 0
        try:
            session = await self._lookup(payment.checkout_session_id, self._timeout_s)
        except TimeoutError:
            log.warning(
                "Stripe took over %ss to answer for payment %s", self._timeout_s, payment_id
            )
            return 0
        changed = 0
        for event in observed_events(session, int(time.time())):
            try:
                result = await self._processor.process(event, orjson.dumps(event), source=OBSERVED)
            except (UnknownPayment, StripeUnavailable) as exc:
                log.warning(
                    "observed %s for payment %s not applied: %s", event["id"], payment_id, exc
                )
                continue
            changed += result.changed_payment
        return changed

    async def sweep(self, now_ms: int) -> float:
        """Look up the oldest unconfirmed payments (at most SWEEP_BUDGET), then tell the operator
        if webhooks are not arriving; seconds to hold off Stripe afterwards (0, or a 429's
        Retry-After)."""
        hold_off_s = await self._sweep_payments(now_ms)
        await self.check_webhooks(now_ms)
        return hold_off_s

    async def check_webhooks(self, now_ms: int) -> WebhookAlarm | None:
        """The webhook alarm, if any; its one mail per incident is queued with it."""
        mismatches = self._stats.mismatch_streak(self._alert_after_s)
        alarm = await self._processor.sound_alarm(now_ms, self._alert_after_s, mismatches)
        if alarm is not None:
            log.warning("Stripe's webhooks are not reaching paydesk: %s", alarm.reason)
        return alarm

    async def _sweep_payments(self, now_ms: int) -> float:
        rows = await self._db.fetch_all(
            "SELECT id, created_at FROM payments WHERE status IN (?, ?, ?)"
            " AND checkout_session_id IS NOT NULL AND created_at <= ? AND created_at > ?"
            " ORDER BY created_at LIMIT ?",
            (*UNCONFIRMED, now_ms - SWEEP_GRACE_S * 1000, self._sweep_after, SWEEP_BUDGET),
        )
        # Fewer than a budget's worth: the next sweep starts from the oldest again.
        self._sweep_after = int(rows[-1]["created_at"]) if len(rows) == SWEEP_BUDGET else 0
        for row in rows:
            payment_id = str(row["id"])
            if payment_id in self._wanted:
                continue
            self._wanted.add(payment_id)
            try:
                await self.confirm(payment_id)
            except stripe.RateLimitError as exc:
                self._sweep_after = 0
                return _retry_after_s(exc)
            except stripe.StripeError as exc:
                log.warning("sweep could not look up payment %s: %s", payment_id, exc)
            finally:
                self._wanted.discard(payment_id)
        return 0

    async def sweep_every(self, interval_s: float) -> None:
        """Sweep until cancelled; after a 429, wait at least its Retry-After."""
        while True:
            await asyncio.sleep(interval_s)
            # With several processes on one database, one sweeps; the others skip this round.
            async with self._db.exclusive("confirm-sweep") as ours:
                hold_off_s = await self.sweep(int(time.time() * 1000)) if ours else 0
            if hold_off_s:
                log.warning("Stripe's rate limit: next sweep in at least %ss", hold_off_s)
                await asyncio.sleep(hold_off_s)


def _retry_after_s(exc: stripe.StripeError) -> float:
    raw = (exc.headers or {}).get("retry-after") or (exc.headers or {}).get("Retry-After")
    try:
        return max(float(raw), 1.0) if raw else RATE_LIMIT_WAIT_S
    except ValueError:
        return RATE_LIMIT_WAIT_S

"""Stripe webhook events about one paydesk payment, from Stripe's published examples or by hand."""

from __future__ import annotations

import copy
import functools
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

STRIPE_DIR = Path(__file__).parents[1] / ".." / "shared" / "stripe-openapi"
FIXTURES = STRIPE_DIR / "fixtures3.json"

PAYMENT_ID = "pay_lifecycle_test"
SESSION_ID = "cs_test_lifecycle"
PI_ID = "pi_lifecycle"
CHARGE_ID = "ch_lifecycle"
DISPUTE_ID = "dp_lifecycle"
AMOUNT = 2500
CURRENCY = "eur"
START = 1_700_000_000
TXN_ID = "txn_lifecycle"
RECEIPT_URL = "https://pay.stripe.com/receipts/payment/lifecycle"
# A refund's own `created` stays the same in every event about it.
REFUND_CREATED = {"re_first": START + 500, "re_rest": START + 600}

Obj = dict[str, Any]
Event = dict[str, Any]

# What a hand-built object starts from: just enough for Stripe's shape; the builders set the rest.
HAND_BUILT: dict[str, Obj] = {
    "checkout.session": {"object": "checkout.session", "mode": "payment", "metadata": {}},
    "payment_intent": {"object": "payment_intent", "metadata": {}},
    "charge": {"object": "charge", "metadata": {}},
    "refund": {"object": "refund", "metadata": {}},
    "dispute": {"object": "dispute", "metadata": {}, "evidence_details": {}},
    "event": {"object": "event", "api_version": "2023-08-16", "livemode": False},
}


@functools.cache
def stripe_examples() -> dict[str, Obj] | None:
    if not FIXTURES.is_file():
        return None
    return json.loads(FIXTURES.read_text())["resources"]


SOURCES = ["hand-built", "stripe-examples"]


def examples_for(source: str) -> dict[str, Obj]:
    """The base objects for a source; skips the test when Stripe's examples are not there."""
    if source == "hand-built":
        return HAND_BUILT
    examples = stripe_examples()
    if examples is None:
        pytest.skip(f"Stripe's example objects not found at {FIXTURES.resolve()}")
    return examples


class Stripe:
    """Builds the events Stripe sends about one payment, with ids and times in sending order."""

    def __init__(self, source: str) -> None:
        self._bases = examples_for(source)
        self._numbers = itertools.count(1)

    def _base(self, resource: str) -> Obj:
        return copy.deepcopy(self._bases[resource])

    def event(self, event_type: str, obj: Obj, *, same_second: bool = False) -> Event:
        number = next(self._numbers)
        event = self._base("event")
        event.update(
            id=f"evt_lifecycle_{number:03d}",
            type=event_type,
            # Stripe's `created` is in seconds, so events of one attempt often share it.
            created=START + (number - 1 if same_second else number) * 10,
            data={"object": obj},
            pending_webhooks=1,
            request={"id": None, "idempotency_key": None},
        )
        return event

    # -- Checkout Sessions ------------------------------------------------------------------

    def session(self, event_type: str, *, payment_status: str, status: str) -> Event:
        obj = self._base("checkout.session")
        obj.update(
            id=SESSION_ID,
            client_reference_id=PAYMENT_ID,
            metadata={"payment_id": PAYMENT_ID, "product_id": "tea"},
            payment_intent=PI_ID,
            amount_total=AMOUNT,
            amount_subtotal=AMOUNT,
            currency=CURRENCY,
            payment_status=payment_status,
            status=status,
            url=None if status != "open" else obj.get("url"),
        )
        return self.event(event_type, obj)

    def completed(self, payment_status: str = "paid") -> Event:
        return self.session(
            "checkout.session.completed", payment_status=payment_status, status="complete"
        )

    def async_succeeded(self) -> Event:
        return self.session(
            "checkout.session.async_payment_succeeded", payment_status="paid", status="complete"
        )

    def async_failed(self) -> Event:
        return self.session(
            "checkout.session.async_payment_failed", payment_status="unpaid", status="complete"
        )

    def expired(self) -> Event:
        return self.session("checkout.session.expired", payment_status="unpaid", status="expired")

    # -- PaymentIntents --------------------------------------------------------------------

    def payment_intent(
        self,
        event_type: str,
        status: str,
        *,
        error: Obj | None = None,
        latest_charge: str | None = CHARGE_ID,
        same_second: bool = False,
    ) -> Event:
        obj = self._base("payment_intent")
        obj.update(
            id=PI_ID,
            metadata={"payment_id": PAYMENT_ID, "product_id": "tea"},
            amount=AMOUNT,
            amount_received=AMOUNT if status == "succeeded" else 0,
            currency=CURRENCY,
            status=status,
            last_payment_error=error,
            latest_charge=latest_charge,
            next_action={"type": "use_stripe_sdk"} if status == "requires_action" else None,
            canceled_at=None,
        )
        return self.event(event_type, obj, same_second=same_second)

    def pi_created(self) -> Event:
        return self.payment_intent(
            "payment_intent.created", "requires_payment_method", latest_charge=None
        )

    def pi_requires_action(self) -> Event:
        return self.payment_intent(
            "payment_intent.requires_action", "requires_action", latest_charge=None
        )

    def pi_processing(self) -> Event:
        return self.payment_intent("payment_intent.processing", "processing")

    def pi_succeeded(self, charge_id: str = CHARGE_ID) -> Event:
        return self.payment_intent("payment_intent.succeeded", "succeeded", latest_charge=charge_id)

    def pi_failed(
        self,
        message: str = "Your card has insufficient funds.",
        code: str = "card_declined",
        decline_code: str | None = "insufficient_funds",
        *,
        charge_id: str | None = CHARGE_ID,
        same_second: bool = False,
    ) -> Event:
        error = {"type": "card_error", "code": code, "decline_code": decline_code}
        error.update(message=message, charge=charge_id)
        return self.payment_intent(
            "payment_intent.payment_failed",
            "requires_payment_method",
            error=error,
            latest_charge=charge_id,
            same_second=same_second,
        )

    def pi_auth_failed(self) -> Event:
        return self.pi_failed(
            "The provided PaymentMethod has failed authentication. You can provide"
            " payment_method_data or a new PaymentMethod to attempt to fulfill this"
            " PaymentIntent again.",
            "payment_intent_authentication_failure",
            None,
            charge_id=None,
        )

    # -- Charges ---------------------------------------------------------------------------

    def charge(
        self,
        event_type: str,
        status: str,
        *,
        charge_id: str = CHARGE_ID,
        amount_refunded: int = 0,
        failure: tuple[str, str, str] | None = None,
    ) -> Event:
        obj = self._base("charge")
        code, message, reason = failure or (None, None, None)
        obj.update(
            id=charge_id,
            payment_intent=PI_ID,
            metadata={"payment_id": PAYMENT_ID, "product_id": "tea"},
            amount=AMOUNT,
            amount_captured=AMOUNT if status == "succeeded" else 0,
            amount_refunded=amount_refunded,
            refunded=amount_refunded == AMOUNT,
            captured=status == "succeeded",
            paid=status == "succeeded",
            status=status,
            currency=CURRENCY,
            failure_code=code,
            failure_message=message,
            outcome={
                "type": "issuer_declined" if failure else "authorized",
                "reason": reason,
                "network_status": "declined_by_network" if failure else "approved_by_network",
                "seller_message": "The bank declined the payment." if failure else None,
                "risk_level": "normal",
            },
        )
        # Since API version 2022-11-15 an event's charge does not list its refunds.
        obj.pop("refunds", None)
        # Stripe fills these in a few seconds after the charge (charge.updated).
        obj.update(balance_transaction=None, receipt_url=None)
        return self.event(event_type, obj)

    def charge_succeeded(self, charge_id: str = CHARGE_ID) -> Event:
        return self.charge("charge.succeeded", "succeeded", charge_id=charge_id)

    def charge_pending(self) -> Event:
        return self.charge("charge.pending", "pending")

    def charge_failed(self, charge_id: str = CHARGE_ID) -> Event:
        failure = ("card_declined", "Your card has insufficient funds.", "insufficient_funds")
        return self.charge("charge.failed", "failed", charge_id=charge_id, failure=failure)

    def charge_refunded(self, amount_refunded: int) -> Event:
        return self.charge("charge.refunded", "succeeded", amount_refunded=amount_refunded)

    def charge_updated(self, balance_transaction: str | dict[str, Any] = TXN_ID) -> Event:
        """The charge once Stripe has its balance transaction (an id, or expanded) and receipt."""
        event = self.charge("charge.succeeded", "succeeded")
        event["type"] = "charge.updated"
        event["data"]["object"].update(
            balance_transaction=balance_transaction, receipt_url=RECEIPT_URL
        )
        event["data"]["previous_attributes"] = {"balance_transaction": None, "receipt_url": None}
        return event

    # -- Refunds and disputes --------------------------------------------------------------

    def refund(
        self,
        event_type: str,
        refund_id: str,
        amount: int,
        status: str,
        failure_reason: str | None = None,
    ) -> Event:
        obj = self._base("refund")
        obj.update(
            id=refund_id,
            amount=amount,
            charge=CHARGE_ID,
            payment_intent=PI_ID,
            currency=CURRENCY,
            status=status,
            reason="requested_by_customer",
            created=REFUND_CREATED.get(refund_id, START + 700),
            failure_reason=failure_reason,
        )
        return self.event(event_type, obj)

    def dispute(
        self,
        event_type: str,
        status: str,
        *,
        dispute_id: str = DISPUTE_ID,
        reason: str = "fraudulent",
    ) -> Event:
        obj = self._base("dispute")
        obj.update(
            id=dispute_id,
            amount=AMOUNT,
            charge=CHARGE_ID,
            payment_intent=PI_ID,
            currency=CURRENCY,
            status=status,
            reason=reason,
        )
        obj["evidence_details"] = {**obj["evidence_details"], "due_by": START + 7 * 86400}
        return self.event(event_type, obj)


# -- Flows: each one payment's full event sequence, in the order Stripe sends it --------------


def card_success(s: Stripe) -> list[Event]:
    return [s.pi_created(), s.charge_succeeded(), s.pi_succeeded(), s.completed("paid")]


def decline_then_success(s: Stripe) -> list[Event]:
    return [
        s.pi_created(),
        s.charge_failed("ch_declined"),
        s.pi_failed(charge_id="ch_declined", same_second=True),
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.completed("paid"),
    ]


def three_d_secure_success(s: Stripe) -> list[Event]:
    return [
        s.pi_created(),
        s.pi_requires_action(),
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.completed("paid"),
    ]


def three_d_secure_failed(s: Stripe) -> list[Event]:
    return [s.pi_created(), s.pi_requires_action(), s.pi_auth_failed()]


def async_success(s: Stripe) -> list[Event]:
    return [
        s.pi_created(),
        s.pi_processing(),
        s.charge_pending(),
        s.completed("unpaid"),
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.async_succeeded(),
    ]


def async_failure(s: Stripe) -> list[Event]:
    return [
        s.pi_created(),
        s.pi_processing(),
        s.charge_pending(),
        s.completed("unpaid"),
        s.charge_failed(),
        s.pi_failed("The account has insufficient funds.", "insufficient_funds", None),
        s.async_failed(),
    ]


def expiry(s: Stripe) -> list[Event]:
    return [s.pi_created(), s.charge_failed(), s.pi_failed(same_second=True), s.expired()]


def partial_then_full_refund(s: Stripe) -> list[Event]:
    return [
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.completed("paid"),
        s.refund("refund.created", "re_first", 1000, "pending"),
        s.charge_refunded(1000),
        s.refund("refund.updated", "re_first", 1000, "succeeded"),
        s.refund("refund.created", "re_rest", 1500, "pending"),
        s.charge_refunded(AMOUNT),
        s.refund("charge.refund.updated", "re_rest", 1500, "succeeded"),
    ]


def refund_pending_then_succeeded(s: Stripe) -> list[Event]:
    """A refund that starts pending (a bank refund, or Stripe's test card 4000000000007726)."""
    return [
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.completed("paid"),
        s.refund("refund.created", "re_first", AMOUNT, "pending"),
        s.charge_refunded(AMOUNT),
        s.refund("refund.updated", "re_first", AMOUNT, "succeeded"),
        s.refund("charge.refund.updated", "re_first", AMOUNT, "succeeded"),
    ]


def refund_succeeded_then_failed(s: Stripe) -> list[Event]:
    """A refund that succeeds, then fails (Stripe's test card 4000000000005126): no new
    charge.refunded comes, so the last one still counts the failed amount."""
    return [
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.completed("paid"),
        s.refund("refund.created", "re_first", AMOUNT, "succeeded"),
        s.charge_refunded(AMOUNT),
        s.refund("refund.updated", "re_first", AMOUNT, "failed", "lost_or_stolen_card"),
        s.refund("refund.failed", "re_first", AMOUNT, "failed", "lost_or_stolen_card"),
        s.refund("charge.refund.updated", "re_first", AMOUNT, "failed", "lost_or_stolen_card"),
    ]


def fee_arrives_later(s: Stripe) -> list[Event]:
    return [s.charge_succeeded(), s.pi_succeeded(), s.completed("paid"), s.charge_updated()]


def dispute_won(s: Stripe) -> list[Event]:
    return [
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.completed("paid"),
        s.dispute("charge.dispute.created", "needs_response"),
        s.dispute("charge.dispute.funds_withdrawn", "needs_response"),
        s.dispute("charge.dispute.updated", "under_review"),
        s.dispute("charge.dispute.closed", "won"),
        s.dispute("charge.dispute.funds_reinstated", "won"),
    ]


def dispute_lost(s: Stripe) -> list[Event]:
    return [
        s.charge_succeeded(),
        s.pi_succeeded(),
        s.completed("paid"),
        s.dispute("charge.dispute.created", "needs_response"),
        s.dispute("charge.dispute.funds_withdrawn", "needs_response"),
        s.dispute("charge.dispute.updated", "under_review"),
        s.dispute("charge.dispute.closed", "lost"),
    ]


Flow = Callable[[Stripe], list[Event]]
FLOWS: dict[str, Flow] = {
    flow.__name__: flow
    for flow in (
        card_success,
        decline_then_success,
        three_d_secure_success,
        three_d_secure_failed,
        async_success,
        async_failure,
        expiry,
        partial_then_full_refund,
        refund_pending_then_succeeded,
        refund_succeeded_then_failed,
        fee_arrives_later,
        dispute_won,
        dispute_lost,
    )
}


# -- Single events by name, as the transition tables and docs/state-machine.md name them ------

Sample = Callable[[Stripe], Event]
SAMPLES: dict[str, Sample] = {
    "checkout.session.completed (paid)": lambda s: s.completed("paid"),
    "checkout.session.completed (unpaid)": lambda s: s.completed("unpaid"),
    "checkout.session.async_payment_succeeded": Stripe.async_succeeded,
    "checkout.session.async_payment_failed": Stripe.async_failed,
    "checkout.session.expired": Stripe.expired,
    "payment_intent.created": Stripe.pi_created,
    "payment_intent.requires_action": Stripe.pi_requires_action,
    "payment_intent.processing": Stripe.pi_processing,
    "payment_intent.succeeded": lambda s: s.pi_succeeded(),
    "payment_intent.payment_failed": lambda s: s.pi_failed(),
    "payment_intent.payment_failed (3-D Secure)": Stripe.pi_auth_failed,
    "charge.succeeded": lambda s: s.charge_succeeded(),
    "charge.pending": Stripe.charge_pending,
    "charge.failed": lambda s: s.charge_failed(),
    "charge.refunded (part)": lambda s: s.charge_refunded(1000),
    "charge.refunded (all)": lambda s: s.charge_refunded(AMOUNT),
    "charge.updated": lambda s: s.charge_updated(),
    "refund.created (part)": lambda s: s.refund("refund.created", "re_first", 1000, "pending"),
    "refund.created (rest)": lambda s: s.refund("refund.created", "re_rest", 1500, "pending"),
    "refund.updated (part)": lambda s: s.refund("refund.updated", "re_first", 1000, "succeeded"),
    "refund.failed (part)": lambda s: s.refund(
        "refund.failed", "re_first", 1000, "failed", "lost_or_stolen_card"
    ),
    "charge.refund.updated (rest)": lambda s: s.refund(
        "charge.refund.updated", "re_rest", 1500, "succeeded"
    ),
    "charge.dispute.created": lambda s: s.dispute("charge.dispute.created", "needs_response"),
    "charge.dispute.created (inquiry)": lambda s: s.dispute(
        "charge.dispute.created", "warning_needs_response"
    ),
    "charge.dispute.funds_withdrawn": lambda s: s.dispute(
        "charge.dispute.funds_withdrawn", "needs_response"
    ),
    "charge.dispute.updated": lambda s: s.dispute("charge.dispute.updated", "under_review"),
    "charge.dispute.closed (won)": lambda s: s.dispute("charge.dispute.closed", "won"),
    "charge.dispute.closed (lost)": lambda s: s.dispute("charge.dispute.closed", "lost"),
    "charge.dispute.funds_reinstated": lambda s: s.dispute(
        "charge.dispute.funds_reinstated", "won"
    ),
}

# Events that bring a new payment to each status (the "from" column of the transition tables).
START_STATES: dict[str, list[str]] = {
    "pending": [],
    "declined": ["payment_intent.payment_failed"],
    "processing": ["checkout.session.completed (unpaid)"],
    "expired": ["checkout.session.expired"],
    "failed": ["checkout.session.completed (unpaid)", "checkout.session.async_payment_failed"],
    "succeeded": ["payment_intent.succeeded"],
    "partially_refunded": ["payment_intent.succeeded", "refund.created (part)"],
    "refunded": ["payment_intent.succeeded", "charge.refunded (all)"],
    "disputed": ["payment_intent.succeeded", "charge.dispute.created"],
}

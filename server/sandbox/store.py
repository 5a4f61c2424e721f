"""In-memory state: every object the sandbox has made, by id, in creation order."""

from __future__ import annotations

from typing import TypeVar

from .errors import resource_missing
from .records import (
    BalanceTransaction,
    Charge,
    CheckoutSession,
    Customer,
    Dispute,
    Event,
    PaymentIntent,
    PaymentMethod,
    Refund,
    WebhookEndpoint,
)

T = TypeVar("T")


def _get(table: dict[str, T], kind: str, object_id: str, param: str) -> T:
    try:
        return table[object_id]
    except KeyError:
        raise resource_missing(kind, object_id, param) from None


class Store:
    """Dicts keep insertion order, which is creation order: lists read them newest first."""

    def __init__(self) -> None:
        self.checkout_sessions: dict[str, CheckoutSession] = {}
        self.customers: dict[str, Customer] = {}
        self.payment_intents: dict[str, PaymentIntent] = {}
        self.payment_methods: dict[str, PaymentMethod] = {}
        self.charges: dict[str, Charge] = {}
        self.refunds: dict[str, Refund] = {}
        self.disputes: dict[str, Dispute] = {}
        self.events: dict[str, Event] = {}
        self.webhook_endpoints: dict[str, WebhookEndpoint] = {}
        self.balance_transactions: dict[str, BalanceTransaction] = {}

    def checkout_session(self, object_id: str, param: str = "id") -> CheckoutSession:
        return _get(self.checkout_sessions, "checkout.session", object_id, param)

    def customer(self, object_id: str, param: str = "id") -> Customer:
        return _get(self.customers, "customer", object_id, param)

    def payment_intent(self, object_id: str, param: str = "id") -> PaymentIntent:
        return _get(self.payment_intents, "payment_intent", object_id, param)

    def payment_method(self, object_id: str, param: str = "id") -> PaymentMethod:
        return _get(self.payment_methods, "payment_method", object_id, param)

    def charge(self, object_id: str, param: str = "id") -> Charge:
        return _get(self.charges, "charge", object_id, param)

    def refund(self, object_id: str, param: str = "id") -> Refund:
        return _get(self.refunds, "refund", object_id, param)

    def dispute(self, object_id: str, param: str = "id") -> Dispute:
        return _get(self.disputes, "dispute", object_id, param)

    def event(self, object_id: str, param: str = "id") -> Event:
        return _get(self.events, "event", object_id, param)

    def webhook_endpoint(self, object_id: str, param: str = "id") -> WebhookEndpoint:
        # Stripe names this object with a space in its "No such ..." message.
        return _get(self.webhook_endpoints, "webhook endpoint", object_id, param)

    def balance_transaction(self, object_id: str, param: str = "id") -> BalanceTransaction:
        return _get(self.balance_transactions, "balance_transaction", object_id, param)

    def refunds_of(self, charge_id: str) -> list[Refund]:
        return [refund for refund in self.refunds.values() if refund.charge_id == charge_id]

    def disputes_of(self, charge_id: str) -> list[Dispute]:
        return [dispute for dispute in self.disputes.values() if dispute.charge_id == charge_id]

"""The sandbox's objects as plain records; `render` turns them into Stripe's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Origin:
    """What caused a change: an API request (its id and Idempotency-Key), or nothing (a timer, the
    customer on the hosted page), which Stripe reports as `request: {id: null, ...}`."""

    request_id: str | None = None
    idempotency_key: str | None = None


AUTOMATIC = Origin()


@dataclass
class LineItem:
    id: str
    price_id: str
    product_id: str
    created: int
    name: str
    product_description: str | None
    currency: str
    unit_amount: int
    quantity: int

    @property
    def amount_total(self) -> int:
        return self.unit_amount * self.quantity


@dataclass
class CheckoutSession:
    id: str
    created: int
    expires_at: int
    url: str
    currency: str
    line_items: list[LineItem]
    success_url: str | None
    cancel_url: str | None
    customer_email: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    payment_intent_metadata: dict[str, str]
    payment_intent_description: str | None
    payment_intent_receipt_email: str | None
    locale: str | None
    submit_type: str | None
    billing_address_collection: str | None
    payment_method_types: list[str]
    status: str = "open"
    payment_status: str = "unpaid"
    payment_intent_id: str | None = None
    customer_details_email: str | None = None
    customer_details_name: str | None = None
    customer_id: str | None = None
    # "always": Checkout makes a Customer when the session completes; "if_required" (Stripe's
    # default in payment mode): none is made for a one-off payment.
    customer_creation: str | None = None
    # `saved_payment_method_options`: whether the page offers to save the card ("enabled"), and
    # which saved cards it offers back, by their `allow_redisplay` (None: Stripe's ["always"]).
    payment_method_save: str | None = None
    allow_redisplay_filters: list[str] | None = None
    # The customer ticked "save my card": it is attached to the Customer when the payment succeeds.
    save_requested: bool = False

    @property
    def amount_total(self) -> int:
        return sum(item.amount_total for item in self.line_items)

    @property
    def has_saved_payment_method_options(self) -> bool:
        return self.payment_method_save is not None or self.allow_redisplay_filters is not None


@dataclass
class Customer:
    """Who pays: Checkout pre-fills its page with the customer's email and name."""

    id: str
    created: int
    email: str | None
    name: str | None
    phone: str | None
    description: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class CardDetails:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    funding: str
    country: str
    fingerprint: str


@dataclass(frozen=True)
class SepaDebitDetails:
    bank_code: str
    branch_code: str
    country: str
    last4: str
    fingerprint: str


@dataclass
class PaymentMethod:
    id: str
    created: int
    type: str  # "card" or "sepa_debit"
    card: CardDetails | None = None
    sepa_debit: SepaDebitDetails | None = None
    billing_email: str | None = None
    billing_name: str | None = None
    # The test card number or IBAN that decides what happens; None for a real (live) card number.
    instrument: str | None = None
    # The Customer it is saved to, and whether Checkout may offer it back to them ("always":
    # saved with the customer's consent on the page; "limited", "unspecified": not by default).
    customer_id: str | None = None
    allow_redisplay: str = "unspecified"


@dataclass
class PaymentIntent:
    id: str
    created: int
    amount: int
    currency: str
    client_secret: str
    payment_method_types: list[str]
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    receipt_email: str | None = None
    automatic_payment_methods: bool = False
    status: str = "requires_payment_method"
    payment_method_id: str | None = None
    latest_charge_id: str | None = None
    last_payment_error: dict[str, Any] | None = None
    next_action: dict[str, Any] | None = None
    amount_received: int = 0
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    checkout_session_id: str | None = None


@dataclass
class Charge:
    id: str
    created: int
    amount: int
    currency: str
    payment_intent_id: str
    payment_method_id: str
    status: str  # "succeeded", "pending" or "failed"
    outcome: dict[str, Any]
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    receipt_email: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    amount_refunded: int = 0
    disputed: bool = False
    three_d_secure: bool = False
    # Set a few seconds after the charge succeeds, announced by `charge.updated`.
    balance_transaction_id: str | None = None
    # The sandbox's receipt page, once the charge succeeded.
    receipt_url: str | None = None

    @property
    def paid(self) -> bool:
        return self.status == "succeeded"

    @property
    def refunded(self) -> bool:
        return self.paid and self.amount_refunded >= self.amount


@dataclass
class Refund:
    id: str
    created: int
    amount: int
    currency: str
    charge_id: str
    payment_intent_id: str
    reason: str | None
    metadata: dict[str, str]
    status: str = "succeeded"
    # "card" or "sepa_debit": what the money goes back to.
    payment_method_type: str = "card"
    failure_reason: str | None = None
    balance_transaction_id: str | None = None
    # The balance transaction that put a failed refund's amount back.
    failure_balance_transaction_id: str | None = None


@dataclass
class BalanceTransaction:
    """Money moving on the account's balance: a charge (less Stripe's fee), a refund, a reversal."""

    id: str
    created: int
    amount: int
    currency: str
    fee: int
    fee_details: list[dict[str, Any]]
    type: str  # "charge", "refund" or "refund_failure"
    source_id: str
    description: str | None
    # When the money can be paid out; the transaction is "pending" until then.
    available_on: int

    @property
    def net(self) -> int:
        return self.amount - self.fee


# fmt: off
DISPUTE_EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy",
    "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
    "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature",
    "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id",
    "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address",
    "shipping_carrier", "shipping_date", "shipping_documentation", "shipping_tracking_number",
    "uncategorized_file", "uncategorized_text",
)
# fmt: on


@dataclass
class Dispute:
    id: str
    created: int
    amount: int
    currency: str
    charge_id: str
    payment_intent_id: str
    reason: str
    due_by: int
    status: str = "needs_response"
    evidence: dict[str, str | None] = field(
        default_factory=lambda: dict.fromkeys(DISPUTE_EVIDENCE_FIELDS)
    )
    submission_count: int = 0
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in ("needs_response", "under_review", "warning_needs_response")


@dataclass
class DeliveryState:
    """Where one event stands with one webhook endpoint."""

    attempts: int = 0
    duplicates_sent: int = 0
    delivered: bool = False
    gave_up: bool = False
    last_status: int | None = None
    last_error: str | None = None
    next_attempt_at: float | None = None
    delivered_at: float | None = None
    # The endpoint was disabled when this delivery came due: it is sent when it is enabled again.
    held: bool = False


@dataclass
class Event:
    id: str
    created: int
    type: str
    api_version: str
    data_object: dict[str, Any]
    previous_attributes: dict[str, Any] | None
    origin: Origin
    # One state per webhook endpoint the event was sent to (by endpoint id); empty when no
    # enabled endpoint listens to its type: nothing is pending, nothing to deliver.
    deliveries: dict[str, DeliveryState] = field(default_factory=dict)

    @property
    def pending_webhooks(self) -> int:
        return sum(1 for state in self.deliveries.values() if not state.delivered)


@dataclass
class WebhookEndpoint:
    """Where events go: a URL, the event types it listens to, and the secrets that sign for it."""

    id: str
    created: int
    url: str
    enabled_events: list[str]
    # Every secret signs each delivery (one `v1=` each); the first is the one Stripe shows.
    secrets: tuple[str, ...]
    api_version: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "enabled"

    def listens_to(self, event_type: str) -> bool:
        return self.status == "enabled" and (
            "*" in self.enabled_events or event_type in self.enabled_events
        )

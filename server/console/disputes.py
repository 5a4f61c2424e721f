"""What the operator should do about a dispute: by when, with which evidence, and where to answer it."""

from __future__ import annotations

from dataclasses import dataclass

from ..lifecycle import Dispute

DASHBOARD = "https://dashboard.stripe.com"
ANSWERABLE = frozenset({"needs_response", "warning_needs_response"})
WAITING = frozenset({"under_review", "warning_under_review"})


@dataclass(frozen=True)
class Reason:
    claim: str  # what the customer's bank says, in a sentence
    evidence: tuple[str, ...]  # what helps against that claim


# The evidence Stripe's dispute categories ask for, in the operator's words.
RECEIPT = "The receipt and what the customer bought, as they saw it when paying."
MESSAGES = "Your messages with the customer about this payment."
AUTHORISED = (
    "Proof the customer made the payment: their name, email address and billing address match "
    "the order, and where they paid from.",
    "Proof they used what they paid for: delivery confirmation, logins or downloads, attendance "
    "at the class or appointment, after the payment.",
    MESSAGES,
    "Earlier payments by the same customer that they did not dispute.",
)
GENERAL = Reason(
    "The bank gave no specific reason.",
    (
        RECEIPT,
        "Proof of delivery, or of the service given (date, attendance, access logs).",
        MESSAGES,
        "Your refund and cancellation policy, and how the customer saw it before paying.",
    ),
)
REASONS: dict[str, Reason] = {
    "fraudulent": Reason(
        "The cardholder says they did not make or allow this payment.", AUTHORISED
    ),
    "debit_not_authorized": Reason(
        "The account holder says they did not allow this debit.", AUTHORISED
    ),
    "unrecognized": Reason(
        "The customer does not recognise this payment on their statement.",
        (
            "Contact the customer first: once they recognise it, they can withdraw the dispute.",
            RECEIPT,
            *AUTHORISED[:2],
        ),
    ),
    "product_not_received": Reason(
        "The customer says they did not receive what they paid for.",
        (
            "Proof of delivery or access: the carrier and tracking number with the delivery "
            "confirmation, or the date the service was given with attendance or access logs.",
            "What was promised and when, as the customer saw it when paying.",
            "Messages where the customer confirms they received it or used it.",
        ),
    ),
    "product_unacceptable": Reason(
        "The customer says what they received was faulty or not as described.",
        (
            "The description of the product or service the customer saw when paying.",
            "Proof it matched the description: photos, documentation, the session notes.",
            "Your refund or return policy, how the customer saw it, and whether they returned anything.",
            MESSAGES,
        ),
    ),
    "duplicate": Reason(
        "The customer says they were charged twice for one purchase.",
        (
            "Proof the two payments were for different things: two orders, two receipts.",
            "Or that the other payment was already refunded (its refund id).",
        ),
    ),
    "subscription_canceled": Reason(
        "The customer says they cancelled before this payment.",
        (
            "Your cancellation policy and how the customer saw it before paying.",
            "Proof they did not cancel in time, or kept using the service after.",
            MESSAGES,
        ),
    ),
    "credit_not_processed": Reason(
        "The customer says they were promised a refund or credit that never came.",
        (
            "Your refund policy and how the customer saw it before paying.",
            "Why no refund is owed, or the id of the refund you already made.",
            MESSAGES,
        ),
    ),
}


@dataclass(frozen=True)
class Advice:
    """A dispute with what to do about it now."""

    dispute_id: str
    dispute: Dispute
    claim: str
    todo: str  # what to do now, in one sentence
    evidence: tuple[str, ...]  # empty when nothing is to be sent
    dashboard_url: str
    answerable: bool


def dashboard_url(dispute_id: str, *, test_mode: bool) -> str:
    """The dispute in the Stripe Dashboard, where the operator answers it."""
    return f"{DASHBOARD}/{'test/' if test_mode else ''}disputes/{dispute_id}"


def advise(dispute_id: str, dispute: Dispute, *, test_mode: bool) -> Advice:
    reason = REASONS.get(dispute.reason or "", GENERAL)
    status = dispute.status
    if status in ANSWERABLE:
        inquiry = status.startswith("warning_")
        todo = (
            "This is an inquiry: the bank asks before it becomes a chargeback, and no money is "
            "held yet. Answer it in the Stripe Dashboard before the deadline; a good answer often "
            "ends it."
            if inquiry
            else "Respond in the Stripe Dashboard before the deadline with the evidence below; "
            "without a response the dispute is lost. If the customer is right, accept the "
            "dispute there instead. Do not refund: the disputed amount was already taken back."
        )
    elif status in WAITING:
        todo = "Your response is with the customer's bank; nothing to do until it decides, which can take weeks."
    elif status == "won":
        todo = "Won: the disputed amount came back to you. Nothing to do."
    elif status == "lost":
        todo = "Lost: the customer keeps the disputed amount. The decision is final."
    elif status == "warning_closed":
        todo = "The inquiry closed without becoming a chargeback. Nothing to do."
    else:
        todo = "Check the dispute in the Stripe Dashboard."
    return Advice(
        dispute_id=dispute_id,
        dispute=dispute,
        claim=reason.claim,
        todo=todo,
        evidence=reason.evidence if status in ANSWERABLE else (),
        dashboard_url=dashboard_url(dispute_id, test_mode=test_mode),
        answerable=status in ANSWERABLE,
    )

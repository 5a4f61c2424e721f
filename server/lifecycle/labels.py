"""What the customer's status page says about a payment, and what the customer can do next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..money import format_amount
from .facts import Facts, paid_amount
from .status import SETTLED, Status


@dataclass(frozen=True)
class CustomerView:
    key: str  # for the page script: the status value
    title: str  # what happened, in plain words
    detail: str  # what the customer can do next
    final: bool  # nothing left for the customer to wait for: the page may stop listening
    # How a closed dispute ended ("won", "lost", "warning_closed"), or "refund_pending" while a
    # refund is on its way: the card pictures that rather than the status. None otherwise.
    outcome: str | None = None


# Stripe's event for a card payment waiting on the customer's bank (3-D Secure); it changes no
# status, so it is read from the facts' seen event types.
AUTHENTICATION_REQUESTED = "payment_intent.requires_action"
CLOSED_DISPUTE = frozenset({"won", "lost", "warning_closed"})


def customer_view(status: Status, facts: Facts, *, amount: int, currency: str) -> CustomerView:
    """The status page's words; `amount` and `currency` come from the payment record."""
    title, detail = _words(status, facts, amount, currency.lower())
    return CustomerView(
        key=str(status),
        title=title,
        detail=detail,
        # A refund under way has an outcome still to come: the page keeps listening for it.
        final=status in SETTLED and not facts.refunds_under_way,
        outcome=_outcome(status, facts),
    )


def _words(status: Status, facts: Facts, amount: int, currency: str) -> tuple[str, str]:
    def money(minor: int) -> str:
        return format_amount(minor, currency)

    under_way = facts.refunds_under_way
    match status:
        case _ if status in PAID and under_way:
            # Stripe counts a pending refund as refunded; the customer is told it is on its way,
            # not that it arrived (a bank refund can still fail).
            refund = sum(r.amount for r in under_way.values())
            since = min((r.created_s for r in under_way.values() if r.created_s), default=0)
            started = f" (started {_day(since)})" if since else ""
            whole = paid_amount(facts, amount)
            of = "" if refund >= whole else f" of your {money(whole)} payment"
            return (
                "Refund on its way",
                f"A refund of {money(refund)}{of} is on its way to how you paid{started}."
                " It can take a few days to arrive.",
            )
        case Status.PENDING if AUTHENTICATION_REQUESTED in facts.seen:
            return (
                "Your bank is asking you to confirm",
                "Confirm the payment on the checkout page or in your bank's app;"
                " nothing is charged until you do.",
            )
        # No "this page updates by itself": only the page's script may say so, as without it
        # the page does not.
        case Status.PENDING:
            return "Waiting for your payment", "Finish paying on the checkout page."
        case Status.NOT_STARTED:
            return (
                "Your payment could not be started",
                "Our payment provider could not be reached. Please try again in a few minutes.",
            )
        case Status.DECLINED:
            reason = _decline_reason(facts)
            return (
                "Your payment was declined",
                f"{reason or 'Your bank gave no reason.'} You can try again.",
            )
        case Status.PROCESSING:
            return (
                "Your bank payment is being processed",
                "You can close this page; we will email you when it completes.",
            )
        case Status.EXPIRED:
            return "This checkout has expired", "Nothing was charged. You can start a new payment."
        case Status.FAILED:
            return (
                "Your bank payment failed",
                "The payment did not go through. You can start a new payment.",
            )
        case Status.SUCCEEDED:
            return "Paid", f"Thank you: we received {money(paid_amount(facts, amount))}."
        case Status.PARTIALLY_REFUNDED:
            refunded, paid = money(facts.refunded_amount), money(paid_amount(facts, amount))
            return "Paid, partly refunded", f"{refunded} of {paid} is refunded to how you paid."
        case Status.REFUNDED:
            return (
                "Refunded",
                f"{money(facts.refunded_amount)} is refunded to how you paid."
                " It can take a few days to show.",
            )
        case Status.DISPUTED:
            return _dispute_words(facts)
    raise AssertionError(f"no words for status {status!r}")  # a new Status needs its words


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(stamp_s: int) -> str:
    """'28 Nov 2026' (UTC), the same in every locale."""
    at = datetime.fromtimestamp(stamp_s, UTC)
    return f"{at.day} {MONTHS[at.month - 1]} {at.year}"


REFUND_PENDING = "refund_pending"
PAID = frozenset({Status.SUCCEEDED, Status.PARTIALLY_REFUNDED, Status.REFUNDED})


def _outcome(status: Status, facts: Facts) -> str | None:
    if status is Status.DISPUTED:
        return _dispute_outcome(facts)
    return REFUND_PENDING if status in PAID and facts.refunds_under_way else None


def _dispute_outcome(facts: Facts) -> str | None:
    dispute = facts.latest_dispute
    return dispute.status if dispute and dispute.status in CLOSED_DISPUTE else None


def _dispute_words(facts: Facts) -> tuple[str, str]:
    dispute = facts.latest_dispute
    outcome = dispute.status if dispute else None
    if outcome == "won":
        return "Dispute closed", "Your bank decided that the payment stands."
    if outcome == "lost":
        return "Dispute closed", "Your bank decided in your favour and returned the money."
    if outcome == "warning_closed":
        return "Inquiry closed", "Your bank's inquiry about this payment is closed."
    return "This payment is disputed", "Your bank is looking into it and will tell you the outcome."


# Stripe's message for these codes is written for developers; the customer gets plain words.
DECLINE_WORDS = {
    "payment_intent_authentication_failure": "Your bank could not confirm that it was you.",
}


def _decline_reason(facts: Facts) -> str | None:
    decline = facts.decline
    if decline is None:
        return None
    return DECLINE_WORDS.get(decline.code or "", decline.message)

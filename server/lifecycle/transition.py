"""One step of the state machine: merge an event's facts, derive the status, say why, pick mails."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .events import EventFacts
from .facts import Facts, derive_status
from .status import RANK, SETTLED, Status


class MailKind(StrEnum):
    RECEIPT = "receipt"
    OPERATOR_NEW_PAYMENT = "operator_new_payment"
    PROCESSING_NOTICE = "processing_notice"
    ASYNC_FAILED_CUSTOMER = "async_failed_customer"
    ASYNC_FAILED_OPERATOR = "async_failed_operator"
    REFUND_CONFIRMATION = "refund_confirmation"
    REFUND_FAILED_OPERATOR = "refund_failed_operator"
    DISPUTE_ALERT = "dispute_alert"
    DISPUTE_CLOSED = "dispute_closed"
    # Not a transition's: queued once per incident when Stripe's webhooks stop reaching paydesk.
    WEBHOOK_ALARM = "webhook_alarm"


# A dispute's final statuses: the operator hears how it ended, once per dispute.
CLOSED_DISPUTE_STATUSES = frozenset({"won", "lost", "warning_closed"})


@dataclass(frozen=True, order=True)
class MailIntent:
    """A mail to enqueue; the outbox keeps one row per (payment id, dedupe_key), ever."""

    kind: MailKind
    dedupe_key: str

    @property
    def urgent(self) -> bool:
        # Dispute evidence is due within days; while webhooks fail, refunds and disputes go unseen;
        # a failed refund leaves a customer waiting for money that is not coming.
        return self.kind in (
            MailKind.DISPUTE_ALERT,
            MailKind.WEBHOOK_ALARM,
            MailKind.REFUND_FAILED_OPERATOR,
        )


@dataclass(frozen=True)
class Outcome:
    facts: Facts  # to store, whether or not the status changed
    status_before: Status
    status_after: Status
    changed: bool  # the facts changed (a duplicate or an event with nothing new leaves them)
    reason: str  # one line for the payment's timeline
    mails: tuple[MailIntent, ...]  # to enqueue in the same transaction as the facts


def mails_for(facts: Facts, status: Status) -> frozenset[MailIntent]:
    """Every mail a payment in this state should have had, so a step sends what is new.

    Mails about what happened (paid, each refund, each dispute and how it ended) follow the
    facts, and so go out in any order of events. The processing and failure notices describe a status, so they go
    out only when that is the status: a processing event that arrives after the payment
    succeeded or failed sends nothing, rather than news that is already out of date.
    """
    mails: set[MailIntent] = set()
    if facts.paid:
        mails |= {_mail(MailKind.RECEIPT), _mail(MailKind.OPERATOR_NEW_PAYMENT)}
    if status is Status.PROCESSING:
        mails.add(_mail(MailKind.PROCESSING_NOTICE))
    if status is Status.FAILED:
        mails |= {_mail(MailKind.ASYNC_FAILED_CUSTOMER), _mail(MailKind.ASYNC_FAILED_OPERATOR)}
    # One confirmation per refund id. charge.refunded alone (a cumulative amount, no ids) never
    # mails: Stripe sends refund.created for every refund, and keying a mail by the amount as
    # well would send a second one when that refund's own event arrives.
    mails |= {
        _mail(MailKind.REFUND_CONFIRMATION, refund_id)
        for refund_id, refund in facts.refunds.items()
        if refund.counted
    }
    # A refund that failed (after its confirmation went out, or before): the operator must act.
    mails |= {_mail(MailKind.REFUND_FAILED_OPERATOR, rid) for rid in facts.failed_refunds}
    mails |= {_mail(MailKind.DISPUTE_ALERT, dispute_id) for dispute_id in facts.disputes}
    mails |= {
        _mail(MailKind.DISPUTE_CLOSED, dispute_id)
        for dispute_id, dispute in facts.disputes.items()
        if dispute.status in CLOSED_DISPUTE_STATUSES
    }
    return frozenset(mails)


def apply(current: Facts, event: EventFacts, *, amount: int) -> Outcome:
    """Merge one event into a payment's facts; `amount` is the payment record's, in minor units."""
    merged = current.merge(event.facts)
    before = derive_status(current, amount)
    after = derive_status(merged, amount)
    new_mails = mails_for(merged, after) - mails_for(current, before)
    return Outcome(
        facts=merged,
        status_before=before,
        status_after=after,
        changed=merged != current,
        reason=_reason(current, merged, before, after, event, amount),
        mails=tuple(sorted(new_mails)),
    )


def headline(status: Status, facts: Facts) -> str:
    """The timeline's words for a status, with the detail that can change while it stays."""
    if status is Status.DECLINED and facts.decline and facts.decline.message:
        return f"payment declined: {facts.decline.message}"
    dispute = facts.latest_dispute
    if status is Status.DISPUTED and dispute:
        return DISPUTE_HEADLINES.get(dispute.status, f"dispute {dispute.status}")
    return HEADLINES[status]


HEADLINES = {
    Status.PENDING: "waiting for payment",
    Status.NOT_STARTED: "checkout not started",
    Status.DECLINED: "payment declined",
    Status.PROCESSING: "bank payment processing",
    Status.EXPIRED: "checkout expired unpaid",
    Status.FAILED: "bank payment failed",
    Status.SUCCEEDED: "payment succeeded",
    Status.PARTIALLY_REFUNDED: "partially refunded",
    Status.REFUNDED: "refunded in full",
    Status.DISPUTED: "dispute opened",
}
DISPUTE_HEADLINES = {
    "warning_needs_response": "inquiry opened: response needed",
    "warning_under_review": "inquiry under review",
    "warning_closed": "inquiry closed",
    "needs_response": "dispute opened: response needed",
    "under_review": "dispute under review",
    "won": "dispute won",
    "lost": "dispute lost",
}
# What an event is, in "recorded: …" and "a late … changes nothing".
NOUNS = {
    "checkout.session.completed": "checkout completion",
    "checkout.session.async_payment_succeeded": "bank payment success",
    "checkout.session.async_payment_failed": "bank payment failure",
    "checkout.session.expired": "session expiry",
    "payment_intent.succeeded": "payment success",
    "payment_intent.processing": "processing update",
    "payment_intent.payment_failed": "decline",
    "payment_intent.requires_action": "authentication request (3-D Secure)",
    "payment_intent.created": "payment intent creation",
    "charge.succeeded": "charge success",
    "charge.pending": "pending charge",
    "charge.failed": "decline",
    "charge.refunded": "refund",
    "charge.updated": "charge update (fee, receipt)",
    "refund.created": "refund",
    "refund.updated": "refund update",
    "refund.failed": "refund failure",
    "charge.refund.updated": "refund update",
    "charge.dispute.created": "dispute",
    "charge.dispute.updated": "dispute update",
    "charge.dispute.closed": "dispute closing",
    "charge.dispute.funds_withdrawn": "dispute withdrawal",
    "charge.dispute.funds_reinstated": "dispute reinstatement",
}


def _reason(
    current: Facts, merged: Facts, before: Status, after: Status, event: EventFacts, amount: int
) -> str:
    if merged == current:
        return "duplicate: nothing new"
    if RANK[after] < RANK[before]:  # only a refund that failed or was canceled lowers the rank
        return f"{_refund_news(current, merged) or 'refund failed or canceled'}: back to {after.replace('_', ' ')}"
    if headline(after, merged) != headline(before, current):
        return headline(after, merged)
    news = _refund_news(current, merged)
    if news:
        return news
    noun = NOUNS.get(event.type, event.type)
    # A late event is news from before the outcome the payment already has: a decline after it
    # succeeded, a checkout completion after it was refunded. Refunds add up, so are never late.
    own = derive_status(event.facts, amount)
    if before in SETTLED and own in LATE_IF_BELOW and RANK[own] < RANK[before]:
        return f"ignored: payment already {before.replace('_', ' ')}, a late {noun} changes nothing"
    return f"recorded: {noun}"


# Stripe's refund `failure_reason`s in the operator's words.
REFUND_FAILURES = {
    "lost_or_stolen_card": "the card was reported lost or stolen",
    "expired_or_canceled_card": "the card has expired or was canceled",
    "charge_for_pending_refund_disputed": "the customer disputed the payment",
    "insufficient_funds": "your Stripe balance could not cover it",
    "declined": "the customer's bank declined it",
    "merchant_request": "it was canceled at your request",
    "unknown": "the bank gave no reason",
}


def refund_failure(reason: str | None) -> str:
    """Why a refund failed, in words; Stripe's own code when paydesk has no words for it yet."""
    if not reason:
        return "Stripe gave no reason"
    return REFUND_FAILURES.get(reason, reason.replace("_", " "))


def _refund_news(current: Facts, merged: Facts) -> str | None:
    """What changed about a refund already known: under way → succeeded, or failed."""
    changes = []
    for refund_id, refund in sorted(merged.refunds.items()):
        known = current.refunds.get(refund_id)
        if known is None or known.status == refund.status:
            continue
        if refund.status == "failed":
            changes.append(f"refund failed ({refund_failure(refund.failure_reason)})")
        else:
            changes.append(f"refund {refund.status.replace('_', ' ')}")
    return "; ".join(changes) or None


LATE_IF_BELOW = frozenset(
    {Status.DECLINED, Status.PROCESSING, Status.EXPIRED, Status.FAILED, Status.SUCCEEDED}
)


def _mail(kind: MailKind, suffix: str = "") -> MailIntent:
    return MailIntent(kind, f"{kind}:{suffix}" if suffix else str(kind))

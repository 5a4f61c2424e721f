"""What each kind of mail says and to whom: subject and template context from a payment (no I/O)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from ..catalog import Catalog
from ..lifecycle import Facts, MailKind, PaymentMethod, paid_amount, refund_failure
from ..money import format_amount
from ..payments import Payment

# Stripe's card brands (payment_method_details.card.brand) as a cardholder knows them.
CARD_BRANDS = {
    "amex": "American Express",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}
# How each closed dispute status ends for the operator: the subject's words and what it means.
DISPUTE_ENDINGS = {
    "won": ("Dispute won", "won"),
    "lost": ("Dispute lost", "lost"),
    "warning_closed": ("Payment inquiry closed", "inquiry_closed"),
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Audience(StrEnum):
    CUSTOMER = "customer"  # the payment's customer_email
    OPERATOR = "operator"  # ADMIN_EMAIL, else the catalog's [shop] contact_email


class UnknownMail(ValueError):
    """The outbox row cannot become a message: an unknown kind, or a refund or dispute id the
    payment's facts do not have."""


@dataclass(frozen=True)
class Links:
    """Absolute URLs the messages link to."""

    status: Callable[[str], str]  # payment id → the customer's status page
    console: Callable[[str], str]  # payment id → the operator's page for the payment
    shop: str  # the payment page, where "try again" leads
    my_payments: str  # where a customer asks for a link to all their payments


@dataclass(frozen=True)
class Draft:
    audience: Audience
    subject: str
    template: str  # `<template>.html` and `<template>.txt` under templates/mail
    context: dict[str, Any]
    urgent: bool = False


def one_line(text: str) -> str:
    """Customer-supplied text made safe for a header: control characters become spaces."""
    cleaned = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(cleaned.split())


def day(stamp_ms: int) -> str:
    """'28 Nov 2024', the same in every locale."""
    moment = datetime.fromtimestamp(stamp_ms / 1000, UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def moment(stamp_ms: int) -> str:
    """'28 Nov 2024, 15:30 UTC'."""
    at = datetime.fromtimestamp(stamp_ms / 1000, UTC)
    return f"{day(stamp_ms)}, {at:%H:%M} UTC"


def paid_with(method: PaymentMethod | None) -> str | None:
    """'Visa ending in 4242', 'SEPA Direct Debit, account ending in 3000'; None when unknown."""
    if method is None or method.last4 is None:
        return None
    if method.type == "card":
        brand = method.brand or "unknown"
        name = CARD_BRANDS.get(brand, "Card" if brand == "unknown" else brand.replace("_", " "))
        return f"{name} ending in {method.last4}"
    if method.type == "sepa_debit":
        return f"SEPA Direct Debit, account ending in {method.last4}"
    return f"Bank account ending in {method.last4}"


# Mail that says how the customer paid: worth a short wait for the charge that tells it.
SHOWS_PAYMENT_METHOD = frozenset({MailKind.RECEIPT, MailKind.OPERATOR_NEW_PAYMENT})


def awaits_payment_method(kind: str, payment: Payment) -> bool:
    """Whether the mail would say how the customer paid, but the charge that tells is not in yet.

    Stripe sends `payment_intent.succeeded`, `checkout.session.completed` and `charge.succeeded`
    in any order, so a payment can be paid before its card's brand and last 4 arrive.
    """
    if kind not in SHOWS_PAYMENT_METHOD or payment.amount <= 0:  # nothing charged, no charge
        return False
    try:
        facts = Facts.from_json(payment.facts)
    except ValueError:
        return False  # composing says what is wrong with them
    return facts.method is None and "charge.succeeded" not in facts.seen


def draft(kind: str, dedupe_key: str, payment: Payment, catalog: Catalog, links: Links) -> Draft:
    """The message an outbox row stands for, from the payment as it is now."""
    try:
        make = DRAFTS[MailKind(kind)]
    except ValueError:
        raise UnknownMail(f"unknown mail kind {kind!r}") from None
    facts = Facts.from_json(payment.facts)
    context = _common(payment, facts, catalog, links)
    return make(_Parts(payment, facts, catalog, links, dedupe_key, context))


@dataclass(frozen=True)
class _Parts:
    payment: Payment
    facts: Facts
    catalog: Catalog
    links: Links
    dedupe_key: str
    context: dict[str, Any]

    def money(self, minor: int) -> str:
        return format_amount(minor, self.payment.currency)

    @property
    def shop(self) -> str:
        return self.catalog.shop.name

    @property
    def ref(self) -> str:
        """Closes every customer's subject: the reference they can quote when they write back."""
        return f" (ref. {self.payment.reference})"

    @property
    def suffix(self) -> str:
        """The id a refund or dispute mail is about: the part of the key after the kind."""
        return self.dedupe_key.partition(":")[2]


def _common(payment: Payment, facts: Facts, catalog: Catalog, links: Links) -> dict[str, Any]:
    money = lambda minor: format_amount(minor, payment.currency)  # noqa: E731
    return {
        "reference": payment.reference,  # the short one the customer sees everywhere
        "customer_name": one_line(payment.customer_name),
        "customer_email": payment.customer_email,
        "product_name": one_line(payment.product_name),
        "quantity": payment.quantity,
        "unit_amount": money(payment.unit_amount),
        "amount": money(payment.amount),
        "date": moment(payment.created_at),
        "status_url": links.status(payment.id),
        "console_url": links.console(payment.id),
        "my_payments_url": links.my_payments,
        "stripe_reference": payment.payment_intent_id,
        "refunded": money(facts.refunded_amount) if facts.refunded_amount else None,
        "paid_with": paid_with(facts.method),
    }


def _receipt(p: _Parts) -> Draft:
    product = p.catalog.get(p.payment.product_id)
    next_step = None
    if product and product.next_step_url:
        next_step = {"url": product.next_step_url, "label": product.next_step_label}
    return Draft(
        Audience.CUSTOMER,
        f"Your receipt from {p.shop} — {p.context['amount']}{p.ref}",
        "receipt",
        {**p.context, "next_step": next_step},
    )


def _operator_new_payment(p: _Parts) -> Draft:
    c = p.context
    return Draft(
        Audience.OPERATOR,
        f"New payment: {c['amount']} from {c['customer_name']} — {c['product_name']}",
        "operator_new_payment",
        c,
    )


def _processing_notice(p: _Parts) -> Draft:
    return Draft(
        Audience.CUSTOMER,
        f"Your bank payment of {p.context['amount']} to {p.shop} is processing{p.ref}",
        "processing_notice",
        p.context,
    )


def _failure_reason(facts: Facts) -> str | None:
    return facts.decline.message if facts.decline else None


def _async_failed_customer(p: _Parts) -> Draft:
    retry_url = f"{p.links.shop}?product={quote(p.payment.product_id)}"
    return Draft(
        Audience.CUSTOMER,
        f"Your bank payment of {p.context['amount']} to {p.shop} did not go through{p.ref}",
        "async_failed_customer",
        {**p.context, "retry_url": retry_url, "reason": _failure_reason(p.facts)},
    )


def _async_failed_operator(p: _Parts) -> Draft:
    c = p.context
    return Draft(
        Audience.OPERATOR,
        f"Bank payment failed: {c['amount']} from {c['customer_name']} — {c['product_name']}",
        "async_failed_operator",
        {**c, "reason": _failure_reason(p.facts)},
    )


def _refund_confirmation(p: _Parts) -> Draft:
    refund = p.facts.refunds.get(p.suffix)
    if refund is None:
        raise UnknownMail(f"payment has no refund {p.suffix!r}")
    paid = paid_amount(p.facts, p.payment.amount)
    remaining = max(paid - p.facts.refunded_amount, 0)
    return Draft(
        Audience.CUSTOMER,
        f"Refund of {p.money(refund.amount)} from {p.shop}{p.ref}",
        "refund_confirmation",
        {
            **p.context,
            "refund_amount": p.money(refund.amount),
            "refunded_total": p.money(p.facts.refunded_amount),
            "remaining": p.money(remaining),
            "fully_refunded": remaining == 0,
            # Rendered when first sent: a refund still pending is on its way, not arrived.
            "under_way": refund.under_way,
        },
    )


def _refund_failed_operator(p: _Parts) -> Draft:
    refund = p.facts.refunds.get(p.suffix)
    if refund is None:
        raise UnknownMail(f"payment has no refund {p.suffix!r}")
    c = p.context
    amount = p.money(refund.amount)
    return Draft(
        Audience.OPERATOR,
        f"Refund failed: {amount} to {c['customer_name']} — the money stays with you",
        "refund_failed_operator",
        {
            **c,
            "refund_id": p.suffix,
            "refund_amount": amount,
            "reason": refund_failure(refund.failure_reason),
        },
        urgent=True,
    )


def _dispute_alert(p: _Parts) -> Draft:
    dispute = p.facts.disputes.get(p.suffix)
    if dispute is None:
        raise UnknownMail(f"payment has no dispute {p.suffix!r}")
    c = p.context
    inquiry = dispute.status.startswith("warning_")  # an inquiry: no money withdrawn yet
    what = "payment inquiry" if inquiry else "dispute"
    subject = f"URGENT: {what} opened on payment of {c['amount']} from {c['customer_name']}"
    due = None
    if dispute.due_by is not None:
        due_ms = dispute.due_by * 1000
        subject += f" — respond by {day(due_ms).rsplit(' ', 1)[0]}"
        due = moment(due_ms)
    return Draft(
        Audience.OPERATOR,
        subject,
        "dispute_alert",
        {
            **c,
            "inquiry": inquiry,
            "dispute_id": p.suffix,
            "dispute_amount": p.money(dispute.amount),
            "dispute_reason": (dispute.reason or "not given").replace("_", " "),
            "dispute_status": dispute.status.replace("_", " "),
            "due": due,
        },
        urgent=True,
    )


def _dispute_closed(p: _Parts) -> Draft:
    dispute = p.facts.disputes.get(p.suffix)
    if dispute is None:
        raise UnknownMail(f"payment has no dispute {p.suffix!r}")
    if dispute.status not in DISPUTE_ENDINGS:
        raise UnknownMail(f"dispute {p.suffix!r} is {dispute.status}, not closed")
    headline, outcome = DISPUTE_ENDINGS[dispute.status]
    c = p.context
    amount = p.money(dispute.amount)
    return Draft(
        Audience.OPERATOR,
        f"{headline}: {amount} from {c['customer_name']} — {c['product_name']}",
        "dispute_closed",
        {
            **c,
            "headline": headline,
            "outcome": outcome,
            "dispute_id": p.suffix,
            "dispute_amount": amount,
            "dispute_reason": (dispute.reason or "not given").replace("_", " "),
        },
    )


# Why the webhook alarm rang, by the cause at the end of its key.
WEBHOOK_ALARM_CAUSES = {
    "silent": "payments are confirmed through Stripe's API but no webhook arrives",
    "secret": "the signing secret does not match",
}


def _webhook_alarm(p: _Parts) -> Draft:
    cause = WEBHOOK_ALARM_CAUSES.get(p.suffix.rpartition(":")[2])
    if cause is None:
        raise UnknownMail(f"unknown webhook alarm {p.suffix!r}")
    return Draft(
        Audience.OPERATOR,
        "Stripe's webhooks are not reaching paydesk",
        "webhook_alarm",
        {**p.context, "cause": cause},
        urgent=True,
    )


DRAFTS: dict[MailKind, Callable[[_Parts], Draft]] = {
    MailKind.RECEIPT: _receipt,
    MailKind.OPERATOR_NEW_PAYMENT: _operator_new_payment,
    MailKind.PROCESSING_NOTICE: _processing_notice,
    MailKind.ASYNC_FAILED_CUSTOMER: _async_failed_customer,
    MailKind.ASYNC_FAILED_OPERATOR: _async_failed_operator,
    MailKind.REFUND_CONFIRMATION: _refund_confirmation,
    MailKind.REFUND_FAILED_OPERATOR: _refund_failed_operator,
    MailKind.DISPUTE_ALERT: _dispute_alert,
    MailKind.DISPUTE_CLOSED: _dispute_closed,
    MailKind.WEBHOOK_ALARM: _webhook_alarm,
}

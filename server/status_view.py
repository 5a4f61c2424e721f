"""What a customer may see of a payment: one snapshot for the status page, its JSON, and its socket."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog
from .lifecycle import Facts, Status, customer_view
from .money import format_amount
from .payments import Payment

# States in which sending the customer back to the same Checkout Session still makes sense.
CHECKOUT_OPEN = frozenset({Status.PENDING, Status.DECLINED})
# States in which no money has moved: only then may a page tell the customer nothing was charged.
# (A bank debit that is processing has been submitted: its money is on its way.)
NOTHING_CHARGED = frozenset(
    {Status.PENDING, Status.NOT_STARTED, Status.DECLINED, Status.EXPIRED, Status.FAILED}
)


def payment_snapshot(payment: Payment, catalog: Catalog, *, shop_url: str) -> dict[str, Any]:
    """The payment as the status page shows it; `shop_url` is where "try again" leads."""
    status = Status(payment.status)
    facts = Facts.from_json(payment.facts)
    view = customer_view(status, facts, amount=payment.amount, currency=payment.currency)
    if status is Status.NOT_STARTED and payment.status_reason:
        view_detail = payment.status_reason
    else:
        view_detail = view.detail
    product = catalog.get(payment.product_id)
    paid = status in (Status.SUCCEEDED, Status.PARTIALLY_REFUNDED)
    return {
        **payment.public_view(),
        "reference": payment.reference,
        "amount_display": format_amount(payment.amount, payment.currency),
        "view": {
            "key": view.key,
            "title": view.title,
            "detail": view_detail,
            "final": view.final,
            "outcome": view.outcome,
        },
        "nothing_charged": status in NOTHING_CHARGED,
        "checkout_url": payment.checkout_url if status in CHECKOUT_OPEN else None,
        "retry_url": f"{shop_url}?product={payment.product_id}",
        "next_step": (
            {"url": product.next_step_url, "label": product.next_step_label}
            if paid and product and product.next_step_url
            else None
        ),
    }

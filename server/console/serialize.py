"""The admin API's JSON shapes for payments and refund requests (the operator sees every field)."""

from __future__ import annotations

from typing import Any

from ..clock import utc_iso
from ..lifecycle import Facts
from ..payments import Payment
from ..refunds import RefundRequest


def payment_json(payment: Payment, status_url: str) -> dict[str, Any]:
    facts = Facts.from_json(payment.facts)
    return {
        "id": payment.id,
        "status": payment.status,
        "status_reason": payment.status_reason,
        "product": {"id": payment.product_id, "name": payment.product_name},
        "quantity": payment.quantity,
        "unit_amount": payment.unit_amount,
        "amount": payment.amount,
        "amount_refunded": min(payment.amount, facts.refunded_amount),
        "currency": payment.currency,
        # Stripe's fee and the net, in minor units of fee_currency (the account's settlement
        # currency); null until the balance transaction is known.
        "fee": payment.fee,
        "net": payment.net,
        "fee_currency": payment.fee_currency,
        "customer": {"name": payment.customer_name, "email": payment.customer_email},
        "checkout_session_id": payment.checkout_session_id,
        "payment_intent_id": payment.payment_intent_id,
        "status_url": status_url,
        "created_at": utc_iso(payment.created_at),
        "updated_at": utc_iso(payment.updated_at),
        "version": payment.version,
    }


def refund_request_json(request: RefundRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "payment_id": request.payment_id,
        "amount": request.amount,
        "reason": request.reason,
        "state": request.state,
        "stripe_refund_id": request.stripe_refund_id,
        "message": request.message,
        "requested_by": request.requested_by,
        "attempts": request.attempts,
        "created_at": utc_iso(request.created_at),
        "updated_at": utc_iso(request.updated_at),
    }

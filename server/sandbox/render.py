"""Render any record as Stripe's JSON, and expand ids into objects as `expand[]` asks."""

from __future__ import annotations

from typing import Any

from .balance import render_balance_transaction
from .errors import invalid_request
from .records import (
    Charge,
    CheckoutSession,
    Customer,
    Dispute,
    PaymentIntent,
    PaymentMethod,
    Refund,
)
from .render_checkout import render_checkout_session, render_line_item
from .render_customers import render_customer
from .render_payments import (
    render_charge,
    render_dispute,
    render_payment_intent,
    render_payment_method,
    render_refund,
)
from .store import Store

Record = CheckoutSession | PaymentIntent | PaymentMethod | Charge | Refund | Dispute | Customer


def render(store: Store, record: Record) -> dict[str, Any]:
    if isinstance(record, CheckoutSession):
        return render_checkout_session(record)
    if isinstance(record, PaymentIntent):
        return render_payment_intent(record)
    if isinstance(record, PaymentMethod):
        return render_payment_method(record)
    if isinstance(record, Charge):
        return render_charge(store, record)
    if isinstance(record, Refund):
        return render_refund(record)
    if isinstance(record, Customer):
        return render_customer(record)
    return render_dispute(store, record)


def line_items_list(session: CheckoutSession) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [render_line_item(item) for item in session.line_items],
        "has_more": False,
        "url": f"/v1/checkout/sessions/{session.id}/line_items",
    }


def _lookup(store: Store, kind: str, object_id: str) -> dict[str, Any]:
    if kind == "balance_transaction":
        return render_balance_transaction(store.balance_transactions[object_id])
    tables: dict[str, dict[str, Any]] = {
        "payment_intent": store.payment_intents,
        "payment_method": store.payment_methods,
        "charge": store.charges,
    }
    return render(store, tables[kind][object_id])


# For each object, the fields `expand[]` may turn from an id into the object it names.
EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {"payment_intent": "payment_intent", "line_items": "line_items"},
    "payment_intent": {"latest_charge": "charge", "payment_method": "payment_method"},
    # Since API version 2022-11-15 a charge's refunds are only there when expanded.
    "charge": {
        "payment_intent": "payment_intent",
        "refunds": "refunds",
        "balance_transaction": "balance_transaction",
    },
    "refund": {
        "charge": "charge",
        "payment_intent": "payment_intent",
        "balance_transaction": "balance_transaction",
        "failure_balance_transaction": "balance_transaction",
    },
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
}


def expand(store: Store, body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Expand `paths` ("payment_intent", "data.latest_charge", "payment_intent.latest_charge")."""
    for path in paths:
        segments = path.split(".")
        if len(segments) > 4:
            raise invalid_request(
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )
        _expand_one(store, body, segments, path)
    return body


def _expand_one(store: Store, body: dict[str, Any], segments: list[str], path: str) -> None:
    head, rest = segments[0], segments[1:]
    if body.get("object") == "list" and head == "data":
        for item in body["data"]:
            if rest:
                _expand_one(store, item, rest, path)
        return
    kind = EXPANDABLE.get(body.get("object", ""), {}).get(head)
    if kind is None:
        raise invalid_request(f"This property cannot be expanded ({head}).", param="expand")
    value = body.get(head)
    if kind == "line_items":
        session = store.checkout_sessions[body["id"]]
        body[head] = value = line_items_list(session)
    elif kind == "refunds":
        refunds = [render(store, refund) for refund in reversed(store.refunds_of(body["id"]))]
        url = f"/v1/charges/{body['id']}/refunds"
        body[head] = value = {"object": "list", "data": refunds, "has_more": False, "url": url}
    elif isinstance(value, str):
        body[head] = value = _lookup(store, kind, value)
    if rest and isinstance(value, dict):
        _expand_one(store, value, rest, path)

"""Customers and the cards they saved: made through the API or by Checkout, and offered back."""

from __future__ import annotations

import time

from .events import emit
from .ids import new_id
from .records import Customer, Origin
from .state import Sandbox


def create_customer(
    sandbox: Sandbox,
    email: str | None,
    name: str | None,
    origin: Origin,
    *,
    phone: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Customer:
    customer = Customer(
        id=new_id("cus", 14),
        created=int(time.time()),
        email=email,
        name=name,
        phone=phone,
        description=description,
        metadata=dict(metadata or {}),
    )
    sandbox.store.customers[customer.id] = customer
    emit(sandbox, "customer.created", customer, origin)
    return customer


def attach(sandbox: Sandbox, method_id: str, customer_id: str, allow_redisplay: str) -> None:
    """Save a PaymentMethod to a Customer, as Checkout does when the customer ticks "save"."""
    method = sandbox.store.payment_methods[method_id]
    method.customer_id = customer_id
    method.allow_redisplay = allow_redisplay
    emit(sandbox, "payment_method.attached", method, Origin())

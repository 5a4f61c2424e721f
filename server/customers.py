"""Returning customers at Stripe: the one Stripe Customer each email pays as."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .clock import now_ms
from .db import Connection, Database

# Checkout makes the Customer when the session completes; only this event names it for paydesk.
COMPLETED = "checkout.session.completed"


def email_key(email: str) -> str:
    """How an email is stored and looked up: Ada@Example.com and ada@example.com are one customer."""
    return email.strip().lower()


async def customer_for(db: Database, email: str) -> str | None:
    """The Stripe Customer id this email paid as before, or None for a first checkout."""
    row = await db.fetch_one(
        "SELECT customer_id FROM stripe_customers WHERE email = ?", (email_key(email),)
    )
    return str(row["customer_id"]) if row else None


def remember(conn: Connection, email: str, customer_id: str) -> bool:
    """Record the Customer an email paid as; True when that changed what was recorded.

    The latest completed checkout wins: a Customer that Stripe no longer knows (deleted, or made
    with other keys) is replaced by the one the next checkout had to make instead.
    """
    key = email_key(email)
    found = conn.execute(
        "SELECT customer_id FROM stripe_customers WHERE email = ?", (key,)
    ).fetchone()
    if found is not None and found["customer_id"] == customer_id:
        return False
    conn.execute(
        "INSERT INTO stripe_customers (email, customer_id, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (email) DO UPDATE SET customer_id = excluded.customer_id,"
        " created_at = excluded.created_at",
        (key, customer_id, now_ms()),
    )
    return True


def customer_of(event: Mapping[str, Any]) -> str | None:
    """The Customer a completed Checkout Session was paid as, or None (another event, a guest)."""
    if event.get("type") != COMPLETED:
        return None
    data = event.get("data")
    session = data.get("object") if isinstance(data, Mapping) else None
    found = session.get("customer") if isinstance(session, Mapping) else None
    if isinstance(found, Mapping):  # expanded
        found = found.get("id")
    return found if isinstance(found, str) and found.startswith("cus_") else None


def remember_from_event(conn: Connection, payment_id: str, event: Mapping[str, Any]) -> bool:
    """Within the transaction that applies `event` to the payment: record the Customer its
    completed checkout was paid as, under the email the payment was made with."""
    customer_id = customer_of(event)
    if customer_id is None:
        return False
    # Read only: the payment's email, the name its next checkouts are looked up by.
    row = conn.execute("SELECT customer_email FROM payments WHERE id = ?", (payment_id,)).fetchone()
    if row is None or not row["customer_email"]:
        return False
    return remember(conn, str(row["customer_email"]), customer_id)

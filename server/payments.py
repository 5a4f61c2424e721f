"""Payment records: the row, its public id, and the queries checkout and status pages need."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from .clock import now_ms, utc_iso
from .db import Connection, Database, Row
from .lifecycle import Balance, Facts, Status

PUBLIC_ID_BYTES = 18  # 144 random bits: the id is the capability that opens a status page


REFERENCE_LENGTH = 12  # "pay_" and 48 random bits: short enough to read out, unique for a shop


def new_payment_id() -> str:
    return "pay_" + secrets.token_urlsafe(PUBLIC_ID_BYTES)


def payment_reference(payment_id: str) -> str:
    """The one reference a customer is shown (page, receipt, subject); the console finds it by prefix.

    It is not the full id: the full id opens the status page, and a reference gets read out on the phone.
    """
    return payment_id[:REFERENCE_LENGTH]


def mask_email(email: str) -> str:
    """'jane.doe@example.com' → 'j•••@example.com': enough to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


@dataclass(frozen=True)
class Payment:
    id: str
    request_key: str
    product_id: str
    product_name: str
    quantity: int
    unit_amount: int
    amount: int
    currency: str
    customer_name: str
    customer_email: str
    status: str
    status_reason: str | None
    checkout_attempts: int
    checkout_session_id: str | None
    checkout_url: str | None
    payment_intent_id: str | None
    expires_at: int | None
    created_at: int
    updated_at: int
    version: int
    facts: str  # JSON of lifecycle.Facts: what Stripe's events taught us
    # From the charge's balance transaction, once fetched (server/balance.py): minor units of
    # fee_currency, the Stripe account's settlement currency. None until then.
    balance_transaction_id: str | None = None
    fee: int | None = None
    net: int | None = None
    fee_currency: str | None = None
    receipt_url: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Payment:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - Row is not a dict

    @property
    def reference(self) -> str:
        return payment_reference(self.id)

    def public_view(self) -> dict[str, Any]:
        """What anyone holding the status link may see: no full email, no Stripe ids."""
        return {
            "id": self.id,
            "product": {"id": self.product_id, "name": self.product_name},
            "quantity": self.quantity,
            "unit_amount": self.unit_amount,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "status_reason": self.status_reason,
            "email": mask_email(self.customer_email),
            "created_at": utc_iso(self.created_at),
            "updated_at": utc_iso(self.updated_at),
            "version": self.version,
        }


@dataclass(frozen=True)
class NewPayment:
    """What checkout knows before Stripe is asked for anything."""

    request_key: str
    product_id: str
    product_name: str
    quantity: int
    unit_amount: int
    amount: int
    currency: str
    customer_name: str
    customer_email: str
    expires_at: int


async def get_payment(db: Database, payment_id: str) -> Payment | None:
    row = await db.fetch_one("SELECT * FROM payments WHERE id = ?", (payment_id,))
    return Payment.from_row(row) if row else None


async def find_by_request_key(db: Database, request_key: str) -> Payment | None:
    row = await db.fetch_one("SELECT * FROM payments WHERE request_key = ?", (request_key,))
    return Payment.from_row(row) if row else None


def insert_payment(conn: Connection, new: NewPayment) -> str:
    payment_id = new_payment_id()
    stamp = now_ms()
    conn.execute(
        "INSERT INTO payments (id, request_key, product_id, product_name, quantity, unit_amount,"
        " amount, currency, customer_name, customer_email, status, expires_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            payment_id, new.request_key, new.product_id, new.product_name, new.quantity,
            new.unit_amount, new.amount, new.currency, new.customer_name, new.customer_email,
            Status.PENDING, new.expires_at, stamp, stamp,
        ),
    )  # fmt: skip
    return payment_id


def attach_session(
    conn: Connection, payment_id: str, session_id: str, url: str, expires_at: int
) -> None:
    conn.execute(
        "UPDATE payments SET checkout_session_id = ?, checkout_url = ?, expires_at = ?,"
        " status = CASE WHEN status IN ('pending', 'not_started') THEN 'pending' ELSE status END,"
        " status_reason = NULL, updated_at = ?, version = version + 1 WHERE id = ?",
        (session_id, url, expires_at, now_ms(), payment_id),
    )


def mark_not_started(conn: Connection, payment_id: str, reason: str, next_expires_at: int) -> None:
    """The attempt failed before Stripe created anything; the next attempt gets a new idempotency key."""
    conn.execute(
        "UPDATE payments SET status = ?, status_reason = ?, checkout_attempts = checkout_attempts + 1,"
        " expires_at = ?, updated_at = ?, version = version + 1 WHERE id = ?",
        (Status.NOT_STARTED, reason, next_expires_at, now_ms(), payment_id),
    )


# How an event may name a payment, and the column that holds that name.
_REFERENCE_COLUMNS = {
    "payment_id": "id",
    "checkout_session_id": "checkout_session_id",
    "payment_intent_id": "payment_intent_id",
}


@dataclass(frozen=True)
class EventView:
    """What applying a Stripe event needs of a payment."""

    facts: Facts
    amount: int
    payment_intent_id: str | None


def find_by_stripe_reference(conn: Connection, field: str, value: str) -> str | None:
    """The id of the payment an event names by `field` (payment_id, checkout_session_id, ...)."""
    query = f"SELECT id FROM payments WHERE {_REFERENCE_COLUMNS[field]} = ?"  # noqa: S608 - fixed names
    row = conn.execute(query, (value,)).fetchone()
    return str(row["id"]) if row else None


def exists(conn: Connection, payment_id: str) -> bool:
    return conn.execute("SELECT 1 FROM payments WHERE id = ?", (payment_id,)).fetchone() is not None


def event_view(conn: Connection, payment_id: str) -> EventView:
    row = conn.execute(
        "SELECT facts, amount, payment_intent_id FROM payments WHERE id = ?", (payment_id,)
    ).fetchone()
    assert row is not None  # payments are never deleted
    return EventView(Facts.from_json(row["facts"]), row["amount"], row["payment_intent_id"])


def record_outcome(
    conn: Connection, payment_id: str, facts: Facts, status: Status, intent_id: str | None
) -> None:
    """Store what an event taught: the merged facts, the status they give, the PaymentIntent."""
    conn.execute(
        "UPDATE payments SET facts = ?, status = ?, status_reason = NULL, payment_intent_id = ?,"
        " updated_at = ?, version = version + 1, balance_transaction_id = ?, fee = ?, net = ?,"
        " fee_currency = ?, receipt_url = ? WHERE id = ?",
        (facts.to_json(), str(status), intent_id, now_ms(), *_settlement(facts), payment_id),
    )


def record_balance(conn: Connection, payment_id: str, balance: Balance) -> bool:
    """Add a fetched balance transaction to a payment's facts; False when it taught nothing
    (already known, or not the payment's own balance transaction any more)."""
    row = conn.execute("SELECT facts FROM payments WHERE id = ?", (payment_id,)).fetchone()
    if row is None:
        return False
    known = Facts.from_json(row["facts"])
    if known.balance_transaction not in (None, balance.id):
        return False
    merged = known.merge(Facts(balance_transaction=balance.id, balance=balance))
    if merged == known:
        return False
    conn.execute(
        "UPDATE payments SET facts = ?, updated_at = ?, version = version + 1,"
        " balance_transaction_id = ?, fee = ?, net = ?, fee_currency = ?, receipt_url = ?"
        " WHERE id = ?",
        (merged.to_json(), now_ms(), *_settlement(merged), payment_id),
    )
    return True


def _settlement(facts: Facts) -> tuple[str | None, int | None, int | None, str | None, str | None]:
    """The columns that repeat the facts' balance transaction and receipt, for queries:
    balance_transaction_id, fee, net, fee_currency, receipt_url."""
    balance = facts.balance
    return (
        facts.balance_transaction,
        balance.fee if balance else None,
        balance.net if balance else None,
        balance.currency if balance else None,
        facts.receipt_url,
    )


@dataclass(frozen=True)
class BalanceDue:
    """A payment whose balance transaction is known by id only: its figures are to be fetched."""

    payment_id: str
    balance_transaction_id: str


async def balances_due(db: Database, limit: int) -> list[BalanceDue]:
    """Payments whose fee is still to be fetched, least recently changed first."""
    rows = await db.fetch_all(
        "SELECT id, balance_transaction_id FROM payments"
        " WHERE fee IS NULL AND balance_transaction_id IS NOT NULL ORDER BY updated_at LIMIT ?",
        (limit,),
    )
    return [BalanceDue(str(r["id"]), str(r["balance_transaction_id"])) for r in rows]

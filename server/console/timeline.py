"""One payment's story for the detail page: every Stripe event, every mail, every refund request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..db import Database, Row
from ..money import format_amount
from ..payments import Payment
from ..refunds import REASONS, RefundRequest
from .wording import count

MAIL_KINDS = {
    "receipt": "Receipt to the customer",
    "operator_new_payment": "New payment notice to you",
    "processing_notice": "Bank payment processing notice",
    "async_failed_customer": "Failed bank payment notice",
    "async_failed_operator": "Failed bank payment notice to you",
    "refund_confirmation": "Refund confirmation",
    "refund_failed_operator": "Failed refund notice to you",
    "dispute_alert": "Dispute alert to you",
    "dispute_closed": "Dispute outcome to you",
    "webhook_alarm": "Webhook alarm to you",
}
REQUEST_STATES = {
    "sending": "being sent to Stripe",
    "sent": "accepted by Stripe",
    "refused": "refused by Stripe",
    "unavailable": "not sent: Stripe unreachable",
    "discarded": "discarded",
}


@dataclass(frozen=True)
class Entry:
    """One line of the timeline, oldest first."""

    at: int  # unix milliseconds
    source: str  # event | mail | refund | payment
    title: str
    state: str  # applied / unchanged / ignored; queued / sent / retrying / failed; a request state
    detail: str
    ref: str | None = None  # the Stripe event id, outbox dedupe key or Stripe refund id


def mail_state(row: Row | Mapping[str, Any]) -> str:
    """The outbox row in the operator's words: queued, retrying, sent or failed."""
    if row["status"] == "pending":
        return "retrying" if row["attempts"] > 0 else "queued"
    return str(row["status"])


def event_entry(row: Row) -> Entry:
    return Entry(row["received_at"], "event", row["type"], row["outcome"], row["reason"], row["id"])


def mail_entry(row: Row) -> Entry:
    state = mail_state(row)
    parts = []
    if row["subject"]:
        parts.append(f"“{row['subject']}”")
    if state == "sent" and row["sent_at"]:
        parts.append(f"after {count(row['attempts'], 'attempt')}")
    if row["last_error"]:
        parts.append(f"server said: {row['last_error']}")
    if row["message_id"]:
        parts.append(f"Message-ID {row['message_id']}")
    title = MAIL_KINDS.get(row["kind"], row["kind"])
    return Entry(row["created_at"], "mail", title, state, "; ".join(parts), row["dedupe_key"])


def request_entry(request: RefundRequest, currency: str) -> Entry:
    reason = REASONS.get(request.reason or "", "no reason given")
    detail = (
        f"{format_amount(request.amount, currency)}, {reason.lower()}, by {request.requested_by}"
    )
    if request.message:
        detail += f": {request.message}"
    return Entry(
        request.created_at,
        "refund",
        "Refund requested",
        REQUEST_STATES.get(request.state, request.state),
        detail,
        request.stripe_refund_id,
    )


async def _events(db: Database, payment_id: str) -> list[Row]:
    return await db.fetch_all(
        "SELECT id, type, created, received_at, outcome, reason FROM stripe_events"
        " WHERE payment_id = ? ORDER BY created, received_at",
        (payment_id,),
    )


async def _mails(db: Database, payment_id: str) -> list[Row]:
    return await db.fetch_all(
        "SELECT * FROM outbox WHERE payment_id = ? ORDER BY created_at, id", (payment_id,)
    )


async def mail_kinds(db: Database, payment_id: str) -> list[tuple[str, str]]:
    """(kind, words) of every kind of mail queued for this payment: what can be sent again."""
    rows = await db.fetch_all(
        "SELECT DISTINCT kind FROM outbox WHERE payment_id = ?", (payment_id,)
    )
    queued = {row["kind"] for row in rows}
    return [(kind, words) for kind, words in MAIL_KINDS.items() if kind in queued]


async def timeline(db: Database, payment: Payment, requests: list[RefundRequest]) -> list[Entry]:
    created = Entry(
        payment.created_at, "payment", "Checkout started", "created", f"by {payment.customer_email}"
    )
    entries = [
        created,
        *(event_entry(row) for row in await _events(db, payment.id)),
        *(mail_entry(row) for row in await _mails(db, payment.id)),
        *(request_entry(r, payment.currency) for r in requests),
    ]
    order = {"payment": 0, "event": 1, "refund": 2, "mail": 3}
    return sorted(entries, key=lambda e: (e.at, order[e.source]))


MAIL_FIELDS = (
    "kind",
    "dedupe_key",
    "status",
    "attempts",
    "last_error",
    "created_at",
    "sent_at",
    "subject",
    "message_id",
)


async def mail_rows(db: Database, payment_id: str) -> list[dict[str, Any]]:
    """The payment's outbox rows for the API, with the state in words."""
    return [
        {**{key: row[key] for key in MAIL_FIELDS}, "state": mail_state(row)}
        for row in await _mails(db, payment_id)
    ]


async def event_rows(db: Database, payment_id: str) -> list[dict[str, Any]]:
    """The payment's Stripe events for the API: id, type, times, outcome and why."""
    return [dict(zip(row.keys(), tuple(row), strict=True)) for row in await _events(db, payment_id)]

"""The notification tables: what a payment change queues, deliveries per destination, every attempt."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..clock import now_ms
from ..db import Connection, Database, Row
from ..lifecycle import MailKind, Outcome, Status

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_ANSWER = 500  # characters of a receiver's answer (or of why none came) kept per attempt

SUCCEEDED = "payment.succeeded"
FAILED_TYPE = "payment.failed"
REFUNDED = "payment.refunded"
REFUND_FAILED = "payment.refund_failed"
DISPUTED = "payment.disputed"
DISPUTE_CLOSED = "payment.dispute_closed"
EXPIRED = "payment.expired"
TYPES = (SUCCEEDED, FAILED_TYPE, REFUNDED, REFUND_FAILED, DISPUTED, DISPUTE_CLOSED, EXPIRED)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Change:
    """A change that matters to the operator's systems, once per payment and key."""

    type: str
    key: str  # unique per payment: the same change taught twice queues one notification
    detail: dict[str, Any]  # the refund or dispute it is about, if any


def changes(outcome: Outcome) -> list[Change]:
    """What a state-machine step tells the operator's systems, in the order it happened.

    The step's new mails already say what is new, whatever order Stripe's events came in:
    a receipt means newly paid, a refund confirmation names each refund, a dispute alert and its
    outcome name each dispute. Failure and expiry are statuses the step newly reached.
    """
    found: list[Change] = []
    kinds = {mail.kind: mail for mail in outcome.mails}
    if outcome.status_after != outcome.status_before:
        if outcome.status_after is Status.EXPIRED:
            found.append(Change(EXPIRED, EXPIRED, {}))
        if outcome.status_after is Status.FAILED:
            found.append(Change(FAILED_TYPE, FAILED_TYPE, {}))
    if MailKind.RECEIPT in kinds:
        found.append(Change(SUCCEEDED, SUCCEEDED, {}))
    facts = outcome.facts
    for mail in outcome.mails:
        about = mail.dedupe_key.partition(":")[2]
        if mail.kind is MailKind.REFUND_CONFIRMATION and about in facts.refunds:
            refund = facts.refunds[about]
            detail = {"id": about, "amount": refund.amount, "status": refund.status}
            found.append(Change(REFUNDED, f"{REFUNDED}:{about}", {"refund": detail}))
        elif mail.kind is MailKind.REFUND_FAILED_OPERATOR and about in facts.refunds:
            # The money stayed with the operator: a system that acted on the refund undoes it.
            refund = facts.refunds[about]
            detail = {"id": about, "amount": refund.amount, "reason": refund.failure_reason}
            found.append(Change(REFUND_FAILED, f"{REFUND_FAILED}:{about}", {"refund": detail}))
        elif mail.kind is MailKind.DISPUTE_ALERT and about in facts.disputes:
            found.append(Change(DISPUTED, f"{DISPUTED}:{about}", _dispute(about, facts)))
    for mail in outcome.mails:  # a dispute opened and closed in one step: opened first
        about = mail.dedupe_key.partition(":")[2]
        if mail.kind is MailKind.DISPUTE_CLOSED and about in facts.disputes:
            found.append(
                Change(DISPUTE_CLOSED, f"{DISPUTE_CLOSED}:{about}", _dispute(about, facts))
            )
    return found


def _dispute(dispute_id: str, facts: Any) -> dict[str, Any]:
    dispute = facts.disputes[dispute_id]
    return {
        "dispute": {
            "id": dispute_id,
            "amount": dispute.amount,
            "status": dispute.status,
            "reason": dispute.reason,
        }
    }


def enqueue(conn: Connection, payment_id: str, outcome: Outcome) -> int:
    """Queue the step's notifications in the caller's transaction; how many were new."""
    found = changes(outcome)
    if not found:
        return 0
    row = conn.execute(
        "SELECT product_id, product_name, quantity, unit_amount, amount, currency,"
        " customer_name, customer_email, status, created_at FROM payments WHERE id = ?",
        (payment_id,),
    ).fetchone()
    assert row is not None  # the step was applied to it
    payment = {
        "id": payment_id,
        "product": {"id": row["product_id"], "name": row["product_name"]},
        "quantity": row["quantity"],
        "unit_amount": row["unit_amount"],
        "amount": row["amount"],
        "currency": row["currency"],
        "name": row["customer_name"],
        "email": row["customer_email"],
        "status": row["status"],
        "created": row["created_at"] // 1000,
    }
    (last,) = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM notifications WHERE payment_id = ?", (payment_id,)
    ).fetchone()
    stamp, added = now_ms(), 0
    for change in found:
        data = orjson.dumps({"payment": payment, **change.detail}).decode()
        cursor = conn.execute(
            "INSERT INTO notifications (id, payment_id, seq, type, dedupe_key, data, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (new_id("ntf"), payment_id, last + added + 1, change.type, change.key, data, stamp),
        )
        added += cursor.rowcount
    return added


@dataclass(frozen=True)
class Queued:
    """A notification not sent anywhere yet, as the worker renders it."""

    id: str
    payment_id: str
    type: str
    created_at: int
    data: dict[str, Any]


# Renders a queued notification: the body every attempt sends, and where it goes.
Render = Callable[[Queued], tuple[bytes, tuple[str, ...]]]


def fan_out(conn: Connection, render: Render, retry_for_ms: int, limit: int = 100) -> int:
    """Render notifications not yet rendered, oldest first, and make one delivery per destination.

    The body is stored: every attempt, after any restart, sends the same bytes. A notification
    with no destination is rendered and goes nowhere (the console shows it so).
    """
    rows = conn.execute(
        "SELECT id, payment_id, seq, type, data, created_at FROM notifications"
        " WHERE body IS NULL ORDER BY created_at, payment_id, seq LIMIT ?",
        (limit,),
    ).fetchall()
    stamp = now_ms()
    for row in rows:
        queued = Queued(
            row["id"], row["payment_id"], row["type"], row["created_at"], orjson.loads(row["data"])
        )
        body, urls = render(queued)
        conn.execute("UPDATE notifications SET body = ? WHERE id = ?", (body.decode(), row["id"]))
        for url in dict.fromkeys(urls):
            conn.execute(
                "INSERT INTO notification_deliveries (id, notification_id, payment_id, seq, url,"
                " status, next_attempt_at, retry_until, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    new_id("ntd"), row["id"], row["payment_id"], row["seq"], url, PENDING,
                    stamp, stamp + retry_for_ms, stamp, stamp,
                ),
            )  # fmt: skip
    return len(rows)


async def unrendered(db: Database) -> bool:
    row = await db.fetch_one("SELECT 1 FROM notifications WHERE body IS NULL LIMIT 1")
    return row is not None


@dataclass(frozen=True)
class Due:
    """A delivery claimed for one attempt."""

    id: str
    notification_id: str
    payment_id: str
    url: str
    attempts: int  # before this one
    retry_until: int
    body: bytes


# The first pending delivery of each payment to each destination: a payment's next notification
# waits until the one before it was delivered or given up on.
_HEAD = (
    "d.status = 'pending' AND NOT EXISTS ("
    " SELECT 1 FROM notification_deliveries e WHERE e.payment_id = d.payment_id"
    " AND e.url = d.url AND e.status = 'pending' AND e.seq < d.seq)"
)


def claim_due(conn: Connection, lease_ms: int, limit: int) -> list[Due]:
    """The heads whose time has come, each put off by `lease_ms` so no other sender takes it.

    A sender killed mid-attempt leaves its claim to lapse: the delivery is due again then.
    """
    stamp = now_ms()
    rows = conn.execute(
        "SELECT d.id, d.notification_id, d.payment_id, d.url, d.attempts, d.retry_until, n.body"  # noqa: S608 - fixed text
        " FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id"
        f" WHERE {_HEAD} AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.seq LIMIT ?",
        (stamp, limit),
    ).fetchall()
    for row in rows:
        conn.execute(
            "UPDATE notification_deliveries SET next_attempt_at = ? WHERE id = ?",
            (stamp + lease_ms, row["id"]),
        )
    return [
        Due(
            row["id"], row["notification_id"], row["payment_id"], row["url"], row["attempts"],
            row["retry_until"], row["body"].encode(),
        )
        for row in rows
    ]  # fmt: skip


async def next_due_at(db: Database) -> int | None:
    """When the earliest head is due (unix ms), or None when nothing waits."""
    row = await db.fetch_one(
        f"SELECT min(d.next_attempt_at) FROM notification_deliveries d WHERE {_HEAD}"  # noqa: S608
    )
    return None if row is None or row[0] is None else int(row[0])


@dataclass(frozen=True)
class Attempt:
    """One try: when, how long, and what the receiver answered (status None: no answer came)."""

    started_at: int
    duration_ms: int
    status_code: int | None
    answer: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def record(conn: Connection, due: Due, attempt: Attempt, retry_base_ms: int) -> str:
    """Keep the attempt and settle the delivery: delivered on a 2xx, else retried or given up.

    Retries wait the base, then twice as long each time, until `retry_until`. Returns the status.
    """
    stamp = now_ms()
    attempts = due.attempts + 1
    conn.execute(
        "INSERT INTO notification_attempts (id, delivery_id, started_at, duration_ms,"
        " status_code, answer) VALUES (?, ?, ?, ?, ?, ?)",
        (
            new_id("nta"), due.id, attempt.started_at, attempt.duration_ms, attempt.status_code,
            attempt.answer[:MAX_ANSWER],
        ),
    )  # fmt: skip
    error = None if attempt.delivered else _summary(attempt)
    next_at = stamp + retry_base_ms * 2 ** min(attempts - 1, 40)
    if attempt.delivered:
        status = DELIVERED
    elif next_at > due.retry_until:
        status = FAILED
    else:
        status = PENDING
    conn.execute(
        "UPDATE notification_deliveries SET status = ?, attempts = ?, last_error = ?,"
        " next_attempt_at = ?, updated_at = ?, delivered_at = ? WHERE id = ? AND status = 'pending'",
        (
            status, attempts, error, next_at if status == PENDING else stamp, stamp,
            stamp if status == DELIVERED else None, due.id,
        ),
    )  # fmt: skip
    return status


def _summary(attempt: Attempt) -> str:
    if attempt.status_code is None:
        return attempt.answer[:MAX_ANSWER]
    return f"HTTP {attempt.status_code}: {attempt.answer}"[:MAX_ANSWER]


class RedeliverRefused(Exception):
    """The delivery cannot be sent again; the message says why, for a person."""


async def redeliver(db: Database, payment_id: str, delivery_id: str, retry_for_ms: int) -> None:
    """Send a delivery of this payment again now, retried for another day if need be.

    Delivered or given up, it goes again (the receiver deduplicates by the notification's id);
    one still being retried is only brought forward.
    """

    def work(conn: Connection) -> None:
        stamp = now_ms()
        cursor = conn.execute(
            "UPDATE notification_deliveries SET status = 'pending', next_attempt_at = ?,"
            " retry_until = ?, updated_at = ? WHERE id = ? AND payment_id = ?",
            (stamp, stamp + retry_for_ms, stamp, delivery_id, payment_id),
        )
        if cursor.rowcount != 1:
            raise RedeliverRefused("This payment has no delivery with that id.")

    await db.write(work)


@dataclass(frozen=True)
class Delivery:
    id: str
    notification_id: str
    type: str
    payment_id: str
    url: str
    status: str
    attempts: int
    next_attempt_at: int
    last_error: str | None
    created_at: int
    delivered_at: int | None
    history: tuple[Attempt, ...] = ()

    @classmethod
    def from_row(cls, row: Row, history: tuple[Attempt, ...] = ()) -> Delivery:
        return cls(
            row["id"], row["notification_id"], row["type"], row["payment_id"], row["url"],
            row["status"], row["attempts"], row["next_attempt_at"], row["last_error"],
            row["created_at"], row["delivered_at"], history,
        )  # fmt: skip


_DELIVERIES = (
    "SELECT d.*, n.type FROM notification_deliveries d"
    " JOIN notifications n ON n.id = d.notification_id"
)


@dataclass(frozen=True)
class PaymentNotifications:
    """A payment's notifications: each delivery with its attempts, and those that went nowhere."""

    deliveries: tuple[Delivery, ...]
    undelivered_types: tuple[str, ...]  # rendered with no destination configured
    waiting: int  # queued, not rendered yet


async def for_payment(db: Database, payment_id: str) -> PaymentNotifications:
    rows = await db.fetch_all(
        f"{_DELIVERIES} WHERE d.payment_id = ? ORDER BY d.seq, d.url",
        (payment_id,),
    )
    attempts = await db.fetch_all(
        "SELECT a.* FROM notification_attempts a JOIN notification_deliveries d"
        " ON d.id = a.delivery_id WHERE d.payment_id = ? ORDER BY a.started_at",
        (payment_id,),
    )
    by_delivery: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_delivery.setdefault(a["delivery_id"], []).append(
            Attempt(a["started_at"], a["duration_ms"], a["status_code"], a["answer"])
        )
    nowhere = await db.fetch_all(
        "SELECT n.type, n.body FROM notifications n WHERE n.payment_id = ? AND NOT EXISTS ("
        " SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id) ORDER BY n.seq",
        (payment_id,),
    )
    return PaymentNotifications(
        deliveries=tuple(
            Delivery.from_row(row, tuple(by_delivery.get(row["id"], []))) for row in rows
        ),
        undelivered_types=tuple(r["type"] for r in nowhere if r["body"] is not None),
        waiting=sum(1 for r in nowhere if r["body"] is None),
    )


async def failing(db: Database) -> list[Delivery]:
    """Deliveries given up on, and those being retried after a failed attempt, oldest first."""
    rows = await db.fetch_all(
        f"{_DELIVERIES} WHERE d.status = 'failed' OR (d.status = 'pending' AND d.attempts > 0)"
        " ORDER BY d.created_at, d.seq"
    )
    return [Delivery.from_row(row) for row in rows]

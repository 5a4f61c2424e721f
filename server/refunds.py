"""Refunds the operator asks for: checked against what remains, recorded first, sent to Stripe once.

A refund request is a row written before Stripe is called. Its form token is UNIQUE, so a form
submitted twice finds the same row, and the row's id makes the Stripe idempotency key, so a
retry after Stripe was unreachable cannot refund twice. Amounts of requests that are in flight
or whose outcome is unknown (Stripe unreachable) are held back from what remains.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from .clock import now_ms
from .db import Connection, Database, Row
from .lifecycle import Facts, Status, paid_amount
from .money import AmountError, format_amount
from .money import parse_amount as read_amount
from .payments import Payment
from .stripe_gateway import RefundRefused, StripeGateway, StripeUnavailable

log = logging.getLogger(__name__)

REFUNDABLE = frozenset({Status.SUCCEEDED, Status.PARTIALLY_REFUNDED})
REASONS = {
    "requested_by_customer": "Requested by the customer",
    "duplicate": "Duplicate payment",
    "fraudulent": "Fraudulent",
}
SENDING, SENT, REFUSED, UNAVAILABLE, DISCARDED = (
    "sending",
    "sent",
    "refused",
    "unavailable",
    "discarded",
)
HOLDING = frozenset({SENDING, UNAVAILABLE})  # may have reached Stripe: their amount is held back
STALE_SENDING_MS = 120_000  # a request still "sending" after this was cut off; it may be retried


class RefundError(Exception):
    """A refund that cannot be asked for; `message` says why in the operator's words."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # invalid | not_found | not_refundable | over | mismatch
        self.message = message

    @property
    def http_status(self) -> int:
        """The status a page or the API answers with for this refusal."""
        return {"invalid": 400, "not_found": 404}.get(self.kind, 409)


@dataclass(frozen=True)
class RefundRequest:
    id: int
    payment_id: str
    form_token: str
    amount: int
    reason: str | None
    requested_by: str
    state: str
    stripe_refund_id: str | None
    message: str | None
    attempts: int
    created_at: int
    updated_at: int

    @classmethod
    def from_row(cls, row: Row) -> RefundRequest:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - Row is not a dict

    @property
    def idempotency_key(self) -> str:
        return f"paydesk-refund-{self.payment_id}-{self.id}"

    def retryable(self, now: int) -> bool:
        """Sending it again is safe and useful: Stripe was unreachable, or the sender was cut off."""
        return self.state == UNAVAILABLE or (
            self.state == SENDING and now - self.updated_at > STALE_SENDING_MS
        )


@dataclass(frozen=True)
class Claim:
    request: RefundRequest
    send: bool  # this caller must call Stripe; otherwise the request's state is the answer
    intent_id: str


def refunded_or_held(facts: Facts, requests: list[RefundRequest]) -> int:
    """Refunded by Stripe's account, plus sent requests Stripe has not reported yet, plus held."""
    known = {rid: r.amount for rid, r in facts.refunds.items() if r.counted}
    for request in requests:
        if (
            request.state == SENT
            and request.stripe_refund_id
            and request.stripe_refund_id not in facts.refunds
        ):
            known[request.stripe_refund_id] = request.amount
    held = sum(r.amount for r in requests if r.state in HOLDING)
    return max(facts.refunded_by_charge, sum(known.values())) + held


def remaining(payment: Payment, facts: Facts, requests: list[RefundRequest]) -> int:
    return max(0, paid_amount(facts, payment.amount) - refunded_or_held(facts, requests))


def check_refundable(payment: Payment) -> str:
    """The PaymentIntent to refund; RefundError when the payment is not paid (or not any more)."""
    if Status(payment.status) not in REFUNDABLE or not payment.payment_intent_id:
        label = payment.status.replace("_", " ")
        raise RefundError(
            "not_refundable", f"Only a paid payment can be refunded; this one is {label}."
        )
    return payment.payment_intent_id


def parse_amount(text: str, currency: str, left: int, locale: str) -> int:
    """What the operator typed, in major units as the shop's locale writes them; blank: all that remains."""
    if left <= 0:
        raise RefundError("not_refundable", "Nothing is left to refund on this payment.")
    if not text.strip():
        return left
    try:
        amount = read_amount(text, currency, locale)
    except AmountError as exc:
        raise RefundError("invalid", str(exc)) from None
    check_amount(amount, currency, left)
    return amount


def check_amount(amount: int, currency: str, left: int) -> None:
    if amount <= 0:
        raise RefundError("invalid", "Enter an amount greater than zero.")
    if amount > left:
        raise RefundError("over", f"At most {format_amount(left, currency)} can be refunded.")


def check_reason(text: str | None) -> str | None:
    if not text:
        return None
    if text not in REASONS:
        raise RefundError("invalid", f"Choose a reason from the list ({', '.join(REASONS)}).")
    return text


async def requests_for(db: Database, payment_id: str) -> list[RefundRequest]:
    rows = await db.fetch_all(
        "SELECT * FROM refund_requests WHERE payment_id = ? ORDER BY created_at, id", (payment_id,)
    )
    return [RefundRequest.from_row(row) for row in rows]


async def claim(
    db: Database,
    payment_id: str,
    form_token: str,
    amount: int | None,
    reason: str | None,
    requested_by: str,
) -> Claim:
    """Record the request, or find the one this form token already made; decide who calls Stripe."""

    def work(conn: Connection) -> Claim:
        payment = _one(conn, "SELECT * FROM payments WHERE id = ?", payment_id)
        if payment is None:
            raise RefundError("not_found", "There is no such payment.")
        row = _one(conn, "SELECT * FROM refund_requests WHERE form_token = ?", form_token)
        if row is not None:
            return _existing(conn, Payment.from_row(payment), RefundRequest.from_row(row), amount)
        current = Payment.from_row(payment)
        intent_id = check_refundable(current)
        rows = conn.execute(
            "SELECT * FROM refund_requests WHERE payment_id = ?", (payment_id,)
        ).fetchall()
        requests = [RefundRequest.from_row(r) for r in rows]
        left = remaining(current, Facts.from_json(current.facts), requests)
        if left <= 0:
            raise RefundError("not_refundable", "Nothing is left to refund on this payment.")
        chosen = left if amount is None else amount
        check_amount(chosen, current.currency, left)
        stamp = now_ms()
        inserted = conn.execute(
            "INSERT INTO refund_requests (payment_id, form_token, amount, reason, requested_by, state,"
            " attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING *",
            (payment_id, form_token, chosen, reason, requested_by, SENDING, stamp, stamp),
        ).fetchone()
        assert inserted is not None
        return Claim(RefundRequest.from_row(inserted), send=True, intent_id=intent_id)

    return await db.write(work)


def _existing(
    conn: Connection, payment: Payment, request: RefundRequest, amount: int | None
) -> Claim:
    if request.payment_id != payment.id or (amount is not None and amount != request.amount):
        raise RefundError(
            "mismatch", "This form was already used for a different refund; start a new one."
        )
    intent_id = payment.payment_intent_id or ""
    if not request.retryable(now_ms()):
        return Claim(request, send=False, intent_id=intent_id)
    stamp = now_ms()
    conn.execute(
        "UPDATE refund_requests SET state = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
        (SENDING, stamp, request.id),
    )
    return Claim(
        replace(request, state=SENDING, attempts=request.attempts + 1, updated_at=stamp),
        True,
        intent_id,
    )


async def send(db: Database, gateway: StripeGateway, claimed: Claim) -> RefundRequest:
    """Ask Stripe for the claimed refund and record the answer; runs to the end once started."""
    request = claimed.request
    try:
        refund = await gateway.create_refund(
            claimed.intent_id,
            request.amount,
            request.reason,
            request.idempotency_key,
            request.payment_id,
        )
    except RefundRefused as exc:
        return await _record(db, request, REFUSED, None, f"Stripe refused the refund: {exc}")
    except StripeUnavailable as exc:
        log.warning("refund request %s not sent: %s", request.id, exc)
        return await _record(db, request, UNAVAILABLE, None, exc.customer_message)
    return await _record(db, request, SENT, refund.id, None)


async def request_refund(
    db: Database,
    gateway: StripeGateway,
    payment_id: str,
    form_token: str,
    amount: int | None,
    reason: str | None,
    requested_by: str,
) -> tuple[RefundRequest, bool]:
    """Claim, then send if this caller won the claim: (the request, whether this call sent it).
    The request's state says what happened."""
    claimed = await claim(db, payment_id, form_token, amount, reason, requested_by)
    if not claimed.send:
        return claimed.request, False
    # Shielded: once Stripe is asked, the answer is recorded even if the client goes away.
    return await asyncio.shield(send(db, gateway, claimed)), True


async def discard(db: Database, payment_id: str, request_id: int) -> bool:
    """Stop holding back a request whose outcome was unknown; a later refund may use the amount."""

    def work(conn: Connection) -> bool:
        cursor = conn.execute(
            "UPDATE refund_requests SET state = ?, updated_at = ? WHERE id = ? AND payment_id = ? AND state = ?",
            (DISCARDED, now_ms(), request_id, payment_id, UNAVAILABLE),
        )
        return cursor.rowcount == 1

    return await db.write(work)


async def _record(
    db: Database, request: RefundRequest, state: str, refund_id: str | None, message: str | None
) -> RefundRequest:
    stamp = now_ms()

    def work(conn: Connection) -> None:
        conn.execute(
            "UPDATE refund_requests SET state = ?, stripe_refund_id = ?, message = ?, updated_at = ? WHERE id = ?",
            (state, refund_id, message, stamp, request.id),
        )

    await db.write(work)
    return replace(
        request, state=state, stripe_refund_id=refund_id, message=message, updated_at=stamp
    )


def _one(conn: Connection, sql: str, param: object) -> Row | None:
    row: Row | None = conn.execute(sql, (param,)).fetchone()
    return row

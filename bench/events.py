"""Realistic signed Stripe events for seeded payments, and the database they are seeded into.

`event_templates.json` holds the three events the built-in sandbox sent for one card payment
(charge.succeeded, payment_intent.succeeded, checkout.session.completed, 1.4-2.3 KB each), with
their ids replaced by @PAY@, @CS@, @PI@, @CH@, @PM@ and @EVT@.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "event_templates.json"
CARD_PAYMENT = ("charge.succeeded", "payment_intent.succeeded", "checkout.session.completed")
WEBHOOK_PATH = "/webhooks/stripe"


@dataclass(frozen=True)
class Seeded:
    """A payment written straight into the database: a customer who reached Stripe Checkout."""

    payment_id: str
    session_id: str
    intent_id: str
    charge_id: str


def seeded(index: int) -> Seeded:
    tag = f"{index:08d}"
    return Seeded(
        f"pay_bench{tag}abcdefghijklmn", f"cs_test_bench{tag}", f"pi_bench{tag}", f"ch_bench{tag}"
    )


def seed_payments(db_path: Path, count: int, *, start: int = 0) -> list[Seeded]:
    """Insert `count` pending payments (with session and PaymentIntent ids) into a migrated database."""
    rows = [seeded(i) for i in range(start, start + count)]
    now_ms = int(time.time() * 1000)
    expires = now_ms + 3_600_000
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO payments (id, request_key, product_id, product_name, quantity, unit_amount,"
                " amount, currency, customer_name, customer_email, status, checkout_session_id,"
                " checkout_url, payment_intent_id, expires_at, created_at, updated_at)"
                " VALUES (?, ?, 'drop-in-class', 'Drop-in class', 1, 1500, 1500, 'eur', 'Ada Lovelace',"
                " 'ada@example.com', 'pending', ?, ?, ?, ?, ?, ?)",
                [
                    (s.payment_id, f"bench:{s.payment_id}", s.session_id,
                     f"http://127.0.0.1/_sandbox/pay/{s.session_id}", s.intent_id, expires, now_ms, now_ms)
                    for s in rows
                ],
            )  # fmt: skip
    finally:
        conn.close()
    return rows


def count_rows(db_path: Path, table: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - our table names
    finally:
        conn.close()


class EventFactory:
    """Builds event bodies for seeded payments from the sandbox's own events."""

    def __init__(self) -> None:
        raw = json.loads(TEMPLATES.read_text())
        self._templates = {
            kind: json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
            for kind, obj in raw.items()
        }
        self._numbers = 0
        self.run = (
            f"{random.getrandbits(32):08x}"  # keeps event ids unique across runs on one database
        )

    def body(self, kind: str, payment: Seeded) -> bytes:
        self._numbers += 1
        text = (
            self._templates[kind]
            .replace("@EVT@", f"evt_bench{self.run}{self._numbers:09d}")
            .replace("@PAY@", payment.payment_id)
            .replace("@CS@", payment.session_id)
            .replace("@PI@", payment.intent_id)
            .replace("@CH@", payment.charge_id)
            .replace("@PM@", "pm_bench" + payment.payment_id[9:17])
        )
        return text.encode()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, computed exactly as Stripe computes it."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def webhook_request(body: bytes, port: int, secret: str) -> bytes:
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Stripe-Signature: {sign(body, secret)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def card_payment_stream(
    factory: EventFactory, payments: list[Seeded], *, duplicate_share: float, rng: random.Random
) -> Iterator[bytes]:
    """Bodies in the order Stripe sends a card payment's events, payment after payment; a share of
    them are redeliveries of an event sent earlier (Stripe sends some events more than once)."""
    sent: list[bytes] = []
    for payment in payments:
        for kind in CARD_PAYMENT:
            while sent and rng.random() < duplicate_share:
                yield rng.choice(sent[-5000:])
            body = factory.body(kind, payment)
            sent.append(body)
            yield body

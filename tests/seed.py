"""Payments written straight into the app's database, for tests that start after checkout."""

from __future__ import annotations

import time

from aiohttp.test_utils import TestClient

from server.payments import Payment, get_payment
from server.web.keys import db_key


async def seed_payment(
    client: TestClient,
    payment_id: str,
    *,
    session_id: str | None = None,
    intent_id: str | None = None,
    amount: int = 2500,
    currency: str = "eur",
    product_id: str = "support-the-studio",
    email: str = "ada@example.com",
    status: str = "pending",
) -> Payment:
    db = client.server.app[db_key]
    stamp = int(time.time() * 1000)

    def insert(conn):  # type: ignore[no-untyped-def]
        conn.execute(
            "INSERT INTO payments (id, request_key, product_id, product_name, quantity, unit_amount, amount,"
            " currency, customer_name, customer_email, status, checkout_session_id, checkout_url,"
            " payment_intent_id, expires_at, created_at, updated_at)"
            " VALUES (?, ?, ?, 'Support the studio', 1, ?, ?, ?, 'Ada Lovelace', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                payment_id, f"seed:{payment_id}", product_id, amount, amount, currency, email, status,
                session_id, f"http://127.0.0.1/_sandbox/pay/{session_id}" if session_id else None,
                intent_id, stamp + 3_600_000, stamp, stamp,
            ),
        )  # fmt: skip

    await db.write(insert)
    payment = await get_payment(db, payment_id)
    assert payment is not None
    return payment


async def fetch_payment(client: TestClient, payment_id: str) -> Payment:
    payment = await get_payment(client.server.app[db_key], payment_id)
    assert payment is not None
    return payment

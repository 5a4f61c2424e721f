"""Helpers for the console tests: start the app with the console, sign in, fill forms, seed payments."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace
from html import unescape
from typing import Any

from aiohttp import ClientResponse, ClientSession, DummyCookieJar
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import SANDBOX_SECRET_KEY, ConsoleSettings, load_config
from server.console.sessions import password_hasher, set_password
from server.payments import Payment, get_payment
from server.web.keys import db_key
from tests.pages import pay_on_hosted_page

PASSWORD = "correct horse battery staple"
# Cheap argon2 costs: a test hashes many passwords; production keeps argon2-cffi's defaults.
FAST = ConsoleSettings(argon2_time_cost=1, argon2_memory_kib=8 * 1024, argon2_parallelism=1)
SANDBOX_KEY = {"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"}
CSRF_COOKIE = "paydesk_csrf"
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


async def start_console(
    aiohttp_server: Any,
    aiohttp_client: Any,
    env: dict[str, str],
    settings: ConsoleSettings | None = None,
    **overrides: str,
) -> TestClient:
    config = replace(load_config({**env, **overrides}, env_file=None), console=settings or FAST)
    app = await create_app(config)
    server = await aiohttp_server(app, host=config.host, port=config.port)
    return await aiohttp_client(server)


def hidden_fields(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in HIDDEN.findall(html)}


async def form_of(client: TestClient, path: str) -> dict[str, str]:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return hidden_fields(await response.text())


async def csrf_token(client: TestClient) -> str:
    """The browser's CSRF token: the cookie every form echoes, set by the first page it loads."""
    if CSRF_COOKIE not in client.session.cookie_jar.filter_cookies(client.make_url("/")):
        assert (await client.get("/admin/login")).status == 200
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[CSRF_COOKIE].value


async def sign_in(
    client: TestClient, password: str = PASSWORD, *, set_it: bool = True
) -> ClientResponse:
    if set_it:
        await set_password(client.server.app[db_key], password, password_hasher(FAST))
    fields = await form_of(client, "/admin/login")
    return await client.post(
        "/admin/login", data={**fields, "password": password}, allow_redirects=False
    )


async def get_as(client: TestClient, session_token: str, path: str) -> int:
    """The status another browser, holding only this session cookie, gets for a GET."""
    async with ClientSession(cookie_jar=DummyCookieJar()) as browser:
        response = await browser.get(
            str(client.make_url(path)),
            headers={"Cookie": f"paydesk_admin={session_token}"},
            allow_redirects=False,
        )
        return response.status


async def post_form(client: TestClient, path: str, **fields: str) -> ClientResponse:
    """Post like a browser would from a console page: with the CSRF token."""
    token = await csrf_token(client)
    return await client.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)


async def paid_payment(
    client: TestClient, product: str = "drop-in-class", quantity: int = 1
) -> Payment:
    """A payment made through checkout and the sandbox's hosted page, with its webhooks applied."""
    response = await client.post(
        "/api/checkout",
        json={
            "product": product,
            "quantity": quantity,
            "name": "Ada Lovelace",
            "email": "ada@example.com",
        },
    )
    assert response.status == 201, await response.text()
    checkout = await response.json()
    status, _, page = await pay_on_hosted_page(checkout["checkout_url"])
    assert status == 303, page
    payment = await wait_for_payment(client, checkout["payment_id"], "succeeded")
    # Delivery is shuffled, as at Stripe: any of the card flow's events may come last.
    for event_type in CARD_FLOW_EVENTS:
        await wait_for_event(client, payment.id, event_type)
    return payment


# What a card payment sends at once; `charge.updated` (the fee) follows a few seconds later.
CARD_FLOW_EVENTS = (
    "payment_intent.created",
    "payment_intent.succeeded",
    "charge.succeeded",
    "checkout.session.completed",
)


async def wait_for_event(
    client: TestClient, payment_id: str, event_type: str, timeout: float = 10.0
) -> None:
    async with asyncio.timeout(timeout):
        while not await client.server.app[db_key].fetch_one(
            "SELECT 1 FROM stripe_events WHERE payment_id = ? AND type = ?",
            (payment_id, event_type),
        ):
            await asyncio.sleep(0.05)


async def wait_for_payment(
    client: TestClient, payment_id: str, status: str, timeout: float = 10.0
) -> Payment:
    async with asyncio.timeout(timeout):
        while True:
            payment = await get_payment(client.server.app[db_key], payment_id)
            if payment and payment.status == status and payment.payment_intent_id:
                return payment
            await asyncio.sleep(0.05)


async def sandbox_refunds(client: TestClient, intent_id: str) -> list[dict[str, Any]]:
    """The refunds Stripe (the sandbox) holds for a PaymentIntent, asked over its HTTP API."""
    async with ClientSession() as session:
        response = await session.get(
            str(client.make_url("/_sandbox/v1/refunds")),
            params={"payment_intent": intent_id},
            headers=SANDBOX_KEY,
        )
        assert response.status == 200, await response.text()
        return list((await response.json())["data"])


async def add_fault(client: TestClient, **fault: Any) -> None:
    async with ClientSession() as session:
        response = await session.post(
            str(client.make_url("/_sandbox/_control/faults")), json=fault, headers=SANDBOX_KEY
        )
        assert response.status == 201, await response.text()


async def clear_faults(client: TestClient) -> None:
    async with ClientSession() as session:
        await session.delete(str(client.make_url("/_sandbox/_control/faults")), headers=SANDBOX_KEY)


def payment_row(
    payment_id: str,
    *,
    created_at: int,
    amount: int = 2000,
    currency: str = "eur",
    status: str = "succeeded",
    facts: dict[str, Any] | None = None,
    product_id: str = "drop-in-class",
    name: str = "Ada Lovelace",
    email: str = "ada@example.com",
    intent_id: str | None = None,
) -> tuple[Any, ...]:
    """One row for `insert_payments`, in its column order."""
    return (
        payment_id, f"seed:{payment_id}", product_id, "Drop-in class", 1, amount, amount, currency, name, email,
        status, intent_id, created_at, created_at, json.dumps(facts or {}),
    )  # fmt: skip


async def insert_payments(client_or_db: Any, rows: list[tuple[Any, ...]]) -> None:
    """Insert many payments in one transaction (executemany): fast enough for 100,000 rows."""
    db = client_or_db.server.app[db_key] if isinstance(client_or_db, TestClient) else client_or_db

    def work(conn):  # type: ignore[no-untyped-def]
        conn.executemany(
            "INSERT INTO payments (id, request_key, product_id, product_name, quantity, unit_amount, amount,"
            " currency, customer_name, customer_email, status, payment_intent_id, created_at, updated_at, facts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    await db.write(work)


def now_ms() -> int:
    return int(time.time() * 1000)

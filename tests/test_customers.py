"""Returning customers at Stripe: one Customer per email, reused by every later checkout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from yarl import URL

from server import customers
from server.config import SANDBOX_SECRET_KEY, ConfigError, load_config
from server.stripe_gateway import SessionRequest
from server.web.keys import db_key
from tests.conftest import MakeClient, free_port, wait_until_ok
from tests.pages import pay_on_hosted_page
from tests.test_reconcile import AUTH, sandbox_delivering_to, settings

ORDER = {"product": "drop-in-class", "quantity": 1, "name": "Ada Lovelace"}
SANDBOX = {"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"}


async def start(client: TestClient, email: str) -> dict[str, str]:
    response = await client.post("/api/checkout", json={**ORDER, "email": email})
    assert response.status == 201, await response.text()
    return await response.json()


async def session_at_stripe(client: TestClient, payment_id: str) -> dict[str, Any]:
    """The payment's Checkout Session as the sandbox serves it over its API."""
    row = await client.server.app[db_key].fetch_one(
        "SELECT checkout_session_id FROM payments WHERE id = ?", (payment_id,)
    )
    assert row is not None
    response = await client.get(f"/_sandbox/v1/checkout/sessions/{row[0]}", headers=SANDBOX)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def customer_recorded(client: TestClient, email: str, other_than: str = "") -> str:
    """Wait (with a deadline) until paydesk has recorded a Customer for `email`."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = await customers.customer_for(client.server.app[db_key], email)
        if found is not None and found != other_than:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no Customer recorded for {email}")


async def paid_status(client: TestClient, payment_id: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = await client.get(f"/api/payments/{payment_id}")
        if (await response.json())["status"] == "succeeded":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"payment {payment_id} never succeeded")


async def stripe_customers(client: TestClient) -> list[dict[str, Any]]:
    response = await client.get("/_sandbox/v1/customers", headers=SANDBOX)
    data: list[dict[str, Any]] = (await response.json())["data"]
    return data


async def test_a_second_checkout_with_the_same_email_reuses_the_customer(
    client: TestClient,
) -> None:
    first = await start(client, "Ada@Example.com")
    session = await session_at_stripe(client, first["payment_id"])
    # A first checkout: Stripe makes the Customer when it completes.
    assert (session["customer"], session["customer_creation"]) == (None, "always")
    assert session["customer_email"] == "Ada@Example.com"
    assert (await pay_on_hosted_page(first["checkout_url"]))[0] == 303
    customer_id = await customer_recorded(client, "ada@example.com")
    assert customer_id == (await session_at_stripe(client, first["payment_id"]))["customer"]

    # The same email typed differently is the same customer.
    second = await start(client, "  ADA@example.COM ")
    again = await session_at_stripe(client, second["payment_id"])
    assert (again["customer"], again["customer_email"]) == (customer_id, None)
    async with ClientSession() as browser:  # the Customer's email, pre-filled on Stripe's page
        page = await (await browser.get(second["checkout_url"])).text()
    assert "Email <strong>Ada@Example.com</strong>" in page
    assert (await pay_on_hosted_page(second["checkout_url"]))[0] == 303
    await paid_status(client, second["payment_id"])
    assert [c["id"] for c in await stripe_customers(client)] == [customer_id]
    rows = await client.server.app[db_key].fetch_all("SELECT * FROM stripe_customers")
    assert [(r["email"], r["customer_id"]) for r in rows] == [("ada@example.com", customer_id)]


async def test_other_emails_get_their_own_customer(client: TestClient) -> None:
    ada = await start(client, "ada@example.com")
    await pay_on_hosted_page(ada["checkout_url"])
    ada_id = await customer_recorded(client, "ada@example.com")
    grace = await start(client, "grace@example.com")
    assert (await session_at_stripe(client, grace["payment_id"]))["customer"] is None
    await pay_on_hosted_page(grace["checkout_url"])
    assert await customer_recorded(client, "grace@example.com") != ada_id


async def test_a_checkout_that_is_never_paid_records_no_customer(client: TestClient) -> None:
    started = await start(client, "ada@example.com")
    await pay_on_hosted_page(started["checkout_url"], card="4000000000000002")  # declined
    response = await client.get(f"/api/payments/{started['payment_id']}")
    assert (await response.json())["status"] in ("pending", "declined")
    assert await customers.customer_for(client.server.app[db_key], "ada@example.com") is None
    assert await stripe_customers(client) == []


async def test_a_customer_stripe_no_longer_knows_is_replaced(client: TestClient) -> None:
    db = client.server.app[db_key]
    await db.write(lambda conn: customers.remember(conn, "ada@example.com", "cus_deleted"))
    started = await start(client, "ada@example.com")  # not refused: a new Customer is made
    session = await session_at_stripe(client, started["payment_id"])
    assert (session["customer"], session["customer_creation"]) == (None, "always")
    await pay_on_hosted_page(started["checkout_url"])
    replaced = await customer_recorded(client, "ada@example.com", other_than="cus_deleted")
    assert replaced.startswith("cus_")


async def test_saving_off_no_save_box_and_no_saved_card(client: TestClient) -> None:
    first = await start(client, "ada@example.com")
    assert (await session_at_stripe(client, first["payment_id"]))[
        "saved_payment_method_options"
    ] is None
    async with ClientSession() as browser:
        page = await (await browser.get(first["checkout_url"])).text()
    assert 'name="save_payment_method"' not in page
    await pay_on_hosted_page(first["checkout_url"])
    await customer_recorded(client, "ada@example.com")
    second = await start(client, "ada@example.com")
    async with ClientSession() as browser:
        page = await (await browser.get(second["checkout_url"])).text()
    assert "saved card" not in page


async def test_saving_on_offers_the_saved_card_at_the_next_checkout(make_client: Any) -> None:
    client = await make_client(SAVE_PAYMENT_METHODS="1")
    first = await start(client, "ada@example.com")
    options = (await session_at_stripe(client, first["payment_id"]))["saved_payment_method_options"]
    assert options["payment_method_save"] == "enabled"
    async with ClientSession() as browser:
        page = await (await browser.get(first["checkout_url"])).text()
        assert 'name="save_payment_method"' in page
        form = {"card_number": "4242424242424242", "exp": "12/34", "cvc": "123"}
        answer = await browser.post(
            first["checkout_url"], data={**form, "save_payment_method": "1"}, allow_redirects=False
        )
        assert answer.status == 303
    await customer_recorded(client, "ada@example.com")

    second = await start(client, "ada@example.com")
    async with ClientSession() as browser:
        page = await (await browser.get(second["checkout_url"])).text()
        assert "Pay with saved card •••• 4242" in page
        method = page.split('name="saved_payment_method" value="', 1)[1].split('"', 1)[0]
        answer = await browser.post(
            second["checkout_url"], data={"saved_payment_method": method}, allow_redirects=False
        )
        assert answer.status == 303
    await paid_status(client, second["payment_id"])


async def test_the_customer_is_recorded_when_paydesk_learns_of_the_payment_through_the_api(
    make_client: MakeClient,
) -> None:
    # Stripe's webhooks go nowhere: paydesk learns of the payment when the customer lands back.
    with sandbox_delivering_to(f"http://127.0.0.1:{free_port()}/webhooks/stripe") as sandbox:
        await wait_until_ok(sandbox + "/v1/events", AUTH)
        client = await make_client(**settings(sandbox))
        started = await start(client, "ada@example.com")
        status, back_to, _ = await pay_on_hosted_page(started["checkout_url"])
        assert status == 303
        assert (await client.get(str(URL(back_to).relative()))).status == 200
        customer_id = await customer_recorded(client, "ada@example.com")
        async with ClientSession(headers=AUTH) as stripe:
            listed = await (await stripe.get(sandbox + "/v1/customers")).json()
        assert [c["id"] for c in listed["data"]] == [customer_id]


def _request(stripe_customer: str | None) -> SessionRequest:
    return SessionRequest(
        payment_id="pay_1",
        product_id="p",
        product_name="Poster",
        product_description="",
        currency="eur",
        unit_amount=1000,
        quantity=1,
        customer_email="ada@example.com",
        success_url="https://shop.test/ok",
        cancel_url="https://shop.test/no",
        expires_at_s=2_000_000_000,
        stripe_customer=stripe_customer,
    )


@pytest.mark.parametrize(
    ("stripe_customer", "save", "expected"),
    [
        (None, False, {"customer_creation": "always", "customer_email": "ada@example.com"}),
        ("cus_1", False, {"customer": "cus_1"}),
        (
            "cus_1",
            True,
            {
                "customer": "cus_1",
                "saved_payment_method_options": {"payment_method_save": "enabled"},
            },
        ),
    ],
)
def test_session_params_name_the_customer_or_ask_for_one(
    stripe_customer: str | None, save: bool, expected: dict[str, Any]
) -> None:
    params = dict(_request(stripe_customer).params(save_payment_methods=save))
    keys = {"customer", "customer_email", "customer_creation", "saved_payment_method_options"}
    assert {key: params[key] for key in keys if key in params} == expected


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("Ada@Example.com", "ada@example.com"), (" ada@example.com ", "ada@example.com")],
)
def test_emails_are_one_customer_however_typed(typed: str, stored: str) -> None:
    assert customers.email_key(typed) == stored


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"type": "checkout.session.completed", "data": {"object": {"customer": "cus_1"}}},
            "cus_1",
        ),
        (
            {
                "type": "checkout.session.completed",
                "data": {"object": {"customer": {"id": "cus_2"}}},
            },
            "cus_2",
        ),
        ({"type": "checkout.session.completed", "data": {"object": {"customer": None}}}, None),
        ({"type": "checkout.session.expired", "data": {"object": {"customer": "cus_1"}}}, None),
        ({"type": "checkout.session.completed", "data": {"object": {"customer": "x"}}}, None),
    ],
)
def test_only_a_completed_checkout_names_the_customer(
    event: dict[str, Any], expected: str | None
) -> None:
    assert customers.customer_of(event) == expected


def test_save_payment_methods_must_be_on_or_off() -> None:
    assert load_config({"SAVE_PAYMENT_METHODS": "1"}, env_file=None).save_payment_methods
    assert not load_config({}, env_file=None).save_payment_methods
    with pytest.raises(ConfigError, match="SAVE_PAYMENT_METHODS: expected 1 or 0"):
        load_config({"SAVE_PAYMENT_METHODS": "sometimes"}, env_file=None)

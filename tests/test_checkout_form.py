"""The payment page and its form: server-side validation, CSRF, pricing, and double submits."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient

from server.keys import db_key
from tests.conftest import count_rows
from tests.pages import field_errors, payment_form, submit_order


async def test_the_page_shows_the_shop_and_its_products(client: TestClient) -> None:
    response = await client.get("/")
    html = await response.text()
    assert response.status == 200
    assert "Harbour Yoga Studio" in html
    for name, price in [
        ("Drop-in class", "€15.00"),
        ("10-class pass", "€120.00"),
        ("Support the studio", "You choose: €5.00 to €1,000.00"),
    ]:
        assert name in html and price in html
    assert "TEST MODE" in html
    assert re.search(r'<label for="email">', html)


async def test_a_product_can_be_preselected_by_link(client: TestClient) -> None:
    html = await (await client.get("/?product=ten-class-pass")).text()
    assert re.search(r'id="product-ten-class-pass" value="ten-class-pass" checked', html)


async def test_the_form_sends_the_customer_to_checkout(client: TestClient) -> None:
    status, location, _ = await submit_order(client, **{"quantity-drop-in-class": "2"})
    assert status == 303
    assert "/_sandbox/pay/cs_test_" in location
    row = await client.server.app[db_key].fetch_one("SELECT * FROM payments")
    assert row is not None
    assert (row["status"], row["quantity"], row["amount"], row["currency"]) == (
        "pending",
        2,
        3000,
        "eur",
    )
    assert location == row["checkout_url"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"product": "no-such-thing"}, "product", "There is no product 'no-such-thing'."),
        ({"quantity-drop-in-class": "5"}, "quantity", "Choose a quantity from 1 to 4."),
        ({"quantity-drop-in-class": "two"}, "quantity", "Choose a quantity from 1 to 4."),
        ({"quantity-drop-in-class": "0"}, "quantity", "Choose a quantity from 1 to 4."),
        ({"name": "   "}, "name", "Enter your name."),
        (
            {"email": "ada@"},
            "email",
            "Enter an email address like name@example.com, so we can send your receipt.",
        ),
        (
            {"product": "support-the-studio", "amount-support-the-studio": "4.99"},
            "amount",
            "Choose an amount from €5.00 to €1,000.00.",
        ),
        (
            {"product": "support-the-studio", "amount-support-the-studio": "1000.01"},
            "amount",
            "Choose an amount from €5.00 to €1,000.00.",
        ),
        (
            {"product": "support-the-studio", "amount-support-the-studio": "ten"},
            "amount",
            "Enter an amount as a number, like 25 or 25.50.",
        ),
        (
            {"product": "support-the-studio", "amount-support-the-studio": ""},
            "amount",
            "Enter the amount you want to pay.",
        ),
    ],
)
async def test_bad_fields_are_answered_beside_the_field_and_nothing_is_written(
    client: TestClient, fields: dict[str, str], field: str, message: str
) -> None:
    status, _, html = await submit_order(client, **fields)
    assert status == 400
    errors = field_errors(html)
    # Quantity and amount boxes belong to a product card: their ids carry the product.
    element = (
        f"{field}-{fields.get('product', 'drop-in-class')}"
        if field in ("quantity", "amount")
        else field
    )
    assert errors.get(element) == message, errors
    assert await count_rows(client) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount-drop-in-class": "0.01"}, "amount"),  # a price for a fixed-price product
        ({"unit_amount": "1"}, "unit_amount"),
        ({"price": "1"}, "price"),
        ({"currency": "jpy"}, "currency"),
    ],
)
async def test_a_form_that_names_its_own_price_is_refused(
    client: TestClient, fields: dict[str, str], field: str
) -> None:
    status, _, html = await submit_order(client, **fields)
    assert status == 400
    assert "set by the shop" in html
    assert await count_rows(client) == 0


async def test_customer_chosen_amounts_use_major_units(client: TestClient) -> None:
    status, location, _ = await submit_order(
        client, product="support-the-studio", **{"amount-support-the-studio": "25.50"}
    )
    assert status == 303, location
    row = await client.server.app[db_key].fetch_one("SELECT amount, quantity FROM payments")
    assert row is not None
    assert (row["amount"], row["quantity"]) == (2550, 1)


async def test_values_survive_a_validation_error(client: TestClient) -> None:
    _, _, html = await submit_order(client, name="Grace <Hopper>", email="bad")
    assert 'value="Grace &lt;Hopper&gt;"' in html
    assert 'aria-invalid="true" aria-describedby="email-error"' in html


async def test_a_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    hidden = await payment_form(client)
    status, _, html = await submit_order(client, hidden={"form_token": hidden["form_token"]})
    assert status == 403
    assert "Reload the page" in html
    assert await count_rows(client) == 0


async def test_a_post_from_another_site_is_refused(client: TestClient) -> None:
    hidden = await payment_form(client)
    response = await client.post(
        "/checkout",
        data={**hidden, "product": "drop-in-class", "name": "A", "email": "a@example.com"},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert await count_rows(client) == 0


async def test_a_double_submit_reuses_one_payment_and_one_session(client: TestClient) -> None:
    hidden = await payment_form(client)
    results = await asyncio.gather(*(submit_order(client, hidden=hidden) for _ in range(3)))
    locations = {location for _, location, _ in results}
    assert [status for status, _, _ in results] == [303, 303, 303]
    assert len(locations) == 1
    assert await count_rows(client) == 1
    # Submitted again later (the Back button): still the same checkout.
    assert (await submit_order(client, hidden=hidden))[1] in locations


async def test_the_same_form_with_other_details_is_a_new_payment(client: TestClient) -> None:
    hidden = await payment_form(client)
    first = await submit_order(client, hidden=hidden)
    second = await submit_order(client, hidden=hidden, **{"quantity-drop-in-class": "3"})
    assert first[1] != second[1]
    assert await count_rows(client) == 2


async def test_checkout_creation_is_rate_limited_per_client(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(CHECKOUT_RATE_LIMIT="2")
    for _ in range(2):
        assert (await submit_order(client))[0] == 303
    status, _, html = await submit_order(client)
    assert status == 429
    assert "Too many payment attempts" in html
    response = await client.post(
        "/api/checkout", json={"product": "drop-in-class", "name": "A", "email": "a@example.com"}
    )
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["message"].startswith("Too many payment attempts")
    assert await count_rows(client) == 2

"""The payment page and its form: server-side validation, CSRF, pricing, and double submits."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient

from server.web.keys import db_key
from tests.checkout_form_html import focused, form_inputs
from tests.conftest import count_rows
from tests.live import open_live, wait_for_status
from tests.pages import field_errors, pay_on_hosted_page, payment_form, submit_order


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
            "Enter the amount in digits, like 7,50 or 1.234,50.",
        ),
        (
            {"product": "support-the-studio", "amount-support-the-studio": ""},
            "amount",
            "Enter an amount from €5.00 to €1,000.00.",
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


EMAIL_HINT = "Enter an email address like name@example.com, so we can send your receipt."


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {
                "product": "support-the-studio",
                "amount-support-the-studio": "ten",
                "name": " ",
                "email": "ada@",
            },
            {
                "amount-support-the-studio": "Enter the amount in digits, like 7,50 or 1.234,50.",
                "name": "Enter your name.",
                "email": EMAIL_HINT,
            },
        ),
        (
            {"quantity-drop-in-class": "9", "email": "ada@"},
            {"quantity-drop-in-class": "Choose a quantity from 1 to 4.", "email": EMAIL_HINT},
        ),
        ({"name": "", "email": ""}, {"name": "Enter your name.", "email": EMAIL_HINT}),
        (
            {"product": "no-such-thing", "email": "ada@"},
            {"product": "There is no product 'no-such-thing'.", "email": EMAIL_HINT},
        ),
    ],
)
async def test_every_wrong_field_is_answered_at_once_and_the_cursor_starts_at_the_first(
    client: TestClient, fields: dict[str, str], errors: dict[str, str]
) -> None:
    status, _, html = await submit_order(client, **fields)
    assert status == 400
    assert field_errors(html) == errors
    inputs = form_inputs(html)
    # An unknown product is answered on the product list; its first choice is the box to fix.
    boxes = ["product-drop-in-class" if error == "product" else error for error in errors]
    for box, error in zip(boxes, errors, strict=True):
        assert inputs[box]["aria-invalid"] == "true", box
        assert inputs[box]["aria-describedby"] == f"{error}-error", box
    assert focused(html) == boxes[:1]
    for box, attrs in inputs.items():
        if box not in boxes:
            assert "aria-invalid" not in attrs, box
    for field, typed in fields.items():
        if field != "product":
            assert inputs[field]["value"] == typed, field
    assert await count_rows(client) == 0


async def test_a_page_without_errors_puts_the_cursor_nowhere(client: TestClient) -> None:
    assert focused(await (await client.get("/")).text()) == []


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/checkout", "/"),
        ("/checkout?product=ten-class-pass", "/?product=ten-class-pass"),
        ("/checkout?product=https://evil.example/", "/"),
        ("/checkout?product=no-such-thing", "/"),
    ],
)
async def test_reloading_the_checkout_address_goes_back_to_the_payment_page(
    client: TestClient, path: str, location: str
) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == location
    page = await client.get(path)
    assert page.status == 200
    assert "Continue to secure payment" in await page.text()


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


async def test_the_suggested_amount_is_written_as_the_shops_customers_write_it(
    client: TestClient,
) -> None:
    html = await (await client.get("/?product=support-the-studio")).text()
    suggested = form_inputs(html)["amount-support-the-studio"]["value"]
    assert suggested == "10,00"  # euro: de_DE
    status, _, _ = await submit_order(
        client, product="support-the-studio", **{"amount-support-the-studio": suggested}
    )
    assert status == 303
    row = await client.server.app[db_key].fetch_one("SELECT amount FROM payments")
    assert row is not None
    assert row["amount"] == 1000


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("25.50", 2550),
        ("25,50", 2550),  # the shop's customers (euro: de_DE) write the decimals after a comma
        ("1.000", 100000),
        ("€25.00", 2500),
    ],
)
async def test_customer_chosen_amounts_are_read_as_the_shops_customers_write_them(
    client: TestClient, typed: str, amount: int
) -> None:
    status, location, _ = await submit_order(
        client, product="support-the-studio", **{"amount-support-the-studio": typed}
    )
    assert status == 303, location
    row = await client.server.app[db_key].fetch_one("SELECT amount, quantity FROM payments")
    assert row is not None
    assert (row["amount"], row["quantity"]) == (amount, 1)


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


async def test_the_same_form_sent_again_after_paying_starts_a_new_payment(
    client: TestClient,
) -> None:
    # Paid, then Back twice to the payment page, and Continue again: the customer means to pay again.
    hidden = await payment_form(client)
    _, checkout_url, _ = await submit_order(client, hidden=hidden)
    paid = await client.server.app[db_key].fetch_one(
        "SELECT id FROM payments WHERE checkout_url = ?", (checkout_url,)
    )
    assert paid is not None
    ws = await open_live(client, paid["id"])
    assert (await pay_on_hosted_page(checkout_url))[0] == 303
    await wait_for_status(ws, "succeeded")
    await ws.close()
    status, location, _ = await submit_order(client, hidden=hidden)
    assert status == 303
    assert "/_sandbox/pay/cs_test_" in location
    assert location != checkout_url
    again = await client.server.app[db_key].fetch_one(
        "SELECT id, status FROM payments WHERE checkout_url = ?", (location,)
    )
    assert again is not None
    assert again["id"] != paid["id"]
    assert again["status"] == "pending"
    # Sent a third time while that new checkout is open: still that one checkout.
    assert (await submit_order(client, hidden=hidden))[1] == location
    assert await count_rows(client) == 2

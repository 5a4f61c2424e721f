"""POST /api/checkout, GET /api/products and GET /api/payments/{id}: the JSON side of checkout."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import count_rows

ORDER = {
    "product": "drop-in-class",
    "quantity": 2,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
}


async def test_products_are_listed_with_prices_and_bounds(client: TestClient) -> None:
    response = await client.get("/api/products")
    body = await response.json()
    assert response.status == 200
    by_id = {p["id"]: p for p in body["data"]}
    assert by_id["drop-in-class"]["unit_amount"] == 1500
    assert by_id["drop-in-class"]["max_quantity"] == 4
    assert by_id["support-the-studio"]["custom_amount"] == {
        "minimum": 500,
        "maximum": 100000,
        "presets": [1000, 2500, 5000],
    }
    assert by_id["support-the-studio"]["pay_url"].endswith("/?product=support-the-studio")


async def test_a_checkout_answers_201_with_where_to_go(client: TestClient) -> None:
    response = await client.post("/api/checkout", json=ORDER)
    body = await response.json()
    assert response.status == 201, body
    assert body["payment_id"].startswith("pay_")
    assert "/_sandbox/pay/cs_test_" in body["checkout_url"]
    assert body["status_url"].endswith(f"/payments/{body['payment_id']}")
    status = await (await client.get(f"/api/payments/{body['payment_id']}")).json()
    assert (status["status"], status["amount"], status["quantity"], status["currency"]) == (
        "pending",
        3000,
        2,
        "eur",
    )
    assert status["email"] == "a•••@example.com"
    assert "ada@example.com" not in str(status)


@pytest.mark.parametrize(
    ("order", "field", "message"),
    [
        ({**ORDER, "product": "nope"}, "product", "There is no product 'nope'."),
        ({**ORDER, "product": 5}, "product", "Choose one of the products on offer."),
        ({**ORDER, "quantity": 5}, "quantity", "Choose a quantity from 1 to 4."),
        ({**ORDER, "quantity": 1.5}, "quantity", "quantity must be a whole number."),
        ({**ORDER, "quantity": "2"}, "quantity", "quantity must be a whole number."),
        (
            {**ORDER, "email": "not-an-email"},
            "email",
            "Enter an email address like name@example.com, so we can send your receipt.",
        ),
        ({k: v for k, v in ORDER.items() if k != "name"}, "name", "Enter your name."),
        (
            {**ORDER, "amount": 1},
            "amount",
            "The price of Drop-in class is set by the shop; do not send an amount.",
        ),
        (
            {**ORDER, "unit_amount": 1},
            "unit_amount",
            "Prices are set by the shop and cannot be sent.",
        ),
        (
            {**ORDER, "currency": "jpy"},
            "currency",
            "Prices are set by the shop and cannot be sent.",
        ),
        (
            {**ORDER, "coupon": "FREE"},
            "coupon",
            "Unknown field; send only amount, email, name, product, quantity.",
        ),
        (
            {"product": "support-the-studio", "name": "A", "email": "a@example.com"},
            "amount",
            "Send the amount the customer chose, in minor units (cents).",
        ),
        (
            {"product": "support-the-studio", "amount": 499, "name": "A", "email": "a@example.com"},
            "amount",
            "Choose an amount from €5.00 to €1,000.00.",
        ),
        (
            {
                "product": "support-the-studio",
                "amount": 100001,
                "name": "A",
                "email": "a@example.com",
            },
            "amount",
            "Choose an amount from €5.00 to €1,000.00.",
        ),
        (
            {
                "product": "support-the-studio",
                "amount": "25",
                "name": "A",
                "email": "a@example.com",
            },
            "amount",
            "amount must be a whole number of minor units, like 2500 for 25.00.",
        ),
        ([1, 2], "body", "Send a JSON object with product, quantity or amount, name and email."),
    ],
)
async def test_bad_orders_get_a_400_naming_the_field(
    client: TestClient, order: Any, field: str, message: str
) -> None:
    response = await client.post("/api/checkout", json=order)
    assert response.status == 400
    assert await response.json() == {"error": {"field": field, "message": message}}
    assert await count_rows(client) == 0


async def test_invalid_json_is_400(client: TestClient) -> None:
    response = await client.post(
        "/api/checkout", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["error"]["message"] == "The body is not valid JSON."
    assert await count_rows(client) == 0


async def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = await client.post("/api/checkout", data={"product": "drop-in-class"})
    assert response.status == 415
    assert "Content-Type: application/json" in (await response.json())["error"]["message"]
    assert await count_rows(client) == 0


async def test_an_oversized_body_is_413(client: TestClient) -> None:
    response = await client.post("/api/checkout", json={**ORDER, "name": "x" * 20_000})
    assert response.status == 413
    assert (await response.json())["error"][
        "message"
    ] == "That request was too large: the limit is 16 KiB."
    assert await count_rows(client) == 0


async def test_an_idempotency_key_makes_retries_safe(client: TestClient) -> None:
    headers = {"Idempotency-Key": "order-7781"}
    first = await (await client.post("/api/checkout", json=ORDER, headers=headers)).json()
    again = await (await client.post("/api/checkout", json=ORDER, headers=headers)).json()
    assert first == again
    other = await (
        await client.post("/api/checkout", json={**ORDER, "quantity": 1}, headers=headers)
    ).json()
    assert other["payment_id"] != first["payment_id"]
    assert await count_rows(client) == 2


async def test_unknown_payment_is_404(client: TestClient) -> None:
    response = await client.get("/api/payments/pay_doesnotexist")
    assert response.status == 404
    assert (await response.json())["error"]["message"] == "No payment has this id."


async def test_cors_allows_only_configured_origins(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(CORS_ORIGINS="https://shop.example.com")
    allowed = await client.get("/api/products", headers={"Origin": "https://shop.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    other = await client.get("/api/products", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = await client.options(
        "/api/checkout",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    refused = await client.options(
        "/api/checkout",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status == 403

"""How many checkouts one client may start: only attempts that reach Stripe count, and a refusal keeps the form."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.rate_limit import RateLimiter, TooManyAttempts, wait_in_words
from tests.checkout_form_html import alerts, focused, form_inputs
from tests.conftest import MakeClient, count_rows
from tests.pages import field_errors, payment_form, submit_order

ORDER = {"product": "drop-in-class", "name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
async def limited(make_client: MakeClient) -> TestClient:
    """Two checkouts a minute: the third in a row waits about 30 seconds."""
    return await make_client(CHECKOUT_RATE_LIMIT="2")


async def test_forms_refused_for_a_typo_cost_no_attempt(limited: TestClient) -> None:
    for _ in range(6):
        status, _, html = await submit_order(limited, email="ada@")
        assert status == 400
        assert "email" in field_errors(html)
    for _ in range(2):
        assert (await submit_order(limited))[0] == 303
    assert (await submit_order(limited))[0] == 429
    assert await count_rows(limited) == 2


async def test_sending_one_form_again_costs_nothing_while_its_checkout_is_open(
    make_client: MakeClient,
) -> None:
    client = await make_client(CHECKOUT_RATE_LIMIT="1")
    hidden = await payment_form(client)
    first = await submit_order(client, hidden=hidden)
    again = await submit_order(client, hidden=hidden)
    assert (first[0], again[0]) == (303, 303)
    assert first[1] == again[1]
    assert await count_rows(client) == 1


async def test_past_the_limit_the_form_comes_back_as_typed_with_the_wait(
    limited: TestClient,
) -> None:
    for _ in range(2):
        assert (await submit_order(limited))[0] == 303
    typed = {
        "product": "support-the-studio",
        "amount-support-the-studio": "25.50",
        "name": "Grace Hopper",
        "email": "grace@example.com",
    }
    response = await limited.post(
        "/checkout", data={**await payment_form(limited), **typed}, allow_redirects=False
    )
    html = await response.text()
    assert response.status == 429
    retry_after = int(response.headers["Retry-After"])
    assert 29 <= retry_after <= 30
    assert alerts(html) == [
        f"Too many payment attempts from your connection. Try again in {retry_after} seconds."
    ]
    inputs = form_inputs(html)
    assert "checked" in inputs["product-support-the-studio"]
    for field in ("amount-support-the-studio", "name", "email"):
        assert inputs[field]["value"] == typed[field]
        assert "aria-invalid" not in inputs[field]
    assert focused(html) == []
    assert "Back to the shop" not in html
    assert await count_rows(limited) == 2


async def test_a_long_wait_is_said_in_minutes(make_client: MakeClient) -> None:
    client = await make_client(CHECKOUT_RATE_LIMIT="1")
    assert (await submit_order(client))[0] == 303
    status, _, html = await submit_order(client)
    assert status == 429
    assert "Try again in 1 minute." in alerts(html)[0]


async def test_the_api_counts_only_orders_that_reach_stripe(limited: TestClient) -> None:
    for _ in range(6):
        refused = await limited.post("/api/checkout", json={**ORDER, "quantity": 9})
        assert refused.status == 400
    for _ in range(2):
        assert (await limited.post("/api/checkout", json=ORDER)).status == 201
    response = await limited.post("/api/checkout", json=ORDER)
    assert response.status == 429
    retry_after = int(response.headers["Retry-After"])
    assert 29 <= retry_after <= 30
    assert await response.json() == {
        "error": {
            "field": None,
            "message": "Too many payment attempts from your connection. "
            f"Try again in {retry_after} seconds.",
        }
    }
    assert await count_rows(limited) == 2


async def test_an_api_retry_with_its_idempotency_key_costs_nothing(
    make_client: MakeClient,
) -> None:
    client = await make_client(CHECKOUT_RATE_LIMIT="1")
    headers = {"Idempotency-Key": "order-1"}
    first = await client.post("/api/checkout", json=ORDER, headers=headers)
    again = await client.post("/api/checkout", json=ORDER, headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert (await first.json())["payment_id"] == (await again.json())["payment_id"]


async def test_the_form_and_the_api_share_one_allowance_per_client(limited: TestClient) -> None:
    assert (await submit_order(limited))[0] == 303
    assert (await limited.post("/api/checkout", json=ORDER)).status == 201
    assert (await submit_order(limited))[0] == 429


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (2, "2 seconds"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),  # rounded up: waiting the time said is always enough
        (120, "2 minutes"),
        (3600, "60 minutes"),
    ],
)
def test_the_wait_is_said_in_words(seconds: int, words: str) -> None:
    assert wait_in_words(seconds) == words


def test_a_wait_under_a_second_is_said_as_one_second() -> None:
    refused = TooManyAttempts(0.2)
    assert refused.retry_after_s == 1
    assert refused.message.endswith("Try again in 1 second.")


def test_each_client_gets_its_own_bucket_refilled_over_time() -> None:
    now = 0.0
    limiter = RateLimiter(2, clock=lambda: now)
    assert (limiter.acquire("a"), limiter.acquire("a")) == (0, 0)
    assert limiter.acquire("a") == pytest.approx(30)
    assert limiter.acquire("b") == 0
    now = 15.0
    assert limiter.acquire("a") == pytest.approx(15)  # a refusal takes nothing
    now = 30.0
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") == pytest.approx(30)

"""Status, cancel and error pages, security headers on every response, and the health check."""

from __future__ import annotations

import sqlite3

import pytest
from aiohttp.test_utils import TestClient

from server.keys import config_key
from tests.seed import seed_payment


async def test_the_status_page_shows_the_payment_without_the_full_email(client: TestClient) -> None:
    await seed_payment(
        client, "pay_status_page_test_0001", session_id="cs_test_page", email="jane.doe@example.com"
    )
    response = await client.get("/payments/pay_status_page_test_0001")
    html = await response.text()
    assert response.status == 200
    assert "Support the studio" in html and "€25.00" in html
    assert "j•••@example.com" in html
    assert "jane.doe@example.com" not in html
    assert response.headers["Cache-Control"] == "no-store"
    assert (
        'href="/payments/pay_status_page_test_0001"' in html
    )  # a refresh link works without JavaScript


async def test_the_cancel_page_says_nothing_was_charged_and_offers_to_try_again(
    client: TestClient,
) -> None:
    await seed_payment(client, "pay_cancel_page_test_0001", session_id="cs_test_cancel")
    html = await (await client.get("/payments/pay_cancel_page_test_0001/cancelled")).text()
    assert "Nothing was charged" in html
    assert "/?product=support-the-studio" in html
    assert "/_sandbox/pay/cs_test_cancel" in html  # back to the same checkout


@pytest.mark.parametrize(
    "path", ["/payments/pay_nope", "/payments/pay_nope/cancelled", "/no/such/page"]
)
async def test_unknown_pages_are_a_friendly_404(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert "Back to the shop" in await response.text()


async def test_unknown_live_socket_is_404_before_the_upgrade(client: TestClient) -> None:
    response = await client.get(
        "/payments/pay_nope/live",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 404


@pytest.mark.parametrize(
    "path", ["/", "/api/products", "/healthz", "/static/style.css", "/no/such/page", "/_sandbox/"]
)
async def test_security_headers_are_on_every_response(client: TestClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


async def test_the_csp_lets_the_form_go_to_stripe_only_when_talking_to_stripe(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(
        STRIPE_SECRET_KEY="sk_test_" + "x" * 24,
        STRIPE_WEBHOOK_SECRET="whsec_x",
        PUBLIC_URL="https://pay.example.com",
    )
    response = await client.get("/healthz")
    assert (
        "form-action 'self' https://checkout.stripe.com"
        in response.headers["Content-Security-Policy"]
    )
    assert "connect-src 'self' wss://pay.example.com" in response.headers["Content-Security-Policy"]
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert (await response.json())["mode"] == "stripe"


async def test_health_reports_mode_and_database(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {
        "mode": "sandbox",
        "test_mode": True,
        "status": "ok",
        "database": "ok",
    }


async def test_health_is_503_when_the_database_is_unusable(client: TestClient) -> None:
    path = client.server.app[config_key].database_path
    with sqlite3.connect(path) as broken:  # another process damaging the schema
        broken.execute("DROP TABLE schema_migrations")
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["database"] == "unusable"


async def test_every_page_shows_test_mode_in_the_sandbox(client: TestClient) -> None:
    await seed_payment(client, "pay_banner_test_000000001", session_id="cs_test_banner")
    for path in [
        "/",
        "/payments/pay_banner_test_000000001",
        "/payments/pay_banner_test_000000001/cancelled",
        "/nope",
    ]:
        assert "TEST MODE" in await (await client.get(path)).text(), path

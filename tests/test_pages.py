"""Status, cancel and error pages, security headers on every response, and the health check."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.web.keys import config_key
from tests import lifecycle_events as flows
from tests.seed import fetch_payment, seed_payment
from tests.test_webhooks import post_event


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
    assert "<dt>Reference</dt><dd><code>pay_status_p</code></dd>" in html


async def test_the_cancel_page_says_nothing_was_charged_and_offers_the_same_checkout(
    client: TestClient,
) -> None:
    await seed_payment(client, "pay_cancel_page_test_0001", session_id="cs_test_cancel")
    html = await (await client.get("/payments/pay_cancel_page_test_0001/cancelled")).text()
    assert "nothing was charged for Support the studio (€25.00)" in html
    assert "/_sandbox/pay/cs_test_cancel" in html  # back to the same checkout
    assert 'data-live-url="/payments/pay_cancel_page_test_0001/live"' in html  # it goes live
    assert "<code>pay_cancel_p</code>" in html  # the reference, as on the status page


def events_to(state: str) -> list[dict[str, Any]]:
    """Stripe's events that take the lifecycle test payment to `state`, in their natural order."""
    s = flows.Stripe("hand-built")
    return {
        "pending": [],
        "declined": flows.decline_then_success(s)[:3],
        "expired": flows.expiry(s),
        "failed": flows.async_failure(s),
        "processing": flows.async_success(s)[:4],
        "succeeded": flows.card_success(s),
        "partially_refunded": flows.partial_then_full_refund(s)[:6],
        "refunded": flows.partial_then_full_refund(s),
        "disputed": flows.dispute_won(s)[:5],
    }[state]


async def payment_in(client: TestClient, state: str) -> str:
    if state == "not_started":  # only checkout sets it, when Stripe could not be reached
        await seed_payment(client, flows.PAYMENT_ID, amount=flows.AMOUNT, status="not_started")
        return flows.PAYMENT_ID
    await seed_payment(
        client,
        flows.PAYMENT_ID,
        session_id=flows.SESSION_ID,
        intent_id=flows.PI_ID,
        amount=flows.AMOUNT,
    )
    for event in events_to(state):
        assert (await post_event(client, event))[0] == 200
    assert (await fetch_payment(client, flows.PAYMENT_ID)).status == state
    return flows.PAYMENT_ID


@pytest.mark.parametrize(
    ("state", "title", "nothing_charged"),
    [
        ("pending", "Waiting for your payment", True),
        ("not_started", "Your payment could not be started", True),
        ("declined", "Your payment was declined", True),
        ("expired", "This checkout has expired", True),
        ("failed", "Your bank payment failed", True),
        ("processing", "Your bank payment is being processed", False),
        ("succeeded", "Paid", False),
        ("partially_refunded", "Paid, partly refunded", False),
        ("refunded", "Refunded", False),
        ("disputed", "This payment is disputed", False),
    ],
)
async def test_the_cancel_page_shows_the_real_state_and_says_nothing_was_charged_only_when_true(
    client: TestClient, state: str, title: str, nothing_charged: bool
) -> None:
    payment_id = await payment_in(client, state)
    response = await client.get(f"/payments/{payment_id}/cancelled")
    html = await response.text()
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"  # history shows it anew
    assert f'<h2 class="status-headline" id="status-title">{title}</h2>' in html
    assert f'data-status="{state}"' in html
    assert ("nothing was charged" in html.lower()) is nothing_charged, html
    assert ("not charged" in html.lower()) is False  # the old words, whatever the state


@pytest.mark.parametrize(
    "path",
    [
        "/payments/pay_status_page_test_0001",
        "/payments/pay_status_page_test_0001?session_id=cs_test_page",  # "confirming"
        "/payments/pay_status_page_test_0001/cancelled",
    ],
)
async def test_without_javascript_no_page_claims_to_update_by_itself(
    client: TestClient, path: str
) -> None:
    await seed_payment(client, "pay_status_page_test_0001", session_id="cs_test_page")
    html = await (await client.get(path)).text()
    assert "updates by itself" not in html
    assert "Refresh this page" in html


async def test_while_the_bank_asks_for_3d_secure_the_status_page_says_so(
    client: TestClient,
) -> None:
    await payment_in(client, "pending")
    s = flows.Stripe("hand-built")
    for event in flows.three_d_secure_success(s)[:2]:  # created, requires_action
        assert (await post_event(client, event))[0] == 200
    html = await (await client.get(f"/payments/{flows.PAYMENT_ID}")).text()
    assert "Your bank is asking you to confirm" in html
    assert "Confirm the payment on the checkout page or in your bank" in html
    assert "Continue to payment" in html  # where the confirmation happens


@pytest.mark.parametrize(
    ("flow", "outcome", "title"),
    [
        ("dispute_won", "won", "Dispute closed"),
        ("dispute_lost", "lost", "Dispute closed"),
    ],
)
async def test_a_closed_dispute_shows_its_outcome_not_a_warning(
    client: TestClient, flow: str, outcome: str, title: str
) -> None:
    await payment_in(client, "pending")
    for event in getattr(flows, flow)(flows.Stripe("hand-built")):
        assert (await post_event(client, event))[0] == 200
    html = await (await client.get(f"/payments/{flows.PAYMENT_ID}")).text()
    assert f'class="status-card status-disputed outcome-{outcome}"' in html
    assert f">{title}</h2>" in html
    css = await (await client.get("/static/style.css")).text()
    assert f".status-card.outcome-{outcome} .status-icon" in css


async def test_an_open_dispute_keeps_its_warning(client: TestClient) -> None:
    await payment_in(client, "disputed")
    html = await (await client.get(f"/payments/{flows.PAYMENT_ID}")).text()
    assert 'class="status-card status-disputed"' in html


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
    body = await response.json()
    assert isinstance(body.pop("disk_free_mb"), int)
    assert body == {
        "mode": "sandbox",
        "test_mode": True,
        "status": "ok",
        "database": "ok",
        "disk": "ok",
        "webhooks": "ok",
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

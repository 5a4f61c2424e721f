"""GET /metrics: Prometheus text for an API token holder, with figures that move as payments do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from server.console.api_tokens import create_api_token, revoke_api_token
from server.web.keys import config_key, db_key
from tests import lifecycle_events as flows
from tests.conftest import MakeClient, free_port
from tests.seed import seed_payment
from tests.stripe_signing import event_body, sign

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def token_for(client: TestClient) -> str:
    _, secret = await create_api_token(client.server.app[db_key], "prometheus")
    return secret


async def scrape(client: TestClient, token: str) -> Samples:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def post_webhook(client: TestClient, body: bytes, signature: str) -> int:
    response = await client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": signature}
    )
    await response.read()
    return response.status


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer pdk_not-a-token", "Basic dXNlcjpwYXNz", "pdk_without-a-scheme"],
)
async def test_metrics_need_an_api_token(client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.get("/metrics", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "paydesk_" not in await response.text()


async def test_a_revoked_token_no_longer_reads_metrics(client: TestClient) -> None:
    token, secret = await create_api_token(client.server.app[db_key], "old scraper")
    await scrape(client, secret)
    assert await revoke_api_token(client.server.app[db_key], token.id)
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
    assert response.status == 401


async def test_figures_move_after_a_checkout_and_a_webhook(client: TestClient) -> None:
    token = await token_for(client)
    before = await scrape(client, token)
    assert value(before, "paydesk_live_sockets", audience="status_page") == 0
    assert value(before, "paydesk_outbox_messages", status="pending") == 0

    # A checkout calls Stripe (here the sandbox) once and stores a pending payment.
    order = {"product": "drop-in-class", "quantity": 1, "name": "Ada", "email": "ada@example.com"}
    response = await client.post("/api/checkout", json=order)
    assert response.status == 201, await response.text()
    payment_id = (await response.json())["payment_id"]
    after_checkout = await scrape(client, token)
    assert value(after_checkout, "paydesk_payments", status="pending") == 1
    created = value(
        after_checkout,
        "paydesk_stripe_request_seconds_count",
        operation="checkout_session_create",
    )
    assert created == 1
    assert value(after_checkout, "paydesk_stripe_errors_total") == 0

    # A customer watching a status page is one open live socket.
    async with client.ws_connect(f"/payments/{payment_id}/live") as socket:
        await socket.receive_json(timeout=5)
        watching = await scrape(client, token)
        assert value(watching, "paydesk_live_sockets", audience="status_page") == 1

    # A verified event pays a payment: counted by outcome, timed, and the payment counts move.
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    body = event_body(flows.card_success(flows.Stripe("hand-built"))[-1])
    secret = client.server.app[config_key].webhook_secrets[0]
    assert await post_webhook(client, body, sign(body, secret)) == 200
    assert await post_webhook(client, body, sign(body, secret)) == 200  # Stripe's redelivery
    assert await post_webhook(client, body, sign(body, "whsec_wrong")) == 400
    after_webhook = await scrape(client, token)
    assert value(after_webhook, "paydesk_webhooks_received_total", outcome="applied") == 1
    assert value(after_webhook, "paydesk_webhooks_received_total", outcome="duplicate") == 1
    assert value(after_webhook, "paydesk_webhooks_received_total", outcome="rejected") == 1
    reason = "signature does not match"
    assert value(after_webhook, "paydesk_webhooks_rejected_total", reason=reason) == 1
    assert value(after_webhook, "paydesk_webhook_handling_seconds_count") == 3
    assert value(after_webhook, "paydesk_webhook_handling_seconds_sum") > 0
    assert value(after_webhook, "paydesk_payments", status="succeeded") == 1
    assert value(after_webhook, "paydesk_payments", status="pending") == 1
    # The paid payment queued its receipt and the shop's notice; nothing has failed yet.
    assert value(after_webhook, "paydesk_outbox_messages", status="failed") == 0
    assert value(after_webhook, "paydesk_mail_failed_attempts") == 0


async def test_mail_that_fails_shows_in_the_outbox_figures(client: TestClient) -> None:
    token = await token_for(client)
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    stamp_ms = 1_000  # long ago: the oldest pending mail is old

    def queue(conn) -> None:  # type: ignore[no-untyped-def]
        for key, status, attempts in (("a", "pending", 2), ("b", "failed", 5), ("c", "sent", 3)):
            conn.execute(
                "INSERT INTO outbox (payment_id, kind, dedupe_key, status, attempts,"
                " next_attempt_at, created_at) VALUES (?, 'receipt', ?, ?, ?, ?, ?)",
                (flows.PAYMENT_ID, key, status, attempts, 1 << 60, stamp_ms),
            )

    await client.server.app[db_key].write(queue)
    samples = await scrape(client, token)
    assert value(samples, "paydesk_outbox_messages", status="pending") == 1
    assert value(samples, "paydesk_outbox_messages", status="failed") == 1
    assert value(samples, "paydesk_mail_failed_attempts") == 7
    assert value(samples, "paydesk_outbox_oldest_pending_age_seconds") > 365 * 24 * 3600


async def test_each_app_has_its_own_figures(
    client: TestClient, make_client: MakeClient, tmp_path: Path
) -> None:
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    body = event_body(flows.card_success(flows.Stripe("hand-built"))[-1])
    secret = client.server.app[config_key].webhook_secrets[0]
    assert await post_webhook(client, body, sign(body, secret)) == 200
    other = await make_client(
        PORT=str(free_port()), DATABASE_URL=f"sqlite:///{tmp_path / 'other.db'}"
    )
    samples = await scrape(other, await token_for(other))
    assert value(samples, "paydesk_webhooks_received_total", outcome="applied") == 0


async def test_every_failed_send_is_counted_even_when_a_later_one_succeeds(
    make_client: MakeClient,
) -> None:
    """Nothing listens on the SMTP port: each attempt the sender makes fails and is counted."""
    client = await make_client(
        SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), SMTP_SECURITY="none"
    )
    token = await token_for(client)
    assert value(await scrape(client, token), "paydesk_mail_send_failures_total") == 0
    await seed_payment(
        client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, intent_id=flows.PI_ID,
        amount=flows.AMOUNT,
    )  # fmt: skip
    secret = client.server.app[config_key].webhook_secrets[0]
    for event in flows.card_success(flows.Stripe("hand-built")):
        body = event_body(event)
        assert await post_webhook(client, body, sign(body, secret)) == 200
    async with asyncio.timeout(10):  # the receipt and the shop's notice are tried at once
        while value(await scrape(client, token), "paydesk_mail_send_failures_total") < 2:
            await asyncio.sleep(0.05)

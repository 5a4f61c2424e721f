"""The operator is told, on /healthz, the Health page and by one mail, when Stripe's webhooks stop arriving."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server import confirm
from server.web.keys import config_key, confirmer_key, db_key
from tests.console_helpers import sign_in, start_console
from tests.stripe_signing import event_body, sign
from tests.test_confirm_on_landing import (
    deliver_stripes_webhooks,
    paid_checkout,
    payment_status,
    rows,
    unheard,  # noqa: F401 - the fixture
)
from tests.test_reconcile import settings

ALARM_MAIL = "SELECT payment_id, dedupe_key FROM outbox WHERE kind = 'webhook_alarm'"


async def health(client: TestClient) -> dict[str, Any]:
    response = await client.get("/healthz")
    assert response.status == 200  # the service works: the alarm is shown, not a failure
    body: dict[str, Any] = await response.json()
    return body


async def health_page(client: TestClient) -> str:
    response = await client.get("/admin/health")
    assert response.status == 200
    return await response.text()


async def wait_for_webhooks(client: TestClient, state: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while (body := await health(client))["webhooks"] != state:
            await asyncio.sleep(0.1)
    return body


async def console_with(
    aiohttp_server: Any, aiohttp_client: Any, env: dict[str, str], **overrides: str
) -> TestClient:
    client = await start_console(aiohttp_server, aiohttp_client, env, **overrides)
    await sign_in(client)
    return client


async def test_payments_confirmed_only_through_the_api_raise_one_alarm_until_a_webhook_arrives(
    aiohttp_server: Any,
    aiohttp_client: Any,
    app_env: dict[str, str],
    unheard: str,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confirm, "SWEEP_GRACE_S", 0)
    client = await console_with(
        aiohttp_server,
        aiohttp_client,
        app_env,
        **settings(unheard),
        RECONCILE_INTERVAL="0",  # swept by hand
        WEBHOOK_ALERT_AFTER="2",
    )
    db, confirmer = client.server.app[db_key], client.server.app[confirmer_key]
    first, _ = await paid_checkout(client)
    swept_at = time.monotonic()
    await confirmer.sweep(int(time.time() * 1000))
    assert await payment_status(db, first) == "succeeded"
    early = await health(client)
    if time.monotonic() - swept_at < 2:  # still within WEBHOOK_ALERT_AFTER: no alarm yet
        assert early["webhooks"] == "ok"

    body = await wait_for_webhooks(client, "not arriving")
    assert "no webhook arrives" in body["webhook_problem"]
    page = await health_page(client)
    assert "data-webhook-alarm" in page
    assert "webhooks are not reaching paydesk: payments are confirmed through" in page

    await confirmer.sweep(int(time.time() * 1000))
    assert await rows(db, ALARM_MAIL) == [(first, "webhook_alarm:never:silent")]
    # More payments confirmed the same way are the same incident: still one mail.
    for _ in range(2):
        await paid_checkout(client)
        await confirmer.sweep(int(time.time() * 1000))
        await confirmer.sweep(int(time.time() * 1000) + 5_000)
    assert len(await rows(db, ALARM_MAIL)) == 1
    sent = await _sent_message(client)
    assert "check the endpoint URL and signing secret" in sent
    assert "paydesk doctor" in sent

    # Stripe's webhooks get through again: the incident is over.
    assert set(await deliver_stripes_webhooks(client, unheard)) == {200}
    assert (await health(client))["webhooks"] == "ok"
    assert "webhook_problem" not in await health(client)
    assert "data-webhook-alarm" not in await health_page(client)


async def test_a_streak_of_mismatched_signatures_says_the_signing_secret_does_not_match(
    aiohttp_server: Any, aiohttp_client: Any, app_env: dict[str, str]
) -> None:
    client = await console_with(aiohttp_server, aiohttp_client, app_env, RECONCILE_INTERVAL="0")
    checkout = await client.post(
        "/api/checkout",
        json={"product": "drop-in-class", "name": "Ada", "email": "ada@example.com"},
    )
    payment_id = (await checkout.json())["payment_id"]
    event = {
        "id": "evt_not_ours", "object": "event", "type": "customer.created", "created": int(time.time()),
        "data": {"object": {"object": "customer", "id": "cus_1", "metadata": {}}},
    }  # fmt: skip
    body = event_body(event)
    headers = {"Content-Type": "application/json"}

    async def post(secret: str) -> int:
        signed = {**headers, "Stripe-Signature": sign(body, secret)}
        return (await client.post("/webhooks/stripe", data=body, headers=signed)).status

    for _ in range(9):
        assert await post("whsec_wrong") == 400
    assert (await health(client))["webhooks"] == "ok"  # a few refusals are not yet a streak
    assert await post("whsec_wrong") == 400
    answer = await health(client)
    assert answer["webhooks"] == "not arriving"
    assert answer["webhook_problem"] == "the signing secret does not match"
    assert "the signing secret does not match" in await health_page(client)
    confirmer = client.server.app[confirmer_key]
    for _ in range(3):
        await confirmer.sweep(int(time.time() * 1000))
    db = client.server.app[db_key]
    assert await rows(db, ALARM_MAIL) == [(payment_id, "webhook_alarm:never:secret")]

    # One verified call ends the streak.
    assert await post(client.server.app[config_key].webhook_secrets[0]) == 200
    assert (await health(client))["webhooks"] == "ok"
    assert "data-webhook-alarm" not in await health_page(client)


async def _sent_message(client: TestClient) -> str:
    """The alarm as the mail sender wrote it (MAIL_DIR: files, not SMTP)."""
    db = client.server.app[db_key]
    async with asyncio.timeout(10):
        while not (
            found := await rows(
                db, "SELECT message FROM outbox WHERE kind = 'webhook_alarm' AND status = 'sent'"
            )
        ):
            await asyncio.sleep(0.05)
    message = email.message_from_string(found[0][0], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    return str(text.get_content())

"""Webhook delivery: Stripe's signatures, retries with backoff, endpoint outages, test knobs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import stripe
from aiohttp import web
from sandbox_helpers import (
    OTHER_SECRET,
    SECRET,
    VISA,
    Harness,
    Receiver,
    StartSandbox,
    StartServer,
    free_port,
    poll,
)

CARD_SUCCESS = [
    "payment_intent.created",
    "charge.succeeded",
    "payment_intent.succeeded",
    "checkout.session.completed",
]


async def _pay(sandbox: Harness) -> str:
    session = await sandbox.create_session()
    assert (await sandbox.pay_by_card(session.url, VISA)).status == 303
    return str(session.id)


async def _deliveries(sandbox: Harness) -> list[dict[str, Any]]:
    answer = await sandbox.control("GET", "/_control/deliveries")
    deliveries: list[dict[str, Any]] = answer["deliveries"]
    return deliveries


async def test_events_arrive_signed_in_order_and_equal_to_the_api(
    delivering: Harness, receiver: Receiver
) -> None:
    session_id = await _pay(delivering)
    await receiver.wait_for_types(*CARD_SUCCESS)
    assert receiver.accepted_types == CARD_SUCCESS
    completed = receiver.accepted[-1]
    assert completed["data"]["object"]["id"] == session_id
    assert completed["pending_webhooks"] == 1  # as sent: this delivery was still pending
    delivery = receiver.received[-1]
    assert delivery.headers["Content-Type"] == "application/json; charset=utf-8"
    assert delivery.headers["User-Agent"].startswith("Stripe/1.0")
    assert delivery.headers["Stripe-Signature"].startswith("t=")
    from_api = await delivering.client.v1.events.retrieve_async(completed["id"])
    assert from_api.pending_webhooks == 0  # delivered now
    sent = json.loads(delivery.body)
    assert {k: v for k, v in sent.items() if k != "pending_webhooks"} == {
        k: v for k, v in from_api.to_dict().items() if k != "pending_webhooks"
    }
    delivered = await delivering.client.v1.events.list_async({"delivery_success": True})
    assert len(delivered.data) == 4
    assert (await delivering.client.v1.events.list_async({"delivery_success": False})).data == []


async def test_every_configured_secret_signs(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(webhook_url=receiver.url, webhook_secrets=(SECRET, OTHER_SECRET))
    await _pay(sandbox)
    await receiver.wait_for_types("checkout.session.completed")
    header = receiver.received[0].headers["Stripe-Signature"]
    assert header.count("v1=") == 2
    body = receiver.received[0].body.decode()
    for secret in (SECRET, OTHER_SECRET):
        event = stripe.Webhook.construct_event(body, header, secret, tolerance=300)
        assert event.id == receiver.received[0].event["id"]  # whichever came first
    try:
        stripe.Webhook.construct_event(body, header, "whsec_someone_else_123", tolerance=300)
    except stripe.SignatureVerificationError:
        pass
    else:
        raise AssertionError("a signature verified with a secret that was not configured")


async def test_a_500_is_retried_with_backoff_until_accepted(
    delivering: Harness, receiver: Receiver
) -> None:
    receiver.answers = [500, 503, 500]
    await _pay(delivering)
    await receiver.wait_for_types(*CARD_SUCCESS)
    # A failed event waits for its retry while the next ones go out, as at Stripe.
    statuses: dict[str, list[int]] = {}
    for delivery in receiver.received:
        statuses.setdefault(delivery.event["type"], []).append(delivery.status)
    assert statuses[CARD_SUCCESS[0]][0] == 500
    assert all(seen[-1] == 200 and 200 not in seen[:-1] for seen in statuses.values())
    assert sum(len(seen) for seen in statuses.values()) == 4 + 3
    states = {state["type"]: state for state in await _deliveries(delivering)}
    for event_type, seen in statuses.items():
        assert (states[event_type]["attempts"], states[event_type]["delivered"]) == (
            len(seen),
            True,
        )


async def test_an_endpoint_that_is_down_gets_the_events_once_it_is_up(
    start_sandbox: StartSandbox, aiohttp_server: StartServer
) -> None:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/webhooks/stripe")
    sandbox = await start_sandbox(
        webhook_url=receiver.url, retry_base_delay=0.05, retry_factor=2, retry_max_delay=0.2
    )
    await _pay(sandbox)
    refused = await poll(
        lambda: _deliveries(sandbox), lambda states: all(s["attempts"] >= 2 for s in states)
    )
    assert all(not s["delivered"] and s["last_status"] is None for s in refused)
    assert "Connect" in refused[0]["last_error"]  # connection refused: nothing listens yet
    pending = await sandbox.client.v1.events.list_async({"delivery_success": False})
    assert len(pending.data) == 4
    assert pending.data[0].pending_webhooks == 1

    await aiohttp_server(receiver.app(), port=port)  # paydesk comes back
    await receiver.wait_for_types(*CARD_SUCCESS)
    # Each event at least once (Stripe may send one twice).
    assert {event["type"] for event in receiver.accepted} == set(CARD_SUCCESS)


async def test_a_slow_endpoint_times_out_and_is_retried(
    start_sandbox: StartSandbox, aiohttp_server: StartServer
) -> None:
    calls: list[float] = []

    async def slow_then_fast(request: web.Request) -> web.Response:
        await request.read()
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            await asyncio.sleep(2)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", slow_then_fast)
    server = await aiohttp_server(app)
    sandbox = await start_sandbox(
        webhook_url=str(server.make_url("/hook")), attempt_timeout=0.2, retry_base_delay=0.05
    )
    session = await sandbox.create_session()
    await sandbox.client.v1.checkout.sessions.expire_async(session.id)
    states = await poll(lambda: _deliveries(sandbox), lambda s: bool(s) and s[0]["delivered"])
    assert states[0]["attempts"] == 2
    assert len(calls) == 2


async def test_it_gives_up_after_max_attempts_and_can_resend(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    receiver.answers = [500] * 3
    sandbox = await start_sandbox(webhook_url=receiver.url, max_attempts=3, retry_base_delay=0.02)
    session = await sandbox.create_session()
    await sandbox.client.v1.checkout.sessions.expire_async(session.id)
    states = await poll(lambda: _deliveries(sandbox), lambda s: bool(s) and s[0]["gave_up"])
    assert (states[0]["attempts"], states[0]["delivered"]) == (3, False)
    failed = await sandbox.client.v1.events.list_async({"delivery_success": False})
    assert [e.type for e in failed.data] == ["checkout.session.expired"]

    answer = await sandbox.control("POST", f"/_control/events/{states[0]['event']}/resend")
    assert answer["queued"] is True
    await receiver.wait_for_types("checkout.session.expired")
    assert (await sandbox.client.v1.events.list_async({"delivery_success": False})).data == []


async def test_without_a_webhook_url_events_are_recorded_not_pending(sandbox: Harness) -> None:
    await _pay(sandbox)
    events = await sandbox.client.v1.events.list_async()
    assert len(events.data) == 4
    assert all(e.pending_webhooks == 0 for e in events.data)
    assert await _deliveries(sandbox) == []

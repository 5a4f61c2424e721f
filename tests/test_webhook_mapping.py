"""Events that name only a PaymentIntent paydesk has not seen yet: Stripe is asked whose it is."""

from __future__ import annotations

import stripe
from aiohttp.test_utils import TestClient

from server.sandbox import SandboxSettings, create_sandbox_app
from tests.conftest import count_rows, free_port
from tests.seed import fetch_payment, seed_payment
from tests.stripe_signing import event_body, sign

WHSEC = "whsec_mapping_tests"


async def start(
    make_client, aiohttp_server
) -> tuple[TestClient, stripe.StripeClient, stripe.AIOHTTPClient]:  # type: ignore[no-untyped-def]
    # A sandbox that delivers nothing, so paydesk learns about the PaymentIntent only from our event.
    port = free_port()
    await aiohttp_server(
        create_sandbox_app(
            SandboxSettings(public_url=f"http://127.0.0.1:{port}", secret_key="sk_test_mapping")
        ),
        host="127.0.0.1",
        port=port,
    )
    base = f"http://127.0.0.1:{port}"
    client = await make_client(
        STRIPE_API_BASE=base, STRIPE_SECRET_KEY="sk_test_mapping", STRIPE_WEBHOOK_SECRET=WHSEC
    )
    http = stripe.AIOHTTPClient()
    return (
        client,
        stripe.StripeClient("sk_test_mapping", base_addresses={"api": base}, http_client=http),
        http,
    )


def charge_event(event_id: str, intent: stripe.PaymentIntent) -> dict[str, object]:
    charge = {
        "id": intent["latest_charge"],
        "object": "charge",
        "amount": intent["amount"],
        "amount_refunded": intent["amount"],
        "refunded": True,
        "payment_intent": intent["id"],
        "metadata": {},
        "currency": intent["currency"],
    }
    return {
        "id": event_id,
        "object": "event",
        "type": "charge.refunded",
        "created": 1_800_000_000,
        "livemode": False,
        "data": {"object": charge},
    }


async def post(client: TestClient, event: dict[str, object]) -> tuple[int, dict[str, object]]:
    body = event_body(event)
    response = await client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body, WHSEC)}
    )
    return response.status, await response.json()


async def test_an_unseen_payment_intent_is_looked_up_at_stripe(make_client, aiohttp_server) -> None:  # type: ignore[no-untyped-def]
    client, sdk, http = await start(make_client, aiohttp_server)
    await seed_payment(client, "pay_mapping_by_lookup_0001", amount=2500)
    intent = await sdk.v1.payment_intents.create_async(
        {
            "amount": 2500,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"payment_id": "pay_mapping_by_lookup_0001"},
        }
    )
    status, body = await post(client, charge_event("evt_mapping_1", intent))
    assert (status, body["outcome"]) == (200, "applied")
    payment = await fetch_payment(client, "pay_mapping_by_lookup_0001")
    assert (payment.status, payment.payment_intent_id) == ("refunded", intent["id"])
    await http.close_async()


async def test_a_payment_intent_that_is_not_paydesks_is_acknowledged_and_ignored(
    make_client, aiohttp_server
) -> None:  # type: ignore[no-untyped-def]
    client, sdk, http = await start(make_client, aiohttp_server)
    intent = await sdk.v1.payment_intents.create_async(
        {"amount": 900, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    status, body = await post(client, charge_event("evt_mapping_2", intent))
    assert (status, body["outcome"]) == (200, "ignored")
    assert await count_rows(client, "stripe_events") == 1
    assert await count_rows(client, "payments") == 0
    await http.close_async()


async def test_a_payment_intent_naming_a_payment_we_lack_is_retried_by_stripe(
    make_client, aiohttp_server
) -> None:  # type: ignore[no-untyped-def]
    client, sdk, http = await start(make_client, aiohttp_server)
    intent = await sdk.v1.payment_intents.create_async(
        {
            "amount": 900,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"payment_id": "pay_from_a_lost_database"},
        }
    )
    status, _ = await post(client, charge_event("evt_mapping_3", intent))
    assert status == 500
    assert await count_rows(client, "stripe_events") == 0
    await http.close_async()


async def test_stripe_down_during_the_lookup_defers_the_event(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(
        STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}",
        STRIPE_SECRET_KEY="sk_test_down",
        STRIPE_WEBHOOK_SECRET=WHSEC,
        STRIPE_MAX_NETWORK_RETRIES="0",
    )
    event = {
        "id": "evt_mapping_4",
        "object": "event",
        "type": "charge.refunded",
        "created": 1_800_000_000,
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "amount": 100,
                "amount_refunded": 100,
                "payment_intent": "pi_unknown",
                "metadata": {},
            }
        },
    }
    status, body = await post(client, event)
    assert status == 503
    assert body["error"]["message"] == "could not look up the payment; retry"
    assert await count_rows(client, "stripe_events") == 0

"""POST /webhooks/stripe: signature checks, exactly-once effects, mapping, and the payment timeline."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.web.keys import config_key, db_key, webhook_stats_key
from tests import lifecycle_events as flows
from tests.conftest import count_rows
from tests.seed import fetch_payment, seed_payment
from tests.stripe_signing import event_body, sign

WEBHOOK = "/webhooks/stripe"
FLOWS = {
    "card success": (flows.card_success, "succeeded"),
    "decline then success": (flows.decline_then_success, "succeeded"),
    "3-D Secure": (flows.three_d_secure_success, "succeeded"),
    "3-D Secure failed": (flows.three_d_secure_failed, "declined"),
    "async success": (flows.async_success, "succeeded"),
    "async failure": (flows.async_failure, "failed"),
    "expiry": (flows.expiry, "expired"),
    "partial then full refund": (flows.partial_then_full_refund, "refunded"),
    "dispute won": (flows.dispute_won, "disputed"),
    "dispute lost": (flows.dispute_lost, "disputed"),
}


def secret_of(client: TestClient) -> str:
    return client.server.app[config_key].webhook_secrets[0]


async def post_event(
    client: TestClient,
    event: dict[str, Any],
    *,
    secret: str | list[str] | None = None,
    header: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body = event_body(event)
    signature = header if header is not None else sign(body, secret or secret_of(client))
    response = await client.post(
        WEBHOOK,
        data=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    return response.status, await response.json()


@pytest.fixture
async def paid_flow(client: TestClient) -> TestClient:
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    return client


def one_event() -> dict[str, Any]:
    return flows.card_success(flows.Stripe("hand-built"))[-1]  # checkout.session.completed, paid


async def test_a_verified_event_is_applied_and_acknowledged(paid_flow: TestClient) -> None:
    status, body = await post_event(paid_flow, one_event())
    assert (status, body["outcome"]) == (200, "applied")
    payment = await fetch_payment(paid_flow, flows.PAYMENT_ID)
    assert payment.status == "succeeded"
    assert payment.payment_intent_id == flows.PI_ID


def _stale(body: bytes, secret: str) -> str:
    return sign(body, secret, timestamp=int(time.time()) - 301)


@pytest.mark.parametrize(
    ("case", "make_header", "tamper", "reason"),
    [
        (
            "wrong secret",
            lambda body, secret: sign(body, "whsec_not_ours"),
            False,
            "signature does not match",
        ),
        (
            "tampered body",
            lambda body, secret: sign(body, secret),
            True,
            "signature does not match",
        ),
        ("stale timestamp", _stale, False, "signature timestamp is too old"),
        ("missing header", lambda body, secret: "", False, "missing Stripe-Signature header"),
        (
            "malformed header",
            lambda body, secret: "v1=abc",
            False,
            "malformed Stripe-Signature header",
        ),
        (
            "future timestamp",
            lambda body, secret: sign(body, secret, timestamp=int(time.time()) + 3600),
            False,
            "signature timestamp is in the future",
        ),
    ],
)
async def test_rejected_signatures_change_nothing(
    paid_flow: TestClient, case: str, make_header: Any, tamper: bool, reason: str
) -> None:
    event = one_event()
    body = event_body(event)
    header = make_header(body, secret_of(paid_flow))
    if tamper:
        body = body.replace(b'"payment_status":"paid"', b'"payment_status":"PAID"')
    before = await fetch_payment(paid_flow, flows.PAYMENT_ID)
    response = await paid_flow.post(WEBHOOK, data=body, headers={"Stripe-Signature": header})
    assert response.status == 400, case
    assert (await response.json())["error"]["message"] == reason
    assert await count_rows(paid_flow, "stripe_events") == 0
    assert await count_rows(paid_flow, "outbox") == 0
    assert await fetch_payment(paid_flow, flows.PAYMENT_ID) == before
    assert paid_flow.server.app[webhook_stats_key].rejected_last_day() == 1


async def test_a_signed_body_that_is_not_an_event_is_refused(paid_flow: TestClient) -> None:
    body = b'{"hello": "world"}'
    response = await paid_flow.post(
        WEBHOOK, data=body, headers={"Stripe-Signature": sign(body, secret_of(paid_flow))}
    )
    assert response.status == 400
    assert (await response.json())["error"]["message"] == "body is not a Stripe event object"
    assert await count_rows(paid_flow, "stripe_events") == 0


async def test_rotation_accepts_either_secret(make_client) -> None:  # type: ignore[no-untyped-def]
    old, new = "whsec_old_secret_for_rotation", "whsec_new_secret_for_rotation"
    client = await make_client(STRIPE_WEBHOOK_SECRET=f"{new},{old}")
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    s = flows.Stripe("hand-built")
    created, charged = s.pi_created(), s.charge_succeeded()
    # Stripe signs with both secrets while a rotation is under way: two v1 values.
    assert (
        await post_event(client, created, header=sign(event_body(created), ["whsec_retired", old]))
    )[0] == 200
    assert (await post_event(client, charged, secret=new))[0] == 200
    assert await count_rows(client, "stripe_events") == 2


async def test_oversized_body_is_413(paid_flow: TestClient) -> None:
    body = b"{" + b" " * (600 * 1024) + b"}"
    response = await paid_flow.post(
        WEBHOOK, data=body, headers={"Stripe-Signature": sign(body, secret_of(paid_flow))}
    )
    assert response.status == 413
    assert await count_rows(paid_flow, "stripe_events") == 0


async def test_a_sequential_duplicate_changes_nothing(paid_flow: TestClient) -> None:
    event = one_event()
    assert (await post_event(paid_flow, event))[1]["outcome"] == "applied"
    first = await fetch_payment(paid_flow, flows.PAYMENT_ID)
    status, body = await post_event(paid_flow, event)
    assert (status, body["outcome"]) == (200, "duplicate")
    assert await fetch_payment(paid_flow, flows.PAYMENT_ID) == first
    assert await count_rows(paid_flow, "stripe_events") == 1
    assert await count_rows(paid_flow, "outbox") == 2  # receipt and operator notice, once


async def test_ten_concurrent_copies_have_one_effect(paid_flow: TestClient) -> None:
    event = one_event()
    results = await asyncio.gather(*(post_event(paid_flow, event) for _ in range(10)))
    assert all(status == 200 for status, _ in results)
    assert sorted(body["outcome"] for _, body in results) == ["applied"] + ["duplicate"] * 9
    assert await count_rows(paid_flow, "stripe_events") == 1
    assert await count_rows(paid_flow, "outbox") == 2
    assert (await fetch_payment(paid_flow, flows.PAYMENT_ID)).version == 2


def fresh(event: dict[str, Any], id_: str | None = None) -> dict[str, Any]:
    """The event as Stripe would send it now (the hand-built flows are stamped in 2023)."""
    return {**event, "created": int(time.time()), "id": id_ or event["id"]}


async def test_a_fresh_event_for_a_payment_we_do_not_have_is_retried(client: TestClient) -> None:
    event = fresh(one_event())
    status, body = await post_event(client, event)
    assert status == 500
    assert "unknown paydesk payment" in body["error"]["message"]
    assert await count_rows(client, "stripe_events") == 0
    # Once the payment is committed (it was still being written), Stripe's retry is applied.
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    assert (await post_event(client, event))[1]["outcome"] == "applied"


async def test_an_old_event_for_a_payment_we_do_not_have_is_ignored_and_logged_once(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Another installation on the same Stripe account: its events must not fail here for days."""
    event = fresh(one_event())
    event["created"] -= 11 * 60
    for expected in ("ignored", "duplicate", "duplicate"):
        status, body = await post_event(client, event)
        assert (status, body["outcome"]) == (200, expected)
    logged = [r for r in caplog.records if "does not have" in r.getMessage()]
    assert len(logged) == 1
    row = await client.server.app[db_key].fetch_one("SELECT outcome, reason FROM stripe_events")
    assert row is not None
    assert tuple(row) == ("ignored", "names a payment this database does not have")


async def test_an_unused_event_type_for_a_payment_we_do_not_have_is_ignored_at_once(
    client: TestClient,
) -> None:
    event = fresh(one_event())
    event["type"] = "checkout.session.some_type_paydesk_does_not_use"
    status, body = await post_event(client, event)
    assert (status, body["outcome"]) == (200, "ignored")


async def test_unhandled_types_are_acknowledged_and_kept_on_the_timeline(
    paid_flow: TestClient,
) -> None:
    event = one_event()
    event.update(id="evt_other_type", type="checkout.session.async_payment_unknown_kind")
    status, body = await post_event(paid_flow, event)
    assert (status, body["outcome"]) == (200, "ignored")
    assert await _timeline(paid_flow) == [
        ("checkout.session.async_payment_unknown_kind", "ignored")
    ]
    assert (await fetch_payment(paid_flow, flows.PAYMENT_ID)).status == "pending"


async def test_events_are_matched_by_session_then_intent(client: TestClient) -> None:
    await seed_payment(client, "pay_by_session_only", session_id="cs_test_match")
    event = one_event()
    event["data"]["object"].update(
        id="cs_test_match", metadata={}, client_reference_id=None, payment_intent="pi_match"
    )
    assert (await post_event(client, event))[1]["outcome"] == "applied"
    # The session event taught us the PaymentIntent: a charge event now finds the payment by it.
    charge = flows.Stripe("hand-built").charge_refunded(amount_refunded=2500)
    charge["id"] = "evt_refund_by_intent"
    charge["data"]["object"].update(payment_intent="pi_match", metadata={})
    assert (await post_event(client, charge))[1]["outcome"] == "applied"
    assert (await fetch_payment(client, "pay_by_session_only")).status == "refunded"


async def _timeline(
    client: TestClient, payment_id: str = flows.PAYMENT_ID
) -> list[tuple[str, str]]:
    rows = await client.server.app[db_key].fetch_all(
        "SELECT type, outcome FROM stripe_events WHERE payment_id = ? ORDER BY received_at",
        (payment_id,),
    )
    return [(row["type"], row["outcome"]) for row in rows]


@pytest.mark.parametrize("source", flows.SOURCES)
@pytest.mark.parametrize("flow", FLOWS, ids=list(FLOWS))
async def test_any_delivery_order_ends_in_the_natural_state(
    make_client, tmp_path, flow: str, source: str
) -> None:  # type: ignore[no-untyped-def]
    """Payloads hand-built and from Stripe's published example objects, adjusted to one payment."""
    build, expected = FLOWS[flow]
    events = build(flows.Stripe(source))
    orders = [events, list(reversed(events))]
    rng = random.Random(flow)
    orders += [rng.sample(events, len(events)) for _ in range(3)]
    for number, order in enumerate(orders):
        client = await make_client(DATABASE_URL=f"sqlite:///{tmp_path / f'order-{number}.db'}")
        # The PaymentIntent is known, as after checkout; tests/test_checkout_flow.py covers learning it.
        await seed_payment(
            client,
            flows.PAYMENT_ID,
            session_id=flows.SESSION_ID,
            intent_id=flows.PI_ID,
            amount=flows.AMOUNT,
        )
        for event in order + order[:2]:  # and a couple of redeliveries
            status, _ = await post_event(client, event)
            assert status == 200
        payment = await fetch_payment(client, flows.PAYMENT_ID)
        assert payment.status == expected, [e["type"] for e in order]
        assert len(await _timeline(client)) == len(events)  # one entry per event, duplicates none
        await client.close()

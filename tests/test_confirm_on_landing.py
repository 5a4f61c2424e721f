"""A paid customer is never left at "confirming": Stripe is asked on landing, and a sweep asks for the rest."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from yarl import URL

from server import confirm
from server.db import Database
from server.web.keys import confirmer_key, db_key, stripe_key
from tests.conftest import MakeClient, free_port, wait_until_ok
from tests.live import open_live, wait_for_status
from tests.pages import pay_on_hosted_page
from tests.stripe_signing import sign
from tests.test_reconcile import AUTH, WHSEC, sandbox_delivering_to, settings

OBSERVED_ROWS = "SELECT id, type, outcome, reason FROM stripe_events WHERE id LIKE 'obs_%'"


@pytest.fixture
async def unheard() -> Any:
    """A sandbox whose webhooks go to a port nobody listens on: nothing ever arrives."""
    with sandbox_delivering_to(f"http://127.0.0.1:{free_port()}/webhooks/stripe") as url:
        await wait_until_ok(url + "/v1/events", AUTH)
        yield url


async def paid_checkout(client: TestClient) -> tuple[str, str]:
    """A checkout paid by card; the payment id and where Stripe sends the customer back."""
    checkout = await (
        await client.post(
            "/api/checkout",
            json={"product": "drop-in-class", "name": "Ada", "email": "ada@example.com"},
        )
    ).json()
    status, location, _ = await pay_on_hosted_page(checkout["checkout_url"])
    assert status == 303
    return str(checkout["payment_id"]), str(URL(location).relative())


async def rows(db: Database, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await db.fetch_all(sql, args)]


async def payment_status(db: Database, payment_id: str) -> str:
    return str((await rows(db, "SELECT status FROM payments WHERE id = ?", payment_id))[0][0])


def session_lookups(client: TestClient) -> float:
    """How many Checkout Sessions paydesk has retrieved from Stripe."""
    histogram = client.server.app[stripe_key].calls.seconds
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels == {
                "operation": "checkout_session_retrieve"
            }:
                return sample.value
    return 0


async def deliver_stripes_webhooks(client: TestClient, sandbox: str) -> list[int]:
    """Every event the sandbox made, signed and posted to paydesk as Stripe would; the answers."""
    async with ClientSession(headers=AUTH) as stripe:
        listed = await (await stripe.get(sandbox + "/v1/events?limit=100")).json()
    answers = []
    for event in reversed(listed["data"]):
        body = (await _raw(sandbox, event["id"])).encode()
        answer = await client.post(
            "/webhooks/stripe",
            data=body,
            headers={"Stripe-Signature": sign(body, WHSEC), "Content-Type": "application/json"},
        )
        answers.append(answer.status)
    return answers


async def _raw(sandbox: str, event_id: str) -> str:
    async with ClientSession(headers=AUTH) as stripe:
        return await (await stripe.get(f"{sandbox}/v1/events/{event_id}")).text()


async def test_a_customer_back_from_checkout_sees_paid_though_no_webhook_arrives(
    make_client: MakeClient, unheard: str
) -> None:
    client = await make_client(**settings(unheard))
    db = client.server.app[db_key]
    payment_id, back_to = await paid_checkout(client)
    assert await payment_status(db, payment_id) == "pending"  # no webhook came
    live = await open_live(client, payment_id)

    page = await client.get(back_to)
    assert page.status == 200
    assert "Confirming" in await page.text()  # rendered at once, before Stripe answered
    frame = await wait_for_status(live, "succeeded", timeout=10)
    assert frame["payment"]["status"] == "succeeded"
    kinds = {"checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"}
    async with asyncio.timeout(10):  # the page turned paid at the first; the others follow
        while {row[1] for row in await rows(db, OBSERVED_ROWS)} != kinds:
            await asyncio.sleep(0.05)
    observed = await rows(db, OBSERVED_ROWS)
    assert all(reason.endswith("(observed through the API)") for *_, reason in observed)
    mail = await rows(db, "SELECT dedupe_key FROM outbox WHERE payment_id = ?", payment_id)
    assert sorted(key for (key,) in mail) == ["operator_new_payment", "receipt"]

    # Stripe's own webhooks finally arrive: accepted, and nothing changes.
    answers = await deliver_stripes_webhooks(client, unheard)
    assert answers and set(answers) == {200}
    real = await rows(
        db,
        "SELECT type, outcome, reason FROM stripe_events WHERE id LIKE 'evt_%' AND payment_id = ?",
        payment_id,
    )
    outcomes = {kind: outcome for kind, outcome, _ in real}
    # Only the intent's creation, which no state shows afterwards, is news (recorded, no change).
    assert outcomes == {
        "payment_intent.created": "applied",
        "charge.succeeded": "unchanged",
        "payment_intent.succeeded": "unchanged",
        "checkout.session.completed": "unchanged",
    }
    assert await payment_status(db, payment_id) == "succeeded"
    assert await rows(db, "SELECT dedupe_key FROM outbox WHERE payment_id = ?", payment_id) == mail


async def test_a_session_id_that_is_not_the_payments_own_is_not_looked_up(
    make_client: MakeClient, unheard: str
) -> None:
    client = await make_client(**settings(unheard))
    db = client.server.app[db_key]
    payment_id, _ = await paid_checkout(client)
    other_id, other_back_to = await paid_checkout(client)
    other_session = (
        await rows(db, "SELECT checkout_session_id FROM payments WHERE id = ?", other_id)
    )[0][0]

    for bogus in ("cs_test_bogus", other_session, "x" * 5000):
        page = await client.get(f"/payments/{payment_id}", params={"session_id": bogus})
        assert page.status == 200
    # Lookups run one at a time, in order: had a bogus one been queued, it ran before this one.
    assert (await client.get(other_back_to)).status == 200
    async with asyncio.timeout(10):
        while await payment_status(db, other_id) != "succeeded":
            await asyncio.sleep(0.05)
    assert session_lookups(client) == 1
    assert await payment_status(db, payment_id) == "pending"


async def test_the_sweep_confirms_a_payment_whose_customer_never_came_back(
    make_client: MakeClient, unheard: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(confirm, "SWEEP_GRACE_S", 0)
    client = await make_client(**settings(unheard), RECONCILE_INTERVAL="1")
    db = client.server.app[db_key]
    payment_id, _ = await paid_checkout(client)  # the customer closes the tab on Stripe's page

    async with asyncio.timeout(10):
        while await payment_status(db, payment_id) != "succeeded":
            await asyncio.sleep(0.1)
    reasons = [reason for *_, reason in await rows(db, OBSERVED_ROWS)]
    assert reasons and all("observed through the API" in reason for reason in reasons)


async def test_stripes_rate_limit_ends_a_sweep_and_the_next_one_goes_on(
    make_client: MakeClient, unheard: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(confirm, "SWEEP_GRACE_S", 0)
    client = await make_client(**settings(unheard), RECONCILE_INTERVAL="0")  # swept by hand
    db = client.server.app[db_key]
    first, _ = await paid_checkout(client)
    second, _ = await paid_checkout(client)
    async with ClientSession() as control:
        fault = {"path_prefix": "/v1/checkout/sessions/", "method": "GET", "status": 429}
        assert (
            await control.post(unheard + "/_control/faults", json=fault, headers=AUTH)
        ).status == 201

    confirmer = client.server.app[confirmer_key]
    hold_off_s = await confirmer.sweep(int(time.time() * 1000))
    assert hold_off_s >= 1  # the next sweep waits
    assert session_lookups(client) == 1  # the second payment was not asked about
    assert {await payment_status(db, first), await payment_status(db, second)} == {"pending"}

    assert await confirmer.sweep(int(time.time() * 1000)) == 0
    assert {await payment_status(db, first), await payment_status(db, second)} == {"succeeded"}

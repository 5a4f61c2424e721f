"""Refunds with a life, as paydesk sees them: pending then succeeded, succeeded then failed, in any order."""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.lifecycle import Facts, Refund
from server.payments import Payment
from server.web.keys import db_key
from tests import lifecycle_events as flows
from tests.console_helpers import sign_in, start_console
from tests.live import next_snapshot, open_live
from tests.seed import fetch_payment, seed_payment
from tests.test_mail_compose import make_payment, render
from tests.test_webhooks import post_event


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    return client


async def post_all(client: TestClient, events: list[dict[str, Any]]) -> list[str]:
    outcomes = []
    for event in events:
        status, body = await post_event(client, event)
        assert status == 200, body
        outcomes.append(body["outcome"])
    return outcomes


async def outbox_keys(client: TestClient) -> list[str]:
    rows = await client.server.app[db_key].fetch_all(
        "SELECT dedupe_key FROM outbox WHERE payment_id = ? ORDER BY id", (flows.PAYMENT_ID,)
    )
    return [row[0] for row in rows]


async def status_json(client: TestClient) -> dict[str, Any]:
    response = await client.get(f"/api/payments/{flows.PAYMENT_ID}")
    assert response.status == 200
    return dict(await response.json())


async def console_page(client: TestClient) -> str:
    response = await client.get(f"/admin/payments/{flows.PAYMENT_ID}")
    assert response.status == 200
    return await response.text()


def mail_text(payment: Payment, key: str) -> tuple[str, str]:
    """(subject, plain text) of the outbox row `key` as the mail sender would render it now."""
    _, message = render(key, payment)
    body = message.get_body(("plain",))
    assert body is not None
    return str(message["Subject"]).removeprefix("[TEST] "), str(body.get_content())


async def test_a_pending_refund_is_pending_everywhere_until_it_succeeds(
    console: TestClient,
) -> None:
    events = flows.refund_pending_then_succeeded(flows.Stripe("hand-built"))
    await post_all(console, events[:3])  # paid
    ws = await open_live(console, flows.PAYMENT_ID)
    assert (await next_snapshot(ws))["payment"]["view"]["title"] == "Paid"

    await post_all(console, events[3:5])  # refund.created (pending), charge.refunded
    frame = await next_snapshot(ws)
    while frame["payment"]["version"] < (await fetch_payment(console, flows.PAYMENT_ID)).version:
        frame = await next_snapshot(ws)
    view = frame["payment"]["view"]
    assert (frame["payment"]["status"], view["title"], view["final"]) == (
        "refunded",
        "Refund on its way",
        False,
    )
    assert "A refund of €25.00 is on its way to how you paid" in view["detail"]
    html = await console_page(console)
    assert 'data-refund-pending="re_first"' in html
    assert "Refund pending: €25.00" in html
    assert 'data-refund-status="pending"' in html
    # The confirmation, rendered now (the sender renders it at its first try): on its way.
    payment = await fetch_payment(console, flows.PAYMENT_ID)
    assert "refund_confirmation:re_first" in await outbox_keys(console)
    _, text = mail_text(payment, "refund_confirmation:re_first")
    assert "is on its way to the card or account you paid with" in text
    assert "we have refunded" not in text

    await post_all(console, events[5:])  # refund.updated, charge.refund.updated: succeeded
    frame = await next_snapshot(ws)
    assert (frame["payment"]["view"]["title"], frame["payment"]["view"]["final"]) == (
        "Refunded",
        True,
    )
    await ws.close()
    html = await console_page(console)
    assert "data-refund-pending" not in html
    assert 'data-refund-status="succeeded"' in html
    payment = await fetch_payment(console, flows.PAYMENT_ID)
    _, text = mail_text(payment, "refund_confirmation:re_first")
    assert "we have refunded €25.00" in text


async def test_a_failed_refund_is_taken_back_and_the_operator_is_told(
    console: TestClient,
) -> None:
    events = flows.refund_succeeded_then_failed(flows.Stripe("hand-built"))
    await post_all(console, events[:5])
    assert (await fetch_payment(console, flows.PAYMENT_ID)).status == "refunded"
    assert "Refund again" not in await console_page(console)

    await post_all(console, events[5:])
    payment = await fetch_payment(console, flows.PAYMENT_ID)
    assert payment.status == "succeeded"
    keys = await outbox_keys(console)
    assert keys.count("refund_failed_operator:re_first") == 1
    subject, text = mail_text(payment, "refund_failed_operator:re_first")
    assert subject == "Refund failed: €25.00 to Ada Lovelace — the money stays with you"
    assert "(the card was reported lost or stolen). The money stays with you." in text
    assert "Refund again from the payment's page, or contact the customer" in text

    html = await console_page(console)
    assert 'data-refund-failed="re_first"' in html
    assert "A refund of €25.00 failed: the card was reported lost or stolen." in html
    assert "the payment is back to succeeded" in html
    assert "Review refund…" in html, "the console offers refunding again"
    assert "data-remaining>€25.00<" in html
    timeline = [e for e in html.split("<tr") if "refund.updated" in e]
    assert "refund failed (the card was reported lost or stolen): back to succeeded" in timeline[0]

    view = (await status_json(console))["view"]
    assert (view["title"], view["detail"]) == ("Paid", "Thank you: we received €25.00.")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_shuffled_and_duplicated_refund_events_end_the_same(
    console: TestClient, seed: int
) -> None:
    # As the sandbox (and Stripe) deliver them: out of order, some twice.
    chosen = random.Random(seed)
    events = flows.refund_succeeded_then_failed(flows.Stripe("hand-built"))
    delivered = events + chosen.sample(events, 3)
    chosen.shuffle(delivered)
    outcomes = await post_all(console, delivered)
    assert outcomes.count("duplicate") == 3
    payment = await fetch_payment(console, flows.PAYMENT_ID)
    assert payment.status == "succeeded"
    keys = await outbox_keys(console)
    assert keys.count("refund_failed_operator:re_first") == 1
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("status", "words"),
    [("pending", "your refund of €10.00 for"), ("succeeded", "we have refunded €10.00 for")],
)
def test_the_confirmation_says_on_its_way_until_the_refund_succeeded(
    status: str, words: str
) -> None:
    facts = Facts(paid=True, refunds={"re_1": Refund(1000, status, 1_700_000_000)})
    _, text = mail_text(make_payment(facts=facts.to_json()), "refund_confirmation:re_1")
    assert words in " ".join(text.split())
    assert ("On its way:" in text) is (status == "pending")

"""After a start, paydesk catches up on Stripe's events by itself when the last one it had is old."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from server.clock import now_ms
from server.db import Database
from server.lifecycle import HANDLED_TYPES
from server.reconcile import startup
from server.reconcile.apply import last_stripe_event_at
from server.stripe_gateway import open_stripe_client
from server.web.keys import config_key, db_key, webhooks_key
from tests.conftest import MakeClient, free_port, wait_until_ok
from tests.pages import pay_on_hosted_page
from tests.test_confirm_on_landing import paid_checkout
from tests.test_reconcile import (
    AUTH,
    EVENTS,
    MAIL,
    pay,
    rows,
    sandbox_delivering_to,
    settings,
    status,
)

# Three attempts 0.2 s and 0.5 s apart: a webhook fails past its retries within a second or two.
FEW_RETRIES = ("--max-attempts", "3")
DOWN_FOR_MS = 10 * 60 * 1000  # longer than CATCH_UP_AFTER_S


@pytest.fixture
async def heard_briefly(app_env: dict[str, str]) -> Any:
    """A sandbox delivering to paydesk's port that gives up on a webhook after three attempts."""
    url = f"http://127.0.0.1:{app_env['PORT']}/webhooks/stripe"
    with sandbox_delivering_to(url, *FEW_RETRIES) as sandbox:
        await wait_until_ok(sandbox + "/v1/events", AUTH)
        yield sandbox


@pytest.fixture
async def unheard() -> Any:
    """A sandbox whose webhooks go to a port nobody listens on: nothing ever arrives."""
    with sandbox_delivering_to(f"http://127.0.0.1:{free_port()}/webhooks/stripe") as sandbox:
        await wait_until_ok(sandbox + "/v1/events", AUTH)
        yield sandbox


async def deliveries(sandbox: str) -> list[dict[str, Any]]:
    async with ClientSession(headers=AUTH) as http:
        answer = await http.get(sandbox + "/_control/deliveries")
        assert answer.status == 200, await answer.text()
        return list((await answer.json())["deliveries"])


async def settled(sandbox: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Until every delivery was made or given up; the deliveries."""
    async with asyncio.timeout(timeout):
        while True:
            found = await deliveries(sandbox)
            if all(d["delivered"] or d["gave_up"] for d in found):
                return found
            await asyncio.sleep(0.1)


async def resend_given_up(sandbox: str, given_up: list[str]) -> None:
    """Stripe's "Resend" on each event it gave up on, as an operator would after an outage."""
    async with ClientSession(headers=AUTH) as http:
        for event_id in given_up:
            answer = await http.post(f"{sandbox}/_control/events/{event_id}/resend")
            assert answer.status == 202, await answer.text()


def age_every_event(database: Path, by_ms: int) -> None:
    """As if paydesk had been down `by_ms` longer: its stored events arrived that much earlier."""
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE stripe_events SET received_at = received_at - ?", (by_ms,))


async def wait_for_status(db: Database, payment_id: str, wanted: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while await status(db, payment_id) != wanted:
            await asyncio.sleep(0.1)


async def test_a_refund_and_a_payment_made_while_paydesk_was_down_are_applied_once_at_start(
    make_client: MakeClient,
    app_env: dict[str, str],
    heard_briefly: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = heard_briefly
    client = await make_client(**settings(sandbox))
    refunded = await pay(client)
    await settled(sandbox)
    db = client.server.app[db_key]
    assert await status(db, refunded) == "succeeded"  # by its webhooks
    row = await db.fetch_one("SELECT payment_intent_id FROM payments WHERE id = ?", (refunded,))
    assert row is not None
    intent = row[0]
    checkout = await (
        await client.post(
            "/api/checkout",
            json={"product": "drop-in-class", "name": "Bo", "email": "bo@example.com"},
        )
    ).json()
    later = str(checkout["payment_id"])
    await client.close()

    # paydesk is down: a refund is made and the other customer pays; every webhook fails past
    # its retries, and paydesk stays down long enough for its last event to count as old.
    async with ClientSession(headers=AUTH) as http:
        answer = await http.post(sandbox + "/v1/refunds", data={"payment_intent": intent})
        assert answer.status == 200, await answer.text()
    assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
    given_up = sorted({d["event"] for d in await settled(sandbox) if d["gave_up"]})
    assert given_up, "no webhook failed: the outage was not an outage"
    age_every_event(tmp_path / "paydesk.db", DOWN_FOR_MS)
    # Stripe is slow to list events: start-up and /healthz must not wait for it.
    async with ClientSession(headers=AUTH) as http:
        fault = {"path_prefix": "/v1/events", "method": "GET", "delay": 5, "count": 1}
        assert (await http.post(sandbox + "/_control/faults", json=fault)).status == 201

    caplog.set_level(logging.INFO, logger="server.reconcile")
    client = await make_client(**settings(sandbox))
    db = client.server.app[db_key]
    assert (await client.get("/healthz")).status == 200
    assert await status(db, refunded) == "succeeded"  # not yet: the listing is still on its way

    # No webhook, no command, no customer back on the page: the catch-up applies both.
    await wait_for_status(db, refunded, "refunded")
    await wait_for_status(db, later, "succeeded")
    logged = caplog.text
    assert "catching up on Stripe's events created since" in logged
    # Payment ids are capabilities: where the log redaction is installed it keeps 8 characters.
    assert f"charge.refunded  {refunded[:8]}" in logged
    assert f"checkout.session.completed  {later[:8]}" in logged
    async with asyncio.timeout(10):
        while "start-up catch-up: " not in logged or " applied, " not in logged:
            await asyncio.sleep(0.05)
            logged = caplog.text
    stored, mail = await rows(db, EVENTS), await rows(db, MAIL)
    assert [key for payment, key in mail if payment == refunded and key.startswith("refund")]
    assert (later, "receipt") in mail
    assert len(mail) == len(set(mail))

    # Stripe's webhooks for the same events arrive at last: each is a duplicate. Only events of
    # types paydesk does not use (which no catch-up asks for) are new, and change nothing.
    await resend_given_up(sandbox, given_up)
    await settled(sandbox)
    assert all(d["delivered"] for d in await deliveries(sandbox))
    after = await rows(db, EVENTS)
    assert set(stored) <= set(after)
    new_ids = [row[0] for row in after if row not in stored]
    for event_id in new_ids:
        row = await db.fetch_one(
            "SELECT type, outcome FROM stripe_events WHERE id = ?", (event_id,)
        )
        assert row is not None and row[0] not in HANDLED_TYPES and row[1] == "ignored", tuple(row)
    assert await rows(db, MAIL) == mail


async def test_stripe_is_asked_only_when_something_could_have_been_missed(
    make_client: MakeClient, heard_briefly: str
) -> None:
    client = await make_client(**settings(heard_briefly), RECONCILE_INTERVAL="0")
    app = client.server.app
    db, processor, config = app[db_key], app[webhooks_key], app[config_key]
    opened: list[str] = []

    def stripe() -> Any:
        opened.append("asked")
        return open_stripe_client(config)

    async def look(started_at_ms: int) -> startup.CatchUp | None:
        return await startup.catch_up_if_stale(
            db, processor, stripe, started_at_ms=started_at_ms, retry_waits_s=()
        )

    # A fresh install: no payment, no event.
    assert await look(now_ms()) is None
    # A payment started since paydesk started, no event yet: its webhooks are on their way.
    before_it = now_ms()
    checkout = await client.post(
        "/api/checkout", json={"product": "drop-in-class", "name": "Bo", "email": "bo@example.com"}
    )
    assert checkout.status == 201, await checkout.text()
    assert await look(before_it) is None
    assert opened == []
    # The same payment made before this start and still no event from Stripe: ask.
    caught = await look(now_ms())
    assert caught is not None and opened == ["asked"]
    assert caught.window.why.startswith("no webhook has arrived yet")
    # Webhooks arriving: the last came moments ago.
    await pay(client)
    await settled(heard_briefly)
    assert await look(now_ms()) is None
    assert opened == ["asked"]


async def test_what_paydesk_observed_itself_is_not_an_event_from_stripe(
    make_client: MakeClient, unheard: str
) -> None:
    # Customers are confirmed through the API while no webhook arrives: the refunds and disputes
    # of everyone else are still unknown, so the catch-up must not count those rows as news.
    client = await make_client(**settings(unheard))
    db = client.server.app[db_key]
    payment_id, back_to = await paid_checkout(client)
    assert (await client.get(back_to)).status == 200
    await wait_for_status(db, payment_id, "succeeded")
    assert await rows(db, "SELECT id FROM stripe_events WHERE id LIKE 'obs_%'")
    assert await last_stripe_event_at(db) is None

"""Events of another Stripe API version: applied for what paydesk reads, recorded, and warned about."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from aiohttp.test_utils import TestClient

from server.stripe_gateway import API_VERSION
from server.web.keys import db_key
from tests import lifecycle_events as flows
from tests.console_helpers import sign_in, start_console
from tests.seed import fetch_payment, seed_payment
from tests.test_webhooks import post_event

OLD = "2020-08-27"


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    return client


def card_success(version: str | None) -> list[dict[str, Any]]:
    events = flows.card_success(flows.Stripe("hand-built"))
    for event in events:
        if version is None:
            event.pop("api_version", None)
        else:
            event["api_version"] = version
    return events


async def healthz(client: TestClient) -> dict[str, Any]:
    response = await client.get("/healthz")
    assert response.status == 200
    return dict(await response.json())


def test_paydesk_is_written_for_the_version_its_sdk_pins() -> None:
    assert stripe.api_version == API_VERSION


async def test_events_of_another_version_are_applied_and_warned_about(console: TestClient) -> None:
    # An endpoint created years ago still renders events in its own version; what paydesk
    # reads (status fields, ids, metadata) is there in every version, so the payment goes on.
    for event in card_success(OLD):
        status, body = await post_event(console, event)
        assert (status, body["outcome"]) in ((200, "applied"), (200, "unchanged"))
    assert (await fetch_payment(console, flows.PAYMENT_ID)).status == "succeeded"
    rows = await console.server.app[db_key].fetch_all(
        "SELECT DISTINCT api_version FROM stripe_events"
    )
    assert [row[0] for row in rows] == [OLD]

    body = await healthz(console)
    assert body["status"] == "ok"
    assert body["api_version"] == API_VERSION
    assert body["api_version_warning"] == (
        f"Stripe sent webhook events in API version {OLD}; paydesk is written for {API_VERSION}."
        f" Set the webhook endpoint's API version to {API_VERSION} in the Stripe Dashboard"
        " (Developers, Webhooks), or create a new endpoint with that version."
    )
    html = await (await console.get("/admin/health")).text()
    assert "data-api-version-warning" in html
    assert f'<span class="mono">{OLD}</span>: 4 events' in html
    assert f"Set the webhook endpoint&#39;s API version to {API_VERSION}" in html


@pytest.mark.parametrize("version", [API_VERSION, None])
async def test_events_of_paydesks_version_or_none_give_no_warning(
    console: TestClient, version: str | None
) -> None:
    for event in card_success(version):
        status, _ = await post_event(console, event)
        assert status == 200
    body = await healthz(console)
    assert "api_version_warning" not in body
    assert "api_version" not in body  # the answer is as it always was
    html = await (await console.get("/admin/health")).text()
    assert "data-api-version-warning" not in html
    assert f'data-api-version class="mono">{API_VERSION}<' in html


async def test_the_warning_ends_a_week_after_the_last_old_event(console: TestClient) -> None:
    for event in card_success(OLD):
        await post_event(console, event)

    def age(conn):  # type: ignore[no-untyped-def]
        conn.execute("UPDATE stripe_events SET received_at = received_at - ?", (8 * 86_400_000,))

    await console.server.app[db_key].write(age)
    assert "api_version_warning" not in await healthz(console)


async def test_an_implausible_version_is_not_recorded(console: TestClient) -> None:
    [event, *_] = card_success("x" * 200)
    status, _ = await post_event(console, event)
    assert status == 200
    row = await console.server.app[db_key].fetch_one("SELECT api_version FROM stripe_events")
    assert row is not None and row[0] is None

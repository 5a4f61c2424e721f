"""Sessions expire through the API or when expires_at passes."""

from __future__ import annotations

import time

import pytest
import stripe
from sandbox_helpers import DECLINED, VISA, Harness, StartSandbox, poll


async def test_expiring_an_open_session_through_the_api(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    expired = await sandbox.client.v1.checkout.sessions.expire_async(session.id)
    assert (expired.status, expired.payment_status, expired.url) == ("expired", "unpaid", None)
    assert await sandbox.event_types() == ["checkout.session.expired"]
    event = (await sandbox.client.v1.events.list_async()).data[0]
    assert event.data.object.id == session.id
    assert event.request.id == expired.last_response.request_id


async def test_expiry_cancels_the_payment_intent_of_a_failed_attempt(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    await sandbox.pay_by_card(session.url, DECLINED)
    await sandbox.client.v1.checkout.sessions.expire_async(session.id)
    intent = (await sandbox.client.v1.payment_intents.list_async()).data[0]
    assert (intent.status, intent.cancellation_reason) == ("canceled", "abandoned")
    assert (await sandbox.event_types())[-2:] == [
        "payment_intent.canceled",
        "checkout.session.expired",
    ]


@pytest.mark.parametrize("status", ["complete", "expired"])
async def test_only_open_sessions_can_be_expired(sandbox: Harness, status: str) -> None:
    session = await sandbox.create_session()
    if status == "complete":
        await sandbox.pay_by_card(session.url, VISA)
    else:
        await sandbox.client.v1.checkout.sessions.expire_async(session.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.checkout.sessions.expire_async(session.id)
    assert refused.value.user_message == (
        'Only Checkout Sessions with a status in ["open"] can be expired. '
        f"This Checkout Session has a status of `{status}`."
    )


async def test_a_session_expires_by_itself_at_expires_at(start_sandbox: StartSandbox) -> None:
    # Tests may lower the 30-minute minimum; the default enforces Stripe's rule (see the API tests).
    sandbox = await start_sandbox(min_session_lifetime=1)
    session = await sandbox.create_session(expires_at=int(time.time()) + 1)

    async def status() -> str:
        return (await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)).status

    assert await poll(status, lambda s: s == "expired", seconds=4) == "expired"
    assert await sandbox.event_types() == ["checkout.session.expired"]
    event = (await sandbox.client.v1.events.list_async()).data[0]
    assert (event.request.id, event.request.idempotency_key) == (None, None)
    page = await sandbox.get_page(session.url)
    assert "This checkout session has expired" in page.text


async def test_a_paid_session_does_not_expire(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(min_session_lifetime=1)
    session = await sandbox.create_session(expires_at=int(time.time()) + 1)
    await sandbox.pay_by_card(session.url, VISA)
    await sandbox.run_timers()
    final = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert final.status == "complete"
    assert "checkout.session.expired" not in await sandbox.event_types()

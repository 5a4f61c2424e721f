"""/v1/events: newest first, filters, pagination, and the full event objects."""

from __future__ import annotations

import time

import pytest
import stripe
from sandbox_helpers import DECLINED, VISA, Harness


async def _some_events(sandbox: Harness) -> None:
    first = await sandbox.create_session()
    await sandbox.pay_by_card(first.url, DECLINED)
    await sandbox.pay_by_card(first.url, VISA)
    second = await sandbox.create_session()
    await sandbox.client.v1.checkout.sessions.expire_async(second.id)
    # payment_intent.created, charge.failed, payment_intent.payment_failed, charge.succeeded,
    # payment_intent.succeeded, checkout.session.completed, checkout.session.expired


async def test_events_are_full_stripe_events(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    await sandbox.pay_by_card(session.url, VISA)
    events = await sandbox.client.v1.events.list_async()
    completed = events.data[0]
    assert completed.id.startswith("evt_")
    assert completed.object == "event"
    assert completed.type == "checkout.session.completed"
    assert completed.api_version == "2026-10-28.endive"
    assert completed.livemode is False
    assert completed.pending_webhooks == 0  # no endpoint configured
    assert abs(completed.created - time.time()) < 5
    assert completed.data.object.id == session.id
    assert completed.data.object.payment_status == "paid"
    fetched = await sandbox.client.v1.events.retrieve_async(completed.id)
    assert fetched.to_dict() == completed.to_dict()


async def test_event_objects_are_snapshots_of_their_moment(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    await sandbox.pay_by_card(session.url, DECLINED)
    await sandbox.pay_by_card(session.url, VISA)
    failed = (
        await sandbox.client.v1.events.list_async({"type": "payment_intent.payment_failed"})
    ).data[0]
    assert failed.data.object.status == "requires_payment_method"
    assert failed.data.object.last_payment_error.decline_code == "generic_decline"


async def test_pagination_newest_first(sandbox: Harness) -> None:
    await _some_events(sandbox)
    everything = await sandbox.client.v1.events.list_async({"limit": 100})
    ids = [e.id for e in everything.data]
    assert len(ids) == 7
    assert everything.has_more is False
    assert everything.data[0].type == "checkout.session.expired"
    page = await sandbox.client.v1.events.list_async({"limit": 3})
    assert [e.id for e in page.data] == ids[:3]
    assert page.has_more is True
    page = await sandbox.client.v1.events.list_async({"limit": 3, "starting_after": ids[2]})
    assert [e.id for e in page.data] == ids[3:6]
    assert page.has_more is True
    page = await sandbox.client.v1.events.list_async({"limit": 3, "starting_after": ids[5]})
    assert [e.id for e in page.data] == ids[6:]
    assert page.has_more is False
    page = await sandbox.client.v1.events.list_async({"limit": 2, "ending_before": ids[3]})
    assert [e.id for e in page.data] == ids[1:3]
    assert page.has_more is True
    walked = [
        e.id
        async for e in (await sandbox.client.v1.events.list_async({"limit": 2})).auto_paging_iter()
    ]
    assert walked == ids


async def test_type_and_types_filters(sandbox: Harness) -> None:
    await _some_events(sandbox)
    charges = await sandbox.client.v1.events.list_async({"type": "charge.*"})
    assert [e.type for e in charges.data] == ["charge.succeeded", "charge.failed"]
    exact = await sandbox.client.v1.events.list_async({"type": "checkout.session.completed"})
    assert [e.type for e in exact.data] == ["checkout.session.completed"]
    several = await sandbox.client.v1.events.list_async(
        {"types": ["checkout.session.completed", "checkout.session.expired"]}
    )
    assert [e.type for e in several.data] == [
        "checkout.session.expired",
        "checkout.session.completed",
    ]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.events.list_async({"type": "a", "types": ["b"]})
    assert "only specify one of these parameters: type, types" in (refused.value.user_message or "")


async def test_created_filters(sandbox: Harness) -> None:
    await _some_events(sandbox)
    now = int(time.time())
    assert (
        len((await sandbox.client.v1.events.list_async({"created": {"gte": now - 60}})).data) == 7
    )
    assert (await sandbox.client.v1.events.list_async({"created": {"gt": now + 1}})).data == []
    assert (await sandbox.client.v1.events.list_async({"created": {"lt": now - 60}})).data == []
    assert len((await sandbox.client.v1.events.list_async({"created": {"lte": now + 1}})).data) == 7


async def test_limits_are_checked(sandbox: Harness) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.events.list_async({"limit": 101})
    assert refused.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.events.list_async({"limit": 0})
    assert refused.value.param == "limit"


async def test_filtered_lists_page_with_starting_after(sandbox: Harness) -> None:
    await _some_events(sandbox)
    since = {"gte": int(time.time()) - 60}
    types = ["charge.failed", "charge.succeeded", "payment_intent.succeeded"]
    filters = {"types": types, "created": since, "limit": 2}
    first = await sandbox.client.v1.events.list_async(filters)
    assert [e.type for e in first.data] == ["payment_intent.succeeded", "charge.succeeded"]
    assert first.has_more is True
    rest = await sandbox.client.v1.events.list_async(
        {**filters, "starting_after": first.data[-1].id}
    )
    assert [e.type for e in rest.data] == ["charge.failed"]
    assert rest.has_more is False

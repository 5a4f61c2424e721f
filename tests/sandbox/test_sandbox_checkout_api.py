"""/v1/checkout/sessions through the SDK: what is accepted, refused, stored and listed."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe
from sandbox_helpers import (
    CANCEL_URL,
    IBAN_SUCCEEDS,
    SUCCESS_URL,
    VISA,
    Harness,
    Receiver,
    StartSandbox,
    session_params,
)


async def test_a_session_honours_everything_paydesk_sends(sandbox: Harness) -> None:
    expires_at = int(time.time()) + 3600
    session = await sandbox.create_session(expires_at=expires_at, locale="de", submit_type="pay")
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.livemode is False
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_total, session.amount_subtotal, session.currency) == (2000, 2000, "eur")
    assert session.customer_email == "buyer@example.com"
    assert session.client_reference_id == "pay_1"
    assert session.metadata.to_dict() == {"payment_id": "pay_1"}
    assert (session.success_url, session.cancel_url) == (SUCCESS_URL, CANCEL_URL)
    assert session.expires_at == expires_at
    assert (session.locale, session.submit_type) == ("de", "pay")
    assert session.url == f"{sandbox.base_url}/pay/{session.id}"
    assert session.payment_intent is None  # made at the first payment attempt, as Checkout does


async def test_payment_intent_data_goes_to_the_payment_intent_not_the_session(
    sandbox: Harness,
) -> None:
    session = await sandbox.create_session(
        metadata={"payment_id": "pay_1", "only": "session"},
        payment_intent_data={"metadata": {"payment_id": "pay_1"}, "description": "Poster x2"},
    )
    await sandbox.pay_by_card(session.url, VISA)
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    intent = paid.payment_intent
    assert intent.metadata.to_dict() == {"payment_id": "pay_1"}
    assert intent.description == "Poster x2"
    assert paid.metadata.to_dict() == {"payment_id": "pay_1", "only": "session"}
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert charge.metadata.to_dict() == {"payment_id": "pay_1"}


def _line(**price: Any) -> list[dict[str, Any]]:
    price_data = {"currency": "eur", "unit_amount": 1000, "product_data": {"name": "X"}, **price}
    return [{"price_data": price_data, "quantity": 1}]


@pytest.mark.parametrize(
    ("overrides", "param", "message"),
    [
        ({"colour": "red"}, "colour", "Received unknown parameter: colour"),
        (
            {"line_items": [{"price_data": {"currency": "eur"}, "quantity": 1, "size": "L"}]},
            "line_items[0][size]",
            "Received unknown parameter: line_items[0][size]",
        ),
        ({"mode": None}, "mode", "Missing required param: mode."),
        ({"line_items": None}, "line_items", "Missing required param: line_items."),
        (
            {"line_items": [{"price_data": _line()[0]["price_data"]}]},
            "line_items[0][quantity]",
            "Missing required param: line_items[0][quantity].",
        ),
        (
            {"line_items": [{**_line()[0], "quantity": 0}]},
            "line_items[0][quantity]",
            "This value must be greater than or equal to 1.",
        ),
        (
            {"line_items": _line(unit_amount="10.5")},
            "line_items[0][price_data][unit_amount]",
            "Invalid integer: 10.5",
        ),
        (
            {"line_items": _line(currency="EUR")},
            "line_items[0][price_data][currency]",
            "Invalid currency: EUR.",
        ),
        (
            {"line_items": _line(currency="euro")},
            "line_items[0][price_data][currency]",
            "Invalid currency: euro.",
        ),
        (
            {"line_items": _line(product_data={"name": "X", "description": ""})},
            "line_items[0][price_data][product_data][description]",
            "You passed an empty string for",
        ),
        ({"expires_at": "soon"}, "expires_at", "Invalid integer: soon"),
        ({"success_url": "not a url"}, "success_url", "Not a valid URL"),
        ({"customer_email": "nobody"}, "customer_email", "Invalid email address: nobody"),
        ({"submit_type": "buy"}, "submit_type", "Invalid submit_type: must be one of"),
        ({"mode": "subscription"}, "mode", "does not support"),
        ({"allow_promotion_codes": True}, "allow_promotion_codes", "does not support"),
    ],
)
async def test_invalid_sessions_are_refused_with_stripes_message(
    sandbox: Harness, overrides: dict[str, Any], param: str, message: str
) -> None:
    params = session_params(**overrides)
    params = {key: value for key, value in params.items() if value is not None}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.checkout.sessions.create_async(params)
    assert refused.value.http_status == 400
    assert refused.value.param == param
    assert message in (refused.value.user_message or "")


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [
        ("usd", 49, "The Checkout Session's total amount due must add up to at least $0.50 usd"),
        ("eur", 49, "The Checkout Session's total amount due must add up to at least €0.50 eur"),
        ("gbp", 29, "The Checkout Session's total amount due must add up to at least £0.30 gbp"),
        ("jpy", 49, "The Checkout Session's total amount due must add up to at least ¥50 jpy"),
    ],
)
async def test_totals_below_stripes_minimum_charge_are_refused(
    sandbox: Harness, currency: str, amount: int, message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.create_session(line_items=_line(currency=currency, unit_amount=amount))
    assert refused.value.user_message == message
    # One unit more is accepted.
    await sandbox.create_session(line_items=_line(currency=currency, unit_amount=amount + 1))


@pytest.mark.parametrize(
    ("lifetime", "message"),
    [
        (29 * 60, "The `expires_at` timestamp must be at least 30 minutes from Checkout Session"),
        (24 * 3600 + 60, "The `expires_at` timestamp must be less than 24 hours from Checkout"),
    ],
)
async def test_expires_at_must_be_30_minutes_to_24_hours_ahead(
    sandbox: Harness, lifetime: int, message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.create_session(expires_at=int(time.time()) + lifetime)
    assert refused.value.param == "expires_at"
    assert message in (refused.value.user_message or "")


async def test_without_expires_at_a_session_lasts_24_hours(sandbox: Harness) -> None:
    params = session_params()
    del params["expires_at"]
    session = await sandbox.client.v1.checkout.sessions.create_async(params)
    assert abs(session.expires_at - (int(time.time()) + 24 * 3600)) <= 2


async def test_line_items_keep_their_order_and_amounts(sandbox: Harness) -> None:
    items = [
        {
            "price_data": {
                "currency": "jpy",
                "unit_amount": 500 * (n + 1),
                "product_data": {"name": f"Item {n}"},
            },
            "quantity": n + 1,
        }
        for n in range(3)
    ]
    session = await sandbox.create_session(line_items=items)
    assert session.amount_total == 500 * 1 + 1000 * 2 + 1500 * 3
    listed = await sandbox.client.v1.checkout.sessions.line_items.list_async(session.id)
    assert [item.description for item in listed.data] == ["Item 0", "Item 1", "Item 2"]
    assert [item.amount_total for item in listed.data] == [500, 2000, 4500]
    assert listed.data[1].price.unit_amount == 1000
    assert listed.url == f"/v1/checkout/sessions/{session.id}/line_items"
    first = await sandbox.client.v1.checkout.sessions.line_items.list_async(
        session.id, {"limit": 2}
    )
    assert first.has_more is True
    assert len(first.data) == 2
    expanded = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["line_items"]}
    )
    assert len(expanded.line_items.data) == 3


async def test_expanding_an_unknown_field_is_refused(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.checkout.sessions.retrieve_async(session.id, {"expand": ["mode"]})
    assert refused.value.user_message == "This property cannot be expanded (mode)."


async def test_list_filters_and_paginates_newest_first(sandbox: Harness) -> None:
    sessions = [await sandbox.create_session() for _ in range(5)]
    ids = [s.id for s in reversed(sessions)]  # newest first
    first = await sandbox.client.v1.checkout.sessions.list_async({"limit": 2})
    assert [s.id for s in first.data] == ids[:2]
    assert first.has_more is True
    assert first.url == "/v1/checkout/sessions"
    second = await sandbox.client.v1.checkout.sessions.list_async(
        {"limit": 2, "starting_after": ids[1]}
    )
    assert [s.id for s in second.data] == ids[2:4]
    last = await sandbox.client.v1.checkout.sessions.list_async(
        {"limit": 2, "starting_after": ids[3]}
    )
    assert [s.id for s in last.data] == ids[4:]
    assert last.has_more is False
    before = await sandbox.client.v1.checkout.sessions.list_async(
        {"limit": 2, "ending_before": ids[4]}
    )
    assert [s.id for s in before.data] == ids[2:4]
    assert before.has_more is True

    await sandbox.pay_by_card(sessions[0].url, VISA)
    await sandbox.client.v1.checkout.sessions.expire_async(sessions[1].id)
    complete = await sandbox.client.v1.checkout.sessions.list_async({"status": "complete"})
    assert [s.id for s in complete.data] == [sessions[0].id]
    expired = await sandbox.client.v1.checkout.sessions.list_async({"status": "expired"})
    assert [s.id for s in expired.data] == [sessions[1].id]
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(sessions[0].id)
    by_intent = await sandbox.client.v1.checkout.sessions.list_async(
        {"payment_intent": paid.payment_intent}
    )
    assert [s.id for s in by_intent.data] == [sessions[0].id]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.checkout.sessions.list_async({"starting_after": "cs_test_gone"})
    assert refused.value.param == "starting_after"


async def test_empty_metadata_values_are_left_out_on_create(sandbox: Harness) -> None:
    session = await sandbox.create_session(metadata={"payment_id": "pay_1", "note": ""})
    assert session.metadata.to_dict() == {"payment_id": "pay_1"}


async def test_the_sandbox_also_works_mounted_under_a_prefix(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    # Mounted, its cleanup contexts (timers, webhook delivery) run with the parent app's.
    mounted = await start_sandbox(
        mount="/_sandbox", webhook_url=receiver.url, async_payment_delay=0.05
    )
    session = await mounted.create_session()
    assert session.url.startswith(mounted.base_url + "/pay/cs_test_")
    assert mounted.base_url.endswith("/_sandbox")
    page = await mounted.get_page(session.url)
    assert page.status == 200
    assert "/_sandbox/static/sandbox.css" in page.text
    answer = await mounted.pay_by_bank_debit(session.url, IBAN_SUCCEEDS)
    assert answer.status == 303
    await receiver.wait_for_types("checkout.session.async_payment_succeeded")
    async with mounted.http.get(mounted.base_url + "/v1/events") as outside_the_api:
        assert outside_the_api.status == 401  # the API answers under the prefix too

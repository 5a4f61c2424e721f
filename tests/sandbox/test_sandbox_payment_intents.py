"""PaymentIntents created and confirmed server-side with Stripe's test PaymentMethods."""

from __future__ import annotations

import pytest
import stripe
from sandbox_helpers import Harness


async def test_pm_card_visa_succeeds_and_makes_a_charge(sandbox: Harness) -> None:
    intent = await sandbox.client.v1.payment_intents.create_async(
        {
            "amount": 1999,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"order": "42"},
            "description": "Order 42",
        }
    )
    assert intent.id.startswith("pi_")
    assert intent.client_secret.startswith(intent.id + "_secret_")
    assert (intent.status, intent.amount_received) == ("succeeded", 1999)
    assert intent.payment_method.startswith("pm_")
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.id[:3], charge.amount, charge.currency, charge.status) == (
        "ch_",
        1999,
        "usd",
        "succeeded",
    )
    assert charge.payment_intent == intent.id
    assert charge.metadata.to_dict() == {"order": "42"}
    assert charge.payment_method_details.card.brand == "visa"
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]


@pytest.mark.parametrize(
    ("token", "code", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline", "Your card was declined."),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            "expired_card",
            "expired_card",
            "Your card has expired.",
        ),
        (
            "pm_card_chargeDeclinedIncorrectCvc",
            "incorrect_cvc",
            "incorrect_cvc",
            "Your card's security code is incorrect.",
        ),
        (
            "pm_card_chargeDeclinedProcessingError",
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ],
)
async def test_declining_tokens_raise_card_error_402(
    sandbox: Harness, token: str, code: str, decline_code: str, message: str
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        await sandbox.client.v1.payment_intents.create_async(
            {"amount": 1000, "currency": "eur", "payment_method": token, "confirm": True}
        )
    error = declined.value
    assert error.http_status == 402
    assert (error.code, error.user_message) == (code, message)
    assert error.json_body is not None
    body = error.json_body["error"]
    assert (body["type"], body["decline_code"]) == ("card_error", decline_code)
    assert body["payment_intent"]["status"] == "requires_payment_method"
    assert body["payment_intent"]["last_payment_error"]["decline_code"] == decline_code
    assert body["charge"].startswith("ch_")
    charge = await sandbox.client.v1.charges.retrieve_async(body["charge"])
    assert (charge.status, charge.failure_code, charge.failure_message) == ("failed", code, message)
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
    ]


async def test_mastercard_and_dispute_tokens(sandbox: Harness) -> None:
    intent = await sandbox.client.v1.payment_intents.create_async(
        {"amount": 500, "currency": "gbp", "payment_method": "pm_card_mastercard", "confirm": True}
    )
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert charge.payment_method_details.card.brand == "mastercard"


async def test_without_confirm_the_intent_waits(sandbox: Harness) -> None:
    waiting = await sandbox.client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "eur", "automatic_payment_methods": {"enabled": True}}
    )
    assert waiting.status == "requires_payment_method"
    assert waiting.automatic_payment_methods.enabled is True
    with_method = await sandbox.client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa"}
    )
    assert with_method.status == "requires_confirmation"
    listed = await sandbox.client.v1.payment_intents.list_async({"limit": 1})
    assert [i.id for i in listed.data] == [with_method.id]
    assert listed.has_more is True


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"amount": 49, "currency": "usd"}, "amount", "Amount must be at least $0.50 usd"),
        ({"amount": 1000}, "currency", "Missing required param: currency."),
        (
            {"amount": 1000, "currency": "usd", "payment_method": "pm_nope", "confirm": True},
            "payment_method",
            "No such PaymentMethod: 'pm_nope'",
        ),
        (
            {"amount": 1000, "currency": "usd", "confirm": True},
            "payment_method",
            "missing a payment method",
        ),
    ],
)
async def test_invalid_intents_are_refused(
    sandbox: Harness, params: dict[str, object], param: str, message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.payment_intents.create_async(params)  # type: ignore[arg-type]
    assert refused.value.param == param
    assert message in (refused.value.user_message or "")


async def test_charges_list_by_payment_intent(sandbox: Harness) -> None:
    first = await sandbox.client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    await sandbox.client.v1.payment_intents.create_async(
        {"amount": 2000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    everything = await sandbox.client.v1.charges.list_async()
    assert [c.amount for c in everything.data] == [2000, 1000]
    only_first = await sandbox.client.v1.charges.list_async({"payment_intent": first.id})
    assert [c.id for c in only_first.data] == [first.latest_charge]
    expanded = await sandbox.client.v1.payment_intents.retrieve_async(
        first.id, {"expand": ["latest_charge", "payment_method"]}
    )
    assert expanded.latest_charge.amount == 1000
    assert expanded.payment_method.card.last4 == "4242"

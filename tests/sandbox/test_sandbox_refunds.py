"""Refunds: full, partial, too much, of unpaid payments, and the events they send."""

from __future__ import annotations

import pytest
import stripe
from sandbox_helpers import DECLINED, VISA, Harness


async def _paid_intent(sandbox: Harness, amount: int = 1000) -> stripe.PaymentIntent:
    return await sandbox.client.v1.payment_intents.create_async(
        {"amount": amount, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )


async def test_a_full_refund_by_payment_intent(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox)
    refund = await sandbox.client.v1.refunds.create_async(
        {"payment_intent": intent.id, "reason": "requested_by_customer", "metadata": {"why": "x"}}
    )
    assert refund.id.startswith("re_")
    assert (refund.amount, refund.currency, refund.status) == (1000, "eur", "succeeded")
    assert (refund.charge, refund.payment_intent) == (intent.latest_charge, intent.id)
    assert refund.reason == "requested_by_customer"
    assert refund.metadata.to_dict() == {"why": "x"}
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    events = await sandbox.client.v1.events.list_async({"limit": 2})
    refunded, created = events.data
    assert (created.type, refunded.type) == ("refund.created", "charge.refunded")
    assert refunded.data.object.amount_refunded == 1000
    assert refunded.data.previous_attributes.to_dict() == {"amount_refunded": 0, "refunded": False}
    assert created.request.idempotency_key is not None  # caused by this API request


async def test_partial_refunds_add_up_and_refuse_more_than_remains(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox, 1000)
    await sandbox.client.v1.refunds.create_async({"charge": intent.latest_charge, "amount": 300})
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (300, False)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 800})
    assert refused.value.param == "amount"
    assert refused.value.user_message == (
        "Refund amount (€8.00) is greater than unrefunded amount on charge (€7.00)"
    )
    rest = await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})
    assert rest.amount == 700  # the default is what remains
    with pytest.raises(stripe.InvalidRequestError) as again:
        await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})
    assert again.value.code == "charge_already_refunded"
    assert again.value.user_message == f"Charge {intent.latest_charge} has already been refunded."
    listed = await sandbox.client.v1.refunds.list_async({"payment_intent": intent.id})
    assert [r.amount for r in listed.data] == [700, 300]


async def test_more_than_the_charge_is_refused(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox, 1000)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 2000})
    assert refused.value.user_message == (
        "Refund amount (€20.00) is greater than charge amount (€10.00)"
    )


async def test_unpaid_payments_cannot_be_refunded(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    await sandbox.pay_by_card(session.url, DECLINED)
    declined = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.refunds.create_async({"payment_intent": declined.payment_intent})
    assert refused.value.user_message == (
        f"This PaymentIntent ({declined.payment_intent}) does not have a successful charge to refund."
    )
    assert refused.value.param == "payment_intent"


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({}, "charge", "One of the following params should be provided"),
        ({"charge": "ch_1", "payment_intent": "pi_1"}, "charge", "You may only specify one of"),
        ({"charge": "ch_missing"}, "charge", "No such charge: 'ch_missing'"),
        ({"payment_intent": "pi_missing"}, "payment_intent", "No such payment_intent"),
        ({"charge": "ch_1", "amount": 0}, "amount", "greater than or equal to 1"),
        ({"charge": "ch_1", "reason": "changed_mind"}, "reason", "Invalid reason"),
    ],
)
async def test_refund_params_are_checked(
    sandbox: Harness, params: dict[str, object], param: str, message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.refunds.create_async(params)  # type: ignore[arg-type]
    assert refused.value.param == param
    assert message in (refused.value.user_message or "")


async def test_a_checkout_payment_is_refunded_by_its_payment_intent(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    await sandbox.pay_by_card(session.url, VISA)
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    refund = await sandbox.client.v1.refunds.create_async(
        {"payment_intent": paid.payment_intent, "amount": 500}
    )
    fetched = await sandbox.client.v1.refunds.retrieve_async(refund.id, {"expand": ["charge"]})
    assert fetched.charge.amount_refunded == 500

"""Refunds over time, as Stripe's test cards give them: pending then succeeded, succeeded then failed."""

from __future__ import annotations

from typing import Any

import stripe
from sandbox_helpers import IBAN_SUCCEEDS, Harness, Receiver, StartSandbox, poll


async def _paid_intent(sandbox: Harness, token: str, amount: int = 1000) -> stripe.PaymentIntent:
    return await sandbox.client.v1.payment_intents.create_async(
        {"amount": amount, "currency": "eur", "payment_method": token, "confirm": True}
    )


async def _events(sandbox: Harness, *types: str) -> list[stripe.Event]:
    """Events of these types, oldest first."""
    events = await sandbox.client.v1.events.list_async({"limit": 100})
    return [event for event in reversed(events.data) if event.type in types]


REFUND_CHANGES = ("refund.updated", "charge.refund.updated", "refund.failed")


async def test_a_card_refund_succeeds_at_once_and_never_changes(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox, "pm_card_visa")
    refund = await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})
    assert refund.status == "succeeded"
    await sandbox.run_timers()
    assert (await sandbox.client.v1.refunds.retrieve_async(refund.id)).status == "succeeded"
    assert await _events(sandbox, *REFUND_CHANGES) == []


async def test_a_pending_refund_card_refund_is_pending_then_succeeds(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox, "pm_card_pendingRefund")
    refund = await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})
    assert (refund.status, refund.pending_reason) == ("pending", "processing")
    # The money is on its way back already: the charge counts it and charge.refunded is sent.
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert [e.type for e in await _events(sandbox, "refund.created", "charge.refunded")] == [
        "refund.created",
        "charge.refunded",
    ]
    assert await _events(sandbox, *REFUND_CHANGES) == []

    await sandbox.run_timers()  # "a little later"
    settled = await sandbox.client.v1.refunds.retrieve_async(refund.id)
    assert (settled.status, settled.pending_reason) == ("succeeded", None)
    updated, charge_refund_updated = await _events(sandbox, *REFUND_CHANGES)
    assert (updated.type, charge_refund_updated.type) == ("refund.updated", "charge.refund.updated")
    for event in (updated, charge_refund_updated):
        assert event.data.object.object == "refund"
        assert (event.data.object.id, event.data.object.status) == (refund.id, "succeeded")
        assert event.data.previous_attributes.status == "pending"
        assert event.request.id is None  # nobody asked: it happened
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)


async def test_a_refund_fail_card_refund_succeeds_then_fails_and_the_money_comes_back(
    sandbox: Harness,
) -> None:
    intent = await _paid_intent(sandbox, "pm_card_refundFail")
    refund = await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})
    assert refund.status == "succeeded"
    assert "failure_reason" not in refund  # Stripe sends it on failed refunds only

    await sandbox.run_timers()
    failed = await sandbox.client.v1.refunds.retrieve_async(refund.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert failed.failure_balance_transaction.startswith("txn_")
    reversal = await sandbox.client.v1.balance_transactions.retrieve_async(
        failed.failure_balance_transaction
    )
    assert (reversal.amount, reversal.type, reversal.source) == (1000, "refund_failure", refund.id)
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    changes = await _events(sandbox, *REFUND_CHANGES)
    assert [e.type for e in changes] == ["refund.updated", "charge.refund.updated", "refund.failed"]
    for event in changes:
        assert event.data.object.status == "failed"
        assert event.data.object.failure_reason == "expired_or_canceled_card"
        assert event.data.previous_attributes.status == "succeeded"

    # The amount is back on the charge, so it can be refunded again (to a card that works, say).
    again = await sandbox.client.v1.refunds.create_async({"charge": intent.latest_charge})
    assert again.amount == 1000


async def test_a_partial_refund_that_fails_gives_back_only_its_amount(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox, "pm_card_refundFail", amount=1000)
    await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 300})
    await sandbox.run_timers()
    await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 200})
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (200, False)


async def test_a_bank_debit_refund_starts_pending(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(async_payment_delay=0.05)
    session = await sandbox.create_session(payment_method_types=["sepa_debit"])
    assert (await sandbox.pay_by_bank_debit(session.url, IBAN_SUCCEEDS)).status == 303

    async def read() -> stripe.checkout.Session:
        return await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)

    paid = await poll(read, lambda s: s.payment_status == "paid")
    assert paid.payment_status == "paid"
    refund = await sandbox.client.v1.refunds.create_async({"payment_intent": paid.payment_intent})
    assert (refund.status, refund.destination_details) == ("pending", None)
    await sandbox.run_timers()
    assert (await sandbox.client.v1.refunds.retrieve_async(refund.id)).status == "succeeded"


async def test_a_pending_refund_settles_by_itself_on_the_scaled_clock(
    start_sandbox: StartSandbox,
) -> None:
    # refund_settle_delay is 30 Stripe seconds: 0.03 s here.
    sandbox = await start_sandbox(time_scale=0.001)
    intent = await _paid_intent(sandbox, "pm_card_pendingRefund")
    refund = await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})

    async def read() -> stripe.Refund:
        return await sandbox.client.v1.refunds.retrieve_async(refund.id)

    assert (await poll(read, lambda r: r.status == "succeeded")).status == "succeeded"


async def test_refund_changes_are_delivered_as_webhooks(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(webhook_url=receiver.url, time_scale=0.001)
    intent = await _paid_intent(sandbox, "pm_card_refundFail")
    refund = await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})
    await receiver.wait_for_types("refund.failed", "charge.refund.updated", "refund.updated")
    sent: dict[str, Any] = {
        event["type"]: event["data"]["object"]
        for event in receiver.accepted
        if event["type"] in REFUND_CHANGES
    }
    assert {body["id"] for body in sent.values()} == {refund.id}
    assert {body["status"] for body in sent.values()} == {"failed"}

"""Disputes from the 0259 card: opened after dispute_delay, decided by evidence or by time."""

from __future__ import annotations

import pytest
import stripe
from sandbox_helpers import DISPUTED, Harness, StartSandbox, poll


async def _disputed_payment(sandbox: Harness) -> str:
    session = await sandbox.create_session()
    assert (await sandbox.pay_by_card(session.url, DISPUTED)).status == 303  # it succeeds first
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert paid.payment_status == "paid"
    return str(paid.payment_intent)


async def _only_dispute(sandbox: Harness) -> stripe.Dispute:
    disputes = await poll(sandbox.client.v1.disputes.list_async, lambda found: len(found.data) == 1)
    assert len(disputes.data) == 1, "no dispute was opened"
    dispute: stripe.Dispute = disputes.data[0]
    return dispute


async def test_a_dispute_opens_shortly_after_and_closes_lost_without_evidence(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(dispute_delay=0.1, dispute_close_delay=0.3)
    intent_id = await _disputed_payment(sandbox)
    dispute = await _only_dispute(sandbox)
    assert dispute.id.startswith("dp_")
    assert (dispute.status, dispute.reason, dispute.amount) == (
        "needs_response",
        "fraudulent",
        2000,
    )
    assert dispute.payment_intent == intent_id
    charge = await sandbox.client.v1.charges.retrieve_async(dispute.charge)
    assert charge.disputed is True

    async def status() -> str:
        return (await sandbox.client.v1.disputes.retrieve_async(dispute.id)).status

    assert await poll(status, lambda s: s == "lost") == "lost"
    types = await sandbox.event_types(type="charge.dispute.*")
    assert types == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    closed = (await sandbox.client.v1.events.list_async({"type": "charge.dispute.closed"})).data[0]
    assert closed.data.object.status == "lost"
    assert closed.data.previous_attributes.status == "needs_response"


async def test_submitted_winning_evidence_wins(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(dispute_delay=0.05, dispute_close_delay=0.3)
    await _disputed_payment(sandbox)
    dispute = await _only_dispute(sandbox)
    updated = await sandbox.client.v1.disputes.update_async(
        dispute.id,
        {"evidence": {"uncategorized_text": "winning_evidence"}, "metadata": {"case": "7"}},
    )
    assert updated.status == "under_review"
    assert updated.evidence.uncategorized_text == "winning_evidence"
    assert updated.evidence_details.submission_count == 1
    assert updated.evidence_details.has_evidence is True

    async def status() -> str:
        return (await sandbox.client.v1.disputes.retrieve_async(dispute.id)).status

    assert await poll(status, lambda s: s == "won") == "won"
    assert await sandbox.event_types(type="charge.dispute.*") == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]


async def test_losing_evidence_loses_and_closed_disputes_cannot_change(sandbox: Harness) -> None:
    await _disputed_payment(sandbox)
    assert await sandbox.run_timers() >= 1
    # Fast-forwarding ran the opening and the no-evidence deadline: lost without a response.
    dispute = await _only_dispute(sandbox)
    assert dispute.status == "lost"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.disputes.update_async(
            dispute.id, {"evidence": {"uncategorized_text": "winning_evidence"}}
        )
    assert "already closed" in (refused.value.user_message or "")
    with pytest.raises(stripe.InvalidRequestError):
        await sandbox.client.v1.disputes.close_async(dispute.id)


async def test_staged_evidence_then_losing_evidence(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(dispute_delay=0.05, dispute_close_delay=0.3)
    await _disputed_payment(sandbox)
    dispute = await _only_dispute(sandbox)
    staged = await sandbox.client.v1.disputes.update_async(
        dispute.id, {"evidence": {"customer_name": "Jenny Rosen"}, "submit": False}
    )
    assert (staged.status, staged.evidence_details.submission_count) == ("needs_response", 0)
    await sandbox.client.v1.disputes.update_async(
        dispute.id, {"evidence": {"uncategorized_text": "losing_evidence"}}
    )

    async def status() -> str:
        return (await sandbox.client.v1.disputes.retrieve_async(dispute.id)).status

    assert await poll(status, lambda s: s == "lost") == "lost"


async def test_closing_a_dispute_accepts_it_as_lost(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(dispute_delay=0.05, dispute_close_delay=30)
    await _disputed_payment(sandbox)
    dispute = await _only_dispute(sandbox)
    closed = await sandbox.client.v1.disputes.close_async(dispute.id)
    assert closed.status == "lost"
    listed = await sandbox.client.v1.disputes.list_async({"charge": dispute.charge})
    assert [d.id for d in listed.data] == [dispute.id]
    # A lost dispute has charged the money back: it can no longer be refunded.
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.refunds.create_async({"charge": dispute.charge})
    assert refused.value.code == "charge_disputed"

"""Refunds: what may be refunded, with Stripe's refusals, their life (pending, failed), and events."""

from __future__ import annotations

import time

from . import balance
from .errors import invalid_request
from .events import changed_attributes, emit
from .ids import new_id
from .instruments import REFUND_FAILURE_REASON, TEST_CARDS, RefundLife
from .money import format_amount
from .params import set_values
from .records import AUTOMATIC, Charge, Origin, PaymentMethod, Refund
from .render_payments import render_charge, render_refund
from .state import Sandbox


def charge_to_refund(
    sandbox: Sandbox, charge_id: str | None, payment_intent_id: str | None
) -> Charge:
    """The charge named by exactly one of `charge` and `payment_intent`."""
    store = sandbox.store
    if charge_id is not None and payment_intent_id is not None:
        raise invalid_request(
            "You may only specify one of these parameters: charge, payment_intent.", param="charge"
        )
    if payment_intent_id is not None:
        intent = store.payment_intent(payment_intent_id, param="payment_intent")
        latest = store.charges.get(intent.latest_charge_id or "")
        if latest is None or latest.status != "succeeded":
            raise invalid_request(
                f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return latest
    if charge_id is None:
        raise invalid_request(
            "One of the following params should be provided for this request: payment_intent or "
            "charge.",
            param="charge",
        )
    charge = store.charge(charge_id, param="charge")
    if charge.status != "succeeded":
        # A pending charge is a PaymentIntent still processing: Stripe answers for its intent.
        raise invalid_request(
            f"This PaymentIntent ({charge.payment_intent_id}) does not have a successful charge "
            "to refund.",
            param="charge",
        )
    return charge


def create_refund(
    sandbox: Sandbox,
    charge: Charge,
    amount: int | None,
    reason: str | None,
    metadata: dict[str, str],
    origin: Origin,
) -> Refund:
    store = sandbox.store
    remaining = charge.amount - charge.amount_refunded
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge.id} has already been refunded.", code="charge_already_refunded"
        )
    if any(dispute.status == "lost" for dispute in store.disputes_of(charge.id)):
        raise invalid_request(
            f"Charge {charge.id} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    if amount is None:
        amount = remaining
    if amount > remaining:
        asked = format_amount(amount, charge.currency)
        if charge.amount_refunded == 0:
            limit = f"charge amount ({format_amount(charge.amount, charge.currency)})"
        else:
            limit = f"unrefunded amount on charge ({format_amount(remaining, charge.currency)})"
        raise invalid_request(f"Refund amount ({asked}) is greater than {limit}", param="amount")

    method = store.payment_methods[charge.payment_method_id]
    life = refund_life(method)
    refund = Refund(
        id=new_id("re"),
        created=int(time.time()),
        amount=amount,
        currency=charge.currency,
        charge_id=charge.id,
        payment_intent_id=charge.payment_intent_id,
        reason=reason,
        metadata=set_values(metadata),
        status="pending" if life is RefundLife.PENDING else "succeeded",
        payment_method_type=method.type,
    )
    # The amount leaves the balance at once, pending or not, as at Stripe.
    refund.balance_transaction_id = balance.record_refund(sandbox, refund).id
    before = render_charge(store, charge)
    store.refunds[refund.id] = refund
    charge.amount_refunded += amount
    after = render_charge(store, charge)
    emit(sandbox, "refund.created", refund, origin)
    # Stripe sends charge.refunded when a refund is made, also one that is still pending.
    emit(
        sandbox,
        "charge.refunded",
        charge,
        origin,
        previous_attributes=changed_attributes(before, after),
    )
    if life is not RefundLife.SUCCEEDS:
        refund_id = refund.id
        sandbox.timers.call_later(
            sandbox.settings.scaled(sandbox.settings.refund_settle_delay),
            f"settle refund {refund_id}",
            lambda: settle_refund(sandbox, refund_id, life),
        )
    return refund


def refund_life(method: PaymentMethod) -> RefundLife:
    """Bank debit refunds are pending first; a test card says how its refunds go."""
    if method.type == "sepa_debit":
        return RefundLife.PENDING
    card = TEST_CARDS.get(method.instrument or "")
    return card.refund if card is not None else RefundLife.SUCCEEDS


def settle_refund(sandbox: Sandbox, refund_id: str, life: RefundLife) -> None:
    """The pending refund succeeds, or the succeeded one fails and its amount goes back on the
    charge; each sends refund.updated and charge.refund.updated, a failure also refund.failed."""
    refund = sandbox.store.refunds[refund_id]
    before = render_refund(refund)
    if life is RefundLife.PENDING and refund.status == "pending":
        refund.status = "succeeded"
    elif life is RefundLife.FAILS and refund.status == "succeeded":
        charge = sandbox.store.charges[refund.charge_id]
        refund.status = "failed"
        refund.failure_reason = REFUND_FAILURE_REASON
        refund.failure_balance_transaction_id = balance.record_refund_failure(sandbox, refund).id
        charge.amount_refunded -= refund.amount
    else:
        return
    previous = changed_attributes(before, render_refund(refund))
    emit(sandbox, "refund.updated", refund, AUTOMATIC, previous_attributes=previous)
    emit(sandbox, "charge.refund.updated", refund, AUTOMATIC, previous_attributes=previous)
    if refund.status == "failed":
        emit(sandbox, "refund.failed", refund, AUTOMATIC, previous_attributes=previous)

"""Refunds: what may be refunded, with Stripe's refusals, and the events a refund sends."""

from __future__ import annotations

import time

from .errors import invalid_request
from .events import changed_attributes, emit
from .ids import new_id
from .money import format_amount
from .params import set_values
from .records import Charge, Origin, Refund
from .render_payments import render_charge
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

    refund = Refund(
        id=new_id("re"),
        created=int(time.time()),
        amount=amount,
        currency=charge.currency,
        charge_id=charge.id,
        payment_intent_id=charge.payment_intent_id,
        reason=reason,
        metadata=set_values(metadata),
    )
    before = render_charge(store, charge)
    store.refunds[refund.id] = refund
    charge.amount_refunded += amount
    after = render_charge(store, charge)
    emit(sandbox, "refund.created", refund, origin)
    emit(
        sandbox,
        "charge.refunded",
        charge,
        origin,
        previous_attributes=changed_attributes(before, after),
    )
    return refund

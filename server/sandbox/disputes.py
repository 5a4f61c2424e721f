"""Disputes as Stripe's test mode runs them: opened after a 0259 payment, closed by evidence or time."""

from __future__ import annotations

import time
from typing import Any

from .errors import invalid_request
from .events import changed_attributes, emit
from .ids import new_id
from .records import AUTOMATIC, Dispute, Origin
from .render_payments import render_dispute
from .state import Sandbox

# Stripe's test mode decides a dispute by the evidence's uncategorized_text.
WINNING_EVIDENCE = "winning_evidence"
LOSING_EVIDENCE = "losing_evidence"
_RESPONSE_WINDOW = 7 * 24 * 3600


def open_dispute(sandbox: Sandbox, charge_id: str) -> Dispute:
    """The cardholder disputes the charge as fraudulent; it closes lost unless evidence wins it."""
    charge = sandbox.store.charges[charge_id]
    now = int(time.time())
    dispute = Dispute(
        id=new_id("dp"),
        created=now,
        amount=charge.amount,
        currency=charge.currency,
        charge_id=charge.id,
        payment_intent_id=charge.payment_intent_id,
        reason="fraudulent",
        due_by=now + _RESPONSE_WINDOW,
    )
    sandbox.store.disputes[dispute.id] = dispute
    charge.disputed = True
    emit(sandbox, "charge.dispute.created", dispute, AUTOMATIC)
    emit(sandbox, "charge.dispute.funds_withdrawn", dispute, AUTOMATIC)
    _schedule_decision(sandbox, dispute.id)
    return dispute


def update_dispute(
    sandbox: Sandbox,
    dispute: Dispute,
    evidence: dict[str, str],
    metadata: dict[str, str] | None,
    submit: bool,
    origin: Origin,
) -> None:
    if not dispute.is_open:
        raise invalid_request(f"This dispute is already closed: {dispute.id}.", param="dispute")
    if dispute.status == "under_review" and (evidence or submit):
        raise invalid_request(
            "This dispute's evidence has already been submitted; it can no longer be changed.",
            param="evidence",
        )
    before = render_dispute(sandbox.store, dispute)
    for name, value in evidence.items():
        dispute.evidence[name] = value or None  # "" unsets, as on every Stripe update
    if metadata is not None:
        _merge_metadata(dispute.metadata, metadata)
    if submit and any(value is not None for value in dispute.evidence.values()):
        dispute.status = "under_review"
        dispute.submission_count += 1
        # Stripe's test mode reviews the evidence; the outcome follows after the review delay.
        _schedule_decision(sandbox, dispute.id)
    after = render_dispute(sandbox.store, dispute)
    if after != before:
        emit(
            sandbox,
            "charge.dispute.updated",
            dispute,
            origin,
            previous_attributes=changed_attributes(before, after),
        )


def close_dispute(sandbox: Sandbox, dispute: Dispute, origin: Origin) -> None:
    """Accept the dispute: it is lost."""
    if dispute.status in ("won", "lost", "warning_closed"):
        raise invalid_request(f"This dispute is already closed: {dispute.id}.", param="dispute")
    if dispute.status == "under_review":
        raise invalid_request(
            "This dispute is under review and can no longer be closed.", param="dispute"
        )
    _finish(sandbox, dispute, "lost", origin)


def decide(sandbox: Sandbox, dispute_id: str) -> None:
    """The review delay is over: submitted evidence decides, no evidence loses."""
    dispute = sandbox.store.disputes[dispute_id]
    if dispute.status == "needs_response":
        _finish(sandbox, dispute, "lost", AUTOMATIC)
    elif dispute.status == "under_review":
        text = dispute.evidence.get("uncategorized_text")
        if text == WINNING_EVIDENCE:
            _finish(sandbox, dispute, "won", AUTOMATIC)
        elif text == LOSING_EVIDENCE:
            _finish(sandbox, dispute, "lost", AUTOMATIC)
        # Other evidence stays under review, as it would until a human at the bank decides.


def _schedule_decision(sandbox: Sandbox, dispute_id: str) -> None:
    sandbox.timers.call_later(
        sandbox.settings.dispute_close_delay,
        f"decide dispute {dispute_id}",
        lambda: decide(sandbox, dispute_id),
    )


def _finish(sandbox: Sandbox, dispute: Dispute, status: str, origin: Origin) -> None:
    before = render_dispute(sandbox.store, dispute)
    dispute.status = status
    after = render_dispute(sandbox.store, dispute)
    previous: dict[str, Any] = changed_attributes(before, after)
    emit(sandbox, "charge.dispute.closed", dispute, origin, previous_attributes=previous)
    if status == "won":
        emit(sandbox, "charge.dispute.funds_reinstated", dispute, origin)


def _merge_metadata(target: dict[str, str], changes: dict[str, str]) -> None:
    for key, value in changes.items():
        if value == "":
            target.pop(key, None)
        else:
            target[key] = value

"""Reading Stripe events: which payment an event is about, and which facts it teaches us."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .facts import Balance, Decline, Dispute, Facts, PaymentMethod, Refund

Event = Mapping[str, Any]  # a Stripe event as json.loads gives it, after its signature was checked


@dataclass(frozen=True)
class References:
    """The ids in an event that can tie it to a paydesk payment."""

    payment_id: str | None = None  # metadata["payment_id"], or a session's client_reference_id
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None

    def lookup_order(self) -> list[tuple[str, str]]:
        """(field, id) pairs present in the event, most direct first: try them in this order."""
        pairs = [
            ("payment_id", self.payment_id),
            ("checkout_session_id", self.checkout_session_id),
            ("payment_intent_id", self.payment_intent_id),
            ("charge_id", self.charge_id),
        ]
        return [(name, value) for name, value in pairs if value]


@dataclass(frozen=True)
class EventFacts:
    """What one event contributes: facts to merge, and the event's identity for ordering."""

    event_id: str
    type: str
    created: int
    facts: Facts


def event_object(event: Event) -> Mapping[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise ValueError(f"event {event.get('id')!r} has no data.object")
    return obj


def event_references(event: Event) -> References:
    obj = event_object(event)
    kind = obj.get("object")
    own_id = _str(obj.get("id"))
    metadata = obj.get("metadata")
    payment_id = _str(metadata.get("payment_id")) if isinstance(metadata, Mapping) else None
    if kind == "checkout.session":
        return References(
            payment_id=payment_id or _str(obj.get("client_reference_id")),
            checkout_session_id=own_id,
            payment_intent_id=_id(obj.get("payment_intent")),
        )
    if kind == "payment_intent":
        return References(
            payment_id=payment_id,
            payment_intent_id=own_id,
            charge_id=_id(obj.get("latest_charge")),
        )
    if kind == "charge":
        return References(
            payment_id=payment_id,
            payment_intent_id=_id(obj.get("payment_intent")),
            charge_id=own_id,
        )
    # refunds, disputes, and anything else that points at a charge or PaymentIntent
    return References(
        payment_id=payment_id,
        payment_intent_id=_id(obj.get("payment_intent")),
        charge_id=_id(obj.get("charge")),
    )


def facts_from_event(event: Event) -> EventFacts | None:
    """The facts an event teaches, or None when paydesk does not handle its type."""
    event_type = str(event.get("type"))
    extract = EXTRACTORS.get(event_type)
    if extract is None:
        return None
    obj = event_object(event)
    event_id = str(event.get("id"))
    created = _int(event.get("created"))
    facts = extract(obj, created, event_id)
    return EventFacts(
        event_id=event_id,
        type=event_type,
        created=created,
        facts=replace(facts, seen=frozenset({event_type}), amount_seen=_payment_amount(obj)),
    )


# Each extractor gets (object, event created, event id) and returns that event's facts.
Extractor = Callable[[Mapping[str, Any], int, str], Facts]


def _session_completed(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    status = obj.get("payment_status")
    if status in ("paid", "no_payment_required"):
        return Facts(paid=True)
    if status == "unpaid":  # completed but unpaid: an async method (bank debit) was submitted
        return Facts(processing=True)
    return Facts()


def _pi_failed(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    error = obj.get("last_payment_error")
    error = error if isinstance(error, Mapping) else {}
    return Facts(
        decline=Decline(
            message=_str(error.get("message")),
            code=_str(error.get("code")),
            decline_code=_str(error.get("decline_code")),
            created=created,
            event_id=event_id,
        )
    )


def _charge_paid(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    return _settlement(obj, Facts(paid=True, method=_method(obj, created, event_id)))


def _charge_updated(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    # Stripe fills in a charge's balance transaction (and its receipt) a few seconds after the
    # charge, and says so in `charge.updated`; only that part of the charge is read from it.
    return _settlement(obj, Facts())


def _settlement(obj: Mapping[str, Any], facts: Facts) -> Facts:
    """`facts` plus the charge's balance transaction and receipt, when the charge went through."""
    if obj.get("status") != "succeeded":
        return facts  # a declined charge has no fee to record, and no receipt to keep
    found = obj.get("balance_transaction")
    return replace(
        facts,
        balance_transaction=_id(found),
        balance=balance_from(found) if isinstance(found, Mapping) else None,
        receipt_url=_str(obj.get("receipt_url")),
    )


def balance_from(obj: Mapping[str, Any]) -> Balance | None:
    """A balance transaction as Stripe renders it, or None when it lacks a figure paydesk needs.
    Expanded in a charge it carries its figures; a bare id has them fetched (server/balance.py)."""
    fee, net, txn_id, currency = obj.get("fee"), obj.get("net"), obj.get("id"), obj.get("currency")
    if not (isinstance(txn_id, str) and isinstance(currency, str)):
        return None
    if type(fee) is not int or type(net) is not int:
        return None
    available_on = obj.get("available_on")
    return Balance(
        id=txn_id,
        fee=fee,
        net=net,
        currency=currency.lower(),
        available_on_s=available_on if type(available_on) is int else None,
        status=_str(obj.get("status")),
    )


def _charge_pending(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    return Facts(processing=True, method=_method(obj, created, event_id))


def _method(obj: Mapping[str, Any], created: int, event_id: str) -> PaymentMethod | None:
    """The charge's card brand and last 4, or a bank debit's last 4, for the receipt. Only
    charges that went through (or are on their way) are asked: a declined card did not pay."""
    details = obj.get("payment_method_details")
    if not isinstance(details, Mapping):
        return None
    method_type = _str(details.get("type"))
    if method_type is None:
        return None
    own = details.get(method_type)  # Stripe keeps each type's details under the type's name
    own = own if isinstance(own, Mapping) else {}
    return PaymentMethod(
        type=method_type,
        brand=_str(own.get("brand")),
        last4=_str(own.get("last4")),
        created=created,
        event_id=event_id,
    )


def _charge_failed(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    outcome = obj.get("outcome")
    outcome = outcome if isinstance(outcome, Mapping) else {}
    return Facts(
        decline=Decline(
            message=_str(obj.get("failure_message")),
            code=_str(obj.get("failure_code")),
            decline_code=_str(outcome.get("reason")),  # where a charge carries the decline code
            created=created,
            event_id=event_id,
        )
    )


def _charge_refunded(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    # Since API version 2022-11-15 a charge in an event no longer lists its refunds; when an
    # older-version endpoint does send them, they count like refund.* events.
    listed = obj.get("refunds")
    data = listed.get("data") if isinstance(listed, Mapping) else None
    refunds = [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []
    facts = Facts(
        charge_refunded=_int(obj.get("amount_refunded")),
        fully_refunded=obj.get("refunded") is True,
        refunds=dict(_refund(r) for r in refunds if _str(r.get("id"))),
        method=_method(obj, created, event_id),
    )
    return _settlement(obj, facts)


def _refund_event(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    return Facts(refunds=dict([_refund(obj)])) if _str(obj.get("id")) else Facts()


def _refund(obj: Mapping[str, Any]) -> tuple[str, Refund]:
    # A refund without a status yet is on its way, which counts.
    refund = Refund(
        amount=_int(obj.get("amount")),
        status=_str(obj.get("status")) or "pending",
        created_s=_int(obj.get("created")),
        failure_reason=_str(obj.get("failure_reason")),
    )
    return str(obj.get("id")), refund


def _dispute_event(obj: Mapping[str, Any], created: int, event_id: str) -> Facts:
    dispute_id = _str(obj.get("id"))
    if dispute_id is None:
        return Facts()
    evidence = obj.get("evidence_details")
    due_by = evidence.get("due_by") if isinstance(evidence, Mapping) else None
    dispute = Dispute(
        status=_str(obj.get("status")) or "needs_response",
        reason=_str(obj.get("reason")),
        amount=_int(obj.get("amount")),
        due_by=due_by if isinstance(due_by, int) else None,
        created=created,
        event_id=event_id,
    )
    return Facts(disputes={dispute_id: dispute})


def _fact(facts: Facts) -> Extractor:
    return lambda obj, created, event_id: facts


PAID = _fact(Facts(paid=True))
PROCESSING = _fact(Facts(processing=True))
RECORDED = _fact(Facts())  # seen, nothing more: the event type alone goes into the facts

EXTRACTORS: Mapping[str, Extractor] = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": PAID,
    "checkout.session.async_payment_failed": _fact(Facts(failed=True)),
    "checkout.session.expired": _fact(Facts(expired=True)),
    "payment_intent.succeeded": PAID,
    "payment_intent.processing": PROCESSING,
    "payment_intent.payment_failed": _pi_failed,
    "payment_intent.requires_action": RECORDED,
    "payment_intent.created": RECORDED,
    "charge.succeeded": _charge_paid,
    "charge.pending": _charge_pending,
    "charge.failed": _charge_failed,
    "charge.refunded": _charge_refunded,
    "charge.updated": _charge_updated,
    "refund.created": _refund_event,
    "refund.updated": _refund_event,
    "refund.failed": _refund_event,
    "charge.refund.updated": _refund_event,
    "charge.dispute.created": _dispute_event,
    "charge.dispute.updated": _dispute_event,
    "charge.dispute.closed": _dispute_event,
    "charge.dispute.funds_withdrawn": _dispute_event,
    "charge.dispute.funds_reinstated": _dispute_event,
}
HANDLED_TYPES = frozenset(EXTRACTORS)


def _payment_amount(obj: Mapping[str, Any]) -> int:
    """The payment's own amount, where the object carries one (not a refund's or a dispute's)."""
    field = {"checkout.session": "amount_total", "payment_intent": "amount", "charge": "amount"}
    name = field.get(str(obj.get("object")))
    return _int(obj.get(name)) if name else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _id(value: Any) -> str | None:
    """An id field, whether Stripe sent the id or (expanded) the object itself."""
    if isinstance(value, Mapping):
        return _str(value.get("id"))
    return _str(value)

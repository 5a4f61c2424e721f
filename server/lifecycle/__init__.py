"""The payment state machine: Stripe events in, facts merged, status derived, mails chosen (no I/O).

Stripe delivers events at least once, in any order, retrying for days. So a payment does not
store a status to be moved by events: it stores the *facts* events taught it (`Facts`), merged by
rules that ignore order and repetition, and its status is derived from them by rank
(`derive_status`, `RANK`). Any order of a flow's events, with any duplicates, ends in the same
facts and status as the natural order, and a late event cannot move a payment backwards.
docs/state-machine.md has the transition table and the reasons.

How the webhook handler uses it, for one verified event:

    refs = event_references(event)            # References; try refs.lookup_order() in order
    event_facts = facts_from_event(event)     # None: type not handled, record as ignored
    facts = Facts.from_json(row.facts or "{}")
    outcome = apply(facts, event_facts, amount=row.amount)
    # in one transaction: store outcome.facts.to_json(), outcome.status_after and
    # outcome.reason when outcome.changed; enqueue outcome.mails with
    # UNIQUE (payment_id, dedupe_key); add outcome.reason to the timeline.

Public API:
    event_references(event: Mapping[str, Any]) -> References
    facts_from_event(event: Mapping[str, Any]) -> EventFacts | None     (ValueError: no data.object)
    Facts(...).merge(other) -> Facts; .to_json() -> str; Facts.from_json(text: str) -> Facts
    apply(current: Facts, event: EventFacts, *, amount: int) -> Outcome
    derive_status(facts: Facts, amount: int) -> Status;  RANK: Mapping[Status, int]
    mails_for(facts: Facts, status: Status) -> frozenset[MailIntent]
    customer_view(status: Status, facts: Facts, *, amount: int, currency: str) -> CustomerView
    balance_from(obj: Mapping[str, Any]) -> Balance | None       (a balance transaction's figures)
    refund_failure(reason: str | None) -> str                     (Stripe's failure_reason in words)
"""

from .events import (
    HANDLED_TYPES,
    EventFacts,
    References,
    balance_from,
    event_references,
    facts_from_event,
)
from .facts import (
    Balance,
    Decline,
    Dispute,
    Facts,
    PaymentMethod,
    Refund,
    derive_status,
    paid_amount,
)
from .labels import CustomerView, customer_view
from .status import RANK, SETTLED, Status
from .transition import (
    MailIntent,
    MailKind,
    Outcome,
    apply,
    headline,
    mails_for,
    refund_failure,
)

__all__ = [
    "HANDLED_TYPES",
    "RANK",
    "SETTLED",
    "Balance",
    "CustomerView",
    "Decline",
    "Dispute",
    "EventFacts",
    "Facts",
    "MailIntent",
    "MailKind",
    "Outcome",
    "PaymentMethod",
    "References",
    "Refund",
    "Status",
    "apply",
    "balance_from",
    "customer_view",
    "derive_status",
    "event_references",
    "facts_from_event",
    "headline",
    "mails_for",
    "paid_amount",
    "refund_failure",
]

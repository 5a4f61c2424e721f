"""The payment state machine: each event, each status, every order of every flow, and its mails."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.lifecycle import (
    HANDLED_TYPES,
    RANK,
    EventFacts,
    Facts,
    MailKind,
    Outcome,
    References,
    Status,
    apply,
    customer_view,
    derive_status,
    event_references,
    facts_from_event,
    refund_failure,
)
from server.lifecycle.facts import Balance
from tests.lifecycle_events import (
    AMOUNT,
    CHARGE_ID,
    DISPUTE_ID,
    FLOWS,
    PAYMENT_ID,
    PI_ID,
    RECEIPT_URL,
    SAMPLES,
    SESSION_ID,
    SOURCES,
    START,
    START_STATES,
    TXN_ID,
    Event,
    Stripe,
    examples_for,
)

DOC = Path(__file__).parents[1] / "docs" / "state-machine.md"

RECEIPT, OPERATOR = "receipt", "operator_new_payment"
PAID_MAILS = {RECEIPT, OPERATOR}
PROCESSING_NOTICE = "processing_notice"
FAILED_MAILS = {"async_failed_customer", "async_failed_operator"}
REFUND_FIRST, REFUND_REST = "refund_confirmation:re_first", "refund_confirmation:re_rest"
FIRST_FAILED = "refund_failed_operator:re_first"
LOST_CARD = "the card was reported lost or stolen"
DISPUTE_ALERT = f"dispute_alert:{DISPUTE_ID}"
DISPUTE_CLOSED = f"dispute_closed:{DISPUTE_ID}"


def learn(events: Iterable[Event]) -> list[EventFacts]:
    learned = [facts_from_event(event) for event in events]
    assert None not in learned, "every event in these tests is a handled type"
    return [f for f in learned if f is not None]


def run(steps: Sequence[EventFacts], facts: Facts | None = None) -> tuple[Facts, list[Outcome]]:
    facts = facts if facts is not None else Facts()
    outcomes = []
    for step in steps:
        outcome = apply(facts, step, amount=AMOUNT)
        outcomes.append(outcome)
        facts = outcome.facts
    return facts, outcomes


def mail_keys(outcomes: Iterable[Outcome]) -> list[str]:
    return [mail.dedupe_key for outcome in outcomes for mail in outcome.mails]


def start(stripe: Stripe, status: str) -> Facts:
    facts, _ = run(learn(SAMPLES[name](stripe) for name in START_STATES[status]))
    assert derive_status(facts, AMOUNT) == status, "the recipe reaches the status it is named for"
    return facts


@pytest.fixture(params=SOURCES)
def stripe(request: pytest.FixtureRequest) -> Stripe:
    return Stripe(request.param)


# -- Each event type, on a payment no event has touched yet -------------------------------------

NONE: set[str] = set()
NOTICE = {PROCESSING_NOTICE}
ALERT = {DISPUTE_ALERT}
CLOSED = {DISPUTE_CLOSED}
INSUFFICIENT = "payment declined: Your card has insufficient funds."
OPENED = "dispute opened: response needed"
AUTHENTICATION = "recorded: authentication request (3-D Secure)"

EVENT_TABLE = [
    # sample event, status after, mails (dedupe keys), reason for the timeline
    ("checkout.session.completed (paid)", "succeeded", PAID_MAILS, "payment succeeded"),
    ("checkout.session.completed (unpaid)", "processing", NOTICE, "bank payment processing"),
    ("checkout.session.async_payment_succeeded", "succeeded", PAID_MAILS, "payment succeeded"),
    ("checkout.session.async_payment_failed", "failed", FAILED_MAILS, "bank payment failed"),
    ("checkout.session.expired", "expired", NONE, "checkout expired unpaid"),
    ("payment_intent.created", "pending", NONE, "recorded: payment intent creation"),
    ("payment_intent.requires_action", "pending", NONE, AUTHENTICATION),
    ("payment_intent.processing", "processing", NOTICE, "bank payment processing"),
    ("payment_intent.succeeded", "succeeded", PAID_MAILS, "payment succeeded"),
    ("payment_intent.payment_failed", "declined", NONE, INSUFFICIENT),
    ("charge.succeeded", "succeeded", PAID_MAILS, "payment succeeded"),
    ("charge.pending", "processing", NOTICE, "bank payment processing"),
    ("charge.failed", "declined", NONE, INSUFFICIENT),
    ("charge.refunded (part)", "partially_refunded", NONE, "partially refunded"),
    ("charge.refunded (all)", "refunded", NONE, "refunded in full"),
    ("charge.updated", "pending", NONE, "recorded: charge update (fee, receipt)"),
    ("refund.created (part)", "partially_refunded", {REFUND_FIRST}, "partially refunded"),
    ("refund.updated (part)", "partially_refunded", {REFUND_FIRST}, "partially refunded"),
    ("refund.failed (part)", "pending", {FIRST_FAILED}, "recorded: refund failure"),
    ("charge.refund.updated (rest)", "partially_refunded", {REFUND_REST}, "partially refunded"),
    ("charge.dispute.created", "disputed", ALERT, OPENED),
    ("charge.dispute.created (inquiry)", "disputed", ALERT, "inquiry opened: response needed"),
    ("charge.dispute.funds_withdrawn", "disputed", ALERT, OPENED),
    ("charge.dispute.updated", "disputed", ALERT, "dispute under review"),
    ("charge.dispute.closed (won)", "disputed", ALERT | CLOSED, "dispute won"),
    ("charge.dispute.closed (lost)", "disputed", ALERT | CLOSED, "dispute lost"),
    ("charge.dispute.funds_reinstated", "disputed", ALERT | CLOSED, "dispute won"),
]


@pytest.mark.parametrize(("sample", "status", "mails", "reason"), EVENT_TABLE)
def test_event_on_new_payment(
    stripe: Stripe, sample: str, status: str, mails: set[str], reason: str
) -> None:
    outcome = apply(Facts(), *learn([SAMPLES[sample](stripe)]), amount=AMOUNT)
    assert (outcome.status_before, outcome.status_after) == (Status.PENDING, status)
    assert set(mail_keys([outcome])) == mails
    assert outcome.reason == reason
    assert outcome.changed


def test_event_table_covers_every_handled_type() -> None:
    stripe = Stripe("hand-built")
    covered = {SAMPLES[sample](stripe)["type"] for sample, *_ in EVENT_TABLE}
    assert covered == HANDLED_TYPES


@pytest.mark.parametrize(
    "event_type",
    [
        "customer.created",
        "invoice.paid",
        "payment_intent.canceled",
        "payment_intent.amount_capturable_updated",
        "charge.captured",
        "charge.expired",
    ],
)
def test_other_event_types_are_not_handled(stripe: Stripe, event_type: str) -> None:
    event = SAMPLES["payment_intent.succeeded"](stripe)
    event["type"] = event_type
    assert facts_from_event(event) is None


def test_stripes_own_example_event_is_not_handled() -> None:
    event = examples_for("stripe-examples")["event"]  # a plan.created
    assert facts_from_event(event) is None


def test_a_handled_event_without_its_object_is_an_error() -> None:
    with pytest.raises(ValueError, match="evt_broken"):
        facts_from_event({"id": "evt_broken", "type": "charge.succeeded", "data": {}})


# -- Each status, and what each kind of event does to it ---------------------------------------

TRANSITIONS = [
    # from, sample event, to, new mails
    ("pending", "payment_intent.payment_failed", "declined", NONE),
    ("pending", "checkout.session.completed (paid)", "succeeded", PAID_MAILS),
    ("declined", "payment_intent.payment_failed", "declined", NONE),
    ("declined", "payment_intent.requires_action", "declined", NONE),
    ("declined", "charge.succeeded", "succeeded", PAID_MAILS),
    ("declined", "payment_intent.processing", "processing", NOTICE),
    ("declined", "checkout.session.expired", "expired", NONE),
    ("processing", "charge.pending", "processing", NONE),
    ("processing", "charge.failed", "processing", NONE),
    ("processing", "checkout.session.async_payment_succeeded", "succeeded", PAID_MAILS),
    ("processing", "checkout.session.async_payment_failed", "failed", FAILED_MAILS),
    ("expired", "payment_intent.payment_failed", "expired", NONE),
    ("expired", "checkout.session.expired", "expired", NONE),
    ("failed", "payment_intent.processing", "failed", NONE),
    ("failed", "checkout.session.completed (unpaid)", "failed", NONE),
    ("succeeded", "payment_intent.payment_failed", "succeeded", NONE),
    ("succeeded", "checkout.session.expired", "succeeded", NONE),
    ("succeeded", "payment_intent.processing", "succeeded", NONE),
    ("succeeded", "charge.succeeded", "succeeded", NONE),
    ("succeeded", "refund.created (part)", "partially_refunded", {REFUND_FIRST}),
    ("succeeded", "charge.refunded (part)", "partially_refunded", NONE),
    ("succeeded", "charge.refunded (all)", "refunded", NONE),
    ("succeeded", "charge.dispute.created", "disputed", ALERT),
    ("partially_refunded", "refund.created (rest)", "refunded", {REFUND_REST}),
    ("partially_refunded", "charge.refunded (part)", "partially_refunded", NONE),
    ("partially_refunded", "refund.failed (part)", "succeeded", {FIRST_FAILED}),
    ("partially_refunded", "checkout.session.completed (paid)", "partially_refunded", NONE),
    ("refunded", "checkout.session.completed (paid)", "refunded", NONE),
    ("refunded", "refund.created (part)", "refunded", {REFUND_FIRST}),
    ("refunded", "charge.dispute.created", "disputed", ALERT),
    ("disputed", "charge.dispute.updated", "disputed", NONE),
    ("disputed", "charge.dispute.closed (won)", "disputed", CLOSED),
    ("disputed", "charge.dispute.closed (lost)", "disputed", CLOSED),
    ("disputed", "charge.refunded (all)", "disputed", NONE),
    ("disputed", "payment_intent.payment_failed", "disputed", NONE),
]


@pytest.mark.parametrize(("before", "sample", "after", "mails"), TRANSITIONS)
def test_transition(stripe: Stripe, before: str, sample: str, after: str, mails: set[str]) -> None:
    facts = start(stripe, before)
    outcome = apply(facts, *learn([SAMPLES[sample](stripe)]), amount=AMOUNT)
    assert (outcome.status_before, outcome.status_after) == (before, after)
    assert set(mail_keys([outcome])) == mails


def late(status: str, event: str) -> str:
    return f"ignored: payment already {status}, a late {event} changes nothing"


REASONS = [
    # from, sample event, the timeline's line
    ("declined", "payment_intent.payment_failed", "recorded: decline"),
    ("declined", "payment_intent.requires_action", AUTHENTICATION),
    ("processing", "charge.pending", "recorded: pending charge"),
    ("processing", "charge.failed", "recorded: decline"),  # the bank's verdict is still to come
    ("expired", "checkout.session.expired", "duplicate: nothing new"),
    ("succeeded", "charge.succeeded", "recorded: charge success"),
    ("succeeded", "payment_intent.processing", late("succeeded", "processing update")),
    ("partially_refunded", "charge.refunded (part)", "recorded: refund"),
    ("partially_refunded", "refund.created (rest)", "refunded in full"),
    (
        "partially_refunded",
        "refund.failed (part)",
        f"refund failed ({LOST_CARD}): back to succeeded",
    ),
    ("refunded", "checkout.session.completed (paid)", late("refunded", "checkout completion")),
    ("refunded", "refund.created (part)", "recorded: refund"),  # its amount was already counted
    ("disputed", "charge.dispute.updated", "dispute under review"),
    ("disputed", "charge.dispute.closed (lost)", "dispute lost"),
    ("disputed", "charge.refunded (all)", "recorded: refund"),
    ("disputed", "payment_intent.payment_failed", late("disputed", "decline")),
]


@pytest.mark.parametrize(("before", "sample", "reason"), REASONS)
def test_timeline_reason(stripe: Stripe, before: str, sample: str, reason: str) -> None:
    outcome = apply(start(stripe, before), *learn([SAMPLES[sample](stripe)]), amount=AMOUNT)
    assert outcome.reason == reason


@pytest.mark.parametrize(
    ("before", "sample", "reason"),
    [
        ("succeeded", "payment_intent.payment_failed", "a late decline"),
        ("succeeded", "checkout.session.expired", "a late session expiry"),
        ("refunded", "checkout.session.completed (paid)", "a late checkout completion"),
        ("failed", "payment_intent.processing", "a late processing update"),
        ("expired", "charge.failed", "a late decline"),
    ],
)
def test_a_late_event_never_moves_a_payment_backwards(
    stripe: Stripe, before: str, sample: str, reason: str
) -> None:
    outcome = apply(start(stripe, before), *learn([SAMPLES[sample](stripe)]), amount=AMOUNT)
    assert outcome.status_after == before
    assert outcome.mails == ()
    words = before.replace("_", " ")
    assert outcome.reason == f"ignored: payment already {words}, {reason} changes nothing"


@pytest.mark.parametrize("status", START_STATES)
def test_the_same_event_twice_is_a_duplicate(stripe: Stripe, status: str) -> None:
    facts = start(stripe, status)
    step = learn([SAMPLES["payment_intent.payment_failed"](stripe)])
    once, _ = run(step, facts)
    outcome = apply(once, *step, amount=AMOUNT)
    assert not outcome.changed
    assert (outcome.facts, outcome.mails) == (once, ())
    assert outcome.reason == "duplicate: nothing new"


def test_a_newer_decline_replaces_the_older_one_in_either_order(stripe: Stripe) -> None:
    older = stripe.pi_failed("Your card has insufficient funds.")
    newer = stripe.pi_failed("Your card has expired.", "expired_card", None)
    for order in ([older, newer], [newer, older]):
        facts, _ = run(learn(order))
        assert facts.decline is not None
        assert facts.decline.message == "Your card has expired."


def test_a_closed_dispute_is_not_reopened_by_a_late_created(stripe: Stripe) -> None:
    closed = SAMPLES["charge.dispute.closed (lost)"](stripe)
    created = SAMPLES["charge.dispute.created"](stripe)  # sent later, as a retry would be
    facts, outcomes = run(learn([closed, created]))
    assert facts.disputes[DISPUTE_ID].status == "lost"
    assert outcomes[-1].reason == "recorded: dispute"


def test_receipt_follows_the_payment_even_when_a_refund_arrived_first(stripe: Stripe) -> None:
    refund = SAMPLES["refund.created (part)"](stripe)
    paid = SAMPLES["checkout.session.completed (paid)"](stripe)
    _, (first, second) = run(learn([refund, paid]))
    assert set(mail_keys([first])) == {REFUND_FIRST}
    assert set(mail_keys([second])) == PAID_MAILS
    assert second.status_after == "partially_refunded"


@pytest.mark.parametrize(
    ("charge_refunded", "refunds", "expected"),
    [
        (1000, [], 1000),
        (0, [("re_a", 700, "succeeded"), ("re_b", 300, "pending")], 1000),
        (0, [("re_a", 700, "succeeded"), ("re_b", 300, "failed")], 700),
        (0, [("re_a", 700, "canceled")], 0),
        (2500, [("re_a", 700, "succeeded")], 2500),  # the charge knows of refunds we have not seen
        (700, [("re_a", 700, "succeeded"), ("re_b", 300, "succeeded")], 1000),
    ],
)
def test_refunded_amount(
    stripe: Stripe, charge_refunded: int, refunds: list[tuple[str, int, str]], expected: int
) -> None:
    events = [stripe.refund("refund.updated", *refund) for refund in refunds]
    if charge_refunded:
        events.append(stripe.charge_refunded(charge_refunded))
    facts, _ = run(learn(events))
    assert facts.refunded_amount == expected


def test_refunds_are_measured_against_what_events_said_when_the_record_has_no_amount(
    stripe: Stripe,
) -> None:
    facts, _ = run(
        learn([stripe.pi_succeeded(), stripe.refund("refund.created", "re_a", AMOUNT, "pending")])
    )
    assert derive_status(facts, 0) == "refunded"
    assert derive_status(facts, AMOUNT * 2) == "partially_refunded"


def test_not_started_ranks_with_pending_and_no_event_derives_it() -> None:
    assert RANK[Status.NOT_STARTED] == RANK[Status.PENDING]
    assert derive_status(Facts(), AMOUNT) == "pending"


# -- Every order of every flow ends where the natural order does, and mails each thing once -----

FLOW_ENDS = {
    # flow: final status, every mail the natural order sends
    "card_success": ("succeeded", PAID_MAILS),
    "decline_then_success": ("succeeded", PAID_MAILS),
    "three_d_secure_success": ("succeeded", PAID_MAILS),
    "three_d_secure_failed": ("declined", set()),
    "async_success": ("succeeded", PAID_MAILS | {PROCESSING_NOTICE}),
    "async_failure": ("failed", FAILED_MAILS | {PROCESSING_NOTICE}),
    "expiry": ("expired", set()),
    "partial_then_full_refund": ("refunded", PAID_MAILS | {REFUND_FIRST, REFUND_REST}),
    "refund_pending_then_succeeded": ("refunded", PAID_MAILS | {REFUND_FIRST}),
    "refund_succeeded_then_failed": ("succeeded", PAID_MAILS | {REFUND_FIRST, FIRST_FAILED}),
    "fee_arrives_later": ("succeeded", PAID_MAILS),
    "dispute_won": ("disputed", PAID_MAILS | {DISPUTE_ALERT, DISPUTE_CLOSED}),
    "dispute_lost": ("disputed", PAID_MAILS | {DISPUTE_ALERT, DISPUTE_CLOSED}),
}
REFUND_FAILS = {"refund_succeeded_then_failed"}
EXHAUSTIVE_UP_TO = 7  # events; 7! = 5,040 orders. Longer flows get a hypothesis sample.


def test_every_flow_has_an_expected_end() -> None:
    assert FLOW_ENDS.keys() == FLOWS.keys()


# Stripe's example charge was paid with a Visa ending in 4242; hand-built charges get the same
# card, so both sources teach the same facts, and the order tests cover the payment method too.
EXAMPLE_CARD = {"type": "card", "card": {"brand": "visa", "last4": "4242"}}
SEPA_DEBIT = {"type": "sepa_debit", "sepa_debit": {"country": "DE", "last4": "3000"}}
DECLINED_CARD = {"type": "card", "card": {"brand": "mastercard", "last4": "0002"}}


def paid_with(details: dict[str, Any], events: Iterable[Event]) -> list[Event]:
    for event in events:
        obj = event["data"]["object"]
        if obj["object"] == "charge":
            obj.setdefault("payment_method_details", details)
    return list(events)


def flow(name: str, source: str = "hand-built") -> list[EventFacts]:
    return learn(paid_with(EXAMPLE_CARD, FLOWS[name](Stripe(source))))


@pytest.mark.parametrize("name", FLOWS)
def test_flow_in_natural_order(stripe: Stripe, name: str) -> None:
    facts, outcomes = run(learn(FLOWS[name](stripe)))
    status, mails = FLOW_ENDS[name]
    assert derive_status(facts, AMOUNT) == status
    assert sorted(mail_keys(outcomes)) == sorted(mails)


@pytest.mark.parametrize("name", FLOWS)
def test_both_payload_sources_teach_the_same_facts(name: str) -> None:
    """So the order tests below, run on hand-built events, hold for Stripe's examples too."""
    assert flow(name, "hand-built") == flow(name, "stripe-examples")


def method_of(facts: Facts) -> tuple[str, str | None, str | None] | None:
    return (facts.method.type, facts.method.brand, facts.method.last4) if facts.method else None


def test_the_charge_that_paid_says_which_card(stripe: Stripe) -> None:
    events = FLOWS["decline_then_success"](stripe)
    for event in events:
        obj = event["data"]["object"]
        if obj["object"] == "charge":
            declined = obj["status"] == "failed"
            obj["payment_method_details"] = DECLINED_CARD if declined else EXAMPLE_CARD
    steps = learn(events)
    for order in (steps, steps[::-1]):  # the declined card never stands for the one that paid
        facts, _ = run(order)
        assert method_of(facts) == ("card", "visa", "4242")


def test_a_bank_debit_says_its_last_four_from_the_pending_charge_on(stripe: Stripe) -> None:
    events = FLOWS["async_success"](stripe)
    for event in events:
        if event["data"]["object"]["object"] == "charge":
            event["data"]["object"]["payment_method_details"] = SEPA_DEBIT
    facts, outcomes = run(learn(events))
    assert method_of(facts) == ("sepa_debit", None, "3000")
    pending = next(
        o for o, e in zip(outcomes, events, strict=True) if e["type"] == "charge.pending"
    )
    assert method_of(pending.facts) == ("sepa_debit", None, "3000")


def test_facts_stored_before_the_payment_method_was_recorded_still_read() -> None:
    assert Facts.from_json('{"v": 1, "paid": true}') == Facts(paid=True)


def expected_mails(name: str, order: Sequence[EventFacts]) -> set[str]:
    """The natural order's mails, but a processing notice only while processing was news.

    When this order taught the outcome (paid or failed) before any processing fact, the payment
    was never processing, and telling the customer it is would be out of date.
    """
    mails = set(FLOW_ENDS[name][1])
    processing = [i for i, step in enumerate(order) if step.facts.processing]
    outcome = [i for i, step in enumerate(order) if step.facts.paid or step.facts.failed]
    if processing and outcome and outcome[0] < processing[0]:
        mails.discard(PROCESSING_NOTICE)
    # A refund whose failure arrived before any event that showed it under way or succeeded
    # never counted: the customer is not told it was refunded.
    states = [s.facts.refunds["re_first"].status for s in order if "re_first" in s.facts.refunds]
    if states and states[0] == "failed":
        mails.discard(REFUND_FIRST)
    return mails


def check_order(name: str, order: Sequence[EventFacts], natural: Facts) -> None:
    facts, outcomes = run(order)
    assert facts == natural
    assert derive_status(facts, AMOUNT) == FLOW_ENDS[name][0]
    sent = mail_keys(outcomes)
    assert len(sent) == len(set(sent)), "no mail twice"
    assert set(sent) == expected_mails(name, order)
    ranks = [RANK[o.status_after] for o in outcomes]
    if name in REFUND_FAILS:
        # The one way down: once the failure is known, the status only rises to where it ends.
        known = next(i for i, step in enumerate(order) if step.facts.failed_refunds)
        after = ranks[known:]
        assert after == sorted(after) and after[-1] == RANK[Status(FLOW_ENDS[name][0])]
    else:
        assert ranks == sorted(ranks), "the status never moves backwards"
    # Stripe retrying the whole lot later changes nothing and sends nothing.
    replayed, again = run(order, facts)
    assert replayed == facts
    assert all(not o.changed and not o.mails for o in again)


@pytest.mark.parametrize("name", [n for n in FLOWS if len(flow(n)) <= EXHAUSTIVE_UP_TO])
def test_every_order_of_a_flow(name: str) -> None:
    steps = flow(name)
    natural, _ = run(steps)
    for order in itertools.permutations(steps):
        check_order(name, order, natural)


@pytest.mark.parametrize("name", FLOWS)
@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_any_order_of_a_flow_with_duplicates(name: str, data: st.DataObject) -> None:
    steps = flow(name)
    natural, _ = run(steps)
    repeats = data.draw(st.lists(st.sampled_from(steps), max_size=len(steps)), label="repeats")
    order = data.draw(st.permutations(steps + repeats), label="order")
    check_order(name, order, natural)


def test_expected_mails_drops_the_processing_notice_only_when_the_outcome_came_first() -> None:
    steps = flow("async_success")  # created, processing, ..., succeeded
    assert PROCESSING_NOTICE in expected_mails("async_success", steps)
    assert PROCESSING_NOTICE not in expected_mails("async_success", steps[::-1])


# -- Merging facts: the laws that make order irrelevant -----------------------------------------


def every_sample_and_flow_event() -> list[EventFacts]:
    stripe = Stripe("hand-built")
    events = [sample(stripe) for sample in SAMPLES.values()]
    events += [event for make in FLOWS.values() for event in make(stripe)]
    events += paid_with(EXAMPLE_CARD, FLOWS["decline_then_success"](stripe))
    events += paid_with(SEPA_DEBIT, FLOWS["async_success"](stripe))
    return learn(events)


POOL = every_sample_and_flow_event()
some_facts = st.lists(st.sampled_from(POOL), max_size=8).map(
    lambda steps: run(steps)[0] if steps else Facts()
)


@settings(max_examples=300, deadline=None, database=None)
@given(a=some_facts, b=some_facts, c=some_facts)
def test_merge_is_commutative_associative_and_idempotent(a: Facts, b: Facts, c: Facts) -> None:
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a
    assert a.merge(Facts()) == a


@settings(max_examples=200, deadline=None, database=None)
@given(facts=some_facts)
def test_facts_survive_a_json_round_trip(facts: Facts) -> None:
    assert Facts.from_json(facts.to_json()) == facts


def test_empty_json_is_empty_facts_and_a_newer_format_is_refused() -> None:
    assert Facts.from_json("{}") == Facts()
    with pytest.raises(ValueError, match="newer"):
        Facts.from_json('{"v": 99}')


# -- Which payment an event is about -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("checkout.session.completed (paid)", References(PAYMENT_ID, SESSION_ID, PI_ID, None)),
        ("payment_intent.succeeded", References(PAYMENT_ID, None, PI_ID, CHARGE_ID)),
        ("payment_intent.created", References(PAYMENT_ID, None, PI_ID, None)),
        ("charge.succeeded", References(PAYMENT_ID, None, PI_ID, CHARGE_ID)),
        ("refund.created (part)", References(None, None, PI_ID, CHARGE_ID)),
        ("charge.dispute.created", References(None, None, PI_ID, CHARGE_ID)),
    ],
)
def test_event_references(stripe: Stripe, sample: str, expected: References) -> None:
    assert event_references(SAMPLES[sample](stripe)) == expected


def test_references_are_tried_most_direct_first(stripe: Stripe) -> None:
    refs = event_references(stripe.completed("paid"))
    assert refs.lookup_order() == [
        ("payment_id", PAYMENT_ID),
        ("checkout_session_id", SESSION_ID),
        ("payment_intent_id", PI_ID),
    ]


def test_a_session_without_metadata_is_found_by_its_client_reference_id(stripe: Stripe) -> None:
    event = stripe.completed("paid")
    event["data"]["object"]["metadata"] = {}
    assert event_references(event).payment_id == PAYMENT_ID


def test_an_expanded_payment_intent_is_read_for_its_id(stripe: Stripe) -> None:
    event = SAMPLES["charge.dispute.created"](stripe)
    event["data"]["object"]["payment_intent"] = {"id": PI_ID, "object": "payment_intent"}
    assert event_references(event).payment_intent_id == PI_ID


# -- What the customer sees ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "title", "detail", "final"),
    [
        ("pending", "Waiting for your payment", "Finish paying on the checkout page.", False),
        ("declined", "Your payment was declined", "insufficient funds. You can try again.", False),
        ("processing", "Your bank payment is being processed", "we will email you", False),
        ("expired", "This checkout has expired", "Nothing was charged.", True),
        ("failed", "Your bank payment failed", "You can start a new payment.", True),
        ("succeeded", "Paid", "we received €25.00", True),
        # The recipe's refund is still pending: the customer hears it is on its way.
        ("partially_refunded", "Refund on its way", "A refund of €10.00 of your €25.00 payment is on its way", False),
        ("refunded", "Refunded", "€25.00 is refunded", True),
        ("disputed", "This payment is disputed", "will tell you the outcome", True),
    ],
)  # fmt: skip
def test_customer_view(stripe: Stripe, status: str, title: str, detail: str, final: bool) -> None:
    view = customer_view(Status(status), start(stripe, status), amount=AMOUNT, currency="EUR")
    assert (view.key, view.title, view.final) == (status, title, final)
    assert detail in view.detail


def test_customer_view_covers_every_status() -> None:
    for status in Status:
        assert customer_view(status, Facts(), amount=AMOUNT, currency="eur").key == status


def test_a_failed_authentication_is_explained_in_plain_words(stripe: Stripe) -> None:
    facts, _ = run(learn([SAMPLES["payment_intent.payment_failed (3-D Secure)"](stripe)]))
    view = customer_view(Status.DECLINED, facts, amount=AMOUNT, currency="eur")
    assert view.detail == "Your bank could not confirm that it was you. You can try again."


@pytest.mark.parametrize(
    ("sample", "title", "detail"),
    [
        ("charge.dispute.closed (won)", "Dispute closed", "the payment stands"),
        ("charge.dispute.closed (lost)", "Dispute closed", "returned the money"),
    ],
)
def test_customer_view_of_a_closed_dispute(
    stripe: Stripe, sample: str, title: str, detail: str
) -> None:
    facts, _ = run(learn([SAMPLES[sample](stripe)]))
    view = customer_view(Status.DISPUTED, facts, amount=AMOUNT, currency="eur")
    assert view.title == title
    assert detail in view.detail


# -- docs/state-machine.md says what the code does ----------------------------------------------

ROW = re.compile(r"^\| *(\w+) *\| *`([^`]+)` *\| *(\w+) *\| *(.*?) *\|$")


def doc_rows() -> list[tuple[str, str, str, set[str]]]:
    rows = []
    for line in DOC.read_text().splitlines():
        if match := ROW.match(line):
            before, sample, after, mails = match.groups()
            kinds = {kind.strip("` ") for kind in mails.split(",") if kind.strip("` —")}
            rows.append((before, sample, after, kinds))
    return rows


def test_the_documented_transition_table_is_what_the_code_does() -> None:
    rows = doc_rows()
    assert len(rows) >= 30, "the table in docs/state-machine.md was found"
    stripe = Stripe("hand-built")
    for before, sample, after, kinds in rows:
        outcome = apply(start(stripe, before), *learn([SAMPLES[sample](stripe)]), amount=AMOUNT)
        assert outcome.status_after == after, (before, sample)
        assert {str(mail.kind) for mail in outcome.mails} == kinds, (before, sample)


def test_the_docs_name_every_mail_kind_and_status() -> None:
    text = DOC.read_text()
    for name in [*MailKind, *Status]:
        assert f"`{name}`" in text


def test_the_state_machine_does_no_io() -> None:
    """It imports nothing that talks to the network, the database or Stripe."""
    code = (
        "import sys, server.lifecycle;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'aiohttp', 'stripe', 'aiosqlite', 'aiosmtplib', 'asyncio', 'socket', 'sqlite3'}))"
    )
    root = Path(__file__).parents[1]
    # A fresh interpreter: in this one, other tests may have imported anything.
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# -- Refunds with a life: pending, succeeded, failed ----------------------------------------------


def view_after(events: list[Event]) -> tuple[Status, Any]:
    facts, _ = run(learn(events))
    status = derive_status(facts, AMOUNT)
    return status, customer_view(status, facts, amount=AMOUNT, currency="eur")


def test_a_pending_refund_is_on_its_way_until_it_succeeds(stripe: Stripe) -> None:
    events = FLOWS["refund_pending_then_succeeded"](stripe)
    status, view = view_after(events[:5])  # created pending, and the charge says refunded
    assert (status, view.title, view.final) == ("refunded", "Refund on its way", False)
    assert view.outcome == "refund_pending"  # the card pictures a refund under way
    assert view.detail == (
        "A refund of €25.00 is on its way to how you paid (started 14 Nov 2023)."
        " It can take a few days to arrive."
    )
    status, view = view_after(events)
    assert (status, view.title, view.final, view.outcome) == ("refunded", "Refunded", True, None)
    _, outcomes = run(learn(events))
    assert outcomes[5].reason == "refund succeeded"
    assert outcomes[6].reason == "recorded: refund update"  # the same news, by another event


def test_a_pending_update_after_the_success_does_not_move_the_refund_back(stripe: Stripe) -> None:
    succeeded = stripe.refund("refund.updated", "re_first", AMOUNT, "succeeded")
    pending = stripe.refund("refund.created", "re_first", AMOUNT, "pending")  # retried late
    facts, outcomes = run(learn([stripe.pi_succeeded(), succeeded, pending]))
    assert facts.refunds["re_first"].status == "succeeded"
    assert outcomes[-1].reason == "recorded: refund"
    assert not facts.refunds_under_way


def test_a_refund_that_fails_later_is_not_counted_and_the_operator_is_told(stripe: Stripe) -> None:
    events = FLOWS["refund_succeeded_then_failed"](stripe)
    facts, outcomes = run(learn(events[:5]))
    assert derive_status(facts, AMOUNT) == "refunded"
    assert set(mail_keys(outcomes)) == PAID_MAILS | {REFUND_FIRST}
    facts, later = run(learn(events[5:]), facts)
    assert facts.charge_refunded == AMOUNT, "no charge.refunded came to lower it"
    assert (facts.refunded_amount, derive_status(facts, AMOUNT)) == (0, "succeeded")
    assert later[0].reason == f"refund failed ({LOST_CARD}): back to succeeded"
    assert mail_keys(later) == [FIRST_FAILED]
    assert [m.urgent for o in later for m in o.mails] == [True]
    view = customer_view(Status.SUCCEEDED, facts, amount=AMOUNT, currency="eur")
    assert (view.title, view.detail) == ("Paid", "Thank you: we received €25.00.")
    assert facts.failed_refunds["re_first"].failure_reason == "lost_or_stolen_card"


def test_a_partial_refund_that_fails_leaves_the_other_refund_counted(stripe: Stripe) -> None:
    events = [
        stripe.pi_succeeded(),
        stripe.refund("refund.created", "re_first", 1000, "succeeded"),
        stripe.charge_refunded(1000),
        stripe.refund("refund.created", "re_rest", 500, "succeeded"),
        stripe.charge_refunded(1500),
        stripe.refund("refund.failed", "re_rest", 500, "failed", "expired_or_canceled_card"),
    ]
    facts, outcomes = run(learn(events))
    assert (facts.refunded_amount, derive_status(facts, AMOUNT)) == (1000, "partially_refunded")
    assert outcomes[-1].reason == ("refund failed (the card has expired or was canceled)"), (
        "the status (partially refunded) did not change, the refund did"
    )


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("lost_or_stolen_card", "the card was reported lost or stolen"),
        ("insufficient_funds", "your Stripe balance could not cover it"),
        ("something_new", "something new"),  # a reason Stripe adds later still reads
        (None, "Stripe gave no reason"),
    ],
)
def test_refund_failure_reasons_in_words(reason: str | None, words: str) -> None:
    assert refund_failure(reason) == words


# -- Fees and receipts -----------------------------------------------------------------------------


def test_charge_updated_records_the_balance_transaction_and_receipt(stripe: Stripe) -> None:
    facts, outcomes = run(learn(FLOWS["fee_arrives_later"](stripe)))
    assert (facts.balance_transaction, facts.balance) == (TXN_ID, None)
    assert facts.receipt_url == RECEIPT_URL
    assert outcomes[-1].reason == "recorded: charge update (fee, receipt)"
    assert outcomes[-1].mails == ()


def test_an_expanded_balance_transaction_is_recorded_without_a_fetch(stripe: Stripe) -> None:
    expanded = {
        "id": TXN_ID,
        "object": "balance_transaction",
        "amount": AMOUNT,
        "currency": "eur",
        "fee": 63,
        "net": 2437,
        "available_on": START + 2 * 86400,
        "status": "pending",
    }
    facts, _ = run(learn([stripe.charge_updated(expanded)]))
    assert facts.balance == Balance(TXN_ID, 63, 2437, "eur", START + 2 * 86400, "pending")
    available = Balance(TXN_ID, 63, 2437, "eur", START + 2 * 86400, "available")
    assert facts.merge(Facts(balance=available)).balance == available
    assert Facts(balance=available).merge(facts).balance == available


def test_a_declined_charge_teaches_no_fee_or_receipt(stripe: Stripe) -> None:
    event = stripe.charge_failed()
    event["data"]["object"].update(balance_transaction="txn_declined", receipt_url=RECEIPT_URL)
    facts, _ = run(learn([event]))
    assert (facts.balance_transaction, facts.receipt_url) == (None, None)

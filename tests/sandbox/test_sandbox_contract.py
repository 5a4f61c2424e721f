"""Contract: every object and event the sandbox sends fits Stripe's published OpenAPI schemas."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_contract import (
    SPEC_DIR,
    SPEC_FILE,
    fixture,
    problems,
    schema_for_event,
    spec_properties,
)
from sandbox_helpers import (
    DECLINED,
    DISPUTED,
    IBAN_FAILS,
    IBAN_SUCCEEDS,
    THREE_D_SECURE,
    VISA,
    Harness,
    Receiver,
    StartSandbox,
)

pytestmark = pytest.mark.skipif(
    not SPEC_FILE.exists(), reason=f"Stripe's OpenAPI files are not at {SPEC_DIR}"
)

LISTS = {
    "checkout.session": "/v1/checkout/sessions",
    "payment_intent": "/v1/payment_intents",
    "charge": "/v1/charges",
    "refund": "/v1/refunds",
    "dispute": "/v1/disputes",
    "event": "/v1/events",
}
HUNDRED = {"limit": "100"}
# Stripe's examples show these, but Stripe returns them only when asked to expand them.
ONLY_WHEN_EXPANDED = {"refunds"}


async def _everything(sandbox: Harness) -> None:
    """Drive every flow once, so that every object kind, state and event type exists."""
    paid = await sandbox.create_session()
    await sandbox.pay_by_card(paid.url, DECLINED)
    await sandbox.pay_by_card(paid.url, VISA)
    three_ds = await sandbox.create_session()
    answer = await sandbox.pay_by_card(three_ds.url, THREE_D_SECURE)
    await sandbox.post_page(sandbox.absolute(answer.location or ""), {"outcome": "fail"})
    answer = await sandbox.pay_by_card(three_ds.url, THREE_D_SECURE)
    await sandbox.post_page(sandbox.absolute(answer.location or ""), {"outcome": "approve"})
    for iban in (IBAN_SUCCEEDS, IBAN_FAILS):
        debit = await sandbox.create_session()
        await sandbox.pay_by_bank_debit(debit.url, iban)
    disputed = await sandbox.create_session()
    await sandbox.pay_by_card(disputed.url, DISPUTED)
    abandoned = await sandbox.create_session()
    await sandbox.pay_by_card(abandoned.url, DECLINED)
    await sandbox.client.v1.checkout.sessions.expire_async(abandoned.id)
    refreshed = await sandbox.client.v1.checkout.sessions.retrieve_async(paid.id)
    await sandbox.client.v1.refunds.create_async(
        {"payment_intent": refreshed.payment_intent, "amount": 500}
    )
    await sandbox.run_timers()  # bank debits settle; the dispute opens and is lost
    won = await sandbox.create_session()
    await sandbox.pay_by_card(won.url, DISPUTED)
    await sandbox.run_timers()
    [dispute] = (await sandbox.client.v1.disputes.list_async({"limit": 1})).data
    assert dispute.status == "lost"
    await sandbox.create_session()  # and one left open


def _check(schema: str, instance: dict[str, Any]) -> None:
    found = problems(schema, instance)
    assert not found, f"{schema} {instance.get('id')} breaks Stripe's schema:\n" + "\n".join(found)


@pytest.fixture
async def busy(start_sandbox: StartSandbox) -> Harness:
    sandbox = await start_sandbox()
    await _everything(sandbox)
    return sandbox


async def test_every_object_kind_in_every_state_fits_its_schema(busy: Harness) -> None:
    listed = {schema: (await busy.raw(path, HUNDRED))["data"] for schema, path in LISTS.items()}
    for schema, objects in listed.items():
        assert objects, f"the flows made no {schema}"
        for instance in objects:
            _check(schema, instance)
    assert {s["status"] for s in listed["checkout.session"]} == {"open", "complete", "expired"}
    assert {i["status"] for i in listed["payment_intent"]} == {
        "succeeded",
        "requires_payment_method",
        "canceled",
    }
    assert {c["status"] for c in listed["charge"]} == {"succeeded", "failed"}


async def test_line_items_payment_methods_and_expansions_fit(busy: Harness) -> None:
    session_id = (await busy.raw("/v1/checkout/sessions"))["data"][-1]["id"]
    for item in (await busy.raw(f"/v1/checkout/sessions/{session_id}/line_items"))["data"]:
        _check("item", item)
    session = await busy.raw(
        f"/v1/checkout/sessions/{session_id}",
        {"expand[0]": "payment_intent.latest_charge", "expand[1]": "line_items"},
    )
    _check("checkout.session", session)
    _check("payment_intent", session["payment_intent"])
    _check("charge", session["payment_intent"]["latest_charge"])
    refunded = (await busy.raw("/v1/refunds"))["data"][0]["charge"]
    charge = await busy.raw(f"/v1/charges/{refunded}", {"expand[0]": "refunds"})
    _check("charge", charge)
    assert [refund["amount"] for refund in charge["refunds"]["data"]] == [500]
    intent = await busy.raw(
        f"/v1/payment_intents/{session['payment_intent']['id']}", {"expand[0]": "payment_method"}
    )
    _check("payment_method", intent["payment_method"])


async def test_every_event_and_its_object_fit_the_schemas(busy: Harness) -> None:
    events = (await busy.raw("/v1/events", HUNDRED))["data"]
    assert {event["type"] for event in events} >= {
        "checkout.session.completed",
        "checkout.session.expired",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.canceled",
        "charge.succeeded",
        "charge.failed",
        "charge.pending",
        "charge.refunded",
        "refund.created",
        "charge.dispute.created",
        "charge.dispute.closed",
    }
    for event in events:
        _check("event", event)
        _check(schema_for_event(event["type"]), event["data"]["object"])


async def test_webhook_payloads_fit_the_event_schema(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(webhook_url=receiver.url)
    session = await sandbox.create_session()
    await sandbox.pay_by_card(session.url, VISA)
    await receiver.wait_for_types("checkout.session.completed")
    for event in receiver.accepted:
        _check("event", event)
        _check(schema_for_event(event["type"]), event["data"]["object"])


@pytest.mark.parametrize("resource", list(LISTS))
async def test_objects_carry_the_fields_stripes_examples_show(busy: Harness, resource: str) -> None:
    """Beyond the required fields: what Stripe's own example object has (and the 2023 spec
    describes), the sandbox's object has too."""
    ours = (await busy.raw(LISTS[resource]))["data"][0]
    expected = set(fixture(resource)) & spec_properties(resource) - ONLY_WHEN_EXPANDED

    assert not expected - set(ours), f"{resource} lacks {sorted(expected - set(ours))}"


def test_the_contract_check_can_fail() -> None:
    found = problems("checkout.session", {"id": "cs_test_x", "object": "checkout.session"})
    assert any("'mode' is a required property" in problem for problem in found)
    found = problems("charge", {**fixture("charge"), "amount": "1000"})
    assert any(problem.startswith("amount:") for problem in found)
    found = problems("payment_intent", {**fixture("payment_intent"), "status": "paid"})
    assert any(problem.startswith("status:") for problem in found)
    nested = {**fixture("checkout.session"), "automatic_tax": {"status": None}}
    assert "automatic_tax: 'enabled' is a required property" in problems("checkout.session", nested)


async def test_a_customer_fits_its_schema(sandbox: Harness) -> None:
    created = await sandbox.client.v1.customers.create_async(
        {"email": "ada@example.com", "name": "Ada Lovelace"}
    )
    _check("customer", await sandbox.raw(f"/v1/customers/{created.id}"))
    _check("customer", (await sandbox.raw("/v1/customers"))["data"][0])
